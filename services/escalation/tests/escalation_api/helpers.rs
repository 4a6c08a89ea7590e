//! Shared set-up: the service, a client per role, complaint facts published as the complaints
//! context would, and readers of the feed.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use escalation::domain::{Ground, OutOfRemitAsk};
use escalation::testing::{TestApp, spawn_app};
use futures_util::StreamExt;
use jiff::Timestamp;
use platform::grpc::Role;
use proto::complaints::v1 as complaints;
use proto::escalation::v1;
use proto::escalation::v1::escalations_client::EscalationsClient;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use uuid::Uuid;

/// The provider the scenarios' complaints are from.
pub const PROVIDER: &str = "URN-100001";
/// Another provider.
pub const OTHER_PROVIDER: &str = "URN-200002";

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

/// The last instant of a day in Europe/London.
pub fn end_of(date: &str) -> Timestamp {
    platform::calendar::end_of_day(date.parse().expect("a valid date")).expect("a day")
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

/// The service with a handle on a client.
pub struct Harness {
    pub app: TestApp,
    pub client: EscalationsClient<Channel>,
}

impl Harness {
    pub async fn start() -> Harness {
        let app = spawn_app().await;
        let client = EscalationsClient::new(app.channel().await);
        Harness { app, client }
    }

    pub fn token(&self, role: Role) -> String {
        let provider = role.acts_for_provider().then_some(PROVIDER);
        self.app.token(role, provider)
    }

    pub fn provider(&self) -> String {
        self.app.token(Role::ProviderRepresentative, Some(PROVIDER))
    }

    pub fn body(&self) -> String {
        self.app
            .token_for("icaso:desk-1", Role::IndependentBody, None)
    }

    pub fn adjudicator(&self) -> String {
        self.app
            .token_for("icaso:adjudicator-7", Role::Adjudicator, None)
    }

    pub fn owner(&self) -> String {
        self.app
            .token_for("ofsted:director-3", Role::RecommendationOwner, None)
    }

    /// Records a complaint submitted on 3 July 2025 after a draft of 30 June (S4), as the
    /// complaints context publishes it.
    pub async fn submitted(&self, complaint_id: Uuid) {
        self.submitted_by(complaint_id, PROVIDER).await;
    }

    pub async fn submitted_by(&self, complaint_id: Uuid, provider: &str) {
        let event = complaints::ComplaintSubmitted {
            complaint_id: complaint_id.to_string(),
            inspection_id: Uuid::now_v7().to_string(),
            remit: complaints::Remit::Schools as i32,
            complainant_ref: "vault:0190aaaa-contact".into(),
            grounds: vec![complaints::ComplaintGround::InspectorConduct as i32],
            doc_refs: vec!["doc:complaint-letter".into(), "doc:evidence-1".into()],
            submitted_at: ts(london("2025-07-03T10:00")),
            route: complaints::ComplaintRoute::DraftStage as i32,
            draft_issued_at: ts(london("2025-06-30T09:00")),
            window_closes_at: ts(end_of("2025-07-07")),
            acknowledgement_due_at: ts(end_of("2025-07-07")),
            policy_version: "era-c-2024-04".into(),
            calendar_version: "england-and-wales-2020-2030".into(),
            provider_id: provider.into(),
            last_onsite_date: "2025-06-11".into(),
            ..Default::default()
        };
        self.app.publish_complaint_event(complaint_id, &event).await;
    }

    /// Ofsted's response on 14 August 2025 (not upheld); the escalation window closes at the
    /// end of 14 November 2025.
    pub async fn answered(&self, complaint_id: Uuid) {
        let event = complaints::EscalationRightsNotified {
            complaint_id: complaint_id.to_string(),
            route: complaints::EscalationRoute::IndependentBody as i32,
            notified_at: ts(london("2025-08-14T15:00")),
            window_closes_at: ts(end_of("2025-11-14")),
            policy_version: "era-c-2024-04".into(),
            calendar_version: "england-and-wales-2020-2030".into(),
            outcome: complaints::ComplaintOutcome::NotUpheld as i32,
            response_doc_ref: "doc:response-letter".into(),
        };
        self.app.publish_complaint_event(complaint_id, &event).await;
    }

    pub async fn withdrawn(&self, complaint_id: Uuid) {
        let event = complaints::ComplaintWithdrawn {
            complaint_id: complaint_id.to_string(),
            reason: complaints::WithdrawalReason::ConcernsResolved as i32,
            withdrawn_by_ref: "vault:0190aaaa-contact".into(),
            withdrawn_at: ts(london("2025-07-20T11:00")),
        };
        self.app.publish_complaint_event(complaint_id, &event).await;
    }

    /// A complaint answered and ready to escalate: submitted, answered, copied.
    pub async fn answered_complaint(&self) -> Uuid {
        let complaint_id = Uuid::now_v7();
        self.submitted(complaint_id).await;
        self.answered(complaint_id).await;
        self.app.settle().await;
        complaint_id
    }

    /// Requests escalation of `complaint_id` with `grounds` and `asks`.
    pub async fn request(
        &mut self,
        complaint_id: Uuid,
        grounds: &[Ground],
        asks: &[OutOfRemitAsk],
    ) -> Result<v1::RequestEscalationResponse, Status> {
        let token = self.provider();
        self.request_as(
            &token,
            &Uuid::now_v7().to_string(),
            complaint_id,
            grounds,
            asks,
        )
        .await
    }

    pub async fn request_as(
        &mut self,
        token: &str,
        request_id: &str,
        complaint_id: Uuid,
        grounds: &[Ground],
        asks: &[OutOfRemitAsk],
    ) -> Result<v1::RequestEscalationResponse, Status> {
        self.client
            .request_escalation(with_token(
                v1::RequestEscalationRequest {
                    request_id: request_id.to_owned(),
                    complaint_id: complaint_id.to_string(),
                    grounds: grounds.iter().map(|g| g.to_proto()).collect(),
                    out_of_remit_asks: asks.iter().map(|a| a.to_proto()).collect(),
                },
                token,
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// An escalation referred to the body (S10's request on 1 September 2025).
    pub async fn referred(&mut self) -> (Uuid, v1::RequestEscalationResponse) {
        let complaint_id = self.answered_complaint().await;
        let answer = self
            .request(
                complaint_id,
                &[Ground::FailureToFollowProcedures, Ground::Discourtesy],
                &[OutOfRemitAsk::OverturnJudgement],
            )
            .await
            .expect("the escalation goes ahead");
        (complaint_id, answer)
    }

    /// An escalation accepted by the body with an adjudicator appointed.
    pub async fn appointed(&mut self) -> String {
        let (_, answer) = self.referred().await;
        let id = answer.escalation_id;
        self.accept(&id).await.expect("accepted");
        self.appoint(&id, "icaso:adjudicator-7")
            .await
            .expect("appointed");
        id
    }

    pub async fn accept(&mut self, id: &str) -> Result<v1::AcceptReferralResponse, Status> {
        let token = self.body();
        self.client
            .accept_referral(with_token(
                v1::AcceptReferralRequest {
                    request_id: Uuid::now_v7().to_string(),
                    escalation_id: id.to_owned(),
                },
                &token,
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn appoint(&mut self, id: &str, adjudicator: &str) -> Result<(), Status> {
        let token = self.body();
        self.client
            .appoint_adjudicator(with_token(
                v1::AppointAdjudicatorRequest {
                    request_id: Uuid::now_v7().to_string(),
                    escalation_id: id.to_owned(),
                    adjudicator_ref: adjudicator.to_owned(),
                },
                &token,
            ))
            .await
            .map(|_| ())
    }

    pub async fn case_file(
        &mut self,
        token: &str,
        id: &str,
    ) -> Result<v1::RequestCaseFileResponse, Status> {
        self.client
            .request_case_file(with_token(
                v1::RequestCaseFileRequest {
                    request_id: Uuid::now_v7().to_string(),
                    escalation_id: id.to_owned(),
                },
                token,
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn findings(
        &mut self,
        id: &str,
        recommendations: Vec<v1::FindingsRecommendation>,
    ) -> Result<(), Status> {
        let token = self.adjudicator();
        self.client
            .issue_findings(with_token(
                v1::IssueFindingsRequest {
                    request_id: Uuid::now_v7().to_string(),
                    escalation_id: id.to_owned(),
                    findings_ref: "icaso:findings-1".into(),
                    upheld_grounds: vec![Ground::FailureToFollowProcedures.to_proto()],
                    recommendations,
                },
                &token,
            ))
            .await
            .map(|_| ())
    }

    pub async fn accept_recommendation(
        &mut self,
        id: &str,
        recommendation: &str,
        due_on: &str,
    ) -> Result<(), Status> {
        let token = self.owner();
        self.client
            .accept_recommendation(with_token(
                v1::AcceptRecommendationRequest {
                    request_id: Uuid::now_v7().to_string(),
                    escalation_id: id.to_owned(),
                    recommendation_id: recommendation.to_owned(),
                    planned_action_ref: format!("doc:plan-{recommendation}"),
                    due_on: due_on.to_owned(),
                },
                &token,
            ))
            .await
            .map(|_| ())
    }

    pub async fn decline_recommendation(
        &mut self,
        id: &str,
        recommendation: &str,
        public_reason_ref: &str,
        statement_ref: &str,
    ) -> Result<(), Status> {
        let token = self.owner();
        self.client
            .decline_recommendation(with_token(
                v1::DeclineRecommendationRequest {
                    request_id: Uuid::now_v7().to_string(),
                    escalation_id: id.to_owned(),
                    recommendation_id: recommendation.to_owned(),
                    public_reason_ref: public_reason_ref.to_owned(),
                    statement_ref: statement_ref.to_owned(),
                },
                &token,
            ))
            .await
            .map(|_| ())
    }

    pub async fn implemented(&mut self, id: &str, recommendation: &str) -> Result<(), Status> {
        let token = self.owner();
        self.client
            .record_implementation(with_token(
                v1::RecordImplementationRequest {
                    request_id: Uuid::now_v7().to_string(),
                    escalation_id: id.to_owned(),
                    recommendation_id: recommendation.to_owned(),
                    evidence_ref: format!("doc:evidence-{recommendation}"),
                },
                &token,
            ))
            .await
            .map(|_| ())
    }

    pub async fn close(&mut self, id: &str) -> Result<(), Status> {
        let token = self.owner();
        self.client
            .close_escalation(with_token(
                v1::CloseEscalationRequest {
                    request_id: Uuid::now_v7().to_string(),
                    escalation_id: id.to_owned(),
                },
                &token,
            ))
            .await
            .map(|_| ())
    }

    pub async fn withdraw(&mut self, id: &str) -> Result<(), Status> {
        let token = self.provider();
        self.client
            .withdraw_escalation(with_token(
                v1::WithdrawEscalationRequest {
                    request_id: Uuid::now_v7().to_string(),
                    escalation_id: id.to_owned(),
                },
                &token,
            ))
            .await
            .map(|_| ())
    }

    pub async fn get(&mut self, token: &str, id: &str) -> Result<v1::Escalation, Status> {
        self.app.settle().await;
        self.client
            .get_escalation(with_token(
                v1::GetEscalationRequest {
                    escalation_id: id.to_owned(),
                    consistency: None,
                },
                token,
            ))
            .await
            .map(|r| r.into_inner().escalation.expect("an escalation"))
    }

    /// How many events the escalation store holds.
    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(self.app.db_pool())
            .await
            .expect("count")
    }

    /// Translates and publishes everything, then reads every message on the feed stream.
    pub async fn feed(&self) -> Vec<jetstream::Message> {
        self.app.settle().await;
        self.app.relay_once().await;
        read_stream(&self.app.js, &self.app.namespace.stream_name("feed")).await
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

/// A recommendation for findings.
pub fn recommendation(id: &str, kind: v1::RecommendationKind) -> v1::FindingsRecommendation {
    v1::FindingsRecommendation {
        recommendation_id: id.to_owned(),
        kind: kind as i32,
        text_ref: format!("icaso:text-{id}"),
    }
}
