//! Informers against the real in-process server (`LocalClient` over a `Store`), observed as a
//! controller would observe them: through the cache and through event handlers.
//!
//! Disconnects are made by `FlakyClient`, a wrapper around the real client that can end open
//! watches, end them with an in-band 410, refuse the next watch with 410 (as after a
//! compaction), fail lists, and hold new watches back while the world changes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use orchestra_api::k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use orchestra_api::{
    Api, ArcObject, Client, DeleteOutcome, DeleteParams, DynamicObject, GetParams, ListParams,
    ObjectList, Patch, PatchParams, PostParams, ResourceKind, Served, Status, Subresource,
    WatchEvent, WatchParams, WatchStream, kinds,
};
use orchestra_controller::informer::{
    Backoff, Event, EventHandler, HandlerFns, Informer, InformerConfig, NAMESPACE_INDEX,
    NODE_NAME_INDEX, OWNER_UID_INDEX, ObjectKey, SharedInformerFactory, WatcherConfig,
    WatcherError, watcher,
};
use orchestra_controller::workqueue::WorkQueue;
use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
use proptest::prelude::*;
use serde_json::json;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// How long a condition may take before a test fails (virtual time in paused tests).
const WAIT: Duration = Duration::from_secs(600);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------
// The server, and a wrapper that can disconnect it.
// ---------------------------------------------------------------------------------------

async fn local_client() -> Arc<LocalClient> {
    let store = Store::open(
        Arc::new(MemoryKv::new()),
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        StoreConfig::default(),
    )
    .await
    .expect("the store opens");
    Arc::new(LocalClient::new(store))
}

/// How `FlakyClient::cut_watches` ends the open watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// The stream just ends, as when a connection drops.
    End,
    /// The stream ends with an `ERROR` event carrying 410 Expired.
    Expired,
}

#[derive(Default)]
struct Faults {
    /// Cut switches of the watches handed out.
    live: Vec<oneshot::Sender<Cut>>,
    failing_lists: u32,
    expiring_watches: u32,
    /// Kind (plural) and time of every list call.
    lists: Vec<(String, Instant)>,
    /// Kind (plural) and `resourceVersion` of every watch call.
    watches: Vec<(String, Option<String>)>,
}

/// The real client, with faults injected on command.
struct FlakyClient {
    inner: Arc<LocalClient>,
    faults: Mutex<Faults>,
    /// `false` holds new watch calls until it turns `true` again.
    watches_open: watch::Sender<bool>,
    /// Bumped after every list and watch call, to wait on.
    activity: watch::Sender<u64>,
}

impl FlakyClient {
    fn new(inner: Arc<LocalClient>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            faults: Mutex::default(),
            watches_open: watch::channel(true).0,
            activity: watch::channel(0).0,
        })
    }

    /// Waits until `condition` holds of the calls made so far.
    async fn until(&self, what: &str, condition: impl Fn(&Faults) -> bool) {
        let mut activity = self.activity.subscribe();
        let waited = tokio::time::timeout(WAIT, async {
            while !condition(&lock(&self.faults)) {
                // The sender lives as long as `self`.
                let _ = activity.changed().await;
            }
        })
        .await;
        assert!(waited.is_ok(), "timed out waiting for {what}");
    }

    /// Waits until every watch handed out so far has been dropped by its consumer.
    async fn until_watches_closed(&self) {
        let live = std::mem::take(&mut lock(&self.faults).live);
        let closed = futures::future::join_all(live.into_iter().map(|mut switch| async move {
            switch.closed().await;
        }));
        assert!(
            tokio::time::timeout(WAIT, closed).await.is_ok(),
            "timed out waiting for the watches to close"
        );
    }

    /// Ends every open watch; answers how many there were.
    fn cut_watches(&self, how: Cut) -> usize {
        let live = std::mem::take(&mut lock(&self.faults).live);
        live.into_iter()
            .filter_map(|cut| cut.send(how).ok())
            .count()
    }

    fn fail_next_lists(&self, n: u32) {
        lock(&self.faults).failing_lists += n;
    }

    fn expire_next_watches(&self, n: u32) {
        lock(&self.faults).expiring_watches += n;
    }

    fn hold_watches(&self) {
        self.watches_open.send_replace(false);
    }

    fn release_watches(&self) {
        self.watches_open.send_replace(true);
    }

    fn list_calls(&self, plural: &str) -> Vec<Instant> {
        lock(&self.faults)
            .lists
            .iter()
            .filter(|(kind, _)| kind == plural)
            .map(|(_, at)| *at)
            .collect()
    }

    /// The config maps in `default`, read from the server itself: what a test compares the
    /// cache with must neither count as the informer's call nor meet an injected fault.
    fn server(&self) -> Api<ConfigMap> {
        config_maps(self.inner.clone())
    }

    fn watch_calls(&self, plural: &str) -> Vec<Option<String>> {
        lock(&self.faults)
            .watches
            .iter()
            .filter(|(kind, _)| kind == plural)
            .map(|(_, rv)| rv.clone())
            .collect()
    }
}

/// A watch stream that a cut switch can end.
fn cuttable(stream: WatchStream, cut: oneshot::Receiver<Cut>) -> WatchStream {
    enum Next {
        Cut(Result<Cut, oneshot::error::RecvError>),
        Event(Option<WatchEvent<ArcObject>>),
    }
    futures::stream::unfold(Some((stream, Some(cut))), |state| async move {
        let (mut stream, mut cut) = state?;
        loop {
            let next = match &mut cut {
                Some(switch) => tokio::select! {
                    biased;
                    how = switch => Next::Cut(how),
                    event = stream.next() => Next::Event(event),
                },
                None => Next::Event(stream.next().await),
            };
            return match next {
                Next::Cut(Ok(Cut::End)) => None,
                Next::Cut(Ok(Cut::Expired)) => Some((
                    WatchEvent::Error(Status::expired("too old resource version (injected)")),
                    None,
                )),
                Next::Cut(Err(_)) => {
                    cut = None;
                    continue;
                }
                Next::Event(event) => event.map(|event| (event, Some((stream, cut)))),
            };
        }
    })
    .boxed()
}

#[async_trait]
impl Client for FlakyClient {
    async fn get(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        params: &GetParams,
    ) -> Result<ArcObject, Status> {
        self.inner.get(kind, namespace, name, params).await
    }

    async fn list(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList, Status> {
        let fail = {
            let mut faults = lock(&self.faults);
            faults.lists.push((kind.plural.to_string(), Instant::now()));
            let fail = faults.failing_lists > 0;
            faults.failing_lists = faults.failing_lists.saturating_sub(1);
            fail
        };
        self.activity.send_modify(|n| *n += 1);
        if fail {
            return Err(Status::internal("injected list failure"));
        }
        self.inner.list(kind, namespace, params).await
    }

    async fn watch(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        params: &WatchParams,
    ) -> Result<WatchStream, Status> {
        lock(&self.faults)
            .watches
            .push((kind.plural.to_string(), params.resource_version.clone()));
        let mut open = self.watches_open.subscribe();
        // The sender lives as long as `self`.
        let _ = open.wait_for(|open| *open).await;
        let expire = {
            let mut faults = lock(&self.faults);
            let expire = faults.expiring_watches > 0;
            faults.expiring_watches = faults.expiring_watches.saturating_sub(1);
            expire
        };
        if expire {
            return Err(Status::expired("too old resource version (injected)"));
        }
        let stream = self.inner.watch(kind, namespace, params).await?;
        let (switch, cut) = oneshot::channel();
        lock(&self.faults).live.push(switch);
        self.activity.send_modify(|n| *n += 1);
        Ok(cuttable(stream, cut))
    }

    async fn create(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        self.inner.create(kind, namespace, object, params).await
    }

    async fn create_subresource(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Subresource,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        self.inner
            .create_subresource(kind, namespace, name, subresource, object, params)
            .await
    }

    async fn replace(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        self.inner
            .replace(kind, namespace, name, subresource, object, params)
            .await
    }

    async fn patch(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<ArcObject, Status> {
        self.inner
            .patch(kind, namespace, name, subresource, patch, params)
            .await
    }

    async fn get_subresource(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Subresource,
    ) -> Result<ArcObject, Status> {
        self.inner
            .get_subresource(kind, namespace, name, subresource)
            .await
    }

    async fn delete(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome, Status> {
        self.inner.delete(kind, namespace, name, params).await
    }

    async fn delete_collection(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        list: &ListParams,
        params: &DeleteParams,
    ) -> Result<ObjectList, Status> {
        self.inner
            .delete_collection(kind, namespace, list, params)
            .await
    }
}

// ---------------------------------------------------------------------------------------
// Objects and what handlers saw.
// ---------------------------------------------------------------------------------------

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "data": {"v": "0"}
    }))
    .expect("a valid config map")
}

fn config_maps(client: Arc<dyn Client>) -> Api<ConfigMap> {
    Api::namespaced(client, "default")
}

async fn create(api: &Api<ConfigMap>, name: &str) -> Arc<ConfigMap> {
    api.create(&PostParams::default(), &config_map(name))
        .await
        .expect("the config map is created")
}

async fn set_value(
    api: &Api<ConfigMap>,
    name: &str,
    value: &str,
) -> Result<Arc<ConfigMap>, Status> {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": value}})),
    )
    .await
}

async fn delete(api: &Api<ConfigMap>, name: &str) -> Result<(), Status> {
    api.delete(name, &DeleteParams::default()).await.map(|_| ())
}

fn name_of<K: orchestra_api::Object>(object: &K) -> String {
    object.metadata().name.clone().unwrap_or_default()
}

fn rv_of<K: orchestra_api::Object>(object: &K) -> String {
    object
        .metadata()
        .resource_version
        .clone()
        .unwrap_or_default()
}

/// What a handler saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Added(String),
    Updated(String),
    Resynced(String),
    Deleted(String),
}

/// A handler that logs every notification, keeps the view of the world the notifications
/// describe (name → resourceVersion), and notes notifications that contradict that view.
#[derive(Default)]
struct Recorder {
    log: Mutex<Vec<Seen>>,
    view: Mutex<BTreeMap<String, String>>,
    contradictions: Mutex<Vec<String>>,
    changed: watch::Sender<u64>,
}

impl Recorder {
    fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn log(&self) -> Vec<Seen> {
        lock(&self.log).clone()
    }

    fn view(&self) -> BTreeMap<String, String> {
        lock(&self.view).clone()
    }

    fn contradictions(&self) -> Vec<String> {
        lock(&self.contradictions).clone()
    }

    fn record(&self, seen: Seen, contradiction: Option<String>) {
        lock(&self.log).push(seen);
        if let Some(contradiction) = contradiction {
            lock(&self.contradictions).push(contradiction);
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// Waits until `condition` holds, re-checking after each notification.
    async fn until(&self, what: &str, condition: impl Fn() -> bool) {
        let mut changed = self.changed.subscribe();
        let waited = tokio::time::timeout(WAIT, async {
            while !condition() {
                if changed.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "timed out waiting for {what}; saw {:?}",
            self.log()
        );
    }
}

impl<K: orchestra_api::Object> EventHandler<K> for Recorder {
    fn on_add(&self, object: &Arc<K>) {
        let (name, rv) = (name_of(&**object), rv_of(&**object));
        let previous = lock(&self.view).insert(name.clone(), rv);
        let contradiction = previous.map(|old| format!("add of {name}, already seen at {old}"));
        self.record(Seen::Added(name), contradiction);
    }

    fn on_update(&self, old: &Arc<K>, new: &Arc<K>) {
        let name = name_of(&**new);
        let previous = lock(&self.view).insert(name.clone(), rv_of(&**new));
        let contradiction = match previous {
            None => Some(format!("update of unseen {name}")),
            Some(seen) if seen != rv_of(&**old) => Some(format!(
                "update of {name} from {} but the last state seen was {seen}",
                rv_of(&**old)
            )),
            Some(_) => None,
        };
        let seen = if Arc::ptr_eq(old, new) {
            Seen::Resynced(name)
        } else {
            Seen::Updated(name)
        };
        self.record(seen, contradiction);
    }

    fn on_delete(&self, object: &Arc<K>) {
        let name = name_of(&**object);
        let previous = lock(&self.view).remove(&name);
        let contradiction = previous
            .is_none()
            .then(|| format!("delete of unseen {name}"));
        self.record(Seen::Deleted(name), contradiction);
    }
}

/// name → resourceVersion of what the server holds now. Tests with a `FlakyClient` pass
/// `client.server()`, so that this list is neither counted nor failed by the fault injector.
async fn server_state(api: &Api<ConfigMap>) -> BTreeMap<String, String> {
    api.list(&ListParams::default())
        .await
        .expect("the server lists")
        .items
        .iter()
        .map(|cm| (name_of(&**cm), rv_of(&**cm)))
        .collect()
}

fn cache_state<K: orchestra_api::Object + serde::de::DeserializeOwned>(
    informer: &Informer<K>,
) -> BTreeMap<String, String> {
    informer
        .cache()
        .list()
        .iter()
        .map(|obj| (name_of(&**obj), rv_of(&**obj)))
        .collect()
}

/// An informer of the config maps in `default`, with a recorder, started and synced.
async fn started_informer(client: Arc<dyn Client>) -> (Informer<ConfigMap>, Arc<Recorder>) {
    let informer = Informer::<ConfigMap>::namespaced(client, "default");
    let recorder = Recorder::new();
    informer.add_handler(recorder.clone());
    informer.start();
    tokio::time::timeout(WAIT, informer.wait_synced())
        .await
        .expect("the informer syncs in time")
        .expect("the informer runs");
    (informer, recorder)
}

// ---------------------------------------------------------------------------------------
// Behaviour.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn cache_and_handlers_follow_creates_updates_and_deletes() {
    let client = local_client().await;
    let api = config_maps(client.clone());
    create(&api, "before").await;
    let (informer, recorder) = started_informer(client).await;
    assert_eq!(informer.cache().len(), 1, "the first list fills the cache");

    create(&api, "web").await;
    set_value(&api, "web", "1").await.unwrap();
    delete(&api, "before").await.unwrap();
    let expected = server_state(&api).await;
    recorder
        .until("the cache to match the server", || {
            cache_state(&informer) == expected && recorder.view() == expected
        })
        .await;
    assert_eq!(
        recorder.log(),
        [
            Seen::Added("before".into()),
            Seen::Added("web".into()),
            Seen::Updated("web".into()),
            Seen::Deleted("before".into()),
        ]
    );
    let web = informer.cache().get(Some("default"), "web").unwrap();
    assert_eq!(web.data.as_ref().unwrap()["v"], "1");
    assert!(recorder.contradictions().is_empty());
}

#[tokio::test]
async fn cached_objects_are_the_servers_own_allocations() {
    let client = local_client().await;
    let api = config_maps(client.clone());
    create(&api, "shared").await;
    let (informer, _) = started_informer(client.clone()).await;
    let served = api.get("shared").await.unwrap();
    let cached = informer.cache().get(Some("default"), "shared").unwrap();
    assert!(
        Arc::ptr_eq(&served, &cached),
        "the in-process path shares, never copies"
    );
}

#[tokio::test(start_paused = true)]
async fn resumes_after_a_disconnect_from_the_last_resource_version_without_relisting() {
    let client = FlakyClient::new(local_client().await);
    let api = config_maps(client.clone());
    create(&api, "a").await;
    create(&api, "b").await;
    let (informer, recorder) = started_informer(client.clone()).await;
    let watches_before = client.watch_calls("configmaps").len();

    client.hold_watches();
    assert_eq!(client.cut_watches(Cut::End), 1);
    delete(&api, "a").await.unwrap();
    let b = set_value(&api, "b", "2").await.unwrap();
    create(&api, "c").await;
    client.release_watches();

    let expected = server_state(&client.server()).await;
    recorder
        .until("the changes made while disconnected", || {
            cache_state(&informer) == expected && recorder.view() == expected
        })
        .await;
    assert_eq!(client.list_calls("configmaps").len(), 1, "no re-list");
    let resumed_from = client.watch_calls("configmaps")[watches_before].clone();
    assert!(
        resumed_from.is_some_and(|rv| rv.parse::<i64>().unwrap() < rv_of(&*b).parse().unwrap())
    );
    assert_eq!(
        recorder.log()[2..],
        [
            Seen::Deleted("a".into()),
            Seen::Updated("b".into()),
            Seen::Added("c".into()),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn relists_after_410_and_emits_deletes_for_vanished_objects() {
    let client = FlakyClient::new(local_client().await);
    let api = config_maps(client.clone());
    create(&api, "vanishes").await;
    create(&api, "changes").await;
    create(&api, "stays").await;
    let (informer, recorder) = started_informer(client.clone()).await;

    // The watch drops; while it is down the history it would resume from is compacted away.
    client.hold_watches();
    client.cut_watches(Cut::End);
    delete(&api, "vanishes").await.unwrap();
    set_value(&api, "changes", "2").await.unwrap();
    create(&api, "appears").await;
    client.expire_next_watches(1);
    client.release_watches();

    let expected = server_state(&client.server()).await;
    recorder
        .until("the re-list", || {
            cache_state(&informer) == expected && recorder.view() == expected
        })
        .await;
    assert_eq!(client.list_calls("configmaps").len(), 2, "one re-list");
    let mut after_relist = recorder.log()[3..].to_vec();
    after_relist.sort_by_key(|seen| format!("{seen:?}"));
    assert_eq!(
        after_relist,
        [
            Seen::Added("appears".into()),
            Seen::Deleted("vanishes".into()),
            Seen::Updated("changes".into()),
        ],
        "only what changed is reported, unchanged objects are not"
    );
    assert!(
        recorder.contradictions().is_empty(),
        "{:?}",
        recorder.contradictions()
    );
}

#[tokio::test(start_paused = true)]
async fn an_in_band_410_makes_the_informer_relist() {
    let client = FlakyClient::new(local_client().await);
    let api = config_maps(client.clone());
    create(&api, "a").await;
    let (informer, recorder) = started_informer(client.clone()).await;

    client.hold_watches();
    client.cut_watches(Cut::Expired);
    delete(&api, "a").await.unwrap();
    create(&api, "b").await;
    client.release_watches();

    let expected = server_state(&client.server()).await;
    recorder
        .until("the re-list", || {
            cache_state(&informer) == expected && recorder.view() == expected
        })
        .await;
    assert_eq!(client.list_calls("configmaps").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn failed_lists_are_retried_after_800ms_doubling_with_jitter() {
    let client = FlakyClient::new(local_client().await);
    client.fail_next_lists(4);
    let informer = Informer::<ConfigMap>::namespaced(client.clone(), "default");
    informer.start();
    tokio::time::timeout(WAIT, informer.wait_synced())
        .await
        .expect("the informer syncs once lists succeed")
        .expect("the informer runs");

    let calls = client.list_calls("configmaps");
    assert_eq!(calls.len(), 5);
    let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, base_ms) in gaps.iter().zip([800u64, 1_600, 3_200, 6_400]) {
        let base = Duration::from_millis(base_ms);
        // Jitter stretches a wait by less than its length, but timers fire on whole
        // milliseconds, so a stretch just under the length rounds up to twice the base.
        assert!(
            *gap >= base && *gap <= base * 2,
            "waited {gap:?}, base {base:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn back_off_is_capped_at_30_seconds_and_reset_by_success() {
    let client = FlakyClient::new(local_client().await);
    client.fail_next_lists(9);
    let informer = Informer::<ConfigMap>::namespaced(client.clone(), "default");
    informer.start();
    tokio::time::timeout(WAIT, informer.wait_synced())
        .await
        .unwrap()
        .unwrap();
    let calls = client.list_calls("configmaps");
    let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|gap| *gap <= Duration::from_secs(30)),
        "{gaps:?}"
    );
    assert_eq!(gaps.last(), Some(&Duration::from_secs(30)), "{gaps:?}");

    // After a success the sequence starts over: a 410 waits 800 ms at most doubled, the
    // failed re-list after it 1.6 s at most doubled, instead of 30 s.
    client.fail_next_lists(1);
    client.cut_watches(Cut::Expired);
    let before = calls.len();
    client
        .until("a failed and a good re-list", |f| {
            f.lists.len() == before + 2
        })
        .await;
    let calls = client.list_calls("configmaps");
    let retry = calls[before + 1] - calls[before];
    assert!(
        retry >= Duration::from_millis(1_600) && retry < Duration::from_millis(3_200),
        "waited {retry:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_watch_that_closes_at_once_without_events_backs_off() {
    let client = FlakyClient::new(local_client().await);
    let api = config_maps(client.clone());
    let config = WatcherConfig::default().backoff(Backoff {
        jitter: 0.0,
        ..Backoff::default()
    });
    let mut events = Box::pin(watcher::<ConfigMap>(
        client.clone(),
        ConfigMap::resource_kind().clone(),
        Some("default"),
        config,
    ));
    for _ in 0..2 {
        assert!(matches!(
            events.next().await,
            Some(Ok(Event::Init | Event::InitDone))
        ));
    }
    // Each watch is cut as soon as it is open.
    let started = Instant::now();
    for round in 1..=2 {
        let watching = tokio::spawn({
            let client = client.clone();
            async move {
                client
                    .until("a watch", |f| f.watches.len() == round && f.live.len() == 1)
                    .await;
                client.cut_watches(Cut::End);
            }
        });
        let error = tokio::time::timeout(WAIT, events.next()).await.unwrap();
        assert!(
            matches!(error, Some(Err(WatcherError::ShortWatch { .. }))),
            "{error:?}"
        );
        watching.await.unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "the second watch waited"
    );

    // A watch that delivers something is healthy, however short.
    let started = Instant::now();
    create(&api, "x").await;
    let applied = tokio::time::timeout(WAIT, events.next()).await.unwrap();
    assert!(matches!(applied, Some(Ok(Event::Apply(_)))), "{applied:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn lists_are_paged_and_delivered_as_one_atomic_replacement() {
    let client = FlakyClient::new(local_client().await);
    let api = config_maps(client.clone());
    for i in 0..7 {
        create(&api, &format!("cm-{i}")).await;
    }
    let config = WatcherConfig::default().page_size(Some(3));
    let events: Vec<_> = watcher::<ConfigMap>(
        client.clone(),
        ConfigMap::resource_kind().clone(),
        Some("default"),
        config,
    )
    .take(9)
    .collect()
    .await;
    assert_eq!(
        client.list_calls("configmaps").len(),
        3,
        "pages of 3, 3 and 1"
    );
    assert!(matches!(events[0], Ok(Event::Init)));
    assert!(
        events[1..8]
            .iter()
            .all(|e| matches!(e, Ok(Event::InitApply(_))))
    );
    assert!(matches!(events[8], Ok(Event::InitDone)));
}

#[tokio::test]
async fn label_selectors_narrow_the_cache() {
    let client = local_client().await;
    let api = config_maps(client.clone());
    create(&api, "web").await;
    let mut other = config_map("db");
    other.metadata.labels = Some([("app".to_owned(), "db".to_owned())].into());
    api.create(&PostParams::default(), &other).await.unwrap();
    let informer = Informer::<ConfigMap>::new(
        client,
        ConfigMap::resource_kind().clone(),
        Some("default"),
        InformerConfig::default().watcher(WatcherConfig::default().labels("app=web")),
    );
    informer.start();
    informer.wait_synced().await.unwrap();
    assert_eq!(
        informer.cache().keys(),
        [ObjectKey::new(Some("default"), "web")]
    );
}

#[tokio::test]
async fn handlers_added_late_first_hear_of_every_cached_object() {
    let client = local_client().await;
    let api = config_maps(client.clone());
    create(&api, "a").await;
    create(&api, "b").await;
    let (informer, _) = started_informer(client).await;

    let late = Recorder::new();
    let registration = informer.add_handler(late.clone());
    tokio::time::timeout(WAIT, registration.wait_synced())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        late.log(),
        [Seen::Added("a".into()), Seen::Added("b".into())]
    );
    create(&api, "c").await;
    late.until("the next change", || late.log().len() == 3)
        .await;

    assert!(registration.remove());
    assert!(!registration.remove(), "already removed");
    create(&api, "d").await;
    let expected = server_state(&api).await;
    let early = Recorder::new();
    informer.add_handler(early.clone());
    early
        .until("a later handler to see d", || early.view() == expected)
        .await;
    assert_eq!(late.log().len(), 3, "a removed handler hears nothing more");
}

#[tokio::test]
async fn a_handler_registration_syncs_after_the_initial_list_is_delivered() {
    let client = local_client().await;
    let api = config_maps(client.clone());
    for name in ["a", "b", "c"] {
        create(&api, name).await;
    }
    let informer = Informer::<ConfigMap>::namespaced(client, "default");
    let recorder = Recorder::new();
    let registration = informer.add_handler(recorder.clone());
    assert!(!registration.has_synced());
    informer.start();
    tokio::time::timeout(WAIT, registration.wait_synced())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        recorder.log().len(),
        3,
        "every initial object was handled first"
    );
}

#[tokio::test(start_paused = true)]
async fn resync_re_announces_every_cached_object_as_an_update_to_itself() {
    let client = local_client().await;
    let api = config_maps(client.clone());
    create(&api, "a").await;
    create(&api, "b").await;
    let informer = Informer::<ConfigMap>::new(
        client,
        ConfigMap::resource_kind().clone(),
        Some("default"),
        InformerConfig::default().resync(Duration::from_secs(30)),
    );
    let resyncing = Recorder::new();
    let quiet = Recorder::new();
    informer.add_handler(resyncing.clone());
    informer.add_handler_with_resync(quiet.clone(), None);
    informer.start();
    informer.wait_synced().await.unwrap();
    let started = Instant::now();

    resyncing
        .until("two resyncs", || resyncing.log().len() == 6)
        .await;
    assert!(started.elapsed() >= Duration::from_secs(30));
    assert_eq!(
        resyncing.log()[2..],
        [
            Seen::Resynced("a".into()),
            Seen::Resynced("b".into()),
            Seen::Resynced("a".into()),
            Seen::Resynced("b".into()),
        ]
    );
    assert_eq!(
        quiet.log().len(),
        2,
        "a handler without resync is not re-driven"
    );
}

#[tokio::test]
async fn a_work_queue_handler_enqueues_object_keys() {
    let client = local_client().await;
    let api = config_maps(client.clone());
    let informer = Informer::<ConfigMap>::namespaced(client, "default");
    let queue: WorkQueue<ObjectKey> = WorkQueue::new();
    informer.add_handler(queue.clone());
    informer.start();
    informer.wait_synced().await.unwrap();
    create(&api, "web").await;
    set_value(&api, "web", "1").await.unwrap();
    let key = tokio::time::timeout(WAIT, queue.get())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(key, ObjectKey::new(Some("default"), "web"));
    queue.done(&key);
}

#[tokio::test]
async fn a_panicking_handler_keeps_receiving() {
    let client = local_client().await;
    let api = config_maps(client.clone());
    let (informer, _) = started_informer(client).await;
    let (calls, mut seen) = watch::channel(0);
    informer.add_handler(HandlerFns::<ConfigMap>::new().on_add(move |_| {
        calls.send_modify(|n| *n += 1);
        panic!("a buggy handler");
    }));
    create(&api, "a").await;
    create(&api, "b").await;
    let both = tokio::time::timeout(WAIT, seen.wait_for(|n| *n == 2)).await;
    assert!(
        matches!(both, Ok(Ok(_))),
        "the handler was called for both adds"
    );
}

#[tokio::test]
async fn indexes_answer_by_namespace_owner_uid_and_node_name() {
    let client = local_client().await;
    let owner = create(&config_maps(client.clone()), "owner").await;
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    for (name, node) in [("p1", "node-1"), ("p2", "node-1"), ("p3", "node-2")] {
        let mut pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]}
        }))
        .unwrap();
        if name != "p3" {
            pod.metadata.owner_references = Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: "owner".into(),
                uid: owner.metadata.uid.clone().unwrap(),
                ..OwnerReference::default()
            }]);
        }
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    let informer = Informer::<Pod>::all(client);
    informer
        .add_indexer(orchestra_controller::informer::Indexer::node_name())
        .unwrap();
    informer
        .add_indexer(orchestra_controller::informer::Indexer::owner_uid())
        .unwrap();
    informer.start();
    informer.wait_synced().await.unwrap();
    let cache = informer.cache();
    let names = |pods: Vec<Arc<Pod>>| pods.iter().map(|p| name_of(&**p)).collect::<Vec<_>>();
    assert_eq!(
        names(cache.by_index(NODE_NAME_INDEX, "node-1").unwrap()),
        ["p1", "p2"]
    );
    assert_eq!(
        names(
            cache
                .by_index(OWNER_UID_INDEX, owner.metadata.uid.as_deref().unwrap())
                .unwrap()
        ),
        ["p1", "p2"]
    );
    assert_eq!(cache.by_index(NAMESPACE_INDEX, "default").unwrap().len(), 3);
    assert!(
        cache
            .by_index(NAMESPACE_INDEX, "kube-system")
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn dynamic_objects_are_informed_by_kind_at_run_time() {
    let client = local_client().await;
    create(&config_maps(client.clone()), "dyn").await;
    let informer = Informer::<DynamicObject>::new(
        client,
        kinds::CONFIGMAPS.clone(),
        None,
        InformerConfig::default(),
    );
    informer.start();
    informer.wait_synced().await.unwrap();
    let cached = informer.cache().get(Some("default"), "dyn").unwrap();
    assert_eq!(cached.data["data"]["v"], "0");
}

#[tokio::test(start_paused = true)]
async fn the_shared_factory_lists_and_watches_each_kind_once() {
    let client = FlakyClient::new(local_client().await);
    let factory = SharedInformerFactory::new(client.clone());
    let for_one_controller = factory.informer::<ConfigMap>();
    let for_another = factory.informer::<ConfigMap>();
    let pods = factory.informer::<Pod>();
    let in_default = factory.namespaced_informer::<ConfigMap>("default");
    assert_eq!(factory.len(), 3, "same kind and scope: one informer");
    factory.start();
    factory.start();
    tokio::time::timeout(WAIT, factory.wait_for_cache_sync())
        .await
        .unwrap()
        .unwrap();
    assert!(for_one_controller.has_synced() && for_another.has_synced());
    assert!(pods.has_synced() && in_default.has_synced());
    assert_eq!(
        client.list_calls("configmaps").len(),
        2,
        "all namespaces, and default"
    );
    assert_eq!(client.list_calls("pods").len(), 1);

    let one = Recorder::new();
    let another = Recorder::new();
    for_one_controller.add_handler(one.clone());
    for_another.add_handler(another.clone());
    create(&config_maps(client.clone()), "shared").await;
    one.until("the add", || one.log().len() == 1).await;
    another.until("the add", || another.log().len() == 1).await;

    factory.shutdown();
    let later = factory.informer::<Node>();
    factory.start();
    tokio::time::timeout(WAIT, later.wait_synced())
        .await
        .unwrap()
        .unwrap();
    assert!(for_one_controller.is_started());
}

#[tokio::test(start_paused = true)]
async fn stopping_before_the_first_list_makes_waiters_see_stopped() {
    let client = FlakyClient::new(local_client().await);
    client.fail_next_lists(100);
    let informer = Informer::<ConfigMap>::namespaced(client.clone(), "default");
    let registration = informer.add_handler(Recorder::new());
    informer.start();
    let cache = informer.cache();
    informer.stop();
    assert!(
        tokio::time::timeout(WAIT, cache.wait_synced())
            .await
            .unwrap()
            .is_err()
    );
    assert!(
        tokio::time::timeout(WAIT, registration.wait_synced())
            .await
            .unwrap()
            .is_err()
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_stops_the_informer() {
    let client = FlakyClient::new(local_client().await);
    let (informer, _) = started_informer(client.clone()).await;
    let cache = informer.cache();
    drop(informer);
    client.until_watches_closed().await;
    create(&config_maps(client.clone()), "after").await;
    assert!(cache.is_empty(), "the cache keeps its last state");
}

// ---------------------------------------------------------------------------------------
// The property: whatever happens, the cache converges to the server's state, and the
// handlers' notifications describe exactly that state.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Create(u8),
    Update(u8),
    Delete(u8),
    CutWatch(Cut),
    ExpireNextWatch,
    FailNextList,
    HoldWatches,
    ReleaseWatches,
    Yield(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..6).prop_map(Op::Create),
        4 => (0u8..6).prop_map(Op::Update),
        3 => (0u8..6).prop_map(Op::Delete),
        1 => Just(Op::CutWatch(Cut::End)),
        1 => Just(Op::CutWatch(Cut::Expired)),
        1 => Just(Op::ExpireNextWatch),
        1 => Just(Op::FailNextList),
        1 => Just(Op::HoldWatches),
        1 => Just(Op::ReleaseWatches),
        3 => (1u8..20).prop_map(Op::Yield),
    ]
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(48)
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds")
}

async fn run_ops(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let client = FlakyClient::new(local_client().await);
    let api = config_maps(client.clone());
    create(&api, "cm-0").await;
    let informer = Informer::<ConfigMap>::namespaced(client.clone(), "default");
    let recorder = Recorder::new();
    informer.add_handler(recorder.clone());
    informer.start();
    let mut version = 0;
    for op in ops {
        match op {
            Op::Create(i) => {
                let _ = api
                    .create(&PostParams::default(), &config_map(&format!("cm-{i}")))
                    .await;
            }
            Op::Update(i) => {
                version += 1;
                let _ = set_value(&api, &format!("cm-{i}"), &version.to_string()).await;
            }
            Op::Delete(i) => {
                let _ = delete(&api, &format!("cm-{i}")).await;
            }
            Op::CutWatch(how) => {
                client.cut_watches(how);
            }
            Op::ExpireNextWatch => client.expire_next_watches(1),
            Op::FailNextList => client.fail_next_lists(1),
            Op::HoldWatches => client.hold_watches(),
            Op::ReleaseWatches => client.release_watches(),
            Op::Yield(n) => {
                for _ in 0..n {
                    tokio::task::yield_now().await;
                }
            }
        }
    }
    client.release_watches();
    let expected = server_state(&client.server()).await;
    let mut changed = recorder.changed.subscribe();
    let converged = tokio::time::timeout(WAIT, async {
        // A list that changes nothing (an empty server after failed lists) notifies no
        // handler: wait for the sync itself, then for the notifications.
        if informer.wait_synced().await.is_err() {
            std::future::pending::<()>().await;
        }
        while !(cache_state(&informer) == expected && recorder.view() == expected) {
            if changed.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    })
    .await;
    prop_assert!(
        converged.is_ok(),
        "cache {:?} / handler view {:?} never matched the server {:?}",
        cache_state(&informer),
        recorder.view(),
        expected
    );
    prop_assert_eq!(recorder.contradictions(), Vec::<String>::new());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Whatever the interleaving of changes, dropped watches, 410s at the start of a watch or
    /// in-band, failed lists and watches held back while the world changes, the cache ends up
    /// equal to the server's state, and the notifications the handlers received (each
    /// consistent with the ones before it) describe exactly that state.
    #[test]
    fn cache_equals_the_server_after_any_interleaving_of_changes_and_disconnects(
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        paused_runtime().block_on(run_ops(ops))?;
    }
}
