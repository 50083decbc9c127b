//! Benchmarks of orchestra-api's quantity hot paths:
//! `cargo bench -p orchestra-benches --bench quantity`.
//!
//! - parsing the quantities manifests are made of (`100m`, `1.5Gi`, `2`, `128974848`, `1e3`),
//!   one by one and as a mix: what decoding every pod, node and quota costs;
//! - writing them back in canonical form, into a fresh `String` and into a reused buffer: what
//!   encoding and `kubectl get` output cost;
//! - reading a pod's requests into a `ResourceList`, and the scheduler's arithmetic on it:
//!   adding a pod's requests to a node's, and checking a pod against a node (fits, does not
//!   fit, naming what is insufficient).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use orchestra_api::{Quantity, ResourceList};

/// Quantities as manifests write them: millicores, fractional binary memory, a whole number, a
/// byte count, an exponent.
const MIX: [&str; 5] = ["100m", "1.5Gi", "2", "128974848", "1e3"];

fn parse_all(inputs: &[&str]) -> Vec<Quantity> {
    inputs
        .iter()
        .map(|s| s.parse().expect("the benchmark quantities parse"))
        .collect()
}

fn wire(pairs: &[(&str, &str)]) -> BTreeMap<String, K8sQuantity> {
    pairs
        .iter()
        .map(|(name, q)| (name.to_string(), K8sQuantity(q.to_string())))
        .collect()
}

fn resource_list(pairs: &[(&str, &str)]) -> ResourceList {
    ResourceList::from_k8s(&wire(pairs)).expect("the benchmark resource lists parse")
}

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("quantity/parse");
    for input in MIX {
        group.bench_function(input, |b| b.iter(|| black_box(input).parse::<Quantity>()));
    }
    group.bench_function("mix_of_5", |b| {
        b.iter(|| {
            for input in MIX {
                black_box(black_box(input).parse::<Quantity>().ok());
            }
        })
    });
    group.finish();
}

fn formatting(c: &mut Criterion) {
    let quantities = parse_all(&MIX);
    let mut group = c.benchmark_group("quantity/format");
    for (input, quantity) in MIX.iter().zip(&quantities) {
        group.bench_function(*input, |b| b.iter(|| black_box(quantity).to_string()));
    }
    group.bench_function("mix_of_5_to_string", |b| {
        b.iter(|| {
            for quantity in &quantities {
                black_box(black_box(quantity).to_string());
            }
        })
    });
    let mut buffer = String::with_capacity(64);
    group.bench_function("mix_of_5_into_reused_buffer", |b| {
        b.iter(|| {
            for quantity in &quantities {
                buffer.clear();
                let _ = write!(buffer, "{}", black_box(quantity));
                black_box(&buffer);
            }
        })
    });
    group.finish();
}

fn resource_lists(c: &mut Criterion) {
    let pod_requests = wire(&[
        ("cpu", "250m"),
        ("memory", "512Mi"),
        ("ephemeral-storage", "1Gi"),
    ]);
    let pod = resource_list(&[
        ("cpu", "250m"),
        ("memory", "512Mi"),
        ("ephemeral-storage", "1Gi"),
    ]);
    let big_pod = resource_list(&[("cpu", "3"), ("memory", "48Gi"), ("nvidia.com/gpu", "1")]);
    let allocatable = resource_list(&[
        ("cpu", "15890m"),
        ("ephemeral-storage", "95551679124"),
        ("hugepages-1Gi", "0"),
        ("hugepages-2Mi", "0"),
        ("memory", "64915072Ki"),
        ("pods", "110"),
    ]);
    let requested = resource_list(&[
        ("cpu", "14"),
        ("ephemeral-storage", "20Gi"),
        ("memory", "32Gi"),
    ]);
    assert!(pod.fits_in(&allocatable) && pod.fits_in_with_used(&requested, &allocatable));
    assert!(!big_pod.fits_in_with_used(&requested, &allocatable));

    let mut group = c.benchmark_group("resource_list");
    group.bench_function("from_k8s_pod_requests_3", |b| {
        b.iter(|| ResourceList::from_k8s(black_box(&pod_requests)))
    });
    group.bench_function("add_pod_to_node_requested", |b| {
        b.iter_batched_ref(
            || requested.clone(),
            |node| node.add(black_box(&pod)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("fits_in_allocatable_hit", |b| {
        b.iter(|| black_box(&pod).fits_in(black_box(&allocatable)))
    });
    group.bench_function("fits_in_with_used_hit", |b| {
        b.iter(|| black_box(&pod).fits_in_with_used(black_box(&requested), black_box(&allocatable)))
    });
    group.bench_function("fits_in_with_used_miss", |b| {
        b.iter(|| {
            black_box(&big_pod).fits_in_with_used(black_box(&requested), black_box(&allocatable))
        })
    });
    group.bench_function("insufficient_names_miss", |b| {
        b.iter(|| {
            black_box(&big_pod)
                .insufficient_in_with_used(black_box(&requested), black_box(&allocatable))
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, parsing, formatting, resource_lists);
criterion_main!(benches);
