//! Storage: PersistentVolumes (access modes, capacity, exactly one source, reclaim policy, node
//! affinity), PersistentVolumeClaims (access modes, a positive storage request, class, data
//! source; on update an immutable spec except a bound claim's storage request), StorageClasses,
//! VolumeAttachments, CSIDrivers, CSINodes and CSIStorageCapacities.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeSpec,
    SecretReference,
};
use k8s_openapi::api::storage::v1::{
    CSIDriver, CSINode, CSIStorageCapacity, StorageClass, VolumeAttachment,
};

use super::affinity::node_selector;
use super::field_error::FieldErrors;
use super::metadata::{NamespaceRule, identity_update, label_key, object_meta, object_meta_update};
use super::names::{
    is_dns1123_label, is_dns1123_subdomain, is_qualified_name, name_is_dns_label,
    name_is_dns_subdomain,
};
use super::path::{
    Path, duplicate, forbidden, immutable, invalid, invalid_each, json, not_supported, required,
    too_long,
};
use super::resources::{milli_value, non_negative_quantity, positive_quantity, resource_quantity};
use super::selector::label_selector;
use super::volume::host_path_source;

const ACCESS_MODES: [&str; 4] = [
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];
const VOLUME_MODES: [&str; 2] = ["Block", "Filesystem"];

/// Checks the name of a CSI driver: required, at most 63 characters, a DNS subdomain in any
/// case.
pub(crate) fn csi_driver_name(errors: &mut FieldErrors, driver: &str, path: &Path<'_>) {
    if driver.is_empty() {
        errors.push(required(path, ""));
    }
    if driver.len() > 63 {
        errors.push(too_long(path, 63));
    }
    invalid_each(
        errors,
        path,
        driver,
        is_dns1123_subdomain(&driver.to_ascii_lowercase()),
    );
}

fn access_modes(errors: &mut FieldErrors, modes: &[String], path: &Path<'_>) {
    let mut once_pod = false;
    let mut others = false;
    for mode in modes {
        if !ACCESS_MODES.contains(&mode.as_str()) {
            errors.push(not_supported(path, mode.as_str(), &ACCESS_MODES));
        } else if mode == "ReadWriteOncePod" {
            once_pod = true;
        } else {
            others = true;
        }
    }
    if once_pod && others {
        errors.push(forbidden(
            path,
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
}

/// Checks the spec of a claim (of a PersistentVolumeClaim or an ephemeral volume's template).
pub(crate) fn persistent_volume_claim_spec(
    errors: &mut FieldErrors,
    spec: &PersistentVolumeClaimSpec,
    path: &Path<'_>,
) {
    let modes = spec.access_modes.as_deref().unwrap_or_default();
    if modes.is_empty() {
        errors.push(required(
            &path.child("accessModes"),
            "at least 1 access mode is required",
        ));
    }
    if let Some(selector) = &spec.selector {
        label_selector(errors, selector, &path.child("selector"));
    }
    access_modes(errors, modes, &path.child("accessModes"));
    let resources_path = path.child("resources");
    let storage_path = resources_path.key("storage");
    match spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
    {
        None => errors.push(required(&storage_path, "")),
        Some(storage) => {
            let before = errors.len();
            positive_quantity(errors, storage, &storage_path);
            if errors.len() == before {
                resource_quantity(errors, "storage", storage, &storage_path);
            }
        }
    }
    if let Some(class) = spec.storage_class_name.as_deref().filter(|c| !c.is_empty()) {
        invalid_each(
            errors,
            &path.child("storageClassName"),
            class,
            name_is_dns_subdomain(class, false),
        );
    }
    if let Some(mode) = spec
        .volume_mode
        .as_deref()
        .filter(|m| !VOLUME_MODES.contains(m))
    {
        errors.push(not_supported(
            &path.child("volumeMode"),
            mode,
            &VOLUME_MODES,
        ));
    }
    let data_sources = [
        spec.data_source.as_ref().map(|s| {
            (
                s.api_group.as_deref(),
                s.kind.as_str(),
                s.name.as_str(),
                "dataSource",
            )
        }),
        spec.data_source_ref.as_ref().map(|s| {
            (
                s.api_group.as_deref(),
                s.kind.as_str(),
                s.name.as_str(),
                "dataSourceRef",
            )
        }),
    ];
    for (api_group, kind, name, child) in data_sources.into_iter().flatten() {
        let source_path = path.child(child);
        if name.is_empty() {
            errors.push(required(&source_path.child("name"), ""));
        }
        if kind.is_empty() {
            errors.push(required(&source_path.child("kind"), ""));
        }
        let group = api_group.unwrap_or_default();
        if group.is_empty() && kind != "PersistentVolumeClaim" {
            errors.push(invalid(
                &source_path,
                kind,
                "must be 'PersistentVolumeClaim' when referencing the default apiGroup",
            ));
        }
        if !group.is_empty() {
            invalid_each(
                errors,
                &source_path.child("apiGroup"),
                group,
                is_dns1123_subdomain(group),
            );
        }
    }
    if let Some(reference) = &spec.data_source_ref {
        let namespace = reference.namespace.as_deref().unwrap_or_default();
        if !namespace.is_empty() {
            invalid_each(
                errors,
                &path.child("dataSourceRef").child("namespace"),
                namespace,
                name_is_dns_label(namespace, false),
            );
            if spec.data_source.is_some() {
                errors.push(invalid(
                    path,
                    format!("{}", path.child("dataSource").to_field_path()),
                    "may not be specified when dataSourceRef.namespace is specified",
                ));
            }
        } else if let Some(source) = &spec.data_source {
            let same = source.api_group == reference.api_group
                && source.kind == reference.kind
                && source.name == reference.name;
            if !same {
                errors.push(invalid(
                    path,
                    format!("{}", path.child("dataSource").to_field_path()),
                    "must match dataSourceRef",
                ));
            }
        }
    }
    if let Some(class) = spec
        .volume_attributes_class_name
        .as_deref()
        .filter(|c| !c.is_empty())
    {
        invalid_each(
            errors,
            &path.child("volumeAttributesClassName"),
            class,
            name_is_dns_subdomain(class, false),
        );
    }
}

/// Checks a PersistentVolumeClaim about to be created.
pub fn validate_persistent_volume_claim(claim: &PersistentVolumeClaim) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &claim.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let default_spec = PersistentVolumeClaimSpec::default();
    persistent_volume_claim_spec(
        &mut errors,
        claim.spec.as_ref().unwrap_or(&default_spec),
        &Path::root("spec"),
    );
    errors
}

/// Checks a PersistentVolumeClaim replacing `old`: its spec is immutable, except that a bound
/// claim may change its storage request (and set `volumeName` once).
pub fn validate_persistent_volume_claim_update(
    new: &PersistentVolumeClaim,
    old: &PersistentVolumeClaim,
) -> FieldErrors {
    let mut errors = FieldErrors::new();
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    errors.extend(validate_persistent_volume_claim(new));
    let default_spec = PersistentVolumeClaimSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&default_spec);
    let old_spec = old.spec.as_ref().unwrap_or(&default_spec);
    let mut new_clone = new_spec.clone();
    let mut old_clone = old_spec.clone();
    if old_spec
        .volume_name
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        old_clone.volume_name.clone_from(&new_spec.volume_name);
    }
    if old_spec.storage_class_name.is_none() && new_spec.storage_class_name.is_some() {
        let annotated = old
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class"));
        if annotated.is_none_or(|a| Some(a) == new_spec.storage_class_name.as_ref()) {
            new_clone.storage_class_name = None;
        }
    }
    let bound = new.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
    let storage = |spec: &PersistentVolumeClaimSpec| {
        spec.resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
            .cloned()
    };
    if bound {
        if let Some(requests) = new_clone
            .resources
            .as_mut()
            .and_then(|r| r.requests.as_mut())
        {
            match storage(old_spec) {
                Some(old_storage) => {
                    requests.insert("storage".to_owned(), old_storage);
                }
                None => {
                    requests.remove("storage");
                }
            }
        }
        if new_clone.volume_attributes_class_name.is_some() {
            new_clone
                .volume_attributes_class_name
                .clone_from(&old_spec.volume_attributes_class_name);
        }
    }
    if new_clone != old_clone {
        errors.push(forbidden(
            &Path::root("spec"),
            "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
        ));
    }
    let value = |q: Option<k8s_openapi::apimachinery::pkg::api::resource::Quantity>| {
        q.and_then(|q| milli_value(&q).ok()).unwrap_or(0)
    };
    let (new_size, old_size) = (value(storage(new_spec)), value(storage(old_spec)));
    if new_size < old_size {
        let status_size = value(
            old.status
                .as_ref()
                .and_then(|s| s.capacity.as_ref())
                .and_then(|c| c.get("storage"))
                .cloned(),
        );
        if new_size <= status_size {
            errors.push(forbidden(
                &Path::root("spec")
                    .child("resources")
                    .child("requests")
                    .child("storage"),
                "field can not be less than status.capacity",
            ));
        }
    }
    immutable(
        &mut errors,
        &Path::root("volumeMode"),
        &new_spec.volume_mode,
        &old_spec.volume_mode,
    );
    errors
}

/// The sources a PersistentVolume may have, by JSON name.
fn persistent_volume_sources(spec: &PersistentVolumeSpec) -> [(bool, &'static str); 22] {
    [
        (spec.host_path.is_some(), "hostPath"),
        (spec.gce_persistent_disk.is_some(), "gcePersistentDisk"),
        (
            spec.aws_elastic_block_store.is_some(),
            "awsElasticBlockStore",
        ),
        (spec.glusterfs.is_some(), "glusterfs"),
        (spec.flocker.is_some(), "flocker"),
        (spec.nfs.is_some(), "nfs"),
        (spec.rbd.is_some(), "rbd"),
        (spec.quobyte.is_some(), "quobyte"),
        (spec.cephfs.is_some(), "cephfs"),
        (spec.iscsi.is_some(), "iscsi"),
        (spec.cinder.is_some(), "cinder"),
        (spec.fc.is_some(), "fc"),
        (spec.flex_volume.is_some(), "flexVolume"),
        (spec.azure_file.is_some(), "azureFile"),
        (spec.vsphere_volume.is_some(), "vsphereVolume"),
        (
            spec.photon_persistent_disk.is_some(),
            "photonPersistentDisk",
        ),
        (spec.portworx_volume.is_some(), "portworxVolume"),
        (spec.azure_disk.is_some(), "azureDisk"),
        (spec.scale_io.is_some(), "scaleIO"),
        (spec.local.is_some(), "local"),
        (spec.storageos.is_some(), "storageos"),
        (spec.csi.is_some(), "csi"),
    ]
}

fn secret_reference(errors: &mut FieldErrors, reference: &SecretReference, path: &Path<'_>) {
    let name = reference.name.as_deref().unwrap_or_default();
    if name.is_empty() {
        errors.push(required(&path.child("name"), ""));
    } else {
        invalid_each(
            errors,
            &path.child("name"),
            name,
            is_dns1123_subdomain(name),
        );
    }
    let namespace = reference.namespace.as_deref().unwrap_or_default();
    if namespace.is_empty() {
        errors.push(required(&path.child("namespace"), ""));
    } else {
        invalid_each(
            errors,
            &path.child("namespace"),
            namespace,
            is_dns1123_label(namespace),
        );
    }
}

/// Checks the spec of a PersistentVolume (`inline` for a VolumeAttachment's inline spec).
fn persistent_volume_spec(
    errors: &mut FieldErrors,
    spec: &PersistentVolumeSpec,
    inline: bool,
    path: &Path<'_>,
) {
    let modes = spec.access_modes.as_deref().unwrap_or_default();
    if modes.is_empty() {
        errors.push(required(&path.child("accessModes"), ""));
    }
    access_modes(errors, modes, &path.child("accessModes"));
    let capacity_path = path.child("capacity");
    if inline {
        if spec.claim_ref.is_some() {
            errors.push(forbidden(
                &path.child("claimRef"),
                "may not be specified in the context of inline volumes",
            ));
        }
        if spec.capacity.as_ref().is_some_and(|c| !c.is_empty()) {
            errors.push(forbidden(
                &capacity_path,
                "may not be specified in the context of inline volumes",
            ));
        }
        if spec.csi.is_none() {
            errors.push(required(
                &path.child("csi"),
                "has to be specified in the context of inline volumes",
            ));
        }
    } else {
        let capacity = spec.capacity.clone().unwrap_or_default();
        if capacity.is_empty() {
            errors.push(required(&capacity_path, ""));
        }
        if !capacity.contains_key("storage") || capacity.len() > 1 {
            errors.push(not_supported(&capacity_path, json(&capacity), &["storage"]));
        }
        for (name, quantity) in &capacity {
            let entry_path = capacity_path.key(name);
            non_negative_quantity(errors, quantity, &entry_path);
            if milli_value(quantity).is_ok_and(|v| v <= 0) {
                errors.push(invalid(
                    &entry_path,
                    quantity.0.as_str(),
                    super::names::IS_NOT_POSITIVE,
                ));
            }
        }
    }
    if let Some(policy) = spec
        .persistent_volume_reclaim_policy
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        let policy_path = path.child("persistentVolumeReclaimPolicy");
        if inline {
            if policy != "Retain" {
                errors.push(forbidden(
                    &policy_path,
                    "may only be Retain in the context of inline volumes",
                ));
            }
        } else if !["Delete", "Recycle", "Retain"].contains(&policy) {
            errors.push(not_supported(
                &policy_path,
                policy,
                &["Delete", "Recycle", "Retain"],
            ));
        }
    }
    let mut has_node_affinity = false;
    if let Some(affinity) = &spec.node_affinity {
        let affinity_path = path.child("nodeAffinity");
        if inline {
            errors.push(forbidden(
                &affinity_path,
                "may not be specified in the context of inline volumes",
            ));
        } else {
            has_node_affinity = true;
            match &affinity.required {
                Some(selector) => {
                    node_selector(errors, selector, false, &affinity_path.child("required"));
                }
                None => errors.push(required(
                    &affinity_path.child("required"),
                    "must specify required node constraints",
                )),
            }
        }
    }
    let mut count = 0;
    for (present, child) in persistent_volume_sources(spec) {
        if !present {
            continue;
        }
        count += 1;
        if count > 1 {
            errors.push(forbidden(
                &path.child(child),
                "may not specify more than 1 volume type",
            ));
        }
    }
    if count == 0 {
        errors.push(required(path, "must specify a volume type"));
    }
    if let Some(host_path) = &spec.host_path {
        host_path_source(
            errors,
            &host_path.path,
            host_path.type_.as_deref(),
            &path.child("hostPath"),
        );
        let root = host_path.path.trim_end_matches('/').is_empty() && !host_path.path.is_empty();
        if root && spec.persistent_volume_reclaim_policy.as_deref() == Some("Recycle") {
            errors.push(forbidden(
                &path.child("persistentVolumeReclaimPolicy"),
                "may not be 'recycle' for a hostPath mount of '/'",
            ));
        }
    }
    if let Some(local) = &spec.local {
        let local_path = path.child("local");
        if local.path.is_empty() {
            errors.push(required(&local_path.child("path"), ""));
        } else {
            super::container::no_backsteps(errors, &local.path, &local_path.child("path"));
        }
        if !has_node_affinity {
            errors.push(required(
                &path.child("nodeAffinity"),
                "Local volume requires node affinity",
            ));
        }
    }
    if let Some(nfs) = &spec.nfs {
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
    if let Some(csi) = &spec.csi {
        let csi_path = path.child("csi");
        csi_driver_name(errors, &csi.driver, &csi_path.child("driver"));
        if csi.volume_handle.is_empty() {
            errors.push(required(&csi_path.child("volumeHandle"), ""));
        }
        for (reference, child) in [
            (
                &csi.controller_publish_secret_ref,
                "controllerPublishSecretRef",
            ),
            (
                &csi.controller_expand_secret_ref,
                "controllerExpandSecretRef",
            ),
            (&csi.node_publish_secret_ref, "nodePublishSecretRef"),
            (&csi.node_expand_secret_ref, "nodeExpandSecretRef"),
        ] {
            if let Some(reference) = reference {
                secret_reference(errors, reference, &csi_path.child(child));
            }
        }
    }
    if let Some(class) = spec.storage_class_name.as_deref().filter(|c| !c.is_empty()) {
        let class_path = path.child("storageClassName");
        if inline {
            errors.push(forbidden(
                &class_path,
                "may not be specified in the context of inline volumes",
            ));
        } else {
            invalid_each(
                errors,
                &class_path,
                class,
                name_is_dns_subdomain(class, false),
            );
        }
    }
    if let Some(mode) = spec.volume_mode.as_deref() {
        let mode_path = path.child("volumeMode");
        if inline {
            if mode != "Filesystem" {
                errors.push(forbidden(
                    &mode_path,
                    "may not specify volumeMode other than Filesystem in the context of inline volumes",
                ));
            }
        } else if !VOLUME_MODES.contains(&mode) {
            errors.push(not_supported(&mode_path, mode, &VOLUME_MODES));
        }
    }
}

/// Checks a PersistentVolume about to be created.
pub fn validate_persistent_volume(volume: &PersistentVolume) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &volume.metadata,
        NamespaceRule::Forbidden,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let default_spec = PersistentVolumeSpec::default();
    persistent_volume_spec(
        &mut errors,
        volume.spec.as_ref().unwrap_or(&default_spec),
        false,
        &Path::root("spec"),
    );
    errors
}

/// Checks a PersistentVolume replacing `old`: its source, volume mode and (once set) node
/// affinity may not change.
pub fn validate_persistent_volume_update(
    new: &PersistentVolume,
    old: &PersistentVolume,
) -> FieldErrors {
    let mut errors = validate_persistent_volume(new);
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    let default_spec = PersistentVolumeSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&default_spec);
    let old_spec = old.spec.as_ref().unwrap_or(&default_spec);
    let source_of = |spec: &PersistentVolumeSpec| {
        let mut source = spec.clone();
        source.access_modes = None;
        source.capacity = None;
        source.claim_ref = None;
        source.mount_options = None;
        source.node_affinity = None;
        source.persistent_volume_reclaim_policy = None;
        source.storage_class_name = None;
        source.volume_attributes_class_name = None;
        source.volume_mode = None;
        source
    };
    let mut new_source = source_of(new_spec);
    let old_source = source_of(old_spec);
    if let (Some(new_csi), Some(old_csi)) = (new_source.csi.as_mut(), old_source.csi.as_ref()) {
        if old_csi.controller_expand_secret_ref.is_none() {
            new_csi.controller_expand_secret_ref = None;
        }
    }
    if new_source != old_source {
        errors.push(forbidden(
            &Path::root("spec").child("persistentvolumesource"),
            "spec.persistentvolumesource is immutable after creation",
        ));
    }
    immutable(
        &mut errors,
        &Path::root("volumeMode"),
        &new_spec.volume_mode,
        &old_spec.volume_mode,
    );
    if old_spec.node_affinity.is_some() && new_spec.node_affinity != old_spec.node_affinity {
        errors.push(invalid(
            &Path::root("nodeAffinity"),
            json(&new_spec.node_affinity),
            "field is immutable, except for updating from beta label to GA",
        ));
    }
    errors
}

/// Checks a StorageClass about to be created.
pub fn validate_storage_class(class: &StorageClass) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &class.metadata,
        NamespaceRule::Forbidden,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let provisioner_path = Path::root("provisioner");
    if class.provisioner.is_empty() {
        errors.push(required(&provisioner_path, ""));
    } else {
        let lower = class.provisioner.to_ascii_lowercase();
        invalid_each(
            &mut errors,
            &provisioner_path,
            &lower,
            is_qualified_name(&lower),
        );
    }
    if let Some(parameters) = &class.parameters {
        let parameters_path = Path::root("parameters");
        if parameters.len() > 512 {
            errors.push(too_long(&parameters_path, 512));
        } else {
            let mut total = 0usize;
            for (key, value) in parameters {
                if key.is_empty() {
                    errors.push(invalid(&parameters_path, "", "field can not be empty."));
                }
                total += key.len() + value.len();
            }
            if total > 256 * 1024 {
                errors.push(too_long(&parameters_path, 256 * 1024));
            }
        }
    }
    if let Some(policy) = class
        .reclaim_policy
        .as_deref()
        .filter(|p| !p.is_empty() && *p != "Delete" && *p != "Retain")
    {
        errors.push(not_supported(
            &Path::root("reclaimPolicy"),
            policy,
            &["Delete", "Retain"],
        ));
    }
    let mode_path = Path::root("volumeBindingMode");
    match class.volume_binding_mode.as_deref() {
        None => errors.push(required(&mode_path, "")),
        Some("Immediate" | "WaitForFirstConsumer") => {}
        Some(other) => errors.push(not_supported(
            &mode_path,
            other,
            &["Immediate", "WaitForFirstConsumer"],
        )),
    }
    let topologies_path = Path::root("allowedTopologies");
    for (i, term) in class.allowed_topologies.iter().flatten().enumerate() {
        let term_path = topologies_path.index(i);
        let expressions = term.match_label_expressions.as_deref().unwrap_or_default();
        if expressions.is_empty() {
            errors.push(required(
                &term_path,
                "must have at least one label expression",
            ));
        }
        let expressions_path = term_path.child("matchLabelExpressions");
        let mut keys: BTreeSet<&str> = BTreeSet::new();
        for (j, requirement) in expressions.iter().enumerate() {
            let requirement_path = expressions_path.index(j);
            let values_path = requirement_path.child("values");
            if requirement.values.is_empty() {
                errors.push(required(&values_path, ""));
            }
            let mut seen: BTreeSet<&str> = BTreeSet::new();
            for (k, value) in requirement.values.iter().enumerate() {
                if !seen.insert(value.as_str()) {
                    errors.push(duplicate(&values_path.index(k), value.as_str()));
                }
            }
            label_key(
                &mut errors,
                &requirement.key,
                &requirement_path.child("key"),
            );
            if !keys.insert(requirement.key.as_str()) {
                errors.push(duplicate(
                    &requirement_path.child("key"),
                    requirement.key.as_str(),
                ));
            }
        }
    }
    errors
}

/// Checks a StorageClass replacing `old`: parameters, provisioner, reclaim policy and binding
/// mode may not change.
pub fn validate_storage_class_update(new: &StorageClass, old: &StorageClass) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    if new.parameters.clone().unwrap_or_default() != old.parameters.clone().unwrap_or_default() {
        errors.push(forbidden(
            &Path::root("parameters"),
            "updates to parameters are forbidden.",
        ));
    }
    if new.provisioner != old.provisioner {
        errors.push(forbidden(
            &Path::root("provisioner"),
            "updates to provisioner are forbidden.",
        ));
    }
    if new.reclaim_policy != old.reclaim_policy {
        errors.push(forbidden(
            &Path::root("reclaimPolicy"),
            "updates to reclaimPolicy are forbidden.",
        ));
    }
    immutable(
        &mut errors,
        &Path::root("volumeBindingMode"),
        &new.volume_binding_mode,
        &old.volume_binding_mode,
    );
    errors
}

/// Checks a VolumeAttachment about to be created.
pub fn validate_volume_attachment(attachment: &VolumeAttachment) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &attachment.metadata,
        NamespaceRule::Forbidden,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let spec = &attachment.spec;
    let spec_path = Path::root("spec");
    csi_driver_name(&mut errors, &spec.attacher, &spec_path.child("attacher"));
    let source_path = spec_path.child("source");
    match (
        &spec.source.inline_volume_spec,
        &spec.source.persistent_volume_name,
    ) {
        (None, None) => errors.push(required(
            &source_path,
            "must specify exactly one of inlineVolumeSpec and persistentVolumeName",
        )),
        (Some(_), Some(_)) => errors.push(forbidden(
            &source_path,
            "must specify exactly one of inlineVolumeSpec and persistentVolumeName",
        )),
        (None, Some(name)) => {
            if name.is_empty() {
                errors.push(required(
                    &source_path.child("persistentVolumeName"),
                    "must specify non empty persistentVolumeName",
                ));
            }
        }
        (Some(inline), None) => {
            persistent_volume_spec(
                &mut errors,
                inline,
                true,
                &source_path.child("inlineVolumeSpec"),
            );
        }
    }
    invalid_each(
        &mut errors,
        &spec_path.child("nodeName"),
        &spec.node_name,
        name_is_dns_subdomain(&spec.node_name, false),
    );
    errors
}

/// Checks a VolumeAttachment replacing `old`: its spec is immutable.
pub fn validate_volume_attachment_update(
    new: &VolumeAttachment,
    old: &VolumeAttachment,
) -> FieldErrors {
    let mut errors = validate_volume_attachment(new);
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    immutable(&mut errors, &Path::root("spec"), &new.spec, &old.spec);
    errors
}

/// Checks a CSIDriver about to be created.
pub fn validate_csi_driver(driver: &CSIDriver) -> FieldErrors {
    let mut errors = FieldErrors::new();
    csi_driver_name(
        &mut errors,
        driver.metadata.name.as_deref().unwrap_or_default(),
        &Path::root("name"),
    );
    object_meta(
        &mut errors,
        &driver.metadata,
        NamespaceRule::Forbidden,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let spec = &driver.spec;
    let spec_path = Path::root("spec");
    for (value, child) in [
        (spec.attach_required, "attachRequired"),
        (spec.pod_info_on_mount, "podInfoOnMount"),
        (spec.storage_capacity, "storageCapacity"),
    ] {
        if value.is_none() {
            errors.push(required(&spec_path.child(child), ""));
        }
    }
    if let Some(policy) = spec.fs_group_policy.as_deref() {
        let supported = ["File", "None", "ReadWriteOnceWithFSType"];
        if !supported.contains(&policy) {
            errors.push(not_supported(
                &spec_path.child("fsGroupPolicy"),
                policy,
                &supported,
            ));
        }
    }
    let modes_path = spec_path.child("volumeLifecycleModes");
    for mode in spec.volume_lifecycle_modes.iter().flatten() {
        if mode != "Persistent" && mode != "Ephemeral" {
            errors.push(not_supported(
                &modes_path,
                mode.as_str(),
                &["Ephemeral", "Persistent"],
            ));
        }
    }
    let tokens_path = spec_path.child("tokenRequests");
    let mut audiences: BTreeSet<&str> = BTreeSet::new();
    for (i, token) in spec.token_requests.iter().flatten().enumerate() {
        let token_path = tokens_path.index(i);
        if !audiences.insert(token.audience.as_str()) {
            errors.push(duplicate(
                &token_path.child("audience"),
                token.audience.as_str(),
            ));
        }
        if let Some(seconds) = token.expiration_seconds {
            if seconds < 600 {
                errors.push(invalid(
                    &token_path.child("expirationSeconds"),
                    seconds,
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if seconds > 1 << 32 {
                errors.push(invalid(
                    &token_path.child("expirationSeconds"),
                    seconds,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
        }
    }
    errors
}

/// Checks a CSINode: driver names unique and valid, node ids present, topology keys valid.
pub fn validate_csi_node(node: &CSINode) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &node.metadata,
        NamespaceRule::Forbidden,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let spec_path = Path::root("spec");
    let drivers_path = spec_path.child("drivers");
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for (i, driver) in node.spec.drivers.iter().enumerate() {
        let driver_path = drivers_path.index(i);
        csi_driver_name(&mut errors, &driver.name, &driver_path.child("name"));
        if !names.insert(driver.name.as_str()) {
            errors.push(duplicate(&driver_path.child("name"), driver.name.as_str()));
        }
        let node_id_path = driver_path.child("nodeID");
        if driver.node_id.is_empty() {
            errors.push(required(&node_id_path, ""));
        } else if driver.node_id.len() > 192 {
            errors.push(too_long(&node_id_path, 192));
        }
        let keys_path = driver_path.child("topologyKeys");
        let mut keys: BTreeSet<&str> = BTreeSet::new();
        for (j, key) in driver.topology_keys.iter().flatten().enumerate() {
            if key.is_empty() {
                errors.push(required(&keys_path.index(j), ""));
            } else {
                invalid_each(
                    &mut errors,
                    &keys_path.index(j),
                    key,
                    is_qualified_name(key),
                );
            }
            if !keys.insert(key.as_str()) {
                errors.push(duplicate(&keys_path.index(j), key.as_str()));
            }
        }
        if let Some(count) = driver.allocatable.as_ref().and_then(|a| a.count) {
            super::path::non_negative(
                &mut errors,
                &driver_path.child("allocatable").child("count"),
                i64::from(count),
            );
        }
    }
    errors
}

/// Checks a CSIStorageCapacity.
pub fn validate_csi_storage_capacity(capacity: &CSIStorageCapacity) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &capacity.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let class_path = Path::root("storageClassName");
    if capacity.storage_class_name.is_empty() {
        errors.push(required(&class_path, ""));
    } else {
        invalid_each(
            &mut errors,
            &class_path,
            &capacity.storage_class_name,
            name_is_dns_subdomain(&capacity.storage_class_name, false),
        );
    }
    if let Some(selector) = &capacity.node_topology {
        label_selector(&mut errors, selector, &Path::root("nodeTopology"));
    }
    for (quantity, root) in [
        (&capacity.capacity, "capacity"),
        (&capacity.maximum_volume_size, "maximumVolumeSize"),
    ] {
        if let Some(quantity) = quantity {
            non_negative_quantity(&mut errors, quantity, &Path::root(root));
        }
    }
    errors
}

/// Checks a CSIStorageCapacity replacing `old`: its class and topology may not change.
pub fn validate_csi_storage_capacity_update(
    new: &CSIStorageCapacity,
    old: &CSIStorageCapacity,
) -> FieldErrors {
    let mut errors = validate_csi_storage_capacity(new);
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    immutable(
        &mut errors,
        &Path::root("storageClassName"),
        &new.storage_class_name,
        &old.storage_class_name,
    );
    immutable(
        &mut errors,
        &Path::root("nodeTopology"),
        &new.node_topology,
        &old.node_topology,
    );
    errors
}
