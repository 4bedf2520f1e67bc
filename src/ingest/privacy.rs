//! Keeping raw patient numbers out of what refrate shows, even when a row's columns are
//! shifted or a mapping swaps two columns.
//!
//! This module owns the one rule deciding whether a value read from a file may be shown
//! ([`PatientNumbers`], [`RowPatient`]) and the check that a free-text column holds
//! identifiers ([`IdentifierColumn`]). `read_file` applies both to every file, and
//! `refrate mapping suggest` to the rows it samples; nothing else decides.
//!
//! A value is hidden (shown as [`MASK`]) when it may be a patient number:
//! - it matches the input's `patient_id_pattern` (a regular expression, found anywhere in the
//!   value), or
//! - it has the *shape* of one of the file's own valid patient numbers (ASCII digits → `9`,
//!   ASCII letters → `A`, other characters kept: `P-00123` → `A-99999`), or
//! - its row's patient-number column holds this same value, or holds a visit type or a date:
//!   the columns of that row are shifted, so the value that failed its own field is taken for
//!   the patient number.
//!
//! Shapes are known only once the whole file is read, so `read_file` keeps a file's rejects
//! and masks them when the file ends: the order of the rows does not matter.
//!
//! It must not keep a raw patient number: only shapes, and keyed hashes to count distinct
//! values.

use std::collections::{BTreeSet, HashSet};
use std::hash::{BuildHasher, RandomState};

use super::date::parse_date;
use super::format::FormatError;
use super::reject::{MASK, Reject, RejectReason};
use super::text::normalize_value;

/// More distinct patient-number shapes than this, and every reject value of the file is
/// hidden (the numbers have no recognisable shape).
const MAX_SHAPES: usize = 64;
/// A patient number longer than this (in characters) also hides every value.
const MAX_SHAPE_CHARS: usize = 64;

/// The shape of a value after trimming and full-width → ASCII: ASCII digits become `9`,
/// ASCII letters `A`, every other character is kept.
pub(crate) fn shape(value: &str) -> String {
    let mut s = String::new();
    shape_into(value, &mut s);
    s
}

fn shape_into(value: &str, out: &mut String) {
    out.clear();
    out.extend(normalize_value(value).chars().map(|c| match c {
        '0'..='9' => '9',
        'a'..='z' | 'A'..='Z' => 'A',
        _ => c,
    }));
}

/// What the patient numbers of one file look like: the configured pattern and the shapes of
/// the valid numbers seen so far. The default has no pattern.
#[derive(Debug, Clone, Default)]
pub(crate) struct PatientNumbers {
    pattern: Option<regex::Regex>,
    shapes: BTreeSet<String>,
    /// Too many shapes, or too long a number: any value may be one.
    unbounded: bool,
    /// Reused for every row's shape, so learning allocates only for a new shape.
    scratch: String,
}

impl PatientNumbers {
    /// `pattern` is the input's `patient_id_pattern`.
    pub(crate) fn new(pattern: Option<&str>) -> Result<PatientNumbers, FormatError> {
        let pattern = pattern.map(compile).transpose()?;
        Ok(PatientNumbers { pattern, ..PatientNumbers::default() })
    }

    /// Records the shape of a valid patient number.
    pub(crate) fn learn(&mut self, patient_number: &str) {
        if self.unbounded {
            return;
        }
        shape_into(patient_number, &mut self.scratch);
        let s = self.scratch.as_str();
        if s.is_empty() || self.shapes.contains(s) {
            return;
        }
        if s.chars().count() > MAX_SHAPE_CHARS || self.shapes.len() >= MAX_SHAPES {
            self.hide_every_value();
            return;
        }
        self.shapes.insert(s.to_owned());
    }

    /// From now on every value may be a patient number (the file's columns cannot be trusted).
    pub(crate) fn hide_every_value(&mut self) {
        self.unbounded = true;
        self.shapes.clear();
    }

    /// Whether `value` may be a patient number (an empty value never is).
    pub(crate) fn may_be_one(&self, value: &str) -> bool {
        let v = normalize_value(value);
        if v.is_empty() {
            return false;
        }
        self.unbounded
            || self.pattern.as_ref().is_some_and(|p| p.is_match(&v) || p.is_match(value))
            || self.shapes.contains(&shape(&v))
    }

    /// Whether `value`, read from the row described by `row`, must be hidden.
    pub(crate) fn must_hide(&self, value: &str, row: &RowPatient<'_>) -> bool {
        row.hides(value) || self.may_be_one(value)
    }

    /// Hides the reject's value if it may be a patient number.
    pub(crate) fn mask(&self, reject: &mut Reject) {
        if reject.value.as_deref().is_some_and(|v| v != MASK && self.may_be_one(v)) {
            hide(reject);
        }
    }
}

/// Checks a `patient_id_pattern` (for the config) and compiles it.
pub(crate) fn compile(pattern: &str) -> Result<regex::Regex, FormatError> {
    if pattern.is_empty() {
        return Err(FormatError(
            "patient_id_pattern is empty; write a regular expression such as '^[0-9]{8}$', or leave it out"
                .into(),
        ));
    }
    regex::Regex::new(pattern).map_err(|e| {
        FormatError(format!(
            "patient_id_pattern {pattern:?} is not a regular expression: {}",
            e.to_string().lines().last().unwrap_or("invalid")
        ))
    })
}

/// What one row's patient-number column tells about its other values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowPatient<'a> {
    /// The raw value of the row's patient-number column, if the file has one.
    value: Option<&'a str>,
    /// The patient-number column holds another field's value: the row is shifted.
    shifted: bool,
}

impl<'a> RowPatient<'a> {
    /// `patient_value` is the row's patient-number column; `is_event_type` recognises the
    /// input's visit types.
    pub(crate) fn new(
        patient_value: Option<&'a str>,
        is_event_type: impl Fn(&str) -> bool,
    ) -> RowPatient<'a> {
        let shifted = patient_value.is_some_and(|p| {
            let v = normalize_value(p);
            !v.is_empty()
                && (is_event_type(&v) || (!v.bytes().all(|b| b.is_ascii_digit()) && parse_date(&v).is_ok()))
        });
        RowPatient { value: patient_value, shifted }
    }

    /// Whether the patient-number column holds another field's value (a visit type, a date).
    pub(crate) fn is_shifted(&self) -> bool {
        self.shifted
    }

    /// A value of this row that must not be shown whatever the file's numbers look like.
    pub(crate) fn hides(&self, value: &str) -> bool {
        let v = normalize_value(value);
        !v.is_empty() && (self.shifted || self.value.is_some_and(|p| normalize_value(p) == v))
    }
}

/// Shows [`MASK`] instead of the reject's value, and says why. A date's detail repeats the
/// value it read, so it gives way to the reason's message.
pub(crate) fn hide(reject: &mut Reject) {
    reject.value = Some(MASK.to_owned());
    if matches!(
        reject.reason,
        RejectReason::BadDate | RejectReason::EraOutOfRange | RejectReason::OutsideFileMonth
    ) {
        reject.detail = reject.reason.message_en().to_owned();
    }
    reject
        .detail
        .push_str("; the value is hidden: it may be a patient number (are this line's columns shifted?)");
}

/// Distinct values are counted among the first this many non-empty ones (memory stays bounded).
const MAX_TRACKED: u64 = 4096;
/// Fewer non-empty values than this are never judged.
const MIN_VALUES: u64 = 10;

/// Watches a free-text column (the department) for values that look like identifiers: mostly
/// digits and nearly one distinct value per row, as patient numbers are and department names
/// or codes are not. Keeps counts and keyed hashes only.
#[derive(Debug, Default)]
pub(crate) struct IdentifierColumn {
    values: u64,
    identifier_like: u64,
    tracked: u64,
    distinct: HashSet<u64>,
    hasher: RandomState,
}

/// Why a column was taken for identifiers (counts only, never a value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdentifierEvidence {
    /// Non-empty values seen.
    pub values: u64,
    /// Percentage of them that are mostly digits.
    pub identifier_like_percent: u64,
    /// Percentage of distinct values among the first ones (at most 4096).
    pub distinct_percent: u64,
}

impl IdentifierColumn {
    pub(crate) fn new() -> IdentifierColumn {
        IdentifierColumn::default()
    }

    /// Counts one value of the column.
    pub(crate) fn observe(&mut self, value: &str) {
        let v = normalize_value(value);
        if v.is_empty() {
            return;
        }
        self.values += 1;
        if looks_like_identifier(&v) {
            self.identifier_like += 1;
        }
        if self.tracked < MAX_TRACKED {
            self.tracked += 1;
            self.distinct.insert(self.hasher.hash_one(&*v));
        }
    }

    /// `Some` when the column looks like identifiers: at least 10 values, 90 % of them mostly
    /// digits, and at least half of them distinct (or more than 256 distinct values, which no
    /// department list has).
    pub(crate) fn verdict(&self) -> Option<IdentifierEvidence> {
        let distinct = self.distinct.len() as u64;
        let looks = self.values >= MIN_VALUES
            && self.identifier_like * 10 >= self.values * 9
            && (distinct * 2 >= self.tracked || distinct > 256);
        looks.then(|| IdentifierEvidence {
            values: self.values,
            identifier_like_percent: self.identifier_like * 100 / self.values,
            distinct_percent: distinct * 100 / self.tracked.max(1),
        })
    }
}

/// At least four characters, more than half of them ASCII digits.
fn looks_like_identifier(v: &str) -> bool {
    let (mut chars, mut digits) = (0usize, 0usize);
    for c in v.chars() {
        chars += 1;
        digits += usize::from(c.is_ascii_digit());
    }
    chars >= 4 && digits * 2 > chars
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(value: &str, reason: RejectReason) -> Reject {
        Reject {
            file: "a.csv".into(),
            line: 2,
            byte_offset: 10,
            field: Some("event_type".into()),
            value: Some(value.into()),
            reason,
            detail: "expected one of first_visit".into(),
        }
    }

    #[test]
    fn shapes_keep_punctuation_and_kanji() {
        assert_eq!(shape("P-00123"), "A-99999");
        assert_eq!(shape(" ００１２３ "), "99999");
        assert_eq!(shape("内科2"), "内科9");
        assert_eq!(shape(""), "");
    }

    #[test]
    fn values_shaped_like_a_learned_number_are_hidden() {
        let mut n = PatientNumbers::new(None).unwrap();
        assert!(!n.may_be_one("99100001"), "nothing learned yet");
        n.learn("99000001");
        n.learn("P-001");
        for v in ["99100001", " 12345678 ", "１２３４５６７８", "Q-999"] {
            assert!(n.may_be_one(v), "{v}");
        }
        for v in ["", "1234567", "123456789", "first_visit", "2025-04-01", "P-0001", "内科"] {
            assert!(!n.may_be_one(v), "{v}");
        }
        let mut r = reject("99100001", RejectReason::UnknownEventType);
        n.mask(&mut r);
        assert_eq!(r.value.as_deref(), Some(MASK));
        assert!(r.detail.starts_with("expected one of first_visit; the value is hidden"), "{}", r.detail);
        let mut r = reject("2025-02-30", RejectReason::BadDate);
        n.mask(&mut r);
        assert_eq!(r.value.as_deref(), Some("2025-02-30"));
    }

    #[test]
    fn a_hidden_date_does_not_repeat_itself_in_the_detail() {
        let mut n = PatientNumbers::new(None).unwrap();
        n.learn("20250230");
        let mut r = reject("20250230", RejectReason::BadDate);
        r.detail = "no such day: 2025-02-30".into();
        n.mask(&mut r);
        assert_eq!(r.value.as_deref(), Some(MASK));
        assert!(!r.detail.contains("2025") && r.detail.starts_with("date cannot be read"), "{}", r.detail);
    }

    #[test]
    fn too_many_shapes_hide_every_value() {
        let mut n = PatientNumbers::new(None).unwrap();
        for len in 1..=MAX_SHAPES + 1 {
            n.learn(&"7".repeat(len));
        }
        assert!(n.may_be_one("first_visit") && n.may_be_one("x"));
        assert!(!n.may_be_one(" "));
        let mut long = PatientNumbers::new(None).unwrap();
        long.learn(&"1".repeat(MAX_SHAPE_CHARS + 1));
        assert!(long.may_be_one("内科"));
    }

    #[test]
    fn the_pattern_matches_anywhere_and_is_checked() {
        let n = PatientNumbers::new(Some("K[0-9]+")).unwrap();
        assert!(n.may_be_one("K123") && n.may_be_one("xK1") && n.may_be_one("Ｋ１２"));
        assert!(!n.may_be_one("K") && !n.may_be_one("123"));
        let anchored = PatientNumbers::new(Some("^K[0-9]+$")).unwrap();
        assert!(!anchored.may_be_one("xK1"));
        let e = PatientNumbers::new(Some("K[0-9")).unwrap_err().to_string();
        assert!(e.contains("patient_id_pattern \"K[0-9\" is not a regular expression"), "{e}");
        assert!(PatientNumbers::new(Some("")).unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn a_shifted_row_hides_the_value_that_failed() {
        let is_type = |v: &str| v == "first_visit";
        // The visit type where the patient number belongs: shifted.
        let row = RowPatient::new(Some("first_visit"), is_type);
        assert!(row.is_shifted() && row.hides("P-RAW-1") && row.hides("0110113719"));
        assert!(!row.hides(""));
        // A date there: shifted too; a number that happens to read as a date is not.
        assert!(RowPatient::new(Some("2025-04-10"), is_type).hides("x"));
        assert!(RowPatient::new(Some("R7.4.10"), is_type).hides("x"));
        assert!(!RowPatient::new(Some("20250410"), is_type).hides("x"));
        // In place: only the row's own number is hidden, wherever it is repeated.
        let row = RowPatient::new(Some("00123"), is_type);
        assert!(!row.is_shifted() && row.hides(" 00123") && !row.hides("紹介"));
        assert!(!RowPatient::new(None, is_type).hides("00123"));
        let n = PatientNumbers::new(None).unwrap();
        assert!(n.must_hide("00123", &row) && !n.must_hide("紹介", &row));
    }

    #[test]
    fn identifier_columns_are_told_from_department_columns() {
        let judge = |values: &mut dyn Iterator<Item = String>| {
            let mut c = IdentifierColumn::new();
            values.for_each(|v| c.observe(&v));
            c.verdict()
        };
        // Patient numbers, even with return visits (each patient twice).
        let e = judge(&mut (0..100).map(|i| format!("{:08}", 99_000_000 + i / 2))).unwrap();
        assert_eq!(e, IdentifierEvidence { values: 100, identifier_like_percent: 100, distinct_percent: 50 });
        assert!(judge(&mut (0..30).map(|i| format!("P-{i:05}"))).is_some());
        // Names, blanks, repeated numeric codes, short numbers, too few values.
        let names = ["内科", "外科", "", "小児科"];
        assert!(judge(&mut (0..1000).map(|i| names[i % 4].to_string())).is_none());
        assert!(judge(&mut (0..1000).map(|_| String::new())).is_none());
        assert!(judge(&mut (0..1000).map(|i| format!("{:04}", i % 40))).is_none());
        assert!(judge(&mut (0..1000).map(|i| format!("{}", i % 999))).is_none(), "3 digits at most");
        assert!(judge(&mut (0..9).map(|i| format!("{:08}", i))).is_none());
        // Many distinct values past the tracking cap: memory stays bounded, the verdict holds.
        let mut c = IdentifierColumn::new();
        (0..20_000).for_each(|i| c.observe(&format!("{:08}", i)));
        assert_eq!(c.distinct.len() as u64, MAX_TRACKED);
        assert_eq!(c.verdict().map(|e| e.distinct_percent), Some(100));
    }
}
