//! refrate: referral-rate compliance for Japanese regional support hospitals.
//!
//! The data's path, module by module: [`config`] (what to read, where to write) →
//! [`ingest`] (read, check and pseudonymise input rows) → [`warehouse`] (Parquet files and
//! the versioned manifest) → [`engine`] (DataFusion SQL from `queries/`) with [`regimes`]
//! (rules as data from `rules/`) and [`periods`] → [`rates`] (display values, gaps, pace) →
//! [`report`] (HTML/CSV/JSON); [`outcome`] decides the exit code. [`app`] ties them into the commands of [`cli`].

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod engine;
pub mod ingest;
pub mod outcome;
pub mod periods;
pub mod rates;
pub mod regimes;
pub mod report;
pub mod sample;
pub mod warehouse;
