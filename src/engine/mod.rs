//! The DataFusion session: registers the warehouse tables and runs `queries/*.sql`.
//!
//! SQL is the one home of these rules; each query reads the results of the ones before it:
//! - `counted_events.sql`: the counting rules (first visit and its three exclusion groups,
//!   initial, referred and reverse-referred patient, return visit, emergency), a view over
//!   `events` with a 0/1 column per count;
//! - `event_month_counts.sql`: the sums of those columns per hospital-month, computed when a
//!   month is published and stored in the manifest with a key of the rules that made them
//!   ([`counts_rules`]), so reads do not aggregate every event again; a view over the events
//!   when the stored counts are missing or were made by other rules;
//! - `monthly_counts.sql`, `period_counts.sql`: the counts per month and per period (a count a
//!   hospital did not report stays NULL and makes what needs it not computable);
//! - `regime_metrics.sql`: each regime's exact numerator and denominator;
//! - `regime_conditions.sql`: each condition met, unknown, or exactly on its threshold;
//! - `regime_criteria.sql`: each criterion met (`Results::criteria`);
//! - `regime_verdicts.sql`: the verdict, the criteria met and the boundary flag;
//! - `month_breakdowns.sql`: the sums of those columns per hospital, month and department, and
//!   per hospital, month and partner, computed when a month is published and stored beside it
//!   (`breakdowns/`, keyed by [`breakdowns_rules`]); a view over the events when the stored
//!   sums are missing, were made by other rules or from other event files;
//! - `department_breakdown.sql`, `partner_breakdown.sql`: the hospital page's breakdowns per
//!   fiscal year, sums of `month_breakdowns` (the partner breakdown through the view
//!   `partner_months.sql`, read once, and `partner_hospital_months.sql`, a small table).
//!
//! Why SQL: these are exact integer arithmetic (a rate meets `≥ p/q` when
//! `n × scale × q ≥ p × d`, in DECIMAL(38, 0), never a float), short enough to review as SQL
//! next to `domain.md`, and computed in one pass over every hospital and period. Each query's
//! whole result on a small fixture is pinned in `golden.rs`, so a change shows in review.
//! Consumers read these results and do not decide them again (`rates` still derives criterion
//! met from the condition rows until it reads `Results::criteria`; a golden test checks that
//! both agree).
//!
//! Rust owns what needs a search or is presentation: `rates` (with the exact ratios of
//! `regimes`) finds the gap to the line (the smallest number of extra events), the nearest
//! criterion and the pace per remaining month, and rounds for display.
//!
//! The engine owns the SQL and the tables it reads (events from the committed Parquet files
//! named by the manifest, reported counts, regime terms and conditions built from regime data,
//! the period calendar). It does not decide what a regime is (that is `regimes`) nor how
//! numbers are shown (`report`).

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::error::DataFusionError;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

use crate::domain::{PeriodKind, Verdict};
use crate::periods::PeriodMonth;
use crate::regimes::{Count, MetricKind, Regime};
use crate::warehouse::{Manifest, Warehouse, schema};

/// The SQL files, compiled into the binary.
mod approval;
pub(crate) use approval::{ApprovalRow, FactValue, RequirementMet};

pub(crate) mod sql {
    /// The counting rules: one row per event, a 0/1 column per count (registered as a view).
    pub(crate) const COUNTED_EVENTS: &str = include_str!("../../queries/counted_events.sql");
    /// The counts per hospital-month with events: stored at ingest, or a view over the events.
    pub(crate) const EVENT_MONTH_COUNTS: &str = include_str!("../../queries/event_month_counts.sql");
    pub(crate) const MONTHLY_COUNTS: &str = include_str!("../../queries/monthly_counts.sql");
    pub(crate) const PERIOD_COUNTS: &str = include_str!("../../queries/period_counts.sql");
    pub(crate) const REGIME_METRICS: &str = include_str!("../../queries/regime_metrics.sql");
    pub(crate) const REGIME_CONDITIONS: &str = include_str!("../../queries/regime_conditions.sql");
    /// "Criterion met", decided once: one row per criterion (registered as `regime_criteria`).
    pub(crate) const REGIME_CRITERIA: &str = include_str!("../../queries/regime_criteria.sql");
    pub(crate) const REGIME_VERDICTS: &str = include_str!("../../queries/regime_verdicts.sql");
    /// Every record of a hospital(-month) with its count columns (`refrate explain`).
    pub(crate) const EXPLAIN: &str = include_str!("../../queries/explain.sql");
}

/// One record as `explain.sql` gives it: its fields, and in which counts it is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CountedRecord {
    pub month: String,
    pub source_file: String,
    pub source_line: u64,
    pub event_date: String,
    pub event_type: String,
    pub patient_key: String,
    pub department: String,
    pub partner_code: Option<String>,
    pub partner_related: bool,
    /// referral_letter, ambulance, after_hours_emergency, checkup_origin.
    pub flags: [bool; 4],
    /// 0 or 1 per count, in [`Count::ALL`] order.
    pub counts: [u64; 9],
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("query {query}: {source}")]
    Query { query: &'static str, source: DataFusionError },
    #[error("registering table {table}: {source}")]
    Register { table: &'static str, source: DataFusionError },
    #[error("query {query} returned an unexpected column {column}")]
    Shape { query: &'static str, column: String },
    #[error("query {query} returned {value:?} in column {column}, which is not one of its known words")]
    Value { query: &'static str, column: String, value: String },
    #[error(transparent)]
    Warehouse(#[from] crate::warehouse::WarehouseError),
    #[error("reading reported counts {file}: {message}")]
    Reported { file: String, message: String },
    /// A month's event files hold rows of another month ([`Engine::break_down_months`]).
    #[error("the event files of {months} hold rows of {other}: {files}")]
    OtherMonth { months: String, other: String, files: String },
    /// Whoever took the results of [`Engine::evaluate_by_hospital`] stopped taking them.
    #[error("the evaluation stopped: its results were no longer taken")]
    Stopped,
}

/// Counts of one hospital over one period. `None` means "not reported".
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CountsRow {
    pub hospital_code: String,
    pub period_kind: PeriodKind,
    pub period: String,
    pub months_in_period: u64,
    pub months_with_data: u64,
    /// The exact counts; `None` for a count not reported or masked.
    pub counts: BTreeMap<Count, Option<u64>>,
    /// Counts known only as an interval (lowest, highest): masked by the source.
    pub masked: BTreeMap<Count, (u64, u64)>,
}

impl CountsRow {
    /// The exact value of a count; `None` when not reported, or masked (see [`Self::masked`]).
    pub(crate) fn get(&self, c: Count) -> Option<u64> {
        self.counts.get(&c).copied().flatten()
    }

    /// Whether a count is known, exactly or as an interval.
    pub(crate) fn has(&self, c: Count) -> bool {
        self.get(c).is_some() || self.masked.contains_key(&c)
    }

    /// A count as machine outputs write it (see [`count_text`]).
    pub(crate) fn text(&self, c: Count) -> String {
        count_text(self.get(c), self.masked.get(&c))
    }

    /// The counts that are known.
    pub(crate) fn known(&self) -> BTreeMap<Count, u64> {
        self.counts.iter().filter_map(|(c, v)| v.map(|v| (*c, v))).collect()
    }
}

/// A count as machine outputs write it: `9811`, `1..10` for a masked count (an interval),
/// empty when not reported.
pub(crate) fn count_text(exact: Option<u64>, masked: Option<&(u64, u64)>) -> String {
    match (exact, masked) {
        (Some(v), _) => v.to_string(),
        (None, Some((low, high))) => format!("{low}..{high}"),
        (None, None) => String::new(),
    }
}

/// A monthly row. A count a hospital did not report is absent; a masked one is in `masked`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MonthlyRow {
    pub hospital_code: String,
    pub month: String,
    pub counts: BTreeMap<Count, u64>,
    /// Counts known only as an interval (lowest, highest).
    pub masked: BTreeMap<Count, (u64, u64)>,
}

impl MonthlyRow {
    /// The exact value of a count; `None` when not reported or masked.
    pub(crate) fn get(&self, c: Count) -> Option<u64> {
        self.counts.get(&c).copied()
    }

    /// A count as machine outputs write it (see [`count_text`]).
    pub(crate) fn text(&self, c: Count) -> String {
        count_text(self.get(c), self.masked.get(&c))
    }
}

/// One criterion of one regime for one hospital and period (`queries/regime_criteria.sql`):
/// the one decision of whether it is met, for every consumer to read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CriterionRow {
    pub hospital_code: String,
    pub period_kind: PeriodKind,
    pub period: String,
    pub regime_id: String,
    pub criterion_id: String,
    /// `None` when some condition is unknown (a count not reported, or a zero denominator):
    /// unknown is neither met nor not met; `None` also when it is undetermined.
    pub met: Option<bool>,
    /// Whether it is met depends on the values masked counts hide.
    pub undetermined: bool,
    /// Some condition's rate is exactly on its threshold.
    pub on_line: bool,
    /// Some condition needs a count that was not reported.
    pub missing_count: bool,
}

/// One metric's numerator and denominator.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetricRow {
    pub hospital_code: String,
    pub period_kind: PeriodKind,
    pub period: String,
    pub regime_id: String,
    pub metric: MetricKind,
    /// The lowest value of each side (the value, for exact counts).
    pub numerator: Option<i64>,
    pub denominator: Option<i64>,
    /// The highest value of each side: above the lowest only when a count is masked.
    pub numerator_high: Option<i64>,
    pub denominator_high: Option<i64>,
}

/// One verdict per hospital, period and regime.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VerdictRow {
    pub hospital_code: String,
    pub period_kind: PeriodKind,
    pub period: String,
    pub regime_id: String,
    pub verdict: Verdict,
    pub met_criteria: Vec<String>,
    pub on_boundary: bool,
}

/// Everything the SQL computes for a set of periods.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Results {
    pub counts: Vec<CountsRow>,
    pub metrics: Vec<MetricRow>,
    /// Ordered by hospital, period kind, period, regime and criterion.
    pub criteria: Vec<CriterionRow>,
    pub verdicts: Vec<VerdictRow>,
}

/// Tables taken out of a session, each with what it was (`None`: not registered).
type TakenTables = Vec<(&'static str, Option<Arc<dyn TableProvider>>)>;

/// A session over one committed warehouse version.
pub(crate) struct Engine {
    ctx: SessionContext,
    reported_years: std::collections::BTreeSet<i32>,
    /// The stored department and partner sums of every month, read when a breakdown is first
    /// asked for; `None` when they are summed from the events.
    stored_breakdowns: Option<StoredBreakdowns>,
}

/// The files of a version's stored month sums, each with its month.
struct StoredBreakdowns {
    warehouse: Warehouse,
    version: u64,
    files: Vec<(String, crate::warehouse::NamedFile)>,
}

fn column<'a>(batch: &'a RecordBatch, query: &'static str, name: &str) -> Result<&'a ArrayRef, EngineError> {
    batch.column_by_name(name).ok_or_else(|| EngineError::Shape { query, column: name.to_string() })
}

fn strings(batch: &RecordBatch, query: &'static str, name: &str) -> Result<Vec<String>, EngineError> {
    let col = column(batch, query, name)?;
    let col = datafusion::arrow::compute::cast(col, &DataType::Utf8)
        .map_err(|_| EngineError::Shape { query, column: name.to_string() })?;
    let col = col.as_string::<i32>();
    Ok((0..col.len())
        .map(|i| if col.is_null(i) { String::new() } else { col.value(i).to_string() })
        .collect())
}

/// The rows of `batch` whose `hospital_code` is one of `codes`.
fn of_hospitals(
    batch: &RecordBatch,
    codes: &std::collections::BTreeSet<String>,
) -> Result<RecordBatch, EngineError> {
    let keep: datafusion::arrow::array::BooleanArray = strings(batch, "monthly_counts", "hospital_code")?
        .iter()
        .map(|code| Some(codes.contains(code)))
        .collect();
    datafusion::arrow::compute::filter_record_batch(batch, &keep)
        .map_err(|_| EngineError::Shape { query: "monthly_counts", column: "hospital_code".to_string() })
}

/// A column of period kinds: the words [`PeriodKind::name`] gives, parsed here once.
fn period_kinds(
    batch: &RecordBatch,
    query: &'static str,
    name: &str,
) -> Result<Vec<PeriodKind>, EngineError> {
    words(batch, query, name, PeriodKind::from_name)
}

/// A column of verdicts: the words [`Verdict::code`] gives, parsed here once.
fn verdicts(batch: &RecordBatch, query: &'static str, name: &str) -> Result<Vec<Verdict>, EngineError> {
    words(batch, query, name, Verdict::from_code)
}

fn words<T>(
    batch: &RecordBatch,
    query: &'static str,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, EngineError> {
    strings(batch, query, name)?
        .into_iter()
        .map(|w| parse(&w).ok_or_else(|| EngineError::Value { query, column: name.to_string(), value: w }))
        .collect()
}

fn ints(batch: &RecordBatch, query: &'static str, name: &str) -> Result<Vec<Option<i64>>, EngineError> {
    let col = column(batch, query, name)?;
    let col = datafusion::arrow::compute::cast(col, &DataType::Int64)
        .map_err(|_| EngineError::Shape { query, column: name.to_string() })?;
    let col = col.as_primitive::<Int64Type>();
    Ok((0..col.len()).map(|i| (!col.is_null(i)).then(|| col.value(i))).collect())
}

fn bools(batch: &RecordBatch, query: &'static str, name: &str) -> Result<Vec<Option<bool>>, EngineError> {
    let col = column(batch, query, name)?;
    let col = col.as_boolean_opt().ok_or_else(|| EngineError::Shape { query, column: name.to_string() })?;
    Ok((0..col.len()).map(|i| (!col.is_null(i)).then(|| col.value(i))).collect())
}

fn to_u64(v: Option<i64>) -> Option<u64> {
    v.map(|v| u64::try_from(v).unwrap_or(0))
}

impl Engine {
    /// A session whose `events` table is exactly the files `manifest` names.
    pub(crate) async fn open(
        warehouse: &Warehouse,
        manifest: &Manifest,
        regimes: &[&Regime],
    ) -> Result<Engine, EngineError> {
        // A month file holds several partitions: each file is read once.
        let ctx = events_session(warehouse, manifest.event_files().into_keys()).await?;
        let mut reported = Vec::new();
        for file in manifest.sources.iter().filter_map(|(name, s)| s.reported_named_file(name)) {
            reported.extend(warehouse.read_verified(manifest.version, &file).await?);
        }
        if let Some(stored) = manifest.stored_counts(&counts_rules()) {
            register_stored_counts(&ctx, &stored)?;
        }
        let mut engine = Engine::with_tables(ctx, reported, regimes)?;
        engine.stored_breakdowns = manifest
            .stored_breakdowns(&breakdowns_rules())
            .map(|files| StoredBreakdowns { warehouse: warehouse.clone(), version: manifest.version, files });
        Ok(engine)
    }

    /// The department and partner sums of each of `months` from its event files
    /// (`month_breakdowns.sql`, rows of [`schema::BREAKDOWNS`]): what a run stores beside the
    /// months it publishes. The caller sums a few months at a time, so memory follows those
    /// months' sums, not every hospital-month's: summed over all months at once, a run at 700
    /// hospitals × 36 months held half a million rows, sorted, at its peak.
    pub(crate) async fn break_down_months(
        warehouse: &Warehouse,
        months: &[(String, Vec<String>)],
    ) -> Result<BTreeMap<String, Vec<RecordBatch>>, EngineError> {
        const Q: &str = "month_breakdowns.sql";
        let files = months.iter().flat_map(|(_, files)| files.iter().map(String::as_str));
        let ctx = events_session(warehouse, files).await?;
        let engine = Engine { ctx, reported_years: Default::default(), stored_breakdowns: None };
        engine.register_month_breakdowns().await?;
        // In one full order (a row's key is its month, hospital, side and department or
        // partner), so a month's file is the same bytes whenever it is made and
        // [`same_breakdowns`] compares rows in order.
        let sql = "SELECT * FROM month_breakdowns ORDER BY month, hospital_code, breakdown, department, partner_code";
        let batches = engine.run(Q, sql).await?;
        let sums = split_by_month(&batches, Q)?;
        // A month's files hold its rows only (the ingest and `verify` check each row's month).
        if let Some(other) = sums.keys().find(|m| !months.iter().any(|(month, _)| month == *m)) {
            let names =
                |f: fn(&(String, Vec<String>)) -> String| months.iter().map(f).collect::<Vec<_>>().join(", ");
            return Err(EngineError::OtherMonth {
                months: names(|(month, _)| month.clone()),
                other: other.clone(),
                files: names(|(_, files)| files.join(", ")),
            });
        }
        Ok(sums)
    }

    /// The counts of every hospital-month in the event files `files` (`event_month_counts.sql`),
    /// keyed by partition (`hospital/month`), one number per count in [`Count::ALL`] order: what
    /// a run stores in the manifest for the partitions it publishes.
    pub(crate) async fn count_partitions(
        warehouse: &Warehouse,
        files: impl IntoIterator<Item = &str>,
    ) -> Result<BTreeMap<String, Vec<u64>>, EngineError> {
        const Q: &str = "event_month_counts.sql";
        let mut counts = BTreeMap::new();
        let ctx = events_session(warehouse, files).await?;
        let engine = Engine { ctx, reported_years: Default::default(), stored_breakdowns: None };
        engine.register_counted_events().await?;
        for b in &engine.run(Q, sql::EVENT_MONTH_COUNTS).await? {
            let (hospitals, months) = (strings(b, Q, "hospital_code")?, strings(b, Q, "month")?);
            let mut cols = Vec::new();
            for c in Count::ALL {
                cols.push(ints(b, Q, c.name())?);
            }
            for i in 0..b.num_rows() {
                let row = cols.iter().map(|col| to_u64(col[i]).unwrap_or(0)).collect();
                counts.insert(crate::warehouse::Manifest::partition_key(&hospitals[i], &months[i]), row);
            }
        }
        Ok(counts)
    }

    /// A session over counts held in memory only (no event files): simulated years of the
    /// forecast, and tests.
    pub(crate) fn for_counts(reported: Vec<RecordBatch>, regimes: &[&Regime]) -> Result<Engine, EngineError> {
        Engine::in_memory(Vec::new(), reported, regimes)
    }

    /// A session over events and reported counts held in memory (batches of the `events` and
    /// `reported_counts` schemas), as the warehouse would provide them.
    pub(crate) fn in_memory(
        events: Vec<RecordBatch>,
        reported: Vec<RecordBatch>,
        regimes: &[&Regime],
    ) -> Result<Engine, EngineError> {
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
        let events = MemTable::try_new(schema::EVENTS.clone(), vec![events])
            .map_err(|source| EngineError::Register { table: "events", source })?;
        ctx.register_table("events", Arc::new(events))
            .map_err(|source| EngineError::Register { table: "events", source })?;
        Engine::with_tables(ctx, reported, regimes)
    }

    fn with_tables(
        ctx: SessionContext,
        reported: Vec<RecordBatch>,
        regimes: &[&Regime],
    ) -> Result<Engine, EngineError> {
        let mut reported_years = std::collections::BTreeSet::new();
        for b in &reported {
            let kinds = strings(b, "reported_counts", "period_kind")?;
            let periods = strings(b, "reported_counts", "period")?;
            for (k, p) in kinds.iter().zip(&periods) {
                if k == "fiscal-year"
                    && let Ok(y) = p.parse()
                {
                    reported_years.insert(y);
                }
            }
        }
        let table = MemTable::try_new(schema::REPORTED.clone(), vec![reported])
            .map_err(|source| EngineError::Register { table: "reported_counts", source })?;
        ctx.register_table("reported_counts", Arc::new(table))
            .map_err(|source| EngineError::Register { table: "reported_counts", source })?;
        register_regimes(&ctx, regimes)?;
        Ok(Engine { ctx, reported_years, stored_breakdowns: None })
    }

    /// Fiscal years some hospital reported as a whole (so the calendar must include them even
    /// without monthly data).
    pub(crate) fn reported_fiscal_years(&self) -> &std::collections::BTreeSet<i32> {
        &self.reported_years
    }

    async fn run(&self, query: &'static str, sql: &str) -> Result<Vec<RecordBatch>, EngineError> {
        let df = self.ctx.sql(sql).await.map_err(|source| EngineError::Query { query, source })?;
        df.collect().await.map_err(|source| EngineError::Query { query, source })
    }

    /// Runs a query and registers its result as `table` for the next queries.
    async fn run_into(
        &self,
        query: &'static str,
        sql: &str,
        table: &'static str,
    ) -> Result<Vec<RecordBatch>, EngineError> {
        let df = self.ctx.sql(sql).await.map_err(|source| EngineError::Query { query, source })?;
        let planned = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(|source| EngineError::Query { query, source })?;
        let schema = batches.first().map(|b| b.schema()).unwrap_or(planned);
        self.register(table, batches.clone(), schema)?;
        Ok(batches)
    }

    fn register(
        &self,
        table: &'static str,
        batches: Vec<RecordBatch>,
        schema: Arc<Schema>,
    ) -> Result<(), EngineError> {
        let mem = MemTable::try_new(schema, vec![batches])
            .map_err(|source| EngineError::Register { table, source })?;
        let _ = self.ctx.deregister_table(table);
        self.ctx
            .register_table(table, Arc::new(mem))
            .map_err(|source| EngineError::Register { table, source })?;
        Ok(())
    }

    /// Registers `counted_events` (`queries/counted_events.sql`, the counting rules) as a view
    /// over `events`, once per session. A view, not a table: DataFusion plans its SQL into each
    /// query that reads it (the optimizer sees through it and prunes its unused columns), so
    /// the rules are written once and no per-event table is ever materialised.
    async fn register_counted_events(&self) -> Result<(), EngineError> {
        self.register_view("counted_events", "counted_events.sql", sql::COUNTED_EVENTS).await
    }

    /// Registers `event_month_counts` as the view of `event_month_counts.sql` over the events,
    /// unless the session has the stored counts already.
    async fn register_event_month_counts(&self) -> Result<(), EngineError> {
        self.register_counted_events().await?;
        self.register_view("event_month_counts", "event_month_counts.sql", sql::EVENT_MONTH_COUNTS).await
    }

    /// Registers `month_breakdowns`, once per session: the stored sums of the version when
    /// every month has them (read and checked now), otherwise the view of
    /// `month_breakdowns.sql` over the events.
    async fn register_month_breakdowns(&self) -> Result<(), EngineError> {
        const TABLE: &str = "month_breakdowns";
        if self.ctx.table_exist(TABLE).map_err(|source| EngineError::Register { table: TABLE, source })? {
            return Ok(());
        }
        let Some(stored) = &self.stored_breakdowns else {
            self.register_counted_events().await?;
            return self.register_view(TABLE, "month_breakdowns.sql", breakdown_sql::MONTH_BREAKDOWNS).await;
        };
        if stored.files.is_empty() {
            return self.register(TABLE, Vec::new(), schema::BREAKDOWNS.clone());
        }
        // Each file is checked whole (SHA-256, schema, every row of its month) and dropped, one
        // at a time; the queries then read the files, so the session never holds every month's
        // sums at once (500,000 rows at 700 hospitals × 36 months: the peak of a run that held
        // them, docs/BENCHMARKS.md).
        let mut urls = Vec::with_capacity(stored.files.len());
        for (month, file) in &stored.files {
            stored.warehouse.read_month_breakdowns(stored.version, month, file).await?;
            urls.push(stored.warehouse.url_of(&file.path));
        }
        let register = |source| EngineError::Register { table: TABLE, source };
        let options = ParquetReadOptions::default().schema(&schema::BREAKDOWNS);
        let files = self.ctx.read_parquet(urls, options).await.map_err(register)?;
        self.ctx.register_table(TABLE, files.into_view()).map_err(register)?;
        Ok(())
    }

    /// Registers the query `sql` as the view `table`, unless the session has that table.
    async fn register_view(
        &self,
        table: &'static str,
        query: &'static str,
        sql: &str,
    ) -> Result<(), EngineError> {
        if self.ctx.table_exist(table).map_err(|source| EngineError::Register { table, source })? {
            return Ok(());
        }
        let view =
            self.ctx.sql(sql).await.map_err(|source| EngineError::Query { query, source })?.into_view();
        self.ctx.register_table(table, view).map_err(|source| EngineError::Register { table, source })?;
        Ok(())
    }

    /// Monthly counts per hospital (`queries/monthly_counts.sql`), also registered as the
    /// `monthly_counts` table for the period queries.
    pub(crate) async fn monthly_counts(&self) -> Result<Vec<MonthlyRow>, EngineError> {
        const Q: &str = "monthly_counts.sql";
        self.register_event_month_counts().await?;
        let batches = self.run_into(Q, sql::MONTHLY_COUNTS, "monthly_counts").await?;
        let mut rows = Vec::new();
        for b in &batches {
            let hospitals = strings(b, Q, "hospital_code")?;
            let months = strings(b, Q, "month")?;
            let mut cols = Vec::new();
            for c in Count::ALL {
                cols.push((c, ints(b, Q, c.name())?, ints(b, Q, c.high_name())?));
            }
            for i in 0..b.num_rows() {
                let mut row = MonthlyRow {
                    hospital_code: hospitals[i].clone(),
                    month: months[i].clone(),
                    counts: BTreeMap::new(),
                    masked: BTreeMap::new(),
                };
                for (c, low, high) in &cols {
                    match (to_u64(low[i]), to_u64(high[i])) {
                        (Some(low), Some(high)) if high > low => {
                            row.masked.insert(*c, (low, high));
                        }
                        (Some(low), _) => {
                            row.counts.insert(*c, low);
                        }
                        (None, _) => {}
                    }
                }
                rows.push(row);
            }
        }
        Ok(rows)
    }

    /// Counts, metrics, conditions, criteria and verdicts for the given periods. Call
    /// [`Engine::monthly_counts`] first.
    pub(crate) async fn evaluate(&self, periods: &[PeriodMonth]) -> Result<Results, EngineError> {
        self.register_periods(periods)?;
        let mut results = Results::default();

        const PC: &str = "period_counts.sql";
        let batches = self.run_into(PC, sql::PERIOD_COUNTS, "period_counts").await?;
        for b in &batches {
            let (h, k, p) = (
                strings(b, PC, "hospital_code")?,
                period_kinds(b, PC, "period_kind")?,
                strings(b, PC, "period")?,
            );
            let (mip, mwd) = (ints(b, PC, "months_in_period")?, ints(b, PC, "months_with_data")?);
            let mut cols = Vec::new();
            for c in Count::ALL {
                cols.push((c, ints(b, PC, c.name())?, ints(b, PC, c.high_name())?));
            }
            for i in 0..b.num_rows() {
                let mut counts = BTreeMap::new();
                let mut masked = BTreeMap::new();
                for (c, low, high) in &cols {
                    match (to_u64(low[i]), to_u64(high[i])) {
                        (Some(low), Some(high)) if high > low => {
                            counts.insert(*c, None);
                            masked.insert(*c, (low, high));
                        }
                        (low, _) => {
                            counts.insert(*c, low);
                        }
                    }
                }
                results.counts.push(CountsRow {
                    hospital_code: h[i].clone(),
                    period_kind: k[i],
                    period: p[i].clone(),
                    months_in_period: to_u64(mip[i]).unwrap_or(0),
                    months_with_data: to_u64(mwd[i]).unwrap_or(0),
                    counts,
                    masked,
                });
            }
        }

        const RM: &str = "regime_metrics.sql";
        let batches = self.run_into(RM, sql::REGIME_METRICS, "regime_metrics").await?;
        for b in &batches {
            let (h, k, p, r, m) = (
                strings(b, RM, "hospital_code")?,
                period_kinds(b, RM, "period_kind")?,
                strings(b, RM, "period")?,
                strings(b, RM, "regime_id")?,
                strings(b, RM, "metric")?,
            );
            let (n, d, missing) =
                (ints(b, RM, "numerator")?, ints(b, RM, "denominator")?, ints(b, RM, "missing_sides")?);
            let (n_high, d_high) = (ints(b, RM, "numerator_high")?, ints(b, RM, "denominator_high")?);
            for i in 0..b.num_rows() {
                let complete = missing[i] == Some(0);
                results.metrics.push(MetricRow {
                    hospital_code: h[i].clone(),
                    period_kind: k[i],
                    period: p[i].clone(),
                    regime_id: r[i].clone(),
                    metric: if m[i] == "referral" { MetricKind::Referral } else { MetricKind::Reverse },
                    numerator: n[i].filter(|_| complete),
                    denominator: d[i].filter(|_| complete),
                    numerator_high: n_high[i].filter(|_| complete),
                    denominator_high: d_high[i].filter(|_| complete),
                });
            }
        }

        const RC: &str = "regime_conditions.sql";
        // Registered for regime_criteria.sql; its rows are read only by the goldens.
        self.run_into(RC, sql::REGIME_CONDITIONS, "regime_conditions_evaluated").await?;

        const CR: &str = "regime_criteria.sql";
        let batches = self.run_into(CR, sql::REGIME_CRITERIA, "regime_criteria").await?;
        for b in &batches {
            let (h, k, p, r, c) = (
                strings(b, CR, "hospital_code")?,
                period_kinds(b, CR, "period_kind")?,
                strings(b, CR, "period")?,
                strings(b, CR, "regime_id")?,
                strings(b, CR, "criterion_id")?,
            );
            let (met, on_line, missing) =
                (bools(b, CR, "met")?, bools(b, CR, "on_line")?, bools(b, CR, "missing_count")?);
            let undetermined = bools(b, CR, "undetermined")?;
            for i in 0..b.num_rows() {
                results.criteria.push(CriterionRow {
                    hospital_code: h[i].clone(),
                    period_kind: k[i],
                    period: p[i].clone(),
                    regime_id: r[i].clone(),
                    criterion_id: c[i].clone(),
                    met: met[i],
                    undetermined: undetermined[i].unwrap_or(false),
                    on_line: on_line[i].unwrap_or(false),
                    missing_count: missing[i].unwrap_or(false),
                });
            }
        }

        const RV: &str = "regime_verdicts.sql";
        // Registered for approval_requirements.sql.
        let batches = self.run_into(RV, sql::REGIME_VERDICTS, "regime_verdicts").await?;
        for b in &batches {
            let (h, k, p, r) = (
                strings(b, RV, "hospital_code")?,
                period_kinds(b, RV, "period_kind")?,
                strings(b, RV, "period")?,
                strings(b, RV, "regime_id")?,
            );
            let (v, on_b) = (verdicts(b, RV, "verdict")?, bools(b, RV, "on_boundary")?);
            for i in 0..b.num_rows() {
                results.verdicts.push(VerdictRow {
                    hospital_code: h[i].clone(),
                    period_kind: k[i],
                    period: p[i].clone(),
                    regime_id: r[i].clone(),
                    verdict: v[i],
                    met_criteria: Vec::new(),
                    on_boundary: on_b[i].unwrap_or(false),
                });
            }
        }
        // The criteria met, as `regime_criteria.sql` decided them (ordered by criterion there).
        let mut met: BTreeMap<(&str, PeriodKind, &str, &str), Vec<String>> = BTreeMap::new();
        for c in results.criteria.iter().filter(|c| c.met == Some(true)) {
            met.entry((&c.hospital_code, c.period_kind, &c.period, &c.regime_id))
                .or_default()
                .push(c.criterion_id.clone());
        }
        for v in &mut results.verdicts {
            if let Some(ids) = met.remove(&(
                v.hospital_code.as_str(),
                v.period_kind,
                v.period.as_str(),
                v.regime_id.as_str(),
            )) {
                v.met_criteria = ids;
            }
        }
        results.metrics.sort_by(|a, b| {
            (&a.hospital_code, &a.period_kind, &a.period, &a.regime_id, a.metric).cmp(&(
                &b.hospital_code,
                &b.period_kind,
                &b.period,
                &b.regime_id,
                b.metric,
            ))
        });
        Ok(results)
    }

    /// [`Engine::evaluate`] one group of whole hospitals at a time, handing each group's
    /// results to `each` in hospital order, so that memory follows the largest group and not
    /// every hospital-month at once. A group holds at most `hospital_months` monthly rows (one
    /// hospital may exceed it alone); with a single group the rows are [`Engine::evaluate`]'s.
    /// Every query groups by hospital, so the rows are those of one evaluation of all
    /// hospitals, concatenated. The session's tables are left as they were found: the tables
    /// an evaluation makes (`regime_verdicts`, which the approval query reads, among them) are
    /// those of the evaluation before the call, if any, not every group's rows held to the end.
    /// The first error stops the evaluation, and the session then holds one group's counts and
    /// none of the earlier evaluation's tables: drop it. Call [`Engine::monthly_counts`] first.
    pub(crate) async fn evaluate_by_hospital<E: From<EngineError>>(
        &self,
        periods: &[PeriodMonth],
        hospital_months: usize,
        mut each: impl FnMut(Results) -> Result<(), E>,
    ) -> Result<(), E> {
        let monthly = self.table_batches("monthly_counts").await?;
        let reported = self.table_batches("reported_counts").await?;
        // Rows per hospital, over both tables, in code order.
        let mut rows_of: BTreeMap<String, usize> = BTreeMap::new();
        for b in monthly.iter().chain(&reported) {
            for code in strings(b, "monthly_counts", "hospital_code")? {
                *rows_of.entry(code).or_default() += 1;
            }
        }
        let mut groups: Vec<std::collections::BTreeSet<String>> = vec![Default::default()];
        let mut in_group = 0;
        for (code, rows) in rows_of {
            if in_group > 0 && in_group + rows > hospital_months {
                groups.push(Default::default());
                in_group = 0;
            }
            in_group += rows;
            groups.last_mut().expect("one group at least").insert(code);
        }
        let found = self.take_tables(&Self::EVALUATION_TABLES)?;
        if groups.len() == 1 {
            let results = self.evaluate(periods).await?;
            self.put_back_tables(found)?;
            return each(results);
        }
        let (monthly_schema, reported_schema) =
            (self.table_schema("monthly_counts").await?, schema::REPORTED.clone());
        for group in &groups {
            let only = |batches: &[RecordBatch]| -> Result<Vec<RecordBatch>, EngineError> {
                batches.iter().map(|b| of_hospitals(b, group)).collect()
            };
            self.register("monthly_counts", only(&monthly)?, monthly_schema.clone())?;
            self.register("reported_counts", only(&reported)?, reported_schema.clone())?;
            each(self.evaluate(periods).await?)?;
        }
        self.register("monthly_counts", monthly, monthly_schema)?;
        self.register("reported_counts", reported, reported_schema)?;
        self.put_back_tables(found)?;
        Ok(())
    }

    /// The tables [`Engine::evaluate`] registers.
    const EVALUATION_TABLES: [&'static str; 6] = [
        "periods",
        "period_counts",
        "regime_metrics",
        "regime_conditions_evaluated",
        "regime_criteria",
        "regime_verdicts",
    ];

    /// `tables` taken out of the session.
    fn take_tables(&self, tables: &[&'static str]) -> Result<TakenTables, EngineError> {
        tables
            .iter()
            .map(|&table| {
                let was = self
                    .ctx
                    .deregister_table(table)
                    .map_err(|source| EngineError::Register { table, source })?;
                Ok((table, was))
            })
            .collect()
    }

    /// Puts back what [`Engine::take_tables`] took, in place of what was registered since.
    fn put_back_tables(&self, taken: TakenTables) -> Result<(), EngineError> {
        for (table, was) in taken {
            self.ctx.deregister_table(table).map_err(|source| EngineError::Register { table, source })?;
            if let Some(was) = was {
                self.ctx
                    .register_table(table, was)
                    .map_err(|source| EngineError::Register { table, source })?;
            }
        }
        Ok(())
    }

    /// The batches of a registered table (cheap for the in-memory ones).
    async fn table_batches(&self, table: &'static str) -> Result<Vec<RecordBatch>, EngineError> {
        let df = self.ctx.table(table).await.map_err(|source| EngineError::Register { table, source })?;
        df.collect().await.map_err(|source| EngineError::Register { table, source })
    }

    async fn table_schema(&self, table: &'static str) -> Result<Arc<Schema>, EngineError> {
        let df = self.ctx.table(table).await.map_err(|source| EngineError::Register { table, source })?;
        Ok(Arc::new(df.schema().as_arrow().clone()))
    }

    fn register_periods(&self, periods: &[PeriodMonth]) -> Result<(), EngineError> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("period_kind", DataType::Utf8, false),
            Field::new("period", DataType::Utf8, false),
            Field::new("month", DataType::Utf8, false),
            Field::new("months_in_period", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(periods.iter().map(|p| p.kind.as_str()))),
                Arc::new(StringArray::from_iter_values(periods.iter().map(|p| p.period.as_str()))),
                Arc::new(StringArray::from_iter_values(periods.iter().map(|p| p.month.as_str()))),
                Arc::new(Int64Array::from_iter_values(periods.iter().map(|p| p.months_in_period as i64))),
            ],
        )
        .map_err(|e| EngineError::Register { table: "periods", source: e.into() })?;
        self.register("periods", vec![batch], schema)
    }
}

/// A session over the warehouse whose `events` table is exactly the event files `files` (an
/// empty table without any).
async fn events_session(
    warehouse: &Warehouse,
    files: impl IntoIterator<Item = &str>,
) -> Result<SessionContext, EngineError> {
    let register = |source| EngineError::Register { table: "events", source };
    let config = SessionConfig::new().with_target_partitions(2).with_information_schema(false);
    let ctx = SessionContext::new_with_config(config);
    ctx.register_object_store(warehouse.store_url(), warehouse.store());
    let urls: Vec<String> = files.into_iter().map(|file| warehouse.url_of(file)).collect();
    if urls.is_empty() {
        let empty = MemTable::try_new(schema::EVENTS.clone(), vec![vec![]]).map_err(register)?;
        ctx.register_table("events", Arc::new(empty)).map_err(register)?;
    } else {
        let options = ParquetReadOptions::default().schema(&schema::EVENTS);
        let df = ctx.read_parquet(urls, options).await.map_err(register)?;
        ctx.register_table("events", df.into_view()).map_err(register)?;
    }
    Ok(ctx)
}

/// The key of the rules that compute a partition's stored counts: the SQL of
/// `counted_events.sql` and `event_month_counts.sql` and the order of the counts. Counts stored
/// under another key (an earlier build's rules) are not read: they are computed again.
pub(crate) fn counts_rules() -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in [sql::COUNTED_EVENTS, sql::EVENT_MONTH_COUNTS] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.update(Count::ALL.map(Count::name).join(",").as_bytes());
    format!("sha256:{}", &hex::encode(hash.finalize())[..16])
}

/// The key of the rules that compute a month's stored department and partner sums: the SQL
/// of `counted_events.sql` and `month_breakdowns.sql`. Sums stored under another key are not
/// read: they are computed again.
pub(crate) fn breakdowns_rules() -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in [sql::COUNTED_EVENTS, breakdown_sql::MONTH_BREAKDOWNS] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    format!("sha256:{}", &hex::encode(hash.finalize())[..16])
}

/// `batches` of [`schema::BREAKDOWNS`] rows (from query `query`), split by their month.
fn split_by_month(
    batches: &[RecordBatch],
    query: &'static str,
) -> Result<BTreeMap<String, Vec<RecordBatch>>, EngineError> {
    use datafusion::arrow::compute::filter_record_batch;
    let err = |e: datafusion::arrow::error::ArrowError| EngineError::Query { query, source: e.into() };
    let mut months: BTreeMap<String, Vec<RecordBatch>> = BTreeMap::new();
    for b in batches {
        // The query's columns in the stored table's types (a scan may give views of strings).
        let mut columns = Vec::new();
        for field in schema::BREAKDOWNS.fields() {
            let col = column(b, query, field.name())?;
            columns.push(datafusion::arrow::compute::cast(col, field.data_type()).map_err(err)?);
        }
        let b = RecordBatch::try_new(schema::BREAKDOWNS.clone(), columns).map_err(err)?;
        let col = column(&b, query, "month")?.clone();
        let of_batch: std::collections::BTreeSet<String> = strings(&b, query, "month")?.into_iter().collect();
        for month in of_batch {
            let mask = datafusion::arrow::compute::kernels::cmp::eq(&col, &StringArray::new_scalar(&month))
                .map_err(err)?;
            months.entry(month).or_default().push(filter_record_batch(&b, &mask).map_err(err)?);
        }
    }
    Ok(months)
}

/// Whether two sets of [`schema::BREAKDOWNS`] batches hold the same rows in the same order
/// ([`Engine::break_down_months`] orders its rows fully).
pub(crate) fn same_breakdowns(a: &[RecordBatch], b: &[RecordBatch]) -> bool {
    use datafusion::arrow::compute::concat_batches;
    match (concat_batches(&schema::BREAKDOWNS, a), concat_batches(&schema::BREAKDOWNS, b)) {
        (Ok(a), Ok(b)) => a.columns() == b.columns(),
        _ => false,
    }
}

/// Whether every partition of `manifest` has counts, and every month department and partner
/// sums, made by this build's rules (trivially so without partitions): otherwise reads sum the
/// events, and the next `run` stores them.
pub(crate) fn sums_are_stored(manifest: &Manifest) -> bool {
    manifest.partitions.is_empty()
        || (manifest.stored_counts(&counts_rules()).is_some()
            && manifest.stored_breakdowns(&breakdowns_rules()).is_some())
}

/// `event_month_counts` from the counts the manifest stores, with the columns and types of the
/// view of `event_month_counts.sql`.
fn register_stored_counts(
    ctx: &SessionContext,
    stored: &[(&crate::warehouse::PartitionEntry, &[u64])],
) -> Result<(), EngineError> {
    const TABLE: &str = "event_month_counts";
    let err =
        |e: datafusion::arrow::error::ArrowError| EngineError::Register { table: TABLE, source: e.into() };
    let mut fields =
        vec![Field::new("hospital_code", DataType::Utf8, false), Field::new("month", DataType::Utf8, false)];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(stored.iter().map(|(p, _)| p.hospital_code.as_str()))),
        Arc::new(StringArray::from_iter_values(stored.iter().map(|(p, _)| p.month.as_str()))),
    ];
    for (i, c) in Count::ALL.iter().enumerate() {
        fields.push(Field::new(c.name(), DataType::Int64, true));
        let values = stored.iter().map(|(_, counts)| counts.get(i).and_then(|v| i64::try_from(*v).ok()));
        columns.push(Arc::new(Int64Array::from_iter(values)));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(err)?;
    ctx.register_batch(TABLE, batch).map_err(|source| EngineError::Register { table: TABLE, source })?;
    Ok(())
}

/// `regime_signs` and `regime_conditions`: the regime YAML data as tables, so the SQL holds no
/// threshold literals. `regime_signs` has a row per regime and metric and, for every count, the
/// sign it has on each side of the line (`numerator_<count>`, `denominator_<count>`: 1 added,
/// −1 subtracted, 0 unused; a regime names a count at most once on a side).
fn register_regimes(ctx: &SessionContext, regimes: &[&Regime]) -> Result<(), EngineError> {
    let (mut r_id, mut r_metric) = (vec![], vec![]);
    let mut signs: Vec<(String, Vec<i64>)> = ["numerator", "denominator"]
        .into_iter()
        .flat_map(|side| Count::ALL.map(|c| (format!("{side}_{}", c.name()), Vec::new())))
        .collect();
    let (mut c_id, mut c_crit, mut c_idx, mut c_metric, mut c_op, mut c_num, mut c_den, mut c_scale) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for regime in regimes {
        for kind in [MetricKind::Referral, MetricKind::Reverse] {
            let metric = regime.metric(kind);
            r_id.push(regime.id.clone());
            r_metric.push(kind.name());
            let mut columns = signs.iter_mut();
            for terms in [&metric.numerator, &metric.denominator] {
                for (count, (_, column)) in Count::ALL.into_iter().zip(columns.by_ref()) {
                    column.push(terms.iter().find(|t| t.count == count).map_or(0, |t| t.sign));
                }
            }
        }
        for criterion in &regime.criteria {
            for (i, cond) in criterion.conditions.iter().enumerate() {
                c_id.push(regime.id.clone());
                c_crit.push(criterion.id.clone());
                c_idx.push(i as i64);
                c_metric.push(cond.metric.name());
                c_op.push(cond.op.sql());
                c_num.push(cond.threshold.numerator as i64);
                c_den.push(cond.threshold.denominator as i64);
                c_scale.push(regime.metric(cond.metric).unit.scale() as i64);
            }
        }
    }
    let err = |table: &'static str| {
        move |e: datafusion::arrow::error::ArrowError| EngineError::Register { table, source: e.into() }
    };
    let mut sign_columns = vec![
        ("regime_id".to_string(), Arc::new(StringArray::from(r_id)) as ArrayRef),
        ("metric".to_string(), Arc::new(StringArray::from(r_metric))),
    ];
    sign_columns.extend(signs.into_iter().map(|(name, v)| (name, Arc::new(Int64Array::from(v)) as ArrayRef)));
    let signs = RecordBatch::try_from_iter(sign_columns).map_err(err("regime_signs"))?;
    let conditions = RecordBatch::try_from_iter(vec![
        ("regime_id", Arc::new(StringArray::from(c_id)) as ArrayRef),
        ("criterion_id", Arc::new(StringArray::from(c_crit))),
        ("condition_index", Arc::new(Int64Array::from(c_idx))),
        ("metric", Arc::new(StringArray::from(c_metric))),
        ("op", Arc::new(StringArray::from(c_op))),
        ("threshold_num", Arc::new(Int64Array::from(c_num))),
        ("threshold_den", Arc::new(Int64Array::from(c_den))),
        ("scale", Arc::new(Int64Array::from(c_scale))),
    ])
    .map_err(err("regime_conditions"))?;
    ctx.register_batch("regime_signs", signs)
        .map_err(|source| EngineError::Register { table: "regime_signs", source })?;
    ctx.register_batch("regime_conditions", conditions)
        .map_err(|source| EngineError::Register { table: "regime_conditions", source })?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Breakdowns for the hospital page (by department, by partner institution).

/// The breakdown SQL files, compiled into the binary.
pub(crate) mod breakdown_sql {
    pub(crate) const MONTH_BREAKDOWNS: &str = include_str!("../../queries/month_breakdowns.sql");
    pub(crate) const DEPARTMENT_BREAKDOWN: &str = include_str!("../../queries/department_breakdown.sql");
    pub(crate) const PARTNER_MONTHS: &str = include_str!("../../queries/partner_months.sql");
    pub(crate) const PARTNER_HOSPITAL_MONTHS: &str =
        include_str!("../../queries/partner_hospital_months.sql");
    pub(crate) const PARTNER_BREAKDOWN: &str = include_str!("../../queries/partner_breakdown.sql");
}

/// Counts of one department of one hospital over one fiscal year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DepartmentRow {
    pub hospital_code: String,
    pub fiscal_year: i32,
    pub department: String,
    pub first_visits: u64,
    pub initial_patients: u64,
    pub referred_patients: u64,
    pub reverse_referred_patients: u64,
}

/// Referrals exchanged with one partner institution (not related to the founder) over one
/// fiscal year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartnerRow {
    pub hospital_code: String,
    pub fiscal_year: i32,
    pub partner_code: String,
    /// Referred patients from this partner over the whole fiscal year (as far as there is data).
    pub referred_patients: u64,
    /// Reverse referrals to this partner over the fiscal year.
    pub reverse_referred_patients: u64,
    /// Referred patients in the compared months of this fiscal year.
    pub referred_compared: u64,
    /// Referred patients in the same months twelve months earlier.
    pub referred_previous: u64,
    /// Months of this fiscal year with data in both years; 0 means no comparison is possible.
    pub compared_months: u64,
}

impl Engine {
    /// Registers `fiscal_months` (month, fiscal_year, same_month_prev_year) for every month
    /// from twelve months before the first to the last of `months`.
    fn register_fiscal_months(&self, months: &std::collections::BTreeSet<String>) -> Result<(), EngineError> {
        let all = match (months.first(), months.last()) {
            (Some(first), Some(last)) => crate::periods::month_range(&shift_year(first, -1), last),
            _ => Vec::new(),
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("month", DataType::Utf8, false),
            Field::new("fiscal_year", DataType::Int64, false),
            Field::new("same_month_prev_year", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(all.iter())),
                Arc::new(Int64Array::from_iter_values(
                    all.iter().map(|m| i64::from(crate::periods::fiscal_year_of(m).unwrap_or(0))),
                )),
                Arc::new(StringArray::from_iter_values(all.iter().map(|m| shift_year(m, -1)))),
            ],
        )
        .map_err(|e| EngineError::Register { table: "fiscal_months", source: e.into() })?;
        self.register("fiscal_months", vec![batch], schema)
    }

    /// Every record of `hospital` in `month` (or in every month), in input order, with the
    /// counts it is in (`queries/explain.sql`).
    pub(crate) async fn explain(
        &self,
        hospital: &str,
        month: Option<&str>,
    ) -> Result<Vec<CountedRecord>, EngineError> {
        use datafusion::scalar::ScalarValue;
        const Q: &str = "explain.sql";
        self.register_counted_events().await?;
        let params = vec![ScalarValue::from(hospital), ScalarValue::Utf8(month.map(str::to_string))];
        let batches = self
            .ctx
            .sql(sql::EXPLAIN)
            .await
            .and_then(|df| df.with_param_values(params))
            .map_err(|source| EngineError::Query { query: Q, source })?
            .collect()
            .await
            .map_err(|source| EngineError::Query { query: Q, source })?;
        let mut records = Vec::new();
        for b in &batches {
            let text = |name| strings(b, Q, name);
            let (months, files, dates, types) =
                (text("month")?, text("source_file")?, text("event_date")?, text("event_type")?);
            let (keys, departments) = (text("patient_key")?, text("department")?);
            let partners = column(b, Q, "partner_code")?;
            let partners = partners
                .as_string_opt::<i32>()
                .ok_or(EngineError::Shape { query: Q, column: "partner_code".into() })?;
            let lines = ints(b, Q, "source_line")?;
            let related = bools(b, Q, "partner_related")?;
            let mut flags = Vec::new();
            for name in ["referral_letter", "ambulance", "after_hours_emergency", "checkup_origin"] {
                flags.push(bools(b, Q, name)?);
            }
            let mut counts = Vec::new();
            for c in Count::ALL {
                // `counted_events` names a record's column by the count, singular.
                let name = c.name().strip_suffix('s').unwrap_or(c.name());
                counts.push(ints(b, Q, name)?);
            }
            for i in 0..b.num_rows() {
                records.push(CountedRecord {
                    month: months[i].clone(),
                    source_file: files[i].clone(),
                    source_line: to_u64(lines[i]).unwrap_or(0),
                    event_date: dates[i].clone(),
                    event_type: types[i].clone(),
                    patient_key: keys[i].clone(),
                    department: departments[i].clone(),
                    partner_code: (!partners.is_null(i)).then(|| partners.value(i).to_string()),
                    partner_related: related[i].unwrap_or(false),
                    flags: [0, 1, 2, 3].map(|f| flags[f][i].unwrap_or(false)),
                    counts: [0, 1, 2, 3, 4, 5, 6, 7, 8].map(|c| to_u64(counts[c][i]).unwrap_or(0)),
                });
            }
        }
        Ok(records)
    }

    /// Counts per hospital, fiscal year and department (`queries/department_breakdown.sql`)
    /// over the fiscal years of `months` (the months with data).
    pub(crate) async fn department_breakdown(
        &self,
        months: &std::collections::BTreeSet<String>,
    ) -> Result<Vec<DepartmentRow>, EngineError> {
        const Q: &str = "department_breakdown.sql";
        self.register_month_breakdowns().await?;
        self.register_fiscal_months(months)?;
        let mut rows = Vec::new();
        for b in &self.run(Q, breakdown_sql::DEPARTMENT_BREAKDOWN).await? {
            let (h, fy, d) =
                (strings(b, Q, "hospital_code")?, ints(b, Q, "fiscal_year")?, strings(b, Q, "department")?);
            let (first, initial) = (ints(b, Q, "first_visits")?, ints(b, Q, "initial_patients")?);
            let (referred, reverse) =
                (ints(b, Q, "referred_patients")?, ints(b, Q, "reverse_referred_patients")?);
            for i in 0..b.num_rows() {
                rows.push(DepartmentRow {
                    hospital_code: h[i].clone(),
                    fiscal_year: fy[i].unwrap_or(0) as i32,
                    department: d[i].clone(),
                    first_visits: to_u64(first[i]).unwrap_or(0),
                    initial_patients: to_u64(initial[i]).unwrap_or(0),
                    referred_patients: to_u64(referred[i]).unwrap_or(0),
                    reverse_referred_patients: to_u64(reverse[i]).unwrap_or(0),
                });
            }
        }
        Ok(rows)
    }

    /// Referrals per hospital, fiscal year and partner (`queries/partner_breakdown.sql`), with
    /// the same months of the previous fiscal year.
    pub(crate) async fn partner_breakdown(
        &self,
        months: &std::collections::BTreeSet<String>,
    ) -> Result<Vec<PartnerRow>, EngineError> {
        const Q: &str = "partner_breakdown.sql";
        self.register_month_breakdowns().await?;
        self.register_fiscal_months(months)?;
        self.register_partner_months().await?;
        let batches = self.run(Q, breakdown_sql::PARTNER_BREAKDOWN).await?;
        let mut rows = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
        for b in &batches {
            let (h, fy, p) =
                (strings(b, Q, "hospital_code")?, ints(b, Q, "fiscal_year")?, strings(b, Q, "partner_code")?);
            let (referred, reverse) =
                (ints(b, Q, "referred_patients")?, ints(b, Q, "reverse_referred_patients")?);
            let (compared, previous, n) = (
                ints(b, Q, "referred_compared")?,
                ints(b, Q, "referred_previous")?,
                ints(b, Q, "compared_months")?,
            );
            for i in 0..b.num_rows() {
                rows.push(PartnerRow {
                    hospital_code: h[i].clone(),
                    fiscal_year: fy[i].unwrap_or(0) as i32,
                    partner_code: p[i].clone(),
                    referred_patients: to_u64(referred[i]).unwrap_or(0),
                    reverse_referred_patients: to_u64(reverse[i]).unwrap_or(0),
                    referred_compared: to_u64(compared[i]).unwrap_or(0),
                    referred_previous: to_u64(previous[i]).unwrap_or(0),
                    compared_months: to_u64(n[i]).unwrap_or(0),
                });
            }
        }
        Ok(rows)
    }

    /// What [`Engine::release_breakdown_tables`] drops.
    pub(crate) const BREAKDOWN_TABLES: [&str; 3] =
        ["month_breakdowns", "partner_months", "partner_hospital_months"];

    /// Registers `partner_months` (the view of `partner_months.sql`) and
    /// `partner_hospital_months` (the table of `partner_hospital_months.sql`, a row per
    /// hospital-month), what `partner_breakdown.sql` reads. Call after
    /// [`Engine::register_month_breakdowns`] and `fiscal_months`.
    async fn register_partner_months(&self) -> Result<(), EngineError> {
        self.register_view("partner_months", "partner_months.sql", breakdown_sql::PARTNER_MONTHS).await?;
        self.run_into(
            "partner_hospital_months.sql",
            breakdown_sql::PARTNER_HOSPITAL_MONTHS,
            "partner_hospital_months",
        )
        .await?;
        Ok(())
    }

    /// Drops the tables the breakdowns are summed from (`month_breakdowns`, a view over the
    /// stored files or the events, `partner_months`, a view over it, and
    /// `partner_hospital_months`, held in memory: a row per hospital-month) from the session,
    /// once [`Engine::department_breakdown`] and [`Engine::partner_breakdown`] have given their
    /// rows; nothing after the breakdowns reads them. A later breakdown registers them again.
    pub(crate) fn release_breakdown_tables(&self) {
        for table in Self::BREAKDOWN_TABLES {
            // Absent (never registered) is as good as dropped.
            let _ = self.ctx.deregister_table(table);
        }
    }
}

/// `"2025-04"`, −1 → `"2024-04"`; other shapes unchanged.
fn shift_year(month: &str, years: i32) -> String {
    match crate::periods::parse_month(month) {
        Some((y, m)) => format!("{:04}-{m:02}", y + years),
        None => month.to_string(),
    }
}

#[cfg(test)]
mod golden;

#[cfg(test)]
mod tests {
    //! Each regime's arithmetic through the real SQL, on hand-computed counts.

    use super::*;
    use crate::ingest::{ReportedPeriod, ReportedRow};
    use crate::periods::{PeriodKind, calendar};
    use crate::rates::{RateRow, rate_rows};
    use crate::regimes::RegimeSet;

    fn reported(code: &str, counts: &[(&str, u64)]) -> ReportedRow {
        ReportedRow {
            hospital_code: code.to_string(),
            period: ReportedPeriod::FiscalYear(2025),
            counts: counts.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            masked: Default::default(),
            line: 2,
        }
    }

    /// Rows for every built-in regime over the given hospitals' FY2025 counts.
    async fn evaluate(rows: &[ReportedRow]) -> Vec<RateRow> {
        let set = RegimeSet::builtin();
        let regimes: Vec<&Regime> = set.iter().collect();
        let batch = schema::reported_batch(rows, "test.csv");
        let engine = Engine::for_counts(vec![batch], &regimes).unwrap();
        engine.monthly_counts().await.unwrap();
        let months = ["2025-04".to_string(), "2026-03".to_string()].into_iter().collect();
        let results = engine.evaluate(&calendar(PeriodKind::FiscalYear, &months)).await.unwrap();
        rate_rows(&results, &regimes)
    }

    fn find<'a>(rows: &'a [RateRow], code: &str, regime: &str) -> &'a RateRow {
        rows.iter().find(|r| r.hospital_code == code && r.regime_id == regime).unwrap()
    }

    fn summary(r: &RateRow) -> (Option<String>, Option<String>, &str, String, bool) {
        (r.referral_display(), r.reverse_display(), r.verdict.code(), r.met_criteria.join(","), r.on_boundary)
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    // first 1000, holiday/night 100, initial 800, referred 520, emergency 60, reverse 420,
    // return visits 9000.
    const TYPICAL: [(&str, u64); 7] = [
        ("first_visits", 1000),
        ("after_hours_first_visits", 100),
        ("initial_patients", 800),
        ("referred_patients", 520),
        ("emergency_patients", 60),
        ("reverse_referred_patients", 420),
        ("return_visits", 9000),
    ];

    #[tokio::test]
    async fn every_regime_on_hand_computed_counts() {
        let rows = evaluate(&[reported("0110113719", &TYPICAL)]).await;
        let h = "0110113719";
        // 520/800 = 65.0 % (exactly B's line, and B needs > 65), 420/800 = 52.5 %:
        // A no, B no, C (> 50 and > 70) no → fail, on the line.
        assert_eq!(
            summary(find(&rows, h, "chiiki-shien-2014")),
            (s("65.0"), s("52.5"), "fail", String::new(), true)
        );
        // (520 + 60)/800 = 72.5 %: B (> 60 and > 30) only.
        assert_eq!(
            summary(find(&rows, h, "chiiki-shien-2004")),
            (s("72.5"), s("52.5"), "pass", "B".into(), false)
        );
        // (520 + 60)/(1000 − 100) = 64.44 %, 420/900 = 46.67 %.
        assert_eq!(
            summary(find(&rows, h, "tokutei-kino")),
            (s("64.4"), s("46.7"), "pass", "target".into(), false)
        );
        assert_eq!(
            summary(find(&rows, h, "juten-gairai")),
            (s("65.0"), s("52.5"), "pass", "reference".into(), false)
        );
        // 72.5 %, 420/(800 + 9000) × 1000 = 42.86 ‰.
        assert_eq!(
            summary(find(&rows, h, "shinryo-2022")),
            (s("72.5"), s("42.9"), "pass", "standard".into(), false)
        );
        assert_eq!(find(&rows, h, "shinryo-2022").reverse_unit, "‰");
        assert_eq!(
            summary(find(&rows, h, "shinryo-2022-400")),
            (s("72.5"), s("42.9"), "pass", "standard".into(), false)
        );
    }

    /// A row with masked counts: `(name, lowest, highest)`.
    fn reported_masked(code: &str, exact: &[(&str, u64)], masked: &[(&str, u64, u64)]) -> ReportedRow {
        let mut row = reported(code, exact);
        for (name, low, high) in masked {
            row.counts.insert(name.to_string(), *low);
            row.masked.insert(name.to_string(), *high);
        }
        row
    }

    #[tokio::test]
    async fn masked_counts_give_intervals_and_a_verdict_only_when_every_value_agrees() {
        let star = |name| (name, 1, 10);
        let rows = evaluate(&[
            // 12 initial, referred masked (1–10), 11 reverse: 紹介率 1/12..10/12 = 8.3–83.3 %,
            // 逆紹介率 91.7 %. A (≥ 80) holds only from 10 referred, B (> 65) from 8: whether it
            // passes depends on the masked value.
            reported_masked(
                "0110113719",
                &[("initial_patients", 12), ("reverse_referred_patients", 11)],
                &[star("referred_patients")],
            ),
            // 18 initial, referred masked, 11 reverse: 紹介率 5.6–55.6 %, 逆紹介率 61.1 %. No
            // criterion of chiiki-shien-2014 can hold (A ≥ 80, B > 65, C needs 逆紹介率 > 70):
            // fail whatever the mask hides. juten-gairai (≥ 50 and ≥ 40) holds from 9 referred.
            reported_masked(
                "0210113717",
                &[("initial_patients", 18), ("reverse_referred_patients", 11)],
                &[star("referred_patients")],
            ),
            // 200 initial, 170 referred (85 %), reverse masked (0.5–5.0 %): A holds whatever.
            reported_masked(
                "0310113715",
                &[("initial_patients", 200), ("referred_patients", 170)],
                &[star("reverse_referred_patients")],
            ),
        ])
        .await;
        let shown = |code: &str, regime: &str| {
            let r = find(&rows, code, regime);
            (r.referral_display(), r.reverse_display(), r.verdict.code(), r.met_criteria.join(","))
        };
        assert_eq!(
            shown("0110113719", "chiiki-shien-2014"),
            (s("8.3–83.3"), s("91.7"), "undetermined", String::new())
        );
        let r = find(&rows, "0110113719", "chiiki-shien-2014");
        assert_eq!(r.referral, None, "an interval is never shown as one of its ends");
        let criteria: Vec<(&str, Option<bool>, bool)> =
            r.criteria.iter().map(|c| (&*c.id, c.met, c.undetermined)).collect();
        // C needs 紹介率 > 50 (from 7 referred) and 逆紹介率 > 70 (91.7): undetermined too.
        assert_eq!(criteria, [("A", None, true), ("B", None, true), ("C", None, true)]);
        assert_eq!((r.referral_gap, r.reverse_gap), (None, None), "no gap from an unknown value");
        assert!(!r.on_boundary);
        assert_eq!(r.counts.text(Count::ReferredPatients), "1..10");
        assert_eq!(r.counts.get(Count::ReferredPatients), None);
        assert!(r.missing_counts.is_empty(), "masked is known, not missing");

        assert_eq!(
            shown("0210113717", "chiiki-shien-2014"),
            (s("5.6–55.6"), s("61.1"), "fail", String::new())
        );
        let r = find(&rows, "0210113717", "chiiki-shien-2014");
        let criteria: Vec<(&str, Option<bool>, bool)> =
            r.criteria.iter().map(|c| (&*c.id, c.met, c.undetermined)).collect();
        assert_eq!(
            criteria,
            [("A", Some(false), false), ("B", Some(false), false), ("C", Some(false), false)]
        );
        assert_eq!(
            shown("0210113717", "juten-gairai"),
            (s("5.6–55.6"), s("61.1"), "undetermined", String::new())
        );

        assert_eq!(shown("0310113715", "chiiki-shien-2014"), (s("85.0"), s("0.5–5.0"), "pass", "A".into()));
        assert_eq!(shown("0310113715", "juten-gairai"), (s("85.0"), s("0.5–5.0"), "fail", String::new()));
    }

    #[tokio::test]
    async fn per_mille_just_under_the_line_shows_30_and_fails() {
        // 2996 / (10000 + 90000) × 1000 = 29.96 ‰ → "30.0", but 29.96 < 30.
        let rows = evaluate(&[reported(
            "0110113719",
            &[
                ("initial_patients", 10_000),
                ("referred_patients", 6_000),
                ("emergency_patients", 0),
                ("reverse_referred_patients", 2_996),
                ("return_visits", 90_000),
            ],
        )])
        .await;
        let r = find(&rows, "0110113719", "shinryo-2022");
        assert_eq!(summary(r), (s("60.0"), s("30.0"), "fail", String::new(), false));
        // Four more reverse referrals: 3000 / 100000 = exactly 30 ‰.
        assert_eq!(r.reverse_gap, Some(4));
    }

    #[tokio::test]
    async fn absurd_counts_cannot_wrap_around_into_a_pass() {
        // 80 × 115292150460684698 overflows Int64 (it once wrapped to a negative number and the
        // hospital "passed" at 0.0 %). Ingest refuses such counts; the SQL must not rely on it.
        let rows = evaluate(&[reported(
            "0110113719",
            &[
                ("initial_patients", 115_292_150_460_684_698),
                ("referred_patients", 0),
                ("reverse_referred_patients", 0),
            ],
        )])
        .await;
        let r = find(&rows, "0110113719", "chiiki-shien-2014");
        assert_eq!((r.verdict.code(), r.on_boundary), ("fail", false));
        assert!(r.met_criteria.is_empty());
    }

    #[tokio::test]
    async fn zero_denominator_and_rates_above_100_percent() {
        let rows = evaluate(&[
            reported(
                "0110113719",
                &[("initial_patients", 0), ("referred_patients", 0), ("reverse_referred_patients", 3)],
            ),
            reported(
                "1312345679",
                &[("initial_patients", 100), ("referred_patients", 80), ("reverse_referred_patients", 150)],
            ),
        ])
        .await;
        // No initial patients: no rate, no verdict.
        let none = find(&rows, "0110113719", "chiiki-shien-2014");
        assert_eq!(summary(none), (None, None, "no_data", String::new(), false));
        // 80/100 = exactly 80 % (A, ≥, on the line); 150/100 = 150 % reverse is normal, and
        // meets B (> 65, > 40) and C (> 50, > 70) too.
        let high = find(&rows, "1312345679", "chiiki-shien-2014");
        assert_eq!(summary(high), (s("80.0"), s("150.0"), "pass", "A,B,C".into(), true));
    }

    #[tokio::test]
    async fn gaps_make_the_criterion_pass_when_added() {
        let rows = evaluate(&[reported("0110113719", &TYPICAL)]).await;
        let set = RegimeSet::builtin();
        let regime = set.get("chiiki-shien-2014").unwrap();
        let row = find(&rows, "0110113719", "chiiki-shien-2014");
        for c in row.criteria.iter().filter(|c| c.met == Some(false)) {
            let criterion = regime.criteria.iter().find(|k| *k.id == *c.id).unwrap();
            let mut counts = row.counts.known();
            let (rg, vg) = (c.referral_gap.unwrap_or(0), c.reverse_gap.unwrap_or(0));
            for k in [Count::ReferredPatients, Count::InitialPatients, Count::FirstVisits] {
                *counts.get_mut(&k).unwrap() += rg;
            }
            *counts.get_mut(&Count::ReverseReferredPatients).unwrap() += vg;
            let holds = |counts: &BTreeMap<Count, u64>| {
                criterion.conditions.iter().all(|k| {
                    regime.metric(k.metric).ratio(counts).unwrap().satisfies(k.op, k.threshold) == Some(true)
                })
            };
            assert!(holds(&counts), "criterion {} still unmet after the gaps", c.id);
            // One fewer referral (when one was needed) is not enough.
            if rg > 0 {
                let mut fewer = counts.clone();
                for k in [Count::ReferredPatients, Count::InitialPatients, Count::FirstVisits] {
                    *fewer.get_mut(&k).unwrap() -= 1;
                }
                assert!(!holds(&fewer), "criterion {}: referral gap {rg} is not the smallest", c.id);
            }
        }
        // B: 65.0 % needs > 65 → one more referral; 420/801 = 52.4 % > 40 already.
        let b = row.criteria.iter().find(|c| &*c.id == "B").unwrap();
        assert_eq!((b.referral_gap, b.reverse_gap), (Some(1), None));
        // The nearest criterion is B.
        assert_eq!((row.referral_gap, row.reverse_gap), (Some(1), None));
    }

    /// `regime_metrics.sql` sums each side across the period's row, under every built-in regime
    /// (one subtracts a count), on 300 periods whose counts are each exact, masked (an interval)
    /// or not reported: checked against the regimes' own terms. A side's lowest value adds its
    /// added counts at their lowest and takes away its subtracted ones at their highest, its
    /// highest the reverse; a count not reported makes every side that uses it NULL, and only
    /// those.
    #[tokio::test]
    async fn regime_metrics_sum_each_side_as_the_regime_terms_say() {
        use rand::{Rng, SeedableRng};
        let set = RegimeSet::builtin();
        let regimes: Vec<&Regime> = set.iter().collect();
        let subtracts = |r: &&Regime| {
            [MetricKind::Referral, MetricKind::Reverse]
                .iter()
                .any(|k| r.metric(*k).denominator.iter().any(|t| t.sign < 0))
        };
        assert!(regimes.iter().any(subtracts), "a built-in regime subtracts a count");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        // Per period, per count: None (not reported) or (lowest, highest).
        let periods: Vec<Vec<Option<(i64, i64)>>> = (0..300)
            .map(|_| {
                Count::ALL
                    .iter()
                    .map(|_| match rng.random_range(0..10) {
                        0 => None,
                        1 | 2 => {
                            let low = rng.random_range(0..50);
                            Some((low, low + rng.random_range(1..10)))
                        }
                        _ => {
                            let v = rng.random_range(0..5_000);
                            Some((v, v))
                        }
                    })
                    .collect()
            })
            .collect();
        let mut columns: Vec<(String, ArrayRef)> = vec![
            (
                "hospital_code".into(),
                Arc::new(StringArray::from_iter_values((0..periods.len()).map(|i| format!("H{i:03}")))),
            ),
            ("period_kind".into(), Arc::new(StringArray::from(vec!["fiscal-year"; periods.len()]))),
            ("period".into(), Arc::new(StringArray::from(vec!["2025"; periods.len()]))),
        ];
        for (i, c) in Count::ALL.iter().enumerate() {
            columns.push((
                c.name().into(),
                Arc::new(Int64Array::from_iter(periods.iter().map(|p| p[i].map(|v| v.0)))),
            ));
        }
        for (i, c) in Count::ALL.iter().enumerate() {
            columns.push((
                c.high_name().into(),
                Arc::new(Int64Array::from_iter(periods.iter().map(|p| p[i].map(|v| v.1)))),
            ));
        }
        let ctx = SessionContext::new();
        register_regimes(&ctx, &regimes).unwrap();
        ctx.register_batch("period_counts", RecordBatch::try_from_iter(columns).unwrap()).unwrap();
        let batches = ctx.sql(sql::REGIME_METRICS).await.unwrap().collect().await.unwrap();

        let side = |p: &[Option<(i64, i64)>], terms: &[crate::regimes::Term], high: bool| -> Option<i64> {
            let mut total = 0;
            for t in terms {
                let (low, hi) = p[Count::ALL.iter().position(|c| *c == t.count).unwrap()]?;
                total += match (t.sign > 0, high) {
                    (true, false) | (false, true) => t.sign * low,
                    _ => t.sign * hi,
                }
            }
            Some(total)
        };
        let mut seen = 0;
        let (mut masked, mut missing) = (0, 0);
        for b in &batches {
            let (h, r, m) = (
                b.column(0).as_string::<i32>(),
                b.column(3).as_string::<i32>(),
                b.column(4).as_string::<i32>(),
            );
            let value = |i: usize, row: usize| {
                let a = b.column(i).as_primitive::<Int64Type>();
                a.is_valid(row).then(|| a.value(row))
            };
            for row in 0..b.num_rows() {
                let p = &periods[h.value(row)[1..].parse::<usize>().unwrap()];
                let regime = regimes.iter().find(|g| g.id == r.value(row)).unwrap();
                let kind =
                    if m.value(row) == "referral" { MetricKind::Referral } else { MetricKind::Reverse };
                let metric = regime.metric(kind);
                let expected = [
                    side(p, &metric.numerator, false),
                    side(p, &metric.denominator, false),
                    side(p, &metric.numerator, true),
                    side(p, &metric.denominator, true),
                ];
                let got = [value(5, row), value(6, row), value(7, row), value(8, row)];
                assert_eq!(got, expected, "{} {} {}", h.value(row), r.value(row), m.value(row));
                let sides_missing = i64::from(expected[0].is_none()) + i64::from(expected[1].is_none());
                assert_eq!(value(9, row), Some(sides_missing));
                masked += usize::from(expected[0] != expected[2] && expected[0].is_some());
                missing += usize::from(sides_missing > 0);
                seen += 1;
            }
        }
        assert_eq!(seen, periods.len() * regimes.len() * 2, "one row per period, regime and metric");
        assert!(
            masked > 100 && missing > 100,
            "the periods mix masked and missing counts: {masked}, {missing}"
        );
    }
}
