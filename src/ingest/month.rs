//! The rows of one month, every hospital's, judged per hospital-month by the delivery rules
//! ([`judge_month`]). The caller feeds the rows as they are stored (read back from the month's
//! staged file, which holds the rows carried over from the warehouse first, then the new ones
//! in run order) and gets back which rows stay and what was found.

use std::collections::{BTreeMap, BTreeSet};

use foldhash::HashMap;

use chrono::{Datelike, NaiveDate};

use super::{
    EventFields, Fate, MonthRow, Overlap, OverlapOutcome, OverlapPolicy, fingerprint_into, judge_month,
};

/// `hospital/month`, the name of a hospital-month in messages and in the manifest.
pub(crate) fn hospital_month(hospital: &str, month: &str) -> String {
    format!("{hospital}/{month}")
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

/// What one hospital-month keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeptPartition {
    pub rows: u64,
    /// Sources with rows in it.
    pub sources: BTreeSet<String>,
    /// Rows of new files in it: none means it holds what it held before.
    pub new_rows: u64,
}

/// What [`MonthRows::judge`] found.
#[derive(Debug, Default)]
pub(crate) struct JudgedMonth {
    /// Per row, in the order fed: whether it is stored.
    pub keep: Vec<bool>,
    /// By `hospital/month`; a hospital-month all of whose rows were dropped is absent.
    pub partitions: BTreeMap<String, KeptPartition>,
    /// Rows not stored: repeats within a file, rows already present from another file.
    pub duplicates: Vec<Duplicate>,
    /// New files that differ from what a hospital-month held (refused or replacing).
    pub overlaps: Vec<PartitionOverlap>,
    /// New files that shared no row with a hospital-month's rows and were added to them.
    pub complements: Vec<PartitionOverlap>,
}

/// Interns names (sources, hospitals) as small indices.
#[derive(Default)]
struct Names {
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// The index of the last name asked for: rows come in runs of one source and hospital.
    last: Option<usize>,
}

impl Names {
    fn of(&mut self, name: &str) -> usize {
        if let Some(i) = self.last.filter(|&i| self.names[i] == name) {
            return i;
        }
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                let i = self.names.len();
                self.index.insert(name.to_string(), i);
                self.names.push(name.to_string());
                i
            }
        };
        self.last = Some(i);
        i
    }
}

/// The rows of one month, one fingerprint each, grouped by hospital ([`RowSpool::into_rows`]).
pub(crate) struct MonthRows {
    sources: Names,
    hospitals: Names,
    rows: Vec<MonthRow>,
    offsets: Vec<u64>,
    /// Row indices by hospital, in the order fed.
    by_hospital: Vec<Vec<usize>>,
}

/// The bytes of one spooled row: fingerprint, hospital and source (indices of their names),
/// day, line and byte offset.
const SPOOLED_ROW: usize = 16 + 4 + 4 + 1 + 8 + 8;

/// What the delivery rules need of each row of one month (fingerprint, hospital, source, day,
/// line, byte offset), written to a temporary file as the rows are stored, in the same order:
/// judging the month reads back 41 bytes a row instead of decoding every stored column and
/// fingerprinting it again, and memory holds the names only until then.
pub(crate) struct RowSpool {
    file: std::io::BufWriter<std::fs::File>,
    sources: Names,
    hospitals: Names,
    rows: usize,
    buf: Vec<u8>,
}

impl RowSpool {
    pub(crate) fn new() -> std::io::Result<Self> {
        Ok(RowSpool {
            file: std::io::BufWriter::with_capacity(1 << 16, tempfile::tempfile()?),
            sources: Names::default(),
            hospitals: Names::default(),
            rows: 0,
            buf: Vec::with_capacity(128),
        })
    }

    /// Adds the next row: its identity fields, source file, physical line and byte offset.
    pub(crate) fn push(
        &mut self,
        fields: &EventFields<'_>,
        source: &str,
        line: u64,
        offset: u64,
    ) -> std::io::Result<()> {
        let index = |i: usize| u32::try_from(i).map_err(std::io::Error::other);
        let hospital = index(self.hospitals.of(fields.hospital_code))?;
        let source = index(self.sources.of(source))?;
        let day = NaiveDate::from_num_days_from_ce_opt(fields.days_from_ce).map_or(0, |d| d.day() as u8);
        let mut row = [0u8; SPOOLED_ROW];
        row[..16].copy_from_slice(&fingerprint_into(&mut self.buf, fields).to_le_bytes());
        row[16..20].copy_from_slice(&hospital.to_le_bytes());
        row[20..24].copy_from_slice(&source.to_le_bytes());
        row[24] = day;
        row[25..33].copy_from_slice(&line.to_le_bytes());
        row[33..41].copy_from_slice(&offset.to_le_bytes());
        std::io::Write::write_all(&mut self.file, &row)?;
        self.rows += 1;
        Ok(())
    }

    /// Reads every row back, in the order added.
    pub(crate) fn into_rows(self) -> std::io::Result<MonthRows> {
        use std::io::{Read, Seek};
        let mut file = self.file.into_inner().map_err(std::io::IntoInnerError::into_error)?;
        file.seek(std::io::SeekFrom::Start(0))?;
        let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
        let mut rows = MonthRows {
            rows: Vec::with_capacity(self.rows),
            offsets: Vec::with_capacity(self.rows),
            by_hospital: vec![Vec::new(); self.hospitals.names.len()],
            sources: self.sources,
            hospitals: self.hospitals,
        };
        let mut row = [0u8; SPOOLED_ROW];
        let u64_at = |row: &[u8; SPOOLED_ROW], at: usize| {
            u64::from_le_bytes(row[at..at + 8].try_into().expect("8 bytes"))
        };
        let u32_at = |row: &[u8; SPOOLED_ROW], at: usize| {
            u32::from_le_bytes(row[at..at + 4].try_into().expect("4 bytes")) as usize
        };
        for i in 0..self.rows {
            reader.read_exact(&mut row)?;
            let (hospital, source) = (u32_at(&row, 16), u32_at(&row, 20));
            let known = hospital < rows.by_hospital.len() && source < rows.sources.names.len();
            if !known {
                return Err(std::io::Error::other(format!(
                    "spooled row {i} names no known hospital or source"
                )));
            }
            rows.by_hospital[hospital].push(i);
            rows.rows.push(MonthRow {
                fingerprint: u128::from_le_bytes(row[..16].try_into().expect("16 bytes")),
                source,
                day: row[24],
                line: u64_at(&row, 25),
            });
            rows.offsets.push(u64_at(&row, 33));
        }
        Ok(rows)
    }
}

impl MonthRows {
    /// Judges each hospital-month of `month`. `is_new` tells the files of this run from those
    /// whose rows were carried over from the warehouse.
    pub(crate) fn judge(
        self,
        month: &str,
        is_new: impl Fn(&str) -> bool,
        policy: OverlapPolicy,
    ) -> JudgedMonth {
        let names = &self.sources.names;
        let new: Vec<bool> = names.iter().map(|n| is_new(n)).collect();
        let mut done = JudgedMonth { keep: vec![true; self.rows.len()], ..JudgedMonth::default() };
        for (h, indices) in self.by_hospital.iter().enumerate() {
            let key = hospital_month(&self.hospitals.names[h], month);
            let group: Vec<MonthRow> = indices.iter().map(|&i| self.rows[i]).collect();
            let judged = judge_month(&group, |s| !new[s], policy);
            let named = |o: &Overlap| PartitionOverlap {
                partition: key.clone(),
                file: names[o.source].clone(),
                others: o.others.iter().map(|&s| names[s].clone()).collect(),
                shared: o.shared,
                lacking: o.lacking,
                added: o.added,
                outcome: Some(o.outcome),
            };
            done.overlaps.extend(judged.overlaps.iter().map(named));
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
            let mut kept = KeptPartition { rows: 0, sources: BTreeSet::new(), new_rows: 0 };
            for (&i, fate) in indices.iter().zip(&judged.fates) {
                let row = self.rows[i];
                done.keep[i] = *fate == Fate::Keep;
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
                    byte_offset: self.offsets[i],
                    first_source_file: names[first.0].clone(),
                    first_line: first.1,
                });
            }
            if kept.rows > 0 {
                done.partitions.insert(key, kept);
            }
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::EventType;

    fn fields<'a>(hospital: &'a str, day: u32, patient: &'a str) -> EventFields<'a> {
        EventFields {
            hospital_code: hospital,
            days_from_ce: NaiveDate::from_ymd_opt(2025, 4, day).unwrap().num_days_from_ce(),
            event_type: EventType::FirstVisit,
            patient_key: patient,
            department: "内科",
            partner_code: None,
            flags: [true, false, false, false, false],
        }
    }

    #[test]
    fn spooled_rows_come_back_in_order_with_their_fingerprint_hospital_source_day_line_and_offset() {
        let mut spool = RowSpool::new().unwrap();
        let fed = [
            (fields("0110113719", 1, "aa"), "inputs/a.csv", 2, 10),
            (fields("0120000001", 2, "bb"), "inputs/a.csv", 3, 40),
            (fields("0110113719", 1, "aa"), "inputs/b.csv", 7, 300),
            (fields("0110113719", 30, "cc"), "inputs/b.csv", 8, u64::MAX),
        ];
        for (f, source, line, offset) in &fed {
            spool.push(f, source, *line, *offset).unwrap();
        }
        let rows = spool.into_rows().unwrap();
        let mut buf = Vec::new();
        let expected: Vec<MonthRow> = fed
            .iter()
            .map(|(f, source, line, _)| MonthRow {
                fingerprint: fingerprint_into(&mut buf, f),
                source: usize::from(*source == "inputs/b.csv"),
                day: NaiveDate::from_num_days_from_ce_opt(f.days_from_ce).unwrap().day() as u8,
                line: *line,
            })
            .collect();
        assert_eq!(rows.rows, expected);
        assert_eq!(rows.offsets, vec![10, 40, 300, u64::MAX]);
        assert_eq!(rows.by_hospital, vec![vec![0, 2, 3], vec![1]]);
        assert_eq!(rows.hospitals.names, ["0110113719", "0120000001"]);
        assert_eq!(rows.sources.names, ["inputs/a.csv", "inputs/b.csv"]);

        // The third row repeats the first from another file: already present, not stored again.
        let judged = rows.judge("2025-04", |_| true, OverlapPolicy::Add);
        assert_eq!(judged.keep, [true, true, false, true]);
        assert_eq!(judged.duplicates.len(), 1);
        let d = &judged.duplicates[0];
        assert_eq!((d.source_file.as_str(), d.line, d.byte_offset), ("inputs/b.csv", 7, 300));
        assert_eq!((d.first_source_file.as_str(), d.first_line), ("inputs/a.csv", 2));
    }
}
