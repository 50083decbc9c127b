//! What Kubernetes v1.33 itself answers to these examples where the answer is not the plain
//! `created` / `serverside-applied` / `configured` / `unchanged`: the expectations the suite
//! holds Orchestra to, each with the reason Kubernetes behaves so.

/// Files a Kubernetes cluster that serves Services in IPv4 only (as Orchestra's does, from
/// `10.96.0.0/12`) refuses, with the error kubectl prints: the Service registry checks every
/// family a Service names against the cluster's, whatever its `ipFamilyPolicy`.
pub const REFUSED_ON_AN_IPV4_CLUSTER: &[(&str, &str)] = &[
    (
        "service/networking/dual-stack-ipfamilies-ipv6.yaml",
        IPV6_NOT_CONFIGURED,
    ),
    (
        "service/networking/dual-stack-prefer-ipv6-lb-svc.yaml",
        IPV6_NOT_CONFIGURED,
    ),
    (
        "service/networking/dual-stack-preferred-ipfamilies-svc.yaml",
        IPV6_NOT_CONFIGURED,
    ),
];

/// Files Kubernetes refuses because they name a PriorityClass the documentation creates in
/// another step (the `Priority` admission plugin resolves `priorityClassName` on create), with
/// the error kubectl prints.
pub const REFUSED_WITHOUT_THEIR_PRIORITY_CLASS: &[(&str, &str)] = &[(
    "policy/high-priority-pod.yaml",
    r#"pods "high-priority" is forbidden: no PriorityClass with name high was found"#,
)];

const IPV6_NOT_CONFIGURED: &str = r#"Service "my-service" is invalid: spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster"#;

/// Objects whose `kubectl apply --server-side` after the client-side apply conflicts with
/// `kubectl-client-side-apply` in Kubernetes too, and the fields the conflict names; the suite
/// asserts the conflict, then applies these files again with `--force-conflicts`, as a
/// Kubernetes user has to.
///
/// kubectl's upgrade from client-side apply takes a field over only when the live object still
/// holds exactly the value the last-applied annotation records. These fields are atomic
/// (`listType=atomic`, `structType=atomic`: owned and compared whole) and the API server
/// defaults something inside them (a PVC template's `apiVersion`, `kind`, `volumeMode` and
/// `status`; a field selector's `apiVersion: v1`; an admission rule's `scope: "*"`), admission
/// adds to them (a pod's `tolerations` get `DefaultTolerationSeconds`' two), stores a number
/// as a quantity string (`3` becomes `"3"`), or stores a quantity in its canonical form (`0.5`
/// becomes `500m`, `0.1` `100m`, `1000` `1k`), so the applied value differs from the live one
/// (as a whole, for the atomic ones).
pub const SERVER_SIDE_CONFLICTS: &[(&str, &str, &[&str])] = &[
    (
        "application/cassandra/cassandra-statefulset.yaml",
        "statefulset.apps/cassandra",
        &[
            r#".spec.template.spec.containers[name="cassandra"].env[name="POD_IP"].valueFrom.fieldRef"#,
            ".spec.volumeClaimTemplates",
        ],
    ),
    (
        "application/mysql/mysql-statefulset.yaml",
        "statefulset.apps/mysql",
        &[".spec.volumeClaimTemplates"],
    ),
    (
        "application/web/web.yaml",
        "statefulset.apps/web",
        &[".spec.volumeClaimTemplates"],
    ),
    (
        "application/web/web-parallel.yaml",
        "statefulset.apps/web",
        &[".spec.volumeClaimTemplates"],
    ),
    (
        "controllers/statefulset.yaml",
        "statefulset.apps/web",
        &[".spec.volumeClaimTemplates"],
    ),
    (
        "application/job/indexed-job-vol.yaml",
        "job.batch/indexed-job",
        &[r#".spec.template.spec.volumes[name="input"].downwardAPI.items"#],
    ),
    (
        "pods/inject/dapi-volume.yaml",
        "pod/kubernetes-downwardapi-volume-example",
        &[r#".spec.volumes[name="podinfo"].downwardAPI.items"#],
    ),
    (
        "pods/storage/projected-secret-downwardapi-configmap.yaml",
        "pod/volume-test",
        &[r#".spec.volumes[name="all-in-one"].projected.sources"#],
    ),
    (
        "pods/inject/dapi-envars-pod.yaml",
        "pod/dapi-envars-fieldref",
        &[
            r#".spec.containers[name="test-container"].env[name="MY_NODE_NAME"].valueFrom.fieldRef"#,
            r#".spec.containers[name="test-container"].env[name="MY_POD_NAME"].valueFrom.fieldRef"#,
            r#".spec.containers[name="test-container"].env[name="MY_POD_NAMESPACE"].valueFrom.fieldRef"#,
            r#".spec.containers[name="test-container"].env[name="MY_POD_IP"].valueFrom.fieldRef"#,
            r#".spec.containers[name="test-container"].env[name="MY_POD_SERVICE_ACCOUNT"].valueFrom.fieldRef"#,
        ],
    ),
    (
        "pods/pod-with-toleration.yaml",
        "pod/nginx",
        &[".spec.tolerations"],
    ),
    (
        "pods/resource/extended-resource-pod.yaml",
        "pod/extended-resource-demo",
        &[
            r#".spec.containers[name="extended-resource-demo-ctr"].resources.limits.example.com/dongle"#,
            r#".spec.containers[name="extended-resource-demo-ctr"].resources.requests.example.com/dongle"#,
        ],
    ),
    (
        "pods/resource/extended-resource-pod-2.yaml",
        "pod/extended-resource-demo-2",
        &[
            r#".spec.containers[name="extended-resource-demo-2-ctr"].resources.limits.example.com/dongle"#,
            r#".spec.containers[name="extended-resource-demo-2-ctr"].resources.requests.example.com/dongle"#,
        ],
    ),
    (
        "service/networking/vap-servicecidr-default.yaml",
        "validatingadmissionpolicy.admissionregistration.k8s.io/servicecidrs.default",
        &[".spec.matchConstraints.resourceRules"],
    ),
    (
        "policy/service-cluster-cidr-address-range.yaml",
        "validatingadmissionpolicy.admissionregistration.k8s.io/servicecidrs.default",
        &[".spec.matchConstraints.resourceRules"],
    ),
    (
        "service/networking/vap-servicecidr-deny.yaml",
        "validatingadmissionpolicy.admissionregistration.k8s.io/servicecidrs.deny",
        &[".spec.matchConstraints.resourceRules"],
    ),
    // Quantities written in a form the API server stores canonically (`0.5` as `500m`).
    (
        "application/zookeeper/zookeeper.yaml",
        "statefulset.apps/zk",
        &[
            r#".spec.template.spec.containers[name="kubernetes-zookeeper"].resources.requests.cpu"#,
            ".spec.volumeClaimTemplates",
        ],
    ),
    (
        "pods/config/redis-pod.yaml",
        "pod/redis",
        &[r#".spec.containers[name="redis"].resources.limits.cpu"#],
    ),
    (
        "pods/resource/cpu-request-limit.yaml",
        "pod/cpu-demo",
        &[r#".spec.containers[name="cpu-demo-ctr"].resources.requests.cpu"#],
    ),
    (
        "pods/resource/pod-level-cpu-request-limit.yaml",
        "pod/cpu-demo",
        &[".spec.resources.requests.cpu"],
    ),
    (
        "pods/resource/pod-level-resources.yaml",
        "pod/pod-resources-demo",
        &[
            r#".spec.containers[name="pod-resources-demo-ctr-1"].resources.limits.cpu"#,
            r#".spec.containers[name="pod-resources-demo-ctr-1"].resources.requests.cpu"#,
        ],
    ),
    (
        "policy/quota.yaml",
        "resourcequota/pods-high",
        &[".spec.hard.cpu"],
    ),
];

/// Objects for which a client-side `kubectl apply` of the configuration it last applied still
/// finds something to patch, so kubectl prints `configured` where it prints `unchanged` for
/// every other object (in Kubernetes alike), and why.
///
/// (Kubernetes v1.33 would also print `configured` for `pods/resource/pod-level-*.yaml`: it
/// drops pod-level `resources` while the `PodLevelResources` gate is off. Orchestra stores
/// fields it does not act on, as DESIGN.md promises, so those re-apply `unchanged`.)
pub const RECONFIGURED_ON_REAPPLY: &[(&str, &str, &str)] = &[
    (
        "application/cassandra/cassandra-statefulset.yaml",
        "statefulset.apps/cassandra",
        PVC_TEMPLATES,
    ),
    (
        "application/mysql/mysql-statefulset.yaml",
        "statefulset.apps/mysql",
        PVC_TEMPLATES,
    ),
    (
        "application/web/web.yaml",
        "statefulset.apps/web",
        PVC_TEMPLATES,
    ),
    (
        "application/web/web-parallel.yaml",
        "statefulset.apps/web",
        PVC_TEMPLATES,
    ),
    (
        "controllers/statefulset.yaml",
        "statefulset.apps/web",
        PVC_TEMPLATES,
    ),
    (
        "application/job/indexed-job-vol.yaml",
        "job.batch/indexed-job",
        DOWNWARD_API_ITEMS,
    ),
    (
        "pods/inject/dapi-volume.yaml",
        "pod/kubernetes-downwardapi-volume-example",
        DOWNWARD_API_ITEMS,
    ),
    (
        "pods/storage/projected-secret-downwardapi-configmap.yaml",
        "pod/volume-test",
        PROJECTED_SOURCES,
    ),
    (
        "service/networking/vap-servicecidr-default.yaml",
        "validatingadmissionpolicy.admissionregistration.k8s.io/servicecidrs.default",
        RESOURCE_RULES,
    ),
    (
        "policy/service-cluster-cidr-address-range.yaml",
        "validatingadmissionpolicy.admissionregistration.k8s.io/servicecidrs.default",
        RESOURCE_RULES,
    ),
    (
        "service/networking/vap-servicecidr-deny.yaml",
        "validatingadmissionpolicy.admissionregistration.k8s.io/servicecidrs.deny",
        RESOURCE_RULES,
    ),
    (
        "pods/pod-with-toleration.yaml",
        "pod/nginx",
        "`tolerations` has no merge key and the `DefaultTolerationSeconds` admission plugin adds \
         its two, so kubectl replaces the list (after which admission adds them again)",
    ),
    (
        "pods/resource/extended-resource-pod.yaml",
        "pod/extended-resource-demo",
        NUMBER_QUANTITY,
    ),
    (
        "pods/resource/extended-resource-pod-2.yaml",
        "pod/extended-resource-demo-2",
        NUMBER_QUANTITY,
    ),
    (
        "application/deployment-retainkeys.yaml",
        "deployment.apps/retainkeys-demo",
        "`strategy` has `retainKeys`: the live object has a defaulted `type` the configuration \
         lacks, so kubectl sends a `$retainKeys` directive (after which defaulting restores it)",
    ),
    (
        "policy/gold-vac-pvc.yaml",
        "persistentvolumeclaim/gold-vac-pvc",
        "`storageClassName:` is written without a value: kubectl sends the `null` as a deletion",
    ),
    (
        "secret/basicauth-secret.yaml",
        "secret/secret-basic-auth",
        STRING_DATA,
    ),
    (
        "secret/bootstrap-token-secret-literal.yaml",
        "secret/bootstrap-token-5emitj",
        STRING_DATA,
    ),
    (
        "application/zookeeper/zookeeper.yaml",
        "statefulset.apps/zk",
        CANONICAL_QUANTITY,
    ),
    (
        "pods/config/redis-pod.yaml",
        "pod/redis",
        CANONICAL_QUANTITY,
    ),
    (
        "pods/resource/cpu-request-limit.yaml",
        "pod/cpu-demo",
        CANONICAL_QUANTITY,
    ),
    (
        "pods/resource/pod-level-cpu-request-limit.yaml",
        "pod/cpu-demo",
        CANONICAL_QUANTITY,
    ),
    (
        "pods/resource/pod-level-resources.yaml",
        "pod/pod-resources-demo",
        CANONICAL_QUANTITY,
    ),
    (
        "policy/quota.yaml",
        "resourcequota/pods-high",
        CANONICAL_QUANTITY,
    ),
];

const PVC_TEMPLATES: &str = "`volumeClaimTemplates` has no merge key and the API server adds \
    `apiVersion`, `kind`, `volumeMode` and `status` to each template, so kubectl replaces the list";
const DOWNWARD_API_ITEMS: &str = "`downwardAPI.items` has no merge key and each `fieldRef` gets \
    `apiVersion: v1`, so kubectl replaces the list";
const PROJECTED_SOURCES: &str = "`projected.sources` has no merge key and a `fieldRef` in it gets \
    `apiVersion: v1`, so kubectl replaces the list";
const RESOURCE_RULES: &str = "`resourceRules` has no merge key and each rule gets `scope: \"*\"`, \
    so kubectl replaces the list";
const NUMBER_QUANTITY: &str = "the quantity is written as a number and stored as a string";
const CANONICAL_QUANTITY: &str = "a quantity is written in a form the API server stores \
    canonically (`0.5` as `500m`, `0.1` as `100m`, `1000` as `1k`), so the live value never \
    equals the applied one";
const STRING_DATA: &str = "`stringData` is write-only: the server folds it into `data`, so the \
    live Secret never holds what kubectl applies";

/// The fields a server-side apply of `object` from `file` conflicts on in Kubernetes.
pub fn server_side_conflicts(file: &str, object: &str) -> Option<&'static [&'static str]> {
    SERVER_SIDE_CONFLICTS
        .iter()
        .find(|(f, o, _)| *f == file && *o == object)
        .map(|(_, _, fields)| *fields)
}

/// What kubectl prints when it applies the configuration `object` from `file` last applied.
pub fn reapplied(file: &str, object: &str) -> &'static str {
    let reconfigured = RECONFIGURED_ON_REAPPLY
        .iter()
        .any(|(f, o, _)| *f == file && *o == object);
    if reconfigured {
        "configured"
    } else {
        "unchanged"
    }
}
