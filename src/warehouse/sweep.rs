//! The sweep: deletes data files no recent manifest names, once they are old enough.
//!
//! A killed or failed run leaves data files that no manifest names, and a corrected
//! hospital-month leaves its previous file behind (older manifests still name it). Both are
//! deleted here, but only when
//! - no manifest among the last [`SweepPolicy::keep_versions`] names the file, so a reader that
//!   opened one of those versions can still read all of it, and
//! - the file is older than [`SweepPolicy::retention`], so a file a live writer has just
//!   uploaded and is about to publish is never touched.
//!
//! It also removes `LocalFileSystem` staging files (`name#<n>`) of interrupted writes and old
//! lock generations of the writer lock (never the newest). Run it only while holding the writer lock.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::ObjectStore;

use super::lock::{LOCK_DIR, lock_object_name};
use super::{Warehouse, WarehouseError};

/// What the sweep may delete.
#[derive(Debug, Clone, Copy)]
pub struct SweepPolicy {
    /// Minimum age of an unreferenced file before it is deleted.
    pub retention: Duration,
    /// How many of the newest manifest versions keep their files.
    pub keep_versions: u64,
}

impl Default for SweepPolicy {
    fn default() -> Self {
        SweepPolicy { retention: Duration::from_secs(24 * 3600), keep_versions: 5 }
    }
}

/// What a sweep did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SweepReport {
    /// Deleted objects, relative to the warehouse root.
    pub deleted: Vec<String>,
    pub bytes_freed: u64,
    /// Unreferenced files left alone because they are younger than the retention.
    pub kept_young: usize,
}

fn old_enough(modified: DateTime<Utc>, now: DateTime<Utc>, retention: Duration) -> bool {
    now.signed_duration_since(modified).to_std().is_ok_and(|age| age >= retention)
}

/// Whether a file name is a `LocalFileSystem` staging file (`<name>#<digits>`).
fn is_staging(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl Warehouse {
    /// The files named by the newest `keep_versions` manifests (the live set).
    pub async fn live_files(&self, keep_versions: u64) -> Result<BTreeSet<String>, WarehouseError> {
        let latest = self.latest_version().await?;
        let first = latest.saturating_sub(keep_versions.max(1) - 1).max(1);
        let mut live = BTreeSet::new();
        for version in first..=latest {
            let manifest = self.manifest(version).await?;
            live.extend(manifest.live_files().map(str::to_string));
        }
        Ok(live)
    }

    /// Deletes unreferenced data files older than the retention (see the module comment).
    pub async fn sweep(
        &self,
        policy: SweepPolicy,
        now: DateTime<Utc>,
    ) -> Result<SweepReport, WarehouseError> {
        // The live set is read first: a manifest published after this point can only name
        // files younger than the retention (a writer publishes what it has just uploaded).
        let live = self.live_files(policy.keep_versions).await?;
        let mut report = SweepReport::default();
        let root = self.root.as_ref();
        // Superseded lock generations go too; the newest is the lock and always stays.
        let newest_lock = lock_object_name(self.lock_generation().await?);
        for prefix in ["events", "rejects", "reported", LOCK_DIR] {
            let objects: Vec<_> =
                self.store.list(Some(&self.path(prefix))).try_collect().await.map_err(self.store_err())?;
            for object in objects {
                let full = object.location.as_ref();
                let relative = full.strip_prefix(root).unwrap_or(full).trim_start_matches('/').to_string();
                let candidate =
                    if prefix == LOCK_DIR { relative != newest_lock } else { !live.contains(&relative) };
                if !candidate {
                    continue;
                }
                if !old_enough(object.last_modified, now, policy.retention) {
                    report.kept_young += 1;
                    continue;
                }
                self.delete(&relative).await?;
                report.bytes_freed += object.size;
                report.deleted.push(relative);
            }
        }
        if let Some(folder) = &self.local_folder {
            sweep_staging(folder, folder, now, policy.retention, &mut report).map_err(|source| {
                WarehouseError::Io {
                    location: self.location.clone(),
                    context: "sweeping staging files".into(),
                    source,
                }
            })?;
        }
        report.deleted.sort();
        Ok(report)
    }
}

/// Staging files are invisible to object_store listings, so the folder is walked directly.
fn sweep_staging(
    root: &std::path::Path,
    dir: &std::path::Path,
    now: DateTime<Utc>,
    retention: Duration,
    report: &mut SweepReport,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let path = entry.path();
        if meta.is_dir() {
            sweep_staging(root, &path, now, retention, report)?;
            continue;
        }
        if !is_staging(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let modified: DateTime<Utc> = meta.modified().unwrap_or(SystemTime::now()).into();
        if !old_enough(modified, now, retention) {
            report.kept_young += 1;
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
        report.bytes_freed += meta.len();
        report.deleted.push(path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_are_recognised() {
        assert!(is_staging("part-x.parquet#1"));
        assert!(is_staging("v00000000000000000003.json#27"));
        assert!(!is_staging("part-x.parquet"));
        assert!(!is_staging("odd#name.parquet"));
        assert!(!is_staging("trailing#"));
    }
}
