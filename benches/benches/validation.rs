//! Benchmarks of orchestra-api's validation hot paths:
//! `cargo bench -p orchestra-benches --bench validation`.
//!
//! What the registry runs on every write, on realistic objects (see `fixtures`):
//!
//! - `pod/create`: every create check of a pod with two containers, probes, resources, volumes,
//!   tolerations and affinity;
//! - `pod/update_status`: an update that changes only the pod's status, as a kubelet sends
//!   them (the immutability checks compare the whole old and new spec);
//! - `deployment/create`: a Deployment, with its template's pod checks and its selector
//!   against the template's labels;
//! - `pod/defaulting`: the defaults applied before validation, for comparison.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use orchestra_api::{defaulting, validation};
use orchestra_benches::fixtures::{realistic_deployment, realistic_pod};

fn validation(c: &mut Criterion) {
    let mut pod = realistic_pod("shop", "web-7d9f-x2kq4", "node-17");
    defaulting::default_object(&mut pod);
    assert!(
        validation::validate_create(&pod).is_empty(),
        "the fixture pod must be valid: {:?}",
        validation::validate_create(&pod)
    );
    let mut running = pod.clone();
    running.metadata.resource_version = Some("42".to_owned());
    pod.metadata.resource_version = Some("41".to_owned());
    if let Some(status) = running.status.as_mut() {
        status.phase = Some("Running".to_owned());
        status.pod_ip = Some("10.244.3.17".to_owned());
    }
    assert!(validation::validate_update(&running, &pod).is_empty());
    let mut deployment = realistic_deployment("shop", "web", 3);
    defaulting::default_object(&mut deployment);
    assert!(validation::validate_create(&deployment).is_empty());

    let mut group = c.benchmark_group("validation");
    group.bench_function("pod/create", |b| {
        b.iter(|| validation::validate_create(black_box(&pod)))
    });
    group.bench_function("pod/update_status", |b| {
        b.iter(|| validation::validate_update(black_box(&running), black_box(&pod)))
    });
    group.bench_function("deployment/create", |b| {
        b.iter(|| validation::validate_create(black_box(&deployment)))
    });
    let fresh = realistic_pod("shop", "web-7d9f-x2kq4", "node-17");
    group.bench_function("pod/defaulting", |b| {
        b.iter_batched(
            || fresh.clone(),
            |mut pod| {
                defaulting::default_object(&mut pod);
                pod
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, validation);
criterion_main!(benches);
