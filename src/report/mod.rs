//! Reports: builds the view model ([`build`] fills [`model`] from the rate rows) and turns it
//! into HTML pages for people and CSV/JSON for machines.
//!
//! This module owns layout and display formatting only (era years, thousands separators,
//! verdict wording, the SVG chart). It must never compute a rate, a gap or a verdict: those
//! arrive display-ready from the regimes. It checks the view model only where a wrong value
//! would make an unsafe or misleading page (unknown verdict words, unsafe links).
//!
//! Templates are compiled into the binary; an override folder may replace any of
//! the templates named in `TEMPLATES` with a file of the same name. Every template is HTML-escaped whatever its
//! name, and an undefined variable is an error, not an empty string.

pub(crate) mod build;
pub(crate) mod format;
pub(crate) mod model;
pub(crate) mod suppress;
pub(crate) mod svg;
pub(crate) mod xlsx;

/// Fixed view models: the snapshot tests' fixture, and the pages every template is rendered
/// with once before a run touches the warehouse.
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::io;
use std::path::{Component, Path, PathBuf};

use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value, context};

pub(crate) use model::*;

/// Templates compiled into the binary, by the name an override file must have.
const TEMPLATES: [(&str, &str); 6] = [
    ("hospital.html.j2", include_str!("../../templates/hospital.html.j2")),
    ("index.html.j2", include_str!("../../templates/index.html.j2")),
    ("form28.html.j2", include_str!("../../templates/form28.html.j2")),
    ("business_report.html.j2", include_str!("../../templates/business_report.html.j2")),
    ("_macros.html.j2", include_str!("../../templates/_macros.html.j2")),
    ("_style.css.j2", include_str!("../../templates/_style.css.j2")),
];

/// The overview's sort script. Not overridable: the page's CSP allows exactly this text, by hash.
pub(crate) const SORT_SCRIPT: &str = include_str!("../../templates/sort.js");

/// The CSP source hash of [`SORT_SCRIPT`]: base64 of its SHA-256.
pub(crate) fn sort_script_hash() -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(SORT_SCRIPT.as_bytes()))
}

/// Errors of the report module.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("template override folder {dir} cannot be used; give an existing folder")]
    OverrideDir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the overview workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("template name {name:?} is refused in an override folder: {reason}")]
    UnsafeTemplateName { name: String, reason: &'static str },
    #[error(
        "template override {path} leads outside the override folder {dir} (through a link); copy the file into the folder instead"
    )]
    OverrideEscapes { path: PathBuf, dir: PathBuf },
    #[error("cannot read template override {path}")]
    ReadOverride {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("template {name} failed")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },
    #[error("cannot report {context}: {problem}")]
    InvalidModel { context: String, problem: String },
    #[error("cannot write the index CSV")]
    Csv(#[from] csv::Error),
    #[error("cannot write the index JSON")]
    Json(#[from] serde_json::Error),
}

/// Renders the HTML pages from a fixed set of templates.
pub(crate) struct Renderer {
    env: Environment<'static>,
}

impl Renderer {
    /// Builds the template environment from the compiled-in templates, replacing any of
    /// the templates named in `TEMPLATES` found in `override_dir`. Templates are parsed here, so a syntax error
    /// in an override shows before any page is written. Other files in the folder are ignored,
    /// and templates cannot include anything outside this set.
    pub(crate) fn new(override_dir: Option<&Path>) -> Result<Self, ReportError> {
        let mut env = Environment::new();
        // Escape every template, whatever its file name; the default keys on `.html`.
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(true);
        register_filters(&mut env);

        if let Some(dir) = override_dir {
            let meta = std::fs::metadata(dir)
                .map_err(|source| ReportError::OverrideDir { dir: dir.to_owned(), source })?;
            if !meta.is_dir() {
                return Err(ReportError::OverrideDir {
                    dir: dir.to_owned(),
                    source: io::Error::new(io::ErrorKind::NotADirectory, "not a folder"),
                });
            }
        }
        for (name, builtin) in TEMPLATES {
            let override_path = match override_dir {
                Some(dir) => override_path(dir, name)?,
                None => None,
            };
            let source: Cow<'static, str> = match override_path {
                Some(path) => std::fs::read_to_string(&path)
                    .map(Cow::Owned)
                    .map_err(|source| ReportError::ReadOverride { path, source })?,
                None => Cow::Borrowed(builtin),
            };
            env.add_template_owned(name, source).map_err(|source| template_error(name, source))?;
        }
        let renderer = Renderer { env };
        if override_dir.is_some() {
            renderer.rehearse()?;
        }
        Ok(renderer)
    }

    /// Renders every page once on the fixed fixture, so an override template that names a
    /// value the pages do not have (strict undefined) fails here, before a run touches the
    /// warehouse, and not after it published.
    fn rehearse(&self) -> Result<(), ReportError> {
        self.hospital(&fixtures::fixture_hospital_page())?;
        self.index(&fixtures::fixture_index_page())?;
        let forms = fixtures::fixture_forms();
        let run = fixtures::fixture_hospital_page().run;
        for form in forms.form28.iter().chain(&forms.form28_recovery) {
            self.form28(form, &run)?;
        }
        if let Some(report) = &forms.business_report {
            self.business_report(report, &run)?;
        }
        Ok(())
    }

    /// 別紙様式28 of one hospital and period.
    pub(crate) fn form28(&self, form: &crate::forms::Form28, run: &RunInfo) -> Result<String, ReportError> {
        let ctx = context! { form => Value::from_serialize(form), run => Value::from_serialize(run) };
        self.render("form28.html.j2", ctx)
    }

    /// Item ① of the 業務報告 of one hospital and fiscal year.
    pub(crate) fn business_report(
        &self,
        report: &crate::forms::BusinessReport,
        run: &RunInfo,
    ) -> Result<String, ReportError> {
        let ctx = context! { report => Value::from_serialize(report), run => Value::from_serialize(run) };
        self.render("business_report.html.j2", ctx)
    }

    /// The page of one hospital for one fiscal year.
    pub(crate) fn hospital(&self, page: &HospitalPage) -> Result<String, ReportError> {
        validate_hospital(page)?;
        // The chart is the only markup passed unescaped; `svg` escapes all its text.
        let chart_svg = Value::from_safe_string(svg::chart_svg(&page.chart));
        let ctx = context! { page => Value::from_serialize(page), chart_svg };
        self.render("hospital.html.j2", ctx)
    }

    /// The overview of all hospitals of a fiscal year, one section per regime.
    pub(crate) fn index(&self, page: &IndexPage) -> Result<String, ReportError> {
        validate_index(page)?;
        // The script is refrate's own constant, never data; the CSP allows it by its hash.
        let ctx = context! {
            page => Value::from_serialize(page),
            sort_script => Value::from_safe_string(SORT_SCRIPT.to_owned()),
            script_hash => Value::from_safe_string(sort_script_hash()),
        };
        self.render("index.html.j2", ctx)
    }

    fn render(&self, name: &str, ctx: Value) -> Result<String, ReportError> {
        self.env.get_template(name).and_then(|t| t.render(ctx)).map_err(|source| template_error(name, source))
    }
}

fn template_error(name: &str, source: minijinja::Error) -> ReportError {
    ReportError::Template { name: name.to_owned(), source }
}

fn register_filters(env: &mut Environment<'static>) {
    env.add_filter("fy_ja", format::fy_ja);
    env.add_filter("fy_en", format::fy_en);
    env.add_filter("fy_period_ja", format::fy_period_ja);
    env.add_filter("thousands", format::thousands);
    env.add_filter("month_ja", |month: &str| format::month_ja(month));
    env.add_filter("verdict_ja", |verdict: &str| {
        format::verdict_ja(verdict).ok_or_else(|| unknown_verdict(verdict))
    });
    env.add_filter("approval_ja", |verdict: &str| {
        crate::domain::ApprovalVerdict::from_code(verdict)
            .map(|v| v.label_ja())
            .ok_or_else(|| unknown_verdict(verdict))
    });
    env.add_function("verdict_sentence", |name_ja: &str, verdict: &str, met_criteria: Vec<String>| {
        format::verdict_sentence_ja(name_ja, verdict, &met_criteria).ok_or_else(|| unknown_verdict(verdict))
    });
}

fn unknown_verdict(verdict: &str) -> minijinja::Error {
    minijinja::Error::new(ErrorKind::InvalidOperation, format!("unknown verdict {verdict:?}"))
}

/// The file name of a hospital page: `("0110113719", 2025)` → `"0110113719_FY2025.html"`.
/// `code` must already be validated (digits only); the index refuses any other link.
pub(crate) fn hospital_page_file(code: &str, fiscal_year: i32) -> String {
    format!("{code}_FY{fiscal_year}.html")
}

/// The files of a hospital's forms: `0110113719_form28_FY2025.html` (別紙様式28),
/// `_form28r_` (its recovery re-report, named by the fiscal year of the six months),
/// `_report_` (業務報告 ①) and `_forms_FY2025.json` (their values).
pub(crate) fn form_file(code: &str, form: &str, fiscal_year: i32, ext: &str) -> String {
    format!("{code}_{form}_FY{fiscal_year}.{ext}")
}

/// The form names of [`form_file`], and `shared`: a hospital page meant to leave the hospital.
const FORM_NAMES: [&str; 4] = ["form28", "form28r", "report", "shared"];

/// Whether `name` is a per-fiscal-year file `run` writes into the reports folder
/// (`<code>_FY<year>.html`, `index_FY<year>.html`, `overview_FY<year>.csv|json`). A run removes
/// those of fiscal years no longer in the data, and nothing else.
pub(crate) fn is_fiscal_year_report(name: &str) -> bool {
    let year = |y: &str| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit());
    let Some((stem, ext)) = name.rsplit_once('.') else { return false };
    let Some((prefix, fy)) = stem.rsplit_once("_FY") else { return false };
    if !year(fy) {
        return false;
    }
    let code = |c: &str| c.len() == 10 && c.bytes().all(|b| b.is_ascii_digit());
    let form =
        |p: &str, names: &[&str]| p.split_once('_').is_some_and(|(c, f)| code(c) && names.contains(&f));
    match ext {
        "html" => prefix == "index" || code(prefix) || form(prefix, &FORM_NAMES),
        "json" => prefix == "overview" || form(prefix, &["forms"]),
        "csv" | "xlsx" => prefix == "overview",
        _ => false,
    }
}

/// The path of template `name` inside `dir` if such a file exists there.
///
/// Refuses names that are empty, absolute, contain `..`, `.`-prefixed segments, backslashes or
/// colons, and files that resolve (through symbolic links) to somewhere outside `dir`.
fn override_path(dir: &Path, name: &str) -> Result<Option<PathBuf>, ReportError> {
    let refuse = |reason| Err(ReportError::UnsafeTemplateName { name: name.to_owned(), reason });
    if name.is_empty() {
        return refuse("empty name");
    }
    if name.contains(['\\', ':', '\0']) {
        return refuse("backslash, colon or NUL in the name");
    }
    let relative = Path::new(name);
    if relative.is_absolute() || name.starts_with('/') {
        return refuse("absolute path");
    }
    for component in relative.components() {
        match component {
            Component::Normal(segment) if !segment.to_string_lossy().starts_with('.') => {}
            Component::ParentDir => return refuse("`..` in the path"),
            _ => return refuse("only plain relative names are allowed"),
        }
    }

    let joined = dir.join(relative);
    match std::fs::symlink_metadata(&joined) {
        Ok(_) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ReportError::ReadOverride { path: joined, source });
        }
    }
    let canonical_dir =
        dir.canonicalize().map_err(|source| ReportError::OverrideDir { dir: dir.to_owned(), source })?;
    let canonical =
        joined.canonicalize().map_err(|source| ReportError::ReadOverride { path: joined.clone(), source })?;
    if !canonical.starts_with(&canonical_dir) {
        return Err(ReportError::OverrideEscapes { path: joined, dir: dir.to_owned() });
    }
    Ok(Some(canonical))
}

fn validate_hospital(page: &HospitalPage) -> Result<(), ReportError> {
    let context = || format!("hospital {} {}", page.hospital.code, format::fy_en(page.fiscal_year));
    let invalid = |problem: String| Err(ReportError::InvalidModel { context: context(), problem });
    if page.regimes.is_empty() {
        return invalid("no regime result; every page must name the regime it used".into());
    }
    if let Some(link) = page.filings.iter().map(|f| f.file.as_str()).find(|f| !is_safe_relative_link(f)) {
        return invalid(format!("form link {link:?} is not a plain relative .html path"));
    }
    let chart = &page.chart;
    if chart.referral.len() != chart.months.len() || chart.reverse.len() != chart.months.len() {
        return invalid(format!(
            "chart has {} months but {} referral and {} reverse values",
            chart.months.len(),
            chart.referral.len(),
            chart.reverse.len()
        ));
    }
    Ok(())
}

fn validate_index(page: &IndexPage) -> Result<(), ReportError> {
    for row in &page.rows {
        let context =
            || format!("index {} row {} ({})", format::fy_en(page.fiscal_year), row.code, row.regime_id);
        if !page.regimes.iter().any(|(id, _)| *id == row.regime_id) {
            return Err(ReportError::InvalidModel {
                context: context(),
                problem: "regime is not listed in IndexPage::regimes, so the row would not be printed".into(),
            });
        }
        if !is_safe_relative_link(&row.page) {
            return Err(ReportError::InvalidModel {
                context: context(),
                problem: format!(
                    "page link {:?} is not a plain relative .html path (letters, digits, _ - . /)",
                    row.page
                ),
            });
        }
    }
    for row in page.approval.iter().flat_map(|a| &a.rows) {
        if let Some(link) = row.page.as_deref().filter(|l| !is_safe_relative_link(l)) {
            return Err(ReportError::InvalidModel {
                context: format!("index {} approval row {}", format::fy_en(page.fiscal_year), row.code),
                problem: format!("page link {link:?} is not a plain relative .html path"),
            });
        }
    }
    Ok(())
}

/// A link the index may print in `href`: relative, ending in `.html`, made of ASCII letters,
/// digits, `_`, `-`, `.` and `/`, without empty or dot-prefixed segments (so no scheme such
/// as `javascript:`, no `//host`, no `..`).
fn is_safe_relative_link(page: &str) -> bool {
    page.ends_with(".html")
        && page.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
        && page.split('/').all(|segment| !segment.is_empty() && !segment.starts_with('.'))
}

/// Prefixes `'` to a cell that a spreadsheet would run as a formula (CSV injection).
pub(crate) fn neutralise_csv_cell(cell: &str) -> String {
    neutralise(cell).into_owned()
}

fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A CSV meant for people, as written: UTF-8 with a byte-order mark, which Excel on a Japanese
/// Windows needs to read it as UTF-8 rather than Shift_JIS (mojibake). UTF-8 rather than
/// Shift_JIS because names hold characters CP932 lacks (髙, ①, ㈱ in some fonts); machines
/// read `overview_FY*.json` or `refrate rates`, which stay plain UTF-8.
pub(crate) fn for_people(csv: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(csv.len() + 3);
    bytes.extend_from_slice("\u{feff}".as_bytes());
    bytes.extend_from_slice(csv.as_bytes());
    bytes
}

/// The index as CSV (UTF-8, header row, one row per hospital and regime; written with a BOM,
/// see [`for_people`]).
/// Rates are the display strings (empty when there is no rate); criteria are joined by `;`.
pub(crate) fn index_csv(page: &IndexPage) -> Result<String, ReportError> {
    const HEADER: [&str; 23] = [
        "code",
        "name",
        "fiscal_year",
        "as_of",
        "months_elapsed",
        "regime_id",
        "referral_rate",
        "referral_unit",
        "referral_numerator",
        "referral_denominator",
        "reverse_rate",
        "reverse_unit",
        "reverse_numerator",
        "reverse_denominator",
        "verdict",
        "met_criteria",
        "met_criteria_names",
        "on_boundary",
        "referral_change",
        "reverse_change",
        "months_with_data",
        "missing_months",
        "page",
    ];
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(HEADER)?;
    let text = |s: &str| neutralise(s).into_owned();
    // Changes are refrate's own signed numbers ("+0.8", "-1.2", "±0.0"): kept as numbers a
    // spreadsheet reads; anything else is neutralised like text.
    let change = |c: &Option<String>| {
        c.as_deref()
            .map(|v| {
                let digits = v.trim_start_matches(['+', '-', '±']);
                let numeric = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.');
                if numeric { v.to_string() } else { text(v) }
            })
            .unwrap_or_default()
    };
    let (as_of, elapsed) = match &page.progress {
        Some(p) => (p.through_month.clone(), p.months_elapsed.to_string()),
        None => (String::new(), "12".to_string()),
    };
    for row in &page.rows {
        let record = [
            text(&row.code),
            text(row.name.as_deref().unwrap_or("")),
            row.fiscal_year.to_string(),
            as_of.clone(),
            elapsed.clone(),
            text(&row.regime_id),
            text(row.referral.display.as_deref().unwrap_or("")),
            text(&row.referral.unit),
            row.referral.sides_text().0,
            row.referral.sides_text().1,
            text(row.reverse.display.as_deref().unwrap_or("")),
            text(&row.reverse.unit),
            row.reverse.sides_text().0,
            row.reverse.sides_text().1,
            text(row.verdict.code()),
            text(&row.met_criteria.join(";")),
            text(&row.met_criteria_names.join(";")),
            row.on_boundary.to_string(),
            change(&row.referral_change),
            change(&row.reverse_change),
            row.months_with_data.to_string(),
            row.missing_months.to_string(),
            text(&row.page),
        ];
        writer.write_record(&record)?;
    }
    // Master hospitals without data: listed, never left out (verdict `not_submitted`).
    for h in &page.not_submitted {
        for (regime_id, _) in &page.regimes {
            let mut record: Vec<String> = vec![String::new(); HEADER.len()];
            record[0] = text(&h.code);
            record[1] = text(h.name.as_deref().unwrap_or(""));
            record[2] = page.fiscal_year.to_string();
            record[3] = as_of.clone();
            record[4] = elapsed.clone();
            record[5] = text(regime_id);
            record[14] = "not_submitted".to_string();
            record[17] = "false".to_string();
            record[20] = "0".to_string();
            record[21] = elapsed.clone();
            writer.write_record(&record)?;
        }
    }
    let bytes = writer.into_inner().map_err(|err| csv::Error::from(err.into_error()))?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 strings is UTF-8"))
}

/// The index as pretty-printed JSON: the [`IndexPage`] as serialised, plus a final newline.
pub(crate) fn index_json(page: &IndexPage) -> Result<String, ReportError> {
    let mut json = serde_json::to_string_pretty(page)?;
    json.push('\n');
    Ok(json)
}
