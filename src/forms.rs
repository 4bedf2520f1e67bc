//! The official forms a hospital files, filled from the rate rows: 別紙様式28 (診療報酬, the
//! 紹介割合・逆紹介割合 reported to the 地方厚生局 every October) and item ① of the 業務報告 of a
//! 地域医療支援病院 (to the prefecture by 10月5日). Each value is a count or a rate the engine
//! computed for the form's regime and period; nothing is recomputed here. The numbering and
//! wording follow the forms (`../shared/domain.md`, "The forms hospitals file"); where the
//! source is silent the page says so instead of inventing a field.
//!
//! Periods: the previous fiscal year (complete: twelve months with data, or a reported year),
//! and for a hospital below the 別紙様式28 standard the first six consecutive months of the
//! next fiscal year that meet it (the recovery re-report). The three months before a new
//! 届出 are `rates --period three-months`.

use chrono::{Datelike, NaiveDate};

use crate::domain::{PeriodKind, Verdict};
use crate::rates::RateRow;
use crate::regimes::{Count, MetricKind, Ratio, Regime};

/// One numbered count of a form.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct FormCount {
    /// `①`
    pub number: &'static str,
    /// `初診の患者数`
    pub label: &'static str,
    /// The count; `None` when the data does not have it exactly (not reported, or masked).
    pub value: Option<u64>,
}

/// One numbered rate of a form.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct FormRate {
    pub number: &'static str,
    pub label: String,
    /// How the form computes it: `（③＋⑤）÷①×100`.
    pub formula: String,
    /// One decimal, half up, as the form asks; `None` without a denominator.
    pub display: Option<String>,
    pub unit: &'static str,
    /// The standard of a one-criterion regime: `50 % 以上`; `None` for a regime with several
    /// criteria (they are listed with the form instead).
    pub standard: Option<String>,
    /// When the one-decimal value shows the standard although the exact value misses it
    /// (29.96 ‰ shown as 30.0 ‰): the value to two decimals, truncated.
    pub exact: Option<String>,
}

/// When a form is due and how many days remain, seen from the as-of date.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct Deadline {
    /// `業務報告（都道府県知事あて）`
    pub label: String,
    /// `None` when it is not configured.
    pub date: Option<NaiveDate>,
    /// Days from the as-of date to the due date; negative once it has passed.
    pub days_left: Option<i64>,
    /// What the page says about it.
    pub note: String,
}

impl Deadline {
    fn at(label: &str, date: Option<NaiveDate>, as_of: NaiveDate, missing: &str) -> Deadline {
        let days_left = date.map(|d| (d - as_of).num_days());
        let note = match (date, days_left) {
            (Some(d), Some(n)) if n >= 0 => format!("提出期限 {}（あと {n} 日）", date_ja(d)),
            (Some(d), Some(n)) => format!("提出期限 {}（{} 日過ぎています）", date_ja(d), -n),
            _ => missing.to_string(),
        };
        Deadline { label: label.to_string(), date, days_left, note }
    }
}

/// `2026-10-05` → `令和8年10月5日`.
pub(crate) fn date_ja(d: NaiveDate) -> String {
    format!("{}{}月{}日", era_year_ja(d.year(), d.month()), d.month(), d.day())
}

/// The era year of a month: `令和7年`, `令和元年`, `平成31年`.
fn era_year_ja(year: i32, month: u32) -> String {
    let reiwa = (year, month) >= (2019, 5);
    let (era, n) = if reiwa { ("令和", year - 2018) } else { ("平成", year - 1988) };
    if n == 1 { format!("{era}元年") } else { format!("{era}{n}年") }
}

/// `2025-04` → `令和7年4月`.
pub(crate) fn month_era_ja(month: &str) -> String {
    match crate::periods::parse_month(month) {
        Some((y, m)) => format!("{}{m}月", era_year_ja(y, m)),
        None => month.to_string(),
    }
}

/// `2025-04..2026-03` or a fiscal year `2025` → `令和7年4月～令和8年3月`.
fn period_ja(kind: PeriodKind, period: &str) -> (String, String) {
    let (first, last) = match kind {
        PeriodKind::FiscalYear => {
            let fy: i32 = period.parse().unwrap_or(0);
            (format!("{fy:04}-04"), format!("{:04}-03", fy + 1))
        }
        _ => {
            let (a, b) = period.split_once("..").unwrap_or((period, period));
            (a.to_string(), b.to_string())
        }
    };
    (format!("{first}..{last}"), format!("{}～{}", month_era_ja(&first), month_era_ja(&last)))
}

/// Why a 別紙様式28 is filed for this period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Form28Kind {
    /// The previous fiscal year, reported every October.
    Annual,
    /// Six consecutive months that meet the standard, after a year below it.
    Recovery,
    /// The three months before a new 届出.
    NewFiling,
}

/// 別紙様式28 for one hospital and period.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct Form28 {
    pub code: String,
    pub name: Option<String>,
    pub kind: Form28Kind,
    /// `前年度の実績` or `基準を満たした連続する6か月（再報告）`.
    pub kind_ja: String,
    /// The fiscal year of the data (`2025`; for a recovery, the year the six months are in).
    pub fiscal_year: i32,
    /// `2025-04..2026-03`, and as the form writes it, `令和7年4月～令和8年3月`.
    pub period: String,
    pub period_ja: String,
    pub regime_id: String,
    pub regime_name_ja: String,
    /// ① to ⑤, each over `period_ja`.
    pub counts: Vec<FormCount>,
    /// ⑥ and ⑦.
    pub rates: Vec<FormRate>,
    pub verdict: Verdict,
    pub deadline: Deadline,
    pub notes: Vec<String>,
}

/// Item ① of the 業務報告 for one hospital and fiscal year.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct BusinessReport {
    pub code: String,
    pub name: Option<String>,
    pub fiscal_year: i32,
    /// `令和7年度`
    pub fiscal_year_ja: String,
    pub period_ja: String,
    pub regime_id: String,
    pub regime_name_ja: String,
    /// 紹介患者の数, 初診患者の数, 逆紹介患者の数.
    pub counts: Vec<FormCount>,
    /// The first visits and the groups left out of 初診患者の数.
    pub first_visits: Option<u64>,
    pub excluded: Vec<FormCount>,
    /// First visits left out, each once (a record in two groups is left out once).
    pub excluded_once: Option<u64>,
    /// 紹介率 and 逆紹介率.
    pub rates: Vec<FormRate>,
    pub verdict: Verdict,
    /// The criteria met, by their printed names (基準A).
    pub met_criteria: Vec<String>,
    /// Every criterion as the regime states it (基準B: 紹介率 > 65 % かつ 逆紹介率 > 40 %).
    pub criteria: Vec<String>,
    pub deadline: Deadline,
    pub notes: Vec<String>,
}

/// The forms of one hospital for one fiscal year of data.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct HospitalForms {
    pub code: String,
    pub fiscal_year: i32,
    pub form28: Option<Form28>,
    /// The recovery re-report: six months of the next fiscal year, when this year is below
    /// the standard and such months exist.
    pub form28_recovery: Option<Form28>,
    pub business_report: Option<BusinessReport>,
}

/// What the forms need besides the rows.
pub(crate) struct FormSettings<'a> {
    /// The regime of 別紙様式28 (`shinryo-2022` or `-400`), if configured.
    pub form28: Option<&'a Regime>,
    /// The regime of the 業務報告 (`chiiki-shien-2014`), if configured.
    pub business_report: Option<&'a Regime>,
    /// The 厚生局's due date for 別紙様式28 as (month, day), as its notice says.
    pub form28_due: Option<(u32, u32)>,
    /// The day days are counted from (`dates.latest`, or today).
    pub as_of: NaiveDate,
}

/// The 業務報告 is due by 10月5日 of the year after the fiscal year.
const BUSINESS_REPORT_DUE: (u32, u32) = (10, 5);

fn rate(number: &'static str, row: &RateRow, regime: &Regime, kind: MetricKind, formula: &str) -> FormRate {
    let metric = regime.metric(kind);
    let ratio: Option<Ratio> = match kind {
        MetricKind::Referral => row.referral,
        MetricKind::Reverse => row.reverse,
    };
    // The standard of a regime with one criterion (the fee schedule); a regime with several
    // (基準A, B, C) states them in its criteria, not per rate. Whether it is met is the
    // engine's verdict, shown once for the form.
    let standard = match regime.criteria.as_slice() {
        [only] => only
            .conditions
            .iter()
            .find(|c| c.metric == kind)
            .map(|c| format!("{} {} {}", c.threshold, metric.unit.symbol(), c.op.word_ja())),
        _ => None,
    };
    let exact = regime.exact_when_rounding_hides(ratio, kind);
    FormRate {
        number,
        label: metric.name_ja.clone(),
        formula: formula.to_string(),
        display: ratio.and_then(|r| r.display()),
        unit: metric.unit.symbol(),
        standard,
        exact,
    }
}

fn count(number: &'static str, label: &'static str, row: &RateRow, c: Count) -> FormCount {
    FormCount { number, label, value: row.counts.get(c) }
}

/// Notes every form carries when its data is not exact.
fn data_notes(row: &RateRow, needed: &[Count]) -> Vec<String> {
    let mut notes = Vec::new();
    let missing: Vec<&str> =
        needed.iter().filter(|c| row.counts.get(**c).is_none()).map(|c| c.label_ja()).collect();
    if !missing.is_empty() {
        notes.push(format!(
            "{} はデータにない（報告されていない、または秘匿値）ため空欄です。この様式は提出できる状態ではありません。",
            missing.join("、")
        ));
    }
    if row.on_boundary {
        notes.push(
            "基準値とちょうど等しい率があります。以上/超の読み方を確かめてから提出してください。".into(),
        );
    }
    notes
}

fn form28_of(
    row: &RateRow,
    regime: &Regime,
    kind: Form28Kind,
    settings: &FormSettings<'_>,
    name: Option<String>,
) -> Form28 {
    let (period, period_ja) = period_ja(row.period_kind, &row.period);
    let fiscal_year = match row.period_kind {
        PeriodKind::FiscalYear => row.period.parse().unwrap_or(0),
        _ => crate::periods::fiscal_year_of(period.split("..").next().unwrap_or("")).unwrap_or(0),
    };
    let counts = vec![
        count("①", "初診の患者数", row, Count::InitialPatients),
        count("②", "再診の患者数", row, Count::ReturnVisits),
        count("③", "紹介患者数", row, Count::ReferredPatients),
        count("④", "逆紹介患者数", row, Count::ReverseReferredPatients),
        count("⑤", "救急患者数", row, Count::EmergencyPatients),
    ];
    let rates = vec![
        rate("⑥", row, regime, MetricKind::Referral, "（③＋⑤）÷①×100"),
        rate("⑦", row, regime, MetricKind::Reverse, "④÷（①＋②）×1,000"),
    ];
    // Filed in the October after the period's fiscal year (a recovery: as soon as it is met).
    let due_year = fiscal_year + 1;
    let deadline = match kind {
        Form28Kind::Annual => Deadline::at(
            "別紙様式28（地方厚生局あて）",
            settings.form28_due.and_then(|(m, d)| NaiveDate::from_ymd_opt(due_year, m, d)),
            settings.as_of,
            "毎年10月の報告。提出期限は地方厚生局の通知で確かめてください（設定 filing.form28_due で表示できます）",
        ),
        Form28Kind::Recovery => Deadline {
            label: "別紙様式28（再報告）".into(),
            date: None,
            days_left: None,
            note: "基準を満たした6か月の翌月以降、地方厚生局に再報告できます（期限の定めは様式にありません）"
                .into(),
        },
        Form28Kind::NewFiling => Deadline {
            label: "別紙様式28（新規の届出）".into(),
            date: None,
            days_left: None,
            note: "届出の前3か月の実績です。届出の時期は地方厚生局に確かめてください".into(),
        },
    };
    let mut notes = data_notes(
        row,
        &[
            Count::InitialPatients,
            Count::ReturnVisits,
            Count::ReferredPatients,
            Count::ReverseReferredPatients,
            Count::EmergencyPatients,
        ],
    );
    notes.push(
        "①〜⑤の期間は様式どおり各項目に記載しています。⑤救急患者数は救急自動車で搬入された初診の患者数として数えています（様式の定義を確かめてください）。".into(),
    );
    Form28 {
        code: row.hospital_code.clone(),
        name,
        kind,
        kind_ja: match kind {
            Form28Kind::Annual => "前年度の実績".into(),
            Form28Kind::Recovery => "基準を満たした連続する6か月（再報告）".into(),
            Form28Kind::NewFiling => "届出前の3か月（新たに対象となる場合）".into(),
        },
        fiscal_year,
        period,
        period_ja,
        regime_id: regime.id.clone(),
        regime_name_ja: regime.name_ja.clone(),
        counts,
        rates,
        verdict: row.verdict,
        deadline,
        notes,
    }
}

/// 別紙様式28 of the three months before a new 届出, from a `three-months` row.
pub(crate) fn new_filing_form(
    row: &RateRow,
    regime: &Regime,
    settings: &FormSettings<'_>,
    name: Option<String>,
) -> Form28 {
    form28_of(row, regime, Form28Kind::NewFiling, settings, name)
}

fn business_report_of(
    row: &RateRow,
    regime: &Regime,
    settings: &FormSettings<'_>,
    name: Option<String>,
) -> BusinessReport {
    let fy: i32 = row.period.parse().unwrap_or(0);
    let (_, period_ja) = period_ja(PeriodKind::FiscalYear, &row.period);
    let names = |ids: &[String]| -> Vec<String> {
        ids.iter()
            .map(|id| regime.criteria.iter().find(|c| &c.id == id).map_or(id.clone(), |c| c.name_ja.clone()))
            .collect()
    };
    let first = row.counts.get(Count::FirstVisits);
    let initial = row.counts.get(Count::InitialPatients);
    let (due_m, due_d) = BUSINESS_REPORT_DUE;
    BusinessReport {
        code: row.hospital_code.clone(),
        name,
        fiscal_year: fy,
        fiscal_year_ja: crate::report::format::fy_ja(fy),
        period_ja,
        regime_id: regime.id.clone(),
        regime_name_ja: regime.name_ja.clone(),
        counts: vec![
            count("ア", "紹介患者の数", row, Count::ReferredPatients),
            count("イ", "初診患者の数", row, Count::InitialPatients),
            count("ウ", "逆紹介患者の数", row, Count::ReverseReferredPatients),
        ],
        first_visits: first,
        excluded: vec![
            count("", "救急自動車により搬入された患者", row, Count::AmbulanceFirstVisits),
            count("", "休日又は夜間に受診した救急患者", row, Count::AfterHoursFirstVisits),
            count("", "健康診断の結果により治療を開始した患者", row, Count::CheckupFirstVisits),
        ],
        excluded_once: first.zip(initial).map(|(f, i)| f.saturating_sub(i)),
        rates: vec![
            rate("", row, regime, MetricKind::Referral, "紹介患者の数÷初診患者の数×100"),
            rate("", row, regime, MetricKind::Reverse, "逆紹介患者の数÷初診患者の数×100"),
        ],
        verdict: row.verdict,
        met_criteria: names(&row.met_criteria),
        criteria: row.criteria.iter().map(|c| format!("{}: {}", c.name_ja, c.label)).collect(),
        deadline: Deadline::at(
            "業務報告（都道府県知事あて）",
            NaiveDate::from_ymd_opt(fy + 1, due_m, due_d),
            settings.as_of,
            "",
        ),
        notes: {
            let mut notes = data_notes(
                row,
                &[Count::ReferredPatients, Count::InitialPatients, Count::ReverseReferredPatients],
            );
            notes.push(
                "業務報告の様式（表の体裁）は都道府県ごとに異なります。ここでは項目①の値とその算出期間だけを示し、様式にない欄は作っていません。".into(),
            );
            notes
        },
    }
}

/// Whether a fiscal-year row covers a whole year (twelve months with data, or reported as one).
fn complete(row: &RateRow) -> bool {
    row.counts.months_with_data >= 12
}

/// The forms of every hospital and complete fiscal year: 別紙様式28 under `settings.form28`,
/// its recovery re-report when the year is below the standard, and the 業務報告 ① under
/// `settings.business_report`. `rows` must hold the fiscal-year rows and, for recoveries, the
/// six-month rows.
pub(crate) fn forms(
    rows: &[RateRow],
    settings: &FormSettings<'_>,
    name: impl Fn(&str) -> Option<String>,
) -> Vec<HospitalForms> {
    let mut out: std::collections::BTreeMap<(String, i32), HospitalForms> = Default::default();
    fn entry<'m>(
        out: &'m mut std::collections::BTreeMap<(String, i32), HospitalForms>,
        code: &str,
        fy: i32,
    ) -> &'m mut HospitalForms {
        out.entry((code.to_string(), fy)).or_insert_with(|| HospitalForms {
            code: code.to_string(),
            fiscal_year: fy,
            form28: None,
            form28_recovery: None,
            business_report: None,
        })
    }
    for row in rows.iter().filter(|r| r.period_kind == PeriodKind::FiscalYear && complete(r)) {
        let Ok(fy) = row.period.parse::<i32>() else { continue };
        if let Some(regime) = settings.form28.filter(|r| r.id == row.regime_id) {
            let form = form28_of(row, regime, Form28Kind::Annual, settings, name(&row.hospital_code));
            let recovery = (row.verdict == Verdict::Fail)
                .then(|| first_recovery(rows, &row.hospital_code, fy + 1, regime))
                .flatten()
                .map(|r| form28_of(r, regime, Form28Kind::Recovery, settings, name(&row.hospital_code)));
            let e = entry(&mut out, &row.hospital_code, fy);
            e.form28 = Some(form);
            e.form28_recovery = recovery;
        }
        if let Some(regime) = settings.business_report.filter(|r| r.id == row.regime_id) {
            let report = business_report_of(row, regime, settings, name(&row.hospital_code));
            entry(&mut out, &row.hospital_code, fy).business_report = Some(report);
        }
    }
    out.into_values().collect()
}

/// The first six consecutive months of fiscal year `fy` that meet the standard, all with data.
fn first_recovery<'a>(rows: &'a [RateRow], code: &str, fy: i32, regime: &Regime) -> Option<&'a RateRow> {
    let mut windows: Vec<&RateRow> = rows
        .iter()
        .filter(|r| {
            r.period_kind == PeriodKind::SixMonths && r.hospital_code == code && r.regime_id == regime.id
        })
        .filter(|r| crate::periods::fiscal_year_of(r.period.split("..").next().unwrap_or("")) == Some(fy))
        .collect();
    windows.sort_by(|a, b| a.period.cmp(&b.period));
    windows.into_iter().find(|r| r.verdict == Verdict::Pass && r.counts.months_with_data == 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn era_months_and_dates() {
        assert_eq!(month_era_ja("2025-04"), "令和7年4月");
        assert_eq!(month_era_ja("2019-04"), "平成31年4月");
        assert_eq!(month_era_ja("2019-05"), "令和元年5月");
        assert_eq!(date_ja(NaiveDate::from_ymd_opt(2026, 10, 5).unwrap()), "令和8年10月5日");
        assert_eq!(period_ja(PeriodKind::FiscalYear, "2025").1, "令和7年4月～令和8年3月");
        assert_eq!(period_ja(PeriodKind::SixMonths, "2026-05..2026-10").1, "令和8年5月～令和8年10月");
    }

    #[test]
    fn deadlines_count_days_from_the_as_of_date() {
        let as_of = NaiveDate::from_ymd_opt(2026, 9, 30).unwrap();
        let d = Deadline::at("業務報告", NaiveDate::from_ymd_opt(2026, 10, 5), as_of, "");
        assert_eq!((d.days_left, d.note.as_str()), (Some(5), "提出期限 令和8年10月5日（あと 5 日）"));
        let d = Deadline::at("業務報告", NaiveDate::from_ymd_opt(2026, 9, 28), as_of, "");
        assert_eq!(d.note, "提出期限 令和8年9月28日（2 日過ぎています）");
        let d = Deadline::at("様式28", None, as_of, "未設定");
        assert_eq!((d.days_left, d.note.as_str()), (None, "未設定"));
    }
}

#[cfg(test)]
mod through_the_engine {
    use super::*;
    use crate::engine::Engine;
    use crate::ingest::{ReportedPeriod, ReportedRow};
    use crate::periods::calendar;
    use crate::rates::rate_rows;
    use crate::regimes::RegimeSet;
    use crate::warehouse::schema;

    const H: &str = "0110113719";

    fn reported(period: ReportedPeriod, counts: &[(&str, u64)]) -> ReportedRow {
        ReportedRow {
            hospital_code: H.into(),
            period,
            counts: counts.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            masked: Default::default(),
            line: 2,
        }
    }

    fn month(m: &str, initial: u64, referred: u64, reverse: u64) -> ReportedRow {
        reported(
            ReportedPeriod::Month(m.into()),
            &[
                ("initial_patients", initial),
                ("return_visits", 9_000),
                ("referred_patients", referred),
                ("reverse_referred_patients", reverse),
                ("emergency_patients", 0),
            ],
        )
    }

    /// FY2024 as reported: 29.96 ‰, below 30 ‰ although it shows as 30.0. FY2025 by month:
    /// April 4,000 initial and nothing referred, then 1,000 initial, 600 referred, 400 reverse
    /// each month, 9,000 return visits every month. April–September: 3,000 / 9,000 = 33.3 %:
    /// no. May–October: 3,600 / 6,000 = 60.0 %, 2,400 / (6,000 + 54,000) × 1,000 = 40.0 ‰:
    /// the first six months that meet the standard.
    #[tokio::test]
    async fn the_forms_are_filled_from_the_regime_rows_with_a_recovery_window() {
        let mut rows = vec![reported(
            ReportedPeriod::FiscalYear(2024),
            &[
                ("first_visits", 11_200),
                ("ambulance_first_visits", 800),
                ("after_hours_first_visits", 500),
                ("checkup_first_visits", 0),
                ("initial_patients", 10_000),
                ("return_visits", 90_000),
                ("referred_patients", 6_000),
                ("reverse_referred_patients", 2_996),
                ("emergency_patients", 0),
            ],
        )];
        rows.push(month("2025-04", 4_000, 0, 0));
        for m in ["2025-05", "2025-06", "2025-07", "2025-08", "2025-09", "2025-10", "2025-11"] {
            rows.push(month(m, 1_000, 600, 400));
        }
        let set = RegimeSet::builtin();
        let regimes: Vec<&Regime> =
            set.iter().filter(|r| r.id == "chiiki-shien-2014" || r.id == "shinryo-2022").collect();
        let engine = Engine::for_counts(vec![schema::reported_batch(&rows, "t.csv")], &regimes).unwrap();
        let monthly = engine.monthly_counts().await.unwrap();
        let months: std::collections::BTreeSet<String> = monthly.iter().map(|m| m.month.clone()).collect();
        let covered = crate::periods::covered_months(&months, engine.reported_fiscal_years());
        let mut cal = calendar(PeriodKind::FiscalYear, &covered);
        cal.extend(calendar(PeriodKind::SixMonths, &months));
        let results = engine.evaluate(&cal).await.unwrap();
        let rate_rows = rate_rows(&results, &regimes);
        let by_id = |id: &str| regimes.iter().find(|r| r.id == id).copied();
        let settings = FormSettings {
            form28: by_id("shinryo-2022"),
            business_report: by_id("chiiki-shien-2014"),
            form28_due: Some((10, 31)),
            as_of: NaiveDate::from_ymd_opt(2025, 10, 1).unwrap(),
        };
        let forms = forms(&rate_rows, &settings, |_| Some("札幌病院".into()));
        // FY2025 is not complete (eight months): only FY2024 has forms.
        assert_eq!(forms.len(), 1);
        let f = &forms[0];
        assert_eq!(f.fiscal_year, 2024);
        let values = |c: &[FormCount]| c.iter().map(|c| c.value).collect::<Vec<_>>();
        let shown =
            |r: &[FormRate]| r.iter().map(|r| (r.display.clone(), r.exact.clone())).collect::<Vec<_>>();
        let s = |v: &str| Some(v.to_string());

        let form = f.form28.as_ref().unwrap();
        assert_eq!(form.period_ja, "令和6年4月～令和7年3月");
        assert_eq!(values(&form.counts), [Some(10_000), Some(90_000), Some(6_000), Some(2_996), Some(0)]);
        assert_eq!(shown(&form.rates), [(s("60.0"), None), (s("30.0"), s("29.96"))]);
        assert_eq!(form.verdict, Verdict::Fail);
        assert_eq!(form.rates[1].standard.as_deref(), Some("30 ‰ 以上"));
        // 業務報告 ① states the criteria A, B, C, not one standard per rate.
        assert!(f.business_report.as_ref().unwrap().rates.iter().all(|r| r.standard.is_none()));
        assert_eq!(
            (form.deadline.days_left, form.deadline.date),
            (Some(30), NaiveDate::from_ymd_opt(2025, 10, 31))
        );

        let recovery = f.form28_recovery.as_ref().expect("a recovery window");
        assert_eq!((recovery.period.as_str(), recovery.fiscal_year), ("2025-05..2025-10", 2025));
        assert_eq!(values(&recovery.counts), [Some(6_000), Some(54_000), Some(3_600), Some(2_400), Some(0)]);
        assert_eq!(shown(&recovery.rates), [(s("60.0"), None), (s("40.0"), None)]);
        assert_eq!(recovery.verdict, Verdict::Pass);

        let report = f.business_report.as_ref().unwrap();
        assert_eq!(values(&report.counts), [Some(6_000), Some(10_000), Some(2_996)]);
        assert_eq!((report.first_visits, report.excluded_once), (Some(11_200), Some(1_200)));
        assert_eq!(values(&report.excluded), [Some(800), Some(500), Some(0)]);
        // 60.0 % and 29.96 % → 30.0 %: C needs 逆紹介率 > 70.
        assert_eq!(shown(&report.rates), [(s("60.0"), None), (s("30.0"), None)]);
        assert_eq!((report.verdict, report.met_criteria.len()), (Verdict::Fail, 0));
        assert_eq!(report.deadline.note, "提出期限 令和7年10月5日（あと 4 日）");
    }
}
