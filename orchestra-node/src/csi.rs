//! The Container Storage Interface, as a Rust trait.
//!
//! A CSI driver has two halves. The *controller* half creates and deletes volumes and makes
//! them available to a node (`CreateVolume`, `DeleteVolume`, `ControllerPublishVolume` —
//! "attach"); the *node* half, which the kubelet calls, mounts a volume once per node
//! (`NodeStageVolume`) and then into each pod that uses it (`NodePublishVolume`), and undoes
//! both (`NodeUnpublishVolume`, `NodeUnstageVolume`). [`VolumePlugin`] mirrors those calls
//! and their messages; drivers without a controller half leave its calls at their
//! `Unimplemented` defaults.
//!
//! The agent publishes a pod's inline CSI volumes (`spec.volumes[].csi`) through the plugin
//! registered for the volume's driver before it starts the pod's containers, and unpublishes
//! them when the pod is gone, as Kubernetes' kubelet does for CSI ephemeral volumes.

use std::collections::BTreeMap;

use async_trait::async_trait;
use thiserror::Error;

/// What went wrong in a CSI call, after CSI's gRPC codes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CsiError {
    /// The volume does not exist (`NOT_FOUND`).
    #[error("volume {0:?} not found")]
    NotFound(String),
    /// The request is malformed (`INVALID_ARGUMENT`).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The volume exists with incompatible parameters (`ALREADY_EXISTS`).
    #[error("volume {0:?} exists with other parameters")]
    AlreadyExists(String),
    /// The driver ran out of capacity (`RESOURCE_EXHAUSTED`).
    #[error("out of capacity: {0}")]
    ResourceExhausted(String),
    /// The volume is not in a state that allows the call (`FAILED_PRECONDITION`).
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// The driver does not implement the call (`UNIMPLEMENTED`).
    #[error("not implemented: {0}")]
    Unimplemented(&'static str),
    /// Anything else (`INTERNAL`).
    #[error("internal error: {0}")]
    Internal(String),
}

/// How a volume is used (`VolumeCapability`): as a mounted filesystem or a raw block device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeCapability {
    /// A mounted filesystem.
    Mount {
        /// Filesystem type (`ext4`); empty for the driver's default.
        fs_type: String,
        /// Mount flags.
        mount_flags: Vec<String>,
    },
    /// A raw block device.
    Block,
}

impl Default for VolumeCapability {
    fn default() -> Self {
        Self::Mount {
            fs_type: String::new(),
            mount_flags: Vec::new(),
        }
    }
}

/// `NodeStageVolume`: mount a volume once on the node, at a staging path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStageVolumeRequest {
    /// The volume.
    pub volume_id: String,
    /// What `ControllerPublishVolume` answered.
    pub publish_context: BTreeMap<String, String>,
    /// Where to stage it.
    pub staging_target_path: String,
    /// How it is used.
    pub volume_capability: VolumeCapability,
    /// Secrets for the stage.
    pub secrets: BTreeMap<String, String>,
    /// Attributes of the volume (from `CreateVolume`, or the inline volume's attributes).
    pub volume_context: BTreeMap<String, String>,
}

/// `NodePublishVolume`: make a volume available to one pod at its target path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodePublishVolumeRequest {
    /// The volume.
    pub volume_id: String,
    /// What `ControllerPublishVolume` answered.
    pub publish_context: BTreeMap<String, String>,
    /// Where it was staged, if the driver stages.
    pub staging_target_path: String,
    /// Where the pod sees it.
    pub target_path: String,
    /// How it is used.
    pub volume_capability: VolumeCapability,
    /// Read-only.
    pub readonly: bool,
    /// Secrets for the publish.
    pub secrets: BTreeMap<String, String>,
    /// Attributes of the volume; for an inline ephemeral volume also the pod's identity
    /// (`csi.storage.k8s.io/pod.name`, `…/pod.namespace`, `…/pod.uid`,
    /// `csi.storage.k8s.io/ephemeral: "true"`).
    pub volume_context: BTreeMap<String, String>,
}

/// `CreateVolume`: provision a volume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateVolumeRequest {
    /// A name that makes the call idempotent (the PersistentVolume's name).
    pub name: String,
    /// At least this many bytes.
    pub required_bytes: i64,
    /// At most this many bytes (0: no limit).
    pub limit_bytes: i64,
    /// How it will be used.
    pub volume_capabilities: Vec<VolumeCapability>,
    /// StorageClass parameters.
    pub parameters: BTreeMap<String, String>,
    /// Secrets for the call.
    pub secrets: BTreeMap<String, String>,
}

/// A provisioned volume (`Volume`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Volume {
    /// Its id.
    pub volume_id: String,
    /// Its size in bytes.
    pub capacity_bytes: i64,
    /// Attributes the node calls receive as `volume_context`.
    pub volume_context: BTreeMap<String, String>,
    /// Topology segments it is reachable from (`topology.kubernetes.io/zone=…`).
    pub accessible_topology: Vec<BTreeMap<String, String>>,
}

/// `ControllerPublishVolume`: make a volume available on a node ("attach").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControllerPublishVolumeRequest {
    /// The volume.
    pub volume_id: String,
    /// The node, as `NodeGetInfo` named it.
    pub node_id: String,
    /// How it is used.
    pub volume_capability: VolumeCapability,
    /// Read-only.
    pub readonly: bool,
    /// Secrets for the call.
    pub secrets: BTreeMap<String, String>,
    /// Attributes of the volume.
    pub volume_context: BTreeMap<String, String>,
}

/// What `NodeGetInfo` answers: how the driver names this node and what it can hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// The driver's id for this node.
    pub node_id: String,
    /// How many volumes the node can hold (0: no limit).
    pub max_volumes_per_node: i64,
    /// The node's topology segments.
    pub accessible_topology: BTreeMap<String, String>,
}

/// A CSI driver.
#[async_trait]
pub trait VolumePlugin: Send + Sync {
    /// The driver's name (`csi.example.com`), as pod specs name it.
    fn driver_name(&self) -> &str;

    /// The driver's view of this node (`NodeGetInfo`).
    async fn node_get_info(&self) -> Result<NodeInfo, CsiError>;

    /// Whether the driver stages volumes before publishing them (its `STAGE_UNSTAGE_VOLUME`
    /// node capability).
    fn stages_volumes(&self) -> bool {
        false
    }

    /// Mounts a volume at its node-wide staging path (`NodeStageVolume`).
    async fn node_stage_volume(&self, request: &NodeStageVolumeRequest) -> Result<(), CsiError>;

    /// Undoes `node_stage_volume` (`NodeUnstageVolume`).
    async fn node_unstage_volume(
        &self,
        volume_id: &str,
        staging_target_path: &str,
    ) -> Result<(), CsiError>;

    /// Makes a volume available at a pod's target path (`NodePublishVolume`); idempotent.
    async fn node_publish_volume(&self, request: &NodePublishVolumeRequest)
    -> Result<(), CsiError>;

    /// Undoes `node_publish_volume` (`NodeUnpublishVolume`); unpublishing what is not
    /// published succeeds.
    async fn node_unpublish_volume(
        &self,
        volume_id: &str,
        target_path: &str,
    ) -> Result<(), CsiError>;

    /// Provisions a volume (`CreateVolume`).
    async fn create_volume(&self, request: &CreateVolumeRequest) -> Result<Volume, CsiError> {
        let _ = request;
        Err(CsiError::Unimplemented("CreateVolume"))
    }

    /// Deletes a volume (`DeleteVolume`); deleting an unknown volume succeeds.
    async fn delete_volume(&self, volume_id: &str) -> Result<(), CsiError> {
        let _ = volume_id;
        Err(CsiError::Unimplemented("DeleteVolume"))
    }

    /// Attaches a volume to a node; answers the publish context the node calls receive
    /// (`ControllerPublishVolume`).
    async fn controller_publish_volume(
        &self,
        request: &ControllerPublishVolumeRequest,
    ) -> Result<BTreeMap<String, String>, CsiError> {
        let _ = request;
        Err(CsiError::Unimplemented("ControllerPublishVolume"))
    }

    /// Detaches a volume from a node (`ControllerUnpublishVolume`).
    async fn controller_unpublish_volume(
        &self,
        volume_id: &str,
        node_id: &str,
    ) -> Result<(), CsiError> {
        let _ = (volume_id, node_id);
        Err(CsiError::Unimplemented("ControllerUnpublishVolume"))
    }
}
