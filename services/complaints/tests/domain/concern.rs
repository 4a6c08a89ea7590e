//! `Concern`: which channel is open when, the unconnected senior inspector, resolution,
//! withdrawal, wellbeing risk, and the intake record of a refused concern.

use complaints::domain::concern::{Command, Concern, Event, Rejection, rejected_concern};
use complaints::domain::inspection::{self, InspectionCase, InspectionTeam};
use complaints::domain::{Actor, ConcernChannel, Redirect, Role, intake, v1};
use jiff::Timestamp;
use platform::aggregate::Aggregate;

use crate::helpers::*;

fn raised_event(channel: ConcernChannel, at: Timestamp) -> Event {
    Event::ConcernRaised(v1::ConcernRaised {
        concern_id: CONCERN.to_string(),
        inspection_id: INS.to_string(),
        channel: channel.to_proto(),
        topic: v1::ConcernTopic::InspectorConduct as i32,
        raised_by_ref: HEAD.into(),
        detail_ref: "doc:concern-1".into(),
        accompanied: false,
        raised_at: ts(at),
        day_after_window_closes_at: None,
        policy_version: String::new(),
        calendar_version: String::new(),
    })
}

/// A helpline concern raised while INS-1 was on site.
fn helpline_concern() -> Vec<Event> {
    run::<Concern>([raise(
        ConcernChannel::DuringInspectionHelpline,
        london(2025, 6, 10, 14, 0),
        &ins1_on_site(),
    )])
}

fn assigned_concern() -> Vec<Event> {
    and::<Concern>(
        helpline_concern(),
        [assign(senior_inspector(), london(2025, 6, 10, 14, 10))],
    )
}

fn lead_inspector_concern() -> Vec<Event> {
    run::<Concern>([raise(
        ConcernChannel::OnSiteLeadInspector,
        london(2025, 6, 10, 14, 0),
        &ins1_on_site(),
    )])
}

fn resolved_concern() -> Vec<Event> {
    and::<Concern>(
        assigned_concern(),
        [Command::ResolveConcern {
            summary_ref: "doc:summary-1".into(),
            closed_by_ref: SENIOR.into(),
            resolved_at: london(2025, 6, 10, 15, 0),
        }],
    )
}

fn paused_inspection() -> Vec<inspection::Event> {
    and::<InspectionCase>(ins1_on_site(), [pause(london(2025, 6, 10, 11, 0))])
}

fn incomplete_inspection() -> Vec<inspection::Event> {
    and::<InspectionCase>(
        paused_inspection(),
        [inspection::Command::DeemInspectionIncomplete {
            now: london(2025, 6, 18, 0, 1),
        }],
    )
}

// ---- raising: the on-site channels ----

#[test]
fn a_helpline_concern_is_accepted_while_inspectors_are_on_site() {
    concern(vec![])
        .when(raise(
            ConcernChannel::DuringInspectionHelpline,
            london(2025, 6, 10, 14, 0),
            &ins1_on_site(),
        ))
        .then([raised_event(
            ConcernChannel::DuringInspectionHelpline,
            london(2025, 6, 10, 14, 0),
        )]);
}

#[test]
fn a_helpline_concern_is_accepted_while_the_inspection_is_paused() {
    concern(vec![])
        .when(raise(
            ConcernChannel::DuringInspectionHelpline,
            london(2025, 6, 10, 14, 0),
            &paused_inspection(),
        ))
        .then([raised_event(
            ConcernChannel::DuringInspectionHelpline,
            london(2025, 6, 10, 14, 0),
        )]);
}

#[test]
fn a_concern_raised_with_the_lead_inspector_on_site_is_accepted() {
    concern(vec![])
        .when(raise(
            ConcernChannel::OnSiteLeadInspector,
            london(2025, 6, 10, 14, 0),
            &ins1_on_site(),
        ))
        .then([raised_event(
            ConcernChannel::OnSiteLeadInspector,
            london(2025, 6, 10, 14, 0),
        )]);
}

#[test]
fn a_helpline_concern_before_on_site_work_is_too_early() {
    concern(vec![])
        .when(raise(
            ConcernChannel::DuringInspectionHelpline,
            london(2025, 6, 9, 14, 0),
            &run::<InspectionCase>([notify(day(2025, 6, 10))]),
        ))
        .then_rejects(Rejection::TooEarly {
            redirect: None,
            opens_at: None,
        });
}

#[test]
fn a_helpline_concern_after_on_site_work_is_pointed_to_the_day_after_contact() {
    concern(vec![])
        .when(raise(
            ConcernChannel::DuringInspectionHelpline,
            london(2025, 6, 11, 19, 0),
            &ins1_ended(),
        ))
        .then_rejects(Rejection::NotDuringInspection {
            redirect: Some(Redirect::DayAfterContact),
        });
}

#[test]
fn a_helpline_concern_after_the_day_after_window_is_pointed_to_the_formal_route() {
    concern(vec![])
        .when(raise(
            ConcernChannel::DuringInspectionHelpline,
            london(2025, 6, 13, 9, 0),
            &ins1_ended(),
        ))
        .then_rejects(Rejection::NotDuringInspection {
            redirect: Some(Redirect::FormalComplaintAtDraft),
        });
}

#[test]
fn a_lead_inspector_concern_for_an_incomplete_inspection_is_not_during_the_inspection() {
    concern(vec![])
        .when(raise(
            ConcernChannel::OnSiteLeadInspector,
            london(2025, 6, 19, 9, 0),
            &incomplete_inspection(),
        ))
        .then_rejects(Rejection::NotDuringInspection { redirect: None });
}

// ---- raising: the day-after contact ----

#[test]
fn a_day_after_contact_inside_the_window_records_the_window_it_was_checked_against() {
    concern(vec![])
        .when(raise(
            ConcernChannel::DayAfterContact,
            london(2025, 6, 12, 9, 30),
            &ins1_ended(),
        ))
        .then([Event::ConcernRaised(v1::ConcernRaised {
            concern_id: CONCERN.to_string(),
            inspection_id: INS.to_string(),
            channel: v1::ConcernChannel::DayAfterContact as i32,
            topic: v1::ConcernTopic::InspectorConduct as i32,
            raised_by_ref: HEAD.into(),
            detail_ref: "doc:concern-1".into(),
            accompanied: false,
            raised_at: ts(london(2025, 6, 12, 9, 30)),
            day_after_window_closes_at: ts(end_of(2025, 6, 12)),
            policy_version: ERA_C.into(),
            calendar_version: CALENDAR_VERSION.into(),
        })]);
}

#[test]
fn a_day_after_contact_at_the_first_instant_of_the_window_is_accepted() {
    concern(vec![])
        .when(raise(
            ConcernChannel::DayAfterContact,
            start_of(2025, 6, 12),
            &ins1_ended(),
        ))
        .then([Event::ConcernRaised(v1::ConcernRaised {
            concern_id: CONCERN.to_string(),
            inspection_id: INS.to_string(),
            channel: v1::ConcernChannel::DayAfterContact as i32,
            topic: v1::ConcernTopic::InspectorConduct as i32,
            raised_by_ref: HEAD.into(),
            detail_ref: "doc:concern-1".into(),
            accompanied: false,
            raised_at: ts(start_of(2025, 6, 12)),
            day_after_window_closes_at: ts(end_of(2025, 6, 12)),
            policy_version: ERA_C.into(),
            calendar_version: CALENDAR_VERSION.into(),
        })]);
}

#[test]
fn a_day_after_contact_while_inspectors_are_on_site_is_pointed_to_the_helpline() {
    concern(vec![])
        .when(raise(
            ConcernChannel::DayAfterContact,
            london(2025, 6, 11, 16, 0),
            &ins1_on_site(),
        ))
        .then_rejects(Rejection::TooEarly {
            redirect: Some(Redirect::DuringInspectionHelpline),
            opens_at: None,
        });
}

#[test]
fn a_day_after_contact_during_a_pause_is_pointed_to_the_helpline() {
    concern(vec![])
        .when(raise(
            ConcernChannel::DayAfterContact,
            london(2025, 6, 11, 9, 0),
            &paused_inspection(),
        ))
        .then_rejects(Rejection::TooEarly {
            redirect: Some(Redirect::DuringInspectionHelpline),
            opens_at: None,
        });
}

#[test]
fn a_day_after_contact_on_the_last_on_site_evening_is_too_early_and_says_when_it_opens() {
    concern(vec![])
        .when(raise(
            ConcernChannel::DayAfterContact,
            london(2025, 6, 11, 23, 59),
            &ins1_ended(),
        ))
        .then_rejects(Rejection::TooEarly {
            redirect: None,
            opens_at: Some(start_of(2025, 6, 12)),
        });
}

#[test]
fn a_day_after_contact_after_the_window_is_pointed_to_the_formal_route() {
    concern(vec![])
        .when(raise(
            ConcernChannel::DayAfterContact,
            start_of(2025, 6, 13),
            &ins1_ended(),
        ))
        .then_rejects(Rejection::WindowClosed {
            redirect: Redirect::FormalComplaintAtDraft,
            closed_at: end_of(2025, 6, 12),
        });
}

#[test]
fn an_incomplete_inspection_opens_no_day_after_window() {
    concern(vec![])
        .when(raise(
            ConcernChannel::DayAfterContact,
            london(2025, 6, 19, 9, 0),
            &incomplete_inspection(),
        ))
        .then_rejects(Rejection::TooEarly {
            redirect: None,
            opens_at: None,
        });
}

#[test]
fn a_day_after_contact_before_the_inspection_is_too_early() {
    concern(vec![])
        .when(raise(
            ConcernChannel::DayAfterContact,
            london(2025, 6, 9, 9, 0),
            &[],
        ))
        .then_rejects(Rejection::TooEarly {
            redirect: None,
            opens_at: None,
        });
}

#[test]
fn raising_the_same_concern_twice_is_rejected() {
    concern(helpline_concern())
        .when(raise(
            ConcernChannel::DuringInspectionHelpline,
            london(2025, 6, 10, 14, 5),
            &ins1_on_site(),
        ))
        .then_rejects(Rejection::AlreadyRaised);
}

// ---- assignment ----

#[test]
fn a_senior_inspector_not_on_the_team_takes_the_concern() {
    let state = concern(helpline_concern())
        .when(assign(senior_inspector(), london(2025, 6, 10, 14, 10)))
        .then([Event::ConcernAssigned(v1::ConcernAssigned {
            concern_id: CONCERN.to_string(),
            handler_ref: SENIOR.into(),
            assigned_at: ts(london(2025, 6, 10, 14, 10)),
        })]);
    assert!(matches!(state, Concern::Assigned { .. }));
}

#[test]
fn a_handler_who_is_not_a_senior_inspector_is_rejected() {
    concern(helpline_concern())
        .when(assign(
            Actor::new("staff:X-1", Role::ComplaintsInvestigator),
            london(2025, 6, 10, 14, 10),
        ))
        .then_rejects(Rejection::HandlerNotSeniorInspector);
}

#[test]
fn a_senior_inspector_on_the_inspection_team_is_rejected() {
    concern(helpline_concern())
        .when(assign(
            Actor::new(TEAM, Role::SeniorInspector),
            london(2025, 6, 10, 14, 10),
        ))
        .then_rejects(Rejection::HandlerOnInspectionTeam);
}

#[test]
fn the_lead_inspector_cannot_handle_a_concern_about_their_own_inspection() {
    concern(helpline_concern())
        .when(assign(
            Actor::new(LEAD, Role::SeniorInspector),
            london(2025, 6, 10, 14, 10),
        ))
        .then_rejects(Rejection::HandlerOnInspectionTeam);
}

#[test]
fn a_team_of_another_inspection_is_rejected() {
    concern(helpline_concern())
        .when(Command::AssignConcern {
            handler: senior_inspector(),
            assigned_at: london(2025, 6, 10, 14, 10),
            team: InspectionTeam {
                inspection_id: OTHER_INS,
                members: Default::default(),
            },
        })
        .then_rejects(Rejection::InspectionMismatch);
}

#[test]
fn a_concern_can_be_passed_to_another_senior_inspector() {
    concern(assigned_concern())
        .when(assign(
            Actor::new("staff:SI-10", Role::SeniorInspector),
            london(2025, 6, 10, 14, 30),
        ))
        .then([Event::ConcernAssigned(v1::ConcernAssigned {
            concern_id: CONCERN.to_string(),
            handler_ref: "staff:SI-10".into(),
            assigned_at: ts(london(2025, 6, 10, 14, 30)),
        })]);
}

#[test]
fn assigning_the_same_handler_again_records_nothing() {
    concern(assigned_concern())
        .when(assign(senior_inspector(), london(2025, 6, 10, 14, 30)))
        .then_nothing();
}

#[test]
fn assigning_a_concern_never_raised_is_rejected() {
    concern(vec![])
        .when(assign(senior_inspector(), london(2025, 6, 10, 14, 10)))
        .then_rejects(Rejection::NotRaised);
}

#[test]
fn assigning_a_closed_concern_is_rejected() {
    concern(resolved_concern())
        .when(assign(senior_inspector(), london(2025, 6, 10, 16, 0)))
        .then_rejects(Rejection::ConcernClosed);
}

// ---- resolution ----

#[test]
fn the_handler_resolves_the_concern() {
    let state = concern(assigned_concern())
        .when(Command::ResolveConcern {
            summary_ref: "doc:summary-1".into(),
            closed_by_ref: SENIOR.into(),
            resolved_at: london(2025, 6, 10, 15, 0),
        })
        .then([Event::ConcernResolved(v1::ConcernResolved {
            concern_id: CONCERN.to_string(),
            summary_ref: "doc:summary-1".into(),
            resolved_at: ts(london(2025, 6, 10, 15, 0)),
        })]);
    assert!(matches!(state, Concern::Resolved(_)));
}

#[test]
fn the_lead_inspector_resolves_a_concern_raised_with_them_without_assignment() {
    concern(lead_inspector_concern())
        .when(Command::ResolveConcern {
            summary_ref: "doc:summary-1".into(),
            closed_by_ref: SENIOR.into(),
            resolved_at: london(2025, 6, 10, 15, 0),
        })
        .then([Event::ConcernResolved(v1::ConcernResolved {
            concern_id: CONCERN.to_string(),
            summary_ref: "doc:summary-1".into(),
            resolved_at: ts(london(2025, 6, 10, 15, 0)),
        })]);
}

#[test]
fn a_helpline_concern_cannot_be_resolved_before_a_senior_inspector_takes_it() {
    concern(helpline_concern())
        .when(Command::ResolveConcern {
            summary_ref: "doc:summary-1".into(),
            closed_by_ref: SENIOR.into(),
            resolved_at: london(2025, 6, 10, 15, 0),
        })
        .then_rejects(Rejection::NotAssigned);
}

#[test]
fn resolving_a_closed_concern_is_rejected() {
    concern(resolved_concern())
        .when(Command::ResolveConcern {
            summary_ref: "doc:summary-2".into(),
            closed_by_ref: SENIOR.into(),
            resolved_at: london(2025, 6, 10, 16, 0),
        })
        .then_rejects(Rejection::ConcernClosed);
}

#[test]
fn resolving_a_concern_never_raised_is_rejected() {
    concern(vec![])
        .when(Command::ResolveConcern {
            summary_ref: "doc:summary-1".into(),
            closed_by_ref: SENIOR.into(),
            resolved_at: london(2025, 6, 10, 15, 0),
        })
        .then_rejects(Rejection::NotRaised);
}

#[test]
fn an_unresolved_concern_is_closed_with_advice_to_use_the_formal_route() {
    let state = concern(assigned_concern())
        .when(Command::LeaveConcernUnresolved {
            advice: Redirect::FormalComplaintAtDraft,
            summary_ref: "doc:summary-1".into(),
            closed_by_ref: SENIOR.into(),
            closed_at: london(2025, 6, 10, 16, 0),
        })
        .then([Event::ConcernLeftUnresolved(v1::ConcernLeftUnresolved {
            concern_id: CONCERN.to_string(),
            advice: v1::Redirect::FormalComplaintAtDraft as i32,
            summary_ref: "doc:summary-1".into(),
            closed_at: ts(london(2025, 6, 10, 16, 0)),
        })]);
    assert!(matches!(state, Concern::LeftUnresolved(_)));
}

#[test]
fn a_helpline_concern_cannot_be_left_unresolved_before_a_senior_inspector_takes_it() {
    concern(helpline_concern())
        .when(Command::LeaveConcernUnresolved {
            advice: Redirect::FormalComplaintAtDraft,
            summary_ref: "doc:summary-1".into(),
            closed_by_ref: SENIOR.into(),
            closed_at: london(2025, 6, 10, 16, 0),
        })
        .then_rejects(Rejection::NotAssigned);
}

#[test]
fn leaving_a_closed_concern_unresolved_is_rejected() {
    concern(resolved_concern())
        .when(Command::LeaveConcernUnresolved {
            advice: Redirect::FormalComplaintAtDraft,
            summary_ref: "doc:summary-1".into(),
            closed_by_ref: SENIOR.into(),
            closed_at: london(2025, 6, 10, 16, 0),
        })
        .then_rejects(Rejection::ConcernClosed);
}

// ---- withdrawal ----

#[test]
fn a_raised_concern_can_be_withdrawn() {
    concern(helpline_concern())
        .when(Command::WithdrawConcern {
            withdrawn_at: london(2025, 6, 10, 14, 20),
        })
        .then([Event::ConcernWithdrawn(v1::ConcernWithdrawn {
            concern_id: CONCERN.to_string(),
            withdrawn_at: ts(london(2025, 6, 10, 14, 20)),
        })]);
}

#[test]
fn an_assigned_concern_can_be_withdrawn() {
    let state = concern(assigned_concern())
        .when(Command::WithdrawConcern {
            withdrawn_at: london(2025, 6, 10, 14, 20),
        })
        .then([Event::ConcernWithdrawn(v1::ConcernWithdrawn {
            concern_id: CONCERN.to_string(),
            withdrawn_at: ts(london(2025, 6, 10, 14, 20)),
        })]);
    assert!(matches!(state, Concern::Withdrawn(_)));
}

#[test]
fn withdrawing_a_closed_concern_is_rejected() {
    concern(resolved_concern())
        .when(Command::WithdrawConcern {
            withdrawn_at: london(2025, 6, 10, 16, 0),
        })
        .then_rejects(Rejection::ConcernClosed);
}

#[test]
fn withdrawing_a_concern_never_raised_is_rejected() {
    concern(vec![])
        .when(Command::WithdrawConcern {
            withdrawn_at: london(2025, 6, 10, 16, 0),
        })
        .then_rejects(Rejection::NotRaised);
}

// ---- wellbeing risk ----

#[test]
fn a_wellbeing_risk_is_flagged_without_pausing_anything() {
    let state = concern(assigned_concern())
        .when(Command::FlagWellbeingRisk {
            flagged_by_ref: SENIOR.into(),
            flagged_at: london(2025, 6, 10, 14, 40),
        })
        .then([Event::WellbeingRiskFlagged(v1::WellbeingRiskFlagged {
            concern_id: CONCERN.to_string(),
            flagged_by_ref: SENIOR.into(),
            flagged_at: ts(london(2025, 6, 10, 14, 40)),
        })]);
    // The concern is still open and assigned: the flag triggers consideration of a pause by
    // people, never a pause by itself.
    assert!(matches!(&state, Concern::Assigned { raised, .. } if raised.wellbeing_risk_flagged));
}

#[test]
fn a_wellbeing_risk_is_accepted_on_a_closed_concern() {
    concern(resolved_concern())
        .when(Command::FlagWellbeingRisk {
            flagged_by_ref: SENIOR.into(),
            flagged_at: london(2025, 6, 10, 17, 0),
        })
        .then([Event::WellbeingRiskFlagged(v1::WellbeingRiskFlagged {
            concern_id: CONCERN.to_string(),
            flagged_by_ref: SENIOR.into(),
            flagged_at: ts(london(2025, 6, 10, 17, 0)),
        })]);
}

#[test]
fn a_wellbeing_risk_on_a_concern_never_raised_is_rejected() {
    concern(vec![])
        .when(Command::FlagWellbeingRisk {
            flagged_by_ref: SENIOR.into(),
            flagged_at: london(2025, 6, 10, 17, 0),
        })
        .then_rejects(Rejection::NotRaised);
}

// ---- the intake record ----

#[test]
fn a_refused_day_after_contact_is_recorded_with_the_window_and_calendar_it_was_checked_against() {
    let command = raise(
        ConcernChannel::DayAfterContact,
        start_of(2025, 6, 13),
        &ins1_ended(),
    );
    let rejection = Concern::default().decide(command.clone()).unwrap_err();
    assert_eq!(
        rejected_concern(&command, &rejection),
        Some(intake::Command::RecordConcernRejected(
            v1::ConcernRejected {
                concern_id: CONCERN.to_string(),
                inspection_id: INS.to_string(),
                raised_by_ref: HEAD.into(),
                channel: v1::ConcernChannel::DayAfterContact as i32,
                reason: v1::RejectionReason::WindowClosed as i32,
                redirect: v1::Redirect::FormalComplaintAtDraft as i32,
                attempted_at: ts(start_of(2025, 6, 13)),
                window_opens_at: ts(start_of(2025, 6, 12)),
                window_closes_at: ts(end_of(2025, 6, 12)),
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
            }
        ))
    );
}

#[test]
fn a_refused_helpline_call_after_the_inspection_is_recorded_as_not_during_the_inspection() {
    let command = raise(
        ConcernChannel::DuringInspectionHelpline,
        london(2025, 6, 11, 19, 0),
        &ins1_ended(),
    );
    let rejection = Concern::default().decide(command.clone()).unwrap_err();
    let Some(intake::Command::RecordConcernRejected(record)) =
        rejected_concern(&command, &rejection)
    else {
        panic!("the refusal is recorded");
    };
    assert_eq!(record.reason(), v1::RejectionReason::NotDuringInspection);
    assert_eq!(record.redirect(), v1::Redirect::DayAfterContact);
}

#[test]
fn rejections_that_are_not_about_the_channel_leave_no_intake_record() {
    let command = raise(
        ConcernChannel::DuringInspectionHelpline,
        london(2025, 6, 10, 14, 0),
        &ins1_on_site(),
    );
    assert_eq!(rejected_concern(&command, &Rejection::AlreadyRaised), None);
    let other = Command::WithdrawConcern {
        withdrawn_at: london(2025, 6, 10, 14, 0),
    };
    assert_eq!(
        rejected_concern(
            &other,
            &Rejection::TooEarly {
                redirect: None,
                opens_at: None
            }
        ),
        None
    );
}

#[test]
fn every_concern_rejection_has_a_stable_reason_code() {
    assert_eq!(
        Rejection::TooEarly {
            redirect: None,
            opens_at: None
        }
        .reason(),
        "TOO_EARLY"
    );
    assert_eq!(
        Rejection::WindowClosed {
            redirect: Redirect::FormalComplaintAtDraft,
            closed_at: Timestamp::UNIX_EPOCH
        }
        .reason(),
        "WINDOW_CLOSED"
    );
    assert_eq!(
        Rejection::HandlerOnInspectionTeam.reason(),
        "HANDLER_ON_INSPECTION_TEAM"
    );
}

#[test]
fn another_senior_inspector_cannot_resolve_a_concern_someone_else_handles() {
    concern(assigned_concern())
        .when(Command::ResolveConcern {
            summary_ref: "doc:summary-1".into(),
            closed_by_ref: "staff:SI-4".into(),
            resolved_at: london(2025, 6, 10, 15, 0),
        })
        .then_rejects(Rejection::NotTheHandler);
}

#[test]
fn another_senior_inspector_cannot_leave_unresolved_a_concern_someone_else_handles() {
    concern(assigned_concern())
        .when(Command::LeaveConcernUnresolved {
            advice: Redirect::FormalComplaintAtDraft,
            summary_ref: "doc:summary-1".into(),
            closed_by_ref: "staff:SI-4".into(),
            closed_at: london(2025, 6, 10, 16, 0),
        })
        .then_rejects(Rejection::NotTheHandler);
}
