//! Many simulated nodes in one process: 200 agents with 10 pods each all reach Running.
//! A binary of its own, so that its load does not disturb the timing of the other tests.

// Shared with the other integration tests, of which this one uses a part.
#[allow(dead_code)]
#[path = "agent/observed_runtime.rs"]
mod observed_runtime;
#[allow(dead_code)]
#[path = "agent/support.rs"]
mod support;

use std::time::{Duration, Instant};

use orchestra_node::SimRuntime;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_agents_run_ten_pods_each() {
    const NODES: usize = 200;
    const PODS_PER_NODE: usize = 10;
    let client = server().await;
    let started = Instant::now();
    let mut agents = Vec::with_capacity(NODES);
    for n in 1..=NODES {
        let mut config = fast_config(&format!("node-{n}"));
        // Heartbeats at Kubernetes' pace: this test is about pods, not leases.
        config.node_lease_renew_interval = Duration::from_secs(10);
        config.node_status_update_frequency = Duration::from_secs(10);
        config.sync_frequency = Duration::from_secs(60);
        config.housekeeping_interval = Duration::from_secs(10);
        config.record_events = false;
        agents.push(start_agent(&client, config, SimRuntime::new()));
    }
    let api = pods(&client);
    let agents_started = started.elapsed();
    for n in 1..=NODES {
        for p in 0..PODS_PER_NODE {
            create(
                &client,
                &simple_pod(&format!("pod-{n}-{p}"), &format!("node-{n}"), &[]),
            )
            .await;
        }
    }
    let total = NODES * PODS_PER_NODE;
    let pods_created = started.elapsed();
    // Listing 2,000 pods is not free in a debug build: look four times a second.
    let deadline = Instant::now() + Duration::from_secs(60);
    let running = loop {
        let list = api.list(&Default::default()).await.expect("pods list");
        let running = list
            .items
            .iter()
            .filter(|p| phase(p) == Some("Running") && condition(p, "Ready") == Some("True"))
            .count();
        if running == total {
            break list.items;
        }
        assert!(
            Instant::now() < deadline,
            "only {running} of {total} pods Running after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let elapsed = started.elapsed();
    eprintln!(
        "{NODES} agents started in {agents_started:?}, {total} pods created by {pods_created:?}, all Running and Ready by {elapsed:?}"
    );
    // Every pod has its own address within its node's range.
    let mut ips: Vec<&str> = running
        .iter()
        .filter_map(|p| p.status.as_ref()?.pod_ip.as_deref())
        .collect();
    ips.sort_unstable();
    ips.dedup();
    assert_eq!(ips.len(), total, "pod IPs are unique across nodes");
    for agent in agents {
        agent.stop().await;
    }
}
