//! Rates as users see them: the engine's exact results joined with the regime definitions,
//! with display values (one decimal, half up), per-criterion results and gaps.
//!
//! Owns the row shapes of `refrate rates` and of the report view model's numbers; it does not
//! run SQL or render HTML.

use std::collections::BTreeMap;

use crate::engine::{CountsRow, Results};
use crate::regimes::{Count, MetricKind, Ratio, Regime};

/// One criterion of one regime for one hospital and period.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionResult {
    pub id: String,
    /// `基準B`, `目標値`: how reports name it.
    pub name_ja: String,
    /// "紹介率 > 65 % かつ 逆紹介率 > 40 %"
    pub label: String,
    pub met: Option<bool>,
    pub on_boundary: bool,
    pub referral_gap: Option<u64>,
    pub reverse_gap: Option<u64>,
}

/// One hospital, period and regime.
#[derive(Debug, Clone, PartialEq)]
pub struct RateRow {
    pub hospital_code: String,
    pub period_kind: String,
    pub period: String,
    pub regime_id: String,
    pub counts: CountsRow,
    pub referral: Option<Ratio>,
    pub reverse: Option<Ratio>,
    pub referral_unit: &'static str,
    pub reverse_unit: &'static str,
    pub verdict: String,
    pub met_criteria: Vec<String>,
    pub on_boundary: bool,
    pub criteria: Vec<CriterionResult>,
    /// For a failing regime, the gaps of the criterion that needs the fewest extra events.
    pub referral_gap: Option<u64>,
    pub reverse_gap: Option<u64>,
    /// Counts the regime needs that were not reported.
    pub missing_counts: Vec<Count>,
    /// For the fiscal year still under way: months left after the latest month with data, and
    /// the gaps spread over them (rounded up).
    pub pace: Option<Pace>,
}

/// How many more per month, for the rest of the current fiscal year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub months_left: u32,
    pub referral_per_month: Option<u64>,
    pub reverse_per_month: Option<u64>,
}

/// Adds the monthly pace to the fiscal-year rows of the year `latest_month` falls in. It
/// assumes the other counts stay as they are: the gap is what is missing so far, spread over
/// the months left.
pub fn add_pace(rows: &mut [RateRow], latest_month: &str) {
    let (Some(fy), Some((_, month))) =
        (crate::periods::fiscal_year_of(latest_month), crate::periods::parse_month(latest_month))
    else {
        return;
    };
    let elapsed = if month >= 4 { month - 3 } else { month + 9 };
    let months_left = 12 - elapsed;
    for row in rows.iter_mut().filter(|r| r.period_kind == "fiscal-year" && r.period == fy.to_string()) {
        let per =
            |gap: Option<u64>| gap.filter(|_| months_left > 0).map(|g| g.div_ceil(u64::from(months_left)));
        row.pace = Some(Pace {
            months_left,
            referral_per_month: per(row.referral_gap),
            reverse_per_month: per(row.reverse_gap),
        });
    }
}

impl RateRow {
    pub fn referral_display(&self) -> Option<String> {
        self.referral.and_then(|r| r.display())
    }
    pub fn reverse_display(&self) -> Option<String> {
        self.reverse.and_then(|r| r.display())
    }
    /// A failing or boundary row: what makes a run exit 1.
    pub fn needs_attention(&self) -> bool {
        self.verdict == "fail" || self.on_boundary
    }
}

/// Joins the engine's results with the regimes into rows, ordered by hospital, period, regime.
pub fn rate_rows(results: &Results, regimes: &[&Regime]) -> Vec<RateRow> {
    let counts: BTreeMap<(&str, &str, &str), &CountsRow> = results
        .counts
        .iter()
        .map(|c| ((c.hospital_code.as_str(), c.period_kind.as_str(), c.period.as_str()), c))
        .collect();
    let by_regime: BTreeMap<&str, &Regime> = regimes.iter().map(|r| (r.id.as_str(), *r)).collect();
    let mut conditions: BTreeMap<(&str, &str, &str, &str, &str), Vec<&crate::engine::ConditionRow>> =
        BTreeMap::new();
    for c in &results.conditions {
        conditions
            .entry((&c.hospital_code, &c.period_kind, &c.period, &c.regime_id, &c.criterion_id))
            .or_default()
            .push(c);
    }
    let mut metrics: BTreeMap<(&str, &str, &str, &str, MetricKind), &crate::engine::MetricRow> =
        BTreeMap::new();
    for m in &results.metrics {
        metrics.insert((&m.hospital_code, &m.period_kind, &m.period, &m.regime_id, m.metric), m);
    }
    let mut rows = Vec::new();
    for v in &results.verdicts {
        let (Some(regime), Some(count_row)) = (
            by_regime.get(v.regime_id.as_str()),
            counts.get(&(v.hospital_code.as_str(), v.period_kind.as_str(), v.period.as_str())),
        ) else {
            continue;
        };
        let ratio = |kind: MetricKind| -> Option<Ratio> {
            let m = metrics.get(&(
                v.hospital_code.as_str(),
                v.period_kind.as_str(),
                v.period.as_str(),
                v.regime_id.as_str(),
                kind,
            ))?;
            Some(Ratio {
                numerator: u64::try_from(m.numerator?).unwrap_or(0),
                denominator: u64::try_from(m.denominator?).unwrap_or(0),
                scale: regime.metric(kind).unit.scale(),
            })
        };
        let known = count_row.known();
        let missing_counts: Vec<Count> =
            regime.required_counts().into_iter().filter(|c| count_row.get(*c).is_none()).collect();
        let mut criteria = Vec::new();
        for criterion in &regime.criteria {
            let evaluated = conditions
                .get(&(
                    v.hospital_code.as_str(),
                    v.period_kind.as_str(),
                    v.period.as_str(),
                    v.regime_id.as_str(),
                    criterion.id.as_str(),
                ))
                .cloned()
                .unwrap_or_default();
            let met = if evaluated.iter().any(|c| c.met.is_none()) || evaluated.is_empty() {
                None
            } else {
                Some(evaluated.iter().all(|c| c.met == Some(true)))
            };
            let (referral_gap, reverse_gap) =
                if met == Some(false) || (met.is_none() && missing_counts.is_empty()) {
                    regime.criterion_gaps(criterion, &known)
                } else {
                    (None, None)
                };
            let label = criterion
                .conditions
                .iter()
                .map(|c| regime.condition_label(c))
                .collect::<Vec<_>>()
                .join(" かつ ");
            criteria.push(CriterionResult {
                id: criterion.id.clone(),
                name_ja: criterion.name_ja.clone(),
                label,
                met,
                on_boundary: evaluated.iter().any(|c| c.on_line),
                referral_gap,
                reverse_gap,
            });
        }
        let (referral_gap, reverse_gap) = if v.verdict == "pass" {
            (None, None)
        } else {
            criteria
                .iter()
                .filter(|c| c.referral_gap.is_some() || c.reverse_gap.is_some())
                .min_by_key(|c| c.referral_gap.unwrap_or(0) + c.reverse_gap.unwrap_or(0))
                .map(|c| (c.referral_gap, c.reverse_gap))
                .unwrap_or((None, None))
        };
        rows.push(RateRow {
            hospital_code: v.hospital_code.clone(),
            period_kind: v.period_kind.clone(),
            period: v.period.clone(),
            regime_id: v.regime_id.clone(),
            counts: (*count_row).clone(),
            referral: ratio(MetricKind::Referral),
            reverse: ratio(MetricKind::Reverse),
            referral_unit: regime.referral.unit.symbol(),
            reverse_unit: regime.reverse.unit.symbol(),
            verdict: v.verdict.clone(),
            met_criteria: v.met_criteria.clone(),
            on_boundary: v.on_boundary,
            criteria,
            referral_gap,
            reverse_gap,
            missing_counts,
            pace: None,
        });
    }
    let order: BTreeMap<&str, usize> = regimes.iter().enumerate().map(|(i, r)| (r.id.as_str(), i)).collect();
    rows.sort_by(|a, b| {
        (&a.hospital_code, &a.period_kind, &a.period, order.get(a.regime_id.as_str())).cmp(&(
            &b.hospital_code,
            &b.period_kind,
            &b.period,
            order.get(b.regime_id.as_str()),
        ))
    });
    rows
}
