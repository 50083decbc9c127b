//! Kubeconfig files: how `kubectl` and other clients find and trust the API server, and prove
//! who they are.
//!
//! A kubeconfig lists *clusters* (a server URL and the CA to trust), *users* (credentials: here
//! a client certificate and key), and *contexts* pairing a cluster with a user; the
//! `current-context` says which pair to use. [`write`] produces the administrator's kubeconfig
//! beside the PKI — cluster `orchestra`, user `admin`, context `orchestra`, certificates embedded
//! as base64 `*-data` fields — and [`Kubeconfig::load`] reads any standard kubeconfig back,
//! resolving the current context with [`Kubeconfig::current`].
//!
//! ```no_run
//! use orchestra_apiserver::{kubeconfig, pki::Pki};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::path::Path::new("/var/lib/orchestra");
//! let pki = Pki::load_or_create(dir, "127.0.0.1:6443".parse()?, &[])?;
//! let path = kubeconfig::write(dir, "https://127.0.0.1:6443", &pki)?;
//! // `kubectl --kubeconfig /var/lib/orchestra/kubeconfig get pods` now works.
//! let current = kubeconfig::Kubeconfig::load(&path)?.current()?;
//! assert_eq!(current.server, "https://127.0.0.1:6443");
//! # Ok(())
//! # }
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::pki::{Pki, PkiError, write_file};

/// File name of the administrator's kubeconfig in the data directory.
pub const KUBECONFIG_FILE: &str = "kubeconfig";
/// Name of the cluster and of the context in the written kubeconfig.
pub const CLUSTER_NAME: &str = "orchestra";
/// Name of the user in the written kubeconfig.
pub const ADMIN_USER_NAME: &str = "admin";

/// What went wrong while reading, writing or resolving a kubeconfig.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// Reading a file failed.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Writing the kubeconfig failed.
    #[error(transparent)]
    Write(#[from] PkiError),
    /// The file is not a valid kubeconfig.
    #[error("{} is not a valid kubeconfig: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// Serializing the kubeconfig failed.
    #[error("cannot serialize kubeconfig: {0}")]
    Serialize(String),
    /// The current context, or what it refers to, is missing or incomplete.
    #[error("kubeconfig: {0}")]
    Resolve(String),
}

/// A kubeconfig (`apiVersion: v1`, `kind: Config`), the fields Orchestra uses; others are
/// ignored on load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Kubeconfig {
    /// `v1`.
    #[serde(default, rename = "apiVersion")]
    pub api_version: String,
    /// `Config`.
    #[serde(default)]
    pub kind: String,
    /// Known clusters.
    #[serde(default)]
    pub clusters: Vec<NamedCluster>,
    /// Known users (`AuthInfo`s).
    #[serde(default)]
    pub users: Vec<NamedAuthInfo>,
    /// Known contexts.
    #[serde(default)]
    pub contexts: Vec<NamedContext>,
    /// The context used unless another is asked for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub current_context: String,
    /// Where the file was loaded from; relative paths in it are relative to its directory.
    #[serde(skip)]
    pub origin: Option<PathBuf>,
}

/// A cluster entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCluster {
    /// The name contexts refer to.
    pub name: String,
    /// The cluster.
    pub cluster: Cluster,
}

/// How to reach and trust an API server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Cluster {
    /// `https://host:port`.
    pub server: String,
    /// The CA certificate (PEM), base64-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
    /// A file with the CA certificate (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<PathBuf>,
    /// Skip verifying the server's certificate (insecure).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_tls_verify: bool,
    /// The name to verify the server's certificate against, instead of the URL's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
}

/// A user entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedAuthInfo {
    /// The name contexts refer to.
    pub name: String,
    /// The credentials.
    pub user: AuthInfo,
}

/// A user's credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AuthInfo {
    /// The client certificate (PEM), base64-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_data: Option<String>,
    /// The client key (PEM), base64-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<String>,
    /// A file with the client certificate (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<PathBuf>,
    /// A file with the client key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// A bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A context entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedContext {
    /// The context's name.
    pub name: String,
    /// The context.
    pub context: Context,
}

/// A cluster paired with a user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// The cluster's name.
    pub cluster: String,
    /// The user's name.
    pub user: String,
    /// The default namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The current context resolved to PEM material, ready for a TLS client.
#[derive(Clone, PartialEq, Eq)]
pub struct ResolvedContext {
    /// `https://host:port`.
    pub server: String,
    /// The CA to trust (PEM), if the kubeconfig names one.
    pub ca_pem: Option<String>,
    /// The client certificate (PEM), if any.
    pub client_cert_pem: Option<String>,
    /// The client key (PEM), if any.
    pub client_key_pem: Option<String>,
    /// A bearer token, if any.
    pub token: Option<String>,
    /// Skip verifying the server's certificate.
    pub insecure_skip_tls_verify: bool,
    /// The name to verify the server's certificate against.
    pub tls_server_name: Option<String>,
    /// The default namespace (`default` when the context names none).
    pub namespace: String,
}

impl std::fmt::Debug for ResolvedContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedContext")
            .field("server", &self.server)
            .field("namespace", &self.namespace)
            .field("has_client_cert", &self.client_cert_pem.is_some())
            .field("has_token", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

impl Kubeconfig {
    /// The administrator's kubeconfig for `server_url` with the PKI's CA and admin certificate.
    pub fn for_admin(server_url: &str, pki: &Pki) -> Self {
        Kubeconfig {
            api_version: "v1".to_owned(),
            kind: "Config".to_owned(),
            clusters: vec![NamedCluster {
                name: CLUSTER_NAME.to_owned(),
                cluster: Cluster {
                    server: server_url.to_owned(),
                    certificate_authority_data: Some(BASE64.encode(pki.ca_cert_pem())),
                    ..Cluster::default()
                },
            }],
            users: vec![NamedAuthInfo {
                name: ADMIN_USER_NAME.to_owned(),
                user: AuthInfo {
                    client_certificate_data: Some(BASE64.encode(pki.admin().cert_pem())),
                    client_key_data: Some(BASE64.encode(pki.admin().key_pem())),
                    ..AuthInfo::default()
                },
            }],
            contexts: vec![NamedContext {
                name: CLUSTER_NAME.to_owned(),
                context: Context {
                    cluster: CLUSTER_NAME.to_owned(),
                    user: ADMIN_USER_NAME.to_owned(),
                    namespace: None,
                },
            }],
            current_context: CLUSTER_NAME.to_owned(),
            origin: None,
        }
    }

    /// Reads and parses a kubeconfig file.
    pub fn load(path: &Path) -> Result<Self, KubeconfigError> {
        let text = fs::read_to_string(path).map_err(|source| KubeconfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::from_yaml(&text).map_err(|reason| KubeconfigError::Parse {
            path: path.to_owned(),
            reason,
        })?;
        config.origin = Some(path.to_owned());
        Ok(config)
    }

    /// Parses kubeconfig YAML (or JSON, which is YAML).
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        serde_yaml_ng::from_str(text).map_err(|err| err.to_string())
    }

    /// The kubeconfig as YAML.
    pub fn to_yaml(&self) -> Result<String, KubeconfigError> {
        serde_yaml_ng::to_string(self).map_err(|err| KubeconfigError::Serialize(err.to_string()))
    }

    /// Resolves the current context: the server, and the CA and credentials from embedded data
    /// or from files (relative to the kubeconfig's directory).
    pub fn current(&self) -> Result<ResolvedContext, KubeconfigError> {
        self.context(&self.current_context)
    }

    /// Resolves the context named `name`; see [`Kubeconfig::current`].
    pub fn context(&self, name: &str) -> Result<ResolvedContext, KubeconfigError> {
        if name.is_empty() {
            return Err(KubeconfigError::Resolve(
                "no current-context is set".to_owned(),
            ));
        }
        let context = &self
            .contexts
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| KubeconfigError::Resolve(format!("context {name:?} not found")))?
            .context;
        let cluster = &self
            .clusters
            .iter()
            .find(|c| c.name == context.cluster)
            .ok_or_else(|| {
                KubeconfigError::Resolve(format!(
                    "cluster {:?} of context {name:?} not found",
                    context.cluster
                ))
            })?
            .cluster;
        let user = self
            .users
            .iter()
            .find(|u| u.name == context.user)
            .map(|u| u.user.clone())
            .unwrap_or_default();
        if cluster.server.is_empty() {
            return Err(KubeconfigError::Resolve(format!(
                "cluster {:?} has no server",
                context.cluster
            )));
        }
        Ok(ResolvedContext {
            server: cluster.server.clone(),
            ca_pem: self.material(
                "certificate-authority",
                cluster.certificate_authority_data.as_deref(),
                cluster.certificate_authority.as_deref(),
            )?,
            client_cert_pem: self.material(
                "client-certificate",
                user.client_certificate_data.as_deref(),
                user.client_certificate.as_deref(),
            )?,
            client_key_pem: self.material(
                "client-key",
                user.client_key_data.as_deref(),
                user.client_key.as_deref(),
            )?,
            token: user.token,
            insecure_skip_tls_verify: cluster.insecure_skip_tls_verify,
            tls_server_name: cluster.tls_server_name.clone(),
            namespace: context
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_owned()),
        })
    }

    /// PEM text from `<field>-data` (base64) or else from the file `<field>`.
    fn material(
        &self,
        field: &str,
        data: Option<&str>,
        file: Option<&Path>,
    ) -> Result<Option<String>, KubeconfigError> {
        if let Some(data) = data.filter(|d| !d.is_empty()) {
            let bytes = BASE64
                .decode(data.trim())
                .map_err(|err| KubeconfigError::Resolve(format!("{field}-data: {err}")))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| KubeconfigError::Resolve(format!("{field}-data is not PEM text")))?;
            return Ok(Some(text));
        }
        let Some(file) = file else {
            return Ok(None);
        };
        let path = match (&self.origin, file.is_relative()) {
            (Some(origin), true) => origin
                .parent()
                .map(|dir| dir.join(file))
                .unwrap_or_else(|| file.to_owned()),
            _ => file.to_owned(),
        };
        fs::read_to_string(&path)
            .map(Some)
            .map_err(|source| KubeconfigError::Read { path, source })
    }
}

/// Writes the administrator's kubeconfig for `server_url` to `dir/kubeconfig` (mode `0600`: it
/// holds the admin key) and returns its path. Overwrites an existing one, so it follows a
/// renewed admin certificate.
pub fn write(dir: &Path, server_url: &str, pki: &Pki) -> Result<PathBuf, KubeconfigError> {
    let path = dir.join(KUBECONFIG_FILE);
    let yaml = Kubeconfig::for_admin(server_url, pki).to_yaml()?;
    write_file(&path, yaml.as_bytes(), 0o600)?;
    tracing::info!(path = %path.display(), server = server_url, "wrote admin kubeconfig");
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_kubeconfig_loads_back_to_the_admin_credentials() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::load_or_create(dir.path(), ([127, 0, 0, 1], 6443).into(), &[]).expect("PKI");
        let path = write(dir.path(), "https://127.0.0.1:6443", &pki).expect("write");
        assert_eq!(path, dir.path().join("kubeconfig"));
        let config = Kubeconfig::load(&path).expect("load");
        assert_eq!(config.current_context, "orchestra");
        assert_eq!(config.clusters[0].name, "orchestra");
        assert_eq!(config.users[0].name, "admin");
        let current = config.current().expect("resolve");
        assert_eq!(current.server, "https://127.0.0.1:6443");
        assert_eq!(current.ca_pem.as_deref(), Some(pki.ca_cert_pem()));
        assert_eq!(
            current.client_cert_pem.as_deref(),
            Some(pki.admin().cert_pem())
        );
        assert_eq!(
            current.client_key_pem.as_deref(),
            Some(pki.admin().key_pem())
        );
        assert_eq!(current.namespace, "default");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn written_kubeconfig_uses_kubectl_field_names() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::load_or_create(dir.path(), ([127, 0, 0, 1], 6443).into(), &[]).expect("PKI");
        let yaml = Kubeconfig::for_admin("https://127.0.0.1:6443", &pki)
            .to_yaml()
            .expect("yaml");
        for key in [
            "apiVersion: v1",
            "kind: Config",
            "current-context: orchestra",
            "certificate-authority-data:",
            "client-certificate-data:",
            "client-key-data:",
            "server: https://127.0.0.1:6443",
        ] {
            assert!(yaml.contains(key), "{key} missing from\n{yaml}");
        }
    }

    #[test]
    fn file_references_are_relative_to_the_kubeconfig() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("ca.pem"), "CA").expect("write ca");
        let path = dir.path().join("config");
        fs::write(
            &path,
            r#"
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority: ca.pem
users:
- name: u
  user:
    token: secret
contexts:
- name: ctx
  context: {cluster: c, user: u, namespace: team-a}
current-context: ctx
preferences: {}
"#,
        )
        .expect("write config");
        let current = Kubeconfig::load(&path)
            .expect("load")
            .current()
            .expect("resolve");
        assert_eq!(current.ca_pem.as_deref(), Some("CA"));
        assert_eq!(current.token.as_deref(), Some("secret"));
        assert_eq!(current.client_cert_pem, None);
        assert_eq!(current.namespace, "team-a");
    }

    #[test]
    fn missing_context_is_a_clear_error() {
        let config = Kubeconfig {
            current_context: "nowhere".to_owned(),
            ..Kubeconfig::default()
        };
        let err = config.current().expect_err("no such context");
        assert_eq!(err.to_string(), "kubeconfig: context \"nowhere\" not found");
    }
}
