//! A server that offers only HTTP/1.1 in ALPN (as some proxies and load balancers in front of
//! API servers do) gets HTTP/1.1 from the client, over a kept-alive connection.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::ConfigMap;
use orchestra_api::{Api, Client};
use orchestra_apiserver::pki::Pki;
use orchestra_client::HttpClient;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// (client address, HTTP version) of every request served.
type Seen = Arc<Mutex<Vec<(SocketAddr, String)>>>;

/// Serves HTTP/1.1 only, answering every request with a ConfigMap naming the version.
async fn http1_only_server(pki: &Pki) -> (SocketAddr, Seen) {
    let mut tls =
        (*orchestra_apiserver::serve::tls_server_config(pki).expect("TLS config")).clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let record = record.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let version = format!("{:?}", request.version());
                    record.lock().expect("lock").push((peer, version.clone()));
                    let body = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "cm", "namespace": "default"},
                        "data": {"version": version}});
                    async move {
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(body.to_string())))
                                .expect("response"),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn a_server_without_http2_is_spoken_to_in_http1_over_one_kept_alive_connection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki =
        Pki::load_or_create(dir.path(), "127.0.0.1:0".parse().expect("addr"), &[]).expect("PKI");
    let (addr, seen) = http1_only_server(&pki).await;
    let kubeconfig = orchestra_apiserver::kubeconfig::Kubeconfig::from_yaml(&format!(
        r#"
clusters: [{{name: c, cluster: {{server: "https://{addr}", certificate-authority: ca.crt}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"#
    ))
    .expect("kubeconfig");
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, kubeconfig.to_yaml().expect("yaml")).expect("write");
    let client = Arc::new(HttpClient::from_kubeconfig(&path).expect("client")) as Arc<dyn Client>;
    let cms = Api::<ConfigMap>::namespaced(client, "default");
    for _ in 0..5 {
        let cm = cms.get("cm").await.expect("answer");
        assert_eq!(cm.data.as_ref().expect("data")["version"], "HTTP/1.1");
    }
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 5);
    let connections: BTreeSet<_> = seen.iter().map(|(peer, _)| *peer).collect();
    assert_eq!(
        connections.len(),
        1,
        "sequential requests reuse the connection"
    );
}
