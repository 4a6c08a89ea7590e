//! The stack every flow runs on: a migrated database, a private NATS server and the `redress`
//! binary serving all three services, with clients, tokens and one complaint's journey from
//! the inspection to the closed escalation.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull};
use futures_util::StreamExt;
use jiff::{SignedDuration, Timestamp};
use platform::grpc::{Role, TokenIssuer};
use platform::testing::{NatsServer, TestDb, unique_prefix};
use proto::complaints::v1 as complaints;
use proto::complaints::v1::complaints_client::ComplaintsClient;
use proto::complaints::v1::inspections_client::InspectionsClient;
use proto::escalation::v1 as escalation;
use proto::escalation::v1::escalations_client::EscalationsClient;
use proto::learning_reviews::v1::learning_reviews_client::LearningReviewsClient;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Status};
use uuid::Uuid;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_redress");
pub(crate) const VAULT_KEY: &str =
    "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
/// The complainant's details the feed must never carry.
pub(crate) const NAME: &str = "Ruth Example-Headteacher";
pub(crate) const EMAIL: &str = "ruth.example@school.example";
pub(crate) const NARRATIVE: &str =
    "The lead inspector dismissed our safeguarding log without reading it.";

/// The running binary.
pub(crate) struct Process {
    pub(crate) child: Child,
    pub(crate) port: u16,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What every run of the binary shares: database, NATS, prefix, signing key.
pub(crate) struct Stack {
    pub(crate) db: TestDb,
    pub(crate) nats: NatsServer,
    pub(crate) prefix: String,
    pub(crate) issuer: TokenIssuer,
    _keys: tempfile::TempDir,
    pub(crate) key_file: std::path::PathBuf,
}

impl Stack {
    pub(crate) async fn new() -> Stack {
        let db = TestDb::create().await.unwrap();
        let nats = NatsServer::start().await.unwrap();
        let migrate = Command::new(BIN)
            .arg("migrate")
            .env("DATABASE_URL", db.url())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(migrate.success());
        let keys = tempfile::tempdir().unwrap();
        let (private, public) = platform::grpc::generate_dev_keypair().unwrap();
        let key_file = keys.path().join("test.pem");
        std::fs::write(&key_file, public).unwrap();
        let issuer = TokenIssuer::new(
            &private,
            "test",
            "https://identity.redress.local",
            "redress",
        )
        .unwrap();
        Stack {
            db,
            nats,
            prefix: unique_prefix(),
            issuer,
            _keys: keys,
            key_file,
        }
    }

    pub(crate) fn start(&self) -> Process {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(BIN)
            .args(["serve", "--grpc-addr"])
            .arg(format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", self.db.url())
            .env("NATS_URL", self.nats.url())
            .env("REDRESS_NATS_PREFIX", &self.prefix)
            .env("REDRESS_VAULT_KEY", VAULT_KEY)
            .env("REDRESS_JWT_PUBLIC_KEYS", &self.key_file)
            .env("REDRESS_DB_MAX_CONNECTIONS", "4")
            .env_remove("REDRESS_METRICS_ADDR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Process { child, port }
    }

    pub(crate) fn token(&self, subject: &str, role: Role, provider: Option<&str>) -> String {
        let token = self
            .issuer
            .issue(subject, role, provider, Duration::from_secs(3600))
            .unwrap();
        format!("Bearer {token}")
    }

    pub(crate) async fn js(&self) -> jetstream::Context {
        jetstream::new(self.nats.client().await.unwrap())
    }

    /// Every message on the feed stream, in order.
    pub(crate) async fn feed(&self) -> Vec<jetstream::Message> {
        let js = self.js().await;
        let name = platform::nats::Namespace::prefixed(&self.prefix)
            .unwrap()
            .stream_name("feed");
        let stream = js.get_stream(&name).await.unwrap();
        let count = stream.cached_info().state.messages;
        if count == 0 {
            return Vec::new();
        }
        let consumer = stream
            .create_consumer(pull::OrderedConfig::default())
            .await
            .unwrap();
        let mut messages = consumer.messages().await.unwrap();
        let mut out = Vec::new();
        while (out.len() as u64) < count {
            let next = tokio::time::timeout(Duration::from_secs(5), messages.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            out.push(next);
        }
        out
    }

    /// Waits until the feed holds `count` messages.
    pub(crate) async fn feed_of(&self, count: usize) -> Vec<jetstream::Message> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let feed = self.feed().await;
            if feed.len() >= count {
                return feed;
            }
            assert!(
                Instant::now() < deadline,
                "the feed holds {} of {count} messages",
                feed.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub(crate) fn header<'a>(message: &'a jetstream::Message, name: &str) -> &'a str {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(async_nats::HeaderValue::as_str)
        .unwrap_or_default()
}

pub(crate) fn ts(at: Timestamp) -> Option<prost_types::Timestamp> {
    Some(platform::aggregate::timestamp(at))
}

pub(crate) fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", MetadataValue::try_from(token).unwrap());
    request.set_timeout(Duration::from_secs(5));
    request
}

/// Whether a failure may be a lost connection to a killed or restarting process: retry it.
pub(crate) fn transient(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded
    )
}

/// The clients of one running process.
#[derive(Clone)]
pub(crate) struct Clients {
    pub(crate) inspections: InspectionsClient<Channel>,
    pub(crate) complaints: ComplaintsClient<Channel>,
    pub(crate) escalations: EscalationsClient<Channel>,
    pub(crate) learning: LearningReviewsClient<Channel>,
}

pub(crate) async fn clients(port: u16) -> Clients {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let endpoint =
            tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
        if let Ok(channel) = endpoint.connect().await {
            return Clients {
                inspections: InspectionsClient::new(channel.clone()),
                complaints: ComplaintsClient::new(channel.clone()),
                escalations: EscalationsClient::new(channel.clone()),
                learning: LearningReviewsClient::new(channel),
            };
        }
        assert!(Instant::now() < deadline, "the service did not listen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One complaint's journey, from the inspection to the closed escalation, with stable request
/// ids so that every step can be sent again after a crash.
pub(crate) struct Journey {
    pub(crate) n: usize,
    pub(crate) inspection_id: Uuid,
    pub(crate) provider: String,
    pub(crate) tokens: BTreeMap<&'static str, String>,
    /// When the inspection happened: a few days before the run.
    pub(crate) start: Timestamp,
}

impl Journey {
    pub(crate) fn new(stack: &Stack, n: usize, start: Timestamp) -> Journey {
        let provider = format!("URN-{}", 300_000 + n);
        let tokens = BTreeMap::from([
            (
                "partner",
                stack.token("partner:inspection-system", Role::InspectionSystem, None),
            ),
            (
                "provider",
                stack.token(
                    &format!("head:{n}"),
                    Role::ProviderRepresentative,
                    Some(&provider),
                ),
            ),
            (
                "investigator",
                stack.token("ofsted:investigator-1", Role::ComplaintsInvestigator, None),
            ),
            (
                "decision",
                stack.token("ofsted:decision-1", Role::ComplaintsDecisionMaker, None),
            ),
            (
                "body",
                stack.token("icaso:desk", Role::IndependentBody, None),
            ),
            (
                "adjudicator",
                stack.token("icaso:adjudicator-1", Role::Adjudicator, None),
            ),
            (
                "owner",
                stack.token("ofsted:director-1", Role::RecommendationOwner, None),
            ),
        ]);
        Journey {
            n,
            inspection_id: Uuid::now_v7(),
            provider,
            tokens,
            start,
        }
    }

    pub(crate) fn key(&self, step: &str) -> String {
        format!("{step}-{}", self.n)
    }

    pub(crate) fn token(&self, who: &str) -> &str {
        &self.tokens[who]
    }

    /// Up to the complaints context's response; returns the complaint id.
    pub(crate) async fn answered(&self, c: &mut Clients) -> Result<Uuid, Status> {
        let day = |d: i64| self.start + SignedDuration::from_hours(24 * d);
        let date = |at: Timestamp| {
            at.to_zoned(jiff::tz::TimeZone::get("Europe/London").unwrap())
                .date()
                .to_string()
        };
        let id = self.inspection_id.to_string();
        let partner = self.token("partner");
        c.inspections
            .record_inspection_notified(with_token(
                complaints::RecordInspectionNotifiedRequest {
                    request_id: self.key("notify"),
                    inspection_id: id.clone(),
                    provider_id: self.provider.clone(),
                    remit: complaints::Remit::Schools as i32,
                    lead_inspector_ref: format!("inspector/{}/lead", self.n),
                    team_inspector_refs: vec![format!("inspector/{}/team", self.n)],
                    on_site_starts_on: date(day(1)),
                    occurred_at: ts(day(0)),
                },
                partner,
            ))
            .await?;
        c.inspections
            .record_on_site_started(with_token(
                complaints::RecordOnSiteStartedRequest {
                    request_id: self.key("on-site"),
                    inspection_id: id.clone(),
                    occurred_at: ts(day(1)),
                },
                partner,
            ))
            .await?;
        c.inspections
            .record_on_site_ended(with_token(
                complaints::RecordOnSiteEndedRequest {
                    request_id: self.key("ended"),
                    inspection_id: id.clone(),
                    last_onsite_date: date(day(2)),
                    occurred_at: ts(day(2)),
                },
                partner,
            ))
            .await?;
        c.inspections
            .issue_draft_report(with_token(
                complaints::IssueDraftReportRequest {
                    request_id: self.key("draft"),
                    inspection_id: id.clone(),
                    doc_ref: format!("doc:draft-{}", self.n),
                    occurred_at: ts(Timestamp::now() - SignedDuration::from_mins(30)),
                },
                partner,
            ))
            .await?;
        let submitted = c
            .complaints
            .submit_formal_complaint(with_token(
                complaints::SubmitFormalComplaintRequest {
                    request_id: self.key("submit"),
                    submission: Some(complaints::ComplaintSubmission {
                        inspection_id: id,
                        grounds: vec![complaints::ComplaintGround::InspectorConduct as i32],
                        complainant: Some(complaints::ComplainantContact {
                            name: NAME.into(),
                            role: "headteacher".into(),
                            email: EMAIL.into(),
                            phone: "01632 960000".into(),
                        }),
                        narrative: NARRATIVE.into(),
                        doc_refs: vec![format!("doc:complaint-{}", self.n)],
                        provider_id: self.provider.clone(),
                    }),
                    route_override_reason_ref: String::new(),
                },
                self.token("provider"),
            ))
            .await?
            .into_inner();
        let complaint_id = submitted.complaint_id;
        c.complaints
            .acknowledge_complaint(with_token(
                complaints::AcknowledgeComplaintRequest {
                    request_id: self.key("ack"),
                    complaint_id: complaint_id.clone(),
                },
                self.token("investigator"),
            ))
            .await?;
        c.complaints
            .assign_investigator(with_token(
                complaints::AssignInvestigatorRequest {
                    request_id: self.key("assign"),
                    complaint_id: complaint_id.clone(),
                },
                self.token("investigator"),
            ))
            .await?;
        c.complaints
            .issue_complaint_response(with_token(
                complaints::IssueComplaintResponseRequest {
                    request_id: self.key("respond"),
                    complaint_id: complaint_id.clone(),
                    outcome: complaints::ComplaintOutcome::NotUpheld as i32,
                    remedies: vec![],
                    response_doc_ref: format!("doc:response-{}", self.n),
                },
                self.token("decision"),
            ))
            .await?;
        Ok(complaint_id.parse().unwrap())
    }

    /// From the request to the closed escalation; `reconsider` accepts R2 (reconsider the
    /// complaint) instead of declining it.
    pub(crate) async fn escalated(
        &self,
        c: &mut Clients,
        complaint_id: Uuid,
        reconsider: bool,
    ) -> Result<String, Status> {
        let requested = c
            .escalations
            .request_escalation(with_token(
                escalation::RequestEscalationRequest {
                    request_id: self.key("escalate"),
                    complaint_id: complaint_id.to_string(),
                    grounds: vec![
                        escalation::Ground::FailureToFollowProcedures as i32,
                        escalation::Ground::Discourtesy as i32,
                    ],
                    out_of_remit_asks: vec![escalation::OutOfRemitAsk::OverturnJudgement as i32],
                },
                self.token("provider"),
            ))
            .await?
            .into_inner();
        let id = requested.escalation_id;
        let on = |step: &str| (self.key(step), id.clone());
        let (key, escalation_id) = on("accept");
        c.escalations
            .accept_referral(with_token(
                escalation::AcceptReferralRequest {
                    request_id: key,
                    escalation_id,
                },
                self.token("body"),
            ))
            .await?;
        let (key, escalation_id) = on("appoint");
        c.escalations
            .appoint_adjudicator(with_token(
                escalation::AppointAdjudicatorRequest {
                    request_id: key,
                    escalation_id,
                    adjudicator_ref: "icaso:adjudicator-1".into(),
                },
                self.token("body"),
            ))
            .await?;
        let (key, escalation_id) = on("file");
        c.escalations
            .request_case_file(with_token(
                escalation::RequestCaseFileRequest {
                    request_id: key,
                    escalation_id,
                },
                self.token("adjudicator"),
            ))
            .await?;
        let (key, escalation_id) = on("findings");
        let recommendation =
            |rec: &str, kind: escalation::RecommendationKind| escalation::FindingsRecommendation {
                recommendation_id: rec.into(),
                kind: kind as i32,
                text_ref: format!("icaso:text-{rec}"),
            };
        c.escalations
            .issue_findings(with_token(
                escalation::IssueFindingsRequest {
                    request_id: key,
                    escalation_id,
                    findings_ref: "icaso:findings".into(),
                    upheld_grounds: vec![escalation::Ground::FailureToFollowProcedures as i32],
                    recommendations: vec![
                        recommendation("R1", escalation::RecommendationKind::Apology),
                        recommendation("R2", escalation::RecommendationKind::ReconsiderComplaint),
                    ],
                },
                self.token("adjudicator"),
            ))
            .await?;
        for rec in ["R1", "R2"]
            .into_iter()
            .filter(|r| *r == "R1" || reconsider)
        {
            let (key, escalation_id) = on(&format!("accept-{rec}"));
            c.escalations
                .accept_recommendation(with_token(
                    escalation::AcceptRecommendationRequest {
                        request_id: key,
                        escalation_id,
                        recommendation_id: rec.into(),
                        planned_action_ref: format!("doc:plan-{rec}"),
                        due_on: String::new(),
                    },
                    self.token("owner"),
                ))
                .await?;
        }
        if !reconsider {
            let (key, escalation_id) = on("decline-R2");
            c.escalations
                .decline_recommendation(with_token(
                    escalation::DeclineRecommendationRequest {
                        request_id: key,
                        escalation_id,
                        recommendation_id: "R2".into(),
                        public_reason_ref: "doc:reason-R2".into(),
                        statement_ref: "https://www.gov.uk/statement-R2".into(),
                    },
                    self.token("owner"),
                ))
                .await?;
        }
        let (key, escalation_id) = on("implemented-R1");
        c.escalations
            .record_implementation(with_token(
                escalation::RecordImplementationRequest {
                    request_id: key,
                    escalation_id,
                    recommendation_id: "R1".into(),
                    evidence_ref: "doc:evidence-R1".into(),
                },
                self.token("owner"),
            ))
            .await?;
        if !reconsider {
            let (key, escalation_id) = on("close");
            c.escalations
                .close_escalation(with_token(
                    escalation::CloseEscalationRequest {
                        request_id: key,
                        escalation_id,
                    },
                    self.token("owner"),
                ))
                .await?;
        }
        Ok(id)
    }
}

/// Waits until the escalation context has copied the complaint's response, so a request is not
/// refused (and recorded as refused) only because the copy is a few milliseconds behind.
pub(crate) async fn copied(stack: &Stack, complaint_id: Uuid) {
    let pool = stack.db.pool("escalation").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let copied: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE stream_id = $1
             AND event_type = 'redress.escalation.v1.ComplaintResponseRecorded'",
        )
        .bind(complaint_id)
        .fetch_one(&pool)
        .await
        .unwrap_or(0);
        if copied > 0 {
            pool.close().await;
            return;
        }
        assert!(Instant::now() < deadline, "the response was never copied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `step` until it succeeds, retrying what a crash or restart can cause.
pub(crate) async fn until_done<T, F, Fut>(mut step: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match step().await {
            Ok(value) => return value,
            Err(status) if transient(&status) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("a step failed: {status:?}"),
        }
    }
}

/// The feed messages of one escalation, by type, in feed order.
pub(crate) fn types_of(feed: &[jetstream::Message], escalation_id: &str) -> Vec<String> {
    feed.iter()
        .filter(|m| header(m, "ce-subject") == escalation_id)
        .map(|m| {
            header(m, "ce-type")
                .trim_start_matches("redress.feed.v1.")
                .to_owned()
        })
        .collect()
}

pub(crate) const FULL_CASE: [&str; 10] = [
    "EscalationReferred",
    "ReferralAccepted",
    "AdjudicatorAppointed",
    "CaseFileAccessed",
    "FindingsIssued",
    "RecommendationAccepted",
    "RecommendationDeclined",
    "PublicStatementPublished",
    "RecommendationImplemented",
    "EscalationClosed",
];
