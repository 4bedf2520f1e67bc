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
//!
//! It deletes **only names refrate generates** ([`super::layout`]): a user's file below the
//! warehouse (an overlapping input folder, a note, a copy) is never a candidate, whatever its
//! age or name. A damaged older manifest is reported, not fatal: the files it named are
//! unknown, but no reader can use that version anyway.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::ObjectStore;

use super::layout::{DATA_DIRS, is_own_data_file, is_own_meta_file, is_own_staging_file};
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
pub(crate) struct SweepReport {
    /// Deleted objects, relative to the warehouse root.
    pub deleted: Vec<String>,
    pub bytes_freed: u64,
    /// Unreferenced files left alone because they are younger than the retention.
    pub kept_young: usize,
    /// Older manifest versions that could not be read (named, with why), ignored by the sweep.
    pub damaged_manifests: Vec<String>,
}

fn old_enough(modified: DateTime<Utc>, now: DateTime<Utc>, retention: Duration) -> bool {
    now.signed_duration_since(modified).to_std().is_ok_and(|age| age >= retention)
}

impl Warehouse {
    /// The files named by the newest `keep_versions` manifests (the live set), and the older
    /// versions among them that could not be read. The newest version must read.
    pub(crate) async fn live_files(
        &self,
        keep_versions: u64,
    ) -> Result<(BTreeSet<String>, Vec<String>), WarehouseError> {
        let latest = self.latest_version().await?;
        let first = latest.saturating_sub(keep_versions.max(1) - 1).max(1);
        let mut live = BTreeSet::new();
        let mut damaged = Vec::new();
        for version in first..=latest {
            match self.manifest(version).await {
                Ok(manifest) => live.extend(manifest.live_files().map(str::to_string)),
                Err(e) if version < latest => damaged.push(e.to_string()),
                Err(e) => return Err(e),
            }
        }
        Ok((live, damaged))
    }

    /// Deletes unreferenced data files older than the retention (see the module comment).
    pub(crate) async fn sweep(
        &self,
        policy: SweepPolicy,
        now: DateTime<Utc>,
    ) -> Result<SweepReport, WarehouseError> {
        // The live set is read first: a manifest published after this point can only name
        // files younger than the retention (a writer publishes what it has just uploaded).
        let (live, damaged_manifests) = self.live_files(policy.keep_versions).await?;
        let mut report = SweepReport { damaged_manifests, ..SweepReport::default() };
        let root = self.root.as_ref();
        // Superseded lock generations go too; the newest is the lock and always stays.
        let newest_lock = lock_object_name(self.lock_generation().await?);
        for prefix in DATA_DIRS.into_iter().chain([LOCK_DIR]) {
            let objects: Vec<_> =
                self.store.list(Some(&self.path(prefix))).try_collect().await.map_err(self.store_err())?;
            for object in objects {
                let full = object.location.as_ref();
                let relative = full.strip_prefix(root).unwrap_or(full).trim_start_matches('/').to_string();
                let candidate = if prefix == LOCK_DIR {
                    is_own_meta_file(&relative) && relative != newest_lock
                } else {
                    is_own_data_file(&relative) && !live.contains(&relative)
                };
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
            for dir in DATA_DIRS.into_iter().chain(["_manifest", LOCK_DIR]) {
                let dir = folder.join(dir);
                if !dir.is_dir() {
                    continue;
                }
                sweep_staging(folder, &dir, now, policy.retention, &mut report).map_err(|source| {
                    WarehouseError::Io {
                        location: self.location.clone(),
                        context: "sweeping staging files".into(),
                        source,
                    }
                })?;
            }
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
        // Symbolic links are neither followed nor deleted: refrate never makes one.
        let meta = std::fs::symlink_metadata(entry.path())?;
        let path = entry.path();
        if meta.is_dir() {
            sweep_staging(root, &path, now, retention, report)?;
            continue;
        }
        let Ok(relative) = path.strip_prefix(root) else { continue };
        let Some(relative) = relative.to_str() else { continue };
        if !meta.is_file() || !is_own_staging_file(relative) {
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
        report.deleted.push(relative.to_string());
    }
    Ok(())
}
