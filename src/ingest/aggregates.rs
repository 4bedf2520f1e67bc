//! Reported counts (`kind: aggregates`): what a hospital reported to its prefecture, one row
//! per hospital and period, for prefecture staff who have no event logs.
//!
//! These files are small and typed by hand, so any bad row stops the file with its line and
//! field instead of being set aside: a silently dropped row would change a hospital's verdict.

use std::collections::BTreeMap;
use std::path::Path;

use super::code::parse_institution_code;
use super::format::InputFormat;
use super::format::OtherColumns;
use super::table::{TableError, heading_key, read_table};
use super::text::normalize_value;

/// The period a row reports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ReportedPeriod {
    /// `2025-04`
    Month(String),
    /// `FY2025` (2025-04..2026-03)
    FiscalYear(i32),
}

/// The largest count a hospital can report for a period: far above any hospital's year, far
/// below what could overflow the exact arithmetic of the verdicts (`threshold × count`).
pub(super) const MAX_COUNT: u64 = 1_000_000_000;

/// A count as people type it: `9811` or `9,811` (commas only between groups of three digits),
/// at most [`MAX_COUNT`]. `1,2,3` and `98,11` are not numbers.
pub(super) fn parse_count(text: &str) -> Option<u64> {
    let mut groups = text.split(',');
    let first = groups.next()?;
    let digits = |g: &str| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit());
    if !digits(first) || (text.contains(',') && first.len() > 3) {
        return None;
    }
    let mut joined = first.to_string();
    for g in groups {
        if g.len() != 3 || !digits(g) {
            return None;
        }
        joined.push_str(g);
    }
    if joined.len() > 10 {
        return None;
    }
    joined.parse::<u64>().ok().filter(|n| *n <= MAX_COUNT)
}

impl ReportedPeriod {
    /// Whether any day of the period lies in `window`.
    pub(crate) fn overlaps(&self, window: &super::format::DateWindow) -> bool {
        use chrono::NaiveDate;
        let (first, last) = match self {
            ReportedPeriod::Month(m) => {
                let Some((y, mo)) = crate::periods::parse_month(m) else { return false };
                (NaiveDate::from_ymd_opt(y, mo, 1), NaiveDate::from_ymd_opt(y, mo, 28))
            }
            ReportedPeriod::FiscalYear(y) => {
                (NaiveDate::from_ymd_opt(*y, 4, 1), NaiveDate::from_ymd_opt(y + 1, 3, 31))
            }
        };
        match (first, last) {
            (Some(first), Some(last)) => first <= window.latest && last >= window.earliest,
            _ => false,
        }
    }

    /// Parses `2025-04`, `2025/04`, `FY2025`, `2025年度`.
    pub(crate) fn parse(text: &str) -> Option<ReportedPeriod> {
        let t = normalize_value(text);
        let t = t.trim();
        if let Some(y) = t.strip_prefix("FY").or_else(|| t.strip_suffix("年度")) {
            return (y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
                .then(|| ReportedPeriod::FiscalYear(y.parse().expect("digits")));
        }
        let (y, m) = t.split_once(['-', '/'])?;
        let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
        (y >= 1900 && (1..=12).contains(&m) && t.len() <= 7)
            .then(|| ReportedPeriod::Month(format!("{y:04}-{m:02}")))
    }

    /// `month` or `fiscal-year`, as in the engine's period kinds.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ReportedPeriod::Month(_) => "month",
            ReportedPeriod::FiscalYear(_) => "fiscal-year",
        }
    }

    /// `2025-04` or `2025`.
    pub(crate) fn label(&self) -> String {
        match self {
            ReportedPeriod::Month(m) => m.clone(),
            ReportedPeriod::FiscalYear(y) => y.to_string(),
        }
    }

    /// The key used to detect overlaps: `H/2025-04` or `H/FY2025`.
    pub(crate) fn key(&self, hospital: &str) -> String {
        match self {
            ReportedPeriod::Month(m) => format!("{hospital}/{m}"),
            ReportedPeriod::FiscalYear(y) => format!("{hospital}/FY{y}"),
        }
    }
}

/// One reported row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReportedRow {
    pub hospital_code: String,
    pub period: ReportedPeriod,
    /// Count name → value, only for the counts the file has a (non-empty) value for; for a
    /// masked count, the lowest value it may be.
    pub counts: BTreeMap<String, u64>,
    /// Count name → the highest value a masked count may be (`*` in 外来機能報告: 1 to 10).
    pub masked: BTreeMap<String, u64>,
    pub line: u64,
}

impl ReportedRow {
    /// The highest value `count` may be: its value when exact.
    pub(crate) fn high(&self, count: &str) -> Option<u64> {
        self.masked.get(count).or_else(|| self.counts.get(count)).copied()
    }
}

/// A cell of a count column, as the format's vocabulary reads it.
enum CountCell {
    /// Blank, or marked not applicable.
    Absent,
    Exact(u64),
    Masked {
        low: u64,
        high: u64,
    },
}

/// Why a reported-counts file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AggregatesError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("{file}: line {line}: {message}")]
    Invalid { file: String, line: u64, message: String },
}

/// Reads a reported-counts file (a CSV, or a workbook's first sheet): a heading line with
/// `hospital_code`, `period` and any of `known_counts` (headings may be mapped with the
/// input's `columns:`), then one row per hospital and period. Counts may be written with
/// thousands separators (`"9,811"`).
pub(crate) fn read_aggregates(
    path: &Path,
    display_name: &str,
    format: &InputFormat,
    known_counts: &[&str],
) -> Result<Vec<ReportedRow>, AggregatesError> {
    let file = display_name.to_string();
    let invalid = |line: u64, message: String| AggregatesError::Invalid { file: file.clone(), line, message };
    let table = read_table(path, display_name, &format.table_layout())?;
    // Headings are matched as the hospital master's are: after NFKC, without whitespace.
    let mapped: BTreeMap<String, &String> =
        format.columns.iter().map(|(heading, field)| (heading_key(heading), field)).collect();
    let mut cols: Vec<Option<String>> = Vec::new();
    for heading in &table.headings {
        let key = heading_key(heading);
        let name = mapped.get(&key).map(|f| f.to_string()).unwrap_or(key.clone());
        let known = name == "hospital_code" || name == "period" || known_counts.contains(&name.as_str());
        if !known && !key.is_empty() && format.other_columns == OtherColumns::Refuse {
            return Err(invalid(
                table.heading_row,
                format!(
                    "heading {heading:?} is not hospital_code, period or a count ({}); map it under columns:, \
                     remove the column, or set other_columns: ignore",
                    known_counts.join(", ")
                ),
            ));
        }
        cols.push(known.then_some(name));
    }
    let fixed_period = match &format.period {
        Some(p) => Some(ReportedPeriod::parse(p).ok_or_else(|| {
            invalid(table.heading_row, format!("format.period {p:?} is neither a month nor a fiscal year"))
        })?),
        None => None,
    };
    let has = |field: &str| cols.iter().any(|n| n.as_deref() == Some(field));
    if !has("hospital_code") {
        return Err(invalid(
            table.heading_row,
            "required column hospital_code not found in the heading line (map its heading under columns:)"
                .into(),
        ));
    }
    match (has("period"), &fixed_period) {
        (false, None) => {
            return Err(invalid(
                table.heading_row,
                "required column period not found in the heading line; a file that covers one period \
                 says which in the input's format (period: FY2022)"
                    .into(),
            ));
        }
        (true, Some(_)) => {
            return Err(invalid(
                table.heading_row,
                "the file has a period column and the input's format sets period: keep one".into(),
            ));
        }
        _ => {}
    }
    if let Some(window_error) = fixed_period.as_ref().filter(|p| !p.overlaps(&format.date_window)) {
        return Err(invalid(
            table.heading_row,
            format!(
                "format.period {} is outside the plausible dates {}..{} (dates: in the config)",
                window_error.label(),
                format.date_window.earliest,
                format.date_window.latest
            ),
        ));
    }
    let masks: BTreeMap<String, [u64; 2]> =
        format.masked.iter().map(|(v, range)| (normalize_value(v).trim().to_string(), *range)).collect();
    let not_applicable: Vec<String> =
        format.not_applicable.iter().map(|v| normalize_value(v).trim().to_string()).collect();
    let cell = |value: &str| -> Option<CountCell> {
        if value.is_empty() || not_applicable.iter().any(|n| n == value) {
            return Some(CountCell::Absent);
        }
        if let Some([low, high]) = masks.get(value) {
            return Some(if low == high {
                CountCell::Exact(*low)
            } else {
                CountCell::Masked { low: *low, high: *high }
            });
        }
        parse_count(value).map(CountCell::Exact)
    };
    let mut rows = Vec::new();
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for row in &table.rows {
        let number = row.row;
        if row.cells.len() > cols.len() && row.cells[cols.len()..].iter().any(|c| !c.trim().is_empty()) {
            return Err(invalid(
                number,
                format!("expected {} fields, found {}", cols.len(), row.cells.len()),
            ));
        }
        if row.cells.len() < cols.len() && format.other_columns == OtherColumns::Refuse {
            return Err(invalid(
                number,
                format!("expected {} fields, found {}", cols.len(), row.cells.len()),
            ));
        }
        let mut hospital = None;
        let mut period = fixed_period.clone();
        let mut counts = BTreeMap::new();
        let mut masked = BTreeMap::new();
        // The column each field came from, so that a heading the file has twice must agree.
        let mut taken: BTreeMap<&str, (usize, String)> = BTreeMap::new();
        for (i, name) in cols.iter().enumerate() {
            let Some(name) = name else { continue };
            let value =
                normalize_value(row.cells.get(i).map(String::as_str).unwrap_or("")).trim().to_string();
            if let Some((first, before)) = taken.get(name.as_str()) {
                if *before != value {
                    return Err(invalid(
                        number,
                        format!(
                            "field {name}: columns {} and {} (both read as {name}) differ: {before:?} and {value:?}",
                            first + 1,
                            i + 1
                        ),
                    ));
                }
                continue;
            }
            taken.insert(name, (i, value.clone()));
            match name.as_str() {
                "hospital_code" => {
                    let code =
                        parse_institution_code(&format.code_text(&value), format.pad_codes).map_err(|e| {
                            invalid(number, format!("field hospital_code: {value:?}: {}", e.detail()))
                        })?;
                    if format.strict_codes && !code.check_digit_ok {
                        return Err(invalid(
                            number,
                            format!("field hospital_code: {value:?}: bad check digit"),
                        ));
                    }
                    hospital = Some(code.code);
                }
                "period" => {
                    let p = ReportedPeriod::parse(&value).ok_or_else(|| {
                        invalid(number, format!("field period: {value:?} is neither a month (2025-04) nor a fiscal year (FY2025)"))
                    })?;
                    let window = &format.date_window;
                    if !p.overlaps(window) {
                        return Err(invalid(
                            number,
                            format!(
                                "field period: {value:?} is outside the plausible dates {}..{} (dates: in the config)",
                                window.earliest, window.latest
                            ),
                        ));
                    }
                    period = Some(p);
                }
                count => match cell(&value) {
                    Some(CountCell::Absent) => {}
                    Some(CountCell::Exact(n)) => {
                        counts.insert(count.to_string(), n);
                    }
                    Some(CountCell::Masked { low, high }) => {
                        counts.insert(count.to_string(), low);
                        masked.insert(count.to_string(), high);
                    }
                    None => {
                        let marks: Vec<String> = masks
                            .keys()
                            .map(|m| format!("{m:?} masked"))
                            .chain(not_applicable.iter().map(|n| format!("{n:?} not applicable")))
                            .collect();
                        return Err(invalid(
                            number,
                            format!(
                                "field {count}: {value:?} is not a whole number from 0 to {MAX_COUNT} \
                                 (digits, thousands separated by commas in groups of three: 9,811){}",
                                if marks.is_empty() {
                                    String::new()
                                } else {
                                    format!(", nor {}", marks.join(", "))
                                }
                            ),
                        ));
                    }
                },
            }
        }
        let (Some(hospital_code), Some(period)) = (hospital, period) else {
            return Err(invalid(number, "hospital_code and period must not be empty".into()));
        };
        let key = period.key(&hospital_code);
        if let Some(first) = seen.insert(key.clone(), number) {
            return Err(invalid(
                number,
                format!("{key} is reported twice (first on line {first}); keep one row"),
            ));
        }
        rows.push(ReportedRow { hospital_code, period, counts, masked, line: number });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [&str; 3] = ["initial_patients", "referred_patients", "return_visits"];

    fn read(text: &[u8], format: &InputFormat) -> Result<Vec<ReportedRow>, AggregatesError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("counts.csv");
        std::fs::write(&path, text).unwrap();
        read_aggregates(&path, "counts.csv", format, &KNOWN)
    }

    #[test]
    fn counts_are_strict_and_bounded() {
        for (text, expected) in [
            ("0", Some(0)),
            ("9811", Some(9811)),
            ("9,811", Some(9811)),
            ("1,000,000,000", Some(MAX_COUNT)),
            ("1,000,000,001", None),
            ("115292150460684698", None),
            ("18446744073709551615", None),
            ("1,2,3", None),
            ("98,11", None),
            ("1234,567", None),
            (",123", None),
            ("12,", None),
            ("-3", None),
            ("1.5", None),
            ("", None),
        ] {
            assert_eq!(parse_count(text), expected, "{text}");
        }
    }

    #[test]
    fn periods_outside_the_window_are_implausible() {
        let window = crate::ingest::DateWindow {
            earliest: chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
            latest: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        };
        for (p, ok) in [
            ("FY0000", false),
            ("FY9999", false),
            ("FY1999", true),
            ("FY2026", true),
            ("FY2027", false),
            ("2026-12", true),
            ("2027-01", false),
            ("1999-12", false),
        ] {
            assert_eq!(ReportedPeriod::parse(p).unwrap().overlaps(&window), ok, "{p}");
        }
    }

    #[test]
    fn periods_parse() {
        assert_eq!(ReportedPeriod::parse("2025-04"), Some(ReportedPeriod::Month("2025-04".into())));
        assert_eq!(ReportedPeriod::parse("2025/4"), Some(ReportedPeriod::Month("2025-04".into())));
        assert_eq!(ReportedPeriod::parse("FY2024"), Some(ReportedPeriod::FiscalYear(2024)));
        assert_eq!(ReportedPeriod::parse("2024年度"), Some(ReportedPeriod::FiscalYear(2024)));
        for bad in ["2025-13", "FY25", "April", ""] {
            assert_eq!(ReportedPeriod::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn rows_keep_only_the_counts_given() {
        let rows = read(
            "\u{feff}hospital_code,period,initial_patients,referred_patients,return_visits\r\n0110113719,FY2024,\"9,811\",9470,\r\n0110113719,2025-04,10,7,3\r\n".as_bytes(),
            &InputFormat::default(),
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].period, ReportedPeriod::FiscalYear(2024));
        assert_eq!(rows[0].counts.get("initial_patients"), Some(&9811));
        assert_eq!(rows[0].counts.get("return_visits"), None);
        assert_eq!(rows[1].counts.get("return_visits"), Some(&3));
        assert_eq!(rows[1].line, 3);
    }

    #[test]
    fn a_workbook_reads_as_the_same_rows_as_its_csv() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("counts.xlsx");
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (col, h) in ["hospital_code", "period", "initial_patients", "referred_patients", "return_visits"]
            .iter()
            .enumerate()
        {
            sheet.write_string(0, col as u16, *h).unwrap();
        }
        sheet.write_string(1, 0, "0110113719").unwrap();
        sheet.write_string(1, 1, "FY2024").unwrap();
        sheet.write_number(1, 2, 9811.0).unwrap();
        sheet.write_string(1, 3, "9,470").unwrap();
        sheet.write_string(2, 0, "0110113719").unwrap();
        sheet.write_string(2, 1, "2025-04").unwrap();
        for (col, n) in [(2u16, 10.0), (3, 7.0), (4, 3.0)] {
            sheet.write_number(2, col, n).unwrap();
        }
        book.save(&path).unwrap();
        let from_book = read_aggregates(&path, "counts.xlsx", &InputFormat::default(), &KNOWN).unwrap();
        let from_csv = read(
            b"hospital_code,period,initial_patients,referred_patients,return_visits\n0110113719,FY2024,9811,9470,\n0110113719,2025-04,10,7,3\n",
            &InputFormat::default(),
        )
        .unwrap();
        assert_eq!(from_book, from_csv);
    }

    fn open_data_format() -> InputFormat {
        InputFormat {
            period: Some("FY2022".into()),
            masked: [("*".to_string(), [1, 10])].into(),
            not_applicable: vec!["-".into()],
            other_columns: OtherColumns::Ignore,
            columns: [
                ("医療機関コード", "hospital_code"),
                ("初診患者数（年間）", "initial_patients"),
                ("紹介患者数（年間）", "referred_patients"),
            ]
            .into_iter()
            .map(|(h, f)| (h.to_string(), f.to_string()))
            .collect(),
            ..InputFormat::default()
        }
    }

    #[test]
    fn masks_are_intervals_and_not_applicable_is_not_reported() {
        // Headings matched after NFKC and without whitespace; 医療機関名 is ignored.
        let rows = read(
            "医療機関 コード,医療機関名,初診患者数(年間),紹介患者数(年間)\n0110113719,札幌,12,*\n1310123458,小平,-,30\n".as_bytes(),
            &open_data_format(),
        )
        .unwrap();
        assert_eq!(rows[0].period, ReportedPeriod::FiscalYear(2022));
        assert_eq!(rows[0].counts.get("referred_patients"), Some(&1));
        assert_eq!(rows[0].high("referred_patients"), Some(10));
        assert_eq!(rows[0].high("initial_patients"), Some(12), "an exact count is its own bound");
        assert_eq!(rows[1].counts.get("initial_patients"), None);
        assert_eq!(rows[1].high("initial_patients"), None);
    }

    #[test]
    fn open_data_mistakes_are_named() {
        let f = open_data_format();
        let cases: [(&str, &str); 3] = [
            // A mark the format does not know is not a number.
            (
                "医療機関コード,初診患者数（年間）\n0110113719,x\n",
                "line 2: field initial_patients: \"x\" is not a whole number",
            ),
            // A file with a period column and a fixed period: which one holds?
            ("医療機関コード,period,初診患者数（年間）\n0110113719,FY2022,3\n", "keep one"),
            // A heading the file has twice must agree on every row.
            (
                "医療機関コード,初診患者数（年間）,初診患者数（年間）\n0110113719,3,4\n",
                "field initial_patients: columns 2 and 3",
            ),
        ];
        for (text, expected) in cases {
            let err = read(text.as_bytes(), &f).unwrap_err().to_string();
            assert!(err.contains(expected) && err.contains("counts.csv"), "{err}");
        }
        let without_period = InputFormat { period: None, ..open_data_format() };
        let err = read("医療機関コード,初診患者数（年間）\n0110113719,3\n".as_bytes(), &without_period)
            .unwrap_err()
            .to_string();
        assert!(err.contains("period: FY2022"), "{err}");
    }

    #[test]
    fn reported_formats_are_checked_before_any_file_is_read() {
        let known: Vec<&str> = KNOWN.to_vec();
        let check = |f: InputFormat| f.validate_aggregates(&known).map_err(|e| e.to_string());
        // Headings map to counts (refused by the event-log check before).
        let counts = InputFormat {
            columns: [("初診患者の数".to_string(), "initial_patients".to_string())].into(),
            ..InputFormat::default()
        };
        assert_eq!(check(counts.clone()), Ok(()));
        assert!(counts.validate().is_err(), "an event log has no initial_patients column");
        for (f, expected) in [
            (
                InputFormat {
                    columns: [("x".to_string(), "beds".to_string())].into(),
                    ..InputFormat::default()
                },
                "maps to \"beds\"",
            ),
            (InputFormat { period: Some("2022".into()), ..InputFormat::default() }, "period: \"2022\""),
            (
                InputFormat { masked: [("*".to_string(), [10, 1])].into(), ..InputFormat::default() },
                "in order",
            ),
            (
                InputFormat { masked: [("5".to_string(), [1, 10])].into(), ..InputFormat::default() },
                "a number",
            ),
            (
                InputFormat { heading_row: Some(5), first_data_row: Some(5), ..InputFormat::default() },
                "must come after heading_row",
            ),
        ] {
            let e = check(f).unwrap_err();
            assert!(e.contains(expected), "{e}");
        }
        // Keys of reported counts only are refused on an event log.
        let e = InputFormat { period: Some("FY2024".into()), ..InputFormat::default() }
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("period") && e.contains("kind: aggregates"), "{e}");
    }

    #[test]
    fn bad_rows_stop_the_file_with_line_and_field() {
        let f = InputFormat::default();
        let cases: [(&str, &str); 5] = [
            (
                "hospital_code,period,initial_patients\n0110113719,FY2024,-3\n",
                "line 2: field initial_patients",
            ),
            ("hospital_code,period,initial_patients\n110113719,FY2024,3\n", "line 2: field hospital_code"),
            ("hospital_code,period,initial_patients\n0110113719,2024,3\n", "line 2: field period"),
            ("hospital_code,period,beds\n", "heading \"beds\""),
            (
                "hospital_code,period,initial_patients\n0110113719,FY2024,3\n0110113719,FY2024,4\n",
                "line 3: 0110113719/FY2024 is reported twice (first on line 2)",
            ),
        ];
        for (text, expected) in cases {
            let err = read(text.as_bytes(), &f).unwrap_err().to_string();
            assert!(err.contains(expected) && err.contains("counts.csv"), "{err}");
        }
    }
}
