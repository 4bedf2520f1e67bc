use std::fs;

use super::fixtures::{fixture_forms, fixture_hospital_page, fixture_index_page};
use super::*;

const SCRIPT: &str = "<script>alert(1)</script>";
const IMG: &str = r#""><img src=x onerror=alert(1)>"#;

fn builtin() -> Renderer {
    Renderer::new(None).expect("built-in templates compile")
}

fn override_dir_with(name: &str, source: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(name), source).unwrap();
    dir
}

#[test]
fn hospital_page_snapshot() {
    let html = builtin().hospital(&fixture_hospital_page()).unwrap();
    insta::assert_snapshot!("hospital_page", html);
}

#[test]
fn index_page_snapshot() {
    let html = builtin().index(&fixture_index_page()).unwrap();
    insta::assert_snapshot!("index_page", html);
}

#[test]
fn index_csv_snapshot() {
    insta::assert_snapshot!("index_csv", index_csv(&fixture_index_page()).unwrap());
}

#[test]
fn index_json_snapshot() {
    let json = index_json(&fixture_index_page()).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["rows"][0]["code"], "2710300159");
    insta::assert_snapshot!("index_json", json);
}

#[test]
fn hospital_page_states_verdict_rates_gaps_and_regime() {
    let html = builtin().hospital(&fixture_hospital_page()).unwrap();
    assert!(html.contains("地域医療支援病院の紹介率・逆紹介率要件を満たしています（基準B）"));
    assert!(html.contains("診療報酬 紹介割合・逆紹介割合（注2）の紹介率・逆紹介率要件を満たしていません"));
    assert!(html.contains("令和7年度"));
    assert!(html.contains("FY2025"));
    assert!(html.contains("71.4&nbsp;%"));
    assert!(html.contains("23.8&nbsp;‰"));
    assert!(html.contains("分子 7,044 ／ 分母 9,863"));
    assert!(html.contains("あと紹介患者 4,232 人"));
    assert!(html.contains("あと逆紹介 2,851 人"));
    assert!(html.contains("<code>chiiki-shien-2014</code>"));
    assert_eq!(html.matches("データなし（0件ではなく欠測）").count(), 1, "August is missing");
    assert_eq!(html.matches("<td colspan=\"10\">これからの月</td>").count(), 1, "March is still to come");
    assert!(html.contains("<dd>2025年8月</dd>"));
    assert!(html.contains("残り1か月で月あたり 紹介 +4,232 人"));
    assert!(html.contains("172,881 行"));
    assert!(html.contains("ウェアハウス版 42"));
    assert!(html.contains("<svg class=\"chart\""), "the chart is inlined unescaped");
    assert!(!html.contains("境界値・要確認</span>"), "no boundary in the fixture");
}

#[test]
fn boundary_and_missing_rate_are_shown() {
    let mut page = fixture_hospital_page();
    page.regimes[0].on_boundary = true;
    page.regimes[0].criteria[1].on_boundary = true;
    page.regimes[0].referral.display = None;
    page.regimes[0].verdict = crate::domain::Verdict::NoData;
    let html = builtin().hospital(&page).unwrap();
    assert_eq!(html.matches(r#"<span class="badge boundary">境界値・要確認</span>"#).count(), 2);
    assert!(html.contains(r#"<span class="rate">—</span>"#));
    assert!(html.contains("地域医療支援病院の要件を判定するデータがありません"));
}

#[test]
fn hospital_page_without_regime_is_refused() {
    let mut page = fixture_hospital_page();
    page.regimes.clear();
    assert!(matches!(builtin().hospital(&page), Err(ReportError::InvalidModel { .. })));
}

#[test]
fn chart_with_mismatched_lengths_is_refused() {
    let mut page = fixture_hospital_page();
    page.chart.reverse.pop();
    assert!(matches!(builtin().hospital(&page), Err(ReportError::InvalidModel { .. })));
}

#[test]
fn index_refuses_unsafe_or_unlisted_links() {
    for bad in [
        "javascript:alert(1)//.html",
        "https://evil.example/x.html",
        "//evil.example/x.html",
        "../0110113719_FY2025.html",
        "/abs/0110113719_FY2025.html",
        "0110113719_FY2025.html\" onclick=\"x",
        "0110113719_FY2025.htm",
        "",
    ] {
        let mut index = fixture_index_page();
        index.rows[2].page = bad.into();
        assert!(matches!(builtin().index(&index), Err(ReportError::InvalidModel { .. })), "{bad:?} accepted");
    }
    let mut index = fixture_index_page();
    index.rows[2].page = "hospitals/0110113719_FY2025.html".into();
    assert!(builtin().index(&index).is_ok(), "a plain sub-folder link is fine");

    let mut index = fixture_index_page();
    index.rows[0].regime_id = "tokutei-kino".into();
    let err = builtin().index(&index).unwrap_err();
    assert!(err.to_string().contains("tokutei-kino"), "{err}");
}

#[test]
fn hospital_page_file_name() {
    assert_eq!(hospital_page_file("0110113719", 2025), "0110113719_FY2025.html");
    assert!(is_safe_relative_link(&hospital_page_file("0110113719", 2025)));
}

/// A page where every free-text field carries an XSS payload.
fn hostile_hospital_page() -> HospitalPage {
    let mut page = fixture_hospital_page();
    page.hospital.name = Some(format!("{SCRIPT}{IMG}"));
    page.hospital.prefecture = Some(IMG.into());
    page.hospital.code = SCRIPT.into();
    for regime in &mut page.regimes {
        regime.id = IMG.into();
        regime.name_ja = SCRIPT.into();
        regime.name_en = IMG.into();
        regime.met_criteria = vec![SCRIPT.into()];
        regime.notes = vec![SCRIPT.into(), IMG.into()];
        regime.referral.display = Some(IMG.into());
        regime.reverse.unit = SCRIPT.into();
        for criterion in &mut regime.criteria {
            criterion.id = IMG.into();
            criterion.label = format!("{SCRIPT}{IMG}");
        }
    }
    for row in &mut page.months {
        row.referral_rate = row.has_data.then(|| SCRIPT.into());
        row.reverse_unit = IMG.into();
    }
    page.missing_months = vec![SCRIPT.into()];
    page.chart.months[0] = SCRIPT.into();
    page.chart.referral_unit = IMG.into();
    for reason in &mut page.rejects.by_reason {
        reason.code = IMG.into();
        reason.label_ja = SCRIPT.into();
    }
    page.run.run_id = SCRIPT.into();
    page.run.refrate_version = IMG.into();
    page.run.generated_at = SCRIPT.into();
    // Department names and partner codes come straight from the input data.
    for d in &mut page.departments {
        d.department = format!("{SCRIPT}{IMG}");
        d.referred_share = Some(IMG.into());
    }
    for line in page.partners.top_referrers.iter_mut().chain(&mut page.partners.top_reverse) {
        line.code = IMG.into();
        line.name = Some(SCRIPT.into());
    }
    for d in &mut page.partners.declines {
        d.code = SCRIPT.into();
        d.name = Some(IMG.into());
    }
    page.partners.compared_months = vec![SCRIPT.into()];
    for f in &mut page.sources {
        f.path = format!("{SCRIPT}{IMG}");
        f.sha256 = IMG.into();
        f.encoding = SCRIPT.into();
    }
    for r in &mut page.regime_files {
        r.id = SCRIPT.into();
        r.origin = IMG.into();
    }
    if let Some(progress) = &mut page.progress {
        progress.through_month = SCRIPT.into();
    }
    page.chart.months[1] = IMG.into();
    // Requirement names, labels and sources come from a user's rules file, facts from theirs.
    if let Some(approval) = &mut page.approval {
        for r in &mut approval.requirements {
            r.name_ja = SCRIPT.into();
            r.label = IMG.into();
            r.facts = vec![format!("{SCRIPT}{IMG}")];
            r.source = SCRIPT.into();
        }
    }
    page
}

fn hostile_index_page() -> IndexPage {
    let mut page = fixture_index_page();
    if let Some(approval) = &mut page.approval {
        approval.rules_name = SCRIPT.into();
        approval.rules_origin = IMG.into();
        approval.sources = vec![SCRIPT.into()];
        approval.uncertain = vec![IMG.into()];
        approval.requirements =
            approval.requirements.iter().map(|(id, _)| (id.clone(), SCRIPT.into())).collect();
        for row in &mut approval.rows {
            row.name = Some(format!("{SCRIPT}{IMG}"));
        }
    }
    page.regimes[0].1 = format!("{SCRIPT}{IMG}");
    for row in &mut page.rows {
        row.name = Some(format!("{SCRIPT}{IMG}"));
        row.code = IMG.into();
        row.met_criteria = vec![SCRIPT.into(), IMG.into()];
        row.met_criteria_names = vec![SCRIPT.into(), IMG.into()];
        row.referral.display = Some(SCRIPT.into());
        row.reverse.unit = IMG.into();
        row.referral_change = Some(IMG.into());
        row.reverse_change = Some(SCRIPT.into());
    }
    for h in &mut page.not_submitted {
        h.name = Some(format!("{SCRIPT}{IMG}"));
        h.code = IMG.into();
    }
    page.run.run_id = SCRIPT.into();
    page
}

fn assert_no_raw_payload(html: &str) {
    assert!(!html.contains(SCRIPT), "raw <script> payload in output");
    assert!(!html.contains(IMG), "raw attribute-breaking payload in output");
    assert!(!html.contains("<script"), "a script element in output");
    assert!(!html.contains("<img"), "an img element in output");
}

#[test]
fn hospital_page_escapes_every_text_field() {
    let html = builtin().hospital(&hostile_hospital_page()).unwrap();
    assert_no_raw_payload(&html);
    // The payload is still shown, escaped (minijinja escapes `/` too).
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
    // The SVG escapes on its own, with its own entity set.
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
}

#[test]
fn hospital_page_shows_breakdowns_and_escapes_input_text() {
    let html = builtin().hospital(&hostile_hospital_page()).unwrap();
    // Each hostile department, partner and file appears, escaped, in its table.
    let escaped_img = "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;";
    assert_eq!(
        html.matches(&format!(
            "<th scope=\"row\">&lt;script&gt;alert(1)&lt;&#x2f;script&gt;{escaped_img}</th>"
        ))
        .count(),
        5
    );
    assert!(
        html.contains(&format!("<code>{escaped_img}</code> <span class=\"partner-name\">&lt;script&gt;"))
    );
    assert!(html.contains(&format!("<code class=\"hash\">{escaped_img}</code>")));
}

#[test]
fn index_page_escapes_every_text_field() {
    let html = builtin().index(&hostile_index_page()).unwrap();
    // The page's own sort script is the one script element: take it out before looking.
    let script = format!("<script>{SORT_SCRIPT}</script>");
    assert_eq!(html.matches(&script).count(), 1);
    let html = html.replace(&script, "");
    assert_no_raw_payload(&html);
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
}

#[test]
fn index_script_is_allowed_by_hash_and_nothing_else() {
    let html = builtin().index(&fixture_index_page()).unwrap();
    let hash = sort_script_hash();
    assert_eq!(hash.len(), 44, "base64 of 32 bytes");
    assert!(html.contains(&format!("script-src 'sha256-{hash}';")), "CSP names the script's hash");
    assert_eq!(html.matches("<script").count(), 1);
    assert!(!SORT_SCRIPT.contains("</script"), "the script cannot close its own element");
    assert!(!html.contains("'unsafe-inline'; script") && !html.contains("script-src 'unsafe"));
    // The hospital page runs no script at all.
    let hospital = builtin().hospital(&fixture_hospital_page()).unwrap();
    assert!(!hospital.contains("<script") && !hospital.contains("script-src"));
    // A known vector: SHA-256 of "abc".
    use base64::Engine as _;
    use sha2::Digest as _;
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(b"abc")),
        "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
    );
}

#[test]
fn index_shows_change_against_previous_year() {
    let html = builtin().index(&fixture_index_page()).unwrap();
    assert!(html.contains(r#"<td class="change">+0.8&nbsp;pt</td>"#), "{html}");
    assert!(html.contains(r#"<td class="change">-1.2&nbsp;pt</td>"#));
    assert!(html.contains(r#"<td class="change">±0.0&nbsp;‰</td>"#), "a ‰ rate changes in ‰");
    assert!(html.contains(r#"<td class="change">—</td>"#), "no change without a rate");
}

/// Every URL-like reference an HTML page could use to load or send something.
fn external_references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for needle in ["http://", "https://", "url(", "@import"] {
        if html.contains(needle) {
            found.push(needle.to_owned());
        }
    }
    for attribute in ["src=", "href=", "action=", "srcset=", "xlink:href="] {
        for quote in ["\"", "'", ""] {
            let needle = format!("{attribute}{quote}//");
            if html.contains(&needle) {
                found.push(needle);
            }
        }
    }
    found
}

#[test]
fn pages_reference_nothing_external() {
    let hospital = builtin().hospital(&fixture_hospital_page()).unwrap();
    let index = builtin().index(&fixture_index_page()).unwrap();
    for html in [&hospital, &index] {
        assert_eq!(external_references(html), Vec::<String>::new());
        assert!(!html.contains("src="), "no element loads anything");
        assert!(!html.contains("<link") && !html.contains("<iframe") && !html.contains("<object"));
        assert!(html.contains("default-src 'none'"));
    }
    // Every link in the index is one of the rows' relative page names.
    let links: Vec<&str> =
        index.split("href=\"").skip(1).map(|rest| &rest[..rest.find('"').unwrap()]).collect();
    let approval_links =
        fixture_index_page().approval.map_or(0, |a| a.rows.iter().filter(|r| r.page.is_some()).count());
    assert_eq!(links.len(), fixture_index_page().rows.len() + approval_links);
    assert!(links.iter().all(|l| is_safe_relative_link(l)), "{links:?}");
    // The scanner itself finds what it looks for.
    assert_eq!(external_references(r#"<a href="//x">"#), vec!["href=\"//".to_owned()]);
    assert_eq!(external_references("a{background:url(x)}"), vec!["url(".to_owned()]);
}

#[test]
fn pages_set_print_layout() {
    let hospital = builtin().hospital(&fixture_hospital_page()).unwrap();
    let index = builtin().index(&fixture_index_page()).unwrap();
    assert!(hospital.contains("@page { size: A4 portrait; margin: 12mm; }"));
    assert!(index.contains("@page { size: A4 landscape; margin: 12mm; }"));
    for html in [&hospital, &index] {
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"ja\">"), "{}", &html[..80]);
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("break-inside: avoid"));
    }
}

#[test]
fn override_replaces_a_template_by_name() {
    let dir = override_dir_with("index.html.j2", "FY {{ page.fiscal_year|fy_en }} {{ page.rows|length }}");
    let renderer = Renderer::new(Some(dir.path())).unwrap();
    assert_eq!(renderer.index(&fixture_index_page()).unwrap(), "FY FY2025 7");
    // Templates not in the folder stay built in.
    assert!(renderer.hospital(&fixture_hospital_page()).unwrap().contains("<!DOCTYPE html>"));
}

#[test]
fn override_is_escaped_whatever_its_content() {
    let dir = override_dir_with("index.html.j2", "{{ page.rows[0].name }}");
    let mut page = fixture_index_page();
    page.rows[0].name = Some(SCRIPT.into());
    let html = Renderer::new(Some(dir.path())).unwrap().index(&page).unwrap();
    assert_eq!(html, "&lt;script&gt;alert(1)&lt;&#x2f;script&gt;");
}

#[test]
fn strict_undefined_field_is_an_error() {
    let dir = override_dir_with("hospital.html.j2", "{{ page.hospital.department }}");
    // Found when the renderer is built: it renders every page once on the fixture.
    let err = Renderer::new(Some(dir.path())).err().expect("strict undefined refused");
    match &err {
        ReportError::Template { name, source } => {
            assert_eq!(name, "hospital.html.j2");
            assert_eq!(source.kind(), minijinja::ErrorKind::UndefinedError, "{source:#}");
        }
        other => panic!("expected a template error, got {other:?}"),
    }

    let dir = override_dir_with("index.html.j2", "{% for x in page.nowhere %}{% endfor %}");
    assert!(matches!(Renderer::new(Some(dir.path())), Err(ReportError::Template { .. })));
}

#[test]
fn override_syntax_error_fails_at_construction() {
    let dir = override_dir_with("_macros.html.j2", "{% macro broken( %}");
    let err = Renderer::new(Some(dir.path())).err().expect("syntax error refused");
    assert!(matches!(&err, ReportError::Template { name, .. } if name == "_macros.html.j2"), "{err}");
}

#[test]
fn override_cannot_include_outside_the_template_set() {
    // Refused when the renderer is built (it renders each page once), before any run.
    let dir = override_dir_with("index.html.j2", r#"{% include "/etc/passwd" %}"#);
    fs::write(dir.path().join("extra.html.j2"), "x").unwrap();
    assert!(Renderer::new(Some(dir.path())).is_err());

    let dir = override_dir_with("index.html.j2", r#"{% include "extra.html.j2" %}"#);
    fs::write(dir.path().join("extra.html.j2"), "x").unwrap();
    assert!(Renderer::new(Some(dir.path())).is_err());
}

#[test]
fn override_dir_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    assert!(matches!(Renderer::new(Some(&missing)), Err(ReportError::OverrideDir { .. })));
    let file = dir.path().join("file");
    fs::write(&file, "").unwrap();
    assert!(matches!(Renderer::new(Some(&file)), Err(ReportError::OverrideDir { .. })));
}

#[test]
fn override_path_refuses_parent_absolute_and_hidden_names() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("ok.html.j2"), "x").unwrap();
    for bad in ["../x", "a/../../x", "..", "/etc/passwd", "./ok.html.j2", ".hidden", "a\\..\\x", "C:x", ""] {
        assert!(
            matches!(override_path(dir.path(), bad), Err(ReportError::UnsafeTemplateName { .. })),
            "{bad:?} accepted"
        );
    }
    assert_eq!(
        override_path(dir.path(), "ok.html.j2").unwrap(),
        Some(dir.path().canonicalize().unwrap().join("ok.html.j2"))
    );
    assert_eq!(override_path(dir.path(), "absent.html.j2").unwrap(), None);
}

#[cfg(unix)]
#[test]
fn override_path_refuses_symlink_leaving_the_folder() {
    use std::os::unix::fs::symlink;

    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    fs::write(&secret, "{{ page }}").unwrap();
    let dir = tempfile::tempdir().unwrap();
    symlink(&secret, dir.path().join("hospital.html.j2")).unwrap();
    assert!(matches!(
        override_path(dir.path(), "hospital.html.j2"),
        Err(ReportError::OverrideEscapes { .. })
    ));
    assert!(matches!(Renderer::new(Some(dir.path())), Err(ReportError::OverrideEscapes { .. })));

    // A link that stays inside the folder is fine.
    let inner = tempfile::tempdir().unwrap();
    fs::write(inner.path().join("real.j2"), "{{ page.fiscal_year }}").unwrap();
    symlink(inner.path().join("real.j2"), inner.path().join("index.html.j2")).unwrap();
    let renderer = Renderer::new(Some(inner.path())).unwrap();
    assert_eq!(renderer.index(&fixture_index_page()).unwrap(), "2025");
}

#[test]
fn csv_neutralises_formula_cells() {
    let mut page = fixture_index_page();
    let names = ["=1+1", "+x", "-x", "@x", "\tx", "\rx", "plain"];
    page.rows.truncate(names.len());
    for (row, name) in page.rows.iter_mut().zip(names) {
        row.name = Some(name.into());
    }
    page.rows[0].regime_id = "=HYPERLINK(\"x\")".into();
    page.not_submitted.clear();
    let csv = index_csv(&page).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let got: Vec<String> = reader.records().map(|r| r.unwrap()[1].to_owned()).collect();
    assert_eq!(got, ["'=1+1", "'+x", "'-x", "'@x", "'\tx", "'\rx", "plain"]);
    assert!(csv.contains("'=HYPERLINK"));
    assert!(!csv.contains(",=") && !csv.contains("\n="), "{csv}");
}

#[test]
fn csv_keeps_leading_zero_codes_and_empty_rates() {
    let csv = index_csv(&fixture_index_page()).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(&rows[3][0], "0110113719");
    assert_eq!(&rows[2][6], "", "no rate when the denominator is 0");
    assert_eq!(&rows[4][15], "A;B;C");
    assert_eq!((&rows[1][18], &rows[4][20]), ("-1.2", "12"), "change and months with data, as in the JSON");
}

#[test]
fn form_pages_snapshot() {
    let forms = fixture_forms();
    let run = fixture_hospital_page().run;
    let renderer = builtin();
    insta::assert_snapshot!("form28", renderer.form28(forms.form28.as_ref().unwrap(), &run).unwrap());
    insta::assert_snapshot!(
        "form28_recovery",
        renderer.form28(forms.form28_recovery.as_ref().unwrap(), &run).unwrap()
    );
    insta::assert_snapshot!(
        "business_report",
        renderer.business_report(forms.business_report.as_ref().unwrap(), &run).unwrap()
    );
}

#[test]
fn form_pages_escape_every_text_field() {
    let mut forms = fixture_forms();
    let run = fixture_hospital_page().run;
    let form = forms.form28.as_mut().unwrap();
    form.name = Some(format!("{SCRIPT}{IMG}"));
    form.code = SCRIPT.into();
    form.regime_name_ja = IMG.into();
    form.regime_id = SCRIPT.into();
    form.notes = vec![SCRIPT.into()];
    form.deadline.note = IMG.into();
    assert_no_raw_payload(&builtin().form28(form, &run).unwrap());
    let report = forms.business_report.as_mut().unwrap();
    report.name = Some(SCRIPT.into());
    report.criteria = vec![IMG.into()];
    report.met_criteria = vec![SCRIPT.into()];
    report.regime_name_ja = IMG.into();
    assert_no_raw_payload(&builtin().business_report(report, &run).unwrap());
}

#[test]
fn the_reports_folder_names_refrate_removes_are_its_own() {
    for (name, ours) in [
        ("0110113719_FY2025.html", true),
        ("index_FY2025.html", true),
        ("overview_FY2025.xlsx", true),
        ("0110113719_form28_FY2025.html", true),
        ("0110113719_form28r_FY2026.html", true),
        ("0110113719_report_FY2025.html", true),
        ("0110113719_forms_FY2025.json", true),
        ("0110113719_forms_FY2025.html", false),
        ("notes_form28_FY2025.html", false),
        ("0110113719_form29_FY2025.html", false),
        ("my_FY2025.html", false),
        ("0110113719_FY25.html", false),
    ] {
        assert_eq!(is_fiscal_year_report(name), ours, "{name}");
    }
}

#[test]
fn shared_hospital_page_snapshot() {
    let shared = super::suppress::shared_page(&fixture_hospital_page(), 10);
    let html = builtin().hospital(&shared).unwrap();
    assert!(html.contains("外部共有用") && html.contains("&lt;10"));
    insta::assert_snapshot!("hospital_page_shared", html);
}
