//! Text outputs of the commands: rates as CSV/JSON, status, regime list.

use std::fmt::Write as _;
use std::io::Write;

use serde_json::json;

use crate::cli::OutputFormat;
use crate::engine::MonthlyRow;
use crate::periods::PeriodKind;
use crate::rates::RateRow;
use crate::regimes::{Count, RegimeSet};
use crate::warehouse::{LockInfo, LockPolicy, Manifest, Warehouse, stale_reason};

const MONTH_COUNTS: [Count; 8] = [
    Count::FirstVisits,
    Count::AmbulanceFirstVisits,
    Count::AfterHoursFirstVisits,
    Count::CheckupFirstVisits,
    Count::InitialPatients,
    Count::ReferredPatients,
    Count::ReverseReferredPatients,
    Count::ReturnVisits,
];

/// `rates --period month`: the monthly counts.
pub fn write_monthly(
    out: &mut impl Write,
    rows: &[MonthlyRow],
    format: OutputFormat,
) -> std::io::Result<bool> {
    match format {
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            let mut header = vec!["hospital_code", "month"];
            header.extend(MONTH_COUNTS.iter().map(|c| c.name()));
            header.push(Count::EmergencyPatients.name());
            w.write_record(&header)?;
            for r in rows {
                let mut rec = vec![r.hospital_code.clone(), r.month.clone()];
                rec.extend(
                    MONTH_COUNTS.iter().chain([&Count::EmergencyPatients]).map(|c| r.counts[c].to_string()),
                );
                w.write_record(&rec)?;
            }
            w.flush()?;
        }
        OutputFormat::Json => {
            let rows: Vec<_> = rows
                .iter()
                .map(|r| {
                    let mut o = serde_json::Map::new();
                    o.insert("hospital_code".into(), json!(r.hospital_code));
                    o.insert("month".into(), json!(r.month));
                    for (c, v) in &r.counts {
                        o.insert(c.name().into(), json!(v));
                    }
                    serde_json::Value::Object(o)
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &rows)?;
            writeln!(out)?;
        }
    }
    Ok(false)
}

fn opt(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// `rates --period fiscal-year|ytd|rolling-12`.
pub fn write_rates(
    out: &mut impl Write,
    rows: &[RateRow],
    period: PeriodKind,
    format: OutputFormat,
) -> std::io::Result<()> {
    let period_column = match period {
        PeriodKind::FiscalYear => "fiscal_year",
        _ => "period",
    };
    let header = [
        "hospital_code",
        period_column,
        "regime",
        "initial_patients",
        "referred_patients",
        "reverse_referred_patients",
        "referral_rate",
        "reverse_referral_rate",
        "verdict",
        "on_boundary",
        "referral_unit",
        "reverse_referral_unit",
        "referral_numerator",
        "referral_denominator",
        "reverse_referral_numerator",
        "reverse_referral_denominator",
        "met_criteria",
        "referral_gap",
        "reverse_referral_gap",
        "months_with_data",
        "months_in_period",
    ];
    let records: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.hospital_code.clone(),
                r.period.clone(),
                r.regime_id.clone(),
                opt(r.counts.get(Count::InitialPatients)),
                opt(r.counts.get(Count::ReferredPatients)),
                opt(r.counts.get(Count::ReverseReferredPatients)),
                r.referral_display().unwrap_or_default(),
                r.reverse_display().unwrap_or_default(),
                r.verdict.clone(),
                r.on_boundary.to_string(),
                r.referral_unit.to_string(),
                r.reverse_unit.to_string(),
                opt(r.referral.map(|x| x.numerator)),
                opt(r.referral.map(|x| x.denominator)),
                opt(r.reverse.map(|x| x.numerator)),
                opt(r.reverse.map(|x| x.denominator)),
                r.met_criteria.join(";"),
                opt(r.referral_gap),
                opt(r.reverse_gap),
                r.counts.months_with_data.to_string(),
                r.counts.months_in_period.to_string(),
            ]
        })
        .collect();
    match format {
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(header)?;
            for rec in records {
                w.write_record(&rec)?;
            }
            w.flush()?;
        }
        OutputFormat::Json => {
            let rows: Vec<serde_json::Value> = records
                .into_iter()
                .map(|rec| {
                    serde_json::Value::Object(
                        header
                            .iter()
                            .zip(rec)
                            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
                            .collect(),
                    )
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &rows)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// `refrate status`.
pub fn status_text(warehouse: &Warehouse, m: &Manifest, holder: Option<&LockInfo>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "warehouse: {}", warehouse.location());
    match holder {
        None => {
            let _ = writeln!(s, "lock: free");
        }
        Some(h) => {
            let state = match stale_reason(h, &LockPolicy::default(), chrono::Utc::now()) {
                Some(reason) => format!(" — stale ({reason}); the next run takes it over"),
                None => String::new(),
            };
            let _ = writeln!(s, "lock: held by {h}{state}");
        }
    }
    if m.version == 0 {
        let _ = writeln!(s, "version: none (nothing published yet)");
        return s;
    }
    let _ = writeln!(s, "version: {} (published {}, refrate {})", m.version, m.created_at, m.refrate_version);
    let _ = writeln!(s, "pseudonym key id: {}", m.pseudonym_key_id.as_deref().unwrap_or("-"));
    let _ = writeln!(s, "sources: {}", m.sources.len());
    let mut by_hospital: std::collections::BTreeMap<&str, Vec<(&str, u64)>> = Default::default();
    for p in m.partitions.values() {
        by_hospital.entry(&p.hospital_code).or_default().push((&p.month, p.rows));
    }
    let _ = writeln!(s, "hospitals: {}", by_hospital.len());
    for (h, months) in by_hospital {
        let rows: u64 = months.iter().map(|(_, r)| r).sum();
        let first = months.first().map(|m| m.0).unwrap_or("-");
        let last = months.last().map(|m| m.0).unwrap_or("-");
        let _ = writeln!(s, "  {h}  {first}..{last}  {} month(s)  {rows} rows", months.len());
    }
    let _ = writeln!(s, "last runs:");
    for r in m.runs.iter().rev().take(10) {
        let _ = writeln!(
            s,
            "  v{} {} run {}: {} file(s), {} rows, {} rejected, {} partition(s)",
            r.version,
            r.finished_at,
            r.run_id,
            r.files_ingested,
            r.rows_valid,
            r.rows_rejected,
            r.partitions_written
        );
    }
    s
}

/// `refrate regimes`.
pub fn regimes_text(set: &RegimeSet) -> String {
    let mut s = String::new();
    for r in set.iter() {
        let _ = writeln!(s, "{}  {} / {}", r.id, r.name_ja, r.name_en);
        let _ = writeln!(s, "    referral: {}", r.referral.formula());
        let _ = writeln!(s, "    reverse:  {}", r.reverse.formula());
        for c in &r.criteria {
            let label = c.conditions.iter().map(|k| r.condition_label(k)).collect::<Vec<_>>().join(" かつ ");
            let _ = writeln!(s, "    criterion {}: {label}", c.id);
        }
        let _ = writeln!(s, "    from: {}", r.origin);
    }
    s
}
