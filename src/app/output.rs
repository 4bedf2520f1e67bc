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

/// Writes a command's text to stdout; the error is [`AppError::Stdout`], so `main` can tell a
/// closed pipe from a failure.
pub(super) fn print(text: &str) -> Result<(), super::AppError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(super::AppError::Stdout)
}

/// `rates --period month`: the monthly counts. A month without data between a hospital's first
/// month and the latest month of the warehouse is a row with empty counts and a note, never a
/// silent zero.
pub(super) fn write_monthly(
    out: &mut impl Write,
    rows: &[MonthlyRow],
    format: OutputFormat,
) -> std::io::Result<()> {
    let last = rows.iter().map(|r| r.month.as_str()).max().unwrap_or("").to_string();
    let mut by_hospital: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, &MonthlyRow>> =
        Default::default();
    for r in rows {
        by_hospital.entry(&r.hospital_code).or_default().insert(&r.month, r);
    }
    let mut table: Vec<(String, String, Option<&MonthlyRow>)> = Vec::new();
    for (hospital, months) in &by_hospital {
        let first = months.keys().next().copied().unwrap_or("");
        for m in crate::periods::month_range(first, &last) {
            let row = months.get(m.as_str()).copied();
            table.push((hospital.to_string(), m, row));
        }
    }
    // The contract's column order is the order of Count::ALL.
    let counts = Count::ALL;
    match format {
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            let mut header = vec!["hospital_code", "month"];
            header.extend(counts.iter().map(|c| c.name()));
            header.push("note");
            w.write_record(&header)?;
            for (hospital, month, row) in &table {
                let mut rec = vec![hospital.clone(), month.clone()];
                rec.extend(counts.iter().map(|c| row.map(|r| r.text(*c)).unwrap_or_default()));
                rec.push(if row.is_none() { format!("no data for {month}") } else { String::new() });
                w.write_record(&rec)?;
            }
            w.flush()?;
        }
        OutputFormat::Json => {
            let rows: Vec<_> = table
                .iter()
                .map(|(hospital, month, row)| {
                    let mut o = serde_json::Map::new();
                    o.insert("hospital_code".into(), json!(hospital));
                    o.insert("month".into(), json!(month));
                    for c in &counts {
                        o.insert(c.name().into(), count_json(row.map(|r| r.text(*c)).unwrap_or_default()));
                    }
                    o.insert("has_data".into(), json!(row.is_some()));
                    serde_json::Value::Object(o)
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &rows)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// A forecast rate to one decimal, empty without a forecast.
fn forecast(r: &RateRow, value: impl Fn(&crate::forecast::Forecast) -> Option<f64>) -> String {
    opt(r.forecast.as_deref().and_then(value).map(|v| format!("{v:.1}")))
}

fn opt(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// `rates --period fiscal-year|ytd|rolling-12`.
pub(super) fn write_rates(
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
        "missing_counts",
        "period_ja",
        "months_left",
        "referral_gap_per_month",
        "reverse_referral_gap_per_month",
        // The interval of a rate behind a masked count; both ends equal the rate otherwise.
        "referral_rate_low",
        "referral_rate_high",
        "reverse_referral_rate_low",
        "reverse_referral_rate_high",
        // The year-end forecast of the fiscal year under way: median and 80 % interval, and
        // the probability of passing (0 to 1).
        "forecast_referral_rate",
        "forecast_referral_low",
        "forecast_referral_high",
        "forecast_reverse_referral_rate",
        "forecast_reverse_referral_low",
        "forecast_reverse_referral_high",
        "forecast_pass_probability",
    ];
    let records: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.hospital_code.clone(),
                r.period.clone(),
                r.regime_id.clone(),
                r.counts.text(Count::InitialPatients),
                r.counts.text(Count::ReferredPatients),
                r.counts.text(Count::ReverseReferredPatients),
                // Exact rates only: a masked row has its interval in the …_low/…_high columns.
                opt(r.referral.and_then(|x| x.display())),
                opt(r.reverse.and_then(|x| x.display())),
                r.verdict.code().to_string(),
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
                r.missing_counts.iter().map(|c| c.name()).collect::<Vec<_>>().join(";"),
                period_ja(r.period_kind, &r.period),
                opt(r.pace.map(|p| p.months_left)),
                opt(r.pace.and_then(|p| p.referral_per_month)),
                opt(r.pace.and_then(|p| p.reverse_per_month)),
                opt(r.referral_range.and_then(|x| x.low.display()).or(r.referral.and_then(|x| x.display()))),
                opt(r.referral_range.and_then(|x| x.high.display()).or(r.referral.and_then(|x| x.display()))),
                opt(r.reverse_range.and_then(|x| x.low.display()).or(r.reverse.and_then(|x| x.display()))),
                opt(r.reverse_range.and_then(|x| x.high.display()).or(r.reverse.and_then(|x| x.display()))),
                forecast(r, |f| f.referral.as_ref().map(|b| b.point)),
                forecast(r, |f| f.referral.as_ref().map(|b| b.low)),
                forecast(r, |f| f.referral.as_ref().map(|b| b.high)),
                forecast(r, |f| f.reverse.as_ref().map(|b| b.point)),
                forecast(r, |f| f.reverse.as_ref().map(|b| b.low)),
                forecast(r, |f| f.reverse.as_ref().map(|b| b.high)),
                opt(r.forecast.as_ref().map(|f| format!("{:.2}", f.pass_probability))),
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
                        header.iter().zip(rec).map(|(k, v)| (k.to_string(), json_cell(k, v))).collect(),
                    )
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &rows)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// A `rates` cell as JSON: counts, gaps and months as numbers, rates as numbers (the rounded
/// display value), flags as booleans, lists as arrays, an empty cell as null; codes and
/// periods stay strings (a code keeps its leading zero).
fn json_cell(column: &str, value: String) -> serde_json::Value {
    use serde_json::Value;
    match column {
        "on_boundary" => Value::Bool(value == "true"),
        "met_criteria" | "missing_counts" => Value::Array(
            value.split(';').filter(|v| !v.is_empty()).map(|v| Value::String(v.into())).collect(),
        ),
        "referral_rate"
        | "reverse_referral_rate"
        | "referral_rate_low"
        | "referral_rate_high"
        | "reverse_referral_rate_low"
        | "reverse_referral_rate_high"
        | "forecast_referral_rate"
        | "forecast_referral_low"
        | "forecast_referral_high"
        | "forecast_reverse_referral_rate"
        | "forecast_reverse_referral_low"
        | "forecast_reverse_referral_high"
        | "forecast_pass_probability" => value
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        "hospital_code"
        | "period"
        | "regime"
        | "verdict"
        | "referral_unit"
        | "reverse_referral_unit"
        | "period_ja" => Value::String(value),
        "initial_patients" | "referred_patients" | "reverse_referred_patients" => count_json(value),
        // fiscal_year and every gap and month column.
        _ => value.parse::<u64>().map_or(Value::Null, |n| Value::Number(n.into())),
    }
}

/// A count as JSON: a number, `{"low": 1, "high": 10}` for a masked count (`1..10`), null
/// when not reported.
fn count_json(text: String) -> serde_json::Value {
    if let Some((low, high)) = text.split_once("..")
        && let (Ok(low), Ok(high)) = (low.parse::<u64>(), high.parse::<u64>())
    {
        return json!({ "low": low, "high": high });
    }
    text.parse::<u64>().map_or(serde_json::Value::Null, |n| serde_json::Value::Number(n.into()))
}

/// The period as people read it: 令和7年度 for a fiscal year.
fn period_ja(kind: PeriodKind, period: &str) -> String {
    match (kind, crate::domain::FiscalYear::from_label(period)) {
        (PeriodKind::FiscalYear, Some(fy)) => crate::report::format::fy_ja(fy.0),
        _ => String::new(),
    }
}

/// `refrate status`.
pub(super) fn status_text(warehouse: &Warehouse, m: &Manifest, holder: Option<&LockInfo>) -> String {
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
pub(super) fn regimes_text(set: &RegimeSet) -> String {
    let mut s = String::new();
    for r in set.iter() {
        let _ = writeln!(s, "{}  {} / {}", r.id, r.name_ja, r.name_en);
        let _ = writeln!(s, "    referral: {}", r.referral.formula());
        let _ = writeln!(s, "    reverse:  {}", r.reverse.formula());
        for c in &r.criteria {
            let _ = writeln!(s, "    criterion {}: {}", c.id, r.criterion_label(c));
        }
        let _ = writeln!(s, "    from: {}", r.origin);
    }
    s
}
