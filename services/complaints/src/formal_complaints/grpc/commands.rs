//! The execute step of the commands: gather the facts a command needs, decide, and commit.
//!
//! Submissions and the commands that end a complaint's hold write the complaint and its
//! inspection's publication gate in ONE unit of work (inspection first, complaint last, so the
//! idempotency key and the answer are the complaint's), so a report can never be published
//! between a submission and its hold. They retry the whole load-decide-commit when another
//! writer wins the race; the other commands go through `EventStore::execute`, which does the same.

use std::sync::Arc;

use jiff::Timestamp;
use platform::aggregate::{Aggregate, DomainEvent};
use platform::event_store::{
    AppendError, Appended, CommandContext, CommandKey, ExecuteError, ExpectedVersion, UnitOfWork,
};
use platform::grpc::Principal;
use platform::tail::Metadata;
use uuid::Uuid;

use super::parse::{self, ProviderChoice};
use super::{ComplaintsService, Error};
use crate::domain::complaint::{
    self, Command, Event, FormalComplaint, RouteOverride, SubmissionFacts,
};
use crate::domain::inspection::{self, InspectionCase};
use crate::domain::intake::IntakeLog;
use crate::domain::policy::Policy;
use crate::domain::{Actor, HoldReleaseReason};
use crate::formal_complaints::intake_stream_id;
use crate::formal_complaints::read_models::NARRATIVE_PREFIX;

/// How many times a unit of work is re-decided after losing a race.
const MAX_ATTEMPTS: usize = 5;

/// Vault record kinds.
const CONTACT_KIND: &str = "complainant_contact";
const NARRATIVE_KIND: &str = "complaint_narrative";

/// What every command on an existing complaint needs to know about it.
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) complaint_id: Uuid,
    pub(crate) inspection_id: Uuid,
    pub(crate) policy: Arc<Policy>,
}

fn expected(version: u32) -> ExpectedVersion {
    if version == 0 {
        ExpectedVersion::NoStream
    } else {
        ExpectedVersion::Exact(version)
    }
}

fn actor(caller: &Principal) -> Actor {
    Actor::new(caller.subject.clone(), caller.role)
}

fn metadata(
    caller: &Principal,
    policy: Option<&Policy>,
    calendar_version: Option<&str>,
) -> Metadata {
    let mut metadata = Metadata::for_command(caller.subject.clone(), Uuid::now_v7(), None);
    metadata.policy_version = policy.map(|p| p.version().to_owned());
    metadata.calendar_version = calendar_version.map(str::to_owned);
    metadata
}

fn rejected(rejection: complaint::Rejection) -> Error {
    Error::Complaint(ExecuteError::Rejected(rejection))
}

/// What a unit-of-work commit ended in: the complaint's answer, or a lost race.
async fn commit(
    unit: UnitOfWork<'_>,
    metadata: &Metadata,
    key: &CommandKey,
) -> Result<Option<Appended>, Error> {
    match unit.commit(metadata, Some(key)).await {
        Ok(mut answers) => answers
            .pop()
            .map(Some)
            .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("a unit of work returned no answer"))),
        Err(AppendError::WrongExpectedVersion { .. }) => Ok(None),
        Err(AppendError::KeyReused) => Err(Error::Complaint(ExecuteError::KeyReused)),
        Err(AppendError::Unexpected(e)) => Err(Error::Unexpected(e)),
    }
}

fn conflict() -> Error {
    Error::Complaint(ExecuteError::Conflict {
        expected: ExpectedVersion::Any,
        actual: 0,
    })
}

impl ComplaintsService {
    /// The recorded answer to `key`, when the command already happened.
    async fn recorded(&self, key: &CommandKey) -> Result<Option<Appended>, Error> {
        match self.context.store.find_command(key).await {
            Ok(found) => Ok(found),
            Err(AppendError::KeyReused) => Err(Error::Complaint(ExecuteError::KeyReused)),
            Err(AppendError::WrongExpectedVersion { .. }) => Err(conflict()),
            Err(AppendError::Unexpected(e)) => Err(Error::Unexpected(e)),
        }
    }

    /// The events a command recorded (also for a replayed answer), in order.
    pub(super) async fn events_of(&self, appended: &Appended) -> Result<Vec<Event>, Error> {
        let first = appended
            .events
            .first()
            .map_or(0, |e| e.version.saturating_sub(1));
        let recorded = self
            .context
            .store
            .read_stream(appended.stream_id, first)
            .await
            .map_err(|e| {
                Error::Unexpected(
                    anyhow::Error::new(e).context("Failed to read a command's events"),
                )
            })?;
        recorded
            .iter()
            .filter(|r| appended.events.iter().any(|e| e.event_id == r.event_id))
            .map(|r| {
                Event::decode(&r.event_type, &r.payload).map_err(|e| {
                    Error::Unexpected(
                        anyhow::Error::new(e).context("Failed to decode a recorded event"),
                    )
                })
            })
            .collect()
    }

    /// The complaint `id` as `caller` may see it: NOT_FOUND when there is none, or when it is
    /// another provider's.
    pub(super) async fn header(&self, caller: &Principal, id: Uuid) -> Result<Header, Error> {
        let events = self.context.store.read_stream(id, 0).await.map_err(|e| {
            Error::Unexpected(anyhow::Error::new(e).context("Failed to read a complaint"))
        })?;
        let Some(first) = events
            .first()
            .filter(|e| e.stream_type == FormalComplaint::STREAM_TYPE)
        else {
            return Err(Error::NotFound("complaint"));
        };
        let Ok(Event::ComplaintSubmitted(submitted)) =
            Event::decode(&first.event_type, &first.payload)
        else {
            return Err(Error::Unexpected(anyhow::anyhow!(
                "complaint {id} does not start with its submission"
            )));
        };
        if let Some(own) = &caller.provider
            && &submitted.provider_id != own
        {
            return Err(Error::NotFound("complaint"));
        }
        let policy = self.policy(&submitted.policy_version)?;
        Ok(Header {
            complaint_id: id,
            inspection_id: submitted.inspection_id.parse().unwrap_or_default(),
            policy,
        })
    }

    fn policy(&self, version: &str) -> Result<Arc<Policy>, Error> {
        self.context
            .policies
            .version(version)
            .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("policy {version:?} is not loaded")))
    }

    /// A command on one complaint that touches no other stream.
    pub(super) async fn execute(
        &self,
        caller: &Principal,
        key: CommandKey,
        header: &Header,
        command: Command,
        uses_policy: bool,
    ) -> Result<Appended, Error> {
        let policy = uses_policy.then_some(header.policy.as_ref());
        let calendar = uses_policy.then_some(self.context.calendar.version());
        let context = CommandContext {
            metadata: metadata(caller, policy, calendar),
            key: Some(key),
            ..CommandContext::default()
        };
        self.context
            .store
            .execute::<FormalComplaint>(header.complaint_id, command, &context)
            .await
            .map_err(Error::Complaint)
    }

    /// The inspection team, for the "unconnected investigator" rule.
    pub(super) async fn team(
        &self,
        inspection_id: Uuid,
    ) -> Result<inspection::InspectionTeam, Error> {
        let (case, _) = self
            .context
            .store
            .load::<InspectionCase>(inspection_id)
            .await
            .map_err(Error::Inspection)?;
        case.team().ok_or_else(|| {
            Error::Unexpected(anyhow::anyhow!(
                "complaint's inspection {inspection_id} is unknown"
            ))
        })
    }

    /// Submits a complaint (or accepts a late one) and places the publication hold in one unit
    /// of work. A refused submission is recorded in the intake log.
    pub(super) async fn admit(
        &self,
        caller: &Principal,
        key: CommandKey,
        submission: parse::Submission,
        route_override_reason_ref: Option<String>,
        justification_ref: Option<String>,
    ) -> Result<Appended, Error> {
        if let Some(recorded) = self.recorded(&key).await? {
            return Ok(recorded);
        }
        let inspection_id = submission.inspection_id;
        let store = &self.context.store;
        // The provider the inspection is of, recorded in its notification. A provider caller
        // may complain only about its own inspections; staff must name the inspection's
        // provider. Anything else is NOT_FOUND, so another provider's inspection does not leak.
        let (case, _) = store
            .load::<InspectionCase>(inspection_id)
            .await
            .map_err(Error::Inspection)?;
        let linked = case.provider_id().map(str::to_owned);
        let provider_id = match (submission.provider_id, linked) {
            (ProviderChoice::Own(own), Some(linked)) if own == linked => own,
            (ProviderChoice::OnBehalfOf(named), None) => named,
            (ProviderChoice::OnBehalfOf(named), Some(linked)) if named == linked => named,
            _ => return Err(Error::NotFound("inspection")),
        };
        let subject = Uuid::now_v7();
        let contact = serde_json::to_vec(&submission.contact).map_err(|e| {
            Error::Unexpected(anyhow::Error::new(e).context("Failed to encode contact details"))
        })?;
        let vault = &self.context.vault;
        let contact_record = vault
            .put(subject, CONTACT_KIND, &contact)
            .await
            .map_err(|e| {
                Error::Unexpected(anyhow::Error::new(e).context("Failed to seal contact details"))
            })?;
        let narrative_record = vault
            .put(subject, NARRATIVE_KIND, submission.narrative.as_bytes())
            .await
            .map_err(|e| {
                Error::Unexpected(anyhow::Error::new(e).context("Failed to seal the narrative"))
            })?;
        // The vault reference of the complainant's contact record, nothing else.
        let complainant_ref = contact_record.to_string();
        let mut doc_refs = vec![format!("{NARRATIVE_PREFIX}{narrative_record}")];
        doc_refs.extend(submission.doc_refs);
        let complaint_id = Uuid::now_v7();
        for _ in 0..MAX_ATTEMPTS {
            let (case, case_version) = store
                .load::<InspectionCase>(inspection_id)
                .await
                .map_err(Error::Inspection)?;
            let intake = case
                .complaint_intake()
                .ok_or(Error::NotFound("inspection"))?;
            let policy = self.policy(&intake.policy_version)?;
            // The read model, or failing that the inspection's own holds: the holds are in the
            // stream this unit of work expects a version of, so two racing submissions cannot
            // both pass.
            let open_complaint = match self
                .read_models
                .open_complaint(inspection_id, &provider_id)
                .await
            {
                Ok(open) => open.or_else(|| case.holds().into_iter().next()),
                Err(e) => {
                    return Err(Error::Unexpected(
                        anyhow::Error::new(e).context("Failed to find an open complaint"),
                    ));
                }
            };
            let now = self.context.clock.now();
            let domain_submission = complaint::Submission {
                inspection_id,
                complainant_ref: complainant_ref.clone(),
                grounds: submission.grounds.clone(),
                doc_refs: doc_refs.clone(),
                submitted_at: now,
                route_override: route_override_reason_ref
                    .clone()
                    .map(|reason_ref| RouteOverride {
                        decided_by: actor(caller),
                        reason_ref,
                    }),
            };
            // `intake` says whether a tribunal appeal is pending. An appeal lodged after this
            // load moves the inspection's version, so the hold staged below loses the race and
            // the submission is decided again against it.
            let facts = SubmissionFacts {
                inspection: intake,
                open_complaint,
            };
            let command = match &justification_ref {
                None => Command::SubmitFormalComplaint {
                    complaint_id,
                    submission: domain_submission,
                    facts,
                    policy: Arc::clone(&policy),
                    calendar: self.context.calendar,
                },
                Some(justification_ref) => Command::AcceptOutOfTime {
                    complaint_id,
                    submission: domain_submission,
                    facts,
                    decided_by: actor(caller),
                    justification_ref: justification_ref.clone(),
                    accepted_at: now,
                    policy: Arc::clone(&policy),
                    calendar: self.context.calendar,
                },
            };
            let events = match FormalComplaint::default().decide(command.clone()) {
                Ok(events) => events,
                Err(rejection) => {
                    self.record_refusal(caller, inspection_id, &command, &rejection)
                        .await?;
                    return Err(rejected(rejection));
                }
            };
            let hold = match case.decide(inspection::Command::PlacePublicationHold {
                complaint_id,
                placed_at: now,
            }) {
                Ok(hold) => hold,
                // Accepted after publication: there is nothing left to hold.
                Err(inspection::Rejection::AlreadyPublished) => Vec::new(),
                Err(rejection) => return Err(Error::Inspection(ExecuteError::Rejected(rejection))),
            };
            let mut unit = store.unit_of_work();
            unit.stage_events::<InspectionCase>(inspection_id, expected(case_version), &hold);
            unit.stage_events::<FormalComplaint>(complaint_id, ExpectedVersion::NoStream, &events);
            let metadata = metadata(caller, Some(&policy), Some(self.context.calendar.version()));
            if let Some(appended) = commit(unit, &metadata, &key).await? {
                return Ok(appended);
            }
        }
        Err(conflict())
    }

    /// Records a refused submission in the inspection's intake log.
    async fn record_refusal(
        &self,
        caller: &Principal,
        inspection_id: Uuid,
        command: &Command,
        rejection: &complaint::Rejection,
    ) -> Result<(), Error> {
        let Some(record) = complaint::rejected_submission(command, rejection) else {
            return Ok(());
        };
        let context = CommandContext {
            metadata: metadata(caller, None, None),
            ..CommandContext::default()
        };
        match self
            .context
            .store
            .execute::<IntakeLog>(intake_stream_id(inspection_id), record, &context)
            .await
        {
            Ok(_) => Ok(()),
            Err(ExecuteError::Rejected(never)) => match never {},
            Err(e) => Err(Error::Unexpected(
                anyhow::Error::new(e).context("Failed to record a refused submission"),
            )),
        }
    }

    /// Issues the response (also a reconsidered one) or withdraws the complaint, and releases its
    /// publication hold, if it holds one, in the same unit of work.
    pub(super) async fn end_hold(
        &self,
        caller: &Principal,
        key: CommandKey,
        header: &Header,
        command: impl Fn(Timestamp) -> Command,
        reason: HoldReleaseReason,
    ) -> Result<Appended, Error> {
        if let Some(recorded) = self.recorded(&key).await? {
            return Ok(recorded);
        }
        let store = &self.context.store;
        for _ in 0..MAX_ATTEMPTS {
            let now = self.context.clock.now();
            let (state, version) = store
                .load::<FormalComplaint>(header.complaint_id)
                .await
                .map_err(Error::Complaint)?;
            let events = state.decide(command(now)).map_err(rejected)?;
            let (case, case_version) = store
                .load::<InspectionCase>(header.inspection_id)
                .await
                .map_err(Error::Inspection)?;
            // Only a hold this complaint placed is released. One accepted after publication, or
            // reconsidered after its first response (an escalation never holds a report again),
            // holds nothing: the inspection is neither written nor checked for a version then.
            let release = if case.holds().contains(&header.complaint_id) {
                case.decide(inspection::Command::ReleasePublicationHold {
                    complaint_id: header.complaint_id,
                    reason,
                    released_at: now,
                })
                .map_err(|r| Error::Inspection(ExecuteError::Rejected(r)))?
            } else {
                Vec::new()
            };
            let mut unit = store.unit_of_work();
            unit.stage_events::<InspectionCase>(
                header.inspection_id,
                expected(case_version),
                &release,
            );
            unit.stage_events::<FormalComplaint>(header.complaint_id, expected(version), &events);
            let metadata = metadata(
                caller,
                Some(&header.policy),
                Some(self.context.calendar.version()),
            );
            if let Some(appended) = commit(unit, &metadata, &key).await? {
                return Ok(appended);
            }
        }
        Err(conflict())
    }
}
