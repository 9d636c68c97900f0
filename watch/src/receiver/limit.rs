//! Per-source rate limits: a token bucket per client address, on the watch's clock.
//!
//! A source is an IPv4 address, or the /64 prefix of an IPv6 address (one host usually holds a
//! whole /64). Each bucket holds at most `burst` tokens and refills at `per_second`; a request
//! takes one token or is refused with the time until the next one. The table of buckets is
//! bounded: past [`MAX_SOURCES`], buckets that have refilled completely are forgotten (a new
//! bucket is full, so nothing changes for them), and if none has, the newcomers share one
//! overflow bucket, so that a flood of addresses costs bounded memory.
//!
//! A source also holds at most a quarter of the ingest queue at once (a [`Permit`] per request
//! under way), so that one slow sender cannot keep everyone else's exports waiting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Distinct sources tracked before the table is pruned.
pub(crate) const MAX_SOURCES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
    in_flight: usize,
}

/// Why a source must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its bucket is empty: retry after this many whole seconds (at least 1).
    Rate(u64),
    /// It has this many requests under way already.
    Busy(usize),
}

/// One request of a source under way; dropping it ends the request.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    limiter: &'a RateLimiter,
    key: Option<IpAddr>,
}

impl Refusal {
    /// The seconds to announce in `Retry-After`.
    pub(crate) fn retry_after(self) -> u64 {
        match self {
            Self::Rate(wait) => wait,
            Self::Busy(_) => 1,
        }
    }

    /// What the refusal's status body says.
    pub(crate) fn message(self) -> String {
        match self {
            Self::Rate(_) => "this source is over the watch's rate limit (rate_limit_per_source); retry after the delay in Retry-After".to_owned(),
            Self::Busy(n) => format!("this source has {n} requests under way already, its share of the watch's ingest queue; retry after the delay in Retry-After"),
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut buckets = self
            .limiter
            .buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(b) = buckets.get_mut(&self.key) {
            b.in_flight = b.in_flight.saturating_sub(1);
        }
    }
}

/// The per-source token buckets of one watch.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_second: f64,
    burst: f64,
    max_in_flight: usize,
    buckets: Mutex<HashMap<Option<IpAddr>, Bucket>>,
}

impl RateLimiter {
    /// A limiter of `per_second` requests per second per source with bursts of `burst` and at
    /// most a quarter of `queue_capacity` under way, or `None` when `per_second` is 0 (no limit).
    pub(crate) fn new(per_second: u32, burst: u32, queue_capacity: usize) -> Option<Self> {
        (per_second > 0).then(|| Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            max_in_flight: (queue_capacity / 4).max(1),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a token for `source` at `now_ms` and counts the request as under way until the
    /// permit is dropped.
    pub(crate) fn check(&self, source: IpAddr, now_ms: i64) -> Result<Permit<'_>, Refusal> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = Some(source_key(source));
        if !buckets.contains_key(&key) && buckets.len() >= MAX_SOURCES {
            buckets.retain(|_, b| b.in_flight > 0 || self.refilled(*b, now_ms) < self.burst);
            if buckets.len() >= MAX_SOURCES {
                key = None;
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            at_ms: now_ms,
            in_flight: 0,
        });
        bucket.tokens = self.refilled(*bucket, now_ms);
        bucket.at_ms = bucket.at_ms.max(now_ms);
        if bucket.tokens < 1.0 {
            let wait = ((1.0 - bucket.tokens) / self.per_second).ceil();
            // `wait` is finite and at most 1 / per_second rounded up: the cast cannot truncate.
            return Err(Refusal::Rate((wait as u64).max(1)));
        }
        if bucket.in_flight >= self.max_in_flight {
            return Err(Refusal::Busy(bucket.in_flight));
        }
        bucket.tokens -= 1.0;
        bucket.in_flight += 1;
        Ok(Permit { limiter: self, key })
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
        assert!(RateLimiter::new(0, 10, 64).is_none());
    }

    #[test]
    fn a_burst_passes_then_the_source_waits_for_its_refill() {
        let limiter = RateLimiter::new(2, 3, 64).unwrap();
        let a = ip("192.0.2.1");
        for _ in 0..3 {
            assert!(limiter.check(a, 0).is_ok());
        }
        assert_eq!(limiter.check(a, 0).err(), Some(Refusal::Rate(1)));
        // Half a second refills one token at 2 per second.
        assert_eq!(limiter.check(a, 499).err(), Some(Refusal::Rate(1)));
        assert!(limiter.check(a, 500).is_ok());
        assert_eq!(limiter.check(a, 500).err(), Some(Refusal::Rate(1)));
        // A long pause refills the burst, not more.
        for _ in 0..3 {
            assert!(limiter.check(a, 60_000).is_ok());
        }
        assert_eq!(limiter.check(a, 60_000).err(), Some(Refusal::Rate(1)));
    }

    #[test]
    fn a_slow_refill_asks_for_more_than_a_second() {
        let limiter = RateLimiter::new(1, 1, 64).unwrap();
        let a = ip("192.0.2.1");
        assert!(limiter.check(a, 0).is_ok());
        assert_eq!(limiter.check(a, 0).err(), Some(Refusal::Rate(1)));
        assert_eq!(limiter.check(a, 999).err(), Some(Refusal::Rate(1)));
        assert!(limiter.check(a, 1000).is_ok());
    }

    #[test]
    fn sources_have_their_own_buckets() {
        let limiter = RateLimiter::new(1, 1, 64).unwrap();
        assert!(limiter.check(ip("192.0.2.1"), 0).is_ok());
        assert!(limiter.check(ip("192.0.2.1"), 0).is_err());
        assert!(limiter.check(ip("192.0.2.2"), 0).is_ok());
    }

    #[test]
    fn an_ipv6_host_is_its_64_prefix_and_mapped_ipv4_is_ipv4() {
        let limiter = RateLimiter::new(1, 1, 64).unwrap();
        assert!(limiter.check(ip("2001:db8:1:2::1"), 0).is_ok());
        assert!(limiter.check(ip("2001:db8:1:2:ffff::9"), 0).is_err());
        assert!(limiter.check(ip("2001:db8:1:3::1"), 0).is_ok());
        assert!(limiter.check(ip("192.0.2.7"), 0).is_ok());
        assert!(limiter.check(ip("::ffff:192.0.2.7"), 0).is_err());
    }

    #[test]
    fn a_clock_going_back_refills_nothing() {
        let limiter = RateLimiter::new(1, 1, 64).unwrap();
        let a = ip("192.0.2.1");
        assert!(limiter.check(a, 10_000).is_ok());
        assert!(limiter.check(a, 0).is_err());
        assert!(limiter.check(a, 10_999).is_err());
        assert!(limiter.check(a, 11_000).is_ok());
    }

    #[test]
    fn a_source_holds_a_quarter_of_the_queue_at_most() {
        let limiter = RateLimiter::new(100, 100, 8).unwrap();
        let a = ip("192.0.2.1");
        let first = limiter.check(a, 0).unwrap();
        let second = limiter.check(a, 0).unwrap();
        assert_eq!(limiter.check(a, 0).err(), Some(Refusal::Busy(2)));
        // Others are not held up by it.
        assert!(limiter.check(ip("192.0.2.2"), 0).is_ok());
        drop(first);
        let third = limiter.check(a, 0).unwrap();
        drop((second, third));
        assert!(limiter.check(a, 0).is_ok());
    }

    #[test]
    fn a_flood_of_sources_is_bounded_and_shares_an_overflow_bucket() {
        let limiter = RateLimiter::new(1, 1, 64).unwrap();
        for i in 0..MAX_SOURCES as u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(limiter.check(ip, 0).is_ok());
        }
        assert_eq!(limiter.sources(), MAX_SOURCES);
        // Every tracked bucket is empty: newcomers share the overflow bucket.
        assert!(limiter.check(ip("198.51.100.1"), 0).is_ok());
        assert!(limiter.check(ip("198.51.100.2"), 0).is_err());
        assert_eq!(limiter.sources(), MAX_SOURCES + 1);
        // Once the buckets have refilled they are forgotten and a newcomer gets its own.
        assert!(limiter.check(ip("198.51.100.3"), 5_000).is_ok());
        assert!(limiter.sources() <= 2, "{}", limiter.sources());
    }
}
