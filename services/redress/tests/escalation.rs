//! Escalation end to end through the `redress` binary: complaints and escalation in one process on
//! a real PostgreSQL and NATS, complaints answered through the complaints API, escalated, referred,
//! adjudicated and closed through the escalation API, and the independent body's feed read from
//! NATS. One test kills the process mid-flow and restarts it.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
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
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Status};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_redress");
const VAULT_KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
/// The complainant's details the feed must never carry.
const NAME: &str = "Ruth Example-Headteacher";
const EMAIL: &str = "ruth.example@school.example";
const NARRATIVE: &str = "The lead inspector dismissed our safeguarding log without reading it.";

/// The running binary.
struct Process {
    child: Child,
    port: u16,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What every run of the binary shares: database, NATS, prefix, signing key.
struct Stack {
    db: TestDb,
    nats: NatsServer,
    prefix: String,
    issuer: TokenIssuer,
    _keys: tempfile::TempDir,
    key_file: std::path::PathBuf,
}

impl Stack {
    async fn new() -> Stack {
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

    fn start(&self) -> Process {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(BIN)
            .args(["serve", "complaints", "escalation", "--grpc-addr"])
            .arg(format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", self.db.url())
            .env("NATS_URL", self.nats.url())
            .env("REDRESS_NATS_PREFIX", &self.prefix)
            .env("REDRESS_VAULT_KEY", VAULT_KEY)
            .env("REDRESS_JWT_PUBLIC_KEYS", &self.key_file)
            .env_remove("REDRESS_METRICS_ADDR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Process { child, port }
    }

    fn token(&self, subject: &str, role: Role, provider: Option<&str>) -> String {
        let token = self
            .issuer
            .issue(subject, role, provider, Duration::from_secs(3600))
            .unwrap();
        format!("Bearer {token}")
    }

    async fn js(&self) -> jetstream::Context {
        jetstream::new(self.nats.client().await.unwrap())
    }

    /// Every message on the feed stream, in order.
    async fn feed(&self) -> Vec<jetstream::Message> {
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
    async fn feed_of(&self, count: usize) -> Vec<jetstream::Message> {
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

fn header<'a>(message: &'a jetstream::Message, name: &str) -> &'a str {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(async_nats::HeaderValue::as_str)
        .unwrap_or_default()
}

fn ts(at: Timestamp) -> Option<prost_types::Timestamp> {
    Some(platform::aggregate::timestamp(at))
}

fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", MetadataValue::try_from(token).unwrap());
    request.set_timeout(Duration::from_secs(5));
    request
}

/// Whether a failure may be a lost connection to a killed or restarting process: retry it.
fn transient(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded
    )
}

/// The clients of one running process.
#[derive(Clone)]
struct Clients {
    inspections: InspectionsClient<Channel>,
    complaints: ComplaintsClient<Channel>,
    escalations: EscalationsClient<Channel>,
}

async fn clients(port: u16) -> Clients {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let endpoint =
            tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
        if let Ok(channel) = endpoint.connect().await {
            return Clients {
                inspections: InspectionsClient::new(channel.clone()),
                complaints: ComplaintsClient::new(channel.clone()),
                escalations: EscalationsClient::new(channel),
            };
        }
        assert!(Instant::now() < deadline, "the service did not listen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One complaint's journey, from the inspection to the closed escalation, with stable request
/// ids so that every step can be sent again after a crash.
struct Journey {
    n: usize,
    inspection_id: Uuid,
    provider: String,
    tokens: BTreeMap<&'static str, String>,
    /// When the inspection happened: a few days before the run.
    start: Timestamp,
}

impl Journey {
    fn new(stack: &Stack, n: usize, start: Timestamp) -> Journey {
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

    fn key(&self, step: &str) -> String {
        format!("{step}-{}", self.n)
    }

    fn token(&self, who: &str) -> &str {
        &self.tokens[who]
    }

    /// Up to the complaints context's response; returns the complaint id.
    async fn answered(&self, c: &mut Clients) -> Result<Uuid, Status> {
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
    async fn escalated(
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
async fn copied(stack: &Stack, complaint_id: Uuid) {
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
async fn until_done<T, F, Fut>(mut step: F) -> T
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
fn types_of(feed: &[jetstream::Message], escalation_id: &str) -> Vec<String> {
    feed.iter()
        .filter(|m| header(m, "ce-subject") == escalation_id)
        .map(|m| {
            header(m, "ce-type")
                .trim_start_matches("redress.feed.v1.")
                .to_owned()
        })
        .collect()
}

const FULL_CASE: [&str; 10] = [
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

#[tokio::test]
async fn an_answered_complaint_escalates_through_the_independent_body_to_closure_and_the_complaint_closes()
 {
    // Arrange
    let stack = Stack::new().await;
    let process = stack.start();
    let mut c = clients(process.port).await;
    let start = Timestamp::now() - SignedDuration::from_hours(24 * 4);
    let journey = Journey::new(&stack, 1, start);

    // Act
    let complaint_id = journey.answered(&mut c).await.unwrap();
    copied(&stack, complaint_id).await;
    let escalation_id = journey
        .escalated(&mut c, complaint_id, false)
        .await
        .unwrap();

    // Assert: the feed tells the body the whole case, in order, numbered 1..n.
    let feed = stack.feed_of(FULL_CASE.len()).await;
    assert_eq!(types_of(&feed, &escalation_id), FULL_CASE);
    let positions: Vec<&str> = feed
        .iter()
        .map(|m| header(m, "Redress-Feed-Position"))
        .collect();
    let expected: Vec<String> = (1..=feed.len()).map(|p| p.to_string()).collect();
    assert_eq!(positions, expected);
    // Nothing the complainant told the complaints context reaches the feed.
    for message in &feed {
        let payload = String::from_utf8_lossy(&message.payload).into_owned();
        for secret in [
            NAME,
            EMAIL,
            NARRATIVE,
            journey.provider.as_str(),
            "doc:complaint-1",
        ] {
            assert!(!payload.contains(secret), "the feed carries {secret:?}");
        }
        let outside = ::escalation::testing::fields_outside_feed_allow_list(
            header(message, "ce-type"),
            &message.payload,
        );
        assert!(outside.is_empty(), "{outside:?}");
    }
    // The complaints context closes the complaint once the escalation concluded.
    let token = journey.token("decision").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let complaint = c
            .complaints
            .get_complaint(with_token(
                complaints::GetComplaintRequest {
                    complaint_id: complaint_id.to_string(),
                    consistency: None,
                },
                &token,
            ))
            .await
            .unwrap()
            .into_inner()
            .complaint
            .unwrap();
        if complaint.status == complaints::ComplaintStatus::Closed as i32 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the complaint stays {}",
            complaint.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_accepted_reconsideration_reopens_the_complaint_in_the_complaints_context() {
    let stack = Stack::new().await;
    let process = stack.start();
    let mut c = clients(process.port).await;
    let journey = Journey::new(&stack, 2, Timestamp::now() - SignedDuration::from_hours(96));
    let complaint_id = journey.answered(&mut c).await.unwrap();
    copied(&stack, complaint_id).await;
    journey.escalated(&mut c, complaint_id, true).await.unwrap();
    let token = journey.token("decision").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let complaint = c
            .complaints
            .get_complaint(with_token(
                complaints::GetComplaintRequest {
                    complaint_id: complaint_id.to_string(),
                    consistency: None,
                },
                &token,
            ))
            .await
            .unwrap()
            .into_inner()
            .complaint
            .unwrap();
        if complaint.status == complaints::ComplaintStatus::UnderReconsideration as i32 {
            break;
        }
        if Instant::now() >= deadline {
            let pool = stack.db.pool("complaints").await.unwrap();
            let parked: Vec<(String, String)> =
                sqlx::query_as("SELECT subject, reason FROM parked_events")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            panic!(
                "the complaint stays {}; parked: {parked:?}",
                complaint.status
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_feed_stays_complete_and_in_order_when_the_service_is_killed_mid_flow() {
    // Arrange: six complaints answered, then escalated concurrently.
    const JOURNEYS: usize = 6;
    let stack = Arc::new(Stack::new().await);
    let first = stack.start();
    let mut c = clients(first.port).await;
    let start = Timestamp::now() - SignedDuration::from_hours(96);
    let journeys: Vec<Arc<Journey>> = (0..JOURNEYS)
        .map(|n| Arc::new(Journey::new(&stack, 10 + n, start)))
        .collect();
    let mut complaint_ids = Vec::new();
    for journey in &journeys {
        let id = journey.answered(&mut c).await.unwrap();
        copied(&stack, id).await;
        complaint_ids.push(id);
    }

    // Act: escalate all six at once; SIGKILL the process once the feed has a few messages, then
    // restart it and send every step again with the same request ids, as partners would.
    let lanes: Vec<_> = journeys
        .iter()
        .zip(&complaint_ids)
        .map(|(journey, id)| {
            let (journey, id, mut c) = (Arc::clone(journey), *id, c.clone());
            tokio::spawn(async move { journey.escalated(&mut c, id, false).await })
        })
        .collect();
    // Kill once a fraction of the escalation work is committed: every lane is then mid-flow.
    let pool = stack.db.pool("escalation").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let written: i64 =
            sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_type = 'escalation'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if written >= 16 {
            break;
        }
        assert!(Instant::now() < deadline, "the flow did not start");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    pool.close().await;
    let mut first = first;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let interrupted = futures_util::future::join_all(lanes)
        .await
        .into_iter()
        .filter(|r| r.as_ref().map_or(true, Result::is_err))
        .count();
    assert!(interrupted > 0, "the kill must interrupt the flow");
    drop(first);
    let second = stack.start();
    let c = clients(second.port).await;
    let mut ids = Vec::new();
    for (journey, complaint_id) in journeys.iter().zip(&complaint_ids) {
        let id = until_done(|| {
            let (journey, mut c) = (Arc::clone(journey), c.clone());
            let complaint_id = *complaint_id;
            async move { journey.escalated(&mut c, complaint_id, false).await }
        })
        .await;
        ids.push(id);
    }

    // Assert: every case complete, each message once, positions 1..n without a gap.
    let feed = stack.feed_of(JOURNEYS * FULL_CASE.len()).await;
    assert_eq!(
        feed.len(),
        JOURNEYS * FULL_CASE.len(),
        "nothing announced twice"
    );
    for id in &ids {
        assert_eq!(types_of(&feed, id), FULL_CASE, "escalation {id}");
    }
    let positions: Vec<usize> = feed
        .iter()
        .map(|m| header(m, "Redress-Feed-Position").parse().unwrap())
        .collect();
    assert_eq!(positions, (1..=feed.len()).collect::<Vec<_>>());
    let message_ids: BTreeSet<&str> = feed.iter().map(|m| header(m, "Nats-Msg-Id")).collect();
    assert_eq!(message_ids.len(), feed.len());
    drop(second);

    // The reference consumer reads the whole feed as the body would, in two runs (stopping after
    // 25 lines, then resuming from its state file): every position once, in order, no gap.
    let state = tempfile::tempdir().unwrap();
    let mut config =
        redress::feed_tail::TailConfig::new(stack.nats.url(), state.path().join("feed"));
    config.domain = None;
    config.stream = platform::nats::Namespace::prefixed(&stack.prefix)
        .unwrap()
        .stream_name("feed");
    config.once = true;
    let mut lines = Vec::new();
    for limit in [Some(25), None] {
        config.limit = limit;
        let mut out = Vec::new();
        let summary = redress::feed_tail::run(
            &config,
            &mut out,
            &mut std::io::sink(),
            std::future::pending(),
        )
        .await
        .unwrap();
        assert!(summary.gaps.is_empty(), "{:?}", summary.gaps);
        lines.extend(String::from_utf8(out).unwrap().lines().map(str::to_owned));
    }
    let read: Vec<u64> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["feed_position"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(read, (1..=feed.len() as u64).collect::<Vec<_>>());
}
