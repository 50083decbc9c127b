//! The Container Network Interface, as a Rust trait.
//!
//! A CRI runtime sets up a sandbox's network by calling a CNI plugin: `ADD` when the sandbox
//! starts (answering the interfaces, addresses, routes and DNS it configured — the *CNI
//! result*), `CHECK` to verify it is still as configured, `DEL` when the sandbox stops.
//! [`NetworkPlugin`] mirrors those three commands (plus `STATUS`, which says whether the
//! plugin can set up networks at all); [`NetworkAttachment`] carries what CNI passes in its
//! environment and runtime config (container id, network namespace, interface name,
//! `K8S_POD_*` arguments and the `ipRanges`/`portMappings` capabilities); [`CniResult`] is
//! the result's JSON shape.
//!
//! The kubelet never calls the plugin itself, as in Kubernetes: it pushes the node's pod
//! CIDR to the runtime (`UpdateRuntimeConfig`), and the runtime passes it to the plugin as the
//! `ipRanges` capability on every `ADD`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::cri::PortMapping;

/// What went wrong in a CNI call; the codes are CNI's well-known error codes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CniError {
    /// The plugin's configuration is invalid (CNI code 7), e.g. no IP range to allocate from.
    #[error("invalid network configuration: {0}")]
    InvalidConfig(String),
    /// The address pool is exhausted (CNI code 11, "try again later").
    #[error("no free address in {range}")]
    AddressesExhausted {
        /// The range that is full.
        range: String,
    },
    /// The attachment is unknown to the plugin (`CHECK` or `DEL` of something never added).
    #[error("no network attachment for container {0}")]
    UnknownAttachment(String),
    /// The network is not as `ADD` left it (`CHECK` failed).
    #[error("network check failed: {0}")]
    CheckFailed(String),
    /// The plugin cannot set up networks now (CNI code 50, `STATUS` failure).
    #[error("network plugin not ready: {0}")]
    NotReady(String),
    /// Anything else (CNI code 999).
    #[error("network plugin error: {0}")]
    Internal(String),
}

impl CniError {
    /// CNI's numeric error code for this error.
    pub fn code(&self) -> u32 {
        match self {
            Self::InvalidConfig(_) => 7,
            Self::AddressesExhausted { .. } => 11,
            Self::UnknownAttachment(_) | Self::CheckFailed(_) => 999,
            Self::NotReady(_) => 50,
            Self::Internal(_) => 999,
        }
    }
}

/// An IP subnet in CIDR notation (`10.244.1.0/24`, `fd00::/64`), normalised to its network
/// address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// A string that is not a CIDR.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid CIDR {0:?}: expected ADDRESS/PREFIX such as 10.244.0.0/24")]
pub struct InvalidCidr(pub String);

impl Cidr {
    /// The subnet of `address` with `prefix` bits; `None` if the prefix is too long for the
    /// address family.
    pub fn new(address: IpAddr, prefix: u8) -> Option<Self> {
        let bits = Self::family_bits(address);
        if u32::from(prefix) > bits {
            return None;
        }
        let network = Self::from_bits(address, Self::to_bits(address) & Self::mask(bits, prefix));
        Some(Self { network, prefix })
    }

    fn family_bits(address: IpAddr) -> u32 {
        match address {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        }
    }

    fn mask(bits: u32, prefix: u8) -> u128 {
        let host_bits = bits - u32::from(prefix);
        let all = if bits == 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        if host_bits >= 128 {
            0
        } else {
            all & !((1u128 << host_bits) - 1)
        }
    }

    fn to_bits(address: IpAddr) -> u128 {
        match address {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        }
    }

    fn from_bits(like: IpAddr, bits: u128) -> IpAddr {
        match like {
            // Truncation is intended: an IPv4 value always fits in 32 bits here.
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from((bits & 0xffff_ffff) as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(bits)),
        }
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// How many host bits the subnet has.
    fn host_bits(&self) -> u32 {
        Self::family_bits(self.network) - u32::from(self.prefix)
    }

    /// The address at `offset` from the network address, if inside the subnet.
    pub fn nth(&self, offset: u128) -> Option<IpAddr> {
        let host_bits = self.host_bits();
        if host_bits < 128 && offset >= (1u128 << host_bits) {
            return None;
        }
        Some(Self::from_bits(
            self.network,
            Self::to_bits(self.network).wrapping_add(offset),
        ))
    }

    /// How many addresses the subnet holds (saturating at `u128::MAX`).
    pub fn size(&self) -> u128 {
        let host_bits = self.host_bits();
        if host_bits >= 128 {
            u128::MAX
        } else {
            1u128 << host_bits
        }
    }

    /// Whether `address` is in the subnet.
    pub fn contains(&self, address: IpAddr) -> bool {
        address.is_ipv4() == self.network.is_ipv4()
            && Self::to_bits(address) & Self::mask(Self::family_bits(address), self.prefix)
                == Self::to_bits(self.network)
    }

    /// Whether the subnet is IPv4.
    pub fn is_ipv4(&self) -> bool {
        self.network.is_ipv4()
    }
}

impl FromStr for Cidr {
    type Err = InvalidCidr;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidCidr(s.to_owned());
        let (address, prefix) = s.trim().split_once('/').ok_or_else(invalid)?;
        let address: IpAddr = address.parse().map_err(|_| invalid())?;
        let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
        Self::new(address, prefix).ok_or_else(invalid)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// What CNI is told about one attachment: the environment variables (`CNI_CONTAINERID`,
/// `CNI_NETNS`, `CNI_IFNAME`, `CNI_ARGS`) and the runtime config's capability arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkAttachment {
    /// The sandbox id (`CNI_CONTAINERID`).
    pub container_id: String,
    /// Path of the sandbox's network namespace (`CNI_NETNS`).
    pub netns: String,
    /// The interface to create in it (`CNI_IFNAME`, `eth0`).
    pub ifname: String,
    /// The pod's namespace (`K8S_POD_NAMESPACE` in `CNI_ARGS`).
    pub pod_namespace: String,
    /// The pod's name (`K8S_POD_NAME`).
    pub pod_name: String,
    /// The pod's uid (`K8S_POD_UID`).
    pub pod_uid: String,
    /// The `ipRanges` capability: subnets to allocate from (the node's pod CIDR).
    pub ip_ranges: Vec<String>,
    /// The `portMappings` capability: host ports to forward.
    pub port_mappings: Vec<PortMapping>,
}

/// An interface a plugin created or used (`interfaces[]` of the CNI result).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniInterface {
    /// Its name (`eth0`).
    pub name: String,
    /// Its MAC address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// The network namespace it is in; empty for host interfaces.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
}

/// An address a plugin assigned (`ips[]` of the CNI result).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniIpConfig {
    /// The address with its prefix (`10.244.1.5/24`).
    pub address: String,
    /// The gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Index into `interfaces` of the interface it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

impl CniIpConfig {
    /// The address without its prefix.
    pub fn ip(&self) -> &str {
        self.address
            .split_once('/')
            .map_or(self.address.as_str(), |(ip, _)| ip)
    }
}

/// A route a plugin installed (`routes[]` of the CNI result).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniRoute {
    /// The destination (`0.0.0.0/0`).
    pub dst: String,
    /// The next hop; absent: the interface's gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
}

/// DNS settings a plugin suggests (`dns` of the CNI result).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniDns {
    /// Name servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// The local domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// Search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// Resolver options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// The result of `ADD`, in the JSON shape of CNI spec 1.0 (`cniVersion`, `interfaces`,
/// `ips`, `routes`, `dns`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CniResult {
    /// The spec version of the result.
    pub cni_version: String,
    /// Interfaces created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<CniInterface>,
    /// Addresses assigned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<CniIpConfig>,
    /// Routes installed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<CniRoute>,
    /// DNS settings.
    #[serde(default)]
    pub dns: CniDns,
}

/// A CNI plugin: sets up and tears down the network of sandboxes.
#[async_trait]
pub trait NetworkPlugin: Send + Sync {
    /// The network's name (the `name` of its CNI configuration).
    fn name(&self) -> &str;

    /// Attaches a sandbox to the network (`ADD`). Adding an attachment that exists answers
    /// its existing result.
    async fn add(&self, attachment: &NetworkAttachment) -> Result<CniResult, CniError>;

    /// Verifies an attachment is as `ADD` left it (`CHECK`).
    async fn check(
        &self,
        attachment: &NetworkAttachment,
        previous: &CniResult,
    ) -> Result<(), CniError>;

    /// Detaches a sandbox and releases its addresses (`DEL`); deleting an unknown attachment
    /// succeeds, as CNI requires.
    async fn del(&self, attachment: &NetworkAttachment) -> Result<(), CniError>;

    /// Whether the plugin can set up networks now (`STATUS`).
    async fn status(&self) -> Result<(), CniError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_and_normalise() {
        let cidr: Cidr = "10.244.1.7/24".parse().unwrap();
        assert_eq!(cidr.to_string(), "10.244.1.0/24");
        assert_eq!(cidr.size(), 256);
        assert_eq!(cidr.nth(5), Some("10.244.1.5".parse().unwrap()));
        assert_eq!(cidr.nth(256), None);
        assert!(cidr.contains("10.244.1.200".parse().unwrap()));
        assert!(!cidr.contains("10.244.2.1".parse().unwrap()));
        let v6: Cidr = "fd00:1::/64".parse().unwrap();
        assert_eq!(v6.nth(1), Some("fd00:1::1".parse().unwrap()));
        assert!(!v6.is_ipv4());
        for bad in ["10.0.0.0", "10.0.0.0/33", "nonsense/8", "10.0.0.0/x"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cni_results_serialize_in_the_spec_shape() {
        let result = CniResult {
            cni_version: "1.0.0".into(),
            interfaces: vec![CniInterface {
                name: "eth0".into(),
                mac: "0a:58:0a:f4:01:05".into(),
                sandbox: "/var/run/netns/x".into(),
            }],
            ips: vec![CniIpConfig {
                address: "10.244.1.5/24".into(),
                gateway: Some("10.244.1.1".into()),
                interface: Some(0),
            }],
            routes: vec![CniRoute {
                dst: "0.0.0.0/0".into(),
                gw: None,
            }],
            dns: CniDns::default(),
        };
        let json = serde_json::to_value(&result).unwrap();
        assert_eq!(json["cniVersion"], "1.0.0");
        assert_eq!(json["ips"][0]["address"], "10.244.1.5/24");
        assert_eq!(result.ips[0].ip(), "10.244.1.5");
        let back: CniResult = serde_json::from_value(json).unwrap();
        assert_eq!(back, result);
    }
}
