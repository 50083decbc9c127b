//! Pod defaults, at two levels, as Kubernetes separates them.
//!
//! * Every pod spec, including the templates inside workloads ([`default_pod_spec`]): restart
//!   policy `Always`, DNS policy `ClusterFirst`, an empty pod security context, a 30 s grace
//!   period, the `default-scheduler`; for each container, init container and ephemeral
//!   container an image pull policy (see
//!   [`default_image_pull_policy`](super::default_image_pull_policy)), the termination message
//!   path and policy, port protocol `TCP`, `fieldRef` API version `v1`, probe timings and
//!   HTTP scheme and path; volume defaults; resource quantities rounded to milli precision.
//! * Only actual Pods ([`default_pod`]): container requests taken from limits,
//!   `enableServiceLinks: true`, and with `hostNetwork` each port's `hostPort` equal to its
//!   `containerPort`. Kubernetes keeps these out of templates so that a new API server does not
//!   change the templates of existing workloads (which would roll every Deployment).

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EphemeralContainer, HTTPGetAction, Lifecycle, Pod, PodSpec,
    PodTemplate, PodTemplateSpec, Probe, ResourceRequirements,
};

use super::{
    default_nonzero, default_string, default_value, each_mut,
    image_reference::default_image_pull_policy,
    resources::{
        default_requests_from_limits, default_resource_list, default_resource_requirements,
    },
    volume::{default_object_field_selector, default_volume},
};

/// Defaults a Pod: the pod-only defaults (requests from limits, service links, host network
/// ports), then everything [`default_pod_spec`] does, then the rounding of the resource
/// amounts reported in its status.
pub fn default_pod(pod: &mut Pod) {
    let spec = pod.spec.get_or_insert_default();
    for container in spec
        .containers
        .iter_mut()
        .chain(each_mut(&mut spec.init_containers))
    {
        default_requests_from_limits(&mut container.resources);
    }
    default_value(&mut spec.enable_service_links, || true);
    if spec.host_network == Some(true) {
        for container in spec
            .containers
            .iter_mut()
            .chain(each_mut(&mut spec.init_containers))
        {
            for port in each_mut(&mut container.ports) {
                default_nonzero(&mut port.host_port, port.container_port);
            }
        }
    }
    default_pod_spec(spec);

    if let Some(status) = &mut pod.status {
        for container_status in each_mut(&mut status.init_container_statuses)
            .chain(each_mut(&mut status.container_statuses))
            .chain(each_mut(&mut status.ephemeral_container_statuses))
        {
            default_resource_list(&mut container_status.allocated_resources);
            default_resource_requirements(&mut container_status.resources);
        }
    }
}

/// Defaults a pod spec wherever it appears (a Pod, or the template of a workload): the
/// pod-level fields, then volumes, containers, init containers and ephemeral containers.
pub fn default_pod_spec(spec: &mut PodSpec) {
    default_string(&mut spec.dns_policy, "ClusterFirst");
    default_string(&mut spec.restart_policy, "Always");
    default_value(&mut spec.security_context, Default::default);
    default_value(&mut spec.termination_grace_period_seconds, || 30);
    default_string(&mut spec.scheduler_name, "default-scheduler");

    for volume in each_mut(&mut spec.volumes) {
        default_volume(volume);
    }
    for container in each_mut(&mut spec.init_containers) {
        default_container(container);
    }
    for container in &mut spec.containers {
        default_container(container);
    }
    for container in each_mut(&mut spec.ephemeral_containers) {
        default_ephemeral_container(container);
    }
    default_resource_list(&mut spec.overhead);
    default_resource_requirements(&mut spec.resources);
}

/// Defaults a pod template: its spec, created if absent (it is not optional in Kubernetes).
pub fn default_pod_template_spec(template: &mut PodTemplateSpec) {
    default_pod_spec(template.spec.get_or_insert_default());
}

/// Defaults a PodTemplate object: its template's pod spec.
pub fn default_pod_template(pod_template: &mut PodTemplate) {
    default_pod_template_spec(pod_template.template.get_or_insert_default());
}

/// Defaults a container: pull policy from its image, termination message path
/// `/dev/termination-log` and policy `File`, then its ports, environment, resources, probes
/// and lifecycle hooks.
pub fn default_container(container: &mut Container) {
    default_container_parts(ContainerParts {
        image: container.image.as_deref(),
        image_pull_policy: &mut container.image_pull_policy,
        termination_message_path: &mut container.termination_message_path,
        termination_message_policy: &mut container.termination_message_policy,
        ports: &mut container.ports,
        env: &mut container.env,
        resources: &mut container.resources,
        probes: [
            &mut container.liveness_probe,
            &mut container.readiness_probe,
            &mut container.startup_probe,
        ],
        lifecycle: &mut container.lifecycle,
    });
}

/// Defaults an ephemeral (debug) container exactly like a container.
pub fn default_ephemeral_container(container: &mut EphemeralContainer) {
    default_container_parts(ContainerParts {
        image: container.image.as_deref(),
        image_pull_policy: &mut container.image_pull_policy,
        termination_message_path: &mut container.termination_message_path,
        termination_message_policy: &mut container.termination_message_policy,
        ports: &mut container.ports,
        env: &mut container.env,
        resources: &mut container.resources,
        probes: [
            &mut container.liveness_probe,
            &mut container.readiness_probe,
            &mut container.startup_probe,
        ],
        lifecycle: &mut container.lifecycle,
    });
}

/// Defaults a probe: timeout 1 s, period 10 s, success threshold 1, failure threshold 3; an
/// HTTP probe's scheme `HTTP` and path `/`; a gRPC probe's service `""`.
pub fn default_probe(probe: &mut Probe) {
    default_nonzero(&mut probe.timeout_seconds, 1);
    default_nonzero(&mut probe.period_seconds, 10);
    default_nonzero(&mut probe.success_threshold, 1);
    default_nonzero(&mut probe.failure_threshold, 3);
    if let Some(http_get) = &mut probe.http_get {
        default_http_get(http_get);
    }
    if let Some(grpc) = &mut probe.grpc {
        default_value(&mut grpc.service, String::new);
    }
}

/// The fields that [`Container`] and [`EphemeralContainer`] share and that have defaults.
struct ContainerParts<'a> {
    image: Option<&'a str>,
    image_pull_policy: &'a mut Option<String>,
    termination_message_path: &'a mut Option<String>,
    termination_message_policy: &'a mut Option<String>,
    ports: &'a mut Option<Vec<ContainerPort>>,
    env: &'a mut Option<Vec<EnvVar>>,
    resources: &'a mut Option<ResourceRequirements>,
    probes: [&'a mut Option<Probe>; 3],
    lifecycle: &'a mut Option<Lifecycle>,
}

fn default_container_parts(parts: ContainerParts<'_>) {
    let policy = default_image_pull_policy(parts.image.unwrap_or_default());
    default_string(parts.image_pull_policy, policy);
    default_string(parts.termination_message_path, "/dev/termination-log");
    default_string(parts.termination_message_policy, "File");
    for port in each_mut(parts.ports) {
        default_string(&mut port.protocol, "TCP");
    }
    for env in each_mut(parts.env) {
        if let Some(field_ref) = env.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
            default_object_field_selector(field_ref);
        }
    }
    default_resource_requirements(parts.resources);
    for probe in parts.probes.into_iter().flatten() {
        default_probe(probe);
    }
    if let Some(lifecycle) = parts.lifecycle {
        for handler in [&mut lifecycle.post_start, &mut lifecycle.pre_stop]
            .into_iter()
            .flatten()
        {
            if let Some(http_get) = &mut handler.http_get {
                default_http_get(http_get);
            }
        }
    }
}

fn default_http_get(action: &mut HTTPGetAction) {
    default_string(&mut action.path, "/");
    default_string(&mut action.scheme, "HTTP");
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        EnvVarSource, GRPCAction, LifecycleHandler, ObjectFieldSelector, PodSecurityContext,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn container(image: &str) -> Container {
        Container {
            name: "app".into(),
            image: Some(image.into()),
            ..Default::default()
        }
    }

    fn pod(containers: Vec<Container>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn pod_spec_gets_the_pod_level_defaults() {
        let mut spec = PodSpec::default();
        default_pod_spec(&mut spec);
        assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
        assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
        assert_eq!(spec.security_context, Some(PodSecurityContext::default()));
        assert_eq!(spec.termination_grace_period_seconds, Some(30));
        assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
        assert_eq!(spec.enable_service_links, None, "pods only");
        assert_eq!(spec.priority, None, "set by admission, not defaulting");
    }

    #[test]
    fn containers_get_pull_policy_and_termination_message_defaults() {
        let mut c = container("nginx");
        default_container(&mut c);
        assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
        assert_eq!(
            c.termination_message_path.as_deref(),
            Some("/dev/termination-log")
        );
        assert_eq!(c.termination_message_policy.as_deref(), Some("File"));

        let mut pinned = container("nginx:1.27");
        pinned.image_pull_policy = Some("Never".into());
        default_container(&mut pinned);
        assert_eq!(pinned.image_pull_policy.as_deref(), Some("Never"));
    }

    #[test]
    fn probes_get_timings_scheme_path_and_grpc_service() {
        let mut c = Container {
            liveness_probe: Some(Probe {
                http_get: Some(HTTPGetAction {
                    port: IntOrString::Int(8080),
                    ..Default::default()
                }),
                period_seconds: Some(0),
                failure_threshold: Some(5),
                ..Default::default()
            }),
            readiness_probe: Some(Probe {
                grpc: Some(GRPCAction {
                    port: 9090,
                    service: None,
                }),
                ..Default::default()
            }),
            lifecycle: Some(Lifecycle {
                pre_stop: Some(LifecycleHandler {
                    http_get: Some(HTTPGetAction {
                        port: IntOrString::String("http".into()),
                        path: Some("/drain".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..container("app:v1")
        };
        default_container(&mut c);
        let liveness = c.liveness_probe.unwrap_or_default();
        assert_eq!(liveness.timeout_seconds, Some(1));
        assert_eq!(liveness.period_seconds, Some(10));
        assert_eq!(liveness.success_threshold, Some(1));
        assert_eq!(liveness.failure_threshold, Some(5));
        let http_get = liveness.http_get.unwrap_or_default();
        assert_eq!(http_get.scheme.as_deref(), Some("HTTP"));
        assert_eq!(http_get.path.as_deref(), Some("/"));
        let grpc = c.readiness_probe.and_then(|p| p.grpc);
        assert_eq!(grpc.and_then(|g| g.service).as_deref(), Some(""));
        let pre_stop = c
            .lifecycle
            .and_then(|l| l.pre_stop)
            .and_then(|h| h.http_get);
        let pre_stop = pre_stop.unwrap_or_default();
        assert_eq!(pre_stop.path.as_deref(), Some("/drain"));
        assert_eq!(pre_stop.scheme.as_deref(), Some("HTTP"));
    }

    #[test]
    fn ports_default_to_tcp_and_field_refs_to_v1() {
        let mut c = Container {
            ports: Some(vec![ContainerPort {
                container_port: 80,
                ..Default::default()
            }]),
            env: Some(vec![EnvVar {
                name: "NODE".into(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: "spec.nodeName".into(),
                        api_version: None,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..container("app:v1")
        };
        default_container(&mut c);
        let port = &c.ports.unwrap_or_default()[0];
        assert_eq!(port.protocol.as_deref(), Some("TCP"));
        assert_eq!(port.host_port, None, "only with hostNetwork");
        let field_ref = c.env.unwrap_or_default().remove(0).value_from;
        let field_ref = field_ref.and_then(|v| v.field_ref).unwrap_or_default();
        assert_eq!(field_ref.api_version.as_deref(), Some("v1"));
    }

    #[test]
    fn pods_get_requests_from_limits_service_links_and_host_ports() {
        let limits = [("cpu".to_string(), Quantity("500m".into()))].into();
        let mut p = pod(vec![Container {
            resources: Some(ResourceRequirements {
                limits: Some(limits),
                ..Default::default()
            }),
            ports: Some(vec![ContainerPort {
                container_port: 8080,
                ..Default::default()
            }]),
            ..container("app:v1")
        }]);
        if let Some(spec) = &mut p.spec {
            spec.host_network = Some(true);
        }
        default_pod(&mut p);
        let spec = p.spec.unwrap_or_default();
        assert_eq!(spec.enable_service_links, Some(true));
        let c = &spec.containers[0];
        let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
        assert_eq!(
            requests.and_then(|r| r.get("cpu")),
            Some(&Quantity("500m".into()))
        );
        let port = &c.ports.as_deref().unwrap_or_default()[0];
        assert_eq!(port.host_port, Some(8080));
    }

    #[test]
    fn templates_do_not_get_pod_only_defaults() {
        let limits = [("memory".to_string(), Quantity("1Gi".into()))].into();
        let mut template = PodTemplateSpec {
            spec: Some(PodSpec {
                containers: vec![Container {
                    resources: Some(ResourceRequirements {
                        limits: Some(limits),
                        ..Default::default()
                    }),
                    ..container("app:v1")
                }],
                host_network: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        default_pod_template_spec(&mut template);
        let spec = template.spec.unwrap_or_default();
        assert_eq!(spec.enable_service_links, None);
        assert_eq!(
            spec.containers[0]
                .resources
                .as_ref()
                .and_then(|r| r.requests.clone()),
            None
        );
        assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
    }

    #[test]
    fn a_pod_without_spec_gets_one() {
        let mut p = Pod::default();
        default_pod(&mut p);
        let spec = p.spec.unwrap_or_default();
        assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
        assert_eq!(spec.enable_service_links, Some(true));
    }
}
