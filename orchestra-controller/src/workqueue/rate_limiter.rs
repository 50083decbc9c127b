//! Rate limiters: how long a key waits before it is retried.
//!
//! A [`RateLimiter`] answers one question — "this key failed again, how long until its next
//! attempt?" — and remembers enough per key to answer it. [`WorkQueue::add_rate_limited`]
//! asks it and then calls [`WorkQueue::add_after`] with the answer.
//!
//! Three limiters, with client-go's semantics:
//!
//! - [`ItemExponentialFailureRateLimiter`]: per key, `base * 2^failures`, capped at `max`;
//!   [`forget`](RateLimiter::forget) resets the key. Protects the cluster from one object that
//!   keeps failing.
//! - [`BucketRateLimiter`]: one token bucket shared by all keys (`qps` refill, `burst` size).
//!   Protects the cluster from many objects failing at once.
//! - [`MaxOfRateLimiter`]: asks every limiter it holds and answers the longest delay.
//!
//! [`default_controller_rate_limiter`] combines the first two like client-go's
//! `DefaultControllerRateLimiter`: 5 ms → 1,000 s per key, and 10 retries per second overall
//! with a burst of 100.
//!
//! Time is read from [`tokio::time::Instant`], so tests that pause tokio's clock control the
//! token bucket too.
//!
//! [`WorkQueue::add_rate_limited`]: super::WorkQueue::add_rate_limited
//! [`WorkQueue::add_after`]: super::WorkQueue::add_after

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Decides how long a key waits before it is retried, and remembers per-key failures.
///
/// Implementations use interior mutability: the work queue shares one limiter between all its
/// workers.
pub trait RateLimiter<K>: Send + Sync {
    /// Records one more failure of `key` and returns how long to wait before retrying it.
    fn when(&self, key: &K) -> Duration;

    /// Forgets `key`'s failures: the next [`when`](Self::when) starts from the shortest
    /// delay again. Call it when the key was processed successfully.
    fn forget(&self, key: &K);

    /// How many failures of `key` this limiter has counted since it was last forgotten.
    fn num_requeues(&self, key: &K) -> u32;
}

impl<K, R: RateLimiter<K> + ?Sized> RateLimiter<K> for Box<R> {
    fn when(&self, key: &K) -> Duration {
        (**self).when(key)
    }
    fn forget(&self, key: &K) {
        (**self).forget(key)
    }
    fn num_requeues(&self, key: &K) -> u32 {
        (**self).num_requeues(key)
    }
}

impl<K, R: RateLimiter<K> + ?Sized> RateLimiter<K> for Arc<R> {
    fn when(&self, key: &K) -> Duration {
        (**self).when(key)
    }
    fn forget(&self, key: &K) {
        (**self).forget(key)
    }
    fn num_requeues(&self, key: &K) -> u32 {
        (**self).num_requeues(key)
    }
}

/// Returns client-go's default controller rate limiter: the longer of a per-key exponential
/// back-off (5 ms doubling up to 1,000 s) and an overall token bucket (10 per second, burst
/// 100).
pub fn default_controller_rate_limiter<K>() -> MaxOfRateLimiter<K>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
{
    MaxOfRateLimiter::new()
        .with(ItemExponentialFailureRateLimiter::default())
        .with(BucketRateLimiter::default())
}

/// Per-key exponential back-off: the `n`-th failure since the last
/// [`forget`](RateLimiter::forget) waits `base * 2^n` (the first waits `base`), never more
/// than `max`.
///
/// A key stays counted until it is forgotten; call [`RateLimiter::forget`] (or
/// [`WorkQueue::forget`](super::WorkQueue::forget)) once it succeeds.
pub struct ItemExponentialFailureRateLimiter<K> {
    base: Duration,
    max: Duration,
    failures: Mutex<HashMap<K, u32>>,
}

impl<K> ItemExponentialFailureRateLimiter<K> {
    /// The per-key base delay of client-go's default controller rate limiter.
    pub const DEFAULT_BASE: Duration = Duration::from_millis(5);
    /// The per-key maximum delay of client-go's default controller rate limiter.
    pub const DEFAULT_MAX: Duration = Duration::from_secs(1000);

    /// A limiter whose first retry waits `base` and whose delays never exceed `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The delay of a key that has already failed `failures` times.
    fn backoff(&self, failures: u32) -> Duration {
        // 2^failures does not fit once failures >= 128; the cap applies long before.
        let delay = 1u128
            .checked_shl(failures)
            .and_then(|factor| self.base.as_nanos().checked_mul(factor));
        match delay {
            Some(nanos) if nanos < self.max.as_nanos() => duration_from_nanos(nanos),
            _ => self.max,
        }
    }
}

/// Converts nanoseconds that are known to be below some `Duration` back into a `Duration`.
fn duration_from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below 10^9, so it fits in a u32.
    let subsec = u32::try_from(nanos % NANOS_PER_SEC).unwrap_or(0);
    Duration::new(secs, subsec)
}

impl<K> Default for ItemExponentialFailureRateLimiter<K> {
    /// 5 ms doubling up to 1,000 s, as client-go's default controller rate limiter.
    fn default() -> Self {
        Self::new(Self::DEFAULT_BASE, Self::DEFAULT_MAX)
    }
}

impl<K> fmt::Debug for ItemExponentialFailureRateLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tracked = self
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("ItemExponentialFailureRateLimiter")
            .field("base", &self.base)
            .field("max", &self.max)
            .field("tracked_keys", &tracked)
            .finish()
    }
}

impl<K> RateLimiter<K> for ItemExponentialFailureRateLimiter<K>
where
    K: Clone + Eq + Hash + Send + Sync,
{
    fn when(&self, key: &K) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let count = match failures.get_mut(key) {
            Some(count) => count,
            None => failures.entry(key.clone()).or_insert(0),
        };
        let delay = self.backoff(*count);
        *count = count.saturating_add(1);
        delay
    }

    fn forget(&self, key: &K) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    fn num_requeues(&self, key: &K) -> u32 {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .copied()
            .unwrap_or(0)
    }
}

/// A [`BucketRateLimiter`] configuration that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidRateLimit {
    /// The refill rate is zero, negative or NaN; use `f64::INFINITY` for "no limit".
    #[error("token bucket rate must be a positive number of tokens per second, got {0}")]
    Qps(f64),
    /// A bucket of size zero never grants a token.
    #[error("token bucket burst must be at least 1")]
    Burst,
}

/// One token bucket shared by every key: it holds at most `burst` tokens and refills `qps`
/// tokens per second. Each [`when`](RateLimiter::when) takes a token, borrowing it from the
/// future when the bucket is empty, and answers how long until that token exists — so
/// retries are spread out at `qps` once a burst is used up.
///
/// It tracks no keys: [`forget`](RateLimiter::forget) does nothing and
/// [`num_requeues`](RateLimiter::num_requeues) is always 0 (as in client-go).
#[derive(Debug)]
pub struct BucketRateLimiter {
    qps: f64,
    burst: u32,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Tokens available at `last`; negative when tokens were borrowed from the future.
    tokens: f64,
    /// When `tokens` was last brought up to date; `None` until first use (a full bucket).
    last: Option<Instant>,
}

impl BucketRateLimiter {
    /// Refill rate of client-go's default controller rate limiter, in tokens per second.
    pub const DEFAULT_QPS: f64 = 10.0;
    /// Bucket size of client-go's default controller rate limiter.
    pub const DEFAULT_BURST: u32 = 100;

    /// A bucket of `burst` tokens (it starts full) refilled at `qps` tokens per second.
    /// `qps = f64::INFINITY` never delays.
    pub fn new(qps: f64, burst: u32) -> Result<Self, InvalidRateLimit> {
        if qps.is_nan() || qps <= 0.0 {
            return Err(InvalidRateLimit::Qps(qps));
        }
        if burst == 0 {
            return Err(InvalidRateLimit::Burst);
        }
        Ok(Self {
            qps,
            burst,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(burst),
                last: None,
            }),
        })
    }

    /// The refill rate, in tokens per second.
    pub fn qps(&self) -> f64 {
        self.qps
    }

    /// The bucket size.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Takes one token at `now` and returns how long until it is covered.
    fn reserve(&self, now: Instant) -> Duration {
        if self.qps.is_infinite() {
            return Duration::ZERO;
        }
        let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let burst = f64::from(self.burst);
        let elapsed = bucket
            .last
            .map_or(Duration::ZERO, |last| now.saturating_duration_since(last));
        bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * self.qps).min(burst);
        // Time never runs backwards for the bucket, even if callers race on `now`.
        bucket.last = Some(bucket.last.map_or(now, |last| last.max(now)));
        bucket.tokens -= 1.0;
        if bucket.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(-bucket.tokens / self.qps).unwrap_or(Duration::MAX)
        }
    }
}

impl Default for BucketRateLimiter {
    /// 10 tokens per second, burst 100, as client-go's default controller rate limiter.
    fn default() -> Self {
        Self {
            qps: Self::DEFAULT_QPS,
            burst: Self::DEFAULT_BURST,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(Self::DEFAULT_BURST),
                last: None,
            }),
        }
    }
}

impl<K> RateLimiter<K> for BucketRateLimiter {
    fn when(&self, _key: &K) -> Duration {
        self.reserve(Instant::now())
    }

    fn forget(&self, _key: &K) {}

    fn num_requeues(&self, _key: &K) -> u32 {
        0
    }
}

/// Combines limiters: [`when`](RateLimiter::when) asks every one (so each records the
/// failure) and answers the longest delay; [`num_requeues`](RateLimiter::num_requeues) is the
/// largest count; [`forget`](RateLimiter::forget) forgets in all of them.
///
/// With no limiters it never delays.
pub struct MaxOfRateLimiter<K> {
    limiters: Vec<Box<dyn RateLimiter<K>>>,
}

impl<K> MaxOfRateLimiter<K> {
    /// A combinator holding no limiters yet; add them with [`with`](Self::with).
    pub fn new() -> Self {
        Self {
            limiters: Vec::new(),
        }
    }

    /// Adds one more limiter to consult.
    #[must_use]
    pub fn with(mut self, limiter: impl RateLimiter<K> + 'static) -> Self {
        self.limiters.push(Box::new(limiter));
        self
    }
}

impl<K> Default for MaxOfRateLimiter<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K> fmt::Debug for MaxOfRateLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaxOfRateLimiter")
            .field("limiters", &self.limiters.len())
            .finish()
    }
}

impl<K> RateLimiter<K> for MaxOfRateLimiter<K> {
    fn when(&self, key: &K) -> Duration {
        // Every limiter must see the failure, so no short-circuiting.
        self.limiters
            .iter()
            .map(|limiter| limiter.when(key))
            .fold(Duration::ZERO, Duration::max)
    }

    fn forget(&self, key: &K) {
        for limiter in &self.limiters {
            limiter.forget(key);
        }
    }

    fn num_requeues(&self, key: &K) -> u32 {
        self.limiters
            .iter()
            .map(|limiter| limiter.num_requeues(key))
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn paused_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a current-thread runtime builds")
    }

    #[test]
    fn exponential_doubles_from_base_per_key() {
        let limiter = ItemExponentialFailureRateLimiter::new(
            Duration::from_millis(1),
            Duration::from_secs(1),
        );
        let delays: Vec<_> = (0..4).map(|_| limiter.when(&"a")).collect();
        assert_eq!(
            delays,
            [1, 2, 4, 8].map(Duration::from_millis),
            "1 ms, doubling"
        );
        assert_eq!(
            limiter.when(&"b"),
            Duration::from_millis(1),
            "keys are independent"
        );
        assert_eq!(limiter.num_requeues(&"a"), 4);
        assert_eq!(limiter.num_requeues(&"b"), 1);
    }

    #[test]
    fn exponential_is_capped_at_max_even_after_many_failures() {
        let limiter = ItemExponentialFailureRateLimiter::<u8>::default();
        let last = (0..200).map(|_| limiter.when(&0)).last();
        assert_eq!(last, Some(Duration::from_secs(1000)));
        assert_eq!(limiter.num_requeues(&0), 200);
    }

    #[test]
    fn forget_restarts_back_off_at_base() {
        let limiter = ItemExponentialFailureRateLimiter::<&str>::default();
        limiter.when(&"a");
        limiter.when(&"a");
        limiter.forget(&"a");
        assert_eq!(limiter.num_requeues(&"a"), 0);
        assert_eq!(limiter.when(&"a"), Duration::from_millis(5));
    }

    #[test]
    fn bucket_rejects_configurations_that_never_grant() {
        assert_eq!(
            BucketRateLimiter::new(0.0, 1).err(),
            Some(InvalidRateLimit::Qps(0.0))
        );
        assert!(matches!(
            BucketRateLimiter::new(f64::NAN, 1),
            Err(InvalidRateLimit::Qps(_))
        ));
        assert_eq!(
            BucketRateLimiter::new(1.0, 0).err(),
            Some(InvalidRateLimit::Burst)
        );
    }

    #[test]
    fn unlimited_bucket_never_delays() {
        let bucket = BucketRateLimiter::new(f64::INFINITY, 1).expect("valid");
        for _ in 0..1000 {
            assert_eq!(RateLimiter::<()>::when(&bucket, &()), Duration::ZERO);
        }
    }

    #[test]
    fn bucket_grants_burst_immediately_then_spaces_at_qps() {
        paused_runtime().block_on(async {
            let bucket = BucketRateLimiter::default();
            for _ in 0..100 {
                assert_eq!(RateLimiter::<()>::when(&bucket, &()), Duration::ZERO);
            }
            assert_eq!(
                RateLimiter::<()>::when(&bucket, &()),
                Duration::from_millis(100)
            );
            assert_eq!(
                RateLimiter::<()>::when(&bucket, &()),
                Duration::from_millis(200)
            );
            // 100 ms later one borrowed token is repaid: the next call still waits 200 ms.
            tokio::time::advance(Duration::from_millis(100)).await;
            assert_eq!(
                RateLimiter::<()>::when(&bucket, &()),
                Duration::from_millis(200)
            );
            assert_eq!(RateLimiter::<()>::num_requeues(&bucket, &()), 0);
        });
    }

    #[test]
    fn default_controller_limiter_answers_the_longer_of_its_parts() {
        paused_runtime().block_on(async {
            let limiter = default_controller_rate_limiter::<u32>();
            // Per-key back-off dominates while the bucket has tokens.
            assert_eq!(limiter.when(&1), Duration::from_millis(5));
            assert_eq!(limiter.when(&1), Duration::from_millis(10));
            // 98 fresh keys use up the rest of the burst at 5 ms each.
            for key in 2..100 {
                assert_eq!(limiter.when(&key), Duration::from_millis(5));
            }
            // Then the bucket dominates: 100 ms per token.
            assert_eq!(limiter.when(&100), Duration::from_millis(100));
            assert_eq!(limiter.num_requeues(&1), 2);
            limiter.forget(&1);
            assert_eq!(limiter.num_requeues(&1), 0);
        });
    }

    #[test]
    fn empty_max_of_never_delays() {
        let limiter = MaxOfRateLimiter::<u8>::new();
        assert_eq!(limiter.when(&1), Duration::ZERO);
        assert_eq!(limiter.num_requeues(&1), 0);
    }

    proptest! {
        #[test]
        fn exponential_delay_is_base_times_two_to_the_failures_since_forget_capped(
            ops in proptest::collection::vec((0u8..4, any::<bool>()), 0..200),
            base_ms in 1u64..50,
            max_ms in 1u64..100_000,
        ) {
            let base = Duration::from_millis(base_ms);
            let max = Duration::from_millis(max_ms);
            let limiter = ItemExponentialFailureRateLimiter::new(base, max);
            let mut model: HashMap<u8, u32> = HashMap::new();
            for (key, forget) in ops {
                if forget {
                    limiter.forget(&key);
                    model.remove(&key);
                } else {
                    let failures = model.entry(key).or_insert(0);
                    // base <= 50 ms < 2^26 ns, so shifting by at most 60 stays in a u128;
                    // max < 2^37 ns, so 2^60 * base is always capped.
                    let nanos = (base.as_nanos() << (*failures).min(60)).min(max.as_nanos());
                    let expected = Duration::from_nanos(u64::try_from(nanos).expect("below max"));
                    prop_assert_eq!(limiter.when(&key), expected);
                    *failures += 1;
                }
                prop_assert_eq!(limiter.num_requeues(&key), model.get(&key).copied().unwrap_or(0));
            }
        }

        #[test]
        fn bucket_never_releases_more_than_burst_plus_qps_times_window(
            gaps_ms in proptest::collection::vec(0u64..400, 1..300),
            qps in 1u32..50,
            burst in 1u32..20,
        ) {
            let qps = f64::from(qps);
            let releases = paused_runtime().block_on(async {
                let bucket = BucketRateLimiter::new(qps, burst).expect("valid");
                let start = Instant::now();
                let mut releases = Vec::new();
                for gap in gaps_ms {
                    tokio::time::advance(Duration::from_millis(gap)).await;
                    let now = Instant::now();
                    let delay = RateLimiter::<()>::when(&bucket, &());
                    releases.push((now + delay - start).as_secs_f64());
                }
                releases
            });
            // Reservations are handed out in order.
            for pair in releases.windows(2) {
                prop_assert!(pair[0] <= pair[1] + 1e-9, "{pair:?}");
            }
            // Any window [releases[i], releases[j]] holds at most burst + qps * width releases.
            for i in 0..releases.len() {
                for j in i..releases.len() {
                    let count = (j - i + 1) as f64;
                    let width = releases[j] - releases[i];
                    prop_assert!(
                        count <= f64::from(burst) + qps * width + 1e-6,
                        "{count} releases in {width}s (qps {qps}, burst {burst})"
                    );
                }
            }
        }
    }
}
