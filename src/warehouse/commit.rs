//! The commit of a run: the next manifest version, assembled from what the run stored, and its
//! publication. Every data file goes up under a fresh name of the run first, and none is
//! visible until the manifest names it; the manifest is published last, create-only, after the
//! writer lock is checked. `app` says what to store; the paths, the digests, the run history
//! and the publication are decided here.

use std::collections::BTreeMap;

use super::schema;
use super::{
    FORMAT, FileDigest, FinishedMonth, Manifest, PartitionEntry, RunEntry, SourceEntry, Warehouse,
    WarehouseError, WriterLock, WrittenFile, layout,
};

/// Runs kept in the manifest's history.
const RUNS_KEPT: usize = 50;

/// The next version of a warehouse, being assembled by one run.
pub(crate) struct Commit<'a> {
    warehouse: &'a Warehouse,
    run_id: String,
    /// When the run committed, as the manifest records it (`2025-04-01T09:00:00Z`).
    pub now: String,
    next: Manifest,
    /// Hospital-months whose entry was written again.
    pub partitions_written: usize,
    /// Hospital-months that had rows and now have none (an emptied file, `--allow-empty`).
    pub partitions_cleared: Vec<String>,
    rejects_files: usize,
    reported_files: usize,
    /// The run's writer lock; none for a rehearsal (`validate`), which assembles and checks
    /// the next manifest as a real commit does but stores and publishes nothing.
    lock: Option<&'a WriterLock>,
}

impl<'a> Commit<'a> {
    /// Starts the version after `current`, written by this build (format [`FORMAT`]: its month
    /// files are shared by partitions, which builds reading format 2 would count once per
    /// partition) under the run's `lock`. `key_id` identifies the pseudonymisation key, if the
    /// run has one.
    pub(crate) fn begin(
        warehouse: &'a Warehouse,
        current: &Manifest,
        run_id: &str,
        key_id: Option<String>,
        lock: &'a WriterLock,
    ) -> Commit<'a> {
        Commit { lock: Some(lock), ..Commit::rehearse(warehouse, current, run_id, key_id) }
    }

    /// A commit that stores nothing and publishes nothing: `validate` assembles the version a
    /// run would publish, to apply the same last checks to it.
    pub(crate) fn rehearse(
        warehouse: &'a Warehouse,
        current: &Manifest,
        run_id: &str,
        key_id: Option<String>,
    ) -> Commit<'a> {
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let mut next = current.clone();
        next.format = FORMAT;
        next.version = current.version + 1;
        next.created_at = now.clone();
        next.refrate_version = env!("CARGO_PKG_VERSION").to_string();
        next.pseudonym_key_id = next.pseudonym_key_id.or(key_id);
        Commit {
            warehouse,
            run_id: run_id.to_string(),
            now,
            next,
            partitions_written: 0,
            partitions_cleared: Vec::new(),
            rejects_files: 0,
            reported_files: 0,
            lock: None,
        }
    }

    /// Stores the rebuilt months, two files going up at a time (one at a time, storing the
    /// month files of 47 M events kept one core idle for 3 s). A month that holds what it held
    /// (nothing new, nothing removed: a cumulative export repeating what is stored) keeps its
    /// files, byte for byte; otherwise its file goes up and replaces every partition entry of
    /// the month. Nothing is visible before [`Commit::publish`], so the order does not matter.
    pub(crate) async fn put_months(
        &mut self,
        months: impl IntoIterator<Item = (String, FinishedMonth)>,
    ) -> Result<(), WarehouseError> {
        use futures::StreamExt;
        use std::sync::atomic::{AtomicBool, Ordering};
        let uploads: Vec<(String, WrittenFile)> =
            months.into_iter().filter_map(|(month, finished)| self.record_month(&month, finished)).collect();
        if self.lock.is_none() {
            return Ok(());
        }
        let (warehouse, failed) = (self.warehouse, &AtomicBool::new(false));
        // After a failure no upload starts, but the one under way is let finish: dropped
        // half-way, a multipart upload would not be aborted (its parts would stay in the store).
        let results: Vec<Result<(), WarehouseError>> = futures::stream::iter(uploads)
            .map(|(file, mut written)| async move {
                if failed.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let put = warehouse.put_file(&file, &mut written).await;
                failed.fetch_or(put.is_err(), Ordering::Relaxed);
                put
            })
            .buffer_unordered(2)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// Enters a rebuilt month in the next manifest; returns its file to store, and where, unless
    /// the month keeps what it had or holds nothing any more.
    fn record_month(&mut self, month: &str, finished: FinishedMonth) -> Option<(String, WrittenFile)> {
        let FinishedMonth { file: written, partitions } = finished;
        let stored: BTreeMap<&String, &PartitionEntry> =
            self.next.partitions.iter().filter(|(_, p)| p.month == month).collect();
        let unchanged = partitions.len() == stored.len()
            && partitions.iter().all(|(key, p)| {
                p.new_rows == 0
                    && stored.get(key).is_some_and(|entry| {
                        entry.rows == p.rows && entry.sources.iter().all(|s| p.sources.contains(s))
                    })
            });
        if unchanged {
            return None;
        }
        let stored: Vec<String> = stored.into_keys().cloned().collect();
        // The month's sums were made from the files it had.
        self.next.month_breakdowns.remove(month);
        for key in stored {
            self.next.partitions.remove(&key);
            if !partitions.contains_key(&key) {
                self.partitions_cleared.push(key);
            }
        }
        if partitions.is_empty() {
            return None;
        }
        let file = layout::month_file(month, &self.run_id);
        self.partitions_written += partitions.len();
        for (key, p) in partitions {
            let hospital = key.split_once('/').map_or(key.as_str(), |(h, _)| h).to_string();
            let entry = PartitionEntry {
                hospital_code: hospital,
                month: month.to_string(),
                file: file.clone(),
                rows: p.rows,
                sha256: written.sha256.clone(),
                bytes: Some(written.bytes),
                sources: p.sources.into_iter().collect(),
                counts: None,
            };
            self.next.partitions.insert(key, entry);
        }
        Some((file, written))
    }

    /// The event files holding partitions of the next version without counts made by `rules`
    /// (the months this run wrote, and every partition when the stored counts were made by
    /// other rules, which are dropped: a version's counts come from one set of rules). None for
    /// a rehearsal, which stores no file to count.
    pub(crate) fn files_to_count(&mut self, rules: &str) -> Vec<String> {
        if self.lock.is_none() {
            return Vec::new();
        }
        if self.next.counts_rules.as_deref() != Some(rules) {
            for p in self.next.partitions.values_mut() {
                p.counts = None;
            }
        }
        let files: std::collections::BTreeSet<&str> =
            self.next.partitions.values().filter(|p| p.counts.is_none()).map(|p| p.file.as_str()).collect();
        files.into_iter().map(str::to_string).collect()
    }

    /// Records the counts `rules` computed per partition (`hospital/month`) from the files
    /// [`Self::files_to_count`] named. A partition left without counts makes every read of this
    /// version count the events.
    pub(crate) fn set_counts(&mut self, rules: &str, mut counts: BTreeMap<String, Vec<u64>>) {
        self.next.counts_rules = Some(rules.to_string());
        for (key, p) in self.next.partitions.iter_mut().filter(|(_, p)| p.counts.is_none()) {
            p.counts = counts.remove(key);
        }
    }

    /// The months of the next version without department and partner sums made by `rules`
    /// from the event files they have now, each with those files (every month when the stored
    /// sums were made by other rules, which are dropped: a version's sums come from one set of
    /// rules), and the number of hospital-months each holds. None for a rehearsal, which
    /// stores no file to sum.
    pub(crate) fn months_to_break_down(&mut self, rules: &str) -> BTreeMap<String, (Vec<String>, usize)> {
        if self.lock.is_none() {
            return BTreeMap::new();
        }
        if self.next.breakdowns_rules.as_deref() != Some(rules) {
            self.next.month_breakdowns.clear();
            self.next.breakdowns_rules = Some(rules.to_string());
        }
        let months: BTreeMap<String, Vec<String>> = self
            .next
            .month_event_files()
            .into_iter()
            .map(|(m, files)| (m.to_string(), files.into_iter().map(str::to_string).collect()))
            .collect();
        self.next.month_breakdowns.retain(|m, b| months.get(m) == Some(&b.events));
        let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
        for p in self.next.partitions.values() {
            *sizes.entry(p.month.as_str()).or_default() += 1;
        }
        months
            .into_iter()
            .filter(|(m, _)| !self.next.month_breakdowns.contains_key(m))
            .map(|(m, files)| {
                let size = sizes.get(m.as_str()).copied().unwrap_or(0);
                (m, (files, size))
            })
            .collect()
    }

    /// Stores the sums of `month` ([`schema::BREAKDOWNS`] rows) made from the event files
    /// `events` (as [`Self::months_to_break_down`] named them).
    pub(crate) async fn put_breakdowns(
        &mut self,
        month: &str,
        events: Vec<String>,
        batches: &[datafusion::arrow::array::RecordBatch],
    ) -> Result<(), WarehouseError> {
        let name = layout::breakdown_file(month, &self.run_id);
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        let digest = self.put_batches(name.clone(), schema::BREAKDOWNS.clone(), batches).await?;
        let entry =
            super::BreakdownEntry { file: name, sha256: digest.sha256, bytes: digest.bytes, rows, events };
        self.next.month_breakdowns.insert(month.to_string(), entry);
        Ok(())
    }

    /// Stores the rejects of a source as a table file; returns its name and digest.
    pub(crate) async fn put_rejects(
        &mut self,
        rejects: &[crate::ingest::Reject],
    ) -> Result<(String, FileDigest), WarehouseError> {
        let name = layout::rejects_file(&self.run_id, self.rejects_files);
        self.rejects_files += 1;
        let batch = schema::rejects_batch(rejects);
        self.put_table(name, schema::REJECTS.clone(), batch).await
    }

    /// Stores the counts one source reported as a table file; returns its name and digest.
    pub(crate) async fn put_reported(
        &mut self,
        rows: &[crate::ingest::ReportedRow],
        source: &str,
    ) -> Result<(String, FileDigest), WarehouseError> {
        let name = layout::reported_file(&self.run_id, self.reported_files);
        self.reported_files += 1;
        let batch = schema::reported_batch(rows, source);
        self.put_table(name, schema::REPORTED.clone(), batch).await
    }

    async fn put_table(
        &self,
        name: String,
        table: datafusion::arrow::datatypes::SchemaRef,
        batch: datafusion::arrow::array::RecordBatch,
    ) -> Result<(String, FileDigest), WarehouseError> {
        let digest = self.put_batches(name.clone(), table, &[batch]).await?;
        Ok((name, digest))
    }

    /// Writes `batches` as the Parquet file `name` (stored unless a rehearsal); its digest.
    async fn put_batches(
        &self,
        name: String,
        table: datafusion::arrow::datatypes::SchemaRef,
        batches: &[datafusion::arrow::array::RecordBatch],
    ) -> Result<FileDigest, WarehouseError> {
        let bytes = super::write_batches(table, batches).map_err(|source| WarehouseError::Parquet {
            location: self.warehouse.location.clone(),
            file: name.clone(),
            source,
        })?;
        let digest = FileDigest::of(&bytes);
        if self.lock.is_some() {
            self.warehouse.put(&name, bytes).await?;
        }
        Ok(digest)
    }

    /// Records an ingested source. Sources it replaced no longer feed the hospital-months it
    /// took from them.
    pub(crate) fn record_source(&mut self, name: &str, entry: SourceEntry) {
        for (key, others) in &entry.replaced {
            for other in others {
                if let Some(o) = self.next.sources.get_mut(other) {
                    o.partitions.retain(|p| p != key);
                }
            }
        }
        self.next.sources.insert(name.to_string(), entry);
    }

    /// Publishes the version: the run is added to the history, and the manifest is written
    /// create-only once `ready` (the run's last checks) and the lock check pass. A run whose
    /// lock was taken over while it was silent must not publish over the run that took it.
    /// A rehearsal only applies `ready`.
    pub(crate) async fn publish<E: From<WarehouseError>>(
        mut self,
        run: RunSummary,
        ready: impl FnOnce(&Manifest) -> Result<(), E>,
    ) -> Result<Manifest, E> {
        self.next.runs.push(RunEntry {
            run_id: self.run_id.clone(),
            version: self.next.version,
            finished_at: self.now.clone(),
            files_ingested: run.files_ingested,
            rows_valid: run.rows_valid,
            rows_rejected: run.rows_rejected,
            partitions_written: self.partitions_written as u64,
        });
        if self.next.runs.len() > RUNS_KEPT {
            let excess = self.next.runs.len() - RUNS_KEPT;
            self.next.runs.drain(..excess);
        }
        // Rebuilt in one go, the map's nodes are full: inserted one by one they were about half
        // full, and the manifest is held, one entry per hospital-month, until the pages are made.
        self.next.partitions = std::mem::take(&mut self.next.partitions).into_iter().collect();
        ready(&self.next)?;
        let Some(lock) = self.lock else {
            return Ok(self.next);
        };
        lock.check()?;
        self.warehouse.publish(&self.next).await?;
        Ok(self.next)
    }
}

/// What the run did, for its entry in the history.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RunSummary {
    pub files_ingested: u64,
    pub rows_valid: u64,
    pub rows_rejected: u64,
}
