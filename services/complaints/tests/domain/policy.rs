//! `Policy` and `PolicySet`: the embedded eras, choosing by date and version, operator files and
//! their validation, and the deadline arithmetic each window uses.

use complaints::domain::policy::{Period, PolicyError, PolicySet};
use complaints::domain::{EscalationRoute, Remit, WindowStart};
use platform::calendar::CalendarError;

use crate::helpers::*;

// ---- the embedded set ----

#[test]
fn the_embedded_policy_set_is_valid_and_has_era_b_and_era_c() {
    let versions: Vec<&str> = PolicySet::embedded()
        .policies()
        .map(|p| p.version())
        .collect();
    assert_eq!(versions, [ERA_B, ERA_C]);
}

#[test]
fn era_c_governs_inspections_carried_out_after_4_april_2024() {
    let set = PolicySet::embedded();
    assert_eq!(set.in_force_at(day(2024, 4, 4)).unwrap().version(), ERA_B);
    assert_eq!(set.in_force_at(day(2024, 4, 5)).unwrap().version(), ERA_C);
    assert_eq!(set.in_force_at(day(2025, 6, 10)).unwrap().version(), ERA_C);
}

#[test]
fn no_policy_governs_an_inspection_before_september_2020() {
    assert!(
        PolicySet::embedded()
            .in_force_at(day(2020, 8, 31))
            .is_none()
    );
    assert_eq!(
        PolicySet::embedded()
            .in_force_at(day(2020, 9, 1))
            .unwrap()
            .version(),
        ERA_B
    );
}

#[test]
fn a_recorded_version_finds_its_policy_and_an_unknown_one_finds_none() {
    assert_eq!(
        PolicySet::embedded().version(ERA_B).unwrap().version(),
        ERA_B
    );
    assert!(PolicySet::embedded().version("era-z").is_none());
}

#[test]
fn era_c_has_the_numbers_of_the_research() {
    let policy = era_c();
    assert_eq!(policy.effective_from(), day(2024, 4, 5));
    assert_eq!(policy.day_after_window_working_days(), 1);
    assert_eq!(policy.factual_accuracy_window_working_days(), 5);
    assert_eq!(policy.formal_complaint_window().working_days, 5);
    assert_eq!(
        policy.formal_complaint_window().counted_from,
        WindowStart::DraftReport
    );
    assert!(policy.factual_accuracy_precludes_formal_complaint());
    assert_eq!(policy.acknowledgement_target_working_days(), 2);
    assert_eq!(policy.response_target_working_days(), 30);
    assert_eq!(policy.pause_limit_working_days(Remit::Schools), 5);
    assert_eq!(policy.pause_limit_working_days(Remit::EarlyYears), 5);
    assert_eq!(
        policy.pause_limit_working_days(Remit::JointTargetedAreaInspection),
        15
    );
    assert_eq!(policy.pause_limit_working_days(Remit::AreaSend), 15);
    assert_eq!(
        policy.publication_delay_explanation_after_working_days(),
        30
    );
    assert_eq!(policy.escalation().route, EscalationRoute::IndependentBody);
    assert_eq!(policy.escalation().window, Period::CalendarMonths(3));
    assert!(!policy.allow_escalation_when_response_overdue());
}

#[test]
fn era_b_counts_the_complaint_window_from_the_final_report_and_escalates_to_internal_review() {
    let policy = era_b();
    assert_eq!(
        policy.formal_complaint_window().counted_from,
        WindowStart::FinalReport
    );
    assert_eq!(policy.formal_complaint_window().working_days, 5);
    assert!(!policy.factual_accuracy_precludes_formal_complaint());
    assert_eq!(policy.response_target_working_days(), 30);
    assert_eq!(policy.escalation().route, EscalationRoute::InternalReview);
    assert_eq!(policy.escalation().window, Period::WorkingDays(15));
}

#[test]
fn every_embedded_policy_has_a_pause_limit_for_every_remit() {
    for policy in PolicySet::embedded().policies() {
        for remit in Remit::ALL {
            assert!(policy.pause_limit_working_days(*remit) >= 1, "{remit:?}");
        }
    }
}

#[test]
fn unverified_numbers_say_so_in_their_provenance() {
    let policy = era_c();
    for field in [
        "response_target_working_days",
        "escalation",
        "pause_limit_working_days",
    ] {
        let note = policy.provenance().get(field).expect("documented");
        assert!(note.contains("[U"), "{field}: {note}");
    }
}

// ---- operator files ----

fn file_with(policies: Vec<serde_json::Value>) -> String {
    serde_json::json!({ "policies": policies }).to_string()
}

fn era_d() -> serde_json::Value {
    let mut policy = era_c_json();
    policy["version"] = "era-d-2025-11".into();
    policy["effective_from"] = "2025-11-10".into();
    policy["response_target_working_days"] = 25.into();
    policy
}

#[test]
fn an_operator_file_adds_a_version_that_governs_from_its_date() {
    let set = PolicySet::embedded()
        .with_operator_json(&file_with(vec![era_d()]))
        .unwrap();
    assert_eq!(set.in_force_at(day(2025, 11, 9)).unwrap().version(), ERA_C);
    let d = set.in_force_at(day(2025, 11, 10)).unwrap();
    assert_eq!(d.version(), "era-d-2025-11");
    assert_eq!(d.response_target_working_days(), 25);
    assert_eq!(set.version(ERA_B).unwrap().version(), ERA_B);
}

#[test]
fn an_operator_file_is_read_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.json");
    std::fs::write(&path, file_with(vec![era_d()])).unwrap();
    let set = PolicySet::embedded().with_operator_file(&path).unwrap();
    assert!(set.version("era-d-2025-11").is_some());
}

#[test]
fn a_missing_operator_file_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = PolicySet::embedded()
        .with_operator_file(dir.path().join("absent.json"))
        .unwrap_err();
    assert!(matches!(error, PolicyError::Read { .. }), "{error:?}");
}

#[test]
fn an_operator_file_may_repeat_an_existing_version_unchanged() {
    let set = PolicySet::embedded()
        .with_operator_json(&file_with(vec![era_c_json()]))
        .unwrap();
    assert_eq!(set.policies().count(), 2);
}

#[test]
fn an_operator_file_may_not_change_an_existing_version() {
    let mut changed = era_c_json();
    changed["response_target_working_days"] = 20.into();
    let error = PolicySet::embedded()
        .with_operator_json(&file_with(vec![changed]))
        .unwrap_err();
    assert!(
        matches!(&error, PolicyError::ConflictingVersion { version } if version == ERA_C),
        "{error:?}"
    );
}

#[test]
fn text_that_is_not_a_policy_file_is_malformed() {
    let error = PolicySet::from_json("{\"policies\": 3}").unwrap_err();
    assert!(matches!(error, PolicyError::Malformed(_)), "{error:?}");
}

#[test]
fn a_misspelt_field_is_refused_rather_than_ignored() {
    let mut policy = era_d();
    policy["response_target_workingdays"] = 25.into();
    let error = PolicySet::from_json(&file_with(vec![policy])).unwrap_err();
    assert!(matches!(error, PolicyError::Malformed(_)), "{error:?}");
}

#[test]
fn a_missing_number_is_refused() {
    let mut policy = era_d();
    policy
        .as_object_mut()
        .unwrap()
        .remove("acknowledgement_target_working_days");
    let error = PolicySet::from_json(&file_with(vec![policy])).unwrap_err();
    assert!(matches!(error, PolicyError::Malformed(_)), "{error:?}");
}

#[test]
fn a_file_without_policies_is_refused() {
    let error = PolicySet::from_json(&file_with(vec![])).unwrap_err();
    assert!(matches!(error, PolicyError::NoPolicies), "{error:?}");
}

#[test]
fn an_empty_version_is_refused() {
    let mut policy = era_d();
    policy["version"] = " ".into();
    let error = PolicySet::from_json(&file_with(vec![policy])).unwrap_err();
    assert!(matches!(error, PolicyError::EmptyVersion), "{error:?}");
}

#[test]
fn a_version_listed_twice_is_refused() {
    let mut again = era_d();
    again["effective_from"] = "2026-01-05".into();
    let error = PolicySet::from_json(&file_with(vec![era_d(), again])).unwrap_err();
    assert!(
        matches!(&error, PolicyError::DuplicateVersion { version } if version == "era-d-2025-11"),
        "{error:?}"
    );
}

#[test]
fn two_policies_taking_effect_on_the_same_day_are_refused() {
    let mut other = era_d();
    other["version"] = "era-d2".into();
    let error = PolicySet::from_json(&file_with(vec![era_d(), other])).unwrap_err();
    assert!(
        matches!(error, PolicyError::DuplicateEffectiveFrom { date } if date == day(2025, 11, 10)),
        "{error:?}"
    );
}

#[test]
fn a_window_of_zero_working_days_is_refused() {
    let mut policy = era_d();
    policy["formal_complaint_window"]["working_days"] = 0.into();
    let error = PolicySet::from_json(&file_with(vec![policy])).unwrap_err();
    assert!(
        matches!(
            error,
            PolicyError::Zero {
                field: "formal_complaint_window.working_days",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn an_escalation_window_of_zero_months_is_refused() {
    let mut policy = era_d();
    policy["escalation"]["window"] = serde_json::json!({ "calendar_months": 0 });
    let error = PolicySet::from_json(&file_with(vec![policy])).unwrap_err();
    assert!(
        matches!(
            error,
            PolicyError::Zero {
                field: "escalation.window",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_pause_limit_of_zero_is_refused() {
    let mut policy = era_d();
    policy["pause_limit_working_days"]["schools"] = 0.into();
    let error = PolicySet::from_json(&file_with(vec![policy])).unwrap_err();
    assert!(
        matches!(
            error,
            PolicyError::Zero {
                field: "pause_limit_working_days",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_remit_without_a_pause_limit_is_refused() {
    let mut policy = era_d();
    policy["pause_limit_working_days"]
        .as_object_mut()
        .unwrap()
        .remove("cafcass");
    let error = PolicySet::from_json(&file_with(vec![policy])).unwrap_err();
    assert!(
        matches!(
            error,
            PolicyError::MissingPauseLimit {
                remit: Remit::Cafcass,
                ..
            }
        ),
        "{error:?}"
    );
}

// ---- deadline arithmetic ----

#[test]
fn the_day_after_window_is_the_whole_next_working_day() {
    let window = era_c().day_after_window(cal(), day(2025, 6, 11)).unwrap();
    assert_eq!(window, (start_of(2025, 6, 12), end_of(2025, 6, 12)));
}

#[test]
fn the_day_after_window_skips_a_weekend_and_a_bank_holiday() {
    // S3: last on-site day Fri 2 May 2025; Mon 5 May is the early May bank holiday.
    let window = era_c().day_after_window(cal(), day(2025, 5, 2)).unwrap();
    assert_eq!(window, (start_of(2025, 5, 6), end_of(2025, 5, 6)));
    assert_eq!(window.0, at("2025-05-06T00:00:00+01:00"));
}

#[test]
fn the_formal_complaint_window_closes_at_the_end_of_the_fifth_working_day() {
    let closes = era_c()
        .formal_complaint_closes_at(cal(), london(2025, 6, 30, 10, 0))
        .unwrap();
    assert_eq!(closes, end_of(2025, 7, 7));
    assert_eq!(closes, at("2025-07-07T23:59:59.999999999+01:00"));
}

#[test]
fn the_formal_complaint_window_skips_christmas() {
    // S14: draft Fri 19 Dec 2025; 25 and 26 Dec are bank holidays.
    let closes = era_c()
        .formal_complaint_closes_at(cal(), london(2025, 12, 19, 10, 0))
        .unwrap();
    assert_eq!(closes, at("2025-12-30T23:59:59.999999999+00:00"));
}

#[test]
fn the_response_is_due_thirty_working_days_after_receipt() {
    let due = era_c()
        .response_due_at(cal(), london(2025, 7, 3, 10, 0))
        .unwrap();
    assert_eq!(due, end_of(2025, 8, 14));
}

#[test]
fn the_acknowledgement_is_due_two_working_days_after_receipt() {
    let due = era_c()
        .acknowledgement_due_at(cal(), london(2025, 7, 3, 10, 0))
        .unwrap();
    assert_eq!(due, end_of(2025, 7, 7));
}

#[test]
fn a_school_pause_must_end_within_five_working_days() {
    let deadline = era_c()
        .resume_deadline(cal(), Remit::Schools, london(2025, 3, 11, 11, 0))
        .unwrap();
    assert_eq!(deadline, end_of(2025, 3, 18));
}

#[test]
fn an_area_send_pause_may_last_fifteen_working_days() {
    let deadline = era_c()
        .resume_deadline(cal(), Remit::AreaSend, london(2025, 3, 11, 11, 0))
        .unwrap();
    assert_eq!(deadline, end_of(2025, 4, 1));
}

#[test]
fn publication_is_expected_within_thirty_working_days_of_the_last_on_site_day() {
    let expected = era_c()
        .publication_expected_by(cal(), day(2025, 6, 11))
        .unwrap();
    assert_eq!(expected, end_of(2025, 7, 23));
}

#[test]
fn the_escalation_window_runs_three_calendar_months_to_the_end_of_the_day() {
    let closes = era_c()
        .escalation_window_closes_at(cal(), london(2025, 8, 14, 10, 0))
        .unwrap();
    assert_eq!(closes, end_of(2025, 11, 14));
}

#[test]
fn a_three_month_window_from_the_end_of_a_long_month_ends_on_the_last_day_of_a_short_one() {
    let closes = era_c()
        .escalation_window_closes_at(cal(), london(2025, 11, 30, 10, 0))
        .unwrap();
    assert_eq!(closes, end_of(2026, 2, 28));
}

#[test]
fn the_era_b_internal_review_window_is_fifteen_working_days() {
    let closes = era_b()
        .escalation_window_closes_at(cal(), london(2023, 5, 2, 10, 0))
        .unwrap();
    // 8 May 2023 was the coronation bank holiday; 29 May the spring bank holiday.
    assert_eq!(closes, end_of(2023, 5, 24));
}

#[test]
fn a_deadline_beyond_the_calendar_is_an_error_not_a_guess() {
    let error = era_c()
        .response_due_at(cal(), london(2030, 12, 2, 10, 0))
        .unwrap_err();
    assert!(
        matches!(error, CalendarError::OutOfRange { date } if date == day(2031, 1, 1)),
        "{error:?}"
    );
}
