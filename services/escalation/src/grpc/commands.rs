//! The execute step of the commands: gather the facts a command needs, decide, and commit.
//!
//! A request that goes ahead writes the complaint record's `EscalationOpened` and the new
//! escalation (requested and referred) in ONE unit of work, the record with its expected
//! version: two racing requests for one complaint cannot both go ahead; the loser is decided
//! again and refused as `ALREADY_ACTIVE`. A refused request is recorded on a stream of its own
//! and answered `FAILED_PRECONDITION`. A retry with the same `request_id` answers as the first
//! call did.

use std::sync::Arc;

use jiff::Timestamp;
use platform::aggregate::{Aggregate, DomainEvent};
use platform::event_store::{
    AppendError, Appended, CommandContext, CommandKey, ExecuteError, ExpectedVersion, NewEvent,
};
use platform::grpc::{Principal, Role};
use platform::tail::Metadata;
use uuid::Uuid;

use super::parse::OnEscalation;
use super::{Error, EscalationsService};
use crate::domain::complaint_record::{self, ComplaintRecord};
use crate::domain::escalation::{self, Command, Escalation, Request};
use crate::domain::policy::Policy;
use crate::domain::{Actor, Ground, OutOfRemitAsk, local_date};

/// How many times a request is re-decided after losing a race.
const MAX_ATTEMPTS: usize = 5;

/// The version of `redress.feed.v1` the referral is announced in.
pub(crate) const FEED_PAYLOAD_VERSION: u32 = 1;

/// What a command on an existing escalation needs to know about it.
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) escalation: Escalation,
    pub(crate) record: ComplaintRecord,
}

/// The answer to a request that went ahead.
#[derive(Debug)]
pub(crate) struct Requested {
    pub(crate) appended: Appended,
    pub(crate) case_ref: String,
    pub(crate) grounds: Vec<i32>,
    pub(crate) asks: Vec<i32>,
}

pub(crate) fn actor(caller: &Principal) -> Actor {
    Actor::new(caller.subject.clone(), caller.role)
}

fn metadata(caller: &Principal, policy: Option<&Policy>) -> Metadata {
    let mut metadata = Metadata::for_command(caller.subject.clone(), Uuid::now_v7(), None);
    metadata.policy_version = policy.map(|p| p.version().to_owned());
    metadata
}

fn unexpected(
    context: &'static str,
) -> impl FnOnce(ExecuteError<complaint_record::Rejection>) -> Error {
    move |e| Error::Unexpected(anyhow::Error::new(e).context(context))
}

fn append_error(error: AppendError) -> Error {
    match error {
        AppendError::KeyReused => Error::Escalation(ExecuteError::KeyReused),
        AppendError::WrongExpectedVersion { expected, actual } => {
            Error::Escalation(ExecuteError::Conflict { expected, actual })
        }
        AppendError::Unexpected(e) => Error::Unexpected(e),
    }
}

/// The answer a request's events give, from the first of them: refused, or requested with its
/// case reference, grounds and out-of-remit asks.
fn answer_from(
    appended: Appended,
    events: impl IntoIterator<Item = Result<escalation::Event, Error>>,
) -> Result<Requested, Error> {
    let mut answer = Requested {
        appended,
        case_ref: String::new(),
        grounds: Vec::new(),
        asks: Vec::new(),
    };
    for event in events {
        match event? {
            escalation::Event::Refused(e) => {
                return Err(Error::Refused {
                    reason: crate::domain::RefusalReason::from_proto(e.reason)
                        .unwrap_or(crate::domain::RefusalReason::NotExhausted),
                    escalation_id: answer.appended.stream_id,
                });
            }
            escalation::Event::Requested(e) => {
                answer.case_ref = e.case_ref;
                answer.grounds = e.grounds;
            }
            escalation::Event::OutOfRemitNoted(e) => answer.asks = e.asks,
            _ => break,
        }
    }
    Ok(answer)
}

impl EscalationsService {
    /// The escalation policy in force now.
    pub(crate) fn policy_now(&self, now: Timestamp) -> Result<Arc<Policy>, Error> {
        self.context
            .policies
            .in_force_at(local_date(now))
            .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("no escalation policy is in force")))
    }

    /// The complaint record `caller` may act on: NOT_FOUND when none was recorded, or when it is
    /// another provider's.
    async fn record(
        &self,
        caller: &Principal,
        complaint_id: Uuid,
    ) -> Result<(ComplaintRecord, u32), Error> {
        let (record, version) = match self
            .context
            .store
            .load::<ComplaintRecord>(complaint_id)
            .await
        {
            Ok(loaded) => loaded,
            Err(ExecuteError::WrongStreamType(_)) => return Err(Error::NotFound("complaint")),
            Err(e) => return Err(unexpected("Failed to load a complaint record")(e)),
        };
        match record.provider_id() {
            Some(provider) if caller.provider.as_deref().is_none_or(|own| own == provider) => {
                Ok((record, version))
            }
            _ => Err(Error::NotFound("complaint")),
        }
    }

    /// Whether another escalation of the complaint is active.
    async fn active_escalation(&self, record: &ComplaintRecord) -> Result<bool, Error> {
        let Some(latest) = record.escalations().last() else {
            return Ok(false);
        };
        let (escalation, _) = self.context.store.load::<Escalation>(*latest).await?;
        Ok(escalation.status().is_active())
    }

    /// The answer a recorded request gave.
    async fn answer(&self, appended: Appended) -> Result<Requested, Error> {
        let events = self
            .context
            .store
            .read_stream(appended.stream_id, 0)
            .await
            .map_err(|e| {
                Error::Unexpected(anyhow::Error::new(e).context("Failed to read an escalation"))
            })?;
        answer_from(
            appended,
            events.iter().map(|recorded| {
                escalation::Event::decode(&recorded.event_type, &recorded.payload)
                    .map_err(|e| Error::Unexpected(e.into()))
            }),
        )
    }

    /// `RequestEscalation`: decide against the complaint record, then refer at once.
    pub(crate) async fn request(
        &self,
        caller: &Principal,
        key: CommandKey,
        complaint_id: Uuid,
        grounds: Vec<Ground>,
        asks: Vec<OutOfRemitAsk>,
    ) -> Result<Requested, Error> {
        if let Some(recorded) = self.recorded(&key).await? {
            return self.answer(recorded).await;
        }
        for _ in 0..MAX_ATTEMPTS {
            let (record, record_version) = self.record(caller, complaint_id).await?;
            let Some(facts) = record.facts().cloned() else {
                return Err(Error::NotFound("complaint"));
            };
            let now = self.context.clock.now();
            let policy = self.policy_now(now)?;
            let escalation_id = Uuid::now_v7();
            let request = Request {
                escalation_id,
                requested_by: actor(caller),
                grounds: grounds.clone(),
                out_of_remit: asks.clone(),
                complaint: facts,
                another_active_escalation: self.active_escalation(&record).await?,
                policy: Arc::clone(&policy),
                now,
            };
            let state = Escalation::default();
            let mut events = state
                .decide(Command::Request(request))
                .map_err(|r| Error::Escalation(ExecuteError::Rejected(r)))?;
            let state = events.iter().fold(state, Escalation::evolve);
            let metadata = metadata(caller, Some(&policy));
            if let escalation::Status::Refused(reason) = state.status() {
                let appended = self
                    .context
                    .store
                    .append(
                        Escalation::STREAM_TYPE,
                        escalation_id,
                        ExpectedVersion::NoStream,
                        &events.iter().map(NewEvent::from_domain).collect::<Vec<_>>(),
                        &metadata,
                        Some(&key),
                    )
                    .await
                    .map_err(append_error)?;
                if appended.stream_id != escalation_id {
                    return self.answer(appended).await;
                }
                return Err(Error::Refused {
                    reason: reason.unwrap_or(crate::domain::RefusalReason::NotExhausted),
                    escalation_id,
                });
            }
            events.extend(
                state
                    .decide(Command::Refer {
                        feed_payload_version: FEED_PAYLOAD_VERSION,
                        now,
                    })
                    .map_err(|r| Error::Escalation(ExecuteError::Rejected(r)))?,
            );
            let opened = record
                .decide(complaint_record::Command::OpenEscalation { escalation_id, now })
                .map_err(|r| Error::Unexpected(anyhow::Error::new(r)))?;
            let mut unit = self.context.store.unit_of_work();
            unit.stage_events::<ComplaintRecord>(
                complaint_id,
                ExpectedVersion::Exact(record_version),
                &opened,
            );
            unit.stage_events::<Escalation>(escalation_id, ExpectedVersion::NoStream, &events);
            // Tests hold every racing request here, decided and not yet committed.
            fail::fail_point!("escalation::request::before_commit");
            match unit.commit(&metadata, Some(&key)).await {
                Ok(mut answers) => {
                    // Both streams written: this call's events are the escalation's. One
                    // answer only: the key was recorded by an earlier call, whose answer is
                    // read back.
                    let written = answers.len() == 2;
                    let appended = answers.pop().ok_or_else(|| {
                        Error::Unexpected(anyhow::anyhow!("a unit of work returned no answer"))
                    })?;
                    if written && appended.stream_id == escalation_id {
                        return answer_from(appended, events.into_iter().map(Ok));
                    }
                    return self.answer(appended).await;
                }
                Err(AppendError::WrongExpectedVersion { .. }) => {
                    metrics::counter!("redress_append_conflicts_total", "stream_type" => ComplaintRecord::STREAM_TYPE).increment(1);
                }
                Err(e) => return Err(append_error(e)),
            }
        }
        Err(Error::Escalation(ExecuteError::Conflict {
            expected: ExpectedVersion::Any,
            actual: 0,
        }))
    }

    /// The recorded answer to `key`, when the command already happened.
    async fn recorded(&self, key: &CommandKey) -> Result<Option<Appended>, Error> {
        self.context
            .store
            .find_command(key)
            .await
            .map_err(append_error)
    }

    /// The escalation `id` as `caller` may see it: NOT_FOUND when there is none, when it is
    /// another provider's, or for the independent body when it was never referred.
    pub(crate) async fn header(&self, caller: &Principal, id: Uuid) -> Result<Header, Error> {
        let escalation = match self.context.store.load::<Escalation>(id).await {
            Ok((escalation, version)) if version > 0 => escalation,
            Ok(_) | Err(ExecuteError::WrongStreamType(_)) => {
                return Err(Error::NotFound("escalation"));
            }
            Err(e) => return Err(Error::Escalation(e)),
        };
        let (record, _) = self
            .record(caller, escalation.complaint_id())
            .await
            .map_err(|e| match e {
                Error::NotFound(_) => Error::NotFound("escalation"),
                other => other,
            })?;
        let body = matches!(caller.role, Role::IndependentBody | Role::Adjudicator);
        if body && matches!(escalation.status(), escalation::Status::Refused(_)) {
            return Err(Error::NotFound("escalation"));
        }
        Ok(Header { escalation, record })
    }

    /// A command on an existing escalation the caller may see, built from its parsed
    /// arguments, the caller, now and the policy in force; `records_policy` for a command whose
    /// rules use the policy, so its version is stored with the events.
    pub(crate) async fn run<T>(
        &self,
        caller: &Principal,
        parsed: OnEscalation<T>,
        records_policy: bool,
        command: impl FnOnce(T, Actor, Timestamp, Arc<Policy>) -> Command,
    ) -> Result<Appended, Error> {
        super::record(parsed.escalation_id);
        self.header(caller, parsed.escalation_id).await?;
        let now = self.context.clock.now();
        let policy = self.policy_now(now)?;
        let command = command(parsed.args, actor(caller), now, Arc::clone(&policy));
        self.execute(
            caller,
            parsed.key,
            parsed.escalation_id,
            command,
            records_policy.then_some(policy.as_ref()),
        )
        .await
    }

    /// A command on an existing escalation.
    pub(crate) async fn execute(
        &self,
        caller: &Principal,
        key: CommandKey,
        escalation_id: Uuid,
        command: Command,
        policy: Option<&Policy>,
    ) -> Result<Appended, Error> {
        let context = CommandContext {
            metadata: metadata(caller, policy),
            key: Some(key),
            ..CommandContext::default()
        };
        Ok(self
            .context
            .store
            .execute::<Escalation>(escalation_id, command, &context)
            .await?)
    }
}
