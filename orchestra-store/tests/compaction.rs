//! The store compacts its history periodically, as kube-apiserver compacts etcd: every
//! interval, to the revision the caches had reached one interval before. Paused tokio time
//! stands in for the minutes.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use orchestra_api::{Api, ListParams, PostParams, VersionMatch, kinds};
use orchestra_store::{
    KvStore, LocalClient, MemoryKv, RangeRequest, Store, StoreConfig, StoreError,
};
use serde_json::json;

const INTERVAL: Duration = Duration::from_secs(300);
const PREFIX: &str = "/registry/configmaps/default/";

async fn open(kv: Arc<MemoryKv>, compaction_interval: Option<Duration>) -> Api<ConfigMap> {
    let store = Store::open(
        kv,
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        StoreConfig {
            compaction_interval,
            ..StoreConfig::default()
        },
    )
    .await
    .expect("store opens");
    Api::namespaced(Arc::new(LocalClient::new(store)), "default")
}

/// Writes version `value` of the ConfigMap `settings` and returns its revision.
async fn write(config_maps: &Api<ConfigMap>, value: &str) -> i64 {
    let object: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings"}, "data": {"value": value},
    }))
    .expect("a ConfigMap");
    let written = match config_maps.get_opt("settings").await.expect("get") {
        None => config_maps.create(&PostParams::default(), &object).await,
        Some(_) => {
            config_maps
                .replace("settings", &PostParams::default(), &object)
                .await
        }
    }
    .expect("write");
    written
        .metadata
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .expect("a resourceVersion")
}

async fn read_at(kv: &MemoryKv, revision: i64) -> Result<String, StoreError> {
    let response = kv
        .range(RangeRequest::prefix(PREFIX).at_revision(revision))
        .await?;
    let value: serde_json::Value =
        serde_json::from_slice(&response.kvs[0].value).expect("stored JSON");
    Ok(value["data"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// Waits (in paused time) until a read at `revision` is compacted away.
async fn until_compacted(kv: &MemoryKv, revision: i64) -> bool {
    for _ in 0..600 {
        if matches!(
            read_at(kv, revision).await,
            Err(StoreError::Compacted { .. })
        ) {
            return true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    false
}

#[tokio::test(start_paused = true)]
async fn history_older_than_one_interval_is_compacted_and_answers_gone() {
    let kv = Arc::new(MemoryKv::new());
    let config_maps = open(kv.clone(), Some(INTERVAL)).await;
    let first = write(&config_maps, "one").await;
    let second = write(&config_maps, "two").await;

    // The first tick only records where the caches are: nothing is compacted yet.
    tokio::time::sleep(INTERVAL + Duration::from_secs(1)).await;
    assert_eq!(
        read_at(&kv, first).await.expect("first still readable"),
        "one"
    );
    let third = write(&config_maps, "three").await;

    // The second tick compacts to what the first recorded: the first two versions' history.
    assert!(
        until_compacted(&kv, first).await,
        "the first revision is compacted away one interval after it was recorded"
    );
    assert_eq!(
        read_at(&kv, second)
            .await
            .expect("the recorded revision stays"),
        "two"
    );
    assert_eq!(
        read_at(&kv, third).await.expect("newer history stays"),
        "three"
    );

    // Through the API, an exact list at a compacted revision is 410 Expired, as in Kubernetes;
    // the current object is untouched.
    let gone = config_maps
        .list(&ListParams {
            resource_version: Some(first.to_string()),
            version_match: Some(VersionMatch::Exact),
            ..ListParams::default()
        })
        .await
        .expect_err("a compacted revision");
    assert_eq!(
        (gone.code, gone.reason.as_str()),
        (410, "Expired"),
        "{gone:?}"
    );
    let current = config_maps.get("settings").await.expect("current object");
    assert_eq!(
        current
            .data
            .as_ref()
            .and_then(|d| d.get("value"))
            .map(String::as_str),
        Some("three")
    );
}

#[tokio::test(start_paused = true)]
async fn a_store_without_an_interval_keeps_its_history() {
    let kv = Arc::new(MemoryKv::new());
    let config_maps = open(kv.clone(), None).await;
    let first = write(&config_maps, "one").await;
    write(&config_maps, "two").await;
    tokio::time::sleep(INTERVAL * 12).await;
    write(&config_maps, "three").await;
    tokio::time::sleep(INTERVAL * 12).await;
    assert_eq!(read_at(&kv, first).await.expect("history kept"), "one");
}
