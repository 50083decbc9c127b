//! The annotations a Deployment's ReplicaSets carry, written as Kubernetes writes them, which
//! `kubectl rollout history` and `kubectl rollout undo` read:
//!
//! | annotation | on | meaning |
//! |---|---|---|
//! | `deployment.kubernetes.io/revision` | ReplicaSet, Deployment | the rollout sequence number: each new (or rolled-back-to) template gets the highest revision plus one; the Deployment carries its new ReplicaSet's |
//! | `deployment.kubernetes.io/revision-history` | ReplicaSet | revisions this template had before, comma-separated (a rollback to it gave it a new one); at most 2,000 characters, oldest dropped first |
//! | `deployment.kubernetes.io/desired-replicas` | ReplicaSet | the Deployment's `replicas` when the ReplicaSet was last scaled: a difference means a scaling event |
//! | `deployment.kubernetes.io/max-replicas` | ReplicaSet | `replicas + maxSurge` then: the base of proportional scaling |
//!
//! Other annotations of the Deployment are copied to its new ReplicaSet, except
//! `kubectl.kubernetes.io/last-applied-configuration` and the ones above.

use std::collections::BTreeMap;

use orchestra_api::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The rollout sequence number of a ReplicaSet (and of its Deployment).
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions of a ReplicaSet's template.
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's `replicas` when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's `replicas + maxSurge` when the ReplicaSet was last scaled.
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
/// Where the deprecated `spec.rollbackTo` of `extensions/v1beta1` survives on `apps/v1`.
pub const DEPRECATED_ROLLBACK_TO_ANNOTATION: &str = "deprecated.deployment.rollback.to";
/// kubectl's client-side apply record.
pub const LAST_APPLIED_CONFIG_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The longest `revision-history` kept (Kubernetes' `maxRevHistoryLengthInChars`).
pub const MAX_REVISION_HISTORY_CHARS: usize = 2000;

/// Whether `key` is one of the annotations never copied between a Deployment and its
/// ReplicaSets.
pub fn is_skipped_annotation(key: &str) -> bool {
    matches!(
        key,
        LAST_APPLIED_CONFIG_ANNOTATION
            | REVISION_ANNOTATION
            | REVISION_HISTORY_ANNOTATION
            | DESIRED_REPLICAS_ANNOTATION
            | MAX_REPLICAS_ANNOTATION
            | DEPRECATED_ROLLBACK_TO_ANNOTATION
    )
}

fn annotation<'a>(annotations: Option<&'a BTreeMap<String, String>>, key: &str) -> Option<&'a str> {
    annotations?.get(key).map(String::as_str)
}

/// The revision of a ReplicaSet: 0 without the annotation, `None` if it is not a number.
pub fn revision(rs: &ReplicaSet) -> Option<i64> {
    match annotation(rs.metadata.annotations.as_ref(), REVISION_ANNOTATION) {
        None => Some(0),
        Some(text) => text.parse().ok(),
    }
}

/// The revision annotation of a ReplicaSet or Deployment as written, empty without it.
pub fn revision_text(meta: &ObjectMeta) -> &str {
    annotation(meta.annotations.as_ref(), REVISION_ANNOTATION).unwrap_or_default()
}

/// The highest revision among `replica_sets` (unparsable ones ignored), 0 for none.
pub fn max_revision<'a>(replica_sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    replica_sets
        .into_iter()
        .filter_map(revision)
        .max()
        .unwrap_or(0)
}

/// The second-highest revision among `replica_sets` (0 with fewer than two revisions):
/// the revision a rollback without a target returns to (Kubernetes' `LastRevision`).
pub fn last_revision<'a>(replica_sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    let (mut max, mut second) = (0, 0);
    for rev in replica_sets.into_iter().filter_map(revision) {
        if rev >= max {
            second = max;
            max = rev;
        } else if rev > second {
            second = rev;
        }
    }
    second
}

/// The `desired-replicas` annotation, if present and a number.
pub fn desired_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(
        rs.metadata.annotations.as_ref(),
        DESIRED_REPLICAS_ANNOTATION,
    )?
    .parse()
    .ok()
}

/// The `max-replicas` annotation, if present and a number.
pub fn max_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(rs.metadata.annotations.as_ref(), MAX_REPLICAS_ANNOTATION)?
        .parse()
        .ok()
}

/// Whether the replicas annotations differ from `desired` and `max`.
pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.as_ref();
    annotation(annotations, DESIRED_REPLICAS_ANNOTATION) != Some(desired.to_string().as_str())
        || annotation(annotations, MAX_REPLICAS_ANNOTATION) != Some(max.to_string().as_str())
}

/// Sets the replicas annotations; whether anything changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (key, value) in [
        (DESIRED_REPLICAS_ANNOTATION, desired.to_string()),
        (MAX_REPLICAS_ANNOTATION, max.to_string()),
    ] {
        if annotations.get(key) != Some(&value) {
            annotations.insert(key.to_owned(), value);
            changed = true;
        }
    }
    changed
}

/// Copies the Deployment's annotations (except the skipped ones) to the ReplicaSet;
/// whether anything changed.
fn copy_deployment_annotations(deployment: &Deployment, rs: &mut ReplicaSet) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (key, value) in deployment.metadata.annotations.iter().flatten() {
        if is_skipped_annotation(key) || annotations.get(key) == Some(value) {
            continue;
        }
        annotations.insert(key.clone(), value.clone());
        changed = true;
    }
    changed
}

/// Brings the annotations of the Deployment's new ReplicaSet up to date (Kubernetes'
/// `SetNewReplicaSetAnnotations`): copies the Deployment's annotations, raises the revision
/// to `new_revision` if it is lower — appending the old revision to the history when the
/// ReplicaSet had one (a rollback to it) — and, for a ReplicaSet about to be created, sets
/// the replicas annotations. Whether anything changed.
pub fn set_new_replica_set_annotations(
    deployment: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
    max_surge: i32,
) -> bool {
    let mut changed = copy_deployment_annotations(deployment, rs);
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let old_text = annotations.get(REVISION_ANNOTATION).cloned();
    let old_revision = match old_text.as_deref() {
        None | Some("") => 0,
        Some(text) => match text.parse::<i64>() {
            Ok(revision) => revision,
            Err(_) => {
                tracing::info!(
                    revision = text,
                    "the replica set's revision is not a number; left as is"
                );
                return false;
            }
        },
    };
    if old_revision < new_revision {
        annotations.insert(REVISION_ANNOTATION.to_owned(), new_revision.to_string());
        changed = true;
        if let Some(old_text) = old_text.filter(|t| !t.is_empty()) {
            let history = annotations
                .get(REVISION_HISTORY_ANNOTATION)
                .cloned()
                .unwrap_or_default();
            if history.is_empty() {
                annotations.insert(REVISION_HISTORY_ANNOTATION.to_owned(), old_text);
            } else {
                let mut revisions: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old_text.len() + 1;
                let mut start = 0;
                while total > MAX_REVISION_HISTORY_CHARS && start < revisions.len() {
                    total -= revisions[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REVISION_HISTORY_CHARS {
                    revisions.drain(..start);
                    revisions.push(&old_text);
                    let joined = revisions.join(",");
                    annotations.insert(REVISION_HISTORY_ANNOTATION.to_owned(), joined);
                } else {
                    tracing::info!("the revision history is at its length limit; not extended");
                }
            }
        }
    }
    if !exists {
        let desired = deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1);
        if set_replicas_annotations(rs, desired, desired + max_surge) {
            changed = true;
        }
    }
    changed
}

/// Sets the Deployment's revision annotation; whether it changed.
pub fn set_deployment_revision(deployment: &mut Deployment, revision: &str) -> bool {
    let annotations = deployment
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    if annotations.get(REVISION_ANNOTATION).map(String::as_str) == Some(revision) {
        return false;
    }
    annotations.insert(REVISION_ANNOTATION.to_owned(), revision.to_owned());
    true
}

/// Gives the Deployment the ReplicaSet's annotations, keeping its own skipped ones
/// (Kubernetes' `SetDeploymentAnnotationsTo`, used by a rollback).
pub fn set_deployment_annotations_to(deployment: &mut Deployment, rs: &ReplicaSet) {
    let own = deployment.metadata.annotations.take().unwrap_or_default();
    let mut annotations: BTreeMap<String, String> = own
        .into_iter()
        .filter(|(key, _)| is_skipped_annotation(key))
        .collect();
    for (key, value) in rs.metadata.annotations.iter().flatten() {
        if !is_skipped_annotation(key) {
            annotations.insert(key.clone(), value.clone());
        }
    }
    deployment.metadata.annotations = Some(annotations);
}

#[cfg(test)]
mod tests {
    use orchestra_api::k8s_openapi::api::apps::v1::DeploymentSpec;

    use super::*;

    fn rs_with(annotations: &[(&str, &str)]) -> ReplicaSet {
        let mut rs = ReplicaSet::default();
        rs.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        rs
    }

    fn deployment(replicas: i32, annotations: &[(&str, &str)]) -> Deployment {
        let mut d = Deployment {
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                ..Default::default()
            }),
            ..Default::default()
        };
        d.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        d
    }

    #[test]
    fn a_new_replica_set_gets_the_revision_replicas_and_the_deployments_annotations() {
        let d = deployment(
            4,
            &[
                ("team", "web"),
                (REVISION_ANNOTATION, "7"),
                (LAST_APPLIED_CONFIG_ANNOTATION, "{}"),
            ],
        );
        let mut rs = ReplicaSet::default();
        assert!(set_new_replica_set_annotations(&d, &mut rs, 3, false, 1));
        let a = rs.metadata.annotations.unwrap();
        assert_eq!(a.get("team").map(String::as_str), Some("web"));
        assert_eq!(a.get(REVISION_ANNOTATION).map(String::as_str), Some("3"));
        assert_eq!(
            a.get(DESIRED_REPLICAS_ANNOTATION).map(String::as_str),
            Some("4")
        );
        assert_eq!(
            a.get(MAX_REPLICAS_ANNOTATION).map(String::as_str),
            Some("5")
        );
        assert!(!a.contains_key(LAST_APPLIED_CONFIG_ANNOTATION));
        assert!(!a.contains_key(REVISION_HISTORY_ANNOTATION));
    }

    #[test]
    fn a_rollback_moves_the_old_revision_into_the_history() {
        let d = deployment(2, &[]);
        let mut rs = rs_with(&[(REVISION_ANNOTATION, "1")]);
        assert!(set_new_replica_set_annotations(&d, &mut rs, 3, true, 1));
        assert_eq!(revision(&rs), Some(3));
        assert_eq!(
            rs.metadata.annotations.as_ref().unwrap()[REVISION_HISTORY_ANNOTATION],
            "1"
        );
        assert!(set_new_replica_set_annotations(&d, &mut rs, 5, true, 1));
        assert_eq!(
            rs.metadata.annotations.as_ref().unwrap()[REVISION_HISTORY_ANNOTATION],
            "1,3"
        );
        // Already at the newest revision: nothing to do.
        assert!(!set_new_replica_set_annotations(&d, &mut rs, 5, true, 1));
    }

    #[test]
    fn the_history_keeps_at_most_two_thousand_characters() {
        let d = deployment(1, &[]);
        let long: Vec<String> = (100_000..100_285).map(|n| n.to_string()).collect();
        let history = long.join(",");
        assert!(history.len() <= MAX_REVISION_HISTORY_CHARS);
        let mut rs = rs_with(&[
            (REVISION_ANNOTATION, "200000"),
            (REVISION_HISTORY_ANNOTATION, &history),
        ]);
        set_new_replica_set_annotations(&d, &mut rs, 200_001, true, 0);
        let kept = &rs.metadata.annotations.as_ref().unwrap()[REVISION_HISTORY_ANNOTATION];
        assert!(kept.len() <= MAX_REVISION_HISTORY_CHARS);
        assert!(kept.ends_with(",200000"));
        assert!(
            !kept.starts_with("100000,"),
            "the oldest revision was dropped"
        );
    }

    #[test]
    fn revisions_max_and_last() {
        let sets = [
            rs_with(&[(REVISION_ANNOTATION, "3")]),
            rs_with(&[(REVISION_ANNOTATION, "not-a-number")]),
            rs_with(&[(REVISION_ANNOTATION, "5")]),
            rs_with(&[]),
        ];
        assert_eq!(max_revision(&sets), 5);
        assert_eq!(last_revision(&sets), 3);
        assert_eq!(last_revision(&sets[..1]), 0);
        assert_eq!(revision(&sets[1]), None);
    }
}
