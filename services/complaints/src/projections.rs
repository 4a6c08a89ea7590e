//! Every projection of the complaints service, by name, for operators: `redress projections`
//! lists them and rebuilds one into new tables while the service runs (design rule 6). Nothing
//! here needs the service's `Context`: the event store and the schema are enough.

use platform::event_store::EventStore;
use platform::projection::{Projection as _, ProjectionInfo, ProjectionRunner, RebuildProgress};

use crate::formal_complaints::read_models::{Complaints, Deadlines, Samples};
use crate::formal_complaints::timers::ComplaintTimers;
use crate::inspections::read_models::InspectionsProjection;
use crate::inspections::timers::TimerProjection;

/// The service's projections, in the order it starts them.
pub fn projections() -> Vec<ProjectionInfo> {
    vec![
        ProjectionInfo::of(&InspectionsProjection),
        ProjectionInfo::of(&TimerProjection),
        ProjectionInfo::of(&Complaints),
        ProjectionInfo::of(&Deadlines),
        ProjectionInfo::of(&Samples),
        ProjectionInfo::of(&ComplaintTimers),
    ]
}

/// Replays the log into new tables for the projection `name` (one of [`projections`]) in
/// `schema`, and swaps them in; see [`ProjectionRunner::rebuild`]. Returns how many events it
/// replayed, or `None` when the service has no projection of that name.
///
/// # Errors
/// Database errors and errors applying an event; the live tables are untouched then.
pub async fn rebuild_projection(
    store: &EventStore,
    schema: &str,
    name: &str,
    progress: impl FnMut(RebuildProgress),
) -> anyhow::Result<Option<u64>> {
    let replayed = if name == InspectionsProjection.name() {
        ProjectionRunner::new(store, schema, InspectionsProjection)?
            .rebuild(progress)
            .await?
    } else if name == TimerProjection.name() {
        ProjectionRunner::new(store, schema, TimerProjection)?
            .rebuild(progress)
            .await?
    } else if name == Complaints.name() {
        ProjectionRunner::new(store, schema, Complaints)?
            .rebuild(progress)
            .await?
    } else if name == Deadlines.name() {
        ProjectionRunner::new(store, schema, Deadlines)?
            .rebuild(progress)
            .await?
    } else if name == Samples.name() {
        ProjectionRunner::new(store, schema, Samples)?
            .rebuild(progress)
            .await?
    } else if name == ComplaintTimers.name() {
        ProjectionRunner::new(store, schema, ComplaintTimers)?
            .rebuild(progress)
            .await?
    } else {
        return Ok(None);
    };
    Ok(Some(replayed))
}
