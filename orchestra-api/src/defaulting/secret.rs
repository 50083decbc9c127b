//! Secret defaults: a Secret without a type is `Opaque` (arbitrary user data), and
//! `stringData` is folded into `data`.
//!
//! `stringData` is write-only: Kubernetes merges it into `data` when it decodes a `v1` Secret
//! (each key overwriting the `data` entry of the same name) and never stores or returns it.
//! Orchestra does the same here, as the first step after decoding, so a Secret read back holds
//! its values in `data` only — which is also why a client-side `kubectl apply` of a manifest
//! with `stringData` reports `configured` every time.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;

use super::default_string;

/// Defaults a Secret: `stringData` merged over `data` and removed, type `Opaque`.
pub fn default_secret(secret: &mut Secret) {
    if let Some(string_data) = secret.string_data.take() {
        let data = secret.data.get_or_insert_default();
        for (key, value) in string_data {
            data.insert(key, ByteString(value.into_bytes()));
        }
    }
    default_string(&mut secret.type_, "Opaque");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn untyped_secrets_are_opaque_and_typed_ones_keep_their_type() {
        let mut secret = Secret::default();
        default_secret(&mut secret);
        assert_eq!(secret.type_.as_deref(), Some("Opaque"));

        let mut tls = Secret {
            type_: Some("kubernetes.io/tls".into()),
            ..Default::default()
        };
        default_secret(&mut tls);
        assert_eq!(tls.type_.as_deref(), Some("kubernetes.io/tls"));
    }

    #[test]
    fn string_data_is_folded_into_data_and_overwrites_keys_of_the_same_name() {
        let mut secret = Secret {
            data: Some(BTreeMap::from([
                ("username".to_owned(), ByteString(b"old".to_vec())),
                ("token".to_owned(), ByteString(b"kept".to_vec())),
            ])),
            string_data: Some(BTreeMap::from([
                ("username".to_owned(), "admin".to_owned()),
                ("password".to_owned(), "t0p-Secret".to_owned()),
            ])),
            ..Default::default()
        };
        default_secret(&mut secret);
        assert_eq!(secret.string_data, None);
        assert_eq!(
            secret.data,
            Some(BTreeMap::from([
                ("password".to_owned(), ByteString(b"t0p-Secret".to_vec())),
                ("token".to_owned(), ByteString(b"kept".to_vec())),
                ("username".to_owned(), ByteString(b"admin".to_vec())),
            ]))
        );
    }

    #[test]
    fn a_secret_with_only_string_data_gets_data_and_defaulting_twice_changes_nothing() {
        let mut secret = Secret {
            string_data: Some(BTreeMap::from([("a".to_owned(), "b".to_owned())])),
            ..Default::default()
        };
        default_secret(&mut secret);
        let once = secret.clone();
        default_secret(&mut secret);
        assert_eq!(secret, once);
        assert_eq!(
            secret.data,
            Some(BTreeMap::from([(
                "a".to_owned(),
                ByteString(b"b".to_vec())
            )]))
        );
    }
}
