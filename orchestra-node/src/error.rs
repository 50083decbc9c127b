//! The agent's errors.

use orchestra_api::Status;
use thiserror::Error;

use crate::cni::CniError;
use crate::cri::CriError;
use crate::csi::CsiError;

/// What went wrong in the node agent.
#[derive(Debug, Error)]
pub enum NodeError {
    /// The configuration is unusable; the message names the setting.
    #[error("invalid node configuration: {0}")]
    InvalidConfig(String),
    /// The agent was built without something it needs.
    #[error("the node agent needs {0}; set it on the builder")]
    Missing(&'static str),
    /// A request to the API server failed.
    #[error("API request failed: {0}")]
    Api(#[from] Status),
    /// A CRI call failed.
    #[error("container runtime: {0}")]
    Runtime(#[from] CriError),
    /// A CNI call failed.
    #[error("network plugin: {0}")]
    Network(#[from] CniError),
    /// A CSI call failed.
    #[error("volume plugin: {0}")]
    Volume(#[from] CsiError),
    /// A static pod manifest could not be used.
    #[error("static pod manifest {path}: {message}")]
    Manifest {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

impl From<NodeError> for Status {
    /// The error as a Kubernetes `Status`: configuration problems are 422 Invalid, API
    /// failures keep their own status, the rest are 500.
    fn from(error: NodeError) -> Self {
        match error {
            NodeError::Api(status) => status,
            NodeError::InvalidConfig(message) => Status::failure(
                orchestra_api::StatusReason::Invalid,
                format!("invalid node configuration: {message}"),
            )
            .with_code(422),
            other => Status::internal(other),
        }
    }
}
