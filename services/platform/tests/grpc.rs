//! Integration tests of `platform::grpc`: a real `GrpcServer` on 127.0.0.1:0 serving a test
//! `Echo`, reached through generated tonic clients.
//!
//! # Layout
//! * `helpers`: `spawn_server()`, the test `Echo`, key pairs, tokens and clients.
//! * `authentication`: every token variant, key rotation, key and issuer configuration.
//! * `authorization`: deny by default, roles per method, public methods, role names.
//! * `server`: health, reflection, limits, compression, timeouts, metrics and shutdown.
//! * `errors`: the rich error helpers as a client decodes them.
//! * `parse`: the field validators and the violation accumulator.

#[path = "grpc/authentication.rs"]
mod authentication;
#[path = "grpc/authorization.rs"]
mod authorization;
#[path = "grpc/errors.rs"]
mod errors;
#[path = "grpc/helpers.rs"]
mod helpers;
#[path = "grpc/parse.rs"]
mod parse;
#[path = "grpc/server.rs"]
mod server;
