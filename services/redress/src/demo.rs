//! `redress up --demo`: a realistic sample loaded through the public gRPC APIs, as partner
//! systems would send it. Three inspections, dated relative to today:
//!
//! * **A** — a concern raised on the helpline during the visit and resolved by an unconnected
//!   senior inspector; a formal complaint on the draft, answered; escalated to the independent
//!   body, accepted, adjudicated with two recommendations: one accepted, one declined with a
//!   public reason.
//! * **B** — paused on site after a duty-desk consultation (it stands in the pause register).
//! * **C** — a formal complaint under investigation holding publication; an incident relating
//!   to it reported and a learning review commissioned with HMCI's and the Chair's approval and
//!   an independent reviewer appointed.
//!
//! Every id and request id is derived from a fixed name, so loading it again changes nothing.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use platform::grpc::{Role, TokenIssuer};
use proto::complaints::v1 as complaints;
use proto::complaints::v1::complaints_client::ComplaintsClient;
use proto::complaints::v1::inspections_client::InspectionsClient;
use proto::escalation::v1 as escalation;
use proto::escalation::v1::escalations_client::EscalationsClient;
use proto::learning_reviews::v1 as learning;
use proto::learning_reviews::v1::learning_reviews_client::LearningReviewsClient;
use tonic::transport::Channel;
use uuid::Uuid;

/// The demo's providers.
pub const PROVIDER_A: &str = "URN-DEMO-100001";
pub const PROVIDER_B: &str = "URN-DEMO-100002";
pub const PROVIDER_C: &str = "URN-DEMO-100003";

/// A stable id for a demo name: the same on every load.
pub fn id(name: &str) -> Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("redress-demo:{name}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// What the demo created, for the instructions printed after it (and `<data dir>/demo.json`).
#[derive(Debug, serde::Serialize)]
pub struct Loaded {
    pub inspections: [Uuid; 3],
    pub complaint_a: String,
    pub complaint_c: String,
    pub escalation: String,
    pub review: String,
}

/// Signs the tokens of each demo actor.
struct Actors {
    issuer: TokenIssuer,
}

impl Actors {
    fn token(&self, subject: &str, role: Role, provider: Option<&str>) -> anyhow::Result<String> {
        Ok(format!(
            "Bearer {}",
            self.issuer
                .issue(subject, role, provider, Duration::from_secs(600))?
        ))
    }
}

fn request<T>(message: T, token: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", token.parse()?);
    request.set_timeout(Duration::from_secs(10));
    Ok(request)
}

fn ts(at: Timestamp) -> Option<prost_types::Timestamp> {
    Some(platform::aggregate::timestamp(at))
}

fn london_date(at: Timestamp) -> String {
    platform::calendar::local_date(at).to_string()
}

/// The gRPC clients of the demo.
struct Clients {
    inspections: InspectionsClient<Channel>,
    complaints: ComplaintsClient<Channel>,
    escalations: EscalationsClient<Channel>,
    learning: LearningReviewsClient<Channel>,
}

/// Loads the sample through the APIs at `channel`, signing as `issuer`.
///
/// # Errors
/// When a call fails (it names the step).
pub async fn load(
    channel: Channel,
    issuer: TokenIssuer,
    database_url: &str,
) -> anyhow::Result<Loaded> {
    let actors = Actors { issuer };
    let mut c = Clients {
        inspections: InspectionsClient::new(channel.clone()),
        complaints: ComplaintsClient::new(channel.clone()),
        escalations: EscalationsClient::new(channel.clone()),
        learning: LearningReviewsClient::new(channel),
    };
    let now = anchor(database_url).await?;
    let days_ago = |d: i64| now - SignedDuration::from_hours(24 * d);
    let partner = actors.token("partner:inspection-system", Role::InspectionSystem, None)?;
    let inspections = [id("inspection-a"), id("inspection-b"), id("inspection-c")];
    let providers = [PROVIDER_A, PROVIDER_B, PROVIDER_C];
    for (n, (inspection, provider)) in inspections.iter().zip(providers).enumerate() {
        let key = |step: &str| format!("demo-{step}-{n}");
        c.inspections
            .record_inspection_notified(request(
                complaints::RecordInspectionNotifiedRequest {
                    request_id: key("notify"),
                    inspection_id: inspection.to_string(),
                    provider_id: provider.to_owned(),
                    remit: complaints::Remit::Schools as i32,
                    lead_inspector_ref: format!("staff:lead-{n}"),
                    team_inspector_refs: vec![format!("staff:team-{n}")],
                    on_site_starts_on: london_date(days_ago(3)),
                    occurred_at: ts(now - NOTIFIED_BEFORE),
                },
                &partner,
            )?)
            .await?;
        c.inspections
            .record_on_site_started(request(
                complaints::RecordOnSiteStartedRequest {
                    request_id: key("on-site"),
                    inspection_id: inspection.to_string(),
                    occurred_at: ts(days_ago(3)),
                },
                &partner,
            )?)
            .await?;
    }
    let [a, b, cc] = inspections;
    concern_on_a(&mut c, &actors, a).await?;
    pause_b(&mut c, &partner, b, days_ago(3)).await?;
    for (n, inspection) in [(0, a), (2, cc)] {
        draft(&mut c, &partner, n, inspection, days_ago(2), now).await?;
    }
    let complaint_a = complaint(&mut c, &actors, "a", a, PROVIDER_A).await?;
    let complaint_c = complaint(&mut c, &actors, "c", cc, PROVIDER_C).await?;
    let decision = actors.token(
        "staff:decision-maker-1",
        Role::ComplaintsDecisionMaker,
        None,
    )?;
    c.complaints
        .issue_complaint_response(request(
            complaints::IssueComplaintResponseRequest {
                request_id: "demo-respond-a".into(),
                complaint_id: complaint_a.clone(),
                outcome: complaints::ComplaintOutcome::NotUpheld as i32,
                remedies: vec![],
                response_doc_ref: "doc:demo/response-a".into(),
            },
            &decision,
        )?)
        .await?;
    copied(database_url, &complaint_a).await?;
    let escalation = escalate(&mut c, &actors, &complaint_a).await?;
    let review = learning_review(&mut c, &actors, cc).await?;
    Ok(Loaded {
        inspections,
        complaint_a,
        complaint_c,
        escalation,
        review,
    })
}

async fn concern_on_a(c: &mut Clients, actors: &Actors, inspection: Uuid) -> anyhow::Result<()> {
    let head = actors.token(
        "head:demo-a",
        Role::ProviderRepresentative,
        Some(PROVIDER_A),
    )?;
    let raised = c
        .inspections
        .raise_concern(request(
            complaints::RaiseConcernRequest {
                request_id: "demo-concern-a".into(),
                inspection_id: inspection.to_string(),
                channel: complaints::ConcernChannel::DuringInspectionHelpline as i32,
                topic: complaints::ConcernTopic::InspectorConduct as i32,
                detail: "The team did not look at the safeguarding log we offered.".into(),
                accompanied: true,
            },
            &head,
        )?)
        .await?
        .into_inner();
    let senior = actors.token("staff:senior-inspector-9", Role::SeniorInspector, None)?;
    c.inspections
        .assign_concern(request(
            complaints::AssignConcernRequest {
                request_id: "demo-concern-a-assign".into(),
                concern_id: raised.concern_id.clone(),
            },
            &senior,
        )?)
        .await?;
    c.inspections
        .resolve_concern(request(
            complaints::ResolveConcernRequest {
                request_id: "demo-concern-a-resolve".into(),
                concern_id: raised.concern_id,
                summary: "The lead inspector reviewed the log with the head on the second day."
                    .into(),
            },
            &senior,
        )?)
        .await?;
    Ok(())
}

async fn pause_b(
    c: &mut Clients,
    partner: &str,
    inspection: Uuid,
    on_site: Timestamp,
) -> anyhow::Result<()> {
    let at = on_site + SignedDuration::from_hours(4);
    c.inspections
        .pause_inspection(request(
            complaints::PauseInspectionRequest {
                request_id: "demo-pause-b".into(),
                inspection_id: inspection.to_string(),
                initiated_by: complaints::PauseInitiator::LeadInspector as i32,
                reason: complaints::PauseReason::LeaderWellbeing as i32,
                duty_desk: complaints::DutyDesk::NationalSafeguardingAndWellbeing as i32,
                consultation_ref: "duty-desk:demo-b".into(),
                consulted_at: ts(at - SignedDuration::from_mins(20)),
                planned_resume_on: String::new(),
                occurred_at: ts(at),
            },
            partner,
        )?)
        .await?;
    Ok(())
}

async fn draft(
    c: &mut Clients,
    partner: &str,
    n: usize,
    inspection: Uuid,
    last_on_site: Timestamp,
    now: Timestamp,
) -> anyhow::Result<()> {
    c.inspections
        .record_on_site_ended(request(
            complaints::RecordOnSiteEndedRequest {
                request_id: format!("demo-ended-{n}"),
                inspection_id: inspection.to_string(),
                last_onsite_date: london_date(last_on_site),
                occurred_at: ts(last_on_site),
            },
            partner,
        )?)
        .await?;
    c.inspections
        .issue_draft_report(request(
            complaints::IssueDraftReportRequest {
                request_id: format!("demo-draft-{n}"),
                inspection_id: inspection.to_string(),
                doc_ref: format!("doc:demo/draft-{n}"),
                occurred_at: ts(now - SignedDuration::from_mins(90)),
            },
            partner,
        )?)
        .await?;
    Ok(())
}

/// A complaint submitted, acknowledged and under investigation; returns its id.
async fn complaint(
    c: &mut Clients,
    actors: &Actors,
    name: &str,
    inspection: Uuid,
    provider: &str,
) -> anyhow::Result<String> {
    let head = actors.token(
        &format!("head:demo-{name}"),
        Role::ProviderRepresentative,
        Some(provider),
    )?;
    let submitted = c
        .complaints
        .submit_formal_complaint(request(
            complaints::SubmitFormalComplaintRequest {
                request_id: format!("demo-submit-{name}"),
                submission: Some(complaints::ComplaintSubmission {
                    inspection_id: inspection.to_string(),
                    grounds: vec![
                        complaints::ComplaintGround::EvidenceNotConsidered as i32,
                        complaints::ComplaintGround::InspectorConduct as i32,
                    ],
                    complainant: Some(complaints::ComplainantContact {
                        name: format!("Demo Head {}", name.to_uppercase()),
                        role: "headteacher".into(),
                        email: format!("head-{name}@school.example"),
                        phone: String::new(),
                    }),
                    narrative: "The inspectors did not consider the evidence we offered, and one \
                                inspector was dismissive in the final feedback meeting."
                        .into(),
                    doc_refs: vec![format!("doc:demo/complaint-{name}")],
                    provider_id: provider.to_owned(),
                }),
                route_override_reason_ref: String::new(),
            },
            &head,
        )?)
        .await?
        .into_inner();
    let investigator = actors.token("staff:investigator-4", Role::ComplaintsInvestigator, None)?;
    c.complaints
        .acknowledge_complaint(request(
            complaints::AcknowledgeComplaintRequest {
                request_id: format!("demo-ack-{name}"),
                complaint_id: submitted.complaint_id.clone(),
            },
            &investigator,
        )?)
        .await?;
    c.complaints
        .assign_investigator(request(
            complaints::AssignInvestigatorRequest {
                request_id: format!("demo-assign-{name}"),
                complaint_id: submitted.complaint_id.clone(),
            },
            &investigator,
        )?)
        .await?;
    Ok(submitted.complaint_id)
}

/// How long before the demo's "now" inspection A was notified.
const NOTIFIED_BEFORE: SignedDuration = SignedDuration::from_hours(24 * 6);

/// The demo's "now": the moment of its first load, read back from inspection A's notification
/// when it was loaded before (so every request is sent again exactly as it was and answers from
/// its idempotency record), otherwise the present.
async fn anchor(database_url: &str) -> anyhow::Result<Timestamp> {
    use prost::Message as _;
    let pool = platform::pg::connect(database_url, "complaints", 1).await?;
    let payload: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT payload FROM events WHERE stream_id = $1 AND version = 1")
            .bind(id("inspection-a"))
            .fetch_optional(&pool)
            .await?;
    pool.close().await;
    Ok(match payload {
        Some(payload) => {
            let notified = complaints::InspectionNotified::decode(payload.as_slice())?;
            platform::aggregate::instant(notified.notified_at.as_ref()) + NOTIFIED_BEFORE
        }
        None => Timestamp::now(),
    })
}

/// Waits until the escalation context has copied the complaint's response from the complaints
/// stream (normally milliseconds): a request before that is refused, and the refusal recorded.
async fn copied(database_url: &str, complaint_id: &str) -> anyhow::Result<()> {
    let pool = platform::pg::connect(database_url, "escalation", 1).await?;
    let complaint: Uuid = complaint_id.parse()?;
    for _ in 0..300 {
        let copied: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT FROM events WHERE stream_id = $1
                 AND event_type = 'redress.escalation.v1.ComplaintResponseRecorded')",
        )
        .bind(complaint)
        .fetch_one(&pool)
        .await?;
        if copied {
            pool.close().await;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the escalation context did not copy the complaint's response within 30 s")
}

/// Escalates the answered complaint and takes it to the body's findings and Ofsted's
/// decisions; returns the escalation id.
async fn escalate(c: &mut Clients, actors: &Actors, complaint_id: &str) -> anyhow::Result<String> {
    let head = actors.token(
        "head:demo-a",
        Role::ProviderRepresentative,
        Some(PROVIDER_A),
    )?;
    let requested = c
        .escalations
        .request_escalation(request(
            escalation::RequestEscalationRequest {
                request_id: "demo-escalate-a".into(),
                complaint_id: complaint_id.to_owned(),
                grounds: vec![
                    escalation::Ground::FailureToFollowProcedures as i32,
                    escalation::Ground::Discourtesy as i32,
                ],
                out_of_remit_asks: vec![escalation::OutOfRemitAsk::OverturnJudgement as i32],
            },
            &head,
        )?)
        .await?
        .into_inner();
    let id = requested.escalation_id;
    let body = actors.token("icaso:demo-desk", Role::IndependentBody, None)?;
    c.escalations
        .accept_referral(request(
            escalation::AcceptReferralRequest {
                request_id: "demo-accept-a".into(),
                escalation_id: id.clone(),
            },
            &body,
        )?)
        .await?;
    c.escalations
        .appoint_adjudicator(request(
            escalation::AppointAdjudicatorRequest {
                request_id: "demo-appoint-a".into(),
                escalation_id: id.clone(),
                adjudicator_ref: "icaso:adjudicator-demo".into(),
            },
            &body,
        )?)
        .await?;
    let adjudicator = actors.token("icaso:adjudicator-demo", Role::Adjudicator, None)?;
    c.escalations
        .issue_findings(request(
            escalation::IssueFindingsRequest {
                request_id: "demo-findings-a".into(),
                escalation_id: id.clone(),
                findings_ref: "icaso:demo/findings".into(),
                upheld_grounds: vec![escalation::Ground::FailureToFollowProcedures as i32],
                recommendations: vec![
                    escalation::FindingsRecommendation {
                        recommendation_id: "R1".into(),
                        kind: escalation::RecommendationKind::Apology as i32,
                        text_ref: "icaso:demo/r1".into(),
                    },
                    escalation::FindingsRecommendation {
                        recommendation_id: "R2".into(),
                        kind: escalation::RecommendationKind::ProcessImprovement as i32,
                        text_ref: "icaso:demo/r2".into(),
                    },
                ],
            },
            &adjudicator,
        )?)
        .await?;
    let owner = actors.token("staff:director-demo", Role::RecommendationOwner, None)?;
    c.escalations
        .accept_recommendation(request(
            escalation::AcceptRecommendationRequest {
                request_id: "demo-accept-r1".into(),
                escalation_id: id.clone(),
                recommendation_id: "R1".into(),
                planned_action_ref: "doc:demo/apology-letter".into(),
                due_on: String::new(),
            },
            &owner,
        )?)
        .await?;
    c.escalations
        .decline_recommendation(request(
            escalation::DeclineRecommendationRequest {
                request_id: "demo-decline-r2".into(),
                escalation_id: id.clone(),
                recommendation_id: "R2".into(),
                public_reason_ref: "doc:demo/reason-r2".into(),
                statement_ref: "https://www.gov.uk/demo/statement-r2".into(),
            },
            &owner,
        )?)
        .await?;
    Ok(id)
}

/// An incident relating to `inspection`, and a learning review commissioned and staffed;
/// returns the review id.
async fn learning_review(
    c: &mut Clients,
    actors: &Actors,
    inspection: Uuid,
) -> anyhow::Result<String> {
    let hmci = actors.token("staff:hmci", Role::Hmci, None)?;
    let chair = actors.token("board:chair", Role::BoardChair, None)?;
    let incident = c
        .learning
        .report_incident(request(
            learning::ReportIncidentRequest {
                request_id: "demo-incident".into(),
                source: learning::IncidentSource::ResponsibleBody as i32,
                category: learning::IncidentCategory::SeriousHarm as i32,
                related_inspection_ids: vec![inspection.to_string()],
                account_ref: "vault:demo/incident-account".into(),
            },
            &hmci,
        )?)
        .await?
        .into_inner()
        .incident_id;
    c.learning
        .assess_incident(request(
            learning::AssessIncidentRequest {
                request_id: "demo-assess".into(),
                incident_id: incident.clone(),
                assessment_ref: "doc:demo/assessment".into(),
            },
            &hmci,
        )?)
        .await?;
    let review = c
        .learning
        .propose_learning_review(request(
            learning::ProposeLearningReviewRequest {
                request_id: "demo-propose".into(),
                incident_id: incident,
                terms_of_reference_ref: "doc:demo/terms-of-reference".into(),
                scope_in: vec![
                    learning::ScopeItem::ResponseToIncident as i32,
                    learning::ScopeItem::CommunicationsAndEngagement as i32,
                    learning::ScopeItem::SupportToStaffAndInspectors as i32,
                ],
                scope_out: vec![learning::ScopeItem::InspectionJudgements as i32],
            },
            &hmci,
        )?)
        .await?
        .into_inner()
        .review_id;
    for (key, token) in [("demo-approve-hmci", &hmci), ("demo-approve-chair", &chair)] {
        c.learning
            .approve_commission(request(
                learning::ApproveCommissionRequest {
                    request_id: key.into(),
                    review_id: review.clone(),
                },
                token,
            )?)
            .await?;
    }
    c.learning
        .commission_learning_review(request(
            learning::CommissionLearningReviewRequest {
                request_id: "demo-commission".into(),
                review_id: review.clone(),
            },
            &hmci,
        )?)
        .await?;
    c.learning
        .appoint_reviewer(request(
            learning::AppointReviewerRequest {
                request_id: "demo-appoint-reviewer".into(),
                review_id: review.clone(),
                reviewer_ref: "reviewer:demo-independent".into(),
                independence_declaration_ref: "doc:demo/declaration".into(),
                prior_roles: vec![learning::PriorRole::FormerInspectorateEmployee as i32],
            },
            &chair,
        )?)
        .await?;
    Ok(review)
}
