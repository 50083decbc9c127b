//! A CIDR set: the cluster CIDR cut into equal node CIDRs, and which of them are taken
//! (Kubernetes' `cidrset`). Allocation hands out the next free node CIDR after the last one
//! handed out, wrapping around, so a CIDR just released is not reused at once; CIDRs can also
//! be marked taken (`occupy`, for nodes that already have one, or for the service range) and
//! released.
//!
//! ```
//! use orchestra_controller::builtin::node_ipam::CidrSet;
//!
//! let mut set = CidrSet::new("10.244.0.0/16".parse().unwrap(), 24).unwrap();
//! assert_eq!(set.capacity(), 256);
//! set.occupy("10.244.0.0/24".parse().unwrap()).unwrap();
//! assert_eq!(set.allocate_next().unwrap().to_string(), "10.244.1.0/24");
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The most node CIDRs one IPv6 cluster CIDR may be cut into, as a power of two (Kubernetes'
/// limit: a node mask at most 16 bits longer than the cluster's).
pub const MAX_IPV6_SUBNET_BITS: u8 = 16;

/// What went wrong with a CIDR set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrSetError {
    /// The node mask is shorter than the cluster CIDR's.
    #[error(
        "the node CIDR mask size /{node_prefix} must be at least the cluster CIDR {cluster}'s mask size"
    )]
    NodeMaskTooShort {
        /// The cluster CIDR.
        cluster: IpNet,
        /// The node mask size.
        node_prefix: u8,
    },
    /// The node mask is longer than an address of the family.
    #[error("the node CIDR mask size /{node_prefix} is longer than an address of {cluster}")]
    NodeMaskTooLong {
        /// The cluster CIDR.
        cluster: IpNet,
        /// The node mask size.
        node_prefix: u8,
    },
    /// An IPv6 cluster CIDR would be cut into more than 2^16 node CIDRs.
    #[error(
        "the node CIDR size is too big: /{node_prefix} cuts {cluster} into more than 2^{MAX_IPV6_SUBNET_BITS} node CIDRs"
    )]
    SubnetTooBig {
        /// The cluster CIDR.
        cluster: IpNet,
        /// The node mask size.
        node_prefix: u8,
    },
    /// Every node CIDR is taken.
    #[error(
        "CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range {cluster}"
    )]
    Exhausted {
        /// The cluster CIDR.
        cluster: IpNet,
    },
    /// A CIDR to occupy or release does not overlap the cluster CIDR.
    #[error("cidr {cidr} is out of the range of cluster cidr {cluster}")]
    OutOfRange {
        /// The CIDR given.
        cidr: IpNet,
        /// The cluster CIDR.
        cluster: IpNet,
    },
}

/// The node CIDRs of one cluster CIDR and which are taken. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct CidrSet {
    cluster: IpNet,
    node_prefix: u8,
    /// The cluster network's first address, as a number.
    base: u128,
    /// How many node CIDRs there are.
    capacity: usize,
    /// One bit per node CIDR.
    used: Vec<u64>,
    allocated: usize,
    next_candidate: usize,
}

fn address_bits(net: &IpNet) -> u8 {
    match net {
        IpNet::V4(_) => 32,
        IpNet::V6(_) => 128,
    }
}

fn to_number(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(ip) => u128::from(u32::from(ip)),
        IpAddr::V6(ip) => u128::from(ip),
    }
}

impl CidrSet {
    /// The set of `/node_prefix` CIDRs in `cluster` (its host bits are ignored), none taken.
    pub fn new(cluster: IpNet, node_prefix: u8) -> Result<Self, CidrSetError> {
        let cluster = cluster.trunc();
        let bits = address_bits(&cluster);
        if node_prefix < cluster.prefix_len() {
            return Err(CidrSetError::NodeMaskTooShort {
                cluster,
                node_prefix,
            });
        }
        if node_prefix > bits {
            return Err(CidrSetError::NodeMaskTooLong {
                cluster,
                node_prefix,
            });
        }
        let subnet_bits = node_prefix - cluster.prefix_len();
        let too_big = match cluster {
            IpNet::V6(_) => subnet_bits > MAX_IPV6_SUBNET_BITS,
            // Kubernetes allows any IPv4 split; past 2^24 the bitmap alone would take
            // megabytes, which no real cluster needs.
            IpNet::V4(_) => subnet_bits > 24,
        };
        if too_big {
            return Err(CidrSetError::SubnetTooBig {
                cluster,
                node_prefix,
            });
        }
        let capacity = 1usize << subnet_bits;
        Ok(Self {
            cluster,
            node_prefix,
            base: to_number(cluster.network()),
            capacity,
            used: vec![0; capacity.div_ceil(64)],
            allocated: 0,
            next_candidate: 0,
        })
    }

    /// The cluster CIDR.
    pub fn cluster_cidr(&self) -> IpNet {
        self.cluster
    }

    /// The node CIDRs' mask size.
    pub fn node_prefix(&self) -> u8 {
        self.node_prefix
    }

    /// How many node CIDRs there are.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many are taken.
    pub fn allocated(&self) -> usize {
        self.allocated
    }

    fn is_used(&self, index: usize) -> bool {
        self.used[index / 64] & (1 << (index % 64)) != 0
    }

    /// Marks `index` taken or free; whether it changed.
    fn set_used(&mut self, index: usize, used: bool) -> bool {
        if self.is_used(index) == used {
            return false;
        }
        self.used[index / 64] ^= 1 << (index % 64);
        if used {
            self.allocated += 1;
        } else {
            self.allocated -= 1;
        }
        true
    }

    /// The node CIDR at `index`.
    fn cidr_at(&self, index: usize) -> IpNet {
        let step_bits = address_bits(&self.cluster) - self.node_prefix;
        let address = self.base + ((index as u128) << step_bits);
        match self.cluster {
            IpNet::V4(_) => {
                let ip = Ipv4Addr::from(address as u32);
                IpNet::V4(Ipv4Net::new(ip, self.node_prefix).expect("the prefix was checked"))
            }
            IpNet::V6(_) => {
                let ip = Ipv6Addr::from(address);
                IpNet::V6(Ipv6Net::new(ip, self.node_prefix).expect("the prefix was checked"))
            }
        }
    }

    /// The index of the node CIDR holding `ip` (which lies in the cluster CIDR).
    fn index_of(&self, ip: IpAddr) -> usize {
        let step_bits = address_bits(&self.cluster) - self.node_prefix;
        ((to_number(ip) - self.base) >> step_bits) as usize
    }

    /// The first and last index of the node CIDRs `cidr` overlaps.
    fn range_of(&self, cidr: IpNet) -> Result<(usize, usize), CidrSetError> {
        let out_of_range = || CidrSetError::OutOfRange {
            cidr,
            cluster: self.cluster,
        };
        let same_family = matches!(
            (cidr, self.cluster),
            (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
        );
        if !same_family {
            return Err(out_of_range());
        }
        let cidr = cidr.trunc();
        if cidr.contains(&self.cluster) {
            return Ok((0, self.capacity - 1));
        }
        if !self.cluster.contains(&cidr) {
            return Err(out_of_range());
        }
        Ok((
            self.index_of(cidr.network()),
            self.index_of(cidr.broadcast()),
        ))
    }

    /// Takes the next free node CIDR after the last one handed out.
    pub fn allocate_next(&mut self) -> Result<IpNet, CidrSetError> {
        if self.allocated == self.capacity {
            return Err(CidrSetError::Exhausted {
                cluster: self.cluster,
            });
        }
        let mut candidate = self.next_candidate;
        while self.is_used(candidate) {
            candidate = (candidate + 1) % self.capacity;
        }
        self.next_candidate = (candidate + 1) % self.capacity;
        self.set_used(candidate, true);
        Ok(self.cidr_at(candidate))
    }

    /// Marks every node CIDR that `cidr` overlaps as taken.
    pub fn occupy(&mut self, cidr: IpNet) -> Result<(), CidrSetError> {
        let (first, last) = self.range_of(cidr)?;
        for index in first..=last {
            self.set_used(index, true);
        }
        Ok(())
    }

    /// Frees every node CIDR that `cidr` overlaps.
    pub fn release(&mut self, cidr: IpNet) -> Result<(), CidrSetError> {
        let (first, last) = self.range_of(cidr)?;
        for index in first..=last {
            self.set_used(index, false);
        }
        Ok(())
    }

    /// Whether every node CIDR `cidr` overlaps is taken.
    pub fn is_occupied(&self, cidr: IpNet) -> bool {
        self.range_of(cidr)
            .is_ok_and(|(first, last)| (first..=last).all(|index| self.is_used(index)))
    }

    /// Whether `cidr` is of this set's family.
    pub fn holds_family_of(&self, cidr: &IpNet) -> bool {
        matches!(
            (cidr, self.cluster),
            (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[test]
    fn allocation_goes_round_and_ends_when_exhausted() {
        let mut set = CidrSet::new(net("10.0.0.0/30"), 32).unwrap();
        let got: Vec<String> = (0..4)
            .map(|_| set.allocate_next().unwrap().to_string())
            .collect();
        assert_eq!(
            got,
            ["10.0.0.0/32", "10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"]
        );
        assert!(matches!(
            set.allocate_next(),
            Err(CidrSetError::Exhausted { .. })
        ));
        set.release(net("10.0.0.1/32")).unwrap();
        assert_eq!(set.allocate_next().unwrap(), net("10.0.0.1/32"));
    }

    #[test]
    fn a_released_cidr_is_not_reused_at_once() {
        let mut set = CidrSet::new(net("10.244.0.0/16"), 24).unwrap();
        let first = set.allocate_next().unwrap();
        set.release(first).unwrap();
        assert_eq!(set.allocate_next().unwrap(), net("10.244.1.0/24"));
    }

    #[test]
    fn occupying_a_larger_or_smaller_range_marks_what_it_overlaps() {
        let mut set = CidrSet::new(net("10.244.0.0/16"), 24).unwrap();
        set.occupy(net("10.244.0.0/22")).unwrap();
        assert_eq!(set.allocated(), 4);
        set.occupy(net("10.244.9.128/25")).unwrap();
        assert!(set.is_occupied(net("10.244.9.0/24")));
        assert_eq!(set.allocated(), 5);
        set.occupy(net("10.0.0.0/8")).unwrap();
        assert_eq!(set.allocated(), 256);
        assert!(matches!(
            set.occupy(net("192.168.0.0/24")),
            Err(CidrSetError::OutOfRange { .. })
        ));
        assert!(set.occupy(net("fd00::/64")).is_err());
    }

    #[test]
    fn masks_are_checked() {
        assert!(matches!(
            CidrSet::new(net("10.244.0.0/16"), 8),
            Err(CidrSetError::NodeMaskTooShort { .. })
        ));
        assert!(matches!(
            CidrSet::new(net("10.244.0.0/16"), 33),
            Err(CidrSetError::NodeMaskTooLong { .. })
        ));
        assert!(matches!(
            CidrSet::new(net("fd00::/48"), 80),
            Err(CidrSetError::SubnetTooBig { .. })
        ));
        let v6 = CidrSet::new(net("fd00:10::/56"), 64).unwrap();
        assert_eq!(v6.capacity(), 256);
    }

    #[test]
    fn ipv6_cidrs_are_cut_at_the_node_mask() {
        let mut set = CidrSet::new(net("fd00:10::/56"), 64).unwrap();
        assert_eq!(set.allocate_next().unwrap(), net("fd00:10::/64"));
        assert_eq!(set.allocate_next().unwrap(), net("fd00:10:0:1::/64"));
    }
}
