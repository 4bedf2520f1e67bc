//! The overview as an Excel workbook (`overview_FY<year>.xlsx`), for prefecture staff who
//! sort, filter and share it: one sheet per regime, Japanese headings, the header row frozen
//! and filterable, every number a number with its format (rates to one decimal with `%` or
//! `‰` marked, counts with separators, changes signed), codes and names as text cells, so
//! that `0110113719` keeps its zero and no value from the data is ever a formula.
//!
//! The values are those of `overview_FY<year>.csv`, cell for cell (tested by reading the
//! workbook back): the rates are the displayed, rounded values, not recomputed here.

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, FormatAlign, Workbook, Worksheet, XlsxError};

use super::{IndexPage, IndexRow, ReportError};

/// The columns of a regime's sheet, with their width.
const COLUMNS: [(&str, f64); 18] = [
    ("医療機関コード", 14.0),
    ("医療機関名", 28.0),
    ("年度", 7.0),
    ("集計時点", 10.0),
    ("経過月数", 8.0),
    ("紹介率", 10.0),
    ("紹介率の分子", 12.0),
    ("紹介率の分母", 12.0),
    ("逆紹介率", 10.0),
    ("逆紹介率の分子", 13.0),
    ("逆紹介率の分母", 13.0),
    ("判定", 16.0),
    ("満たす基準", 14.0),
    ("境界", 6.0),
    ("紹介率の前年差", 13.0),
    ("逆紹介率の前年差", 14.0),
    ("データのある月数", 14.0),
    ("欠けている月数", 13.0),
];

/// Excel's limit on a sheet name, and the characters it refuses in one.
const SHEET_NAME_MAX: usize = 31;
const SHEET_NAME_REFUSED: [char; 7] = ['[', ']', ':', '*', '?', '/', '\\'];

struct Formats {
    header: Format,
    text: Format,
    count: Format,
    year: Format,
    percent: Format,
    permille: Format,
    change: Format,
}

impl Formats {
    fn new() -> Self {
        let text = Format::new().set_num_format("@");
        Formats {
            header: Format::new().set_bold().set_text_wrap().set_align(FormatAlign::Center),
            text,
            count: Format::new().set_num_format("#,##0"),
            year: Format::new().set_num_format("0"),
            // Quoted: a bare % would multiply the value by 100.
            percent: Format::new().set_num_format("0.0\" %\""),
            permille: Format::new().set_num_format("0.0\" ‰\""),
            change: Format::new().set_num_format("\"+\"0.0;\"-\"0.0;\"±\"0.0"),
        }
    }

    fn rate(&self, unit: &str) -> &Format {
        if unit == "‰" { &self.permille } else { &self.percent }
    }
}

/// The workbook of one fiscal year's overview, as bytes. Its document properties carry the
/// run's time, so the same data gives the same workbook.
pub(crate) fn index_xlsx(
    page: &IndexPage,
    created: Option<chrono::NaiveDateTime>,
) -> Result<Vec<u8>, ReportError> {
    Ok(workbook(page, created)?)
}

fn workbook(page: &IndexPage, created: Option<chrono::NaiveDateTime>) -> Result<Vec<u8>, XlsxError> {
    use chrono::{Datelike, Timelike};
    let mut book = Workbook::new();
    let mut properties = DocProperties::new()
        .set_title(format!("紹介率・逆紹介率 {}年度 一覧", page.fiscal_year))
        .set_author(format!("refrate {}", page.run.refrate_version));
    if let Some(t) = created {
        let time = ExcelDateTime::from_ymd(t.year() as u16, t.month() as u8, t.day() as u8)?.and_hms(
            t.hour() as u16,
            t.minute() as u8,
            t.second(),
        )?;
        properties = properties.set_creation_datetime(&time);
    }
    book.set_properties(&properties);
    let formats = Formats::new();
    let mut used_names: Vec<String> = Vec::new();
    for (regime_id, _) in &page.regimes {
        let sheet = book.add_worksheet();
        sheet.set_name(sheet_name(regime_id, &mut used_names))?;
        header(sheet, &formats)?;
        let mut row = 1u32;
        for r in page.rows.iter().filter(|r| &r.regime_id == regime_id) {
            rate_row(sheet, row, r, page, &formats)?;
            row += 1;
        }
        for h in &page.not_submitted {
            sheet.write_string_with_format(row, 0, &h.code, &formats.text)?;
            sheet.write_string_with_format(row, 1, h.name.as_deref().unwrap_or(""), &formats.text)?;
            sheet.write_number_with_format(row, 2, f64::from(page.fiscal_year), &formats.year)?;
            progress_cells(sheet, row, page, &formats)?;
            sheet.write_string(row, 11, "未提出")?;
            sheet.write_number_with_format(row, 16, 0.0, &formats.count)?;
            let elapsed = page.progress.as_ref().map_or(12, |p| p.months_elapsed);
            sheet.write_number_with_format(row, 17, f64::from(elapsed), &formats.count)?;
            row += 1;
        }
        let last_column = (COLUMNS.len() - 1) as u16;
        sheet.autofilter(0, 0, row.saturating_sub(1).max(1), last_column)?;
    }
    if page.regimes.is_empty() {
        let sheet = book.add_worksheet();
        header(sheet, &formats)?;
    }
    if let Some(approval) = &page.approval {
        approval_sheet(book.add_worksheet(), approval, page.fiscal_year, &formats)?;
    }
    if page.forms.iter().any(|f| f.form28.is_some()) {
        form28_sheet(book.add_worksheet(), &page.forms, &formats)?;
    }
    if page.forms.iter().any(|f| f.business_report.is_some()) {
        report_sheet(book.add_worksheet(), &page.forms, &formats)?;
    }
    book.save_to_buffer()
}

/// The 承認要件 sheet: one row per hospital, a column per requirement (満たす / 満たさない /
/// 不明), the overall verdict last, filterable.
fn approval_sheet(
    sheet: &mut Worksheet,
    approval: &super::model::ApprovalOverview,
    fiscal_year: i32,
    formats: &Formats,
) -> Result<(), XlsxError> {
    sheet.set_name("承認要件")?;
    let mut titles: Vec<&str> = vec!["医療機関コード", "医療機関名", "年度"];
    titles.extend(approval.requirements.iter().map(|(_, name)| name.as_str()));
    titles.push("承認要件");
    titled(sheet, &titles, formats)?;
    for (i, r) in approval.rows.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_string_with_format(row, 0, &r.code, &formats.text)?;
        sheet.write_string_with_format(row, 1, r.name.as_deref().unwrap_or(""), &formats.text)?;
        sheet.write_number_with_format(row, 2, f64::from(fiscal_year), &formats.year)?;
        for (j, met) in r.met.iter().enumerate() {
            let word = match met {
                Some(true) => "満たす",
                Some(false) => "満たさない",
                None => "不明",
            };
            sheet.write_string(row, 3 + j as u16, word)?;
        }
        sheet.write_string(row, titles.len() as u16 - 1, r.verdict.label_ja())?;
    }
    sheet.autofilter(0, 0, (approval.rows.len() as u32).max(1), titles.len() as u16 - 1)?;
    Ok(())
}

fn header(sheet: &mut Worksheet, formats: &Formats) -> Result<(), XlsxError> {
    for (col, (title, width)) in COLUMNS.iter().enumerate() {
        let col = col as u16;
        sheet.write_string_with_format(0, col, *title, &formats.header)?;
        sheet.set_column_width(col, *width)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

/// As-of month and months elapsed, as in the CSV (a closed fiscal year: no month, 12).
fn progress_cells(
    sheet: &mut Worksheet,
    row: u32,
    page: &IndexPage,
    formats: &Formats,
) -> Result<(), XlsxError> {
    match &page.progress {
        Some(p) => {
            sheet.write_string_with_format(row, 3, &p.through_month, &formats.text)?;
            sheet.write_number_with_format(row, 4, f64::from(p.months_elapsed), &formats.count)?;
        }
        None => {
            sheet.write_number_with_format(row, 4, 12.0, &formats.count)?;
        }
    }
    Ok(())
}

fn rate_row(
    sheet: &mut Worksheet,
    row: u32,
    r: &IndexRow,
    page: &IndexPage,
    formats: &Formats,
) -> Result<(), XlsxError> {
    sheet.write_string_with_format(row, 0, &r.code, &formats.text)?;
    sheet.write_string_with_format(row, 1, r.name.as_deref().unwrap_or(""), &formats.text)?;
    sheet.write_number_with_format(row, 2, f64::from(r.fiscal_year), &formats.year)?;
    progress_cells(sheet, row, page, formats)?;
    for (col, rate) in [(5u16, &r.referral), (8, &r.reverse)] {
        if rate.masked {
            // An interval is not a number: shown as the page shows it, never as one end.
            let (numerator, denominator) = rate.sides_text();
            sheet.write_string_with_format(row, col, rate.display.as_deref().unwrap_or(""), &formats.text)?;
            sheet.write_string_with_format(row, col + 1, numerator, &formats.text)?;
            sheet.write_string_with_format(row, col + 2, denominator, &formats.text)?;
            continue;
        }
        // The displayed value, as a number: what the page and the CSV show.
        if let Some(value) = rate.display.as_deref().and_then(|d| d.parse::<f64>().ok()) {
            sheet.write_number_with_format(row, col, value, formats.rate(&rate.unit))?;
        }
        sheet.write_number_with_format(row, col + 1, rate.numerator as f64, &formats.count)?;
        sheet.write_number_with_format(row, col + 2, rate.denominator as f64, &formats.count)?;
    }
    sheet.write_string(row, 11, r.verdict.label_ja())?;
    sheet.write_string_with_format(row, 12, r.met_criteria_names.join("・"), &formats.text)?;
    if r.on_boundary {
        sheet.write_string(row, 13, "境界")?;
    }
    for (col, change) in [(14u16, &r.referral_change), (15, &r.reverse_change)] {
        if let Some(value) = change.as_deref().and_then(change_value) {
            sheet.write_number_with_format(row, col, value, &formats.change)?;
        }
    }
    sheet.write_number_with_format(row, 16, f64::from(r.months_with_data), &formats.count)?;
    sheet.write_number_with_format(row, 17, f64::from(r.missing_months), &formats.count)?;
    Ok(())
}

/// `"+3.2"`, `"-0.4"`, `"±0.0"` as numbers.
fn change_value(change: &str) -> Option<f64> {
    let value: f64 = change.trim_start_matches(['+', '±']).parse().ok()?;
    Some(value)
}

/// A sheet name Excel accepts, unique in the workbook: the regime id without the characters
/// Excel refuses, cut to its limit.
fn sheet_name(regime_id: &str, used: &mut Vec<String>) -> String {
    let clean: String =
        regime_id.chars().filter(|c| !SHEET_NAME_REFUSED.contains(c)).take(SHEET_NAME_MAX).collect();
    let mut name = if clean.is_empty() { "regime".to_string() } else { clean };
    let mut n = 2;
    while used.iter().any(|u| u.eq_ignore_ascii_case(&name)) {
        let suffix = format!("~{n}");
        let keep = SHEET_NAME_MAX - suffix.chars().count();
        name = name.chars().take(keep).collect::<String>() + &suffix;
        n += 1;
    }
    used.push(name.clone());
    name
}

/// A header row of `titles`, frozen, with the widths given.
fn titled(sheet: &mut Worksheet, titles: &[&str], formats: &Formats) -> Result<(), XlsxError> {
    for (col, title) in titles.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *title, &formats.header)?;
        sheet.set_column_width(col as u16, if col == 1 { 28.0 } else { 13.0 })?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

/// A count cell: a number, or empty when the data lacks it.
fn count_cell(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    value: Option<u64>,
    formats: &Formats,
) -> Result<(), XlsxError> {
    if let Some(v) = value {
        sheet.write_number_with_format(row, col, v as f64, &formats.count)?;
    }
    Ok(())
}

/// A rate cell: the form's one-decimal value as a number with its unit.
fn form_rate_cell(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    rate: &crate::forms::FormRate,
    formats: &Formats,
) -> Result<(), XlsxError> {
    if let Some(v) = rate.display.as_deref().and_then(|d| d.parse::<f64>().ok()) {
        sheet.write_number_with_format(row, col, v, formats.rate(rate.unit))?;
    }
    Ok(())
}

/// 別紙様式28: one row per hospital and form (the year's, and a recovery re-report).
fn form28_sheet(
    sheet: &mut Worksheet,
    forms: &[crate::forms::HospitalForms],
    formats: &Formats,
) -> Result<(), XlsxError> {
    sheet.set_name("別紙様式28")?;
    let titles = [
        "保険医療機関コード",
        "保険医療機関名",
        "報告",
        "期間",
        "①初診の患者数",
        "②再診の患者数",
        "③紹介患者数",
        "④逆紹介患者数",
        "⑤救急患者数",
        "⑥紹介割合",
        "⑦逆紹介割合",
        "判定",
        "提出期限",
    ];
    titled(sheet, &titles, formats)?;
    let mut row = 1u32;
    for form in forms.iter().flat_map(|f| f.form28.iter().chain(&f.form28_recovery)) {
        sheet.write_string_with_format(row, 0, &form.code, &formats.text)?;
        sheet.write_string_with_format(row, 1, form.name.as_deref().unwrap_or(""), &formats.text)?;
        sheet.write_string(row, 2, &form.kind_ja)?;
        sheet.write_string(row, 3, &form.period_ja)?;
        for (i, c) in form.counts.iter().enumerate() {
            count_cell(sheet, row, 4 + i as u16, c.value, formats)?;
        }
        for (i, r) in form.rates.iter().enumerate() {
            form_rate_cell(sheet, row, 9 + i as u16, r, formats)?;
        }
        sheet.write_string(row, 11, form.verdict.label_ja())?;
        sheet.write_string(row, 12, &form.deadline.note)?;
        row += 1;
    }
    sheet.autofilter(0, 0, row.saturating_sub(1).max(1), titles.len() as u16 - 1)?;
    Ok(())
}

/// 業務報告 ①: one row per hospital.
fn report_sheet(
    sheet: &mut Worksheet,
    forms: &[crate::forms::HospitalForms],
    formats: &Formats,
) -> Result<(), XlsxError> {
    sheet.set_name("業務報告①")?;
    let titles = [
        "医療機関コード",
        "医療機関名",
        "期間",
        "紹介患者の数",
        "初診患者の数",
        "初診の患者（全体）",
        "救急自動車により搬入",
        "休日又は夜間の救急",
        "健康診断の結果により治療開始",
        "除いた初診（重複は1回）",
        "逆紹介患者の数",
        "紹介率",
        "逆紹介率",
        "判定",
        "満たした基準",
        "提出期限",
    ];
    titled(sheet, &titles, formats)?;
    let mut row = 1u32;
    for r in forms.iter().filter_map(|f| f.business_report.as_ref()) {
        sheet.write_string_with_format(row, 0, &r.code, &formats.text)?;
        sheet.write_string_with_format(row, 1, r.name.as_deref().unwrap_or(""), &formats.text)?;
        sheet.write_string(row, 2, &r.period_ja)?;
        let value = |label: &str| r.counts.iter().find(|c| c.label == label).and_then(|c| c.value);
        count_cell(sheet, row, 3, value("紹介患者の数"), formats)?;
        count_cell(sheet, row, 4, value("初診患者の数"), formats)?;
        count_cell(sheet, row, 5, r.first_visits, formats)?;
        for (i, e) in r.excluded.iter().enumerate() {
            count_cell(sheet, row, 6 + i as u16, e.value, formats)?;
        }
        count_cell(sheet, row, 9, r.excluded_once, formats)?;
        count_cell(sheet, row, 10, value("逆紹介患者の数"), formats)?;
        for (i, rate) in r.rates.iter().enumerate() {
            form_rate_cell(sheet, row, 11 + i as u16, rate, formats)?;
        }
        sheet.write_string(row, 13, r.verdict.label_ja())?;
        sheet.write_string_with_format(row, 14, r.met_criteria.join("・"), &formats.text)?;
        sheet.write_string(row, 15, &r.deadline.note)?;
        row += 1;
    }
    sheet.autofilter(0, 0, row.saturating_sub(1).max(1), titles.len() as u16 - 1)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_are_ones_excel_accepts_and_unique() {
        let mut used = Vec::new();
        assert_eq!(sheet_name("chiiki-shien-2014", &mut used), "chiiki-shien-2014");
        assert_eq!(sheet_name("a/b:c", &mut used), "abc");
        let long = "x".repeat(40);
        assert_eq!(sheet_name(&long, &mut used).chars().count(), 31);
        let again = sheet_name(&long, &mut used);
        assert!(again.ends_with("~2") && again.chars().count() == 31, "{again}");
        assert_eq!(sheet_name("CHIIKI-SHIEN-2014", &mut used), "CHIIKI-SHIEN-2014~2");
    }

    #[test]
    fn changes_read_as_signed_numbers() {
        assert_eq!(change_value("+3.2"), Some(3.2));
        assert_eq!(change_value("-0.4"), Some(-0.4));
        assert_eq!(change_value("±0.0"), Some(0.0));
        assert_eq!(change_value("n/a"), None);
    }
}
