//! Every RPC of every Redress gRPC service, read from `proto::FILE_DESCRIPTOR_SET`, with
//! well-formed requests built from the descriptors and two ways of sending them: through tonic
//! with a codec that passes encoded bytes through ([`call`]), and as one hand-built HTTP/2
//! request whose frame and headers are exactly the caller's ([`raw`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use http_body_util::{BodyExt as _, Full};
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    Value,
};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::Service as _;
use tonic::codegen::http;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;
use tonic::{Code, Status};
use uuid::Uuid;

/// The packages whose services `redress serve` runs (`redress.testing.v1` is the plumbing's own).
const PACKAGES: [&str; 3] = [
    "redress.complaints.v1",
    "redress.escalation.v1",
    "redress.learning_reviews.v1",
];

pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).unwrap())
}

/// One RPC: `Complaints.SubmitFormalComplaint` and its descriptor.
#[derive(Clone, Debug)]
pub struct Rpc {
    pub method: MethodDescriptor,
}

impl Rpc {
    /// `Service.Method`, the name the tables use.
    pub fn name(&self) -> String {
        format!(
            "{}.{}",
            self.method.parent_service().name(),
            self.method.name()
        )
    }

    /// The full method path, `/redress.complaints.v1.Complaints/SubmitFormalComplaint`.
    pub fn path(&self) -> String {
        format!(
            "/{}/{}",
            self.method.parent_service().full_name(),
            self.method.name()
        )
    }

    pub fn input(&self) -> MessageDescriptor {
        self.method.input()
    }

    /// Whether the RPC is a command (it carries an idempotency key).
    pub fn is_command(&self) -> bool {
        self.input().get_field_by_name("request_id").is_some()
    }
}

/// Every RPC of every service in [`PACKAGES`], in descriptor order.
pub fn rpcs() -> Vec<Rpc> {
    pool()
        .services()
        .filter(|service| PACKAGES.contains(&service.package_name()))
        .flat_map(|service| service.methods().collect::<Vec<_>>())
        .map(|method| Rpc { method })
        .collect()
}

/// The RPC named `Service.Method`.
pub fn rpc(name: &str) -> Rpc {
    rpcs()
        .into_iter()
        .find(|rpc| rpc.name() == name)
        .unwrap_or_else(|| panic!("no RPC {name} in the descriptor set"))
}

/// What [`well_formed`] puts in fields named after ids: `inspection_id` → a real inspection.
/// Ids not named get a fresh UUID (an object that does not exist).
#[derive(Clone, Debug, Default)]
pub struct Fill {
    pub ids: BTreeMap<String, String>,
    /// The `provider_id` to name; empty leaves it out.
    pub provider: String,
}

impl Fill {
    /// Fresh ids everywhere, and [`PROVIDER`](crate::stack::PROVIDER) as the provider.
    pub fn new() -> Fill {
        Fill {
            ids: BTreeMap::new(),
            provider: crate::stack::PROVIDER.to_owned(),
        }
    }

    pub fn with(mut self, field: &str, value: impl ToString) -> Fill {
        self.ids.insert(field.to_owned(), value.to_string());
        self
    }
}

/// A request for `rpc` with every field set to a value of the right shape: UUIDs for ids,
/// references for `*_ref`, dates for `*_on`, the first defined value of each enum, a recent
/// time for timestamps, one item in each repeated field, nested messages filled the same way,
/// the first member of each oneof; page tokens and read consistency left empty.
pub fn well_formed(rpc: &Rpc, fill: &Fill) -> DynamicMessage {
    message(&rpc.input(), fill)
}

fn message(descriptor: &MessageDescriptor, fill: &Fill) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    for field in descriptor.fields() {
        if left_unset(&field) {
            continue;
        }
        if let Some(value) = value(&field, fill) {
            message.set_field(&field, value);
        }
    }
    message
}

/// Whether [`well_formed`] leaves `field` unset: a member of a oneof other than its first.
pub fn left_unset(field: &FieldDescriptor) -> bool {
    field.containing_oneof().is_some_and(|oneof| {
        oneof.fields().next().map(|first| first.number()) != Some(field.number())
    })
}

fn value(field: &FieldDescriptor, fill: &Fill) -> Option<Value> {
    let single = single(field, fill)?;
    Some(if field.is_list() {
        Value::List(vec![single])
    } else {
        single
    })
}

fn single(field: &FieldDescriptor, fill: &Fill) -> Option<Value> {
    let name = field.name();
    Some(match field.kind() {
        Kind::String => Value::String(text(name, fill)?),
        Kind::Enum(descriptor) => Value::EnumNumber(
            descriptor
                .values()
                .map(|value| value.number())
                .find(|number| *number != 0)?,
        ),
        Kind::Bool => Value::Bool(false),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(1),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(1),
        Kind::Uint32 | Kind::Fixed32 => match name {
            "page_size" | "max_wait_ms" => return None,
            _ => Value::U32(1),
        },
        Kind::Uint64 | Kind::Fixed64 => Value::U64(1),
        Kind::Message(descriptor) => match descriptor.full_name() {
            "google.protobuf.Timestamp" => {
                Value::Message(timestamp(jiff::Timestamp::now().as_second() - 3600, 0))
            }
            "redress.common.v1.ReadConsistency" => return None,
            _ => Value::Message(message(&descriptor, fill)),
        },
        _ => return None,
    })
}

fn text(name: &str, fill: &Fill) -> Option<String> {
    if let Some(value) = fill.ids.get(name) {
        return Some(value.clone());
    }
    let singular = name.strip_suffix('s').unwrap_or(name);
    Some(match name {
        "request_id" => Uuid::now_v7().to_string(),
        "page_token" => return None,
        "provider_id" if fill.provider.is_empty() => return None,
        "provider_id" => fill.provider.clone(),
        "email" => "head@school.example".to_owned(),
        "recommendation_id" => "R1".to_owned(),
        _ if singular.ends_with("_id") => Uuid::now_v7().to_string(),
        _ if singular.ends_with("_ref") => format!("doc:{singular}"),
        _ if name.ends_with("_on") || name.ends_with("_date") => "2025-06-30".to_owned(),
        _ => "Well-formed text.".to_owned(),
    })
}

/// A `google.protobuf.Timestamp` as a dynamic message.
pub fn timestamp(seconds: i64, nanos: i32) -> DynamicMessage {
    let descriptor = pool()
        .get_message_by_name("google.protobuf.Timestamp")
        .unwrap();
    let mut message = DynamicMessage::new(descriptor);
    message.set_field_by_name("seconds", Value::I64(seconds));
    message.set_field_by_name("nanos", Value::I32(nanos));
    message
}

/// Passes already-encoded request bytes through and hands back the response's bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        use bytes_buf::BufMut as _;
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        use bytes_buf::Buf as _;
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

/// `bytes`' buffer traits, which tonic's codec buffers implement.
mod bytes_buf {
    pub use prost::bytes::{Buf, BufMut};
}

/// One unary call of `path` with `body` (an encoded request) and `metadata`.
pub async fn call(
    channel: &Channel,
    path: &str,
    body: Vec<u8>,
    metadata: MetadataMap,
) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::from_parts(metadata, http::Extensions::new(), body);
    request.set_timeout(std::time::Duration::from_secs(20));
    let path = http::uri::PathAndQuery::try_from(path).unwrap();
    grpc.unary(request, path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

/// The encoding of a dynamic request.
pub fn encode(message: &DynamicMessage) -> Vec<u8> {
    message.encode_to_vec()
}

/// One gRPC request written by hand: `headers` as given (no others but the method, path,
/// `content-type` and `te`), and `frame` as the whole body, length-prefixed message included.
/// Answers the call's status: from the headers of a trailers-only answer, else the trailers.
pub async fn raw(
    channel: &Channel,
    path: &str,
    headers: http::HeaderMap,
    frame: Vec<u8>,
) -> Status {
    let mut request = http::Request::builder()
        .method(http::Method::POST)
        .uri(path)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(Full::new(
            prost::bytes::Bytes::from(frame),
        )))
        .unwrap();
    request.headers_mut().extend(headers);
    let mut channel = channel.clone();
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .unwrap();
    let response = match channel.call(request).await {
        Ok(response) => response,
        Err(error) => return Status::unavailable(error.to_string()),
    };
    if let Some(status) = Status::from_header_map(response.headers()) {
        return status;
    }
    match response.into_body().collect().await {
        Ok(collected) => collected
            .trailers()
            .and_then(Status::from_header_map)
            .unwrap_or_else(|| Status::unknown("no grpc-status")),
        Err(error) => Status::unknown(error.to_string()),
    }
}

/// A length-prefixed gRPC message frame; `compressed` sets the flag byte.
pub fn frame(compressed: bool, message: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(message.len() + 5);
    frame.push(u8::from(compressed));
    frame.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(message);
    frame
}

/// The fields named in a status's `google.rpc.BadRequest`.
pub fn violated_fields(status: &Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// Codes that say the caller was let through authorization.
pub fn past_authorization(code: Code) -> bool {
    !matches!(code, Code::PermissionDenied | Code::Unauthenticated)
}
