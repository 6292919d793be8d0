//! Times given on the command line (`logs --since/--until`) turned into the Unix timestamps
//! the API takes, as moby's `GetTimestamp` does: a Go duration ("10m", "1h30m") counts back
//! from now; RFC 3339 times and dates (zoned, or else in the local zone) become
//! `seconds.nanoseconds`; a Unix timestamp passes through unchanged.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone};

/// Go's `time.ParseDuration`, in nanoseconds.
pub fn go_duration(s: &str) -> Result<i128, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." {
            return Err(invalid());
        }
        let value: f64 = num.parse().map_err(|_| invalid())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            u => return Err(format!("time: unknown unit {u:?} in duration {s:?}")),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    let n = total.round() as i128;
    Ok(if neg { -n } else { n })
}

/// The zone of a timestamp given with one: `Z`, or a `±hh:mm` offset after the time.
fn split_zone(v: &str) -> Option<(&str, FixedOffset)> {
    if let Some(rest) = v.strip_suffix(['Z', 'z']) {
        return Some((rest, FixedOffset::east_opt(0)?));
    }
    let date_end = 10.min(v.len());
    let pos = v[date_end..].rfind(['+', '-'])? + date_end;
    let (base, zone) = v.split_at(pos);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let (h, m) = zone[1..].split_once(':')?;
    let secs = h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60;
    Some((base, FixedOffset::east_opt(sign * secs)?))
}

fn naive(v: &str) -> Option<NaiveDateTime> {
    if let Some((date, time)) = v.split_once(['T', 't']) {
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
        let time = match time.matches(':').count() {
            0 => format!("{time}:00:00"),
            1 => format!("{time}:00"),
            _ => time.to_string(),
        };
        let t = chrono::NaiveTime::parse_from_str(&time, "%H:%M:%S%.f").ok()?;
        Some(date.and_time(t))
    } else {
        NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0)
    }
}

/// moby's `GetTimestamp(value, now)`.
pub fn get_timestamp(value: &str, now: DateTime<chrono::Utc>) -> Result<String, String> {
    if value != "0" {
        if let Ok(d) = go_duration(value) {
            let ns = now.timestamp_nanos_opt().unwrap_or(0) as i128 - d;
            return Ok(ns.div_euclid(1_000_000_000).to_string());
        }
    }
    let in_location = !value.contains(['z', 'Z', '+']) && value.matches('-').count() != 3;
    let parsed: Option<DateTime<FixedOffset>> = if in_location {
        let local = chrono::Local::now().offset().fix();
        naive(value).and_then(|n| local.from_local_datetime(&n).single())
    } else {
        split_zone(value)
            .and_then(|(base, off)| naive(base).and_then(|n| off.from_local_datetime(&n).single()))
    };
    match parsed {
        Some(t) => Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        )),
        None if value.contains('-') => Err(format!("parsing time {value:?}: cannot parse")),
        None => {
            let (sec, nano) = value.split_once('.').unwrap_or((value, "0"));
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if digits(sec) && digits(nano) {
                Ok(value.to_string())
            } else {
                Err(format!(
                    "failed to parse value as time or duration: {value:?}"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("10m"), Ok(600_000_000_000));
        assert_eq!(go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(go_duration("300ms"), Ok(300_000_000));
        assert_eq!(go_duration("-2h"), Ok(-7_200_000_000_000));
        assert_eq!(go_duration("0"), Ok(0));
        assert!(go_duration("10").is_err());
        assert!(go_duration("abc").is_err());
        assert!(go_duration("").is_err());
    }

    #[test]
    fn timestamps_like_moby() {
        let now = DateTime::parse_from_rfc3339("2024-01-02T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(get_timestamp("10m", now).unwrap(), "1704189000");
        assert_eq!(get_timestamp("1h30m", now).unwrap(), "1704184200");
        assert_eq!(
            get_timestamp("2024-01-02T10:00:00Z", now).unwrap(),
            "1704189600.000000000"
        );
        assert_eq!(
            get_timestamp("2024-01-02T10:00:00.5+01:00", now).unwrap(),
            "1704186000.500000000"
        );
        assert_eq!(
            get_timestamp("2024-01-02T10Z", now).unwrap(),
            "1704189600.000000000"
        );
        assert_eq!(
            get_timestamp("2024-01-02-01:00", now).unwrap(),
            "1704157200.000000000"
        );
        assert_eq!(get_timestamp("1704189600", now).unwrap(), "1704189600");
        assert_eq!(get_timestamp("1704189600.5", now).unwrap(), "1704189600.5");
        assert_eq!(
            get_timestamp("abc", now).unwrap_err(),
            "failed to parse value as time or duration: \"abc\""
        );
        assert!(get_timestamp("2024-13-45", now).is_err());
        // A date without zone is read in the local zone.
        let local = get_timestamp("2024-01-02", now).unwrap();
        let secs: i64 = local.split('.').next().unwrap().parse().unwrap();
        assert!((secs - 1704153600).abs() <= 14 * 3600, "{local}");
    }
}
