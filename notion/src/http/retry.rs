//! When to try again: `Retry-After` and exponential backoff.
//!
//! Notion answers 429 (`rate_limited`) and 529 (`service_overload`) with a
//! `Retry-After` in whole seconds (docs/notion-api.md §2.6); the official JS
//! SDK also accepts an HTTP date. Nothing may be sent to Notion before it
//! elapses. Without one, failures back off exponentially with jitter.

use std::time::{Duration, SystemTime};

/// Longest wait honoured from a `Retry-After` (a workspace-wide limit may
/// exceed a minute; a day is certainly a broken header).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Reads `Retry-After`: delta-seconds, or an IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`) measured from `now`. Dates in the past
/// mean "now"; anything unreadable is `None`. Capped at [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(secs) = value.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64()))
    } else {
        let at = parse_http_date(value)?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The wait before attempt `attempt + 1` after `attempt` failures (1-based):
/// 2, 4, 8 … seconds, capped at `cap`, with up to 25% jitter added so that
/// many jobs failing together do not retry together. `jitter` is a random
/// number in [0, 1).
pub fn backoff(attempt: u32, cap: Duration, jitter: f64) -> Duration {
    let base = Duration::from_secs(1u64 << attempt.clamp(1, 20)).min(cap);
    let extra = base.mul_f64(jitter.clamp(0.0, 1.0) * 0.25);
    (base + extra).min(cap)
}

/// A random number in [0, 1) from the OS generator (0.5 if it fails: the
/// jitter is a courtesy, not a security property).
pub fn jitter() -> f64 {
    let mut b = [0u8; 4];
    match getrandom::fill(&mut b) {
        Ok(()) => f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

/// IMF-fixdate only (RFC 9110 §5.6.7: the obsolete forms are rare enough
/// to treat as unreadable).
fn parse_http_date(value: &str) -> Option<SystemTime> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let rest = value.split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else { return None };
    let day: u32 = day.parse().ok()?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| m == month)? as u32
        + 1;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<u64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else { return None };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *s > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + m * 60 + s;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // 1994-11-06 08:49:37
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1.5", now), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("999999999", now), Some(MAX_RETRY_AFTER));
        for bad in ["", "soon", "-3", "NaN", "Sun, 06 Nov 1994 08:49:47 PST", "Sun, 32 Nov 1994 08:49:47 GMT"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 12, 4), 20_791);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let cap = Duration::from_secs(300);
        assert_eq!(backoff(1, cap, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(2, cap, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(3, cap, 0.99), Duration::from_secs(8).mul_f64(1.0 + 0.99 * 0.25));
        assert_eq!(backoff(30, cap, 0.5), cap);
        let j = jitter();
        assert!((0.0..1.0).contains(&j));
    }
}
