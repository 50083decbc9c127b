//! Which pods a ReplicaSet deletes first when it has too many: the least valuable, in
//! Kubernetes' order (`controller.ActivePodsWithRanks`, with pod deletion cost and logarithmic
//! scale-down as in v1.33). Comparing two pods, the first rule that tells them apart decides:
//!
//! 1. a pod not yet bound to a node goes before a bound one;
//! 2. `Pending` before `Unknown` before `Running`;
//! 3. not ready before ready;
//! 4. lower `controller.kubernetes.io/pod-deletion-cost` first;
//! 5. a pod sharing its node with more pods of the same family (the ReplicaSet and its
//!    siblings under one Deployment) first;
//! 6. of two ready pods, the one ready for less time first (a ready pod without a transition
//!    time first of all);
//! 7. more container restarts first;
//! 8. newer first (a pod without a creation time first of all);
//! 9. otherwise by uid, so equivalent pods fall in a stable, pseudo-random order.
//!
//! Times in rules 6 and 8 compare on a logarithmic scale of their age (the whole power of two
//! of nanoseconds), as Kubernetes' `LogarithmicScaleDown`: pods started within the same
//! doubling of age count as equally old and fall back to the later rules, so a scale-down does
//! not always pick the very newest pods.
//!
//! Every rule is a component of one sort key ([`DeletionKey`]), which makes the order a
//! total order on keys (a strict weak order on pods) whatever the inputs. Kubernetes'
//! comparator jumps from rule 6 straight to the uid when two ready times differ but share a
//! bucket, which can make it intransitive; here such pods go on to rules 7 and 8.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use orchestra_api::k8s_openapi::api::core::v1::Pod;
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::builtin::pod_state;

/// The annotation that sets how costly a pod is to delete relative to its siblings
/// (Kubernetes' `PodDeletionCost`).
pub const POD_DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

/// A pod's place in the deletion order: smaller keys are deleted first. See the
/// [module documentation](self) for the rules, which are the fields in order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeletionKey {
    assigned: bool,
    phase: u8,
    ready: bool,
    deletion_cost: i32,
    colocated: Reverse<usize>,
    ready_age: Option<i64>,
    restarts: Reverse<i32>,
    age: Option<i64>,
    uid: String,
}

/// `Pending` 0, `Unknown` 1, `Running` 2; any other phase (none yet) counts as `Pending`.
fn phase_ordinal(pod: &Pod) -> u8 {
    match pod_state::phase(pod) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

/// The pod's deletion cost; 0 when absent or not an int32 (as Kubernetes reads it).
pub fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(POD_DELETION_COST_ANNOTATION))
        .and_then(|cost| cost.parse().ok())
        .unwrap_or(0)
}

/// The whole power of two of nanoseconds from `time` to `now`, -1 when `time` is not in the
/// past; `None` without a time (which sorts first).
fn log_age(time: Option<&Time>, now: Timestamp) -> Option<i64> {
    let time = time?.0;
    let nanos = now.as_nanosecond() - time.as_nanosecond();
    Some(if nanos > 0 {
        // `ilog2` is the floor of the base-2 logarithm, Kubernetes' int64(math.Log2(d)).
        i64::from(nanos.ilog2())
    } else {
        -1
    })
}

fn max_restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
}

/// The deletion key of `pod`, which shares its node with `colocated` active pods of its
/// family, ranked at `now`.
pub fn deletion_key(pod: &Pod, colocated: usize, now: Timestamp) -> DeletionKey {
    let ready = pod_state::is_ready(pod);
    let ready_age = if ready {
        let since =
            pod_state::condition(pod, "Ready").and_then(|c| c.last_transition_time.as_ref());
        log_age(since, now)
    } else {
        None
    };
    DeletionKey {
        assigned: pod_state::is_scheduled(pod),
        phase: phase_ordinal(pod),
        ready,
        deletion_cost: deletion_cost(pod),
        colocated: Reverse(colocated),
        ready_age,
        restarts: Reverse(max_restarts(pod)),
        age: log_age(pod.metadata.creation_timestamp.as_ref(), now),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
    }
}

/// Orders `candidates` for deletion, least valuable first. `related` are the active and
/// inactive pods of the family (the candidates included) whose node sharing counts for rule
/// 5; only active ones are counted.
pub fn rank_for_deletion(
    candidates: Vec<Arc<Pod>>,
    related: &[Arc<Pod>],
    now: Timestamp,
) -> Vec<Arc<Pod>> {
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for pod in related.iter().filter(|pod| pod_state::is_active(pod)) {
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or_default();
        *on_node.entry(node).or_default() += 1;
    }
    let mut keyed: Vec<(DeletionKey, Arc<Pod>)> = candidates
        .into_iter()
        .map(|pod| {
            let node = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .unwrap_or_default();
            let colocated = on_node.get(node).copied().unwrap_or(0);
            (deletion_key(&pod, colocated, now), pod)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.into_iter().map(|(_, pod)| pod).collect()
}

/// The `count` pods of `candidates` to delete first.
pub fn pods_to_delete(
    candidates: Vec<Arc<Pod>>,
    related: &[Arc<Pod>],
    count: usize,
    now: Timestamp,
) -> Vec<Arc<Pod>> {
    if count >= candidates.len() {
        return candidates;
    }
    let mut ranked = rank_for_deletion(candidates, related, now);
    ranked.truncate(count);
    ranked
}

#[cfg(test)]
mod tests {
    use orchestra_api::k8s_openapi::api::core::v1::{
        ContainerStatus, PodCondition, PodSpec, PodStatus,
    };
    use proptest::prelude::*;

    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[derive(Debug, Clone)]
    struct Shape {
        uid: String,
        node: Option<&'static str>,
        phase: Option<&'static str>,
        ready_since: Option<Option<i64>>,
        cost: Option<String>,
        restarts: i32,
        created: Option<i64>,
    }

    impl Default for Shape {
        fn default() -> Self {
            Self {
                uid: "u".into(),
                node: Some("node-1"),
                phase: Some("Running"),
                ready_since: Some(Some(NOW - 1_000)),
                cost: None,
                restarts: 0,
                created: Some(NOW - 2_000),
            }
        }
    }

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(second).unwrap())
    }

    fn pod(shape: &Shape) -> Arc<Pod> {
        let mut pod = Pod::default();
        pod.metadata.name = Some(format!("pod-{}", shape.uid));
        pod.metadata.uid = Some(shape.uid.clone());
        pod.metadata.creation_timestamp = shape.created.map(at);
        if let Some(cost) = &shape.cost {
            pod.metadata.annotations =
                Some([(POD_DELETION_COST_ANNOTATION.to_owned(), cost.clone())].into());
        }
        pod.spec = Some(PodSpec {
            node_name: shape.node.map(str::to_owned),
            ..Default::default()
        });
        let conditions = shape.ready_since.map(|since| {
            vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_transition_time: since.map(at),
                ..Default::default()
            }]
        });
        pod.status = Some(PodStatus {
            phase: shape.phase.map(str::to_owned),
            conditions,
            container_statuses: Some(vec![ContainerStatus {
                name: "c".into(),
                restart_count: shape.restarts,
                ..Default::default()
            }]),
            ..Default::default()
        });
        Arc::new(pod)
    }

    fn first_deleted(a: Shape, b: Shape) -> String {
        let pods = vec![pod(&a), pod(&b)];
        let ranked = rank_for_deletion(pods.clone(), &pods, Timestamp::from_second(NOW).unwrap());
        ranked[0].metadata.uid.clone().unwrap()
    }

    fn shape(uid: &str) -> Shape {
        Shape {
            uid: uid.into(),
            ..Shape::default()
        }
    }

    #[test]
    fn unscheduled_before_scheduled() {
        let unscheduled = Shape {
            node: None,
            ..shape("b")
        };
        assert_eq!(first_deleted(shape("a"), unscheduled), "b");
    }

    #[test]
    fn pending_before_unknown_before_running() {
        let pending = Shape {
            phase: Some("Pending"),
            ready_since: None,
            ..shape("p")
        };
        let unknown = Shape {
            phase: Some("Unknown"),
            ready_since: None,
            ..shape("u")
        };
        let running = Shape {
            ready_since: None,
            ..shape("r")
        };
        assert_eq!(first_deleted(running.clone(), unknown.clone()), "u");
        assert_eq!(first_deleted(unknown, pending.clone()), "p");
        let no_phase = Shape {
            phase: None,
            ..pending
        };
        assert_eq!(
            first_deleted(running, no_phase),
            "p",
            "no phase counts as pending"
        );
    }

    #[test]
    fn not_ready_before_ready() {
        let not_ready = Shape {
            ready_since: None,
            ..shape("n")
        };
        assert_eq!(first_deleted(shape("a"), not_ready), "n");
    }

    #[test]
    fn lower_deletion_cost_first_and_invalid_cost_is_zero() {
        let cheap = Shape {
            cost: Some("-5".into()),
            ..shape("cheap")
        };
        let dear = Shape {
            cost: Some("100".into()),
            ..shape("dear")
        };
        assert_eq!(first_deleted(dear.clone(), cheap), "cheap");
        let invalid = Shape {
            cost: Some("lots".into()),
            ..shape("invalid")
        };
        assert_eq!(first_deleted(dear, invalid), "invalid");
    }

    #[test]
    fn doubled_up_pods_first() {
        let alone = Shape {
            node: Some("node-2"),
            ..shape("alone")
        };
        let crowded = [shape("c1"), shape("c2")];
        let pods: Vec<_> = [alone, crowded[0].clone(), crowded[1].clone()]
            .iter()
            .map(pod)
            .collect();
        let ranked = rank_for_deletion(pods.clone(), &pods, Timestamp::from_second(NOW).unwrap());
        assert_eq!(ranked[2].metadata.uid.as_deref(), Some("alone"));
    }

    #[test]
    fn newer_ready_first_on_a_log_scale() {
        let recent = Shape {
            ready_since: Some(Some(NOW - 10)),
            ..shape("z-recent")
        };
        let long = Shape {
            ready_since: Some(Some(NOW - 10_000)),
            ..shape("a-long")
        };
        assert_eq!(first_deleted(long, recent), "z-recent");
        let no_time = Shape {
            ready_since: Some(None),
            ..shape("z-no-time")
        };
        assert_eq!(first_deleted(shape("a"), no_time), "z-no-time");
        // 1,000 s and 1,050 s share a power of two of nanoseconds: restarts decide.
        let a = Shape {
            ready_since: Some(Some(NOW - 1_000)),
            restarts: 0,
            ..shape("a")
        };
        let b = Shape {
            ready_since: Some(Some(NOW - 1_050)),
            restarts: 3,
            ..shape("b")
        };
        assert_eq!(first_deleted(a, b), "b");
    }

    #[test]
    fn more_restarts_first_then_newer_first_then_uid() {
        let restarted = Shape {
            restarts: 5,
            ..shape("z")
        };
        assert_eq!(first_deleted(shape("a"), restarted), "z");
        let newer = Shape {
            created: Some(NOW - 5),
            ..shape("z-new")
        };
        assert_eq!(first_deleted(shape("a-old"), newer), "z-new");
        assert_eq!(first_deleted(shape("b"), shape("a")), "a");
    }

    #[test]
    fn pods_to_delete_takes_the_first_of_the_ranking() {
        let pods: Vec<_> = [
            shape("ready"),
            Shape {
                node: None,
                ..shape("unscheduled")
            },
            Shape {
                ready_since: None,
                ..shape("not-ready")
            },
        ]
        .iter()
        .map(pod)
        .collect();
        let chosen = pods_to_delete(pods.clone(), &pods, 2, Timestamp::from_second(NOW).unwrap());
        let uids: Vec<_> = chosen
            .iter()
            .map(|p| p.metadata.uid.clone().unwrap())
            .collect();
        assert_eq!(uids, ["unscheduled", "not-ready"]);
    }

    fn arbitrary_shape() -> impl Strategy<Value = Shape> {
        (
            0u32..1000,
            prop_oneof![Just(None), Just(Some("node-1")), Just(Some("node-2"))],
            prop_oneof![
                Just(None),
                Just(Some("Pending")),
                Just(Some("Running")),
                Just(Some("Unknown"))
            ],
            prop_oneof![
                Just(None),
                Just(Some(None)),
                (0i64..100_000).prop_map(|age| Some(Some(NOW - age)))
            ],
            prop_oneof![Just(None), (-3i32..3).prop_map(|c| Some(c.to_string()))],
            0i32..4,
            prop_oneof![Just(None), (0i64..100_000).prop_map(|age| Some(NOW - age))],
        )
            .prop_map(
                |(uid, node, phase, ready_since, cost, restarts, created)| Shape {
                    uid: format!("{uid:04}"),
                    node,
                    phase,
                    ready_since,
                    cost,
                    restarts,
                    created,
                },
            )
    }

    proptest! {
        /// The deletion order compares pods as a strict weak order: irreflexive, asymmetric
        /// and transitive, so sorting is well defined.
        #[test]
        fn the_deletion_order_is_a_strict_weak_order(
            a in arbitrary_shape(), b in arbitrary_shape(), c in arbitrary_shape(),
            colocated in proptest::collection::vec(0usize..3, 3),
        ) {
            let now = Timestamp::from_second(NOW).unwrap();
            let ka = deletion_key(&pod(&a), colocated[0], now);
            let kb = deletion_key(&pod(&b), colocated[1], now);
            let kc = deletion_key(&pod(&c), colocated[2], now);
            let less = |x: &DeletionKey, y: &DeletionKey| x.cmp(y) == std::cmp::Ordering::Less;
            prop_assert!(!less(&ka, &ka));
            if less(&ka, &kb) { prop_assert!(!less(&kb, &ka)); }
            if less(&ka, &kb) && less(&kb, &kc) { prop_assert!(less(&ka, &kc)); }
            // Incomparability is transitive too.
            let equiv = |x: &DeletionKey, y: &DeletionKey| !less(x, y) && !less(y, x);
            if equiv(&ka, &kb) && equiv(&kb, &kc) { prop_assert!(equiv(&ka, &kc)); }
        }

        /// The ranking does not depend on the order the pods are listed in, and always puts
        /// unscheduled pods before scheduled ones and not-ready before ready among equals.
        #[test]
        fn the_ranking_is_stable_and_respects_the_first_rules(
            shapes in proptest::collection::vec(arbitrary_shape(), 1..12),
            rotate in 0usize..12,
        ) {
            let now = Timestamp::from_second(NOW).unwrap();
            let mut shapes = shapes;
            for (i, shape) in shapes.iter_mut().enumerate() {
                shape.uid = format!("{}-{i}", shape.uid);
            }
            let pods: Vec<_> = shapes.iter().map(pod).collect();
            let ranked = rank_for_deletion(pods.clone(), &pods, now);
            let mut rotated = pods.clone();
            rotated.rotate_left(rotate % pods.len());
            rotated.reverse();
            let again = rank_for_deletion(rotated, &pods, now);
            let uids = |list: &[Arc<Pod>]| list.iter().map(|p| p.metadata.uid.clone()).collect::<Vec<_>>();
            prop_assert_eq!(uids(&ranked), uids(&again));
            let scheduled: Vec<bool> = ranked.iter().map(|p| pod_state::is_scheduled(p)).collect();
            let first_scheduled = scheduled.iter().position(|s| *s).unwrap_or(scheduled.len());
            prop_assert!(scheduled[first_scheduled..].iter().all(|s| *s), "an unscheduled pod after a scheduled one");
        }
    }
}
