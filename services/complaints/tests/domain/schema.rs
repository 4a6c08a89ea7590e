//! The event schema's conventions, checked on the compiled descriptor rather than by reading:
//! no personal data or free text (references, ids, versions and dates only), `UNSPECIFIED = 0` in
//! every enum, policy and calendar versions beside every deadline, the §5.3 event names, and the
//! domain categories mirroring the protobuf enums.

use complaints::domain::*;
use prost::Message;
use prost_types::field_descriptor_proto::Type;
use prost_types::{DescriptorProto, FileDescriptorProto, FileDescriptorSet};

fn events_file() -> FileDescriptorProto {
    FileDescriptorSet::decode(proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set decodes")
        .file
        .into_iter()
        .find(|f| f.name() == "redress/complaints/v1/events.proto")
        .expect("the complaints events are compiled in")
}

fn messages() -> Vec<DescriptorProto> {
    events_file().message_type
}

#[test]
fn every_text_field_of_every_event_is_a_reference_an_id_a_version_or_a_date() {
    let allowed_suffixes = ["_ref", "_refs", "_id", "_version", "_on", "_date"];
    let mut offenders = Vec::new();
    for message in messages() {
        for field in &message.field {
            if field.r#type() == Type::String
                && !allowed_suffixes.iter().any(|s| field.name().ends_with(s))
            {
                offenders.push(format!("{}.{}", message.name(), field.name()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "free text could carry personal data: {offenders:?}"
    );
}

#[test]
fn every_enum_starts_with_unspecified_at_zero() {
    for enumeration in events_file().enum_type {
        let first = &enumeration.value[0];
        assert_eq!(first.number(), 0, "{}", enumeration.name());
        assert!(
            first.name().ends_with("_UNSPECIFIED"),
            "{}: {}",
            enumeration.name(),
            first.name()
        );
    }
}

#[test]
fn every_event_carrying_a_deadline_carries_the_policy_and_calendar_versions() {
    let is_deadline = |name: &str| {
        name.ends_with("_due_at")
            || name.ends_with("closes_at")
            || name.ends_with("deadline")
            || name.ends_with("expected_by")
    };
    let mut deadline_events = 0;
    for message in messages() {
        let names: Vec<&str> = message.field.iter().map(|f| f.name()).collect();
        if names.iter().any(|n| is_deadline(n)) {
            deadline_events += 1;
            assert!(
                names.contains(&"policy_version") && names.contains(&"calendar_version"),
                "{} has a deadline but not both versions",
                message.name()
            );
        }
    }
    assert!(deadline_events >= 10, "{deadline_events}");
}

#[test]
fn the_events_are_the_facts_named_in_the_domain_model() {
    let mut names: Vec<String> = messages().iter().map(|m| m.name().to_owned()).collect();
    names.sort();
    let mut expected = vec![
        "InspectionNotified",
        "InspectionDeferred",
        "OnSiteVisitStarted",
        "DutyDeskConsulted",
        "InspectionPaused",
        "InspectionResumed",
        "InspectionDeemedIncomplete",
        "OnSiteVisitEnded",
        "DraftReportIssued",
        "FormalComplaintWindowOpened",
        "FactualAccuracyPointsSubmitted",
        "PublicationHoldPlaced",
        "PublicationHoldReleased",
        "FinalReportIssued",
        "ReportPublished",
        "PublicationDelayExplanationDue",
        "PublicationDelayExplained",
        "WellbeingContactRecorded",
        "TribunalAppealLodged",
        "TribunalAppealConcluded",
        "ConcernRaised",
        "ConcernAssigned",
        "ConcernResolved",
        "ConcernLeftUnresolved",
        "ConcernWithdrawn",
        "WellbeingRiskFlagged",
        "ComplaintSubmitted",
        "OutOfTimeComplaintAccepted",
        "ComplaintAcknowledged",
        "ComplaintInformationAdded",
        "InvestigatorAssigned",
        "InvestigationCallHeld",
        "ResponseDeadlineExtended",
        "ComplaintResponseOverdue",
        "ComplaintResponseIssued",
        "EscalationRightsNotified",
        "ComplaintWithdrawn",
        "ComplaintClosed",
        "ClosedComplaintSampledForReview",
        "SensitiveCaseFlagged",
        "ComplaintEscalated",
        "ComplaintEscalationWithdrawn",
        "ComplaintReopenedForReconsideration",
        "ComplaintSubmissionRejected",
        "ConcernRejected",
        "DataSubjectForgotten",
    ];
    expected.sort_unstable();
    assert_eq!(names, expected);
}

/// Every value of a domain category survives the trip to its protobuf twin and back, and no two
/// values share a number.
macro_rules! round_trips {
    ($($category:ident),+ $(,)?) => {$(
        let mut numbers = std::collections::BTreeSet::new();
        for value in $category::ALL {
            assert_eq!($category::from_proto(value.to_proto()), Some(*value));
            assert!(numbers.insert(value.to_proto()), "{value:?}");
            assert_ne!(value.to_proto(), 0, "{value:?}");
        }
        assert_eq!($category::from_proto(0), None, stringify!($category));
        assert_eq!($category::from_proto(10_000), None, stringify!($category));
    )+};
}

#[test]
fn every_category_mirrors_its_protobuf_enum() {
    round_trips!(
        Remit,
        DeferralReason,
        PauseInitiator,
        PauseReason,
        DutyDesk,
        WindowStart,
        HoldReleaseReason,
        PublicationDelayReason,
        WellbeingContactKind,
        ConcernChannel,
        ConcernTopic,
        Redirect,
        RejectionReason,
        ComplaintRoute,
        ComplaintGround,
        ExtensionReason,
        ComplaintOutcome,
        Remedy,
        WithdrawalReason,
        ClosureReason,
        EscalationRoute,
        TribunalAppealOutcome,
        ErasureGround,
    );
}

#[test]
fn the_intake_rejection_reasons_spell_the_domain_reason_codes() {
    use complaints::domain::complaint::Rejection as Complaint;
    use complaints::domain::concern::Rejection as Concern;
    let pairs = [
        (
            RejectionReason::TooEarly,
            Concern::TooEarly {
                redirect: None,
                opens_at: None,
            }
            .reason(),
        ),
        (
            RejectionReason::WindowClosed,
            Concern::WindowClosed {
                redirect: Redirect::FormalComplaintAtDraft,
                closed_at: jiff::Timestamp::UNIX_EPOCH,
            }
            .reason(),
        ),
        (
            RejectionReason::NotDuringInspection,
            Concern::NotDuringInspection { redirect: None }.reason(),
        ),
        (
            RejectionReason::OutOfTime,
            Complaint::OutOfTime {
                window_closed_at: jiff::Timestamp::UNIX_EPOCH,
            }
            .reason(),
        ),
        (
            RejectionReason::DuplicateOpen,
            Complaint::DuplicateOpen {
                existing: uuid::Uuid::nil(),
            }
            .reason(),
        ),
        (
            RejectionReason::RouteAlreadyChosen,
            Complaint::RouteAlreadyChosen.reason(),
        ),
        (
            RejectionReason::NoDraftReport,
            Complaint::NoDraftReport.reason(),
        ),
        (
            RejectionReason::TribunalAppealPending,
            Complaint::TribunalAppealPending.reason(),
        ),
    ];
    for (category, code) in pairs {
        let proto_name = v1::RejectionReason::try_from(category.to_proto())
            .expect("a known value")
            .as_str_name();
        assert_eq!(proto_name, format!("REJECTION_REASON_{code}"));
    }
}
