//! Pod sandboxes: the isolated environment (network namespace, IP, cgroup parent) that a
//! pod's containers share, as CRI v1 describes it (`PodSandboxConfig`, `PodSandboxStatus`,
//! `PodSandbox`, `PodSandboxFilter`).

use std::collections::BTreeMap;

/// Identifies the pod a sandbox belongs to (`PodSandboxMetadata`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSandboxMetadata {
    /// The pod's name.
    pub name: String,
    /// The pod's uid.
    pub uid: String,
    /// The pod's namespace.
    pub namespace: String,
    /// How many sandboxes this pod had before this one.
    pub attempt: u32,
}

/// DNS settings of a sandbox (`DNSConfig`): what goes into its `resolv.conf`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsConfig {
    /// `nameserver` lines.
    pub servers: Vec<String>,
    /// The `search` line.
    pub searches: Vec<String>,
    /// The `options` line.
    pub options: Vec<String>,
}

/// The transport of a port mapping (`Protocol`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The protocol of a Kubernetes port (`TCP` when unset or unknown).
    pub fn from_kubernetes(protocol: Option<&str>) -> Self {
        match protocol {
            Some("UDP") => Self::Udp,
            Some("SCTP") => Self::Sctp,
            _ => Self::Tcp,
        }
    }
}

/// A host port forwarded into the sandbox (`PortMapping`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortMapping {
    /// The transport.
    pub protocol: Protocol,
    /// The port inside the sandbox.
    pub container_port: i32,
    /// The port on the host.
    pub host_port: i32,
    /// The host address to bind (empty: all).
    pub host_ip: String,
}

/// Everything a runtime needs to create a sandbox (`PodSandboxConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSandboxConfig {
    /// Which pod this is.
    pub metadata: PodSandboxMetadata,
    /// The sandbox's hostname.
    pub hostname: String,
    /// Where the containers' logs go (`/var/log/pods/<namespace>_<name>_<uid>`).
    pub log_directory: String,
    /// DNS settings; `None` uses the host's.
    pub dns_config: Option<DnsConfig>,
    /// Host ports forwarded into the sandbox.
    pub port_mappings: Vec<PortMapping>,
    /// The pod's labels plus the kubelet's `io.kubernetes.pod.*` labels.
    pub labels: BTreeMap<String, String>,
    /// The pod's annotations, passed through unchanged (the simulated runtime reads its
    /// behaviour from them).
    pub annotations: BTreeMap<String, String>,
    /// Whether the sandbox shares the host's network namespace (`hostNetwork: true`).
    pub host_network: bool,
    /// The cgroup the sandbox's cgroups go under.
    pub cgroup_parent: String,
    /// The runtime handler (RuntimeClass) to run it with; empty for the default.
    pub runtime_handler: String,
}

/// Whether a sandbox is usable (`PodSandboxState`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum PodSandboxState {
    /// Running, with its network set up.
    Ready,
    /// Stopped, or never set up completely.
    #[default]
    NotReady,
}

/// The network of a sandbox (`PodSandboxNetworkStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSandboxNetworkStatus {
    /// The primary IP address.
    pub ip: String,
    /// Further addresses (the other IP family of a dual-stack pod).
    pub additional_ips: Vec<String>,
}

/// What a runtime knows about one sandbox (`PodSandboxStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSandboxStatus {
    /// The sandbox id.
    pub id: String,
    /// Which pod it belongs to.
    pub metadata: PodSandboxMetadata,
    /// Ready or not.
    pub state: PodSandboxState,
    /// Creation time, nanoseconds since the Unix epoch.
    pub created_at: i64,
    /// Its network, `None` for host-network sandboxes.
    pub network: Option<PodSandboxNetworkStatus>,
    /// The labels it was created with.
    pub labels: BTreeMap<String, String>,
    /// The annotations it was created with.
    pub annotations: BTreeMap<String, String>,
    /// The runtime handler it runs with.
    pub runtime_handler: String,
}

/// One sandbox of a list (`PodSandbox`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSandbox {
    /// The sandbox id.
    pub id: String,
    /// Which pod it belongs to.
    pub metadata: PodSandboxMetadata,
    /// Ready or not.
    pub state: PodSandboxState,
    /// Creation time, nanoseconds since the Unix epoch.
    pub created_at: i64,
    /// The labels it was created with.
    pub labels: BTreeMap<String, String>,
    /// The annotations it was created with.
    pub annotations: BTreeMap<String, String>,
    /// The runtime handler it runs with.
    pub runtime_handler: String,
}

/// Which sandboxes a list returns (`PodSandboxFilter`); unset fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSandboxFilter {
    /// Only this id.
    pub id: Option<String>,
    /// Only sandboxes in this state.
    pub state: Option<PodSandboxState>,
    /// Only sandboxes carrying all these labels.
    pub label_selector: BTreeMap<String, String>,
}

impl PodSandboxFilter {
    /// Sandboxes of the pod with this uid (the kubelet's `io.kubernetes.pod.uid` label).
    pub fn for_pod(uid: &str) -> Self {
        Self {
            label_selector: BTreeMap::from([(super::POD_UID_LABEL.to_owned(), uid.to_owned())]),
            ..Self::default()
        }
    }

    /// Whether a sandbox passes the filter.
    pub fn matches(
        &self,
        id: &str,
        state: PodSandboxState,
        labels: &BTreeMap<String, String>,
    ) -> bool {
        self.id.as_deref().is_none_or(|want| want == id)
            && self.state.is_none_or(|want| want == state)
            && super::labels_match(&self.label_selector, labels)
    }
}
