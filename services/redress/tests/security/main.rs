//! Security: the gRPC authorization matrix and the bad inputs of reliability plan §6.3–6.4,
//! against `redress serve` of every service as a child process on a real PostgreSQL and NATS.
//! Every case also checks that the process still answers health, never panicked, and that no
//! service's log grew.
//!
//! # Layout
//! * `audit`: the audit entry of a refusal: caller and code, none of the request.
//! * `rpc`: every RPC from `proto::FILE_DESCRIPTOR_SET`, well-formed requests built from the
//!   descriptors, calls with encoded bytes and hand-written HTTP/2 requests. Start here.
//! * `stack`: [`stack::Stack`], the running binary with tokens, event counts, health, stderr
//!   and resident memory.
//! * `matrix`: the literal role × RPC table and every cell of it, per gRPC service.
//! * `bad_inputs`: NUL, U+202E and timestamp edges in every field of every RPC; lengths (in
//!   characters, 4-byte UTF-8 and combining marks included), blanks, UUIDs, enums and repeated
//!   fields in each service's main command.
//! * `tenancy`: two providers' real cases; neither's representative or responsible body sees
//!   or touches the other's in any service; idempotent repeats and reused keys.
//! * `tokens`: every token variant on each service's main command.
//! * `transport`: messages over 256 KiB and 4 MiB, a gzip bomb (resident memory read from
//!   `/proc`), oversized, numerous and non-ASCII metadata.
#![allow(clippy::unwrap_used, unreachable_pub, dead_code)]

mod audit;
mod bad_inputs;
#[path = "../ops/helpers.rs"]
mod helpers;
mod matrix;
mod rpc;
mod stack;
mod tenancy;
mod tokens;
mod transport;
#[path = "../ops/workload.rs"]
mod workload;
