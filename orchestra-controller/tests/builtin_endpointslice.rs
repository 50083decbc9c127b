//! The EndpointSlice and Endpoints controllers against the in-process server: a Service's pods
//! (whose status the tests write, as a kubelet would) show up in its EndpointSlices and its
//! legacy Endpoints with the conditions, ports, nodes and zones Kubernetes publishes.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use orchestra_api::k8s_openapi::api::core::v1::{
    Container, ContainerPort, EndpointAddress, EndpointSubset, Endpoints, Namespace, Node, Pod,
    PodCondition, PodIP, PodSpec, PodStatus, Service, ServicePort, ServiceSpec,
};
use orchestra_api::k8s_openapi::api::discovery::v1::EndpointSlice;
use orchestra_api::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use orchestra_api::{
    Api, Client, DeleteParams, ListParams, PostParams, Served, StatusReason, WatchParams,
};
use orchestra_controller::builtin::endpointslice::{
    self, CONTROLLER_NAME, EndpointSliceConfig, LABEL_MANAGED_BY, LABEL_SERVICE_NAME,
};
use orchestra_controller::manager::Manager;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

use self::support::server;

const WAIT: Duration = Duration::from_secs(5);
const NAMESPACE: &str = "shop";

/// A running controller manager with the endpoint controllers, and the client to the server.
struct Cluster {
    client: Arc<dyn Client>,
    running: JoinHandle<()>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.running.abort();
    }
}

async fn create_namespace(client: &Arc<dyn Client>, name: &str) {
    let mut namespace = Namespace::default();
    namespace.metadata.name = Some(name.into());
    match Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
    {
        Ok(_) => {}
        Err(status) if status.is(&StatusReason::AlreadyExists) => {}
        Err(status) => panic!("the namespace {name} is not created: {status}"),
    }
}

/// A server with the namespaces the tests use, without controllers yet.
async fn empty_cluster() -> Arc<dyn Client> {
    let client: Arc<dyn Client> = server().await;
    for namespace in ["default", NAMESPACE] {
        create_namespace(&client, namespace).await;
    }
    client
}

fn start(client: &Arc<dyn Client>, config: EndpointSliceConfig) -> Cluster {
    let manager = Manager::builder(client.clone()).build().unwrap();
    endpointslice::add_to(&manager, config);
    let running = tokio::spawn(async move { manager.run(std::future::pending()).await });
    Cluster {
        client: client.clone(),
        running,
    }
}

async fn cluster(config: EndpointSliceConfig) -> Cluster {
    let client = empty_cluster().await;
    start(&client, config)
}

/// Lists `K` in `namespace` until `check` answers, re-listing on every change.
async fn until<K, T>(
    client: &Arc<dyn Client>,
    namespace: &str,
    what: &str,
    check: impl Fn(&[Arc<K>]) -> Option<T>,
) -> T
where
    K: Served + Clone + DeserializeOwned + 'static,
{
    let api = Api::<K>::namespaced(client.clone(), namespace);
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
    match waited {
        Ok(found) => found,
        Err(_) => {
            let now = api.list(&ListParams::default()).await.unwrap().items;
            panic!(
                "timed out waiting for {what}; {} objects now: {now:#?}",
                K::resource_kind().plural
            )
        }
    }
}

async fn create_node(client: &Arc<dyn Client>, name: &str, zone: &str) {
    let mut node = Node::default();
    node.metadata.name = Some(name.into());
    node.metadata.labels = Some(BTreeMap::from([(
        "topology.kubernetes.io/zone".to_owned(),
        zone.to_owned(),
    )]));
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await
        .unwrap();
}

fn service_port(name: &str, port: i32, target: IntOrString) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port,
        target_port: Some(target),
        protocol: Some("TCP".into()),
        ..ServicePort::default()
    }
}

async fn create_service(
    client: &Arc<dyn Client>,
    name: &str,
    selector: Option<&[(&str, &str)]>,
    ports: Vec<ServicePort>,
    publish_not_ready: bool,
) -> Arc<Service> {
    let mut service = Service::default();
    service.metadata.name = Some(name.into());
    service.metadata.labels = Some(BTreeMap::from([("team".to_owned(), "shop".to_owned())]));
    service.spec = Some(ServiceSpec {
        selector: selector.map(|pairs| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        }),
        ports: Some(ports),
        publish_not_ready_addresses: publish_not_ready.then_some(true),
        ..ServiceSpec::default()
    });
    Api::<Service>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &service)
        .await
        .unwrap()
}

/// What a test pod looks like once its kubelet reported on it.
struct PodSetup<'a> {
    name: &'a str,
    app: &'a str,
    node: &'a str,
    ip: Option<&'a str>,
    ready: bool,
    http_port: i32,
}

impl<'a> PodSetup<'a> {
    fn new(name: &'a str, ip: &'a str) -> Self {
        Self {
            name,
            app: "web",
            node: "node-1",
            ip: Some(ip),
            ready: true,
            http_port: 8080,
        }
    }
}

/// Creates a pod bound to its node, then writes its status as the node's kubelet would.
async fn create_pod(client: &Arc<dyn Client>, setup: PodSetup<'_>) -> Arc<Pod> {
    let api = Api::<Pod>::namespaced(client.clone(), NAMESPACE);
    let mut pod = Pod::default();
    pod.metadata.name = Some(setup.name.into());
    pod.metadata.labels = Some(BTreeMap::from([("app".to_owned(), setup.app.to_owned())]));
    pod.spec = Some(PodSpec {
        node_name: Some(setup.node.into()),
        containers: vec![Container {
            name: "app".into(),
            image: Some("nginx".into()),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: setup.http_port,
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            }]),
            ..Container::default()
        }],
        ..PodSpec::default()
    });
    let created = api.create(&PostParams::default(), &pod).await.unwrap();
    set_pod_status(client, &created, setup.ip, setup.ready).await
}

/// Writes a running pod's status: its IP and its Ready condition.
async fn set_pod_status(
    client: &Arc<dyn Client>,
    pod: &Pod,
    ip: Option<&str>,
    ready: bool,
) -> Arc<Pod> {
    let api = Api::<Pod>::namespaced(client.clone(), NAMESPACE);
    let mut pod = (*api
        .get(pod.metadata.name.as_deref().unwrap())
        .await
        .unwrap())
    .clone();
    pod.status = Some(PodStatus {
        phase: Some("Running".into()),
        pod_ip: ip.map(str::to_owned),
        pod_ips: ip.map(|ip| vec![PodIP { ip: ip.to_owned() }]),
        conditions: Some(vec![PodCondition {
            type_: "Ready".into(),
            status: if ready { "True" } else { "False" }.into(),
            ..PodCondition::default()
        }]),
        ..PodStatus::default()
    });
    api.replace_status(
        pod.metadata.name.as_deref().unwrap(),
        &PostParams::default(),
        &pod,
    )
    .await
    .unwrap()
}

fn slices_of<'a>(slices: &'a [Arc<EndpointSlice>], service: &str) -> Vec<&'a Arc<EndpointSlice>> {
    slices
        .iter()
        .filter(|s| {
            s.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.get(LABEL_SERVICE_NAME).map(String::as_str) == Some(service))
        })
        .collect()
}

/// Every endpoint of the Service's slices, by the name of its pod: (address, ready, serving,
/// terminating).
fn endpoints_by_pod(
    slices: &[Arc<EndpointSlice>],
    service: &str,
) -> BTreeMap<String, (String, bool, bool, bool)> {
    slices_of(slices, service)
        .into_iter()
        .flat_map(|s| s.endpoints.iter())
        .map(|e| {
            let c = e.conditions.clone().unwrap_or_default();
            (
                e.target_ref.as_ref().unwrap().name.clone().unwrap(),
                (
                    e.addresses[0].clone(),
                    c.ready.unwrap(),
                    c.serving.unwrap(),
                    c.terminating.unwrap(),
                ),
            )
        })
        .collect()
}

fn ips(addresses: &Option<Vec<EndpointAddress>>) -> BTreeSet<String> {
    addresses.iter().flatten().map(|a| a.ip.clone()).collect()
}

#[tokio::test]
async fn a_service_publishes_its_pods_with_kubernetes_conditions_nodes_zones_and_targets() {
    let cluster = cluster(EndpointSliceConfig::default()).await;
    let client = &cluster.client;
    create_node(client, "node-1", "zone-a").await;
    let service = create_service(
        client,
        "web",
        Some(&[("app", "web")]),
        vec![service_port("http", 80, IntOrString::String("http".into()))],
        false,
    )
    .await;
    let ready = create_pod(client, PodSetup::new("web-ready", "10.244.1.10")).await;
    create_pod(
        client,
        PodSetup {
            ready: false,
            ..PodSetup::new("web-starting", "10.244.1.11")
        },
    )
    .await;
    create_pod(
        client,
        PodSetup {
            ip: None,
            ..PodSetup::new("web-pending", "")
        },
    )
    .await;
    create_pod(
        client,
        PodSetup {
            app: "db",
            ..PodSetup::new("db", "10.244.1.13")
        },
    )
    .await;
    create_pod(client, PodSetup::new("web-leaving", "10.244.1.14")).await;
    // Bound to a node, the pod is deleted gracefully: it stays, terminating, until its kubelet
    // confirms (which no kubelet does here).
    Api::<Pod>::namespaced(client.clone(), NAMESPACE)
        .delete("web-leaving", &DeleteParams::default())
        .await
        .unwrap();

    let slices = until::<EndpointSlice, _>(client, NAMESPACE, "three endpoints", |slices| {
        let endpoints = endpoints_by_pod(slices, "web");
        (endpoints.len() == 3 && endpoints["web-leaving"].3).then(|| slices.to_vec())
    })
    .await;
    let endpoints = endpoints_by_pod(&slices, "web");
    assert_eq!(
        endpoints["web-ready"],
        ("10.244.1.10".into(), true, true, false)
    );
    assert_eq!(
        endpoints["web-starting"],
        ("10.244.1.11".into(), false, false, false)
    );
    assert_eq!(
        endpoints["web-leaving"],
        ("10.244.1.14".into(), false, true, true),
        "a terminating pod is serving but not ready"
    );

    let web = slices_of(&slices, "web");
    assert_eq!(web.len(), 1);
    let slice = web[0];
    let labels = slice.metadata.labels.as_ref().unwrap();
    assert_eq!(labels[LABEL_MANAGED_BY], CONTROLLER_NAME);
    assert_eq!(labels["team"], "shop", "the Service's labels are copied");
    assert!(slice.metadata.name.as_deref().unwrap().starts_with("web-"));
    let owner = &slice.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Service", "web")
    );
    assert_eq!(Some(&owner.uid), service.metadata.uid.as_ref());
    assert_eq!(owner.controller, Some(true));
    assert_eq!(slice.address_type, "IPv4");
    let port = &slice.ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.port, port.protocol.as_deref()),
        (Some("http"), Some(8080), Some("TCP")),
        "the named target port is resolved on the pod"
    );
    let endpoint = slice
        .endpoints
        .iter()
        .find(|e| e.addresses == ["10.244.1.10"])
        .unwrap();
    assert_eq!(endpoint.node_name.as_deref(), Some("node-1"));
    assert_eq!(endpoint.zone.as_deref(), Some("zone-a"));
    let target = endpoint.target_ref.as_ref().unwrap();
    assert_eq!(target.kind.as_deref(), Some("Pod"));
    assert_eq!(target.uid, ready.metadata.uid);

    // The legacy Endpoints: ready and not-ready addresses; the terminating pod is left out.
    let endpoints = until::<Endpoints, _>(client, NAMESPACE, "the Endpoints of web", |all| {
        all.iter()
            .find(|e| e.metadata.name.as_deref() == Some("web"))
            .cloned()
    })
    .await;
    let subsets: &[EndpointSubset] = endpoints.subsets.as_deref().unwrap();
    assert_eq!(subsets.len(), 1, "{subsets:?}");
    assert_eq!(
        ips(&subsets[0].addresses),
        BTreeSet::from(["10.244.1.10".to_owned()])
    );
    assert_eq!(
        ips(&subsets[0].not_ready_addresses),
        BTreeSet::from(["10.244.1.11".to_owned()])
    );
    let port = &subsets[0].ports.as_ref().unwrap()[0];
    assert_eq!((port.name.as_deref(), port.port), (Some("http"), 8080));
    assert_eq!(
        endpoints.metadata.labels.as_ref().unwrap()["team"],
        "shop",
        "the Endpoints carry the Service's labels"
    );
}

#[tokio::test]
async fn publish_not_ready_addresses_makes_every_endpoint_ready() {
    let cluster = cluster(EndpointSliceConfig::default()).await;
    let client = &cluster.client;
    create_node(client, "node-1", "zone-a").await;
    create_service(
        client,
        "peers",
        Some(&[("app", "web")]),
        vec![service_port("http", 80, IntOrString::Int(8080))],
        true,
    )
    .await;
    create_pod(
        client,
        PodSetup {
            ready: false,
            ..PodSetup::new("web-1", "10.244.1.20")
        },
    )
    .await;

    let endpoints = until::<EndpointSlice, _>(client, NAMESPACE, "the endpoint", |slices| {
        let endpoints = endpoints_by_pod(slices, "peers");
        (!endpoints.is_empty()).then_some(endpoints)
    })
    .await;
    assert_eq!(
        endpoints["web-1"],
        ("10.244.1.20".into(), true, false, false)
    );
    let legacy = until::<Endpoints, _>(client, NAMESPACE, "the Endpoints of peers", |all| {
        all.iter()
            .find(|e| e.metadata.name.as_deref() == Some("peers"))
            .cloned()
    })
    .await;
    let subsets = legacy.subsets.as_deref().unwrap();
    assert_eq!(
        ips(&subsets[0].addresses),
        BTreeSet::from(["10.244.1.20".to_owned()])
    );
    assert!(subsets[0].not_ready_addresses.is_none());
}

#[tokio::test]
async fn pods_whose_named_port_differs_go_into_different_slices() {
    let cluster = cluster(EndpointSliceConfig::default()).await;
    let client = &cluster.client;
    create_node(client, "node-1", "zone-a").await;
    create_service(
        client,
        "web",
        Some(&[("app", "web")]),
        vec![service_port("http", 80, IntOrString::String("http".into()))],
        false,
    )
    .await;
    create_pod(client, PodSetup::new("web-old", "10.244.1.30")).await;
    create_pod(
        client,
        PodSetup {
            http_port: 9090,
            ..PodSetup::new("web-new", "10.244.1.31")
        },
    )
    .await;

    let ports = until::<EndpointSlice, _>(client, NAMESPACE, "two slices", |slices| {
        let web = slices_of(slices, "web");
        let ports: BTreeMap<i32, Vec<String>> = web
            .iter()
            .filter(|s| !s.endpoints.is_empty())
            .map(|s| {
                let port = s.ports.as_ref().unwrap()[0].port.unwrap();
                let pods = s
                    .endpoints
                    .iter()
                    .map(|e| e.target_ref.as_ref().unwrap().name.clone().unwrap())
                    .collect();
                (port, pods)
            })
            .collect();
        (ports.len() == 2).then_some(ports)
    })
    .await;
    assert_eq!(ports[&8080], ["web-old"]);
    assert_eq!(ports[&9090], ["web-new"]);

    // The Endpoints keep both too, in two subsets.
    let legacy = until::<Endpoints, _>(client, NAMESPACE, "two subsets", |all| {
        all.iter()
            .find(|e| {
                e.metadata.name.as_deref() == Some("web")
                    && e.subsets.as_ref().is_some_and(|s| s.len() == 2)
            })
            .cloned()
    })
    .await;
    let by_port: BTreeMap<i32, BTreeSet<String>> = legacy
        .subsets
        .as_deref()
        .unwrap()
        .iter()
        .map(|s| (s.ports.as_ref().unwrap()[0].port, ips(&s.addresses)))
        .collect();
    assert_eq!(by_port[&9090], BTreeSet::from(["10.244.1.31".to_owned()]));
}

#[tokio::test]
async fn slices_hold_at_most_the_configured_number_of_endpoints() {
    let cluster = cluster(EndpointSliceConfig {
        max_endpoints_per_slice: 5,
        ..EndpointSliceConfig::default()
    })
    .await;
    let client = &cluster.client;
    create_node(client, "node-1", "zone-a").await;
    create_service(
        client,
        "web",
        Some(&[("app", "web")]),
        vec![service_port("http", 80, IntOrString::Int(8080))],
        false,
    )
    .await;
    let addresses: Vec<String> = (0..12).map(|i| format!("10.244.2.{}", i + 1)).collect();
    for (i, address) in addresses.iter().enumerate() {
        create_pod(client, PodSetup::new(&format!("web-{i}"), address)).await;
    }

    let sizes = until::<EndpointSlice, _>(client, NAMESPACE, "twelve endpoints", |slices| {
        let web = slices_of(slices, "web");
        let total: usize = web.iter().map(|s| s.endpoints.len()).sum();
        (total == 12).then(|| web.iter().map(|s| s.endpoints.len()).collect::<Vec<_>>())
    })
    .await;
    assert!(sizes.iter().all(|&n| n <= 5), "slice sizes {sizes:?}");
    assert_eq!(sizes.len(), 3, "packed into the fewest slices: {sizes:?}");
    let slices = Api::<EndpointSlice>::namespaced(client.clone(), NAMESPACE)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let published: BTreeSet<String> = slices_of(&slices, "web")
        .iter()
        .flat_map(|s| s.endpoints.iter().map(|e| e.addresses[0].clone()))
        .collect();
    assert_eq!(
        published,
        addresses.into_iter().collect(),
        "each pod exactly once"
    );
}

#[tokio::test]
async fn changes_update_the_slice_in_place_down_to_an_empty_placeholder() {
    let cluster = cluster(EndpointSliceConfig::default()).await;
    let client = &cluster.client;
    create_node(client, "node-1", "zone-a").await;
    create_service(
        client,
        "web",
        Some(&[("app", "web")]),
        vec![service_port("http", 80, IntOrString::Int(8080))],
        false,
    )
    .await;
    let pod = create_pod(client, PodSetup::new("web-1", "10.244.3.1")).await;
    let first = until::<EndpointSlice, _>(client, NAMESPACE, "a ready endpoint", |slices| {
        let web = slices_of(slices, "web");
        (web.len() == 1
            && endpoints_by_pod(slices, "web")
                .get("web-1")
                .is_some_and(|e| e.1))
        .then(|| Arc::clone(web[0]))
    })
    .await;

    set_pod_status(client, &pod, Some("10.244.3.1"), false).await;
    let second = until::<EndpointSlice, _>(client, NAMESPACE, "the endpoint not ready", |slices| {
        let web = slices_of(slices, "web");
        (web.len() == 1
            && endpoints_by_pod(slices, "web")
                .get("web-1")
                .is_some_and(|e| !e.1))
        .then(|| Arc::clone(web[0]))
    })
    .await;
    assert_eq!(
        second.metadata.uid, first.metadata.uid,
        "updated, not recreated"
    );

    Api::<Pod>::namespaced(client.clone(), NAMESPACE)
        .delete(
            "web-1",
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
    let emptied = until::<EndpointSlice, _>(client, NAMESPACE, "an empty slice", |slices| {
        let web = slices_of(slices, "web");
        (web.len() == 1 && web[0].endpoints.is_empty()).then(|| Arc::clone(web[0]))
    })
    .await;
    assert_eq!(
        emptied.metadata.uid, first.metadata.uid,
        "the slice stays as the placeholder"
    );
    assert!(emptied.ports.as_ref().is_none_or(|p| p.is_empty()));
}

#[tokio::test]
async fn pods_on_a_node_not_yet_known_join_once_it_appears() {
    let cluster = cluster(EndpointSliceConfig::default()).await;
    let client = &cluster.client;
    create_node(client, "node-1", "zone-a").await;
    create_service(
        client,
        "web",
        Some(&[("app", "web")]),
        vec![service_port("http", 80, IntOrString::Int(8080))],
        false,
    )
    .await;
    create_pod(client, PodSetup::new("web-1", "10.244.4.1")).await;
    create_pod(
        client,
        PodSetup {
            node: "node-2",
            ..PodSetup::new("web-2", "10.244.4.2")
        },
    )
    .await;
    let first = until::<EndpointSlice, _>(client, NAMESPACE, "the known node's pod", |slices| {
        let endpoints = endpoints_by_pod(slices, "web");
        (!endpoints.is_empty()).then_some(endpoints)
    })
    .await;
    assert_eq!(first.keys().collect::<Vec<_>>(), ["web-1"]);

    create_node(client, "node-2", "zone-b").await;
    until::<EndpointSlice, _>(client, NAMESPACE, "both pods", |slices| {
        (endpoints_by_pod(slices, "web").len() == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn services_without_a_selector_are_left_alone() {
    let cluster = cluster(EndpointSliceConfig::default()).await;
    let client = &cluster.client;
    create_node(client, "node-1", "zone-a").await;
    create_service(
        client,
        "external",
        None,
        vec![service_port("http", 80, IntOrString::Int(8080))],
        false,
    )
    .await;
    // The user's own Endpoints for the selector-less Service.
    let mut manual = Endpoints::default();
    manual.metadata.name = Some("external".into());
    manual.subsets = Some(vec![EndpointSubset {
        addresses: Some(vec![EndpointAddress {
            ip: "192.0.2.10".into(),
            ..EndpointAddress::default()
        }]),
        ..EndpointSubset::default()
    }]);
    Api::<Endpoints>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &manual)
        .await
        .unwrap();
    // A Service with a selector, to know the controllers have run.
    create_service(
        client,
        "web",
        Some(&[("app", "web")]),
        vec![service_port("http", 80, IntOrString::Int(8080))],
        false,
    )
    .await;
    create_pod(client, PodSetup::new("web-1", "10.244.5.1")).await;
    until::<EndpointSlice, _>(client, NAMESPACE, "the web slice", |slices| {
        (!endpoints_by_pod(slices, "web").is_empty()).then_some(())
    })
    .await;
    until::<Endpoints, _>(client, NAMESPACE, "the web Endpoints", |all| {
        all.iter()
            .any(|e| e.metadata.name.as_deref() == Some("web"))
            .then_some(())
    })
    .await;

    let slices = Api::<EndpointSlice>::namespaced(client.clone(), NAMESPACE)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert!(slices_of(&slices, "external").is_empty());
    let kept = Api::<Endpoints>::namespaced(client.clone(), NAMESPACE)
        .get("external")
        .await
        .unwrap();
    assert_eq!(
        ips(&kept.subsets.as_ref().unwrap()[0].addresses),
        BTreeSet::from(["192.0.2.10".to_owned()])
    );
}

#[tokio::test]
async fn the_endpoints_of_a_deleted_service_go_with_it_and_leftovers_are_cleaned_at_start() {
    let client = empty_cluster().await;
    // Left over from a Service deleted while no controller ran, and a leader-election record.
    for (name, leader) in [("ghost", false), ("leader-lock", true)] {
        let mut endpoints = Endpoints::default();
        endpoints.metadata.name = Some(name.into());
        if leader {
            endpoints.metadata.annotations = Some(BTreeMap::from([(
                "control-plane.alpha.kubernetes.io/leader".to_owned(),
                "{}".to_owned(),
            )]));
        }
        Api::<Endpoints>::namespaced(client.clone(), NAMESPACE)
            .create(&PostParams::default(), &endpoints)
            .await
            .unwrap();
    }
    let cluster = start(&client, EndpointSliceConfig::default());
    let client = &cluster.client;
    create_node(client, "node-1", "zone-a").await;
    create_service(
        client,
        "web",
        Some(&[("app", "web")]),
        vec![service_port("http", 80, IntOrString::Int(8080))],
        false,
    )
    .await;
    create_pod(client, PodSetup::new("web-1", "10.244.6.1")).await;
    let names = |all: &[Arc<Endpoints>]| {
        all.iter()
            .filter_map(|e| e.metadata.name.clone())
            .collect::<BTreeSet<_>>()
    };
    until::<Endpoints, _>(client, NAMESPACE, "web in, ghost out", |all| {
        let names = names(all);
        (names.contains("web") && !names.contains("ghost")).then_some(())
    })
    .await;

    Api::<Service>::namespaced(client.clone(), NAMESPACE)
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    let left = until::<Endpoints, _>(client, NAMESPACE, "web's Endpoints gone", |all| {
        let names = names(all);
        (!names.contains("web")).then_some(names)
    })
    .await;
    assert_eq!(left, BTreeSet::from(["leader-lock".to_owned()]));
}

#[tokio::test]
async fn the_kubernetes_service_is_left_to_the_api_server() {
    let cluster = cluster(EndpointSliceConfig::default()).await;
    let client = &cluster.client;
    create_node(client, "node-1", "zone-a").await;
    // Even with a selector (the real one has none), default/kubernetes gets nothing from the
    // controllers, while a Service selecting the same pods does.
    for (namespace, name) in [("default", "kubernetes"), ("default", "web")] {
        let mut service = Service::default();
        service.metadata.name = Some(name.into());
        service.spec = Some(ServiceSpec {
            selector: Some(BTreeMap::from([("app".to_owned(), "web".to_owned())])),
            ports: Some(vec![service_port("https", 443, IntOrString::Int(6443))]),
            ..ServiceSpec::default()
        });
        match Api::<Service>::namespaced(client.clone(), namespace)
            .create(&PostParams::default(), &service)
            .await
        {
            Ok(_) => {}
            Err(status) if status.is(&StatusReason::AlreadyExists) => {}
            Err(status) => panic!("{status}"),
        }
    }
    let mut pod = Pod::default();
    pod.metadata.name = Some("web-1".into());
    pod.metadata.labels = Some(BTreeMap::from([("app".to_owned(), "web".to_owned())]));
    pod.spec = Some(PodSpec {
        node_name: Some("node-1".into()),
        containers: vec![Container {
            name: "app".into(),
            image: Some("nginx".into()),
            ..Container::default()
        }],
        ..PodSpec::default()
    });
    let api = Api::<Pod>::namespaced(client.clone(), "default");
    let mut pod = (*api.create(&PostParams::default(), &pod).await.unwrap()).clone();
    pod.status = Some(PodStatus {
        phase: Some("Running".into()),
        pod_ip: Some("10.244.7.1".into()),
        pod_ips: Some(vec![PodIP {
            ip: "10.244.7.1".into(),
        }]),
        ..PodStatus::default()
    });
    api.replace_status("web-1", &PostParams::default(), &pod)
        .await
        .unwrap();

    until::<Endpoints, _>(client, "default", "the Endpoints of web", |all| {
        all.iter()
            .any(|e| e.metadata.name.as_deref() == Some("web"))
            .then_some(())
    })
    .await;
    let slices = until::<EndpointSlice, _>(client, "default", "the slice of web", |slices| {
        (!slices_of(slices, "web").is_empty()).then(|| slices.to_vec())
    })
    .await;
    let managed_for_kubernetes = slices_of(&slices, "kubernetes")
        .into_iter()
        .filter(|s| {
            s.metadata
                .labels
                .as_ref()
                .unwrap()
                .get(LABEL_MANAGED_BY)
                .map(String::as_str)
                == Some(CONTROLLER_NAME)
        })
        .count();
    assert_eq!(managed_for_kubernetes, 0);
    let kubernetes = Api::<Endpoints>::namespaced(client.clone(), "default")
        .get_opt("kubernetes")
        .await
        .unwrap();
    assert!(kubernetes.is_none(), "{kubernetes:?}");
}
