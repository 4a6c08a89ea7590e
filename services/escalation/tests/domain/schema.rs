//! The event schema's conventions, checked on the compiled descriptor: no personal data or free
//! text (references, ids, versions and dates only), `UNSPECIFIED = 0` in every enum, policy and
//! calendar versions beside every deadline, the §5.4 event names, and every message decodable
//! as a domain event.

use escalation::domain::escalation::Event;
use escalation::domain::{
    ComplaintOutcome, Ground, OutOfRemitAsk, RecommendationKind, RefusalReason,
};
use platform::aggregate::DomainEvent;
use prost::Message;
use prost_types::field_descriptor_proto::Type;
use prost_types::{FileDescriptorProto, FileDescriptorSet};

fn events_file() -> FileDescriptorProto {
    FileDescriptorSet::decode(proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set decodes")
        .file
        .into_iter()
        .find(|f| f.name() == "redress/escalation/v1/events.proto")
        .expect("the escalation events are compiled in")
}

#[test]
fn every_text_field_is_a_reference_an_id_a_version_or_a_date() {
    let allowed_suffixes = ["_ref", "_refs", "_id", "_version", "_on"];
    let mut offenders = Vec::new();
    for message in events_file().message_type {
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
            "{}",
            enumeration.name()
        );
    }
}

#[test]
fn every_event_carrying_a_window_carries_the_policy_and_calendar_versions() {
    for message in events_file().message_type {
        let names: Vec<&str> = message.field.iter().map(|f| f.name()).collect();
        if names.iter().any(|n| n.ends_with("closes_at")) {
            assert!(
                names.contains(&"policy_version") && names.contains(&"calendar_version"),
                "{}",
                message.name()
            );
        }
    }
}

#[test]
fn the_events_of_the_research_are_all_there() {
    let names: Vec<String> = events_file()
        .message_type
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    for expected in [
        "ComplaintResponseRecorded",
        "ComplaintWithdrawalRecorded",
        "EscalationRequested",
        "OutOfRemitElementsNoted",
        "EscalationRefused",
        "EscalationReferred",
        "EscalationAcceptedByIndependentBody",
        "EscalationDeclinedByIndependentBody",
        "AdjudicatorAppointed",
        "CaseFileAccessed",
        "AdjudicationFindingsIssued",
        "RecommendationAccepted",
        "RecommendationDeclined",
        "PublicStatementPublished",
        "RecommendationImplemented",
        "EscalationClosed",
        "EscalationWithdrawn",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} is missing");
    }
}

#[test]
fn the_categories_mirror_the_protobuf_enums() {
    fn round_trips<T: Copy + PartialEq + std::fmt::Debug>(
        all: &[T],
        to: fn(T) -> i32,
        from: fn(i32) -> Option<T>,
    ) {
        for value in all {
            assert_eq!(from(to(*value)), Some(*value));
        }
        assert_eq!(from(0), None);
        assert_eq!(from(i32::MAX), None);
    }
    round_trips(Ground::ALL, Ground::to_proto, Ground::from_proto);
    round_trips(
        OutOfRemitAsk::ALL,
        OutOfRemitAsk::to_proto,
        OutOfRemitAsk::from_proto,
    );
    round_trips(
        RefusalReason::ALL,
        RefusalReason::to_proto,
        RefusalReason::from_proto,
    );
    round_trips(
        RecommendationKind::ALL,
        RecommendationKind::to_proto,
        RecommendationKind::from_proto,
    );
    round_trips(
        ComplaintOutcome::ALL,
        ComplaintOutcome::to_proto,
        ComplaintOutcome::from_proto,
    );
}

#[test]
fn an_unknown_event_type_is_reported_not_guessed() {
    assert!(Event::decode("redress.escalation.v1.Nope", &[]).is_err());
}
