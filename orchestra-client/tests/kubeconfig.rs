//! The kubeconfig shapes users have, each against a real server: certificates embedded or in
//! files, a CA or `insecure-skip-tls-verify` or neither, `tls-server-name`, bearer tokens, and
//! the context's namespace.

mod support;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_openapi::api::core::v1::Namespace;
use orchestra_api::{Api, Client, StatusReason};
use orchestra_apiserver::kubeconfig::{AuthInfo, Kubeconfig};
use orchestra_apiserver::pki::Pki;
use orchestra_client::{ClientError, HttpClient, RetryPolicy};
use support::{FakeServer, TestServer, kubeconfig_for, write_kubeconfig};

fn admin_user(pki: &Pki) -> AuthInfo {
    AuthInfo {
        client_certificate_data: Some(BASE64.encode(pki.admin().cert_pem())),
        client_key_data: Some(BASE64.encode(pki.admin().key_pem())),
        ..AuthInfo::default()
    }
}

/// Reads the `default` namespace through `client`.
async fn read_default(client: HttpClient) -> Result<(), orchestra_api::Status> {
    let namespaces = Api::<Namespace>::all(Arc::new(client) as Arc<dyn Client>);
    let ns = namespaces.get("default").await?;
    assert_eq!(ns.metadata.name.as_deref(), Some("default"));
    Ok(())
}

#[tokio::test]
async fn the_servers_own_kubeconfig_with_embedded_certificates_works() {
    let server = TestServer::start().await;
    let client = HttpClient::from_kubeconfig(server.kubeconfig()).expect("client");
    assert_eq!(client.server(), server.url());
    assert_eq!(client.default_namespace(), "default");
    read_default(client).await.expect("admin reads");
}

#[tokio::test]
async fn certificates_and_ca_in_files_relative_to_the_kubeconfig_work() {
    let server = TestServer::start().await;
    let pki = &server.running.pki;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("certs")).expect("mkdir");
    std::fs::write(dir.path().join("certs/ca.crt"), pki.ca_cert_pem()).expect("ca");
    let jane = pki
        .issue_client_cert("jane", &["system:masters".to_owned()])
        .expect("jane's certificate");
    std::fs::write(dir.path().join("certs/jane.crt"), jane.cert_pem()).expect("cert");
    std::fs::write(dir.path().join("certs/jane.key"), jane.key_pem()).expect("key");
    let yaml = format!(
        r#"
apiVersion: v1
kind: Config
clusters:
- name: orchestra
  cluster:
    server: {url}
    certificate-authority: certs/ca.crt
users:
- name: jane
  user:
    client-certificate: certs/jane.crt
    client-key: certs/jane.key
contexts:
- name: jane@orchestra
  context: {{cluster: orchestra, user: jane, namespace: kube-system}}
current-context: jane@orchestra
"#,
        url = server.url()
    );
    let path = dir.path().join("config");
    std::fs::write(&path, yaml).expect("write");
    let client = HttpClient::from_kubeconfig(&path).expect("client");
    assert_eq!(client.default_namespace(), "kube-system");
    read_default(client).await.expect("jane reads");
}

#[tokio::test]
async fn insecure_skip_tls_verify_connects_without_a_ca() {
    let server = TestServer::start().await;
    let mut config = kubeconfig_for(&server.url(), None, admin_user(&server.running.pki));
    config.clusters[0].cluster.insecure_skip_tls_verify = true;
    let path = write_kubeconfig(server.dir.path(), "insecure", &config);
    read_default(HttpClient::from_kubeconfig(&path).expect("client"))
        .await
        .expect("insecure reads");
}

#[tokio::test]
async fn a_server_certificate_nobody_vouches_for_is_refused_at_once() {
    let server = TestServer::start().await;
    // No CA: the system's roots do not know the cluster's CA.
    let config = kubeconfig_for(&server.url(), None, admin_user(&server.running.pki));
    let path = write_kubeconfig(server.dir.path(), "no-ca", &config);
    let client = HttpClient::from_kubeconfig(&path)
        .expect("client")
        .with_retry_policy(RetryPolicy {
            max_retries: 10,
            initial_backoff: std::time::Duration::from_secs(5),
            ..RetryPolicy::default()
        });
    // Not retried: the back-off above would make a retry take five seconds.
    let started = std::time::Instant::now();
    let err = read_default(client).await.expect_err("untrusted server");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(err.reason, StatusReason::ServiceUnavailable);
    assert!(
        err.message.to_lowercase().contains("certificate"),
        "{}",
        err.message
    );

    // Another cluster's CA is no better.
    let other = tempfile::tempdir().expect("temp dir");
    let other_pki =
        Pki::load_or_create(other.path(), "127.0.0.1:0".parse().expect("addr"), &[]).expect("pki");
    let config = kubeconfig_for(
        &server.url(),
        Some(other_pki.ca_cert_pem()),
        admin_user(&server.running.pki),
    );
    let path = write_kubeconfig(server.dir.path(), "other-ca", &config);
    let err = read_default(HttpClient::from_kubeconfig(&path).expect("client"))
        .await
        .expect_err("wrong CA");
    assert!(
        err.message.to_lowercase().contains("certificate"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn tls_server_name_replaces_the_host_in_verification() {
    let server = TestServer::start().await;
    let pki = &server.running.pki;
    let mut config = kubeconfig_for(&server.url(), Some(pki.ca_cert_pem()), admin_user(pki));
    // The serving certificate names `localhost`; the URL says 127.0.0.1.
    config.clusters[0].cluster.tls_server_name = Some("localhost".into());
    let path = write_kubeconfig(server.dir.path(), "named", &config);
    read_default(HttpClient::from_kubeconfig(&path).expect("client"))
        .await
        .expect("verified as localhost");

    config.clusters[0].cluster.tls_server_name = Some("not-the-server.example".into());
    let path = write_kubeconfig(server.dir.path(), "misnamed", &config);
    let err = read_default(HttpClient::from_kubeconfig(&path).expect("client"))
        .await
        .expect_err("the certificate does not name it");
    assert!(
        err.message.to_lowercase().contains("certificate"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_unauthorized() {
    let server = TestServer::start().await;
    let other = tempfile::tempdir().expect("temp dir");
    let other_pki =
        Pki::load_or_create(other.path(), "127.0.0.1:0".parse().expect("addr"), &[]).expect("pki");
    let config = kubeconfig_for(
        &server.url(),
        Some(server.running.pki.ca_cert_pem()),
        admin_user(&other_pki),
    );
    let path = write_kubeconfig(server.dir.path(), "stranger", &config);
    let err = read_default(HttpClient::from_kubeconfig(&path).expect("client"))
        .await
        .expect_err("unauthorized");
    assert_eq!((err.code, err.reason), (401, StatusReason::Unauthorized));
}

#[tokio::test]
async fn bearer_tokens_are_sent_from_the_kubeconfig_or_its_token_file() {
    let router = axum::Router::new().fallback(|request: Request| async move {
        let auth = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if auth != "Bearer s3cret" {
            let status = orchestra_api::Status::unauthorized(format!("got {auth:?}"));
            return (
                StatusCode::UNAUTHORIZED,
                serde_json::to_string(&status).expect("status"),
            )
                .into_response();
        }
        let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "default"}});
        ([("content-type", "application/json")], ns.to_string()).into_response()
    });
    let fake = FakeServer::start(router).await;
    let inline = fake.kubeconfig(
        "inline",
        AuthInfo {
            token: Some("s3cret".into()),
            ..AuthInfo::default()
        },
    );
    read_default(HttpClient::from_kubeconfig(&inline).expect("client"))
        .await
        .expect("token accepted");

    std::fs::write(fake.dir.path().join("token"), "s3cret\n").expect("token file");
    let from_file = fake.kubeconfig(
        "from-file",
        AuthInfo {
            token_file: Some("token".into()),
            ..AuthInfo::default()
        },
    );
    read_default(HttpClient::from_kubeconfig(&from_file).expect("client"))
        .await
        .expect("token file accepted");

    let wrong = fake.kubeconfig(
        "wrong",
        AuthInfo {
            token: Some("guess".into()),
            ..AuthInfo::default()
        },
    );
    let err = read_default(HttpClient::from_kubeconfig(&wrong).expect("client"))
        .await
        .expect_err("wrong token");
    assert_eq!(err.code, 401);
    assert!(err.message.contains("Bearer guess"), "{}", err.message);
}

#[test]
fn unusable_kubeconfigs_are_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = HttpClient::from_kubeconfig(dir.path().join("absent")).expect_err("missing");
    assert!(matches!(missing, ClientError::Kubeconfig(_)), "{missing}");
    assert!(missing.to_string().contains("absent"), "{missing}");

    let bad_url = kubeconfig_for("ftp://example.com", None, AuthInfo::default());
    let path = write_kubeconfig(dir.path(), "ftp", &bad_url);
    let err = HttpClient::from_kubeconfig(&path).expect_err("ftp");
    assert!(matches!(err, ClientError::ServerUrl { .. }), "{err}");

    let mut no_context: Kubeconfig = kubeconfig_for("https://h:1", None, AuthInfo::default());
    no_context.current_context = "elsewhere".into();
    let path = write_kubeconfig(dir.path(), "ctx", &no_context);
    let err = HttpClient::from_kubeconfig(&path).expect_err("no such context");
    assert_eq!(
        err.to_string(),
        "kubeconfig: context \"elsewhere\" not found"
    );
}
