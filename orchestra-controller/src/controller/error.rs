//! What the runtime asks of a reconcile's error: a text for the log and, when there is one,
//! the API server's answer behind it, so that routine failures are told apart from real ones.
//!
//! A write made from the cache can be one revision behind: the API server refuses it with
//! 409 Conflict (optimistic concurrency on `resourceVersion`), and the next reconcile, a
//! back-off later, reads the newer object and converges. Kubernetes treats this as routine —
//! its controllers requeue such a failure without raising their voice (client-go's
//! `apierrors.IsConflict`) — so the runtime logs a reconcile that failed with a conflict at
//! `debug` and every other failure at `warn`. Both are handed to the error policy (the
//! default retries with the queue's per-key back-off) and counted as errors in the metrics.
//!
//! ```
//! use orchestra_api::{Status, StatusReason};
//! use orchestra_controller::controller::ReconcileError;
//!
//! let conflict = Status::failure(StatusReason::Conflict, "the object has been modified").with_code(409);
//! assert!(conflict.is_conflict());
//! assert!(!"the image is missing".to_owned().is_conflict());
//!
//! // Your own error type opts in, saying where the server's answer is.
//! #[derive(Debug, thiserror::Error)]
//! enum MyError {
//!     #[error(transparent)]
//!     Api(#[from] Status),
//!     #[error("the spec names no image")]
//!     NoImage,
//! }
//! impl ReconcileError for MyError {
//!     fn status(&self) -> Option<&Status> {
//!         match self {
//!             Self::Api(status) => Some(status),
//!             Self::NoImage => None,
//!         }
//!     }
//! }
//! assert!(MyError::from(conflict).is_conflict());
//! ```

use std::fmt;

use orchestra_api::Status;

use crate::finalizer;

/// The error of a reconcile: its text, and the API server's answer behind it if there is
/// one. Implemented for [`Status`], `String`, `&'static str`, boxed standard errors and
/// [`finalizer::Error`]; a type of your own implements it in one line (`impl ReconcileError
/// for MyError {}`), or tells where its [`Status`] is, so that its conflicts are recognised.
/// See the [module documentation](self).
pub trait ReconcileError: fmt::Display + Send + 'static {
    /// The API server's answer behind this error, if any (default: none).
    fn status(&self) -> Option<&Status> {
        None
    }

    /// Whether this is a 409 Conflict, which the runtime treats as routine.
    fn is_conflict(&self) -> bool {
        self.status().is_some_and(|status| status.code == 409)
    }
}

impl ReconcileError for Status {
    fn status(&self) -> Option<&Status> {
        Some(self)
    }
}

impl ReconcileError for String {}

impl ReconcileError for &'static str {}

impl ReconcileError for Box<dyn std::error::Error + Send + Sync> {
    /// The first [`Status`] on the error's `source` chain.
    fn status(&self) -> Option<&Status> {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&**self);
        while let Some(error) = next {
            if let Some(status) = error.downcast_ref::<Status>() {
                return Some(status);
            }
            next = error.source();
        }
        None
    }
}

impl<E: ReconcileError> ReconcileError for finalizer::Error<E> {
    fn status(&self) -> Option<&Status> {
        match self {
            Self::Apply(error) | Self::Cleanup(error) => error.status(),
            Self::AddFinalizer { status, .. } | Self::RemoveFinalizer { status, .. } => {
                Some(status)
            }
            Self::Unusable(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestra_api::StatusReason;

    fn conflict() -> Status {
        Status::failure(
            StatusReason::Conflict,
            "Operation cannot be fulfilled on configmaps \"a\": the object has been modified",
        )
        .with_code(409)
    }

    #[test]
    fn conflicts_are_recognised_through_the_wrappers_the_runtime_knows() {
        assert!(conflict().is_conflict());
        assert!(!Status::not_found("", "configmaps", "a").is_conflict());
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(conflict());
        assert!(boxed.is_conflict());
        let wrapped = finalizer::Error::Apply(conflict());
        assert!(wrapped.is_conflict());
        let removing: finalizer::Error<String> = finalizer::Error::RemoveFinalizer {
            finalizer: "example.com/cleanup".into(),
            status: conflict(),
        };
        assert!(removing.is_conflict());
        assert!(!finalizer::Error::Cleanup("disk full".to_owned()).is_conflict());
        assert!(!"plain text".is_conflict());
    }
}
