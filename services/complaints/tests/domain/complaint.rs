//! `FormalComplaint`: admission (window, duplicate, route, discretion), acknowledgement and the
//! response deadline, information, investigation, extension, overdue, response and escalation
//! rights, withdrawal, closure, periodic review, the sensitive-case flag and the intake record.

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use complaints::domain::complaint::{
    Closure, Command, Event, FormalComplaint, Rejection, RouteOverride, Submission,
    SubmissionFacts, rejected_submission,
};
use complaints::domain::inspection::{self, InspectionCase, InspectionTeam};
use complaints::domain::{
    Actor, ComplaintOutcome, ExtensionReason, Remedy, Role, WithdrawalReason, intake, v1,
};
use jiff::Timestamp;
use platform::aggregate::Aggregate;
use uuid::Uuid;

use crate::helpers::*;

fn cid() -> String {
    COMPLAINT.to_string()
}

/// `ComplaintSubmitted` for [`submission`] at `at` against INS-1's draft of 30 June 2025.
fn submitted_event(at: Timestamp, acknowledgement_due_at: Timestamp) -> v1::ComplaintSubmitted {
    v1::ComplaintSubmitted {
        complaint_id: cid(),
        inspection_id: INS.to_string(),
        remit: v1::Remit::Schools as i32,
        complainant_ref: HEAD.into(),
        grounds: vec![
            v1::ComplaintGround::Judgements as i32,
            v1::ComplaintGround::InspectorConduct as i32,
        ],
        doc_refs: vec!["doc:complaint-1".into()],
        submitted_at: ts(at),
        route: v1::ComplaintRoute::DraftStage as i32,
        draft_issued_at: ts(london(2025, 6, 30, 10, 0)),
        window_closes_at: ts(end_of(2025, 7, 7)),
        acknowledgement_due_at: ts(acknowledgement_due_at),
        route_override_reason_ref: String::new(),
        route_override_by_ref: String::new(),
        policy_version: ERA_C.into(),
        calendar_version: CALENDAR_VERSION.into(),
        provider_id: PROVIDER.into(),
        last_onsite_date: "2025-06-11".into(),
    }
}

fn submit_with(submission: Submission, facts: SubmissionFacts) -> Command {
    Command::SubmitFormalComplaint {
        complaint_id: COMPLAINT,
        submission,
        facts,
        policy: era_c(),
        calendar: cal(),
    }
}

fn accept_out_of_time(
    submitted_at: Timestamp,
    decided_by: Actor,
    justification_ref: &str,
    accepted_at: Timestamp,
) -> Command {
    Command::AcceptOutOfTime {
        complaint_id: COMPLAINT,
        submission: submission(submitted_at),
        facts: facts_of(&ins1_drafted()),
        decided_by,
        justification_ref: justification_ref.into(),
        accepted_at,
        policy: era_c(),
        calendar: cal(),
    }
}

fn extend(by: u32, decided_by: Actor, reason_ref: &str) -> Command {
    Command::ExtendResponseDeadline {
        additional_working_days: NonZeroU32::new(by).expect("a positive extension"),
        reason: ExtensionReason::ComplexComplaint,
        reason_ref: reason_ref.into(),
        decided_by,
        decided_at: london(2025, 8, 1, 10, 0),
        policy: era_c(),
        calendar: cal(),
    }
}

fn overdue(now: Timestamp) -> Command {
    Command::MarkResponseOverdue {
        now,
        policy: era_c(),
    }
}

fn add_information(at: Timestamp) -> Command {
    Command::AddComplaintInformation {
        doc_ref: "doc:more-1".into(),
        added_by_ref: HEAD.into(),
        added_at: at,
    }
}

fn withdraw(at: Timestamp) -> Command {
    Command::WithdrawComplaint {
        reason: WithdrawalReason::NoLongerWishesToPursue,
        withdrawn_by_ref: HEAD.into(),
        withdrawn_at: at,
    }
}

fn close_lapsed(at: Timestamp) -> Command {
    Command::CloseComplaint {
        closed_at: at,
        because: Closure::EscalationWindowLapsed,
    }
}

fn concluded(escalation_id: Uuid, at: Timestamp) -> Command {
    Command::CloseComplaint {
        closed_at: at,
        because: Closure::EscalationConcluded { escalation_id },
    }
}

fn withdraw_escalation(escalation_id: Uuid, withdrawn_at: Timestamp, now: Timestamp) -> Command {
    Command::RecordEscalationWithdrawn {
        escalation_id,
        withdrawn_at,
        now,
    }
}

fn escalated_event(escalation_id: Uuid, at: Timestamp) -> Event {
    Event::ComplaintEscalated(v1::ComplaintEscalated {
        complaint_id: cid(),
        escalation_id: escalation_id.to_string(),
        escalated_at: ts(at),
    })
}

fn escalation_withdrawn_event(escalation_id: Uuid, at: Timestamp) -> Event {
    Event::ComplaintEscalationWithdrawn(v1::ComplaintEscalationWithdrawn {
        complaint_id: cid(),
        escalation_id: escalation_id.to_string(),
        withdrawn_at: ts(at),
    })
}

fn closed_event(reason: v1::ClosureReason, at: Timestamp, escalation_id: &str) -> Event {
    Event::ComplaintClosed(v1::ComplaintClosed {
        complaint_id: cid(),
        reason: reason as i32,
        closed_at: ts(at),
        escalation_id: escalation_id.into(),
    })
}

/// The S4 complaint under investigation with its response marked overdue on Fri 15 August 2025.
fn overdue_investigation() -> Vec<Event> {
    and::<FormalComplaint>(investigating(), [overdue(london(2025, 8, 15, 9, 0))])
}

fn call(at: Timestamp) -> Command {
    Command::RecordInvestigationCall {
        notes_ref: "doc:call-1".into(),
        accompanied: true,
        held_at: at,
    }
}

fn sample(panel: Uuid) -> Command {
    Command::SelectForPeriodicReview {
        panel_id: panel,
        sampled_at: london(2026, 1, 12, 10, 0),
    }
}

fn flag(incident: Uuid, at: Timestamp) -> Command {
    Command::FlagSensitiveCase {
        incident_id: incident,
        flagged_at: at,
    }
}

/// INS-1 with fast-track points sent on Wed 2 July 2025 (day 2 of the window).
fn ins1_fast_tracked() -> Vec<inspection::Event> {
    and::<InspectionCase>(ins1_drafted(), [fast_track(london(2025, 7, 2, 10, 0))])
}

// ---- submission ----

#[test]
fn a_complaint_inside_the_draft_window_is_submitted_with_its_acknowledgement_deadline() {
    let state = complaint(vec![])
        .when(submit(london(2025, 7, 3, 10, 0), &ins1_drafted()))
        .then([Event::ComplaintSubmitted(submitted_event(
            london(2025, 7, 3, 10, 0),
            end_of(2025, 7, 7),
        ))]);
    assert!(state.is_open());
}

#[test]
fn a_complaint_at_the_last_instant_of_the_window_is_in_time() {
    complaint(vec![])
        .when(submit(end_of(2025, 7, 7), &ins1_drafted()))
        .then([Event::ComplaintSubmitted(submitted_event(
            end_of(2025, 7, 7),
            end_of(2025, 7, 9),
        ))]);
}

#[test]
fn a_complaint_after_the_window_is_out_of_time() {
    complaint(vec![])
        .when(submit(london(2025, 7, 8, 0, 5), &ins1_drafted()))
        .then_rejects(Rejection::OutOfTime {
            window_closed_at: end_of(2025, 7, 7),
        });
}

#[test]
fn a_complaint_before_any_draft_report_is_rejected() {
    complaint(vec![])
        .when(submit(london(2025, 6, 11, 16, 0), &ins1_on_site()))
        .then_rejects(Rejection::NoDraftReport);
}

#[test]
fn a_complaint_dated_before_the_window_opened_is_too_early() {
    complaint(vec![])
        .when(submit(london(2025, 6, 30, 9, 0), &ins1_drafted()))
        .then_rejects(Rejection::TooEarly {
            opens_at: Some(london(2025, 6, 30, 10, 0)),
        });
}

#[test]
fn before_april_2024_a_complaint_on_the_draft_is_too_early_until_the_final_report() {
    let history = run::<InspectionCase>([
        notify_with(
            complaints::domain::Remit::Schools,
            day(2023, 6, 13),
            era_b(),
        ),
        start_with(london(2023, 6, 13, 8, 0), era_b()),
        end_with(day(2023, 6, 14), london(2023, 6, 14, 17, 0), era_b()),
        draft_with(london(2023, 7, 3, 10, 0), era_b()),
    ]);
    complaint(vec![])
        .when(Command::SubmitFormalComplaint {
            complaint_id: COMPLAINT,
            submission: submission(london(2023, 7, 4, 10, 0)),
            facts: facts_of(&history),
            policy: era_b(),
            calendar: cal(),
        })
        .then_rejects(Rejection::TooEarly { opens_at: None });
}

#[test]
fn before_april_2024_a_complaint_after_the_final_report_is_on_the_final_report_route() {
    let history = run::<InspectionCase>([
        notify_with(
            complaints::domain::Remit::Schools,
            day(2023, 6, 13),
            era_b(),
        ),
        start_with(london(2023, 6, 13, 8, 0), era_b()),
        end_with(day(2023, 6, 14), london(2023, 6, 14, 17, 0), era_b()),
        draft_with(london(2023, 7, 3, 10, 0), era_b()),
        fast_track(london(2023, 7, 4, 10, 0)),
        final_report_with(london(2023, 7, 17, 10, 0), era_b()),
    ]);
    // Comments on the draft did not close the formal route before April 2024.
    complaint(vec![])
        .when(Command::SubmitFormalComplaint {
            complaint_id: COMPLAINT,
            submission: submission(london(2023, 7, 20, 10, 0)),
            facts: facts_of(&history),
            policy: era_b(),
            calendar: cal(),
        })
        .then([Event::ComplaintSubmitted(v1::ComplaintSubmitted {
            route: v1::ComplaintRoute::FinalReportStage as i32,
            submitted_at: ts(london(2023, 7, 20, 10, 0)),
            draft_issued_at: ts(london(2023, 7, 3, 10, 0)),
            window_closes_at: ts(end_of(2023, 7, 24)),
            acknowledgement_due_at: ts(end_of(2023, 7, 24)),
            policy_version: ERA_B.into(),
            last_onsite_date: "2023-06-14".into(),
            ..submitted_event(london(2023, 7, 20, 10, 0), end_of(2023, 7, 24))
        })]);
}

#[test]
fn a_second_open_complaint_about_the_inspection_is_rejected_as_a_duplicate() {
    complaint(vec![])
        .when(submit_with(
            submission(london(2025, 7, 4, 10, 0)),
            SubmissionFacts {
                open_complaint: Some(OTHER_COMPLAINT),
                ..facts_of(&ins1_drafted())
            },
        ))
        .then_rejects(Rejection::DuplicateOpen {
            existing: OTHER_COMPLAINT,
        });
}

#[test]
fn a_complaint_during_a_tribunal_appeal_is_rejected() {
    complaint(vec![])
        .when(submit(london(2025, 7, 4, 10, 0), &ins1_appealed()))
        .then_rejects(Rejection::TribunalAppealPending);
}

#[test]
fn a_complaint_once_the_tribunal_appeal_concluded_is_accepted_inside_the_window() {
    let concluded = and::<InspectionCase>(
        ins1_appealed(),
        [appeal_concluded(APPEAL, london(2025, 7, 3, 16, 0))],
    );
    complaint(vec![])
        .when(submit(london(2025, 7, 4, 10, 0), &concluded))
        .then([Event::ComplaintSubmitted(submitted_event(
            london(2025, 7, 4, 10, 0),
            end_of(2025, 7, 8),
        ))]);
}

#[test]
fn a_complaint_while_a_second_appeal_is_pending_is_rejected() {
    let history = and::<InspectionCase>(
        ins1_appealed(),
        [
            appeal_lodged(OTHER_APPEAL, london(2025, 7, 2, 12, 0)),
            appeal_concluded(APPEAL, london(2025, 7, 3, 16, 0)),
        ],
    );
    complaint(vec![])
        .when(submit(london(2025, 7, 4, 10, 0), &history))
        .then_rejects(Rejection::TribunalAppealPending);
}

#[test]
fn a_complaint_after_fast_track_points_is_rejected_because_the_route_was_chosen() {
    complaint(vec![])
        .when(submit(london(2025, 7, 4, 10, 0), &ins1_fast_tracked()))
        .then_rejects(Rejection::RouteAlreadyChosen);
}

#[test]
fn a_decision_maker_s_override_with_a_reason_lets_the_complaint_in_after_fast_track_points() {
    complaint(vec![])
        .when(submit_with(
            Submission {
                route_override: Some(RouteOverride {
                    decided_by: decision_maker(),
                    reason_ref: "doc:override-1".into(),
                }),
                ..submission(london(2025, 7, 4, 10, 0))
            },
            facts_of(&ins1_fast_tracked()),
        ))
        .then([Event::ComplaintSubmitted(v1::ComplaintSubmitted {
            route_override_reason_ref: "doc:override-1".into(),
            route_override_by_ref: DECISION_MAKER.into(),
            ..submitted_event(london(2025, 7, 4, 10, 0), end_of(2025, 7, 8))
        })]);
}

#[test]
fn an_override_that_was_not_needed_is_not_recorded() {
    complaint(vec![])
        .when(submit_with(
            Submission {
                route_override: Some(RouteOverride {
                    decided_by: decision_maker(),
                    reason_ref: "doc:override-1".into(),
                }),
                ..submission(london(2025, 7, 3, 10, 0))
            },
            facts_of(&ins1_drafted()),
        ))
        .then([Event::ComplaintSubmitted(submitted_event(
            london(2025, 7, 3, 10, 0),
            end_of(2025, 7, 7),
        ))]);
}

#[test]
fn an_override_by_someone_other_than_a_decision_maker_is_rejected() {
    complaint(vec![])
        .when(submit_with(
            Submission {
                route_override: Some(RouteOverride {
                    decided_by: investigator(),
                    reason_ref: "doc:override-1".into(),
                }),
                ..submission(london(2025, 7, 4, 10, 0))
            },
            facts_of(&ins1_fast_tracked()),
        ))
        .then_rejects(Rejection::NotDecisionMaker);
}

#[test]
fn an_override_without_a_reason_is_rejected() {
    complaint(vec![])
        .when(submit_with(
            Submission {
                route_override: Some(RouteOverride {
                    decided_by: decision_maker(),
                    reason_ref: String::new(),
                }),
                ..submission(london(2025, 7, 4, 10, 0))
            },
            facts_of(&ins1_fast_tracked()),
        ))
        .then_rejects(Rejection::ReasonRequired);
}

#[test]
fn a_complaint_without_grounds_is_rejected() {
    complaint(vec![])
        .when(submit_with(
            Submission {
                grounds: BTreeSet::new(),
                ..submission(london(2025, 7, 3, 10, 0))
            },
            facts_of(&ins1_drafted()),
        ))
        .then_rejects(Rejection::GroundsRequired);
}

#[test]
fn facts_about_another_inspection_are_rejected() {
    complaint(vec![])
        .when(submit_with(
            Submission {
                inspection_id: OTHER_INS,
                ..submission(london(2025, 7, 3, 10, 0))
            },
            facts_of(&ins1_drafted()),
        ))
        .then_rejects(Rejection::InspectionMismatch);
}

#[test]
fn a_complaint_under_a_policy_other_than_the_inspection_s_is_rejected() {
    complaint(vec![])
        .when(Command::SubmitFormalComplaint {
            complaint_id: COMPLAINT,
            submission: submission(london(2025, 7, 3, 10, 0)),
            facts: facts_of(&ins1_drafted()),
            policy: era_b(),
            calendar: cal(),
        })
        .then_rejects(Rejection::PolicyVersionMismatch {
            recorded: ERA_C.into(),
            supplied: ERA_B.into(),
        });
}

#[test]
fn submitting_the_same_complaint_again_is_rejected() {
    complaint(submitted())
        .when(submit(london(2025, 7, 3, 10, 1), &ins1_drafted()))
        .then_rejects(Rejection::AlreadySubmitted);
}

#[test]
fn a_complaint_whose_deadlines_fall_beyond_the_calendar_is_rejected() {
    let mut facts = facts_of(&ins1_drafted());
    let window = facts
        .inspection
        .draft
        .as_mut()
        .and_then(|d| d.window.as_mut())
        .unwrap();
    window.opens_at = london(2030, 12, 30, 10, 0);
    window.closes_at = end_of(2030, 12, 31);
    complaint(vec![])
        .when(submit_with(submission(london(2030, 12, 31, 10, 0)), facts))
        .then_rejects(Rejection::CalendarOutOfRange {
            date: day(2031, 1, 1),
        });
}

// ---- discretionary acceptance out of time ----

#[test]
fn a_decision_maker_accepts_an_out_of_time_complaint_with_a_justification() {
    let state = complaint(vec![])
        .when(accept_out_of_time(
            london(2025, 7, 8, 0, 5),
            decision_maker(),
            "doc:justification-1",
            london(2025, 7, 9, 15, 0),
        ))
        .then([
            Event::ComplaintSubmitted(v1::ComplaintSubmitted {
                route: v1::ComplaintRoute::OutOfTime as i32,
                ..submitted_event(london(2025, 7, 8, 0, 5), end_of(2025, 7, 11))
            }),
            Event::OutOfTimeComplaintAccepted(v1::OutOfTimeComplaintAccepted {
                complaint_id: cid(),
                decided_by_ref: DECISION_MAKER.into(),
                justification_ref: "doc:justification-1".into(),
                accepted_at: ts(london(2025, 7, 9, 15, 0)),
                window_closed_at: ts(end_of(2025, 7, 7)),
            }),
        ]);
    assert_eq!(
        state.complaint().unwrap().clock_starts_at,
        london(2025, 7, 9, 15, 0)
    );
}

#[test]
fn an_out_of_time_complaint_s_response_is_due_thirty_working_days_after_its_acceptance() {
    let history = run::<FormalComplaint>([accept_out_of_time(
        london(2025, 7, 8, 0, 5),
        decision_maker(),
        "doc:justification-1",
        london(2025, 7, 9, 15, 0),
    )]);
    complaint(history)
        .when(acknowledge(london(2025, 7, 10, 9, 0)))
        .then([Event::ComplaintAcknowledged(v1::ComplaintAcknowledged {
            complaint_id: cid(),
            acknowledged_at: ts(london(2025, 7, 10, 9, 0)),
            response_due_at: ts(end_of(2025, 8, 20)),
            response_target_working_days: 30,
            policy_version: ERA_C.into(),
            calendar_version: CALENDAR_VERSION.into(),
        })]);
}

#[test]
fn an_out_of_time_complaint_can_be_accepted_after_publication() {
    let history = and::<InspectionCase>(
        ins1_drafted(),
        [
            final_report(london(2025, 7, 14, 10, 0)),
            publish(london(2025, 7, 16, 10, 0)),
        ],
    );
    let facts = facts_of(&history);
    assert!(facts.inspection.published);
    complaint(vec![])
        .when(Command::AcceptOutOfTime {
            complaint_id: COMPLAINT,
            submission: submission(london(2025, 7, 21, 10, 0)),
            facts,
            decided_by: decision_maker(),
            justification_ref: "doc:justification-2".into(),
            accepted_at: london(2025, 7, 22, 10, 0),
            policy: era_c(),
            calendar: cal(),
        })
        .then([
            Event::ComplaintSubmitted(v1::ComplaintSubmitted {
                route: v1::ComplaintRoute::OutOfTime as i32,
                ..submitted_event(london(2025, 7, 21, 10, 0), end_of(2025, 7, 24))
            }),
            Event::OutOfTimeComplaintAccepted(v1::OutOfTimeComplaintAccepted {
                complaint_id: cid(),
                decided_by_ref: DECISION_MAKER.into(),
                justification_ref: "doc:justification-2".into(),
                accepted_at: ts(london(2025, 7, 22, 10, 0)),
                window_closed_at: ts(end_of(2025, 7, 7)),
            }),
        ]);
}

#[test]
fn only_a_decision_maker_can_accept_a_complaint_out_of_time() {
    complaint(vec![])
        .when(accept_out_of_time(
            london(2025, 7, 8, 0, 5),
            investigator(),
            "doc:justification-1",
            london(2025, 7, 9, 15, 0),
        ))
        .then_rejects(Rejection::NotDecisionMaker);
}

#[test]
fn accepting_out_of_time_without_a_justification_is_rejected() {
    complaint(vec![])
        .when(accept_out_of_time(
            london(2025, 7, 8, 0, 5),
            decision_maker(),
            " ",
            london(2025, 7, 9, 15, 0),
        ))
        .then_rejects(Rejection::JustificationRequired);
}

#[test]
fn a_complaint_within_the_window_needs_no_discretion() {
    complaint(vec![])
        .when(accept_out_of_time(
            london(2025, 7, 3, 10, 0),
            decision_maker(),
            "doc:justification-1",
            london(2025, 7, 3, 15, 0),
        ))
        .then_rejects(Rejection::WithinWindow {
            window_closes_at: end_of(2025, 7, 7),
        });
}

#[test]
fn discretion_does_not_open_a_second_complaint_while_one_is_open() {
    complaint(vec![])
        .when(Command::AcceptOutOfTime {
            complaint_id: COMPLAINT,
            submission: submission(london(2025, 7, 8, 0, 5)),
            facts: SubmissionFacts {
                open_complaint: Some(OTHER_COMPLAINT),
                ..facts_of(&ins1_drafted())
            },
            decided_by: decision_maker(),
            justification_ref: "doc:justification-1".into(),
            accepted_at: london(2025, 7, 9, 15, 0),
            policy: era_c(),
            calendar: cal(),
        })
        .then_rejects(Rejection::DuplicateOpen {
            existing: OTHER_COMPLAINT,
        });
}

#[test]
fn discretion_does_not_let_a_complaint_in_while_a_tribunal_appeal_is_pending() {
    complaint(vec![])
        .when(Command::AcceptOutOfTime {
            complaint_id: COMPLAINT,
            submission: submission(london(2025, 7, 8, 0, 5)),
            facts: facts_of(&ins1_appealed()),
            decided_by: decision_maker(),
            justification_ref: "doc:justification-1".into(),
            accepted_at: london(2025, 7, 9, 15, 0),
            policy: era_c(),
            calendar: cal(),
        })
        .then_rejects(Rejection::TribunalAppealPending);
}

#[test]
fn discretion_needs_a_draft_report() {
    complaint(vec![])
        .when(Command::AcceptOutOfTime {
            complaint_id: COMPLAINT,
            submission: submission(london(2025, 7, 8, 0, 5)),
            facts: facts_of(&ins1_ended()),
            decided_by: decision_maker(),
            justification_ref: "doc:justification-1".into(),
            accepted_at: london(2025, 7, 9, 15, 0),
            policy: era_c(),
            calendar: cal(),
        })
        .then_rejects(Rejection::NoDraftReport);
}

// ---- acknowledgement ----

#[test]
fn acknowledging_fixes_the_response_deadline_with_the_policy_and_calendar_versions() {
    let state = complaint(submitted())
        .when(acknowledge(london(2025, 7, 4, 9, 0)))
        .then([Event::ComplaintAcknowledged(v1::ComplaintAcknowledged {
            complaint_id: cid(),
            acknowledged_at: ts(london(2025, 7, 4, 9, 0)),
            response_due_at: ts(end_of(2025, 8, 14)),
            response_target_working_days: 30,
            policy_version: ERA_C.into(),
            calendar_version: CALENDAR_VERSION.into(),
        })]);
    assert!(matches!(state, FormalComplaint::Acknowledged { .. }));
}

#[test]
fn acknowledging_twice_is_rejected() {
    complaint(acknowledged())
        .when(acknowledge(london(2025, 7, 4, 10, 0)))
        .then_rejects(Rejection::AlreadyAcknowledged);
}

#[test]
fn acknowledging_a_complaint_under_investigation_is_rejected() {
    complaint(investigating())
        .when(acknowledge(london(2025, 7, 8, 10, 0)))
        .then_rejects(Rejection::AlreadyAcknowledged);
}

#[test]
fn acknowledging_a_complaint_never_submitted_is_rejected() {
    complaint(vec![])
        .when(acknowledge(london(2025, 7, 4, 9, 0)))
        .then_rejects(Rejection::NotSubmitted);
}

#[test]
fn acknowledging_a_withdrawn_complaint_is_rejected() {
    complaint(withdrawn())
        .when(acknowledge(london(2025, 7, 21, 9, 0)))
        .then_rejects(Rejection::AlreadyWithdrawn);
}

#[test]
fn acknowledging_an_answered_complaint_is_rejected() {
    complaint(responded())
        .when(acknowledge(london(2025, 8, 15, 9, 0)))
        .then_rejects(Rejection::ResponseAlreadyIssued);
}

#[test]
fn acknowledging_under_another_policy_is_rejected() {
    complaint(submitted())
        .when(Command::AcknowledgeComplaint {
            acknowledged_at: london(2025, 7, 4, 9, 0),
            policy: era_b(),
            calendar: cal(),
        })
        .then_rejects(Rejection::PolicyVersionMismatch {
            recorded: ERA_C.into(),
            supplied: ERA_B.into(),
        });
}

// ---- additional information ----

fn information_added(at: Timestamp) -> Event {
    Event::ComplaintInformationAdded(v1::ComplaintInformationAdded {
        complaint_id: cid(),
        doc_ref: "doc:more-1".into(),
        added_by_ref: HEAD.into(),
        added_at: ts(at),
    })
}

#[test]
fn information_can_be_added_before_acknowledgement() {
    complaint(submitted())
        .when(add_information(london(2025, 7, 3, 16, 0)))
        .then([information_added(london(2025, 7, 3, 16, 0))]);
}

#[test]
fn information_can_be_added_during_the_investigation() {
    let state = complaint(investigating())
        .when(add_information(london(2025, 7, 10, 16, 0)))
        .then([information_added(london(2025, 7, 10, 16, 0))]);
    assert!(matches!(state, FormalComplaint::UnderInvestigation { .. }));
}

#[test]
fn information_after_the_response_is_rejected() {
    complaint(responded())
        .when(add_information(london(2025, 8, 15, 16, 0)))
        .then_rejects(Rejection::ResponseAlreadyIssued);
}

#[test]
fn information_for_a_closed_complaint_is_rejected() {
    complaint(closed())
        .when(add_information(london(2025, 12, 1, 16, 0)))
        .then_rejects(Rejection::ResponseAlreadyIssued);
}

#[test]
fn information_for_a_withdrawn_complaint_is_rejected() {
    complaint(withdrawn())
        .when(add_information(london(2025, 7, 21, 16, 0)))
        .then_rejects(Rejection::AlreadyWithdrawn);
}

#[test]
fn information_for_a_complaint_never_submitted_is_rejected() {
    complaint(vec![])
        .when(add_information(london(2025, 7, 21, 16, 0)))
        .then_rejects(Rejection::NotSubmitted);
}

// ---- investigator ----

#[test]
fn an_investigator_unconnected_with_the_inspection_takes_the_complaint() {
    let state = complaint(acknowledged())
        .when(assign_investigator(
            investigator(),
            london(2025, 7, 7, 9, 0),
        ))
        .then([Event::InvestigatorAssigned(v1::InvestigatorAssigned {
            complaint_id: cid(),
            investigator_ref: INVESTIGATOR.into(),
            assigned_at: ts(london(2025, 7, 7, 9, 0)),
        })]);
    assert!(matches!(state, FormalComplaint::UnderInvestigation { .. }));
}

#[test]
fn an_investigator_on_the_inspection_team_is_rejected() {
    complaint(acknowledged())
        .when(assign_investigator(
            Actor::new(TEAM, Role::ComplaintsInvestigator),
            london(2025, 7, 7, 9, 0),
        ))
        .then_rejects(Rejection::InvestigatorOnInspectionTeam);
}

#[test]
fn an_investigator_without_the_investigator_role_is_rejected() {
    complaint(acknowledged())
        .when(assign_investigator(
            Actor::new("staff:X-1", Role::SeniorInspector),
            london(2025, 7, 7, 9, 0),
        ))
        .then_rejects(Rejection::NotComplaintsInvestigator);
}

#[test]
fn an_investigator_checked_against_another_inspection_s_team_is_rejected() {
    complaint(acknowledged())
        .when(Command::AssignInvestigator {
            investigator: investigator(),
            assigned_at: london(2025, 7, 7, 9, 0),
            team: InspectionTeam {
                inspection_id: OTHER_INS,
                members: BTreeSet::new(),
            },
        })
        .then_rejects(Rejection::InspectionMismatch);
}

#[test]
fn an_investigator_is_assigned_only_after_acknowledgement() {
    complaint(submitted())
        .when(assign_investigator(
            investigator(),
            london(2025, 7, 7, 9, 0),
        ))
        .then_rejects(Rejection::NotAcknowledged);
}

#[test]
fn the_complaint_can_pass_to_another_investigator() {
    complaint(investigating())
        .when(assign_investigator(
            Actor::new("staff:CI-5", Role::ComplaintsInvestigator),
            london(2025, 7, 8, 9, 0),
        ))
        .then([Event::InvestigatorAssigned(v1::InvestigatorAssigned {
            complaint_id: cid(),
            investigator_ref: "staff:CI-5".into(),
            assigned_at: ts(london(2025, 7, 8, 9, 0)),
        })]);
}

#[test]
fn assigning_the_same_investigator_again_records_nothing() {
    complaint(investigating())
        .when(assign_investigator(
            investigator(),
            london(2025, 7, 8, 9, 0),
        ))
        .then_nothing();
}

#[test]
fn assigning_an_investigator_after_the_response_is_rejected() {
    complaint(responded())
        .when(assign_investigator(
            investigator(),
            london(2025, 8, 15, 9, 0),
        ))
        .then_rejects(Rejection::ResponseAlreadyIssued);
}

// ---- investigation call ----

#[test]
fn the_investigator_holds_a_call_with_the_provider() {
    complaint(investigating())
        .when(call(london(2025, 7, 15, 14, 0)))
        .then([Event::InvestigationCallHeld(v1::InvestigationCallHeld {
            complaint_id: cid(),
            notes_ref: "doc:call-1".into(),
            accompanied: true,
            held_at: ts(london(2025, 7, 15, 14, 0)),
        })]);
}

#[test]
fn a_call_before_an_investigator_is_assigned_is_rejected() {
    complaint(acknowledged())
        .when(call(london(2025, 7, 15, 14, 0)))
        .then_rejects(Rejection::NotUnderInvestigation);
}

#[test]
fn a_call_after_the_response_is_rejected() {
    complaint(responded())
        .when(call(london(2025, 8, 15, 14, 0)))
        .then_rejects(Rejection::ResponseAlreadyIssued);
}

// ---- extension ----

#[test]
fn a_decision_maker_extends_the_deadline_by_working_days_with_a_reason() {
    // 10 working days after Thu 14 Aug 2025, skipping the August bank holiday (Mon 25 Aug).
    complaint(investigating())
        .when(extend(10, decision_maker(), "doc:extension-1"))
        .then([Event::ResponseDeadlineExtended(
            v1::ResponseDeadlineExtended {
                complaint_id: cid(),
                previous_due_at: ts(end_of(2025, 8, 14)),
                new_due_at: ts(end_of(2025, 8, 29)),
                additional_working_days: 10,
                reason: v1::ExtensionReason::ComplexComplaint as i32,
                reason_ref: "doc:extension-1".into(),
                decided_by_ref: DECISION_MAKER.into(),
                decided_at: ts(london(2025, 8, 1, 10, 0)),
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
            },
        )]);
}

#[test]
fn only_a_decision_maker_extends_the_deadline() {
    complaint(investigating())
        .when(extend(10, investigator(), "doc:extension-1"))
        .then_rejects(Rejection::NotDecisionMaker);
}

#[test]
fn an_extension_without_a_reason_is_rejected() {
    complaint(investigating())
        .when(extend(10, decision_maker(), ""))
        .then_rejects(Rejection::ReasonRequired);
}

#[test]
fn an_extension_before_acknowledgement_is_rejected() {
    complaint(submitted())
        .when(extend(10, decision_maker(), "doc:extension-1"))
        .then_rejects(Rejection::NotAcknowledged);
}

#[test]
fn an_extension_after_the_response_is_rejected() {
    complaint(responded())
        .when(extend(10, decision_maker(), "doc:extension-1"))
        .then_rejects(Rejection::ResponseAlreadyIssued);
}

#[test]
fn an_extension_under_another_policy_is_rejected() {
    complaint(investigating())
        .when(Command::ExtendResponseDeadline {
            additional_working_days: NonZeroU32::MIN,
            reason: ExtensionReason::Other,
            reason_ref: "doc:extension-1".into(),
            decided_by: decision_maker(),
            decided_at: london(2025, 8, 1, 10, 0),
            policy: era_b(),
            calendar: cal(),
        })
        .then_rejects(Rejection::PolicyVersionMismatch {
            recorded: ERA_C.into(),
            supplied: ERA_B.into(),
        });
}

#[test]
fn an_extension_restarts_the_overdue_clock() {
    let history = and::<FormalComplaint>(
        investigating(),
        [
            overdue(london(2025, 8, 15, 0, 1)),
            extend(10, decision_maker(), "doc:extension-1"),
        ],
    );
    complaint(history.clone())
        .when(overdue(london(2025, 8, 20, 0, 1)))
        .then_rejects(Rejection::ResponseNotYetDue {
            due_at: end_of(2025, 8, 29),
        });
    complaint(history)
        .when(overdue(london(2025, 8, 30, 0, 1)))
        .then([Event::ComplaintResponseOverdue(
            v1::ComplaintResponseOverdue {
                complaint_id: cid(),
                response_due_at: ts(end_of(2025, 8, 29)),
                detected_at: ts(london(2025, 8, 30, 0, 1)),
                escalation_allowed: false,
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
            },
        )]);
}

// ---- overdue ----

#[test]
fn a_response_deadline_that_passes_is_marked_overdue() {
    complaint(investigating())
        .when(overdue(london(2025, 8, 15, 0, 1)))
        .then([Event::ComplaintResponseOverdue(
            v1::ComplaintResponseOverdue {
                complaint_id: cid(),
                response_due_at: ts(end_of(2025, 8, 14)),
                detected_at: ts(london(2025, 8, 15, 0, 1)),
                escalation_allowed: false,
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
            },
        )]);
}

#[test]
fn a_response_is_not_overdue_on_its_last_day() {
    complaint(investigating())
        .when(overdue(end_of(2025, 8, 14)))
        .then_rejects(Rejection::ResponseNotYetDue {
            due_at: end_of(2025, 8, 14),
        });
}

#[test]
fn an_overdue_response_is_not_marked_twice() {
    let history = and::<FormalComplaint>(investigating(), [overdue(london(2025, 8, 15, 0, 1))]);
    complaint(history)
        .when(overdue(london(2025, 8, 16, 0, 1)))
        .then_nothing();
}

#[test]
fn a_complaint_not_yet_acknowledged_has_no_deadline_to_miss() {
    complaint(submitted())
        .when(overdue(london(2025, 8, 15, 0, 1)))
        .then_rejects(Rejection::NotAcknowledged);
}

#[test]
fn an_answered_complaint_cannot_become_overdue() {
    complaint(responded())
        .when(overdue(london(2025, 8, 15, 0, 1)))
        .then_rejects(Rejection::ResponseAlreadyIssued);
}

#[test]
fn marking_overdue_under_another_policy_is_rejected() {
    complaint(investigating())
        .when(Command::MarkResponseOverdue {
            now: london(2025, 8, 15, 0, 1),
            policy: era_b(),
        })
        .then_rejects(Rejection::PolicyVersionMismatch {
            recorded: ERA_C.into(),
            supplied: ERA_B.into(),
        });
}

// ---- response ----

#[test]
fn the_response_notifies_escalation_rights_three_months_ahead() {
    let state = complaint(investigating())
        .when(respond_with(
            ComplaintOutcome::PartiallyUpheld,
            BTreeSet::from([Remedy::ReportAmended, Remedy::Apology]),
            london(2025, 8, 14, 10, 0),
        ))
        .then([
            Event::ComplaintResponseIssued(v1::ComplaintResponseIssued {
                complaint_id: cid(),
                outcome: v1::ComplaintOutcome::PartiallyUpheld as i32,
                remedies: vec![v1::Remedy::ReportAmended as i32, v1::Remedy::Apology as i32],
                response_doc_ref: "doc:response-1".into(),
                decided_by_ref: DECISION_MAKER.into(),
                responded_at: ts(london(2025, 8, 14, 10, 0)),
                late: false,
            }),
            Event::EscalationRightsNotified(v1::EscalationRightsNotified {
                complaint_id: cid(),
                route: v1::EscalationRoute::IndependentBody as i32,
                notified_at: ts(london(2025, 8, 14, 10, 0)),
                window_closes_at: ts(end_of(2025, 11, 14)),
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
                outcome: v1::ComplaintOutcome::PartiallyUpheld as i32,
                response_doc_ref: "doc:response-1".into(),
            }),
        ]);
    assert!(matches!(
        state,
        FormalComplaint::ResponseIssued { escalation_window_closes_at, .. }
            if escalation_window_closes_at == end_of(2025, 11, 14)
    ));
    assert!(!state.is_open());
}

#[test]
fn a_response_after_the_deadline_is_recorded_as_late() {
    complaint(investigating())
        .when(respond(london(2025, 8, 18, 10, 0)))
        .then([
            Event::ComplaintResponseIssued(v1::ComplaintResponseIssued {
                complaint_id: cid(),
                outcome: v1::ComplaintOutcome::NotUpheld as i32,
                remedies: vec![v1::Remedy::NoChange as i32],
                response_doc_ref: "doc:response-1".into(),
                decided_by_ref: DECISION_MAKER.into(),
                responded_at: ts(london(2025, 8, 18, 10, 0)),
                late: true,
            }),
            Event::EscalationRightsNotified(v1::EscalationRightsNotified {
                complaint_id: cid(),
                route: v1::EscalationRoute::IndependentBody as i32,
                notified_at: ts(london(2025, 8, 18, 10, 0)),
                window_closes_at: ts(end_of(2025, 11, 18)),
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
                outcome: v1::ComplaintOutcome::NotUpheld as i32,
                response_doc_ref: "doc:response-1".into(),
            }),
        ]);
}

#[test]
fn a_complaint_not_upheld_may_carry_no_remedy_at_all() {
    complaint(investigating())
        .when(respond_with(
            ComplaintOutcome::NotUpheld,
            BTreeSet::new(),
            london(2025, 8, 14, 10, 0),
        ))
        .then([
            Event::ComplaintResponseIssued(v1::ComplaintResponseIssued {
                complaint_id: cid(),
                outcome: v1::ComplaintOutcome::NotUpheld as i32,
                remedies: vec![],
                response_doc_ref: "doc:response-1".into(),
                decided_by_ref: DECISION_MAKER.into(),
                responded_at: ts(london(2025, 8, 14, 10, 0)),
                late: false,
            }),
            Event::EscalationRightsNotified(v1::EscalationRightsNotified {
                complaint_id: cid(),
                route: v1::EscalationRoute::IndependentBody as i32,
                notified_at: ts(london(2025, 8, 14, 10, 0)),
                window_closes_at: ts(end_of(2025, 11, 14)),
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
                outcome: v1::ComplaintOutcome::NotUpheld as i32,
                response_doc_ref: "doc:response-1".into(),
            }),
        ]);
}

#[test]
fn before_april_2024_the_response_points_to_internal_review_within_fifteen_working_days() {
    let history = run::<InspectionCase>([
        notify_with(
            complaints::domain::Remit::Schools,
            day(2023, 6, 13),
            era_b(),
        ),
        start_with(london(2023, 6, 13, 8, 0), era_b()),
        end_with(day(2023, 6, 14), london(2023, 6, 14, 17, 0), era_b()),
        draft_with(london(2023, 7, 3, 10, 0), era_b()),
        final_report_with(london(2023, 7, 17, 10, 0), era_b()),
    ]);
    let complaint_history = run::<FormalComplaint>([
        Command::SubmitFormalComplaint {
            complaint_id: COMPLAINT,
            submission: submission(london(2023, 7, 20, 10, 0)),
            facts: facts_of(&history),
            policy: era_b(),
            calendar: cal(),
        },
        Command::AcknowledgeComplaint {
            acknowledged_at: london(2023, 7, 21, 10, 0),
            policy: era_b(),
            calendar: cal(),
        },
        assign_investigator(investigator(), london(2023, 7, 24, 10, 0)),
    ]);
    complaint(complaint_history)
        .when(Command::IssueComplaintResponse {
            outcome: ComplaintOutcome::NotUpheld,
            remedies: BTreeSet::from([Remedy::NoChange]),
            response_doc_ref: "doc:response-1".into(),
            decided_by: decision_maker(),
            responded_at: london(2023, 8, 31, 10, 0),
            policy: era_b(),
            calendar: cal(),
        })
        .then([
            Event::ComplaintResponseIssued(v1::ComplaintResponseIssued {
                complaint_id: cid(),
                outcome: v1::ComplaintOutcome::NotUpheld as i32,
                remedies: vec![v1::Remedy::NoChange as i32],
                response_doc_ref: "doc:response-1".into(),
                decided_by_ref: DECISION_MAKER.into(),
                responded_at: ts(london(2023, 8, 31, 10, 0)),
                late: false,
            }),
            Event::EscalationRightsNotified(v1::EscalationRightsNotified {
                complaint_id: cid(),
                route: v1::EscalationRoute::InternalReview as i32,
                notified_at: ts(london(2023, 8, 31, 10, 0)),
                window_closes_at: ts(end_of(2023, 9, 21)),
                policy_version: ERA_B.into(),
                calendar_version: CALENDAR_VERSION.into(),
                outcome: v1::ComplaintOutcome::NotUpheld as i32,
                response_doc_ref: "doc:response-1".into(),
            }),
        ]);
}

#[test]
fn only_a_decision_maker_issues_the_response() {
    complaint(investigating())
        .when(Command::IssueComplaintResponse {
            outcome: ComplaintOutcome::NotUpheld,
            remedies: BTreeSet::from([Remedy::NoChange]),
            response_doc_ref: "doc:response-1".into(),
            decided_by: investigator(),
            responded_at: london(2025, 8, 14, 10, 0),
            policy: era_c(),
            calendar: cal(),
        })
        .then_rejects(Rejection::NotDecisionMaker);
}

#[test]
fn a_response_before_an_investigator_is_assigned_is_rejected() {
    complaint(acknowledged())
        .when(respond(london(2025, 8, 14, 10, 0)))
        .then_rejects(Rejection::NotUnderInvestigation);
}

#[test]
fn a_second_response_is_rejected() {
    complaint(responded())
        .when(respond(london(2025, 8, 15, 10, 0)))
        .then_rejects(Rejection::ResponseAlreadyIssued);
}

#[test]
fn a_response_to_a_withdrawn_complaint_is_rejected() {
    complaint(withdrawn())
        .when(respond(london(2025, 8, 14, 10, 0)))
        .then_rejects(Rejection::AlreadyWithdrawn);
}

#[test]
fn a_response_under_another_policy_is_rejected() {
    complaint(investigating())
        .when(Command::IssueComplaintResponse {
            outcome: ComplaintOutcome::NotUpheld,
            remedies: BTreeSet::from([Remedy::NoChange]),
            response_doc_ref: "doc:response-1".into(),
            decided_by: decision_maker(),
            responded_at: london(2025, 8, 14, 10, 0),
            policy: era_b(),
            calendar: cal(),
        })
        .then_rejects(Rejection::PolicyVersionMismatch {
            recorded: ERA_C.into(),
            supplied: ERA_B.into(),
        });
}

#[test]
fn a_complaint_not_upheld_cannot_carry_a_remedy() {
    complaint(investigating())
        .when(respond_with(
            ComplaintOutcome::NotUpheld,
            BTreeSet::from([Remedy::Apology]),
            london(2025, 8, 14, 10, 0),
        ))
        .then_rejects(Rejection::RemediesInconsistentWithOutcome {
            outcome: ComplaintOutcome::NotUpheld,
        });
}

#[test]
fn an_upheld_complaint_needs_a_remedy() {
    complaint(investigating())
        .when(respond_with(
            ComplaintOutcome::Upheld,
            BTreeSet::new(),
            london(2025, 8, 14, 10, 0),
        ))
        .then_rejects(Rejection::RemediesInconsistentWithOutcome {
            outcome: ComplaintOutcome::Upheld,
        });
}

#[test]
fn an_upheld_complaint_cannot_change_nothing() {
    complaint(investigating())
        .when(respond_with(
            ComplaintOutcome::Upheld,
            BTreeSet::from([Remedy::NoChange]),
            london(2025, 8, 14, 10, 0),
        ))
        .then_rejects(Rejection::RemediesInconsistentWithOutcome {
            outcome: ComplaintOutcome::Upheld,
        });
}

#[test]
fn no_change_cannot_sit_beside_an_amended_report() {
    complaint(investigating())
        .when(respond_with(
            ComplaintOutcome::PartiallyUpheld,
            BTreeSet::from([Remedy::NoChange, Remedy::ReportAmended]),
            london(2025, 8, 14, 10, 0),
        ))
        .then_rejects(Rejection::RemediesInconsistentWithOutcome {
            outcome: ComplaintOutcome::PartiallyUpheld,
        });
}

#[test]
fn an_upheld_complaint_may_find_the_evidence_base_insufficient() {
    complaint(investigating())
        .when(respond_with(
            ComplaintOutcome::Upheld,
            BTreeSet::from([Remedy::EvidenceBaseInsufficient, Remedy::Apology]),
            london(2025, 8, 14, 10, 0),
        ))
        .then([
            Event::ComplaintResponseIssued(v1::ComplaintResponseIssued {
                complaint_id: cid(),
                outcome: v1::ComplaintOutcome::Upheld as i32,
                remedies: vec![
                    v1::Remedy::EvidenceBaseInsufficient as i32,
                    v1::Remedy::Apology as i32,
                ],
                response_doc_ref: "doc:response-1".into(),
                decided_by_ref: DECISION_MAKER.into(),
                responded_at: ts(london(2025, 8, 14, 10, 0)),
                late: false,
            }),
            Event::EscalationRightsNotified(v1::EscalationRightsNotified {
                complaint_id: cid(),
                route: v1::EscalationRoute::IndependentBody as i32,
                notified_at: ts(london(2025, 8, 14, 10, 0)),
                window_closes_at: ts(end_of(2025, 11, 14)),
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
                outcome: v1::ComplaintOutcome::Upheld as i32,
                response_doc_ref: "doc:response-1".into(),
            }),
        ]);
}

// ---- withdrawal ----

fn withdrawn_event(at: Timestamp) -> Event {
    Event::ComplaintWithdrawn(v1::ComplaintWithdrawn {
        complaint_id: cid(),
        reason: v1::WithdrawalReason::NoLongerWishesToPursue as i32,
        withdrawn_by_ref: HEAD.into(),
        withdrawn_at: ts(at),
    })
}

#[test]
fn a_submitted_complaint_can_be_withdrawn() {
    let state = complaint(submitted())
        .when(withdraw(london(2025, 7, 3, 16, 0)))
        .then([withdrawn_event(london(2025, 7, 3, 16, 0))]);
    assert!(matches!(state, FormalComplaint::Withdrawn { .. }));
    assert!(!state.is_open());
}

#[test]
fn an_acknowledged_complaint_can_be_withdrawn() {
    complaint(acknowledged())
        .when(withdraw(london(2025, 7, 5, 16, 0)))
        .then([withdrawn_event(london(2025, 7, 5, 16, 0))]);
}

#[test]
fn a_complaint_under_investigation_can_be_withdrawn() {
    complaint(investigating())
        .when(withdraw(london(2025, 7, 20, 12, 0)))
        .then([withdrawn_event(london(2025, 7, 20, 12, 0))]);
}

#[test]
fn withdrawing_after_the_response_is_rejected() {
    complaint(responded())
        .when(withdraw(london(2025, 8, 15, 12, 0)))
        .then_rejects(Rejection::ResponseAlreadyIssued);
}

#[test]
fn withdrawing_twice_is_rejected() {
    complaint(withdrawn())
        .when(withdraw(london(2025, 7, 21, 12, 0)))
        .then_rejects(Rejection::AlreadyWithdrawn);
}

#[test]
fn withdrawing_a_complaint_never_submitted_is_rejected() {
    complaint(vec![])
        .when(withdraw(london(2025, 7, 21, 12, 0)))
        .then_rejects(Rejection::NotSubmitted);
}

// ---- closure ----

#[test]
fn an_answered_complaint_closes_once_the_escalation_window_lapses() {
    let state = complaint(responded())
        .when(close_lapsed(london(2025, 11, 15, 9, 0)))
        .then([closed_event(
            v1::ClosureReason::EscalationWindowLapsed,
            london(2025, 11, 15, 9, 0),
            "",
        )]);
    assert!(matches!(state, FormalComplaint::Closed { .. }));
}

#[test]
fn closing_while_the_escalation_window_is_open_is_rejected() {
    complaint(responded())
        .when(close_lapsed(end_of(2025, 11, 14)))
        .then_rejects(Rejection::EscalationWindowOpen {
            closes_at: end_of(2025, 11, 14),
        });
}

#[test]
fn a_lapsed_window_does_not_close_a_complaint_under_escalation() {
    complaint(escalated())
        .when(close_lapsed(london(2025, 11, 15, 9, 0)))
        .then_rejects(Rejection::EscalationInProgress);
}

#[test]
fn a_concluded_escalation_closes_the_complaint_at_any_time() {
    let state = complaint(escalated())
        .when(concluded(ESCALATION, london(2025, 10, 1, 9, 0)))
        .then([closed_event(
            v1::ClosureReason::EscalationConcluded,
            london(2025, 10, 1, 9, 0),
            &ESCALATION.to_string(),
        )]);
    assert!(matches!(state, FormalComplaint::Closed { .. }));
    assert_eq!(state.escalation_in_progress(), None);
}

#[test]
fn an_escalation_the_complaint_never_recorded_does_not_close_it() {
    complaint(responded())
        .when(concluded(ESCALATION, london(2025, 10, 1, 9, 0)))
        .then_rejects(Rejection::EscalationNotInProgress {
            escalation_id: ESCALATION,
        });
}

#[test]
fn another_escalation_than_the_one_in_progress_does_not_close_the_complaint() {
    complaint(escalated())
        .when(concluded(OTHER_ESCALATION, london(2025, 10, 1, 9, 0)))
        .then_rejects(Rejection::EscalationNotInProgress {
            escalation_id: OTHER_ESCALATION,
        });
}

#[test]
fn a_withdrawn_escalation_concluding_later_records_nothing() {
    let history = and::<FormalComplaint>(
        escalated(),
        [withdraw_escalation(
            ESCALATION,
            london(2025, 9, 10, 9, 0),
            london(2025, 9, 10, 9, 0),
        )],
    );
    complaint(history)
        .when(concluded(ESCALATION, london(2025, 9, 20, 9, 0)))
        .then_nothing();
}

#[test]
fn an_escalation_concluding_before_the_response_is_rejected() {
    let history = and::<FormalComplaint>(
        overdue_investigation(),
        [escalate(ESCALATION, london(2025, 8, 18, 9, 0))],
    );
    complaint(history)
        .when(concluded(ESCALATION, london(2025, 10, 1, 9, 0)))
        .then_rejects(Rejection::ResponseNotIssued);
}

#[test]
fn closing_before_the_response_is_rejected() {
    complaint(investigating())
        .when(close_lapsed(london(2025, 11, 15, 9, 0)))
        .then_rejects(Rejection::ResponseNotIssued);
}

#[test]
fn closing_a_withdrawn_complaint_is_rejected() {
    complaint(withdrawn())
        .when(close_lapsed(london(2025, 11, 15, 9, 0)))
        .then_rejects(Rejection::AlreadyWithdrawn);
}

#[test]
fn closing_a_closed_complaint_again_records_nothing() {
    complaint(closed())
        .when(close_lapsed(london(2025, 11, 16, 9, 0)))
        .then_nothing();
}

#[test]
fn an_escalation_concluding_after_the_window_closed_the_complaint_records_nothing() {
    complaint(closed())
        .when(concluded(ESCALATION, london(2025, 11, 16, 9, 0)))
        .then_nothing();
}

#[test]
fn closing_a_complaint_never_submitted_is_rejected() {
    complaint(vec![])
        .when(close_lapsed(london(2025, 11, 16, 9, 0)))
        .then_rejects(Rejection::NotSubmitted);
}

// ---- escalation ----

#[test]
fn an_answered_complaint_records_its_escalation() {
    let state = complaint(responded())
        .when(escalate(ESCALATION, london(2025, 9, 1, 10, 0)))
        .then([escalated_event(ESCALATION, london(2025, 9, 1, 10, 0))]);
    assert_eq!(state.escalation_in_progress(), Some(ESCALATION));
    assert!(matches!(state, FormalComplaint::ResponseIssued { .. }));
}

#[test]
fn recording_the_same_escalation_again_records_nothing() {
    complaint(escalated())
        .when(escalate(ESCALATION, london(2025, 9, 1, 10, 0)))
        .then_nothing();
}

#[test]
fn a_second_escalation_while_one_is_in_progress_is_rejected() {
    complaint(escalated())
        .when(escalate(OTHER_ESCALATION, london(2025, 9, 2, 10, 0)))
        .then_rejects(Rejection::EscalationInProgress);
}

#[test]
fn a_new_escalation_after_a_withdrawn_one_is_recorded() {
    let history = and::<FormalComplaint>(
        escalated(),
        [withdraw_escalation(
            ESCALATION,
            london(2025, 9, 10, 9, 0),
            london(2025, 9, 10, 9, 0),
        )],
    );
    let state = complaint(history)
        .when(escalate(OTHER_ESCALATION, london(2025, 10, 1, 10, 0)))
        .then([escalated_event(
            OTHER_ESCALATION,
            london(2025, 10, 1, 10, 0),
        )]);
    assert_eq!(state.escalation_in_progress(), Some(OTHER_ESCALATION));
}

#[test]
fn an_escalation_before_the_response_is_rejected() {
    complaint(investigating())
        .when(escalate(ESCALATION, london(2025, 8, 1, 10, 0)))
        .then_rejects(Rejection::ResponseNotIssued);
}

#[test]
fn an_escalation_on_an_overdue_response_is_recorded() {
    let state = complaint(overdue_investigation())
        .when(escalate(ESCALATION, london(2025, 8, 18, 9, 0)))
        .then([escalated_event(ESCALATION, london(2025, 8, 18, 9, 0))]);
    assert_eq!(state.escalation_in_progress(), Some(ESCALATION));
    assert!(matches!(state, FormalComplaint::UnderInvestigation { .. }));
}

#[test]
fn a_response_to_an_escalated_overdue_complaint_keeps_the_escalation_in_progress() {
    let history = and::<FormalComplaint>(
        overdue_investigation(),
        [
            escalate(ESCALATION, london(2025, 8, 18, 9, 0)),
            respond(london(2025, 8, 20, 10, 0)),
        ],
    );
    let state = FormalComplaint::replay(&history);
    assert_eq!(state.escalation_in_progress(), Some(ESCALATION));
    complaint(history)
        .when(close_lapsed(london(2025, 12, 1, 9, 0)))
        .then_rejects(Rejection::EscalationInProgress);
}

#[test]
fn an_escalation_of_a_withdrawn_complaint_is_rejected() {
    complaint(withdrawn())
        .when(escalate(ESCALATION, london(2025, 9, 1, 10, 0)))
        .then_rejects(Rejection::AlreadyWithdrawn);
}

#[test]
fn an_escalation_of_a_closed_complaint_is_rejected() {
    complaint(closed())
        .when(escalate(ESCALATION, london(2025, 11, 16, 10, 0)))
        .then_rejects(Rejection::AlreadyClosed);
}

#[test]
fn an_escalation_of_a_complaint_never_submitted_is_rejected() {
    complaint(vec![])
        .when(escalate(ESCALATION, london(2025, 9, 1, 10, 0)))
        .then_rejects(Rejection::NotSubmitted);
}

// ---- escalation withdrawn ----

#[test]
fn an_escalation_withdrawn_inside_the_window_leaves_the_window_to_close_the_complaint() {
    let state = complaint(escalated())
        .when(withdraw_escalation(
            ESCALATION,
            london(2025, 9, 10, 9, 0),
            london(2025, 9, 10, 9, 5),
        ))
        .then([escalation_withdrawn_event(
            ESCALATION,
            london(2025, 9, 10, 9, 0),
        )]);
    assert_eq!(state.escalation_in_progress(), None);
    let history = and::<FormalComplaint>(
        escalated(),
        [withdraw_escalation(
            ESCALATION,
            london(2025, 9, 10, 9, 0),
            london(2025, 9, 10, 9, 5),
        )],
    );
    complaint(history)
        .when(close_lapsed(london(2025, 11, 15, 0, 0)))
        .then([closed_event(
            v1::ClosureReason::EscalationWindowLapsed,
            london(2025, 11, 15, 0, 0),
            "",
        )]);
}

#[test]
fn an_escalation_withdrawn_after_the_window_closes_the_complaint_at_once() {
    let state = complaint(escalated())
        .when(withdraw_escalation(
            ESCALATION,
            london(2025, 12, 1, 9, 0),
            london(2025, 12, 1, 9, 5),
        ))
        .then([
            escalation_withdrawn_event(ESCALATION, london(2025, 12, 1, 9, 0)),
            closed_event(
                v1::ClosureReason::EscalationWindowLapsed,
                london(2025, 12, 1, 9, 5),
                "",
            ),
        ]);
    assert!(matches!(state, FormalComplaint::Closed { .. }));
}

#[test]
fn an_escalation_withdrawn_in_time_but_handled_after_the_window_closes_the_complaint() {
    complaint(escalated())
        .when(withdraw_escalation(
            ESCALATION,
            end_of(2025, 11, 14),
            london(2025, 11, 15, 0, 1),
        ))
        .then([
            escalation_withdrawn_event(ESCALATION, end_of(2025, 11, 14)),
            closed_event(
                v1::ClosureReason::EscalationWindowLapsed,
                london(2025, 11, 15, 0, 1),
                "",
            ),
        ]);
}

#[test]
fn withdrawing_the_same_escalation_again_records_nothing() {
    let history = and::<FormalComplaint>(
        escalated(),
        [withdraw_escalation(
            ESCALATION,
            london(2025, 9, 10, 9, 0),
            london(2025, 9, 10, 9, 0),
        )],
    );
    complaint(history)
        .when(withdraw_escalation(
            ESCALATION,
            london(2025, 9, 10, 9, 0),
            london(2025, 9, 11, 9, 0),
        ))
        .then_nothing();
}

#[test]
fn withdrawing_an_escalation_the_complaint_never_recorded_is_rejected() {
    complaint(responded())
        .when(withdraw_escalation(
            ESCALATION,
            london(2025, 9, 10, 9, 0),
            london(2025, 9, 10, 9, 0),
        ))
        .then_rejects(Rejection::EscalationNotInProgress {
            escalation_id: ESCALATION,
        });
}

#[test]
fn an_escalation_of_an_overdue_complaint_withdrawn_before_the_response_closes_nothing() {
    let history = and::<FormalComplaint>(
        overdue_investigation(),
        [escalate(ESCALATION, london(2025, 8, 18, 9, 0))],
    );
    let state = complaint(history)
        .when(withdraw_escalation(
            ESCALATION,
            london(2025, 8, 20, 9, 0),
            london(2025, 8, 20, 9, 0),
        ))
        .then([escalation_withdrawn_event(
            ESCALATION,
            london(2025, 8, 20, 9, 0),
        )]);
    assert!(matches!(state, FormalComplaint::UnderInvestigation { .. }));
}

#[test]
fn withdrawing_an_escalation_of_a_complaint_never_submitted_is_rejected() {
    complaint(vec![])
        .when(withdraw_escalation(
            ESCALATION,
            london(2025, 9, 10, 9, 0),
            london(2025, 9, 10, 9, 0),
        ))
        .then_rejects(Rejection::NotSubmitted);
}

// ---- reconsideration ----

#[test]
fn an_accepted_reconsideration_reopens_the_complaint_with_a_new_response_deadline() {
    let state = complaint(escalated())
        .when(reconsider(RECOMMENDATION, london(2025, 12, 1, 10, 0)))
        .then([Event::ComplaintReopenedForReconsideration(
            v1::ComplaintReopenedForReconsideration {
                complaint_id: cid(),
                escalation_id: ESCALATION.to_string(),
                recommendation_id: RECOMMENDATION.to_string(),
                reopened_at: ts(london(2025, 12, 1, 10, 0)),
                // 30 working days, skipping 25 and 26 December and 1 January.
                response_due_at: ts(end_of(2026, 1, 15)),
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
            },
        )]);
    assert!(matches!(
        state,
        FormalComplaint::UnderReconsideration { ref response, .. }
            if response.due_at == end_of(2026, 1, 15) && !response.overdue
    ));
    assert_eq!(state.escalation_in_progress(), None);
    assert!(!state.is_open());
}

#[test]
fn the_same_accepted_recommendation_again_records_nothing() {
    complaint(reopened())
        .when(reconsider(RECOMMENDATION, london(2025, 12, 1, 10, 0)))
        .then_nothing();
}

#[test]
fn a_second_reconsideration_from_the_same_escalation_records_nothing() {
    complaint(reopened())
        .when(reconsider(OTHER_RECOMMENDATION, london(2025, 12, 2, 10, 0)))
        .then_nothing();
}

#[test]
fn a_recommendation_already_acted_on_records_nothing_after_the_new_response() {
    let history = and::<FormalComplaint>(reopened(), [respond(london(2026, 1, 12, 10, 0))]);
    complaint(history)
        .when(reconsider(RECOMMENDATION, london(2025, 12, 1, 10, 0)))
        .then_nothing();
}

#[test]
fn a_reconsideration_without_the_escalation_in_progress_is_rejected() {
    complaint(responded())
        .when(reconsider(RECOMMENDATION, london(2025, 12, 1, 10, 0)))
        .then_rejects(Rejection::EscalationNotInProgress {
            escalation_id: ESCALATION,
        });
}

#[test]
fn reconsidering_a_complaint_not_yet_answered_is_rejected() {
    complaint(investigating())
        .when(reconsider(RECOMMENDATION, london(2025, 12, 1, 10, 0)))
        .then_rejects(Rejection::ResponseNotIssued);
}

#[test]
fn reconsidering_a_closed_complaint_is_rejected() {
    complaint(closed())
        .when(reconsider(RECOMMENDATION, london(2025, 12, 1, 10, 0)))
        .then_rejects(Rejection::AlreadyClosed);
}

#[test]
fn reconsidering_a_withdrawn_complaint_is_rejected() {
    complaint(withdrawn())
        .when(reconsider(RECOMMENDATION, london(2025, 12, 1, 10, 0)))
        .then_rejects(Rejection::AlreadyWithdrawn);
}

#[test]
fn reconsidering_a_complaint_never_submitted_is_rejected() {
    complaint(vec![])
        .when(reconsider(RECOMMENDATION, london(2025, 12, 1, 10, 0)))
        .then_rejects(Rejection::NotSubmitted);
}

#[test]
fn reconsidering_under_another_policy_is_rejected() {
    complaint(escalated())
        .when(Command::ReopenForReconsideration {
            escalation_id: ESCALATION,
            recommendation_id: RECOMMENDATION.into(),
            reopened_at: london(2025, 12, 1, 10, 0),
            policy: era_b(),
            calendar: cal(),
        })
        .then_rejects(Rejection::PolicyVersionMismatch {
            recorded: ERA_C.into(),
            supplied: ERA_B.into(),
        });
}

#[test]
fn a_reconsideration_whose_deadline_falls_beyond_the_calendar_is_rejected() {
    let rejection = FormalComplaint::replay(&escalated())
        .decide(reconsider(RECOMMENDATION, london(2030, 12, 1, 10, 0)))
        .expect_err("the calendar ends before the deadline");
    assert!(matches!(rejection, Rejection::CalendarOutOfRange { .. }));
}

#[test]
fn a_reconsidered_complaint_is_answered_again_with_new_escalation_rights() {
    let state = complaint(reopened())
        .when(respond_with(
            ComplaintOutcome::PartiallyUpheld,
            BTreeSet::from([Remedy::Apology]),
            london(2026, 1, 12, 10, 0),
        ))
        .then([
            Event::ComplaintResponseIssued(v1::ComplaintResponseIssued {
                complaint_id: cid(),
                outcome: v1::ComplaintOutcome::PartiallyUpheld as i32,
                remedies: vec![v1::Remedy::Apology as i32],
                response_doc_ref: "doc:response-1".into(),
                decided_by_ref: DECISION_MAKER.into(),
                responded_at: ts(london(2026, 1, 12, 10, 0)),
                late: false,
            }),
            Event::EscalationRightsNotified(v1::EscalationRightsNotified {
                complaint_id: cid(),
                route: v1::EscalationRoute::IndependentBody as i32,
                notified_at: ts(london(2026, 1, 12, 10, 0)),
                window_closes_at: ts(end_of(2026, 4, 12)),
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
                outcome: v1::ComplaintOutcome::PartiallyUpheld as i32,
                response_doc_ref: "doc:response-1".into(),
            }),
        ]);
    assert!(matches!(
        state,
        FormalComplaint::ResponseIssued { escalation_window_closes_at, .. }
            if escalation_window_closes_at == end_of(2026, 4, 12)
    ));
}

#[test]
fn a_reconsidered_response_after_its_new_deadline_is_late() {
    let events = FormalComplaint::replay(&reopened())
        .decide(respond(london(2026, 1, 16, 10, 0)))
        .expect("answered");
    assert!(matches!(
        &events[0],
        Event::ComplaintResponseIssued(e) if e.late
    ));
}

#[test]
fn a_reconsidered_complaint_can_pass_to_another_investigator() {
    let other = Actor::new("staff:CI-7", Role::ComplaintsInvestigator);
    let state = complaint(reopened())
        .when(assign_investigator(other, london(2025, 12, 2, 9, 0)))
        .then([Event::InvestigatorAssigned(v1::InvestigatorAssigned {
            complaint_id: cid(),
            investigator_ref: "staff:CI-7".into(),
            assigned_at: ts(london(2025, 12, 2, 9, 0)),
        })]);
    assert!(matches!(
        state,
        FormalComplaint::UnderReconsideration { ref investigator_ref, .. }
            if investigator_ref == "staff:CI-7"
    ));
}

#[test]
fn a_reconsidered_complaint_keeps_the_rule_that_its_investigator_is_unconnected() {
    complaint(reopened())
        .when(assign_investigator(
            Actor::new(TEAM, Role::ComplaintsInvestigator),
            london(2025, 12, 2, 9, 0),
        ))
        .then_rejects(Rejection::InvestigatorOnInspectionTeam);
}

#[test]
fn a_reconsidered_complaint_takes_information_and_calls() {
    complaint(reopened())
        .when(add_information(london(2025, 12, 3, 9, 0)))
        .then([information_added(london(2025, 12, 3, 9, 0))]);
    complaint(reopened())
        .when(call(london(2025, 12, 4, 9, 0)))
        .then([Event::InvestigationCallHeld(v1::InvestigationCallHeld {
            complaint_id: cid(),
            notes_ref: "doc:call-1".into(),
            accompanied: true,
            held_at: ts(london(2025, 12, 4, 9, 0)),
        })]);
}

#[test]
fn a_reconsidered_complaint_cannot_be_withdrawn() {
    complaint(reopened())
        .when(withdraw(london(2025, 12, 3, 9, 0)))
        .then_rejects(Rejection::ResponseAlreadyIssued);
}

#[test]
fn a_reconsidered_complaint_s_deadline_is_extended_and_marked_overdue_once_passed() {
    let state = FormalComplaint::replay(&reopened());
    let extended =
        and::<FormalComplaint>(reopened(), [extend(5, decision_maker(), "doc:extension-1")]);
    let new_due = match FormalComplaint::replay(&extended) {
        FormalComplaint::UnderReconsideration { response, .. } => response.due_at,
        other => panic!("still reconsidered: {other:?}"),
    };
    assert!(matches!(
        state,
        FormalComplaint::UnderReconsideration { .. }
    ));
    assert_eq!(new_due, end_of(2026, 1, 22));
    complaint(extended.clone())
        .when(overdue(end_of(2026, 1, 22)))
        .then_rejects(Rejection::ResponseNotYetDue {
            due_at: end_of(2026, 1, 22),
        });
    let marked = FormalComplaint::replay(&extended)
        .decide(overdue(london(2026, 1, 23, 0, 1)))
        .expect("overdue");
    assert!(matches!(&marked[..], [Event::ComplaintResponseOverdue(_)]));
}

#[test]
fn a_lapsed_window_does_not_close_a_reconsidered_complaint() {
    complaint(reopened())
        .when(close_lapsed(london(2025, 12, 2, 9, 0)))
        .then_rejects(Rejection::ResponseNotIssued);
}

#[test]
fn the_escalation_that_reopened_the_complaint_concluding_records_nothing() {
    complaint(reopened())
        .when(concluded(ESCALATION, london(2025, 12, 10, 9, 0)))
        .then_nothing();
    let answered = and::<FormalComplaint>(reopened(), [respond(london(2026, 1, 12, 10, 0))]);
    complaint(answered)
        .when(concluded(ESCALATION, london(2026, 1, 20, 9, 0)))
        .then_nothing();
}

#[test]
fn a_reconsidered_and_answered_complaint_closes_when_its_new_window_lapses() {
    let answered = and::<FormalComplaint>(reopened(), [respond(london(2026, 1, 12, 10, 0))]);
    complaint(answered.clone())
        .when(close_lapsed(london(2026, 2, 1, 9, 0)))
        .then_rejects(Rejection::EscalationWindowOpen {
            closes_at: end_of(2026, 4, 12),
        });
    complaint(answered)
        .when(close_lapsed(london(2026, 4, 13, 0, 0)))
        .then([closed_event(
            v1::ClosureReason::EscalationWindowLapsed,
            london(2026, 4, 13, 0, 0),
            "",
        )]);
}

// ---- periodic review ----

#[test]
fn a_closed_complaint_is_sampled_for_the_panel_s_periodic_review() {
    complaint(closed())
        .when(sample(PANEL))
        .then([Event::ClosedComplaintSampledForReview(
            v1::ClosedComplaintSampledForReview {
                complaint_id: cid(),
                panel_id: PANEL.to_string(),
                sampled_at: ts(london(2026, 1, 12, 10, 0)),
            },
        )]);
}

#[test]
fn sampling_for_the_same_panel_again_records_nothing() {
    let history = and::<FormalComplaint>(closed(), [sample(PANEL)]);
    complaint(history).when(sample(PANEL)).then_nothing();
}

#[test]
fn another_panel_may_sample_the_same_complaint() {
    let history = and::<FormalComplaint>(closed(), [sample(PANEL)]);
    let other = Uuid::from_u128(0x4000_0002);
    complaint(history)
        .when(sample(other))
        .then([Event::ClosedComplaintSampledForReview(
            v1::ClosedComplaintSampledForReview {
                complaint_id: cid(),
                panel_id: other.to_string(),
                sampled_at: ts(london(2026, 1, 12, 10, 0)),
            },
        )]);
}

#[test]
fn an_answered_complaint_not_yet_closed_is_not_sampled() {
    complaint(responded())
        .when(sample(PANEL))
        .then_rejects(Rejection::NotClosed);
}

#[test]
fn a_withdrawn_complaint_is_not_sampled() {
    complaint(withdrawn())
        .when(sample(PANEL))
        .then_rejects(Rejection::NotClosed);
}

#[test]
fn sampling_a_complaint_never_submitted_is_rejected() {
    complaint(vec![])
        .when(sample(PANEL))
        .then_rejects(Rejection::NotSubmitted);
}

// ---- sensitive case ----

#[test]
fn a_sensitive_case_flag_changes_no_state_outcome_or_deadline() {
    let before = FormalComplaint::replay(&investigating());
    let after = complaint(investigating())
        .when(flag(INCIDENT, london(2025, 7, 21, 9, 0)))
        .then([Event::SensitiveCaseFlagged(v1::SensitiveCaseFlagged {
            complaint_id: cid(),
            incident_id: INCIDENT.to_string(),
            flagged_at: ts(london(2025, 7, 21, 9, 0)),
        })]);
    let (
        FormalComplaint::UnderInvestigation {
            complaint: was,
            response: due_before,
            investigator_ref: by_before,
        },
        FormalComplaint::UnderInvestigation {
            complaint: is,
            response: due_after,
            investigator_ref: by_after,
        },
    ) = (&before, &after)
    else {
        panic!("still under investigation: {after:?}");
    };
    assert_eq!(due_before, due_after);
    assert_eq!(by_before, by_after);
    assert_eq!(was.clock_starts_at, is.clock_starts_at);
    assert_eq!(is.sensitive, BTreeSet::from([INCIDENT]));
    // Every later decision is the one it would have been.
    let flagged =
        and::<FormalComplaint>(investigating(), [flag(INCIDENT, london(2025, 7, 21, 9, 0))]);
    assert_eq!(
        FormalComplaint::replay(&flagged).decide(respond(london(2025, 8, 14, 10, 0))),
        before.decide(respond(london(2025, 8, 14, 10, 0)))
    );
}

#[test]
fn the_same_incident_flagged_again_records_nothing() {
    let history = and::<FormalComplaint>(submitted(), [flag(INCIDENT, london(2025, 7, 4, 9, 0))]);
    complaint(history)
        .when(flag(INCIDENT, london(2025, 7, 5, 9, 0)))
        .then_nothing();
}

/// `state` without its sensitive-case flags: what the flag must leave exactly as it was.
fn unflagged(mut state: FormalComplaint) -> FormalComplaint {
    use FormalComplaint as S;
    match &mut state {
        S::NotSubmitted => {}
        S::Submitted { complaint }
        | S::Acknowledged { complaint, .. }
        | S::UnderInvestigation { complaint, .. }
        | S::ResponseIssued { complaint, .. }
        | S::UnderReconsideration { complaint, .. }
        | S::Withdrawn { complaint, .. }
        | S::Closed { complaint, .. } => complaint.sensitive.clear(),
    }
    state
}

#[test]
fn every_open_complaint_is_flagged_and_nothing_but_the_flag_changes() {
    let open = [
        ("submitted", submitted()),
        ("acknowledged", acknowledged()),
        ("under investigation", investigating()),
        ("response issued", responded()),
        ("escalated", escalated()),
        ("under reconsideration", reopened()),
    ];
    for (name, history) in open {
        let before = FormalComplaint::replay(&history);
        let after = complaint(history)
            .when(flag(INCIDENT, london(2025, 12, 2, 9, 0)))
            .then([Event::SensitiveCaseFlagged(v1::SensitiveCaseFlagged {
                complaint_id: cid(),
                incident_id: INCIDENT.to_string(),
                flagged_at: ts(london(2025, 12, 2, 9, 0)),
            })]);
        assert_eq!(
            after.complaint().map(|c| c.sensitive.clone()),
            Some(BTreeSet::from([INCIDENT])),
            "{name}"
        );
        assert_eq!(
            unflagged(after),
            before,
            "{name}: state and deadlines as they were"
        );
    }
}

#[test]
fn a_second_incident_flags_the_complaint_again() {
    let second = Uuid::from_u128(0x5000_0002);
    let history = and::<FormalComplaint>(submitted(), [flag(INCIDENT, london(2025, 7, 4, 9, 0))]);
    let after = complaint(history)
        .when(flag(second, london(2025, 7, 5, 9, 0)))
        .then([Event::SensitiveCaseFlagged(v1::SensitiveCaseFlagged {
            complaint_id: cid(),
            incident_id: second.to_string(),
            flagged_at: ts(london(2025, 7, 5, 9, 0)),
        })]);
    assert_eq!(
        after.complaint().map(|c| c.sensitive.clone()),
        Some(BTreeSet::from([INCIDENT, second]))
    );
}

#[test]
fn flagging_a_closed_complaint_is_rejected() {
    complaint(closed())
        .when(flag(INCIDENT, london(2025, 12, 1, 9, 0)))
        .then_rejects(Rejection::AlreadyClosed);
}

#[test]
fn flagging_a_withdrawn_complaint_is_rejected() {
    complaint(withdrawn())
        .when(flag(INCIDENT, london(2025, 12, 1, 9, 0)))
        .then_rejects(Rejection::AlreadyWithdrawn);
}

#[test]
fn a_flagged_complaint_closes_as_any_other() {
    let flagged = and::<FormalComplaint>(responded(), [flag(INCIDENT, london(2025, 9, 1, 9, 0))]);
    let lapsed = close_lapsed(london(2025, 11, 15, 9, 0));
    assert_eq!(
        FormalComplaint::replay(&flagged).decide(lapsed.clone()),
        FormalComplaint::replay(&responded()).decide(lapsed)
    );
}

#[test]
fn flagging_a_complaint_never_submitted_is_rejected() {
    complaint(vec![])
        .when(flag(INCIDENT, london(2025, 12, 1, 9, 0)))
        .then_rejects(Rejection::NotSubmitted);
}

// ---- the intake record ----

fn intake_record(command: &Command) -> v1::ComplaintSubmissionRejected {
    let rejection = FormalComplaint::default()
        .decide(command.clone())
        .expect_err("the submission is refused");
    match rejected_submission(command, &rejection) {
        Some(intake::Command::RecordComplaintSubmissionRejected(record)) => record,
        other => panic!("expected a submission record, got {other:?}"),
    }
}

#[test]
fn an_out_of_time_submission_is_recorded_with_the_window_it_missed_and_the_discretionary_route() {
    let record = intake_record(&submit(london(2025, 7, 8, 0, 5), &ins1_drafted()));
    assert_eq!(
        record,
        v1::ComplaintSubmissionRejected {
            complaint_id: cid(),
            inspection_id: INS.to_string(),
            complainant_ref: HEAD.into(),
            reason: v1::RejectionReason::OutOfTime as i32,
            redirect: v1::Redirect::OutOfTimeDiscretion as i32,
            submitted_at: ts(london(2025, 7, 8, 0, 5)),
            window_opens_at: None,
            window_closed_at: ts(at("2025-07-07T23:59:59.999999999+01:00")),
            existing_complaint_id: String::new(),
            policy_version: ERA_C.into(),
            calendar_version: CALENDAR_VERSION.into(),
        }
    );
}

#[test]
fn a_duplicate_submission_is_recorded_pointing_to_the_open_complaint() {
    let record = intake_record(&submit_with(
        submission(london(2025, 7, 4, 10, 0)),
        SubmissionFacts {
            open_complaint: Some(OTHER_COMPLAINT),
            ..facts_of(&ins1_drafted())
        },
    ));
    assert_eq!(record.reason(), v1::RejectionReason::DuplicateOpen);
    assert_eq!(record.redirect(), v1::Redirect::AddComplaintInformation);
    assert_eq!(record.existing_complaint_id, OTHER_COMPLAINT.to_string());
}

#[test]
fn a_submission_without_a_draft_is_recorded_without_a_window() {
    let record = intake_record(&submit(london(2025, 6, 11, 16, 0), &ins1_on_site()));
    assert_eq!(record.reason(), v1::RejectionReason::NoDraftReport);
    assert_eq!(record.calendar_version, "");
    assert_eq!(record.policy_version, ERA_C);
}

#[test]
fn a_too_early_submission_is_recorded_with_when_the_window_opens() {
    let record = intake_record(&submit(london(2025, 6, 30, 9, 0), &ins1_drafted()));
    assert_eq!(record.reason(), v1::RejectionReason::TooEarly);
    assert_eq!(record.window_opens_at, ts(london(2025, 6, 30, 10, 0)));
}

#[test]
fn route_and_tribunal_refusals_are_recorded() {
    let route = intake_record(&submit(london(2025, 7, 4, 10, 0), &ins1_fast_tracked()));
    assert_eq!(route.reason(), v1::RejectionReason::RouteAlreadyChosen);
    let tribunal = intake_record(&submit(london(2025, 7, 4, 10, 0), &ins1_appealed()));
    assert_eq!(
        tribunal.reason(),
        v1::RejectionReason::TribunalAppealPending
    );
}

#[test]
fn refusals_that_are_not_about_the_submission_leave_no_intake_record() {
    let command = submit(london(2025, 7, 3, 10, 0), &ins1_drafted());
    assert_eq!(
        rejected_submission(&command, &Rejection::AlreadySubmitted),
        None
    );
    let discretion = accept_out_of_time(
        london(2025, 7, 3, 10, 0),
        decision_maker(),
        "doc:justification-1",
        london(2025, 7, 3, 15, 0),
    );
    assert_eq!(
        rejected_submission(&discretion, &Rejection::NoDraftReport),
        None
    );
}

#[test]
fn every_complaint_rejection_has_a_stable_reason_code() {
    let codes = [
        Rejection::OutOfTime {
            window_closed_at: Timestamp::UNIX_EPOCH,
        }
        .reason(),
        Rejection::RouteAlreadyChosen.reason(),
        Rejection::DuplicateOpen {
            existing: COMPLAINT,
        }
        .reason(),
        Rejection::NoDraftReport.reason(),
        Rejection::TooEarly { opens_at: None }.reason(),
        Rejection::AlreadyClosed.reason(),
        Rejection::EscalationInProgress.reason(),
        Rejection::EscalationNotInProgress {
            escalation_id: ESCALATION,
        }
        .reason(),
    ];
    assert_eq!(
        codes,
        [
            "OUT_OF_TIME",
            "ROUTE_ALREADY_CHOSEN",
            "DUPLICATE_OPEN",
            "NO_DRAFT_REPORT",
            "TOO_EARLY",
            "ALREADY_CLOSED",
            "ESCALATION_IN_PROGRESS",
            "ESCALATION_NOT_IN_PROGRESS",
        ]
    );
}
