//! End-to-end tests of `read_file` on small inline fixtures.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use super::format::{FileMonth, InputEncoding};
use super::*;

const KEY: &[u8] = b"refrate ingest test key, 32 byte";
const H: &str = "0110113719"; // valid check digit (see code.rs)
const P1: &str = "1310123458"; // valid
const P2: &str = "2712345673"; // valid

const CANONICAL_HEADER: &str = "hospital_code,event_date,event_type,patient_id,department,\
referral_letter,partner_code,partner_related,ambulance,after_hours_emergency,checkup_origin";

fn canonical_rows() -> String {
    format!(
        "{CANONICAL_HEADER}\n\
         {H},2025-04-01,first_visit,00123,内科,1,{P1},0,0,0,0\n\
         {H},2025-04-02,first_visit,P-55501,外科,0,,0,1,0,0\n\
         {H},2025-04-03,return_visit,00123,内科,0,,0,0,1,0\n\
         {H},2025-04-15,referral_out,778899,\"内科, 総合\",0,{P2},1,0,0,0\n\
         {H},2025-04-30,first_visit,123456,,0,,0,0,0,1\n"
    )
}

struct Out {
    events: Vec<Event>,
    rejects: Vec<Reject>,
    stats: FileStats,
}

/// What a run owns; each file's context borrows from it.
struct Run {
    pseudonymizer: Pseudonymizer,
    related: RelatedInstitutions,
    files: usize,
}

impl Run {
    fn new() -> Run {
        Run { pseudonymizer: Pseudonymizer::new(KEY).unwrap(), related: RelatedInstitutions::new(), files: 0 }
    }

    /// The context for the next file.
    fn ctx(&mut self) -> IngestContext<'_> {
        self.files += 1;
        IngestContext::new(&self.pseudonymizer, Some(&self.related), self.files - 1)
    }
}

fn ingest_only<E: std::fmt::Debug>(e: ReadError<E>) -> IngestError {
    match e {
        ReadError::Ingest(e) => e,
        ReadError::Stopped(e) => panic!("the callback never fails here: {e:?}"),
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Reads `bytes` as file `name` with a shared context; the error keeps the rows delivered
/// before it.
fn read_in(
    run: &mut Run,
    dir: &Path,
    name: &str,
    bytes: &[u8],
    format: &InputFormat,
) -> (Result<FileStats, IngestError>, Vec<Event>, Vec<Reject>) {
    let path = write(dir, name, bytes);
    let mut events = Vec::new();
    let mut rejects = Vec::new();
    let res = read_file(
        &path,
        name,
        format,
        &mut run.ctx(),
        |e| {
            events.push(e);
            Ok::<(), std::convert::Infallible>(())
        },
        |r| rejects.push(r),
    );
    (res.map_err(ingest_only), events, rejects)
}

fn read(name: &str, bytes: &[u8], format: &InputFormat) -> Result<Out, IngestError> {
    let dir = tempfile::tempdir().unwrap();
    let (res, events, rejects) = read_in(&mut Run::new(), dir.path(), name, bytes, format);
    let stats = res?;
    assert_eq!(
        stats.rows_read,
        stats.rows_valid + stats.rows_rejected,
        "rows_read == rows_valid + rows_rejected"
    );
    assert_eq!(stats.rows_valid, events.len() as u64);
    assert_eq!(stats.rows_rejected, rejects.len() as u64);
    Ok(Out { events, rejects, stats })
}

fn lines_of(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.line).collect()
}

/// (line, reason, field) of each reject.
fn summary(rejects: &[Reject]) -> Vec<(u64, RejectReason, Option<&str>)> {
    rejects.iter().map(|r| (r.line, r.reason, r.field.as_deref())).collect()
}

/// Byte offset of 1-based physical `line` in `bytes`.
fn offset_of(bytes: &[u8], line: u64) -> u64 {
    if line == 1 {
        return 0;
    }
    let mut seen = 1;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            seen += 1;
            if seen == line {
                return i as u64 + 1;
            }
        }
    }
    panic!("no line {line}");
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn canonical_file() {
    let bytes = canonical_rows().into_bytes();
    let out = read("visits.csv", &bytes, &InputFormat::default()).unwrap();
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
    assert_eq!(lines_of(&out.events), [2, 3, 4, 5, 6]);
    let p = Pseudonymizer::new(KEY).unwrap();
    let e = &out.events[0];
    assert_eq!(e.hospital_code, H);
    assert_eq!(e.event_date, date(2025, 4, 1));
    assert_eq!(e.event_type, EventType::FirstVisit);
    assert_eq!(e.patient_key, p.pseudonymize("00123"));
    assert_eq!(e.department, "内科");
    assert!(e.referral_letter && !e.partner_related && !e.ambulance);
    assert_eq!(e.partner_code.as_deref(), Some(P1));
    assert!(out.events[1].ambulance && out.events[1].partner_code.is_none());
    assert!(out.events[2].after_hours_emergency);
    assert_eq!(out.events[2].event_type, EventType::ReturnVisit);
    assert_eq!(out.events[2].patient_key, e.patient_key);
    assert_eq!(out.events[3].department, "内科, 総合");
    assert_eq!(out.events[1].byte_offset, offset_of(&bytes, 3));
    assert_eq!(out.events[3].event_type, EventType::ReferralOut);
    assert!(out.events[3].partner_related);
    assert!(out.events[4].checkup_origin);
    assert_eq!(out.events[4].department, "");

    let s = &out.stats;
    assert_eq!((s.rows_read, s.rows_valid, s.rows_rejected), (5, 5, 0));
    assert!(s.absent_columns.is_empty() && s.ignored_columns.is_empty());
    assert_eq!(s.encoding, "utf-8");
    assert!(!s.bom);
    assert_eq!(s.sha256, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(s.bytes, bytes.len() as u64);
    assert_eq!(s.months.iter().collect::<Vec<_>>(), ["2025-04"]);
    assert_eq!(s.file_month, None);
    assert_eq!(s.check_digit_warnings, 0);
}

fn sjis_format() -> InputFormat {
    let yaml = r#"
encoding: shift_jis
columns:
  医療機関コード: hospital_code
  受診日: event_date
  区分: event_type
  患者ID: patient_id
  診療科: department
  紹介状: referral_letter
  紹介元先: partner_code
  関連施設: partner_related
  救急車: ambulance
  時間外: after_hours_emergency
  健診: checkup_origin
values:
  true_values: ["1", "○", "あり"]
  false_values: ["0", "", "なし"]
"#;
    let f: InputFormat = serde_yaml::from_str(yaml).unwrap();
    f.validate().unwrap();
    f
}

/// The canonical fixture as a hospital system would write it: Shift_JIS with a BOM, CRLF,
/// Japanese headings (one in full-width letters, one padded with a full-width space), era
/// dates, full-width digits, ○/あり/なし flags.
fn sjis_bytes() -> Vec<u8> {
    let text = format!(
        "医療機関コード,受診日,区分,患者ＩＤ,診療科,紹介状,紹介元先,関連施設,救急車,時間外,\u{3000}健診\r\n\
         {H},R7.4.1,初診,００１２３,内科,○,{P1},,,,\r\n\
         {H},令和7年4月2日,初診,P-55501,外科,なし,,なし,あり,なし,\r\n\
         {H},R07/04/03,再診,\u{3000}00123\u{3000},内科,,,,,○,\r\n\
         {H},2025/4/15,逆紹介,778899,\"内科, 総合\",,２７１２３４５６７３,○,,,\r\n\
         {H},20250430,初診,123456,,,,,,,○\r\n"
    );
    let (enc, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&text);
    assert!(!unmappable);
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(&enc);
    bytes
}

#[test]
fn shift_jis_export_gives_the_same_events_as_the_canonical_file() {
    let canonical = read("visits.csv", canonical_rows().as_bytes(), &InputFormat::default()).unwrap();
    let bytes = sjis_bytes();
    assert!(std::str::from_utf8(&bytes).is_err(), "really not UTF-8");
    let sjis = read("visits_sjis.csv", &bytes, &sjis_format()).unwrap();
    assert!(sjis.rejects.is_empty(), "{:?}", sjis.rejects);
    // byte offsets differ (other encoding, BOM, CRLF) and are exact in each file
    for e in &sjis.events {
        assert_eq!(e.byte_offset, offset_of(&bytes, e.line));
    }
    let without_offsets =
        |events: &[Event]| events.iter().map(|e| Event { byte_offset: 0, ..e.clone() }).collect::<Vec<_>>();
    assert_eq!(without_offsets(&sjis.events), without_offsets(&canonical.events));
    assert_eq!(sjis.stats.encoding, "shift_jis");
    assert!(sjis.stats.bom);
    assert_eq!(sjis.stats.sha256, hex::encode(Sha256::digest(&bytes)));

    // cp932 is the same decoder
    let mut cp932 = sjis_format();
    cp932.encoding = InputEncoding::Cp932;
    let out = read("visits_cp932.csv", &bytes, &cp932).unwrap();
    assert_eq!(out.events, sjis.events);
}

#[test]
fn shift_jis_read_as_utf8_fails_with_a_hint() {
    let mut f = sjis_format();
    f.encoding = InputEncoding::Utf8;
    let e = read("v.csv", &sjis_bytes(), &f).err().unwrap();
    assert!(matches!(e, IngestError::HeaderEncoding { line: 1, .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("v.csv") && msg.contains("set encoding: shift_jis"), "{msg}");
}

/// One row per reject reason that needs no special format, with exact line numbers.
fn reject_fixture() -> Vec<u8> {
    let mut b = format!(
        "{CANONICAL_HEADER}\n\
         {H},2025-04-01,first_visit,A1001,内科,1,,0,0,0,0\n\
         {H},2025-04-01,first_visit,A1002,内科,1,,0,0\n\
         {H},2025-02-30,first_visit,A1003,内科,1,,0,0,0,0\n\
         {H},H31.5.1,first_visit,A1004,内科,1,,0,0,0,0\n\
         {H},2025-04-01,紹介,A1005,内科,1,,0,0,0,0\n\
         011011371X,2025-04-01,first_visit,A1006,内科,1,,0,0,0,0\n\
         {H},2025-04-01,first_visit,A1007,内科,1,123,0,0,0,0\n\
         {H},2025-04-01,first_visit,A1008,内科,1,,0,2,0,0\n\
         {H},2025-04-01,first_visit,,内科,1,,0,0,0,0\n\
         {H},2025-04-01,first_visit,A1001,内科,1,,0,0,0,0\n"
    )
    .into_bytes();
    b.extend_from_slice(format!("{H},2025-04-01,first_visit,A1011,").as_bytes());
    b.extend_from_slice(b"\xFF,1,,0,0,0,0\n");
    b.extend_from_slice(b"\n   \n,,,,,,,,,,\n");
    b.extend_from_slice(format!("{H},2025-04-02,first_visit,A1012,内科,1,,0,0,0,0\r\n").as_bytes());
    b
}

#[test]
fn one_reject_per_reason_with_exact_lines() {
    let bytes = reject_fixture();
    let out = read("rej.csv", &bytes, &InputFormat::default()).unwrap();
    assert_eq!(lines_of(&out.events), [2, 11, 16]);
    use RejectReason::*;
    assert_eq!(
        summary(&out.rejects),
        [
            (3, FieldCount, None),
            (4, BadDate, Some("event_date")),
            (5, EraOutOfRange, Some("event_date")),
            (6, UnknownEventType, Some("event_type")),
            (7, BadHospitalCode, Some("hospital_code")),
            (8, BadPartnerCode, Some("partner_code")),
            (9, BadFlag, Some("ambulance")),
            (10, MissingPatientId, Some("patient_id")),
            (12, InvalidEncoding, None),
        ]
    );
    let r = &out.rejects;
    assert_eq!(r[0].detail, "expected 11 fields, found 9");
    assert_eq!(r[0].value, None);
    assert_eq!(r[1].value.as_deref(), Some("2025-02-30"));
    assert_eq!(r[1].detail, "no such day: 2025-02-30");
    assert_eq!(r[2].value.as_deref(), Some("H31.5.1"));
    assert_eq!(r[3].value.as_deref(), Some("紹介"));
    assert!(r[3].detail.contains("初診"), "{}", r[3].detail);
    assert_eq!(r[4].value.as_deref(), Some("011011371X"));
    assert_eq!(r[5].detail, "expected 10 digits, found 3");
    assert_eq!(r[6].value.as_deref(), Some("2"));
    assert_eq!(r[6].detail, "ambulance: expected 1 (true) or 0, (blank) (false)");
    assert!(r[8].detail.contains("not valid UTF-8"), "{}", r[8].detail);
    for rej in r {
        assert_eq!(rej.file, "rej.csv");
        assert_eq!(rej.byte_offset, offset_of(&bytes, rej.line), "{rej:?}");
    }
    let s = &out.stats;
    // Line 11 repeats line 2: reading delivers both; whether it is a duplicate is decided when
    // the hospital-month is assembled (warehouse::writer), once for run and validate.
    assert_eq!((s.rows_read, s.rows_valid, s.rows_rejected), (12, 3, 9));
    assert_eq!(s.blank_lines, 3);
    assert_eq!(s.rejects_by_reason.values().sum::<u64>(), 9);
    assert_eq!(fingerprint(&out.events[0]), fingerprint(&out.events[1]), "line 11 is line 2 again");
    assert_ne!(fingerprint(&out.events[1]), fingerprint(&out.events[2]));
}

#[test]
fn byte_offsets_count_the_bom_and_crlf() {
    let text = format!("{CANONICAL_HEADER}\r\n{H},x,first_visit,1,,0,,0,0,0,0\r\n");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(text.as_bytes());
    let out = read("o.csv", &bytes, &InputFormat::default()).unwrap();
    assert_eq!(out.rejects.len(), 1);
    // 3 (BOM) + header + CRLF
    assert_eq!(out.rejects[0].byte_offset, 3 + CANONICAL_HEADER.len() as u64 + 2);
    assert_eq!(out.rejects[0].line, 2);
}

#[test]
fn a_bad_row_between_two_good_ones_loses_neither() {
    let bytes = format!(
        "{CANONICAL_HEADER}\n\
         {H},2025-04-01,first_visit,1,,0,,0,0,0,0\n\
         {H},2025-04-01,first_visit,2,,0,,0,0\n\
         {H},2025-04-02,first_visit,3,,0,,0,0,0,0\n"
    );
    let out = read("m.csv", bytes.as_bytes(), &InputFormat::default()).unwrap();
    assert_eq!(lines_of(&out.events), [2, 4]);
    assert_eq!(summary(&out.rejects), [(3, RejectReason::FieldCount, None)]);
}

#[test]
fn check_digit_is_a_warning_unless_strict() {
    let bytes = format!(
        "{CANONICAL_HEADER}\n\
         {H},2025-04-01,first_visit,1,,1,{P1},0,0,0,0\n\
         0110113718,2025-04-01,first_visit,2,,1,,0,0,0,0\n\
         {H},2025-04-01,first_visit,3,,1,1310123450,0,0,0,0\n"
    );
    let out = read("c.csv", bytes.as_bytes(), &InputFormat::default()).unwrap();
    assert_eq!(lines_of(&out.events), [2, 3, 4]);
    assert_eq!(out.stats.check_digit_warnings, 2);
    assert_eq!(out.stats.bad_check_digit_codes.iter().collect::<Vec<_>>(), ["0110113718", "1310123450"]);

    let strict = InputFormat { strict_codes: true, ..InputFormat::default() };
    let out = read("c.csv", bytes.as_bytes(), &strict).unwrap();
    assert_eq!(lines_of(&out.events), [2]);
    assert_eq!(
        summary(&out.rejects),
        [
            (3, RejectReason::BadCheckDigit, Some("hospital_code")),
            (4, RejectReason::BadCheckDigit, Some("partner_code")),
        ]
    );
    assert!(
        out.rejects[0].detail.starts_with("the check digit is 8, but the first nine digits give 9"),
        "{}",
        out.rejects[0].detail
    );
    assert_eq!(out.stats.check_digit_warnings, 0);
}

#[test]
fn nine_digit_codes_are_repaired_only_when_asked() {
    let bytes = format!(
        "{CANONICAL_HEADER}\n\
         110113719,2025-04-01,first_visit,1,,1,{P1},0,0,0,0\n\
         {H},2025-04-01,first_visit,2,,1,310123458,0,0,0,0\n"
    );
    let out = read("p.csv", bytes.as_bytes(), &InputFormat::default()).unwrap();
    assert_eq!(
        summary(&out.rejects),
        [
            (2, RejectReason::BadHospitalCode, Some("hospital_code")),
            (3, RejectReason::BadPartnerCode, Some("partner_code")),
        ]
    );
    assert_eq!(
        out.rejects[0].detail,
        "9 digits: the leading zero may have been dropped by a spreadsheet; set pad_codes: true to repair"
    );
    let pad = InputFormat { pad_codes: true, ..InputFormat::default() };
    let out = read("p.csv", bytes.as_bytes(), &pad).unwrap();
    assert!(out.rejects.is_empty());
    // 310123458 → 0310123458: check digit of 031012345 is 0 (not 8), so a warning
    assert_eq!(out.events[0].hospital_code, H);
    assert_eq!(out.events[1].partner_code.as_deref(), Some("0310123458"));
    assert_eq!(out.stats.padded_codes, 2);
    assert_eq!(out.stats.check_digit_warnings, 1);
}

/// The count columns a test file may leave out, declared optional as a config would.
const ALL_FLAGS_AND_PARTNER: [&str; 6] = [
    "referral_letter",
    "partner_code",
    "partner_related",
    "ambulance",
    "after_hours_emergency",
    "checkup_origin",
];

fn optional(fields: &[&str]) -> Vec<String> {
    fields.iter().map(|s| s.to_string()).collect()
}

#[test]
fn hyphenated_codes_read_only_when_asked() {
    let bytes =
        format!("{CANONICAL_HEADER}\n26-1-492377-5,2025-04-01,first_visit,1,,1,13-1-100990-4,0,0,0,0\n");
    let out = read("h.csv", bytes.as_bytes(), &InputFormat::default()).unwrap();
    assert_eq!(out.rejects.len(), 1, "hyphens are not digits unless strip_code_hyphens is set");
    let strip = InputFormat { strip_code_hyphens: true, ..InputFormat::default() };
    let out = read("h.csv", bytes.as_bytes(), &strip).unwrap();
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
    assert_eq!(out.events[0].hospital_code, "2614923775");
    assert_eq!(out.events[0].partner_code.as_deref(), Some("1311009904"));
}

#[test]
fn outside_file_month_from_name_and_first_row() {
    let bytes = format!(
        "{CANONICAL_HEADER}\n\
         {H},2025-03-31,first_visit,1,,0,,0,0,0,0\n\
         {H},2025-04-01,first_visit,2,,0,,0,0,0,0\n\
         {H},R7.5.1,first_visit,3,,0,,0,0,0,0\n\
         {H},2025-04-30,first_visit,4,,0,,0,0,0,0\n"
    );
    let by_name = InputFormat { file_month: FileMonth::FromName, ..InputFormat::default() };
    let out = read("外来_2025-04.csv", bytes.as_bytes(), &by_name).unwrap();
    assert_eq!(lines_of(&out.events), [3, 5]);
    assert_eq!(
        summary(&out.rejects),
        [
            (2, RejectReason::OutsideFileMonth, Some("event_date")),
            (4, RejectReason::OutsideFileMonth, Some("event_date")),
        ]
    );
    assert_eq!(out.rejects[1].value.as_deref(), Some("R7.5.1"));
    assert_eq!(out.rejects[1].detail, "the file covers 2025-04 (from its name); this row is 2025-05-01");
    assert_eq!(out.stats.file_month.as_deref(), Some("2025-04"));
    for name in ["x_202504.csv", "x_2025_04_v2.csv", "20250401-export.csv"] {
        let out = read(name, bytes.as_bytes(), &by_name).unwrap();
        assert_eq!(lines_of(&out.events), [3, 5], "{name}");
    }

    let e = read("visits.csv", bytes.as_bytes(), &by_name).err().unwrap();
    assert!(matches!(e, IngestError::NoMonthInName { .. }));
    assert!(e.to_string().contains("visits.csv"));

    let first_row = InputFormat { file_month: FileMonth::FirstRow, ..InputFormat::default() };
    let out = read("v.csv", bytes.as_bytes(), &first_row).unwrap();
    assert_eq!(lines_of(&out.events), [2]);
    assert_eq!(out.rejects.len(), 3);
    assert!(out.rejects[0].detail.contains("first valid row, line 2"), "{}", out.rejects[0].detail);
    assert_eq!(out.stats.file_month.as_deref(), Some("2025-03"));
}

#[test]
fn month_in_file_names() {
    use super::read::month_in_name;
    assert_eq!(month_in_name("visits_2025-04.csv"), Some((2025, 4)));
    assert_eq!(month_in_name("visits_2025_04.csv"), Some((2025, 4)));
    assert_eq!(month_in_name("202504.csv"), Some((2025, 4)));
    assert_eq!(month_in_name("20250401.csv"), Some((2025, 4)));
    // an institution code is not a month
    assert_eq!(month_in_name("2011234567_2025-04.csv"), Some((2025, 4)));
    assert_eq!(month_in_name("0110113719.csv"), None);
    assert_eq!(month_in_name("2025-13.csv"), None);
    assert_eq!(month_in_name("v1_2025.csv"), None);
}

#[test]
fn unterminated_quote_stops_the_file_at_that_line() {
    let bytes = format!(
        "{CANONICAL_HEADER}\n\
         {H},2025-04-01,first_visit,1,,0,,0,0,0,0\n\
         {H},2025-04-01,first_visit,Q9135,\"内科,0,,0,0,0,0\n\
         {H},2025-04-02,first_visit,3,,0,,0,0,0,0\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let (res, events, _) =
        read_in(&mut Run::new(), dir.path(), "q.csv", bytes.as_bytes(), &InputFormat::default());
    let e = res.unwrap_err();
    assert!(matches!(&e, IngestError::UnterminatedQuote { line: 3, file } if file == "q.csv"), "{e:?}");
    assert_eq!(lines_of(&events), [2], "rows before the quote were delivered");
    let msg = e.to_string();
    assert!(msg.starts_with("q.csv: line 3: a quote"), "{msg}");
}

#[test]
fn nul_byte_is_a_binary_file() {
    let mut bytes = format!("{CANONICAL_HEADER}\n{H},2025-04-01,first_visit,1,,0,,0,0,0,0\n").into_bytes();
    bytes.extend_from_slice(b"ab\0cd\n");
    let e = read("b.csv", &bytes, &InputFormat::default()).err().unwrap();
    assert!(matches!(e, IngestError::Binary { line: 3, .. }), "{e:?}");
    // UTF-16 has NULs in the heading line already
    let utf16: Vec<u8> = CANONICAL_HEADER.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let e = read("u.csv", &utf16, &InputFormat::default()).err().unwrap();
    assert!(matches!(e, IngestError::Binary { line: 1, .. }), "{e:?}");
    assert!(e.to_string().contains("UTF-16"));
}

#[test]
fn missing_required_column_is_named() {
    let bytes = format!("hospital_code,event_type,patient_id\n{H},first_visit,1\n");
    let e = read("h.csv", bytes.as_bytes(), &InputFormat::default()).err().unwrap();
    match &e {
        IngestError::MissingColumn { field, line, file, .. } => {
            assert_eq!((field.as_str(), *line, file.as_str()), ("event_date", 1, "h.csv"));
        }
        other => panic!("{other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("\"event_type\"") && msg.contains("columns:"), "{msg}");
}

#[test]
fn empty_files_and_duplicate_headings() {
    for bytes in [&b""[..], b"\xEF\xBB\xBF", b"\r\n\n"] {
        let e = read("e.csv", bytes, &InputFormat::default()).err().unwrap();
        assert!(matches!(e, IngestError::Empty { .. }), "{e:?}");
    }
    let mut f = InputFormat::default();
    f.columns.insert("受診日".into(), "event_date".into());
    let bytes = format!("{CANONICAL_HEADER},受診日\n");
    let e = read("d.csv", bytes.as_bytes(), &f).err().unwrap();
    assert!(matches!(&e, IngestError::DuplicateColumn { field, .. } if field == "event_date"), "{e:?}");
}

#[test]
fn optional_columns_may_be_absent_and_extra_ones_are_ignored() {
    let bytes = format!(
        "memo,hospital_code,event_date,event_type,patient_id,ambulance\n\
         note,{H},2025-04-01,first_visit,1,1\n"
    );
    let e = read("a.csv", bytes.as_bytes(), &InputFormat::default()).err().unwrap();
    assert!(matches!(&e, IngestError::UnmappedColumn { field, .. } if field == "referral_letter"), "{e:?}");
    let format = InputFormat {
        // `ambulance` is in the file: declaring it optional changes nothing.
        optional_columns: optional(&ALL_FLAGS_AND_PARTNER),
        ..InputFormat::default()
    };
    let out = read("a.csv", bytes.as_bytes(), &format).unwrap();
    assert_eq!(out.stats.ignored_columns, ["memo"]);
    assert_eq!(
        out.stats.absent_columns,
        [
            "department",
            "referral_letter",
            "partner_code",
            "partner_related",
            "after_hours_emergency",
            "checkup_origin"
        ]
    );
    let e = &out.events[0];
    assert!(e.ambulance && !e.referral_letter && !e.checkup_origin);
    assert_eq!((e.department.as_str(), e.partner_code.as_deref()), ("", None));
}

#[test]
fn files_without_a_heading_line() {
    let rows = format!(
        "{H},2025-04-01,first_visit,1,内科,1,,0,0,0,0\n\
         {H},2025-04-02,first_visit,2,内科,1,,0,0,0,0\n"
    );
    let f = InputFormat { header: false, ..InputFormat::default() };
    let out = read("n.csv", rows.as_bytes(), &f).unwrap();
    assert_eq!(lines_of(&out.events), [1, 2]);
    assert_eq!(out.events[0].department, "内科");

    let mut f = InputFormat {
        header: false,
        delimiter: '\t',
        optional_columns: optional(&ALL_FLAGS_AND_PARTNER),
        ..InputFormat::default()
    };
    for (col, field) in
        [("2", "hospital_code"), ("3", "event_date"), ("1", "event_type"), ("5", "patient_id")]
    {
        f.columns.insert(col.into(), field.into());
    }
    let rows = format!("初診\t{H}\tR7.4.1\tx\t9\n再診\t{H}\tR7.4.2\tx\t9\textra\n");
    let out = read("t.tsv", rows.as_bytes(), &f).unwrap();
    assert_eq!(lines_of(&out.events), [1]);
    assert_eq!(out.stats.ignored_columns, ["column 4"]);
    assert_eq!(out.rejects[0].detail, "expected 5 fields, found 6", "the first row sets the width");
    let short = format!("初診\t{H}\tR7.4.1\n");
    let e = read("s.tsv", short.as_bytes(), &f).err().unwrap();
    assert!(matches!(e, IngestError::ColumnOutOfRange { column: 5, found: 3, .. }), "{e:?}");
}

#[test]
fn the_same_record_in_another_layout_has_the_same_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Run::new();
    let a = format!("{CANONICAL_HEADER}\n{H},2025-04-01,first_visit,00123,内科,1,,0,0,0,0\n");
    // same record, patient number written in full-width digits and with another layout
    let b = format!(
        "{CANONICAL_HEADER}\n{H},2025-04-02,first_visit,00123,内科,1,,0,0,0,0\n\
         {H},R7.4.1,初診,００１２３,内科,1,,0,0,0,0\n"
    );
    let (ra, ea, _) = read_in(&mut c, dir.path(), "a.csv", a.as_bytes(), &InputFormat::default());
    assert_eq!(ra.unwrap().file_index, 0);
    assert_eq!(ea.len(), 1);
    let (rb, eb, rejb) = read_in(&mut c, dir.path(), "b.csv", b.as_bytes(), &InputFormat::default());
    assert_eq!(rb.unwrap().file_index, 1);
    assert_eq!(lines_of(&eb), [2, 3]);
    assert!(rejb.is_empty(), "{rejb:?}");
    assert_eq!(c.files, 2);
    // Line 3 of b.csv is a.csv's record: another date layout, an era date, full-width digits.
    assert_eq!(fingerprint(&eb[1]), fingerprint(&ea[0]));
    assert_ne!(fingerprint(&eb[0]), fingerprint(&ea[0]), "another day is another record");
}

#[test]
fn related_list_marks_partners() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Run::new();
    c.related.insert(H, P1);
    let bytes = format!(
        "{CANONICAL_HEADER}\n\
         {H},2025-04-01,first_visit,1,,1,{P1},0,0,0,0\n\
         {H},2025-04-01,first_visit,2,,1,{P2},0,0,0,0\n\
         {H},2025-04-01,first_visit,3,,1,{P2},1,0,0,0\n"
    );
    let (res, events, _) = read_in(&mut c, dir.path(), "r.csv", bytes.as_bytes(), &InputFormat::default());
    res.unwrap();
    let related: Vec<bool> = events.iter().map(|e| e.partner_related).collect();
    assert_eq!(related, [true, false, true]);
}

#[test]
fn invalid_shift_jis_lines_are_rejected_not_replaced() {
    let mut bytes = encoding_rs::SHIFT_JIS
        .encode(&format!("{CANONICAL_HEADER}\r\n{H},R7.4.1,初診,1,内科,1,,0,0,0,0\r\n"))
        .0
        .into_owned();
    let bad_at = bytes.len() as u64;
    bytes.extend_from_slice(format!("{H},R7.4.1,").as_bytes());
    bytes.extend_from_slice(b"\x8f\x89\xa0"); // "初" then a lone 0xA0
    bytes.extend_from_slice(b",2,,1,,0,0,0,0\r\n");
    let f = InputFormat { encoding: InputEncoding::ShiftJis, ..InputFormat::default() };
    let out = read("s.csv", &bytes, &f).unwrap();
    assert_eq!(lines_of(&out.events), [2]);
    assert_eq!(summary(&out.rejects), [(3, RejectReason::InvalidEncoding, None)]);
    assert_eq!(out.rejects[0].byte_offset, bad_at);
    assert!(!format!("{:?}", out.rejects).contains('\u{FFFD}'));
}

#[test]
fn values_are_trimmed_and_vocabularies_apply() {
    let mut f = InputFormat::default();
    f.values.true_values = vec!["○".into(), "あり".into()];
    f.values.false_values = vec!["".into(), "なし".into()];
    f.values.event_type.insert("初回".into(), "first_visit".into());
    let bytes = format!(
        "{CANONICAL_HEADER}\n\
         \u{3000}{H} , 2025/4/1 ,初回, 7 ,\u{3000}内科\u{3000},○,,なし,あり,1,0\n\
         {H},2025-04-02,first_visit,8,,×,,,,,\n"
    );
    let out = read("v.csv", bytes.as_bytes(), &f).unwrap();
    let e = &out.events[0];
    assert_eq!(e.hospital_code, H);
    assert_eq!(e.department, "内科");
    assert_eq!(e.event_type, EventType::FirstVisit);
    assert_eq!(
        (e.referral_letter, e.partner_related, e.ambulance, e.after_hours_emergency, e.checkup_origin),
        (true, false, true, true, false)
    );
    assert_eq!(summary(&out.rejects), [(3, RejectReason::BadFlag, Some("referral_letter"))]);
    assert_eq!(out.rejects[0].value.as_deref(), Some("×"));
    assert_eq!(
        out.rejects[0].detail,
        "referral_letter: expected 1, ○, あり (true) or 0, (blank), なし (false)"
    );
}

#[test]
fn callback_errors_stop_the_read() {
    #[derive(Debug, PartialEq)]
    struct Full;
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "c.csv", canonical_rows().as_bytes());
    let mut run = Run::new();
    let mut n = 0;
    let res = read_file(
        &p,
        "c.csv",
        &InputFormat::default(),
        &mut run.ctx(),
        |_| {
            n += 1;
            if n == 2 { Err(Full) } else { Ok(()) }
        },
        |_| {},
    );
    assert!(matches!(res, Err(ReadError::Stopped(Full))));
    assert_eq!(n, 2);
    let res = read_file(
        &dir.path().join("missing.csv"),
        "missing.csv",
        &InputFormat::default(),
        &mut run.ctx(),
        |_| Ok::<(), Full>(()),
        |_| {},
    );
    match res {
        Err(ReadError::Ingest(e @ IngestError::Open { .. })) => {
            let msg = e.to_string();
            assert!(msg.contains("missing.csv") && msg.contains("check the input path"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

/// No raw patient number may show in an event, a reject, an error, stats or a Debug output.
#[test]
fn raw_patient_numbers_never_leak() {
    const IDS: [&str; 6] =
        ["PT73519001", "PT73519002", "PT73519003", "PT73519004", "PT73519005", "PT73519006"];
    let [a, b, c, d, e, f] = IDS;
    let fw = "ＰＴ７３５１９００７"; // full-width PT73519007
    let text = format!(
        "{CANONICAL_HEADER}\n\
         {H},2025-04-01,first_visit,{a},内科,1,,0,0,0,0\n\
         {H},2025-04-01,first_visit,{a},内科,1,,0,0,0,0\n\
         {H},2025-04-01,first_visit,{b},内科,1,,0,0\n\
         {H},2025-02-30,first_visit,{c},内科,1,,0,0,0,0\n\
         {H},R1.4.30,first_visit,{c},内科,1,,0,0,0,0\n\
         {H},2025-04-01,?,{d},内科,1,,0,0,0,0\n\
         X,2025-04-01,first_visit,{d},内科,1,,0,0,0,0\n\
         {H},2025-04-01,first_visit,{e},内科,1,12,0,0,0,0\n\
         {H},2025-04-01,first_visit,{e},内科,2,,0,0,0,0\n\
         {H},2025-04-01,first_visit,\"{fw}\",内科,1,,0,0,0,0\n\
         {H},2025-04-01,first_visit,  ,内科,1,,0,0,0,0\n"
    );
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(format!("{H},2025-04-01,first_visit,{f},").as_bytes());
    bytes.extend_from_slice(b"\xFF,1,,0,0,0,0\n");
    let unterminated = format!("{H},2025-04-01,first_visit,\"{f},内科,1,,0,0,0,0\n");
    bytes.extend_from_slice(unterminated.as_bytes());

    let dir = tempfile::tempdir().unwrap();
    let mut c = Run::new();
    let (res, events, rejects) = read_in(
        &mut c,
        dir.path(),
        "leak.csv",
        &bytes,
        &InputFormat { strict_codes: true, ..InputFormat::default() },
    );
    let err = res.unwrap_err();
    assert!(matches!(err, IngestError::UnterminatedQuote { line: 14, .. }));
    // Line 3 repeats line 2: both are delivered (duplicates are decided per hospital-month).
    assert_eq!(events.len(), 3);
    assert_eq!(rejects.len(), 9);

    // a binary-file error on a line holding a number, and stats of a complete read
    let mut nul = format!("{CANONICAL_HEADER}\n").into_bytes();
    nul.extend_from_slice(format!("{H},2025-04-01,first_visit,{a}\0\n").as_bytes());
    let (nul_res, _, _) = read_in(&mut c, dir.path(), "nul.csv", &nul, &InputFormat::default());
    let ok = format!("{CANONICAL_HEADER}\n{H},2025-04-02,first_visit,{b},,1,,0,0,0,0\n");
    let (ok_res, ok_events, _) =
        read_in(&mut c, dir.path(), "ok.csv", ok.as_bytes(), &InputFormat::default());
    let stats = ok_res.unwrap();

    let mut rendered = String::new();
    rendered += &format!("{events:?}\n{events:#?}\n{rejects:?}\n{ok_events:?}\n");
    rendered += &serde_yaml::to_string(&events).unwrap();
    rendered += &serde_yaml::to_string(&rejects).unwrap();
    rendered += &serde_yaml::to_string(&stats).unwrap();
    for r in &rejects {
        rendered += &format!("{r}\n");
    }
    rendered += &format!("{err}\n{err:?}\n");
    let nul_err = nul_res.unwrap_err();
    let ctx_debug = format!("{:?}", IngestContext::new(&c.pseudonymizer, Some(&c.related), 9));
    assert!(ctx_debug.contains("key_id"), "{ctx_debug}");
    rendered += &format!("{nul_err}\n{nul_err:?}\n{stats:?}\n{ctx_debug}\n");

    for id in IDS.iter().copied().chain(["PT73519007", fw]) {
        assert!(!rendered.contains(id), "{id} leaked:\n{rendered}");
    }
    // the masked value is there instead, and the pseudonyms are
    assert!(rendered.contains(&c.pseudonymizer.pseudonymize(a)));
    assert!(rejects.iter().all(|r| r.field.as_deref() != Some("patient_id") || r.value.is_none()));
}

/// A shifted row puts a number in another field; its reject shows "***" even when the row
/// comes before any valid row (masking happens when the file ends).
#[test]
fn shifted_rows_do_not_show_patient_numbers_whatever_their_order() {
    let mut text = format!(
        "{CANONICAL_HEADER}\n\
         {H},2025-04-10,99100001,first_visit,内科,1,,0,0,0,0\n\
         99100002,2025-04-10,first_visit,X1,内科,1,,0,0,0,0\n\
         {H},2025-04-10,first_visit,99100003,内科,1,99100003,0,0,0,0\n\
         {H},2025-04-10,紹介,A-1,内科,1,,0,0,0,0\n"
    );
    for i in 0..5 {
        text += &format!("{H},2025-04-11,first_visit,{:08},内科,1,,0,0,0,0\n", 99_000_001 + i);
    }
    let out = read("shift.csv", text.as_bytes(), &InputFormat::default()).unwrap();
    let values: Vec<Option<&str>> = out.rejects.iter().map(|r| r.value.as_deref()).collect();
    // The type where the number belongs (shifted row), a number shaped like the file's own
    // (learned after it), the row's own number repeated; a plain typo stays visible.
    assert_eq!(values, [Some("***"), Some("***"), Some("***"), Some("紹介")]);
    assert!(out.rejects[0].detail.contains("may be a patient number"), "{}", out.rejects[0].detail);
    assert_eq!(out.events.len(), 5);

    // A pattern catches what no shape does.
    let text = format!(
        "{CANONICAL_HEADER}\n{H},2025-04-10,K12,K0000001,内科,1,,0,0,0,0\n\
         {H},2025-04-10,first_visit,K0000002,内科,1,,0,0,0,0\n"
    );
    let plain = read("k.csv", text.as_bytes(), &InputFormat::default()).unwrap();
    assert_eq!(plain.rejects[0].value.as_deref(), Some("K12"));
    let format = InputFormat { patient_id_pattern: Some("^K[0-9]+$".into()), ..InputFormat::default() };
    let with = read("k.csv", text.as_bytes(), &format).unwrap();
    assert_eq!(with.rejects[0].value.as_deref(), Some("***"));
    let bad = InputFormat { patient_id_pattern: Some("(".into()), ..InputFormat::default() };
    assert!(matches!(read("k.csv", text.as_bytes(), &bad), Err(IngestError::Format { .. })));
}

/// Patient numbers read as departments stop the file at its end, naming the column; the
/// rejects delivered all hide their values (the numbers' shapes were never learned).
#[test]
fn a_department_column_of_identifiers_stops_the_file() {
    let mut text = String::from(
        "hospital_code,event_date,event_type,department,patient_id,referral_letter,partner_code,\
         partner_related,ambulance,after_hours_emergency,checkup_origin\n",
    );
    text += &format!("{H},2025-04-10,first_visit,99100001,内科,7,,0,0,0,0\n");
    for i in 0..12 {
        text += &format!("{H},2025-04-11,first_visit,{:08},内科,1,,0,0,0,0\n", 99_000_001 + i);
    }
    let dir = tempfile::tempdir().unwrap();
    let (res, events, rejects) =
        read_in(&mut Run::new(), dir.path(), "swap.csv", text.as_bytes(), &InputFormat::default());
    let err = res.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, IngestError::IdentifierColumn { values: 12, identifier_like: 100, .. }), "{err:?}");
    assert!(msg.starts_with("swap.csv: column \"department\" (field \"department\")"), "{msg}");
    assert!(!msg.contains("99000001"), "{msg}");
    assert_eq!(events.len(), 12, "delivered; the caller must not store them");
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].value.as_deref(), Some("***"), "the flag 7 is hidden too");

    // Without a heading line the column is named by its number.
    let no_header = text.split_once('\n').unwrap().1;
    let mut format = InputFormat {
        header: false,
        optional_columns: optional(&ALL_FLAGS_AND_PARTNER),
        ..InputFormat::default()
    };
    for (i, f) in ["hospital_code", "event_date", "event_type", "department", "patient_id"].iter().enumerate()
    {
        format.columns.insert((i + 1).to_string(), (*f).to_string());
    }
    let (res, _, _) = read_in(&mut Run::new(), dir.path(), "nh.csv", no_header.as_bytes(), &format);
    let msg = res.unwrap_err().to_string();
    assert!(msg.starts_with("nh.csv: column \"column 4\" (field \"department\")"), "{msg}");
}

/// `cargo test --release -- --ignored --nocapture throughput`
#[test]
#[ignore = "benchmark; run in release"]
fn throughput() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    // REFRATE_BENCH_FILE keeps the generated file between runs (e.g. for profiling).
    let path =
        std::env::var_os("REFRATE_BENCH_FILE").map_or_else(|| dir.path().join("big.csv"), PathBuf::from);
    let n = 1_000_000u64;
    if !path.exists() {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(w, "{CANONICAL_HEADER}").unwrap();
        for i in 0..n {
            let day = i % 30 + 1;
            let kind = ["first_visit", "return_visit", "referral_out"][(i % 3) as usize];
            let partner = if i % 4 == 0 { P1 } else { "" };
            writeln!(
                w,
                "{H},2025-04-{day:02},{kind},{:08},内科,{},{partner},0,{},0,0",
                i * 7919 % 100_000_000,
                i % 2,
                i % 5 / 4
            )
            .unwrap();
        }
    }
    // On-CPU time of this thread, so a busy machine does not distort the figure.
    let cpu_ns = || -> Option<u64> {
        std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
    };
    let mut c = Run::new();
    let cpu_start = cpu_ns();
    let start = std::time::Instant::now();
    let mut valid = 0u64;
    let stats = read_file(
        &path,
        "big.csv",
        &InputFormat::default(),
        &mut c.ctx(),
        |_| {
            valid += 1;
            Ok::<(), IngestError>(())
        },
        |_| {},
    )
    .unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} rows in {secs:.2}s = {:.0} rows/s ({} valid)",
        stats.rows_read,
        stats.rows_read as f64 / secs,
        valid
    );
    if let (Some(a), Some(b)) = (cpu_start, cpu_ns()) {
        let cpu = (b - a) as f64 / 1e9;
        println!("on-CPU {cpu:.2}s = {:.0} rows/s", stats.rows_read as f64 / cpu);
    }
    assert_eq!(stats.rows_read, n);
}

#[test]
fn the_first_line_of_a_file_that_is_no_export_is_not_echoed() {
    let e = read("shadow", b"root:$y$j9T$secrethash:19000:0:99999:7:::\n", &InputFormat::default())
        .err()
        .unwrap();
    let msg = e.to_string();
    assert!(matches!(e, IngestError::MissingColumn { .. }), "{e:?}");
    assert!(!msg.contains("secrethash") && msg.contains("not shown"), "{msg}");
    // Real headings are still listed, to help with the mapping.
    let e =
        read("a.csv", "受診日,患者番号\n2025-04-01,1\n".as_bytes(), &InputFormat::default()).err().unwrap();
    assert!(e.to_string().contains("\"受診日\", \"患者番号\""), "{e}");
}

/// The canonical rows as a workbook a liaison office keeps: two title rows, the headings on
/// row 3, a note row 4, data from row 5 (row 8 left empty), dates as Excel dates, the
/// patient number `00123` as text and `123456` as a number, plus a bad date on row 11.
fn workbook_of_canonical_rows(path: &Path) {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("受診記録").unwrap();
    sheet.write_string(0, 0, "紹介・逆紹介の記録（2025年4月）").unwrap();
    for (col, h) in CANONICAL_HEADER.split(',').enumerate() {
        sheet.write_string(2, col as u16, h).unwrap();
        sheet.write_string(3, col as u16, "必須").unwrap();
    }
    let date_format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    let mut row = 4u32;
    for line in canonical_rows().lines().skip(1) {
        let mut split = super::split::Splitter::new(b',');
        split.split(line).unwrap();
        let cells: Vec<String> = (0..split.len()).map(|i| split.get(i).to_string()).collect();
        for (col, cell) in cells.iter().enumerate() {
            let col = col as u16;
            match col {
                1 => {
                    use chrono::Datelike;
                    let d = NaiveDate::parse_from_str(cell, "%Y-%m-%d").unwrap();
                    let when = rust_xlsxwriter::ExcelDateTime::from_ymd(
                        d.year() as u16,
                        d.month() as u8,
                        d.day() as u8,
                    )
                    .unwrap();
                    sheet.write_datetime_with_format(row, col, &when, &date_format).unwrap();
                }
                3 if cell == "123456" => {
                    sheet.write_number(row, col, 123456.0).unwrap();
                }
                _ if !cell.is_empty() => {
                    sheet.write_string(row, col, cell).unwrap();
                }
                _ => {}
            }
        }
        row += if row == 6 { 2 } else { 1 };
    }
    for (col, cell) in [H, "2025-13-01", "first_visit", "9999"].iter().enumerate() {
        sheet.write_string(10, col as u16, *cell).unwrap();
    }
    book.save(path).unwrap();
}

#[test]
fn an_event_log_kept_in_excel_reads_as_its_csv_with_rows_as_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("visits_2025-04.xlsx");
    workbook_of_canonical_rows(&path);
    let bytes = std::fs::read(&path).unwrap();
    let format = InputFormat { heading_row: Some(3), first_data_row: Some(5), ..InputFormat::default() };
    let book = read("visits_2025-04.xlsx", &bytes, &format).unwrap();
    let csv = read("visits.csv", canonical_rows().as_bytes(), &InputFormat::default()).unwrap();
    let fields = |e: &Event| {
        (
            e.hospital_code.clone(),
            e.event_date,
            e.event_type,
            e.patient_key.clone(),
            e.department.clone(),
            e.referral_letter,
            e.partner_code.clone(),
            e.ambulance,
        )
    };
    assert_eq!(
        book.events.iter().map(fields).collect::<Vec<_>>(),
        csv.events.iter().map(fields).collect::<Vec<_>>()
    );
    // The lines named are the sheet's rows (row 8 was left empty).
    assert_eq!(lines_of(&book.events), [5, 6, 7, 9, 10]);
    assert_eq!(
        book.rejects.iter().map(|r| (r.line, r.field.clone())).collect::<Vec<_>>(),
        [(11, Some("event_date".into()))]
    );
    // The identity is the workbook's bytes.
    assert_eq!(book.stats.sha256, hex::encode(Sha256::digest(&bytes)));
    assert_eq!((book.stats.bytes, book.stats.encoding.as_str()), (bytes.len() as u64, "xlsx"));
    // A sheet the workbook does not have is named.
    let missing = InputFormat { sheet: Some(super::table::SheetRef::Name("外来".into())), ..format };
    let Err(e) = read("visits_2025-04.xlsx", &bytes, &missing) else { panic!("a missing sheet is an error") };
    let e = e.to_string();
    assert!(e.contains("no sheet") && e.contains("受診記録"), "{e}");
}
