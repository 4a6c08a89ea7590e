//! Bad field values (reliability plan §6.3), as tables of cases. NUL, a right-to-left override
//! and each timestamp edge go into every field of every RPC that has one, found through the
//! descriptors; lengths, UUIDs, enums and repeated fields go into each service's main command.
//!
//! A value a command must accept is sent together with one other field spoiled (its id nil),
//! so the answer is INVALID_ARGUMENT naming only the spoiler: the value passed the parse step
//! and nothing was written.

use platform::grpc::Role;
use prost_reflect::{DynamicMessage, Kind, MessageDescriptor, Value};

use crate::matrix::allowed;
use crate::rpc::{self, Fill, Rpc};
use crate::stack::{Case, Stack, TOO_LARGE};

const NIL: &str = "00000000-0000-0000-0000-000000000000";

/// Each gRPC service's main command, the caller used, and the field spoiled when a case
/// needs the request refused for another reason.
const MAIN: [(&str, Role, &str); 4] = [
    (
        "Complaints.SubmitFormalComplaint",
        Role::ProviderRepresentative,
        "submission.inspection_id",
    ),
    (
        "Inspections.RecordInspectionNotified",
        Role::InspectionSystem,
        "inspection_id",
    ),
    (
        "Escalations.RequestEscalation",
        Role::ProviderRepresentative,
        "complaint_id",
    ),
    ("LearningReviews.ReportIncident", Role::Hmci, "source"),
];

/// Sets the field at `path` (`submission.complainant.name`) of a filled request.
pub fn set(message: &mut DynamicMessage, path: &str, value: Value) {
    match path.split_once('.') {
        None => message.set_field_by_name(path, value),
        Some((head, rest)) => match message.get_field_by_name_mut(head) {
            Some(Value::Message(inner)) => set(inner, rest, value),
            other => panic!("{path}: {head} is not a set message field ({other:?})"),
        },
    }
}

/// The value that spoils `field`: a nil id or an UNSPECIFIED enum.
fn spoil(message: &mut DynamicMessage, field: &str) {
    let value = if field == "source" {
        Value::EnumNumber(0)
    } else {
        Value::String(NIL.to_owned())
    };
    set(message, field, value);
}

/// The string fields a filled request of `descriptor` carries, as paths, with whether each is
/// repeated (oneof members other than the first, and read consistency, stay unset).
fn string_fields(descriptor: &MessageDescriptor, prefix: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for field in descriptor.fields() {
        if rpc::left_unset(&field) {
            continue;
        }
        let path = format!("{prefix}{}", field.name());
        match field.kind() {
            Kind::String => out.push((path, field.is_list())),
            Kind::Message(inner)
                if !field.is_list()
                    && !inner.full_name().starts_with("google.protobuf.")
                    && inner.full_name() != "redress.common.v1.ReadConsistency" =>
            {
                out.extend(string_fields(&inner, &format!("{path}.")));
            }
            _ => {}
        }
    }
    out
}

fn string_value(repeated: bool, text: String) -> Value {
    if repeated {
        Value::List(vec![Value::String(text)])
    } else {
        Value::String(text)
    }
}

/// A caller the policy lets through `rpc`.
fn caller_of(rpc: &Rpc) -> Role {
    allowed(&rpc.name()).unwrap_or_default()[0]
}

#[tokio::test]
async fn nul_and_bidirectional_overrides_are_refused_in_every_string_field_of_every_rpc() {
    // Arrange
    let stack = Stack::start().await;
    let mut cases = Vec::new();
    for rpc in rpc::rpcs() {
        for (path, repeated) in string_fields(&rpc.input(), "") {
            for (what, text) in [("NUL", "Before\0after"), ("U+202E", "Before\u{202E}after")] {
                let mut request = rpc::well_formed(&rpc, &Fill::new());
                set(&mut request, &path, string_value(repeated, text.to_owned()));
                cases.push(Case::invalid(
                    &stack,
                    format!("{path} with {what}"),
                    &rpc,
                    &request,
                    Some(caller_of(&rpc)),
                    &path,
                ));
            }
        }
    }
    // Act / Assert
    stack.run(cases).await;
}

#[tokio::test]
async fn every_timestamp_field_refuses_year_1_year_9999_and_out_of_range_nanos() {
    // Arrange
    let stack = Stack::start().await;
    let recent = jiff::Timestamp::now().as_second() - 3600;
    let mut cases = Vec::new();
    for rpc in rpc::rpcs() {
        let input = rpc.input();
        let timestamps = input.fields().filter(|field| {
            matches!(field.kind(), Kind::Message(m) if m.full_name() == "google.protobuf.Timestamp")
        });
        for field in timestamps {
            for (what, seconds, nanos) in [
                ("year 1", -62_135_596_800, 0),
                ("year 9999", 253_402_300_799, 0),
                ("negative nanos", recent, -1),
                ("nanos of a whole second", recent, 1_000_000_000),
            ] {
                let mut request = rpc::well_formed(&rpc, &Fill::new());
                request.set_field(&field, Value::Message(rpc::timestamp(seconds, nanos)));
                cases.push(Case::invalid(
                    &stack,
                    format!("{} at {what}", field.name()),
                    &rpc,
                    &request,
                    Some(caller_of(&rpc)),
                    field.name(),
                ));
            }
        }
    }
    assert!(
        cases.len() >= 4 * 10,
        "the Inspections facts carry timestamps"
    );
    // Act / Assert
    stack.run(cases).await;
}

/// A string field of a main command: its path, the most characters it takes, whether it is
/// required, and whether it is an ASCII key.
struct Limit {
    path: &'static str,
    max: usize,
    required: bool,
    ascii: bool,
    repeated: bool,
}

const fn text(path: &'static str, max: usize, required: bool) -> Limit {
    Limit {
        path,
        max,
        required,
        ascii: false,
        repeated: false,
    }
}

const fn key() -> Limit {
    Limit {
        path: "request_id",
        max: 128,
        required: true,
        ascii: true,
        repeated: false,
    }
}

fn limits(command: &str) -> Vec<Limit> {
    let list = |path, max| Limit {
        repeated: true,
        ..text(path, max, true)
    };
    match command {
        "Complaints.SubmitFormalComplaint" => vec![
            key(),
            text("submission.narrative", 20_000, true),
            text("submission.complainant.name", 200, true),
            text("submission.complainant.role", 200, true),
            text("submission.complainant.email", 320, true),
            text("submission.complainant.phone", 50, false),
            list("submission.doc_refs", 200),
            text("submission.provider_id", 100, false),
            text("route_override_reason_ref", 200, false),
        ],
        "Inspections.RecordInspectionNotified" => vec![
            key(),
            text("provider_id", 128, true),
            text("lead_inspector_ref", 128, true),
            list("team_inspector_refs", 128),
        ],
        "Escalations.RequestEscalation" => vec![key()],
        "LearningReviews.ReportIncident" => vec![key(), text("account_ref", 200, true)],
        other => panic!("no limits for {other}"),
    }
}

/// `n` characters of `unit` for `limit`, shaped as the field needs (an email keeps its `@`).
fn sized(limit: &Limit, unit: &str, n: usize) -> String {
    if limit.path.ends_with("email") {
        format!("h@{}", unit.repeat(n - 2))
    } else {
        unit.repeat(n)
    }
}

#[tokio::test]
async fn main_commands_take_strings_up_to_their_limit_in_characters_and_refuse_longer_or_blank_ones()
 {
    // Arrange
    let stack = Stack::start().await;
    let mut cases = Vec::new();
    for (command, role, spoiler) in MAIN {
        let rpc = rpc::rpc(command);
        for limit in limits(command) {
            let n = limit.max;
            let mut values: Vec<(String, String, bool)> = vec![
                ("at the limit".into(), sized(&limit, "a", n), true),
                ("one over".into(), sized(&limit, "a", n + 1), false),
                ("ten times over".into(), sized(&limit, "a", 10 * n), false),
                (
                    "at the limit in 4-byte UTF-8".into(),
                    sized(&limit, "😀", n),
                    !limit.ascii,
                ),
                (
                    "one over in 4-byte UTF-8".into(),
                    sized(&limit, "😀", n + 1),
                    false,
                ),
                (
                    "with U+200B".into(),
                    sized(&limit, "a\u{200B}", 4),
                    !limit.ascii,
                ),
                ("whitespace only".into(), " \t ".into(), false),
                ("empty".into(), String::new(), !limit.required),
            ];
            if !limit.ascii {
                let combining = sized(&limit, "e\u{301}", n / 2);
                values.push(("combining characters at the limit".into(), combining, true));
            }
            for (what, value, accepted) in values {
                let mut request = rpc::well_formed(&rpc, &Fill::new());
                set(
                    &mut request,
                    limit.path,
                    string_value(limit.repeated, value),
                );
                let name = format!("{} {what}", limit.path);
                let case = if accepted {
                    spoil(&mut request, spoiler);
                    Case {
                        not_named: Some(limit.path.to_owned()),
                        before_the_server: false,
                        ..Case::invalid(&stack, name, &rpc, &request, Some(role), spoiler)
                    }
                } else {
                    Case::invalid(&stack, name, &rpc, &request, Some(role), limit.path)
                };
                cases.push(case);
            }
        }
    }
    // Act / Assert
    stack.run(cases).await;
}

/// The id fields of the main commands.
const IDS: [(&str, &str, bool); 4] = [
    (
        "Complaints.SubmitFormalComplaint",
        "submission.inspection_id",
        false,
    ),
    (
        "Inspections.RecordInspectionNotified",
        "inspection_id",
        false,
    ),
    ("Escalations.RequestEscalation", "complaint_id", false),
    (
        "LearningReviews.ReportIncident",
        "related_inspection_ids",
        true,
    ),
];

#[tokio::test]
async fn main_commands_refuse_malformed_and_nil_uuids() {
    // Arrange
    let stack = Stack::start().await;
    let valid = uuid::Uuid::now_v7().to_string();
    let mut cases = Vec::new();
    for (command, field, repeated) in IDS {
        let rpc = rpc::rpc(command);
        let role = MAIN.iter().find(|m| m.0 == command).unwrap().1;
        let values = [
            ("nil", NIL.to_owned()),
            ("not a UUID", "INS-1".to_owned()),
            ("one character short", valid[..35].to_owned()),
            ("one character long", format!("{valid}0")),
            ("in braces", format!("{{{valid}}}")),
            ("without hyphens", valid.replace('-', "")),
            ("as a URN", format!("urn:uuid:{valid}")),
            ("with U+200B", format!("{}\u{200B}", &valid[..35])),
            ("empty", String::new()),
        ];
        for (what, value) in values {
            let mut request = rpc::well_formed(&rpc, &Fill::new());
            set(&mut request, field, string_value(repeated, value));
            cases.push(Case::invalid(
                &stack,
                format!("{field} {what}"),
                &rpc,
                &request,
                Some(role),
                field,
            ));
        }
        // Either case is a UUID: refused only for the spoiled key.
        let mut request = rpc::well_formed(&rpc, &Fill::new());
        set(
            &mut request,
            field,
            string_value(repeated, valid.to_uppercase()),
        );
        set(&mut request, "request_id", Value::String(String::new()));
        cases.push(Case {
            not_named: Some(field.to_owned()),
            before_the_server: false,
            ..Case::invalid(
                &stack,
                format!("{field} in upper case"),
                &rpc,
                &request,
                Some(role),
                "request_id",
            )
        });
    }
    // Act / Assert
    stack.run(cases).await;
}

/// The enum fields of the main commands, and whether each is repeated.
const ENUMS: [(&str, &str, bool); 6] = [
    (
        "Complaints.SubmitFormalComplaint",
        "submission.grounds",
        true,
    ),
    ("Inspections.RecordInspectionNotified", "remit", false),
    ("Escalations.RequestEscalation", "grounds", true),
    ("Escalations.RequestEscalation", "out_of_remit_asks", true),
    ("LearningReviews.ReportIncident", "source", false),
    ("LearningReviews.ReportIncident", "category", false),
];

#[tokio::test]
async fn main_commands_refuse_unspecified_and_unknown_enum_values() {
    // Arrange
    let stack = Stack::start().await;
    let mut cases = Vec::new();
    for (command, field, repeated) in ENUMS {
        let rpc = rpc::rpc(command);
        let role = MAIN.iter().find(|m| m.0 == command).unwrap().1;
        for number in [0, 9999, -1] {
            let mut request = rpc::well_formed(&rpc, &Fill::new());
            let value = Value::EnumNumber(number);
            let value = if repeated {
                Value::List(vec![value])
            } else {
                value
            };
            set(&mut request, field, value);
            cases.push(Case::invalid(
                &stack,
                format!("{field} = {number}"),
                &rpc,
                &request,
                Some(role),
                field,
            ));
        }
    }
    // Act / Assert
    stack.run(cases).await;
}

/// The repeated fields of the main commands, with a valid item and the most items taken.
fn repeated_fields() -> Vec<(&'static str, &'static str, Value, usize)> {
    let id = || Value::String(uuid::Uuid::now_v7().to_string());
    vec![
        (
            "Complaints.SubmitFormalComplaint",
            "submission.grounds",
            Value::EnumNumber(1),
            5,
        ),
        (
            "Complaints.SubmitFormalComplaint",
            "submission.doc_refs",
            Value::String("doc:evidence".into()),
            20,
        ),
        (
            "Inspections.RecordInspectionNotified",
            "team_inspector_refs",
            Value::String("staff:team".into()),
            50,
        ),
        (
            "Escalations.RequestEscalation",
            "grounds",
            Value::EnumNumber(1),
            5,
        ),
        (
            "Escalations.RequestEscalation",
            "out_of_remit_asks",
            Value::EnumNumber(1),
            3,
        ),
        (
            "LearningReviews.ReportIncident",
            "related_inspection_ids",
            id(),
            20,
        ),
    ]
}

#[tokio::test]
async fn main_commands_refuse_51_and_100_000_items_in_a_repeated_field() {
    // Arrange
    let stack = Stack::start().await;
    let mut cases = Vec::new();
    for (command, field, item, max) in repeated_fields() {
        let rpc = rpc::rpc(command);
        let role = MAIN.iter().find(|m| m.0 == command).unwrap().1;
        for count in [max + 1, 51, 100_000] {
            let mut request = rpc::well_formed(&rpc, &Fill::new());
            set(&mut request, field, Value::List(vec![item.clone(); count]));
            let mut case = Case::invalid(
                &stack,
                format!("{field} with {count} items"),
                &rpc,
                &request,
                Some(role),
                field,
            );
            if case.body.len() > 256 * 1024 {
                case.want = TOO_LARGE;
                case.field = None;
            }
            cases.push(case);
        }
    }
    // Act / Assert
    stack.run(cases).await;
}

#[test]
fn the_spoilers_are_refused_fields_of_their_commands() {
    for (command, _, spoiler) in MAIN {
        let rpc = rpc::rpc(command);
        let fields = string_fields(&rpc.input(), "");
        assert!(
            spoiler == "source" || fields.iter().any(|(path, _)| path == spoiler),
            "{command} has no field {spoiler}"
        );
    }
}
