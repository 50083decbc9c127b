//! Node health as the node lifecycle controller judges it (Kubernetes' `tryUpdateNodeHealth`).
//!
//! The controller never trusts the timestamps a kubelet writes; it remembers, per node, when
//! *it* last saw a sign of life — a new `lastHeartbeatTime` on the `Ready` condition, or a
//! newer `renewTime` on the node's Lease in `kube-node-lease` — on its own monotonic clock.
//! When no sign of life came for the grace period (`node_monitor_grace_period`, or
//! `node_startup_grace_period` for a node that never reported), the node's `Ready`,
//! `MemoryPressure`, `DiskPressure` and `PIDPressure` conditions become `Unknown` with reason
//! `NodeStatusUnknown` ("Kubelet stopped posting node status.") — or `NodeStatusNeverUpdated`
//! for a condition the kubelet never wrote.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use orchestra_api::k8s_openapi::api::coordination::v1::Lease;
use orchestra_api::k8s_openapi::api::core::v1::{Node, NodeCondition};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::time::Instant;

/// The node condition types that become `Unknown` when a node stops reporting.
/// (`NetworkUnavailable` is managed by the control plane and left alone.)
pub const CONDITIONS_SET_UNKNOWN: [&str; 4] =
    ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// The node's condition of `condition_type`, if it has one.
pub fn node_condition<'a>(node: &'a Node, condition_type: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == condition_type)
}

/// What the controller last saw of a node.
#[derive(Debug, Clone)]
pub struct NodeHealth {
    /// The node's `Ready` condition as last seen.
    pub ready: Option<NodeCondition>,
    /// When the controller last saw a sign of life.
    pub probed_at: Instant,
    /// When the controller saw the `Ready` condition change last.
    pub ready_transition_at: Instant,
    /// The `renewTime` of the node's Lease, as last seen.
    pub lease_renewed: Option<Timestamp>,
}

/// The outcome of looking at one node.
#[derive(Debug, Clone)]
pub struct Observation {
    /// The node's `Ready` condition before this look (a made-up `Unknown` one if it has none).
    pub observed_ready: NodeCondition,
    /// The `Ready` condition after it (what it becomes if `update` is written).
    pub current_ready: Option<NodeCondition>,
    /// The node with its conditions set to `Unknown`, if its status must be written.
    pub update: Option<Node>,
}

/// The grace periods.
#[derive(Debug, Clone, Copy)]
pub struct GracePeriods {
    /// For a node that reported at least once.
    pub monitor: Duration,
    /// For a node that never reported.
    pub startup: Duration,
}

/// What the controller knows of each node's health, by node name.
#[derive(Debug, Default)]
pub struct HealthMap {
    nodes: HashMap<String, NodeHealth>,
}

impl HealthMap {
    /// What is known of the node.
    pub fn get(&self, node: &str) -> Option<&NodeHealth> {
        self.nodes.get(node)
    }

    /// Forgets every node `keep` answers false for (deleted nodes).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.nodes.retain(|name, _| keep(name));
    }

    /// Counts every node as having just shown a sign of life (when the controller leaves its
    /// "every node is down" mode, it gives them all a fresh grace period).
    pub fn refresh_all(&mut self, now: Instant) {
        for health in self.nodes.values_mut() {
            health.probed_at = now;
            health.ready_transition_at = now;
        }
    }

    /// Looks at `node` (with its Lease, if any) at `now` (`wall` on the wall clock): records
    /// signs of life, and, if none came within the grace period, answers the node with its
    /// conditions set to `Unknown`.
    pub fn observe(
        &mut self,
        node: &Node,
        lease: Option<&Lease>,
        grace: GracePeriods,
        now: Instant,
        wall: Timestamp,
    ) -> Observation {
        let name = node.metadata.name.clone().unwrap_or_default();
        let created = node
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(wall, |t| t.0.min(wall));
        let current = node_condition(node, "Ready").cloned();
        let mut saved = self.nodes.remove(&name);

        let (grace_period, observed_ready) = match &current {
            Some(ready) => (grace.monitor, ready.clone()),
            None => {
                // Never reported: judged from its creation, with the startup grace period.
                let since_creation = wall.duration_since(created).unsigned_abs();
                let created_at = now.checked_sub(since_creation).unwrap_or(now);
                match saved.as_mut() {
                    Some(health) => health.ready = None,
                    None => {
                        saved = Some(NodeHealth {
                            ready: None,
                            probed_at: created_at,
                            ready_transition_at: created_at,
                            lease_renewed: None,
                        })
                    }
                }
                let fake = NodeCondition {
                    type_: "Ready".to_owned(),
                    status: "Unknown".to_owned(),
                    last_heartbeat_time: Some(Time(created)),
                    last_transition_time: Some(Time(created)),
                    ..NodeCondition::default()
                };
                (grace.startup, fake)
            }
        };

        let fresh = |transition_at: Instant, lease_renewed| NodeHealth {
            ready: current.clone(),
            probed_at: now,
            ready_transition_at: transition_at,
            lease_renewed,
        };
        let mut health = match saved {
            None => fresh(now, None),
            Some(health) => match (&health.ready, &current) {
                (None, Some(_)) => fresh(now, health.lease_renewed),
                (Some(seen), Some(ready))
                    if seen.last_heartbeat_time != ready.last_heartbeat_time =>
                {
                    let transition_at = if seen.last_transition_time != ready.last_transition_time {
                        now
                    } else {
                        health.ready_transition_at
                    };
                    fresh(transition_at, health.lease_renewed)
                }
                _ => health,
            },
        };

        // A renewed Lease is a sign of life too.
        let renewed = lease
            .and_then(|l| l.spec.as_ref())
            .and_then(|s| s.renew_time.as_ref())
            .map(|t| t.0);
        if let Some(renewed) = renewed
            && health.lease_renewed.is_none_or(|seen| seen < renewed)
        {
            health.lease_renewed = Some(renewed);
            health.probed_at = now;
        }

        let mut update = None;
        let mut current_ready = current;
        if now > health.probed_at + grace_period {
            let mut unknown = node.clone();
            let conditions = unknown
                .status
                .get_or_insert_with(Default::default)
                .conditions
                .get_or_insert_with(Vec::new);
            for condition_type in CONDITIONS_SET_UNKNOWN {
                match conditions.iter_mut().find(|c| c.type_ == condition_type) {
                    None => conditions.push(NodeCondition {
                        type_: condition_type.to_owned(),
                        status: "Unknown".to_owned(),
                        reason: Some("NodeStatusNeverUpdated".to_owned()),
                        message: Some("Kubelet never posted node status.".to_owned()),
                        last_heartbeat_time: Some(Time(created)),
                        last_transition_time: Some(Time(wall)),
                    }),
                    Some(condition) if condition.status != "Unknown" => {
                        condition.status = "Unknown".to_owned();
                        condition.reason = Some("NodeStatusUnknown".to_owned());
                        condition.message = Some("Kubelet stopped posting node status.".to_owned());
                        condition.last_transition_time = Some(Time(wall));
                    }
                    Some(_) => {}
                }
            }
            let ready = node_condition(&unknown, "Ready").cloned();
            if ready.as_ref() != Some(&observed_ready) {
                current_ready = ready;
                update = Some(unknown);
            }
        }
        self.nodes.insert(name, health);
        Observation {
            observed_ready,
            current_ready,
            update,
        }
    }

    /// Records that the node's status was written as `written` at `now`.
    pub fn written(&mut self, written: &Node, now: Instant) {
        let name = written.metadata.name.clone().unwrap_or_default();
        if let Some(health) = self.nodes.get_mut(&name) {
            health.ready = node_condition(written, "Ready").cloned();
            health.ready_transition_at = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use orchestra_api::k8s_openapi::api::coordination::v1::LeaseSpec;
    use orchestra_api::k8s_openapi::api::core::v1::NodeStatus;
    use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    use super::*;

    const GRACE: GracePeriods = GracePeriods {
        monitor: Duration::from_secs(40),
        startup: Duration::from_secs(60),
    };

    fn ready_node(heartbeat: i64) -> Node {
        let mut node = Node::default();
        node.metadata.name = Some("node-1".into());
        node.metadata.creation_timestamp = Some(Time(Timestamp::from_second(0).unwrap()));
        node.status = Some(NodeStatus {
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_heartbeat_time: Some(Time(Timestamp::from_second(heartbeat).unwrap())),
                last_transition_time: Some(Time(Timestamp::from_second(1).unwrap())),
                ..NodeCondition::default()
            }]),
            ..NodeStatus::default()
        });
        node
    }

    fn lease(renewed: i64) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                renew_time: Some(MicroTime(Timestamp::from_second(renewed).unwrap())),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    fn wall(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    #[test]
    fn a_silent_node_becomes_unknown_after_the_grace_period() {
        let mut map = HealthMap::default();
        let start = Instant::now();
        let node = ready_node(10);
        let seen = map.observe(&node, None, GRACE, start, wall(100));
        assert!(seen.update.is_none());
        let still = map.observe(
            &node,
            None,
            GRACE,
            start + Duration::from_secs(40),
            wall(140),
        );
        assert!(
            still.update.is_none(),
            "exactly the grace period is not past it"
        );
        let late = map.observe(
            &node,
            None,
            GRACE,
            start + Duration::from_secs(41),
            wall(141),
        );
        let update = late.update.expect("the conditions are set to Unknown");
        assert_eq!(late.observed_ready.status, "True");
        let ready = node_condition(&update, "Ready").unwrap();
        assert_eq!(ready.status, "Unknown");
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(
            ready.message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        assert_eq!(ready.last_transition_time, Some(Time(wall(141))));
        let memory = node_condition(&update, "MemoryPressure").unwrap();
        assert_eq!(
            (memory.status.as_str(), memory.reason.as_deref()),
            ("Unknown", Some("NodeStatusNeverUpdated"))
        );
    }

    #[test]
    fn heartbeats_and_lease_renewals_are_signs_of_life() {
        let mut map = HealthMap::default();
        let start = Instant::now();
        map.observe(&ready_node(10), Some(&lease(10)), GRACE, start, wall(100));
        let at = |s| start + Duration::from_secs(s);
        // A new heartbeat at 30 s.
        assert!(
            map.observe(&ready_node(20), Some(&lease(10)), GRACE, at(30), wall(130))
                .update
                .is_none()
        );
        // A renewed Lease at 60 s, the status unchanged.
        assert!(
            map.observe(&ready_node(20), Some(&lease(50)), GRACE, at(60), wall(160))
                .update
                .is_none()
        );
        assert!(
            map.observe(&ready_node(20), Some(&lease(50)), GRACE, at(100), wall(200))
                .update
                .is_none()
        );
        assert!(
            map.observe(&ready_node(20), Some(&lease(50)), GRACE, at(101), wall(201))
                .update
                .is_some()
        );
    }

    #[test]
    fn a_node_that_never_reported_gets_the_startup_grace_period() {
        let mut map = HealthMap::default();
        let start = Instant::now();
        let mut node = Node::default();
        node.metadata.name = Some("new".into());
        node.metadata.creation_timestamp = Some(Time(wall(100)));
        let at = |s| start + Duration::from_secs(s);
        let first = map.observe(&node, None, GRACE, at(0), wall(100));
        assert_eq!(first.observed_ready.status, "Unknown");
        assert!(
            map.observe(&node, None, GRACE, at(60), wall(160))
                .update
                .is_none()
        );
        let late = map.observe(&node, None, GRACE, at(61), wall(161));
        let update = late
            .update
            .expect("written once past the startup grace period");
        let ready = node_condition(&update, "Ready").unwrap();
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusNeverUpdated"));
    }

    #[test]
    fn a_node_already_unknown_is_not_written_again() {
        let mut map = HealthMap::default();
        let start = Instant::now();
        let node = ready_node(10);
        map.observe(&node, None, GRACE, start, wall(100));
        let late = map.observe(
            &node,
            None,
            GRACE,
            start + Duration::from_secs(50),
            wall(150),
        );
        let written = late.update.unwrap();
        map.written(&written, start + Duration::from_secs(50));
        let again = map.observe(
            &written,
            None,
            GRACE,
            start + Duration::from_secs(55),
            wall(155),
        );
        assert!(again.update.is_none());
        assert_eq!(again.observed_ready.status, "Unknown");
    }
}
