//! The working-day calendar for England and Wales, shared by every service that sets deadlines.
//!
//! A working day is Monday to Friday other than an England-and-Wales bank holiday, evaluated in
//! Europe/London; school holidays do not stop the clock. The bank-holiday table is embedded and
//! versioned, and an operator can extend or correct it with a file of the same shape. Every
//! deadline-bearing event records [`Calendar::version`], so a replay never recomputes a different
//! deadline. Dates outside the years the table covers are an error rather than a guess: a
//! deadline computed on a missing table would silently be wrong. Nothing here reads the clock.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

/// The only division a calendar file may describe; Scotland and Northern Ireland differ.
const DIVISION: &str = "england-and-wales";

const EMBEDDED_JSON: &str = include_str!("../data/bank-holidays-england-and-wales.json");

static EMBEDDED: LazyLock<Calendar> = LazyLock::new(|| {
    // Cannot fail: the input is a compile-time constant, and the test
    // `the_embedded_table_parses_and_covers_2020_to_2030` parses exactly this text.
    Calendar::from_json(EMBEDDED_JSON).expect("the embedded bank-holiday table is valid")
});

static LONDON: LazyLock<TimeZone> = LazyLock::new(|| {
    // Cannot fail: the `tzdb-bundle-always` feature compiles the tz database into the binary,
    // so the lookup never touches the host's /usr/share/zoneinfo.
    TimeZone::get("Europe/London").expect("Europe/London is in the bundled tz database")
});

/// Why a calendar could not be built or could not answer.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    /// The date lies in a year the bank-holiday table does not cover, so whether it is a working
    /// day is unknown. Extend the calendar with an operator file for that year.
    #[error("{date} is outside the years covered by the bank-holiday calendar")]
    OutOfRange { date: Date },
    /// The file could not be read.
    #[error("failed to read calendar file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not JSON of the shape `{"division", "calendar_version", "events": [{"date"}]}`.
    #[error("calendar file does not have the expected JSON shape")]
    Malformed(#[source] serde_json::Error),
    /// An event date is not a valid date written as `YYYY-MM-DD`.
    #[error("calendar date {value:?} is not a valid YYYY-MM-DD date")]
    InvalidDate { value: String },
    /// The file describes another division's bank holidays.
    #[error("calendar file is for division {found:?}, expected \"england-and-wales\"")]
    WrongDivision { found: String },
    /// The same date is listed twice in one file, which usually means a copy-and-paste slip.
    #[error("calendar file lists {date} more than once")]
    DuplicateDate { date: Date },
    /// `calendar_version` is empty, so deadlines computed with the file could not be traced to it.
    #[error("calendar file has an empty calendar_version")]
    EmptyVersion,
    /// The file lists no bank holidays, so it would cover no year.
    #[error("calendar file lists no bank holidays")]
    NoEvents,
    /// The covered years would have a hole: a year with no bank holidays listed.
    #[error("calendar lists no bank holidays for {year}, between covered years")]
    MissingYear { year: i16 },
}

/// A versioned table of England-and-Wales bank holidays over a contiguous range of years.
///
/// Values are immutable; extending one returns a new calendar with a new version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    version: String,
    holidays: BTreeSet<Date>,
    years: RangeInclusive<i16>,
}

/// The shape shared by the embedded table and operator files. Other fields, such as each event's
/// `title` and `status` or the GOV.UK feed's `notes` and `bunting`, are accepted and ignored.
#[derive(Deserialize)]
struct File {
    division: String,
    calendar_version: String,
    events: Vec<FileEvent>,
}

#[derive(Deserialize)]
struct FileEvent {
    date: String,
}

/// A validated file: a non-empty version and a non-empty set of distinct dates.
struct Table {
    version: String,
    holidays: BTreeSet<Date>,
}

impl Calendar {
    /// The embedded England-and-Wales table (version `ew-2026-11`, years 2020 to 2030; dates
    /// from 2028 on are projected from the statutory pattern and may change by proclamation).
    pub fn england_and_wales() -> &'static Calendar {
        &EMBEDDED
    }

    /// Returns this calendar extended by an operator file of the same JSON shape as the embedded
    /// table. See [`Calendar::with_extension_json`].
    ///
    /// # Errors
    ///
    /// [`CalendarError::Read`] if the file cannot be read, otherwise as
    /// [`Calendar::with_extension_json`].
    pub fn with_extension_file(&self, path: impl AsRef<Path>) -> Result<Calendar, CalendarError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|source| CalendarError::Read {
            path: path.to_owned(),
            source,
        })?;
        self.with_extension_json(&json)
    }

    /// Returns this calendar extended by `json`, which has the embedded table's shape.
    ///
    /// Each year the extension mentions replaces that year of this calendar wholesale, so an
    /// extension can add later years and correct (add or remove) holidays in covered ones; list
    /// every bank holiday of each year it touches. The new version is `"{this}+{theirs}"`, for
    /// example `ew-2026-11+ops-2031`, so deadlines computed with it are distinguishable.
    ///
    /// # Errors
    ///
    /// [`CalendarError::Malformed`], [`CalendarError::InvalidDate`],
    /// [`CalendarError::WrongDivision`], [`CalendarError::DuplicateDate`],
    /// [`CalendarError::EmptyVersion`] or [`CalendarError::NoEvents`] if the file is invalid, and
    /// [`CalendarError::MissingYear`] if the result would leave a year uncovered between two
    /// covered ones.
    pub fn with_extension_json(&self, json: &str) -> Result<Calendar, CalendarError> {
        let extension = Table::parse(json)?;
        let replaced: BTreeSet<i16> = extension.holidays.iter().map(|d| d.year()).collect();
        let mut holidays: BTreeSet<Date> = self
            .holidays
            .iter()
            .filter(|d| !replaced.contains(&d.year()))
            .copied()
            .collect();
        holidays.extend(extension.holidays);
        Calendar::new(format!("{}+{}", self.version, extension.version), holidays)
    }

    fn from_json(json: &str) -> Result<Calendar, CalendarError> {
        let table = Table::parse(json)?;
        Calendar::new(table.version, table.holidays)
    }

    /// `holidays` must be non-empty; both callers get it from a validated [`Table`].
    fn new(version: String, holidays: BTreeSet<Date>) -> Result<Calendar, CalendarError> {
        let (Some(first), Some(last)) = (holidays.first(), holidays.last()) else {
            return Err(CalendarError::NoEvents);
        };
        let years = first.year()..=last.year();
        let listed: BTreeSet<i16> = holidays.iter().map(|d| d.year()).collect();
        if let Some(year) = years.clone().find(|year| !listed.contains(year)) {
            return Err(CalendarError::MissingYear { year });
        }
        Ok(Calendar {
            version,
            holidays,
            years,
        })
    }

    /// The version to record in every deadline-bearing event computed with this calendar.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The years, inclusive, for which this calendar can answer.
    pub fn covered_years(&self) -> RangeInclusive<i16> {
        self.years.clone()
    }

    /// The bank holidays, in date order.
    pub fn holidays(&self) -> impl Iterator<Item = Date> + '_ {
        self.holidays.iter().copied()
    }

    /// Whether `date` is a working day: Monday to Friday and not a bank holiday.
    ///
    /// # Errors
    ///
    /// [`CalendarError::OutOfRange`] if `date` is outside [`Calendar::covered_years`].
    pub fn is_working_day(&self, date: Date) -> Result<bool, CalendarError> {
        self.check_covered(date)?;
        let weekend = matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday);
        Ok(!weekend && !self.holidays.contains(&date))
    }

    /// The first working day strictly after `date`: for the day-after-inspection route, the first
    /// working day after the last on-site day.
    ///
    /// # Errors
    ///
    /// [`CalendarError::OutOfRange`] if the search reaches a date outside the covered years.
    pub fn next_working_day_after(&self, date: Date) -> Result<Date, CalendarError> {
        let mut day = date;
        loop {
            day = day
                .tomorrow()
                .map_err(|_| CalendarError::OutOfRange { date: day })?;
            if self.is_working_day(day)? {
                return Ok(day);
            }
        }
    }

    /// The `n`th working day counting from `date` as day 0. Day 1 is the first working day after
    /// `date`, whether or not `date` is itself a working day; `n = 0` returns `date`.
    ///
    /// # Errors
    ///
    /// [`CalendarError::OutOfRange`] if `date` or any day counted is outside the covered years.
    pub fn nth_working_day_after(&self, date: Date, n: u32) -> Result<Date, CalendarError> {
        self.check_covered(date)?;
        (0..n).try_fold(date, |day, _| self.next_working_day_after(day))
    }

    /// The deadline "within `n` working days of an event at `at`": the last instant
    /// (23:59:59.999999999 Europe/London) of the `n`th working day, where day 0 is `at`'s date in
    /// Europe/London. Correct across clock changes.
    ///
    /// # Errors
    ///
    /// [`CalendarError::OutOfRange`] if any day counted is outside the covered years.
    pub fn end_of_nth_working_day_after(
        &self,
        at: Timestamp,
        n: u32,
    ) -> Result<Timestamp, CalendarError> {
        end_of_day(self.nth_working_day_after(local_date(at), n)?)
    }

    /// The `[start, end]` instants of the first working day after `at`'s date in Europe/London:
    /// from 00:00 to 23:59:59.999999999 local time.
    ///
    /// # Errors
    ///
    /// [`CalendarError::OutOfRange`] if the search reaches a date outside the covered years.
    pub fn working_day_window_after(
        &self,
        at: Timestamp,
    ) -> Result<(Timestamp, Timestamp), CalendarError> {
        let day = self.next_working_day_after(local_date(at))?;
        Ok((start_of_day(day)?, end_of_day(day)?))
    }

    /// The number of working days after `from` up to and including `to`; 0 if `to` is not after
    /// `from`. Used to tell whether a pause outlasted a policy limit.
    ///
    /// # Errors
    ///
    /// [`CalendarError::OutOfRange`] if `from`, `to` or any day between is outside the covered
    /// years.
    pub fn working_days_between(&self, from: Date, to: Date) -> Result<u32, CalendarError> {
        self.check_covered(from)?;
        self.check_covered(to)?;
        let mut count = 0;
        let mut day = from;
        while day < to {
            day = day
                .tomorrow()
                .map_err(|_| CalendarError::OutOfRange { date: day })?;
            count += u32::from(self.is_working_day(day)?);
        }
        Ok(count)
    }

    fn check_covered(&self, date: Date) -> Result<(), CalendarError> {
        if self.years.contains(&date.year()) {
            Ok(())
        } else {
            Err(CalendarError::OutOfRange { date })
        }
    }
}

/// The calendar date of `at` in Europe/London, which is the date that working days count from.
pub fn local_date(at: Timestamp) -> Date {
    at.to_zoned(LONDON.clone()).date()
}

/// The first instant of `date` in Europe/London.
///
/// # Errors
/// Only for a date at the very edge of what `jiff` can represent (year 9999), reported as
/// [`CalendarError::OutOfRange`].
pub fn start_of_day(date: Date) -> Result<Timestamp, CalendarError> {
    first_instant(date).map_err(|_| CalendarError::OutOfRange { date })
}

/// The last instant (23:59:59.999999999) of `date` in Europe/London: the start of the next local
/// day minus 1 ns, never start plus 24 hours, because days on which the clocks change last 23 or
/// 25 hours.
///
/// # Errors
/// As [`start_of_day`].
pub fn end_of_day(date: Date) -> Result<Timestamp, CalendarError> {
    date.tomorrow()
        .and_then(first_instant)
        .and_then(|next| next.checked_sub(SignedDuration::from_nanos(1)))
        .map_err(|_| CalendarError::OutOfRange { date })
}

/// `start_of_day` rather than plain midnight, so a zone whose clocks change at midnight would
/// still get the day's real first instant.
fn first_instant(date: Date) -> Result<Timestamp, jiff::Error> {
    Ok(date.to_zoned(LONDON.clone())?.start_of_day()?.timestamp())
}

impl Table {
    fn parse(json: &str) -> Result<Table, CalendarError> {
        let file: File = serde_json::from_str(json).map_err(CalendarError::Malformed)?;
        if file.division != DIVISION {
            return Err(CalendarError::WrongDivision {
                found: file.division,
            });
        }
        let version = file.calendar_version.trim();
        if version.is_empty() {
            return Err(CalendarError::EmptyVersion);
        }
        if file.events.is_empty() {
            return Err(CalendarError::NoEvents);
        }
        let mut holidays = BTreeSet::new();
        for event in file.events {
            let date = parse_date(&event.date)?;
            if !holidays.insert(date) {
                return Err(CalendarError::DuplicateDate { date });
            }
        }
        Ok(Table {
            version: version.to_owned(),
            holidays,
        })
    }
}

/// Accepts only the canonical `YYYY-MM-DD` form: `jiff` would also take a full datetime and
/// drop its time, which in a holiday table is more likely a mistake than an intent.
fn parse_date(value: &str) -> Result<Date, CalendarError> {
    value
        .parse::<Date>()
        .ok()
        .filter(|date| date.to_string() == value)
        .ok_or_else(|| CalendarError::InvalidDate {
            value: value.to_owned(),
        })
}
