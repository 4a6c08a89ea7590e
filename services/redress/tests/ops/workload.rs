//! A running `redress serve` of every service on a database and NATS server of its own, and a
//! workload of realistic cases written through the public gRPC APIs, as partner systems, staff,
//! providers and the independent body would send them.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use jiff::{SignedDuration, Timestamp};
use platform::grpc::{Role, TokenIssuer};
use platform::pg::Pool;
use platform::testing::{NatsServer, TestDb, unique_prefix};
use proto::complaints::v1 as complaints;
use proto::complaints::v1::complaints_client::ComplaintsClient;
use proto::complaints::v1::inspections_client::InspectionsClient;
use proto::escalation::v1 as escalation;
use proto::escalation::v1::escalations_client::EscalationsClient;
use proto::learning_reviews::v1 as learning;
use proto::learning_reviews::v1::learning_reviews_client::LearningReviewsClient;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::helpers::{Running, free_port, output, redress};

const VAULT_KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

/// The schemas of the three services.
pub const SCHEMAS: [&str; 3] = ["complaints", "escalation", "learning_reviews"];

/// A fresh database with every service's schema migrated.
pub async fn migrated() -> TestDb {
    let db = TestDb::create().await.unwrap();
    let mut migrate = redress();
    migrate.arg("migrate").env("DATABASE_URL", db.url());
    let migrated = output(migrate).await;
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    db
}

/// `redress serve` of every service, with what it runs on.
pub struct Served {
    pub db: TestDb,
    pub nats: NatsServer,
    pub prefix: String,
    pub port: u16,
    /// Where `/metrics` answers, when asked for.
    pub metrics_port: Option<u16>,
    issuer: TokenIssuer,
    /// The key pair tokens are signed with (the process trusts the public key under kid `test`);
    /// the security tests, which include this module, forge tokens with it.
    #[allow(dead_code)]
    pub private_pem: secrecy::SecretString,
    #[allow(dead_code)]
    pub public_pem: String,
    _dir: tempfile::TempDir,
    /// The process's stdout: its JSON logs.
    pub log_file: PathBuf,
    /// The process's stderr, where a panic would be reported (read by the security tests).
    #[allow(dead_code)]
    pub stderr_file: PathBuf,
    pub _process: Running,
}

impl Served {
    /// Migrates a fresh database and starts `redress serve` on it; with `metrics`, also the
    /// Prometheus endpoint.
    pub async fn start(metrics: bool) -> Served {
        let db = migrated().await;
        let nats = NatsServer::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = platform::grpc::generate_dev_keypair().unwrap();
        let key_file = dir.path().join("test.pem");
        std::fs::write(&key_file, &public).unwrap();
        let issuer = TokenIssuer::new(
            &private,
            "test",
            "https://identity.redress.local",
            "redress",
        )
        .unwrap();
        let prefix = unique_prefix();
        let port = free_port();
        let metrics_port = metrics.then(free_port);
        let log_file = dir.path().join("serve.log");
        let stderr_file = dir.path().join("serve.stderr");
        let mut command = redress();
        command
            .args(["serve", "--grpc-addr", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", db.url())
            .env("NATS_URL", nats.url())
            .env("REDRESS_NATS_PREFIX", &prefix)
            .env("REDRESS_VAULT_KEY", VAULT_KEY)
            .env("REDRESS_JWT_PUBLIC_KEYS", &key_file)
            .env("REDRESS_DB_MAX_CONNECTIONS", "4")
            .stdout(std::fs::File::create(&log_file).unwrap())
            .stderr(std::fs::File::create(&stderr_file).unwrap());
        if let Some(metrics_port) = metrics_port {
            command.env("REDRESS_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"));
        }
        let process = Running(command.spawn().unwrap());
        Served {
            db,
            nats,
            prefix,
            port,
            metrics_port,
            issuer,
            private_pem: private,
            public_pem: public,
            _dir: dir,
            log_file,
            stderr_file,
            _process: process,
        }
    }

    /// `redress` against this database.
    pub fn redress(&self) -> Command {
        let mut command = redress();
        command.env("DATABASE_URL", self.db.url());
        command
    }

    pub fn token(&self, subject: &str, role: Role, provider: Option<&str>) -> String {
        let token = self
            .issuer
            .issue(subject, role, provider, Duration::from_secs(3600))
            .unwrap();
        format!("Bearer {token}")
    }

    /// A channel to the gRPC endpoint, once it listens.
    pub async fn channel(&self) -> Channel {
        let deadline = Instant::now() + Duration::from_secs(60);
        let endpoint =
            tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", self.port))
                .unwrap();
        loop {
            if let Ok(channel) = endpoint.connect().await {
                return channel;
            }
            assert!(Instant::now() < deadline, "redress serve did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Events in each service's log.
    pub async fn event_counts(&self) -> [i64; 3] {
        let mut counts = [0; 3];
        for (count, schema) in counts.iter_mut().zip(SCHEMAS) {
            let pool = self.db.pool(schema).await.unwrap();
            *count = sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        counts
    }

    /// Waits until nothing is left to do anywhere: every relay and projection has read its whole
    /// log, every policy consumer has handled every message, and the logs stopped growing.
    pub async fn settle(&self) {
        let js = async_nats::jetstream::new(self.nats.client().await.unwrap());
        let namespace = platform::nats::Namespace::prefixed(&self.prefix).unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut last = None;
        loop {
            let counts = self.event_counts().await;
            let mut busy = Vec::new();
            for schema in SCHEMAS {
                let pool = self.db.pool(schema).await.unwrap();
                let behind: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT c.name, (SELECT count(*) FROM events e
                         WHERE (e.transaction_id, e.position) > (c.transaction_id, c.position))
                     FROM checkpoints c",
                )
                .fetch_all(&pool)
                .await
                .unwrap();
                pool.close().await;
                busy.extend(
                    behind
                        .into_iter()
                        .filter(|(_, n)| *n > 0)
                        .map(|(name, n)| format!("{schema}.{name}: {n} behind")),
                );
            }
            // The independent body's consumer is read by nobody here.
            for service in ["complaints", "escalation", "learning-reviews"] {
                let stream = js.get_stream(namespace.stream_name(service)).await.unwrap();
                let names: Vec<String> = stream
                    .consumer_names()
                    .map(|name| name.unwrap())
                    .collect()
                    .await;
                for name in names {
                    let info = stream.consumer_info(&name).await.unwrap();
                    if info.num_pending > 0 || info.num_ack_pending > 0 {
                        busy.push(format!(
                            "{name}: {} pending",
                            info.num_pending + info.num_ack_pending as u64
                        ));
                    }
                }
            }
            if busy.is_empty() && last == Some(counts) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "still busy after 2 minutes: {busy:?}"
            );
            last = busy.is_empty().then_some(counts);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn ts(at: Timestamp) -> Option<prost_types::Timestamp> {
    Some(platform::aggregate::timestamp(at))
}

fn london_date(at: Timestamp) -> String {
    platform::calendar::local_date(at).to_string()
}

fn request<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", MetadataValue::try_from(token).unwrap());
    request.set_timeout(Duration::from_secs(30));
    request
}

/// The staff tokens every case uses.
#[derive(Clone)]
struct Tokens {
    partner: String,
    senior: String,
    investigator: String,
    decision: String,
    body: String,
    adjudicator: String,
    owner: String,
    hmci: String,
    chair: String,
}

/// Writes cases through the APIs. Every case is a new inspection, its ids and request ids unique
/// to the run, dated so that no deadline falls due while a test runs.
#[derive(Clone)]
pub struct Workload {
    inspections: InspectionsClient<Channel>,
    complaints: ComplaintsClient<Channel>,
    escalations: EscalationsClient<Channel>,
    learning: LearningReviewsClient<Channel>,
    tokens: Tokens,
    issuer: TokenIssuer,
    escalation_db: Pool,
    run: String,
    now: Timestamp,
}

/// What one case created.
#[derive(Clone, Debug)]
pub struct Case {
    pub inspection_id: Uuid,
    pub complaint_id: Option<Uuid>,
    pub escalation_id: Option<Uuid>,
}

impl Workload {
    pub async fn new(served: &Served) -> Workload {
        let channel = served.channel().await;
        Workload {
            inspections: InspectionsClient::new(channel.clone()),
            complaints: ComplaintsClient::new(channel.clone()),
            escalations: EscalationsClient::new(channel.clone()),
            learning: LearningReviewsClient::new(channel),
            tokens: Tokens {
                partner: served.token("partner:inspection-system", Role::InspectionSystem, None),
                senior: served.token("staff:senior-inspector-9", Role::SeniorInspector, None),
                investigator: served.token(
                    "staff:investigator-4",
                    Role::ComplaintsInvestigator,
                    None,
                ),
                decision: served.token(
                    "staff:decision-maker-1",
                    Role::ComplaintsDecisionMaker,
                    None,
                ),
                body: served.token("icaso:desk", Role::IndependentBody, None),
                adjudicator: served.token("icaso:adjudicator", Role::Adjudicator, None),
                owner: served.token("staff:director", Role::RecommendationOwner, None),
                hmci: served.token("staff:hmci", Role::Hmci, None),
                chair: served.token("board:chair", Role::BoardChair, None),
            },
            issuer: served.issuer.clone(),
            escalation_db: served.db.pool("escalation").await.unwrap(),
            run: unique_prefix(),
            now: Timestamp::now(),
        }
    }

    /// Runs cases `range` with `concurrency` of them at a time.
    pub async fn cases(&self, range: std::ops::Range<usize>, concurrency: usize) -> Vec<Case> {
        futures_util::stream::iter(range)
            .map(|n| {
                let mut workload = self.clone();
                async move { workload.case(n).await }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await
    }

    fn key(&self, step: &str, n: usize) -> String {
        format!("{}-{step}-{n}", self.run)
    }

    /// One inspection's case. Every fourth is paused on site and goes no further; the others
    /// have a concern resolved on site, a formal complaint answered and escalated to the
    /// independent body, which adjudicates with two recommendations (one accepted, one
    /// declined); every other one also has an incident reported and a learning review
    /// commissioned and staffed.
    pub async fn case(&mut self, n: usize) -> Case {
        let inspection_id = Uuid::new_v4();
        let provider = format!("URN-{}-{n}", self.run.to_uppercase());
        let on_site = self.now - SignedDuration::from_hours(72);
        let t = self.tokens.clone();
        self.inspections
            .record_inspection_notified(request(
                complaints::RecordInspectionNotifiedRequest {
                    request_id: self.key("notify", n),
                    inspection_id: inspection_id.to_string(),
                    provider_id: provider.clone(),
                    remit: complaints::Remit::Schools as i32,
                    lead_inspector_ref: format!("staff:lead-{n}"),
                    team_inspector_refs: vec![format!("staff:team-{n}")],
                    on_site_starts_on: london_date(on_site),
                    occurred_at: ts(self.now - SignedDuration::from_hours(24 * 6)),
                },
                &t.partner,
            ))
            .await
            .unwrap();
        self.inspections
            .record_on_site_started(request(
                complaints::RecordOnSiteStartedRequest {
                    request_id: self.key("on-site", n),
                    inspection_id: inspection_id.to_string(),
                    occurred_at: ts(on_site),
                },
                &t.partner,
            ))
            .await
            .unwrap();
        let mut case = Case {
            inspection_id,
            complaint_id: None,
            escalation_id: None,
        };
        if n % 4 == 3 {
            self.pause(n, inspection_id, on_site).await;
            return case;
        }
        let head = self.provider_token(n, &provider);
        self.concern(n, inspection_id, &head).await;
        self.draft(n, inspection_id, on_site).await;
        let complaint_id = self.complaint(n, inspection_id, &provider, &head).await;
        case.complaint_id = Some(complaint_id);
        self.copied(complaint_id).await;
        case.escalation_id = Some(self.escalate(n, complaint_id, &head).await);
        if n.is_multiple_of(2) {
            self.learning_review(n, inspection_id).await;
        }
        case
    }

    fn provider_token(&self, n: usize, provider: &str) -> String {
        let token = self
            .issuer
            .issue(
                &format!("head:{n}"),
                Role::ProviderRepresentative,
                Some(provider),
                Duration::from_secs(3600),
            )
            .unwrap();
        format!("Bearer {token}")
    }

    async fn pause(&mut self, n: usize, inspection_id: Uuid, on_site: Timestamp) {
        let at = on_site + SignedDuration::from_hours(4);
        self.inspections
            .pause_inspection(request(
                complaints::PauseInspectionRequest {
                    request_id: self.key("pause", n),
                    inspection_id: inspection_id.to_string(),
                    initiated_by: complaints::PauseInitiator::LeadInspector as i32,
                    reason: complaints::PauseReason::LeaderWellbeing as i32,
                    duty_desk: complaints::DutyDesk::NationalSafeguardingAndWellbeing as i32,
                    consultation_ref: format!("duty-desk:{n}"),
                    consulted_at: ts(at - SignedDuration::from_mins(20)),
                    planned_resume_on: String::new(),
                    occurred_at: ts(at),
                },
                &self.tokens.partner,
            ))
            .await
            .unwrap();
    }

    async fn concern(&mut self, n: usize, inspection_id: Uuid, head: &str) {
        let raised = self
            .inspections
            .raise_concern(request(
                complaints::RaiseConcernRequest {
                    request_id: self.key("concern", n),
                    inspection_id: inspection_id.to_string(),
                    channel: complaints::ConcernChannel::DuringInspectionHelpline as i32,
                    topic: complaints::ConcernTopic::InspectorConduct as i32,
                    detail: "The team did not look at the safeguarding log we offered.".into(),
                    accompanied: true,
                },
                head,
            ))
            .await
            .unwrap()
            .into_inner();
        self.inspections
            .assign_concern(request(
                complaints::AssignConcernRequest {
                    request_id: self.key("concern-assign", n),
                    concern_id: raised.concern_id.clone(),
                },
                &self.tokens.senior,
            ))
            .await
            .unwrap();
        self.inspections
            .resolve_concern(request(
                complaints::ResolveConcernRequest {
                    request_id: self.key("concern-resolve", n),
                    concern_id: raised.concern_id,
                    summary: "The lead inspector reviewed the log with the head.".into(),
                },
                &self.tokens.senior,
            ))
            .await
            .unwrap();
    }

    async fn draft(&mut self, n: usize, inspection_id: Uuid, on_site: Timestamp) {
        let last_on_site = on_site + SignedDuration::from_hours(24);
        self.inspections
            .record_on_site_ended(request(
                complaints::RecordOnSiteEndedRequest {
                    request_id: self.key("ended", n),
                    inspection_id: inspection_id.to_string(),
                    last_onsite_date: london_date(last_on_site),
                    occurred_at: ts(last_on_site),
                },
                &self.tokens.partner,
            ))
            .await
            .unwrap();
        self.inspections
            .issue_draft_report(request(
                complaints::IssueDraftReportRequest {
                    request_id: self.key("draft", n),
                    inspection_id: inspection_id.to_string(),
                    doc_ref: format!("doc:draft-{n}"),
                    occurred_at: ts(self.now - SignedDuration::from_mins(90)),
                },
                &self.tokens.partner,
            ))
            .await
            .unwrap();
    }

    /// A complaint submitted, acknowledged, investigated and answered.
    async fn complaint(
        &mut self,
        n: usize,
        inspection_id: Uuid,
        provider: &str,
        head: &str,
    ) -> Uuid {
        let submitted = self
            .complaints
            .submit_formal_complaint(request(
                complaints::SubmitFormalComplaintRequest {
                    request_id: self.key("submit", n),
                    submission: Some(complaints::ComplaintSubmission {
                        inspection_id: inspection_id.to_string(),
                        grounds: vec![
                            complaints::ComplaintGround::EvidenceNotConsidered as i32,
                            complaints::ComplaintGround::InspectorConduct as i32,
                        ],
                        complainant: Some(complaints::ComplainantContact {
                            name: format!("Head {n}"),
                            role: "headteacher".into(),
                            email: format!("head-{n}@school.example"),
                            phone: String::new(),
                        }),
                        narrative: "The inspectors did not consider the evidence we offered."
                            .into(),
                        doc_refs: vec![format!("doc:complaint-{n}")],
                        provider_id: provider.to_owned(),
                    }),
                    route_override_reason_ref: String::new(),
                },
                head,
            ))
            .await
            .unwrap()
            .into_inner();
        let complaint_id = submitted.complaint_id;
        self.complaints
            .acknowledge_complaint(request(
                complaints::AcknowledgeComplaintRequest {
                    request_id: self.key("ack", n),
                    complaint_id: complaint_id.clone(),
                },
                &self.tokens.investigator,
            ))
            .await
            .unwrap();
        self.complaints
            .assign_investigator(request(
                complaints::AssignInvestigatorRequest {
                    request_id: self.key("assign", n),
                    complaint_id: complaint_id.clone(),
                },
                &self.tokens.investigator,
            ))
            .await
            .unwrap();
        self.complaints
            .issue_complaint_response(request(
                complaints::IssueComplaintResponseRequest {
                    request_id: self.key("respond", n),
                    complaint_id: complaint_id.clone(),
                    outcome: complaints::ComplaintOutcome::NotUpheld as i32,
                    remedies: vec![],
                    response_doc_ref: format!("doc:response-{n}"),
                },
                &self.tokens.decision,
            ))
            .await
            .unwrap();
        complaint_id.parse().unwrap()
    }

    /// Waits until the escalation context has copied the complaint's response from the
    /// complaints stream (an escalation asked for before that is refused).
    async fn copied(&self, complaint_id: Uuid) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let copied: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT FROM events WHERE stream_id = $1
                     AND event_type = 'redress.escalation.v1.ComplaintResponseRecorded')",
            )
            .bind(complaint_id)
            .fetch_one(&self.escalation_db)
            .await
            .unwrap();
            if copied {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "escalation never copied the response of {complaint_id}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn escalate(&mut self, n: usize, complaint_id: Uuid, head: &str) -> Uuid {
        let id = self
            .escalations
            .request_escalation(request(
                escalation::RequestEscalationRequest {
                    request_id: self.key("escalate", n),
                    complaint_id: complaint_id.to_string(),
                    grounds: vec![
                        escalation::Ground::FailureToFollowProcedures as i32,
                        escalation::Ground::Discourtesy as i32,
                    ],
                    out_of_remit_asks: vec![escalation::OutOfRemitAsk::OverturnJudgement as i32],
                },
                head,
            ))
            .await
            .unwrap()
            .into_inner()
            .escalation_id;
        let t = self.tokens.clone();
        self.escalations
            .accept_referral(request(
                escalation::AcceptReferralRequest {
                    request_id: self.key("accept", n),
                    escalation_id: id.clone(),
                },
                &t.body,
            ))
            .await
            .unwrap();
        self.escalations
            .appoint_adjudicator(request(
                escalation::AppointAdjudicatorRequest {
                    request_id: self.key("appoint", n),
                    escalation_id: id.clone(),
                    adjudicator_ref: "icaso:adjudicator".into(),
                },
                &t.body,
            ))
            .await
            .unwrap();
        self.escalations
            .issue_findings(request(
                escalation::IssueFindingsRequest {
                    request_id: self.key("findings", n),
                    escalation_id: id.clone(),
                    findings_ref: format!("icaso:findings-{n}"),
                    upheld_grounds: vec![escalation::Ground::FailureToFollowProcedures as i32],
                    recommendations: vec![
                        escalation::FindingsRecommendation {
                            recommendation_id: "R1".into(),
                            kind: escalation::RecommendationKind::Apology as i32,
                            text_ref: format!("icaso:r1-{n}"),
                        },
                        escalation::FindingsRecommendation {
                            recommendation_id: "R2".into(),
                            kind: escalation::RecommendationKind::ProcessImprovement as i32,
                            text_ref: format!("icaso:r2-{n}"),
                        },
                    ],
                },
                &t.adjudicator,
            ))
            .await
            .unwrap();
        self.escalations
            .accept_recommendation(request(
                escalation::AcceptRecommendationRequest {
                    request_id: self.key("accept-r1", n),
                    escalation_id: id.clone(),
                    recommendation_id: "R1".into(),
                    planned_action_ref: format!("doc:apology-{n}"),
                    due_on: String::new(),
                },
                &t.owner,
            ))
            .await
            .unwrap();
        self.escalations
            .decline_recommendation(request(
                escalation::DeclineRecommendationRequest {
                    request_id: self.key("decline-r2", n),
                    escalation_id: id.clone(),
                    recommendation_id: "R2".into(),
                    public_reason_ref: format!("doc:reason-{n}"),
                    statement_ref: format!("https://www.gov.uk/statement-{n}"),
                },
                &t.owner,
            ))
            .await
            .unwrap();
        id.parse().unwrap()
    }

    async fn learning_review(&mut self, n: usize, inspection_id: Uuid) {
        let t = self.tokens.clone();
        let incident = self
            .learning
            .report_incident(request(
                learning::ReportIncidentRequest {
                    request_id: self.key("incident", n),
                    source: learning::IncidentSource::ResponsibleBody as i32,
                    category: learning::IncidentCategory::SeriousHarm as i32,
                    related_inspection_ids: vec![inspection_id.to_string()],
                    account_ref: format!("vault:incident-{n}"),
                },
                &t.hmci,
            ))
            .await
            .unwrap()
            .into_inner()
            .incident_id;
        self.learning
            .assess_incident(request(
                learning::AssessIncidentRequest {
                    request_id: self.key("assess", n),
                    incident_id: incident.clone(),
                    assessment_ref: format!("doc:assessment-{n}"),
                },
                &t.hmci,
            ))
            .await
            .unwrap();
        let review = self
            .learning
            .propose_learning_review(request(
                learning::ProposeLearningReviewRequest {
                    request_id: self.key("propose", n),
                    incident_id: incident,
                    terms_of_reference_ref: format!("doc:terms-{n}"),
                    scope_in: vec![
                        learning::ScopeItem::ResponseToIncident as i32,
                        learning::ScopeItem::CommunicationsAndEngagement as i32,
                    ],
                    scope_out: vec![learning::ScopeItem::InspectionJudgements as i32],
                },
                &t.hmci,
            ))
            .await
            .unwrap()
            .into_inner()
            .review_id;
        for (step, token) in [("approve-hmci", &t.hmci), ("approve-chair", &t.chair)] {
            self.learning
                .approve_commission(request(
                    learning::ApproveCommissionRequest {
                        request_id: self.key(step, n),
                        review_id: review.clone(),
                    },
                    token,
                ))
                .await
                .unwrap();
        }
        self.learning
            .commission_learning_review(request(
                learning::CommissionLearningReviewRequest {
                    request_id: self.key("commission", n),
                    review_id: review.clone(),
                },
                &t.hmci,
            ))
            .await
            .unwrap();
        self.learning
            .appoint_reviewer(request(
                learning::AppointReviewerRequest {
                    request_id: self.key("appoint-reviewer", n),
                    review_id: review,
                    reviewer_ref: format!("reviewer:independent-{n}"),
                    independence_declaration_ref: format!("doc:declaration-{n}"),
                    prior_roles: vec![learning::PriorRole::FormerInspectorateEmployee as i32],
                },
                &t.chair,
            ))
            .await
            .unwrap();
    }
}
