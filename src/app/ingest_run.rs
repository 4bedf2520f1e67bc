//! The ingest half of `refrate run`: find input files, skip those already ingested, stream the
//! new ones into partition files, and publish a new manifest version.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::AppError;
use crate::config::{Config, Input};
use crate::ingest::{self, Event, FileStats, Pseudonymizer, Reject, RejectReason, RelatedInstitutions};
use crate::warehouse::schema::{self, month_of};
use crate::warehouse::{
    Manifest, PartitionEntry, PartitionSink, RunEntry, SourceEntry, Warehouse, WriterLock, WrittenFile,
};

/// One input file matched by a config glob.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    /// The name recorded in the warehouse: the path relative to the config folder.
    pub name: String,
    pub input: Input,
}

/// Expands the config's globs, in a stable order. A glob that matches nothing is reported
/// (it is normal for cron runs before the month's export arrives) but is not an error.
pub fn expand_inputs(cfg: &Config, quiet: bool) -> Result<Vec<SourceFile>, AppError> {
    let mut seen = BTreeSet::new();
    let mut files = Vec::new();
    for input in &cfg.inputs {
        let paths = glob::glob(&input.pattern)
            .map_err(|e| AppError::Input(format!("inputs: {:?}: {e}", input.pattern_as_written)))?;
        let mut matched: Vec<PathBuf> = Vec::new();
        for entry in paths {
            let path =
                entry.map_err(|e| AppError::Input(format!("inputs: {:?}: {e}", input.pattern_as_written)))?;
            if path.is_file() {
                matched.push(path);
            }
        }
        matched.sort();
        if matched.is_empty() && !quiet {
            eprintln!("refrate: note: input {:?} matches no file", input.pattern_as_written);
        }
        for path in matched {
            if seen.insert(path.clone()) {
                files.push(SourceFile { name: cfg.display_path(&path), path, input: input.clone() });
            }
        }
    }
    Ok(files)
}

fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// What the ingest half did.
pub struct IngestOutcome {
    pub manifest: Manifest,
    pub published: bool,
    pub files_seen: usize,
    pub files_ingested: usize,
    pub rows_read: u64,
    pub rows_rejected: u64,
    pub partitions_written: usize,
    /// Hospital-months that had data and now have none (an emptied file, `--allow-empty`).
    pub partitions_cleared: Vec<String>,
}

/// How `run` ingests.
pub struct IngestOptions<'a> {
    pub run_id: &'a str,
    /// Checked just before publishing: a run whose lock was taken over must not publish.
    pub lock: &'a WriterLock,
    pub allow_empty: bool,
    pub progress: indicatif::ProgressBar,
}

struct FileResult {
    name: String,
    sha256: String,
    stats: FileStats,
    rejects: Vec<Reject>,
    partitions: BTreeSet<String>,
}

struct Ingested {
    files: Vec<FileResult>,
    partitions: BTreeMap<String, WrittenFile>,
    partition_sources: BTreeMap<String, BTreeSet<String>>,
}

/// A 128-bit fingerprint of everything that makes two events the same record.
fn fingerprint(e: &Event) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for part in [
        e.hospital_code.as_str(),
        &e.event_date.to_string(),
        e.event_type.as_str(),
        &e.patient_key,
        &e.department,
        e.partner_code.as_deref().unwrap_or("\u{0}"),
    ] {
        h.update(part.as_bytes());
        h.update(&[0x1f]);
    }
    h.update(&[
        e.referral_letter as u8,
        e.partner_related as u8,
        e.ambulance as u8,
        e.after_hours_emergency as u8,
        e.checkup_origin as u8,
    ]);
    h.digest128()
}

/// Skips files already in the manifest (same name and content), ingests the others, and
/// publishes a new manifest version if anything changed.
pub async fn ingest_and_publish(
    cfg: &Config,
    warehouse: &Warehouse,
    options: IngestOptions<'_>,
    current: Manifest,
    files: Vec<SourceFile>,
    pseudonymizer: Pseudonymizer,
    related: Option<RelatedInstitutions>,
) -> Result<IngestOutcome, AppError> {
    let key_id = pseudonymizer.key_id();
    if let Some(stored) = &current.pseudonym_key_id
        && *stored != key_id
    {
        return Err(AppError::Input(format!(
            "the pseudonymisation key (id {key_id}) is not the one this warehouse was built with (id {stored}); \
                 duplicate detection and patient counts need one key. Use the original key, or start a new warehouse"
        )));
    }
    let files_seen = files.len();
    let mut changed = Vec::new();
    for f in files {
        let sha = sha256_file(&f.path).map_err(AppError::io(format!("reading {}", f.name)))?;
        if current.sources.get(&f.name).map(|s| s.sha256.as_str()) != Some(sha.as_str()) {
            changed.push((f, sha));
        }
    }
    if changed.is_empty() {
        return Ok(IngestOutcome {
            manifest: current,
            published: false,
            files_seen,
            files_ingested: 0,
            rows_read: 0,
            rows_rejected: 0,
            partitions_written: 0,
            partitions_cleared: Vec::new(),
        });
    }

    let handle = tokio::runtime::Handle::current();
    let wh = warehouse.clone();
    let base = current.clone();
    let max_ratio = cfg.max_reject_ratio;
    let allow_empty = options.allow_empty;
    let progress = options.progress.clone();
    progress.set_length(changed.len() as u64);
    let ingested = tokio::task::spawn_blocking(move || {
        let limits = Limits { max_reject_ratio: max_ratio, allow_empty };
        ingest_files(&handle, &wh, &base, &changed, &pseudonymizer, related.as_ref(), limits, &progress)
    })
    .await
    .map_err(|e| AppError::Input(format!("ingest stopped unexpectedly: {e}")))??;

    // Upload data files under fresh names; none is visible until the manifest names it.
    let run_id = options.run_id.to_string();
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut next = current.clone();
    next.version = current.version + 1;
    next.created_at = now.clone();
    next.refrate_version = env!("CARGO_PKG_VERSION").to_string();
    next.pseudonym_key_id = Some(key_id);
    let mut partitions_written = 0;
    let mut partitions_cleared = Vec::new();
    options.progress.set_message("uploading");
    for (key, mut written) in ingested.partitions {
        if written.rows == 0 {
            if next.partitions.remove(&key).is_some() {
                partitions_cleared.push(key);
            }
            continue;
        }
        let (hospital, month) = key.split_once('/').expect("partition keys are hospital/month");
        let file = format!("events/hospital={hospital}/month={month}/part-{run_id}.parquet");
        warehouse.put_file(&file, &mut written).await?;
        partitions_written += 1;
        next.partitions.insert(
            key.clone(),
            PartitionEntry {
                hospital_code: hospital.to_string(),
                month: month.to_string(),
                file,
                rows: written.rows,
                sha256: written.sha256,
                sources: ingested
                    .partition_sources
                    .get(&key)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default(),
            },
        );
    }
    let (mut rows_read, mut rows_rejected, mut rows_valid) = (0, 0, 0);
    for (i, f) in ingested.files.iter().enumerate() {
        rows_read += f.stats.rows_read;
        rows_rejected += f.stats.rows_rejected;
        rows_valid += f.stats.rows_valid;
        let rejects_file = if f.rejects.is_empty() {
            None
        } else {
            let name = format!("rejects/run={run_id}/source-{i:04}.parquet");
            let bytes = crate::warehouse::write_batches(
                schema::REJECTS.clone(),
                &[schema::rejects_batch(&f.rejects)],
            )
            .map_err(|e| AppError::Input(format!("writing rejects of {}: {e}", f.name)))?;
            warehouse.put(&name, bytes).await?;
            Some(name)
        };
        let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
        for r in &f.rejects {
            *by_reason.entry(r.reason.code().to_string()).or_default() += 1;
        }
        next.sources.insert(
            f.name.clone(),
            SourceEntry {
                sha256: f.sha256.clone(),
                kind: "events".into(),
                encoding: f.stats.encoding.clone(),
                rows_read: f.stats.rows_read,
                rows_valid: f.stats.rows_valid,
                rows_rejected: f.stats.rows_rejected,
                check_digit_warnings: f.stats.check_digit_warnings,
                rejects_by_reason: by_reason,
                partitions: f.partitions.iter().cloned().collect(),
                rejects_file,
                run_id: run_id.clone(),
                ingested_at: now.clone(),
            },
        );
    }
    next.runs.push(RunEntry {
        run_id,
        version: next.version,
        finished_at: now,
        files_ingested: ingested.files.len() as u64,
        rows_valid,
        rows_rejected,
        partitions_written: partitions_written as u64,
    });
    if next.runs.len() > 50 {
        let excess = next.runs.len() - 50;
        next.runs.drain(..excess);
    }
    // A run that lost its lock while silent must not publish over the run that took it over.
    options.lock.check()?;
    warehouse.publish(&next).await?;
    Ok(IngestOutcome {
        manifest: next,
        published: true,
        files_seen,
        files_ingested: ingested.files.len(),
        rows_read,
        rows_rejected,
        partitions_written,
        partitions_cleared,
    })
}

/// A fresh run id: time, pid and a random nonce, so data files of two runs never collide.
pub fn new_run_id() -> String {
    let now = chrono::Utc::now();
    let nonce: u32 = rand::random();
    format!("{}-{}-{nonce:08x}", now.format("%Y%m%dT%H%M%SZ"), std::process::id())
}

/// What stops an ingest.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_reject_ratio: f64,
    allow_empty: bool,
}

/// Rebuilds the hospital-months a run touches: rows of the changed files plus the rows other
/// sources contributed earlier, with exact duplicates rejected across all of them.
struct Rebuild<'a> {
    handle: &'a tokio::runtime::Handle,
    warehouse: &'a Warehouse,
    current: &'a Manifest,
    changed_names: BTreeSet<&'a str>,
    sink: PartitionSink,
    partition_sources: BTreeMap<String, BTreeSet<String>>,
    /// Per partition: fingerprint → (source name index, line) of the first occurrence.
    seen: HashMap<String, HashMap<u128, (u32, u64)>>,
    names: Vec<String>,
    name_index: HashMap<String, u32>,
}

impl Rebuild<'_> {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.name_index.get(name) {
            return i;
        }
        self.names.push(name.to_string());
        let i = (self.names.len() - 1) as u32;
        self.name_index.insert(name.to_string(), i);
        i
    }

    fn staging(key: &str) -> impl FnOnce(datafusion::parquet::errors::ParquetError) -> AppError + '_ {
        move |e| AppError::Input(format!("staging partition {key}: {e}"))
    }

    /// Opens a partition, carrying over the rows of sources that are not being replaced.
    fn open_partition(&mut self, key: &str) -> Result<(), AppError> {
        if self.sink.contains(key) {
            return Ok(());
        }
        self.sink.open(key).map_err(Self::staging(key))?;
        self.seen.entry(key.to_string()).or_default();
        self.partition_sources.entry(key.to_string()).or_default();
        let Some(entry) = self.current.partitions.get(key) else {
            return Ok(());
        };
        if entry.sources.iter().all(|s| self.changed_names.contains(s.as_str())) {
            return Ok(());
        }
        let bytes = self.handle.block_on(self.warehouse.get(&entry.file))?;
        let batches = crate::warehouse::read_parquet_bytes(bytes)
            .map_err(|e| AppError::Input(format!("reading partition {key} ({}): {e}", entry.file)))?;
        for batch in &batches {
            for (event, source) in schema::events_from_batch(batch) {
                if self.changed_names.contains(source.as_str()) {
                    continue;
                }
                let idx = self.intern(&source);
                self.seen.get_mut(key).expect("opened above").insert(fingerprint(&event), (idx, event.line));
                self.sink.push(key, &event, &source).map_err(Self::staging(key))?;
                self.partition_sources.get_mut(key).expect("opened above").insert(source);
            }
        }
        Ok(())
    }

    /// Adds a valid event of `file`; returns a reject if it duplicates an earlier row.
    fn add(&mut self, event: &Event, file_idx: u32, file: &str) -> Result<Option<Reject>, AppError> {
        let key = Manifest::partition_key(&event.hospital_code, &month_of(event.event_date));
        self.open_partition(&key)?;
        let fp = fingerprint(event);
        let fingerprints = self.seen.get_mut(&key).expect("opened with the partition");
        if let Some(&(src, line)) = fingerprints.get(&fp) {
            let first = if src == file_idx {
                format!("line {line}")
            } else {
                format!("{}:{line}", self.names[src as usize])
            };
            return Ok(Some(Reject {
                file: file.to_string(),
                line: event.line,
                byte_offset: event.byte_offset,
                field: None,
                value: None,
                reason: RejectReason::Duplicate,
                detail: format!("exact duplicate of {first}"),
            }));
        }
        fingerprints.insert(fp, (file_idx, event.line));
        self.sink.push(&key, event, file).map_err(Self::staging(&key))?;
        self.partition_sources.get_mut(&key).expect("opened above").insert(file.to_string());
        Ok(None)
    }
}

/// Reads the changed files on a blocking thread. For each hospital-month they touch, the rows
/// of other sources already in the warehouse are carried over, so the partition is rebuilt
/// whole: a corrected file replaces its own earlier rows and nothing else.
#[allow(clippy::too_many_arguments)]
fn ingest_files(
    handle: &tokio::runtime::Handle,
    warehouse: &Warehouse,
    current: &Manifest,
    changed: &[(SourceFile, String)],
    pseudonymizer: &Pseudonymizer,
    related: Option<&RelatedInstitutions>,
    limits: Limits,
    progress: &indicatif::ProgressBar,
) -> Result<Ingested, AppError> {
    let Limits { max_reject_ratio, allow_empty } = limits;
    let mut rebuild = Rebuild {
        handle,
        warehouse,
        current,
        changed_names: changed.iter().map(|(f, _)| f.name.as_str()).collect(),
        sink: PartitionSink::new(),
        partition_sources: BTreeMap::new(),
        seen: HashMap::new(),
        names: Vec::new(),
        name_index: HashMap::new(),
    };
    let mut results = Vec::new();
    for (file_index, (file, sha)) in changed.iter().enumerate() {
        progress.set_message(file.name.clone());
        let file_idx = rebuild.intern(&file.name);
        let mut duplicates: Vec<Reject> = Vec::new();
        let mut rejects: Vec<Reject> = Vec::new();
        let mut partitions = BTreeSet::new();
        let mut ctx = ingest::IngestContext::new(pseudonymizer, related, file_index);
        let stats = ingest::read_file(
            &file.path,
            &file.name,
            &file.input.format,
            &mut ctx,
            |event: Event| -> Result<(), AppError> {
                match rebuild.add(&event, file_idx, &file.name)? {
                    Some(dup) => duplicates.push(dup),
                    None => {
                        partitions.insert(Manifest::partition_key(
                            &event.hospital_code,
                            &month_of(event.event_date),
                        ));
                    }
                }
                Ok(())
            },
            |reject| rejects.push(reject),
        );
        let mut stats = match stats {
            Ok(stats) => stats,
            Err(ingest::ReadError::Stopped(app)) => return Err(app),
            Err(ingest::ReadError::Ingest(source)) => {
                return Err(AppError::Ingest { file: file.name.clone(), source: Box::new(source) });
            }
        };
        stats.rows_valid -= duplicates.len() as u64;
        stats.rows_rejected += duplicates.len() as u64;
        rejects.extend(duplicates);
        rejects.sort_by_key(|r| r.line);
        if stats.rows_read > 0 {
            let ratio = stats.rows_rejected as f64 / stats.rows_read as f64;
            if ratio > max_reject_ratio {
                return Err(AppError::Input(format!(
                    "{}: {} of {} rows rejected ({:.1} %), more than max_reject_ratio {:.1} %; nothing was published. \
                     First rejects: {}. Fix the file or raise max_reject_ratio in the config",
                    file.name,
                    stats.rows_rejected,
                    stats.rows_read,
                    ratio * 100.0,
                    max_reject_ratio * 100.0,
                    rejects
                        .iter()
                        .take(3)
                        .map(|r| format!("line {} {} ({})", r.line, r.reason.code(), r.detail))
                        .collect::<Vec<_>>()
                        .join("; ")
                )));
            }
        }
        if partitions.is_empty()
            && !allow_empty
            && let Some(old) = current.sources.get(&file.name).filter(|old| !old.partitions.is_empty())
        {
            return Err(AppError::Input(format!(
                "{}: this changed file holds no valid row ({} read), but it fed {} hospital-month(s) ({}); \
                 nothing was published. An empty export is usually a failed one: check it. If those months \
                 really have no events, run again with --allow-empty to clear them",
                file.name,
                stats.rows_read,
                old.partitions.len(),
                old.partitions.join(", ")
            )));
        }
        results.push(FileResult { name: file.name.clone(), sha256: sha.clone(), stats, rejects, partitions });
        progress.inc(1);
    }
    // Partitions a changed file used to feed but feeds no longer are rebuilt without it.
    for (file, _) in changed {
        if let Some(old) = current.sources.get(&file.name) {
            for key in &old.partitions {
                rebuild.open_partition(key)?;
            }
        }
    }
    let Rebuild { sink, partition_sources, .. } = rebuild;
    let partitions = sink.finish().map_err(|e| AppError::Input(format!("finishing partition files: {e}")))?;
    Ok(Ingested { files: results, partitions, partition_sources })
}
