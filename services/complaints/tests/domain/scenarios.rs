//! The acceptance scenarios of domain research §6 (complaints side: S1–S9, S12–S14), with their
//! real dates, across the aggregates the way the application and the process manager drive them.

use std::sync::Arc;

use complaints::domain::complaint::{
    self, FormalComplaint, RouteOverride, Submission, SubmissionFacts, rejected_submission,
};
use complaints::domain::concern::{self, Concern, rejected_concern};
use complaints::domain::inspection::{self, InspectionCase, InspectionStage};
use complaints::domain::policy::Policy;
use complaints::domain::{ConcernChannel, HoldReleaseReason, Redirect, Remit, intake, v1};
use platform::aggregate::Aggregate;

use crate::helpers::*;

fn concern_rejection(command: &concern::Command) -> v1::ConcernRejected {
    let rejection = Concern::default()
        .decide(command.clone())
        .expect_err("the concern is refused");
    match rejected_concern(command, &rejection) {
        Some(intake::Command::RecordConcernRejected(record)) => record,
        other => panic!("expected an intake record, got {other:?}"),
    }
}

fn submission_rejection(command: &complaint::Command) -> v1::ComplaintSubmissionRejected {
    let rejection = FormalComplaint::default()
        .decide(command.clone())
        .expect_err("the submission is refused");
    match rejected_submission(command, &rejection) {
        Some(intake::Command::RecordComplaintSubmissionRejected(record)) => record,
        other => panic!("expected an intake record, got {other:?}"),
    }
}

fn hold_placed(at: jiff::Timestamp) -> inspection::Event {
    inspection::Event::PublicationHoldPlaced(v1::PublicationHoldPlaced {
        inspection_id: INS.to_string(),
        complaint_id: COMPLAINT.to_string(),
        placed_at: ts(at),
    })
}

// ---- S1 ----

#[test]
fn s1_a_day_after_contact_is_taken_by_a_senior_inspector_not_on_the_team_and_holds_nothing() {
    // INS-1 was on site Tue 10 and Wed 11 June 2025.
    let inspection = ins1_ended();
    concern(vec![])
        .when(raise(
            ConcernChannel::DayAfterContact,
            london(2025, 6, 12, 9, 30),
            &inspection,
        ))
        .then([concern::Event::ConcernRaised(v1::ConcernRaised {
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
    let raised = run::<Concern>([raise(
        ConcernChannel::DayAfterContact,
        london(2025, 6, 12, 9, 30),
        &inspection,
    )]);
    concern(raised)
        .when(assign(senior_inspector(), london(2025, 6, 12, 9, 35)))
        .then([concern::Event::ConcernAssigned(v1::ConcernAssigned {
            concern_id: CONCERN.to_string(),
            handler_ref: SENIOR.into(),
            assigned_at: ts(london(2025, 6, 12, 9, 35)),
        })]);
    assert!(InspectionCase::replay(&inspection).holds().is_empty());
}

// ---- S2 ----

#[test]
fn s2_on_the_last_on_site_day_the_day_after_route_is_too_early_and_the_helpline_is_open() {
    // INS-1 is on site on Wed 11 June 2025, its last on-site day.
    let inspection = ins1_on_site();
    let day_after = raise(
        ConcernChannel::DayAfterContact,
        london(2025, 6, 11, 16, 0),
        &inspection,
    );
    concern(vec![])
        .when(day_after.clone())
        .then_rejects(concern::Rejection::TooEarly {
            redirect: Some(Redirect::DuringInspectionHelpline),
            opens_at: None,
        });
    let record = concern_rejection(&day_after);
    assert_eq!(record.reason(), v1::RejectionReason::TooEarly);
    assert_eq!(record.redirect(), v1::Redirect::DuringInspectionHelpline);

    let formal = submit(london(2025, 6, 11, 16, 0), &inspection);
    complaint(vec![])
        .when(formal.clone())
        .then_rejects(complaint::Rejection::NoDraftReport);
    assert_eq!(
        submission_rejection(&formal).reason(),
        v1::RejectionReason::NoDraftReport
    );

    concern(vec![])
        .when(raise(
            ConcernChannel::DuringInspectionHelpline,
            london(2025, 6, 11, 16, 0),
            &inspection,
        ))
        .then([concern::Event::ConcernRaised(v1::ConcernRaised {
            concern_id: CONCERN.to_string(),
            inspection_id: INS.to_string(),
            channel: v1::ConcernChannel::DuringInspectionHelpline as i32,
            topic: v1::ConcernTopic::InspectorConduct as i32,
            raised_by_ref: HEAD.into(),
            detail_ref: "doc:concern-1".into(),
            accompanied: false,
            raised_at: ts(london(2025, 6, 11, 16, 0)),
            day_after_window_closes_at: None,
            policy_version: String::new(),
            calendar_version: String::new(),
        })]);
}

// ---- S3 ----

#[test]
fn s3_after_a_friday_inspection_the_bank_holiday_monday_is_too_early_and_tuesday_is_open() {
    // INS-2: last on-site day Fri 2 May 2025; Mon 5 May 2025 is a bank holiday.
    let inspection = run::<InspectionCase>([
        notify(day(2025, 5, 1)),
        start(london(2025, 5, 1, 8, 0)),
        end(day(2025, 5, 2), london(2025, 5, 2, 17, 0)),
    ]);
    let monday = raise(
        ConcernChannel::DayAfterContact,
        london(2025, 5, 5, 10, 0),
        &inspection,
    );
    concern(vec![])
        .when(monday.clone())
        .then_rejects(concern::Rejection::TooEarly {
            redirect: None,
            opens_at: Some(at("2025-05-06T00:00:00+01:00")),
        });
    let record = concern_rejection(&monday);
    assert_eq!(record.calendar_version, CALENDAR_VERSION);
    assert_eq!(record.window_opens_at, ts(at("2025-05-06T00:00:00+01:00")));

    concern(vec![])
        .when(raise(
            ConcernChannel::DayAfterContact,
            london(2025, 5, 6, 9, 0),
            &inspection,
        ))
        .then([concern::Event::ConcernRaised(v1::ConcernRaised {
            concern_id: CONCERN.to_string(),
            inspection_id: INS.to_string(),
            channel: v1::ConcernChannel::DayAfterContact as i32,
            topic: v1::ConcernTopic::InspectorConduct as i32,
            raised_by_ref: HEAD.into(),
            detail_ref: "doc:concern-1".into(),
            accompanied: false,
            raised_at: ts(london(2025, 5, 6, 9, 0)),
            day_after_window_closes_at: ts(end_of(2025, 5, 6)),
            policy_version: ERA_C.into(),
            calendar_version: CALENDAR_VERSION.into(),
        })]);
}

// ---- S4 ----

#[test]
fn s4_a_complaint_inside_the_window_holds_publication_until_answered() {
    // Draft issued Mon 30 June 2025: the window closes Mon 7 July 2025 23:59:59.999999999 BST.
    let inspection = ins1_drafted();
    let window = intake_of(&inspection).draft.unwrap().window.unwrap();
    assert_eq!(window.closes_at, at("2025-07-07T23:59:59.999999999+01:00"));

    complaint(vec![])
        .when(submit(london(2025, 7, 3, 10, 0), &inspection))
        .then([complaint::Event::ComplaintSubmitted(
            v1::ComplaintSubmitted {
                complaint_id: COMPLAINT.to_string(),
                inspection_id: INS.to_string(),
                remit: v1::Remit::Schools as i32,
                complainant_ref: HEAD.into(),
                grounds: vec![
                    v1::ComplaintGround::Judgements as i32,
                    v1::ComplaintGround::InspectorConduct as i32,
                ],
                doc_refs: vec!["doc:complaint-1".into()],
                submitted_at: ts(london(2025, 7, 3, 10, 0)),
                route: v1::ComplaintRoute::DraftStage as i32,
                draft_issued_at: ts(london(2025, 6, 30, 10, 0)),
                window_closes_at: ts(at("2025-07-07T23:59:59.999999999+01:00")),
                acknowledgement_due_at: ts(end_of(2025, 7, 7)),
                route_override_reason_ref: String::new(),
                route_override_by_ref: String::new(),
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
                provider_id: PROVIDER.into(),
                last_onsite_date: "2025-06-11".into(),
            },
        )]);

    // The process manager places the hold on ComplaintSubmitted.
    case(inspection.clone())
        .when(hold(COMPLAINT, london(2025, 7, 3, 10, 0)))
        .then([hold_placed(london(2025, 7, 3, 10, 0))]);

    complaint(submitted())
        .when(acknowledge(london(2025, 7, 4, 9, 0)))
        .then([complaint::Event::ComplaintAcknowledged(
            v1::ComplaintAcknowledged {
                complaint_id: COMPLAINT.to_string(),
                acknowledged_at: ts(london(2025, 7, 4, 9, 0)),
                response_due_at: ts(at("2025-08-14T23:59:59.999999999+01:00")),
                response_target_working_days: 30,
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
            },
        )]);

    let held = and::<InspectionCase>(
        inspection,
        [
            hold(COMPLAINT, london(2025, 7, 3, 10, 0)),
            final_report(london(2025, 7, 14, 10, 0)),
        ],
    );
    case(held)
        .when(publish(london(2025, 7, 16, 10, 0)))
        .then_rejects(inspection::Rejection::PublicationHeld {
            complaint_ids: vec![COMPLAINT],
        });
}

// ---- S5 ----

#[test]
fn s5_a_complaint_after_the_window_is_logged_out_of_time_and_publication_proceeds() {
    let inspection = ins1_drafted();
    let late = submit(london(2025, 7, 8, 0, 5), &inspection);
    complaint(vec![])
        .when(late.clone())
        .then_rejects(complaint::Rejection::OutOfTime {
            window_closed_at: at("2025-07-07T23:59:59.999999999+01:00"),
        });
    let record = submission_rejection(&late);
    assert_eq!(record.reason(), v1::RejectionReason::OutOfTime);
    assert_eq!(
        record.window_closed_at,
        ts(at("2025-07-07T23:59:59.999999999+01:00"))
    );

    // No hold was placed, so the report can be published.
    let finalised = and::<InspectionCase>(
        inspection.clone(),
        [final_report(london(2025, 7, 14, 10, 0))],
    );
    case(finalised)
        .when(publish(london(2025, 7, 16, 10, 0)))
        .then([inspection::Event::ReportPublished(v1::ReportPublished {
            inspection_id: INS.to_string(),
            published_at: ts(london(2025, 7, 16, 10, 0)),
        })]);

    // Only a decision maker's discretion, with a justification, opens it.
    let accept = |justification: &str| complaint::Command::AcceptOutOfTime {
        complaint_id: COMPLAINT,
        submission: submission(london(2025, 7, 8, 0, 5)),
        facts: facts_of(&inspection),
        decided_by: decision_maker(),
        justification_ref: justification.into(),
        accepted_at: london(2025, 7, 9, 11, 0),
        policy: era_c(),
        calendar: cal(),
    };
    complaint(vec![])
        .when(accept(""))
        .then_rejects(complaint::Rejection::JustificationRequired);
    let state = FormalComplaint::replay(&run::<FormalComplaint>([accept("doc:justification-1")]));
    assert!(state.is_open());
}

// ---- S6 ----

#[test]
fn s6_a_second_submission_while_one_is_open_is_a_duplicate_pointing_to_add_information() {
    let inspection = ins1_drafted();
    // A retry with key K1 never reaches `decide` (the event store answers with the recorded
    // result); were it to, the complaint refuses to be submitted twice.
    complaint(submitted())
        .when(submit(london(2025, 7, 3, 10, 0), &inspection))
        .then_rejects(complaint::Rejection::AlreadySubmitted);

    // Key K2: a new complaint id; the read model reports the open S4 complaint.
    let second = complaint::Command::SubmitFormalComplaint {
        complaint_id: OTHER_COMPLAINT,
        submission: submission(london(2025, 7, 4, 11, 0)),
        facts: SubmissionFacts {
            open_complaint: Some(COMPLAINT),
            ..facts_of(&inspection)
        },
        policy: era_c(),
        calendar: cal(),
    };
    complaint(vec![])
        .when(second.clone())
        .then_rejects(complaint::Rejection::DuplicateOpen {
            existing: COMPLAINT,
        });
    let record = submission_rejection(&second);
    assert_eq!(record.reason(), v1::RejectionReason::DuplicateOpen);
    assert_eq!(record.existing_complaint_id, COMPLAINT.to_string());
    assert_eq!(record.redirect(), v1::Redirect::AddComplaintInformation);

    complaint(submitted())
        .when(complaint::Command::AddComplaintInformation {
            doc_ref: "doc:more-1".into(),
            added_by_ref: HEAD.into(),
            added_at: london(2025, 7, 4, 11, 5),
        })
        .then([complaint::Event::ComplaintInformationAdded(
            v1::ComplaintInformationAdded {
                complaint_id: COMPLAINT.to_string(),
                doc_ref: "doc:more-1".into(),
                added_by_ref: HEAD.into(),
                added_at: ts(london(2025, 7, 4, 11, 5)),
            },
        )]);
}

// ---- S7 ----

#[test]
fn s7_after_fast_track_points_the_formal_route_needs_a_decision_maker_s_override() {
    // Draft Mon 30 June 2025; points on day 2 (Wed 2 July); a formal complaint on day 4 (Fri 4 July).
    let inspection = and::<InspectionCase>(ins1_drafted(), [fast_track(london(2025, 7, 2, 10, 0))]);
    complaint(vec![])
        .when(submit(london(2025, 7, 4, 10, 0), &inspection))
        .then_rejects(complaint::Rejection::RouteAlreadyChosen);

    let overridden = complaint::Command::SubmitFormalComplaint {
        complaint_id: COMPLAINT,
        submission: Submission {
            route_override: Some(RouteOverride {
                decided_by: decision_maker(),
                reason_ref: "doc:override-1".into(),
            }),
            ..submission(london(2025, 7, 4, 10, 0))
        },
        facts: facts_of(&inspection),
        policy: era_c(),
        calendar: cal(),
    };
    let events = run::<FormalComplaint>([overridden]);
    let [complaint::Event::ComplaintSubmitted(submitted)] = events.as_slice() else {
        panic!("one ComplaintSubmitted: {events:?}");
    };
    assert_eq!(submitted.route_override_reason_ref, "doc:override-1");
    assert_eq!(submitted.route_override_by_ref, DECISION_MAKER);
    case(inspection)
        .when(hold(COMPLAINT, london(2025, 7, 4, 10, 0)))
        .then([hold_placed(london(2025, 7, 4, 10, 0))]);
}

// ---- S8 ----

#[test]
fn s8_withdrawal_releases_the_hold_and_leaves_no_escalation_rights() {
    let held = and::<InspectionCase>(ins1_drafted(), [hold(COMPLAINT, london(2025, 7, 3, 10, 0))]);
    let state = complaint(investigating())
        .when(complaint::Command::WithdrawComplaint {
            reason: complaints::domain::WithdrawalReason::ConcernsResolved,
            withdrawn_by_ref: HEAD.into(),
            withdrawn_at: london(2025, 7, 20, 12, 0),
        })
        .then([complaint::Event::ComplaintWithdrawn(
            v1::ComplaintWithdrawn {
                complaint_id: COMPLAINT.to_string(),
                reason: v1::WithdrawalReason::ConcernsResolved as i32,
                withdrawn_by_ref: HEAD.into(),
                withdrawn_at: ts(london(2025, 7, 20, 12, 0)),
            },
        )]);
    assert!(!state.is_open());

    // The process manager releases the hold on ComplaintWithdrawn.
    case(held.clone())
        .when(release(
            COMPLAINT,
            HoldReleaseReason::Withdrawn,
            london(2025, 7, 20, 12, 0),
        ))
        .then([inspection::Event::PublicationHoldReleased(
            v1::PublicationHoldReleased {
                inspection_id: INS.to_string(),
                complaint_id: COMPLAINT.to_string(),
                reason: v1::HoldReleaseReason::Withdrawn as i32,
                released_at: ts(london(2025, 7, 20, 12, 0)),
            },
        )]);
    let released = and::<InspectionCase>(
        held,
        [
            release(
                COMPLAINT,
                HoldReleaseReason::Withdrawn,
                london(2025, 7, 20, 12, 0),
            ),
            final_report(london(2025, 7, 21, 10, 0)),
        ],
    );
    case(released)
        .when(publish(london(2025, 7, 22, 10, 0)))
        .then([inspection::Event::ReportPublished(v1::ReportPublished {
            inspection_id: INS.to_string(),
            published_at: ts(london(2025, 7, 22, 10, 0)),
        })]);

    // The escalation context refuses a request for a withdrawn complaint; here, no rights were
    // ever notified and none can be.
    assert!(
        !withdrawn()
            .iter()
            .any(|e| matches!(e, complaint::Event::EscalationRightsNotified(_)))
    );
    complaint(withdrawn())
        .when(respond(london(2025, 8, 14, 10, 0)))
        .then_rejects(complaint::Rejection::AlreadyWithdrawn);
}

// ---- S9 ----

/// INS-1 up to its draft under `policy`, and the S4 complaint under investigation.
fn s4_under(policy: Arc<Policy>) -> Vec<complaint::Event> {
    let inspection = run::<InspectionCase>([
        notify_with(Remit::Schools, day(2025, 6, 10), policy.clone()),
        start_with(london(2025, 6, 10, 8, 0), policy.clone()),
        end_with(day(2025, 6, 11), london(2025, 6, 11, 17, 0), policy.clone()),
        draft_with(london(2025, 6, 30, 10, 0), policy.clone()),
    ]);
    run::<FormalComplaint>([
        complaint::Command::SubmitFormalComplaint {
            complaint_id: COMPLAINT,
            submission: submission(london(2025, 7, 3, 10, 0)),
            facts: facts_of(&inspection),
            policy: policy.clone(),
            calendar: cal(),
        },
        complaint::Command::AcknowledgeComplaint {
            acknowledged_at: london(2025, 7, 4, 9, 0),
            policy,
            calendar: cal(),
        },
        assign_investigator(investigator(), london(2025, 7, 7, 9, 0)),
    ])
}

#[test]
fn s9_before_the_response_no_escalation_is_available() {
    let history = s4_under(era_c());
    complaint(history.clone())
        .when(complaint::Command::MarkResponseOverdue {
            now: london(2025, 8, 1, 10, 0),
            policy: era_c(),
        })
        .then_rejects(complaint::Rejection::ResponseNotYetDue {
            due_at: at("2025-08-14T23:59:59.999999999+01:00"),
        });
    assert!(!history.iter().any(|e| matches!(
        e,
        complaint::Event::EscalationRightsNotified(_)
            | complaint::Event::ComplaintResponseOverdue(_)
    )));
    // Even once overdue, the default policy does not open escalation early.
    complaint(history)
        .when(complaint::Command::MarkResponseOverdue {
            now: london(2025, 8, 15, 0, 1),
            policy: era_c(),
        })
        .then([complaint::Event::ComplaintResponseOverdue(
            v1::ComplaintResponseOverdue {
                complaint_id: COMPLAINT.to_string(),
                response_due_at: ts(end_of(2025, 8, 14)),
                detected_at: ts(london(2025, 8, 15, 0, 1)),
                escalation_allowed: false,
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
            },
        )]);
}

#[test]
fn s9_variant_a_policy_allowing_escalation_when_overdue_says_so_once_the_deadline_passes() {
    let policy = policy_with(
        "era-c-overdue-escalation",
        serde_json::json!({ "allow_escalation_when_response_overdue": true }),
    );
    complaint(s4_under(policy.clone()))
        .when(complaint::Command::MarkResponseOverdue {
            now: london(2025, 8, 15, 0, 1),
            policy,
        })
        .then([complaint::Event::ComplaintResponseOverdue(
            v1::ComplaintResponseOverdue {
                complaint_id: COMPLAINT.to_string(),
                response_due_at: ts(end_of(2025, 8, 14)),
                detected_at: ts(london(2025, 8, 15, 0, 1)),
                escalation_allowed: true,
                policy_version: "era-c-overdue-escalation".into(),
                calendar_version: CALENDAR_VERSION.into(),
            },
        )]);
}

// ---- S12 ----

#[test]
fn s12_a_pause_past_the_school_limit_makes_the_inspection_incomplete_and_opens_no_window() {
    // INS-4, a school inspection, on site from Tue 11 March 2025.
    let on_site =
        run::<InspectionCase>([notify(day(2025, 3, 11)), start(london(2025, 3, 11, 8, 0))]);
    case(on_site.clone())
        .when(pause(london(2025, 3, 11, 11, 0)))
        .then([
            inspection::Event::DutyDeskConsulted(v1::DutyDeskConsulted {
                inspection_id: INS.to_string(),
                duty_desk: v1::DutyDesk::Regional as i32,
                consultation_ref: "dutydesk:C-1".into(),
                consulted_at: ts(london(2025, 3, 11, 11, 0)),
            }),
            // The pause register's record: initiator role, category and consultation; with the
            // deemed-incomplete event below, its duration. No free text anywhere.
            inspection::Event::InspectionPaused(v1::InspectionPaused {
                inspection_id: INS.to_string(),
                initiated_by: v1::PauseInitiator::LeadInspector as i32,
                recorded_by_ref: LEAD.into(),
                reason: v1::PauseReason::LeaderWellbeing as i32,
                consultation_ref: "dutydesk:C-1".into(),
                paused_at: ts(london(2025, 3, 11, 11, 0)),
                planned_resume_on: String::new(),
                pause_limit_working_days: 5,
                resume_deadline: ts(end_of(2025, 3, 18)),
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
            }),
        ]);
    let paused = and::<InspectionCase>(on_site, [pause(london(2025, 3, 11, 11, 0))]);
    case(paused.clone())
        .when(inspection::Command::DeemInspectionIncomplete {
            now: london(2025, 3, 18, 23, 59),
        })
        .then_rejects(inspection::Rejection::PauseLimitNotReached {
            resume_deadline: end_of(2025, 3, 18),
        });
    case(paused.clone())
        .when(inspection::Command::DeemInspectionIncomplete {
            now: start_of(2025, 3, 19),
        })
        .then([inspection::Event::InspectionDeemedIncomplete(
            v1::InspectionDeemedIncomplete {
                inspection_id: INS.to_string(),
                deemed_at: ts(start_of(2025, 3, 19)),
                paused_at: ts(london(2025, 3, 11, 11, 0)),
                resume_deadline: ts(end_of(2025, 3, 18)),
                pause_limit_working_days: 5,
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
            },
        )]);

    let incomplete = and::<InspectionCase>(
        paused,
        [inspection::Command::DeemInspectionIncomplete {
            now: start_of(2025, 3, 19),
        }],
    );
    // Neither window opens: no day-after contact, no draft, no complaint.
    concern(vec![])
        .when(raise(
            ConcernChannel::DayAfterContact,
            london(2025, 3, 19, 9, 0),
            &incomplete,
        ))
        .then_rejects(concern::Rejection::TooEarly {
            redirect: None,
            opens_at: None,
        });
    case(incomplete.clone())
        .when(draft(london(2025, 3, 20, 10, 0)))
        .then_rejects(inspection::Rejection::OnSiteNotEnded);
    complaint(vec![])
        .when(submit(london(2025, 3, 20, 10, 0), &incomplete))
        .then_rejects(complaint::Rejection::NoDraftReport);

    // Inspectors return; when that visit ends, the day-after window opens.
    let returned = and::<InspectionCase>(
        incomplete,
        [
            start(london(2025, 4, 1, 8, 0)),
            end(day(2025, 4, 2), london(2025, 4, 2, 17, 0)),
        ],
    );
    let InspectionStage::Ended(window) = InspectionCase::replay(&returned).stage() else {
        panic!("the return visit ended");
    };
    assert_eq!(
        (window.opens_at, window.closes_at),
        (start_of(2025, 4, 3), end_of(2025, 4, 3))
    );
}

// ---- S13 ----

#[test]
fn s13_an_incident_on_an_inspection_flags_its_open_complaint_and_changes_nothing_else() {
    // INS-5 (here INS) has an open formal complaint under investigation; the complaint's hold
    // tells the case about it.
    let inspection =
        and::<InspectionCase>(ins1_drafted(), [hold(COMPLAINT, london(2025, 7, 3, 10, 5))]);
    let open = investigating();
    let before = FormalComplaint::replay(&open);
    let FormalComplaint::UnderInvestigation { response, .. } = &before else {
        panic!("under investigation: {before:?}");
    };
    let due_at = response.due_at;

    // IncidentReported{related_inspection_ids: [INS-5]}: every complaint the case knows is
    // flagged while open.
    let touched = InspectionCase::replay(&inspection).formal_complaints();
    assert_eq!(touched, [COMPLAINT].into());
    let after = complaint(open)
        .when(complaint::Command::FlagSensitiveCase {
            incident_id: INCIDENT,
            flagged_at: london(2025, 7, 21, 9, 0),
        })
        .then([complaint::Event::SensitiveCaseFlagged(
            v1::SensitiveCaseFlagged {
                complaint_id: COMPLAINT.to_string(),
                incident_id: INCIDENT.to_string(),
                flagged_at: ts(london(2025, 7, 21, 9, 0)),
            },
        )]);

    // The complaint's state and deadlines are unchanged.
    let FormalComplaint::UnderInvestigation {
        response,
        investigator_ref,
        ..
    } = &after
    else {
        panic!("still under investigation: {after:?}");
    };
    assert_eq!(response.due_at, due_at);
    assert_eq!(response.due_at, end_of(2025, 8, 14));
    assert!(!response.overdue);
    assert_eq!(investigator_ref, &investigator().actor_ref);
}

// ---- S14 ----

#[test]
fn s14_the_christmas_window_closes_on_tuesday_30_december() {
    let inspection = run::<InspectionCase>([
        notify(day(2025, 12, 2)),
        start(london(2025, 12, 2, 8, 0)),
        end(day(2025, 12, 3), london(2025, 12, 3, 17, 0)),
        draft(london(2025, 12, 19, 10, 0)),
    ]);
    let window = intake_of(&inspection).draft.unwrap().window.unwrap();
    assert_eq!(window.closes_at, at("2025-12-30T23:59:59.999999999+00:00"));

    let on_the_30th = run::<FormalComplaint>([submit(london(2025, 12, 30, 16, 0), &inspection)]);
    assert!(FormalComplaint::replay(&on_the_30th).is_open());
    let [complaint::Event::ComplaintSubmitted(submitted)] = on_the_30th.as_slice() else {
        panic!("one ComplaintSubmitted: {on_the_30th:?}");
    };
    assert_eq!(
        submitted.window_closes_at,
        ts(at("2025-12-30T23:59:59.999999999+00:00"))
    );

    complaint(vec![])
        .when(submit(london(2025, 12, 31, 9, 0), &inspection))
        .then_rejects(complaint::Rejection::OutOfTime {
            window_closed_at: at("2025-12-30T23:59:59.999999999+00:00"),
        });
}
