//! The escalation policy: versioned configuration dated by the day it took effect.
//!
//! The complaints policy computes the window in which a response may be escalated and records it
//! (`EscalationRightsNotified.window_closes_at`); this policy holds what only escalation decides:
//! the application window for an escalation on an overdue response (calendar months, unverified: `[U]`),
//! whether such an escalation is allowed at all (off by default), how far ahead an accepted
//! recommendation may be scheduled, and whether closure needs every accepted recommendation
//! implemented or only scheduled. A version's numbers never change once published.
//!
//! The embedded set is `policy/default.json`, with each number's provenance.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock};

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;

use super::{end_of_day, local_date};

const EMBEDDED_JSON: &str = include_str!("../../policy/default.json");

static EMBEDDED: LazyLock<PolicySet> = LazyLock::new(|| {
    // Cannot fail: the input is a compile-time constant, and the test
    // `the_embedded_policy_set_is_valid` parses exactly this text.
    PolicySet::from_json(EMBEDDED_JSON).expect("the embedded policy set is valid")
});

/// Why a policy set could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The text is not JSON of the expected shape; unknown fields are refused so that a misspelt
    /// name is not silently ignored.
    #[error("policy file does not have the expected JSON shape")]
    Malformed(#[source] serde_json::Error),
    #[error("policy file lists no policies")]
    NoPolicies,
    #[error("a policy has an empty version")]
    EmptyVersion,
    #[error("policy version {version:?} is listed more than once")]
    DuplicateVersion { version: String },
    #[error("two policies take effect on {date}")]
    DuplicateEffectiveFrom { date: Date },
    /// A window of zero months would close as it opened.
    #[error("policy {version:?}: {field} must be at least 1")]
    Zero {
        version: String,
        field: &'static str,
    },
}

/// One version of the escalation policy, built only by [`PolicySet`] and therefore validated.
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
    application_window_calendar_months: u32,
    allow_escalation_when_response_overdue: bool,
    implementation_due_within_calendar_months: u32,
    closure_requires_implementation: bool,
    /// Where each number comes from, with the research's [C]/[I]/[U] tags. Informational.
    #[serde(default)]
    provenance: BTreeMap<String, String>,
}

impl Policy {
    /// The version recorded in every event a decision under this policy produced.
    pub fn version(&self) -> &str {
        &self.terms.version
    }

    /// The first day this version applies to.
    pub fn effective_from(&self) -> Date {
        self.terms.effective_from
    }

    /// Calendar months to apply after an overdue response's due date (unverified, `[U]`).
    pub fn application_window_calendar_months(&self) -> u32 {
        self.terms.application_window_calendar_months
    }

    /// Whether a complaint whose response is overdue counts as exhausted, with the ground
    /// `FailureToRespondInTimelyManner`. False in the embedded policy.
    pub fn allow_escalation_when_response_overdue(&self) -> bool {
        self.terms.allow_escalation_when_response_overdue
    }

    /// Calendar months after acceptance by which an accepted recommendation must be scheduled.
    pub fn implementation_due_within_calendar_months(&self) -> u32 {
        self.terms.implementation_due_within_calendar_months
    }

    /// Whether closure needs every accepted recommendation implemented, not only scheduled.
    pub fn closure_requires_implementation(&self) -> bool {
        self.terms.closure_requires_implementation
    }

    /// Where each number comes from.
    pub fn provenance(&self) -> &BTreeMap<String, String> {
        &self.terms.provenance
    }

    /// The end (Europe/London) of the day `application_window_calendar_months` after the date of
    /// `due_at`: the last instant an overdue response may be escalated. `None` only at the edge of
    /// what jiff represents.
    pub fn overdue_window_closes_at(&self, due_at: Timestamp) -> Option<Timestamp> {
        add_months_end_of_day(
            local_date(due_at),
            self.terms.application_window_calendar_months,
        )
    }

    /// The latest date an accepted recommendation may be scheduled for, counted from the date of
    /// `accepted_at`.
    pub fn latest_due_date(&self, accepted_at: Timestamp) -> Option<Date> {
        let months = i32::try_from(self.terms.implementation_due_within_calendar_months).ok()?;
        local_date(accepted_at).checked_add(months.months()).ok()
    }

    fn validate(&self) -> Result<(), PolicyError> {
        let zero = |field| PolicyError::Zero {
            version: self.terms.version.clone(),
            field,
        };
        if self.terms.version.trim().is_empty() {
            return Err(PolicyError::EmptyVersion);
        }
        if self.terms.application_window_calendar_months == 0 {
            return Err(zero("application_window_calendar_months"));
        }
        if self.terms.implementation_due_within_calendar_months == 0 {
            return Err(zero("implementation_due_within_calendar_months"));
        }
        Ok(())
    }
}

fn add_months_end_of_day(from: Date, months: u32) -> Option<Timestamp> {
    let months = i32::try_from(months).ok()?;
    end_of_day(from.checked_add(months.months()).ok()?)
}

/// The file form of a policy set.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    policies: Vec<Terms>,
}

/// Every published version, ordered by the day it took effect.
#[derive(Clone, Debug)]
pub struct PolicySet {
    policies: Vec<Arc<Policy>>,
}

impl PolicySet {
    /// The set compiled into the binary from `policy/default.json`.
    pub fn embedded() -> &'static PolicySet {
        &EMBEDDED
    }

    /// Parses and validates a set.
    ///
    /// # Errors
    /// [`PolicyError`] naming the first problem found.
    pub fn from_json(json: &str) -> Result<PolicySet, PolicyError> {
        let file: File = serde_json::from_str(json).map_err(PolicyError::Malformed)?;
        if file.policies.is_empty() {
            return Err(PolicyError::NoPolicies);
        }
        let mut versions = BTreeSet::new();
        let mut dates = BTreeSet::new();
        let mut policies = Vec::with_capacity(file.policies.len());
        for terms in file.policies {
            let policy = Policy { terms };
            policy.validate()?;
            if !versions.insert(policy.terms.version.clone()) {
                return Err(PolicyError::DuplicateVersion {
                    version: policy.terms.version,
                });
            }
            if !dates.insert(policy.terms.effective_from) {
                return Err(PolicyError::DuplicateEffectiveFrom {
                    date: policy.terms.effective_from,
                });
            }
            policies.push(Arc::new(policy));
        }
        policies.sort_by_key(|p| p.terms.effective_from);
        Ok(PolicySet { policies })
    }

    /// The version in force on `date`: the latest one effective on or before it.
    pub fn in_force_at(&self, date: Date) -> Option<Arc<Policy>> {
        self.policies
            .iter()
            .rev()
            .find(|p| p.terms.effective_from <= date)
            .cloned()
    }

    /// The version named `version`, for decisions that must follow the version recorded earlier.
    pub fn version(&self, version: &str) -> Option<Arc<Policy>> {
        self.policies
            .iter()
            .find(|p| p.terms.version == version)
            .cloned()
    }

    /// Every version, oldest first.
    pub fn policies(&self) -> impl Iterator<Item = &Arc<Policy>> {
        self.policies.iter()
    }
}
