//! The event schema's conventions, checked on the compiled descriptor: no personal data or free
//! text (references, ids, versions and dates only), `UNSPECIFIED = 0` in every enum, the §5.5
//! event names, and every category mirroring its protobuf enum.

use learning_reviews::domain::review::Event;
use learning_reviews::domain::{
    Approver, Audience, IncidentCategory, IncidentSource, PriorRole, RecommendationResponse,
    RecommendationSource, RegisterDecision, ScopeItem,
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
        .find(|f| f.name() == "redress/learning_reviews/v1/events.proto")
        .expect("the learning-review events are compiled in")
}

/// Text fields that hold a fixed name rather than a reference: the connection kind (one of four,
/// `Connection::ALL`) and the adjudicator's recommendation kind (an enum value name of
/// `redress.escalation.v1.RecommendationKind`).
const ENUMERATED_NAMES: [&str; 2] = [
    "InspectionConnectionsRecorded.connection",
    "RegisterRecommendationRecorded.kind",
];

#[test]
fn every_text_field_is_a_reference_an_id_a_version_or_a_date() {
    let allowed_suffixes = ["_ref", "_refs", "_id", "_ids", "_version", "_on"];
    let mut offenders = Vec::new();
    for message in events_file().message_type {
        for field in &message.field {
            let path = format!("{}.{}", message.name(), field.name());
            if field.r#type() == Type::String
                && !allowed_suffixes.iter().any(|s| field.name().ends_with(s))
                && !ENUMERATED_NAMES.contains(&path.as_str())
            {
                offenders.push(path);
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
    let file = events_file();
    assert!(!file.enum_type.is_empty());
    for enumeration in file.enum_type {
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
fn the_events_of_the_research_are_all_there() {
    let names: Vec<String> = events_file()
        .message_type
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    for expected in [
        "IncidentReported",
        "IncidentAssessed",
        "LearningReviewCommissioningDecided",
        "LearningReviewCommissioned",
        "ReviewerAppointed",
        "TermsOfReferencePublished",
        "RecordsAccessGranted",
        "InterviewRecorded",
        "FamilyEngagementOffered",
        "FamilyEngagementHeld",
        "SpecialistAdviceObtained",
        "LearningReviewReportSubmitted",
        "LearningReviewReportPublished",
        "LearningRecommendationResponded",
        "LearningReviewResponsePublished",
        "ImprovementMonitoringReportPublished",
        "LessonsDisseminated",
        "LearningReviewClosed",
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
    round_trips(
        IncidentSource::ALL,
        IncidentSource::to_proto,
        IncidentSource::from_proto,
    );
    round_trips(
        IncidentCategory::ALL,
        IncidentCategory::to_proto,
        IncidentCategory::from_proto,
    );
    round_trips(Approver::ALL, Approver::to_proto, Approver::from_proto);
    round_trips(ScopeItem::ALL, ScopeItem::to_proto, ScopeItem::from_proto);
    round_trips(PriorRole::ALL, PriorRole::to_proto, PriorRole::from_proto);
    round_trips(
        RecommendationResponse::ALL,
        RecommendationResponse::to_proto,
        RecommendationResponse::from_proto,
    );
    round_trips(Audience::ALL, Audience::to_proto, Audience::from_proto);
    round_trips(
        RecommendationSource::ALL,
        RecommendationSource::to_proto,
        RecommendationSource::from_proto,
    );
    round_trips(
        RegisterDecision::ALL,
        RegisterDecision::to_proto,
        RegisterDecision::from_proto,
    );
}

#[test]
fn not_accepted_is_declined_in_the_register() {
    assert_eq!(
        RecommendationResponse::NotAccepted.register_decision(),
        RegisterDecision::Declined
    );
    assert_eq!(
        RecommendationResponse::PartlyAccepted.register_decision(),
        RegisterDecision::PartlyAccepted
    );
    assert_eq!(
        RecommendationResponse::Accepted.register_decision(),
        RegisterDecision::Accepted
    );
}

#[test]
fn an_unknown_event_type_is_reported_not_guessed() {
    assert!(Event::decode("redress.learning_reviews.v1.Nope", &[]).is_err());
}
