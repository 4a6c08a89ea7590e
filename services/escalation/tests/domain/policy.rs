//! The escalation policy: the embedded default, validation and lookup.

use escalation::domain::policy::{PolicyError, PolicySet};
use jiff::civil::date;

use crate::helpers::*;

#[test]
fn the_embedded_policy_set_is_valid() {
    let policy = policy();
    assert_eq!(policy.version(), POLICY);
    assert_eq!(policy.effective_from(), date(2024, 4, 5));
    assert_eq!(policy.application_window_calendar_months(), 3);
    assert!(!policy.allow_escalation_when_response_overdue());
    assert!(!policy.closure_requires_implementation());
    assert_eq!(policy.implementation_due_within_calendar_months(), 12);
    assert!(
        policy
            .provenance()
            .contains_key("application_window_calendar_months")
    );
}

#[test]
fn the_policy_in_force_is_the_latest_effective_on_the_date() {
    let set = PolicySet::embedded();
    assert!(set.in_force_at(date(2024, 4, 4)).is_none());
    assert_eq!(
        set.in_force_at(date(2025, 6, 1))
            .map(|p| p.version().to_owned()),
        Some(POLICY.to_owned())
    );
    assert!(set.version("nope").is_none());
    assert_eq!(set.policies().count(), 1);
}

#[test]
fn the_overdue_window_ends_at_the_end_of_the_day_months_later() {
    assert_eq!(
        policy().overdue_window_closes_at(london(2025, 8, 14, 23, 0)),
        Some(end_of(2025, 11, 14))
    );
    assert_eq!(
        policy().latest_due_date(london(2025, 10, 1, 9, 0)),
        Some(date(2026, 10, 1))
    );
}

fn set_of(policy: serde_json::Value) -> Result<PolicySet, PolicyError> {
    PolicySet::from_json(&serde_json::json!({ "policies": [policy] }).to_string())
}

#[test]
fn invalid_policies_are_refused() {
    let mut zero = policy_json();
    zero["application_window_calendar_months"] = 0.into();
    assert!(matches!(set_of(zero), Err(PolicyError::Zero { .. })));
    let mut zero = policy_json();
    zero["implementation_due_within_calendar_months"] = 0.into();
    assert!(matches!(set_of(zero), Err(PolicyError::Zero { .. })));
    let mut empty = policy_json();
    empty["version"] = "".into();
    assert!(matches!(set_of(empty), Err(PolicyError::EmptyVersion)));
    let mut unknown = policy_json();
    unknown["window"] = 3.into();
    assert!(matches!(set_of(unknown), Err(PolicyError::Malformed(_))));
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
