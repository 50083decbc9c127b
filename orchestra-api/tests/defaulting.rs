//! Defaulting as a user of the API observes it: a manifest goes in, and the object that comes
//! back carries the same defaults Kubernetes v1.33 would have filled in.
//!
//! The expected objects are what `kubectl get -o yaml` shows on Kubernetes v1.33 for the same
//! manifest, minus what other stages of the API server add (admission: `priority`,
//! `serviceAccountName`, tolerations; the registries: `ipFamilies`, selectors, finalizers) and
//! minus the empty structs Go prints for non-pointer fields (`resources: {}`,
//! `creationTimestamp: null`). Property tests check that defaulting is idempotent and total.

use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_openapi::api::apps::v1::{
    DaemonSet, Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
    RollingUpdateStatefulSetStrategy, StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::batch::v1::{
    CronJob, Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnPodConditionsPattern,
    PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, ContainerPort, DownwardAPIVolumeFile,
    DownwardAPIVolumeSource, EnvVar, EnvVarSource, EphemeralVolumeSource, GRPCAction,
    HTTPGetAction, HostPathVolumeSource, ImageVolumeSource, LoadBalancerIngress,
    LoadBalancerStatus, ObjectFieldSelector, PersistentVolumeClaimTemplate, Pod, PodSpec,
    PodTemplateSpec, Probe, ProjectedVolumeSource, ResourceRequirements, SecretVolumeSource,
    Service, ServiceAccountTokenProjection, ServicePort, ServiceSpec, ServiceStatus,
    SessionAffinityConfig, Volume, VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use orchestra_api::defaulting::{
    IpFamily, default_deployment, default_image_pull_policy, default_object, default_pod,
    default_service_ip_families, round_up_to_milli,
};
use orchestra_api::kinds;
use orchestra_api::object::Object;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use serde::Deserialize;
use serde_json::Value;

/// Decodes a manifest with the codec of its served kind, defaults it, and returns its JSON.
fn defaulted(manifest: &str) -> Value {
    let value: Value = serde_yaml_ng::from_str(manifest).expect("test manifest is valid YAML");
    let api_version = value["apiVersion"].as_str().unwrap_or_default();
    let kind = value["kind"].as_str().unwrap_or_default();
    let served = kinds::lookup_kind(api_version, kind).expect("test manifest kind is served");
    let mut object = served
        .codec
        .decode_value(value)
        .expect("test manifest decodes");
    default_object(object.as_mut());
    object.to_value().expect("object encodes")
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("expected object is valid YAML")
}

fn pod(image: &str) -> Pod {
    Pod {
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                image: Some(image.into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pull_policy_of(image: &str) -> Option<String> {
    let mut p = pod(image);
    default_pod(&mut p);
    p.spec?.containers.pop()?.image_pull_policy
}

// ---------------------------------------------------------------------------------------------
// Pods

#[test]
fn pod_image_without_tag_pulls_always() {
    assert_eq!(pull_policy_of("nginx").as_deref(), Some("Always"));
    assert_eq!(
        pull_policy_of("registry.example.com:5000/team/app").as_deref(),
        Some("Always")
    );
}

#[test]
fn pod_image_with_latest_tag_pulls_always() {
    assert_eq!(pull_policy_of("nginx:latest").as_deref(), Some("Always"));
}

#[test]
fn pod_image_with_version_tag_pulls_if_not_present() {
    assert_eq!(
        pull_policy_of("nginx:1.27.3").as_deref(),
        Some("IfNotPresent")
    );
}

#[test]
fn pod_image_pinned_by_digest_pulls_if_not_present() {
    let digest = "sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31";
    assert_eq!(
        pull_policy_of(&format!("nginx@{digest}")).as_deref(),
        Some("IfNotPresent")
    );
    assert_eq!(
        pull_policy_of(&format!("nginx:latest@{digest}")).as_deref(),
        Some("Always"),
        "an explicit latest tag wins over the digest, as in Kubernetes"
    );
}

#[test]
fn pod_image_that_does_not_parse_pulls_if_not_present() {
    assert_eq!(pull_policy_of("Nginx").as_deref(), Some("IfNotPresent"));
    assert_eq!(pull_policy_of("").as_deref(), Some("IfNotPresent"));
}

#[test]
fn pod_gets_the_defaults_kubectl_shows() {
    let actual = defaulted(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: nginx
spec:
  containers:
  - name: nginx
    image: nginx:1.14.2
    ports:
    - containerPort: 80
"#,
    );
    let expected = yaml(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: nginx
spec:
  containers:
  - name: nginx
    image: nginx:1.14.2
    imagePullPolicy: IfNotPresent
    ports:
    - containerPort: 80
      protocol: TCP
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext: {}
  terminationGracePeriodSeconds: 30
"#,
    );
    assert_eq!(actual, expected);
}

#[test]
fn pod_container_requests_default_to_limits_per_resource() {
    let actual = defaulted(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: limited}
spec:
  initContainers:
  - name: init
    image: busybox:1.36
    resources:
      limits: {cpu: "0.0001", memory: 64Mi}
  containers:
  - name: app
    image: app:v1
    resources:
      limits: {cpu: "1", memory: 1Gi}
      requests: {cpu: 250m}
"#,
    );
    let init = &actual["spec"]["initContainers"][0]["resources"];
    assert_eq!(init["limits"], yaml("{cpu: 1m, memory: 64Mi}"));
    assert_eq!(init["requests"], yaml("{cpu: 1m, memory: 64Mi}"));
    let app = &actual["spec"]["containers"][0]["resources"];
    assert_eq!(app["requests"], yaml("{cpu: 250m, memory: 1Gi}"));
}

#[test]
fn pod_with_host_network_exposes_container_ports_on_the_host() {
    let actual = defaulted(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: host}
spec:
  hostNetwork: true
  containers:
  - name: app
    image: app:v1
    ports:
    - containerPort: 8080
    - containerPort: 9090
      hostPort: 9191
      protocol: UDP
"#,
    );
    let ports = &actual["spec"]["containers"][0]["ports"];
    assert_eq!(
        *ports,
        yaml(
            "[{containerPort: 8080, hostPort: 8080, protocol: TCP}, \
             {containerPort: 9090, hostPort: 9191, protocol: UDP}]"
        )
    );
}

#[test]
fn probes_get_kubernetes_timings_and_http_defaults() {
    let actual = defaulted(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  containers:
  - name: app
    image: app:v1
    livenessProbe:
      httpGet: {port: 8080}
      initialDelaySeconds: 3
    readinessProbe:
      grpc: {port: 2379}
      periodSeconds: 5
    startupProbe:
      tcpSocket: {port: 8080}
      failureThreshold: 30
"#,
    );
    let container = &actual["spec"]["containers"][0];
    assert_eq!(
        container["livenessProbe"],
        yaml(
            "{httpGet: {path: /, port: 8080, scheme: HTTP}, initialDelaySeconds: 3, \
             timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3}"
        )
    );
    assert_eq!(
        container["readinessProbe"],
        yaml(
            "{grpc: {port: 2379, service: ''}, timeoutSeconds: 1, periodSeconds: 5, \
             successThreshold: 1, failureThreshold: 3}"
        )
    );
    assert_eq!(container["startupProbe"]["failureThreshold"], 30);
    assert_eq!(container["startupProbe"]["periodSeconds"], 10);
}

#[test]
fn pod_volumes_get_modes_types_and_field_ref_versions() {
    let actual = defaulted(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: volumes}
spec:
  containers:
  - name: app
    image: app:v1
    env:
    - name: NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
  volumes:
  - name: scratch
  - name: config
    configMap: {name: app-config}
  - name: creds
    secret: {secretName: app-creds, defaultMode: 256}
  - name: host
    hostPath: {path: /var/log}
  - name: info
    downwardAPI:
      items:
      - path: labels
        fieldRef: {fieldPath: metadata.labels}
  - name: token
    projected:
      sources:
      - serviceAccountToken: {path: token}
"#,
    );
    let env = &actual["spec"]["containers"][0]["env"][0]["valueFrom"]["fieldRef"];
    assert_eq!(*env, yaml("{apiVersion: v1, fieldPath: spec.nodeName}"));
    assert_eq!(
        actual["spec"]["volumes"],
        yaml(
            r#"
- name: scratch
  emptyDir: {}
- name: config
  configMap: {name: app-config, defaultMode: 420}
- name: creds
  secret: {secretName: app-creds, defaultMode: 256}
- name: host
  hostPath: {path: /var/log, type: ""}
- name: info
  downwardAPI:
    defaultMode: 420
    items:
    - path: labels
      fieldRef: {apiVersion: v1, fieldPath: metadata.labels}
- name: token
  projected:
    defaultMode: 420
    sources:
    - serviceAccountToken: {path: token, expirationSeconds: 3600}
"#
        )
    );
}

#[test]
fn pod_priority_is_left_to_admission() {
    let actual =
        defaulted("{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: []}}");
    assert_eq!(actual["spec"].get("priority"), None);
    assert_eq!(actual["spec"].get("preemptionPolicy"), None);
}

// ---------------------------------------------------------------------------------------------
// Workloads

#[test]
fn deployment_gets_rolling_update_25_percent() {
    let mut deployment = Deployment::default();
    default_deployment(&mut deployment);
    let strategy = deployment
        .spec
        .and_then(|s| s.strategy)
        .expect("strategy is defaulted");
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    assert_eq!(
        strategy.rolling_update,
        Some(RollingUpdateDeployment {
            max_surge: Some(IntOrString::String("25%".into())),
            max_unavailable: Some(IntOrString::String("25%".into())),
        })
    );
}

#[test]
fn deployment_gets_the_defaults_kubectl_shows() {
    let actual = defaulted(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels: {app: nginx}
spec:
  replicas: 3
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
"#,
    );
    let expected = yaml(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels: {app: nginx}
spec:
  progressDeadlineSeconds: 600
  replicas: 3
  revisionHistoryLimit: 10
  selector:
    matchLabels: {app: nginx}
  strategy:
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}
    type: RollingUpdate
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        imagePullPolicy: IfNotPresent
        ports:
        - containerPort: 80
          protocol: TCP
        terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
      dnsPolicy: ClusterFirst
      restartPolicy: Always
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
"#,
    );
    assert_eq!(actual, expected);
}

#[test]
fn deployment_template_does_not_get_pod_only_defaults() {
    let actual = defaulted(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      hostNetwork: true
      containers:
      - name: app
        image: app:v1
        ports: [{containerPort: 80}]
        resources: {limits: {cpu: "1"}}
"#,
    );
    let spec = &actual["spec"]["template"]["spec"];
    assert_eq!(spec.get("enableServiceLinks"), None);
    assert_eq!(spec["containers"][0]["ports"][0].get("hostPort"), None);
    assert_eq!(spec["containers"][0]["resources"].get("requests"), None);
    assert_eq!(actual["spec"]["replicas"], 1);
}

#[test]
fn statefulset_updates_in_order_from_partition_zero_and_claims_are_pending() {
    let actual = defaulted(
        r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  selector: {matchLabels: {app: nginx}}
  serviceName: nginx
  replicas: 3
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers:
      - name: nginx
        image: registry.k8s.io/nginx-slim:0.24
        ports: [{containerPort: 80, name: web}]
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"#,
    );
    let spec = &actual["spec"];
    assert_eq!(spec["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        spec["updateStrategy"],
        yaml("{type: RollingUpdate, rollingUpdate: {partition: 0}}")
    );
    assert_eq!(
        spec["persistentVolumeClaimRetentionPolicy"],
        yaml("{whenDeleted: Retain, whenScaled: Retain}")
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    let claim = &spec["volumeClaimTemplates"][0];
    assert_eq!(claim["spec"]["volumeMode"], "Filesystem");
    assert_eq!(claim["status"], yaml("{phase: Pending}"));
}

#[test]
fn daemonset_replaces_one_node_at_a_time_without_surge() {
    let actual = defaulted(
        r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: "agent:v1"}]
"#,
    );
    assert_eq!(
        actual["spec"]["updateStrategy"],
        yaml("{type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}")
    );
    assert_eq!(actual["spec"]["revisionHistoryLimit"], 10);
}

#[test]
fn replicaset_and_replication_controller_run_one_replica() {
    let rs = defaulted(
        "{apiVersion: apps/v1, kind: ReplicaSet, metadata: {name: rs}, \
         spec: {selector: {matchLabels: {a: b}}, template: {spec: {containers: []}}}}",
    );
    assert_eq!(rs["spec"]["replicas"], 1);
    let rc = defaulted(
        "{apiVersion: v1, kind: ReplicationController, metadata: {name: rc}, \
         spec: {template: {metadata: {labels: {app: web}}, spec: {containers: []}}}}",
    );
    assert_eq!(rc["spec"]["replicas"], 1);
    assert_eq!(rc["spec"]["selector"], yaml("{app: web}"));
    assert_eq!(rc["metadata"]["labels"], yaml("{app: web}"));
}

// ---------------------------------------------------------------------------------------------
// Batch

#[test]
fn job_gets_the_defaults_kubectl_shows() {
    let actual = defaulted(
        r#"
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  template:
    spec:
      containers:
      - name: pi
        image: perl:5.34.0
        command: ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]
      restartPolicy: Never
  backoffLimit: 4
"#,
    );
    let expected = yaml(
        r#"
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  backoffLimit: 4
  completionMode: NonIndexed
  completions: 1
  manualSelector: false
  parallelism: 1
  podReplacementPolicy: TerminatingOrFailed
  suspend: false
  template:
    spec:
      containers:
      - name: pi
        image: perl:5.34.0
        command: ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]
        imagePullPolicy: IfNotPresent
        terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
      dnsPolicy: ClusterFirst
      restartPolicy: Never
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
"#,
    );
    assert_eq!(actual, expected);
}

#[test]
fn job_with_only_parallelism_is_a_work_queue_without_completions() {
    let actual = defaulted(
        "{apiVersion: batch/v1, kind: Job, metadata: {name: q}, \
         spec: {parallelism: 4, template: {spec: {containers: []}}}}",
    );
    assert_eq!(actual["spec"].get("completions"), None);
    assert_eq!(actual["spec"]["parallelism"], 4);
    assert_eq!(actual["spec"]["backoffLimit"], 6);
}

#[test]
fn job_with_pod_failure_policy_replaces_only_failed_pods() {
    let actual = defaulted(
        r#"
apiVersion: batch/v1
kind: Job
metadata: {name: policy}
spec:
  template: {spec: {containers: [], restartPolicy: Never}}
  podFailurePolicy:
    rules:
    - action: Ignore
      onPodConditions: [{type: DisruptionTarget}]
"#,
    );
    assert_eq!(actual["spec"]["podReplacementPolicy"], "Failed");
    let pattern = &actual["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0];
    assert_eq!(pattern["status"], "True");
}

#[test]
fn cronjob_allows_concurrency_and_keeps_three_successes_and_one_failure() {
    let actual = defaulted(
        r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: hello}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: hello
            image: busybox:1.28
            imagePullPolicy: IfNotPresent
            command: [/bin/sh, -c, date; echo Hello from the Kubernetes cluster]
          restartPolicy: OnFailure
"#,
    );
    let spec = &actual["spec"];
    assert_eq!(spec["concurrencyPolicy"], "Allow");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["successfulJobsHistoryLimit"], 3);
    assert_eq!(spec["failedJobsHistoryLimit"], 1);
    let job_spec = &spec["jobTemplate"]["spec"];
    assert_eq!(
        job_spec.get("backoffLimit"),
        None,
        "set when the Job is created"
    );
    assert_eq!(job_spec["template"]["spec"]["dnsPolicy"], "ClusterFirst");
}

// ---------------------------------------------------------------------------------------------
// Services

#[test]
fn service_gets_the_defaults_kubectl_shows_except_ip_families() {
    let actual = defaulted(
        r#"
apiVersion: v1
kind: Service
metadata: {name: my-service}
spec:
  selector: {app.kubernetes.io/name: MyApp}
  ports:
  - port: 80
    targetPort: 9376
  - name: metrics
    port: 9100
"#,
    );
    let expected = yaml(
        r#"
apiVersion: v1
kind: Service
metadata: {name: my-service}
spec:
  internalTrafficPolicy: Cluster
  ports:
  - port: 80
    protocol: TCP
    targetPort: 9376
  - name: metrics
    port: 9100
    protocol: TCP
    targetPort: 9100
  selector: {app.kubernetes.io/name: MyApp}
  sessionAffinity: None
  type: ClusterIP
"#,
    );
    assert_eq!(actual, expected);
}

#[test]
fn load_balancer_service_allocates_node_ports_with_cluster_traffic_policies() {
    let actual = defaulted(
        "{apiVersion: v1, kind: Service, metadata: {name: lb}, \
         spec: {type: LoadBalancer, ports: [{port: 443}]}}",
    );
    let spec = &actual["spec"];
    assert_eq!(spec["externalTrafficPolicy"], "Cluster");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert_eq!(spec["allocateLoadBalancerNodePorts"], true);
}

#[test]
fn client_ip_session_affinity_times_out_after_three_hours() {
    let actual = defaulted(
        "{apiVersion: v1, kind: Service, metadata: {name: sticky}, \
         spec: {sessionAffinity: ClientIP, ports: [{port: 80}]}}",
    );
    assert_eq!(
        actual["spec"]["sessionAffinityConfig"],
        yaml("{clientIP: {timeoutSeconds: 10800}}")
    );
}

#[test]
fn service_ip_families_are_chosen_for_the_cluster_by_the_registry() {
    let mut service = Service {
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([("app".into(), "web".into())])),
            ..Default::default()
        }),
        ..Default::default()
    };
    default_object(&mut service);
    assert_eq!(
        service.spec.as_ref().and_then(|s| s.ip_families.clone()),
        None
    );
    default_service_ip_families(&mut service, &[IpFamily::IPv4]);
    let spec = service.spec.unwrap_or_default();
    assert_eq!(spec.ip_family_policy.as_deref(), Some("SingleStack"));
    assert_eq!(spec.ip_families, Some(vec!["IPv4".to_string()]));
}

#[test]
fn endpoint_ports_are_tcp() {
    let endpoints = defaulted(
        "{apiVersion: v1, kind: Endpoints, metadata: {name: e}, \
         subsets: [{addresses: [{ip: 10.0.0.1}], ports: [{port: 80}]}]}",
    );
    assert_eq!(endpoints["subsets"][0]["ports"][0]["protocol"], "TCP");
    let slice = defaulted(
        "{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: s}, \
         addressType: IPv4, endpoints: [], ports: [{port: 80}]}",
    );
    assert_eq!(
        slice["ports"][0],
        yaml("{name: '', port: 80, protocol: TCP}")
    );
}

// ---------------------------------------------------------------------------------------------
// Other kinds

#[test]
fn namespace_is_active_and_labelled_with_its_name() {
    let actual = defaulted("{apiVersion: v1, kind: Namespace, metadata: {name: team-a}}");
    assert_eq!(
        actual["metadata"]["labels"],
        yaml("{kubernetes.io/metadata.name: team-a}")
    );
    assert_eq!(actual["status"], yaml("{phase: Active}"));
    assert_eq!(
        actual.get("spec"),
        None,
        "the kubernetes finalizer is the registry's"
    );
}

#[test]
fn persistent_volume_claim_is_a_pending_filesystem() {
    let actual = defaulted(
        "{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: c}, \
         spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}}",
    );
    assert_eq!(actual["spec"]["volumeMode"], "Filesystem");
    assert_eq!(actual["status"], yaml("{phase: Pending}"));
}

#[test]
fn persistent_volume_is_retained_by_default() {
    let actual = defaulted(
        "{apiVersion: v1, kind: PersistentVolume, metadata: {name: pv}, \
         spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], hostPath: {path: /data}}}",
    );
    assert_eq!(actual["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    assert_eq!(actual["spec"]["volumeMode"], "Filesystem");
    assert_eq!(actual["spec"]["hostPath"]["type"], "");
    assert_eq!(actual["status"], yaml("{phase: Pending}"));
}

#[test]
fn secret_without_type_is_opaque() {
    let actual = defaulted("{apiVersion: v1, kind: Secret, metadata: {name: s}}");
    assert_eq!(actual["type"], "Opaque");
}

#[test]
fn storage_class_deletes_volumes_and_binds_immediately() {
    let actual = defaulted(
        "{apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {name: fast}, \
         provisioner: example.com/ssd}",
    );
    assert_eq!(actual["reclaimPolicy"], "Delete");
    assert_eq!(actual["volumeBindingMode"], "Immediate");
}

#[test]
fn network_policy_without_types_covers_ingress_and_egress_when_it_has_egress_rules() {
    let actual = defaulted(
        "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: np}, \
         spec: {podSelector: {}, egress: [{ports: [{port: 53}]}]}}",
    );
    assert_eq!(actual["spec"]["policyTypes"], yaml("[Ingress, Egress]"));
    assert_eq!(actual["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
}

#[test]
fn priority_class_preempts_lower_priority_pods() {
    let actual = defaulted(
        "{apiVersion: scheduling.k8s.io/v1, kind: PriorityClass, metadata: {name: high}, \
         value: 1000000}",
    );
    assert_eq!(actual["preemptionPolicy"], "PreemptLowerPriority");
}

#[test]
fn horizontal_pod_autoscaler_targets_80_percent_cpu() {
    let actual = defaulted(
        "{apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, metadata: {name: h}, \
         spec: {maxReplicas: 5, scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: d}}}",
    );
    assert_eq!(actual["spec"]["minReplicas"], 1);
    assert_eq!(
        actual["spec"]["metrics"],
        yaml(
            "[{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}}]"
        )
    );
}

#[test]
fn limit_range_defaults_limits_from_max_and_requests_from_limits() {
    let actual = defaulted(
        "{apiVersion: v1, kind: LimitRange, metadata: {name: l}, \
         spec: {limits: [{type: Container, max: {cpu: '2'}, min: {memory: 64Mi}}]}}",
    );
    let item = &actual["spec"]["limits"][0];
    assert_eq!(item["default"], yaml("{cpu: '2'}"));
    assert_eq!(item["defaultRequest"], yaml("{cpu: '2', memory: 64Mi}"));
}

#[test]
fn custom_resources_are_left_unchanged() {
    let mut object = orchestra_api::DynamicObject {
        api_version: "stable.example.com/v1".into(),
        kind: "CronTab".into(),
        data: serde_json::from_str(r#"{"spec":{"replicas":null}}"#).expect("valid JSON"),
        ..Default::default()
    };
    let before = object.clone();
    default_object(&mut object);
    assert_eq!(object, before);
}

// ---------------------------------------------------------------------------------------------
// Every documentation example

#[test]
fn defaulting_every_documentation_example_twice_changes_nothing_more() {
    let dir = std::env::var_os("ORCHESTRA_K8S_EXAMPLES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/k8s-examples")
        });
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; the Kubernetes example manifests are expected in shared/ \
             beside the checkout (or set ORCHESTRA_K8S_EXAMPLES)",
            dir.display()
        )
    });
    let mut defaulted_objects = 0;
    for file in index.lines().filter_map(|l| l.split('\t').next()) {
        let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
            continue;
        };
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            // Files that are not valid YAML are covered by the round-trip test.
            let Ok(value) = Value::deserialize(document) else {
                break;
            };
            let items = match value["kind"].as_str() {
                Some("List") => value["items"].as_array().cloned().unwrap_or_default(),
                _ => vec![value],
            };
            for item in items {
                let api_version = item["apiVersion"].as_str().unwrap_or_default().to_owned();
                let kind = item["kind"].as_str().unwrap_or_default().to_owned();
                let Some(served) = kinds::lookup_kind(&api_version, &kind) else {
                    continue;
                };
                let Ok(mut object) = served.codec.decode_value(item) else {
                    continue;
                };
                default_object(object.as_mut());
                let once = object.to_value().expect("encodes");
                default_object(object.as_mut());
                let twice = object.to_value().expect("encodes");
                assert_eq!(once, twice, "{file}: {kind}");
                defaulted_objects += 1;
            }
        }
    }
    assert!(
        defaulted_objects > 200,
        "expected most of the examples, defaulted {defaulted_objects}"
    );
}

// ---------------------------------------------------------------------------------------------
// Properties

const IMAGES: &[&str] = &[
    "",
    "nginx",
    "nginx:latest",
    "nginx:1.27",
    "Nginx",
    "localhost:5000/app",
    "registry.example.com/team/app:v2@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
    "nginx@sha256:short",
];
const QUANTITIES: &[&str] = &[
    "1",
    "250m",
    "0.0001",
    "1.0005",
    "1Gi",
    "1.9999999Ki",
    "-0.5m",
    "1e-4",
    "0.9999",
    "junk",
    "",
];

fn word(choices: &'static [&'static str]) -> impl Strategy<Value = String> {
    select(choices).prop_map(String::from)
}

fn small() -> impl Strategy<Value = Option<i32>> {
    option::of(0..3i32)
}

fn resource_list() -> impl Strategy<Value = Option<BTreeMap<String, Quantity>>> {
    option::of(btree_map(
        word(&["cpu", "memory", "ephemeral-storage"]),
        word(QUANTITIES).prop_map(Quantity),
        0..3,
    ))
}

fn probe() -> impl Strategy<Value = Option<Probe>> {
    option::of(
        (
            small(),
            small(),
            small(),
            small(),
            option::of(option::of(word(&["", "/healthz"]))),
            option::of(option::of(word(&["", "svc"]))),
        )
            .prop_map(
                |(timeout, period, success, failure, http_path, grpc)| Probe {
                    timeout_seconds: timeout,
                    period_seconds: period,
                    success_threshold: success,
                    failure_threshold: failure,
                    http_get: http_path.map(|path| HTTPGetAction {
                        path,
                        port: IntOrString::Int(8080),
                        ..Default::default()
                    }),
                    grpc: grpc.map(|service| GRPCAction {
                        port: 9090,
                        service,
                    }),
                    ..Default::default()
                },
            ),
    )
}

fn container() -> impl Strategy<Value = Container> {
    (
        option::of(word(IMAGES)),
        option::of(word(&["", "Always", "IfNotPresent", "Never"])),
        option::of(vec(
            (
                1..65536i32,
                option::of(0..2i32),
                option::of(word(&["", "TCP", "UDP"])),
            ),
            0..3,
        )),
        option::of((resource_list(), resource_list())),
        probe(),
        probe(),
        option::of(option::of(word(&["", "v1", "v2"]))),
    )
        .prop_map(
            |(image, pull, ports, resources, liveness, readiness, field_ref)| Container {
                name: "c".into(),
                image,
                image_pull_policy: pull,
                ports: ports.map(|ports| {
                    ports
                        .into_iter()
                        .map(|(container_port, host_port, protocol)| ContainerPort {
                            container_port,
                            host_port,
                            protocol,
                            ..Default::default()
                        })
                        .collect()
                }),
                resources: resources.map(|(limits, requests)| ResourceRequirements {
                    limits,
                    requests,
                    ..Default::default()
                }),
                liveness_probe: liveness,
                readiness_probe: readiness,
                env: field_ref.map(|api_version| {
                    vec![EnvVar {
                        name: "E".into(),
                        value_from: Some(EnvVarSource {
                            field_ref: Some(ObjectFieldSelector {
                                api_version,
                                field_path: "metadata.name".into(),
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            },
        )
}

fn volume() -> impl Strategy<Value = Volume> {
    let named = |name: &str| Volume {
        name: name.into(),
        ..Default::default()
    };
    prop_oneof![
        Just(named("none")),
        option::of(0..512i32).prop_map(move |mode| Volume {
            secret: Some(SecretVolumeSource {
                default_mode: mode,
                ..Default::default()
            }),
            ..named("secret")
        }),
        option::of(0..512i32).prop_map(move |mode| Volume {
            config_map: Some(ConfigMapVolumeSource {
                default_mode: mode,
                name: "cm".into(),
                ..Default::default()
            }),
            ..named("config")
        }),
        option::of(word(&["", "Directory"])).prop_map(move |type_| Volume {
            host_path: Some(HostPathVolumeSource {
                path: "/tmp".into(),
                type_,
            }),
            ..named("host")
        }),
        option::of(0..7200i64).prop_map(move |expiration| Volume {
            projected: Some(ProjectedVolumeSource {
                sources: Some(vec![VolumeProjection {
                    service_account_token: Some(ServiceAccountTokenProjection {
                        expiration_seconds: expiration,
                        path: "token".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..named("projected")
        }),
        option::of(word(&["", "v1"])).prop_map(move |api_version| Volume {
            downward_api: Some(DownwardAPIVolumeSource {
                items: Some(vec![DownwardAPIVolumeFile {
                    path: "labels".into(),
                    field_ref: Some(ObjectFieldSelector {
                        api_version,
                        field_path: "metadata.labels".into(),
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..named("downward")
        }),
        option::of(word(IMAGES)).prop_map(move |reference| Volume {
            image: Some(ImageVolumeSource {
                reference,
                ..Default::default()
            }),
            ..named("image")
        }),
        Just(Volume {
            ephemeral: Some(EphemeralVolumeSource {
                volume_claim_template: Some(PersistentVolumeClaimTemplate::default()),
            }),
            ..named("ephemeral")
        }),
    ]
}

fn pod_spec() -> impl Strategy<Value = PodSpec> {
    (
        vec(container(), 0..3),
        option::of(vec(container(), 0..2)),
        option::of(vec(volume(), 0..4)),
        option::of(any::<bool>()),
        option::of(word(&["", "Always", "OnFailure", "Never"])),
        option::of(word(&["", "ClusterFirst", "Default"])),
        option::of(0..60i64),
        option::of(any::<bool>()),
        resource_list(),
    )
        .prop_map(
            |(containers, init, volumes, host_network, restart, dns, grace, links, overhead)| {
                PodSpec {
                    containers,
                    init_containers: init,
                    volumes,
                    host_network,
                    restart_policy: restart,
                    dns_policy: dns,
                    termination_grace_period_seconds: grace,
                    enable_service_links: links,
                    overhead,
                    ..Default::default()
                }
            },
        )
}

fn pod_template() -> impl Strategy<Value = PodTemplateSpec> {
    (
        option::of(pod_spec()),
        option::of(btree_map(
            word(&["app", "tier"]),
            word(&["web", "db"]),
            0..2,
        )),
    )
        .prop_map(|(spec, labels)| PodTemplateSpec {
            metadata: labels.map(|labels| ObjectMeta {
                labels: Some(labels),
                ..Default::default()
            }),
            spec,
        })
}

fn deployment() -> impl Strategy<Value = Deployment> {
    (
        option::of(0..5i32),
        option::of((
            option::of(word(&["", "RollingUpdate", "Recreate", "Bogus"])),
            option::of((
                option::of(word(&["10%", "1"]).prop_map(IntOrString::String)),
                option::of((0..3i32).prop_map(IntOrString::Int)),
            )),
        )),
        option::of(0..20i32),
        pod_template(),
    )
        .prop_map(|(replicas, strategy, history, template)| Deployment {
            spec: Some(DeploymentSpec {
                replicas,
                strategy: strategy.map(|(type_, rolling)| DeploymentStrategy {
                    type_,
                    rolling_update: rolling.map(|(max_surge, max_unavailable)| {
                        RollingUpdateDeployment {
                            max_surge,
                            max_unavailable,
                        }
                    }),
                }),
                revision_history_limit: history,
                template,
                ..Default::default()
            }),
            ..Default::default()
        })
}

fn stateful_set() -> impl Strategy<Value = StatefulSet> {
    (
        option::of((
            option::of(word(&["", "RollingUpdate", "OnDelete"])),
            option::of(option::of(0..3i32)),
        )),
        option::of(word(&["", "Parallel"])),
        pod_template(),
    )
        .prop_map(|(strategy, policy, template)| StatefulSet {
            spec: Some(StatefulSetSpec {
                update_strategy: strategy.map(|(type_, partition)| StatefulSetUpdateStrategy {
                    type_,
                    rolling_update: partition.map(|partition| RollingUpdateStatefulSetStrategy {
                        partition,
                        ..Default::default()
                    }),
                }),
                pod_management_policy: policy,
                template,
                volume_claim_templates: Some(vec![Default::default()]),
                ..Default::default()
            }),
            ..Default::default()
        })
}

fn job() -> impl Strategy<Value = Job> {
    (
        option::of(0..4i32),
        option::of(0..4i32),
        option::of(0..4i32),
        option::of(option::of(word(&["", "True", "False"]))),
        pod_template(),
    )
        .prop_map(
            |(completions, parallelism, per_index, failure_status, template)| Job {
                spec: Some(JobSpec {
                    completions,
                    parallelism,
                    backoff_limit_per_index: per_index,
                    pod_failure_policy: failure_status.map(|status| PodFailurePolicy {
                        rules: vec![PodFailurePolicyRule {
                            action: "Ignore".into(),
                            on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                                type_: "DisruptionTarget".into(),
                                status: status.unwrap_or_default(),
                            }]),
                            ..Default::default()
                        }],
                    }),
                    template,
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
}

fn service() -> impl Strategy<Value = Service> {
    (
        option::of(word(&[
            "",
            "ClusterIP",
            "NodePort",
            "LoadBalancer",
            "ExternalName",
            "Odd",
        ])),
        option::of(word(&["", "None", "ClientIP", "Odd"])),
        option::of(option::of(option::of(0..20000i32))),
        option::of(vec(
            (
                1..65536i32,
                option::of(prop_oneof![
                    (0..3i32).prop_map(IntOrString::Int),
                    word(&["", "http"]).prop_map(IntOrString::String),
                ]),
            ),
            0..3,
        )),
        option::of(vec(word(&["198.51.100.1"]), 0..2)),
        option::of(vec(option::of(word(&["", "203.0.113.9"])), 0..2)),
        option::of(vec(word(&["None", "10.0.0.1", "fd00::1"]), 0..3)),
        option::of(word(&[
            "SingleStack",
            "PreferDualStack",
            "RequireDualStack",
        ])),
    )
        .prop_map(
            |(type_, affinity, timeout, ports, external_ips, ingress, cluster_ips, policy)| {
                Service {
                    spec: Some(ServiceSpec {
                        type_,
                        session_affinity: affinity,
                        session_affinity_config: timeout.map(|timeout| SessionAffinityConfig {
                            client_ip: timeout.map(|timeout_seconds| {
                                k8s_openapi::api::core::v1::ClientIPConfig { timeout_seconds }
                            }),
                        }),
                        ports: ports.map(|ports| {
                            ports
                                .into_iter()
                                .map(|(port, target_port)| ServicePort {
                                    port,
                                    target_port,
                                    ..Default::default()
                                })
                                .collect()
                        }),
                        external_ips,
                        cluster_ips,
                        ip_family_policy: policy,
                        ..Default::default()
                    }),
                    status: ingress.map(|ingress| ServiceStatus {
                        load_balancer: Some(LoadBalancerStatus {
                            ingress: Some(
                                ingress
                                    .into_iter()
                                    .map(|ip| LoadBalancerIngress {
                                        ip,
                                        ..Default::default()
                                    })
                                    .collect(),
                            ),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            },
        )
}

/// Defaults `object` twice through [`default_object`] and checks the second pass is a no-op.
fn assert_idempotent<K>(mut object: K) -> Result<(), TestCaseError>
where
    K: Object + Clone + PartialEq + Debug,
{
    default_object(&mut object);
    let once = object.clone();
    default_object(&mut object);
    prop_assert_eq!(once, object);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn defaulting_a_pod_is_idempotent(spec in option::of(pod_spec())) {
        assert_idempotent(Pod { spec, ..Default::default() })?;
    }

    #[test]
    fn defaulting_a_deployment_is_idempotent_and_keeps_what_the_user_set(d in deployment()) {
        let requested = d.spec.clone().unwrap_or_default();
        assert_idempotent(d.clone())?;
        let mut defaulted = d;
        default_object(&mut defaulted);
        let spec = defaulted.spec.unwrap_or_default();
        prop_assert_eq!(spec.replicas, requested.replicas.or(Some(1)));
        prop_assert_eq!(
            spec.revision_history_limit,
            requested.revision_history_limit.or(Some(10))
        );
        let requested_containers = requested
            .template
            .spec
            .map(|s| s.containers)
            .unwrap_or_default();
        let containers = spec.template.spec.map(|s| s.containers).unwrap_or_default();
        for (before, after) in requested_containers.iter().zip(&containers) {
            if let Some(policy) = before.image_pull_policy.as_deref().filter(|p| !p.is_empty()) {
                prop_assert_eq!(after.image_pull_policy.as_deref(), Some(policy));
            }
        }
    }

    #[test]
    fn defaulting_a_stateful_set_is_idempotent(sts in stateful_set()) {
        assert_idempotent(sts)?;
    }

    #[test]
    fn defaulting_a_daemon_set_is_idempotent(template in pod_template()) {
        let mut ds = DaemonSet::default();
        ds.spec.get_or_insert_default().template = template;
        assert_idempotent(ds)?;
    }

    #[test]
    fn defaulting_a_job_is_idempotent(job in job()) {
        assert_idempotent(job)?;
    }

    #[test]
    fn defaulting_a_cron_job_is_idempotent(template in pod_template(), suspend in option::of(any::<bool>())) {
        let mut cron_job = CronJob::default();
        let spec = cron_job.spec.get_or_insert_default();
        spec.suspend = suspend;
        spec.job_template.spec.get_or_insert_default().template = template;
        assert_idempotent(cron_job)?;
    }

    #[test]
    fn defaulting_a_service_is_idempotent(service in service()) {
        assert_idempotent(service)?;
    }

    #[test]
    fn choosing_service_ip_families_is_idempotent(
        service in service(),
        cluster in select(vec![vec![], vec![IpFamily::IPv4], vec![IpFamily::IPv6, IpFamily::IPv4]]),
    ) {
        let mut service = service;
        default_service_ip_families(&mut service, &cluster);
        let once = service.clone();
        default_service_ip_families(&mut service, &cluster);
        prop_assert_eq!(once, service);
    }

    #[test]
    fn default_pod_and_default_object_agree(spec in option::of(pod_spec())) {
        let mut typed = Pod { spec, ..Default::default() };
        let mut dynamic = typed.clone();
        default_pod(&mut typed);
        default_object(&mut dynamic);
        prop_assert_eq!(typed, dynamic);
    }

    #[test]
    fn rounding_a_quantity_up_to_milli_is_idempotent(
        q in "[+-]?[0-9]{0,8}(\\.[0-9]{0,14})?(m|u|n|k|M|G|E|Ki|Mi|Gi|e-?[0-9]{1,2}|E-?[0-9]{1,2})?",
    ) {
        if let Some(rounded) = round_up_to_milli(&q) {
            prop_assert_eq!(round_up_to_milli(&rounded), None, "{} rounded to {}", q, rounded);
        }
    }

    #[test]
    fn rounding_up_to_milli_never_rounds_down_nor_by_a_thousandth_or_more(
        q in "[0-9]{1,6}\\.[0-9]{1,9}",
    ) {
        let original: f64 = q.parse().expect("the strategy produces decimals");
        let rounded = round_up_to_milli(&q).map_or(original, |r| decimal_si_value(&r));
        prop_assert!(rounded >= original - 1e-9, "{} became {}", q, rounded);
        prop_assert!(rounded - original < 0.001 + 1e-9, "{} became {}", q, rounded);
    }

    #[test]
    fn rounding_and_image_parsing_never_panic(text in ".*") {
        let _ = round_up_to_milli(&text);
        let policy = default_image_pull_policy(&text);
        prop_assert!(policy == "Always" || policy == "IfNotPresent");
    }
}

/// The value of a decimal SI quantity as written by `round_up_to_milli` (`1001m`, `2`, `1k`).
fn decimal_si_value(quantity: &str) -> f64 {
    let (number, scale) = match quantity.as_bytes().last() {
        Some(b'm') => (&quantity[..quantity.len() - 1], 1e-3),
        Some(b'k') => (&quantity[..quantity.len() - 1], 1e3),
        Some(b'M') => (&quantity[..quantity.len() - 1], 1e6),
        _ => (quantity, 1.0),
    };
    number
        .parse::<f64>()
        .expect("rounded quantities are numbers")
        * scale
}
