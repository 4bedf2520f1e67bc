//! `refrate validate`: reads inputs exactly as `run` would and reports what it found, writing
//! nothing (no warehouse, no reports, no key needed).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use super::{AppError, Outcome};
use crate::config::{Config, InputKind};
use crate::ingest::{self, Deduplicator, Pseudonymizer, Reject};

/// How many example rejects are shown per reason.
const EXAMPLES: usize = 3;

/// Validates the config's inputs, or the given files read with the first events input's
/// format. Exit: 0 clean, 1 some rows would be rejected, 2 a file cannot be used.
pub fn validate(cfg: &Config, files: &[PathBuf]) -> Result<Outcome, AppError> {
    let mut targets = Vec::new();
    if files.is_empty() {
        for f in super::ingest_run::expand_inputs(cfg, false)? {
            targets.push((f.path, f.name, f.input));
        }
    } else {
        let input = cfg.inputs.iter().find(|i| i.kind == InputKind::Events).unwrap_or(&cfg.inputs[0]).clone();
        for path in files {
            targets.push((path.clone(), cfg.display_path(path), input.clone()));
        }
    }
    // Duplicate detection needs a key, but nothing is kept: a random one will do.
    let ephemeral: [u8; 32] = rand::random();
    let pseudonymizer = Pseudonymizer::new(&ephemeral).expect("32 random bytes are a valid key");
    let related = match &cfg.related_institutions {
        Some(path) => {
            Some(ingest::RelatedInstitutions::load(path).map_err(|e| AppError::Input(e.to_string()))?)
        }
        None => None,
    };
    let mut dedup = Deduplicator::new();
    let mut report = String::new();
    let (mut any_rejects, mut unusable) = (false, false);
    for (index, (path, name, input)) in targets.iter().enumerate() {
        if input.kind == InputKind::Aggregates {
            let known: Vec<&str> = crate::regimes::Count::ALL.iter().map(|c| c.name()).collect();
            match ingest::read_aggregates(path, name, &input.format, &known) {
                Ok((rows, _)) => {
                    let _ = writeln!(report, "{name}: {} reported row(s), all usable", rows.len());
                }
                Err(e) => {
                    unusable = true;
                    let _ = writeln!(report, "{name}: UNUSABLE: {e}");
                }
            }
            continue;
        }
        dedup.name_file(index, name);
        let mut rejects: Vec<Reject> = Vec::new();
        let mut hospitals = BTreeSet::new();
        let mut ctx =
            ingest::IngestContext::new(&pseudonymizer, related.as_ref(), index).with_dedup(&mut dedup);
        let result = ingest::read_file(
            path,
            name,
            &input.format,
            &mut ctx,
            |e| -> Result<(), std::convert::Infallible> {
                hospitals.insert(e.hospital_code);
                Ok(())
            },
            |r| rejects.push(r),
        );
        match result {
            Ok(stats) => {
                let months = match (stats.months.first(), stats.months.last()) {
                    (Some(a), Some(b)) => format!("{a}..{b}"),
                    _ => "none".into(),
                };
                let _ = writeln!(
                    report,
                    "{name}: {} rows read, {} valid, {} rejected ({}{}); months {months}; hospitals {}",
                    stats.rows_read,
                    stats.rows_valid,
                    stats.rows_rejected,
                    stats.encoding,
                    if stats.bom { ", BOM" } else { "" },
                    hospitals.iter().cloned().collect::<Vec<_>>().join(" ")
                );
                if !stats.absent_columns.is_empty() {
                    let _ = writeln!(
                        report,
                        "  columns absent (read as 0/empty): {}",
                        stats.absent_columns.join(", ")
                    );
                }
                if stats.check_digit_warnings > 0 {
                    let _ = writeln!(
                        report,
                        "  warning: {} code(s) with a bad check digit: {}",
                        stats.check_digit_warnings,
                        stats.bad_check_digit_codes.iter().cloned().collect::<Vec<_>>().join(" ")
                    );
                }
                let mut by_reason: BTreeMap<&str, Vec<&Reject>> = BTreeMap::new();
                for r in &rejects {
                    by_reason.entry(r.reason.code()).or_default().push(r);
                }
                for (reason, list) in by_reason {
                    any_rejects = true;
                    let _ = writeln!(report, "  {reason} ({}): {}", list[0].reason.message_ja(), list.len());
                    for r in list.iter().take(EXAMPLES) {
                        let _ = writeln!(
                            report,
                            "    line {} (byte {}){}{}: {}",
                            r.line,
                            r.byte_offset,
                            r.field.as_deref().map(|f| format!(", {f}")).unwrap_or_default(),
                            r.value.as_deref().map(|v| format!(" {v:?}")).unwrap_or_default(),
                            r.detail
                        );
                    }
                }
                if stats.rows_read > 0 {
                    let ratio = stats.rows_rejected as f64 / stats.rows_read as f64;
                    if ratio > cfg.max_reject_ratio {
                        unusable = true;
                        let _ = writeln!(
                            report,
                            "  UNUSABLE: {:.1} % rejected, more than max_reject_ratio {:.1} %: `refrate run` would stop",
                            ratio * 100.0,
                            cfg.max_reject_ratio * 100.0
                        );
                    }
                }
            }
            Err(e) => {
                unusable = true;
                let _ = writeln!(report, "{name}: UNUSABLE: {e}");
            }
        }
    }
    if targets.is_empty() {
        let _ = writeln!(report, "no input file matched");
    }
    print!("{report}");
    if unusable {
        return Err(AppError::Input("some input cannot be used (see above)".into()));
    }
    Ok(if any_rejects { Outcome::Attention } else { Outcome::AllPass })
}
