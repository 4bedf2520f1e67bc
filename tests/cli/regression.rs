//! Regression tests of the real binary, each named after what broke (issues "Data safety" and
//! "Never a silent green"). Each failed on the code before its fix.

use std::os::unix::fs::PermissionsExt;

use crate::common::*;

const PASSING: &str = "2711000105";
const FAILING: &str = "4011000207";
const PARTNER: &str = "1311009904";

/// `n` first visits of `hospital` on `date`, the first `referred` of them with a letter from
/// an unrelated partner (so the referral rate is referred / n under chiiki-shien-2014).
fn first_visits(hospital: &str, date: &str, n: usize, referred: usize, tag: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            let letter = u8::from(i < referred);
            row(hospital, date, "first_visit", &format!("{tag}{i}"), PARTNER, [letter, 0, 0, 0, 0])
        })
        .collect()
}

/// A passing hospital (10 of 10 referred) and a failing one (5 of 10) in April 2025.
fn april(p: &Project) {
    let mut rows = first_visits(PASSING, "2025-04-10", 10, 10, "P");
    rows.extend(first_visits(FAILING, "2025-04-11", 10, 5, "F"));
    p.input("april.csv", &rows);
}

fn config_arg(p: &Project) -> String {
    p.config().to_str().unwrap().to_string()
}

#[test]
fn warehouse_overlapping_the_input_folder_is_refused_and_inputs_survive() {
    // The sample's own layout with `warehouse: .`: the sweep used to delete every input CSV.
    let p = Project::with_config(
        "warehouse: .\nreports: reports\nretention: 0s\ninputs:\n  - path: inputs/*.csv\n    kind: events\n",
    );
    april(&p);
    age_file(&p.path("inputs/april.csv"), 48 * 3600);
    let before = sha256_of(&p.path("inputs/april.csv"));
    for args in [vec!["run", "--config"], vec!["validate", "--config"], vec!["vacuum", "--config"]] {
        let mut args = args.clone();
        let config = config_arg(&p);
        args.push(&config);
        let out = p.refrate(&args);
        assert_code(&out, 2);
        let err = stderr(&out);
        assert!(err.contains("overlap") && err.contains(&p.dir.path().display().to_string()), "{err}");
    }
    assert_eq!(sha256_of(&p.path("inputs/april.csv")), before);
    assert!(!p.path("_manifest").exists(), "nothing may be written");

    // Inputs kept inside the warehouse folder.
    let p = Project::with_config(
        "warehouse: data\nreports: reports\ninputs:\n  - path: data/events/*.csv\n    kind: events\n",
    );
    p.write(
        "data/events/april.csv",
        &format!("{HEADER}\n{}\n", first_visits(PASSING, "2025-04-10", 3, 3, "P").join("\n")),
    );
    let out = p.run();
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("\"data/events/*.csv\"") && err.contains("inside the warehouse folder"), "{err}");
    assert!(!p.path("data/_manifest").exists());

    let p = Project::with_config(
        "warehouse: wh\nreports: wh/reports\ninputs:\n  - path: inputs/*.csv\n    kind: events\n",
    );
    april(&p);
    let out = p.run();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("overlap"), "{}", stderr(&out));
}

#[test]
fn sweep_deletes_only_names_refrate_generated() {
    let p = Project::new("retention: 0s\n");
    april(&p);
    assert_code(&p.run(), 1);
    let part = "warehouse/events/hospital=2711000105/month=2025-04";
    // A user's files below the warehouse, with names an older sweep deleted.
    let theirs = [
        format!("{part}/backup.parquet"),
        format!("{part}/part-killed.parquet"),
        "warehouse/events/2025-04.csv".to_string(),
        "warehouse/notes#2024".to_string(),
        "warehouse/events/export.csv#1".to_string(),
        "warehouse/rejects/run=mine/source-0000.parquet".to_string(),
    ];
    // Leftovers of a killed run, named as refrate names them.
    let ours = [
        format!("{part}/part-20250101T000000Z-4242-0badcafe.parquet"),
        format!("{part}/part-20250101T000000Z-4242-0badcafe.parquet#7"),
        "warehouse/rejects/run=20250101T000000Z-4242-0badcafe/source-0000.parquet".to_string(),
        "warehouse/_manifest/v00000000000000000009.json#3".to_string(),
    ];
    for f in theirs.iter().chain(&ours) {
        p.write(f, "x");
        age_file(&p.path(f), 48 * 3600);
    }
    let out = p.refrate(&["vacuum", "--config", &config_arg(&p)]);
    assert_code(&out, 0);
    assert!(stderr(&out).contains("deleted 4 file(s)"), "{}", stderr(&out));
    for f in &theirs {
        assert!(p.path(f).exists(), "{f} was deleted");
    }
    for f in &ours {
        assert!(!p.path(f).exists(), "{f} was kept");
    }
    // The published state reads as before.
    assert_code(&p.rates("fiscal-year", &[]), 1);
}

#[test]
fn damaged_older_manifest_does_not_break_the_sweep() {
    let p = Project::new("retention: 0s\n");
    april(&p);
    assert_code(&p.run(), 1);
    p.input("may.csv", &first_visits(PASSING, "2025-05-10", 3, 3, "M"));
    assert_code(&p.run(), 1);
    std::fs::write(p.path("warehouse/_manifest/v00000000000000000001.json"), b"{ garbage").unwrap();
    let out = p.refrate(&["vacuum", "--config", &config_arg(&p)]);
    assert_code(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("warning") && err.contains("v00000000000000000001.json"), "{err}");
    p.input("june.csv", &first_visits(PASSING, "2025-06-10", 3, 3, "J"));
    let out = p.run();
    assert_code(&out, 1);
    assert!(stderr(&out).contains("v00000000000000000001.json"), "{}", stderr(&out));
}

#[test]
fn date_before_1970_is_a_reject_not_a_panic() {
    let p = Project::new("max_reject_ratio: 0.5\n");
    let mut rows = first_visits(PASSING, "2025-04-10", 10, 10, "P");
    rows.push(row(PASSING, "1969-12-31", "first_visit", "OLD1", PARTNER, [1, 0, 0, 0, 0]));
    rows.push(row(PASSING, "S44.1.1", "first_visit", "OLD2", PARTNER, [1, 0, 0, 0, 0]));
    rows.push(row(PASSING, "1999-12-31", "first_visit", "OLD3", PARTNER, [1, 0, 0, 0, 0]));
    p.input("april.csv", &rows);
    let out = p.refrate(&["validate", "--config", &config_arg(&p)]);
    assert_code(&out, 1);
    assert!(
        stdout(&out).contains("date_out_of_range") && stdout(&out).contains("line 12"),
        "{}",
        stdout(&out)
    );
    let out = p.run();
    assert_code(&out, 0);
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    let rejects = csv_for_people(&p.path("reports/rejects.csv"));
    assert_eq!(rejects.matches("date_out_of_range").count(), 3, "{rejects}");
    let rates = stdout(&p.rates("fiscal-year", &[]));
    assert_eq!(first_columns(&rates, 5)[1], format!("{PASSING},2025,chiiki-shien-2014,10,10"));
}

#[test]
fn mistyped_future_year_does_not_turn_a_failing_year_green() {
    let p = Project::new("");
    let mut rows = first_visits(FAILING, "2025-04-11", 200, 100, "F");
    // R17.5.2 for R7.5.2: 2035-05.
    rows.push(row(FAILING, "R17.5.2", "first_visit", "T1", PARTNER, [1, 0, 0, 0, 0]));
    p.input("april.csv", &rows);
    let out = p.refrate(&["validate", "--config", &config_arg(&p)]);
    assert_code(&out, 1);
    assert!(stdout(&out).contains("date_out_of_range") && stdout(&out).contains("months 2025-04..2025-04"));
    let out = p.run();
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("checked for FY2024 and FY2025: 1 need attention"), "{err}");
    assert!(!p.path("reports/index_FY2035.html").exists());
    assert!(p.path(&format!("reports/{FAILING}_FY2025.html")).exists());
}

#[test]
fn a_month_far_after_the_stored_data_is_refused() {
    let p = Project::new("");
    april(&p);
    assert_code(&p.run(), 1);
    // 2026-05 (a mistyped year, still before today) is 13 months after 2025-04.
    p.input("may.csv", &first_visits(PASSING, "2026-05-10", 3, 3, "M"));
    let out = p.run();
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains(
            "inputs/may.csv has rows in 2026-05, 13 months after the month before it with data (2025-04)"
        ),
        "{err}"
    );
    assert!(err.contains("dates.max_jump_months"), "{err}");
    // validate stops where run stops.
    let out = p.refrate(&["validate", "--config", &config_arg(&p)]);
    assert_code(&out, 2);
    assert!(stdout(&out).contains("inputs/may.csv has rows in 2026-05, 13 months after"), "{}", stdout(&out));
    // A catch-up delivery of several months in a row is no leap.
    let catch_up = Project::new("");
    april(&catch_up);
    assert_code(&catch_up.run(), 1);
    let months: Vec<String> = (5..=12)
        .flat_map(|m| first_visits(PASSING, &format!("2025-{m:02}-10"), 2, 2, &format!("C{m}-")))
        .collect();
    catch_up.input("catch-up.csv", &months);
    assert_code(&catch_up.run(), 1);
    // Allowed on purpose: the run goes through.
    let config = std::fs::read_to_string(p.config()).unwrap() + "dates:\n  max_jump_months: 24\n";
    std::fs::write(p.config(), config).unwrap();
    assert_code(&p.run(), 1);
}

#[test]
fn pages_of_a_fiscal_year_no_longer_in_the_data_are_removed() {
    let p = Project::new("");
    let mut rows = first_visits(PASSING, "2025-03-10", 4, 4, "Y");
    rows.extend(first_visits(PASSING, "2025-04-10", 4, 4, "P"));
    p.input("a.csv", &rows);
    assert_code(&p.run(), 0);
    for f in ["2711000105_FY2024.html", "index_FY2024.html", "overview_FY2024.csv", "overview_FY2024.json"] {
        assert!(p.path(&format!("reports/{f}")).exists(), "{f}");
    }
    p.write("reports/notes_FY2024.html", "mine");
    p.write("reports/README.txt", "mine");
    // The March rows were a mistake: the corrected export has April only.
    p.input("a.csv", &first_visits(PASSING, "2025-04-10", 4, 4, "P"));
    assert_code(&p.run(), 0);
    for f in ["2711000105_FY2024.html", "index_FY2024.html", "overview_FY2024.csv", "overview_FY2024.json"] {
        assert!(!p.path(&format!("reports/{f}")).exists(), "{f} stayed");
    }
    for f in ["2711000105_FY2025.html", "index_FY2025.html", "index.html", "notes_FY2024.html", "README.txt"]
    {
        assert!(p.path(&format!("reports/{f}")).exists(), "{f} is gone");
    }
}

#[test]
fn an_input_glob_matching_nothing_is_exit_2() {
    let p = Project::with_config(
        "warehouse: warehouse\nreports: reports\ninputs:\n  - path: exports/*.csv\n    kind: events\n",
    );
    april(&p);
    for command in ["run", "validate"] {
        let out = p.refrate(&[command, "--quiet", "--config", &config_arg(&p)]);
        assert_code(&out, 2);
        let err = stderr(&out);
        assert!(err.contains("\"exports/*.csv\" matches no file") && err.contains("/exports/*.csv"), "{err}");
    }
    // Marked optional, an empty glob is only a note.
    let p = Project::new("  - path: later/*.csv\n    kind: events\n    optional: true\n");
    april(&p);
    let out = p.run();
    assert_code(&out, 1);
    assert!(stderr(&out).contains("optional input \"later/*.csv\" matches no file"), "{}", stderr(&out));
}

#[test]
fn an_unmapped_referral_letter_column_is_an_error_not_zero() {
    let p = Project::new("");
    let header = "hospital_code,event_date,event_type,patient_id,department,partner_code,partner_related,ambulance,after_hours_emergency,checkup_origin";
    let rows: Vec<String> =
        (0..10).map(|i| format!("{PASSING},2025-04-10,first_visit,P{i},内科,{PARTNER},0,0,0,0")).collect();
    p.write("inputs/april.csv", &format!("{header}\n{}\n", rows.join("\n")));
    for command in ["validate", "run"] {
        let out = p.refrate(&[command, "--config", &config_arg(&p)]);
        assert_code(&out, 2);
        let err = stderr(&out) + &stdout(&out);
        assert!(
            err.contains("column referral_letter is not in the file") && err.contains("optional_columns"),
            "{err}"
        );
    }
    assert!(!p.path("reports/index.html").exists() && p.files_under("warehouse/events").is_empty());
    // Declared absent on purpose, it reads as 0 (and the rate says so).
    let p2 = Project::new("    format:\n      optional_columns: [referral_letter]\n");
    p2.write("inputs/april.csv", &format!("{header}\n{}\n", rows.join("\n")));
    assert_code(&p2.run(), 1);
    let rates = stdout(&p2.rates("fiscal-year", &[]));
    assert_eq!(first_columns(&rates, 6)[1], format!("{PASSING},2025,chiiki-shien-2014,10,0,0"));
}

#[test]
fn absurd_reported_counts_are_refused_not_a_pass() {
    let cases = [
        ("FY2024,115292150460684698,10,0", "line 2: field initial_patients"),
        ("FY2024,18446744073709551615,10,0", "line 2: field initial_patients"),
        ("FY2024,\"1,2,3\",10,0", "line 2: field initial_patients"),
        ("FY0000,100,90,80", "line 2: field period"),
        ("FY9999,100,90,80", "line 2: field period"),
    ];
    for (row, expected) in cases {
        let p = Project::with_config(
            "warehouse: warehouse\nreports: reports\ninputs:\n  - path: inputs/*.csv\n    kind: aggregates\n",
        );
        p.write(
            "inputs/reported.csv",
            &format!("hospital_code,period,initial_patients,referred_patients,reverse_referred_patients\n{FAILING},{row}\n"),
        );
        let out = p.run();
        assert_code(&out, 2);
        assert!(stderr(&out).contains(expected), "{row}: {}", stderr(&out));
    }
}

#[test]
fn a_quiet_run_that_needs_review_names_the_hospital_for_the_cron_mail() {
    let p = Project::new("hospitals: hospitals.csv\n");
    p.write(
        "hospitals.csv",
        &format!("hospital_code,name,prefecture,beds\n{FAILING},北九州中央病院,福岡県,400\n"),
    );
    april(&p);
    let out = p.refrate(&["run", "--quiet", "--config", &config_arg(&p)]);
    assert_code(&out, 1);
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with(&format!("refrate: needs review: {FAILING} 北九州中央病院 FY2025 chiiki-shien-2014: fails (紹介率 50.0 %, 逆紹介率 0.0 %")),
        "{err}"
    );
    // Not quiet: the hospital missing from the master is named too.
    let out = p.run();
    assert!(
        stderr(&out).contains("not in the hospital master") && stderr(&out).contains(PASSING),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_duplicate_hospital_master_row_is_an_error() {
    let p = Project::new("hospitals: hospitals.csv\n");
    p.write(
        "hospitals.csv",
        &format!("hospital_code,name,prefecture,beds\n{FAILING},北九州中央病院,福岡県,400\n{FAILING},別の病院,福岡県,100\n"),
    );
    april(&p);
    let out = p.run();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("line 3") && stderr(&out).contains("also on line 2"), "{}", stderr(&out));
}

#[test]
fn reports_are_readable_as_the_umask_allows() {
    let p = Project::new("");
    april(&p);
    let mut cmd = std::process::Command::new(refrate_bin());
    cmd.args(["run", "--config", &config_arg(&p)]).env("REFRATE_PSEUDONYM_KEY", TEST_KEY);
    // SAFETY: umask is async-signal-safe; it only sets the child's file-creation mask.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::umask(0o022);
            Ok(())
        });
    }
    assert_code(&cmd.output().unwrap(), 1);
    for f in ["index.html", "rejects.csv", "overview_FY2025.csv"] {
        let mode = std::fs::metadata(p.path(&format!("reports/{f}"))).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{f}");
    }
}

#[test]
fn a_config_saved_with_a_byte_order_mark_loads() {
    let p = Project::new("");
    let text = std::fs::read_to_string(p.config()).unwrap();
    std::fs::write(p.config(), format!("\u{feff}{text}")).unwrap();
    april(&p);
    let out = p.refrate(&["validate", "--config", &config_arg(&p)]);
    assert_code(&out, 0);
}

#[test]
fn validate_reads_the_hospital_master_as_run_does_and_quiet_quiets_it() {
    let p = Project::new("hospitals: hospitals.csv\n");
    april(&p);
    p.write(
        "hospitals.csv",
        &format!("hospital_code,name,prefecture,beds\n{FAILING},北九州中央病院,福岡県,400\n"),
    );
    let out = p.refrate(&["validate", "--config", &config_arg(&p)]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains(&format!("1 hospital(s) with data are not in the hospital master: {PASSING}")),
        "{}",
        stdout(&out)
    );
    let quiet = p.refrate(&["validate", "--quiet", "--config", &config_arg(&p)]);
    assert_code(&quiet, 0);
    assert_eq!((stdout(&quiet), stderr(&quiet)), (String::new(), String::new()));
    p.write(
        "hospitals.csv",
        &format!(
            "hospital_code,name,prefecture,beds\n{FAILING},北九州中央病院,福岡県,400\n{FAILING},x,y,1\n"
        ),
    );
    let out = p.refrate(&["validate", "--quiet", "--config", &config_arg(&p)]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("listed twice"), "{}", stderr(&out));
}

#[test]
fn rates_json_gives_numbers_as_numbers_and_exit_1_says_why() {
    let p = Project::new("");
    april(&p);
    assert_code(&p.run(), 1);
    let out = p.rates("fiscal-year", &["--format", "json"]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("exit 1: 1 hospital(s) need review in FY2024 and FY2025"),
        "{}",
        stderr(&out)
    );
    let rows: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let failing = rows.as_array().unwrap().iter().find(|r| r["hospital_code"] == FAILING).unwrap();
    assert_eq!(failing["fiscal_year"], serde_json::json!(2025));
    assert_eq!(failing["initial_patients"], serde_json::json!(10));
    assert_eq!(failing["referral_rate"], serde_json::json!(50.0));
    // 50.0 % is exactly criterion C's "> 50": on the line.
    assert_eq!(failing["on_boundary"], serde_json::json!(true));
    assert_eq!(failing["met_criteria"], serde_json::json!([]));
    assert_eq!(failing["verdict"], serde_json::json!("fail"));
    let passing = rows.as_array().unwrap().iter().find(|r| r["hospital_code"] == PASSING).unwrap();
    assert_eq!(passing["met_criteria"], serde_json::json!(["A"]));
    assert!(passing["referral_gap"].is_null(), "{passing}");
}

#[test]
fn hyphenated_codes_are_read_when_the_input_says_so() {
    let p = Project::new("    format:\n      strip_code_hyphens: true\n");
    let rows: Vec<String> = (0..5)
        .map(|i| {
            row("27-1-100010-5", "2025-04-10", "first_visit", &format!("H{i}"), PARTNER, [1, 0, 0, 0, 0])
        })
        .collect();
    p.input("april.csv", &rows);
    assert_code(&p.run(), 0);
    let rates = stdout(&p.rates("fiscal-year", &[]));
    assert_eq!(first_columns(&rates, 5)[1], format!("{PASSING},2025,chiiki-shien-2014,5,5"));
}

/// April run with a master of three hospitals, one of them (0110113719) without data.
fn april_with_a_master_of_three() -> Project {
    let p = Project::new("hospitals: hospitals.csv\n");
    p.write(
        "hospitals.csv",
        &format!("hospital_code,name,prefecture,beds\n{PASSING},A病院,大阪府,300\n{FAILING},B病院,福岡県,400\n0110113719,C病院,北海道,200\n"),
    );
    april(&p);
    assert_code(&p.run(), 1);
    p
}

#[test]
fn a_partial_year_says_as_of_and_master_hospitals_without_data_are_not_submitted() {
    let p = april_with_a_master_of_three();
    let index = std::fs::read_to_string(p.path("reports/index_FY2025.html")).unwrap();
    assert!(index.contains("2025年4月時点・12か月中1か月"), "{index}");
    assert!(index.contains("未提出") && index.contains("C病院"), "{index}");
    let csv = csv_for_people(&p.path("reports/overview_FY2025.csv"));
    let header = csv.lines().next().unwrap();
    for column in [
        "as_of",
        "months_elapsed",
        "met_criteria_names",
        "referral_change",
        "reverse_change",
        "months_with_data",
    ] {
        assert!(header.split(',').any(|c| c == column), "{column} missing from {header}");
    }
    let line = csv.lines().find(|l| l.starts_with(FAILING)).unwrap();
    assert!(line.starts_with(&format!("{FAILING},B病院,2025,2025-04,1,chiiki-shien-2014,50.0,")), "{line}");
    let c = csv.lines().find(|l| l.starts_with("0110113719")).unwrap();
    assert!(c.contains(",not_submitted,"), "{c}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.path("reports/overview_FY2025.json")).unwrap())
            .unwrap();
    assert_eq!(json["progress"]["through_month"], "2025-04");
    assert_eq!(json["not_submitted"][0]["code"], "0110113719");
}

#[test]
fn the_overview_workbook_holds_the_csv_values_in_typed_cells_and_csvs_for_people_have_a_bom() {
    // Issue 13: prefecture staff open the overview in Excel on a Japanese Windows.
    use calamine::{Data, Reader, Xlsx, open_workbook};
    let p = april_with_a_master_of_three();
    let csv = csv_for_people(&p.path("reports/overview_FY2025.csv"));
    csv_for_people(&p.path("reports/rejects.csv"));
    assert!(stdout(&p.rates("fiscal-year", &[])).starts_with("hospital_code,"), "rates stay plain UTF-8");

    let mut book: Xlsx<_> = open_workbook(p.path("reports/overview_FY2025.xlsx")).unwrap();
    let mut records = csv::Reader::from_reader(csv.as_bytes());
    let header = records.headers().unwrap().clone();
    let mut regimes: Vec<String> = Vec::new();
    let mut checked = 0;
    for record in records.records() {
        let record = record.unwrap();
        let field = |name: &str| record.get(header.iter().position(|h| h == name).unwrap()).unwrap();
        let regime = field("regime_id");
        if !regimes.iter().any(|r| r == regime) {
            regimes.push(regime.to_string());
        }
        let sheet = book.worksheet_range(regime).unwrap();
        let row: Vec<Data> = sheet
            .rows()
            .find(|r| r[0] == Data::String(field("code").to_string()))
            .unwrap_or_else(|| panic!("{} missing from sheet {regime}", field("code")))
            .to_vec();
        let number = |v: &str| {
            if v.is_empty() {
                Data::Empty
            } else {
                Data::Float(v.trim_start_matches(['+', '±']).parse().unwrap())
            }
        };
        let text = |v: &str| if v.is_empty() { Data::Empty } else { Data::String(v.to_string()) };
        let verdict = match field("verdict") {
            "pass" => "満たしています",
            "fail" => "満たしていません",
            "no_data" => "データなし",
            "not_submitted" => "未提出",
            other => panic!("verdict {other}"),
        };
        let expected = [
            text(field("code")),
            text(field("name")),
            number(field("fiscal_year")),
            text(field("as_of")),
            number(field("months_elapsed")),
            number(field("referral_rate")),
            number(field("referral_numerator")),
            number(field("referral_denominator")),
            number(field("reverse_rate")),
            number(field("reverse_numerator")),
            number(field("reverse_denominator")),
            text(verdict),
            text(&field("met_criteria_names").replace(';', "・")),
            text(if field("on_boundary") == "true" { "境界" } else { "" }),
            number(field("referral_change")),
            number(field("reverse_change")),
            number(field("months_with_data")),
            number(field("missing_months")),
        ];
        let mut got = row.clone();
        got.resize(expected.len(), Data::Empty);
        assert_eq!(got, expected, "{regime} {}", field("code"));
        checked += 1;
    }
    assert_eq!(checked, 3 * regimes.len(), "every hospital of every regime");
    assert_eq!(book.sheet_names(), regimes, "one sheet per regime, in the overview's order");
    // The code that starts with 0 stays text, and the failing rate is the number 50.0.
    let sheet = book.worksheet_range("chiiki-shien-2014").unwrap();
    assert_eq!(sheet.get_value((0, 0)), Some(&Data::String("医療機関コード".into())));
    assert!(
        sheet
            .rows()
            .any(|r| r[0] == Data::String("0110113719".into()) && r[11] == Data::String("未提出".into()))
    );
    assert!(sheet.rows().any(|r| r[0] == Data::String(FAILING.into()) && r[5] == Data::Float(50.0)));
}

/// The overview of FY2025 as CSV, and its JSON without the run's own fields, from a run with
/// the given master config line, after `write` wrote the master.
fn overview_with_master(master_config: &str, write: impl FnOnce(&Project)) -> (String, serde_json::Value) {
    let p = Project::new(master_config);
    write(&p);
    april(&p);
    let out = p.run();
    assert_code(&out, 1);
    let mut csv = csv_for_people(&p.path("reports/overview_FY2025.csv"));
    // The master's beds are shown on the hospital page.
    let page = std::fs::read_to_string(p.path(&format!("reports/{FAILING}_FY2025.html"))).unwrap();
    csv.push_str(if page.contains("1,200床") { "page: 1,200床" } else { "page: no beds" });
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.path("reports/overview_FY2025.json")).unwrap())
            .unwrap();
    json.as_object_mut().unwrap().remove("run");
    (csv, json)
}

#[test]
fn a_shift_jis_master_with_japanese_headings_and_a_workbook_master_give_the_canonical_overview() {
    // Issue 13: the 厚生局 publishes its lists in Shift_JIS or Excel with Japanese headings.
    let canonical = overview_with_master("hospitals: hospitals.csv\n", |p| {
        p.write(
            "hospitals.csv",
            &format!("hospital_code,name,prefecture,beds\n{PASSING},A病院,大阪府,300\n{FAILING},北九州中央病院,福岡県,1200\n0110113719,札幌病院,北海道,450\n"),
        );
    });
    assert!(
        canonical.0.contains("北九州中央病院")
            && canonical.0.contains("札幌病院")
            && canonical.0.ends_with("page: 1,200床"),
        "{}",
        canonical.0
    );

    let shift_jis = overview_with_master(
        "hospitals:\n  path: hospitals.csv\n  format:\n    encoding: shift_jis\n",
        |p| {
            let text = format!(
                "医療機関コード,医療機関名,所在地,都道府県,病床数\r\n{PASSING},A病院,大阪市,大阪府,300\r\n{FAILING},北九州中央病院,北九州市,福岡県,\"1,200\"\r\n0110113719,札幌病院,札幌市,北海道,450\r\n"
            );
            std::fs::write(p.path("hospitals.csv"), encoding_rs::SHIFT_JIS.encode(&text).0).unwrap();
        },
    );
    assert_eq!(shift_jis, canonical);

    let workbook = |p: &Project| {
        let mut book = rust_xlsxwriter::Workbook::new();
        let cover = book.add_worksheet();
        cover.set_name("説明").unwrap();
        cover.write_string(0, 0, "地域医療支援病院 一覧").unwrap();
        let sheet = book.add_worksheet();
        sheet.set_name("一覧").unwrap();
        sheet.write_string(0, 0, "令和7年4月1日現在").unwrap();
        for (col, heading) in
            ["医療機関\nコード", "医療機関名称", "都道府県\u{3000}", "許可病床数"].iter().enumerate()
        {
            sheet.write_string(2, col as u16, *heading).unwrap();
        }
        for (row, (code, name, pref, beds)) in [
            (PASSING, "A病院", "大阪府", 300.0),
            (FAILING, "北九州中央病院", "福岡県", 1200.0),
            // Typed as a number: Excel dropped its leading zero.
            ("110113719", "札幌病院", "北海道", 450.0),
        ]
        .into_iter()
        .enumerate()
        {
            let row = row as u32 + 3;
            if code.len() == 9 {
                sheet.write_number(row, 0, code.parse::<f64>().unwrap()).unwrap();
            } else {
                sheet.write_string(row, 0, code).unwrap();
            }
            sheet.write_string(row, 1, name).unwrap();
            sheet.write_string(row, 2, pref).unwrap();
            sheet.write_number(row, 3, beds).unwrap();
        }
        book.save(p.path("hospitals.xlsx")).unwrap();
    };
    let xlsx = overview_with_master(
        "hospitals:\n  path: hospitals.xlsx\n  format:\n    sheet: 一覧\n    heading_row: 3\n    pad_codes: true\n",
        workbook,
    );
    assert_eq!(xlsx, canonical);

    // Without pad_codes the 9-digit code is refused, naming the row, the field and the option.
    let p = Project::new("hospitals:\n  path: hospitals.xlsx\n  format: {sheet: 一覧, heading_row: 3}\n");
    workbook(&p);
    april(&p);
    let out = p.run();
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("hospitals.xlsx row 6, field hospital_code: \"110113719\"")
            && err.contains("pad_codes: true"),
        "{err}"
    );
}

#[test]
fn a_rate_rounded_onto_the_line_that_fails_shows_its_exact_value() {
    // 359 / 449 = 79.955 %: shown as 80.0 %, fails ≥ 80 %.
    let p = Project::new("");
    let mut rows = first_visits(FAILING, "2025-04-11", 449, 359, "F");
    // A blank department shows as 未設定.
    rows[0] = rows[0].replace(",内科,", ",,");
    p.input("april.csv", &rows);
    assert_code(&p.run(), 1);
    let page = std::fs::read_to_string(p.path(&format!("reports/{FAILING}_FY2025.html"))).unwrap();
    assert!(page.contains("80.0&nbsp;%") && page.contains("表示は四捨五入：正確には 79.95&nbsp;%"), "{page}");
    assert!(page.contains("未設定"), "blank department");
    let index = std::fs::read_to_string(p.path("reports/index_FY2025.html")).unwrap();
    assert!(index.contains("正確には 79.95&nbsp;%"));
}

#[test]
fn a_symlinked_input_is_refused_and_its_target_never_echoed() {
    let p = Project::new("");
    april(&p);
    std::os::unix::fs::symlink("/etc/passwd", p.path("inputs/passwd.csv")).unwrap();
    for command in ["run", "validate"] {
        let out = p.refrate(&[command, "--config", &config_arg(&p)]);
        assert_code(&out, 2);
        let err = stderr(&out);
        assert!(
            err.contains("inputs/passwd.csv is a symbolic link") && err.contains("follow_symlinks"),
            "{err}"
        );
        assert!(!err.contains("root:") && !stdout(&out).contains("root:"), "{err}");
    }
    // Links the operator made on purpose are read when the config says so.
    std::fs::remove_file(p.path("inputs/passwd.csv")).unwrap();
    std::fs::rename(p.path("inputs/april.csv"), p.path("april.csv")).unwrap();
    std::os::unix::fs::symlink(p.path("april.csv"), p.path("inputs/april.csv")).unwrap();
    assert_code(&p.run(), 2);
    let config = std::fs::read_to_string(p.config()).unwrap() + "follow_symlinks: true\n";
    std::fs::write(p.config(), config).unwrap();
    assert_code(&p.run(), 1);
}

#[test]
fn a_file_name_with_a_line_break_cannot_forge_a_line_in_the_cron_mail() {
    let p = Project::new("");
    april(&p);
    // A file that stops the run (no heading line) under a name that holds a forged line.
    p.write("inputs/x\nrefrate: all hospitals pass.csv", "");
    let out = p.run();
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("x\\nrefrate: all hospitals pass.csv"), "{err}");
    assert!(!err.lines().any(|l| l.starts_with("refrate: all hospitals pass")), "{err}");
}

#[test]
fn the_public_demo_key_is_refused_outside_the_demo() {
    let p = Project::new("");
    april(&p);
    let config = config_arg(&p);
    let run = |demo: bool| {
        let key = ("REFRATE_PSEUDONYM_KEY", "refrate-demo-key-not-for-real-data");
        let env: &[(&str, &str)] = if demo { &[key, ("REFRATE_DEMO", "1")] } else { &[key] };
        refrate_with_env(p.dir.path(), &["run", "--config", &config], env)
    };
    let out = run(false);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("published demo or benchmark key"), "{}", stderr(&out));
    assert!(!p.path("warehouse/_manifest").exists(), "refused before the warehouse is touched");
    assert_code(&run(true), 1);
    // A short hex key works but is warned about.
    let out = refrate_in(p.dir.path(), &["run", "--config", &config], Some("0123456789abcdef"));
    assert!(stderr(&out).contains("less than 128"), "{}", stderr(&out));
}

#[test]
fn a_broken_override_template_stops_the_run_before_the_warehouse_is_touched() {
    let p = Project::new("templates: my-templates\n");
    april(&p);
    p.write("my-templates/index.html.j2", "{{ page.fiscal_yaer }}");
    let out = p.run();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("index.html.j2"), "{}", stderr(&out));
    assert!(!p.path("warehouse").exists(), "the warehouse was touched");
}

#[test]
fn a_page_that_fails_to_render_replaces_no_page_and_leaves_no_temporary_file() {
    let p = Project::new("templates: my-templates\n");
    p.write("my-templates/notes.txt", "no override yet");
    april(&p);
    assert_code(&p.run(), 1);
    let reports = p.path("reports");
    let before: Vec<(std::path::PathBuf, Vec<u8>)> =
        files_in(&reports).into_iter().map(|f| (f.clone(), std::fs::read(&f).unwrap())).collect();
    assert!(before.len() > 5, "{before:?}");
    // An override that renders the fixture and the first hospital, then fails on the second:
    // the pages are streamed to disk, so some were already written when the error comes.
    let template = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/hospital.html.j2"),
    )
    .unwrap();
    p.write(
        "my-templates/hospital.html.j2",
        &format!(
            "{{% if page.hospital.code == '{FAILING}' %}}{{{{ page.no_such_value }}}}{{% endif %}}{template}"
        ),
    );
    // A new month, so that the pages must be rendered again.
    p.input("may.csv", &first_visits(PASSING, "2025-05-10", 10, 10, "M"));
    let out = p.run();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("hospital.html.j2"), "{}", stderr(&out));
    let after: Vec<(std::path::PathBuf, Vec<u8>)> =
        files_in(&reports).into_iter().map(|f| (f.clone(), std::fs::read(&f).unwrap())).collect();
    assert_eq!(after, before, "the previous pages stay, unchanged, and no temporary file is left");
}

#[test]
fn a_japanese_locale_gets_the_summary_and_the_review_lines_in_japanese() {
    let p = Project::new("hospitals: hospitals.csv\n");
    p.write(
        "hospitals.csv",
        &format!("hospital_code,name,prefecture,beds\n{FAILING},北九州中央病院,福岡県,400\n{PASSING},A病院,大阪府,300\n"),
    );
    let mut rows = first_visits(PASSING, "2025-04-10", 10, 10, "P");
    rows.extend(first_visits(FAILING, "2025-04-11", 200, 150, "F"));
    rows.push(row(FAILING, "2025-02-30", "first_visit", "BAD", PARTNER, [1, 0, 0, 0, 0]));
    p.input("april.csv", &rows);
    let out =
        refrate_with_env(p.dir.path(), &["run", "--config", &config_arg(&p)], &[("LANG", "ja_JP.UTF-8")]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("refrate: ファイル 1 件（新規 1、取込済みのため省略 0）、211 行、不備 1 行"),
        "{err}"
    );
    assert!(err.contains("2 病院を令和6年度・令和7年度について確認：要確認 1 病院"), "{err}");
    assert!(
        err.contains(&format!("refrate: 要確認: {FAILING} 北九州中央病院 令和7年度 chiiki-shien-2014: 要件を満たしていません（紹介率 75.0 %, 逆紹介率 0.0 %。最も近い基準まで紹介患者あと 50 人）")),
        "{err}"
    );
    // --lang en wins over the locale.
    let out = p.refrate(&["run", "--lang", "en", "--config", &config_arg(&p)]);
    assert!(stderr(&out).contains("refrate: needs review: "), "{}", stderr(&out));
    // rejects.csv keeps the machine code and gives the reason in words too.
    let rejects = csv_for_people(&p.path("reports/rejects.csv"));
    assert!(rejects.starts_with("file,line,byte_offset,field,value,reason,detail,reason_ja\n"), "{rejects}");
    let bad = rejects.lines().nth(1).unwrap();
    assert!(
        bad.contains(",212,") && bad.contains(",bad_date,") && bad.ends_with(",日付が読めません"),
        "{rejects}"
    );
}

#[test]
fn a_hospital_page_lists_only_rejects_it_can_own_and_no_config_advice() {
    let p = Project::new("max_reject_ratio: 0.2\n");
    // A file shared by two hospitals with one bad row, and a file of one hospital with one.
    let mut shared = first_visits(PASSING, "2025-04-10", 5, 5, "S");
    shared.extend(first_visits(FAILING, "2025-04-11", 5, 2, "T"));
    shared.push(row(FAILING, "2025-04-12", "first_visit", "T9", PARTNER, [7, 0, 0, 0, 0]));
    p.input("shared.csv", &shared);
    let mut own = first_visits(PASSING, "2025-05-10", 9, 9, "O");
    own.push(row("711000105", "2025-05-11", "first_visit", "O9", PARTNER, [1, 0, 0, 0, 0]));
    p.input("own.csv", &own);
    assert_code(&p.run(), 1);
    let page = std::fs::read_to_string(p.path(&format!("reports/{PASSING}_FY2025.html"))).unwrap();
    assert!(page.contains("<code>inputs&#x2f;own.csv</code></th><td class=\"num\">11</td>"), "{page}");
    assert!(!page.contains("<code>inputs&#x2f;shared.csv</code></th><td class=\"num\">12</td>"), "{page}");
    assert!(page.contains("共有の入力ファイルで除外した 1 行"), "{page}");
    assert!(!page.contains("pad_codes"), "config advice on a hospital's page");
}

#[test]
fn mapping_suggest_writes_a_glob_relative_to_the_config_and_refuses_a_broken_workbook() {
    let p = Project::new("");
    p.write(
        "exports/2025/visits_2025-04.csv",
        &format!("{HEADER}\n{}\n", first_visits(PASSING, "2025-04-10", 3, 3, "P").join("\n")),
    );
    // Run from another folder: the path is still written for the config's folder.
    let elsewhere = tempfile::tempdir().unwrap();
    let file = p.path("exports/2025/visits_2025-04.csv");
    let out = refrate_in(
        elsewhere.path(),
        &["mapping", "suggest", file.to_str().unwrap(), "--config", &config_arg(&p)],
        None,
    );
    assert_code(&out, 0);
    assert!(stdout(&out).contains("- path: \"exports/2025/visits_*.csv\""), "{}", stdout(&out));
    p.write("exports/book.xlsx", "PK\u{3}\u{4}workbook");
    let out = p.refrate_without_key(&["mapping", "suggest", "exports/book.xlsx"]);
    assert_code(&out, 2);
    // A workbook is read (from its first sheet); one that is not a workbook is named.
    assert!(stderr(&out).contains("book.xlsx: not a readable workbook"), "{}", stderr(&out));
}

#[test]
fn an_input_file_error_is_explained_in_japanese_under_a_japanese_locale() {
    let p = Project::new("");
    p.write("inputs/april.csv", "受診日,患者番号\n2025-04-01,1\n");
    let out =
        refrate_with_env(p.dir.path(), &["run", "--config", &config_arg(&p)], &[("LC_ALL", "ja_JP.UTF-8")]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.starts_with("refrate: エラー: 実行を中止しました。何も公開していません"), "{err}");
    assert!(
        err.contains("原因: inputs/april.csv: 必須の列 hospital_code が見出し行（1 行目）にありません。見つかった見出し: \"受診日\", \"患者番号\""),
        "{err}"
    );
    // In English the file is named once, not twice.
    let out = p.run();
    let err = stderr(&out);
    assert_eq!(err.matches("inputs/april.csv").count(), 1, "{err}");
}

#[test]
fn validate_reports_in_japanese_under_a_japanese_locale() {
    let p = Project::new("");
    let mut rows = first_visits(PASSING, "2025-04-10", 3, 3, "P");
    rows.push(row(PASSING, "2025-02-30", "first_visit", "X", PARTNER, [1, 0, 0, 0, 0]));
    p.input("april.csv", &rows);
    let out = refrate_with_env(
        p.dir.path(),
        &["validate", "--config", &config_arg(&p)],
        &[("LANG", "ja_JP.UTF-8")],
    );
    assert_code(&out, 2);
    let text = stdout(&out);
    assert!(text.contains("inputs/april.csv: 4 行を読み込み、有効 3 行、不備 1 行（utf-8）。対象月 2025-04..2025-04。病院 2711000105"), "{text}");
    assert!(text.contains("    行 5 (バイト ") && text.contains("使えません: 不備の行が 25.0 %"), "{text}");
    assert!(stderr(&out).starts_with("refrate: エラー: 使えない入力があります"), "{}", stderr(&out));
}

#[test]
fn an_unusable_reports_folder_stops_the_run_before_the_warehouse_is_touched() {
    let p = Project::new("");
    april(&p);
    // `reports` is a file where the folder should be.
    p.write("reports", "not a folder");
    let out = p.run();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("reports") && stderr(&out).contains("not one"), "{}", stderr(&out));
    assert!(!p.path("warehouse").exists(), "the warehouse was touched");
}
