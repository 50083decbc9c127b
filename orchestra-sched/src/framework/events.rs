//! Cluster events: what could make an unschedulable pod schedulable.
//!
//! A plugin that rejects pods says which changes of the cluster might change its mind
//! ([`EnqueueExtensions`](crate::framework::EnqueueExtensions)): NodeResourcesFit cares about
//! pods being deleted and nodes being added or getting more allocatable, TaintToleration about
//! node taints, and so on. When such an event happens, the scheduling queue moves the pods that
//! plugin rejected back to be retried — and leaves the others alone. An optional queueing hint
//! looks at the changed object and can still say "this change does not help this pod".

use std::fmt;
use std::ops::BitOr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::pod_info::PodInfo;

/// The kind of object an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventResource {
    /// A pod (assigned or not).
    Pod,
    /// A node.
    Node,
    /// A PersistentVolume.
    PersistentVolume,
    /// A PersistentVolumeClaim.
    PersistentVolumeClaim,
    /// A StorageClass.
    StorageClass,
    /// A Namespace.
    Namespace,
    /// Any kind: matches every event.
    Wildcard,
}

/// What happened to the object, as bit flags so a registration can cover several actions.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActionType(u32);

impl ActionType {
    /// Created.
    pub const ADD: ActionType = ActionType(1);
    /// Deleted.
    pub const DELETE: ActionType = ActionType(1 << 1);
    /// A node's allocatable resources changed.
    pub const UPDATE_NODE_ALLOCATABLE: ActionType = ActionType(1 << 2);
    /// A node's labels changed.
    pub const UPDATE_NODE_LABEL: ActionType = ActionType(1 << 3);
    /// A node's taints (or `spec.unschedulable`) changed.
    pub const UPDATE_NODE_TAINT: ActionType = ActionType(1 << 4);
    /// A node's conditions changed.
    pub const UPDATE_NODE_CONDITION: ActionType = ActionType(1 << 5);
    /// A node's annotations changed.
    pub const UPDATE_NODE_ANNOTATION: ActionType = ActionType(1 << 6);
    /// A pod's labels changed.
    pub const UPDATE_POD_LABEL: ActionType = ActionType(1 << 7);
    /// A pod's requests went down.
    pub const UPDATE_POD_SCALE_DOWN: ActionType = ActionType(1 << 8);
    /// A pod's tolerations changed.
    pub const UPDATE_POD_TOLERATIONS: ActionType = ActionType(1 << 9);
    /// A pod's last scheduling gate was removed.
    pub const UPDATE_POD_SCHEDULING_GATES_ELIMINATED: ActionType = ActionType(1 << 10);
    /// Any other update.
    pub const UPDATE_OTHER: ActionType = ActionType(1 << 11);
    /// Any update.
    pub const UPDATE: ActionType = ActionType(((1 << 12) - 1) & !0b11);
    /// Anything.
    pub const ALL: ActionType = ActionType((1 << 12) - 1);

    /// Whether the two share an action.
    pub fn intersects(self, other: ActionType) -> bool {
        self.0 & other.0 != 0
    }
}

impl BitOr for ActionType {
    type Output = ActionType;
    fn bitor(self, rhs: ActionType) -> ActionType {
        ActionType(self.0 | rhs.0)
    }
}

impl fmt::Debug for ActionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActionType({:#b})", self.0)
    }
}

/// An event of the cluster, or the kind of events a plugin registers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClusterEvent {
    /// The kind of object.
    pub resource: EventResource,
    /// What happened.
    pub action: ActionType,
}

impl ClusterEvent {
    /// An event.
    pub const fn new(resource: EventResource, action: ActionType) -> ClusterEvent {
        ClusterEvent { resource, action }
    }

    /// The event Kubernetes uses when unschedulable pods time out (every plugin "registers"
    /// for it).
    pub const UNSCHEDULABLE_TIMEOUT: ClusterEvent =
        ClusterEvent::new(EventResource::Wildcard, ActionType::ALL);

    /// Whether `self` (a registration) covers `event`.
    pub fn covers(&self, event: &ClusterEvent) -> bool {
        (self.resource == EventResource::Wildcard
            || event.resource == EventResource::Wildcard
            || self.resource == event.resource)
            && self.action.intersects(event.action)
    }
}

/// The object an event changed, for queueing hints.
#[derive(Debug, Clone)]
pub enum EventObject {
    /// A pod.
    Pod(Arc<Pod>),
    /// A node.
    Node(Arc<Node>),
    /// Something else: hints cannot inspect it.
    Other,
}

/// A queueing hint's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueingHint {
    /// The change may make the pod schedulable: retry it.
    Queue,
    /// The change does not help this pod.
    Skip,
}

/// A function deciding whether an event helps a pod the plugin rejected; receives the pod and
/// the object before and after the change (`None` for an add or a delete respectively).
pub type QueueingHintFn =
    Arc<dyn Fn(&PodInfo, Option<&EventObject>, Option<&EventObject>) -> QueueingHint + Send + Sync>;

/// A registration: an event kind and an optional hint.
#[derive(Clone)]
pub struct ClusterEventWithHint {
    /// The events.
    pub event: ClusterEvent,
    /// The hint; `None` means always retry.
    pub hint: Option<QueueingHintFn>,
}

impl ClusterEventWithHint {
    /// A registration without a hint.
    pub fn new(resource: EventResource, action: ActionType) -> ClusterEventWithHint {
        ClusterEventWithHint {
            event: ClusterEvent::new(resource, action),
            hint: None,
        }
    }

    /// A registration with a hint.
    pub fn with_hint(
        resource: EventResource,
        action: ActionType,
        hint: impl Fn(&PodInfo, Option<&EventObject>, Option<&EventObject>) -> QueueingHint
        + Send
        + Sync
        + 'static,
    ) -> ClusterEventWithHint {
        ClusterEventWithHint {
            event: ClusterEvent::new(resource, action),
            hint: Some(Arc::new(hint)),
        }
    }
}

impl fmt::Debug for ClusterEventWithHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterEventWithHint")
            .field("event", &self.event)
            .field("hint", &self.hint.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_cover_matching_events() {
        let reg = ClusterEvent::new(
            EventResource::Node,
            ActionType::ADD | ActionType::UPDATE_NODE_TAINT,
        );
        assert!(reg.covers(&ClusterEvent::new(
            EventResource::Node,
            ActionType::UPDATE_NODE_TAINT
        )));
        assert!(!reg.covers(&ClusterEvent::new(
            EventResource::Node,
            ActionType::UPDATE_NODE_LABEL
        )));
        assert!(!reg.covers(&ClusterEvent::new(EventResource::Pod, ActionType::ADD)));
        assert!(reg.covers(&ClusterEvent::UNSCHEDULABLE_TIMEOUT));
        assert!(ActionType::UPDATE.intersects(ActionType::UPDATE_POD_LABEL));
        assert!(!ActionType::UPDATE.intersects(ActionType::ADD));
    }
}
