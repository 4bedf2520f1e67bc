//! Rates as users see them: the engine's exact results joined with the regime definitions,
//! with display values (one decimal, half up), per-criterion results and gaps.
//!
//! The one home of the rules that need a search or a calendar rather than a sum, so they are
//! written in Rust, not SQL: the gap to each criterion ([`Regime::criterion_gaps`]: the
//! smallest whole number of extra events), the nearest criterion ([`nearest_criterion`]), how
//! far the fiscal year under way has got ([`YearProgress`]) and the pace per remaining month
//! ([`YearProgress::per_month`]). Whether a condition, a criterion or a regime is met is
//! decided by the engine's SQL and only read here. `refrate rates`, the pages, the overview
//! and the cron lines all read these rows; none recomputes them.
//!
//! It does not run SQL or render HTML.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::domain::{PeriodKind, Verdict};
use crate::engine::{CountsRow, Results};
use crate::regimes::{Count, MetricKind, Ratio, Regime};

/// One criterion of one regime for one hospital and period. Its names are the regime's, shared
/// by every row (a prefecture's run holds some hundred thousand rows).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CriterionResult {
    pub id: Arc<str>,
    /// `基準B`, `目標値`: how reports name it.
    pub name_ja: Arc<str>,
    /// "紹介率 > 65 % かつ 逆紹介率 > 40 %"
    pub label: Arc<str>,
    pub met: Option<bool>,
    /// Whether it is met depends on the values masked counts hide.
    pub undetermined: bool,
    pub on_boundary: bool,
    pub referral_gap: Option<u64>,
    pub reverse_gap: Option<u64>,
}

/// A rate known only as an interval, because a count behind it is masked: from its lowest
/// possible value to its highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateRange {
    pub low: Ratio,
    pub high: Ratio,
}

impl RateRange {
    /// The interval a metric's sides span, or `None` when a side is missing or the
    /// denominator may be zero.
    fn of(numerator: (i64, i64), denominator: (i64, i64), scale: u64) -> Option<RateRange> {
        if denominator.0 <= 0 {
            return None;
        }
        let ratio =
            |n: i64, d: i64| Ratio { numerator: u64::try_from(n).unwrap_or(0), denominator: d as u64, scale };
        let corners = [
            ratio(numerator.0, denominator.0),
            ratio(numerator.0, denominator.1),
            ratio(numerator.1, denominator.0),
            ratio(numerator.1, denominator.1),
        ];
        let order = |a: &&Ratio, b: &&Ratio| {
            (u128::from(a.numerator) * u128::from(b.denominator))
                .cmp(&(u128::from(b.numerator) * u128::from(a.denominator)))
        };
        let low = *corners.iter().min_by(order)?;
        let high = *corners.iter().max_by(order)?;
        Some(RateRange { low, high })
    }

    /// `48.2–49.9`: each end rounded as a rate is (one decimal, half up).
    pub(crate) fn display(&self) -> Option<String> {
        Some(format!("{}–{}", self.low.display()?, self.high.display()?))
    }
}

/// One hospital, period and regime.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RateRow {
    pub hospital_code: String,
    pub period_kind: PeriodKind,
    /// The period's label: `2025` for a fiscal year, `2025-04` for a month, `2025-04..2025-09`
    /// for a window.
    pub period: String,
    pub regime_id: String,
    /// Shared by the rows of every regime of this hospital and period.
    pub counts: Arc<CountsRow>,
    /// The exact rates; `None` without a denominator, or when a count behind it is masked
    /// (then the `…_range` holds its interval).
    pub referral: Option<Ratio>,
    pub reverse: Option<Ratio>,
    pub referral_range: Option<RateRange>,
    pub reverse_range: Option<RateRange>,
    pub referral_unit: &'static str,
    pub reverse_unit: &'static str,
    pub verdict: Verdict,
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
    /// For the fiscal year under way: the year-end forecast ([`crate::forecast`]).
    /// Boxed: only the fiscal-year rows of the year under way have one.
    pub forecast: Option<Box<crate::forecast::Forecast>>,
}

/// How many more per month, for the rest of the current fiscal year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pace {
    pub months_left: u32,
    pub referral_per_month: Option<u64>,
    pub reverse_per_month: Option<u64>,
}

/// How far the fiscal year under way has got, seen from the latest month with data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct YearProgress {
    /// The fiscal year under way.
    #[serde(skip)]
    pub fiscal_year: i32,
    /// The latest month with data anywhere, `"2025-06"`.
    pub through_month: String,
    pub months_elapsed: u32,
    /// Months after `through_month` until March; at least 1.
    pub months_left: u32,
}

impl YearProgress {
    /// The fiscal year `latest` falls in, when it is still under way: `None` once its March
    /// has data (the year is over) or without data.
    pub(crate) fn under_way(latest: Option<&str>) -> Option<YearProgress> {
        let latest = latest?;
        let fiscal_year = crate::periods::fiscal_year_of(latest)?;
        let elapsed =
            crate::periods::months_of_fiscal_year(fiscal_year).iter().position(|m| m == latest)? + 1;
        (elapsed < 12).then(|| YearProgress {
            fiscal_year,
            through_month: latest.to_string(),
            months_elapsed: elapsed as u32,
            months_left: (12 - elapsed) as u32,
        })
    }

    /// A gap spread over the months left, rounded up: 37 over 9 months → 5 a month. It
    /// assumes the other counts stay as they are.
    pub(crate) fn per_month(&self, gap: Option<u64>) -> Option<u64> {
        gap.map(|g| g.div_ceil(u64::from(self.months_left.max(1))))
    }

    /// The pace of a row's nearest criterion.
    pub(crate) fn pace(&self, row: &RateRow) -> Pace {
        Pace {
            months_left: self.months_left,
            referral_per_month: self.per_month(row.referral_gap),
            reverse_per_month: self.per_month(row.reverse_gap),
        }
    }
}

/// Adds the year-end forecasts to the fiscal-year rows they are for.
pub(crate) fn add_forecasts(rows: &mut [RateRow], forecasts: &[crate::forecast::Forecast]) {
    let by: BTreeMap<(i32, &str, &str), &crate::forecast::Forecast> = forecasts
        .iter()
        .map(|f| ((f.fiscal_year, f.hospital_code.as_str(), f.regime_id.as_str()), f))
        .collect();
    for row in rows.iter_mut().filter(|r| r.period_kind == PeriodKind::FiscalYear) {
        let Ok(fy) = row.period.parse::<i32>() else { continue };
        if let Some(f) = by.get(&(fy, row.hospital_code.as_str(), row.regime_id.as_str())) {
            row.forecast = Some(Box::new((*f).clone()));
        }
    }
}

/// Adds the monthly pace to the fiscal-year rows of the year under way.
pub(crate) fn add_pace(rows: &mut [RateRow], progress: Option<&YearProgress>) {
    let Some(progress) = progress else { return };
    let fy = progress.fiscal_year.to_string();
    for row in rows.iter_mut().filter(|r| r.period_kind == PeriodKind::FiscalYear && r.period == fy) {
        row.pace = Some(progress.pace(row));
    }
}

impl CriterionResult {
    /// Extra events this criterion needs, both kinds together (a kind it does not need: 0).
    fn extra_events(&self) -> u64 {
        self.referral_gap.unwrap_or(0).saturating_add(self.reverse_gap.unwrap_or(0))
    }
}

/// The unmet criterion that needs the fewest extra events (the first in the regime's order on
/// a tie); `None` when no unmet criterion can be reached by adding events.
pub(crate) fn nearest_criterion(criteria: &[CriterionResult]) -> Option<&CriterionResult> {
    criteria
        .iter()
        .filter(|c| c.met != Some(true) && (c.referral_gap.is_some() || c.reverse_gap.is_some()))
        .min_by_key(|c| c.extra_events())
}

impl RateRow {
    /// The rate as shown: `49.3`, or `48.2–49.9` when a count behind it is masked.
    pub(crate) fn referral_display(&self) -> Option<String> {
        self.referral.and_then(|r| r.display()).or_else(|| self.referral_range.and_then(|r| r.display()))
    }
    pub(crate) fn reverse_display(&self) -> Option<String> {
        self.reverse.and_then(|r| r.display()).or_else(|| self.reverse_range.and_then(|r| r.display()))
    }
}

/// Joins the engine's results with the regimes into rows, ordered by hospital, period, regime.
pub(crate) fn rate_rows(results: &Results, regimes: &[&Regime]) -> Vec<RateRow> {
    // Every lookup is keyed by hospital, period kind, period (and regime, criterion or metric).
    let counts: BTreeMap<(&str, PeriodKind, &str), Arc<CountsRow>> = results
        .counts
        .iter()
        .map(|c| ((c.hospital_code.as_str(), c.period_kind, c.period.as_str()), Arc::new(c.clone())))
        .collect();
    // Each criterion's names, once per regime: (id, name, label).
    let names: BTreeMap<(&str, &str), [Arc<str>; 3]> = regimes
        .iter()
        .flat_map(|regime| {
            regime.criteria.iter().map(move |criterion| {
                let label = regime.criterion_label(criterion);
                (
                    (regime.id.as_str(), criterion.id.as_str()),
                    [criterion.id.as_str().into(), criterion.name_ja.as_str().into(), label.into()],
                )
            })
        })
        .collect();
    let by_regime: BTreeMap<&str, &Regime> = regimes.iter().map(|r| (r.id.as_str(), *r)).collect();
    let criteria_met: BTreeMap<(&str, PeriodKind, &str, &str, &str), &crate::engine::CriterionRow> = results
        .criteria
        .iter()
        .map(|c| {
            (
                (
                    c.hospital_code.as_str(),
                    c.period_kind,
                    c.period.as_str(),
                    c.regime_id.as_str(),
                    c.criterion_id.as_str(),
                ),
                c,
            )
        })
        .collect();
    let metrics: BTreeMap<(&str, PeriodKind, &str, &str, MetricKind), &crate::engine::MetricRow> = results
        .metrics
        .iter()
        .map(|m| {
            ((m.hospital_code.as_str(), m.period_kind, m.period.as_str(), m.regime_id.as_str(), m.metric), m)
        })
        .collect();
    let mut rows = Vec::new();
    for v in &results.verdicts {
        let key = (v.hospital_code.as_str(), v.period_kind, v.period.as_str());
        let (Some(regime), Some(count_row)) = (by_regime.get(v.regime_id.as_str()), counts.get(&key)) else {
            continue;
        };
        // Exact when both sides are; otherwise an interval.
        let ratio = |kind: MetricKind| -> (Option<Ratio>, Option<RateRange>) {
            let Some(m) = metrics.get(&(key.0, key.1, key.2, v.regime_id.as_str(), kind)) else {
                return (None, None);
            };
            let scale = regime.metric(kind).unit.scale();
            let (Some(n), Some(d), Some(n_high), Some(d_high)) =
                (m.numerator, m.denominator, m.numerator_high, m.denominator_high)
            else {
                return (None, None);
            };
            if (n, d) == (n_high, d_high) {
                let exact = Ratio {
                    numerator: u64::try_from(n).unwrap_or(0),
                    denominator: u64::try_from(d).unwrap_or(0),
                    scale,
                };
                (Some(exact), None)
            } else {
                (None, RateRange::of((n, n_high), (d, d_high), scale))
            }
        };
        let (referral, referral_range) = ratio(MetricKind::Referral);
        let (reverse, reverse_range) = ratio(MetricKind::Reverse);
        let known = count_row.known();
        let missing_counts: Vec<Count> =
            regime.required_counts().into_iter().filter(|c| !count_row.has(*c)).collect();
        let masked = regime.required_counts().into_iter().any(|c| count_row.masked.contains_key(&c));
        let mut criteria = Vec::new();
        for criterion in &regime.criteria {
            // Decided by queries/regime_criteria.sql; only read here.
            let decided =
                criteria_met.get(&(key.0, key.1, key.2, v.regime_id.as_str(), criterion.id.as_str()));
            let met = decided.and_then(|c| c.met);
            // No gap from a masked count: it would be counted from a value nobody knows.
            let (referral_gap, reverse_gap) = if masked {
                (None, None)
            } else if met == Some(false) || (met.is_none() && missing_counts.is_empty()) {
                regime.criterion_gaps(criterion, &known)
            } else {
                (None, None)
            };
            let [id, name_ja, label] = names[&(regime.id.as_str(), criterion.id.as_str())].clone();
            criteria.push(CriterionResult {
                id,
                name_ja,
                label,
                met,
                undetermined: decided.is_some_and(|c| c.undetermined),
                on_boundary: decided.is_some_and(|c| c.on_line),
                referral_gap,
                reverse_gap,
            });
        }
        let (period_kind, verdict) = (v.period_kind, v.verdict);
        let (referral_gap, reverse_gap) = if verdict == Verdict::Pass {
            (None, None)
        } else {
            nearest_criterion(&criteria).map(|c| (c.referral_gap, c.reverse_gap)).unwrap_or((None, None))
        };
        rows.push(RateRow {
            hospital_code: v.hospital_code.clone(),
            period_kind,
            period: v.period.clone(),
            regime_id: v.regime_id.clone(),
            counts: Arc::clone(count_row),
            referral,
            reverse,
            referral_range,
            reverse_range,
            referral_unit: regime.referral.unit.symbol(),
            reverse_unit: regime.reverse.unit.symbol(),
            verdict,
            met_criteria: v.met_criteria.clone(),
            on_boundary: v.on_boundary,
            criteria,
            referral_gap,
            reverse_gap,
            missing_counts,
            pace: None,
            forecast: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pace_rounds_up() {
        let p = YearProgress::under_way(Some("2025-06")).unwrap();
        assert_eq!(p.months_left, 9);
        assert_eq!(p.per_month(Some(37)), Some(5));
        assert_eq!(p.per_month(Some(36)), Some(4));
        assert_eq!(p.per_month(Some(1)), Some(1));
        assert_eq!(p.per_month(Some(0)), Some(0));
        assert_eq!(p.per_month(None), None);
    }

    #[test]
    fn progress_of_the_year_under_way_only() {
        let p = YearProgress::under_way(Some("2025-06")).unwrap();
        assert_eq!((p.fiscal_year, p.months_elapsed, p.months_left), (2025, 3, 9));
        let p = YearProgress::under_way(Some("2026-02")).unwrap();
        assert_eq!((p.fiscal_year, p.months_left), (2025, 1));
        assert!(YearProgress::under_way(Some("2026-03")).is_none(), "March has data: the year is over");
        assert!(YearProgress::under_way(None).is_none());
        assert!(YearProgress::under_way(Some("2025-13")).is_none());
    }

    fn criterion(id: &str, met: Option<bool>, gaps: (Option<u64>, Option<u64>)) -> CriterionResult {
        CriterionResult {
            id: id.into(),
            name_ja: format!("基準{id}").into(),
            label: "".into(),
            met,
            undetermined: false,
            on_boundary: false,
            referral_gap: gaps.0,
            reverse_gap: gaps.1,
        }
    }

    #[test]
    fn nearest_criterion_counts_a_kind_it_does_not_need_as_zero() {
        // B needs 30 referred and 10 reverse (40 events); C needs only 35 reverse: C is nearer.
        let criteria = [
            criterion("B", Some(false), (Some(30), Some(10))),
            criterion("C", Some(false), (None, Some(35))),
        ];
        assert_eq!(nearest_criterion(&criteria).map(|c| &*c.id), Some("C"));
        // A met criterion, or one no number of events can reach, is never the nearest.
        let criteria = [criterion("A", Some(true), (None, None)), criterion("B", Some(false), (None, None))];
        assert!(nearest_criterion(&criteria).is_none());
        // A tie goes to the first in the regime's order.
        let criteria =
            [criterion("B", Some(false), (Some(5), None)), criterion("C", Some(false), (None, Some(5)))];
        assert_eq!(nearest_criterion(&criteria).map(|c| &*c.id), Some("B"));
    }
}
