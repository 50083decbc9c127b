//! Node IPAM against the in-process server: every node gets its own pod CIDR from the cluster
//! CIDR, CIDRs come back when nodes go, a restarted controller keeps the ones nodes have, an
//! exhausted range is reported with a `CIDRNotAvailable` Event — and, as properties, the CIDRs
//! handed out are disjoint and inside the cluster CIDR whatever the sequence of node additions
//! and deletions.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ipnet::IpNet;
use orchestra_api::k8s_openapi::api::core::v1::{Event, Namespace, Node, NodeSpec};
use orchestra_api::{
    Api, Client, DeleteParams, ListParams, PostParams, Served, StatusReason, WatchParams,
};
use orchestra_controller::builtin::node_ipam::{self, CidrSet, NodeIpamConfig, NodeIpamError};
use orchestra_controller::manager::Manager;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

use self::support::server;

const WAIT: Duration = Duration::from_secs(120);

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

async fn cluster_client() -> Arc<dyn Client> {
    let client: Arc<dyn Client> = server().await;
    let mut namespace = Namespace::default();
    namespace.metadata.name = Some("default".into());
    match Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
    {
        Ok(_) => {}
        Err(status) if status.is(&StatusReason::AlreadyExists) => {}
        Err(status) => panic!("{status}"),
    }
    client
}

/// A running controller manager with node IPAM; stops when dropped.
struct Ipam(JoinHandle<()>);

impl Drop for Ipam {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn start(client: &Arc<dyn Client>, config: NodeIpamConfig) -> Ipam {
    let manager = Manager::builder(client.clone()).build().unwrap();
    node_ipam::add_to(&manager, config).unwrap();
    Ipam(tokio::spawn(async move {
        manager.run(std::future::pending()).await
    }))
}

fn config(cluster: &str, mask: u8) -> NodeIpamConfig {
    NodeIpamConfig {
        cluster_cidrs: vec![net(cluster)],
        node_cidr_mask_size_ipv4: mask,
        ..NodeIpamConfig::default()
    }
}

/// Lists `K` until `check` answers, re-listing on every change.
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

async fn create_node(client: &Arc<dyn Client>, name: &str, pod_cidr: Option<&str>) {
    let mut node = Node::default();
    node.metadata.name = Some(name.into());
    if let Some(cidr) = pod_cidr {
        node.spec = Some(NodeSpec {
            pod_cidr: Some(cidr.into()),
            pod_cidrs: Some(vec![cidr.into()]),
            ..NodeSpec::default()
        });
    }
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await
        .unwrap();
}

async fn delete_node(client: &Arc<dyn Client>, name: &str) {
    Api::<Node>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
}

/// The pod CIDR of each node, once every node named in `names` has one.
async fn cidrs_once_assigned(
    client: &Arc<dyn Client>,
    names: &BTreeSet<String>,
) -> BTreeMap<String, IpNet> {
    until::<Node, _>(client, None, "every node to have a pod CIDR", |nodes| {
        let assigned: BTreeMap<String, IpNet> = nodes
            .iter()
            .filter_map(|n| {
                let spec = n.spec.as_ref()?;
                let cidr = spec.pod_cidr.as_deref()?.parse().ok()?;
                assert_eq!(
                    spec.pod_cidrs.as_deref(),
                    Some(&[spec.pod_cidr.clone().unwrap()][..]),
                    "podCIDRs lists the podCIDR"
                );
                Some((n.metadata.name.clone()?, cidr))
            })
            .collect();
        names
            .iter()
            .all(|name| assigned.contains_key(name))
            .then_some(assigned)
    })
    .await
}

fn assert_disjoint_and_inside(cidrs: &BTreeMap<String, IpNet>, cluster: IpNet) {
    let all: Vec<&IpNet> = cidrs.values().collect();
    for (i, a) in all.iter().enumerate() {
        assert!(cluster.contains(*a), "{a} lies outside {cluster}");
        for b in &all[i + 1..] {
            assert!(
                !a.contains(*b) && !b.contains(*a),
                "{a} and {b} overlap: {cidrs:?}"
            );
        }
    }
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|n| (*n).to_owned()).collect()
}

#[tokio::test]
async fn every_node_gets_its_own_pod_cidr_from_the_cluster_cidr() {
    let client = cluster_client().await;
    let _ipam = start(&client, NodeIpamConfig::default());
    for name in ["node-1", "node-2", "node-3"] {
        create_node(&client, name, None).await;
    }
    let cidrs = cidrs_once_assigned(&client, &names(&["node-1", "node-2", "node-3"])).await;
    assert_disjoint_and_inside(&cidrs, net("10.244.0.0/16"));
    assert!(cidrs.values().all(|c| c.prefix_len() == 24), "{cidrs:?}");
}

#[tokio::test]
async fn cidrs_nodes_already_have_are_kept_across_restarts_and_freed_with_the_node() {
    let client = cluster_client().await;
    // Nodes given CIDRs before this controller ever ran (or by an earlier run).
    create_node(&client, "old-1", Some("10.244.0.0/24")).await;
    create_node(&client, "old-2", Some("10.244.1.0/24")).await;
    let ipam = start(&client, NodeIpamConfig::default());
    create_node(&client, "new-1", None).await;
    let cidrs = cidrs_once_assigned(&client, &names(&["old-1", "old-2", "new-1"])).await;
    assert_eq!(cidrs["new-1"], net("10.244.2.0/24"));
    assert_eq!(
        cidrs["old-1"],
        net("10.244.0.0/24"),
        "existing CIDRs are left as they are"
    );

    // A restarted controller rebuilds its map from the nodes.
    drop(ipam);
    let ipam = start(&client, NodeIpamConfig::default());
    create_node(&client, "new-2", None).await;
    let cidrs = cidrs_once_assigned(&client, &names(&["old-1", "old-2", "new-1", "new-2"])).await;
    assert_disjoint_and_inside(&cidrs, net("10.244.0.0/16"));
    drop(ipam);

    // A small range: deleting a node frees its CIDR for the next one.
    let client = cluster_client().await;
    let _ipam = start(&client, config("10.10.0.0/23", 24));
    create_node(&client, "a", None).await;
    create_node(&client, "b", None).await;
    let cidrs = cidrs_once_assigned(&client, &names(&["a", "b"])).await;
    delete_node(&client, "a").await;
    create_node(&client, "c", None).await;
    let after = cidrs_once_assigned(&client, &names(&["b", "c"])).await;
    assert_eq!(
        after["c"], cidrs["a"],
        "the freed CIDR is the only one left"
    );
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_range_is_reported_and_the_node_waits_for_a_free_cidr() {
    let client = cluster_client().await;
    let _ipam = start(&client, config("10.10.0.0/23", 24));
    for name in ["a", "b", "c"] {
        create_node(&client, name, None).await;
    }
    let event = until::<Event, _>(
        &client,
        Some("default"),
        "a CIDRNotAvailable Event",
        |events| {
            events
                .iter()
                .find(|e| e.reason.as_deref() == Some("CIDRNotAvailable"))
                .cloned()
        },
    )
    .await;
    let waiting = event.involved_object.name.clone().unwrap();
    assert_eq!(event.involved_object.kind.as_deref(), Some("Node"));
    assert_eq!(
        event.message.as_deref(),
        Some(format!("Node {waiting} status is now: CIDRNotAvailable").as_str())
    );
    assert_eq!(event.type_.as_deref(), Some("Normal"));

    let others: BTreeSet<String> = ["a", "b", "c"]
        .into_iter()
        .filter(|n| *n != waiting)
        .map(str::to_owned)
        .collect();
    let cidrs = cidrs_once_assigned(&client, &others).await;
    let nodes = Api::<Node>::all(client.clone())
        .get(&waiting)
        .await
        .unwrap();
    assert!(
        nodes
            .spec
            .as_ref()
            .and_then(|s| s.pod_cidr.as_ref())
            .is_none()
    );

    let freed = others.iter().next().unwrap().clone();
    delete_node(&client, &freed).await;
    let after = cidrs_once_assigned(&client, &BTreeSet::from([waiting.clone()])).await;
    assert_eq!(
        after[&waiting], cidrs[&freed],
        "the waiting node gets the freed CIDR"
    );
}

#[tokio::test]
async fn node_cidrs_overlapping_the_service_range_are_never_handed_out() {
    let client = cluster_client().await;
    let _ipam = start(
        &client,
        NodeIpamConfig {
            cluster_cidrs: vec![net("10.96.0.0/16")],
            service_cidrs: vec![net("10.96.0.0/22")],
            ..NodeIpamConfig::default()
        },
    );
    create_node(&client, "node-1", None).await;
    let cidrs = cidrs_once_assigned(&client, &names(&["node-1"])).await;
    assert_eq!(cidrs["node-1"], net("10.96.4.0/24"));
}

#[tokio::test]
async fn unusable_configurations_are_refused() {
    let client = cluster_client().await;
    let manager = Manager::builder(client).build().unwrap();
    let refused = |config: NodeIpamConfig| node_ipam::add_to(&manager, config).unwrap_err();
    assert_eq!(
        refused(NodeIpamConfig {
            cluster_cidrs: vec![],
            ..NodeIpamConfig::default()
        }),
        NodeIpamError::NoClusterCidr
    );
    assert!(matches!(
        refused(NodeIpamConfig {
            cluster_cidrs: vec![net("10.0.0.0/16"), net("10.1.0.0/16")],
            ..NodeIpamConfig::default()
        }),
        NodeIpamError::OneCidrPerFamily(_)
    ));
    assert!(matches!(
        refused(config("10.0.0.0/16", 12)),
        NodeIpamError::CidrSet(_)
    ));
    // Dual-stack: one CIDR per family is fine.
    let dual = NodeIpamConfig {
        cluster_cidrs: vec![net("10.0.0.0/16"), net("fd00:10::/56")],
        ..NodeIpamConfig::default()
    };
    assert!(node_ipam::add_to(&manager, dual).is_ok());
}

#[tokio::test]
async fn dual_stack_nodes_get_one_cidr_per_family() {
    let client = cluster_client().await;
    let _ipam = start(
        &client,
        NodeIpamConfig {
            cluster_cidrs: vec![net("10.0.0.0/16"), net("fd00:10::/56")],
            ..NodeIpamConfig::default()
        },
    );
    create_node(&client, "node-1", None).await;
    let cidrs = until::<Node, _>(&client, None, "dual-stack CIDRs", |nodes| {
        nodes
            .iter()
            .find_map(|n| n.spec.as_ref()?.pod_cidrs.clone())
    })
    .await;
    assert_eq!(cidrs, ["10.0.0.0/24", "fd00:10::/64"]);
}

/// One step of a property run.
#[derive(Debug, Clone)]
enum Step {
    /// Add a node without a CIDR.
    Add,
    /// Delete the n-th live node (modulo their number).
    Delete(usize),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        prop_oneof![3 => Just(Step::Add), 2 => any::<usize>().prop_map(Step::Delete)],
        1..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Against the running controller: after each node addition or deletion, once every live
    /// node has a CIDR (there is room: the range holds 8 and at most 8 live), the CIDRs are
    /// disjoint and inside the cluster CIDR.
    #[test]
    fn assigned_node_cidrs_are_disjoint_and_inside_the_cluster_cidr(steps in steps()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = cluster_client().await;
            let cluster = net("10.20.0.0/21");
            let _ipam = start(&client, config("10.20.0.0/21", 24));
            let mut live: Vec<String> = Vec::new();
            let mut next = 0;
            for step in steps {
                match step {
                    Step::Add if live.len() < 8 => {
                        let name = format!("node-{next}");
                        next += 1;
                        create_node(&client, &name, None).await;
                        live.push(name);
                    }
                    Step::Add => continue,
                    Step::Delete(_) if live.is_empty() => continue,
                    Step::Delete(n) => {
                        let name = live.remove(n % live.len());
                        delete_node(&client, &name).await;
                    }
                }
                let wanted: BTreeSet<String> = live.iter().cloned().collect();
                let cidrs = cidrs_once_assigned(&client, &wanted).await;
                assert_disjoint_and_inside(&cidrs, cluster);
            }
        });
    }

    /// The CIDR set alone, over longer sequences: what it hands out is disjoint, inside the
    /// cluster CIDR and of the node mask; it refuses only when full; its count is exact.
    #[test]
    fn a_cidr_set_hands_out_disjoint_cidrs_inside_the_cluster_cidr(
        ops in proptest::collection::vec((any::<bool>(), any::<usize>()), 1..200),
        cluster_prefix in 20u8..=26,
        extra_bits in 0u8..=5,
    ) {
        let cluster = IpNet::new("10.30.0.0".parse().unwrap(), cluster_prefix).unwrap().trunc();
        let node_prefix = cluster_prefix + extra_bits;
        let mut set = CidrSet::new(cluster, node_prefix).unwrap();
        let mut held: Vec<IpNet> = Vec::new();
        for (allocate, pick) in ops {
            if allocate || held.is_empty() {
                match set.allocate_next() {
                    Ok(cidr) => {
                        prop_assert!(cluster.contains(&cidr));
                        prop_assert_eq!(cidr.prefix_len(), node_prefix);
                        for other in &held {
                            prop_assert!(!other.contains(&cidr) && !cidr.contains(other));
                        }
                        held.push(cidr);
                    }
                    Err(_) => prop_assert_eq!(held.len(), set.capacity()),
                }
            } else {
                let cidr = held.swap_remove(pick % held.len());
                set.release(cidr).unwrap();
            }
            prop_assert_eq!(set.allocated(), held.len());
        }
    }
}
