//! Request latency of the API server over HTTPS, as a component in another process sees it:
//! `cargo bench -p orchestra-benches --bench apiserver_https`.
//!
//! The server is the real `orchestra apiserver` binary in a process of its own (in-memory
//! store, loopback port, its own PKI and kubeconfig), found at `$ORCHESTRA_BIN`, else
//! `$CARGO_TARGET_DIR/release/orchestra`, else `target/release/orchestra` — build it first
//! with `cargo build --release -p orchestra-examples --bin orchestra`. Without the binary the
//! bench starts the same server in-process and says so. The client is `HttpClient` with the
//! server's admin kubeconfig: TLS 1.3, client certificate, HTTP/2.
//!
//! Criterion reports the mean time of sequential requests:
//!
//! * `apiserver_https/create_configmap`: create a small ConfigMap (validated, stored, answered);
//! * `apiserver_https/get_configmap`: read one ConfigMap;
//! * `apiserver_https/list_configmaps_100`: list a namespace of 100 ConfigMaps.
//!
//! Then the latency report prints p50 and p99 of 2,000 sequential requests per operation, and
//! of creates paced at 1,000 and 2,000 per second for 3 seconds each. Paced requests start on
//! a fixed schedule whatever the earlier ones are doing (open loop), and each latency runs
//! from the request's scheduled start, so a server that falls behind shows it in the tail
//! (no coordinated omission). The target: create p99 ≤ 10 ms at 2,000 creates/s.
//! Set `APISERVER_BENCH_REPORT=0` to skip the report.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use orchestra_api::{Api, Client, ListParams, PostParams};
use orchestra_client::HttpClient;
use tokio::runtime::Runtime;

const NAMESPACE: &str = "bench";

/// Where the server runs.
enum Server {
    /// The release binary in its own process.
    Process {
        child: Child,
        _dir: tempfile::TempDir,
    },
    /// In this process (the binary was not found).
    InProcess {
        _running: Box<orchestra_apiserver::server::RunningApiServer>,
        _stop: tokio::sync::oneshot::Sender<()>,
        _dir: tempfile::TempDir,
    },
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::Process { child, .. } = self {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

fn binary() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("ORCHESTRA_BIN").map(PathBuf::from),
        std::env::var_os("CARGO_TARGET_DIR")
            .map(|dir| PathBuf::from(dir).join("release").join("orchestra")),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/orchestra")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

/// Starts the server; returns it and its admin kubeconfig.
fn start_server(runtime: &Runtime) -> (Server, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    if let Some(bin) = binary() {
        let mut child = Command::new(&bin)
            .args(["apiserver", "--store", "memory", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", bin.display()));
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("the server's first line");
        assert!(
            first.starts_with("API server ready on https://"),
            "unexpected first line {first:?}"
        );
        println!("server: {} (process {})", bin.display(), child.id());
        return (Server::Process { child, _dir: dir }, kubeconfig);
    }
    println!("server: in-process (no release binary found; see the bench's docs)");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut config = orchestra_apiserver::server::ApiServerConfig::new(
        dir.path(),
        "127.0.0.1:0".parse().expect("addr"),
    );
    config.store = orchestra_apiserver::server::StoreBackend::Memory;
    let running = runtime
        .block_on(orchestra_apiserver::server::start(
            config,
            Box::pin(async move {
                let _ = stopped.await;
            }),
        ))
        .expect("the API server starts");
    let kubeconfig = running.kubeconfig.clone();
    (
        Server::InProcess {
            _running: Box::new(running),
            _stop: stop,
            _dir: dir,
        },
        kubeconfig,
    )
}

fn config_map(name: String) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name);
    cm.metadata.labels = Some([("app".to_owned(), "bench".to_owned())].into());
    cm.data = Some(
        [
            ("mode".to_owned(), "fast".to_owned()),
            ("payload".to_owned(), "x".repeat(256)),
        ]
        .into(),
    );
    cm
}

/// Unique names across every benchmark and phase.
struct Names(AtomicU64);

impl Names {
    fn next(&self) -> String {
        format!("cm-{}", self.0.fetch_add(1, Ordering::Relaxed))
    }
}

struct Fixture {
    config_maps: Api<ConfigMap>,
    listed: Api<ConfigMap>,
    names: Names,
}

fn fixture(runtime: &Runtime, kubeconfig: &PathBuf) -> Fixture {
    let client: Arc<dyn Client> =
        Arc::new(HttpClient::from_kubeconfig(kubeconfig).expect("the admin kubeconfig"));
    runtime.block_on(async {
        for ns in [NAMESPACE, "bench-list"] {
            let mut namespace = Namespace::default();
            namespace.metadata.name = Some(ns.to_owned());
            Api::<Namespace>::all(client.clone())
                .create(&PostParams::default(), &namespace)
                .await
                .expect("namespace");
        }
        let listed = Api::<ConfigMap>::namespaced(client.clone(), "bench-list");
        for i in 0..100 {
            listed
                .create(&PostParams::default(), &config_map(format!("listed-{i}")))
                .await
                .expect("create");
        }
        let config_maps = Api::<ConfigMap>::namespaced(client, NAMESPACE);
        config_maps
            .create(&PostParams::default(), &config_map("read-me".to_owned()))
            .await
            .expect("create");
        Fixture {
            config_maps,
            listed,
            names: Names(AtomicU64::new(0)),
        }
    })
}

/// Times `iters` sequential runs of `op` on the runtime.
fn timed<F, Fut>(runtime: &Runtime, iters: u64, mut op: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    runtime.block_on(async {
        let started = Instant::now();
        for _ in 0..iters {
            op().await;
        }
        started.elapsed()
    })
}

fn criterion_benches(c: &mut Criterion, runtime: &Runtime, f: &Fixture) {
    let mut group = c.benchmark_group("apiserver_https");
    group.bench_function("create_configmap", |b| {
        b.iter_custom(|iters| {
            timed(runtime, iters, || async {
                f.config_maps
                    .create(&PostParams::default(), &config_map(f.names.next()))
                    .await
                    .expect("create");
            })
        })
    });
    group.bench_function("get_configmap", |b| {
        b.iter_custom(|iters| {
            timed(runtime, iters, || async {
                f.config_maps.get("read-me").await.expect("get");
            })
        })
    });
    group.bench_function("list_configmaps_100", |b| {
        b.iter_custom(|iters| {
            timed(runtime, iters, || async {
                let list = f.listed.list(&ListParams::default()).await.expect("list");
                assert_eq!(list.items.len(), 100);
            })
        })
    });
    group.finish();
}

/// The `q`-quantile of sorted latencies.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn print_row(name: &str, mut latencies: Vec<Duration>, elapsed: Duration, errors: usize) {
    latencies.sort();
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{name:<32} n={:<6} p50={:>8.3} ms  p99={:>8.3} ms  max={:>8.3} ms  {:>7.0} req/s  errors={errors}",
        latencies.len(),
        quantile(&latencies, 0.50).as_secs_f64() * 1e3,
        quantile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        rate,
    );
}

async fn sequential<F, Fut>(count: usize, mut op: F) -> (Vec<Duration>, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for _ in 0..count {
        let t0 = Instant::now();
        op().await;
        latencies.push(t0.elapsed());
    }
    (latencies, started.elapsed())
}

/// Creates at `rate` per second for `seconds`, open loop; latencies from each scheduled start.
async fn paced_creates(
    f: &Arc<Fixture>,
    rate: u32,
    seconds: u32,
) -> (Vec<Duration>, Duration, usize) {
    let total = rate * seconds;
    let interval = Duration::from_secs(1) / rate;
    let started = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = started + interval * i;
        tokio::time::sleep_until(due).await;
        let f = f.clone();
        tasks.spawn(async move {
            let result = f
                .config_maps
                .create(&PostParams::default(), &config_map(f.names.next()))
                .await;
            (due.elapsed(), result.is_ok())
        });
    }
    let mut latencies = Vec::with_capacity(total as usize);
    let mut errors = 0;
    while let Some(done) = tasks.join_next().await {
        let (latency, ok) = done.expect("task");
        latencies.push(latency);
        errors += usize::from(!ok);
    }
    (latencies, started.elapsed(), errors)
}

fn latency_report(runtime: &Runtime, f: Arc<Fixture>) {
    println!("\nlatency report (HttpClient over HTTPS/2, TLS 1.3, client certificate)");
    runtime.block_on(async {
        let (lat, took) = sequential(2_000, || async {
            f.config_maps
                .create(&PostParams::default(), &config_map(f.names.next()))
                .await
                .expect("create");
        })
        .await;
        print_row("create, sequential", lat, took, 0);
        let (lat, took) = sequential(2_000, || async {
            f.config_maps.get("read-me").await.expect("get");
        })
        .await;
        print_row("get, sequential", lat, took, 0);
        let (lat, took) = sequential(2_000, || async {
            f.listed.list(&ListParams::default()).await.expect("list");
        })
        .await;
        print_row("list 100, sequential", lat, took, 0);
        for rate in [1_000, 2_000] {
            let (lat, took, errors) = paced_creates(&f, rate, 3).await;
            print_row(&format!("create, paced at {rate}/s"), lat, took, errors);
        }
    });
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (_server, kubeconfig) = start_server(&runtime);
    let fixture = Arc::new(fixture(&runtime, &kubeconfig));
    let mut criterion = Criterion::default()
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    criterion_benches(&mut criterion, &runtime, &fixture);
    criterion.final_summary();
    if std::env::var("APISERVER_BENCH_REPORT").as_deref() != Ok("0") {
        latency_report(&runtime, fixture);
    }
}
