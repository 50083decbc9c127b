//! `LocalEtcd`: a throwaway single-member etcd for tests and benchmarks.
//!
//! It runs the `etcd` binary (Debian package `etcd-server`) on free loopback ports with its
//! data in a fresh temporary directory, waits until etcd answers, and kills it and removes the
//! directory when dropped. Only loopback addresses are used.
//!
//! ```no_run
//! use orchestra_store::{EtcdKv, EtcdOptions, KvStore, LocalEtcd};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let etcd = LocalEtcd::start().await?;
//! let store = EtcdKv::connect(&[etcd.endpoint()], EtcdOptions::default()).await?;
//! assert!(store.current_revision().await? >= 1);
//! # Ok(()) }
//! ```

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::kv::DEFAULT_MAX_VALUE_SIZE;

/// The environment variable that names the etcd binary to run instead of `etcd` on `PATH`.
pub const ETCD_BIN_ENV: &str = "ORCHESTRA_ETCD_BIN";

/// How long etcd may take to answer after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times to retry with new ports when etcd exits at start (a port was taken).
const START_ATTEMPTS: usize = 3;

/// Why a local etcd could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalEtcdError {
    /// No etcd binary was found.
    #[error(
        "the etcd binary was not found (looked for ${ETCD_BIN_ENV}, `etcd` on PATH and /usr/bin/etcd): install the Debian package `etcd-server` (apt-get install etcd-server)"
    )]
    BinaryMissing,
    /// Preparing or starting the process failed.
    #[error("starting etcd ({binary}): {source}")]
    Spawn {
        /// The binary that was run.
        binary: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// etcd did not answer in time, or exited.
    #[error("etcd did not become ready: {reason}; its log ends with:\n{log_tail}")]
    NotReady {
        /// What was observed.
        reason: String,
        /// The last lines etcd wrote.
        log_tail: String,
    },
}

/// A running etcd; see the [module docs](self). Killed when dropped.
#[derive(Debug)]
pub struct LocalEtcd {
    child: Child,
    endpoint: String,
    // Dropped after the process is killed (field order), which removes the data.
    dir: TempDir,
}

impl LocalEtcd {
    /// Starts etcd with a request size limit that fits [`DEFAULT_MAX_VALUE_SIZE`] values.
    pub async fn start() -> Result<Self, LocalEtcdError> {
        Self::start_with_args(&[]).await
    }

    /// Starts etcd with extra command-line arguments (for example `--max-txn-ops=1024`).
    pub async fn start_with_args(extra_args: &[&str]) -> Result<Self, LocalEtcdError> {
        let binary = find_binary().ok_or(LocalEtcdError::BinaryMissing)?;
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(&binary, extra_args).await {
                Ok(etcd) => return Ok(etcd),
                Err(error @ LocalEtcdError::NotReady { .. }) => last_error = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or(LocalEtcdError::BinaryMissing))
    }

    async fn try_start(binary: &Path, extra_args: &[&str]) -> Result<Self, LocalEtcdError> {
        let spawn_error = |source| LocalEtcdError::Spawn {
            binary: binary.to_path_buf(),
            source,
        };
        let dir = tempfile::Builder::new()
            .prefix("orchestra-etcd-")
            .tempdir()
            .map_err(spawn_error)?;
        let client_port = free_port().map_err(spawn_error)?;
        let peer_port = free_port().map_err(spawn_error)?;
        let endpoint = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let log = std::fs::File::create(dir.path().join("etcd.log")).map_err(spawn_error)?;
        let log_err = log.try_clone().map_err(spawn_error)?;
        let max_request = DEFAULT_MAX_VALUE_SIZE + 64 * 1024;
        let child = Command::new(binary)
            .arg("--name=orchestra-test")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=orchestra-test={peer}"))
            .arg(format!("--max-request-bytes={max_request}"))
            .arg("--quota-backend-bytes=8589934592")
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .arg("--log-level=warn")
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(spawn_error)?;
        let mut etcd = LocalEtcd {
            child,
            endpoint,
            dir,
        };
        etcd.wait_ready().await?;
        Ok(etcd)
    }

    /// Polls etcd until it answers a request, it exits, or the timeout passes.
    async fn wait_ready(&mut self) -> Result<(), LocalEtcdError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last_error = String::new();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.not_ready(format!("etcd exited with {status}")));
            }
            if Instant::now() > deadline {
                return Err(self.not_ready(format!(
                    "no answer within {READY_TIMEOUT:?} (last error: {last_error})"
                )));
            }
            let options = etcd_client::ConnectOptions::new()
                .with_connect_timeout(Duration::from_millis(500))
                .with_timeout(Duration::from_secs(1));
            match etcd_client::Client::connect([&self.endpoint], Some(options)).await {
                Ok(mut client) => match client.status().await {
                    Ok(_) => return Ok(()),
                    Err(error) => last_error = error.to_string(),
                },
                Err(error) => last_error = error.to_string(),
            }
            // Polling interval while etcd boots, not a synchronization: readiness is the answer.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn not_ready(&self, reason: String) -> LocalEtcdError {
        let log = std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let log_tail = lines[lines.len().saturating_sub(20)..].join("\n");
        LocalEtcdError::NotReady { reason, log_tail }
    }

    /// The client URL, such as `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The etcd data directory's parent (also holds `etcd.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for LocalEtcd {
    fn drop(&mut self) {
        // Already exited, if it fails; either way, reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The etcd binary: `$ORCHESTRA_ETCD_BIN`, `etcd` on `PATH`, or `/usr/bin/etcd`.
fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(ETCD_BIN_ENV) {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("etcd"));
    on_path
        .chain([PathBuf::from("/usr/bin/etcd")])
        .find(|path| path.is_file())
}

/// A loopback port that was free a moment ago.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
