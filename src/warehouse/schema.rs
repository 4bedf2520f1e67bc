//! Arrow schemas of the warehouse tables and builders for them.

use std::sync::{Arc, LazyLock};

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, Date32Builder, PrimitiveArray, RecordBatch, StringArray,
    StringBuilder, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::datatypes::{Date32Type, UInt64Type};

use crate::ingest::{Event, EventFields, EventType, Reject};

/// `events`: one row per valid input row, patient numbers only as keyed hashes.
pub(crate) static EVENTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("hospital_code", DataType::Utf8, false),
        Field::new("month", DataType::Utf8, false),
        Field::new("event_date", DataType::Date32, false),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("patient_key", DataType::Utf8, false),
        Field::new("department", DataType::Utf8, false),
        Field::new("referral_letter", DataType::Boolean, false),
        Field::new("partner_code", DataType::Utf8, true),
        Field::new("partner_related", DataType::Boolean, false),
        Field::new("ambulance", DataType::Boolean, false),
        Field::new("after_hours_emergency", DataType::Boolean, false),
        Field::new("checkup_origin", DataType::Boolean, false),
        Field::new("source_file", DataType::Utf8, false),
        Field::new("source_line", DataType::UInt64, false),
        Field::new("source_offset", DataType::UInt64, false),
    ]))
});

/// `rejects`: rows that were not taken, with where they were and why. Never a patient number.
pub(crate) static REJECTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("file", DataType::Utf8, false),
        Field::new("line", DataType::UInt64, false),
        Field::new("byte_offset", DataType::UInt64, false),
        Field::new("field", DataType::Utf8, true),
        Field::new("value", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, false),
    ]))
});

/// `reported_counts`: counts hospitals reported (aggregates inputs), NULL where not reported.
/// Each count has its upper bound beside it (`initial_patients_high`): the same value when the
/// count is exact, higher when the source masked it and only an interval is known.
pub(crate) static REPORTED: LazyLock<SchemaRef> = LazyLock::new(|| {
    use crate::regimes::Count;
    let mut fields = vec![
        Field::new("hospital_code", DataType::Utf8, false),
        Field::new("period_kind", DataType::Utf8, false),
        Field::new("period", DataType::Utf8, false),
    ];
    fields.extend(Count::ALL.iter().map(|c| Field::new(c.name(), DataType::Int64, true)));
    fields.push(Field::new("source_file", DataType::Utf8, false));
    fields.push(Field::new("source_line", DataType::UInt64, false));
    fields.extend(Count::ALL.iter().map(|c| Field::new(c.high_name(), DataType::Int64, true)));
    Arc::new(Schema::new(fields))
});

/// `month_breakdowns`: the sums of `queries/month_breakdowns.sql` per hospital and month, one
/// row per department (`breakdown` = `department`) or partner (`partner`), stored per month.
pub(crate) static BREAKDOWNS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![
        Field::new("hospital_code", DataType::Utf8, false),
        Field::new("month", DataType::Utf8, false),
        Field::new("breakdown", DataType::Utf8, false),
        Field::new("department", DataType::Utf8, true),
        Field::new("partner_code", DataType::Utf8, true),
    ];
    for sum in ["first_visits", "initial_patients", "referred_patients", "reverse_referred_patients"] {
        fields.push(Field::new(sum, DataType::Int64, true));
    }
    Arc::new(Schema::new(fields))
});

/// Whether `column` of the `reported_counts` table may be absent from a stored file: the
/// upper bounds came after the first warehouses were written, and a file without them holds
/// exact counts only.
pub(crate) fn reported_column_may_lack(column: &str) -> bool {
    crate::regimes::Count::ALL.iter().any(|c| c.high_name() == column)
}

/// A stored `reported_counts` batch in the current schema: upper bounds a file written before
/// them lacks are its exact counts.
pub(crate) fn reported_in_current_schema(batch: &RecordBatch) -> Result<RecordBatch, String> {
    let columns = REPORTED
        .fields()
        .iter()
        .map(|field| {
            let name = field.name();
            if let Some(column) = batch.column_by_name(name) {
                return Ok(column.clone());
            }
            crate::regimes::Count::ALL
                .iter()
                .find(|c| c.high_name() == name)
                .and_then(|c| batch.column_by_name(c.name()).cloned())
                .ok_or_else(|| format!("no column {name} (not a file of the reported table)"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    RecordBatch::try_new(REPORTED.clone(), columns).map_err(|e| e.to_string())
}

/// Reported rows as a batch of the `reported_counts` schema.
pub(crate) fn reported_batch(rows: &[crate::ingest::ReportedRow], source_file: &str) -> RecordBatch {
    use datafusion::arrow::array::Int64Builder;
    let mut hospital = StringBuilder::new();
    let mut kind = StringBuilder::new();
    let mut period = StringBuilder::new();
    let mut counts: Vec<Int64Builder> =
        crate::regimes::Count::ALL.iter().map(|_| Int64Builder::new()).collect();
    let mut highs: Vec<Int64Builder> =
        crate::regimes::Count::ALL.iter().map(|_| Int64Builder::new()).collect();
    let mut source = StringBuilder::new();
    let mut line = UInt64Builder::new();
    for r in rows {
        hospital.append_value(&r.hospital_code);
        kind.append_value(r.period.kind());
        period.append_value(r.period.label());
        for (b, c) in counts.iter_mut().zip(crate::regimes::Count::ALL) {
            b.append_option(r.counts.get(c.name()).map(|&v| v as i64));
        }
        for (b, c) in highs.iter_mut().zip(crate::regimes::Count::ALL) {
            b.append_option(r.high(c.name()).map(|v| v as i64));
        }
        source.append_value(source_file);
        line.append_value(r.line);
    }
    let mut columns: Vec<ArrayRef> =
        vec![Arc::new(hospital.finish()), Arc::new(kind.finish()), Arc::new(period.finish())];
    columns.extend(counts.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    columns.push(Arc::new(source.finish()));
    columns.push(Arc::new(line.finish()));
    columns.extend(highs.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    RecordBatch::try_new(REPORTED.clone(), columns).expect("columns match the reported schema")
}

/// `YYYY-MM` of a date.
pub(crate) fn month_of(date: NaiveDate) -> String {
    format!("{:04}-{:02}", date.year(), date.month())
}

/// Days since 1970-01-01 (negative before it), as Date32 stores them. Input dates are bounded
/// by the date window, so the value always fits.
fn days_since_epoch(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    i32::try_from((date - epoch).num_days()).unwrap_or(if date < epoch { i32::MIN } else { i32::MAX })
}

/// Accumulates events into Arrow columns.
pub(crate) struct EventBatchBuilder {
    hospital_code: StringBuilder,
    month: StringBuilder,
    event_date: Date32Builder,
    event_type: StringBuilder,
    patient_key: StringBuilder,
    department: StringBuilder,
    referral_letter: BooleanBuilder,
    partner_code: StringBuilder,
    partner_related: BooleanBuilder,
    ambulance: BooleanBuilder,
    after_hours_emergency: BooleanBuilder,
    checkup_origin: BooleanBuilder,
    source_file: StringBuilder,
    source_line: UInt64Builder,
    source_offset: UInt64Builder,
    len: usize,
}

impl Default for EventBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBatchBuilder {
    pub(crate) fn new() -> Self {
        EventBatchBuilder {
            hospital_code: StringBuilder::new(),
            month: StringBuilder::new(),
            event_date: Date32Builder::new(),
            event_type: StringBuilder::new(),
            patient_key: StringBuilder::new(),
            department: StringBuilder::new(),
            referral_letter: BooleanBuilder::new(),
            partner_code: StringBuilder::new(),
            partner_related: BooleanBuilder::new(),
            ambulance: BooleanBuilder::new(),
            after_hours_emergency: BooleanBuilder::new(),
            checkup_origin: BooleanBuilder::new(),
            source_file: StringBuilder::new(),
            source_line: UInt64Builder::new(),
            source_offset: UInt64Builder::new(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `e`, whose month ([`month_of`] its date) is `month`.
    pub(crate) fn push(&mut self, e: &Event, month: &str, source_file: &str) {
        debug_assert_eq!(month, month_of(e.event_date));
        self.hospital_code.append_value(&e.hospital_code);
        self.month.append_value(month);
        self.event_date.append_value(days_since_epoch(e.event_date));
        self.event_type.append_value(e.event_type.as_str());
        self.patient_key.append_value(&e.patient_key);
        self.department.append_value(&e.department);
        self.referral_letter.append_value(e.referral_letter);
        self.partner_code.append_option(e.partner_code.as_deref());
        self.partner_related.append_value(e.partner_related);
        self.ambulance.append_value(e.ambulance);
        self.after_hours_emergency.append_value(e.after_hours_emergency);
        self.checkup_origin.append_value(e.checkup_origin);
        self.source_file.append_value(source_file);
        self.source_line.append_value(e.line);
        self.source_offset.append_value(e.byte_offset);
        self.len += 1;
    }

    /// Takes the rows so far as a batch and starts empty again.
    pub(crate) fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.hospital_code.finish()),
            Arc::new(self.month.finish()),
            Arc::new(self.event_date.finish()),
            Arc::new(self.event_type.finish()),
            Arc::new(self.patient_key.finish()),
            Arc::new(self.department.finish()),
            Arc::new(self.referral_letter.finish()),
            Arc::new(self.partner_code.finish()),
            Arc::new(self.partner_related.finish()),
            Arc::new(self.ambulance.finish()),
            Arc::new(self.after_hours_emergency.finish()),
            Arc::new(self.checkup_origin.finish()),
            Arc::new(self.source_file.finish()),
            Arc::new(self.source_line.finish()),
            Arc::new(self.source_offset.finish()),
        ];
        self.len = 0;
        RecordBatch::try_new(EVENTS.clone(), columns).expect("columns match the events schema")
    }
}

/// The columns of a batch of the events schema, checked once and read row by row without
/// copying. A batch of another schema, a date Date32 cannot hold as a calendar day or an
/// unknown event type is an error (a foreign or damaged file), never a panic.
pub(crate) struct EventColumns<'a> {
    hospital: &'a StringArray,
    event_type: &'a StringArray,
    key: &'a StringArray,
    dept: &'a StringArray,
    partner: &'a StringArray,
    source: &'a StringArray,
    dates: &'a PrimitiveArray<Date32Type>,
    lines: &'a PrimitiveArray<UInt64Type>,
    offsets: &'a PrimitiveArray<UInt64Type>,
    flags: [&'a BooleanArray; 5],
}

/// `num_days_from_ce` of 1970-01-01: Date32 counts from there.
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

impl<'a> EventColumns<'a> {
    pub(crate) fn of(batch: &'a RecordBatch) -> Result<Self, String> {
        use datafusion::arrow::array::AsArray;
        for field in EVENTS.fields() {
            match batch.schema().field_with_name(field.name()) {
                Ok(found) if found.data_type() == field.data_type() => {}
                _ => {
                    return Err(format!(
                        "not a refrate events file: column {} ({}) is missing or of another type",
                        field.name(),
                        field.data_type()
                    ));
                }
            }
        }
        let column = |name: &str| batch.column_by_name(name).expect("checked above");
        let s = |name: &str| column(name).as_string::<i32>();
        let b = |name: &str| column(name).as_boolean();
        Ok(EventColumns {
            hospital: s("hospital_code"),
            event_type: s("event_type"),
            key: s("patient_key"),
            dept: s("department"),
            partner: s("partner_code"),
            source: s("source_file"),
            dates: column("event_date").as_primitive::<Date32Type>(),
            lines: column("source_line").as_primitive::<UInt64Type>(),
            offsets: column("source_offset").as_primitive::<UInt64Type>(),
            flags: [
                b("referral_letter"),
                b("partner_related"),
                b("ambulance"),
                b("after_hours_emergency"),
                b("checkup_origin"),
            ],
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.hospital.len()
    }

    /// The identity fields of row `i`.
    pub(crate) fn fields(&self, i: usize) -> Result<EventFields<'a>, String> {
        let event_type = EventType::parse(self.event_type.value(i))
            .ok_or_else(|| format!("row {i}: unknown event_type {:?}", self.event_type.value(i)))?;
        let days = self.dates.value(i);
        let days_from_ce = days
            .checked_add(EPOCH_DAYS_FROM_CE)
            .filter(|d| NaiveDate::from_num_days_from_ce_opt(*d).is_some())
            .ok_or_else(|| format!("row {i}: event_date {days} days from 1970-01-01 is no calendar date"))?;
        Ok(EventFields {
            hospital_code: self.hospital.value(i),
            days_from_ce,
            event_type,
            patient_key: self.key.value(i),
            department: self.dept.value(i),
            partner_code: (!self.partner.is_null(i)).then(|| self.partner.value(i)),
            flags: self.flags.map(|f| f.value(i)),
        })
    }

    pub(crate) fn source(&self, i: usize) -> &'a str {
        self.source.value(i)
    }

    pub(crate) fn line(&self, i: usize) -> u64 {
        self.lines.value(i)
    }

    pub(crate) fn offset(&self, i: usize) -> u64 {
        self.offsets.value(i)
    }

    /// Row `i` as an owned event, with its source file.
    pub(crate) fn event(&self, i: usize) -> Result<(Event, String), String> {
        let f = self.fields(i)?;
        let event_date = NaiveDate::from_num_days_from_ce_opt(f.days_from_ce).expect("checked by fields");
        let [referral_letter, partner_related, ambulance, after_hours_emergency, checkup_origin] = f.flags;
        let event = Event {
            hospital_code: f.hospital_code.to_string(),
            event_date,
            event_type: f.event_type,
            patient_key: f.patient_key.to_string(),
            department: f.department.to_string(),
            referral_letter,
            partner_code: f.partner_code.map(str::to_string),
            partner_related,
            ambulance,
            after_hours_emergency,
            checkup_origin,
            line: self.line(i),
            byte_offset: self.offset(i),
        };
        Ok((event, self.source(i).to_string()))
    }
}

/// Reads events back from a batch of the events schema (used when a month is rebuilt); see
/// [`EventColumns`] for what is an error.
pub(crate) fn events_from_batch(batch: &RecordBatch) -> Result<Vec<(Event, String)>, String> {
    let columns = EventColumns::of(batch)?;
    (0..columns.len()).map(|i| columns.event(i)).collect()
}

/// Rejects as a batch of the rejects schema.
pub(crate) fn rejects_batch(rejects: &[Reject]) -> RecordBatch {
    let mut file = StringBuilder::new();
    let mut line = UInt64Builder::new();
    let mut offset = UInt64Builder::new();
    let mut field = StringBuilder::new();
    let mut value = StringBuilder::new();
    let mut reason = StringBuilder::new();
    let mut detail = StringBuilder::new();
    for r in rejects {
        file.append_value(&r.file);
        line.append_value(r.line);
        offset.append_value(r.byte_offset);
        field.append_option(r.field.as_deref());
        value.append_option(r.value.as_deref());
        reason.append_value(r.reason.code());
        detail.append_value(&r.detail);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(file.finish()),
        Arc::new(line.finish()),
        Arc::new(offset.finish()),
        Arc::new(field.finish()),
        Arc::new(value.finish()),
        Arc::new(reason.finish()),
        Arc::new(detail.finish()),
    ];
    RecordBatch::try_new(REJECTS.clone(), columns).expect("columns match the rejects schema")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(day: u32, partner: Option<&str>, flags: [bool; 5]) -> Event {
        let [referral_letter, partner_related, ambulance, after_hours_emergency, checkup_origin] = flags;
        Event {
            hospital_code: "0110113719".into(),
            event_date: NaiveDate::from_ymd_opt(2025, 4, day).unwrap(),
            event_type: EventType::FirstVisit,
            patient_key: "00112233445566778899aabbccddeeff".into(),
            department: "内科".into(),
            referral_letter,
            partner_code: partner.map(str::to_string),
            partner_related,
            ambulance,
            after_hours_emergency,
            checkup_origin,
            line: u64::from(day) + 1,
            byte_offset: u64::from(day) * 80,
        }
    }

    #[test]
    fn stored_rows_read_back_as_the_events_written_with_the_same_fingerprints() {
        assert_eq!(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap().num_days_from_ce(), EPOCH_DAYS_FROM_CE);
        let events = [
            event(1, Some("1311009904"), [true, false, false, false, false]),
            event(30, None, [false, true, true, true, true]),
            event(2, Some(""), [false, false, true, false, false]),
        ];
        let mut builder = EventBatchBuilder::new();
        for e in &events {
            builder.push(e, "2025-04", "april.csv");
        }
        let batch = builder.finish();
        let columns = EventColumns::of(&batch).unwrap();
        assert_eq!(columns.len(), 3);
        let mut buf = Vec::new();
        for (i, e) in events.iter().enumerate() {
            assert_eq!(columns.event(i).unwrap(), (e.clone(), "april.csv".to_string()));
            let fields = columns.fields(i).unwrap();
            assert_eq!(crate::ingest::fingerprint_into(&mut buf, &fields), crate::ingest::fingerprint(e));
        }
    }

    #[test]
    fn a_date_no_calendar_holds_is_an_error_not_a_panic() {
        let mut builder = EventBatchBuilder::new();
        builder.push(&event(1, None, [false; 5]), "2025-04", "april.csv");
        let batch = builder.finish();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns[2] = Arc::new(datafusion::arrow::array::Date32Array::from(vec![i32::MAX]));
        let batch = RecordBatch::try_new(EVENTS.clone(), columns).unwrap();
        let err = EventColumns::of(&batch).unwrap().fields(0).err().unwrap();
        assert!(err.contains("is no calendar date"), "{err}");
    }
}
