//! Streaming Parquet writing: one file per hospital-month, memory bounded by a budget.

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

use super::schema::{self, EVENTS, EventBatchBuilder};
use crate::ingest::Event;

/// Rows buffered per partition before they are encoded.
const BATCH_ROWS: usize = 1024;
/// Bytes of encoded-but-unwritten row groups across all partitions before the largest is
/// flushed to its file.
const IN_PROGRESS_BUDGET: usize = 48 * 1024 * 1024;

fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid level")))
        .set_max_row_group_row_count(Some(256 * 1024))
        .set_created_by(format!("refrate {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A finished local file ready to be uploaded.
#[derive(Debug)]
pub struct WrittenFile {
    pub file: File,
    pub rows: u64,
    pub sha256: String,
    pub bytes: u64,
}

impl WrittenFile {
    /// The file's bytes.
    pub fn read_all(&mut self) -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(self.bytes as usize);
        self.file.seek(SeekFrom::Start(0))?;
        self.file.read_to_end(&mut buf)?;
        Ok(buf)
    }
}

fn finish_file(mut file: File, rows: u64) -> std::io::Result<WrittenFile> {
    let bytes = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(WrittenFile { file, rows, sha256: hex::encode(hasher.finalize()), bytes })
}

struct Open {
    buffer: EventBatchBuilder,
    writer: ArrowWriter<File>,
    in_progress: usize,
    rows: u64,
}

/// Writes events into one temporary Parquet file per partition key as they stream in.
///
/// Memory is bounded by the number of open partitions times a small batch, plus a fixed budget
/// for encoded row groups: when the budget is exceeded the largest row group is flushed.
#[derive(Default)]
pub struct PartitionSink {
    open: BTreeMap<String, Open>,
    in_progress_total: usize,
}

impl PartitionSink {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.open.contains_key(key)
    }

    /// Opens the partition (idempotent).
    pub fn open(&mut self, key: &str) -> Result<(), ParquetError> {
        if !self.open.contains_key(key) {
            let file = tempfile::tempfile().map_err(|e| ParquetError::External(Box::new(e)))?;
            let writer = ArrowWriter::try_new(file, EVENTS.clone(), Some(writer_properties()))?;
            self.open.insert(
                key.to_string(),
                Open { buffer: EventBatchBuilder::new(), writer, in_progress: 0, rows: 0 },
            );
        }
        Ok(())
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.open.keys()
    }

    /// Adds one event to partition `key` (opened on first use).
    pub fn push(&mut self, key: &str, event: &Event, source_file: &str) -> Result<(), ParquetError> {
        self.open(key)?;
        let part = self.open.get_mut(key).expect("opened above");
        part.buffer.push(event, source_file);
        part.rows += 1;
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

    /// Closes every partition, drops exact duplicate rows (the first occurrence stays, in the
    /// order rows arrived) and returns the finished files by key, with the duplicates found.
    ///
    /// Duplicates are found per partition after writing, by reading the partition back: two
    /// rows can only be duplicates within one hospital-month, so memory is bounded by the
    /// largest partition rather than by the whole input.
    pub fn finish(self) -> Result<(BTreeMap<String, WrittenFile>, Vec<Duplicate>), ParquetError> {
        let mut done = BTreeMap::new();
        let mut duplicates = Vec::new();
        for (key, mut part) in self.open {
            if !part.buffer.is_empty() {
                let batch = part.buffer.finish();
                part.writer.write(&batch)?;
            }
            let file = part.writer.into_inner()?;
            let (file, rows, found) = drop_duplicates(file, &key, part.rows)?;
            duplicates.extend(found);
            let written = finish_file(file, rows).map_err(|e| ParquetError::External(Box::new(e)))?;
            done.insert(key, written);
        }
        Ok((done, duplicates))
    }
}

/// A row dropped because an identical row came first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub partition: String,
    pub source_file: String,
    pub line: u64,
    pub byte_offset: u64,
    pub first_source_file: String,
    pub first_line: u64,
}

fn reader(file: &File) -> Result<impl Iterator<Item = Result<RecordBatch, ParquetError>>, ParquetError> {
    let file = file.try_clone().map_err(|e| ParquetError::External(Box::new(e)))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.with_batch_size(8192).build()?;
    Ok(reader.map(|b| b.map_err(|e| ParquetError::External(Box::new(e)))))
}

/// Reads a partition file back; if it has exact duplicates, rewrites it without them.
fn drop_duplicates(file: File, key: &str, rows: u64) -> Result<(File, u64, Vec<Duplicate>), ParquetError> {
    let mut first: std::collections::HashMap<u128, (String, u64)> = std::collections::HashMap::new();
    let mut dropped: std::collections::HashSet<u64> = std::collections::HashSet::new();
    let mut found = Vec::new();
    let mut row_number = 0u64;
    for batch in reader(&file)? {
        for (event, source) in schema::events_from_batch(&batch?).map_err(ParquetError::General)? {
            // The same definition of "the same record" as ingest's duplicate check.
            let fp = crate::ingest::Deduplicator::fingerprint(&event);
            match first.get(&fp) {
                Some((first_source, first_line)) => {
                    dropped.insert(row_number);
                    found.push(Duplicate {
                        partition: key.to_string(),
                        source_file: source,
                        line: event.line,
                        byte_offset: event.byte_offset,
                        first_source_file: first_source.clone(),
                        first_line: *first_line,
                    });
                }
                None => {
                    first.insert(fp, (source, event.line));
                }
            }
            row_number += 1;
        }
    }
    if dropped.is_empty() {
        return Ok((file, rows, found));
    }
    let out = tempfile::tempfile().map_err(|e| ParquetError::External(Box::new(e)))?;
    let mut writer = ArrowWriter::try_new(out, EVENTS.clone(), Some(writer_properties()))?;
    let mut row_number = 0u64;
    for batch in reader(&file)? {
        let batch = batch?;
        let keep: BooleanArray =
            (0..batch.num_rows() as u64).map(|i| Some(!dropped.contains(&(row_number + i)))).collect();
        row_number += batch.num_rows() as u64;
        let kept = filter_record_batch(&batch, &keep).map_err(|e| ParquetError::External(Box::new(e)))?;
        writer.write(&kept)?;
    }
    let out = writer.into_inner()?;
    Ok((out, rows - dropped.len() as u64, found))
}

/// Writes whole batches into one Parquet file in memory.
pub fn write_batches(schema: SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, ParquetError> {
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
