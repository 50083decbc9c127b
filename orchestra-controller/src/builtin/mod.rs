//! The built-in controllers of the controller manager, each behaving as its Kubernetes v1.33
//! counterpart. They use only the public runtime of this crate — shared informers, the
//! [`Controller`](crate::controller::Controller) builder, the [`Recorder`](crate::events::Recorder)
//! — and talk to the cluster only through the [`Client`](orchestra_api::Client) trait, so every
//! write they make passes validation, admission and optimistic concurrency like any user's, and
//! the same controller runs in-process or in another process over HTTP.
//!
//! | module | what it reconciles |
//! |---|---|
//! | [`replicaset`] | ReplicaSets and ReplicationControllers: pods to match `replicas`, adoption, status |
//! | [`deployment`] | Deployments: rolling update and recreate, rollback, pause, progress conditions |
//! | [`endpointslice`] | Services: their EndpointSlices and the legacy Endpoints mirror |
//! | [`node_lifecycle`] | Nodes: Ready=Unknown on missed leases, NoExecute taints, taint-based eviction |
//! | [`node_ipam`] | Nodes: a `podCIDR` per node from the cluster CIDR |
//! | [`namespace`] | Namespaces: deleting everything in a terminating namespace |
//! | [`garbage_collector`] | ownerReferences: background, foreground and orphan deletion |
//! | [`serviceaccount`] | Namespaces: a `default` ServiceAccount in each |
//!
//! [`pod_state`] and [`ownership`] hold the pod-readiness and controller-reference rules
//! several of them share.

pub mod deployment;
pub mod endpointslice;
pub mod garbage_collector;
pub mod namespace;
pub mod node_ipam;
pub mod node_lifecycle;
pub mod ownership;
pub mod pod_state;
pub mod replicaset;
pub mod serviceaccount;
