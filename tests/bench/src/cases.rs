//! W8's cases, prepared outside the measured window: formal complaints brought through the
//! complaints service's public gRPC APIs, as the inspection system, Ofsted's staff and the
//! provider send them, to the point where the provider may escalate, and then waited for until
//! the escalation service has copied each complaint's response from `COMPLAINTS`.
//!
//! A case is eight commands, each with a fresh `request_id`: the inspection notified (six days
//! ago), on site (three days ago, for a day), the draft report (90 minutes ago), the formal
//! complaint submitted by the provider's representative, acknowledged, assigned to an
//! investigator, and answered (not upheld). Every case of a round belongs to one provider, so
//! one provider token serves the whole round, for the complaints and for the escalations.

use std::time::{Duration, Instant};

use futures_util::{StreamExt as _, TryStreamExt as _};
use jiff::{SignedDuration, Timestamp};
use platform::grpc::Role;
use platform::pg::Pool;
use proto::complaints::v1 as complaints;
use proto::complaints::v1::complaints_client::ComplaintsClient;
use proto::complaints::v1::inspections_client::InspectionsClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::report::log;
use crate::served::Served;

/// Cases prepared at once (each is eight commands one after another).
const IN_FLIGHT: usize = 32;
/// The longest the bench waits for escalation to copy the responses.
const COPY_TIMEOUT: Duration = Duration::from_secs(120);

/// The callers of the complaints API and their tokens.
#[derive(Clone, Debug)]
struct Callers {
    partner: MetadataValue<Ascii>,
    investigator: MetadataValue<Ascii>,
    decision_maker: MetadataValue<Ascii>,
    provider: MetadataValue<Ascii>,
}

/// The clients of one connection to the complaints service.
#[derive(Clone, Debug)]
struct Clients {
    inspections: InspectionsClient<Channel>,
    complaints: ComplaintsClient<Channel>,
}

/// A request with the caller's bearer token.
fn authorized<T>(message: T, bearer: &MetadataValue<Ascii>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", bearer.clone());
    request
}

fn request_id() -> String {
    Uuid::new_v4().to_string()
}

fn at(t: Timestamp) -> Option<prost_types::Timestamp> {
    Some(platform::aggregate::timestamp(t))
}

fn date(t: Timestamp) -> String {
    platform::calendar::local_date(t).to_string()
}

/// Prepares `n` answered complaints of `provider` through `served` (the complaints service),
/// [`IN_FLIGHT`] cases at a time; returns their ids in the order they were finished.
///
/// # Errors
/// The first command that fails.
pub(crate) async fn prepare(
    served: &Served,
    provider: &str,
    n: usize,
) -> anyhow::Result<Vec<Uuid>> {
    let channel = served.channel().await?;
    let clients = Clients {
        inspections: InspectionsClient::new(channel.clone()),
        complaints: ComplaintsClient::new(channel),
    };
    let callers = Callers {
        partner: served.bearer("bench:partner-system", Role::InspectionSystem)?,
        investigator: served.bearer("staff:investigator-1", Role::ComplaintsInvestigator)?,
        decision_maker: served.bearer("staff:decision-maker-1", Role::ComplaintsDecisionMaker)?,
        provider: served.bearer_for(
            "provider:head-1",
            Role::ProviderRepresentative,
            Some(provider),
        )?,
    };
    let now = Timestamp::now();
    let started = Instant::now();
    let ids: Vec<Uuid> = futures_util::stream::iter(0..n)
        .map(|_| case(&clients, &callers, provider, now))
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await?;
    log!(
        "w8: {n} complaints answered in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(ids)
}

/// One case, from the inspection notified to the complaint answered.
async fn case(
    clients: &Clients,
    callers: &Callers,
    provider: &str,
    now: Timestamp,
) -> anyhow::Result<Uuid> {
    let Clients {
        mut inspections,
        mut complaints,
    } = clients.clone();
    let inspection_id = Uuid::new_v4().to_string();
    let on_site = now - SignedDuration::from_hours(72);
    let last_on_site = on_site + SignedDuration::from_hours(24);
    inspections
        .record_inspection_notified(authorized(
            complaints::RecordInspectionNotifiedRequest {
                request_id: request_id(),
                inspection_id: inspection_id.clone(),
                provider_id: provider.to_owned(),
                remit: complaints::Remit::Schools as i32,
                lead_inspector_ref: "staff:lead-1".to_owned(),
                team_inspector_refs: vec!["staff:team-1".to_owned()],
                on_site_starts_on: date(on_site),
                occurred_at: at(now - SignedDuration::from_hours(6 * 24)),
            },
            &callers.partner,
        ))
        .await?;
    inspections
        .record_on_site_started(authorized(
            complaints::RecordOnSiteStartedRequest {
                request_id: request_id(),
                inspection_id: inspection_id.clone(),
                occurred_at: at(on_site),
            },
            &callers.partner,
        ))
        .await?;
    inspections
        .record_on_site_ended(authorized(
            complaints::RecordOnSiteEndedRequest {
                request_id: request_id(),
                inspection_id: inspection_id.clone(),
                last_onsite_date: date(last_on_site),
                occurred_at: at(last_on_site),
            },
            &callers.partner,
        ))
        .await?;
    inspections
        .issue_draft_report(authorized(
            complaints::IssueDraftReportRequest {
                request_id: request_id(),
                inspection_id: inspection_id.clone(),
                doc_ref: "doc:draft-1".to_owned(),
                occurred_at: at(now - SignedDuration::from_mins(90)),
            },
            &callers.partner,
        ))
        .await?;
    let complaint_id = complaints
        .submit_formal_complaint(authorized(
            complaints::SubmitFormalComplaintRequest {
                request_id: request_id(),
                submission: Some(complaints::ComplaintSubmission {
                    inspection_id,
                    grounds: vec![
                        complaints::ComplaintGround::EvidenceNotConsidered as i32,
                        complaints::ComplaintGround::InspectorConduct as i32,
                    ],
                    complainant: Some(complaints::ComplainantContact {
                        name: "A Headteacher".to_owned(),
                        role: "headteacher".to_owned(),
                        email: "head@school.example".to_owned(),
                        phone: String::new(),
                    }),
                    narrative: "The evidence we offered was not considered.".to_owned(),
                    doc_refs: vec!["doc:complaint-1".to_owned()],
                    provider_id: provider.to_owned(),
                }),
                route_override_reason_ref: String::new(),
            },
            &callers.provider,
        ))
        .await?
        .into_inner()
        .complaint_id;
    complaints
        .acknowledge_complaint(authorized(
            complaints::AcknowledgeComplaintRequest {
                request_id: request_id(),
                complaint_id: complaint_id.clone(),
            },
            &callers.investigator,
        ))
        .await?;
    complaints
        .assign_investigator(authorized(
            complaints::AssignInvestigatorRequest {
                request_id: request_id(),
                complaint_id: complaint_id.clone(),
            },
            &callers.investigator,
        ))
        .await?;
    complaints
        .issue_complaint_response(authorized(
            complaints::IssueComplaintResponseRequest {
                request_id: request_id(),
                complaint_id: complaint_id.clone(),
                outcome: complaints::ComplaintOutcome::NotUpheld as i32,
                remedies: Vec::new(),
                response_doc_ref: "doc:response-1".to_owned(),
            },
            &callers.decision_maker,
        ))
        .await?;
    Ok(complaint_id.parse()?)
}

/// Waits until the escalation service has copied the response of every complaint in `ids`
/// (its `ComplaintResponseRecorded` is in the escalation log); `escalation` is a pool on the
/// `escalation` schema.
///
/// # Errors
/// Database errors, or when the copies are not all there within [`COPY_TIMEOUT`].
pub(crate) async fn wait_copied(escalation: &Pool, ids: &[Uuid]) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let copied: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT stream_id) FROM events
             WHERE event_type = 'redress.escalation.v1.ComplaintResponseRecorded'
               AND stream_id = ANY($1)",
        )
        .bind(ids)
        .fetch_one(escalation)
        .await?;
        if usize::try_from(copied)? == ids.len() {
            log!(
                "w8: escalation copied {copied} responses {:.1} s after the last was issued",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < COPY_TIMEOUT,
            "escalation copied {copied} of {} responses within {COPY_TIMEOUT:?}",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
