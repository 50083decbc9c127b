//! The ServiceAccount controller over an in-process server: every active namespace gets a
//! `default` ServiceAccount, which comes back when it is deleted.

mod lifecycle_support;
mod support;

use lifecycle_support::{api, create, eventually, exists, start, typed};
use orchestra_api::DeleteParams;
use orchestra_api::k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use orchestra_controller::builtin::serviceaccount::{self, ServiceAccountConfig};
use serde_json::json;

#[tokio::test]
async fn every_namespace_gets_a_default_service_account_that_comes_back_when_deleted() {
    let client = support::server().await;
    let _running = start(&client, |manager| {
        serviceaccount::add_to(manager, ServiceAccountConfig::default());
    })
    .await;
    // Namespaces that existed before the controller started, and new ones.
    for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        eventually(&format!("the default account of {namespace}"), || async {
            exists::<ServiceAccount>(&client, Some(namespace), "default")
                .await
                .then_some(())
        })
        .await;
    }
    let ns: Namespace =
        typed(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}));
    create(&client, None, &ns).await;
    let accounts = api::<ServiceAccount>(&client, Some("team"));
    let first = eventually("the default account of a new namespace", || async {
        accounts.get_opt("default").await.ok().flatten()
    })
    .await;

    accounts
        .delete("default", &DeleteParams::default())
        .await
        .unwrap();
    let again = eventually("the default account to come back", || async {
        accounts
            .get_opt("default")
            .await
            .ok()
            .flatten()
            .filter(|sa| sa.metadata.uid != first.metadata.uid)
    })
    .await;
    assert_eq!(again.metadata.name.as_deref(), Some("default"));
}

#[tokio::test]
async fn other_accounts_named_in_the_configuration_are_kept_too() {
    let client = support::server().await;
    let _running = start(&client, |manager| {
        serviceaccount::add_to(
            manager,
            ServiceAccountConfig {
                service_accounts: vec!["default".into(), "builder".into()],
                ..ServiceAccountConfig::default()
            },
        );
    })
    .await;
    let accounts = api::<ServiceAccount>(&client, Some("default"));
    eventually("both accounts", || async {
        (exists::<ServiceAccount>(&client, Some("default"), "builder").await
            && exists::<ServiceAccount>(&client, Some("default"), "default").await)
            .then_some(())
    })
    .await;
    // An account the controller does not keep is left deleted.
    let extra: ServiceAccount =
        typed(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "extra"}}));
    create(&client, Some("default"), &extra).await;
    accounts
        .delete("extra", &DeleteParams::default())
        .await
        .unwrap();
    accounts
        .delete("builder", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the configured account to come back", || async {
        exists::<ServiceAccount>(&client, Some("default"), "builder")
            .await
            .then_some(())
    })
    .await;
    assert!(!exists::<ServiceAccount>(&client, Some("default"), "extra").await);
}
