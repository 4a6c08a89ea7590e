//! The parse step: every request into checked values, or one `INVALID_ARGUMENT` listing each bad
//! field. Nothing here reads the database; descriptions never echo a submitted value.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::civil::Date;
use platform::event_store::CommandKey;
use platform::grpc::Principal;
use platform::grpc::parse::{
    self, Consistency, FieldViolations, Page, Violation, categories, category, command_key,
    consistency,
};
use tonic::Status;
use uuid::Uuid;

use crate::domain::escalation::Recommendation;
use crate::domain::{Ground, OutOfRemitAsk, RecommendationKind, v1};

/// Longest document-store reference.
const MAX_REF_CHARS: usize = 200;
/// Most grounds (there are five).
const MAX_GROUNDS: usize = 5;
/// Most out-of-remit asks (there are three).
const MAX_ASKS: usize = 3;
/// Most recommendations in one set of findings.
const MAX_RECOMMENDATIONS: usize = 20;
/// Longest recommendation id.
const MAX_RECOMMENDATION_ID: usize = 64;

/// The full method name of an Escalations RPC, which also scopes its idempotency keys.
pub(crate) fn method(name: &str) -> String {
    format!("/redress.escalation.v1.Escalations/{name}")
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

/// A checked `RequestEscalation`.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) key: CommandKey,
    pub(crate) complaint_id: Uuid,
    pub(crate) grounds: BTreeSet<Ground>,
    pub(crate) asks: BTreeSet<OutOfRemitAsk>,
}

pub(crate) fn request(
    caller: &Principal,
    r: v1::RequestEscalationRequest,
) -> Result<Request, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "RequestEscalation", &r.request_id, &r);
    let complaint_id = v.check(parse::uuid("complaint_id", &r.complaint_id));
    let grounds = categories(
        &mut v,
        "grounds",
        &r.grounds,
        MAX_GROUNDS,
        Ground::from_proto,
    );
    let asks = categories(
        &mut v,
        "out_of_remit_asks",
        &r.out_of_remit_asks,
        MAX_ASKS,
        OutOfRemitAsk::from_proto,
    );
    if r.grounds.is_empty() && r.out_of_remit_asks.is_empty() {
        v.push(
            "grounds",
            "must name at least one ground or out-of-remit ask",
        );
    }
    let (key, complaint_id, grounds, asks) = v.finish((key, complaint_id, grounds, asks))?;
    Ok(Request {
        key,
        complaint_id,
        grounds,
        asks,
    })
}

/// A checked command about an existing escalation.
#[derive(Debug)]
pub(crate) struct OnEscalation<T> {
    pub(crate) key: CommandKey,
    pub(crate) escalation_id: Uuid,
    pub(crate) args: T,
}

fn on_escalation<T>(
    mut v: FieldViolations,
    key: Option<CommandKey>,
    escalation_id: &str,
    args: Option<T>,
) -> Result<OnEscalation<T>, Status> {
    let id = v.check(parse::uuid("escalation_id", escalation_id));
    let (key, escalation_id, args) = v.finish((key, id, args))?;
    Ok(OnEscalation {
        key,
        escalation_id,
        args,
    })
}

/// A command with nothing but its escalation (withdraw, accept, case file, close).
pub(crate) fn plain(
    caller: &Principal,
    rpc: &str,
    request_id: &str,
    escalation_id: &str,
    request: &impl prost::Message,
) -> Result<OnEscalation<()>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, rpc, request_id, request);
    on_escalation(v, key, escalation_id, Some(()))
}

/// A command whose one argument is a reference (decline's reason, the adjudicator).
pub(crate) fn with_reference(
    caller: &Principal,
    rpc: &str,
    request_id: &str,
    escalation_id: &str,
    field: &str,
    value: String,
    request: &impl prost::Message,
) -> Result<OnEscalation<String>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, rpc, request_id, request);
    let value = v.check(reference(field, value));
    on_escalation(v, key, escalation_id, value)
}

/// Checked findings.
#[derive(Debug)]
pub(crate) struct Findings {
    pub(crate) findings_ref: String,
    pub(crate) upheld_grounds: BTreeSet<Ground>,
    pub(crate) recommendations: Vec<Recommendation>,
}

pub(crate) fn findings(
    caller: &Principal,
    r: v1::IssueFindingsRequest,
) -> Result<OnEscalation<Findings>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "IssueFindings", &r.request_id, &r);
    let findings_ref = v.check(reference("findings_ref", r.findings_ref.clone()));
    let upheld = categories(
        &mut v,
        "upheld_grounds",
        &r.upheld_grounds,
        MAX_GROUNDS,
        Ground::from_proto,
    );
    let recommendations = if r.recommendations.len() > MAX_RECOMMENDATIONS {
        v.push(
            "recommendations",
            format!("must have at most {MAX_RECOMMENDATIONS} values"),
        );
        None
    } else {
        let checked: Vec<Option<Recommendation>> = r
            .recommendations
            .iter()
            .enumerate()
            .map(|(i, rec)| {
                let field = |name: &str| format!("recommendations[{i}].{name}");
                let id = v.check(recommendation_id(
                    &field("recommendation_id"),
                    rec.recommendation_id.clone(),
                ));
                let kind = v.check(category(
                    &field("kind"),
                    rec.kind,
                    RecommendationKind::from_proto,
                ));
                let text_ref = v.check(reference(&field("text_ref"), rec.text_ref.clone()));
                Some(Recommendation {
                    recommendation_id: id?,
                    kind: kind?,
                    text_ref: text_ref?,
                })
            })
            .collect();
        checked.into_iter().collect::<Option<Vec<_>>>()
    };
    let args = match (findings_ref, upheld, recommendations) {
        (Some(findings_ref), Some(upheld_grounds), Some(recommendations)) => Some(Findings {
            findings_ref,
            upheld_grounds,
            recommendations,
        }),
        _ => None,
    };
    on_escalation(v, key, &r.escalation_id, args)
}

/// A checked acceptance.
#[derive(Debug)]
pub(crate) struct Acceptance {
    pub(crate) recommendation_id: String,
    pub(crate) planned_action_ref: String,
    pub(crate) due_on: Option<Date>,
}

pub(crate) fn accept(
    caller: &Principal,
    r: v1::AcceptRecommendationRequest,
) -> Result<OnEscalation<Acceptance>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "AcceptRecommendation", &r.request_id, &r);
    let id = v.check(recommendation_id(
        "recommendation_id",
        r.recommendation_id.clone(),
    ));
    let plan = v.check(reference(
        "planned_action_ref",
        r.planned_action_ref.clone(),
    ));
    let due_on = v.check(match r.due_on.as_str() {
        "" => Ok(None),
        text => text
            .parse::<Date>()
            .ok()
            .filter(|_| text.len() == 10)
            .map(Some)
            .ok_or_else(|| Violation::new("due_on", "must be a date like 2026-01-31")),
    });
    let args = match (id, plan, due_on) {
        (Some(recommendation_id), Some(planned_action_ref), Some(due_on)) => Some(Acceptance {
            recommendation_id,
            planned_action_ref,
            due_on,
        }),
        _ => None,
    };
    on_escalation(v, key, &r.escalation_id, args)
}

/// A checked decline.
#[derive(Debug)]
pub(crate) struct Decline {
    pub(crate) recommendation_id: String,
    pub(crate) public_reason_ref: String,
    pub(crate) statement_ref: String,
}

/// A decline may arrive without its reason or statement: the rule that both are required is
/// the domain's (`PUBLIC_REASON_REQUIRED`, `PUBLIC_STATEMENT_REQUIRED`), so only their form is
/// checked here.
pub(crate) fn decline(
    caller: &Principal,
    r: v1::DeclineRecommendationRequest,
) -> Result<OnEscalation<Decline>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "DeclineRecommendation", &r.request_id, &r);
    let id = v.check(recommendation_id(
        "recommendation_id",
        r.recommendation_id.clone(),
    ));
    let reason = v.check(parse::optional_text(
        "public_reason_ref",
        r.public_reason_ref.clone(),
        MAX_REF_CHARS,
    ));
    let statement = v.check(parse::optional_text(
        "statement_ref",
        r.statement_ref.clone(),
        MAX_REF_CHARS,
    ));
    let args = match (id, reason, statement) {
        (Some(recommendation_id), Some(reason), Some(statement)) => Some(Decline {
            recommendation_id,
            public_reason_ref: reason.unwrap_or_default(),
            statement_ref: statement.unwrap_or_default(),
        }),
        _ => None,
    };
    on_escalation(v, key, &r.escalation_id, args)
}

/// A checked implementation record.
#[derive(Debug)]
pub(crate) struct Implementation {
    pub(crate) recommendation_id: String,
    pub(crate) evidence_ref: String,
}

pub(crate) fn implementation(
    caller: &Principal,
    r: v1::RecordImplementationRequest,
) -> Result<OnEscalation<Implementation>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "RecordImplementation", &r.request_id, &r);
    let id = v.check(recommendation_id(
        "recommendation_id",
        r.recommendation_id.clone(),
    ));
    let evidence = v.check(reference("evidence_ref", r.evidence_ref.clone()));
    let args = match (id, evidence) {
        (Some(recommendation_id), Some(evidence_ref)) => Some(Implementation {
            recommendation_id,
            evidence_ref,
        }),
        _ => None,
    };
    on_escalation(v, key, &r.escalation_id, args)
}

/// A checked query for one escalation.
#[derive(Debug)]
pub(crate) struct ById {
    pub(crate) escalation_id: Uuid,
    pub(crate) consistency: Consistency,
}

pub(crate) fn by_id(r: v1::GetEscalationRequest, cap: Duration) -> Result<ById, Status> {
    let escalation_id = parse::uuid("escalation_id", &r.escalation_id)?;
    Ok(ById {
        escalation_id,
        consistency: consistency(r.consistency, cap),
    })
}

/// A checked `ListEscalationQueue`.
#[derive(Debug)]
pub(crate) struct Queue {
    pub(crate) status: Option<i32>,
    pub(crate) page: Page,
    pub(crate) consistency: Consistency,
}

pub(crate) fn queue(r: v1::ListEscalationQueueRequest, cap: Duration) -> Result<Queue, Status> {
    let mut v = FieldViolations::new();
    let status = v.check(match v1::EscalationStatus::try_from(r.status) {
        Ok(v1::EscalationStatus::Unspecified) => Ok(None),
        // A refused request is never referred: the body has no such queue.
        Ok(v1::EscalationStatus::Refused) | Err(_) => Err(Violation::new(
            "status",
            "must be one of the listed statuses of a referred escalation",
        )),
        Ok(status) => Ok(Some(status as i32)),
    });
    let page = parse::page(&mut v, r.page_size, &r.page_token);
    let (status, page) = v.finish((status, page))?;
    Ok(Queue {
        status,
        page,
        consistency: consistency(r.consistency, cap),
    })
}

/// A checked `ListRecommendations`.
#[derive(Debug)]
pub(crate) struct Register {
    pub(crate) escalation_id: Option<Uuid>,
    pub(crate) decision: Option<i32>,
    pub(crate) after: Option<(Uuid, String)>,
    pub(crate) size: u32,
    pub(crate) consistency: Consistency,
}

/// The register's page token: `<escalation_id>/<recommendation_id>` of the last row.
pub(crate) fn register_token(escalation_id: Uuid, recommendation_id: &str) -> String {
    format!("{escalation_id}/{recommendation_id}")
}

pub(crate) fn register(
    r: v1::ListRecommendationsRequest,
    cap: Duration,
) -> Result<Register, Status> {
    let mut v = FieldViolations::new();
    let escalation_id = v.check(match r.escalation_id.as_str() {
        "" => Ok(None),
        id => parse::uuid("escalation_id", id).map(Some),
    });
    let decision = v.check(match v1::RecommendationDecision::try_from(r.decision) {
        Ok(v1::RecommendationDecision::Unspecified) => Ok(None),
        Ok(decision) => Ok(Some(decision as i32)),
        Err(_) => Err(Violation::new(
            "decision",
            "must be one of the listed values",
        )),
    });
    let size = parse::page(&mut v, r.page_size, "").map(|p| p.size);
    let after = v.check(
        match r.page_token.split_once('/') {
            None if r.page_token.is_empty() => Ok(None),
            Some((escalation, recommendation)) => parse::uuid("page_token", escalation)
                .and_then(|e| {
                    recommendation_id("page_token", recommendation.to_owned()).map(|r| (e, r))
                })
                .map(Some),
            None => Err(Violation::new(
                "page_token",
                "must be a next_page_token from a previous answer",
            )),
        }
        .map_err(|_| {
            Violation::new(
                "page_token",
                "must be a next_page_token from a previous answer",
            )
        }),
    );
    let (escalation_id, decision, size, after) =
        v.finish((escalation_id, decision, size, after))?;
    Ok(Register {
        escalation_id,
        decision,
        after,
        size,
        consistency: consistency(r.consistency, cap),
    })
}
