//! Checking that the files a manifest names are the files that were published.
//!
//! Every read checks existence and size against one listing per folder (`events/`, `rejects/`,
//! `reported/`, `breakdowns/`) before any file is used. Files read whole (carried-over
//! partitions, rejects, reported counts, a month's sums) are also checked against their SHA-256 and their table's schema, which
//! costs nothing beyond the read. [`Warehouse::verify`] checks everything, every file: size,
//! SHA-256, that it decodes as Parquet of its table with the recorded row count. This module
//! decides what damage is; it never repairs anything.

use std::collections::HashMap;
use std::fmt;

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path as StorePath;
use sha2::{Digest, Sha256};

use super::manifest::{FileKind, Manifest, NamedFile};
use super::{Warehouse, WarehouseError, schema};

/// The smallest Parquet file: `PAR1`, a footer length and `PAR1` again.
const MIN_PARQUET_BYTES: u64 = 12;

/// What is wrong with one file.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    Missing,
    Size {
        recorded: u64,
        found: u64,
    },
    /// Too small to be Parquet (a format 1 manifest records no size to compare with).
    Empty {
        found: u64,
    },
    Checksum {
        recorded: String,
        found: String,
    },
    NotParquet(String),
    Rows {
        recorded: u64,
        found: u64,
    },
    /// A month's stored sums holding rows of another month.
    OtherMonth {
        month: String,
        found: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => write!(f, "missing"),
            Problem::Size { recorded, found } => {
                write!(f, "{found} bytes, but {recorded} bytes were published (truncated or rewritten)")
            }
            Problem::Empty { found } => write!(f, "{found} bytes: too small to be a Parquet file"),
            Problem::Checksum { recorded, found } => write!(
                f,
                "SHA-256 {} differs from the published {} (rewritten or corrupted)",
                short(found),
                short(recorded)
            ),
            Problem::NotParquet(why) => write!(f, "does not decode as the expected Parquet table: {why}"),
            Problem::Rows { recorded, found } => {
                write!(f, "{found} rows, but {recorded} rows were published")
            }
            Problem::OtherMonth { month, found } => {
                write!(f, "holds sums of month {found}, but the manifest names it for month {month}")
            }
        }
    }
}

fn short(sha: &str) -> &str {
    sha.get(..16).unwrap_or(sha)
}

/// One damaged file: which, what it feeds, what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Damage {
    pub file: String,
    pub feeds: String,
    pub problem: Problem,
}

impl Damage {
    fn of(file: &NamedFile, problem: Problem) -> Damage {
        Damage { file: file.path.clone(), feeds: file.feeds.clone(), problem }
    }
}

/// The damage found in one manifest version, as an error's message.
#[derive(Debug, Clone, PartialEq)]
pub struct DamageReport {
    pub version: u64,
    pub damage: Vec<Damage>,
}

impl fmt::Display for DamageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} damaged file(s) named by manifest version {}; nothing was computed from them:",
            self.damage.len(),
            self.version
        )?;
        for d in &self.damage {
            write!(f, "\n  {} ({}): {}", d.file, d.feeds, d.problem)?;
        }
        write!(
            f,
            "\nTo recover: restore these files (or the whole warehouse) from a backup, then run `refrate verify`; \
             or, if every input file is still at hand, move the warehouse folder away and `refrate run` again to \
             rebuild it from the inputs (with the same pseudonymisation key)"
        )
    }
}

/// What [`Warehouse::verify`] checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct VerifyReport {
    pub version: u64,
    pub files: usize,
    pub bytes: u64,
    /// Files whose manifest (format 1) records no SHA-256 or size: checked for decoding only.
    pub without_digest: usize,
    pub damage: Vec<Damage>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn expected_schema(kind: FileKind) -> SchemaRef {
    match kind {
        FileKind::Events => schema::EVENTS.clone(),
        FileKind::Rejects => schema::REJECTS.clone(),
        FileKind::Reported => schema::REPORTED.clone(),
        FileKind::Breakdowns => schema::BREAKDOWNS.clone(),
    }
}

/// How much of each file [`Warehouse::verify`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// Size, SHA-256 and the Parquet footer's schema: what a reader checks before using files.
    Digest,
    /// Also decode every row and compare the row count: `refrate verify`.
    Decode,
}

/// Parses the footer of a file and checks its schema is its table's.
fn table_reader(bytes: Bytes, kind: FileKind) -> Result<ParquetRecordBatchReaderBuilder<Bytes>, String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| e.to_string())?;
    let found = builder.schema().clone();
    for field in expected_schema(kind).fields() {
        match found.field_with_name(field.name()) {
            Ok(f) if f.data_type() == field.data_type() => {}
            Ok(f) => {
                return Err(format!(
                    "column {} is {}, not {} (not a file of the {} table)",
                    field.name(),
                    f.data_type(),
                    field.data_type(),
                    kind.folder()
                ));
            }
            Err(_) if kind == FileKind::Reported && schema::reported_column_may_lack(field.name()) => {}
            Err(_) => {
                return Err(format!(
                    "no column {} (not a file of the {} table)",
                    field.name(),
                    kind.folder()
                ));
            }
        }
    }
    Ok(builder)
}

/// Decodes a whole file as its table: every expected column present with its type.
fn decode(bytes: Bytes, kind: FileKind) -> Result<Vec<RecordBatch>, String> {
    let reader = table_reader(bytes, kind)?.with_batch_size(8192).build().map_err(|e| e.to_string())?;
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    if kind == FileKind::Reported {
        return batches.iter().map(schema::reported_in_current_schema).collect();
    }
    Ok(batches)
}

impl Warehouse {
    fn damaged(&self, version: u64, damage: Vec<Damage>) -> WarehouseError {
        WarehouseError::Damaged { location: self.location.clone(), report: DamageReport { version, damage } }
    }

    /// Sizes of every object under the folders `files` live in: one listing per folder.
    async fn sizes(&self, files: &[NamedFile]) -> Result<HashMap<StorePath, u64>, WarehouseError> {
        let mut sizes = HashMap::new();
        for kind in FileKind::ALL {
            if !files.iter().any(|f| f.kind == kind) {
                continue;
            }
            let listed: Vec<_> = self
                .store
                .list(Some(&self.path(kind.folder())))
                .try_collect()
                .await
                .map_err(self.store_err())?;
            sizes.extend(listed.into_iter().map(|o| (o.location, o.size)));
        }
        Ok(sizes)
    }

    fn listing_problem(file: &NamedFile, size: Option<u64>) -> Option<Problem> {
        match (size, file.bytes) {
            (None, _) => Some(Problem::Missing),
            (Some(found), Some(recorded)) if found != recorded => Some(Problem::Size { recorded, found }),
            (Some(found), _) if found < MIN_PARQUET_BYTES => Some(Problem::Empty { found }),
            _ => None,
        }
    }

    /// Checks that every file `manifest` names exists with its published size (one listing per
    /// folder, no read of the files). Every command that reads the warehouse calls this first.
    pub(crate) async fn check_present(&self, manifest: &Manifest) -> Result<(), WarehouseError> {
        let files = manifest.named_files();
        if files.is_empty() {
            return Ok(());
        }
        let sizes = self.sizes(&files).await?;
        let damage: Vec<Damage> = files
            .iter()
            .filter_map(|f| {
                Self::listing_problem(f, sizes.get(&self.path(&f.path)).copied()).map(|p| Damage::of(f, p))
            })
            .collect();
        if damage.is_empty() { Ok(()) } else { Err(self.damaged(manifest.version, damage)) }
    }

    /// Reads a whole named file and checks it against the manifest: present, its size and
    /// SHA-256 where recorded.
    pub(crate) async fn get_verified(&self, version: u64, file: &NamedFile) -> Result<Bytes, WarehouseError> {
        let bytes = match self.get(&file.path).await {
            Ok(bytes) => bytes,
            Err(WarehouseError::Store { source: object_store::Error::NotFound { .. }, .. }) => {
                return Err(self.damaged(version, vec![Damage::of(file, Problem::Missing)]));
            }
            Err(e) => return Err(e),
        };
        if let Some(problem) = Self::content_problem(file, &bytes) {
            return Err(self.damaged(version, vec![Damage::of(file, problem)]));
        }
        Ok(bytes)
    }

    fn content_problem(file: &NamedFile, bytes: &[u8]) -> Option<Problem> {
        if let Some(p) = Self::listing_problem(file, Some(bytes.len() as u64)) {
            return Some(p);
        }
        let recorded = file.sha256.as_deref()?;
        let found = sha256_hex(bytes);
        (found != recorded).then(|| Problem::Checksum { recorded: recorded.to_string(), found })
    }

    /// Reads, checks and decodes a whole named file as its table. A file that does not decode
    /// is damage naming the file, never a panic further on.
    pub(crate) async fn read_verified(
        &self,
        version: u64,
        file: &NamedFile,
    ) -> Result<Vec<RecordBatch>, WarehouseError> {
        let bytes = self.get_verified(version, file).await?;
        decode(bytes, file.kind)
            .map_err(|why| self.damaged(version, vec![Damage::of(file, Problem::NotParquet(why))]))
    }

    /// Reads the stored sums of `month` ([`Self::read_verified`]) and checks every row is of
    /// that month: a file named for another month is damage, never another month's numbers.
    pub(crate) async fn read_month_breakdowns(
        &self,
        version: u64,
        month: &str,
        file: &NamedFile,
    ) -> Result<Vec<RecordBatch>, WarehouseError> {
        use datafusion::arrow::array::AsArray;
        let mut batches = Vec::new();
        for b in self.read_verified(version, file).await? {
            let damage = |problem| self.damaged(version, vec![Damage::of(file, problem)]);
            // In the table's schema exactly (the file's may differ in nullability or metadata).
            let columns = schema::BREAKDOWNS.fields().iter().map(|f| b.column_by_name(f.name()).cloned());
            let b = columns
                .collect::<Option<Vec<_>>>()
                .and_then(|columns| RecordBatch::try_new(schema::BREAKDOWNS.clone(), columns).ok())
                .ok_or_else(|| damage(Problem::NotParquet("not a file of the breakdowns table".into())))?;
            let months = b.column_by_name("month").and_then(|c| c.as_string_opt::<i32>());
            let found = months.and_then(|m| m.iter().flatten().find(|m| *m != month).map(str::to_string));
            if let Some(found) = found {
                return Err(damage(Problem::OtherMonth { month: month.to_string(), found }));
            }
            batches.push(b);
        }
        Ok(batches)
    }

    /// A reader of this version's stored files for code on a blocking thread, so that it need
    /// not drive the runtime itself: each read goes to a task on the runtime, which does the
    /// (async) reading, and the answer comes back. The task ends when the reader is dropped.
    pub(crate) fn blocking_reader(&self, version: u64) -> BlockingReader {
        let (requests, mut incoming) = tokio::sync::mpsc::channel::<ReadRequest>(1);
        let warehouse = self.clone();
        tokio::spawn(async move {
            while let Some((file, answer)) = incoming.recv().await {
                // The asker may have gone (stopped on an error): nothing to tell.
                let _ = answer.send(warehouse.read_verified(version, &file).await);
            }
        });
        BlockingReader { requests, location: self.location.clone() }
    }

    /// Every file `manifest` names, read whole: present, size, SHA-256, its table's schema and,
    /// at [`Depth::Decode`] (`refrate verify`), every row decoded and counted. Reads a few files
    /// at a time.
    pub(crate) async fn verify(
        &self,
        manifest: &Manifest,
        depth: Depth,
    ) -> Result<VerifyReport, WarehouseError> {
        let files = manifest.named_files();
        let sizes = self.sizes(&files).await?;
        let mut report = VerifyReport { version: manifest.version, files: files.len(), ..Default::default() };
        let mut to_read = Vec::new();
        for f in files {
            if f.sha256.is_none() || f.bytes.is_none() {
                report.without_digest += 1;
            }
            match Self::listing_problem(&f, sizes.get(&self.path(&f.path)).copied()) {
                Some(p) => report.damage.push(Damage::of(&f, p)),
                None => to_read.push(f),
            }
        }
        let checked: Vec<Result<(u64, Option<Damage>), WarehouseError>> = futures::stream::iter(to_read)
            .map(|f| async move {
                let bytes = match self.get(&f.path).await {
                    Ok(b) => b,
                    Err(WarehouseError::Store { source: object_store::Error::NotFound { .. }, .. }) => {
                        return Ok((0, Some(Damage::of(&f, Problem::Missing))));
                    }
                    Err(e) => return Err(e),
                };
                let size = bytes.len() as u64;
                if let Some(p) = Self::content_problem(&f, &bytes) {
                    return Ok((size, Some(Damage::of(&f, p))));
                }
                let kind = f.kind;
                let decoded = tokio::task::spawn_blocking(move || match depth {
                    Depth::Digest => table_reader(bytes, kind).map(|_| None),
                    Depth::Decode => decode(bytes, kind)
                        .map(|batches| Some(batches.iter().map(|b| b.num_rows() as u64).sum::<u64>())),
                })
                .await
                .unwrap_or_else(|e| Err(format!("decoding stopped: {e}")));
                let problem = match decoded {
                    Err(why) => Some(Problem::NotParquet(why)),
                    Ok(None) => None,
                    Ok(Some(found)) => {
                        f.rows.filter(|r| *r != found).map(|recorded| Problem::Rows { recorded, found })
                    }
                };
                Ok((size, problem.map(|p| Damage::of(&f, p))))
            })
            .buffer_unordered(4)
            .collect()
            .await;
        for c in checked {
            let (size, damage) = c?;
            report.bytes += size;
            report.damage.extend(damage);
        }
        report.damage.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(report)
    }

    /// Every file `manifest` names read whole and checked at [`Depth::Digest`]: the check `run`
    /// makes before it reads the warehouse (it costs a few percent of a run, docs/DESIGN.md).
    pub(crate) async fn check_digests(&self, manifest: &Manifest) -> Result<(), WarehouseError> {
        let report = self.verify(manifest, Depth::Digest).await?;
        self.damage_error(&report).map_or(Ok(()), Err)
    }

    /// The report as an error when it found damage.
    pub(crate) fn damage_error(&self, report: &VerifyReport) -> Option<WarehouseError> {
        (!report.damage.is_empty()).then(|| self.damaged(report.version, report.damage.clone()))
    }
}

type ReadRequest = (NamedFile, tokio::sync::oneshot::Sender<Result<Vec<RecordBatch>, WarehouseError>>);

/// See [`Warehouse::blocking_reader`].
pub(crate) struct BlockingReader {
    requests: tokio::sync::mpsc::Sender<ReadRequest>,
    location: String,
}

impl BlockingReader {
    /// [`Warehouse::read_verified`] from a blocking thread (never from one of the runtime's).
    pub(crate) fn read_verified(&self, file: &NamedFile) -> Result<Vec<RecordBatch>, WarehouseError> {
        let gone = || WarehouseError::Invalid {
            location: self.location.clone(),
            message: format!("reading {}: the reading task stopped", file.path),
        };
        let (answer, reply) = tokio::sync::oneshot::channel();
        self.requests.blocking_send((file.clone(), answer)).map_err(|_| gone())?;
        reply.blocking_recv().map_err(|_| gone())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(bytes: Option<u64>, sha: Option<&str>) -> NamedFile {
        NamedFile {
            path: "events/hospital=1/month=2025-04/part-x.parquet".into(),
            kind: FileKind::Events,
            sha256: sha.map(str::to_string),
            bytes,
            rows: Some(1),
            feeds: "partition 1/2025-04".into(),
        }
    }

    #[test]
    fn listing_finds_missing_resized_and_empty_files() {
        assert_eq!(Warehouse::listing_problem(&file(Some(100), None), None), Some(Problem::Missing));
        assert_eq!(
            Warehouse::listing_problem(&file(Some(100), None), Some(0)),
            Some(Problem::Size { recorded: 100, found: 0 })
        );
        // A format 1 manifest records no size: an empty file is still damage.
        assert_eq!(Warehouse::listing_problem(&file(None, None), Some(0)), Some(Problem::Empty { found: 0 }));
        assert_eq!(Warehouse::listing_problem(&file(Some(100), None), Some(100)), None);
    }

    #[test]
    fn content_is_checked_against_the_recorded_sha256() {
        let bytes = b"PAR1 not really parquet PAR1";
        let good = sha256_hex(bytes);
        let n = bytes.len() as u64;
        assert_eq!(Warehouse::content_problem(&file(Some(n), Some(&good)), bytes), None);
        let other = sha256_hex(b"other");
        assert!(matches!(
            Warehouse::content_problem(&file(Some(n), Some(&other)), bytes),
            Some(Problem::Checksum { .. })
        ));
    }

    #[test]
    fn foreign_and_truncated_files_do_not_decode() {
        let rejects =
            crate::warehouse::write_batches(schema::REJECTS.clone(), &[schema::rejects_batch(&[])]).unwrap();
        let err = decode(Bytes::from(rejects.clone()), FileKind::Events).unwrap_err();
        assert!(err.contains("not a file of the events table"), "{err}");
        assert!(decode(Bytes::from(rejects[..rejects.len() / 2].to_vec()), FileKind::Rejects).is_err());
        assert!(decode(Bytes::from(rejects), FileKind::Rejects).is_ok());
    }
}

#[cfg(test)]
mod reported_schema_tests {
    use super::*;
    use crate::ingest::{ReportedPeriod, ReportedRow};

    /// A `reported_counts` file as warehouses wrote it before the upper bounds existed: the
    /// current schema without the `…_high` columns.
    fn file_without_bounds(batch: &RecordBatch) -> Bytes {
        let keep: Vec<usize> = (0..batch.num_columns())
            .filter(|i| !schema::reported_column_may_lack(batch.schema().field(*i).name()))
            .collect();
        let old = batch.project(&keep).unwrap();
        Bytes::from(super::super::writer::write_batches(old.schema(), &[old]).unwrap())
    }

    #[test]
    fn a_reported_file_written_before_the_bounds_reads_as_exact_counts() {
        let row = ReportedRow {
            hospital_code: "0110113719".into(),
            period: ReportedPeriod::FiscalYear(2024),
            counts: [("initial_patients".to_string(), 9811), ("referred_patients".to_string(), 9470)].into(),
            masked: [("referred_patients".to_string(), 9480)].into(),
            line: 2,
        };
        let batch = schema::reported_batch(&[row], "counts.csv");
        let read = decode(file_without_bounds(&batch), FileKind::Reported).unwrap();
        let read = &read[0];
        assert_eq!(read.schema(), schema::REPORTED.clone());
        let value = |name: &str| {
            let a = read.column_by_name(name).unwrap();
            let a = a.as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().unwrap();
            (!datafusion::arrow::array::Array::is_null(a, 0)).then(|| a.value(0))
        };
        // The old file knew nothing of the mask: its counts are exact, each its own bound.
        assert_eq!((value("initial_patients"), value("initial_patients_high")), (Some(9811), Some(9811)));
        assert_eq!((value("referred_patients"), value("referred_patients_high")), (Some(9470), Some(9470)));
        assert_eq!((value("return_visits"), value("return_visits_high")), (None, None));
        // A current file keeps its bounds.
        let bytes =
            super::super::writer::write_batches(batch.schema(), std::slice::from_ref(&batch)).unwrap();
        let current = decode(Bytes::from(bytes), FileKind::Reported).unwrap();
        let a = current[0].column_by_name("referred_patients_high").unwrap();
        assert_eq!(a.as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().unwrap().value(0), 9480);
    }
}
