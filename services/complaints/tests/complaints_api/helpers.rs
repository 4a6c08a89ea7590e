//! What the Complaints API tests share: a client on the real server, tokens, Europe/London
//! instants, inspections arranged through the `InspectionCase` domain commands, valid requests
//! and assertions on statuses and stored events.

use std::sync::Arc;

use async_nats::jetstream;
use complaints::domain::inspection::{self, InspectionCase};
use complaints::domain::policy::Policy;
use complaints::domain::{Remit, Role, v1};
use complaints::testing::{TestApp, spawn_app};
use jiff::civil::{Date, date};
use jiff::{SignedDuration, Timestamp};
use platform::event_store::CommandContext;
use platform::tail::Metadata;
use proto::complaints::v1::complaints_client::ComplaintsClient;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt as _;
use uuid::Uuid;

pub const PROVIDER: &str = "URN-100001";
pub const OTHER_PROVIDER: &str = "URN-200002";
pub const LEAD: &str = "staff:LI-1";
pub const TEAM: &str = "staff:TI-2";

/// The real server and a client of it.
pub struct Api {
    pub app: TestApp,
    pub client: ComplaintsClient<Channel>,
}

pub async fn api() -> Api {
    let app = spawn_app().await;
    let client = ComplaintsClient::connect(app.address.clone())
        .await
        .expect("Failed to connect to the test server");
    Api { app, client }
}

impl Api {
    /// A bearer token: providers act for [`PROVIDER`].
    pub fn token(&self, role: Role) -> String {
        let provider = role.acts_for_provider().then_some(PROVIDER);
        self.app.token(role, provider)
    }

    pub fn token_for_other_provider(&self) -> String {
        self.app
            .token(Role::ProviderRepresentative, Some(OTHER_PROVIDER))
    }

    pub fn provider(&self) -> String {
        self.token(Role::ProviderRepresentative)
    }

    pub fn decision_maker(&self) -> String {
        self.token(Role::ComplaintsDecisionMaker)
    }

    pub fn investigator(&self) -> String {
        self.token(Role::ComplaintsInvestigator)
    }

    /// Sets the service's clock.
    pub fn now(&self, at: Timestamp) {
        self.app.context.clock.set(at);
    }

    /// Every event in the service's log as (stream id, event type), in log order.
    pub async fn events(&self) -> Vec<(Uuid, String)> {
        sqlx::query_as("SELECT stream_id, event_type FROM events ORDER BY transaction_id, position")
            .fetch_all(self.app.db_pool())
            .await
            .expect("Failed to read events")
    }

    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(self.app.db_pool())
            .await
            .expect("Failed to count events")
    }

    /// The event types of one stream, in order.
    pub async fn stream(&self, id: Uuid) -> Vec<String> {
        sqlx::query_scalar("SELECT event_type FROM events WHERE stream_id = $1 ORDER BY version")
            .bind(id)
            .fetch_all(self.app.db_pool())
            .await
            .expect("Failed to read a stream")
    }

    /// Runs an inspection command in the Arrange step.
    pub async fn inspection(&self, id: Uuid, command: inspection::Command) {
        let context = CommandContext {
            metadata: Metadata::for_command("test:arrange", Uuid::now_v7(), None),
            ..CommandContext::default()
        };
        self.app
            .context
            .store
            .execute::<InspectionCase>(id, command, &context)
            .await
            .expect("the arranged inspection command is accepted");
    }

    /// Notifies inspection `id` of `provider_id`, on site from `first` (notified the day before).
    pub async fn notify(&self, id: Uuid, first: Date, provider_id: &str) {
        let policy = self.policy(first);
        let notified = first.yesterday().expect("a day before");
        self.inspection(
            id,
            inspection::Command::RecordInspectionNotified {
                inspection_id: id,
                remit: Remit::Schools,
                lead_inspector_ref: LEAD.into(),
                team_inspector_refs: vec![TEAM.into()],
                notified_at: london(notified, 10, 0),
                on_site_starts_on: first,
                policy,
                provider_id: provider_id.to_owned(),
            },
        )
        .await;
    }

    /// Tries to publish the inspection's report; the rejection's reason on refusal.
    pub async fn publish(&self, id: Uuid, at: Timestamp) -> Result<(), &'static str> {
        let context = CommandContext {
            metadata: Metadata::for_command("test:act", Uuid::now_v7(), None),
            ..CommandContext::default()
        };
        match self
            .app
            .context
            .store
            .execute::<InspectionCase>(
                id,
                inspection::Command::PublishReport { published_at: at },
                &context,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(platform::event_store::ExecuteError::Rejected(r)) => Err(r.reason()),
            Err(e) => panic!("publishing failed: {e}"),
        }
    }

    /// An inspection on site Mon–Tue of the week before `draft_on`, with its draft report issued
    /// at 09:00 on `draft_on`.
    pub async fn inspection_with_draft(&self, draft_on: Date) -> Uuid {
        let id = self.inspection_on_site(draft_on).await;
        self.inspection(id, self.draft(draft_on)).await;
        id
    }

    /// An inspection whose on-site work ended before `draft_on`, with no draft yet.
    pub async fn inspection_on_site(&self, draft_on: Date) -> Uuid {
        let id = Uuid::now_v7();
        let first = draft_on - jiff::Span::new().days(7);
        let last = draft_on - jiff::Span::new().days(6);
        let policy = self.policy(first);
        self.notify(id, first, PROVIDER).await;
        self.inspection(
            id,
            inspection::Command::RecordOnSiteStarted {
                started_at: london(first, 8, 0),
                policy: Arc::clone(&policy),
            },
        )
        .await;
        self.inspection(
            id,
            inspection::Command::RecordOnSiteEnded {
                last_onsite_date: last,
                recorded_at: london(last, 17, 0),
                policy,
                calendar: self.app.context.calendar,
            },
        )
        .await;
        id
    }

    pub fn draft(&self, on: Date) -> inspection::Command {
        inspection::Command::IssueDraftReport {
            doc_ref: "doc:draft-1".into(),
            issued_at: london(on, 9, 0),
            policy: self.policy(on - jiff::Span::new().days(7)),
            calendar: self.app.context.calendar,
        }
    }

    pub fn policy(&self, on: Date) -> Arc<Policy> {
        self.app
            .context
            .policies
            .in_force_at(on)
            .expect("a policy is in force")
    }

    /// Submits a valid complaint about `inspection_id` as the provider at `at`.
    pub async fn submit(
        &mut self,
        inspection_id: Uuid,
        request_id: &str,
        at: Timestamp,
    ) -> Result<v1::SubmitFormalComplaintResponse, Status> {
        self.now(at);
        let token = self.provider();
        self.client
            .submit_formal_complaint(authed(submit_request(inspection_id, request_id), &token))
            .await
            .map(tonic::Response::into_inner)
    }

    /// An open complaint submitted on Thu 3 July 2025 about an inspection whose draft was issued
    /// on Mon 30 June 2025 (scenario S4): (inspection, complaint).
    pub async fn submitted_complaint(&mut self) -> (Uuid, Uuid) {
        let inspection_id = self.inspection_with_draft(date(2025, 6, 30)).await;
        let submitted = self
            .submit(inspection_id, "K1", london(date(2025, 7, 3), 10, 0))
            .await
            .expect("the complaint is accepted");
        (
            inspection_id,
            submitted.complaint_id.parse().expect("a UUID"),
        )
    }

    /// The S4 complaint, acknowledged on 4 July and taken by the investigator.
    pub async fn investigated_complaint(&mut self) -> (Uuid, Uuid) {
        let (inspection_id, complaint_id) = self.submitted_complaint().await;
        self.now(london(date(2025, 7, 4), 10, 0));
        let token = self.investigator();
        self.client
            .acknowledge_complaint(authed(
                v1::AcknowledgeComplaintRequest {
                    request_id: "ack-1".into(),
                    complaint_id: complaint_id.to_string(),
                },
                &token,
            ))
            .await
            .expect("acknowledged");
        self.client
            .assign_investigator(authed(
                v1::AssignInvestigatorRequest {
                    request_id: "assign-1".into(),
                    complaint_id: complaint_id.to_string(),
                },
                &token,
            ))
            .await
            .expect("assigned");
        (inspection_id, complaint_id)
    }
}

/// A JetStream context on the test's NATS server.
pub async fn js(api: &Api) -> jetstream::Context {
    jetstream::new(api.app.nats.client().await.expect("NATS"))
}

/// The S4 complaint answered on Fri 1 August 2025 at 12:00: (inspection, complaint, the last
/// instant of its escalation window).
pub async fn answered_complaint(api: &mut Api) -> (Uuid, Uuid, Timestamp) {
    let (inspection_id, complaint_id) = api.investigated_complaint().await;
    api.now(london(date(2025, 8, 1), 12, 0));
    let answered = api
        .client
        .issue_complaint_response(authed(
            response(complaint_id, "respond-1"),
            &api.decision_maker(),
        ))
        .await
        .expect("issued")
        .into_inner();
    api.app.settle().await;
    (
        inspection_id,
        complaint_id,
        instant(answered.escalation_window_closes_at),
    )
}

/// A "not upheld" response with no remedies.
pub fn response(complaint_id: Uuid, request_id: &str) -> v1::IssueComplaintResponseRequest {
    v1::IssueComplaintResponseRequest {
        request_id: request_id.into(),
        complaint_id: complaint_id.to_string(),
        outcome: v1::ComplaintOutcome::NotUpheld as i32,
        remedies: vec![],
        response_doc_ref: "doc:response-1".into(),
    }
}

/// The complaint as the investigator reads it.
pub async fn complaint(api: &Api, complaint_id: Uuid) -> v1::Complaint {
    api.client
        .clone()
        .get_complaint(authed(
            v1::GetComplaintRequest {
                complaint_id: complaint_id.to_string(),
                consistency: None,
            },
            &api.investigator(),
        ))
        .await
        .expect("read")
        .into_inner()
        .complaint
        .expect("a complaint")
}

/// The complaint's deadlines as the investigator reads them.
pub async fn deadlines(api: &Api, complaint_id: Uuid) -> v1::ComplaintDeadlines {
    api.client
        .clone()
        .get_complaint_deadlines(authed(
            v1::GetComplaintDeadlinesRequest {
                complaint_id: complaint_id.to_string(),
                consistency: None,
            },
            &api.investigator(),
        ))
        .await
        .expect("read")
        .into_inner()
        .deadlines
        .expect("deadlines")
}

/// How many of `stream`'s events are of `event_type`.
pub fn count(stream: &[String], event_type: &str) -> usize {
    stream.iter().filter(|t| *t == event_type).count()
}

/// (kind, fired, cancelled) of every timer of a complaint, oldest deadline first.
pub async fn timers(api: &Api, complaint_id: Uuid) -> Vec<(String, bool, bool)> {
    sqlx::query_as(
        "SELECT kind, fired_at IS NOT NULL, cancelled_at IS NOT NULL FROM complaint_timers
         WHERE stream_id = $1 ORDER BY due_at",
    )
    .bind(complaint_id)
    .fetch_all(api.app.db_pool())
    .await
    .expect("timers")
}

/// `h:m` on `day`, Europe/London.
pub fn london(day: Date, h: i8, m: i8) -> Timestamp {
    day.at(h, m, 0, 0)
        .in_tz("Europe/London")
        .expect("test instants exist in Europe/London")
        .timestamp()
}

/// 23:59:59.999999999 on `day`, Europe/London.
pub fn end_of(day: Date) -> Timestamp {
    london(day.tomorrow().expect("a tomorrow"), 0, 0) - SignedDuration::from_nanos(1)
}

/// The instant a protobuf timestamp holds.
pub fn instant(at: Option<prost_types::Timestamp>) -> Timestamp {
    let at = at.expect("the timestamp is set");
    Timestamp::new(at.seconds, at.nanos).expect("a valid timestamp")
}

/// `message` with a bearer token.
pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", token.parse().expect("a valid header"));
    request
}

pub const NARRATIVE: &str =
    "The inspectors did not consider the safeguarding log we offered on day one.";
pub const CONTACT_NAME: &str = "Alex Headteacher-Example";
pub const CONTACT_EMAIL: &str = "alex.head@school.example";

pub fn submission(inspection_id: Uuid) -> v1::ComplaintSubmission {
    v1::ComplaintSubmission {
        inspection_id: inspection_id.to_string(),
        grounds: vec![
            v1::ComplaintGround::EvidenceNotConsidered as i32,
            v1::ComplaintGround::Judgements as i32,
        ],
        complainant: Some(v1::ComplainantContact {
            name: CONTACT_NAME.into(),
            role: "headteacher".into(),
            email: CONTACT_EMAIL.into(),
            phone: "+44 20 7946 0000".into(),
        }),
        narrative: NARRATIVE.into(),
        doc_refs: vec!["doc:evidence-1".into()],
        provider_id: String::new(),
    }
}

pub fn submit_request(inspection_id: Uuid, request_id: &str) -> v1::SubmitFormalComplaintRequest {
    v1::SubmitFormalComplaintRequest {
        request_id: request_id.into(),
        submission: Some(submission(inspection_id)),
        route_override_reason_ref: String::new(),
    }
}

/// The `ErrorInfo.reason` of a status.
pub fn reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

/// The `ErrorInfo.metadata` entry `key` of a status.
pub fn info(status: &Status, key: &str) -> Option<String> {
    status
        .get_details_error_info()
        .and_then(|info| info.metadata.get(key).cloned())
}

/// The fields a status's `BadRequest` names.
pub fn violated_fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// Asserts a `FAILED_PRECONDITION` with `expected` as its reason.
pub fn assert_rule<T: std::fmt::Debug>(result: Result<T, Status>, expected: &str) -> Status {
    let status = result.expect_err("the request is refused");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason(&status), expected, "{status:?}");
    status
}

/// The event type names, for readable assertions.
pub const SUBMITTED: &str = "redress.complaints.v1.ComplaintSubmitted";
pub const HOLD_PLACED: &str = "redress.complaints.v1.PublicationHoldPlaced";
pub const HOLD_RELEASED: &str = "redress.complaints.v1.PublicationHoldReleased";
pub const REJECTED: &str = "redress.complaints.v1.ComplaintSubmissionRejected";
pub const INFORMATION_ADDED: &str = "redress.complaints.v1.ComplaintInformationAdded";
pub const WITHDRAWN: &str = "redress.complaints.v1.ComplaintWithdrawn";
pub const OVERDUE: &str = "redress.complaints.v1.ComplaintResponseOverdue";
pub const RESPONSE_ISSUED: &str = "redress.complaints.v1.ComplaintResponseIssued";
pub const RIGHTS_NOTIFIED: &str = "redress.complaints.v1.EscalationRightsNotified";
pub const OUT_OF_TIME_ACCEPTED: &str = "redress.complaints.v1.OutOfTimeComplaintAccepted";
