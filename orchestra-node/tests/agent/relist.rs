//! A runtime without container events: the agent notices exits by relisting (Kubernetes'
//! generic PLEG), and probes run through Kubernetes' prober (exec probes via `ExecSync`).

use std::sync::Arc;
use std::time::Duration;

use crate::observed_runtime::ObservedRuntime;
use crate::support::*;
use orchestra_node::{NodeAgent, SimRuntime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_container_events_exits_are_found_by_relisting_and_exec_probes_run_through_the_runtime()
 {
    let client = server().await;
    let mut config = fast_config("node-1");
    // No periodic resync to hide behind: only the relist notices exits.
    config.sync_frequency = Duration::from_secs(600);
    let agent = NodeAgent::builder(client.clone(), config)
        .runtime(Arc::new(ObservedRuntime::without_events(SimRuntime::new())))
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(agent.run(async move {
        let _ = stopped.await;
    }));
    create(
        &client,
        &simple_pod(
            "crasher",
            "node-1",
            &[
                ("sim.orchestra.dev/exit-after", "100ms"),
                ("sim.orchestra.dev/exit-code", "1"),
            ],
        ),
    )
    .await;
    wait_for_pod(
        &client,
        "crasher",
        "restarted twice",
        Duration::from_secs(15),
        |p| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|c| c.first())
                .is_some_and(|c| c.restart_count >= 2)
        },
    )
    .await;
    let probed = pod(
        "probed",
        "node-1",
        serde_json::json!({"spec": {"containers": [{
            "name": "app", "image": "nginx:1.27",
            "readinessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 1}
        }]}}),
    );
    create(&client, &probed).await;
    wait_running_ready(&client, "probed").await;
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}
