//! The commands: each ties config, ingest, warehouse, engine, rates and report together.
//!
//! This is the only module that sequences side effects (reading inputs, publishing, writing
//! reports) and decides the outcome a command reports to `main`.

mod hospitals;
mod ingest_run;
mod mapping;
mod output;
mod reports;
mod validate;

use std::collections::BTreeSet;
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
use crate::warehouse::{Manifest, Warehouse, WarehouseError};

pub use hospitals::{Hospital, load_hospitals};

/// What a command found, mapped to the exit code by `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Ran; every checked hospital passes (or there was nothing to check).
    AllPass,
    /// Ran; at least one hospital fails or sits exactly on a threshold.
    Attention,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::AllPass => 0,
            Outcome::Attention => 1,
        }
    }
}

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
    #[error("{file}: {source}")]
    Ingest { file: String, source: Box<ingest::IngestError> },
    #[error("{0}")]
    Input(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

impl AppError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> AppError {
        let context = context.into();
        move |source| AppError::Io { context, source }
    }
}

/// Runs one command.
pub async fn main(cli: Cli) -> Result<Outcome, AppError> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Run { config } => run(&Config::load(&config)?, quiet).await,
        Command::Rates { config, period, regimes, format } => {
            rates(&Config::load(&config)?, period, &regimes, format).await
        }
        Command::Status { config } => status(&Config::load(&config)?).await,
        Command::Regimes { config } => list_regimes(config.as_deref()),
        Command::Validate { config, files } => validate::validate(&Config::load(&config)?, &files),
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
        Command::Mapping { command: crate::cli::MappingCommand::Suggest { file } } => {
            print!("{}", mapping::suggest(&file)?);
            Ok(Outcome::AllPass)
        }
        Command::Sample { out, events, hospitals, months, start, seed } => {
            let spec = crate::sample::SampleSpec { events, hospitals, months, start, seed };
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

/// `refrate run`: ingest, publish, compute, render.
pub async fn run(cfg: &Config, quiet: bool) -> Result<Outcome, AppError> {
    let started = Instant::now();
    // Everything that can be checked without touching the warehouse is checked first, so a bad
    // config or a missing key writes nothing.
    let regime_set = RegimeSet::load(&cfg.regime_files)?;
    let regimes = selected_regimes(&regime_set, &cfg.regimes)?;
    let files = ingest_run::expand_inputs(cfg, quiet)?;
    // Patient numbers exist only in event logs; reported counts need no key.
    let pseudonymizer = if cfg.inputs.iter().any(|i| i.kind == crate::config::InputKind::Events) {
        Some(ingest::load_key(std::env::var(ingest::KEY_ENV_VAR).ok(), cfg.pseudonym_key_file.as_deref())?)
    } else {
        None
    };
    let related = match &cfg.related_institutions {
        Some(path) => {
            Some(ingest::RelatedInstitutions::load(path).map_err(|e| AppError::Input(e.to_string()))?)
        }
        None => None,
    };
    let hospitals = load_hospitals(cfg.hospitals.as_deref())?;
    let renderer = crate::report::Renderer::new(cfg.templates.as_deref())?;

    let warehouse = Warehouse::open(&cfg.warehouse)?;
    let current = warehouse.current().await?;
    let outcome =
        ingest_run::ingest_and_publish(cfg, &warehouse, current, files, pseudonymizer, related).await?;
    let manifest = outcome.manifest;

    let verdict = reports::render_all(cfg, &warehouse, &manifest, &regimes, &hospitals, &renderer).await?;
    if !quiet {
        eprintln!(
            "refrate: {} file(s) read ({} new), {} rows, {} rejected, {} partition(s) written, warehouse version {}{}, {} hospital(s) checked for {}: {} need attention; reports in {} ({:.1}s)",
            outcome.files_seen,
            outcome.files_ingested,
            outcome.rows_read,
            outcome.rows_rejected,
            outcome.partitions_written,
            manifest.version,
            if outcome.published { " (published)" } else { " (unchanged)" },
            verdict.hospitals_checked,
            if verdict.fiscal_years.is_empty() {
                "no fiscal year".to_string()
            } else {
                verdict.fiscal_years.iter().map(|y| format!("FY{y}")).collect::<Vec<_>>().join(" and ")
            },
            verdict.needing_attention,
            cfg.reports.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(if verdict.needing_attention > 0 { Outcome::Attention } else { Outcome::AllPass })
}

/// `refrate rates`: the numbers for scripts.
pub async fn rates(
    cfg: &Config,
    period: PeriodKind,
    regime_ids: &[String],
    format: OutputFormat,
) -> Result<Outcome, AppError> {
    let regime_set = RegimeSet::load(&cfg.regime_files)?;
    let ids = if regime_ids.is_empty() { &cfg.regimes[..] } else { regime_ids };
    let regimes = selected_regimes(&regime_set, ids)?;
    let warehouse = Warehouse::open_existing(&cfg.warehouse)?;
    let manifest = warehouse.current().await?;
    let engine = Engine::open(&warehouse, &manifest, &regimes).await?;
    let monthly = engine.monthly_counts().await?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if period == PeriodKind::Month {
        output::write_monthly(&mut out, &monthly, format)
    } else {
        let mut months: BTreeSet<String> = monthly.iter().map(|m| m.month.clone()).collect();
        // Fiscal years reported as a whole have no monthly rows but still need a calendar.
        months.extend(
            engine
                .reported_fiscal_years()
                .iter()
                .flat_map(|fy| [format!("{fy:04}-04"), format!("{:04}-03", fy + 1)]),
        );
        let results = engine.evaluate(&periods::calendar(period, &months)).await?;
        let mut rows = rate_rows(&results, &regimes);
        if let Some(last) = monthly.iter().map(|m| m.month.as_str()).max() {
            crate::rates::add_pace(&mut rows, last);
        }
        let attention = rows.iter().any(|r| r.needs_attention());
        output::write_rates(&mut out, &rows, period, format).map(|_| attention)
    };
    match written {
        Ok(true) => Ok(Outcome::Attention),
        Ok(false) => Ok(Outcome::AllPass),
        // A closed pipe (`refrate rates | head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Outcome::AllPass),
        Err(e) => Err(AppError::Io { context: "writing to stdout".into(), source: e }),
    }
}

/// `refrate status`.
pub async fn status(cfg: &Config) -> Result<Outcome, AppError> {
    let warehouse = Warehouse::open_existing(&cfg.warehouse)?;
    let manifest = warehouse.current().await?;
    print!("{}", output::status_text(&warehouse, &manifest));
    Ok(Outcome::AllPass)
}

fn list_regimes(config: Option<&Path>) -> Result<Outcome, AppError> {
    let files: Vec<PathBuf> = match config {
        Some(path) => Config::load(path)?.regime_files,
        None => Vec::new(),
    };
    let set = RegimeSet::load(&files)?;
    print!("{}", output::regimes_text(&set));
    Ok(Outcome::AllPass)
}

/// The manifest a reader should use (re-exported for tests).
pub async fn current_manifest(cfg: &Config) -> Result<Manifest, AppError> {
    Ok(Warehouse::open_existing(&cfg.warehouse)?.current().await?)
}
