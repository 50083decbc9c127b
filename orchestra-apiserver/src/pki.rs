//! The cluster's public-key infrastructure: one certificate authority, the API server's serving
//! certificate and client certificates for users and components.
//!
//! Kubernetes identifies clients by X.509 certificates signed by the cluster CA: the subject's
//! common name (CN) is the user name and each organization (O) is a group. [`Pki`] keeps, as PEM
//! files in the API server's data directory,
//!
//! | file | what |
//! |---|---|
//! | `ca.crt`, `ca.key` | the cluster CA (self-signed, ten years) |
//! | `apiserver.crt`, `apiserver.key` | the serving certificate, for `localhost`, `127.0.0.1`, `::1`, the listen address, the `kubernetes.default.svc…` names and any extra names |
//! | `admin.crt`, `admin.key` | the cluster administrator: `CN=kubernetes-admin`, `O=system:masters` |
//!
//! The first [`Pki::load_or_create`] creates them; later calls reuse them, and replace a leaf
//! certificate only when it no longer fits: the serving certificate when the listen address or an
//! extra name is missing from its names, either one when it expires within 30 days or was not
//! signed by the CA. Private keys are written with mode `0600`.
//!
//! ```no_run
//! use orchestra_apiserver::pki::Pki;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pki = Pki::load_or_create(
//!     "/var/lib/orchestra".as_ref(),
//!     "127.0.0.1:6443".parse().expect("a socket address"),
//!     &["apiserver.example.internal".to_owned()],
//! )?;
//! // A kubelet's identity, as Kubernetes' Node authorizer expects it.
//! let node = pki.issue_client_cert("system:node:worker-1", &["system:nodes".to_owned()])?;
//! std::fs::write("/tmp/worker-1.crt", node.cert_pem())?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

/// File name of the CA certificate in the data directory.
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the CA private key in the data directory.
pub const CA_KEY_FILE: &str = "ca.key";
/// File name of the API server's serving certificate in the data directory.
pub const SERVING_CERT_FILE: &str = "apiserver.crt";
/// File name of the serving certificate's private key in the data directory.
pub const SERVING_KEY_FILE: &str = "apiserver.key";
/// File name of the cluster administrator's client certificate in the data directory.
pub const ADMIN_CERT_FILE: &str = "admin.crt";
/// File name of the administrator's private key in the data directory.
pub const ADMIN_KEY_FILE: &str = "admin.key";

/// The administrator's user name, as `kubeadm` names it.
pub const ADMIN_USER: &str = "kubernetes-admin";
/// The group whose members RBAC allows everything (Kubernetes' `system:masters`).
pub const MASTERS_GROUP: &str = "system:masters";

/// Common name of the cluster CA.
const CA_COMMON_NAME: &str = "orchestra-ca";
/// Common name of the serving certificate, as Kubernetes names it.
const SERVING_COMMON_NAME: &str = "kube-apiserver";
/// DNS names every serving certificate carries: the in-cluster names of the `kubernetes` Service.
const SERVICE_DNS_NAMES: [&str; 5] = [
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// How long the CA is valid.
const CA_VALIDITY: time::Duration = time::Duration::days(3650);
/// How long leaf certificates are valid (kubeadm's default).
const LEAF_VALIDITY: time::Duration = time::Duration::days(365);
/// A leaf certificate that expires sooner than this is replaced on load.
const RENEW_BEFORE: time::Duration = time::Duration::days(30);
/// Tolerated clock skew between machines: certificates are valid from this long ago.
const BACKDATE: time::Duration = time::Duration::minutes(5);

/// What went wrong while loading, creating or issuing certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Reading or writing a file failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done: `read`, `write`, `create`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A file holds no valid PEM certificate or key.
    #[error("{} is not a valid {what}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// `certificate` or `private key`.
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// One half of the CA is on disk and the other half is missing.
    #[error(
        "{} exists but {} does not: restore it, or remove both to create a new cluster CA (every issued certificate becomes invalid)",
        present.display(),
        missing.display()
    )]
    IncompleteCa {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// A subject alternative name or subject is not acceptable.
    #[error("invalid certificate name {name:?}: {reason}")]
    InvalidName {
        /// The offending name.
        name: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Key generation or signing failed.
    #[error("cannot generate certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// A certificate and its private key, both PEM-encoded.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCert {
    cert_pem: String,
    key_pem: String,
}

impl IssuedCert {
    /// The certificate, PEM-encoded.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key (PKCS#8), PEM-encoded.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The certificate chain as DER, for rustls.
    pub fn cert_chain_der(&self) -> Result<Vec<CertificateDer<'static>>, PkiError> {
        let chain = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| invalid("<memory>", "certificate", err))?;
        if chain.is_empty() {
            return Err(invalid("<memory>", "certificate", "no CERTIFICATE block"));
        }
        Ok(chain)
    }

    /// The private key as DER, for rustls.
    pub fn key_der(&self) -> Result<PrivateKeyDer<'static>, PkiError> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|err| invalid("<memory>", "private key", err))
    }
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// The cluster CA with the API server's serving and administrator certificates; see the
/// [module documentation](self).
pub struct Pki {
    dir: PathBuf,
    ca_cert_pem: String,
    ca_cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    serving: IssuedCert,
    admin: IssuedCert,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Pki {
    /// Loads the PKI from `dir`, creating whatever is missing, and replacing the serving
    /// certificate when it does not name `listen` (unless unspecified) and every `extra_sans`
    /// entry (an IP address or a DNS name). See the [module documentation](self).
    pub fn load_or_create(
        dir: &Path,
        listen: SocketAddr,
        extra_sans: &[String],
    ) -> Result<Pki, PkiError> {
        create_private_dir(dir)?;
        let (ca_cert_pem, ca_key_pem) = load_or_create_ca(dir)?;
        let ca_cert_der = parse_cert_pem(&dir.join(CA_CERT_FILE), &ca_cert_pem)?;
        let ca_key = KeyPair::from_pem(&ca_key_pem)
            .map_err(|err| invalid(dir.join(CA_KEY_FILE), "private key", err))?;
        check_key_matches(&dir.join(CA_KEY_FILE), &ca_cert_der, &ca_key)?;
        let issuer = Issuer::from_ca_cert_der(&ca_cert_der, ca_key)
            .map_err(|err| invalid(dir.join(CA_CERT_FILE), "certificate", err))?;

        let sans = serving_sans(listen, extra_sans)?;
        let mut pki = Pki {
            dir: dir.to_owned(),
            ca_cert_pem,
            ca_cert_der,
            issuer,
            serving: IssuedCert {
                cert_pem: String::new(),
                key_pem: String::new(),
            },
            admin: IssuedCert {
                cert_pem: String::new(),
                key_pem: String::new(),
            },
        };

        pki.serving = pki.load_or_issue_leaf(
            SERVING_CERT_FILE,
            SERVING_KEY_FILE,
            |cert| missing_sans(cert, &sans),
            |pki| pki.issue(SERVING_COMMON_NAME, &[], sans.clone(), Usage::Server),
        )?;
        pki.admin = pki.load_or_issue_leaf(
            ADMIN_CERT_FILE,
            ADMIN_KEY_FILE,
            |_| None,
            |pki| {
                pki.issue(
                    ADMIN_USER,
                    &[MASTERS_GROUP.to_owned()],
                    Vec::new(),
                    Usage::Client,
                )
            },
        )?;
        Ok(pki)
    }

    /// The directory holding the PEM files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate, PEM-encoded (what clients trust).
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// The CA certificate as DER.
    pub fn ca_cert_der(&self) -> &CertificateDer<'static> {
        &self.ca_cert_der
    }

    /// The API server's serving certificate and key.
    pub fn serving(&self) -> &IssuedCert {
        &self.serving
    }

    /// The administrator's client certificate (`CN=kubernetes-admin`, `O=system:masters`).
    pub fn admin(&self) -> &IssuedCert {
        &self.admin
    }

    /// Issues a client certificate for `user` (the CN) in `groups` (one O each), valid for a
    /// year, signed by the cluster CA. Nothing is written to disk.
    ///
    /// Components follow Kubernetes' names: `system:kube-controller-manager`,
    /// `system:kube-scheduler`, and `system:node:<name>` in group `system:nodes` for nodes.
    pub fn issue_client_cert(&self, user: &str, groups: &[String]) -> Result<IssuedCert, PkiError> {
        if user.is_empty() {
            return Err(PkiError::InvalidName {
                name: String::new(),
                reason: "a client certificate needs a user name (CN)".to_owned(),
            });
        }
        self.issue(user, groups, Vec::new(), Usage::Client)
    }

    /// Reuses the leaf pair in `cert_file`/`key_file` when it is intact, signed by the CA, not
    /// about to expire and `unfit` finds nothing; otherwise issues and writes a new one.
    fn load_or_issue_leaf(
        &self,
        cert_file: &str,
        key_file: &str,
        unfit: impl Fn(&X509Certificate<'_>) -> Option<String>,
        issue: impl Fn(&Pki) -> Result<IssuedCert, PkiError>,
    ) -> Result<IssuedCert, PkiError> {
        let cert_path = self.dir.join(cert_file);
        let key_path = self.dir.join(key_file);
        let existing = match (read_optional(&cert_path)?, read_optional(&key_path)?) {
            (Some(cert_pem), Some(key_pem)) => Some(IssuedCert { cert_pem, key_pem }),
            (None, None) => None,
            _ => {
                tracing::warn!(cert = %cert_path.display(), "half of a certificate pair is missing; issuing a new pair");
                None
            }
        };
        if let Some(existing) = existing {
            match self.why_not_reusable(&cert_path, &key_path, &existing, &unfit) {
                None => return Ok(existing),
                Some(reason) => {
                    tracing::info!(cert = %cert_path.display(), %reason, "replacing certificate")
                }
            }
        } else {
            tracing::info!(cert = %cert_path.display(), "issuing certificate");
        }
        let issued = issue(self)?;
        write_file(&cert_path, issued.cert_pem.as_bytes(), 0o644)?;
        write_file(&key_path, issued.key_pem.as_bytes(), 0o600)?;
        Ok(issued)
    }

    /// Why an existing leaf pair cannot be reused, or `None` when it can.
    fn why_not_reusable(
        &self,
        cert_path: &Path,
        key_path: &Path,
        existing: &IssuedCert,
        unfit: &impl Fn(&X509Certificate<'_>) -> Option<String>,
    ) -> Option<String> {
        let der = match parse_cert_pem(cert_path, &existing.cert_pem) {
            Ok(der) => der,
            Err(err) => return Some(err.to_string()),
        };
        let key = match KeyPair::from_pem(&existing.key_pem) {
            Ok(key) => key,
            Err(err) => return Some(invalid(key_path, "private key", err).to_string()),
        };
        if let Err(err) = check_key_matches(key_path, &der, &key) {
            return Some(err.to_string());
        }
        let (_, cert) = match x509_parser::parse_x509_certificate(&der) {
            Ok(parsed) => parsed,
            Err(err) => return Some(format!("unparsable certificate: {err}")),
        };
        let (_, ca) = match x509_parser::parse_x509_certificate(&self.ca_cert_der) {
            Ok(parsed) => parsed,
            Err(err) => return Some(format!("unparsable CA certificate: {err}")),
        };
        if cert.verify_signature(Some(ca.public_key())).is_err() {
            return Some("not signed by the current CA".to_owned());
        }
        match cert.validity().time_to_expiration() {
            Some(left) if left >= RENEW_BEFORE => {}
            Some(_) => return Some("expires within 30 days".to_owned()),
            None => return Some("expired or not yet valid".to_owned()),
        }
        unfit(&cert)
    }

    /// Generates a key and a certificate for it signed by the CA.
    fn issue(
        &self,
        common_name: &str,
        organizations: &[String],
        sans: Vec<SanType>,
        usage: Usage,
    ) -> Result<IssuedCert, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        // The subject is replaced below; rcgen's own keeps one value per attribute type only.
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![match usage {
            Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + LEAF_VALIDITY;
        let cert = params.signed_by(&key, &self.issuer)?;
        let subject = der::name(common_name, organizations);
        let der = der::replace_subject(cert.der(), &subject, self.issuer.key())?;
        Ok(IssuedCert {
            cert_pem: pem_encode("CERTIFICATE", &der),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Which extended key usage a leaf certificate gets.
#[derive(Debug, Clone, Copy)]
enum Usage {
    Server,
    Client,
}

/// Loads `ca.crt`/`ca.key`, or creates both when neither exists.
fn load_or_create_ca(dir: &Path) -> Result<(String, String), PkiError> {
    let cert_path = dir.join(CA_CERT_FILE);
    let key_path = dir.join(CA_KEY_FILE);
    match (read_optional(&cert_path)?, read_optional(&key_path)?) {
        (Some(cert), Some(key)) => Ok((cert, key)),
        (Some(_), None) => Err(PkiError::IncompleteCa {
            present: cert_path,
            missing: key_path,
        }),
        (None, Some(_)) => Err(PkiError::IncompleteCa {
            present: key_path,
            missing: cert_path,
        }),
        (None, None) => {
            tracing::info!(dir = %dir.display(), "creating the cluster CA");
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::default();
            params.distinguished_name = DistinguishedName::new();
            params
                .distinguished_name
                .push(DnType::CommonName, CA_COMMON_NAME);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
            ];
            let now = OffsetDateTime::now_utc();
            params.not_before = now - BACKDATE;
            params.not_after = now + CA_VALIDITY;
            let cert = params.self_signed(&key)?;
            let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
            // Key first: a crash in between leaves a key without a certificate, which the
            // next start reports instead of silently replacing the CA.
            write_file(&key_path, key_pem.as_bytes(), 0o600)?;
            write_file(&cert_path, cert_pem.as_bytes(), 0o644)?;
            Ok((cert_pem, key_pem))
        }
    }
}

/// The serving certificate's names: the fixed ones, the listen address and the extras.
fn serving_sans(listen: SocketAddr, extra_sans: &[String]) -> Result<Vec<SanType>, PkiError> {
    let mut sans: Vec<SanType> = Vec::new();
    let mut push = |san: SanType| {
        if !sans.contains(&san) {
            sans.push(san);
        }
    };
    for name in SERVICE_DNS_NAMES {
        push(dns_san(name)?);
    }
    push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    push(SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    if !listen.ip().is_unspecified() {
        push(SanType::IpAddress(listen.ip()));
    }
    for extra in extra_sans {
        let extra = extra.trim();
        match extra.parse::<IpAddr>() {
            Ok(ip) => push(SanType::IpAddress(ip)),
            Err(_) => push(dns_san(extra)?),
        }
    }
    Ok(sans)
}

fn dns_san(name: &str) -> Result<SanType, PkiError> {
    if name.is_empty() {
        return Err(PkiError::InvalidName {
            name: String::new(),
            reason: "empty DNS name".to_owned(),
        });
    }
    Ia5String::try_from(name.to_owned())
        .map(SanType::DnsName)
        .map_err(|err| PkiError::InvalidName {
            name: name.to_owned(),
            reason: err.to_string(),
        })
}

/// The first of `wanted` that `cert` does not name, as a reason to replace it.
fn missing_sans(cert: &X509Certificate<'_>, wanted: &[SanType]) -> Option<String> {
    let mut dns: Vec<String> = Vec::new();
    let mut ips: Vec<IpAddr> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(name) => dns.push(name.to_ascii_lowercase()),
                GeneralName::IPAddress(bytes) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                        ips.push(IpAddr::from(v4));
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                        ips.push(IpAddr::from(v6));
                    }
                }
                _ => {}
            }
        }
    }
    wanted.iter().find_map(|san| match san {
        SanType::DnsName(name) if !dns.contains(&name.as_str().to_ascii_lowercase()) => {
            Some(format!("does not name {}", name.as_str()))
        }
        SanType::IpAddress(ip) if !ips.contains(ip) => Some(format!("does not name {ip}")),
        _ => None,
    })
}

/// Checks that `key` is the private key of the certificate `cert`.
fn check_key_matches(
    key_path: &Path,
    cert: &CertificateDer<'_>,
    key: &KeyPair,
) -> Result<(), PkiError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert)
        .map_err(|err| invalid(key_path, "certificate", err))?;
    use rcgen::PublicKeyData;
    if parsed.public_key().raw != key.subject_public_key_info().as_slice() {
        return Err(invalid(
            key_path,
            "private key",
            "it does not belong to the certificate beside it",
        ));
    }
    Ok(())
}

/// Parses the first certificate of a PEM text.
fn parse_cert_pem(path: &Path, pem: &str) -> Result<CertificateDer<'static>, PkiError> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|err| invalid(path, "certificate", err))
}

fn invalid(path: impl Into<PathBuf>, what: &'static str, reason: impl fmt::Display) -> PkiError {
    PkiError::Invalid {
        path: path.into(),
        what,
        reason: reason.to_string(),
    }
}

/// PEM text of one DER block, lines of 64 characters as RFC 7468 says.
fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Creates `dir` (mode 0700 when new) and its parents.
fn create_private_dir(dir: &Path) -> Result<(), PkiError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| PkiError::Io {
        action: "create",
        path: dir.to_owned(),
        source,
    })
}

/// Reads a text file, `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, PkiError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes `contents` to `path` atomically (temporary file, fsync, rename) with `mode`.
pub(crate) fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let io_err = |source| PkiError::Io {
        action: "write",
        path: path.to_owned(),
        source,
    };
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(io_err(err)),
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(io_err)?;
    file.write_all(contents).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_err)
}

/// Just enough DER to give a certificate a subject with several organizations, which rcgen's
/// `DistinguishedName` (one value per attribute type) cannot express, and to re-sign it.
mod der {
    use super::PkiError;
    use rcgen::SigningKey;

    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;
    const OID: u8 = 0x06;
    const UTF8_STRING: u8 = 0x0c;
    const BIT_STRING: u8 = 0x03;
    /// `[0] EXPLICIT Version` at the start of a TBSCertificate.
    const VERSION_TAG: u8 = 0xa0;
    /// id-at-commonName, 2.5.4.3.
    const OID_COMMON_NAME: [u8; 3] = [0x55, 0x04, 0x03];
    /// id-at-organizationName, 2.5.4.10.
    const OID_ORGANIZATION: [u8; 3] = [0x55, 0x04, 0x0a];

    /// Encodes one tag-length-value.
    pub(super) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
        out.extend_from_slice(content);
        out
    }

    /// Splits the first TLV off `input`: `(whole element, content, rest)`.
    pub(super) fn split_tlv(input: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
        let (&_tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > std::mem::size_of::<usize>() || rest.len() < count {
                return None;
            }
            let len = rest[..count]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[count..])
        };
        if rest.len() < len {
            return None;
        }
        let header = input.len() - rest.len();
        Some((&input[..header + len], &rest[..len], &rest[len..]))
    }

    /// A `Name` with one CN and one O per organization, each in its own RDN, in that order.
    pub(super) fn name(common_name: &str, organizations: &[String]) -> Vec<u8> {
        let attribute = |oid: &[u8], value: &str| {
            let pair = [tlv(OID, oid), tlv(UTF8_STRING, value.as_bytes())].concat();
            tlv(SET, &tlv(SEQUENCE, &pair))
        };
        let mut rdns: Vec<u8> = Vec::new();
        for organization in organizations {
            rdns.extend(attribute(&OID_ORGANIZATION, organization));
        }
        rdns.extend(attribute(&OID_COMMON_NAME, common_name));
        tlv(SEQUENCE, &rdns)
    }

    /// Returns `cert` with its subject replaced by `subject`, re-signed with `key` (the issuer's
    /// key, which signed `cert`).
    pub(super) fn replace_subject(
        cert: &[u8],
        subject: &[u8],
        key: &impl SigningKey,
    ) -> Result<Vec<u8>, PkiError> {
        let malformed = || PkiError::Generate(rcgen::Error::CouldNotParseCertificate);
        let (_, cert_content, _) = split_tlv(cert).ok_or_else(malformed)?;
        let (_, tbs_content, after_tbs) = split_tlv(cert_content).ok_or_else(malformed)?;
        let (algorithm, _, _) = split_tlv(after_tbs).ok_or_else(malformed)?;

        // TBSCertificate: [version], serial, signature, issuer, validity, subject, ...
        let mut fields: Vec<&[u8]> = Vec::new();
        let mut rest = tbs_content;
        while !rest.is_empty() {
            let (field, _, next) = split_tlv(rest).ok_or_else(malformed)?;
            fields.push(field);
            rest = next;
        }
        let subject_index = if tbs_content.first() == Some(&VERSION_TAG) {
            5
        } else {
            4
        };
        if fields.len() <= subject_index {
            return Err(malformed());
        }
        fields[subject_index] = subject;
        let tbs = tlv(SEQUENCE, &fields.concat());
        let signature = key.sign(&tbs)?;
        let bits = [&[0u8][..], &signature].concat();
        Ok(tlv(
            SEQUENCE,
            &[tbs.as_slice(), algorithm, &tlv(BIT_STRING, &bits)].concat(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 6443))
    }

    fn parse(pem: &str) -> (Vec<String>, Vec<String>) {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM certificate");
        let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("X.509 certificate");
        let cn = cert
            .subject()
            .iter_common_name()
            .map(|a| a.as_str().expect("string").to_owned())
            .collect();
        let o = cert
            .subject()
            .iter_organization()
            .map(|a| a.as_str().expect("string").to_owned())
            .collect();
        (cn, o)
    }

    fn verifies_against_ca(pki: &Pki, pem: &str) -> bool {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM certificate");
        let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("X.509 certificate");
        let (_, ca) = x509_parser::parse_x509_certificate(pki.ca_cert_der()).expect("CA");
        cert.verify_signature(Some(ca.public_key())).is_ok()
    }

    #[test]
    fn first_load_creates_every_file_with_private_keys_0600() {
        let dir = tempfile::tempdir().expect("temp dir");
        Pki::load_or_create(dir.path(), listen(), &[]).expect("create PKI");
        for file in [
            CA_CERT_FILE,
            CA_KEY_FILE,
            SERVING_CERT_FILE,
            SERVING_KEY_FILE,
            ADMIN_CERT_FILE,
            ADMIN_KEY_FILE,
        ] {
            let meta = fs::metadata(dir.path().join(file)).expect(file);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let expected = if file.ends_with(".key") { 0o600 } else { 0o644 };
                assert_eq!(meta.permissions().mode() & 0o777, expected, "{file}");
            }
            #[cfg(not(unix))]
            let _ = meta;
        }
    }

    #[test]
    fn second_load_reuses_ca_and_leaf_certificates() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = Pki::load_or_create(dir.path(), listen(), &[]).expect("create PKI");
        let second = Pki::load_or_create(dir.path(), listen(), &[]).expect("reload PKI");
        assert_eq!(first.ca_cert_pem(), second.ca_cert_pem());
        assert_eq!(first.serving(), second.serving());
        assert_eq!(first.admin(), second.admin());
    }

    #[test]
    fn new_listen_address_replaces_only_the_serving_certificate() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = Pki::load_or_create(dir.path(), listen(), &[]).expect("create PKI");
        let moved = SocketAddr::from(([127, 0, 0, 2], 6443));
        let second = Pki::load_or_create(dir.path(), moved, &[]).expect("reload PKI");
        assert_eq!(first.ca_cert_pem(), second.ca_cert_pem());
        assert_eq!(first.admin(), second.admin());
        assert_ne!(first.serving(), second.serving());
        let der = second.serving().cert_chain_der().expect("chain");
        let (_, cert) = x509_parser::parse_x509_certificate(&der[0]).expect("X.509");
        let sans = serving_sans(moved, &[]).expect("sans");
        assert_eq!(missing_sans(&cert, &sans), None);
        // Another port on the same address needs no new certificate.
        let third = Pki::load_or_create(dir.path(), SocketAddr::from(([127, 0, 0, 2], 7443)), &[])
            .expect("reload PKI");
        assert_eq!(second.serving(), third.serving());
    }

    #[test]
    fn serving_certificate_names_the_service_listen_address_and_extras() {
        let dir = tempfile::tempdir().expect("temp dir");
        let extras = ["10.96.0.1".to_owned(), "api.example.test".to_owned()];
        let listen = SocketAddr::from(([192, 0, 2, 7], 6443));
        let pki = Pki::load_or_create(dir.path(), listen, &extras).expect("create PKI");
        let der = pki.serving().cert_chain_der().expect("chain");
        let (_, cert) = x509_parser::parse_x509_certificate(&der[0]).expect("X.509");
        let wanted = [
            dns_san("localhost").expect("dns"),
            dns_san("kubernetes.default.svc.cluster.local").expect("dns"),
            dns_san("api.example.test").expect("dns"),
            SanType::IpAddress("127.0.0.1".parse().expect("ip")),
            SanType::IpAddress("::1".parse().expect("ip")),
            SanType::IpAddress("192.0.2.7".parse().expect("ip")),
            SanType::IpAddress("10.96.0.1".parse().expect("ip")),
        ];
        assert_eq!(missing_sans(&cert, &wanted), None);
        assert!(verifies_against_ca(&pki, pki.serving().cert_pem()));
    }

    #[test]
    fn admin_certificate_is_kubernetes_admin_in_system_masters() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::load_or_create(dir.path(), listen(), &[]).expect("create PKI");
        let (cn, o) = parse(pki.admin().cert_pem());
        assert_eq!(cn, vec![ADMIN_USER]);
        assert_eq!(o, vec![MASTERS_GROUP]);
        assert!(verifies_against_ca(&pki, pki.admin().cert_pem()));
    }

    #[test]
    fn client_certificate_carries_every_group_as_an_organization() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::load_or_create(dir.path(), listen(), &[]).expect("create PKI");
        let groups = [
            "system:nodes".to_owned(),
            "team-a".to_owned(),
            "ünïcode".to_owned(),
        ];
        let issued = pki
            .issue_client_cert("system:node:worker-1", &groups)
            .expect("issue");
        let (cn, o) = parse(issued.cert_pem());
        assert_eq!(cn, vec!["system:node:worker-1"]);
        assert_eq!(o, groups);
        assert!(verifies_against_ca(&pki, issued.cert_pem()));
        issued.key_der().expect("key parses");
    }

    #[test]
    fn client_certificate_without_user_name_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::load_or_create(dir.path(), listen(), &[]).expect("create PKI");
        assert!(matches!(
            pki.issue_client_cert("", &[]),
            Err(PkiError::InvalidName { .. })
        ));
    }

    #[test]
    fn leaf_not_signed_by_the_ca_is_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let other = tempfile::tempdir().expect("temp dir");
        Pki::load_or_create(dir.path(), listen(), &[]).expect("create PKI");
        let foreign = Pki::load_or_create(other.path(), listen(), &[]).expect("other PKI");
        fs::copy(
            other.path().join(ADMIN_CERT_FILE),
            dir.path().join(ADMIN_CERT_FILE),
        )
        .expect("copy cert");
        fs::copy(
            other.path().join(ADMIN_KEY_FILE),
            dir.path().join(ADMIN_KEY_FILE),
        )
        .expect("copy key");
        let pki = Pki::load_or_create(dir.path(), listen(), &[]).expect("reload PKI");
        assert_ne!(pki.admin(), foreign.admin());
        assert!(verifies_against_ca(&pki, pki.admin().cert_pem()));
    }

    #[test]
    fn half_a_ca_is_an_error_not_a_new_ca() {
        let dir = tempfile::tempdir().expect("temp dir");
        Pki::load_or_create(dir.path(), listen(), &[]).expect("create PKI");
        fs::remove_file(dir.path().join(CA_KEY_FILE)).expect("remove key");
        let err = Pki::load_or_create(dir.path(), listen(), &[]).expect_err("incomplete CA");
        assert!(matches!(err, PkiError::IncompleteCa { .. }), "{err}");
        assert!(!err.to_string().contains('\n'));
    }

    #[test]
    fn der_lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536] {
            let content = vec![7u8; len];
            let encoded = der::tlv(0x04, &content);
            let (whole, parsed, rest) = der::split_tlv(&encoded).expect("parse");
            assert_eq!(whole.len(), encoded.len());
            assert_eq!(parsed, content.as_slice());
            assert!(rest.is_empty());
        }
        assert!(der::split_tlv(&[0x30, 0x82, 0x01]).is_none());
        assert!(der::split_tlv(&[0x30, 0x05, 0x00]).is_none());
    }
}
