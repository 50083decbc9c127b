//! Probes: how the agent asks a container whether it is alive, ready, or has started.
//!
//! A [`Prober`] runs one probe of a container once and answers a [`ProbeResult`]; *when* to
//! probe, and what a run of results means (`failureThreshold`, `successThreshold`,
//! `initialDelaySeconds`), is the agent's business. [`RuntimeProber`] is Kubernetes'
//! prober: `exec` probes run through the runtime's `ExecSync`, `tcpSocket` probes connect
//! to the pod, `httpGet` probes send a plain-HTTP GET and accept any status from 200 to 399.
//! The simulated runtime is a `Prober` too: it answers from the behaviour the pod's
//! annotations configure, whatever the probe's handler.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orchestra_api::k8s_openapi::api::core::v1::{Container, Probe};
use orchestra_api::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cri::ContainerRuntime;

/// Which probe runs (`livenessProbe`, `readinessProbe`, `startupProbe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProbeType {
    /// Failure restarts the container.
    Liveness,
    /// Failure takes the container (and pod) out of service.
    Readiness,
    /// Until it succeeds the other probes wait; failure restarts the container.
    Startup,
}

impl ProbeType {
    /// The probe's name as Kubernetes messages spell it (`Liveness`, `Readiness`, `Startup`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Liveness => "Liveness",
            Self::Readiness => "Readiness",
            Self::Startup => "Startup",
        }
    }

    /// The probe of this type in a container spec.
    pub fn of(self, container: &Container) -> Option<&Probe> {
        match self {
            Self::Liveness => container.liveness_probe.as_ref(),
            Self::Readiness => container.readiness_probe.as_ref(),
            Self::Startup => container.startup_probe.as_ref(),
        }
    }
}

/// The answer of one probe run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    /// The container passed.
    Success,
    /// The container failed; why.
    Failure(String),
}

impl ProbeResult {
    /// Whether the probe passed.
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Success)
    }
}

/// The container a probe runs against.
#[derive(Debug, Clone, Copy)]
pub struct ProbeTarget<'a> {
    /// Which probe.
    pub probe_type: ProbeType,
    /// The probe's spec.
    pub probe: &'a Probe,
    /// The container's spec (for named ports).
    pub container: &'a Container,
    /// The runtime's id of the running container.
    pub container_id: &'a str,
    /// The pod's IP, if it has one.
    pub pod_ip: Option<&'a str>,
}

/// Runs probes.
#[async_trait]
pub trait Prober: Send + Sync {
    /// Runs the probe once.
    async fn probe(&self, target: &ProbeTarget<'_>) -> ProbeResult;
}

/// Kubernetes' prober over a CRI runtime and the network.
pub struct RuntimeProber {
    runtime: Arc<dyn ContainerRuntime>,
}

impl std::fmt::Debug for RuntimeProber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeProber").finish_non_exhaustive()
    }
}

impl RuntimeProber {
    /// A prober that runs `exec` probes through `runtime`.
    pub fn new(runtime: Arc<dyn ContainerRuntime>) -> Self {
        Self { runtime }
    }
}

/// The probe's timeout (`timeoutSeconds`, at least one second).
pub fn probe_timeout(probe: &Probe) -> Duration {
    Duration::from_secs(
        probe
            .timeout_seconds
            .unwrap_or(1)
            .max(1)
            .unsigned_abs()
            .into(),
    )
}

/// Resolves a probe's port: a number, or the name of one of the container's ports.
fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => match name.parse::<i32>() {
            Ok(n) => n,
            Err(_) => container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .map(|p| p.container_port)
                .ok_or_else(|| format!("couldn't find port {name:?} in container"))?,
        },
    };
    u16::try_from(number)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("invalid port number: {number}"))
}

#[async_trait]
impl Prober for RuntimeProber {
    async fn probe(&self, target: &ProbeTarget<'_>) -> ProbeResult {
        let probe = target.probe;
        let timeout = probe_timeout(probe);
        if let Some(exec) = &probe.exec {
            let command = exec.command.clone().unwrap_or_default();
            return match self
                .runtime
                .exec_sync(target.container_id, &command, timeout)
                .await
            {
                Ok(response) if response.exit_code == 0 => ProbeResult::Success,
                Ok(response) => ProbeResult::Failure(format!(
                    "command {command:?} exited with {}: {}",
                    response.exit_code,
                    String::from_utf8_lossy(&response.stdout)
                )),
                Err(error) => ProbeResult::Failure(error.to_string()),
            };
        }
        if let Some(tcp) = &probe.tcp_socket {
            let port = match resolve_port(&tcp.port, target.container) {
                Ok(port) => port,
                Err(message) => return ProbeResult::Failure(message),
            };
            let host = tcp.host.as_deref().or(target.pod_ip).unwrap_or("127.0.0.1");
            return match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
                Ok(Ok(_)) => ProbeResult::Success,
                Ok(Err(error)) => ProbeResult::Failure(format!("dial tcp {host}:{port}: {error}")),
                Err(_) => ProbeResult::Failure(format!("dial tcp {host}:{port}: i/o timeout")),
            };
        }
        if let Some(http) = &probe.http_get {
            if http.scheme.as_deref() == Some("HTTPS") {
                return ProbeResult::Failure(
                    "HTTPS probes are not supported by this prober".to_owned(),
                );
            }
            let port = match resolve_port(&http.port, target.container) {
                Ok(port) => port,
                Err(message) => return ProbeResult::Failure(message),
            };
            let host = http
                .host
                .as_deref()
                .or(target.pod_ip)
                .unwrap_or("127.0.0.1")
                .to_owned();
            let path = http.path.clone().unwrap_or_else(|| "/".to_owned());
            let headers: Vec<(String, String)> = http
                .http_headers
                .iter()
                .flatten()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect();
            return match tokio::time::timeout(timeout, http_get(&host, port, &path, &headers)).await
            {
                Ok(Ok(code)) if (200..400).contains(&code) => ProbeResult::Success,
                Ok(Ok(code)) => {
                    ProbeResult::Failure(format!("HTTP probe failed with statuscode: {code}"))
                }
                Ok(Err(error)) => {
                    ProbeResult::Failure(format!("Get \"http://{host}:{port}{path}\": {error}"))
                }
                Err(_) => ProbeResult::Failure(format!(
                    "Get \"http://{host}:{port}{path}\": context deadline exceeded"
                )),
            };
        }
        if probe.grpc.is_some() {
            return ProbeResult::Failure("gRPC probes are not supported by this prober".to_owned());
        }
        ProbeResult::Failure("the probe has no handler".to_owned())
    }
}

/// Sends `GET path` over plain HTTP/1.1 and answers the status code.
async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect((host, port)).await?;
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > 8192 {
            break;
        }
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("malformed HTTP response"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestra_api::k8s_openapi::api::core::v1::ContainerPort;

    #[test]
    fn named_ports_resolve_through_the_container_spec() {
        let container = Container {
            name: "web".into(),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: 8080,
                ..ContainerPort::default()
            }]),
            ..Container::default()
        };
        assert_eq!(
            resolve_port(&IntOrString::String("http".into()), &container),
            Ok(8080)
        );
        assert_eq!(resolve_port(&IntOrString::Int(9090), &container), Ok(9090));
        assert!(resolve_port(&IntOrString::String("grpc".into()), &container).is_err());
        assert!(resolve_port(&IntOrString::Int(0), &container).is_err());
    }

    #[tokio::test]
    async fn http_probes_accept_2xx_and_3xx_and_reject_the_rest() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            for status in ["200 OK", "302 Found", "503 Service Unavailable"] {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await.unwrap();
                socket
                    .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await
                    .unwrap();
            }
        });
        for expected in [200, 302, 503] {
            assert_eq!(
                http_get("127.0.0.1", port, "/healthz", &[]).await.unwrap(),
                expected
            );
        }
        server.await.unwrap();
    }
}
