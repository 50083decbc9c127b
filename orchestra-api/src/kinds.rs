//! The one table of served kinds.
//!
//! Every kind Orchestra serves is described once, here, by a [`ResourceKind`]: its group,
//! version, kind, plural and singular names, short names, categories, scope, verbs,
//! subresources, the fields its field selectors accept and its storage key prefix. The API
//! server derives discovery and routing from this table and the store derives its key layout
//! from it; nothing else lists kinds.
//!
//! ```
//! use orchestra_api::kinds::{self, Scope};
//! let deployments = kinds::lookup("apps", "deployments").unwrap();
//! assert_eq!(deployments.kind, "Deployment");
//! assert_eq!(deployments.scope, Scope::Namespaced);
//! assert_eq!(deployments.key("default", "web"), "/registry/deployments/default/web");
//! assert!(kinds::by_short_name("deploy").is_some());
//! ```

use std::borrow::Cow;

use crate::object::{ObjectCodec, TypedCodec};

/// Whether objects of a kind live in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Objects live in a namespace (`/api/v1/namespaces/{ns}/pods/{name}`).
    Namespaced,
    /// Objects are cluster-wide (`/api/v1/nodes/{name}`).
    Cluster,
}

/// The verbs a kind supports, as a small bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verbs(u16);

impl Verbs {
    /// `get`
    pub const GET: Verbs = Verbs(1);
    /// `list`
    pub const LIST: Verbs = Verbs(1 << 1);
    /// `watch`
    pub const WATCH: Verbs = Verbs(1 << 2);
    /// `create`
    pub const CREATE: Verbs = Verbs(1 << 3);
    /// `update`
    pub const UPDATE: Verbs = Verbs(1 << 4);
    /// `patch`
    pub const PATCH: Verbs = Verbs(1 << 5);
    /// `delete`
    pub const DELETE: Verbs = Verbs(1 << 6);
    /// `deletecollection`
    pub const DELETE_COLLECTION: Verbs = Verbs(1 << 7);
    /// Every verb: what almost every kind supports.
    pub const ALL: Verbs = Verbs(0xff);
    /// Only `create` (e.g. `bindings`).
    pub const CREATE_ONLY: Verbs = Verbs::CREATE;

    const NAMES: [(Verbs, &'static str); 8] = [
        (Verbs::CREATE, "create"),
        (Verbs::DELETE, "delete"),
        (Verbs::DELETE_COLLECTION, "deletecollection"),
        (Verbs::GET, "get"),
        (Verbs::LIST, "list"),
        (Verbs::PATCH, "patch"),
        (Verbs::UPDATE, "update"),
        (Verbs::WATCH, "watch"),
    ];

    /// Whether every verb in `other` is in this set.
    pub const fn contains(self, other: Verbs) -> bool {
        self.0 & other.0 == other.0
    }

    /// The verbs by name, sorted as Kubernetes' discovery lists them.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(verb, _)| self.contains(*verb))
            .map(|(_, name)| name)
    }

    /// The verb with the given name.
    pub fn from_name(name: &str) -> Option<Verbs> {
        Self::NAMES
            .into_iter()
            .find(|(_, n)| *n == name)
            .map(|(v, _)| v)
    }
}

/// A subresource of a kind, such as `status` or `scale`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubresourceKind {
    /// The path segment after the object's name (`status`, `scale`, `binding`).
    pub name: Cow<'static, str>,
    /// The kind of the subresource's body (`Pod` for pods/status, `Scale` for
    /// deployments/scale).
    pub kind: Cow<'static, str>,
    /// Group of the body's kind, when it differs from the parent's (`autoscaling` for scale).
    pub group: Cow<'static, str>,
    /// Version of the body's kind, when it differs from the parent's.
    pub version: Cow<'static, str>,
    /// The verbs the subresource supports.
    pub verbs: Verbs,
}

/// Everything Orchestra knows about one served kind.
#[derive(Debug, Clone)]
pub struct ResourceKind {
    /// API group; empty for the core group.
    pub group: Cow<'static, str>,
    /// API version within the group.
    pub version: Cow<'static, str>,
    /// Kind, e.g. `Deployment`.
    pub kind: Cow<'static, str>,
    /// Kind of its list, e.g. `DeploymentList`.
    pub list_kind: Cow<'static, str>,
    /// Plural resource name used in URLs, e.g. `deployments`.
    pub plural: Cow<'static, str>,
    /// Singular name, e.g. `deployment`.
    pub singular: Cow<'static, str>,
    /// Short names kubectl accepts, e.g. `deploy`.
    pub short_names: Cow<'static, [&'static str]>,
    /// Categories, e.g. `all`.
    pub categories: Cow<'static, [&'static str]>,
    /// Namespaced or cluster-wide.
    pub scope: Scope,
    /// Verbs on the resource itself.
    pub verbs: Verbs,
    /// Its subresources.
    pub subresources: Cow<'static, [SubresourceKind]>,
    /// Field labels its field selectors accept (beyond none: always includes
    /// `metadata.name` and, if namespaced, `metadata.namespace`).
    pub selectable_fields: Cow<'static, [&'static str]>,
    /// Key prefix under `/registry/`, as Kubernetes lays out etcd (`pods`, `minions`,
    /// `services/specs`, `apiextensions.k8s.io/customresourcedefinitions`).
    pub storage_prefix: Cow<'static, str>,
    /// How to decode and encode objects of this kind.
    pub codec: &'static dyn ObjectCodec,
}

impl PartialEq for ResourceKind {
    fn eq(&self, other: &Self) -> bool {
        self.group == other.group && self.version == other.version && self.kind == other.kind
    }
}
impl Eq for ResourceKind {}

impl ResourceKind {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether objects of this kind live in namespaces.
    pub fn is_namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }

    /// The subresource with the given name.
    pub fn subresource(&self, name: &str) -> Option<&SubresourceKind> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// The storage key of one object: `/registry/<prefix>/<namespace>/<name>` (or without the
    /// namespace for cluster-scoped kinds).
    pub fn key(&self, namespace: &str, name: &str) -> String {
        match self.scope {
            Scope::Namespaced => format!("/registry/{}/{namespace}/{name}", self.storage_prefix),
            Scope::Cluster => format!("/registry/{}/{name}", self.storage_prefix),
        }
    }

    /// The key prefix that holds every object of this kind in `namespace` (or in all
    /// namespaces when `None`), ending in `/`.
    pub fn key_prefix(&self, namespace: Option<&str>) -> String {
        match (self.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => format!("/registry/{}/{ns}/", self.storage_prefix),
            _ => format!("/registry/{}/", self.storage_prefix),
        }
    }

    /// Whether `field` may be used in a field selector on this kind.
    pub fn accepts_field(&self, field: &str) -> bool {
        field == "metadata.name"
            || (self.is_namespaced() && field == "metadata.namespace")
            || self.selectable_fields.contains(&field)
    }
}

/// Marks a served Rust type and links it to its row of the table.
pub trait Served:
    crate::object::Object + Clone + serde::Serialize + serde::de::DeserializeOwned
{
    /// The table row describing this type's kind.
    fn resource_kind() -> &'static ResourceKind;
}

const fn status_sub() -> SubresourceKind {
    SubresourceKind {
        name: Cow::Borrowed("status"),
        kind: Cow::Borrowed(""),
        group: Cow::Borrowed(""),
        version: Cow::Borrowed(""),
        verbs: Verbs(Verbs::GET.0 | Verbs::PATCH.0 | Verbs::UPDATE.0),
    }
}

const fn scale_sub() -> SubresourceKind {
    SubresourceKind {
        name: Cow::Borrowed("scale"),
        kind: Cow::Borrowed("Scale"),
        group: Cow::Borrowed("autoscaling"),
        version: Cow::Borrowed("v1"),
        verbs: Verbs(Verbs::GET.0 | Verbs::PATCH.0 | Verbs::UPDATE.0),
    }
}

const fn create_sub(
    name: &'static str,
    kind: &'static str,
    group: &'static str,
    version: &'static str,
) -> SubresourceKind {
    SubresourceKind {
        name: Cow::Borrowed(name),
        kind: Cow::Borrowed(kind),
        group: Cow::Borrowed(group),
        version: Cow::Borrowed(version),
        verbs: Verbs::CREATE,
    }
}

/// A subresource only replaced (`namespaces/finalize`), with the parent's kind as its body.
const fn update_sub(name: &'static str, kind: &'static str) -> SubresourceKind {
    SubresourceKind {
        name: Cow::Borrowed(name),
        kind: Cow::Borrowed(kind),
        group: Cow::Borrowed(""),
        version: Cow::Borrowed(""),
        verbs: Verbs::UPDATE,
    }
}

const fn get_sub(name: &'static str, kind: &'static str) -> SubresourceKind {
    SubresourceKind {
        name: Cow::Borrowed(name),
        kind: Cow::Borrowed(kind),
        group: Cow::Borrowed(""),
        version: Cow::Borrowed(""),
        verbs: Verbs::GET,
    }
}

macro_rules! served_kinds {
    ($(
        $static_name:ident: $ty:path {
            group: $group:literal, version: $version:literal, plural: $plural:literal,
            singular: $singular:literal, short: [$($short:literal),*], categories: [$($cat:literal),*],
            scope: $scope:ident, verbs: $verbs:expr, storage: $storage:literal,
            subresources: [$($sub:expr),* $(,)?] $(,)?
        }
    )*) => {
        $(
            #[doc = concat!("The table row for `", $plural, "`.")]
            pub static $static_name: ResourceKind = ResourceKind {
                group: Cow::Borrowed($group),
                version: Cow::Borrowed($version),
                kind: Cow::Borrowed(<$ty as k8s_openapi::Resource>::KIND),
                list_kind: Cow::Borrowed(<$ty as k8s_openapi::ListableResource>::LIST_KIND),
                plural: Cow::Borrowed($plural),
                singular: Cow::Borrowed($singular),
                short_names: Cow::Borrowed(&[$($short),*]),
                categories: Cow::Borrowed(&[$($cat),*]),
                scope: Scope::$scope,
                verbs: $verbs,
                subresources: Cow::Borrowed(&[$($sub),*]),
                selectable_fields: Cow::Borrowed(<$ty as crate::selectable_fields::SelectableFields>::FIELDS),
                storage_prefix: Cow::Borrowed($storage),
                codec: &TypedCodec::<$ty>::NEW,
            };

            impl Served for $ty {
                fn resource_kind() -> &'static ResourceKind {
                    &$static_name
                }
            }

            const _: () = {
                assert!(konst_str_eq(<$ty as k8s_openapi::Resource>::GROUP, $group));
                assert!(konst_str_eq(<$ty as k8s_openapi::Resource>::VERSION, $version));
                assert!(konst_str_eq(<$ty as k8s_openapi::Resource>::URL_PATH_SEGMENT, $plural));
            };
        )*

        /// Every built-in kind Orchestra serves, in discovery order.
        pub static BUILTIN: &[&ResourceKind] = &[$(&$static_name),*];
    };
}

/// `const` string equality, so the table is checked against `k8s-openapi` at compile time.
const fn konst_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

use k8s_openapi::api::{
    admissionregistration::v1 as admissionregistration, apps::v1 as apps,
    autoscaling::v2 as autoscaling, batch::v1 as batch, coordination::v1 as coordination,
    core::v1 as core, discovery::v1 as discovery, networking::v1 as networking,
    policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling, storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;

served_kinds! {
    // core/v1
    NAMESPACES: core::Namespace {
        group: "", version: "v1", plural: "namespaces", singular: "namespace", short: ["ns"], categories: [],
        scope: Cluster, verbs: Verbs::ALL, storage: "namespaces",
        subresources: [status_sub(), update_sub("finalize", "Namespace")],
    }
    NODES: core::Node {
        group: "", version: "v1", plural: "nodes", singular: "node", short: ["no"], categories: [],
        scope: Cluster, verbs: Verbs::ALL, storage: "minions",
        subresources: [status_sub()],
    }
    PODS: core::Pod {
        group: "", version: "v1", plural: "pods", singular: "pod", short: ["po"], categories: ["all"],
        scope: Namespaced, verbs: Verbs::ALL, storage: "pods",
        subresources: [
            status_sub(),
            create_sub("binding", "Binding", "", "v1"),
            create_sub("eviction", "Eviction", "policy", "v1"),
            get_sub("log", "Pod"),
            create_sub("exec", "PodExecOptions", "", "v1"),
        ],
    }
    SERVICES: core::Service {
        group: "", version: "v1", plural: "services", singular: "service", short: ["svc"], categories: ["all"],
        scope: Namespaced, verbs: Verbs::ALL, storage: "services/specs",
        subresources: [status_sub()],
    }
    ENDPOINTS: core::Endpoints {
        group: "", version: "v1", plural: "endpoints", singular: "endpoints", short: ["ep"], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "services/endpoints",
        subresources: [],
    }
    CONFIGMAPS: core::ConfigMap {
        group: "", version: "v1", plural: "configmaps", singular: "configmap", short: ["cm"], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "configmaps",
        subresources: [],
    }
    SECRETS: core::Secret {
        group: "", version: "v1", plural: "secrets", singular: "secret", short: [], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "secrets",
        subresources: [],
    }
    SERVICE_ACCOUNTS: core::ServiceAccount {
        group: "", version: "v1", plural: "serviceaccounts", singular: "serviceaccount", short: ["sa"], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "serviceaccounts",
        subresources: [],
    }
    PERSISTENT_VOLUMES: core::PersistentVolume {
        group: "", version: "v1", plural: "persistentvolumes", singular: "persistentvolume", short: ["pv"], categories: [],
        scope: Cluster, verbs: Verbs::ALL, storage: "persistentvolumes",
        subresources: [status_sub()],
    }
    PERSISTENT_VOLUME_CLAIMS: core::PersistentVolumeClaim {
        group: "", version: "v1", plural: "persistentvolumeclaims", singular: "persistentvolumeclaim", short: ["pvc"], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "persistentvolumeclaims",
        subresources: [status_sub()],
    }
    EVENTS: core::Event {
        group: "", version: "v1", plural: "events", singular: "event", short: ["ev"], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "events",
        subresources: [],
    }
    LIMIT_RANGES: core::LimitRange {
        group: "", version: "v1", plural: "limitranges", singular: "limitrange", short: ["limits"], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "limitranges",
        subresources: [],
    }
    RESOURCE_QUOTAS: core::ResourceQuota {
        group: "", version: "v1", plural: "resourcequotas", singular: "resourcequota", short: ["quota"], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "resourcequotas",
        subresources: [status_sub()],
    }
    REPLICATION_CONTROLLERS: core::ReplicationController {
        group: "", version: "v1", plural: "replicationcontrollers", singular: "replicationcontroller", short: ["rc"], categories: ["all"],
        scope: Namespaced, verbs: Verbs::ALL, storage: "controllers",
        subresources: [status_sub(), scale_sub()],
    }
    POD_TEMPLATES: core::PodTemplate {
        group: "", version: "v1", plural: "podtemplates", singular: "podtemplate", short: [], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "podtemplates",
        subresources: [],
    }
    // apps/v1
    DEPLOYMENTS: apps::Deployment {
        group: "apps", version: "v1", plural: "deployments", singular: "deployment", short: ["deploy"], categories: ["all"],
        scope: Namespaced, verbs: Verbs::ALL, storage: "deployments",
        subresources: [status_sub(), scale_sub()],
    }
    REPLICA_SETS: apps::ReplicaSet {
        group: "apps", version: "v1", plural: "replicasets", singular: "replicaset", short: ["rs"], categories: ["all"],
        scope: Namespaced, verbs: Verbs::ALL, storage: "replicasets",
        subresources: [status_sub(), scale_sub()],
    }
    STATEFUL_SETS: apps::StatefulSet {
        group: "apps", version: "v1", plural: "statefulsets", singular: "statefulset", short: ["sts"], categories: ["all"],
        scope: Namespaced, verbs: Verbs::ALL, storage: "statefulsets",
        subresources: [status_sub(), scale_sub()],
    }
    DAEMON_SETS: apps::DaemonSet {
        group: "apps", version: "v1", plural: "daemonsets", singular: "daemonset", short: ["ds"], categories: ["all"],
        scope: Namespaced, verbs: Verbs::ALL, storage: "daemonsets",
        subresources: [status_sub()],
    }
    CONTROLLER_REVISIONS: apps::ControllerRevision {
        group: "apps", version: "v1", plural: "controllerrevisions", singular: "controllerrevision", short: [], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "controllerrevisions",
        subresources: [],
    }
    // batch/v1
    JOBS: batch::Job {
        group: "batch", version: "v1", plural: "jobs", singular: "job", short: [], categories: ["all"],
        scope: Namespaced, verbs: Verbs::ALL, storage: "jobs",
        subresources: [status_sub()],
    }
    CRON_JOBS: batch::CronJob {
        group: "batch", version: "v1", plural: "cronjobs", singular: "cronjob", short: ["cj"], categories: ["all"],
        scope: Namespaced, verbs: Verbs::ALL, storage: "cronjobs",
        subresources: [status_sub()],
    }
    // autoscaling/v2
    HORIZONTAL_POD_AUTOSCALERS: autoscaling::HorizontalPodAutoscaler {
        group: "autoscaling", version: "v2", plural: "horizontalpodautoscalers", singular: "horizontalpodautoscaler", short: ["hpa"], categories: ["all"],
        scope: Namespaced, verbs: Verbs::ALL, storage: "horizontalpodautoscalers",
        subresources: [status_sub()],
    }
    // coordination.k8s.io/v1
    LEASES: coordination::Lease {
        group: "coordination.k8s.io", version: "v1", plural: "leases", singular: "lease", short: [], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "leases",
        subresources: [],
    }
    // discovery.k8s.io/v1
    ENDPOINT_SLICES: discovery::EndpointSlice {
        group: "discovery.k8s.io", version: "v1", plural: "endpointslices", singular: "endpointslice", short: [], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "endpointslices",
        subresources: [],
    }
    // networking.k8s.io/v1
    INGRESSES: networking::Ingress {
        group: "networking.k8s.io", version: "v1", plural: "ingresses", singular: "ingress", short: ["ing"], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "ingress",
        subresources: [status_sub()],
    }
    INGRESS_CLASSES: networking::IngressClass {
        group: "networking.k8s.io", version: "v1", plural: "ingressclasses", singular: "ingressclass", short: [], categories: [],
        scope: Cluster, verbs: Verbs::ALL, storage: "ingressclasses",
        subresources: [],
    }
    NETWORK_POLICIES: networking::NetworkPolicy {
        group: "networking.k8s.io", version: "v1", plural: "networkpolicies", singular: "networkpolicy", short: ["netpol"], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "networkpolicies",
        subresources: [],
    }
    // policy/v1
    POD_DISRUPTION_BUDGETS: policy::PodDisruptionBudget {
        group: "policy", version: "v1", plural: "poddisruptionbudgets", singular: "poddisruptionbudget", short: ["pdb"], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "poddisruptionbudgets",
        subresources: [status_sub()],
    }
    // rbac.authorization.k8s.io/v1
    ROLES: rbac::Role {
        group: "rbac.authorization.k8s.io", version: "v1", plural: "roles", singular: "role", short: [], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "roles",
        subresources: [],
    }
    ROLE_BINDINGS: rbac::RoleBinding {
        group: "rbac.authorization.k8s.io", version: "v1", plural: "rolebindings", singular: "rolebinding", short: [], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "rolebindings",
        subresources: [],
    }
    CLUSTER_ROLES: rbac::ClusterRole {
        group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterroles", singular: "clusterrole", short: [], categories: [],
        scope: Cluster, verbs: Verbs::ALL, storage: "clusterroles",
        subresources: [],
    }
    CLUSTER_ROLE_BINDINGS: rbac::ClusterRoleBinding {
        group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterrolebindings", singular: "clusterrolebinding", short: [], categories: [],
        scope: Cluster, verbs: Verbs::ALL, storage: "clusterrolebindings",
        subresources: [],
    }
    // scheduling.k8s.io/v1
    PRIORITY_CLASSES: scheduling::PriorityClass {
        group: "scheduling.k8s.io", version: "v1", plural: "priorityclasses", singular: "priorityclass", short: ["pc"], categories: [],
        scope: Cluster, verbs: Verbs::ALL, storage: "priorityclasses",
        subresources: [],
    }
    // storage.k8s.io/v1
    STORAGE_CLASSES: storage::StorageClass {
        group: "storage.k8s.io", version: "v1", plural: "storageclasses", singular: "storageclass", short: ["sc"], categories: [],
        scope: Cluster, verbs: Verbs::ALL, storage: "storageclasses",
        subresources: [],
    }
    VOLUME_ATTACHMENTS: storage::VolumeAttachment {
        group: "storage.k8s.io", version: "v1", plural: "volumeattachments", singular: "volumeattachment", short: [], categories: [],
        scope: Cluster, verbs: Verbs::ALL, storage: "volumeattachments",
        subresources: [status_sub()],
    }
    CSI_DRIVERS: storage::CSIDriver {
        group: "storage.k8s.io", version: "v1", plural: "csidrivers", singular: "csidriver", short: [], categories: [],
        scope: Cluster, verbs: Verbs::ALL, storage: "csidrivers",
        subresources: [],
    }
    CSI_NODES: storage::CSINode {
        group: "storage.k8s.io", version: "v1", plural: "csinodes", singular: "csinode", short: [], categories: [],
        scope: Cluster, verbs: Verbs::ALL, storage: "csinodes",
        subresources: [],
    }
    CSI_STORAGE_CAPACITIES: storage::CSIStorageCapacity {
        group: "storage.k8s.io", version: "v1", plural: "csistoragecapacities", singular: "csistoragecapacity", short: [], categories: [],
        scope: Namespaced, verbs: Verbs::ALL, storage: "csistoragecapacities",
        subresources: [],
    }
    // admissionregistration.k8s.io/v1
    VALIDATING_ADMISSION_POLICIES: admissionregistration::ValidatingAdmissionPolicy {
        group: "admissionregistration.k8s.io", version: "v1", plural: "validatingadmissionpolicies", singular: "validatingadmissionpolicy", short: [], categories: ["api-extensions"],
        scope: Cluster, verbs: Verbs::ALL, storage: "validatingadmissionpolicies",
        subresources: [status_sub()],
    }
    VALIDATING_ADMISSION_POLICY_BINDINGS: admissionregistration::ValidatingAdmissionPolicyBinding {
        group: "admissionregistration.k8s.io", version: "v1", plural: "validatingadmissionpolicybindings", singular: "validatingadmissionpolicybinding", short: [], categories: ["api-extensions"],
        scope: Cluster, verbs: Verbs::ALL, storage: "validatingadmissionpolicybindings",
        subresources: [],
    }
    VALIDATING_WEBHOOK_CONFIGURATIONS: admissionregistration::ValidatingWebhookConfiguration {
        group: "admissionregistration.k8s.io", version: "v1", plural: "validatingwebhookconfigurations", singular: "validatingwebhookconfiguration", short: [], categories: ["api-extensions"],
        scope: Cluster, verbs: Verbs::ALL, storage: "validatingwebhookconfigurations",
        subresources: [],
    }
    MUTATING_WEBHOOK_CONFIGURATIONS: admissionregistration::MutatingWebhookConfiguration {
        group: "admissionregistration.k8s.io", version: "v1", plural: "mutatingwebhookconfigurations", singular: "mutatingwebhookconfiguration", short: [], categories: ["api-extensions"],
        scope: Cluster, verbs: Verbs::ALL, storage: "mutatingwebhookconfigurations",
        subresources: [],
    }
    // apiextensions.k8s.io/v1
    CUSTOM_RESOURCE_DEFINITIONS: apiextensions::CustomResourceDefinition {
        group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions", singular: "customresourcedefinition", short: ["crd", "crds"], categories: ["api-extensions"],
        scope: Cluster, verbs: Verbs::ALL, storage: "apiextensions.k8s.io/customresourcedefinitions",
        subresources: [status_sub()],
    }
}

/// The built-in kind served under `group` with the given plural resource name.
pub fn lookup(group: &str, plural: &str) -> Option<&'static ResourceKind> {
    BUILTIN
        .iter()
        .copied()
        .find(|k| k.group == group && k.plural == plural)
}

/// The built-in kind with the given `apiVersion` and `kind` (`apps/v1`, `Deployment`).
pub fn lookup_kind(api_version: &str, kind: &str) -> Option<&'static ResourceKind> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    BUILTIN
        .iter()
        .copied()
        .find(|k| k.group == group && k.version == version && k.kind == kind)
}

/// The built-in kind a short name (`deploy`, `po`) stands for.
pub fn by_short_name(short: &str) -> Option<&'static ResourceKind> {
    BUILTIN
        .iter()
        .copied()
        .find(|k| k.short_names.contains(&short))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn plurals_and_short_names_are_unique_within_the_table() {
        let mut names = HashSet::new();
        for kind in BUILTIN {
            assert!(
                names.insert((kind.group.clone(), kind.plural.clone())),
                "{}",
                kind.plural
            );
        }
        let mut shorts = HashSet::new();
        for short in BUILTIN.iter().flat_map(|k| k.short_names.iter()) {
            assert!(shorts.insert(*short), "short name {short} appears twice");
        }
    }

    #[test]
    fn storage_keys_follow_kubernetes_etcd_layout() {
        assert_eq!(NODES.key("", "n1"), "/registry/minions/n1");
        assert_eq!(
            SERVICES.key("default", "web"),
            "/registry/services/specs/default/web"
        );
        assert_eq!(
            CUSTOM_RESOURCE_DEFINITIONS.key("", "crontabs.stable.example.com"),
            "/registry/apiextensions.k8s.io/customresourcedefinitions/crontabs.stable.example.com"
        );
        assert_eq!(PODS.key_prefix(None), "/registry/pods/");
        assert_eq!(
            PODS.key_prefix(Some("kube-system")),
            "/registry/pods/kube-system/"
        );
    }

    #[test]
    fn verbs_are_listed_in_discovery_order() {
        let verbs: Vec<_> = Verbs::ALL.names().collect();
        assert_eq!(
            verbs,
            [
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch"
            ]
        );
        assert!(!Verbs::CREATE_ONLY.contains(Verbs::GET));
    }

    #[test]
    fn lookups_agree_with_the_typed_link() {
        use k8s_openapi::api::apps::v1::Deployment;
        let kind = Deployment::resource_kind();
        assert_eq!(lookup_kind("apps/v1", "Deployment"), Some(kind));
        assert_eq!(kind.api_version(), "apps/v1");
        assert_eq!(kind.list_kind, "DeploymentList");
        assert!(PODS.accepts_field("spec.nodeName"));
        assert!(!NODES.accepts_field("metadata.namespace"));
    }
}
