//! `FastMap`: a hash map with a fast, non-cryptographic string hasher, for the maps the
//! scheduler looks up once per node per pod (topology counts, nominated pods by node).
//!
//! The hasher is the multiply-rotate hash of rustc's `FxHasher`. The keys are node names,
//! label values and pod UIDs held in an in-process cache, not attacker-chosen keys of a
//! long-lived public map, so SipHash's flood resistance buys nothing here while its cost shows
//! on every lookup.

use std::collections::HashMap;

/// The hasher of [`FastMap`]. See the module docs.
#[derive(Default, Clone, Copy)]
pub struct FastHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        for &byte in chunks.remainder() {
            self.add(u64::from(byte));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

/// The [`FastHasher`] hash of a string, as a [`FastMap`] keyed by it hashes it: node infos
/// keep their name's, so that maps of nodes can be keyed by it without reading the name.
pub fn name_hash(name: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<FastHasher>::default().hash_one(name)
}

/// A map with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_hash_alike_and_lookups_find_them() {
        let mut map: FastMap<String, usize> = FastMap::default();
        for i in 0..1000 {
            map.insert(format!("node-{i}"), i);
        }
        assert_eq!(map.len(), 1000);
        assert_eq!(map.get("node-737"), Some(&737));
        assert_eq!(map.get("node-1000"), None);
    }
}
