//! The query handlers: parse, wait for the asked position (read-your-writes), read the read
//! model, reply. Provider callers see only their own provider's escalations; the independent
//! body sees the minimised queue, and an adjudicator only the cases it is appointed to.

use platform::grpc::parse::{Consistency, paged};
use platform::grpc::{Role, principal};
use platform::pg::PgTimestamp;
use tonic::{Request, Response, Status};

use super::{Error, EscalationsService, parse};
use crate::domain::v1;
use crate::read_models::{EscalationRow, QueueFilter, RecommendationRow, RegisterFilter};

fn timestamp(at: PgTimestamp) -> Option<prost_types::Timestamp> {
    Some(crate::domain::timestamp(at.0))
}

fn entry(row: RecommendationRow) -> v1::RecommendationEntry {
    v1::RecommendationEntry {
        escalation_id: row.escalation_id.to_string(),
        case_ref: row.case_ref,
        recommendation_id: row.recommendation_id,
        kind: row.kind,
        text_ref: row.text_ref,
        decision: row.decision,
        planned_action_ref: row.planned_action_ref,
        due_on: row.due_on,
        public_reason_ref: row.public_reason_ref,
        statement_ref: row.statement_ref,
        evidence_ref: row.evidence_ref,
        issued_at: timestamp(row.issued_at),
        decided_at: row.decided_at.and_then(timestamp),
        implemented_at: row.implemented_at.and_then(timestamp),
    }
}

fn queue_item(row: EscalationRow) -> v1::QueueItem {
    v1::QueueItem {
        escalation_id: row.escalation_id.to_string(),
        case_ref: row.case_ref,
        status: row.status,
        grounds: row.grounds,
        remit: row.remit,
        complaint_outcome: row.complaint_outcome,
        response_overdue: row.response_overdue,
        referred_at: row.referred_at.and_then(timestamp),
        adjudicator_ref: row.adjudicator_ref,
    }
}

impl EscalationsService {
    async fn wait(&self, consistency: &Consistency) -> Result<(), Error> {
        let Some(position) = consistency.at_least else {
            return Ok(());
        };
        match self
            .read_models
            .wait_for(position, consistency.max_wait)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::NotCaughtUp),
            Err(e) => Err(Error::Unexpected(e)),
        }
    }

    #[tracing::instrument(skip_all)]
    pub(super) async fn get(
        &self,
        request: Request<v1::GetEscalationRequest>,
    ) -> Result<Response<v1::GetEscalationResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::by_id(request.into_inner(), self.context.max_read_wait)?;
        self.wait(&parsed.consistency).await?;
        let row = match self
            .read_models
            .escalation(parsed.escalation_id)
            .await
            .map_err(Error::from)?
        {
            Some(row)
                if caller
                    .provider
                    .as_ref()
                    .is_none_or(|own| *own == row.provider_id) =>
            {
                row
            }
            _ => return Err(Error::NotFound("escalation").into()),
        };
        let recommendations = self
            .read_models
            .recommendations(&RegisterFilter {
                escalation_id: Some(row.escalation_id),
                decision: None,
                after: None,
                limit: 1_000,
            })
            .await
            .map_err(Error::from)?;
        Ok(Response::new(v1::GetEscalationResponse {
            escalation: Some(v1::Escalation {
                escalation_id: row.escalation_id.to_string(),
                case_ref: row.case_ref,
                complaint_id: row.complaint_id.to_string(),
                inspection_id: row.inspection_id.to_string(),
                provider_id: row.provider_id,
                status: row.status,
                refusal_reason: row.refusal_reason,
                grounds: row.grounds,
                out_of_remit_asks: row.out_of_remit,
                requested_at: timestamp(row.requested_at),
                window_closes_at: row.window_closes_at.and_then(timestamp),
                adjudicator_ref: row.adjudicator_ref,
                upheld_grounds: row.upheld_grounds,
                recommendations: recommendations.into_iter().map(entry).collect(),
                concluded_at: row.concluded_at.and_then(timestamp),
            }),
        }))
    }

    #[tracing::instrument(skip_all)]
    pub(super) async fn queue(
        &self,
        request: Request<v1::ListEscalationQueueRequest>,
    ) -> Result<Response<v1::ListEscalationQueueResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::queue(request.into_inner(), self.context.max_read_wait)?;
        self.wait(&parsed.consistency).await?;
        let rows = self
            .read_models
            .queue(&QueueFilter {
                status: parsed.status,
                adjudicator_ref: (caller.role == Role::Adjudicator).then(|| caller.subject.clone()),
                after: parsed.page.after,
                limit: i64::from(parsed.page.size) + 1,
            })
            .await
            .map_err(Error::from)?;
        let (rows, next_page_token) = paged(rows, parsed.page, |r| r.escalation_id);
        Ok(Response::new(v1::ListEscalationQueueResponse {
            items: rows.into_iter().map(queue_item).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    pub(super) async fn register(
        &self,
        request: Request<v1::ListRecommendationsRequest>,
    ) -> Result<Response<v1::ListRecommendationsResponse>, Status> {
        let parsed = parse::register(request.into_inner(), self.context.max_read_wait)?;
        self.wait(&parsed.consistency).await?;
        let mut rows = self
            .read_models
            .recommendations(&RegisterFilter {
                escalation_id: parsed.escalation_id,
                decision: parsed.decision,
                after: parsed.after,
                limit: i64::from(parsed.size) + 1,
            })
            .await
            .map_err(Error::from)?;
        let next_page_token = if rows.len() > parsed.size as usize {
            rows.truncate(parsed.size as usize);
            rows.last()
                .map(|r| parse::register_token(r.escalation_id, &r.recommendation_id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(v1::ListRecommendationsResponse {
            recommendations: rows.into_iter().map(entry).collect(),
            next_page_token,
        }))
    }
}
