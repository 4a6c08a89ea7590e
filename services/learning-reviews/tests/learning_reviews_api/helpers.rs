//! Shared set-up: the service, tokens for the people of S13, facts published as the complaints
//! and escalation contexts would, and one helper per RPC.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use futures_util::StreamExt;
use jiff::Timestamp;
use learning_reviews::testing::{TestApp, spawn_app};
use platform::grpc::Role;
use proto::complaints::v1 as complaints;
use proto::escalation::v1 as escalation;
use proto::learning_reviews::v1;
use proto::learning_reviews::v1::learning_reviews_client::LearningReviewsClient;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use uuid::Uuid;

pub const HMCI: &str = "staff:hmci";
pub const CHAIR: &str = "staff:board-chair";
pub const LIAISON: &str = "staff:family-liaison-2";
pub const OWNER: &str = "staff:director-strategy";
/// The eligible reviewer.
pub const REVIEWER: &str = "expert:reviewer-1";
/// INS-5's lead and one of its team inspectors.
pub const INS5_LEAD: &str = "staff:inspector-50";
pub const INS5_INSPECTOR: &str = "staff:inspector-51";
/// The investigator of INS-5's open complaint.
pub const INS5_INVESTIGATOR: &str = "staff:investigator-9";

pub fn ts(at: Timestamp) -> Option<prost_types::Timestamp> {
    Some(platform::aggregate::timestamp(at))
}

/// `YYYY-MM-DDTHH:MM` in Europe/London.
pub fn london(text: &str) -> Timestamp {
    jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M", text)
        .expect("a valid date-time")
        .in_tz("Europe/London")
        .expect("a valid zoned time")
        .timestamp()
}

/// A request with a bearer token.
pub fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(token).expect("a valid header"),
    );
    request
}

/// The `ErrorInfo` reason of a status.
pub fn reason(status: &Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

/// Asserts a FAILED_PRECONDITION with `expected` as reason.
pub fn assert_rule(result: Result<impl std::fmt::Debug, Status>, expected: &str) {
    let status = result.expect_err("the rule should refuse the command");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason(&status), expected, "{status:?}");
}

/// A fresh request id.
pub fn key() -> String {
    Uuid::now_v7().to_string()
}

/// The service with a handle on a client.
pub struct Harness {
    pub app: TestApp,
    pub client: LearningReviewsClient<Channel>,
}

impl Harness {
    pub async fn start() -> Harness {
        let app = spawn_app().await;
        let client = LearningReviewsClient::new(app.channel().await);
        Harness { app, client }
    }

    pub fn token(&self, role: Role) -> String {
        let provider = role.acts_for_provider().then_some("URN-100001");
        self.app.token(role, provider)
    }

    pub fn hmci(&self) -> String {
        self.app.token_for(HMCI, Role::Hmci, None)
    }

    pub fn chair(&self) -> String {
        self.app.token_for(CHAIR, Role::BoardChair, None)
    }

    pub fn liaison(&self) -> String {
        self.app.token_for(LIAISON, Role::FamilyLiaison, None)
    }

    pub fn owner(&self) -> String {
        self.app.token_for(OWNER, Role::RecommendationOwner, None)
    }

    pub fn reviewer_token(&self, reviewer_ref: &str) -> String {
        self.app
            .token_for(reviewer_ref, Role::IndependentReviewer, None)
    }

    pub fn reviewer(&self) -> String {
        self.reviewer_token(REVIEWER)
    }

    pub fn auditor(&self) -> String {
        self.app.token_for("staff:auditor", Role::Auditor, None)
    }

    // ---- facts from the complaints context ----

    /// INS-5 was notified with its lead and a team inspector (as the complaints relay publishes
    /// `InspectionNotified`).
    pub async fn inspection_notified(&self, inspection_id: Uuid) {
        let event = complaints::InspectionNotified {
            inspection_id: inspection_id.to_string(),
            remit: complaints::Remit::Schools as i32,
            lead_inspector_ref: INS5_LEAD.into(),
            team_inspector_refs: vec![INS5_INSPECTOR.into()],
            notified_at: ts(london("2025-03-03T09:00")),
            on_site_starts_on: "2025-03-04".into(),
            policy_version: "era-c-2024-04".into(),
            provider_id: "URN-100001".into(),
        };
        self.app
            .publish_event("complaints", inspection_id, &event)
            .await;
    }

    /// An open formal complaint about the inspection, with its investigator assigned.
    pub async fn complaint_investigated(&self, inspection_id: Uuid) -> Uuid {
        let complaint_id = Uuid::now_v7();
        let submitted = complaints::ComplaintSubmitted {
            complaint_id: complaint_id.to_string(),
            inspection_id: inspection_id.to_string(),
            remit: complaints::Remit::Schools as i32,
            complainant_ref: "vault:contact-1".into(),
            submitted_at: ts(london("2025-03-12T10:00")),
            provider_id: "URN-100001".into(),
            ..Default::default()
        };
        self.app
            .publish_event("complaints", complaint_id, &submitted)
            .await;
        let assigned = complaints::InvestigatorAssigned {
            complaint_id: complaint_id.to_string(),
            investigator_ref: INS5_INVESTIGATOR.into(),
            assigned_at: ts(london("2025-03-13T10:00")),
        };
        self.app
            .publish_event("complaints", complaint_id, &assigned)
            .await;
        complaint_id
    }

    /// INS-5 with its team and an open, investigated complaint, copied.
    pub async fn ins5(&self) -> Uuid {
        let inspection_id = Uuid::now_v7();
        self.inspection_notified(inspection_id).await;
        self.complaint_investigated(inspection_id).await;
        self.app.settle().await;
        inspection_id
    }

    // ---- facts from the escalation context ----

    pub async fn publish_escalation<M: prost::Message + prost::Name>(
        &self,
        escalation_id: Uuid,
        event: &M,
    ) -> Uuid {
        self.app
            .publish_event("escalation", escalation_id, event)
            .await
    }

    /// An escalation requested, with its case reference, and findings with `R1` (apology) and
    /// `R2` (process improvement).
    pub async fn escalation_with_findings(&self, case_ref: &str) -> Uuid {
        let escalation_id = Uuid::now_v7();
        self.publish_escalation(
            escalation_id,
            &escalation::EscalationRequested {
                escalation_id: escalation_id.to_string(),
                complaint_id: Uuid::now_v7().to_string(),
                inspection_id: Uuid::now_v7().to_string(),
                requested_by_ref: "vault:provider-rep-1".into(),
                grounds: vec![escalation::Ground::FailureToFollowProcedures as i32],
                requested_at: ts(london("2025-09-01T09:00")),
                case_ref: case_ref.into(),
                ..Default::default()
            },
        )
        .await;
        self.publish_escalation(
            escalation_id,
            &escalation::AdjudicationFindingsIssued {
                escalation_id: escalation_id.to_string(),
                findings_ref: "icaso:findings-1".into(),
                upheld_grounds: vec![escalation::Ground::FailureToFollowProcedures as i32],
                recommendations: vec![
                    escalation::Recommendation {
                        recommendation_id: "R1".into(),
                        kind: escalation::RecommendationKind::Apology as i32,
                        text_ref: "icaso:text-R1".into(),
                    },
                    escalation::Recommendation {
                        recommendation_id: "R2".into(),
                        kind: escalation::RecommendationKind::ProcessImprovement as i32,
                        text_ref: "icaso:text-R2".into(),
                    },
                ],
                issued_by_ref: "icaso:adjudicator-7".into(),
                issued_at: ts(london("2025-10-15T12:00")),
            },
        )
        .await;
        escalation_id
    }

    // ---- commands ----

    pub async fn report_as(
        &mut self,
        token: &str,
        request_id: &str,
        related: &[Uuid],
    ) -> Result<v1::ReportIncidentResponse, Status> {
        self.client
            .report_incident(with_token(
                v1::ReportIncidentRequest {
                    request_id: request_id.to_owned(),
                    source: v1::IncidentSource::ResponsibleBody as i32,
                    category: v1::IncidentCategory::Death as i32,
                    related_inspection_ids: related.iter().map(Uuid::to_string).collect(),
                    account_ref: "vault:account-1".into(),
                },
                token,
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// An incident reported about `related`; returns its id.
    pub async fn report(&mut self, related: &[Uuid]) -> String {
        let token = self.liaison();
        self.report_as(&token, &key(), related)
            .await
            .expect("reported")
            .incident_id
    }

    pub async fn assess(&mut self, incident_id: &str) -> Result<(), Status> {
        let token = self.hmci();
        self.client
            .assess_incident(with_token(
                v1::AssessIncidentRequest {
                    request_id: key(),
                    incident_id: incident_id.to_owned(),
                    assessment_ref: "doc:assessment-1".into(),
                },
                &token,
            ))
            .await
            .map(drop)
    }

    pub async fn decide_no_review(
        &mut self,
        incident_id: &str,
        reasons_ref: &str,
    ) -> Result<v1::DecideNoReviewResponse, Status> {
        let token = self.chair();
        self.client
            .decide_no_review(with_token(
                v1::DecideNoReviewRequest {
                    request_id: key(),
                    incident_id: incident_id.to_owned(),
                    reasons_ref: reasons_ref.to_owned(),
                },
                &token,
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// The S13 proposal: the inspection's judgements out of scope.
    pub fn proposal(&self, incident_id: &str) -> v1::ProposeLearningReviewRequest {
        v1::ProposeLearningReviewRequest {
            request_id: key(),
            incident_id: incident_id.to_owned(),
            terms_of_reference_ref: "doc:terms-of-reference-1".into(),
            scope_in: vec![
                v1::ScopeItem::ResponseToIncident as i32,
                v1::ScopeItem::CommunicationsAndEngagement as i32,
                v1::ScopeItem::SupportToStaffAndInspectors as i32,
            ],
            scope_out: vec![v1::ScopeItem::InspectionJudgements as i32],
        }
    }

    pub async fn propose_request(
        &mut self,
        request: v1::ProposeLearningReviewRequest,
    ) -> Result<v1::ProposeLearningReviewResponse, Status> {
        let token = self.hmci();
        self.client
            .propose_learning_review(with_token(request, &token))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn propose(&mut self, incident_id: &str) -> String {
        let request = self.proposal(incident_id);
        self.propose_request(request)
            .await
            .expect("proposed")
            .review_id
    }

    pub async fn approve(&mut self, token: &str, review_id: &str) -> Result<(), Status> {
        self.client
            .approve_commission(with_token(
                v1::ApproveCommissionRequest {
                    request_id: key(),
                    review_id: review_id.to_owned(),
                },
                token,
            ))
            .await
            .map(drop)
    }

    pub async fn commission_as(
        &mut self,
        request_id: &str,
        review_id: &str,
    ) -> Result<v1::CommissionLearningReviewResponse, Status> {
        let token = self.hmci();
        self.client
            .commission_learning_review(with_token(
                v1::CommissionLearningReviewRequest {
                    request_id: request_id.to_owned(),
                    review_id: review_id.to_owned(),
                },
                &token,
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn commission(&mut self, review_id: &str) -> Result<(), Status> {
        self.commission_as(&key(), review_id).await.map(drop)
    }

    pub async fn appoint(
        &mut self,
        review_id: &str,
        reviewer_ref: &str,
        prior_roles: &[v1::PriorRole],
    ) -> Result<(), Status> {
        let token = self.chair();
        self.client
            .appoint_reviewer(with_token(
                v1::AppointReviewerRequest {
                    request_id: key(),
                    review_id: review_id.to_owned(),
                    reviewer_ref: reviewer_ref.to_owned(),
                    independence_declaration_ref: format!("doc:declaration-{reviewer_ref}"),
                    prior_roles: prior_roles.iter().map(|r| *r as i32).collect(),
                },
                &token,
            ))
            .await
            .map(drop)
    }

    pub async fn publish_terms(&mut self, review_id: &str) -> Result<(), Status> {
        let token = self.hmci();
        self.client
            .publish_terms_of_reference(with_token(
                v1::PublishTermsOfReferenceRequest {
                    request_id: key(),
                    review_id: review_id.to_owned(),
                },
                &token,
            ))
            .await
            .map(drop)
    }

    /// A review of an incident about `related`, commissioned with both approvals.
    pub async fn commissioned(&mut self, related: &[Uuid]) -> (String, String) {
        let incident_id = self.report(related).await;
        self.assess(&incident_id).await.expect("assessed");
        let review_id = self.propose(&incident_id).await;
        let (hmci, chair) = (self.hmci(), self.chair());
        self.approve(&hmci, &review_id)
            .await
            .expect("HMCI approves");
        self.approve(&chair, &review_id)
            .await
            .expect("the Chair approves");
        self.commission(&review_id).await.expect("commissioned");
        (incident_id, review_id)
    }

    /// A review with the eligible reviewer appointed and its terms published.
    pub async fn gathering(&mut self, related: &[Uuid]) -> String {
        let (_, review_id) = self.commissioned(related).await;
        self.appoint(&review_id, REVIEWER, &[v1::PriorRole::FormerHmci])
            .await
            .expect("appointed");
        self.publish_terms(&review_id).await.expect("published");
        review_id
    }

    pub async fn submit(
        &mut self,
        token: &str,
        review_id: &str,
        recommendations: &[&str],
    ) -> Result<(), Status> {
        self.client
            .submit_report(with_token(
                v1::SubmitReportRequest {
                    request_id: key(),
                    review_id: review_id.to_owned(),
                    report_ref: "doc:report-1".into(),
                    recommendations: recommendations
                        .iter()
                        .map(|id| v1::LearningRecommendation {
                            recommendation_id: (*id).to_owned(),
                            text_ref: format!("doc:report-1#{id}"),
                        })
                        .collect(),
                },
                token,
            ))
            .await
            .map(drop)
    }

    pub async fn publish_report(&mut self, review_id: &str) -> Result<(), Status> {
        let token = self.hmci();
        self.client
            .publish_report(with_token(
                v1::PublishReportRequest {
                    request_id: key(),
                    review_id: review_id.to_owned(),
                    published_ref: "pub:report-1".into(),
                },
                &token,
            ))
            .await
            .map(drop)
    }

    pub async fn respond(
        &mut self,
        review_id: &str,
        recommendation_id: &str,
        response: v1::RecommendationResponse,
        reasons_ref: &str,
    ) -> Result<(), Status> {
        let token = self.owner();
        self.client
            .respond_to_recommendation(with_token(
                v1::RespondToRecommendationRequest {
                    request_id: key(),
                    review_id: review_id.to_owned(),
                    recommendation_id: recommendation_id.to_owned(),
                    response: response as i32,
                    reasons_ref: reasons_ref.to_owned(),
                },
                &token,
            ))
            .await
            .map(drop)
    }

    pub async fn publish_response(&mut self, review_id: &str) -> Result<(), Status> {
        let token = self.chair();
        self.client
            .publish_response(with_token(
                v1::PublishResponseRequest {
                    request_id: key(),
                    review_id: review_id.to_owned(),
                    response_ref: "pub:response-1".into(),
                },
                &token,
            ))
            .await
            .map(drop)
    }

    pub async fn implemented(
        &mut self,
        review_id: &str,
        recommendation_id: &str,
    ) -> Result<(), Status> {
        let token = self.owner();
        self.client
            .record_action_implemented(with_token(
                v1::RecordActionImplementedRequest {
                    request_id: key(),
                    review_id: review_id.to_owned(),
                    recommendation_id: recommendation_id.to_owned(),
                    evidence_ref: format!("doc:evidence-{recommendation_id}"),
                },
                &token,
            ))
            .await
            .map(drop)
    }

    pub async fn transfer(
        &mut self,
        review_id: &str,
        recommendation_id: &str,
    ) -> Result<(), Status> {
        let token = self.owner();
        self.client
            .transfer_action(with_token(
                v1::TransferActionRequest {
                    request_id: key(),
                    review_id: review_id.to_owned(),
                    recommendation_id: recommendation_id.to_owned(),
                    transferred_to_ref: "doc:improvement-plan".into(),
                },
                &token,
            ))
            .await
            .map(drop)
    }

    pub async fn disseminate(
        &mut self,
        review_id: &str,
        audiences: &[v1::Audience],
    ) -> Result<(), Status> {
        let token = self.hmci();
        self.client
            .disseminate_lessons(with_token(
                v1::DisseminateLessonsRequest {
                    request_id: key(),
                    review_id: review_id.to_owned(),
                    audiences: audiences.iter().map(|a| *a as i32).collect(),
                    lessons_ref: "doc:lessons-1".into(),
                },
                &token,
            ))
            .await
            .map(drop)
    }

    pub async fn close(&mut self, review_id: &str) -> Result<(), Status> {
        let token = self.hmci();
        self.client
            .close_learning_review(with_token(
                v1::CloseLearningReviewRequest {
                    request_id: key(),
                    review_id: review_id.to_owned(),
                },
                &token,
            ))
            .await
            .map(drop)
    }

    /// A review with a published report (`recommendations`), each answered as `responses`
    /// says, and the response published.
    pub async fn responded(
        &mut self,
        related: &[Uuid],
        responses: &[(&str, v1::RecommendationResponse)],
    ) -> String {
        let review_id = self.gathering(related).await;
        let ids: Vec<&str> = responses.iter().map(|(id, _)| *id).collect();
        let token = self.reviewer();
        self.submit(&token, &review_id, &ids)
            .await
            .expect("submitted");
        self.publish_report(&review_id).await.expect("published");
        for (id, response) in responses {
            let reasons = if *response == v1::RecommendationResponse::Accepted {
                ""
            } else {
                "doc:reasons"
            };
            self.respond(&review_id, id, *response, reasons)
                .await
                .expect("answered");
        }
        self.publish_response(&review_id).await.expect("published");
        review_id
    }

    // ---- queries ----

    pub async fn get_review(
        &mut self,
        token: &str,
        review_id: &str,
    ) -> Result<v1::LearningReview, Status> {
        self.app.settle().await;
        self.client
            .get_learning_review(with_token(
                v1::GetLearningReviewRequest {
                    review_id: review_id.to_owned(),
                    consistency: None,
                },
                token,
            ))
            .await
            .map(|r| r.into_inner().review.expect("a review"))
    }

    pub async fn get_incident(&mut self, incident_id: &str) -> v1::Incident {
        self.app.settle().await;
        let token = self.auditor();
        self.client
            .get_incident(with_token(
                v1::GetIncidentRequest {
                    incident_id: incident_id.to_owned(),
                    consistency: None,
                },
                &token,
            ))
            .await
            .expect("the incident")
            .into_inner()
            .incident
            .expect("an incident")
    }

    pub async fn register(&mut self, request: v1::ListRegisterRequest) -> v1::ListRegisterResponse {
        self.app.settle().await;
        let token = self.auditor();
        self.client
            .list_register(with_token(request, &token))
            .await
            .expect("the register")
            .into_inner()
    }

    /// How many events the learning-reviews store holds.
    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(self.app.db_pool())
            .await
            .expect("count")
    }

    /// The event types of one stream, in order.
    pub async fn stream_events(&self, stream_id: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT event_type FROM events WHERE stream_id = $1 ORDER BY version")
            .bind(Uuid::parse_str(stream_id).expect("a uuid"))
            .fetch_all(self.app.db_pool())
            .await
            .expect("events")
    }
}

/// Every message of a stream, in order, through an ephemeral ordered consumer.
pub async fn read_stream(js: &jetstream::Context, stream: &str) -> Vec<jetstream::Message> {
    let stream = js.get_stream(stream).await.expect("the stream exists");
    let pending = stream.cached_info().state.messages;
    if pending == 0 {
        return Vec::new();
    }
    let consumer = stream
        .create_consumer(pull::OrderedConfig::default())
        .await
        .expect("an ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut out = Vec::new();
    while (out.len() as u64) < pending {
        let next = tokio::time::timeout(Duration::from_secs(5), messages.next())
            .await
            .expect("the stream delivers its messages")
            .expect("a message")
            .expect("a good message");
        out.push(next);
    }
    out
}

/// A header's value.
pub fn header<'a>(message: &'a jetstream::Message, name: &str) -> Option<&'a str> {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(async_nats::HeaderValue::as_str)
}
