//! The canonical record: one valid, pseudonymised row.

use std::fmt;

use chrono::NaiveDate;
use serde::Serialize;

/// One valid row, already pseudonymised. Holds no raw patient number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Event {
    /// 10-digit institution code of the reporting hospital, leading zeros kept.
    pub hospital_code: String,
    pub event_date: NaiveDate,
    pub event_type: EventType,
    /// 32 lowercase hex chars: HMAC-SHA256(key, normalised patient number), first 128 bits.
    pub patient_key: String,
    /// "" when absent.
    pub department: String,
    pub referral_letter: bool,
    /// 10-digit code of the referring / referred-to institution, if given.
    pub partner_code: Option<String>,
    /// The row's own flag, or the pair (hospital, partner) is in the related-institution list.
    pub partner_related: bool,
    pub ambulance: bool,
    pub after_hours_emergency: bool,
    pub checkup_origin: bool,
    /// Physical line the record starts on (the heading line is 1).
    pub line: u64,
    /// Offset of that line's first byte in the original file bytes (a BOM counts).
    pub byte_offset: u64,
}

/// What the source system says the visit was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EventType {
    /// 初診
    FirstVisit,
    /// 再診
    ReturnVisit,
    /// 逆紹介 (this hospital referred the patient onward)
    ReferralOut,
}

impl EventType {
    /// All variants, in canonical order.
    pub(crate) const ALL: [EventType; 3] =
        [EventType::FirstVisit, EventType::ReturnVisit, EventType::ReferralOut];

    /// The canonical name: "first_visit", "return_visit" or "referral_out".
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventType::FirstVisit => "first_visit",
            EventType::ReturnVisit => "return_visit",
            EventType::ReferralOut => "referral_out",
        }
    }

    /// Inverse of [`EventType::as_str`].
    pub(crate) fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The canonical input fields. Their names are what `columns:` in the config maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    HospitalCode,
    EventDate,
    EventType,
    PatientId,
    Department,
    ReferralLetter,
    PartnerCode,
    PartnerRelated,
    Ambulance,
    AfterHoursEmergency,
    CheckupOrigin,
}

impl Field {
    /// All fields, in canonical column order (the order used when a file has no heading line
    /// and no `columns:` mapping).
    pub const ALL: [Field; 11] = [
        Field::HospitalCode,
        Field::EventDate,
        Field::EventType,
        Field::PatientId,
        Field::Department,
        Field::ReferralLetter,
        Field::PartnerCode,
        Field::PartnerRelated,
        Field::Ambulance,
        Field::AfterHoursEmergency,
        Field::CheckupOrigin,
    ];

    /// Canonical snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Field::HospitalCode => "hospital_code",
            Field::EventDate => "event_date",
            Field::EventType => "event_type",
            Field::PatientId => "patient_id",
            Field::Department => "department",
            Field::ReferralLetter => "referral_letter",
            Field::PartnerCode => "partner_code",
            Field::PartnerRelated => "partner_related",
            Field::Ambulance => "ambulance",
            Field::AfterHoursEmergency => "after_hours_emergency",
            Field::CheckupOrigin => "checkup_origin",
        }
    }

    /// Inverse of [`Field::name`].
    pub fn from_name(s: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == s)
    }

    /// A file without one of these columns cannot be read.
    pub fn is_required(self) -> bool {
        matches!(self, Field::HospitalCode | Field::EventDate | Field::EventType | Field::PatientId)
    }

    /// The five true/false columns.
    pub fn is_flag(self) -> bool {
        matches!(
            self,
            Field::ReferralLetter
                | Field::PartnerRelated
                | Field::Ambulance
                | Field::AfterHoursEmergency
                | Field::CheckupOrigin
        )
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
