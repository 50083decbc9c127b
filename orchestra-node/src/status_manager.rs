//! The status manager: writes pod statuses to the API, deletes finished pods, and keeps the
//! mirror pods of static pods.
//!
//! As Kubernetes' status manager does, it writes only through the `status` subresource and
//! only when the status changed, guarded by the pod's `resourceVersion` (on a conflict it
//! reads the pod again and retries once, so conditions other components set meanwhile
//! survive). When a pod being deleted has stopped, it removes the object with
//! `gracePeriodSeconds: 0` and a uid precondition, so a new pod of the same name is never
//! deleted by mistake.

use std::sync::Arc;

use orchestra_api::k8s_openapi::api::core::v1::{Pod, PodStatus};
use orchestra_api::{Api, DeleteParams, PostParams, Preconditions, Status};

use crate::kubelet::Kubelet;
use crate::pod_manager::PodRecord;
use crate::static_pods;

fn pods_api(kubelet: &Kubelet, pod: &Pod) -> Api<Pod> {
    Api::namespaced(
        Arc::clone(&kubelet.client),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
    )
}

/// Writes `status` to the API object `target` unless it already has it; answers the
/// updated object, or `None` when nothing was written (unchanged, or the pod is gone).
pub async fn write_status(
    kubelet: &Kubelet,
    target: &Arc<Pod>,
    status: &PodStatus,
) -> Result<Option<Arc<Pod>>, Status> {
    if target.status.as_ref() == Some(status) {
        return Ok(None);
    }
    let api = pods_api(kubelet, target);
    let name = target.metadata.name.clone().unwrap_or_default();
    let mut current = Arc::clone(target);
    for attempt in 0..3 {
        let mut updated = (*current).clone();
        updated.status = Some(status.clone());
        match api
            .replace_status(&name, &PostParams::default(), &updated)
            .await
        {
            Ok(written) => return Ok(Some(written)),
            Err(e) if e.code == 404 => return Ok(None),
            Err(e) if e.code == 409 && attempt < 2 => {
                let Some(fresh) = api.get_opt(&name).await? else {
                    return Ok(None);
                };
                if fresh.metadata.uid != target.metadata.uid {
                    return Ok(None);
                }
                if fresh.status.as_ref() == Some(status) {
                    return Ok(None);
                }
                current = fresh;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Removes a pod whose deletion has completed on the node: grace period 0, uid
/// precondition. A pod already gone, or replaced by another of the same name, is fine.
pub async fn delete_pod(kubelet: &Kubelet, pod: &Pod) -> Result<(), Status> {
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: pod.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match pods_api(kubelet, pod)
        .delete(pod.metadata.name.as_deref().unwrap_or_default(), &params)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes sure a static pod has a current mirror pod: deletes a mirror with another hash (or
/// one being deleted) and creates a new one. Answers the mirror pod to write status to.
pub async fn ensure_mirror_pod(
    kubelet: &Kubelet,
    record: &PodRecord,
) -> Result<Option<Arc<Pod>>, Status> {
    let Some(node) = kubelet.current_node() else {
        return Ok(None);
    };
    let hash = static_pods::config_hash(&record.pod).unwrap_or_default();
    let api = pods_api(kubelet, &record.pod);
    let name = record.pod.metadata.name.clone().unwrap_or_default();
    let existing = match &record.mirror {
        Some(mirror) => Some(Arc::clone(mirror)),
        None => api
            .get_opt(&name)
            .await?
            .filter(|p| static_pods::is_mirror_pod(p)),
    };
    if let Some(mirror) = existing {
        let current = static_pods::config_hash(&mirror) == Some(hash)
            && mirror.metadata.deletion_timestamp.is_none();
        if current {
            return Ok(Some(mirror));
        }
        delete_pod(kubelet, &mirror).await?;
    }
    let mirror = static_pods::mirror_pod(&record.pod, &node);
    match api.create(&PostParams::default(), &mirror).await {
        Ok(created) => Ok(Some(created)),
        Err(e) if e.code == 409 => Ok(api
            .get_opt(&name)
            .await?
            .filter(|p| static_pods::is_mirror_pod(p))),
        Err(e) => Err(e),
    }
}

/// Deletes the mirror pod of a static pod that is gone.
pub async fn delete_mirror_pod(kubelet: &Kubelet, record: &PodRecord) -> Result<(), Status> {
    let api = pods_api(kubelet, &record.pod);
    let name = record.pod.metadata.name.clone().unwrap_or_default();
    let mirror = match &record.mirror {
        Some(mirror) => Some(Arc::clone(mirror)),
        None => api.get_opt(&name).await?,
    };
    match mirror {
        Some(mirror) if static_pods::is_mirror_pod(&mirror) => delete_pod(kubelet, &mirror).await,
        _ => Ok(()),
    }
}
