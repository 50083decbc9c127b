//! Why an [`crate::HttpClient`] could not be built.
//!
//! Requests themselves fail with an [`orchestra_api::Status`], as over every `Client`; these
//! errors come earlier, from the kubeconfig or the TLS material it names.

use crate::kubeconfig::KubeconfigError;

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The kubeconfig could not be read or resolved.
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    /// The server URL is not an `https://` (or `http://`) URL.
    #[error("invalid server URL {url:?}: {reason}")]
    ServerUrl {
        /// The URL from the kubeconfig.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The CA, client certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The bearer token cannot be sent in a header.
    #[error("the bearer token contains characters that cannot be sent in a header")]
    Token,
}
