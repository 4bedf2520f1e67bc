//! The yearly facts the approval requirements read (`approval_facts:` in the config): one row
//! per hospital and fiscal year with any of ambulance transports, the 二次医療圏's population,
//! training sessions, beds and shared use, as a prefecture collects them (a CSV in any
//! encoding, or a workbook). A blank cell is a fact not given: its requirement is unknown,
//! never met. Any value that cannot be read stops the run with its row and field, as the
//! hospital master does.

use std::collections::BTreeMap;
use std::path::Path;

use super::aggregates::parse_count;
use super::master::{MasterError, MasterSource, field_columns};
use super::table::{position_word, read_table};
use super::text::normalize_value;

/// The columns of the facts table.
pub(crate) const FACT_FIELDS: [&str; 7] = [
    "hospital_code",
    "fiscal_year",
    "ambulance_transports",
    "area_population",
    "training_sessions",
    "beds",
    "shared_use",
];

/// Headings prefectures use, by field; compared after NFKC without whitespace.
const JAPANESE_HEADINGS: [(&str, &str); 14] = [
    ("医療機関コード", "hospital_code"),
    ("年度", "fiscal_year"),
    ("救急搬送の受入件数", "ambulance_transports"),
    ("救急搬送受入件数", "ambulance_transports"),
    ("救急車の受入件数（年間）", "ambulance_transports"),
    ("二次医療圏の人口", "area_population"),
    ("二次医療圏人口", "area_population"),
    ("研修の開催回数", "training_sessions"),
    ("研修回数", "training_sessions"),
    ("病床数", "beds"),
    ("許可病床数", "beds"),
    ("共同利用", "shared_use"),
    ("共同利用の有無", "shared_use"),
    ("共同利用の体制", "shared_use"),
];

/// One hospital-year of facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FactsRow {
    pub hospital_code: String,
    pub fiscal_year: i32,
    /// Fact name → value (shared use: 1 yes, 0 no), only for the facts given.
    pub values: BTreeMap<&'static str, u64>,
    /// The row of the file, for the trail shown beside each value.
    pub row: u64,
}

/// `FY2024`, `2024`, `2024年度`, `令和6年度`, `R6`, `平成30年度` → 2024, …
fn parse_fiscal_year(text: &str) -> Option<i32> {
    let t = normalize_value(text);
    let t = t.trim().trim_end_matches("年度");
    let t = t.strip_prefix("FY").unwrap_or(t);
    if t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().ok().filter(|y| (1900..=2100).contains(y));
    }
    for (era, offset) in [("令和", 2018), ("R", 2018), ("平成", 1988), ("H", 1988)] {
        if let Some(n) = t.strip_prefix(era) {
            let n = if n == "元" { 1 } else { n.parse::<i32>().ok()? };
            return (1..=99).contains(&n).then_some(offset + n);
        }
    }
    None
}

/// あり/なし, 有/無, ○/×, yes/no, true/false, 1/0.
fn parse_yes_no(text: &str) -> Option<u64> {
    let t = normalize_value(text).trim().to_lowercase();
    match t.as_str() {
        "1" | "あり" | "有" | "○" | "〇" | "yes" | "true" => Some(1),
        "0" | "なし" | "無" | "×" | "no" | "false" => Some(0),
        _ => None,
    }
}

/// Reads the facts table. A hospital-year listed twice is refused, naming both rows.
pub(crate) fn load_facts(source: Option<&MasterSource>) -> Result<Vec<FactsRow>, MasterError> {
    let Some(source) = source else { return Ok(Vec::new()) };
    let path: &Path = &source.path;
    let table = read_table(path, &path.display().to_string(), &source.format)
        .map_err(|e| MasterError::Table { list: source.list, source: e })?;
    let columns = field_columns(source, &table.headings, &FACT_FIELDS, &JAPANESE_HEADINGS)?;
    let refuse =
        |message: String| MasterError::Headings { list: source.list, path: path.to_path_buf(), message };
    if !columns.contains_key("fiscal_year") {
        return Err(refuse(
            "no column gives fiscal_year (年度): name it fiscal_year or 年度, or map it under columns:"
                .into(),
        ));
    }
    let field_error =
        |row: u64, field: &'static str, message: String| source.field_error(row, field, message);
    let mut seen: BTreeMap<(String, i32), u64> = BTreeMap::new();
    let mut out = Vec::new();
    for row in &table.rows {
        let cell = |field: &str| {
            columns.get(field).and_then(|&i| row.cells.get(i)).map(|v| v.trim()).filter(|v| !v.is_empty())
        };
        let raw = cell("hospital_code").unwrap_or("");
        let code = source.code(row.row, "hospital_code", raw)?;
        let year = cell("fiscal_year").unwrap_or("");
        let fiscal_year = parse_fiscal_year(year).ok_or_else(|| {
            field_error(
                row.row,
                "fiscal_year",
                format!("{year:?} is not a fiscal year (FY2024, 2024年度, 令和6年度)"),
            )
        })?;
        let mut values = BTreeMap::new();
        for field in &FACT_FIELDS[2..] {
            let Some(v) = cell(field) else { continue };
            let value = if *field == "shared_use" {
                parse_yes_no(v).ok_or_else(|| {
                    field_error(row.row, field, format!("{v:?} is not あり/なし (yes/no, ○/×, 1/0)"))
                })?
            } else {
                parse_count(&normalize_value(v)).ok_or_else(|| {
                    field_error(row.row, field, format!("{v:?} is not a whole number (9,811)"))
                })?
            };
            values.insert(*field, value);
        }
        if let Some(first) = seen.insert((code.code.clone(), fiscal_year), row.row) {
            return Err(field_error(
                row.row,
                "hospital_code",
                format!(
                    "{} FY{fiscal_year} is listed twice (first on {} {first}); keep one row",
                    code.code,
                    position_word(path)
                ),
            ));
        }
        out.push(FactsRow { hospital_code: code.code, fiscal_year, values, row: row.row });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Vec<FactsRow>, MasterError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("facts.csv");
        std::fs::write(&path, text).unwrap();
        load_facts(Some(&MasterSource { list: "approval_facts", path, format: Default::default() }))
    }

    #[test]
    fn japanese_headings_era_years_and_yes_no_read() {
        let rows = load(
            "医療機関コード,医療機関名,年度,救急搬送の受入件数,二次医療圏の人口,研修回数,病床数,共同利用\n\
             0110113719,札幌病院,令和6年度,\"1,000\",,12,200,あり\n\
             1310123458,小平病院,FY2024,,,,,なし\n",
        )
        .unwrap();
        assert_eq!(rows[0].fiscal_year, 2024);
        assert_eq!(
            rows[0].values,
            [("ambulance_transports", 1000), ("training_sessions", 12), ("beds", 200), ("shared_use", 1)]
                .into()
        );
        assert_eq!(rows[1].values, [("shared_use", 0)].into(), "blank cells are facts not given");
        for (text, year) in [
            ("2024", Some(2024)),
            ("R6", Some(2024)),
            ("平成30年度", Some(2018)),
            ("令和元年度", Some(2019)),
            ("24", None),
        ] {
            assert_eq!(parse_fiscal_year(text), year, "{text}");
        }
    }

    #[test]
    fn bad_values_and_duplicates_are_named() {
        for (text, expected) in [
            ("hospital_code,fiscal_year,beds\n0110113719,FY2024,many\n", "line 2, field beds"),
            ("hospital_code,fiscal_year,shared_use\n0110113719,FY2024,maybe\n", "field shared_use"),
            ("hospital_code,fiscal_year\n0110113719,24\n", "field fiscal_year"),
            ("hospital_code,beds\n0110113719,3\n", "no column gives fiscal_year"),
            (
                "hospital_code,fiscal_year\n0110113719,FY2024\n0110113719,2024年度\n",
                "listed twice (first on line 2)",
            ),
        ] {
            let e = load(text).unwrap_err().to_string();
            assert!(e.contains(expected) && e.contains("facts.csv"), "{e}");
        }
    }
}
