//! The HTTPS listener: TLS with optional client certificates, HTTP/1.1 and HTTP/2, the
//! authenticated identity on every request, and graceful shutdown.
//!
//! [`serve`] binds the listen address, then accepts connections in a background task until the
//! `shutdown` future completes. Each connection
//!
//! 1. completes a TLS handshake (rustls, ALPN `h2` and `http/1.1`: `kubectl` speaks HTTP/2) in
//!    which a client *may* present a certificate and must prove it holds its key;
//! 2. is authenticated once ([`crate::authn`]): a certificate the cluster CA did not sign gets
//!    `401 Unauthorized` on every request, as Kubernetes' x509 authenticator answers it (the
//!    handshake itself succeeds, so the client learns why); otherwise every request carries
//!    the [`UserInfo`] in its extensions, with the client's address as [`ConnectInfo`] and the
//!    server's [`ShutdownSignal`]; without a certificate it is `system:anonymous`, or gets
//!    `401 Unauthorized` when [`ServeOptions::anonymous_auth`] is off;
//! 3. is served by the caller's [`axum::Router`].
//!
//! On shutdown the server stops accepting, tells every connection to finish (HTTP/2 `GOAWAY`,
//! HTTP/1.1 closes after the current response) and fires the [`ShutdownSignal`], on which
//! long-lived responses such as watches end their streams. Connections still open after
//! [`ServeOptions::shutdown_grace`] are closed.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use orchestra_apiserver::{pki::Pki, serve};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let listen = "127.0.0.1:6443".parse()?;
//! let pki = Pki::load_or_create("/var/lib/orchestra".as_ref(), listen, &[])?;
//! let router = Router::new().route("/readyz", get(|| async { "ok" }));
//! let server = serve::serve(listen, &pki, router, serve::termination_signal()).await?;
//! server.wait().await?; // until SIGTERM or Ctrl-C, and the connections have drained
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::authn::{self, UserInfo};
use crate::pki::{Pki, PkiError};

/// How many streams (requests and watches) a client may have open at once on one HTTP/2
/// connection: kube-apiserver's default (Go's, since its `--http2-max-streams-per-connection`
/// is 0), which client-go's connection sharing expects — it opens another connection when
/// one is full.
pub const HTTP2_MAX_CONCURRENT_STREAMS: u32 = 250;

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Another process listens on the address.
    #[error("cannot listen on {addr}: address already in use (is another apiserver running?)")]
    AddrInUse {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// Binding failed for another reason (permission, address not on this machine, ...).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The PKI's certificates or keys could not be used.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The TLS configuration was refused.
    #[error("invalid TLS configuration: {0}")]
    Tls(String),
    /// The accept loop panicked.
    #[error("server task failed: {0}")]
    Task(String),
}

/// How the server treats clients; [`Default`] follows Kubernetes' defaults.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Let requests without a client certificate through as `system:anonymous` (Kubernetes'
    /// `--anonymous-auth`, on by default); when off they get `401 Unauthorized`.
    pub anonymous_auth: bool,
    /// How long in-flight requests and streams may take to finish after shutdown begins before
    /// their connections are closed.
    pub shutdown_grace: Duration,
    /// How long a client may take to complete the TLS handshake.
    pub handshake_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            anonymous_auth: true,
            shutdown_grace: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Fires when the server begins to shut down; in every request's extensions, so that handlers
/// of long-lived responses (watches, log follows) end their streams cleanly.
///
/// ```
/// use axum::{Extension, body::Body};
/// use futures::StreamExt;
/// use orchestra_apiserver::serve::ShutdownSignal;
///
/// async fn watch(Extension(shutdown): Extension<ShutdownSignal>) -> Body {
///     let events = futures::stream::pending::<Result<String, std::io::Error>>();
///     Body::from_stream(events.take_until(async move { shutdown.triggered().await }))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    rx: watch::Receiver<bool>,
}

impl ShutdownSignal {
    /// Whether shutdown has begun.
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Completes when shutdown begins (at once if it has).
    pub async fn triggered(&self) {
        let mut rx = self.rx.clone();
        // An error means the server is gone, which is shutdown too.
        let _ = rx.wait_for(|shutting_down| *shutting_down).await;
    }
}

/// A running server; see [`serve`].
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    signal: ShutdownSignal,
    task: JoinHandle<()>,
}

impl ServerHandle {
    /// The bound address (with the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The signal that fires when shutdown begins.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.signal.clone()
    }

    /// Completes when the server has stopped: shutdown was triggered and every connection has
    /// finished or been closed after the grace period.
    pub async fn wait(self) -> Result<(), ServeError> {
        self.task
            .await
            .map_err(|err| ServeError::Task(err.to_string()))
    }
}

/// Serves `router` over HTTPS on `addr` with the PKI's serving certificate and client
/// certificates of its CA, with [`ServeOptions::default`], until `shutdown` completes; see the
/// [module documentation](self).
pub async fn serve(
    addr: SocketAddr,
    pki: &Pki,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<ServerHandle, ServeError> {
    serve_with(addr, pki, router, shutdown, ServeOptions::default()).await
}

/// [`serve`] with explicit options.
pub async fn serve_with(
    addr: SocketAddr,
    pki: &Pki,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> Result<ServerHandle, ServeError> {
    let tls = tls_server_config(pki)?;
    let listener = TcpListener::bind(addr).await.map_err(|source| {
        if source.kind() == io::ErrorKind::AddrInUse {
            ServeError::AddrInUse { addr }
        } else {
            ServeError::Bind { addr, source }
        }
    })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    let (signal_tx, signal_rx) = watch::channel(false);
    let signal = ShutdownSignal { rx: signal_rx };
    let server = Server {
        acceptor: TlsAcceptor::from(tls),
        chain: cluster_ca_verifier(pki)?,
        router,
        signal: signal.clone(),
        options,
    };
    tracing::info!(addr = %local_addr, "serving HTTPS");
    let task = tokio::spawn(server.run(listener, shutdown, signal_tx));
    Ok(ServerHandle {
        local_addr,
        signal,
        task,
    })
}

/// The rustls configuration of the server: the PKI's serving certificate, optional client
/// certificates whose chain each connection checks after the handshake, ALPN
/// `h2` then `http/1.1`.
pub fn tls_server_config(pki: &Pki) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = DeferredClientVerifier {
        chain: cluster_ca_verifier(pki)?,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| ServeError::Tls(err.to_string()))?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(pki.serving().cert_chain_der()?, pki.serving().key_der()?)
        .map_err(|err| ServeError::Tls(format!("serving certificate: {err}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Verifies client certificate chains against the cluster CA.
fn cluster_ca_verifier(pki: &Pki) -> Result<Arc<dyn ClientCertVerifier>, ServeError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(pki.ca_cert_der().clone())
        .map_err(|err| ServeError::Tls(format!("CA certificate: {err}")))?;
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|err| ServeError::Tls(format!("client verifier: {err}")))
}

/// Lets any client certificate through the handshake once its holder has proven possession of
/// the key, leaving the verdict on the chain to authentication: Kubernetes answers an untrusted
/// certificate with `401 Unauthorized`, not with a failed handshake.
#[derive(Debug)]
struct DeferredClientVerifier {
    chain: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for DeferredClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

/// Completes on SIGTERM or SIGINT (Ctrl-C): the `shutdown` future of a server process.
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                tokio::select! {
                    _ = sigterm.recv() => tracing::info!("SIGTERM received, shutting down"),
                    _ = ctrl_c() => {}
                }
                return;
            }
            Err(err) => tracing::warn!(%err, "cannot watch SIGTERM; only Ctrl-C stops the server"),
        }
    }
    ctrl_c().await;
}

async fn ctrl_c() {
    match tokio::signal::ctrl_c().await {
        Ok(()) => tracing::info!("interrupted, shutting down"),
        Err(err) => {
            tracing::warn!(%err, "cannot watch Ctrl-C");
            std::future::pending::<()>().await;
        }
    }
}

/// What every connection task needs.
#[derive(Clone)]
struct Server {
    acceptor: TlsAcceptor,
    chain: Arc<dyn ClientCertVerifier>,
    router: Router,
    signal: ShutdownSignal,
    options: ServeOptions,
}

impl Server {
    /// Accepts until `shutdown`, then drains the connections.
    async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
        signal_tx: watch::Sender<bool>,
    ) {
        let mut connections = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        connections.spawn(self.clone().connection(tcp, peer));
                    }
                    Err(err) if is_per_connection_error(&err) => {
                        tracing::debug!(%err, "accept failed");
                    }
                    Err(err) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::error!(%err, "accept failed; retrying shortly");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }

        drop(listener);
        signal_tx.send_replace(true);
        tracing::info!(
            open = connections.len(),
            "shutting down: no longer accepting connections"
        );
        let drain = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(self.options.shutdown_grace, drain)
            .await
            .is_err()
        {
            tracing::warn!(
                open = connections.len(),
                grace = ?self.options.shutdown_grace,
                "closing connections still open after the grace period"
            );
            connections.shutdown().await;
        }
        tracing::info!("server stopped");
    }

    /// Handshakes, authenticates and serves one connection.
    async fn connection(self, tcp: TcpStream, peer: SocketAddr) {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%peer, %err, "cannot set TCP_NODELAY");
        }
        let handshake =
            tokio::time::timeout(self.options.handshake_timeout, self.acceptor.accept(tcp));
        let tls = tokio::select! {
            result = handshake => match result {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => {
                    tracing::debug!(%peer, %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            },
            () = self.signal.triggered() => return,
        };
        let peer_chain = tls.get_ref().1.peer_certificates();
        let trusted = match peer_chain.and_then(<[_]>::split_first) {
            Some((leaf, intermediates)) => self
                .chain
                .verify_client_cert(leaf, intermediates, UnixTime::now())
                .map_err(|err| tracing::debug!(%peer, %err, "untrusted client certificate"))
                .is_ok(),
            None => true,
        };
        let user = authn::user_from_peer_certificates(peer_chain);
        tracing::debug!(%peer, user = %user.name, groups = ?user.groups, trusted, "connection authenticated");

        let Server {
            router,
            signal,
            options,
            ..
        } = self;
        let request_signal = signal.clone();
        let service = service_fn(move |mut request: hyper::Request<Incoming>| {
            let router = router.clone();
            let user = user.clone();
            let signal = request_signal.clone();
            let anonymous_auth = options.anonymous_auth;
            async move {
                if !trusted || (user.is_anonymous() && !anonymous_auth) {
                    let accept = request
                        .headers()
                        .get(hyper::header::ACCEPT)
                        .and_then(|v| v.to_str().ok());
                    return Ok::<_, Infallible>(authn::unauthorized_response(accept));
                }
                let extensions = request.extensions_mut();
                extensions.insert::<UserInfo>(user);
                extensions.insert(ConnectInfo(peer));
                extensions.insert(signal);
                router.oneshot(request).await
            }
        });

        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new());
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(HTTP2_MAX_CONCURRENT_STREAMS);
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
        let mut connection = std::pin::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = signal.triggered() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(err) = result {
            tracing::debug!(%peer, %err, "connection ended with an error");
        }
    }
}

/// Accept errors that concern one connection only (the client gave up before we accepted).
fn is_per_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
