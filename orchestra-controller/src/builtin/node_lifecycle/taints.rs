//! Taints and tolerations as the node controllers use them: the taints Kubernetes puts on nodes
//! for their conditions, whether a toleration tolerates a taint, and swapping taints on a node
//! through the API with optimistic concurrency.

use std::sync::Arc;

use orchestra_api::k8s_openapi::api::core::v1::{Node, Taint, Toleration};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use orchestra_api::{Api, Client, PostParams, Status, StatusReason};

use super::clock::WallClock;

/// The taint of a node whose `Ready` condition is `False`.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint of a node whose `Ready` condition is `Unknown` (its kubelet stopped reporting).
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The taint of a cordoned node (`spec.unschedulable`).
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// The taint of a node under memory pressure.
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// The taint of a node under disk pressure.
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// The taint of a node under process-ID pressure.
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
/// The taint of a node whose network is not set up.
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// The `NoExecute` effect: pods that do not tolerate the taint are evicted.
pub const NO_EXECUTE: &str = "NoExecute";
/// The `NoSchedule` effect: new pods that do not tolerate the taint are not scheduled.
pub const NO_SCHEDULE: &str = "NoSchedule";

/// How many times a taint update is retried after a conflict.
const UPDATE_RETRIES: usize = 5;

/// A taint with this key and effect, no value, no time.
pub fn taint(key: &str, effect: &str) -> Taint {
    Taint {
        key: key.to_owned(),
        effect: effect.to_owned(),
        value: None,
        time_added: None,
    }
}

/// Whether two taints are the same taint: same key and effect (Kubernetes' `MatchTaint`).
pub fn same_taint(a: &Taint, b: &Taint) -> bool {
    a.key == b.key && a.effect == b.effect
}

/// Whether the node has a taint with this taint's key and effect.
pub fn has_taint(node: &Node, wanted: &Taint) -> bool {
    node_taints(node).iter().any(|t| same_taint(t, wanted))
}

/// The node's taints.
pub fn node_taints(node: &Node) -> &[Taint] {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default()
}

/// The node's `NoExecute` taints.
pub fn no_execute_taints(node: &Node) -> Vec<&Taint> {
    node_taints(node)
        .iter()
        .filter(|t| t.effect == NO_EXECUTE)
        .collect()
}

/// Whether `toleration` tolerates `taint`: the effect matches (or the toleration names
/// none), the key matches (or it names none, which only `Exists` allows), and for `Equal`
/// (the default operator) the values are equal.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    if let Some(key) = toleration.key.as_deref().filter(|k| !k.is_empty())
        && key != taint.key
    {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or_default() {
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or_default()
                == taint.value.as_deref().unwrap_or_default()
        }
        "Exists" => true,
        _ => false,
    }
}

/// For each taint, the first toleration that tolerates it; `None` if some taint is not
/// tolerated (Kubernetes' `GetMatchingTolerations`).
pub fn matching_tolerations<'a>(
    taints: &[&Taint],
    tolerations: &'a [Toleration],
) -> Option<Vec<&'a Toleration>> {
    taints
        .iter()
        .map(|taint| tolerations.iter().find(|t| tolerates(t, taint)))
        .collect()
}

/// The node's taints with `add` put in (a taint already there with the same value is kept as
/// it is, with its `timeAdded`; otherwise it gets `now`) and `remove` taken out. `None` if
/// nothing changes.
fn swapped(node: &Node, add: &[Taint], remove: &[Taint], now: &Time) -> Option<Vec<Taint>> {
    let current = node_taints(node);
    let mut taints: Vec<Taint> = current
        .iter()
        .filter(|t| !remove.iter().any(|r| same_taint(t, r)))
        .cloned()
        .collect();
    for wanted in add {
        match taints.iter_mut().find(|t| same_taint(t, wanted)) {
            Some(existing) if existing.value == wanted.value => {}
            Some(existing) => {
                *existing = Taint {
                    time_added: Some(now.clone()),
                    ..wanted.clone()
                }
            }
            None => taints.push(Taint {
                time_added: Some(now.clone()),
                ..wanted.clone()
            }),
        }
    }
    (taints != current).then_some(taints)
}

/// Adds `add` to and removes `remove` from the node's taints, starting from `node` as cached
/// and re-reading it after a conflict (Kubernetes' `SwapNodeControllerTaint`). Whether the
/// node was written; a node that is gone is not an error.
pub async fn swap_taints(
    client: &Arc<dyn Client>,
    clock: &WallClock,
    node: &Node,
    add: &[Taint],
    remove: &[Taint],
) -> Result<bool, Status> {
    let api = Api::<Node>::all(Arc::clone(client));
    let name = node.metadata.name.clone().unwrap_or_default();
    let mut current: Node = node.clone();
    let mut attempt = 0;
    loop {
        let Some(taints) = swapped(&current, add, remove, &Time(clock.now())) else {
            return Ok(false);
        };
        let mut updated = current.clone();
        updated.spec.get_or_insert_with(Default::default).taints =
            (!taints.is_empty()).then_some(taints);
        match api.replace(&name, &PostParams::default(), &updated).await {
            Ok(_) => return Ok(true),
            Err(status) if status.is(&StatusReason::NotFound) => return Ok(false),
            Err(status) if status.is(&StatusReason::Conflict) && attempt < UPDATE_RETRIES => {
                attempt += 1;
                match api.get_opt(&name).await? {
                    Some(fresh) => current = (*fresh).clone(),
                    None => return Ok(false),
                }
            }
            Err(status) => return Err(status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toleration(
        key: Option<&str>,
        operator: &str,
        value: Option<&str>,
        effect: Option<&str>,
    ) -> Toleration {
        Toleration {
            key: key.map(str::to_owned),
            operator: Some(operator.to_owned()),
            value: value.map(str::to_owned),
            effect: effect.map(str::to_owned),
            toleration_seconds: None,
        }
    }

    #[test]
    fn tolerations_match_as_in_kubernetes() {
        let unreachable = taint(TAINT_UNREACHABLE, NO_EXECUTE);
        // Exists with the key, any effect.
        assert!(tolerates(
            &toleration(Some(TAINT_UNREACHABLE), "Exists", None, None),
            &unreachable
        ));
        // Exists without a key tolerates everything.
        assert!(tolerates(
            &toleration(None, "Exists", None, None),
            &unreachable
        ));
        // Another effect does not.
        assert!(!tolerates(
            &toleration(Some(TAINT_UNREACHABLE), "Exists", None, Some(NO_SCHEDULE)),
            &unreachable
        ));
        // Equal compares values (an empty value equals none).
        assert!(tolerates(
            &toleration(Some(TAINT_UNREACHABLE), "Equal", Some(""), None),
            &unreachable
        ));
        let valued = Taint {
            value: Some("gpu".into()),
            ..taint("dedicated", NO_EXECUTE)
        };
        assert!(tolerates(
            &toleration(Some("dedicated"), "Equal", Some("gpu"), None),
            &valued
        ));
        assert!(!tolerates(
            &toleration(Some("dedicated"), "Equal", Some("cpu"), None),
            &valued
        ));
        assert!(!tolerates(
            &toleration(Some("dedicated"), "Lt", Some("gpu"), None),
            &valued
        ));
    }

    #[test]
    fn every_taint_needs_a_toleration() {
        let a = taint(TAINT_UNREACHABLE, NO_EXECUTE);
        let b = taint(TAINT_NOT_READY, NO_EXECUTE);
        let only_a = [toleration(Some(TAINT_UNREACHABLE), "Exists", None, None)];
        assert!(matching_tolerations(&[&a], &only_a).is_some());
        assert!(matching_tolerations(&[&a, &b], &only_a).is_none());
        assert_eq!(matching_tolerations(&[], &only_a).map(|t| t.len()), Some(0));
    }

    #[test]
    fn swapping_keeps_an_existing_taint_and_its_time() {
        let mut node = Node::default();
        let old = Time(jiff::Timestamp::from_second(100).unwrap());
        node.spec = Some(orchestra_api::k8s_openapi::api::core::v1::NodeSpec {
            taints: Some(vec![Taint {
                time_added: Some(old.clone()),
                ..taint(TAINT_UNREACHABLE, NO_EXECUTE)
            }]),
            ..Default::default()
        });
        let now = Time(jiff::Timestamp::from_second(200).unwrap());
        let unreachable = taint(TAINT_UNREACHABLE, NO_EXECUTE);
        let not_ready = taint(TAINT_NOT_READY, NO_EXECUTE);
        assert!(swapped(&node, std::slice::from_ref(&unreachable), &[], &now).is_none());
        let taints = swapped(&node, &[not_ready], &[unreachable], &now).unwrap();
        assert_eq!(taints.len(), 1);
        assert_eq!(taints[0].key, TAINT_NOT_READY);
        assert_eq!(taints[0].time_added, Some(now));
    }
}
