//! The parse step: every request into checked values, or one `INVALID_ARGUMENT` listing each bad
//! field. Nothing here reads the database; descriptions never echo a submitted value.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::time::Duration;

use jiff::Timestamp;
use platform::event_store::CommandKey;
use platform::grpc::Principal;
use platform::grpc::parse::{
    self, Consistency, FieldViolations, Page, Violation, categories, category, consistency,
    optional_text, page,
};
use tonic::Status;
use uuid::Uuid;

use crate::domain::{
    ComplaintGround, ComplaintOutcome, ExtensionReason, Remedy, WithdrawalReason, v1,
};

/// Longest document-store or vault reference.
const MAX_REF_CHARS: usize = 200;
/// Longest narrative.
const MAX_NARRATIVE_CHARS: usize = 20_000;
/// Most grounds a complaint can name (there are five).
const MAX_GROUNDS: usize = 5;
/// Most remedies a response can carry (there are six).
const MAX_REMEDIES: usize = 6;
/// Most documents sent with a submission.
const MAX_DOC_REFS: usize = 20;
/// Longest provider id.
const MAX_PROVIDER_CHARS: usize = 100;
/// The earliest time an investigation call may be recorded at (2000-01-01T00:00:00Z).
const EARLIEST_CALL: Timestamp = Timestamp::constant(946_684_800, 0);
/// Most working days one extension adds.
const MAX_EXTENSION_DAYS: u32 = 60;

/// The full method name of a Complaints RPC, which also scopes its idempotency keys.
pub(crate) fn method(name: &str) -> String {
    format!("/redress.complaints.v1.Complaints/{name}")
}

/// The idempotency key of a command: `request_id`, scoped to the caller, with a hash of the
/// whole request so a reuse with a different request is detected.
fn key(
    violations: &mut FieldViolations,
    caller: &Principal,
    rpc: &str,
    request_id: &str,
    request: &impl prost::Message,
) -> Option<CommandKey> {
    parse::command_key(violations, caller, &method(rpc), request_id, request)
}

fn reference(field: &str, value: String) -> Result<String, Violation> {
    parse::required_text(field, value, MAX_REF_CHARS)
}

/// The complainant's contact details, as sealed in the vault.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Contact {
    pub(crate) name: String,
    pub(crate) role: String,
    pub(crate) email: String,
    pub(crate) phone: Option<String>,
}

/// A checked submission.
#[derive(Debug)]
pub(crate) struct Submission {
    pub(crate) inspection_id: Uuid,
    pub(crate) grounds: BTreeSet<ComplaintGround>,
    pub(crate) contact: Contact,
    pub(crate) narrative: String,
    pub(crate) doc_refs: Vec<String>,
    /// The provider complained for: the caller's own for provider roles.
    pub(crate) provider_id: ProviderChoice,
}

/// Whose complaint a submission is.
#[derive(Debug)]
pub(crate) enum ProviderChoice {
    /// The caller acts for a provider and named it (or none).
    Own(String),
    /// The caller acts for a provider but named another one: answered NOT_FOUND.
    Other,
    /// Staff submitting on a provider's behalf.
    OnBehalfOf(String),
}

fn submission(
    violations: &mut FieldViolations,
    caller: &Principal,
    submission: Option<v1::ComplaintSubmission>,
) -> Option<Submission> {
    let Some(s) = submission else {
        violations.push("submission", "is required");
        return None;
    };
    let inspection_id = violations.check(parse::uuid("submission.inspection_id", &s.inspection_id));
    let grounds = match s.grounds.is_empty() {
        true => {
            violations.push("submission.grounds", "must name at least one ground");
            None
        }
        false => categories(
            violations,
            "submission.grounds",
            &s.grounds,
            MAX_GROUNDS,
            ComplaintGround::from_proto,
        ),
    };
    let contact = match s.complainant {
        None => {
            violations.push("submission.complainant", "is required");
            None
        }
        Some(c) => {
            let name = violations.check(parse::required_text(
                "submission.complainant.name",
                c.name,
                200,
            ));
            let role = violations.check(parse::required_text(
                "submission.complainant.role",
                c.role,
                200,
            ));
            let email = violations.check(
                parse::required_text("submission.complainant.email", c.email, 320).and_then(
                    |email| match email.contains('@') && email.chars().count() >= 3 {
                        true => Ok(email),
                        false => Err(Violation::new(
                            "submission.complainant.email",
                            "must be an email address",
                        )),
                    },
                ),
            );
            let phone =
                violations.check(optional_text("submission.complainant.phone", c.phone, 50));
            match (name, role, email, phone) {
                (Some(name), Some(role), Some(email), Some(phone)) => Some(Contact {
                    name,
                    role,
                    email,
                    phone,
                }),
                _ => None,
            }
        }
    };
    let narrative = violations.check(parse::required_text(
        "submission.narrative",
        s.narrative,
        MAX_NARRATIVE_CHARS,
    ));
    let doc_refs = if s.doc_refs.len() > MAX_DOC_REFS {
        violations.push(
            "submission.doc_refs",
            format!("must have at most {MAX_DOC_REFS} values"),
        );
        None
    } else {
        let refs: Vec<Option<String>> = s
            .doc_refs
            .into_iter()
            .enumerate()
            .map(|(i, r)| violations.check(reference(&format!("submission.doc_refs[{i}]"), r)))
            .collect();
        refs.into_iter().collect::<Option<Vec<String>>>()
    };
    let provider = violations.check(optional_text(
        "submission.provider_id",
        s.provider_id,
        MAX_PROVIDER_CHARS,
    ));
    let provider_id = match (provider, &caller.provider) {
        (None, _) => None,
        (Some(named), Some(own)) => Some(match named {
            Some(named) if &named != own => ProviderChoice::Other,
            _ => ProviderChoice::Own(own.clone()),
        }),
        (Some(Some(named)), None) => Some(ProviderChoice::OnBehalfOf(named)),
        (Some(None), None) => {
            violations.push(
                "submission.provider_id",
                "is required when submitting on a provider's behalf",
            );
            None
        }
    };
    Some(Submission {
        inspection_id: inspection_id?,
        grounds: grounds?,
        contact: contact?,
        narrative: narrative?,
        doc_refs: doc_refs?,
        provider_id: provider_id?,
    })
}

/// A checked `SubmitFormalComplaint`.
#[derive(Debug)]
pub(crate) struct Submit {
    pub(crate) key: CommandKey,
    pub(crate) submission: Submission,
    pub(crate) route_override_reason_ref: Option<String>,
}

pub(crate) fn submit(
    caller: &Principal,
    request: v1::SubmitFormalComplaintRequest,
) -> Result<Submit, Status> {
    let mut v = FieldViolations::new();
    let key = key(
        &mut v,
        caller,
        "SubmitFormalComplaint",
        &request.request_id,
        &request,
    );
    let reason = v.check(optional_text(
        "route_override_reason_ref",
        request.route_override_reason_ref,
        MAX_REF_CHARS,
    ));
    let submission = submission(&mut v, caller, request.submission);
    let (key, submission, route_override_reason_ref) = v.finish((key, submission, reason))?;
    Ok(Submit {
        key,
        submission,
        route_override_reason_ref,
    })
}

/// A checked `AcceptOutOfTimeComplaint`.
#[derive(Debug)]
pub(crate) struct AcceptOutOfTime {
    pub(crate) key: CommandKey,
    pub(crate) submission: Submission,
    pub(crate) justification_ref: String,
}

pub(crate) fn accept_out_of_time(
    caller: &Principal,
    request: v1::AcceptOutOfTimeComplaintRequest,
) -> Result<AcceptOutOfTime, Status> {
    let mut v = FieldViolations::new();
    let key = key(
        &mut v,
        caller,
        "AcceptOutOfTimeComplaint",
        &request.request_id,
        &request,
    );
    let justification = v.check(reference("justification_ref", request.justification_ref));
    let submission = submission(&mut v, caller, request.submission);
    let (key, submission, justification_ref) = v.finish((key, submission, justification))?;
    Ok(AcceptOutOfTime {
        key,
        submission,
        justification_ref,
    })
}

/// A checked command about an existing complaint.
#[derive(Debug)]
pub(crate) struct OnComplaint<T> {
    pub(crate) key: CommandKey,
    pub(crate) complaint_id: Uuid,
    pub(crate) args: T,
}

fn on_complaint<T>(
    mut v: FieldViolations,
    key: Option<CommandKey>,
    complaint_id: &str,
    args: Option<T>,
) -> Result<OnComplaint<T>, Status> {
    let id = v.check(parse::uuid("complaint_id", complaint_id));
    let (key, complaint_id, args) = v.finish((key, id, args))?;
    Ok(OnComplaint {
        key,
        complaint_id,
        args,
    })
}

pub(crate) fn acknowledge(
    caller: &Principal,
    r: v1::AcknowledgeComplaintRequest,
) -> Result<OnComplaint<()>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "AcknowledgeComplaint", &r.request_id, &r);
    on_complaint(v, key, &r.complaint_id, Some(()))
}

pub(crate) fn add_information(
    caller: &Principal,
    r: v1::AddComplaintInformationRequest,
) -> Result<OnComplaint<String>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "AddComplaintInformation", &r.request_id, &r);
    let doc_ref = v.check(reference("doc_ref", r.doc_ref));
    on_complaint(v, key, &r.complaint_id, doc_ref)
}

pub(crate) fn assign_investigator(
    caller: &Principal,
    r: v1::AssignInvestigatorRequest,
) -> Result<OnComplaint<()>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "AssignInvestigator", &r.request_id, &r);
    on_complaint(v, key, &r.complaint_id, Some(()))
}

/// A checked investigation call.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) notes_ref: String,
    pub(crate) accompanied: bool,
    pub(crate) held_at: Timestamp,
}

pub(crate) fn record_call(
    caller: &Principal,
    r: v1::RecordInvestigationCallRequest,
    now: Timestamp,
) -> Result<OnComplaint<Call>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "RecordInvestigationCall", &r.request_id, &r);
    let notes_ref = v.check(reference("notes_ref", r.notes_ref));
    let held_at = v.check(match r.held_at.as_ref() {
        None => Err(Violation::new("held_at", "is required")),
        // A protobuf Timestamp keeps its nanos in 0..1e9; jiff would fold negative ones into
        // the second before.
        Some(t) => match Timestamp::new(t.seconds, t.nanos) {
            Ok(at) if (0..1_000_000_000).contains(&t.nanos) => Ok(at),
            _ => Err(Violation::new("held_at", "must be a valid timestamp")),
        }
        .and_then(|at| match at {
            at if at > now => Err(Violation::new("held_at", "must not be in the future")),
            at if at < EARLIEST_CALL => {
                Err(Violation::new("held_at", "must not be before 2000-01-01"))
            }
            at => Ok(at),
        }),
    });
    let call = match (notes_ref, held_at) {
        (Some(notes_ref), Some(held_at)) => Some(Call {
            notes_ref,
            accompanied: r.accompanied,
            held_at,
        }),
        _ => None,
    };
    on_complaint(v, key, &r.complaint_id, call)
}

/// A checked extension.
#[derive(Debug)]
pub(crate) struct Extension {
    pub(crate) days: NonZeroU32,
    pub(crate) reason: ExtensionReason,
    pub(crate) reason_ref: String,
}

pub(crate) fn extend(
    caller: &Principal,
    r: v1::ExtendResponseDeadlineRequest,
) -> Result<OnComplaint<Extension>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "ExtendResponseDeadline", &r.request_id, &r);
    let days = v.check(
        NonZeroU32::new(r.additional_working_days)
            .filter(|d| d.get() <= MAX_EXTENSION_DAYS)
            .ok_or_else(|| {
                Violation::new(
                    "additional_working_days",
                    format!("must be 1–{MAX_EXTENSION_DAYS}"),
                )
            }),
    );
    let reason = v.check(category("reason", r.reason, ExtensionReason::from_proto));
    let reason_ref = v.check(reference("reason_ref", r.reason_ref));
    let args = match (days, reason, reason_ref) {
        (Some(days), Some(reason), Some(reason_ref)) => Some(Extension {
            days,
            reason,
            reason_ref,
        }),
        _ => None,
    };
    on_complaint(v, key, &r.complaint_id, args)
}

/// A checked response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) outcome: ComplaintOutcome,
    pub(crate) remedies: BTreeSet<Remedy>,
    pub(crate) response_doc_ref: String,
}

pub(crate) fn issue_response(
    caller: &Principal,
    r: v1::IssueComplaintResponseRequest,
) -> Result<OnComplaint<Response>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "IssueComplaintResponse", &r.request_id, &r);
    let outcome = v.check(category("outcome", r.outcome, ComplaintOutcome::from_proto));
    let remedies = categories(
        &mut v,
        "remedies",
        &r.remedies,
        MAX_REMEDIES,
        Remedy::from_proto,
    );
    let doc = v.check(reference("response_doc_ref", r.response_doc_ref));
    let args = match (outcome, remedies, doc) {
        (Some(outcome), Some(remedies), Some(response_doc_ref)) => Some(Response {
            outcome,
            remedies,
            response_doc_ref,
        }),
        _ => None,
    };
    on_complaint(v, key, &r.complaint_id, args)
}

pub(crate) fn withdraw(
    caller: &Principal,
    r: v1::WithdrawComplaintRequest,
) -> Result<OnComplaint<WithdrawalReason>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "WithdrawComplaint", &r.request_id, &r);
    let reason = v.check(category("reason", r.reason, WithdrawalReason::from_proto));
    on_complaint(v, key, &r.complaint_id, reason)
}

pub(crate) fn select_for_review(
    caller: &Principal,
    r: v1::SelectForPeriodicReviewRequest,
) -> Result<OnComplaint<Uuid>, Status> {
    let mut v = FieldViolations::new();
    let key = key(&mut v, caller, "SelectForPeriodicReview", &r.request_id, &r);
    let panel = v.check(parse::uuid("panel_id", &r.panel_id));
    on_complaint(v, key, &r.complaint_id, panel)
}

/// A checked query for one complaint.
#[derive(Debug)]
pub(crate) struct ById {
    pub(crate) complaint_id: Uuid,
    pub(crate) consistency: Consistency,
}

pub(crate) fn by_id(
    complaint_id: &str,
    read: Option<proto::common::v1::ReadConsistency>,
    cap: Duration,
) -> Result<ById, Status> {
    let complaint_id = parse::uuid("complaint_id", complaint_id)?;
    Ok(ById {
        complaint_id,
        consistency: consistency(read, cap),
    })
}

/// A checked `ListComplaints`.
#[derive(Debug)]
pub(crate) struct List {
    pub(crate) provider_id: Option<String>,
    pub(crate) status: Option<i32>,
    pub(crate) page: Page,
    pub(crate) consistency: Consistency,
}

pub(crate) fn list(r: v1::ListComplaintsRequest, cap: Duration) -> Result<List, Status> {
    let mut v = FieldViolations::new();
    let provider_id = v.check(optional_text(
        "provider_id",
        r.provider_id,
        MAX_PROVIDER_CHARS,
    ));
    let status = v.check(match v1::ComplaintStatus::try_from(r.status) {
        Ok(v1::ComplaintStatus::Unspecified) => Ok(None),
        Ok(status) => Ok(Some(status as i32)),
        Err(_) => Err(Violation::new("status", "must be one of the listed values")),
    });
    let page = page(&mut v, r.page_size, &r.page_token);
    let (provider_id, status, page) = v.finish((provider_id, status, page))?;
    Ok(List {
        provider_id,
        status,
        page,
        consistency: consistency(r.consistency, cap),
    })
}

/// A checked `ListClosedComplaintSamples`.
#[derive(Debug)]
pub(crate) struct Samples {
    pub(crate) page: Page,
    pub(crate) consistency: Consistency,
}

pub(crate) fn samples(
    r: v1::ListClosedComplaintSamplesRequest,
    cap: Duration,
) -> Result<Samples, Status> {
    let mut v = FieldViolations::new();
    let page = page(&mut v, r.page_size, &r.page_token);
    let page = v.finish(page)?;
    Ok(Samples {
        page,
        consistency: consistency(r.consistency, cap),
    })
}
