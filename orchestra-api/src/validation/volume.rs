//! Pod volumes: unique DNS-label names, exactly one source each, and the rules of the common
//! sources (emptyDir, hostPath, secret, configMap, persistentVolumeClaim, nfs, downwardAPI,
//! projected, csi, ephemeral, image, iscsi, gitRepo).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    DownwardAPIVolumeFile, KeyToPath, ObjectFieldSelector, ProjectedVolumeSource, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::container::{
    VOLUME_FIELD_PATHS, local_descending_path, no_backsteps, object_field_selector, pull_policy,
    resource_field_selector,
};
use super::field_error::FieldErrors;
use super::names::{is_dns1123_label, is_dns1123_subdomain, name_is_dns_subdomain};
use super::path::{Path, duplicate, forbidden, invalid, invalid_each, not_supported, required};
use super::resources::milli_value;
use super::storage::{csi_driver_name, persistent_volume_claim_spec};

const FILE_MODE_ERROR: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// Checks the volumes of a pod spec and returns those that passed, by name, for the mounts to
/// refer to. `pod_name` is the pod's name when the spec belongs to a pod (ephemeral volumes name
/// their claims after it).
pub(crate) fn volumes<'a>(
    errors: &mut FieldErrors,
    list: &'a [Volume],
    pod_name: Option<&str>,
    is_pod: bool,
    path: &Path<'_>,
) -> Vec<(&'a str, &'a Volume)> {
    let mut valid: Vec<(&'a str, &'a Volume)> = Vec::with_capacity(list.len());
    let mut names: BTreeSet<&str> = BTreeSet::new();
    let created_claims: Vec<String> = match pod_name.filter(|n| !n.is_empty()) {
        Some(pod) => list
            .iter()
            .filter(|v| v.ephemeral.is_some())
            .map(|v| format!("{pod}-{}", v.name))
            .collect(),
        None => Vec::new(),
    };
    for (i, volume) in list.iter().enumerate() {
        let volume_path = path.index(i);
        let name_path = volume_path.child("name");
        let mut own = FieldErrors::new();
        source(&mut own, volume, pod_name, is_pod, &volume_path);
        if volume.name.is_empty() {
            own.push(required(&name_path, ""));
        } else {
            invalid_each(
                &mut own,
                &name_path,
                &volume.name,
                is_dns1123_label(&volume.name),
            );
        }
        if names.contains(volume.name.as_str()) {
            own.push(duplicate(&name_path, volume.name.as_str()));
        }
        if own.is_empty() {
            names.insert(volume.name.as_str());
            valid.push((volume.name.as_str(), volume));
        } else {
            errors.append(&mut own);
        }
        if let Some(claim) = &volume.persistent_volume_claim {
            if created_claims.contains(&claim.claim_name) {
                errors.push(invalid(
                    &volume_path
                        .child("persistentVolumeClaim")
                        .child("claimName"),
                    claim.claim_name.as_str(),
                    "must not reference a PVC that gets created for an ephemeral volume",
                ));
            }
        }
    }
    valid
}

fn source(
    errors: &mut FieldErrors,
    volume: &Volume,
    pod_name: Option<&str>,
    is_pod: bool,
    path: &Path<'_>,
) {
    let mut count = 0;
    let mut one = |errors: &mut FieldErrors, present: bool, child: &str| -> bool {
        if !present {
            return false;
        }
        count += 1;
        if count > 1 {
            errors.push(forbidden(
                &path.child(child),
                "may not specify more than 1 volume type",
            ));
            return false;
        }
        true
    };
    if one(errors, volume.empty_dir.is_some(), "emptyDir") {
        if let Some(limit) = volume
            .empty_dir
            .as_ref()
            .and_then(|e| e.size_limit.as_ref())
        {
            if milli_value(limit).is_ok_and(|v| v < 0) || milli_value(limit).is_err() {
                errors.push(forbidden(
                    &path.child("emptyDir").child("sizeLimit"),
                    "SizeLimit field must be a valid resource quantity",
                ));
            }
        }
    }
    if let Some(host_path) = &volume.host_path {
        if one(errors, true, "hostPath") {
            host_path_source(
                errors,
                &host_path.path,
                host_path.type_.as_deref(),
                &path.child("hostPath"),
            );
        }
    }
    if let Some(git) = &volume.git_repo {
        if one(errors, true, "gitRepo") {
            let git_path = path.child("gitRepo");
            if git.repository.is_empty() {
                errors.push(required(&git_path.child("repository"), ""));
            }
            local_descending_path(
                errors,
                git.directory.as_deref().unwrap_or_default(),
                &git_path.child("directory"),
            );
        }
    }
    one(
        errors,
        volume.gce_persistent_disk.is_some(),
        "gcePersistentDisk",
    );
    one(
        errors,
        volume.aws_elastic_block_store.is_some(),
        "awsElasticBlockStore",
    );
    if let Some(secret) = &volume.secret {
        if one(errors, true, "secret") {
            let secret_path = path.child("secret");
            if secret.secret_name.as_deref().unwrap_or_default().is_empty() {
                errors.push(required(&secret_path.child("secretName"), ""));
            }
            file_mode(
                errors,
                secret.default_mode,
                &secret_path.child("defaultMode"),
            );
            key_to_paths(errors, secret.items.as_deref(), &secret_path.child("items"));
        }
    }
    if let Some(nfs) = &volume.nfs {
        if one(errors, true, "nfs") {
            let nfs_path = path.child("nfs");
            if nfs.server.is_empty() {
                errors.push(required(&nfs_path.child("server"), ""));
            }
            if nfs.path.is_empty() {
                errors.push(required(&nfs_path.child("path"), ""));
            }
            if !nfs.path.starts_with('/') {
                errors.push(invalid(
                    &nfs_path.child("path"),
                    nfs.path.as_str(),
                    "must be an absolute path",
                ));
            }
        }
    }
    if let Some(iscsi) = &volume.iscsi {
        if one(errors, true, "iscsi") {
            let iscsi_path = path.child("iscsi");
            if iscsi.target_portal.is_empty() {
                errors.push(required(&iscsi_path.child("targetPortal"), ""));
            }
            if iscsi.iqn.is_empty() {
                errors.push(required(&iscsi_path.child("iqn"), ""));
            } else if !["iqn", "eui", "naa"]
                .iter()
                .any(|p| iscsi.iqn.starts_with(p))
            {
                errors.push(invalid(
                    &iscsi_path.child("iqn"),
                    iscsi.iqn.as_str(),
                    "must be valid format starting with iqn, eui, or naa",
                ));
            }
            if !(0..=255).contains(&iscsi.lun) {
                errors.push(invalid(
                    &iscsi_path.child("lun"),
                    iscsi.lun,
                    super::names::inclusive_range_error(0, 255),
                ));
            }
            let chap =
                iscsi.chap_auth_discovery == Some(true) || iscsi.chap_auth_session == Some(true);
            if chap && iscsi.secret_ref.is_none() {
                errors.push(required(&iscsi_path.child("secretRef"), ""));
            }
        }
    }
    one(errors, volume.glusterfs.is_some(), "glusterfs");
    one(errors, volume.flocker.is_some(), "flocker");
    if let Some(claim) = &volume.persistent_volume_claim {
        if one(errors, true, "persistentVolumeClaim") && claim.claim_name.is_empty() {
            errors.push(required(
                &path.child("persistentVolumeClaim").child("claimName"),
                "",
            ));
        }
    }
    one(errors, volume.rbd.is_some(), "rbd");
    one(errors, volume.cinder.is_some(), "cinder");
    one(errors, volume.cephfs.is_some(), "cephfs");
    one(errors, volume.quobyte.is_some(), "quobyte");
    if let Some(downward) = &volume.downward_api {
        if one(errors, true, "downwardAPI") {
            let downward_path = path.child("downwardAPI");
            file_mode(
                errors,
                downward.default_mode,
                &downward_path.child("defaultMode"),
            );
            for file in downward.items.iter().flatten() {
                downward_api_file(errors, file, &downward_path);
            }
        }
    }
    one(errors, volume.fc.is_some(), "fc");
    if let Some(flex) = &volume.flex_volume {
        if one(errors, true, "flexVolume") && flex.driver.is_empty() {
            errors.push(required(&path.child("flexVolume").child("driver"), ""));
        }
    }
    if let Some(config_map) = &volume.config_map {
        if one(errors, true, "configMap") {
            let cm_path = path.child("configMap");
            if config_map.name.is_empty() {
                errors.push(required(&cm_path.child("name"), ""));
            }
            file_mode(
                errors,
                config_map.default_mode,
                &cm_path.child("defaultMode"),
            );
            key_to_paths(errors, config_map.items.as_deref(), &cm_path.child("items"));
        }
    }
    one(errors, volume.azure_file.is_some(), "azureFile");
    one(errors, volume.vsphere_volume.is_some(), "vsphereVolume");
    one(
        errors,
        volume.photon_persistent_disk.is_some(),
        "photonPersistentDisk",
    );
    one(errors, volume.portworx_volume.is_some(), "portworxVolume");
    one(errors, volume.azure_disk.is_some(), "azureDisk");
    one(errors, volume.storageos.is_some(), "storageos");
    if let Some(projected) = &volume.projected {
        if one(errors, true, "projected") {
            projected_source(errors, projected, &path.child("projected"));
        }
    }
    one(errors, volume.scale_io.is_some(), "scaleIO");
    if let Some(csi) = &volume.csi {
        if one(errors, true, "csi") {
            let csi_path = path.child("csi");
            csi_driver_name(errors, &csi.driver, &csi_path.child("driver"));
            if let Some(secret) = &csi.node_publish_secret_ref {
                if secret.name.is_empty() {
                    errors.push(required(
                        &csi_path.child("nodePublishSecretRef").child("name"),
                        "",
                    ));
                } else {
                    invalid_each(
                        errors,
                        &csi_path.child("name"),
                        &secret.name,
                        name_is_dns_subdomain(&secret.name, false),
                    );
                }
            }
        }
    }
    if let Some(ephemeral) = &volume.ephemeral {
        if one(errors, true, "ephemeral") {
            let ephemeral_path = path.child("ephemeral");
            match &ephemeral.volume_claim_template {
                None => errors.push(required(&ephemeral_path.child("volumeClaimTemplate"), "")),
                Some(template) => {
                    let template_path = ephemeral_path.child("volumeClaimTemplate");
                    template_object_meta(
                        errors,
                        template.metadata.as_ref(),
                        &template_path.child("metadata"),
                    );
                    persistent_volume_claim_spec(
                        errors,
                        &template.spec,
                        &template_path.child("spec"),
                    );
                }
            }
            if let Some(pod) = pod_name.filter(|p| !p.is_empty() && !volume.name.is_empty()) {
                let claim_name = format!("{pod}-{}", volume.name);
                for message in is_dns1123_subdomain(&claim_name) {
                    errors.push(invalid(
                        &path.child("name"),
                        volume.name.as_str(),
                        format!("PVC name {claim_name:?}: {message}"),
                    ));
                }
            }
        }
    }
    if let Some(image) = &volume.image {
        if one(errors, true, "image") {
            let image_path = path.child("image");
            if is_pod && image.reference.as_deref().unwrap_or_default().is_empty() {
                errors.push(required(&image_path.child("reference"), ""));
            }
            pull_policy(
                errors,
                image.pull_policy.as_deref().unwrap_or_default(),
                &image_path.child("pullPolicy"),
            );
        }
    }
    if count == 0 {
        errors.push(required(path, "must specify a volume type"));
    }
}

/// Checks a hostPath source: a path without `..` and a known type.
pub(crate) fn host_path_source(
    errors: &mut FieldErrors,
    host_path: &str,
    kind: Option<&str>,
    path: &Path<'_>,
) {
    if host_path.is_empty() {
        errors.push(required(&path.child("path"), ""));
        return;
    }
    no_backsteps(errors, host_path, &path.child("path"));
    const TYPES: [&str; 8] = [
        "",
        "BlockDevice",
        "CharDevice",
        "Directory",
        "DirectoryOrCreate",
        "File",
        "FileOrCreate",
        "Socket",
    ];
    if let Some(kind) = kind.filter(|k| !TYPES.contains(k)) {
        errors.push(not_supported(&path.child("type"), kind, &TYPES));
    }
}

/// The metadata of an embedded claim template may only carry labels and annotations.
fn template_object_meta(errors: &mut FieldErrors, meta: Option<&ObjectMeta>, path: &Path<'_>) {
    let Some(meta) = meta else { return };
    super::metadata::template_labels_and_annotations(errors, Some(meta), path);
    let stripped = ObjectMeta {
        labels: meta.labels.clone(),
        annotations: meta.annotations.clone(),
        ..ObjectMeta::default()
    };
    if &stripped != meta {
        let value = super::path::json(meta);
        if let serde_json::Value::Object(fields) = value {
            for key in fields
                .keys()
                .filter(|k| *k != "labels" && *k != "annotations")
            {
                errors.push(forbidden(&path.child(key), "cannot be set"));
            }
        }
    }
}

fn file_mode(errors: &mut FieldErrors, mode: Option<i32>, path: &Path<'_>) {
    if let Some(mode) = mode.filter(|m| !(0..=0o777).contains(m)) {
        errors.push(invalid(path, mode, FILE_MODE_ERROR));
    }
}

/// `must be a relative path`, no `..` element, and not starting with `..`.
fn local_non_reserved_path(errors: &mut FieldErrors, target: &str, path: &Path<'_>) {
    let before = errors.len();
    local_descending_path(errors, target, path);
    let caught = errors[before..]
        .iter()
        .any(|e| e.detail == "must not contain '..'");
    if target.starts_with("..") && !target.starts_with("../") && !caught {
        errors.push(invalid(path, target, "must not start with '..'"));
    }
}

fn key_to_paths(errors: &mut FieldErrors, items: Option<&[KeyToPath]>, path: &Path<'_>) {
    for (i, item) in items.unwrap_or_default().iter().enumerate() {
        key_to_path(errors, item, &path.index(i));
    }
}

fn key_to_path(errors: &mut FieldErrors, item: &KeyToPath, path: &Path<'_>) {
    if item.key.is_empty() {
        errors.push(required(&path.child("key"), ""));
    }
    if item.path.is_empty() {
        errors.push(required(&path.child("path"), ""));
    }
    local_non_reserved_path(errors, &item.path, &path.child("path"));
    file_mode(errors, item.mode, &path.child("mode"));
}

fn downward_api_file(errors: &mut FieldErrors, file: &DownwardAPIVolumeFile, path: &Path<'_>) {
    if file.path.is_empty() {
        errors.push(required(&path.child("path"), ""));
    }
    local_non_reserved_path(errors, &file.path, &path.child("path"));
    match (&file.field_ref, &file.resource_field_ref) {
        (Some(field_ref), resource_ref) => {
            volume_field_ref(errors, field_ref, &path.child("fieldRef"));
            if resource_ref.is_some() {
                errors.push(invalid(
                    path,
                    "resource",
                    "fieldRef and resourceFieldRef can not be specified simultaneously",
                ));
            }
        }
        (None, Some(resource_ref)) => {
            resource_field_selector(errors, resource_ref, true, &path.child("resourceFieldRef"));
        }
        (None, None) => errors.push(required(
            path,
            "one of fieldRef and resourceFieldRef is required",
        )),
    }
    file_mode(errors, file.mode, &path.child("mode"));
}

fn volume_field_ref(errors: &mut FieldErrors, selector: &ObjectFieldSelector, path: &Path<'_>) {
    object_field_selector(errors, selector, &VOLUME_FIELD_PATHS, path);
}

fn projected_source(errors: &mut FieldErrors, projected: &ProjectedVolumeSource, path: &Path<'_>) {
    file_mode(errors, projected.default_mode, &path.child("defaultMode"));
    let mut paths: BTreeSet<String> = BTreeSet::new();
    let sources_path = path.child("sources");
    for (i, projection) in projected.sources.iter().flatten().enumerate() {
        let source_path = sources_path.index(i);
        let mut count = 0;
        let mut claim = |errors: &mut FieldErrors, file: &str, owner: &str| {
            if !file.is_empty() && !paths.insert(file.to_owned()) {
                errors.push(invalid(path, owner, "conflicting duplicate paths"));
            }
        };
        if let Some(secret) = &projection.secret {
            count += 1;
            let secret_path = source_path.child("secret");
            if secret.name.is_empty() {
                errors.push(required(&secret_path.child("name"), ""));
            }
            let items_path = secret_path.child("items");
            for (j, item) in secret.items.iter().flatten().enumerate() {
                key_to_path(errors, item, &items_path.index(j));
                claim(errors, &item.path, &secret.name);
            }
        }
        if let Some(config_map) = &projection.config_map {
            count += 1;
            let cm_path = source_path.child("configMap");
            if config_map.name.is_empty() {
                errors.push(required(&cm_path.child("name"), ""));
            }
            let items_path = cm_path.child("items");
            for (j, item) in config_map.items.iter().flatten().enumerate() {
                key_to_path(errors, item, &items_path.index(j));
                claim(errors, &item.path, &config_map.name);
            }
        }
        if let Some(downward) = &projection.downward_api {
            count += 1;
            let downward_path = source_path.child("downwardAPI");
            for file in downward.items.iter().flatten() {
                downward_api_file(errors, file, &downward_path);
                claim(errors, &file.path, &file.path);
            }
        }
        if let Some(token) = &projection.service_account_token {
            count += 1;
            let token_path = source_path.child("serviceAccountToken");
            let expiration = token.expiration_seconds.unwrap_or_default();
            if expiration < 600 {
                errors.push(invalid(
                    &token_path.child("expirationSeconds"),
                    expiration,
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if expiration > 1 << 32 {
                errors.push(invalid(
                    &token_path.child("expirationSeconds"),
                    expiration,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
            if token.path.is_empty() {
                errors.push(required(&path.child("path"), ""));
            } else {
                local_non_reserved_path(errors, &token.path, &path.child("path"));
            }
        }
        if let Some(bundle) = &projection.cluster_trust_bundle {
            count += 1;
            let bundle_path = source_path.child("clusterTrustBundle");
            match (&bundle.name, &bundle.signer_name) {
                (Some(_), Some(_)) => errors.push(invalid(
                    &bundle_path,
                    super::path::json(bundle),
                    "only one of name and signerName may be used",
                )),
                (None, None) => errors.push(required(
                    &bundle_path,
                    "either name or signerName must be specified",
                )),
                _ => {}
            }
            if bundle.path.is_empty() {
                errors.push(required(&bundle_path.child("path"), ""));
            }
            local_non_reserved_path(errors, &bundle.path, &bundle_path.child("path"));
            claim(errors, &bundle.path, &bundle.path);
        }
        if count > 1 {
            errors.push(forbidden(
                &source_path,
                "may not specify more than 1 volume type per source",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume_list(json: serde_json::Value) -> Vec<Volume> {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn names_are_unique_labels_and_each_volume_has_one_source() {
        let list = volume_list(serde_json::json!([
            {"name": "data", "emptyDir": {}},
            {"name": "data", "emptyDir": {}},
            {"name": "Bad", "emptyDir": {}},
            {"name": "none"},
            {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}},
        ]));
        let mut errors = FieldErrors::new();
        let valid = volumes(
            &mut errors,
            &list,
            None,
            true,
            &Path::root("spec").child("volumes"),
        );
        assert_eq!(valid.len(), 1);
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages[0],
            "spec.volumes[1].name: Duplicate value: \"data\""
        );
        assert!(messages[1].starts_with("spec.volumes[2].name: Invalid value: \"Bad\""));
        assert_eq!(
            messages[2],
            "spec.volumes[3]: Required value: must specify a volume type"
        );
        assert_eq!(
            messages[3],
            "spec.volumes[4].hostPath: Forbidden: may not specify more than 1 volume type"
        );
    }

    #[test]
    fn projected_paths_may_not_collide() {
        let list = volume_list(serde_json::json!([{"name": "p", "projected": {"sources": [
            {"configMap": {"name": "a", "items": [{"key": "k", "path": "x"}]}},
            {"secret": {"name": "b", "items": [{"key": "k", "path": "x"}]}},
        ]}}]));
        let mut errors = FieldErrors::new();
        volumes(
            &mut errors,
            &list,
            None,
            true,
            &Path::root("spec").child("volumes"),
        );
        assert_eq!(
            errors[0].to_string(),
            "spec.volumes[0].projected: Invalid value: \"b\": conflicting duplicate paths"
        );
    }
}
