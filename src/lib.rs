//! refrate: referral-rate compliance for Japanese regional support hospitals.
//!
//! The data's path, module by module: [`config`] (what to read, where to write) →
//! [`ingest`] (read, check and pseudonymise input rows) → [`warehouse`] (Parquet files and
//! the versioned manifest) → [`engine`] (DataFusion SQL from `queries/`) with [`regimes`]
//! (rules as data from `rules/`) and [`periods`] → [`rates`] (display values, gaps, pace) →
//! [`report`] (HTML/CSV/JSON); [`outcome`] decides the exit code. [`app`] ties them into the commands of [`cli`].

#![warn(unreachable_pub)]

pub mod app;
pub(crate) mod approval;
pub mod cli;
pub(crate) mod config;
pub(crate) mod domain;
pub(crate) mod engine;
pub(crate) mod explain;
pub(crate) mod forecast;
pub(crate) mod forms;
pub(crate) mod ingest;
pub mod memory;
pub(crate) mod outcome;
pub(crate) mod parallel;
pub(crate) mod periods;
pub(crate) mod rates;
pub(crate) mod regimes;
pub(crate) mod report;
pub(crate) mod sample;
pub(crate) mod warehouse;

pub use config::escape_controls;

/// What the end-to-end tests need besides the binary: decoding the Parquet files the warehouse
/// wrote, naming a lock's holder as `run` does, and comparing pages rendered at different times.
#[doc(hidden)]
pub mod testing {
    pub use crate::warehouse::{host_name, lock_object_name, read_parquet_bytes};

    /// A page's text with the minute it was made at (作成日時, `2026-12-04 04:25 UTC`) replaced
    /// by `(time)`: the same page rendered again a minute later differs in it and in nothing else.
    pub fn without_time(page: &[u8]) -> String {
        let stamp = regex::Regex::new(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC").expect("a valid pattern");
        stamp.replace_all(&String::from_utf8_lossy(page), "(time)").into_owned()
    }
}
