//! The administrator's kubeconfig: how `kubectl` and other clients find and trust this API
//! server, and prove who they are.
//!
//! The kubeconfig model — clusters, users, contexts, and resolving the current one — is
//! client-side knowledge and lives in [`orchestra_client::kubeconfig`]; it is re-exported here.
//! This module writes the file the server hands to its administrator beside the PKI: cluster
//! `orchestra`, user `admin`, context `orchestra`, certificates embedded as base64 `*-data`
//! fields.
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

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
pub use orchestra_client::kubeconfig::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
    ResolvedContext,
};

use crate::pki::{Pki, PkiError, write_file};

/// File name of the administrator's kubeconfig in the data directory.
pub const KUBECONFIG_FILE: &str = "kubeconfig";
/// Name of the cluster and of the context in the written kubeconfig.
pub const CLUSTER_NAME: &str = "orchestra";
/// Name of the user in the written kubeconfig.
pub const ADMIN_USER_NAME: &str = "admin";

/// Why the administrator's kubeconfig could not be written.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// Writing the file failed.
    #[error(transparent)]
    Write(#[from] PkiError),
    /// Serializing the kubeconfig failed.
    #[error(transparent)]
    Serialize(#[from] orchestra_client::kubeconfig::KubeconfigError),
}

/// The administrator's kubeconfig for `server_url` with the PKI's CA and admin certificate.
pub fn admin_kubeconfig(server_url: &str, pki: &Pki) -> Kubeconfig {
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
            origin: None,
        }],
        users: vec![NamedAuthInfo {
            name: ADMIN_USER_NAME.to_owned(),
            user: AuthInfo {
                client_certificate_data: Some(BASE64.encode(pki.admin().cert_pem())),
                client_key_data: Some(BASE64.encode(pki.admin().key_pem())),
                ..AuthInfo::default()
            },
            origin: None,
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

/// Writes the administrator's kubeconfig for `server_url` to `dir/kubeconfig` (mode `0600`: it
/// holds the admin key) and returns its path. Overwrites an existing one, so it follows a
/// renewed admin certificate.
pub fn write(dir: &Path, server_url: &str, pki: &Pki) -> Result<PathBuf, KubeconfigError> {
    let path = dir.join(KUBECONFIG_FILE);
    let yaml = admin_kubeconfig(server_url, pki).to_yaml()?;
    write_file(&path, yaml.as_bytes(), 0o600)?;
    tracing::info!(path = %path.display(), server = server_url, "wrote admin kubeconfig");
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

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
        let yaml = admin_kubeconfig("https://127.0.0.1:6443", &pki)
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
}
