//! The manifest: the one object that says which data files make up the warehouse.
//!
//! Data files are written under fresh names first and are invisible until a manifest names
//! them. Manifests are numbered (`_manifest/v00000000000000000007.json`) and written
//! create-only, so a version is published exactly once and the highest version is the current
//! state. Earlier versions stay readable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The manifest format this build writes and reads.
pub const FORMAT: u32 = 1;

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
    /// For `aggregates` sources: the reported-counts table file.
    #[serde(default)]
    pub reported_file: Option<String>,
    pub run_id: String,
    pub ingested_at: String,
}

/// One hospital-month of events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionEntry {
    pub hospital_code: String,
    pub month: String,
    /// Path of the Parquet file, relative to the warehouse root.
    pub file: String,
    pub rows: u64,
    /// SHA-256 of the Parquet file, so a reader can check it is the file that was published.
    pub sha256: String,
    /// Source names whose rows are in this partition.
    pub sources: Vec<String>,
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
        }
    }

    pub fn partition_key(hospital_code: &str, month: &str) -> String {
        format!("{hospital_code}/{month}")
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

    /// The files this version references, relative to the warehouse root.
    pub fn live_files(&self) -> impl Iterator<Item = &str> {
        self.partitions
            .values()
            .map(|p| p.file.as_str())
            .chain(self.sources.values().filter_map(|s| s.rejects_file.as_deref()))
            .chain(self.sources.values().filter_map(|s| s.reported_file.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
