//! Ingest: turns one hospital export (CSV in UTF-8 or Shift_JIS) into validated, pseudonymised
//! [`Event`]s and [`Reject`]s.
//!
//! This module owns:
//! - reading one input file as raw bytes, split into physical lines, decoded strictly
//!   ([`read_file`], `lines`, `split`);
//! - mapping file headings to canonical fields and file values to the canonical vocabulary
//!   ([`InputFormat`], [`ValueMaps`]);
//! - parsing dates, Gregorian and Japanese era ([`parse_date`]);
//! - checking 医療機関コード (10 digits, Luhn check digit) ([`parse_institution_code`]);
//! - validating each row and recording why a row was rejected ([`Reject`], [`RejectReason`]);
//! - exact-duplicate detection across the files of one run ([`Deduplicator`]);
//! - what a delivery means for a hospital-month: already present, duplicate, overlap
//!   ([`judge_month`]);
//! - the related-institution list ([`RelatedInstitutions`]) and the hospital master
//!   ([`load_hospitals`]);
//! - pseudonymising patient numbers with HMAC-SHA256 ([`Pseudonymizer`]);
//! - keeping raw patient numbers out of reject values even when columns are shifted, and
//!   flagging a text column that holds identifiers ([`PatientNumbers`], [`IdentifierColumn`]).
//!
//! It must not write files, know about Parquet or Arrow, or keep a raw patient number anywhere
//! once its row is processed: the number is hashed as soon as the row is split, and never put
//! into an [`Event`], a [`Reject`], an error message or a `Debug` output.

mod aggregates;
mod code;
mod date;
mod dedup;
mod delivery;
mod event;
mod format;
mod lines;
mod master;
mod privacy;
mod pseudonym;
mod read;
mod reject;
mod related;
mod split;
mod text;

pub use aggregates::{AggregatesError, ReportedPeriod, ReportedRow, read_aggregates};
pub use code::{CodeError, InstitutionCode, luhn_check_digit, parse_institution_code};
pub use date::{DateError, Era, parse_date};
pub use dedup::{Deduplicator, DuplicateOf};
pub use delivery::{Fate, MonthJudgement, MonthRow, Overlap, OverlapOutcome, OverlapPolicy, judge_month};
pub use event::{Event, EventType, Field};
pub use format::{DateWindow, FileMonth, FormatError, InputEncoding, InputFormat, ValueMaps};
pub use master::{Hospital, MasterError, load_hospitals};
pub use privacy::{IdentifierColumn, IdentifierEvidence, PatientNumbers, RowPatient, shape};
pub use pseudonym::{
    DEMO_ENV_VAR, KEY_ENV_VAR, KEY_FILE_OPTION, KeyError, MIN_KEY_BYTES, PUBLIC_KEY_SUFFIX, Pseudonymizer,
    load_key, weak_key_warning,
};
pub use read::{FileStats, IngestContext, IngestError, ReadError, read_file};
pub use reject::{MASK, Reject, RejectReason};
pub use related::RelatedInstitutions;

#[cfg(test)]
mod tests;
