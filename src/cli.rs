//! Command-line interface: the commands and their flags, parsed into typed values.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::periods::PeriodKind;

/// refrate: referral (紹介率) and reverse-referral (逆紹介率) compliance for hospitals.
///
/// Exit codes: 0 ran and every checked hospital passes; 1 ran and at least one hospital fails
/// or sits exactly on a threshold; 2 could not run (bad config, unreadable input, I/O error).
#[derive(Debug, Parser)]
#[command(name = "refrate", version, about, long_about = None)]
pub struct Cli {
    /// Print nothing but errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Language of the run summary and of the lines a cron mail gets (default: Japanese when
    /// LC_ALL, LC_MESSAGES or LANG starts with `ja`, else English).
    #[arg(long, global = true, value_enum)]
    pub lang: Option<Lang>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest new input files, publish them to the warehouse, compute the rates and render the
    /// reports. Safe to run again: files already ingested are skipped.
    Run {
        /// The YAML config.
        #[arg(long, short, env = "REFRATE_CONFIG", default_value = "refrate.yaml")]
        config: PathBuf,
        /// Accept a changed input file that now holds no valid row: the hospital-months it fed
        /// are cleared. Without it such a file stops the run (exit 2), since an empty export
        /// is more often a failed export than an empty month.
        #[arg(long)]
        allow_empty: bool,
    },
    /// Delete warehouse files that no recent manifest names and that are older than the
    /// config's `retention` (leftovers of killed runs, replaced partitions). `run` does this
    /// too at its end.
    Vacuum {
        #[arg(long, short, env = "REFRATE_CONFIG", default_value = "refrate.yaml")]
        config: PathBuf,
    },
    /// Release a writer lock left by a run that can no longer release it (a crashed host, a
    /// wrong clock). Asks for confirmation when the holder may still be alive.
    Unlock {
        #[arg(long, short, env = "REFRATE_CONFIG", default_value = "refrate.yaml")]
        config: PathBuf,
        /// Do not ask.
        #[arg(long)]
        force: bool,
    },
    /// Print rates or counts from the warehouse as CSV or JSON on stdout. Exit 0: no row fails
    /// or sits on a threshold; 1: at least one does (said on stderr); 2: could not run.
    Rates {
        #[arg(long, short, env = "REFRATE_CONFIG", default_value = "refrate.yaml")]
        config: PathBuf,
        /// Which periods.
        #[arg(long, value_enum, default_value = "fiscal-year")]
        period: PeriodKind,
        /// Regime ids (repeatable); default: the config's `regimes`.
        #[arg(long = "regime")]
        regimes: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: OutputFormat,
    },
    /// List each record of a hospital's month (or months) with how it counted: in which counts,
    /// what it adds to the regime's two ratios, and why, as CSV on stdout; the totals and the
    /// rejected rows of the files feeding it on stderr.
    Explain {
        #[arg(long, short, env = "REFRATE_CONFIG", default_value = "refrate.yaml")]
        config: PathBuf,
        /// The hospital's 10-digit code.
        #[arg(long)]
        hospital: String,
        /// The month, `2025-04`; default every month of the hospital.
        #[arg(long)]
        month: Option<String>,
        /// The regime; default the config's first.
        #[arg(long)]
        regime: Option<String>,
        /// Print the sums of the records per month (the columns of `rates --period month`)
        /// instead of the records.
        #[arg(long)]
        totals: bool,
    },
    /// Print 別紙様式28 (HTML, one A4 page) for a hospital newly subject to the fee-schedule
    /// rule: the three months before its 届出 (`--filing 2025-10` reports 2025-07..2025-09).
    Form28 {
        #[arg(long, short, env = "REFRATE_CONFIG", default_value = "refrate.yaml")]
        config: PathBuf,
        /// The hospital's 10-digit code.
        #[arg(long)]
        hospital: String,
        /// The month of the 届出, `2025-10`.
        #[arg(long)]
        filing: String,
    },
    /// Show what the warehouse holds: its version, the months per hospital, the last runs.
    Status {
        #[arg(long, short, env = "REFRATE_CONFIG", default_value = "refrate.yaml")]
        config: PathBuf,
    },
    /// Check that every file the warehouse's manifest names is the file that was published:
    /// present, same size and SHA-256, decodes as Parquet of its table. Exit 0 clean, 2 damaged
    /// (each damaged file is listed with what it feeds).
    Verify {
        #[arg(long, short, env = "REFRATE_CONFIG", default_value = "refrate.yaml")]
        config: PathBuf,
    },
    /// Check input files as `run` would read them, writing nothing. Exit 0 clean, 1 some rows
    /// would be rejected, 2 a file cannot be used.
    Validate {
        #[arg(long, short, env = "REFRATE_CONFIG", default_value = "refrate.yaml")]
        config: PathBuf,
        /// Files to check with the config's events format; default: the config's inputs.
        files: Vec<PathBuf>,
    },
    /// Write a commented starter config.
    Init {
        /// Where to write it (refused if it exists).
        #[arg(default_value = "refrate.yaml")]
        path: PathBuf,
    },
    /// Help with input mappings.
    Mapping {
        #[command(subcommand)]
        command: MappingCommand,
    },
    /// List the regimes (built-in and from the config's `regime_files`) with their formulas.
    Regimes {
        #[arg(long, short, env = "REFRATE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Check the year-end forecast on generated multi-year monthly counts: each past fiscal
    /// year forecast from its first 3, 6 and 9 months; prints how often the realised rate fell
    /// in the 80 % interval and the Brier score of the pass probability (`make backtest`).
    ForecastBacktest {
        /// Generated hospitals.
        #[arg(long, default_value_t = 60)]
        hospitals: u32,
        /// Fiscal years per hospital (the first is history only).
        #[arg(long, default_value_t = 4)]
        years: u32,
        /// Simulated years per forecast.
        #[arg(long, default_value_t = 400)]
        simulations: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Write a synthetic data set (events CSVs, hospital master, config) for tests and
    /// benchmarks. Deterministic for a given seed.
    Sample {
        /// Folder to write into (created).
        #[arg(long)]
        out: PathBuf,
        /// About how many events in total.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// How many hospitals.
        #[arg(long, default_value_t = 5)]
        hospitals: u32,
        /// How many months, starting at --start.
        #[arg(long, default_value_t = 15)]
        months: u32,
        /// How many partner institutions (referral sources and destinations, one list for
        /// all hospitals; at most 10,000, beyond which codes repeat).
        #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        partners: u32,
        /// First month (YYYY-MM).
        #[arg(long, default_value = "2024-04")]
        start: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum MappingCommand {
    /// Read a file's headings and first rows and print an input entry to start from (the
    /// encoding is guessed and said). Its path is written relative to the config's folder, as a
    /// glob that also matches next month's export.
    Suggest {
        file: PathBuf,
        /// The config the entry is meant for (default: refrate.yaml in the current folder).
        #[arg(long, short, env = "REFRATE_CONFIG", default_value = "refrate.yaml")]
        config: PathBuf,
    },
}

/// The language of messages people read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Lang {
    Ja,
    #[default]
    En,
}

impl Lang {
    /// `--lang` if given, else the locale: the first of LC_ALL, LC_MESSAGES, LANG that is set
    /// and not empty decides, as for other programs.
    pub fn resolve(flag: Option<Lang>) -> Lang {
        flag.unwrap_or_else(|| {
            let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
                .iter()
                .filter_map(|v| std::env::var(v).ok())
                .find(|v| !v.is_empty())
                .unwrap_or_default();
            if locale.starts_with("ja") { Lang::Ja } else { Lang::En }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Csv,
    Json,
}
