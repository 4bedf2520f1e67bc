//! Streaming one input file into events and rejects.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::code::{CodeError, parse_institution_code};
use super::date::{DateError, parse_date};
use super::event::{Event, EventType, Field};
use super::format::{FileMonth, FormatError, InputFormat};
use super::lines::{LineError, LineReader, MAX_LINE_BYTES};
use super::privacy::{self, IdentifierColumn, PatientNumbers, RowPatient};
use super::pseudonym::Pseudonymizer;
use super::reject::{Reject, RejectReason};
use super::related::RelatedInstitutions;
use super::split::{Splitter, UnterminatedQuote};
use super::text::{normalize_value, trim};

/// What one [`read_file`] call needs besides the file: borrowed from the run.
#[derive(Debug)]
pub(crate) struct IngestContext<'a> {
    pub pseudonymizer: &'a Pseudonymizer,
    /// Related-institution list, if the input has one.
    pub related: Option<&'a RelatedInstitutions>,
    /// Index of this file in the run; recorded in [`FileStats`].
    pub file_index: usize,
}

impl<'a> IngestContext<'a> {
    /// Reading decides nothing about duplicates: an identical row is delivered, and the
    /// hospital-month it lands in decides (`warehouse::writer`, by [`super::fingerprint`]).
    pub(crate) fn new(
        pseudonymizer: &'a Pseudonymizer,
        related: Option<&'a RelatedInstitutions>,
        file_index: usize,
    ) -> Self {
        IngestContext { pseudonymizer, related, file_index }
    }
}

/// Why [`read_file`] stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError<E> {
    /// The file (or the rest of it) could not be read.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The `on_event` callback returned this error.
    #[error("stopped while handling a row: {0}")]
    Stopped(E),
}

/// What happened to one file. Invariant: `rows_read == rows_valid + rows_rejected`; the heading
/// line and blank lines are not rows. `rows_already_present` counts valid rows the caller did
/// not store again (see [`judge_month`](super::judge_month)); [`read_file`] leaves it at 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct FileStats {
    /// Display name of the file.
    pub file: String,
    /// Index of the file in the run (order of `read_file` calls).
    pub file_index: usize,
    pub rows_read: u64,
    pub rows_valid: u64,
    pub rows_rejected: u64,
    /// Valid rows identical to rows of another file, set by the caller.
    pub rows_already_present: u64,
    /// Rejected rows per reason code.
    pub rejects_by_reason: BTreeMap<String, u64>,
    /// Lines skipped as blank (empty, only blanks, or only delimiters).
    pub blank_lines: u64,
    /// Codes with a wrong check digit in valid rows (hospital and partner codes, each
    /// occurrence counted); only when `strict_codes` is off.
    pub check_digit_warnings: u64,
    /// The distinct codes behind `check_digit_warnings` (institution codes are public data).
    pub bad_check_digit_codes: BTreeSet<String>,
    /// 9-digit codes repaired with a leading zero (`pad_codes: true`) in valid rows.
    pub padded_codes: u64,
    /// Optional canonical fields the file does not have; they read as false / empty.
    pub absent_columns: Vec<String>,
    /// File headings (or column numbers when there is no heading line) that map to nothing.
    pub ignored_columns: Vec<String>,
    /// The encoding the file was read with: "utf-8", "shift_jis" or "cp932".
    pub encoding: String,
    /// Whether the file started with a UTF-8 BOM (it was stripped).
    pub bom: bool,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Hex SHA-256 of the file bytes.
    pub sha256: String,
    /// Months ("2025-04") of valid rows.
    pub months: BTreeSet<String>,
    /// The month every row had to be in (`file_month`), if one applied.
    pub file_month: Option<String>,
}

impl FileStats {
    /// The share of rows rejected when it is above `max_reject_ratio` (`run` stops on such a
    /// file, `validate` calls it unusable); `None` within the limit or without rows.
    pub(crate) fn reject_share_above(&self, max_reject_ratio: f64) -> Option<f64> {
        if self.rows_read == 0 {
            return None;
        }
        let share = self.rows_rejected as f64 / self.rows_read as f64;
        (share > max_reject_ratio).then_some(share)
    }
}

/// File-level problems: the file (or the rest of it) cannot be read. Rows delivered before
/// the error stay delivered; the caller decides whether to keep them.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(
        "cannot open {file} ({path}): {source}; check the input path in the config and that the file is readable",
        path = path.display()
    )]
    Open { file: String, path: PathBuf, source: std::io::Error },
    #[error("{file}: read error after line {line}: {source}; check the disk or network share and run again")]
    Read { file: String, line: u64, source: std::io::Error },
    #[error("{file}: {source}")]
    Format { file: String, source: FormatError },
    /// An event log kept as a workbook that cannot be read as one.
    #[error("{source}")]
    Workbook { source: super::table::TableError },
    #[error(
        "{file} is empty: no heading line; export it again with its heading line, or set header: false for a file without one"
    )]
    Empty { file: String },
    #[error(
        "{file}: line {line} contains a NUL byte, so this is not a CSV text file (or it is UTF-16); export it as CSV in UTF-8 or Shift_JIS"
    )]
    Binary { file: String, line: u64 },
    #[error(
        "{file}: line {line} is longer than {MAX_LINE_BYTES} bytes, so this is not a hospital CSV export; check that the right file is configured"
    )]
    LineTooLong { file: String, line: u64 },
    #[error("{file}: the heading line (line {line}) is not valid {encoding}{hint}")]
    HeaderEncoding { file: String, line: u64, encoding: String, hint: String },
    #[error(
        "{file}: line {line}: a quote (\") opened on this line is never closed; fields cannot span lines in these exports, so reading stopped here (rows before line {line} were read); fix or remove the quote and run again"
    )]
    UnterminatedQuote { file: String, line: u64 },
    #[error(
        "{file}: required column {field} not found in the heading line (line {line}); headings found: {found}; add a mapping under columns: in the input's config, e.g. \"受診日\": event_date"
    )]
    MissingColumn { file: String, line: u64, field: String, found: String },
    #[error(
        "{file}: column {field} is not in the file (or its heading is not mapped), and the counts use it: read as 0 it would change the rates; map its heading under columns: in the input's config, or, if this export really has no such column, list it under optional_columns: to read it as 0"
    )]
    UnmappedColumn { file: String, field: String },
    #[error(
        "{file}: headings {first:?} and {second:?} (line {line}) both map to field {field}; remove one column or change columns: in the config"
    )]
    DuplicateColumn { file: String, line: u64, field: String, first: String, second: String },
    #[error(
        "{file}: columns: maps column {column} to {field}, but line {line}, the first row, has only {found} fields; check the column numbers (header: false)"
    )]
    ColumnOutOfRange { file: String, line: u64, column: usize, field: String, found: usize },
    #[error(
        "{file}: file_month: from_name, but the file name has no month (YYYY-MM, YYYY_MM or YYYYMM); rename it, e.g. visits_2025-04.csv, or set file_month: first_row or none"
    )]
    NoMonthInName { file: String },
    #[error(
        "{file}: column {column:?} (field {field:?}) looks like identifiers, not {field} names: {identifier_like} % of its {values} values are mostly digits and {distinct} % are distinct, as patient numbers are; nothing was stored. Check the input's columns: mapping in the config and the file's heading line: are the patient-number and {field} columns swapped, or the columns shifted?"
    )]
    IdentifierColumn {
        file: String,
        column: String,
        field: String,
        values: u64,
        identifier_like: u64,
        distinct: u64,
    },
}

impl IngestError {
    /// The message in Japanese, for a liaison office under a Japanese locale: what is wrong
    /// with which file and line, and what to do (the English message has the same facts).
    pub fn message_ja(&self) -> String {
        match self {
            IngestError::Open { file, source, .. } => {
                format!(
                    "{file} を開けません（{source}）。設定の入力パスと、ファイルが読めるかを確かめてください"
                )
            }
            IngestError::Read { file, line, source } => {
                format!(
                    "{file}: {line} 行目の後で読み込みに失敗しました（{source}）。ディスクや共有フォルダを確かめ、もう一度実行してください"
                )
            }
            IngestError::Format { file, source } => format!("{file}: 設定の format が不正です: {source}"),
            IngestError::Workbook { source } => {
                format!(
                    "Excel ファイルとして読めません: {source}。シート名と、ファイルが .xlsx として保存されているかを確かめてください"
                )
            }
            IngestError::Empty { file } => {
                format!(
                    "{file} は空です（見出し行がありません）。見出し行付きで出力し直すか、見出しのないファイルなら header: false を設定してください"
                )
            }
            IngestError::Binary { file, line } => format!(
                "{file}: {line} 行目に NUL バイトがあり、CSV のテキストファイルではありません（UTF-16 かもしれません）。UTF-8 か Shift_JIS の CSV で出力してください"
            ),
            IngestError::LineTooLong { file, line } => format!(
                "{file}: {line} 行目が {MAX_LINE_BYTES} バイトを超えており、病院の CSV 出力ではありません。設定したファイルが正しいか確かめてください"
            ),
            IngestError::HeaderEncoding { file, line, encoding, .. } => {
                format!(
                    "{file}: 見出し行（{line} 行目）が {encoding} として読めません。設定の encoding を確かめてください（Shift_JIS なら encoding: shift_jis）"
                )
            }
            IngestError::UnterminatedQuote { file, line } => format!(
                "{file}: {line} 行目で始まった引用符（\"）が閉じていません。この出力では項目が行をまたがないため、ここで読み込みを止めました。引用符を直して、もう一度実行してください"
            ),
            IngestError::MissingColumn { file, line, field, found } => format!(
                "{file}: 必須の列 {field} が見出し行（{line} 行目）にありません。見つかった見出し: {found}。設定の columns: に対応を書いてください（例: \"受診日\": event_date）"
            ),
            IngestError::UnmappedColumn { file, field } => format!(
                "{file}: 列 {field} がファイルにない（または見出しの対応がない）ため、0 として数えると率が変わります。設定の columns: に見出しの対応を書くか、本当にその列がない出力なら optional_columns: に書いて 0 として読んでください"
            ),
            IngestError::DuplicateColumn { file, line, field, first, second } => format!(
                "{file}: 見出し {first:?} と {second:?}（{line} 行目）がどちらも {field} に対応しています。どちらかの列を除くか、設定の columns: を直してください"
            ),
            IngestError::ColumnOutOfRange { file, line, column, field, found } => format!(
                "{file}: columns: で {column} 列目を {field} にしていますが、最初の行（{line} 行目）の項目は {found} 個です。列番号を確かめてください（header: false）"
            ),
            IngestError::NoMonthInName { file } => format!(
                "{file}: file_month: from_name ですが、ファイル名に年月（YYYY-MM など）がありません。visits_2025-04.csv のように名前を変えるか、file_month: first_row か none にしてください"
            ),
            IngestError::IdentifierColumn { file, column, field, .. } => format!(
                "{file}: 列 {column:?}（{field}）の値が{field}名ではなく患者番号のような番号に見えるため、何も保存していません。設定の columns: とファイルの見出し行を確かめてください（患者番号の列と入れ替わっていないか、列がずれていないか）"
            ),
        }
    }
}

/// Streams one file: every valid row goes to `on_event` as it is read, every bad row to
/// `on_reject` when the file ends, and the statistics come back. Memory does not grow with the
/// file's valid rows; its rejects are kept until the end,
/// because only then is it known which values may be patient numbers (see `privacy`): a
/// reject's value is shown as "***" when it may be one, wherever it landed.
///
/// `on_event` may stop the read by returning an error, which comes back as
/// [`ReadError::Stopped`]; file-level problems come back as [`ReadError::Ingest`]. Either way the
/// rows delivered before stay delivered, rejects included: the caller decides what to keep.
/// A department column that looks like patient numbers stops the read at the end of the file
/// ([`IngestError::IdentifierColumn`]): the caller must not store what it received.
pub(crate) fn read_file<E>(
    path: &Path,
    display_name: &str,
    format: &InputFormat,
    ctx: &mut IngestContext<'_>,
    on_event: impl FnMut(Event) -> Result<(), E>,
    mut on_reject: impl FnMut(Reject),
) -> Result<FileStats, ReadError<E>> {
    let mut numbers = PatientNumbers::new(format.patient_id_pattern.as_deref())
        .map_err(|source| IngestError::Format { file: display_name.to_owned(), source })?;
    let mut rejects = Vec::new();
    let result = read_rows(path, display_name, format, ctx, on_event, |r| rejects.push(r), &mut numbers);
    if let Err(ReadError::Ingest(IngestError::IdentifierColumn { .. })) = &result {
        // Patient numbers sit in another column: their shapes were not learned.
        numbers.hide_every_value();
    }
    for mut r in rejects {
        numbers.mask(&mut r);
        on_reject(r);
    }
    result
}

fn read_rows<E>(
    path: &Path,
    display_name: &str,
    format: &InputFormat,
    ctx: &mut IngestContext<'_>,
    mut on_event: impl FnMut(Event) -> Result<(), E>,
    mut on_reject: impl FnMut(Reject),
    numbers: &mut PatientNumbers,
) -> Result<FileStats, ReadError<E>> {
    let file = display_name.to_owned();
    format.validate().map_err(|source| IngestError::Format { file: file.clone(), source })?;
    let name_month = match format.file_month {
        FileMonth::FromName => {
            let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
            Some(month_in_name(&name).ok_or_else(|| IngestError::NoMonthInName { file: file.clone() })?)
        }
        _ => None,
    };
    // A workbook is read as the CSV text of its sheet, one line per row (see
    // `table::workbook_as_csv`): its rejects name the sheet's rows.
    let workbook = super::table::is_workbook(path);
    let as_text;
    let format = if workbook {
        as_text =
            InputFormat { encoding: super::format::InputEncoding::Utf8, delimiter: ',', ..format.clone() };
        &as_text
    } else if format.sheet.is_some() {
        let source = FormatError("sheet: is for a workbook (.xlsx); this file is read as CSV".into());
        return Err(IngestError::Format { file: file.clone(), source }.into());
    } else {
        format
    };
    let handle: Box<dyn std::io::Read + Send> = if workbook {
        let text = super::table::workbook_as_csv(path, &file, format.sheet.as_ref())
            .map_err(|source| IngestError::Workbook { source })?;
        Box::new(std::io::Cursor::new(text))
    } else {
        Box::new(File::open(path).map_err(|source| IngestError::Open {
            file: file.clone(),
            path: path.to_owned(),
            source,
        })?)
    };

    let file_index = ctx.file_index;
    let mut r = Reader {
        file: file.clone(),
        lines: LineReader::new(handle),
        decoder: LineDecoder::new(format),
        split: Splitter::new(format.delimiter as u8),
        rules: Rules::new(format),
        stats: FileStats {
            file: file.clone(),
            file_index,
            encoding: format.encoding.name().to_owned(),
            ..FileStats::default()
        },
    };
    let mut layout = if format.header { r.read_header(format)? } else { Layout::without_header(format) };
    if let Some(field) =
        Field::ALL.into_iter().find(|f| layout.slots[f.index()].is_none() && !format.may_lack(*f))
    {
        return Err(IngestError::UnmappedColumn { file: file.clone(), field: field.name().to_owned() }.into());
    }
    r.stats.absent_columns = layout.absent.clone();
    r.stats.ignored_columns = layout.ignored.clone();
    let mut month = name_month.map(|m| (m, MonthSource::Name));
    let mut last_month = None;
    let mut departments = IdentifierColumn::new();

    loop {
        let line = match r.lines.next_line() {
            Ok(Some(l)) => l,
            Ok(None) => break,
            Err(e) => return Err(r.line_error(e).into()),
        };
        let (number, offset) = (line.number, line.offset);
        // Rows between the headings and the first data row (a 必須/任意 marker row).
        if format.first_data_row.is_some_and(|first| number < first) {
            continue;
        }
        if line.bytes.contains(&0) {
            return Err(IngestError::Binary { file, line: number }.into());
        }
        if line.bytes.iter().all(|&b| b == b' ' || b == b'\t') {
            r.stats.blank_lines += 1;
            continue;
        }
        let text = match r.decoder.decode(line.bytes) {
            Ok(t) => t,
            Err(at) => {
                r.stats.rows_read += 1;
                let detail = r.decoder.invalid_detail(at);
                r.reject(
                    Reject::new(&file, number, offset, None, None, RejectReason::InvalidEncoding, detail),
                    &mut on_reject,
                );
                continue;
            }
        };
        if r.split.split(text).is_err() {
            return Err(IngestError::UnterminatedQuote { file, line: number }.into());
        }
        if r.split.all_empty() {
            r.stats.blank_lines += 1;
            continue;
        }
        r.stats.rows_read += 1;

        let width = match layout.width {
            Some(w) => w,
            None => {
                let w = layout.fix_width(&file, number, r.split.len())?;
                r.stats.ignored_columns = layout.ignored.clone();
                w
            }
        };
        if r.split.len() != width {
            let detail = format!("expected {width} fields, found {}", r.split.len());
            r.reject(
                Reject::new(&file, number, offset, None, None, RejectReason::FieldCount, detail),
                &mut on_reject,
            );
            continue;
        }

        let cols = Cols { split: &r.split, slots: &layout.slots };
        let patient = RowPatient::new(cols.get(Field::PatientId), |v| r.rules.is_event_type(v));
        let (event, notes) = match r.rules.row(&cols, ctx, (number, offset)) {
            Ok(ok) => ok,
            Err(e) => {
                let value = cols.get(e.field);
                let mut rej = Reject::new(&file, number, offset, Some(e.field), value, e.reason, e.detail);
                if value.is_some_and(|v| patient.hides(v)) && e.field != Field::PatientId {
                    privacy::hide(&mut rej);
                }
                r.reject(rej, &mut on_reject);
                continue;
            }
        };
        numbers.learn(cols.get(Field::PatientId).unwrap_or(""));
        departments.observe(&event.department);

        let row_month = (event.event_date.year(), event.event_date.month());
        if let Some((m, source)) = month
            && m != row_month
        {
            let detail = format!(
                "the file covers {} ({}); this row is {}",
                month_str(m),
                source.describe(),
                event.event_date
            );
            let value = cols.get(Field::EventDate);
            let mut rej = Reject::new(
                &file,
                number,
                offset,
                Some(Field::EventDate),
                value,
                RejectReason::OutsideFileMonth,
                detail,
            );
            if value.is_some_and(|v| patient.hides(v)) {
                privacy::hide(&mut rej);
            }
            r.reject(rej, &mut on_reject);
            continue;
        }

        if month.is_none() && format.file_month == FileMonth::FirstRow {
            month = Some((row_month, MonthSource::FirstRow(number)));
        }
        r.note(&event, notes);
        r.stats.rows_valid += 1;
        if last_month != Some(row_month) {
            r.stats.months.insert(month_str(row_month));
            last_month = Some(row_month);
        }
        on_event(event).map_err(ReadError::Stopped)?;
    }

    if let Some(e) = departments.verdict() {
        return Err(IngestError::IdentifierColumn {
            file,
            column: layout.column_name(Field::Department),
            field: Field::Department.name().to_owned(),
            values: e.values,
            identifier_like: e.identifier_like_percent,
            distinct: e.distinct_percent,
        }
        .into());
    }
    r.stats.file_month = month.map(|(m, _)| month_str(m));
    r.stats.bom = r.lines.had_bom();
    let last = r.stats.rows_read;
    r.stats.sha256 =
        r.lines.finish().map_err(|source| IngestError::Read { file: file.clone(), line: last, source })?;
    r.stats.bytes = r.lines.bytes_read();
    if workbook {
        // The file's identity is the workbook's bytes, not the text read from it.
        let bytes = std::fs::read(path).map_err(|source| IngestError::Open {
            file: file.clone(),
            path: path.to_owned(),
            source,
        })?;
        r.stats.sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        r.stats.bytes = bytes.len() as u64;
        r.stats.encoding = "xlsx".to_owned();
    }
    debug_assert_eq!(r.stats.rows_read, r.stats.rows_valid + r.stats.rows_rejected);
    Ok(std::mem::take(&mut r.stats))
}

#[derive(Debug, Clone, Copy)]
enum MonthSource {
    Name,
    FirstRow(u64),
}

impl MonthSource {
    fn describe(self) -> String {
        match self {
            MonthSource::Name => "from its name".into(),
            MonthSource::FirstRow(line) => format!("the month of its first valid row, line {line}"),
        }
    }
}

fn month_str((y, m): (i32, u32)) -> String {
    format!("{y:04}-{m:02}")
}

/// The first `YYYY-MM`, `YYYY_MM`, `YYYYMM` (or `YYYYMMDD`) in a file name. A digit run must
/// have exactly that shape, so institution codes and other numbers are not taken for months.
pub(crate) fn month_in_name(name: &str) -> Option<(i32, u32)> {
    let b = name.as_bytes();
    let run_len = |i: usize| b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let num = |s: &[u8]| std::str::from_utf8(s).ok()?.parse::<u32>().ok();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let n = run_len(i);
        let found = match n {
            4 if i + 7 <= b.len() && matches!(b[i + 4], b'-' | b'_') && run_len(i + 5) == 2 => {
                Some((num(&b[i..i + 4])?, num(&b[i + 5..i + 7])?))
            }
            6 | 8 => Some((num(&b[i..i + 4])?, num(&b[i + 4..i + 6])?)),
            _ => None,
        };
        if let Some((y, m)) = found
            && (1900..=2999).contains(&y)
            && (1..=12).contains(&m)
        {
            return Some((y as i32, m));
        }
        i += n;
    }
    None
}

/// Column positions of the canonical fields in this file.
struct Layout {
    slots: [Option<usize>; 11],
    /// Expected number of fields; `None` until the first row when there is no heading line
    /// and a `columns:` mapping.
    width: Option<usize>,
    max_slot: usize,
    absent: Vec<String>,
    ignored: Vec<String>,
    /// The heading line's headings, empty without one.
    headings: Vec<String>,
}

impl Layout {
    fn without_header(format: &InputFormat) -> Layout {
        let mut slots = [None; 11];
        if format.columns.is_empty() {
            for (i, f) in Field::ALL.into_iter().enumerate() {
                slots[f.index()] = Some(i);
            }
            return Layout::finish(slots, Some(Field::ALL.len()), Vec::new());
        }
        for (col, name) in &format.columns {
            // validate() checked both
            if let (Ok(n), Some(f)) = (col.parse::<usize>(), Field::from_name(name)) {
                slots[f.index()] = Some(n - 1);
            }
        }
        Layout::finish(slots, None, Vec::new())
    }

    fn finish(slots: [Option<usize>; 11], width: Option<usize>, ignored: Vec<String>) -> Layout {
        let absent = Field::ALL
            .into_iter()
            .filter(|f| slots[f.index()].is_none())
            .map(|f| f.name().to_owned())
            .collect();
        let max_slot = slots.iter().flatten().copied().max().unwrap_or(0);
        Layout { slots, width, max_slot, absent, ignored, headings: Vec::new() }
    }

    /// How the file names a field's column: its heading, else "column N".
    fn column_name(&self, f: Field) -> String {
        match self.slots[f.index()] {
            Some(i) => self.headings.get(i).cloned().unwrap_or_else(|| format!("column {}", i + 1)),
            None => f.name().to_owned(),
        }
    }

    /// Without a heading line, the first row sets the width.
    fn fix_width(&mut self, file: &str, line: u64, found: usize) -> Result<usize, IngestError> {
        if self.max_slot >= found {
            let field = Field::ALL
                .into_iter()
                .find(|f| self.slots[f.index()] == Some(self.max_slot))
                .map_or("?", Field::name);
            return Err(IngestError::ColumnOutOfRange {
                file: file.to_owned(),
                line,
                column: self.max_slot + 1,
                field: field.to_owned(),
                found,
            });
        }
        self.ignored = (0..found)
            .filter(|i| !self.slots.contains(&Some(*i)))
            .map(|i| format!("column {}", i + 1))
            .collect();
        self.width = Some(found);
        Ok(found)
    }
}

/// Decodes one line strictly, reusing its buffer.
struct LineDecoder {
    encoding: Option<&'static encoding_rs::Encoding>,
    name: &'static str,
    buf: String,
}

impl LineDecoder {
    fn new(format: &InputFormat) -> Self {
        LineDecoder {
            encoding: format.encoding.decoder(),
            name: match format.encoding.decoder() {
                None => "UTF-8",
                Some(_) => "Shift_JIS",
            },
            buf: String::new(),
        }
    }

    /// The decoded line, or the byte position where decoding failed.
    fn decode<'a>(&'a mut self, bytes: &'a [u8]) -> Result<&'a str, usize> {
        let Some(enc) = self.encoding else {
            return std::str::from_utf8(bytes).map_err(|e| e.valid_up_to());
        };
        if bytes.is_ascii() {
            // Shift_JIS decodes 0x00..=0x7F as ASCII.
            return std::str::from_utf8(bytes).map_err(|e| e.valid_up_to());
        }
        let mut dec = enc.new_decoder_without_bom_handling();
        self.buf.clear();
        let need =
            dec.max_utf8_buffer_length_without_replacement(bytes.len()).unwrap_or(bytes.len() * 3 + 16);
        self.buf.reserve(need);
        let (res, read) = dec.decode_to_string_without_replacement(bytes, &mut self.buf, true);
        match res {
            encoding_rs::DecoderResult::InputEmpty => Ok(&self.buf),
            encoding_rs::DecoderResult::Malformed(bad, _) => Err(read.saturating_sub(usize::from(bad))),
            encoding_rs::DecoderResult::OutputFull => Err(read),
        }
    }

    fn invalid_detail(&self, at: usize) -> String {
        let hint = match self.encoding {
            None => "; if the file is Shift_JIS (CP932), set encoding: shift_jis for this input",
            Some(_) => "",
        };
        format!("the line is not valid {} at byte {at} of the line{hint}", self.name)
    }

    fn wipe(&mut self) {
        let mut bytes = std::mem::take(&mut self.buf).into_bytes();
        super::lines::wipe(&mut bytes);
    }
}

impl Drop for LineDecoder {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// The current row's fields by canonical field.
struct Cols<'a> {
    split: &'a Splitter,
    slots: &'a [Option<usize>; 11],
}

impl Cols<'_> {
    fn get(&self, f: Field) -> Option<&str> {
        self.slots[f.index()].map(|i| self.split.get(i))
    }
}

/// A row problem tied to one field.
struct RowError {
    field: Field,
    reason: RejectReason,
    detail: String,
}

#[derive(Default, Clone, Copy)]
struct Notes {
    hospital_bad_check: bool,
    partner_bad_check: bool,
    padded: u8,
}

/// The value rules of one input format, prepared for fast lookup.
struct Rules {
    dates: super::format::DateWindow,
    pad_codes: bool,
    strip_code_hyphens: bool,
    strict_codes: bool,
    event_types: Vec<(String, EventType)>,
    trues: Vec<String>,
    falses: Vec<String>,
    event_types_help: String,
    flags_help: String,
}

impl Rules {
    fn new(format: &InputFormat) -> Rules {
        let norm = |s: &str| normalize_value(s).into_owned();
        let mut event_types: Vec<(String, EventType)> =
            EventType::ALL.into_iter().map(|t| (t.as_str().to_owned(), t)).collect();
        for (k, v) in &format.values.event_type {
            if let Some(t) = EventType::parse(v) {
                event_types.push((norm(k), t));
            }
        }
        let mut trues = vec!["1".to_owned()];
        trues.extend(format.values.true_values.iter().map(|s| norm(s)));
        trues.dedup();
        let mut falses = vec!["0".to_owned()];
        falses.extend(format.values.false_values.iter().map(|s| norm(s)));
        falses.dedup();
        let show = |v: &[String]| {
            let mut shown: Vec<String> = Vec::new();
            for s in v {
                let s = if s.is_empty() { "(blank)".into() } else { s.clone() };
                if !shown.contains(&s) {
                    shown.push(s);
                }
            }
            shown.join(", ")
        };
        let mut type_names: Vec<String> = format.values.event_type.keys().cloned().collect();
        type_names.extend(EventType::ALL.map(|t| t.as_str().to_owned()));
        Rules {
            dates: format.date_window,
            pad_codes: format.pad_codes,
            strip_code_hyphens: format.strip_code_hyphens,
            strict_codes: format.strict_codes,
            event_types_help: format!("expected one of {}", type_names.join(", ")),
            flags_help: format!("expected {} (true) or {} (false)", show(&trues), show(&falses)),
            event_types,
            trues,
            falses,
        }
    }

    fn row(
        &self,
        cols: &Cols<'_>,
        ctx: &IngestContext<'_>,
        (line, byte_offset): (u64, u64),
    ) -> Result<(Event, Notes), RowError> {
        let mut notes = Notes::default();
        let hospital_code =
            self.code(cols.get(Field::HospitalCode).unwrap_or(""), Field::HospitalCode, &mut notes)?;
        let event_date = self.date(cols.get(Field::EventDate).unwrap_or(""))?;
        let event_type = self.event_type(cols.get(Field::EventType).unwrap_or(""))?;
        let patient_raw = cols.get(Field::PatientId).unwrap_or("");
        if trim(patient_raw).is_empty() {
            return Err(RowError {
                field: Field::PatientId,
                reason: RejectReason::MissingPatientId,
                detail: "the patient number is empty; every record needs one to find duplicates".into(),
            });
        }
        let referral_letter = self.flag(cols, Field::ReferralLetter)?;
        let partner_code = match cols.get(Field::PartnerCode) {
            Some(raw) if !trim(raw).is_empty() => Some(self.code(raw, Field::PartnerCode, &mut notes)?),
            _ => None,
        };
        let partner_flag = self.flag(cols, Field::PartnerRelated)?;
        let ambulance = self.flag(cols, Field::Ambulance)?;
        let after_hours_emergency = self.flag(cols, Field::AfterHoursEmergency)?;
        let checkup_origin = self.flag(cols, Field::CheckupOrigin)?;

        let partner_related = partner_flag
            || partner_code
                .as_deref()
                .is_some_and(|p| ctx.related.is_some_and(|r| r.contains(&hospital_code, p)));
        let event = Event {
            patient_key: ctx.pseudonymizer.pseudonymize(patient_raw),
            hospital_code,
            event_date,
            event_type,
            department: cols.get(Field::Department).unwrap_or("").to_owned(),
            referral_letter,
            partner_code,
            partner_related,
            ambulance,
            after_hours_emergency,
            checkup_origin,
            line,
            byte_offset,
        };
        Ok((event, notes))
    }

    fn code(&self, raw: &str, field: Field, notes: &mut Notes) -> Result<String, RowError> {
        let bad = if field == Field::PartnerCode {
            RejectReason::BadPartnerCode
        } else {
            RejectReason::BadHospitalCode
        };
        let code =
            parse_institution_code(&super::code::code_text(raw, self.strip_code_hyphens), self.pad_codes)
                .map_err(|e: CodeError| RowError { field, reason: bad, detail: e.detail() })?;
        if !code.check_digit_ok {
            if self.strict_codes {
                let expected = super::code::luhn_check_digit(&code.code[..9]).unwrap_or(0);
                return Err(RowError {
                    field,
                    reason: RejectReason::BadCheckDigit,
                    detail: format!(
                        "the check digit is {}, but the first nine digits give {expected}; \
                         check the code, or set strict_codes: false to accept it with a warning",
                        &code.code[9..]
                    ),
                });
            }
            if field == Field::PartnerCode {
                notes.partner_bad_check = true;
            } else {
                notes.hospital_bad_check = true;
            }
        }
        notes.padded += u8::from(code.padded);
        Ok(code.code)
    }

    fn date(&self, raw: &str) -> Result<NaiveDate, RowError> {
        let date = parse_date(raw).map_err(|e| RowError {
            field: Field::EventDate,
            reason: match e {
                DateError::OutsideEra { .. } => RejectReason::EraOutOfRange,
                _ => RejectReason::BadDate,
            },
            detail: e.to_string(),
        })?;
        if !self.dates.contains(date) {
            return Err(RowError {
                field: Field::EventDate,
                reason: RejectReason::DateOutOfRange,
                detail: format!(
                    "{date} is outside {}..{} (dates: earliest/latest in the config; a later date is in the future)",
                    self.dates.earliest, self.dates.latest
                ),
            });
        }
        Ok(date)
    }

    /// Whether `raw` is a visit type of this input's vocabulary.
    fn is_event_type(&self, raw: &str) -> bool {
        let v = normalize_value(raw);
        self.event_types.iter().any(|(k, _)| *k == *v)
    }

    fn event_type(&self, raw: &str) -> Result<EventType, RowError> {
        let v = normalize_value(raw);
        self.event_types.iter().find(|(k, _)| *k == *v).map(|(_, t)| *t).ok_or_else(|| RowError {
            field: Field::EventType,
            reason: RejectReason::UnknownEventType,
            detail: self.event_types_help.clone(),
        })
    }

    fn flag(&self, cols: &Cols<'_>, field: Field) -> Result<bool, RowError> {
        let Some(raw) = cols.get(field) else {
            return Ok(false);
        };
        match raw {
            "1" => return Ok(true),
            "0" => return Ok(false),
            _ => {}
        }
        let v = normalize_value(raw);
        if self.trues.iter().any(|t| *t == *v) {
            Ok(true)
        } else if self.falses.iter().any(|f| *f == *v) {
            Ok(false)
        } else {
            Err(RowError {
                field,
                reason: RejectReason::BadFlag,
                detail: format!("{field}: {}", self.flags_help),
            })
        }
    }
}

/// The per-file reading state.
struct Reader<R> {
    file: String,
    lines: LineReader<R>,
    decoder: LineDecoder,
    split: Splitter,
    rules: Rules,
    stats: FileStats,
}

impl<R: std::io::Read> Reader<R> {
    fn line_error(&self, e: LineError) -> IngestError {
        match e {
            LineError::Io(source) => {
                IngestError::Read { file: self.file.clone(), line: self.lines.line_number(), source }
            }
            LineError::TooLong(line) => IngestError::LineTooLong { file: self.file.clone(), line },
        }
    }

    fn reject(&mut self, rej: Reject, on_reject: &mut impl FnMut(Reject)) {
        self.stats.rows_rejected += 1;
        *self.stats.rejects_by_reason.entry(rej.reason.code().to_owned()).or_default() += 1;
        on_reject(rej);
    }

    fn note(&mut self, e: &Event, n: Notes) {
        if n.hospital_bad_check {
            self.stats.check_digit_warnings += 1;
            self.stats.bad_check_digit_codes.insert(e.hospital_code.clone());
        }
        if n.partner_bad_check
            && let Some(p) = &e.partner_code
        {
            self.stats.check_digit_warnings += 1;
            self.stats.bad_check_digit_codes.insert(p.clone());
        }
        self.stats.padded_codes += u64::from(n.padded);
    }

    /// Reads up to the first non-blank line and maps its headings.
    fn read_header(&mut self, format: &InputFormat) -> Result<Layout, IngestError> {
        let file = self.file.clone();
        loop {
            let line = match self.lines.next_line() {
                Ok(Some(l)) => l,
                Ok(None) => return Err(IngestError::Empty { file }),
                Err(e) => return Err(self.line_error(e)),
            };
            let number = line.number;
            // Title rows above the headings.
            if format.heading_row.is_some_and(|heading| number < heading) {
                continue;
            }
            if line.bytes.contains(&0) {
                return Err(IngestError::Binary { file, line: number });
            }
            let had_bom = line.bom;
            let text = match self.decoder.decode(line.bytes) {
                Ok(t) => t,
                Err(_) => {
                    let hint = header_hint(format, line.bytes, had_bom);
                    return Err(IngestError::HeaderEncoding {
                        file,
                        line: number,
                        encoding: format.encoding.name().to_owned(),
                        hint,
                    });
                }
            };
            if self.split.split(text) == Err(UnterminatedQuote) {
                return Err(IngestError::UnterminatedQuote { file, line: number });
            }
            if self.split.all_empty() {
                self.stats.blank_lines += 1;
                continue;
            }
            return self.map_headings(format, number);
        }
    }

    fn map_headings(&self, format: &InputFormat, line: u64) -> Result<Layout, IngestError> {
        let mut slots: [Option<usize>; 11] = [None; 11];
        let mut ignored = Vec::new();
        let headings: Vec<&str> = (0..self.split.len()).map(|i| self.split.get(i)).collect();
        // Headings are compared after trimming and full-width → ASCII ("患者ＩＤ" = "患者ID").
        let mapped: Vec<(String, Field)> = format
            .columns
            .iter()
            .filter_map(|(k, v)| Some((normalize_value(k).into_owned(), Field::from_name(v)?)))
            .collect();
        for (i, &h) in headings.iter().enumerate() {
            let norm = normalize_value(h);
            let field =
                mapped.iter().find(|(k, _)| *k == *norm).map(|(_, f)| *f).or_else(|| Field::from_name(&norm));
            let Some(f) = field else {
                ignored.push(if h.is_empty() { format!("column {}", i + 1) } else { h.to_owned() });
                continue;
            };
            if let Some(prev) = slots[f.index()] {
                return Err(IngestError::DuplicateColumn {
                    file: self.file.clone(),
                    line,
                    field: f.name().to_owned(),
                    first: headings[prev].to_owned(),
                    second: h.to_owned(),
                });
            }
            slots[f.index()] = Some(i);
        }
        if let Some(f) = Field::ALL.into_iter().find(|f| f.is_required() && slots[f.index()].is_none()) {
            return Err(IngestError::MissingColumn {
                file: self.file.clone(),
                line,
                field: f.name().to_owned(),
                found: shown_headings(&headings),
            });
        }
        let mut layout = Layout::finish(slots, Some(headings.len()), ignored);
        layout.headings = headings.iter().map(|h| (*h).to_owned()).collect();
        Ok(layout)
    }
}

/// The headings of a file whose required column is missing, as an error message may quote
/// them: only what looks like column names (short, several of them). The first line of a file
/// that is not an export at all (a configured path pointing at the wrong file) is not echoed.
fn shown_headings(headings: &[&str]) -> String {
    const LONGEST: usize = 40;
    const MOST: usize = 30;
    let plausible = headings.len() >= 2
        && headings.len() <= MOST
        && headings.iter().all(|h| h.chars().count() <= LONGEST && !h.chars().any(char::is_control));
    if !plausible {
        let bytes: usize = headings.iter().map(|h| h.len()).sum();
        return format!(
            "none that look like column names ({} field(s), {bytes} bytes; not shown: is this the right file?)",
            headings.len()
        );
    }
    headings.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ")
}

fn header_hint(format: &InputFormat, bytes: &[u8], bom: bool) -> String {
    match format.encoding.decoder() {
        None => {
            let sjis =
                encoding_rs::SHIFT_JIS.decode_without_bom_handling_and_without_replacement(bytes).is_some();
            if sjis {
                "; it reads as Shift_JIS: set encoding: shift_jis for this input".into()
            } else {
                "; check the file's encoding (encoding: utf-8 or shift_jis)".into()
            }
        }
        Some(_) => {
            if bom || std::str::from_utf8(bytes).is_ok() {
                "; it reads as UTF-8: set encoding: utf-8 for this input".into()
            } else {
                "; check the file's encoding (encoding: utf-8 or shift_jis)".into()
            }
        }
    }
}
