//! DefaultBinder: binds the pod by posting a `Binding` to its `pods/binding` subresource.
//! Without an API client (a simulation) binding always succeeds: the simulation records it.

use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Binding, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use orchestra_api::{PostParams, Subresource, kinds};

use crate::config::ConfigError;
use crate::config::args::PluginArgs;
use crate::framework::{BindPlugin, CycleState, Handle, Plugin, PluginInstance, Status};
use crate::pod_info::PodInfo;

/// The plugin's name.
pub const NAME: &str = "DefaultBinder";

/// Posts `pods/binding`.
#[derive(Debug)]
pub struct DefaultBinder {
    handle: Arc<Handle>,
}

impl Plugin for DefaultBinder {
    fn name(&self) -> &str {
        NAME
    }
}

/// The `Binding` of a pod to a node.
pub fn binding(pod: &PodInfo, node: &str) -> Binding {
    Binding {
        metadata: ObjectMeta {
            name: Some(pod.name().to_owned()),
            namespace: Some(pod.namespace().to_owned()),
            uid: pod.pod.metadata.uid.clone(),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            kind: Some("Node".to_owned()),
            name: Some(node.to_owned()),
            ..ObjectReference::default()
        },
    }
}

#[async_trait]
impl BindPlugin for DefaultBinder {
    async fn bind(&self, _: &CycleState, pod: &Arc<PodInfo>, node: &str) -> Status {
        let Some(client) = self.handle.client() else {
            return Status::success();
        };
        let result = client
            .create_subresource(
                &kinds::PODS,
                Some(pod.namespace()),
                pod.name(),
                Subresource::Binding,
                Arc::new(binding(pod, node)),
                &PostParams::default(),
            )
            .await;
        match result {
            Ok(_) => Status::success(),
            Err(status) => Status::error(format!("binding rejected: {}", status.message)),
        }
    }
}

/// The factory.
pub fn factory(_: &PluginArgs<'_>, handle: &Arc<Handle>) -> Result<PluginInstance, ConfigError> {
    Ok(PluginInstance::builder(Arc::new(DefaultBinder {
        handle: handle.clone(),
    }))
    .bind()
    .build())
}
