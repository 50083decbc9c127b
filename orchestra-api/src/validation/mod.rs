//! Validation of objects with field paths, following Kubernetes' rules (being written).

mod field_error;

pub use field_error::{FieldError, FieldErrorKind, FieldErrors, FieldPath};

/// Validates an object about to be created.
pub fn validate_create(_object: &dyn crate::Object) -> FieldErrors {
    Vec::new()
}
