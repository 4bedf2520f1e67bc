//! The YAML config: parsed into typed values and validated before any I/O on data.
//!
//! Relative paths are resolved against the config file's folder, so a config works from any
//! working directory (cron starts in `$HOME`). Unknown keys are errors.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ingest::MasterSource;
use crate::ingest::{DateWindow, InputFormat, OverlapPolicy};
use crate::warehouse::SweepPolicy;

/// What an input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// One row per first visit, return visit or reverse referral.
    Events,
    /// Counts a hospital reported, one row per hospital and period (month or fiscal year).
    Aggregates,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputFile {
    path: String,
    kind: InputKind,
    /// The layout; `preset:` starts from a built-in one (see [`crate::ingest::presets`]).
    #[serde(default)]
    format: serde_yaml::Value,
    /// A glob that may match no file (e.g. a source that delivers only some months).
    #[serde(default)]
    optional: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    warehouse: String,
    reports: String,
    inputs: Vec<InputFile>,
    #[serde(default)]
    hospitals: Option<MasterFile>,
    /// Names of partner institutions (a 厚生局 list of 医療機関コード), for the breakdowns.
    #[serde(default)]
    partners: Option<MasterFile>,
    /// Institutions related to each hospital's founder: a path, or a path with its layout.
    #[serde(default)]
    related_institutions: Option<MasterFile>,
    /// Yearly facts for the approval requirements (救急, 研修, 病床数, 共同利用).
    #[serde(default)]
    approval_facts: Option<MasterFile>,
    /// The approval requirements: a built-in id or a YAML file of the user's.
    #[serde(default)]
    approval_requirements: Option<String>,
    /// The official forms: which regime fills each, and the 厚生局's due date.
    #[serde(default)]
    filing: FilingFile,
    /// Counts below this are hidden on the pages meant to leave the hospital.
    #[serde(default)]
    suppress_below: Option<u64>,
    #[serde(default = "default_regimes")]
    regimes: Vec<String>,
    #[serde(default)]
    regime_files: Vec<String>,
    #[serde(default)]
    pseudonym_key_file: Option<String>,
    #[serde(default)]
    templates: Option<String>,
    #[serde(default = "default_max_reject_ratio")]
    max_reject_ratio: f64,
    /// Minimum age of an unreferenced warehouse file before the sweep deletes it (`24h`, `7d`).
    #[serde(default)]
    retention: Option<String>,
    /// How many of the newest manifest versions keep their files readable.
    #[serde(default)]
    keep_versions: Option<u64>,
    /// The plausible dates of input rows.
    #[serde(default)]
    dates: DatesFile,
    /// Read inputs that are symbolic links (off: a link can point anywhere, e.g. at a system
    /// file whose first line would end up in an error message).
    #[serde(default)]
    follow_symlinks: bool,
    /// A newer file whose rows for a hospital-month differ from those stored: refuse | replace.
    #[serde(default)]
    overlap: OverlapPolicy,
}

/// `hospitals:` in the config: a path, or a path with the file's layout.
#[derive(Debug, Clone)]
enum MasterFile {
    Path(String),
    WithFormat(MasterWithFormat),
}

impl<'de> Deserialize<'de> for MasterFile {
    /// By hand rather than `untagged`, so that a mistake in the mapping (`fromat:`) is named
    /// instead of "did not match any variant".
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_yaml::Value::deserialize(d)? {
            serde_yaml::Value::String(path) => Ok(MasterFile::Path(path)),
            other => {
                serde_yaml::from_value(other).map(MasterFile::WithFormat).map_err(serde::de::Error::custom)
            }
        }
    }
}

impl MasterFile {
    /// The list the config's `key` names, its path resolved.
    fn source(self, key: &'static str, resolve: &impl Fn(&str) -> PathBuf) -> MasterSource {
        match self {
            MasterFile::Path(path) => {
                MasterSource { list: key, path: resolve(&path), format: Default::default() }
            }
            MasterFile::WithFormat(m) => MasterSource { list: key, path: resolve(&m.path), format: m.format },
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MasterWithFormat {
    path: String,
    #[serde(default)]
    format: crate::ingest::TableFormat,
}

/// `filing:` in the config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilingFile {
    /// The regime of 別紙様式28 (default: the first of shinryo-2022, shinryo-2022-400 in
    /// `regimes:`).
    form28_regime: Option<String>,
    /// The regime of the 業務報告 (default: the first chiiki-shien-* in `regimes:`).
    report_regime: Option<String>,
    /// The 地方厚生局's due date of 別紙様式28 in October, `MM-DD` as its notice says.
    form28_due: Option<String>,
}

/// The forms, as the config asks for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filing {
    pub form28_regime: Option<String>,
    pub report_regime: Option<String>,
    pub form28_due: Option<(u32, u32)>,
}

/// `dates:` in the config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatesFile {
    /// Rows dated before this are rejects (default 2000-01-01).
    earliest: Option<chrono::NaiveDate>,
    /// Rows dated after this are rejects (default: the run date). Only for re-running a past
    /// report as of that day; a date in the future is refused.
    latest: Option<chrono::NaiveDate>,
    /// A run may not add a month more than this many months after the latest month already
    /// stored (default 3): a far-off month is usually a mistyped year.
    max_jump_months: Option<u32>,
}

fn default_regimes() -> Vec<String> {
    vec!["chiiki-shien-2014".to_string()]
}

fn default_max_reject_ratio() -> f64 {
    0.01
}

/// One configured input: a glob and how to read what it matches.
#[derive(Debug, Clone)]
pub struct Input {
    /// The glob with relative parts resolved against the config folder.
    pub pattern: String,
    /// The glob as written in the config, for messages.
    pub pattern_as_written: String,
    pub kind: InputKind,
    pub format: InputFormat,
    /// Whether matching no file is fine; otherwise it stops `run` and `validate` (exit 2).
    pub optional: bool,
}

/// A validated config.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the config file is; relative paths below were resolved against its folder.
    pub path: PathBuf,
    pub base_dir: PathBuf,
    /// A folder path or an object store URL (`file://`, `s3://`).
    pub warehouse: String,
    pub reports: PathBuf,
    pub inputs: Vec<Input>,
    pub hospitals: Option<crate::ingest::MasterSource>,
    /// Partner names for the breakdowns, read as the hospital master is.
    pub partners: Option<crate::ingest::MasterSource>,
    /// Yearly facts for the approval requirements, read as the hospital master is.
    pub approval_facts: Option<crate::ingest::MasterSource>,
    /// The approval requirements checked when `approval_facts` is given.
    pub(crate) approval_rules: crate::regimes::ApprovalRules,
    /// The user's file they came from, if not built in.
    pub approval_rules_file: Option<PathBuf>,
    /// Which regime fills each form, and the 厚生局's due date.
    pub filing: Filing,
    /// When set, a copy of each hospital page to share, with counts below this hidden.
    pub suppress_below: Option<u64>,
    pub related_institutions: Option<crate::ingest::MasterSource>,
    pub regimes: Vec<String>,
    pub regime_files: Vec<PathBuf>,
    pub pseudonym_key_file: Option<PathBuf>,
    pub templates: Option<PathBuf>,
    pub max_reject_ratio: f64,
    /// What `run` and `vacuum` may sweep from the warehouse.
    pub sweep: SweepPolicy,
    /// The dates input rows may have (also in every input's `format.date_window`).
    pub dates: DateWindow,
    /// How many months past the latest stored month a run may add (`dates.max_jump_months`).
    pub max_jump_months: u32,
    /// Whether inputs may be symbolic links.
    pub follow_symlinks: bool,
    /// A newer file whose rows for a hospital-month differ from those stored from another file.
    pub overlap: OverlapPolicy,
}

/// The default of `dates.max_jump_months`.
pub(crate) const DEFAULT_MAX_JUMP_MONTHS: u32 = 3;

/// A config that cannot be used; the message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config {path}: {source}")]
    Yaml { path: PathBuf, source: serde_yaml::Error },
    #[error("config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        // Windows Notepad saves UTF-8 with a byte-order mark, which YAML would read as part of
        // the first key.
        Config::from_yaml(text.strip_prefix('\u{feff}').unwrap_or(&text), path)
    }

    pub fn from_yaml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let file: ConfigFile = serde_yaml::from_str(text)
            .map_err(|source| ConfigError::Yaml { path: path.to_path_buf(), source })?;
        let invalid = |message: String| ConfigError::Invalid { path: path.to_path_buf(), message };
        let base_dir = path
            .parent()
            .map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p })
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let base_dir = std::path::absolute(&base_dir).unwrap_or(base_dir);
        let resolve = |p: &str| -> PathBuf {
            let p = Path::new(p);
            normalize(&if p.is_absolute() { p.to_path_buf() } else { base_dir.join(p) })
        };
        if file.inputs.is_empty() {
            return Err(invalid("inputs: at least one input is needed".into()));
        }
        let today = DateWindow::until_today();
        let dates = DateWindow {
            earliest: file.dates.earliest.unwrap_or(today.earliest),
            latest: file.dates.latest.unwrap_or(today.latest),
        };
        if dates.latest > today.latest || dates.earliest > dates.latest {
            return Err(invalid(format!(
                "dates: earliest {} and latest {} must be in order and latest not after today ({})",
                dates.earliest, dates.latest, today.latest
            )));
        }
        let max_jump_months = file.dates.max_jump_months.unwrap_or(DEFAULT_MAX_JUMP_MONTHS);
        let mut inputs = Vec::new();
        let counts: Vec<&str> = crate::regimes::Count::ALL.iter().map(|c| c.name()).collect();
        for (i, input) in file.inputs.into_iter().enumerate() {
            let mut format = crate::ingest::presets::input_format(input.format)
                .map_err(|e| invalid(format!("inputs[{i}].format: {e}")))?;
            match input.kind {
                InputKind::Events => format.validate(),
                InputKind::Aggregates => format.validate_aggregates(&counts),
            }
            .map_err(|e| invalid(format!("inputs[{i}].format: {e}")))?;
            format.date_window = dates;
            let pattern = resolve(&input.path).to_string_lossy().into_owned();
            glob::Pattern::new(&pattern)
                .map_err(|e| invalid(format!("inputs[{i}].path {:?}: {e}", input.path)))?;
            inputs.push(Input {
                pattern,
                pattern_as_written: input.path,
                kind: input.kind,
                format,
                optional: input.optional,
            });
        }
        if file.regimes.is_empty() {
            return Err(invalid("regimes: name at least one regime id".into()));
        }
        if !(0.0..=1.0).contains(&file.max_reject_ratio) {
            return Err(invalid(format!(
                "max_reject_ratio: {} is not between 0 and 1 (0.01 means 1 %)",
                file.max_reject_ratio
            )));
        }
        let mut sweep = SweepPolicy::default();
        if let Some(text) = &file.retention {
            sweep.retention = humantime::parse_duration(text)
                .map_err(|e| invalid(format!("retention: {text:?} is not a duration like 24h or 7d: {e}")))?;
        }
        if let Some(n) = file.keep_versions {
            if n == 0 {
                return Err(invalid("keep_versions: must be at least 1 (the current version)".into()));
            }
            sweep.keep_versions = n;
        }
        let warehouse = if file.warehouse.contains("://") && !file.warehouse.starts_with("file://") {
            file.warehouse
        } else {
            let folder = file.warehouse.strip_prefix("file://").unwrap_or(&file.warehouse);
            resolve(folder).to_string_lossy().into_owned()
        };
        let reports = resolve(&file.reports);
        check_overlaps(&warehouse, &reports, &inputs).map_err(invalid)?;
        let approval_facts = file.approval_facts.map(|m| m.source("approval_facts", &resolve));
        let rules_named =
            file.approval_requirements.as_deref().unwrap_or(crate::regimes::DEFAULT_APPROVAL_RULES);
        let (approval_rules, approval_rules_file) = match crate::regimes::ApprovalRules::builtin(rules_named)
        {
            Some(rules) => (rules, None),
            None => {
                let file_path = resolve(rules_named);
                let text = std::fs::read_to_string(&file_path).map_err(|e| {
                    invalid(format!(
                        "approval_requirements: {rules_named:?} is neither a built-in set ({}) nor a readable file: {e}",
                        crate::regimes::DEFAULT_APPROVAL_RULES
                    ))
                })?;
                let rules = crate::regimes::ApprovalRules::from_yaml(&text, &file_path.display().to_string())
                    .map_err(|e| invalid(format!("approval_requirements: {e}")))?;
                (rules, Some(file_path))
            }
        };
        let pick = |named: &Option<String>,
                    key: &str,
                    default: &dyn Fn(&str) -> bool|
         -> Result<Option<String>, ConfigError> {
            match named {
                Some(id) if file.regimes.contains(id) => Ok(Some(id.clone())),
                Some(id) => Err(invalid(format!(
                    "filing.{key}: {id} is not among regimes: {}",
                    file.regimes.join(", ")
                ))),
                None => Ok(file.regimes.iter().find(|r| default(r)).cloned()),
            }
        };
        let form28_regime = pick(&file.filing.form28_regime, "form28_regime", &|r| {
            r == "shinryo-2022" || r == "shinryo-2022-400"
        })?;
        let report_regime =
            pick(&file.filing.report_regime, "report_regime", &|r| r.starts_with("chiiki-shien"))?;
        let form28_due = match &file.filing.form28_due {
            None => None,
            Some(text) => {
                let parsed = text
                    .split_once('-')
                    .and_then(|(m, d)| Some((m.parse::<u32>().ok()?, d.parse::<u32>().ok()?)))
                    .filter(|(m, d)| chrono::NaiveDate::from_ymd_opt(2025, *m, *d).is_some());
                Some(parsed.ok_or_else(|| {
                    invalid(format!("filing.form28_due: {text:?} is not a date MM-DD (10-31)"))
                })?)
            }
        };
        let filing = Filing { form28_regime, report_regime, form28_due };
        if let Some(n) = file.suppress_below.filter(|n| *n < 2) {
            return Err(invalid(format!(
                "suppress_below: {n} hides nothing; give the smallest count that may be shown, e.g. 10"
            )));
        }
        if approval_facts.is_some()
            && let Some(missing) = approval_rules.regimes().find(|id| !file.regimes.iter().any(|r| r == id))
        {
            return Err(invalid(format!(
                "approval_requirements {}: a requirement needs the verdict of regime {missing}; add it to regimes:",
                approval_rules.id
            )));
        }
        Ok(Config {
            path: path.to_path_buf(),
            base_dir: base_dir.clone(),
            warehouse,
            reports,
            inputs,
            hospitals: file.hospitals.map(|m| m.source("hospitals", &resolve)),
            partners: file.partners.map(|m| m.source("partners", &resolve)),
            approval_facts,
            approval_rules,
            approval_rules_file,
            filing,
            suppress_below: file.suppress_below,
            related_institutions: file
                .related_institutions
                .map(|m| m.source("related_institutions", &resolve)),
            regimes: file.regimes,
            regime_files: file.regime_files.iter().map(|p| resolve(p)).collect(),
            pseudonym_key_file: file.pseudonym_key_file.as_deref().map(resolve),
            templates: file.templates.as_deref().map(resolve),
            max_reject_ratio: file.max_reject_ratio,
            sweep,
            dates,
            max_jump_months,
            follow_symlinks: file.follow_symlinks,
            overlap: file.overlap,
        })
    }

    /// A path as users should see it: relative to the config folder when inside it, with
    /// control characters escaped (a file name holding a line break must not forge a line in
    /// the cron mail or in a CSV).
    pub fn display_path(&self, path: &Path) -> String {
        escape_controls(&path.strip_prefix(&self.base_dir).unwrap_or(path).to_string_lossy())
    }
}

/// Refuses a warehouse, reports folder and input globs that overlap. The sweep and the report
/// writer own their folders: an input inside one of them could be deleted or overwritten, and
/// a glob reaching into them would read refrate's own output as input.
fn check_overlaps(warehouse: &str, reports: &Path, inputs: &[Input]) -> Result<(), String> {
    let mut owned: Vec<(&str, PathBuf)> = vec![("reports", reports.to_path_buf())];
    if !warehouse.contains("://") {
        owned.push(("warehouse", PathBuf::from(warehouse)));
    }
    let inside = |a: &Path, b: &Path| a.starts_with(b) || b.starts_with(a);
    if let [(_, reports), (_, warehouse)] = owned.as_slice()
        && inside(reports, warehouse)
    {
        return Err(format!(
            "the warehouse {} and the reports folder {} overlap (one is inside the other); give each its own folder",
            warehouse.display(),
            reports.display()
        ));
    }
    for (i, input) in inputs.iter().enumerate() {
        for (what, folder) in &owned {
            if glob_reaches(&input.pattern, folder) {
                return Err(format!(
                    "inputs[{i}].path {:?} ({}) can match files inside the {what} folder {}, which refrate \
                     writes and cleans up; keep the inputs in a folder of their own, outside the {what}",
                    input.pattern_as_written,
                    input.pattern,
                    folder.display()
                ));
            }
        }
    }
    Ok(())
}

/// Whether the absolute glob `pattern` can match a file inside `folder` (or `folder` itself).
fn glob_reaches(pattern: &str, folder: &Path) -> bool {
    use std::path::Component;
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    let folder: Vec<String> = folder
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    for (i, name) in folder.iter().enumerate() {
        let Some(part) = parts.get(i) else { return false };
        if part.contains("**") {
            return true;
        }
        let matches = glob::Pattern::new(part).map(|p| p.matches(name)).unwrap_or(part == name);
        if !matches {
            return false;
        }
    }
    parts.len() >= folder.len()
}

/// `text` with every control character written as an escape (`\n`, `\u{1b}`).
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

/// Removes `.` and `..` components lexically, so messages show `/srv/target/x` rather than
/// `/srv/sample/../target/x`. (Symbolic links are not resolved: the folder may not exist yet.)
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_follow_the_config_file() {
        let cfg = Config::from_yaml(
            "warehouse: wh\nreports: out\ninputs:\n  - { path: 'logs/*.csv', kind: events }\n",
            Path::new("/etc/refrate/refrate.yaml"),
        )
        .unwrap();
        assert_eq!(cfg.warehouse, "/etc/refrate/wh");
        assert_eq!(cfg.reports, PathBuf::from("/etc/refrate/out"));
        assert_eq!(cfg.inputs[0].pattern, "/etc/refrate/logs/*.csv");
        assert_eq!(cfg.regimes, ["chiiki-shien-2014"]);
        let up = Config::from_yaml(
            "warehouse: ../wh\nreports: ./out\ninputs:\n  - { path: 'a.csv', kind: events }\n",
            Path::new("/etc/refrate/refrate.yaml"),
        )
        .unwrap();
        assert_eq!(up.warehouse, "/etc/wh");
        assert_eq!(up.reports, PathBuf::from("/etc/refrate/out"));
        assert_eq!(cfg.max_reject_ratio, 0.01);
        assert_eq!(cfg.overlap, OverlapPolicy::Refuse, "the safer default");
        assert_eq!(cfg.sweep.retention, std::time::Duration::from_secs(24 * 3600));
        let short = Config::from_yaml(
            "warehouse: wh\nreports: out\ninputs:\n  - { path: 'a.csv', kind: events }\nretention: 90m\nkeep_versions: 2\n",
            Path::new("c.yaml"),
        )
        .unwrap();
        assert_eq!((short.sweep.retention.as_secs(), short.sweep.keep_versions), (5400, 2));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let base = "warehouse: wh\nreports: out\ninputs:\n  - { path: 'a.csv', kind: events }\n";
        let cases = [
            (format!("{base}colour: blue\n"), "unknown field `colour`"),
            (base.replace("events", "visits"), "unknown variant `visits`"),
            (format!("{base}max_reject_ratio: 5\n"), "max_reject_ratio"),
            (format!("{base}regimes: []\n"), "regimes"),
            (format!("{base}retention: soon\n"), "retention"),
            (format!("{base}keep_versions: 0\n"), "keep_versions"),
            (format!("{base}overlap: union\n"), "unknown variant `union`"),
            (format!("{base}hospitals: {{path: h.xlsx, fromat: {{}}}}\n"), "unknown field `fromat`"),
            (
                format!("{base}partners: {{path: p.csv, format: {{sheet: 1, heading: 2}}}}\n"),
                "unknown field `heading`",
            ),
            ("warehouse: wh\nreports: out\ninputs: []\n".to_string(), "at least one input"),
        ];
        for (text, expected) in cases {
            let err = Config::from_yaml(&text, Path::new("c.yaml")).unwrap_err().to_string();
            assert!(err.contains(expected) && err.contains("c.yaml"), "{err}");
        }
    }

    #[test]
    fn overlapping_warehouse_reports_and_inputs_are_refused() {
        let refused = [
            (
                "warehouse: .\nreports: reports\ninputs:\n  - { path: 'events/*.csv', kind: events }\n",
                "warehouse",
            ),
            (
                "warehouse: wh\nreports: wh/reports\ninputs:\n  - { path: 'in/*.csv', kind: events }\n",
                "overlap",
            ),
            ("warehouse: wh\nreports: out\ninputs:\n  - { path: 'out/*.csv', kind: events }\n", "reports"),
            ("warehouse: wh\nreports: out\ninputs:\n  - { path: '**/*.csv', kind: events }\n", "can match"),
            ("warehouse: wh\nreports: out\ninputs:\n  - { path: '*/x.csv', kind: events }\n", "can match"),
            (
                "warehouse: 'file:///srv/r'\nreports: out\ninputs:\n  - { path: '/srv/r/in/*.csv', kind: events }\n",
                "warehouse",
            ),
        ];
        for (text, expected) in refused {
            let err = Config::from_yaml(text, Path::new("/srv/r/c.yaml")).unwrap_err().to_string();
            assert!(err.contains(expected) && err.contains("/srv/r"), "{text}: {err}");
        }
        // Side by side is fine, and so is a glob in the config folder that does not descend.
        for text in [
            "warehouse: wh\nreports: out\ninputs:\n  - { path: 'in/*.csv', kind: events }\n",
            "warehouse: wh\nreports: out\ninputs:\n  - { path: '*.csv', kind: events }\n",
            "warehouse: s3://b/p\nreports: out\ninputs:\n  - { path: 'in/**/*.csv', kind: events }\n",
        ] {
            Config::from_yaml(text, Path::new("/srv/r/c.yaml")).unwrap();
        }
    }

    #[test]
    fn object_store_urls_are_kept_as_written() {
        let cfg = Config::from_yaml(
            "warehouse: s3://bucket/refrate\nreports: out\ninputs:\n  - { path: 'a.csv', kind: events }\n",
            Path::new("c.yaml"),
        )
        .unwrap();
        assert_eq!(cfg.warehouse, "s3://bucket/refrate");
    }
}
