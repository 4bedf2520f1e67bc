//! View models: what each page, overview and machine file shows, chosen and arranged from the
//! rate rows. Nothing here decides a verdict, a gap or a pace: those come from
//! [`crate::rates`] (and the engine's SQL) and are only placed; the only arithmetic is for
//! display (a department's share, a change from the previous year).
//!
//! [`Book`] is the one entry: every file of the reports folder, rendered one at a time, for
//! `app` to write.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{
    ApprovalIndexRow, ApprovalOverview, ChartData, CriterionRow, DepartmentLine, FilingLink, ForecastView,
    HospitalInfo, HospitalPage, IndexPage, IndexRow, MonthRow, NotSubmitted, PartnerBreakdown,
    PartnerDecline, PartnerLine, RateValue, ReasonCount, RegimeFile, RegimeResult, RejectRow, RejectSummary,
    RunInfo, SourceFile,
};
use super::{Renderer, ReportError};
use crate::domain::{PeriodKind, Verdict};
use crate::engine::{DepartmentRow, MonthlyRow, PartnerRow};
use crate::ingest::Hospital;
use crate::periods;
use crate::rates::{RateRow, YearProgress, nearest_criterion};
use crate::regimes::{Count, MetricKind, Ratio, Regime};
use crate::warehouse::Manifest;

/// Everything the pages are built from, besides the rows and forms of each group of hospitals
/// ([`Book::hospital_pages`]) and the forms of all ([`Book::overview_pages`]).
pub(crate) struct Sources<'a> {
    /// The configured regimes; the first is the primary one (monthly table, chart).
    pub regimes: &'a [&'a Regime],
    /// The fiscal-year rows of every hospital and regime, with their forecasts: the overviews'.
    pub rows: &'a [RateRow],
    pub monthly: &'a [MonthlyRow],
    /// The months the data covers ([`periods::covered_months`]).
    pub covered_months: &'a BTreeSet<String>,
    pub departments: &'a [DepartmentRow],
    pub manifest: &'a Manifest,
    pub rejects: &'a [RejectRow],
    pub hospitals: &'a BTreeMap<String, Hospital>,
    /// Partner institutions' names (`partners:`); a partner in neither list shows its code.
    pub partner_names: &'a BTreeMap<String, Hospital>,
    /// The approval rules and the 承認要件 tables, when the config gives `approval_facts`.
    pub approval: Option<(&'a crate::regimes::ApprovalRules, &'a [crate::approval::ApprovalTable])>,
    /// When set, each hospital page also has a copy to share (`<code>_shared_FY<year>.html`)
    /// with counts below this hidden.
    pub suppress_below: Option<u64>,
}

/// Rate rows indexed by hospital, period and regime.
struct Rows<'r> {
    by: BTreeMap<(&'r str, PeriodKind, &'r str, &'r str), &'r RateRow>,
    /// The hospitals of the rows, in code order, and the fiscal years each has a row of.
    codes: BTreeSet<&'r str>,
    fiscal_years_of: BTreeSet<(&'r str, i32)>,
}

impl<'r> Rows<'r> {
    fn of(rows: &'r [RateRow]) -> Rows<'r> {
        Rows {
            by: rows
                .iter()
                .map(|r| {
                    ((r.hospital_code.as_str(), r.period_kind, r.period.as_str(), r.regime_id.as_str()), r)
                })
                .collect(),
            codes: rows.iter().map(|r| r.hospital_code.as_str()).collect(),
            fiscal_years_of: rows
                .iter()
                .filter(|r| r.period_kind == PeriodKind::FiscalYear)
                .filter_map(|r| r.period.parse().ok().map(|fy| (r.hospital_code.as_str(), fy)))
                .collect(),
        }
    }

    fn get(&self, code: &str, kind: PeriodKind, period: &str, regime: &Regime) -> Option<&'r RateRow> {
        self.by.get(&(code, kind, period, regime.id.as_str())).copied()
    }

    fn has_fiscal_year(&self, code: &str, fy: i32) -> bool {
        self.fiscal_years_of.contains(&(code, fy))
    }
}

/// The sources indexed for the pages: every lookup is by hospital, period and regime. Every
/// file of the reports folder is rendered from a book, one at a time, and handed to a sink as
/// it is rendered (so no more than one page is held in memory): [`Book::hospital_pages`] for
/// each group of hospitals as its rows are evaluated, then [`Book::overview_pages`]. The first
/// error, the renderer's or the sink's, stops the rendering.
pub(crate) struct Book<'a> {
    sources: &'a Sources<'a>,
    /// The fiscal-year rows of every hospital (`sources.rows`).
    overview: Rows<'a>,
    /// The fiscal years of the data, and when its warehouse state was published.
    fiscal_years: BTreeSet<i32>,
    created: Option<chrono::NaiveDateTime>,
    /// The latest month with monthly data anywhere.
    latest_month: Option<&'a str>,
    monthly_by: BTreeMap<(&'a str, &'a str), &'a MonthlyRow>,
    /// The months with data of each hospital.
    hospital_months: BTreeMap<&'a str, BTreeSet<String>>,
    /// The department rows of each hospital and fiscal year, in their order.
    departments_by: BTreeMap<(&'a str, i32), Vec<&'a DepartmentRow>>,
    /// Of the partner rows, only those a page lists, with the count of all (see [`Listed`]).
    partners_by: BTreeMap<String, BTreeMap<i32, Listed>>,
    /// The input files that fed each hospital's month (`<code>/<month>`), and for each file
    /// whether it fed one hospital only.
    feeding_by: BTreeMap<&'a str, Vec<&'a str>>,
    single_hospital: BTreeMap<&'a str, bool>,
    /// The positions in `rejects` of each input file's rejected rows.
    rejects_by: BTreeMap<&'a str, Vec<usize>>,
    /// The regime the monthly table and the chart use.
    primary: &'a Regime,
    under_way: Option<YearProgress>,
    regime_files: Vec<RegimeFile>,
    run: RunInfo,
}

impl<'a> Book<'a> {
    /// The book of `sources`, with the partner rows of every hospital and fiscal year; of
    /// those it keeps only what the pages list, so that the rest is freed before any page is
    /// made (a hospital has hundreds of partners; a page lists a few dozen).
    pub(crate) fn new(sources: &'a Sources<'a>, partners: Vec<PartnerRow>) -> Book<'a> {
        let Sources { regimes, rows, monthly, manifest, departments, rejects, .. } = *sources;
        let latest_month = monthly.iter().map(|m| m.month.as_str()).max();
        let mut departments_by: BTreeMap<(&str, i32), Vec<&DepartmentRow>> = BTreeMap::new();
        for r in departments {
            departments_by.entry((r.hospital_code.as_str(), r.fiscal_year)).or_default().push(r);
        }
        let mut partners_by: BTreeMap<String, BTreeMap<i32, Vec<PartnerRow>>> = BTreeMap::new();
        for r in partners {
            partners_by.entry(r.hospital_code.clone()).or_default().entry(r.fiscal_year).or_default().push(r);
        }
        let partners_by = partners_by
            .into_iter()
            .map(|(code, years)| (code, years.into_iter().map(|(fy, rows)| (fy, Listed::of(rows))).collect()))
            .collect();
        let mut feeding_by: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut single_hospital = BTreeMap::new();
        for (name, source) in &manifest.sources {
            for partition in &source.partitions {
                feeding_by.entry(partition.as_str()).or_default().push(name.as_str());
            }
            let code_of = |p: &'a String| p.split_once('/').map(|(code, _)| code);
            let first = source.partitions.first().and_then(code_of);
            let single = first.is_some() && source.partitions.iter().all(|p| code_of(p) == first);
            single_hospital.insert(name.as_str(), single);
        }
        let mut rejects_by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, r) in rejects.iter().enumerate() {
            rejects_by.entry(r.file.as_str()).or_default().push(i);
        }
        let mut hospital_months: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for m in monthly {
            hospital_months.entry(m.hospital_code.as_str()).or_default().insert(m.month.clone());
        }
        Book {
            sources,
            overview: Rows::of(rows),
            fiscal_years: sources.covered_months.iter().filter_map(|m| periods::fiscal_year_of(m)).collect(),
            created: chrono::NaiveDateTime::parse_from_str(&manifest.created_at, "%Y-%m-%dT%H:%M:%SZ").ok(),
            latest_month,
            monthly_by: monthly.iter().map(|m| ((m.hospital_code.as_str(), m.month.as_str()), m)).collect(),
            hospital_months,
            departments_by,
            partners_by,
            feeding_by,
            single_hospital,
            rejects_by,
            primary: regimes[0],
            under_way: YearProgress::under_way(latest_month),
            regime_files: regimes
                .iter()
                .map(|r| RegimeFile { id: r.id.clone(), origin: r.origin.clone() })
                .collect(),
            run: RunInfo::of(manifest),
        }
    }

    /// The progress of `fy` when it is the year under way.
    fn progress(&self, fy: i32) -> Option<YearProgress> {
        self.under_way.clone().filter(|p| p.fiscal_year == fy)
    }

    /// The page of each hospital of `rows` and fiscal year it has a row of (and its copy to
    /// share), and the files of `forms`. `rows` are every row of whole hospitals (fiscal years,
    /// months, rolling 12 months, six-month windows) with their forecasts; `forms` are theirs.
    pub(crate) fn hospital_pages<E: From<ReportError>>(
        &self,
        rows: &[RateRow],
        forms: &[crate::forms::HospitalForms],
        renderer: &Renderer,
        sink: &mut impl FnMut(String, Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        /// One hospital's page of a fiscal year, or its forms of one.
        enum Work<'w> {
            Page(&'w str, i32),
            Forms(&'w crate::forms::HospitalForms),
        }
        let rows = Rows::of(rows);
        let mut work = Vec::new();
        for &code in &rows.codes {
            let years = self.fiscal_years.iter().filter(|fy| rows.has_fiscal_year(code, **fy));
            work.extend(years.map(|&fy| Work::Page(code, fy)));
        }
        work.extend(forms.iter().filter(|f| self.fiscal_years.contains(&f.fiscal_year)).map(Work::Forms));
        // Rendered on every core; each file is the same whichever thread made it, and the
        // order in which they reach the sink does not matter.
        let render = |work: &Work<'_>| -> Result<Vec<(String, Vec<u8>)>, ReportError> {
            match *work {
                Work::Page(code, fy) => {
                    let page = self.hospital_page(&rows, forms, code, fy, self.progress(fy).as_ref());
                    let mut files =
                        vec![(super::hospital_page_file(code, fy), renderer.hospital(&page)?.into_bytes())];
                    if let Some(below) = self.sources.suppress_below {
                        let shared = super::suppress::shared_page(&page, below);
                        files.push((
                            super::form_file(code, "shared", fy, "html"),
                            renderer.hospital(&shared)?.into_bytes(),
                        ));
                    }
                    Ok(files)
                }
                Work::Forms(forms) => form_files(forms, renderer, &self.run),
            }
        };
        crate::parallel::stream_in_parallel(&work, render, |files| {
            for (name, bytes) in files? {
                sink(name, bytes)?;
            }
            Ok(())
        })
    }

    /// The overview of each fiscal year (HTML, CSV and xlsx for people, JSON for machines),
    /// `index.html` (the latest year's) and `rejects.csv`; `forms` are every hospital's.
    pub(crate) fn overview_pages<E: From<ReportError>>(
        &self,
        forms: &[crate::forms::HospitalForms],
        renderer: &Renderer,
        sink: &mut impl FnMut(String, Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut latest = None;
        for &fy in &self.fiscal_years {
            let codes = self.overview.codes.iter().filter(|code| self.overview.has_fiscal_year(code, fy));
            let index_rows = codes.flat_map(|code| self.index_rows(code, fy)).collect();
            let page = self.index_page(fy, index_rows, forms, self.progress(fy));
            sink(format!("index_FY{fy}.html"), renderer.index(&page)?.into_bytes())?;
            sink(format!("overview_FY{fy}.csv"), super::for_people(&super::index_csv(&page)?))?;
            sink(format!("overview_FY{fy}.xlsx"), super::xlsx::index_xlsx(&page, self.created)?)?;
            sink(format!("overview_FY{fy}.json"), super::index_json(&page)?.into_bytes())?;
            latest = Some(page);
        }
        if let Some(latest) = &latest {
            sink("index.html".to_string(), renderer.index(latest)?.into_bytes())?;
        }
        sink("rejects.csv".to_string(), super::for_people(&rejects_csv(self.sources.rejects)?))?;
        Ok(())
    }

    /// The input files that fed `code` in any of `months`, by name.
    fn feeding(&self, code: &str, months: &[String]) -> BTreeSet<&'a str> {
        months
            .iter()
            .filter_map(|m| self.feeding_by.get(format!("{code}/{m}").as_str()))
            .flatten()
            .copied()
            .collect()
    }

    /// Rejected rows of the input files that fed this hospital (`feeding`). A file may hold
    /// several hospitals: its counts are the whole file's. A rejected row's hospital is unknown
    /// (its code may be what failed): only files that fed this hospital and no other are listed
    /// row by row.
    fn reject_summary(&self, feeding: &BTreeSet<&'a str>) -> RejectSummary {
        let Sources { manifest, rejects, .. } = *self.sources;
        let (only_this, shared): (Vec<&str>, Vec<&str>) =
            feeding.iter().partition(|name| self.single_hospital.get(*name).copied().unwrap_or(false));
        let of =
            |file: &str| -> &[usize] { self.rejects_by.get(file).map(Vec::as_slice).unwrap_or_default() };
        // In the order of `rejects`, as the files' rows were read back.
        let mut own: Vec<usize> = only_this.iter().flat_map(|f| of(f)).copied().collect();
        own.sort_unstable();
        let rows: Vec<RejectRow> =
            own.into_iter().take(REJECT_ROWS_SHOWN).map(|i| rejects[i].clone()).collect();
        let shared_rows = shared.iter().map(|f| of(f).len() as u64).sum();
        let (mut total, mut rows_read) = (0, 0);
        let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
        for source in feeding.iter().map(|name| &manifest.sources[*name]) {
            total += source.rows_rejected;
            rows_read += source.rows_read;
            for (reason, n) in &source.rejects_by_reason {
                *by_reason.entry(reason.clone()).or_default() += n;
            }
        }
        RejectSummary {
            total,
            rows_read,
            rows,
            shared_rows,
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

    /// Months of the fiscal year up to the latest month with data anywhere that this hospital
    /// has no data for.
    fn missing_months(&self, code: &str, fy: i32) -> Vec<String> {
        periods::months_of_fiscal_year(fy)
            .into_iter()
            .filter(|m| {
                !self.monthly_by.contains_key(&(code, m.as_str()))
                    && self.latest_month.is_some_and(|last| m.as_str() <= last)
            })
            .collect()
    }

    /// The overview's rows of one hospital and fiscal year, one per regime.
    fn index_rows(&self, code: &str, fy: i32) -> Vec<IndexRow> {
        let (label, previous_label) = (fy.to_string(), (fy - 1).to_string());
        let name = self.sources.hospitals.get(code).and_then(|h| h.name.clone());
        let missing_months = self.missing_months(code, fy).len() as u32;
        self.sources
            .regimes
            .iter()
            .filter_map(|regime| {
                let row = self.overview.get(code, PeriodKind::FiscalYear, &label, regime)?;
                let previous = self.overview.get(code, PeriodKind::FiscalYear, &previous_label, regime);
                Some(IndexRow {
                    code: code.to_string(),
                    name: name.clone(),
                    fiscal_year: fy,
                    regime_id: regime.id.clone(),
                    referral: rate_value(row, regime, MetricKind::Referral),
                    reverse: rate_value(row, regime, MetricKind::Reverse),
                    verdict: row.verdict,
                    met_criteria: row.met_criteria.clone(),
                    met_criteria_names: criterion_names(row, &row.met_criteria),
                    on_boundary: row.on_boundary,
                    referral_change: change_display(row.referral, previous.and_then(|p| p.referral)),
                    reverse_change: change_display(row.reverse, previous.and_then(|p| p.reverse)),
                    missing_months,
                    months_with_data: row.counts.months_with_data as u32,
                    page: super::hospital_page_file(code, fy),
                })
            })
            .collect()
    }

    /// The overview of one fiscal year: failing and boundary rows first, then by code; the
    /// master's hospitals without data are listed as not submitted.
    fn index_page(
        &self,
        fy: i32,
        mut rows: Vec<IndexRow>,
        forms: &[crate::forms::HospitalForms],
        progress: Option<YearProgress>,
    ) -> IndexPage {
        rows.sort_by_key(|r| {
            let rank = match (r.verdict, r.on_boundary) {
                (Verdict::Fail, _) => 0,
                (_, true) => 1,
                (Verdict::Undetermined, _) => 2,
                (Verdict::NotComputable | Verdict::NoData, _) => 3,
                _ => 4,
            };
            (rank, r.code.clone())
        });
        let with_data: BTreeSet<&str> = rows.iter().map(|r| r.code.as_str()).collect();
        let not_submitted = self
            .sources
            .hospitals
            .values()
            .filter(|h| !with_data.contains(h.hospital_code.as_str()))
            .map(|h| NotSubmitted { code: h.hospital_code.clone(), name: h.name.clone() })
            .collect();
        IndexPage {
            fiscal_year: fy,
            regimes: self.sources.regimes.iter().map(|r| (r.id.clone(), r.name_ja.clone())).collect(),
            rows,
            progress,
            not_submitted,
            approval: self.approval_overview(fy),
            forms: forms.iter().filter(|f| f.fiscal_year == fy).cloned().collect(),
            run: self.run.clone(),
        }
    }

    /// The page of one hospital and fiscal year.
    fn hospital_page(
        &self,
        rows: &Rows<'_>,
        forms: &[crate::forms::HospitalForms],
        code: &str,
        fy: i32,
        progress: Option<&YearProgress>,
    ) -> HospitalPage {
        let Sources { regimes, manifest, hospitals, .. } = *self.sources;
        let info = hospitals.get(code);
        let label = fy.to_string();
        let fy_months = periods::months_of_fiscal_year(fy);
        let feeding = self.feeding(code, &fy_months);
        let no_months = BTreeSet::new();
        HospitalPage {
            hospital: HospitalInfo {
                code: code.to_string(),
                name: info.and_then(|h| h.name.clone()),
                prefecture: info.and_then(|h| h.prefecture.clone()),
                beds: info.and_then(|h| h.beds),
            },
            fiscal_year: fy,
            regimes: regimes
                .iter()
                .filter_map(|regime| {
                    let row = rows.get(code, PeriodKind::FiscalYear, &label, regime)?;
                    Some(regime_result(row, regime, progress))
                })
                .collect(),
            months: self.month_rows(rows, code, &fy_months),
            missing_months: self.missing_months(code, fy),
            chart: self.chart(rows, code, fy, &fy_months),
            progress: progress.cloned(),
            departments: department_lines(
                self.departments_by.get(&(code, fy)).map(Vec::as_slice).unwrap_or_default(),
            ),
            partners: partner_breakdown(
                self.partners_by.get(code).and_then(|years| years.get(&fy)).unwrap_or(&Listed::NONE),
                fy,
                self.hospital_months.get(code).unwrap_or(&no_months),
                |partner| {
                    let named =
                        |list: &BTreeMap<String, Hospital>| list.get(partner).and_then(|h| h.name.clone());
                    named(self.sources.partner_names).or_else(|| named(hospitals))
                },
            ),
            rejects: self.reject_summary(&feeding),
            sources: source_files(manifest, &feeding),
            regime_files: self.regime_files.clone(),
            approval: self.approval_table(code, fy).cloned(),
            filings: filings(forms, code, fy),
            sharing: None,
            run: self.run.clone(),
        }
    }

    fn approval_table(&self, code: &str, fy: i32) -> Option<&'a crate::approval::ApprovalTable> {
        let (_, tables) = self.sources.approval?;
        tables.iter().find(|t| t.hospital_code == code && t.fiscal_year == fy)
    }

    /// The 承認要件 of every hospital of `fy` with a table: not met first, then unknown.
    fn approval_overview(&self, fy: i32) -> Option<ApprovalOverview> {
        use crate::domain::ApprovalVerdict;
        let (rules, tables) = self.sources.approval?;
        let mut rows: Vec<ApprovalIndexRow> = tables
            .iter()
            .filter(|t| t.fiscal_year == fy)
            .map(|t| ApprovalIndexRow {
                code: t.hospital_code.clone(),
                name: self.sources.hospitals.get(&t.hospital_code).and_then(|h| h.name.clone()),
                verdict: t.verdict,
                met: t.requirements.iter().map(|r| r.met).collect(),
                page: self
                    .overview
                    .has_fiscal_year(&t.hospital_code, fy)
                    .then(|| super::hospital_page_file(&t.hospital_code, fy)),
            })
            .collect();
        rows.sort_by_key(|r| {
            let rank = match r.verdict {
                ApprovalVerdict::NotMet => 0,
                ApprovalVerdict::Unknown => 1,
                ApprovalVerdict::Met => 2,
            };
            (rank, r.code.clone())
        });
        Some(ApprovalOverview {
            rules_name: rules.name_ja.clone(),
            rules_origin: rules.origin.clone(),
            sources: rules.sources.clone(),
            uncertain: rules.uncertain.clone(),
            requirements: rules.requirements.iter().map(|r| (r.id.clone(), r.name_ja.clone())).collect(),
            rows,
        })
    }

    /// The monthly table: counts, and the primary regime's rates.
    fn month_rows(&self, rows: &Rows<'_>, code: &str, fy_months: &[String]) -> Vec<MonthRow> {
        let primary = self.primary;
        fy_months
            .iter()
            .map(|m| {
                let counts = self.monthly_by.get(&(code, m.as_str()));
                let rate = rows.get(code, PeriodKind::Month, m, primary);
                let c = |k: Count| {
                    super::format::count_cell(
                        counts.and_then(|r| r.get(k)),
                        counts.and_then(|r| r.masked.get(&k)),
                    )
                };
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
            .collect()
    }

    /// The chart of the primary regime: monthly rates, rolling-12 rates where all twelve
    /// months have data (a shorter window would be a different rate under the same name), and
    /// the thresholds of the criterion met or nearest.
    fn chart(&self, rows: &Rows<'_>, code: &str, fy: i32, fy_months: &[String]) -> ChartData {
        let primary = self.primary;
        let series = |kind: PeriodKind, metric: fn(&RateRow) -> Option<Ratio>| -> Vec<Option<f64>> {
            fy_months
                .iter()
                .map(|m| {
                    let (period, complete) = match kind {
                        PeriodKind::Rolling12 => (periods::rolling12_label(m), 12),
                        _ => (m.clone(), 0),
                    };
                    rows.get(code, kind, &period, primary)
                        .filter(|r| r.counts.months_with_data >= complete)
                        .and_then(|r| tenths_f64(metric(r)))
                })
                .collect()
        };
        let fy_row = rows.get(code, PeriodKind::FiscalYear, &fy.to_string(), primary);
        let (referral_threshold, reverse_threshold) = chart_thresholds(fy_row, primary);
        ChartData {
            months: fy_months.to_vec(),
            referral: series(PeriodKind::Month, |r| r.referral),
            reverse: series(PeriodKind::Month, |r| r.reverse),
            referral_rolling: series(PeriodKind::Rolling12, |r| r.referral),
            reverse_rolling: series(PeriodKind::Rolling12, |r| r.reverse),
            referral_threshold,
            reverse_threshold,
            referral_unit: primary.referral.unit.symbol().to_string(),
            reverse_unit: primary.reverse.unit.symbol().to_string(),
        }
    }
}

/// Links to the forms filled from this hospital's fiscal year.
fn filings(forms: &[crate::forms::HospitalForms], code: &str, fy: i32) -> Vec<FilingLink> {
    let Some(forms) = forms.iter().find(|f| f.code == code && f.fiscal_year == fy) else {
        return Vec::new();
    };
    let mut links = Vec::new();
    for (name, form) in [("form28", &forms.form28), ("form28r", &forms.form28_recovery)] {
        if let Some(form) = form {
            links.push(FilingLink {
                title: format!("別紙様式28（{}）", form.kind_ja),
                file: super::form_file(code, name, form.fiscal_year, "html"),
                period_ja: form.period_ja.clone(),
                deadline: form.deadline.note.clone(),
            });
        }
    }
    if let Some(report) = &forms.business_report {
        links.push(FilingLink {
            title: "業務報告 ① 紹介患者に対する医療提供及び他の病院又は診療所に対する患者紹介の実績".into(),
            file: super::form_file(code, "report", fy, "html"),
            period_ja: report.period_ja.clone(),
            deadline: report.deadline.note.clone(),
        });
    }
    links
}

/// The printed names of criteria given by id.
fn criterion_names(row: &RateRow, ids: &[String]) -> Vec<String> {
    ids.iter()
        .map(|id| {
            row.criteria
                .iter()
                .find(|c| *c.id == **id)
                .map(|c| c.name_ja.to_string())
                .unwrap_or_else(|| id.clone())
        })
        .collect()
}

/// Rejected rows listed on a hospital page (all of them are in rejects.csv).
const REJECT_ROWS_SHOWN: usize = 100;

/// A rate as shown, with its exact value when the rounding puts it on a threshold of `regime`
/// for `metric` that it is not on; its interval when a count behind it is masked.
fn rate_value(row: &RateRow, regime: &Regime, metric: MetricKind) -> RateValue {
    let (ratio, range, unit) = match metric {
        MetricKind::Referral => (row.referral, row.referral_range, row.referral_unit),
        MetricKind::Reverse => (row.reverse, row.reverse_range, row.reverse_unit),
    };
    if let Some(range) = range {
        return RateValue {
            display: range.display(),
            unit: unit.to_string(),
            numerator: range.low.numerator.min(range.high.numerator),
            denominator: range.low.denominator.min(range.high.denominator),
            masked: true,
            numerator_high: Some(range.low.numerator.max(range.high.numerator)),
            denominator_high: Some(range.low.denominator.max(range.high.denominator)),
            exact: None,
        };
    }
    RateValue {
        display: ratio.and_then(|r| r.display()),
        unit: unit.to_string(),
        numerator: ratio.map(|r| r.numerator).unwrap_or(0),
        denominator: ratio.map(|r| r.denominator).unwrap_or(0),
        masked: false,
        numerator_high: None,
        denominator_high: None,
        exact: regime.exact_when_rounding_hides(ratio, metric),
    }
}

fn regime_result(row: &RateRow, regime: &Regime, progress: Option<&YearProgress>) -> RegimeResult {
    let pace = |gap: Option<u64>| progress.and_then(|p| p.per_month(gap));
    let mut notes = regime.uncertain.clone();
    let masked: Vec<String> = regime
        .required_counts()
        .into_iter()
        .filter_map(|c| {
            row.counts.masked.get(&c).map(|(low, high)| format!("{} {low}〜{high}", c.label_ja()))
        })
        .collect();
    if !masked.is_empty() {
        notes.insert(
            0,
            format!(
                "秘匿値: {} は公表データで秘匿されており範囲としてのみ分かります。率は取りうる範囲で示し、範囲内のどの値でも結果が同じときだけ判定しています / masked counts are intervals; a verdict is given only when every value agrees",
                masked.join("、")
            ),
        );
    }
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
        verdict: row.verdict,
        // Printed names (基準B); the machine outputs keep the ids.
        met_criteria: criterion_names(row, &row.met_criteria),
        on_boundary: row.on_boundary,
        referral: rate_value(row, regime, MetricKind::Referral),
        reverse: rate_value(row, regime, MetricKind::Reverse),
        criteria: row
            .criteria
            .iter()
            .map(|c| CriterionRow {
                name_ja: c.name_ja.to_string(),
                id: c.id.to_string(),
                label: c.label.to_string(),
                met: c.met,
                undetermined: c.undetermined,
                on_boundary: c.on_boundary,
                referral_gap: c.referral_gap,
                reverse_gap: c.reverse_gap,
                referral_pace: pace(c.referral_gap),
                reverse_pace: pace(c.reverse_gap),
            })
            .collect(),
        notes,
        forecast: row.forecast.as_ref().map(|f| {
            let band = |b: &Option<crate::forecast::RateBand>| {
                b.as_ref()
                    .map(|b| (format!("{:.1}", b.point), format!("{:.1}", b.low), format!("{:.1}", b.high)))
            };
            ForecastView {
                referral: band(&f.referral),
                reverse: band(&f.reverse),
                pass_percent: format!("{:.0}", 100.0 * f.pass_probability),
                months_used: f.months_used,
                seasonal: f.seasonal,
            }
        }),
        forecast_missing: (progress.is_some() && row.forecast.is_none()).then(|| {
            format!(
                "年度末の見通しはありません：この年度のデータが{}か月未満（4月から切れ目なく）です。",
                crate::forecast::MIN_MONTHS
            )
        }),
    }
}

/// The thresholds drawn on the chart: those of the criterion met, else of the nearest one,
/// else of the first.
fn chart_thresholds(row: Option<&RateRow>, regime: &Regime) -> (Option<f64>, Option<f64>) {
    let chosen = row
        .and_then(|r| {
            r.criteria.iter().find(|c| c.met == Some(true)).or_else(|| nearest_criterion(&r.criteria))
        })
        .and_then(|c| regime.criteria.iter().find(|k| *k.id == *c.id))
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

/// `current − previous` in tenths of the unit, rounded half away from zero, as `"+3.2"`,
/// `"-0.4"` or `"±0.0"`; `None` when either rate is missing.
fn change_display(current: Option<Ratio>, previous: Option<Ratio>) -> Option<String> {
    let (c, p) = (current?, previous?);
    if c.denominator == 0 || p.denominator == 0 || c.scale != p.scale {
        return None;
    }
    let num = 10
        * i128::from(c.scale)
        * (i128::from(c.numerator) * i128::from(p.denominator)
            - i128::from(p.numerator) * i128::from(c.denominator));
    let den = i128::from(c.denominator) * i128::from(p.denominator);
    let tenths = (2 * num.abs() + den) / (2 * den);
    let sign = match (tenths, num.signum()) {
        (0, _) => "±",
        (_, -1) => "-",
        _ => "+",
    };
    Some(format!("{sign}{}.{}", tenths / 10, tenths % 10))
}

fn share(numerator: u64, denominator: u64) -> Option<String> {
    Ratio { numerator, denominator, scale: 100 }.display()
}

/// The department lines of one hospital and fiscal year, largest first.
fn department_lines(rows: &[&DepartmentRow]) -> Vec<DepartmentLine> {
    let mut lines: Vec<DepartmentLine> = rows
        .iter()
        .map(|r| DepartmentLine {
            department: r.department.clone(),
            first_visits: r.first_visits,
            initial_patients: r.initial_patients,
            referred_patients: r.referred_patients,
            reverse_referred_patients: r.reverse_referred_patients,
            referred_share: share(r.referred_patients, r.initial_patients),
            reverse_share: share(r.reverse_referred_patients, r.initial_patients),
            hidden: Vec::new(),
        })
        .collect();
    lines.sort_by(|a, b| {
        b.initial_patients.cmp(&a.initial_patients).then_with(|| a.department.cmp(&b.department))
    });
    lines
}

/// The partner rows of one hospital and fiscal year that its page lists (any of
/// [`top_partners`] and [`declining_partners`]), and how many partners it had at all. The lists
/// made from these rows are the lists of all the rows: each list is the first rows of a total
/// order (count, then partner code), and every row among the first of all rows is kept.
#[derive(Debug, Default)]
struct Listed {
    rows: Vec<PartnerRow>,
    /// Partners with at least one referral or reverse referral this fiscal year.
    partner_count: u64,
}

impl Listed {
    const NONE: Listed = Listed { rows: Vec::new(), partner_count: 0 };

    fn of(rows: Vec<PartnerRow>) -> Listed {
        let all: Vec<&PartnerRow> = rows.iter().collect();
        let listed: BTreeSet<String> = top_partners(&all, referred)
            .into_iter()
            .chain(top_partners(&all, reverse))
            .chain(declining_partners(&all))
            .map(|r| r.partner_code.clone())
            .collect();
        let partner_count = all.iter().filter(|r| referred(r) + reverse(r) > 0).count() as u64;
        let mut rows: Vec<PartnerRow> =
            rows.into_iter().filter(|r| listed.contains(&r.partner_code)).collect();
        rows.shrink_to_fit();
        Listed { rows, partner_count }
    }
}

fn referred(r: &PartnerRow) -> u64 {
    r.referred_patients
}

fn reverse(r: &PartnerRow) -> u64 {
    r.reverse_referred_patients
}

/// The partners with the largest `count` (above 0), at most [`PartnerBreakdown::LIMIT`]. Ties
/// are broken by partner code, so the lists are reproducible.
fn top_partners<'r>(mine: &[&'r PartnerRow], count: fn(&PartnerRow) -> u64) -> Vec<&'r PartnerRow> {
    let mut top: Vec<&PartnerRow> = mine.iter().copied().filter(|r| count(r) > 0).collect();
    top.sort_by(|a, b| count(b).cmp(&count(a)).then_with(|| a.partner_code.cmp(&b.partner_code)));
    top.truncate(PartnerBreakdown::LIMIT);
    top
}

/// The partners whose referrals fell in the compared months, largest fall first (ties by
/// partner code), at most [`PartnerBreakdown::LIMIT`].
fn declining_partners<'r>(mine: &[&'r PartnerRow]) -> Vec<&'r PartnerRow> {
    let mut declines: Vec<&PartnerRow> = mine
        .iter()
        .copied()
        .filter(|r| r.compared_months > 0 && r.referred_previous > r.referred_compared)
        .collect();
    let fall = |r: &PartnerRow| r.referred_previous - r.referred_compared;
    declines.sort_by(|a, b| fall(b).cmp(&fall(a)).then_with(|| a.partner_code.cmp(&b.partner_code)));
    declines.truncate(PartnerBreakdown::LIMIT);
    declines
}

/// Top referrers, top reverse-referral destinations and the largest falls of one hospital and
/// fiscal year.
fn partner_breakdown(
    listed: &Listed,
    fy: i32,
    months_with_data: &BTreeSet<String>,
    name: impl Fn(&str) -> Option<String>,
) -> PartnerBreakdown {
    let mine: Vec<&PartnerRow> = listed.rows.iter().collect();
    let lines = |count: fn(&PartnerRow) -> u64| {
        top_partners(&mine, count)
            .into_iter()
            .map(|r| PartnerLine {
                code: r.partner_code.clone(),
                name: name(&r.partner_code),
                count: count(r),
                hidden: None,
            })
            .collect()
    };
    let declines = declining_partners(&mine)
        .into_iter()
        .map(|r| PartnerDecline {
            code: r.partner_code.clone(),
            name: name(&r.partner_code),
            previous: r.referred_previous,
            current: r.referred_compared,
            fall: r.referred_previous - r.referred_compared,
            hidden: Vec::new(),
        })
        .collect();
    let compared_months = periods::months_of_fiscal_year(fy)
        .into_iter()
        .zip(periods::months_of_fiscal_year(fy - 1))
        .filter(|(m, previous)| months_with_data.contains(m) && months_with_data.contains(previous))
        .map(|(m, _)| m)
        .collect();
    PartnerBreakdown {
        top_referrers: lines(referred),
        top_reverse: lines(reverse),
        declines,
        compared_months,
        partner_count: listed.partner_count,
    }
}

/// The input files that contributed rows to this hospital in these months (`feeding`).
fn source_files(manifest: &Manifest, feeding: &BTreeSet<&str>) -> Vec<SourceFile> {
    feeding
        .iter()
        .map(|path| {
            let s = &manifest.sources[*path];
            SourceFile {
                path: path.to_string(),
                sha256: s.sha256.clone(),
                encoding: s.encoding.clone(),
                rows_read: s.rows_read,
                rows_rejected: s.rows_rejected,
            }
        })
        .collect()
}

/// Every reject, for people: file, line, field, value, reason.
fn rejects_csv(rejects: &[RejectRow]) -> Result<String, ReportError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    // `reason` is the stable code for machines, `reason_ja` the same in words for people.
    w.write_record(["file", "line", "byte_offset", "field", "value", "reason", "detail", "reason_ja"])?;
    for r in rejects {
        let cell = |v: &Option<String>| v.as_deref().map(super::neutralise_csv_cell).unwrap_or_default();
        w.write_record([
            super::neutralise_csv_cell(&r.file),
            r.line.to_string(),
            r.byte_offset.to_string(),
            cell(&r.field),
            cell(&r.value),
            r.reason.clone(),
            super::neutralise_csv_cell(&r.detail),
            r.reason_ja.clone(),
        ])?;
    }
    let bytes = w.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 strings"))
}

/// The pages and the JSON of one hospital's forms for one fiscal year of data.
fn form_files(
    forms: &crate::forms::HospitalForms,
    renderer: &Renderer,
    run: &RunInfo,
) -> Result<Vec<(String, Vec<u8>)>, ReportError> {
    let mut files = Vec::new();
    for (name, form) in [("form28", &forms.form28), ("form28r", &forms.form28_recovery)] {
        if let Some(form) = form {
            let file = super::form_file(&forms.code, name, form.fiscal_year, "html");
            files.push((file, renderer.form28(form, run)?.into_bytes()));
        }
    }
    if let Some(report) = &forms.business_report {
        let file = super::form_file(&forms.code, "report", forms.fiscal_year, "html");
        files.push((file, renderer.business_report(report, run)?.into_bytes()));
    }
    let mut json = serde_json::to_string_pretty(forms)?;
    json.push('\n');
    files.push((super::form_file(&forms.code, "forms", forms.fiscal_year, "json"), json.into_bytes()));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_is_exact_then_rounded() {
        let r = |n, d| Some(Ratio { numerator: n, denominator: d, scale: 100 });
        // 70 % → 73.25 %: +3.25 → "+3.3" (half away from zero).
        assert_eq!(change_display(r(293, 400), r(7, 10)).as_deref(), Some("+3.3"));
        assert_eq!(change_display(r(7, 10), r(293, 400)).as_deref(), Some("-3.3"));
        // 1/3 vs 33.3 %: −0.033… → "±0.0", not "-0.0".
        assert_eq!(change_display(r(1, 3), r(333, 1000)).as_deref(), Some("±0.0"));
        assert_eq!(change_display(r(1, 0), r(1, 2)), None);
        assert_eq!(change_display(None, r(1, 2)), None);
        let permille = Some(Ratio { numerator: 1, denominator: 2, scale: 1000 });
        assert_eq!(change_display(r(1, 2), permille), None, "% and ‰ do not subtract");
    }

    /// A page's partner lists made from the rows [`Listed`] keeps are the lists made from all
    /// the rows, on random hospitals whose counts often tie, with more partners than a list
    /// holds; and the rows not listed are dropped.
    #[test]
    fn the_partner_rows_kept_give_the_lists_of_all_the_rows() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let months: BTreeSet<String> = periods::month_range("2023-04", "2025-03").into_iter().collect();
        let name = |code: &str| (code.ends_with('7')).then(|| format!("name of {code}"));
        let mut dropped = 0;
        for hospital in 0..200 {
            let partners = rng.random_range(0..40);
            let rows: Vec<PartnerRow> = (0..partners)
                .map(|p| {
                    let previous = rng.random_range(0..4);
                    PartnerRow {
                        hospital_code: format!("H{hospital}"),
                        fiscal_year: 2024,
                        partner_code: format!("P{p:02}"),
                        referred_patients: rng.random_range(0..4),
                        reverse_referred_patients: rng.random_range(0..4),
                        referred_compared: rng.random_range(0..4),
                        referred_previous: previous,
                        compared_months: rng.random_range(0..2) * 12,
                    }
                })
                .collect();
            let all = Listed {
                partner_count: rows
                    .iter()
                    .filter(|r| r.referred_patients > 0 || r.reverse_referred_patients > 0)
                    .count() as u64,
                rows: rows.clone(),
            };
            let kept = Listed::of(rows);
            dropped += all.rows.len() - kept.rows.len();
            let lists = |listed: &Listed| {
                serde_json::to_string(&partner_breakdown(listed, 2024, &months, name)).unwrap()
            };
            assert_eq!(lists(&kept), lists(&all), "hospital {hospital}");
            assert!(kept.rows.len() <= 3 * PartnerBreakdown::LIMIT);
        }
        assert!(dropped > 1000, "only {dropped} rows dropped: the test says little");
    }
}
