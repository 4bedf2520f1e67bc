//! The identity of a record for exact-duplicate detection: a 128-bit fingerprint of every
//! canonical field (the pseudonym, never the raw number), so an identical record delivered
//! twice (a re-export, a copy under another name, two layouts of one export) is counted once.
//!
//! Where a duplicate is decided is not here: the hospital-month a row lands in compares
//! fingerprints (`warehouse::writer`, and `validate` with the same rule).

use chrono::Datelike;
use xxhash_rust::xxh3::xxh3_128;

use super::event::Event;

/// 128-bit xxh3 of every canonical field of the event, excluding its line and byte offset.
pub(crate) fn fingerprint(event: &Event) -> u128 {
    let mut buf = Vec::with_capacity(128);
    fingerprint_into(&mut buf, event)
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
