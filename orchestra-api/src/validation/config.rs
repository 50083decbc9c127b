//! Configuration objects: ConfigMaps and Secrets (keys, 1 MiB of data at most, the keys each
//! Secret type requires, and no change at all once `immutable: true`), and ServiceAccounts.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};

use super::field_error::FieldErrors;
use super::metadata::{NamespaceRule, identity_update, object_meta};
use super::names::{is_config_map_key, name_is_dns_subdomain};
use super::path::{Path, forbidden, immutable, invalid, invalid_each, required, too_long};

/// The most bytes of data one ConfigMap or Secret may hold (1 MiB).
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

const IMMUTABLE: &str = "field is immutable when `immutable` is set";

/// Checks a ConfigMap about to be created.
pub fn validate_config_map(config_map: &ConfigMap) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &config_map.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let data_path = Path::root("data");
    let binary_path = Path::root("binaryData");
    let mut total = 0usize;
    let binary = config_map.binary_data.as_ref();
    for (key, value) in config_map.data.iter().flatten() {
        let key_path = data_path.key(key);
        invalid_each(&mut errors, &key_path, key, is_config_map_key(key));
        if binary.is_some_and(|b| b.contains_key(key)) {
            errors.push(invalid(
                &key_path,
                key.as_str(),
                "duplicate of key present in binaryData",
            ));
        }
        total = total.saturating_add(value.len());
    }
    for (key, value) in binary.into_iter().flatten() {
        invalid_each(
            &mut errors,
            &binary_path.key(key),
            key,
            is_config_map_key(key),
        );
        total = total.saturating_add(value.0.len());
    }
    if total > MAX_SECRET_SIZE {
        errors.push(too_long(&Path::root(""), MAX_SECRET_SIZE));
    }
    errors
}

/// Checks a ConfigMap replacing `old`: nothing may change once `old` is immutable.
pub fn validate_config_map_update(new: &ConfigMap, old: &ConfigMap) -> FieldErrors {
    let mut errors = FieldErrors::new();
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errors.push(forbidden(&Path::root("immutable"), IMMUTABLE));
        }
        if new.data.clone().unwrap_or_default() != old.data.clone().unwrap_or_default() {
            errors.push(forbidden(&Path::root("data"), IMMUTABLE));
        }
        if new.binary_data.clone().unwrap_or_default()
            != old.binary_data.clone().unwrap_or_default()
        {
            errors.push(forbidden(&Path::root("binaryData"), IMMUTABLE));
        }
    }
    errors.extend(validate_config_map(new));
    errors
}

/// The data of a Secret as Kubernetes validates it: `data` with `stringData` merged over it.
fn secret_data(secret: &Secret) -> BTreeMap<&str, &[u8]> {
    let mut data: BTreeMap<&str, &[u8]> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.0.as_slice()))
        .collect();
    for (key, value) in secret.string_data.iter().flatten() {
        data.insert(key.as_str(), value.as_bytes());
    }
    data
}

/// Checks a Secret about to be created.
pub fn validate_secret(secret: &Secret) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &secret.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let data = secret_data(secret);
    let data_path = Path::root("data");
    let mut total = 0usize;
    for (key, value) in &data {
        invalid_each(
            &mut errors,
            &data_path.key(key),
            key,
            is_config_map_key(key),
        );
        total = total.saturating_add(value.len());
    }
    if total > MAX_SECRET_SIZE {
        errors.push(too_long(&data_path, MAX_SECRET_SIZE));
    }
    let require_key = |errors: &mut FieldErrors, key: &str| {
        if !data.contains_key(key) {
            errors.push(required(&data_path.key(key), ""));
            false
        } else {
            true
        }
    };
    let well_formed_json = |errors: &mut FieldErrors, key: &str| {
        let value = data.get(key).copied().unwrap_or_default();
        if let Err(error) =
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(value)
        {
            errors.push(invalid(
                &data_path.key(key),
                "<secret contents redacted>",
                error.to_string(),
            ));
        }
    };
    match secret.type_.as_deref().unwrap_or_default() {
        "kubernetes.io/service-account-token" => {
            let name = secret
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("kubernetes.io/service-account.name"));
            if name.is_none_or(String::is_empty) {
                let meta_path = Path::root("metadata");
                let annotations_path = meta_path.child("annotations");
                errors.push(required(
                    &annotations_path.key("kubernetes.io/service-account.name"),
                    "",
                ));
            }
        }
        kind @ ("kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson") => {
            let key = if kind == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            if require_key(&mut errors, key) {
                well_formed_json(&mut errors, key);
            }
        }
        "kubernetes.io/basic-auth"
            if !data.contains_key("username") && !data.contains_key("password") =>
        {
            errors.push(required(&data_path.key("username"), ""));
            errors.push(required(&data_path.key("password"), ""));
        }
        "kubernetes.io/ssh-auth" if data.get("ssh-privatekey").is_none_or(|v| v.is_empty()) => {
            errors.push(required(&data_path.key("ssh-privatekey"), ""));
        }
        "kubernetes.io/tls" => {
            require_key(&mut errors, "tls.crt");
            require_key(&mut errors, "tls.key");
        }
        _ => {}
    }
    errors
}

/// Checks a Secret replacing `old`: its type never changes, and nothing changes once `old` is
/// immutable.
pub fn validate_secret_update(new: &Secret, old: &Secret) -> FieldErrors {
    let mut errors = FieldErrors::new();
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    immutable(
        &mut errors,
        &Path::root("type"),
        &new.type_.clone().unwrap_or_default(),
        &old.type_.clone().unwrap_or_default(),
    );
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errors.push(forbidden(&Path::root("immutable"), IMMUTABLE));
        }
        if secret_data(new) != secret_data(old) {
            errors.push(forbidden(&Path::root("data"), IMMUTABLE));
        }
    }
    errors.extend(validate_secret(new));
    errors
}

/// Checks a ServiceAccount about to be created.
pub fn validate_service_account(account: &ServiceAccount) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &account.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    errors
}

/// Checks a ServiceAccount replacing `old`.
pub fn validate_service_account_update(new: &ServiceAccount, old: &ServiceAccount) -> FieldErrors {
    let mut errors = validate_service_account(new);
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    errors
}
