//! The parse step: every request into checked values, or one `INVALID_ARGUMENT` listing each bad
//! field. Nothing here reads the database; descriptions never echo a submitted value.
//!
//! What a rule of the domain decides is left to the domain, and only the field's form is checked
//! here: an empty `reasons_ref` on a decision not to review (`REASONS_REQUIRED`), a missing
//! declaration or prior roles (`DECLARATION_REQUIRED`, `PRIOR_ROLES_NOT_DISCLOSED`), the scope's
//! statement on the judgements (`JUDGEMENTS_SCOPE_UNSTATED`).

use std::collections::BTreeSet;
use std::time::Duration;

use platform::event_store::CommandKey;
use platform::grpc::Principal;
use platform::grpc::parse::{
    self, Consistency, FieldViolations, Page, Violation, categories, category, command_key,
    consistency,
};
use tonic::Status;
use uuid::Uuid;

use crate::domain::review::Recommendation;
use crate::domain::{
    Audience, IncidentCategory, IncidentSource, PriorRole, RecommendationResponse,
    RecommendationSource, ScopeItem, v1,
};

/// Longest vault or document-store reference.
const MAX_REF_CHARS: usize = 200;
/// Most related inspections of one incident.
const MAX_RELATED_INSPECTIONS: usize = 20;
/// Most recommendations in one report.
const MAX_RECOMMENDATIONS: usize = 50;
/// Longest recommendation id.
const MAX_RECOMMENDATION_ID: usize = 64;

/// The full method name of a LearningReviews RPC, which also scopes its idempotency keys.
pub(crate) fn method(name: &str) -> String {
    format!("/redress.learning_reviews.v1.LearningReviews/{name}")
}

fn key(
    violations: &mut FieldViolations,
    caller: &Principal,
    rpc: &str,
    request_id: &str,
    request: &impl prost::Message,
) -> Option<CommandKey> {
    command_key(violations, caller, &method(rpc), request_id, request)
}

fn reference(field: &str, value: String) -> Result<String, Violation> {
    parse::required_text(field, value, MAX_REF_CHARS)
}

fn optional_reference(field: &str, value: String) -> Result<Option<String>, Violation> {
    parse::optional_text(field, value, MAX_REF_CHARS)
}

fn recommendation_id(field: &str, value: String) -> Result<String, Violation> {
    if value.is_empty()
        || value.len() > MAX_RECOMMENDATION_ID
        || !value.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Violation::new(
            field,
            format!("must be 1–{MAX_RECOMMENDATION_ID} printable ASCII characters"),
        ));
    }
    Ok(value)
}

/// A checked `ReportIncident`.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) key: CommandKey,
    pub(crate) source: IncidentSource,
    pub(crate) category: IncidentCategory,
    pub(crate) related_inspection_ids: Vec<Uuid>,
    pub(crate) account_ref: String,
}

pub(crate) fn report(caller: &Principal, r: v1::ReportIncidentRequest) -> Result<Report, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "ReportIncident", &r.request_id, &r);
    let source = v.check(category("source", r.source, IncidentSource::from_proto));
    let incident_category = v.check(category(
        "category",
        r.category,
        IncidentCategory::from_proto,
    ));
    let related = if r.related_inspection_ids.len() > MAX_RELATED_INSPECTIONS {
        v.push(
            "related_inspection_ids",
            format!("must have at most {MAX_RELATED_INSPECTIONS} values"),
        );
        None
    } else {
        let mut ids = Vec::with_capacity(r.related_inspection_ids.len());
        let mut ok = true;
        for (i, text) in r.related_inspection_ids.iter().enumerate() {
            let field = format!("related_inspection_ids[{i}]");
            match parse::uuid(&field, text) {
                Ok(id) if !ids.contains(&id) => ids.push(id),
                Ok(_) => {
                    v.push(field, "must not repeat a value");
                    ok = false;
                }
                Err(violation) => {
                    v.push(violation.field, violation.description);
                    ok = false;
                }
            }
        }
        ok.then_some(ids)
    };
    let account_ref = v.check(reference("account_ref", r.account_ref.clone()));
    let (key, source, category, related_inspection_ids, account_ref) =
        v.finish((key, source, incident_category, related, account_ref))?;
    Ok(Report {
        key,
        source,
        category,
        related_inspection_ids,
        account_ref,
    })
}

/// A checked command about an existing incident.
#[derive(Debug)]
pub(crate) struct OnIncident<T> {
    pub(crate) key: CommandKey,
    pub(crate) incident_id: Uuid,
    pub(crate) args: T,
}

fn on_incident<T>(
    mut v: FieldViolations,
    key: Option<CommandKey>,
    incident_id: &str,
    args: Option<T>,
) -> Result<OnIncident<T>, Status> {
    let id = v.check(parse::uuid("incident_id", incident_id));
    let (key, incident_id, args) = v.finish((key, id, args))?;
    Ok(OnIncident {
        key,
        incident_id,
        args,
    })
}

pub(crate) fn assess(
    caller: &Principal,
    r: v1::AssessIncidentRequest,
) -> Result<OnIncident<String>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "AssessIncident", &r.request_id, &r);
    let assessment = v.check(reference("assessment_ref", r.assessment_ref.clone()));
    on_incident(v, key, &r.incident_id, assessment)
}

/// The reasons may be missing: that they are required is the domain's rule.
pub(crate) fn no_review(
    caller: &Principal,
    r: v1::DecideNoReviewRequest,
) -> Result<OnIncident<String>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "DecideNoReview", &r.request_id, &r);
    let reasons = v.check(optional_reference("reasons_ref", r.reasons_ref.clone()));
    on_incident(
        v,
        key,
        &r.incident_id,
        reasons.map(Option::unwrap_or_default),
    )
}

/// A checked proposal.
#[derive(Debug)]
pub(crate) struct Proposal {
    pub(crate) terms_of_reference_ref: String,
    pub(crate) scope_in: BTreeSet<ScopeItem>,
    pub(crate) scope_out: BTreeSet<ScopeItem>,
}

pub(crate) fn propose(
    caller: &Principal,
    r: v1::ProposeLearningReviewRequest,
) -> Result<OnIncident<Proposal>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "ProposeLearningReview", &r.request_id, &r);
    let terms = v.check(reference(
        "terms_of_reference_ref",
        r.terms_of_reference_ref.clone(),
    ));
    let all = ScopeItem::ALL.len();
    let scope_in = categories(&mut v, "scope_in", &r.scope_in, all, ScopeItem::from_proto);
    let scope_out = categories(
        &mut v,
        "scope_out",
        &r.scope_out,
        all,
        ScopeItem::from_proto,
    );
    let args = match (terms, scope_in, scope_out) {
        (Some(terms_of_reference_ref), Some(scope_in), Some(scope_out)) => Some(Proposal {
            terms_of_reference_ref,
            scope_in,
            scope_out,
        }),
        _ => None,
    };
    on_incident(v, key, &r.incident_id, args)
}

/// A checked command about an existing review.
#[derive(Debug)]
pub(crate) struct OnReview<T> {
    pub(crate) key: CommandKey,
    pub(crate) review_id: Uuid,
    pub(crate) args: T,
}

fn on_review<T>(
    mut v: FieldViolations,
    key: Option<CommandKey>,
    review_id: &str,
    args: Option<T>,
) -> Result<OnReview<T>, Status> {
    let id = v.check(parse::uuid("review_id", review_id));
    let (key, review_id, args) = v.finish((key, id, args))?;
    Ok(OnReview {
        key,
        review_id,
        args,
    })
}

/// A command with nothing but its review (approve, commission, publish the terms, offer family
/// engagement, close).
pub(crate) fn plain(
    caller: &Principal,
    rpc: &str,
    request_id: &str,
    review_id: &str,
    request: &impl prost::Message,
) -> Result<OnReview<()>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, rpc, request_id, request);
    on_review(v, key, review_id, Some(()))
}

/// A command whose one argument is a required reference.
pub(crate) fn with_reference(
    caller: &Principal,
    rpc: &str,
    request_id: &str,
    review_id: &str,
    field: &str,
    value: String,
    request: &impl prost::Message,
) -> Result<OnReview<String>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, rpc, request_id, request);
    let value = v.check(reference(field, value));
    on_review(v, key, review_id, value)
}

/// A checked appointment.
#[derive(Debug)]
pub(crate) struct Appointment {
    pub(crate) reviewer_ref: String,
    pub(crate) independence_declaration_ref: String,
    pub(crate) prior_roles: Vec<PriorRole>,
}

pub(crate) fn appointment(
    caller: &Principal,
    r: v1::AppointReviewerRequest,
) -> Result<OnReview<Appointment>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "AppointReviewer", &r.request_id, &r);
    let reviewer = v.check(reference("reviewer_ref", r.reviewer_ref.clone()));
    let declaration = v.check(optional_reference(
        "independence_declaration_ref",
        r.independence_declaration_ref.clone(),
    ));
    let roles = categories(
        &mut v,
        "prior_roles",
        &r.prior_roles,
        PriorRole::ALL.len(),
        PriorRole::from_proto,
    );
    let args = match (reviewer, declaration, roles) {
        (Some(reviewer_ref), Some(declaration), Some(roles)) => Some(Appointment {
            reviewer_ref,
            independence_declaration_ref: declaration.unwrap_or_default(),
            prior_roles: roles.into_iter().collect(),
        }),
        _ => None,
    };
    on_review(v, key, &r.review_id, args)
}

/// A checked interview: its reference and the consent to be named, if any.
pub(crate) fn interview(
    caller: &Principal,
    r: v1::RecordInterviewRequest,
) -> Result<OnReview<(String, Option<String>)>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "RecordInterview", &r.request_id, &r);
    let interview = v.check(reference("interview_ref", r.interview_ref.clone()));
    let consent = v.check(optional_reference(
        "named_with_consent_ref",
        r.named_with_consent_ref.clone(),
    ));
    let args = match (interview, consent) {
        (Some(interview), Some(consent)) => Some((interview, consent)),
        _ => None,
    };
    on_review(v, key, &r.review_id, args)
}

/// A checked report.
#[derive(Debug)]
pub(crate) struct Submission {
    pub(crate) report_ref: String,
    pub(crate) recommendations: Vec<Recommendation>,
}

pub(crate) fn submission(
    caller: &Principal,
    r: v1::SubmitReportRequest,
) -> Result<OnReview<Submission>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "SubmitReport", &r.request_id, &r);
    let report_ref = v.check(reference("report_ref", r.report_ref.clone()));
    let recommendations = if r.recommendations.len() > MAX_RECOMMENDATIONS {
        v.push(
            "recommendations",
            format!("must have at most {MAX_RECOMMENDATIONS} values"),
        );
        None
    } else {
        let mut seen = BTreeSet::new();
        let checked: Vec<Option<Recommendation>> = r
            .recommendations
            .iter()
            .enumerate()
            .map(|(i, rec)| {
                let field = |name: &str| format!("recommendations[{i}].{name}");
                let id = v.check(
                    recommendation_id(&field("recommendation_id"), rec.recommendation_id.clone())
                        .and_then(|id| {
                            if seen.insert(id.clone()) {
                                Ok(id)
                            } else {
                                Err(Violation::new(
                                    field("recommendation_id"),
                                    "must be unique within the report",
                                ))
                            }
                        }),
                );
                let text_ref = v.check(reference(&field("text_ref"), rec.text_ref.clone()));
                Some(Recommendation {
                    recommendation_id: id?,
                    text_ref: text_ref?,
                })
            })
            .collect();
        checked.into_iter().collect::<Option<Vec<_>>>()
    };
    let args = match (report_ref, recommendations) {
        (Some(report_ref), Some(recommendations)) => Some(Submission {
            report_ref,
            recommendations,
        }),
        _ => None,
    };
    on_review(v, key, &r.review_id, args)
}

/// A checked response to one recommendation.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) recommendation_id: String,
    pub(crate) response: RecommendationResponse,
    /// Empty when none was given; that reasons are required unless accepted is the domain's
    /// rule.
    pub(crate) reasons_ref: String,
}

pub(crate) fn response(
    caller: &Principal,
    r: v1::RespondToRecommendationRequest,
) -> Result<OnReview<Response>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "RespondToRecommendation", &r.request_id, &r);
    let id = v.check(recommendation_id(
        "recommendation_id",
        r.recommendation_id.clone(),
    ));
    let response = v.check(category(
        "response",
        r.response,
        RecommendationResponse::from_proto,
    ));
    let reasons = v.check(optional_reference("reasons_ref", r.reasons_ref.clone()));
    let args = match (id, response, reasons) {
        (Some(recommendation_id), Some(response), Some(reasons)) => Some(Response {
            recommendation_id,
            response,
            reasons_ref: reasons.unwrap_or_default(),
        }),
        _ => None,
    };
    on_review(v, key, &r.review_id, args)
}

/// A checked action on one recommendation: its id and the reference (`field`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn action(
    caller: &Principal,
    rpc: &str,
    request_id: &str,
    review_id: &str,
    recommendation: String,
    field: &str,
    value: String,
    request: &impl prost::Message,
) -> Result<OnReview<(String, String)>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, rpc, request_id, request);
    let id = v.check(recommendation_id("recommendation_id", recommendation));
    let value = v.check(reference(field, value));
    let args = match (id, value) {
        (Some(id), Some(value)) => Some((id, value)),
        _ => None,
    };
    on_review(v, key, review_id, args)
}

/// A checked dissemination: 1–4 distinct audiences and the lessons.
pub(crate) fn dissemination(
    caller: &Principal,
    r: v1::DisseminateLessonsRequest,
) -> Result<OnReview<(Vec<Audience>, String)>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "DisseminateLessons", &r.request_id, &r);
    let audiences = categories(
        &mut v,
        "audiences",
        &r.audiences,
        Audience::ALL.len(),
        Audience::from_proto,
    );
    if r.audiences.is_empty() {
        v.push("audiences", "must name at least one audience");
    }
    let lessons = v.check(reference("lessons_ref", r.lessons_ref.clone()));
    let args = match (audiences, lessons) {
        (Some(audiences), Some(lessons)) => Some((audiences.into_iter().collect(), lessons)),
        _ => None,
    };
    on_review(v, key, &r.review_id, args)
}

/// A checked query for one incident or review.
#[derive(Debug)]
pub(crate) struct ById {
    pub(crate) id: Uuid,
    pub(crate) consistency: Consistency,
}

pub(crate) fn incident_by_id(r: v1::GetIncidentRequest, cap: Duration) -> Result<ById, Status> {
    Ok(ById {
        id: parse::uuid("incident_id", &r.incident_id)?,
        consistency: consistency(r.consistency, cap),
    })
}

pub(crate) fn review_by_id(r: v1::GetLearningReviewRequest, cap: Duration) -> Result<ById, Status> {
    Ok(ById {
        id: parse::uuid("review_id", &r.review_id)?,
        consistency: consistency(r.consistency, cap),
    })
}

/// A checked `ListLearningReviews`.
#[derive(Debug)]
pub(crate) struct Reviews {
    pub(crate) status: Option<i32>,
    pub(crate) page: Page,
    pub(crate) consistency: Consistency,
}

pub(crate) fn reviews(r: v1::ListLearningReviewsRequest, cap: Duration) -> Result<Reviews, Status> {
    let mut v = FieldViolations::new();
    let status = v.check(match v1::ReviewStatus::try_from(r.status) {
        Ok(v1::ReviewStatus::Unspecified) => Ok(None),
        Ok(status) => Ok(Some(status as i32)),
        Err(_) => Err(Violation::new("status", "must be one of the listed values")),
    });
    let page = parse::page(&mut v, r.page_size, &r.page_token);
    let (status, page) = v.finish((status, page))?;
    Ok(Reviews {
        status,
        page,
        consistency: consistency(r.consistency, cap),
    })
}

/// A checked `ListRegister`.
#[derive(Debug)]
pub(crate) struct Register {
    pub(crate) source: Option<RecommendationSource>,
    pub(crate) decision: Option<i32>,
    pub(crate) after: Option<(Uuid, String)>,
    pub(crate) size: u32,
    pub(crate) consistency: Consistency,
}

/// The register's page token: `<case_id>/<recommendation_id>` of the last row.
pub(crate) fn register_token(case_id: Uuid, recommendation_id: &str) -> String {
    format!("{case_id}/{recommendation_id}")
}

pub(crate) fn register(r: v1::ListRegisterRequest, cap: Duration) -> Result<Register, Status> {
    let mut v = FieldViolations::new();
    let source = v.check(match r.source {
        0 => Ok(None),
        n => category("source", n, RecommendationSource::from_proto).map(Some),
    });
    let decision = v.check(match v1::RegisterDecision::try_from(r.decision) {
        Ok(v1::RegisterDecision::Unspecified) => Ok(None),
        Ok(decision) => Ok(Some(decision as i32)),
        Err(_) => Err(Violation::new(
            "decision",
            "must be one of the listed values",
        )),
    });
    let size = parse::page(&mut v, r.page_size, "").map(|p| p.size);
    let bad_token = || {
        Violation::new(
            "page_token",
            "must be a next_page_token from a previous answer",
        )
    };
    let after = v.check(match r.page_token.split_once('/') {
        None if r.page_token.is_empty() => Ok(None),
        Some((case, recommendation)) => parse::uuid("page_token", case)
            .and_then(|c| {
                recommendation_id("page_token", recommendation.to_owned()).map(|r| Some((c, r)))
            })
            .map_err(|_| bad_token()),
        None => Err(bad_token()),
    });
    let (source, decision, size, after) = v.finish((source, decision, size, after))?;
    Ok(Register {
        source,
        decision,
        after,
        size,
        consistency: consistency(r.consistency, cap),
    })
}
