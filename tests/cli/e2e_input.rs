//! Real-world input: a Shift_JIS export with Japanese headings, era dates and ○ flags, the
//! `validate`, `init` and `mapping suggest` commands.

use crate::common::*;
use crate::e2e_pipeline::fixture_rows;

/// 2025-04-03 → R7.4.3 (令和7年 = 2025).
fn era(date: &str) -> String {
    let y: i32 = date[0..4].parse().unwrap();
    let m: u32 = date[5..7].parse().unwrap();
    let d: u32 = date[8..10].parse().unwrap();
    format!("R{}.{m}.{d}", y - 2018)
}

/// The canonical fixture as a hospital system would export it.
pub(crate) fn as_japanese_export(rows: &[String]) -> Vec<u8> {
    let mut text = String::from(
        "医療機関コード,受診日,区分,患者番号,診療科,紹介状,紹介元医療機関コード,関連施設,救急車,時間外,健診\r\n",
    );
    for r in rows {
        let c: Vec<&str> = r.split(',').collect();
        // A spreadsheet dropped the leading zero of the Hokkaido code.
        let code = c[0].trim_start_matches('0');
        let kind = match c[2] {
            "first_visit" => "初診",
            "return_visit" => "再診",
            _ => "逆紹介",
        };
        let flag = |v: &str| if v == "1" { "○" } else { "" };
        text.push_str(&format!(
            "{code},{},{kind},{},{},{},{},{},{},{},{}\r\n",
            era(c[1]),
            c[3],
            c[4],
            flag(c[5]),
            c[6],
            flag(c[7]),
            flag(c[8]),
            flag(c[9]),
            flag(c[10])
        ));
    }
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&text);
    let bad: Vec<char> = text.chars().filter(|ch| encoding_rs::SHIFT_JIS.encode(&ch.to_string()).2).collect();
    assert!(!unmappable, "{bad:?}");
    // A BOM is not Shift_JIS, but some exporters put the UTF-8 one in front anyway.
    let mut out = b"\xEF\xBB\xBF".to_vec();
    out.extend_from_slice(&bytes[..]);
    out
}

const SJIS_FORMAT: &str = r#"    format:
      encoding: shift_jis
      pad_codes: true
      columns:
        医療機関コード: hospital_code
        受診日: event_date
        区分: event_type
        患者番号: patient_id
        診療科: department
        紹介状: referral_letter
        紹介元医療機関コード: partner_code
        関連施設: partner_related
        救急車: ambulance
        時間外: after_hours_emergency
        健診: checkup_origin
      values:
        true_values: ["○"]
        false_values: [""]
"#;

#[test]
fn a_shift_jis_export_gives_the_same_counts_as_the_canonical_file() {
    let canonical = Project::new("");
    canonical.input("fy2025.csv", &fixture_rows());
    canonical.run();

    let export = Project::with_config(&format!(
        "warehouse: warehouse\nreports: reports\ninputs:\n  - path: exports/*.csv\n    kind: events\n{SJIS_FORMAT}"
    ));
    std::fs::create_dir_all(export.path("exports")).unwrap();
    std::fs::write(export.path("exports/export.csv"), as_japanese_export(&fixture_rows())).unwrap();
    let out = export.run();
    assert_code(&out, 1);

    for period in ["month", "fiscal-year"] {
        let a = stdout(&canonical.rates(period, &[]));
        let b = stdout(&export.rates(period, &[]));
        assert!(a.lines().count() > 3);
        assert_eq!(a, b, "--period {period}");
    }
    // The leading zero survived: rates and the report page carry 0110113719.
    assert!(stdout(&export.rates("fiscal-year", &[])).contains("\n0110113719,2025,"));
    assert!(export.path("reports/0110113719_FY2025.html").is_file());
}

#[test]
fn validate_reports_rejects_without_writing_anything() {
    let p = Project::new("max_reject_ratio: 0.05\n");
    let mut rows = fixture_rows();
    rows.insert(3, row("0110113719", "2025-02-30", "first_visit", "X1", "", [0, 0, 0, 0, 0]));
    p.input("fy2025.csv", &rows);
    let config = p.config();
    // No key: validate needs none.
    let out = p.refrate_without_key(&["validate", "--config", config.to_str().unwrap()]);
    assert_code(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("inputs/fy2025.csv: 62 rows read, 61 valid, 1 rejected (utf-8)"), "{text}");
    // Header = line 1, so the fourth data row is line 5.
    assert!(text.contains("bad_date (日付が読めません): 1") && text.contains("line 5"), "{text}");
    assert!(!p.path("warehouse").exists() && !p.path("reports").exists());

    let clean = Project::new("");
    clean.input("fy2025.csv", &fixture_rows());
    let config = clean.config();
    assert_code(&clean.refrate_without_key(&["validate", "--config", config.to_str().unwrap()]), 0);

    // An unterminated quote makes the file unusable: exit 2.
    let broken = Project::new("");
    broken.input("bad.csv", &["0110113719,2025-04-01,first_visit,\"P1,内科,0,,0,0,0,0".to_string()]);
    let config = broken.config();
    let out = broken.refrate_without_key(&["validate", "--config", config.to_str().unwrap()]);
    assert_code(&out, 2);
    assert!(stdout(&out).contains("line 2"), "{}", stdout(&out));
}

#[test]
fn init_writes_a_config_that_loads_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = refrate_in(dir.path(), &["init", "refrate.yaml"], None);
    assert_code(&out, 0);
    let out = refrate_in(dir.path(), &["validate", "--config", "refrate.yaml"], None);
    // The starter config loads; its glob matches nothing yet, which validate says (exit 2).
    assert_code(&out, 2);
    assert!(stderr(&out).contains("matches no file"), "{}", stderr(&out));
    assert_code(&refrate_in(dir.path(), &["init", "refrate.yaml"], None), 2);
}

#[test]
fn mapping_suggest_reads_a_shift_jis_export() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("export.csv"), as_japanese_export(&fixture_rows())).unwrap();
    let out = refrate_in(dir.path(), &["mapping", "suggest", "export.csv"], None);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("encoding: shift_jis") && text.contains("\"受診日\": event_date"), "{text}");
    assert!(text.contains("\"逆紹介\": referral_out"), "{text}");
}

/// An event log kept in Excel (a title row, the headings on row 2) gives the same counts as
/// the same rows delivered as CSV, and its rejects name the sheet's rows.
#[test]
fn an_event_log_workbook_gives_the_counts_of_its_csv() {
    let rows = [
        row("0110113719", "2025-04-01", "first_visit", "P001", "1310123458", [1, 0, 0, 0, 0]),
        row("0110113719", "2025-04-02", "first_visit", "P002", "", [0, 0, 1, 0, 0]),
        row("0110113719", "2025-04-03", "referral_out", "P001", "1310123458", [0, 0, 0, 0, 0]),
        row("0110113719", "2025-04-31", "first_visit", "P003", "", [0, 0, 0, 0, 0]),
    ];
    let csv = Project::new("max_reject_ratio: 0.5\n");
    csv.input("visits.csv", &rows);
    let book = Project::with_config(
        "warehouse: warehouse\nreports: reports\ninputs:\n  - path: inputs/*.xlsx\n    kind: events\n    \
         format: { sheet: 受診記録, heading_row: 2 }\nmax_reject_ratio: 0.5\n",
    );
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("受診記録").unwrap();
    sheet.write_string(0, 0, "2025年4月 受診記録").unwrap();
    for (r, line) in std::iter::once(HEADER.to_string()).chain(rows.iter().cloned()).enumerate() {
        for (c, cell) in line.split(',').enumerate() {
            sheet.write_string(r as u32 + 1, c as u16, cell).unwrap();
        }
    }
    workbook.save(book.path("inputs/visits.xlsx")).unwrap();
    for p in [&csv, &book] {
        assert_code(&p.run(), 0);
    }
    assert_eq!(stdout(&book.rates("month", &[])), stdout(&csv.rates("month", &[])));
    // The bad date is the sheet's row 6 (line 5 of the CSV).
    let rejects = std::fs::read_to_string(book.path("reports/rejects.csv")).unwrap();
    assert!(rejects.contains("visits.xlsx,6,"), "{rejects}");
    let rejects = std::fs::read_to_string(csv.path("reports/rejects.csv")).unwrap();
    assert!(rejects.contains("visits.csv,5,"), "{rejects}");
}

/// A referral from an institution of the same founder does not count, whether the row flags it
/// or the hospital's list (here Shift_JIS with Japanese headings) names it.
#[test]
fn a_related_institution_list_in_shift_jis_keeps_its_referrals_out() {
    let rows = [
        row("0110113719", "2025-04-01", "first_visit", "P001", "1310123458", [1, 0, 0, 0, 0]),
        row("0110113719", "2025-04-02", "first_visit", "P002", "2712345673", [1, 0, 0, 0, 0]),
    ];
    let plain = Project::new("");
    plain.input("visits.csv", &rows);
    let listed =
        Project::new("related_institutions: { path: related.csv, format: { encoding: shift_jis } }\n");
    listed.input("visits.csv", &rows);
    let list = "医療機関コード,関連医療機関コード,名称\n0110113719,1310123458,系列クリニック\n";
    std::fs::write(listed.path("related.csv"), encoding_rs::SHIFT_JIS.encode(list).0).unwrap();
    let referred = |p: &Project| {
        assert!(matches!(p.run().status.code(), Some(0 | 1)));
        let out = stdout(&p.rates("month", &[]));
        let header: Vec<&str> = out.lines().next().unwrap().split(',').collect();
        let i = header.iter().position(|h| *h == "referred_patients").unwrap();
        out.lines().nth(1).unwrap().split(',').nth(i).unwrap().to_string()
    };
    assert_eq!(referred(&plain), "2");
    assert_eq!(referred(&listed), "1");
    // A code the list cannot read is named with its line and field.
    std::fs::write(
        listed.path("related.csv"),
        encoding_rs::SHIFT_JIS.encode("医療機関コード,関連医療機関コード\n0110113719,13101234\n").0,
    )
    .unwrap();
    let out = listed.run();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("related.csv line 2, field related_code"), "{}", stderr(&out));
}
