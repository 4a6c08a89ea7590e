//! The commissioning policy: the embedded default, validation and lookup.

use jiff::civil::date;
use learning_reviews::domain::policy::{PolicyError, PolicySet};
use learning_reviews::domain::{Approver, Connection, IncidentCategory, RecommendationResponse};

use crate::helpers::*;

#[test]
fn the_embedded_policy_set_is_valid() {
    let policy = policy();
    assert_eq!(policy.version(), POLICY);
    assert_eq!(policy.effective_from(), date(2024, 4, 8));
    assert_eq!(
        policy
            .required_approvers()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [Approver::Hmci, Approver::BoardChair]
    );
    assert_eq!(
        policy.review_triggers().iter().copied().collect::<Vec<_>>(),
        IncidentCategory::ALL
    );
    assert_eq!(
        policy
            .conflicting_connections()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        Connection::ALL
    );
    assert!(policy.requires_action(RecommendationResponse::Accepted));
    assert!(policy.requires_action(RecommendationResponse::PartlyAccepted));
    assert!(!policy.requires_action(RecommendationResponse::NotAccepted));
    assert_eq!(policy.min_audiences_to_close(), 1);
    for field in [
        "required_approvers",
        "review_triggers",
        "conflicting_connections",
        "responses_requiring_action",
        "min_audiences_to_close",
    ] {
        assert!(policy.provenance().contains_key(field), "{field}");
    }
}

#[test]
fn the_policy_in_force_is_the_latest_effective_on_the_date() {
    let set = PolicySet::embedded();
    assert!(set.in_force_at(date(2024, 4, 7)).is_none());
    assert_eq!(
        set.in_force_at(date(2025, 6, 4))
            .map(|p| p.version().to_owned()),
        Some(POLICY.to_owned())
    );
    assert!(set.version("nope").is_none());
    assert_eq!(set.policies().count(), 1);
}

fn set_of(policy: serde_json::Value) -> Result<PolicySet, PolicyError> {
    PolicySet::from_json(&serde_json::json!({ "policies": [policy] }).to_string())
}

fn with(field: &str, value: serde_json::Value) -> Result<PolicySet, PolicyError> {
    let mut policy = policy_json();
    policy[field] = value;
    set_of(policy)
}

#[test]
fn lists_that_must_name_something_are_refused_empty() {
    for field in [
        "required_approvers",
        "review_triggers",
        "conflicting_connections",
    ] {
        assert!(
            matches!(with(field, serde_json::json!([])), Err(PolicyError::Empty { field: f, .. }) if f == field),
            "{field}"
        );
    }
    // No response needing an action is a choice a policy may make.
    assert!(with("responses_requiring_action", serde_json::json!([])).is_ok());
}

#[test]
fn unknown_and_repeated_values_are_refused() {
    assert!(matches!(
        with(
            "required_approvers",
            serde_json::json!(["APPROVER_PRIME_MINISTER"])
        ),
        Err(PolicyError::UnknownValue { .. })
    ));
    assert!(matches!(
        with(
            "required_approvers",
            serde_json::json!(["APPROVER_UNSPECIFIED"])
        ),
        Err(PolicyError::UnknownValue { .. })
    ));
    assert!(matches!(
        with(
            "review_triggers",
            serde_json::json!(["INCIDENT_CATEGORY_DEATH", "INCIDENT_CATEGORY_DEATH"])
        ),
        Err(PolicyError::Repeated { .. })
    ));
    assert!(matches!(
        with(
            "conflicting_connections",
            serde_json::json!(["friend_of_the_team"])
        ),
        Err(PolicyError::UnknownValue { .. })
    ));
    assert!(matches!(
        with(
            "responses_requiring_action",
            serde_json::json!(["ACCEPTED"])
        ),
        Err(PolicyError::UnknownValue { .. })
    ));
}

#[test]
fn closure_without_dissemination_cannot_be_configured() {
    assert!(matches!(
        with("min_audiences_to_close", serde_json::json!(0)),
        Err(PolicyError::Zero { .. })
    ));
}

#[test]
fn malformed_and_duplicate_policies_are_refused() {
    assert!(matches!(
        with("version", serde_json::json!(" ")),
        Err(PolicyError::EmptyVersion)
    ));
    assert!(matches!(
        with("approvers", serde_json::json!([])),
        Err(PolicyError::Malformed(_))
    ));
    assert!(matches!(
        PolicySet::from_json(r#"{"policies": []}"#),
        Err(PolicyError::NoPolicies)
    ));
    let twice = serde_json::json!({ "policies": [policy_json(), policy_json()] }).to_string();
    assert!(matches!(
        PolicySet::from_json(&twice),
        Err(PolicyError::DuplicateVersion { .. })
    ));
    let mut other = policy_json();
    other["version"] = "other".into();
    let same_day = serde_json::json!({ "policies": [policy_json(), other] }).to_string();
    assert!(matches!(
        PolicySet::from_json(&same_day),
        Err(PolicyError::DuplicateEffectiveFrom { .. })
    ));
}
