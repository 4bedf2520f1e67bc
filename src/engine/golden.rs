//! Golden results: every `queries/*.sql` run on one small hand-made fixture, its whole result
//! (every column, with its Arrow type) pinned as a text table in `snapshots/`. A change in any
//! query, or in what the engine registers for it, shows in review as a snapshot diff.
//!
//! `counted_events.sql` (the counting rules, one row per event) has a golden of its own; the
//! three queries that sum it must not change when a rule is rewritten there without changing
//! its meaning.
//!
//! Each query runs as the engine runs it: [`fixture`] goes through `monthly_counts`, `evaluate`
//! and the breakdowns, so the tables a query reads (`counted_events`, `monthly_counts`,
//! `period_counts`, `regime_metrics`, `regime_conditions_evaluated`, `regime_criteria`,
//! `periods`, `fiscal_months`) are the ones
//! the engine registered; the golden then runs the query's own SQL text once more and renders
//! what it returns. Queries with an `ORDER BY` are rendered in their own order (it is part of
//! what they promise); those without one are sorted (on every column, or on a key), so the
//! snapshot does not depend on how DataFusion scheduled the work.
//!
//! The fixture, hand-computed (the snapshots must agree with these lines):
//!
//! Hospital H1 `0110113719` sends event logs, departments 内科 and 外科, partners A and B
//! (not related to the founder) and R (related):
//! - 2024-04: first visits 内科 with a letter from A, 内科 letter B, 外科 no letter; a referral
//!   out to A. → first 3, initial 3, referred 2, reverse 1.
//! - 2025-04: first visits 内科 letter A; 外科 letter R (related: initial, not referred);
//!   内科 letter B by ambulance *and* at night (two exclusion groups: first visit, ambulance,
//!   after-hours and emergency once each, not initial, so not referred either); 外科 from a
//!   checkup; 外科 no letter. Referrals out to A, to R (related: not counted) and one with no
//!   partner code (counted; absent from the partner breakdown). Return visits: one plain, one
//!   by ambulance and one at night (only the plain one counts).
//!   → first 5, ambulance 1, after-hours 1, checkup 1, initial 3, referred 1, reverse 2,
//!   return 1, emergency 1.
//! - 2025-05: a first visit 内科 letter A; a referral out 外科 to B.
//!   → first 1, initial 1, referred 1, reverse 1 (no month twelve months earlier).
//!
//! Hospital H2 `1312345679` reports monthly counts:
//! - 2025-04: initial 100, referred 65, emergency 5, reverse 30, return 900 (first 120,
//!   ambulance 5, after-hours 10, checkup 5). chiiki-shien-2014: referral exactly 65 % → B
//!   (> 65) not met on the line; fail, on boundary. shinryo-2022: 70 % and 30 / 1000 = exactly
//!   30 ‰ (≥ 30) met on the line; pass, on boundary.
//! - 2025-05: referred 85 of 100, and the reverse count is not reported (NULL) →
//!   not_computable in both regimes, and in FY2025. chiiki-shien-2014's A (referral ≥ 80, no
//!   reverse condition) is met all the same: the verdict stays not_computable while
//!   `met_criteria` names A (the criteria met, read from regime_criteria.sql, not a judgement).
//! - 2025-06: every count 0 but reverse 3 → zero denominators, no_data.
//!
//! Hospital H3 `2710123452` reports FY2024 as one figure: initial 200, referred 160, reverse
//! 90, return 3000, emergency 20 (first 250, ambulance 20, after-hours 20, checkup 10).
//! chiiki-shien-2014: 160 / 200 = exactly 80 % (A is ≥ 80: met on the line), 45 % → A and B;
//! shinryo-2022: 90 %, 90 / 3200 = 28.1 ‰ → fail. FY2025 without return visits: initial 200,
//! referred 150, reverse 100, emergency 10 → chiiki-shien-2014 75 % / 50 %, B → pass; shinryo-2022
//! needs the missing count on one of two terms of its denominator → not_computable.
//!
//! H1 in the regimes: 2024-04 (and FY2024) 66.7 % / 33.3 % → chiiki-shien-2014 fail (B needs
//! reverse > 40); 2025-05 100 % / 100 % → A, B and C; FY2025 2 / 4 = exactly 50 % with C's
//! "> 50" → fail on the line; shinryo-2022 passes every H1 period.
//!
//! Breakdowns of H1: departments 内科 and 外科 in both fiscal years; partner A referred 1 in
//! 2025-04 against 1 in 2024-04 (the one compared month; 2025-05 has no month a year earlier),
//! partner B 0 against 1 (a fall). R and the referral out without a partner never appear.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use datafusion::arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use datafusion::arrow::util::display::FormatOptions;
use datafusion::arrow::util::pretty::pretty_format_batches_with_options;

use super::*;
use crate::ingest::{Event, EventType, ReportedPeriod, ReportedRow};
use crate::periods::{PeriodKind, calendar};
use crate::regimes::RegimeSet;

const H1: &str = "0110113719";
const H2: &str = "1312345679";
const H3: &str = "2710123452";
const PARTNER_A: &str = "1311111114";
const PARTNER_B: &str = "1312222225";
const RELATED: &str = "1313333336";

const INTERNAL: &str = "内科";
const SURGERY: &str = "外科";

/// The regimes of the fixture: the current 地域医療支援病院 rule (≥ and > thresholds, %) and
/// the fee-schedule rule (emergency in the numerator, ‰ over first + return visits).
const REGIMES: [&str; 2] = ["chiiki-shien-2014", "shinryo-2022"];

/// A plain event with no flags; the fixture overrides the fields that matter.
fn event(date: &str, event_type: EventType, department: &str) -> Event {
    Event {
        hospital_code: H1.to_string(),
        event_date: NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap(),
        event_type,
        patient_key: String::new(),
        department: department.to_string(),
        referral_letter: false,
        partner_code: None,
        partner_related: false,
        ambulance: false,
        after_hours_emergency: false,
        checkup_origin: false,
        line: 0,
        byte_offset: 0,
    }
}

fn partner(code: &str) -> Option<String> {
    Some(code.to_string())
}

fn events() -> RecordBatch {
    use EventType::{FirstVisit, ReferralOut, ReturnVisit};
    let mut events = vec![
        // 2024-04
        Event {
            referral_letter: true,
            partner_code: partner(PARTNER_A),
            ..event("2024-04-02", FirstVisit, INTERNAL)
        },
        Event {
            referral_letter: true,
            partner_code: partner(PARTNER_B),
            ..event("2024-04-03", FirstVisit, INTERNAL)
        },
        event("2024-04-04", FirstVisit, SURGERY),
        Event { partner_code: partner(PARTNER_A), ..event("2024-04-05", ReferralOut, INTERNAL) },
        // 2025-04
        Event {
            referral_letter: true,
            partner_code: partner(PARTNER_A),
            ..event("2025-04-01", FirstVisit, INTERNAL)
        },
        Event {
            referral_letter: true,
            partner_code: partner(RELATED),
            partner_related: true,
            ..event("2025-04-02", FirstVisit, SURGERY)
        },
        Event {
            referral_letter: true,
            partner_code: partner(PARTNER_B),
            ambulance: true,
            after_hours_emergency: true,
            ..event("2025-04-03", FirstVisit, INTERNAL)
        },
        Event { checkup_origin: true, ..event("2025-04-04", FirstVisit, SURGERY) },
        event("2025-04-07", FirstVisit, SURGERY),
        Event { partner_code: partner(PARTNER_A), ..event("2025-04-08", ReferralOut, INTERNAL) },
        Event {
            partner_code: partner(RELATED),
            partner_related: true,
            ..event("2025-04-09", ReferralOut, SURGERY)
        },
        event("2025-04-10", ReferralOut, INTERNAL),
        event("2025-04-11", ReturnVisit, INTERNAL),
        Event { ambulance: true, ..event("2025-04-14", ReturnVisit, INTERNAL) },
        Event { after_hours_emergency: true, ..event("2025-04-15", ReturnVisit, SURGERY) },
        // 2025-05
        Event {
            referral_letter: true,
            partner_code: partner(PARTNER_A),
            ..event("2025-05-01", FirstVisit, INTERNAL)
        },
        Event { partner_code: partner(PARTNER_B), ..event("2025-05-02", ReferralOut, SURGERY) },
    ];
    let mut builder = crate::warehouse::schema::EventBatchBuilder::new();
    for (i, e) in events.iter_mut().enumerate() {
        e.patient_key = format!("{i:032x}");
        e.line = i as u64 + 2;
        builder.push(e, &crate::warehouse::schema::month_of(e.event_date), "fixture.csv");
    }
    builder.finish()
}

fn reported(code: &str, period: ReportedPeriod, counts: &[(&str, u64)]) -> ReportedRow {
    ReportedRow {
        hospital_code: code.to_string(),
        period,
        counts: counts.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        masked: Default::default(),
        line: 2,
    }
}

fn reported_counts() -> RecordBatch {
    let month = |m: &str| ReportedPeriod::Month(m.to_string());
    let rows = [
        reported(
            H2,
            month("2025-04"),
            &[
                ("first_visits", 120),
                ("ambulance_first_visits", 5),
                ("after_hours_first_visits", 10),
                ("checkup_first_visits", 5),
                ("initial_patients", 100),
                ("referred_patients", 65),
                ("reverse_referred_patients", 30),
                ("return_visits", 900),
                ("emergency_patients", 5),
            ],
        ),
        // No reverse_referred_patients: not reported.
        reported(
            H2,
            month("2025-05"),
            &[
                ("first_visits", 110),
                ("ambulance_first_visits", 5),
                ("after_hours_first_visits", 5),
                ("checkup_first_visits", 0),
                ("initial_patients", 100),
                ("referred_patients", 85),
                ("return_visits", 800),
                ("emergency_patients", 5),
            ],
        ),
        reported(
            H2,
            month("2025-06"),
            &[
                ("first_visits", 0),
                ("ambulance_first_visits", 0),
                ("after_hours_first_visits", 0),
                ("checkup_first_visits", 0),
                ("initial_patients", 0),
                ("referred_patients", 0),
                ("reverse_referred_patients", 3),
                ("return_visits", 0),
                ("emergency_patients", 0),
            ],
        ),
        reported(
            H3,
            ReportedPeriod::FiscalYear(2024),
            &[
                ("first_visits", 250),
                ("ambulance_first_visits", 20),
                ("after_hours_first_visits", 20),
                ("checkup_first_visits", 10),
                ("initial_patients", 200),
                ("referred_patients", 160),
                ("reverse_referred_patients", 90),
                ("return_visits", 3000),
                ("emergency_patients", 20),
            ],
        ),
        // No return_visits: only shinryo-2022 needs them (its ‰ denominator adds them).
        reported(
            H3,
            ReportedPeriod::FiscalYear(2025),
            &[
                ("first_visits", 240),
                ("ambulance_first_visits", 10),
                ("after_hours_first_visits", 20),
                ("checkup_first_visits", 10),
                ("initial_patients", 200),
                ("referred_patients", 150),
                ("reverse_referred_patients", 100),
                ("emergency_patients", 10),
            ],
        ),
    ];
    schema::reported_batch(&rows, "reported.csv")
}

/// The engine after a whole pass over the fixture, as `render_all` makes it: monthly counts,
/// then fiscal years and months evaluated, then both breakdowns over the months with data.
async fn fixture() -> Engine {
    let (engine, periods, months) = fixture_unevaluated().await;
    engine.evaluate(&periods).await.unwrap();
    engine.department_breakdown(&months).await.unwrap();
    engine.partner_breakdown(&months).await.unwrap();
    engine
}

/// The fixture's session with its monthly counts, the periods it is evaluated over, and its
/// months.
async fn fixture_unevaluated() -> (Engine, Vec<crate::periods::PeriodMonth>, BTreeSet<String>) {
    let set = RegimeSet::builtin();
    let regimes: Vec<&Regime> = REGIMES.iter().map(|id| set.get(id).unwrap()).collect();
    let engine = Engine::in_memory(vec![events()], vec![reported_counts()], &regimes).unwrap();
    let monthly = engine.monthly_counts().await.unwrap();
    let months: BTreeSet<String> = monthly.iter().map(|m| m.month.clone()).collect();
    let mut year_months = months.clone();
    year_months.extend(
        engine
            .reported_fiscal_years()
            .iter()
            .flat_map(|fy| [format!("{fy:04}-04"), format!("{:04}-03", fy + 1)]),
    );
    let mut periods = calendar(PeriodKind::FiscalYear, &year_months);
    periods.extend(calendar(PeriodKind::Month, &months));
    (engine, periods, months)
}

/// Whether the golden keeps the query's own row order.
#[derive(Clone, Copy)]
enum Order {
    /// The query has an `ORDER BY` on a key: its order is part of the result.
    AsQueried,
    /// The query has none: sort on every column, left to right.
    AllColumns,
    /// The query has none: sort on these columns (a key of its rows).
    Columns(&'static [&'static str]),
}

/// Runs `sql` on the fixture and renders every row and column (NULL spelled out).
async fn golden(query: &'static str, sql: &str, order: Order) -> String {
    let engine = fixture().await;
    table_text(&engine, query, sql, order).await
}

/// Every row and column of `sql` on `engine` (NULL spelled out), in `order`.
async fn table_text(engine: &Engine, query: &'static str, sql: &str, order: Order) -> String {
    let batches = engine.run(query, sql).await.unwrap();
    let schema = batches.first().map(|b| b.schema()).expect("the query returns at least one batch");
    let mut all = concat_batches(&schema, &batches).unwrap();
    let keys: Vec<ArrayRef> = match order {
        Order::AsQueried => Vec::new(),
        Order::AllColumns => all.columns().to_vec(),
        Order::Columns(names) => names.iter().map(|n| column(&all, query, n).unwrap().clone()).collect(),
    };
    if !keys.is_empty() {
        let keys: Vec<SortColumn> =
            keys.into_iter().map(|values| SortColumn { values, options: None }).collect();
        let indices = lexsort_to_indices(&keys, None).unwrap();
        all = take_record_batch(&all, &indices).unwrap();
    }
    assert!(all.num_rows() > 0, "{query} returned no rows on the fixture");
    let options = FormatOptions::default().with_null("NULL").with_types_info(true);
    format!(
        "{query}: {} rows\n{}",
        all.num_rows(),
        pretty_format_batches_with_options(&[all], &options).unwrap()
    )
}

#[tokio::test]
async fn counted_events() {
    insta::assert_snapshot!(
        golden(
            "counted_events.sql",
            sql::COUNTED_EVENTS,
            // One row per event: in the fixture's order.
            Order::Columns(&["source_file", "source_line"])
        )
        .await
    );
}

/// `counted_events` must stay a view: each counting query is planned straight down to the
/// `events` scan, with no table of its own in between (that would copy every event).
#[tokio::test]
async fn counted_events_is_a_view_planned_into_each_query() {
    let engine = fixture().await;
    let provider = engine.ctx.table_provider("counted_events").await.unwrap();
    assert_eq!(provider.table_type(), datafusion::datasource::TableType::View);
    for (query, sql) in [
        ("event_month_counts.sql", sql::EVENT_MONTH_COUNTS),
        ("monthly_counts.sql", sql::MONTHLY_COUNTS),
        ("department_breakdown.sql", breakdown_sql::DEPARTMENT_BREAKDOWN),
        ("partner_months.sql", breakdown_sql::PARTNER_MONTHS),
        ("month_breakdowns.sql", breakdown_sql::MONTH_BREAKDOWNS),
    ] {
        let plan = engine.ctx.sql(sql).await.unwrap().into_optimized_plan().unwrap();
        let plan = plan.display_indent().to_string();
        assert!(plan.contains("TableScan: events"), "{query} does not read events:\n{plan}");
        assert!(
            !plan.contains("TableScan: counted_events"),
            "{query} scans a stored counted_events:\n{plan}"
        );
    }
}

#[tokio::test]
async fn event_month_counts() {
    insta::assert_snapshot!(
        golden(
            "event_month_counts.sql",
            sql::EVENT_MONTH_COUNTS,
            Order::Columns(&["hospital_code", "month"])
        )
        .await
    );
}

#[tokio::test]
async fn monthly_counts() {
    insta::assert_snapshot!(golden("monthly_counts.sql", sql::MONTHLY_COUNTS, Order::AsQueried).await);
}

#[tokio::test]
async fn period_counts() {
    insta::assert_snapshot!(golden("period_counts.sql", sql::PERIOD_COUNTS, Order::AsQueried).await);
}

#[tokio::test]
async fn regime_metrics() {
    insta::assert_snapshot!(golden("regime_metrics.sql", sql::REGIME_METRICS, Order::AllColumns).await);
}

#[tokio::test]
async fn regime_conditions() {
    insta::assert_snapshot!(golden("regime_conditions.sql", sql::REGIME_CONDITIONS, Order::AllColumns).await);
}

#[tokio::test]
async fn regime_criteria() {
    insta::assert_snapshot!(golden("regime_criteria.sql", sql::REGIME_CRITERIA, Order::AsQueried).await);
}

/// Evaluated one hospital at a time, the fixture gives the rows of one evaluation of every
/// hospital, concatenated, and leaves the session's tables as it found them: the verdicts of
/// the fiscal years evaluated before (which the approval query reads), not every group's.
#[tokio::test]
async fn evaluating_hospital_by_hospital_gives_the_rows_of_one_evaluation_of_all() {
    let (engine, periods, _) = fixture_unevaluated().await;
    let whole = engine.evaluate(&periods).await.unwrap();
    let fiscal_years: Vec<_> =
        periods.iter().filter(|p| p.kind == PeriodKind::FiscalYear.name()).cloned().collect();
    assert!(!fiscal_years.is_empty() && fiscal_years.len() < periods.len());
    let tables = async |engine: &Engine| {
        let mut text = String::new();
        for table in ["regime_verdicts", "period_counts", "monthly_counts", "reported_counts"] {
            text += &table_text(engine, "table", &format!("SELECT * FROM {table}"), Order::AllColumns).await;
        }
        text
    };
    for limit in [1, usize::MAX] {
        let (engine, periods, _) = fixture_unevaluated().await;
        engine.evaluate(&fiscal_years).await.unwrap();
        let before = tables(&engine).await;
        let mut groups = Vec::new();
        engine
            .evaluate_by_hospital(&periods, limit, |results| {
                groups.push(results);
                Ok::<_, EngineError>(())
            })
            .await
            .unwrap();
        let hospitals =
            |r: &Results| r.counts.iter().map(|c| c.hospital_code.clone()).collect::<BTreeSet<_>>();
        let sizes: Vec<usize> = groups.iter().map(|g| hospitals(g).len()).collect();
        assert_eq!(sizes, if limit == 1 { vec![1, 1, 1] } else { vec![3] });
        let mut joined = Results::default();
        for g in groups {
            joined.counts.extend(g.counts);
            joined.metrics.extend(g.metrics);
            joined.criteria.extend(g.criteria);
            joined.verdicts.extend(g.verdicts);
        }
        assert_eq!(joined, whole, "in groups of at most {limit} hospital-months");
        assert_eq!(tables(&engine).await, before, "in groups of at most {limit} hospital-months");
    }
    // Nothing evaluated before: nothing of the evaluation is left.
    let (engine, periods, _) = fixture_unevaluated().await;
    engine.evaluate_by_hospital(&periods, 1, |_| Ok::<_, EngineError>(())).await.unwrap();
    for table in Engine::EVALUATION_TABLES {
        assert!(!engine.ctx.table_exist(table).unwrap(), "{table} is left registered");
    }
}

/// `Results::criteria` carries the query's rows as they are: the same decisions, in the same
/// order, for the Rust side to read instead of deciding again.
#[tokio::test]
async fn criteria_in_results_are_the_rows_of_regime_criteria() {
    let engine = fixture().await;
    let months: BTreeSet<String> = ["2024-04", "2025-06"].iter().map(|m| m.to_string()).collect();
    let results = engine.evaluate(&calendar(PeriodKind::Month, &months)).await.unwrap();
    let row = |code: &str, period: &str, regime: &str, criterion: &str| {
        results
            .criteria
            .iter()
            .find(|c| {
                (c.hospital_code.as_str(), c.period.as_str(), c.regime_id.as_str(), c.criterion_id.as_str())
                    == (code, period, regime, criterion)
            })
            .map(|c| (c.met, c.on_line, c.missing_count))
    };
    // Exactly 65 % under "> 65": not met, on the line.
    assert_eq!(row(H2, "2025-04", "chiiki-shien-2014", "B"), Some((Some(false), true, false)));
    // Exactly 30 ‰ under "≥ 30": met, on the line.
    assert_eq!(row(H2, "2025-04", "shinryo-2022", "standard"), Some((Some(true), true, false)));
    // 85 % meets A whatever the missing reverse count; B needs it: unknown.
    assert_eq!(row(H2, "2025-05", "chiiki-shien-2014", "A"), Some((Some(true), false, false)));
    assert_eq!(row(H2, "2025-05", "chiiki-shien-2014", "B"), Some((None, false, true)));
    // A zero denominator: unknown, no count missing.
    assert_eq!(row(H2, "2025-06", "chiiki-shien-2014", "A"), Some((None, false, false)));
    // One row per criterion (A, B, C and standard) for each of the 6 hospital-months with data.
    assert_eq!(results.criteria.len(), 6 * (3 + 1));
    let keys: Vec<_> = results
        .criteria
        .iter()
        .map(|c| (&c.hospital_code, &c.period_kind, &c.period, &c.regime_id, &c.criterion_id))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "criteria are not in key order");
}

/// `rates` reads "criterion met" from `criteria`: every criterion of the fixture reaches the
/// rate rows unchanged (none dropped, none under another key).
#[tokio::test]
async fn criteria_agree_with_what_rates_decides() {
    let engine = fixture().await;
    let set = RegimeSet::builtin();
    let regimes: Vec<&Regime> = REGIMES.iter().map(|id| set.get(id).unwrap()).collect();
    let months: BTreeSet<String> = ["2024-04", "2026-03"].iter().map(|m| m.to_string()).collect();
    let mut periods = calendar(PeriodKind::FiscalYear, &months);
    periods.extend(calendar(PeriodKind::Month, &months));
    let results = engine.evaluate(&periods).await.unwrap();
    let from_rates: Vec<_> = crate::rates::rate_rows(&results, &regimes)
        .iter()
        .flat_map(|r| {
            r.criteria.iter().map(|c| {
                (
                    (r.hospital_code.clone(), r.period_kind, r.period.clone(), r.regime_id.clone()),
                    c.id.to_string(),
                    c.met,
                    c.on_boundary,
                )
            })
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let from_sql: Vec<_> = results
        .criteria
        .iter()
        .map(|c| {
            (
                (c.hospital_code.clone(), c.period_kind, c.period.clone(), c.regime_id.clone()),
                c.criterion_id.clone(),
                c.met,
                c.on_line,
            )
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(from_sql.len(), 4 * 11, "4 criteria for each of 11 hospital-periods");
    assert_eq!(from_sql, from_rates);
}

/// A criterion with one condition not met and another unknown is unknown, not "not met": the
/// rule `rates` applied before (any unknown condition makes the criterion unknown), kept so that
/// reading `criteria` changes no number. SQL's own `false AND NULL` would say false.
#[tokio::test]
async fn a_criterion_with_a_failed_and_an_unknown_condition_is_unknown() {
    let set = RegimeSet::builtin();
    let regimes = [set.get("chiiki-shien-2014").unwrap()];
    // 40 % referral (B needs > 65: not met); the reverse count is not reported.
    let row = reported(
        H2,
        ReportedPeriod::Month("2025-04".to_string()),
        &[("initial_patients", 100), ("referred_patients", 40)],
    );
    let engine = Engine::for_counts(vec![schema::reported_batch(&[row], "r.csv")], &regimes).unwrap();
    let monthly = engine.monthly_counts().await.unwrap();
    let months: BTreeSet<String> = monthly.iter().map(|m| m.month.clone()).collect();
    let results = engine.evaluate(&calendar(PeriodKind::Month, &months)).await.unwrap();
    let met: Vec<(&str, Option<bool>)> =
        results.criteria.iter().map(|c| (c.criterion_id.as_str(), c.met)).collect();
    assert_eq!(met, [("A", Some(false)), ("B", None), ("C", None)]);
    let batches = engine
        .run(
            "conditions",
            "SELECT met FROM regime_conditions_evaluated WHERE criterion_id = 'B' ORDER BY condition_index",
        )
        .await
        .unwrap();
    let conditions: Vec<Option<bool>> =
        batches.iter().flat_map(|b| super::bools(b, "conditions", "met").unwrap()).collect();
    assert_eq!(conditions, [Some(false), None]);
}

/// A verdict's criteria met are the criteria `regime_criteria.sql` found met, in criterion
/// order: the lists the verdict query gave when it aggregated them itself (every non-empty one
/// of the fixture; the others are empty).
#[tokio::test]
async fn verdicts_list_the_criteria_met() {
    let engine = fixture().await;
    let months: BTreeSet<String> = ["2024-04", "2026-03"].iter().map(|m| m.to_string()).collect();
    let mut periods = calendar(PeriodKind::FiscalYear, &months);
    periods.extend(calendar(PeriodKind::Month, &months));
    let results = engine.evaluate(&periods).await.unwrap();
    let listed: Vec<String> = results
        .verdicts
        .iter()
        .filter(|v| !v.met_criteria.is_empty())
        .map(|v| {
            format!(
                "{} {} {} {} {}",
                v.hospital_code,
                v.period_kind.name(),
                v.period,
                v.regime_id,
                v.met_criteria.join(",")
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            "0110113719 fiscal-year 2024 shinryo-2022 standard",
            "0110113719 fiscal-year 2025 shinryo-2022 standard",
            "0110113719 month 2024-04 shinryo-2022 standard",
            "0110113719 month 2025-04 shinryo-2022 standard",
            "0110113719 month 2025-05 chiiki-shien-2014 A,B,C",
            "0110113719 month 2025-05 shinryo-2022 standard",
            "1312345679 month 2025-04 shinryo-2022 standard",
            "1312345679 month 2025-05 chiiki-shien-2014 A",
            "2710123452 fiscal-year 2024 chiiki-shien-2014 A,B",
            "2710123452 fiscal-year 2025 chiiki-shien-2014 B",
        ]
    );
}

#[tokio::test]
async fn regime_verdicts() {
    insta::assert_snapshot!(golden("regime_verdicts.sql", sql::REGIME_VERDICTS, Order::AsQueried).await);
}

#[tokio::test]
async fn department_breakdown() {
    insta::assert_snapshot!(
        golden("department_breakdown.sql", breakdown_sql::DEPARTMENT_BREAKDOWN, Order::AsQueried).await
    );
}

#[tokio::test]
async fn month_breakdowns() {
    insta::assert_snapshot!(
        golden(
            "month_breakdowns.sql",
            breakdown_sql::MONTH_BREAKDOWNS,
            Order::Columns(&["month", "hospital_code", "breakdown", "department", "partner_code"])
        )
        .await
    );
}

#[tokio::test]
async fn partner_months() {
    insta::assert_snapshot!(
        golden("partner_months.sql", breakdown_sql::PARTNER_MONTHS, Order::AllColumns).await
    );
}

/// The partner breakdown reads the partner rows once (here over the events, through
/// `partner_months`), and the hospital-months from their small table, however many times it
/// compares them; no table holds the partner rows.
#[tokio::test]
async fn partner_breakdown_scans_the_partner_rows_once() {
    let engine = fixture().await;
    let provider = engine.ctx.table_provider("partner_months").await.unwrap();
    assert_eq!(provider.table_type(), datafusion::datasource::TableType::View);
    let plan = engine.ctx.sql(breakdown_sql::PARTNER_BREAKDOWN).await.unwrap().into_optimized_plan().unwrap();
    let plan = plan.display_indent().to_string();
    assert_eq!(plan.matches("TableScan: events").count(), 1, "{plan}");
    assert!(plan.contains("TableScan: partner_hospital_months"), "{plan}");
}

/// Released after the breakdowns, the tables they are summed from are gone from the session,
/// and a later breakdown registers them again and gives the same rows.
#[tokio::test]
async fn breakdown_tables_released_are_registered_again_with_the_same_rows() {
    let (engine, periods, months) = fixture_unevaluated().await;
    engine.evaluate(&periods).await.unwrap();
    let departments = engine.department_breakdown(&months).await.unwrap();
    let partners = engine.partner_breakdown(&months).await.unwrap();
    assert!(!departments.is_empty() && !partners.is_empty());
    for table in Engine::BREAKDOWN_TABLES {
        assert!(engine.ctx.table_exist(table).unwrap(), "{table} before the release");
    }
    engine.release_breakdown_tables();
    for table in Engine::BREAKDOWN_TABLES {
        assert!(!engine.ctx.table_exist(table).unwrap(), "{table} after the release");
    }
    assert_eq!(engine.department_breakdown(&months).await.unwrap(), departments);
    assert_eq!(engine.partner_breakdown(&months).await.unwrap(), partners);
}

#[tokio::test]
async fn partner_hospital_months() {
    insta::assert_snapshot!(
        golden("partner_hospital_months.sql", breakdown_sql::PARTNER_HOSPITAL_MONTHS, Order::AllColumns)
            .await
    );
}

#[tokio::test]
async fn partner_breakdown() {
    insta::assert_snapshot!(
        golden("partner_breakdown.sql", breakdown_sql::PARTNER_BREAKDOWN, Order::AsQueried).await
    );
}

/// `partner_breakdown.sql` against its definition, computed here row by row, on random
/// partner months: 3 hospitals over 40 months, each month with data or not, each partner
/// present or not (two of them only in some years), so that compared months come and go,
/// partners appear only in the earlier year or only in the later one, and a month twelve
/// months earlier may be missing.
#[tokio::test]
async fn partner_breakdown_agrees_with_its_definition_on_random_months() {
    use std::collections::BTreeMap;

    use rand::{Rng, SeedableRng};

    let (engine, _, _) = fixture_unevaluated().await;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let months = crate::periods::month_range("2022-01", "2025-04");
    // (hospital, month) → the partner rows of that month; a month with data always has its
    // NULL-partner row, as `month_breakdowns.sql` writes one.
    /// A partner row: partner code (None: the month's row without a partner), referred, reverse.
    type Row = (Option<String>, i64, i64);
    let mut data: BTreeMap<(String, String), Vec<Row>> = BTreeMap::new();
    for hospital in ["H1", "H2", "H3"] {
        for month in &months {
            if rng.random_bool(0.25) {
                continue;
            }
            let mut rows = vec![(None, 0, 0)];
            // P3 starts late and P4 ends early: partners of one year only.
            for (partner, from, to) in
                [("P1", "", "9"), ("P2", "", "9"), ("P3", "2023-09", "9"), ("P4", "", "2023-06")]
            {
                if (from..to).contains(&month.as_str()) && rng.random_bool(0.5) {
                    rows.push((Some(partner.to_string()), rng.random_range(0..5), rng.random_range(0..5)));
                }
            }
            data.insert((hospital.to_string(), month.clone()), rows);
        }
    }
    let flat: Vec<(&(String, String), &Row)> =
        data.iter().flat_map(|(key, rows)| rows.iter().map(move |row| (key, row))).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("hospital_code", DataType::Utf8, false),
        Field::new("month", DataType::Utf8, false),
        Field::new("partner_code", DataType::Utf8, true),
        Field::new("referred", DataType::Int64, false),
        Field::new("reverse", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(flat.iter().map(|(k, _)| k.0.as_str()))),
            Arc::new(StringArray::from_iter_values(flat.iter().map(|(k, _)| k.1.as_str()))),
            Arc::new(StringArray::from_iter(flat.iter().map(|(_, r)| r.0.as_deref()))),
            Arc::new(Int64Array::from_iter_values(flat.iter().map(|(_, r)| r.1))),
            Arc::new(Int64Array::from_iter_values(flat.iter().map(|(_, r)| r.2))),
        ],
    )
    .unwrap();
    // Registered as a table, `partner_months` stays what the engine reads (its view is
    // registered only where the session has no such table).
    engine.register("partner_months", vec![batch], schema).unwrap();
    engine.register_partner_months().await.unwrap();
    let with_data: BTreeSet<String> = data.keys().map(|(_, m)| m.clone()).collect();
    engine.register_fiscal_months(&with_data).unwrap();

    // The definition: a month of fiscal year Y is compared when the hospital has data in it
    // and in the same month a year earlier; the compared sums run over those months and over
    // the months a year before them.
    let fy = |m: &str| crate::periods::fiscal_year_of(m).unwrap() as i64;
    let has = |h: &str, m: &str| data.contains_key(&(h.to_string(), m.to_string()));
    let mut expected: BTreeMap<(String, i64, String), [i64; 5]> = BTreeMap::new();
    let mut compared: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for ((h, m), rows) in &data {
        let earlier = shift_year(m, -1);
        let is_compared = has(h, &earlier);
        if is_compared {
            *compared.entry((h.clone(), fy(m))).or_default() += 1;
        }
        for (partner, referred, reverse) in rows {
            let Some(p) = partner else { continue };
            let sums = expected.entry((h.clone(), fy(m), p.clone())).or_default();
            sums[0] += referred;
            sums[1] += reverse;
            if is_compared {
                sums[2] += referred;
            }
        }
        if is_compared {
            for (partner, referred, _) in &data[&(h.clone(), earlier)] {
                let Some(p) = partner else { continue };
                expected.entry((h.clone(), fy(m), p.clone())).or_default()[3] += referred;
            }
        }
    }
    let partial = expected.iter().any(|(k, s)| s[2] != s[0] && compared.contains_key(&(k.0.clone(), k.1)));
    let only_earlier = expected.values().any(|s| s[0] == 0 && s[1] == 0 && s[3] > 0);
    assert!(
        partial && only_earlier,
        "the random months miss a case: partial {partial}, only earlier {only_earlier}"
    );
    let expected: Vec<String> = expected
        .into_iter()
        .map(|((h, y, p), s)| {
            let n = compared.get(&(h.clone(), y)).copied().unwrap_or(0);
            format!("{h} {y} {p} {} {} {} {} {n}", s[0], s[1], s[2], s[3])
        })
        .collect();

    const Q: &str = "partner_breakdown.sql";
    let mut got = Vec::new();
    for b in &engine.run(Q, breakdown_sql::PARTNER_BREAKDOWN).await.unwrap() {
        let (h, y, p) = (
            strings(b, Q, "hospital_code").unwrap(),
            ints(b, Q, "fiscal_year").unwrap(),
            strings(b, Q, "partner_code").unwrap(),
        );
        let sums: Vec<_> = [
            "referred_patients",
            "reverse_referred_patients",
            "referred_compared",
            "referred_previous",
            "compared_months",
        ]
        .iter()
        .map(|c| ints(b, Q, c).unwrap())
        .collect();
        for i in 0..b.num_rows() {
            let s: Vec<String> = sums.iter().map(|c| c[i].unwrap().to_string()).collect();
            got.push(format!("{} {} {} {}", h[i], y[i].unwrap(), p[i], s.join(" ")));
        }
    }
    assert!(expected.len() > 40, "{} rows: too few to say much", expected.len());
    assert_eq!(got, expected);
}
