//! The year-end forecast for the fiscal year under way: the projected fiscal-year rates, an
//! 80 % interval, and the probability of meeting the regime, from the months so far.
//!
//! Method (a seasonally adjusted monthly bootstrap; `docs/FORECAST.md` has the backtest):
//! 1. The hospital's monthly counts of the year so far (months 1..m of the fiscal year) are
//!    the sample. A month's counts are drawn together, so a month's referred and initial
//!    patients stay paired.
//! 2. Seasonality: where earlier fiscal years are complete, each count's factor for month k
//!    is its mean in month k over those years divided by its mean over their months 1..m;
//!    without history every factor is 1.
//! 3. Each simulated year first resamples the months so far (with replacement: what the
//!    year's level might be, since a few months say little about it), then adds, for every
//!    month k still to come, a month j drawn from that resample with its counts scaled by
//!    factor(k) / factor(j), and a Poisson draw around that value.
//! 4. The simulated fiscal-year totals go through the engine's SQL as reported years: the
//!    rates and whether the regime is met are decided where they always are. The interval is
//!    the 10th to the 90th percentile of the simulated rates, the point is the median, the
//!    probability is the share of simulated years that pass.
//!
//! No forecast with fewer than [`MIN_MONTHS`] months: the sample would be too small to say
//! anything; the page says so.

use std::collections::BTreeMap;

use futures::StreamExt;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};

use crate::engine::{Engine, EngineError, MonthlyRow};
use crate::ingest::{ReportedPeriod, ReportedRow};
use crate::periods::{PeriodKind, months_of_fiscal_year};
use crate::regimes::{Count, MetricKind, Regime};

/// Fewer months than this give no forecast.
pub(crate) const MIN_MONTHS: usize = 3;

/// Simulated years per forecast.
pub(crate) const SIMULATIONS: usize = 400;

/// A rate's forecast, in its unit (% or ‰), one decimal for display.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct RateBand {
    pub point: f64,
    pub low: f64,
    pub high: f64,
}

/// The forecast of one hospital, fiscal year and regime.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct Forecast {
    pub hospital_code: String,
    pub fiscal_year: i32,
    pub regime_id: String,
    pub months_used: u32,
    /// Whether complete earlier years gave seasonal factors.
    pub seasonal: bool,
    pub referral: Option<RateBand>,
    pub reverse: Option<RateBand>,
    /// The share of simulated years that pass, 0 to 1.
    pub pass_probability: f64,
}

/// One hospital's monthly counts of the needed counts, by month (`2025-04`).
type Months = BTreeMap<String, Vec<u64>>;

fn vector(row: &MonthlyRow, counts: &[Count]) -> Option<Vec<u64>> {
    counts.iter().map(|c| row.get(*c)).collect()
}

/// Seasonal factors per (month index 0..12, count) from complete earlier fiscal years, relative
/// to their months `0..m`; `None` without a complete earlier year.
fn seasonal_factors(months: &Months, fy: i32, m: usize, width: usize) -> Option<Vec<Vec<f64>>> {
    let mut sums = vec![vec![0.0; width]; 12];
    let mut years = 0usize;
    for year in (fy - 5)..fy {
        let names = months_of_fiscal_year(year);
        let Some(values): Option<Vec<&Vec<u64>>> = names.iter().map(|n| months.get(n)).collect() else {
            continue;
        };
        let base: Vec<f64> =
            (0..width).map(|c| values[..m].iter().map(|v| v[c] as f64).sum::<f64>() / m as f64).collect();
        if base.iter().any(|b| *b <= 0.0) {
            continue;
        }
        for (k, v) in values.iter().enumerate() {
            for c in 0..width {
                sums[k][c] += v[c] as f64 / base[c];
            }
        }
        years += 1;
    }
    (years > 0)
        .then(|| sums.into_iter().map(|row| row.into_iter().map(|s| s / years as f64).collect()).collect())
}

/// Simulated fiscal-year totals of `counts` for the year `fy`, from the months so far (and the
/// earlier years for seasonality). `None` with fewer than [`MIN_MONTHS`] months or a year
/// already complete.
pub(crate) fn simulate(
    months: &Months,
    fy: i32,
    width: usize,
    simulations: usize,
    seed: u64,
) -> Option<(Vec<Vec<u64>>, usize, bool)> {
    let names = months_of_fiscal_year(fy);
    // The months so far: from April, without a gap.
    let observed: Vec<&Vec<u64>> = names.iter().map_while(|n| months.get(n)).collect();
    let m = observed.len();
    if !(MIN_MONTHS..12).contains(&m) {
        return None;
    }
    let factors = seasonal_factors(months, fy, m, width);
    let factor = |k: usize, c: usize| factors.as_ref().map_or(1.0, |f| f[k][c]);
    let so_far: Vec<u64> = (0..width).map(|c| observed.iter().map(|v| v[c]).sum()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(simulations);
    for _ in 0..simulations {
        let mut total = so_far.clone();
        // Two stages: a resample of the months so far stands for what the year's level might
        // be (a few months say little about it), then each month to come is drawn from it.
        let level: Vec<usize> = (0..m).map(|_| rng.random_range(0..m)).collect();
        for k in m..12 {
            let j = level[rng.random_range(0..m)];
            for c in 0..width {
                let mean = observed[j][c] as f64 * factor(k, c) / factor(j, c).max(f64::MIN_POSITIVE);
                let draw = if mean > 0.0 {
                    Poisson::new(mean).map(|p| p.sample(&mut rng) as u64).unwrap_or(0)
                } else {
                    0
                };
                total[c] += draw;
            }
        }
        out.push(total);
    }
    Some((out, m, factors.is_some()))
}

/// Simulated years evaluated in one engine session: the engine's rows of a simulated year are
/// held until its session ends, so the hospitals are forecast a group at a time (25 at
/// [`SIMULATIONS`]), two groups at once. All at once, 700 hospitals × 400 years peaked at
/// 1.7 GB; two groups of 25 take the peak of one group of 50 and 1.4 s less than one group of
/// 50 at a time (docs/BENCHMARKS.md, 2026-12-07).
const SIMULATED_YEARS_PER_SESSION: usize = 10_000;

/// The forecasts of every hospital with a fiscal year `fy` under way, for each regime, in
/// regime order then hospital order. Hospitals with too few months get none. One set of
/// simulated years per hospital (over the counts any of the regimes needs) is evaluated under
/// every regime in one engine session, for a group of hospitals at a time (two groups at once,
/// on tasks of their own): each hospital's forecast depends only on its own months and its
/// position among all hospitals (its seed), never on the group it was evaluated with.
pub(crate) async fn forecasts(
    monthly: &[MonthlyRow],
    fy: i32,
    regimes: &[&Regime],
    simulations: usize,
    seed: u64,
) -> Result<Vec<Forecast>, EngineError> {
    let per_session = SIMULATED_YEARS_PER_SESSION / simulations.max(1);
    forecasts_in_groups(monthly, fy, regimes, simulations, seed, per_session).await
}

/// The counts any of `regimes` needs, once each and in order: a simulated year's columns.
fn needed_counts(regimes: &[&Regime]) -> Vec<Count> {
    let mut counts: Vec<Count> = regimes.iter().flat_map(|r| r.required_counts()).collect();
    counts.sort();
    counts.dedup();
    counts
}

/// [`forecasts`], evaluating at most `hospitals_per_session` hospitals' simulated years in one
/// engine session (at least one).
async fn forecasts_in_groups(
    monthly: &[MonthlyRow],
    fy: i32,
    regimes: &[&Regime],
    simulations: usize,
    seed: u64,
    hospitals_per_session: usize,
) -> Result<Vec<Forecast>, EngineError> {
    let counts = needed_counts(regimes);
    let mut by_hospital: BTreeMap<&str, Months> = BTreeMap::new();
    for row in monthly {
        if let Some(v) = vector(row, &counts) {
            by_hospital.entry(row.hospital_code.as_str()).or_default().insert(row.month.clone(), v);
        }
    }
    // The seed of a hospital is its position among all of them.
    let hospitals: Vec<(usize, String, Months)> = by_hospital
        .into_iter()
        .enumerate()
        .map(|(h, (code, months))| (h, code.to_string(), months))
        .collect();
    let mut groups = Vec::new();
    let mut rest = hospitals.into_iter().peekable();
    while rest.peek().is_some() {
        groups.push(rest.by_ref().take(hospitals_per_session.max(1)).collect::<Vec<_>>());
    }
    // Two groups at a time, one per core; their forecasts are taken in group order.
    let owned: std::sync::Arc<(Vec<Regime>, Vec<Count>)> =
        std::sync::Arc::new((regimes.iter().map(|r| (*r).clone()).collect(), counts));
    let mut evaluated = futures::stream::iter(groups.into_iter().map(|group| {
        let owned = owned.clone();
        AbortOnDrop(tokio::spawn(async move {
            let (regimes, counts) = &*owned;
            let regimes: Vec<&Regime> = regimes.iter().collect();
            forecast_group(&group, fy, &regimes, counts, simulations, seed).await
        }))
    }))
    .buffered(2);
    let mut by_regime: Vec<Vec<Forecast>> = vec![Vec::new(); regimes.len()];
    while let Some(joined) = evaluated.next().await {
        let forecast = match joined {
            Ok(forecast) => forecast?,
            Err(e) => {
                std::panic::resume_unwind(e.try_into_panic().expect("forecast tasks are never cancelled"))
            }
        };
        for (all, of_group) in by_regime.iter_mut().zip(forecast) {
            all.extend(of_group);
        }
    }
    Ok(by_regime.into_iter().flatten().collect())
}

/// A spawned task that is aborted when its handle is dropped unfinished: when one forecast
/// group fails, the group evaluated beside it stops instead of running to an end nobody reads.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

/// The forecasts of `hospitals` (each with its position among all, its code and its months),
/// per regime.
async fn forecast_group(
    hospitals: &[(usize, String, Months)],
    fy: i32,
    regimes: &[&Regime],
    counts: &[Count],
    simulations: usize,
    seed: u64,
) -> Result<Vec<Vec<Forecast>>, EngineError> {
    let mut rows = Vec::new();
    let mut meta = Vec::new();
    for (h, code, months) in hospitals {
        let Some((sims, m, seasonal)) =
            simulate(months, fy, counts.len(), simulations, seed ^ (*h as u64) << 20)
        else {
            continue;
        };
        for (s, totals) in sims.iter().enumerate() {
            rows.push(ReportedRow {
                hospital_code: format!("{code}~{s}"),
                period: ReportedPeriod::FiscalYear(fy),
                counts: counts.iter().zip(totals).map(|(c, v)| (c.name().to_string(), *v)).collect(),
                masked: Default::default(),
                line: 0,
            });
        }
        meta.push((code.to_string(), m, seasonal));
    }
    if rows.is_empty() {
        return Ok(vec![Vec::new(); regimes.len()]);
    }
    let engine =
        Engine::for_counts(vec![crate::warehouse::schema::reported_batch(&rows, "forecast")], regimes)?;
    drop(rows);
    engine.monthly_counts().await?;
    let months: std::collections::BTreeSet<String> = months_of_fiscal_year(fy).into_iter().collect();
    let results = engine.evaluate(&crate::periods::calendar(PeriodKind::FiscalYear, &months)).await?;
    drop(engine);
    // Simulated rows by hospital, so each lookup reads only its own.
    let hospital_of = |key: &str| key.split_once('~').map_or(key.to_string(), |(code, _)| code.to_string());
    let mut metrics: BTreeMap<(String, &str, MetricKind), Vec<f64>> = BTreeMap::new();
    for r in &results.metrics {
        let Some(regime) = regimes.iter().find(|g| g.id == r.regime_id) else { continue };
        if let (Some(n), Some(d)) = (r.numerator, r.denominator)
            && d > 0
        {
            let scale = regime.metric(r.metric).unit.scale() as f64;
            metrics
                .entry((hospital_of(&r.hospital_code), regime.id.as_str(), r.metric))
                .or_default()
                .push(n as f64 / d as f64 * scale);
        }
    }
    let mut passes: BTreeMap<(String, &str), (usize, usize)> = BTreeMap::new();
    for v in &results.verdicts {
        let Some(regime) = regimes.iter().find(|g| g.id == v.regime_id) else { continue };
        let e = passes.entry((hospital_of(&v.hospital_code), regime.id.as_str())).or_default();
        e.0 += usize::from(v.verdict == crate::domain::Verdict::Pass);
        e.1 += 1;
    }
    drop(results);
    let mut out = Vec::with_capacity(regimes.len());
    for regime in regimes {
        let mut of_regime = Vec::with_capacity(meta.len());
        for (code, m, seasonal) in &meta {
            let rates = |kind: MetricKind| {
                metrics.get(&(code.clone(), regime.id.as_str(), kind)).cloned().unwrap_or_default()
            };
            let (passed, of) = passes.get(&(code.clone(), regime.id.as_str())).copied().unwrap_or((0, 0));
            of_regime.push(Forecast {
                hospital_code: code.clone(),
                fiscal_year: fy,
                regime_id: regime.id.clone(),
                months_used: *m as u32,
                seasonal: *seasonal,
                referral: band(rates(MetricKind::Referral)),
                reverse: band(rates(MetricKind::Reverse)),
                pass_probability: if of == 0 { 0.0 } else { passed as f64 / of as f64 },
            });
        }
        out.push(of_regime);
    }
    Ok(out)
}

/// The median and the 10th and 90th percentiles (nearest rank).
fn band(mut values: Vec<f64>) -> Option<RateBand> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((q * (values.len() - 1) as f64).round() as usize).min(values.len() - 1)];
    Some(RateBand { point: at(0.5), low: at(0.1), high: at(0.9) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn months(values: &[(&str, [u64; 2])]) -> Months {
        values.iter().map(|(m, v)| (m.to_string(), v.to_vec())).collect()
    }

    #[test]
    fn too_few_months_or_a_complete_year_give_no_forecast() {
        let two = months(&[("2025-04", [10, 5]), ("2025-05", [10, 5])]);
        assert!(simulate(&two, 2025, 2, 10, 1).is_none());
        let all: Vec<(String, [u64; 2])> =
            months_of_fiscal_year(2025).into_iter().map(|m| (m, [10, 5])).collect();
        let all: Months = all.into_iter().map(|(m, v)| (m, v.to_vec())).collect();
        assert!(simulate(&all, 2025, 2, 10, 1).is_none());
        // A gap after April stops the sample there.
        let gap = months(&[("2025-04", [10, 5]), ("2025-06", [10, 5]), ("2025-07", [10, 5])]);
        assert!(simulate(&gap, 2025, 2, 10, 1).is_none());
    }

    /// Identical months and no history: every simulated month is a Poisson draw around the
    /// same counts, so the year's expected totals are 12 × the month, the observed months add
    /// exactly what they were, and the spread is that of 9 Poisson months (known answer).
    #[test]
    fn a_flat_year_projects_twelve_times_its_month() {
        let m = months(&[("2025-04", [100, 60]), ("2025-05", [100, 60]), ("2025-06", [100, 60])]);
        let (sims, used, seasonal) = simulate(&m, 2025, 2, 4000, 7).unwrap();
        assert_eq!((used, seasonal), (3, false));
        let mean = |c: usize| sims.iter().map(|s| s[c] as f64).sum::<f64>() / sims.len() as f64;
        assert!((mean(0) - 1200.0).abs() < 3.0, "{}", mean(0));
        assert!((mean(1) - 720.0).abs() < 3.0, "{}", mean(1));
        // Variance of 900 remaining initial patients as Poisson: 900 (sd 30).
        let var = sims.iter().map(|s| (s[0] as f64 - mean(0)).powi(2)).sum::<f64>() / sims.len() as f64;
        assert!((var - 900.0).abs() < 90.0, "{var}");
        assert!(sims.iter().all(|s| s[0] >= 300), "the observed months are always in");
    }

    /// History where every July to March month has twice April–June's counts: the factors
    /// double the months to come.
    #[test]
    fn seasonal_factors_come_from_complete_earlier_years() {
        let mut m: Months = Months::new();
        for (i, month) in months_of_fiscal_year(2024).into_iter().enumerate() {
            let v = if i < 3 { 100 } else { 200 };
            m.insert(month, vec![v, v / 2]);
        }
        for month in ["2025-04", "2025-05", "2025-06"] {
            m.insert(month.into(), vec![50, 25]);
        }
        let (sims, _, seasonal) = simulate(&m, 2025, 2, 4000, 3).unwrap();
        assert!(seasonal);
        let mean = sims.iter().map(|s| s[0] as f64).sum::<f64>() / sims.len() as f64;
        // 150 so far + 9 months × 100.
        assert!((mean - 1050.0).abs() < 4.0, "{mean}");
    }

    /// A forecast group's task dropped unfinished (the group beside it failed) is aborted: it
    /// lets go of what it holds instead of running on. Detached, the task below would wait on its
    /// channel for ever.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_forecast_task_dropped_unfinished_stops() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = AbortOnDrop(tokio::spawn(async move {
            let _ = rx.await;
        }));
        tokio::task::yield_now().await;
        drop(task);
        for _ in 0..100_000 {
            if tx.is_closed() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(tx.is_closed(), "the task still holds its channel");
    }

    /// Hospitals are forecast a group at a time (memory); a hospital's forecast must not depend
    /// on the group it was in, nor the order of the forecasts on the grouping.
    #[tokio::test]
    async fn forecasting_in_groups_gives_what_forecasting_all_at_once_gives() {
        let set = crate::regimes::RegimeSet::builtin();
        let regimes = [set.get("chiiki-shien-2014").unwrap(), set.get("chiiki-shien-2004").unwrap()];
        let counts = needed_counts(&regimes);
        let mut monthly = Vec::new();
        for h in 0..5u64 {
            let fy2025 = months_of_fiscal_year(2025).into_iter().take(3 + h as usize);
            for (i, month) in months_of_fiscal_year(2024).into_iter().chain(fy2025).enumerate() {
                let base = 40 + 7 * h + (i as u64 * 13 + h * 5) % 17;
                monthly.push(MonthlyRow {
                    hospital_code: format!("13000{h}0000"),
                    month,
                    counts: counts.iter().enumerate().map(|(k, c)| (*c, base * (k as u64 + 2) / 3)).collect(),
                    masked: Default::default(),
                });
            }
        }
        let all = forecasts_in_groups(&monthly, 2025, &regimes, 60, 9, usize::MAX).await.unwrap();
        assert_eq!(all.len(), 5 * 2, "a forecast per hospital and regime");
        assert!(all.iter().all(|f| f.referral.is_some() && f.reverse.is_some()), "{all:?}");
        assert!(all.windows(2).any(|w| w[0].referral != w[1].referral), "hospitals differ: {all:?}");
        for per_session in [1, 2, 3] {
            let grouped = forecasts_in_groups(&monthly, 2025, &regimes, 60, 9, per_session).await.unwrap();
            assert_eq!(grouped, all, "{per_session} hospital(s) per session");
        }
    }

    #[test]
    fn bands_are_nearest_rank_percentiles() {
        let b = band((1..=11).map(f64::from).collect()).unwrap();
        assert_eq!((b.low, b.point, b.high), (2.0, 6.0, 10.0));
        assert!(band(Vec::new()).is_none());
    }
}

/// The forecast checked on generated multi-year data (`refrate forecast-backtest`, `make
/// backtest`): each past fiscal year of each generated hospital is forecast from its first 3,
/// 6 and 9 months (with the earlier years for seasonality), and compared with what the year
/// turned out to be.
pub(crate) mod backtest {
    use super::*;

    /// What to generate.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Spec {
        pub hospitals: u32,
        /// Complete fiscal years per hospital; all but the first are forecast.
        pub years: u32,
        pub simulations: usize,
        pub seed: u64,
    }

    /// The figures of one cutoff (months used).
    #[derive(Debug, Clone, PartialEq, serde::Serialize)]
    pub(crate) struct Row {
        pub months: u32,
        pub forecasts: usize,
        /// Share of years whose realised 紹介率 fell inside the 80 % interval.
        pub referral_coverage: f64,
        pub reverse_coverage: f64,
        /// Mean squared error of the pass probability against the realised verdict.
        pub brier: f64,
        /// The Brier score of always saying the share of years that passed (the baseline).
        pub brier_baseline: f64,
        /// Mean width of the 紹介率 interval, in percentage points.
        pub referral_width: f64,
    }

    /// A generated hospital's monthly counts (initial, referred, reverse) with what real
    /// series have: a size, a seasonal swing, a rate near a threshold that drifts from year to
    /// year (a random walk), month-to-month overdispersion (a gamma-distributed month effect)
    /// and Poisson counts.
    fn generate(spec: &Spec, rng: &mut ChaCha8Rng) -> Vec<(String, Months)> {
        use rand_distr::{Gamma, Normal};
        let first_fy = 2020;
        (0..spec.hospitals)
            .map(|h| {
                let code = format!("{:010}", 1_000_000 + h);
                let size = 300.0 + 900.0 * rng.random::<f64>();
                let mut referral: f64 = 0.55 + 0.35 * rng.random::<f64>();
                let mut reverse: f64 = 0.30 + 0.60 * rng.random::<f64>();
                let swing = 0.05 + 0.15 * rng.random::<f64>();
                let month_effect = Gamma::new(40.0, 1.0 / 40.0).expect("valid gamma");
                let drift = Normal::new(0.0, 0.03).expect("valid normal");
                let mut months = Months::new();
                for y in 0..spec.years as i32 {
                    let fy = first_fy + y;
                    referral = (referral + drift.sample(rng)).clamp(0.2, 0.98);
                    reverse = (reverse + drift.sample(rng)).clamp(0.1, 1.5);
                    for (k, month) in months_of_fiscal_year(fy).into_iter().enumerate() {
                        let season = 1.0 + swing * (std::f64::consts::TAU * k as f64 / 12.0).cos();
                        let effect = month_effect.sample(rng);
                        let poisson = |mean: f64, rng: &mut ChaCha8Rng| {
                            Poisson::new(mean.max(0.1)).map(|p| p.sample(rng) as u64).unwrap_or(0)
                        };
                        let initial = poisson(size * season * effect, rng);
                        // A month's referral share varies around the year's.
                        let share = (referral * (1.0 + 0.04 * drift.sample(rng) / 0.03)).clamp(0.0, 1.0);
                        let referred =
                            rand_distr::Binomial::new(initial, share).map(|b| b.sample(rng)).unwrap_or(0);
                        let reverse_count = poisson(initial as f64 * reverse, rng);
                        months.insert(month, vec![initial, referred, reverse_count]);
                    }
                }
                (code, months)
            })
            .collect()
    }

    /// Runs the backtest under `regime` (its counts must be initial, referred and reverse:
    /// `chiiki-shien-2014` or `juten-gairai`).
    pub(crate) async fn run(spec: &Spec, regime: &Regime) -> Result<Vec<Row>, EngineError> {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let hospitals = generate(spec, &mut rng);
        let counts = [Count::InitialPatients, Count::ReferredPatients, Count::ReverseReferredPatients];
        assert_eq!(
            regime.required_counts(),
            counts.to_vec(),
            "the backtest generates initial, referred and reverse"
        );
        let monthly_of = |code: &str, months: &Months| -> Vec<MonthlyRow> {
            months
                .iter()
                .map(|(month, v)| MonthlyRow {
                    hospital_code: code.to_string(),
                    month: month.clone(),
                    counts: counts.iter().copied().zip(v.iter().copied()).collect(),
                    masked: Default::default(),
                })
                .collect()
        };
        // What each year turned out to be, through the same SQL.
        let mut actual_rows = Vec::new();
        for (code, months) in &hospitals {
            for y in 0..spec.years as i32 {
                let fy = 2020 + y;
                let totals: Vec<u64> =
                    (0..3).map(|c| months_of_fiscal_year(fy).iter().map(|m| months[m][c]).sum()).collect();
                actual_rows.push(ReportedRow {
                    hospital_code: code.clone(),
                    period: ReportedPeriod::FiscalYear(fy),
                    counts: counts.iter().zip(&totals).map(|(c, v)| (c.name().to_string(), *v)).collect(),
                    masked: Default::default(),
                    line: 0,
                });
            }
        }
        let engine = Engine::for_counts(
            vec![crate::warehouse::schema::reported_batch(&actual_rows, "actual")],
            &[regime],
        )?;
        engine.monthly_counts().await?;
        let all: std::collections::BTreeSet<String> =
            (0..spec.years as i32).flat_map(|y| months_of_fiscal_year(2020 + y)).collect();
        let actual = engine.evaluate(&crate::periods::calendar(PeriodKind::FiscalYear, &all)).await?;
        let realised = |code: &str, fy: i32, kind: MetricKind| -> Option<f64> {
            actual
                .metrics
                .iter()
                .find(|m| m.hospital_code == code && m.period == fy.to_string() && m.metric == kind)
                .and_then(|m| match (m.numerator, m.denominator) {
                    (Some(n), Some(d)) if d > 0 => {
                        Some(n as f64 / d as f64 * regime.metric(kind).unit.scale() as f64)
                    }
                    _ => None,
                })
        };
        let passed = |code: &str, fy: i32| {
            actual.verdicts.iter().any(|v| {
                v.hospital_code == code
                    && v.period == fy.to_string()
                    && v.verdict == crate::domain::Verdict::Pass
            })
        };
        let mut rows = Vec::new();
        for cutoff in [3usize, 6, 9] {
            let (mut n, mut in_ref, mut in_rev, mut brier, mut width) = (0usize, 0usize, 0usize, 0.0, 0.0);
            let mut outcomes = Vec::new();
            for y in 1..spec.years as i32 {
                let fy = 2020 + y;
                // The data as it stood after `cutoff` months of `fy`.
                let visible: Vec<MonthlyRow> = hospitals
                    .iter()
                    .flat_map(|(code, months)| {
                        let keep: Months = months
                            .iter()
                            .filter(|(m, _)| {
                                let idx = months_of_fiscal_year(fy).iter().position(|x| x == *m);
                                crate::periods::fiscal_year_of(m).is_some_and(|f| f < fy)
                                    || idx.is_some_and(|i| i < cutoff)
                            })
                            .map(|(m, v)| (m.clone(), v.clone()))
                            .collect();
                        monthly_of(code, &keep)
                    })
                    .collect();
                for f in forecasts(
                    &visible,
                    fy,
                    &[regime],
                    spec.simulations,
                    spec.seed ^ (fy as u64) << 8 ^ cutoff as u64,
                )
                .await?
                {
                    let (Some(r_band), Some(v_band)) = (&f.referral, &f.reverse) else { continue };
                    let (Some(r), Some(v)) = (
                        realised(&f.hospital_code, fy, MetricKind::Referral),
                        realised(&f.hospital_code, fy, MetricKind::Reverse),
                    ) else {
                        continue;
                    };
                    n += 1;
                    in_ref += usize::from(r_band.low <= r && r <= r_band.high);
                    in_rev += usize::from(v_band.low <= v && v <= v_band.high);
                    let outcome = if passed(&f.hospital_code, fy) { 1.0 } else { 0.0 };
                    brier += (f.pass_probability - outcome).powi(2);
                    width += r_band.high - r_band.low;
                    outcomes.push(outcome);
                }
            }
            let base_rate = outcomes.iter().sum::<f64>() / outcomes.len().max(1) as f64;
            let baseline =
                outcomes.iter().map(|o| (base_rate - o).powi(2)).sum::<f64>() / outcomes.len().max(1) as f64;
            let d = n.max(1) as f64;
            rows.push(Row {
                months: cutoff as u32,
                forecasts: n,
                referral_coverage: in_ref as f64 / d,
                reverse_coverage: in_rev as f64 / d,
                brier: brier / d,
                brier_baseline: baseline,
                referral_width: width / d,
            });
        }
        Ok(rows)
    }
}
