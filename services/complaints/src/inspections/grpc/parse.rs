//! The request checks every handler shares. Each adds a field violation and returns `None` on a
//! bad value, so a handler reports every bad field of a request at once.

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use platform::event_store::CommandKey;
use platform::grpc::parse::{self, FieldViolations};
use uuid::Uuid;

/// How far ahead of the server's clock a reported time may be (clock skew between systems).
const MAX_SKEW: SignedDuration = SignedDuration::from_secs(60);

/// The earliest time or date a request may carry.
const EARLIEST: Date = jiff::civil::date(2000, 1, 1);

/// The latest date a request may carry (planned days are at most a few months ahead).
const LATEST: Date = jiff::civil::date(2100, 12, 31);

/// Longest opaque reference (staff, consultation, provider).
pub(super) const REF_MAX: usize = 128;
/// Longest document reference.
pub(super) const DOC_REF_MAX: usize = 256;
/// Longest narrative (a concern, a summary).
pub(super) const NARRATIVE_MAX: usize = 10_000;

/// The idempotency key: what [`CommandKey::new`] accepts.
pub(super) fn request_id(v: &mut FieldViolations, value: &str) -> Option<String> {
    match CommandKey::new("", value, "", &[]) {
        Ok(_) => Some(value.to_owned()),
        Err(reason) => {
            v.push("request_id", reason);
            None
        }
    }
}

/// A non-nil UUID.
pub(super) fn id(v: &mut FieldViolations, field: &str, value: &str) -> Option<Uuid> {
    v.check(parse::uuid(field, value))
}

/// Non-empty text of at most `max` characters, without NUL or bidirectional controls.
pub(super) fn text(
    v: &mut FieldViolations,
    field: &str,
    value: String,
    max: usize,
) -> Option<String> {
    v.check(parse::required_text(field, value, max))
}

/// Text as [`text`], or empty.
pub(super) fn optional_text(
    v: &mut FieldViolations,
    field: &str,
    value: String,
    max: usize,
) -> Option<String> {
    if value.is_empty() {
        Some(value)
    } else {
        text(v, field, value, max)
    }
}

/// A category: `from_proto` gives `None` for UNSPECIFIED and for numbers the schema lacks.
pub(super) fn category<T>(
    v: &mut FieldViolations,
    field: &str,
    value: i32,
    from_proto: fn(i32) -> Option<T>,
) -> Option<T> {
    let parsed = from_proto(value);
    if parsed.is_none() {
        v.push(
            field,
            "must be one of the enumerated values, not UNSPECIFIED",
        );
    }
    parsed
}

/// A `YYYY-MM-DD` date between 2000 and 2100.
pub(super) fn date(v: &mut FieldViolations, field: &str, value: &str) -> Option<Date> {
    match value.parse::<Date>() {
        Ok(date) if (EARLIEST..=LATEST).contains(&date) && value.len() == 10 => Some(date),
        Ok(_) => {
            v.push(field, "must be between 2000-01-01 and 2100-12-31");
            None
        }
        Err(_) => {
            v.push(field, "must be a date like 2025-06-11");
            None
        }
    }
}

/// A date as [`date`], or `None` when empty.
pub(super) fn optional_date(
    v: &mut FieldViolations,
    field: &str,
    value: &str,
) -> Option<Option<Date>> {
    if value.is_empty() {
        Some(None)
    } else {
        date(v, field, value).map(Some)
    }
}

/// When a reported fact happened: required, a valid protobuf timestamp (nanos in 0..1e9), not in
/// the future beyond clock skew, not before 2000.
pub(super) fn occurred_at(
    v: &mut FieldViolations,
    field: &str,
    value: Option<&prost_types::Timestamp>,
    now: Timestamp,
) -> Option<Timestamp> {
    let Some(value) = value else {
        v.push(field, "is required");
        return None;
    };
    // A protobuf Timestamp keeps its nanos in 0..1e9; jiff would fold negative ones into the
    // second before, accepting a value no conforming client sends.
    if !(0..1_000_000_000).contains(&value.nanos) {
        v.push(field, "is not a valid timestamp");
        return None;
    }
    let Ok(at) = Timestamp::new(value.seconds, value.nanos) else {
        v.push(field, "is not a valid timestamp");
        return None;
    };
    let earliest = EARLIEST
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp());
    if earliest.is_ok_and(|earliest| at < earliest) {
        v.push(field, "must not be before 2000-01-01");
        return None;
    }
    if now.checked_add(MAX_SKEW).is_ok_and(|latest| at > latest) {
        v.push(field, "must not be in the future");
        return None;
    }
    Some(at)
}

/// Where a query must have caught up to, and how long it may wait (capped by the server).
pub(super) fn consistency(
    value: Option<proto::common::v1::ReadConsistency>,
) -> Option<(platform::tail::Position, Option<std::time::Duration>)> {
    let value = value?;
    let position = value.at_least?;
    let wait = (value.max_wait_ms > 0)
        .then(|| std::time::Duration::from_millis(u64::from(value.max_wait_ms)));
    Some((position.into(), wait))
}
