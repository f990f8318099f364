//! Reading the delay a server named, as the failed call received it:
//! `Retry-After` (delta-seconds or an HTTP-date) or a rate-limit reset
//! (`X-RateLimit-Reset`, epoch seconds), so that no client has to.

use std::time::Duration;

use crate::engine::Timestamp;

/// Numbers from here up are instants (epoch seconds), not delays: a delay
/// of 31 years is no one's intent, and every reset since 2001 is larger.
const EPOCH_SECONDS_FROM: f64 = 1_000_000_000.0;
/// Numbers from here up are epoch milliseconds (some APIs send those).
const EPOCH_MS_FROM: f64 = 1_000_000_000_000.0;

/// What a header value says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// Wait this long.
    After(Duration),
    /// Wait until then.
    At(Timestamp),
}

/// Parses one header value; the error says what is accepted.
pub fn parse(value: &str) -> Result<RetryAfter, String> {
    let v = value.trim();
    let bad = || {
        format!(
            "must be delta-seconds (\"120\"), an HTTP-date \
             (\"Wed, 21 Oct 2015 07:28:00 GMT\") or a rate-limit reset in epoch \
             seconds (\"1767225600\"), got {value:?}"
        )
    };
    if v.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '-' || c == '+') {
        let n: f64 = v.parse().map_err(|_| bad())?;
        if !n.is_finite() || n < 0.0 {
            return Err(format!("must not be negative, got {value:?}"));
        }
        return Ok(if n >= EPOCH_MS_FROM {
            RetryAfter::At(Timestamp(n as u64))
        } else if n >= EPOCH_SECONDS_FROM {
            RetryAfter::At(Timestamp((n * 1000.0) as u64))
        } else {
            RetryAfter::After(Duration::from_secs_f64(n))
        });
    }
    httpdate::parse_http_date(v)
        .map(|t| RetryAfter::At(Timestamp::from_system_time(t)))
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_seconds() {
        assert_eq!(
            parse("120"),
            Ok(RetryAfter::After(Duration::from_secs(120)))
        );
        assert_eq!(parse(" 0 "), Ok(RetryAfter::After(Duration::ZERO)));
        assert_eq!(
            parse("1.5"),
            Ok(RetryAfter::After(Duration::from_millis(1500)))
        );
    }

    /// RFC 9110's example, and the two obsolete forms it says to accept.
    #[test]
    fn http_dates_in_all_three_forms() {
        let want = Ok(RetryAfter::At(Timestamp(1_445_412_480_000)));
        assert_eq!(parse("Wed, 21 Oct 2015 07:28:00 GMT"), want);
        assert_eq!(parse("Wednesday, 21-Oct-15 07:28:00 GMT"), want);
        assert_eq!(parse("Wed Oct 21 07:28:00 2015"), want);
    }

    /// GitHub's `x-ratelimit-reset` is epoch seconds; some APIs send ms.
    #[test]
    fn rate_limit_resets() {
        assert_eq!(
            parse("1767225600"),
            Ok(RetryAfter::At(Timestamp(1_767_225_600_000)))
        );
        assert_eq!(
            parse("1767225600123"),
            Ok(RetryAfter::At(Timestamp(1_767_225_600_123)))
        );
    }

    #[test]
    fn garbage_is_refused_with_what_is_accepted() {
        for v in [
            "soon",
            "",
            "-5",
            "12s",
            "Wed, 32 Oct 2015 07:28:00 GMT",
            "NaN",
            "inf",
        ] {
            let e = parse(v).expect_err(v);
            assert!(e.contains(&format!("{v:?}")), "{v}: {e}");
        }
        assert!(parse("-5").unwrap_err().contains("negative"));
    }
}
