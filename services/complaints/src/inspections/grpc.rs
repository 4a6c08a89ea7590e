//! `InspectionsService`: the `redress.complaints.v1.Inspections` gRPC service.
//!
//! Every handler reads in three steps: parse the request (every bad field is reported at once as
//! `INVALID_ARGUMENT`), execute the command or query, reply. Failures become a `Status` only in
//! `reply`. The handlers live by family:
//! * `visits`: notification, deferral, on-site work, pauses (`case` holds what they share).
//! * `reports`: draft and final reports, publication, its delay, the wellbeing contact.
//! * `appeals`: tribunal appeals lodged and concluded.
//! * `concerns`: raising a concern (refusals go to the intake log).
//! * `handling`: taking, resolving, leaving unresolved, withdrawing, flagging a risk.
//! * `queries`: the read models, with read-your-writes through `ReadConsistency`.
//! * `parse`: the request checks the families share.

use std::sync::Arc;

use platform::event_store::CommandKey;
use platform::grpc::Principal;
use prost::Message;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{ReadModels, SERVICE};
use crate::app::Context;
use crate::domain::v1;
use crate::domain::v1::inspections_server::Inspections;

mod appeals;
mod case;
mod concerns;
mod handling;
mod parse;
mod queries;
mod reply;
mod reports;
mod visits;

/// The Inspections service.
#[derive(Debug)]
pub struct InspectionsService {
    context: Arc<Context>,
    read_models: Arc<ReadModels>,
}

impl InspectionsService {
    /// A service over `context`, reading `read_models`.
    pub fn new(context: Arc<Context>, read_models: Arc<ReadModels>) -> Self {
        InspectionsService {
            context,
            read_models,
        }
    }
}

/// The authenticated caller of a command, with the idempotency key of its request.
struct Call {
    principal: Principal,
    key: CommandKey,
    correlation_id: Uuid,
}

impl Call {
    /// Reads the caller and builds the key for `request` sent to `rpc`. `request_id` has already
    /// been checked by the parse step, so the key cannot be refused here.
    fn new<T: Message>(request: &Request<T>, rpc: &str, request_id: &str) -> Result<Call, Status> {
        let principal = platform::grpc::principal(request)?.clone();
        let key = CommandKey::new(
            &principal.subject,
            request_id,
            &format!("{SERVICE}{rpc}"),
            &request.get_ref().encode_to_vec(),
        )
        .map_err(reply::internal)?;
        Ok(Call {
            principal,
            key,
            correlation_id: Uuid::now_v7(),
        })
    }
}

type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Inspections for InspectionsService {
    async fn record_inspection_notified(
        &self,
        request: Request<v1::RecordInspectionNotifiedRequest>,
    ) -> Answer<v1::RecordInspectionNotifiedResponse> {
        visits::record_inspection_notified(self, request).await
    }

    async fn record_deferral(
        &self,
        request: Request<v1::RecordDeferralRequest>,
    ) -> Answer<v1::RecordDeferralResponse> {
        visits::record_deferral(self, request).await
    }

    async fn record_on_site_started(
        &self,
        request: Request<v1::RecordOnSiteStartedRequest>,
    ) -> Answer<v1::RecordOnSiteStartedResponse> {
        visits::record_on_site_started(self, request).await
    }

    async fn pause_inspection(
        &self,
        request: Request<v1::PauseInspectionRequest>,
    ) -> Answer<v1::PauseInspectionResponse> {
        visits::pause_inspection(self, request).await
    }

    async fn resume_inspection(
        &self,
        request: Request<v1::ResumeInspectionRequest>,
    ) -> Answer<v1::ResumeInspectionResponse> {
        visits::resume_inspection(self, request).await
    }

    async fn record_on_site_ended(
        &self,
        request: Request<v1::RecordOnSiteEndedRequest>,
    ) -> Answer<v1::RecordOnSiteEndedResponse> {
        visits::record_on_site_ended(self, request).await
    }

    async fn issue_draft_report(
        &self,
        request: Request<v1::IssueDraftReportRequest>,
    ) -> Answer<v1::IssueDraftReportResponse> {
        reports::issue_draft_report(self, request).await
    }

    async fn record_factual_accuracy_points(
        &self,
        request: Request<v1::RecordFactualAccuracyPointsRequest>,
    ) -> Answer<v1::RecordFactualAccuracyPointsResponse> {
        reports::record_factual_accuracy_points(self, request).await
    }

    async fn issue_final_report(
        &self,
        request: Request<v1::IssueFinalReportRequest>,
    ) -> Answer<v1::IssueFinalReportResponse> {
        reports::issue_final_report(self, request).await
    }

    async fn publish_report(
        &self,
        request: Request<v1::PublishReportRequest>,
    ) -> Answer<v1::PublishReportResponse> {
        reports::publish_report(self, request).await
    }

    async fn record_publication_delay_explanation(
        &self,
        request: Request<v1::RecordPublicationDelayExplanationRequest>,
    ) -> Answer<v1::RecordPublicationDelayExplanationResponse> {
        reports::record_publication_delay_explanation(self, request).await
    }

    async fn record_wellbeing_contact(
        &self,
        request: Request<v1::RecordWellbeingContactRequest>,
    ) -> Answer<v1::RecordWellbeingContactResponse> {
        reports::record_wellbeing_contact(self, request).await
    }

    async fn record_tribunal_appeal_lodged(
        &self,
        request: Request<v1::RecordTribunalAppealLodgedRequest>,
    ) -> Answer<v1::RecordTribunalAppealLodgedResponse> {
        appeals::record_tribunal_appeal_lodged(self, request).await
    }

    async fn record_tribunal_appeal_concluded(
        &self,
        request: Request<v1::RecordTribunalAppealConcludedRequest>,
    ) -> Answer<v1::RecordTribunalAppealConcludedResponse> {
        appeals::record_tribunal_appeal_concluded(self, request).await
    }

    async fn raise_concern(
        &self,
        request: Request<v1::RaiseConcernRequest>,
    ) -> Answer<v1::RaiseConcernResponse> {
        concerns::raise_concern(self, request).await
    }

    async fn assign_concern(
        &self,
        request: Request<v1::AssignConcernRequest>,
    ) -> Answer<v1::AssignConcernResponse> {
        handling::assign_concern(self, request).await
    }

    async fn resolve_concern(
        &self,
        request: Request<v1::ResolveConcernRequest>,
    ) -> Answer<v1::ResolveConcernResponse> {
        handling::resolve_concern(self, request).await
    }

    async fn leave_concern_unresolved(
        &self,
        request: Request<v1::LeaveConcernUnresolvedRequest>,
    ) -> Answer<v1::LeaveConcernUnresolvedResponse> {
        handling::leave_concern_unresolved(self, request).await
    }

    async fn withdraw_concern(
        &self,
        request: Request<v1::WithdrawConcernRequest>,
    ) -> Answer<v1::WithdrawConcernResponse> {
        handling::withdraw_concern(self, request).await
    }

    async fn flag_wellbeing_risk(
        &self,
        request: Request<v1::FlagWellbeingRiskRequest>,
    ) -> Answer<v1::FlagWellbeingRiskResponse> {
        handling::flag_wellbeing_risk(self, request).await
    }

    async fn get_inspection_case(
        &self,
        request: Request<v1::GetInspectionCaseRequest>,
    ) -> Answer<v1::InspectionCaseView> {
        queries::get_inspection_case(self, request).await
    }

    async fn get_concern(
        &self,
        request: Request<v1::GetConcernRequest>,
    ) -> Answer<v1::ConcernView> {
        queries::get_concern(self, request).await
    }

    async fn get_day_after_route(
        &self,
        request: Request<v1::GetDayAfterRouteRequest>,
    ) -> Answer<v1::DayAfterRouteView> {
        queries::get_day_after_route(self, request).await
    }

    async fn get_publication_gate(
        &self,
        request: Request<v1::GetPublicationGateRequest>,
    ) -> Answer<v1::PublicationGateView> {
        queries::get_publication_gate(self, request).await
    }

    async fn list_pauses(
        &self,
        request: Request<v1::ListPausesRequest>,
    ) -> Answer<v1::ListPausesResponse> {
        queries::list_pauses(self, request).await
    }
}
