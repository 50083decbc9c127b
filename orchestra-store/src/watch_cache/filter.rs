//! What a list or watch asks for: a namespace, a label selector and a field selector, parsed
//! once and checked against objects without allocating.

use std::collections::BTreeMap;

use orchestra_api::{FieldSelector, LabelSelector, Object};

/// A parsed list/watch filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only objects in this namespace.
    pub namespace: Option<String>,
    /// Only objects whose labels match.
    pub labels: Option<LabelSelector>,
    /// Only objects whose fields match.
    pub fields: Option<FieldSelector>,
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

impl Filter {
    /// A filter that lets everything through.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Whether the filter lets every object of the namespace through.
    pub fn is_namespace_only(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
    }

    /// Whether `object` passes the filter.
    pub fn matches(&self, object: &dyn Object) -> bool {
        let meta = object.metadata();
        if let Some(ns) = &self.namespace
            && meta.namespace.as_deref().unwrap_or("") != ns
        {
            return false;
        }
        if let Some(labels) = &self.labels
            && !labels.matches(meta.labels.as_ref().unwrap_or(&NO_LABELS))
        {
            return false;
        }
        if let Some(fields) = &self.fields
            && !fields.matches(object)
        {
            return false;
        }
        true
    }
}
