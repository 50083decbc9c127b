//! Running the `orchestra` binary and the real `kubectl` in tests.

#![allow(dead_code)] // each test crate uses its own part of the support

pub mod session;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long the server may take to start or stop.
pub const STARTUP: Duration = Duration::from_secs(60);

/// A running `orchestra apiserver` process, killed when dropped.
pub struct ApiServer {
    child: Child,
    /// `host:port` the server listens on.
    pub address: String,
    data_dir: PathBuf,
}

impl ApiServer {
    /// Starts the binary on `data_dir` and an ephemeral loopback port; waits until it says it
    /// is ready.
    pub fn start(data_dir: &Path) -> ApiServer {
        Self::try_start(data_dir, "127.0.0.1:0").unwrap_or_else(|err| panic!("{err}"))
    }

    pub fn try_start(data_dir: &Path, listen: &str) -> Result<ApiServer, String> {
        Self::spawn("apiserver", data_dir, listen, &[])
    }

    /// Starts `orchestra up` (the whole cluster in one process) on `data_dir` and an
    /// ephemeral loopback port, with `extra` flags; waits until it says it is ready.
    pub fn up(data_dir: &Path, extra: &[&str]) -> ApiServer {
        Self::spawn("up", data_dir, "127.0.0.1:0", extra).unwrap_or_else(|err| panic!("{err}"))
    }

    /// Starts the subcommand that serves the API (`apiserver` or `up`) and reads the address
    /// from its first line of output.
    pub fn spawn(
        subcommand: &str,
        data_dir: &Path,
        listen: &str,
        extra: &[&str],
    ) -> Result<ApiServer, String> {
        let mut child = orchestra()
            .args([subcommand, "--data-dir"])
            .arg(data_dir)
            .args(["--listen", listen])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the orchestra binary starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        match rx.recv_timeout(STARTUP) {
            Ok(line) => {
                let address = line
                    .split_once("https://")
                    .and_then(|(_, rest)| rest.split([' ', ',']).next())
                    .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
                    .to_owned();
                Ok(ApiServer {
                    child,
                    address,
                    data_dir: data_dir.to_owned(),
                })
            }
            Err(_) => {
                let output = child
                    .wait_with_output()
                    .expect("the failed server's output");
                Err(format!(
                    "exit {:?}: {}",
                    output.status.code(),
                    String::from_utf8_lossy(&output.stderr)
                ))
            }
        }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("kubeconfig")
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let status = wait_with_timeout(&mut self.child, STARTUP);
        std::mem::forget(self);
        status
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the process did not exit within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn orchestra() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orchestra"));
    command.env("ORCHESTRA_LOG", "warn");
    command
}

/// kubectl 1.32 and 1.33, the versioned binaries beside `/usr/bin/kubectl`.
///
/// `/usr/bin/kubectl` itself is the Google Cloud SDK's dispatcher: it reports 1.32 with
/// `--client` but runs the binary matching the server's minor version, 1.33 against ours, so
/// the suites name the versioned binaries.
pub fn kubectls() -> Vec<PathBuf> {
    let default = std::fs::canonicalize("/usr/bin/kubectl").expect("kubectl is installed");
    ["kubectl.1.32", "kubectl.1.33"]
        .into_iter()
        .map(|name| {
            let binary = default.with_file_name(name);
            assert!(binary.exists(), "{} is missing", binary.display());
            binary
        })
        .collect()
}

pub fn kubectl(binary: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(binary)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--request-timeout", "30s"])
        .args(args)
        .env("HOME", kubeconfig.parent().expect("kubeconfig dir"))
        .output()
        .expect("kubectl runs")
}

pub fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
