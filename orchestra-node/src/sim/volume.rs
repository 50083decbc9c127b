//! A simulated CSI driver that keeps its volumes and mounts in memory.
//!
//! [`SimVolumePlugin`] implements both halves of CSI: `CreateVolume` provisions a volume of
//! the requested size (idempotent by name), `ControllerPublishVolume` attaches it to a node,
//! and the node calls record where each volume is staged and published. Nothing touches a
//! disk. The agent publishes inline CSI volumes through it, and tests read
//! [`published`](SimVolumePlugin::published) to see what a pod got.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::csi::{
    ControllerPublishVolumeRequest, CreateVolumeRequest, CsiError, NodeInfo,
    NodePublishVolumeRequest, NodeStageVolumeRequest, Volume, VolumePlugin,
};

#[derive(Debug, Default)]
struct State {
    /// Provisioned volumes by id.
    volumes: HashMap<String, Volume>,
    /// Volume id by the name it was created with.
    by_name: HashMap<String, String>,
    /// Nodes each volume is attached to.
    attached: HashMap<String, BTreeSet<String>>,
    /// Staging path of each staged volume.
    staged: HashMap<String, String>,
    /// Target paths each volume is published at.
    published: BTreeMap<String, BTreeSet<String>>,
    next_id: u64,
}

/// A simulated CSI driver. See the [module documentation](self).
#[derive(Debug)]
pub struct SimVolumePlugin {
    driver: String,
    node_id: String,
    state: Mutex<State>,
}

impl SimVolumePlugin {
    /// The driver `driver` as seen from node `node_id`.
    pub fn new(driver: impl Into<String>, node_id: impl Into<String>) -> Self {
        Self {
            driver: driver.into(),
            node_id: node_id.into(),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every published volume with the target paths it is published at.
    pub fn published(&self) -> BTreeMap<String, BTreeSet<String>> {
        self.lock().published.clone()
    }
}

#[async_trait]
impl VolumePlugin for SimVolumePlugin {
    fn driver_name(&self) -> &str {
        &self.driver
    }

    async fn node_get_info(&self) -> Result<NodeInfo, CsiError> {
        Ok(NodeInfo {
            node_id: self.node_id.clone(),
            max_volumes_per_node: 0,
            accessible_topology: BTreeMap::new(),
        })
    }

    fn stages_volumes(&self) -> bool {
        true
    }

    async fn node_stage_volume(&self, request: &NodeStageVolumeRequest) -> Result<(), CsiError> {
        if request.volume_id.is_empty() || request.staging_target_path.is_empty() {
            return Err(CsiError::InvalidArgument(
                "volume id and staging path are required".to_owned(),
            ));
        }
        let mut state = self.lock();
        match state.staged.get(&request.volume_id) {
            Some(path) if path != &request.staging_target_path => {
                Err(CsiError::AlreadyExists(request.volume_id.clone()))
            }
            _ => {
                state.staged.insert(
                    request.volume_id.clone(),
                    request.staging_target_path.clone(),
                );
                Ok(())
            }
        }
    }

    async fn node_unstage_volume(
        &self,
        volume_id: &str,
        _staging_target_path: &str,
    ) -> Result<(), CsiError> {
        let mut state = self.lock();
        if state
            .published
            .get(volume_id)
            .is_some_and(|targets| !targets.is_empty())
        {
            return Err(CsiError::FailedPrecondition(format!(
                "volume {volume_id} is still published"
            )));
        }
        state.staged.remove(volume_id);
        Ok(())
    }

    async fn node_publish_volume(
        &self,
        request: &NodePublishVolumeRequest,
    ) -> Result<(), CsiError> {
        if request.volume_id.is_empty() || request.target_path.is_empty() {
            return Err(CsiError::InvalidArgument(
                "volume id and target path are required".to_owned(),
            ));
        }
        self.lock()
            .published
            .entry(request.volume_id.clone())
            .or_default()
            .insert(request.target_path.clone());
        Ok(())
    }

    async fn node_unpublish_volume(
        &self,
        volume_id: &str,
        target_path: &str,
    ) -> Result<(), CsiError> {
        let mut state = self.lock();
        if let Some(targets) = state.published.get_mut(volume_id) {
            targets.remove(target_path);
            if targets.is_empty() {
                state.published.remove(volume_id);
            }
        }
        Ok(())
    }

    async fn create_volume(&self, request: &CreateVolumeRequest) -> Result<Volume, CsiError> {
        if request.name.is_empty() {
            return Err(CsiError::InvalidArgument("a name is required".to_owned()));
        }
        let mut state = self.lock();
        if let Some(id) = state.by_name.get(&request.name)
            && let Some(existing) = state.volumes.get(id)
        {
            if existing.capacity_bytes < request.required_bytes {
                return Err(CsiError::AlreadyExists(request.name.clone()));
            }
            return Ok(existing.clone());
        }
        state.next_id += 1;
        let volume = Volume {
            volume_id: format!("sim-vol-{}", state.next_id),
            capacity_bytes: request.required_bytes.max(1 << 30),
            volume_context: request.parameters.clone(),
            accessible_topology: Vec::new(),
        };
        state
            .by_name
            .insert(request.name.clone(), volume.volume_id.clone());
        state
            .volumes
            .insert(volume.volume_id.clone(), volume.clone());
        Ok(volume)
    }

    async fn delete_volume(&self, volume_id: &str) -> Result<(), CsiError> {
        let mut state = self.lock();
        if state
            .attached
            .get(volume_id)
            .is_some_and(|nodes| !nodes.is_empty())
        {
            return Err(CsiError::FailedPrecondition(format!(
                "volume {volume_id} is attached"
            )));
        }
        state.volumes.remove(volume_id);
        state.by_name.retain(|_, id| id != volume_id);
        Ok(())
    }

    async fn controller_publish_volume(
        &self,
        request: &ControllerPublishVolumeRequest,
    ) -> Result<BTreeMap<String, String>, CsiError> {
        let mut state = self.lock();
        if !state.volumes.contains_key(&request.volume_id) {
            return Err(CsiError::NotFound(request.volume_id.clone()));
        }
        state
            .attached
            .entry(request.volume_id.clone())
            .or_default()
            .insert(request.node_id.clone());
        Ok(BTreeMap::from([(
            "devicePath".to_owned(),
            format!("/dev/sim/{}", request.volume_id),
        )]))
    }

    async fn controller_unpublish_volume(
        &self,
        volume_id: &str,
        node_id: &str,
    ) -> Result<(), CsiError> {
        if let Some(nodes) = self.lock().attached.get_mut(volume_id) {
            nodes.remove(node_id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_volume_goes_through_create_attach_stage_publish_and_back() {
        let plugin = SimVolumePlugin::new("sim.csi.orchestra.dev", "node-1");
        let volume = plugin
            .create_volume(&CreateVolumeRequest {
                name: "pv-1".into(),
                required_bytes: 5 << 30,
                ..CreateVolumeRequest::default()
            })
            .await
            .unwrap();
        assert_eq!(volume.capacity_bytes, 5 << 30);
        let again = plugin
            .create_volume(&CreateVolumeRequest {
                name: "pv-1".into(),
                required_bytes: 5 << 30,
                ..CreateVolumeRequest::default()
            })
            .await
            .unwrap();
        assert_eq!(
            again.volume_id, volume.volume_id,
            "create is idempotent by name"
        );
        let context = plugin
            .controller_publish_volume(&ControllerPublishVolumeRequest {
                volume_id: volume.volume_id.clone(),
                node_id: "node-1".into(),
                ..ControllerPublishVolumeRequest::default()
            })
            .await
            .unwrap();
        assert!(context.contains_key("devicePath"));
        plugin
            .node_stage_volume(&NodeStageVolumeRequest {
                volume_id: volume.volume_id.clone(),
                staging_target_path: "/staging/pv-1".into(),
                ..NodeStageVolumeRequest::default()
            })
            .await
            .unwrap();
        plugin
            .node_publish_volume(&NodePublishVolumeRequest {
                volume_id: volume.volume_id.clone(),
                target_path: "/pods/a/volumes/data".into(),
                ..NodePublishVolumeRequest::default()
            })
            .await
            .unwrap();
        assert!(
            plugin
                .node_unstage_volume(&volume.volume_id, "/staging/pv-1")
                .await
                .is_err(),
            "a published volume cannot be unstaged"
        );
        assert!(plugin.delete_volume(&volume.volume_id).await.is_err());
        plugin
            .node_unpublish_volume(&volume.volume_id, "/pods/a/volumes/data")
            .await
            .unwrap();
        plugin
            .node_unstage_volume(&volume.volume_id, "/staging/pv-1")
            .await
            .unwrap();
        plugin
            .controller_unpublish_volume(&volume.volume_id, "node-1")
            .await
            .unwrap();
        plugin.delete_volume(&volume.volume_id).await.unwrap();
        assert!(plugin.published().is_empty());
    }
}
