//! `refrate explain`: every record of a hospital-month with how it counted, as CSV on stdout
//! for reconciliation with the hospital's own spreadsheet; the totals, and the rejected rows
//! of the files that feed it, on stderr. `--totals` prints the sums of the records instead,
//! one row per month, with the columns of `rates --period month`.

use std::collections::{BTreeMap, BTreeSet};

use super::{AppError, Outcome, Refusal, reports};
use crate::config::Config;
use crate::engine::Engine;
use crate::explain::{Explained, explain as explain_record};
use crate::regimes::{Count, RegimeSet};
use crate::warehouse::{Manifest, Warehouse};

/// What to explain.
pub(crate) struct Request<'a> {
    pub hospital: &'a str,
    pub month: Option<&'a str>,
    pub regime: Option<&'a str>,
    pub totals: bool,
}

pub(super) async fn explain(cfg: &Config, request: Request<'_>, quiet: bool) -> Result<Outcome, AppError> {
    let set = RegimeSet::load(&cfg.regime_files)?;
    let regime = set.get(request.regime.unwrap_or(&cfg.regimes[0]))?;
    let warehouse = Warehouse::open_existing(&cfg.warehouse)?;
    let manifest = warehouse.current().await?;
    reports::check_before_reading(&warehouse, &manifest).await?;
    let records = async {
        let engine = Engine::open(&warehouse, &manifest, &[regime]).await?;
        Ok::<_, AppError>(engine.explain(request.hospital, request.month).await?)
    }
    .await;
    let records = match records {
        Ok(records) => records,
        Err(e) => return Err(reports::diagnose(&warehouse, &manifest, e).await),
    };
    if records.is_empty() {
        // An empty list with exit 0 would read as "no such patients" for a mistyped code.
        let held: BTreeSet<&str> = manifest
            .partitions
            .values()
            .filter(|p| p.hospital_code == request.hospital)
            .map(|p| p.month.as_str())
            .collect();
        let what = match request.month {
            Some(m) => format!("{} in {m}", request.hospital),
            None => request.hospital.to_string(),
        };
        let months = match (held.first(), held.last()) {
            (Some(a), Some(b)) => {
                format!("the warehouse holds its records of {} months, {a} to {b}", held.len())
            }
            _ => "the warehouse holds no record of that hospital (check the code: 10 digits)".to_string(),
        };
        return Err(AppError::refused(Refusal::NothingToExplain, format!("no record of {what}: {months}")));
    }
    let explained: Vec<Explained> = records.iter().map(|r| explain_record(r, regime)).collect();
    let mut sums: BTreeMap<&str, ([u64; 9], [i64; 4], u64)> = BTreeMap::new();
    for e in &explained {
        let (counts, ratios, n) = sums.entry(e.record.month.as_str()).or_default();
        for (sum, c) in counts.iter_mut().zip(e.record.counts) {
            *sum += c;
        }
        for (sum, c) in ratios.iter_mut().zip([e.referral.0, e.referral.1, e.reverse.0, e.reverse.1]) {
            *sum += c;
        }
        *n += 1;
    }
    let csv = if request.totals {
        totals_csv(request.hospital, &sums)?
    } else {
        records_csv(request.hospital, &explained)?
    };
    super::output::print(&csv)?;
    if !quiet {
        for (month, (_, [rn, rd, vn, vd], n)) in &sums {
            eprintln!(
                "refrate: {} {month} under {}: {n} record(s); {} {rn} / {rd}, {} {vn} / {vd}",
                request.hospital, regime.id, regime.referral.name_ja, regime.reverse.name_ja
            );
        }
        rejects_of(&warehouse, &manifest, request.hospital, &sums.keys().copied().collect::<Vec<_>>())
            .await?;
    }
    Ok(Outcome::AllPass)
}

fn records_csv(hospital: &str, explained: &[Explained]) -> Result<String, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = vec![
        "hospital_code",
        "month",
        "source_file",
        "source_line",
        "event_date",
        "event_type",
        "patient_key",
        "department",
        "partner_code",
        "partner_related",
        "referral_letter",
        "ambulance",
        "after_hours_emergency",
        "checkup_origin",
    ];
    header.extend(Count::ALL.map(Count::name));
    header.extend([
        "referral_numerator",
        "referral_denominator",
        "reverse_numerator",
        "reverse_denominator",
        "how",
        "how_ja",
    ]);
    w.write_record(&header).map_err(crate::report::ReportError::from)?;
    let cell = crate::report::neutralise_csv_cell;
    for e in explained {
        let r = e.record;
        let mut row = vec![
            hospital.to_string(),
            r.month.clone(),
            cell(&r.source_file),
            r.source_line.to_string(),
            r.event_date.clone(),
            r.event_type.clone(),
            r.patient_key.clone(),
            cell(&r.department),
            r.partner_code.clone().unwrap_or_default(),
            r.partner_related.to_string(),
        ];
        row.extend(r.flags.map(|f| f.to_string()));
        row.extend(r.counts.map(|c| c.to_string()));
        row.extend([e.referral.0, e.referral.1, e.reverse.0, e.reverse.1].map(|v| v.to_string()));
        row.extend([e.how.clone(), e.how_ja.clone()]);
        w.write_record(&row).map_err(crate::report::ReportError::from)?;
    }
    finish(w)
}

type Sums<'a> = BTreeMap<&'a str, ([u64; 9], [i64; 4], u64)>;

fn totals_csv(hospital: &str, sums: &Sums<'_>) -> Result<String, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["hospital_code", "month"];
    header.extend(Count::ALL.map(Count::name));
    w.write_record(&header).map_err(crate::report::ReportError::from)?;
    for (month, (counts, _, _)) in sums {
        let mut row = vec![hospital.to_string(), month.to_string()];
        row.extend(counts.map(|c| c.to_string()));
        w.write_record(&row).map_err(crate::report::ReportError::from)?;
    }
    finish(w)
}

fn finish(w: csv::Writer<Vec<u8>>) -> Result<String, AppError> {
    let bytes =
        w.into_inner().map_err(|e| crate::report::ReportError::from(csv::Error::from(e.into_error())))?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 strings"))
}

/// The rejected rows of the files that feed the hospital's months, on stderr. A file shared
/// with other hospitals or months may hold rejects that are theirs: a reject has no trusted
/// hospital or month (that may be what was wrong with it).
async fn rejects_of(
    warehouse: &Warehouse,
    manifest: &Manifest,
    hospital: &str,
    months: &[&str],
) -> Result<(), AppError> {
    let feeding: std::collections::BTreeSet<&str> = months
        .iter()
        .filter_map(|m| manifest.partitions.get(&Manifest::partition_key(hospital, m)))
        .flat_map(|p| p.sources.iter().map(String::as_str))
        .collect();
    let rejects = reports::load_rejects(warehouse, manifest).await?;
    let mine: Vec<_> = rejects.iter().filter(|r| feeding.contains(r.file.as_str())).collect();
    if !mine.is_empty() {
        eprintln!(
            "refrate: {} rejected row(s) in the files that feed these months (some may be other hospitals' or months'):",
            mine.len()
        );
    }
    for r in mine {
        eprintln!("refrate:   {} line {}: {} ({}; {})", r.file, r.line, r.reason, r.reason_ja, r.detail);
    }
    Ok(())
}
