//! The errors of CRI calls, shaped after the gRPC status codes a CRI runtime answers with.

use thiserror::Error;

/// What went wrong in a CRI call. The variants follow the gRPC codes CRI runtimes use, so a
/// remote runtime's status maps onto them one to one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CriError {
    /// The sandbox, container or image does not exist (`NOT_FOUND`).
    #[error("{kind} {id:?} not found")]
    NotFound {
        /// What was looked up: `sandbox`, `container`, `image`.
        kind: &'static str,
        /// Its id or reference.
        id: String,
    },
    /// The request is malformed (`INVALID_ARGUMENT`).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The object is not in a state that allows the call (`FAILED_PRECONDITION`), e.g. starting
    /// a container whose sandbox is stopped.
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// The call did not finish in time (`DEADLINE_EXCEEDED`).
    #[error("deadline exceeded: {0}")]
    DeadlineExceeded(String),
    /// The runtime cannot serve the call now (`UNAVAILABLE`).
    #[error("runtime unavailable: {0}")]
    Unavailable(String),
    /// The runtime does not implement the call (`UNIMPLEMENTED`).
    #[error("not implemented: {0}")]
    Unimplemented(&'static str),
    /// Pulling an image failed (the kubelet reports `ErrImagePull`).
    #[error("failed to pull image {image:?}: {message}")]
    ImagePull {
        /// The image reference.
        image: String,
        /// Why.
        message: String,
    },
    /// Setting up or tearing down the pod network failed.
    #[error("network: {0}")]
    Network(String),
    /// Anything else (`INTERNAL`).
    #[error("internal error: {0}")]
    Internal(String),
}

impl CriError {
    /// A `NotFound` error for a sandbox.
    pub fn sandbox_not_found(id: &str) -> Self {
        Self::NotFound {
            kind: "sandbox",
            id: id.to_owned(),
        }
    }

    /// A `NotFound` error for a container.
    pub fn container_not_found(id: &str) -> Self {
        Self::NotFound {
            kind: "container",
            id: id.to_owned(),
        }
    }

    /// Whether the error says the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}
