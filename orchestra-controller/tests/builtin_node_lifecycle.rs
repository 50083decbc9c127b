//! The node lifecycle controllers against the in-process server, on Tokio's paused clock with
//! Kubernetes' default timings: simulated kubelets renew their Leases and report their nodes'
//! readiness; when one stops, its node goes `Unknown`, is tainted `unreachable`, and its pods
//! are evicted as their tolerations say.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use orchestra_api::k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use orchestra_api::k8s_openapi::api::core::v1::{
    Container, Event, Namespace, Node, NodeCondition, NodeStatus, Pod, PodCondition, PodIP,
    PodSpec, PodStatus, Service, ServicePort, ServiceSpec, Taint, Toleration,
};
use orchestra_api::k8s_openapi::api::discovery::v1::EndpointSlice;
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use orchestra_api::{Api, Client, ListParams, PostParams, Served, StatusReason, WatchParams};
use orchestra_controller::builtin::endpointslice::{self, EndpointSliceConfig};
use orchestra_controller::builtin::node_lifecycle::{
    self, NodeLifecycleConfig, WallClock, taints::TAINT_NOT_READY, taints::TAINT_UNREACHABLE,
};
use orchestra_controller::manager::Manager;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::support::server;

/// Virtual time: the clock is paused, so waiting costs nothing real.
const WAIT: Duration = Duration::from_secs(3600);
const APPS: &str = "apps";
const LEASES: &str = "kube-node-lease";

async fn create_namespace(client: &Arc<dyn Client>, name: &str) {
    let mut namespace = Namespace::default();
    namespace.metadata.name = Some(name.into());
    match Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
    {
        Ok(_) => {}
        Err(status) if status.is(&StatusReason::AlreadyExists) => {}
        Err(status) => panic!("{status}"),
    }
}

/// The server, the shared wall clock, and the controller manager running the node lifecycle
/// controllers.
struct Cluster {
    client: Arc<dyn Client>,
    clock: WallClock,
    manager: JoinHandle<()>,
    kubelets: BTreeMap<String, Kubelet>,
    next_ip: AtomicU8,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.manager.abort();
        for kubelet in self.kubelets.values() {
            kubelet.task.abort();
        }
    }
}

/// A simulated kubelet: renews its node's Lease every 10 s and reports the readiness it is
/// told to.
struct Kubelet {
    ready: watch::Sender<bool>,
    task: JoinHandle<()>,
}

async fn cluster() -> Cluster {
    let client: Arc<dyn Client> = server().await;
    for namespace in ["default", LEASES, APPS] {
        create_namespace(&client, namespace).await;
    }
    let clock = WallClock::following_tokio();
    let manager = Manager::builder(client.clone()).build().unwrap();
    node_lifecycle::add_to(
        &manager,
        NodeLifecycleConfig {
            clock: clock.clone(),
            ..NodeLifecycleConfig::default()
        },
    );
    // The endpoint controllers too, to see the pods of a failed node leave the endpoints.
    endpointslice::add_to(&manager, EndpointSliceConfig::default());
    let manager = tokio::spawn(async move { manager.run(std::future::pending()).await });
    Cluster {
        client,
        clock,
        manager,
        kubelets: BTreeMap::new(),
        next_ip: AtomicU8::new(10),
    }
}

fn ready_condition(ready: bool, heartbeat: Timestamp) -> NodeCondition {
    NodeCondition {
        type_: "Ready".into(),
        status: if ready { "True" } else { "False" }.into(),
        reason: Some(
            if ready {
                "KubeletReady"
            } else {
                "KubeletNotReady"
            }
            .into(),
        ),
        message: Some("set by the test's kubelet".into()),
        last_heartbeat_time: Some(Time(heartbeat)),
        last_transition_time: Some(Time(heartbeat)),
    }
}

/// Writes the node's status as its kubelet: `Ready` as given, with a new heartbeat.
async fn post_status(client: &Arc<dyn Client>, clock: &WallClock, name: &str, ready: bool) {
    let api = Api::<Node>::all(client.clone());
    for _ in 0..10 {
        let mut node = (*api.get(name).await.unwrap()).clone();
        let now = clock.now();
        let conditions = vec![
            ready_condition(ready, now),
            NodeCondition {
                type_: "MemoryPressure".into(),
                status: "False".into(),
                last_heartbeat_time: Some(Time(now)),
                last_transition_time: Some(Time(now)),
                ..NodeCondition::default()
            },
        ];
        node.status = Some(NodeStatus {
            conditions: Some(conditions),
            ..NodeStatus::default()
        });
        match api
            .replace_status(name, &PostParams::default(), &node)
            .await
        {
            Ok(_) => return,
            Err(status) if status.is(&StatusReason::Conflict) => continue,
            Err(status) => panic!("{status}"),
        }
    }
    panic!("the node status kept conflicting");
}

async fn renew_lease(client: &Arc<dyn Client>, clock: &WallClock, name: &str) {
    let api = Api::<Lease>::namespaced(client.clone(), LEASES);
    let mut lease = match api.get_opt(name).await.unwrap() {
        Some(lease) => (*lease).clone(),
        None => {
            let mut lease = Lease::default();
            lease.metadata.name = Some(name.into());
            lease.spec = Some(LeaseSpec {
                holder_identity: Some(name.into()),
                lease_duration_seconds: Some(40),
                ..LeaseSpec::default()
            });
            lease
        }
    };
    lease.spec.get_or_insert_with(Default::default).renew_time = Some(MicroTime(clock.now()));
    let written = if lease.metadata.resource_version.is_some() {
        api.replace(name, &PostParams::default(), &lease).await
    } else {
        api.create(&PostParams::default(), &lease).await
    };
    written.unwrap();
}

impl Cluster {
    /// Registers a node with its kubelet running and reporting `Ready`.
    async fn add_node(&mut self, name: &str) {
        let mut node = Node::default();
        node.metadata.name = Some(name.into());
        node.metadata.labels = Some(BTreeMap::from([(
            "topology.kubernetes.io/zone".to_owned(),
            "zone-a".to_owned(),
        )]));
        Api::<Node>::all(self.client.clone())
            .create(&PostParams::default(), &node)
            .await
            .unwrap();
        post_status(&self.client, &self.clock, name, true).await;
        renew_lease(&self.client, &self.clock, name).await;
        self.start_kubelet(name);
    }

    fn start_kubelet(&mut self, name: &str) {
        let (ready, mut wanted) = watch::channel(true);
        let (client, clock, node) = (self.client.clone(), self.clock.clone(), name.to_owned());
        let task = tokio::spawn(async move {
            let mut renewals = tokio::time::interval(Duration::from_secs(10));
            let mut reported = true;
            loop {
                tokio::select! {
                    _ = renewals.tick() => renew_lease(&client, &clock, &node).await,
                    changed = wanted.changed() => {
                        if changed.is_err() { return; }
                    }
                }
                let ready = *wanted.borrow_and_update();
                if ready != reported {
                    post_status(&client, &clock, &node, ready).await;
                    reported = ready;
                }
            }
        });
        if let Some(old) = self
            .kubelets
            .insert(name.to_owned(), Kubelet { ready, task })
        {
            old.task.abort();
        }
    }

    /// Stops the node's kubelet: no more Lease renewals, no more status.
    fn stop_kubelet(&mut self, name: &str) {
        if let Some(kubelet) = self.kubelets.remove(name) {
            kubelet.task.abort();
        }
    }

    /// Starts the node's kubelet again; it reports the node `Ready` at once.
    async fn restart_kubelet(&mut self, name: &str) {
        post_status(&self.client, &self.clock, name, true).await;
        self.start_kubelet(name);
    }

    fn report_ready(&self, name: &str, ready: bool) {
        self.kubelets[name].ready.send_replace(ready);
    }

    /// Creates a running, ready pod on `node` with these tolerations.
    async fn add_pod(&self, name: &str, node: &str, tolerations: Vec<Toleration>) {
        let api = Api::<Pod>::namespaced(self.client.clone(), APPS);
        let mut pod = Pod::default();
        pod.metadata.name = Some(name.into());
        pod.metadata.labels = Some(BTreeMap::from([("app".to_owned(), "web".to_owned())]));
        pod.spec = Some(PodSpec {
            node_name: Some(node.into()),
            tolerations: Some(tolerations),
            containers: vec![Container {
                name: "app".into(),
                image: Some("nginx".into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        });
        let mut pod = (*api.create(&PostParams::default(), &pod).await.unwrap()).clone();
        let ip = format!("10.244.0.{}", self.next_ip.fetch_add(1, Ordering::Relaxed));
        pod.status = Some(PodStatus {
            phase: Some("Running".into()),
            pod_ip: Some(ip.clone()),
            pod_ips: Some(vec![PodIP { ip }]),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_transition_time: Some(Time(self.clock.now())),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        });
        api.replace_status(name, &PostParams::default(), &pod)
            .await
            .unwrap();
    }

    async fn pod(&self, name: &str) -> Option<Arc<Pod>> {
        Api::<Pod>::namespaced(self.client.clone(), APPS)
            .get_opt(name)
            .await
            .unwrap()
    }

    async fn node(&self, name: &str) -> Arc<Node> {
        Api::<Node>::all(self.client.clone())
            .get(name)
            .await
            .unwrap()
    }
}

fn tolerate(key: &str, seconds: Option<i64>) -> Toleration {
    Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some("NoExecute".into()),
        toleration_seconds: seconds,
        value: None,
    }
}

/// Lists `K` (in `namespace`, or cluster-wide) until `check` answers, re-listing on every
/// change; virtual time runs on while it waits.
async fn until<K, T>(
    client: &Arc<dyn Client>,
    namespace: Option<&str>,
    what: &str,
    check: impl Fn(&[Arc<K>]) -> Option<T>,
) -> T
where
    K: Served + Clone + DeserializeOwned + 'static,
{
    let api = match namespace {
        Some(namespace) => Api::<K>::namespaced(client.clone(), namespace),
        None => Api::<K>::all(client.clone()),
    };
    let waited = tokio::time::timeout(WAIT, async {
        loop {
            let list = api.list(&ListParams::default()).await.unwrap();
            if let Some(found) = check(&list.items) {
                return found;
            }
            let params = WatchParams {
                resource_version: Some(list.resource_version),
                ..WatchParams::default()
            };
            let mut changes = api.watch(&params).await.unwrap();
            changes.next().await;
        }
    })
    .await;
    waited.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn named<'a, K: orchestra_api::Object>(items: &'a [Arc<K>], name: &str) -> Option<&'a Arc<K>> {
    items
        .iter()
        .find(|i| i.metadata().name.as_deref() == Some(name))
}

fn condition<'a>(node: &'a Node, kind: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
}

fn taint_of<'a>(node: &'a Node, key: &str, effect: &str) -> Option<&'a Taint> {
    node.spec
        .as_ref()?
        .taints
        .as_ref()?
        .iter()
        .find(|t| t.key == key && t.effect == effect)
}

/// Waits until the pod is being deleted (or gone); the wall-clock time it was seen so.
async fn until_evicted(cluster: &Cluster, pod: &str) -> Timestamp {
    until::<Pod, _>(
        &cluster.client,
        Some(APPS),
        &format!("{pod} evicted"),
        |pods| match named(pods, pod) {
            None => Some(()),
            Some(p) => p.metadata.deletion_timestamp.is_some().then_some(()),
        },
    )
    .await;
    cluster.clock.now()
}

async fn is_evicted(cluster: &Cluster, pod: &str) -> bool {
    cluster
        .pod(pod)
        .await
        .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
}

fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64()
}

#[tokio::test(start_paused = true)]
async fn a_silent_node_turns_unknown_is_tainted_unreachable_and_its_pods_evicted_by_toleration() {
    let mut cluster = cluster().await;
    cluster.add_node("node-1").await;
    cluster.add_node("node-2").await;
    cluster
        .add_pod(
            "quick",
            "node-1",
            vec![tolerate(TAINT_UNREACHABLE, Some(0))],
        )
        .await;
    cluster
        .add_pod(
            "patient",
            "node-1",
            vec![tolerate(TAINT_UNREACHABLE, Some(120))],
        )
        .await;
    cluster
        .add_pod("loyal", "node-1", vec![tolerate(TAINT_UNREACHABLE, None)])
        .await;
    cluster
        .add_pod(
            "elsewhere",
            "node-2",
            vec![tolerate(TAINT_UNREACHABLE, Some(0))],
        )
        .await;

    // Healthy for a good while: Lease renewals alone keep the nodes Ready.
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert_eq!(
        condition(&*cluster.node("node-1").await, "Ready")
            .unwrap()
            .status,
        "True"
    );

    let stopped = cluster.clock.now();
    cluster.stop_kubelet("node-1");
    let node = until::<Node, _>(&cluster.client, None, "node-1 Unknown", |nodes| {
        named(nodes, "node-1")
            .filter(|n| condition(n, "Ready").is_some_and(|c| c.status == "Unknown"))
            .cloned()
    })
    .await;
    let silent_for = seconds_between(stopped, cluster.clock.now());
    assert!(
        (40.0..=50.0).contains(&silent_for),
        "Unknown after the 40 s grace period, within a monitor period or two; took {silent_for} s"
    );
    let ready = condition(&node, "Ready").unwrap();
    assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(
        ready.message.as_deref(),
        Some("Kubelet stopped posting node status.")
    );
    for kind in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
        assert_eq!(condition(&node, kind).unwrap().status, "Unknown", "{kind}");
    }

    let node = until::<Node, _>(&cluster.client, None, "the unreachable taints", |nodes| {
        named(nodes, "node-1")
            .filter(|n| {
                taint_of(n, TAINT_UNREACHABLE, "NoExecute").is_some()
                    && taint_of(n, TAINT_UNREACHABLE, "NoSchedule").is_some()
            })
            .cloned()
    })
    .await;
    let tainted_at = taint_of(&node, TAINT_UNREACHABLE, "NoExecute")
        .unwrap()
        .time_added
        .clone()
        .expect("the NoExecute taint records when it was added")
        .0;

    let quick = until_evicted(&cluster, "quick").await;
    assert!(
        seconds_between(tainted_at, quick) < 1.0,
        "tolerationSeconds 0: at once"
    );
    let evicted = cluster.pod("quick").await.unwrap();
    let target = evicted
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "DisruptionTarget"))
        .expect("the DisruptionTarget condition comes first");
    assert_eq!(target.reason.as_deref(), Some("DeletionByTaintManager"));
    assert!(
        !is_evicted(&cluster, "patient").await,
        "120 s have not passed"
    );

    let patient = until_evicted(&cluster, "patient").await;
    let waited = seconds_between(tainted_at, patient);
    assert!(
        (120.0..121.0).contains(&waited),
        "deleted 120 s after the taint was added; took {waited} s"
    );

    // The loyal pod tolerates the taint for ever: a virtual half hour later it is still there,
    // but marked not ready, as its node is.
    tokio::time::sleep(Duration::from_secs(1800)).await;
    let loyal = cluster.pod("loyal").await.unwrap();
    assert!(loyal.metadata.deletion_timestamp.is_none());
    let pod_ready = loyal.status.as_ref().unwrap().conditions.as_ref().unwrap();
    assert_eq!(
        pod_ready
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap()
            .status,
        "False"
    );

    // The other node is untouched.
    let healthy = cluster.node("node-2").await;
    assert_eq!(condition(&healthy, "Ready").unwrap().status, "True");
    assert!(
        healthy
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .is_none_or(|t| t.is_empty())
    );
    assert!(!is_evicted(&cluster, "elsewhere").await);

    let events = Api::<Event>::namespaced(cluster.client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let not_ready = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("NodeNotReady"))
        .expect("a NodeNotReady Event");
    assert_eq!(
        not_ready.message.as_deref(),
        Some("Node node-1 status is now: NodeNotReady")
    );
    let evictions = Api::<Event>::namespaced(cluster.client.clone(), APPS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert!(
        evictions
            .iter()
            .any(|e| e.reason.as_deref() == Some("TaintManagerEviction")
                && e.message.as_deref() == Some("Marking for deletion Pod apps/quick")),
        "{evictions:#?}"
    );

    // The kubelet comes back: Ready again, every condition taint removed.
    cluster.restart_kubelet("node-1").await;
    until::<Node, _>(
        &cluster.client,
        None,
        "node-1 Ready and untainted",
        |nodes| {
            named(nodes, "node-1")
                .filter(|n| {
                    condition(n, "Ready").is_some_and(|c| c.status == "True")
                        && n.spec
                            .as_ref()
                            .and_then(|s| s.taints.as_ref())
                            .is_none_or(|t| t.is_empty())
                })
                .map(|_| ())
        },
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_node_reported_not_ready_is_tainted_not_ready_until_ready_again() {
    let mut cluster = cluster().await;
    cluster.add_node("node-1").await;
    cluster.add_node("node-2").await;
    cluster
        .add_pod("quick", "node-1", vec![tolerate(TAINT_NOT_READY, Some(0))])
        .await;
    cluster
        .add_pod("loyal", "node-1", vec![tolerate(TAINT_NOT_READY, None)])
        .await;

    cluster.report_ready("node-1", false);
    let node = until::<Node, _>(&cluster.client, None, "the not-ready taints", |nodes| {
        named(nodes, "node-1")
            .filter(|n| {
                taint_of(n, TAINT_NOT_READY, "NoExecute").is_some()
                    && taint_of(n, TAINT_NOT_READY, "NoSchedule").is_some()
            })
            .cloned()
    })
    .await;
    assert_eq!(
        condition(&node, "Ready").unwrap().status,
        "False",
        "the kubelet's own report stands: it still renews its Lease"
    );
    assert!(taint_of(&node, TAINT_UNREACHABLE, "NoExecute").is_none());
    until_evicted(&cluster, "quick").await;

    cluster.report_ready("node-1", true);
    until::<Node, _>(&cluster.client, None, "the taints removed", |nodes| {
        named(nodes, "node-1")
            .filter(|n| {
                taint_of(n, TAINT_NOT_READY, "NoExecute").is_none()
                    && taint_of(n, TAINT_NOT_READY, "NoSchedule").is_none()
            })
            .map(|_| ())
    })
    .await;
    assert!(!is_evicted(&cluster, "loyal").await);
}

#[tokio::test(start_paused = true)]
async fn when_every_node_is_down_no_node_is_tainted_for_eviction() {
    let mut cluster = cluster().await;
    cluster.add_node("node-1").await;
    cluster
        .add_pod(
            "quick",
            "node-1",
            vec![tolerate(TAINT_UNREACHABLE, Some(0))],
        )
        .await;
    cluster.stop_kubelet("node-1");

    // Unknown, and kept off by NoSchedule, but with no node ready anywhere this looks like the
    // control plane's own network failing: nothing is evicted.
    until::<Node, _>(
        &cluster.client,
        None,
        "node-1 Unknown and NoSchedule",
        |nodes| {
            named(nodes, "node-1")
                .filter(|n| {
                    condition(n, "Ready").is_some_and(|c| c.status == "Unknown")
                        && taint_of(n, TAINT_UNREACHABLE, "NoSchedule").is_some()
                })
                .map(|_| ())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    let node = cluster.node("node-1").await;
    assert!(taint_of(&node, TAINT_UNREACHABLE, "NoExecute").is_none());
    assert!(!is_evicted(&cluster, "quick").await);
}

#[tokio::test(start_paused = true)]
async fn tolerations_with_seconds_delay_eviction_and_an_early_untaint_cancels_it() {
    let mut cluster = cluster().await;
    cluster.add_node("node-1").await;
    let maintenance = "example.com/maintenance";
    cluster.add_pod("intolerant", "node-1", vec![]).await;
    cluster
        .add_pod("short", "node-1", vec![tolerate(maintenance, Some(30))])
        .await;
    cluster
        .add_pod("long", "node-1", vec![tolerate(maintenance, Some(90))])
        .await;
    cluster
        .add_pod("forever", "node-1", vec![tolerate(maintenance, None)])
        .await;

    // An administrator taints the node, as `kubectl taint` would (with the time added).
    let api = Api::<Node>::all(cluster.client.clone());
    let tainted_at = cluster.clock.now();
    let mut node = (*api.get("node-1").await.unwrap()).clone();
    node.spec.get_or_insert_with(Default::default).taints = Some(vec![Taint {
        key: maintenance.into(),
        effect: "NoExecute".into(),
        value: None,
        time_added: Some(Time(tainted_at)),
    }]);
    api.replace("node-1", &PostParams::default(), &node)
        .await
        .unwrap();
    // Times are stored to the second, as in Kubernetes: count from what was stored.
    let stored = api.get("node-1").await.unwrap();
    let tainted_at = stored.spec.as_ref().unwrap().taints.as_ref().unwrap()[0]
        .time_added
        .clone()
        .unwrap()
        .0;

    let intolerant = until_evicted(&cluster, "intolerant").await;
    assert!(seconds_between(tainted_at, intolerant) < 1.0);
    let short = until_evicted(&cluster, "short").await;
    let waited = seconds_between(tainted_at, short);
    assert!((30.0..31.0).contains(&waited), "took {waited} s");
    assert!(!is_evicted(&cluster, "long").await);

    // The taint goes 60 s in: the long-tolerating pod's deletion is cancelled.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let mut node = (*api.get("node-1").await.unwrap()).clone();
    node.spec.as_mut().unwrap().taints = None;
    api.replace("node-1", &PostParams::default(), &node)
        .await
        .unwrap();
    until::<Event, _>(
        &cluster.client,
        Some(APPS),
        "the cancellation Event",
        |events| {
            events
                .iter()
                .any(|e| e.message.as_deref() == Some("Cancelling deletion of Pod apps/long"))
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(!is_evicted(&cluster, "long").await);
    assert!(!is_evicted(&cluster, "forever").await);
}

#[tokio::test(start_paused = true)]
async fn the_pods_of_an_unreachable_node_leave_the_ready_endpoints_before_they_are_evicted() {
    let mut cluster = cluster().await;
    cluster.add_node("node-1").await;
    cluster.add_node("node-2").await;
    let mut service = Service::default();
    service.metadata.name = Some("web".into());
    service.spec = Some(ServiceSpec {
        selector: Some(BTreeMap::from([("app".to_owned(), "web".to_owned())])),
        ports: Some(vec![ServicePort {
            port: 80,
            ..ServicePort::default()
        }]),
        ..ServiceSpec::default()
    });
    Api::<Service>::namespaced(cluster.client.clone(), APPS)
        .create(&PostParams::default(), &service)
        .await
        .unwrap();
    cluster
        .add_pod(
            "on-failing",
            "node-1",
            vec![tolerate(TAINT_UNREACHABLE, Some(300))],
        )
        .await;
    cluster
        .add_pod(
            "on-healthy",
            "node-2",
            vec![tolerate(TAINT_UNREACHABLE, Some(300))],
        )
        .await;
    let ready_endpoints = |slices: &[Arc<EndpointSlice>]| {
        let mut ready: Vec<String> = slices
            .iter()
            .flat_map(|s| s.endpoints.iter())
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
            .filter_map(|e| e.target_ref.as_ref()?.name.clone())
            .collect();
        ready.sort();
        ready
    };
    until::<EndpointSlice, _>(&cluster.client, Some(APPS), "both pods ready", |slices| {
        (ready_endpoints(slices).len() == 2).then_some(())
    })
    .await;

    cluster.stop_kubelet("node-1");
    let stopped = cluster.clock.now();
    until::<EndpointSlice, _>(
        &cluster.client,
        Some(APPS),
        "one ready endpoint",
        |slices| (ready_endpoints(slices) == ["on-healthy"]).then_some(()),
    )
    .await;
    let after = seconds_between(stopped, cluster.clock.now());
    assert!(
        after < 60.0,
        "out of the ready endpoints {after} s after the kubelet stopped"
    );
    assert!(!is_evicted(&cluster, "on-failing").await, "still tolerated");
}
