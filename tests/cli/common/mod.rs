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

pub fn refrate_in(dir: &Path, args: &[&str], key: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_refrate"));
    cmd.current_dir(dir).args(args).env_remove("REFRATE_PSEUDONYM_KEY").env_remove("REFRATE_CONFIG");
    if let Some(k) = key {
        cmd.env("REFRATE_PSEUDONYM_KEY", k);
    }
    cmd.output().expect("run refrate")
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
