//! What every store holds before anyone writes to it, as Kubernetes' API server creates it at
//! start-up: the system namespaces (`default`, `kube-system`, `kube-public`,
//! `kube-node-lease`) and the PriorityClasses `system-node-critical` and
//! `system-cluster-critical`. Admission needs them — a pod can only be created in a namespace
//! that exists and may name a system class — so [`Store::open`] creates what is missing
//! (unless [`StoreConfig::create_system_objects`](crate::StoreConfig) is off), through the
//! registries like any write; it never changes or deletes what exists.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use orchestra_api::{ArcObject, GetParams, PostParams, ResourceKind, Status, kinds};

use crate::registry::Registry;
use crate::store::Store;

/// The namespaces Kubernetes creates at start-up.
pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// The built-in PriorityClasses: name and value.
pub const SYSTEM_PRIORITY_CLASSES: [(&str, i32); 2] = [
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

/// The description Kubernetes gives the built-in PriorityClasses.
pub const SYSTEM_PRIORITY_CLASS_DESCRIPTION: &str =
    "Used for system critical pods that must not be moved from their current node.";

/// Creates the system namespaces and PriorityClasses the store serves and does not hold yet.
pub async fn ensure_system_objects(store: &Store) -> Result<(), Status> {
    for name in SYSTEM_NAMESPACES {
        let mut namespace = Namespace::default();
        namespace.metadata.name = Some(name.to_owned());
        create_if_absent(store, &kinds::NAMESPACES, Arc::new(namespace)).await?;
    }
    for (name, value) in SYSTEM_PRIORITY_CLASSES {
        let mut class = PriorityClass {
            value,
            description: Some(SYSTEM_PRIORITY_CLASS_DESCRIPTION.to_owned()),
            ..PriorityClass::default()
        };
        class.metadata.name = Some(name.to_owned());
        create_if_absent(store, &kinds::PRIORITY_CLASSES, Arc::new(class)).await?;
    }
    Ok(())
}

async fn create_if_absent(
    store: &Store,
    kind: &ResourceKind,
    object: ArcObject,
) -> Result<(), Status> {
    let Some(registry) = Registry::new(store, kind) else {
        return Ok(());
    };
    let name = object.metadata().name.clone().unwrap_or_default();
    match registry.get(None, &name, &GetParams::default()).await {
        Ok(_) => return Ok(()),
        Err(status) if status.code == 404 => {}
        Err(status) => return Err(status),
    }
    match registry.create(None, object, &PostParams::default()).await {
        Ok(_) => {
            tracing::debug!(kind = %kind.kind, name, "created a system object");
            Ok(())
        }
        Err(status) if status.code == 409 => Ok(()),
        Err(status) => Err(status),
    }
}
