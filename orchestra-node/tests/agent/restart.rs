//! An agent that restarts takes over what its predecessor started.

use std::time::Duration;

use crate::support::*;
use orchestra_node::SimRuntime;
use orchestra_node::cri::{ContainerFilter, PodSandboxFilter, RuntimeService};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_re_attaches_to_its_sandboxes_and_containers_without_duplicates() {
    let client = server().await;
    let sim = SimRuntime::new();
    let first = start_agent(&client, fast_config("node-1"), sim.clone());
    create(&client, &simple_pod("web", "node-1", &[])).await;
    create(&client, &simple_pod("poked", "node-1", &[])).await;
    create(
        &client,
        &simple_pod(
            "crasher",
            "node-1",
            &[
                ("sim.orchestra.dev/exit-after", "0s"),
                ("sim.orchestra.dev/exit-code", "1"),
            ],
        ),
    )
    .await;
    let before = wait_running_ready(&client, "web").await;
    wait_for_pod(
        &client,
        "crasher",
        "restarted",
        Duration::from_secs(10),
        |p| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|c| c.first())
                .is_some_and(|c| c.restart_count >= 2)
        },
    )
    .await;
    let poked = wait_running_ready(&client, "poked").await;
    first.stop().await;

    // While no agent runs, one container dies.
    let poked_uid = poked.metadata.uid.clone().unwrap();
    let victim = sim
        .list_containers(&ContainerFilter::for_pod(&poked_uid))
        .await
        .unwrap();
    sim.stop_container(&victim[0].id, Duration::ZERO)
        .await
        .unwrap();

    let second = start_agent(&client, fast_config("node-1"), sim.clone());
    // A pod created after the restart runs: the new agent is syncing.
    create(&client, &simple_pod("later", "node-1", &[])).await;
    wait_running_ready(&client, "later").await;
    // The new agent restarts the container that died, in the sandbox it finds.
    let poked_again = wait_for_pod(
        &client,
        "poked",
        "restarted by the new agent",
        Duration::from_secs(10),
        |p| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|c| c.first())
                .is_some_and(|c| c.restart_count == 1 && c.ready)
        },
    )
    .await;
    assert_eq!(
        poked_again.status.as_ref().unwrap().pod_ip,
        poked.status.as_ref().unwrap().pod_ip
    );
    assert_eq!(
        sim.list_pod_sandbox(&PodSandboxFilter::for_pod(&poked_uid))
            .await
            .unwrap()
            .len(),
        1
    );
    // Duplicates would appear at the latest at the next sync of the pod: wait for one to
    // pass before counting.
    let uid = before.metadata.uid.clone().unwrap();
    second
        .runtime
        .wait_for_a_later_sync(&uid, Duration::from_secs(10))
        .await;

    let web = pods(&client).get("web").await.unwrap();
    let sandboxes = sim
        .list_pod_sandbox(&PodSandboxFilter::for_pod(&uid))
        .await
        .unwrap();
    let containers = sim
        .list_containers(&ContainerFilter::for_pod(&uid))
        .await
        .unwrap();
    assert_eq!(sandboxes.len(), 1, "no second sandbox");
    assert_eq!(containers.len(), 1, "no second container");
    let status = web.status.as_ref().unwrap();
    assert_eq!(status.pod_ip, before.status.as_ref().unwrap().pod_ip);
    let app = &status.container_statuses.as_ref().unwrap()[0];
    assert_eq!(app.restart_count, 0);
    assert_eq!(
        app.container_id,
        before
            .status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .unwrap()[0]
            .container_id
    );
    assert_eq!(phase(&web), Some("Running"));

    // The crashing container's restart count carries on from the runtime's record.
    let crasher = pods(&client).get("crasher").await.unwrap();
    let crasher_uid = crasher.metadata.uid.clone().unwrap();
    assert_eq!(
        sim.list_pod_sandbox(&PodSandboxFilter::for_pod(&crasher_uid))
            .await
            .unwrap()
            .len(),
        1
    );
    let restarts = crasher
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0]
        .restart_count;
    assert!(restarts >= 2, "{restarts}");
    second.stop().await;
}
