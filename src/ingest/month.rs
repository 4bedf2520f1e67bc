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

/// The rows of one month, one fingerprint each, grouped by hospital.
#[derive(Default)]
pub(crate) struct MonthRows {
    sources: Names,
    hospitals: Names,
    rows: Vec<MonthRow>,
    offsets: Vec<u64>,
    /// Row indices by hospital, in the order fed.
    by_hospital: Vec<Vec<usize>>,
    buf: Vec<u8>,
}

impl MonthRows {
    /// Adds the next row: its identity fields, source file, physical line and byte offset.
    pub(crate) fn push(&mut self, fields: &EventFields<'_>, source: &str, line: u64, offset: u64) {
        let h = self.hospitals.of(fields.hospital_code);
        if h == self.by_hospital.len() {
            self.by_hospital.push(Vec::new());
        }
        self.by_hospital[h].push(self.rows.len());
        let day = NaiveDate::from_num_days_from_ce_opt(fields.days_from_ce).map_or(0, |d| d.day() as u8);
        self.rows.push(MonthRow {
            fingerprint: fingerprint_into(&mut self.buf, fields),
            source: self.sources.of(source),
            day,
            line,
        });
        self.offsets.push(offset);
    }

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
