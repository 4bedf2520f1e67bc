//! Shared helpers: a temporary project folder with a config, and running the binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const TEST_KEY: &str = "test-key-0123456789abcdef";

pub const HEADER: &str = "hospital_code,event_date,event_type,patient_id,department,referral_letter,partner_code,partner_related,ambulance,after_hours_emergency,checkup_origin";

/// A temporary folder holding a config, inputs and the outputs of runs.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    /// A project whose config reads `inputs/*.csv` with the given extra YAML lines.
    pub fn new(extra_config: &str) -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("inputs")).unwrap();
        let config = format!(
            "warehouse: warehouse\nreports: reports\ninputs:\n  - path: inputs/*.csv\n    kind: events\n{extra_config}"
        );
        std::fs::write(dir.path().join("refrate.yaml"), config).unwrap();
        Project { dir }
    }

    /// A project with a config written in full.
    pub fn with_config(config: &str) -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("inputs")).unwrap();
        std::fs::write(dir.path().join("refrate.yaml"), config).unwrap();
        Project { dir }
    }

    /// Writes a file below the project folder.
    pub fn write(&self, rel: &str, content: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn config(&self) -> PathBuf {
        self.path("refrate.yaml")
    }

    /// Writes an input file with the canonical header.
    pub fn input(&self, name: &str, rows: &[String]) {
        let mut text = String::from(HEADER);
        text.push('\n');
        for r in rows {
            text.push_str(r);
            text.push('\n');
        }
        std::fs::write(self.path(&format!("inputs/{name}")), text).unwrap();
    }

    pub fn refrate(&self, args: &[&str]) -> Output {
        refrate_in(self.dir.path(), args, Some(TEST_KEY))
    }

    pub fn refrate_without_key(&self, args: &[&str]) -> Output {
        refrate_in(self.dir.path(), args, None)
    }

    pub fn run(&self) -> Output {
        let config = self.config();
        self.refrate(&["run", "--config", config.to_str().unwrap()])
    }

    pub fn rates(&self, period: &str, extra: &[&str]) -> Output {
        let config = self.config();
        let mut args = vec!["rates", "--config", config.to_str().unwrap(), "--period", period];
        args.extend_from_slice(extra);
        self.refrate(&args)
    }

    /// Every file below `rel`, recursively.
    pub fn files_under(&self, rel: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.path(rel), &mut out);
        out.sort();
        out
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The binary under test: cargo's, or `REFRATE_TEST_BIN` (e.g. a release build, or a private
/// copy when several worktrees share one target folder and overwrite `target/debug/refrate`).
pub fn refrate_bin() -> PathBuf {
    std::env::var_os("REFRATE_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_refrate")))
}

pub fn refrate_in(dir: &Path, args: &[&str], key: Option<&str>) -> Output {
    refrate_env(dir, args, key, &[])
}

/// The binary in `dir` with the test key and extra environment variables (a locale, say).
pub fn refrate_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    refrate_env(dir, args, Some(TEST_KEY), env)
}

fn refrate_env(dir: &Path, args: &[&str], key: Option<&str>, env: &[(&str, &str)]) -> Output {
    refrate_command(dir, args, key, env).output().expect("run refrate")
}

/// The command every helper above runs, not yet started (the snapshots hand it to `insta_cmd`).
pub fn refrate_command(dir: &Path, args: &[&str], key: Option<&str>, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(refrate_bin());
    cmd.current_dir(dir).args(args);
    // Messages are asserted in English; a Japanese locale on the test machine must not change
    // them, nor a key or config of the developer's shell.
    for var in ["REFRATE_PSEUDONYM_KEY", "REFRATE_CONFIG", "LC_ALL", "LC_MESSAGES", "LANG", "REFRATE_DEMO"] {
        cmd.env_remove(var);
    }
    if let Some(k) = key {
        cmd.env("REFRATE_PSEUDONYM_KEY", k);
    }
    cmd.envs(env.iter().copied());
    cmd
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts an exit code and shows stderr when it differs.
#[track_caller]
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "stdout:\n{}\nstderr:\n{}", stdout(o), stderr(o));
}

/// One canonical row. Flags: letter, related, ambulance, after_hours, checkup.
pub fn row(hospital: &str, date: &str, kind: &str, patient: &str, partner: &str, flags: [u8; 5]) -> String {
    let [letter, related, amb, ah, chk] = flags;
    format!("{hospital},{date},{kind},{patient},内科,{letter},{partner},{related},{amb},{ah},{chk}")
}

/// The first `n` columns of each CSV line (the contract columns of `rates`).
pub fn first_columns(csv: &str, n: usize) -> Vec<String> {
    csv.lines().map(|l| l.split(',').take(n).collect::<Vec<_>>().join(",")).collect()
}

/// SHA-256 of a file, hex.
pub fn sha256_of(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// Every file below `dir` with its checksum.
pub fn checksums(dir: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.into_iter().map(|f| (f.clone(), sha256_of(&f))).collect()
}

/// Every file below `dir`, recursively (sorted).
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// Makes a file look `secs` seconds old (its modification time).
pub fn age_file(path: &Path, secs: u64) {
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(secs);
    std::fs::File::options().write(true).open(path).unwrap().set_modified(when).unwrap();
}

/// The newest manifest of a local warehouse folder, parsed.
pub fn latest_manifest(warehouse: &Path) -> serde_json::Value {
    let newest = files_in(&warehouse.join("_manifest"))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
        .max()
        .expect("a published manifest");
    serde_json::from_slice(&std::fs::read(newest).unwrap()).unwrap()
}

/// A CSV of the reports folder meant for people (`rejects.csv`, `overview_FY*.csv`): it must
/// start with a UTF-8 byte-order mark, for Excel on a Japanese Windows; its text after it.
#[track_caller]
pub fn csv_for_people(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => panic!("{} has no byte-order mark", path.display()),
    }
}

/// The text of every file, Parquet decoded value by value (its pages are compressed), as
/// (file, text) pairs.
pub fn decoded_texts(files: &[PathBuf]) -> Vec<(String, String)> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::DataType;
    let mut texts = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).unwrap();
        if f.extension().is_some_and(|e| e == "parquet") {
            for batch in refrate::testing::read_parquet_bytes(bytes.into()).unwrap() {
                for col in batch.columns() {
                    let strings = datafusion::arrow::compute::cast(col, &DataType::Utf8).unwrap();
                    for v in strings.as_string::<i32>().iter().flatten() {
                        texts.push((f.display().to_string(), v.to_string()));
                    }
                }
            }
        } else if f.extension().is_some_and(|e| e == "xlsx") {
            for (sheet, cells) in xlsx_cells(f) {
                for row in cells {
                    texts.push((format!("{} sheet {sheet}", f.display()), row.join(" ")));
                }
            }
        } else {
            texts.push((f.display().to_string(), String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    texts
}

/// A workbook's sheets, each as rows of cells written out (a number as Rust prints it).
pub fn xlsx_cells(path: &Path) -> Vec<(String, Vec<Vec<String>>)> {
    use calamine::{Data, Reader, Xlsx, open_workbook};
    let mut book: Xlsx<_> = open_workbook(path).expect("a workbook that opens");
    let names = book.sheet_names().to_vec();
    names
        .into_iter()
        .map(|name| {
            let range = book.worksheet_range(&name).expect("a readable sheet");
            let rows = range
                .rows()
                .map(|row| {
                    row.iter()
                        .map(|cell| match cell {
                            Data::Empty => String::new(),
                            Data::String(s) => s.clone(),
                            Data::Float(f) => f.to_string(),
                            Data::Int(i) => i.to_string(),
                            Data::Bool(b) => b.to_string(),
                            other => format!("{other:?}"),
                        })
                        .collect()
                })
                .collect();
            (name, rows)
        })
        .collect()
}

/// Asserts that no text holds any of `ids` as a whole token (ids are compared as words, so an
/// 8-digit number is not "found" inside an unrelated hex digest by chance).
#[track_caller]
pub fn assert_no_raw_ids(texts: &[(String, String)], ids: &std::collections::BTreeSet<String>) {
    assert!(!ids.is_empty() && !texts.is_empty(), "the check must look at real content");
    for (file, text) in texts {
        for token in text.split(|c: char| !c.is_ascii_alphanumeric()) {
            assert!(!ids.contains(token), "raw patient number {token} found in {file}");
        }
    }
}

/// The patient numbers (4th column) of every CSV under `dir`.
pub fn patient_ids_of_csvs(dir: &Path) -> std::collections::BTreeSet<String> {
    files_in(dir)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "csv"))
        .flat_map(|f| {
            std::fs::read_to_string(&f)
                .unwrap()
                .lines()
                .skip(1)
                .filter_map(|l| l.split(',').nth(3).map(str::to_string))
                .collect::<Vec<_>>()
        })
        .filter(|id| !id.is_empty())
        .collect()
}

/// Checksums of a local warehouse's data and manifests: everything but the writer lock, whose
/// generation object every run replaces.
pub fn warehouse_checksums(warehouse: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    checksums(warehouse).into_iter().filter(|(f, _)| !f.starts_with(warehouse.join("_lock"))).collect()
}
