//! Streaming Parquet writing: one file per month holding every hospital's rows of it, memory
//! bounded by a budget.

use std::collections::BTreeMap;
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

use super::schema::{EVENTS, EventBatchBuilder};
use crate::ingest::{Event, KeptPartition};

/// Rows buffered per partition before they are encoded.
const BATCH_ROWS: usize = 1024;
/// Bytes the unwritten row groups of all open months may hold in memory before the largest is
/// flushed to its file. Counted as the writers' memory (their encoders' buffers, dictionaries
/// and pages), not as the size the rows will have once encoded: a dictionary column buffers
/// each row's index in 8 bytes and encodes it in one or two, so at 700 hospitals x 36 months
/// the encoded estimate stayed under the budget while the months held 250 MB.
const IN_PROGRESS_BUDGET: usize = 48 * 1024 * 1024;

fn writer_properties() -> WriterProperties {
    use datafusion::parquet::file::properties::EnabledStatistics;
    use datafusion::parquet::schema::types::ColumnPath;
    // Columns with a value per row (keyed hashes, lines, offsets): a dictionary never pays, and
    // no query filters on them, so their minimum and maximum would be computed for nothing.
    let unique = ["patient_key", "source_line", "source_offset"];
    // The events are filtered on their hospital, month and date only (`explain.sql`, and
    // DataFusion's pruning): no other column gets statistics, which compare every value.
    let unfiltered = [
        "event_type",
        "department",
        "partner_code",
        "source_file",
        "referral_letter",
        "partner_related",
        "ambulance",
        "after_hours_emergency",
        "checkup_origin",
    ];
    let builder = unique.into_iter().fold(WriterProperties::builder(), |b, c| {
        b.set_column_dictionary_enabled(ColumnPath::from(c), false)
            .set_column_statistics_enabled(ColumnPath::from(c), EnabledStatistics::None)
    });
    unfiltered
        .into_iter()
        .fold(builder, |b, c| b.set_column_statistics_enabled(ColumnPath::from(c), EnabledStatistics::None))
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
    /// The writer's memory at its last write (`ArrowWriter::memory_size`).
    in_progress: usize,
    /// Rows added.
    rows: usize,
}

/// Writes events into one temporary Parquet file per month as they stream in: every
/// hospital's rows of that month in one file, a size Parquet is good at (a file per
/// hospital-month held a thousand rows and cost more to open than to read).
///
/// Memory is bounded by the number of open months times a small batch, plus a fixed budget
/// for the unwritten row groups: when the budget is exceeded the largest row group is flushed.
pub(crate) struct PartitionSink {
    open: BTreeMap<String, Open>,
    in_progress_total: usize,
    /// [`IN_PROGRESS_BUDGET`] (smaller in tests).
    budget: usize,
}

impl PartitionSink {
    pub(crate) fn new() -> Self {
        Self::with_budget(IN_PROGRESS_BUDGET)
    }

    fn with_budget(budget: usize) -> Self {
        PartitionSink { open: BTreeMap::new(), in_progress_total: 0, budget }
    }

    pub(crate) fn contains(&self, month: &str) -> bool {
        self.open.contains_key(month)
    }

    /// Opens the month's file (idempotent).
    pub(crate) fn open(&mut self, month: &str) -> Result<(), ParquetError> {
        if !self.open.contains_key(month) {
            let file = tempfile::tempfile().map_err(|e| ParquetError::External(Box::new(e)))?;
            let writer = ArrowWriter::try_new(file, EVENTS.clone(), Some(writer_properties()))?;
            self.open.insert(
                month.to_string(),
                Open { buffer: EventBatchBuilder::new(), writer, in_progress: 0, rows: 0 },
            );
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
        part.rows += 1;
        if part.buffer.len() >= BATCH_ROWS {
            let batch = part.buffer.finish();
            part.writer.write(&batch)?;
            let now = part.writer.memory_size();
            self.in_progress_total = self.in_progress_total - part.in_progress + now;
            part.in_progress = now;
            if self.in_progress_total > self.budget {
                self.flush_largest()?;
            }
        }
        Ok(())
    }

    fn flush_largest(&mut self) -> Result<(), ParquetError> {
        while self.in_progress_total > self.budget / 2 {
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

    /// Closes every month: its staged file, for the delivery rules to judge.
    pub(crate) fn finish(self) -> Result<Vec<StagedMonth>, ParquetError> {
        let mut staged = Vec::new();
        for (month, mut part) in self.open {
            if !part.buffer.is_empty() {
                let batch = part.buffer.finish();
                part.writer.write(&batch)?;
            }
            staged.push(StagedMonth { month, file: part.writer.into_inner()?, rows: part.rows });
        }
        Ok(staged)
    }
}

/// One month's rows in a temporary file, in the order they were added, not judged yet.
pub(crate) struct StagedMonth {
    pub month: String,
    file: File,
    /// Rows added.
    rows: usize,
}

impl StagedMonth {
    /// The month's file to store, holding `partitions`: the rows `keep` marks `false` are
    /// left out (the file is rewritten only if any is).
    pub(crate) fn keep(
        self,
        keep: &[bool],
        partitions: BTreeMap<String, KeptPartition>,
    ) -> Result<FinishedMonth, ParquetError> {
        if keep.len() != self.rows {
            return Err(ParquetError::General(format!(
                "{} rows judged but {} staged for {}",
                keep.len(),
                self.rows,
                self.month
            )));
        }
        let finished = |file: File| -> Result<FinishedMonth, ParquetError> {
            let file = finish_file(file).map_err(|e| ParquetError::External(Box::new(e)))?;
            Ok(FinishedMonth { file, partitions })
        };
        if keep.iter().all(|k| *k) {
            return finished(self.file);
        }
        let out = tempfile::tempfile().map_err(|e| ParquetError::External(Box::new(e)))?;
        let mut writer = ArrowWriter::try_new(out, EVENTS.clone(), Some(writer_properties()))?;
        let mut row_number = 0usize;
        for batch in reader(&self.file)? {
            let batch = batch?;
            let n = batch.num_rows();
            let mask: BooleanArray = keep[row_number..row_number + n].iter().map(|k| Some(*k)).collect();
            row_number += n;
            let kept = filter_record_batch(&batch, &mask).map_err(|e| ParquetError::External(Box::new(e)))?;
            writer.write(&kept)?;
        }
        finished(writer.into_inner()?)
    }
}

/// One finished month file and the hospital-months it holds.
#[derive(Debug)]
pub(crate) struct FinishedMonth {
    pub file: WrittenFile,
    /// By partition key (`hospital/month`); a hospital-month all of whose rows were dropped
    /// is absent.
    pub partitions: BTreeMap<String, KeptPartition>,
}

fn reader(file: &File) -> Result<impl Iterator<Item = Result<RecordBatch, ParquetError>>, ParquetError> {
    let file = file.try_clone().map_err(|e| ParquetError::External(Box::new(e)))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.with_batch_size(8192).build()?;
    Ok(reader.map(|b| b.map_err(|e| ParquetError::External(Box::new(e)))))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::EventType;
    use chrono::NaiveDate;

    fn event(month: u32, i: u32) -> Event {
        Event {
            hospital_code: format!("01101137{:02}", i % 97),
            event_date: NaiveDate::from_ymd_opt(2025, month, 1 + i % 28).unwrap(),
            event_type: if i.is_multiple_of(3) { EventType::FirstVisit } else { EventType::ReferralOut },
            patient_key: format!("{:032x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15),
            department: ["内科", "外科", "小児科", "眼科"][(i % 4) as usize].into(),
            referral_letter: i.is_multiple_of(2),
            partner_code: Some(format!("13110{:05}", i % 1000)),
            partner_related: false,
            ambulance: i.is_multiple_of(7),
            after_hours_emergency: false,
            checkup_origin: false,
            line: u64::from(i) + 2,
            byte_offset: u64::from(i) * 90,
        }
    }

    /// Many months open at once with few rows each (700 hospitals x 36 months in small) must
    /// stay within the budget as the writers hold it in memory, not as its rows would be
    /// encoded: the encoded estimate let the months of such a run hold 250 MB.
    #[test]
    fn open_months_hold_no_more_memory_than_the_budget() {
        let budget = 1 << 20;
        let mut sink = PartitionSink::with_budget(budget);
        let months = 12;
        let mut most = 0;
        for i in 0..240_000u32 {
            let month = 1 + i % months;
            sink.push(&format!("2025-{month:02}"), &event(month, i), "events.csv").unwrap();
            let held: usize = sink.open.values().map(|p| p.writer.memory_size()).sum();
            most = most.max(held);
        }
        // The budget is checked after every batch a writer encodes, and the largest row groups
        // are flushed at once when it is passed: after any row, the writers hold at most it.
        assert!(most <= budget, "the open months held {most} bytes for a budget of {budget}");
        let staged = sink.finish().unwrap();
        assert_eq!(staged.len(), months as usize);
        assert_eq!(staged.iter().map(|s| s.rows).sum::<usize>(), 240_000);
    }
}
