//! How a simulated container behaves, read from its pod's annotations.
//!
//! The kubelet passes a pod's annotations to the runtime in the sandbox config, as CRI does;
//! the simulated runtime reads these from them. Each key applies to every container of the
//! pod, and `<key>.<container-name>` overrides it for one container
//! (`sim.orchestra.dev/exit-code.migrate: "1"`).
//!
//! | annotation | value | default | effect |
//! |---|---|---|---|
//! | `sim.orchestra.dev/start-latency` | duration | `0s` | `StartContainer` takes this long |
//! | `sim.orchestra.dev/exit-after` | duration | never (init containers other than sidecars: `0s`) | the container exits this long after it starts |
//! | `sim.orchestra.dev/exit-code` | integer | `0` | the exit code when it exits by itself |
//! | `sim.orchestra.dev/exit-attempts` | integer | all | only the first N runs (restart counts 0…N−1) exit; later runs keep running |
//! | `sim.orchestra.dev/ready` | `true`/`false` | `true` | `false`: readiness probes always fail |
//! | `sim.orchestra.dev/ready-after` | duration | `0s` | readiness probes fail until this long after the start |
//! | `sim.orchestra.dev/liveness-fails-after` | duration | never | liveness probes fail from this long after the start; the container then also ignores SIGTERM, so stopping it takes the whole grace period and ends with exit code 137 |
//! | `sim.orchestra.dev/startup-after` | duration | `0s` | startup probes fail until this long after the start |
//! | `sim.orchestra.dev/stop-latency` | duration | `0s` | after SIGTERM the container exits (code 0) this long later; past the grace period it is killed (code 137) |
//! | `sim.orchestra.dev/cpu-usage` | quantity | `0` | CPU the container reports using (`250m`) |
//! | `sim.orchestra.dev/memory-usage` | quantity | `0` | memory the container reports using (`64Mi`) |
//!
//! Durations are written as Go and Kubernetes write them: `1.5s`, `500ms`, `2m30s`, `1h`.
//! A value that does not parse is ignored (the default applies) and logged.

use std::collections::BTreeMap;
use std::time::Duration;

use orchestra_api::Quantity;

/// Prefix of every annotation the simulated runtime reads.
pub const ANNOTATION_PREFIX: &str = "sim.orchestra.dev/";
/// How long `StartContainer` takes.
pub const START_LATENCY: &str = "sim.orchestra.dev/start-latency";
/// How long after its start a container exits.
pub const EXIT_AFTER: &str = "sim.orchestra.dev/exit-after";
/// The exit code of a container that exits by itself.
pub const EXIT_CODE: &str = "sim.orchestra.dev/exit-code";
/// How many runs of a container exit; later runs keep running.
pub const EXIT_ATTEMPTS: &str = "sim.orchestra.dev/exit-attempts";
/// `false` makes readiness probes fail.
pub const READY: &str = "sim.orchestra.dev/ready";
/// How long after its start a container becomes ready.
pub const READY_AFTER: &str = "sim.orchestra.dev/ready-after";
/// How long after its start a container's liveness probes start failing.
pub const LIVENESS_FAILS_AFTER: &str = "sim.orchestra.dev/liveness-fails-after";
/// How long after its start a container's startup probe succeeds.
pub const STARTUP_AFTER: &str = "sim.orchestra.dev/startup-after";
/// How long a container takes to exit after SIGTERM.
pub const STOP_LATENCY: &str = "sim.orchestra.dev/stop-latency";
/// CPU a container reports using.
pub const CPU_USAGE: &str = "sim.orchestra.dev/cpu-usage";
/// Memory a container reports using.
pub const MEMORY_USAGE: &str = "sim.orchestra.dev/memory-usage";

/// The behaviour of one simulated container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerBehaviour {
    /// How long `StartContainer` takes.
    pub start_latency: Duration,
    /// How long after its start the container exits by itself; `None`: it runs until stopped.
    pub exit_after: Option<Duration>,
    /// Its exit code when it exits by itself.
    pub exit_code: i32,
    /// Only runs with a restart count below this exit by themselves; `None`: every run.
    pub exit_attempts: Option<u32>,
    /// Whether readiness probes can succeed at all.
    pub ready: bool,
    /// Readiness probes fail until this long after the start.
    pub ready_after: Duration,
    /// Liveness probes fail from this long after the start; `None`: never.
    pub liveness_fails_after: Option<Duration>,
    /// Startup probes fail until this long after the start.
    pub startup_after: Duration,
    /// How long the container takes to exit after SIGTERM.
    pub stop_latency: Duration,
    /// CPU in use, millicores.
    pub cpu_millis: u64,
    /// Memory in use, bytes.
    pub memory_bytes: u64,
}

impl Default for ContainerBehaviour {
    /// A well-behaved long-running container: starts at once, never exits by itself, is
    /// ready and alive, stops at once.
    fn default() -> Self {
        Self {
            start_latency: Duration::ZERO,
            exit_after: None,
            exit_code: 0,
            exit_attempts: None,
            ready: true,
            ready_after: Duration::ZERO,
            liveness_fails_after: None,
            startup_after: Duration::ZERO,
            stop_latency: Duration::ZERO,
            cpu_millis: 0,
            memory_bytes: 0,
        }
    }
}

impl ContainerBehaviour {
    /// The behaviour of container `name` of a pod with these annotations; `init` containers
    /// exit with 0 at once unless told otherwise. Values that do not parse are reported in
    /// the second element and ignored.
    pub fn from_annotations(
        annotations: &BTreeMap<String, String>,
        name: &str,
        init: bool,
    ) -> (Self, Vec<String>) {
        let mut behaviour = Self::default();
        if init {
            behaviour.exit_after = Some(Duration::ZERO);
        }
        let mut problems = Vec::new();
        let lookup = |key: &str| -> Option<&String> {
            annotations
                .get(&format!("{key}.{name}"))
                .or_else(|| annotations.get(key))
        };
        let duration = |key: &str, problems: &mut Vec<String>| -> Option<Duration> {
            let value = lookup(key)?;
            match parse_duration(value) {
                Some(d) => Some(d),
                None => {
                    problems.push(format!("{key}: {value:?} is not a duration"));
                    None
                }
            }
        };
        if let Some(d) = duration(START_LATENCY, &mut problems) {
            behaviour.start_latency = d;
        }
        if let Some(d) = duration(EXIT_AFTER, &mut problems) {
            behaviour.exit_after = Some(d);
        }
        if let Some(d) = duration(READY_AFTER, &mut problems) {
            behaviour.ready_after = d;
        }
        if let Some(d) = duration(LIVENESS_FAILS_AFTER, &mut problems) {
            behaviour.liveness_fails_after = Some(d);
        }
        if let Some(d) = duration(STARTUP_AFTER, &mut problems) {
            behaviour.startup_after = d;
        }
        if let Some(d) = duration(STOP_LATENCY, &mut problems) {
            behaviour.stop_latency = d;
        }
        if let Some(value) = lookup(EXIT_CODE) {
            match value.trim().parse::<i32>() {
                Ok(code) => behaviour.exit_code = code,
                Err(_) => problems.push(format!("{EXIT_CODE}: {value:?} is not an integer")),
            }
        }
        if let Some(value) = lookup(EXIT_ATTEMPTS) {
            match value.trim().parse::<u32>() {
                Ok(n) => behaviour.exit_attempts = Some(n),
                Err(_) => problems.push(format!("{EXIT_ATTEMPTS}: {value:?} is not a count")),
            }
        }
        if let Some(value) = lookup(READY) {
            match value.trim() {
                "true" => behaviour.ready = true,
                "false" => behaviour.ready = false,
                _ => problems.push(format!("{READY}: {value:?} is not true or false")),
            }
        }
        if let Some(value) = lookup(CPU_USAGE) {
            match value.parse::<Quantity>() {
                Ok(q) => behaviour.cpu_millis = u64::try_from(q.milli_value()).unwrap_or(0),
                Err(_) => problems.push(format!("{CPU_USAGE}: {value:?} is not a quantity")),
            }
        }
        if let Some(value) = lookup(MEMORY_USAGE) {
            match value.parse::<Quantity>() {
                Ok(q) => behaviour.memory_bytes = u64::try_from(q.value()).unwrap_or(0),
                Err(_) => problems.push(format!("{MEMORY_USAGE}: {value:?} is not a quantity")),
            }
        }
        (behaviour, problems)
    }

    /// When and how the run with restart count `attempt` exits by itself: after how long,
    /// with which code; `None` if it keeps running.
    pub fn exit_for_attempt(&self, attempt: u32) -> Option<(Duration, i32)> {
        let exits = self.exit_attempts.is_none_or(|n| attempt < n);
        self.exit_after
            .filter(|_| exits)
            .map(|after| (after, self.exit_code))
    }

    /// Whether liveness probes fail once the container has run for `running`.
    pub fn liveness_failing(&self, running: Duration) -> bool {
        self.liveness_fails_after
            .is_some_and(|after| running >= after)
    }
}

/// Parses a Go-style duration (`300ms`, `1.5s`, `2m30s`, `1h`); a bare `0` is zero.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    if text.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m30s"), Some(Duration::from_secs(150)));
        assert_eq!(parse_duration("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in ["", "5", "s", "1x", "-1s", "1s2"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn per_container_keys_override_pod_wide_ones() {
        let a = annotations(&[
            (EXIT_CODE, "3"),
            ("sim.orchestra.dev/exit-code.sidecar", "0"),
            (EXIT_AFTER, "2s"),
            (READY, "false"),
            (MEMORY_USAGE, "64Mi"),
            (CPU_USAGE, "250m"),
        ]);
        let (app, problems) = ContainerBehaviour::from_annotations(&a, "app", false);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(app.exit_code, 3);
        assert_eq!(app.exit_after, Some(Duration::from_secs(2)));
        assert!(!app.ready);
        assert_eq!(app.memory_bytes, 64 << 20);
        assert_eq!(app.cpu_millis, 250);
        let (sidecar, _) = ContainerBehaviour::from_annotations(&a, "sidecar", false);
        assert_eq!(sidecar.exit_code, 0);
    }

    #[test]
    fn init_containers_complete_at_once_by_default_and_app_containers_run_forever() {
        let none = BTreeMap::new();
        let (init, _) = ContainerBehaviour::from_annotations(&none, "setup", true);
        assert_eq!(init.exit_for_attempt(0), Some((Duration::ZERO, 0)));
        let (app, _) = ContainerBehaviour::from_annotations(&none, "app", false);
        assert_eq!(app.exit_for_attempt(0), None);
    }

    #[test]
    fn exit_attempts_limit_which_runs_exit() {
        let a = annotations(&[(EXIT_AFTER, "1s"), (EXIT_CODE, "1"), (EXIT_ATTEMPTS, "2")]);
        let (b, _) = ContainerBehaviour::from_annotations(&a, "app", false);
        assert_eq!(b.exit_for_attempt(0), Some((Duration::from_secs(1), 1)));
        assert_eq!(b.exit_for_attempt(1), Some((Duration::from_secs(1), 1)));
        assert_eq!(b.exit_for_attempt(2), None);
    }

    #[test]
    fn bad_values_are_reported_and_ignored() {
        let a = annotations(&[
            (EXIT_CODE, "lots"),
            (START_LATENCY, "soon"),
            (READY, "maybe"),
        ]);
        let (b, problems) = ContainerBehaviour::from_annotations(&a, "app", false);
        assert_eq!(b, ContainerBehaviour::default());
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    proptest! {
        #[test]
        fn formatted_millisecond_durations_parse_back(ms in 0u64..10_000_000) {
            let text = format!("{}s{}ms", ms / 1000, ms % 1000);
            prop_assert_eq!(parse_duration(&text), Some(Duration::from_millis(ms)));
        }
    }
}
