//! The view model: display-ready results that [`super::build`] fills from the rate rows and the
//! templates lay out. Nothing here is computed: rates arrive as display strings rounded by the
//! regimes, verdicts as [`Verdict`]s (serialised as their codes).

use serde::Serialize;

use crate::domain::Verdict;

/// Who produced a page, and from which warehouse version; printed in every footer.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunInfo {
    pub refrate_version: String,
    /// Already formatted, e.g. `"2026-11-26 22:50 UTC"`.
    pub generated_at: String,
    pub run_id: String,
    pub warehouse_version: u64,
}

impl RunInfo {
    /// This program and the warehouse version a page is made from, now.
    pub(crate) fn of(manifest: &crate::warehouse::Manifest) -> RunInfo {
        RunInfo {
            refrate_version: env!("CARGO_PKG_VERSION").to_string(),
            generated_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            run_id: manifest.runs.last().map(|r| r.run_id.clone()).unwrap_or_else(|| "-".into()),
            warehouse_version: manifest.version,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct HospitalInfo {
    /// 医療機関コード, 10 digits as text (may start with 0).
    pub code: String,
    pub name: Option<String>,
    pub prefecture: Option<String>,
    pub beds: Option<u32>,
}

/// One rate as it is printed: display value, unit, and the integers it came from.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RateValue {
    /// Rounded for display, e.g. `"96.5"`; `None` when the denominator is 0.
    pub display: Option<String>,
    /// `"%"` or `"‰"`.
    pub unit: String,
    pub numerator: u64,
    pub denominator: u64,
    /// When a count behind the rate is masked: the sides' highest values (`numerator` and
    /// `denominator` are then the lowest), and `display` is the rate's interval.
    pub masked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numerator_high: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denominator_high: Option<u64>,
    /// When the rounded display equals a threshold the exact value is not on (79.95 % shown as
    /// 80.0 %): the value to two decimals, truncated, for the note 表示は四捨五入.
    pub exact: Option<String>,
}

impl RateValue {
    /// The numerator and the denominator as machine outputs write them: `9811`, or `1..10`
    /// when a count behind the rate is masked.
    pub(crate) fn sides_text(&self) -> (String, String) {
        if self.masked {
            let high = |v: Option<u64>, low: u64| format!("{low}..{}", v.unwrap_or(low));
            (high(self.numerator_high, self.numerator), high(self.denominator_high, self.denominator))
        } else {
            (self.numerator.to_string(), self.denominator.to_string())
        }
    }
}

/// One criterion of a regime (e.g. 基準B) and whether it is met.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CriterionRow {
    /// `"A"`, `"B"`, …
    pub id: String,
    /// `"基準B"`, `"目標値"`: the name printed.
    pub name_ja: String,
    /// e.g. `"紹介率 ≥ 80 %"`.
    pub label: String,
    /// `None` = no data, or undetermined.
    pub met: Option<bool>,
    /// Masked counts decide whether it is met.
    pub undetermined: bool,
    pub on_boundary: bool,
    /// Extra referred first visits needed; `None` when met or not applicable.
    pub referral_gap: Option<u64>,
    /// Extra reverse referrals needed; `None` when met or not applicable.
    pub reverse_gap: Option<u64>,
    /// For the current (incomplete) fiscal year: `referral_gap` spread over the months left,
    /// rounded up; `None` otherwise.
    pub referral_pace: Option<u64>,
    /// Same for `reverse_gap`.
    pub reverse_pace: Option<u64>,
}

/// The result of one regime for one hospital and period.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RegimeResult {
    /// e.g. `"chiiki-shien-2014"`.
    pub id: String,
    pub name_ja: String,
    pub name_en: String,
    /// Serialised as its code: `"pass"`, `"fail"`, `"no_data"`, `"not_computable"`.
    pub verdict: Verdict,
    /// Criteria met, as printed, e.g. `["基準B"]`.
    pub met_criteria: Vec<String>,
    pub on_boundary: bool,
    pub referral: RateValue,
    pub reverse: RateValue,
    pub criteria: Vec<CriterionRow>,
    /// Free-text caveats, e.g. "≥ vs > for B and C differs between prefectures".
    pub notes: Vec<String>,
    /// For the fiscal year under way: the year-end forecast, or why there is none.
    pub forecast: Option<ForecastView>,
    pub forecast_missing: Option<String>,
}

/// The year-end forecast as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ForecastView {
    /// `72.1`, and the 80 % interval `70.3` to `74.0`, in the rate's unit.
    pub referral: Option<(String, String, String)>,
    pub reverse: Option<(String, String, String)>,
    /// `93`: percent of simulated years that pass.
    pub pass_percent: String,
    pub months_used: u32,
    pub seasonal: bool,
}

/// One month of counts for the monthly table. Rates are those of the primary regime.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MonthRow {
    /// `"2025-04"`.
    pub month: String,
    /// `false` rows are shown as "データなし" gaps, not zeros.
    pub has_data: bool,
    /// The counts as shown: `9,811`, `1〜10` when masked, `—` when not reported.
    pub first_visits: String,
    pub ambulance_first_visits: String,
    pub after_hours_first_visits: String,
    pub checkup_first_visits: String,
    pub initial_patients: String,
    pub referred_patients: String,
    pub reverse_referred_patients: String,
    pub return_visits: String,
    /// Primary regime, e.g. `"72.3"`.
    pub referral_rate: Option<String>,
    pub reverse_rate: Option<String>,
    pub referral_unit: String,
    pub reverse_unit: String,
}

/// Input rows rejected at ingest, for the data-quality section.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RejectSummary {
    pub total: u64,
    pub rows_read: u64,
    pub by_reason: Vec<ReasonCount>,
    /// The first rejected rows of the input files that fed this hospital and no other (all
    /// are in rejects.csv): a row of a file shared with other hospitals may be theirs.
    pub rows: Vec<RejectRow>,
    /// Rejected rows of files shared with other hospitals: counted, not listed.
    pub shared_rows: u64,
}

/// One rejected input row. Never a patient number: ingest masks it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RejectRow {
    pub file: String,
    /// Physical line (header = 1).
    pub line: u64,
    pub byte_offset: u64,
    pub field: Option<String>,
    pub value: Option<String>,
    /// Reason code, e.g. `bad_date`.
    pub reason: String,
    pub reason_ja: String,
    /// English detail, e.g. "no such day: 2025-02-30".
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ReasonCount {
    pub code: String,
    pub label_ja: String,
    pub count: u64,
}

/// Everything one hospital page shows for one fiscal year.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HospitalPage {
    pub hospital: HospitalInfo,
    /// 2025 = 2025-04..2026-03.
    pub fiscal_year: i32,
    /// The first regime is the primary one (monthly rates and chart use it). At least one.
    pub regimes: Vec<RegimeResult>,
    /// April to March, 12 rows.
    pub months: Vec<MonthRow>,
    /// `"2025-05"`, …
    pub missing_months: Vec<String>,
    pub chart: ChartData,
    /// Set when the fiscal year is not over yet (the latest fiscal year of the data).
    pub progress: Option<YearProgress>,
    /// 診療科別, sorted by initial patients, largest first.
    pub departments: Vec<DepartmentLine>,
    pub partners: PartnerBreakdown,
    pub rejects: RejectSummary,
    /// The input files that fed this hospital, with their checksums.
    pub sources: Vec<SourceFile>,
    /// The regime definitions used, with the file each came from.
    pub regime_files: Vec<RegimeFile>,
    /// Its 承認要件, when the config gives `approval_facts` and this year has any.
    pub approval: Option<crate::approval::ApprovalTable>,
    /// The forms filled from this fiscal year's data.
    pub filings: Vec<FilingLink>,
    /// Set on the copy meant to leave the hospital (`suppress_below:`).
    pub sharing: Option<Sharing>,
    pub run: RunInfo,
}

pub(crate) use crate::rates::YearProgress;

/// One department of the hospital over the fiscal year.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DepartmentLine {
    /// As written in the input data.
    pub department: String,
    pub first_visits: u64,
    pub initial_patients: u64,
    pub referred_patients: u64,
    pub reverse_referred_patients: u64,
    /// referred ÷ initial in %, one decimal; `None` when there is no initial patient.
    pub referred_share: Option<String>,
    /// reverse ÷ initial in %, one decimal; `None` when there is no initial patient.
    pub reverse_share: Option<String>,
    /// On a page shared outside the hospital: the fields hidden, as small counts (`referred_patients`)
    /// or hidden with one (`referred_patients:withheld`); their value is 0 here, never the count.
    pub hidden: Vec<String>,
}

/// One partner institution with one count.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PartnerLine {
    /// 医療機関コード as written in the input data.
    pub code: String,
    /// From the hospitals list, when the partner is in it.
    pub name: Option<String>,
    pub count: u64,
    /// On a shared page: `count` (a small count) or `withheld` (hidden with it), and the
    /// count is 0 here.
    pub hidden: Option<&'static str>,
}

/// A partner whose referrals fell against the same months of the previous fiscal year.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PartnerDecline {
    pub code: String,
    pub name: Option<String>,
    pub previous: u64,
    pub current: u64,
    /// `previous − current`, > 0.
    pub fall: u64,
    /// On a shared page: the fields hidden (and 0 here).
    pub hidden: Vec<String>,
}

/// How a page meant to leave the hospital hides small counts.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Sharing {
    /// Counts from 1 to `below − 1` are hidden.
    pub below: u64,
    /// What a hidden count shows: `<10`.
    pub label: String,
}

/// 連携先別: who refers to the hospital, where it refers patients back, who sends fewer.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PartnerBreakdown {
    /// Largest first, at most [`PartnerBreakdown::LIMIT`].
    pub top_referrers: Vec<PartnerLine>,
    pub top_reverse: Vec<PartnerLine>,
    /// Largest fall first, at most [`PartnerBreakdown::LIMIT`].
    pub declines: Vec<PartnerDecline>,
    /// The months compared for `declines` (data in both years), `["2025-04", …]`; empty when
    /// the previous fiscal year has no data for the same months.
    pub compared_months: Vec<String>,
    /// Partners with at least one referral or reverse referral this fiscal year.
    pub partner_count: u64,
}

impl PartnerBreakdown {
    /// Rows per partner list.
    pub(crate) const LIMIT: usize = 10;
}

/// One input file of the warehouse.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SourceFile {
    pub path: String,
    pub sha256: String,
    pub encoding: String,
    pub rows_read: u64,
    pub rows_rejected: u64,
}

/// Where a regime definition came from.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RegimeFile {
    pub id: String,
    /// `builtin:rules/x.yaml` or a user path.
    pub origin: String,
}

/// Monthly series for the chart; `months`, `referral` and `reverse` have the same length.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ChartData {
    pub months: Vec<String>,
    /// Display value per month; `None` = gap.
    pub referral: Vec<Option<f64>>,
    pub reverse: Vec<Option<f64>>,
    /// The rate over the 12 months ending with each month; `None` unless all 12 have data.
    pub referral_rolling: Vec<Option<f64>>,
    pub reverse_rolling: Vec<Option<f64>>,
    pub referral_threshold: Option<f64>,
    pub reverse_threshold: Option<f64>,
    pub referral_unit: String,
    pub reverse_unit: String,
}

/// One line of the index: one hospital under one regime.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IndexRow {
    pub code: String,
    pub name: Option<String>,
    pub fiscal_year: i32,
    /// Must be one of the ids in [`IndexPage::regimes`].
    pub regime_id: String,
    pub referral: RateValue,
    pub reverse: RateValue,
    pub verdict: Verdict,
    pub met_criteria: Vec<String>,
    /// The same criteria as printed (`基準B`).
    pub met_criteria_names: Vec<String>,
    pub on_boundary: bool,
    /// Against the previous fiscal year's rate of the same regime, in points of the rate's
    /// unit, signed and rounded to one decimal (`"+3.2"`, `"-0.4"`, `"±0.0"`); `None` when
    /// either year has no rate.
    pub referral_change: Option<String>,
    pub reverse_change: Option<String>,
    pub missing_months: u32,
    /// Months of the fiscal year with data for this hospital (of 12, or of those elapsed).
    pub months_with_data: u32,
    /// Relative file name of the hospital page, from [`hospital_page_file`](super::hospital_page_file).
    pub page: String,
}

/// A hospital of the master with no data in the fiscal year: shown as 未提出, never left out.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NotSubmitted {
    pub code: String,
    pub name: Option<String>,
}

/// All hospitals of one fiscal year.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IndexPage {
    pub fiscal_year: i32,
    /// `(id, name_ja)`, in the order the sections are printed.
    pub regimes: Vec<(String, String)>,
    /// Printed in this order within each regime's section (fail/boundary first).
    pub rows: Vec<IndexRow>,
    /// For the fiscal year under way: how far the data reaches (the rates are to date).
    pub progress: Option<YearProgress>,
    /// Master hospitals without any data in this fiscal year.
    pub not_submitted: Vec<NotSubmitted>,
    /// The 承認要件 of every hospital, when the config gives `approval_facts`.
    pub approval: Option<ApprovalOverview>,
    /// The forms of this fiscal year's data (filed in the October after it), per hospital.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forms: Vec<crate::forms::HospitalForms>,
    pub run: RunInfo,
}

/// A form the hospital files, linked from its page.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FilingLink {
    /// `別紙様式28（前年度の実績）`
    pub title: String,
    /// The form's page, a relative `.html` name.
    pub file: String,
    pub period_ja: String,
    pub deadline: String,
}

/// The approval requirements side by side, one row per hospital.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ApprovalOverview {
    /// The rules' name and where they came from.
    pub rules_name: String,
    pub rules_origin: String,
    pub sources: Vec<String>,
    pub uncertain: Vec<String>,
    /// `(id, name_ja)` of each requirement, in the table's column order.
    pub requirements: Vec<(String, String)>,
    /// Not met first, then unknown, then by code.
    pub rows: Vec<ApprovalIndexRow>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ApprovalIndexRow {
    pub code: String,
    pub name: Option<String>,
    /// `met`, `not_met`, `unknown`.
    pub verdict: crate::domain::ApprovalVerdict,
    /// Per requirement, in the columns' order: `None` unknown.
    pub met: Vec<Option<bool>>,
    /// The hospital page, when it has one this fiscal year.
    pub page: Option<String>,
}
