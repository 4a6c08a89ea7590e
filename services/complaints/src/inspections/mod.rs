//! The inspections vertical: the `redress.complaints.v1.Inspections` gRPC service over the
//! `InspectionCase` and `Concern` aggregates, its read models and its timers.
//!
//! # Layout
//! * [`grpc`]: `InspectionsService` — every handler parses, executes and replies; errors become a
//!   `Status` in `grpc::reply` only. The role table is in `docs/inspections.md`.
//! * [`read_models`]: the `inspections` projection (case summaries with any tribunal appeal
//!   pending, the day-after route, the publication gate, the pause register, concerns) and the
//!   queries the handlers run.
//! * [`timers`]: the `inspection_timers` projection and the handler that fires
//!   `DeemInspectionIncomplete` and `RequirePublicationDelayExplanation`.
//!
//! The provider an inspection is of is `InspectionNotified.provider_id`; provider callers are
//! kept to their own cases with it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use platform::grpc::{AccessPolicy, Role, ServerConfig};
use platform::projection::{ProjectionRunner, wait_for_position};
use platform::tail::Position;
use platform::timer::Scheduler;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::app::Context;

pub mod grpc;
pub mod read_models;
pub mod timers;

/// The gRPC path prefix of every method of the service.
pub const SERVICE: &str = "/redress.complaints.v1.Inspections/";

/// Who may call which method; everything else is denied. Provider roles are further kept to their
/// own provider's cases by the handlers.
pub fn access_policy(policy: AccessPolicy) -> AccessPolicy {
    use Role::*;
    let providers = [ProviderRepresentative, ResponsibleBody];
    let readers = [
        ProviderRepresentative,
        ResponsibleBody,
        InspectionSystem,
        LeadInspector,
        TeamInspector,
        SeniorInspector,
        DutyDesk,
        ComplaintsInvestigator,
        ComplaintsDecisionMaker,
        Auditor,
    ];
    let rules: [(&str, &[Role]); 25] = [
        ("RecordInspectionNotified", &[InspectionSystem]),
        ("RecordDeferral", &[InspectionSystem]),
        ("RecordOnSiteStarted", &[InspectionSystem, LeadInspector]),
        ("PauseInspection", &[LeadInspector, InspectionSystem]),
        ("ResumeInspection", &[LeadInspector, InspectionSystem]),
        ("RecordOnSiteEnded", &[InspectionSystem, LeadInspector]),
        ("IssueDraftReport", &[InspectionSystem]),
        ("RecordFactualAccuracyPoints", &[InspectionSystem]),
        ("IssueFinalReport", &[InspectionSystem]),
        ("PublishReport", &[InspectionSystem]),
        ("RecordPublicationDelayExplanation", &[InspectionSystem]),
        ("RecordWellbeingContact", &[InspectionSystem, LeadInspector]),
        ("RecordTribunalAppealLodged", &[InspectionSystem]),
        ("RecordTribunalAppealConcluded", &[InspectionSystem]),
        (
            "RaiseConcern",
            &[ProviderRepresentative, ResponsibleBody, LeadInspector],
        ),
        ("AssignConcern", &[SeniorInspector]),
        ("ResolveConcern", &[SeniorInspector, LeadInspector]),
        ("LeaveConcernUnresolved", &[SeniorInspector, LeadInspector]),
        ("WithdrawConcern", &providers),
        (
            "FlagWellbeingRisk",
            &[SeniorInspector, LeadInspector, DutyDesk],
        ),
        ("GetInspectionCase", &readers),
        ("GetConcern", &readers),
        ("GetDayAfterRoute", &readers),
        ("GetPublicationGate", &readers),
        ("ListPauses", &readers),
    ];
    rules.into_iter().fold(policy, |policy, (method, roles)| {
        policy.allow(&format!("{SERVICE}{method}"), roles.iter().copied())
    })
}

/// The gRPC service with the server's message size limits.
pub fn service(
    context: Arc<Context>,
    read_models: Arc<ReadModels>,
    config: &ServerConfig,
) -> proto::complaints::v1::inspections_server::InspectionsServer<grpc::InspectionsService> {
    platform::grpc::limited!(
        proto::complaints::v1::inspections_server::InspectionsServer::new(
            grpc::InspectionsService::new(context, read_models)
        ),
        config
    )
}

/// The vertical's projections and timer scheduler.
#[derive(Debug)]
pub struct ReadModels {
    context: Arc<Context>,
    views: ProjectionRunner<read_models::InspectionsProjection>,
    timers: ProjectionRunner<timers::TimerProjection>,
    scheduler: Scheduler<timers::TimerFirer>,
}

impl ReadModels {
    /// Creates the projection runners and the timer scheduler, and their tables.
    ///
    /// # Errors
    /// When the schema name is invalid or the tables cannot be created.
    pub async fn start(context: &Arc<Context>) -> anyhow::Result<Arc<ReadModels>> {
        let read_models = ReadModels {
            context: Arc::clone(context),
            views: Self::views(context)?,
            timers: Self::timers(context)?,
            scheduler: Self::scheduler(context)?,
        };
        read_models
            .views
            .init()
            .await
            .context("Failed to create the inspections read models")?;
        read_models
            .timers
            .init()
            .await
            .context("Failed to create the inspection timers table")?;
        Ok(Arc::new(read_models))
    }

    fn views(
        context: &Context,
    ) -> anyhow::Result<ProjectionRunner<read_models::InspectionsProjection>> {
        ProjectionRunner::new(
            &context.store,
            &context.schema,
            read_models::InspectionsProjection,
        )
    }

    fn timers(context: &Context) -> anyhow::Result<ProjectionRunner<timers::TimerProjection>> {
        ProjectionRunner::new(&context.store, &context.schema, timers::TimerProjection)
    }

    fn scheduler(context: &Arc<Context>) -> anyhow::Result<Scheduler<timers::TimerFirer>> {
        Scheduler::new(
            context.store.pool().clone(),
            timers::TABLE,
            timers::TimerFirer::new(Arc::clone(context)),
        )
    }

    /// Spawns every projection's run loop and the scheduler's run loop. The loops share these
    /// runners, so `wait_for` sees each commit as it happens.
    pub fn spawn(
        self: &Arc<Self>,
        tasks: &mut JoinSet<anyhow::Result<()>>,
        shutdown: &CancellationToken,
    ) {
        let (me, token) = (Arc::clone(self), shutdown.clone());
        tasks.spawn(async move { me.views.run(token).await });
        let (me, token) = (Arc::clone(self), shutdown.clone());
        tasks.spawn(async move { me.timers.run(token).await });
        let (me, token) = (Arc::clone(self), shutdown.clone());
        tasks.spawn(async move { me.scheduler.run(me.context.clock.clone(), token).await });
    }

    /// Rebuilds every projection of this vertical from the event store into fresh tables and
    /// swaps them in (operators, and the convergence tests).
    ///
    /// # Errors
    /// Database errors and errors from a projection; the live tables are untouched then.
    pub async fn rebuild(&self) -> anyhow::Result<()> {
        self.views.rebuild(|_| {}).await?;
        self.timers.rebuild(|_| {}).await?;
        Ok(())
    }

    /// Applies every committed event, fires every timer due at the context's clock, then
    /// applies again (the events the timers recorded).
    ///
    /// # Errors
    /// Database errors; a timer's failure is logged and retried by the next call instead.
    pub async fn run_once(&self) -> anyhow::Result<()> {
        self.views.run_once().await?;
        self.timers.run_once().await?;
        self.scheduler.run_due(self.context.clock.now()).await?;
        self.views.run_once().await?;
        self.timers.run_once().await?;
        Ok(())
    }

    /// True once every projection of the vertical has applied `position`, waiting at most
    /// `max_wait`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn wait_for(&self, position: Position, max_wait: Duration) -> anyhow::Result<bool> {
        let pool = self.context.store.pool();
        let deadline = tokio::time::Instant::now() + max_wait;
        for (name, local) in [
            (read_models::NAME, self.views.applied()),
            (timers::TABLE, self.timers.applied()),
        ] {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !wait_for_position(pool, name, Some(local), position, left).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
