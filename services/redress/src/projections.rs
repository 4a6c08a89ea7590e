//! `redress projections list` and `redress projections rebuild <name>`: every service's read
//! models, where each one is in its service's log, and rebuilding one without stopping anything.
//!
//! A rebuild is [`ProjectionRunner::rebuild`](platform::projection::ProjectionRunner::rebuild),
//! run from here through each service's registry (`complaints::projections` and the others): it
//! replays the log into fresh tables in a scratch schema, catches up, and swaps them in under the
//! projection's checkpoint lock, so the running service's own runner carries on from the swapped
//! checkpoint. A projection whose output is durable (the escalation feed translator) is refused.

use std::io::{IsTerminal as _, Write};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use platform::event_store::EventStore;
use platform::pg::{PgTimestamp, Xid8};
use platform::projection::{ProjectionInfo, RebuildProgress};
use platform::tail::Position;
use serde::Serialize;

use crate::cli::{ProjectionsListArgs, ProjectionsRebuildArgs};
use crate::services::Service;

/// Every projection of every service, in the order the services start them.
pub fn registry() -> Vec<(Service, ProjectionInfo)> {
    Service::ALL
        .into_iter()
        .flat_map(|service| {
            let projections = match service {
                Service::Complaints => complaints::projections::projections(),
                Service::Escalation => escalation::projections::projections(),
                Service::LearningReviews => learning_reviews::projections::projections(),
            };
            projections.into_iter().map(move |info| (service, info))
        })
        .collect()
}

/// Why a name names no single projection.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no projection is called {name:?}; the projections are: {known}")]
    Unknown { name: String, known: String },
    #[error("{name:?} is ambiguous: say one of {candidates}")]
    Ambiguous { name: String, candidates: String },
}

/// `<service>/<name>` for operators, the service as on the command line.
fn qualified(service: Service, info: &ProjectionInfo) -> String {
    format!("{}/{}", service.name(), info.name)
}

/// The projection `name` names: a projection's name, `<service>/<name>` (the service as on the
/// command line or as its schema), or failing those one of its tables.
///
/// # Errors
/// When nothing or more than one projection matches; the message lists the candidates.
pub fn resolve(name: &str) -> Result<(Service, ProjectionInfo), ResolveError> {
    let all = registry();
    let (service, bare) = match name.split_once('/') {
        Some((service, bare)) => (Some(service), bare),
        None => (None, name),
    };
    let in_service =
        |s: Service| service.is_none_or(|wanted| wanted == s.name() || wanted == s.schema());
    let by_name: Vec<_> = all
        .iter()
        .filter(|(s, info)| in_service(*s) && info.name == bare)
        .collect();
    let matches = if by_name.is_empty() {
        all.iter()
            .filter(|(s, info)| in_service(*s) && info.tables.contains(&bare))
            .collect()
    } else {
        by_name
    };
    match matches.as_slice() {
        [(service, info)] => Ok((*service, *info)),
        [] => Err(ResolveError::Unknown {
            name: name.to_owned(),
            known: all
                .iter()
                .map(|(s, info)| qualified(*s, info))
                .collect::<Vec<_>>()
                .join(", "),
        }),
        several => Err(ResolveError::Ambiguous {
            name: name.to_owned(),
            candidates: several
                .iter()
                .map(|(s, info)| qualified(*s, info))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// One line of `list`.
#[derive(Debug, Serialize)]
pub struct ProjectionStatus {
    pub service: &'static str,
    pub name: &'static str,
    /// The version this build writes.
    pub version: i32,
    /// The version its tables were built at; `None` before the service first started it. A
    /// different one is rebuilt when the service next starts.
    pub stored_version: Option<i32>,
    /// The last position applied, `<transaction>.<sequence>`; `None` before the first start.
    pub checkpoint: Option<String>,
    /// When the checkpoint last moved.
    pub updated_at: Option<String>,
    /// Events of the service's log after the checkpoint (all of them before the first start).
    pub events_behind: i64,
    /// Whether `rebuild` may replay it.
    pub rebuildable: bool,
    pub tables: &'static [&'static str],
}

/// Every projection's status, service by service.
///
/// # Errors
/// When PostgreSQL cannot be reached or a schema is not migrated.
pub async fn list(database_url: &str) -> anyhow::Result<Vec<ProjectionStatus>> {
    let mut statuses = Vec::new();
    for service in Service::ALL {
        let pool = platform::pg::connect(database_url, service.schema(), 1)
            .await
            .with_context(|| format!("Failed to connect to PostgreSQL for {}", service.name()))?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&pool)
            .await
            .with_context(|| format!("Failed to read the {} log", service.name()))?;
        for (_, info) in registry().into_iter().filter(|(s, _)| *s == service) {
            let row: Option<(i32, Xid8, i64, PgTimestamp, i64)> = sqlx::query_as(
                "SELECT c.projection_version, c.transaction_id, c.position, c.updated_at,
                        (SELECT count(*) FROM events e
                         WHERE (e.transaction_id, e.position) > (c.transaction_id, c.position))
                 FROM checkpoints c WHERE c.name = $1",
            )
            .bind(info.checkpoint_name())
            .fetch_optional(&pool)
            .await
            .with_context(|| format!("Failed to read the checkpoint of {}", info.name))?;
            let status = match row {
                Some((stored, transaction, sequence, updated_at, behind)) => ProjectionStatus {
                    stored_version: Some(stored),
                    checkpoint: Some(
                        Position {
                            transaction: transaction.0,
                            sequence,
                        }
                        .to_string(),
                    ),
                    updated_at: Some(updated_at.0.to_string()),
                    events_behind: behind,
                    ..status_of(service, &info, total)
                },
                None => status_of(service, &info, total),
            };
            statuses.push(status);
        }
        pool.close().await;
    }
    Ok(statuses)
}

fn status_of(service: Service, info: &ProjectionInfo, total: i64) -> ProjectionStatus {
    ProjectionStatus {
        service: service.name(),
        name: info.name,
        version: info.version,
        stored_version: None,
        checkpoint: None,
        updated_at: None,
        events_behind: total,
        rebuildable: info.rebuildable,
        tables: info.tables,
    }
}

/// Prints `list` as a table, or as one JSON document.
///
/// # Errors
/// When the statuses cannot be read or written.
pub async fn run_list(args: &ProjectionsListArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let statuses = list(&args.database.database_url).await?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &statuses)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<17} {:<25} {:>7} {:<22} {:>8}  NOTE",
        "SERVICE", "PROJECTION", "VERSION", "CHECKPOINT", "BEHIND"
    )?;
    for s in &statuses {
        let note = if !s.rebuildable {
            "durable output: never rebuilt".to_owned()
        } else if s.stored_version.is_none() {
            "not started yet".to_owned()
        } else if s.stored_version != Some(s.version) {
            format!(
                "tables at version {}: rebuilt on next start",
                s.stored_version.unwrap_or_default()
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "{:<17} {:<25} {:>7} {:<22} {:>8}  {note}",
            s.service,
            s.name,
            s.version,
            s.checkpoint.as_deref().unwrap_or("-"),
            s.events_behind,
        )?;
    }
    Ok(())
}

/// How a rebuild shows its progress on stderr.
#[derive(Debug)]
pub enum Progress {
    /// An indicatif bar, for a terminal: events done of the total, rate, time left.
    Bar(ProgressBar),
    /// A plain line at most once a second, for logs and pipes.
    Lines {
        every: Duration,
        last: Option<Instant>,
    },
}

impl Progress {
    /// A bar when stderr is a terminal, lines otherwise.
    pub fn for_stderr() -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} events, {per_sec}, {eta} left",
                )
                // The template is a literal that parses; `default_bar` is the fallback anyway.
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            Progress::Bar(bar)
        } else {
            Progress::Lines {
                every: Duration::from_secs(1),
                last: None,
            }
        }
    }

    /// The bar, if any, for log output to print around it.
    pub fn bar(&self) -> Option<ProgressBar> {
        match self {
            Progress::Bar(bar) => Some(bar.clone()),
            Progress::Lines { .. } => None,
        }
    }

    fn report(&mut self, label: &str, progress: RebuildProgress, notes: &mut dyn Write) {
        match self {
            Progress::Bar(bar) => {
                if bar.message().is_empty() {
                    bar.set_message(format!("rebuilding {label}"));
                }
                bar.set_length(progress.total.max(progress.done));
                bar.set_position(progress.done);
            }
            Progress::Lines { every, last } => {
                if last.is_some_and(|at| at.elapsed() < *every) {
                    return;
                }
                *last = Some(Instant::now());
                let seconds = progress.elapsed.as_secs_f64().max(1e-3);
                let rate = progress.done as f64 / seconds;
                let left = progress.total.saturating_sub(progress.done) as f64 / rate.max(1e-9);
                let percent = if progress.total == 0 {
                    100.0
                } else {
                    (100.0 * progress.done as f64 / progress.total as f64).min(100.0)
                };
                // Progress is best effort: a closed stderr must not fail the rebuild.
                let _ = writeln!(
                    notes,
                    "rebuilding {label}: {}/{} events ({percent:.0}%), {rate:.0} events/s, about {left:.0} s left",
                    progress.done, progress.total
                );
            }
        }
    }

    fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// The rebuild of a projection that [`resolve`] found.
///
/// # Errors
/// When the projection cannot be rebuilt (durable output), PostgreSQL cannot be reached, the
/// schema is not migrated, or the replay fails (the live tables are untouched then).
pub async fn rebuild(
    database_url: &str,
    service: Service,
    info: &ProjectionInfo,
    mut progress: impl FnMut(RebuildProgress),
) -> anyhow::Result<u64> {
    anyhow::ensure!(
        info.rebuildable,
        "{} cannot be rebuilt: its output is durable (the feed translator numbers and appends \
         the independent body's feed as it goes; replaying it would write the feed twice)",
        qualified(service, info)
    );
    let pool = platform::pg::connect(database_url, service.schema(), 2)
        .await
        .with_context(|| format!("Failed to connect to PostgreSQL for {}", service.name()))?;
    platform::migrate::ensure_applied(&pool, service.schema(), &[platform::migrate::EVENT_STORE])
        .await?;
    let store = EventStore::new(pool.clone());
    let schema = service.schema();
    let replayed = match service {
        Service::Complaints => {
            complaints::projections::rebuild_projection(&store, schema, info.name, &mut progress)
                .await
        }
        Service::Escalation => {
            escalation::projections::rebuild_projection(&store, schema, info.name, &mut progress)
                .await
        }
        Service::LearningReviews => {
            learning_reviews::projections::rebuild_projection(
                &store,
                schema,
                info.name,
                &mut progress,
            )
            .await
        }
    };
    pool.close().await;
    replayed
        .with_context(|| format!("Failed to rebuild {}", qualified(service, info)))?
        .with_context(|| {
            format!(
                "{} is listed but its service does not rebuild it",
                qualified(service, info)
            )
        })
}

/// `redress projections rebuild`: resolves the name, rebuilds with `progress` on `notes`, and
/// prints the count and duration on `out`.
///
/// # Errors
/// See [`resolve`] and [`rebuild`].
pub async fn run_rebuild(
    args: &ProjectionsRebuildArgs,
    mut progress: Progress,
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> anyhow::Result<()> {
    let (service, info) = resolve(&args.name)?;
    let label = qualified(service, &info);
    if info.name != args.name && !args.name.ends_with(&format!("/{}", info.name)) {
        writeln!(notes, "{} is a table of {label}: rebuilding it", args.name)?;
    }
    let started = Instant::now();
    let result = rebuild(&args.database.database_url, service, &info, |p| {
        progress.report(&label, p, notes);
    })
    .await;
    progress.finish();
    let replayed = result?;
    let seconds = started.elapsed().as_secs_f64();
    writeln!(
        out,
        "rebuilt {label}: {replayed} events in {seconds:.1} s ({:.0} events/s)",
        replayed as f64 / seconds.max(1e-3)
    )?;
    Ok(())
}

/// A log writer that lifts the progress bar, if any, out of the way of each line.
#[derive(Clone, Debug)]
pub struct AroundBar(pub Option<ProgressBar>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for AroundBar {
    type Writer = AroundBar;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Write for AroundBar {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &self.0 {
            Some(bar) => bar.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_projection_is_found_by_name_by_service_and_name_and_by_table() {
        let (service, info) = resolve("escalations").unwrap();
        assert_eq!((service, info.name), (Service::Escalation, "escalations"));

        let (service, info) = resolve("learning-reviews/learning_reviews").unwrap();
        assert_eq!(
            (service, info.name),
            (Service::LearningReviews, "learning_reviews")
        );
        let (service, _) = resolve("learning_reviews/learning_reviews").unwrap();
        assert_eq!(service, Service::LearningReviews);

        let (service, info) = resolve("pause_register").unwrap();
        assert_eq!((service, info.name), (Service::Complaints, "inspections"));
    }

    #[test]
    fn an_unknown_name_lists_every_projection() {
        let error = resolve("nonesuch").unwrap_err().to_string();

        for (service, info) in registry() {
            assert!(error.contains(&qualified(service, &info)), "{error}");
        }
    }

    #[test]
    fn projection_names_are_unique_across_services() {
        let mut names: Vec<&str> = registry().iter().map(|(_, info)| info.name).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();

        assert_eq!(names.len(), count);
    }
}
