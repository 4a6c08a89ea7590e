//! Every rule and rejection of `Escalation`, command by command.

use escalation::domain::escalation::{Command, Decision, Escalation, Event, Rejection, Status};
use escalation::domain::{
    Actor, Ground, OutOfRemitAsk, Reason, RecommendationKind, RefusalReason, Role, v1,
};
use platform::aggregate::given;

use crate::helpers::*;

fn refused(reason: RefusalReason) -> Event {
    Event::Refused(v1::EscalationRefused {
        escalation_id: ESC.to_string(),
        complaint_id: COMPLAINT.to_string(),
        requested_by_ref: HEAD.into(),
        reason: reason.to_proto(),
        refused_at: ts(now()),
        policy_version: POLICY.into(),
    })
}

fn requested_event(grounds: &[Ground]) -> Event {
    Event::Requested(v1::EscalationRequested {
        escalation_id: ESC.to_string(),
        complaint_id: COMPLAINT.to_string(),
        inspection_id: INS.to_string(),
        requested_by_ref: HEAD.into(),
        grounds: grounds.iter().map(|g| g.to_proto()).collect(),
        requested_at: ts(now()),
        response_issued_at: ts(response_issued_at()),
        window_closes_at: ts(window_closes_at()),
        policy_version: POLICY.into(),
        calendar_version: CALENDAR_VERSION.into(),
        case_ref: CASE_REF.into(),
    })
}

// ---- request ----

#[test]
fn a_request_after_the_response_within_the_window_is_recorded() {
    let state = given::<Escalation>([])
        .when(Command::Request(request()))
        .then([requested_event(&[Ground::FailureToFollowProcedures])]);
    assert_eq!(state.status(), Status::Requested);
    assert_eq!(state.complaint_id(), COMPLAINT);
    assert!(state.status().is_active());
}

#[test]
fn a_request_on_the_last_instant_of_the_window_is_in_time() {
    let mut request = request();
    request.now = window_closes_at();
    let events = history([Command::Request(request)]);
    assert!(matches!(events.as_slice(), [Event::Requested(_)]));
}

#[test]
fn a_request_after_the_window_is_refused_out_of_time() {
    let mut request = request();
    request.now = window_closes_at() + jiff::SignedDuration::from_nanos(1);
    let events = history([Command::Request(request)]);
    match events.as_slice() {
        [Event::Refused(e)] => assert_eq!(e.reason, RefusalReason::OutOfTime.to_proto()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_request_before_the_response_is_refused_not_exhausted() {
    let mut request = request();
    request.complaint = facts_pending();
    given::<Escalation>([])
        .when(Command::Request(request))
        .then([refused(RefusalReason::NotExhausted)]);
}

#[test]
fn an_overdue_response_is_not_exhausted_under_the_default_policy() {
    let mut request = request();
    request.complaint = facts_pending();
    request.complaint.response_overdue_since = Some(end_of(2025, 6, 2));
    given::<Escalation>([])
        .when(Command::Request(request))
        .then([refused(RefusalReason::NotExhausted)]);
}

#[test]
fn a_request_on_a_withdrawn_complaint_is_refused() {
    let mut request = request();
    request.complaint = facts_pending();
    request
        .complaint
        .record_withdrawal(&v1::ComplaintWithdrawalRecorded {
            complaint_id: COMPLAINT.to_string(),
            inspection_id: INS.to_string(),
            withdrawn_at: ts(london(2025, 5, 20, 9, 0)),
        });
    given::<Escalation>([])
        .when(Command::Request(request))
        .then([refused(RefusalReason::ComplaintWithdrawn)]);
}

#[test]
fn only_one_active_escalation_per_complaint() {
    let mut request = request();
    request.another_active_escalation = true;
    let state = given::<Escalation>([])
        .when(Command::Request(request))
        .then([refused(RefusalReason::AlreadyActive)]);
    assert_eq!(
        state.status(),
        Status::Refused(Some(RefusalReason::AlreadyActive))
    );
    assert!(!state.status().is_active());
}

#[test]
fn only_out_of_remit_asks_are_refused_with_no_ground_in_remit() {
    given::<Escalation>([])
        .when(Command::Request(request_with(
            &[],
            &[OutOfRemitAsk::Compensation],
        )))
        .then([refused(RefusalReason::NoGroundInRemit)]);
}

#[test]
fn a_request_with_nothing_asked_is_rejected() {
    given::<Escalation>([])
        .when(Command::Request(request_with(&[], &[])))
        .then_rejects(Rejection::NoGrounds);
}

#[test]
fn grounds_are_deduplicated() {
    given::<Escalation>([])
        .when(Command::Request(request_with(
            &[Ground::Discourtesy, Ground::Discourtesy],
            &[],
        )))
        .then([requested_event(&[Ground::Discourtesy])]);
}

#[test]
fn only_the_complainant_side_may_request() {
    let mut request = request();
    request.requested_by = icaso();
    given::<Escalation>([])
        .when(Command::Request(request))
        .then_rejects(Rejection::RoleNotPermitted(Role::IndependentBody));
    let mut request = crate::helpers::request();
    request.requested_by = Actor::new("trust:1", Role::ResponsibleBody);
    assert!(matches!(
        history([Command::Request(request)]).as_slice(),
        [Event::Requested(_)]
    ));
}

#[test]
fn an_escalation_is_requested_once() {
    given_after(requested())
        .when(Command::Request(request()))
        .then_rejects(Rejection::AlreadyRequested);
    let mut refused_request = request();
    refused_request.complaint = facts_pending();
    given::<Escalation>(history([Command::Request(refused_request)]))
        .when(Command::Request(request()))
        .then_rejects(Rejection::AlreadyRequested);
}

#[test]
fn commands_before_the_request_are_rejected() {
    given::<Escalation>([])
        .when(Command::Refer {
            feed_payload_version: 1,
            now: now(),
        })
        .then_rejects(Rejection::NotRequested);
}

// ---- referral and the independent body ----

#[test]
fn a_requested_escalation_is_referred_once() {
    given_after(requested())
        .when(Command::Refer {
            feed_payload_version: 1,
            now: now(),
        })
        .then([Event::Referred(v1::EscalationReferred {
            escalation_id: ESC.to_string(),
            feed_payload_version: 1,
            referred_at: ts(now()),
        })]);
    given_after(referred())
        .when(Command::Refer {
            feed_payload_version: 1,
            now: now(),
        })
        .then_rejects(Rejection::WrongState(Status::Referred));
}

#[test]
fn the_independent_body_accepts_a_referral() {
    let at = london(2025, 7, 1, 9, 0);
    let state = given_after(referred())
        .when(Command::AcceptReferral {
            by: icaso(),
            now: at,
        })
        .then([Event::AcceptedByIndependentBody(
            v1::EscalationAcceptedByIndependentBody {
                escalation_id: ESC.to_string(),
                accepted_by_ref: ICASO.into(),
                accepted_at: ts(at),
            },
        )]);
    assert_eq!(state.status(), Status::AcceptedByIndependentBody);
}

#[test]
fn the_independent_body_declines_a_referral_and_that_is_final() {
    let at = london(2025, 7, 1, 9, 0);
    let state = given_after(referred())
        .when(Command::DeclineReferral {
            by: icaso(),
            reason_ref: "icaso:reason-1".into(),
            now: at,
        })
        .then([Event::DeclinedByIndependentBody(
            v1::EscalationDeclinedByIndependentBody {
                escalation_id: ESC.to_string(),
                declined_by_ref: ICASO.into(),
                reason_ref: "icaso:reason-1".into(),
                declined_at: ts(at),
                complaint_id: COMPLAINT.to_string(),
            },
        )]);
    assert_eq!(state.status(), Status::DeclinedByIndependentBody);
    assert!(!state.status().is_active());
}

#[test]
fn only_the_independent_body_accepts_or_declines_and_only_once_referred() {
    given_after(referred())
        .when(Command::AcceptReferral {
            by: owner(),
            now: now(),
        })
        .then_rejects(Rejection::RoleNotPermitted(Role::RecommendationOwner));
    given_after(requested())
        .when(Command::AcceptReferral {
            by: icaso(),
            now: now(),
        })
        .then_rejects(Rejection::WrongState(Status::Requested));
    given_after(requested())
        .when(Command::DeclineReferral {
            by: icaso(),
            reason_ref: "icaso:reason-1".into(),
            now: now(),
        })
        .then_rejects(Rejection::WrongState(Status::Requested));
}

#[test]
fn the_independent_body_appoints_an_adjudicator_after_accepting() {
    let at = london(2025, 7, 2, 9, 0);
    let state = given_after(accepted())
        .when(Command::AppointAdjudicator {
            by: icaso(),
            adjudicator_ref: ADJ.into(),
            now: at,
        })
        .then([Event::AdjudicatorAppointed(v1::AdjudicatorAppointed {
            escalation_id: ESC.to_string(),
            adjudicator_ref: ADJ.into(),
            appointed_by_ref: ICASO.into(),
            appointed_at: ts(at),
        })]);
    assert_eq!(state.adjudicator_ref(), Some(ADJ));
    given_after(referred())
        .when(Command::AppointAdjudicator {
            by: icaso(),
            adjudicator_ref: ADJ.into(),
            now: at,
        })
        .then_rejects(Rejection::WrongState(Status::Referred));
    given_after(accepted())
        .when(Command::AppointAdjudicator {
            by: adjudicator(),
            adjudicator_ref: ADJ.into(),
            now: at,
        })
        .then_rejects(Rejection::RoleNotPermitted(Role::Adjudicator));
}

// ---- case file ----

fn read_case_file(by: Actor) -> Command {
    Command::RequestCaseFile {
        by,
        doc_refs: vec!["doc:response-1".into(), "doc:investigation-1".into()],
        now: london(2025, 7, 3, 9, 0),
    }
}

#[test]
fn the_case_file_is_read_only_after_acceptance_and_each_read_is_recorded() {
    given_after(accepted())
        .when(read_case_file(icaso()))
        .then([Event::CaseFileAccessed(v1::CaseFileAccessed {
            escalation_id: ESC.to_string(),
            accessed_by_ref: ICASO.into(),
            doc_refs: vec!["doc:response-1".into(), "doc:investigation-1".into()],
            accessed_at: ts(london(2025, 7, 3, 9, 0)),
        })]);
    given_after(appointed())
        .when(read_case_file(adjudicator()))
        .then([Event::CaseFileAccessed(v1::CaseFileAccessed {
            escalation_id: ESC.to_string(),
            accessed_by_ref: ADJ.into(),
            doc_refs: vec!["doc:response-1".into(), "doc:investigation-1".into()],
            accessed_at: ts(london(2025, 7, 3, 9, 0)),
        })]);
    for before in [requested(), referred()] {
        given_after(before)
            .when(read_case_file(icaso()))
            .then_rejects(Rejection::CaseFileNotAvailable);
    }
}

#[test]
fn the_case_file_is_not_available_after_a_decline() {
    let mut commands = referred();
    commands.push(Command::DeclineReferral {
        by: icaso(),
        reason_ref: "icaso:reason-1".into(),
        now: now(),
    });
    given_after(commands)
        .when(read_case_file(icaso()))
        .then_rejects(Rejection::CaseFileNotAvailable);
}

#[test]
fn only_the_appointed_adjudicator_reads_the_case_file() {
    given_after(appointed())
        .when(read_case_file(Actor::new(
            "icaso:adjudicator-9",
            Role::Adjudicator,
        )))
        .then_rejects(Rejection::NotTheAdjudicator);
    given_after(appointed())
        .when(read_case_file(owner()))
        .then_rejects(Rejection::RoleNotPermitted(Role::RecommendationOwner));
}

// ---- findings ----

#[test]
fn findings_record_the_recommendations_with_their_ids_and_kinds() {
    let state = given_after(appointed())
        .when(issue_findings(vec![
            rec("R1", RecommendationKind::Apology),
            rec("R2", RecommendationKind::ProcessImprovement),
        ]))
        .then([Event::FindingsIssued(v1::AdjudicationFindingsIssued {
            escalation_id: ESC.to_string(),
            findings_ref: "doc:findings-1".into(),
            upheld_grounds: vec![Ground::FailureToFollowProcedures.to_proto()],
            recommendations: vec![
                v1::Recommendation {
                    recommendation_id: "R1".into(),
                    kind: RecommendationKind::Apology.to_proto(),
                    text_ref: "doc:findings-1#R1".into(),
                },
                v1::Recommendation {
                    recommendation_id: "R2".into(),
                    kind: RecommendationKind::ProcessImprovement.to_proto(),
                    text_ref: "doc:findings-1#R2".into(),
                },
            ],
            issued_by_ref: ADJ.into(),
            issued_at: ts(london(2025, 9, 15, 12, 0)),
        })]);
    assert_eq!(state.status(), Status::FindingsIssued);
    assert_eq!(state.recommendations().len(), 2);
    assert_eq!(state.recommendations()["R1"].decision, Decision::Pending);
}

#[test]
fn findings_outside_the_remit_are_refused() {
    for kind in [
        RecommendationKind::ChangeJudgement,
        RecommendationKind::Compensation,
    ] {
        let rejection = Rejection::OutOfRemit {
            recommendation_id: "R2".into(),
            kind,
        };
        assert_eq!(rejection.reason(), "OUT_OF_REMIT");
        given_after(appointed())
            .when(issue_findings(vec![
                rec("R1", RecommendationKind::Apology),
                rec("R2", kind),
            ]))
            .then_rejects(rejection);
    }
}

#[test]
fn recommendation_ids_are_present_and_unique() {
    given_after(appointed())
        .when(issue_findings(vec![
            rec("R1", RecommendationKind::Apology),
            rec("R1", RecommendationKind::StaffTraining),
        ]))
        .then_rejects(Rejection::InvalidRecommendationId);
    given_after(appointed())
        .when(issue_findings(vec![rec(" ", RecommendationKind::Apology)]))
        .then_rejects(Rejection::InvalidRecommendationId);
}

#[test]
fn findings_come_from_the_appointed_adjudicator_after_appointment() {
    given_after(accepted())
        .when(issue_findings(vec![]))
        .then_rejects(Rejection::WrongState(Status::AcceptedByIndependentBody));
    let mut other = issue_findings(vec![]);
    if let Command::IssueFindings { by, .. } = &mut other {
        *by = Actor::new("icaso:adjudicator-9", Role::Adjudicator);
    }
    given_after(appointed())
        .when(other)
        .then_rejects(Rejection::NotTheAdjudicator);
    let mut by_owner = issue_findings(vec![]);
    if let Command::IssueFindings { by, .. } = &mut by_owner {
        *by = owner();
    }
    given_after(appointed())
        .when(by_owner)
        .then_rejects(Rejection::RoleNotPermitted(Role::RecommendationOwner));
}

// ---- recommendations ----

#[test]
fn accepting_a_recommendation_records_the_planned_action_and_due_date() {
    let state = given_after(findings())
        .when(accept("R1", Some(day(2026, 1, 31))))
        .then([Event::RecommendationAccepted(v1::RecommendationAccepted {
            escalation_id: ESC.to_string(),
            recommendation_id: "R1".into(),
            planned_action_ref: "doc:plan#R1".into(),
            due_on: "2026-01-31".into(),
            accepted_by_ref: OWNER.into(),
            accepted_at: ts(london(2025, 10, 1, 9, 0)),
            policy_version: POLICY.into(),
            kind: RecommendationKind::Apology.to_proto(),
            complaint_id: COMPLAINT.to_string(),
        })]);
    assert_eq!(
        state.recommendations()["R1"].decision,
        Decision::Accepted {
            due_on: Some(day(2026, 1, 31))
        }
    );
}

#[test]
fn an_acceptance_needs_a_planned_action_and_a_due_date_within_policy() {
    let mut without_plan = accept("R1", None);
    if let Command::AcceptRecommendation {
        planned_action_ref, ..
    } = &mut without_plan
    {
        planned_action_ref.clear();
    }
    given_after(findings())
        .when(without_plan)
        .then_rejects(Rejection::PlannedActionRequired);
    given_after(findings())
        .when(accept("R1", Some(day(2026, 10, 2))))
        .then_rejects(Rejection::DueTooLate {
            latest: day(2026, 10, 1),
        });
}

#[test]
fn a_recommendation_is_decided_once() {
    let mut commands = findings();
    commands.push(accept("R1", None));
    given_after(commands.clone())
        .when(accept("R1", None))
        .then_rejects(Rejection::RecommendationAlreadyDecided("R1".into()));
    given_after(commands)
        .when(decline("R1", "pub:reason-1"))
        .then_rejects(Rejection::RecommendationAlreadyDecided("R1".into()));
}

#[test]
fn an_unknown_recommendation_is_rejected() {
    given_after(findings())
        .when(accept("R9", None))
        .then_rejects(Rejection::UnknownRecommendation("R9".into()));
    given_after(findings())
        .when(implemented("R9"))
        .then_rejects(Rejection::UnknownRecommendation("R9".into()));
}

#[test]
fn recommendations_are_decided_only_after_findings_by_their_owner() {
    given_after(appointed())
        .when(accept("R1", None))
        .then_rejects(Rejection::WrongState(Status::AdjudicatorAppointed));
    let mut by_icaso = accept("R1", None);
    if let Command::AcceptRecommendation { by, .. } = &mut by_icaso {
        *by = icaso();
    }
    given_after(findings())
        .when(by_icaso)
        .then_rejects(Rejection::RoleNotPermitted(Role::IndependentBody));
}

#[test]
fn a_decline_needs_a_public_reason_and_a_statement() {
    given_after(findings())
        .when(decline("R2", ""))
        .then_rejects(Rejection::PublicReasonRequired);
    let mut without_statement = decline("R2", "pub:reason-2");
    if let Command::DeclineRecommendation { statement_ref, .. } = &mut without_statement {
        statement_ref.clear();
    }
    given_after(findings())
        .when(without_statement)
        .then_rejects(Rejection::PublicStatementRequired);
    assert_eq!(
        Rejection::PublicReasonRequired.reason(),
        "PUBLIC_REASON_REQUIRED"
    );
}

#[test]
fn only_an_accepted_recommendation_is_implemented_and_a_repeat_changes_nothing() {
    given_after(findings())
        .when(implemented("R1"))
        .then_rejects(Rejection::RecommendationNotAccepted("R1".into()));
    let mut commands = findings();
    commands.push(decline("R2", "pub:reason-2"));
    given_after(commands)
        .when(implemented("R2"))
        .then_rejects(Rejection::RecommendationNotAccepted("R2".into()));
    let mut commands = findings();
    commands.push(accept("R1", None));
    commands.push(implemented("R1"));
    given_after(commands).when(implemented("R1")).then_nothing();
}

// ---- closure ----

#[test]
fn closure_needs_every_recommendation_decided() {
    let mut commands = findings();
    commands.push(accept("R1", None));
    commands.push(implemented("R1"));
    given_after(commands)
        .when(close())
        .then_rejects(Rejection::RecommendationsOutstanding("R2".into()));
}

#[test]
fn findings_without_recommendations_can_be_closed() {
    let mut commands = appointed();
    commands.push(issue_findings(vec![]));
    let state = given_after(commands)
        .when(close())
        .then([Event::Closed(v1::EscalationClosed {
            escalation_id: ESC.to_string(),
            closed_by_ref: OWNER.into(),
            closed_at: ts(london(2025, 12, 1, 9, 0)),
            complaint_id: COMPLAINT.to_string(),
        })]);
    assert_eq!(state.status(), Status::Closed);
    assert!(!state.status().is_active());
}

#[test]
fn a_scheduled_recommendation_is_enough_unless_the_policy_requires_implementation() {
    let mut commands = findings();
    commands.push(accept("R1", Some(day(2026, 3, 31))));
    commands.push(decline("R2", "pub:reason-2"));
    let closed = history(commands.iter().cloned().chain([close()]));
    assert!(matches!(closed.last(), Some(Event::Closed(_))));

    let strict = policy_with(
        "escalation-strict",
        serde_json::json!({ "closure_requires_implementation": true }),
    );
    given_after(commands)
        .when(Command::Close {
            by: owner(),
            policy: strict,
            now: london(2025, 12, 1, 9, 0),
        })
        .then_rejects(Rejection::RecommendationsOutstanding("R1".into()));
}

#[test]
fn closure_comes_after_findings_and_only_once() {
    given_after(appointed())
        .when(close())
        .then_rejects(Rejection::WrongState(Status::AdjudicatorAppointed));
    let mut commands = appointed();
    commands.push(issue_findings(vec![]));
    commands.push(close());
    given_after(commands)
        .when(close())
        .then_rejects(Rejection::WrongState(Status::Closed));
}

// ---- withdrawal ----

fn withdraw() -> Command {
    Command::Withdraw {
        by: head(),
        now: london(2025, 8, 1, 9, 0),
    }
}

#[test]
fn the_complainant_withdraws_before_the_findings() {
    for before in [requested(), referred(), accepted(), appointed()] {
        let state = given_after(before).when(withdraw()).then([Event::Withdrawn(
            v1::EscalationWithdrawn {
                escalation_id: ESC.to_string(),
                withdrawn_by_ref: HEAD.into(),
                withdrawn_at: ts(london(2025, 8, 1, 9, 0)),
                complaint_id: COMPLAINT.to_string(),
            },
        )]);
        assert_eq!(state.status(), Status::Withdrawn);
        assert!(!state.status().is_active());
    }
}

#[test]
fn no_withdrawal_after_the_findings_or_once_finished() {
    given_after(findings())
        .when(withdraw())
        .then_rejects(Rejection::TooLateToWithdraw);
    let mut commands = requested();
    commands.push(withdraw());
    given_after(commands)
        .when(withdraw())
        .then_rejects(Rejection::WrongState(Status::Withdrawn));
    given_after(requested())
        .when(Command::Withdraw {
            by: icaso(),
            now: now(),
        })
        .then_rejects(Rejection::RoleNotPermitted(Role::IndependentBody));
}

#[test]
fn every_rejection_has_a_distinct_code() {
    let rejections = [
        Rejection::AlreadyRequested,
        Rejection::NotRequested,
        Rejection::RoleNotPermitted(Role::Auditor),
        Rejection::NoGrounds,
        Rejection::WrongState(Status::New),
        Rejection::CaseFileNotAvailable,
        Rejection::NotTheAdjudicator,
        Rejection::OutOfRemit {
            recommendation_id: "R".into(),
            kind: RecommendationKind::Compensation,
        },
        Rejection::InvalidRecommendationId,
        Rejection::UnknownRecommendation("R".into()),
        Rejection::RecommendationAlreadyDecided("R".into()),
        Rejection::PlannedActionRequired,
        Rejection::DueTooLate {
            latest: day(2026, 1, 1),
        },
        Rejection::PublicReasonRequired,
        Rejection::PublicStatementRequired,
        Rejection::RecommendationNotAccepted("R".into()),
        Rejection::RecommendationsOutstanding("R".into()),
        Rejection::TooLateToWithdraw,
    ];
    let codes: std::collections::BTreeSet<&str> = rejections.iter().map(|r| r.reason()).collect();
    assert_eq!(codes.len(), rejections.len());
    assert!(
        codes
            .iter()
            .all(|c| c.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_'))
    );
}
