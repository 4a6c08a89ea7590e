//! The complaints policy: every window and target, as versioned configuration dated by the day it
//! took effect.
//!
//! Numbers are never constants in code: the research marks several as unverified, and the rules
//! changed on 5 April 2024 and may change again. An inspection follows the policy in force when it
//! happened: its case records the version when it is notified and fixes it when on-site work
//! first starts, and every later decision about it (deadlines, the complaint's response target,
//! the escalation window) uses that version, looked up with [`PolicySet::version`]. A version's
//! numbers therefore never change once published; an operator file can add versions, never alter
//! one.
//!
//! The embedded set (`policy/default.json`) holds Era B (September 2020 to 4 April 2024) and
//! Era C (from 5 April 2024), with each number's provenance.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use platform::calendar::{Calendar, CalendarError, local_date};
use serde::{Deserialize, Serialize};

use super::{EscalationRoute, Remit, WindowStart, end_of_day, start_of_day};

const EMBEDDED_JSON: &str = include_str!("../../policy/default.json");

static EMBEDDED: LazyLock<PolicySet> = LazyLock::new(|| {
    // Cannot fail: the input is a compile-time constant, and the test
    // `the_embedded_policy_set_is_valid_and_has_era_b_and_era_c` parses exactly this text.
    PolicySet::from_json(EMBEDDED_JSON).expect("the embedded policy set is valid")
});

/// Why a policy set could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("failed to read policy file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not JSON of the expected shape; unknown fields are refused so that a misspelt
    /// name is not silently ignored.
    #[error("policy file does not have the expected JSON shape")]
    Malformed(#[source] serde_json::Error),
    /// The file lists no policy.
    #[error("policy file lists no policies")]
    NoPolicies,
    /// A version is empty, so decisions made with it could not be traced to it.
    #[error("a policy has an empty version")]
    EmptyVersion,
    /// Two policies share a version.
    #[error("policy version {version:?} is listed more than once")]
    DuplicateVersion { version: String },
    /// Two policies take effect on the same day, so which applies would be ambiguous.
    #[error("two policies take effect on {date}")]
    DuplicateEffectiveFrom { date: Date },
    /// A window or target of zero working days would close before it opened.
    #[error("policy {version:?}: {field} must be at least 1")]
    Zero {
        version: String,
        field: &'static str,
    },
    /// Every remit needs a pause limit, so a pause can always be deemed incomplete on time.
    #[error("policy {version:?} has no pause limit for {remit:?}")]
    MissingPauseLimit { version: String, remit: Remit },
    /// An operator file redefines an existing version with different numbers. Decisions already
    /// made under that version would no longer be reproducible; publish a new version instead.
    #[error("policy version {version:?} already exists with different values")]
    ConflictingVersion { version: String },
}

/// How long a window stays open after the day it counts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// To the end (Europe/London) of the nth working day after the start's date.
    WorkingDays(u32),
    /// To the end (Europe/London) of the same day of the month n months later; the 31st of a
    /// shorter month becomes its last day.
    CalendarMonths(u32),
}

/// The formal-complaint window rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintWindow {
    /// Working days after the report it counts from.
    pub working_days: u32,
    /// The draft report (Era C) or the final report (Era B).
    pub counted_from: WindowStart,
}

/// What a complainant may do after the response, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationRule {
    pub route: EscalationRoute,
    pub window: Period,
}

/// One version of the complaints policy. Built only by [`PolicySet`], so every value is validated:
/// windows and targets are at least one day and every remit has a pause limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    terms: Terms,
}

/// The file form of a policy, before validation.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Terms {
    version: String,
    effective_from: Date,
    #[serde(default)]
    description: String,
    day_after_window_working_days: u32,
    factual_accuracy_window_working_days: u32,
    formal_complaint_window: ComplaintWindow,
    factual_accuracy_precludes_formal_complaint: bool,
    acknowledgement_target_working_days: u32,
    response_target_working_days: u32,
    pause_limit_working_days: BTreeMap<Remit, u32>,
    publication_delay_explanation_after_working_days: u32,
    escalation: EscalationRule,
    allow_escalation_when_response_overdue: bool,
    /// Where each number comes from, with the research's [C]/[I]/[U] tags. Informational.
    #[serde(default)]
    provenance: BTreeMap<String, String>,
}

impl Policy {
    /// The version recorded in every event whose deadline this policy set.
    pub fn version(&self) -> &str {
        &self.terms.version
    }

    /// The first day (Europe/London) of inspections this policy governs.
    pub fn effective_from(&self) -> Date {
        self.terms.effective_from
    }

    /// A sentence saying which inspections this policy is for.
    pub fn description(&self) -> &str {
        &self.terms.description
    }

    /// Working days the day-after contact window spans (1: the next working day).
    pub fn day_after_window_working_days(&self) -> u32 {
        self.terms.day_after_window_working_days
    }

    /// Working days after the draft report for fast-track factual-accuracy points.
    pub fn factual_accuracy_window_working_days(&self) -> u32 {
        self.terms.factual_accuracy_window_working_days
    }

    /// The formal-complaint window.
    pub fn formal_complaint_window(&self) -> ComplaintWindow {
        self.terms.formal_complaint_window
    }

    /// Whether fast-track points close the formal route, unless a decision maker overrides.
    pub fn factual_accuracy_precludes_formal_complaint(&self) -> bool {
        self.terms.factual_accuracy_precludes_formal_complaint
    }

    /// Working days to acknowledge a complaint.
    pub fn acknowledgement_target_working_days(&self) -> u32 {
        self.terms.acknowledgement_target_working_days
    }

    /// Working days to respond to a complaint.
    pub fn response_target_working_days(&self) -> u32 {
        self.terms.response_target_working_days
    }

    /// Working days a pause may last for `remit` before the inspection is deemed incomplete.
    /// Every remit has one; validation refuses a policy without.
    pub fn pause_limit_working_days(&self, remit: Remit) -> u32 {
        // The fallback is unreachable (validation requires every remit); 1 would deem an
        // inspection incomplete early rather than never, which is the safer error.
        self.terms
            .pause_limit_working_days
            .get(&remit)
            .copied()
            .unwrap_or(1)
    }

    /// Working days after the last on-site day after which an unpublished report needs an
    /// explanation.
    pub fn publication_delay_explanation_after_working_days(&self) -> u32 {
        self.terms.publication_delay_explanation_after_working_days
    }

    /// The escalation route and window after a response.
    pub fn escalation(&self) -> EscalationRule {
        self.terms.escalation
    }

    /// Whether a complainant may escalate once a response is overdue, without waiting for it.
    pub fn allow_escalation_when_response_overdue(&self) -> bool {
        self.terms.allow_escalation_when_response_overdue
    }

    /// Where each number comes from.
    pub fn provenance(&self) -> &BTreeMap<String, String> {
        &self.terms.provenance
    }

    /// The day-after contact window for an inspection whose last on-site day was
    /// `last_onsite_date`: from 00:00 on the first working day after it to the end of the
    /// [`Policy::day_after_window_working_days`]th, Europe/London.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] if a day counted is outside the calendar.
    pub fn day_after_window(
        &self,
        calendar: &Calendar,
        last_onsite_date: Date,
    ) -> Result<(Timestamp, Timestamp), CalendarError> {
        let first = calendar.next_working_day_after(last_onsite_date)?;
        let last = calendar
            .nth_working_day_after(last_onsite_date, self.terms.day_after_window_working_days)?;
        Ok((start_of_day(first)?, end_of_day(last)?))
    }

    /// When an unpublished report starts to need an explanation.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] if a day counted is outside the calendar.
    pub fn publication_expected_by(
        &self,
        calendar: &Calendar,
        last_onsite_date: Date,
    ) -> Result<Timestamp, CalendarError> {
        end_of_day(calendar.nth_working_day_after(
            last_onsite_date,
            self.terms.publication_delay_explanation_after_working_days,
        )?)
    }

    /// The end of the factual-accuracy window for a draft issued at `issued_at`.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] if a day counted is outside the calendar.
    pub fn factual_accuracy_closes_at(
        &self,
        calendar: &Calendar,
        issued_at: Timestamp,
    ) -> Result<Timestamp, CalendarError> {
        calendar.end_of_nth_working_day_after(
            issued_at,
            self.terms.factual_accuracy_window_working_days,
        )
    }

    /// The end of the formal-complaint window that opens at `opens_at`.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] if a day counted is outside the calendar.
    pub fn formal_complaint_closes_at(
        &self,
        calendar: &Calendar,
        opens_at: Timestamp,
    ) -> Result<Timestamp, CalendarError> {
        calendar
            .end_of_nth_working_day_after(opens_at, self.terms.formal_complaint_window.working_days)
    }

    /// When a complaint received at `received_at` must be acknowledged.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] if a day counted is outside the calendar.
    pub fn acknowledgement_due_at(
        &self,
        calendar: &Calendar,
        received_at: Timestamp,
    ) -> Result<Timestamp, CalendarError> {
        calendar.end_of_nth_working_day_after(
            received_at,
            self.terms.acknowledgement_target_working_days,
        )
    }

    /// When a complaint received at `received_at` must be answered.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] if a day counted is outside the calendar.
    pub fn response_due_at(
        &self,
        calendar: &Calendar,
        received_at: Timestamp,
    ) -> Result<Timestamp, CalendarError> {
        calendar.end_of_nth_working_day_after(received_at, self.terms.response_target_working_days)
    }

    /// When a pause of a `remit` inspection that began at `paused_at` must have ended.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] if a day counted is outside the calendar.
    pub fn resume_deadline(
        &self,
        calendar: &Calendar,
        remit: Remit,
        paused_at: Timestamp,
    ) -> Result<Timestamp, CalendarError> {
        calendar.end_of_nth_working_day_after(paused_at, self.pause_limit_working_days(remit))
    }

    /// When the escalation window after a response at `responded_at` closes.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] if a day counted is outside the calendar, or the date would
    /// be beyond what can be represented.
    pub fn escalation_window_closes_at(
        &self,
        calendar: &Calendar,
        responded_at: Timestamp,
    ) -> Result<Timestamp, CalendarError> {
        match self.terms.escalation.window {
            Period::WorkingDays(n) => calendar.end_of_nth_working_day_after(responded_at, n),
            Period::CalendarMonths(n) => {
                let from = local_date(responded_at);
                let months =
                    i32::try_from(n).map_err(|_| CalendarError::OutOfRange { date: from })?;
                let last = from
                    .checked_add(months.months())
                    .map_err(|_| CalendarError::OutOfRange { date: from })?;
                end_of_day(last)
            }
        }
    }

    fn validate(&self) -> Result<(), PolicyError> {
        if self.terms.version.trim().is_empty() {
            return Err(PolicyError::EmptyVersion);
        }
        let escalation_days = match self.terms.escalation.window {
            Period::WorkingDays(n) | Period::CalendarMonths(n) => n,
        };
        let counts = [
            (
                "day_after_window_working_days",
                self.terms.day_after_window_working_days,
            ),
            (
                "factual_accuracy_window_working_days",
                self.terms.factual_accuracy_window_working_days,
            ),
            (
                "formal_complaint_window.working_days",
                self.terms.formal_complaint_window.working_days,
            ),
            (
                "acknowledgement_target_working_days",
                self.terms.acknowledgement_target_working_days,
            ),
            (
                "response_target_working_days",
                self.terms.response_target_working_days,
            ),
            (
                "publication_delay_explanation_after_working_days",
                self.terms.publication_delay_explanation_after_working_days,
            ),
            ("escalation.window", escalation_days),
        ];
        let zero_pause = self
            .terms
            .pause_limit_working_days
            .values()
            .any(|days| *days == 0)
            .then_some(("pause_limit_working_days", 0));
        if let Some((field, _)) = counts
            .into_iter()
            .chain(zero_pause)
            .find(|(_, value)| *value == 0)
        {
            return Err(PolicyError::Zero {
                version: self.terms.version.clone(),
                field,
            });
        }
        if let Some(remit) = Remit::ALL
            .iter()
            .find(|remit| !self.terms.pause_limit_working_days.contains_key(remit))
        {
            return Err(PolicyError::MissingPauseLimit {
                version: self.terms.version.clone(),
                remit: *remit,
            });
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    policies: Vec<Terms>,
}

/// Every known policy version, ordered by the day it took effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicySet {
    policies: Vec<Arc<Policy>>,
}

impl PolicySet {
    /// The embedded set: Era B (`era-b-2020-09`, from 1 September 2020) and Era C
    /// (`era-c-2024-04`, from 5 April 2024).
    pub fn embedded() -> &'static PolicySet {
        &EMBEDDED
    }

    /// A set from JSON of the shape `{"policies": [{"version", "effective_from", …}]}`.
    ///
    /// # Errors
    /// [`PolicyError::Malformed`] for the wrong shape or an unknown field, and the validation
    /// errors: [`PolicyError::NoPolicies`], [`PolicyError::EmptyVersion`],
    /// [`PolicyError::DuplicateVersion`], [`PolicyError::DuplicateEffectiveFrom`],
    /// [`PolicyError::Zero`], [`PolicyError::MissingPauseLimit`].
    pub fn from_json(json: &str) -> Result<PolicySet, PolicyError> {
        let file: File = serde_json::from_str(json).map_err(PolicyError::Malformed)?;
        PolicySet::new(
            file.policies
                .into_iter()
                .map(|terms| Policy { terms })
                .collect(),
        )
    }

    /// This set with the versions of an operator file added. See
    /// [`PolicySet::with_operator_json`].
    ///
    /// # Errors
    /// [`PolicyError::Read`] if the file cannot be read, otherwise as
    /// [`PolicySet::with_operator_json`].
    pub fn with_operator_file(&self, path: impl AsRef<Path>) -> Result<PolicySet, PolicyError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_owned(),
            source,
        })?;
        self.with_operator_json(&json)
    }

    /// This set with the versions of `json` (the shape of [`PolicySet::from_json`]) added. A
    /// version already in this set may be repeated only with identical values.
    ///
    /// # Errors
    /// [`PolicyError::ConflictingVersion`] when the file changes an existing version, and the
    /// errors of [`PolicySet::from_json`] for the file itself or the combined set.
    pub fn with_operator_json(&self, json: &str) -> Result<PolicySet, PolicyError> {
        let extension = PolicySet::from_json(json)?;
        let mut policies: Vec<Policy> = self.policies.iter().map(|p| (**p).clone()).collect();
        for policy in extension.policies {
            match self.version(policy.version()) {
                Some(existing) if *existing == *policy => {}
                Some(_) => {
                    return Err(PolicyError::ConflictingVersion {
                        version: policy.version().to_owned(),
                    });
                }
                None => policies.push((*policy).clone()),
            }
        }
        PolicySet::new(policies)
    }

    fn new(mut policies: Vec<Policy>) -> Result<PolicySet, PolicyError> {
        if policies.is_empty() {
            return Err(PolicyError::NoPolicies);
        }
        let mut versions = BTreeSet::new();
        let mut dates = BTreeSet::new();
        for policy in &policies {
            policy.validate()?;
            if !versions.insert(policy.version()) {
                return Err(PolicyError::DuplicateVersion {
                    version: policy.version().to_owned(),
                });
            }
            if !dates.insert(policy.effective_from()) {
                return Err(PolicyError::DuplicateEffectiveFrom {
                    date: policy.effective_from(),
                });
            }
        }
        policies.sort_by_key(Policy::effective_from);
        Ok(PolicySet {
            policies: policies.into_iter().map(Arc::new).collect(),
        })
    }

    /// The policy governing an inspection on `date` (Europe/London): the latest to take effect
    /// on or before it. `None` before the earliest.
    pub fn in_force_at(&self, date: Date) -> Option<Arc<Policy>> {
        self.policies
            .iter()
            .rev()
            .find(|p| p.effective_from() <= date)
            .cloned()
    }

    /// The policy with `version`, for decisions about an inspection that recorded it.
    pub fn version(&self, version: &str) -> Option<Arc<Policy>> {
        self.policies
            .iter()
            .find(|p| p.version() == version)
            .cloned()
    }

    /// Every policy, earliest first.
    pub fn policies(&self) -> impl Iterator<Item = &Arc<Policy>> {
        self.policies.iter()
    }
}
