//! The learning-reviews policy: a durable JetStream consumer of the learning-reviews context's
//! stream that flags, on a reported tragic incident, every open complaint about the inspections
//! the incident relates to (domain research §5.5, scenario S13). The flag asks for care in
//! communications; it never changes a complaint's state, outcome or deadline.
//!
//! | learning-reviews event | complaint command | events |
//! |---|---|---|
//! | `IncidentReported{incident_id, related_inspection_ids}` | `FlagSensitiveCase` for each open complaint about each related inspection | `SensitiveCaseFlagged`, one per complaint |
//!
//! A complaint is open unless withdrawn or closed: submitted, acknowledged, under investigation,
//! answered (escalated or not, while the escalation window or the escalation runs) or under
//! reconsideration. The complaints about an inspection are those its `InspectionCase` knows
//! (every complaint that held its publication, read in the consumer's transaction) together with
//! those the `complaints` read model holds for it (which adds a complaint accepted out of time
//! after publication, which held nothing). Every command runs inside the consumer's transaction
//! (`platform::event_store::within`), beside the event's inbox record, so the incident takes
//! effect once however often it is delivered; a complaint already flagged for the incident
//! records nothing.
//!
//! The consumer is the durable [`DURABLE`] on the stream `LEARNING_REVIEWS`, filtered to
//! `learning-reviews.incident_reported.*`, one message at a time in stream order.
//!
//! Failures: an inspection this context does not know, or one without open complaints, is
//! nothing to do. An event that can never apply — undecodable, or with an incident or inspection
//! id that is not a UUID — is parked (`HandleError::Permanent`) and logged, and the consumer
//! moves on. A lost race with another writer of a complaint, or a database failure, is retried
//! by redelivery; the retry flags what is open then.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_nats::jetstream;
use platform::aggregate::{DomainEvent, instant};
use platform::consumer::{Consumer, ConsumerSpec, Delivery, HandleError, Handler, Outcome};
use platform::event_store::{ExecuteError, within};
use platform::nats::{Namespace, StreamSpec, event_subject_token, headers};
use platform::tail::Metadata;
use proto::learning_reviews::v1 as learning_reviews;
use sqlx::PgConnection;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::read_models::complaints_about;
use crate::app::Context;
use crate::domain::complaint::{Command, FormalComplaint, Rejection};
use crate::domain::inspection::InspectionCase;

/// The durable consumer's name, also its inbox's `consumer` column.
pub const DURABLE: &str = "complaints-learning-reviews-policy";

/// The context whose stream this policy reads.
const SOURCE: &str = "learning-reviews";

/// The actor of the commands this policy issues.
const ACTOR: &str = "system:learning-reviews-policy";

/// The learning-reviews events this policy acts on.
#[derive(Clone, Debug, PartialEq)]
enum Incoming {
    IncidentReported(learning_reviews::IncidentReported),
}

platform::domain_event! { Incoming {
    IncidentReported(learning_reviews::IncidentReported),
} }

/// The durable consumer's settings in `namespace`: the learning-reviews stream, filtered to
/// `IncidentReported`.
pub fn consumer_spec(namespace: &Namespace) -> ConsumerSpec {
    use prost::Name;
    let root = namespace.subject_root(SOURCE);
    let token = event_subject_token(learning_reviews::IncidentReported::NAME);
    ConsumerSpec::new(
        &namespace.stream_name(SOURCE),
        DURABLE,
        vec![format!("{root}.{token}.*")],
    )
}

/// Flags the open complaints of a reported incident's inspections in the consumer's transaction.
#[derive(Debug)]
pub(crate) struct LearningReviewsPolicy {
    context: Arc<Context>,
}

impl LearningReviewsPolicy {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        LearningReviewsPolicy { context }
    }

    /// Every complaint about the inspection, open or ended, in complaint-id order; none for an
    /// inspection this context does not know.
    async fn complaints_about(
        conn: &mut PgConnection,
        inspection_id: Uuid,
    ) -> Result<BTreeSet<Uuid>, HandleError> {
        let mut complaints = match within::load::<InspectionCase>(conn, inspection_id).await {
            Ok((case, _)) => case.formal_complaints(),
            // Another kind of stream has this id: no inspection of this context has it.
            Err(ExecuteError::WrongStreamType(_)) => BTreeSet::new(),
            Err(error) => {
                return Err(HandleError::Transient(
                    anyhow::Error::new(error).context("Failed to load the inspection"),
                ));
            }
        };
        let listed = complaints_about(conn, inspection_id).await.map_err(|e| {
            HandleError::Transient(
                anyhow::Error::new(e).context("Failed to list the inspection's complaints"),
            )
        })?;
        complaints.extend(listed);
        Ok(complaints)
    }
}

/// A UUID field of a learning-reviews event; a malformed one can never be handled.
fn id(field: &str, value: &str) -> Result<Uuid, HandleError> {
    value.parse().map_err(|_| {
        HandleError::Permanent(anyhow::anyhow!(
            "the event's {field} {value:?} is not a UUID"
        ))
    })
}

/// How a failed complaint command is retried: never for what the complaint's rules or types say.
fn failure(error: ExecuteError<Rejection>) -> HandleError {
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

impl Handler for LearningReviewsPolicy {
    #[tracing::instrument(skip_all, fields(event_id = %delivery.event_id, event_type = %delivery.event_type, incident_id))]
    async fn handle(
        &self,
        conn: &mut PgConnection,
        delivery: &Delivery,
    ) -> Result<(), HandleError> {
        let Incoming::IncidentReported(incident) =
            Incoming::decode(&delivery.event_type, &delivery.payload)
                .map_err(|e| HandleError::undecodable(e, "a learning-reviews event"))?;
        let incident_id = id("incident_id", &incident.incident_id)?;
        tracing::Span::current().record("incident_id", tracing::field::display(incident_id));
        let inspections = incident
            .related_inspection_ids
            .iter()
            .map(|value| id("related_inspection_id", value))
            .collect::<Result<BTreeSet<Uuid>, _>>()?;
        let flagged_at = incident
            .reported_at
            .as_ref()
            .map_or_else(|| self.context.clock.now(), |t| instant(Some(t)));
        let correlation_id = delivery
            .headers
            .get(headers::CORRELATION_ID)
            .and_then(|v| v.as_str().parse().ok())
            .unwrap_or_else(Uuid::now_v7);
        let metadata = Metadata::for_command(ACTOR, correlation_id, Some(delivery.event_id));
        let mut complaints = BTreeSet::new();
        for inspection_id in inspections {
            complaints.extend(Self::complaints_about(conn, inspection_id).await?);
        }
        let mut flagged = 0;
        for complaint_id in complaints {
            let command = Command::FlagSensitiveCase {
                incident_id,
                flagged_at,
            };
            match within::execute::<FormalComplaint>(conn, complaint_id, command, &metadata).await {
                Ok(appended) => flagged += appended.events.len(),
                // Ended: no communications left to take care over.
                Err(ExecuteError::Rejected(
                    Rejection::AlreadyWithdrawn | Rejection::AlreadyClosed,
                )) => {
                    tracing::debug!(%complaint_id, "the complaint has ended; not flagged");
                }
                Err(error) => {
                    let failure = failure(error);
                    if let HandleError::Permanent(reason) = &failure {
                        tracing::warn!(
                            %complaint_id,
                            reason = format!("{reason:#}"),
                            "the incident cannot flag the complaint"
                        );
                    }
                    return Err(failure);
                }
            }
        }
        tracing::info!(
            flagged,
            "incident applied to the related inspections' complaints"
        );
        Ok(())
    }
}

/// The policy's durable consumer, and what it takes to run another copy in the background.
#[derive(Debug)]
pub struct LearningReviewsPolicyConsumer {
    consumer: Arc<Consumer<LearningReviewsPolicy>>,
}

impl LearningReviewsPolicyConsumer {
    /// Makes sure the learning-reviews stream exists (with the producer's settings: idempotent)
    /// and creates or updates the durable consumer.
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
            LearningReviewsPolicy::new(context),
        )
        .await?
        .announcing_to(&store);
        Ok(LearningReviewsPolicyConsumer {
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
