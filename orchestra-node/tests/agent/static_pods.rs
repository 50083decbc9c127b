//! Static pods: run from manifest files and mirrored to the API.

use std::time::Duration;

use crate::support::*;
use orchestra_api::DeleteParams;
use orchestra_node::SimRuntime;

const MANIFEST: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: etcd
  labels:
    component: etcd
spec:
  containers:
  - name: etcd
    image: registry.k8s.io/etcd:3.5.21-0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_pod_runs_and_is_mirrored_until_its_manifest_is_removed() {
    let client = server().await;
    let dir = std::env::temp_dir().join(format!("orchestra-static-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("etcd.yaml"), MANIFEST).unwrap();
    let mut config = fast_config("node-1");
    config.static_pod_path = Some(dir.clone());
    let agent = start_agent(&client, config, SimRuntime::new());

    let mirror = wait_running_ready(&client, "etcd-node-1").await;
    let annotations = mirror.metadata.annotations.as_ref().unwrap();
    assert!(annotations.contains_key("kubernetes.io/config.mirror"));
    assert_eq!(annotations["kubernetes.io/config.source"], "file");
    assert_eq!(
        annotations["kubernetes.io/config.mirror"],
        annotations["kubernetes.io/config.hash"]
    );
    let owner = &mirror.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Node", "node-1")
    );
    assert_eq!(owner.controller, Some(true));
    let node_uid = nodes(&client)
        .get("node-1")
        .await
        .unwrap()
        .metadata
        .uid
        .clone()
        .unwrap();
    assert_eq!(owner.uid, node_uid);
    assert_eq!(agent.sim.counts(), (1, 1), "one sandbox, one container");

    // Deleting the mirror does not stop the static pod; the agent mirrors it again.
    pods(&client)
        .delete(
            "etcd-node-1",
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
    let again = wait_for_pod(
        &client,
        "etcd-node-1",
        "mirrored again",
        Duration::from_secs(10),
        |p| p.metadata.uid != mirror.metadata.uid && phase(p) == Some("Running"),
    )
    .await;
    assert_eq!(
        again.status.as_ref().unwrap().pod_ip,
        mirror.status.as_ref().unwrap().pod_ip,
        "the same sandbox kept running"
    );
    assert_eq!(agent.sim.counts(), (1, 1));

    // Removing the manifest stops the pod and deletes the mirror.
    std::fs::remove_file(dir.join("etcd.yaml")).unwrap();
    wait_for("the mirror pod to go", Duration::from_secs(10), || {
        let api = pods(&client);
        async move {
            api.get_opt("etcd-node-1")
                .await
                .ok()?
                .is_none()
                .then_some(())
        }
    })
    .await;
    wait_for("the static pod to stop", Duration::from_secs(10), || {
        let sim = agent.sim.clone();
        async move { (sim.counts() == (0, 0)).then_some(()) }
    })
    .await;
    agent.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_pod_runs_while_the_api_is_unreachable_and_is_mirrored_once_it_is_back() {
    let server = server().await;
    let dir = std::env::temp_dir().join(format!("orchestra-static-offline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("etcd.yaml"), MANIFEST).unwrap();
    let mut config = fast_config("node-1");
    config.static_pod_path = Some(dir.clone());
    let link = Switch::new(&server, false);
    let client: std::sync::Arc<dyn orchestra_api::Client> = link.clone();
    let agent = start_agent(&client, config, SimRuntime::new());

    wait_for(
        "the static pod to run without the API",
        Duration::from_secs(10),
        || {
            let sim = agent.sim.clone();
            async move { (sim.counts() == (1, 1)).then_some(()) }
        },
    )
    .await;
    assert!(
        pods(&server)
            .get_opt("etcd-node-1")
            .await
            .unwrap()
            .is_none()
    );

    link.set_up(true);
    let mirror = wait_running_ready(&server, "etcd-node-1").await;
    assert!(
        mirror
            .metadata
            .annotations
            .as_ref()
            .unwrap()
            .contains_key("kubernetes.io/config.mirror")
    );
    assert_eq!(agent.sim.counts(), (1, 1), "the same pod, not a second one");
    agent.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
