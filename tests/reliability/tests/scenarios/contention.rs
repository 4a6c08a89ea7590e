//! S10: version contention. Beside a light load, 32 clients send the same transition to one
//! inspection at once, round after round: pause it, then resume it, alternately. Each round
//! has exactly one `ok`; every other client is refused with `FAILED_PRECONDITION` (the pause or
//! resume had already happened) or `ABORTED` (its retries all lost the race); the receipts'
//! versions are distinct and the stream's versions run 1..n with exactly the winners' events.
//! Every call is in the history, so I1–I8 cover them too.

use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use platform::grpc::Role;
use proto::complaints::v1 as complaints;
use proto::complaints::v1::inspections_client::InspectionsClient;
use redress_reliability::cluster::{Cluster, Service};
use redress_reliability::history::{Attempt, Entry, History, Intent, Outcome, definite};
use redress_reliability::workload::{HOT_SCOPE, Load};
use tokio::sync::Mutex;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use uuid::Uuid;

use crate::run::{cluster, long, scenario};

const CLIENTS: usize = 32;
const RPC_PAUSE: &str = "/redress.complaints.v1.Inspections/PauseInspection";
const RPC_RESUME: &str = "/redress.complaints.v1.Inspections/ResumeInspection";

/// One command as the contending clients send it: a single attempt (a lost race is a definite
/// answer), recorded in the history like the workload's.
struct Sender {
    client: InspectionsClient<Channel>,
    history: Arc<History>,
    subject: String,
    token: MetadataValue<tonic::metadata::Ascii>,
}

impl Sender {
    async fn send<Req: prost::Message + Clone + 'static>(
        &self,
        number: usize,
        rpc: &str,
        key: String,
        request: Req,
    ) -> Entry
    where
        InspectionsClient<Channel>: Send<Req>,
    {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        request.encode_to_vec().hash(&mut hasher);
        let mut message = tonic::Request::new(request);
        message.set_timeout(Duration::from_secs(5));
        message
            .metadata_mut()
            .insert("authorization", self.token.clone());
        let start_ms = self.history.now_ms();
        let answer = self.client.clone().call(message).await;
        let end_ms = self.history.now_ms();
        let (code, outcome, receipt) = match answer {
            Ok(receipt) => ("OK".to_owned(), Outcome::Ok, Some(receipt)),
            Err(status) if definite(status.code()) => {
                (format!("{:?}", status.code()), Outcome::Fail, None)
            }
            Err(status) => (format!("{:?}", status.code()), Outcome::Unknown, None),
        };
        let receipt = receipt.unwrap_or_default();
        let ok = outcome == Outcome::Ok;
        let entry = Entry {
            client: 100 + number,
            idempotency_key: key,
            rpc: rpc.to_owned(),
            schema: Service::Complaints.schema().to_owned(),
            scope: self.subject.clone(),
            request_hash: format!("{:016x}", hasher.finish()),
            intent: Intent::Accept,
            start_ms,
            end_ms,
            outcome,
            code: code.clone(),
            attempts: vec![Attempt {
                start_ms,
                end_ms,
                code,
                event_ids: receipt.event_ids.clone(),
            }],
            stream_id: ok.then(|| receipt.stream_id.clone()),
            version: ok.then_some(receipt.version),
            returned_event_ids: receipt.event_ids,
            created_id: None,
        };
        self.history.record(&entry).unwrap();
        entry
    }
}

/// The inspection commands S10 sends, answered with their receipt.
trait Send<Req> {
    fn call(
        self,
        request: tonic::Request<Req>,
    ) -> impl Future<Output = Result<proto::common::v1::CommandReceipt, tonic::Status>> + std::marker::Send;
}

macro_rules! sends {
    ($($req:ty => $method:ident),* $(,)?) => {$(
        impl Send<$req> for InspectionsClient<Channel> {
            async fn call(
                mut self,
                request: tonic::Request<$req>,
            ) -> Result<proto::common::v1::CommandReceipt, tonic::Status> {
                Ok(self.$method(request).await?.into_inner().receipt.unwrap_or_default())
            }
        }
    )*};
}

sends!(
    complaints::RecordInspectionNotifiedRequest => record_inspection_notified,
    complaints::RecordOnSiteStartedRequest => record_on_site_started,
    complaints::PauseInspectionRequest => pause_inspection,
    complaints::ResumeInspectionRequest => resume_inspection,
);

fn ts(at: Timestamp) -> Option<prost_types::Timestamp> {
    Some(platform::aggregate::timestamp(at))
}

async fn sender(cluster: &Cluster) -> Sender {
    let addr = cluster.grpc_addr(Service::Complaints).await.unwrap();
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    // A subject of the hot set: I3 then counts this stream's events against its records instead
    // of expecting each event type once per stream.
    let subject = format!("{HOT_SCOPE}inspection-system-s10");
    let token = cluster
        .token(&subject, Role::InspectionSystem, None)
        .unwrap();
    Sender {
        client: InspectionsClient::new(channel),
        history: Arc::clone(cluster.history()),
        subject,
        token: MetadataValue::try_from(token.as_str()).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s10_thirty_two_clients_on_one_aggregate_get_one_ok_per_transition() {
    let cluster = cluster().await;
    let load = Load {
        clients: 4,
        duration: Duration::from_secs(if long() { 60 } else { 20 }),
    };
    let rounds = if long() { 40 } else { 12 };
    let run_id = platform::testing::unique_prefix();
    let rounds_seen = Arc::new(Mutex::new(Vec::<Vec<Entry>>::new()));
    let inspection_id = Uuid::new_v4().to_string();

    let seen = Arc::clone(&rounds_seen);
    let id = inspection_id.clone();
    let run = scenario("S10", cluster, load, async move |cluster, _end| {
        let sender = Arc::new(sender(cluster).await);
        let now = Timestamp::now();
        let on_site = now - SignedDuration::from_hours(30);
        let notified = sender
            .send(
                0,
                "/redress.complaints.v1.Inspections/RecordInspectionNotified",
                format!("{run_id}-s10-notify"),
                complaints::RecordInspectionNotifiedRequest {
                    request_id: format!("{run_id}-s10-notify"),
                    inspection_id: id.clone(),
                    provider_id: format!("URN-{}-S10", run_id.to_uppercase()),
                    remit: complaints::Remit::Schools as i32,
                    lead_inspector_ref: "staff:lead-s10".into(),
                    team_inspector_refs: vec![],
                    on_site_starts_on: platform::calendar::local_date(on_site).to_string(),
                    occurred_at: ts(now - SignedDuration::from_hours(24 * 6)),
                },
            )
            .await;
        assert_eq!(notified.outcome, Outcome::Ok, "{notified:?}");
        let started = sender
            .send(
                0,
                "/redress.complaints.v1.Inspections/RecordOnSiteStarted",
                format!("{run_id}-s10-on-site"),
                complaints::RecordOnSiteStartedRequest {
                    request_id: format!("{run_id}-s10-on-site"),
                    inspection_id: id.clone(),
                    occurred_at: ts(on_site),
                },
            )
            .await;
        assert_eq!(started.outcome, Outcome::Ok, "{started:?}");
        for round in 0..rounds {
            // Each round a minute later, within the day on site, so no pause outlives its limit.
            let at = on_site + SignedDuration::from_mins(10 + i64::from(round));
            let mut clients = tokio::task::JoinSet::new();
            for number in 0..CLIENTS {
                let (sender, id) = (Arc::clone(&sender), id.clone());
                let key = format!("{run_id}-s10-{round}-{number}");
                clients.spawn(async move {
                    if round % 2 == 0 {
                        let request = complaints::PauseInspectionRequest {
                            request_id: key.clone(),
                            inspection_id: id,
                            initiated_by: complaints::PauseInitiator::LeadInspector as i32,
                            reason: complaints::PauseReason::Other as i32,
                            duty_desk: complaints::DutyDesk::Regional as i32,
                            consultation_ref: format!("desk:s10-{round}"),
                            consulted_at: ts(at - SignedDuration::from_secs(30)),
                            planned_resume_on: String::new(),
                            occurred_at: ts(at),
                        };
                        sender.send(number, RPC_PAUSE, key, request).await
                    } else {
                        let request = complaints::ResumeInspectionRequest {
                            request_id: key.clone(),
                            inspection_id: id,
                            occurred_at: ts(at),
                        };
                        sender.send(number, RPC_RESUME, key, request).await
                    }
                });
            }
            let entries = clients.join_all().await;
            seen.lock().await.push(entries);
        }
    })
    .await;

    let rounds_seen = rounds_seen.lock().await;
    let mut versions = Vec::new();
    let mut winner_events = 0;
    for (round, entries) in rounds_seen.iter().enumerate() {
        let ok: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.outcome == Outcome::Ok)
            .collect();
        assert_eq!(ok.len(), 1, "round {round}: {} oks", ok.len());
        versions.push(ok[0].version.unwrap());
        winner_events += ok[0].returned_event_ids.len() as u64;
        for entry in entries.iter().filter(|e| e.outcome != Outcome::Ok) {
            assert!(
                matches!(entry.code.as_str(), "FailedPrecondition" | "Aborted"),
                "round {round}: {} answered {}",
                entry.idempotency_key,
                entry.code
            );
        }
    }
    let mut sorted = versions.clone();
    sorted.dedup();
    assert_eq!(
        sorted, versions,
        "the winners' versions are not increasing: {versions:?}"
    );
    // Notified and on site: 2 events; then exactly the winners' events, no more.
    let stream_version = run
        .history
        .iter()
        .filter(|e| e.outcome == Outcome::Ok && e.stream_id.as_deref() == Some(&inspection_id))
        .filter_map(|e| e.version)
        .max()
        .unwrap();
    assert_eq!(versions.last().copied(), Some(stream_version));
    assert_eq!(stream_version, 2 + winner_events, "versions {versions:?}");
    println!(
        "{}",
        serde_json::json!({
            "scenario": "S10",
            "rounds": rounds_seen.len(),
            "clients": CLIENTS,
            "versions": versions,
            "refused": rounds_seen.iter().flatten().filter(|e| e.outcome == Outcome::Fail).count(),
        })
    );
}
