//! The platform every Redress service stands on.
pub mod aggregate;
pub mod calendar;
pub mod consumer;
pub mod event_store;
pub mod grpc;
pub mod migrate;
pub mod nats;
pub mod pg;
pub mod projection;
pub mod relay;
pub mod tail;
pub mod telemetry;
pub mod testing;
