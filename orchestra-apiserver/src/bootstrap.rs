//! What a new cluster holds before anyone writes to it: the system namespaces every
//! Kubernetes client expects (`default`, `kube-system`, `kube-public`, `kube-node-lease`).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use orchestra_api::{ArcObject, Client, PostParams, Status, kinds};

/// The namespaces Kubernetes creates at start-up.
pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Creates the system namespaces that do not exist yet.
pub async fn ensure_system_namespaces(client: &dyn Client) -> Result<(), Status> {
    for name in SYSTEM_NAMESPACES {
        let mut namespace = Namespace::default();
        namespace.metadata.name = Some(name.to_owned());
        match client
            .create(
                &kinds::NAMESPACES,
                None,
                Arc::new(namespace) as ArcObject,
                &PostParams::default(),
            )
            .await
        {
            Ok(_) => tracing::info!(namespace = name, "created system namespace"),
            Err(status) if status.code == 409 => {}
            Err(status) => return Err(status),
        }
    }
    Ok(())
}
