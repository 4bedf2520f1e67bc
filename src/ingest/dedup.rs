//! Exact-duplicate detection across all files of one run.
//!
//! Exports overlap (a month re-exported, two files for the same days), so an identical record
//! is counted once. Only a 128-bit fingerprint per record is kept, never the row itself.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use chrono::Datelike;
use xxhash_rust::xxh3::xxh3_128;

use super::event::Event;

/// Where a row was first seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateOf {
    pub file_index: usize,
    pub line: u64,
}

/// Where a fingerprint was first seen, packed as `file << 40 | line` so that a map entry is
/// 24 bytes (memory is what the deduplicator costs: about 30 bytes per distinct row).
#[derive(Debug, Clone, Copy)]
struct Origin(u64);

const LINE_BITS: u32 = 40;

impl Origin {
    fn new(file: usize, line: u64) -> Origin {
        let file = (file as u64).min((1 << (64 - LINE_BITS)) - 1);
        Origin(file << LINE_BITS | line.min((1 << LINE_BITS) - 1))
    }
    fn file(self) -> usize {
        (self.0 >> LINE_BITS) as usize
    }
    fn line(self) -> u64 {
        self.0 & ((1 << LINE_BITS) - 1)
    }
}

/// The fingerprints are already uniform hashes: use their bits as the map hash.
#[derive(Default)]
struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

/// Key: the 128-bit fingerprint as two u64 (8-byte aligned, unlike u128).
type FingerprintMap = HashMap<(u64, u64), Origin, BuildHasherDefault<FingerprintHasher>>;

/// Remembers every accepted row of a run by (hospital_code, month) → fingerprint → first
/// occurrence.
#[derive(Default)]
pub struct Deduplicator {
    files: Vec<String>,
    /// (hospital_code, yyyymm) → index into `partitions`.
    index: HashMap<(String, u32), usize>,
    partitions: Vec<FingerprintMap>,
    /// The partition of the previous row: files are mostly one hospital and one month.
    last: Option<(String, u32, usize)>,
    len: usize,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Deduplicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deduplicator").field("files", &self.files).field("rows", &self.len).finish()
    }
}

impl Deduplicator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the file with index `file_index` (for `duplicate of <file>:<line>` details).
    /// [`read_file`](super::read_file) does this with its display name.
    pub fn name_file(&mut self, file_index: usize, display_name: &str) {
        if self.files.len() <= file_index {
            self.files.resize(file_index + 1, String::new());
        }
        self.files[file_index] = display_name.to_owned();
    }

    /// Display name of a named file.
    pub fn file_name(&self, file_index: usize) -> Option<&str> {
        self.files.get(file_index).map(String::as_str).filter(|n| !n.is_empty())
    }

    /// Number of distinct rows remembered.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// 128-bit xxh3 of every canonical field of the event (the pseudonym, not the raw number),
    /// excluding the line and byte offset.
    pub fn fingerprint(event: &Event) -> u128 {
        let mut buf = Vec::with_capacity(128);
        fingerprint_into(&mut buf, event)
    }

    /// Remembers the event and returns `Ok`, or returns where an identical event was first
    /// seen.
    pub fn check(&mut self, file_index: usize, event: &Event) -> Result<(), DuplicateOf> {
        let fp = fingerprint_into(&mut self.buf, event);
        let key = ((fp >> 64) as u64, fp as u64);
        let part = self.partition(&event.hospital_code, month_key(event));
        match self.partitions[part].entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => {
                let o = *o.get();
                Err(DuplicateOf { file_index: o.file(), line: o.line() })
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Origin::new(file_index, event.line));
                self.len += 1;
                Ok(())
            }
        }
    }

    fn partition(&mut self, hospital_code: &str, month: u32) -> usize {
        if let Some((h, m, i)) = &self.last
            && *m == month
            && h == hospital_code
        {
            return *i;
        }
        let next = self.partitions.len();
        let i = *self.index.entry((hospital_code.to_owned(), month)).or_insert(next);
        if i == next {
            self.partitions.push(FingerprintMap::default());
        }
        self.last = Some((hospital_code.to_owned(), month, i));
        i
    }

    /// Forgets every row first seen in `file_index`, e.g. when the caller drops a file that
    /// stopped half-way. The file keeps its index.
    pub fn forget_file(&mut self, file_index: usize) {
        let mut removed = 0;
        for map in &mut self.partitions {
            let before = map.len();
            map.retain(|_, o| o.file() != file_index);
            removed += before - map.len();
        }
        self.len -= removed;
    }
}

fn month_key(e: &Event) -> u32 {
    (e.event_date.year().max(0) as u32) * 100 + e.event_date.month()
}

fn fingerprint_into(buf: &mut Vec<u8>, e: &Event) -> u128 {
    const SEP: u8 = 0x1F;
    buf.clear();
    let b = |v: bool| if v { b'1' } else { b'0' };
    buf.extend_from_slice(e.hospital_code.as_bytes());
    buf.push(SEP);
    buf.extend_from_slice(&e.event_date.num_days_from_ce().to_le_bytes());
    buf.push(SEP);
    buf.extend_from_slice(e.event_type.as_str().as_bytes());
    buf.push(SEP);
    buf.extend_from_slice(e.patient_key.as_bytes());
    buf.push(SEP);
    buf.extend_from_slice(e.department.as_bytes());
    buf.push(SEP);
    match &e.partner_code {
        Some(p) => {
            buf.push(b'P');
            buf.extend_from_slice(p.as_bytes());
        }
        None => buf.push(b'-'),
    }
    buf.push(SEP);
    buf.extend_from_slice(&[
        b(e.referral_letter),
        b(e.partner_related),
        b(e.ambulance),
        b(e.after_hours_emergency),
        b(e.checkup_origin),
    ]);
    xxh3_128(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::EventType;
    use chrono::NaiveDate;

    fn ev(line: u64) -> Event {
        Event {
            hospital_code: "0110113719".into(),
            event_date: NaiveDate::from_ymd_opt(2025, 4, 1).unwrap(),
            event_type: EventType::FirstVisit,
            patient_key: "00112233445566778899aabbccddeeff".into(),
            department: "内科".into(),
            referral_letter: true,
            partner_code: None,
            partner_related: false,
            ambulance: false,
            after_hours_emergency: false,
            checkup_origin: false,
            line,
            byte_offset: line * 100,
        }
    }

    #[test]
    fn identical_rows_are_found_across_files_and_lines_do_not_matter() {
        let mut d = Deduplicator::new();
        let (f0, f1) = (0, 1);
        d.name_file(f0, "a.csv");
        d.name_file(f1, "b.csv");
        assert_eq!(d.check(f0, &ev(2)), Ok(()));
        assert_eq!(d.check(f1, &ev(9)), Err(DuplicateOf { file_index: 0, line: 2 }));
        assert_eq!(d.len(), 1);
        assert_eq!(d.file_name(0), Some("a.csv"));
        assert_eq!(d.file_name(2), None);
    }

    #[test]
    fn every_field_takes_part() {
        let base = Deduplicator::fingerprint(&ev(2));
        let changes: [fn(&mut Event); 11] = [
            |e| e.hospital_code = "1310123458".into(),
            |e| e.event_date = NaiveDate::from_ymd_opt(2025, 4, 2).unwrap(),
            |e| e.event_type = EventType::ReturnVisit,
            |e| e.patient_key = "f".repeat(32),
            |e| e.department = "外科".into(),
            |e| e.referral_letter = false,
            |e| e.partner_code = Some("1310123458".into()),
            |e| e.partner_related = true,
            |e| e.ambulance = true,
            |e| e.after_hours_emergency = true,
            |e| e.checkup_origin = true,
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut e = ev(2);
            change(&mut e);
            assert_ne!(Deduplicator::fingerprint(&e), base, "change {i}");
        }
        // where the row is does not matter
        assert_eq!(Deduplicator::fingerprint(&ev(1000)), base);
    }

    #[test]
    fn forget_file_drops_its_rows() {
        let mut d = Deduplicator::new();
        let (f0, f1) = (0, 7);
        d.name_file(f1, "b.csv");
        d.check(f0, &ev(2)).unwrap();
        let mut other = ev(3);
        other.ambulance = true;
        d.check(f1, &other).unwrap();
        d.forget_file(f0);
        assert_eq!(d.len(), 1);
        assert_eq!(d.check(f1, &ev(5)), Ok(()));
        assert!(d.check(f0, &other).is_err());
    }
}
