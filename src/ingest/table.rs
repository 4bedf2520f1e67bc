//! Small tables as they are delivered (a hospital master, a list published by a 厚生局): a
//! CSV in UTF-8 or Shift_JIS, or an Excel workbook (`.xlsx`, read with calamine), as rows of
//! text cells with the physical line or row each came from.
//!
//! Headings are matched after normalisation ([`heading_key`]: NFKC, every whitespace
//! removed), so `オープンデータ\n医療機関コード` and `医療機関コード　` match what a config
//! writes. A cell Excel holds as a number is given as the number's digits (`110113719.0` →
//! `110113719`): a code that lost its leading zero stays 9 digits, repaired only where the
//! reader's format says `pad_codes`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

use super::format::InputEncoding;
use super::lines::{LineError, LineReader};
use super::split::Splitter;
use super::text::trim;

/// A sheet of a workbook: by name, or by position (1 = the first).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum SheetRef {
    Position(usize),
    Name(String),
}

/// How a table file is laid out (`format:` of a hospital master). Every field has a default:
/// UTF-8, comma, headings on the first non-blank row, canonical column names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TableFormat {
    /// Of a CSV; a UTF-8 BOM is stripped whatever this says. A workbook has none.
    pub encoding: InputEncoding,
    /// Of a CSV.
    pub delimiter: char,
    /// Of a workbook; the first sheet by default.
    pub sheet: Option<SheetRef>,
    /// The row (line of a CSV, row of a sheet, from 1) holding the headings; by default the
    /// first non-blank one.
    pub heading_row: Option<u64>,
    /// The first row of data; by default the one after the headings. Rows between (a
    /// 必須/任意 marker row) are skipped.
    pub first_data_row: Option<u64>,
    /// File heading → field name, e.g. `"医療機関コード": hospital_code`.
    pub columns: BTreeMap<String, String>,
    /// Repair 9-digit institution codes with a leading zero (a spreadsheet dropped it).
    pub pad_codes: bool,
    /// Remove hyphens from institution codes (`26-1-492377-5`).
    pub strip_code_hyphens: bool,
}

impl Default for TableFormat {
    fn default() -> Self {
        TableFormat {
            encoding: InputEncoding::Utf8,
            delimiter: ',',
            sheet: None,
            heading_row: None,
            first_data_row: None,
            columns: BTreeMap::new(),
            pad_codes: false,
            strip_code_hyphens: false,
        }
    }
}

/// Why a table cannot be read; each names the file, and the line or row where there is one.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{file}: {source}")]
    Io { file: String, source: std::io::Error },
    #[error("{file}: not a readable workbook: {message}")]
    Workbook { file: String, message: String },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    /// `at` is `line` (a CSV) or `row` (a sheet).
    #[error("{file} {at} {row}: {message}")]
    Row { file: String, at: &'static str, row: u64, message: String },
}

/// One row of data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableRow {
    /// The physical line of a CSV, or the row of a sheet, from 1.
    pub row: u64,
    /// Trimmed text cells, as found.
    pub cells: Vec<String>,
}

/// How a position in the file is named: a CSV's `line`, a sheet's `row`.
pub(crate) fn position_word(path: &Path) -> &'static str {
    if is_workbook(path) { "row" } else { "line" }
}

/// A sheet of a workbook as CSV text, one line per sheet row, so that line N of the text is
/// row N of the sheet (a row Excel left empty is an empty line): an event log kept in Excel is
/// then read, and its rejects named, exactly as the same sheet saved as CSV. A line break
/// inside a cell becomes a space (fields of the event reader never span lines).
pub(crate) fn workbook_as_csv(
    path: &Path,
    file: &str,
    sheet: Option<&SheetRef>,
) -> Result<Vec<u8>, TableError> {
    let format = TableFormat { sheet: sheet.cloned(), ..TableFormat::default() };
    let rows = xlsx_rows(path, file, &format)?;
    let mut out = Vec::new();
    let mut next = 1u64;
    for (row, cells) in rows {
        while next < row {
            out.push(b'\n');
            next += 1;
        }
        let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
        let cells: Vec<String> = cells.iter().map(|c| c.replace(['\r', '\n'], " ")).collect();
        w.write_record(&cells)
            .map_err(|e| TableError::Workbook { file: file.to_string(), message: e.to_string() })?;
        out.extend(
            w.into_inner()
                .map_err(|e| TableError::Workbook { file: file.to_string(), message: e.to_string() })?,
        );
        next = row + 1;
    }
    Ok(out)
}

pub(crate) fn is_workbook(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xlsx"))
}

/// A table: its headings as written (trimmed), and its rows of data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    pub headings: Vec<String>,
    pub heading_row: u64,
    pub rows: Vec<TableRow>,
}

/// A heading as compared: NFKC (full-width letters and digits become ASCII, half-width kana
/// full-width), then every whitespace character removed (line breaks inside a cell, the
/// full-width space).
pub(crate) fn heading_key(heading: &str) -> String {
    heading.nfkc().filter(|c| !c.is_whitespace()).collect()
}

/// Reads `path` (named `file` in messages): a workbook when its name ends in `.xlsx`, else a
/// CSV. Rows keep the cells they have: a CSV row may be shorter or longer than the headings.
pub(crate) fn read_table(path: &Path, file: &str, format: &TableFormat) -> Result<Table, TableError> {
    let rows = if is_workbook(path) { xlsx_rows(path, file, format)? } else { csv_rows(path, file, format)? };
    into_table(file, format, rows)
}

/// Every non-blank row, with its number.
type RawRows = Vec<(u64, Vec<String>)>;

fn csv_rows(path: &Path, file: &str, format: &TableFormat) -> Result<RawRows, TableError> {
    let row_error =
        |row: u64, message: String| TableError::Row { file: file.to_string(), at: "line", row, message };
    if !format.delimiter.is_ascii() || matches!(format.delimiter, '"' | '\r' | '\n') {
        return Err(TableError::Invalid {
            file: file.to_string(),
            message: format!("delimiter {:?} is not allowed: use one ASCII character", format.delimiter),
        });
    }
    let io = |source| TableError::Io { file: file.to_string(), source };
    let mut lines = LineReader::new(std::fs::File::open(path).map_err(io)?);
    let mut splitter = Splitter::new(format.delimiter as u8);
    let decoder = format.encoding.decoder();
    let mut rows = Vec::new();
    loop {
        let line = match lines.next_line() {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(LineError::Io(source)) => return Err(io(source)),
            Err(LineError::TooLong(n)) => return Err(row_error(n, "line too long".into())),
        };
        let number = line.number;
        let text = match decoder {
            None => std::str::from_utf8(line.bytes).map(str::to_string).ok(),
            Some(enc) => {
                enc.decode_without_bom_handling_and_without_replacement(line.bytes).map(|c| c.into_owned())
            }
        }
        .ok_or_else(|| {
            let hint = match format.encoding {
                InputEncoding::Utf8 => "; set encoding: shift_jis in its format if it is a Windows export",
                _ => "; check the file's encoding (encoding: in its format)",
            };
            row_error(number, format!("not valid {}{hint}", format.encoding.name()))
        })?;
        splitter
            .split(&text)
            .map_err(|_| row_error(number, "a quote opened on this line is never closed".into()))?;
        if splitter.all_empty() {
            continue;
        }
        rows.push((number, (0..splitter.len()).map(|i| trim(splitter.get(i)).to_string()).collect()));
    }
    Ok(rows)
}

fn xlsx_rows(path: &Path, file: &str, format: &TableFormat) -> Result<RawRows, TableError> {
    use calamine::{Reader, Xlsx, open_workbook};
    let workbook_error = |message: String| TableError::Workbook { file: file.to_string(), message };
    let mut book: Xlsx<std::io::BufReader<std::fs::File>> =
        open_workbook(path).map_err(|e: calamine::XlsxError| workbook_error(e.to_string()))?;
    let names = book.sheet_names();
    let name = match &format.sheet {
        None => names.first().cloned(),
        Some(SheetRef::Position(n)) => n.checked_sub(1).and_then(|i| names.get(i).cloned()),
        Some(SheetRef::Name(wanted)) => names.iter().find(|n| heading_key(n) == heading_key(wanted)).cloned(),
    }
    .ok_or_else(|| TableError::Invalid {
        file: file.to_string(),
        message: format!("no sheet {:?}; the workbook has {}", format.sheet, names.join(", ")),
    })?;
    let range = book.worksheet_range(&name).map_err(|e| workbook_error(format!("sheet {name}: {e}")))?;
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let mut rows = Vec::new();
    for (i, cells) in range.rows().enumerate() {
        let row = u64::from(first_row) + i as u64 + 1;
        // Cells left of the range are empty: keep columns where Excel has them.
        let mut texts = vec![String::new(); first_col as usize];
        for (j, cell) in cells.iter().enumerate() {
            let text = cell_text(cell).map_err(|why| TableError::Row {
                file: file.to_string(),
                at: "row",
                row,
                message: format!("column {}: {why}", column_letters(first_col as usize + j)),
            })?;
            texts.push(text);
        }
        if texts.iter().all(String::is_empty) {
            continue;
        }
        rows.push((row, texts));
    }
    Ok(rows)
}

/// A cell as text: a whole number without its `.0`, a date as `2025-04-01`.
fn cell_text(cell: &calamine::Data) -> Result<String, String> {
    use calamine::Data;
    Ok(match cell {
        Data::Empty => String::new(),
        Data::String(s) => trim(s).to_string(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Data::DateTime(d) => match d.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => t.date().to_string(),
            Some(t) => t.to_string(),
            None => return Err(format!("a date Excel cannot place ({})", d.as_f64())),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => return Err(format!("an Excel error ({e}) instead of a value")),
    })
}

/// `A`, `B`, …, `Z`, `AA`: a column as Excel names it (from 0).
fn column_letters(mut col: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII")
}

fn into_table(file: &str, format: &TableFormat, rows: RawRows) -> Result<Table, TableError> {
    let mut rows = rows.into_iter();
    let (heading_row, headings) = loop {
        let Some((row, cells)) = rows.next() else {
            let message = match format.heading_row {
                Some(n) => format!("no heading row {n} (the file ends before it, or it is blank)"),
                None => "no heading row: the file is empty".to_string(),
            };
            return Err(TableError::Invalid { file: file.to_string(), message });
        };
        match format.heading_row {
            Some(n) if row < n => continue,
            Some(n) if row > n => {
                return Err(TableError::Invalid {
                    file: file.to_string(),
                    message: format!("heading row {n} is blank"),
                });
            }
            _ => break (row, cells),
        }
    };
    let first_data = format.first_data_row.unwrap_or(heading_row + 1);
    let data =
        rows.filter(|(row, _)| *row >= first_data).map(|(row, cells)| TableRow { row, cells }).collect();
    Ok(Table { headings, heading_row, rows: data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_match_after_nfkc_and_without_whitespace() {
        assert_eq!(heading_key("オープンデータ\n医療機関コード"), "オープンデータ医療機関コード");
        assert_eq!(heading_key("医療機関コード\u{3000}"), "医療機関コード");
        assert_eq!(heading_key("病床数（許可）"), "病床数(許可)");
        assert_eq!(heading_key("ｲﾘｮｳｷｶﾝ"), "イリョウキカン");
    }

    #[test]
    fn columns_are_named_as_excel_names_them() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27), "AB");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }

    fn workbook(path: &Path) {
        use rust_xlsxwriter::Workbook;
        let mut book = Workbook::new();
        let first = book.add_worksheet();
        first.set_name("表紙").unwrap();
        first.write_string(0, 0, "not this sheet").unwrap();
        let sheet = book.add_worksheet();
        sheet.set_name("一覧").unwrap();
        sheet.write_string(1, 1, "令和7年4月1日現在").unwrap();
        sheet.write_string(3, 1, "医療機関\nコード").unwrap();
        sheet.write_string(3, 2, "医療機関名").unwrap();
        sheet.write_string(3, 3, "病床数").unwrap();
        sheet.write_string(4, 1, "必須").unwrap();
        // A code Excel took for a number: its leading zero is lost.
        sheet.write_number(5, 1, 110113719.0).unwrap();
        sheet.write_string(5, 2, " 札幌病院\u{3000}").unwrap();
        sheet.write_number(5, 3, 450.0).unwrap();
        sheet.write_string(7, 1, "1310123458").unwrap();
        sheet.write_number(7, 3, 99.5).unwrap();
        book.save(path).unwrap();
    }

    #[test]
    fn a_sheet_is_read_from_its_heading_row_with_numbers_as_digits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.xlsx");
        workbook(&path);
        let format = TableFormat {
            sheet: Some(SheetRef::Name("一覧".into())),
            heading_row: Some(4),
            first_data_row: Some(6),
            ..TableFormat::default()
        };
        let t = read_table(&path, "master.xlsx", &format).unwrap();
        assert_eq!(t.heading_row, 4);
        assert_eq!(t.headings, ["", "医療機関\nコード", "医療機関名", "病床数"]);
        assert_eq!(
            t.rows,
            [
                TableRow {
                    row: 6,
                    cells: vec!["".into(), "110113719".into(), "札幌病院".into(), "450".into()]
                },
                TableRow { row: 8, cells: vec!["".into(), "1310123458".into(), "".into(), "99.5".into()] },
            ]
        );
        // By position: the second sheet; without first_data_row the marker row is data.
        let format = TableFormat {
            sheet: Some(SheetRef::Position(2)),
            heading_row: Some(4),
            ..TableFormat::default()
        };
        assert_eq!(read_table(&path, "master.xlsx", &format).unwrap().rows[0].cells[1], "必須");
        // The first sheet by default, whose first row is the heading.
        assert_eq!(
            read_table(&path, "master.xlsx", &TableFormat::default()).unwrap().headings,
            ["not this sheet"]
        );
        let missing =
            TableFormat { sheet: Some(SheetRef::Name("年間値".into())), ..TableFormat::default() };
        let e = read_table(&path, "master.xlsx", &missing).unwrap_err().to_string();
        assert!(e.contains("master.xlsx") && e.contains("年間値") && e.contains("表紙, 一覧"), "{e}");
        let blank = TableFormat {
            sheet: Some(SheetRef::Position(2)),
            heading_row: Some(3),
            ..TableFormat::default()
        };
        assert!(
            read_table(&path, "master.xlsx", &blank)
                .unwrap_err()
                .to_string()
                .contains("heading row 3 is blank")
        );
    }

    #[test]
    fn a_shift_jis_csv_reads_with_its_encoding_and_names_the_line_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.csv");
        let text = "医療機関コード,医療機関名\r\n\r\n0110113719,札幌病院\r\n";
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(text);
        std::fs::write(&path, &bytes).unwrap();
        let format = TableFormat { encoding: InputEncoding::ShiftJis, ..TableFormat::default() };
        let t = read_table(&path, "master.csv", &format).unwrap();
        assert_eq!(t.headings, ["医療機関コード", "医療機関名"]);
        assert_eq!(t.rows, [TableRow { row: 3, cells: vec!["0110113719".into(), "札幌病院".into()] }]);
        let e = read_table(&path, "master.csv", &TableFormat::default()).unwrap_err().to_string();
        assert!(
            e.contains("master.csv line 1") && e.contains("not valid utf-8") && e.contains("shift_jis"),
            "{e}"
        );
    }
}
