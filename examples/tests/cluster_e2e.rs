//! End to end: `orchestra up` (API server, controller manager, scheduler and simulated nodes in
//! one process) driven by the real kubectl, as a new user drives it.

mod support;

use std::io::BufReader;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::kubectls;
use support::session::Session;

/// How long a cluster may take to converge after a change.
const CONVERGE: Duration = Duration::from_secs(90);

/// kubectl 1.33, the version matching the server.
fn kubectl() -> PathBuf {
    kubectls().pop().expect("kubectl 1.33")
}

/// A manifest of the Kubernetes documentation's examples.
fn example(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/k8s-examples")
        .join(path);
    assert!(path.exists(), "{} is missing", path.display());
    path.to_str().expect("UTF-8 path").to_owned()
}

/// Polls `check` until it answers `Some`, failing with `what` and the last observation when
/// `timeout` passes first.
fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn items(list: &Value) -> &[Value] {
    list["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The IPs of the ready endpoints of a Service's EndpointSlices.
fn ready_slice_ips(cluster: &Session, service: &str) -> Vec<String> {
    let selector = format!("kubernetes.io/service-name={service}");
    let slices = cluster.json(&["get", "endpointslices", "-l", &selector]);
    let mut ips: Vec<String> = items(&slices)
        .iter()
        .flat_map(|slice| slice["endpoints"].as_array().cloned().unwrap_or_default())
        .filter(|endpoint| endpoint.pointer("/conditions/ready") == Some(&Value::Bool(true)))
        .flat_map(|endpoint| {
            endpoint["addresses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|address| address.as_str().map(str::to_owned))
        .collect();
    ips.sort();
    ips
}

/// The pods matching `selector`: name, phase, node and IP.
fn pods(cluster: &Session, selector: &str) -> Vec<(String, String, String, String)> {
    let list = cluster.json(&["get", "pods", "-l", selector]);
    items(&list)
        .iter()
        .map(|pod| {
            (
                str_at(pod, "/metadata/name").to_owned(),
                str_at(pod, "/status/phase").to_owned(),
                str_at(pod, "/spec/nodeName").to_owned(),
                str_at(pod, "/status/podIP").to_owned(),
            )
        })
        .collect()
}

#[test]
fn deployments_roll_out_onto_the_nodes_and_services_list_their_ready_pods() {
    let cluster = Session::up(kubectl(), &["--store", "memory"]);
    deployments_and_services_flow(&cluster, &["node-1", "node-2", "node-3"]);
}

/// Issue 7's first flow: `kubectl create deployment`, and `kubectl apply` of the documentation's
/// nginx Deployment and Service; both roll out onto `nodes`, and the Service's EndpointSlice
/// and Endpoints list the ready pods' IPs.
fn deployments_and_services_flow(cluster: &Session, names: &[&str]) {
    wait_for("every node to be Ready", CONVERGE, || {
        let nodes = cluster.json(&["get", "nodes"]);
        let mut ready: Vec<_> = items(&nodes)
            .iter()
            .filter(|n| node_condition(n, "Ready") == "True")
            .map(|n| str_at(n, "/metadata/name").to_owned())
            .collect();
        ready.sort();
        if ready == names {
            Ok(())
        } else {
            Err(format!("{ready:?}"))
        }
    });

    cluster.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=3",
    ]);
    cluster.ok(&[
        "apply",
        "-f",
        &example("controllers/nginx-deployment.yaml"),
        "-f",
        &example("service/nginx-service.yaml"),
    ]);
    for deployment in ["deployment/web", "deployment/nginx-deployment"] {
        let out = cluster.ok(&["rollout", "status", deployment, "--timeout=90s"]);
        assert!(out.contains("successfully rolled out"), "{out}");
    }

    let web = pods(cluster, "app=web");
    assert_eq!(web.len(), 3, "{web:?}");
    for (name, phase, node, ip) in &web {
        assert_eq!(phase, "Running", "{name}");
        assert!(names.contains(&node.as_str()), "{name} on {node:?}");
        assert!(ip.starts_with("10.244."), "{name} has IP {ip:?}");
    }
    // The scheduler spreads a Deployment's pods over the nodes.
    let mut used: Vec<_> = web.iter().map(|p| p.2.clone()).collect();
    used.sort();
    used.dedup();
    assert_eq!(used.len(), names.len().min(3), "{web:?}");

    let mut nginx_ips: Vec<String> = pods(cluster, "app.kubernetes.io/name=nginx")
        .into_iter()
        .map(|p| p.3)
        .collect();
    nginx_ips.sort();
    assert_eq!(nginx_ips.len(), 3);
    wait_for("the Service's slice to list the pods", CONVERGE, || {
        let ips = ready_slice_ips(cluster, "nginx-service");
        if ips == nginx_ips {
            Ok(())
        } else {
            Err(format!("{ips:?}, want {nginx_ips:?}"))
        }
    });
    let slices = cluster.json(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=nginx-service",
    ]);
    let slice = &items(&slices)[0];
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(slice.pointer("/ports/0/port"), Some(&Value::from(80)));
    let endpoints = cluster.json(&["get", "endpoints", "nginx-service"]);
    let mut addresses: Vec<String> = endpoints
        .pointer("/subsets/0/addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| str_at(a, "/ip").to_owned())
        .collect();
    addresses.sort();
    assert_eq!(addresses, nginx_ips);
}

/// Deployment statuses as `kubectl get -w -o json` streams them, read on a thread.
struct StatusWatch {
    child: std::process::Child,
    seen: thread::JoinHandle<Vec<Value>>,
}

impl StatusWatch {
    fn start(cluster: &Session, deployment: &str) -> StatusWatch {
        let mut child = Command::new(&cluster.kubectl)
            .arg("--kubeconfig")
            .arg(cluster.server.kubeconfig())
            .args(["get", "deployment", deployment, "-w", "-o", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl runs");
        let stdout = child.stdout.take().expect("stdout");
        let seen = thread::spawn(move || {
            serde_json::Deserializer::from_reader(BufReader::new(stdout))
                .into_iter::<Value>()
                .map_while(Result::ok)
                .collect()
        });
        StatusWatch { child, seen }
    }

    fn stop(mut self) -> Vec<Value> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.seen.join().expect("the watch reader")
    }
}

fn number(value: &Value, pointer: &str) -> i64 {
    value.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

#[test]
fn scaling_rolling_updates_and_rollbacks_keep_pods_available() {
    let cluster = Session::up(kubectl(), &["--store", "memory"]);
    cluster.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=3",
    ]);
    cluster.ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);

    cluster.ok(&["scale", "deployment/web", "--replicas=10"]);
    cluster.ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    wait_for("10 running pods", CONVERGE, || {
        let running = pods(&cluster, "app=web")
            .iter()
            .filter(|p| p.1 == "Running")
            .count();
        if running == 10 {
            Ok(())
        } else {
            Err(format!("{running} running"))
        }
    });
    cluster.ok(&["scale", "deployment/web", "--replicas=2"]);
    wait_for("2 pods", CONVERGE, || {
        let left = pods(&cluster, "app=web");
        if left.len() == 2 {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    });
    let before = cluster.json(&["get", "replicasets", "-l", "app=web"]);
    let original: Vec<_> = items(&before)
        .iter()
        .map(|rs| str_at(rs, "/metadata/name").to_owned())
        .collect();
    assert_eq!(original.len(), 1, "{original:?}");

    // replicas 2 with the default 25% surge and unavailability: surge 1, unavailable 0.
    let watch = StatusWatch::start(&cluster, "web");
    cluster.ok(&["set", "image", "deployment/web", "nginx=nginx:1.27"]);
    let out = cluster.ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let statuses = watch.stop();
    assert!(!statuses.is_empty());
    for status in &statuses {
        let available = number(status, "/status/availableReplicas");
        let total = number(status, "/status/replicas");
        assert!(
            available >= 2,
            "availability dropped to {available}: {status}"
        );
        assert!(total <= 3, "{total} pods exceed replicas + surge: {status}");
    }
    wait_for("the pods of the new template only", CONVERGE, || {
        let images = cluster.ok(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].spec.containers[0].image}",
        ]);
        if images.split_whitespace().all(|i| i == "nginx:1.27") {
            Ok(())
        } else {
            Err(images)
        }
    });

    cluster.ok(&["rollout", "undo", "deployment/web"]);
    cluster.ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    let image = cluster.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image, "nginx");
    let after = cluster.json(&["get", "replicasets", "-l", "app=web"]);
    let active: Vec<_> = items(&after)
        .iter()
        .filter(|rs| number(rs, "/spec/replicas") > 0)
        .map(|rs| str_at(rs, "/metadata/name").to_owned())
        .collect();
    assert_eq!(
        active, original,
        "the undo brings back the first ReplicaSet"
    );
    let revision = cluster.ok(&[
        "get",
        "replicaset",
        &original[0],
        "-o",
        "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
    ]);
    assert_eq!(
        revision, "3",
        "the rolled-back ReplicaSet becomes revision 3"
    );
}

const PROBED_PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: ready
  labels: {app: probed}
spec:
  containers:
  - name: app
    image: nginx
    ports: [{containerPort: 8080}]
    readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata:
  name: never-ready
  labels: {app: probed}
  annotations: {sim.orchestra.dev/ready: "false"}
spec:
  containers:
  - name: app
    image: nginx
    ports: [{containerPort: 8080}]
    readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata:
  name: crasher
  annotations: {sim.orchestra.dev/exit-after: "0s", sim.orchestra.dev/exit-code: "1"}
spec:
  containers:
  - name: app
    image: busybox
---
apiVersion: v1
kind: Service
metadata:
  name: probed
spec:
  selector: {app: probed}
  ports: [{port: 80, targetPort: 8080}]
"#;

#[test]
fn unready_pods_stay_out_of_endpoints_and_crashing_pods_back_off() {
    let cluster = Session::up(kubectl(), &["--store", "memory"]);
    let manifest = cluster.file("probed.yaml", PROBED_PODS);
    cluster.ok(&["apply", "-f", &manifest]);

    let ready_ip = wait_for("the ready pod to be Ready", CONVERGE, || {
        let pod = cluster.json(&["get", "pod", "ready"]);
        let ready = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        if ready {
            Ok(str_at(&pod, "/status/podIP").to_owned())
        } else {
            Err(pod["status"].to_string())
        }
    });
    let unready = wait_for("the unready pod to run", CONVERGE, || {
        let pod = cluster.json(&["get", "pod", "never-ready"]);
        if str_at(&pod, "/status/phase") == "Running" {
            Ok(pod)
        } else {
            Err(pod["status"].to_string())
        }
    });
    let unready_ip = str_at(&unready, "/status/podIP").to_owned();
    wait_for("the slice to list both, only one ready", CONVERGE, || {
        let slices = cluster.json(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=probed",
        ]);
        let endpoints: Vec<(String, bool)> = items(&slices)
            .iter()
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .map(|e| {
                (
                    str_at(&e, "/addresses/0").to_owned(),
                    e.pointer("/conditions/ready") == Some(&Value::Bool(true)),
                )
            })
            .collect();
        let mut want = vec![(ready_ip.clone(), true), (unready_ip.clone(), false)];
        want.sort();
        let mut got = endpoints.clone();
        got.sort();
        if got == want {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    });
    let endpoints = cluster.json(&["get", "endpoints", "probed"]);
    assert_eq!(
        endpoints.pointer("/subsets/0/addresses/0/ip"),
        Some(&Value::from(ready_ip.as_str()))
    );
    assert_eq!(
        endpoints.pointer("/subsets/0/notReadyAddresses/0/ip"),
        Some(&Value::from(unready_ip.as_str()))
    );
    assert_eq!(
        endpoints
            .pointer("/subsets/0/addresses")
            .and_then(Value::as_array)
            .map(Vec::len),
        Some(1)
    );

    // The kubelet restarts the crashing container after 10 s, then 20 s, showing
    // CrashLoopBackOff while it waits.
    let mut restarts_seen = Vec::new();
    wait_for(
        "two restarts and CrashLoopBackOff",
        Duration::from_secs(120),
        || {
            let pod = cluster.json(&["get", "pod", "crasher"]);
            let restarts = number(&pod, "/status/containerStatuses/0/restartCount");
            let waiting =
                str_at(&pod, "/status/containerStatuses/0/state/waiting/reason").to_owned();
            if restarts_seen.last() != Some(&restarts) {
                restarts_seen.push(restarts);
            }
            if restarts >= 2 && waiting == "CrashLoopBackOff" {
                Ok(())
            } else {
                Err(format!("restarts {restarts}, waiting {waiting:?}"))
            }
        },
    );
    assert!(
        restarts_seen.windows(2).all(|w| w[0] < w[1]),
        "restart counts only grow: {restarts_seen:?}"
    );
    let described = cluster.ok(&["get", "pod", "crasher"]);
    assert!(described.contains("CrashLoopBackOff"), "{described}");
}

/// A component running as its own `orchestra` process, killed when dropped.
struct Component(std::process::Child);

impl Component {
    fn start(args: &[&str], kubeconfig: &std::path::Path) -> Component {
        let child = support::orchestra()
            .args(args)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("orchestra runs");
        Component(child)
    }

    /// Kills the process at once (SIGKILL), as a machine that loses power.
    fn kill(mut self) {
        self.0.kill().expect("the process is killed");
        self.0.wait().expect("the process is reaped");
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn node_condition(node: &Value, kind: &str) -> String {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind)
        .map(|c| str_at(c, "/status").to_owned())
        .unwrap_or_default()
}

#[test]
fn pods_of_a_node_that_stops_reporting_are_evicted_and_replaced_elsewhere() {
    let cluster = Session::up(
        kubectl(),
        &[
            "--store",
            "memory",
            "--nodes",
            "1",
            "--node-monitor-grace-period",
            "3s",
            "--node-monitor-period",
            "500ms",
            "--node-status-update-frequency",
            "1s",
            "--node-lease-duration-seconds",
            "2",
            "--default-unreachable-toleration-seconds",
            "2",
            "--default-not-ready-toleration-seconds",
            "2",
        ],
    );
    let extra = Component::start(
        &[
            "node",
            "--name",
            "extra-1",
            "--node-status-update-frequency",
            "1s",
            "--node-lease-duration-seconds",
            "2",
        ],
        &cluster.server.kubeconfig(),
    );
    wait_for("extra-1 to be Ready", CONVERGE, || {
        let node = cluster.json(&["get", "nodes", "extra-1"]);
        let ready = node_condition(&node, "Ready");
        if ready == "True" { Ok(()) } else { Err(ready) }
    });
    // Everything lands on extra-1 while node-1 is cordoned.
    cluster.ok(&["cordon", "node-1"]);
    cluster.ok(&[
        "create",
        "deployment",
        "tolerant",
        "--image=nginx",
        "--replicas=2",
    ]);
    cluster.ok(&["rollout", "status", "deployment/tolerant", "--timeout=90s"]);
    let first = pods(&cluster, "app=tolerant");
    assert!(
        first.iter().all(|p| p.2 == "extra-1" && p.1 == "Running"),
        "{first:?}"
    );
    // The API server gave the pods the shortened default tolerations.
    let list = cluster.json(&["get", "pods", "-l", "app=tolerant"]);
    let tolerations = &items(&list)[0]["spec"]["tolerations"];
    let unreachable = tolerations
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["key"] == "node.kubernetes.io/unreachable")
        .unwrap_or_else(|| panic!("no unreachable toleration in {tolerations}"));
    assert_eq!(unreachable["tolerationSeconds"], 2);
    assert_eq!(unreachable["effect"], "NoExecute");
    cluster.ok(&["uncordon", "node-1"]);

    extra.kill();
    wait_for("extra-1 to become unreachable", CONVERGE, || {
        let node = cluster.json(&["get", "nodes", "extra-1"]);
        let tainted = node
            .pointer("/spec/taints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|t| t["key"] == "node.kubernetes.io/unreachable" && t["effect"] == "NoExecute");
        if tainted && node_condition(&node, "Ready") == "Unknown" {
            Ok(())
        } else {
            Err(node["spec"].to_string())
        }
    });
    let status = cluster.ok(&["get", "node", "extra-1"]);
    assert!(status.contains("NotReady"), "{status}");

    wait_for("the pods to be replaced on node-1", CONVERGE, || {
        let all = pods(&cluster, "app=tolerant");
        let running_on_node_1 = all
            .iter()
            .filter(|p| p.2 == "node-1" && p.1 == "Running")
            .count();
        if running_on_node_1 == 2 {
            Ok(())
        } else {
            Err(format!("{all:?}"))
        }
    });
    // The evicted pods are being deleted (their kubelet is gone, so they stay terminating, as
    // in Kubernetes).
    let list = cluster.json(&["get", "pods", "-l", "app=tolerant"]);
    for pod in items(&list) {
        if str_at(pod, "/spec/nodeName") == "extra-1" {
            assert!(
                pod.pointer("/metadata/deletionTimestamp").is_some(),
                "{pod}"
            );
        }
    }
}

#[test]
fn the_components_run_as_separate_processes_over_a_real_etcd() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let etcd = runtime
        .block_on(orchestra_store::LocalEtcd::start())
        .expect("etcd starts (Debian package etcd-server)");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("etcd={}", etcd.endpoint());
    let server =
        support::ApiServer::spawn("apiserver", dir.path(), "127.0.0.1:0", &["--store", &store])
            .unwrap_or_else(|e| panic!("{e}"));
    let kubeconfig = server.kubeconfig();
    let _components = [
        Component::start(&["controller-manager"], &kubeconfig),
        Component::start(&["scheduler"], &kubeconfig),
        Component::start(&["node", "--name", "worker-a"], &kubeconfig),
        Component::start(&["node", "--name", "worker-b"], &kubeconfig),
    ];
    let cluster = Session {
        server,
        kubectl: kubectl(),
        dir,
    };
    deployments_and_services_flow(&cluster, &["worker-a", "worker-b"]);
}

#[test]
fn a_cluster_started_again_on_its_data_dir_keeps_its_objects_and_converges() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = support::ApiServer::up(dir.path(), &[]);
    let cluster = Session {
        server: first,
        kubectl: kubectl(),
        dir,
    };
    cluster.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=3",
    ]);
    cluster.ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=mode=fast",
    ]);
    cluster.ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    let before: Vec<String> = pods(&cluster, "app=web").into_iter().map(|p| p.0).collect();

    let Session {
        server,
        kubectl,
        dir,
    } = cluster;
    assert!(server.terminate().success(), "up stops cleanly on SIGTERM");
    let cluster = Session {
        server: support::ApiServer::up(dir.path(), &[]),
        kubectl,
        dir,
    };
    let mode = cluster.ok(&[
        "get",
        "configmap",
        "settings",
        "-o",
        "jsonpath={.data.mode}",
    ]);
    assert_eq!(mode, "fast");
    wait_for("the nodes to be Ready again", CONVERGE, || {
        let nodes = cluster.json(&["get", "nodes"]);
        let ready = items(&nodes)
            .iter()
            .filter(|n| node_condition(n, "Ready") == "True")
            .count();
        if ready == 3 {
            Ok(())
        } else {
            Err(format!("{ready} ready"))
        }
    });
    cluster.ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    wait_for("the same three pods to run again", CONVERGE, || {
        let now = pods(&cluster, "app=web");
        let mut names: Vec<String> = now.iter().map(|p| p.0.clone()).collect();
        let mut want = before.clone();
        names.sort();
        want.sort();
        if names == want && now.iter().all(|p| p.1 == "Running") {
            Ok(())
        } else {
            Err(format!("{now:?}, before {before:?}"))
        }
    });
    let replica_sets = cluster.json(&["get", "replicasets", "-l", "app=web"]);
    assert_eq!(items(&replica_sets).len(), 1, "no second ReplicaSet");
}

#[test]
fn deleting_namespaces_and_owners_collects_their_objects_unless_orphaned() {
    let cluster = Session::up(kubectl(), &["--store", "memory"]);

    // A namespace with workloads inside goes away with everything in it.
    cluster.ok(&["create", "namespace", "team"]);
    cluster.ok(&[
        "-n",
        "team",
        "create",
        "deployment",
        "api",
        "--image=nginx",
        "--replicas=2",
    ]);
    cluster.ok(&[
        "-n",
        "team",
        "create",
        "configmap",
        "settings",
        "--from-literal=a=b",
    ]);
    cluster.ok(&[
        "-n",
        "team",
        "rollout",
        "status",
        "deployment/api",
        "--timeout=90s",
    ]);
    let accounts = cluster.ok(&["-n", "team", "get", "serviceaccounts", "-o", "name"]);
    assert!(accounts.contains("serviceaccount/default"), "{accounts}");
    cluster.ok(&["delete", "namespace", "team", "--timeout=90s"]);
    let gone = cluster.fails(&["get", "namespace", "team"]);
    assert!(gone.contains("NotFound"), "{gone}");
    let left = cluster.json(&[
        "get",
        "pods,replicasets,deployments,configmaps",
        "-n",
        "team",
    ]);
    assert!(items(&left).is_empty(), "{left}");

    // Deleting a Deployment collects its ReplicaSets and their pods.
    cluster.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=2",
    ]);
    cluster.ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    cluster.ok(&["delete", "deployment", "web"]);
    wait_for(
        "the ReplicaSets and pods of web to be collected",
        CONVERGE,
        || {
            let left = cluster.json(&["get", "replicasets,pods", "-l", "app=web"]);
            if items(&left).is_empty() {
                Ok(())
            } else {
                Err(left.to_string())
            }
        },
    );

    // --cascade=orphan keeps them, without the reference to the deleted owner.
    cluster.ok(&[
        "create",
        "deployment",
        "kept",
        "--image=nginx",
        "--replicas=2",
    ]);
    cluster.ok(&["rollout", "status", "deployment/kept", "--timeout=90s"]);
    cluster.ok(&["delete", "deployment", "kept", "--cascade=orphan"]);
    let gone = cluster.fails(&["get", "deployment", "kept"]);
    assert!(gone.contains("NotFound"), "{gone}");
    let orphans = wait_for("the ReplicaSet to be orphaned", CONVERGE, || {
        let sets = cluster.json(&["get", "replicasets", "-l", "app=kept"]);
        match items(&sets) {
            [set] if set.pointer("/metadata/ownerReferences").is_none() => Ok(set.clone()),
            other => Err(format!("{other:?}")),
        }
    });
    assert_eq!(number(&orphans, "/spec/replicas"), 2);
    let kept = pods(&cluster, "app=kept");
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.iter().all(|p| p.1 == "Running"), "{kept:?}");
}
