//! The agent's Node and Lease: registration, reuse on restart, heartbeat and status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use orchestra_api::k8s_openapi::api::coordination::v1::Lease;
use orchestra_api::k8s_openapi::api::core::v1::{Node, Taint};
use orchestra_api::{Api, PostParams};
use orchestra_node::SimRuntime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_registers_with_labels_capacity_and_taints_and_stays_ready_with_a_renewed_lease() {
    let client = server().await;
    let mut config = fast_config("node-1");
    config.zone = Some("zone-a".into());
    config.cpu = "8".parse().unwrap();
    config.memory = "32Gi".parse().unwrap();
    config.pods = 50;
    config.labels = BTreeMap::from([("tier".to_owned(), "edge".to_owned())]);
    config.taints = vec![Taint {
        key: "dedicated".into(),
        value: Some("edge".into()),
        effect: "NoSchedule".into(),
        time_added: None,
    }];
    let agent = start_agent(&client, config, SimRuntime::new());

    let node = wait_for("the node to be Ready", Duration::from_secs(10), || {
        let nodes = nodes(&client);
        async move {
            let node = nodes.get_opt("node-1").await.ok().flatten()?;
            let ready = node
                .status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            ready.then_some(node)
        }
    })
    .await;
    let labels = node.metadata.labels.clone().unwrap();
    assert_eq!(labels["kubernetes.io/hostname"], "node-1");
    assert_eq!(labels["kubernetes.io/os"], "linux");
    assert_eq!(labels["kubernetes.io/arch"], "amd64");
    assert_eq!(labels["topology.kubernetes.io/zone"], "zone-a");
    assert_eq!(labels["tier"], "edge");
    assert_eq!(
        node.spec.as_ref().unwrap().taints.as_ref().unwrap()[0].key,
        "dedicated"
    );
    let status = node.status.as_ref().unwrap();
    let capacity = status.capacity.as_ref().unwrap();
    assert_eq!(capacity["cpu"].0, "8");
    assert_eq!(capacity["memory"].0, "32Gi");
    assert_eq!(capacity["pods"].0, "50");
    assert_eq!(status.allocatable.as_ref().unwrap()["cpu"].0, "8");
    let conditions: Vec<(&str, &str)> = status
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| (c.type_.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(
        conditions,
        [
            ("MemoryPressure", "False"),
            ("DiskPressure", "False"),
            ("PIDPressure", "False"),
            ("Ready", "True")
        ]
    );
    let addresses: Vec<(&str, &str)> = status
        .addresses
        .as_ref()
        .unwrap()
        .iter()
        .map(|a| (a.type_.as_str(), a.address.as_str()))
        .collect();
    assert_eq!(
        addresses,
        [("InternalIP", "172.16.0.2"), ("Hostname", "node-1")]
    );
    let info = status.node_info.as_ref().unwrap();
    assert_eq!(info.kubelet_version, "v1.33.0");
    assert!(
        info.container_runtime_version.starts_with("sim://"),
        "{info:?}"
    );
    assert!(
        !status.images.as_ref().unwrap().is_empty(),
        "the pause image is listed"
    );

    // The Lease is renewed again and again.
    let leases = Api::<Lease>::namespaced(Arc::clone(&client), "kube-node-lease");
    let first = wait_for("a lease", Duration::from_secs(5), || {
        let leases = leases.clone();
        async move { leases.get_opt("node-1").await.ok().flatten() }
    })
    .await;
    let spec = first.spec.as_ref().unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("node-1"));
    assert_eq!(spec.lease_duration_seconds, Some(40));
    let owner = &first.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Node", "node-1")
    );
    let first_renewal = spec.renew_time.clone().unwrap().0;
    for _ in 0..2 {
        let before = first_renewal;
        wait_for("a later renewal", Duration::from_secs(5), || {
            let leases = leases.clone();
            async move {
                let lease = leases.get_opt("node-1").await.ok().flatten()?;
                let renewed = lease.spec.as_ref()?.renew_time.clone()?.0;
                (renewed > before).then_some(())
            }
        })
        .await;
    }
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_node_is_reused_and_its_default_labels_updated() {
    let client = server().await;
    let mut existing = Node::default();
    existing.metadata.name = Some("node-7".into());
    existing.metadata.labels = Some(BTreeMap::from([
        ("kubernetes.io/hostname".to_owned(), "old-name".to_owned()),
        ("team".to_owned(), "blue".to_owned()),
    ]));
    let existing = nodes(&client)
        .create(&PostParams::default(), &existing)
        .await
        .unwrap();
    let agent = start_agent(&client, fast_config("node-7"), SimRuntime::new());
    let node = wait_for(
        "the reused node to be labelled",
        Duration::from_secs(10),
        || {
            let nodes = nodes(&client);
            async move {
                let node = nodes.get_opt("node-7").await.ok().flatten()?;
                (node
                    .metadata
                    .labels
                    .as_ref()?
                    .get("kubernetes.io/hostname")?
                    == "node-7"
                    && node.status.as_ref()?.node_info.is_some())
                .then_some(node)
            }
        },
    )
    .await;
    assert_eq!(
        node.metadata.uid, existing.metadata.uid,
        "the same Node object"
    );
    assert_eq!(node.metadata.labels.as_ref().unwrap()["team"], "blue");
    agent.stop().await;
}

/// Waits until the node's Lease has been renewed `times` more times.
async fn lease_renewals(client: &Arc<dyn orchestra_api::Client>, node: &str, times: usize) {
    let leases = Api::<Lease>::namespaced(Arc::clone(client), "kube-node-lease");
    let mut last = None;
    for _ in 0..=times {
        let before = last;
        last = Some(
            wait_for("a lease renewal", Duration::from_secs(5), || {
                let leases = leases.clone();
                async move {
                    let lease = leases.get_opt(node).await.ok().flatten()?;
                    let renewed = lease.spec.as_ref()?.renew_time.clone()?.0;
                    before.is_none_or(|b| renewed > b).then_some(renewed)
                }
            })
            .await,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_node_status_is_not_posted_again_before_the_report_frequency() {
    let client = server().await;
    let mut config = fast_config("node-1");
    config.node_status_update_frequency = Duration::from_millis(100);
    config.node_status_report_frequency = Duration::from_secs(300);
    let agent = start_agent(&client, config, SimRuntime::new());
    let ready = wait_for("the node to be Ready", Duration::from_secs(10), || {
        let nodes = nodes(&client);
        async move {
            let node = nodes.get_opt("node-1").await.ok().flatten()?;
            node.status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
                .then_some(node)
        }
    })
    .await;
    // The agent keeps beating (the Lease) and computing its status (every 100 ms)…
    lease_renewals(&client, "node-1", 3).await;
    // …but posts nothing: nothing changed.
    let now = nodes(&client).get("node-1").await.unwrap();
    assert_eq!(
        now.metadata.resource_version,
        ready.metadata.resource_version
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_used_by_containers_brings_memory_pressure() {
    let client = server().await;
    let mut config = fast_config("node-1");
    config.memory = "1Gi".parse().unwrap();
    let agent = start_agent(&client, config, SimRuntime::new());
    create(
        &client,
        &simple_pod(
            "hog",
            "node-1",
            &[("sim.orchestra.dev/memory-usage", "950Mi")],
        ),
    )
    .await;
    let node = wait_for("MemoryPressure", Duration::from_secs(10), || {
        let nodes = nodes(&client);
        async move {
            let node = nodes.get_opt("node-1").await.ok().flatten()?;
            node.status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .any(|c| c.type_ == "MemoryPressure" && c.status == "True")
                .then_some(node)
        }
    })
    .await;
    let pressure = node
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "MemoryPressure")
        .unwrap()
        .clone();
    assert_eq!(
        pressure.reason.as_deref(),
        Some("KubeletHasInsufficientMemory")
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_condition_marked_unknown_by_the_control_plane_is_reported_again() {
    let client = server().await;
    let mut config = fast_config("node-1");
    config.node_status_report_frequency = Duration::from_secs(300);
    let agent = start_agent(&client, config, SimRuntime::new());
    let ready = |status: &str| {
        let status = status.to_owned();
        let client = client.clone();
        async move {
            let node = nodes(&client).get_opt("node-1").await.ok().flatten()?;
            node.status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == status)
                .then_some(node)
        }
    };
    wait_for("Ready", Duration::from_secs(10), || ready("True")).await;
    // What the node lifecycle controller does when the Lease runs out.
    let patch = serde_json::json!({"status": {"conditions": [
        {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}
    ]}});
    nodes(&client)
        .patch_status(
            "node-1",
            &Default::default(),
            &orchestra_api::Patch::Strategic(patch),
        )
        .await
        .unwrap();
    let node = wait_for("Ready again", Duration::from_secs(10), || ready("True")).await;
    let conditions = node.status.as_ref().unwrap().conditions.as_ref().unwrap();
    assert_eq!(conditions.len(), 4, "{conditions:?}");
    agent.stop().await;
}
