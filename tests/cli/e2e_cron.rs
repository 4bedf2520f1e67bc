//! Cron safety of the real binary: the writer lock, the sweep, idempotent reruns, emptied
//! files, status.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const H1: &str = "0110113719";
const H3: &str = "2711000105";
const H4: &str = "4011000207";
const PARTNER: &str = "1311009904";

/// The run id of a run that was killed before it published (the shape refrate gives run ids).
const KILLED_RUN: &str = "20250101T000000Z-4242-0badcafe";

/// The first lock generation.
const LOCK1: &str = "warehouse/_lock/v00000000000000000001.json";

/// Whether `status` says the lock is free.
fn lock_is_free(p: &Project) -> bool {
    let config = p.config();
    stdout(&p.refrate(&["status", "--config", config.to_str().unwrap()])).contains("lock: free")
}

/// The run ran (0: all pass, 1: some hospital needs review — the fixture has one).
#[track_caller]
fn assert_ran(out: &std::process::Output) {
    assert!(out.status.code().is_some_and(|c| c <= 1), "stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out));
}

/// A lock generation held by `host`/`pid`, its heartbeat `heartbeat_age_secs` old.
pub(crate) fn lock_json(host: &str, pid: u32, run_id: &str, heartbeat_age_secs: i64) -> String {
    let now = chrono::Utc::now();
    let beat = now - chrono::Duration::seconds(heartbeat_age_secs);
    serde_json::json!({
        "host": host,
        "pid": pid,
        "run_id": run_id,
        "command": "run",
        "started_at": beat.to_rfc3339(),
        "heartbeat_at": beat.to_rfc3339(),
    })
    .to_string()
}

fn three_months(p: &Project) {
    p.input(
        "april.csv",
        &[
            row(H3, "2025-04-01", "first_visit", "A1", PARTNER, [1, 0, 0, 0, 0]),
            row(H4, "2025-04-01", "first_visit", "B1", "", [0, 0, 0, 0, 0]),
        ],
    );
    p.input("may.csv", &[row(H3, "2025-05-01", "first_visit", "A2", PARTNER, [1, 0, 0, 0, 0])]);
    p.input("june.csv", &[row(H1, "2025-06-01", "first_visit", "C1", PARTNER, [1, 0, 0, 0, 0])]);
}

#[test]
fn a_live_lock_stops_the_run_with_exit_2_naming_the_holder() {
    let p = Project::new("");
    three_months(&p);
    std::fs::create_dir_all(p.path("warehouse/_lock")).unwrap();
    // This test process is alive on this host: its lock is not stale.
    let lock = lock_json(&refrate::testing::host_name(), std::process::id(), "holder-run-42", 5);
    std::fs::write(p.path(LOCK1), &lock).unwrap();
    let out = p.run();
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("locked by") && err.contains("holder-run-42"), "{err}");
    assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
    assert!(p.files_under("warehouse/_manifest").is_empty(), "the locked-out run published");
    assert!(!p.path("reports").exists(), "the locked-out run wrote reports");
    // The holder's lock is untouched.
    assert_eq!(std::fs::read_to_string(p.path(LOCK1)).unwrap(), lock);
    assert_eq!(files_in(&p.path("warehouse/_lock")).len(), 1);
    // status names the holder.
    let config = p.config();
    let status = p.refrate(&["status", "--config", config.to_str().unwrap()]);
    assert!(stdout(&status).contains("lock: held by `refrate run` run holder-run-42"), "{}", stdout(&status));
}

#[test]
fn a_stale_lock_is_taken_over_with_a_message() {
    // A dead process on this host, and a silent holder on another host.
    let mut child = Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let cases = [
        (lock_json(&refrate::testing::host_name(), dead_pid, "dead-run", 5), "is gone"),
        (lock_json("another-host", 1, "silent-run", 3600), "no heartbeat"),
    ];
    for (lock, reason) in cases {
        let p = Project::new("");
        three_months(&p);
        std::fs::create_dir_all(p.path("warehouse/_lock")).unwrap();
        std::fs::write(p.path(LOCK1), &lock).unwrap();
        let out = p.run();
        assert_ran(&out);
        let err = stderr(&out);
        assert!(err.contains("took over the stale lock") && err.contains(reason), "{err}");
        assert!(lock_is_free(&p), "the lock was not released");
        let generation2: serde_json::Value = serde_json::from_slice(
            &std::fs::read(p.path("warehouse/_lock/v00000000000000000002.json")).unwrap(),
        )
        .unwrap();
        assert!(generation2["released_at"].is_string(), "{generation2}");
        assert!(p.path("warehouse/_manifest/v00000000000000000001.json").exists());
    }
    // Another host with a fresh heartbeat is assumed alive.
    let p = Project::new("");
    three_months(&p);
    std::fs::create_dir_all(p.path("warehouse/_lock")).unwrap();
    std::fs::write(p.path(LOCK1), lock_json("another-host", 1, "busy-run", 5)).unwrap();
    assert_code(&p.run(), 2);
}

/// A generated data set big enough that a run takes a noticeable time.
fn sample_project(events: u64) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = refrate_in(
        dir.path(),
        &["sample", "--out", "data", "--events", &events.to_string(), "--hospitals", "3", "--months", "6"],
        None,
    );
    assert_code(&out, 0);
    let config = dir.path().join("data/refrate.yaml");
    (dir, config)
}

/// `refrate run` started in the background, its output captured.
fn spawn_run(dir: &Path, config: &Path) -> std::process::Child {
    Command::new(refrate_bin())
        .current_dir(dir)
        .args(["run", "--config", config.to_str().unwrap()])
        .env("REFRATE_PSEUDONYM_KEY", TEST_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn concurrent_runs_one_publishes_the_other_exits_2() {
    let (dir, config) = sample_project(30_000);
    let spawn = || spawn_run(dir.path(), &config);
    let first = spawn();
    // Start the second run once the first holds the lock.
    let lock = dir.path().join("data").join(LOCK1);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lock.exists() {
        assert!(Instant::now() < deadline, "the first run never took the lock");
        std::thread::sleep(Duration::from_millis(1));
    }
    let second = spawn().wait_with_output().unwrap();
    let first = first.wait_with_output().unwrap();
    assert!(first.status.code().is_some_and(|c| c <= 1), "{}", stderr(&first));
    assert_code(&second, 2);
    assert!(stderr(&second).contains("locked by `refrate run`"), "{}", stderr(&second));
    // The empty version 0 (written before any data file) and the winner's version 1.
    let manifests = files_in(&dir.path().join("data/warehouse/_manifest"));
    assert_eq!(manifests.len(), 2, "{manifests:?}");
    assert!(manifests[1].ends_with("v00000000000000000001.json"), "{manifests:?}");
}

#[test]
fn same_input_rerun_writes_no_file_and_keeps_the_version() {
    let p = Project::new("");
    three_months(&p);
    assert_ran(&p.run());
    let before = warehouse_checksums(&p.path("warehouse"));
    let again = p.run();
    assert_ran(&again);
    assert!(stderr(&again).contains("0 new, 3 skipped as already ingested"), "{}", stderr(&again));
    assert!(stderr(&again).contains("warehouse version 1 (unchanged)"), "{}", stderr(&again));
    assert_eq!(warehouse_checksums(&p.path("warehouse")), before);
}

#[test]
fn a_corrected_hospital_month_changes_only_its_files_by_checksum() {
    let p = Project::new("");
    three_months(&p);
    assert_ran(&p.run());
    let before = checksums(&p.path("warehouse/events"));
    // May is corrected: one more referred first visit for H3 in May.
    p.input(
        "may.csv",
        &[
            row(H3, "2025-05-01", "first_visit", "A2", PARTNER, [1, 0, 0, 0, 0]),
            row(H3, "2025-05-02", "first_visit", "A4", PARTNER, [1, 0, 0, 0, 0]),
        ],
    );
    assert_ran(&p.run());
    let after = checksums(&p.path("warehouse/events"));
    // Every file of the first state is still there, byte for byte.
    for (file, sum) in &before {
        assert_eq!(after.get(file), Some(sum), "{} changed", file.display());
    }
    // Exactly one file is new: May's, which only H3 has rows in.
    let new: Vec<_> = after.keys().filter(|f| !before.contains_key(*f)).collect();
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(new[0].to_string_lossy().contains("events/month=2025-05/part-"), "{new:?}");
    // The manifest names it with its checksum, and still names the others with theirs.
    let m = latest_manifest(&p.path("warehouse"));
    for (key, part) in m["partitions"].as_object().unwrap() {
        let file = p.path("warehouse").join(part["file"].as_str().unwrap());
        assert_eq!(Some(part["sha256"].as_str().unwrap()), after.get(&file).map(String::as_str), "{key}");
        assert_eq!(before.contains_key(&file), key != &format!("{H3}/2025-05"), "{key}");
    }
}

#[test]
fn an_emptied_file_is_refused_unless_allow_empty_and_then_its_months_are_cleared() {
    let p = Project::new("");
    three_months(&p);
    assert_ran(&p.run());
    let before = warehouse_checksums(&p.path("warehouse"));
    p.input("april.csv", &[]);
    let out = p.run();
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("inputs/april.csv") && err.contains("--allow-empty"), "{err}");
    assert!(err.contains(&format!("{H3}/2025-04")) && err.contains(&format!("{H4}/2025-04")), "{err}");
    assert!(err.contains("nothing was published"), "{err}");
    assert_eq!(warehouse_checksums(&p.path("warehouse")), before, "a refused run changed the warehouse");

    let config = p.config();
    let out = p.refrate(&["run", "--allow-empty", "--config", config.to_str().unwrap()]);
    assert_ran(&out);
    let err = stderr(&out);
    assert!(err.contains(&format!("2 month(s) CLEARED ({H3}/2025-04 {H4}/2025-04)")), "{err}");
    let m = latest_manifest(&p.path("warehouse"));
    let keys: Vec<&String> = m["partitions"].as_object().unwrap().keys().collect();
    assert_eq!(keys, [&format!("{H1}/2025-06"), &format!("{H3}/2025-05")]);
    let months = stdout(&p.rates("month", &[]));
    let with_data: Vec<String> =
        first_columns(&months.lines().filter(|l| !l.contains("no data")).collect::<Vec<_>>().join("\n"), 2);
    assert_eq!(with_data[1..], [format!("{H1},2025-06"), format!("{H3},2025-05")]);
}

#[test]
fn sweep_deletes_only_old_files_no_recent_manifest_names() {
    let p = Project::new("keep_versions: 2\n");
    three_months(&p);
    assert_ran(&p.run());
    let v1_may = p
        .files_under("warehouse/events")
        .into_iter()
        .find(|f| f.to_string_lossy().contains("2025-05"))
        .unwrap();
    let v1_may_sums = p
        .path("warehouse")
        .join(latest_manifest(&p.path("warehouse"))["month_breakdowns"]["2025-05"]["file"].as_str().unwrap());
    // Two corrections of May: v2 and v3. v1's May file is then named by no version of the
    // newest two; v2's still is.
    for extra in ["A4", "A5"] {
        p.input(
            "may.csv",
            &[
                row(H3, "2025-05-01", "first_visit", "A2", PARTNER, [1, 0, 0, 0, 0]),
                row(H3, "2025-05-02", "first_visit", extra, PARTNER, [1, 0, 0, 0, 0]),
            ],
        );
        assert_ran(&p.run());
    }
    // Leftovers of killed runs, named as refrate names its files: an unpublished data file
    // and a staging file.
    let orphan = p.path(&format!("warehouse/events/month=2025-05/part-{KILLED_RUN}.parquet"));
    std::fs::write(&orphan, b"not published").unwrap();
    let staging = p.path(&format!("warehouse/events/month=2025-05/part-{KILLED_RUN}.parquet#3"));
    std::fs::write(&staging, b"half written").unwrap();
    let young_orphan = p.path(&format!("warehouse/rejects/run={KILLED_RUN}/source-0000.parquet"));
    std::fs::create_dir_all(young_orphan.parent().unwrap()).unwrap();
    std::fs::write(&young_orphan, b"just written by a live writer").unwrap();
    // Everything is two days old but the young orphan: only age and references decide.
    for f in p.files_under("warehouse") {
        if f != young_orphan {
            age_file(&f, 48 * 3600);
        }
    }
    let live_before: Vec<_> = {
        let m = latest_manifest(&p.path("warehouse"));
        let (parts, sums) =
            (m["partitions"].as_object().unwrap(), m["month_breakdowns"].as_object().unwrap());
        parts
            .values()
            .chain(sums.values())
            .map(|v| p.path("warehouse").join(v["file"].as_str().unwrap()))
            .collect()
    };
    let config = p.config();
    let out = p.refrate(&["vacuum", "--config", config.to_str().unwrap()]);
    assert_code(&out, 0);
    // The orphan, its staging file, and v1's May file with May's sums made from it.
    assert!(stderr(&out).contains("deleted 4 file(s)"), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 unreferenced file(s) younger than the retention"), "{}", stderr(&out));
    assert!(!orphan.exists() && !staging.exists() && !v1_may.exists() && !v1_may_sums.exists());
    assert!(young_orphan.exists());
    for f in &live_before {
        assert!(f.exists(), "live file {} deleted", f.display());
    }
    // Version 2's May file is kept (readers of v2), and v2 still reads whole.
    let v2: serde_json::Value = serde_json::from_slice(
        &std::fs::read(p.path("warehouse/_manifest/v00000000000000000002.json")).unwrap(),
    )
    .unwrap();
    for part in v2["partitions"].as_object().unwrap().values() {
        assert!(p.path("warehouse").join(part["file"].as_str().unwrap()).exists());
    }
    let months = stdout(&p.rates("month", &[]));
    assert_eq!(first_columns(&months, 8)[3], format!("{H3},2025-05,2,0,0,0,2,2"));
    // A second vacuum has nothing left to do.
    let out = p.refrate(&["vacuum", "--config", config.to_str().unwrap()]);
    assert!(stderr(&out).contains("deleted 0 file(s)"), "{}", stderr(&out));
}

#[test]
fn a_run_sweeps_leftovers_after_publishing_and_status_lists_the_runs() {
    let p = Project::new("retention: 0s\n");
    // A published warehouse, then a run killed after it leaves an unnamed data file.
    three_months(&p);
    assert_ran(&p.run());
    std::fs::create_dir_all(p.path("warehouse/events/hospital=2711000105/month=2025-04")).unwrap();
    let leftover =
        p.path(&format!("warehouse/events/hospital=2711000105/month=2025-04/part-{KILLED_RUN}.parquet"));
    std::fs::write(&leftover, b"x").unwrap();
    let out = p.run();
    assert_ran(&out);
    assert!(stderr(&out).contains("1 old file(s) swept"), "{}", stderr(&out));
    assert!(!leftover.exists());
    let config = p.config();
    let status = stdout(&p.refrate(&["status", "--config", config.to_str().unwrap()]));
    assert!(status.contains("lock: free"), "{status}");
    assert!(status.contains("last runs:\n  v1 "), "{status}");
}

fn reports_unchanged(dir: &Path, before: &std::collections::BTreeMap<std::path::PathBuf, String>) {
    assert_eq!(&checksums(dir), before);
}

#[test]
fn a_failed_run_keeps_the_last_good_reports_and_says_so() {
    let p = Project::new("");
    three_months(&p);
    assert_ran(&p.run());
    let before = checksums(&p.path("reports"));
    // A corrected file that is mostly bad stops the run after it took the lock.
    p.input("may.csv", &[row(H3, "2025-02-30", "first_visit", "A2", PARTNER, [1, 0, 0, 0, 0])]);
    let out = p.run();
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("nothing was published (the warehouse stays at version 1)"), "{err}");
    assert!(err.contains("are those of the last good run"), "{err}");
    assert!(err.contains("caused by:") && err.contains("max_reject_ratio"), "{err}");
    reports_unchanged(&p.path("reports"), &before);
    assert!(lock_is_free(&p), "the lock was not released after an error");
}

#[test]
fn sigterm_stops_a_run_cleanly_publishing_nothing_and_freeing_the_lock() {
    let (dir, config) = sample_project(120_000);
    let data = dir.path().join("data");
    let child = spawn_run(dir.path(), &config);
    // Signal once the run holds the lock and is ingesting.
    let lock = data.join(LOCK1);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lock.exists() {
        assert!(Instant::now() < deadline, "the run never took the lock");
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("SIGTERM received") && err.contains("stopped by a signal"), "{err}");
    assert!(err.contains("nothing was published"), "{err}");
    // Only the empty version 0 a first run starts with; the lock is released.
    let manifests = files_in(&data.join("warehouse/_manifest"));
    assert!(manifests.iter().all(|m| m.ends_with("v00000000000000000000.json")), "{manifests:?}");
    let status = stdout(&refrate_in(dir.path(), &["status", "--config", config.to_str().unwrap()], None));
    assert!(status.contains("lock: free"), "{status}");
}

#[test]
fn unlock_releases_a_lock_that_cannot_be_taken_over() {
    let p = Project::new("");
    three_months(&p);
    std::fs::create_dir_all(p.path("warehouse/_lock")).unwrap();
    // A holder on another host whose heartbeat is a day in the future (a wrong clock).
    std::fs::write(p.path(LOCK1), lock_json("another-host", 1, "clock-run", -86_400)).unwrap();
    // Stale by now: a heartbeat that far ahead proves nothing, so a run takes it over.
    let out = p.run();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", stderr(&out));
    assert!(stderr(&out).contains("in the future"), "{}", stderr(&out));
    // A live-looking holder on another host: unlock asks, and refuses without the word.
    std::fs::write(
        p.path("warehouse/_lock/v00000000000000000009.json"),
        lock_json("another-host", 1, "busy-run", 5),
    )
    .unwrap();
    let config = p.config();
    let out = p.refrate(&["unlock", "--config", config.to_str().unwrap()]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("Type `unlock`") && stderr(&out).contains("not confirmed"),
        "{}",
        stderr(&out)
    );
    assert!(!lock_is_free(&p));
    let out = p.refrate(&["unlock", "--force", "--config", config.to_str().unwrap()]);
    assert_code(&out, 0);
    assert!(stderr(&out).contains("released the lock of `refrate run` run busy-run"), "{}", stderr(&out));
    assert!(lock_is_free(&p));
    assert!(p.run().status.code().is_some_and(|c| c <= 1));
}
