//! Protobuf payloads as JSON, through the descriptor set compiled into the binary
//! (`proto::FILE_DESCRIPTOR_SET`): how `redress feed tail` prints feed messages and `redress
//! events show` prints stored events. A payload is decoded as the message its type names (the
//! stored `event_type`, the feed's `ce-type`) and printed in the canonical protobuf JSON mapping
//! with every field, defaults included.

use anyhow::Context as _;
use base64::Engine as _;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde::Serialize;

/// Every schema in `proto/`: the services', their events', the feed's and what they import.
///
/// # Errors
/// Never for the descriptor set compiled into this binary; an error means a broken build.
pub fn descriptor_pool() -> anyhow::Result<DescriptorPool> {
    DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).context("Failed to read the schemas")
}

/// A decoded message that serializes in the canonical protobuf JSON mapping, defaults included.
#[derive(Debug)]
pub struct JsonMessage(DynamicMessage);

impl Serialize for JsonMessage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_with_options(
            serializer,
            &SerializeOptions::new().skip_default_fields(false),
        )
    }
}

/// Why a payload was not decoded.
#[derive(Debug, thiserror::Error)]
pub enum Undecoded {
    /// The descriptor set has no message of that name (a newer writer's type), or it is outside
    /// the package asked for.
    #[error("message type {0:?} is unknown to this build")]
    UnknownType(String),
    /// The bytes are not a valid encoding of the message.
    #[error("payload does not decode as {message_type}: {error}")]
    Malformed {
        message_type: String,
        error: prost::DecodeError,
    },
}

/// Decodes `payload` as the message named `message_type` (fully qualified, e.g.
/// `redress.complaints.v1.ComplaintSubmitted`).
///
/// # Errors
/// See [`Undecoded`].
pub fn decode(
    pool: &DescriptorPool,
    message_type: &str,
    payload: &[u8],
) -> Result<JsonMessage, Undecoded> {
    decode_in(pool, None, message_type, payload)
}

/// [`decode`], for a message of `package` only: a name from another package counts as unknown.
///
/// # Errors
/// See [`Undecoded`].
pub fn decode_in_package(
    pool: &DescriptorPool,
    package: &str,
    message_type: &str,
    payload: &[u8],
) -> Result<JsonMessage, Undecoded> {
    decode_in(pool, Some(package), message_type, payload)
}

fn decode_in(
    pool: &DescriptorPool,
    package: Option<&str>,
    message_type: &str,
    payload: &[u8],
) -> Result<JsonMessage, Undecoded> {
    let descriptor = pool
        .get_message_by_name(message_type)
        .filter(|descriptor| package.is_none_or(|p| descriptor.package_name() == p))
        .ok_or_else(|| Undecoded::UnknownType(message_type.to_owned()))?;
    DynamicMessage::decode(descriptor, payload)
        .map(JsonMessage)
        .map_err(|error| Undecoded::Malformed {
            message_type: message_type.to_owned(),
            error,
        })
}

/// The raw payload in standard base64, printed beside a `null` message.
pub fn base64(payload: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(payload)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use prost::Message as _;

    use super::*;

    #[test]
    fn a_stored_event_decodes_to_its_json_mapping_with_defaults() {
        let pool = descriptor_pool().unwrap();
        let event = proto::complaints::v1::InspectionNotified {
            provider_id: "URN-1".into(),
            ..Default::default()
        };

        let json = serde_json::to_value(
            decode(
                &pool,
                "redress.complaints.v1.InspectionNotified",
                &event.encode_to_vec(),
            )
            .unwrap(),
        )
        .unwrap();

        assert_eq!(json["providerId"], "URN-1");
        assert_eq!(json["leadInspectorRef"], "", "defaults are printed");
    }

    #[test]
    fn an_unknown_type_and_a_type_outside_the_package_are_not_decoded() {
        let pool = descriptor_pool().unwrap();

        let unknown = decode(&pool, "redress.complaints.v1.NotYetInvented", &[]);
        let elsewhere =
            decode_in_package(&pool, "redress.feed.v1", "redress.common.v1.Position", &[]);

        assert!(matches!(unknown, Err(Undecoded::UnknownType(_))));
        assert!(matches!(elsewhere, Err(Undecoded::UnknownType(_))));
    }

    #[test]
    fn a_malformed_payload_is_reported_as_such() {
        let pool = descriptor_pool().unwrap();

        let result = decode(&pool, "redress.complaints.v1.InspectionNotified", &[0xff]);

        assert!(matches!(result, Err(Undecoded::Malformed { .. })));
    }
}
