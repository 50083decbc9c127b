//! Benchmarks of orchestra-api's selector hot paths:
//! `cargo bench -p orchestra-benches --bench selectors`.
//!
//! - parsing a typical label selector (what the API server does per list/watch request);
//! - matching a 3-requirement label selector against a 10-label object, when it matches and
//!   when it misses on its last requirement (what controllers and the scheduler do per object
//!   and node);
//! - matching `spec.nodeName=…` on a Pod (what the watch cache does per pod for every kubelet).

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use orchestra_api::{FieldSelector, LabelSelector};

/// A selector as a Deployment or a `kubectl get -l` typically writes it.
const TYPICAL: &str =
    "app.kubernetes.io/name=web,environment in (production, staging),tier!=cache,!canary";

/// The labels of a typical workload pod: ten, with the ones the selector asks about.
fn pod_labels(tier: &str) -> BTreeMap<String, String> {
    [
        ("app.kubernetes.io/name", "web"),
        ("app.kubernetes.io/instance", "web-7d9f"),
        ("app.kubernetes.io/version", "1.27.3"),
        ("app.kubernetes.io/component", "frontend"),
        ("app.kubernetes.io/part-of", "shop"),
        ("app.kubernetes.io/managed-by", "orchestra"),
        ("environment", "production"),
        ("pod-template-hash", "7d9f8c6b5"),
        ("team", "storefront"),
        ("tier", tier),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn selectors(c: &mut Criterion) {
    c.bench_function("label_selector/parse_typical", |b| {
        b.iter(|| black_box(TYPICAL).parse::<LabelSelector>())
    });

    let selector: LabelSelector =
        "app.kubernetes.io/name=web,environment in (production,staging),tier notin (cache,db)"
            .parse()
            .expect("the benchmark selector parses");
    let hit = pod_labels("frontend");
    let miss = pod_labels("db");
    assert!(selector.matches(&hit) && !selector.matches(&miss));
    c.bench_function("label_selector/match_3_requirements_10_labels_hit", |b| {
        b.iter(|| black_box(&selector).matches(black_box(&hit)))
    });
    c.bench_function("label_selector/match_3_requirements_10_labels_miss", |b| {
        b.iter(|| black_box(&selector).matches(black_box(&miss)))
    });

    let on_node: FieldSelector = "spec.nodeName=node-0042".parse().expect("parses");
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some("web-7d9f8c6b5-x2x7q".into()),
            namespace: Some("shop".into()),
            labels: Some(pod_labels("frontend")),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some("node-0042".into()),
            ..PodSpec::default()
        }),
        ..Pod::default()
    };
    let elsewhere = Pod {
        spec: Some(PodSpec {
            node_name: Some("node-0043".into()),
            ..PodSpec::default()
        }),
        ..pod.clone()
    };
    assert!(on_node.matches(&pod) && !on_node.matches(&elsewhere));
    c.bench_function("field_selector/match_pod_node_name_hit", |b| {
        b.iter(|| black_box(&on_node).matches(black_box(&pod)))
    });
    c.bench_function("field_selector/match_pod_node_name_miss", |b| {
        b.iter(|| black_box(&on_node).matches(black_box(&elsewhere)))
    });
}

criterion_group!(benches, selectors);
criterion_main!(benches);
