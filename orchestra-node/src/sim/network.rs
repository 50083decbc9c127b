//! A simulated CNI plugin: IP address management without any real interfaces.
//!
//! [`SimNetwork`] behaves like the `bridge` plugin with `host-local` IPAM as far as anyone
//! outside the node can tell: `ADD` allocates the next free address of the range the runtime
//! passes in the `ipRanges` capability (the node's pod CIDR), skipping the network address,
//! the gateway (the range's first host) and, for IPv4, the broadcast address; `DEL` releases
//! it; `ADD` of an attachment that exists answers the same result again. It creates no
//! namespaces and no interfaces, so thousands of simulated nodes fit in one process.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::cni::{
    Cidr, CniDns, CniError, CniInterface, CniIpConfig, CniResult, CniRoute, NetworkAttachment,
    NetworkPlugin,
};

/// The CNI spec version of the results.
const CNI_VERSION: &str = "1.0.0";

/// Free and used addresses of one range.
#[derive(Debug)]
struct RangeAllocator {
    cidr: Cidr,
    /// Offsets from the network address in use.
    used: HashSet<u128>,
    /// Where the next search starts (host-local allocates round-robin).
    next: u128,
}

impl RangeAllocator {
    fn new(cidr: Cidr) -> Self {
        Self {
            cidr,
            used: HashSet::new(),
            next: 2,
        }
    }

    /// The offsets that may be handed out: after the network address and the gateway, and
    /// (IPv4) before the broadcast address.
    fn usable(&self) -> (u128, u128) {
        let size = self.cidr.size();
        let last = if self.cidr.is_ipv4() {
            size.saturating_sub(2)
        } else {
            size.saturating_sub(1)
        };
        (2, last)
    }

    fn allocate(&mut self) -> Option<u128> {
        let (first, last) = self.usable();
        if last < first {
            return None;
        }
        let span = last - first + 1;
        if u128::try_from(self.used.len()).unwrap_or(u128::MAX) >= span {
            return None;
        }
        let mut candidate = self.next.clamp(first, last);
        loop {
            if !self.used.contains(&candidate) {
                self.used.insert(candidate);
                self.next = if candidate == last {
                    first
                } else {
                    candidate + 1
                };
                return Some(candidate);
            }
            candidate = if candidate == last {
                first
            } else {
                candidate + 1
            };
        }
    }
}

#[derive(Debug)]
struct Attachment {
    range: String,
    offset: u128,
    result: CniResult,
}

#[derive(Debug, Default)]
struct State {
    ranges: HashMap<String, RangeAllocator>,
    attachments: HashMap<String, Attachment>,
}

/// A simulated CNI plugin with host-local style address management. See the
/// [module documentation](self).
#[derive(Debug)]
pub struct SimNetwork {
    name: String,
    dns: CniDns,
    state: Mutex<State>,
}

impl Default for SimNetwork {
    fn default() -> Self {
        Self::new()
    }
}

impl SimNetwork {
    /// A plugin named `sim-net` without DNS settings.
    pub fn new() -> Self {
        Self {
            name: "sim-net".to_owned(),
            dns: CniDns::default(),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many addresses are allocated.
    pub fn allocated(&self) -> usize {
        self.lock().attachments.len()
    }

    /// A MAC address derived from an IP, as the bridge plugin does (`0a:58:` + the IPv4
    /// bytes, or the last four bytes of an IPv6 address).
    fn mac_for(ip: std::net::IpAddr) -> String {
        let bytes: [u8; 4] = match ip {
            std::net::IpAddr::V4(v4) => v4.octets(),
            std::net::IpAddr::V6(v6) => {
                let o = v6.octets();
                [o[12], o[13], o[14], o[15]]
            }
        };
        format!(
            "0a:58:{:02x}:{:02x}:{:02x}:{:02x}",
            bytes[0], bytes[1], bytes[2], bytes[3]
        )
    }
}

#[async_trait]
impl NetworkPlugin for SimNetwork {
    fn name(&self) -> &str {
        &self.name
    }

    async fn add(&self, attachment: &NetworkAttachment) -> Result<CniResult, CniError> {
        let mut state = self.lock();
        if let Some(existing) = state.attachments.get(&attachment.container_id) {
            return Ok(existing.result.clone());
        }
        let range_text = attachment.ip_ranges.first().ok_or_else(|| {
            CniError::InvalidConfig("no IP range to allocate from (ipRanges is empty)".to_owned())
        })?;
        let cidr: Cidr = range_text
            .parse()
            .map_err(|e: crate::cni::InvalidCidr| CniError::InvalidConfig(e.to_string()))?;
        let key = cidr.to_string();
        let allocator = state
            .ranges
            .entry(key.clone())
            .or_insert_with(|| RangeAllocator::new(cidr));
        let offset = allocator
            .allocate()
            .ok_or_else(|| CniError::AddressesExhausted { range: key.clone() })?;
        let ip = cidr
            .nth(offset)
            .ok_or_else(|| CniError::Internal("allocated outside the range".to_owned()))?;
        let gateway = cidr.nth(1).map(|g| g.to_string());
        let default_route = if cidr.is_ipv4() { "0.0.0.0/0" } else { "::/0" };
        let result = CniResult {
            cni_version: CNI_VERSION.to_owned(),
            interfaces: vec![CniInterface {
                name: if attachment.ifname.is_empty() {
                    "eth0".to_owned()
                } else {
                    attachment.ifname.clone()
                },
                mac: Self::mac_for(ip),
                sandbox: attachment.netns.clone(),
            }],
            ips: vec![CniIpConfig {
                address: format!("{ip}/{}", cidr.prefix()),
                gateway: gateway.clone(),
                interface: Some(0),
            }],
            routes: vec![CniRoute {
                dst: default_route.to_owned(),
                gw: gateway,
            }],
            dns: self.dns.clone(),
        };
        state.attachments.insert(
            attachment.container_id.clone(),
            Attachment {
                range: key,
                offset,
                result: result.clone(),
            },
        );
        Ok(result)
    }

    async fn check(
        &self,
        attachment: &NetworkAttachment,
        previous: &CniResult,
    ) -> Result<(), CniError> {
        let state = self.lock();
        let existing = state
            .attachments
            .get(&attachment.container_id)
            .ok_or_else(|| CniError::UnknownAttachment(attachment.container_id.clone()))?;
        if existing.result.ips != previous.ips {
            return Err(CniError::CheckFailed(format!(
                "addresses changed for {}",
                attachment.container_id
            )));
        }
        Ok(())
    }

    async fn del(&self, attachment: &NetworkAttachment) -> Result<(), CniError> {
        let mut state = self.lock();
        if let Some(removed) = state.attachments.remove(&attachment.container_id)
            && let Some(range) = state.ranges.get_mut(&removed.range)
        {
            range.used.remove(&removed.offset);
        }
        Ok(())
    }

    async fn status(&self) -> Result<(), CniError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn attachment(id: &str, range: &str) -> NetworkAttachment {
        NetworkAttachment {
            container_id: id.to_owned(),
            ifname: "eth0".to_owned(),
            ip_ranges: vec![range.to_owned()],
            ..NetworkAttachment::default()
        }
    }

    #[tokio::test]
    async fn add_allocates_from_the_range_skipping_network_gateway_and_broadcast() {
        let net = SimNetwork::new();
        let first = net.add(&attachment("a", "10.244.1.0/30")).await.unwrap();
        assert_eq!(first.ips[0].address, "10.244.1.2/30");
        assert_eq!(first.ips[0].gateway.as_deref(), Some("10.244.1.1"));
        // A /30 has one usable address once the gateway and broadcast are kept out.
        let err = net
            .add(&attachment("b", "10.244.1.0/30"))
            .await
            .unwrap_err();
        assert!(matches!(err, CniError::AddressesExhausted { .. }), "{err}");
        net.del(&attachment("a", "10.244.1.0/30")).await.unwrap();
        let again = net.add(&attachment("b", "10.244.1.0/30")).await.unwrap();
        assert_eq!(again.ips[0].address, "10.244.1.2/30");
    }

    #[tokio::test]
    async fn add_is_idempotent_and_del_of_unknown_succeeds() {
        let net = SimNetwork::new();
        let a = net.add(&attachment("a", "10.0.0.0/24")).await.unwrap();
        let again = net.add(&attachment("a", "10.0.0.0/24")).await.unwrap();
        assert_eq!(a, again);
        assert_eq!(net.allocated(), 1);
        net.check(&attachment("a", "10.0.0.0/24"), &a)
            .await
            .unwrap();
        net.del(&attachment("zzz", "10.0.0.0/24")).await.unwrap();
        assert!(
            net.check(&attachment("zzz", "10.0.0.0/24"), &a)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn add_without_a_range_is_a_configuration_error() {
        let net = SimNetwork::new();
        let mut no_range = attachment("a", "x");
        no_range.ip_ranges.clear();
        assert_eq!(net.add(&no_range).await.unwrap_err().code(), 7);
    }

    proptest! {
        #[test]
        fn allocated_addresses_are_distinct_usable_hosts_of_the_range(
            ops in proptest::collection::vec((any::<bool>(), 0usize..40), 1..200)
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let net = SimNetwork::new();
                let cidr: Cidr = "10.1.2.0/27".parse().unwrap();
                let mut live: HashMap<String, String> = HashMap::new();
                for (add, n) in ops {
                    let id = format!("c{n}");
                    if add {
                        match net.add(&attachment(&id, "10.1.2.0/27")).await {
                            Ok(result) => {
                                let ip = result.ips[0].ip().to_owned();
                                if let Some(previous) = live.get(&id) {
                                    prop_assert_eq!(previous, &ip);
                                }
                                live.insert(id, ip);
                            }
                            Err(CniError::AddressesExhausted { .. }) => prop_assert_eq!(live.len(), 29),
                            Err(other) => prop_assert!(false, "{other}"),
                        }
                    } else {
                        net.del(&attachment(&id, "10.1.2.0/27")).await.unwrap();
                        live.remove(&id);
                    }
                    let distinct: HashSet<&String> = live.values().collect();
                    prop_assert_eq!(distinct.len(), live.len());
                    for ip in live.values() {
                        let ip: std::net::IpAddr = ip.parse().unwrap();
                        prop_assert!(cidr.contains(ip));
                        prop_assert!(ip != cidr.nth(0).unwrap() && ip != cidr.nth(1).unwrap() && ip != cidr.nth(31).unwrap());
                    }
                }
                Ok(())
            })?;
        }
    }
}
