//! Rows that could not be used, and why.

use std::fmt;

use serde::Serialize;

use super::event::Field;

/// The value shown instead of a patient number.
pub(crate) const MASK: &str = "***";

/// One rejected row (one record per row: the first problem found).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Reject {
    /// The file's display name.
    pub file: String,
    /// Physical line the row starts on (the heading line is 1).
    pub line: u64,
    /// Offset of the line's first byte in the original file bytes (a BOM counts).
    pub byte_offset: u64,
    /// Canonical field name, when one field is at fault.
    pub field: Option<String>,
    /// The offending value as read. Never a patient number: those are shown as "***".
    pub value: Option<String>,
    pub reason: RejectReason,
    /// English detail, e.g. "duplicate of line 17".
    pub detail: String,
}

impl Reject {
    /// Builds a reject; a `patient_id` value is replaced by "***" here (an empty one by
    /// nothing), so no caller can leak one by mistake.
    pub(crate) fn new(
        file: &str,
        line: u64,
        byte_offset: u64,
        field: Option<Field>,
        value: Option<&str>,
        reason: RejectReason,
        detail: String,
    ) -> Reject {
        let value = match field {
            Some(Field::PatientId) => {
                value.filter(|v| !super::text::trim(v).is_empty()).map(|_| MASK.to_owned())
            }
            _ => value.map(str::to_owned),
        };
        Reject {
            file: file.to_owned(),
            line,
            byte_offset,
            field: field.map(|f| f.name().to_owned()),
            value,
            reason,
            detail,
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason.message_en())?;
        if let Some(field) = &self.field {
            write!(f, " in {field}")?;
        }
        if let Some(v) = &self.value {
            write!(f, " ({v:?})")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// Why a row was rejected. `code()` ids are stable: reports and reject files use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RejectReason {
    FieldCount,
    BadDate,
    EraOutOfRange,
    UnknownEventType,
    BadHospitalCode,
    BadCheckDigit,
    BadPartnerCode,
    BadFlag,
    MissingPatientId,
    Duplicate,
    OutsideFileMonth,
    InvalidEncoding,
    DateOutOfRange,
}

impl RejectReason {
    /// All reasons, in a fixed order for reports.
    pub(crate) const ALL: [RejectReason; 13] = [
        RejectReason::FieldCount,
        RejectReason::BadDate,
        RejectReason::EraOutOfRange,
        RejectReason::UnknownEventType,
        RejectReason::BadHospitalCode,
        RejectReason::BadCheckDigit,
        RejectReason::BadPartnerCode,
        RejectReason::BadFlag,
        RejectReason::MissingPatientId,
        RejectReason::Duplicate,
        RejectReason::OutsideFileMonth,
        RejectReason::InvalidEncoding,
        RejectReason::DateOutOfRange,
    ];

    /// Stable snake_case id.
    pub(crate) fn code(self) -> &'static str {
        match self {
            RejectReason::FieldCount => "field_count",
            RejectReason::BadDate => "bad_date",
            RejectReason::EraOutOfRange => "era_out_of_range",
            RejectReason::UnknownEventType => "unknown_event_type",
            RejectReason::BadHospitalCode => "bad_hospital_code",
            RejectReason::BadCheckDigit => "bad_check_digit",
            RejectReason::BadPartnerCode => "bad_partner_code",
            RejectReason::BadFlag => "bad_flag",
            RejectReason::MissingPatientId => "missing_patient_id",
            RejectReason::Duplicate => "duplicate",
            RejectReason::OutsideFileMonth => "outside_file_month",
            RejectReason::InvalidEncoding => "invalid_encoding",
            RejectReason::DateOutOfRange => "date_out_of_range",
        }
    }

    /// Inverse of [`RejectReason::code`].
    pub(crate) fn from_code(code: &str) -> Option<RejectReason> {
        RejectReason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Short English message.
    pub(crate) fn message_en(self) -> &'static str {
        match self {
            RejectReason::FieldCount => "wrong number of fields",
            RejectReason::BadDate => "date cannot be read",
            RejectReason::EraOutOfRange => "date outside its Japanese era",
            RejectReason::UnknownEventType => "unknown visit type",
            RejectReason::BadHospitalCode => "invalid institution code",
            RejectReason::BadCheckDigit => "institution code has a wrong check digit",
            RejectReason::BadPartnerCode => "invalid partner institution code",
            RejectReason::BadFlag => "flag value not recognised",
            RejectReason::MissingPatientId => "patient number missing",
            RejectReason::Duplicate => "exact duplicate of an earlier record",
            RejectReason::OutsideFileMonth => "date outside the file's month",
            RejectReason::InvalidEncoding => "characters invalid in the file's encoding",
            RejectReason::DateOutOfRange => "date outside the plausible window (in the future or too old)",
        }
    }

    /// Short Japanese message.
    pub(crate) fn message_ja(self) -> &'static str {
        match self {
            RejectReason::FieldCount => "項目数が合いません",
            RejectReason::BadDate => "日付が読めません",
            RejectReason::EraOutOfRange => "元号の範囲外の日付です",
            RejectReason::UnknownEventType => "初診・再診・逆紹介の区分が不明です",
            RejectReason::BadHospitalCode => "医療機関コードが不正です",
            RejectReason::BadCheckDigit => "医療機関コードの検証番号が合いません",
            RejectReason::BadPartnerCode => "紹介元・紹介先の医療機関コードが不正です",
            RejectReason::BadFlag => "フラグの値が不明です",
            RejectReason::MissingPatientId => "患者番号がありません",
            RejectReason::Duplicate => "重複したレコードです",
            RejectReason::OutsideFileMonth => "ファイルの対象月以外の日付です",
            RejectReason::InvalidEncoding => "文字コードが不正です",
            RejectReason::DateOutOfRange => "ありえない日付です（未来の日付、または古すぎる日付）",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_match_serde() {
        let mut seen = std::collections::BTreeSet::new();
        for r in RejectReason::ALL {
            let c = r.code();
            assert!(c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{c}");
            assert!(seen.insert(c), "{c}");
            assert_eq!(serde_yaml::to_string(&r).unwrap().trim(), c, "serde and code() agree");
            assert!(!r.message_en().is_empty() && !r.message_ja().is_empty());
            assert_eq!(RejectReason::from_code(c), Some(r));
        }
        assert_eq!(RejectReason::BadDate.message_ja(), "日付が読めません");
        assert_eq!(RejectReason::from_code("bad-date"), None);
    }

    #[test]
    fn patient_id_values_are_masked() {
        let r = Reject::new(
            "a.csv",
            3,
            40,
            Some(Field::PatientId),
            Some("99887766"),
            RejectReason::MissingPatientId,
            "x".into(),
        );
        assert_eq!(r.value.as_deref(), Some("***"));
        assert!(!format!("{r:?}{r}").contains("99887766"));
        let r = Reject::new(
            "a.csv",
            3,
            40,
            Some(Field::PatientId),
            Some(""),
            RejectReason::MissingPatientId,
            "x".into(),
        );
        assert_eq!(r.value, None);
        let r = Reject::new(
            "a.csv",
            3,
            40,
            Some(Field::EventDate),
            Some("2025-02-30"),
            RejectReason::BadDate,
            "no such day".into(),
        );
        assert_eq!(r.to_string(), "a.csv:3: date cannot be read in event_date (\"2025-02-30\"): no such day");
    }
}
