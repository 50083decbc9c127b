//! Request latency of the API server over HTTPS, as components in another process see it:
//! `cargo bench -p orchestra-benches --bench apiserver_https`.
//!
//! The server is the real `orchestra apiserver` binary in a process of its own (in-memory
//! store, loopback port, its own PKI and kubeconfig), found at `$ORCHESTRA_BIN`, else
//! `$CARGO_TARGET_DIR/release/orchestra`, else `target/release/orchestra` — build it first
//! with `cargo build --release -p orchestra-examples --bin orchestra`. Without the binary the
//! bench starts the same server in-process and says so. The clients are `HttpClient`s with the
//! server's admin kubeconfig: TLS 1.3, client certificate, HTTP/2.
//!
//! Criterion reports the mean time of sequential requests (kept short; the report below is
//! what gives the figures):
//!
//! * `apiserver_https/create_configmap`: create a small ConfigMap (validated, stored, answered);
//! * `apiserver_https/get_configmap`: read one ConfigMap;
//! * `apiserver_https/list_configmaps_100`: list a namespace of 100 ConfigMaps.
//!
//! Then the latency report prints p50 and p99 of
//!
//! * 2,000 sequential creates, gets and lists;
//! * creates, gets, lists (of 10 and of 100 ConfigMaps) and watches **paced** at 1,000 and
//!   2,000 requests per second for 3 seconds each. Paced requests start on a fixed schedule
//!   whatever the earlier ones are doing (open loop: a thread of their own starts each at its
//!   time), and each latency runs from the request's scheduled start, so a server that falls
//!   behind shows it in the tail (no coordinated omission). For watches the writes
//!   (ConfigMap creates) are paced, and the latency runs from a write's acknowledgement to the
//!   arrival of its `ADDED` event at a watcher on another connection (an event that arrives
//!   before the acknowledgement counts as 0; the row says how many did), and a second row from
//!   the write's start (the create's own latency plus the event's way to the watcher);
//! * **watch fan-out**: 1,000 watches of the pods of one namespace, opened as client-go opens
//!   them — HTTP/2 streams multiplexed on shared connections, a new connection when one
//!   reaches the server's stream limit (client-go against kube-apiserver: 250 streams a
//!   connection, Go's default; Orchestra's server allows the same) — then pods created paced
//!   (20/s for 5 s), then a burst of 100 pods as fast as 8 writers go. It reports each
//!   delivery's latency (a pod's create acknowledgement to its `ADDED` event at one watcher)
//!   over every watcher and pod, the p99 of the last watcher's arrival per pod, the events
//!   per second delivered to all watchers during the burst, and the server's resident memory
//!   before the watches, with them open, and its peak.
//!
//! The target: create p99 ≤ 10 ms at 2,000 creates/s. Every report line is printed with
//! the machine's load average, since other work on a 2-core machine moves the tail.
//!
//! Environment: `APISERVER_BENCH_REPORT=0` skips the report; `APISERVER_BENCH_PHASES` picks
//! report phases (comma-separated among `sequential`, `create`, `get`, `list`, `watch`,
//! `fanout`; all by default); `APISERVER_BENCH_PACED_SECONDS` sets how long each paced phase
//! runs (3 by default; longer to profile the server during one); `APISERVER_BENCH_WATCHERS`
//! and `APISERVER_BENCH_STREAMS_PER_CONNECTION` shape the fan-out (1,000 and 250);
//! `APISERVER_BENCH_SERVER_LOG` names a file for the server's log (discarded by default).

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::Criterion;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use orchestra_api::{Api, Client, ListParams, PostParams, WatchEvent, WatchParams};
use orchestra_client::HttpClient;
use tokio::runtime::{Handle, Runtime};

const NAMESPACE: &str = "bench";
const LIST_100_NAMESPACE: &str = "bench-list";
const LIST_10_NAMESPACE: &str = "bench-list-10";
const WATCH_NAMESPACE: &str = "bench-watch";
const FANOUT_NAMESPACE: &str = "bench-fanout";

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

impl Server {
    /// The server's process id (this process when it runs in-process).
    fn pid(&self) -> u32 {
        match self {
            Server::Process { child, .. } => child.id(),
            Server::InProcess { .. } => std::process::id(),
        }
    }
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
        let log = match std::env::var_os("APISERVER_BENCH_SERVER_LOG") {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("the server's log")),
            None => Stdio::null(),
        };
        let mut child = Command::new(&bin)
            .args(["apiserver", "--store", "memory", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", bin.display()));
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout
            .read_line(&mut first)
            .expect("the server's first line");
        assert!(
            first.starts_with("API server ready on https://"),
            "unexpected first line {first:?}"
        );
        // Keep reading, so that the server never writes to a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
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

fn pod(name: String) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "fanout"}},
        "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}
    }))
    .expect("a valid pod")
}

/// Unique names across every benchmark and phase.
struct Names(AtomicU64);

impl Names {
    fn next(&self) -> String {
        format!("cm-{}", self.0.fetch_add(1, Ordering::Relaxed))
    }
}

struct Fixture {
    client: Arc<dyn Client>,
    config_maps: Api<ConfigMap>,
    listed_100: Api<ConfigMap>,
    listed_10: Api<ConfigMap>,
    names: Names,
}

fn client(kubeconfig: &Path) -> Arc<dyn Client> {
    Arc::new(HttpClient::from_kubeconfig(kubeconfig).expect("the admin kubeconfig"))
}

fn fixture(runtime: &Runtime, kubeconfig: &Path) -> Fixture {
    let client = client(kubeconfig);
    runtime.block_on(async {
        for ns in [
            NAMESPACE,
            LIST_100_NAMESPACE,
            LIST_10_NAMESPACE,
            WATCH_NAMESPACE,
            FANOUT_NAMESPACE,
        ] {
            let mut namespace = Namespace::default();
            namespace.metadata.name = Some(ns.to_owned());
            Api::<Namespace>::all(client.clone())
                .create(&PostParams::default(), &namespace)
                .await
                .expect("namespace");
        }
        let listed_100 = Api::<ConfigMap>::namespaced(client.clone(), LIST_100_NAMESPACE);
        let listed_10 = Api::<ConfigMap>::namespaced(client.clone(), LIST_10_NAMESPACE);
        for (api, count) in [(&listed_100, 100), (&listed_10, 10)] {
            for i in 0..count {
                api.create(&PostParams::default(), &config_map(format!("listed-{i}")))
                    .await
                    .expect("create");
            }
        }
        let config_maps = Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE);
        config_maps
            .create(&PostParams::default(), &config_map("read-me".to_owned()))
            .await
            .expect("create");
        Fixture {
            client,
            config_maps,
            listed_100,
            listed_10,
            names: Names(AtomicU64::new(0)),
        }
    })
}

/// Times `iters` sequential runs of `op` on the runtime.
fn timed<F, Fut>(runtime: &Runtime, iters: u64, mut op: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
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
                let list = f
                    .listed_100
                    .list(&ListParams::default())
                    .await
                    .expect("list");
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

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The 1-minute load average, as `uptime` shows it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// A process's resident memory and its peak, in MiB, from `/proc/<pid>/status`.
fn resident_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The CPU time a process has used so far (user and system), from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are the 14th and 15th fields, in clock ticks (100 a second on Linux).
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Prints one report line; `rate` is what `latencies.len()` over `elapsed` achieved.
fn print_row(name: &str, mut latencies: Vec<Duration>, elapsed: Duration, extra: &str) {
    latencies.sort();
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{name:<34} n={:<6} p50={:>8.3} ms  p99={:>8.3} ms  max={:>8.3} ms  {:>7.0}/s  load={} {extra}",
        latencies.len(),
        millis(quantile(&latencies, 0.50)),
        millis(quantile(&latencies, 0.99)),
        millis(latencies.last().copied().unwrap_or_default()),
        rate,
        load_average(),
    );
}

async fn sequential<F, Fut>(count: usize, mut op: F) -> (Vec<Duration>, Duration)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
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

/// What a paced phase measured.
struct Paced {
    /// Each request's latency from its scheduled start.
    latencies: Vec<Duration>,
    /// From the first scheduled start to the last answer.
    elapsed: Duration,
    errors: usize,
}

/// Runs `op(i)` for `i` in `0..rate * seconds`, the `i`-th started `i / rate` seconds after the
/// first whatever the others are doing (open loop), by a thread of its own that sleeps until
/// each start time (finer than the async runtime's millisecond timer) and spawns the request
/// on the runtime. Each latency runs from the scheduled start.
async fn paced<F, Fut>(rate: u32, seconds: u32, op: F) -> Paced
where
    F: Fn(u32) -> Fut + Send + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let total = rate * seconds;
    let interval = Duration::from_secs(1) / rate;
    let runtime = Handle::current();
    let started = Instant::now();
    let pacer = std::thread::spawn(move || {
        let mut requests = Vec::with_capacity(total as usize);
        for i in 0..total {
            let due = started + interval * i;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let request = op(i);
            requests.push(runtime.spawn(async move {
                let ok = request.await;
                (due.elapsed(), ok)
            }));
        }
        requests
    });
    let requests = tokio::task::spawn_blocking(move || pacer.join().expect("the pacer"))
        .await
        .expect("the pacer");
    let mut latencies = Vec::with_capacity(total as usize);
    let mut errors = 0;
    for request in requests {
        let (latency, ok) = request.await.expect("a request task");
        latencies.push(latency);
        errors += usize::from(!ok);
    }
    Paced {
        latencies,
        elapsed: started.elapsed(),
        errors,
    }
}

/// Prints a paced phase's line with the server's CPU time per request during it.
fn print_paced(name: &str, paced: Paced, server_cpu: Duration) {
    let per_request = server_cpu.as_secs_f64() * 1e6 / paced.latencies.len().max(1) as f64;
    let extra = format!(
        "errors={} server CPU={per_request:.0} µs/request",
        paced.errors
    );
    print_row(name, paced.latencies, paced.elapsed, &extra);
}

/// Watch latency with writes paced at `rate`: a watcher on its own connection, ConfigMap
/// creates on the fixture's; each sample runs from a create's acknowledgement to the arrival
/// of its `ADDED` event.
async fn paced_watch(f: &Arc<Fixture>, kubeconfig: &Path, rate: u32, seconds: u32) {
    let total = rate * seconds;
    let prefix = format!("watched-{rate}-");
    let watcher = Api::<ConfigMap>::namespaced(client(kubeconfig), WATCH_NAMESPACE);
    let writer = Arc::new(Api::<ConfigMap>::namespaced(
        f.client.clone(),
        WATCH_NAMESPACE,
    ));
    let from = writer
        .list(&ListParams::default().limit(1))
        .await
        .expect("list")
        .resource_version;
    let mut events = watcher
        .watch(&WatchParams {
            resource_version: Some(from),
            ..WatchParams::default()
        })
        .await
        .expect("watch");
    let arrivals = {
        let prefix = prefix.clone();
        tokio::spawn(async move {
            let mut arrivals = HashMap::with_capacity(total as usize);
            while let Some(event) = events.next().await {
                let arrived = Instant::now();
                if let WatchEvent::Added(cm) = event
                    && let Some(i) = cm
                        .metadata
                        .name
                        .as_deref()
                        .and_then(|name| name.strip_prefix(prefix.as_str()))
                        .and_then(|i| i.parse::<u32>().ok())
                {
                    arrivals.insert(i, arrived);
                    if arrivals.len() == total as usize {
                        break;
                    }
                }
            }
            arrivals
        })
    };
    // Each write's start and acknowledgement.
    let acks = Arc::new(Mutex::new(vec![None; total as usize]));
    let writes = {
        let acks = acks.clone();
        paced(rate, seconds, move |i| {
            let (writer, acks, name) = (writer.clone(), acks.clone(), format!("{prefix}{i}"));
            async move {
                let started = Instant::now();
                let ok = writer
                    .create(&PostParams::default(), &config_map(name))
                    .await
                    .is_ok();
                if ok {
                    acks.lock().expect("acks")[i as usize] = Some((started, Instant::now()));
                }
                ok
            }
        })
        .await
    };
    let arrivals = tokio::time::timeout(Duration::from_secs(30), arrivals)
        .await
        .map(|joined| joined.expect("the watcher"))
        .unwrap_or_default();
    let acks = acks.lock().expect("acks").clone();
    let (mut from_ack, mut from_start, mut early, mut missing) = (Vec::new(), Vec::new(), 0, 0);
    for (i, ack) in acks.iter().enumerate() {
        match (ack, arrivals.get(&(i as u32))) {
            (Some((started, ack)), Some(arrived)) => {
                early += usize::from(arrived < ack);
                from_ack.push(arrived.saturating_duration_since(*ack));
                from_start.push(arrived.saturating_duration_since(*started));
            }
            (Some(_), None) => missing += 1,
            (None, _) => {}
        }
    }
    print_row(
        &format!("watch, writes paced at {rate}/s"),
        from_ack,
        writes.elapsed,
        &format!(
            "write errors={} events before the ack={early} missing={missing}",
            writes.errors
        ),
    );
    print_row(
        &format!("watch from the write's start, {rate}/s"),
        from_start,
        writes.elapsed,
        "",
    );
}

/// Fan-out settings.
struct FanOut {
    watchers: usize,
    streams_per_connection: usize,
    paced_rate: u32,
    paced_seconds: u32,
    burst: u32,
    burst_writers: u32,
}

/// Pod events to many watchers: see the module docs.
async fn fan_out(kubeconfig: &Path, server_pid: u32, settings: &FanOut) {
    let FanOut {
        watchers,
        streams_per_connection,
        paced_rate,
        paced_seconds,
        burst,
        burst_writers,
    } = *settings;
    let paced_total = paced_rate * paced_seconds;
    let total = (paced_total + burst) as usize;
    let connections = watchers.div_ceil(streams_per_connection);
    let clients: Vec<Arc<dyn Client>> = (0..connections).map(|_| client(kubeconfig)).collect();
    let writer = Arc::new(Api::<Pod>::namespaced(client(kubeconfig), FANOUT_NAMESPACE));
    let from = writer
        .list(&ListParams::default().limit(1))
        .await
        .expect("list")
        .resource_version;
    let (rss_before, _) = resident_mib(server_pid);

    // Open the watches, 50 at a time.
    let params = WatchParams {
        resource_version: Some(from),
        ..WatchParams::default()
    };
    let opened = Instant::now();
    let streams: Vec<_> = futures::stream::iter(0..watchers)
        .map(|w| {
            let api = Api::<Pod>::namespaced(
                clients[w / streams_per_connection].clone(),
                FANOUT_NAMESPACE,
            );
            let params = params.clone();
            async move { api.watch(&params).await.expect("watch") }
        })
        .buffer_unordered(50)
        .collect()
        .await;
    let open_took = opened.elapsed();
    let delivered = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|mut events| {
            let delivered = delivered.clone();
            tokio::spawn(async move {
                let mut arrivals = vec![None; total];
                let mut seen = 0;
                while let Some(event) = events.next().await {
                    let arrived = Instant::now();
                    if let WatchEvent::Added(pod) = event
                        && let Some(i) = pod
                            .metadata
                            .name
                            .as_deref()
                            .and_then(|name| name.strip_prefix("fan-"))
                            .and_then(|i| i.parse::<usize>().ok())
                            .filter(|i| *i < total)
                    {
                        arrivals[i] = Some(arrived);
                        seen += 1;
                        delivered.fetch_add(1, Ordering::Relaxed);
                        if seen == total {
                            break;
                        }
                    }
                }
                arrivals
            })
        })
        .collect();
    let (rss_open, _) = resident_mib(server_pid);
    println!(
        "fan-out: {watchers} watches on {connections} HTTP/2 connection(s) ({streams_per_connection} streams each) opened in {:.0} ms; load={}",
        millis(open_took),
        load_average()
    );

    let acks = Arc::new(Mutex::new(vec![None; total]));
    let create = {
        let (writer, acks) = (writer.clone(), acks.clone());
        move |i: usize| {
            let (writer, acks) = (writer.clone(), acks.clone());
            async move {
                let ok = writer
                    .create(&PostParams::default(), &pod(format!("fan-{i}")))
                    .await
                    .is_ok();
                if ok {
                    acks.lock().expect("acks")[i] = Some(Instant::now());
                }
                ok
            }
        }
    };
    let wait_for = |count: usize| {
        let delivered = delivered.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while delivered.load(Ordering::Relaxed) < count && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };

    // Paced: per-delivery latency.
    let paced_writes = {
        let create = create.clone();
        paced(paced_rate, paced_seconds, move |i| create(i as usize)).await
    };
    wait_for(watchers * paced_total as usize).await;

    // Burst: delivery throughput.
    let burst_cpu = cpu_time(server_pid);
    let burst_started = Instant::now();
    let next = Arc::new(AtomicUsize::new(paced_total as usize));
    let writers: Vec<_> = (0..burst_writers)
        .map(|_| {
            let (create, next) = (create.clone(), next.clone());
            tokio::spawn(async move {
                let mut errors = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return errors;
                    }
                    errors += usize::from(!create(i).await);
                }
            })
        })
        .collect();
    let mut burst_errors = 0;
    for writer in writers {
        burst_errors += writer.await.expect("a writer");
    }
    wait_for(watchers * total).await;
    let burst_cpu = cpu_time(server_pid) - burst_cpu;
    let (rss_loaded, rss_peak) = resident_mib(server_pid);

    let mut per_watcher = Vec::with_capacity(watchers);
    for task in tasks {
        task.abort();
        if let Ok(arrivals) = task.await {
            per_watcher.push(arrivals);
        }
    }
    let acks = acks.lock().expect("acks").clone();
    let mut deliveries = Vec::new();
    let mut last_per_pod = Vec::new();
    let mut missing = 0;
    let mut burst_last = burst_started;
    for (i, ack) in acks.iter().enumerate() {
        let Some(ack) = ack else { continue };
        let mut last = Duration::ZERO;
        for arrivals in &per_watcher {
            match arrivals.get(i).copied().flatten() {
                Some(arrived) => {
                    let latency = arrived.saturating_duration_since(*ack);
                    last = last.max(latency);
                    if i < paced_total as usize {
                        deliveries.push(latency);
                    } else {
                        burst_last = burst_last.max(arrived);
                    }
                }
                None => missing += 1,
            }
        }
        if i < paced_total as usize {
            last_per_pod.push(last);
        }
    }
    // Watchers that ended early (aborted before their result) count as missing everything.
    missing += (watchers - per_watcher.len()) * total;
    print_row(
        &format!("fan-out delivery, pods at {paced_rate}/s"),
        deliveries,
        paced_writes.elapsed,
        &format!("write errors={} missing={missing}", paced_writes.errors),
    );
    print_row(
        "fan-out, last watcher per pod",
        last_per_pod,
        paced_writes.elapsed,
        "",
    );
    let burst_took = burst_last.saturating_duration_since(burst_started);
    let deliveries = burst as usize * watchers;
    println!(
        "fan-out burst: {burst} pods by {burst_writers} writers to {watchers} watchers: {deliveries} deliveries in {:.0} ms = {:.0} events/s delivered; server CPU={:.1} µs/delivery; write errors={burst_errors}; load={}",
        millis(burst_took),
        deliveries as f64 / burst_took.as_secs_f64(),
        burst_cpu.as_secs_f64() * 1e6 / deliveries as f64,
        load_average(),
    );
    println!(
        "server RSS: {rss_before:.1} MiB before the watches, {rss_open:.1} MiB with {watchers} open, {rss_loaded:.1} MiB after the events; peak {rss_peak:.1} MiB"
    );
}

/// Whether the report runs `phase` (`APISERVER_BENCH_PHASES`).
fn runs(phase: &str) -> bool {
    match std::env::var("APISERVER_BENCH_PHASES") {
        Ok(phases) => phases.split(',').any(|p| p.trim() == phase),
        Err(_) => true,
    }
}

fn env_number(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn latency_report(runtime: &Runtime, f: Arc<Fixture>, kubeconfig: &Path, server_pid: u32) {
    let seconds = env_number("APISERVER_BENCH_PACED_SECONDS", 3);
    println!(
        "\nlatency report (HttpClient over HTTPS/2, TLS 1.3, client certificate; server process {server_pid}; load = 1-minute load average)"
    );
    runtime.block_on(async {
        if runs("sequential") {
            let (lat, took) = sequential(2_000, || async {
                f.config_maps
                    .create(&PostParams::default(), &config_map(f.names.next()))
                    .await
                    .expect("create");
            })
            .await;
            print_row("create, sequential", lat, took, "");
            let (lat, took) = sequential(2_000, || async {
                f.config_maps.get("read-me").await.expect("get");
            })
            .await;
            print_row("get, sequential", lat, took, "");
            let (lat, took) = sequential(2_000, || async {
                f.listed_100
                    .list(&ListParams::default())
                    .await
                    .expect("list");
            })
            .await;
            print_row("list 100, sequential", lat, took, "");
        }
        for rate in [1_000, 2_000] {
            if runs("create") {
                let f = f.clone();
                let cpu = cpu_time(server_pid);
                let result = paced(rate, seconds, move |_| {
                    let f = f.clone();
                    async move {
                        f.config_maps
                            .create(&PostParams::default(), &config_map(f.names.next()))
                            .await
                            .is_ok()
                    }
                })
                .await;
                let cpu = cpu_time(server_pid) - cpu;
                print_paced(&format!("create, paced at {rate}/s"), result, cpu);
            }
            if runs("get") {
                let f = f.clone();
                let cpu = cpu_time(server_pid);
                let result = paced(rate, seconds, move |_| {
                    let f = f.clone();
                    async move { f.config_maps.get("read-me").await.is_ok() }
                })
                .await;
                let cpu = cpu_time(server_pid) - cpu;
                print_paced(&format!("get, paced at {rate}/s"), result, cpu);
            }
            if runs("list") {
                for (count, listed) in [(10, &f.listed_10), (100, &f.listed_100)] {
                    let listed = Arc::new(listed.clone());
                    let cpu = cpu_time(server_pid);
                    let result = paced(rate, seconds, move |_| {
                        let listed = listed.clone();
                        async move {
                            listed
                                .list(&ListParams::default())
                                .await
                                .is_ok_and(|list| list.items.len() == count)
                        }
                    })
                    .await;
                    let cpu = cpu_time(server_pid) - cpu;
                    print_paced(&format!("list {count}, paced at {rate}/s"), result, cpu);
                }
            }
            if runs("watch") {
                paced_watch(&f, kubeconfig, rate, seconds).await;
            }
        }
        if runs("fanout") {
            let settings = FanOut {
                watchers: env_number("APISERVER_BENCH_WATCHERS", 1_000) as usize,
                streams_per_connection: env_number("APISERVER_BENCH_STREAMS_PER_CONNECTION", 250)
                    .max(1) as usize,
                paced_rate: 20,
                paced_seconds: 5,
                burst: 100,
                burst_writers: 8,
            };
            fan_out(kubeconfig, server_pid, &settings).await;
        }
    });
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (server, kubeconfig) = start_server(&runtime);
    let fixture = Arc::new(fixture(&runtime, &kubeconfig));
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    criterion_benches(&mut criterion, &runtime, &fixture);
    criterion.final_summary();
    if std::env::var("APISERVER_BENCH_REPORT").as_deref() != Ok("0") {
        latency_report(&runtime, fixture, &kubeconfig, server.pid());
    }
}
