//! The field validators and the violation accumulator (reliability plan §6.3 bad inputs).

use platform::grpc::parse::{self, FieldViolations, Violation};
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

fn rejection(result: Result<String, Violation>) -> String {
    let violation = result.expect_err("The value should have been rejected.");
    assert_eq!(violation.field, "summary");
    violation.description
}

#[test]
fn required_text_returns_ordinary_text_unchanged() {
    let value = parse::required_text("summary", "  The lead inspector left early. ", 100);
    assert_eq!(value, Ok("  The lead inspector left early. ".to_owned()));
}

#[test]
fn required_text_rejects_an_empty_value() {
    assert_eq!(
        rejection(parse::required_text("summary", "", 100)),
        "must not be empty"
    );
}

#[test]
fn required_text_rejects_a_whitespace_only_value() {
    for value in [" ", "\t\n", "\u{3000}\u{a0}"] {
        assert_eq!(
            rejection(parse::required_text("summary", value, 100)),
            "must not be empty"
        );
    }
}

#[test]
fn required_text_rejects_a_nul_character() {
    let description = rejection(parse::required_text("summary", "before\0after", 100));
    assert_eq!(description, "must not contain NUL characters");
}

#[test]
fn required_text_rejects_a_right_to_left_override() {
    let description = rejection(parse::required_text(
        "summary",
        "invoice\u{202E}fdp.exe",
        100,
    ));
    assert_eq!(
        description,
        "must not contain bidirectional control characters"
    );
}

#[test]
fn required_text_rejects_every_bidirectional_override_and_isolate_control() {
    let controls = ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}');
    for control in controls {
        let result = parse::required_text("summary", format!("a{control}b"), 100);
        assert!(result.is_err(), "U+{:04X} was accepted", u32::from(control));
    }
}

#[test]
fn required_text_counts_characters_not_bytes_so_emoji_at_the_limit_are_accepted() {
    // Five 4-byte emoji: 20 bytes, 5 characters.
    let value = "😀".repeat(5);
    assert_eq!(parse::required_text("summary", value.clone(), 5), Ok(value));
}

#[test]
fn required_text_rejects_one_character_over_the_limit() {
    let description = rejection(parse::required_text("summary", "😀".repeat(6), 5));
    assert_eq!(description, "must be at most 5 characters");
}

#[test]
fn required_text_rejects_ten_times_the_limit() {
    let description = rejection(parse::required_text("summary", "a".repeat(1_000), 100));
    assert_eq!(description, "must be at most 100 characters");
}

#[test]
fn uuid_accepts_a_canonical_uuid() {
    let parsed = parse::uuid("complaint_id", "01890a5d-ac96-774b-bcce-b302099a8057");
    let expected = uuid::Uuid::parse_str("01890a5d-ac96-774b-bcce-b302099a8057").expect("valid");
    assert_eq!(parsed, Ok(expected));
}

#[test]
fn uuid_rejects_the_nil_uuid() {
    let violation = parse::uuid("complaint_id", "00000000-0000-0000-0000-000000000000")
        .expect_err("nil is not an id");
    assert_eq!(violation.field, "complaint_id");
    assert_eq!(violation.description, "must not be the nil UUID");
}

#[test]
fn uuid_rejects_malformed_values() {
    let malformed = [
        "",
        "not-a-uuid",
        "01890a5d-ac96-774b-bcce-b302099a805", // one digit short
        "01890a5d-ac96-774b-bcce-b302099a8057a", // one digit long
        "01890a5dac96774bbcceb302099a8057",    // unhyphenated
        "{01890a5d-ac96-774b-bcce-b302099a8057}", // braced
        "01890a5g-ac96-774b-bcce-b302099a8057", // not hex
    ];
    for value in malformed {
        assert!(
            parse::uuid("complaint_id", value).is_err(),
            "{value:?} was accepted"
        );
    }
}

#[test]
fn field_violations_with_nothing_recorded_is_ok() {
    assert!(FieldViolations::new().into_result().is_ok());
}

#[test]
fn field_violations_report_every_recorded_field_in_order() {
    // Arrange
    let mut violations = FieldViolations::new();
    violations.push("inspection_id", "must be a UUID");
    let summary = violations.check(parse::required_text("summary", "", 10));
    // Act
    let status = violations
        .into_result()
        .expect_err("Two violations were recorded.");
    // Assert
    assert_eq!(summary, None);
    assert_eq!(status.code(), Code::InvalidArgument);
    let bad_request = status
        .get_details_bad_request()
        .expect("A google.rpc.BadRequest.");
    let fields: Vec<&str> = bad_request
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, ["inspection_id", "summary"]);
}

#[test]
fn finish_returns_the_checked_values_when_every_field_is_valid() {
    let mut violations = FieldViolations::new();
    let id = violations.check(parse::uuid("id", "01890a5d-ac96-774b-bcce-b302099a8057"));
    let summary = violations.check(parse::required_text("summary", "ok", 10));
    let (id, summary) = violations
        .finish((id, summary))
        .expect("Both fields are valid.");
    assert_eq!((id.to_string().len(), summary.as_str()), (36, "ok"));
}

#[test]
fn finish_reports_an_absent_value_without_a_violation_as_internal() {
    let status = FieldViolations::new()
        .finish(None::<u8>)
        .expect_err("Nothing to return.");
    assert_eq!(status.code(), Code::Internal);
}

#[test]
fn a_single_violation_converts_to_invalid_argument() {
    let status = Status::from(Violation::new("summary", "must not be empty"));
    assert_eq!(status.code(), Code::InvalidArgument);
    let bad_request = status
        .get_details_bad_request()
        .expect("A google.rpc.BadRequest.");
    assert_eq!(bad_request.field_violations.len(), 1);
}

#[test]
fn categories_report_each_unknown_and_repeated_value_by_index() {
    use platform::grpc::parse::{FieldViolations, categories};
    let known = |v: i32| (1..=3).contains(&v).then_some(v);
    let mut v = FieldViolations::new();
    assert_eq!(
        categories(&mut v, "grounds", &[1, 2], 5, known),
        Some([1, 2].into_iter().collect())
    );
    assert!(v.is_empty());
    assert_eq!(categories(&mut v, "grounds", &[1, 0, 1, 9], 5, known), None);
    let fields: Vec<&str> = v.violations().iter().map(|x| x.field.as_str()).collect();
    assert_eq!(fields, ["grounds[1]", "grounds[2]", "grounds[3]"]);
    let mut v = FieldViolations::new();
    assert_eq!(categories(&mut v, "grounds", &[1; 6], 5, known), None);
    assert_eq!(v.violations()[0].field, "grounds");
}

#[test]
fn a_page_defaults_caps_and_checks_its_token() {
    use platform::grpc::parse::{DEFAULT_PAGE_SIZE, FieldViolations, Page, page, paged};
    let mut v = FieldViolations::new();
    assert_eq!(
        page(&mut v, 0, ""),
        Some(Page {
            after: None,
            size: DEFAULT_PAGE_SIZE
        })
    );
    assert_eq!(page(&mut v, 101, "not-a-token"), None);
    let fields: Vec<&str> = v.violations().iter().map(|x| x.field.as_str()).collect();
    assert_eq!(fields, ["page_size", "page_token"]);
    let ids: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::now_v7()).collect();
    let two = Page {
        after: None,
        size: 2,
    };
    let (rows, token) = paged(ids.clone(), two, |id| *id);
    assert_eq!(rows, ids[..2]);
    assert_eq!(token, ids[1].to_string());
    let (rows, token) = paged(ids[..2].to_vec(), two, |id| *id);
    assert_eq!(rows.len(), 2);
    assert!(token.is_empty(), "no token on the last page");
}
