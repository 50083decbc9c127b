//! Acknowledged writes per second of every `KvStore` backend:
//! `cargo bench -p orchestra-benches --bench kvstore`.
//!
//! Each write is an unconditional `put` of a new 256-byte key with a 1 KiB value, the shape
//! `etcdctl check perf` writes, so the `EtcdKv` figures compare with etcd's own:
//!
//! * `kvstore/memory/1`: `MemoryKv`, one writer (target: 500,000 writes/s);
//! * `kvstore/disk/{1,64}`: `DiskKv` with 1 and 64 concurrent writers, every write fsynced
//!   before it is acknowledged (target with 64: 20,000 writes/s);
//! * `kvstore/etcd/{1,64}`: `EtcdKv` against a local etcd started by the bench (target: 80% of
//!   etcd's own figure).
//!
//! Before the etcd benchmarks, the setup runs `etcdctl check perf --load=l` (60 seconds, 500
//! clients) against a fresh etcd of its own and prints its throughput: etcd's own figure on the
//! same machine in the same run. Set `KVSTORE_BENCH_ETCD_PERF=0` to skip it, and
//! `KVSTORE_BENCH_ETCD=0` to skip every etcd benchmark.
//!
//! Criterion reports the time per write and, as `thrpt`, writes per second.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orchestra_store::{
    Bytes, DiskKv, EtcdKv, EtcdOptions, KvStore, LocalEtcd, MemoryKv, MemoryOptions,
};
use tokio::runtime::Runtime;

/// The key size of `etcdctl check perf`.
const KEY_SIZE: usize = 256;
/// The value size of `etcdctl check perf`.
const VALUE_SIZE: usize = 1024;

/// Makes distinct keys in a scattered (not ascending) order, as random keys would be.
struct Keys {
    next: AtomicU64,
}

impl Keys {
    fn new() -> Self {
        Keys {
            next: AtomicU64::new(0),
        }
    }

    fn next(&self) -> Bytes {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // An odd multiplier permutes the u64s: distinct, but not in ascending order.
        let scattered = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut key = format!("/bench/{scattered:016x}/").into_bytes();
        key.resize(KEY_SIZE, b'k');
        Bytes::from(key)
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Runs `iters` puts spread over `writers` concurrent tasks; returns the elapsed time.
fn put_many(
    runtime: &Runtime,
    store: &Arc<dyn KvStore>,
    keys: &Arc<Keys>,
    value: &Bytes,
    writers: u64,
    iters: u64,
) -> Duration {
    runtime.block_on(async {
        let start = Instant::now();
        if writers == 1 {
            for _ in 0..iters {
                store.put(keys.next(), value.clone()).await.expect("put");
            }
            return start.elapsed();
        }
        let tasks: Vec<_> = (0..writers)
            .map(|writer| {
                let share = iters / writers + u64::from(writer < iters % writers);
                let (store, keys, value) = (store.clone(), keys.clone(), value.clone());
                tokio::spawn(async move {
                    for _ in 0..share {
                        store.put(keys.next(), value.clone()).await.expect("put");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("writer task");
        }
        start.elapsed()
    })
}

/// Benchmarks `store` with each writer count, in the group `kvstore/<name>`.
fn bench_writes(
    c: &mut Criterion,
    runtime: &Runtime,
    name: &str,
    store: Arc<dyn KvStore>,
    writer_counts: &[u64],
    measurement: Duration,
) {
    let keys = Arc::new(Keys::new());
    let value = Bytes::from(vec![b'v'; VALUE_SIZE]);
    let mut group = c.benchmark_group(format!("kvstore/{name}"));
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(measurement);
    for &writers in writer_counts {
        group.bench_function(writers.to_string(), |b| {
            b.iter_custom(|iters| put_many(runtime, &store, &keys, &value, writers, iters))
        });
    }
    group.finish();
}

fn memory(c: &mut Criterion) {
    let runtime = runtime();
    // Keep the whole history: the benchmark measures writes, not compaction.
    let store: Arc<dyn KvStore> = Arc::new(MemoryKv::with_options(MemoryOptions {
        history_revisions: None,
        ..MemoryOptions::default()
    }));
    bench_writes(c, &runtime, "memory", store, &[1], Duration::from_secs(5));
}

fn disk(c: &mut Criterion) {
    let runtime = runtime();
    let dir = std::env::temp_dir().join(format!("orchestra-kvstore-bench-{}", std::process::id()));
    // Left over only if an earlier run with this pid was killed.
    let _ = std::fs::remove_dir_all(&dir);
    let store = DiskKv::open(&dir).expect("DiskKv opens");
    let handle = store.clone();
    bench_writes(
        c,
        &runtime,
        "disk",
        Arc::new(store),
        &[1, 64],
        Duration::from_secs(10),
    );
    let stats = handle.stats();
    println!(
        "DiskKv: {} writes in {} commits ({:.1} writes per fsync on average)",
        stats.operations,
        stats.commits,
        stats.operations as f64 / stats.commits.max(1) as f64
    );
    // Closed before its directory is removed.
    drop(handle);
    if let Err(error) = std::fs::remove_dir_all(&dir) {
        println!("could not remove {}: {error}", dir.display());
    }
}

/// Whether an environment switch is on (unset counts as on).
fn enabled(variable: &str) -> bool {
    std::env::var(variable).map_or(true, |value| value != "0")
}

/// etcd's own write throughput from `etcdctl check perf`, against a fresh etcd.
fn etcd_own_figure(runtime: &Runtime) {
    let etcd = runtime
        .block_on(LocalEtcd::start())
        .expect("etcd starts (Debian package etcd-server)");
    println!(
        "running `etcdctl check perf --load=l` against {} (60 s)...",
        etcd.endpoint()
    );
    let output = Command::new("etcdctl")
        .arg(format!("--endpoints={}", etcd.endpoint()))
        .args(["check", "perf", "--load=l"])
        .output();
    match output {
        Ok(output) => {
            let stdout = String::from_utf8_lossy(&output.stdout);
            let throughput = stdout.lines().find(|line| line.contains("Throughput"));
            match throughput.and_then(parse_writes_per_second) {
                Some(figure) => println!(
                    "etcd's own figure (etcdctl check perf --load=l: 500 clients, 256 B keys, 1 KiB values): {figure} writes/s; EtcdKv target (80%): {} writes/s",
                    figure * 8 / 10
                ),
                None => println!("etcdctl check perf printed no throughput:\n{stdout}"),
            }
        }
        Err(error) => println!("etcdctl could not run (Debian package etcd-client): {error}"),
    }
}

/// The number before "writes/s" in a `check perf` line.
fn parse_writes_per_second(line: &str) -> Option<u64> {
    let before = line.split(" writes/s").next()?;
    before.rsplit(' ').next()?.parse().ok()
}

fn etcd(c: &mut Criterion) {
    if !enabled("KVSTORE_BENCH_ETCD") {
        return;
    }
    let runtime = runtime();
    if enabled("KVSTORE_BENCH_ETCD_PERF") {
        etcd_own_figure(&runtime);
    }
    let etcd = runtime
        .block_on(LocalEtcd::start())
        .expect("etcd starts (Debian package etcd-server)");
    let store = runtime
        .block_on(EtcdKv::connect(&[etcd.endpoint()], EtcdOptions::default()))
        .expect("EtcdKv connects");
    bench_writes(
        c,
        &runtime,
        "etcd",
        Arc::new(store),
        &[1, 64],
        Duration::from_secs(10),
    );
}

criterion_group!(benches, memory, disk, etcd);
criterion_main!(benches);
