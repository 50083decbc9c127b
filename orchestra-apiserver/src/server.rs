//! The API server as a process: lock the data dir, open the store, create the PKI and the
//! kubeconfig, bootstrap the system namespaces, and serve the REST surface over HTTPS until
//! asked to stop. `orchestra apiserver` and `orchestra up` both start it through [`start`].

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use orchestra_api::{Status, kinds};
use orchestra_store::registry::service_allocation::ServiceNetwork;
use orchestra_store::{
    AdmissionConfig, DiskKv, EtcdKv, KvStore, LocalClient, MemoryKv, Store, StoreConfig, StoreError,
};

use crate::authz::{self, AllowAuthenticated};
use crate::bootstrap::ApiServerEndpoint;
use crate::data_dir::{DataDir, DataDirError};
use crate::metrics::{self, ApiMetrics, MeasuredKv};
use crate::pki::{Pki, PkiError};
use crate::rest::{RestState, router};
use crate::serve::{ServeError, ServerHandle, serve};
use crate::{bootstrap, kubeconfig};

/// Which key-value store holds the cluster's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// The embedded durable store in the data dir (the default).
    Embedded,
    /// In memory: gone when the process ends.
    Memory,
    /// A real etcd at these endpoints.
    Etcd(Vec<String>),
}

impl std::str::FromStr for StoreBackend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "embedded" => Ok(Self::Embedded),
            "memory" => Ok(Self::Memory),
            other => match other.strip_prefix("etcd=") {
                Some(urls) if !urls.is_empty() => {
                    Ok(Self::Etcd(urls.split(',').map(str::to_owned).collect()))
                }
                _ => Err(format!(
                    "unknown store {other:?}: expected embedded, memory or etcd=URL[,URL…]"
                )),
            },
        }
    }
}

/// How to start an API server.
#[derive(Debug, Clone)]
pub struct ApiServerConfig {
    /// Holds the PKI, the kubeconfig, the lock and (for the embedded store) the data.
    pub data_dir: PathBuf,
    /// The HTTPS address.
    pub listen: SocketAddr,
    /// Where the state lives.
    pub store: StoreBackend,
    /// Where Services' cluster IPs and node ports come from.
    pub service_network: ServiceNetwork,
    /// The address the `kubernetes` Service's endpoints point at (Kubernetes'
    /// `--advertise-address`); the listen address when unset.
    pub advertise_address: Option<IpAddr>,
    /// Settings of the admission plugins (`--default-not-ready-toleration-seconds`, …).
    pub admission: AdmissionConfig,
    /// How often the store's history is compacted (`--etcd-compaction-interval`, 5 minutes by
    /// default); `None` never compacts.
    pub compaction_interval: Option<Duration>,
}

impl ApiServerConfig {
    /// A server on `data_dir` and `listen` with the embedded store and Kubernetes' default
    /// service ranges.
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen,
            store: StoreBackend::Embedded,
            service_network: ServiceNetwork::default(),
            advertise_address: None,
            admission: AdmissionConfig::default(),
            compaction_interval: StoreConfig::default().compaction_interval,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data dir is in use or cannot be created.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The PKI could not be created or read.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    /// The kubeconfig could not be written.
    #[error("cannot write the kubeconfig: {0}")]
    Kubeconfig(#[from] kubeconfig::KubeconfigError),
    /// The system namespaces could not be created.
    #[error("cannot bootstrap the cluster: {0}")]
    Bootstrap(Status),
    /// The listener could not start.
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// A running API server.
pub struct RunningApiServer {
    /// The HTTPS server.
    pub handle: ServerHandle,
    /// The in-process client over the same store, for components in this process.
    pub client: Arc<LocalClient>,
    /// The kubeconfig that reaches this server as the cluster admin.
    pub kubeconfig: PathBuf,
    /// The PKI, to issue component certificates.
    pub pki: Pki,
    _data_dir: DataDir,
}

async fn open_kv(config: &ApiServerConfig) -> Result<Arc<dyn KvStore>, StartError> {
    Ok(match &config.store {
        StoreBackend::Embedded => Arc::new(DiskKv::open(config.data_dir.join("store"))?),
        StoreBackend::Memory => Arc::new(MemoryKv::new()),
        StoreBackend::Etcd(endpoints) => {
            Arc::new(EtcdKv::connect(endpoints, Default::default()).await?)
        }
    })
}

/// Starts an API server; it stops when `shutdown` completes.
pub async fn start(
    config: ApiServerConfig,
    shutdown: BoxFuture<'static, ()>,
) -> Result<RunningApiServer, StartError> {
    let data_dir = DataDir::lock(&config.data_dir)?;
    let metrics = Arc::new(ApiMetrics::default());
    let kv: Arc<dyn KvStore> = Arc::new(MeasuredKv::new(open_kv(&config).await?, metrics.clone()));
    let store = Store::open(
        kv,
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        StoreConfig {
            service_network: config.service_network.clone(),
            admission: config.admission.clone(),
            compaction_interval: config.compaction_interval,
            ..StoreConfig::default()
        },
    )
    .await?;
    let client = Arc::new(LocalClient::new(store));
    let pki = Pki::load_or_create(&config.data_dir, config.listen, &[])?;
    let state = Arc::new(RestState::new(client.clone(), config.listen.to_string()));
    let app = authz::layer(
        router(state).merge(metrics::route(metrics.clone())),
        Arc::new(AllowAuthenticated),
    );
    let app = metrics::layer(app, metrics);
    let handle = serve(config.listen, &pki, app, shutdown).await?;
    let endpoint = ApiServerEndpoint {
        service_ip: config.service_network.api_server_service_ip(),
        advertise: SocketAddr::new(
            config
                .advertise_address
                .unwrap_or_else(|| handle.local_addr().ip()),
            handle.local_addr().port(),
        ),
    };
    bootstrap::ensure_builtin_objects(client.as_ref(), endpoint)
        .await
        .map_err(StartError::Bootstrap)?;
    let server_url = format!("https://{}", handle.local_addr());
    let kubeconfig = kubeconfig::write(&config.data_dir, &server_url, &pki)?;
    Ok(RunningApiServer {
        handle,
        client,
        kubeconfig,
        pki,
        _data_dir: data_dir,
    })
}
