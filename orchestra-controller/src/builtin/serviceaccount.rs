//! The ServiceAccount controller: every active namespace has a `default` ServiceAccount, as
//! in Kubernetes — created when the namespace appears, and again whenever it is deleted.
//!
//! It reconciles namespaces: one that is `Active` gets each configured account that is
//! missing from the shared ServiceAccount cache; a terminating one gets nothing (the API
//! server would refuse it). Deleting one of the accounts brings its namespace back to the
//! queue. Accounts are created bare — Orchestra issues no tokens for them.
//!
//! ```no_run
//! # fn wire(manager: &orchestra_controller::manager::Manager) {
//! use orchestra_controller::builtin::serviceaccount::{self, ServiceAccountConfig};
//! serviceaccount::add_to(manager, ServiceAccountConfig::default());
//! # }
//! ```

use std::sync::Arc;

use orchestra_api::k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use orchestra_api::{Api, Client, PostParams, Status};

use crate::controller::{Action, Controller, Retry};
use crate::informer::{Cache, ObjectKey};
use crate::manager::Manager;

/// The controller's name, as kube-controller-manager knows it.
pub const CONTROLLER_NAME: &str = "serviceaccount-controller";

/// How the ServiceAccount controller runs.
#[derive(Debug, Clone)]
pub struct ServiceAccountConfig {
    /// The accounts every active namespace has (`["default"]`).
    pub service_accounts: Vec<String>,
    /// Namespaces reconciled at once (1, as kube-controller-manager runs it).
    pub workers: usize,
}

impl Default for ServiceAccountConfig {
    fn default() -> Self {
        Self {
            service_accounts: vec!["default".to_owned()],
            workers: 1,
        }
    }
}

struct Context {
    client: Arc<dyn Client>,
    accounts: Cache<ServiceAccount>,
    names: Vec<String>,
}

/// Registers the ServiceAccount controller with `manager`.
pub fn add_to(manager: &Manager, config: ServiceAccountConfig) {
    let factory = manager.factory();
    let accounts = factory.informer::<ServiceAccount>();
    let names = config.service_accounts.clone();
    let controller = Controller::<Namespace>::new(factory)
        .name(CONTROLLER_NAME)
        .workers(config.workers)
        .watches::<ServiceAccount, _>(move |account: &ServiceAccount| {
            let name = account.metadata.name.as_deref().unwrap_or_default();
            let namespace = account.metadata.namespace.as_deref().unwrap_or_default();
            names
                .iter()
                .any(|n| n == name)
                .then(|| ObjectKey::new(None, namespace))
        });
    let ctx = Arc::new(Context {
        client: Arc::clone(manager.client()),
        accounts: accounts.cache(),
        names: config.service_accounts,
    });
    manager.add(controller, reconcile, error_policy, ctx);
}

fn error_policy(_namespace: Arc<Namespace>, _error: &Status, _ctx: Arc<Context>) -> Retry {
    Retry::Backoff
}

async fn reconcile(namespace: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Status> {
    let active = namespace.metadata.deletion_timestamp.is_none()
        && namespace.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Active");
    if !active {
        return Ok(Action::await_change());
    }
    let name = namespace.metadata.name.as_deref().unwrap_or_default();
    let api: Api<ServiceAccount> = Api::namespaced(Arc::clone(&ctx.client), name);
    let mut failures = Vec::new();
    for account in &ctx.names {
        if ctx.accounts.get(Some(name), account).is_some() {
            continue;
        }
        let mut created = ServiceAccount::default();
        created.metadata.name = Some(account.clone());
        created.metadata.namespace = Some(name.to_owned());
        match api.create(&PostParams::default(), &created).await {
            Ok(_) => tracing::debug!(namespace = name, account, "created service account"),
            Err(status) if status.code == 409 => {}
            // The namespace began terminating meanwhile: nothing to do.
            Err(status) if is_namespace_terminating(&status) => {}
            Err(status) => failures.push(status),
        }
    }
    match failures.into_iter().next() {
        Some(status) => Err(status),
        None => Ok(Action::await_change()),
    }
}

fn is_namespace_terminating(status: &Status) -> bool {
    status
        .details
        .as_ref()
        .is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating"))
}
