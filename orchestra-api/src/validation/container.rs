//! Containers of a pod: names (DNS labels, unique across init and app containers), image,
//! ports, environment, volume mounts and devices, probes and lifecycle hooks, pull and
//! termination-message policies, resources and security context — `validateContainerCommon`
//! and its neighbours in Kubernetes' `pkg/apis/core/validation`.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvFromSource, EnvVar, HTTPGetAction, Lifecycle, LifecycleHandler,
    ObjectFieldSelector, Probe, ResourceFieldSelector, SecurityContext, Volume, VolumeDevice,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::field_error::FieldErrors;
use super::names::{
    inclusive_range_error, is_config_map_key, is_dns1123_label, is_http_header_name,
    is_qualified_name, is_relaxed_env_var_name, is_valid_port_name, is_valid_port_num,
    name_is_dns_subdomain,
};
use super::path::{
    Path, duplicate, forbidden, invalid, invalid_each, json, non_negative, not_found,
    not_supported, required,
};
use super::resources::container_resources;

/// What every container of one pod is checked against.
pub(crate) struct PodContext<'a> {
    /// Volumes that passed their own checks, by name: mounts may only name these.
    pub volumes: Vec<(&'a str, &'a Volume)>,
    /// Names of `spec.resourceClaims`.
    pub claim_names: Vec<&'a str>,
    /// `spec.terminationGracePeriodSeconds`.
    pub grace_period: Option<i64>,
    /// `spec.restartPolicy`.
    pub restart_policy: &'a str,
    /// Whether the pod shares the host's user namespace.
    pub host_users: bool,
}

impl PodContext<'_> {
    fn volume(&self, name: &str) -> Option<&Volume> {
        self.volumes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];

/// Checks the app containers of a pod (`spec.containers`).
pub(crate) fn containers(
    errors: &mut FieldErrors,
    list: &[Container],
    ctx: &PodContext<'_>,
    path: &Path<'_>,
) {
    if list.is_empty() {
        errors.push(required(path, ""));
        return;
    }
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for (i, container) in list.iter().enumerate() {
        let container_path = path.index(i);
        container_common(errors, container, ctx, &container_path);
        if !names.insert(container.name.as_str()) {
            errors.push(duplicate(
                &container_path.child("name"),
                container.name.as_str(),
            ));
        }
        if let Some(lifecycle_hooks) = &container.lifecycle {
            lifecycle(
                errors,
                lifecycle_hooks,
                ctx.grace_period,
                &container_path.child("lifecycle"),
            );
        }
        probes(errors, container, ctx.grace_period, &container_path);
        if container.restart_policy.is_some() {
            errors.push(forbidden(
                &container_path.child("restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    host_port_conflicts(errors, list.iter(), path);
}

/// Checks the init containers of a pod (`spec.initContainers`); their names may not repeat
/// those of the app containers.
pub(crate) fn init_containers(
    errors: &mut FieldErrors,
    list: &[Container],
    regular: &[Container],
    ctx: &PodContext<'_>,
    path: &Path<'_>,
) {
    let mut names: BTreeSet<&str> = regular.iter().map(|c| c.name.as_str()).collect();
    for (i, container) in list.iter().enumerate() {
        let container_path = path.index(i);
        container_common(errors, container, ctx, &container_path);
        let mut restart_always = false;
        if let Some(policy) = container.restart_policy.as_deref() {
            if policy == "Always" {
                restart_always = true;
            } else {
                errors.push(not_supported(
                    &container_path.child("restartPolicy"),
                    policy,
                    &["Always"],
                ));
            }
        }
        if names.contains(container.name.as_str()) {
            errors.push(duplicate(
                &container_path.child("name"),
                container.name.as_str(),
            ));
        } else if !container.name.is_empty() {
            names.insert(container.name.as_str());
        }
        host_port_conflicts(errors, std::iter::once(container), path);
        if restart_always {
            if let Some(lifecycle_hooks) = &container.lifecycle {
                lifecycle(
                    errors,
                    lifecycle_hooks,
                    ctx.grace_period,
                    &container_path.child("lifecycle"),
                );
            }
            probes(errors, container, ctx.grace_period, &container_path);
        } else {
            const WHY: &str = "may not be set for init containers without restartPolicy=Always";
            if container.lifecycle.is_some() {
                errors.push(forbidden(&container_path.child("lifecycle"), WHY));
            }
            if container.liveness_probe.is_some() {
                errors.push(forbidden(&container_path.child("livenessProbe"), WHY));
            }
            if container.readiness_probe.is_some() {
                errors.push(forbidden(&container_path.child("readinessProbe"), WHY));
            }
            if container.startup_probe.is_some() {
                errors.push(forbidden(&container_path.child("startupProbe"), WHY));
            }
        }
    }
}

/// What every kind of container must satisfy.
pub(crate) fn container_common(
    errors: &mut FieldErrors,
    container: &Container,
    ctx: &PodContext<'_>,
    path: &Path<'_>,
) {
    let name_path = path.child("name");
    if container.name.is_empty() {
        errors.push(required(&name_path, ""));
    } else {
        invalid_each(
            errors,
            &name_path,
            &container.name,
            is_dns1123_label(&container.name),
        );
    }
    if container.image.as_deref().unwrap_or_default().is_empty() {
        errors.push(required(&path.child("image"), ""));
    }
    match container
        .termination_message_policy
        .as_deref()
        .unwrap_or_default()
    {
        "File" | "FallbackToLogsOnError" => {}
        "" => errors.push(required(&path.child("terminationMessagePolicy"), "")),
        other => errors.push(not_supported(
            &path.child("terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    if let Some(list) = &container.ports {
        ports(errors, list, &path.child("ports"));
    }
    if let Some(list) = &container.env {
        env(errors, list, &path.child("env"));
    }
    if let Some(list) = &container.env_from {
        env_from(errors, list, &path.child("envFrom"));
    }
    let mounts = container.volume_mounts.as_deref().unwrap_or_default();
    let devices = container.volume_devices.as_deref().unwrap_or_default();
    volume_mounts(
        errors,
        mounts,
        devices,
        container,
        ctx,
        &path.child("volumeMounts"),
    );
    volume_devices(errors, devices, mounts, ctx, &path.child("volumeDevices"));
    pull_policy(
        errors,
        container.image_pull_policy.as_deref().unwrap_or_default(),
        &path.child("imagePullPolicy"),
    );
    if let Some(requirements) = &container.resources {
        container_resources(
            errors,
            requirements,
            &ctx.claim_names,
            &path.child("resources"),
        );
    }
    if let Some(policies) = &container.resize_policy {
        let policy_path = path.child("resizePolicy");
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for (i, policy) in policies.iter().enumerate() {
            if !seen.insert(policy.resource_name.as_str()) {
                errors.push(duplicate(
                    &policy_path.index(i),
                    policy.resource_name.as_str(),
                ));
            }
            match policy.resource_name.as_str() {
                "cpu" | "memory" => {}
                "" => errors.push(required(&policy_path, "")),
                other => errors.push(not_supported(&policy_path, other, &["cpu", "memory"])),
            }
            match policy.restart_policy.as_str() {
                "NotRequired" | "RestartContainer" => {}
                "" => errors.push(required(&policy_path, "")),
                other => errors.push(not_supported(
                    &policy_path,
                    other,
                    &["NotRequired", "RestartContainer"],
                )),
            }
            if ctx.restart_policy == "Never" && policy.restart_policy != "NotRequired" {
                errors.push(invalid(
                    &policy_path,
                    policy.restart_policy.as_str(),
                    "must be 'NotRequired' when `restartPolicy` is 'Never'",
                ));
            }
        }
    }
    if let Some(context) = &container.security_context {
        security_context(
            errors,
            context,
            ctx.host_users,
            &path.child("securityContext"),
        );
    }
}

/// Checks the pull policy: `Always`, `IfNotPresent` or `Never` (set by defaulting).
pub(crate) fn pull_policy(errors: &mut FieldErrors, policy: &str, path: &Path<'_>) {
    match policy {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errors.push(required(path, "")),
        other => errors.push(not_supported(
            path,
            other,
            &["Always", "IfNotPresent", "Never"],
        )),
    }
}

fn ports(errors: &mut FieldErrors, list: &[ContainerPort], path: &Path<'_>) {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for (i, port) in list.iter().enumerate() {
        let port_path = path.index(i);
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            let messages = is_valid_port_name(name);
            if !messages.is_empty() {
                invalid_each(errors, &port_path.child("name"), name, messages);
            } else if !names.insert(name) {
                errors.push(duplicate(&port_path.child("name"), name));
            }
        }
        if port.container_port == 0 {
            errors.push(required(&port_path.child("containerPort"), ""));
        } else {
            for message in is_valid_port_num(i64::from(port.container_port)) {
                errors.push(invalid(
                    &port_path.child("containerPort"),
                    port.container_port,
                    message,
                ));
            }
        }
        if let Some(host_port) = port.host_port.filter(|p| *p != 0) {
            for message in is_valid_port_num(i64::from(host_port)) {
                errors.push(invalid(&port_path.child("hostPort"), host_port, message));
            }
        }
        match port.protocol.as_deref().unwrap_or_default() {
            "" => errors.push(required(&port_path.child("protocol"), "")),
            protocol if !PROTOCOLS.contains(&protocol) => {
                errors.push(not_supported(
                    &port_path.child("protocol"),
                    protocol,
                    &PROTOCOLS,
                ));
            }
            _ => {}
        }
    }
}

/// Host ports may be used once per protocol and host IP across the given containers.
fn host_port_conflicts<'a>(
    errors: &mut FieldErrors,
    list: impl Iterator<Item = &'a Container>,
    path: &Path<'_>,
) {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (ci, container) in list.enumerate() {
        let container_path = path.index(ci);
        let ports_path = container_path.child("ports");
        for (pi, port) in container.ports.iter().flatten().enumerate() {
            let host_port = port.host_port.unwrap_or_default();
            if host_port == 0 {
                continue;
            }
            let key = format!(
                "{}/{}/{host_port}",
                port.protocol.as_deref().unwrap_or_default(),
                port.host_ip.as_deref().unwrap_or_default()
            );
            if seen.contains(&key) {
                errors.push(duplicate(&ports_path.index(pi).child("hostPort"), key));
            } else {
                seen.insert(key);
            }
        }
    }
}

const ENV_FIELD_PATHS: [&str; 9] = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// Field paths a downward API volume file may project.
pub(crate) const VOLUME_FIELD_PATHS: [&str; 5] = [
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];

const RESOURCE_FIELD_PATHS: [&str; 6] = [
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

fn env(errors: &mut FieldErrors, list: &[EnvVar], path: &Path<'_>) {
    for (i, var) in list.iter().enumerate() {
        let var_path = path.index(i);
        if var.name.is_empty() {
            errors.push(required(&var_path.child("name"), ""));
        } else {
            invalid_each(
                errors,
                &var_path.child("name"),
                &var.name,
                is_relaxed_env_var_name(&var.name),
            );
        }
        let Some(source) = &var.value_from else {
            continue;
        };
        let from_path = var_path.child("valueFrom");
        let mut count = 0;
        if let Some(field_ref) = &source.field_ref {
            count += 1;
            object_field_selector(
                errors,
                field_ref,
                &ENV_FIELD_PATHS,
                &from_path.child("fieldRef"),
            );
        }
        if let Some(resource_ref) = &source.resource_field_ref {
            count += 1;
            resource_field_selector(
                errors,
                resource_ref,
                false,
                &from_path.child("resourceFieldRef"),
            );
        }
        if let Some(key_ref) = &source.config_map_key_ref {
            count += 1;
            key_selector(
                errors,
                &key_ref.name,
                &key_ref.key,
                &from_path.child("configMapKeyRef"),
            );
        }
        if let Some(key_ref) = &source.secret_key_ref {
            count += 1;
            key_selector(
                errors,
                &key_ref.name,
                &key_ref.key,
                &from_path.child("secretKeyRef"),
            );
        }
        if count == 0 {
            errors.push(invalid(
                &from_path,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !var.value.as_deref().unwrap_or_default().is_empty() {
            errors.push(invalid(
                &from_path,
                "",
                "may not be specified when `value` is not empty",
            ));
        } else if count > 1 {
            errors.push(invalid(
                &from_path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
}

/// Checks a downward API field reference against the paths allowed where it is used.
pub(crate) fn object_field_selector(
    errors: &mut FieldErrors,
    selector: &ObjectFieldSelector,
    allowed: &[&str],
    path: &Path<'_>,
) {
    let api_version = selector.api_version.as_deref().unwrap_or_default();
    if api_version.is_empty() {
        errors.push(required(&path.child("apiVersion"), ""));
        return;
    }
    if selector.field_path.is_empty() {
        errors.push(required(&path.child("fieldPath"), ""));
        return;
    }
    if api_version != "v1" {
        errors.push(invalid(
            &path.child("fieldPath"),
            selector.field_path.as_str(),
            format!("error converting fieldPath: unsupported pod version: {api_version}"),
        ));
        return;
    }
    let field = selector.field_path.as_str();
    let subscripted = field
        .strip_suffix("']")
        .and_then(|rest| rest.split_once("['"));
    match subscripted {
        Some(("metadata.annotations", key)) => {
            invalid_each(
                errors,
                path,
                &key.to_ascii_lowercase(),
                is_qualified_name(&key.to_ascii_lowercase()),
            );
        }
        Some(("metadata.labels", key)) => {
            invalid_each(errors, path, key, is_qualified_name(key));
        }
        Some((other, _)) => errors.push(invalid(path, other, "does not support subscript")),
        None if !allowed.contains(&field) => {
            errors.push(not_supported(&path.child("fieldPath"), field, allowed));
        }
        None => {}
    }
}

/// Checks a reference to a container's resource (`limits.cpu`), as env vars and downward API
/// volumes project them.
pub(crate) fn resource_field_selector(
    errors: &mut FieldErrors,
    selector: &ResourceFieldSelector,
    in_volume: bool,
    path: &Path<'_>,
) {
    let resource = selector.resource.as_str();
    if in_volume
        && selector
            .container_name
            .as_deref()
            .unwrap_or_default()
            .is_empty()
    {
        errors.push(required(&path.child("containerName"), ""));
    } else if resource.is_empty() {
        errors.push(required(&path.child("resource"), ""));
    } else if !RESOURCE_FIELD_PATHS.contains(&resource)
        && !resource.starts_with("requests.hugepages-")
        && !resource.starts_with("limits.hugepages-")
    {
        errors.push(not_supported(
            &path.child("resource"),
            resource,
            &RESOURCE_FIELD_PATHS,
        ));
    }
    let Some(divisor) = &selector.divisor else {
        return;
    };
    if matches!(super::resources::milli_value(divisor), Ok(0)) {
        return;
    }
    const MEMORY: [&str; 13] = [
        "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
    ];
    let (allowed, what): (&[&str], &str) = match resource {
        "limits.cpu" | "requests.cpu" => (&["1m", "1"], "cpu"),
        "limits.memory" | "requests.memory" => (&MEMORY, "memory"),
        "limits.ephemeral-storage" | "requests.ephemeral-storage" => {
            (&MEMORY, "local ephemeral storage")
        }
        r if r.starts_with("requests.hugepages-") || r.starts_with("limits.hugepages-") => {
            (&MEMORY, "hugepages")
        }
        _ => return,
    };
    if !allowed.contains(&divisor.0.as_str()) {
        errors.push(invalid(
            &path.child("divisor"),
            resource,
            format!(
                "only divisor's values {} are supported with the {what} resource",
                if what == "cpu" {
                    "1m and 1".to_owned()
                } else {
                    MEMORY.join(", ")
                }
            ),
        ));
    }
}

fn key_selector(errors: &mut FieldErrors, name: &str, key: &str, path: &Path<'_>) {
    invalid_each(
        errors,
        &path.child("name"),
        name,
        name_is_dns_subdomain(name, false),
    );
    if key.is_empty() {
        errors.push(required(&path.child("key"), ""));
    } else {
        invalid_each(errors, &path.child("key"), key, is_config_map_key(key));
    }
}

fn env_from(errors: &mut FieldErrors, list: &[EnvFromSource], path: &Path<'_>) {
    for (i, source) in list.iter().enumerate() {
        let source_path = path.index(i);
        if let Some(prefix) = source.prefix.as_deref().filter(|p| !p.is_empty()) {
            invalid_each(
                errors,
                &source_path.child("prefix"),
                prefix,
                is_relaxed_env_var_name(prefix),
            );
        }
        let mut count = 0;
        for (name, child) in [
            (
                source.config_map_ref.as_ref().map(|r| r.name.as_str()),
                "configMapRef",
            ),
            (
                source.secret_ref.as_ref().map(|r| r.name.as_str()),
                "secretRef",
            ),
        ] {
            let Some(name) = name else { continue };
            count += 1;
            let name_path = source_path.child(child);
            let name_path = name_path.child("name");
            if name.is_empty() {
                errors.push(required(&name_path, ""));
            } else {
                invalid_each(errors, &name_path, name, name_is_dns_subdomain(name, true));
            }
        }
        if count == 0 {
            errors.push(invalid(
                path,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if count > 1 {
            errors.push(invalid(
                path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
}

/// `must be a relative path` and `must not contain '..'`.
pub(crate) fn local_descending_path(errors: &mut FieldErrors, target: &str, path: &Path<'_>) {
    if target.starts_with('/') {
        errors.push(invalid(path, target, "must be a relative path"));
    }
    no_backsteps(errors, target, path);
}

/// `must not contain '..'`.
pub(crate) fn no_backsteps(errors: &mut FieldErrors, target: &str, path: &Path<'_>) {
    if target
        .replace('\\', "/")
        .split('/')
        .any(|part| part == "..")
    {
        errors.push(invalid(path, target, "must not contain '..'"));
    }
}

fn volume_mounts(
    errors: &mut FieldErrors,
    mounts: &[VolumeMount],
    devices: &[VolumeDevice],
    container: &Container,
    ctx: &PodContext<'_>,
    path: &Path<'_>,
) {
    let mut mount_points: BTreeSet<&str> = BTreeSet::new();
    for (i, mount) in mounts.iter().enumerate() {
        let mount_path = path.index(i);
        let name_path = mount_path.child("name");
        let point_path = mount_path.child("mountPath");
        if mount.name.is_empty() {
            errors.push(required(&name_path, ""));
        }
        let volume = ctx.volume(&mount.name);
        if volume.is_none() {
            errors.push(not_found(&name_path, mount.name.as_str()));
        }
        if mount.mount_path.is_empty() {
            errors.push(required(&point_path, ""));
        }
        if !mount_points.insert(mount.mount_path.as_str()) {
            errors.push(invalid(
                &point_path,
                mount.mount_path.as_str(),
                "must be unique",
            ));
        }
        if devices.iter().any(|d| d.name == mount.name) {
            errors.push(invalid(
                &name_path,
                mount.name.as_str(),
                "must not already exist in volumeDevices",
            ));
        }
        if devices.iter().any(|d| d.device_path == mount.mount_path) {
            errors.push(invalid(
                &point_path,
                mount.mount_path.as_str(),
                "must not already exist as a path in volumeDevices",
            ));
        }
        let sub_path = mount.sub_path.as_deref().unwrap_or_default();
        let sub_path_expr = mount.sub_path_expr.as_deref().unwrap_or_default();
        if !sub_path.is_empty() {
            local_descending_path(errors, sub_path, &path.child("subPath"));
        }
        if !sub_path_expr.is_empty() {
            if !sub_path.is_empty() {
                errors.push(invalid(
                    &mount_path.child("subPathExpr"),
                    sub_path_expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            local_descending_path(errors, sub_path_expr, &path.child("subPathExpr"));
        }
        if let Some(propagation) = mount.mount_propagation.as_deref() {
            let propagation_path = path.child("mountPropagation");
            let supported = ["Bidirectional", "HostToContainer", "None"];
            if !supported.contains(&propagation) {
                errors.push(not_supported(&propagation_path, propagation, &supported));
            }
            let privileged = container
                .security_context
                .as_ref()
                .and_then(|s| s.privileged)
                .unwrap_or(false);
            if propagation == "Bidirectional" && !privileged {
                errors.push(forbidden(
                    &propagation_path,
                    "Bidirectional mount propagation is available only to privileged containers",
                ));
            }
        }
        if let Some(recursive) = mount.recursive_read_only.as_deref() {
            let recursive_path = path.child("recursiveReadOnly");
            match recursive {
                "Disabled" => {}
                "Enabled" | "IfPossible" => {
                    if mount.read_only != Some(true) {
                        errors.push(forbidden(
                            &recursive_path,
                            "may only be specified when readOnly is true",
                        ));
                    }
                    if mount
                        .mount_propagation
                        .as_deref()
                        .is_some_and(|p| p != "None")
                    {
                        errors.push(forbidden(
                            &recursive_path,
                            "may only be specified when mountPropagation is None or not specified",
                        ));
                    }
                }
                other => errors.push(not_supported(
                    &recursive_path,
                    other,
                    &["Disabled", "Enabled", "IfPossible"],
                )),
            }
        }
    }
}

fn volume_devices(
    errors: &mut FieldErrors,
    devices: &[VolumeDevice],
    mounts: &[VolumeMount],
    ctx: &PodContext<'_>,
    path: &Path<'_>,
) {
    let mut device_paths: BTreeSet<&str> = BTreeSet::new();
    let mut device_names: BTreeSet<&str> = BTreeSet::new();
    for (i, device) in devices.iter().enumerate() {
        let device_path = path.index(i);
        let name_path = device_path.child("name");
        let dev_path = device_path.child("devicePath");
        if device.name.is_empty() {
            errors.push(required(&name_path, ""));
        }
        if device_names.contains(device.name.as_str()) {
            errors.push(invalid(&name_path, device.name.as_str(), "must be unique"));
        }
        match ctx.volume(&device.name) {
            Some(volume)
                if volume.persistent_volume_claim.is_none() && volume.ephemeral.is_none() =>
            {
                errors.push(invalid(
                    &name_path,
                    device.name.as_str(),
                    "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
                ));
            }
            Some(_) => {}
            None => errors.push(not_found(&name_path, device.name.as_str())),
        }
        if device.device_path.is_empty() {
            errors.push(required(&dev_path, ""));
        }
        if device_paths.contains(device.device_path.as_str()) {
            errors.push(invalid(
                &dev_path,
                device.device_path.as_str(),
                "must be unique",
            ));
        }
        let mut backsteps = FieldErrors::new();
        no_backsteps(&mut backsteps, &device.device_path, &dev_path);
        if !device.device_path.is_empty() && !backsteps.is_empty() {
            errors.push(invalid(
                &dev_path,
                device.device_path.as_str(),
                "can not contain backsteps ('..')",
            ));
        } else {
            device_paths.insert(device.device_path.as_str());
        }
        if mounts.iter().any(|m| m.name == device.name) {
            errors.push(invalid(
                &name_path,
                device.name.as_str(),
                "must not already exist in volumeMounts",
            ));
        }
        if mounts.iter().any(|m| m.mount_path == device.device_path) {
            errors.push(invalid(
                &dev_path,
                device.device_path.as_str(),
                "must not already exist as a path in volumeMounts",
            ));
        }
        if !device.name.is_empty() {
            device_names.insert(device.name.as_str());
        }
    }
}

fn probes(
    errors: &mut FieldErrors,
    container: &Container,
    grace_period: Option<i64>,
    path: &Path<'_>,
) {
    if let Some(p) = &container.liveness_probe {
        let probe_path = path.child("livenessProbe");
        probe(errors, p, grace_period, &probe_path);
        success_threshold_is_one(errors, p, &probe_path);
    }
    if let Some(p) = &container.readiness_probe {
        let probe_path = path.child("readinessProbe");
        probe(errors, p, grace_period, &probe_path);
        if let Some(seconds) = p.termination_grace_period_seconds {
            errors.push(invalid(
                &probe_path.child("terminationGracePeriodSeconds"),
                seconds,
                "must not be set for readinessProbes",
            ));
        }
    }
    if let Some(p) = &container.startup_probe {
        let probe_path = path.child("startupProbe");
        probe(errors, p, grace_period, &probe_path);
        success_threshold_is_one(errors, p, &probe_path);
    }
}

fn success_threshold_is_one(errors: &mut FieldErrors, p: &Probe, path: &Path<'_>) {
    let threshold = p.success_threshold.unwrap_or_default();
    if threshold != 1 {
        errors.push(invalid(
            &path.child("successThreshold"),
            threshold,
            "must be 1",
        ));
    }
}

fn probe(errors: &mut FieldErrors, p: &Probe, grace_period: Option<i64>, path: &Path<'_>) {
    handler(
        errors,
        Handler {
            exec: p
                .exec
                .as_ref()
                .map(|e| e.command.as_deref().unwrap_or_default()),
            http_get: p.http_get.as_ref(),
            tcp_socket: p.tcp_socket.as_ref().map(|t| &t.port),
            grpc: p.grpc.as_ref().map(|g| g.port),
            sleep: None,
        },
        grace_period,
        path,
    );
    for (value, child) in [
        (p.initial_delay_seconds, "initialDelaySeconds"),
        (p.timeout_seconds, "timeoutSeconds"),
        (p.period_seconds, "periodSeconds"),
        (p.success_threshold, "successThreshold"),
        (p.failure_threshold, "failureThreshold"),
    ] {
        non_negative(
            errors,
            &path.child(child),
            i64::from(value.unwrap_or_default()),
        );
    }
    if let Some(seconds) = p.termination_grace_period_seconds.filter(|s| *s <= 0) {
        errors.push(invalid(
            &path.child("terminationGracePeriodSeconds"),
            seconds,
            "must be greater than 0",
        ));
    }
}

/// The actions a probe or lifecycle hook may take; exactly one must be set.
struct Handler<'a> {
    exec: Option<&'a [String]>,
    http_get: Option<&'a HTTPGetAction>,
    tcp_socket: Option<&'a IntOrString>,
    grpc: Option<i32>,
    sleep: Option<i64>,
}

fn handler(errors: &mut FieldErrors, h: Handler<'_>, grace_period: Option<i64>, path: &Path<'_>) {
    let mut count = 0;
    let mut one_more = |errors: &mut FieldErrors, child: &str| -> bool {
        count += 1;
        if count > 1 {
            errors.push(forbidden(
                &path.child(child),
                "may not specify more than 1 handler type",
            ));
            false
        } else {
            true
        }
    };
    if let Some(command) = h.exec {
        if one_more(errors, "exec") && command.is_empty() {
            errors.push(required(&path.child("exec").child("command"), ""));
        }
    }
    if let Some(http) = h.http_get {
        if one_more(errors, "httpGet") {
            http_get(errors, http, &path.child("httpGet"));
        }
    }
    if let Some(port) = h.tcp_socket {
        if one_more(errors, "tcpSocket") {
            port_num_or_name(errors, port, &path.child("tcpSocket").child("port"));
        }
    }
    if let Some(port) = h.grpc {
        if one_more(errors, "grpc") {
            for message in is_valid_port_num(i64::from(port)) {
                errors.push(invalid(&path.child("grpc").child("port"), port, message));
            }
        }
    }
    if let Some(seconds) = h.sleep {
        if one_more(errors, "sleep") {
            if let Some(grace) = grace_period.filter(|g| seconds < 0 || seconds > *g) {
                errors.push(invalid(
                    &path.child("sleep"),
                    seconds,
                    format!(
                        "must be non-negative and less than terminationGracePeriodSeconds ({grace})"
                    ),
                ));
            }
        }
    }
    if count == 0 {
        errors.push(required(path, "must specify a handler type"));
    }
}

fn http_get(errors: &mut FieldErrors, action: &HTTPGetAction, path: &Path<'_>) {
    if action.path.as_deref().unwrap_or_default().is_empty() {
        errors.push(required(&path.child("path"), ""));
    }
    port_num_or_name(errors, &action.port, &path.child("port"));
    let scheme = action.scheme.as_deref().unwrap_or_default();
    if scheme != "HTTP" && scheme != "HTTPS" {
        errors.push(not_supported(
            &path.child("scheme"),
            scheme,
            &["HTTP", "HTTPS"],
        ));
    }
    for header in action.http_headers.iter().flatten() {
        invalid_each(
            errors,
            &path.child("httpHeaders"),
            &header.name,
            is_http_header_name(&header.name),
        );
    }
}

/// A port given by number (1–65535) or by name (an IANA service name).
pub(crate) fn port_num_or_name(errors: &mut FieldErrors, port: &IntOrString, path: &Path<'_>) {
    match port {
        IntOrString::Int(number) => {
            for message in is_valid_port_num(i64::from(*number)) {
                errors.push(invalid(path, *number, message));
            }
        }
        IntOrString::String(name) => {
            invalid_each(errors, path, name, is_valid_port_name(name));
        }
    }
}

fn lifecycle(
    errors: &mut FieldErrors,
    hooks: &Lifecycle,
    grace_period: Option<i64>,
    path: &Path<'_>,
) {
    for (hook, child) in [
        (&hooks.post_start, "postStart"),
        (&hooks.pre_stop, "preStop"),
    ] {
        if let Some(hook) = hook {
            handler(
                errors,
                lifecycle_handler(hook),
                grace_period,
                &path.child(child),
            );
        }
    }
}

fn lifecycle_handler(hook: &LifecycleHandler) -> Handler<'_> {
    Handler {
        exec: hook
            .exec
            .as_ref()
            .map(|e| e.command.as_deref().unwrap_or_default()),
        http_get: hook.http_get.as_ref(),
        tcp_socket: hook.tcp_socket.as_ref().map(|t| &t.port),
        grpc: None,
        sleep: hook.sleep.as_ref().map(|s| s.seconds),
    }
}

/// A user or group id: 0 to 4294967295.
pub(crate) fn id_range(errors: &mut FieldErrors, id: Option<i64>, path: &Path<'_>) {
    if let Some(id) = id.filter(|id| !(0..=i64::from(u32::MAX)).contains(id)) {
        errors.push(invalid(
            path,
            id,
            inclusive_range_error(0, i64::from(u32::MAX)),
        ));
    }
}

/// Checks a seccomp profile (`type` and `localhostProfile`).
pub(crate) fn seccomp_profile(
    errors: &mut FieldErrors,
    profile: &k8s_openapi::api::core::v1::SeccompProfile,
    path: &Path<'_>,
) {
    match profile.type_.as_str() {
        "Localhost" | "RuntimeDefault" | "Unconfined" => {}
        "" => errors.push(required(
            &path.child("type"),
            "type is required when seccompProfile is set",
        )),
        other => errors.push(not_supported(
            &path.child("type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
    match (&profile.localhost_profile, profile.type_.as_str()) {
        (None, "Localhost") => errors.push(required(
            &path.child("localhostProfile"),
            "must be set when seccomp type is Localhost",
        )),
        (Some(local), "Localhost") => {
            local_descending_path(errors, local, &path.child("localhostProfile"));
        }
        (Some(_), _) => errors.push(invalid(
            &path.child("localhostProfile"),
            json(profile),
            "can only be set when seccomp type is Localhost",
        )),
        (None, _) => {}
    }
}

/// Checks an AppArmor profile (`type` and `localhostProfile`).
pub(crate) fn app_armor_profile(
    errors: &mut FieldErrors,
    profile: &k8s_openapi::api::core::v1::AppArmorProfile,
    path: &Path<'_>,
) {
    let local_path = path.child("localhostProfile");
    match profile.type_.as_str() {
        "Localhost" => match profile.localhost_profile.as_deref() {
            None => errors.push(required(
                &local_path,
                "must be set when AppArmor type is Localhost",
            )),
            Some(local) if local.trim() != local => errors.push(invalid(
                &local_path,
                local,
                "must not be padded with whitespace",
            )),
            Some("") => errors.push(required(
                &local_path,
                "must be set when AppArmor type is Localhost",
            )),
            Some(local) if local.len() > 4095 => {
                errors.push(super::path::too_long(&local_path, 4095));
            }
            Some(_) => {}
        },
        "RuntimeDefault" | "Unconfined" => {
            if let Some(local) = &profile.localhost_profile {
                errors.push(invalid(
                    &local_path,
                    local.as_str(),
                    "can only be set when AppArmor type is Localhost",
                ));
            }
        }
        "" => errors.push(required(
            &path.child("type"),
            "type is required when appArmorProfile is set",
        )),
        other => errors.push(not_supported(
            &path.child("type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
}

fn security_context(
    errors: &mut FieldErrors,
    context: &SecurityContext,
    host_users: bool,
    path: &Path<'_>,
) {
    id_range(errors, context.run_as_user, &path.child("runAsUser"));
    id_range(errors, context.run_as_group, &path.child("runAsGroup"));
    if let Some(proc_mount) = context.proc_mount.as_deref() {
        let proc_path = path.child("procMount");
        if proc_mount != "Default" && proc_mount != "Unmasked" {
            errors.push(not_supported(
                &proc_path,
                proc_mount,
                &["Default", "Unmasked"],
            ));
        }
        if host_users && proc_mount == "Unmasked" {
            errors.push(invalid(
                &proc_path,
                proc_mount,
                "`hostUsers` must be false to use `Unmasked`",
            ));
        }
    }
    if let Some(profile) = &context.seccomp_profile {
        seccomp_profile(errors, profile, &path.child("seccompProfile"));
    }
    if context.allow_privilege_escalation == Some(false) {
        if context.privileged == Some(true) {
            errors.push(invalid(
                path,
                json(context),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        let adds_sys_admin = context
            .capabilities
            .as_ref()
            .and_then(|c| c.add.as_ref())
            .is_some_and(|add| add.iter().any(|c| c == "CAP_SYS_ADMIN"));
        if adds_sys_admin {
            errors.push(invalid(
                path,
                json(context),
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    if let Some(profile) = &context.app_armor_profile {
        app_armor_profile(errors, profile, &path.child("appArmorProfile"));
    }
}
