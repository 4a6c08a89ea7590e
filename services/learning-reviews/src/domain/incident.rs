//! `IncidentNotification`: a tragic incident reported to the inspectorate, its assessment against
//! the commissioning policy, and the decision whether to review it (domain research §3, §5.5).
//!
//! ```text
//! Reported ─▶ Assessed ─▶ ReviewCommissioned   (when its review is commissioned)
//!                     └─▶ NoReviewDecided       (with reasons)
//! ```
//!
//! Rules:
//! * A decision comes only after the assessment, and only once: the coroner found that no
//!   learning review followed and that no policy required one, so the decision, either way, is
//!   on record.
//! * A decision not to review records its reasons.
//! * The assessment records the policy version it was made under; the review proposed for the
//!   incident follows that version.
//!
//! The stream id is the `incident_id`. `IncidentReported` is published on `LEARNING_REVIEWS`
//! with the related inspections, so the complaints context can flag their complaints as
//! sensitive (communications care only, no outcome changes).

use std::sync::Arc;

use jiff::Timestamp;
use uuid::Uuid;

use super::policy::Policy;
use super::{
    Actor, IncidentCategory, IncidentSource, Reason, Role, instant, parse_id, parse_ids, require,
    stamp, v1,
};

platform::domain_event! {
    Event {
        Reported(v1::IncidentReported),
        Assessed(v1::IncidentAssessed),
        Decided(v1::LearningReviewCommissioningDecided),
    }
}

/// One event of an incident's stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Reported(v1::IncidentReported),
    Assessed(v1::IncidentAssessed),
    Decided(v1::LearningReviewCommissioningDecided),
}

/// What was reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    pub incident_id: Uuid,
    /// `None` for a source this build does not know.
    pub source: Option<IncidentSource>,
    /// `None` for a category this build does not know.
    pub category: Option<IncidentCategory>,
    pub related_inspection_ids: Vec<Uuid>,
    pub reported_at: Timestamp,
}

/// The incident notification's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum IncidentNotification {
    /// No event yet.
    #[default]
    New,
    Reported(Incident),
    Assessed {
        incident: Incident,
        policy_version: String,
    },
    /// Terminal: review `review_id` was commissioned.
    ReviewCommissioned {
        incident: Incident,
        policy_version: String,
        review_id: Uuid,
    },
    /// Terminal: no review, for `reasons_ref`.
    NoReviewDecided {
        incident: Incident,
        policy_version: String,
        reasons_ref: String,
    },
}

/// Where an incident is, for rejections and read models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    New,
    Reported,
    Assessed,
    ReviewCommissioned,
    NoReviewDecided,
}

/// What a review's proposal needs to know about its incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentFacts {
    pub incident_id: Uuid,
    pub category: Option<IncidentCategory>,
    pub related_inspection_ids: Vec<Uuid>,
    /// The policy version of the assessment; `None` before it.
    pub assessed_under: Option<String>,
    /// Whether the commissioning decision has been taken.
    pub decided: bool,
}

impl IncidentNotification {
    pub fn status(&self) -> Status {
        match self {
            IncidentNotification::New => Status::New,
            IncidentNotification::Reported(_) => Status::Reported,
            IncidentNotification::Assessed { .. } => Status::Assessed,
            IncidentNotification::ReviewCommissioned { .. } => Status::ReviewCommissioned,
            IncidentNotification::NoReviewDecided { .. } => Status::NoReviewDecided,
        }
    }

    /// What was reported; `None` before the report.
    pub fn incident(&self) -> Option<&Incident> {
        match self {
            IncidentNotification::New => None,
            IncidentNotification::Reported(incident)
            | IncidentNotification::Assessed { incident, .. }
            | IncidentNotification::ReviewCommissioned { incident, .. }
            | IncidentNotification::NoReviewDecided { incident, .. } => Some(incident),
        }
    }

    /// The policy version the assessment was made under; `None` before it.
    pub fn policy_version(&self) -> Option<&str> {
        match self {
            IncidentNotification::New | IncidentNotification::Reported(_) => None,
            IncidentNotification::Assessed { policy_version, .. }
            | IncidentNotification::ReviewCommissioned { policy_version, .. }
            | IncidentNotification::NoReviewDecided { policy_version, .. } => Some(policy_version),
        }
    }

    /// The facts a review proposal is decided on; `None` before the report.
    pub fn facts(&self) -> Option<IncidentFacts> {
        let incident = self.incident()?;
        Some(IncidentFacts {
            incident_id: incident.incident_id,
            category: incident.category,
            related_inspection_ids: incident.related_inspection_ids.clone(),
            assessed_under: self.policy_version().map(str::to_owned),
            decided: matches!(
                self.status(),
                Status::ReviewCommissioned | Status::NoReviewDecided
            ),
        })
    }
}

/// The commands of an incident notification.
#[derive(Clone, Debug)]
pub enum Command {
    Report {
        incident_id: Uuid,
        by: Actor,
        source: IncidentSource,
        category: IncidentCategory,
        related_inspection_ids: Vec<Uuid>,
        account_ref: String,
        now: Timestamp,
    },
    Assess {
        by: Actor,
        assessment_ref: String,
        /// The policy in force on the assessment's date.
        policy: Arc<Policy>,
        now: Timestamp,
    },
    DecideNoReview {
        by: Actor,
        reasons_ref: String,
        now: Timestamp,
    },
    /// Review `review_id` was commissioned: recorded in the same unit of work as its
    /// `LearningReviewCommissioned`.
    RecordCommissioned {
        by: Actor,
        review_id: Uuid,
        now: Timestamp,
    },
}

/// The rules an incident command can break.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("this incident has already been reported")]
    AlreadyReported,
    #[error("no incident has been reported")]
    NotReported,
    #[error("the role {0} may not do this")]
    RoleNotPermitted(Role),
    #[error("the incident has already been assessed")]
    AlreadyAssessed,
    #[error("the incident must be assessed against the policy before a decision")]
    NotAssessed,
    #[error("the decision whether to review this incident has already been taken")]
    AlreadyDecided,
    #[error("a decision not to review needs its reasons")]
    ReasonsRequired,
}

impl Reason for Rejection {
    fn reason(&self) -> &'static str {
        match self {
            Rejection::AlreadyReported => "ALREADY_REPORTED",
            Rejection::NotReported => "NOT_REPORTED",
            Rejection::RoleNotPermitted(_) => "ROLE_NOT_PERMITTED",
            Rejection::AlreadyAssessed => "ALREADY_ASSESSED",
            Rejection::NotAssessed => "NOT_ASSESSED",
            Rejection::AlreadyDecided => "ALREADY_DECIDED",
            Rejection::ReasonsRequired => "REASONS_REQUIRED",
        }
    }
}

/// Who may report an incident: the inspectorate's leadership and family liaison (research §5.0:
/// operators, family liaison, the coroner's PFD intake).
pub const REPORTERS: &[Role] = &[Role::Hmci, Role::BoardChair, Role::FamilyLiaison];
/// Who assesses and decides.
pub const DECIDERS: &[Role] = &[Role::Hmci, Role::BoardChair];

impl IncidentNotification {
    /// The state a decision may be taken in, with what it keeps.
    fn decidable(&self) -> Result<(&Incident, &str), Rejection> {
        match self {
            IncidentNotification::New => Err(Rejection::NotReported),
            IncidentNotification::Reported(_) => Err(Rejection::NotAssessed),
            IncidentNotification::Assessed {
                incident,
                policy_version,
            } => Ok((incident, policy_version)),
            IncidentNotification::ReviewCommissioned { .. }
            | IncidentNotification::NoReviewDecided { .. } => Err(Rejection::AlreadyDecided),
        }
    }
}

impl platform::aggregate::Aggregate for IncidentNotification {
    const STREAM_TYPE: &'static str = "incident_notification";
    type Command = Command;
    type Event = Event;
    type Rejection = Rejection;

    /// A report opens an incident under a fresh id.
    fn starts_stream(command: &Command) -> bool {
        matches!(command, Command::Report { .. })
    }

    fn decide(&self, command: Command) -> Result<Vec<Event>, Rejection> {
        match command {
            Command::Report {
                incident_id,
                by,
                source,
                category,
                related_inspection_ids,
                account_ref,
                now,
            } => {
                if *self != IncidentNotification::New {
                    return Err(Rejection::AlreadyReported);
                }
                require(&by, REPORTERS, Rejection::RoleNotPermitted)?;
                let mut related: Vec<Uuid> = Vec::with_capacity(related_inspection_ids.len());
                for id in related_inspection_ids {
                    if !related.contains(&id) {
                        related.push(id);
                    }
                }
                Ok(vec![Event::Reported(v1::IncidentReported {
                    incident_id: incident_id.to_string(),
                    source: source.to_proto(),
                    category: category.to_proto(),
                    related_inspection_ids: related.iter().map(Uuid::to_string).collect(),
                    account_ref,
                    reported_by_ref: by.actor_ref,
                    reported_at: stamp(now),
                })])
            }
            Command::Assess {
                by,
                assessment_ref,
                policy,
                now,
            } => {
                let incident = match self {
                    IncidentNotification::New => return Err(Rejection::NotReported),
                    IncidentNotification::Reported(incident) => incident,
                    _ => return Err(Rejection::AlreadyAssessed),
                };
                require(&by, DECIDERS, Rejection::RoleNotPermitted)?;
                Ok(vec![Event::Assessed(v1::IncidentAssessed {
                    incident_id: incident.incident_id.to_string(),
                    assessment_ref,
                    assessed_by_ref: by.actor_ref,
                    assessed_at: stamp(now),
                    policy_version: policy.version().to_owned(),
                })])
            }
            Command::DecideNoReview {
                by,
                reasons_ref,
                now,
            } => {
                let (incident, _) = self.decidable()?;
                require(&by, DECIDERS, Rejection::RoleNotPermitted)?;
                if reasons_ref.trim().is_empty() {
                    return Err(Rejection::ReasonsRequired);
                }
                Ok(vec![Event::Decided(
                    v1::LearningReviewCommissioningDecided {
                        incident_id: incident.incident_id.to_string(),
                        commissioned: false,
                        review_id: String::new(),
                        reasons_ref,
                        decided_by_ref: by.actor_ref,
                        decided_at: stamp(now),
                    },
                )])
            }
            Command::RecordCommissioned { by, review_id, now } => {
                if let IncidentNotification::ReviewCommissioned {
                    review_id: recorded,
                    ..
                } = self
                    && *recorded == review_id
                {
                    return Ok(vec![]);
                }
                let (incident, _) = self.decidable()?;
                require(&by, DECIDERS, Rejection::RoleNotPermitted)?;
                Ok(vec![Event::Decided(
                    v1::LearningReviewCommissioningDecided {
                        incident_id: incident.incident_id.to_string(),
                        commissioned: true,
                        review_id: review_id.to_string(),
                        reasons_ref: String::new(),
                        decided_by_ref: by.actor_ref,
                        decided_at: stamp(now),
                    },
                )])
            }
        }
    }

    fn evolve(self, event: &Event) -> Self {
        match (self, event) {
            (_, Event::Reported(e)) => IncidentNotification::Reported(Incident {
                incident_id: parse_id(&e.incident_id),
                source: IncidentSource::from_proto(e.source),
                category: IncidentCategory::from_proto(e.category),
                related_inspection_ids: parse_ids(&e.related_inspection_ids),
                reported_at: instant(e.reported_at.as_ref()),
            }),
            (IncidentNotification::Reported(incident), Event::Assessed(e)) => {
                IncidentNotification::Assessed {
                    incident,
                    policy_version: e.policy_version.clone(),
                }
            }
            (
                IncidentNotification::Assessed {
                    incident,
                    policy_version,
                },
                Event::Decided(e),
            ) => {
                if e.commissioned {
                    IncidentNotification::ReviewCommissioned {
                        incident,
                        policy_version,
                        review_id: parse_id(&e.review_id),
                    }
                } else {
                    IncidentNotification::NoReviewDecided {
                        incident,
                        policy_version,
                        reasons_ref: e.reasons_ref.clone(),
                    }
                }
            }
            // `decide` never produces these orders; a recorded event is a fact and folds to the
            // state it leaves unchanged.
            (state, _) => state,
        }
    }
}
