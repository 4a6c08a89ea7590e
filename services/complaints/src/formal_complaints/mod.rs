//! The formal-complaints vertical: the `redress.complaints.v1.Complaints` gRPC service, its read
//! models, its timers, the policy that applies the escalation context's outcomes and the one that
//! flags the complaints a learning review's incident touches, over the pure `FormalComplaint`
//! aggregate.
//!
//! # Layout
//! * [`grpc`]: `ComplaintsService`, the handlers (parse, execute, reply) and the one error
//!   mapping. Submissions and the commands that end a complaint write the complaint and the
//!   inspection's publication hold in one unit of work.
//! * `read_models`: [`ReadModels`] — the `complaints` (with the sensitive-case flag),
//!   `complaint_deadlines` and `closed_complaint_samples` projections and their queries.
//! * `timers`: the `complaint_timers` projection and the handler that fires its timers: a
//!   response overdue, an escalation window lapsed.
//! * [`escalation_policy`]: the durable consumer of the escalation context's events — escalated,
//!   withdrawn, concluded, reopened for reconsideration.
//! * [`learning_reviews_policy`]: the durable consumer of the learning-reviews context's
//!   `IncidentReported` — the open complaints about the incident's inspections flagged sensitive.
//!
//! # Roles (domain research §5.2)
//! | RPC | Roles |
//! |---|---|
//! | SubmitFormalComplaint | provider_representative, responsible_body (own provider); complaints_decision_maker (on a provider's behalf, e.g. with a route override) |
//! | AcceptOutOfTimeComplaint | complaints_decision_maker |
//! | AcknowledgeComplaint | complaints_investigator, complaints_decision_maker |
//! | AddComplaintInformation, WithdrawComplaint | provider_representative, responsible_body (own provider) |
//! | AssignInvestigator, RecordInvestigationCall | complaints_investigator (never one on the inspection team) |
//! | ExtendResponseDeadline, IssueComplaintResponse, SelectForPeriodicReview | complaints_decision_maker |
//! | GetComplaint, ListComplaints, GetComplaintDeadlines | provider roles (own provider), complaints_investigator, complaints_decision_maker, auditor |
//! | ListClosedComplaintSamples | closed_complaints_panel_member, auditor |
//!
//! Every other role (operators included) is denied. A provider caller asking about another
//! provider's complaint gets `NOT_FOUND`.
//!
//! `CloseComplaint` is not an RPC: a complaint closes by its escalation-window timer, or by the
//! escalation policy when its escalation concludes.

pub mod escalation_policy;
pub mod grpc;
pub mod learning_reviews_policy;
pub(crate) mod read_models;
pub(crate) mod timers;

use std::sync::Arc;

use platform::grpc::{AccessPolicy, Role, ServerConfig};
use proto::complaints::v1::complaints_server::ComplaintsServer;
use uuid::Uuid;

pub use escalation_policy::EscalationPolicyConsumer;
pub use learning_reviews_policy::LearningReviewsPolicyConsumer;
pub use read_models::ReadModels;

use crate::app::Context;

const PROVIDER: [Role; 2] = [Role::ProviderRepresentative, Role::ResponsibleBody];
const READERS: [Role; 5] = [
    Role::ProviderRepresentative,
    Role::ResponsibleBody,
    Role::ComplaintsInvestigator,
    Role::ComplaintsDecisionMaker,
    Role::Auditor,
];

/// Adds an `allow` for every Complaints RPC to `policy` (deny by default otherwise).
pub fn access_policy(policy: AccessPolicy) -> AccessPolicy {
    let rpc = |name: &str| format!("/redress.complaints.v1.Complaints/{name}");
    let decision_maker = [Role::ComplaintsDecisionMaker];
    policy
        .allow(
            &rpc("SubmitFormalComplaint"),
            [
                Role::ProviderRepresentative,
                Role::ResponsibleBody,
                Role::ComplaintsDecisionMaker,
            ],
        )
        .allow(&rpc("AcceptOutOfTimeComplaint"), decision_maker)
        .allow(
            &rpc("AcknowledgeComplaint"),
            [Role::ComplaintsInvestigator, Role::ComplaintsDecisionMaker],
        )
        .allow(&rpc("AddComplaintInformation"), PROVIDER)
        .allow(&rpc("AssignInvestigator"), [Role::ComplaintsInvestigator])
        .allow(
            &rpc("RecordInvestigationCall"),
            [Role::ComplaintsInvestigator],
        )
        .allow(&rpc("ExtendResponseDeadline"), decision_maker)
        .allow(&rpc("IssueComplaintResponse"), decision_maker)
        .allow(&rpc("WithdrawComplaint"), PROVIDER)
        .allow(&rpc("SelectForPeriodicReview"), decision_maker)
        .allow(&rpc("GetComplaint"), READERS)
        .allow(&rpc("ListComplaints"), READERS)
        .allow(&rpc("GetComplaintDeadlines"), READERS)
        .allow(
            &rpc("ListClosedComplaintSamples"),
            [Role::ClosedComplaintsPanelMember, Role::Auditor],
        )
}

/// The Complaints gRPC server, with the configured message limits.
pub fn service(
    context: Arc<Context>,
    read_models: Arc<ReadModels>,
    config: &ServerConfig,
) -> ComplaintsServer<grpc::ComplaintsService> {
    platform::grpc::limited!(
        ComplaintsServer::new(grpc::ComplaintsService::new(context, read_models)),
        config
    )
}

/// The intake-log stream of an inspection's refused complaint submissions: one per inspection,
/// derived from its id so the refusals stay together without a lookup (the inspection's own
/// stream id belongs to its `InspectionCase`).
pub fn intake_stream_id(inspection_id: Uuid) -> Uuid {
    // Flips bits outside the version and variant fields, so the result is a different id of the
    // same shape; the mapping is its own inverse and never collides with another inspection's.
    const INTAKE: u128 = 0x0000_0000_0000_0000_0000_a7a6_e109_c5d1;
    Uuid::from_u128(inspection_id.as_u128() ^ INTAKE)
}
