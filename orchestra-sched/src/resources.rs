//! `Resource`: the amounts the scheduler adds and compares on its hot path.
//!
//! Kubernetes' scheduler keeps cpu, memory, ephemeral storage and the pod count as plain
//! integers and every other resource (extended resources such as `nvidia.com/gpu`, hugepages,
//! attachable volumes) in a map, "scalar resources". [`Resource`] does the same, with the
//! scalar resources in an [`orchestra_api::ResourceList`] so their arithmetic (saturating
//! adds, name order, no allocation once names are present) is the API crate's.
//!
//! [`pod_requests`] computes what a pod asks for the way Kubernetes v1.33's
//! `resource.PodRequests` does: app containers and restartable ("sidecar") init containers run
//! together and add up, each ordinary init container runs alone next to the sidecars started
//! before it, the pod needs the larger of the two, and the pod's overhead comes on top.
//! [`PodRequests::non_zero`] is the variant the scoring plugins use, where a container that
//! names no cpu (memory) request counts as 100 millicores (200 MiB), so that many
//! best-effort pods do not all land on one node.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use orchestra_api::{Quantity, ResourceList};

/// Millicores a container without a cpu request counts as when scoring (Kubernetes'
/// `DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Bytes a container without a memory request counts as when scoring (Kubernetes'
/// `DefaultMemoryRequest`, 200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Resource amounts in the scheduler's units: millicores, bytes, pods and whole units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Local ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// How many pods (a node's allocatable `pods`).
    pub allowed_pod_number: i64,
    /// Every other resource: extended resources, hugepages, attachable volumes.
    pub scalar: ResourceList,
}

impl Resource {
    /// Reads a Kubernetes resource list (a node's `status.allocatable`, a container's
    /// `resources.requests`). A quantity that does not parse counts as zero, as the scheduler
    /// only sees objects the API server validated.
    pub fn from_k8s(list: &BTreeMap<String, K8sQuantity>) -> Resource {
        let mut resource = Resource::default();
        resource.add_k8s(list);
        resource
    }

    /// Adds a Kubernetes resource list to these amounts.
    pub fn add_k8s(&mut self, list: &BTreeMap<String, K8sQuantity>) {
        for (name, quantity) in list {
            let Ok(quantity) = Quantity::try_from(quantity) else {
                continue;
            };
            self.add_named(name, &quantity);
        }
    }

    /// Adds one named amount.
    fn add_named(&mut self, name: &str, quantity: &Quantity) {
        let value = || quantity.checked_value().unwrap_or(i64::MAX);
        match name {
            "cpu" => {
                self.milli_cpu = self
                    .milli_cpu
                    .saturating_add(quantity.checked_milli_value().unwrap_or(i64::MAX))
            }
            "memory" => self.memory = self.memory.saturating_add(value()),
            "ephemeral-storage" => {
                self.ephemeral_storage = self.ephemeral_storage.saturating_add(value())
            }
            "pods" => self.allowed_pod_number = self.allowed_pod_number.saturating_add(value()),
            other => {
                let mut one = ResourceList::new();
                if one.set_quantity(other, quantity).is_ok() {
                    self.scalar.add(&one);
                }
            }
        }
    }

    /// Adds `other` resource by resource.
    pub fn add(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_add(other.ephemeral_storage);
        self.allowed_pod_number = self
            .allowed_pod_number
            .saturating_add(other.allowed_pod_number);
        if !other.scalar.is_empty() {
            self.scalar.add(&other.scalar);
        }
    }

    /// Subtracts `other` resource by resource (amounts may go negative only if the caller
    /// subtracts what it never added; the cache never does).
    pub fn sub(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory = self.memory.saturating_sub(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_sub(other.ephemeral_storage);
        self.allowed_pod_number = self
            .allowed_pod_number
            .saturating_sub(other.allowed_pod_number);
        if !other.scalar.is_empty() {
            let negated: ResourceList = other
                .scalar
                .iter()
                .map(|(name, amount)| (name.clone(), amount.saturating_neg()))
                .collect();
            self.scalar.add(&negated);
        }
    }

    /// Raises every amount to `other`'s where that is larger.
    pub fn max(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        self.allowed_pod_number = self.allowed_pod_number.max(other.allowed_pod_number);
        if !other.scalar.is_empty() {
            self.scalar.max(&other.scalar);
        }
    }

    /// The amount of a resource by its Kubernetes name, in the scheduler's unit.
    pub fn get(&self, name: &str) -> i64 {
        match name {
            "cpu" => self.milli_cpu,
            "memory" => self.memory,
            "ephemeral-storage" => self.ephemeral_storage,
            "pods" => self.allowed_pod_number,
            other => self.scalar.get(other),
        }
    }

    /// Whether the amount of `name` is recorded (cpu, memory, ephemeral storage and pods
    /// always are; scalar resources only when named).
    pub fn has(&self, name: &str) -> bool {
        matches!(name, "cpu" | "memory" | "ephemeral-storage" | "pods")
            || self.scalar.contains(name)
    }

    /// Whether nothing is requested: no cpu, memory, ephemeral storage, and no scalar
    /// resource named at all (Kubernetes checks the scalar map's length, not its amounts).
    pub fn is_empty_request(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.is_empty()
    }
}

/// What a pod asks for, computed once per pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodRequests {
    /// The requests as Kubernetes' resource fit sees them.
    pub requests: Resource,
    /// CPU in millicores with a container's missing cpu request counted as
    /// [`DEFAULT_MILLI_CPU_REQUEST`].
    pub non_zero_milli_cpu: i64,
    /// Memory in bytes with a container's missing memory request counted as
    /// [`DEFAULT_MEMORY_REQUEST`].
    pub non_zero_memory: i64,
}

impl PodRequests {
    /// The requests with the non-zero defaults applied to cpu and memory.
    pub fn non_zero(&self) -> Resource {
        let mut resource = self.requests.clone();
        resource.milli_cpu = self.non_zero_milli_cpu;
        resource.memory = self.non_zero_memory;
        resource
    }
}

/// Computes a pod's requests as Kubernetes v1.33's `resource.PodRequests` does (see the
/// module docs).
pub fn pod_requests(pod: &Pod) -> PodRequests {
    let Some(spec) = pod.spec.as_ref() else {
        return PodRequests::default();
    };
    let requests = aggregate(
        spec.containers.iter(),
        spec.init_containers.iter().flatten(),
        false,
    );
    let mut non_zero = aggregate(
        spec.containers.iter(),
        spec.init_containers.iter().flatten(),
        true,
    );
    let mut requests = requests;
    if let Some(overhead) = spec.overhead.as_ref() {
        requests.add_k8s(overhead);
        non_zero.add_k8s(overhead);
    }
    PodRequests {
        non_zero_milli_cpu: non_zero.milli_cpu,
        non_zero_memory: non_zero.memory,
        requests,
    }
}

/// A container's requests, optionally with the scoring defaults for a missing cpu or memory
/// request (Kubernetes' `NonMissingContainerRequests`: "missing" means the key is absent).
fn container_requests(container: &Container, non_missing_defaults: bool) -> Resource {
    let list = container
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref());
    let mut resource = list.map(Resource::from_k8s).unwrap_or_default();
    if non_missing_defaults {
        if !list.is_some_and(|l| l.contains_key("cpu")) {
            resource.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !list.is_some_and(|l| l.contains_key("memory")) {
            resource.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    resource
}

fn aggregate<'a>(
    containers: impl Iterator<Item = &'a Container>,
    init_containers: impl Iterator<Item = &'a Container>,
    non_missing_defaults: bool,
) -> Resource {
    let mut total = Resource::default();
    for container in containers {
        total.add(&container_requests(container, non_missing_defaults));
    }
    let mut sidecars = Resource::default();
    let mut init_peak = Resource::default();
    for container in init_containers {
        let own = container_requests(container, non_missing_defaults);
        let is_sidecar = container.restart_policy.as_deref() == Some("Always");
        let while_running = if is_sidecar {
            total.add(&own);
            sidecars.add(&own);
            sidecars.clone()
        } else {
            let mut with_sidecars = own;
            with_sidecars.add(&sidecars);
            with_sidecars
        };
        init_peak.max(&while_running);
    }
    total.max(&init_peak);
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "spec": spec}))
            .expect("test pod")
    }

    #[test]
    fn init_containers_take_the_max_and_app_containers_add_up() {
        // The example of Kubernetes' computePodResourceRequest doc comment.
        let p = pod(serde_json::json!({
            "initContainers": [
                {"name": "ic1", "resources": {"requests": {"cpu": "2", "memory": "1G"}}},
                {"name": "ic2", "resources": {"requests": {"cpu": "2", "memory": "3G"}}}],
            "containers": [
                {"name": "c1", "resources": {"requests": {"cpu": "2", "memory": "1G"}}},
                {"name": "c2", "resources": {"requests": {"cpu": "1", "memory": "1G"}}}]
        }));
        let r = pod_requests(&p);
        assert_eq!(r.requests.milli_cpu, 3000);
        assert_eq!(r.requests.memory, 3_000_000_000);
    }

    #[test]
    fn sidecars_add_to_the_app_containers_and_to_later_init_containers() {
        let p = pod(serde_json::json!({
            "initContainers": [
                {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1"}}},
                {"name": "migrate", "resources": {"requests": {"cpu": "3"}}}],
            "containers": [{"name": "app", "resources": {"requests": {"cpu": "1"}}}]
        }));
        // app + sidecar = 2, migrate + sidecar = 4.
        assert_eq!(pod_requests(&p).requests.milli_cpu, 4000);
    }

    #[test]
    fn missing_requests_count_as_defaults_only_when_scoring() {
        let p = pod(serde_json::json!({
            "containers": [{"name": "a"}, {"name": "b", "resources": {"requests": {"cpu": "0"}}}],
            "overhead": {"cpu": "10m"}
        }));
        let r = pod_requests(&p);
        assert_eq!(r.requests.milli_cpu, 10);
        assert_eq!(r.non_zero_milli_cpu, 110); // b's explicit 0 is not missing
        assert_eq!(r.non_zero_memory, 2 * DEFAULT_MEMORY_REQUEST);
    }

    #[test]
    fn extended_resources_are_scalar() {
        let p = pod(serde_json::json!({
            "containers": [{"name": "a", "resources": {"requests": {"nvidia.com/gpu": "2"}}}]
        }));
        let r = pod_requests(&p);
        assert_eq!(r.requests.get("nvidia.com/gpu"), 2);
        assert!(!r.requests.is_empty_request());
    }
}
