//! `PodInfo`: a pod with everything the plugins read from it parsed once.
//!
//! Filter and Score run for every pod against hundreds of nodes, so nothing in them parses a
//! quantity, a selector or an affinity term: [`PodInfo::new`] does it once per pod — requests
//! as integers ([`PodRequests`]), host ports, the node selector and node affinity compiled
//! ([`RequiredNodeAffinity`]), pod (anti-)affinity terms with their label and namespace
//! selectors ([`AffinityTerm`]), priority, the normalized image names. A pod whose affinity
//! terms do not parse keeps the error in [`PodInfo::parse_error`]; the scheduler reports it
//! instead of scheduling the pod, as Kubernetes does.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, Toleration, WeightedPodAffinityTerm};
use orchestra_api::LabelSelector;

use crate::node_selector::{PreferredSchedulingTerms, RequiredNodeAffinity};
use crate::resources::{PodRequests, pod_requests};

/// A host port a container asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// The host IP, `0.0.0.0` when unset.
    pub ip: String,
    /// `TCP`, `UDP` or `SCTP`; `TCP` when unset.
    pub protocol: String,
    /// The port number (positive).
    pub port: i32,
}

/// A pod (anti-)affinity term, compiled (Kubernetes' `framework.AffinityTerm`).
#[derive(Debug, Clone)]
pub struct AffinityTerm {
    /// Namespaces whose pods the term considers (sorted). When the term names neither
    /// namespaces nor a namespace selector, this is the owning pod's namespace.
    pub namespaces: Vec<String>,
    /// Which pods the term is about.
    pub selector: LabelSelector,
    /// The node label whose value defines the topology domain.
    pub topology_key: String,
    /// Namespaces selected by their labels; matches nothing when absent.
    pub namespace_selector: LabelSelector,
}

impl AffinityTerm {
    fn new(owner_namespace: &str, term: &PodAffinityTerm) -> Result<AffinityTerm, String> {
        let selector = LabelSelector::try_from(term.label_selector.as_ref())
            .map_err(|e| format!("labelSelector: {e}"))?;
        let namespace_selector = LabelSelector::try_from(term.namespace_selector.as_ref())
            .map_err(|e| format!("namespaceSelector: {e}"))?;
        let mut namespaces = term.namespaces.clone().unwrap_or_default();
        if namespaces.is_empty() && term.namespace_selector.is_none() {
            namespaces.push(owner_namespace.to_owned());
        }
        namespaces.sort_unstable();
        namespaces.dedup();
        Ok(AffinityTerm {
            namespaces,
            selector,
            topology_key: term.topology_key.clone(),
            namespace_selector,
        })
    }

    /// Whether a pod in `namespace` with `labels` is one the term is about; `namespace_labels`
    /// are the labels of that pod's namespace (empty when unknown).
    pub fn matches(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        namespace_labels: &BTreeMap<String, String>,
    ) -> bool {
        (self
            .namespaces
            .binary_search_by(|n| n.as_str().cmp(namespace))
            .is_ok()
            || self.namespace_selector.matches(namespace_labels))
            && self.selector.matches(labels)
    }

    /// Whether the term matches `pod`.
    pub fn matches_pod(&self, pod: &PodInfo, namespace_labels: &BTreeMap<String, String>) -> bool {
        self.matches(pod.namespace(), pod.labels(), namespace_labels)
    }

    /// Resolves the namespace selector against the namespaces of the cluster: the namespaces it
    /// selects join [`AffinityTerm::namespaces`] and the selector then matches nothing
    /// (Kubernetes' `mergeAffinityTermNamespacesIfNotEmpty`). An empty selector (all
    /// namespaces) is kept as it is.
    pub fn merge_namespaces<'n>(
        &mut self,
        namespaces: impl Iterator<Item = (&'n str, &'n BTreeMap<String, String>)>,
    ) {
        if self.namespace_selector.is_everything() {
            return;
        }
        if !self.namespace_selector.is_nothing() {
            for (name, labels) in namespaces {
                if self.namespace_selector.matches(labels) {
                    self.namespaces.push(name.to_owned());
                }
            }
            self.namespaces.sort_unstable();
            self.namespaces.dedup();
        }
        self.namespace_selector = LabelSelector::nothing();
    }
}

/// A weighted pod (anti-)affinity term of a preference.
#[derive(Debug, Clone)]
pub struct WeightedAffinityTerm {
    /// The term.
    pub term: AffinityTerm,
    /// Its weight, 1–100.
    pub weight: i64,
}

static EMPTY_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// A pod with what the scheduler reads from it parsed once. Cheap to share: the scheduler
/// hands `Arc<PodInfo>` around.
#[derive(Debug, Clone)]
pub struct PodInfo {
    /// The pod object.
    pub pod: Arc<Pod>,
    key: String,
    namespace_len: usize,
    uid: String,
    /// Priority (`spec.priority`, 0 when unset).
    pub priority: i32,
    /// Requests as integers.
    pub requests: PodRequests,
    /// Host ports of the app containers (only those with a host port).
    pub host_ports: Vec<HostPort>,
    /// `spec.nodeSelector` and required node affinity.
    pub required_node_affinity: RequiredNodeAffinity,
    /// Preferred node affinity.
    pub preferred_node_affinity: PreferredSchedulingTerms,
    /// Required pod affinity terms.
    pub required_affinity_terms: Vec<AffinityTerm>,
    /// Required pod anti-affinity terms.
    pub required_anti_affinity_terms: Vec<AffinityTerm>,
    /// Preferred pod affinity terms.
    pub preferred_affinity_terms: Vec<WeightedAffinityTerm>,
    /// Preferred pod anti-affinity terms.
    pub preferred_anti_affinity_terms: Vec<WeightedAffinityTerm>,
    /// Images of init and app containers, normalized (`:latest` added when untagged).
    pub images: Vec<String>,
    /// Names of the PersistentVolumeClaims the pod mounts.
    pub pvc_names: Vec<String>,
    /// Why the pod's affinity terms do not parse, if they do not.
    pub parse_error: Option<String>,
}

impl PodInfo {
    /// Parses `pod`.
    pub fn new(pod: impl Into<Arc<Pod>>) -> PodInfo {
        let pod: Arc<Pod> = pod.into();
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let name = pod.metadata.name.as_deref().unwrap_or("");
        let key = format!("{namespace}/{name}");
        let uid = pod.metadata.uid.clone().unwrap_or_else(|| key.clone());
        let spec = pod.spec.as_ref();
        let mut host_ports = Vec::new();
        let mut images = Vec::new();
        let mut pvc_names = Vec::new();
        let mut parse_error = None;
        let mut required_affinity_terms = Vec::new();
        let mut required_anti_affinity_terms = Vec::new();
        let mut preferred_affinity_terms = Vec::new();
        let mut preferred_anti_affinity_terms = Vec::new();
        let mut preferred_node_affinity = PreferredSchedulingTerms::default();
        if let Some(spec) = spec {
            for container in &spec.containers {
                for port in container.ports.iter().flatten() {
                    if let Some(host_port) = port.host_port.filter(|p| *p > 0) {
                        host_ports.push(HostPort {
                            ip: port
                                .host_ip
                                .clone()
                                .filter(|ip| !ip.is_empty())
                                .unwrap_or_else(|| "0.0.0.0".to_owned()),
                            protocol: port
                                .protocol
                                .clone()
                                .filter(|p| !p.is_empty())
                                .unwrap_or_else(|| "TCP".to_owned()),
                            port: host_port,
                        });
                    }
                }
            }
            for container in spec
                .init_containers
                .iter()
                .flatten()
                .chain(&spec.containers)
            {
                if let Some(image) = container.image.as_deref() {
                    images.push(normalized_image_name(image));
                }
            }
            for volume in spec.volumes.iter().flatten() {
                if let Some(claim) = volume.persistent_volume_claim.as_ref() {
                    pvc_names.push(claim.claim_name.clone());
                }
            }
            if let Some(affinity) = spec.affinity.as_ref() {
                let mut compile = |terms: Option<&Vec<PodAffinityTerm>>,
                                   into: &mut Vec<AffinityTerm>| {
                    for term in terms.into_iter().flatten() {
                        match AffinityTerm::new(namespace, term) {
                            Ok(t) => into.push(t),
                            Err(e) => parse_error = Some(e),
                        }
                    }
                };
                if let Some(pa) = affinity.pod_affinity.as_ref() {
                    compile(
                        pa.required_during_scheduling_ignored_during_execution
                            .as_ref(),
                        &mut required_affinity_terms,
                    );
                }
                if let Some(pa) = affinity.pod_anti_affinity.as_ref() {
                    compile(
                        pa.required_during_scheduling_ignored_during_execution
                            .as_ref(),
                        &mut required_anti_affinity_terms,
                    );
                }
                let mut compile_weighted =
                    |terms: Option<&Vec<WeightedPodAffinityTerm>>,
                     into: &mut Vec<WeightedAffinityTerm>| {
                        for term in terms.into_iter().flatten() {
                            match AffinityTerm::new(namespace, &term.pod_affinity_term) {
                                Ok(t) => into.push(WeightedAffinityTerm {
                                    term: t,
                                    weight: i64::from(term.weight),
                                }),
                                Err(e) => parse_error = Some(e),
                            }
                        }
                    };
                if let Some(pa) = affinity.pod_affinity.as_ref() {
                    compile_weighted(
                        pa.preferred_during_scheduling_ignored_during_execution
                            .as_ref(),
                        &mut preferred_affinity_terms,
                    );
                }
                if let Some(pa) = affinity.pod_anti_affinity.as_ref() {
                    compile_weighted(
                        pa.preferred_during_scheduling_ignored_during_execution
                            .as_ref(),
                        &mut preferred_anti_affinity_terms,
                    );
                }
                if let Some(preferred) = affinity.node_affinity.as_ref().and_then(|n| {
                    n.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                }) {
                    preferred_node_affinity = PreferredSchedulingTerms::compile(preferred);
                }
            }
        }
        PodInfo {
            namespace_len: namespace.len(),
            uid,
            priority: spec.and_then(|s| s.priority).unwrap_or(0),
            requests: pod_requests(&pod),
            host_ports,
            required_node_affinity: RequiredNodeAffinity::of_pod(&pod),
            preferred_node_affinity,
            required_affinity_terms,
            required_anti_affinity_terms,
            preferred_affinity_terms,
            preferred_anti_affinity_terms,
            images,
            pvc_names,
            parse_error,
            key,
            pod,
        }
    }

    /// `namespace/name`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The pod's namespace (`default` when unset).
    pub fn namespace(&self) -> &str {
        &self.key[..self.namespace_len]
    }

    /// The pod's name.
    pub fn name(&self) -> &str {
        &self.key[self.namespace_len + 1..]
    }

    /// The pod's UID, or its key when it has none (pods built by hand for a simulation).
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The pod's labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        self.pod.metadata.labels.as_ref().unwrap_or(&EMPTY_LABELS)
    }

    /// The pod's tolerations.
    pub fn tolerations(&self) -> &[Toleration] {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or_default()
    }

    /// `spec.nodeName`, when set.
    pub fn node_name(&self) -> Option<&str> {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
    }

    /// `status.nominatedNodeName`, when set.
    pub fn nominated_node_name(&self) -> Option<&str> {
        self.pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            .filter(|n| !n.is_empty())
    }

    /// `spec.schedulerName`, `default-scheduler` when unset.
    pub fn scheduler_name(&self) -> &str {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref())
            .filter(|n| !n.is_empty())
            .unwrap_or("default-scheduler")
    }

    /// Whether the pod is being deleted.
    pub fn is_terminating(&self) -> bool {
        self.pod.metadata.deletion_timestamp.is_some()
    }

    /// Whether the pod has required or preferred pod (anti-)affinity.
    pub fn has_affinity(&self) -> bool {
        !self.required_affinity_terms.is_empty()
            || !self.required_anti_affinity_terms.is_empty()
            || !self.preferred_affinity_terms.is_empty()
            || !self.preferred_anti_affinity_terms.is_empty()
    }

    /// Whether the pod has required pod anti-affinity.
    pub fn has_required_anti_affinity(&self) -> bool {
        !self.required_anti_affinity_terms.is_empty()
    }

    /// When the pod started (`status.startTime`), for ordering victims; `None` when it has
    /// not (Kubernetes then uses "now", i.e. it sorts last).
    pub fn start_time(&self) -> Option<jiff::Timestamp> {
        self.pod
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .map(|t| t.0)
    }

    /// When the pod was created, for the queue's tie-break.
    pub fn creation_time(&self) -> Option<jiff::Timestamp> {
        self.pod.metadata.creation_timestamp.as_ref().map(|t| t.0)
    }
}

/// An image name as node status reports it: with `:latest` when it has no tag (Kubernetes'
/// `normalizedImageName`).
pub fn normalized_image_name(name: &str) -> String {
    let last_colon = name.rfind(':');
    let last_slash = name.rfind('/');
    if last_colon.is_none_or(|c| last_slash.is_some_and(|s| c <= s)) {
        format!("{name}:latest")
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_get_latest_when_untagged() {
        assert_eq!(normalized_image_name("nginx"), "nginx:latest");
        assert_eq!(normalized_image_name("nginx:1.27"), "nginx:1.27");
        assert_eq!(
            normalized_image_name("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(
            normalized_image_name("localhost:5000/app:v1"),
            "localhost:5000/app:v1"
        );
    }

    #[test]
    fn affinity_terms_default_to_the_pods_namespace() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "team-a"},
            "spec": {"containers": [{"name": "c", "image": "x"}],
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}
                ]}}}
        }))
        .expect("pod");
        let info = PodInfo::new(pod);
        assert_eq!(info.key(), "team-a/p");
        assert_eq!(info.namespace(), "team-a");
        assert_eq!(info.name(), "p");
        let term = &info.required_anti_affinity_terms[0];
        assert_eq!(term.namespaces, ["team-a"]);
        let db = BTreeMap::from([("app".to_owned(), "db".to_owned())]);
        assert!(term.matches("team-a", &db, &BTreeMap::new()));
        assert!(!term.matches("team-b", &db, &BTreeMap::new()));
    }
}
