//! What a delivered file means for one hospital-month: the one home of the delivery rules,
//! applied to each hospital-month a run rebuilds ([`MonthRows`](super::MonthRows)), by `run`
//! and `validate` alike.
//!
//! The rows of one hospital-month arrive from several sources: files already stored in the
//! warehouse ("stored"), and files delivered in this run ("new"), in run order. Each row is
//! compared by its exact fingerprint ([`fingerprint`](super::fingerprint)):
//!
//! - a row identical to an earlier row **of the same file** is a broken export: a reject;
//! - a row identical to a row of **another** file (stored, or earlier in this run) is
//!   *already present*: not stored again, not a reject (cumulative exports, overlapping
//!   extracts, a re-delivered month);
//! - a new file that shares rows with what the month already holds but lacks some of its
//!   rows, on the days the new file covers, *differs*: a correction or a partial re-export.
//!   The [`OverlapPolicy`] decides: refuse (naming both files), or let the newer file replace
//!   the hospital-month. Between two new files of one run it is always refused: nothing tells
//!   which of them is the newer;
//! - a new file sharing no row with the month, on days the month holds no row on, is a
//!   *complement* (the other half of a month, another system's days) and is added. Sharing no
//!   row but covering days the month already has rows on is a difference too: a re-export
//!   whose every row changed (a re-mapped column) must not be counted on top of the original.
//!   `overlap: add` says that files of one hospital-month hold different records (split
//!   exports): they are always added, identical rows still being "already present".
//!
//! Comparing on the days a file covers lets an extract from 15 March to 15 April repeat half of
//! a stored April without being taken for a partial re-export.

use std::collections::BTreeSet;

use foldhash::HashMap;

use serde::Deserialize;

/// What to do with a newer file whose rows for a hospital-month differ from those stored from
/// another file (`overlap:` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverlapPolicy {
    /// Stop the run, naming both files (the default: a partial re-export must not quietly
    /// shrink a month of an official report).
    #[default]
    Refuse,
    /// The newer file becomes the hospital-month's only source.
    Replace,
    /// Files of one hospital-month are separate record sets (e.g. one export per department):
    /// their rows are added; rows identical to another file's are still "already present".
    Add,
}

/// One valid row of a hospital-month as the delivery rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MonthRow {
    pub fingerprint: u128,
    /// Index of the row's source, chosen by the caller.
    pub source: usize,
    /// Day of the month (1–31).
    pub day: u8,
    pub line: u64,
}

/// What becomes of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Keep,
    /// Identical to an earlier row of the same file: a reject.
    DuplicateInFile {
        first_line: u64,
    },
    /// Identical to a row of another file: not stored again.
    AlreadyPresent {
        source: usize,
        line: u64,
    },
    /// A stored row dropped because a newer file replaced the hospital-month.
    Replaced {
        by: usize,
    },
}

/// How an overlap was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OverlapOutcome {
    /// Refused under `overlap: refuse`.
    Refused,
    /// Refused whatever the policy: the other file is new in this run too.
    RefusedSameRun,
    /// The file replaced the hospital-month.
    Replaced,
}

/// A new file whose rows differ from what the hospital-month held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Overlap {
    pub source: usize,
    /// The sources whose rows it lacks (refused), or whose rows it replaced.
    pub others: Vec<usize>,
    /// Its rows identical to rows held.
    pub shared: u64,
    /// Rows held, on the days it covers, that it lacks.
    pub lacking: u64,
    /// Its rows not held before.
    pub added: u64,
    pub outcome: OverlapOutcome,
}

/// The delivery rules applied to one hospital-month.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MonthJudgement {
    /// One per input row, in the input's order.
    pub fates: Vec<Fate>,
    pub overlaps: Vec<Overlap>,
    /// New files that shared no row with the month and were added: (file, sources held).
    pub complements: Vec<(usize, Vec<usize>)>,
}

/// Applies the delivery rules to the rows of one hospital-month. Rows of one source must be
/// contiguous; stored sources are taken first, then new ones in their order of appearance.
pub(crate) fn judge_month(
    rows: &[MonthRow],
    is_stored: impl Fn(usize) -> bool,
    policy: OverlapPolicy,
) -> MonthJudgement {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    // Stable: rows keep their order within a source, sources their order of appearance.
    order.sort_by_key(|&i| !is_stored(rows[i].source));
    let mut fates = vec![Fate::Keep; rows.len()];
    let mut overlaps = Vec::new();
    let mut complements = Vec::new();
    // What the month holds so far: fingerprint → row index.
    let mut held: HashMap<u128, usize> = HashMap::with_capacity_and_hasher(rows.len(), Default::default());
    let mut start = 0;
    while start < order.len() {
        let source = rows[order[start]].source;
        let end =
            order[start..].iter().position(|&i| rows[i].source != source).map_or(order.len(), |n| start + n);
        let group = &order[start..end];
        start = end;
        if is_stored(source) {
            for &i in group {
                match held.get(&rows[i].fingerprint) {
                    Some(&j) => {
                        fates[i] = Fate::AlreadyPresent { source: rows[j].source, line: rows[j].line }
                    }
                    None => {
                        held.insert(rows[i].fingerprint, i);
                    }
                }
            }
            continue;
        }
        let mut in_file: HashMap<u128, u64> =
            HashMap::with_capacity_and_hasher(group.len(), Default::default());
        let mut covered = [false; 32];
        let (mut shared, mut added) = (0u64, 0u64);
        for &i in group {
            let r = rows[i];
            if let Some(&first_line) = in_file.get(&r.fingerprint) {
                fates[i] = Fate::DuplicateInFile { first_line };
                continue;
            }
            in_file.insert(r.fingerprint, r.line);
            covered[usize::from(r.day.min(31))] = true;
            match held.get(&r.fingerprint) {
                Some(&j) => {
                    fates[i] = Fate::AlreadyPresent { source: rows[j].source, line: rows[j].line };
                    shared += 1;
                }
                None => added += 1,
            }
        }
        let held_sources =
            |held: &HashMap<u128, usize>| held.values().map(|&j| rows[j].source).collect::<BTreeSet<_>>();
        let keep_new = |held: &mut HashMap<u128, usize>, fates: &[Fate]| {
            for &i in group {
                if fates[i] == Fate::Keep {
                    held.insert(rows[i].fingerprint, i);
                }
            }
        };
        let days_overlap = held.values().any(|&j| covered[usize::from(rows[j].day.min(31))]);
        if policy == OverlapPolicy::Add || held.is_empty() || (shared == 0 && !days_overlap) {
            if !held.is_empty() && added > 0 {
                complements.push((source, held_sources(&held).into_iter().collect()));
            }
            keep_new(&mut held, &fates);
            continue;
        }
        let lacking: Vec<usize> = held
            .iter()
            .filter(|(fp, j)| covered[usize::from(rows[**j].day.min(31))] && !in_file.contains_key(*fp))
            .map(|(_, &j)| j)
            .collect();
        if lacking.is_empty() {
            // It repeats what the month holds on its days and maybe adds: union = replacement.
            keep_new(&mut held, &fates);
            continue;
        }
        let lacking_sources: BTreeSet<usize> = lacking.iter().map(|&j| rows[j].source).collect();
        let outcome = if lacking_sources.iter().any(|&s| !is_stored(s)) {
            OverlapOutcome::RefusedSameRun
        } else if policy != OverlapPolicy::Replace {
            OverlapOutcome::Refused
        } else {
            OverlapOutcome::Replaced
        };
        let others: Vec<usize> = if outcome == OverlapOutcome::Replaced {
            held_sources(&held).into_iter().collect()
        } else {
            lacking_sources.into_iter().collect()
        };
        overlaps.push(Overlap { source, others, shared, lacking: lacking.len() as u64, added, outcome });
        if outcome == OverlapOutcome::Replaced {
            for &j in held.values() {
                fates[j] = Fate::Replaced { by: source };
            }
            held.clear();
            for &i in group {
                if let Fate::AlreadyPresent { .. } = fates[i] {
                    fates[i] = Fate::Keep;
                }
            }
            keep_new(&mut held, &fates);
        }
        // Refused: the caller stops; nothing of this file is held.
    }
    MonthJudgement { fates, overlaps, complements }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(fp: u128, source: usize, day: u8, line: u64) -> MonthRow {
        MonthRow { fingerprint: fp, source, day, line }
    }

    const STORED: usize = 0;
    fn stored(s: usize) -> bool {
        s == STORED
    }

    #[test]
    fn rows_of_another_file_are_already_present_and_repeats_in_one_file_are_duplicates() {
        let rows = [
            r(1, STORED, 1, 2),
            r(2, STORED, 1, 3),
            r(1, 1, 1, 2),
            r(1, 1, 1, 3),
            r(2, 1, 1, 4),
            r(3, 1, 2, 5),
        ];
        let j = judge_month(&rows, stored, OverlapPolicy::Refuse);
        assert_eq!(
            j.fates,
            [
                Fate::Keep,
                Fate::Keep,
                Fate::AlreadyPresent { source: STORED, line: 2 },
                Fate::DuplicateInFile { first_line: 2 },
                Fate::AlreadyPresent { source: STORED, line: 3 },
                Fate::Keep,
            ]
        );
        assert!(j.overlaps.is_empty() && j.complements.is_empty());
    }

    #[test]
    fn stored_rows_come_first_whatever_the_order_given() {
        let rows = [r(1, 1, 1, 2), r(1, STORED, 1, 9)];
        let j = judge_month(&rows, stored, OverlapPolicy::Refuse);
        assert_eq!(j.fates, [Fate::AlreadyPresent { source: STORED, line: 9 }, Fate::Keep]);
    }

    #[test]
    fn a_file_lacking_held_rows_on_its_days_differs() {
        // Day 1 held: 1, 2. The new file has 1 and 3 on day 1: it lacks 2.
        let rows = [r(1, STORED, 1, 2), r(2, STORED, 1, 3), r(1, 1, 1, 2), r(3, 1, 1, 3)];
        let refused = judge_month(&rows, stored, OverlapPolicy::Refuse);
        assert_eq!(
            refused.overlaps,
            [Overlap {
                source: 1,
                others: vec![STORED],
                shared: 1,
                lacking: 1,
                added: 1,
                outcome: OverlapOutcome::Refused
            }]
        );
        let replaced = judge_month(&rows, stored, OverlapPolicy::Replace);
        assert_eq!(replaced.overlaps[0].outcome, OverlapOutcome::Replaced);
        assert_eq!(
            replaced.fates,
            [Fate::Replaced { by: 1 }, Fate::Replaced { by: 1 }, Fate::Keep, Fate::Keep]
        );
        // Between two new files nothing says which is newer.
        let same_run = judge_month(&rows, |_| false, OverlapPolicy::Replace);
        assert_eq!(same_run.overlaps[0].outcome, OverlapOutcome::RefusedSameRun);
    }

    #[test]
    fn days_the_file_does_not_cover_do_not_count_and_disjoint_files_are_complements() {
        // Held: day 1 (1, 2), day 2 (3). The file covers day 2 and 3 only.
        let rows = [r(1, STORED, 1, 2), r(2, STORED, 1, 3), r(3, STORED, 2, 4), r(3, 1, 2, 2), r(4, 1, 3, 3)];
        let j = judge_month(&rows, stored, OverlapPolicy::Refuse);
        assert!(j.overlaps.is_empty(), "{j:?}");
        assert_eq!(j.fates[3], Fate::AlreadyPresent { source: STORED, line: 4 });
        assert_eq!(j.fates[4], Fate::Keep);
        let disjoint = [r(1, STORED, 1, 2), r(9, 1, 2, 2)];
        let j = judge_month(&disjoint, stored, OverlapPolicy::Refuse);
        assert_eq!(j.complements, [(1, vec![STORED])]);
        assert_eq!(j.fates, [Fate::Keep, Fate::Keep]);
    }

    #[test]
    fn a_file_with_no_row_in_common_on_stored_days_differs_unless_files_are_added() {
        // Every row of day 1 changed (a re-mapped column): not a complement.
        let changed = [r(1, STORED, 1, 2), r(2, STORED, 1, 3), r(7, 1, 1, 2), r(8, 1, 1, 3)];
        let j = judge_month(&changed, stored, OverlapPolicy::Refuse);
        assert_eq!(j.overlaps.len(), 1, "{j:?}");
        assert_eq!(
            (j.overlaps[0].shared, j.overlaps[0].lacking, j.overlaps[0].outcome),
            (0, 2, OverlapOutcome::Refused)
        );
        let j = judge_month(&changed, stored, OverlapPolicy::Replace);
        assert_eq!(j.fates, [Fate::Replaced { by: 1 }, Fate::Replaced { by: 1 }, Fate::Keep, Fate::Keep]);
        // One export per department: `add` keeps both, identical rows still count once.
        let split = [r(1, STORED, 1, 2), r(7, 1, 1, 2), r(1, 1, 1, 3)];
        let j = judge_month(&split, stored, OverlapPolicy::Add);
        assert!(j.overlaps.is_empty());
        assert_eq!(j.fates, [Fate::Keep, Fate::Keep, Fate::AlreadyPresent { source: STORED, line: 2 }]);
    }
}
