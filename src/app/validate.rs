//! `refrate validate`: reads inputs exactly as `run` would and reports what it found, writing
//! nothing (it reads the warehouse's manifest, writes no warehouse and no report, needs no key).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use chrono::Datelike;

use super::ingest_run::{Delivery, SourceFile};
use super::{AppError, Outcome};
use crate::cli::Lang;
use crate::config::{Config, InputKind};
use crate::ingest::{self, Fate, MonthRow, Pseudonymizer, Reject, judge_month};
use crate::warehouse::{Manifest, Warehouse};

/// How many example rejects are shown per reason.
const EXAMPLES: usize = 3;

/// One file as `validate` saw it.
#[derive(Default)]
struct Checked {
    report: String,
    stats: Option<ingest::FileStats>,
    rejects: Vec<Reject>,
    hospitals: BTreeSet<String>,
    already_present_in: BTreeMap<String, u64>,
    problems: Vec<String>,
    notes: Vec<String>,
    stored: bool,
}

/// Validates the config's inputs, or the given files read with the first events input's
/// format. Exit: 0 clean, 1 some rows would be rejected, 2 a file cannot be used.
///
/// Deliveries are judged as `run` judges them ([`judge_month`]): the warehouse's manifest is
/// read (never written) to know which files are already ingested; their rows stand for the
/// stored rows, copies of them are skipped, and rows of other files identical to rows of
/// another file are "already present".
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
    let hospital_master = super::load_hospitals(cfg.hospitals.as_deref())?;
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
    let current = match Warehouse::open_existing(&cfg.warehouse) {
        // No warehouse yet: nothing is stored.
        Err(_) => Manifest::empty(),
        Ok(w) => w.current().await?,
    };
    let targets = super::ingest_run::classify(&current, targets)?;
    // Duplicate detection needs a key, but nothing is kept: a random one will do.
    let ephemeral: [u8; 32] = rand::random();
    let pseudonymizer = Pseudonymizer::new(&ephemeral).expect("32 random bytes are a valid key");
    let related = match &cfg.related_institutions {
        Some(path) => Some(ingest::RelatedInstitutions::load(path)?),
        None => None,
    };
    let mut checked: Vec<Checked> = Vec::new();
    // Every valid row by hospital-month, with its byte offset, for the delivery rules.
    let mut months: BTreeMap<String, (Vec<MonthRow>, Vec<u64>)> = BTreeMap::new();
    for (index, (f, _sha, delivery)) in targets.iter().enumerate() {
        let mut c = Checked { stored: *delivery == Delivery::Unchanged, ..Checked::default() };
        let name = &f.name;
        if let Delivery::Copy(note) = delivery {
            let _ = writeln!(c.report, "{note}: `refrate run` skips it");
            checked.push(c);
            continue;
        }
        if f.input.kind == InputKind::Aggregates {
            let known: Vec<&str> = crate::regimes::Count::ALL.iter().map(|c| c.name()).collect();
            match ingest::read_aggregates(&f.path, name, &f.input.format, &known) {
                Ok((rows, _)) => {
                    let _ = writeln!(c.report, "{name}: {} reported row(s), all usable", rows.len());
                }
                Err(e) => c.problems.push(format!("{name}: {unusable_label}: {e}")),
            }
            checked.push(c);
            continue;
        }
        let mut ctx = ingest::IngestContext::new(&pseudonymizer, related.as_ref(), index);
        let (rejects, hospitals) = (&mut c.rejects, &mut c.hospitals);
        let result = ingest::read_file(
            &f.path,
            name,
            &f.input.format,
            &mut ctx,
            |e| -> Result<(), std::convert::Infallible> {
                let key = Manifest::partition_key(
                    &e.hospital_code,
                    &crate::warehouse::schema::month_of(e.event_date),
                );
                let (rows, offsets) = months.entry(key).or_default();
                rows.push(MonthRow {
                    fingerprint: ingest::fingerprint(&e),
                    source: index,
                    day: e.event_date.day() as u8,
                    line: e.line,
                });
                offsets.push(e.byte_offset);
                hospitals.insert(e.hospital_code);
                Ok(())
            },
            |r| rejects.push(r),
        );
        match result {
            Ok(stats) => c.stats = Some(stats),
            Err(ingest::ReadError::Ingest(e)) if ja => {
                c.problems.push(format!("{name}: {unusable_label}: {}", e.message_ja()));
            }
            Err(e) => c.problems.push(format!("{name}: {unusable_label}: {e}")),
        }
        checked.push(c);
    }
    // The delivery rules, month by month, as `run` applies them.
    let is_stored = |s: usize| checked[s].stored;
    let mut judged = Vec::new();
    for (key, (rows, offsets)) in &months {
        judged.push((key, rows, offsets, judge_month(rows, is_stored, cfg.overlap)));
    }
    let name = |s: usize| targets[s].0.name.clone();
    for (key, rows, offsets, j) in judged {
        for (i, fate) in j.fates.iter().enumerate() {
            let row = rows[i];
            let first_line = match *fate {
                Fate::Keep | Fate::Replaced { .. } => continue,
                Fate::AlreadyPresent { source, .. } if source != row.source => {
                    let c = &mut checked[row.source];
                    *c.already_present_in.entry(name(source)).or_default() += 1;
                    if let Some(stats) = &mut c.stats {
                        stats.rows_already_present += 1;
                    }
                    continue;
                }
                Fate::AlreadyPresent { line, .. } | Fate::DuplicateInFile { first_line: line } => line,
            };
            let c = &mut checked[row.source];
            if let Some(stats) = &mut c.stats {
                stats.rows_valid -= 1;
                stats.rows_rejected += 1;
            }
            c.rejects.push(Reject {
                file: name(row.source),
                line: row.line,
                byte_offset: offsets[i],
                field: None,
                value: None,
                reason: ingest::RejectReason::Duplicate,
                detail: format!("exact duplicate of line {first_line} of this file"),
            });
        }
        for o in &j.overlaps {
            let named = crate::warehouse::PartitionOverlap {
                partition: key.clone(),
                file: name(o.source),
                others: o.others.iter().map(|&s| name(s)).collect(),
                shared: o.shared,
                lacking: o.lacking,
                added: o.added,
                outcome: Some(o.outcome),
            };
            match super::ingest_run::refusal(&named) {
                Some(why) => {
                    checked[o.source].problems.push(format!("  OVERLAP: {why}: `refrate run` would stop"))
                }
                None => checked[o.source].notes.push(format!(
                    "  note: `refrate run` would let it replace {key} (was {}; overlap: replace)",
                    named.others.join(", ")
                )),
            }
        }
        for (s, others) in &j.complements {
            let others: Vec<String> = others.iter().map(|&o| name(o)).collect();
            checked[*s].notes.push(format!(
                "  note: adds rows to {key}, which holds rows of {}; no row in common, so `refrate run` takes them as another part of that month",
                others.join(", ")
            ));
        }
    }
    let mut report = String::new();
    let (mut any_rejects, mut unusable) = (false, false);
    for (c, (f, _, _)) in checked.iter_mut().zip(&targets) {
        report.push_str(&c.report);
        c.rejects.sort_by_key(|r| r.line);
        if let Some(stats) = &c.stats {
            describe(&mut report, &f.name, stats, c, &mut any_rejects, lang);
            if let Some(ratio) = stats.reject_share_above(cfg.max_reject_ratio) {
                unusable = true;
                let (r, max) = (ratio * 100.0, cfg.max_reject_ratio * 100.0);
                let _ = if ja {
                    writeln!(
                        report,
                        "  使えません: 不備の行が {r:.1} % で、max_reject_ratio {max:.1} % を超えています。`refrate run` は止まります"
                    )
                } else {
                    writeln!(
                        report,
                        "  UNUSABLE: {r:.1} % rejected, more than max_reject_ratio {max:.1} %: `refrate run` would stop"
                    )
                };
            }
        }
        for n in &c.notes {
            let _ = writeln!(report, "{n}");
        }
        for p in &c.problems {
            unusable = true;
            let _ = writeln!(report, "{p}");
        }
    }
    // A month far after the stored data stops `run`; say so here too.
    let new_files = checked
        .iter()
        .zip(&targets)
        .filter(|(c, _)| !c.stored)
        .filter_map(|(c, (f, _, _))| c.stats.as_ref().map(|s| (f.name.as_str(), &s.months)));
    if let Err(e) = super::ingest_run::check_month_jump(&current, new_files, cfg.max_jump_months) {
        unusable = true;
        let _ = writeln!(report, "{unusable_label}: {e}");
    }
    if targets.is_empty() {
        let _ = writeln!(
            report,
            "{}",
            if ja { "該当する入力ファイルがありません" } else { "no input file matched" }
        );
    }
    if !hospital_master.is_empty() {
        let unknown: BTreeSet<&String> = checked
            .iter()
            .flat_map(|c| c.hospitals.iter())
            .filter(|h| !hospital_master.contains_key(*h))
            .collect();
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
fn describe(
    report: &mut String,
    name: &str,
    stats: &ingest::FileStats,
    c: &Checked,
    any_rejects: &mut bool,
    lang: Lang,
) {
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
            c.already_present_in.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    let hospitals = c.hospitals.iter().cloned().collect::<Vec<_>>().join(" ");
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
    if c.stored {
        let _ = writeln!(report, "  already ingested (same name and content): `refrate run` skips it");
    }
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
    for r in &c.rejects {
        by_reason.entry(r.reason.code()).or_default().push(r);
    }
    let (line_word, byte_word) = if ja { ("行", "バイト") } else { ("line", "byte") };
    for (reason, list) in by_reason {
        *any_rejects = true;
        let _ = writeln!(report, "  {reason} ({}): {}", list[0].reason.message_ja(), list.len());
        for r in list.iter().take(EXAMPLES) {
            let _ = writeln!(
                report,
                "    {line_word} {} ({byte_word} {}){}{}: {}",
                r.line,
                r.byte_offset,
                r.field.as_deref().map(|f| format!(", {f}")).unwrap_or_default(),
                r.value.as_deref().map(|v| format!(" {v:?}")).unwrap_or_default(),
                r.detail
            );
        }
    }
}
