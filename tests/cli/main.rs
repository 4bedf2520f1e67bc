//! End-to-end tests: the real `refrate` binary on fixtures in fresh temporary folders.
//!
//! One test binary on purpose (DataFusion makes every extra binary a long link).

mod common;

mod e2e_cron;
mod e2e_input;
mod e2e_kill;
mod e2e_pipeline;
mod e2e_regimes;
mod e2e_reports;
mod e2e_s3;
mod regression;
mod regression_damage;
mod regression_delivery;
mod regression_privacy;
mod regression_rules;
mod snapshots;
