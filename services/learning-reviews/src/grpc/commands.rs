//! The execute step of the commands: gather the facts a command needs, decide, and commit.
//!
//! * A command on an incident or a review loads it first: an id that names nothing is
//!   `NOT_FOUND`. A review's commands follow the policy version recorded at its proposal.
//! * A proposal is decided against its incident's facts (assessed, undecided, category) under
//!   the policy version the incident was assessed under.
//! * An appointment reads the connections recorded for every related inspection.
//! * A commission writes the review's `LearningReviewCommissioned` and the incident's
//!   `LearningReviewCommissioningDecided` in ONE unit of work, the incident with its expected
//!   version: of two reviews of one incident, at most one is commissioned.
//!
//! A retry with the same `request_id` answers as the first call did.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use platform::aggregate::Aggregate;
use platform::event_store::{
    AppendError, Appended, CommandContext, CommandKey, ExecuteError, ExpectedVersion,
};
use platform::grpc::Principal;
use platform::tail::Metadata;
use uuid::Uuid;

use super::parse::{self, OnIncident, OnReview};
use super::{Error, LearningReviewsService};
use crate::domain::Actor;
use crate::domain::connections::InspectionConnections;
use crate::domain::incident::{self, IncidentNotification};
use crate::domain::policy::Policy;
use crate::domain::review::{self, Appointment, LearningReview, Proposal};
use platform::calendar::local_date;

/// How many times a commission is decided again after losing a race.
const MAX_ATTEMPTS: usize = 5;

pub(crate) fn actor(caller: &Principal) -> Actor {
    Actor::new(caller.subject.clone(), caller.role)
}

fn metadata(caller: &Principal, policy: Option<&Policy>) -> Metadata {
    let mut metadata = Metadata::for_command(caller.subject.clone(), Uuid::now_v7(), None);
    metadata.policy_version = policy.map(|p| p.version().to_owned());
    metadata
}

fn context(caller: &Principal, key: CommandKey, policy: Option<&Policy>) -> CommandContext {
    CommandContext {
        metadata: metadata(caller, policy),
        key: Some(key),
        ..CommandContext::default()
    }
}

/// The last answer of a unit of work, which is the command's.
fn last(mut answers: Vec<Appended>) -> Result<Appended, Error> {
    answers
        .pop()
        .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("a unit of work returned no answer")))
}

impl LearningReviewsService {
    /// The policy in force now.
    fn policy_now(&self, now: Timestamp) -> Result<Arc<Policy>, Error> {
        self.context
            .policies
            .in_force_at(local_date(now))
            .ok_or_else(|| {
                Error::Unexpected(anyhow::anyhow!("no learning-review policy is in force"))
            })
    }

    /// The policy version `version`, recorded earlier.
    fn policy(&self, version: &str) -> Result<Arc<Policy>, Error> {
        self.context.policies.version(version).ok_or_else(|| {
            Error::Unexpected(anyhow::anyhow!(
                "the recorded policy version {version:?} is not configured"
            ))
        })
    }

    /// The incident `id` with its version; NOT_FOUND when there is none.
    async fn incident(&self, id: Uuid) -> Result<(IncidentNotification, u32), Error> {
        match self.context.store.load::<IncidentNotification>(id).await {
            Ok((incident, version)) if version > 0 => Ok((incident, version)),
            Ok(_) | Err(ExecuteError::WrongStreamType(_)) => Err(Error::NotFound("incident")),
            Err(e) => Err(Error::Incident(e)),
        }
    }

    /// The review `id` with its version; NOT_FOUND when there is none.
    async fn review(&self, id: Uuid) -> Result<(LearningReview, u32), Error> {
        match self.context.store.load::<LearningReview>(id).await {
            Ok((review, version)) if version > 0 => Ok((review, version)),
            Ok(_) | Err(ExecuteError::WrongStreamType(_)) => {
                Err(Error::NotFound("learning review"))
            }
            Err(e) => Err(Error::Review(e)),
        }
    }

    /// `ReportIncident`: a new incident notification.
    pub(crate) async fn report(
        &self,
        caller: &Principal,
        report: parse::Report,
    ) -> Result<Appended, Error> {
        let incident_id = Uuid::now_v7();
        let command = incident::Command::Report {
            incident_id,
            by: actor(caller),
            source: report.source,
            category: report.category,
            related_inspection_ids: report.related_inspection_ids,
            account_ref: report.account_ref,
            now: self.context.clock.now(),
        };
        let appended = self
            .context
            .store
            .execute::<IncidentNotification>(
                incident_id,
                command,
                &context(caller, report.key, None),
            )
            .await?;
        // A retry answers with the incident of the first call.
        super::record("incident_id", appended.stream_id);
        Ok(appended)
    }

    /// A command on an existing incident, built from its parsed arguments, the caller, now and
    /// the policy in force; `records_policy` for one whose event records the policy version.
    pub(crate) async fn on_incident<T>(
        &self,
        caller: &Principal,
        parsed: OnIncident<T>,
        records_policy: bool,
        command: impl FnOnce(T, Actor, Timestamp, Arc<Policy>) -> incident::Command,
    ) -> Result<Appended, Error> {
        super::record("incident_id", parsed.incident_id);
        self.incident(parsed.incident_id).await?;
        let now = self.context.clock.now();
        let policy = self.policy_now(now)?;
        let command = command(parsed.args, actor(caller), now, Arc::clone(&policy));
        let policy = records_policy.then_some(policy.as_ref());
        Ok(self
            .context
            .store
            .execute::<IncidentNotification>(
                parsed.incident_id,
                command,
                &context(caller, parsed.key, policy),
            )
            .await?)
    }

    /// `ProposeLearningReview`: a new review of an incident, under the policy version the
    /// incident was assessed under. Returns the answer and the review as it now stands.
    pub(crate) async fn propose(
        &self,
        caller: &Principal,
        parsed: OnIncident<parse::Proposal>,
    ) -> Result<(Appended, LearningReview), Error> {
        super::record("incident_id", parsed.incident_id);
        let (incident, _) = self.incident(parsed.incident_id).await?;
        let Some(facts) = incident.facts() else {
            return Err(Error::NotFound("incident"));
        };
        let now = self.context.clock.now();
        let policy = match &facts.assessed_under {
            Some(version) => self.policy(version)?,
            // Refused as not assessed; the policy is not used.
            None => self.policy_now(now)?,
        };
        let review_id = Uuid::now_v7();
        let command = review::Command::Propose(Proposal {
            review_id,
            by: actor(caller),
            incident: facts,
            terms_of_reference_ref: parsed.args.terms_of_reference_ref,
            scope_in: parsed.args.scope_in.into_iter().collect(),
            scope_out: parsed.args.scope_out.into_iter().collect(),
            policy: Arc::clone(&policy),
            now,
        });
        let appended = self
            .context
            .store
            .execute::<LearningReview>(
                review_id,
                command,
                &context(caller, parsed.key, Some(&policy)),
            )
            .await?;
        let (review, _) = self.review(appended.stream_id).await?;
        super::record("review_id", appended.stream_id);
        Ok((appended, review))
    }

    /// A command on an existing review, built from its parsed arguments, the caller, now and the
    /// review's policy version; `records_policy` for one whose rules use the policy, so its
    /// version is stored with the events.
    pub(crate) async fn on_review<T>(
        &self,
        caller: &Principal,
        parsed: OnReview<T>,
        records_policy: bool,
        command: impl FnOnce(T, Actor, Timestamp, Arc<Policy>) -> review::Command,
    ) -> Result<Appended, Error> {
        super::record("review_id", parsed.review_id);
        let (review, _) = self.review(parsed.review_id).await?;
        let policy = self.policy(review.policy_version())?;
        let command = command(
            parsed.args,
            actor(caller),
            self.context.clock.now(),
            Arc::clone(&policy),
        );
        let policy = records_policy.then_some(policy.as_ref());
        self.execute(caller, parsed.key, parsed.review_id, command, policy)
            .await
    }

    async fn execute(
        &self,
        caller: &Principal,
        key: CommandKey,
        review_id: Uuid,
        command: review::Command,
        policy: Option<&Policy>,
    ) -> Result<Appended, Error> {
        Ok(self
            .context
            .store
            .execute::<LearningReview>(review_id, command, &context(caller, key, policy))
            .await?)
    }

    /// `AppointReviewer`: decided against the people connected with every related inspection.
    pub(crate) async fn appoint(
        &self,
        caller: &Principal,
        parsed: OnReview<parse::Appointment>,
    ) -> Result<Appended, Error> {
        super::record("review_id", parsed.review_id);
        let (review, _) = self.review(parsed.review_id).await?;
        let policy = self.policy(review.policy_version())?;
        let mut connections = BTreeMap::new();
        for inspection_id in review.related_inspection_ids() {
            let (known, _) = self
                .context
                .store
                .load::<InspectionConnections>(*inspection_id)
                .await
                .map_err(|e| {
                    Error::Unexpected(
                        anyhow::Error::new(e).context("Failed to load an inspection's connections"),
                    )
                })?;
            connections.insert(*inspection_id, known);
        }
        let command = review::Command::AppointReviewer(Appointment {
            by: actor(caller),
            reviewer_ref: parsed.args.reviewer_ref,
            independence_declaration_ref: parsed.args.independence_declaration_ref,
            prior_roles: parsed.args.prior_roles,
            connections,
            policy: Arc::clone(&policy),
            now: self.context.clock.now(),
        });
        self.execute(caller, parsed.key, parsed.review_id, command, Some(&policy))
            .await
    }

    /// `CommissionLearningReview`: the review's commission and its incident's decision, both or
    /// neither.
    pub(crate) async fn commission(
        &self,
        caller: &Principal,
        parsed: OnReview<()>,
    ) -> Result<Appended, Error> {
        super::record("review_id", parsed.review_id);
        if let Some(recorded) = self
            .context
            .store
            .find_command(&parsed.key)
            .await
            .map_err(Error::append)?
        {
            return Ok(recorded);
        }
        for _ in 0..MAX_ATTEMPTS {
            let (review, review_version) = self.review(parsed.review_id).await?;
            let (incident, incident_version) = self.incident(review.incident_id()).await?;
            let now = self.context.clock.now();
            let by = actor(caller);
            let commissioned = review
                .decide(review::Command::Commission {
                    by: by.clone(),
                    now,
                })
                .map_err(Error::rule)?;
            let decided = incident
                .decide(incident::Command::RecordCommissioned {
                    by,
                    review_id: parsed.review_id,
                    now,
                })
                .map_err(|rejection| match rejection {
                    incident::Rejection::AlreadyDecided => {
                        Error::rule(review::Rejection::IncidentAlreadyDecided)
                    }
                    incident::Rejection::NotAssessed => {
                        Error::rule(review::Rejection::IncidentNotAssessed)
                    }
                    other => Error::Incident(ExecuteError::Rejected(other)),
                })?;
            let mut unit = self.context.store.unit_of_work();
            unit.stage_events::<IncidentNotification>(
                review.incident_id(),
                ExpectedVersion::Exact(incident_version),
                &decided,
            );
            unit.stage_events::<LearningReview>(
                parsed.review_id,
                ExpectedVersion::Exact(review_version),
                &commissioned,
            );
            match unit
                .commit(&metadata(caller, None), Some(&parsed.key))
                .await
            {
                Ok(answers) => return last(answers),
                Err(AppendError::WrongExpectedVersion { .. }) => {
                    metrics::counter!("redress_append_conflicts_total", "stream_type" => LearningReview::STREAM_TYPE).increment(1);
                }
                Err(e) => return Err(Error::append(e)),
            }
        }
        Err(Error::Review(ExecuteError::Conflict {
            expected: ExpectedVersion::Any,
            actual: 0,
        }))
    }
}
