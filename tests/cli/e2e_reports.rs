//! The reports end to end: breakdowns computed from real input by the real binary, escaping of
//! input text, and the sample reports opened, run and printed by headless Chromium.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

const H: &str = "0110113719";
const P1: &str = "1311009904";
const P2: &str = "2711000105";
const RELATED: &str = "4011000207";

/// One row with a department. Flags: letter, related, ambulance, after_hours, checkup.
fn dept_row(date: &str, kind: &str, patient: u32, department: &str, partner: &str, flags: [u8; 5]) -> String {
    let [letter, related, amb, ah, chk] = flags;
    format!("{H},{date},{kind},Q{patient:07},{department},{letter},{partner},{related},{amb},{ah},{chk}")
}

/// Whitespace between tags removed, so table rows can be matched as one string.
fn squash(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut pending = String::new();
    for ch in html.chars() {
        if ch.is_whitespace() {
            pending.push(ch);
            continue;
        }
        if !(out.ends_with('>') && ch == '<') {
            out.push_str(&pending);
        }
        pending.clear();
        out.push(ch);
    }
    out
}

/// The hand-computed breakdown fixture.
///
/// FY2024: 2024-04 P1 ×3 and P2 ×1 referred; 2024-05 P1 ×1 referred.
/// FY2025 (2025-04 only, so the year is 1 month in with 11 left):
///   内科: P1 ×1 referred first visit; 2 referrals out to P1 and 1 to a related partner.
///   外科: P2 ×2 referred; 1 first visit with a letter from P2 but by ambulance (excluded
///         from initial and referred); 1 first visit without letter.
///   → 内科 first 1, initial 1, referred 1, reverse 2; 外科 first 4, initial 3, referred 2, reverse 0.
///   Top referrers P2 2, P1 1; reverse destinations P1 2 (the related partner never counts).
///   Compared months: only April (May 2025 has no data), so P1 fell 3 → 1 (−2); P2 rose.
///   A comparison over the whole previous year would wrongly say 4 → 1.
fn breakdown_rows() -> Vec<String> {
    let mut rows = Vec::new();
    let mut pid = 0;
    let mut next = || {
        pid += 1;
        pid
    };
    for _ in 0..3 {
        rows.push(dept_row("2024-04-02", "first_visit", next(), "内科", P1, [1, 0, 0, 0, 0]));
    }
    rows.push(dept_row("2024-04-03", "first_visit", next(), "外科", P2, [1, 0, 0, 0, 0]));
    rows.push(dept_row("2024-05-07", "first_visit", next(), "内科", P1, [1, 0, 0, 0, 0]));
    rows.push(dept_row("2025-04-01", "first_visit", next(), "内科", P1, [1, 0, 0, 0, 0]));
    for _ in 0..2 {
        rows.push(dept_row("2025-04-02", "first_visit", next(), "外科", P2, [1, 0, 0, 0, 0]));
        rows.push(dept_row("2025-04-03", "referral_out", next(), "内科", P1, [0, 0, 0, 0, 0]));
    }
    rows.push(dept_row("2025-04-04", "referral_out", next(), "内科", RELATED, [0, 1, 0, 0, 0]));
    rows.push(dept_row("2025-04-05", "first_visit", next(), "外科", P2, [1, 0, 1, 0, 0]));
    rows.push(dept_row("2025-04-06", "first_visit", next(), "外科", "", [0, 0, 0, 0, 0]));
    rows
}

#[test]
fn hospital_page_breaks_down_by_department_and_partner() {
    let p = Project::new("regimes: [chiiki-shien-2014]\n");
    p.input("events.csv", &breakdown_rows());
    let out = p.run();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", stderr(&out));
    let html = squash(&std::fs::read_to_string(p.path(&format!("reports/{H}_FY2025.html"))).unwrap());

    let dept = |name: &str, cells: [&str; 6]| {
        format!(
            "<th scope=\"row\">{name}</th>{}",
            cells.iter().map(|c| format!("<td class=\"num\">{c}</td>")).collect::<String>()
        )
    };
    assert!(html.contains(&dept("外科", ["4", "3", "2", "0", "66.7&nbsp;%", "0.0&nbsp;%"])), "{html}");
    assert!(html.contains(&dept("内科", ["1", "1", "1", "2", "100.0&nbsp;%", "200.0&nbsp;%"])), "{html}");
    assert!(html.find("外科</th>") < html.find("内科</th>"), "largest department first");

    let line = |code: &str, n: &str| {
        format!("<tr><th scope=\"row\"><code>{code}</code></th><td class=\"num\">{n}</td></tr>")
    };
    let referrers = &html[html.find("紹介元（").unwrap()..html.find("逆紹介先（").unwrap()];
    assert!(referrers.contains(&format!("{}{}", line(P2, "2"), line(P1, "1"))), "{referrers}");
    let reverse = &html[html.find("逆紹介先（").unwrap()..html.find("紹介が減った連携先").unwrap()];
    assert!(reverse.contains(&line(P1, "2")), "{reverse}");
    assert!(!reverse.contains(RELATED), "a related partner never counts: {reverse}");

    let declines = &html[html.find("紹介が減った連携先").unwrap()..html.find("データの品質").unwrap()];
    assert!(declines.contains("1か月（2025年4月）"), "{declines}");
    assert!(
        declines.contains(&format!(
            "<tr><th scope=\"row\"><code>{P1}</code></th><td class=\"num\">3</td><td class=\"num\">1</td><td class=\"num\">−2</td></tr>"
        )),
        "{declines}"
    );
    assert!(!declines.contains(P2), "P2 rose: {declines}");

    // Current year: 1 month in, 11 left; the gap is spread over them.
    assert!(html.contains("2025年4月までの1か月分で判定しています（年度末まで残り11か月）"), "{html}");
    assert!(html.contains("残り11か月で月あたり"), "{html}");

    // Data quality: the input file with its checksum, the regime file used.
    let input = std::fs::read(p.path("inputs/events.csv")).unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&input));
    assert!(html.contains(&format!("<code class=\"hash\">{sha}</code>")), "{html}");
    // minijinja escapes `/` as well.
    assert!(html.contains("builtin:rules&#x2f;chiiki-shien-2014.yaml"), "{html}");

    // FY2024 is complete as far as the data goes (2025-04 exists): no pace there.
    let fy2024 = std::fs::read_to_string(p.path(&format!("reports/{H}_FY2024.html"))).unwrap();
    assert!(!fy2024.contains("年度途中"));
    assert!(fy2024.contains("前年度の同じ月のデータがないため、比較できません。"));
}

#[test]
fn partners_are_named_from_the_partner_list_and_then_the_hospital_master() {
    // Issue 13: the breakdowns showed bare codes. A 厚生局 list (Shift_JIS, Japanese headings)
    // names P1; P2 is itself in the hospital master.
    let p = Project::new(
        "regimes: [chiiki-shien-2014]\nhospitals: hospitals.csv\npartners:\n  path: kouseikyoku.csv\n  format: {encoding: shift_jis}\n",
    );
    p.input("events.csv", &breakdown_rows());
    p.write("hospitals.csv", &format!("hospital_code,name\n{H},本院\n{P2},大阪の病院\n"));
    let list = format!("医療機関コード,医療機関名,所在地\r\n{P1},はなみずき<内科>クリニック,東京都\r\n");
    std::fs::write(p.path("kouseikyoku.csv"), encoding_rs::SHIFT_JIS.encode(&list).0).unwrap();
    let out = p.run();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", stderr(&out));
    let html = squash(&std::fs::read_to_string(p.path(&format!("reports/{H}_FY2025.html"))).unwrap());
    let line = |code: &str, name: &str, n: &str| {
        format!(
            "<tr><th scope=\"row\"><code>{code}</code><span class=\"partner-name\">{name}</span></th><td class=\"num\">{n}</td></tr>"
        )
    };
    let referrers = &html[html.find("紹介元（").unwrap()..html.find("逆紹介先（").unwrap()];
    assert!(
        referrers.contains(&format!(
            "{}{}",
            line(P2, "大阪の病院", "2"),
            line(P1, "はなみずき&lt;内科&gt;クリニック", "1")
        )),
        "named, and escaped: {referrers}"
    );
    // A bad partner list stops the run before anything is published, naming it.
    std::fs::write(
        p.path("kouseikyoku.csv"),
        encoding_rs::SHIFT_JIS.encode("医療機関コード,医療機関名\n123,x\n").0,
    )
    .unwrap();
    p.input("later.csv", &[dept_row("2025-05-01", "first_visit", 900, "内科", P1, [1, 0, 0, 0, 0])]);
    let before = files_in(&p.path("warehouse/_manifest"));
    let config = p.config();
    for out in [p.run(), p.refrate(&["validate", "--config", config.to_str().unwrap()])] {
        assert_code(&out, 2);
        assert!(
            stderr(&out).contains("partners ") && stderr(&out).contains("kouseikyoku.csv line 2"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(files_in(&p.path("warehouse/_manifest")), before, "nothing was published");
}

#[test]
fn input_text_is_escaped_on_the_hospital_page() {
    let p = Project::new("regimes: [chiiki-shien-2014]\n");
    let evil = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>";
    p.input(
        "events.csv",
        &[
            dept_row(
                "2025-04-01",
                "first_visit",
                1,
                &format!("\"{}\"", evil.replace('"', "\"\"")),
                P1,
                [1, 0, 0, 0, 0],
            ),
            dept_row("2025-04-02", "referral_out", 2, "内科", P1, [0, 0, 0, 0, 0]),
        ],
    );
    let out = p.run();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", stderr(&out));
    let html = std::fs::read_to_string(p.path(&format!("reports/{H}_FY2025.html"))).unwrap();
    assert!(!html.contains("<script"), "a script element in the page");
    assert!(!html.contains("<img"), "an img element in the page");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;&quot;&gt;&lt;img"),
        "the department is shown as text"
    );
}

// ---------------------------------------------------------------------------------------------
// Headless Chromium on the sample reports.

const CHROMIUM_FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
];

/// Chromium, or `None` (with a loud message) when it is absent outside CI. In CI it must run.
fn chromium() -> Option<PathBuf> {
    let path =
        PathBuf::from(std::env::var_os("REFRATE_CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into()));
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but Chromium is not at {}: .ci/run must install Debian's chromium", path.display());
    }
    eprintln!(
        "\n######## SKIPPED: headless Chromium test. {} not found. Install Debian's `chromium` \
         (apt-get install chromium) to run it; in CI (CI=true) it is mandatory. ########\n",
        path.display()
    );
    None
}

/// Runs Chromium on `page` with `extra` flags, a fresh profile and console logging on stderr.
fn run_chromium(chromium: &Path, page: &Path, extra: &[String]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .arg("120")
        .arg(chromium)
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--enable-logging=stderr", "--v=0"])
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("start chromium");
    assert!(out.status.success(), "chromium failed on {}:\n{}", page.display(), stderr(&out));
    out
}

/// Console messages (errors, CSP violations, anything a script logged) of a Chromium run.
fn console_messages(out: &Output) -> Vec<String> {
    stderr(out).lines().filter(|l| l.contains(":CONSOLE")).map(str::to_owned).collect()
}

/// The DOM after scripts ran, and the console messages.
fn dump_dom(chromium: &Path, page: &Path) -> (String, Vec<String>) {
    let out = run_chromium(chromium, page, &["--dump-dom".to_string()]);
    (stdout(&out), console_messages(&out))
}

/// Prints `page` to PDF and returns each page's (width, height) in points.
fn print_pdf(chromium: &Path, page: &Path, pdf: &Path) -> Vec<(f64, f64)> {
    run_chromium(
        chromium,
        page,
        &["--no-pdf-header-footer".to_string(), format!("--print-to-pdf={}", pdf.display())],
    );
    let bytes = std::fs::read(pdf).expect("chromium wrote the PDF");
    let text = String::from_utf8_lossy(&bytes);
    let boxes: Vec<(f64, f64)> = text
        .split("/MediaBox")
        .skip(1)
        .map(|rest| {
            let inside = &rest[rest.find('[').unwrap() + 1..rest.find(']').unwrap()];
            let n: Vec<f64> = inside.split_whitespace().map(|v| v.parse().unwrap()).collect();
            (n[2] - n[0], n[3] - n[1])
        })
        .collect();
    let count: usize = text
        .split("/Count ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .expect("a page count in the PDF");
    assert_eq!(boxes.len(), count, "one MediaBox per page");
    boxes
}

/// Runs the real binary on `sample_data/` into a fresh folder; returns it and the reports folder.
fn sample_reports() -> (tempfile::TempDir, PathBuf) {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data");
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "warehouse: warehouse\nreports: reports\nhospitals: {}\ninputs:\n  - path: {}/events/*.csv\n    kind: events\nregimes: [chiiki-shien-2014, shinryo-2022]\n",
        sample.join("hospitals.csv").display(),
        sample.display()
    );
    std::fs::write(dir.path().join("refrate.yaml"), config).unwrap();
    let out = refrate_in(dir.path(), &["run", "--config", "refrate.yaml"], Some(TEST_KEY));
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", stderr(&out));
    let reports = dir.path().join("reports");
    (dir, reports)
}

const A4_SHORT: f64 = 595.0;
const A4_LONG: f64 = 842.0;

#[test]
fn sample_reports_in_headless_chromium() {
    let Some(chromium) = chromium() else { return };
    let (_dir, reports) = sample_reports();
    let hospital = reports.join("0110113719_FY2025.html");
    let overview = reports.join("index.html");

    // The detector sees what it looks for: a CSP violation and a script error.
    let control = reports.join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\"><p>x</p><script>nope()</script>",
    )
    .unwrap();
    let (_, messages) = dump_dom(&chromium, &control);
    assert!(messages.iter().any(|m| m.contains("Content Security Policy")), "{messages:?}");

    let (dom, messages) = dump_dom(&chromium, &hospital);
    assert_eq!(messages, Vec::<String>::new(), "console messages on the hospital page");
    assert!(dom.contains("class=\"verdict verdict-"), "{dom}");
    assert!(
        dom.contains("地域医療支援病院（2014年度以降）の紹介率・逆紹介率要件を満たし"),
        "verdict sentence shown"
    );
    assert!(dom.contains("診療科別") && dom.contains("紹介が減った連携先"));

    let (dom, messages) = dump_dom(&chromium, &overview);
    assert_eq!(
        messages,
        Vec::<String>::new(),
        "console messages on the overview (CSP hash of the sort script?)"
    );
    assert!(
        dom.contains("<button type=\"button\" class=\"sort\">紹介率</button>"),
        "the sort script ran and added its buttons"
    );
    assert!(dom.contains("札幌みなみ地域医療センター"));

    let pdf_dir = tempfile::tempdir().unwrap();
    let pages = print_pdf(&chromium, &hospital, &pdf_dir.path().join("hospital.pdf"));
    assert!((2..=8).contains(&pages.len()), "hospital page prints on {} pages", pages.len());
    for (w, h) in &pages {
        assert!((w - A4_SHORT).abs() < 2.0 && (h - A4_LONG).abs() < 2.0, "not A4 portrait: {w}×{h}");
    }
    let pages = print_pdf(&chromium, &overview, &pdf_dir.path().join("overview.pdf"));
    assert!((1..=3).contains(&pages.len()), "overview prints on {} pages", pages.len());
    for (w, h) in &pages {
        assert!((w - A4_LONG).abs() < 2.0 && (h - A4_SHORT).abs() < 2.0, "not A4 landscape: {w}×{h}");
    }

    // Each form of the complete fiscal year prints on one A4 portrait page, without a console
    // message.
    for form in ["form28", "report"] {
        let page = reports.join(format!("0110113719_{form}_FY2024.html"));
        let (dom, messages) = dump_dom(&chromium, &page);
        assert_eq!(messages, Vec::<String>::new(), "console messages on {form}");
        assert!(dom.contains("0110113719"), "{form}: the code is shown");
        let pages = print_pdf(&chromium, &page, &pdf_dir.path().join(format!("{form}.pdf")));
        assert_eq!(pages.len(), 1, "{form} prints on one page");
        let (w, h) = pages[0];
        assert!((w - A4_SHORT).abs() < 2.0 && (h - A4_LONG).abs() < 2.0, "{form} not A4 portrait: {w}×{h}");
    }
}

/// The forms of the sample's complete fiscal year (FY2024) are written, with the values of the
/// rates output, and the hospital page links them; the year under way (FY2025) has none.
#[test]
fn the_sample_gives_the_forms_of_its_complete_year() {
    let (dir, reports) = sample_reports();
    let form = std::fs::read_to_string(reports.join("0110113719_form28_FY2024.html")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("0110113719_forms_FY2024.json")).unwrap())
            .unwrap();
    let rates = stdout(&refrate_in(
        dir.path(),
        &["rates", "--config", "refrate.yaml", "--period", "fiscal-year", "--regime", "shinryo-2022"],
        Some(TEST_KEY),
    ));
    let row = rates.lines().find(|l| l.starts_with("0110113719,2024,shinryo-2022,")).unwrap();
    let header: Vec<&str> = rates.lines().next().unwrap().split(',').collect();
    let cell = |name: &str| row.split(',').nth(header.iter().position(|h| *h == name).unwrap()).unwrap();
    // ⑥ and ⑦ are the rates `refrate rates` gives; ① is the initial patients.
    assert_eq!(json["form28"]["rates"][0]["display"], cell("referral_rate"));
    assert_eq!(json["form28"]["rates"][1]["display"], cell("reverse_referral_rate"));
    assert_eq!(json["form28"]["counts"][0]["value"].to_string(), cell("initial_patients"));
    assert!(form.contains(&format!("{}&nbsp;‰", cell("reverse_referral_rate"))), "the page shows ⑦");
    assert!(form.contains("令和6年4月～令和7年3月"));
    let page = std::fs::read_to_string(reports.join("0110113719_FY2024.html")).unwrap();
    assert!(
        page.contains("href=\"0110113719_form28_FY2024.html\"")
            && page.contains("href=\"0110113719_report_FY2024.html\"")
    );
    assert!(page.contains("提出期限 令和7年10月5日"), "the 業務報告 deadline");
    assert!(!reports.join("0110113719_form28_FY2025.html").exists(), "no form for a year under way");
    let sheets = xlsx_cells(&reports.join("overview_FY2024.xlsx"));
    let names: Vec<&str> = sheets.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"別紙様式28") && names.contains(&"業務報告①"), "{names:?}");
}

/// `suppress_below: 10` adds a page to share per hospital-year, whose breakdowns show no count
/// from 1 to 9 (and hide a second cell beside a lone one); the hospital's own page keeps them.
#[test]
fn a_page_to_share_hides_small_counts_and_the_own_page_keeps_them() {
    let p = Project::new("suppress_below: 10\n");
    p.input("2025-04.csv", &breakdown_rows());
    p.run();
    let own = squash(&std::fs::read_to_string(p.path(&format!("reports/{H}_FY2025.html"))).unwrap());
    let shared =
        squash(&std::fs::read_to_string(p.path(&format!("reports/{H}_shared_FY2025.html"))).unwrap());
    assert!(shared.contains("外部共有用") && !own.contains("外部共有用"));
    // Every count of the two breakdown sections of the shared page is 0, 10 or more, or hidden.
    let section = |html: &str, start: &str, end: &str| {
        let from = html.find(start).unwrap();
        html[from..from + html[from..].find(end).unwrap()].to_string()
    };
    for (start, end) in
        [("class=\"departments-section\"", "</section>"), ("class=\"partners-section\"", "</section>")]
    {
        let part = section(&shared, start, end);
        for cell in part.split("<td class=\"num\">").skip(1) {
            let text = &cell[..cell.find("</td>").unwrap()];
            let digits: String = text.chars().filter(|c| c.is_ascii_digit()).collect();
            if let Ok(n) = digits.parse::<u64>()
                && !text.contains("&lt;")
                && !text.contains('%')
            {
                assert!(n == 0 || n >= 10, "a small count {text:?} on the shared page");
            }
        }
        assert!(part.contains("&lt;10"), "something was hidden in {start}");
        assert!(!section(&own, start, end).contains("&lt;10"), "the own page hides nothing");
    }
}

/// The sample's year under way (FY2025, three months) has a year-end forecast on each page and
/// in `rates`; the complete year has none.
#[test]
fn the_year_under_way_has_a_forecast_with_its_interval() {
    let (dir, reports) = sample_reports();
    let rates = stdout(&refrate_in(
        dir.path(),
        &["rates", "--config", "refrate.yaml", "--period", "fiscal-year"],
        Some(TEST_KEY),
    ));
    let header: Vec<&str> = rates.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut under_way = 0;
    for line in rates.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let f = |name: &str| cells[col(name)].parse::<f64>().ok();
        if cells[1] == "2025" {
            under_way += 1;
            let (point, low, high) =
                (f("forecast_referral_rate"), f("forecast_referral_low"), f("forecast_referral_high"));
            let (Some(point), Some(low), Some(high)) = (point, low, high) else {
                panic!("no forecast in {line}")
            };
            assert!(low <= point && point <= high, "{line}");
            let p = f("forecast_pass_probability").unwrap();
            assert!((0.0..=1.0).contains(&p), "{line}");
        } else {
            assert_eq!(cells[col("forecast_referral_rate")], "", "a complete year has no forecast: {line}");
        }
    }
    assert!(under_way > 0);
    let page = std::fs::read_to_string(reports.join("0110113719_FY2025.html")).unwrap();
    assert!(page.contains("年度末の見通し") && page.contains("基準を満たす確率"));
    // The same data gives the same forecast (a fixed seed): a second rates call agrees.
    let again = stdout(&refrate_in(
        dir.path(),
        &["rates", "--config", "refrate.yaml", "--period", "fiscal-year"],
        Some(TEST_KEY),
    ));
    assert_eq!(rates, again);
}

/// `refrate form28 --filing 2025-04`: the three months before the 届出 (2025-01..2025-03), with
/// the values `rates --period three-months` gives; months without data are refused.
#[test]
fn the_new_filing_form_reports_the_three_months_before_it() {
    let (dir, _reports) = sample_reports();
    let form = refrate_in(
        dir.path(),
        &["form28", "--config", "refrate.yaml", "--hospital", "0110113719", "--filing", "2025-04"],
        Some(TEST_KEY),
    );
    assert_code(&form, 0);
    let html = stdout(&form);
    assert!(html.contains("届出前の3か月") && html.contains("令和7年1月～令和7年3月"), "{html}");
    let rates = stdout(&refrate_in(
        dir.path(),
        &["rates", "--config", "refrate.yaml", "--period", "three-months", "--regime", "shinryo-2022"],
        Some(TEST_KEY),
    ));
    let header: Vec<&str> = rates.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = rates
        .lines()
        .find(|l| l.starts_with("0110113719,2025-01..2025-03,shinryo-2022,"))
        .unwrap()
        .split(',')
        .collect();
    let cell = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert!(html.contains(&format!("{}&nbsp;%", cell("referral_rate"))), "⑥ as rates gives it");
    assert!(html.contains(&format!("{}&nbsp;‰", cell("reverse_referral_rate"))), "⑦ as rates gives it");
    // 2024-01..2024-03 precede the data.
    let out = refrate_in(
        dir.path(),
        &["form28", "--config", "refrate.yaml", "--hospital", "0110113719", "--filing", "2024-04"],
        Some(TEST_KEY),
    );
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("2024-01..2024-03")
            && stderr(&out).contains("does not have data for all three"),
        "{}",
        stderr(&out)
    );
}
