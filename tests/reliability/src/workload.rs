//! The load: concurrent clients writing realistic cases through the public gRPC APIs, as the
//! inspection system, providers, staff and the independent body send them, while faults come
//! and go. Every command goes into the [`History`].
//!
//! A case is one inspection: notified, on site, a concern raised, assigned and resolved, the
//! draft report, a formal complaint submitted, acknowledged, investigated and answered; every
//! other case also reports an incident and proposes a learning review; once escalation has
//! copied the complaint's response, the provider escalates and the independent body accepts
//! and appoints an adjudicator. The copy travels over NATS, so a client does not wait for it:
//! it goes on with new cases and escalates each waiting complaint once its copy is there (or
//! gives up on it after 30 s), which keeps the load going while NATS is down. The dates are those of `services/redress/tests/ops/workload.rs`,
//! so that no deadline falls due during a run.
//!
//! Three probes per case must be refused and write nothing (I2): an invalid inspection id
//! (`INVALID_ARGUMENT`), resolving the concern with the inspection system's token
//! (`PERMISSION_DENIED`) and resolving it a second time (`FAILED_PRECONDITION`).
//!
//! Retries follow the reliability plan (I3): an unknown outcome is retried with the same key up
//! to five times, after 100 ms to 2 s of jittered exponential backoff. A command whose outcome
//! stays unknown ends its case, since the next steps depend on it.

use std::future::Future;
use std::hash::{Hash as _, Hasher as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use platform::grpc::Role;
use proto::common::v1::CommandReceipt;
use proto::complaints::v1 as complaints;
use proto::complaints::v1::complaints_client::ComplaintsClient;
use proto::complaints::v1::inspections_client::InspectionsClient;
use proto::escalation::v1 as escalation;
use proto::escalation::v1::escalations_client::EscalationsClient;
use proto::learning_reviews::v1 as learning;
use proto::learning_reviews::v1::learning_reviews_client::LearningReviewsClient;
use rand::Rng as _;
use sqlx::PgPool;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Response, Status};
use uuid::Uuid;

use crate::cluster::{Cluster, Service};
use crate::history::{Attempt, Entry, History, Intent, Outcome, definite};

/// Attempts of one command: the first and five retries.
const ATTEMPTS: usize = 6;
/// The deadline of every call.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// The most cases one client writes in a run (far more than a run has time for).
const CASES_PER_CLIENT: usize = 300;

/// How the load runs.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Concurrent clients, each writing one case at a time.
    pub clients: usize,
    /// How long clients start new commands.
    pub duration: Duration,
}

/// An answer that carries a receipt, and maybe the id of what it created.
pub trait Receipted {
    fn receipt(&self) -> Option<&CommandReceipt>;
    fn created(&self) -> Option<&str> {
        None
    }
}

macro_rules! receipted {
    ($($ty:ty),* $(,)?) => {$(
        impl Receipted for $ty {
            fn receipt(&self) -> Option<&CommandReceipt> {
                self.receipt.as_ref()
            }
        }
    )*};
    ($($ty:ty => $id:ident),* $(,)?) => {$(
        impl Receipted for $ty {
            fn receipt(&self) -> Option<&CommandReceipt> {
                self.receipt.as_ref()
            }
            fn created(&self) -> Option<&str> {
                Some(&self.$id)
            }
        }
    )*};
}

receipted!(
    complaints::AddComplaintInformationResponse,
    complaints::RecordInspectionNotifiedResponse,
    complaints::RecordOnSiteStartedResponse,
    complaints::RecordOnSiteEndedResponse,
    complaints::IssueDraftReportResponse,
    complaints::AssignConcernResponse,
    complaints::ResolveConcernResponse,
    complaints::AcknowledgeComplaintResponse,
    complaints::AssignInvestigatorResponse,
    complaints::IssueComplaintResponseResponse,
    escalation::AcceptReferralResponse,
    escalation::AppointAdjudicatorResponse,
    escalation::IssueFindingsResponse,
    escalation::AcceptRecommendationResponse,
    escalation::RecordImplementationResponse,
    escalation::CloseEscalationResponse,
    learning::AssessIncidentResponse,
    learning::ApproveCommissionResponse,
    learning::CommissionLearningReviewResponse,
    learning::AppointReviewerResponse,
    learning::PublishTermsOfReferenceResponse,
);
receipted!(
    complaints::RaiseConcernResponse => concern_id,
    complaints::SubmitFormalComplaintResponse => complaint_id,
    escalation::RequestEscalationResponse => escalation_id,
    learning::ReportIncidentResponse => incident_id,
    learning::ProposeLearningReviewResponse => review_id,
);

/// A command that did not end in `ok`: its case stops here (or, for a probe, goes on).
#[derive(Debug)]
pub struct NotOk(pub Outcome);

/// The staff and partner tokens every case uses, with their subjects (the keys' scopes).
#[derive(Clone, Debug)]
struct Caller {
    subject: String,
    token: String,
}

#[derive(Clone, Debug)]
struct Callers {
    partner: Caller,
    senior: Caller,
    investigator: Caller,
    decision: Caller,
    body: Caller,
    owner: Caller,
    hmci: Caller,
    chair: Caller,
}

/// One client of the load: its own connections to every service, its number in the history.
#[derive(Clone, Debug)]
pub struct Client {
    number: usize,
    run: String,
    now: Timestamp,
    history: Arc<History>,
    /// The subject and token of each case's provider representative, by case number.
    providers: Arc<Vec<(String, String)>>,
    callers: Callers,
    inspections: InspectionsClient<Channel>,
    complaints: ComplaintsClient<Channel>,
    escalations: EscalationsClient<Channel>,
    learning: LearningReviewsClient<Channel>,
    escalation_db: PgPool,
    /// The paced load's send times; `None` in the closed loop.
    pacer: Option<Arc<Pacer>>,
    /// Answered complaints to escalate once escalation has copied their response.
    waiting: Vec<Waiting>,
}

/// A case's formal complaint, just submitted, and the provider's representative who did.
#[derive(Clone, Debug)]
struct Submitted {
    inspection_id: String,
    complaint_id: String,
    head: Caller,
}

/// A complaint waiting for escalation's copy of its response.
#[derive(Clone, Debug)]
struct Waiting {
    n: usize,
    complaint_id: String,
    head: Caller,
    since: Instant,
}

fn channel(addr: SocketAddr) -> anyhow::Result<Channel> {
    // Lazy: a client whose service is down gets UNAVAILABLE per call, and reconnects by itself.
    Ok(Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy())
}

fn caller(cluster: &Cluster, subject: &str, role: Role) -> anyhow::Result<Caller> {
    Ok(Caller {
        subject: subject.to_owned(),
        token: cluster.token(subject, role, None)?,
    })
}

/// The paced load of the reliability plan (§6, load profile), beside the closed loop: the
/// clients share an aggregate target rate, and a share of the commands goes to a small hot set
/// of aggregates to force version conflicts.
///
/// The case clients write the cases above, each command waiting for its slot at
/// `(1 - hot_share) × rate`; the hot clients (a fifth of the clients, at least one) first
/// submit `hot_set` formal complaints between them, then add information to one of them drawn
/// at random, at `hot_share × rate`, under subjects starting with [`HOT_SCOPE`]. Retries are
/// not paced: they belong to their command. The command mix is the cases' (their complaints,
/// escalation and learning-review steps, plus the hot commands on complaints); the report
/// gives the mix a run had.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Commands per second, all clients together.
    pub rate: f64,
    /// The share of commands on the hot set.
    pub hot_share: f64,
    /// How many hot aggregates.
    pub hot_set: usize,
}

impl Pace {
    /// The plan's baseline: 50 commands/s (`REDRESS_RELIABILITY_RATE` sets another), 20 % on a
    /// hot set of 20 aggregates.
    pub fn baseline() -> Pace {
        let rate = std::env::var("REDRESS_RELIABILITY_RATE")
            .ok()
            .and_then(|r| r.parse().ok())
            .filter(|r: &f64| *r > 0.0)
            .unwrap_or(50.0);
        Pace {
            rate,
            hot_share: 0.2,
            hot_set: 20,
        }
    }
}

/// The subject prefix of the hot clients' tokens.
pub const HOT_SCOPE: &str = "hot:";

/// Hands out send times `1 / rate` apart to whoever asks, in turn.
#[derive(Debug)]
struct Pacer {
    interval: Duration,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl Pacer {
    fn new(rate: f64) -> Arc<Pacer> {
        Arc::new(Pacer {
            interval: Duration::from_secs_f64(1.0 / rate.max(0.001)),
            next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        })
    }

    /// Waits for the next slot. A client that fell behind takes the next slot from now, so a
    /// stall is not followed by a burst.
    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(tokio::time::Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// A hot aggregate: an open complaint and a provider representative allowed to add to it.
#[derive(Clone, Debug)]
struct Hot {
    complaint_id: String,
    caller: Caller,
}

/// Runs `load` against the cluster as a closed loop (each client as fast as it goes); returns
/// when every client has finished its last command.
///
/// # Errors
/// When the clients cannot be set up; failures of commands are outcomes in the history.
pub async fn run(cluster: &Cluster, load: Load) -> anyhow::Result<()> {
    run_with(cluster, load, None).await
}

/// Runs `load` paced by `pace`; see [`Pace`].
///
/// # Errors
/// As [`run`].
pub async fn run_paced(cluster: &Cluster, load: Load, pace: Pace) -> anyhow::Result<()> {
    run_with(cluster, load, Some(pace)).await
}

async fn run_with(cluster: &Cluster, load: Load, pace: Option<Pace>) -> anyhow::Result<()> {
    let callers = Callers {
        partner: caller(cluster, "partner:inspection-system", Role::InspectionSystem)?,
        senior: caller(cluster, "staff:senior-inspector-9", Role::SeniorInspector)?,
        investigator: caller(
            cluster,
            "staff:investigator-4",
            Role::ComplaintsInvestigator,
        )?,
        decision: caller(
            cluster,
            "staff:decision-maker-1",
            Role::ComplaintsDecisionMaker,
        )?,
        body: caller(cluster, "icaso:desk", Role::IndependentBody)?,
        owner: caller(cluster, "staff:director-7", Role::RecommendationOwner)?,
        hmci: caller(cluster, "staff:hmci", Role::Hmci)?,
        chair: caller(cluster, "board:chair", Role::BoardChair)?,
    };
    let complaints = channel(cluster.grpc_addr(Service::Complaints).await?)?;
    let escalations = channel(cluster.grpc_addr(Service::Escalation).await?)?;
    let learning = channel(cluster.grpc_addr(Service::LearningReviews).await?)?;
    let escalation_db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy(&cluster.database_url())?;
    let run = platform::testing::unique_prefix();
    let now = Timestamp::now();
    let deadline = Instant::now() + load.duration;
    let mut clients = tokio::task::JoinSet::new();
    let hot_clients = match pace {
        Some(_) => (load.clients / 5).max(1),
        None => 0,
    };
    let case_pacer = pace.map(|p| Pacer::new(p.rate * (1.0 - p.hot_share)));
    let hot_pacer = pace.map(|p| Pacer::new(p.rate * p.hot_share));
    let hot_set = Arc::new(std::sync::Mutex::new(Vec::new()));
    let hot_ready = Arc::new(tokio::sync::Barrier::new(hot_clients));
    for number in 0..load.clients {
        // Provider tokens are issued up front: a case needs one for its provider.
        let mut provider_tokens = Vec::new();
        for case in 0..CASES_PER_CLIENT {
            let provider = provider_id(&run, number, case);
            let subject = format!("head:{number}-{case}");
            let token = cluster.token(&subject, Role::ProviderRepresentative, Some(&provider))?;
            provider_tokens.push((subject, token));
        }
        let client = Client {
            number,
            run: run.clone(),
            now,
            history: Arc::clone(cluster.history()),
            providers: Arc::new(provider_tokens),
            callers: callers.clone(),
            inspections: InspectionsClient::new(complaints.clone()),
            complaints: ComplaintsClient::new(complaints.clone()),
            escalations: EscalationsClient::new(escalations.clone()),
            learning: LearningReviewsClient::new(learning.clone()),
            escalation_db: escalation_db.clone(),
            waiting: Vec::new(),
            pacer: case_pacer.clone(),
        };
        if let Some(pace) = pace
            && number >= load.clients - hot_clients
        {
            let mine: Vec<usize> = (0..pace.hot_set)
                .filter(|k| k % hot_clients == number - (load.clients - hot_clients))
                .collect();
            let mut callers = Vec::new();
            for &n in &mine {
                let provider = provider_id(&run, number, n);
                let subject = format!("{HOT_SCOPE}{number}-{n}");
                callers.push(Caller {
                    token: cluster.token(
                        &subject,
                        Role::ProviderRepresentative,
                        Some(&provider),
                    )?,
                    subject,
                });
            }
            let (hot_set, hot_ready, pacer) = (
                Arc::clone(&hot_set),
                Arc::clone(&hot_ready),
                hot_pacer.clone(),
            );
            clients.spawn(async move {
                let mut client = client;
                client.pacer = None;
                for (n, caller) in mine.into_iter().zip(callers) {
                    if let Ok(submitted) = client.submitted(n, deadline).await
                        && let Ok(mut set) = hot_set.lock()
                    {
                        set.push(Hot {
                            complaint_id: submitted.complaint_id,
                            caller,
                        });
                    }
                }
                hot_ready.wait().await;
                let set: Vec<Hot> = hot_set.lock().map(|s| s.clone()).unwrap_or_default();
                client.pacer = pacer;
                client.hot(&set, deadline).await;
            });
            continue;
        }
        clients.spawn(async move {
            let mut client = client;
            let mut case = 0;
            while Instant::now() < deadline && case < CASES_PER_CLIENT {
                // A case that stops early (unknown outcome) leaves the rest to the checker.
                let _ = client.case(case, deadline).await;
                if Instant::now() < deadline {
                    let _ = client.escalate_copied().await;
                }
                case += 1;
            }
        });
    }
    while let Some(done) = clients.join_next().await {
        done?;
    }
    escalation_db.close().await;
    Ok(())
}

fn provider_id(run: &str, client: usize, case: usize) -> String {
    format!("URN-{}-{client}-{case}", run.to_uppercase())
}

fn ts(at: Timestamp) -> Option<prost_types::Timestamp> {
    Some(platform::aggregate::timestamp(at))
}

fn london_date(at: Timestamp) -> String {
    platform::calendar::local_date(at).to_string()
}

fn hash_of(request: &impl prost::Message) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    request.encode_to_vec().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The backoff before retry `n` (1-based): 100 ms doubling to at most 2 s, with the upper half
/// drawn at random so that clients that failed together do not retry together.
fn backoff(n: usize) -> Duration {
    let exponent = u32::try_from(n.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(5);
    let ceiling = (100u64 << exponent).min(2_000);
    Duration::from_millis(rand::rng().random_range(ceiling / 2..=ceiling))
}

/// Calls `$client.$method(request)` on a clone, so a closure can be called once per attempt.
macro_rules! call {
    ($client:expr, $method:ident) => {{
        let client = $client.clone();
        move |request| {
            let mut client = client.clone();
            async move { client.$method(request).await }
        }
    }};
}

impl Client {
    fn key(&self, step: &str, case: usize) -> String {
        format!("{}-{}-{step}-{case}", self.run, self.number)
    }

    /// Sends one command until it is `ok`, definitely refused, or out of attempts; records it.
    #[allow(clippy::too_many_arguments)] // Each is a field of the history entry.
    async fn send<Req, Resp, F, Fut>(
        &self,
        rpc: &str,
        service: Service,
        caller: &Caller,
        key: String,
        intent: Intent,
        request: Req,
        mut call: F,
    ) -> Result<Resp, NotOk>
    where
        Req: prost::Message + Clone,
        Resp: Receipted,
        F: FnMut(tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        if let Some(pacer) = &self.pacer {
            pacer.wait().await;
        }
        let mut entry = Entry {
            client: self.number,
            idempotency_key: key,
            rpc: rpc.to_owned(),
            schema: service.schema().to_owned(),
            scope: caller.subject.clone(),
            request_hash: hash_of(&request),
            intent,
            start_ms: self.history.now_ms(),
            end_ms: 0,
            outcome: Outcome::Unknown,
            code: String::new(),
            attempts: Vec::new(),
            stream_id: None,
            version: None,
            returned_event_ids: Vec::new(),
            created_id: None,
        };
        let mut answer = None;
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                tokio::time::sleep(backoff(attempt - 1)).await;
            }
            let mut message = tonic::Request::new(request.clone());
            message.set_timeout(DEADLINE);
            if let Ok(value) = MetadataValue::try_from(caller.token.as_str()) {
                message.metadata_mut().insert("authorization", value);
            }
            let start_ms = self.history.now_ms();
            let result = call(message).await;
            let end_ms = self.history.now_ms();
            match result {
                Ok(response) => {
                    let response = response.into_inner();
                    let receipt = response.receipt().cloned().unwrap_or_default();
                    entry.attempts.push(Attempt {
                        start_ms,
                        end_ms,
                        code: "OK".into(),
                        event_ids: receipt.event_ids.clone(),
                    });
                    entry.outcome = Outcome::Ok;
                    entry.stream_id = Some(receipt.stream_id);
                    entry.version = Some(receipt.version);
                    entry.returned_event_ids = receipt.event_ids;
                    entry.created_id = response.created().map(str::to_owned);
                    answer = Some(response);
                    break;
                }
                Err(status) => {
                    entry.attempts.push(Attempt {
                        start_ms,
                        end_ms,
                        code: format!("{:?}", status.code()),
                        event_ids: Vec::new(),
                    });
                    if definite(status.code()) {
                        entry.outcome = Outcome::Fail;
                        break;
                    }
                }
            }
        }
        entry.end_ms = self.history.now_ms();
        entry.code = entry
            .attempts
            .last()
            .map(|a| a.code.clone())
            .unwrap_or_default();
        // The history is the record the checker trusts: a write failure ends the run loudly.
        if let Err(e) = self.history.record(&entry) {
            panic!("Failed to record the history: {e:#}");
        }
        answer.ok_or(NotOk(entry.outcome))
    }

    /// One case; stops at the first command whose outcome is not `ok`, or once `deadline` has
    /// passed between two steps.
    async fn case(&mut self, n: usize, deadline: Instant) -> Result<(), NotOk> {
        let Submitted {
            inspection_id: id,
            complaint_id,
            head,
        } = self.submitted(n, deadline).await?;
        let c = self.callers.clone();
        let going = || {
            if Instant::now() < deadline {
                Ok(())
            } else {
                Err(NotOk(Outcome::Ok))
            }
        };
        self.send(
            "/redress.complaints.v1.Complaints/AcknowledgeComplaint",
            Service::Complaints,
            &c.investigator,
            self.key("ack", n),
            Intent::Accept,
            complaints::AcknowledgeComplaintRequest {
                request_id: self.key("ack", n),
                complaint_id: complaint_id.clone(),
            },
            call!(self.complaints, acknowledge_complaint),
        )
        .await?;
        self.send(
            "/redress.complaints.v1.Complaints/AssignInvestigator",
            Service::Complaints,
            &c.investigator,
            self.key("assign", n),
            Intent::Accept,
            complaints::AssignInvestigatorRequest {
                request_id: self.key("assign", n),
                complaint_id: complaint_id.clone(),
            },
            call!(self.complaints, assign_investigator),
        )
        .await?;
        self.send(
            "/redress.complaints.v1.Complaints/IssueComplaintResponse",
            Service::Complaints,
            &c.decision,
            self.key("respond", n),
            Intent::Accept,
            complaints::IssueComplaintResponseRequest {
                request_id: self.key("respond", n),
                complaint_id: complaint_id.clone(),
                outcome: complaints::ComplaintOutcome::NotUpheld as i32,
                remedies: vec![],
                response_doc_ref: format!("doc:response-{n}"),
            },
            call!(self.complaints, issue_complaint_response),
        )
        .await?;
        going()?;

        if n.is_multiple_of(2) {
            self.learning_review(n, &id, &c.hmci).await?;
            going()?;
        }
        self.waiting.push(Waiting {
            n,
            complaint_id,
            head,
            since: Instant::now(),
        });
        Ok(())
    }

    /// The first part of case `n`: the inspection, the concern and its probes, the draft, and
    /// the formal complaint submitted (open, so more information may be added to it).
    async fn submitted(&self, n: usize, deadline: Instant) -> Result<Submitted, NotOk> {
        let inspection_id = Uuid::new_v4();
        let provider = provider_id(&self.run, self.number, n);
        let (head_subject, head_token) =
            self.providers.get(n).cloned().ok_or(NotOk(Outcome::Ok))?;
        let head = Caller {
            subject: head_subject,
            token: head_token,
        };
        let c = self.callers.clone();
        let on_site = self.now - SignedDuration::from_hours(72);
        let going = || {
            if Instant::now() < deadline {
                Ok(())
            } else {
                Err(NotOk(Outcome::Ok))
            }
        };
        let id = inspection_id.to_string();

        self.send(
            "/redress.complaints.v1.Inspections/RecordInspectionNotified",
            Service::Complaints,
            &c.partner,
            self.key("notify", n),
            Intent::Accept,
            complaints::RecordInspectionNotifiedRequest {
                request_id: self.key("notify", n),
                inspection_id: id.clone(),
                provider_id: provider.clone(),
                remit: complaints::Remit::Schools as i32,
                lead_inspector_ref: format!("staff:lead-{n}"),
                team_inspector_refs: vec![format!("staff:team-{n}")],
                on_site_starts_on: london_date(on_site),
                occurred_at: ts(self.now - SignedDuration::from_hours(24 * 6)),
            },
            call!(self.inspections, record_inspection_notified),
        )
        .await?;
        self.send(
            "/redress.complaints.v1.Inspections/RecordOnSiteStarted",
            Service::Complaints,
            &c.partner,
            self.key("on-site", n),
            Intent::Accept,
            complaints::RecordOnSiteStartedRequest {
                request_id: self.key("on-site", n),
                inspection_id: id.clone(),
                occurred_at: ts(on_site),
            },
            call!(self.inspections, record_on_site_started),
        )
        .await?;
        // Probe: a malformed id is refused before anything is written.
        let _ = self
            .send(
                "/redress.complaints.v1.Inspections/RecordOnSiteStarted",
                Service::Complaints,
                &c.partner,
                self.key("probe-invalid", n),
                Intent::Refuse,
                complaints::RecordOnSiteStartedRequest {
                    request_id: self.key("probe-invalid", n),
                    inspection_id: format!("not-a-uuid-{n}"),
                    occurred_at: ts(on_site),
                },
                call!(self.inspections, record_on_site_started),
            )
            .await;
        going()?;

        let concern = self
            .send(
                "/redress.complaints.v1.Inspections/RaiseConcern",
                Service::Complaints,
                &head,
                self.key("concern", n),
                Intent::Accept,
                complaints::RaiseConcernRequest {
                    request_id: self.key("concern", n),
                    inspection_id: id.clone(),
                    channel: complaints::ConcernChannel::DuringInspectionHelpline as i32,
                    topic: complaints::ConcernTopic::InspectorConduct as i32,
                    detail: "The team did not look at the safeguarding log we offered.".into(),
                    accompanied: true,
                },
                call!(self.inspections, raise_concern),
            )
            .await?
            .concern_id;
        self.send(
            "/redress.complaints.v1.Inspections/AssignConcern",
            Service::Complaints,
            &c.senior,
            self.key("concern-assign", n),
            Intent::Accept,
            complaints::AssignConcernRequest {
                request_id: self.key("concern-assign", n),
                concern_id: concern.clone(),
            },
            call!(self.inspections, assign_concern),
        )
        .await?;
        let resolve = |key: String| complaints::ResolveConcernRequest {
            request_id: key,
            concern_id: concern.clone(),
            summary: "The lead inspector reviewed the log with the head.".into(),
        };
        // Probe: the inspection system may not resolve a concern.
        let _ = self
            .send(
                "/redress.complaints.v1.Inspections/ResolveConcern",
                Service::Complaints,
                &c.partner,
                self.key("probe-denied", n),
                Intent::Refuse,
                resolve(self.key("probe-denied", n)),
                call!(self.inspections, resolve_concern),
            )
            .await;
        self.send(
            "/redress.complaints.v1.Inspections/ResolveConcern",
            Service::Complaints,
            &c.senior,
            self.key("concern-resolve", n),
            Intent::Accept,
            resolve(self.key("concern-resolve", n)),
            call!(self.inspections, resolve_concern),
        )
        .await?;
        // Probe: a resolved concern cannot be resolved again (a new key: a new command).
        let _ = self
            .send(
                "/redress.complaints.v1.Inspections/ResolveConcern",
                Service::Complaints,
                &c.senior,
                self.key("probe-again", n),
                Intent::Refuse,
                resolve(self.key("probe-again", n)),
                call!(self.inspections, resolve_concern),
            )
            .await;
        going()?;

        let last_on_site = on_site + SignedDuration::from_hours(24);
        self.send(
            "/redress.complaints.v1.Inspections/RecordOnSiteEnded",
            Service::Complaints,
            &c.partner,
            self.key("ended", n),
            Intent::Accept,
            complaints::RecordOnSiteEndedRequest {
                request_id: self.key("ended", n),
                inspection_id: id.clone(),
                last_onsite_date: london_date(last_on_site),
                occurred_at: ts(last_on_site),
            },
            call!(self.inspections, record_on_site_ended),
        )
        .await?;
        self.send(
            "/redress.complaints.v1.Inspections/IssueDraftReport",
            Service::Complaints,
            &c.partner,
            self.key("draft", n),
            Intent::Accept,
            complaints::IssueDraftReportRequest {
                request_id: self.key("draft", n),
                inspection_id: id.clone(),
                doc_ref: format!("doc:draft-{n}"),
                occurred_at: ts(self.now - SignedDuration::from_mins(90)),
            },
            call!(self.inspections, issue_draft_report),
        )
        .await?;
        going()?;

        let complaint_id = self
            .send(
                "/redress.complaints.v1.Complaints/SubmitFormalComplaint",
                Service::Complaints,
                &head,
                self.key("submit", n),
                Intent::Accept,
                complaints::SubmitFormalComplaintRequest {
                    request_id: self.key("submit", n),
                    submission: Some(complaints::ComplaintSubmission {
                        inspection_id: id.clone(),
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
                        provider_id: provider.clone(),
                    }),
                    route_override_reason_ref: String::new(),
                },
                call!(self.complaints, submit_formal_complaint),
            )
            .await?
            .complaint_id;
        Ok(Submitted {
            inspection_id: id,
            complaint_id,
            head,
        })
    }

    /// Adds information to hot complaints drawn at random until `deadline`: concurrent writers
    /// on the same few streams, so some lose the race for a version.
    async fn hot(&self, set: &[Hot], deadline: Instant) {
        let mut n = 0;
        while !set.is_empty() && Instant::now() < deadline {
            let hot = &set[rand::rng().random_range(0..set.len())];
            let key = self.key("hot-information", n);
            let _ = self
                .send(
                    "/redress.complaints.v1.Complaints/AddComplaintInformation",
                    Service::Complaints,
                    &hot.caller,
                    key.clone(),
                    Intent::Accept,
                    complaints::AddComplaintInformationRequest {
                        request_id: key,
                        complaint_id: hot.complaint_id.clone(),
                        doc_ref: format!("doc:information-{}-{n}", self.number),
                    },
                    call!(self.complaints, add_complaint_information),
                )
                .await;
            n += 1;
        }
    }

    /// Escalates every waiting complaint whose response escalation has copied; forgets those
    /// that have waited 30 s. Stops at the first escalation step that is not `ok`.
    async fn escalate_copied(&mut self) -> Result<(), NotOk> {
        let waiting = std::mem::take(&mut self.waiting);
        let ids: Vec<Uuid> = waiting
            .iter()
            .filter_map(|w| w.complaint_id.parse().ok())
            .collect();
        // Errors while PostgreSQL is down count as "not yet".
        let copied: Vec<Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT stream_id FROM escalation.events WHERE stream_id = ANY($1)
                 AND event_type = 'redress.escalation.v1.ComplaintResponseRecorded'",
        )
        .bind(&ids)
        .fetch_all(&self.escalation_db)
        .await
        .unwrap_or_default();
        let body = self.callers.body.clone();
        let mut result = Ok(());
        for case in waiting {
            let is_copied = case
                .complaint_id
                .parse::<Uuid>()
                .is_ok_and(|id| copied.contains(&id));
            if is_copied && result.is_ok() {
                result = self
                    .escalate(case.n, &case.complaint_id, &case.head, &body)
                    .await;
            } else if !is_copied && case.since.elapsed() < Duration::from_secs(30) {
                self.waiting.push(case);
            }
        }
        result
    }

    async fn learning_review(
        &self,
        n: usize,
        inspection_id: &str,
        hmci: &Caller,
    ) -> Result<(), NotOk> {
        let incident = self
            .send(
                "/redress.learning_reviews.v1.LearningReviews/ReportIncident",
                Service::LearningReviews,
                hmci,
                self.key("incident", n),
                Intent::Accept,
                learning::ReportIncidentRequest {
                    request_id: self.key("incident", n),
                    source: learning::IncidentSource::ResponsibleBody as i32,
                    category: learning::IncidentCategory::SeriousHarm as i32,
                    related_inspection_ids: vec![inspection_id.to_owned()],
                    account_ref: format!("vault:incident-{n}"),
                },
                call!(self.learning, report_incident),
            )
            .await?
            .incident_id;
        self.send(
            "/redress.learning_reviews.v1.LearningReviews/AssessIncident",
            Service::LearningReviews,
            hmci,
            self.key("assess", n),
            Intent::Accept,
            learning::AssessIncidentRequest {
                request_id: self.key("assess", n),
                incident_id: incident.clone(),
                assessment_ref: format!("doc:assessment-{n}"),
            },
            call!(self.learning, assess_incident),
        )
        .await?;
        let review = self
            .send(
                "/redress.learning_reviews.v1.LearningReviews/ProposeLearningReview",
                Service::LearningReviews,
                hmci,
                self.key("propose", n),
                Intent::Accept,
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
                call!(self.learning, propose_learning_review),
            )
            .await?
            .review_id;
        self.commission(n, &review, hmci).await
    }

    /// Review `n` approved by both the policy names, commissioned, given an independent
    /// reviewer and its terms of reference published.
    async fn commission(&self, n: usize, review: &str, hmci: &Caller) -> Result<(), NotOk> {
        let chair = &self.callers.chair;
        for (step, approver) in [("approve-hmci", hmci), ("approve-chair", chair)] {
            self.send(
                "/redress.learning_reviews.v1.LearningReviews/ApproveCommission",
                Service::LearningReviews,
                approver,
                self.key(step, n),
                Intent::Accept,
                learning::ApproveCommissionRequest {
                    request_id: self.key(step, n),
                    review_id: review.to_owned(),
                },
                call!(self.learning, approve_commission),
            )
            .await?;
        }
        self.send(
            "/redress.learning_reviews.v1.LearningReviews/CommissionLearningReview",
            Service::LearningReviews,
            hmci,
            self.key("commission", n),
            Intent::Accept,
            learning::CommissionLearningReviewRequest {
                request_id: self.key("commission", n),
                review_id: review.to_owned(),
            },
            call!(self.learning, commission_learning_review),
        )
        .await?;
        self.send(
            "/redress.learning_reviews.v1.LearningReviews/AppointReviewer",
            Service::LearningReviews,
            chair,
            self.key("appoint-reviewer", n),
            Intent::Accept,
            learning::AppointReviewerRequest {
                request_id: self.key("appoint-reviewer", n),
                review_id: review.to_owned(),
                reviewer_ref: format!("reviewer:independent-{}", self.number),
                independence_declaration_ref: format!("doc:declaration-{n}"),
                prior_roles: vec![learning::PriorRole::FormerInspectorateEmployee as i32],
            },
            call!(self.learning, appoint_reviewer),
        )
        .await?;
        self.send(
            "/redress.learning_reviews.v1.LearningReviews/PublishTermsOfReference",
            Service::LearningReviews,
            hmci,
            self.key("terms", n),
            Intent::Accept,
            learning::PublishTermsOfReferenceRequest {
                request_id: self.key("terms", n),
                review_id: review.to_owned(),
            },
            call!(self.learning, publish_terms_of_reference),
        )
        .await?;
        Ok(())
    }

    async fn escalate(
        &self,
        n: usize,
        complaint_id: &str,
        head: &Caller,
        body: &Caller,
    ) -> Result<(), NotOk> {
        let escalation_id = self
            .send(
                "/redress.escalation.v1.Escalations/RequestEscalation",
                Service::Escalation,
                head,
                self.key("escalate", n),
                Intent::Accept,
                escalation::RequestEscalationRequest {
                    request_id: self.key("escalate", n),
                    complaint_id: complaint_id.to_owned(),
                    grounds: vec![
                        escalation::Ground::FailureToFollowProcedures as i32,
                        escalation::Ground::Discourtesy as i32,
                    ],
                    out_of_remit_asks: vec![escalation::OutOfRemitAsk::OverturnJudgement as i32],
                },
                call!(self.escalations, request_escalation),
            )
            .await?
            .escalation_id;
        self.send(
            "/redress.escalation.v1.Escalations/AcceptReferral",
            Service::Escalation,
            body,
            self.key("accept", n),
            Intent::Accept,
            escalation::AcceptReferralRequest {
                request_id: self.key("accept", n),
                escalation_id: escalation_id.clone(),
            },
            call!(self.escalations, accept_referral),
        )
        .await?;
        self.send(
            "/redress.escalation.v1.Escalations/AppointAdjudicator",
            Service::Escalation,
            body,
            self.key("appoint", n),
            Intent::Accept,
            escalation::AppointAdjudicatorRequest {
                request_id: self.key("appoint", n),
                escalation_id: escalation_id.clone(),
                adjudicator_ref: "icaso:adjudicator".into(),
            },
            call!(self.escalations, appoint_adjudicator),
        )
        .await?;
        if n.is_multiple_of(2) {
            self.conclude(n, &escalation_id, body).await?;
        }
        Ok(())
    }

    /// Escalation `n` concluded: findings with two recommendations inside the remit, each
    /// accepted with a planned action and implemented, and the escalation closed.
    async fn conclude(&self, n: usize, escalation_id: &str, body: &Caller) -> Result<(), NotOk> {
        const RECOMMENDATIONS: [(&str, escalation::RecommendationKind); 2] = [
            ("R1", escalation::RecommendationKind::Apology),
            ("R2", escalation::RecommendationKind::ProcessImprovement),
        ];
        let owner = &self.callers.owner;
        self.send(
            "/redress.escalation.v1.Escalations/IssueFindings",
            Service::Escalation,
            body,
            self.key("findings", n),
            Intent::Accept,
            escalation::IssueFindingsRequest {
                request_id: self.key("findings", n),
                escalation_id: escalation_id.to_owned(),
                findings_ref: format!("icaso:findings-{n}"),
                upheld_grounds: vec![escalation::Ground::FailureToFollowProcedures as i32],
                recommendations: RECOMMENDATIONS
                    .iter()
                    .map(|(id, kind)| escalation::FindingsRecommendation {
                        recommendation_id: (*id).to_owned(),
                        kind: *kind as i32,
                        text_ref: format!("icaso:findings-{n}/{id}"),
                    })
                    .collect(),
            },
            call!(self.escalations, issue_findings),
        )
        .await?;
        for (id, _) in RECOMMENDATIONS {
            let step = format!("accept-{id}");
            self.send(
                "/redress.escalation.v1.Escalations/AcceptRecommendation",
                Service::Escalation,
                owner,
                self.key(&step, n),
                Intent::Accept,
                escalation::AcceptRecommendationRequest {
                    request_id: self.key(&step, n),
                    escalation_id: escalation_id.to_owned(),
                    recommendation_id: id.to_owned(),
                    planned_action_ref: format!("doc:action-{n}-{id}"),
                    due_on: String::new(),
                },
                call!(self.escalations, accept_recommendation),
            )
            .await?;
        }
        for (id, _) in RECOMMENDATIONS {
            let step = format!("implemented-{id}");
            self.send(
                "/redress.escalation.v1.Escalations/RecordImplementation",
                Service::Escalation,
                owner,
                self.key(&step, n),
                Intent::Accept,
                escalation::RecordImplementationRequest {
                    request_id: self.key(&step, n),
                    escalation_id: escalation_id.to_owned(),
                    recommendation_id: id.to_owned(),
                    evidence_ref: format!("doc:evidence-{n}-{id}"),
                },
                call!(self.escalations, record_implementation),
            )
            .await?;
        }
        self.send(
            "/redress.escalation.v1.Escalations/CloseEscalation",
            Service::Escalation,
            owner,
            self.key("close", n),
            Intent::Accept,
            escalation::CloseEscalationRequest {
                request_id: self.key("close", n),
                escalation_id: escalation_id.to_owned(),
            },
            call!(self.escalations, close_escalation),
        )
        .await?;
        Ok(())
    }
}
