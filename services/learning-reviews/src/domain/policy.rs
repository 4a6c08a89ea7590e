//! The learning-review commissioning policy: versioned configuration dated by the day it took
//! effect, answering the four questions Ofsted committed to define ([C: P31]): when a review is
//! commissioned (the incident categories that trigger one), who approves it (HMCI and the Chair),
//! who may not conduct it (the connections that conflict), and what must be done before it closes
//! (which responses need an action, how many audiences the lessons must reach).
//!
//! No standing policy text was found (research §3, [U]), so every list and number here is
//! configuration with its provenance, never code. A version's values never change once published;
//! a review follows the version recorded when its incident was assessed.
//!
//! The embedded set is `policy/default.json`. Categories are written by their protobuf names
//! (`APPROVER_HMCI`, `INCIDENT_CATEGORY_DEATH`); connections by their event names
//! (`inspection_team`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock};

use jiff::civil::Date;
use serde::Deserialize;

use super::{Approver, Connection, IncidentCategory, RecommendationResponse, v1};

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
    /// A list that must name at least one value is empty (no approver would let anyone
    /// commission alone; no trigger would mean no review is ever commissioned).
    #[error("policy {version:?}: {field} must not be empty")]
    Empty {
        version: String,
        field: &'static str,
    },
    #[error("policy {version:?}: {field} has the unknown value {value:?}")]
    UnknownValue {
        version: String,
        field: &'static str,
        value: String,
    },
    #[error("policy {version:?}: {field} lists {value:?} more than once")]
    Repeated {
        version: String,
        field: &'static str,
        value: String,
    },
    /// Closure without any dissemination would break invariant 9.
    #[error("policy {version:?}: {field} must be at least 1")]
    Zero {
        version: String,
        field: &'static str,
    },
}

/// The file form of a policy, before validation.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Terms {
    version: String,
    effective_from: Date,
    #[serde(default)]
    description: String,
    required_approvers: Vec<String>,
    review_triggers: Vec<String>,
    conflicting_connections: Vec<String>,
    responses_requiring_action: Vec<String>,
    min_audiences_to_close: u32,
    /// Where each value comes from, with the research's [C]/[I]/[U] tags. Informational.
    #[serde(default)]
    provenance: BTreeMap<String, String>,
}

/// One version of the policy, built only by [`PolicySet`] and therefore validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    version: String,
    effective_from: Date,
    description: String,
    required_approvers: BTreeSet<Approver>,
    review_triggers: BTreeSet<IncidentCategory>,
    conflicting_connections: BTreeSet<Connection>,
    responses_requiring_action: BTreeSet<RecommendationResponse>,
    min_audiences_to_close: u32,
    provenance: BTreeMap<String, String>,
}

impl Policy {
    /// The version recorded in every event a decision under this policy produced.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The first day this version applies to.
    pub fn effective_from(&self) -> Date {
        self.effective_from
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// Who must approve a commission (HMCI and the Chair in the embedded policy, [C: P31]).
    pub fn required_approvers(&self) -> &BTreeSet<Approver> {
        &self.required_approvers
    }

    /// The incident categories in which a review may be commissioned.
    pub fn review_triggers(&self) -> &BTreeSet<IncidentCategory> {
        &self.review_triggers
    }

    /// Whether an incident of `category` is one the policy reviews.
    pub fn triggers_review(&self, category: IncidentCategory) -> bool {
        self.review_triggers.contains(&category)
    }

    /// The connections with a related inspection that make a reviewer conflicted.
    pub fn conflicting_connections(&self) -> &BTreeSet<Connection> {
        &self.conflicting_connections
    }

    /// The responses whose recommendation needs an action implemented or transferred before the
    /// review closes.
    pub fn requires_action(&self, response: RecommendationResponse) -> bool {
        self.responses_requiring_action.contains(&response)
    }

    /// The responses that need an action.
    pub fn responses_requiring_action(&self) -> &BTreeSet<RecommendationResponse> {
        &self.responses_requiring_action
    }

    /// How many distinct audiences the lessons must have reached before the review closes.
    pub fn min_audiences_to_close(&self) -> u32 {
        self.min_audiences_to_close
    }

    /// Where each value comes from.
    pub fn provenance(&self) -> &BTreeMap<String, String> {
        &self.provenance
    }

    fn from_terms(terms: Terms) -> Result<Policy, PolicyError> {
        if terms.version.trim().is_empty() {
            return Err(PolicyError::EmptyVersion);
        }
        let version = terms.version.clone();
        let required_approvers = values(
            &version,
            "required_approvers",
            &terms.required_approvers,
            |name| v1::Approver::from_str_name(name).and_then(|v| Approver::from_proto(v as i32)),
        )?;
        let review_triggers = values(
            &version,
            "review_triggers",
            &terms.review_triggers,
            |name| {
                v1::IncidentCategory::from_str_name(name)
                    .and_then(|v| IncidentCategory::from_proto(v as i32))
            },
        )?;
        let conflicting_connections = values(
            &version,
            "conflicting_connections",
            &terms.conflicting_connections,
            Connection::from_name,
        )?;
        let responses_requiring_action = values(
            &version,
            "responses_requiring_action",
            &terms.responses_requiring_action,
            |name| {
                v1::RecommendationResponse::from_str_name(name)
                    .and_then(|v| RecommendationResponse::from_proto(v as i32))
            },
        )?;
        let empty = |field| PolicyError::Empty {
            version: version.clone(),
            field,
        };
        if required_approvers.is_empty() {
            return Err(empty("required_approvers"));
        }
        if review_triggers.is_empty() {
            return Err(empty("review_triggers"));
        }
        if conflicting_connections.is_empty() {
            return Err(empty("conflicting_connections"));
        }
        if terms.min_audiences_to_close == 0 {
            return Err(PolicyError::Zero {
                version,
                field: "min_audiences_to_close",
            });
        }
        Ok(Policy {
            version,
            effective_from: terms.effective_from,
            description: terms.description,
            required_approvers,
            review_triggers,
            conflicting_connections,
            responses_requiring_action,
            min_audiences_to_close: terms.min_audiences_to_close,
            provenance: terms.provenance,
        })
    }
}

/// A list of names as a set of values, refusing unknown and repeated names.
fn values<T: Ord>(
    version: &str,
    field: &'static str,
    names: &[String],
    parse: impl Fn(&str) -> Option<T>,
) -> Result<BTreeSet<T>, PolicyError> {
    let mut set = BTreeSet::new();
    for name in names {
        let value = parse(name).ok_or_else(|| PolicyError::UnknownValue {
            version: version.to_owned(),
            field,
            value: name.clone(),
        })?;
        if !set.insert(value) {
            return Err(PolicyError::Repeated {
                version: version.to_owned(),
                field,
                value: name.clone(),
            });
        }
    }
    Ok(set)
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
            let policy = Policy::from_terms(terms)?;
            if !versions.insert(policy.version.clone()) {
                return Err(PolicyError::DuplicateVersion {
                    version: policy.version,
                });
            }
            if !dates.insert(policy.effective_from) {
                return Err(PolicyError::DuplicateEffectiveFrom {
                    date: policy.effective_from,
                });
            }
            policies.push(Arc::new(policy));
        }
        policies.sort_by_key(|p| p.effective_from);
        Ok(PolicySet { policies })
    }

    /// The version in force on `date`: the latest one effective on or before it.
    pub fn in_force_at(&self, date: Date) -> Option<Arc<Policy>> {
        self.policies
            .iter()
            .rev()
            .find(|p| p.effective_from <= date)
            .cloned()
    }

    /// The version named `version`, for decisions that must follow the version recorded earlier.
    pub fn version(&self, version: &str) -> Option<Arc<Policy>> {
        self.policies.iter().find(|p| p.version == version).cloned()
    }

    /// Every version, oldest first.
    pub fn policies(&self) -> impl Iterator<Item = &Arc<Policy>> {
        self.policies.iter()
    }
}
