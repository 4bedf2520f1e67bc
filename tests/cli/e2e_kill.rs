//! The kill harness: `refrate run` is killed with SIGKILL at random moments while input files
//! arrive month by month. After every kill, `rates` must show either the numbers before the
//! new file or the numbers with it — never a mix — and at the end the warehouse must hold what
//! a run that was never killed holds, with no leftover file and no raw patient number.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::common::*;

/// At least this many kills that landed while the run was still working.
const KILLS: usize = 50;
const MONTHS: usize = 36;

struct Harness {
    dir: PathBuf,
    config: PathBuf,
    logs: Vec<(String, String)>,
}

impl Harness {
    fn new(root: &Path, name: &str) -> Harness {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("inputs")).unwrap();
        let config = dir.join("refrate.yaml");
        // retention 0s: leftovers of killed runs are swept by the next run that completes.
        std::fs::write(
            &config,
            "warehouse: warehouse\nreports: reports\nhospitals: ../data/hospitals.csv\ninputs:\n  - path: inputs/*.csv\n    kind: events\nretention: 0s\n",
        )
        .unwrap();
        Harness { dir, config, logs: Vec::new() }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(refrate_bin());
        cmd.current_dir(&self.dir)
            .args(args)
            .args(["--config", self.config.to_str().unwrap()])
            .env("REFRATE_PSEUDONYM_KEY", TEST_KEY)
            .env_remove("REFRATE_CONFIG");
        cmd
    }

    fn run(&mut self) -> std::process::Output {
        let out = self.command(&["run"]).output().unwrap();
        self.keep_logs(&out);
        assert!(out.status.code().is_some_and(|c| c <= 1), "run failed: {}", stderr(&out));
        out
    }

    fn rates(&mut self) -> String {
        let out = self.command(&["rates", "--period", "month"]).output().unwrap();
        self.keep_logs(&out);
        assert!(out.status.code().is_some_and(|c| c <= 1), "rates failed: {}", stderr(&out));
        stdout(&out)
    }

    fn keep_logs(&mut self, out: &std::process::Output) {
        self.logs.push(("stdout".into(), stdout(out)));
        self.logs.push(("stderr".into(), stderr(out)));
    }

    fn add_month(&self, source: &Path) {
        std::fs::copy(source, self.dir.join("inputs").join(source.file_name().unwrap())).unwrap();
    }
}

/// A manifest's content without names and times: per partition rows and checksum, per source
/// checksum and counts.
fn content(manifest: &serde_json::Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, p) in manifest["partitions"].as_object().unwrap() {
        out.insert(format!("partition {k}"), format!("{} {}", p["rows"], p["sha256"]));
    }
    for (k, s) in manifest["sources"].as_object().unwrap() {
        out.insert(
            format!("source {k}"),
            format!("{} {} {} {}", s["sha256"], s["rows_valid"], s["rows_rejected"], s["partitions"]),
        );
    }
    out
}

#[test]
fn sigkill_at_random_moments_never_shows_a_mix_and_converges_to_a_clean_run() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let out = refrate_in(
        root,
        &[
            "sample",
            "--out",
            "data",
            "--events",
            "15000",
            "--hospitals",
            "3",
            "--months",
            &MONTHS.to_string(),
            // Months in the past: rows dated after today are rejects.
            "--start",
            "2022-04",
            "--seed",
            "9",
        ],
        None,
    );
    assert_code(&out, 0);
    let mut months: Vec<PathBuf> = files_in(&root.join("data/events"));
    months.sort();
    assert_eq!(months.len(), MONTHS);

    // The reference: the same months added one by one, never killed.
    let mut clean = Harness::new(root, "clean");
    let mut expected = Vec::new();
    let mut run_times = Vec::new();
    for m in &months {
        clean.add_month(m);
        let t = Instant::now();
        clean.run();
        run_times.push(t.elapsed());
        expected.push(clean.rates());
    }
    // Kills land in the first three quarters of a typical run: most before its publish.
    run_times.sort();
    let run_time = run_times[run_times.len() / 2].mul_f64(0.75);
    let reference = std::mem::take(&mut clean.logs);
    drop(reference);

    let seed: u64 =
        std::env::var("REFRATE_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("kill harness: seed {seed} (set REFRATE_KILL_SEED to replay), kill window {run_time:?}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut h = Harness::new(root, "killed");
    h.add_month(&months[0]);
    h.run();
    assert_eq!(h.rates(), expected[0]);

    // `published` is the state rates shows; the next month's file is added once it is
    // published, so most kills hit a run that has real work to lose.
    let mut published = 0;
    let (mut kills, mut kills_before_publish, mut finished_before_kill) = (0, 0, 0);
    // The kill window adapts so that about half the kills land before the publish, whatever
    // the machine's load: it shrinks after a kill that came too late and grows otherwise.
    let mut window = run_time.as_micros() as f64;
    let mut attempts = 0;
    while kills < KILLS || kills_before_publish < KILLS / 3 {
        attempts += 1;
        assert!(
            attempts < KILLS * 10,
            "the kills do not land where they should: {kills} kills, {kills_before_publish} before a publish"
        );
        let target = (published + 1).min(MONTHS - 1);
        h.add_month(&months[target]);
        let mut child = h.command(&["run"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(rng.random_range(0..window.max(1000.0) as u64)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
        }
        // Reaped, so the pid in its lock is dead and the next run takes the lock over.
        let status = child.wait().unwrap();
        let killed = std::os::unix::process::ExitStatusExt::signal(&status) == Some(9);
        let seen = h.rates();
        if target == published {
            // Every month is in: this run had nothing to publish.
        } else if seen == expected[target] {
            published = target;
            window *= 0.85;
        } else {
            assert_eq!(
                seen, expected[published],
                "after a kill, rates show neither the old nor the new state"
            );
            kills_before_publish += usize::from(killed);
            window *= 1.1;
        }
        if killed {
            kills += 1;
        } else {
            finished_before_kill += 1;
        }
    }
    // The remaining months, one run each, never killed.
    for step in published + 1..MONTHS {
        h.add_month(&months[step]);
        h.run();
        assert_eq!(h.rates(), expected[step], "step {step}: the completed run");
    }
    h.run();
    assert_eq!(h.rates(), expected[MONTHS - 1]);

    // The final state equals the never-killed run's, file content included.
    let final_manifest = latest_manifest(&h.dir.join("warehouse"));
    assert_eq!(content(&final_manifest), content(&latest_manifest(&clean.dir.join("warehouse"))));
    // No leftover: every data file is named by one of the kept manifests, no staging file, no
    // temporary report, no lock.
    let kept: std::collections::BTreeSet<PathBuf> = files_in(&h.dir.join("warehouse/_manifest"))
        .iter()
        .rev()
        .take(5)
        .flat_map(|f| {
            let m: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            let mut files: Vec<PathBuf> = m["partitions"]
                .as_object()
                .unwrap()
                .values()
                .map(|p| h.dir.join("warehouse").join(p["file"].as_str().unwrap()))
                .collect();
            files.extend(
                m["sources"]
                    .as_object()
                    .unwrap()
                    .values()
                    .filter_map(|s| s["rejects_file"].as_str())
                    .map(|r| h.dir.join("warehouse").join(r)),
            );
            let sums = m["month_breakdowns"].as_object().into_iter().flat_map(|b| b.values());
            files.extend(sums.map(|b| h.dir.join("warehouse").join(b["file"].as_str().unwrap())));
            files
        })
        .collect();
    let mut lock_files = 0;
    for f in files_in(&h.dir.join("warehouse")) {
        let rel = f.strip_prefix(h.dir.join("warehouse")).unwrap().to_string_lossy().into_owned();
        if rel.starts_with("_manifest/") {
            assert!(rel.ends_with(".json"), "staging manifest left: {rel}");
        } else if rel.starts_with("_lock/") {
            // Superseded generations are swept; the newest stays, released.
            let lock: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
            assert!(lock["released_at"].is_string(), "lock left held: {rel}: {lock}");
            lock_files += 1;
        } else {
            assert!(kept.contains(&f), "unreferenced file left: {rel}");
        }
    }
    assert_eq!(lock_files, 1);
    for f in files_in(&h.dir.join("reports")) {
        assert!(
            !f.file_name().unwrap().to_string_lossy().starts_with(".refrate-"),
            "temp report left: {}",
            f.display()
        );
    }

    // Privacy: no raw patient number anywhere, including what every run printed.
    let ids = patient_ids_of_csvs(&root.join("data/events"));
    let mut files = files_in(&h.dir.join("warehouse"));
    files.extend(files_in(&h.dir.join("reports")));
    let mut texts = decoded_texts(&files);
    texts.extend(h.logs.iter().cloned());
    assert_no_raw_ids(&texts, &ids);

    eprintln!(
        "kill harness: {kills} kills ({kills_before_publish} before the new state was published), {finished_before_kill} runs finished before their kill, {} of {} months published under kills, {:.1}s",
        published,
        MONTHS - 1,
        started.elapsed().as_secs_f64()
    );
}
