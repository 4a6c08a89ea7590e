//! The parse step of every handler (house rule 1): turn a request into checked values, or
//! into one `INVALID_ARGUMENT` listing every bad field (reliability plan §6.3).
//!
//! ```
//! use platform::grpc::parse::{self, FieldViolations};
//! # fn run(complaint_id: &str, reason: String) -> Result<(), tonic::Status> {
//! let mut violations = FieldViolations::new();
//! let id = violations.check(parse::uuid("complaint_id", complaint_id));
//! let reason = violations.check(parse::required_text("reason", reason, 2_000));
//! let (id, reason) = violations.finish((id, reason))?;
//! # let _ = (id, reason); Ok(()) }
//! ```
//!
//! Descriptions name the rule, never the submitted value, so no personal data reaches a client
//! or a log through them.

use tonic::Status;
use uuid::Uuid;

use super::errors;

/// One bad field: its path in the request (`complaint.summary`) and the rule it broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub description: String,
}

impl Violation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl From<Violation> for Status {
    fn from(violation: Violation) -> Self {
        errors::invalid_argument([(violation.field, violation.description)])
    }
}

/// Collects the violations found while parsing one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "call `into_result` or `finish`, or the violations are lost"]
pub struct FieldViolations {
    violations: Vec<Violation>,
}

impl FieldViolations {
    /// No violations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` broke the rule `description`.
    pub fn push(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.violations.push(Violation::new(field, description));
    }

    /// The value of a validator's result, or `None` after recording its violation.
    pub fn check<T>(&mut self, result: Result<T, Violation>) -> Option<T> {
        result
            .map_err(|violation| self.violations.push(violation))
            .ok()
    }

    /// Whether nothing has been recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    /// The violations recorded so far, in order.
    #[must_use]
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// # Errors
    /// `INVALID_ARGUMENT` with every recorded violation, when there is at least one.
    pub fn into_result(self) -> Result<(), Status> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.into())
        }
    }

    /// The checked values, once every field passed: `values` is an `Option` returned by
    /// [`Self::check`], or a tuple of up to six of them.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` with every recorded violation, when there is at least one. A `None`
    /// with nothing recorded (it did not come from [`Self::check`]) is a bug in the caller,
    /// reported as `INTERNAL`.
    pub fn finish<T: Checked>(self, values: T) -> Result<T::Values, Status> {
        self.into_result()?;
        values.all_present().ok_or_else(|| {
            errors::internal("a parsed field was absent but no violation was recorded")
        })
    }
}

impl From<FieldViolations> for Status {
    fn from(violations: FieldViolations) -> Self {
        errors::invalid_argument(
            violations
                .violations
                .into_iter()
                .map(|v| (v.field, v.description)),
        )
    }
}

/// `Option`s returned by [`FieldViolations::check`], alone or in a tuple.
pub trait Checked {
    /// The values without their `Option`s.
    type Values;
    /// `Some` when every value is present.
    fn all_present(self) -> Option<Self::Values>;
}

impl<A> Checked for Option<A> {
    type Values = A;
    fn all_present(self) -> Option<A> {
        self
    }
}

macro_rules! checked_tuple {
    ($($name:ident),+) => {
        impl<$($name),+> Checked for ($(Option<$name>,)+) {
            type Values = ($($name,)+);
            #[allow(non_snake_case)]
            fn all_present(self) -> Option<Self::Values> {
                let ($($name,)+) = self;
                Some(($($name?,)+))
            }
        }
    };
}
checked_tuple!(A, B);
checked_tuple!(A, B, C);
checked_tuple!(A, B, C, D);
checked_tuple!(A, B, C, D, E);
checked_tuple!(A, B, C, D, E, F);

/// Bidirectional override and isolate controls (U+202A–U+202E, U+2066–U+2069), which can make
/// text display in a different order from the one stored ("Trojan Source").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A required free-text field: not empty or whitespace-only, no NUL (PostgreSQL `text`
/// refuses it), no bidirectional override or isolate controls, and at most `max_chars`
/// Unicode scalar values (characters, not bytes: an emoji counts as one).
///
/// # Errors
/// A [`Violation`] of `field` naming the first rule broken.
pub fn required_text(
    field: &str,
    value: impl Into<String>,
    max_chars: usize,
) -> Result<String, Violation> {
    let value = value.into();
    if value.trim().is_empty() {
        return Err(Violation::new(field, "must not be empty"));
    }
    if value.contains('\0') {
        return Err(Violation::new(field, "must not contain NUL characters"));
    }
    if value.chars().any(is_bidi_control) {
        return Err(Violation::new(
            field,
            "must not contain bidirectional control characters",
        ));
    }
    if value.chars().nth(max_chars).is_some() {
        return Err(Violation::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok(value)
}

/// A required UUID in its canonical hyphenated form (36 characters, either case), not nil.
///
/// # Errors
/// A [`Violation`] of `field` when the value is malformed or the nil UUID.
pub fn uuid(field: &str, value: &str) -> Result<Uuid, Violation> {
    let parsed = (value.len() == 36)
        .then(|| Uuid::try_parse(value).ok())
        .flatten()
        .ok_or_else(|| {
            Violation::new(
                field,
                "must be a UUID like 01890a5d-ac96-774b-bcce-b302099a8057",
            )
        })?;
    if parsed.is_nil() {
        return Err(Violation::new(field, "must not be the nil UUID"));
    }
    Ok(parsed)
}

/// An optional free-text field: empty means absent; otherwise as [`required_text`].
///
/// # Errors
/// As [`required_text`] for a non-empty value.
pub fn optional_text(
    field: &str,
    value: impl Into<String>,
    max_chars: usize,
) -> Result<Option<String>, Violation> {
    let value = value.into();
    if value.is_empty() {
        Ok(None)
    } else {
        required_text(field, value, max_chars).map(Some)
    }
}

/// An enumerated category from its protobuf number: known to this build and not UNSPECIFIED.
///
/// # Errors
/// A [`Violation`] of `field` for 0 or a number `from_proto` does not know.
pub fn category<T>(
    field: &str,
    value: i32,
    from_proto: fn(i32) -> Option<T>,
) -> Result<T, Violation> {
    from_proto(value)
        .ok_or_else(|| Violation::new(field, "must be one of the listed values, not UNSPECIFIED"))
}

/// A set of categories from a repeated enum field: each known, none twice, at most `max`.
/// Records every violation (indexed, `grounds[2]`) and answers `None` if there was one.
pub fn categories<T: Ord + Copy>(
    violations: &mut FieldViolations,
    field: &str,
    values: &[i32],
    max: usize,
    from_proto: fn(i32) -> Option<T>,
) -> Option<std::collections::BTreeSet<T>> {
    if values.len() > max {
        violations.push(field, format!("must have at most {max} values"));
        return None;
    }
    let mut set = std::collections::BTreeSet::new();
    let mut ok = true;
    for (i, value) in values.iter().enumerate() {
        match category(&format!("{field}[{i}]"), *value, from_proto) {
            Ok(v) if set.insert(v) => {}
            Ok(_) => {
                violations.push(format!("{field}[{i}]"), "must not repeat a value");
                ok = false;
            }
            Err(violation) => {
                violations.push(violation.field, violation.description);
                ok = false;
            }
        }
    }
    ok.then_some(set)
}

/// The idempotency key of a command: `request_id`, scoped to the caller, with a hash of the
/// whole request under its full method name, so a reuse with a different request is detected.
pub fn command_key(
    violations: &mut FieldViolations,
    caller: &super::Principal,
    method: &str,
    request_id: &str,
    request: &impl prost::Message,
) -> Option<crate::event_store::CommandKey> {
    violations.check(
        crate::event_store::CommandKey::new(
            &caller.subject,
            request_id,
            method,
            &request.encode_to_vec(),
        )
        .map_err(|why| Violation::new("request_id", why)),
    )
}

/// How long a query waits for its consistency position, and for which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Consistency {
    pub at_least: Option<crate::tail::Position>,
    pub max_wait: std::time::Duration,
}

/// A query's `ReadConsistency`, its wait capped at `cap` (zero asks for the cap).
pub fn consistency(
    consistency: Option<proto::common::v1::ReadConsistency>,
    cap: std::time::Duration,
) -> Consistency {
    let consistency = consistency.unwrap_or_default();
    let asked = std::time::Duration::from_millis(u64::from(consistency.max_wait_ms));
    Consistency {
        at_least: consistency.at_least.map(crate::tail::Position::from),
        max_wait: if asked.is_zero() { cap } else { asked.min(cap) },
    }
}

/// A checked page request over rows keyed by time-ordered UUIDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// Rows after this key (the previous page's last).
    pub after: Option<Uuid>,
    pub size: u32,
}

/// Largest page.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// `page_size` (0 means [`DEFAULT_PAGE_SIZE`], at most [`MAX_PAGE_SIZE`]) and `page_token` (empty,
/// or a previous answer's `next_page_token`).
pub fn page(violations: &mut FieldViolations, size: u32, token: &str) -> Option<Page> {
    let size = match size {
        0 => Some(DEFAULT_PAGE_SIZE),
        1..=MAX_PAGE_SIZE => Some(size),
        _ => {
            violations.push("page_size", format!("must be at most {MAX_PAGE_SIZE}"));
            None
        }
    };
    let after = match token {
        "" => Some(None),
        token => violations.check(uuid("page_token", token).map(Some).map_err(|_| {
            Violation::new(
                "page_token",
                "must be a next_page_token from a previous answer",
            )
        })),
    };
    Some(Page {
        after: after?,
        size: size?,
    })
}

/// One page of rows fetched with `limit = size + 1`: truncated to the page, with the next
/// page's token (the last row's key) when there was more.
pub fn paged<T>(mut rows: Vec<T>, page: Page, key: impl Fn(&T) -> Uuid) -> (Vec<T>, String) {
    let size = page.size as usize;
    if rows.len() > size {
        rows.truncate(size);
        let token = rows.last().map(|r| key(r).to_string()).unwrap_or_default();
        (rows, token)
    } else {
        (rows, String::new())
    }
}
