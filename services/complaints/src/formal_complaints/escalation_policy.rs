//! The escalation policy: a durable JetStream consumer of the escalation context's stream that
//! turns its integration events into complaint commands. Each command runs inside the consumer's
//! transaction (`platform::event_store::within`), beside the event's inbox record, so every
//! event takes effect once however often it is delivered.
//!
//! | escalation event | complaint command | events |
//! |---|---|---|
//! | `EscalationRequested` | `RecordEscalationRequested` | `ComplaintEscalated` |
//! | `EscalationClosed`, `EscalationDeclinedByIndependentBody` | `CloseComplaint` (`EscalationConcluded`) | `ComplaintClosed` |
//! | `EscalationWithdrawn` | `RecordEscalationWithdrawn` | `ComplaintEscalationWithdrawn`, then `ComplaintClosed` if the window has passed |
//! | `RecommendationAccepted`, kind `RECONSIDER_COMPLAINT` | `ReopenForReconsideration` | `ComplaintReopenedForReconsideration` |
//!
//! A recommendation of any other kind is acknowledged with no effect. The consumer is the durable
//! [`DURABLE`] on the stream `ESCALATION`, filtered to exactly these events' subjects
//! (`escalation.<event_token>.*`), one message at a time in stream order.
//!
//! Failures: a command the domain answers with "already recorded" writes nothing and succeeds.
//! An event that can never apply — undecodable, naming no valid complaint, or refused by the
//! complaint's rules (an unknown complaint, a withdrawn one, an escalation it never recorded) — is
//! parked (`HandleError::Permanent`) and logged, and the consumer moves on. A lost race with
//! another writer of the complaint, or a database failure, is retried by redelivery.

use std::sync::Arc;

use async_nats::jetstream;
use jiff::Timestamp;
use platform::aggregate::{DomainEvent, instant};
use platform::consumer::{Consumer, ConsumerSpec, Delivery, HandleError, Handler, Outcome};
use platform::event_store::{ExecuteError, within};
use platform::nats::{Namespace, StreamSpec, event_subject_token, headers};
use platform::tail::Metadata;
use proto::escalation::v1 as escalation;
use sqlx::PgConnection;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::app::Context;
use crate::domain::complaint::{Closure, Command, FormalComplaint};

/// The durable consumer's name, also its inbox's `consumer` column.
pub const DURABLE: &str = "complaints-escalation-policy";

/// The context whose stream this policy reads.
const SOURCE: &str = "escalation";

/// The actor of the commands this policy issues.
const ACTOR: &str = "system:escalation-policy";

/// The escalation events this policy acts on.
#[derive(Clone, Debug, PartialEq)]
enum Incoming {
    EscalationRequested(escalation::EscalationRequested),
    EscalationDeclinedByIndependentBody(escalation::EscalationDeclinedByIndependentBody),
    EscalationClosed(escalation::EscalationClosed),
    EscalationWithdrawn(escalation::EscalationWithdrawn),
    RecommendationAccepted(escalation::RecommendationAccepted),
}

platform::domain_event! { Incoming {
    EscalationRequested(escalation::EscalationRequested),
    EscalationDeclinedByIndependentBody(escalation::EscalationDeclinedByIndependentBody),
    EscalationClosed(escalation::EscalationClosed),
    EscalationWithdrawn(escalation::EscalationWithdrawn),
    RecommendationAccepted(escalation::RecommendationAccepted),
} }

/// The subject tokens of [`Incoming`]'s events, e.g. `escalation_requested`.
fn event_tokens() -> [String; 5] {
    use prost::Name;
    [
        escalation::EscalationRequested::NAME,
        escalation::EscalationDeclinedByIndependentBody::NAME,
        escalation::EscalationClosed::NAME,
        escalation::EscalationWithdrawn::NAME,
        escalation::RecommendationAccepted::NAME,
    ]
    .map(event_subject_token)
}

/// The durable consumer's settings in `namespace`: the escalation stream, filtered to exactly the
/// events this policy acts on.
pub fn consumer_spec(namespace: &Namespace) -> ConsumerSpec {
    let root = namespace.subject_root(SOURCE);
    let subjects = event_tokens()
        .into_iter()
        .map(|token| format!("{root}.{token}.*"))
        .collect();
    ConsumerSpec::new(&namespace.stream_name(SOURCE), DURABLE, subjects)
}

/// Turns one escalation event into a complaint command in the consumer's transaction.
#[derive(Debug)]
pub(crate) struct EscalationPolicy {
    context: Arc<Context>,
}

impl EscalationPolicy {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        EscalationPolicy { context }
    }

    /// The complaint and the command an event asks for; `None` when it asks for nothing.
    async fn command(
        &self,
        conn: &mut PgConnection,
        event: Incoming,
    ) -> Result<Option<(Uuid, Command)>, HandleError> {
        let now = self.context.clock.now();
        let at = |t: Option<&prost_types::Timestamp>| t.map_or(now, |t| instant(Some(t)));
        let command = match event {
            Incoming::EscalationRequested(e) => (
                id("complaint_id", &e.complaint_id)?,
                Command::RecordEscalationRequested {
                    escalation_id: id("escalation_id", &e.escalation_id)?,
                    requested_at: at(e.requested_at.as_ref()),
                },
            ),
            Incoming::EscalationClosed(e) => (
                id("complaint_id", &e.complaint_id)?,
                concluded(
                    id("escalation_id", &e.escalation_id)?,
                    at(e.closed_at.as_ref()),
                ),
            ),
            Incoming::EscalationDeclinedByIndependentBody(e) => (
                id("complaint_id", &e.complaint_id)?,
                concluded(
                    id("escalation_id", &e.escalation_id)?,
                    at(e.declined_at.as_ref()),
                ),
            ),
            Incoming::EscalationWithdrawn(e) => (
                id("complaint_id", &e.complaint_id)?,
                Command::RecordEscalationWithdrawn {
                    escalation_id: id("escalation_id", &e.escalation_id)?,
                    withdrawn_at: at(e.withdrawn_at.as_ref()),
                    now,
                },
            ),
            Incoming::RecommendationAccepted(e)
                if e.kind == escalation::RecommendationKind::ReconsiderComplaint as i32 =>
            {
                let complaint_id = id("complaint_id", &e.complaint_id)?;
                let command = Command::ReopenForReconsideration {
                    escalation_id: id("escalation_id", &e.escalation_id)?,
                    recommendation_id: e.recommendation_id.clone(),
                    reopened_at: at(e.accepted_at.as_ref()),
                    policy: self.policy_of(conn, complaint_id).await?,
                    calendar: self.context.calendar,
                };
                (complaint_id, command)
            }
            Incoming::RecommendationAccepted(_) => return Ok(None),
        };
        Ok(Some(command))
    }

    /// The policy the complaint follows, as the transaction sees the complaint.
    async fn policy_of(
        &self,
        conn: &mut PgConnection,
        complaint_id: Uuid,
    ) -> Result<Arc<crate::domain::policy::Policy>, HandleError> {
        let (state, _) = within::load::<FormalComplaint>(conn, complaint_id)
            .await
            .map_err(failure)?;
        let Some(complaint) = state.complaint() else {
            return Err(HandleError::Permanent(anyhow::anyhow!(
                "complaint {complaint_id} is unknown"
            )));
        };
        // An operator's policy file missing at this start: retried, then parked.
        self.context
            .policies
            .version(&complaint.policy_version)
            .ok_or_else(|| {
                HandleError::Transient(anyhow::anyhow!(
                    "policy {:?} is not loaded",
                    complaint.policy_version
                ))
            })
    }
}

fn concluded(escalation_id: Uuid, closed_at: Timestamp) -> Command {
    Command::CloseComplaint {
        closed_at,
        because: Closure::EscalationConcluded { escalation_id },
    }
}

/// A UUID field of an escalation event; a malformed one can never be handled.
fn id(field: &str, value: &str) -> Result<Uuid, HandleError> {
    value.parse().map_err(|_| {
        HandleError::Permanent(anyhow::anyhow!(
            "the event's {field} {value:?} is not a UUID"
        ))
    })
}

/// How a failed load or command is retried: never for what the complaint's rules or types say.
fn failure(error: ExecuteError<crate::domain::complaint::Rejection>) -> HandleError {
    match error {
        ExecuteError::Rejected(rejection) => HandleError::Permanent(anyhow::anyhow!(
            "the complaint refused it: {} ({rejection})",
            rejection.reason()
        )),
        ExecuteError::WrongStreamType(id) => {
            HandleError::Permanent(anyhow::anyhow!("stream {id} is not a complaint"))
        }
        // The transaction is aborted; the redelivery runs it again against the new state.
        error @ (ExecuteError::Conflict { .. } | ExecuteError::KeyReused) => {
            HandleError::Transient(error.into())
        }
        ExecuteError::Unexpected(error) => HandleError::Transient(error),
    }
}

impl Handler for EscalationPolicy {
    #[tracing::instrument(skip_all, fields(event_id = %delivery.event_id, event_type = %delivery.event_type, complaint_id))]
    async fn handle(
        &self,
        conn: &mut PgConnection,
        delivery: &Delivery,
    ) -> Result<(), HandleError> {
        let event = Incoming::decode(&delivery.event_type, &delivery.payload)
            .map_err(|e| HandleError::undecodable(e, "an escalation event"))?;
        let Some((complaint_id, command)) = self.command(conn, event).await? else {
            tracing::debug!("the escalation event asks nothing of the complaint");
            return Ok(());
        };
        tracing::Span::current().record("complaint_id", tracing::field::display(complaint_id));
        let correlation_id = delivery
            .headers
            .get(headers::CORRELATION_ID)
            .and_then(|v| v.as_str().parse().ok())
            .unwrap_or_else(Uuid::now_v7);
        let mut metadata = Metadata::for_command(ACTOR, correlation_id, Some(delivery.event_id));
        if let Command::ReopenForReconsideration {
            policy, calendar, ..
        } = &command
        {
            metadata.policy_version = Some(policy.version().to_owned());
            metadata.calendar_version = Some(calendar.version().to_owned());
        }
        match within::execute::<FormalComplaint>(conn, complaint_id, command, &metadata).await {
            Ok(appended) => {
                tracing::info!(
                    events = appended.events.len(),
                    "escalation event applied to the complaint"
                );
                Ok(())
            }
            Err(error) => {
                let failure = failure(error);
                if let HandleError::Permanent(reason) = &failure {
                    tracing::warn!(
                        reason = format!("{reason:#}"),
                        "escalation event cannot apply to the complaint"
                    );
                }
                Err(failure)
            }
        }
    }
}

/// The policy's durable consumer, and what it takes to run another copy in the background.
#[derive(Debug)]
pub struct EscalationPolicyConsumer {
    consumer: Arc<Consumer<EscalationPolicy>>,
}

impl EscalationPolicyConsumer {
    /// Makes sure the escalation stream exists (with the producer's settings: idempotent) and
    /// creates or updates the durable consumer.
    ///
    /// # Errors
    /// When NATS refuses the stream or the consumer.
    pub async fn start(
        context: Arc<Context>,
        js: jetstream::Context,
        namespace: &Namespace,
    ) -> anyhow::Result<Self> {
        platform::nats::ensure_stream(&js, &StreamSpec::for_service(namespace, SOURCE)).await?;
        let store = context.store.clone();
        let consumer = Consumer::create(
            store.pool().clone(),
            &js,
            consumer_spec(namespace),
            EscalationPolicy::new(context),
        )
        .await?
        .announcing_to(&store);
        Ok(EscalationPolicyConsumer {
            consumer: Arc::new(consumer),
        })
    }

    /// Runs the consumer on `tasks` until `stop`.
    pub fn spawn(&self, tasks: &mut JoinSet<anyhow::Result<()>>, stop: &CancellationToken) {
        let (consumer, stop) = (Arc::clone(&self.consumer), stop.clone());
        tasks.spawn(async move { consumer.run(stop).await });
    }

    /// Handles what the server has pending now (tests and operator tools).
    ///
    /// # Errors
    /// When NATS or PostgreSQL fail.
    pub async fn run_once(&self) -> anyhow::Result<Vec<Outcome>> {
        self.consumer.run_once().await
    }
}
