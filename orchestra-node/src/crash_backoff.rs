//! Crash back-off: how long the agent waits before it restarts a container that exited.
//!
//! Kubernetes keeps one back-off per container (client-go's `flowcontrol.Backoff`, keyed by
//! pod and container): the first exit restarts at once and arms a back-off of 10 s; each
//! further exit doubles it, up to 5 min. The wait is measured from the container's
//! `finishedAt`: while less than the back-off has passed since then, the container stays
//! `Waiting` with reason `CrashLoopBackOff`. A container that ran longer than twice the
//! maximum (10 min) since the previous exit starts over from the first back-off. The same
//! machinery, with its own keys, spaces out failing image pulls (`ImagePullBackOff`).

use std::collections::HashMap;
use std::time::Duration;

use orchestra_api::k8s_openapi::jiff::Timestamp;

#[derive(Debug, Clone, Copy)]
struct Entry {
    backoff: Duration,
    last_update: Timestamp,
}

/// Per-key exponential back-off. See the [module documentation](self).
#[derive(Debug)]
pub struct CrashBackoff {
    initial: Duration,
    max: Duration,
    entries: HashMap<String, Entry>,
}

impl CrashBackoff {
    /// Back-off starting at `initial`, doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            entries: HashMap::new(),
        }
    }

    /// Whether `event` came so long after the entry's last update that the entry is stale.
    fn expired(&self, event: Timestamp, entry: &Entry) -> bool {
        let gap = event.duration_since(entry.last_update);
        Duration::try_from(gap).is_ok_and(|gap| gap > self.max * 2)
    }

    /// How much of the back-off is left for a container of `key` that finished at
    /// `finished`, seen at `now`; `None` if it may restart now.
    pub fn remaining(&self, key: &str, finished: Timestamp, now: Timestamp) -> Option<Duration> {
        let entry = self.entries.get(key)?;
        if self.expired(finished, entry) {
            return None;
        }
        let since = Duration::try_from(now.duration_since(finished)).unwrap_or(Duration::ZERO);
        entry
            .backoff
            .checked_sub(since)
            .filter(|left| !left.is_zero())
    }

    /// How much of the back-off is left since the last failure recorded with
    /// [`next`](Self::next) (image pulls, whose failure time is the record's); `None` if
    /// another attempt may be made now.
    pub fn remaining_since_failure(&self, key: &str, now: Timestamp) -> Option<Duration> {
        let entry = self.entries.get(key)?;
        self.remaining(key, entry.last_update, now)
    }

    /// Records a restart of `key` after an exit at `finished`: the first one (or the first
    /// after a long run) arms the initial back-off, later ones double it.
    pub fn next(&mut self, key: &str, finished: Timestamp) {
        let backoff = match self.entries.get(key) {
            Some(entry) if !self.expired(finished, entry) => (entry.backoff * 2).min(self.max),
            _ => self.initial,
        };
        self.entries.insert(
            key.to_owned(),
            Entry {
                backoff,
                last_update: finished,
            },
        );
    }

    /// The current back-off of `key` (zero if none).
    pub fn current(&self, key: &str) -> Duration {
        self.entries.get(key).map(|e| e.backoff).unwrap_or_default()
    }

    /// Forgets `key`.
    pub fn reset(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Forgets every key starting with `prefix` (a pod's keys when it is gone).
    pub fn forget_prefix(&mut self, prefix: &str) {
        self.entries.retain(|key, _| !key.starts_with(prefix));
    }
}

/// Formats a back-off as Go prints durations (`10s`, `1m20s`, `5m0s`).
pub fn format_go_duration(duration: Duration) -> String {
    let total = duration.as_secs();
    let millis = duration.subsec_millis();
    if total == 0 && millis > 0 {
        return format!("{millis}ms");
    }
    let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
    let seconds = if millis > 0 {
        format!("{s}.{millis:03}").trim_end_matches('0').to_owned() + "s"
    } else {
        format!("{s}s")
    };
    match (h, m) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    #[test]
    fn the_first_exit_restarts_at_once_then_the_back_off_doubles_to_the_cap() {
        let mut backoff = CrashBackoff::new(Duration::from_secs(10), Duration::from_secs(300));
        let key = "uid/app";
        let mut finished = at(0);
        assert_eq!(backoff.remaining(key, finished, finished), None);
        backoff.next(key, finished);
        let mut seen = Vec::new();
        for _ in 0..7 {
            // The container runs briefly and exits again.
            finished = finished.checked_add(Duration::from_secs(1)).unwrap();
            let wait = backoff.remaining(key, finished, finished).unwrap();
            seen.push(wait.as_secs());
            finished = finished.checked_add(wait).unwrap();
            assert_eq!(backoff.remaining(key, at(0), finished), None);
            backoff.next(key, finished);
        }
        assert_eq!(seen, [10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn a_long_run_resets_the_back_off() {
        let mut backoff = CrashBackoff::new(Duration::from_secs(10), Duration::from_secs(300));
        backoff.next("k", at(0));
        backoff.next("k", at(5));
        assert_eq!(backoff.current("k"), Duration::from_secs(20));
        // Ten minutes and a bit of running since the last restart: stale.
        let late = at(5 + 601);
        assert_eq!(backoff.remaining("k", late, late), None);
        backoff.next("k", late);
        assert_eq!(backoff.current("k"), Duration::from_secs(10));
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(format_go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(format_go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(format_go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_millis(20)), "20ms");
    }
}
