//! `refrate mapping suggest` and `refrate init`: starting points for a config.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use super::AppError;
use crate::ingest::{self, IdentifierColumn, PatientNumbers, RowPatient};

/// Headings seen in Japanese hospital exports, by canonical field.
const HEADINGS: [(&str, &[&str]); 11] = [
    ("hospital_code", &["医療機関コード", "病院コード", "施設コード", "hospital_code"]),
    ("event_date", &["受診日", "来院日", "診療日", "日付", "年月日", "event_date"]),
    ("event_type", &["区分", "初診/再診", "初再診", "初再診区分", "受診区分", "種別", "event_type"]),
    ("patient_id", &["患者番号", "患者ID", "患者ＩＤ", "カルテ番号", "ID", "patient_id"]),
    ("department", &["診療科", "診療科名", "科", "department"]),
    ("referral_letter", &["紹介状", "紹介状有無", "紹介状の有無", "紹介", "referral_letter"]),
    (
        "partner_code",
        &["紹介元医療機関コード", "紹介先医療機関コード", "連携先コード", "紹介元コード", "partner_code"],
    ),
    ("partner_related", &["関連施設", "開設者関連", "関連", "partner_related"]),
    ("ambulance", &["救急車", "救急搬送", "救急自動車", "ambulance"]),
    ("after_hours_emergency", &["時間外", "休日夜間", "休日・夜間", "夜間休日", "after_hours_emergency"]),
    ("checkup_origin", &["健診", "健診後", "健診から", "checkup_origin"]),
];

const TRUE_WORDS: [&str; 8] = ["1", "○", "〇", "◯", "あり", "有", "有り", "Y"];
const FALSE_WORDS: [&str; 7] = ["0", "", "なし", "無", "無し", "×", "N"];

fn decode(bytes: &[u8]) -> (String, &'static str) {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), "utf-8"),
        // Cut at a line end so a partial multibyte character at the end of the sample does not
        // decide the encoding.
        Err(e) if e.error_len().is_none() => {
            (String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(), "utf-8")
        }
        Err(_) => {
            let (text, _, _) = encoding_rs::SHIFT_JIS.decode(bytes);
            (text.into_owned(), "shift_jis")
        }
    }
}

fn yaml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Prints a starting mapping for `file`: encoding, delimiter, columns and value vocabularies,
/// from its headings and first rows.
/// The input glob for `file` as the config at `config` resolves it: relative to the config's
/// folder when the file is inside it, with the file name made a pattern (`*.csv`, or the digits
/// of a month replaced: `visits_*.csv`) so the next export matches too.
fn input_glob(file: &Path, config: &Path) -> (String, std::path::PathBuf) {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let config = absolute(config);
    let folder = config.parent().map(Path::to_path_buf).unwrap_or_default();
    let file = absolute(file);
    let dir = file.parent().unwrap_or(Path::new(""));
    let dir = dir.strip_prefix(&folder).map(Path::to_path_buf).unwrap_or_else(|_| dir.to_path_buf());
    let ext = file.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    // A name with a run of 6+ digits or YYYY-MM keeps its other characters: `visits_*.csv`.
    let mut pattern = String::new();
    let mut digits = 0;
    for c in stem.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() || (digits > 0 && matches!(c, '-' | '_')) {
            digits += 1;
            continue;
        }
        if digits > 0 {
            pattern.push('*');
            digits = 0;
        }
        if c != '\0' {
            pattern.push(c);
        }
    }
    let name =
        if pattern.contains('*') && pattern != "*" { format!("{pattern}{ext}") } else { format!("*{ext}") };
    let glob = if dir.as_os_str().is_empty() { name } else { format!("{}/{name}", dir.to_string_lossy()) };
    (glob, folder)
}

pub(super) fn suggest(file: &Path, config: &Path) -> Result<String, AppError> {
    let mut buf = vec![0u8; 256 * 1024];
    let n = {
        use std::io::Read;
        let mut f = std::fs::File::open(file).map_err(AppError::io(format!("opening {}", file.display())))?;
        let mut total = 0;
        while total < buf.len() {
            let k = f.read(&mut buf[total..]).map_err(AppError::io(format!("reading {}", file.display())))?;
            if k == 0 {
                break;
            }
            total += k;
        }
        total
    };
    let workbook = crate::ingest::is_workbook(file);
    if !workbook && (buf[..n].starts_with(b"PK\x03\x04") || buf[..n].contains(&0)) {
        return Err(AppError::refused(
            super::Refusal::NotCsv,
            format!(
                "{} is neither a text CSV file nor an .xlsx workbook (an .xls or another binary format); open it in Excel and save it as .xlsx or as CSV, then run this again",
                file.display()
            ),
        ));
    }
    let (text, encoding) = if workbook {
        // Its first sheet, as the reader sees it (one line per row).
        let text = crate::ingest::workbook_as_csv(file, &file.display().to_string(), None)
            .map_err(|e| AppError::refused(super::Refusal::NotCsv, e.to_string()))?;
        (String::from_utf8_lossy(&text).into_owned(), "utf-8")
    } else {
        decode(&buf[..n])
    };
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .ok_or_else(|| AppError::refused(super::Refusal::NotCsv, format!("{} is empty", file.display())))?;
    let delimiter = [',', '\t', ';'].into_iter().max_by_key(|d| header.matches(*d).count()).unwrap_or(',');
    let headings: Vec<String> =
        header.split(delimiter).map(|h| h.trim().trim_matches('"').trim().to_string()).collect();
    let rows: Vec<Vec<String>> = lines
        .take(200)
        .map(|l| l.split(delimiter).map(|v| v.trim().trim_matches('"').trim().to_string()).collect())
        .collect();
    let mut columns: BTreeMap<String, &str> = BTreeMap::new();
    let mut unmapped = Vec::new();
    for h in &headings {
        match HEADINGS.iter().find(|(_, names)| names.contains(&h.as_str())) {
            Some((field, _)) if !columns.values().any(|f| f == field) => {
                columns.insert(h.clone(), field);
            }
            _ => unmapped.push(h.clone()),
        }
    }
    let column_of = |field: &str| headings.iter().position(|h| columns.get(h) == Some(&field));
    // The values shown below go through ingest's rule: none that may be a patient number.
    let default_types = ingest::ValueMaps::default().event_type;
    let is_type = |v: &str| default_types.contains_key(v) || ingest::EventType::parse(v).is_some();
    let patient_col = column_of("patient_id");
    let row_patients: Vec<RowPatient<'_>> = rows
        .iter()
        .map(|r| RowPatient::new(patient_col.and_then(|i| r.get(i)).map(String::as_str), is_type))
        .collect();
    let mut numbers = PatientNumbers::default();
    for (r, patient) in rows.iter().zip(&row_patients) {
        // A shifted row's patient column holds another field's value, not a number.
        if let Some(p) = patient_col.and_then(|i| r.get(i))
            && !patient.is_shifted()
        {
            numbers.learn(p);
        }
    }
    let mut departments = IdentifierColumn::new();
    if let Some(i) = column_of("department") {
        rows.iter().filter_map(|r| r.get(i)).for_each(|v| departments.observe(v));
        if departments.verdict().is_some() {
            // The patient numbers are probably there.
            rows.iter().filter_map(|r| r.get(i)).for_each(|v| numbers.learn(v));
        }
    }
    let values_of = |field: &str| -> BTreeSet<String> {
        let Some(i) = column_of(field) else {
            return BTreeSet::new();
        };
        rows.iter()
            .zip(&row_patients)
            .filter_map(|(r, patient)| {
                let v = r.get(i)?;
                Some(if numbers.must_hide(v, patient) { ingest::MASK.to_string() } else { v.clone() })
            })
            .collect()
    };
    let mut out = String::new();
    let _ = writeln!(out, "# Suggested by `refrate mapping suggest {}`.", file.display());
    let _ = writeln!(out, "# Encoding guessed from the bytes: {encoding}. Check every line before use.");
    if let (Some(e), Some(i)) = (departments.verdict(), column_of("department")) {
        let _ = writeln!(
            out,
            "# WARNING: column {:?} looks like identifiers, not department names ({} % of {} values mostly \
             digits, {} % distinct): is it the patient number? `refrate run` would stop on it.",
            headings[i], e.identifier_like_percent, e.values, e.distinct_percent
        );
    }
    let shifted = row_patients.iter().filter(|p| p.is_shifted()).count();
    if shifted > 0 {
        let _ = writeln!(
            out,
            "# {shifted} sampled row(s) hold a visit type or a date in the patient-number column \
             (shifted columns?); their values are shown as {}.",
            ingest::MASK
        );
    }
    let (glob, folder) = input_glob(file, config);
    let _ = writeln!(
        out,
        "# path: relative to {} (the folder of {}); a glob, so next month's export is read too",
        folder.display(),
        config.display()
    );
    let _ = writeln!(out, "- path: {}", yaml_str(&glob));
    let _ = writeln!(out, "  kind: events");
    let _ = writeln!(out, "  format:");
    let _ = writeln!(out, "    encoding: {encoding}");
    if delimiter != ',' {
        let _ = writeln!(out, "    delimiter: {}", yaml_str(&delimiter.to_string()));
    }
    let _ = writeln!(out, "    columns:");
    for (heading, field) in &columns {
        if heading != field {
            let _ = writeln!(out, "      {}: {field}", yaml_str(heading));
        }
    }
    let missing: Vec<&str> =
        HEADINGS.iter().map(|(f, _)| *f).filter(|field| !columns.values().any(|f| f == field)).collect();
    for field in &missing {
        let _ =
            writeln!(out, "      # ?: {field}   (no heading recognised: map it, or see optional_columns)");
    }
    let optional: Vec<&str> = missing.iter().copied().filter(|f| *f != "department").collect();
    if !optional.is_empty() {
        let _ = writeln!(
            out,
            "    # Only if this export really has no such column (it then reads as 0; a column the counts need must \
             otherwise be mapped):\n    # optional_columns: [{}]",
            optional.join(", ")
        );
    }
    let types = values_of("event_type");
    let known_types = ["first_visit", "return_visit", "referral_out"];
    let _ = writeln!(out, "    values:");
    let _ = writeln!(out, "      event_type:");
    for t in &types {
        let guess = if t.contains("初診") {
            "first_visit"
        } else if t.contains("再診") {
            "return_visit"
        } else if t.contains("逆紹介") || t.contains("紹介先") {
            "referral_out"
        } else {
            "?"
        };
        if !known_types.contains(&t.as_str()) {
            let _ = writeln!(out, "        {}: {guess}", yaml_str(t));
        }
    }
    let mut flags = BTreeSet::new();
    for f in ["referral_letter", "partner_related", "ambulance", "after_hours_emergency", "checkup_origin"] {
        flags.extend(values_of(f));
    }
    let trues: Vec<String> =
        flags.iter().filter(|v| TRUE_WORDS.contains(&v.as_str())).map(|v| yaml_str(v)).collect();
    let falses: Vec<String> =
        flags.iter().filter(|v| FALSE_WORDS.contains(&v.as_str())).map(|v| yaml_str(v)).collect();
    let _ = writeln!(out, "      true_values: [{}]", trues.join(", "));
    let _ = writeln!(out, "      false_values: [{}]", falses.join(", "));
    let unknown: Vec<&String> = flags
        .iter()
        .filter(|v| !TRUE_WORDS.contains(&v.as_str()) && !FALSE_WORDS.contains(&v.as_str()))
        .collect();
    if !unknown.is_empty() {
        let _ = writeln!(out, "      # flag values not recognised: {unknown:?}");
    }
    let dates: Vec<String> = values_of("event_date").into_iter().take(3).collect();
    if !dates.is_empty() {
        let _ = writeln!(
            out,
            "    # dates seen: {} (Gregorian and era dates are read as they are)",
            dates.join(", ")
        );
    }
    if !unmapped.is_empty() {
        let _ = writeln!(out, "    # headings not used: {}", unmapped.join(", "));
    }
    Ok(out)
}

/// The commented starter config of `refrate init`.
pub(super) const STARTER_CONFIG: &str = r#"# refrate config. Relative paths are relative to this file. Unknown keys are errors.

# Where the Parquet warehouse lives: a folder, or an object store URL.
warehouse: warehouse
# Where the HTML, CSV and JSON reports are written.
reports: reports
# Optional hospital master: hospital_code,name,prefecture,beds (UTF-8, 10-digit codes).
# hospitals: hospitals.csv

inputs:
  # Event logs, one row per first visit, return visit or referral out.
  - path: exports/*.csv
    kind: events
    # The layout of the export; leave out for the canonical UTF-8 format (see README).
    # `refrate mapping suggest FILE` prints a starting point for a real export.
    format:
      encoding: utf-8          # or shift_jis / cp932
      # delimiter: ","
      # header: true
      # columns:               # file heading: canonical field
      #   医療機関コード: hospital_code
      #   受診日: event_date
      #   区分: event_type
      #   患者番号: patient_id
      # values:
      #   event_type: { 初診: first_visit, 再診: return_visit, 逆紹介: referral_out }
      #   true_values: ["1", "○", "あり"]
      #   false_values: ["0", "", "なし"]
      # pad_codes: false       # repair 9-digit codes that lost their leading zero
      # strict_codes: false    # a bad check digit rejects the row instead of warning
      # file_month: none       # from_name / first_row: reject rows outside the file's month
      # patient_id_pattern: '^[0-9]{8}$'   # reject values it matches show as ***
      #                        # (default: values shaped like the file's own patient numbers)
  # Counts a hospital reported (prefecture staff): hospital_code, period, counts.
  # - path: reported/*.csv
  #   kind: aggregates

# The rules to check, by id (`refrate regimes` lists them).
regimes: [chiiki-shien-2014]
# Your own or amended regimes (YAML files like rules/*.yaml).
# regime_files: [my-prefecture.yaml]
# Institutions related to each hospital's founder: hospital_code,related_code
# related_institutions: related.csv
# The pseudonymisation key: REFRATE_PSEUDONYM_KEY, or a file only you can read (chmod 600).
# pseudonym_key_file: /etc/refrate/key
# A file with more rejected rows than this share stops the run (exit 2).
max_reject_ratio: 0.01
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_a_mapping_for_a_workbook_from_its_first_sheet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.xlsx");
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (col, h) in ["医療機関コード", "受診日", "区分", "患者番号"].iter().enumerate() {
            sheet.write_string(0, col as u16, *h).unwrap();
        }
        sheet.write_number(1, 0, 110113719.0).unwrap();
        sheet.write_string(1, 1, "R7.4.1").unwrap();
        sheet.write_string(1, 2, "初診").unwrap();
        sheet.write_string(1, 3, "001").unwrap();
        book.save(&path).unwrap();
        let out = suggest(&path, &dir.path().join("refrate.yaml")).unwrap();
        for expected in ["\"医療機関コード\": hospital_code", "\"受診日\": event_date", "- path: \"*.xlsx\""]
        {
            assert!(out.contains(expected), "missing {expected:?} in\n{out}");
        }
    }

    #[test]
    fn suggests_a_mapping_for_a_shift_jis_export() {
        let text = "医療機関コード,受診日,区分,患者番号,診療科,紹介状,紹介元医療機関コード,救急車,時間外,備考\r\n\
                    0110113719,R7.4.1,初診,001,内科,○,1311009904,,,\r\n\
                    0110113719,R7.4.2,再診,002,外科,,,○,,\r\n";
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(text);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.csv");
        std::fs::write(&path, &bytes).unwrap();
        let out = suggest(&path, &dir.path().join("refrate.yaml")).unwrap();
        for expected in [
            "encoding: shift_jis",
            "\"医療機関コード\": hospital_code",
            "\"受診日\": event_date",
            "\"区分\": event_type",
            "\"初診\": first_visit",
            "\"再診\": return_visit",
            "true_values: [\"○\"]",
            "false_values: [\"\"]",
            "# ?: checkup_origin",
            "headings not used: 備考",
        ] {
            assert!(out.contains(expected), "missing {expected:?} in\n{out}");
        }
        // The suggestion is valid YAML for an input entry, its path a glob relative to the
        // config's folder (here the file's own), so next month's export is read too.
        let parsed: serde_yaml::Value = serde_yaml::from_str(&out).unwrap();
        assert_eq!(parsed[0]["path"].as_str(), Some("*.csv"), "{out}");
        let sub = tempfile::tempdir_in(dir.path()).unwrap();
        let monthly = sub.path().join("visits_2025-04.csv");
        std::fs::write(&monthly, &bytes).unwrap();
        let out = suggest(&monthly, &dir.path().join("refrate.yaml")).unwrap();
        let parsed: serde_yaml::Value = serde_yaml::from_str(&out).unwrap();
        let folder = sub.path().file_name().unwrap().to_string_lossy();
        assert_eq!(parsed[0]["path"].as_str(), Some(format!("{folder}/visits_*.csv").as_str()), "{out}");
    }

    #[test]
    fn a_broken_workbook_or_an_old_excel_file_is_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.xlsx");
        std::fs::write(&path, b"PK\x03\x04\x14\x00\x06\x00rest of a zip").unwrap();
        let e = suggest(&path, &dir.path().join("refrate.yaml")).unwrap_err().to_string();
        assert!(e.contains("export.xlsx") && e.contains("not a readable workbook"), "{e}");
        let path = dir.path().join("export.xls");
        std::fs::write(&path, b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00\x00").unwrap();
        let e = suggest(&path, &dir.path().join("refrate.yaml")).unwrap_err().to_string();
        assert!(e.contains("export.xls") && e.contains("save it as .xlsx or as CSV"), "{e}");
    }

    #[test]
    fn suggestion_shows_no_value_that_may_be_a_patient_number() {
        let mut text = String::from("医療機関コード,受診日,区分,患者番号,診療科,紹介状\n");
        for i in 0..12 {
            text += &format!("0110113719,R7.4.1,初診,{:08},内科,○\n", 99_000_001 + i);
        }
        // Shifted: the number where the visit type belongs; a number of the same shape as a flag.
        text += "0110113719,R7.4.2,99100001,初診,内科,○\n";
        text += "0110113719,R7.4.3,再診,99000002,外科,99100002\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.csv");
        std::fs::write(&path, &text).unwrap();
        let out = suggest(&path, &dir.path().join("refrate.yaml")).unwrap();
        assert!(!out.contains("99100001") && !out.contains("99100002"), "{out}");
        assert!(out.contains("\"***\": ?") && out.contains("\"初診\": first_visit"), "{out}");
        assert!(!out.contains("WARNING"), "{out}");

        // Swapped headings: the department column holds the numbers.
        let swapped = text.replacen("患者番号,診療科", "診療科,患者番号", 1);
        std::fs::write(&path, &swapped).unwrap();
        let out = suggest(&path, &dir.path().join("refrate.yaml")).unwrap();
        assert!(out.contains("# WARNING: column \"診療科\" looks like identifiers"), "{out}");
        assert!(!out.contains("99000001") && !out.contains("99100002"), "{out}");
    }

    #[test]
    fn starter_config_is_a_valid_config() {
        crate::config::Config::from_yaml(STARTER_CONFIG, Path::new("/srv/refrate/refrate.yaml")).unwrap();
    }
}
