//! Wiring: the shared [`Context`] every handler, projection and timer uses, and the service's
//! run loop (gRPC, relay, read models, timers) until shutdown.

use std::time::Duration;

use anyhow::Context as _;
use platform::calendar::Calendar;
use platform::clock::Clock;
use platform::event_store::EventStore;
use platform::vault::Vault;

use crate::config::Config;
use crate::domain::CalendarRef;
use crate::domain::policy::PolicySet;

/// What every handler, projection and timer of the service shares.
#[derive(Debug)]
pub struct Context {
    /// The event store in the service's schema.
    pub store: EventStore,
    /// Personal data, kept out of events.
    pub vault: Vault,
    /// Every policy version; an inspection follows the one in force when it happened.
    pub policies: PolicySet,
    /// The working-day calendar deadlines are computed with.
    pub calendar: CalendarRef,
    /// "Now" for every handler and timer; settable in tests.
    pub clock: Clock,
    /// The service's PostgreSQL schema.
    pub schema: String,
    /// The longest a query waits for its `ReadConsistency` position.
    pub max_read_wait: Duration,
}

impl Context {
    /// Connects to PostgreSQL, checks the schema is migrated, and loads policy and calendar
    /// (with the operator's files, when configured).
    ///
    /// # Errors
    /// When PostgreSQL is unreachable, the schema is not migrated, or a policy or calendar file
    /// is invalid.
    pub async fn connect(config: &Config, clock: Clock) -> anyhow::Result<Context> {
        let pool = platform::pg::connect(&config.database_url, &config.schema, config.max_connections)
            .await
            .context("Failed to connect to PostgreSQL")?;
        let migrated: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'events')",
        )
        .bind(&config.schema)
        .fetch_one(&pool)
        .await?;
        anyhow::ensure!(migrated, "the {} schema is not migrated: run `redress migrate` first", config.schema);
        let policies = match &config.policy_file {
            Some(path) => PolicySet::embedded()
                .with_operator_file(path)
                .with_context(|| format!("Failed to load the policy file {}", path.display()))?,
            None => PolicySet::embedded().clone(),
        };
        let calendar: CalendarRef = match &config.calendar_file {
            // Built once per process and kept for its life: commands hold `&'static Calendar`.
            Some(path) => Box::leak(Box::new(
                Calendar::england_and_wales()
                    .with_extension_file(path)
                    .with_context(|| format!("Failed to load the calendar file {}", path.display()))?,
            )),
            None => Calendar::england_and_wales(),
        };
        Ok(Context {
            vault: Vault::new(pool.clone(), &config.vault_master_key),
            store: EventStore::new(pool),
            policies,
            calendar,
            clock,
            schema: config.schema.clone(),
            max_read_wait: config.max_read_wait,
        })
    }
}
