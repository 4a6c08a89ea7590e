//! `InspectionCase`: upstream facts, pauses, the windows that open when on-site work ends, the
//! publication gate, the delay explanation and tribunal appeals. One test per rule and per
//! rejection.

use std::collections::BTreeSet;

use complaints::domain::inspection::{
    Command, DayAfterWindow, Event, InspectionCase, InspectionStage, Rejection, VaultRef,
};
use complaints::domain::{
    DeferralReason, DutyDesk, HoldReleaseReason, PauseInitiator, PauseReason,
    PublicationDelayReason, Remit, TribunalAppealOutcome, WellbeingContactKind, WindowStart, v1,
};
use platform::aggregate::{Aggregate, DomainEvent};
use uuid::Uuid;

use crate::helpers::*;

fn id() -> String {
    INS.to_string()
}

fn ended_event() -> Event {
    Event::OnSiteVisitEnded(v1::OnSiteVisitEnded {
        inspection_id: id(),
        last_onsite_date: "2025-06-11".into(),
        recorded_at: ts(london(2025, 6, 11, 17, 0)),
        day_after_window_opens_at: ts(start_of(2025, 6, 12)),
        day_after_window_closes_at: ts(end_of(2025, 6, 12)),
        publication_expected_by: ts(end_of(2025, 7, 23)),
        policy_version: ERA_C.into(),
        calendar_version: CALENDAR_VERSION.into(),
    })
}

/// INS-1 with a hold for COMPLAINT placed on Thu 3 July 2025.
fn ins1_held() -> Vec<Event> {
    and::<InspectionCase>(ins1_drafted(), [hold(COMPLAINT, london(2025, 7, 3, 10, 5))])
}

fn ins1_final() -> Vec<Event> {
    and::<InspectionCase>(ins1_drafted(), [final_report(london(2025, 7, 14, 10, 0))])
}

fn ins1_published() -> Vec<Event> {
    and::<InspectionCase>(ins1_final(), [publish(london(2025, 7, 16, 10, 0))])
}

/// INS-1 paused on its first on-site day, Tue 10 June 2025 at 11:00.
fn ins1_paused() -> Vec<Event> {
    and::<InspectionCase>(ins1_on_site(), [pause(london(2025, 6, 10, 11, 0))])
}

/// INS-1 deemed incomplete after its pause outlasted five working days.
fn ins1_incomplete() -> Vec<Event> {
    and::<InspectionCase>(
        ins1_paused(),
        [Command::DeemInspectionIncomplete {
            now: london(2025, 6, 18, 0, 1),
        }],
    )
}

// ---- notification ----

#[test]
fn notifying_an_inspection_records_its_remit_team_and_provisional_policy() {
    let state = case(vec![])
        .when(notify(day(2025, 6, 10)))
        .then([Event::InspectionNotified(v1::InspectionNotified {
            inspection_id: id(),
            remit: v1::Remit::Schools as i32,
            lead_inspector_ref: LEAD.into(),
            team_inspector_refs: vec![TEAM.into()],
            notified_at: ts(london(2025, 6, 9, 10, 0)),
            on_site_starts_on: "2025-06-10".into(),
            policy_version: ERA_C.into(),
            provider_id: PROVIDER.into(),
        })]);
    assert_eq!(state.policy_version(), Some(ERA_C));
    assert_eq!(state.provider_id(), Some(PROVIDER));
    assert_eq!(
        state.team().unwrap().members,
        BTreeSet::from([LEAD.to_owned(), TEAM.to_owned()])
    );
}

#[test]
fn notifying_an_inspection_twice_is_rejected() {
    case(run::<InspectionCase>([notify(day(2025, 6, 10))]))
        .when(notify(day(2025, 6, 10)))
        .then_rejects(Rejection::AlreadyNotified);
}

#[test]
fn only_the_notice_begins_an_inspection_cases_stream() {
    assert!(InspectionCase::starts_stream(&notify(day(2025, 6, 10))));
    assert!(!InspectionCase::starts_stream(&Command::RecordDeferral {
        reason: DeferralReason::Other,
        deferred_at: london(2025, 6, 9, 12, 0),
        on_site_starts_on: day(2025, 6, 24),
    }));
}

#[test]
fn notifying_under_a_policy_not_yet_in_force_on_the_first_on_site_day_is_rejected() {
    case(vec![])
        .when(notify_with(Remit::Schools, day(2024, 3, 12), era_c()))
        .then_rejects(Rejection::PolicyNotInForce {
            version: ERA_C.into(),
            effective_from: day(2024, 4, 5),
            date: day(2024, 3, 12),
        });
}

#[test]
fn a_notification_with_a_remit_this_build_does_not_know_leaves_the_case_unknown() {
    let mut notified = v1::InspectionNotified {
        inspection_id: id(),
        remit: 99,
        ..Default::default()
    };
    let state = InspectionCase::replay(&[Event::InspectionNotified(notified.clone())]);
    assert_eq!(state, InspectionCase::Unknown);
    notified.remit = v1::Remit::EarlyYears as i32;
    let state = InspectionCase::replay(&[Event::InspectionNotified(notified)]);
    assert_eq!(state.inspection_id(), Some(INS));
}

// ---- deferral ----

#[test]
fn deferring_before_on_site_work_records_the_reason_category_and_new_date() {
    case(run::<InspectionCase>([notify(day(2025, 6, 10))]))
        .when(Command::RecordDeferral {
            reason: DeferralReason::SeniorLeaderWellbeing,
            deferred_at: london(2025, 6, 9, 12, 0),
            on_site_starts_on: day(2025, 6, 24),
        })
        .then([Event::InspectionDeferred(v1::InspectionDeferred {
            inspection_id: id(),
            reason: v1::DeferralReason::SeniorLeaderWellbeing as i32,
            deferred_at: ts(london(2025, 6, 9, 12, 0)),
            on_site_starts_on: "2025-06-24".into(),
        })]);
}

#[test]
fn a_deferred_inspection_can_be_deferred_again() {
    let deferral = |on: jiff::civil::Date| Command::RecordDeferral {
        reason: DeferralReason::LocalEmergency,
        deferred_at: london(2025, 6, 9, 12, 0),
        on_site_starts_on: on,
    };
    case(run::<InspectionCase>([
        notify(day(2025, 6, 10)),
        deferral(day(2025, 6, 17)),
    ]))
    .when(deferral(day(2025, 6, 24)))
    .then([Event::InspectionDeferred(v1::InspectionDeferred {
        inspection_id: id(),
        reason: v1::DeferralReason::LocalEmergency as i32,
        deferred_at: ts(london(2025, 6, 9, 12, 0)),
        on_site_starts_on: "2025-06-24".into(),
    })]);
}

#[test]
fn deferring_after_on_site_work_started_is_rejected() {
    case(ins1_on_site())
        .when(Command::RecordDeferral {
            reason: DeferralReason::Other,
            deferred_at: london(2025, 6, 10, 12, 0),
            on_site_starts_on: day(2025, 6, 24),
        })
        .then_rejects(Rejection::OnSiteAlreadyStarted);
}

#[test]
fn deferring_an_inspection_never_notified_is_rejected() {
    case(vec![])
        .when(Command::RecordDeferral {
            reason: DeferralReason::Other,
            deferred_at: london(2025, 6, 9, 12, 0),
            on_site_starts_on: day(2025, 6, 24),
        })
        .then_rejects(Rejection::NotNotified);
}

// ---- on-site start ----

#[test]
fn starting_on_site_work_records_the_visit_under_the_case_policy() {
    let state = case(run::<InspectionCase>([notify(day(2025, 6, 10))]))
        .when(start(london(2025, 6, 10, 8, 0)))
        .then([Event::OnSiteVisitStarted(v1::OnSiteVisitStarted {
            inspection_id: id(),
            started_at: ts(london(2025, 6, 10, 8, 0)),
            return_visit: false,
            policy_version: ERA_C.into(),
        })]);
    assert_eq!(state.stage(), InspectionStage::OnSite);
}

#[test]
fn the_first_on_site_day_fixes_the_policy_the_inspection_follows() {
    // Notified for Thu 4 April 2024 (Era B), deferred, then carried out after 4 April (Era C).
    let history = run::<InspectionCase>([
        notify_with(Remit::Schools, day(2024, 4, 4), era_b()),
        Command::RecordDeferral {
            reason: DeferralReason::StaffAbsence,
            deferred_at: london(2024, 4, 3, 12, 0),
            on_site_starts_on: day(2024, 4, 16),
        },
    ]);
    assert_eq!(
        InspectionCase::replay(&history).policy_version(),
        Some(ERA_B)
    );
    let state =
        case(history)
            .when(start(london(2024, 4, 16, 8, 0)))
            .then([Event::OnSiteVisitStarted(v1::OnSiteVisitStarted {
                inspection_id: id(),
                started_at: ts(london(2024, 4, 16, 8, 0)),
                return_visit: false,
                policy_version: ERA_C.into(),
            })]);
    assert_eq!(state.policy_version(), Some(ERA_C));
}

#[test]
fn starting_under_a_policy_not_in_force_on_the_start_day_is_rejected() {
    case(run::<InspectionCase>([notify_with(
        Remit::Schools,
        day(2024, 4, 8),
        era_c(),
    )]))
    .when(start(london(2024, 4, 4, 8, 0)))
    .then_rejects(Rejection::PolicyNotInForce {
        version: ERA_C.into(),
        effective_from: day(2024, 4, 5),
        date: day(2024, 4, 4),
    });
}

#[test]
fn starting_an_inspection_never_notified_is_rejected() {
    case(vec![])
        .when(start(london(2025, 6, 10, 8, 0)))
        .then_rejects(Rejection::NotNotified);
}

#[test]
fn starting_while_on_site_is_rejected() {
    case(ins1_on_site())
        .when(start(london(2025, 6, 11, 8, 0)))
        .then_rejects(Rejection::AlreadyOnSite);
}

#[test]
fn starting_while_paused_is_rejected() {
    case(ins1_paused())
        .when(start(london(2025, 6, 11, 8, 0)))
        .then_rejects(Rejection::AlreadyOnSite);
}

#[test]
fn starting_after_on_site_work_ended_is_rejected() {
    case(ins1_ended())
        .when(start(london(2025, 6, 12, 8, 0)))
        .then_rejects(Rejection::OnSiteAlreadyEnded);
}

#[test]
fn a_return_visit_after_an_incomplete_inspection_keeps_the_recorded_policy() {
    let state = case(ins1_incomplete())
        .when(start(london(2025, 6, 24, 8, 0)))
        .then([Event::OnSiteVisitStarted(v1::OnSiteVisitStarted {
            inspection_id: id(),
            started_at: ts(london(2025, 6, 24, 8, 0)),
            return_visit: true,
            policy_version: ERA_C.into(),
        })]);
    assert_eq!(state.stage(), InspectionStage::OnSite);
}

#[test]
fn a_return_visit_under_another_policy_is_rejected() {
    case(ins1_incomplete())
        .when(start_with(london(2025, 6, 24, 8, 0), era_b()))
        .then_rejects(Rejection::PolicyVersionMismatch {
            recorded: ERA_C.into(),
            supplied: ERA_B.into(),
        });
}

// ---- pause ----

#[test]
fn pausing_records_the_duty_desk_consultation_and_the_resume_deadline() {
    let state = case(ins1_on_site())
        .when(Command::PauseInspection {
            paused_at: london(2025, 6, 10, 11, 0),
            initiated_by: PauseInitiator::ProviderRepresentative,
            recorded_by_ref: LEAD.into(),
            reason: PauseReason::LeaderWellbeing,
            duty_desk: DutyDesk::NationalSafeguardingAndWellbeing,
            consultation_ref: "dutydesk:C-7".into(),
            consulted_at: london(2025, 6, 10, 10, 40),
            planned_resume_on: Some(day(2025, 6, 11)),
            policy: era_c(),
            calendar: cal(),
        })
        .then([
            Event::DutyDeskConsulted(v1::DutyDeskConsulted {
                inspection_id: id(),
                duty_desk: v1::DutyDesk::NationalSafeguardingAndWellbeing as i32,
                consultation_ref: "dutydesk:C-7".into(),
                consulted_at: ts(london(2025, 6, 10, 10, 40)),
            }),
            Event::InspectionPaused(v1::InspectionPaused {
                inspection_id: id(),
                initiated_by: v1::PauseInitiator::ProviderRepresentative as i32,
                recorded_by_ref: LEAD.into(),
                reason: v1::PauseReason::LeaderWellbeing as i32,
                consultation_ref: "dutydesk:C-7".into(),
                paused_at: ts(london(2025, 6, 10, 11, 0)),
                planned_resume_on: "2025-06-11".into(),
                pause_limit_working_days: 5,
                resume_deadline: ts(end_of(2025, 6, 17)),
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
            }),
        ]);
    assert_eq!(state.stage(), InspectionStage::Paused);
}

#[test]
fn the_pause_limit_follows_the_remit() {
    let history = run::<InspectionCase>([
        notify_with(
            Remit::JointTargetedAreaInspection,
            day(2025, 6, 10),
            era_c(),
        ),
        start(london(2025, 6, 10, 8, 0)),
    ]);
    let state = case(history).when(pause(london(2025, 6, 10, 11, 0))).then([
        Event::DutyDeskConsulted(v1::DutyDeskConsulted {
            inspection_id: id(),
            duty_desk: v1::DutyDesk::Regional as i32,
            consultation_ref: "dutydesk:C-1".into(),
            consulted_at: ts(london(2025, 6, 10, 11, 0)),
        }),
        Event::InspectionPaused(v1::InspectionPaused {
            inspection_id: id(),
            initiated_by: v1::PauseInitiator::LeadInspector as i32,
            recorded_by_ref: LEAD.into(),
            reason: v1::PauseReason::LeaderWellbeing as i32,
            consultation_ref: "dutydesk:C-1".into(),
            paused_at: ts(london(2025, 6, 10, 11, 0)),
            planned_resume_on: String::new(),
            pause_limit_working_days: 15,
            resume_deadline: ts(end_of(2025, 7, 1)),
            policy_version: ERA_C.into(),
            calendar_version: CALENDAR_VERSION.into(),
        }),
    ]);
    assert_eq!(state.stage(), InspectionStage::Paused);
}

#[test]
fn pausing_without_a_duty_desk_consultation_is_rejected() {
    let Command::PauseInspection {
        paused_at,
        initiated_by,
        recorded_by_ref,
        reason,
        duty_desk,
        consulted_at,
        planned_resume_on,
        policy,
        calendar,
        ..
    } = pause(london(2025, 6, 10, 11, 0))
    else {
        unreachable!()
    };
    case(ins1_on_site())
        .when(Command::PauseInspection {
            paused_at,
            initiated_by,
            recorded_by_ref,
            reason,
            duty_desk,
            consultation_ref: "  ".into(),
            consulted_at,
            planned_resume_on,
            policy,
            calendar,
        })
        .then_rejects(Rejection::DutyDeskNotConsulted);
}

#[test]
fn pausing_before_on_site_work_started_is_rejected() {
    case(run::<InspectionCase>([notify(day(2025, 6, 10))]))
        .when(pause(london(2025, 6, 9, 15, 0)))
        .then_rejects(Rejection::NotOnSite);
}

#[test]
fn pausing_after_on_site_work_ended_is_rejected() {
    case(ins1_ended())
        .when(pause(london(2025, 6, 12, 9, 0)))
        .then_rejects(Rejection::NotOnSite);
}

#[test]
fn pausing_a_paused_inspection_is_rejected() {
    case(ins1_paused())
        .when(pause(london(2025, 6, 10, 15, 0)))
        .then_rejects(Rejection::AlreadyPaused);
}

#[test]
fn pausing_an_inspection_never_notified_is_rejected() {
    case(vec![])
        .when(pause(london(2025, 6, 10, 15, 0)))
        .then_rejects(Rejection::NotNotified);
}

#[test]
fn pausing_under_another_policy_is_rejected() {
    case(ins1_on_site())
        .when(pause_with(london(2025, 6, 10, 11, 0), era_b()))
        .then_rejects(Rejection::PolicyVersionMismatch {
            recorded: ERA_C.into(),
            supplied: ERA_B.into(),
        });
}

#[test]
fn pausing_when_the_deadline_falls_beyond_the_calendar_is_rejected() {
    let history = run::<InspectionCase>([
        notify_with(Remit::AreaSend, day(2030, 12, 20), era_c()),
        start(london(2030, 12, 20, 8, 0)),
    ]);
    case(history)
        .when(pause(london(2030, 12, 20, 11, 0)))
        .then_rejects(Rejection::CalendarOutOfRange {
            date: day(2031, 1, 1),
        });
}

// ---- resume ----

#[test]
fn resuming_within_the_limit_returns_to_on_site_work() {
    let state = case(ins1_paused())
        .when(Command::ResumeInspection {
            resumed_at: london(2025, 6, 11, 9, 0),
        })
        .then([Event::InspectionResumed(v1::InspectionResumed {
            inspection_id: id(),
            resumed_at: ts(london(2025, 6, 11, 9, 0)),
            paused_at: ts(london(2025, 6, 10, 11, 0)),
        })]);
    assert_eq!(state.stage(), InspectionStage::OnSite);
}

#[test]
fn resuming_on_the_last_day_of_the_limit_is_allowed() {
    case(ins1_paused())
        .when(Command::ResumeInspection {
            resumed_at: london(2025, 6, 17, 16, 0),
        })
        .then([Event::InspectionResumed(v1::InspectionResumed {
            inspection_id: id(),
            resumed_at: ts(london(2025, 6, 17, 16, 0)),
            paused_at: ts(london(2025, 6, 10, 11, 0)),
        })]);
}

#[test]
fn resuming_after_the_limit_is_rejected_because_the_inspection_is_incomplete() {
    case(ins1_paused())
        .when(Command::ResumeInspection {
            resumed_at: london(2025, 6, 18, 9, 0),
        })
        .then_rejects(Rejection::PauseLimitExceeded {
            resume_deadline: end_of(2025, 6, 17),
        });
}

#[test]
fn resuming_an_inspection_that_is_not_paused_is_rejected() {
    case(ins1_on_site())
        .when(Command::ResumeInspection {
            resumed_at: london(2025, 6, 11, 9, 0),
        })
        .then_rejects(Rejection::NotPaused);
}

#[test]
fn resuming_an_inspection_never_notified_is_rejected() {
    case(vec![])
        .when(Command::ResumeInspection {
            resumed_at: london(2025, 6, 11, 9, 0),
        })
        .then_rejects(Rejection::NotNotified);
}

// ---- deemed incomplete ----

#[test]
fn a_pause_that_outlasts_the_limit_is_deemed_incomplete() {
    let state = case(ins1_paused())
        .when(Command::DeemInspectionIncomplete {
            now: london(2025, 6, 18, 0, 1),
        })
        .then([Event::InspectionDeemedIncomplete(
            v1::InspectionDeemedIncomplete {
                inspection_id: id(),
                deemed_at: ts(london(2025, 6, 18, 0, 1)),
                paused_at: ts(london(2025, 6, 10, 11, 0)),
                resume_deadline: ts(end_of(2025, 6, 17)),
                pause_limit_working_days: 5,
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
            },
        )]);
    assert_eq!(state.stage(), InspectionStage::Incomplete);
}

#[test]
fn deeming_incomplete_before_the_limit_has_passed_is_rejected() {
    case(ins1_paused())
        .when(Command::DeemInspectionIncomplete {
            now: end_of(2025, 6, 17),
        })
        .then_rejects(Rejection::PauseLimitNotReached {
            resume_deadline: end_of(2025, 6, 17),
        });
}

#[test]
fn deeming_an_incomplete_inspection_incomplete_again_records_nothing() {
    case(ins1_incomplete())
        .when(Command::DeemInspectionIncomplete {
            now: london(2025, 6, 19, 0, 1),
        })
        .then_nothing();
}

#[test]
fn deeming_an_inspection_that_is_not_paused_incomplete_is_rejected() {
    case(ins1_on_site())
        .when(Command::DeemInspectionIncomplete {
            now: london(2025, 6, 19, 0, 1),
        })
        .then_rejects(Rejection::NotPaused);
}

#[test]
fn deeming_an_inspection_never_notified_incomplete_is_rejected() {
    case(vec![])
        .when(Command::DeemInspectionIncomplete {
            now: london(2025, 6, 19, 0, 1),
        })
        .then_rejects(Rejection::NotNotified);
}

// ---- on-site end ----

#[test]
fn ending_on_site_work_opens_the_day_after_window_and_starts_the_publication_clock() {
    let state = case(ins1_on_site())
        .when(end(day(2025, 6, 11), london(2025, 6, 11, 17, 0)))
        .then([ended_event()]);
    assert_eq!(
        state.stage(),
        InspectionStage::Ended(DayAfterWindow {
            opens_at: start_of(2025, 6, 12),
            closes_at: end_of(2025, 6, 12),
            policy_version: ERA_C.into(),
            calendar_version: CALENDAR_VERSION.into(),
        })
    );
}

#[test]
fn ending_while_paused_is_rejected() {
    case(ins1_paused())
        .when(end(day(2025, 6, 11), london(2025, 6, 11, 17, 0)))
        .then_rejects(Rejection::StillPaused);
}

#[test]
fn ending_before_on_site_work_started_is_rejected() {
    case(run::<InspectionCase>([notify(day(2025, 6, 10))]))
        .when(end(day(2025, 6, 11), london(2025, 6, 11, 17, 0)))
        .then_rejects(Rejection::NotOnSite);
}

#[test]
fn an_incomplete_inspection_cannot_end_without_a_return_visit() {
    case(ins1_incomplete())
        .when(end(day(2025, 6, 18), london(2025, 6, 18, 17, 0)))
        .then_rejects(Rejection::NotOnSite);
}

#[test]
fn ending_twice_is_rejected() {
    case(ins1_ended())
        .when(end(day(2025, 6, 11), london(2025, 6, 11, 18, 0)))
        .then_rejects(Rejection::OnSiteAlreadyEnded);
}

#[test]
fn ending_on_a_day_before_the_visit_started_is_rejected() {
    case(ins1_on_site())
        .when(end(day(2025, 6, 9), london(2025, 6, 11, 17, 0)))
        .then_rejects(Rejection::EndsBeforeStart);
}

#[test]
fn ending_under_another_policy_is_rejected() {
    case(ins1_on_site())
        .when(end_with(
            day(2025, 6, 11),
            london(2025, 6, 11, 17, 0),
            era_b(),
        ))
        .then_rejects(Rejection::PolicyVersionMismatch {
            recorded: ERA_C.into(),
            supplied: ERA_B.into(),
        });
}

#[test]
fn ending_an_inspection_never_notified_is_rejected() {
    case(vec![])
        .when(end(day(2025, 6, 11), london(2025, 6, 11, 17, 0)))
        .then_rejects(Rejection::NotNotified);
}

#[test]
fn ending_when_the_windows_fall_beyond_the_calendar_is_rejected() {
    let history =
        run::<InspectionCase>([notify(day(2030, 12, 2)), start(london(2030, 12, 2, 8, 0))]);
    case(history)
        .when(end(day(2030, 12, 3), london(2030, 12, 3, 17, 0)))
        .then_rejects(Rejection::CalendarOutOfRange {
            date: day(2031, 1, 1),
        });
}

// ---- draft report ----

#[test]
fn issuing_the_draft_opens_the_factual_accuracy_and_formal_complaint_windows() {
    let state = case(ins1_ended())
        .when(draft(london(2025, 6, 30, 10, 0)))
        .then([
            Event::DraftReportIssued(v1::DraftReportIssued {
                inspection_id: id(),
                doc_ref: "doc:draft-1".into(),
                issued_at: ts(london(2025, 6, 30, 10, 0)),
                factual_accuracy_window_closes_at: ts(end_of(2025, 7, 7)),
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
            }),
            Event::FormalComplaintWindowOpened(v1::FormalComplaintWindowOpened {
                inspection_id: id(),
                counted_from: v1::WindowStart::DraftReport as i32,
                opens_at: ts(london(2025, 6, 30, 10, 0)),
                closes_at: ts(end_of(2025, 7, 7)),
                working_days: 5,
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
            }),
        ]);
    let window = state
        .complaint_intake()
        .unwrap()
        .draft
        .unwrap()
        .window
        .unwrap();
    assert_eq!(window.counted_from, WindowStart::DraftReport);
    assert_eq!(window.closes_at, end_of(2025, 7, 7));
}

/// An Era B school inspection ended on Wed 14 June 2023.
fn era_b_ended() -> Vec<Event> {
    run::<InspectionCase>([
        notify_with(Remit::Schools, day(2023, 6, 13), era_b()),
        start_with(london(2023, 6, 13, 8, 0), era_b()),
        end_with(day(2023, 6, 14), london(2023, 6, 14, 17, 0), era_b()),
    ])
}

#[test]
fn before_april_2024_the_draft_opens_only_the_factual_accuracy_window() {
    let state = case(era_b_ended())
        .when(draft_with(london(2023, 7, 3, 10, 0), era_b()))
        .then([Event::DraftReportIssued(v1::DraftReportIssued {
            inspection_id: id(),
            doc_ref: "doc:draft-1".into(),
            issued_at: ts(london(2023, 7, 3, 10, 0)),
            factual_accuracy_window_closes_at: ts(end_of(2023, 7, 10)),
            policy_version: ERA_B.into(),
            calendar_version: CALENDAR_VERSION.into(),
        })]);
    assert_eq!(
        state.complaint_intake().unwrap().draft.unwrap().window,
        None
    );
}

#[test]
fn before_april_2024_the_final_report_opens_the_formal_complaint_window() {
    let history = and::<InspectionCase>(
        era_b_ended(),
        [draft_with(london(2023, 7, 3, 10, 0), era_b())],
    );
    case(history)
        .when(final_report_with(london(2023, 7, 17, 10, 0), era_b()))
        .then([
            Event::FinalReportIssued(v1::FinalReportIssued {
                inspection_id: id(),
                doc_ref: "doc:final-1".into(),
                issued_at: ts(london(2023, 7, 17, 10, 0)),
            }),
            Event::FormalComplaintWindowOpened(v1::FormalComplaintWindowOpened {
                inspection_id: id(),
                counted_from: v1::WindowStart::FinalReport as i32,
                opens_at: ts(london(2023, 7, 17, 10, 0)),
                closes_at: ts(end_of(2023, 7, 24)),
                working_days: 5,
                policy_version: ERA_B.into(),
                calendar_version: CALENDAR_VERSION.into(),
            }),
        ]);
}

#[test]
fn issuing_a_draft_while_on_site_is_rejected() {
    case(ins1_on_site())
        .when(draft(london(2025, 6, 30, 10, 0)))
        .then_rejects(Rejection::OnSiteNotEnded);
}

#[test]
fn issuing_a_draft_for_an_incomplete_inspection_is_rejected() {
    case(ins1_incomplete())
        .when(draft(london(2025, 6, 30, 10, 0)))
        .then_rejects(Rejection::OnSiteNotEnded);
}

#[test]
fn issuing_a_second_draft_is_rejected() {
    case(ins1_drafted())
        .when(draft(london(2025, 7, 1, 10, 0)))
        .then_rejects(Rejection::DraftAlreadyIssued);
}

#[test]
fn issuing_a_draft_under_another_policy_is_rejected() {
    case(ins1_ended())
        .when(draft_with(london(2025, 6, 30, 10, 0), era_b()))
        .then_rejects(Rejection::PolicyVersionMismatch {
            recorded: ERA_C.into(),
            supplied: ERA_B.into(),
        });
}

#[test]
fn issuing_a_draft_for_an_inspection_never_notified_is_rejected() {
    case(vec![])
        .when(draft(london(2025, 6, 30, 10, 0)))
        .then_rejects(Rejection::NotNotified);
}

#[test]
fn issuing_a_draft_whose_windows_fall_beyond_the_calendar_is_rejected() {
    let history = run::<InspectionCase>([
        notify(day(2030, 11, 4)),
        start(london(2030, 11, 4, 8, 0)),
        end(day(2030, 11, 5), london(2030, 11, 5, 17, 0)),
    ]);
    case(history)
        .when(draft(london(2030, 12, 27, 10, 0)))
        .then_rejects(Rejection::CalendarOutOfRange {
            date: day(2031, 1, 1),
        });
}

// ---- fast-track factual-accuracy points ----

#[test]
fn factual_accuracy_points_within_the_window_choose_the_fast_track() {
    let state = case(ins1_drafted())
        .when(fast_track(london(2025, 7, 2, 10, 0)))
        .then([Event::FactualAccuracyPointsSubmitted(
            v1::FactualAccuracyPointsSubmitted {
                inspection_id: id(),
                doc_ref: "doc:fa-1".into(),
                submitted_at: ts(london(2025, 7, 2, 10, 0)),
            },
        )]);
    assert!(
        state
            .complaint_intake()
            .unwrap()
            .draft
            .unwrap()
            .fast_track_chosen
    );
}

#[test]
fn factual_accuracy_points_after_the_window_are_rejected() {
    case(ins1_drafted())
        .when(fast_track(london(2025, 7, 8, 0, 5)))
        .then_rejects(Rejection::OutOfTime {
            window_closed_at: end_of(2025, 7, 7),
        });
}

#[test]
fn factual_accuracy_points_dated_before_the_draft_are_rejected() {
    case(ins1_drafted())
        .when(fast_track(london(2025, 6, 30, 9, 0)))
        .then_rejects(Rejection::TooEarly {
            opens_at: london(2025, 6, 30, 10, 0),
        });
}

#[test]
fn factual_accuracy_points_without_a_draft_are_rejected() {
    case(ins1_ended())
        .when(fast_track(london(2025, 6, 20, 9, 0)))
        .then_rejects(Rejection::NoDraftReport);
}

#[test]
fn factual_accuracy_points_after_a_formal_complaint_are_rejected() {
    case(ins1_held())
        .when(fast_track(london(2025, 7, 4, 9, 0)))
        .then_rejects(Rejection::RouteAlreadyChosen);
}

#[test]
fn factual_accuracy_points_on_a_final_report_are_rejected() {
    case(ins1_final())
        .when(fast_track(london(2025, 7, 4, 9, 0)))
        .then_rejects(Rejection::ReportAlreadyFinal);
}

#[test]
fn factual_accuracy_points_for_an_inspection_never_notified_are_rejected() {
    case(vec![])
        .when(fast_track(london(2025, 7, 4, 9, 0)))
        .then_rejects(Rejection::NotNotified);
}

// ---- publication holds ----

#[test]
fn a_formal_complaint_holds_publication() {
    let state = case(ins1_drafted())
        .when(hold(COMPLAINT, london(2025, 7, 3, 10, 5)))
        .then([Event::PublicationHoldPlaced(v1::PublicationHoldPlaced {
            inspection_id: id(),
            complaint_id: COMPLAINT.to_string(),
            placed_at: ts(london(2025, 7, 3, 10, 5)),
        })]);
    assert_eq!(state.holds(), BTreeSet::from([COMPLAINT]));
}

#[test]
fn placing_the_same_hold_again_records_nothing() {
    case(ins1_held())
        .when(hold(COMPLAINT, london(2025, 7, 3, 10, 6)))
        .then_nothing();
}

#[test]
fn a_hold_on_a_final_report_is_allowed_before_publication() {
    case(ins1_final())
        .when(hold(COMPLAINT, london(2025, 7, 15, 10, 0)))
        .then([Event::PublicationHoldPlaced(v1::PublicationHoldPlaced {
            inspection_id: id(),
            complaint_id: COMPLAINT.to_string(),
            placed_at: ts(london(2025, 7, 15, 10, 0)),
        })]);
}

#[test]
fn a_hold_before_any_draft_is_rejected() {
    case(ins1_ended())
        .when(hold(COMPLAINT, london(2025, 6, 20, 10, 0)))
        .then_rejects(Rejection::NoDraftReport);
}

#[test]
fn a_hold_after_publication_is_rejected() {
    case(ins1_published())
        .when(hold(COMPLAINT, london(2025, 7, 17, 10, 0)))
        .then_rejects(Rejection::AlreadyPublished);
}

#[test]
fn a_hold_on_an_inspection_never_notified_is_rejected() {
    case(vec![])
        .when(hold(COMPLAINT, london(2025, 7, 17, 10, 0)))
        .then_rejects(Rejection::NotNotified);
}

#[test]
fn releasing_a_hold_records_why() {
    let state = case(ins1_held())
        .when(release(
            COMPLAINT,
            HoldReleaseReason::ResponseIssued,
            london(2025, 8, 14, 10, 5),
        ))
        .then([Event::PublicationHoldReleased(
            v1::PublicationHoldReleased {
                inspection_id: id(),
                complaint_id: COMPLAINT.to_string(),
                reason: v1::HoldReleaseReason::ResponseIssued as i32,
                released_at: ts(london(2025, 8, 14, 10, 5)),
            },
        )]);
    assert!(state.holds().is_empty());
}

#[test]
fn releasing_a_hold_that_is_not_held_records_nothing() {
    case(ins1_drafted())
        .when(release(
            OTHER_COMPLAINT,
            HoldReleaseReason::Withdrawn,
            london(2025, 7, 20, 10, 0),
        ))
        .then_nothing();
}

#[test]
fn releasing_a_hold_after_publication_records_nothing() {
    case(ins1_published())
        .when(release(
            COMPLAINT,
            HoldReleaseReason::Withdrawn,
            london(2025, 7, 20, 10, 0),
        ))
        .then_nothing();
}

#[test]
fn releasing_a_hold_on_an_inspection_never_notified_is_rejected() {
    case(vec![])
        .when(release(
            COMPLAINT,
            HoldReleaseReason::Withdrawn,
            london(2025, 7, 20, 10, 0),
        ))
        .then_rejects(Rejection::NotNotified);
}

#[test]
fn the_case_knows_every_complaint_that_held_it_after_the_hold_is_released() {
    let history = and::<InspectionCase>(
        ins1_held(),
        [
            release(
                COMPLAINT,
                HoldReleaseReason::Withdrawn,
                london(2025, 7, 10, 10, 0),
            ),
            hold(OTHER_COMPLAINT, london(2025, 7, 11, 10, 0)),
        ],
    );
    let state = InspectionCase::replay(&history);
    assert_eq!(
        state.formal_complaints(),
        BTreeSet::from([COMPLAINT, OTHER_COMPLAINT])
    );
    assert_eq!(state.holds(), BTreeSet::from([OTHER_COMPLAINT]));
}

#[test]
fn a_case_without_a_draft_knows_no_complaints() {
    assert!(
        InspectionCase::replay(&ins1_ended())
            .formal_complaints()
            .is_empty()
    );
    assert!(InspectionCase::replay(&[]).formal_complaints().is_empty());
}

// ---- final report ----

#[test]
fn issuing_the_final_report_after_april_2024_opens_no_new_window() {
    case(ins1_drafted())
        .when(final_report(london(2025, 7, 14, 10, 0)))
        .then([Event::FinalReportIssued(v1::FinalReportIssued {
            inspection_id: id(),
            doc_ref: "doc:final-1".into(),
            issued_at: ts(london(2025, 7, 14, 10, 0)),
        })]);
}

#[test]
fn issuing_a_final_report_without_a_draft_is_rejected() {
    case(ins1_ended())
        .when(final_report(london(2025, 7, 14, 10, 0)))
        .then_rejects(Rejection::NoDraftReport);
}

#[test]
fn issuing_the_final_report_twice_is_rejected() {
    case(ins1_final())
        .when(final_report(london(2025, 7, 15, 10, 0)))
        .then_rejects(Rejection::ReportAlreadyFinal);
}

#[test]
fn issuing_the_final_report_under_another_policy_is_rejected() {
    case(ins1_drafted())
        .when(final_report_with(london(2025, 7, 14, 10, 0), era_b()))
        .then_rejects(Rejection::PolicyVersionMismatch {
            recorded: ERA_C.into(),
            supplied: ERA_B.into(),
        });
}

#[test]
fn issuing_a_final_report_for_an_inspection_never_notified_is_rejected() {
    case(vec![])
        .when(final_report(london(2025, 7, 14, 10, 0)))
        .then_rejects(Rejection::NotNotified);
}

// ---- publication ----

#[test]
fn a_final_report_without_holds_is_published() {
    let state = case(ins1_final())
        .when(publish(london(2025, 7, 16, 10, 0)))
        .then([Event::ReportPublished(v1::ReportPublished {
            inspection_id: id(),
            published_at: ts(london(2025, 7, 16, 10, 0)),
        })]);
    assert!(state.complaint_intake().unwrap().published);
}

#[test]
fn publishing_while_a_complaint_holds_the_report_is_rejected() {
    let history = and::<InspectionCase>(ins1_held(), [final_report(london(2025, 7, 14, 10, 0))]);
    case(history)
        .when(publish(london(2025, 7, 16, 10, 0)))
        .then_rejects(Rejection::PublicationHeld {
            complaint_ids: vec![COMPLAINT],
        });
}

#[test]
fn publishing_is_allowed_once_every_hold_is_released() {
    let history = and::<InspectionCase>(
        ins1_held(),
        [
            release(
                COMPLAINT,
                HoldReleaseReason::ResponseIssued,
                london(2025, 8, 14, 10, 5),
            ),
            final_report(london(2025, 8, 15, 10, 0)),
        ],
    );
    case(history)
        .when(publish(london(2025, 8, 18, 10, 0)))
        .then([Event::ReportPublished(v1::ReportPublished {
            inspection_id: id(),
            published_at: ts(london(2025, 8, 18, 10, 0)),
        })]);
}

#[test]
fn publishing_before_the_final_report_is_rejected() {
    case(ins1_drafted())
        .when(publish(london(2025, 7, 16, 10, 0)))
        .then_rejects(Rejection::FinalReportNotIssued);
}

#[test]
fn publishing_twice_is_rejected() {
    case(ins1_published())
        .when(publish(london(2025, 7, 17, 10, 0)))
        .then_rejects(Rejection::AlreadyPublished);
}

#[test]
fn publishing_a_report_for_an_inspection_never_notified_is_rejected() {
    case(vec![])
        .when(publish(london(2025, 7, 17, 10, 0)))
        .then_rejects(Rejection::NotNotified);
}

// ---- publication delay ----

fn require_explanation(now: jiff::Timestamp) -> Command {
    Command::RequirePublicationDelayExplanation { now }
}

fn explain(text_ref: &str) -> Command {
    Command::RecordPublicationDelayExplanation {
        reason: PublicationDelayReason::FormalComplaintOpen,
        text_ref: text_ref.into(),
        explained_at: london(2025, 7, 25, 10, 0),
    }
}

#[test]
fn a_report_unpublished_after_the_expected_time_needs_an_explanation() {
    case(ins1_held())
        .when(require_explanation(london(2025, 7, 24, 0, 1)))
        .then([Event::PublicationDelayExplanationDue(
            v1::PublicationDelayExplanationDue {
                inspection_id: id(),
                publication_expected_by: ts(end_of(2025, 7, 23)),
                raised_at: ts(london(2025, 7, 24, 0, 1)),
                policy_version: ERA_C.into(),
                calendar_version: CALENDAR_VERSION.into(),
            },
        )]);
}

#[test]
fn no_explanation_is_due_before_the_expected_time() {
    case(ins1_held())
        .when(require_explanation(end_of(2025, 7, 23)))
        .then_rejects(Rejection::PublicationNotDelayed {
            publication_expected_by: end_of(2025, 7, 23),
        });
}

#[test]
fn an_explanation_already_due_is_not_raised_again() {
    let history = and::<InspectionCase>(
        ins1_held(),
        [require_explanation(london(2025, 7, 24, 0, 1))],
    );
    case(history)
        .when(require_explanation(london(2025, 7, 25, 0, 1)))
        .then_nothing();
}

#[test]
fn a_delay_already_explained_is_not_raised() {
    let history = and::<InspectionCase>(ins1_held(), [explain("doc:delay-1")]);
    case(history)
        .when(require_explanation(london(2025, 7, 25, 0, 1)))
        .then_nothing();
}

#[test]
fn no_explanation_is_due_before_on_site_work_ends() {
    case(ins1_on_site())
        .when(require_explanation(london(2025, 7, 24, 0, 1)))
        .then_rejects(Rejection::OnSiteNotEnded);
}

#[test]
fn no_explanation_is_due_after_publication() {
    case(ins1_published())
        .when(require_explanation(london(2025, 7, 24, 0, 1)))
        .then_rejects(Rejection::AlreadyPublished);
}

#[test]
fn no_explanation_is_due_for_an_inspection_never_notified() {
    case(vec![])
        .when(require_explanation(london(2025, 7, 24, 0, 1)))
        .then_rejects(Rejection::NotNotified);
}

#[test]
fn the_provider_is_told_why_publication_is_delayed() {
    let history = and::<InspectionCase>(
        ins1_held(),
        [require_explanation(london(2025, 7, 24, 0, 1))],
    );
    case(history)
        .when(explain("doc:delay-1"))
        .then([Event::PublicationDelayExplained(
            v1::PublicationDelayExplained {
                inspection_id: id(),
                reason: v1::PublicationDelayReason::FormalComplaintOpen as i32,
                text_ref: "doc:delay-1".into(),
                explained_at: ts(london(2025, 7, 25, 10, 0)),
            },
        )]);
}

#[test]
fn an_incomplete_inspection_s_delay_can_be_explained_at_once() {
    case(ins1_incomplete())
        .when(Command::RecordPublicationDelayExplanation {
            reason: PublicationDelayReason::InspectionIncomplete,
            text_ref: "doc:delay-2".into(),
            explained_at: london(2025, 6, 18, 10, 0),
        })
        .then([Event::PublicationDelayExplained(
            v1::PublicationDelayExplained {
                inspection_id: id(),
                reason: v1::PublicationDelayReason::InspectionIncomplete as i32,
                text_ref: "doc:delay-2".into(),
                explained_at: ts(london(2025, 6, 18, 10, 0)),
            },
        )]);
}

#[test]
fn an_explanation_without_the_text_shown_is_rejected() {
    case(ins1_held())
        .when(explain(""))
        .then_rejects(Rejection::ExplanationTextRequired);
}

#[test]
fn explaining_a_delay_after_publication_is_rejected() {
    case(ins1_published())
        .when(explain("doc:delay-1"))
        .then_rejects(Rejection::AlreadyPublished);
}

#[test]
fn explaining_a_delay_during_on_site_work_is_rejected() {
    case(ins1_on_site())
        .when(explain("doc:delay-1"))
        .then_rejects(Rejection::OnSiteNotEnded);
}

#[test]
fn explaining_a_delay_for_an_inspection_never_notified_is_rejected() {
    case(vec![])
        .when(explain("doc:delay-1"))
        .then_rejects(Rejection::NotNotified);
}

// ---- wellbeing contact ----

#[test]
fn a_wellbeing_contact_is_recorded_by_vault_reference_only() {
    let vault = Uuid::from_u128(0x7000_0001);
    case(run::<InspectionCase>([notify(day(2025, 6, 10))]))
        .when(Command::RecordWellbeingContact {
            vault_ref: VaultRef(vault),
            kind: WellbeingContactKind::AlternativeEmergencyContact,
            recorded_at: london(2025, 6, 9, 10, 30),
        })
        .then([Event::WellbeingContactRecorded(
            v1::WellbeingContactRecorded {
                inspection_id: id(),
                vault_ref: vault.to_string(),
                kind: v1::WellbeingContactKind::AlternativeEmergencyContact as i32,
                recorded_at: ts(london(2025, 6, 9, 10, 30)),
            },
        )]);
}

#[test]
fn a_wellbeing_contact_for_an_inspection_never_notified_is_rejected() {
    case(vec![])
        .when(Command::RecordWellbeingContact {
            vault_ref: VaultRef(Uuid::from_u128(1)),
            kind: WellbeingContactKind::ResponsibleForLeadersWellbeing,
            recorded_at: london(2025, 6, 9, 10, 30),
        })
        .then_rejects(Rejection::NotNotified);
}

// ---- tribunal appeals ----

fn appeal_lodged_event(appeal_ref: &str, at: jiff::Timestamp) -> Event {
    Event::TribunalAppealLodged(v1::TribunalAppealLodged {
        inspection_id: id(),
        appeal_ref: appeal_ref.into(),
        lodged_at: ts(at),
    })
}

/// INS-1 published, then an appeal lodged on Mon 21 July 2025.
fn ins1_published_and_appealed() -> Vec<Event> {
    and::<InspectionCase>(
        ins1_published(),
        [appeal_lodged(APPEAL, london(2025, 7, 21, 9, 0))],
    )
}

#[test]
fn lodging_a_tribunal_appeal_records_it_and_bars_formal_complaints() {
    let state = case(ins1_drafted())
        .when(appeal_lodged(APPEAL, london(2025, 7, 2, 9, 0)))
        .then([appeal_lodged_event(APPEAL, london(2025, 7, 2, 9, 0))]);
    assert!(state.tribunal_appeal_pending());
    assert!(state.complaint_intake().unwrap().tribunal_appeal_pending);
}

#[test]
fn an_appeal_may_be_lodged_at_any_stage_after_notification_and_leaves_the_stage_alone() {
    let histories = [
        run::<InspectionCase>([notify(day(2025, 6, 10))]),
        ins1_on_site(),
        ins1_paused(),
        ins1_incomplete(),
        ins1_ended(),
        ins1_drafted(),
        ins1_final(),
        ins1_published(),
    ];
    for history in histories {
        let before = InspectionCase::replay(&history);
        let after = case(history)
            .when(appeal_lodged(APPEAL, london(2025, 7, 21, 9, 0)))
            .then([appeal_lodged_event(APPEAL, london(2025, 7, 21, 9, 0))]);
        assert_eq!(after.stage(), before.stage());
        assert_eq!(after.holds(), before.holds());
        assert!(after.tribunal_appeal_pending());
    }
}

#[test]
fn a_case_keeps_taking_its_facts_while_an_appeal_is_pending() {
    let appealed = and::<InspectionCase>(
        ins1_on_site(),
        [appeal_lodged(APPEAL, london(2025, 6, 10, 12, 0))],
    );
    let state = case(appealed)
        .when(end(day(2025, 6, 11), london(2025, 6, 11, 17, 0)))
        .then([ended_event()]);
    assert!(state.tribunal_appeal_pending());
}

#[test]
fn lodging_an_appeal_for_an_inspection_never_notified_is_rejected() {
    case(vec![])
        .when(appeal_lodged(APPEAL, london(2025, 7, 2, 9, 0)))
        .then_rejects(Rejection::NotNotified);
}

#[test]
fn lodging_the_same_appeal_twice_records_nothing() {
    case(ins1_appealed())
        .when(appeal_lodged(APPEAL, london(2025, 7, 3, 9, 0)))
        .then_nothing();
}

#[test]
fn lodging_a_concluded_appeal_again_records_nothing_and_does_not_reopen_it() {
    let concluded = and::<InspectionCase>(
        ins1_appealed(),
        [appeal_concluded(APPEAL, london(2025, 9, 1, 9, 0))],
    );
    let state = InspectionCase::replay(&concluded);
    case(concluded)
        .when(appeal_lodged(APPEAL, london(2025, 9, 2, 9, 0)))
        .then_nothing();
    assert!(!state.tribunal_appeal_pending());
}

#[test]
fn an_appeal_without_the_partners_reference_is_rejected() {
    case(ins1_drafted())
        .when(appeal_lodged(" ", london(2025, 7, 2, 9, 0)))
        .then_rejects(Rejection::AppealRefRequired);
    case(ins1_appealed())
        .when(appeal_concluded("", london(2025, 9, 1, 9, 0)))
        .then_rejects(Rejection::AppealRefRequired);
}

#[test]
fn concluding_an_appeal_records_its_outcome_and_lifts_the_bar() {
    let state = case(ins1_appealed())
        .when(Command::RecordTribunalAppealConcluded {
            appeal_ref: APPEAL.into(),
            outcome: TribunalAppealOutcome::Withdrawn,
            concluded_at: london(2025, 9, 1, 9, 0),
        })
        .then([Event::TribunalAppealConcluded(
            v1::TribunalAppealConcluded {
                inspection_id: id(),
                appeal_ref: APPEAL.into(),
                outcome: v1::TribunalAppealOutcome::Withdrawn as i32,
                concluded_at: ts(london(2025, 9, 1, 9, 0)),
            },
        )]);
    assert!(!state.tribunal_appeal_pending());
    assert!(!state.complaint_intake().unwrap().tribunal_appeal_pending);
}

#[test]
fn concluding_an_appeal_on_the_instant_it_was_lodged_is_allowed() {
    case(ins1_appealed())
        .when(appeal_concluded(APPEAL, london(2025, 7, 2, 9, 0)))
        .then([Event::TribunalAppealConcluded(
            v1::TribunalAppealConcluded {
                inspection_id: id(),
                appeal_ref: APPEAL.into(),
                outcome: v1::TribunalAppealOutcome::Dismissed as i32,
                concluded_at: ts(london(2025, 7, 2, 9, 0)),
            },
        )]);
}

#[test]
fn concluding_an_appeal_never_lodged_is_rejected() {
    case(ins1_appealed())
        .when(appeal_concluded(OTHER_APPEAL, london(2025, 9, 1, 9, 0)))
        .then_rejects(Rejection::TribunalAppealNotLodged);
}

#[test]
fn concluding_an_appeal_twice_is_rejected() {
    let concluded = and::<InspectionCase>(
        ins1_appealed(),
        [appeal_concluded(APPEAL, london(2025, 9, 1, 9, 0))],
    );
    case(concluded)
        .when(appeal_concluded(APPEAL, london(2025, 9, 2, 9, 0)))
        .then_rejects(Rejection::TribunalAppealAlreadyConcluded);
}

#[test]
fn concluding_an_appeal_before_it_was_lodged_is_rejected() {
    case(ins1_appealed())
        .when(appeal_concluded(APPEAL, london(2025, 7, 1, 9, 0)))
        .then_rejects(Rejection::TribunalAppealConcludedBeforeLodged {
            lodged_at: london(2025, 7, 2, 9, 0),
        });
}

#[test]
fn concluding_an_appeal_for_an_inspection_never_notified_is_rejected() {
    case(vec![])
        .when(appeal_concluded(APPEAL, london(2025, 9, 1, 9, 0)))
        .then_rejects(Rejection::NotNotified);
}

#[test]
fn complaints_stay_barred_until_every_appeal_has_concluded() {
    let two = and::<InspectionCase>(
        ins1_published_and_appealed(),
        [appeal_lodged(OTHER_APPEAL, london(2025, 7, 22, 9, 0))],
    );
    let one_left = and::<InspectionCase>(
        two.clone(),
        [appeal_concluded(APPEAL, london(2025, 9, 1, 9, 0))],
    );
    let none_left = and::<InspectionCase>(
        one_left.clone(),
        [appeal_concluded(OTHER_APPEAL, london(2025, 9, 2, 9, 0))],
    );
    let a_later_one = and::<InspectionCase>(
        none_left.clone(),
        [appeal_lodged(
            "tribunal:EA-2026-0007",
            london(2026, 1, 5, 9, 0),
        )],
    );
    let pending = |history: &[Event]| InspectionCase::replay(history).tribunal_appeal_pending();
    assert!(pending(&two));
    assert!(pending(&one_left));
    assert!(!pending(&none_left));
    assert!(pending(&a_later_one));
}

#[test]
fn an_appeal_outcome_this_build_does_not_know_still_concludes_the_appeal() {
    let mut history = ins1_appealed();
    history.push(Event::TribunalAppealConcluded(
        v1::TribunalAppealConcluded {
            inspection_id: id(),
            appeal_ref: APPEAL.into(),
            outcome: 99,
            concluded_at: ts(london(2025, 9, 1, 9, 0)),
        },
    ));
    assert!(!InspectionCase::replay(&history).tribunal_appeal_pending());
}

#[test]
fn the_appeal_events_survive_storage_under_their_fully_qualified_names() {
    let history = and::<InspectionCase>(
        ins1_appealed(),
        [appeal_concluded(APPEAL, london(2025, 9, 1, 9, 0))],
    );
    let names: Vec<&str> = history
        .iter()
        .rev()
        .take(2)
        .map(|e| e.event_type())
        .collect();
    assert_eq!(
        names,
        [
            "redress.complaints.v1.TribunalAppealConcluded",
            "redress.complaints.v1.TribunalAppealLodged"
        ]
    );
    for event in history {
        assert_eq!(
            Event::decode(event.event_type(), &event.encode_payload()).as_ref(),
            Ok(&event)
        );
    }
}

#[test]
fn every_tribunal_appeal_rejection_has_a_stable_reason_code() {
    let codes = [
        Rejection::AppealRefRequired.reason(),
        Rejection::TribunalAppealNotLodged.reason(),
        Rejection::TribunalAppealAlreadyConcluded.reason(),
        Rejection::TribunalAppealConcludedBeforeLodged {
            lodged_at: london(2025, 7, 2, 9, 0),
        }
        .reason(),
    ];
    assert_eq!(
        codes,
        [
            "APPEAL_REF_REQUIRED",
            "TRIBUNAL_APPEAL_NOT_LODGED",
            "TRIBUNAL_APPEAL_ALREADY_CONCLUDED",
            "TRIBUNAL_APPEAL_CONCLUDED_BEFORE_LODGED"
        ]
    );
}

// ---- the facts other aggregates read ----

#[test]
fn the_stage_follows_the_inspection() {
    assert_eq!(
        InspectionCase::default().stage(),
        InspectionStage::NotStarted
    );
    assert_eq!(
        InspectionCase::replay(&run::<InspectionCase>([notify(day(2025, 6, 10))])).stage(),
        InspectionStage::NotStarted
    );
    assert_eq!(
        InspectionCase::replay(&ins1_paused()).stage(),
        InspectionStage::Paused
    );
    assert_eq!(
        InspectionCase::replay(&ins1_incomplete()).stage(),
        InspectionStage::Incomplete
    );
    assert!(matches!(
        InspectionCase::replay(&ins1_published()).stage(),
        InspectionStage::Ended(_)
    ));
}

#[test]
fn the_complaint_intake_reports_the_draft_window_route_and_publication() {
    let before = InspectionCase::replay(&ins1_ended())
        .complaint_intake()
        .unwrap();
    assert_eq!(before.draft, None);
    assert_eq!(before.policy_version, ERA_C);
    assert_eq!(before.remit, Remit::Schools);
    let history = and::<InspectionCase>(ins1_drafted(), [fast_track(london(2025, 7, 2, 10, 0))]);
    let after = InspectionCase::replay(&history).complaint_intake().unwrap();
    let draft = after.draft.unwrap();
    assert_eq!(draft.issued_at, london(2025, 6, 30, 10, 0));
    assert!(draft.fast_track_chosen);
    assert!(!after.published);
    assert!(InspectionCase::default().complaint_intake().is_none());
    assert!(InspectionCase::default().team().is_none());
}

#[test]
fn the_complaint_intake_reports_the_last_on_site_day_once_on_site_work_ended() {
    let on_site = InspectionCase::replay(&ins1_on_site())
        .complaint_intake()
        .unwrap();
    assert_eq!(on_site.last_onsite_date, None);
    for history in [ins1_ended(), ins1_drafted(), ins1_published()] {
        let intake = InspectionCase::replay(&history).complaint_intake().unwrap();
        assert_eq!(intake.last_onsite_date, Some(day(2025, 6, 11)));
    }
    let incomplete = InspectionCase::replay(&ins1_incomplete())
        .complaint_intake()
        .unwrap();
    assert_eq!(incomplete.last_onsite_date, None);
}

#[test]
fn a_complaint_records_the_last_on_site_day_of_its_inspection() {
    let events = complaints::domain::complaint::FormalComplaint::default()
        .decide(submit(london(2025, 7, 3, 10, 0), &ins1_drafted()))
        .unwrap();
    let Some(complaints::domain::complaint::Event::ComplaintSubmitted(submitted)) = events.first()
    else {
        panic!("a submission: {events:?}");
    };
    assert_eq!(submitted.last_onsite_date, "2025-06-11");
}

#[test]
fn every_event_survives_storage_under_its_fully_qualified_name() {
    for event in ins1_published() {
        assert!(event.event_type().starts_with("redress.complaints.v1."));
        assert_eq!(
            Event::decode(event.event_type(), &event.encode_payload()).as_ref(),
            Ok(&event)
        );
    }
}

#[test]
fn every_rejection_has_a_stable_reason_code() {
    let codes = [
        Rejection::NotNotified.reason(),
        Rejection::PublicationHeld {
            complaint_ids: vec![],
        }
        .reason(),
        Rejection::PauseLimitExceeded {
            resume_deadline: end_of(2025, 6, 17),
        }
        .reason(),
        Rejection::CalendarOutOfRange {
            date: day(2031, 1, 1),
        }
        .reason(),
    ];
    assert_eq!(
        codes,
        [
            "NOT_NOTIFIED",
            "PUBLICATION_HELD",
            "PAUSE_LIMIT_EXCEEDED",
            "CALENDAR_OUT_OF_RANGE"
        ]
    );
}
