//! Every rule and rejection of `LearningReview`, command by command.

use learning_reviews::domain::connections::InspectionConnections;
use learning_reviews::domain::incident;
use learning_reviews::domain::review::{
    Action, Answer, Command, Event, LearningReview, Rejection, Status, approver_of,
};
use learning_reviews::domain::{
    Actor, Approver, Audience, Connection, IncidentCategory, PriorRole, Reason,
    RecommendationResponse, Role, ScopeItem, v1,
};
use platform::aggregate::{Aggregate, given};

use crate::helpers::*;

fn as_role(role: Role) -> Actor {
    Actor::new(format!("someone:{role}"), role)
}

/// The roles `command_for(role)` is accepted from, checked against every role.
fn only(roles: &[Role], state: &[Command], command_for: impl Fn(Actor) -> Command) {
    let state = LearningReview::replay(&history::<LearningReview>(state.to_vec()));
    for role in Role::ALL {
        let outcome = state.decide(command_for(as_role(role)));
        if roles.contains(&role) {
            assert!(
                !matches!(outcome, Err(Rejection::RoleNotPermitted(_))),
                "{role} should be admitted: {outcome:?}"
            );
        } else {
            assert_eq!(outcome, Err(Rejection::RoleNotPermitted(role)), "{role}");
        }
    }
}

const LEADERS: &[Role] = &[Role::Hmci, Role::BoardChair];
const RESPONDERS: &[Role] = &[Role::Hmci, Role::BoardChair, Role::RecommendationOwner];

// ---- proposal ----

#[test]
fn a_proposal_records_its_scope_the_approvals_it_needs_and_the_policy() {
    let state = given::<LearningReview>([])
        .when(Command::Propose(proposal()))
        .then([Event::Proposed(v1::LearningReviewProposed {
            review_id: REVIEW.to_string(),
            incident_id: INCIDENT.to_string(),
            related_inspection_ids: vec![INS5.to_string()],
            terms_of_reference_ref: "doc:terms-of-reference-1".into(),
            scope_in: vec![
                ScopeItem::ResponseToIncident.to_proto(),
                ScopeItem::CommunicationsAndEngagement.to_proto(),
                ScopeItem::SupportToStaffAndInspectors.to_proto(),
                ScopeItem::PoliciesAndProcedures.to_proto(),
            ],
            scope_out: vec![ScopeItem::InspectionJudgements.to_proto()],
            proposed_by_ref: HMCI.into(),
            proposed_at: ts(london(2025, 6, 9, 10, 0)),
            required_approvers: vec![Approver::Hmci.to_proto(), Approver::BoardChair.to_proto()],
            policy_version: POLICY.into(),
        })]);
    assert_eq!(state.status(), Status::Proposed);
    assert_eq!(state.related_inspection_ids(), [INS5]);
    assert!(state.scope_out().contains(&ScopeItem::InspectionJudgements));
    assert_eq!(state.policy_version(), POLICY);
}

#[test]
fn the_judgements_may_be_in_scope_instead() {
    let mut proposal = proposal();
    proposal.scope_in.push(ScopeItem::InspectionJudgements);
    proposal.scope_out.clear();
    let state = given::<LearningReview>([])
        .when(Command::Propose(proposal.clone()))
        .then(history::<LearningReview>([Command::Propose(proposal)]));
    assert!(state.scope_in().contains(&ScopeItem::InspectionJudgements));
    assert!(state.scope_out().is_empty());
}

#[test]
fn a_scope_silent_on_the_judgements_is_refused() {
    let mut proposal = proposal();
    proposal.scope_out.clear();
    given::<LearningReview>([])
        .when(Command::Propose(proposal))
        .then_rejects(Rejection::JudgementsScopeUnstated);
}

#[test]
fn an_item_both_in_and_out_of_scope_is_refused() {
    let mut proposal = proposal();
    proposal.scope_out.push(ScopeItem::ResponseToIncident);
    given::<LearningReview>([])
        .when(Command::Propose(proposal))
        .then_rejects(Rejection::ScopeItemInAndOut(ScopeItem::ResponseToIncident));
    let mut judgements_both = self::proposal();
    judgements_both
        .scope_in
        .push(ScopeItem::InspectionJudgements);
    given::<LearningReview>([])
        .when(Command::Propose(judgements_both))
        .then_rejects(Rejection::ScopeItemInAndOut(
            ScopeItem::InspectionJudgements,
        ));
}

#[test]
fn a_review_with_nothing_in_scope_is_refused() {
    let mut proposal = proposal();
    proposal.scope_in.clear();
    given::<LearningReview>([])
        .when(Command::Propose(proposal))
        .then_rejects(Rejection::NothingInScope);
}

#[test]
fn a_review_of_an_incident_not_yet_assessed_is_refused() {
    let mut proposal = proposal();
    proposal.incident = facts_after(reported());
    given::<LearningReview>([])
        .when(Command::Propose(proposal))
        .then_rejects(Rejection::IncidentNotAssessed);
}

#[test]
fn a_review_of_an_incident_already_decided_is_refused() {
    let mut commands = assessed();
    commands.push(incident::Command::DecideNoReview {
        by: hmci(),
        reasons_ref: "doc:reasons".into(),
        now: london(2025, 6, 6, 9, 0),
    });
    let mut proposal = proposal();
    proposal.incident = facts_after(commands);
    given::<LearningReview>([])
        .when(Command::Propose(proposal))
        .then_rejects(Rejection::IncidentAlreadyDecided);
}

#[test]
fn a_review_in_a_category_the_policy_does_not_review_is_refused() {
    let narrow = policy_with(
        "pfd-only",
        serde_json::json!({ "review_triggers": ["INCIDENT_CATEGORY_PREVENTION_OF_FUTURE_DEATHS_REPORT"] }),
    );
    let mut proposal = proposal();
    proposal.policy = narrow.clone();
    given::<LearningReview>([])
        .when(Command::Propose(proposal.clone()))
        .then_rejects(Rejection::NotAReviewTrigger);
    proposal.incident.category = Some(IncidentCategory::PreventionOfFutureDeathsReport);
    let state = given::<LearningReview>([])
        .when(Command::Propose(proposal.clone()))
        .then(history::<LearningReview>([Command::Propose(
            proposal.clone(),
        )]));
    assert_eq!(state.policy_version(), "pfd-only");
    proposal.incident.category = None;
    given::<LearningReview>([])
        .when(Command::Propose(proposal))
        .then_rejects(Rejection::NotAReviewTrigger);
}

#[test]
fn a_review_is_proposed_once() {
    given_review(proposed())
        .when(Command::Propose(proposal()))
        .then_rejects(Rejection::AlreadyProposed);
}

#[test]
fn only_hmci_and_the_chair_propose() {
    only(LEADERS, &[], |by| {
        let mut proposal = proposal();
        proposal.by = by;
        Command::Propose(proposal)
    });
}

#[test]
fn nothing_but_a_proposal_is_accepted_before_it() {
    for command in [approve(hmci()), commission(), appoint(), close()] {
        given::<LearningReview>([])
            .when(command)
            .then_rejects(Rejection::NotProposed);
    }
}

// ---- approvals and commission ----

#[test]
fn each_approver_approves_as_their_role_says() {
    let state = given_review(proposed())
        .when(approve(hmci()))
        .then([Event::CommissionApproved(v1::CommissionApproved {
            review_id: REVIEW.to_string(),
            approver: Approver::Hmci.to_proto(),
            approved_by_ref: HMCI.into(),
            approved_at: ts(london(2025, 6, 10, 11, 0)),
        })]);
    assert!(state.approvals().contains(&Approver::Hmci));
    let mut commands = proposed();
    commands.push(approve(hmci()));
    let state = given_review(commands)
        .when(approve(chair()))
        .then([Event::CommissionApproved(v1::CommissionApproved {
            review_id: REVIEW.to_string(),
            approver: Approver::BoardChair.to_proto(),
            approved_by_ref: CHAIR.into(),
            approved_at: ts(london(2025, 6, 10, 11, 0)),
        })]);
    assert_eq!(state.approvals(), state.required_approvers());
}

#[test]
fn no_other_role_is_an_approver() {
    for role in Role::ALL {
        let expected = match role {
            Role::Hmci => Some(Approver::Hmci),
            Role::BoardChair => Some(Approver::BoardChair),
            _ => None,
        };
        assert_eq!(approver_of(role), expected, "{role}");
    }
    only(LEADERS, &proposed(), approve);
}

#[test]
fn an_approver_approves_once() {
    let mut commands = proposed();
    commands.push(approve(hmci()));
    given_review(commands)
        .when(approve(Actor::new("staff:deputy-hmci", Role::Hmci)))
        .then_rejects(Rejection::AlreadyApproved(Approver::Hmci));
}

#[test]
fn an_approval_the_policy_does_not_require_is_refused() {
    let hmci_only = policy_with(
        "hmci-only",
        serde_json::json!({ "required_approvers": ["APPROVER_HMCI"] }),
    );
    let mut proposal = proposal();
    proposal.policy = hmci_only;
    given_review(vec![Command::Propose(proposal.clone())])
        .when(approve(chair()))
        .then_rejects(Rejection::ApproverNotRequired(Approver::BoardChair));
    // HMCI's approval alone is every approval this policy names.
    let events =
        history::<LearningReview>([Command::Propose(proposal), approve(hmci()), commission()]);
    assert!(matches!(events.last(), Some(Event::Commissioned(_))));
}

#[test]
fn a_commission_with_only_hmcis_approval_is_refused_naming_the_chair() {
    let mut commands = proposed();
    commands.push(approve(hmci()));
    given_review(commands)
        .when(commission())
        .then_rejects(Rejection::ApprovalMissing(Approver::BoardChair));
    given_review(proposed())
        .when(commission())
        .then_rejects(Rejection::ApprovalMissing(Approver::Hmci));
}

#[test]
fn a_commission_with_every_approval_is_recorded() {
    let state = given_review(approved())
        .when(commission())
        .then([Event::Commissioned(v1::LearningReviewCommissioned {
            review_id: REVIEW.to_string(),
            incident_id: INCIDENT.to_string(),
            approvals: vec![Approver::Hmci.to_proto(), Approver::BoardChair.to_proto()],
            commissioned_by_ref: HMCI.into(),
            commissioned_at: ts(london(2025, 6, 11, 12, 0)),
        })]);
    assert_eq!(state.status(), Status::Commissioned);
}

#[test]
fn a_review_is_commissioned_and_approved_only_while_proposed() {
    given_review(commissioned())
        .when(commission())
        .then_rejects(Rejection::WrongState(Status::Commissioned));
    given_review(commissioned())
        .when(approve(hmci()))
        .then_rejects(Rejection::WrongState(Status::Commissioned));
    only(LEADERS, &approved(), |by| Command::Commission {
        by,
        now: london(2025, 6, 11, 12, 0),
    });
}

// ---- the reviewer ----

#[test]
fn an_eligible_reviewer_is_appointed_with_the_prior_roles_disclosed() {
    let state = given_review(commissioned())
        .when(appoint())
        .then([Event::ReviewerAppointed(v1::ReviewerAppointed {
            review_id: REVIEW.to_string(),
            reviewer_ref: REVIEWER.into(),
            independence_declaration_ref: format!("doc:declaration-{REVIEWER}"),
            prior_roles: vec![PriorRole::FormerHmci.to_proto()],
            appointed_by_ref: HMCI.into(),
            appointed_at: ts(london(2025, 6, 16, 9, 0)),
        })]);
    assert_eq!(state.status(), Status::ReviewerAppointed);
    assert_eq!(state.reviewer_ref(), Some(REVIEWER));
    assert_eq!(state.prior_roles(), [PriorRole::FormerHmci]);
}

#[test]
fn a_member_of_a_related_inspections_team_is_refused_for_a_conflict_of_interest() {
    given_review(commissioned())
        .when(Command::AppointReviewer(appointment(
            INS5_INSPECTOR,
            &[PriorRole::ContractedInspector],
        )))
        .then_rejects(Rejection::ConflictOfInterest {
            inspection_id: INS5,
            connection: Connection::InspectionTeam,
        });
}

#[test]
fn a_handler_of_a_related_complaint_is_refused_for_a_conflict_of_interest() {
    given_review(commissioned())
        .when(Command::AppointReviewer(appointment(
            INS5_INVESTIGATOR,
            &[PriorRole::FormerInspectorateEmployee],
        )))
        .then_rejects(Rejection::ConflictOfInterest {
            inspection_id: INS5,
            connection: Connection::ComplaintInvestigator,
        });
}

#[test]
fn only_the_connections_the_policy_names_conflict() {
    let team_only = policy_with(
        "team-only",
        serde_json::json!({ "conflicting_connections": ["inspection_team"] }),
    );
    let mut appointment = appointment(INS5_INVESTIGATOR, &[PriorRole::Other]);
    appointment.policy = team_only;
    let events = history::<LearningReview>(
        commissioned()
            .into_iter()
            .chain([Command::AppointReviewer(appointment)]),
    );
    assert!(matches!(events.last(), Some(Event::ReviewerAppointed(_))));
}

#[test]
fn a_connection_with_an_unrelated_inspection_is_no_conflict() {
    let mut appointment = appointment(INS5_INSPECTOR, &[PriorRole::ContractedInspector]);
    let ins5 = appointment.connections.remove(&INS5).unwrap();
    appointment.connections.insert(INS6, ins5);
    appointment
        .connections
        .insert(INS5, InspectionConnections::default());
    let events = history::<LearningReview>(
        commissioned()
            .into_iter()
            .chain([Command::AppointReviewer(appointment)]),
    );
    assert!(matches!(events.last(), Some(Event::ReviewerAppointed(_))));
}

#[test]
fn a_reviewer_without_a_declaration_is_refused() {
    let mut appointment = appointment(REVIEWER, &[PriorRole::None]);
    appointment.independence_declaration_ref = " ".into();
    given_review(commissioned())
        .when(Command::AppointReviewer(appointment))
        .then_rejects(Rejection::DeclarationRequired);
}

#[test]
fn a_reviewer_must_disclose_prior_roles_and_none_only_alone() {
    given_review(commissioned())
        .when(Command::AppointReviewer(appointment(REVIEWER, &[])))
        .then_rejects(Rejection::PriorRolesNotDisclosed);
    given_review(commissioned())
        .when(Command::AppointReviewer(appointment(
            REVIEWER,
            &[PriorRole::None, PriorRole::FormerBoardMember],
        )))
        .then_rejects(Rejection::PriorRoleNoneNotAlone);
    let state = given_review(commissioned())
        .when(Command::AppointReviewer(appointment(
            REVIEWER,
            &[PriorRole::None, PriorRole::None],
        )))
        .then([Event::ReviewerAppointed(v1::ReviewerAppointed {
            review_id: REVIEW.to_string(),
            reviewer_ref: REVIEWER.into(),
            independence_declaration_ref: format!("doc:declaration-{REVIEWER}"),
            prior_roles: vec![PriorRole::None.to_proto()],
            appointed_by_ref: HMCI.into(),
            appointed_at: ts(london(2025, 6, 16, 9, 0)),
        })]);
    assert_eq!(state.prior_roles(), [PriorRole::None]);
}

#[test]
fn a_reviewer_is_appointed_once_and_only_after_the_commission() {
    given_review(approved())
        .when(appoint())
        .then_rejects(Rejection::WrongState(Status::Proposed));
    given_review(appointed())
        .when(appoint())
        .then_rejects(Rejection::ReviewerAlreadyAppointed);
    only(LEADERS, &commissioned(), |by| {
        let mut appointment = appointment(REVIEWER, &[PriorRole::FormerHmci]);
        appointment.by = by;
        Command::AppointReviewer(appointment)
    });
}

// ---- terms of reference and evidence ----

#[test]
fn the_terms_of_reference_are_published_once_the_reviewer_is_appointed() {
    given_review(commissioned())
        .when(publish_terms())
        .then_rejects(Rejection::WrongState(Status::Commissioned));
    let state = given_review(appointed())
        .when(publish_terms())
        .then([Event::TermsPublished(v1::TermsOfReferencePublished {
            review_id: REVIEW.to_string(),
            terms_of_reference_ref: "doc:terms-of-reference-1".into(),
            published_at: ts(london(2025, 6, 17, 9, 0)),
        })]);
    assert_eq!(state.status(), Status::TermsPublished);
    only(LEADERS, &appointed(), |by| {
        Command::PublishTermsOfReference {
            by,
            now: london(2025, 6, 17, 9, 0),
        }
    });
}

fn interview(by: Actor, consent_ref: Option<&str>) -> Command {
    Command::RecordInterview {
        by,
        interview_ref: "vault:interview-1".into(),
        consent_ref: consent_ref.map(str::to_owned),
        now: london(2025, 7, 2, 14, 0),
    }
}

#[test]
fn evidence_is_gathered_only_under_published_terms() {
    for command in [
        Command::GrantRecordsAccess {
            by: hmci(),
            records_ref: "doc:records".into(),
            now: london(2025, 6, 16, 12, 0),
        },
        interview(reviewer(), None),
        Command::OfferFamilyEngagement {
            by: liaison(),
            now: london(2025, 6, 16, 12, 0),
        },
        Command::RecordSpecialistAdvice {
            by: reviewer(),
            advice_ref: "doc:advice".into(),
            now: london(2025, 6, 16, 12, 0),
        },
    ] {
        given_review(appointed())
            .when(command)
            .then_rejects(Rejection::WrongState(Status::ReviewerAppointed));
    }
}

#[test]
fn records_access_is_granted_by_hmci_or_the_chair() {
    given_review(gathering())
        .when(Command::GrantRecordsAccess {
            by: chair(),
            records_ref: "doc:records-index".into(),
            now: london(2025, 6, 18, 9, 0),
        })
        .then([Event::RecordsAccessGranted(v1::RecordsAccessGranted {
            review_id: REVIEW.to_string(),
            records_ref: "doc:records-index".into(),
            granted_by_ref: CHAIR.into(),
            granted_at: ts(london(2025, 6, 18, 9, 0)),
        })]);
    only(LEADERS, &gathering(), |by| Command::GrantRecordsAccess {
        by,
        records_ref: "doc:records".into(),
        now: london(2025, 6, 18, 9, 0),
    });
}

#[test]
fn an_interview_is_anonymised_unless_the_interviewee_consented_to_be_named() {
    given_review(gathering())
        .when(interview(reviewer(), None))
        .then([Event::InterviewRecorded(v1::InterviewRecorded {
            review_id: REVIEW.to_string(),
            interview_ref: "vault:interview-1".into(),
            anonymised: true,
            consent_ref: String::new(),
            recorded_at: ts(london(2025, 7, 2, 14, 0)),
        })]);
    given_review(gathering())
        .when(interview(reviewer(), Some("vault:consent-1")))
        .then([Event::InterviewRecorded(v1::InterviewRecorded {
            review_id: REVIEW.to_string(),
            interview_ref: "vault:interview-1".into(),
            anonymised: false,
            consent_ref: "vault:consent-1".into(),
            recorded_at: ts(london(2025, 7, 2, 14, 0)),
        })]);
}

#[test]
fn only_the_appointed_reviewer_records_interviews_and_advice() {
    given_review(gathering())
        .when(interview(other_reviewer(), None))
        .then_rejects(Rejection::NotTheReviewer);
    given_review(gathering())
        .when(Command::RecordSpecialistAdvice {
            by: other_reviewer(),
            advice_ref: "doc:advice".into(),
            now: london(2025, 7, 8, 9, 0),
        })
        .then_rejects(Rejection::NotTheReviewer);
    given_review(gathering())
        .when(Command::RecordSpecialistAdvice {
            by: reviewer(),
            advice_ref: "doc:mental-health-advice".into(),
            now: london(2025, 7, 8, 9, 0),
        })
        .then([Event::SpecialistAdviceObtained(
            v1::SpecialistAdviceObtained {
                review_id: REVIEW.to_string(),
                advice_ref: "doc:mental-health-advice".into(),
                obtained_at: ts(london(2025, 7, 8, 9, 0)),
            },
        )]);
    only(&[Role::IndependentReviewer], &gathering(), |by| {
        interview(by, None)
    });
}

#[test]
fn family_engagement_is_held_only_after_it_was_offered() {
    let held = |by: Actor| Command::RecordFamilyEngagement {
        by,
        notes_ref: "vault:family-meeting-1".into(),
        now: london(2025, 7, 1, 10, 0),
    };
    given_review(gathering())
        .when(held(liaison()))
        .then_rejects(Rejection::FamilyEngagementNotOffered);
    let mut commands = gathering();
    given_review(commands.clone())
        .when(Command::OfferFamilyEngagement {
            by: liaison(),
            now: london(2025, 6, 20, 10, 0),
        })
        .then([Event::FamilyEngagementOffered(
            v1::FamilyEngagementOffered {
                review_id: REVIEW.to_string(),
                offered_by_ref: LIAISON.into(),
                offered_at: ts(london(2025, 6, 20, 10, 0)),
            },
        )]);
    commands.push(Command::OfferFamilyEngagement {
        by: liaison(),
        now: london(2025, 6, 20, 10, 0),
    });
    given_review(commands.clone())
        .when(held(reviewer()))
        .then([Event::FamilyEngagementHeld(v1::FamilyEngagementHeld {
            review_id: REVIEW.to_string(),
            notes_ref: "vault:family-meeting-1".into(),
            held_at: ts(london(2025, 7, 1, 10, 0)),
        })]);
    given_review(commands.clone())
        .when(held(other_reviewer()))
        .then_rejects(Rejection::NotTheReviewer);
    only(
        &[Role::FamilyLiaison, Role::IndependentReviewer],
        &commands,
        |by| {
            // The appointed reviewer's ref for the reviewer role; others are refused by role.
            let by = if by.role == Role::IndependentReviewer {
                reviewer()
            } else {
                by
            };
            held(by)
        },
    );
}

// ---- report ----

#[test]
fn the_appointed_reviewer_submits_the_report_with_its_recommendations() {
    let state = given_review(gathering())
        .when(submit(vec![rec("R1"), rec("R2")]))
        .then([Event::ReportSubmitted(v1::LearningReviewReportSubmitted {
            review_id: REVIEW.to_string(),
            report_ref: "doc:report-1".into(),
            recommendations: vec![
                v1::LearningRecommendation {
                    recommendation_id: "R1".into(),
                    text_ref: "doc:report-1#R1".into(),
                },
                v1::LearningRecommendation {
                    recommendation_id: "R2".into(),
                    text_ref: "doc:report-1#R2".into(),
                },
            ],
            submitted_by_ref: REVIEWER.into(),
            submitted_at: ts(london(2025, 9, 1, 9, 0)),
        })]);
    assert_eq!(state.status(), Status::ReportSubmitted);
    assert_eq!(state.recommendations().len(), 2);
    assert_eq!(state.recommendations()[0].answer, Answer::Unanswered);
}

#[test]
fn only_the_appointed_reviewer_submits_the_report() {
    let by_other = Command::SubmitReport {
        by: other_reviewer(),
        report_ref: "doc:report-x".into(),
        recommendations: vec![],
        now: london(2025, 9, 1, 9, 0),
    };
    given_review(gathering())
        .when(by_other)
        .then_rejects(Rejection::NotTheReviewer);
    only(&[Role::IndependentReviewer], &gathering(), |by| {
        Command::SubmitReport {
            by: if by.role == Role::IndependentReviewer {
                reviewer()
            } else {
                by
            },
            report_ref: "doc:report-1".into(),
            recommendations: vec![],
            now: london(2025, 9, 1, 9, 0),
        }
    });
}

#[test]
fn recommendation_ids_are_unique_and_not_empty() {
    given_review(gathering())
        .when(submit(vec![rec("R1"), rec("R2"), rec("R1")]))
        .then_rejects(Rejection::InvalidRecommendationId("R1".into()));
    given_review(gathering())
        .when(submit(vec![rec("")]))
        .then_rejects(Rejection::InvalidRecommendationId(String::new()));
}

#[test]
fn the_report_is_submitted_under_published_terms_and_published_after_submission() {
    given_review(appointed())
        .when(submit(vec![]))
        .then_rejects(Rejection::WrongState(Status::ReviewerAppointed));
    given_review(gathering())
        .when(publish_report())
        .then_rejects(Rejection::WrongState(Status::TermsPublished));
    let state = given_review(submitted())
        .when(publish_report())
        .then([Event::ReportPublished(v1::LearningReviewReportPublished {
            review_id: REVIEW.to_string(),
            published_ref: "pub:report-1".into(),
            published_at: ts(london(2025, 9, 3, 9, 0)),
        })]);
    assert_eq!(state.status(), Status::ReportPublished);
    only(LEADERS, &submitted(), |by| Command::PublishReport {
        by,
        published_ref: "pub:report-1".into(),
        now: london(2025, 9, 3, 9, 0),
    });
}

// ---- responses ----

#[test]
fn an_accepted_recommendation_needs_no_reasons_and_the_others_do() {
    given_review(published())
        .when(respond("R1", RecommendationResponse::Accepted, ""))
        .then([Event::RecommendationResponded(
            v1::LearningRecommendationResponded {
                review_id: REVIEW.to_string(),
                recommendation_id: "R1".into(),
                response: RecommendationResponse::Accepted.to_proto(),
                reasons_ref: String::new(),
                responded_by_ref: HMCI.into(),
                responded_at: ts(london(2025, 9, 3, 10, 0)),
            },
        )]);
    for response in [
        RecommendationResponse::PartlyAccepted,
        RecommendationResponse::NotAccepted,
    ] {
        given_review(published())
            .when(respond("R2", response, " "))
            .then_rejects(Rejection::ReasonsRequired);
    }
}

#[test]
fn a_response_may_come_before_the_report_is_published_but_not_before_it_is_submitted() {
    let state = given_review(submitted())
        .when(respond("R3", RecommendationResponse::NotAccepted, "doc:r3"))
        .then([Event::RecommendationResponded(
            v1::LearningRecommendationResponded {
                review_id: REVIEW.to_string(),
                recommendation_id: "R3".into(),
                response: RecommendationResponse::NotAccepted.to_proto(),
                reasons_ref: "doc:r3".into(),
                responded_by_ref: HMCI.into(),
                responded_at: ts(london(2025, 9, 3, 10, 0)),
            },
        )]);
    assert_eq!(
        state.recommendations()[2].answer,
        Answer::Answered(Some(RecommendationResponse::NotAccepted))
    );
    given_review(gathering())
        .when(respond("R1", RecommendationResponse::Accepted, ""))
        .then_rejects(Rejection::WrongState(Status::TermsPublished));
}

#[test]
fn each_recommendation_is_answered_once() {
    let mut commands = published();
    commands.push(respond("R1", RecommendationResponse::Accepted, ""));
    given_review(commands)
        .when(respond(
            "R1",
            RecommendationResponse::NotAccepted,
            "doc:changed",
        ))
        .then_rejects(Rejection::AlreadyResponded("R1".into()));
    given_review(published())
        .when(respond("R9", RecommendationResponse::Accepted, ""))
        .then_rejects(Rejection::UnknownRecommendation("R9".into()));
    only(RESPONDERS, &published(), |by| {
        Command::RespondToRecommendation {
            by,
            recommendation_id: "R1".into(),
            response: RecommendationResponse::Accepted,
            reasons_ref: String::new(),
            now: london(2025, 9, 3, 10, 0),
        }
    });
}

#[test]
fn the_response_is_published_only_when_every_recommendation_has_one() {
    let mut commands = published();
    commands.push(respond("R1", RecommendationResponse::Accepted, ""));
    given_review(commands)
        .when(publish_response())
        .then_rejects(Rejection::RecommendationsUnanswered(vec![
            "R2".into(),
            "R3".into(),
        ]));
    given_review(submitted())
        .when(publish_response())
        .then_rejects(Rejection::ReportNotPublished);
    let state = given_review(answered())
        .when(publish_response())
        .then([Event::ResponsePublished(
            v1::LearningReviewResponsePublished {
                review_id: REVIEW.to_string(),
                response_ref: "pub:response-1".into(),
                published_at: ts(london(2025, 9, 3, 11, 0)),
            },
        )]);
    assert_eq!(state.status(), Status::ResponsePublished);
    given_review(responded())
        .when(respond("R1", RecommendationResponse::Accepted, ""))
        .then_rejects(Rejection::WrongState(Status::ResponsePublished));
    only(LEADERS, &answered(), |by| Command::PublishResponse {
        by,
        response_ref: "pub:response-1".into(),
        now: london(2025, 9, 3, 11, 0),
    });
}

#[test]
fn monitoring_reports_follow_the_published_response() {
    let monitoring = |by: Actor| Command::PublishMonitoringReport {
        by,
        monitoring_report_ref: "pub:monitoring-1".into(),
        now: london(2025, 12, 1, 9, 0),
    };
    given_review(answered())
        .when(monitoring(owner()))
        .then_rejects(Rejection::WrongState(Status::ReportPublished));
    given_review(responded())
        .when(monitoring(owner()))
        .then([Event::MonitoringReportPublished(
            v1::ImprovementMonitoringReportPublished {
                review_id: REVIEW.to_string(),
                monitoring_report_ref: "pub:monitoring-1".into(),
                published_at: ts(london(2025, 12, 1, 9, 0)),
            },
        )]);
    only(RESPONDERS, &responded(), monitoring);
}

// ---- actions ----

#[test]
fn an_accepted_action_is_implemented_and_a_partly_accepted_one_transferred() {
    let state = given_review(responded())
        .when(implemented("R1"))
        .then([Event::ActionImplemented(v1::LearningActionImplemented {
            review_id: REVIEW.to_string(),
            recommendation_id: "R1".into(),
            evidence_ref: "doc:evidence#R1".into(),
            implemented_at: ts(london(2025, 12, 1, 9, 0)),
        })]);
    assert_eq!(state.recommendations()[0].action, Some(Action::Implemented));
    let state = given_review(responded())
        .when(transferred("R2"))
        .then([Event::ActionTransferred(v1::LearningActionTransferred {
            review_id: REVIEW.to_string(),
            recommendation_id: "R2".into(),
            transferred_to_ref: "doc:improvement-plan".into(),
            transferred_at: ts(london(2025, 12, 1, 9, 30)),
        })]);
    assert_eq!(state.recommendations()[1].action, Some(Action::Transferred));
}

#[test]
fn a_recommendation_not_accepted_or_unanswered_has_no_action() {
    given_review(responded())
        .when(implemented("R3"))
        .then_rejects(Rejection::NoActionRequired("R3".into()));
    given_review(published())
        .when(transferred("R1"))
        .then_rejects(Rejection::NoActionRequired("R1".into()));
    given_review(responded())
        .when(implemented("R9"))
        .then_rejects(Rejection::UnknownRecommendation("R9".into()));
}

#[test]
fn an_action_is_recorded_once() {
    let mut commands = responded();
    commands.push(implemented("R1"));
    given_review(commands.clone())
        .when(transferred("R1"))
        .then_rejects(Rejection::ActionAlreadyRecorded("R1".into()));
    given_review(commands)
        .when(implemented("R1"))
        .then_rejects(Rejection::ActionAlreadyRecorded("R1".into()));
    only(RESPONDERS, &responded(), |by| Command::TransferAction {
        by,
        recommendation_id: "R2".into(),
        transferred_to_ref: "doc:plan".into(),
        policy: policy(),
        now: london(2025, 12, 1, 9, 0),
    });
}

// ---- dissemination ----

#[test]
fn lessons_are_disseminated_to_distinct_audiences_once_the_report_is_published() {
    given_review(submitted())
        .when(disseminate(&[Audience::Board]))
        .then_rejects(Rejection::WrongState(Status::ReportSubmitted));
    given_review(published())
        .when(disseminate(&[]))
        .then_rejects(Rejection::AudienceRequired);
    let state = given_review(published())
        .when(disseminate(&[
            Audience::Sector,
            Audience::Board,
            Audience::Sector,
        ]))
        .then([Event::LessonsDisseminated(v1::LessonsDisseminated {
            review_id: REVIEW.to_string(),
            audiences: vec![Audience::Board.to_proto(), Audience::Sector.to_proto()],
            lessons_ref: "doc:lessons-1".into(),
            disseminated_at: ts(london(2025, 12, 8, 9, 0)),
        })]);
    assert_eq!(state.audiences().len(), 2);
    only(LEADERS, &published(), |by| Command::DisseminateLessons {
        by,
        audiences: vec![Audience::Board],
        lessons_ref: "doc:lessons".into(),
        now: london(2025, 12, 8, 9, 0),
    });
}

// ---- closure ----

#[test]
fn closure_names_the_first_thing_missing() {
    given_review(gathering())
        .when(close())
        .then_rejects(Rejection::ReportNotPublished);
    given_review(submitted())
        .when(close())
        .then_rejects(Rejection::ReportNotPublished);
    given_review(published())
        .when(close())
        .then_rejects(Rejection::RecommendationsUnanswered(vec![
            "R1".into(),
            "R2".into(),
            "R3".into(),
        ]));
    given_review(answered())
        .when(close())
        .then_rejects(Rejection::ResponseNotPublished);
    given_review(responded())
        .when(close())
        .then_rejects(Rejection::ActionsOutstanding(vec![
            "R1".into(),
            "R2".into(),
        ]));
    let mut commands = responded();
    commands.extend([implemented("R1"), transferred("R2")]);
    given_review(commands)
        .when(close())
        .then_rejects(Rejection::LessonsNotDisseminated {
            reached: 0,
            required: 1,
        });
}

#[test]
fn a_review_with_everything_done_is_closed() {
    let state = given_review(ready_to_close())
        .when(close())
        .then([Event::Closed(v1::LearningReviewClosed {
            review_id: REVIEW.to_string(),
            closed_by_ref: HMCI.into(),
            closed_at: ts(london(2025, 12, 15, 9, 0)),
        })]);
    assert_eq!(state.status(), Status::Closed);
    only(LEADERS, &ready_to_close(), |by| Command::Close {
        by,
        policy: policy(),
        now: london(2025, 12, 15, 9, 0),
    });
}

#[test]
fn a_closed_review_takes_no_more_commands() {
    let mut commands = ready_to_close();
    commands.push(close());
    for command in [
        close(),
        disseminate(&[Audience::Board]),
        Command::PublishMonitoringReport {
            by: hmci(),
            monitoring_report_ref: "pub:m".into(),
            now: london(2025, 12, 16, 9, 0),
        },
        implemented("R1"),
        appoint(),
    ] {
        let outcome =
            LearningReview::replay(&history::<LearningReview>(commands.clone())).decide(command);
        assert_eq!(outcome, Err(Rejection::WrongState(Status::Closed)));
    }
    given_review(proposed())
        .when(close())
        .then_rejects(Rejection::WrongState(Status::Proposed));
}

#[test]
fn the_policy_sets_how_many_audiences_closure_needs() {
    let two = policy_with(
        "two-audiences",
        serde_json::json!({ "min_audiences_to_close": 2 }),
    );
    let mut close_two = close();
    if let Command::Close { policy, .. } = &mut close_two {
        *policy = two.clone();
    }
    given_review(ready_to_close())
        .when(close_two.clone())
        .then_rejects(Rejection::LessonsNotDisseminated {
            reached: 1,
            required: 2,
        });
    let mut commands = ready_to_close();
    commands.push(disseminate(&[Audience::Board]));
    let events = history::<LearningReview>(commands.into_iter().chain([close_two]));
    assert!(matches!(events.last(), Some(Event::Closed(_))));
}

#[test]
fn the_policy_sets_which_responses_need_an_action() {
    let accepted_only = policy_with(
        "accepted-only",
        serde_json::json!({ "responses_requiring_action": ["RECOMMENDATION_RESPONSE_ACCEPTED"] }),
    );
    let mut close_accepted = close();
    if let Command::Close { policy, .. } = &mut close_accepted {
        *policy = accepted_only;
    }
    let mut commands = responded();
    commands.extend([implemented("R1"), disseminate(&[Audience::Board])]);
    let events = history::<LearningReview>(commands.into_iter().chain([close_accepted]));
    assert!(matches!(events.last(), Some(Event::Closed(_))));
}

#[test]
fn a_review_without_recommendations_closes_once_published_and_disseminated() {
    let mut commands = gathering();
    commands.extend([
        submit(vec![]),
        publish_report(),
        publish_response(),
        disseminate(&[Audience::ExpertReferenceGroup]),
    ]);
    given_review(commands)
        .when(close())
        .then([Event::Closed(v1::LearningReviewClosed {
            review_id: REVIEW.to_string(),
            closed_by_ref: HMCI.into(),
            closed_at: ts(london(2025, 12, 15, 9, 0)),
        })]);
}

#[test]
fn an_unknown_approver_or_response_in_a_recorded_event_is_dropped_not_guessed() {
    let mut events = history::<LearningReview>(proposed());
    events.push(Event::CommissionApproved(v1::CommissionApproved {
        review_id: REVIEW.to_string(),
        approver: 99,
        approved_by_ref: "x".into(),
        approved_at: None,
    }));
    let state = LearningReview::replay(&events);
    assert!(state.approvals().is_empty());
}

#[test]
fn every_rejection_has_a_stable_code() {
    let cases = [
        (Rejection::AlreadyProposed, "ALREADY_PROPOSED"),
        (Rejection::NotProposed, "NOT_PROPOSED"),
        (
            Rejection::RoleNotPermitted(Role::Operator),
            "ROLE_NOT_PERMITTED",
        ),
        (Rejection::WrongState(Status::Closed), "WRONG_STATE"),
        (Rejection::IncidentNotAssessed, "INCIDENT_NOT_ASSESSED"),
        (
            Rejection::IncidentAlreadyDecided,
            "INCIDENT_ALREADY_DECIDED",
        ),
        (Rejection::NotAReviewTrigger, "NOT_A_REVIEW_TRIGGER"),
        (Rejection::NothingInScope, "NOTHING_IN_SCOPE"),
        (
            Rejection::JudgementsScopeUnstated,
            "JUDGEMENTS_SCOPE_UNSTATED",
        ),
        (
            Rejection::ScopeItemInAndOut(ScopeItem::InspectionJudgements),
            "SCOPE_ITEM_IN_AND_OUT",
        ),
        (
            Rejection::ApproverNotRequired(Approver::Hmci),
            "APPROVER_NOT_REQUIRED",
        ),
        (
            Rejection::AlreadyApproved(Approver::Hmci),
            "ALREADY_APPROVED",
        ),
        (
            Rejection::ApprovalMissing(Approver::BoardChair),
            "APPROVAL_MISSING",
        ),
        (
            Rejection::ReviewerAlreadyAppointed,
            "REVIEWER_ALREADY_APPOINTED",
        ),
        (
            Rejection::ConflictOfInterest {
                inspection_id: INS5,
                connection: Connection::InspectionTeam,
            },
            "CONFLICT_OF_INTEREST",
        ),
        (Rejection::DeclarationRequired, "DECLARATION_REQUIRED"),
        (
            Rejection::PriorRolesNotDisclosed,
            "PRIOR_ROLES_NOT_DISCLOSED",
        ),
        (
            Rejection::PriorRoleNoneNotAlone,
            "PRIOR_ROLE_NONE_NOT_ALONE",
        ),
        (Rejection::NotTheReviewer, "NOT_THE_REVIEWER"),
        (
            Rejection::FamilyEngagementNotOffered,
            "FAMILY_ENGAGEMENT_NOT_OFFERED",
        ),
        (
            Rejection::InvalidRecommendationId("R1".into()),
            "INVALID_RECOMMENDATION_ID",
        ),
        (
            Rejection::UnknownRecommendation("R1".into()),
            "UNKNOWN_RECOMMENDATION",
        ),
        (
            Rejection::AlreadyResponded("R1".into()),
            "ALREADY_RESPONDED",
        ),
        (Rejection::ReasonsRequired, "REASONS_REQUIRED"),
        (Rejection::ReportNotPublished, "REPORT_NOT_PUBLISHED"),
        (
            Rejection::RecommendationsUnanswered(vec![]),
            "RECOMMENDATIONS_UNANSWERED",
        ),
        (Rejection::ResponseNotPublished, "RESPONSE_NOT_PUBLISHED"),
        (
            Rejection::NoActionRequired("R1".into()),
            "NO_ACTION_REQUIRED",
        ),
        (
            Rejection::ActionAlreadyRecorded("R1".into()),
            "ACTION_ALREADY_RECORDED",
        ),
        (Rejection::ActionsOutstanding(vec![]), "ACTIONS_OUTSTANDING"),
        (Rejection::AudienceRequired, "AUDIENCE_REQUIRED"),
        (
            Rejection::LessonsNotDisseminated {
                reached: 0,
                required: 1,
            },
            "LESSONS_NOT_DISSEMINATED",
        ),
    ];
    for (rejection, code) in cases {
        assert_eq!(rejection.reason(), code, "{rejection:?}");
    }
}
