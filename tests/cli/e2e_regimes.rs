//! Regimes on reported counts (`kind: aggregates`): real published figures, missing counts,
//! and the rule that a hospital-period comes from one source.

use crate::common::*;

const AGGREGATES_CONFIG: &str = "warehouse: warehouse\nreports: reports\ninputs:\n  - path: counts/*.csv\n    kind: aggregates\nregimes: [chiiki-shien-2004, chiiki-shien-2014, shinryo-2022]\n";

fn field<'a>(csv: &'a str, row_prefix: &str, column: &str) -> &'a str {
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let i = header.iter().position(|h| *h == column).unwrap_or_else(|| panic!("no column {column}"));
    let row = csv
        .lines()
        .find(|l| l.starts_with(row_prefix))
        .unwrap_or_else(|| panic!("no row {row_prefix} in\n{csv}"));
    row.split(',').nth(i).unwrap()
}

/// 大牟田市立病院 FY2024 (a hospital QI page): initial 9,811; referred including first-visit
/// emergencies 9,470; reverse 7,980 → published 96.52 % and 81.34 %, i.e. the
/// chiiki-shien-2004 formula (referred + emergency) / initial. The page gives only the sum,
/// so it is entered as referred_patients with emergency_patients 0.
/// 9470 / 9811 = 96.524 % → 96.5; 7980 / 9811 = 81.337 % → 81.3.
///
/// 彦根市立病院 FY2022: initial 14,733; return visits 155,621; reverse 12,172 → published
/// 71.5 ‰, the shinryo-2022 reverse ratio 12172 / (14733 + 155621) × 1000 = 71.45 ‰ → 71.5.
#[test]
fn real_published_figures_are_reproduced_from_reported_counts() {
    let p = Project::with_config(AGGREGATES_CONFIG);
    p.write(
        "counts/published.csv",
        "hospital_code,period,initial_patients,referred_patients,emergency_patients,reverse_referred_patients,return_visits\n\
         4011000207,FY2024,\"9,811\",\"9,470\",0,\"7,980\",\n\
         2511000107,FY2022,\"14,733\",,,\"12,172\",\"155,621\"\n",
    );
    // No event logs, so no pseudonymisation key is needed.
    let config = p.config();
    let run = p.refrate_without_key(&["run", "--config", config.to_str().unwrap()]);
    assert!(matches!(run.status.code(), Some(0 | 1)), "{}", stderr(&run));
    let csv = stdout(&p.refrate_without_key(&[
        "rates",
        "--config",
        config.to_str().unwrap(),
        "--period",
        "fiscal-year",
    ]));

    let omuta = "4011000207,2024,chiiki-shien-2004,";
    assert_eq!(field(&csv, omuta, "referral_rate"), "96.5");
    assert_eq!(field(&csv, omuta, "reverse_referral_rate"), "81.3");
    assert_eq!(field(&csv, omuta, "verdict"), "pass");

    let hikone = "2511000107,2022,shinryo-2022,";
    assert_eq!(field(&csv, hikone, "reverse_referral_rate"), "71.5");
    assert_eq!(field(&csv, hikone, "reverse_referral_unit"), "‰");
    // The referral ratio needs referred and emergency patients, which were not reported.
    assert_eq!(field(&csv, hikone, "referral_rate"), "");
    assert_eq!(field(&csv, hikone, "verdict"), "not_computable");
    assert_eq!(field(&csv, hikone, "missing_counts"), "referred_patients;emergency_patients");
}

#[test]
fn a_hospital_period_comes_from_one_source_only() {
    let p = Project::with_config(&AGGREGATES_CONFIG.replace(
        "    kind: aggregates\n",
        "    kind: aggregates\n  - path: inputs/*.csv\n    kind: events\n",
    ));
    p.write("counts/a.csv", "hospital_code,period,initial_patients,referred_patients,reverse_referred_patients\n0110113719,2025-04,10,8,5\n");
    p.input("april.csv", &[row("0110113719", "2025-04-03", "first_visit", "P1", "", [0, 0, 0, 0, 0])]);
    let out = p.run();
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("counts/a.csv line 2 reports 0110113719/2025-04") && err.contains("inputs/april.csv"),
        "{err}"
    );
    assert!(!p.path("warehouse/_manifest/v00000000000000000001.json").exists());

    // A reported fiscal year covers its months too.
    let p = Project::with_config(AGGREGATES_CONFIG);
    p.write("counts/a.csv", "hospital_code,period,initial_patients\n0110113719,FY2025,10\n");
    p.write("counts/b.csv", "hospital_code,period,initial_patients\n0110113719,2025-06,3\n");
    let out = p.run();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("0110113719/FY2025"), "{}", stderr(&out));
}

#[test]
fn monthly_reported_counts_add_up_to_the_fiscal_year() {
    let p = Project::with_config(AGGREGATES_CONFIG);
    p.write(
        "counts/monthly.csv",
        "hospital_code,period,initial_patients,referred_patients,reverse_referred_patients,emergency_patients,return_visits\n\
         0110113719,2025-04,100,70,45,5,400\n\
         0110113719,2025-05,100,62,37,5,\n",
    );
    p.run();
    let csv = stdout(&p.rates("fiscal-year", &[]));
    // (70 + 62) / 200 = 66.0 %, (45 + 37) / 200 = 41.0 % → chiiki-shien-2014 B.
    let row = "0110113719,2025,chiiki-shien-2014,";
    assert_eq!(field(&csv, row, "referral_rate"), "66.0");
    assert_eq!(field(&csv, row, "reverse_referral_rate"), "41.0");
    assert_eq!(field(&csv, row, "met_criteria"), "B");
    assert_eq!(field(&csv, row, "months_with_data"), "2");
    // return_visits was not reported for May: the fee-schedule reverse ratio cannot be made
    // from one month, and a partial sum must not pass for a real figure.
    let fee = "0110113719,2025,shinryo-2022,";
    assert_eq!(field(&csv, fee, "reverse_referral_rate"), "");
    assert_eq!(field(&csv, fee, "verdict"), "not_computable");
}

#[test]
fn six_consecutive_months_show_when_the_fee_schedule_standard_is_met() {
    let p = Project::with_config(AGGREGATES_CONFIG);
    let mut csv = String::from(
        "hospital_code,period,initial_patients,referred_patients,emergency_patients,reverse_referred_patients,return_visits\n",
    );
    // April is poor; May to October each meet the standard.
    csv.push_str("0110113719,2025-04,200,0,0,0,100\n");
    for m in 5..=10 {
        csv.push_str(&format!("0110113719,2025-{m:02},100,60,0,10,200\n"));
    }
    p.write("counts/monthly.csv", &csv);
    p.run();
    let out = stdout(&p.rates("six-months", &["--regime", "shinryo-2022"]));
    // Apr–Sep: referral 300 / 700 = 42.9 % < 50 → fail.
    let first = "0110113719,2025-04..2025-09,shinryo-2022,";
    assert_eq!((field(&out, first, "referral_rate"), field(&out, first, "verdict")), ("42.9", "fail"));
    // May–Oct: 360 / 600 = 60.0 %, reverse 60 / (600 + 1200) × 1000 = 33.3 ‰ → pass.
    let second = "0110113719,2025-05..2025-10,shinryo-2022,";
    assert_eq!(
        (
            field(&out, second, "referral_rate"),
            field(&out, second, "reverse_referral_rate"),
            field(&out, second, "verdict")
        ),
        ("60.0", "33.3", "pass")
    );
    assert_eq!(field(&out, second, "months_with_data"), "6");
    // Later windows run past the data and say so.
    assert_eq!(field(&out, "0110113719,2025-06..2025-11,", "months_with_data"), "5");
}

#[test]
fn a_users_regime_file_changes_the_operator_without_touching_rust() {
    // Exactly 65.0 % and 45.0 %: criterion B fails under the built-in ">" and passes under a
    // prefecture's "≥" reading, given as a YAML file of the user's own.
    let p = Project::with_config(
        "warehouse: warehouse\nreports: reports\ninputs:\n  - path: counts/*.csv\n    kind: aggregates\n\
         regimes: [chiiki-shien-2014, chiiki-shien-2014-ge]\nregime_files: [my-prefecture.yaml]\n",
    );
    p.write(
        "my-prefecture.yaml",
        "id: chiiki-shien-2014-ge\nname_ja: 地域医療支援病院（B・Cを以上で判定）\nname_en: B and C as ≥\n\
         metrics:\n  referral: { name_ja: 紹介率, numerator: [referred_patients], denominator: [initial_patients], unit: \"%\" }\n\
         \x20 reverse: { name_ja: 逆紹介率, numerator: [reverse_referred_patients], denominator: [initial_patients], unit: \"%\" }\n\
         criteria:\n  - { id: A, conditions: [ { metric: referral, op: \">=\", threshold: 80 } ] }\n\
         \x20 - { id: B, conditions: [ { metric: referral, op: \">=\", threshold: 65 }, { metric: reverse, op: \">=\", threshold: 40 } ] }\n",
    );
    p.write("counts/c.csv", "hospital_code,period,initial_patients,referred_patients,reverse_referred_patients\n4011000207,FY2025,20,13,9\n");
    let run = p.run();
    assert_code(&run, 1);
    let csv = stdout(&p.rates("fiscal-year", &[]));
    let builtin = "4011000207,2025,chiiki-shien-2014,";
    let mine = "4011000207,2025,chiiki-shien-2014-ge,";
    assert_eq!((field(&csv, builtin, "verdict"), field(&csv, builtin, "met_criteria")), ("fail", ""));
    assert_eq!((field(&csv, mine, "verdict"), field(&csv, mine, "met_criteria")), ("pass", "B"));
    assert_eq!(field(&csv, mine, "on_boundary"), "true");

    // A bad regime file stops the run and names the file and the problem.
    p.write("my-prefecture.yaml", "id: x\nname_ja: x\nname_en: x\nmetrics:\n  referral: { name_ja: a, numerator: [referred], denominator: [initial_patients], unit: \"%\" }\n  reverse: { name_ja: b, numerator: [reverse_referred_patients], denominator: [initial_patients], unit: \"%\" }\ncriteria: []\n");
    let out = p.run();
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("my-prefecture.yaml") && stderr(&out).contains("unknown count \"referred\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn gaps_and_monthly_pace_for_the_year_under_way() {
    let p = Project::with_config(AGGREGATES_CONFIG);
    let mut csv =
        String::from("hospital_code,period,initial_patients,referred_patients,reverse_referred_patients\n");
    for m in 4..=6 {
        csv.push_str(&format!("0110113719,2025-{m:02},100,40,10\n"));
    }
    p.write("counts/q1.csv", &csv);
    p.run();
    let out = stdout(&p.rates("fiscal-year", &[]));
    let row = "0110113719,2025,chiiki-shien-2014,";
    // 120 / 300 = 40.0 %, 30 / 300 = 10.0 % → fail. Nearest criterion:
    //   A: (120 + x)/(300 + x) ≥ 0.8 ⇔ 0.2x ≥ 120 → 600;
    //   B: 0.35x > 75 → 215, then reverse > 0.4 × 515 = 206 → 207 − 30 = 177: 392 in all;
    //   C: 0.5x > 30 → 61, then reverse > 0.7 × 361 = 252.7 → 253 − 30 = 223: 284 in all.
    assert_eq!((field(&out, row, "referral_rate"), field(&out, row, "verdict")), ("40.0", "fail"));
    assert_eq!((field(&out, row, "referral_gap"), field(&out, row, "reverse_referral_gap")), ("61", "223"));
    // Three months of data, nine left: ⌈61 / 9⌉ = 7 and ⌈223 / 9⌉ = 25 a month.
    assert_eq!(field(&out, row, "months_left"), "9");
    assert_eq!(
        (field(&out, row, "referral_gap_per_month"), field(&out, row, "reverse_referral_gap_per_month")),
        ("7", "25")
    );
    assert_eq!(field(&out, row, "period_ja"), "令和7年度");
    // Year to date: April to June.
    let ytd = stdout(&p.rates("ytd", &[]));
    let row = "0110113719,2025-04..2025-06,chiiki-shien-2014,";
    assert_eq!((field(&ytd, row, "referral_rate"), field(&ytd, row, "months_with_data")), ("40.0", "3"));
}
