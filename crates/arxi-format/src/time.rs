//! Timestamps as they appear in evidence: RFC 3339, UTC, microseconds.
//!
//! One text form per instant: `YYYY-MM-DDTHH:MM:SS.ffffffZ`, exactly 27
//! characters, always six fractional digits and a `Z`. Parsing accepts only
//! that form, so a timestamp field has one canonical byte form.
//!
//! This module never reads a clock; callers pass microseconds since the Unix
//! epoch. The supported range is 1970-01-01 to 9999-12-31.

use std::fmt;

/// Microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// 9999-12-31T23:59:59.999999Z in microseconds.
const MAX_MICROS: i64 = 253_402_300_799_999_999;

/// A timestamp outside 1970..=9999 or not in the one accepted text form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampError(pub String);

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timestamp {:?} is not of the form YYYY-MM-DDTHH:MM:SS.ffffffZ within 1970..=9999",
            self.0
        )
    }
}

impl std::error::Error for TimestampError {}

impl Timestamp {
    /// The epoch.
    pub const EPOCH: Self = Self(0);

    /// From microseconds since the epoch; `None` outside 1970..=9999.
    pub fn from_unix_micros(micros: i64) -> Option<Self> {
        (0..=MAX_MICROS).contains(&micros).then_some(Self(micros))
    }

    /// Microseconds since the epoch.
    pub fn unix_micros(self) -> i64 {
        self.0
    }

    /// Parses the one accepted text form.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let fail = || TimestampError(text.chars().take(40).collect());
        let bytes = text.as_bytes();
        if bytes.len() != 27 {
            return Err(fail());
        }
        let separators_ok = bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes[10] == b'T'
            && bytes[13] == b':'
            && bytes[16] == b':'
            && bytes[19] == b'.'
            && bytes[26] == b'Z';
        if !separators_ok {
            return Err(fail());
        }
        let number = |range: std::ops::Range<usize>| -> Option<i64> {
            bytes[range].iter().try_fold(0_i64, |acc, &digit| {
                digit
                    .is_ascii_digit()
                    .then(|| acc * 10 + i64::from(digit - b'0'))
            })
        };
        let parts = (
            number(0..4),
            number(5..7),
            number(8..10),
            number(11..13),
            number(14..16),
            number(17..19),
            number(20..26),
        );
        let (
            Some(year),
            Some(month),
            Some(day),
            Some(hour),
            Some(minute),
            Some(second),
            Some(micro),
        ) = parts
        else {
            return Err(fail());
        };
        if year < 1970
            || !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(fail());
        }
        let days = days_from_civil(year, month, day);
        let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
        Ok(Self(seconds * 1_000_000 + micro))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.div_euclid(1_000_000);
        let micro = self.0.rem_euclid(1_000_000);
        let days = seconds.div_euclid(86_400);
        let second_of_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micro:06}Z",
            second_of_day / 3_600,
            (second_of_day / 60) % 60,
            second_of_day % 60
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(micros: i64, text: &str) {
        let timestamp = Timestamp::from_unix_micros(micros).expect("in range");
        assert_eq!(timestamp.to_string(), text);
        assert_eq!(Timestamp::parse(text), Ok(timestamp));
    }

    #[test]
    fn formats_and_parses() {
        check(0, "1970-01-01T00:00:00.000000Z");
        check(1, "1970-01-01T00:00:00.000001Z");
        check(951_782_400_000_000, "2000-02-29T00:00:00.000000Z");
        check(1_795_380_078_123_456, "2026-11-22T20:41:18.123456Z");
        check(MAX_MICROS, "9999-12-31T23:59:59.999999Z");
    }

    #[test]
    fn round_trips_across_the_range() {
        let mut micros = 0_i64;
        while micros <= MAX_MICROS {
            let timestamp = Timestamp(micros);
            assert_eq!(Timestamp::parse(&timestamp.to_string()), Ok(timestamp));
            micros += 86_399_999_937; // a stride that walks through every month
        }
    }

    #[test]
    fn rejects_other_forms() {
        for text in [
            "2026-11-22T20:41:18Z",
            "2026-11-22T20:41:18.123456+00:00",
            "2026-11-22t20:41:18.123456Z",
            "2026-02-30T00:00:00.000000Z",
            "2025-02-29T00:00:00.000000Z",
            "1969-12-31T23:59:59.999999Z",
            "2026-11-22T24:00:00.000000Z",
            "2026-11-22T23:60:00.000000Z",
            "2026-11-22T23:59:60.000000Z",
            "+026-11-22T23:59:59.000000Z",
            "2026-11-22T23:59:59.00000aZ",
        ] {
            assert!(Timestamp::parse(text).is_err(), "{text} must be refused");
        }
        assert_eq!(Timestamp::from_unix_micros(-1), None);
        assert_eq!(Timestamp::from_unix_micros(MAX_MICROS + 1), None);
    }
}
