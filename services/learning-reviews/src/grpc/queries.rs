//! The query handlers: parse, wait for the asked position (read-your-writes), read the read
//! model, reply. An independent reviewer sees only the review they are appointed to.

use std::collections::HashMap;

use platform::grpc::parse::{Consistency, paged};
use platform::grpc::{Role, principal};
use platform::pg::PgTimestamp;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Error, LearningReviewsService, parse};
use crate::domain::v1;
use crate::read_models::{RecommendationRow, RegisterFilter, RegisterRow, ReviewFilter, ReviewRow};

fn timestamp(at: PgTimestamp) -> Option<prost_types::Timestamp> {
    Some(crate::domain::timestamp(at.0))
}

fn ids(ids: &[Uuid]) -> Vec<String> {
    ids.iter().map(Uuid::to_string).collect()
}

fn recommendation(row: RecommendationRow) -> v1::ReviewRecommendation {
    v1::ReviewRecommendation {
        recommendation_id: row.recommendation_id,
        text_ref: row.text_ref,
        response: row.response,
        reasons_ref: row.reasons_ref,
        action: row.action,
    }
}

fn review(row: ReviewRow, recommendations: Vec<v1::ReviewRecommendation>) -> v1::LearningReview {
    v1::LearningReview {
        review_id: row.review_id.to_string(),
        incident_id: row.incident_id.to_string(),
        status: row.status,
        related_inspection_ids: ids(&row.related_inspection_ids),
        scope_in: row.scope_in,
        scope_out: row.scope_out,
        required_approvers: row.required_approvers,
        approvals: row.approvals,
        reviewer_ref: row.reviewer_ref,
        reviewer_prior_roles: row.reviewer_prior_roles,
        terms_of_reference_ref: row.terms_of_reference_ref,
        interviews: row.interviews.unsigned_abs(),
        anonymised_interviews: row.anonymised_interviews.unsigned_abs(),
        family_engagement_offered: row.family_engagement_offered,
        family_engagement_held: row.family_engagement_held,
        report_ref: row.report_ref,
        recommendations,
        audiences: row.audiences,
        monitoring_reports: row.monitoring_reports.unsigned_abs(),
        commissioned_at: row.commissioned_at.and_then(timestamp),
        closed_at: row.closed_at.and_then(timestamp),
    }
}

fn entry(row: RegisterRow) -> v1::RegisterEntry {
    v1::RegisterEntry {
        source: row.source,
        case_id: row.case_id.to_string(),
        case_ref: row.case_ref,
        recommendation_id: row.recommendation_id,
        kind: row.kind,
        decision: row.decision,
        public_reason_ref: row.public_reason_ref,
        implemented: row.implemented,
        issued_at: timestamp(row.issued_at),
        decided_at: row.decided_at.and_then(timestamp),
        implemented_at: row.implemented_at.and_then(timestamp),
    }
}

impl LearningReviewsService {
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

    /// The reviews of `rows` with their recommendations.
    async fn with_recommendations(
        &self,
        rows: Vec<ReviewRow>,
    ) -> Result<Vec<v1::LearningReview>, Error> {
        let review_ids: Vec<Uuid> = rows.iter().map(|r| r.review_id).collect();
        let mut by_review: HashMap<Uuid, Vec<v1::ReviewRecommendation>> = HashMap::new();
        for row in self.read_models.recommendations(&review_ids).await? {
            by_review
                .entry(row.review_id)
                .or_default()
                .push(recommendation(row));
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let recommendations = by_review.remove(&row.review_id).unwrap_or_default();
                review(row, recommendations)
            })
            .collect())
    }

    #[tracing::instrument(skip_all)]
    pub(super) async fn get_incident_query(
        &self,
        request: Request<v1::GetIncidentRequest>,
    ) -> Result<Response<v1::GetIncidentResponse>, Status> {
        let parsed = parse::incident_by_id(request.into_inner(), self.context.max_read_wait)?;
        self.wait(&parsed.consistency).await?;
        let Some(row) = self
            .read_models
            .incident(parsed.id)
            .await
            .map_err(Error::from)?
        else {
            return Err(Error::NotFound("incident").into());
        };
        Ok(Response::new(v1::GetIncidentResponse {
            incident: Some(v1::Incident {
                incident_id: row.incident_id.to_string(),
                status: row.status,
                source: row.source,
                category: row.category,
                related_inspection_ids: ids(&row.related_inspection_ids),
                reported_at: timestamp(row.reported_at),
                review_id: row.review_id.map(|id| id.to_string()).unwrap_or_default(),
                no_review_reasons_ref: row.no_review_reasons_ref,
            }),
        }))
    }

    #[tracing::instrument(skip_all)]
    pub(super) async fn get_review_query(
        &self,
        request: Request<v1::GetLearningReviewRequest>,
    ) -> Result<Response<v1::GetLearningReviewResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::review_by_id(request.into_inner(), self.context.max_read_wait)?;
        self.wait(&parsed.consistency).await?;
        let row = match self
            .read_models
            .review(parsed.id)
            .await
            .map_err(Error::from)?
        {
            Some(row)
                if caller.role != Role::IndependentReviewer
                    || row.reviewer_ref == caller.subject =>
            {
                row
            }
            _ => return Err(Error::NotFound("learning review").into()),
        };
        let mut reviews = self.with_recommendations(vec![row]).await?;
        Ok(Response::new(v1::GetLearningReviewResponse {
            review: reviews.pop(),
        }))
    }

    #[tracing::instrument(skip_all)]
    pub(super) async fn list_reviews_query(
        &self,
        request: Request<v1::ListLearningReviewsRequest>,
    ) -> Result<Response<v1::ListLearningReviewsResponse>, Status> {
        let parsed = parse::reviews(request.into_inner(), self.context.max_read_wait)?;
        self.wait(&parsed.consistency).await?;
        let rows = self
            .read_models
            .reviews(&ReviewFilter {
                status: parsed.status,
                after: parsed.page.after,
                limit: i64::from(parsed.page.size) + 1,
            })
            .await
            .map_err(Error::from)?;
        let (rows, next_page_token) = paged(rows, parsed.page, |r| r.review_id);
        Ok(Response::new(v1::ListLearningReviewsResponse {
            reviews: self.with_recommendations(rows).await?,
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    pub(super) async fn list_register_query(
        &self,
        request: Request<v1::ListRegisterRequest>,
    ) -> Result<Response<v1::ListRegisterResponse>, Status> {
        let parsed = parse::register(request.into_inner(), self.context.max_read_wait)?;
        self.wait(&parsed.consistency).await?;
        let mut rows = self
            .read_models
            .register(&RegisterFilter {
                source: parsed.source,
                decision: parsed.decision,
                after: parsed.after,
                limit: i64::from(parsed.size) + 1,
            })
            .await
            .map_err(Error::from)?;
        let next_page_token = if rows.len() > parsed.size as usize {
            rows.truncate(parsed.size as usize);
            rows.last()
                .map(|r| parse::register_token(r.case_id, &r.recommendation_id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(v1::ListRegisterResponse {
            entries: rows.into_iter().map(entry).collect(),
            next_page_token,
        }))
    }
}
