//! `Handle`: what a plugin may use besides its arguments.
//!
//! Plugin factories receive the handle of the scheduler (or simulation) they are built for:
//! the API client when there is one (none in a simulation), the pods waiting in Permit (for
//! gang scheduling), the nominated pods, and the thread pool that runs Filter and Score across
//! nodes.

use std::fmt;
use std::sync::Arc;

use orchestra_api::Client;

use crate::framework::nominator::Nominator;
use crate::framework::waiting_pods::WaitingPods;

/// What a plugin may use besides its arguments. See the module docs.
pub struct Handle {
    client: Option<Arc<dyn Client>>,
    waiting_pods: WaitingPods,
    nominator: Nominator,
    pool: Option<Arc<rayon::ThreadPool>>,
    parallelism: usize,
}

impl Handle {
    /// A handle with this client (or none) and this many threads for Filter and Score.
    pub fn new(client: Option<Arc<dyn Client>>, parallelism: usize) -> Handle {
        let parallelism = parallelism.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(parallelism)
            .thread_name(|i| format!("sched-worker-{i}"))
            .build()
            .map(Arc::new)
            .map_err(|error| {
                tracing::warn!(%error, "could not start scheduler worker threads; using rayon's global pool");
            })
            .ok();
        Handle {
            client,
            waiting_pods: WaitingPods::default(),
            nominator: Nominator::default(),
            pool,
            parallelism,
        }
    }

    /// A handle without client, with one thread per available core.
    pub fn standalone() -> Handle {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Handle::new(None, cores)
    }

    /// The API client, `None` in a simulation.
    pub fn client(&self) -> Option<&Arc<dyn Client>> {
        self.client.as_ref()
    }

    /// The pods waiting in Permit.
    pub fn waiting_pods(&self) -> &WaitingPods {
        &self.waiting_pods
    }

    /// The nominated pods.
    pub fn nominator(&self) -> &Nominator {
        &self.nominator
    }

    /// Runs `work` on the thread pool for per-node work (so its parallel iterators use it).
    pub fn install<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(pool) => pool.install(work),
            None => work(),
        }
    }

    /// How many threads the pool has.
    pub fn parallelism(&self) -> usize {
        self.parallelism
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("client", &self.client.is_some())
            .field("parallelism", &self.parallelism)
            .finish()
    }
}
