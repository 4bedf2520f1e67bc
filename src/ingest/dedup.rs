//! The identity of a record for exact-duplicate detection: a 128-bit fingerprint of every
//! canonical field (the pseudonym, never the raw number), so an identical record delivered
//! twice (a re-export, a copy under another name, two layouts of one export) is counted once.
//!
//! Where a duplicate is decided is not here: the hospital-month a row lands in compares
//! fingerprints (`month.rs`, over each month's spool, for `run` and `validate` alike).

use chrono::Datelike;
use xxhash_rust::xxh3::xxh3_128;

use super::event::Event;

/// 128-bit xxh3 of every canonical field of the event, excluding its line and byte offset.
#[cfg(test)]
pub(crate) fn fingerprint(event: &Event) -> u128 {
    let mut buf = Vec::with_capacity(128);
    fingerprint_into(&mut buf, &EventFields::of(event))
}

/// The fields of an event that make its identity, borrowed (from an [`Event`], or from a
/// stored batch's columns without building one).
pub(crate) struct EventFields<'a> {
    pub hospital_code: &'a str,
    /// Days from 0001-01-01 (chrono's `num_days_from_ce`).
    pub days_from_ce: i32,
    pub event_type: super::EventType,
    pub patient_key: &'a str,
    pub department: &'a str,
    pub partner_code: Option<&'a str>,
    /// referral_letter, partner_related, ambulance, after_hours_emergency, checkup_origin.
    pub flags: [bool; 5],
}

impl<'a> EventFields<'a> {
    pub(crate) fn of(e: &'a Event) -> Self {
        EventFields {
            hospital_code: &e.hospital_code,
            days_from_ce: e.event_date.num_days_from_ce(),
            event_type: e.event_type,
            patient_key: &e.patient_key,
            department: &e.department,
            partner_code: e.partner_code.as_deref(),
            flags: [
                e.referral_letter,
                e.partner_related,
                e.ambulance,
                e.after_hours_emergency,
                e.checkup_origin,
            ],
        }
    }
}

/// [`fingerprint`] of borrowed fields, reusing `buf`.
pub(crate) fn fingerprint_into(buf: &mut Vec<u8>, e: &EventFields<'_>) -> u128 {
    const SEP: u8 = 0x1F;
    buf.clear();
    let b = |v: bool| if v { b'1' } else { b'0' };
    buf.extend_from_slice(e.hospital_code.as_bytes());
    buf.push(SEP);
    buf.extend_from_slice(&e.days_from_ce.to_le_bytes());
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
    buf.extend_from_slice(&e.flags.map(b));
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
    fn every_field_takes_part() {
        let base = fingerprint(&ev(2));
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
            assert_ne!(fingerprint(&e), base, "change {i}");
        }
        // where the row is does not matter
        assert_eq!(fingerprint(&ev(1000)), base);
    }
}
