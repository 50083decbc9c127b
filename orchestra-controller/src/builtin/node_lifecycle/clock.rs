//! The wall clock of the node lifecycle controllers: what they stamp condition transitions and
//! taints (`timeAdded`) with, and what toleration deadlines are measured against.
//!
//! In production it is the system clock. Tests that run on Tokio's paused time use
//! [`WallClock::following_tokio`], which starts at the current time and then advances with
//! Tokio's clock, so a toleration of 300 seconds passes when the test's virtual time does.

use std::fmt;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

/// A source of wall-clock time. Cheap to clone.
#[derive(Clone)]
pub struct WallClock(Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl WallClock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(Timestamp::now))
    }

    /// A clock that reads the current time now and from then on advances with Tokio's clock
    /// (which tests may pause and advance).
    pub fn following_tokio() -> Self {
        let (start_wall, start) = (Timestamp::now(), Instant::now());
        Self(Arc::new(move || {
            let elapsed = SignedDuration::try_from(start.elapsed()).unwrap_or(SignedDuration::MAX);
            start_wall.saturating_add(elapsed).unwrap_or(start_wall)
        }))
    }

    /// A clock whose time `now` gives.
    pub fn from_fn(now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        (self.0)()
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for WallClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WallClock").field(&self.now()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_clock_following_tokio_advances_with_paused_time() {
        let clock = WallClock::following_tokio();
        let before = clock.now();
        tokio::time::sleep(Duration::from_secs(300)).await;
        let passed = clock.now().duration_since(before);
        assert_eq!(passed.as_secs(), 300);
    }
}
