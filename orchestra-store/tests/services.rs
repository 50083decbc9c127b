//! Services' cluster IPs and node ports: allocated from the configured ranges, honoured when
//! asked for, never handed out twice (concurrently, or across restarts), released on delete.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use orchestra_api::{Api, DeleteParams, Patch, PatchParams, PostParams, kinds};
use orchestra_store::registry::service_allocation::{IP_ADDRESS_PREFIX, ServiceNetwork};
use orchestra_store::{DiskKv, KvStore, LocalClient, MemoryKv, RangeRequest, Store, StoreConfig};
use proptest::prelude::*;
use serde_json::json;

fn network(cidr: &str, ports: std::ops::RangeInclusive<i32>) -> ServiceNetwork {
    ServiceNetwork {
        cluster_ip_range: cidr.parse().expect("CIDR"),
        node_port_range: ports,
    }
}

async fn services_over(kv: Arc<dyn KvStore>, network: ServiceNetwork) -> Api<Service> {
    let store = Store::open(
        kv,
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        StoreConfig {
            service_network: network,
            ..StoreConfig::default()
        },
    )
    .await
    .expect("store opens");
    Api::namespaced(Arc::new(LocalClient::new(store)), "default")
}

async fn services(network: ServiceNetwork) -> Api<Service> {
    services_over(Arc::new(MemoryKv::new()), network).await
}

fn service(name: &str, extra: serde_json::Value) -> Service {
    let mut spec = json!({"selector": {"app": name}, "ports": [{"port": 80}]});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .expect("a valid service")
}

/// The suffixes of the keys under `prefix`: the addresses or ports held.
async fn held_keys(kv: &dyn KvStore, prefix: &str) -> BTreeSet<String> {
    kv.range(RangeRequest::prefix(prefix.to_owned()))
        .await
        .expect("range")
        .kvs
        .iter()
        .map(|kv| String::from_utf8_lossy(&kv.key[prefix.len()..]).into_owned())
        .collect()
}

fn cluster_ip(svc: &Service) -> String {
    svc.spec
        .as_ref()
        .and_then(|s| s.cluster_ip.clone())
        .unwrap_or_default()
}

fn node_ports(svc: &Service) -> Vec<i32> {
    svc.spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .map(|ports| ports.iter().filter_map(|p| p.node_port).collect())
        .unwrap_or_default()
}

/// Creates `svc`, which must be refused with a 422 of one cause; answers (field, message).
async fn refused(api: &Api<Service>, svc: &Service) -> (String, String) {
    cause(&api.create(&PostParams::default(), svc).await.unwrap_err())
}

/// The single cause of a 422, as (field, message).
fn cause(status: &orchestra_api::Status) -> (String, String) {
    assert_eq!(status.code, 422, "{}", status.message);
    let details = status.details.as_ref().expect("details");
    assert_eq!(details.causes.len(), 1, "{:?}", details.causes);
    (
        details.causes[0].field.clone(),
        details.causes[0].message.clone(),
    )
}

#[tokio::test]
async fn a_cluster_ip_service_gets_a_free_address_of_the_range_and_single_stack_families() {
    let api = services(network("10.96.0.0/24", 30000..=32767)).await;
    let created = api
        .create(&PostParams::default(), &service("web", json!({})))
        .await
        .unwrap();
    let ip: Ipv4Addr = cluster_ip(&created).parse().expect("an IPv4 address");
    let net: ipnet::Ipv4Net = "10.96.0.0/24".parse().unwrap();
    assert!(
        net.contains(&ip) && ip != net.network() && ip != net.broadcast(),
        "{ip}"
    );
    let spec = created.spec.as_ref().unwrap();
    assert_eq!(spec.cluster_ips, Some(vec![ip.to_string()]));
    assert_eq!(spec.ip_families, Some(vec!["IPv4".to_owned()]));
    assert_eq!(spec.ip_family_policy.as_deref(), Some("SingleStack"));
    assert!(node_ports(&created).is_empty());
}

#[tokio::test]
async fn an_asked_for_address_is_honoured_once_and_must_be_in_the_range() {
    let api = services(network("10.96.0.0/24", 30000..=32767)).await;
    let first = api
        .create(
            &PostParams::default(),
            &service("a", json!({"clusterIP": "10.96.0.10"})),
        )
        .await
        .unwrap();
    assert_eq!(cluster_ip(&first), "10.96.0.10");

    let (field, message) = refused(&api, &service("b", json!({"clusterIP": "10.96.0.10"}))).await;
    assert_eq!(field, "spec.clusterIPs[0]");
    assert!(
        message.contains("provided IP is already allocated"),
        "{message}"
    );

    let (field, message) = refused(&api, &service("c", json!({"clusterIP": "10.97.0.10"}))).await;
    assert_eq!(field, "spec.clusterIPs[0]");
    assert!(message.contains("is not in the valid range"), "{message}");
    // Neither failure stored anything.
    for name in ["b", "c"] {
        assert_eq!(api.get(name).await.unwrap_err().code, 404);
    }
}

#[tokio::test]
async fn headless_and_external_name_services_get_no_address() {
    let api = services(ServiceNetwork::default()).await;
    let headless = api
        .create(
            &PostParams::default(),
            &service("db", json!({"clusterIP": "None"})),
        )
        .await
        .unwrap();
    assert_eq!(cluster_ip(&headless), "None");
    assert_eq!(
        headless.spec.as_ref().unwrap().cluster_ips,
        Some(vec!["None".to_owned()])
    );
    let external: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "db.example.com"},
    }))
    .unwrap();
    let external = api.create(&PostParams::default(), &external).await.unwrap();
    assert_eq!(cluster_ip(&external), "");
}

#[tokio::test]
async fn node_port_services_get_distinct_ports_and_asked_for_ports_are_checked() {
    let api = services(network("10.96.0.0/24", 30000..=30100)).await;
    let two_ports = service(
        "web",
        json!({"type": "NodePort", "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]}),
    );
    let created = api
        .create(&PostParams::default(), &two_ports)
        .await
        .unwrap();
    let ports = node_ports(&created);
    assert_eq!(ports.len(), 2);
    assert_ne!(ports[0], ports[1]);
    assert!(
        ports.iter().all(|p| (30000..=30100).contains(p)),
        "{ports:?}"
    );

    let clash = service(
        "other",
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": ports[0]}]}),
    );
    let (field, message) = refused(&api, &clash).await;
    assert_eq!(field, "spec.ports[0].nodePort");
    assert!(
        message.contains("provided port is already allocated"),
        "{message}"
    );

    let outside = service(
        "far",
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 31000}]}),
    );
    let (field, message) = refused(&api, &outside).await;
    assert_eq!(field, "spec.ports[0].nodePort");
    assert!(message.contains("30000-30100"), "{message}");
}

#[tokio::test]
async fn deleting_a_service_releases_its_address_and_ports_for_others() {
    // A /29 holds six assignable addresses.
    let api = services(network("10.0.0.0/29", 30000..=30001)).await;
    let mut ips = BTreeSet::new();
    for i in 0..6 {
        let svc = api
            .create(
                &PostParams::default(),
                &service(&format!("s{i}"), json!({})),
            )
            .await
            .unwrap();
        ips.insert(cluster_ip(&svc));
    }
    assert_eq!(ips.len(), 6);
    let full = api
        .create(&PostParams::default(), &service("s6", json!({})))
        .await
        .unwrap_err();
    assert_eq!(full.code, 500);
    assert!(
        full.message.contains("range 10.0.0.0/29 is full"),
        "{}",
        full.message
    );

    let released = cluster_ip(&api.get("s3").await.unwrap());
    api.delete("s3", &DeleteParams::default()).await.unwrap();
    let again = api
        .create(
            &PostParams::default(),
            &service("s6", json!({"clusterIP": released.clone()})),
        )
        .await
        .unwrap();
    assert_eq!(cluster_ip(&again), released);

    // Node ports likewise.
    for name in ["s0", "s1"] {
        api.delete(name, &DeleteParams::default()).await.unwrap();
    }
    let with_port = service(
        "p0",
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30000}]}),
    );
    api.create(&PostParams::default(), &with_port)
        .await
        .unwrap();
    let clash = service(
        "p1",
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30000}]}),
    );
    assert_eq!(
        api.create(&PostParams::default(), &clash)
            .await
            .unwrap_err()
            .code,
        422
    );
    api.delete("p0", &DeleteParams::default()).await.unwrap();
    api.create(&PostParams::default(), &clash).await.unwrap();
}

#[tokio::test]
async fn changing_the_type_allocates_or_releases_node_ports() {
    let api = services(network("10.96.0.0/24", 30000..=30010)).await;
    api.create(&PostParams::default(), &service("web", json!({})))
        .await
        .unwrap();
    let to_node_port = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"type": "NodePort"}})),
        )
        .await
        .unwrap();
    let port = node_ports(&to_node_port)[0];
    assert!((30000..=30010).contains(&port));
    let clash = service(
        "other",
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": port}]}),
    );
    assert_eq!(
        api.create(&PostParams::default(), &clash)
            .await
            .unwrap_err()
            .code,
        422
    );

    let back = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"type": "ClusterIP"}})),
        )
        .await
        .unwrap();
    // As in Kubernetes, the node ports and external traffic policy the server filled in go.
    assert!(node_ports(&back).is_empty());
    assert_eq!(back.spec.as_ref().unwrap().external_traffic_policy, None);
    api.create(&PostParams::default(), &clash).await.unwrap();
}

#[tokio::test]
async fn a_failed_create_releases_what_it_allocated() {
    let api = services(network("10.96.0.0/24", 30000..=32767)).await;
    api.create(&PostParams::default(), &service("web", json!({})))
        .await
        .unwrap();
    let duplicate = service("web", json!({"clusterIP": "10.96.0.20"}));
    assert_eq!(
        api.create(&PostParams::default(), &duplicate)
            .await
            .unwrap_err()
            .code,
        409
    );
    let reuse = api
        .create(
            &PostParams::default(),
            &service("api", json!({"clusterIP": "10.96.0.20"})),
        )
        .await
        .unwrap();
    assert_eq!(cluster_ip(&reuse), "10.96.0.20");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_store_never_hand_out_an_address_twice() {
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::new());
    // A /26 holds 62 addresses; two servers race for 60 of them.
    let net = network("10.1.0.0/26", 30000..=32767);
    let a = services_over(kv.clone(), net.clone()).await;
    let b = services_over(kv.clone(), net).await;
    let create_all = |api: Api<Service>, prefix: &'static str| async move {
        let mut ips = Vec::new();
        for i in 0..30 {
            let svc = api
                .create(
                    &PostParams::default(),
                    &service(&format!("{prefix}{i}"), json!({})),
                )
                .await
                .unwrap();
            ips.push(cluster_ip(&svc));
        }
        ips
    };
    let (from_a, from_b) = tokio::join!(create_all(a, "a"), create_all(b, "b"));
    let all: BTreeSet<String> = from_a.iter().chain(&from_b).cloned().collect();
    assert_eq!(all.len(), 60, "an address was handed out twice");
}

#[tokio::test]
async fn allocations_survive_a_restart_of_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let net = network("10.2.0.0/29", 30000..=32767);
    let first_ips: BTreeSet<String> = {
        let kv: Arc<dyn KvStore> = Arc::new(DiskKv::open(dir.path()).unwrap());
        let api = services_over(kv, net.clone()).await;
        let mut ips = BTreeSet::new();
        for i in 0..3 {
            let svc = api
                .create(
                    &PostParams::default(),
                    &service(&format!("s{i}"), json!({})),
                )
                .await
                .unwrap();
            ips.insert(cluster_ip(&svc));
        }
        ips
    };
    let kv: Arc<dyn KvStore> = Arc::new(DiskKv::open(dir.path()).unwrap());
    let api = services_over(kv.clone(), net).await;
    let mut after = BTreeSet::new();
    for i in 3..6 {
        let svc = api
            .create(
                &PostParams::default(),
                &service(&format!("s{i}"), json!({})),
            )
            .await
            .unwrap();
        after.insert(cluster_ip(&svc));
    }
    assert!(first_ips.is_disjoint(&after), "{first_ips:?} vs {after:?}");
    let held = held_keys(kv.as_ref(), IP_ADDRESS_PREFIX).await;
    let all: BTreeSet<String> = first_ips.union(&after).cloned().collect();
    assert_eq!(held, all);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(24)
    ))]

    /// After any sequence of creates and deletes, the live services' addresses are distinct
    /// and exactly the held allocations.
    #[test]
    fn live_addresses_are_distinct_and_exactly_the_allocations(
        ops in proptest::collection::vec((any::<bool>(), 0usize..8), 1..40)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let kv = Arc::new(MemoryKv::new());
            let api = services_over(kv.clone(), network("10.3.0.0/28", 30000..=30003)).await;
            for (create, n) in ops {
                let name = format!("s{n}");
                if create {
                    let spec = if n % 2 == 0 { json!({"type": "NodePort"}) } else { json!({}) };
                    let _ = api.create(&PostParams::default(), &service(&name, spec)).await;
                } else {
                    let _ = api.delete(&name, &DeleteParams::default()).await;
                }
            }
            let live = api.list(&Default::default()).await.unwrap().items;
            let ips: Vec<String> = live.iter().map(|s| cluster_ip(s)).collect();
            let distinct: BTreeSet<&String> = ips.iter().collect();
            prop_assert_eq!(distinct.len(), ips.len());
            let held = held_keys(kv.as_ref(), IP_ADDRESS_PREFIX).await;
            let expected: BTreeSet<String> = ips.into_iter().collect();
            prop_assert_eq!(held, expected);
            let ports: Vec<i32> = live.iter().flat_map(|s| node_ports(s)).collect();
            let held_ports = held_keys(kv.as_ref(), "/registry/servicenodeports/").await;
            prop_assert_eq!(held_ports, ports.iter().map(i32::to_string).collect::<BTreeSet<_>>());
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn an_ipv4_cluster_refuses_services_that_need_ipv6_and_narrows_preferred_dual_stack() {
    let api = services(ServiceNetwork::default()).await;
    let (field, message) = refused(&api, &service("v6", json!({"ipFamilies": ["IPv6"]}))).await;
    assert_eq!(field, "spec.ipFamilies[0]");
    assert!(
        message.contains("not configured on this cluster"),
        "{message}"
    );
    let (field, message) = refused(
        &api,
        &service("dual", json!({"ipFamilyPolicy": "RequireDualStack"})),
    )
    .await;
    assert_eq!(field, "spec.ipFamilyPolicy");
    assert!(
        message.contains("not configured for dual-stack"),
        "{message}"
    );
    for name in ["v6", "dual"] {
        assert_eq!(api.get(name).await.unwrap_err().code, 404);
    }
    let preferred = api
        .create(
            &PostParams::default(),
            &service("pref", json!({"ipFamilyPolicy": "PreferDualStack"})),
        )
        .await
        .unwrap();
    let spec = preferred.spec.as_ref().unwrap();
    assert_eq!(spec.ip_families, Some(vec!["IPv4".to_owned()]));
    assert_eq!(spec.cluster_ips.as_ref().map(Vec::len), Some(1));
}
