//! Every projection of the escalation service, by name, for operators: `redress projections`
//! lists them and rebuilds one into new tables while the service runs (design rule 6). The feed
//! translator is listed but never rebuilt: its output, the feed, is durable (design rule 8).

use platform::event_store::EventStore;
use platform::projection::{Projection as _, ProjectionInfo, ProjectionRunner, RebuildProgress};

use crate::feed::Translator;
use crate::read_models::Escalations;

/// The service's projections, in the order it starts them.
pub fn projections() -> Vec<ProjectionInfo> {
    vec![
        ProjectionInfo::of(&Escalations),
        ProjectionInfo::of(&Translator),
    ]
}

/// Replays the log into new tables for the projection `name` (one of [`projections`]) in
/// `schema`, and swaps them in; see [`ProjectionRunner::rebuild`]. Returns how many events it
/// replayed, or `None` when the service has no projection of that name.
///
/// # Errors
/// The feed translator's name (it cannot be rebuilt); database errors and errors applying an
/// event, which leave the live tables untouched.
pub async fn rebuild_projection(
    store: &EventStore,
    schema: &str,
    name: &str,
    progress: impl FnMut(RebuildProgress),
) -> anyhow::Result<Option<u64>> {
    let replayed = if name == Escalations.name() {
        ProjectionRunner::new(store, schema, Escalations)?
            .rebuild(progress)
            .await?
    } else if name == Translator.name() {
        ProjectionRunner::new(store, schema, Translator)?
            .rebuild(progress)
            .await?
    } else {
        return Ok(None);
    };
    Ok(Some(replayed))
}
