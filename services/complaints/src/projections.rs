//! Every projection of the complaints service, by name, for operators: `redress projections`
//! lists them and rebuilds one into new tables while the service runs (design rule 6). Nothing
//! here needs the service's `Context`: the event store and the schema are enough.

use crate::formal_complaints::read_models::{Complaints, Deadlines, Samples};
use crate::formal_complaints::timers::ComplaintTimers;
use crate::inspections::read_models::InspectionsProjection;
use crate::inspections::timers::TimerProjection;

platform::projection_registry! {
    InspectionsProjection,
    TimerProjection,
    Complaints,
    Deadlines,
    Samples,
    ComplaintTimers,
}
