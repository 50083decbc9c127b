//! Inline CSI volumes are published through the node's CSI driver before the containers
//! start, and unpublished when the pod is gone.

use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use orchestra_api::DeleteParams;
use orchestra_api::k8s_openapi::api::core::v1::Event;
use orchestra_api::{Api, ListParams};
use orchestra_node::sim::SimVolumePlugin;
use orchestra_node::{NodeAgent, SimRuntime};

fn pod_with_volume(name: &str, driver: &str) -> orchestra_api::k8s_openapi::api::core::v1::Pod {
    pod(
        name,
        "node-1",
        serde_json::json!({"spec": {
            "volumes": [{"name": "scratch", "csi": {"driver": driver, "volumeAttributes": {"size": "1Gi"}}}],
            "containers": [{"name": "app", "image": "nginx:1.27",
                            "volumeMounts": [{"name": "scratch", "mountPath": "/data"}]}]
        }}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_csi_volumes_are_published_before_the_pod_runs_and_unpublished_after() {
    let client = server().await;
    let plugin = Arc::new(SimVolumePlugin::new("scratch.csi.orchestra.dev", "node-1"));
    let agent = NodeAgent::builder(client.clone(), fast_config("node-1"))
        .sim(SimRuntime::new())
        .volume_plugin(plugin.clone())
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(agent.run(async move {
        let _ = stopped.await;
    }));

    create(
        &client,
        &pod_with_volume("with-volume", "scratch.csi.orchestra.dev"),
    )
    .await;
    let pod = wait_running_ready(&client, "with-volume").await;
    let uid = pod.metadata.uid.clone().unwrap();
    let published = plugin.published();
    assert_eq!(published.len(), 1);
    let targets = published.values().next().unwrap();
    assert_eq!(
        targets.iter().next().unwrap(),
        &format!("/var/lib/kubelet/pods/{uid}/volumes/kubernetes.io~csi/scratch/mount")
    );

    // A volume of a driver the node does not have keeps its pod waiting.
    create(
        &client,
        &pod_with_volume("no-driver", "missing.csi.example.com"),
    )
    .await;
    let events = Api::<Event>::namespaced(client.clone(), "default");
    let failed = wait_for("a FailedMount event", Duration::from_secs(10), || {
        let events = events.clone();
        async move {
            events
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("FailedMount"))
        }
    })
    .await;
    assert!(
        failed
            .message
            .as_deref()
            .unwrap()
            .contains("not found in the list of registered CSI drivers"),
        "{failed:?}"
    );
    let waiting = pods(&client).get("no-driver").await.unwrap();
    assert_eq!(phase(&waiting), Some("Pending"));
    let reason = waiting
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0]
        .state
        .as_ref()
        .unwrap()
        .waiting
        .as_ref()
        .unwrap()
        .reason
        .clone();
    assert_eq!(reason.as_deref(), Some("ContainerCreating"));

    pods(&client)
        .delete("with-volume", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        "the volume to be unpublished",
        Duration::from_secs(10),
        || {
            let plugin = plugin.clone();
            async move { plugin.published().is_empty().then_some(()) }
        },
    )
    .await;
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}
