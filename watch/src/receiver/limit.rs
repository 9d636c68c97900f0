//! Per-source rate limits: a token bucket per client address, on the watch's clock.
//!
//! A source is an IPv4 address, or the /64 prefix of an IPv6 address (one host usually holds a
//! whole /64). Each bucket holds at most `burst` tokens and refills at `per_second`; a request
//! takes one token or is refused with the time until the next one. The table of buckets is
//! bounded: past [`MAX_SOURCES`], buckets that have refilled completely are forgotten (a new
//! bucket is full, so nothing changes for them), and if none has, the newcomers share one
//! overflow bucket, so that a flood of addresses costs bounded memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Distinct sources tracked before the table is pruned.
pub(crate) const MAX_SOURCES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

/// The per-source token buckets of one watch.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<Option<IpAddr>, Bucket>>,
}

impl RateLimiter {
    /// A limiter of `per_second` requests per second per source with bursts of `burst`, or
    /// `None` when `per_second` is 0 (no limit).
    pub(crate) fn new(per_second: u32, burst: u32) -> Option<Self> {
        (per_second > 0).then(|| Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a token for `source` at `now_ms`; on refusal, the whole seconds to wait (at least 1).
    pub(crate) fn check(&self, source: IpAddr, now_ms: i64) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = Some(source_key(source));
        if !buckets.contains_key(&key) && buckets.len() >= MAX_SOURCES {
            buckets.retain(|_, b| self.refilled(*b, now_ms) < self.burst);
            if buckets.len() >= MAX_SOURCES {
                key = None;
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            at_ms: now_ms,
        });
        bucket.tokens = self.refilled(*bucket, now_ms);
        bucket.at_ms = bucket.at_ms.max(now_ms);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - bucket.tokens) / self.per_second).ceil();
        // `wait` is finite and at most 1 / per_second rounded up: the cast cannot truncate.
        Err((wait as u64).max(1))
    }

    /// The tokens of `bucket` at `now_ms` (a clock going backwards refills nothing).
    fn refilled(&self, bucket: Bucket, now_ms: i64) -> f64 {
        let elapsed_ms = now_ms.saturating_sub(bucket.at_ms).max(0);
        let refill = elapsed_ms as f64 / 1000.0 * self.per_second;
        (bucket.tokens + refill).min(self.burst)
    }

    /// Sources tracked (for tests).
    #[cfg(test)]
    fn sources(&self) -> usize {
        self.buckets.lock().map(|b| b.len()).unwrap_or(0)
    }
}

/// The address a bucket is kept for: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn zero_per_second_is_no_limiter() {
        assert!(RateLimiter::new(0, 10).is_none());
    }

    #[test]
    fn a_burst_passes_then_the_source_waits_for_its_refill() {
        let limiter = RateLimiter::new(2, 3).unwrap();
        let a = ip("192.0.2.1");
        for _ in 0..3 {
            assert_eq!(limiter.check(a, 0), Ok(()));
        }
        assert_eq!(limiter.check(a, 0), Err(1));
        // Half a second refills one token at 2 per second.
        assert_eq!(limiter.check(a, 499), Err(1));
        assert_eq!(limiter.check(a, 500), Ok(()));
        assert_eq!(limiter.check(a, 500), Err(1));
        // A long pause refills the burst, not more.
        for _ in 0..3 {
            assert_eq!(limiter.check(a, 60_000), Ok(()));
        }
        assert_eq!(limiter.check(a, 60_000), Err(1));
    }

    #[test]
    fn a_slow_refill_asks_for_more_than_a_second() {
        let limiter = RateLimiter::new(1, 1).unwrap();
        let a = ip("192.0.2.1");
        assert_eq!(limiter.check(a, 0), Ok(()));
        assert_eq!(limiter.check(a, 0), Err(1));
        assert_eq!(limiter.check(a, 999), Err(1));
        assert_eq!(limiter.check(a, 1000), Ok(()));
    }

    #[test]
    fn sources_have_their_own_buckets() {
        let limiter = RateLimiter::new(1, 1).unwrap();
        assert_eq!(limiter.check(ip("192.0.2.1"), 0), Ok(()));
        assert!(limiter.check(ip("192.0.2.1"), 0).is_err());
        assert_eq!(limiter.check(ip("192.0.2.2"), 0), Ok(()));
    }

    #[test]
    fn an_ipv6_host_is_its_64_prefix_and_mapped_ipv4_is_ipv4() {
        let limiter = RateLimiter::new(1, 1).unwrap();
        assert_eq!(limiter.check(ip("2001:db8:1:2::1"), 0), Ok(()));
        assert!(limiter.check(ip("2001:db8:1:2:ffff::9"), 0).is_err());
        assert_eq!(limiter.check(ip("2001:db8:1:3::1"), 0), Ok(()));
        assert_eq!(limiter.check(ip("192.0.2.7"), 0), Ok(()));
        assert!(limiter.check(ip("::ffff:192.0.2.7"), 0).is_err());
    }

    #[test]
    fn a_clock_going_back_refills_nothing() {
        let limiter = RateLimiter::new(1, 1).unwrap();
        let a = ip("192.0.2.1");
        assert_eq!(limiter.check(a, 10_000), Ok(()));
        assert!(limiter.check(a, 0).is_err());
        assert!(limiter.check(a, 10_999).is_err());
        assert_eq!(limiter.check(a, 11_000), Ok(()));
    }

    #[test]
    fn a_flood_of_sources_is_bounded_and_shares_an_overflow_bucket() {
        let limiter = RateLimiter::new(1, 1).unwrap();
        for i in 0..MAX_SOURCES as u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert_eq!(limiter.check(ip, 0), Ok(()));
        }
        assert_eq!(limiter.sources(), MAX_SOURCES);
        // Every tracked bucket is empty: newcomers share the overflow bucket.
        assert_eq!(limiter.check(ip("198.51.100.1"), 0), Ok(()));
        assert!(limiter.check(ip("198.51.100.2"), 0).is_err());
        assert_eq!(limiter.sources(), MAX_SOURCES + 1);
        // Once the buckets have refilled they are forgotten and a newcomer gets its own.
        assert_eq!(limiter.check(ip("198.51.100.3"), 5_000), Ok(()));
        assert!(limiter.sources() <= 2, "{}", limiter.sources());
    }
}
