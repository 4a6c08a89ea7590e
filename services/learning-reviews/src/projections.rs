//! Every projection of the learning-reviews service, by name, for operators: `redress
//! projections` lists them and rebuilds one into new tables while the service runs (design
//! rule 6).

use platform::event_store::EventStore;
use platform::projection::{Projection as _, ProjectionInfo, ProjectionRunner, RebuildProgress};

use crate::read_models::LearningReviews;

/// The service's projections.
pub fn projections() -> Vec<ProjectionInfo> {
    vec![ProjectionInfo::of(&LearningReviews)]
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
    if name != LearningReviews.name() {
        return Ok(None);
    }
    let replayed = ProjectionRunner::new(store, schema, LearningReviews)?
        .rebuild(progress)
        .await?;
    Ok(Some(replayed))
}
