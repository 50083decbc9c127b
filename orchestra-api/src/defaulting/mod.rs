//! Defaulting as Kubernetes does it (being written).

/// Fills in defaults.
pub fn default_object(_object: &mut dyn crate::Object) {}
