//! Parsing of a `Retry-After` header value (RFC 9110 §10.2.3) into a capped delay:
//! delta-seconds, or an HTTP-date in any of the three forms of RFC 9110 §5.6.7.

use super::Millis;

const MS_PER_DAY: i64 = 86_400_000;
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const WEEKDAYS_LONG: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Delay asked by a Retry-After header value: delta-seconds or an HTTP-date; capped; garbage → None.
///
/// `wall_now_ms` is the wall clock (Unix epoch milliseconds), needed only for dates;
/// a date in the past asks for no delay (`Some(0)`). Tokens are case-sensitive, as
/// the RFC defines them; surrounding whitespace is ignored.
pub fn parse_retry_after(value: &str, wall_now_ms: u64, cap_ms: Millis) -> Option<Millis> {
    // Optional whitespace around a field value is spaces and tabs (RFC 9110 §5.6.3).
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return None;
    }
    let delay = if value.bytes().all(|b| b.is_ascii_digit()) {
        let seconds = value.bytes().fold(0u64, |acc, b| acc.saturating_mul(10).saturating_add(u64::from(b - b'0')));
        seconds.saturating_mul(1_000)
    } else {
        let at = parse_http_date(value, wall_now_ms)?;
        let now = i64::try_from(wall_now_ms).unwrap_or(i64::MAX);
        u64::try_from(at.saturating_sub(now)).unwrap_or(0)
    };
    Some(delay.min(cap_ms))
}

/// An HTTP-date as Unix epoch milliseconds (negative before 1970).
fn parse_http_date(s: &str, wall_now_ms: u64) -> Option<i64> {
    imf_fixdate(s).or_else(|| rfc850(s, wall_now_ms)).or_else(|| asctime(s))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn imf_fixdate(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let [w0, w1, w2, b',', b' ', d0, d1, b' ', m0, m1, m2, b' ', y0, y1, y2, y3, b' ', time @ .., b' ', b'G', b'M', b'T'] =
        b
    else {
        return None;
    };
    weekday(&[*w0, *w1, *w2], &WEEKDAYS)?;
    let day = digits(&[*d0, *d1])?;
    let month = month(&[*m0, *m1, *m2])?;
    let year = digits(&[*y0, *y1, *y2, *y3])?;
    epoch_ms(year, month, day, time)
}

/// `Sunday, 06-Nov-94 08:49:37 GMT` (obsolete; two-digit year).
fn rfc850(s: &str, wall_now_ms: u64) -> Option<i64> {
    // Split at the first ',' (a char pattern: no substring searcher in wasm); a
    // weekday name has no comma, so this is where ", " must be.
    let (name, rest) = s.split_once(',')?;
    let rest = rest.strip_prefix(' ')?;
    weekday(name.as_bytes(), &WEEKDAYS_LONG)?;
    let [d0, d1, b'-', m0, m1, m2, b'-', y0, y1, b' ', time @ .., b' ', b'G', b'M', b'T'] = rest.as_bytes() else {
        return None;
    };
    let day = digits(&[*d0, *d1])?;
    let month = month(&[*m0, *m1, *m2])?;
    let yy = digits(&[*y0, *y1])?;
    // RFC 9110: a two-digit year more than 50 years in the future is the most
    // recent past year with the same last two digits.
    let now_year = year_of(wall_now_ms);
    let mut year = now_year - now_year.rem_euclid(100) + yy;
    if year > now_year + 50 {
        year -= 100;
    }
    epoch_ms(year, month, day, time)
}

/// `Sun Nov  6 08:49:37 1994` (obsolete; day padded with a space).
fn asctime(s: &str) -> Option<i64> {
    let [w0, w1, w2, b' ', m0, m1, m2, b' ', d0, d1, b' ', time @ .., b' ', y0, y1, y2, y3] = s.as_bytes() else {
        return None;
    };
    weekday(&[*w0, *w1, *w2], &WEEKDAYS)?;
    let month = month(&[*m0, *m1, *m2])?;
    let day = if *d0 == b' ' { digits(&[*d1])? } else { digits(&[*d0, *d1])? };
    let year = digits(&[*y0, *y1, *y2, *y3])?;
    epoch_ms(year, month, day, time)
}

fn weekday(name: &[u8], names: &[&str; 7]) -> Option<()> {
    names.iter().any(|n| n.as_bytes() == name).then_some(())
}

/// Month number 1..=12 from its three-letter name.
fn month(name: &[u8]) -> Option<i64> {
    let i = MONTHS.iter().position(|m| m.as_bytes() == name)?;
    i64::try_from(i).ok().map(|i| i + 1)
}

/// The value of a run of ASCII digits (at most four here, so no overflow).
fn digits(ds: &[u8]) -> Option<i64> {
    ds.iter().try_fold(0i64, |acc, d| d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0')))
}

/// Validates a date and an `HH:MM:SS` time and returns Unix epoch milliseconds.
fn epoch_ms(year: i64, month: i64, day: i64, time: &[u8]) -> Option<i64> {
    let [h0, h1, b':', mi0, mi1, b':', s0, s1] = time else {
        return None;
    };
    let (hour, minute, second) = (digits(&[*h0, *h1])?, digits(&[*mi0, *mi1])?, digits(&[*s0, *s1])?);
    // 60 is a leap second.
    if hour > 23 || minute > 59 || second > 60 || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = hour * 3_600 + minute * 60 + second;
    // Saturating: an RFC 850 year read against a far-future clock is huge.
    Some(days.saturating_mul(MS_PER_DAY).saturating_add(seconds * 1_000))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
/// Defined for the years 0..=9999 the parsers can produce.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The Gregorian year of a Unix epoch millisecond instant (inverse of the above).
fn year_of(epoch_ms: u64) -> i64 {
    let days = i64::try_from(epoch_ms / 86_400_000).unwrap_or(i64::MAX / 2) + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let year = yoe.saturating_add(era.saturating_mul(400));
    if mp >= 10 {
        year.saturating_add(1) // January or February
    } else {
        year
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 1994-11-06T08:49:37Z, the RFC's example instant.
    const RFC_EXAMPLE_MS: u64 = 784_111_777_000;
    const CAP: Millis = 3_600_000;

    #[test]
    fn delta_seconds_become_milliseconds() {
        assert_eq!(parse_retry_after("120", 0, CAP), Some(120_000));
        assert_eq!(parse_retry_after("0", 0, CAP), Some(0));
        assert_eq!(parse_retry_after(" \t007 ", 0, CAP), Some(7_000));
    }

    #[test]
    fn delta_seconds_are_capped_and_huge_values_saturate() {
        assert_eq!(parse_retry_after("86400", 0, 60_000), Some(60_000));
        let huge = "9".repeat(500);
        assert_eq!(parse_retry_after(&huge, 0, 60_000), Some(60_000));
    }

    #[test]
    fn the_three_date_forms_name_the_same_instant() {
        // Given a wall clock 30 s before the RFC's example date
        let now = RFC_EXAMPLE_MS - 30_000;
        // Then each form asks for 30 s
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now, CAP), Some(30_000));
        assert_eq!(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now, CAP), Some(30_000));
        assert_eq!(parse_retry_after("Sun Nov  6 08:49:37 1994", now, CAP), Some(30_000));
    }

    #[test]
    fn days_from_civil_matches_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1994, 11, 6) * MS_PER_DAY + (8 * 3_600 + 49 * 60 + 37) * 1_000, 784_111_777_000);
        assert_eq!(year_of(RFC_EXAMPLE_MS), 1994);
        assert_eq!(year_of(0), 1970);
        assert_eq!(year_of(951_782_400_000), 2000); // 2000-02-29
        assert!(year_of(u64::MAX) > 1_000_000);
    }

    #[test]
    fn a_leap_day_is_a_valid_date_only_in_a_leap_year() {
        let now = 951_782_400_000 - 1_000; // one second before 2000-02-29T00:00:00Z
        assert_eq!(parse_retry_after("Tue, 29 Feb 2000 00:00:00 GMT", now, CAP), Some(1_000));
        assert_eq!(parse_retry_after("Wed, 29 Feb 1900 00:00:00 GMT", now, CAP), None);
        assert_eq!(parse_retry_after("Thu, 31 Apr 2000 00:00:00 GMT", now, CAP), None);
    }

    #[test]
    fn a_two_digit_year_is_read_relative_to_now() {
        // Given a clock in 2030, "94" is 1994 (past) and "70" is 2070 (≤ 50 years ahead)
        let now_2030 = u64::try_from(days_from_civil(2030, 1, 1) * MS_PER_DAY).unwrap();
        assert_eq!(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now_2030, CAP), Some(0));
        assert_eq!(
            parse_retry_after("Friday, 01-Jan-70 00:00:00 GMT", now_2030, u64::MAX),
            Some(40 * 365 * 86_400_000 + 10 * 86_400_000)
        );
        // And with a clock in 1994, "94" is 1994 itself
        assert_eq!(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", RFC_EXAMPLE_MS - 5_000, CAP), Some(5_000));
    }

    #[test]
    fn a_date_in_the_past_asks_for_no_delay() {
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE_MS + 1, CAP), Some(0));
        assert_eq!(parse_retry_after("Mon, 01 Jan 0001 00:00:00 GMT", RFC_EXAMPLE_MS, CAP), Some(0));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE_MS, CAP), Some(0));
    }

    #[test]
    fn a_far_future_date_is_capped() {
        assert_eq!(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", 0, 60_000), Some(60_000));
        assert_eq!(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", u64::MAX, 60_000), Some(0));
        // A two-digit year read against a clock at the end of time does not overflow
        assert_eq!(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", u64::MAX, 60_000), Some(0));
    }

    #[test]
    fn garbage_is_none() {
        let now = RFC_EXAMPLE_MS;
        for v in [
            "",
            "   ",
            "\u{3000}5",
            "5\n",
            "-5",
            "+5",
            "1.5",
            "5s",
            "5 6",
            "1e3",
            "٣",
            "soon",
            "Sun, 06 Nov 1994 08:49:37 GMT junk",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nox 1994 08:49:37 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:61 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1994 08-49-37 GMT",
            "Sun, 06 Nov 1994 08:4a:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov  6 08:49:37 94",
            "Sun Nov  0 08:49:37 1994",
        ] {
            assert_eq!(parse_retry_after(v, now, CAP), None, "{v:?}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic_and_stay_under_the_cap(
            s in ".{0,40}", now in any::<u64>(), cap in any::<u64>(),
        ) {
            if let Some(d) = parse_retry_after(&s, now, cap) {
                prop_assert!(d <= cap);
            }
        }

        #[test]
        fn date_shaped_strings_never_panic_and_stay_under_the_cap(
            s in "[A-Za-z]{3,9},? [0-9 ]{1,2}[- ][A-Za-z]{3}[- ][0-9]{2,4} [0-9]{2}:[0-9]{2}:[0-9]{2}( GMT| [0-9]{4})",
            now in any::<u64>(), cap in any::<u64>(),
        ) {
            if let Some(d) = parse_retry_after(&s, now, cap) {
                prop_assert!(d <= cap);
            }
        }

        #[test]
        fn every_valid_imf_date_round_trips(
            secs in 0u64..253_402_300_800, // up to 9999-12-31
        ) {
            let ms = secs * 1_000;
            let days = i64::try_from(secs / 86_400).unwrap();
            let year = year_of(ms);
            let jan1 = days_from_civil(year, 1, 1);
            let (mut month, mut day) = (1, days - jan1 + 1);
            while day > days_in_month(year, month) {
                day -= days_in_month(year, month);
                month += 1;
            }
            let wd = WEEKDAYS[usize::try_from((days + 3).rem_euclid(7)).unwrap()];
            let rem = secs % 86_400;
            let text = format!("{wd}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
                MONTHS[usize::try_from(month - 1).unwrap()], rem / 3_600, rem / 60 % 60, rem % 60);
            // Parsing it one second earlier asks for exactly one second
            prop_assert_eq!(parse_retry_after(&text, ms.saturating_sub(1_000), u64::MAX), Some(ms.min(1_000)), "{}", text);
        }
    }
}
