//! The agent's configuration: what the node offers, how it is labelled, and the kubelet's
//! timings (with Kubernetes' defaults; tests shorten them).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use orchestra_api::Quantity;
use orchestra_api::k8s_openapi::api::core::v1::Taint;

use crate::cni::Cidr;
use crate::error::NodeError;

/// How a node agent runs: the node's name and resources, its labels and taints, and the
/// kubelet's timings.
///
/// ```
/// use std::time::Duration;
/// use orchestra_node::NodeConfig;
///
/// let mut config = NodeConfig::new("node-1");
/// config.cpu = "8".parse().unwrap();
/// config.memory = "32Gi".parse().unwrap();
/// config.zone = Some("zone-a".into());
/// config.node_lease_renew_interval = Duration::from_secs(2);
/// assert_eq!(config.pods, 110);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// The node's name (`--hostname-override`), also its `kubernetes.io/hostname` label.
    pub name: String,
    /// CPU capacity.
    pub cpu: Quantity,
    /// Memory capacity.
    pub memory: Quantity,
    /// Maximum number of pods (`--max-pods`).
    pub pods: u32,
    /// Ephemeral storage capacity.
    pub ephemeral_storage: Quantity,
    /// CPU kept for the system (`--system-reserved=cpu=…`): allocatable is capacity minus this.
    pub reserved_cpu: Quantity,
    /// Memory kept for the system and the hard eviction threshold together.
    pub reserved_memory: Quantity,
    /// Extra labels (`--node-labels`).
    pub labels: BTreeMap<String, String>,
    /// Taints the node registers with (`--register-with-taints`).
    pub taints: Vec<Taint>,
    /// The `topology.kubernetes.io/zone` label.
    pub zone: Option<String>,
    /// The `topology.kubernetes.io/region` label.
    pub region: Option<String>,
    /// The `kubernetes.io/arch` label and `nodeInfo.architecture`.
    pub architecture: String,
    /// The node's `InternalIP` (`--node-ip`); `None` derives a stable private address from
    /// the name.
    pub address: Option<IpAddr>,
    /// The pod CIDR to use until the Node object has `spec.podCIDR` (`--pod-cidr`); `None`
    /// derives a per-node range from the name (see [`NodeConfig::fallback_pod_cidr`]).
    pub pod_cidr: Option<String>,
    /// Name servers of cluster DNS (`--cluster-dns`) for pods with `dnsPolicy: ClusterFirst`.
    pub cluster_dns: Vec<String>,
    /// The cluster's DNS domain (`--cluster-domain`).
    pub cluster_domain: String,
    /// A directory of static pod manifests (`--pod-manifest-path`); `None`: no static pods.
    pub static_pod_path: Option<PathBuf>,
    /// How often the manifest directory is read (`--file-check-frequency`, 20 s).
    pub file_check_frequency: Duration,
    /// `leaseDurationSeconds` of the node's Lease (`--node-lease-duration-seconds`, 40 s).
    pub node_lease_duration: Duration,
    /// How often the Lease is renewed (a quarter of its duration: 10 s).
    pub node_lease_renew_interval: Duration,
    /// How often the node status is computed (`--node-status-update-frequency`, 10 s).
    pub node_status_update_frequency: Duration,
    /// How often the status is posted when nothing changed
    /// (`nodeStatusReportFrequency`, 5 min).
    pub node_status_report_frequency: Duration,
    /// How often every pod is synced even without changes (`--sync-frequency`, 1 min).
    pub sync_frequency: Duration,
    /// How often the agent looks for runtime objects of pods it no longer knows, and for
    /// mirror pods without a manifest (housekeeping). The kubelet's housekeeping runs every
    /// 2 s but also cleans volumes and cgroups; this one only finds orphans, which appear
    /// rarely (pods deleted while the agent was down), so it runs every 10 s.
    pub housekeeping_interval: Duration,
    /// First crash back-off (10 s).
    pub crash_backoff_initial: Duration,
    /// Longest crash back-off (5 min); a container that ran this long twice over without
    /// failing starts again from the first back-off.
    pub crash_backoff_max: Duration,
    /// Whether the agent publishes Events about pods (`Pulled`, `Started`, `BackOff`, …).
    pub record_events: bool,
}

impl NodeConfig {
    /// A node named `name` with 4 CPUs, 16 GiB of memory, 110 pods and Kubernetes' default
    /// timings.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            cpu: Quantity::from_value(4),
            memory: Quantity::from_bytes_binary(16 << 30),
            pods: 110,
            ephemeral_storage: Quantity::from_bytes_binary(100 << 30),
            reserved_cpu: Quantity::from_value(0),
            reserved_memory: Quantity::from_value(0),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            zone: None,
            region: None,
            architecture: "amd64".to_owned(),
            address: None,
            pod_cidr: None,
            cluster_dns: Vec::new(),
            cluster_domain: "cluster.local".to_owned(),
            static_pod_path: None,
            file_check_frequency: Duration::from_secs(20),
            node_lease_duration: Duration::from_secs(40),
            node_lease_renew_interval: Duration::from_secs(10),
            node_status_update_frequency: Duration::from_secs(10),
            node_status_report_frequency: Duration::from_secs(300),
            sync_frequency: Duration::from_secs(60),
            housekeeping_interval: Duration::from_secs(10),
            crash_backoff_initial: Duration::from_secs(10),
            crash_backoff_max: Duration::from_secs(300),
            record_events: true,
        }
    }

    /// Checks the configuration; the error names the offending setting.
    pub fn validate(&self) -> Result<(), NodeError> {
        let invalid = |what: String| Err(NodeError::InvalidConfig(what));
        let problems = orchestra_api::validation::names::is_dns1123_subdomain(&self.name);
        if !problems.is_empty() {
            return invalid(format!(
                "node name {:?}: {}",
                self.name,
                problems.join("; ")
            ));
        }
        if self.cpu.signum() <= 0 || self.memory.signum() <= 0 || self.pods == 0 {
            return invalid("cpu, memory and pods must be positive".to_owned());
        }
        if self.reserved_cpu > self.cpu || self.reserved_memory > self.memory {
            return invalid("reserved resources exceed the capacity".to_owned());
        }
        if let Some(cidr) = &self.pod_cidr
            && let Err(e) = cidr.parse::<Cidr>()
        {
            return invalid(format!("pod CIDR: {e}"));
        }
        for (name, period) in [
            ("node_lease_duration", self.node_lease_duration),
            ("node_lease_renew_interval", self.node_lease_renew_interval),
            (
                "node_status_update_frequency",
                self.node_status_update_frequency,
            ),
            ("sync_frequency", self.sync_frequency),
            ("housekeeping_interval", self.housekeeping_interval),
            ("file_check_frequency", self.file_check_frequency),
            ("crash_backoff_initial", self.crash_backoff_initial),
        ] {
            if period.is_zero() {
                return invalid(format!("{name} must be positive"));
            }
        }
        if self.crash_backoff_max < self.crash_backoff_initial {
            return invalid("crash_backoff_max is shorter than crash_backoff_initial".to_owned());
        }
        Ok(())
    }

    /// The number a node name ends with (`node-17` → 17), used to give simulated nodes
    /// distinct addresses and ranges.
    fn ordinal(&self) -> u64 {
        let digits: String = self
            .name
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        match digits.parse::<u64>() {
            Ok(n) if !digits.is_empty() => n,
            _ => {
                // FNV-1a over the name: stable across runs and processes.
                self.name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                })
            }
        }
    }

    /// The node's `InternalIP`: [`NodeConfig::address`], else a stable address in
    /// `172.16.0.0/12` derived from the name (`node-N` gets the N-th address).
    pub fn node_ip(&self) -> IpAddr {
        if let Some(address) = self.address {
            return address;
        }
        // Skip the network address: 172.16.0.1 is node 0.
        let n = (self.ordinal() % ((1 << 20) - 2)) + 1;
        let bits = (172u32 << 24) | (16u32 << 16) | u32::try_from(n).unwrap_or(1);
        IpAddr::V4(Ipv4Addr::from(bits))
    }

    /// The pod CIDR a node without `spec.podCIDR` and without [`NodeConfig::pod_cidr`] uses: a
    /// `/24` of `10.128.0.0/9` chosen by the name (`node-N` gets the N-th, so up to 32,768
    /// numbered nodes never overlap).
    pub fn fallback_pod_cidr(&self) -> String {
        if let Some(cidr) = &self.pod_cidr {
            return cidr.clone();
        }
        let n = u32::try_from(self.ordinal() % (1 << 15)).unwrap_or(0);
        let base = (10u32 << 24) | (128u32 << 16);
        let network = Ipv4Addr::from(base + (n << 8));
        format!("{network}/24")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_nodes_get_distinct_addresses_and_ranges() {
        let one = NodeConfig::new("node-1");
        let two = NodeConfig::new("node-2");
        assert_eq!(one.node_ip().to_string(), "172.16.0.2");
        assert_eq!(two.node_ip().to_string(), "172.16.0.3");
        assert_eq!(one.fallback_pod_cidr(), "10.128.1.0/24");
        assert_eq!(two.fallback_pod_cidr(), "10.128.2.0/24");
        let named = NodeConfig::new("worker-a");
        assert_eq!(named.node_ip(), NodeConfig::new("worker-a").node_ip());
        assert!(named.fallback_pod_cidr().parse::<Cidr>().is_ok());
    }

    #[test]
    fn invalid_settings_are_refused_with_their_name() {
        let mut config = NodeConfig::new("Node_1");
        assert!(config.validate().is_err());
        config.name = "node-1".into();
        config.validate().unwrap();
        config.pod_cidr = Some("10.0.0.0".into());
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("pod CIDR")
        );
        config.pod_cidr = None;
        config.sync_frequency = Duration::ZERO;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("sync_frequency")
        );
    }
}
