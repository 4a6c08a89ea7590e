//! Generated protobuf and gRPC code for every Redress contract, and the descriptor set.
//!
//! # Layout
//! * [`common::v1`]: `Position`, `CommandReceipt`, `ReadConsistency`, shared by every service.
//! * [`complaints::v1`], [`escalation::v1`], [`learning_reviews::v1`]: each context's events and
//!   gRPC services.
//! * [`feed::v1`]: the independent body's minimised feed, a contract of its own.
//! * [`testing::v1`]: the `Echo` service the gRPC plumbing tests and the benchmark run against.
//! * [`FILE_DESCRIPTOR_SET`]: every schema, for gRPC reflection and for decoding stored events to JSON.
//!
//! The `.proto` sources live beside this crate under `redress/`; within a `v1` package changes are
//! additive only.

#![allow(unreachable_pub, missing_debug_implementations, clippy::all)]

/// Every schema in this crate, encoded as a `google.protobuf.FileDescriptorSet`.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));

pub mod common {
    pub mod v1 {
        tonic::include_proto!("redress.common.v1");
    }
}

pub mod complaints {
    pub mod v1 {
        tonic::include_proto!("redress.complaints.v1");
    }
}

pub mod escalation {
    pub mod v1 {
        tonic::include_proto!("redress.escalation.v1");
    }
}

pub mod learning_reviews {
    pub mod v1 {
        tonic::include_proto!("redress.learning_reviews.v1");
    }
}

pub mod feed {
    pub mod v1 {
        tonic::include_proto!("redress.feed.v1");
    }
}

pub mod testing {
    pub mod v1 {
        tonic::include_proto!("redress.testing.v1");
    }
}
