//! What the client's tests share: a real API server started in-process on a loopback port, and
//! small HTTPS servers of the tests' own that answer as a test needs (503s, tokens, cut
//! watches).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_openapi::api::core::v1::Namespace;
use orchestra_api::{Api, Client, PostParams};
use orchestra_apiserver::kubeconfig::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};
use orchestra_apiserver::pki::Pki;
use orchestra_apiserver::serve::{self, ServerHandle};
use orchestra_apiserver::server::{self, ApiServerConfig, RunningApiServer, StoreBackend};
use orchestra_client::{HttpClient, RetryPolicy};
use orchestra_store::LocalClient;
use tokio::sync::oneshot;

/// How long a test waits for something it expects.
pub const WAIT: Duration = Duration::from_secs(10);

/// Retries that keep failing tests fast.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 4,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
    }
}

/// A real API server on a loopback port, with an in-memory store; stops when dropped.
pub struct TestServer {
    /// The running server.
    pub running: RunningApiServer,
    /// The admin's HTTPS client.
    pub http: Arc<HttpClient>,
    /// The server's in-process client over the same store.
    pub local: Arc<LocalClient>,
    stop: Option<oneshot::Sender<()>>,
    /// The data dir (PKI, kubeconfig).
    pub dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server and connects the admin's client through the kubeconfig it wrote.
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let (stop, stopped) = oneshot::channel::<()>();
        let mut config = ApiServerConfig::new(dir.path(), "127.0.0.1:0".parse().expect("addr"));
        config.store = StoreBackend::Memory;
        let running = server::start(
            config,
            Box::pin(async move {
                let _ = stopped.await;
            }),
        )
        .await
        .expect("the API server starts");
        let http = Arc::new(
            HttpClient::from_kubeconfig(&running.kubeconfig)
                .expect("the admin kubeconfig makes a client")
                .with_retry_policy(quick_retries()),
        );
        let local = running.client.clone();
        TestServer {
            running,
            http,
            local,
            stop: Some(stop),
            dir,
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.running.handle.local_addr()
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr())
    }

    /// The admin kubeconfig the server wrote.
    pub fn kubeconfig(&self) -> &Path {
        &self.running.kubeconfig
    }

    /// Creates a namespace for one test.
    pub async fn namespace(&self, name: &str) {
        let mut ns = Namespace::default();
        ns.metadata.name = Some(name.to_owned());
        Api::<Namespace>::all(self.http.clone() as Arc<dyn Client>)
            .create(&PostParams::default(), &ns)
            .await
            .expect("namespace created");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An HTTPS server of the test's own, serving `router` with a fresh PKI; stops when dropped.
pub struct FakeServer {
    /// The listener.
    pub handle: ServerHandle,
    /// Its PKI: the CA its kubeconfigs trust.
    pub pki: Pki,
    /// Holds the PKI and kubeconfigs.
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl FakeServer {
    /// Serves `router` on a loopback port.
    pub async fn start(router: axum::Router) -> FakeServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let listen: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let pki = Pki::load_or_create(dir.path(), listen, &[]).expect("PKI");
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = serve::serve(listen, &pki, router, async move {
            let _ = stopped.await;
        })
        .await
        .expect("the fake server starts");
        FakeServer {
            handle,
            pki,
            dir,
            stop: Some(stop),
        }
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.handle.local_addr())
    }

    /// A kubeconfig trusting this server's CA, with `user` as credentials; returns its path.
    pub fn kubeconfig(&self, file: &str, user: AuthInfo) -> PathBuf {
        let config = kubeconfig_for(&self.url(), Some(self.pki.ca_cert_pem()), user);
        write_kubeconfig(self.dir.path(), file, &config)
    }

    /// A client of this server as its admin (client certificate), with quick retries.
    pub fn client(&self) -> HttpClient {
        let user = AuthInfo {
            client_certificate_data: Some(BASE64.encode(self.pki.admin().cert_pem())),
            client_key_data: Some(BASE64.encode(self.pki.admin().key_pem())),
            ..AuthInfo::default()
        };
        HttpClient::from_kubeconfig(self.kubeconfig("admin.kubeconfig", user))
            .expect("client")
            .with_retry_policy(quick_retries())
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A one-context kubeconfig for `server`.
pub fn kubeconfig_for(server: &str, ca_pem: Option<&str>, user: AuthInfo) -> Kubeconfig {
    Kubeconfig {
        api_version: "v1".to_owned(),
        kind: "Config".to_owned(),
        clusters: vec![NamedCluster {
            name: "c".to_owned(),
            cluster: Cluster {
                server: server.to_owned(),
                certificate_authority_data: ca_pem.map(|pem| BASE64.encode(pem)),
                ..Cluster::default()
            },
            origin: None,
        }],
        users: vec![NamedAuthInfo {
            name: "u".to_owned(),
            user,
            origin: None,
        }],
        contexts: vec![NamedContext {
            name: "ctx".to_owned(),
            context: Context {
                cluster: "c".to_owned(),
                user: "u".to_owned(),
                namespace: None,
            },
        }],
        current_context: "ctx".to_owned(),
        origin: None,
    }
}

/// Writes `config` as `dir/file`; returns its path.
pub fn write_kubeconfig(dir: &Path, file: &str, config: &Kubeconfig) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, config.to_yaml().expect("yaml")).expect("write kubeconfig");
    path
}
