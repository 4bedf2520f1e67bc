//! `refrate validate`: reads inputs exactly as `run` would and reports what it found, writing
//! nothing. It is `run`'s ingest as a survey ([`IngestOptions::lock`] `None`): the same
//! classification, reading, carry-over of stored rows, delivery rules and last checks, with
//! nothing stored or published, and every problem collected instead of the first stopping it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use super::ingest_run::{Delivery, FileResult, IngestOptions, SourceFile, Stop};
use super::{AppError, Outcome, Refusal};
use crate::cli::Lang;
use crate::config::{Config, InputKind};
use crate::ingest::{self, Reject};
use crate::warehouse::{Manifest, Warehouse};

/// How many example rejects are shown per reason.
const EXAMPLES: usize = 3;

/// Validates the config's inputs, or the given files read with the first events input's
/// format. Exit: 0 clean, 1 some rows would be rejected, 2 `run` would stop.
///
/// The warehouse is read, never written: its manifest tells which files are already
/// ingested, and the stored rows of the months a file touches are what its rows are judged
/// against, as in `run`. That needs the key; without one, files are judged among themselves,
/// and a file with rows in months that hold stored rows is reported as not checked (exit 2).
///
/// It reads everything `run` reads before its first row: the hospital master (a bad or
/// duplicate row is exit 2 here as there) and the related-institution list. With `quiet`, the
/// report is printed only when the exit code is not 0.
pub(super) async fn validate(
    cfg: &Config,
    files: &[PathBuf],
    quiet: bool,
    lang: Lang,
) -> Result<Outcome, AppError> {
    let ja = lang == Lang::Ja;
    let unusable_label = if ja { "使えません" } else { "UNUSABLE" };
    let hospital_master = super::load_hospitals(cfg.hospitals.as_ref())?;
    // The partner list too: `run` refuses a bad one before reading a row.
    super::load_hospitals(cfg.partners.as_ref())?;
    // And the approval facts.
    crate::ingest::load_facts(cfg.approval_facts.as_ref())?;
    let mut targets = Vec::new();
    if files.is_empty() {
        targets = super::ingest_run::expand_inputs(cfg, false)?;
    } else {
        let input = cfg.inputs.iter().find(|i| i.kind == InputKind::Events).unwrap_or(&cfg.inputs[0]).clone();
        for path in files {
            targets.push(SourceFile {
                name: cfg.display_path(path),
                path: path.clone(),
                input: input.clone(),
                stat: crate::warehouse::FileStat::settled(path),
            });
        }
    }
    let (warehouse, current) = match Warehouse::open_existing(&cfg.warehouse) {
        // No warehouse yet: nothing is stored.
        Err(_) => (Warehouse::nothing_yet(&cfg.warehouse), Manifest::empty()),
        Ok(w) => {
            let current = w.current().await?;
            (w, current)
        }
    };
    let targets = super::ingest_run::classify(&current, targets)?;
    let new_events = targets.iter().any(|(f, _, d)| *d == Delivery::New && f.input.kind == InputKind::Events);
    // The key as `run` loads it; only its absence is not an error here.
    let pseudonymizer = if new_events {
        match ingest::load_key(std::env::var(ingest::KEY_ENV_VAR).ok(), cfg.pseudonym_key_file.as_deref()) {
            Ok(key) => Some(key),
            Err(ingest::KeyError::Missing) => None,
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let related = match &cfg.related_institutions {
        Some(source) => Some(ingest::RelatedInstitutions::load(source)?),
        None => None,
    };
    if targets.iter().any(|(_, _, d)| *d == Delivery::New) {
        warehouse.check_digests(&current).await?;
    }
    let run_id = super::ingest_run::new_run_id();
    let options = IngestOptions {
        run_id: &run_id,
        lock: None,
        overlap: cfg.overlap,
        allow_empty: false,
        progress: indicatif::ProgressBar::hidden(),
    };
    let outcome = super::ingest_run::ingest_and_publish(
        cfg,
        &warehouse,
        options,
        current.clone(),
        targets.clone(),
        pseudonymizer,
        related,
    )
    .await?;
    let mut stops: Vec<Option<Stop>> = outcome.stops.into_iter().map(Some).collect();
    let mut files_of_run = outcome.files;
    let mut report = String::new();
    let (mut any_rejects, mut unusable) = (false, false);
    for (f, _, delivery) in &targets {
        let name = &f.name;
        match delivery {
            Delivery::Copy(note) => {
                let _ = writeln!(report, "{note}: `refrate run` skips it");
                continue;
            }
            Delivery::Unchanged => {
                let _ = writeln!(
                    report,
                    "{name}: already ingested (same name and content): `refrate run` skips it"
                );
                continue;
            }
            Delivery::New => {}
        }
        let mine: Vec<Stop> = stops
            .iter_mut()
            .filter(|s| s.as_ref().is_some_and(|s| s.file.as_ref() == Some(name)))
            .filter_map(Option::take)
            .collect();
        let result = files_of_run.iter_mut().find(|r| &r.name == name);
        match result {
            Some(r) => {
                r.rejects.sort_by_key(|r| r.line);
                describe(&mut report, r, &mut any_rejects, lang);
            }
            None if mine.is_empty() && f.input.kind == InputKind::Aggregates => {
                let rows = outcome.reported.iter().find(|(n, _)| n == name).map_or(0, |(_, rows)| *rows);
                let _ = writeln!(report, "{name}: {rows} reported row(s), all usable");
            }
            None => {}
        }
        for n in outcome.notes.iter().filter(|n| &n.file == name) {
            let _ = writeln!(report, "  note: {}", n.text);
        }
        for stop in mine {
            unusable = true;
            let line = match &stop.error {
                AppError::Ingest { error, .. } if ja => {
                    format!("{name}: {unusable_label}: {}", error.message_ja())
                }
                AppError::Ingest { error, .. } => format!("{name}: {unusable_label}: {error}"),
                AppError::Aggregates(e) => format!("{name}: {unusable_label}: {e}"),
                AppError::Refused { kind: Refusal::TooManyRejects, .. } => {
                    let ratio = files_of_run
                        .iter()
                        .find(|r| &r.name == name)
                        .and_then(|r| r.stats.reject_share_above(cfg.max_reject_ratio))
                        .unwrap_or(0.0);
                    let (r, max) = (ratio * 100.0, cfg.max_reject_ratio * 100.0);
                    if ja {
                        format!(
                            "  使えません: 不備の行が {r:.1} % で、max_reject_ratio {max:.1} % を超えています。`refrate run` は止まります"
                        )
                    } else {
                        format!(
                            "  UNUSABLE: {r:.1} % rejected, more than max_reject_ratio {max:.1} %: `refrate run` would stop"
                        )
                    }
                }
                AppError::Refused { kind: Refusal::DifferingExport, message } => {
                    format!("  OVERLAP: {message}: `refrate run` would stop")
                }
                other => format!("  {unusable_label}: {other}"),
            };
            let _ = writeln!(report, "{line}");
        }
    }
    // What concerns the run as a whole (a month far after the stored data, two sources for a
    // hospital-period).
    for stop in stops.into_iter().flatten() {
        unusable = true;
        let _ = writeln!(report, "{unusable_label}: {}", stop.error);
    }
    if targets.is_empty() {
        let _ = writeln!(
            report,
            "{}",
            if ja { "該当する入力ファイルがありません" } else { "no input file matched" }
        );
    }
    if !hospital_master.is_empty() {
        let with_data = files_of_run
            .iter()
            .flat_map(|r| r.hospitals.iter())
            .chain(current.partitions.values().map(|p| &p.hospital_code));
        let unknown: BTreeSet<&String> = with_data.filter(|h| !hospital_master.contains_key(*h)).collect();
        if !unknown.is_empty() {
            let codes = unknown.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
            let _ = if ja {
                writeln!(
                    report,
                    "注意: データのある {} 病院が病院一覧（マスタ）にありません: {codes}",
                    unknown.len()
                )
            } else {
                writeln!(
                    report,
                    "warning: {} hospital(s) with data are not in the hospital master: {codes}",
                    unknown.len()
                )
            };
        }
    }
    if !quiet || unusable || any_rejects {
        super::output::print(&report)?;
    }
    if unusable {
        let message = if ja {
            "使えない入力があります（上記）"
        } else {
            "some input cannot be used (see above)"
        };
        return Err(AppError::refused(super::Refusal::Unusable, message));
    }
    Ok(if any_rejects { Outcome::Attention } else { Outcome::AllPass })
}

/// One file's lines of the report.
fn describe(report: &mut String, r: &FileResult, any_rejects: &mut bool, lang: Lang) {
    let (name, stats) = (&r.name, &r.stats);
    let ja = lang == Lang::Ja;
    let months = match (stats.months.first(), stats.months.last()) {
        (Some(a), Some(b)) => format!("{a}..{b}"),
        _ if ja => "なし".into(),
        _ => "none".into(),
    };
    let present = if stats.rows_already_present == 0 {
        String::new()
    } else {
        format!(
            " ({} already present in {})",
            stats.rows_already_present,
            r.already_present_in.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    let hospitals = r.hospitals.iter().cloned().collect::<Vec<_>>().join(" ");
    let bom = if stats.bom { ", BOM" } else { "" };
    let (read, valid, rejected, encoding) =
        (stats.rows_read, stats.rows_valid, stats.rows_rejected, &stats.encoding);
    let _ = if ja {
        writeln!(
            report,
            "{name}: {read} 行を読み込み、有効 {valid} 行{present}、不備 {rejected} 行（{encoding}{bom}）。対象月 {months}。病院 {hospitals}"
        )
    } else {
        writeln!(
            report,
            "{name}: {read} rows read, {valid} valid{present}, {rejected} rejected ({encoding}{bom}); months {months}; hospitals {hospitals}"
        )
    };
    if !stats.absent_columns.is_empty() {
        let _ = writeln!(report, "  columns absent (read as 0/empty): {}", stats.absent_columns.join(", "));
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
    for reject in &r.rejects {
        by_reason.entry(reject.reason.code()).or_default().push(reject);
    }
    let (line_word, byte_word) = if ja { ("行", "バイト") } else { ("line", "byte") };
    for (reason, list) in by_reason {
        *any_rejects = true;
        let _ = writeln!(report, "  {reason} ({}): {}", list[0].reason.message_ja(), list.len());
        for reject in list.iter().take(EXAMPLES) {
            let _ = writeln!(
                report,
                "    {line_word} {} ({byte_word} {}){}{}: {}",
                reject.line,
                reject.byte_offset,
                reject.field.as_deref().map(|f| format!(", {f}")).unwrap_or_default(),
                reject.value.as_deref().map(|v| format!(" {v:?}")).unwrap_or_default(),
                reject.detail
            );
        }
    }
}
