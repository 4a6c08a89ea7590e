//! `Concern`: an informal concern raised on site to the lead inspector, on the helpline during the
//! inspection, or on the working day after it, and handled by a senior inspector unconnected with
//! the inspection.
//!
//! The stream id is the `concern_id` the application generates; the inspection is referenced. A
//! refused raise creates no concern stream: the application records it in the intake log with
//! [`rejected_concern`].
//!
//! ```text
//! Raised → Assigned → Resolved | LeftUnresolved
//! Raised | Assigned → Withdrawn
//! ```

use jiff::Timestamp;
use platform::aggregate::Aggregate;
use uuid::Uuid;

use super::inspection::{InspectionStage, InspectionTeam};
use super::{
    Actor, ConcernChannel, ConcernTopic, Reason, Redirect, RejectionReason, Role, instant, intake,
    stamp, v1,
};

/// What providers and senior inspectors ask of a concern.
#[derive(Clone, Debug)]
pub enum Command {
    /// A provider raises a concern.
    ///
    /// `inspection` is where the inspection is now: `InspectionCase::stage()` of the
    /// referenced inspection's case, loaded by the application just before.
    RaiseConcern {
        concern_id: Uuid,
        inspection_id: Uuid,
        channel: ConcernChannel,
        topic: ConcernTopic,
        raised_by_ref: String,
        detail_ref: String,
        accompanied: bool,
        raised_at: Timestamp,
        inspection: InspectionStage,
    },
    /// Give the concern to a senior inspector. `handler.role` comes from the staff directory;
    /// `team` is `InspectionCase::team()` of the concern's inspection.
    AssignConcern {
        handler: Actor,
        assigned_at: Timestamp,
        team: InspectionTeam,
    },
    /// The concern was resolved informally. `closed_by_ref` is whoever closes it: once a senior
    /// inspector has taken a concern, only they may.
    ResolveConcern {
        summary_ref: String,
        closed_by_ref: String,
        resolved_at: Timestamp,
    },
    /// The concern could not be resolved; `advice` says where the provider can go next.
    /// `closed_by_ref` as for [`Command::ResolveConcern`].
    LeaveConcernUnresolved {
        advice: Redirect,
        summary_ref: String,
        closed_by_ref: String,
        closed_at: Timestamp,
    },
    /// The provider withdraws the concern.
    WithdrawConcern { withdrawn_at: Timestamp },
    /// Someone noticed a risk to a leader's wellbeing while handling the concern.
    FlagWellbeingRisk {
        flagged_by_ref: String,
        flagged_at: Timestamp,
    },
}

/// The facts a concern records.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    ConcernRaised(v1::ConcernRaised),
    ConcernAssigned(v1::ConcernAssigned),
    ConcernResolved(v1::ConcernResolved),
    ConcernLeftUnresolved(v1::ConcernLeftUnresolved),
    ConcernWithdrawn(v1::ConcernWithdrawn),
    WellbeingRiskFlagged(v1::WellbeingRiskFlagged),
}

platform::domain_event! { Event {
    ConcernRaised(v1::ConcernRaised),
    ConcernAssigned(v1::ConcernAssigned),
    ConcernResolved(v1::ConcernResolved),
    ConcernLeftUnresolved(v1::ConcernLeftUnresolved),
    ConcernWithdrawn(v1::ConcernWithdrawn),
    WellbeingRiskFlagged(v1::WellbeingRiskFlagged),
} }

/// The rule a concern command broke.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("this concern has already been raised")]
    AlreadyRaised,
    /// The channel is not open yet. `opens_at` is known once the day-after window is fixed;
    /// `redirect` is the channel that is open now, if any.
    #[error("the channel is not open yet")]
    TooEarly {
        redirect: Option<Redirect>,
        opens_at: Option<Timestamp>,
    },
    #[error("the day-after window closed at {closed_at}")]
    WindowClosed {
        redirect: Redirect,
        closed_at: Timestamp,
    },
    #[error("the inspection is not in progress")]
    NotDuringInspection { redirect: Option<Redirect> },
    #[error("no concern has been raised")]
    NotRaised,
    #[error("the concern is no longer open")]
    ConcernClosed,
    #[error("the concern has not been assigned to a senior inspector")]
    NotAssigned,
    #[error("only the senior inspector handling the concern may close it")]
    NotTheHandler,
    #[error("the handler must be a senior inspector")]
    HandlerNotSeniorInspector,
    #[error("the handler is on the inspection team")]
    HandlerOnInspectionTeam,
    #[error("the facts passed are about another inspection")]
    InspectionMismatch,
}

impl Reason for Rejection {
    fn reason(&self) -> &'static str {
        match self {
            Rejection::AlreadyRaised => "ALREADY_RAISED",
            Rejection::TooEarly { .. } => "TOO_EARLY",
            Rejection::WindowClosed { .. } => "WINDOW_CLOSED",
            Rejection::NotDuringInspection { .. } => "NOT_DURING_INSPECTION",
            Rejection::NotRaised => "NOT_RAISED",
            Rejection::ConcernClosed => "CONCERN_CLOSED",
            Rejection::NotAssigned => "NOT_ASSIGNED",
            Rejection::NotTheHandler => "NOT_THE_HANDLER",
            Rejection::HandlerNotSeniorInspector => "HANDLER_NOT_SENIOR_INSPECTOR",
            Rejection::HandlerOnInspectionTeam => "HANDLER_ON_INSPECTION_TEAM",
            Rejection::InspectionMismatch => "INSPECTION_MISMATCH",
        }
    }
}

impl Rejection {
    /// The stable machine-readable code of the broken rule, e.g. `TOO_EARLY`.
    pub fn reason(&self) -> &'static str {
        Reason::reason(self)
    }
}

/// A concern as its events describe it.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Concern {
    #[default]
    NotRaised,
    Raised(Raised),
    Assigned {
        raised: Raised,
        handler_ref: String,
    },
    Resolved(Raised),
    LeftUnresolved(Raised),
    Withdrawn(Raised),
}

/// What is known of every raised concern.
#[derive(Clone, Debug, PartialEq)]
pub struct Raised {
    pub concern_id: Uuid,
    pub inspection_id: Uuid,
    /// `None` for a channel a newer writer added.
    pub channel: Option<ConcernChannel>,
    pub raised_at: Timestamp,
    pub wellbeing_risk_flagged: bool,
}

impl Concern {
    fn raised(&self) -> Option<&Raised> {
        match self {
            Concern::NotRaised => None,
            Concern::Raised(raised)
            | Concern::Assigned { raised, .. }
            | Concern::Resolved(raised)
            | Concern::LeftUnresolved(raised)
            | Concern::Withdrawn(raised) => Some(raised),
        }
    }

    /// The open concern a closing command acts on. The lead inspector resolves a concern raised
    /// to them on site directly; every other channel needs an unconnected handler first.
    fn closable(&self, closed_by_ref: &str) -> Result<&Raised, Rejection> {
        match self {
            Concern::Assigned {
                raised,
                handler_ref,
            } if handler_ref == closed_by_ref => Ok(raised),
            Concern::Assigned { .. } => Err(Rejection::NotTheHandler),
            Concern::Raised(raised)
                if raised.channel == Some(ConcernChannel::OnSiteLeadInspector) =>
            {
                Ok(raised)
            }
            Concern::Raised(_) => Err(Rejection::NotAssigned),
            Concern::NotRaised => Err(Rejection::NotRaised),
            _ => Err(Rejection::ConcernClosed),
        }
    }

    fn open(&self) -> Result<&Raised, Rejection> {
        match self {
            Concern::Raised(raised) | Concern::Assigned { raised, .. } => Ok(raised),
            Concern::NotRaised => Err(Rejection::NotRaised),
            _ => Err(Rejection::ConcernClosed),
        }
    }
}

/// Whether `channel` is open at `at` for an inspection at `stage` (domain research §5.3, §5.6):
/// the on-site channels only while inspectors are on site or paused; the day-after contact only
/// inside the window fixed when on-site work ended.
fn check_channel(
    channel: ConcernChannel,
    stage: &InspectionStage,
    at: Timestamp,
) -> Result<(), Rejection> {
    match (channel, stage) {
        (
            ConcernChannel::OnSiteLeadInspector | ConcernChannel::DuringInspectionHelpline,
            InspectionStage::OnSite | InspectionStage::Paused,
        ) => Ok(()),
        (
            ConcernChannel::OnSiteLeadInspector | ConcernChannel::DuringInspectionHelpline,
            InspectionStage::NotStarted,
        ) => Err(Rejection::TooEarly {
            redirect: None,
            opens_at: None,
        }),
        (
            ConcernChannel::OnSiteLeadInspector | ConcernChannel::DuringInspectionHelpline,
            InspectionStage::Incomplete,
        ) => Err(Rejection::NotDuringInspection { redirect: None }),
        (
            ConcernChannel::OnSiteLeadInspector | ConcernChannel::DuringInspectionHelpline,
            InspectionStage::Ended(window),
        ) => Err(Rejection::NotDuringInspection {
            redirect: Some(if at <= window.closes_at {
                Redirect::DayAfterContact
            } else {
                Redirect::FormalComplaintAtDraft
            }),
        }),
        (ConcernChannel::DayAfterContact, InspectionStage::OnSite | InspectionStage::Paused) => {
            Err(Rejection::TooEarly {
                redirect: Some(Redirect::DuringInspectionHelpline),
                opens_at: None,
            })
        }
        // An incomplete inspection opens no window until a later visit ends.
        (
            ConcernChannel::DayAfterContact,
            InspectionStage::NotStarted | InspectionStage::Incomplete,
        ) => Err(Rejection::TooEarly {
            redirect: None,
            opens_at: None,
        }),
        (ConcernChannel::DayAfterContact, InspectionStage::Ended(window)) => {
            if at < window.opens_at {
                Err(Rejection::TooEarly {
                    redirect: None,
                    opens_at: Some(window.opens_at),
                })
            } else if at > window.closes_at {
                Err(Rejection::WindowClosed {
                    redirect: Redirect::FormalComplaintAtDraft,
                    closed_at: window.closes_at,
                })
            } else {
                Ok(())
            }
        }
    }
}

impl Aggregate for Concern {
    const STREAM_TYPE: &'static str = "concern";
    type Command = Command;
    type Event = Event;
    type Rejection = Rejection;

    /// A concern is raised under a fresh id.
    fn starts_stream(command: &Command) -> bool {
        matches!(command, Command::RaiseConcern { .. })
    }

    fn decide(&self, command: Command) -> Result<Vec<Event>, Rejection> {
        match command {
            Command::RaiseConcern {
                concern_id,
                inspection_id,
                channel,
                topic,
                raised_by_ref,
                detail_ref,
                accompanied,
                raised_at,
                inspection,
            } => {
                if !matches!(self, Concern::NotRaised) {
                    return Err(Rejection::AlreadyRaised);
                }
                check_channel(channel, &inspection, raised_at)?;
                let checked_against = match (&inspection, channel) {
                    (InspectionStage::Ended(window), ConcernChannel::DayAfterContact) => {
                        Some(window)
                    }
                    _ => None,
                };
                Ok(vec![Event::ConcernRaised(v1::ConcernRaised {
                    concern_id: concern_id.to_string(),
                    inspection_id: inspection_id.to_string(),
                    channel: channel.to_proto(),
                    topic: topic.to_proto(),
                    raised_by_ref,
                    detail_ref,
                    accompanied,
                    raised_at: stamp(raised_at),
                    day_after_window_closes_at: checked_against.and_then(|w| stamp(w.closes_at)),
                    policy_version: checked_against
                        .map(|w| w.policy_version.clone())
                        .unwrap_or_default(),
                    calendar_version: checked_against
                        .map(|w| w.calendar_version.clone())
                        .unwrap_or_default(),
                })])
            }

            Command::AssignConcern {
                handler,
                assigned_at,
                team,
            } => {
                let raised = self.open()?;
                if team.inspection_id != raised.inspection_id {
                    return Err(Rejection::InspectionMismatch);
                }
                if handler.role != Role::SeniorInspector {
                    return Err(Rejection::HandlerNotSeniorInspector);
                }
                if team.members.contains(&handler.actor_ref) {
                    return Err(Rejection::HandlerOnInspectionTeam);
                }
                if matches!(self, Concern::Assigned { handler_ref, .. } if *handler_ref == handler.actor_ref)
                {
                    return Ok(vec![]);
                }
                Ok(vec![Event::ConcernAssigned(v1::ConcernAssigned {
                    concern_id: raised.concern_id.to_string(),
                    handler_ref: handler.actor_ref,
                    assigned_at: stamp(assigned_at),
                })])
            }

            Command::ResolveConcern {
                summary_ref,
                closed_by_ref,
                resolved_at,
            } => {
                let raised = self.closable(&closed_by_ref)?;
                Ok(vec![Event::ConcernResolved(v1::ConcernResolved {
                    concern_id: raised.concern_id.to_string(),
                    summary_ref,
                    resolved_at: stamp(resolved_at),
                })])
            }

            Command::LeaveConcernUnresolved {
                advice,
                summary_ref,
                closed_by_ref,
                closed_at,
            } => {
                let raised = self.closable(&closed_by_ref)?;
                Ok(vec![Event::ConcernLeftUnresolved(
                    v1::ConcernLeftUnresolved {
                        concern_id: raised.concern_id.to_string(),
                        advice: advice.to_proto(),
                        summary_ref,
                        closed_at: stamp(closed_at),
                    },
                )])
            }

            Command::WithdrawConcern { withdrawn_at } => {
                let raised = self.open()?;
                Ok(vec![Event::ConcernWithdrawn(v1::ConcernWithdrawn {
                    concern_id: raised.concern_id.to_string(),
                    withdrawn_at: stamp(withdrawn_at),
                })])
            }

            // A wellbeing risk is never refused for being late: a closed concern can still reveal
            // one, and it must reach whoever considers a pause.
            Command::FlagWellbeingRisk {
                flagged_by_ref,
                flagged_at,
            } => {
                let raised = self.raised().ok_or(Rejection::NotRaised)?;
                Ok(vec![Event::WellbeingRiskFlagged(
                    v1::WellbeingRiskFlagged {
                        concern_id: raised.concern_id.to_string(),
                        flagged_by_ref,
                        flagged_at: stamp(flagged_at),
                    },
                )])
            }
        }
    }

    fn evolve(self, event: &Event) -> Self {
        match (self, event) {
            (Concern::NotRaised, Event::ConcernRaised(e)) => Concern::Raised(Raised {
                concern_id: e.concern_id.parse().unwrap_or_default(),
                inspection_id: e.inspection_id.parse().unwrap_or_default(),
                channel: ConcernChannel::from_proto(e.channel),
                raised_at: instant(e.raised_at.as_ref()),
                wellbeing_risk_flagged: false,
            }),
            (
                Concern::Raised(raised) | Concern::Assigned { raised, .. },
                Event::ConcernAssigned(e),
            ) => Concern::Assigned {
                raised,
                handler_ref: e.handler_ref.clone(),
            },
            (
                Concern::Raised(raised) | Concern::Assigned { raised, .. },
                Event::ConcernResolved(_),
            ) => Concern::Resolved(raised),
            (
                Concern::Raised(raised) | Concern::Assigned { raised, .. },
                Event::ConcernLeftUnresolved(_),
            ) => Concern::LeftUnresolved(raised),
            (
                Concern::Raised(raised) | Concern::Assigned { raised, .. },
                Event::ConcernWithdrawn(_),
            ) => Concern::Withdrawn(raised),
            (mut state, Event::WellbeingRiskFlagged(_)) => {
                match &mut state {
                    Concern::NotRaised => {}
                    Concern::Raised(raised)
                    | Concern::Assigned { raised, .. }
                    | Concern::Resolved(raised)
                    | Concern::LeftUnresolved(raised)
                    | Concern::Withdrawn(raised) => raised.wellbeing_risk_flagged = true,
                }
                state
            }
            (state, _) => state,
        }
    }
}

/// The intake-log record of a refused [`Command::RaiseConcern`], for the rules that refuse a
/// submission (too early, window closed, not during the inspection); `None` for any other command
/// or rejection. The record carries the window and calendar version the decision used.
pub fn rejected_concern(command: &Command, rejection: &Rejection) -> Option<intake::Command> {
    let Command::RaiseConcern {
        concern_id,
        inspection_id,
        channel,
        raised_by_ref,
        raised_at,
        inspection,
        ..
    } = command
    else {
        return None;
    };
    let (reason, redirect) = match rejection {
        Rejection::TooEarly { redirect, .. } => (RejectionReason::TooEarly, *redirect),
        Rejection::WindowClosed { redirect, .. } => {
            (RejectionReason::WindowClosed, Some(*redirect))
        }
        Rejection::NotDuringInspection { redirect } => {
            (RejectionReason::NotDuringInspection, *redirect)
        }
        _ => return None,
    };
    let window = match inspection {
        InspectionStage::Ended(window) => Some(window),
        _ => None,
    };
    Some(intake::Command::RecordConcernRejected(
        v1::ConcernRejected {
            concern_id: concern_id.to_string(),
            inspection_id: inspection_id.to_string(),
            raised_by_ref: raised_by_ref.clone(),
            channel: channel.to_proto(),
            reason: reason.to_proto(),
            redirect: redirect.map(Redirect::to_proto).unwrap_or_default(),
            attempted_at: stamp(*raised_at),
            window_opens_at: window.and_then(|w| stamp(w.opens_at)),
            window_closes_at: window.and_then(|w| stamp(w.closes_at)),
            policy_version: window.map(|w| w.policy_version.clone()).unwrap_or_default(),
            calendar_version: window
                .map(|w| w.calendar_version.clone())
                .unwrap_or_default(),
        },
    ))
}
