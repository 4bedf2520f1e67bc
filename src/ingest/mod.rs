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
//! - the identity of a record for exact-duplicate detection ([`fingerprint`]);
//! - what a delivery means for a hospital-month: already present, duplicate, overlap
//!   ([`judge_month`]), applied to the rows of a month as stored ([`MonthRows`]);
//! - the related-institution list ([`RelatedInstitutions`]) and the hospital master
//!   ([`load_hospitals`]), read as CSV or workbook tables (`table.rs`);
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
mod facts;
mod format;
mod lines;
mod master;
mod month;
pub(crate) mod presets;
mod privacy;
mod pseudonym;
mod read;
mod reject;
mod related;
mod split;
mod table;
mod text;

pub(crate) use aggregates::ReportedPeriod;
pub(crate) use aggregates::{AggregatesError, ReportedRow, read_aggregates};
pub(crate) use code::luhn_check_digit;
#[cfg(test)]
pub(crate) use dedup::fingerprint;
pub(crate) use dedup::{EventFields, fingerprint_into};
pub(crate) use delivery::{Fate, MonthRow, Overlap, OverlapOutcome, OverlapPolicy, judge_month};
pub(crate) use event::{Event, EventType};
pub(crate) use facts::{FactsRow, load_facts};
pub(crate) use format::{DateWindow, InputFormat, ValueMaps};
pub(crate) use master::{Hospital, MasterError, MasterSource, load_hospitals};
pub(crate) use month::{Duplicate, KeptPartition, PartitionOverlap, RowSpool, hospital_month};
pub(crate) use privacy::{IdentifierColumn, PatientNumbers, RowPatient};
pub(crate) use pseudonym::{KEY_ENV_VAR, KeyError, Pseudonymizer, load_key};
pub(crate) use read::{FileStats, IngestContext, IngestError, ReadError, read_file};
pub(crate) use reject::{MASK, Reject, RejectReason};
pub(crate) use related::RelatedInstitutions;
pub(crate) use table::{TableFormat, is_workbook, workbook_as_csv};

#[cfg(test)]
mod tests;
