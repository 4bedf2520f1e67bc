//! The view model: already-computed, display-ready results that the engine fills and the
//! templates lay out. Nothing here is computed by the report module; rates arrive as display
//! strings rounded by the regimes, verdicts as fixed words.

use serde::Serialize;

/// Who produced a page, and from which warehouse version; printed in every footer.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub refrate_version: String,
    /// Already formatted, e.g. `"2026-11-26 22:50 UTC"`.
    pub generated_at: String,
    pub run_id: String,
    pub warehouse_version: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HospitalInfo {
    /// 医療機関コード, 10 digits as text (may start with 0).
    pub code: String,
    pub name: Option<String>,
    pub prefecture: Option<String>,
    pub beds: Option<u32>,
}

/// One rate as it is printed: display value, unit, and the integers it came from.
#[derive(Debug, Clone, Serialize)]
pub struct RateValue {
    /// Rounded for display, e.g. `"96.5"`; `None` when the denominator is 0.
    pub display: Option<String>,
    /// `"%"` or `"‰"`.
    pub unit: String,
    pub numerator: u64,
    pub denominator: u64,
}

/// One criterion of a regime (e.g. 基準B) and whether it is met.
#[derive(Debug, Clone, Serialize)]
pub struct CriterionRow {
    /// `"A"`, `"B"`, …
    pub id: String,
    /// e.g. `"紹介率 ≥ 80 %"`.
    pub label: String,
    /// `None` = no data.
    pub met: Option<bool>,
    pub on_boundary: bool,
    /// Extra referred first visits needed; `None` when met or not applicable.
    pub referral_gap: Option<u64>,
    /// Extra reverse referrals needed; `None` when met or not applicable.
    pub reverse_gap: Option<u64>,
}

/// The result of one regime for one hospital and period.
#[derive(Debug, Clone, Serialize)]
pub struct RegimeResult {
    /// e.g. `"chiiki-shien-2014"`.
    pub id: String,
    pub name_ja: String,
    pub name_en: String,
    /// One of [`VERDICTS`](super::VERDICTS): `"pass"`, `"fail"`, `"no_data"`, `"not_computable"`.
    pub verdict: String,
    /// Criteria met, e.g. `["B"]`.
    pub met_criteria: Vec<String>,
    pub on_boundary: bool,
    pub referral: RateValue,
    pub reverse: RateValue,
    pub criteria: Vec<CriterionRow>,
    /// Free-text caveats, e.g. "≥ vs > for B and C differs between prefectures".
    pub notes: Vec<String>,
}

/// One month of counts for the monthly table. Rates are those of the primary regime.
#[derive(Debug, Clone, Serialize)]
pub struct MonthRow {
    /// `"2025-04"`.
    pub month: String,
    /// `false` rows are shown as "データなし" gaps, not zeros.
    pub has_data: bool,
    pub first_visits: u64,
    pub ambulance_first_visits: u64,
    pub after_hours_first_visits: u64,
    pub checkup_first_visits: u64,
    pub initial_patients: u64,
    pub referred_patients: u64,
    pub reverse_referred_patients: u64,
    pub return_visits: u64,
    /// Primary regime, e.g. `"72.3"`.
    pub referral_rate: Option<String>,
    pub reverse_rate: Option<String>,
    pub referral_unit: String,
    pub reverse_unit: String,
}

/// Input rows rejected at ingest, for the data-quality section.
#[derive(Debug, Clone, Serialize)]
pub struct RejectSummary {
    pub total: u64,
    pub rows_read: u64,
    pub by_reason: Vec<ReasonCount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReasonCount {
    pub code: String,
    pub label_ja: String,
    pub count: u64,
}

/// Everything one hospital page shows for one fiscal year.
#[derive(Debug, Clone, Serialize)]
pub struct HospitalPage {
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
    pub rejects: RejectSummary,
    pub run: RunInfo,
}

/// Monthly series for the chart; `months`, `referral` and `reverse` have the same length.
#[derive(Debug, Clone, Serialize)]
pub struct ChartData {
    pub months: Vec<String>,
    /// Display value per month; `None` = gap.
    pub referral: Vec<Option<f64>>,
    pub reverse: Vec<Option<f64>>,
    pub referral_threshold: Option<f64>,
    pub reverse_threshold: Option<f64>,
    pub referral_unit: String,
    pub reverse_unit: String,
}

/// One line of the index: one hospital under one regime.
#[derive(Debug, Clone, Serialize)]
pub struct IndexRow {
    pub code: String,
    pub name: Option<String>,
    pub fiscal_year: i32,
    /// Must be one of the ids in [`IndexPage::regimes`].
    pub regime_id: String,
    pub referral: RateValue,
    pub reverse: RateValue,
    pub verdict: String,
    pub met_criteria: Vec<String>,
    pub on_boundary: bool,
    pub missing_months: u32,
    /// Relative file name of the hospital page, from [`hospital_page_file`](super::hospital_page_file).
    pub page: String,
}

/// All hospitals of one fiscal year.
#[derive(Debug, Clone, Serialize)]
pub struct IndexPage {
    pub fiscal_year: i32,
    /// `(id, name_ja)`, in the order the sections are printed.
    pub regimes: Vec<(String, String)>,
    /// Printed in this order within each regime's section (fail/boundary first).
    pub rows: Vec<IndexRow>,
    pub run: RunInfo,
}
