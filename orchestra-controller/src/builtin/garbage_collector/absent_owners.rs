//! The owners known to be gone, so that the dependents of a deleted owner do not each ask
//! the server again (Kubernetes' `absentOwnerCache`, 500 entries). Uids are never reused, so
//! an entry never turns false; the oldest entries are forgotten first.

use std::collections::{HashSet, VecDeque};

use super::graph::ObjectIdentity;

/// How many absent owners are remembered.
pub const CAPACITY: usize = 500;

/// A bounded set of owner identities confirmed absent.
#[derive(Debug)]
pub struct AbsentOwners {
    capacity: usize,
    known: HashSet<ObjectIdentity>,
    order: VecDeque<ObjectIdentity>,
}

impl Default for AbsentOwners {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl AbsentOwners {
    /// A cache remembering at most `capacity` owners.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            known: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Remembers that `owner` is gone.
    pub fn add(&mut self, owner: ObjectIdentity) {
        if self.known.contains(&owner) {
            return;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.known.remove(&oldest);
        }
        self.known.insert(owner.clone());
        self.order.push_back(owner);
    }

    /// Whether `owner` is known to be gone.
    pub fn contains(&self, owner: &ObjectIdentity) -> bool {
        self.known.contains(owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(uid: &str) -> ObjectIdentity {
        ObjectIdentity {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "ns".into(),
            name: uid.into(),
            uid: uid.into(),
        }
    }

    #[test]
    fn the_oldest_owners_are_forgotten_first() {
        let mut cache = AbsentOwners::with_capacity(2);
        cache.add(owner("a"));
        cache.add(owner("b"));
        cache.add(owner("a"));
        cache.add(owner("c"));
        assert!(!cache.contains(&owner("a")));
        assert!(cache.contains(&owner("b")) && cache.contains(&owner("c")));
    }
}
