//! The `pod-template-hash`: the label that ties a ReplicaSet (and its pods) to one version of
//! a Deployment's pod template, and the suffix of the ReplicaSet's name (`web-7d4b9c8f6`).
//!
//! As Kubernetes' `controller.ComputeHash`: a 32-bit FNV-1a hash of the template, then of the
//! Deployment's `collisionCount` (four little-endian bytes padded to eight) when it has one,
//! printed in decimal and *safe-encoded* — each digit mapped to a consonant or digit that
//! cannot spell words (`bcdfghjklmnpqrstvwxz2456789`). Kubernetes hashes a Go dump of the
//! template; here the template's JSON encoding is hashed, which is equally deterministic, so
//! every process computes the same name for the same template. A name already taken by
//! another template raises `collisionCount` and the hash changes.
//!
//! Two templates are the same version when they are equal once the hash label is removed
//! ([`equal_ignore_hash`]), with absent and empty lists and maps counting as equal, as
//! Kubernetes' semantic equality does.

use orchestra_api::k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

/// The label (and selector entry) carrying the template hash: `pod-template-hash`.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// Characters of safe-encoded strings (Kubernetes' `rand.SafeEncodeString`).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV32_OFFSET: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;

/// 32-bit FNV-1a over `bytes`, continuing from `hash`.
fn fnv1a32(mut hash: u32, bytes: &[u8]) -> u32 {
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(FNV32_PRIME);
    }
    hash
}

/// Maps every byte of `text` into the safe alphabet.
pub fn safe_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| char::from(SAFE_ALPHABET[usize::from(byte) % SAFE_ALPHABET.len()]))
        .collect()
}

/// The `pod-template-hash` of `template` with the Deployment's `collision_count`.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    // Encoding a typed template cannot fail; an empty body still hashes deterministically.
    let encoded = serde_json::to_vec(template).unwrap_or_default();
    let mut hash = fnv1a32(FNV32_OFFSET, &encoded);
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(count as u32).to_le_bytes());
        hash = fnv1a32(hash, &bytes);
    }
    safe_encode(&hash.to_string())
}

/// Drops nulls, empty lists and empty maps, recursively.
fn normalize(value: &mut Value) -> bool {
    match value {
        Value::Null => false,
        Value::Array(items) => {
            items.iter_mut().for_each(|item| {
                normalize(item);
            });
            !items.is_empty()
        }
        Value::Object(fields) => {
            fields.retain(|_, field| normalize(field));
            !fields.is_empty()
        }
        _ => true,
    }
}

fn comparable(template: &PodTemplateSpec) -> Value {
    let mut value = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Some(labels) = value
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    normalize(&mut value);
    value
}

/// Whether two templates are the same version: equal apart from the hash label (Kubernetes'
/// `EqualIgnoreHash`).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    comparable(a) == comparable(b)
}

#[cfg(test)]
mod tests {
    use orchestra_api::k8s_openapi::api::core::v1::{Container, PodSpec};
    use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn template(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_owned(), "web".to_owned())].into()),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a32(FNV32_OFFSET, b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(FNV32_OFFSET, b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(FNV32_OFFSET, b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn safe_encoding_maps_digits_to_the_safe_alphabet() {
        // '0' is byte 48, 48 % 27 = 21 → '4'; '9' is 57, 57 % 27 = 3 → 'f'.
        assert_eq!(safe_encode("09"), "4f");
        assert!(
            safe_encode("1234567890")
                .bytes()
                .all(|b| SAFE_ALPHABET.contains(&b))
        );
    }

    #[test]
    fn the_hash_is_stable_and_changes_with_the_template_and_the_collision_count() {
        let hash = compute_hash(&template("nginx:1.27"), None);
        assert_eq!(hash, compute_hash(&template("nginx:1.27"), None));
        assert!((6..=10).contains(&hash.len()), "a u32 in decimal: {hash}");
        assert!(hash.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
        assert_ne!(hash, compute_hash(&template("nginx:1.28"), None));
        assert_ne!(hash, compute_hash(&template("nginx:1.27"), Some(1)));
        assert_ne!(
            compute_hash(&template("nginx:1.27"), Some(1)),
            compute_hash(&template("nginx:1.27"), Some(2))
        );
    }

    #[test]
    fn templates_equal_but_for_the_hash_label_and_empty_fields_are_the_same_version() {
        let plain = template("nginx");
        let mut hashed = template("nginx");
        hashed
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_TEMPLATE_HASH_LABEL.into(), "abc".into());
        hashed.metadata.as_mut().unwrap().annotations = Some(Default::default());
        hashed.spec.as_mut().unwrap().volumes = Some(Vec::new());
        assert!(equal_ignore_hash(&plain, &hashed));
        assert!(!equal_ignore_hash(&plain, &template("httpd")));
    }
}
