//! The simulated runtime's images: references normalised as containerd does, with
//! deterministic digests and sizes.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::cri::Image;

/// Normalises a reference the way Docker and containerd do: `nginx` is
/// `docker.io/library/nginx:latest`, `team/app:1` is `docker.io/team/app:1`, references with a
/// registry host (a first component with a `.` or `:`, or `localhost`) keep it; digests stay.
pub fn normalize(reference: &str) -> String {
    let reference = reference.trim();
    let (name, digest) = match reference.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (reference, None),
    };
    let first = name.split('/').next().unwrap_or_default();
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut full = if has_registry {
        name.to_owned()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    let last = full.rsplit('/').next().unwrap_or_default();
    if digest.is_none() && !last.contains(':') {
        full.push_str(":latest");
    }
    match digest {
        Some(digest) => format!("{full}@{digest}"),
        None => full,
    }
}

/// The repository part of a normalised reference (without tag and digest).
fn repository(normalized: &str) -> &str {
    let name = normalized.split('@').next().unwrap_or(normalized);
    match name.rfind(':') {
        Some(colon) if colon > name.rfind('/').unwrap_or(0) => &name[..colon],
        _ => name,
    }
}

/// A stable `sha256:`-shaped digest of a reference.
fn digest_of(normalized: &str) -> String {
    let mut hex = String::with_capacity(64);
    for seed in 0u64..4 {
        let mut hasher = DefaultHasher::new();
        seed.hash(&mut hasher);
        normalized.hash(&mut hasher);
        hex.push_str(&format!("{:016x}", hasher.finish()));
    }
    format!("sha256:{hex}")
}

/// The reference by digest of an image (`docker.io/library/nginx@sha256:…`), what the kubelet
/// reports as a container's `imageID`.
pub fn digest_reference(reference: &str, id: &str) -> String {
    format!("{}@{id}", repository(&normalize(reference)))
}

/// Images by normalised reference.
#[derive(Debug, Default)]
pub struct ImageStore {
    images: BTreeMap<String, Image>,
}

impl ImageStore {
    /// Adds an image (or answers the one present).
    pub fn insert(&mut self, reference: &str, pinned: bool) -> Image {
        let normalized = normalize(reference);
        self.images
            .entry(normalized.clone())
            .or_insert_with(|| {
                let id = digest_of(&normalized);
                let mut hasher = DefaultHasher::new();
                normalized.hash(&mut hasher);
                // Between 5 MiB and 200 MiB, stable per image.
                let size = (5 << 20) + hasher.finish() % (195 << 20);
                Image {
                    repo_digests: vec![format!("{}@{id}", repository(&normalized))],
                    repo_tags: if normalized.contains('@') {
                        Vec::new()
                    } else {
                        vec![normalized.clone()]
                    },
                    id,
                    size,
                    pinned,
                }
            })
            .clone()
    }

    /// The image a reference names.
    pub fn get(&self, reference: &str) -> Option<&Image> {
        self.images.get(&normalize(reference))
    }

    /// Removes an image.
    pub fn remove(&mut self, reference: &str) {
        self.images.remove(&normalize(reference));
    }

    /// Every image.
    pub fn list(&self) -> Vec<Image> {
        self.images.values().cloned().collect()
    }

    /// How many images.
    pub fn len(&self) -> usize {
        self.images.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalise_like_containerd() {
        assert_eq!(normalize("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(normalize("nginx:1.27"), "docker.io/library/nginx:1.27");
        assert_eq!(normalize("team/app:1"), "docker.io/team/app:1");
        assert_eq!(
            normalize("registry.k8s.io/pause:3.10"),
            "registry.k8s.io/pause:3.10"
        );
        assert_eq!(normalize("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(
            normalize("nginx@sha256:abc"),
            "docker.io/library/nginx@sha256:abc"
        );
    }

    #[test]
    fn digests_are_stable_and_distinct() {
        let mut store = ImageStore::default();
        let a = store.insert("nginx", false);
        let again = store.insert("docker.io/library/nginx:latest", false);
        let b = store.insert("nginx:1.27", false);
        assert_eq!(a, again);
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), "sha256:".len() + 64);
        assert!(digest_reference("nginx", &a.id).starts_with("docker.io/library/nginx@sha256:"));
        assert!(store.get("nginx:latest").is_some());
    }
}
