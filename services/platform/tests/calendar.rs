//! The working-day calendar: bank holidays, clock changes, range checks and operator extensions.

use jiff::Timestamp;
use jiff::civil::{Date, date, time};
use jiff::tz::TimeZone;
use platform::calendar::{Calendar, CalendarError, local_date};

fn ew() -> &'static Calendar {
    Calendar::england_and_wales()
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("test timestamps are valid")
}

fn london() -> TimeZone {
    TimeZone::get("Europe/London").expect("Europe/London is bundled")
}

fn extension(version: &str, dates: &[&str]) -> String {
    let events: Vec<_> = dates
        .iter()
        .map(|d| serde_json::json!({ "date": d, "title": "Bank holiday", "status": "announced" }))
        .collect();
    serde_json::json!({
        "division": "england-and-wales",
        "calendar_version": version,
        "source": "operator",
        "events": events,
    })
    .to_string()
}

const EW_2031: &[&str] = &[
    "2031-01-01",
    "2031-04-11",
    "2031-04-14",
    "2031-05-05",
    "2031-05-26",
    "2031-08-25",
    "2031-12-25",
    "2031-12-26",
];

// ---- the embedded table ----

#[test]
fn the_embedded_table_parses_and_covers_2020_to_2030() {
    let calendar = ew();
    assert_eq!(calendar.version(), "ew-2026-11");
    assert_eq!(calendar.covered_years(), 2020..=2030);
}

#[test]
fn the_embedded_table_matches_domain_research_for_2024_to_2027() {
    let expected: Vec<Date> = [
        (
            2024,
            [
                "01-01", "03-29", "04-01", "05-06", "05-27", "08-26", "12-25", "12-26",
            ],
        ),
        (
            2025,
            [
                "01-01", "04-18", "04-21", "05-05", "05-26", "08-25", "12-25", "12-26",
            ],
        ),
        (
            2026,
            [
                "01-01", "04-03", "04-06", "05-04", "05-25", "08-31", "12-25", "12-28",
            ],
        ),
        (
            2027,
            [
                "01-01", "03-26", "03-29", "05-03", "05-31", "08-30", "12-27", "12-28",
            ],
        ),
    ]
    .iter()
    .flat_map(|(year, days)| days.iter().map(move |d| format!("{year}-{d}")))
    .map(|s| s.parse().expect("valid date"))
    .collect();
    let actual: Vec<Date> = ew()
        .holidays()
        .filter(|d| (2024..=2027).contains(&d.year()))
        .collect();
    assert_eq!(actual, expected);
}

#[test]
fn every_covered_year_lists_at_least_the_eight_regular_bank_holidays() {
    for year in ew().covered_years() {
        let count = ew().holidays().filter(|d| d.year() == year).count();
        assert!(count >= 8, "{year} lists only {count} bank holidays");
    }
}

// ---- bank holidays ----

#[test]
fn good_friday_and_easter_monday_2025_are_skipped() -> Result<(), CalendarError> {
    assert!(!ew().is_working_day(date(2025, 4, 18))?);
    assert!(!ew().is_working_day(date(2025, 4, 21))?);
    assert_eq!(
        ew().next_working_day_after(date(2025, 4, 17))?,
        date(2025, 4, 22)
    );
    assert_eq!(
        ew().nth_working_day_after(date(2025, 4, 16), 2)?,
        date(2025, 4, 22)
    );
    Ok(())
}

#[test]
fn good_friday_and_easter_monday_2026_are_skipped() -> Result<(), CalendarError> {
    assert!(!ew().is_working_day(date(2026, 4, 3))?);
    assert!(!ew().is_working_day(date(2026, 4, 6))?);
    assert_eq!(
        ew().next_working_day_after(date(2026, 4, 2))?,
        date(2026, 4, 7)
    );
    Ok(())
}

#[test]
fn christmas_2026_has_a_boxing_day_substitute_on_monday_28_december() -> Result<(), CalendarError> {
    assert!(!ew().is_working_day(date(2026, 12, 25))?);
    assert!(!ew().is_working_day(date(2026, 12, 28))?);
    assert!(ew().is_working_day(date(2026, 12, 29))?);
    Ok(())
}

#[test]
fn the_next_working_day_after_thursday_24_december_2026_is_tuesday_29_december()
-> Result<(), CalendarError> {
    assert_eq!(
        ew().next_working_day_after(date(2026, 12, 24))?,
        date(2026, 12, 29)
    );
    Ok(())
}

#[test]
fn christmas_2027_has_substitutes_on_27_and_28_december() -> Result<(), CalendarError> {
    assert!(!ew().is_working_day(date(2027, 12, 27))?);
    assert!(!ew().is_working_day(date(2027, 12, 28))?);
    assert_eq!(
        ew().next_working_day_after(date(2027, 12, 24))?,
        date(2027, 12, 29)
    );
    Ok(())
}

#[test]
fn new_year_2028_has_a_substitute_on_monday_3_january() -> Result<(), CalendarError> {
    assert!(!ew().is_working_day(date(2028, 1, 3))?);
    assert_eq!(
        ew().next_working_day_after(date(2027, 12, 31))?,
        date(2028, 1, 4)
    );
    Ok(())
}

#[test]
fn the_early_may_and_spring_bank_holidays_are_skipped() -> Result<(), CalendarError> {
    assert_eq!(
        ew().next_working_day_after(date(2026, 5, 1))?,
        date(2026, 5, 5)
    );
    assert_eq!(
        ew().next_working_day_after(date(2026, 5, 22))?,
        date(2026, 5, 26)
    );
    assert_eq!(
        ew().next_working_day_after(date(2025, 5, 2))?,
        date(2025, 5, 6)
    );
    assert_eq!(
        ew().next_working_day_after(date(2025, 5, 23))?,
        date(2025, 5, 27)
    );
    Ok(())
}

#[test]
fn school_holidays_do_not_stop_the_clock() -> Result<(), CalendarError> {
    // Mid-August is the school summer holiday everywhere in England.
    assert!(ew().is_working_day(date(2026, 8, 12))?);
    Ok(())
}

// ---- counting ----

#[test]
fn the_next_working_day_after_a_friday_is_monday() -> Result<(), CalendarError> {
    assert_eq!(
        ew().next_working_day_after(date(2026, 6, 5))?,
        date(2026, 6, 8)
    );
    Ok(())
}

#[test]
fn day_zero_is_the_date_itself() -> Result<(), CalendarError> {
    assert_eq!(
        ew().nth_working_day_after(date(2026, 6, 6), 0)?,
        date(2026, 6, 6)
    );
    Ok(())
}

#[test]
fn an_event_on_a_saturday_counts_from_monday_as_day_one() -> Result<(), CalendarError> {
    assert_eq!(
        ew().nth_working_day_after(date(2026, 6, 6), 1)?,
        date(2026, 6, 8)
    );
    assert_eq!(
        ew().nth_working_day_after(date(2026, 6, 6), 5)?,
        date(2026, 6, 12)
    );
    let deadline = ew().end_of_nth_working_day_after(ts("2026-06-06T10:00:00Z"), 1)?;
    assert_eq!(deadline, ts("2026-06-08T22:59:59.999999999Z"));
    Ok(())
}

#[test]
fn an_event_late_in_the_evening_utc_counts_from_the_london_date() -> Result<(), CalendarError> {
    let at = ts("2026-06-30T23:30:00Z");
    assert_eq!(local_date(at), date(2026, 7, 1));
    let deadline = ew().end_of_nth_working_day_after(at, 1)?;
    assert_eq!(deadline, ts("2026-07-02T22:59:59.999999999Z"));
    Ok(())
}

#[test]
fn a_five_working_day_deadline_skips_easter() -> Result<(), CalendarError> {
    // Day 0 Mon 30 Mar; 31 Mar, 1 Apr, 2 Apr, then Good Friday and Easter Monday, 7 Apr, 8 Apr.
    let deadline = ew().end_of_nth_working_day_after(ts("2026-03-30T09:00:00Z"), 5)?;
    assert_eq!(deadline, ts("2026-04-08T22:59:59.999999999Z"));
    Ok(())
}

#[test]
fn working_days_between_counts_days_after_from_up_to_and_including_to() -> Result<(), CalendarError>
{
    assert_eq!(
        ew().working_days_between(date(2026, 3, 30), date(2026, 4, 8))?,
        5
    );
    assert_eq!(
        ew().working_days_between(date(2026, 6, 5), date(2026, 6, 8))?,
        1
    );
    assert_eq!(
        ew().working_days_between(date(2026, 6, 6), date(2026, 6, 7))?,
        0
    );
    assert_eq!(
        ew().working_days_between(date(2026, 6, 8), date(2026, 6, 8))?,
        0
    );
    assert_eq!(
        ew().working_days_between(date(2026, 6, 8), date(2026, 6, 1))?,
        0
    );
    Ok(())
}

#[test]
fn working_days_between_agrees_with_nth_working_day_after() -> Result<(), CalendarError> {
    let start = date(2026, 12, 19);
    for n in 0..30 {
        let nth = ew().nth_working_day_after(start, n)?;
        assert_eq!(ew().working_days_between(start, nth)?, n);
    }
    Ok(())
}

// ---- clock changes ----

#[test]
fn the_deadline_after_spring_forward_ends_at_local_midnight_less_a_nanosecond()
-> Result<(), CalendarError> {
    // Clocks went forward on Sunday 29 March 2026; 00:30 BST on Monday 30 March is 23:30Z on the 29th.
    let at = ts("2026-03-29T23:30:00Z");
    assert_eq!(local_date(at), date(2026, 3, 30));
    let same_day = ew().end_of_nth_working_day_after(at, 0)?;
    assert_eq!(same_day, ts("2026-03-30T22:59:59.999999999Z"));
    let next_day = ew().end_of_nth_working_day_after(at, 1)?;
    assert_eq!(next_day, ts("2026-03-31T22:59:59.999999999Z"));
    assert_eq!(
        next_day.to_zoned(london()).time(),
        time(23, 59, 59, 999_999_999)
    );
    Ok(())
}

#[test]
fn a_deadline_across_spring_forward_moves_from_gmt_to_bst() -> Result<(), CalendarError> {
    // Friday 27 March 2026 is GMT; the deadline on Monday 30 March is BST.
    let deadline = ew().end_of_nth_working_day_after(ts("2026-03-27T00:30:00Z"), 1)?;
    assert_eq!(deadline, ts("2026-03-30T22:59:59.999999999Z"));
    assert_eq!(
        deadline.to_zoned(london()).time(),
        time(23, 59, 59, 999_999_999)
    );
    Ok(())
}

#[test]
fn the_deadline_after_autumn_back_ends_at_local_midnight_less_a_nanosecond()
-> Result<(), CalendarError> {
    // Clocks went back on Sunday 25 October 2026; 00:30 GMT on Monday 26 October is 00:30Z.
    let at = ts("2026-10-26T00:30:00Z");
    assert_eq!(local_date(at), date(2026, 10, 26));
    let deadline = ew().end_of_nth_working_day_after(at, 0)?;
    assert_eq!(deadline, ts("2026-10-26T23:59:59.999999999Z"));
    assert_eq!(
        deadline.to_zoned(london()).time(),
        time(23, 59, 59, 999_999_999)
    );
    Ok(())
}

#[test]
fn a_deadline_across_autumn_back_moves_from_bst_to_gmt() -> Result<(), CalendarError> {
    // 00:30 BST on Friday 23 October 2026 is 23:30Z on the 22nd.
    let at = ts("2026-10-22T23:30:00Z");
    assert_eq!(local_date(at), date(2026, 10, 23));
    let deadline = ew().end_of_nth_working_day_after(at, 1)?;
    assert_eq!(deadline, ts("2026-10-26T23:59:59.999999999Z"));
    Ok(())
}

#[test]
fn the_next_working_day_window_runs_from_local_midnight_to_the_end_of_the_day()
-> Result<(), CalendarError> {
    let (start, end) = ew().working_day_window_after(ts("2026-12-24T15:00:00Z"))?;
    assert_eq!(start, ts("2026-12-29T00:00:00Z"));
    assert_eq!(end, ts("2026-12-29T23:59:59.999999999Z"));
    let (start, end) = ew().working_day_window_after(ts("2026-06-05T16:00:00Z"))?;
    assert_eq!(start, ts("2026-06-07T23:00:00Z"));
    assert_eq!(end, ts("2026-06-08T22:59:59.999999999Z"));
    Ok(())
}

#[test]
fn the_next_working_day_window_after_the_spring_forward_weekend_starts_at_midnight_bst()
-> Result<(), CalendarError> {
    // Starts in BST: Monday 30 March 2026 00:00 BST is 23:00Z on Sunday.
    let (start, end) = ew().working_day_window_after(ts("2026-03-27T12:00:00Z"))?;
    assert_eq!(start, ts("2026-03-29T23:00:00Z"));
    assert_eq!(end, ts("2026-03-30T22:59:59.999999999Z"));
    Ok(())
}

// ---- out of range ----

fn assert_out_of_range<T: std::fmt::Debug>(result: Result<T, CalendarError>, expected: Date) {
    match result {
        Err(CalendarError::OutOfRange { date }) => assert_eq!(date, expected),
        other => panic!("expected OutOfRange {{ date: {expected} }}, got {other:?}"),
    }
}

#[test]
fn dates_after_the_covered_years_are_an_error_not_a_working_day() {
    assert_out_of_range(ew().is_working_day(date(2031, 1, 2)), date(2031, 1, 2));
}

#[test]
fn dates_before_the_covered_years_are_an_error() {
    assert_out_of_range(ew().is_working_day(date(2019, 12, 31)), date(2019, 12, 31));
}

#[test]
fn counting_past_the_end_of_the_table_is_an_error() {
    assert_out_of_range(
        ew().next_working_day_after(date(2030, 12, 31)),
        date(2031, 1, 1),
    );
    assert_out_of_range(
        ew().nth_working_day_after(date(2030, 12, 20), 10),
        date(2031, 1, 1),
    );
    assert_out_of_range(
        ew().nth_working_day_after(date(2031, 6, 2), 0),
        date(2031, 6, 2),
    );
    assert_out_of_range(
        ew().end_of_nth_working_day_after(ts("2030-12-30T12:00:00Z"), 3),
        date(2031, 1, 1),
    );
    assert_out_of_range(
        ew().working_day_window_after(ts("2030-12-31T12:00:00Z")),
        date(2031, 1, 1),
    );
    assert_out_of_range(
        ew().working_days_between(date(2030, 12, 1), date(2031, 1, 5)),
        date(2031, 1, 5),
    );
    assert_out_of_range(
        ew().working_days_between(date(2019, 12, 1), date(2020, 1, 5)),
        date(2019, 12, 1),
    );
}

#[test]
fn the_last_representable_days_are_out_of_range_rather_than_a_panic() -> Result<(), CalendarError> {
    let years: Vec<String> = (2031..=9999).map(|year| format!("{year}-01-01")).collect();
    let years: Vec<&str> = years.iter().map(String::as_str).collect();
    let far = ew().with_extension_json(&extension("ops-far", &years))?;
    assert_eq!(far.covered_years(), 2020..=9999);
    assert_out_of_range(
        far.nth_working_day_after(date(9999, 12, 31), 1),
        date(9999, 12, 31),
    );
    // Timestamp::MAX is 9999-12-30 in London, and that day's end is not representable.
    assert_out_of_range(
        far.end_of_nth_working_day_after(Timestamp::MAX, 0),
        date(9999, 12, 30),
    );
    assert_out_of_range(
        far.working_day_window_after(Timestamp::MAX),
        date(9999, 12, 31),
    );
    Ok(())
}

#[test]
fn the_out_of_range_message_names_the_date() {
    let error = ew()
        .is_working_day(date(2031, 1, 2))
        .expect_err("2031 is not covered");
    assert_eq!(
        error.to_string(),
        "2031-01-02 is outside the years covered by the bank-holiday calendar"
    );
}

// ---- operator extensions ----

#[test]
fn an_extension_adds_a_later_year_and_combines_the_versions() -> Result<(), CalendarError> {
    let extended = ew().with_extension_json(&extension("ops-2031", EW_2031))?;
    assert_eq!(extended.version(), "ew-2026-11+ops-2031");
    assert_eq!(extended.covered_years(), 2020..=2031);
    assert!(!extended.is_working_day(date(2031, 1, 1))?);
    assert!(extended.is_working_day(date(2031, 1, 2))?);
    assert_eq!(
        extended.next_working_day_after(date(2030, 12, 31))?,
        date(2031, 1, 2)
    );
    assert!(!extended.is_working_day(date(2026, 12, 28))?);
    // The embedded calendar is unchanged.
    assert_eq!(ew().version(), "ew-2026-11");
    assert!(ew().is_working_day(date(2031, 1, 2)).is_err());
    Ok(())
}

#[test]
fn extensions_chain_and_each_version_is_recorded() -> Result<(), CalendarError> {
    let ew_2032 = EW_2031
        .iter()
        .map(|d| d.replace("2031", "2032"))
        .collect::<Vec<_>>();
    let ew_2032: Vec<&str> = ew_2032.iter().map(String::as_str).collect();
    let extended = ew()
        .with_extension_json(&extension("ops-2031", EW_2031))?
        .with_extension_json(&extension("ops-2032", &ew_2032))?;
    assert_eq!(extended.version(), "ew-2026-11+ops-2031+ops-2032");
    assert_eq!(extended.covered_years(), 2020..=2032);
    Ok(())
}

#[test]
fn an_extension_replaces_every_year_it_mentions() -> Result<(), CalendarError> {
    // A correction to the projected 2028: the summer holiday moves to 4 September.
    let corrected_2028 = [
        "2028-01-03",
        "2028-04-14",
        "2028-04-17",
        "2028-05-01",
        "2028-05-29",
        "2028-09-04",
        "2028-12-25",
        "2028-12-26",
    ];
    let extended = ew().with_extension_json(&extension("ops-2028-fix", &corrected_2028))?;
    assert_eq!(extended.version(), "ew-2026-11+ops-2028-fix");
    assert!(extended.is_working_day(date(2028, 8, 28))?);
    assert!(!extended.is_working_day(date(2028, 9, 4))?);
    assert_eq!(extended.holidays().filter(|d| d.year() == 2028).count(), 8);
    assert_eq!(extended.covered_years(), 2020..=2030);
    assert!(!extended.is_working_day(date(2027, 12, 28))?);
    Ok(())
}

#[test]
fn an_extension_may_carry_the_gov_uk_feed_fields() -> Result<(), CalendarError> {
    let json = r#"{"division": "england-and-wales", "calendar_version": "govuk-2031",
        "events": [{"title": "New Year’s Day", "date": "2031-01-01", "notes": "", "bunting": true}]}"#;
    let extended = ew().with_extension_json(json)?;
    assert_eq!(extended.version(), "ew-2026-11+govuk-2031");
    Ok(())
}

#[test]
fn an_extension_file_is_read_from_disk() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bank-holidays-2031.json");
    std::fs::write(&path, extension("ops-2031", EW_2031))?;
    let extended = ew().with_extension_file(&path)?;
    assert_eq!(extended.version(), "ew-2026-11+ops-2031");
    assert!(!extended.is_working_day(date(2031, 12, 26))?);
    Ok(())
}

#[test]
fn a_missing_extension_file_is_a_read_error() {
    let result = ew().with_extension_file("/nonexistent/bank-holidays.json");
    assert!(
        matches!(&result, Err(CalendarError::Read { path, .. }) if path.ends_with("bank-holidays.json")),
        "{result:?}"
    );
}

#[test]
fn an_extension_that_is_not_json_is_malformed() {
    let result = ew().with_extension_json("{ not json");
    assert!(
        matches!(result, Err(CalendarError::Malformed(_))),
        "{result:?}"
    );
}

#[test]
fn an_extension_missing_a_field_is_malformed() {
    let json = r#"{"division": "england-and-wales", "events": [{"date": "2031-01-01"}]}"#;
    let result = ew().with_extension_json(json);
    assert!(
        matches!(result, Err(CalendarError::Malformed(_))),
        "{result:?}"
    );
}

#[test]
fn an_extension_with_an_unparseable_date_is_rejected() {
    for bad in [
        "2031-02-30",
        "2031-1-1",
        "01/01/2031",
        "2031-01-01T00:00:00",
        "",
    ] {
        let result = ew().with_extension_json(&extension("ops-2031", &[bad]));
        assert!(
            matches!(&result, Err(CalendarError::InvalidDate { value }) if value == bad),
            "{bad:?}: {result:?}"
        );
    }
}

#[test]
fn an_extension_for_another_division_is_rejected() {
    let json = extension("ops-2031", EW_2031).replace("england-and-wales", "scotland");
    let result = ew().with_extension_json(&json);
    assert!(
        matches!(&result, Err(CalendarError::WrongDivision { found }) if found == "scotland"),
        "{result:?}"
    );
}

#[test]
fn an_extension_listing_a_date_twice_is_rejected() {
    let result = ew().with_extension_json(&extension("ops-2031", &["2031-01-01", "2031-01-01"]));
    assert!(
        matches!(result, Err(CalendarError::DuplicateDate { date: d }) if d == date(2031, 1, 1)),
        "{result:?}"
    );
}

#[test]
fn an_extension_with_an_empty_version_is_rejected() {
    for version in ["", "   "] {
        let result = ew().with_extension_json(&extension(version, EW_2031));
        assert!(
            matches!(result, Err(CalendarError::EmptyVersion)),
            "{version:?}: {result:?}"
        );
    }
}

#[test]
fn an_extension_with_no_holidays_is_rejected() {
    let result = ew().with_extension_json(&extension("ops-empty", &[]));
    assert!(matches!(result, Err(CalendarError::NoEvents)), "{result:?}");
}

#[test]
fn an_extension_that_leaves_a_year_uncovered_is_rejected() {
    let ew_2032: Vec<String> = EW_2031.iter().map(|d| d.replace("2031", "2032")).collect();
    let ew_2032: Vec<&str> = ew_2032.iter().map(String::as_str).collect();
    let result = ew().with_extension_json(&extension("ops-2032", &ew_2032));
    assert!(
        matches!(result, Err(CalendarError::MissingYear { year: 2031 })),
        "{result:?}"
    );
}
