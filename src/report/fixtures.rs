//! Fixed view models for snapshot tests (also reusable by other modules' tests), and the
//! pages [`Renderer::new`](super::Renderer::new) renders override templates with once.
//!
//! The counts are internally consistent: the yearly sums equal the sums of the monthly rows,
//! the rates are those sums rounded half up, and the gaps follow the formulas of domain.md.

use super::format::thousands;
use super::model::*;
use crate::domain::Verdict;

pub(crate) fn fixture_run() -> RunInfo {
    RunInfo {
        refrate_version: "0.1.0".into(),
        generated_at: "2026-11-26 22:50 UTC".into(),
        run_id: "20261126T225000Z-3f9a".into(),
        warehouse_version: 42,
    }
}

fn rate(display: Option<&str>, unit: &str, numerator: u64, denominator: u64) -> RateValue {
    RateValue {
        display: display.map(str::to_owned),
        unit: unit.into(),
        numerator,
        denominator,
        masked: false,
        numerator_high: None,
        denominator_high: None,
        exact: None,
    }
}

fn criterion(
    id: &str,
    label: &str,
    met: Option<bool>,
    referral_gap: Option<u64>,
    reverse_gap: Option<u64>,
) -> CriterionRow {
    CriterionRow {
        name_ja: format!("基準{id}"),
        id: id.into(),
        label: label.into(),
        met,
        undetermined: false,
        on_boundary: false,
        referral_gap,
        reverse_gap,
        // The fixture's year ends with 2026-02: one month left.
        referral_pace: referral_gap,
        reverse_pace: reverse_gap,
    }
}

/// (month, first, ambulance, after-hours, checkup, initial, referred, reverse, return visits,
/// referral %, reverse %); `None` counts for a month without data.
type MonthFixture = (&'static str, Option<[u64; 8]>, Option<(f64, f64)>);

const MONTHS: [MonthFixture; 12] = [
    ("2025-04", Some([1232, 89, 145, 18, 980, 652, 433, 15692]), Some((66.5, 44.2))),
    ("2025-05", Some([1243, 117, 123, 16, 987, 677, 364, 16356]), Some((68.6, 36.9))),
    ("2025-06", Some([1167, 95, 125, 16, 931, 662, 412, 15753]), Some((71.1, 44.3))),
    ("2025-07", Some([1207, 120, 160, 17, 910, 704, 380, 16312]), Some((77.4, 41.8))),
    ("2025-08", None, None),
    ("2025-09", Some([1162, 94, 122, 16, 930, 710, 362, 15795]), Some((76.3, 38.9))),
    ("2025-10", Some([1288, 87, 156, 12, 1033, 751, 442, 15711]), Some((72.7, 42.8))),
    ("2025-11", Some([1298, 116, 160, 11, 1011, 712, 419, 15628]), Some((70.4, 41.4))),
    ("2025-12", Some([1294, 83, 159, 11, 1041, 749, 430, 17091]), Some((72.0, 41.3))),
    ("2026-01", Some([1230, 109, 157, 15, 949, 668, 365, 15868]), Some((70.4, 38.5))),
    ("2026-02", Some([1328, 95, 125, 17, 1091, 759, 447, 16203]), Some((69.6, 41.0))),
    ("2026-03", None, None),
];

fn month_row((month, counts, rates): MonthFixture) -> MonthRow {
    let [first, ambulance, after_hours, checkup, initial, referred, reverse, returns] =
        counts.unwrap_or_default();
    MonthRow {
        month: month.into(),
        has_data: counts.is_some(),
        first_visits: thousands(first),
        ambulance_first_visits: thousands(ambulance),
        after_hours_first_visits: thousands(after_hours),
        checkup_first_visits: thousands(checkup),
        initial_patients: thousands(initial),
        referred_patients: thousands(referred),
        reverse_referred_patients: thousands(reverse),
        return_visits: thousands(returns),
        referral_rate: rates.map(|(r, _)| format!("{r:.1}")),
        reverse_rate: rates.map(|(_, r)| format!("{r:.1}")),
        referral_unit: "%".into(),
        reverse_unit: "%".into(),
    }
}

/// 令和7年度 (FY2025), April to February with August missing; primary regime passes by 基準B,
/// the fee-schedule regime fails on the reverse ratio in ‰.
pub(crate) fn fixture_hospital_page() -> HospitalPage {
    HospitalPage {
        hospital: HospitalInfo {
            code: "0110113719".into(),
            name: Some("市立みなと総合病院".into()),
            prefecture: Some("北海道".into()),
            beds: Some(412),
        },
        fiscal_year: 2025,
        regimes: vec![
            RegimeResult {
                id: "chiiki-shien-2014".into(),
                name_ja: "地域医療支援病院".into(),
                name_en: "Regional medical care support hospital (from FY2014)".into(),
                verdict: Verdict::Pass,
                met_criteria: vec!["基準B".into()],
                on_boundary: false,
                referral: rate(Some("71.4"), "%", 7044, 9863),
                reverse: rate(Some("41.1"), "%", 4054, 9863),
                criteria: vec![
                    criterion("A", "紹介率 ≥ 80 %", Some(false), Some(4232), None),
                    criterion("B", "紹介率 > 65 % かつ 逆紹介率 > 40 %", Some(true), None, None),
                    criterion("C", "紹介率 > 50 % かつ 逆紹介率 > 70 %", Some(false), None, Some(2851)),
                ],
                notes: vec!["基準B・Cの「>」と「≥」の扱いは都道府県により異なります。".into()],
                forecast: Some(ForecastView {
                    referral: Some(("71.2".into(), "69.8".into(), "72.5".into())),
                    reverse: Some(("41.0".into(), "39.6".into(), "42.3".into())),
                    pass_percent: "78".into(),
                    months_used: 11,
                    seasonal: true,
                }),
                forecast_missing: None,
            },
            RegimeResult {
                id: "shinryo-2022".into(),
                name_ja: "診療報酬 紹介割合・逆紹介割合（注2）".into(),
                name_en: "Fee schedule referral and reverse-referral ratios (note 2)".into(),
                verdict: Verdict::Fail,
                met_criteria: vec![],
                on_boundary: false,
                referral: rate(Some("81.6"), "%", 8049, 9863),
                reverse: rate(Some("23.8"), "‰", 4054, 170272),
                criteria: vec![criterion(
                    "1",
                    "紹介割合 ≥ 50 % かつ 逆紹介割合 ≥ 30 ‰",
                    Some(false),
                    None,
                    Some(1055),
                )],
                notes: vec![],
                forecast: None,
                forecast_missing: Some(
                    "年度末の見通しはありません：この年度のデータが3か月未満（4月から切れ目なく）です。"
                        .into(),
                ),
            },
        ],
        months: MONTHS.into_iter().map(month_row).collect(),
        missing_months: vec!["2025-08".into()],
        chart: ChartData {
            months: MONTHS.iter().map(|m| m.0.to_owned()).collect(),
            referral: MONTHS.iter().map(|m| m.2.map(|r| r.0)).collect(),
            reverse: MONTHS.iter().map(|m| m.2.map(|r| r.1)).collect(),
            referral_rolling: [
                None,
                None,
                None,
                None,
                None,
                Some(71.2),
                Some(71.5),
                Some(71.3),
                Some(71.6),
                Some(71.4),
                Some(71.4),
                None,
            ]
            .to_vec(),
            reverse_rolling: [
                None,
                None,
                None,
                None,
                None,
                Some(40.6),
                Some(40.9),
                Some(41.0),
                Some(41.2),
                Some(41.0),
                Some(41.1),
                None,
            ]
            .to_vec(),
            referral_threshold: Some(65.0),
            reverse_threshold: Some(40.0),
            referral_unit: "%".into(),
            reverse_unit: "%".into(),
        },
        progress: Some(YearProgress {
            fiscal_year: 2025,
            through_month: "2026-02".into(),
            months_elapsed: 11,
            months_left: 1,
        }),
        departments: vec![
            department("内科", 4101, 3297, 2412, 1391),
            department("外科", 2702, 2213, 1630, 964),
            department("整形外科", 1905, 1512, 1088, 720),
            department("小児科", 1342, 1015, 630, 401),
            department("皮膚科", 1, 0, 0, 3),
        ],
        partners: PartnerBreakdown {
            top_referrers: vec![
                partner("0111234560", Some("みなと内科クリニック"), 412),
                partner("0115550012", None, 288),
                partner("0110000014", None, 2),
            ],
            top_reverse: vec![
                partner("0111234560", Some("みなと内科クリニック"), 301),
                partner("0119876546", None, 150),
            ],
            declines: vec![PartnerDecline {
                code: "0115550012".into(),
                name: None,
                previous: 331,
                current: 288,
                fall: 43,
                hidden: Vec::new(),
            }],
            compared_months: [
                "2025-04", "2025-05", "2025-06", "2025-07", "2025-09", "2025-10", "2025-11", "2025-12",
                "2026-01", "2026-02",
            ]
            .map(String::from)
            .to_vec(),
            partner_count: 4,
        },
        rejects: RejectSummary {
            shared_rows: 0,
            total: 23,
            rows_read: 172_881,
            by_reason: vec![
                ReasonCount {
                    code: "bad_date".into(), label_ja: "受診日を読み取れない".into(), count: 15
                },
                ReasonCount {
                    code: "bad_visit_type".into(),
                    label_ja: "初診・再診の区分が空欄".into(),
                    count: 8,
                },
            ],
            rows: vec![RejectRow {
                file: "inputs/2025-04.csv".into(),
                line: 17,
                byte_offset: 1532,
                field: Some("event_date".into()),
                value: Some("2025-02-30".into()),
                reason: "bad_date".into(),
                reason_ja: "日付が読めません".into(),
                detail: "no such day: 2025-02-30".into(),
            }],
        },
        sources: vec![
            SourceFile {
                path: "inputs/2025-04.csv".into(),
                sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
                encoding: "UTF-8".into(),
                rows_read: 15_802,
                rows_rejected: 15,
            },
            SourceFile {
                path: "inputs/2025-05.csv".into(),
                sha256: "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752".into(),
                encoding: "Shift_JIS".into(),
                rows_read: 16_411,
                rows_rejected: 8,
            },
        ],
        regime_files: vec![
            RegimeFile {
                id: "chiiki-shien-2014".into(),
                origin: "builtin:rules/chiiki-shien-2014.yaml".into(),
            },
            RegimeFile { id: "shinryo-2022".into(), origin: "builtin:rules/shinryo-2022.yaml".into() },
        ],
        approval: Some(fixture_approval_table()),
        filings: vec![FilingLink {
            title: "別紙様式28（前年度の実績）".into(),
            file: "0110113719_form28_FY2025.html".into(),
            period_ja: "令和7年4月～令和8年3月".into(),
            deadline: "提出期限 令和8年10月31日（あと 30 日）".into(),
        }],
        sharing: None,
        run: fixture_run(),
    }
}

fn department(name: &str, first: u64, initial: u64, referred: u64, reverse: u64) -> DepartmentLine {
    let share = |n: u64| crate::regimes::Ratio { numerator: n, denominator: initial, scale: 100 }.display();
    DepartmentLine {
        department: name.into(),
        first_visits: first,
        initial_patients: initial,
        referred_patients: referred,
        reverse_referred_patients: reverse,
        referred_share: share(referred),
        reverse_share: share(reverse),
        hidden: Vec::new(),
    }
}

fn partner(code: &str, name: Option<&str>, count: u64) -> PartnerLine {
    PartnerLine { code: code.into(), name: name.map(str::to_owned), count, hidden: None }
}

#[expect(clippy::too_many_arguments, reason = "one literal row per call reads best in a fixture")]
fn index_row(
    code: &str,
    name: Option<&str>,
    regime_id: &str,
    referral: RateValue,
    reverse: RateValue,
    verdict: Verdict,
    met_criteria: &[&str],
    on_boundary: bool,
    missing_months: u32,
) -> IndexRow {
    IndexRow {
        code: code.into(),
        name: name.map(str::to_owned),
        fiscal_year: 2025,
        regime_id: regime_id.into(),
        referral,
        reverse,
        verdict,
        met_criteria: met_criteria.iter().map(|c| (*c).to_owned()).collect(),
        met_criteria_names: met_criteria.iter().map(|c| format!("基準{c}")).collect(),
        on_boundary,
        referral_change: (verdict != Verdict::NoData)
            .then(|| if on_boundary { "-1.2".into() } else { "+0.8".into() }),
        reverse_change: (verdict != Verdict::NoData).then(|| "±0.0".into()),
        missing_months,
        months_with_data: 12 - missing_months,
        page: super::hospital_page_file(code, 2025),
    }
}

/// Five hospitals under the current regime (fail, boundary, no data, pass ×2) and two under
/// the fee-schedule regime, already sorted as the engine sorts them.
pub(crate) fn fixture_index_page() -> IndexPage {
    const CHIIKI: &str = "chiiki-shien-2014";
    const SHINRYO: &str = "shinryo-2022";
    IndexPage {
        fiscal_year: 2025,
        progress: Some(YearProgress {
            fiscal_year: 2025,
            through_month: "2025-06".into(),
            months_elapsed: 3,
            months_left: 9,
        }),
        not_submitted: vec![NotSubmitted {
            code: "2212345672".into(),
            name: Some("しずおか未提出病院".into()),
        }],
        regimes: vec![
            (CHIIKI.into(), "地域医療支援病院".into()),
            (SHINRYO.into(), "診療報酬 紹介割合・逆紹介割合（注2）".into()),
        ],
        rows: vec![
            index_row(
                "2710300159",
                Some("府立なにわ医療センター"),
                CHIIKI,
                rate(Some("62.0"), "%", 6200, 10000),
                rate(Some("38.5"), "%", 3850, 10000),
                Verdict::Fail,
                &[],
                false,
                0,
            ),
            index_row(
                "1312345679",
                Some("みやこ記念病院"),
                CHIIKI,
                rate(Some("65.0"), "%", 1300, 2000),
                rate(Some("41.0"), "%", 820, 2000),
                Verdict::Fail,
                &[],
                true,
                0,
            ),
            index_row(
                "4011001239",
                None,
                CHIIKI,
                rate(None, "%", 0, 0),
                rate(None, "%", 0, 0),
                Verdict::NoData,
                &[],
                false,
                12,
            ),
            index_row(
                "0110113719",
                Some("市立みなと総合病院"),
                CHIIKI,
                rate(Some("71.4"), "%", 7044, 9863),
                rate(Some("41.1"), "%", 4054, 9863),
                Verdict::Pass,
                &["B"],
                false,
                2,
            ),
            index_row(
                "0410000780",
                Some("杜の都中央病院"),
                CHIIKI,
                rate(Some("84.2"), "%", 8420, 10000),
                rate(Some("72.5"), "%", 7250, 10000),
                Verdict::Pass,
                &["A", "B", "C"],
                false,
                0,
            ),
            index_row(
                "0110113719",
                Some("市立みなと総合病院"),
                SHINRYO,
                rate(Some("81.6"), "%", 8049, 9863),
                rate(Some("23.8"), "‰", 4054, 170272),
                Verdict::Fail,
                &[],
                false,
                2,
            ),
            index_row(
                "0410000780",
                Some("杜の都中央病院"),
                SHINRYO,
                rate(Some("92.3"), "%", 9230, 10000),
                rate(Some("41.7"), "‰", 7250, 173861),
                Verdict::Pass,
                &["1"],
                false,
                0,
            ),
        ],
        approval: Some(fixture_approval_overview()),
        forms: Vec::new(),
        run: fixture_run(),
    }
}

/// 承認要件 of 令和7年度: training short of 12, beds not given.
pub(crate) fn fixture_approval_table() -> crate::approval::ApprovalTable {
    use crate::approval::RequirementLine;
    let line = |id: &str, name: &str, label: &str, met: Option<bool>, facts: &[&str]| RequirementLine {
        id: id.into(),
        name_ja: name.into(),
        label: label.into(),
        met,
        facts: facts.iter().map(|f| f.to_string()).collect(),
        source: "医政局長通知".into(),
    };
    crate::approval::ApprovalTable {
        hospital_code: "0110113719".into(),
        fiscal_year: 2025,
        verdict: crate::domain::ApprovalVerdict::NotMet,
        requirements: vec![
            line(
                "referral",
                "紹介患者中心の医療",
                "chiiki-shien-2014 の判定が「満たしています」",
                Some(true),
                &[],
            ),
            line(
                "emergency",
                "救急医療の提供",
                "救急搬送の受入件数 ≥ 1,000 または 救急搬送の受入件数 ÷ 二次医療圏の人口 ≥ 0.2 %",
                Some(true),
                &["救急搬送の受入件数 2,400（facts.csv 2行目）", "二次医療圏の人口 未入力"],
            ),
            line(
                "training",
                "研修",
                "研修の開催回数 ≥ 12",
                Some(false),
                &["研修の開催回数 11（facts.csv 2行目）"],
            ),
            line("beds", "病床数", "病床数 ≥ 200", None, &["病床数 未入力"]),
        ],
    }
}

pub(crate) fn fixture_approval_overview() -> ApprovalOverview {
    use crate::domain::ApprovalVerdict;
    let row =
        |code: &str, name: Option<&str>, verdict, met: [Option<bool>; 4], page: bool| ApprovalIndexRow {
            code: code.into(),
            name: name.map(str::to_string),
            verdict,
            met: met.to_vec(),
            page: page.then(|| format!("{code}_FY2025.html")),
        };
    ApprovalOverview {
        rules_name: "地域医療支援病院の承認要件（東京都の例）".into(),
        rules_origin: "builtin:rules/approval/chiiki-shien-tokyo.yaml".into(),
        sources: vec!["医療法第4条".into()],
        uncertain: vec!["病床数200床以上は原則です。".into()],
        requirements: [
            ("referral", "紹介患者中心の医療"),
            ("emergency", "救急医療の提供"),
            ("training", "研修"),
            ("beds", "病床数"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .to_vec(),
        rows: vec![
            row(
                "0110113719",
                Some("札幌中央病院"),
                ApprovalVerdict::NotMet,
                [Some(true), Some(true), Some(false), None],
                true,
            ),
            row("1312345679", None, ApprovalVerdict::Unknown, [Some(true), None, None, Some(true)], false),
            row("2710300159", Some("堺病院"), ApprovalVerdict::Met, [Some(true); 4], true),
        ],
    }
}

/// 令和6年度 (FY2024) forms: 別紙様式28 with 29.96 ‰ (shown as 30.0 ‰, below the standard),
/// its recovery over 2025-05..2025-10, and the 業務報告 ①.
pub(crate) fn fixture_forms() -> crate::forms::HospitalForms {
    use crate::forms::{BusinessReport, Deadline, Form28, Form28Kind, FormCount, FormRate, HospitalForms};
    let counts = |values: [Option<u64>; 5]| -> Vec<FormCount> {
        let labels = [
            ("①", "初診の患者数"),
            ("②", "再診の患者数"),
            ("③", "紹介患者数"),
            ("④", "逆紹介患者数"),
            ("⑤", "救急患者数"),
        ];
        labels.iter().zip(values).map(|((number, label), value)| FormCount { number, label, value }).collect()
    };
    let rates = |referral: &str, reverse: &str, exact: Option<&str>| {
        vec![
            FormRate {
                number: "⑥",
                label: "紹介割合".into(),
                formula: "（③＋⑤）÷①×100".into(),
                display: Some(referral.into()),
                unit: "%",
                standard: Some("50 % 以上".into()),
                exact: None,
            },
            FormRate {
                number: "⑦",
                label: "逆紹介割合".into(),
                formula: "④÷（①＋②）×1,000".into(),
                display: Some(reverse.into()),
                unit: "‰",
                standard: Some("30 ‰ 以上".into()),
                exact: exact.map(str::to_string),
            },
        ]
    };
    let form = |kind, kind_ja: &str, fy, period: &str, period_ja: &str, c, r, verdict, deadline| Form28 {
        code: "0110113719".into(),
        name: Some("札幌中央病院".into()),
        kind,
        kind_ja: kind_ja.into(),
        fiscal_year: fy,
        period: period.into(),
        period_ja: period_ja.into(),
        regime_id: "shinryo-2022".into(),
        regime_name_ja: "診療報酬 紹介割合・逆紹介割合（注2）".into(),
        counts: c,
        rates: r,
        verdict,
        deadline,
        notes: vec!["①〜⑤の期間は様式どおり各項目に記載しています。".into()],
    };
    let due = |label: &str, note: &str, days| Deadline {
        label: label.into(),
        date: chrono::NaiveDate::from_ymd_opt(2025, 10, 31),
        days_left: days,
        note: note.into(),
    };
    HospitalForms {
        code: "0110113719".into(),
        fiscal_year: 2024,
        form28: Some(form(
            Form28Kind::Annual,
            "前年度の実績",
            2024,
            "2024-04..2025-03",
            "令和6年4月～令和7年3月",
            counts([Some(10_000), Some(90_000), Some(6_000), Some(2_996), Some(0)]),
            rates("60.0", "30.0", Some("29.96")),
            Verdict::Fail,
            due("別紙様式28（地方厚生局あて）", "提出期限 令和7年10月31日（あと 30 日）", Some(30)),
        )),
        form28_recovery: Some(form(
            Form28Kind::Recovery,
            "基準を満たした連続する6か月（再報告）",
            2025,
            "2025-05..2025-10",
            "令和7年5月～令和7年10月",
            counts([Some(5_000), Some(40_000), Some(2_800), Some(1_500), Some(200)]),
            rates("60.0", "33.3", None),
            Verdict::Pass,
            Deadline {
                label: "別紙様式28（再報告）".into(),
                date: None,
                days_left: None,
                note: "基準を満たした6か月の翌月以降、地方厚生局に再報告できます".into(),
            },
        )),
        business_report: Some(BusinessReport {
            code: "0110113719".into(),
            name: Some("札幌中央病院".into()),
            fiscal_year: 2024,
            fiscal_year_ja: "令和6年度".into(),
            period_ja: "令和6年4月～令和7年3月".into(),
            regime_id: "chiiki-shien-2014".into(),
            regime_name_ja: "地域医療支援病院（2014年度以降）".into(),
            counts: vec![
                FormCount { number: "ア", label: "紹介患者の数", value: Some(6_000) },
                FormCount { number: "イ", label: "初診患者の数", value: Some(10_000) },
                FormCount { number: "ウ", label: "逆紹介患者の数", value: Some(2_996) },
            ],
            first_visits: Some(11_200),
            excluded: vec![
                FormCount {
                    number: "", label: "救急自動車により搬入された患者", value: Some(800)
                },
                FormCount {
                    number: "", label: "休日又は夜間に受診した救急患者", value: Some(500)
                },
                FormCount {
                    number: "", label: "健康診断の結果により治療を開始した患者", value: Some(0)
                },
            ],
            excluded_once: Some(1_200),
            rates: vec![
                FormRate {
                    number: "",
                    label: "紹介率".into(),
                    formula: "紹介患者の数÷初診患者の数×100".into(),
                    display: Some("60.0".into()),
                    unit: "%",
                    standard: None,
                    exact: None,
                },
                FormRate {
                    number: "",
                    label: "逆紹介率".into(),
                    formula: "逆紹介患者の数÷初診患者の数×100".into(),
                    display: Some("30.0".into()),
                    unit: "%",
                    standard: None,
                    exact: None,
                },
            ],
            verdict: Verdict::Fail,
            met_criteria: vec![],
            criteria: vec!["基準A: 紹介率 ≥ 80 %".into()],
            deadline: due("業務報告（都道府県知事あて）", "提出期限 令和7年10月5日（あと 4 日）", Some(4)),
            notes: vec![],
        }),
    }
}
