//! Time literals and calendar buckets, all in UTC microseconds since the Unix epoch.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use regio_policy::TimeUnit;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;
/// 1969-12-29, a Monday: ISO weeks start on Mondays.
const MONDAY: i64 = -3 * DAY;

/// Parses `2024-01-01`, `2024-01-01T10:00:00Z`, `2024-01-01 10:00:00` (UTC),
/// `2024-01-01T10:00:00+02:00` and fractional seconds, to microseconds.
pub fn parse_time_literal(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(t.timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
}

fn date_of(ts: i64) -> Option<NaiveDate> {
    DateTime::<Utc>::from_timestamp_micros(ts).map(|t| t.date_naive())
}

fn micros_of(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .map(|t| Utc.from_utc_datetime(&t).timestamp_micros())
        .unwrap_or(i64::MIN)
}

/// `date_trunc(unit, ts)`: the start of the bucket holding `ts`.
pub fn trunc(ts: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Hour => ts.div_euclid(HOUR) * HOUR,
        TimeUnit::Day => ts.div_euclid(DAY) * DAY,
        TimeUnit::Week => (ts - MONDAY).div_euclid(7 * DAY) * 7 * DAY + MONDAY,
        TimeUnit::Month => date_of(ts)
            .and_then(|d| d.with_day(1))
            .map(micros_of)
            .unwrap_or(ts),
        TimeUnit::Year => date_of(ts)
            .and_then(|d| NaiveDate::from_ymd_opt(d.year(), 1, 1))
            .map(micros_of)
            .unwrap_or(ts),
    }
}

/// `YYYY-MM-DD` of a day start, for date-valued buckets.
pub(crate) fn format_date(ts: i64) -> String {
    date_of(ts)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| ts.to_string())
}

/// RFC 3339 in UTC (`2024-01-01T10:00:00Z`, fractional seconds when present).
pub(crate) fn format_ts(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(ts)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ts.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_buckets() {
        let t = parse_time_literal("2024-03-14T10:20:30Z").unwrap();
        assert_eq!(parse_time_literal("2024-03-14 10:20:30").unwrap(), t);
        assert_eq!(parse_time_literal("2024-03-14T12:20:30+02:00").unwrap(), t);
        let day = parse_time_literal("2024-03-14").unwrap();
        assert_eq!(trunc(t, TimeUnit::Day), day);
        assert_eq!(
            trunc(t, TimeUnit::Hour),
            parse_time_literal("2024-03-14T10:00:00Z").unwrap()
        );
        // 2024-03-14 is a Thursday; its ISO week starts Monday 2024-03-11.
        assert_eq!(
            trunc(t, TimeUnit::Week),
            parse_time_literal("2024-03-11").unwrap()
        );
        assert_eq!(
            trunc(t, TimeUnit::Month),
            parse_time_literal("2024-03-01").unwrap()
        );
        assert_eq!(
            trunc(t, TimeUnit::Year),
            parse_time_literal("2024-01-01").unwrap()
        );
        assert_eq!(format_date(day), "2024-03-14");
        assert_eq!(format_ts(t), "2024-03-14T10:20:30Z");
        assert_eq!(parse_time_literal("14/03/2024"), None);
    }
}
