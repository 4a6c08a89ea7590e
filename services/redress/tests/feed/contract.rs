//! The feed's contract document keeps up with its schemas: `docs/feed/asyncapi.yaml` describes
//! every message of `redress.feed.v1`.

use platform::nats::event_subject_token;

const ASYNCAPI: &str = include_str!("../../../../docs/feed/asyncapi.yaml");

/// The feed's top-level messages: those about one escalation (the others are their parts).
fn feed_messages() -> Vec<String> {
    let pool = redress::payload::descriptor_pool().unwrap();
    let mut names: Vec<String> = pool
        .all_messages()
        .filter(|m| m.package_name() == redress::feed_tail::FEED_PACKAGE)
        .filter(|m| m.get_field_by_name("escalation_id").is_some())
        .map(|m| m.name().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_asyncapi_document_describes_every_feed_message() {
    let names = feed_messages();

    assert!(names.len() >= 12, "{names:?}");
    for name in names {
        let token = event_subject_token(&name);
        for needle in [
            format!("const: redress.feed.v1.{name}\n"),
            format!("    {name}:\n      name: {name}\n"),
            format!("          - {token}\n"),
        ] {
            assert!(
                ASYNCAPI.contains(&needle),
                "docs/feed/asyncapi.yaml lacks {needle:?} for redress.feed.v1.{name}"
            );
        }
    }
}
