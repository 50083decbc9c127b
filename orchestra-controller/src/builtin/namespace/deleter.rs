//! Emptying a terminating namespace, kind by kind, as Kubernetes' namespaced-resources deleter
//! does: a `deletecollection` (or, for kinds without it, a delete of each listed object) with
//! background propagation — so that the garbage collector adds no `orphan` finalizer — then a
//! list of what is left.
//!
//! What is left is no error while it is expected to go: pods within their grace period (the
//! longest `terminationGracePeriodSeconds` of the namespace's running pods, counted from the
//! namespace's deletion) and objects held by finalizers (15 s, for the garbage collector and
//! other controllers to act). Anything else left is an error, retried with back-off.

use std::collections::BTreeMap;
use std::sync::Arc;

use orchestra_api::k8s_openapi::api::core::v1::Pod;
use orchestra_api::k8s_openapi::jiff::Timestamp;
use orchestra_api::kinds::Verbs;
use orchestra_api::object::downcast_arc;
use orchestra_api::{
    Client, DeleteParams, ListParams, ObjectList, PropagationPolicy, ResourceKind, Status, kinds,
};

use super::conditions::ContentReport;

/// How long Kubernetes expects objects held by finalizers to take, in seconds (the default of
/// [`NamespaceConfig::finalizer_estimate`](super::NamespaceConfig::finalizer_estimate)).
pub const FINALIZER_ESTIMATE_SECONDS: i64 = 15;

/// What deleting one kind's content found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct KindOutcome {
    /// Seconds until what is left should be gone; 0 when nothing is expected to remain.
    estimate: i64,
    /// Objects left.
    remaining: usize,
    /// Objects left by finalizer.
    finalizers: BTreeMap<String, usize>,
}

/// The content of a namespace being deleted.
pub(super) struct ContentDeleter<'a> {
    pub(super) client: &'a Arc<dyn Client>,
    pub(super) kinds: &'a [ResourceKind],
    pub(super) namespace: &'a str,
    pub(super) deleted_at: Timestamp,
    pub(super) now: Timestamp,
    /// How long objects held by finalizers are expected to take.
    pub(super) finalizer_estimate_seconds: i64,
}

/// A kind's name as the namespace conditions print it: `pods.`, `deployments.apps`.
fn resource_name(kind: &ResourceKind) -> String {
    format!("{}.{}", kind.plural, kind.group)
}

/// A kind's name as Kubernetes prints a group-version-resource: `/v1, Resource=pods`.
fn group_version_resource(kind: &ResourceKind) -> String {
    format!("{}/{}, Resource={}", kind.group, kind.version, kind.plural)
}

fn background() -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    }
}

impl ContentDeleter<'_> {
    /// Deletes everything in the namespace once; answers the longest estimate of what is left
    /// and the report for the namespace's conditions.
    pub(super) async fn delete_all_content(&self) -> (i64, ContentReport) {
        let mut report = ContentReport::default();
        let mut estimate = 0;
        for kind in self
            .kinds
            .iter()
            .filter(|k| k.is_namespaced() && k.verbs.contains(Verbs::DELETE))
        {
            match self.delete_kind(kind).await {
                Ok(outcome) => {
                    estimate = estimate.max(outcome.estimate);
                    self.tally(kind, &outcome, &mut report);
                }
                Err((outcome, error)) => {
                    estimate = estimate.max(outcome.estimate);
                    self.tally(kind, &outcome, &mut report);
                    report.delete_errors.push(error);
                }
            }
        }
        (estimate, report)
    }

    fn tally(&self, kind: &ResourceKind, outcome: &KindOutcome, report: &mut ContentReport) {
        if outcome.remaining > 0 {
            report
                .remaining
                .insert(resource_name(kind), outcome.remaining);
            for (finalizer, count) in &outcome.finalizers {
                *report.finalizers.entry(finalizer.clone()).or_default() += count;
            }
        }
    }

    /// Deletes one kind's objects in the namespace.
    async fn delete_kind(&self, kind: &ResourceKind) -> Result<KindOutcome, (KindOutcome, String)> {
        let failed = |estimate: i64, status: Status| {
            (
                KindOutcome {
                    estimate,
                    ..KindOutcome::default()
                },
                status.message,
            )
        };
        let estimate = if *kind == kinds::PODS {
            self.pod_estimate().await.map_err(|s| failed(0, s))?
        } else {
            0
        };
        let collection_deleted = if kind.verbs.contains(Verbs::DELETE_COLLECTION) {
            match self
                .client
                .delete_collection(
                    kind,
                    Some(self.namespace),
                    &ListParams::default(),
                    &background(),
                )
                .await
            {
                Ok(_) => true,
                Err(status) if matches!(status.code, 404 | 405) => false,
                Err(status) => return Err(failed(estimate, status)),
            }
        } else {
            false
        };
        if !kind.verbs.contains(Verbs::LIST) {
            return Ok(KindOutcome {
                estimate,
                ..KindOutcome::default()
            });
        }
        if !collection_deleted {
            let listed = match self.list(kind).await {
                Ok(listed) => listed,
                Err(status) if matches!(status.code, 404 | 405) => {
                    return Ok(KindOutcome {
                        estimate,
                        ..KindOutcome::default()
                    });
                }
                Err(status) => return Err(failed(estimate, status)),
            };
            for object in &listed.items {
                let name = object.metadata().name.clone().unwrap_or_default();
                match self
                    .client
                    .delete(kind, Some(self.namespace), &name, &background())
                    .await
                {
                    Ok(_) => {}
                    Err(status) if matches!(status.code, 404 | 405) => {}
                    Err(status) => return Err(failed(estimate, status)),
                }
            }
        }
        let left = self.list(kind).await.map_err(|s| failed(estimate, s))?;
        if left.items.is_empty() {
            return Ok(KindOutcome::default());
        }
        let mut finalizers = BTreeMap::new();
        for object in &left.items {
            for finalizer in object.metadata().finalizers.iter().flatten() {
                *finalizers.entry(finalizer.clone()).or_default() += 1;
            }
        }
        let outcome = KindOutcome {
            estimate,
            remaining: left.items.len(),
            finalizers,
        };
        if estimate > 0 {
            return Ok(outcome);
        }
        if !outcome.finalizers.is_empty() {
            return Ok(KindOutcome {
                estimate: self.finalizer_estimate_seconds.max(1),
                ..outcome
            });
        }
        let message = format!(
            "unexpected items still remain in namespace: {} for gvr: {}",
            self.namespace,
            group_version_resource(kind)
        );
        Err((outcome, message))
    }

    async fn list(&self, kind: &ResourceKind) -> Result<ObjectList, Status> {
        self.client
            .list(kind, Some(self.namespace), &ListParams::default())
            .await
    }

    /// The longest grace period of the namespace's pods that are not finished, or 0 once that
    /// long has passed since the namespace's deletion.
    async fn pod_estimate(&self) -> Result<i64, Status> {
        let pods = self.list(&kinds::PODS).await?;
        let longest = pods
            .items
            .into_iter()
            .filter_map(|object| downcast_arc::<Pod>(object).ok())
            .filter(|pod| {
                let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
                !matches!(phase, Some("Succeeded" | "Failed"))
            })
            .filter_map(|pod| pod.spec.as_ref()?.termination_grace_period_seconds)
            .max()
            .unwrap_or(0);
        let elapsed = self.now.as_second() - self.deleted_at.as_second();
        Ok(if elapsed >= longest { 0 } else { longest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_as_kubernetes_names_them() {
        assert_eq!(resource_name(&kinds::PODS), "pods.");
        assert_eq!(resource_name(&kinds::DEPLOYMENTS), "deployments.apps");
        assert_eq!(group_version_resource(&kinds::PODS), "/v1, Resource=pods");
        assert_eq!(
            group_version_resource(&kinds::DEPLOYMENTS),
            "apps/v1, Resource=deployments"
        );
    }
}
