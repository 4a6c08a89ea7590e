//! Scenarios S8 to S11 of domain research §6, with their dates.

use escalation::domain::escalation::{
    Command, ComplaintFacts, Decision, Escalation, Event, Rejection, Request, Status,
};
use escalation::domain::{
    ComplaintOutcome, Ground, OutOfRemitAsk, RecommendationKind, RefusalReason, v1,
};
use platform::aggregate::given;

use crate::helpers::*;

fn s4_request(complaint: ComplaintFacts, at: jiff::Timestamp) -> Request {
    Request {
        escalation_id: ESC,
        requested_by: head(),
        grounds: vec![Ground::FailureToFollowProcedures],
        out_of_remit: vec![],
        complaint,
        another_active_escalation: false,
        policy: policy(),
        now: at,
    }
}

fn refusal_of(events: &[Event]) -> Option<RefusalReason> {
    match events {
        [Event::Refused(e)] => RefusalReason::from_proto(e.reason),
        _ => None,
    }
}

#[test]
fn s8_escalation_after_withdrawal_is_refused_and_nothing_is_referred() {
    let mut facts = ComplaintFacts::new(COMPLAINT, INS);
    facts.record_withdrawal(&v1::ComplaintWithdrawalRecorded {
        complaint_id: COMPLAINT.to_string(),
        inspection_id: INS.to_string(),
        withdrawn_at: ts(london(2025, 7, 20, 11, 0)),
    });
    let events = history([Command::Request(s4_request(
        facts,
        london(2025, 7, 21, 9, 0),
    ))]);
    assert_eq!(refusal_of(&events), Some(RefusalReason::ComplaintWithdrawn));
    given::<Escalation>(events)
        .when(Command::Refer {
            feed_payload_version: 1,
            now: london(2025, 7, 21, 9, 1),
        })
        .then_rejects(Rejection::WrongState(Status::Refused(Some(
            RefusalReason::ComplaintWithdrawn,
        ))));
}

#[test]
fn s9_escalation_before_the_response_is_refused_not_exhausted() {
    let events = history([Command::Request(s4_request(
        ComplaintFacts::new(COMPLAINT, INS),
        london(2025, 8, 1, 10, 0),
    ))]);
    assert_eq!(refusal_of(&events), Some(RefusalReason::NotExhausted));
}

#[test]
fn s9_variant_an_overdue_response_is_escalated_when_the_policy_allows() {
    let overdue = policy_with(
        "escalation-overdue",
        serde_json::json!({ "allow_escalation_when_response_overdue": true }),
    );
    let mut facts = ComplaintFacts::new(COMPLAINT, INS);
    facts.response_overdue_since = Some(end_of(2025, 8, 14));
    let at = london(2025, 8, 20, 10, 0);
    let mut request = s4_request(facts, at);
    request.grounds = vec![Ground::Discourtesy];
    request.policy = overdue;
    given::<Escalation>([])
        .when(Command::Request(request.clone()))
        .then([Event::Requested(v1::EscalationRequested {
            escalation_id: ESC.to_string(),
            complaint_id: COMPLAINT.to_string(),
            inspection_id: INS.to_string(),
            requested_by_ref: HEAD.into(),
            grounds: vec![
                Ground::Discourtesy.to_proto(),
                Ground::FailureToRespondInTimelyManner.to_proto(),
            ],
            requested_at: ts(at),
            response_issued_at: None,
            // Three calendar months after the due date [U].
            window_closes_at: ts(end_of(2025, 11, 14)),
            policy_version: "escalation-overdue".into(),
            calendar_version: String::new(),
            case_ref: CASE_REF.into(),
        })]);
    request.now = end_of(2025, 11, 14) + jiff::SignedDuration::from_nanos(1);
    let events = history([Command::Request(request)]);
    assert_eq!(refusal_of(&events), Some(RefusalReason::OutOfTime));
}

#[test]
fn s10_grounds_are_split_and_the_case_file_is_read_only_after_acceptance() {
    let mut facts = ComplaintFacts::new(COMPLAINT, INS);
    facts.record_response(&v1::ComplaintResponseRecorded {
        complaint_id: COMPLAINT.to_string(),
        inspection_id: INS.to_string(),
        outcome: ComplaintOutcome::NotUpheld.to_proto(),
        response_issued_at: ts(london(2025, 8, 14, 15, 0)),
        escalation_window_closes_at: ts(end_of(2025, 11, 14)),
        policy_version: COMPLAINTS_POLICY.into(),
        calendar_version: CALENDAR_VERSION.into(),
        response_doc_ref: "doc:response-1".into(),
    });
    let at = london(2025, 9, 1, 10, 0);
    let mut request = s4_request(facts, at);
    request.grounds = vec![Ground::FailureToFollowProcedures, Ground::Discourtesy];
    request.out_of_remit = vec![OutOfRemitAsk::OverturnJudgement];
    let state = given::<Escalation>([])
        .when(Command::Request(request.clone()))
        .then([
            Event::Requested(v1::EscalationRequested {
                escalation_id: ESC.to_string(),
                complaint_id: COMPLAINT.to_string(),
                inspection_id: INS.to_string(),
                requested_by_ref: HEAD.into(),
                grounds: vec![
                    Ground::FailureToFollowProcedures.to_proto(),
                    Ground::Discourtesy.to_proto(),
                ],
                requested_at: ts(at),
                response_issued_at: ts(london(2025, 8, 14, 15, 0)),
                window_closes_at: ts(end_of(2025, 11, 14)),
                policy_version: POLICY.into(),
                calendar_version: CALENDAR_VERSION.into(),
                case_ref: CASE_REF.into(),
            }),
            Event::OutOfRemitNoted(v1::OutOfRemitElementsNoted {
                escalation_id: ESC.to_string(),
                asks: vec![OutOfRemitAsk::OverturnJudgement.to_proto()],
                noted_at: ts(at),
            }),
        ]);
    assert_eq!(state.grounds().len(), 2);
    assert!(
        state
            .out_of_remit()
            .contains(&OutOfRemitAsk::OverturnJudgement)
    );

    let case_file = || Command::RequestCaseFile {
        by: icaso(),
        doc_refs: vec!["doc:response-1".into()],
        now: london(2025, 9, 2, 9, 0),
    };
    let referral = Command::Refer {
        feed_payload_version: 1,
        now: london(2025, 9, 1, 10, 1),
    };
    let before = vec![Command::Request(request.clone()), referral.clone()];
    given_after(before)
        .when(case_file())
        .then_rejects(Rejection::CaseFileNotAvailable);
    let after = vec![
        Command::Request(request),
        referral,
        Command::AcceptReferral {
            by: icaso(),
            now: london(2025, 9, 1, 16, 0),
        },
    ];
    let events = history(after.into_iter().chain([case_file()]));
    assert!(matches!(events.last(), Some(Event::CaseFileAccessed(_))));
}

#[test]
fn s11_one_recommendation_accepted_and_one_declined_with_a_published_reason() {
    let mut commands = appointed();
    commands.push(issue_findings(vec![
        rec("R1", RecommendationKind::Apology),
        rec("R2", RecommendationKind::ReconsiderComplaint),
    ]));
    commands.push(accept("R1", None));

    given_after(commands.clone())
        .when(decline("R2", ""))
        .then_rejects(Rejection::PublicReasonRequired);

    let state = given_after(commands.clone())
        .when(decline("R2", "pub:reason-R2"))
        .then([
            Event::RecommendationDeclined(v1::RecommendationDeclined {
                escalation_id: ESC.to_string(),
                recommendation_id: "R2".into(),
                public_reason_ref: "pub:reason-R2".into(),
                declined_by_ref: OWNER.into(),
                declined_at: ts(london(2025, 10, 1, 9, 30)),
            }),
            Event::PublicStatementPublished(v1::PublicStatementPublished {
                escalation_id: ESC.to_string(),
                recommendation_id: "R2".into(),
                statement_ref: "pub:statement#R2".into(),
                published_at: ts(london(2025, 10, 1, 9, 30)),
            }),
        ]);
    assert_eq!(state.recommendations()["R2"].decision, Decision::Declined);

    // R1 is accepted but neither implemented nor scheduled: no closure yet.
    commands.push(decline("R2", "pub:reason-R2"));
    given_after(commands.clone())
        .when(close())
        .then_rejects(Rejection::RecommendationsOutstanding("R1".into()));

    commands.push(implemented("R1"));
    let state = given_after(commands)
        .when(close())
        .then([Event::Closed(v1::EscalationClosed {
            escalation_id: ESC.to_string(),
            closed_by_ref: OWNER.into(),
            closed_at: ts(london(2025, 12, 1, 9, 0)),
            complaint_id: COMPLAINT.to_string(),
        })]);
    assert_eq!(state.status(), Status::Closed);
}

#[test]
fn s11_findings_with_a_change_of_judgement_or_compensation_are_out_of_remit() {
    for kind in [
        RecommendationKind::ChangeJudgement,
        RecommendationKind::Compensation,
    ] {
        given_after(appointed())
            .when(issue_findings(vec![rec("R3", kind)]))
            .then_rejects(Rejection::OutOfRemit {
                recommendation_id: "R3".into(),
                kind,
            });
    }
}
