//! The query handlers: parse, wait for the asked position (read-your-writes), read the read
//! model, reply. Provider callers see only their own provider's complaints.

use tonic::{Request, Response, Status};

use super::{ComplaintsService, Error, parse};
use crate::domain::v1;
use crate::formal_complaints::read_models::{
    ComplaintFilter, ComplaintRow, complaint_message, timestamp,
};
use platform::grpc::{Principal, principal};

impl ComplaintsService {
    async fn wait(&self, consistency: &platform::grpc::parse::Consistency) -> Result<(), Error> {
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

    /// A complaint row the caller may see.
    async fn visible(&self, caller: &Principal, id: uuid::Uuid) -> Result<ComplaintRow, Error> {
        match self.read_models.complaint(id).await? {
            Some(row)
                if caller
                    .provider
                    .as_ref()
                    .is_none_or(|own| *own == row.provider_id) =>
            {
                Ok(row)
            }
            _ => Err(Error::NotFound("complaint")),
        }
    }

    #[tracing::instrument(skip_all)]
    pub(super) async fn get(
        &self,
        request: Request<v1::GetComplaintRequest>,
    ) -> Result<Response<v1::GetComplaintResponse>, Status> {
        let caller = principal(&request)?.clone();
        let request = request.into_inner();
        let parsed = parse::by_id(
            &request.complaint_id,
            request.consistency,
            self.context.max_read_wait,
        )?;
        self.wait(&parsed.consistency).await?;
        let row = self.visible(&caller, parsed.complaint_id).await?;
        Ok(Response::new(v1::GetComplaintResponse {
            complaint: Some(complaint_message(row, &caller)),
        }))
    }

    #[tracing::instrument(skip_all)]
    pub(super) async fn list(
        &self,
        request: Request<v1::ListComplaintsRequest>,
    ) -> Result<Response<v1::ListComplaintsResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::list(request.into_inner(), self.context.max_read_wait)?;
        self.wait(&parsed.consistency).await?;
        let provider_id = match (&caller.provider, parsed.provider_id) {
            // A provider asking about another provider sees nothing of it.
            (Some(own), Some(asked)) if *own != asked => {
                return Ok(Response::new(v1::ListComplaintsResponse::default()));
            }
            (Some(own), _) => Some(own.clone()),
            (None, asked) => asked,
        };
        let size = parsed.page.size as usize;
        let mut rows = self
            .read_models
            .complaints(&ComplaintFilter {
                provider_id,
                status: parsed.status,
                after: parsed.page.after,
                limit: i64::from(parsed.page.size) + 1,
            })
            .await
            .map_err(Error::from)?;
        let next_page_token = if rows.len() > size {
            rows.truncate(size);
            rows.last()
                .map(|r| r.complaint_id.to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(v1::ListComplaintsResponse {
            complaints: rows
                .into_iter()
                .map(|row| complaint_message(row, &caller))
                .collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    pub(super) async fn deadlines(
        &self,
        request: Request<v1::GetComplaintDeadlinesRequest>,
    ) -> Result<Response<v1::GetComplaintDeadlinesResponse>, Status> {
        let caller = principal(&request)?.clone();
        let request = request.into_inner();
        let parsed = parse::by_id(
            &request.complaint_id,
            request.consistency,
            self.context.max_read_wait,
        )?;
        self.wait(&parsed.consistency).await?;
        self.visible(&caller, parsed.complaint_id).await?;
        let row = self
            .read_models
            .deadlines(parsed.complaint_id)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound("complaint"))?;
        Ok(Response::new(v1::GetComplaintDeadlinesResponse {
            deadlines: Some(v1::ComplaintDeadlines {
                complaint_id: row.complaint_id.to_string(),
                draft_issued_at: timestamp(row.draft_issued_at),
                window_closes_at: timestamp(row.window_closes_at),
                route: row.route,
                acknowledgement_due_at: timestamp(row.acknowledgement_due_at),
                response_due_at: row.response_due_at.and_then(timestamp),
                overdue: row.overdue,
                escalation_window_closes_at: row.escalation_window_closes_at.and_then(timestamp),
                policy_version: row.policy_version,
                calendar_version: row.calendar_version,
                escalation_in_progress: row.escalation_in_progress,
                reopened_at: row.reopened_at.and_then(timestamp),
                closed_at: row.closed_at.and_then(timestamp),
            }),
        }))
    }

    #[tracing::instrument(skip_all)]
    pub(super) async fn samples(
        &self,
        request: Request<v1::ListClosedComplaintSamplesRequest>,
    ) -> Result<Response<v1::ListClosedComplaintSamplesResponse>, Status> {
        let parsed = parse::samples(request.into_inner(), self.context.max_read_wait)?;
        self.wait(&parsed.consistency).await?;
        let size = parsed.page.size as usize;
        let mut rows = self
            .read_models
            .samples(parsed.page.after, i64::from(parsed.page.size) + 1)
            .await
            .map_err(Error::from)?;
        let next_page_token = if rows.len() > size {
            rows.truncate(size);
            rows.last()
                .map(|r| r.sample_id.to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(v1::ListClosedComplaintSamplesResponse {
            samples: rows
                .into_iter()
                .map(|row| v1::ClosedComplaintSample {
                    sample_id: row.sample_id.to_string(),
                    remit: row.remit,
                    route: row.route,
                    grounds: row.grounds,
                    outcome: row.outcome,
                    remedies: row.remedies,
                    submitted_at: timestamp(row.submitted_at),
                    responded_at: row.responded_at.and_then(timestamp),
                    closed_at: row.closed_at.and_then(timestamp),
                    late: row.late,
                })
                .collect(),
            next_page_token,
        }))
    }
}
