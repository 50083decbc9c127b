//! Reading a Deployment's ReplicaSets: their sizes and statuses, the orders Kubernetes sorts
//! them in, which one is new, and how a change of `replicas` is shared among them
//! (proportional scaling).

use std::cmp::Ordering;

use orchestra_api::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::annotations::{desired_replicas_annotation, max_replicas_annotation};
use super::fenceposts::{desired_replicas, max_surge};
use super::hash::equal_ignore_hash;

/// `spec.replicas` (1 when unset, the API default).
pub fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// `status.replicas`: the active pods the ReplicaSet controller counted.
pub fn status_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map_or(0, |s| s.replicas)
}

/// `status.readyReplicas`.
pub fn ready_replicas(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

/// `status.availableReplicas`.
pub fn available_replicas(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// Whether the ReplicaSet is asked for any pod (Kubernetes' `FilterActiveReplicaSets`).
pub fn is_active(rs: &ReplicaSet) -> bool {
    spec_replicas(rs) > 0
}

/// Oldest first, then by name (Kubernetes' `ReplicaSetsByCreationTimestamp`).
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let time = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
    time(a)
        .cmp(&time(b))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Larger first; among equals, older first (`ReplicaSetsBySizeOlder`, for scaling down).
pub fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    spec_replicas(b)
        .cmp(&spec_replicas(a))
        .then_with(|| by_creation(a, b))
}

/// Larger first; among equals, newer first (`ReplicaSetsBySizeNewer`, for scaling up).
pub fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    spec_replicas(b)
        .cmp(&spec_replicas(a))
        .then_with(|| by_creation(b, a))
}

/// The index of the Deployment's new ReplicaSet in `replica_sets`: the oldest whose
/// template equals the Deployment's, hash label aside (Kubernetes' `FindNewReplicaSet`).
pub fn find_new(deployment: &Deployment, replica_sets: &[ReplicaSet]) -> Option<usize> {
    let template = &deployment.spec.as_ref()?.template;
    let mut matching: Vec<usize> = replica_sets
        .iter()
        .enumerate()
        .filter(|(_, rs)| {
            rs.spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| equal_ignore_hash(t, template))
        })
        .map(|(i, _)| i)
        .collect();
    matching.sort_by(|a, b| by_creation(&replica_sets[*a], &replica_sets[*b]));
    matching.first().copied()
}

/// Whether the new ReplicaSet runs the whole Deployment: scaled to `replicas`, annotated
/// with it, and all of it available (Kubernetes' `IsSaturated`).
pub fn is_saturated(deployment: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else {
        return false;
    };
    let desired = desired_replicas(deployment);
    desired_replicas_annotation(rs).is_some_and(|annotated| annotated == desired)
        && spec_replicas(rs) == desired
        && available_replicas(rs) == desired
}

/// How many replicas `rs` gains (or, negative, loses) when `to_add` replicas are shared
/// among the Deployment's ReplicaSets and `added` were already handed out (Kubernetes'
/// `GetReplicaSetProportion`): its share of the new size in proportion to its size at the
/// last scaling (the `max-replicas` annotation), never more than what is left to hand out.
pub fn proportion(rs: &ReplicaSet, deployment: &Deployment, to_add: i32, added: i32) -> i32 {
    if spec_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = fraction(rs, deployment);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

/// The change `rs` needs to keep its share of the Deployment after a scaling event.
fn fraction(rs: &ReplicaSet, deployment: &Deployment) -> i32 {
    let desired = desired_replicas(deployment);
    let current = spec_replicas(rs);
    if desired == 0 {
        return -current;
    }
    let deployment_replicas = desired + max_surge(deployment);
    let annotated = max_replicas_annotation(rs)
        .filter(|n| *n != 0)
        .unwrap_or_else(|| {
            deployment
                .status
                .as_ref()
                .map_or(0, |s| s.replicas.unwrap_or(0))
        });
    if annotated == 0 {
        return 0;
    }
    let size = f64::from(current) * f64::from(deployment_replicas) / f64::from(annotated);
    // Go's math.Round: halves away from zero, as f64::round.
    size.round() as i32 - current
}

#[cfg(test)]
mod tests {
    use orchestra_api::k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use orchestra_api::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    use super::super::annotations::MAX_REPLICAS_ANNOTATION;
    use super::super::fenceposts::rolling_update_deployment;
    use super::*;

    fn rs(name: &str, replicas: i32, created: i64, max_replicas: i32) -> ReplicaSet {
        let mut rs = ReplicaSet {
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                ..Default::default()
            }),
            ..Default::default()
        };
        rs.metadata.name = Some(name.into());
        rs.metadata.creation_timestamp = Some(Time(jiff::Timestamp::from_second(created).unwrap()));
        rs.metadata.annotations =
            Some([(MAX_REPLICAS_ANNOTATION.to_owned(), max_replicas.to_string())].into());
        rs
    }

    fn deployment(replicas: i32, surge: i32) -> Deployment {
        rolling_update_deployment(replicas, IntOrString::Int(surge), IntOrString::Int(2))
    }

    #[test]
    fn the_documentations_proportional_scaling_example() {
        // Kubernetes' documentation: 10 replicas, maxSurge 3, maxUnavailable 2, a rollout
        // stuck at 8 old and 5 new; scaled to 15, the 5 extra replicas go 3 to the old and 2
        // to the new ReplicaSet.
        let d = deployment(15, 3);
        let old = rs("old", 8, 1, 13);
        let new = rs("new", 5, 2, 13);
        let to_add = 15 + 3 - 13;
        let mut sets = [new.clone(), old.clone()];
        sets.sort_by(by_size_newer);
        assert_eq!(sets[0].metadata.name.as_deref(), Some("old"));
        let old_share = proportion(&sets[0], &d, to_add, 0);
        let new_share = proportion(&sets[1], &d, to_add, old_share);
        assert_eq!((old_share, new_share), (3, 2));
    }

    #[test]
    fn scaling_to_zero_removes_everything_and_scaling_down_shares_the_cut() {
        let d = deployment(0, 3);
        assert_eq!(proportion(&rs("a", 4, 1, 13), &d, -9, 0), -4);
        let d = deployment(5, 1);
        // From 10+1 to 5+1: 6 old and 4 new lose in proportion, at most what is left.
        let cut = 6 - 11;
        let old = proportion(&rs("old", 6, 1, 11), &d, cut, 0);
        let new = proportion(&rs("new", 4, 2, 11), &d, cut, old);
        assert_eq!((old, new), (-3, -2));
    }

    #[test]
    fn sorts_match_kubernetes() {
        let a = rs("a", 3, 1, 0);
        let b = rs("b", 3, 2, 0);
        let c = rs("c", 5, 3, 0);
        let mut older = [b.clone(), c.clone(), a.clone()];
        older.sort_by(by_size_older);
        let names = |l: &[ReplicaSet]| {
            l.iter()
                .map(|r| r.metadata.name.clone().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&older), ["c", "a", "b"]);
        let mut newer = [a, b, c];
        newer.sort_by(by_size_newer);
        assert_eq!(names(&newer), ["c", "b", "a"]);
    }
}
