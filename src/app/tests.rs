//! `run` through a fault-injecting object store: every failed put or multipart completion
//! stops the run with an error (exit 2 in the binary) and leaves the manifest as it was; a
//! later clean run converges to the state of a run that never failed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;

use super::{RunOptions, run_with};
use crate::config::Config;
use crate::warehouse::testing::{Faults, FaultyStore};
use crate::warehouse::{Manifest, Warehouse};

/// A sample data set of three monthly files with a key file, and its config.
fn project(dir: &Path) -> Config {
    let spec = crate::sample::SampleSpec {
        events: 1500,
        hospitals: 2,
        months: 3,
        partners: 40,
        start: "2025-04".into(),
        seed: 11,
    };
    crate::sample::write(dir, &spec).unwrap();
    let key = dir.join("key");
    std::fs::write(&key, "fault-test-key-0123456789").unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut yaml = std::fs::read_to_string(dir.join("refrate.yaml")).unwrap();
    yaml.push_str("pseudonym_key_file: key\nretention: 0s\n");
    std::fs::write(dir.join("refrate.yaml"), yaml).unwrap();
    Config::load(&dir.join("refrate.yaml")).unwrap()
}

/// The warehouse of `cfg` through a faulty store; `part_size` decides which files go through
/// multipart uploads.
fn faulty(cfg: &Config, faults: Faults, part_size: usize) -> (Warehouse, FaultyStore) {
    std::fs::create_dir_all(&cfg.warehouse).unwrap();
    let folder = std::fs::canonicalize(&cfg.warehouse).unwrap();
    let store = FaultyStore::new(Arc::new(LocalFileSystem::new()) as Arc<dyn ObjectStore>, faults);
    let root = StorePath::from_absolute_path(&folder).unwrap();
    let url = url::Url::parse("file:///").unwrap();
    let wh = Warehouse::with_store(Arc::new(store.clone()), root, url, &folder.display().to_string())
        .with_part_size(part_size);
    (wh, store)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The content of a state: per partition its rows and checksum, per source its checksum.
fn state(m: &Manifest) -> (BTreeMap<String, (u64, String)>, BTreeMap<String, String>) {
    (
        m.partitions.iter().map(|(k, p)| (k.clone(), (p.rows, p.sha256.clone()))).collect(),
        m.sources.iter().map(|(k, s)| (k.clone(), s.sha256.clone())).collect(),
    )
}

const QUIET: RunOptions = RunOptions { quiet: true, allow_empty: false, lang: crate::cli::Lang::En };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_puts_and_completions_leave_the_manifest_unchanged_and_a_rerun_converges() {
    // The state a run that never failed reaches.
    let clean_dir = tempfile::tempdir().unwrap();
    let clean_cfg = project(clean_dir.path());
    run_with(&clean_cfg, QUIET, |c| Warehouse::open(&c.warehouse)).await.unwrap();
    let clean = Warehouse::open(&clean_cfg.warehouse).unwrap().current().await.unwrap();

    // Version 1 holds the first month only; the faults hit the run adding the other two.
    let dir = tempfile::tempdir().unwrap();
    let cfg = project(dir.path());
    let later = dir.path().join("later");
    std::fs::create_dir_all(&later).unwrap();
    for m in ["2025-05.csv", "2025-06.csv"] {
        std::fs::rename(dir.path().join("events").join(m), later.join(m)).unwrap();
    }
    run_with(&cfg, QUIET, |c| Warehouse::open(&c.warehouse)).await.unwrap();
    for m in ["2025-05.csv", "2025-06.csv"] {
        std::fs::rename(later.join(m), dir.path().join("events").join(m)).unwrap();
    }
    let reports_before = std::fs::read(cfg.reports.join("index.html")).unwrap();

    // Small parts: data files go up as multipart uploads. Large parts: as single puts.
    for part_size in [2048, 1 << 30] {
        // Count the operations of the run on a copy, to fail each one in turn.
        let (puts, completes) = {
            let probe_dir = tempfile::tempdir().unwrap();
            copy_dir(dir.path(), probe_dir.path());
            let probe_cfg = Config::load(&probe_dir.path().join("refrate.yaml")).unwrap();
            let (wh, store) = faulty(&probe_cfg, Faults::default(), part_size);
            run_with(&probe_cfg, QUIET, |_| Ok(wh)).await.unwrap();
            assert_eq!(store.aborts(), 0);
            (store.puts(), store.completes())
        };
        if part_size == 2048 {
            assert!(completes >= 2, "both new month files go through multipart ({completes})");
        } else {
            assert!(puts >= 4 && completes == 0, "lock, 2 month files, manifest: {puts} puts");
        }
        // The last put releases the lock after the publish: its failure is only a warning
        // (the lock is then stale as soon as this process ends), so it is not looped over.
        for faults in (1..puts)
            .map(|n| Faults { put: Some(n), complete: None })
            .chain((1..=completes).map(|n| Faults { put: None, complete: Some(n) }))
        {
            let (wh, store) = faulty(&cfg, faults, part_size);
            let reader = wh.clone();
            let err = match run_with(&cfg, QUIET, |_| Ok(wh)).await {
                Ok(_) => panic!("{faults:?}: the run succeeded"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains("nothing was published") || faults.put == Some(1), "{faults:?}: {err}");
            assert_eq!(reader.latest_version().await.unwrap(), 1, "{faults:?}: the manifest moved ({err})");
            assert_eq!(reader.lock_holder().await.unwrap(), None, "{faults:?}: the lock was left behind");
            if faults.complete.is_some() {
                assert_eq!(store.aborts(), 1, "{faults:?}: the failed multipart upload was not aborted");
            }
            // Month files go up two at a time: the other upload under way is let finish.
            assert_eq!(store.unfinished_uploads(), 0, "{faults:?}: an upload was left half-way");
            assert_eq!(std::fs::read(cfg.reports.join("index.html")).unwrap(), reports_before, "{faults:?}");
        }
    }

    // A clean rerun converges to the never-failed state.
    run_with(&cfg, QUIET, |c| Warehouse::open(&c.warehouse)).await.unwrap();
    let wh = Warehouse::open(&cfg.warehouse).unwrap();
    let after = wh.current().await.unwrap();
    assert_eq!(after.version, 2);
    assert_eq!(state(&after), state(&clean));
    // Leftovers of the failed runs were swept (retention 0s); only live files remain.
    let (live, _) = wh.live_files(1).await.unwrap();
    let mut on_disk = Vec::new();
    for sub in crate::warehouse::layout::DATA_DIRS {
        let base = Path::new(&cfg.warehouse).join(sub);
        for entry in walk(&base) {
            on_disk.push(
                entry
                    .strip_prefix(&cfg.warehouse)
                    .unwrap()
                    .to_string_lossy()
                    .trim_start_matches('/')
                    .to_string(),
            );
        }
    }
    let version1 = wh.manifest(1).await.unwrap();
    let kept: std::collections::BTreeSet<String> =
        live.iter().cloned().chain(version1.live_files().map(str::to_string)).collect();
    on_disk.sort();
    assert_eq!(on_disk, kept.into_iter().collect::<Vec<_>>());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Monthly counts of the warehouse's current version, as the engine reads them.
async fn monthly_counts(cfg: &Config) -> Vec<crate::engine::MonthlyRow> {
    let wh = Warehouse::open(&cfg.warehouse).unwrap();
    let manifest = wh.current().await.unwrap();
    let set = crate::regimes::RegimeSet::builtin();
    let regimes: Vec<&crate::regimes::Regime> = vec![set.get("chiiki-shien-2014").unwrap()];
    let engine = crate::engine::Engine::open(&wh, &manifest, &regimes).await.unwrap();
    engine.monthly_counts().await.unwrap()
}

/// Rewrites the current version as a format 2 warehouse (one file per hospital-month, as
/// builds before format 3 wrote it), published as the next version.
async fn as_format_2(cfg: &Config) {
    use datafusion::arrow::array::{AsArray, BooleanArray};
    let wh = Warehouse::open(&cfg.warehouse).unwrap();
    let mut m = wh.current().await.unwrap();
    let run = crate::warehouse::layout::new_run_id();
    for (file, parts) in m.clone().event_files() {
        let batches = crate::warehouse::read_parquet_bytes(wh.get(file).await.unwrap()).unwrap();
        for (key, p) in parts {
            let mine: Vec<_> = batches
                .iter()
                .map(|b| {
                    let hospital = b.column_by_name("hospital_code").unwrap().as_string::<i32>();
                    let keep: BooleanArray =
                        hospital.iter().map(|h| Some(h == Some(p.hospital_code.as_str()))).collect();
                    datafusion::arrow::compute::filter_record_batch(b, &keep).unwrap()
                })
                .collect();
            let bytes =
                crate::warehouse::write_batches(crate::warehouse::schema::EVENTS.clone(), &mine).unwrap();
            let digest = crate::warehouse::FileDigest::of(&bytes);
            let path = crate::warehouse::layout::hospital_month_file(&p.hospital_code, &p.month, &run);
            wh.put(&path, bytes).await.unwrap();
            let entry = m.partitions.get_mut(key).unwrap();
            (entry.file, entry.sha256, entry.bytes) = (path, digest.sha256, Some(digest.bytes));
        }
    }
    m.format = 2;
    m.version += 1;
    without_counts(&mut m);
    wh.publish(&m).await.unwrap();
}

/// A manifest as builds before format 4 wrote it: no stored counts (nor month sums).
fn without_counts(m: &mut Manifest) {
    m.counts_rules = None;
    for p in m.partitions.values_mut() {
        p.counts = None;
    }
    m.breakdowns_rules = None;
    m.month_breakdowns.clear();
}

/// The monthly counts an engine over `manifest` gives.
async fn counts_of(cfg: &Config, manifest: &Manifest) -> Vec<crate::engine::MonthlyRow> {
    let wh = Warehouse::open(&cfg.warehouse).unwrap();
    let set = crate::regimes::RegimeSet::builtin();
    let regimes: Vec<&crate::regimes::Regime> = vec![set.get("chiiki-shien-2014").unwrap()];
    let engine = crate::engine::Engine::open(&wh, manifest, &regimes).await.unwrap();
    engine.monthly_counts().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_counts_are_what_the_events_give_and_are_read_instead_of_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = project(dir.path());
    run_with(&cfg, QUIET, |c| Warehouse::open(&c.warehouse)).await.unwrap();
    let wh = Warehouse::open(&cfg.warehouse).unwrap();
    let stored = wh.current().await.unwrap();
    let rules = crate::engine::counts_rules();
    assert_eq!(stored.counts_rules.as_deref(), Some(rules.as_str()));
    assert!(stored.partitions.values().all(|p| p.counts.as_ref().is_some_and(|c| c.len() == 9)));

    // The same numbers as counting the events.
    let mut counted = stored.clone();
    without_counts(&mut counted);
    let from_events = counts_of(&cfg, &counted).await;
    assert_eq!(counts_of(&cfg, &stored).await, from_events);
    assert!(from_events.iter().any(|r| r.get(crate::regimes::Count::ReferredPatients) > Some(0)));

    // Read instead of the events: a changed stored count shows (verify would refuse it) ...
    let mut edited = stored.clone();
    let (key, first) = edited.partitions.iter_mut().next().unwrap();
    let key = key.clone();
    first.counts.as_mut().unwrap()[0] += 1000;
    let shown = counts_of(&cfg, &edited).await;
    let row = |rows: &[crate::engine::MonthlyRow]| {
        rows.iter()
            .find(|r| crate::warehouse::Manifest::partition_key(&r.hospital_code, &r.month) == key)
            .and_then(|r| r.get(crate::regimes::Count::FirstVisits))
            .unwrap()
    };
    assert_eq!(row(&shown), row(&from_events) + 1000);
    // ... unless they were made by other rules: then the events are counted.
    edited.counts_rules = Some("sha256:0000000000000000".into());
    assert_eq!(counts_of(&cfg, &edited).await, from_events);

    // A warehouse without counts (format 3) gets them from the next run, with nothing new.
    let mut old = stored.clone();
    without_counts(&mut old);
    old.format = 3;
    old.version += 1;
    wh.publish(&old).await.unwrap();
    run_with(&cfg, QUIET, |c| Warehouse::open(&c.warehouse)).await.unwrap();
    let upgraded = wh.current().await.unwrap();
    assert_eq!(upgraded.version, old.version + 1);
    assert_eq!(upgraded.partitions, stored.partitions);
    // And then a run with nothing new publishes nothing.
    run_with(&cfg, QUIET, |c| Warehouse::open(&c.warehouse)).await.unwrap();
    assert_eq!(wh.current().await.unwrap().version, upgraded.version);
}

/// The department and partner breakdowns an engine over `manifest` gives.
async fn breakdowns_of(
    cfg: &Config,
    manifest: &Manifest,
) -> Result<(Vec<crate::engine::DepartmentRow>, Vec<crate::engine::PartnerRow>), crate::engine::EngineError> {
    let wh = Warehouse::open(&cfg.warehouse).unwrap();
    let set = crate::regimes::RegimeSet::builtin();
    let regimes: Vec<&crate::regimes::Regime> = vec![set.get("chiiki-shien-2014").unwrap()];
    let engine = crate::engine::Engine::open(&wh, manifest, &regimes).await?;
    let months = engine.monthly_counts().await?.into_iter().map(|m| m.month).collect();
    Ok((engine.department_breakdown(&months).await?, engine.partner_breakdown(&months).await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_month_sums_are_what_the_events_give_and_are_read_instead_of_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = project(dir.path());
    run_with(&cfg, QUIET, |c| Warehouse::open(&c.warehouse)).await.unwrap();
    let wh = Warehouse::open(&cfg.warehouse).unwrap();
    let stored = wh.current().await.unwrap();
    // One file per month, made by this build's rules from the month's event file.
    assert_eq!(stored.breakdowns_rules, Some(crate::engine::breakdowns_rules()));
    let months = stored.month_event_files();
    assert_eq!(months.len(), 3);
    assert_eq!(stored.month_breakdowns.keys().collect::<Vec<_>>(), months.keys().collect::<Vec<_>>());
    let run = &stored.runs.last().unwrap().run_id;
    for (month, sums) in &stored.month_breakdowns {
        assert_eq!(sums.events, months[month.as_str()]);
        assert_eq!(sums.file, crate::warehouse::layout::breakdown_file(month, run));
    }
    assert_eq!(stored.stored_breakdowns(&crate::engine::breakdowns_rules()).map(|f| f.len()), Some(3));
    // `verify` computes them again and finds them equal.
    assert!(
        super::check_stored_breakdowns(&wh, &stored).await.unwrap().contains("sums of 3 month(s) recomputed")
    );
    // Summed together or month by month, the same rows; a month whose files hold another
    // month's rows is refused, naming them.
    let group: Vec<(String, Vec<String>)> = months
        .iter()
        .map(|(m, files)| (m.to_string(), files.iter().map(|f| f.to_string()).collect()))
        .collect();
    let together = crate::engine::Engine::break_down_months(&wh, &group).await.unwrap();
    assert_eq!(together.len(), 3);
    for month in &group {
        let alone = crate::engine::Engine::break_down_months(&wh, std::slice::from_ref(month)).await.unwrap();
        assert!(!together[&month.0].is_empty());
        assert!(crate::engine::same_breakdowns(&alone[&month.0], &together[&month.0]), "{}", month.0);
    }
    let misnamed = [("2099-01".to_string(), group[0].1.clone())];
    let err = crate::engine::Engine::break_down_months(&wh, &misnamed).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("the event files of 2099-01 hold rows of {}: {}", group[0].0, group[0].1[0])),
        "{err}"
    );

    // The same breakdowns as summing the events.
    let mut summed = stored.clone();
    without_counts(&mut summed);
    let from_events = breakdowns_of(&cfg, &summed).await.unwrap();
    assert_eq!(breakdowns_of(&cfg, &stored).await.unwrap(), from_events);
    assert!(from_events.0.iter().any(|d| d.referred_patients > 0 && d.first_visits > d.initial_patients));
    assert!(from_events.1.iter().any(|p| p.referred_patients > 0 && p.compared_months == 0));

    // Read instead of the events: one month's sums named for another are damage, not numbers ...
    let mut swapped = stored.clone();
    let names: Vec<String> = swapped.month_breakdowns.keys().take(2).cloned().collect();
    let (a, b) = (swapped.month_breakdowns[&names[0]].clone(), swapped.month_breakdowns[&names[1]].clone());
    let entry = swapped.month_breakdowns.get_mut(&names[0]).unwrap();
    (entry.file, entry.sha256, entry.bytes, entry.rows) = (b.file, b.sha256, b.bytes, b.rows);
    let entry = swapped.month_breakdowns.get_mut(&names[1]).unwrap();
    (entry.file, entry.sha256, entry.bytes, entry.rows) = (a.file, a.sha256, a.bytes, a.rows);
    let err = breakdowns_of(&cfg, &swapped).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "holds sums of month {}, but the manifest names it for month {}",
            names[1], names[0]
        )),
        "{err}"
    );
    // ... unless they were made by other rules, or from other event files: then the events are summed.
    let mut other = swapped.clone();
    other.breakdowns_rules = Some("sha256:0000000000000000".into());
    assert_eq!(breakdowns_of(&cfg, &other).await.unwrap(), from_events);
    let mut moved = swapped;
    for sums in moved.month_breakdowns.values_mut() {
        sums.events = vec!["events/month=2025-04/part-other.parquet".into()];
    }
    assert_eq!(breakdowns_of(&cfg, &moved).await.unwrap(), from_events);

    // A warehouse without them (format 4) gets them from the next run, with nothing new.
    let mut old = stored.clone();
    old.month_breakdowns.clear();
    old.breakdowns_rules = None;
    old.format = 4;
    old.version += 1;
    wh.publish(&old).await.unwrap();
    run_with(&cfg, QUIET, |c| Warehouse::open(&c.warehouse)).await.unwrap();
    let upgraded = wh.current().await.unwrap();
    assert_eq!((upgraded.version, upgraded.format), (old.version + 1, 5));
    assert_eq!(upgraded.month_breakdowns.len(), 3);
    assert_eq!(breakdowns_of(&cfg, &upgraded).await.unwrap(), from_events);
    run_with(&cfg, QUIET, |c| Warehouse::open(&c.warehouse)).await.unwrap();
    assert_eq!(wh.current().await.unwrap().version, upgraded.version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_2_warehouse_is_read_as_it_is_and_a_corrected_month_becomes_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = project(dir.path());
    run_with(&cfg, QUIET, |c| Warehouse::open(&c.warehouse)).await.unwrap();
    let counts = monthly_counts(&cfg).await;
    as_format_2(&cfg).await;
    let wh = Warehouse::open(&cfg.warehouse).unwrap();
    let old = wh.current().await.unwrap();
    assert_eq!((old.format, old.version), (2, 2));
    assert_eq!(old.event_files().len(), old.partitions.len(), "one file per hospital-month");
    // Read as it is: the same numbers, and the damage checks pass.
    assert_eq!(monthly_counts(&cfg).await, counts);
    wh.check_digests(&old).await.unwrap();

    // May is corrected (its last row dropped): May becomes one file of every hospital's rows;
    // April and June keep their files of format 2, byte for byte.
    let may = dir.path().join("events/2025-05.csv");
    let text = std::fs::read_to_string(&may).unwrap();
    let kept: Vec<&str> = text.lines().collect();
    std::fs::write(&may, format!("{}\n", kept[..kept.len() - 1].join("\n"))).unwrap();
    run_with(&cfg, QUIET, |c| Warehouse::open(&c.warehouse)).await.unwrap();
    let new = wh.current().await.unwrap();
    assert_eq!((new.format, new.version), (crate::warehouse::FORMAT, 3));
    for (key, p) in &new.partitions {
        if p.month == "2025-05" {
            assert!(p.file.starts_with("events/month=2025-05/part-"), "{key}: {}", p.file);
        } else {
            // The same file; its counts stored now (format 2 had none).
            assert!(p.counts.is_some(), "{key} has no counts");
            let mut was = old.partitions[key].clone();
            was.counts = p.counts.clone();
            assert_eq!(p, &was, "{key} changed");
        }
    }
    let may_files: std::collections::BTreeSet<&str> =
        new.partitions.values().filter(|p| p.month == "2025-05").map(|p| p.file.as_str()).collect();
    assert_eq!(may_files.len(), 1);

    // The numbers equal those of a warehouse built from the corrected files from scratch.
    let clean_dir = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), clean_dir.path());
    std::fs::remove_dir_all(clean_dir.path().join("warehouse")).unwrap();
    let clean_cfg = Config::load(&clean_dir.path().join("refrate.yaml")).unwrap();
    run_with(&clean_cfg, QUIET, |c| Warehouse::open(&c.warehouse)).await.unwrap();
    assert_eq!(monthly_counts(&cfg).await, monthly_counts(&clean_cfg).await);
    assert_ne!(monthly_counts(&cfg).await, counts, "the correction changed nothing");
}

/// Every file of a reports folder by name (the render record aside), pages without the minute
/// they were made at ([`crate::testing::without_time`]).
fn report_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .filter(|(name, _)| name != ".refrate_rendered.json")
        .map(|(name, bytes)| match std::str::from_utf8(&bytes) {
            Ok(_) => (name, crate::testing::without_time(&bytes).into_bytes()),
            Err(_) => (name, bytes),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_rendered_one_hospital_at_a_time_are_the_pages_of_all_at_once() {
    // Four hospitals over fifteen months (two fiscal years, rolling windows, forms), a fifth
    // with reported counts only, approval facts (one for a hospital without data) and a copy
    // to share: every kind of page.
    let dir = tempfile::tempdir().unwrap();
    let spec = crate::sample::SampleSpec {
        events: 6000,
        hospitals: 4,
        months: 15,
        partners: 40,
        start: "2024-04".into(),
        seed: 5,
    };
    crate::sample::write(dir.path(), &spec).unwrap();
    std::fs::write(dir.path().join("key"), "group-test-key-0123456789").unwrap();
    std::fs::set_permissions(dir.path().join("key"), std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .unwrap();
    let codes: Vec<String> = std::fs::read_to_string(dir.path().join("hospitals.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 4);
    let facts: String =
        codes.iter().chain(["2711000105".to_string()].iter()).map(|c| format!("{c},FY2024,300\n")).collect();
    std::fs::write(dir.path().join("facts.csv"), format!("hospital_code,fiscal_year,beds\n{facts}")).unwrap();
    std::fs::create_dir(dir.path().join("counts")).unwrap();
    std::fs::write(
        dir.path().join("counts/reported.csv"),
        "hospital_code,period,initial_patients,referred_patients,reverse_referred_patients\n\
         4011000207,FY2024,1000,700,500\n",
    )
    .unwrap();
    let mut yaml = std::fs::read_to_string(dir.path().join("refrate.yaml"))
        .unwrap()
        .replace("    kind: events\n", "    kind: events\n  - path: counts/*.csv\n    kind: aggregates\n");
    yaml.push_str("pseudonym_key_file: key\napproval_facts: facts.csv\nsuppress_below: 10\n");
    std::fs::write(dir.path().join("refrate.yaml"), yaml).unwrap();
    let cfg = Config::load(&dir.path().join("refrate.yaml")).unwrap();
    // `run` renders the four hospitals as one group.
    run_with(&cfg, QUIET, |c| Warehouse::open(&c.warehouse)).await.unwrap();
    let together = report_files(&cfg.reports);

    let mut apart = cfg.clone();
    apart.reports = dir.path().join("apart");
    let warehouse = Warehouse::open(&cfg.warehouse).unwrap();
    let manifest = warehouse.current().await.unwrap();
    let set = crate::regimes::RegimeSet::load(&cfg.regime_files).unwrap();
    let regimes = super::selected_regimes(&set, &cfg.regimes).unwrap();
    let hospitals = super::load_hospitals(cfg.hospitals.as_ref()).unwrap();
    let partners = super::load_hospitals(cfg.partners.as_ref()).unwrap();
    let facts = crate::ingest::load_facts(cfg.approval_facts.as_ref()).unwrap();
    let renderer = crate::report::Renderer::new(None).unwrap();
    let masters = super::reports::Masters { hospitals: &hospitals, partners: &partners, facts: &facts };
    let pages = super::reports::Pages {
        cfg: &apart,
        warehouse: &warehouse,
        manifest: &manifest,
        regimes: &regimes,
        masters,
        renderer: &renderer,
    };
    // A group holds one hospital: its fifteen months exceed one monthly row.
    super::reports::render_in_groups(pages, None, 1).await.unwrap();
    let one_by_one = report_files(&apart.reports);
    // The same on a runtime of one thread, where the groups cannot be evaluated beside the
    // rendering.
    let mut single = apart.clone();
    single.reports = dir.path().join("single");
    let pages = super::reports::Pages {
        cfg: &single,
        warehouse: &warehouse,
        manifest: &manifest,
        regimes: &regimes,
        masters,
        renderer: &renderer,
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(super::reports::render_in_groups(pages, None, 1)).unwrap();
        });
    });
    assert_eq!(report_files(&single.reports), one_by_one);

    for kind in ["FY2024.html", "shared_FY2024.html", "form28_FY2024.html", "forms_FY2024.json"] {
        let of_kind = together
            .keys()
            .filter_map(|n| n.split_once('_'))
            .filter(|(code, k)| codes.iter().any(|c| c == code) && *k == kind);
        assert_eq!(of_kind.count(), 4, "{kind}");
    }
    assert!(together.contains_key("4011000207_FY2024.html"), "the hospital with reported counts only");
    assert!(String::from_utf8_lossy(&together["index_FY2024.html"]).contains("承認要件の判定（6 病院）"));
    assert!(String::from_utf8_lossy(&together["index_FY2024.html"]).contains("作成日時 (time)"));
    assert_eq!(together.keys().collect::<Vec<_>>(), one_by_one.keys().collect::<Vec<_>>());
    for (name, bytes) in &together {
        assert!(bytes == &one_by_one[name], "{name} differs when rendered hospital by hospital");
    }
}
