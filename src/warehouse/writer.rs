//! Streaming Parquet writing: one file per month holding every hospital's rows of it, memory
//! bounded by a budget.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::compute::filter_record_batch;

use super::schema::{self, EVENTS, EventBatchBuilder};
use crate::ingest::{Event, Fate, MonthRow, Overlap, OverlapOutcome, OverlapPolicy, judge_month};
use chrono::{Datelike, NaiveDate};

/// Rows buffered per partition before they are encoded.
const BATCH_ROWS: usize = 1024;
/// Bytes of encoded-but-unwritten row groups across all partitions before the largest is
/// flushed to its file.
const IN_PROGRESS_BUDGET: usize = 48 * 1024 * 1024;

fn writer_properties() -> WriterProperties {
    use datafusion::parquet::schema::types::ColumnPath;
    // Columns with a value per row (keyed hashes, lines, offsets): a dictionary never pays.
    let unique = ["patient_key", "source_line", "source_offset"];
    unique
        .into_iter()
        .fold(WriterProperties::builder(), |b, c| b.set_column_dictionary_enabled(ColumnPath::from(c), false))
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("valid level")))
        .set_max_row_group_row_count(Some(256 * 1024))
        .set_created_by(format!("refrate {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A finished local file ready to be uploaded.
#[derive(Debug)]
pub(crate) struct WrittenFile {
    pub file: File,
    pub sha256: String,
    pub bytes: u64,
}

impl WrittenFile {
    /// The file's bytes.
    pub(crate) fn read_all(&mut self) -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(self.bytes as usize);
        self.file.seek(SeekFrom::Start(0))?;
        self.file.read_to_end(&mut buf)?;
        Ok(buf)
    }
}

fn finish_file(mut file: File) -> std::io::Result<WrittenFile> {
    let bytes = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(WrittenFile { file, sha256: hex::encode(hasher.finalize()), bytes })
}

struct Open {
    buffer: EventBatchBuilder,
    writer: ArrowWriter<File>,
    in_progress: usize,
}

/// Writes events into one temporary Parquet file per month as they stream in: every
/// hospital's rows of that month in one file, a size Parquet is good at (a file per
/// hospital-month held a thousand rows and cost more to open than to read).
///
/// Memory is bounded by the number of open months times a small batch, plus a fixed budget
/// for encoded row groups: when the budget is exceeded the largest row group is flushed.
#[derive(Default)]
pub(crate) struct PartitionSink {
    open: BTreeMap<String, Open>,
    in_progress_total: usize,
}

impl PartitionSink {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn contains(&self, month: &str) -> bool {
        self.open.contains_key(month)
    }

    /// Opens the month's file (idempotent).
    pub(crate) fn open(&mut self, month: &str) -> Result<(), ParquetError> {
        if !self.open.contains_key(month) {
            let file = tempfile::tempfile().map_err(|e| ParquetError::External(Box::new(e)))?;
            let writer = ArrowWriter::try_new(file, EVENTS.clone(), Some(writer_properties()))?;
            self.open
                .insert(month.to_string(), Open { buffer: EventBatchBuilder::new(), writer, in_progress: 0 });
        }
        Ok(())
    }

    /// Adds one event to the file of `month` (opened on first use).
    pub(crate) fn push(&mut self, month: &str, event: &Event, source_file: &str) -> Result<(), ParquetError> {
        if !self.open.contains_key(month) {
            self.open(month)?;
        }
        let part = self.open.get_mut(month).expect("opened above");
        part.buffer.push(event, month, source_file);
        if part.buffer.len() >= BATCH_ROWS {
            let batch = part.buffer.finish();
            part.writer.write(&batch)?;
            let now = part.writer.in_progress_size();
            self.in_progress_total = self.in_progress_total - part.in_progress + now;
            part.in_progress = now;
            if self.in_progress_total > IN_PROGRESS_BUDGET {
                self.flush_largest()?;
            }
        }
        Ok(())
    }

    fn flush_largest(&mut self) -> Result<(), ParquetError> {
        while self.in_progress_total > IN_PROGRESS_BUDGET / 2 {
            let Some((_, part)) = self.open.iter_mut().max_by_key(|(_, p)| p.in_progress) else {
                break;
            };
            if part.in_progress == 0 {
                break;
            }
            part.writer.flush()?;
            self.in_progress_total -= part.in_progress.min(self.in_progress_total);
            part.in_progress = 0;
        }
        Ok(())
    }

    /// Closes every month and applies the delivery rules to each of its hospital-months
    /// ([`judge_month`]): rows already present from another file and repeats within one file
    /// are dropped (the first occurrence stays), and a newer file that differs from the stored
    /// rows is refused or replaces the hospital-month, per `policy`. `is_new` tells the files
    /// of this run from those whose rows were carried over from the warehouse.
    ///
    /// The rules run per month after writing, by reading the month back: two rows can only be
    /// the same record within one hospital-month, so memory is bounded by the largest month
    /// (a fingerprint per row) rather than by the whole input.
    ///
    /// Months are judged on every core, and their findings merged in month order.
    pub(crate) fn finish(
        self,
        is_new: impl Fn(&str) -> bool + Sync,
        policy: OverlapPolicy,
    ) -> Result<Finished, ParquetError> {
        let mut files = Vec::new();
        for (month, mut part) in self.open {
            if !part.buffer.is_empty() {
                let batch = part.buffer.finish();
                part.writer.write(&batch)?;
            }
            files.push((month, part.writer.into_inner()?));
        }
        let judged = in_parallel(files, |(month, file)| {
            let mut found = Finished::default();
            let judged = judge_month_file(file, &month, &is_new, policy, &mut found)?;
            Ok::<_, ParquetError>((month, judged, found))
        });
        let mut done = Finished::default();
        for result in judged {
            let (month, judged, found) = result?;
            done.months.insert(month, judged);
            done.duplicates.extend(found.duplicates);
            done.overlaps.extend(found.overlaps);
            done.complements.extend(found.complements);
        }
        Ok(done)
    }
}

/// `f` of every item on every core (scoped threads taking the next item in turn); the results
/// in the items' order.
fn in_parallel<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, items.len().max(1));
    let queue = std::sync::Mutex::new(items.into_iter().enumerate());
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let next = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).next();
                        let Some((i, item)) = next else { break };
                        mine.push((i, f(item)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// What [`PartitionSink::finish`] produced.
#[derive(Debug, Default)]
pub(crate) struct Finished {
    /// By month.
    pub months: BTreeMap<String, FinishedMonth>,
    /// Rows not stored: repeats within a file, rows already present from another file.
    pub duplicates: Vec<Duplicate>,
    /// New files that differ from what a hospital-month held (refused or replacing).
    pub overlaps: Vec<PartitionOverlap>,
    /// New files that shared no row with a hospital-month's rows and were added to them.
    pub complements: Vec<PartitionOverlap>,
}

/// One finished month file and the hospital-months it holds.
#[derive(Debug)]
pub(crate) struct FinishedMonth {
    pub file: WrittenFile,
    /// By partition key (`hospital/month`); a hospital-month all of whose rows were dropped
    /// is absent.
    pub partitions: BTreeMap<String, FinishedPartition>,
}

/// One hospital-month of a finished month file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FinishedPartition {
    pub rows: u64,
    /// Sources with rows in it.
    pub sources: BTreeSet<String>,
    /// Rows of new files in it: none means it holds what it held before.
    pub new_rows: u64,
}

/// A row dropped because an identical row came first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Duplicate {
    pub partition: String,
    pub source_file: String,
    pub line: u64,
    pub byte_offset: u64,
    pub first_source_file: String,
    pub first_line: u64,
}

impl Duplicate {
    /// A repeat within one file (a reject), not a row already present from another file.
    pub(crate) fn within_one_file(&self) -> bool {
        self.source_file == self.first_source_file
    }
}

/// An [`Overlap`] with file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartitionOverlap {
    pub partition: String,
    pub file: String,
    pub others: Vec<String>,
    pub shared: u64,
    pub lacking: u64,
    pub added: u64,
    /// `None` for a complement.
    pub outcome: Option<OverlapOutcome>,
}

fn reader(file: &File) -> Result<impl Iterator<Item = Result<RecordBatch, ParquetError>>, ParquetError> {
    let file = file.try_clone().map_err(|e| ParquetError::External(Box::new(e)))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.with_batch_size(8192).build()?;
    Ok(reader.map(|b| b.map_err(|e| ParquetError::External(Box::new(e)))))
}

/// Interns names (sources, hospitals) as small indices.
#[derive(Default)]
struct Names {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Names {
    fn of(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len();
        self.index.insert(name.to_string(), i);
        self.names.push(name.to_string());
        i
    }
}

/// Reads a month file back, judges the rows of each of its hospital-months and, if any is
/// dropped, rewrites it without.
fn judge_month_file(
    file: File,
    month: &str,
    is_new: &impl Fn(&str) -> bool,
    policy: OverlapPolicy,
    done: &mut Finished,
) -> Result<FinishedMonth, ParquetError> {
    let (mut sources, mut hospitals) = (Names::default(), Names::default());
    let mut rows: Vec<MonthRow> = Vec::new();
    let mut offsets: Vec<u64> = Vec::new();
    // Row indices by hospital, in file order.
    let mut by_hospital: Vec<Vec<usize>> = Vec::new();
    let mut buf = Vec::with_capacity(128);
    for batch in reader(&file)? {
        let batch = batch?;
        let columns = schema::EventColumns::of(&batch).map_err(ParquetError::General)?;
        for i in 0..columns.len() {
            let fields = columns.fields(i).map_err(ParquetError::General)?;
            let h = hospitals.of(fields.hospital_code);
            if h == by_hospital.len() {
                by_hospital.push(Vec::new());
            }
            by_hospital[h].push(rows.len());
            let day = NaiveDate::from_num_days_from_ce_opt(fields.days_from_ce).map_or(0, |d| d.day() as u8);
            rows.push(MonthRow {
                // The same definition of "the same record" as ingest's duplicate check.
                fingerprint: crate::ingest::fingerprint_into(&mut buf, &fields),
                source: sources.of(columns.source(i)),
                day,
                line: columns.line(i),
            });
            offsets.push(columns.offset(i));
        }
    }
    let names = &sources.names;
    let new: Vec<bool> = names.iter().map(|n| is_new(n)).collect();
    let mut fates = vec![Fate::Keep; rows.len()];
    let mut partitions = BTreeMap::new();
    for (h, indices) in by_hospital.iter().enumerate() {
        let key = crate::warehouse::Manifest::partition_key(&hospitals.names[h], month);
        let group: Vec<MonthRow> = indices.iter().map(|&i| rows[i]).collect();
        let judged = judge_month(&group, |s| !new[s], policy);
        let named = |o: &Overlap, outcome| PartitionOverlap {
            partition: key.clone(),
            file: names[o.source].clone(),
            others: o.others.iter().map(|&s| names[s].clone()).collect(),
            shared: o.shared,
            lacking: o.lacking,
            added: o.added,
            outcome,
        };
        done.overlaps.extend(judged.overlaps.iter().map(|o| named(o, Some(o.outcome))));
        for (s, others) in &judged.complements {
            done.complements.push(PartitionOverlap {
                partition: key.clone(),
                file: names[*s].clone(),
                others: others.iter().map(|&o| names[o].clone()).collect(),
                shared: 0,
                lacking: 0,
                added: 0,
                outcome: None,
            });
        }
        let mut kept = FinishedPartition { rows: 0, sources: BTreeSet::new(), new_rows: 0 };
        for (&i, fate) in indices.iter().zip(&judged.fates) {
            fates[i] = *fate;
            let row = rows[i];
            let first = match *fate {
                Fate::Keep => {
                    kept.rows += 1;
                    kept.sources.insert(names[row.source].clone());
                    kept.new_rows += u64::from(new[row.source]);
                    continue;
                }
                Fate::Replaced { .. } => continue,
                Fate::DuplicateInFile { first_line } => (row.source, first_line),
                Fate::AlreadyPresent { source, line } => (source, line),
            };
            done.duplicates.push(Duplicate {
                partition: key.clone(),
                source_file: names[row.source].clone(),
                line: row.line,
                byte_offset: offsets[i],
                first_source_file: names[first.0].clone(),
                first_line: first.1,
            });
        }
        if kept.rows > 0 {
            partitions.insert(key, kept);
        }
    }
    let kept: u64 = partitions.values().map(|p| p.rows).sum();
    let finished = |file: File| -> Result<FinishedMonth, ParquetError> {
        let file = finish_file(file).map_err(|e| ParquetError::External(Box::new(e)))?;
        Ok(FinishedMonth { file, partitions })
    };
    if kept == rows.len() as u64 {
        return finished(file);
    }
    let out = tempfile::tempfile().map_err(|e| ParquetError::External(Box::new(e)))?;
    let mut writer = ArrowWriter::try_new(out, EVENTS.clone(), Some(writer_properties()))?;
    let mut row_number = 0usize;
    for batch in reader(&file)? {
        let batch = batch?;
        let keep: BooleanArray =
            (0..batch.num_rows()).map(|i| Some(fates[row_number + i] == Fate::Keep)).collect();
        row_number += batch.num_rows();
        let kept = filter_record_batch(&batch, &keep).map_err(|e| ParquetError::External(Box::new(e)))?;
        writer.write(&kept)?;
    }
    finished(writer.into_inner()?)
}

/// Writes whole batches into one Parquet file in memory.
pub(crate) fn write_batches(schema: SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, ParquetError> {
    let mut buf = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buf, schema, Some(writer_properties()))?;
    for b in batches {
        writer.write(b)?;
    }
    writer.close()?;
    Ok(buf)
}

/// Reads a whole Parquet file from memory.
pub fn read_parquet_bytes(bytes: bytes::Bytes) -> Result<Vec<RecordBatch>, ParquetError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.with_batch_size(8192).build()?;
    reader.collect::<Result<Vec<_>, _>>().map_err(|e| ParquetError::External(Box::new(e)))
}
