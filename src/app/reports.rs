//! The report half of `refrate run`: runs the engine for every period the pages show, hands
//! the rows to [`report::build`] and writes the files it hands back one at a time, replacing
//! the previous ones only once all are rendered.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{AppError, Hospital};
use crate::config::Config;
use crate::engine::{Engine, EngineError};
use crate::outcome::Review;
use crate::periods::{self, PeriodKind, PeriodMonth};
use crate::rates::rate_rows;
use crate::regimes::Regime;
use crate::report::model::RejectRow;
use crate::report::{self, Renderer};
use crate::warehouse::{Manifest, Warehouse};

/// What rendering found beyond the pages: the review for the exit code, and the hospitals
/// with data but no entry in the hospital master.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Rendered {
    pub review: Review,
    pub not_in_master: Vec<String>,
}

/// Everything the pages are made from, as one SHA-256: the warehouse state (the manifest),
/// the config, the user's regime files, the hospital master, the templates folder, and the
/// program (its version, and the size and time of its executable, so that a rebuilt binary
/// renders again). Anything a page shows must be covered here.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RenderKey(String);

impl RenderKey {
    fn of(cfg: &Config, manifest: &Manifest) -> Result<RenderKey, AppError> {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        let mut part = |label: &str, bytes: &[u8]| {
            hash.update(label.as_bytes());
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        part("refrate", env!("CARGO_PKG_VERSION").as_bytes());
        let exe = std::env::current_exe().ok().and_then(|p| crate::warehouse::FileStat::of(&p));
        part("executable", format!("{exe:?}").as_bytes());
        part("manifest", &serde_json::to_vec(manifest).expect("a manifest serialises"));
        let read =
            |path: &Path| std::fs::read(path).map_err(AppError::io(format!("reading {}", path.display())));
        part("config", &read(&cfg.path)?);
        // The forms count the days to their deadlines from this day.
        part("as_of", cfg.dates.latest.to_string().as_bytes());
        for file in &cfg.regime_files {
            part("regime", &read(file)?);
        }
        for master in cfg.hospitals.iter().chain(&cfg.partners).chain(&cfg.approval_facts) {
            part(master.list, &read(&master.path)?);
        }
        if let Some(file) = &cfg.approval_rules_file {
            part("approval_requirements", &read(file)?);
        }
        if let Some(dir) = &cfg.templates {
            let mut names: Vec<_> = std::fs::read_dir(dir)
                .map_err(AppError::io(format!("reading {}", dir.display())))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            names.sort();
            for path in names {
                part("template", path.to_string_lossy().as_bytes());
                part("content", &read(&path)?);
            }
        }
        Ok(RenderKey(hex::encode(hash.finalize())))
    }
}

/// The record of the last complete render, written into the reports folder after its pages:
/// what they were made from, the SHA-256 of each, and what the run concluded.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RenderStamp {
    key: String,
    pages: BTreeMap<String, String>,
    rendered: Rendered,
}

/// The record as stored: its JSON and a tag of it under the pseudonymisation key. The reports
/// folder is shared; the exit code of a run with nothing to do comes from this record, so an
/// edited one (a failing hospital taken out of the review) must not be believed: it is
/// rendered again.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedStamp {
    record: String,
    seal: String,
}

/// Its name. Every render removes it before writing a page, so a render that stops half-way
/// leaves none and the next run renders again.
const STAMP: &str = ".refrate_rendered.json";

/// The domain of the record's seal ([`Pseudonymizer::seal`](crate::ingest::Pseudonymizer::seal)).
const SEAL_DOMAIN: &str = "refrate render record v1";

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// The render record of one warehouse state: what the pages are made from, and the key that
/// seals the record.
pub(super) struct RenderRecord<'a> {
    key: RenderKey,
    sealer: &'a crate::ingest::Pseudonymizer,
}

impl<'a> RenderRecord<'a> {
    pub(super) fn of(
        cfg: &Config,
        manifest: &Manifest,
        sealer: &'a crate::ingest::Pseudonymizer,
    ) -> Result<Self, AppError> {
        Ok(RenderRecord { key: RenderKey::of(cfg, manifest)?, sealer })
    }

    /// What the pages in `dir` concluded, if its record says they were rendered from this
    /// state, bears this key's seal, and every page is still there as written (a page deleted
    /// or edited since, or an edited record, is rendered again).
    pub(super) fn up_to_date(&self, dir: &Path) -> Option<Rendered> {
        let sealed: SealedStamp = serde_json::from_slice(&std::fs::read(dir.join(STAMP)).ok()?).ok()?;
        if self.sealer.seal(SEAL_DOMAIN, sealed.record.as_bytes()) != sealed.seal {
            return None;
        }
        let stamp: RenderStamp = serde_json::from_str(&sealed.record).ok()?;
        if stamp.key != self.key.0 {
            return None;
        }
        let intact = stamp
            .pages
            .iter()
            .all(|(name, sha)| std::fs::read(dir.join(name)).is_ok_and(|bytes| sha256_hex(&bytes) == *sha));
        intact.then_some(stamp.rendered)
    }

    /// Writes the record of `pages` (name and SHA-256 of each) and `rendered`, last, once the
    /// pages are in place.
    fn write(&self, dir: &Path, pages: &[(String, String)], rendered: &Rendered) -> Result<(), AppError> {
        let stamp = RenderStamp {
            key: self.key.0.clone(),
            pages: pages.iter().cloned().collect(),
            rendered: rendered.clone(),
        };
        let record = serde_json::to_string(&stamp).expect("a record serialises");
        let seal = self.sealer.seal(SEAL_DOMAIN, record.as_bytes());
        let sealed =
            serde_json::to_string_pretty(&SealedStamp { record, seal }).expect("a record serialises");
        put_in_place(dir, vec![stage(dir, STAMP.to_string(), sealed.as_bytes())?]).map(drop)
    }
}

/// What a reader checks before the engine reads `manifest`'s files: each present with its size,
/// from one listing per folder. Their SHA-256 is not computed here: DataFusion reads only the
/// columns and footers it needs, and hashing every file whole would cost `rates` more than a
/// tenth of its time (docs/DESIGN.md). Files read whole are checked as they are read.
pub(crate) async fn check_before_reading(warehouse: &Warehouse, manifest: &Manifest) -> Result<(), AppError> {
    warehouse.check_present(manifest).await?;
    Ok(())
}

/// A query that failed may have read a damaged file that has the published size (rewritten in
/// place, or a manifest edited to match): then the files are checked whole, and the damage,
/// naming the file, replaces the engine's error. Costs nothing when nothing fails.
pub(crate) async fn diagnose(warehouse: &Warehouse, manifest: &Manifest, error: AppError) -> AppError {
    if !matches!(error, AppError::Engine(_)) {
        return error;
    }
    match warehouse.verify(manifest, crate::warehouse::Depth::Digest).await {
        Ok(report) => warehouse.damage_error(&report).map(AppError::from).unwrap_or(error),
        Err(_) => error,
    }
}

/// The lists the pages take names from: the hospital master, and the partner list.
#[derive(Clone, Copy)]
pub(super) struct Masters<'a> {
    pub hospitals: &'a BTreeMap<String, Hospital>,
    pub partners: &'a BTreeMap<String, Hospital>,
    /// The `approval_facts` rows (empty without them).
    pub facts: &'a [crate::ingest::FactsRow],
}

/// 別紙様式28 of the three months before a 届出 in `filing` (`2025-10`), as HTML: refused
/// (exit 2) when the configured regimes have no fee-schedule regime, or any of the three
/// months has no data for the hospital.
pub(super) async fn new_filing_form(cfg: &Config, hospital: &str, filing: &str) -> Result<String, AppError> {
    use super::{Refusal, selected_regimes};
    let set = crate::regimes::RegimeSet::load(&cfg.regime_files)?;
    let regimes = selected_regimes(&set, &cfg.regimes)?;
    let refuse = |m: String| AppError::refused(Refusal::FormUnavailable, m);
    let regime = cfg
        .filing
        .form28_regime
        .as_ref()
        .and_then(|id| regimes.iter().find(|r| &r.id == id).copied())
        .ok_or_else(|| refuse("別紙様式28 needs a fee-schedule regime (shinryo-2022 or shinryo-2022-400) in regimes:, or filing.form28_regime".into()))?;
    let window = crate::periods::parse_month(filing)
        .map(|(y, m)| {
            let index = y * 12 + m as i32 - 1;
            let month = |i: i32| format!("{:04}-{:02}", i.div_euclid(12), i.rem_euclid(12) + 1);
            (month(index - 3), month(index - 1))
        })
        .ok_or_else(|| refuse(format!("--filing {filing:?} is not a month (2025-10)")))?;
    let label = format!("{}..{}", window.0, window.1);
    let hospitals = super::load_hospitals(cfg.hospitals.as_ref())?;
    let warehouse = Warehouse::open_existing(&cfg.warehouse)?;
    let manifest = warehouse.current().await?;
    check_before_reading(&warehouse, &manifest).await?;
    let engine = Engine::open(&warehouse, &manifest, &[regime]).await?;
    let monthly = engine.monthly_counts().await?;
    let months: BTreeSet<String> = monthly.iter().map(|m| m.month.clone()).collect();
    let results = engine.evaluate(&periods::calendar(PeriodKind::ThreeMonths, &months)).await?;
    let rows = rate_rows(&results, &[regime]);
    let row = rows
        .iter()
        .find(|r| r.hospital_code == hospital && r.period == label && r.counts.months_with_data == 3)
        .ok_or_else(|| {
            let held: Vec<&str> =
                monthly.iter().filter(|m| m.hospital_code == hospital).map(|m| m.month.as_str()).collect();
            refuse(format!(
                "the three months before a 届出 in {filing} are {label}, and {hospital} does not have data for all three (it has {})",
                if held.is_empty() { "none".to_string() } else { held.join(", ") }
            ))
        })?;
    let settings = crate::forms::FormSettings {
        form28: Some(regime),
        business_report: None,
        form28_due: cfg.filing.form28_due,
        as_of: cfg.dates.latest,
    };
    let name = hospitals.get(hospital).and_then(|h| h.name.clone());
    let form = crate::forms::new_filing_form(row, regime, &settings, name);
    let renderer = Renderer::new(cfg.templates.as_deref())?;
    Ok(renderer.form28(&form, &report::RunInfo::of(&manifest))?)
}

/// Adds the year-end forecast of the fiscal year under way (if any) to its rows.
pub(super) async fn add_forecasts(
    rows: &mut [crate::rates::RateRow],
    monthly: &[crate::engine::MonthlyRow],
    regimes: &[&Regime],
) -> Result<(), AppError> {
    crate::rates::add_forecasts(rows, &forecasts(monthly, regimes).await?);
    Ok(())
}

/// The year-end forecasts of the fiscal year under way (none when no year is under way).
async fn forecasts(
    monthly: &[crate::engine::MonthlyRow],
    regimes: &[&Regime],
) -> Result<Vec<crate::forecast::Forecast>, AppError> {
    let latest = monthly.iter().map(|m| m.month.as_str()).max();
    let Some(progress) = crate::rates::YearProgress::under_way(latest) else { return Ok(Vec::new()) };
    // A fixed seed: the same data gives the same forecast, and the same pages.
    Ok(crate::forecast::forecasts(monthly, progress.fiscal_year, regimes, crate::forecast::SIMULATIONS, 1)
        .await?)
}

/// The forms of every hospital and complete fiscal year, under the regimes `filing:` names
/// (or the defaults), with days counted from `dates.latest` (today by default).
pub(super) fn forms_of(
    cfg: &Config,
    regimes: &[&Regime],
    rows: &[crate::rates::RateRow],
    hospitals: &BTreeMap<String, Hospital>,
) -> Vec<crate::forms::HospitalForms> {
    let find = |id: &Option<String>| id.as_ref().and_then(|id| regimes.iter().find(|r| &r.id == id).copied());
    let settings = crate::forms::FormSettings {
        form28: find(&cfg.filing.form28_regime),
        business_report: find(&cfg.filing.report_regime),
        form28_due: cfg.filing.form28_due,
        as_of: cfg.dates.latest,
    };
    crate::forms::forms(rows, &settings, |code| hospitals.get(code).and_then(|h| h.name.clone()))
}

/// The 承認要件 tables, when the config gives `approval_facts` (none otherwise). Needs the
/// engine's fiscal-year verdicts ([`Engine::evaluate`]).
pub(super) async fn approval(
    cfg: &Config,
    engine: &Engine,
    facts: &[crate::ingest::FactsRow],
    hospitals: &BTreeMap<String, Hospital>,
) -> Result<Vec<crate::approval::ApprovalTable>, AppError> {
    let Some(source) = &cfg.approval_facts else { return Ok(Vec::new()) };
    let (values, sources) = crate::approval::gather_facts(facts, hospitals);
    let (met, verdicts) = engine.approval(&cfg.approval_rules, &values).await?;
    Ok(crate::approval::approval_tables(
        &cfg.approval_rules,
        &met,
        &verdicts,
        &values,
        &sources,
        &cfg.display_path(&source.path),
    ))
}

/// The hospital-months evaluated and rendered at once ([`Engine::evaluate_by_hospital`]): the
/// engine's rows of a group take about 14 KB per hospital-month, so a group stays near 7 MB
/// whatever the number of hospitals, and two are held at once (one rendered, the next
/// evaluated). Against groups of 4,000, groups of 1,000 lowered the peak of a run by about
/// 90 MB at 100 hospitals × 36 months and at 700 × 36 in the same time (docs/BENCHMARKS.md,
/// 2026-12-04); groups of 500 took another 8–14 MiB off at 700 × 36 (52 groups instead of 26),
/// for about half a second of CPU (2026-12-07, afternoon).
const HOSPITAL_MONTHS_PER_GROUP: usize = 500;

/// Renders every page, staging each as it is rendered, then puts them all in place; returns
/// the review for the exit code. The fiscal-year rows of every hospital are evaluated first
/// (the overviews, the approval tables and the review need them all); then the pages of each
/// group of hospitals are rendered as soon as its rows are evaluated, and the rows dropped, so
/// that memory follows one group, not every hospital-month.
pub(super) async fn render_all(
    cfg: &Config,
    warehouse: &Warehouse,
    manifest: &Manifest,
    regimes: &[&Regime],
    masters: Masters<'_>,
    renderer: &Renderer,
    record: Option<&RenderRecord<'_>>,
) -> Result<Rendered, AppError> {
    let pages = Pages { cfg, warehouse, manifest, regimes, masters, renderer };
    render_in_groups(pages, record, HOSPITAL_MONTHS_PER_GROUP).await
}

/// What [`render_all`] renders from.
pub(super) struct Pages<'a> {
    pub cfg: &'a Config,
    pub warehouse: &'a Warehouse,
    pub manifest: &'a Manifest,
    pub regimes: &'a [&'a Regime],
    pub masters: Masters<'a>,
    pub renderer: &'a Renderer,
}

/// [`render_all`] with groups of at most `hospital_months` monthly rows (whole hospitals).
pub(super) async fn render_in_groups(
    pages: Pages<'_>,
    record: Option<&RenderRecord<'_>>,
    hospital_months: usize,
) -> Result<Rendered, AppError> {
    let Pages { cfg, warehouse, manifest, regimes, masters, renderer } = pages;
    let hospitals = masters.hospitals;
    check_before_reading(warehouse, manifest).await?;
    let engine = Engine::open(warehouse, manifest, regimes).await?;
    let rejects = load_rejects(warehouse, manifest).await?;
    let monthly = engine.monthly_counts().await?;
    let months: BTreeSet<String> = monthly.iter().map(|m| m.month.clone()).collect();
    let covered = periods::covered_months(&months, engine.reported_fiscal_years());
    let fiscal_years: Vec<PeriodMonth> = periods::calendar(PeriodKind::FiscalYear, &covered);
    let forecasts = forecasts(&monthly, regimes).await?;
    let mut rows = rate_rows(&engine.evaluate(&fiscal_years).await?, regimes);
    crate::rates::add_forecasts(&mut rows, &forecasts);
    // The fiscal-year verdicts of every hospital are the session's now.
    let approval = approval(cfg, &engine, masters.facts, hospitals).await?;
    let departments = engine.department_breakdown(&months).await?;
    let partners = engine.partner_breakdown(&months).await?;
    engine.release_breakdown_tables();
    crate::memory::release_idle_memory().await;
    let sources = report::build::Sources {
        regimes,
        rows: &rows,
        monthly: &monthly,
        covered_months: &covered,
        departments: &departments,
        manifest,
        rejects: &rejects,
        hospitals: masters.hospitals,
        partner_names: masters.partners,
        approval: cfg.approval_facts.as_ref().map(|_| (&cfg.approval_rules, approval.as_slice())),
        suppress_below: cfg.suppress_below,
    };
    let book = report::build::Book::new(&sources, partners);
    let mut staging = Staging::open(&cfg.reports)?;
    let mut sink = |name, bytes| {
        super::interrupt::check()?;
        staging.add(name, bytes)
    };
    let mut calendar = fiscal_years;
    calendar.extend(periods::calendar(PeriodKind::Month, &months));
    calendar.extend(periods::calendar(PeriodKind::Rolling12, &months));
    // For the 別紙様式28 recovery re-report.
    calendar.extend(periods::calendar(PeriodKind::SixMonths, &months));
    let mut forms = Vec::new();
    let mut render_group = |results: crate::engine::Results| {
        let mut group = rate_rows(&results, regimes);
        drop(results);
        crate::rates::add_forecasts(&mut group, &forecasts);
        let group_forms = forms_of(cfg, regimes, &group, hospitals);
        book.hospital_pages(&group, &group_forms, renderer, &mut sink)?;
        forms.extend(group_forms);
        Ok::<_, AppError>(())
    };
    let runtime = tokio::runtime::Handle::current();
    if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread {
        // One thread drives the queries: they cannot run beside the rendering.
        engine.evaluate_by_hospital(&calendar, hospital_months, &mut render_group).await?;
    } else {
        // The next group is evaluated (DataFusion, on the runtime's workers) while this
        // thread renders the one before: at most one group's results wait.
        let (evaluated, groups) = std::sync::mpsc::sync_channel(0);
        std::thread::scope(|scope| -> Result<(), AppError> {
            let evaluator = std::thread::Builder::new()
                .name("refrate-evaluate".into())
                .spawn_scoped(scope, || {
                    let evaluated = evaluated; // dropped when done, which ends the loop below
                    runtime.block_on(engine.evaluate_by_hospital(&calendar, hospital_months, |results| {
                        // Refused once the rendering stopped; its error is the one reported.
                        evaluated.send(results).map_err(|_| EngineError::Stopped)
                    }))
                })
                .map_err(AppError::io("starting the evaluating thread".to_string()))?;
            let rendered = groups.into_iter().try_for_each(&mut render_group);
            let evaluation = evaluator.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            rendered?;
            Ok(evaluation?)
        })?;
    }
    book.overview_pages(&forms, renderer, &mut sink)?;
    super::interrupt::check()?;
    let pages = staging.publish()?;

    let name = |code: &str| hospitals.get(code).and_then(|h| h.name.clone());
    let review = Review::of(&rows, covered.last().map(String::as_str), name).with_approval(&approval, name);
    let not_in_master = if hospitals.is_empty() {
        Vec::new()
    } else {
        let codes: BTreeSet<&str> = monthly
            .iter()
            .map(|m| m.hospital_code.as_str())
            .chain(rows.iter().map(|r| r.hospital_code.as_str()))
            .collect();
        codes.into_iter().filter(|c| !hospitals.contains_key(*c)).map(str::to_string).collect()
    };
    let rendered = Rendered { review, not_in_master };
    // Without a key (reported counts only) nothing could seal a record: every run renders.
    if let Some(record) = record {
        record.write(&cfg.reports, &pages, &rendered)?;
    }
    Ok(rendered)
}

/// Every reject of the current sources, read back from the warehouse.
pub(super) async fn load_rejects(
    warehouse: &Warehouse,
    manifest: &Manifest,
) -> Result<Vec<RejectRow>, AppError> {
    let mut rows = Vec::new();
    for (name, source) in &manifest.sources {
        let Some(file) = source.rejects_named_file(name) else { continue };
        // Checked and decoded as the rejects table, so the columns below exist.
        for batch in warehouse.read_verified(manifest.version, &file).await? {
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
                    (!a.is_null(i)).then(|| a.value(i).to_string())
                };
                let code = reason.value(i).to_string();
                rows.push(RejectRow {
                    file: f.value(i).to_string(),
                    line: line.value(i),
                    byte_offset: offset.value(i),
                    field: opt(&field),
                    value: opt(&value),
                    reason_ja: crate::ingest::RejectReason::from_code(&code)
                        .map(|r| r.message_ja().to_string())
                        .unwrap_or_else(|| code.clone()),
                    reason: code,
                    detail: detail.value(i).to_string(),
                });
            }
        }
    }
    Ok(rows)
}

/// Checks, before the warehouse is touched, that the reports folder can be created and written:
/// a run must not publish and then find it cannot write its reports.
/// Leaves nothing behind: a missing folder is judged by the folder it would be created in.
pub(super) fn check_reports_folder(dir: &Path) -> Result<(), AppError> {
    let existing = dir.ancestors().find(|a| a.exists()).unwrap_or(Path::new("."));
    if !existing.is_dir() {
        return Err(AppError::ReportsFolder { dir: dir.to_path_buf(), existing: existing.to_path_buf() });
    }
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempdir_in(existing)
        .map(drop)
        .map_err(AppError::io(format!("the reports folder {} cannot be written", dir.display())))
}

/// Prefix of the temporary files pages are written to before their rename.
const TEMP_PREFIX: &str = ".refrate-";

/// The files of one rendering, each written to a temporary file next to its destination as it
/// is rendered, and renamed into place only once all are written ([`Staging::publish`]), so a
/// reader never sees a half-written page and a rendering that fails or is interrupted replaces
/// nothing (its temporary files are removed when the staging is dropped). The writing runs on
/// a thread of its own, beside the threads rendering the pages; at most [`IN_FLIGHT`] pages
/// wait for it, and only names and digests are kept: memory does not grow with the pages.
struct Staging {
    dir: std::path::PathBuf,
    pages: Option<std::sync::mpsc::SyncSender<(String, Vec<u8>)>>,
    writer: Option<std::thread::JoinHandle<Result<Vec<Staged>, AppError>>>,
}

/// A file written to its temporary name: its name to be, its SHA-256, and the temporary file
/// (removed when dropped).
type Staged = (String, String, tempfile::TempPath);

/// Pages rendered and waiting to be written.
const IN_FLIGHT: usize = 32;

impl Staging {
    /// Creates `dir` if needed and removes the temporary files of a run killed while writing:
    /// `run` holds the writer lock, so no other run is writing here.
    fn open(dir: &Path) -> Result<Staging, AppError> {
        std::fs::create_dir_all(dir)
            .map_err(AppError::io(format!("creating the reports folder {}", dir.display())))?;
        let entries = std::fs::read_dir(dir)
            .map_err(AppError::io(format!("reading the reports folder {}", dir.display())))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let (pages, queue) = std::sync::mpsc::sync_channel::<(String, Vec<u8>)>(IN_FLIGHT);
        let folder = dir.to_path_buf();
        let writer = std::thread::spawn(move || {
            let mut staged = Vec::new();
            for (name, content) in queue {
                staged.push(stage(&folder, name, &content)?);
            }
            Ok(staged)
        });
        Ok(Staging { dir: dir.to_path_buf(), pages: Some(pages), writer: Some(writer) })
    }

    /// Hands `content`, to be published as `name`, to the writer; fails with the writer's
    /// error once it has failed (a page is never dropped silently).
    fn add(&mut self, name: String, content: Vec<u8>) -> Result<(), AppError> {
        let target = self.dir.join(&name);
        if self.pages.as_ref().is_some_and(|pages| pages.send((name, content)).is_ok()) {
            return Ok(());
        }
        Err(self.finish().err().unwrap_or_else(|| {
            AppError::io(format!("writing {}", target.display()))(std::io::Error::other("the writer stopped"))
        }))
    }

    /// Waits for the writer to write every file handed to it.
    fn finish(&mut self) -> Result<Vec<Staged>, AppError> {
        self.pages = None;
        let writer = self.writer.take().expect("the writer is joined once");
        writer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Waits for the writer, then renames every file into place. The render record is removed
    /// first (a run stopped while renaming leaves none, and the next run renders again); pages
    /// of fiscal years no longer in the data (a corrected typo that had made a year appear)
    /// are removed after the new ones are in place. Files refrate does not name are never
    /// touched.
    fn publish(mut self) -> Result<Vec<(String, String)>, AppError> {
        let staged = self.finish()?;
        let dir = self.dir.clone();
        let stamp = dir.join(STAMP);
        match std::fs::remove_file(&stamp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(AppError::io(format!("removing {}", stamp.display()))(e));
            }
            _ => {}
        }
        let published = put_in_place(&dir, staged)?;
        let written: BTreeSet<&str> = published.iter().map(|(name, _)| name.as_str()).collect();
        let entries = std::fs::read_dir(&dir)
            .map_err(AppError::io(format!("reading the reports folder {}", dir.display())))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if report::is_fiscal_year_report(name) && !written.contains(name) && entry.path().is_file() {
                std::fs::remove_file(entry.path()).map_err(AppError::io(format!(
                    "removing the outdated report {}",
                    entry.path().display()
                )))?;
            }
        }
        Ok(published)
    }
}

impl Drop for Staging {
    /// Waits for the writer, so that the temporary files of a rendering that failed are
    /// removed before the process ends.
    fn drop(&mut self) {
        self.pages = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Writes `content` to a temporary file in `dir`, with the mode the umask gives.
fn stage(dir: &Path, name: String, content: &[u8]) -> Result<Staged, AppError> {
    let context = || format!("writing {}", dir.join(&name).display());
    let mut tmp =
        tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(dir).map_err(AppError::io(context()))?;
    std::io::Write::write_all(&mut tmp, content).map_err(AppError::io(context()))?;
    set_mode_from_umask(tmp.as_file())
        .map_err(AppError::io(format!("setting the permissions of {}", dir.join(&name).display())))?;
    let sha = sha256_hex(content);
    Ok((name, sha, tmp.into_temp_path()))
}

/// Renames every staged file into place; returns their names and SHA-256, in the order they
/// were staged.
fn put_in_place(dir: &Path, staged: Vec<Staged>) -> Result<Vec<(String, String)>, AppError> {
    let mut published = Vec::with_capacity(staged.len());
    for (name, sha, tmp) in staged {
        let target = dir.join(&name);
        tmp.persist(&target).map_err(|e| AppError::Io {
            context: format!("writing {}", target.display()),
            source: e.error,
        })?;
        published.push((name, sha));
    }
    Ok(published)
}

/// `tempfile` creates files readable by the owner only; reports are shared, so they get what
/// a plain `create` would give (0666 less the umask).
fn set_mode_from_umask(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let umask = *UMASK.get_or_init(|| {
        // SAFETY: umask only swaps the process's file-creation mask; it is restored at once.
        let old = unsafe { libc::umask(0o022) };
        unsafe { libc::umask(old) };
        old
    });
    file.set_permissions(std::fs::Permissions::from_mode(0o666 & !umask))
}
