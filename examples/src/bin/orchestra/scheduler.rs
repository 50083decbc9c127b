//! `orchestra scheduler`: the scheduler as its own process, over the API server.

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use orchestra_api::Client;
use orchestra_sched::Scheduler;
use orchestra_sched::config::KubeSchedulerConfiguration;

/// The scheduler's own flags, shared by `scheduler` and `up`.
#[derive(Debug, Clone, clap::Args)]
pub struct SchedulerFlags {
    /// A `KubeSchedulerConfiguration` (v1) file with profiles and plugin arguments; the
    /// default profile when unset.
    #[arg(long = "scheduler-config", value_name = "FILE")]
    pub scheduler_config: Option<PathBuf>,
}

impl SchedulerFlags {
    /// The configuration to schedule with.
    pub fn configuration(&self) -> Result<KubeSchedulerConfiguration, String> {
        match &self.scheduler_config {
            Some(path) => KubeSchedulerConfiguration::from_file(path).map_err(|e| e.to_string()),
            None => Ok(KubeSchedulerConfiguration::default_config()),
        }
    }
}

/// Runs the scheduler over `client` until `shutdown`.
pub async fn run(
    client: Arc<dyn Client>,
    flags: &SchedulerFlags,
    shutdown: BoxFuture<'static, ()>,
) -> Result<(), String> {
    let config = flags.configuration()?;
    Scheduler::new(client, config)
        .run(shutdown)
        .await
        .map_err(|e| format!("scheduler: {e}"))
}
