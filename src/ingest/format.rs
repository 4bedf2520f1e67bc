//! Per-input layout and vocabulary, as written in the YAML config.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::event::{EventType, Field};
use super::text::normalize_value;

/// Per-input layout and vocabulary; embedded in the YAML config. Every field has a default,
/// and the defaults describe the canonical format (UTF-8, comma, heading line with canonical
/// names, flags 1/0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputFormat {
    /// Character encoding of the file. A UTF-8 BOM is stripped whatever this says.
    pub encoding: InputEncoding,
    /// Field separator; must be one ASCII character other than `"`, CR or LF.
    pub delimiter: char,
    /// Whether the first line holds the column headings.
    pub header: bool,
    /// File heading → canonical field name, e.g. `"医療機関コード": hospital_code`. Empty means
    /// the headings are the canonical names. With `header: false`, keys are 1-based column
    /// numbers ("1", "2", …).
    pub columns: BTreeMap<String, String>,
    /// Vocabularies for event types and flags.
    pub values: ValueMaps,
    /// Repair 9-digit institution codes with a leading zero (a spreadsheet dropped it).
    pub pad_codes: bool,
    /// Reject rows whose institution code has a wrong check digit, instead of warning.
    pub strict_codes: bool,
    /// Remove hyphens from institution codes before reading them (`26-1-492377-5`, as printed
    /// on forms, reads as `2614923775`).
    pub strip_code_hyphens: bool,
    /// Whether every row must fall in one month, and how that month is known.
    pub file_month: FileMonth,
    /// Count columns this export really lacks, read as 0/empty (e.g. `[checkup_origin]` for a
    /// hospital without health checkups). Any other column the counts use must be mapped:
    /// an unmapped 紹介状 column read as 0 would turn a passing hospital into a failing one.
    /// `department` is always optional (it only feeds the breakdown by department).
    pub optional_columns: Vec<String>,
    /// A regular expression matching this input's patient numbers (anywhere in a value; anchor
    /// it with `^…$` for whole values). A reject value it matches is shown as "***", whatever
    /// field it landed in. Without it, values shaped like the file's own patient numbers are.
    pub patient_id_pattern: Option<String>,
    /// The sheet of a workbook (`.xlsx`), by name or position; the first by default.
    pub sheet: Option<super::table::SheetRef>,
    /// The row (line of a CSV, row of a sheet, from 1) holding the headings; by default the
    /// first non-blank one. 外来機能報告 workbooks: 5.
    pub heading_row: Option<u64>,
    /// The first row of data; by default the one after the headings. 外来機能報告 workbooks: 7
    /// (row 6 marks each column 必須/任意).
    pub first_data_row: Option<u64>,
    /// Reported counts only: the period every row reports, for a file without a period
    /// column (an 外来機能報告 workbook covers one fiscal year): `FY2022`.
    pub period: Option<String>,
    /// Reported counts only: cell values that stand for a masked count, and the interval it
    /// hides (`"*": [1, 10]` in 外来機能報告). A masked count is kept as that interval; a
    /// verdict is pass or fail only if every value in it agrees.
    pub masked: BTreeMap<String, [u64; 2]>,
    /// Reported counts only: cell values meaning "not applicable" (`-`), read as not reported.
    pub not_applicable: Vec<String>,
    /// Reported counts only: a heading that maps to nothing is refused (`refuse`, the default)
    /// or skipped (`ignore`, for a government file with dozens of columns).
    pub other_columns: OtherColumns,
    /// The plausible dates; set from the config's `dates:` for every input, not per input.
    #[serde(skip)]
    pub date_window: DateWindow,
}

/// What a reported-counts reader does with a heading that maps to no field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtherColumns {
    /// Stop with the heading's name: a count under an unexpected heading would be lost.
    #[default]
    Refuse,
    /// Skip it.
    Ignore,
}

/// The dates a row may have: from `earliest` (default 2000-01-01) to `latest` (default the
/// run date). A row outside is a reject with its line: a typo such as `R17.5.2` for `R7.5.2`
/// must not become a month of 2035 that hides the real latest fiscal year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateWindow {
    pub earliest: chrono::NaiveDate,
    pub latest: chrono::NaiveDate,
}

impl DateWindow {
    /// The default earliest date: before it no 地域医療支援病院 data in this form exists.
    pub const DEFAULT_EARLIEST: chrono::NaiveDate = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();

    /// 2000-01-01 to today (the machine's local date).
    pub fn until_today() -> DateWindow {
        DateWindow { earliest: Self::DEFAULT_EARLIEST, latest: chrono::Local::now().date_naive() }
    }

    pub fn contains(&self, date: chrono::NaiveDate) -> bool {
        (self.earliest..=self.latest).contains(&date)
    }
}

impl Default for DateWindow {
    fn default() -> Self {
        DateWindow::until_today()
    }
}

impl Default for InputFormat {
    fn default() -> Self {
        InputFormat {
            encoding: InputEncoding::Utf8,
            delimiter: ',',
            header: true,
            columns: BTreeMap::new(),
            values: ValueMaps::default(),
            pad_codes: false,
            strict_codes: false,
            strip_code_hyphens: false,
            file_month: FileMonth::None,
            optional_columns: Vec::new(),
            sheet: None,
            heading_row: None,
            first_data_row: None,
            period: None,
            masked: BTreeMap::new(),
            not_applicable: Vec::new(),
            other_columns: OtherColumns::Refuse,
            date_window: DateWindow::default(),
            patient_id_pattern: None,
        }
    }
}

/// Character encodings hospital exports come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum InputEncoding {
    #[default]
    #[serde(rename = "utf-8", alias = "utf8", alias = "UTF-8")]
    Utf8,
    /// Shift_JIS as Windows writes it (Windows-31J); the same decoder as `cp932`.
    #[serde(rename = "shift_jis", alias = "sjis", alias = "Shift_JIS")]
    ShiftJis,
    #[serde(rename = "cp932", alias = "windows-31j", alias = "CP932")]
    Cp932,
}

impl InputEncoding {
    /// The name used in the config and in file statistics.
    pub fn name(self) -> &'static str {
        match self {
            InputEncoding::Utf8 => "utf-8",
            InputEncoding::ShiftJis => "shift_jis",
            InputEncoding::Cp932 => "cp932",
        }
    }

    /// `None` for UTF-8 (decoded with the standard library), else the encoding_rs decoder.
    /// encoding_rs's SHIFT_JIS is the WHATWG Shift_JIS, i.e. Windows-31J / CP932.
    pub(crate) fn decoder(self) -> Option<&'static encoding_rs::Encoding> {
        match self {
            InputEncoding::Utf8 => None,
            InputEncoding::ShiftJis | InputEncoding::Cp932 => Some(encoding_rs::SHIFT_JIS),
        }
    }
}

/// How the month a file covers is known; rows outside it are rejected `outside_file_month`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileMonth {
    /// No check.
    #[default]
    None,
    /// The first `YYYY-MM`, `YYYY_MM` or `YYYYMM` in the file name (not the folder).
    FromName,
    /// The month of the first valid row.
    FirstRow,
}

/// Vocabularies mapping file values to canonical ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValueMaps {
    /// File value → canonical event type. Canonical names are always accepted too.
    pub event_type: BTreeMap<String, String>,
    /// Values meaning true. "1" is always accepted.
    pub true_values: Vec<String>,
    /// Values meaning false. "0" is always accepted.
    pub false_values: Vec<String>,
}

impl Default for ValueMaps {
    fn default() -> Self {
        ValueMaps {
            event_type: [("初診", "first_visit"), ("再診", "return_visit"), ("逆紹介", "referral_out")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            true_values: vec!["1".into()],
            false_values: vec!["0".into(), String::new()],
        }
    }
}

/// A config mistake in an input format, found before any file is read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("input format: {0}")]
pub struct FormatError(pub String);

fn canonical_names() -> String {
    Field::ALL.map(Field::name).join(", ")
}

impl InputFormat {
    /// An institution code as this input's codes are written, ready to parse: hyphens removed
    /// when `strip_code_hyphens` says so.
    pub fn code_text<'a>(&self, raw: &'a str) -> std::borrow::Cow<'a, str> {
        super::code::code_text(raw, self.strip_code_hyphens)
    }

    /// Whether a file may lack `field` (read as 0/empty): `department`, or a column listed in
    /// `optional_columns`.
    pub fn may_lack(&self, field: Field) -> bool {
        field == Field::Department || self.optional_columns.iter().any(|c| c == field.name())
    }

    fn validate_delimiter(&self) -> Result<(), FormatError> {
        let d = self.delimiter;
        if !d.is_ascii() || matches!(d, '"' | '\r' | '\n') {
            return Err(FormatError(format!(
                "delimiter {d:?} is not allowed: use one ASCII character such as ',' ';' '|' \
                 or a tab (\"\\t\"), not a quote or a line break"
            )));
        }
        Ok(())
    }

    /// The layout of the table a reported-counts file holds.
    pub(crate) fn table_layout(&self) -> super::table::TableFormat {
        super::table::TableFormat {
            encoding: self.encoding,
            delimiter: self.delimiter,
            sheet: self.sheet.clone(),
            heading_row: self.heading_row,
            first_data_row: self.first_data_row,
            ..super::table::TableFormat::default()
        }
    }

    /// Checks a reported-counts format: `columns:` map headings to `hospital_code`, `period`
    /// or one of `counts`; masks and the fixed period are well formed.
    pub fn validate_aggregates(&self, counts: &[&str]) -> Result<(), FormatError> {
        self.validate_delimiter()?;
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (heading, field) in &self.columns {
            if field != "hospital_code" && field != "period" && !counts.contains(&field.as_str()) {
                return Err(FormatError(format!(
                    "columns: {heading:?} maps to {field:?}; reported counts are hospital_code, period or one of {}",
                    counts.join(", ")
                )));
            }
            if let Some(other) = seen.insert(field, heading) {
                return Err(FormatError(format!(
                    "columns: both {other:?} and {heading:?} map to {field}; keep one"
                )));
            }
        }
        if let Some(p) = &self.period
            && super::aggregates::ReportedPeriod::parse(p).is_none()
        {
            return Err(FormatError(format!(
                "period: {p:?} is neither a month (2025-04) nor a fiscal year (FY2025)"
            )));
        }
        if let (Some(h), Some(d)) = (self.heading_row, self.first_data_row)
            && d <= h
        {
            return Err(FormatError(format!("first_data_row {d} must come after heading_row {h}")));
        }
        for (value, [low, high]) in &self.masked {
            let v = normalize_value(value);
            if v.trim().is_empty() || super::aggregates::parse_count(v.trim()).is_some() {
                return Err(FormatError(format!(
                    "masked: {value:?} cannot mark a masked count: it is empty or a number"
                )));
            }
            if low > high || *high > super::aggregates::MAX_COUNT {
                return Err(FormatError(format!(
                    "masked: {value:?} hides [{low}, {high}]: write the lowest and the highest value it may stand for, in order"
                )));
            }
            if self.not_applicable.contains(value) {
                return Err(FormatError(format!("{value:?} is listed both as masked and as not_applicable")));
            }
        }
        for value in &self.not_applicable {
            if super::aggregates::parse_count(normalize_value(value).trim()).is_some() {
                return Err(FormatError(format!("not_applicable: {value:?} is a number")));
            }
        }
        Ok(())
    }

    /// Checks what serde cannot: the delimiter, the `columns:` mapping and the vocabularies.
    pub fn validate(&self) -> Result<(), FormatError> {
        self.validate_delimiter()?;
        if let (Some(h), Some(d)) = (self.heading_row, self.first_data_row)
            && d <= h
        {
            return Err(FormatError(format!("first_data_row {d} must come after heading_row {h}")));
        }
        let only_reported = [
            ("period", self.period.is_some()),
            ("masked", !self.masked.is_empty()),
            ("not_applicable", !self.not_applicable.is_empty()),
            ("other_columns", self.other_columns != OtherColumns::Refuse),
        ];
        if let Some((key, _)) = only_reported.iter().find(|(_, set)| *set) {
            return Err(FormatError(format!(
                "{key}: is for reported counts (kind: aggregates), not for an event log"
            )));
        }
        let mut seen: BTreeMap<Field, &str> = BTreeMap::new();
        for (heading, field) in &self.columns {
            let Some(f) = Field::from_name(field) else {
                return Err(FormatError(format!(
                    "columns: {heading:?} maps to unknown field {field:?}; expected one of {}",
                    canonical_names()
                )));
            };
            if let Some(other) = seen.insert(f, heading) {
                return Err(FormatError(format!(
                    "columns: both {other:?} and {heading:?} map to {field}; keep one"
                )));
            }
            if self.header {
                if heading.trim().is_empty() {
                    return Err(FormatError(format!(
                        "columns: an empty heading maps to {field}; write the heading as it \
                         appears in the file"
                    )));
                }
            } else if !matches!(heading.parse::<usize>(), Ok(n) if n >= 1) {
                return Err(FormatError(format!(
                    "columns: with header: false the keys are column numbers starting at 1, \
                     but {heading:?} maps to {field}"
                )));
            }
        }
        for name in &self.optional_columns {
            match Field::from_name(name) {
                Some(f) if f.is_required() => {
                    return Err(FormatError(format!(
                        "optional_columns: {name} cannot be optional: no row can be counted without it"
                    )));
                }
                Some(_) => {}
                None => {
                    return Err(FormatError(format!(
                        "optional_columns: unknown field {name:?}; expected one of {}",
                        canonical_names()
                    )));
                }
            }
        }
        if !self.header && !self.columns.is_empty() {
            for f in Field::ALL.into_iter().filter(|f| f.is_required()) {
                if !seen.contains_key(&f) {
                    return Err(FormatError(format!(
                        "columns: with header: false every required field needs a column \
                         number, and {f} has none"
                    )));
                }
            }
        }
        for (value, canonical) in &self.values.event_type {
            if EventType::parse(canonical).is_none() {
                return Err(FormatError(format!(
                    "values.event_type: {value:?} maps to {canonical:?}; expected first_visit, \
                     return_visit or referral_out"
                )));
            }
        }
        let norm = |v: &String| normalize_value(v).into_owned();
        let trues: Vec<String> = self.values.true_values.iter().map(norm).collect();
        for f in &self.values.false_values {
            let f = norm(f);
            if trues.contains(&f) || f == "1" {
                return Err(FormatError(format!("values: {f:?} is listed as both true and false")));
            }
        }
        if trues.iter().any(|t| t == "0") {
            return Err(FormatError("values.true_values: \"0\" always means false".into()));
        }
        if let Some(p) = &self.patient_id_pattern {
            super::privacy::compile(p)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_canonical_format() {
        let f: InputFormat = serde_yaml::from_str("{}").unwrap();
        assert_eq!(f, InputFormat::default());
        assert_eq!(f.encoding, InputEncoding::Utf8);
        assert_eq!(f.delimiter, ',');
        assert!(f.header);
        assert_eq!(f.values.event_type["初診"], "first_visit");
        assert_eq!(f.values.false_values, vec!["0".to_string(), String::new()]);
        f.validate().unwrap();
    }

    #[test]
    fn full_yaml_parses() {
        let y = r#"
encoding: cp932
delimiter: "\t"
columns:
  医療機関コード: hospital_code
  受診日: event_date
values:
  true_values: ["1", "○", "あり"]
  false_values: ["0", "", "なし"]
pad_codes: true
file_month: from_name
"#;
        let f: InputFormat = serde_yaml::from_str(y).unwrap();
        assert_eq!(f.encoding, InputEncoding::Cp932);
        assert_eq!(f.delimiter, '\t');
        assert_eq!(f.columns["受診日"], "event_date");
        assert_eq!(f.file_month, FileMonth::FromName);
        assert!(f.pad_codes && !f.strict_codes);
        // a partial `values:` keeps the default event-type vocabulary
        assert_eq!(f.values.event_type.len(), 3);
        f.validate().unwrap();
        let s: InputFormat = serde_yaml::from_str("encoding: shift_jis").unwrap();
        assert_eq!(s.encoding.name(), "shift_jis");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = serde_yaml::from_str::<InputFormat>("delimeter: ';'").unwrap_err();
        assert!(e.to_string().contains("delimeter"), "{e}");
        let e = serde_yaml::from_str::<InputFormat>("values: {yes: [a]}").unwrap_err();
        assert!(e.to_string().contains("yes"), "{e}");
        assert!(serde_yaml::from_str::<InputFormat>("encoding: latin1").is_err());
    }

    #[test]
    fn validate_catches_mistakes() {
        let mut f = InputFormat { delimiter: '、', ..InputFormat::default() };
        let e = f.validate().unwrap_err().to_string();
        assert!(e.contains("delimiter '、'"), "{e}");
        f.delimiter = '"';
        assert!(f.validate().is_err());

        let mut f = InputFormat::default();
        f.columns.insert("受診日".into(), "visit_date".into());
        let e = f.validate().unwrap_err().to_string();
        assert!(e.contains("\"visit_date\"") && e.contains("event_date"), "{e}");

        let mut f = InputFormat::default();
        f.columns.insert("受診日".into(), "event_date".into());
        f.columns.insert("来院日".into(), "event_date".into());
        assert!(f.validate().unwrap_err().to_string().contains("keep one"));

        let mut f = InputFormat { header: false, ..InputFormat::default() };
        f.columns.insert("A".into(), "event_date".into());
        assert!(f.validate().unwrap_err().to_string().contains("column numbers"));
        f.columns.clear();
        f.columns.insert("2".into(), "event_date".into());
        let e = f.validate().unwrap_err().to_string();
        assert!(e.contains("hospital_code has none"), "{e}");

        let mut f = InputFormat::default();
        f.values.event_type.insert("紹介".into(), "referral_in".into());
        assert!(f.validate().unwrap_err().to_string().contains("referral_in"));

        let mut f = InputFormat::default();
        f.values.true_values.push("".into());
        assert!(f.validate().unwrap_err().to_string().contains("both true and false"));
    }
}
