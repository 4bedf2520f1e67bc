//! Regimes: the rules that turn counts into rates and verdicts, loaded from YAML data.
//!
//! A regime names, for its two metrics (referral and reverse referral), which counts are added
//! up above and below the line, the scale (% or ‰), and for each criterion the thresholds and
//! their operators. The built-in regimes live in `rules/*.yaml` and are compiled into the
//! binary; users add or amend regimes with their own files. This module owns parsing and
//! validating that data, exact integer arithmetic on ratios (comparison, display rounding) and
//! the "how many more are needed" gaps. It must not read event data: counts arrive from the
//! engine.

mod approval;
mod arith;
mod model;

pub(crate) use approval::{ApprovalRules, DEFAULT_APPROVAL_RULES, Fact, RequirementRule};
pub(crate) use arith::Ratio;
pub(crate) use model::{Count, Metric, MetricKind, Regime, RegimeError, RegimeSet, Term};
