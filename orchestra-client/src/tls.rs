//! The client's TLS configuration, from a resolved kubeconfig context.
//!
//! * **Trust**: the context's CA when it names one; otherwise the machine's trusted roots, as
//!   `kubectl` does; with `insecure-skip-tls-verify`, any server certificate (its handshake
//!   signature is still checked, so the connection is encrypted, but not authenticated).
//! * **Identity**: the client certificate and key, when the context has them (a bearer token
//!   travels in the `Authorization` header instead, see [`crate::HttpClient`]).
//! * **Protocols**: TLS 1.2 and 1.3 with the `ring` provider; ALPN offers `h2` then
//!   `http/1.1`, so the client speaks HTTP/2 to servers that do and HTTP/1.1 to the others.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::ClientError;
use crate::kubeconfig::ResolvedContext;

/// The rustls client configuration for `context` (ALPN is set by the connector).
pub fn client_config(context: &ResolvedContext) -> Result<ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| ClientError::Tls(err.to_string()))?;
    let builder = if context.insecure_skip_tls_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert {
                algorithms: provider.signature_verification_algorithms,
            }))
    } else {
        builder.with_root_certificates(trusted_roots(context)?)
    };
    match (&context.client_cert_pem, &context.client_key_pem) {
        (Some(cert), Some(key)) => {
            let chain = certificates(cert, "client-certificate")?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                .map_err(|err| ClientError::Tls(format!("client-key: {err}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|err| ClientError::Tls(format!("client certificate and key: {err}")))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(_), None) => Err(ClientError::Tls(
            "the kubeconfig user has a client certificate but no client key".to_owned(),
        )),
        (None, Some(_)) => Err(ClientError::Tls(
            "the kubeconfig user has a client key but no client certificate".to_owned(),
        )),
    }
}

/// The context's CA, or the machine's trusted roots when it names none.
fn trusted_roots(context: &ResolvedContext) -> Result<RootCertStore, ClientError> {
    let mut roots = RootCertStore::empty();
    match &context.ca_pem {
        Some(pem) => {
            for cert in certificates(pem, "certificate-authority")? {
                roots
                    .add(cert)
                    .map_err(|err| ClientError::Tls(format!("certificate-authority: {err}")))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for err in &native.errors {
                tracing::warn!(%err, "cannot read some of the system's trusted certificates");
            }
            let (added, ignored) = roots.add_parsable_certificates(native.certs);
            tracing::debug!(added, ignored, "using the system's trusted certificates");
        }
    }
    Ok(roots)
}

/// Every certificate in a PEM text; at least one.
fn certificates(pem: &str, field: &str) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| ClientError::Tls(format!("{field}: {err}")))?;
    if certs.is_empty() {
        return Err(ClientError::Tls(format!(
            "{field}: no PEM certificate found"
        )));
    }
    Ok(certs)
}

/// The server name to verify the certificate against, when the kubeconfig overrides the URL's
/// host (`tls-server-name`).
pub fn server_name_override(
    context: &ResolvedContext,
) -> Result<Option<ServerName<'static>>, ClientError> {
    context
        .tls_server_name
        .as_deref()
        .map(|name| {
            let name = name.trim_start_matches('[').trim_end_matches(']');
            ServerName::try_from(name.to_owned())
                .map_err(|err| ClientError::Tls(format!("tls-server-name {name:?}: {err}")))
        })
        .transpose()
}

/// `insecure-skip-tls-verify`: any certificate is accepted; the handshake signatures are still
/// verified, so the peer holds the key of the certificate it showed.
#[derive(Debug)]
struct AcceptAnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> ResolvedContext {
        ResolvedContext {
            server: "https://127.0.0.1:6443".to_owned(),
            ca_pem: None,
            client_cert_pem: None,
            client_key_pem: None,
            token: None,
            insecure_skip_tls_verify: true,
            tls_server_name: None,
            namespace: "default".to_owned(),
        }
    }

    #[test]
    fn a_certificate_without_its_key_is_refused() {
        let err = client_config(&ResolvedContext {
            client_cert_pem: Some("cert".to_owned()),
            ..context()
        })
        .expect_err("no key");
        assert!(err.to_string().contains("no client key"), "{err}");
    }

    #[test]
    fn a_ca_that_is_not_pem_is_refused_with_the_field_named() {
        let err = client_config(&ResolvedContext {
            ca_pem: Some("not a certificate".to_owned()),
            insecure_skip_tls_verify: false,
            ..context()
        })
        .expect_err("bad CA");
        assert!(err.to_string().contains("certificate-authority"), "{err}");
    }

    #[test]
    fn tls_server_name_may_be_a_dns_name_or_an_address() {
        let named = server_name_override(&ResolvedContext {
            tls_server_name: Some("kubernetes.default.svc".to_owned()),
            ..context()
        })
        .expect("valid");
        assert!(matches!(named, Some(ServerName::DnsName(_))));
        let address = server_name_override(&ResolvedContext {
            tls_server_name: Some("[::1]".to_owned()),
            ..context()
        })
        .expect("valid");
        assert!(matches!(address, Some(ServerName::IpAddress(_))));
        assert!(server_name_override(&context()).expect("none").is_none());
    }
}
