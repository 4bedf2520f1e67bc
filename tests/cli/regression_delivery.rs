//! Issue 10, case 4: real delivery habits (a file delivered twice, a moved export folder, a
//! cumulative export, a newer export of a month already delivered) must neither stop the run
//! nor change the numbers silently.

use crate::common::*;

const H: &str = "2711000105";
const PARTNER: &str = "1311009904";

/// `n` referred first visits of hospital `H` on `date`, patients `{prefix}1…`: a month that
/// passes (referral 100 %: criterion A), so a run that accepts it exits 0.
fn month(prefix: &str, date: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| row(H, date, "first_visit", &format!("{prefix}{i}"), PARTNER, [1, 0, 0, 0, 0])).collect()
}

fn validate(p: &Project) -> std::process::Output {
    let config = p.config();
    p.refrate(&["validate", "--config", config.to_str().unwrap()])
}

/// `validate`, then `run`, on the same state (issue 12: `validate` reads exactly as `run`
/// does): both exit `code`, the report of one says `report` and the summary or error of the
/// other `says`.
fn validate_then_run(p: &Project, code: i32, report: &str, says: &str) {
    let checked = validate(p);
    assert_code(&checked, code);
    assert!(stdout(&checked).contains(report), "validate: {}", stdout(&checked));
    let out = p.run();
    assert_code(&out, code);
    assert!(stderr(&out).contains(says), "run: {}", stderr(&out));
}

/// The monthly counts of `rates --period month`, first 8 columns, without the header.
fn months(p: &Project) -> Vec<String> {
    first_columns(&stdout(&p.rates("month", &[])), 8)[1..].to_vec()
}

fn events_checksums(p: &Project) -> std::collections::BTreeMap<std::path::PathBuf, String> {
    checksums(&p.path("warehouse/events"))
}

/// `run`, which exits 0 and says each of `lines`; its stderr.
fn run_saying(p: &Project, lines: &[&str]) -> String {
    let out = p.run();
    assert_code(&out, 0);
    let err = stderr(&out);
    for line in lines {
        assert!(err.contains(line), "missing {line:?} in: {err}");
    }
    err
}

#[test]
fn same_export_under_another_name_is_skipped_not_rejected() {
    let p = Project::new("");
    p.input("x.csv", &month("A", "2025-04-01", 10));
    assert_code(&p.run(), 0);
    let before = months(&p);
    assert_eq!(before, ["2711000105,2025-04,10,0,0,0,10,10"]);
    let data = events_checksums(&p);
    // The liaison office saves the same export again; the browser names it "x (1).csv".
    std::fs::copy(p.path("inputs/x.csv"), p.path("inputs/x (1).csv")).unwrap();

    let checked = validate(&p);
    assert_code(&checked, 0);
    let report = stdout(&checked);
    assert!(
        report.contains("inputs/x (1).csv: same content as inputs/x.csv (already ingested)"),
        "validate names the earlier file, not the copy's original as the duplicate: {report}"
    );
    assert!(!report.contains("duplicate"), "{report}");

    let err = run_saying(&p, &["inputs/x (1).csv: same content as inputs/x.csv (already ingested): skipped"]);
    assert!(err.contains("2 file(s) read (0 new, 2 skipped"), "{err}");
    assert_eq!(months(&p), before);
    assert_eq!(events_checksums(&p), data, "nothing was rewritten");
    let rejects = csv_for_people(&p.path("reports/rejects.csv"));
    assert_eq!(rejects.lines().count(), 1, "no reject: {rejects}");
}

/// Issue 12: a settled event file whose size no stored source and no other file of the run
/// shares cannot be a copy, so it is hashed once, while it is read. Copies among settled
/// files are still found, and every source is recorded with its content's SHA-256.
#[test]
fn settled_files_are_hashed_while_read_and_copies_among_them_are_still_found() {
    let p = Project::new("");
    p.input("x.csv", &month("A", "2025-04-01", 10));
    age_file(&p.path("inputs/x.csv"), 3600);
    assert_code(&p.run(), 0);
    // A copy of a stored file, two identical files of one run, and one of a size of its own.
    std::fs::copy(p.path("inputs/x.csv"), p.path("inputs/x (1).csv")).unwrap();
    p.input("w1.csv", &month("B", "2025-05-01", 4));
    std::fs::copy(p.path("inputs/w1.csv"), p.path("inputs/w2.csv")).unwrap();
    p.input("v.csv", &month("C", "2025-06-01", 7));
    for name in ["x (1).csv", "w1.csv", "w2.csv", "v.csv"] {
        age_file(&p.path(&format!("inputs/{name}")), 3600);
    }
    run_saying(
        &p,
        &[
            "inputs/x (1).csv: same content as inputs/x.csv (already ingested): skipped",
            "inputs/w2.csv: same content as inputs/w1.csv (delivered in this run): skipped",
        ],
    );
    assert_eq!(
        months(&p),
        [
            "2711000105,2025-04,10,0,0,0,10,10",
            "2711000105,2025-05,4,0,0,0,4,4",
            "2711000105,2025-06,7,0,0,0,7,7"
        ]
    );
    let manifest = latest_manifest(&p.path("warehouse"));
    for name in ["x.csv", "w1.csv", "v.csv"] {
        let source = &manifest["sources"][format!("inputs/{name}")];
        assert_eq!(source["sha256"], sha256_of(&p.path(&format!("inputs/{name}"))), "{name}: {manifest}");
        assert!(source["stat"]["size"].is_u64(), "{name}: {manifest}");
    }
    // Rewritten with another size: read as new, recorded with its new content's hash.
    p.input("v.csv", &month("C", "2025-06-01", 8));
    age_file(&p.path("inputs/v.csv"), 1800);
    assert_code(&p.run(), 0);
    let manifest = latest_manifest(&p.path("warehouse"));
    assert_eq!(manifest["sources"]["inputs/v.csv"]["sha256"], sha256_of(&p.path("inputs/v.csv")));
    assert_eq!(months(&p)[2], "2711000105,2025-06,8,0,0,0,8,8");
}

#[test]
fn moved_export_folder_is_skipped() {
    let config = |folder: &str| {
        format!(
            "warehouse: warehouse\nreports: reports\ninputs:\n  - path: {folder}/*.csv\n    kind: events\n"
        )
    };
    let p = Project::with_config(&config("exports"));
    p.write("exports/2025-04.csv", &format!("{HEADER}\n{}\n", month("A", "2025-04-01", 10).join("\n")));
    assert_code(&p.run(), 0);
    let before = months(&p);
    let data = events_checksums(&p);
    // The folder is moved (a new file server) and the config follows it.
    std::fs::create_dir_all(p.path("archive")).unwrap();
    std::fs::rename(p.path("exports/2025-04.csv"), p.path("archive/2025-04.csv")).unwrap();
    std::fs::write(p.config(), config("archive")).unwrap();

    let out = p.run();
    assert_code(&out, 0);
    let err = stderr(&out);
    assert!(
        err.contains("archive/2025-04.csv: same content as exports/2025-04.csv (already ingested): skipped"),
        "{err}"
    );
    assert!(err.contains("0 rejected"), "{err}");
    assert_eq!(months(&p), before);
    assert_eq!(events_checksums(&p), data);
    // The next month's export, in the new folder, is ingested as usual.
    p.write("archive/2025-05.csv", &format!("{HEADER}\n{}\n", month("B", "2025-05-01", 4).join("\n")));
    assert_code(&p.run(), 0);
    assert_eq!(months(&p), ["2711000105,2025-04,10,0,0,0,10,10", "2711000105,2025-05,4,0,0,0,4,4"]);
}

#[test]
fn cumulative_export_runs_green_and_changes_nothing() {
    let p = Project::new("");
    let april = month("A", "2025-04-01", 10);
    let may = month("B", "2025-05-07", 10);
    p.input("2025-04.csv", &april);
    p.input("2025-05.csv", &may);
    assert_code(&p.run(), 0);
    let before = months(&p);
    let data = events_checksums(&p);
    // The hospital's system exports the fiscal year to date (April–May) and sends it again:
    // every row is already stored (80 % of a 5-month export, say, in real life).
    p.input("fy2025_to_date.csv", &[april.clone(), may.clone()].concat());

    let checked = validate(&p);
    assert_code(&checked, 0);
    let report = stdout(&checked);
    assert!(report.contains("inputs/fy2025_to_date.csv: 20 rows read, 20 valid (20 already present in inputs/2025-04.csv, inputs/2025-05.csv), 0 rejected"), "{report}");
    assert!(!report.contains("UNUSABLE") && !report.contains("duplicate"), "{report}");

    let out = p.run();
    assert_code(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("20 rows, 0 rejected, 20 already present"), "{err}");
    assert!(!err.contains("max_reject_ratio"), "{err}");
    assert_eq!(months(&p), before);
    assert_eq!(events_checksums(&p), data, "no partition was rewritten");
    let m = latest_manifest(&p.path("warehouse"));
    let s = &m["sources"]["inputs/fy2025_to_date.csv"];
    assert_eq!(s["rows_already_present"], 20, "{s}");
    assert_eq!(s["rows_rejected"], 0, "{s}");
    assert_eq!(s["already_present_in"]["inputs/2025-04.csv"], 10, "{s}");
    assert_eq!(s["already_present_in"]["inputs/2025-05.csv"], 10, "{s}");
    let rejects = csv_for_people(&p.path("reports/rejects.csv"));
    assert_eq!(rejects.lines().count(), 1, "no reject: {rejects}");

    // Next month the same export, now April–June, replaces itself: only June is new.
    p.input("fy2025_to_date.csv", &[april, may, month("C", "2025-06-02", 5)].concat());
    let out = p.run();
    assert_code(&out, 0);
    assert!(stderr(&out).contains("25 rows, 0 rejected, 20 already present"), "{}", stderr(&out));
    assert_eq!(
        months(&p),
        [
            "2711000105,2025-04,10,0,0,0,10,10",
            "2711000105,2025-05,10,0,0,0,10,10",
            "2711000105,2025-06,5,0,0,0,5,5"
        ]
    );
}

#[test]
fn overlapping_extract_adds_only_its_new_days() {
    let p = Project::new("");
    p.input("2025-04.csv", &month("A", "2025-04-01", 10));
    assert_code(&p.run(), 0);
    // An extract from 1 April to 10 May: April repeats what is stored, May is new.
    let extract = [month("A", "2025-04-01", 10), month("B", "2025-05-10", 3)].concat();
    p.input("extract_0401_0510.csv", &extract);
    let out = p.run();
    assert_code(&out, 0);
    assert!(stderr(&out).contains("13 rows, 0 rejected, 10 already present"), "{}", stderr(&out));
    assert_eq!(months(&p), ["2711000105,2025-04,10,0,0,0,10,10", "2711000105,2025-05,3,0,0,0,3,3"]);
}

#[test]
fn rows_repeated_by_another_file_of_the_same_run_are_already_present() {
    let p = Project::new("");
    p.input("a.csv", &month("A", "2025-04-01", 10));
    // b.csv repeats all of a.csv and adds a day: with the default max_reject_ratio (1 %) this
    // stopped the run before.
    p.input("b.csv", &[month("A", "2025-04-01", 10), month("B", "2025-04-02", 2)].concat());
    validate_then_run(
        &p,
        0,
        "inputs/b.csv: 12 rows read, 12 valid (10 already present in inputs/a.csv), 0 rejected",
        "22 rows, 0 rejected, 10 already present",
    );
    assert_eq!(months(&p), ["2711000105,2025-04,12,0,0,0,12,12"]);
}

#[test]
fn duplicates_within_one_file_stay_rejects() {
    let p = Project::new("max_reject_ratio: 0.5\n");
    p.input("2025-04.csv", &month("A", "2025-04-01", 4));
    assert_code(&p.run(), 0);
    // A broken export: line 3 repeats line 2, and both are also already stored.
    let mut broken = month("A", "2025-04-01", 4);
    broken.insert(1, broken[0].clone());
    broken.push(row(H, "2025-04-02", "first_visit", "Z1", PARTNER, [1, 0, 0, 0, 0]));
    p.input("2025-04-again.csv", &broken);
    let out = p.run();
    // Rejects make the run ask for review.
    let err = stderr(&out);
    assert!(err.contains("1 rejected, 4 already present"), "{err}");
    let rejects = csv_for_people(&p.path("reports/rejects.csv"));
    let lines: Vec<&str> = rejects.lines().skip(1).collect();
    assert_eq!(lines.len(), 1, "{rejects}");
    assert!(lines[0].starts_with("inputs/2025-04-again.csv,3,"), "{rejects}");
    assert!(lines[0].contains("duplicate") && lines[0].contains("line 2"), "{rejects}");
    assert_eq!(months(&p), ["2711000105,2025-04,5,0,0,0,5,5"]);
}

/// April as first delivered, and a corrected re-export: one record lost its letter, one
/// record was removed, one was added.
fn april_and_correction() -> (Vec<String>, Vec<String>) {
    let april = month("A", "2025-04-01", 10);
    let mut corrected = april.clone();
    corrected[0] = row(H, "2025-04-01", "first_visit", "A1", "", [0, 0, 0, 0, 0]);
    corrected.remove(9);
    corrected.push(row(H, "2025-04-01", "first_visit", "A11", PARTNER, [1, 0, 0, 0, 0]));
    (april, corrected)
}

#[test]
fn differing_reexport_of_a_month_is_refused_naming_both_files() {
    let p = Project::new("");
    let (april, corrected) = april_and_correction();
    p.input("2025-04.csv", &april);
    assert_code(&p.run(), 0);
    let before = months(&p);
    let data = events_checksums(&p);
    p.input("2025-04_corrected.csv", &corrected);
    let out = p.run();
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("inputs/2025-04_corrected.csv")
            && err.contains("inputs/2025-04.csv")
            && err.contains("2711000105/2025-04")
            && err.contains("overlap: replace"),
        "{err}"
    );
    assert!(err.contains("nothing was published"), "{err}");
    assert_eq!(months(&p), before);
    assert_eq!(events_checksums(&p), data);
}

#[test]
fn overlap_replace_replaces_the_hospital_month() {
    let p = Project::new("overlap: replace\n");
    let (april, corrected) = april_and_correction();
    p.input("2025-04.csv", &april);
    p.input("2025-05.csv", &month("B", "2025-05-01", 3));
    assert_code(&p.run(), 0);
    let may = checksums(&p.path("warehouse/events/hospital=2711000105/month=2025-05"));
    p.input("2025-04_corrected.csv", &corrected);
    let out = p.run();
    // 9 of 10 referred: 90 %, still criterion A.
    assert_code(&out, 0);
    let err = stderr(&out);
    assert!(
        err.contains("inputs/2025-04_corrected.csv replaces 2711000105/2025-04 (was inputs/2025-04.csv; overlap: replace)"),
        "{err}"
    );
    // April is the corrected file alone: 10 first visits, 9 referred; May is untouched.
    assert_eq!(months(&p), ["2711000105,2025-04,10,0,0,0,10,9", "2711000105,2025-05,3,0,0,0,3,3"]);
    assert_eq!(checksums(&p.path("warehouse/events/hospital=2711000105/month=2025-05")), may);
    let m = latest_manifest(&p.path("warehouse"));
    assert_eq!(
        m["partitions"]["2711000105/2025-04"]["sources"],
        serde_json::json!(["inputs/2025-04_corrected.csv"])
    );
    assert_eq!(
        m["sources"]["inputs/2025-04_corrected.csv"]["replaced"]["2711000105/2025-04"],
        serde_json::json!(["inputs/2025-04.csv"])
    );
    assert_eq!(m["sources"]["inputs/2025-04.csv"]["partitions"], serde_json::json!([]));
}

#[test]
fn two_differing_exports_of_a_month_in_one_run_are_refused_even_with_replace() {
    // Which of two files delivered together is the newer cannot be told from their names.
    let p = Project::new("overlap: replace\n");
    let (april, corrected) = april_and_correction();
    p.input("2025-04.csv", &april);
    p.input("2025-04_corrected.csv", &corrected);
    let checked = validate(&p);
    assert_code(&checked, 2);
    assert!(
        stdout(&checked).contains("inputs/2025-04_corrected.csv")
            && stdout(&checked).contains("inputs/2025-04.csv")
    );
    let out = p.run();
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("inputs/2025-04_corrected.csv")
            && err.contains("inputs/2025-04.csv")
            && err.contains("same run"),
        "{err}"
    );
}

#[test]
fn reexport_with_every_row_changed_is_refused_not_counted_twice() {
    // The same April re-exported after a department column was re-mapped: no row is
    // identical to a stored one, but it covers the same day. Adding it would double April.
    let p = Project::new("");
    p.input("2025-04.csv", &month("A", "2025-04-01", 10));
    assert_code(&p.run(), 0);
    let before = months(&p);
    let remapped: Vec<String> =
        month("A", "2025-04-01", 10).iter().map(|r| r.replace("内科", "01")).collect();
    p.input("2025-04_v2.csv", &remapped);
    let out = p.run();
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("inputs/2025-04_v2.csv") && err.contains("inputs/2025-04.csv"), "{err}");
    assert_eq!(months(&p), before);
    // A hospital that really delivers one export per department says so.
    let config = std::fs::read_to_string(p.config()).unwrap() + "overlap: add\n";
    std::fs::write(p.config(), config).unwrap();
    assert_code(&p.run(), 0);
    assert_eq!(first_columns(&months(&p).join("\n"), 3), [format!("{H},2025-04,20")]);
}

// Issue 12: `validate` judged deliveries against the input files still in the folder (stand-ins
// for the stored rows, under a throwaway key) and left out checks `run` makes, so it could pass
// a file `run` then refused, or miss that a file only repeats what is stored.

/// April delivered and stored, then archived out of the inputs folder, as liaison offices do
/// once a month is filed.
fn april_stored_and_archived() -> Project {
    let p = Project::new("");
    p.input("2025-04.csv", &month("A", "2025-04-01", 10));
    assert_code(&p.run(), 0);
    std::fs::create_dir_all(p.path("archive")).unwrap();
    std::fs::rename(p.path("inputs/2025-04.csv"), p.path("archive/2025-04.csv")).unwrap();
    p
}

#[test]
fn validate_judges_a_delivery_against_the_stored_rows_not_the_files_left_in_the_folder() {
    // A re-export of April that lost a row and gained one: `run` refuses it. The file it
    // differs from is stored but no longer in the folder.
    let p = april_stored_and_archived();
    let mut corrected = month("A", "2025-04-01", 10);
    corrected.remove(9);
    corrected.push(row(H, "2025-04-01", "first_visit", "A11", PARTNER, [1, 0, 0, 0, 0]));
    p.input("2025-04_v2.csv", &corrected);
    let checked = validate(&p);
    let report = stdout(&checked);
    assert_code(&checked, 2);
    assert!(
        report.contains("inputs/2025-04_v2.csv")
            && report.contains("inputs/2025-04.csv")
            && report.contains("overlap"),
        "{report}"
    );
    let out = p.run();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("differ from those of inputs/2025-04.csv"), "{}", stderr(&out));

    // A cumulative export that repeats April and adds May: April's rows are already present.
    std::fs::remove_file(p.path("inputs/2025-04_v2.csv")).unwrap();
    p.input("fy2025_to_date.csv", &[month("A", "2025-04-01", 10), month("B", "2025-05-07", 4)].concat());
    validate_then_run(
        &p,
        0,
        "inputs/fy2025_to_date.csv: 14 rows read, 14 valid (10 already present in inputs/2025-04.csv), 0 rejected",
        "14 rows, 0 rejected, 10 already present",
    );
}

#[test]
fn validate_stops_where_run_stops_on_an_emptied_file_and_on_two_sources_for_a_month() {
    let p = Project::with_config(
        "warehouse: warehouse\nreports: reports\ninputs:\n  - path: inputs/*.csv\n    kind: events\n  - path: counts/*.csv\n    kind: aggregates\n    optional: true\n",
    );
    p.input("2025-04.csv", &month("A", "2025-04-01", 10));
    assert_code(&p.run(), 0);

    // The same file exported again by a failed job: a header and no row.
    p.input("2025-04.csv", &[]);
    let checked = validate(&p);
    assert_code(&checked, 2);
    assert!(
        stdout(&checked).contains("inputs/2025-04.csv: this changed file holds no valid row"),
        "{}",
        stdout(&checked)
    );
    let out = p.run();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("holds no valid row"), "{}", stderr(&out));

    // Reported counts for a month the event logs provide.
    p.input("2025-04.csv", &month("A", "2025-04-01", 10));
    p.write(
        "counts/april.csv",
        &format!("hospital_code,period,initial_patients,referred_patients\n{H},2025-04,10,8\n"),
    );
    let checked = validate(&p);
    assert_code(&checked, 2);
    assert!(
        stdout(&checked)
            .contains(&format!("counts/april.csv line 2 reports {H}/2025-04, but inputs/2025-04.csv")),
        "{}",
        stdout(&checked)
    );
    let out = p.run();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("already provides"), "{}", stderr(&out));
}

#[test]
fn validate_with_another_key_or_none_says_what_it_cannot_check() {
    let p = april_stored_and_archived();
    p.input("fy2025_to_date.csv", &[month("A", "2025-04-01", 10), month("B", "2025-05-07", 4)].concat());
    let config = p.config();
    let args = ["validate", "--config", config.to_str().unwrap()];

    // Under another key no row could match a stored one: `run` refuses, and so must validate.
    let other = refrate_in(p.dir.path(), &args, Some("another-key-0123456789abcdef"));
    assert_code(&other, 2);
    assert!(stderr(&other).contains("is not the one this warehouse was built with"), "{}", stderr(&other));

    // Without a key, rows cannot be compared with stored ones: said, and not a green.
    let without = p.refrate_without_key(&args);
    assert_code(&without, 2);
    let report = stdout(&without);
    assert!(
        report.contains("inputs/fy2025_to_date.csv")
            && report.contains("2025-04")
            && report.contains("REFRATE_PSEUDONYM_KEY"),
        "{report}"
    );

    // A month nothing is stored for needs no key, and neither does another hospital's April:
    // rows are compared within a hospital-month, and that one holds nothing yet.
    std::fs::remove_file(p.path("inputs/fy2025_to_date.csv")).unwrap();
    p.input("2025-05.csv", &month("B", "2025-05-07", 4));
    let other = "4011000207";
    p.input("other_2025-04.csv", &[row(other, "2025-04-01", "first_visit", "C1", PARTNER, [1, 0, 0, 0, 0])]);
    let without = p.refrate_without_key(&args);
    assert_code(&without, 0);
    assert!(
        stdout(&without).contains("inputs/2025-05.csv: 4 rows read, 4 valid, 0 rejected")
            && stdout(&without).contains("inputs/other_2025-04.csv: 1 rows read, 1 valid, 0 rejected"),
        "{}",
        stdout(&without)
    );
}
