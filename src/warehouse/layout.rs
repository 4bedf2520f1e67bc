//! The names refrate gives to warehouse objects, and the test that a name is one of them.
//!
//! Every data object is written under a name built here, with the run id of the run that
//! wrote it. The sweep deletes only objects whose names [`is_own_data_file`] recognises, so a
//! user's file that happens to sit below the warehouse (an input folder that overlaps it, a
//! note, a backup) is never deleted, whatever its age.

/// Folders of data objects, relative to the warehouse root.
pub(crate) const DATA_DIRS: [&str; 4] = ["events", "rejects", "reported", "breakdowns"];

/// The Parquet file of one month, every hospital's rows of it, written by `run_id`.
pub(crate) fn month_file(month: &str, run_id: &str) -> String {
    format!("events/month={month}/part-{run_id}.parquet")
}

/// The department and partner sums of one month's events (`queries/month_breakdowns.sql`),
/// written by `run_id`.
pub(crate) fn breakdown_file(month: &str, run_id: &str) -> String {
    format!("breakdowns/month={month}/part-{run_id}.parquet")
}

/// The Parquet file of one hospital-month, as builds before manifest format 3 wrote it: still
/// read, and swept once no kept version names it.
#[cfg(test)]
pub(crate) fn hospital_month_file(hospital: &str, month: &str, run_id: &str) -> String {
    format!("events/hospital={hospital}/month={month}/part-{run_id}.parquet")
}

/// The rejects table of the `index`-th source of a run.
pub(crate) fn rejects_file(run_id: &str, index: usize) -> String {
    format!("rejects/run={run_id}/source-{index:04}.parquet")
}

/// The reported-counts table of the `index`-th aggregates source of a run.
pub(crate) fn reported_file(run_id: &str, index: usize) -> String {
    format!("reported/run={run_id}/source-{index:04}.parquet")
}

/// Whether `id` has the shape of [`new_run_id`]'s output: `YYYYMMDDTHHMMSSZ-<pid>-<8 hex>`.
pub(crate) fn is_run_id(id: &str) -> bool {
    let mut parts = id.splitn(3, '-');
    let (Some(time), Some(pid), Some(nonce)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let time = time.as_bytes();
    time.len() == 16
        && time[..8].iter().all(u8::is_ascii_digit)
        && time[8] == b'T'
        && time[9..15].iter().all(u8::is_ascii_digit)
        && time[15] == b'Z'
        && !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && nonce.len() == 8
        && nonce.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A fresh run id: time, pid and a random nonce, so data files of two runs never collide.
pub(crate) fn new_run_id() -> String {
    let now = chrono::Utc::now();
    let nonce: u32 = rand::random();
    format!("{}-{}-{nonce:08x}", now.format("%Y%m%dT%H%M%SZ"), std::process::id())
}

fn is_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_month(s: &str) -> bool {
    s.len() == 7 && is_digits(&s[..4], 4) && &s[4..5] == "-" && is_digits(&s[5..], 2)
}

/// Whether `relative` (a path below the warehouse root) is a data object refrate writes:
/// exactly one of the shapes built by [`month_file`] (or the hospital-month files of earlier
/// builds), [`breakdown_file`], [`rejects_file`], [`reported_file`].
pub(crate) fn is_own_data_file(relative: &str) -> bool {
    let parts: Vec<&str> = relative.split('/').collect();
    let source_of_run = |run: &str, file: &str| {
        run.strip_prefix("run=").is_some_and(is_run_id)
            && file
                .strip_prefix("source-")
                .and_then(|f| f.strip_suffix(".parquet"))
                .is_some_and(|n| is_digits(n, 4))
    };
    let part_of_run = |file: &str| {
        file.strip_prefix("part-").and_then(|f| f.strip_suffix(".parquet")).is_some_and(is_run_id)
    };
    let month_folder = |month: &str| month.strip_prefix("month=").is_some_and(is_month);
    match parts.as_slice() {
        ["events", month, file] | ["breakdowns", month, file] => month_folder(month) && part_of_run(file),
        ["events", hospital, month, file] => {
            hospital.strip_prefix("hospital=").is_some_and(|h| is_digits(h, 10))
                && month_folder(month)
                && part_of_run(file)
        }
        ["rejects", run, file] | ["reported", run, file] => source_of_run(run, file),
        _ => false,
    }
}

/// Whether `relative` is a manifest version or a lock generation (`_manifest/v<20 digits>.json`,
/// `_lock/v<20 digits>.json`).
pub(crate) fn is_own_meta_file(relative: &str) -> bool {
    let Some((dir, file)) = relative.split_once('/') else { return false };
    matches!(dir, "_manifest" | "_lock")
        && file.strip_prefix('v').and_then(|f| f.strip_suffix(".json")).is_some_and(|n| is_digits(n, 20))
}

/// Whether `relative` is a `LocalFileSystem` staging file (`<name>#<digits>`) of an object
/// refrate writes: the staging file of an interrupted write of one of its own names.
pub(crate) fn is_own_staging_file(relative: &str) -> bool {
    relative.rsplit_once('#').is_some_and(|(name, n)| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (is_own_data_file(name) || is_own_meta_file(name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refrate_writes_are_recognised_and_nothing_else() {
        let run = new_run_id();
        assert!(is_run_id(&run), "{run}");
        assert!(is_own_data_file(&month_file("2025-04", &run)));
        assert!(is_own_data_file(&hospital_month_file("0110113719", "2025-04", &run)));
        assert!(is_own_data_file(&rejects_file(&run, 3)));
        assert!(is_own_data_file(&reported_file(&run, 0)));
        assert!(is_own_data_file(&breakdown_file("2025-04", &run)));
        for foreign in [
            "events/2025-04.csv",
            "events/hospital=0110113719/month=2025-04/part-killed.parquet",
            "events/hospital=0110113719/month=2025-04/notes.txt",
            "events/month=2025-04/part-killed.parquet",
            "events/month=2025-4/part-20250101T000000Z-1-0a0b0c0d.parquet",
            "events/2025-04/part-20250101T000000Z-1-0a0b0c0d.parquet",
            "events/hospital=011011371/month=2025-04/part-20250101T000000Z-1-0a0b0c0d.parquet",
            "rejects/run=killed/source-0000.parquet",
            "rejects/run=20250101T000000Z-1-0a0b0c0d/source-0000.csv",
            "reported/x.parquet",
            "breakdowns/month=2025-04/part-killed.parquet",
            "breakdowns/hospital=0110113719/month=2025-04/part-20250101T000000Z-1-0a0b0c0d.parquet",
            "backup/events/hospital=0110113719/month=2025-04/part-20250101T000000Z-1-0a0b0c0d.parquet",
        ] {
            assert!(!is_own_data_file(foreign), "{foreign}");
        }
        assert!(is_own_meta_file("_manifest/v00000000000000000007.json"));
        assert!(is_own_meta_file("_lock/v00000000000000000012.json"));
        assert!(!is_own_meta_file("_manifest/notes.json"));
        assert!(is_own_staging_file(&format!("{}#12", month_file("2025-04", &run))));
        assert!(is_own_staging_file("_manifest/v00000000000000000007.json#3"));
        assert!(!is_own_staging_file("events/2025-04.csv#3"));
        assert!(!is_own_staging_file("report#2024"));
        assert!(!is_own_staging_file("_manifest/v00000000000000000007.json#"));
    }
}
