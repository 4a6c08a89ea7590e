//! The escalation context: a complainant who is not satisfied with Ofsted's response asks the
//! independent body (ICASO) to review how the complaint was handled (domain research §1.5, §5.4).
//!
//! # Map
//! * [`domain`]: the pure domain, with no I/O.
//!   * [`domain::escalation`]: the `Escalation` aggregate, from the request to closure.
//!   * [`domain::policy`]: the escalation policy, versioned and dated, with its embedded default.
//!   * The categories (`Ground`, `OutOfRemitAsk`, `RefusalReason`, `RecommendationKind`, …) are
//!     re-exported from [`domain`].
//!
//! The gRPC API, the event store, the policy consumer copying complaint facts and the read models
//! are to come; see the crate README.

pub mod domain;
