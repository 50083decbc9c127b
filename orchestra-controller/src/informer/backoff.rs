//! How long a watcher waits before it tries again after a failure.
//!
//! The policy is client-go's reflector's (and kube-runtime's default): the first retry waits
//! 800 ms, each further consecutive failure doubles the wait up to 30 s, and every wait is
//! stretched by a random jitter so that many watchers that failed together (an API server
//! restart) do not come back in lock-step. A success resets the sequence, and so does a quiet
//! period of [`Backoff::reset_after`] without failures.
//!
//! ```
//! use std::time::Duration;
//! use orchestra_controller::informer::Backoff;
//!
//! let backoff = Backoff::default();
//! assert_eq!(backoff.initial, Duration::from_millis(800));
//! assert_eq!(backoff.max, Duration::from_secs(30));
//! // Without jitter the waits are the plain exponential sequence, capped.
//! let steady = Backoff { jitter: 0.0, ..Backoff::default() };
//! let waits: Vec<_> = (0..7).map(|failures| steady.base_delay(failures)).collect();
//! assert_eq!(waits.last(), Some(&Duration::from_secs(30)));
//! assert_eq!(waits[1], Duration::from_millis(1600));
//! ```

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use tokio::time::Instant;

/// An exponential back-off policy with jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The longest wait, jitter included.
    pub max: Duration,
    /// How much each consecutive failure multiplies the wait by.
    pub factor: f64,
    /// Random stretch of each wait, as a fraction of it: a wait `d` becomes a value drawn
    /// uniformly from `[d, d * (1 + jitter))`, then capped at [`max`](Self::max). `0.0`
    /// disables jitter.
    pub jitter: f64,
    /// A failure this long after the previous one starts the sequence over.
    pub reset_after: Duration,
}

impl Default for Backoff {
    /// client-go's reflector back-off: 800 ms doubling to 30 s, jitter 1.0, reset after two
    /// quiet minutes.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(800),
            max: Duration::from_secs(30),
            factor: 2.0,
            jitter: 1.0,
            reset_after: Duration::from_secs(120),
        }
    }
}

impl Backoff {
    /// The wait after `failures + 1` consecutive failures, before jitter: `initial *
    /// factor^failures`, capped at `max`.
    pub fn base_delay(&self, failures: u32) -> Duration {
        let exponent = i32::try_from(failures).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.factor.max(1.0).powi(exponent);
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs.max(0.0))
        }
    }

    /// `base` stretched by `unit` (a value in `[0, 1)`) times the jitter, capped at `max`.
    fn jittered(&self, base: Duration, unit: f64) -> Duration {
        let stretch = base.as_secs_f64() * self.jitter.max(0.0) * unit;
        let secs = base.as_secs_f64() + stretch;
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max.max(base)
        } else {
            Duration::from_secs_f64(secs)
        }
    }
}

/// The running state of a [`Backoff`]: how many failures in a row, and when the last was.
#[derive(Debug)]
pub(crate) struct BackoffState {
    policy: Backoff,
    failures: u32,
    last_failure: Option<Instant>,
    random: RandomUnit,
}

impl BackoffState {
    pub(crate) fn new(policy: Backoff) -> Self {
        Self {
            policy,
            failures: 0,
            last_failure: None,
            random: RandomUnit::new(),
        }
    }

    /// Records a failure at `now` and answers how long to wait before the next attempt.
    pub(crate) fn next_delay(&mut self, now: Instant) -> Duration {
        let quiet = self
            .last_failure
            .is_some_and(|last| now.saturating_duration_since(last) >= self.policy.reset_after);
        if quiet {
            self.failures = 0;
        }
        let base = self.policy.base_delay(self.failures);
        self.failures = self.failures.saturating_add(1);
        self.last_failure = Some(now);
        self.policy.jittered(base, self.random.next())
    }

    /// Records a success: the next failure waits the initial delay again.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
        self.last_failure = None;
    }
}

/// Uniform values in `[0, 1)` from the standard library's randomly keyed hasher: enough for
/// jitter, without a random-number crate.
#[derive(Debug)]
pub(crate) struct RandomUnit {
    state: std::collections::hash_map::RandomState,
    counter: u64,
}

impl RandomUnit {
    pub(crate) fn new() -> Self {
        Self {
            state: std::collections::hash_map::RandomState::new(),
            counter: 0,
        }
    }

    pub(crate) fn next(&mut self) -> f64 {
        self.counter = self.counter.wrapping_add(1);
        let mut hasher = self.state.build_hasher();
        hasher.write_u64(self.counter);
        // The top 53 bits make an exactly representable fraction in [0, 1).
        (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_800_ms_and_stop_at_30_s() {
        let policy = Backoff {
            jitter: 0.0,
            ..Backoff::default()
        };
        let mut state = BackoffState::new(policy);
        let now = Instant::now();
        let waits: Vec<_> = (0..8).map(|_| state.next_delay(now)).collect();
        let millis: Vec<_> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(
            millis,
            [800, 1_600, 3_200, 6_400, 12_800, 25_600, 30_000, 30_000]
        );
    }

    #[test]
    fn jitter_stretches_each_wait_by_at_most_its_factor_and_never_past_the_cap() {
        let mut state = BackoffState::new(Backoff::default());
        let now = Instant::now();
        for failures in 0..20 {
            let base = Backoff::default().base_delay(failures);
            let wait = state.next_delay(now);
            assert!(wait >= base, "{wait:?} < {base:?}");
            assert!(
                wait < base * 2 || wait == Duration::from_secs(30),
                "{wait:?}"
            );
            assert!(wait <= Duration::from_secs(30), "{wait:?}");
        }
    }

    #[test]
    fn success_or_a_quiet_period_starts_the_sequence_over() {
        let policy = Backoff {
            jitter: 0.0,
            ..Backoff::default()
        };
        let mut state = BackoffState::new(policy);
        let start = Instant::now();
        state.next_delay(start);
        assert_eq!(state.next_delay(start), Duration::from_millis(1_600));
        state.reset();
        assert_eq!(state.next_delay(start), Duration::from_millis(800));
        assert_eq!(state.next_delay(start), Duration::from_millis(1_600));
        let later = start + Duration::from_secs(121);
        assert_eq!(state.next_delay(later), Duration::from_millis(800));
    }

    #[test]
    fn random_units_stay_in_the_unit_interval_and_vary() {
        let mut random = RandomUnit::new();
        let values: Vec<f64> = (0..1_000).map(|_| random.next()).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!((0.4..0.6).contains(&mean), "mean {mean}");
    }
}
