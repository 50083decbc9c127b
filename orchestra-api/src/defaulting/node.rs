//! Node defaults: a node that reports a capacity but no allocatable amounts can allocate its
//! whole capacity; reported amounts are rounded up to milli precision.

use k8s_openapi::api::core::v1::Node;

use super::resources::default_resource_list;

/// Defaults a Node's status: `allocatable` copied from `capacity` when absent, both rounded.
pub fn default_node(node: &mut Node) {
    let Some(status) = &mut node.status else {
        return;
    };
    if status.allocatable.is_none() {
        // An empty list is invisible on the wire, so only a non-empty capacity is copied.
        status.allocatable = status.capacity.clone().filter(|c| !c.is_empty());
    }
    default_resource_list(&mut status.capacity);
    default_resource_list(&mut status.allocatable);
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NodeStatus;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    #[test]
    fn allocatable_defaults_to_capacity() {
        let capacity = [("cpu".to_string(), Quantity("4".into()))].into();
        let mut node = Node {
            status: Some(NodeStatus {
                capacity: Some(capacity),
                ..Default::default()
            }),
            ..Default::default()
        };
        default_node(&mut node);
        let status = node.status.unwrap_or_default();
        assert_eq!(status.allocatable, status.capacity);
    }
}
