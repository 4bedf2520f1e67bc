//! Snapshots of the CLI's contract: stdout, stderr and exit code of each documented command
//! (README "Using it") and of the usual errors, on small fixtures, in datafusion-cli's
//! `insta_cmd` style. The snapshots are in `tests/cli/snapshots/`; after a deliberate change,
//! `INSTA_UPDATE=always cargo test --test cli snapshot` rewrites them for review in the diff.
//!
//! Filters replace what differs between machines and runs (the temporary folder, run ids,
//! times, durations, the host, pids, the crate version), so each snapshot is the same
//! everywhere. Commands get relative paths, run in the project folder, so the arguments
//! recorded in a snapshot's header are stable too.

use std::path::Path;
use std::process::Command;

use insta_cmd::assert_cmd_snapshot;

use crate::common::*;
use crate::e2e_cron::lock_json;
use crate::e2e_input::as_japanese_export;
use crate::e2e_pipeline::fixture_rows;

/// The fixture of `e2e_pipeline` (a pass, a fail, one on the line, one without initial
/// patients, two fiscal years), both regimes, and a master naming two of the four hospitals.
fn fixture() -> Project {
    fixture_with("")
}

/// The fixture with more config lines.
fn fixture_with(extra_config: &str) -> Project {
    let p = Project::new(&format!(
        "hospitals: hospitals.csv\nregimes: [chiiki-shien-2014, shinryo-2022]\n{extra_config}"
    ));
    p.write(
        "hospitals.csv",
        "hospital_code,name,prefecture,beds\n0110113719,札幌テスト病院,北海道,300\n4011000207,北九州中央病院,福岡県,400\n",
    );
    p.input("fy2025.csv", &fixture_rows());
    p
}

/// The fixture after one run (exit 1: a hospital fails, another sits on a threshold).
fn ran_fixture() -> Project {
    let p = fixture();
    assert_code(&p.run(), 1);
    p
}

/// The path of the lock generation after the newest one (a holder takes the lock by creating it).
fn next_lock_generation(p: &Project) -> String {
    let newest = files_in(&p.path("warehouse/_lock"))
        .iter()
        .filter_map(|f| {
            f.file_name()?.to_str()?.strip_prefix('v')?.strip_suffix(".json")?.parse::<u64>().ok()
        })
        .max()
        .expect("a run leaves a lock generation");
    format!("warehouse/_lock/v{:020}.json", newest + 1)
}

/// `refrate ARGS` in `dir` with the test key and the environment of every other test.
fn refrate(dir: &Path, args: &[&str]) -> Command {
    refrate_command(dir, args, Some(TEST_KEY), &[])
}

/// A command line's words.
fn words(line: &str) -> Vec<&str> {
    line.split(' ').collect()
}

/// Filters for what a snapshot must not depend on; the most specific come first.
fn settings(dir: &Path, description: &str) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    s.set_description(description);
    // The project folder, as given and as resolved (a symbolic link in the temp path).
    let mut dirs = vec![dir.to_path_buf()];
    if let Ok(real) = dir.canonicalize() {
        dirs.insert(0, real);
    }
    for d in dirs {
        s.add_filter(&regex::escape(&d.display().to_string()), "[TMP]");
    }
    s.add_filter(r"\d{8}T\d{6}Z-\d+-[0-9a-f]{8}", "[RUN_ID]");
    s.add_filter(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?", "[TIMESTAMP]");
    // The run's elapsed time at the end of the summary line.
    s.add_filter(r"\(\d+\.\ds\)", "([ELAPSED])");
    s.add_filter(r"（\d+\.\d 秒）", "（[ELAPSED]）");
    // A lock holder: host names are matched only where refrate names one (a short host name
    // such as `vm` could be part of any text).
    s.add_filter(r"host [^,\s]+, pid \d+", "host [HOST], pid [PID]");
    s.add_filter(r"process \d+ on \S+ is gone", "process [PID] on [HOST] is gone");
    s.add_filter(&format!(r"\b{}\b", regex::escape(env!("CARGO_PKG_VERSION"))), "[VERSION]");
    s
}

/// Runs `cmd` and compares its exit code, stdout and stderr with the snapshot `name`.
fn snapshot(name: &str, description: &str, dir: &Path, mut cmd: Command) {
    settings(dir, description).bind(|| assert_cmd_snapshot!(name, cmd));
}

#[test]
fn run_first_then_again_with_nothing_new() {
    let p = fixture();
    snapshot(
        "run_first",
        "first run of the fixture: summary, review lines, exit 1",
        p.dir.path(),
        refrate(p.dir.path(), &["run", "--config", "refrate.yaml"]),
    );
    snapshot(
        "run_second",
        "second run, nothing new: every file skipped, unchanged version",
        p.dir.path(),
        refrate(p.dir.path(), &["run", "--config", "refrate.yaml"]),
    );
}

#[test]
fn run_in_japanese() {
    let p = fixture();
    snapshot(
        "run_lang_ja",
        "first run with --lang ja: the summary and review lines in Japanese",
        p.dir.path(),
        refrate(p.dir.path(), &["--lang", "ja", "run", "--config", "refrate.yaml"]),
    );
}

#[test]
fn rates_fiscal_year_csv() {
    let p = ran_fixture();
    snapshot(
        "rates_fiscal_year_csv",
        "rates --period fiscal-year as CSV",
        p.dir.path(),
        refrate(p.dir.path(), &["rates", "--config", "refrate.yaml", "--period", "fiscal-year"]),
    );
}

#[test]
fn rates_fiscal_year_json() {
    let p = ran_fixture();
    snapshot(
        "rates_fiscal_year_json",
        "rates --period fiscal-year --format json",
        p.dir.path(),
        refrate(
            p.dir.path(),
            &["rates", "--config", "refrate.yaml", "--period", "fiscal-year", "--format", "json"],
        ),
    );
}

#[test]
fn rates_month() {
    let p = ran_fixture();
    snapshot(
        "rates_month",
        "rates --period month: monthly counts, gaps as no data",
        p.dir.path(),
        refrate(p.dir.path(), &["rates", "--config", "refrate.yaml", "--period", "month"]),
    );
}

#[test]
fn rates_six_months() {
    let p = ran_fixture();
    snapshot(
        "rates_six_months",
        "rates --period six-months --regime shinryo-2022",
        p.dir.path(),
        refrate(
            p.dir.path(),
            &["rates", "--config", "refrate.yaml", "--period", "six-months", "--regime", "shinryo-2022"],
        ),
    );
}

#[test]
fn rates_ytd() {
    let p = ran_fixture();
    snapshot(
        "rates_ytd",
        "rates --period ytd",
        p.dir.path(),
        refrate(p.dir.path(), &["rates", "--config", "refrate.yaml", "--period", "ytd"]),
    );
}

#[test]
fn rates_rolling_12() {
    let p = ran_fixture();
    snapshot(
        "rates_rolling_12",
        "rates --period rolling-12",
        p.dir.path(),
        refrate(p.dir.path(), &["rates", "--config", "refrate.yaml", "--period", "rolling-12"]),
    );
}

#[test]
fn validate_with_a_rejected_row() {
    // One reject in 62 rows is under this ratio: exit 1, not "unusable".
    let p = fixture_with("max_reject_ratio: 0.05\n");
    let mut rows = fixture_rows();
    rows.insert(3, row("0110113719", "2025-02-30", "first_visit", "X1", "", [0, 0, 0, 0, 0]));
    p.input("fy2025.csv", &rows);
    snapshot(
        "validate",
        "validate: per-file counts, a rejected row with its line, exit 1, nothing written",
        p.dir.path(),
        refrate(p.dir.path(), &["validate", "--config", "refrate.yaml"]),
    );
    assert!(!p.path("warehouse").exists());
}

#[test]
fn init_writes_a_starter_config() {
    let dir = tempfile::tempdir().unwrap();
    snapshot("init", "init: the message", dir.path(), refrate(dir.path(), &["init"]));
    let written = std::fs::read_to_string(dir.path().join("refrate.yaml")).unwrap();
    settings(dir.path(), "init: the starter refrate.yaml")
        .bind(|| insta::assert_snapshot!("init_refrate_yaml", written));
}

#[test]
fn mapping_suggest_on_a_japanese_export() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("export.csv"), as_japanese_export(&fixture_rows())).unwrap();
    snapshot(
        "mapping_suggest",
        "mapping suggest on a Shift_JIS export with Japanese headings",
        dir.path(),
        refrate(dir.path(), &["mapping", "suggest", "export.csv"]),
    );
}

#[test]
fn status_after_a_run() {
    let p = ran_fixture();
    snapshot(
        "status",
        "status after one run: version, months per hospital, lock, last runs",
        p.dir.path(),
        refrate(p.dir.path(), &["status", "--config", "refrate.yaml"]),
    );
}

#[test]
fn verify_after_a_run() {
    let p = ran_fixture();
    snapshot(
        "verify",
        "verify of an intact warehouse: exit 0",
        p.dir.path(),
        refrate(p.dir.path(), &["verify", "--config", "refrate.yaml"]),
    );
}

#[test]
fn vacuum_after_a_run() {
    let p = ran_fixture();
    snapshot(
        "vacuum",
        "vacuum after one run: nothing old enough to delete",
        p.dir.path(),
        refrate(p.dir.path(), &["vacuum", "--config", "refrate.yaml"]),
    );
}

#[test]
fn unlock_without_a_lock() {
    let p = ran_fixture();
    snapshot(
        "unlock_no_lock",
        "unlock when no run holds the lock",
        p.dir.path(),
        refrate(p.dir.path(), &["unlock", "--config", "refrate.yaml"]),
    );
}

#[test]
fn regimes_lists_the_built_in_regimes() {
    let dir = tempfile::tempdir().unwrap();
    snapshot(
        "regimes",
        "regimes: the built-in regimes and their formulas",
        dir.path(),
        refrate(dir.path(), &["regimes"]),
    );
}

#[test]
fn sample_writes_a_tiny_data_set() {
    let dir = tempfile::tempdir().unwrap();
    snapshot(
        "sample",
        "sample with 200 events, 2 hospitals, 2 months",
        dir.path(),
        refrate(dir.path(), &words("sample --out data --events 200 --hospitals 2 --months 2 --seed 7")),
    );
}

#[test]
fn error_missing_key() {
    let p = fixture();
    snapshot(
        "error_missing_key",
        "run without a pseudonymisation key: exit 2",
        p.dir.path(),
        refrate_command(p.dir.path(), &["run", "--config", "refrate.yaml"], None, &[]),
    );
}

#[test]
fn error_lock_held_by_a_live_run() {
    let p = ran_fixture();
    // This host and a live pid (the test's own) with a fresh heartbeat: not taken over.
    p.write(
        &next_lock_generation(&p),
        &lock_json(&refrate::testing::host_name(), std::process::id(), "20250101T000000Z-4242-0badcafe", 5),
    );
    snapshot(
        "error_locked",
        "run while another live run holds the writer lock: exit 2 naming the holder",
        p.dir.path(),
        refrate(p.dir.path(), &["run", "--config", "refrate.yaml"]),
    );
}

#[test]
fn error_unknown_regime() {
    let p = ran_fixture();
    snapshot(
        "error_unknown_regime",
        "rates --regime naming no regime: exit 2",
        p.dir.path(),
        refrate(p.dir.path(), &["rates", "--config", "refrate.yaml", "--regime", "no-such-regime"]),
    );
}

#[test]
fn error_config_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    snapshot(
        "error_missing_config",
        "run with a config that does not exist: exit 2",
        dir.path(),
        refrate(dir.path(), &["run", "--config", "missing.yaml"]),
    );
}

#[test]
fn error_bad_input_file() {
    let p = Project::new("");
    p.input("bad.csv", &["0110113719,2025-04-01,first_visit,\"P1,内科,0,,0,0,0,0".to_string()]);
    snapshot(
        "error_bad_input_file",
        "run on a file with an unclosed quote: exit 2 naming the file and line",
        p.dir.path(),
        refrate(p.dir.path(), &["run", "--config", "refrate.yaml"]),
    );
    assert!(files_in(&p.path("warehouse/events")).is_empty());
}
