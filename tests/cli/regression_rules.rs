//! Regression tests of the real binary for issue 11 ("One home for every rule"): places where
//! two copies of one rule disagreed, each named after what broke. Each failed on the code
//! before the rule got its one home.

use crate::common::*;

const PASSING: &str = "2711000105";
const FAILING: &str = "4011000207";
const PARTNER: &str = "1311009904";

/// `n` first visits of `hospital` on `date`, the first `referred` with a letter from an
/// unrelated partner, and `reverse` referrals out to it.
fn visits(hospital: &str, date: &str, n: usize, referred: usize, reverse: usize, tag: &str) -> Vec<String> {
    let mut rows: Vec<String> = (0..n)
        .map(|i| {
            let letter = u8::from(i < referred);
            row(hospital, date, "first_visit", &format!("{tag}{i}"), PARTNER, [letter, 0, 0, 0, 0])
        })
        .collect();
    rows.extend(
        (0..reverse)
            .map(|i| row(hospital, date, "referral_out", &format!("{tag}{i}"), PARTNER, [0, 0, 0, 0, 0])),
    );
    rows
}

fn codes(outs: &[&std::process::Output]) -> Vec<Option<i32>> {
    outs.iter().map(|o| o.status.code()).collect()
}

#[test]
fn an_old_failing_year_gives_the_same_exit_code_from_run_and_rates() {
    // FAILING fails in FY2024 (March 2025) and passes in FY2025. The latest month is October
    // 2025, when only FY2025 is still checked: `run` exited 0 and `rates` 1.
    let p = Project::new("");
    let mut rows = visits(PASSING, "2025-03-10", 10, 10, 0, "P");
    rows.extend(visits(FAILING, "2025-03-11", 10, 5, 0, "F"));
    rows.extend(visits(PASSING, "2025-10-10", 10, 10, 0, "Q"));
    rows.extend(visits(FAILING, "2025-10-11", 10, 10, 0, "G"));
    p.input("log.csv", &rows);
    let run = p.run();
    let fiscal = p.rates("fiscal-year", &[]);
    let months = p.rates("month", &[]);
    let rolling = p.rates("rolling-12", &[]);
    assert_eq!(codes(&[&run, &fiscal, &months, &rolling]), [Some(0); 4], "{}", stderr(&fiscal));
    // The old year still shows as failing: the exit code is about the years still answered for.
    assert!(
        stdout(&fiscal).lines().any(|l| l.starts_with(&format!("{FAILING},2024,")) && l.contains(",fail,"))
    );

    // Now the checked year fails too: every command says so, whatever period it prints
    // (`rates --period month` exited 0 before).
    p.input("late.csv", &visits(FAILING, "2025-10-20", 30, 0, 0, "H"));
    let run = p.run();
    let fiscal = p.rates("fiscal-year", &[]);
    let months = p.rates("month", &[]);
    let six = p.rates("six-months", &[]);
    assert_eq!(codes(&[&run, &fiscal, &months, &six]), [Some(1); 4], "{}", stderr(&months));
    for out in [&run, &months] {
        let err = stderr(out);
        assert!(err.contains(&format!("needs review: {FAILING}")) && err.contains("FY2025"), "{err}");
        assert!(!err.contains("FY2024"), "the old year is not reviewed: {err}");
    }
}

#[test]
fn the_page_chart_and_rates_name_the_same_nearest_criterion() {
    // 紹介率 70 %, 逆紹介率 30 % under chiiki-shien-2014: A (≥ 80 %) needs 5 more referred first
    // visits; B (> 65 %, > 40 %) already has its referral rate and needs 2 reverse referrals.
    // `rates` named B; the page's chart drew A's line, treating B's absent referral gap as huge.
    let p = Project::new("");
    p.input("log.csv", &visits(FAILING, "2025-04-11", 10, 7, 3, "F"));
    assert_code(&p.run(), 1);
    let out = p.rates("fiscal-year", &[]);
    let csv = stdout(&out);
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let line = csv.lines().find(|l| l.starts_with(FAILING) && l.contains("chiiki-shien-2014")).unwrap();
    let cells: Vec<&str> = line.split(',').collect();
    let cell = |name: &str| cells[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!((cell("referral_gap"), cell("reverse_referral_gap")), ("", "2"), "{line}");
    let page = std::fs::read_to_string(p.path(&format!("reports/{FAILING}_FY2025.html"))).unwrap();
    assert!(
        page.contains("逆紹介率基準 40 %") && page.contains("紹介率基準 65 %"),
        "the chart draws B's lines"
    );
    assert!(!page.contains("紹介率基準 80 %"), "not A's");
}

#[test]
fn rates_and_the_page_agree_that_a_year_whose_march_has_data_has_no_pace() {
    // `rates` printed months_left 0 for a year whose March had data; the page shows no pace
    // for a year that is over. Both follow the one progress rule now.
    let p = Project::new("");
    let mut rows = visits(FAILING, "2025-04-11", 10, 5, 0, "F");
    rows.extend(visits(FAILING, "2026-03-11", 10, 5, 0, "G"));
    p.input("log.csv", &rows);
    assert_code(&p.run(), 1);
    let csv = stdout(&p.rates("fiscal-year", &[]));
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let line = csv.lines().find(|l| l.starts_with(FAILING)).unwrap();
    let cells: Vec<&str> = line.split(',').collect();
    let months_left = cells[header.iter().position(|h| *h == "months_left").unwrap()];
    assert_eq!(months_left, "", "{line}");
    let page = std::fs::read_to_string(p.path(&format!("reports/{FAILING}_FY2025.html"))).unwrap();
    assert!(!page.contains("年度途中") && !page.contains("月あたり"), "no pace on the page either");

    // One month into the next year, both show the pace over the 11 months left.
    p.input("april.csv", &visits(FAILING, "2026-04-11", 10, 5, 0, "H"));
    assert_code(&p.run(), 1);
    let csv = stdout(&p.rates("fiscal-year", &[]));
    let line = csv.lines().find(|l| l.starts_with(&format!("{FAILING},2026,"))).unwrap();
    let cells: Vec<&str> = line.split(',').collect();
    assert_eq!(cells[header.iter().position(|h| *h == "months_left").unwrap()], "11", "{line}");
    let page = std::fs::read_to_string(p.path(&format!("reports/{FAILING}_FY2026.html"))).unwrap();
    assert!(page.contains("残り11か月で月あたり"), "the page shows the same pace");
}
