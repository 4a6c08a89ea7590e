//! Every projection of the escalation service, by name, for operators: `redress projections`
//! lists them and rebuilds one into new tables while the service runs (design rule 6). The feed
//! translator is listed but never rebuilt: its output, the feed, is durable (design rule 8).

use crate::feed::Translator;
use crate::read_models::Escalations;

platform::projection_registry! { Escalations, Translator }
