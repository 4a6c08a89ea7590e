//! What every inspection-case handler shares: the checked-field unpacking, the command with the
//! versions its deadlines use, the case's policy, and running the command with the call's key.

use std::sync::Arc;

use platform::event_store::CommandContext;
use platform::grpc::parse::Checked;
use platform::tail::Metadata;
use proto::common::v1::CommandReceipt;
use tonic::Status;
use uuid::Uuid;

use super::{Call, InspectionsService, reply};
use crate::app::Context;
use crate::domain::inspection::{Command, InspectionCase, Rejection};
use crate::domain::policy::Policy;

/// Every field was checked, so each is present; a gap is a bug, reported as `INTERNAL`.
pub(super) fn all<T: Checked>(values: T) -> Result<T::Values, Status> {
    values
        .all_present()
        .ok_or_else(|| reply::internal("a parsed field was absent but no violation was recorded"))
}

/// A command and the versions its deadlines are computed with, if any.
pub(super) struct Built {
    command: Command,
    versions: Option<(String, String)>,
}

impl Built {
    pub(super) fn plain(command: Command) -> Result<Built, Status> {
        Ok(Built {
            command,
            versions: None,
        })
    }

    pub(super) fn dated(
        command: Command,
        policy: &Policy,
        context: &Context,
    ) -> Result<Built, Status> {
        Ok(Built {
            command,
            versions: Some((
                policy.version().to_owned(),
                context.calendar.version().to_owned(),
            )),
        })
    }
}

/// The metadata of a command issued by the caller.
pub(super) fn metadata(call: &Call, versions: Option<(String, String)>) -> Metadata {
    let mut metadata = Metadata::for_command(&call.principal.subject, call.correlation_id, None);
    if let Some((policy, calendar)) = versions {
        metadata.policy_version = Some(policy);
        metadata.calendar_version = Some(calendar);
    }
    metadata
}

/// The policy the case follows. An unknown case has none: the command is refused as not notified.
pub(super) fn case_policy(context: &Context, case: &InspectionCase) -> Result<Arc<Policy>, Status> {
    let version = case
        .policy_version()
        .ok_or_else(|| reply::case_rejected(Rejection::NotNotified))?;
    context
        .policies
        .version(version)
        .ok_or_else(|| reply::internal(format!("the case's policy {version:?} is not loaded")))
}

/// Runs the command `build` makes from the case's current state, with the call's key. A retry
/// of a recorded request answers with the recorded receipt before anything is loaded.
pub(super) async fn execute(
    service: &InspectionsService,
    call: &Call,
    id: Uuid,
    build: impl FnOnce(&InspectionCase, &Context) -> Result<Built, Status>,
) -> Result<CommandReceipt, Status> {
    let store = &service.context.store;
    if let Some(recorded) = store
        .find_command(&call.key)
        .await
        .map_err(reply::case_append)?
    {
        return Ok(recorded.receipt());
    }
    let (case, _) = store
        .load::<InspectionCase>(id)
        .await
        .map_err(reply::case)?;
    run(service, call, id, build(&case, &service.context)?).await
}

/// Runs a built command with the call's key: the store loads the case, unless the command
/// begins it, and a retry of a recorded request answers with the recorded receipt.
pub(super) async fn run(
    service: &InspectionsService,
    call: &Call,
    id: Uuid,
    built: Built,
) -> Result<CommandReceipt, Status> {
    let context = CommandContext {
        metadata: metadata(call, built.versions),
        key: Some(call.key.clone()),
        ..CommandContext::default()
    };
    let appended = service
        .context
        .store
        .execute::<InspectionCase>(id, built.command, &context)
        .await
        .map_err(reply::case)?;
    Ok(appended.receipt())
}
