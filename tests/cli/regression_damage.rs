//! Regression tests for issue 9, case 2: damage in the warehouse was read as data. A deleted,
//! emptied or rewritten Parquet file, a lost `_manifest/` folder, a manifest naming a file
//! outside the warehouse and a stored file that is not the Parquet it should be must each stop
//! the command (exit 2) naming the file, never give numbers.

use std::path::PathBuf;

use crate::common::*;
use crate::e2e_pipeline::fixture_rows;

const H1: &str = "0110113719";
const H1_APRIL: &str = "0110113719/2025-04";
const H4_JULY: &str = "4011000207/2025-07";

/// The hand-computed fixture of the pipeline test plus one bad row (so a rejects file exists),
/// published once.
fn published() -> Project {
    let p = Project::new("max_reject_ratio: 0.1\n");
    let mut rows = fixture_rows();
    rows.push(row(H1, "2025-02-30", "first_visit", "BAD1", "", [0, 0, 0, 0, 0]));
    p.input("fy2025.csv", &rows);
    assert_code(&p.run(), 1);
    p
}

fn config(p: &Project) -> String {
    p.config().to_str().unwrap().to_string()
}

fn status(p: &Project) -> std::process::Output {
    p.refrate(&["status", "--config", &config(p)])
}

fn verify(p: &Project) -> std::process::Output {
    p.refrate(&["verify", "--config", &config(p)])
}

/// The relative path of the file of a partition in the newest manifest.
fn partition_file(p: &Project, key: &str) -> String {
    latest_manifest(&p.path("warehouse"))["partitions"][key]["file"].as_str().unwrap().to_string()
}

fn rejects_file(p: &Project) -> String {
    latest_manifest(&p.path("warehouse"))["sources"]["inputs/fy2025.csv"]["rejects_file"]
        .as_str()
        .unwrap()
        .to_string()
}

fn newest_manifest_path(p: &Project) -> PathBuf {
    files_in(&p.path("warehouse/_manifest"))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
        .max()
        .unwrap()
}

/// Edits the newest manifest in place (as a careless hand or a bad tool would).
fn edit_manifest(p: &Project, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = newest_manifest_path(p);
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

/// Flips one byte in the middle of a file: same size, other content.
fn flip_a_byte(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(path, bytes).unwrap();
}

/// Asserts exit 2 with the file named in stderr, and no panic.
#[track_caller]
fn assert_refused_naming(o: &std::process::Output, file: &str) {
    assert_code(o, 2);
    let err = stderr(o);
    assert!(err.contains(file), "the damaged file {file} is not named:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn deleted_partition_file_is_an_error_not_a_missing_month() {
    let p = published();
    let file = partition_file(&p, H1_APRIL);
    std::fs::remove_file(p.path(&format!("warehouse/{file}"))).unwrap();

    // Before: "no data for 2025-04", and the fiscal year computed from March alone.
    let out = p.rates("month", &[]);
    assert_refused_naming(&out, &file);
    assert!(stderr(&out).contains("missing"), "{}", stderr(&out));
    assert!(!stdout(&out).contains("no data for 2025-04"), "{}", stdout(&out));
    assert_refused_naming(&p.rates("fiscal-year", &[]), &file);
    assert_refused_naming(&status(&p), &file);
    // A run with nothing new still renders: it must not publish pages without April.
    let before = std::fs::read(p.path("reports/index.html")).unwrap();
    let run = p.run();
    assert_refused_naming(&run, &file);
    assert_eq!(std::fs::read(p.path("reports/index.html")).unwrap(), before, "reports were rewritten");
    let out = verify(&p);
    assert_refused_naming(&out, &file);
    assert!(stderr(&out).contains(H1_APRIL), "what the file feeds is not said: {}", stderr(&out));
}

#[test]
fn empty_partition_file_is_an_error_not_a_dropped_hospital() {
    let p = published();
    let file = partition_file(&p, H4_JULY);
    std::fs::write(p.path(&format!("warehouse/{file}")), b"").unwrap();
    let out = p.rates("fiscal-year", &[]);
    assert_refused_naming(&out, &file);
    assert!(!stdout(&out).contains("4011000207"), "{}", stdout(&out));
    assert_refused_naming(&status(&p), &file);
    assert_refused_naming(&verify(&p), &file);
}

#[test]
fn rewritten_partition_file_is_detected() {
    let p = published();
    // Another valid partition file in its place: a different referral rate if it were read.
    let april = partition_file(&p, H1_APRIL);
    let march = partition_file(&p, "0110113719/2026-03");
    std::fs::copy(p.path(&format!("warehouse/{march}")), p.path(&format!("warehouse/{april}"))).unwrap();
    let out = p.rates("fiscal-year", &[]);
    assert_refused_naming(&out, &april);
    assert!(!stdout(&out).contains("0110113719,2025,"), "{}", stdout(&out));
    assert_refused_naming(&verify(&p), &april);
}

#[test]
fn rewritten_partition_file_of_the_same_size_is_found_by_verify_and_by_the_carry_over() {
    let p = published();
    let april = partition_file(&p, H1_APRIL);
    flip_a_byte(&p.path(&format!("warehouse/{april}")));
    let out = verify(&p);
    assert_refused_naming(&out, &april);
    assert!(stderr(&out).contains("SHA-256"), "{}", stderr(&out));
    // A run with nothing new whose pages are those of this state reads no data file: it checks
    // presence and sizes only, as `rates` does, and rewrites nothing.
    let before = std::fs::read(p.path("reports/index.html")).unwrap();
    assert_code(&p.run(), 1);
    assert_eq!(std::fs::read(p.path("reports/index.html")).unwrap(), before, "reports were rewritten");
    // A run that renders hashes every file first: here the config changed (a comment).
    let config = std::fs::read_to_string(p.path("refrate.yaml")).unwrap();
    p.write("refrate.yaml", &format!("{config}# reviewed\n"));
    let run = p.run();
    assert_refused_naming(&run, &april);
    assert!(stderr(&run).contains("SHA-256"), "{}", stderr(&run));
    assert_eq!(std::fs::read(p.path("reports/index.html")).unwrap(), before, "reports were rewritten");
    // A new file feeding the same month carries April's rows over: it must not carry damage.
    p.input("late.csv", &[row(H1, "2025-04-20", "first_visit", "LATE1", "", [0, 0, 0, 0, 0])]);
    let run = p.run();
    assert_refused_naming(&run, &april);
    assert!(!p.path("warehouse/_manifest/v00000000000000000002.json").exists(), "the damaged run published");
}

#[test]
fn verify_passes_a_clean_warehouse_and_lists_every_damaged_file() {
    let p = published();
    let out = verify(&p);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("no damage"), "{}", stdout(&out));

    let april = partition_file(&p, H1_APRIL);
    let july = partition_file(&p, H4_JULY);
    let rejects = rejects_file(&p);
    std::fs::remove_file(p.path(&format!("warehouse/{april}"))).unwrap();
    flip_a_byte(&p.path(&format!("warehouse/{july}")));
    std::fs::write(p.path(&format!("warehouse/{rejects}")), b"PAR1").unwrap();
    let out = verify(&p);
    assert_code(&out, 2);
    let err = stderr(&out);
    for named in [april.as_str(), july.as_str(), rejects.as_str(), H1_APRIL, H4_JULY, "inputs/fy2025.csv"] {
        assert!(err.contains(named), "{named} is not named:\n{err}");
    }
    assert!(err.contains("3 damaged file(s)"), "{err}");
    assert!(err.contains("backup"), "no recovery is said: {err}");
}

#[test]
fn warehouse_without_manifest_is_refused() {
    let p = published();
    std::fs::remove_dir_all(p.path("warehouse/_manifest")).unwrap();
    // Before: an empty CSV with exit 0.
    let out = p.rates("fiscal-year", &[]);
    assert_code(&out, 2);
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(stderr(&out).contains("no manifest"), "{}", stderr(&out));
    assert_code(&status(&p), 2);
    assert_code(&verify(&p), 2);
    // Before: re-ingested as a new warehouse, without the key check.
    let out = p.run();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("no manifest"), "{}", stderr(&out));
    assert!(!p.path("warehouse/_manifest").exists() || p.files_under("warehouse/_manifest").is_empty());
}

#[test]
fn first_run_killed_before_publishing_is_not_a_lost_manifest() {
    // Data files of a first run that never published (as a kill leaves them) are not damage.
    // (One first visit without a letter: the hospital fails, exit 1.)
    let p = Project::new("");
    p.input("a.csv", &[row(H1, "2025-04-01", "first_visit", "A1", "", [0, 0, 0, 0, 0])]);
    assert_code(&p.run(), 1);
    let manifests = p.files_under("warehouse/_manifest");
    let published = latest_manifest(&p.path("warehouse"));
    assert_eq!(published["version"], 1);
    // Back to the state just before the publish of version 1: only the empty version 0.
    for m in manifests {
        if !m.ends_with("v00000000000000000000.json") {
            std::fs::remove_file(m).unwrap();
        }
    }
    let out = p.run();
    assert_code(&out, 1);
    assert!(stderr(&out).contains("warehouse version 1 (published)"), "{}", stderr(&out));
}

#[test]
fn manifest_path_outside_warehouse_is_refused() {
    let p = published();
    let april = partition_file(&p, H1_APRIL);
    // A valid file outside the warehouse, with the right checksum and size.
    let outside = p.path("outside.parquet");
    std::fs::copy(p.path(&format!("warehouse/{april}")), &outside).unwrap();
    let absolute = outside.to_str().unwrap().to_string();
    for (path, why) in [
        ("../outside.parquet", ".."),
        ("events/../../outside.parquet", ".."),
        (absolute.as_str(), "absolute"),
        ("_lock/outside.parquet", "events/"),
        ("rejects/hospital=x/part.parquet", "events/"),
    ] {
        edit_manifest(&p, |m| m["partitions"][H1_APRIL]["file"] = path.into());
        for out in [p.rates("fiscal-year", &[]), status(&p), verify(&p), p.run()] {
            assert_refused_naming(&out, path);
            assert!(stderr(&out).contains(why), "{path}: {}", stderr(&out));
            assert!(
                stdout(&out).is_empty() || !stdout(&out).contains("0110113719,2025,"),
                "{}",
                stdout(&out)
            );
        }
    }
}

#[test]
fn stored_file_that_does_not_decode_is_an_error_not_a_panic() {
    let p = published();
    let wh = p.path("warehouse");
    let april = partition_file(&p, H1_APRIL);
    let rejects = rejects_file(&p);
    // The manifest is made to agree with the bytes, so only decoding can tell.
    let set_checks = |m: &mut serde_json::Value, entry: &str, file: &str| {
        let path = wh.join(file);
        let size = std::fs::metadata(&path).unwrap().len();
        let node = if entry == "partition" {
            &mut m["partitions"][H1_APRIL]
        } else {
            &mut m["sources"]["inputs/fy2025.csv"]["rejects_digest"]
        };
        node["sha256"] = sha256_of(&path).into();
        // (Only where the manifest records sizes: so this test also runs on a build that did not.)
        if node.get("bytes").is_some() {
            node["bytes"] = size.into();
        }
    };

    // A foreign Parquet file (the rejects table) where a partition should be.
    let published_rates = stdout(&p.rates("fiscal-year", &[]));
    std::fs::copy(wh.join(&rejects), wh.join(&april)).unwrap();
    edit_manifest(&p, |m| set_checks(m, "partition", &april));
    // `rates` reads the counts stored when the partition was published, not its file: it gives
    // those numbers, never the damaged file's (verify and run name the file).
    let out = p.rates("fiscal-year", &[]);
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_eq!(stdout(&out), published_rates);
    let out = verify(&p);
    assert_refused_naming(&out, &april);
    assert!(stderr(&out).contains("Parquet"), "{}", stderr(&out));
    p.input("late.csv", &[row(H1, "2025-04-20", "first_visit", "LATE1", "", [0, 0, 0, 0, 0])]);
    assert_refused_naming(&p.run(), &april);
    std::fs::remove_file(p.path("inputs/late.csv")).unwrap();

    // A truncated one.
    let march = partition_file(&p, "0110113719/2026-03");
    let bytes = std::fs::read(wh.join(&march)).unwrap();
    std::fs::write(wh.join(&april), &bytes[..bytes.len() / 2]).unwrap();
    edit_manifest(&p, |m| set_checks(m, "partition", &april));
    assert_eq!(stdout(&p.rates("fiscal-year", &[])), published_rates);
    assert_refused_naming(&verify(&p), &april);

    // A partition file where the rejects table should be: read by every run's rendering.
    std::fs::copy(wh.join(&march), wh.join(&april)).unwrap();
    std::fs::copy(wh.join(&march), wh.join(&rejects)).unwrap();
    edit_manifest(&p, |m| {
        set_checks(m, "partition", &april);
        set_checks(m, "rejects", &rejects);
    });
    assert_refused_naming(&p.run(), &rejects);
    assert_refused_naming(&verify(&p), &rejects);
}

/// `rates` reads the counts the manifest stores per partition (manifest format 4) instead of
/// every event: `verify` computes them again from the event files and refuses a manifest whose
/// counts differ, naming the partition.
#[test]
fn verify_recomputes_the_stored_counts_and_names_a_partition_whose_counts_were_edited() {
    let p = published();
    let before = p.rates("fiscal-year", &[]);
    let out = verify(&p);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("stored counts of"), "{}", stdout(&out));

    edit_manifest(&p, |m| {
        let counts = m["partitions"][H1_APRIL]["counts"].as_array_mut().expect("no stored counts");
        // initial_patients (Count::ALL's fifth), a column of the rates.
        counts[4] = serde_json::json!(counts[4].as_u64().unwrap() + 7);
    });
    // What rates reads: the edited count shows.
    assert_ne!(stdout(&p.rates("fiscal-year", &[])), stdout(&before));
    let out = verify(&p);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains(H1_APRIL) && err.contains("stored counts"), "{err}");
    assert!(!err.contains(H4_JULY), "an intact partition is named: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// The hospital pages read the department and partner sums stored per month (manifest format
/// 5) instead of every event: `verify` computes them again from the event files and refuses a
/// month whose stored sums differ, even when the manifest was made to agree with the file.
#[test]
fn verify_recomputes_the_stored_month_sums_and_names_a_month_whose_sums_were_edited() {
    use datafusion::arrow::array::{Array, AsArray, Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::Int64Type;
    let p = published();
    let out = verify(&p);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("department and partner sums of 6 month(s) recomputed"),
        "{}",
        stdout(&out)
    );

    let wh = p.path("warehouse");
    let manifest = latest_manifest(&wh);
    let april =
        manifest["month_breakdowns"]["2025-04"]["file"].as_str().expect("no sums of April").to_string();
    let batches =
        refrate::testing::read_parquet_bytes(std::fs::read(wh.join(&april)).unwrap().into()).unwrap();
    let edited: Vec<RecordBatch> = batches
        .iter()
        .map(|b| {
            let i = b.schema().index_of("first_visits").unwrap();
            let col = b.column(i).as_primitive::<Int64Type>();
            let plus: Int64Array =
                (0..col.len()).map(|r| (!col.is_null(r)).then(|| col.value(r) + 7)).collect();
            let mut columns = b.columns().to_vec();
            columns[i] = std::sync::Arc::new(plus);
            RecordBatch::try_new(b.schema(), columns).unwrap()
        })
        .collect();
    let mut bytes = Vec::new();
    let mut writer =
        datafusion::parquet::arrow::ArrowWriter::try_new(&mut bytes, edited[0].schema(), None).unwrap();
    for b in &edited {
        writer.write(b).unwrap();
    }
    writer.close().unwrap();
    std::fs::write(wh.join(&april), &bytes).unwrap();
    edit_manifest(&p, |m| {
        let entry = &mut m["month_breakdowns"]["2025-04"];
        entry["sha256"] = sha256_of(&wh.join(&april)).into();
        entry["bytes"] = bytes.len().into();
    });
    let out = verify(&p);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("department and partner sums stored for 1 month(s)") && err.contains(&april),
        "{err}"
    );
    assert!(err.contains("2025-04 (") && !err.contains("2025-05 ("), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
