//! Datetimes and durations in their JSON forms.
//!
//! Datetimes are RFC 3339 strings in UTC with a `Z` and as many fractional
//! digits as needed (0, 3, 6 or 9), which Python's `datetime.fromisoformat`
//! (3.11+), JavaScript's `Date` and Go's `time.Parse(time.RFC3339Nano, ..)`
//! all read. Durations use the protobuf JSON form (`"1.500s"`).

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use prost_types::{Duration, Timestamp};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Largest duration protobuf allows, in seconds (about 10,000 years).
const MAX_DURATION_SECONDS: i64 = 315_576_000_000;

/// Unix seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range
/// protobuf (and Python's `datetime`) allow.
const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;

/// `2024-01-02T03:04:05.123456Z`.
pub(super) fn format_timestamp(ts: &Timestamp) -> Result<String, String> {
    if !(0..NANOS_PER_SECOND).contains(&i64::from(ts.nanos)) {
        return Err(format!(
            "datetime has invalid nanos {} (must be 0..=999999999)",
            ts.nanos
        ));
    }
    if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&ts.seconds) {
        return Err(format!(
            "datetime {} seconds since the epoch is outside years 1..=9999",
            ts.seconds
        ));
    }
    let dt = DateTime::<Utc>::from_timestamp(ts.seconds, ts.nanos as u32)
        .ok_or_else(|| format!("datetime {}s is out of range", ts.seconds))?;
    Ok(dt.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// Reads an RFC 3339 datetime. An offset is converted to UTC; a datetime
/// without an offset is read as UTC, as flytekit does with naive datetimes.
/// A space may separate date and time (Python's `str(datetime)`).
pub(super) fn parse_timestamp(s: &str) -> Result<Timestamp, String> {
    let t = s.trim();
    let utc = match DateTime::parse_from_rfc3339(t) {
        Ok(dt) => dt.with_timezone(&Utc),
        Err(rfc_err) => {
            let naive = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f"));
            match naive {
                Ok(n) => n.and_utc(),
                Err(_) => return Err(format!("not an RFC 3339 datetime ({rfc_err})")),
            }
        }
    };
    let mut seconds = utc.timestamp();
    let mut nanos = i64::from(utc.timestamp_subsec_nanos());
    // A leap second (23:59:60) reads as nanos >= 1e9: fold it into the next second.
    if nanos >= NANOS_PER_SECOND {
        seconds += 1;
        nanos -= NANOS_PER_SECOND;
    }
    if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&seconds) {
        return Err("datetime is outside years 1..=9999".to_string());
    }
    Ok(Timestamp {
        seconds,
        nanos: nanos as i32,
    })
}

/// `1.500s`, `3600s`, `-2s`, `-0.000001s` (protobuf JSON form).
pub(super) fn format_duration(d: &Duration) -> Result<String, String> {
    let nanos = i64::from(d.nanos);
    if nanos.abs() >= NANOS_PER_SECOND
        || (d.seconds > 0 && nanos < 0)
        || (d.seconds < 0 && nanos > 0)
    {
        return Err(format!(
            "duration has invalid nanos {} for {} seconds (|nanos| must be below 1e9 with the sign of seconds)",
            d.nanos, d.seconds
        ));
    }
    let sign = if d.seconds < 0 || nanos < 0 { "-" } else { "" };
    let secs = d.seconds.unsigned_abs();
    let frac = nanos.unsigned_abs();
    Ok(if frac == 0 {
        format!("{sign}{secs}s")
    } else if frac % 1_000_000 == 0 {
        format!("{sign}{secs}.{:03}s", frac / 1_000_000)
    } else if frac % 1_000 == 0 {
        format!("{sign}{secs}.{:06}s", frac / 1_000)
    } else {
        format!("{sign}{secs}.{frac:09}s")
    })
}

/// Reads `"1.5s"`, `"-2s"`, `"3600s"`, `"0.000000001s"`.
pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || "not a duration: write seconds with an `s` suffix such as \"1.5s\"".to_string();
    let t = s.trim();
    let body = t.strip_suffix('s').ok_or_else(bad)?;
    let (negative, body) = match body.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, body.strip_prefix('+').unwrap_or(body)),
    };
    let (whole, frac) = match body.split_once('.') {
        Some((w, f)) => (w, f),
        None => (body, ""),
    };
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        return Err(bad());
    }
    if frac.len() > 9 {
        return Err("duration has more than 9 fractional digits (nanosecond precision)".into());
    }
    let seconds: i64 = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .ok()
            .filter(|s| *s <= MAX_DURATION_SECONDS)
            .ok_or_else(|| "duration is longer than 10,000 years".to_string())?
    };
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    Ok(if negative {
        Duration {
            seconds: -seconds,
            nanos: -(nanos as i32),
        }
    } else {
        Duration {
            seconds,
            nanos: nanos as i32,
        }
    })
}

/// A duration from a (possibly fractional) number of seconds.
pub(super) fn duration_from_seconds(secs: f64) -> Result<Duration, String> {
    if !secs.is_finite() || secs.abs() > MAX_DURATION_SECONDS as f64 {
        return Err(format!(
            "{secs} seconds is not a valid duration (at most 10,000 years)"
        ));
    }
    let mut seconds = secs.trunc() as i64;
    let mut nanos = ((secs - secs.trunc()) * 1e9).round() as i64;
    if nanos.abs() >= NANOS_PER_SECOND {
        seconds += nanos.signum();
        nanos -= nanos.signum() * NANOS_PER_SECOND;
    }
    Ok(Duration {
        seconds,
        nanos: nanos as i32,
    })
}

/// A duration of a whole number of seconds.
pub(super) fn duration_from_whole_seconds(secs: i64) -> Result<Duration, String> {
    if secs.unsigned_abs() > MAX_DURATION_SECONDS.unsigned_abs() {
        return Err(format!(
            "{secs} seconds is not a valid duration (at most 10,000 years)"
        ));
    }
    Ok(Duration {
        seconds: secs,
        nanos: 0,
    })
}
