//! Watch cache benchmarks: `cargo bench -p orchestra-benches --bench watch_cache`.
//!
//! - `fan_out/1000_watchers`: one change delivered to 1,000 watchers (dispatch and the
//!   watchers draining their queues); throughput is deliveries per second.
//! - `list/10000_pods/*`: a list of 10,000 pods from the cache, whole, by namespace, by label
//!   and by node (index).
//! - Memory per cached pod is measured with a counting allocator and printed once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use futures::{FutureExt, StreamExt};
use orchestra_api::{ArcObject, FieldSelector, LabelSelector, kinds};
use orchestra_benches::fixtures::realistic_pod;
use orchestra_store::watch_cache::{Filter, WatchCache, WatchCacheConfig, WatchStart};

/// Counts live heap bytes so the bench can report memory per cached pod.
struct CountingAllocator;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call delegates to the system allocator with the caller's layout unchanged,
// and only adds bookkeeping on an atomic counter. A global allocator must be an `unsafe impl`;
// there is no safe way to observe heap usage precisely inside the process.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const PODS: usize = 10_000;

/// A cache holding `PODS` pods over 10 namespaces and 100 nodes, each decoded from JSON as
/// the store's feed would.
fn filled_cache() -> WatchCache {
    let cache = WatchCache::new(kinds::PODS.clone(), WatchCacheConfig::default());
    let objects = (0..PODS)
        .map(|i| {
            let ns = format!("ns-{}", i % 10);
            let name = format!("pod-{i:05}");
            let mut pod = realistic_pod(&ns, &name, &format!("node-{}", i % 100));
            pod.metadata.resource_version = Some("1".into());
            let json = serde_json::to_vec(&pod).expect("encodes");
            let decoded = kinds::PODS.codec.decode_json(&json).expect("decodes");
            (format!("{ns}/{name}"), Arc::from(decoded) as ArcObject)
        })
        .collect();
    cache.replace(objects, 1);
    cache
}

fn report_memory_per_pod() {
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let cache = filled_cache();
    let after = LIVE_BYTES.load(Ordering::Relaxed);
    println!(
        "memory per cached pod: {} bytes ({} pods, {} MiB in all, indexes included)",
        (after - before) / PODS as isize,
        cache.len(),
        (after - before) / (1024 * 1024)
    );
}

fn list(c: &mut Criterion) {
    report_memory_per_pod();
    let cache = filled_cache();
    let mut group = c.benchmark_group("list/10000_pods");
    group.throughput(Throughput::Elements(PODS as u64));
    group.bench_function("all", |b| {
        b.iter(|| cache.list(&Filter::everything(), None, None).items.len())
    });
    let by_namespace = Filter {
        namespace: Some("ns-3".into()),
        ..Filter::default()
    };
    group.bench_function("one_namespace", |b| {
        b.iter(|| cache.list(&by_namespace, None, None).items.len())
    });
    let by_label = Filter {
        labels: Some(
            "app=shop,tier in (frontend,backend),version!=v2"
                .parse::<LabelSelector>()
                .expect("parses"),
        ),
        ..Filter::default()
    };
    group.bench_function("label_selector", |b| {
        b.iter(|| cache.list(&by_label, None, None).items.len())
    });
    let by_node = Filter {
        fields: Some(
            "spec.nodeName=node-42"
                .parse::<FieldSelector>()
                .expect("parses"),
        ),
        ..Filter::default()
    };
    group.bench_function("node_index", |b| {
        b.iter(|| cache.list(&by_node, None, None).items.len())
    });
    group.finish();
}

const WATCHERS: usize = 1_000;
const EVENTS_PER_BATCH: usize = 100;

fn fan_out(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = runtime.enter();
    let config = WatchCacheConfig {
        history_capacity: 1_000,
        watcher_queue_capacity: EVENTS_PER_BATCH * 2,
    };
    let cache = WatchCache::new(kinds::PODS.clone(), config);
    let mut streams: Vec<_> = (0..WATCHERS)
        .map(|_| {
            cache
                .watch(WatchStart::After(0), Filter::everything(), false, false)
                .expect("watch starts")
        })
        .collect();
    let pod: ArcObject = Arc::new(realistic_pod("default", "web", "node-1"));
    let mut revision = 0i64;
    let mut group = c.benchmark_group("fan_out");
    group.throughput(Throughput::Elements((WATCHERS * EVENTS_PER_BATCH) as u64));
    group.bench_function("1000_watchers", |b| {
        b.iter_batched(
            || (),
            |()| {
                for _ in 0..EVENTS_PER_BATCH {
                    revision += 1;
                    let mut next = pod.clone_object();
                    next.metadata_mut().resource_version = Some(revision.to_string());
                    cache.apply(revision, "default/web", Some(Arc::from(next)));
                }
                let mut delivered = 0usize;
                for stream in &mut streams {
                    for _ in 0..EVENTS_PER_BATCH {
                        if let Some(Some(_)) = stream.next().now_or_never() {
                            delivered += 1;
                        }
                    }
                }
                assert_eq!(delivered, WATCHERS * EVENTS_PER_BATCH);
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, list, fan_out);
criterion_main!(benches);
