//! The end-to-end pipeline: ingest → warehouse → SQL → verdicts → reports, on a fixture whose
//! counts are computed by hand below.

use crate::common::*;

const H1: &str = "0110113719"; // leading zero (Hokkaido)
const H2: &str = "1312345679"; // zero denominator
const H3: &str = "2711000105"; // exactly 80 %
const H4: &str = "4011000207"; // exactly 65 %, criterion B needs > 65
const PARTNER: &str = "1311009904";
const RELATED: &str = "2711000105";

/// The hand-computed fixture.
///
/// H1, FY2025 (2025-04 and 2026-03):
///   first visits 14 = 10 plain + ambulance (1) + ambulance & holiday/night (1) + checkup (1)
///                     + holiday/night (1); the four excluded records are removed once each,
///   so initial_patients = 14 − 4 = 10.
///   Of the 10: 7 with a letter from an unrelated partner (referred), 1 with a letter from a
///   related partner (not referred), 2 without letter → referred_patients = 7.
///   Referrals out: 5 to unrelated partners + 1 to a related one → reverse = 5.
///   Return visits: 3 plain + 1 by ambulance → return_visits = 3.
///   chiiki-shien-2014: referral 7/10 = 70.0 %, reverse 5/10 = 50.0 % → criterion B
///   (> 65 and > 40) met → pass.
///   shinryo-2022: referral (7 + 2 emergencies)/10 = 90.0 %; reverse 5/(10 + 3) × 1000
///   = 384.615… ‰ → "384.6" → pass.
/// H1, FY2026 (2026-04): one referred first visit → 1/1 = 100.0 %, reverse 0/1 = 0.0 % → A.
/// H2, FY2025: only a checkup first visit and return visits → initial 0 → no_data.
/// H3, FY2025: 5 initial, 4 referred → exactly 80.0 % → A (≥ 80) met, on the line.
/// H4, FY2025: 20 initial, 13 referred = 65.0 %, 9 reverse = 45.0 % → B needs > 65: not met;
///   C needs reverse > 70: not met → fail, on the line of B.
pub(crate) fn fixture_rows() -> Vec<String> {
    let mut rows = Vec::new();
    let mut pid = 0u32;
    let mut next = || {
        pid += 1;
        format!("P{pid:07}")
    };
    // H1 FY2025, split across the first and the last month of the fiscal year.
    for i in 0..7 {
        let date = if i < 4 { "2025-04-03" } else { "2026-03-30" };
        rows.push(row(H1, date, "first_visit", &next(), PARTNER, [1, 0, 0, 0, 0]));
    }
    rows.push(row(H1, "2025-04-04", "first_visit", &next(), RELATED, [1, 1, 0, 0, 0]));
    rows.push(row(H1, "2025-04-05", "first_visit", &next(), "", [0, 0, 0, 0, 0]));
    rows.push(row(H1, "2026-03-05", "first_visit", &next(), "", [0, 0, 0, 0, 0]));
    rows.push(row(H1, "2025-04-06", "first_visit", &next(), PARTNER, [1, 0, 1, 0, 0]));
    rows.push(row(H1, "2025-04-07", "first_visit", &next(), "", [0, 0, 1, 1, 0]));
    rows.push(row(H1, "2025-04-08", "first_visit", &next(), "", [0, 0, 0, 0, 1]));
    rows.push(row(H1, "2026-03-08", "first_visit", &next(), "", [0, 0, 0, 1, 0]));
    for _ in 0..5 {
        rows.push(row(H1, "2025-04-10", "referral_out", &next(), PARTNER, [0, 0, 0, 0, 0]));
    }
    rows.push(row(H1, "2025-04-11", "referral_out", &next(), RELATED, [0, 1, 0, 0, 0]));
    for _ in 0..3 {
        rows.push(row(H1, "2025-04-12", "return_visit", &next(), "", [0, 0, 0, 0, 0]));
    }
    rows.push(row(H1, "2025-04-13", "return_visit", &next(), "", [0, 0, 1, 0, 0]));
    // H1 FY2026.
    rows.push(row(H1, "2026-04-01", "first_visit", &next(), PARTNER, [1, 0, 0, 0, 0]));
    // H2: no initial patient at all.
    rows.push(row(H2, "2025-05-01", "first_visit", &next(), "", [0, 0, 0, 0, 1]));
    rows.push(row(H2, "2025-05-02", "return_visit", &next(), "", [0, 0, 0, 0, 0]));
    // H3: 4 of 5.
    for i in 0..5 {
        let letter = u8::from(i < 4);
        rows.push(row(
            H3,
            "2025-06-01",
            "first_visit",
            &next(),
            if letter == 1 { PARTNER } else { "" },
            [letter, 0, 0, 0, 0],
        ));
    }
    // H4: 13 of 20, 9 reverse.
    for i in 0..20 {
        let letter = u8::from(i < 13);
        rows.push(row(
            H4,
            "2025-07-01",
            "first_visit",
            &next(),
            if letter == 1 { PARTNER } else { "" },
            [letter, 0, 0, 0, 0],
        ));
    }
    for _ in 0..9 {
        rows.push(row(H4, "2025-07-02", "referral_out", &next(), PARTNER, [0, 0, 0, 0, 0]));
    }
    rows
}

const EXPECTED_FY: [&str; 6] = [
    "hospital_code,fiscal_year,regime,initial_patients,referred_patients,reverse_referred_patients,referral_rate,reverse_referral_rate,verdict,on_boundary",
    "0110113719,2025,chiiki-shien-2014,10,7,5,70.0,50.0,pass,false",
    "0110113719,2026,chiiki-shien-2014,1,1,0,100.0,0.0,pass,false",
    "1312345679,2025,chiiki-shien-2014,0,0,0,,,no_data,false",
    "2711000105,2025,chiiki-shien-2014,5,4,0,80.0,0.0,pass,true",
    "4011000207,2025,chiiki-shien-2014,20,13,9,65.0,45.0,fail,true",
];

#[test]
fn hand_computed_fixture_gives_exact_rates_and_verdicts() {
    let p = Project::new("hospitals: hospitals.csv\n");
    std::fs::write(
        p.path("hospitals.csv"),
        format!("hospital_code,name,prefecture,beds\n{H1},札幌テスト病院,北海道,300\n"),
    )
    .unwrap();
    p.input("fy2025.csv", &fixture_rows());
    let run = p.run();
    // H3 and H4 sit on a threshold and H4 fails: exit 1.
    assert_code(&run, 1);

    let out = p.rates("fiscal-year", &[]);
    assert_code(&out, 1);
    assert_eq!(first_columns(&stdout(&out), 10), EXPECTED_FY);

    // The monthly counts, with the exclusions visible.
    let out = p.rates("month", &[]);
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(
        lines[0],
        "hospital_code,month,first_visits,ambulance_first_visits,after_hours_first_visits,checkup_first_visits,initial_patients,referred_patients,reverse_referred_patients,return_visits,emergency_patients,note"
    );
    // 2025-04: 4 referred + related-letter + no-letter + ambulance + ambulance&night + checkup
    // = 9 first visits; 3 excluded → 6 initial; 5 reverse; 3 return visits.
    assert_eq!(lines[1], "0110113719,2025-04,9,2,1,1,6,4,5,3,2,");
    // 2025-05 to 2026-02 have no events: visible gaps, not zeros.
    assert_eq!(lines[2], "0110113719,2025-05,,,,,,,,,,no data for 2025-05");
    assert_eq!(lines.iter().filter(|l| l.starts_with("0110113719,") && l.contains("no data")).count(), 10);
    // 2026-03: 3 referred + 1 no-letter + 1 night → 5 first visits, 4 initial.
    assert_eq!(lines[12], "0110113719,2026-03,5,0,1,0,4,3,0,0,0,");
    assert_eq!(lines[13], "0110113719,2026-04,1,0,0,0,1,1,0,0,0,");
}

#[test]
fn fee_schedule_regime_uses_per_mille_over_first_and_return_visits() {
    let p = Project::new("regimes: [chiiki-shien-2014, shinryo-2022]\n");
    p.input("fy2025.csv", &fixture_rows());
    p.run();
    let out = p.rates("fiscal-year", &["--regime", "shinryo-2022"]);
    let csv = stdout(&out);
    let h1: Vec<&str> = csv.lines().find(|l| l.starts_with("0110113719,2025,")).unwrap().split(',').collect();
    // referral (7 + 2) / 10 = 90.0 %, reverse 5 / 13 × 1000 = 384.6 ‰.
    assert_eq!(
        &h1[..12],
        ["0110113719", "2025", "shinryo-2022", "10", "7", "5", "90.0", "384.6", "pass", "false", "%", "‰"]
    );
}

#[test]
fn gaps_say_how_many_more_are_needed() {
    let p = Project::new("");
    p.input("fy2025.csv", &fixture_rows());
    p.run();
    let csv = stdout(&p.rates("fiscal-year", &[]));
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let h4: Vec<&str> = csv.lines().find(|l| l.starts_with("4011000207,")).unwrap().split(',').collect();
    // H4: 13/20 referred, 9 reverse.
    // A: (13 + x)/(20 + x) ≥ 0.8 ⇔ 0.2x ≥ 3 → 15 more referrals.
    // B: (13 + x)/(20 + x) > 0.65 ⇔ 0.35x > 0 → 1 more; then 9/21 = 42.9 % > 40 already.
    // C: referral 65 % > 50 already; reverse 9/20 > 70 % needs 15/20 → 6 more.
    // The nearest criterion is B: one more referred first visit.
    assert_eq!(h4[col("referral_gap")], "1");
    assert_eq!(h4[col("reverse_referral_gap")], "");
}

#[test]
fn running_twice_gives_the_same_numbers_and_publishes_nothing_new() {
    let p = Project::new("");
    p.input("fy2025.csv", &fixture_rows());
    assert_code(&p.run(), 1);
    let first = stdout(&p.rates("fiscal-year", &[]));
    // Everything but the writer lock, whose generation object every run replaces.
    let data_files = || -> Vec<_> {
        p.files_under("warehouse").into_iter().filter(|f| !f.starts_with(p.path("warehouse/_lock"))).collect()
    };
    let files_before = data_files();
    let second_run = p.run();
    assert_code(&second_run, 1);
    assert!(stderr(&second_run).contains("(unchanged)"), "{}", stderr(&second_run));
    assert_eq!(stdout(&p.rates("fiscal-year", &[])), first);
    assert_eq!(data_files(), files_before);
    assert!(p.path("warehouse/_manifest/v00000000000000000001.json").exists());
    assert!(!p.path("warehouse/_manifest/v00000000000000000002.json").exists());
}

#[test]
fn bad_rows_are_rejected_with_their_lines_and_good_rows_still_count() {
    // max_reject_ratio is raised: this file is mostly bad on purpose.
    let p = Project::new("max_reject_ratio: 0.9\n");
    let rows = vec![
        row(H3, "2025-06-01", "first_visit", "A1", PARTNER, [1, 0, 0, 0, 0]), // line 2
        row(H3, "2025-02-30", "first_visit", "A2", PARTNER, [1, 0, 0, 0, 0]), // line 3: bad date
        row(H3, "2025-06-01", "first_visit", "A3", "", [0, 0, 0, 0, 0]),      // line 4
        row(H3, "2025-06-01", "visit", "A4", "", [0, 0, 0, 0, 0]),            // line 5: type
        row("271100010", "2025-06-01", "first_visit", "A5", "", [0, 0, 0, 0, 0]), // line 6: 9 digits
        row(H3, "2025-06-01", "first_visit", "A6", "", [2, 0, 0, 0, 0]),      // line 7: flag
        format!("{H3},2025-06-01,first_visit,A7"),                            // line 8: fields
        row(H3, "2025-06-01", "first_visit", "A1", PARTNER, [1, 0, 0, 0, 0]), // line 9: duplicate of 2
        row(H3, "2025-06-02", "first_visit", "A8", PARTNER, [1, 0, 0, 0, 0]), // line 10
    ];
    p.input("june.csv", &rows);
    assert_code(&p.run(), 1);
    let rejects = csv_for_people(&p.path("reports/rejects.csv"));
    let got: Vec<(String, String)> = rejects
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[1].to_string(), c[5].to_string())
        })
        .collect();
    let expected = [
        ("3", "bad_date"),
        ("5", "unknown_event_type"),
        ("6", "bad_hospital_code"),
        ("7", "bad_flag"),
        ("8", "field_count"),
        ("9", "duplicate"),
    ];
    assert_eq!(got, expected.map(|(a, b)| (a.to_string(), b.to_string())));
    assert!(
        rejects.lines().all(|l| l.starts_with("file,") || l.starts_with("inputs/june.csv,")),
        "{rejects}"
    );
    // The hospital page lists them too, in Japanese (patient numbers: see the privacy test).
    let page = std::fs::read_to_string(p.path("reports/2711000105_FY2025.html")).unwrap();
    assert!(page.contains("除外した行") && page.contains("日付が読めません"), "reject section missing");
    assert!(page.contains("<td class=\"num\">3</td>") && page.contains("2025-02-30"));
    // Good rows: lines 2, 4, 10 → 3 initial, 2 referred: 66.7 %, no reverse referral, so
    // neither B (reverse > 40) nor A (≥ 80) nor C (reverse > 70) is met.
    let csv = stdout(&p.rates("fiscal-year", &[]));
    assert_eq!(first_columns(&csv, 10)[1], "2711000105,2025,chiiki-shien-2014,3,2,0,66.7,0.0,fail,false");
    // good + rejected = rows read, in the manifest.
    let manifest = std::fs::read_to_string(p.path("warehouse/_manifest/v00000000000000000001.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let s = &m["sources"]["inputs/june.csv"];
    assert_eq!(
        (s["rows_read"].as_u64(), s["rows_valid"].as_u64(), s["rows_rejected"].as_u64()),
        (Some(9), Some(3), Some(6))
    );
}

#[test]
fn too_many_rejects_publish_nothing_and_exit_2() {
    let p = Project::new("");
    p.input(
        "bad.csv",
        &[
            row(H3, "2025-02-30", "first_visit", "A2", PARTNER, [1, 0, 0, 0, 0]),
            row(H3, "2025-06-01", "first_visit", "A1", PARTNER, [1, 0, 0, 0, 0]),
        ],
    );
    let out = p.run();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("max_reject_ratio"), "{}", stderr(&out));
    // Only the empty version 0 a first run writes before any data file.
    let manifests = p.files_under("warehouse/_manifest");
    assert!(manifests.iter().all(|m| m.ends_with("v00000000000000000000.json")), "{manifests:?}");
}

#[test]
fn missing_key_exits_2_and_writes_nothing() {
    let p = Project::new("");
    p.input("fy2025.csv", &fixture_rows());
    let config = p.config();
    let out = p.refrate_without_key(&["run", "--config", config.to_str().unwrap()]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("REFRATE_PSEUDONYM_KEY"), "{err}");
    assert!(!p.path("warehouse").exists(), "the warehouse folder was created");
    assert!(!p.path("reports").exists(), "the reports folder was created");
}

#[test]
fn no_raw_patient_number_leaves_ingest() {
    let p = Project::new("max_reject_ratio: 0.9\n");
    let mut rows = fixture_rows();
    // A bad row carrying a patient number must not leak it into the rejects either.
    rows.push(row(H1, "2025-13-01", "first_visit", "P9999999", PARTNER, [1, 0, 0, 0, 0]));
    p.input("fy2025.csv", &rows);
    let out = p.run();
    let ids: Vec<String> = rows.iter().map(|r| r.split(',').nth(3).unwrap().to_string()).collect();
    let mut texts: Vec<(String, String)> =
        vec![("stderr".into(), stderr(&out)), ("stdout".into(), stdout(&out))];
    // Parquet pages and workbooks are compressed: every value is decoded before looking.
    let files: Vec<_> = p.files_under("warehouse").into_iter().chain(p.files_under("reports")).collect();
    assert!(files.iter().any(|f| f.extension().is_some_and(|e| e == "xlsx")), "{files:?}");
    texts.extend(decoded_texts(&files));
    assert!(texts.len() > 50, "the test must look at real content");
    for id in &ids {
        for (file, text) in &texts {
            assert!(!text.contains(id.as_str()), "raw patient number {id} found in {file}");
        }
    }
}

#[test]
fn reports_are_written_for_every_hospital_and_year() {
    let p = Project::new("");
    p.input("fy2025.csv", &fixture_rows());
    p.run();
    for f in [
        "reports/index.html",
        "reports/index_FY2025.html",
        "reports/index_FY2026.html",
        "reports/overview_FY2025.csv",
        "reports/overview_FY2025.json",
        "reports/0110113719_FY2025.html",
        "reports/0110113719_FY2026.html",
        "reports/4011000207_FY2025.html",
        "reports/rejects.csv",
    ] {
        assert!(p.path(f).is_file(), "{f} missing");
    }
    let page = std::fs::read_to_string(p.path("reports/0110113719_FY2025.html")).unwrap();
    assert!(page.contains("70.0"), "referral rate shown");
    assert!(page.contains("chiiki-shien-2014") || page.contains("地域医療支援病院"), "regime named");
    let index = std::fs::read_to_string(p.path("reports/index_FY2025.html")).unwrap();
    // The failing hospital is listed before the passing ones.
    let fail_at = index.find("4011000207").unwrap();
    let pass_at = index.find("0110113719").unwrap();
    assert!(fail_at < pass_at);
}

#[test]
fn a_corrected_file_replaces_only_its_hospital_months() {
    let p = Project::new("");
    p.input(
        "april.csv",
        &[
            row(H3, "2025-04-01", "first_visit", "A1", PARTNER, [1, 0, 0, 0, 0]),
            row(H4, "2025-04-01", "first_visit", "B1", "", [0, 0, 0, 0, 0]),
        ],
    );
    p.input("may.csv", &[row(H3, "2025-05-01", "first_visit", "A2", PARTNER, [1, 0, 0, 0, 0])]);
    p.run();
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = p
        .files_under("warehouse/events")
        .into_iter()
        .map(|f| (f.clone(), std::fs::read(&f).unwrap()))
        .collect();
    // One file per month, every hospital's rows of it.
    assert_eq!(before.len(), 2);
    // April is corrected: H4 loses its row, H3 gains one.
    p.input(
        "april.csv",
        &[
            row(H3, "2025-04-01", "first_visit", "A1", PARTNER, [1, 0, 0, 0, 0]),
            row(H3, "2025-04-02", "first_visit", "A3", "", [0, 0, 0, 0, 0]),
        ],
    );
    p.run();
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.path("warehouse/_manifest/v00000000000000000002.json")).unwrap(),
    )
    .unwrap();
    let parts = m["partitions"].as_object().unwrap();
    assert_eq!(parts.keys().cloned().collect::<Vec<_>>(), ["2711000105/2025-04", "2711000105/2025-05"]);
    assert_eq!(parts["2711000105/2025-04"]["rows"], 2);
    // May's file is untouched, byte for byte, and still the one the manifest names.
    let may = before.iter().find(|(f, _)| f.to_string_lossy().contains("month=2025-05")).unwrap();
    assert_eq!(std::fs::read(&may.0).unwrap(), may.1);
    assert!(may.0.to_string_lossy().ends_with(parts["2711000105/2025-05"]["file"].as_str().unwrap()));
    // So are May's department and partner sums; April's were made again from its new file.
    let v1: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.path("warehouse/_manifest/v00000000000000000001.json")).unwrap(),
    )
    .unwrap();
    let (sums, sums_before) = (&m["month_breakdowns"], &v1["month_breakdowns"]);
    assert_eq!(sums["2025-05"], sums_before["2025-05"]);
    assert_ne!(sums["2025-04"]["file"], sums_before["2025-04"]["file"]);
    assert_eq!(sums["2025-04"]["events"], serde_json::json!([parts["2711000105/2025-04"]["file"]]));
    assert!(p.path("warehouse").join(sums["2025-05"]["file"].as_str().unwrap()).is_file());
    let months = stdout(&p.rates("month", &[]));
    assert_eq!(
        first_columns(&months, 8)[1..],
        ["2711000105,2025-04,2,0,0,0,2,1", "2711000105,2025-05,1,0,0,0,1,1"]
    );
}

#[test]
fn sample_data_demo_runs_and_flags_the_failing_and_boundary_hospitals() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("refrate.yaml");
    let sample = root.join("sample_data");
    std::fs::write(
        &config,
        format!(
            "warehouse: wh\nreports: reports\nhospitals: {}\ninputs:\n  - path: {}/events/*.csv\n    kind: events\nregimes: [chiiki-shien-2014, shinryo-2022]\n",
            sample.join("hospitals.csv").display(),
            sample.display()
        ),
    )
    .unwrap();
    let out = refrate_in(tmp.path(), &["run", "--config", config.to_str().unwrap()], Some(TEST_KEY));
    assert_code(&out, 1);
    let rates = refrate_in(tmp.path(), &["rates", "--config", config.to_str().unwrap()], Some(TEST_KEY));
    let csv = stdout(&rates);
    let fy2024: Vec<Vec<String>> = csv
        .lines()
        .filter(|l| l.contains(",2024,chiiki-shien-2014,"))
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let verdicts: Vec<(&str, &str, &str)> =
        fy2024.iter().map(|c| (c[0].as_str(), c[8].as_str(), c[9].as_str())).collect();
    // The profiles of sample_data/README.md: 大阪 fails, 福岡 is exactly on 80 %.
    assert_eq!(
        verdicts,
        [
            ("0110113719", "pass", "false"),
            ("1311110371", "pass", "false"),
            ("2611411485", "pass", "false"),
            ("2711210746", "fail", "false"),
            ("4011311117", "pass", "true"),
        ]
    );
    // The six bad rows added by hand are rejected with their lines.
    let rejects = std::fs::read_to_string(tmp.path().join("reports/rejects.csv")).unwrap();
    let lines: Vec<String> =
        rejects.lines().skip(1).map(|l| l.split(',').take(2).collect::<Vec<_>>().join(":")).collect();
    let tail: Vec<String> = lines.iter().map(|l| l.rsplit('/').next().unwrap().to_string()).collect();
    assert_eq!(
        tail,
        [
            "2024-05.csv:201",
            "2024-05.csv:202",
            "2024-05.csv:203",
            "2025-02.csv:501",
            "2025-02.csv:502",
            "2025-02.csv:503"
        ]
    );
}

#[test]
fn an_overlapping_later_export_does_not_count_a_row_twice() {
    let p = Project::new("");
    let shared = row(H3, "2025-06-01", "first_visit", "A1", PARTNER, [1, 0, 0, 0, 0]);
    p.input("a.csv", std::slice::from_ref(&shared));
    p.run();
    // A later export overlaps the first: its first row is the same record. It is "already
    // present" (issue 10): not a reject, so half of the file repeating does not stop the run.
    p.input("b.csv", &[shared, row(H3, "2025-06-02", "first_visit", "A2", "", [0, 0, 0, 0, 0])]);
    let out = p.run();
    assert!(stderr(&out).contains("2 rows, 0 rejected, 1 already present"), "{}", stderr(&out));
    let months = stdout(&p.rates("month", &[]));
    // Two initial patients (A1 once, A2), one referred.
    assert_eq!(first_columns(&months, 8)[1], "2711000105,2025-06,2,0,0,0,2,1");
    let rejects = csv_for_people(&p.path("reports/rejects.csv"));
    assert_eq!(rejects.lines().count(), 1, "{rejects}");
    let m = latest_manifest(&p.path("warehouse"));
    assert_eq!(m["sources"]["inputs/b.csv"]["already_present_in"]["inputs/a.csv"], 1);
}

/// A rerun does not read an input whose size and modification time are those recorded when it
/// was ingested (as git's index); a file modified too recently to trust its clock is read again.
#[test]
fn rerun_does_not_read_inputs_whose_size_and_time_are_unchanged() {
    let p = Project::new("");
    let first = row("4011000207", "2025-04-11", "first_visit", "P1", "1311009904", [1, 0, 0, 0, 0]);
    p.input("april.csv", std::slice::from_ref(&first));
    let path = p.path("inputs/april.csv");
    // Written just now: its stat is not trusted, so none is recorded.
    assert_code(&p.run(), 0);
    let manifest = latest_manifest(&p.path("warehouse"));
    assert!(manifest["sources"]["inputs/april.csv"].get("stat").is_none(), "{manifest}");

    // Settled, and changed (a letter became none): ingested, and now its stat is recorded.
    p.input("april.csv", &[first.replacen(",1,1311009904", ",0,1311009904", 1)]);
    age_file(&path, 3600);
    let out = p.run();
    assert_code(&out, 1);
    assert!(stderr(&out).contains("1 new"), "{}", stderr(&out));
    let manifest = latest_manifest(&p.path("warehouse"));
    let stat = &manifest["sources"]["inputs/april.csv"]["stat"];
    assert_eq!(stat["size"], serde_json::json!(std::fs::metadata(&path).unwrap().len()), "{manifest}");

    // Other bytes of the same size with the recorded time put back: not read, so not seen.
    let when = std::fs::metadata(&path).unwrap().modified().unwrap();
    p.input("april.csv", std::slice::from_ref(&first));
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(when).unwrap();
    let out = p.run();
    assert_code(&out, 1);
    assert!(stderr(&out).contains("0 new, 1 skipped as already ingested"), "{}", stderr(&out));

    // Touched: read again, and its content is new.
    age_file(&path, 1800);
    let out = p.run();
    assert_code(&out, 0);
    assert!(stderr(&out).contains("1 new"), "{}", stderr(&out));
}

#[test]
fn a_rerun_with_nothing_new_rewrites_no_page_unless_what_they_are_made_from_changed() {
    let p = Project::new("");
    p.input("fy2025.csv", &fixture_rows());
    let first = p.run();
    assert_code(&first, 1);
    let review = |o: &std::process::Output| -> Vec<String> {
        stderr(o).lines().filter(|l| l.contains("needs review")).map(str::to_string).collect()
    };
    assert!(!review(&first).is_empty(), "{}", stderr(&first));
    let pages = || -> Vec<(std::path::PathBuf, std::time::SystemTime, Vec<u8>)> {
        p.files_under("reports")
            .into_iter()
            .map(|f| {
                (f.clone(), std::fs::metadata(&f).unwrap().modified().unwrap(), std::fs::read(&f).unwrap())
            })
            .collect()
    };
    let before = pages();
    assert!(before.iter().any(|(f, _, _)| f.ends_with("reports/index.html")));

    // Nothing new: the same review and exit code, and not one page written again.
    let again = p.run();
    assert_code(&again, 1);
    assert_eq!(review(&again), review(&first));
    assert_eq!(pages(), before, "a page was rewritten");

    // A page deleted (or edited) since: everything is rendered again, the page is back.
    std::fs::remove_file(p.path("reports/index.html")).unwrap();
    assert_code(&p.run(), 1);
    assert_eq!(
        refrate::testing::without_time(&std::fs::read(p.path("reports/index.html")).unwrap()),
        refrate::testing::without_time(
            &before.iter().find(|(f, _, _)| f.ends_with("reports/index.html")).unwrap().2
        )
    );
    let rendered = pages();
    assert_code(&p.run(), 1);
    assert_eq!(pages(), rendered);

    // What the pages are made from changed (here the config): rendered again.
    let config = std::fs::read_to_string(p.path("refrate.yaml")).unwrap();
    p.write("refrate.yaml", &format!("{config}# reviewed\n"));
    let out = p.run();
    assert_code(&out, 1);
    assert_eq!(review(&out), review(&first));
    let after = pages();
    let index_time = |v: &[(std::path::PathBuf, std::time::SystemTime, Vec<u8>)]| {
        v.iter().find(|(f, _, _)| f.ends_with("reports/index.html")).unwrap().1
    };
    assert_ne!(index_time(&after), index_time(&rendered), "the pages were not rendered again");
}

#[test]
fn an_edited_render_record_is_not_believed() {
    let p = Project::new("");
    p.input("fy2025.csv", &fixture_rows());
    let first = p.run();
    assert_code(&first, 1);
    // The record in the shared reports folder is edited: the failing hospital taken out of the
    // review, so that a run with nothing new would exit 0.
    let path = p.path("reports/.refrate_rendered.json");
    let mut sealed: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mut record: serde_json::Value = serde_json::from_str(sealed["record"].as_str().unwrap()).unwrap();
    assert!(!record["rendered"]["review"]["attention"].as_array().unwrap().is_empty(), "{record}");
    record["rendered"]["review"]["attention"] = serde_json::json!([]);
    sealed["record"] = serde_json::Value::String(record.to_string());
    std::fs::write(&path, serde_json::to_vec(&sealed).unwrap()).unwrap();
    // Its seal no longer matches: the pages are rendered again from the warehouse.
    let again = p.run();
    assert_code(&again, 1);
    assert!(stderr(&again).contains("needs review"), "{}", stderr(&again));
    let restored: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_ne!(restored, sealed);
}

#[test]
fn explain_totals_equal_the_months_counts_and_the_years_ratios_for_every_hospital_of_the_sample() {
    // Issue 14: the trail behind every count adds up, record by record, to what `rates` says.
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("refrate.yaml"),
        format!(
            "warehouse: wh\nreports: reports\ninputs:\n  - path: {}/events/*.csv\n    kind: events\nregimes: [shinryo-2022, chiiki-shien-2014]\n",
            sample.display()
        ),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--config", "refrate.yaml"]);
        refrate_in(tmp.path(), &all, Some(TEST_KEY))
    };
    assert_code(&cli(&["run"]), 1);
    let rows = |csv: &str| -> Vec<Vec<String>> {
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
        let mut out = vec![header];
        out.extend(r.records().map(|rec| rec.unwrap().iter().map(str::to_string).collect()));
        out
    };
    let monthly = rows(&stdout(&cli(&["rates", "--period", "month"])));
    let yearly = rows(&stdout(&cli(&["rates", "--period", "fiscal-year", "--regime", "shinryo-2022"])));
    let col = |table: &[Vec<String>], name: &str| table[0].iter().position(|h| h == name).unwrap();
    let hospitals: std::collections::BTreeSet<String> = monthly[1..].iter().map(|r| r[0].clone()).collect();
    assert_eq!(hospitals.len(), 5);
    let mut months_checked = 0;
    for h in &hospitals {
        // Per month: the sums of the records, as `rates --period month` gives them.
        let totals = rows(&stdout(&cli(&["explain", "--hospital", h, "--totals"])));
        let expected: Vec<Vec<String>> = monthly[1..]
            .iter()
            .filter(|r| &r[0] == h && !r[col(&monthly, "first_visits")].is_empty())
            .map(|r| r[..11].to_vec())
            .collect();
        assert_eq!(totals[0], monthly[0][..11].to_vec());
        assert_eq!(totals[1..].to_vec(), expected, "{h}");
        months_checked += expected.len();

        // Per fiscal year: what the records add to shinryo-2022's ratios (a denominator of
        // first visits plus return visits) sums to its numerators and denominators.
        let records = rows(&stdout(&cli(&["explain", "--hospital", h, "--regime", "shinryo-2022"])));
        for year in yearly[1..].iter().filter(|r| &r[0] == h) {
            let fy: i32 = year[col(&yearly, "fiscal_year")].parse().unwrap();
            let in_year = |r: &&Vec<String>| {
                let (y, m): (i32, u32) = (r[1][..4].parse().unwrap(), r[1][5..].parse().unwrap());
                (if m >= 4 { y } else { y - 1 }) == fy
            };
            let sum = |name: &str| -> i64 {
                records[1..]
                    .iter()
                    .filter(in_year)
                    .map(|r| r[col(&records, name)].parse::<i64>().unwrap())
                    .sum()
            };
            for (mine, theirs) in [
                ("referral_numerator", "referral_numerator"),
                ("referral_denominator", "referral_denominator"),
                ("reverse_numerator", "reverse_referral_numerator"),
                ("reverse_denominator", "reverse_referral_denominator"),
            ] {
                assert_eq!(sum(mine).to_string(), year[col(&yearly, theirs)], "{h} FY{fy} {mine}");
            }
        }
    }
    assert!(months_checked >= 60, "{months_checked}");
    // One month's records, with the reasons and the rejects of the files feeding it.
    let out = cli(&["explain", "--hospital", "0110113719", "--month", "2024-04"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.lines().skip(1).all(|l| l.starts_with("0110113719,2024-04,")), "{text}");
    assert!(text.contains("initial patient; referred,初診患者・紹介患者"), "{text}");
    assert!(
        stderr(&out).contains("refrate: 0110113719 2024-04 under shinryo-2022: 284 record(s); 紹介割合 39 / 50, 逆紹介割合 27 / 242"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("rejected"), "2024-04.csv has no reject: {}", stderr(&out));
    // May's file has three rejects (sample_data/README.md): listed with their lines and reasons.
    let may = cli(&["explain", "--hospital", "0110113719", "--month", "2024-05"]);
    assert_code(&may, 0);
    let err = stderr(&may);
    assert!(err.contains("refrate: 3 rejected row(s) in the files that feed these months"), "{err}");
    assert!(
        err.contains("/events/2024-05.csv line 201: bad_date (日付が読めません; no such day: 2024-05-32)"),
        "{err}"
    );
    // A mistyped code or a month without data is not an empty, green answer.
    for (args, says) in [
        (
            vec!["--hospital", "110113719"],
            "no record of 110113719: the warehouse holds no record of that hospital",
        ),
        (
            vec!["--hospital", "0110113719", "--month", "2026-04"],
            "no record of 0110113719 in 2026-04: the warehouse holds its records of 15 months, 2024-04 to 2025-06",
        ),
    ] {
        let mut all = vec!["explain"];
        all.extend(args);
        let out = cli(&all);
        assert_code(&out, 2);
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
}

/// `sample --partners N` draws the partner codes from N institutions (40 by default), for
/// benchmarks at the partner counts of real hospitals; 0 is refused.
#[test]
fn sample_draws_partners_from_as_many_institutions_as_asked() {
    let partners_of = |dir: &std::path::Path| {
        let mut codes = std::collections::BTreeSet::new();
        for file in files_in(&dir.join("data/events")) {
            let text = std::fs::read_to_string(&file).unwrap();
            let mut lines = text.lines();
            let header: Vec<&str> = lines.next().unwrap().split(',').collect();
            let at = header.iter().position(|h| *h == "partner_code").unwrap();
            codes.extend(lines.map(|l| l.split(',').nth(at).unwrap().to_string()).filter(|c| !c.is_empty()));
        }
        codes
    };
    let args = "sample --out data --events 20000 --hospitals 2 --months 3 --seed 7";
    let default = tempfile::tempdir().unwrap();
    assert_code(&refrate_in(default.path(), &args.split(' ').collect::<Vec<_>>(), None), 0);
    assert_eq!(partners_of(default.path()).len(), 40);
    let many = tempfile::tempdir().unwrap();
    let with = format!("{args} --partners 300");
    assert_code(&refrate_in(many.path(), &with.split(' ').collect::<Vec<_>>(), None), 0);
    let drawn = partners_of(many.path()).len();
    assert!((250..=300).contains(&drawn), "{drawn} partners drawn from 300");
    let none = tempfile::tempdir().unwrap();
    let zero = format!("{args} --partners 0");
    assert_code(&refrate_in(none.path(), &zero.split(' ').collect::<Vec<_>>(), None), 2);
}
