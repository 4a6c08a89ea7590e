//! The gRPC authorization matrix (reliability plan §6.4), cell by cell: every RPC the
//! descriptor set declares, called by every role of `platform::grpc::Role` and by a caller
//! without a token, with a well-formed request about objects that do not exist.
//!
//! Anonymous → UNAUTHENTICATED; a role outside the RPC's row → PERMISSION_DENIED; a role in it
//! → anything else (NOT_FOUND and FAILED_PRECONDITION are expected, the ids being new). The
//! denied cells of all RPCs run first, while nothing else writes: the three logs' counts are
//! taken before and after each RPC's denied cells, so each cell is proven to write no event.

use platform::grpc::Role;
use tonic::Code;

use crate::rpc::{self, Fill, Rpc, past_authorization};
use crate::stack::{Failures, Stack, code};

/// Who may call each RPC, written out from domain research §5.2 and each service's policy
/// (`access_policy` in `complaints::inspections`, `complaints::formal_complaints`,
/// `escalation::grpc` and `learning_reviews::grpc`). Every other role is denied.
///
/// Where the policy departs from §5.2 the row says so; the table states what the services do.
pub fn allowed(rpc: &str) -> Option<&'static [Role]> {
    use Role::*;
    const PROVIDERS: &[Role] = &[ProviderRepresentative, ResponsibleBody];
    const INSPECTION_READERS: &[Role] = &[
        ProviderRepresentative,
        ResponsibleBody,
        InspectionSystem,
        LeadInspector,
        TeamInspector,
        SeniorInspector,
        DutyDesk,
        ComplaintsInvestigator,
        ComplaintsDecisionMaker,
        Auditor,
    ];
    const COMPLAINT_READERS: &[Role] = &[
        ProviderRepresentative,
        ResponsibleBody,
        ComplaintsInvestigator,
        ComplaintsDecisionMaker,
        Auditor,
    ];
    const LEADERSHIP: &[Role] = &[Hmci, BoardChair];
    const OVERSIGHT: &[Role] = &[Hmci, BoardChair, RecommendationOwner, Auditor];
    Some(match rpc {
        // Inspection facts come from the partner inspection system; the lead records what
        // happens on site. §5.2 also lets a provider or responsible body *request* a pause and
        // the duty desk record its consultation: no RPC does either (the pause carries the
        // consultation, recorded by the lead or the inspection system).
        "Inspections.RecordInspectionNotified"
        | "Inspections.RecordDeferral"
        | "Inspections.IssueDraftReport"
        | "Inspections.RecordFactualAccuracyPoints"
        | "Inspections.IssueFinalReport"
        | "Inspections.PublishReport"
        | "Inspections.RecordPublicationDelayExplanation"
        | "Inspections.RecordTribunalAppealLodged"
        | "Inspections.RecordTribunalAppealConcluded" => &[InspectionSystem],
        "Inspections.RecordOnSiteStarted"
        | "Inspections.PauseInspection"
        | "Inspections.ResumeInspection"
        | "Inspections.RecordOnSiteEnded"
        | "Inspections.RecordWellbeingContact" => &[InspectionSystem, LeadInspector],
        // §5.2 lets team inspectors record concerns raised to them too; the policy does not.
        "Inspections.RaiseConcern" => &[ProviderRepresentative, ResponsibleBody, LeadInspector],
        "Inspections.AssignConcern" => &[SeniorInspector],
        // §5.2 says inspectors must not handle a concern about their own inspection; the lead
        // may resolve one raised on site with them (domain research §1.2 step 1), and the
        // handler refuses the lead any other channel.
        "Inspections.ResolveConcern" | "Inspections.LeaveConcernUnresolved" => {
            &[SeniorInspector, LeadInspector]
        }
        "Inspections.WithdrawConcern" => PROVIDERS,
        "Inspections.FlagWellbeingRisk" => &[SeniorInspector, LeadInspector, DutyDesk],
        "Inspections.GetInspectionCase"
        | "Inspections.GetConcern"
        | "Inspections.GetDayAfterRoute"
        | "Inspections.GetPublicationGate"
        | "Inspections.ListPauses" => INSPECTION_READERS,

        "Complaints.SubmitFormalComplaint" => &[
            ProviderRepresentative,
            ResponsibleBody,
            ComplaintsDecisionMaker,
        ],
        "Complaints.AcceptOutOfTimeComplaint"
        | "Complaints.ExtendResponseDeadline"
        | "Complaints.IssueComplaintResponse"
        | "Complaints.SelectForPeriodicReview" => &[ComplaintsDecisionMaker],
        "Complaints.AcknowledgeComplaint" => &[ComplaintsInvestigator, ComplaintsDecisionMaker],
        "Complaints.AddComplaintInformation" | "Complaints.WithdrawComplaint" => PROVIDERS,
        "Complaints.AssignInvestigator" | "Complaints.RecordInvestigationCall" => {
            &[ComplaintsInvestigator]
        }
        "Complaints.GetComplaint"
        | "Complaints.ListComplaints"
        | "Complaints.GetComplaintDeadlines" => COMPLAINT_READERS,
        // §5.2 also has the panel record observations: no RPC does.
        "Complaints.ListClosedComplaintSamples" => &[ClosedComplaintsPanelMember, Auditor],

        "Escalations.RequestEscalation" | "Escalations.WithdrawEscalation" => PROVIDERS,
        "Escalations.AcceptReferral"
        | "Escalations.DeclineReferral"
        | "Escalations.AppointAdjudicator" => &[IndependentBody],
        "Escalations.RequestCaseFile" | "Escalations.IssueFindings" => {
            &[IndependentBody, Adjudicator]
        }
        "Escalations.AcceptRecommendation"
        | "Escalations.DeclineRecommendation"
        | "Escalations.RecordImplementation"
        | "Escalations.CloseEscalation" => &[RecommendationOwner],
        "Escalations.GetEscalation" => &[
            ProviderRepresentative,
            ResponsibleBody,
            RecommendationOwner,
            ComplaintsDecisionMaker,
            Auditor,
        ],
        "Escalations.ListEscalationQueue" => &[IndependentBody, Adjudicator, Auditor],
        "Escalations.ListRecommendations" => &[
            RecommendationOwner,
            IndependentBody,
            Adjudicator,
            Hmci,
            BoardChair,
            Auditor,
        ],

        "LearningReviews.ReportIncident" => &[Hmci, BoardChair, FamilyLiaison],
        "LearningReviews.AssessIncident"
        | "LearningReviews.DecideNoReview"
        | "LearningReviews.ProposeLearningReview"
        | "LearningReviews.ApproveCommission"
        | "LearningReviews.CommissionLearningReview"
        | "LearningReviews.AppointReviewer"
        | "LearningReviews.PublishTermsOfReference"
        | "LearningReviews.GrantRecordsAccess"
        | "LearningReviews.PublishReport"
        | "LearningReviews.PublishResponse"
        | "LearningReviews.DisseminateLessons"
        | "LearningReviews.CloseLearningReview" => LEADERSHIP,
        "LearningReviews.RecordInterview"
        | "LearningReviews.RecordSpecialistAdvice"
        | "LearningReviews.SubmitReport" => &[IndependentReviewer],
        "LearningReviews.OfferFamilyEngagement" | "LearningReviews.RecordFamilyEngagement" => {
            &[FamilyLiaison, IndependentReviewer]
        }
        "LearningReviews.RespondToRecommendation"
        | "LearningReviews.PublishMonitoringReport"
        | "LearningReviews.RecordActionImplemented"
        | "LearningReviews.TransferAction" => &[Hmci, BoardChair, RecommendationOwner],
        "LearningReviews.GetIncident" => &[Hmci, BoardChair, FamilyLiaison, Auditor],
        "LearningReviews.GetLearningReview" => &[
            Hmci,
            BoardChair,
            RecommendationOwner,
            Auditor,
            FamilyLiaison,
            IndependentReviewer,
        ],
        "LearningReviews.ListLearningReviews" | "LearningReviews.ListRegister" => OVERSIGHT,
        _ => return None,
    })
}

/// Every RPC the table names, so a removed or renamed RPC is noticed as well as a new one.
const NAMED: usize = 79;

#[test]
fn every_rpc_of_the_descriptor_set_has_a_row_and_every_row_an_rpc() {
    let rpcs = rpc::rpcs();
    let missing: Vec<String> = rpcs
        .iter()
        .map(Rpc::name)
        .filter(|name| allowed(name).is_none())
        .collect();
    assert!(missing.is_empty(), "RPCs without a row: {missing:?}");
    assert_eq!(rpcs.len(), NAMED, "the table names {NAMED} RPCs");
    for rpc in &rpcs {
        let roles = allowed(&rpc.name()).unwrap_or_default();
        assert!(!roles.is_empty(), "{}: nobody may call it", rpc.name());
        assert!(
            !roles.contains(&Role::Operator),
            "{}: operators have ops-level access only (§5.2)",
            rpc.name()
        );
    }
}

/// Runs every cell of the RPCs of `service` (`Inspections`, …) against a stack of its own.
async fn cells_of(service: &str) {
    // Arrange
    let stack = Stack::start().await;
    let rpcs: Vec<Rpc> = rpc::rpcs()
        .into_iter()
        .filter(|rpc| rpc.method.parent_service().name() == service)
        .collect();
    assert!(!rpcs.is_empty(), "no service {service}");
    let mut failures = Failures::default();
    let mut cells = 0;
    // Act / Assert: the denied cells first, nothing else writing meanwhile.
    for rpc in &rpcs {
        let roles = allowed(&rpc.name()).unwrap_or_default();
        let before = stack.events().await;
        let callers = std::iter::once(None).chain(
            Role::ALL
                .into_iter()
                .filter(|r| !roles.contains(r))
                .map(Some),
        );
        for caller in callers {
            cells += 1;
            let request = rpc::well_formed(rpc, &Fill::new());
            let got = code(&stack.call(rpc, &request, caller).await);
            let want = match caller {
                None => Code::Unauthenticated,
                Some(_) => Code::PermissionDenied,
            };
            failures.check(got == want, || {
                format!("{} as {}: {got:?}, want {want:?}", rpc.name(), who(caller))
            });
        }
        let after = stack.events().await;
        failures.check(before == after, || {
            format!(
                "{}: denied calls wrote events {before:?} → {after:?}",
                rpc.name()
            )
        });
    }
    for rpc in &rpcs {
        for role in allowed(&rpc.name()).unwrap_or_default() {
            cells += 1;
            let request = rpc::well_formed(rpc, &Fill::new());
            let result = stack.call(rpc, &request, Some(*role)).await;
            let got = code(&result);
            failures.check(past_authorization(got) && got != Code::Internal, || {
                format!(
                    "{} as {role}: {result:?}, want past authorization",
                    rpc.name()
                )
            });
        }
    }
    stack.assert_alive(service).await;
    failures.assert_none(cells);
}

pub fn who(caller: Option<Role>) -> String {
    caller.map_or_else(|| "anonymous".to_owned(), |role| role.to_string())
}

#[tokio::test]
async fn every_inspections_rpc_answers_every_caller_as_the_table_says() {
    cells_of("Inspections").await;
}

#[tokio::test]
async fn every_complaints_rpc_answers_every_caller_as_the_table_says() {
    cells_of("Complaints").await;
}

#[tokio::test]
async fn every_escalations_rpc_answers_every_caller_as_the_table_says() {
    cells_of("Escalations").await;
}

#[tokio::test]
async fn every_learning_reviews_rpc_answers_every_caller_as_the_table_says() {
    cells_of("LearningReviews").await;
}
