//! The commands: each ties config, ingest, warehouse, engine, rates and report together.
//!
//! This is the only module that sequences side effects (reading inputs, publishing, writing
//! reports). It holds no business rule: the outcome a command reports to `main` comes from
//! [`crate::outcome`], the numbers from the engine and [`crate::rates`], the pages from
//! [`crate::report::build`].

mod explain;
mod ingest_run;
mod interrupt;
mod mapping;
mod output;
mod reports;
mod validate;

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cli::{Cli, Command, OutputFormat};
use crate::config::{Config, ConfigError};
use crate::engine::{Engine, EngineError};
use crate::ingest::{self, KeyError};
use crate::periods::{self, PeriodKind};
use crate::rates::rate_rows;
use crate::regimes::{Regime, RegimeError, RegimeSet};
use crate::report::ReportError;
use crate::warehouse::{LockPolicy, Manifest, Warehouse, WarehouseError};

pub(crate) use crate::ingest::{Hospital, load_hospitals};

pub use crate::outcome::Outcome;

/// Why a command could not run (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Regime(#[from] RegimeError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Master(#[from] ingest::MasterError),
    /// An input file that cannot be read; the message names the file (and line) itself, so
    /// it is not repeated as a cause.
    #[error("{error}")]
    Ingest { file: String, error: Box<ingest::IngestError> },
    /// An input refused before anything is published; the message names the file and what
    /// to do, and `kind` says which rule refused it.
    #[error("{message}")]
    Refused { kind: Refusal, message: String },
    #[error("inputs: {pattern:?}: {source}")]
    Glob { pattern: String, source: glob::PatternError },
    #[error("inputs: {pattern:?}: {source}")]
    GlobEntry { pattern: String, source: glob::GlobError },
    /// The related-institution list, or a file of reported counts, cannot be read.
    #[error(transparent)]
    InputFile(#[from] ingest::IngestError),
    #[error(transparent)]
    Aggregates(#[from] ingest::AggregatesError),
    /// Writing a Parquet file in memory failed (`what` names it).
    #[error("{what}: {source}")]
    Parquet { what: String, source: datafusion::parquet::errors::ParquetError },
    /// A stored partition decodes but not as the events table.
    #[error("reading partition {key} ({file}): {problem}")]
    Partition { key: String, file: String, problem: String },
    #[error("ingest stopped unexpectedly")]
    Task(#[from] tokio::task::JoinError),
    #[error("reports: {} cannot be a folder: {} is not one", .dir.display(), .existing.display())]
    ReportsFolder { dir: PathBuf, existing: PathBuf },
    #[error("not confirmed; the lock is unchanged (use --force to release it without asking)")]
    NotConfirmed,
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// Writing a command's output failed; a closed pipe (`refrate rates | head`) is not an
    /// error and `main` exits quietly.
    #[error("writing to stdout")]
    Stdout(#[source] std::io::Error),
    #[error("stopped by a signal (SIGTERM or SIGINT) before finishing")]
    Interrupted,
    /// A run that stopped after taking the lock; says what the warehouse and reports hold now.
    #[error("{}", stopped_state(crate::cli::Lang::En, *.before, *.now, .reports))]
    RunStopped { before: u64, now: u64, reports: PathBuf, source: Box<AppError> },
}

impl AppError {
    /// The message of this error in `lang`: input-file errors have a Japanese text; the rest
    /// are given in English.
    pub fn message(&self, lang: crate::cli::Lang) -> String {
        match (lang, self) {
            (crate::cli::Lang::Ja, AppError::Ingest { error, .. }) => error.message_ja(),
            (crate::cli::Lang::Ja, AppError::RunStopped { before, now, reports, source })
                if matches!(**source, AppError::Ingest { .. }) =>
            {
                format!("{}\n  原因: {}", stopped_state(lang, *before, *now, reports), source.message(lang))
            }
            _ => self.to_string(),
        }
    }

    /// The reader of stdout went away (`refrate rates | head`): nothing is wrong.
    pub fn is_closed_pipe(&self) -> bool {
        matches!(self, AppError::Stdout(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> AppError {
        let context = context.into();
        move |source| AppError::Io { context, source }
    }
}

/// Which rule refused an input (see [`AppError::Refused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// An input glob that matches no file and is not `optional`.
    NoMatch,
    /// A symbolic link among the inputs without `follow_symlinks`.
    Symlink,
    /// A pseudonymisation key other than the warehouse's.
    OtherKey,
    /// A month far after the month before it (`dates.max_jump_months`).
    MonthJump,
    /// A hospital-period given by two sources.
    TwoSources,
    /// A changed file that holds no valid row (without `--allow-empty`).
    EmptiedFile,
    /// More rejected rows than `max_reject_ratio`.
    TooManyRejects,
    /// A re-export of a month that differs from the stored one.
    DifferingExport,
    /// A file that is not text CSV, or is empty (`mapping suggest`).
    NotCsv,
    /// `validate` found an input `run` would refuse.
    Unusable,
    /// `validate` without the key, on rows of months that hold stored rows.
    KeyNeeded,
    /// `explain` of a hospital or month without any record (a mistyped code or month).
    NothingToExplain,
    /// A form asked for a period the data does not cover, or without its regime.
    FormUnavailable,
    /// An input file whose content changed while it was read.
    ChangedWhileRead,
}

impl AppError {
    pub(crate) fn refused(kind: Refusal, message: impl Into<String>) -> AppError {
        AppError::Refused { kind, message: message.into() }
    }
}

/// Runs one command.
pub async fn main(cli: Cli) -> Result<Outcome, AppError> {
    let quiet = cli.quiet;
    let lang = crate::cli::Lang::resolve(cli.lang);
    match cli.command {
        Command::Run { config, allow_empty } => {
            run(&Config::load(&config)?, RunOptions { quiet, allow_empty, lang }).await
        }
        Command::Vacuum { config } => vacuum(&Config::load(&config)?, quiet).await,
        Command::Unlock { config, force } => unlock(&Config::load(&config)?, force, quiet).await,
        Command::Rates { config, period, regimes, format } => {
            rates(&Config::load(&config)?, period, &regimes, format, quiet, lang).await
        }
        Command::Status { config } => status(&Config::load(&config)?).await,
        Command::Verify { config } => verify(&Config::load(&config)?, quiet).await,
        Command::Regimes { config } => list_regimes(config.as_deref()),
        Command::Explain { config, hospital, month, regime, totals } => {
            let request = explain::Request {
                hospital: &hospital,
                month: month.as_deref(),
                regime: regime.as_deref(),
                totals,
            };
            explain::explain(&Config::load(&config)?, request, quiet).await
        }
        Command::Form28 { config, hospital, filing } => {
            output::print(&reports::new_filing_form(&Config::load(&config)?, &hospital, &filing).await?)?;
            Ok(Outcome::AllPass)
        }
        Command::Validate { config, files } => {
            validate::validate(&Config::load(&config)?, &files, quiet, lang).await
        }
        Command::Init { path } => {
            use std::io::Write as _;
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(
                AppError::io(format!("creating {} (an existing file is never overwritten)", path.display())),
            )?;
            f.write_all(mapping::STARTER_CONFIG.as_bytes())
                .map_err(AppError::io(format!("writing {}", path.display())))?;
            if !quiet {
                eprintln!(
                    "refrate: wrote {}; edit it, then `refrate validate --config {}`",
                    path.display(),
                    path.display()
                );
            }
            Ok(Outcome::AllPass)
        }
        Command::Mapping { command: crate::cli::MappingCommand::Suggest { file, config } } => {
            output::print(&mapping::suggest(&file, &config)?)?;
            Ok(Outcome::AllPass)
        }
        Command::ForecastBacktest { hospitals, years, simulations, seed } => {
            let set = RegimeSet::builtin();
            let regime = set.get("chiiki-shien-2014")?;
            let spec = crate::forecast::backtest::Spec { hospitals, years: years.max(2), simulations, seed };
            let rows = crate::forecast::backtest::run(&spec, regime).await?;
            let mut text = format!(
                "Forecast backtest: {hospitals} generated hospitals × {} fiscal years ({} forecast), {simulations} simulated years each, seed {seed}, regime {}\n\n",
                spec.years,
                spec.years - 1,
                regime.id
            );
            text += "| months used | forecasts | 紹介率 in 80 % interval | 逆紹介率 in 80 % interval | Brier (pass) | Brier of the base rate | mean 紹介率 interval width |\n|---|---|---|---|---|---|---|\n";
            for r in rows {
                text += &format!(
                    "| {} | {} | {:.1} % | {:.1} % | {:.3} | {:.3} | {:.1} pt |\n",
                    r.months,
                    r.forecasts,
                    100.0 * r.referral_coverage,
                    100.0 * r.reverse_coverage,
                    r.brier,
                    r.brier_baseline,
                    r.referral_width
                );
            }
            output::print(&text)?;
            Ok(Outcome::AllPass)
        }
        Command::Sample { out, events, hospitals, months, partners, start, seed } => {
            let spec = crate::sample::SampleSpec { events, hospitals, months, partners, start, seed };
            let written = crate::sample::write(&out, &spec)
                .map_err(AppError::io(format!("writing sample to {}", out.display())))?;
            if !quiet {
                eprintln!(
                    "refrate: wrote {} events in {} files to {} (config: {})",
                    written.events,
                    written.files,
                    out.display(),
                    out.join("refrate.yaml").display()
                );
            }
            Ok(Outcome::AllPass)
        }
    }
}

fn selected_regimes<'a>(set: &'a RegimeSet, ids: &[String]) -> Result<Vec<&'a Regime>, AppError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for id in ids {
        if seen.insert(id.as_str()) {
            out.push(set.get(id)?);
        }
    }
    Ok(out)
}

/// How `refrate run` behaves beyond its config.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Print nothing but errors.
    pub quiet: bool,
    /// The language of the summary line and of the lines for the cron mail.
    pub lang: crate::cli::Lang,
    /// Accept changed input files that became empty (their hospital-months are cleared).
    pub allow_empty: bool,
}

/// `refrate run`: ingest, publish, compute, render.
pub async fn run(cfg: &Config, options: RunOptions) -> Result<Outcome, AppError> {
    run_with(cfg, options, |cfg| Warehouse::open(&cfg.warehouse)).await
}

/// `run` on a warehouse opened by `open_warehouse` (tests inject a faulty store here).
pub(crate) async fn run_with(
    cfg: &Config,
    options: RunOptions,
    open_warehouse: impl FnOnce(&Config) -> Result<Warehouse, WarehouseError>,
) -> Result<Outcome, AppError> {
    let started = Instant::now();
    let quiet = options.quiet;
    // Everything that can be checked without touching the warehouse is checked first, so a bad
    // config or a missing key writes nothing.
    let regime_set = RegimeSet::load(&cfg.regime_files)?;
    let regimes = selected_regimes(&regime_set, &cfg.regimes)?;
    let files = ingest_run::expand_inputs(cfg, quiet)?;
    // Patient numbers exist only in event logs; reported counts need no key.
    let pseudonymizer = if cfg.inputs.iter().any(|i| i.kind == crate::config::InputKind::Events) {
        let key =
            ingest::load_key(std::env::var(ingest::KEY_ENV_VAR).ok(), cfg.pseudonym_key_file.as_deref())?;
        if let Some(warning) = key.weakness()
            && !quiet
        {
            eprintln!("refrate: warning: {warning}");
        }
        Some(key)
    } else {
        None
    };
    let related = match &cfg.related_institutions {
        Some(source) => Some(ingest::RelatedInstitutions::load(source)?),
        None => None,
    };
    let hospitals = load_hospitals(cfg.hospitals.as_ref())?;
    let partners = load_hospitals(cfg.partners.as_ref())?;
    let facts = ingest::load_facts(cfg.approval_facts.as_ref())?;
    let renderer = crate::report::Renderer::new(cfg.templates.as_deref())?;
    reports::check_reports_folder(&cfg.reports)?;

    interrupt::install();
    let warehouse = open_warehouse(cfg)?;
    let run_id = ingest_run::new_run_id();
    let lock = warehouse.lock(&run_id, "run", LockPolicy::default()).await?;
    if let Some(t) = &lock.takeover
        && !quiet
    {
        eprintln!("refrate: note: took over the stale lock of {} ({})", t.previous, t.reason);
    }
    let result = match warehouse.current_for_writer().await {
        Ok(current) => {
            let before_version = current.version;
            let job = RunJob { cfg, options, warehouse: &warehouse, lock: &lock, run_id: &run_id, started };
            let masters = reports::Masters { hospitals: &hospitals, partners: &partners, facts: &facts };
            match job.run(current, files, pseudonymizer, related, &regimes, masters, &renderer).await {
                Ok(outcome) => Ok(outcome),
                Err(e) => Err(stopped(cfg, &warehouse, before_version, e).await),
            }
        }
        Err(e) => Err(e.into()),
    };
    release(lock, quiet).await;
    result
}

/// Releases the lock. A failure is only reported: once this process has ended, its lock is
/// stale and the next run takes it over.
async fn release(lock: crate::warehouse::WriterLock, quiet: bool) {
    if let Err(e) = lock.release().await
        && !quiet
    {
        eprintln!("refrate: warning: could not release the warehouse lock (the next run takes it over): {e}");
    }
}

/// Wraps the error of a run that stopped half-way with what a reader now sees.
async fn stopped(cfg: &Config, warehouse: &Warehouse, before: u64, error: AppError) -> AppError {
    let now = warehouse.latest_version().await.unwrap_or(before);
    AppError::RunStopped { before, now, reports: cfg.reports.clone(), source: Box::new(error) }
}

/// What the warehouse and the reports hold after a run stopped.
fn stopped_state(lang: crate::cli::Lang, before: u64, now: u64, reports: &Path) -> String {
    let reports = reports.display();
    match (lang, now == before) {
        (crate::cli::Lang::En, true) => format!(
            "run stopped; nothing was published (the warehouse stays at version {before}) and the reports in {reports} are those of the last good run"
        ),
        (crate::cli::Lang::En, false) => format!(
            "run stopped; the warehouse is now at version {now} (was {before}) but the reports in {reports} were not rewritten: run again to render them"
        ),
        (crate::cli::Lang::Ja, true) => format!(
            "実行を中止しました。何も公開していません（ウェアハウスは版 {before} のまま）。{reports} のレポートは前回正常に終わった実行のものです"
        ),
        (crate::cli::Lang::Ja, false) => format!(
            "実行を中止しました。ウェアハウスは版 {now}（前は {before}）になりましたが、{reports} のレポートは書き直していません。もう一度実行してください"
        ),
    }
}

/// The part of `run` done while holding the writer lock.
struct RunJob<'a> {
    cfg: &'a Config,
    options: RunOptions,
    warehouse: &'a Warehouse,
    lock: &'a crate::warehouse::WriterLock,
    run_id: &'a str,
    started: Instant,
}

impl RunJob<'_> {
    #[allow(clippy::too_many_arguments)]
    async fn run(
        self,
        current: Manifest,
        files: Vec<ingest_run::SourceFile>,
        pseudonymizer: Option<ingest::Pseudonymizer>,
        related: Option<ingest::RelatedInstitutions>,
        regimes: &[&Regime],
        masters: reports::Masters<'_>,
        renderer: &crate::report::Renderer,
    ) -> Result<Outcome, AppError> {
        let RunJob { cfg, options, warehouse, lock, run_id, started } = self;
        let files = ingest_run::classify(&current, files)?;
        // Nothing new and the pages made from this very state: nothing is read or rewritten.
        // Each stored file is checked for presence and size, as `rates` does.
        let nothing_new = files.iter().all(|(_, _, d)| *d != ingest_run::Delivery::New);
        // The record of the last render is sealed with the pseudonymisation key.
        let sealer = pseudonymizer.clone();
        let up_to_date = match &sealer {
            Some(sealer) if nothing_new => {
                reports::RenderRecord::of(cfg, &current, sealer)?.up_to_date(&cfg.reports)
            }
            _ => None,
        };
        // Otherwise a damaged warehouse stops the run before anything is read from it or
        // published. Every file is hashed: a run reads most of the warehouse anyway
        // (carry-over, rendering), and so is a warehouse whose sums this run must compute.
        if up_to_date.is_some() && crate::engine::sums_are_stored(&current) {
            warehouse.check_present(&current).await?;
        } else {
            warehouse.check_digests(&current).await?;
        }
        let progress = progress_bar(options.quiet);
        let ingest_options = ingest_run::IngestOptions {
            run_id,
            lock: Some(lock),
            overlap: cfg.overlap,
            allow_empty: options.allow_empty,
            progress: progress.clone(),
        };
        let outcome = ingest_run::ingest_and_publish(
            cfg,
            warehouse,
            ingest_options,
            current,
            files,
            pseudonymizer,
            related,
        )
        .await;
        progress.finish_and_clear();
        let mut outcome = outcome?;
        // Each file's details are for `validate`'s report: freed before the pages are made.
        drop(std::mem::take(&mut outcome.files));
        if !options.quiet {
            for note in &outcome.notes {
                eprintln!("refrate: note: {}", note.text);
            }
        }
        interrupt::check()?;
        let manifest = &outcome.manifest;
        let rendered = match up_to_date.filter(|_| !outcome.published) {
            Some(rendered) => rendered,
            None => {
                let record =
                    sealer.as_ref().map(|s| reports::RenderRecord::of(cfg, manifest, s)).transpose()?;
                match reports::render_all(
                    cfg,
                    warehouse,
                    manifest,
                    regimes,
                    masters,
                    renderer,
                    record.as_ref(),
                )
                .await
                {
                    Ok(rendered) => rendered,
                    Err(e) => return Err(reports::diagnose(warehouse, manifest, e).await),
                }
            }
        };
        if !options.quiet && !rendered.not_in_master.is_empty() {
            eprintln!(
                "refrate: warning: {} hospital(s) with data are not in the hospital master {}: {} (their pages have no name; add them)",
                rendered.not_in_master.len(),
                cfg.hospitals.as_ref().map(|m| cfg.display_path(&m.path)).unwrap_or_default(),
                rendered.not_in_master.join(", ")
            );
        }
        // Sweeping is housekeeping: a failure is reported but does not fail the run.
        interrupt::check()?;
        let swept = match warehouse.sweep(cfg.sweep, chrono::Utc::now()).await {
            Ok(report) => {
                warn_damaged_manifests(&report);
                report.deleted.len().to_string()
            }
            Err(e) => {
                eprintln!("refrate: warning: sweeping old files failed (run `refrate vacuum` later): {e}");
                "failed".to_string()
            }
        };
        if !options.quiet {
            let cleared = if outcome.partitions_cleared.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} month(s) CLEARED ({})",
                    outcome.partitions_cleared.len(),
                    outcome.partitions_cleared.join(" ")
                )
            };
            let summary = Summary {
                outcome: &outcome,
                version: manifest.version,
                cleared,
                swept: &swept,
                review: &rendered.review,
                reports: &cfg.reports,
                seconds: started.elapsed().as_secs_f64(),
            };
            eprintln!("{}", summary.line(options.lang));
        }
        // Printed even with --quiet: this is what the cron mail is for.
        for line in rendered.review.lines(options.lang) {
            eprintln!("{line}");
        }
        Ok(rendered.review.outcome())
    }
}

/// The one line a run prints on stderr.
struct Summary<'a> {
    outcome: &'a ingest_run::IngestOutcome,
    version: u64,
    /// `, N month(s) CLEARED (…)` or empty.
    cleared: String,
    swept: &'a str,
    review: &'a crate::outcome::Review,
    reports: &'a Path,
    seconds: f64,
}

impl Summary<'_> {
    fn line(&self, lang: crate::cli::Lang) -> String {
        let o = self.outcome;
        let (seen, new, read, rejected, present) =
            (o.files_seen, o.files_ingested, o.rows_read, o.rows_rejected, o.rows_already_present);
        let (skipped, months, cleared, version, swept) =
            (seen - new, o.partitions_written, &self.cleared, self.version, self.swept);
        let (checked, attention) = (self.review.hospitals_checked, self.review.hospitals_needing_attention());
        let (reports, secs) = (self.reports.display(), self.seconds);
        let years = &self.review.fiscal_years;
        match lang {
            crate::cli::Lang::En => {
                let published = if o.published { " (published)" } else { " (unchanged)" };
                let years = if years.is_empty() {
                    "no fiscal year".to_string()
                } else {
                    years.iter().map(|y| format!("FY{y}")).collect::<Vec<_>>().join(" and ")
                };
                format!(
                    "refrate: {seen} file(s) read ({new} new, {skipped} skipped as already ingested), {read} rows, {rejected} rejected, {present} already present, {months} month(s) published{cleared}, warehouse version {version}{published}, {swept} old file(s) swept, {checked} hospital(s) checked for {years}: {attention} need attention; reports in {reports} ({secs:.1}s)"
                )
            }
            crate::cli::Lang::Ja => {
                let published = if o.published { "公開" } else { "変更なし" };
                let years = if years.is_empty() {
                    "（年度なし）".to_string()
                } else {
                    years.iter().map(|y| crate::report::format::fy_ja(y.0)).collect::<Vec<_>>().join("・")
                };
                format!(
                    "refrate: ファイル {seen} 件（新規 {new}、取込済みのため省略 {skipped}）、{read} 行、不備 {rejected} 行、取込済みと同一 {present} 行、{months} か月分を公開{cleared}、ウェアハウス版 {version}（{published}）、古いファイル {swept} 件を削除、{checked} 病院を{years}について確認：要確認 {attention} 病院。レポート：{reports}（{secs:.1} 秒）"
                )
            }
        }
    }
}

/// A progress bar on a terminal only: cron mail and logs get the summary line instead.
fn progress_bar(quiet: bool) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} file(s) {wide_msg}",
        )
        .expect("static template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// Older manifests the sweep could not read: worth a look, but no reason to stop (even
/// `--quiet` says it, since a damaged file in the warehouse needs a person).
fn warn_damaged_manifests(report: &crate::warehouse::SweepReport) {
    for damaged in &report.damaged_manifests {
        eprintln!(
            "refrate: warning: an older manifest version cannot be read and was ignored by the sweep \
             (restore it from a backup or delete it; the current version is fine): {damaged}"
        );
    }
}

/// `refrate vacuum`: sweep under the writer lock.
pub async fn vacuum(cfg: &Config, quiet: bool) -> Result<Outcome, AppError> {
    interrupt::install();
    let warehouse = Warehouse::open_existing(&cfg.warehouse)?;
    let lock = warehouse.lock(&ingest_run::new_run_id(), "vacuum", LockPolicy::default()).await?;
    if let Some(t) = &lock.takeover
        && !quiet
    {
        eprintln!("refrate: note: took over the stale lock of {} ({})", t.previous, t.reason);
    }
    let result = match interrupt::check() {
        Ok(()) => warehouse.sweep(cfg.sweep, chrono::Utc::now()).await.map_err(AppError::from),
        Err(e) => Err(e),
    };
    release(lock, quiet).await;
    let report = result?;
    warn_damaged_manifests(&report);
    if !quiet {
        eprintln!(
            "refrate: vacuum: deleted {} file(s) ({} bytes); {} unreferenced file(s) younger than the retention ({}) kept; files of the newest {} version(s) kept",
            report.deleted.len(),
            report.bytes_freed,
            report.kept_young,
            humantime::format_duration(cfg.sweep.retention),
            cfg.sweep.keep_versions
        );
    }
    Ok(Outcome::AllPass)
}

/// `refrate unlock`: releases a stuck lock, after confirmation unless `force` or the holder
/// is provably gone.
pub async fn unlock(cfg: &Config, force: bool, quiet: bool) -> Result<Outcome, AppError> {
    use std::io::BufRead as _;
    let warehouse = Warehouse::open_existing(&cfg.warehouse)?;
    let Some(holder) = warehouse.lock_holder().await? else {
        if !quiet {
            eprintln!("refrate: the lock is free; nothing to do");
        }
        return Ok(Outcome::AllPass);
    };
    let stale = crate::warehouse::stale_reason(&holder, &LockPolicy::default(), chrono::Utc::now());
    if !force && stale.is_none() {
        eprintln!(
            "refrate: the lock is held by {holder}, which may still be running. Releasing it lets another run \
             start while it works (it would then publish nothing). Type `unlock` to release it:"
        );
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).map_err(AppError::io("reading the confirmation"))?;
        if answer.trim() != "unlock" {
            return Err(AppError::NotConfirmed);
        }
    }
    let ended = warehouse.unlock().await?;
    if !quiet && let Some(h) = ended {
        eprintln!("refrate: released the lock of {h}");
    }
    Ok(Outcome::AllPass)
}

/// `refrate rates`: the numbers for scripts. The exit code follows the one attention policy
/// ([`crate::outcome`]), whatever `--period` prints: the fiscal years a hospital still answers
/// for are evaluated too, as `run` does.
pub async fn rates(
    cfg: &Config,
    period: PeriodKind,
    regime_ids: &[String],
    format: OutputFormat,
    quiet: bool,
    lang: crate::cli::Lang,
) -> Result<Outcome, AppError> {
    let regime_set = RegimeSet::load(&cfg.regime_files)?;
    let ids = if regime_ids.is_empty() { &cfg.regimes[..] } else { regime_ids };
    let regimes = selected_regimes(&regime_set, ids)?;
    let hospitals = load_hospitals(cfg.hospitals.as_ref())?;
    let facts = ingest::load_facts(cfg.approval_facts.as_ref())?;
    let warehouse = Warehouse::open_existing(&cfg.warehouse)?;
    let manifest = warehouse.current().await?;
    reports::check_before_reading(&warehouse, &manifest).await?;
    let (engine, monthly) = match open_and_count(&warehouse, &manifest, &regimes).await {
        Ok(found) => found,
        Err(e) => return Err(reports::diagnose(&warehouse, &manifest, e).await),
    };
    let months: BTreeSet<String> = monthly.iter().map(|m| m.month.clone()).collect();
    let covered = periods::covered_months(&months, engine.reported_fiscal_years());
    let mut calendar = periods::calendar(PeriodKind::FiscalYear, &covered);
    if !matches!(period, PeriodKind::FiscalYear | PeriodKind::Month) {
        calendar.extend(periods::calendar(period, &covered));
    }
    let results = match engine.evaluate(&calendar).await {
        Ok(results) => results,
        Err(e) => return Err(reports::diagnose(&warehouse, &manifest, e.into()).await),
    };
    let mut rows = rate_rows(&results, &regimes);
    // The forecast is a column of the fiscal-year rows only.
    if period == PeriodKind::FiscalYear
        && let Err(e) = reports::add_forecasts(&mut rows, &monthly, &regimes).await
    {
        return Err(reports::diagnose(&warehouse, &manifest, e).await);
    }
    crate::rates::add_pace(
        &mut rows,
        crate::rates::YearProgress::under_way(months.last().map(String::as_str)).as_ref(),
    );
    let approval = match reports::approval(cfg, &engine, &facts, &hospitals).await {
        Ok(tables) => tables,
        Err(e) => return Err(reports::diagnose(&warehouse, &manifest, e).await),
    };
    let name = |code: &str| hospitals.get(code).and_then(|h| h.name.clone());
    let review = crate::outcome::Review::of(&rows, covered.last().map(String::as_str), name)
        .with_approval(&approval, name);
    if !quiet && review.outcome() != Outcome::AllPass {
        for line in review.lines(lang) {
            eprintln!("{line}");
        }
        eprintln!(
            "refrate: exit 1: {} hospital(s) need review in {} (verdict fail or undetermined, a rate exactly on a threshold, or an approval requirement not met; the rule of `refrate run`)",
            review.hospitals_needing_attention(),
            review.fiscal_years.iter().map(|y| format!("FY{y}")).collect::<Vec<_>>().join(" and ")
        );
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if period == PeriodKind::Month {
        output::write_monthly(&mut out, &monthly, format)
    } else {
        let shown: Vec<crate::rates::RateRow> =
            rows.into_iter().filter(|r| r.period_kind == period).collect();
        output::write_rates(&mut out, &shown, period, format)
    };
    written.and_then(|()| std::io::Write::flush(&mut out)).map_err(AppError::Stdout)?;
    Ok(review.outcome())
}

async fn open_and_count(
    warehouse: &Warehouse,
    manifest: &Manifest,
    regimes: &[&Regime],
) -> Result<(Engine, Vec<crate::engine::MonthlyRow>), AppError> {
    let engine = Engine::open(warehouse, manifest, regimes).await?;
    let monthly = engine.monthly_counts().await?;
    Ok((engine, monthly))
}

/// `refrate status`.
pub async fn status(cfg: &Config) -> Result<Outcome, AppError> {
    let warehouse = Warehouse::open_existing(&cfg.warehouse)?;
    let manifest = warehouse.current().await?;
    let holder = warehouse.lock_holder().await?;
    output::print(&output::status_text(&warehouse, &manifest, holder.as_ref()))?;
    // What it holds is shown either way; a damaged warehouse is not a clean status.
    warehouse.check_present(&manifest).await?;
    Ok(Outcome::AllPass)
}

/// `refrate verify`: reads every file the current manifest names and checks it is the file that
/// was published (exit 2 listing the damaged ones).
async fn verify(cfg: &Config, quiet: bool) -> Result<Outcome, AppError> {
    let warehouse = Warehouse::open_existing(&cfg.warehouse)?;
    let manifest = warehouse.current().await?;
    let report = warehouse.verify(&manifest, crate::warehouse::Depth::Decode).await?;
    if let Some(damage) = warehouse.damage_error(&report) {
        return Err(damage.into());
    }
    let counts = check_stored_counts(&warehouse, &manifest).await?;
    let sums = check_stored_breakdowns(&warehouse, &manifest).await?;
    if !quiet {
        let older = if report.without_digest > 0 {
            format!(
                "; {} file(s) written by an older refrate have no recorded size or SHA-256 and were checked for decoding only",
                report.without_digest
            )
        } else {
            String::new()
        };
        output::print(&format!(
            "warehouse {} version {}: {} file(s), {} bytes checked (present, size, SHA-256, decodes as its table, row count){counts}{sums}: no damage{older}\n",
            warehouse.location(),
            report.version,
            report.files,
            report.bytes
        ))?;
    }
    Ok(Outcome::AllPass)
}

/// The counts the manifest stores per partition, computed again from the event files and
/// compared: they are what `rates` reads. Returns what was checked, for the summary line.
async fn check_stored_counts(warehouse: &Warehouse, manifest: &Manifest) -> Result<String, AppError> {
    let Some(stored) = manifest.stored_counts(&crate::engine::counts_rules()) else {
        return Ok(String::new());
    };
    let files = manifest.event_files();
    let mut computed = Engine::count_partitions(warehouse, files.keys().copied()).await?;
    let differ: Vec<String> = stored
        .iter()
        .filter_map(|(p, counts)| {
            let key = Manifest::partition_key(&p.hospital_code, &p.month);
            let events = computed.remove(&key).unwrap_or_default();
            (events.as_slice() != *counts)
                .then(|| format!("{key} (stored {counts:?}, its events give {events:?})"))
        })
        .collect();
    refuse_differing(
        warehouse,
        &differ,
        format!(
            "the manifest's stored counts of {} partition(s) differ from their event files, so `rates` would report numbers its events do not give",
            differ.len()
        ),
        "The manifest was edited or damaged; restore it from a backup",
    )?;
    Ok(format!("; the stored counts of {} partition(s) recomputed from their events", stored.len()))
}

/// The department and partner sums the manifest stores per month, computed again from the
/// event files and compared: they are what the hospital pages read. Returns what was checked,
/// for the summary line.
async fn check_stored_breakdowns(warehouse: &Warehouse, manifest: &Manifest) -> Result<String, AppError> {
    let Some(stored) = manifest.stored_breakdowns(&crate::engine::breakdowns_rules()) else {
        return Ok(String::new());
    };
    let files = manifest.month_event_files();
    let mut differ = Vec::new();
    for (month, file) in &stored {
        let rows = warehouse.read_month_breakdowns(manifest.version, month, file).await?;
        let events = files.get(month.as_str()).map(|f| f.iter().map(|f| f.to_string()).collect());
        let mut computed =
            Engine::break_down_months(warehouse, &[(month.clone(), events.unwrap_or_default())]).await?;
        if !crate::engine::same_breakdowns(&rows, &computed.remove(month).unwrap_or_default()) {
            differ.push(format!("{month} ({})", file.path));
        }
    }
    refuse_differing(
        warehouse,
        &differ,
        format!(
            "the department and partner sums stored for {} month(s) differ from their event files, so the hospital pages would show numbers their events do not give",
            differ.len()
        ),
        "The manifest or those files were edited or damaged; restore them from a backup",
    )?;
    Ok(format!("; the department and partner sums of {} month(s) recomputed from their events", stored.len()))
}

/// `verify`'s refusal of stored sums that differ from their events: `what` differ (the
/// entries `differ`), and `restore` says how to recover besides a rebuild.
fn refuse_differing(
    warehouse: &Warehouse,
    differ: &[String],
    what: String,
    restore: &str,
) -> Result<(), AppError> {
    if differ.is_empty() {
        return Ok(());
    }
    Err(crate::warehouse::WarehouseError::Invalid {
        location: warehouse.location().to_string(),
        message: format!(
            "{what}: {}. {restore}, or rebuild the warehouse from the inputs",
            differ.join("; ")
        ),
    }
    .into())
}

fn list_regimes(config: Option<&Path>) -> Result<Outcome, AppError> {
    let files: Vec<PathBuf> = match config {
        Some(path) => Config::load(path)?.regime_files,
        None => Vec::new(),
    };
    let set = RegimeSet::load(&files)?;
    output::print(&output::regimes_text(&set))?;
    Ok(Outcome::AllPass)
}

/// The manifest a reader should use (re-exported for tests).
pub async fn current_manifest(cfg: &Config) -> Result<Manifest, AppError> {
    Ok(Warehouse::open_existing(&cfg.warehouse)?.current().await?)
}

#[cfg(test)]
mod tests;
