//! Regression tests for issue 9, case 3: raw patient numbers leaked when a row's columns were
//! shifted (into a reject's value, hence rejects.csv, the rejects Parquet, the hospital page,
//! `validate` and `mapping suggest`), and a mapping that swapped `department` and `patient_id`
//! stored every raw number as a department.

use std::collections::BTreeSet;

use crate::common::*;

const H: &str = "0110113719";
const PARTNER: &str = "1311009904";

/// `n` valid rows, patient numbers 99000001.., in the canonical column order.
fn valid_rows(n: u32, departments: &[&str]) -> (Vec<String>, BTreeSet<String>) {
    let mut rows = Vec::new();
    let mut ids = BTreeSet::new();
    for i in 0..n {
        let id = format!("{:08}", 99_000_001 + i);
        let dept = departments[i as usize % departments.len()];
        let kind = ["first_visit", "return_visit", "referral_out"][i as usize % 3];
        let partner = if i % 2 == 0 { PARTNER } else { "" };
        rows.push(format!("{H},2025-04-{:02},{kind},{id},{dept},{},{partner},0,0,0,0", i % 28 + 1, i % 2));
        ids.insert(id);
    }
    (rows, ids)
}

/// Rows whose patient number landed in another column, each a reject today. Returns the rows,
/// the numbers they hold and the reason each one is rejected for.
fn shifted_rows() -> (Vec<String>, BTreeSet<String>, Vec<&'static str>) {
    let rows = vec![
        // The row: the number where the visit type belongs, and the type after it.
        format!("{H},2025-04-10,99100001,first_visit,内科,1,,0,0,0,0"),
        // The number in the date column, everything after it shifted by one.
        format!("{H},99100002,2025-04-10,first_visit,内科,1,,0,0,0,0"),
        // The number in the hospital code's column.
        format!("99100003,{H},2025-04-11,first_visit,内科,1,,0,0,0,0"),
        // The row's own number again, in the partner code's column.
        format!("{H},2025-04-12,first_visit,99100004,内科,1,99100004,0,0,0,0"),
        // A number in a flag column (the row's own number is in place).
        format!("{H},2025-04-13,first_visit,X0000001,内科,99100005,,0,0,0,0"),
    ];
    let mut ids: BTreeSet<String> = (1..=5).map(|i| format!("{:08}", 99_100_000 + i)).collect();
    ids.insert("X0000001".into());
    let reasons = vec!["unknown_event_type", "bad_date", "bad_hospital_code", "bad_partner_code", "bad_flag"];
    (rows, ids, reasons)
}

/// Everything a user could see: every file below the project (Parquet decoded value by value,
/// inputs excluded) and the captured output of each command.
fn visible_texts(p: &Project, outputs: &[(&str, &std::process::Output)]) -> Vec<(String, String)> {
    let mut files = p.files_under("warehouse");
    files.extend(p.files_under("reports"));
    let mut texts = decoded_texts(&files);
    for (name, o) in outputs {
        texts.push((format!("{name} stdout"), stdout(o)));
        texts.push((format!("{name} stderr"), stderr(o)));
    }
    texts
}

#[test]
fn shifted_row_does_not_leak_patient_number_into_rejects() {
    let p = Project::new("max_reject_ratio: 0.5\n");
    let (mut rows, mut ids) = valid_rows(30, &["内科", "外科", "小児科", ""]);
    let (shifted, shifted_ids, reasons) = shifted_rows();
    rows.extend(shifted);
    ids.extend(shifted_ids);
    p.input("2025-04.csv", &rows);
    let config = p.config();
    let config = config.to_str().unwrap();

    let validate = p.refrate_without_key(&["validate", "--config", config]);
    assert_code(&validate, 1);
    let suggest = p.refrate_without_key(&["mapping", "suggest", "inputs/2025-04.csv"]);
    assert_code(&suggest, 0);
    let run = p.run();
    assert!(matches!(run.status.code(), Some(0 | 1)), "run: {}", stderr(&run));

    // The rejects are still there, with their line, field and reason, and a masked value.
    let rejects = csv_for_people(&p.path("reports/rejects.csv"));
    for (i, reason) in reasons.iter().enumerate() {
        let line = format!(",{},", 32 + i);
        let rec = rejects
            .lines()
            .find(|l| l.contains(&line) && l.contains(reason))
            .unwrap_or_else(|| panic!("no {reason} reject on line {} in\n{rejects}", 32 + i));
        assert!(rec.contains("***"), "value not masked: {rec}");
    }
    let v = stdout(&validate);
    assert!(v.contains("unknown_event_type") && v.contains("\"***\""), "{v}");

    assert_no_raw_ids(
        &visible_texts(&p, &[("validate", &validate), ("suggest", &suggest), ("run", &run)]),
        &ids,
    );
}

#[test]
fn swapped_department_and_patient_id_mapping_stops_before_storing_numbers() {
    let p = Project::new("    format:\n      columns: { patient_id: department, department: patient_id }\n");
    let (rows, ids) = valid_rows(40, &["内科", "外科", "小児科"]);
    p.input("2025-04.csv", &rows);
    let config = p.config();
    let config = config.to_str().unwrap();

    let validate = p.refrate_without_key(&["validate", "--config", config]);
    assert_code(&validate, 2);
    let v = stdout(&validate);
    assert!(v.contains("inputs/2025-04.csv") && v.contains("\"department\""), "{v}");
    assert!(v.contains("patient numbers"), "says what to check: {v}");

    let run = p.run();
    assert_code(&run, 2);
    let e = stderr(&run);
    assert!(
        e.contains("inputs/2025-04.csv") && e.contains("\"department\"") && e.contains("columns:"),
        "{e}"
    );
    // Nothing was stored: no manifest but the empty version 0 a first run starts with, no page
    // lists the numbers.
    assert!(
        p.files_under("warehouse/_manifest").iter().all(|f| f.ends_with("v00000000000000000000.json")),
        "{:?}",
        p.files_under("warehouse/_manifest")
    );
    assert!(p.files_under("warehouse/events").is_empty());
    assert!(p.files_under("reports").iter().all(|f| !f.to_string_lossy().ends_with(".html")));

    // The ids are checked in every output (the input files excepted).
    let texts = visible_texts(&p, &[("validate", &validate), ("run", &run)]);
    assert_no_raw_ids(&texts, &ids);
}

#[test]
fn swapped_headings_in_the_file_stop_the_run() {
    // The same mistake made by the export: the file's headings are swapped, not the config.
    let p = Project::new("");
    let (rows, ids) = valid_rows(40, &["内科", "外科", "小児科"]);
    let header = HEADER.replace("patient_id,department", "department,patient_id");
    let text = std::iter::once(header).chain(rows).collect::<Vec<_>>().join("\n") + "\n";
    p.write("inputs/2025-04.csv", &text);
    let run = p.run();
    assert_code(&run, 2);
    assert!(stderr(&run).contains("\"department\""), "{}", stderr(&run));
    assert!(p.files_under("warehouse/events").is_empty());
    assert_no_raw_ids(&visible_texts(&p, &[("run", &run)]), &ids);
}

#[test]
fn patient_id_pattern_masks_matching_values_of_any_shape() {
    let p = Project::new("    format:\n      patient_id_pattern: 'K[0-9]+'\nmax_reject_ratio: 0.5\n");
    // Valid numbers have seven digits; the misplaced one has three, a shape not learned, and
    // its row looks unshifted (a patient number in place): only the pattern can tell.
    let mut rows: Vec<String> = (0..20)
        .map(|i| row(H, "2025-04-01", "first_visit", &format!("K{:07}", 1000 + i), "", [0; 5]))
        .collect();
    rows.push(format!("{H},2025-04-02,K123,K0002000,内科,0,,0,0,0,0"));
    p.input("2025-04.csv", &rows);
    let config = p.config();
    let validate = p.refrate_without_key(&["validate", "--config", config.to_str().unwrap()]);
    assert_code(&validate, 1);
    let v = stdout(&validate);
    assert!(v.contains("unknown_event_type") && v.contains("\"***\"") && !v.contains("K123"), "{v}");

    // A pattern that is not a regular expression is a config error naming the option.
    let bad = Project::new("    format:\n      patient_id_pattern: 'K[0-9'\n");
    bad.input("2025-04.csv", &rows);
    let out = bad.refrate_without_key(&["validate", "--config", bad.config().to_str().unwrap()]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("patient_id_pattern"), "{}", stderr(&out));
}

#[test]
fn department_names_and_the_sample_are_not_taken_for_identifiers() {
    // A copy of the sample with its own warehouse: the demo's may hold it already.
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data");
    let copy = tempfile::tempdir().unwrap();
    std::fs::create_dir(copy.path().join("events")).unwrap();
    for entry in std::fs::read_dir(sample.join("events")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.path().join("events").join(path.file_name().unwrap())).unwrap();
    }
    std::fs::copy(sample.join("hospitals.csv"), copy.path().join("hospitals.csv")).unwrap();
    let config = std::fs::read_to_string(sample.join("refrate.yaml")).unwrap().replace("../target/demo/", "");
    std::fs::write(copy.path().join("refrate.yaml"), config).unwrap();
    let out = refrate_in(copy.path(), &["validate", "--config", "refrate.yaml"], None);
    // The sample has a few bad rows on purpose (exit 1), and no suspicious column.
    assert_code(&out, 1);
    assert!(!stdout(&out).contains("UNUSABLE"), "{}", stdout(&out));

    // Numeric department codes are all digits, but they repeat.
    let p = Project::new("");
    let rows: Vec<String> = (0..200)
        .map(|i| format!("{H},2025-04-01,first_visit,{:08},{:04},0,,0,0,0,0", 99_000_001 + i, 1000 + i % 40))
        .collect();
    p.input("2025-04.csv", &rows);
    let out = p.refrate_without_key(&["validate", "--config", p.config().to_str().unwrap()]);
    assert_code(&out, 0);
}
