//! The manifest: the one object that says which data files make up the warehouse.
//!
//! Data files are written under fresh names first and are invisible until a manifest names
//! them. Manifests are numbered (`_manifest/v00000000000000000007.json`) and written
//! create-only, so a version is published exactly once and the highest version is the current
//! state. Earlier versions stay readable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The manifest format this build writes.
///
/// Format 2 added the size of every data file (`bytes` of a partition) and the SHA-256 and size
/// of rejects and reported-counts files (`rejects_digest`, `reported_digest`). Format 1
/// manifests are still read: their files are checked for existence and for the checks they
/// do record (a partition's SHA-256), and the next run writes format 2. A build that reads
/// only format 1 refuses a format 2 manifest with a message naming both formats, rather
/// than failing on an unknown field.
///
/// Format 3 stores one file per month holding every hospital's rows of it (it was one file per
/// hospital-month): several partitions name the same file, with its SHA-256 and size. A build
/// reading format 2 would count such a file once per partition, so format 3 is refused there.
/// Format 1 and 2 warehouses are read as they are; a run that touches a month writes that
/// month as one file, so they convert month by month.
///
/// Format 4 stores each partition's event counts (`counts`), computed by the engine's SQL when
/// the partition was published and keyed by that SQL (`counts_rules`): `rates` reads them
/// instead of aggregating every event again. Counts made by other rules, or missing (format 3
/// and before), are not used: the engine counts the events, and the next `run` stores them.
/// A format 3 build refuses format 4 (it would ignore no field: it fails on `counts`).
///
/// Format 5 stores each month's department and partner sums (`month_breakdowns`), one Parquet
/// file per month under `breakdowns/`, computed from the month's event files when they were
/// published and keyed by the SQL that made them (`breakdowns_rules`): the pages read them
/// instead of summing every event again. Sums made by other rules, made from other event files
/// than the month has now, or missing (format 4 and before), are not used: the engine sums the
/// events, and the next `run` that publishes stores them. A format 4 build refuses format 5
/// (it would not know the files are live, nor check them).
pub(crate) const FORMAT: u32 = 5;

/// The manifest formats this build reads.
pub(crate) const READABLE_FORMATS: std::ops::RangeInclusive<u32> = 1..=FORMAT;

/// SHA-256 and size of a stored file, so a reader can check it is the file that was published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    pub sha256: String,
    pub bytes: u64,
}

impl FileDigest {
    /// The digest of a file's whole content.
    pub fn of(content: &[u8]) -> FileDigest {
        use sha2::{Digest, Sha256};
        FileDigest { sha256: hex::encode(Sha256::digest(content)), bytes: content.len() as u64 }
    }
}

/// One input file that has been ingested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceEntry {
    /// SHA-256 of the file's bytes: the same content is never ingested twice.
    pub sha256: String,
    pub kind: String,
    pub encoding: String,
    pub rows_read: u64,
    pub rows_valid: u64,
    pub rows_rejected: u64,
    /// Valid rows (counted in `rows_valid`) not stored again because an identical row of
    /// another file was there already (a cumulative export, an overlapping extract).
    #[serde(default)]
    pub rows_already_present: u64,
    /// Those rows by the file that had them first.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub already_present_in: BTreeMap<String, u64>,
    /// Hospital-months this file replaced (`overlap: replace`), with the files it replaced.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub replaced: BTreeMap<String, Vec<String>>,
    pub check_digit_warnings: u64,
    /// Rejected rows per reason code.
    pub rejects_by_reason: BTreeMap<String, u64>,
    /// The partitions (`hospital/month`) this file contributed rows to.
    pub partitions: Vec<String>,
    /// The rejects table file for this source, if it had rejects.
    pub rejects_file: Option<String>,
    /// Checks of `rejects_file` (absent in format 1 manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejects_digest: Option<FileDigest>,
    /// For `aggregates` sources: the reported-counts table file.
    #[serde(default)]
    pub reported_file: Option<String>,
    /// Checks of `reported_file` (absent in format 1 manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_digest: Option<FileDigest>,
    pub run_id: String,
    pub ingested_at: String,
    /// The file's size and modification time when it was hashed: a later run that finds both
    /// unchanged does not read it again, as git's index does (the SHA-256 stays its identity).
    /// Absent for a file modified too shortly before it was hashed to trust its clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<FileStat>,
}

/// Size and modification time of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStat {
    pub size: u64,
    /// Nanoseconds since the Unix epoch.
    pub mtime_ns: i128,
}

impl FileStat {
    /// A file modified less than this before it is hashed may be rewritten again within the
    /// clock's resolution without its time changing: its stat is not recorded.
    const SETTLED: std::time::Duration = std::time::Duration::from_secs(2);

    /// The stat of `path` when it is settled (modified at least [`Self::SETTLED`] ago).
    pub fn settled(path: &std::path::Path) -> Option<FileStat> {
        let stat = FileStat::of(path)?;
        let modified = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(stat.mtime_ns as u64);
        std::time::SystemTime::now().duration_since(modified).ok().filter(|age| *age >= Self::SETTLED)?;
        Some(stat)
    }

    /// The stat of `path`, however recently it changed.
    pub fn of(path: &std::path::Path) -> Option<FileStat> {
        let meta = std::fs::metadata(path).ok()?;
        let since_epoch = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(FileStat { size: meta.len(), mtime_ns: since_epoch.as_nanos() as i128 })
    }
}

/// One hospital-month of events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionEntry {
    pub hospital_code: String,
    pub month: String,
    /// Path of the Parquet file holding its rows, relative to the warehouse root: from format 3
    /// the month's file, which holds every hospital of that month (before, a file of its own).
    pub file: String,
    /// Rows of this hospital-month (the file holds the sum over the partitions naming it).
    pub rows: u64,
    /// SHA-256 of the Parquet file, so a reader can check it is the file that was published.
    pub sha256: String,
    /// Size of the Parquet file in bytes (absent in format 1 manifests).
    #[serde(default)]
    pub bytes: Option<u64>,
    /// Source names whose rows are in this partition.
    pub sources: Vec<String>,
    /// The partition's event counts as the manifest's `counts_rules` computed them, one number
    /// per count in their fixed order; absent before format 4 and until they are computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<Vec<u64>>,
}

/// The department and partner sums of one month, stored beside its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakdownEntry {
    /// Path of the Parquet file (`breakdowns/month=YYYY-MM/part-<run>.parquet`).
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
    pub rows: u64,
    /// The month's event files the sums were made from, in path order: the sums stand for the
    /// month only while its partitions name exactly these files.
    pub events: Vec<String>,
}

/// A run that published this version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunEntry {
    pub run_id: String,
    pub version: u64,
    pub finished_at: String,
    pub files_ingested: u64,
    pub rows_valid: u64,
    pub rows_rejected: u64,
    pub partitions_written: u64,
}

/// The state of the warehouse at one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub version: u64,
    pub created_at: String,
    pub refrate_version: String,
    /// Identifies the pseudonymisation key (never the key itself): a run with another key is
    /// refused, since duplicate detection needs one key.
    pub pseudonym_key_id: Option<String>,
    pub sources: BTreeMap<String, SourceEntry>,
    /// Keyed by `hospital_code/month`.
    pub partitions: BTreeMap<String, PartitionEntry>,
    /// The most recent runs, newest last (kept short).
    pub runs: Vec<RunEntry>,
    /// Identifies the rules (the SQL and the order of the counts) that computed the partitions'
    /// `counts`: counts are used only by a build whose rules have this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts_rules: Option<String>,
    /// Keyed by month: the department and partner sums of its events (format 5).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub month_breakdowns: BTreeMap<String, BreakdownEntry>,
    /// Identifies the rules (the SQL) that computed `month_breakdowns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdowns_rules: Option<String>,
}

impl Manifest {
    /// The state before anything was published.
    pub fn empty() -> Manifest {
        Manifest {
            format: FORMAT,
            version: 0,
            created_at: String::new(),
            refrate_version: String::new(),
            pseudonym_key_id: None,
            sources: BTreeMap::new(),
            partitions: BTreeMap::new(),
            runs: Vec::new(),
            counts_rules: None,
            month_breakdowns: BTreeMap::new(),
            breakdowns_rules: None,
        }
    }

    /// Every partition with its stored counts, when all have counts computed by `rules`;
    /// `None` otherwise (the counts must then be computed from the events).
    pub fn stored_counts(&self, rules: &str) -> Option<Vec<(&PartitionEntry, &[u64])>> {
        if self.counts_rules.as_deref() != Some(rules) {
            return None;
        }
        self.partitions.values().map(|p| Some((p, p.counts.as_deref()?))).collect()
    }

    /// The event files of each month with partitions, in path order.
    pub fn month_event_files(&self) -> BTreeMap<&str, Vec<&str>> {
        let mut months: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
        for p in self.partitions.values() {
            months.entry(p.month.as_str()).or_default().insert(p.file.as_str());
        }
        months.into_iter().map(|(m, files)| (m, files.into_iter().collect())).collect()
    }

    /// The stored department and partner sums of every month with partitions, when all were
    /// made by `rules` from the event files the month has now; `None` otherwise (the sums are
    /// then computed from the events).
    pub fn stored_breakdowns(&self, rules: &str) -> Option<Vec<(String, NamedFile)>> {
        if self.partitions.is_empty() || self.breakdowns_rules.as_deref() != Some(rules) {
            return None;
        }
        self.month_event_files()
            .into_iter()
            .map(|(month, files)| {
                let entry = self.month_breakdowns.get(month).filter(|e| e.events == files)?;
                Some((month.to_string(), entry.named_file(month)))
            })
            .collect()
    }

    pub fn partition_key(hospital_code: &str, month: &str) -> String {
        crate::ingest::hospital_month(hospital_code, month)
    }

    /// Object name of version `v`, zero-padded so names sort by version.
    pub fn object_name(version: u64) -> String {
        format!("_manifest/v{version:020}.json")
    }

    /// Parses a manifest object name back to its version.
    pub fn version_of(name: &str) -> Option<u64> {
        let file = name.rsplit('/').next()?;
        let digits = file.strip_prefix('v')?.strip_suffix(".json")?;
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// The distinct event files, each with the partitions (`hospital/month` keys) whose rows it
    /// holds, in path order.
    pub fn event_files(&self) -> BTreeMap<&str, Vec<(&str, &PartitionEntry)>> {
        let mut files: BTreeMap<&str, Vec<(&str, &PartitionEntry)>> = BTreeMap::new();
        for (key, p) in &self.partitions {
            files.entry(p.file.as_str()).or_default().push((key.as_str(), p));
        }
        files
    }

    /// Why the entries of this version disagree with one another, if they do: an entry whose
    /// key is not its hospital and month, or entries naming one file with another month,
    /// SHA-256 or size (before format 3, naming one file at all). A manifest refrate wrote
    /// never does: it was damaged or edited, and its numbers cannot be trusted.
    pub(crate) fn disagreement(&self) -> Option<String> {
        for (key, p) in &self.partitions {
            if *key != Manifest::partition_key(&p.hospital_code, &p.month) {
                return Some(format!(
                    "the entry {key} is not its hospital and month ({} of {})",
                    p.hospital_code, p.month
                ));
            }
        }
        for (file, parts) in self.event_files() {
            let (first_key, first) = parts[0];
            for &(key, p) in &parts[1..] {
                let other = if self.format < 3 {
                    Some(format!("in format {}, where no file is shared", self.format))
                } else if p.month != first.month {
                    Some("with another month".to_string())
                } else if p.sha256 != first.sha256 {
                    Some("with another SHA-256".to_string())
                } else if p.bytes != first.bytes {
                    Some("with another size".to_string())
                } else {
                    None
                };
                if let Some(other) = other {
                    return Some(format!("the entries {first_key} and {key} name one file, {file}, {other}"));
                }
            }
        }
        let months = self.month_event_files();
        for (month, b) in &self.month_breakdowns {
            match months.get(month.as_str()) {
                None => {
                    return Some(format!(
                        "the sums of month {month} ({}) stand for a month without partitions",
                        b.file
                    ));
                }
                Some(files) if *files != b.events => {
                    return Some(format!(
                        "the sums of month {month} ({}) were made from {}, but its partitions name {}",
                        b.file,
                        b.events.join(", "),
                        files.join(", ")
                    ));
                }
                Some(_) => {}
            }
        }
        None
    }

    /// The files this version references, relative to the warehouse root (an event file once
    /// per partition it holds).
    pub fn live_files(&self) -> impl Iterator<Item = &str> {
        self.partitions
            .values()
            .map(|p| p.file.as_str())
            .chain(self.sources.values().filter_map(|s| s.rejects_file.as_deref()))
            .chain(self.sources.values().filter_map(|s| s.reported_file.as_deref()))
            .chain(self.month_breakdowns.values().map(|b| b.file.as_str()))
    }
}

/// Which table a stored file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Events,
    Rejects,
    Reported,
    Breakdowns,
}

impl FileKind {
    /// Every kind, in the order of the folders' listings.
    pub const ALL: [FileKind; 4] =
        [FileKind::Events, FileKind::Rejects, FileKind::Reported, FileKind::Breakdowns];

    /// The one folder files of this kind may live in.
    pub fn folder(self) -> &'static str {
        match self {
            FileKind::Events => "events",
            FileKind::Rejects => "rejects",
            FileKind::Reported => "reported",
            FileKind::Breakdowns => "breakdowns",
        }
    }

    fn what(self) -> &'static str {
        match self {
            FileKind::Events => "a partition file",
            FileKind::Rejects => "a rejects file",
            FileKind::Reported => "a reported-counts file",
            FileKind::Breakdowns => "a file of a month's department and partner sums",
        }
    }
}

/// A file a manifest names, with what the manifest records about it.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedFile {
    /// Relative to the warehouse root, as the manifest writes it.
    pub path: String,
    pub kind: FileKind,
    pub sha256: Option<String>,
    pub bytes: Option<u64>,
    pub rows: Option<u64>,
    /// What the file feeds, for messages: `partition 0110113719/2025-04`, `rejects of a.csv`.
    pub feeds: String,
}

impl PartitionEntry {
    /// The file of `partitions` (all naming the same file) as a [`NamedFile`]: its checks as
    /// the first records them, the rows of all. Partitions that disagree on the checks name no
    /// file that could match both: the first's are checked.
    pub(crate) fn named_file(partitions: &[(&str, &PartitionEntry)]) -> NamedFile {
        let (key, first) = partitions[0];
        let feeds = match partitions {
            [_] => format!("partition {key}"),
            _ => format!("month {} ({} hospitals' partitions)", first.month, partitions.len()),
        };
        NamedFile {
            path: first.file.clone(),
            kind: FileKind::Events,
            sha256: Some(first.sha256.clone()),
            bytes: first.bytes,
            rows: Some(partitions.iter().map(|(_, p)| p.rows).sum()),
            feeds,
        }
    }
}

impl BreakdownEntry {
    /// The file of the sums of `month` as a [`NamedFile`].
    pub(crate) fn named_file(&self, month: &str) -> NamedFile {
        NamedFile {
            path: self.file.clone(),
            kind: FileKind::Breakdowns,
            sha256: Some(self.sha256.clone()),
            bytes: Some(self.bytes),
            rows: Some(self.rows),
            feeds: format!("department and partner sums of month {month}"),
        }
    }
}

impl SourceEntry {
    /// The rejects file of source `name`, if it has one.
    pub fn rejects_named_file(&self, name: &str) -> Option<NamedFile> {
        let path = self.rejects_file.clone()?;
        Some(NamedFile {
            path,
            kind: FileKind::Rejects,
            sha256: self.rejects_digest.as_ref().map(|d| d.sha256.clone()),
            bytes: self.rejects_digest.as_ref().map(|d| d.bytes),
            rows: None,
            feeds: format!("rejects of source {name}"),
        })
    }

    /// The reported-counts file of source `name`, if it has one.
    pub fn reported_named_file(&self, name: &str) -> Option<NamedFile> {
        let path = self.reported_file.clone()?;
        Some(NamedFile {
            path,
            kind: FileKind::Reported,
            sha256: self.reported_digest.as_ref().map(|d| d.sha256.clone()),
            bytes: self.reported_digest.as_ref().map(|d| d.bytes),
            rows: None,
            feeds: format!("reported counts of source {name}"),
        })
    }
}

impl Manifest {
    /// Every file this version names, with its checks.
    pub fn named_files(&self) -> Vec<NamedFile> {
        let mut files: Vec<NamedFile> =
            self.event_files().values().map(|parts| PartitionEntry::named_file(parts)).collect();
        for (name, s) in &self.sources {
            files.extend(s.rejects_named_file(name));
            files.extend(s.reported_named_file(name));
        }
        files.extend(self.month_breakdowns.iter().map(|(month, b)| b.named_file(month)));
        files
    }

    /// The first named file that is not confined to its folder of the warehouse, with why.
    pub fn unconfined_file(&self) -> Option<(NamedFile, String)> {
        self.named_files().into_iter().find_map(|f| confinement(&f.path, f.kind).err().map(|why| (f, why)))
    }
}

/// Whether `path` (as a manifest writes it) stays inside `kind`'s folder of the warehouse: a
/// relative path of plain components under `events/`, `rejects/`, `reported/` or `breakdowns/`.
pub(super) fn confinement(path: &str, kind: FileKind) -> Result<(), String> {
    if path.starts_with('/') || path.contains('\\') || path.contains(':') {
        return Err(
            "an absolute path, a URL or a Windows path; manifest paths are relative to the warehouse".into(),
        );
    }
    if path.chars().any(char::is_control) {
        return Err("a control character in the path".into());
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
        return Err("a `..`, `.` or empty path component".into());
    }
    if parts.len() < 2 || parts[0] != kind.folder() {
        return Err(format!(
            "{} must be under {}/ (partition files under events/, rejects under rejects/, reported counts under reported/, a month's sums under breakdowns/)",
            kind.what(),
            kind.folder()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_1_manifests_without_sizes_and_digests_still_read() {
        let v1 = r#"{"format": 1, "version": 3, "created_at": "", "refrate_version": "0.1.0",
            "pseudonym_key_id": null, "runs": [],
            "partitions": {"1/2025-04": {"hospital_code": "1", "month": "2025-04",
                "file": "events/hospital=1/month=2025-04/part-r.parquet", "rows": 2, "sha256": "ab",
                "sources": ["a.csv"]}},
            "sources": {"a.csv": {"sha256": "cd", "kind": "events", "encoding": "UTF-8", "rows_read": 3,
                "rows_valid": 2, "rows_rejected": 1, "check_digit_warnings": 0, "rejects_by_reason": {},
                "partitions": ["1/2025-04"], "rejects_file": "rejects/run=r/source-0000.parquet",
                "run_id": "r", "ingested_at": ""}}}"#;
        let m: Manifest = serde_json::from_str(v1).unwrap();
        assert!(READABLE_FORMATS.contains(&m.format));
        let files = m.named_files();
        assert_eq!(files.len(), 2);
        assert_eq!((files[0].sha256.as_deref(), files[0].bytes), (Some("ab"), None));
        assert_eq!(
            (files[1].kind, files[1].sha256.as_deref(), files[1].bytes),
            (FileKind::Rejects, None, None)
        );
        assert_eq!(files[1].feeds, "rejects of source a.csv");
        assert!(m.unconfined_file().is_none());
    }

    #[test]
    fn entries_naming_one_file_must_agree_and_only_format_3_shares_files() {
        let entry = |hospital: &str, sha: &str, bytes: u64| PartitionEntry {
            hospital_code: hospital.into(),
            month: "2025-04".into(),
            file: "events/month=2025-04/part-r.parquet".into(),
            rows: 1,
            sha256: sha.into(),
            bytes: Some(bytes),
            sources: vec!["a.csv".into()],
            counts: None,
        };
        let with = |entries: Vec<PartitionEntry>, format: u32| {
            let mut m = Manifest::empty();
            m.format = format;
            for e in entries {
                m.partitions.insert(Manifest::partition_key(&e.hospital_code, &e.month), e);
            }
            m
        };
        assert_eq!(with(vec![entry("1", "ab", 10), entry("2", "ab", 10)], 3).disagreement(), None);
        let size = with(vec![entry("1", "ab", 10), entry("2", "ab", 11)], 3).disagreement().unwrap();
        assert!(size.ends_with("with another size"), "{size}");
        let shared = with(vec![entry("1", "ab", 10), entry("2", "ab", 10)], 2).disagreement().unwrap();
        assert!(shared.contains("in format 2, where no file is shared"), "{shared}");
        assert_eq!(with(vec![entry("1", "ab", 10)], 2).disagreement(), None);
    }

    #[test]
    fn month_sums_stand_for_the_event_files_they_were_made_from() {
        let mut m = Manifest::empty();
        let file = "events/month=2025-04/part-r.parquet";
        for hospital in ["1", "2"] {
            let entry = PartitionEntry {
                hospital_code: hospital.into(),
                month: "2025-04".into(),
                file: file.into(),
                rows: 1,
                sha256: "ab".into(),
                bytes: Some(10),
                sources: vec!["a.csv".into()],
                counts: None,
            };
            m.partitions.insert(Manifest::partition_key(hospital, "2025-04"), entry);
        }
        let sums = BreakdownEntry {
            file: "breakdowns/month=2025-04/part-r.parquet".into(),
            sha256: "cd".into(),
            bytes: 20,
            rows: 3,
            events: vec![file.into()],
        };
        m.breakdowns_rules = Some("rules".into());
        m.month_breakdowns.insert("2025-04".into(), sums.clone());
        assert_eq!(m.disagreement(), None);
        let stored = m.stored_breakdowns("rules").unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(
            (stored[0].0.as_str(), stored[0].1.kind, stored[0].1.rows),
            ("2025-04", FileKind::Breakdowns, Some(3))
        );
        assert!(m.named_files().iter().any(|f| f.path == sums.file && f.sha256.as_deref() == Some("cd")));
        assert!(m.live_files().any(|f| f == sums.file));
        assert_eq!(m.unconfined_file(), None);
        // Other rules: not read.
        assert_eq!(m.stored_breakdowns("other"), None);
        // Made from other files than the month has, or for a month without partitions: a
        // manifest refrate never writes.
        let mut other = m.clone();
        other.month_breakdowns.get_mut("2025-04").unwrap().events =
            vec!["events/month=2025-04/part-s.parquet".into()];
        assert_eq!(other.stored_breakdowns("rules"), None);
        assert!(other.disagreement().unwrap().contains("were made from events/month=2025-04/part-s.parquet"));
        let mut stray = m.clone();
        stray.month_breakdowns.insert("2025-05".into(), sums);
        assert!(stray.disagreement().unwrap().contains("month 2025-05"));
        // Outside its folder: refused as every other path.
        let mut outside = m;
        outside.month_breakdowns.get_mut("2025-04").unwrap().file = "events/month=2025-04/x.parquet".into();
        assert!(outside.unconfined_file().unwrap().1.contains("breakdowns/"));
    }

    #[test]
    fn manifest_paths_are_confined_to_their_folder() {
        let ok = "events/hospital=0110113719/month=2025-04/part-x.parquet";
        assert_eq!(confinement(ok, FileKind::Events), Ok(()));
        assert_eq!(confinement("rejects/run=x/source-0000.parquet", FileKind::Rejects), Ok(()));
        for bad in [
            "../../outside.parquet",
            "events/../../outside.parquet",
            "events/./x.parquet",
            "events//x.parquet",
            "/etc/passwd",
            "C:\\x.parquet",
            "file:///x.parquet",
            "events",
            "_lock/v1.json",
            "rejects/run=x/source-0000.parquet",
            "events/x\nrefrate: forged line.parquet",
        ] {
            assert!(confinement(bad, FileKind::Events).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_names_sort_by_version_and_parse_back() {
        assert_eq!(Manifest::object_name(7), "_manifest/v00000000000000000007.json");
        assert!(Manifest::object_name(10) > Manifest::object_name(9));
        assert_eq!(Manifest::version_of("wh/_manifest/v00000000000000000012.json"), Some(12));
        // Staging files of an interrupted write and foreign files are not versions.
        assert_eq!(Manifest::version_of("_manifest/v00000000000000000012.json#1"), None);
        assert_eq!(Manifest::version_of("_manifest/v12.json"), None);
    }
}
