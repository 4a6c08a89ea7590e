//! Every projection of the learning-reviews service, by name, for operators: `redress
//! projections` lists them and rebuilds one into new tables while the service runs (design
//! rule 6).

use crate::read_models::LearningReviews;

platform::projection_registry! { LearningReviews }
