//! Wall-clock time that moves with Tokio's clock.
//!
//! The agent keeps time in two ways: Tokio [`Instant`]s for its timers (probe periods,
//! crash back-off, lease renewal) and wall-clock timestamps for what it reports (a
//! container's `startedAt`, a condition's `lastTransitionTime`, the CRI's nanosecond
//! timestamps). Both must agree, also in tests that pause Tokio's clock and advance it: a
//! container that the simulated runtime stops "ten minutes" after it started must report a
//! `finishedAt` ten minutes after its `startedAt`. So every wall-clock reading here is an
//! anchor (the real wall clock, read once per process) plus the Tokio time elapsed since the
//! anchor's Tokio instant.

use std::sync::OnceLock;
use std::time::Duration;

use orchestra_api::k8s_openapi::jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

/// The process's anchor: a Tokio instant and the wall-clock time at that instant.
static ANCHOR: OnceLock<(Instant, Timestamp)> = OnceLock::new();

fn anchor() -> (Instant, Timestamp) {
    *ANCHOR.get_or_init(|| (Instant::now(), Timestamp::now()))
}

/// The wall-clock time of a Tokio instant.
pub fn wall_time_at(instant: Instant) -> Timestamp {
    let (base, wall) = anchor();
    let offset = if instant >= base {
        SignedDuration::try_from(instant.duration_since(base)).unwrap_or(SignedDuration::MAX)
    } else {
        -SignedDuration::try_from(base.duration_since(instant)).unwrap_or(SignedDuration::MAX)
    };
    wall.checked_add(offset).unwrap_or(wall)
}

/// The wall-clock time now, moving with Tokio's clock.
pub fn now() -> Timestamp {
    wall_time_at(Instant::now())
}

/// Nanoseconds since the Unix epoch now (the CRI's timestamps).
pub fn now_nanos() -> i64 {
    nanos_of(now())
}

/// Nanoseconds since the Unix epoch of a timestamp.
pub fn nanos_of(time: Timestamp) -> i64 {
    i64::try_from(time.as_nanosecond()).unwrap_or(i64::MAX)
}

/// The timestamp of a CRI nanosecond value; `None` for 0 (unset).
pub fn timestamp_of_nanos(nanos: i64) -> Option<Timestamp> {
    if nanos == 0 {
        return None;
    }
    Timestamp::from_nanosecond(i128::from(nanos)).ok()
}

/// How long ago `time` was (zero if it is in the future).
pub fn since(time: Timestamp) -> Duration {
    let elapsed = now().duration_since(time);
    Duration::try_from(elapsed).unwrap_or(Duration::ZERO)
}

/// The Tokio instant at which a wall-clock time is (or was) reached.
pub fn instant_of(time: Timestamp) -> Instant {
    let (base, wall) = anchor();
    let offset = time.duration_since(wall);
    if offset.is_negative() {
        let back = Duration::try_from(-offset).unwrap_or(Duration::ZERO);
        base.checked_sub(back).unwrap_or(base)
    } else {
        base + Duration::try_from(offset).unwrap_or(Duration::ZERO)
    }
}

/// A timestamp truncated to whole seconds, as Kubernetes serializes `metav1.Time`; comparing
/// statuses before and after a round trip through the API needs the same precision.
pub fn to_seconds(time: Timestamp) -> Timestamp {
    Timestamp::from_second(time.as_second()).unwrap_or(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wall_time_moves_with_paused_tokio_time() {
        let before = now();
        tokio::time::sleep(Duration::from_secs(600)).await;
        let after = now();
        let elapsed = after.duration_since(before);
        assert!(elapsed >= SignedDuration::from_secs(600), "{elapsed:?}");
        assert!(elapsed < SignedDuration::from_secs(601), "{elapsed:?}");
    }

    #[test]
    fn nanos_round_trip() {
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        assert_eq!(timestamp_of_nanos(nanos_of(t)), Some(t));
        assert_eq!(timestamp_of_nanos(0), None);
    }

    #[tokio::test(start_paused = true)]
    async fn instants_and_timestamps_convert_both_ways() {
        let instant = Instant::now() + Duration::from_secs(42);
        let wall = wall_time_at(instant);
        let back = instant_of(wall);
        let diff = if back > instant {
            back - instant
        } else {
            instant - back
        };
        assert!(diff < Duration::from_micros(1), "{diff:?}");
    }
}
