//! Taints from node conditions (Kubernetes' `TaintNodesByCondition`): every change of a node
//! brings its `NoSchedule` condition taints in line with its conditions, so the scheduler
//! keeps new pods off nodes that are not ready, unreachable, under pressure, without network,
//! or cordoned.
//!
//! | condition | status | taint (`NoSchedule`) |
//! |---|---|---|
//! | `Ready` | `False` | `node.kubernetes.io/not-ready` |
//! | `Ready` | `Unknown` | `node.kubernetes.io/unreachable` |
//! | `MemoryPressure` | `True` | `node.kubernetes.io/memory-pressure` |
//! | `DiskPressure` | `True` | `node.kubernetes.io/disk-pressure` |
//! | `PIDPressure` | `True` | `node.kubernetes.io/pid-pressure` |
//! | `NetworkUnavailable` | `True` | `node.kubernetes.io/network-unavailable` |
//! | `spec.unschedulable` | `true` | `node.kubernetes.io/unschedulable` |

use std::sync::Arc;

use orchestra_api::k8s_openapi::api::core::v1::{Node, Taint};
use orchestra_api::{Client, Status};

use super::clock::WallClock;
use super::taints::{
    NO_SCHEDULE, TAINT_DISK_PRESSURE, TAINT_MEMORY_PRESSURE, TAINT_NETWORK_UNAVAILABLE,
    TAINT_NOT_READY, TAINT_PID_PRESSURE, TAINT_UNREACHABLE, TAINT_UNSCHEDULABLE, node_taints,
    same_taint, swap_taints, taint,
};
use crate::controller::Action;

/// (condition type, status, taint key).
const CONDITION_TAINTS: [(&str, &str, &str); 6] = [
    ("Ready", "False", TAINT_NOT_READY),
    ("Ready", "Unknown", TAINT_UNREACHABLE),
    ("MemoryPressure", "True", TAINT_MEMORY_PRESSURE),
    ("DiskPressure", "True", TAINT_DISK_PRESSURE),
    ("NetworkUnavailable", "True", TAINT_NETWORK_UNAVAILABLE),
    ("PIDPressure", "True", TAINT_PID_PRESSURE),
];

/// What the reconciles share.
pub(super) struct NoScheduleContext {
    pub(super) client: Arc<dyn Client>,
    pub(super) clock: WallClock,
}

/// The `NoSchedule` taints the node's conditions (and `spec.unschedulable`) call for.
pub fn wanted_taints(node: &Node) -> Vec<Taint> {
    let conditions = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let mut wanted: Vec<Taint> = conditions
        .iter()
        .filter_map(|c| {
            CONDITION_TAINTS
                .iter()
                .find(|(kind, status, _)| *kind == c.type_ && *status == c.status)
                .map(|(_, _, key)| taint(key, NO_SCHEDULE))
        })
        .collect();
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        wanted.push(taint(TAINT_UNSCHEDULABLE, NO_SCHEDULE));
    }
    wanted
}

/// Whether the controller manages this taint: a `NoSchedule` condition or unschedulable
/// taint.
fn is_managed(taint: &Taint) -> bool {
    taint.effect == NO_SCHEDULE
        && (taint.key == TAINT_UNSCHEDULABLE
            || CONDITION_TAINTS.iter().any(|(_, _, key)| *key == taint.key))
}

/// The taints to add and to remove so the node's managed taints are the wanted ones.
pub fn taint_changes(node: &Node) -> (Vec<Taint>, Vec<Taint>) {
    let wanted = wanted_taints(node);
    let present: Vec<&Taint> = node_taints(node).iter().filter(|t| is_managed(t)).collect();
    let add = wanted
        .iter()
        .filter(|w| !present.iter().any(|p| same_taint(p, w)))
        .cloned()
        .collect();
    let remove = present
        .iter()
        .filter(|p| !wanted.iter().any(|w| same_taint(p, w)))
        .map(|p| (*p).clone())
        .collect();
    (add, remove)
}

/// Brings the node's condition taints in line with its conditions.
pub(super) async fn reconcile(
    node: Arc<Node>,
    ctx: Arc<NoScheduleContext>,
) -> Result<Action, Status> {
    let (add, remove) = taint_changes(&node);
    if add.is_empty() && remove.is_empty() {
        return Ok(Action::await_change());
    }
    swap_taints(&ctx.client, &ctx.clock, &node, &add, &remove).await?;
    tracing::debug!(
        node = node.metadata.name.as_deref().unwrap_or_default(),
        added = ?add.iter().map(|t| &t.key).collect::<Vec<_>>(),
        removed = ?remove.iter().map(|t| &t.key).collect::<Vec<_>>(),
        "updated the node's condition taints"
    );
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use orchestra_api::k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeStatus};

    use super::*;

    fn node(conditions: &[(&str, &str)], taints: &[(&str, &str)], unschedulable: bool) -> Node {
        Node {
            spec: Some(NodeSpec {
                unschedulable: unschedulable.then_some(true),
                taints: Some(taints.iter().map(|(k, e)| taint(k, e)).collect()),
                ..NodeSpec::default()
            }),
            status: Some(NodeStatus {
                conditions: Some(
                    conditions
                        .iter()
                        .map(|(t, s)| NodeCondition {
                            type_: (*t).into(),
                            status: (*s).into(),
                            ..NodeCondition::default()
                        })
                        .collect(),
                ),
                ..NodeStatus::default()
            }),
            ..Node::default()
        }
    }

    fn keys(taints: &[Taint]) -> Vec<&str> {
        taints.iter().map(|t| t.key.as_str()).collect()
    }

    #[test]
    fn conditions_map_to_no_schedule_taints() {
        let unknown = node(&[("Ready", "Unknown"), ("DiskPressure", "True")], &[], true);
        let (add, remove) = taint_changes(&unknown);
        assert_eq!(
            keys(&add),
            [TAINT_UNREACHABLE, TAINT_DISK_PRESSURE, TAINT_UNSCHEDULABLE]
        );
        assert!(add.iter().all(|t| t.effect == NO_SCHEDULE));
        assert!(remove.is_empty());
    }

    #[test]
    fn a_ready_node_loses_its_condition_taints_but_keeps_the_others() {
        let ready = node(
            &[("Ready", "True"), ("MemoryPressure", "False")],
            &[
                (TAINT_NOT_READY, NO_SCHEDULE),
                (TAINT_UNREACHABLE, "NoExecute"),
                ("dedicated", NO_SCHEDULE),
            ],
            false,
        );
        let (add, remove) = taint_changes(&ready);
        assert!(add.is_empty());
        assert_eq!(
            keys(&remove),
            [TAINT_NOT_READY],
            "NoExecute and user taints are not touched here"
        );
    }
}
