//! The node's heartbeat: its Lease in `kube-node-lease`, renewed every 10 s.
//!
//! As Kubernetes' `nodelease` controller: the Lease is named after the node, held by it
//! (`holderIdentity`), lasts `leaseDurationSeconds` (40), carries `renewTime`, and is owned
//! by the Node so it goes away with it. The agent keeps the last Lease it wrote and updates
//! that (no read per renewal); on a conflict or a missing Lease it reads or creates it
//! again. Failed renewals are retried after 200 ms, doubling up to 7 s, until one succeeds;
//! then renewals resume every renew interval. The node lifecycle controller marks a node
//! whose Lease is not renewed in time as unreachable.

use std::sync::Arc;
use std::time::Duration;

use orchestra_api::k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, OwnerReference};
use orchestra_api::{Api, PostParams, Status};

use crate::clock;
use crate::kubelet::Kubelet;

/// The namespace of node Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

fn owner(kubelet: &Kubelet) -> Option<Vec<OwnerReference>> {
    let node = kubelet.current_node()?;
    Some(vec![OwnerReference {
        api_version: "v1".to_owned(),
        kind: "Node".to_owned(),
        name: node.metadata.name.clone().unwrap_or_default(),
        uid: node.metadata.uid.clone()?,
        controller: None,
        block_owner_deletion: None,
    }])
}

fn renewed(kubelet: &Kubelet, base: Option<&Lease>) -> Lease {
    let mut lease = base.cloned().unwrap_or_default();
    lease.metadata.name = Some(kubelet.config.name.clone());
    lease.metadata.namespace = Some(NODE_LEASE_NAMESPACE.to_owned());
    if lease.metadata.owner_references.is_none() {
        lease.metadata.owner_references = owner(kubelet);
    }
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.holder_identity = Some(kubelet.config.name.clone());
    spec.lease_duration_seconds = Some(
        i32::try_from(kubelet.config.node_lease_duration.as_secs().max(1)).unwrap_or(i32::MAX),
    );
    spec.renew_time = Some(MicroTime(clock::now()));
    lease
}

/// Renews the Lease once, from `last` (the Lease last written); answers the new Lease.
pub async fn renew(kubelet: &Kubelet, last: Option<&Lease>) -> Result<Arc<Lease>, Status> {
    let api = Api::<Lease>::namespaced(Arc::clone(&kubelet.client), NODE_LEASE_NAMESPACE);
    let name = kubelet.config.name.clone();
    let base = match last {
        Some(lease) => Some(Arc::new(lease.clone())),
        None => api.get_opt(&name).await?,
    };
    let Some(base) = base else {
        return api
            .create(&PostParams::default(), &renewed(kubelet, None))
            .await;
    };
    match api
        .replace(
            &name,
            &PostParams::default(),
            &renewed(kubelet, Some(&base)),
        )
        .await
    {
        Ok(lease) => Ok(lease),
        Err(e) if e.code == 409 || e.code == 404 => match api.get_opt(&name).await? {
            Some(fresh) => {
                api.replace(
                    &name,
                    &PostParams::default(),
                    &renewed(kubelet, Some(&fresh)),
                )
                .await
            }
            None => {
                api.create(&PostParams::default(), &renewed(kubelet, None))
                    .await
            }
        },
        Err(e) => Err(e),
    }
}

/// Renews the Lease on schedule until the future is dropped.
pub async fn run_lease_loop(kubelet: Arc<Kubelet>) {
    let mut last: Option<Arc<Lease>> = None;
    let mut retry = Duration::from_millis(200);
    loop {
        match renew(&kubelet, last.as_deref()).await {
            Ok(lease) => {
                last = Some(lease);
                retry = Duration::from_millis(200);
                tokio::time::sleep(kubelet.config.node_lease_renew_interval).await;
            }
            Err(error) => {
                tracing::warn!(node = %kubelet.config.name, %error, "renewing the node lease failed");
                last = None;
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(Duration::from_secs(7));
            }
        }
    }
}
