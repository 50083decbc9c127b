//! Patch metadata of `meta/v1` and `core/v1` types, from the v1.33 struct tags.

use super::{FieldSchema, ListMapKey, PatchMeta, PatchSchema};

/// `protocol`, defaulted to `TCP`: the second key of container and service ports for apply.
const PROTOCOL: ListMapKey = ListMapKey::defaulting("protocol", "TCP");

/// `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`: owner references merge by `uid`,
/// finalizers as a set; `managedFields` has no strategy.
pub(super) static OBJECT_META: PatchSchema = PatchSchema::new(
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
    &[
        FieldSchema::new("ownerReferences", PatchMeta::merge_by("uid"), None),
        FieldSchema::merge_scalars("finalizers"),
    ],
);

/// A `status` whose only patch metadata is `conditions`, merged by `type` (the status of
/// Namespace, PersistentVolumeClaim, ReplicationController, Service, every workload, HPA, PDB).
pub(super) static CONDITIONS_STATUS: PatchSchema = PatchSchema::new(
    "status with conditions",
    &[FieldSchema::new(
        "conditions",
        PatchMeta::merge_by("type"),
        None,
    )],
);

/// `io.k8s.api.core.v1.EnvVarSource`: every selector it holds is `structType=atomic`, so
/// server-side apply owns and compares a `fieldRef` whole — including the `apiVersion: v1`
/// the API server defaults into it.
static ENV_VAR_SOURCE: PatchSchema = PatchSchema::new(
    "io.k8s.api.core.v1.EnvVarSource",
    &[
        FieldSchema::atomic("fieldRef"),
        FieldSchema::atomic("resourceFieldRef"),
        FieldSchema::atomic("configMapKeyRef"),
        FieldSchema::atomic("secretKeyRef"),
    ],
);

/// `io.k8s.api.core.v1.EnvVar`: no patch metadata, but atomic selectors under `valueFrom`.
static ENV_VAR: PatchSchema = PatchSchema::new(
    "io.k8s.api.core.v1.EnvVar",
    &[FieldSchema::nested("valueFrom", &ENV_VAR_SOURCE)],
);

/// `io.k8s.api.core.v1.Container`, and `EphemeralContainer`, which shares its lists.
/// `envFrom` and `resizePolicy` have no strategy.
pub(super) static CONTAINER: PatchSchema = PatchSchema::new(
    "io.k8s.api.core.v1.Container",
    &[
        FieldSchema::new("ports", PatchMeta::merge_by("containerPort"), None)
            .with_list_map_keys(&[ListMapKey::named("containerPort"), PROTOCOL]),
        FieldSchema::merge_list("env", "name", &ENV_VAR),
        FieldSchema::new("volumeMounts", PatchMeta::merge_by("mountPath"), None),
        FieldSchema::new("volumeDevices", PatchMeta::merge_by("devicePath"), None),
    ],
);

/// `io.k8s.api.core.v1.PodSpec`. `tolerations`, `readinessGates`, `affinity` terms and
/// `os` have no strategy: a patch replaces them.
pub(super) static POD_SPEC: PatchSchema = PatchSchema::new(
    "io.k8s.api.core.v1.PodSpec",
    &[
        FieldSchema::new(
            "volumes",
            PatchMeta::merge_by("name").with_retain_keys(),
            None,
        ),
        FieldSchema::merge_list("initContainers", "name", &CONTAINER),
        FieldSchema::merge_list("containers", "name", &CONTAINER),
        FieldSchema::merge_list("ephemeralContainers", "name", &CONTAINER),
        FieldSchema::new("imagePullSecrets", PatchMeta::merge_by("name"), None),
        FieldSchema::new("hostAliases", PatchMeta::merge_by("ip"), None),
        FieldSchema::new(
            "topologySpreadConstraints",
            PatchMeta::merge_by("topologyKey"),
            None,
        )
        .with_list_map_keys(&[
            ListMapKey::named("topologyKey"),
            ListMapKey::named("whenUnsatisfiable"),
        ]),
        FieldSchema::new(
            "resourceClaims",
            PatchMeta::merge_by("name").with_retain_keys(),
            None,
        ),
        FieldSchema::new("schedulingGates", PatchMeta::merge_by("name"), None),
    ],
);

/// `io.k8s.api.core.v1.PodStatus`.
pub(super) static POD_STATUS: PatchSchema = PatchSchema::new(
    "io.k8s.api.core.v1.PodStatus",
    &[
        FieldSchema::new("conditions", PatchMeta::merge_by("type"), None),
        FieldSchema::new("podIPs", PatchMeta::merge_by("ip"), None),
        FieldSchema::new("hostIPs", PatchMeta::merge_by("ip"), None),
        FieldSchema::new(
            "resourceClaimStatuses",
            PatchMeta::merge_by("name").with_retain_keys(),
            None,
        ),
    ],
);

/// `io.k8s.api.core.v1.PodTemplateSpec`: the subtree every workload shares.
pub(super) static POD_TEMPLATE_SPEC: PatchSchema = PatchSchema::new(
    "io.k8s.api.core.v1.PodTemplateSpec",
    &[
        FieldSchema::nested("metadata", &OBJECT_META),
        FieldSchema::nested("spec", &POD_SPEC),
    ],
);

/// `Pod`.
pub(super) static POD: PatchSchema = PatchSchema::new(
    "io.k8s.api.core.v1.Pod",
    &[
        FieldSchema::nested("metadata", &OBJECT_META),
        FieldSchema::nested("spec", &POD_SPEC),
        FieldSchema::nested("status", &POD_STATUS),
    ],
);

/// `PodTemplate`.
pub(super) static POD_TEMPLATE: PatchSchema = PatchSchema::new(
    "io.k8s.api.core.v1.PodTemplate",
    &[
        FieldSchema::nested("metadata", &OBJECT_META),
        FieldSchema::nested("template", &POD_TEMPLATE_SPEC),
    ],
);

/// `ReplicationControllerSpec`.
static REPLICATION_CONTROLLER_SPEC: PatchSchema = PatchSchema::new(
    "io.k8s.api.core.v1.ReplicationControllerSpec",
    &[
        FieldSchema::nested("template", &POD_TEMPLATE_SPEC),
        FieldSchema::atomic("selector"),
    ],
);

/// `ReplicationController`.
pub(super) static REPLICATION_CONTROLLER: PatchSchema = PatchSchema::new(
    "io.k8s.api.core.v1.ReplicationController",
    &[
        FieldSchema::nested("metadata", &OBJECT_META),
        FieldSchema::nested("spec", &REPLICATION_CONTROLLER_SPEC),
        FieldSchema::nested("status", &CONDITIONS_STATUS),
    ],
);

/// `NodeSpec`: `podCIDRs` merges as a set; `taints` has no strategy.
static NODE_SPEC: PatchSchema = PatchSchema::new(
    "io.k8s.api.core.v1.NodeSpec",
    &[FieldSchema::merge_scalars("podCIDRs")],
);

/// `NodeStatus`. Addresses merge by `type`, a known Kubernetes quirk: a node's IPv4 and IPv6
/// `InternalIP` share the key, so a patch cannot hold both apart.
static NODE_STATUS: PatchSchema = PatchSchema::new(
    "io.k8s.api.core.v1.NodeStatus",
    &[
        FieldSchema::new("conditions", PatchMeta::merge_by("type"), None),
        FieldSchema::new("addresses", PatchMeta::merge_by("type"), None),
    ],
);

/// `Node`.
pub(super) static NODE: PatchSchema = PatchSchema::new(
    "io.k8s.api.core.v1.Node",
    &[
        FieldSchema::nested("metadata", &OBJECT_META),
        FieldSchema::nested("spec", &NODE_SPEC),
        FieldSchema::nested("status", &NODE_STATUS),
    ],
);

/// `ServiceSpec`. Ports merge by `port` alone, a known Kubernetes quirk: `53/TCP` and
/// `53/UDP` share the key, so a strategic patch naming port 53 merges into the first of them.
static SERVICE_SPEC: PatchSchema = PatchSchema::new(
    "io.k8s.api.core.v1.ServiceSpec",
    &[
        FieldSchema::new("ports", PatchMeta::merge_by("port"), None)
            .with_list_map_keys(&[ListMapKey::named("port"), PROTOCOL]),
        FieldSchema::atomic("selector"),
    ],
);

/// `Service`. `status.loadBalancer.ingress` has no strategy.
pub(super) static SERVICE: PatchSchema = PatchSchema::new(
    "io.k8s.api.core.v1.Service",
    &[
        FieldSchema::nested("metadata", &OBJECT_META),
        FieldSchema::nested("spec", &SERVICE_SPEC),
        FieldSchema::nested("status", &CONDITIONS_STATUS),
    ],
);

/// `Namespace`, `PersistentVolumeClaim`: metadata and `status.conditions`.
pub(super) static WITH_STATUS_CONDITIONS: PatchSchema = PatchSchema::new(
    "object with status.conditions",
    &[
        FieldSchema::nested("metadata", &OBJECT_META),
        FieldSchema::nested("status", &CONDITIONS_STATUS),
    ],
);

/// `ServiceAccount`: `secrets` merges by `name`; `imagePullSecrets` has no strategy here
/// (unlike the pod's).
pub(super) static SERVICE_ACCOUNT: PatchSchema = PatchSchema::new(
    "io.k8s.api.core.v1.ServiceAccount",
    &[
        FieldSchema::nested("metadata", &OBJECT_META),
        FieldSchema::new("secrets", PatchMeta::merge_by("name"), None),
    ],
);

/// Any kind whose only patch metadata is in `metadata` (ConfigMap, Secret, Endpoints,
/// EndpointSlice, RBAC, Lease, …): every other list is replaced.
pub(super) static METADATA_ONLY: PatchSchema =
    PatchSchema::new("object", &[FieldSchema::nested("metadata", &OBJECT_META)]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selectors_of_an_env_var_source_are_atomic_for_apply() {
        let env = CONTAINER.field("env").expect("env has metadata");
        assert_eq!(env.meta(), PatchMeta::merge_by("name"));
        let value_from = env
            .schema()
            .and_then(|var| var.field("valueFrom"))
            .and_then(FieldSchema::schema)
            .expect("valueFrom leads to the selectors");
        for selector in [
            "fieldRef",
            "resourceFieldRef",
            "configMapKeyRef",
            "secretKeyRef",
        ] {
            let field = value_from.field(selector).expect(selector);
            assert!(field.is_atomic(), "{selector}");
            // Strategic merge patches still merge them key by key.
            assert_eq!(field.meta(), PatchMeta::DEFAULT, "{selector}");
        }
    }
}
