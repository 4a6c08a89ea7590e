//! W5: a read query over gRPC, next to the floors it is made of.
//!
//! * `project`: `Complaints.GetComplaint` by id sent to `redress serve complaints` (see
//!   `served`) as role `complaints_investigator`: bearer token checked, request parsed, one
//!   `SELECT` of the `complaints` read model by primary key, the row turned into the reply.
//!   The ids are those of the formal complaints submitted through the real API before the
//!   runs ([`SEED_COMPLAINTS`], or [`QUICK_SEED_COMPLAINTS`] with `--quick`; each: an
//!   inspection notified, on site, ended, its draft report issued, then `SubmitFormalComplaint`
//!   by the provider's representative), so every call finds its row.
//! * `peer:sql_select`: a prepared `SELECT` of the same columns `WHERE complaint_id = $1` from a
//!   copy of that read model (`CREATE TABLE … (LIKE … INCLUDING ALL)`, the same rows and
//!   indexes) in a schema of its own, over a pool of the concurrency (at least 2), as the
//!   other SQL peers.
//! * `peer:tonic_echo`: the bare tonic echo (see `echo`), 500 bytes each way.
//!
//! Closed loops at c = 1 and 32, one HTTP/2 connection per gRPC run; every op asks for the
//! next id of the same fixed permutation of the seeded ids. One service process (on a fresh
//! `complaints` schema) serves every round, as in W6: the reads change nothing, and seeding
//! through the API costs far more time than a run, so it happens once, before the first
//! round, and the bench waits until the read model holds every complaint and every reader of
//! the log has caught up before it measures. Rounds alternate which side goes first.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use platform::grpc::Role;
use platform::pg::Pool;
use platform::testing::NatsServer;
use proto::complaints::v1 as complaints;
use proto::complaints::v1::complaints_client::ComplaintsClient;
use proto::complaints::v1::inspections_client::InspectionsClient;
use sqlx::AssertSqlSafe;
use tokio::task::JoinSet;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::append::PROJECT;
use crate::echo::{self, EchoServer};
use crate::load;
use crate::report::{Enforced, Ratio, Summary, Target, log};
use crate::run::Ctx;
use crate::served::{self, Served};

const BENCH: &str = "w5_read";
const SQL_SELECT: &str = "peer:sql_select";
/// The concurrencies W5 runs at.
const CONCURRENCY: [usize; 2] = [1, 32];
/// Formal complaints submitted through the API before the runs.
const SEED_COMPLAINTS: usize = 2_000;
/// The same with `--quick`.
const QUICK_SEED_COMPLAINTS: usize = 1_000;
/// Callers seeding them at once, over one connection.
const SEED_WORKERS: usize = 32;
/// The longest the bench waits, once the complaints are submitted, for the read model to hold
/// them all.
const SEED_TIMEOUT: Duration = Duration::from_secs(120);
/// The provider every seeded complaint comes from.
const PROVIDER: &str = "URN-200001";
/// The read model's columns, as the service selects them.
const PEER_SELECT: &str = "SELECT complaint_id, inspection_id, provider_id, contact_ref, narrative_ref, \
     status, route, remit, grounds, submitted_at, investigator_ref, outcome, remedies, escalation_id, \
     sensitive, personal_data_erased FROM complaints WHERE complaint_id = $1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Project,
    SqlSelect,
    Echo,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Project => PROJECT,
            Side::SqlSelect => SQL_SELECT,
            Side::Echo => echo::PEER,
        }
    }
}

type Samples = BTreeMap<(usize, Side), Vec<Summary>>;

/// Runs W5's rounds, then prints the medians and ratio lines.
pub(crate) async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let s = &ctx.settings;
    let nats = NatsServer::start().await?;
    log!("w5: nats-server at {}", nats.url());
    let echo = EchoServer::start().await?;
    let served = Served::start(&ctx.db, nats.url(), "w5").await?;
    let service_pool = ctx.db.pool(served::SERVICE, 2).await?;
    let count = if s.quick {
        QUICK_SEED_COMPLAINTS
    } else {
        SEED_COMPLAINTS
    };
    let ids = Arc::new(seed(&served, &service_pool, count).await?);
    let peer_schema = "w5_peer";
    copy_read_model(ctx, peer_schema, ids.len()).await?;
    let mut samples = Samples::new();
    for round in 1..=s.rounds {
        for c in CONCURRENCY {
            let mut order = [Side::Project, Side::SqlSelect, Side::Echo];
            if round % 2 == 0 {
                order.reverse();
            }
            for side in order {
                let summary = match side {
                    Side::Project => project(ctx, &served, ids.clone(), c).await?,
                    Side::SqlSelect => select(ctx, peer_schema, ids.clone(), c).await?,
                    Side::Echo => echo::closed_loop(ctx, &echo, BENCH, c).await?,
                };
                let summary = summary.with("rows", ids.len());
                ctx.reporter
                    .sample(BENCH, side.name(), c, round, s.run_warmup, &summary);
                samples.entry((c, side)).or_default().push(summary);
            }
        }
    }
    ctx.db.drop_schema(peer_schema).await;
    service_pool.close().await;
    served.stop();
    for ((c, side), runs) in &samples {
        ctx.reporter.median(BENCH, side.name(), *c, runs);
    }
    ratios(ctx, &samples);
    drop(nats);
    Ok(())
}

fn ratios(ctx: &Ctx, samples: &Samples) {
    let runs = |c: usize, side: Side| samples.get(&(c, side)).map_or(&[][..], Vec::as_slice);
    let p50 = |s: &Summary| s.latency.map_or(f64::NAN, |l| l.p50 as f64);
    let (project, select, echo) = (
        runs(32, Side::Project),
        runs(32, Side::SqlSelect),
        runs(32, Side::Echo),
    );
    if !project.is_empty() {
        ctx.reporter.ratio(&Ratio {
            name: "w5_c32_throughput_vs_min_echo_select".to_owned(),
            bench: BENCH,
            concurrency: Some(32),
            numerator: PROJECT,
            denominator: Some("min(peer:tonic_echo,peer:sql_select)"),
            per_round: project
                .iter()
                .zip(echo)
                .zip(select)
                .map(|((p, e), q)| p.throughput() / e.throughput().min(q.throughput()))
                .collect(),
            target: Some((Target::AtLeast(0.5, ">=0.5"), Enforced::Yes)),
        });
    }
    let (project, select, echo) = (
        runs(1, Side::Project),
        runs(1, Side::SqlSelect),
        runs(1, Side::Echo),
    );
    if !project.is_empty() {
        ctx.reporter.ratio(&Ratio {
            name: "w5_c1_p50_vs_echo_plus_select".to_owned(),
            bench: BENCH,
            concurrency: Some(1),
            numerator: PROJECT,
            denominator: Some("peer:tonic_echo+peer:sql_select"),
            per_round: project
                .iter()
                .zip(echo)
                .zip(select)
                .map(|((p, e), q)| p50(p) / (p50(e) + p50(q)))
                .collect(),
            target: Some((Target::AtMost(1.3, "<=1.3"), Enforced::Informational)),
        });
    }
}

/// Hands out the ids in one fixed permutation, the same for every side and worker.
#[derive(Debug)]
struct Picker {
    next: AtomicUsize,
    len: usize,
}

impl Picker {
    fn new(len: usize) -> Picker {
        Picker {
            next: AtomicUsize::new(0),
            len: len.max(1),
        }
    }

    /// The next index: the counter times a prime that divides no seeded count, modulo the count.
    fn next(&self) -> usize {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.len;
        (i * 7_919) % self.len
    }
}

/// One closed-loop run of `GetComplaint` at `c` in flight over one connection.
async fn project(
    ctx: &Ctx,
    served: &Served,
    ids: Arc<Vec<Uuid>>,
    c: usize,
) -> anyhow::Result<Summary> {
    let s = &ctx.settings;
    let what = format!("{BENCH} {PROJECT} c={c}");
    log!("{what}");
    let client = ComplaintsClient::new(served.channel().await?);
    let bearer = served.bearer("staff:bench-investigator", Role::ComplaintsInvestigator)?;
    let picker = Arc::new(Picker::new(ids.len()));
    let load = load::closed_loop(&what, c, s.run_warmup, s.duration, move || {
        let mut client = client.clone();
        let id = ids[picker.next()];
        let mut request = tonic::Request::new(complaints::GetComplaintRequest {
            complaint_id: id.to_string(),
            consistency: None,
        });
        request
            .metadata_mut()
            .insert("authorization", bearer.clone());
        async move {
            let reply = client.get_complaint(request).await?.into_inner();
            anyhow::ensure!(
                reply
                    .complaint
                    .is_some_and(|c| c.complaint_id == id.to_string()),
                "GetComplaint answered with another complaint than {id}"
            );
            Ok(())
        }
    });
    load::metered(ctx, load, Some(&|| served.cpu_seconds()), true).await
}

/// One closed-loop run of the bare prepared SELECT at `c` in flight.
async fn select(ctx: &Ctx, schema: &str, ids: Arc<Vec<Uuid>>, c: usize) -> anyhow::Result<Summary> {
    let s = &ctx.settings;
    let what = format!("{BENCH} {SQL_SELECT} c={c}");
    log!("{what}");
    let pool = ctx.db.pool(schema, u32::try_from(c.max(2))?).await?;
    let picker = Arc::new(Picker::new(ids.len()));
    let load = load::closed_loop(&what, c, s.run_warmup, s.duration, {
        let pool = pool.clone();
        move || {
            let pool = pool.clone();
            let id = ids[picker.next()];
            async move {
                sqlx::query(PEER_SELECT)
                    .bind(id)
                    .fetch_optional(&pool)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no row for complaint {id}"))?;
                Ok(())
            }
        }
    });
    let result = load::metered(ctx, load, None, true).await;
    pool.close().await;
    result
}

/// The peer's table: the read model's shape, rows and indexes, copied into `schema`.
async fn copy_read_model(ctx: &Ctx, schema: &str, rows: usize) -> anyhow::Result<()> {
    let table = format!("{}.complaints", served::SERVICE);
    ctx.db
        .execute(format!(
            "CREATE SCHEMA {schema};
             CREATE TABLE {schema}.complaints (LIKE {table} INCLUDING ALL);
             INSERT INTO {schema}.complaints SELECT * FROM {table};
             ANALYZE {schema}.complaints;"
        ))
        .await?;
    let pool = ctx.db.pool(schema, 1).await?;
    let copied: i64 = sqlx::query_scalar(AssertSqlSafe("SELECT count(*) FROM complaints"))
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    anyhow::ensure!(
        usize::try_from(copied)? == rows,
        "the peer table has {copied} rows, not {rows}"
    );
    Ok(())
}

/// The bearer tokens of the seeding callers.
#[derive(Debug)]
struct SeedCallers {
    partner: MetadataValue<Ascii>,
    provider: MetadataValue<Ascii>,
}

/// Submits `count` formal complaints through the API, then waits until the read model holds
/// all of them and every reader of the log has caught up; returns their ids.
async fn seed(served: &Served, pool: &Pool, count: usize) -> anyhow::Result<Vec<Uuid>> {
    let started = Instant::now();
    let channel = served.channel().await?;
    let callers = Arc::new(SeedCallers {
        partner: served.bearer("bench:partner-system", Role::InspectionSystem)?,
        provider: served.provider_bearer("bench:head", PROVIDER)?,
    });
    let next = Arc::new(AtomicUsize::new(0));
    let now = Timestamp::now();
    let mut tasks = JoinSet::new();
    for _ in 0..SEED_WORKERS {
        let channel = channel.clone();
        let callers = callers.clone();
        let next = next.clone();
        tasks.spawn(async move {
            let mut ids = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return anyhow::Ok(ids);
                }
                ids.push(seed_one(&channel, &callers, n, now).await?);
            }
        });
    }
    let mut ids = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        ids.extend(joined??);
    }
    let submitted = started.elapsed();
    let waiting = Instant::now();
    loop {
        let held: i64 = sqlx::query_scalar("SELECT count(*) FROM complaints")
            .fetch_one(pool)
            .await?;
        if usize::try_from(held)? >= count {
            break;
        }
        anyhow::ensure!(
            waiting.elapsed() < SEED_TIMEOUT,
            "the complaints read model holds {held} of {count} after {SEED_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let settled = crate::command::settle(pool).await?;
    log!(
        "{BENCH}: seeded {} complaints in {:.1} s ({:.1} s to submit), readers settled in {settled:?} ms",
        ids.len(),
        started.elapsed().as_secs_f64(),
        submitted.as_secs_f64()
    );
    Ok(ids)
}

/// One formal complaint, as the demo makes them: an inspection notified six days ago, on site
/// three days ago, ended two days ago, its draft issued 90 minutes ago; then the complaint.
async fn seed_one(
    channel: &Channel,
    callers: &SeedCallers,
    n: usize,
    now: Timestamp,
) -> anyhow::Result<Uuid> {
    fn request<T>(message: T, bearer: &MetadataValue<Ascii>) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", bearer.clone());
        request
    }
    let days_ago = |d: i64| now - SignedDuration::from_hours(24 * d);
    let ts = |at: Timestamp| Some(platform::aggregate::timestamp(at));
    let date = |at: Timestamp| platform::calendar::local_date(at).to_string();
    let inspection_id = Uuid::new_v4().to_string();
    let key = |step: &str| format!("bench-{step}-{inspection_id}");
    let mut inspections = InspectionsClient::new(channel.clone());
    let partner = &callers.partner;
    inspections
        .record_inspection_notified(request(
            complaints::RecordInspectionNotifiedRequest {
                request_id: key("notify"),
                inspection_id: inspection_id.clone(),
                provider_id: PROVIDER.to_owned(),
                remit: complaints::Remit::Schools as i32,
                lead_inspector_ref: format!("staff:lead-{}", n % 50),
                team_inspector_refs: vec![format!("staff:team-{}", n % 50)],
                on_site_starts_on: date(days_ago(3)),
                occurred_at: ts(days_ago(6)),
            },
            partner,
        ))
        .await?;
    inspections
        .record_on_site_started(request(
            complaints::RecordOnSiteStartedRequest {
                request_id: key("on-site"),
                inspection_id: inspection_id.clone(),
                occurred_at: ts(days_ago(3)),
            },
            partner,
        ))
        .await?;
    inspections
        .record_on_site_ended(request(
            complaints::RecordOnSiteEndedRequest {
                request_id: key("ended"),
                inspection_id: inspection_id.clone(),
                last_onsite_date: date(days_ago(2)),
                occurred_at: ts(days_ago(2)),
            },
            partner,
        ))
        .await?;
    inspections
        .issue_draft_report(request(
            complaints::IssueDraftReportRequest {
                request_id: key("draft"),
                inspection_id: inspection_id.clone(),
                doc_ref: format!("doc:bench/draft-{n}"),
                occurred_at: ts(now - SignedDuration::from_mins(90)),
            },
            partner,
        ))
        .await?;
    let submitted = ComplaintsClient::new(channel.clone())
        .submit_formal_complaint(request(
            complaints::SubmitFormalComplaintRequest {
                request_id: key("submit"),
                submission: Some(complaints::ComplaintSubmission {
                    inspection_id: inspection_id.clone(),
                    grounds: vec![complaints::ComplaintGround::EvidenceNotConsidered as i32],
                    complainant: Some(complaints::ComplainantContact {
                        name: format!("Bench Head {n}"),
                        role: "headteacher".to_owned(),
                        email: format!("head-{n}@school.example"),
                        phone: String::new(),
                    }),
                    narrative: "The inspectors did not consider the evidence we offered."
                        .to_owned(),
                    doc_refs: vec![format!("doc:bench/complaint-{n}")],
                    provider_id: PROVIDER.to_owned(),
                }),
                route_override_reason_ref: String::new(),
            },
            &callers.provider,
        ))
        .await?
        .into_inner();
    Ok(submitted.complaint_id.parse()?)
}

#[cfg(test)]
mod tests {
    use super::Picker;

    #[test]
    fn the_picker_hands_out_every_id_once_per_pass() {
        for len in [1, 7, 1_000, 2_000, 3_001] {
            let picker = Picker::new(len);
            let mut seen = vec![false; len];
            for _ in 0..len {
                seen[picker.next()] = true;
            }
            assert!(seen.iter().all(|s| *s), "len {len}");
        }
    }
}
