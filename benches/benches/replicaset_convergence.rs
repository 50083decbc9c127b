//! Reconcile throughput of the ReplicaSet controller: N ReplicaSets of 10 replicas created at
//! once over `LocalClient` with `MemoryKv` converge to N × 10 pods —
//! `cargo bench -p orchestra-benches --bench replicaset_convergence`.
//!
//! One long measurement, not a criterion loop: the controller manager (the ReplicaSet
//! controller with kube-controller-manager's defaults: 5 workers, slow-start batches, a
//! status write per change, an Event per created pod through the bounded event queue) runs
//! in the process; the bench creates every ReplicaSet (64 requests in flight) and waits until
//! the controller's pod cache holds N × 10 pods and every ReplicaSet's status reports its 10
//! replicas. It prints the time to converge, pods per second and the peak resident memory of
//! the process (`VmHWM`).
//!
//! `RS_CONVERGENCE_SETS` sets N: 10,000 (the 100,000 pods) under `cargo bench`, 50
//! when the bench runs as a test (`cargo test --benches`), so CI stays quick.
//! `RS_CONVERGENCE_WORKERS` sets the controller's workers (default 5, Kubernetes'
//! `--concurrent-replicaset-syncs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{Container, Event, Namespace, Pod, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use orchestra_api::{Api, Client, ListParams, PostParams, kinds};
use orchestra_controller::builtin::replicaset::{self, ReplicaSetConfig};
use orchestra_controller::manager::Manager;
use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};

const REPLICAS: i32 = 10;
const NAMESPACE: &str = "bench";

fn replica_set(index: usize) -> ReplicaSet {
    let app = format!("app-{index}");
    let labels = [("app".to_owned(), app.clone())].into_iter().collect();
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(app),
            namespace: Some(NAMESPACE.into()),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(REPLICAS),
            selector: LabelSelector {
                match_labels: Some(labels),
                ..LabelSelector::default()
            },
            template: Some(PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(
                        [("app".to_owned(), format!("app-{index}"))]
                            .into_iter()
                            .collect(),
                    ),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "web".into(),
                        image: Some("nginx:1.27".into()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            }),
            ..ReplicaSetSpec::default()
        }),
        status: None,
    }
}

/// The peak resident set of this process, in MiB (`VmHWM` of `/proc/self/status`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

async fn run(sets: usize, workers: usize) {
    let store = Store::open(
        Arc::new(MemoryKv::new()),
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        StoreConfig::default(),
    )
    .await
    .expect("the store opens");
    let client: Arc<dyn Client> = Arc::new(LocalClient::new(store));
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(NAMESPACE.into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("the namespace is created");
    let manager = Manager::builder(client.clone()).build().expect("a manager");
    replicaset::add_to(
        &manager,
        ReplicaSetConfig {
            concurrent_replica_set_syncs: workers,
            replication_controllers: false,
            ..ReplicaSetConfig::default()
        },
    );
    let pods = manager.factory().informer::<Pod>().cache();
    let replica_sets = manager.factory().informer::<ReplicaSet>().cache();
    let running = tokio::spawn({
        let manager = manager.clone();
        async move { manager.run(std::future::pending()).await }
    });
    manager
        .factory()
        .wait_for_cache_sync()
        .await
        .expect("the caches sync");

    let started = Instant::now();
    let api = Api::<ReplicaSet>::namespaced(client.clone(), NAMESPACE);
    futures::stream::iter(0..sets)
        .map(|i| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &replica_set(i))
                    .await
                    .expect("the replica set is created");
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
    let created = started.elapsed();

    let want = sets * REPLICAS as usize;
    let mut pods_at = None;
    loop {
        if pods_at.is_none() && pods.len() >= want {
            pods_at = Some(started.elapsed());
        }
        if pods_at.is_some()
            && replica_sets.len() == sets
            && replica_sets
                .list()
                .iter()
                .all(|rs| rs.status.as_ref().is_some_and(|s| s.replicas == REPLICAS))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let converged = started.elapsed();
    assert_eq!(pods.len(), want, "exactly {want} pods, none created twice");
    let pods_at = pods_at.unwrap_or(converged);
    let events = Api::<Event>::namespaced(client.clone(), NAMESPACE)
        .list(&ListParams::default())
        .await
        .map_or(0, |list| list.items.len());
    println!(
        "replicaset_convergence: sets={sets} replicas={REPLICAS} pods={want} workers={workers} \
         create_sets_seconds={:.2} pods_seconds={:.2} converge_seconds={:.2} \
         pods_per_second={:.0} events={events} peak_rss_mib={:.0}",
        created.as_secs_f64(),
        pods_at.as_secs_f64(),
        converged.as_secs_f64(),
        want as f64 / pods_at.as_secs_f64(),
        peak_rss_mib().unwrap_or(f64::NAN),
    );
    running.abort();
}

fn main() {
    let benching = std::env::args().any(|arg| arg == "--bench");
    let sets = std::env::var("RS_CONVERGENCE_SETS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if benching { 10_000 } else { 50 });
    let workers = std::env::var("RS_CONVERGENCE_WORKERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(sets, workers));
}
