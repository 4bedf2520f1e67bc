//! The report half of `refrate run`: fills the report view model from the engine's results
//! and writes every page, replacing the previous ones only once all are rendered.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{AppError, Hospital};
use crate::config::Config;
use crate::engine::{Engine, MonthlyRow};
use crate::periods::{self, PeriodKind, PeriodMonth};
use crate::rates::{RateRow, rate_rows};
use crate::regimes::{Count, MetricKind, Ratio, Regime};
use crate::report::model::{
    ChartData, CriterionRow, HospitalInfo, HospitalPage, IndexPage, IndexRow, MonthRow, RateValue,
    ReasonCount, RegimeResult, RejectSummary, RunInfo,
};
use crate::report::{self, Renderer};
use crate::warehouse::{Manifest, Warehouse};

/// What the reports found for the exit code.
pub struct Verdicts {
    pub fiscal_years: Vec<i32>,
    pub hospitals_checked: usize,
    pub needing_attention: usize,
}

fn rate_value(ratio: Option<Ratio>, unit: &str) -> RateValue {
    RateValue {
        display: ratio.and_then(|r| r.display()),
        unit: unit.to_string(),
        numerator: ratio.map(|r| r.numerator).unwrap_or(0),
        denominator: ratio.map(|r| r.denominator).unwrap_or(0),
    }
}

fn regime_result(row: &RateRow, regime: &Regime) -> RegimeResult {
    let mut notes = regime.uncertain.clone();
    if !row.missing_counts.is_empty() {
        notes.insert(
            0,
            format!(
                "算出不可: {} が報告されていません / not computable: needs {}",
                row.missing_counts.iter().map(|c| c.label_ja()).collect::<Vec<_>>().join("、"),
                row.missing_counts.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
            ),
        );
    }
    RegimeResult {
        id: regime.id.clone(),
        name_ja: regime.name_ja.clone(),
        name_en: regime.name_en.clone(),
        verdict: row.verdict.clone(),
        met_criteria: row.met_criteria.clone(),
        on_boundary: row.on_boundary,
        referral: rate_value(row.referral, row.referral_unit),
        reverse: rate_value(row.reverse, row.reverse_unit),
        criteria: row
            .criteria
            .iter()
            .map(|c| CriterionRow {
                id: c.id.clone(),
                label: c.label.clone(),
                met: c.met,
                on_boundary: c.on_boundary,
                referral_gap: c.referral_gap,
                reverse_gap: c.reverse_gap,
            })
            .collect(),
        notes,
    }
}

/// The thresholds drawn on the chart: those of the criterion met, else of the one closest to
/// being met, else of the first.
fn chart_thresholds(row: Option<&RateRow>, regime: &Regime) -> (Option<f64>, Option<f64>) {
    let chosen = row
        .and_then(|r| {
            r.criteria
                .iter()
                .find(|c| c.met == Some(true))
                .or_else(|| {
                    r.criteria
                        .iter()
                        .filter(|c| c.met == Some(false))
                        .min_by_key(|c| c.referral_gap.unwrap_or(u64::MAX / 4) + c.reverse_gap.unwrap_or(0))
                })
                .map(|c| c.id.clone())
        })
        .and_then(|id| regime.criteria.iter().find(|c| c.id == id))
        .or(regime.criteria.first());
    let mut out = (None, None);
    if let Some(c) = chosen {
        for cond in &c.conditions {
            let v = cond.threshold.numerator as f64 / cond.threshold.denominator as f64;
            match cond.metric {
                MetricKind::Referral => out.0 = Some(v),
                MetricKind::Reverse => out.1 = Some(v),
            }
        }
    }
    out
}

fn tenths_f64(r: Option<Ratio>) -> Option<f64> {
    r.and_then(|r| r.tenths()).map(|t| t as f64 / 10.0)
}

/// Renders every page into memory, then writes them; returns the verdicts of the latest
/// fiscal year for the exit code.
pub async fn render_all(
    cfg: &Config,
    warehouse: &Warehouse,
    manifest: &Manifest,
    regimes: &[&Regime],
    hospitals: &BTreeMap<String, Hospital>,
    renderer: &Renderer,
) -> Result<Verdicts, AppError> {
    let engine = Engine::open(warehouse, manifest, regimes).await?;
    let monthly = engine.monthly_counts().await?;
    let months: BTreeSet<String> = monthly.iter().map(|m| m.month.clone()).collect();
    let mut calendar: Vec<PeriodMonth> = periods::calendar(PeriodKind::FiscalYear, &months);
    calendar.extend(periods::calendar(PeriodKind::Month, &months));
    let results = engine.evaluate(&calendar).await?;
    let rows = rate_rows(&results, regimes);

    let run = RunInfo {
        refrate_version: env!("CARGO_PKG_VERSION").to_string(),
        generated_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        run_id: manifest.runs.last().map(|r| r.run_id.clone()).unwrap_or_else(|| "-".into()),
        warehouse_version: manifest.version,
    };
    let monthly_by: BTreeMap<(&str, &str), &MonthlyRow> =
        monthly.iter().map(|m| ((m.hospital_code.as_str(), m.month.as_str()), m)).collect();
    let row_by: BTreeMap<(&str, &str, &str, &str), &RateRow> = rows
        .iter()
        .map(|r| {
            ((r.hospital_code.as_str(), r.period_kind.as_str(), r.period.as_str(), r.regime_id.as_str()), r)
        })
        .collect();
    let fiscal_years: BTreeSet<i32> = months.iter().filter_map(|m| periods::fiscal_year_of(m)).collect();
    let hospital_codes: BTreeSet<&str> = monthly.iter().map(|m| m.hospital_code.as_str()).collect();
    let primary = regimes[0];

    let mut files: Vec<(String, String)> = Vec::new();
    let mut index_pages = Vec::new();
    for &fy in &fiscal_years {
        let fy_label = fy.to_string();
        let fy_months = periods::months_of_fiscal_year(fy);
        let mut index_rows = Vec::new();
        for &code in &hospital_codes {
            if !fy_months.iter().any(|m| monthly_by.contains_key(&(code, m.as_str()))) {
                continue;
            }
            let info = hospitals.get(code);
            let missing_months: Vec<String> = fy_months
                .iter()
                .filter(|m| {
                    !monthly_by.contains_key(&(code, m.as_str()))
                        && months.last().is_some_and(|last| m.as_str() <= last.as_str())
                })
                .cloned()
                .collect();
            let mut regime_results = Vec::new();
            for regime in regimes {
                let Some(row) = row_by.get(&(code, "fiscal-year", fy_label.as_str(), regime.id.as_str()))
                else {
                    continue;
                };
                regime_results.push(regime_result(row, regime));
                index_rows.push(IndexRow {
                    code: code.to_string(),
                    name: info.and_then(|h| h.name.clone()),
                    fiscal_year: fy,
                    regime_id: regime.id.clone(),
                    referral: rate_value(row.referral, row.referral_unit),
                    reverse: rate_value(row.reverse, row.reverse_unit),
                    verdict: row.verdict.clone(),
                    met_criteria: row.met_criteria.clone(),
                    on_boundary: row.on_boundary,
                    missing_months: missing_months.len() as u32,
                    page: report::hospital_page_file(code, fy),
                });
            }
            let month_rows: Vec<MonthRow> = fy_months
                .iter()
                .map(|m| {
                    let counts = monthly_by.get(&(code, m.as_str()));
                    let rate = row_by.get(&(code, "month", m.as_str(), primary.id.as_str()));
                    let c = |k: Count| counts.map(|r| r.counts[&k]).unwrap_or(0);
                    MonthRow {
                        month: m.clone(),
                        has_data: counts.is_some(),
                        first_visits: c(Count::FirstVisits),
                        ambulance_first_visits: c(Count::AmbulanceFirstVisits),
                        after_hours_first_visits: c(Count::AfterHoursFirstVisits),
                        checkup_first_visits: c(Count::CheckupFirstVisits),
                        initial_patients: c(Count::InitialPatients),
                        referred_patients: c(Count::ReferredPatients),
                        reverse_referred_patients: c(Count::ReverseReferredPatients),
                        return_visits: c(Count::ReturnVisits),
                        referral_rate: rate.and_then(|r| r.referral_display()),
                        reverse_rate: rate.and_then(|r| r.reverse_display()),
                        referral_unit: primary.referral.unit.symbol().to_string(),
                        reverse_unit: primary.reverse.unit.symbol().to_string(),
                    }
                })
                .collect();
            let fy_row = row_by.get(&(code, "fiscal-year", fy_label.as_str(), primary.id.as_str())).copied();
            let (referral_threshold, reverse_threshold) = chart_thresholds(fy_row, primary);
            let chart = ChartData {
                months: fy_months.clone(),
                referral: fy_months
                    .iter()
                    .map(|m| {
                        tenths_f64(
                            row_by
                                .get(&(code, "month", m.as_str(), primary.id.as_str()))
                                .and_then(|r| r.referral),
                        )
                    })
                    .collect(),
                reverse: fy_months
                    .iter()
                    .map(|m| {
                        tenths_f64(
                            row_by
                                .get(&(code, "month", m.as_str(), primary.id.as_str()))
                                .and_then(|r| r.reverse),
                        )
                    })
                    .collect(),
                referral_threshold,
                reverse_threshold,
                referral_unit: primary.referral.unit.symbol().to_string(),
                reverse_unit: primary.reverse.unit.symbol().to_string(),
            };
            let page = HospitalPage {
                hospital: HospitalInfo {
                    code: code.to_string(),
                    name: info.and_then(|h| h.name.clone()),
                    prefecture: info.and_then(|h| h.prefecture.clone()),
                    beds: info.and_then(|h| h.beds),
                },
                fiscal_year: fy,
                regimes: regime_results,
                months: month_rows,
                missing_months,
                chart,
                rejects: reject_summary(manifest, code),
                run: run.clone(),
            };
            files.push((report::hospital_page_file(code, fy), renderer.hospital(&page)?));
        }
        // Failing and boundary rows first, then by code.
        index_rows.sort_by_key(|r| {
            let rank = match (r.verdict.as_str(), r.on_boundary) {
                ("fail", _) => 0,
                (_, true) => 1,
                ("not_computable" | "no_data", _) => 2,
                _ => 3,
            };
            (rank, r.code.clone())
        });
        let page = IndexPage {
            fiscal_year: fy,
            regimes: regimes.iter().map(|r| (r.id.clone(), r.name_ja.clone())).collect(),
            rows: index_rows,
            run: run.clone(),
        };
        files.push((format!("index_FY{fy}.html"), renderer.index(&page)?));
        files.push((format!("overview_FY{fy}.csv"), report::index_csv(&page)?));
        files.push((format!("overview_FY{fy}.json"), report::index_json(&page)?));
        index_pages.push(page);
    }
    if let Some(latest) = index_pages.last() {
        files.push(("index.html".to_string(), renderer.index(latest)?));
    }
    files.push(("rejects.csv".to_string(), rejects_csv(warehouse, manifest).await?));
    write_all(&cfg.reports, &files)?;

    let checked_years = checked_fiscal_years(months.last().map(String::as_str));
    let mut checked = BTreeSet::new();
    let mut attention = BTreeSet::new();
    for r in rows.iter().filter(|r| r.period_kind == "fiscal-year") {
        if checked_years.iter().any(|fy| r.period == fy.to_string()) {
            checked.insert(r.hospital_code.clone());
            if r.needs_attention() {
                attention.insert(r.hospital_code.clone());
            }
        }
    }
    Ok(Verdicts {
        fiscal_years: checked_years,
        hospitals_checked: checked.len(),
        needing_attention: attention.len(),
    })
}

/// The fiscal years a hospital still answers for, seen from the latest month with data: the
/// current one (to date) and, until the annual report on the previous year is due (10月5日),
/// the previous one. Using the data rather than the clock keeps reruns reproducible.
pub fn checked_fiscal_years(latest_month: Option<&str>) -> Vec<i32> {
    let Some((year, month)) = latest_month.and_then(periods::parse_month) else {
        return Vec::new();
    };
    let fy = if month >= 4 { year } else { year - 1 };
    if (4..=9).contains(&month) { vec![fy - 1, fy] } else { vec![fy] }
}

/// Rejected rows of the input files that fed this hospital.
fn reject_summary(manifest: &Manifest, code: &str) -> RejectSummary {
    let prefix = format!("{code}/");
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    let (mut total, mut rows_read) = (0, 0);
    for source in manifest.sources.values().filter(|s| s.partitions.iter().any(|p| p.starts_with(&prefix))) {
        total += source.rows_rejected;
        rows_read += source.rows_read;
        for (reason, n) in &source.rejects_by_reason {
            *by_reason.entry(reason.clone()).or_default() += n;
        }
    }
    RejectSummary {
        total,
        rows_read,
        by_reason: by_reason
            .into_iter()
            .map(|(code, count)| ReasonCount {
                label_ja: crate::ingest::RejectReason::from_code(&code)
                    .map(|r| r.message_ja().to_string())
                    .unwrap_or_else(|| code.clone()),
                code,
                count,
            })
            .collect(),
    }
}

/// Every reject of the current sources, for people: file, line, field, value, reason.
async fn rejects_csv(warehouse: &Warehouse, manifest: &Manifest) -> Result<String, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| AppError::Input(format!("writing rejects.csv: {e}"));
    w.write_record(["file", "line", "byte_offset", "field", "value", "reason", "detail"]).map_err(csv_err)?;
    for source in manifest.sources.values() {
        let Some(file) = &source.rejects_file else { continue };
        let bytes = warehouse.get(file).await?;
        let batches = crate::warehouse::read_parquet_bytes(bytes)
            .map_err(|e| AppError::Input(format!("reading rejects {file}: {e}")))?;
        for batch in batches {
            use datafusion::arrow::array::{Array, AsArray};
            use datafusion::arrow::datatypes::UInt64Type;
            let s = |n: &str| batch.column_by_name(n).expect("rejects column").as_string::<i32>().clone();
            let u = |n: &str| {
                batch.column_by_name(n).expect("rejects column").as_primitive::<UInt64Type>().clone()
            };
            let (f, field, value, reason, detail) =
                (s("file"), s("field"), s("value"), s("reason"), s("detail"));
            let (line, offset) = (u("line"), u("byte_offset"));
            for i in 0..batch.num_rows() {
                let opt = |a: &datafusion::arrow::array::StringArray| {
                    if a.is_null(i) { String::new() } else { report::neutralise_csv_cell(a.value(i)) }
                };
                w.write_record([
                    report::neutralise_csv_cell(f.value(i)),
                    line.value(i).to_string(),
                    offset.value(i).to_string(),
                    opt(&field),
                    opt(&value),
                    reason.value(i).to_string(),
                    report::neutralise_csv_cell(detail.value(i)),
                ])
                .map_err(csv_err)?;
            }
        }
    }
    let bytes = w.into_inner().map_err(|e| AppError::Input(format!("writing rejects.csv: {e}")))?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 strings"))
}

/// Prefix of the temporary files pages are written to before their rename.
const TEMP_PREFIX: &str = ".refrate-";

/// Writes each file next to its destination and renames it into place, so a reader never
/// sees a half-written page.
///
/// Temporary files of a run killed while writing are removed first: `run` holds the writer
/// lock, so no other run is writing here.
fn write_all(dir: &Path, files: &[(String, String)]) -> Result<(), AppError> {
    std::fs::create_dir_all(dir)
        .map_err(AppError::io(format!("creating the reports folder {}", dir.display())))?;
    let entries = std::fs::read_dir(dir)
        .map_err(AppError::io(format!("reading the reports folder {}", dir.display())))?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    for (name, content) in files {
        let target = dir.join(name);
        let mut tmp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(dir)
            .map_err(AppError::io(format!("writing {}", target.display())))?;
        std::io::Write::write_all(&mut tmp, content.as_bytes())
            .map_err(AppError::io(format!("writing {}", target.display())))?;
        tmp.persist(&target).map_err(|e| AppError::Io {
            context: format!("writing {}", target.display()),
            source: e.error,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::checked_fiscal_years;

    #[test]
    fn previous_year_is_checked_until_its_report_is_due() {
        assert_eq!(checked_fiscal_years(None), Vec::<i32>::new());
        // April–September: the previous year's 業務報告 is still to be filed by 10月5日.
        assert_eq!(checked_fiscal_years(Some("2026-04")), [2025, 2026]);
        assert_eq!(checked_fiscal_years(Some("2026-09")), [2025, 2026]);
        assert_eq!(checked_fiscal_years(Some("2026-10")), [2026]);
        assert_eq!(checked_fiscal_years(Some("2027-03")), [2026]);
    }
}
