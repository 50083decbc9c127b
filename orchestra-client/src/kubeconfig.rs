//! Kubeconfig files: how `kubectl` and every other client find and trust the API server, and
//! prove who they are.
//!
//! A kubeconfig lists *clusters* (a server URL and the CA to trust), *users* (credentials: a
//! client certificate and key, or a bearer token), and *contexts* pairing a cluster with a user
//! and a default namespace; the `current-context` says which pair to use. [`Kubeconfig::load`]
//! reads one file, [`Kubeconfig::load_default`] finds them as `kubectl` does (`$KUBECONFIG`, a
//! list of files merged first-wins, else `~/.kube/config`), and [`Kubeconfig::current`]
//! resolves the current context to PEM material and a token, reading `*-data` fields or the
//! files they name (relative to the kubeconfig's own directory).
//!
//! ```
//! use orchestra_client::kubeconfig::Kubeconfig;
//!
//! let config = Kubeconfig::from_yaml(r#"
//! apiVersion: v1
//! kind: Config
//! clusters:
//! - name: local
//!   cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
//! users:
//! - name: dev
//!   user: {token: s3cret}
//! contexts:
//! - name: dev@local
//!   context: {cluster: local, user: dev, namespace: team-a}
//! current-context: dev@local
//! "#).unwrap();
//! let current = config.current().unwrap();
//! assert_eq!(current.server, "https://127.0.0.1:6443");
//! assert_eq!(current.token.as_deref(), Some("s3cret"));
//! assert_eq!(current.namespace, "team-a");
//! ```

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

/// What went wrong while reading or resolving a kubeconfig.
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
    /// No kubeconfig file could be found.
    #[error(
        "no kubeconfig found: set KUBECONFIG or create ~/.kube/config (tried {})",
        tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound {
        /// The places looked at.
        tried: Vec<PathBuf>,
    },
    /// The current context, or what it refers to, is missing or incomplete.
    #[error("kubeconfig: {0}")]
    Resolve(String),
}

/// A kubeconfig (`apiVersion: v1`, `kind: Config`): the fields Orchestra uses; others are
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
    /// The file this entry came from, when merged from several (for relative paths).
    #[serde(skip)]
    pub origin: Option<PathBuf>,
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
    /// The file this entry came from, when merged from several (for relative paths).
    #[serde(skip)]
    pub origin: Option<PathBuf>,
}

/// A user's credentials.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// A file whose content is the bearer token (`tokenFile`).
    #[serde(default, rename = "tokenFile", skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
}

impl std::fmt::Debug for AuthInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys and tokens stay out of logs.
        f.debug_struct("AuthInfo")
            .field("client_certificate", &self.client_certificate)
            .field("client_key", &self.client_key)
            .field(
                "has_client_certificate_data",
                &self.client_certificate_data.is_some(),
            )
            .field("has_client_key_data", &self.client_key_data.is_some())
            .field("has_token", &self.token.is_some())
            .field("token_file", &self.token_file)
            .finish()
    }
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
            .field("has_ca", &self.ca_pem.is_some())
            .field("has_client_cert", &self.client_cert_pem.is_some())
            .field("has_token", &self.token.is_some())
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .field("tls_server_name", &self.tls_server_name)
            .finish_non_exhaustive()
    }
}

/// The kubeconfig files `kubectl` would read, given the value of `$KUBECONFIG` and the home
/// directory: every entry of a non-empty `KUBECONFIG` (a `:`-separated list on Unix), else
/// `<home>/.kube/config`.
pub fn default_paths(kubeconfig_env: Option<&OsStr>, home: Option<&Path>) -> Vec<PathBuf> {
    if let Some(list) = kubeconfig_env.filter(|v| !v.is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            return paths;
        }
    }
    home.map(|h| vec![h.join(".kube").join("config")])
        .unwrap_or_default()
}

impl Kubeconfig {
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

    /// Reads the kubeconfig as `kubectl` does: the files listed in `$KUBECONFIG`, merged (the
    /// first file to define a cluster, user, context or the current context wins; missing
    /// files are skipped), else `~/.kube/config`.
    pub fn load_default() -> Result<Self, KubeconfigError> {
        let env = std::env::var_os("KUBECONFIG");
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Self::load_merged(&default_paths(env.as_deref(), home.as_deref()))
    }

    /// Reads and merges the given kubeconfig files, first-wins, skipping missing ones; fails
    /// when none exists.
    pub fn load_merged(paths: &[PathBuf]) -> Result<Self, KubeconfigError> {
        let mut merged: Option<Kubeconfig> = None;
        for path in paths {
            let config = match Self::load(path) {
                Ok(config) => config,
                Err(KubeconfigError::Read { source, .. })
                    if source.kind() == io::ErrorKind::NotFound =>
                {
                    continue;
                }
                Err(err) => return Err(err),
            };
            merged = Some(match merged {
                None => config.with_entry_origins(),
                Some(first) => first.merge(config.with_entry_origins()),
            });
        }
        merged.ok_or_else(|| KubeconfigError::NotFound {
            tried: paths.to_vec(),
        })
    }

    /// Records the file on every cluster and user, so that their relative paths still resolve
    /// after a merge.
    fn with_entry_origins(mut self) -> Self {
        for cluster in &mut self.clusters {
            cluster
                .origin
                .get_or_insert_with(|| self.origin.clone().unwrap_or_default());
        }
        for user in &mut self.users {
            user.origin
                .get_or_insert_with(|| self.origin.clone().unwrap_or_default());
        }
        self
    }

    /// Adds what `later` defines and this one does not.
    fn merge(mut self, later: Kubeconfig) -> Self {
        for cluster in later.clusters {
            if !self.clusters.iter().any(|c| c.name == cluster.name) {
                self.clusters.push(cluster);
            }
        }
        for user in later.users {
            if !self.users.iter().any(|u| u.name == user.name) {
                self.users.push(user);
            }
        }
        for context in later.contexts {
            if !self.contexts.iter().any(|c| c.name == context.name) {
                self.contexts.push(context);
            }
        }
        if self.current_context.is_empty() {
            self.current_context = later.current_context;
        }
        self
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
        let named_cluster = self
            .clusters
            .iter()
            .find(|c| c.name == context.cluster)
            .ok_or_else(|| {
                KubeconfigError::Resolve(format!(
                    "cluster {:?} of context {name:?} not found",
                    context.cluster
                ))
            })?;
        let cluster = &named_cluster.cluster;
        let named_user = self.users.iter().find(|u| u.name == context.user);
        let user = named_user.map(|u| u.user.clone()).unwrap_or_default();
        if cluster.server.is_empty() {
            return Err(KubeconfigError::Resolve(format!(
                "cluster {:?} has no server",
                context.cluster
            )));
        }
        let cluster_origin = named_cluster.origin.as_deref().or(self.origin.as_deref());
        let user_origin = named_user
            .and_then(|u| u.origin.as_deref())
            .or(self.origin.as_deref());
        let token = match (&user.token, &user.token_file) {
            (Some(token), _) if !token.is_empty() => Some(token.clone()),
            (_, Some(file)) => {
                let path = relative_to(user_origin, file);
                let text = fs::read_to_string(&path)
                    .map_err(|source| KubeconfigError::Read { path, source })?;
                Some(text.trim().to_owned())
            }
            _ => None,
        };
        Ok(ResolvedContext {
            server: cluster.server.clone(),
            ca_pem: material(
                cluster_origin,
                "certificate-authority",
                cluster.certificate_authority_data.as_deref(),
                cluster.certificate_authority.as_deref(),
            )?,
            client_cert_pem: material(
                user_origin,
                "client-certificate",
                user.client_certificate_data.as_deref(),
                user.client_certificate.as_deref(),
            )?,
            client_key_pem: material(
                user_origin,
                "client-key",
                user.client_key_data.as_deref(),
                user.client_key.as_deref(),
            )?,
            token,
            insecure_skip_tls_verify: cluster.insecure_skip_tls_verify,
            tls_server_name: cluster.tls_server_name.clone().filter(|n| !n.is_empty()),
            namespace: context
                .namespace
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "default".to_owned()),
        })
    }
}

/// `file`, relative to the directory of the kubeconfig it was named in.
fn relative_to(origin: Option<&Path>, file: &Path) -> PathBuf {
    match (origin, file.is_relative()) {
        (Some(origin), true) => origin
            .parent()
            .map(|dir| dir.join(file))
            .unwrap_or_else(|| file.to_owned()),
        _ => file.to_owned(),
    }
}

/// PEM text from `<field>-data` (base64) or else from the file `<field>`.
fn material(
    origin: Option<&Path>,
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
    let Some(file) = file.filter(|f| !f.as_os_str().is_empty()) else {
        return Ok(None);
    };
    let path = relative_to(origin, file);
    fs::read_to_string(&path)
        .map(Some)
        .map_err(|source| KubeconfigError::Read { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn file_references_are_relative_to_the_kubeconfig() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(dir.path(), "ca.pem", "CA");
        write(dir.path(), "token", "secret\n");
        let path = write(
            dir.path(),
            "config",
            r#"
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority: ca.pem
    tls-server-name: api.internal
users:
- name: u
  user:
    tokenFile: token
contexts:
- name: ctx
  context: {cluster: c, user: u, namespace: team-a}
current-context: ctx
preferences: {}
"#,
        );
        let current = Kubeconfig::load(&path)
            .expect("load")
            .current()
            .expect("resolve");
        assert_eq!(current.ca_pem.as_deref(), Some("CA"));
        assert_eq!(current.token.as_deref(), Some("secret"));
        assert_eq!(current.client_cert_pem, None);
        assert_eq!(current.namespace, "team-a");
        assert_eq!(current.tls_server_name.as_deref(), Some("api.internal"));
    }

    #[test]
    fn embedded_data_is_base64_pem() {
        let yaml = format!(
            r#"
clusters: [{{name: c, cluster: {{server: "https://h:1", certificate-authority-data: {ca}}}}}]
users: [{{name: u, user: {{client-certificate-data: {cert}, client-key-data: {key}}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"#,
            ca = BASE64.encode("CA PEM"),
            cert = BASE64.encode("CERT PEM"),
            key = BASE64.encode("KEY PEM"),
        );
        let current = Kubeconfig::from_yaml(&yaml)
            .expect("parse")
            .current()
            .expect("resolve");
        assert_eq!(current.ca_pem.as_deref(), Some("CA PEM"));
        assert_eq!(current.client_cert_pem.as_deref(), Some("CERT PEM"));
        assert_eq!(current.client_key_pem.as_deref(), Some("KEY PEM"));
        assert_eq!(current.namespace, "default");
        assert!(!current.insecure_skip_tls_verify);
    }

    #[test]
    fn bad_base64_is_a_resolve_error_naming_the_field() {
        let config = Kubeconfig::from_yaml(
            r#"
clusters: [{name: c, cluster: {server: "https://h:1", certificate-authority-data: "!!"}}]
contexts: [{name: x, context: {cluster: c, user: nobody}}]
current-context: x
"#,
        )
        .expect("parse");
        let err = config.current().expect_err("bad data");
        assert!(
            err.to_string()
                .starts_with("kubeconfig: certificate-authority-data:"),
            "{err}"
        );
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

    #[test]
    fn kubeconfig_env_lists_files_and_home_is_the_fallback() {
        let home = Path::new("/home/dev");
        assert_eq!(
            default_paths(None, Some(home)),
            vec![PathBuf::from("/home/dev/.kube/config")]
        );
        assert_eq!(
            default_paths(Some(OsStr::new("")), Some(home)),
            vec![PathBuf::from("/home/dev/.kube/config")]
        );
        assert_eq!(
            default_paths(Some(OsStr::new("/a/one:/b/two")), Some(home)),
            vec![PathBuf::from("/a/one"), PathBuf::from("/b/two")]
        );
        assert!(default_paths(None, None).is_empty());
    }

    #[test]
    fn merged_files_take_the_first_definition_and_keep_their_own_relative_paths() {
        let first_dir = tempfile::tempdir().expect("temp dir");
        let second_dir = tempfile::tempdir().expect("temp dir");
        write(second_dir.path(), "ca.pem", "SECOND CA");
        let first = write(
            first_dir.path(),
            "config",
            r#"
contexts: [{name: x, context: {cluster: c, user: u, namespace: first}}]
users: [{name: u, user: {token: first-token}}]
"#,
        );
        let second = write(
            second_dir.path(),
            "config",
            r#"
clusters: [{name: c, cluster: {server: "https://second:6443", certificate-authority: ca.pem}}]
users: [{name: u, user: {token: second-token}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: second}}]
current-context: x
"#,
        );
        let missing = first_dir.path().join("absent");
        let merged = Kubeconfig::load_merged(&[missing, first, second]).expect("merge");
        let current = merged.current().expect("resolve");
        assert_eq!(current.server, "https://second:6443");
        assert_eq!(current.ca_pem.as_deref(), Some("SECOND CA"));
        assert_eq!(current.token.as_deref(), Some("first-token"));
        assert_eq!(current.namespace, "first");
    }

    #[test]
    fn no_existing_file_is_not_found() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = Kubeconfig::load_merged(&[dir.path().join("nope")]).expect_err("none");
        assert!(matches!(err, KubeconfigError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn credentials_stay_out_of_debug_output() {
        let info = AuthInfo {
            token: Some("s3cret".to_owned()),
            client_key_data: Some("KEY".to_owned()),
            ..AuthInfo::default()
        };
        let shown = format!("{info:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("KEY\""),
            "{shown}"
        );
    }
}
