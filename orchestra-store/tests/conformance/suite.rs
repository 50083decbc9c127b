//! The behaviour every `KvStore` backend must show: etcd v3's semantics, as the Kubernetes
//! API server relies on them. Each function takes a fresh backend from a factory.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use orchestra_store::{
    DEFAULT_MAX_VALUE_SIZE, KeyValue, KvStore, RangeRequest, Revision, StoreError, WatchBatch,
    WatchEvent, WatchRequest, WatchStream,
};

use crate::backends::Backend;

/// How long a watcher may wait for a batch that must come.
const WATCH_TIMEOUT: Duration = Duration::from_secs(20);

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

/// The next batch of `watch`, which must arrive in time and be `Ok`.
async fn next_batch(watch: &mut WatchStream) -> WatchBatch {
    match tokio::time::timeout(WATCH_TIMEOUT, watch.next()).await {
        Ok(Some(Ok(batch))) => batch,
        Ok(Some(Err(error))) => panic!("the watch failed: {error}"),
        Ok(None) => panic!("the watch ended"),
        Err(_) => panic!("no watch batch within {WATCH_TIMEOUT:?}"),
    }
}

/// The next item of `watch`, which must be an error.
async fn next_error(watch: &mut WatchStream) -> StoreError {
    match tokio::time::timeout(WATCH_TIMEOUT, watch.next()).await {
        Ok(Some(Err(error))) => error,
        Ok(Some(Ok(batch))) => panic!("expected an error, got {batch:?}"),
        Ok(None) => panic!("the watch ended without an error"),
        Err(_) => panic!("no watch item within {WATCH_TIMEOUT:?}"),
    }
}

/// The events of the next `count` batches, checking that revisions strictly increase.
async fn next_events(watch: &mut WatchStream, count: usize) -> Vec<WatchEvent> {
    let mut events = Vec::new();
    let mut last = 0;
    for _ in 0..count {
        let batch = next_batch(watch).await;
        assert!(batch.revision > last, "revisions must increase: {batch:?}");
        last = batch.revision;
        for event in &batch.events {
            assert_eq!(event.revision(), batch.revision);
        }
        events.extend(batch.events);
    }
    events
}

/// Writes a sentinel key under `prefix` and checks that it is the very next batch: no other
/// (duplicate or stray) event was pending before it.
async fn assert_nothing_more(store: &dyn KvStore, watch: &mut WatchStream, prefix: &str) {
    let sentinel = store
        .put(b(&format!("{prefix}~sentinel")), b("end"))
        .await
        .expect("sentinel written");
    let batch = next_batch(watch).await;
    assert_eq!(
        batch.revision, sentinel.mod_revision,
        "an unexpected batch arrived before the sentinel: {batch:?}"
    );
}

pub async fn every_write_gets_the_next_revision(backend: Backend) {
    let store = &*backend.store;
    let start = store.current_revision().await.expect("revision");
    assert!(start >= 1, "a new store is at revision 1 or later");

    let created = store.create(b("/r/a"), b("1")).await.expect("create");
    assert_eq!(created.mod_revision, start + 1);
    assert_eq!(created.create_revision, start + 1);
    assert_eq!(created.version, 1);

    let put = store.put(b("/r/b"), b("1")).await.expect("put");
    assert_eq!(put.mod_revision, start + 2);

    let updated = store
        .update(b("/r/a"), b("2"), created.mod_revision)
        .await
        .expect("update");
    assert_eq!(updated.mod_revision, start + 3);
    assert_eq!(updated.create_revision, created.create_revision);
    assert_eq!(updated.version, 2);

    let deleted = store
        .delete(b("/r/a"), Some(updated.mod_revision))
        .await
        .expect("delete");
    assert_eq!(deleted, updated, "a delete returns the deleted state");
    assert_eq!(store.current_revision().await.expect("revision"), start + 4);

    let recreated = store.create(b("/r/a"), b("3")).await.expect("recreate");
    assert_eq!(recreated.mod_revision, start + 5);
    assert_eq!(
        (recreated.create_revision, recreated.version),
        (start + 5, 1),
        "a recreated key starts a new life"
    );
    assert_eq!(
        store.get(b"/r/a").await.expect("get"),
        Some(recreated.clone())
    );
    assert_eq!(store.get(b"/r/missing").await.expect("get"), None);
    assert_eq!(store.current_revision().await.expect("revision"), start + 5);
}

pub async fn compare_and_swap_refuses_stale_writers(backend: Backend) {
    let store = &*backend.store;
    let first = store.create(b("/cas/k"), b("1")).await.expect("create");
    let second = store
        .update(b("/cas/k"), b("2"), first.mod_revision)
        .await
        .expect("update");
    let before = store.current_revision().await.expect("revision");

    match store.update(b("/cas/k"), b("3"), first.mod_revision).await {
        Err(StoreError::Conflict {
            key,
            expected,
            current_revision,
        }) => {
            assert_eq!(key, "/cas/k");
            assert_eq!(expected, first.mod_revision);
            assert_eq!(current_revision, second.mod_revision);
        }
        other => panic!("a stale update must conflict, got {other:?}"),
    }
    match store.delete(b("/cas/k"), Some(first.mod_revision)).await {
        Err(StoreError::Conflict {
            current_revision, ..
        }) => assert_eq!(current_revision, second.mod_revision),
        other => panic!("a stale delete must conflict, got {other:?}"),
    }
    match store.create(b("/cas/k"), b("again")).await {
        Err(StoreError::AlreadyExists { mod_revision, .. }) => {
            assert_eq!(mod_revision, second.mod_revision)
        }
        other => panic!("creating an existing key must fail, got {other:?}"),
    }
    assert!(matches!(
        store.update(b("/cas/missing"), b("1"), 1).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.update(b("/cas/missing"), b("1"), 0).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete(b("/cas/missing"), None).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        store.current_revision().await.expect("revision"),
        before,
        "refused writes make no revision"
    );
    assert_eq!(store.get(b"/cas/k").await.expect("get"), Some(second));
    assert_eq!(
        StoreError::Conflict {
            key: b("k"),
            expected: 1,
            current_revision: 2
        }
        .http_status(),
        409
    );
}

pub async fn concurrent_increments_are_never_lost(backend: Backend) {
    const TASKS: usize = 8;
    const INCREMENTS: usize = 50;
    let store = backend.store.clone();
    store.create(b("/counter"), b("0")).await.expect("create");
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..INCREMENTS {
                loop {
                    let current = store.get(b"/counter").await.expect("get").expect("exists");
                    let count: u64 = std::str::from_utf8(&current.value)
                        .expect("utf-8")
                        .parse()
                        .expect("a number");
                    let next = Bytes::from((count + 1).to_string());
                    match store
                        .update(b("/counter"), next, current.mod_revision)
                        .await
                    {
                        Ok(_) => break,
                        Err(StoreError::Conflict { .. }) => conflicts += 1,
                        Err(error) => panic!("increment failed: {error}"),
                    }
                }
            }
            conflicts
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let total = store.get(b"/counter").await.expect("get").expect("exists");
    assert_eq!(total.value, Bytes::from((TASKS * INCREMENTS).to_string()));
    assert_eq!(total.version, (TASKS * INCREMENTS) as i64 + 1);
}

pub async fn range_at_a_past_revision_sees_the_state_then(backend: Backend) {
    let store = &*backend.store;
    let a1 = store.put(b("/p/a"), b("a1")).await.expect("put");
    let b1 = store.put(b("/p/b"), b("b1")).await.expect("put");
    let a2 = store.put(b("/p/a"), b("a2")).await.expect("put");
    store.delete(b("/p/b"), None).await.expect("delete");
    let c1 = store.put(b("/p/c"), b("c1")).await.expect("put");
    store.put(b("/q/outside"), b("x")).await.expect("put");

    let at = |revision: Revision| async move {
        store
            .range(RangeRequest::prefix("/p/").at_revision(revision))
            .await
            .expect("range")
    };
    let listed = at(a1.mod_revision).await;
    assert_eq!(listed.kvs, vec![a1.clone()]);
    assert_eq!(listed.revision, a1.mod_revision);
    assert_eq!(at(b1.mod_revision).await.kvs, vec![a1, b1.clone()]);
    assert_eq!(at(a2.mod_revision).await.kvs, vec![a2.clone(), b1]);
    assert_eq!(at(c1.mod_revision).await.kvs, vec![a2.clone(), c1.clone()]);

    let now = store
        .range(RangeRequest::prefix("/p/"))
        .await
        .expect("range");
    assert_eq!(now.kvs, vec![a2, c1]);
    assert!(!now.more);
    assert_eq!(
        now.revision,
        store.current_revision().await.expect("revision")
    );

    let everything = store.range(RangeRequest::prefix("")).await.expect("range");
    assert_eq!(
        everything
            .kvs
            .iter()
            .map(|kv| kv.key.clone())
            .collect::<Vec<_>>(),
        vec![b("/p/a"), b("/p/c"), b("/q/outside")]
    );
}

pub async fn future_revisions_are_refused(backend: Backend) {
    let store = &*backend.store;
    store.put(b("/f/a"), b("1")).await.expect("put");
    let current = store.current_revision().await.expect("revision");
    match store
        .range(RangeRequest::prefix("/f/").at_revision(current + 10))
        .await
    {
        Err(error @ StoreError::FutureRevision { .. }) => assert_eq!(error.http_status(), 504),
        other => panic!("a future revision must be refused, got {other:?}"),
    }
}

/// Writes a little history under `/w/` (and one key outside it) and returns the events a
/// watcher of `/w/` must see, in order.
async fn write_history(store: &dyn KvStore) -> Vec<WatchEvent> {
    let mut expected = Vec::new();
    let a1 = store.create(b("/w/a"), b("a1")).await.expect("create");
    expected.push(WatchEvent::Put {
        kv: a1.clone(),
        prev: None,
    });
    let b1 = store.put(b("/w/b"), b("b1")).await.expect("put");
    expected.push(WatchEvent::Put {
        kv: b1.clone(),
        prev: None,
    });
    store.put(b("/elsewhere"), b("x")).await.expect("put");
    let a2 = store
        .update(b("/w/a"), b("a2"), a1.mod_revision)
        .await
        .expect("update");
    expected.push(WatchEvent::Put {
        kv: a2.clone(),
        prev: Some(a1),
    });
    let deleted = store.delete(b("/w/b"), None).await.expect("delete");
    let revision = store.current_revision().await.expect("revision");
    expected.push(WatchEvent::Delete { prev: b1, revision });
    assert_eq!(deleted.value, "b1");
    let b2 = store.create(b("/w/b"), b("b2")).await.expect("create");
    expected.push(WatchEvent::Put { kv: b2, prev: None });
    expected
}

pub async fn watch_from_a_past_revision_replays_every_change_in_order(backend: Backend) {
    let store = &*backend.store;
    let start = store.current_revision().await.expect("revision") + 1;
    let expected = write_history(store).await;

    let mut watch = store
        .watch(WatchRequest::prefix("/w/").from_revision(start))
        .await
        .expect("watch");
    assert_eq!(next_events(&mut watch, expected.len()).await, expected);
    assert_nothing_more(store, &mut watch, "/w/").await;

    // Starting in the middle replays from there.
    let middle = expected[2].revision();
    let mut watch = store
        .watch(WatchRequest::prefix("/w/").from_revision(middle))
        .await
        .expect("watch");
    assert_eq!(next_events(&mut watch, 3).await, expected[2..]);
}

pub async fn watch_resumes_after_reconnect_without_gaps_or_duplicates(backend: Backend) {
    let store = &*backend.store;
    let start = store.current_revision().await.expect("revision") + 1;
    let mut watch = store
        .watch(WatchRequest::prefix("/resume/").from_revision(start))
        .await
        .expect("watch");
    let mut written = Vec::new();
    for i in 0..10 {
        written.push(
            store
                .put(b(&format!("/resume/{i}")), b(&i.to_string()))
                .await
                .expect("put"),
        );
    }
    let seen = next_events(&mut watch, 5).await;
    let last_seen = seen.last().expect("five events").revision();
    drop(watch);

    for i in 10..20 {
        written.push(
            store
                .put(b(&format!("/resume/{i}")), b(&i.to_string()))
                .await
                .expect("put"),
        );
    }
    let client = backend.reconnect().await;
    let mut watch = client
        .watch(WatchRequest::prefix("/resume/").from_revision(last_seen + 1))
        .await
        .expect("watch again");
    let rest = next_events(&mut watch, 15).await;
    let all: Vec<KeyValue> = seen
        .into_iter()
        .chain(rest)
        .map(|event| match event {
            WatchEvent::Put { kv, .. } => kv,
            other => panic!("only puts were written: {other:?}"),
        })
        .collect();
    assert_eq!(all, written, "every write exactly once, in order");
    assert_nothing_more(&*client, &mut watch, "/resume/").await;
}

pub async fn deletes_reach_watchers_with_their_previous_value(backend: Backend) {
    let store = &*backend.store;
    let mut watch = store
        .watch(WatchRequest::prefix("/del/"))
        .await
        .expect("watch");
    let written = store.put(b("/del/x"), b("last words")).await.expect("put");
    let deleted = store
        .delete(b("/del/x"), Some(written.mod_revision))
        .await
        .expect("delete");
    assert_eq!(deleted, written);
    let events = next_events(&mut watch, 2).await;
    assert_eq!(
        events[0],
        WatchEvent::Put {
            kv: written.clone(),
            prev: None
        }
    );
    assert_eq!(
        events[1],
        WatchEvent::Delete {
            prev: written.clone(),
            revision: written.mod_revision + 1,
        }
    );
    assert_eq!(events[1].key(), "/del/x");
}

pub async fn watch_delivers_only_its_prefix(backend: Backend) {
    let store = &*backend.store;
    let mut pods = store
        .watch(WatchRequest::prefix("/pods/"))
        .await
        .expect("watch");
    let mut everything = store.watch(WatchRequest::prefix("")).await.expect("watch");
    store.put(b("/nodes/n1"), b("n")).await.expect("put");
    let pod = store.put(b("/pods/p1"), b("p")).await.expect("put");
    store
        .put(b("/podsx"), b("not under /pods/"))
        .await
        .expect("put");

    let batch = next_batch(&mut pods).await;
    assert_eq!(batch.revision, pod.mod_revision);
    assert_nothing_more(store, &mut pods, "/pods/").await;

    let keys: Vec<Bytes> = next_events(&mut everything, 4)
        .await
        .iter()
        .map(|event| event.key().clone())
        .collect();
    assert_eq!(
        keys,
        vec![
            b("/nodes/n1"),
            b("/pods/p1"),
            b("/podsx"),
            b("/pods/~sentinel")
        ]
    );
}

pub async fn compaction_makes_older_revisions_expire(backend: Backend) {
    let store = &*backend.store;
    let old = store.put(b("/c/a"), b("1")).await.expect("put");
    let kept = store.put(b("/c/a"), b("2")).await.expect("put");
    let gone = store.put(b("/c/b"), b("1")).await.expect("put");
    store.delete(b("/c/b"), None).await.expect("delete");
    let after = store.put(b("/c/a"), b("3")).await.expect("put");
    let compact_at = after.mod_revision - 1;
    store.compact(compact_at).await.expect("compact");

    // A read before the compacted revision expires (410)...
    match store
        .range(RangeRequest::prefix("/c/").at_revision(old.mod_revision))
        .await
    {
        Err(error @ StoreError::Compacted { .. }) => {
            assert_eq!(error.http_status(), 410);
            let StoreError::Compacted {
                requested,
                compacted,
            } = error
            else {
                unreachable!()
            };
            assert_eq!(requested, old.mod_revision);
            assert_eq!(compacted, compact_at);
        }
        other => panic!("a compacted revision must expire, got {other:?}"),
    }
    // ...and so does a watch that needs the history before it.
    let mut watch = store
        .watch(WatchRequest::prefix("/c/").from_revision(old.mod_revision))
        .await
        .expect("watch starts");
    assert!(matches!(
        next_error(&mut watch).await,
        StoreError::Compacted { .. }
    ));
    assert!(
        tokio::time::timeout(WATCH_TIMEOUT, watch.next())
            .await
            .expect("the stream ends")
            .is_none(),
        "a watch ends after its error"
    );

    // The state at the compacted revision is still there, and the history after it.
    let then = store
        .range(RangeRequest::prefix("/c/").at_revision(compact_at))
        .await
        .expect("range at the compacted revision");
    assert_eq!(then.kvs, vec![kept.clone()]);
    let mut watch = store
        .watch(WatchRequest::prefix("/c/").from_revision(compact_at + 1))
        .await
        .expect("watch");
    assert_eq!(
        next_events(&mut watch, 1).await,
        vec![WatchEvent::Put {
            kv: after.clone(),
            prev: Some(kept)
        }]
    );
    assert!(gone.mod_revision < compact_at);

    // Compacting again to the same revision, or to the future, is refused.
    assert!(matches!(
        store.compact(compact_at).await,
        Err(StoreError::Compacted { .. })
    ));
    assert!(matches!(
        store.compact(after.mod_revision + 100).await,
        Err(StoreError::FutureRevision { .. })
    ));
}

/// A value of `len` bytes that is not all alike.
fn big_value(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

pub async fn values_of_one_and_a_half_mib_round_trip(backend: Backend) {
    let store = &*backend.store;
    const MIB_1_5: usize = 1536 * 1024;
    let mut watch = store
        .watch(WatchRequest::prefix("/big/"))
        .await
        .expect("watch");
    let mut written = Vec::new();
    for i in 0..3u8 {
        let value = big_value(MIB_1_5, i);
        let kv = store
            .put(b(&format!("/big/{i}")), value.clone())
            .await
            .expect("a 1.5 MiB value is accepted");
        assert_eq!(kv.value, value);
        written.push(kv);
    }
    for kv in &written {
        assert_eq!(store.get(&kv.key).await.expect("get").as_ref(), Some(kv));
    }
    let listed = store
        .range(RangeRequest::prefix("/big/"))
        .await
        .expect("range");
    assert_eq!(listed.kvs, written);
    let events = next_events(&mut watch, 3).await;
    for (event, kv) in events.iter().zip(&written) {
        assert_eq!(
            event,
            &WatchEvent::Put {
                kv: kv.clone(),
                prev: None
            }
        );
    }
    let replaced = store
        .update(written[0].key.clone(), b("small"), written[0].mod_revision)
        .await
        .expect("update");
    assert_eq!(
        next_events(&mut watch, 1).await,
        vec![WatchEvent::Put {
            kv: replaced,
            prev: Some(written[0].clone())
        }]
    );
}

pub async fn oversized_values_are_refused_before_writing(backend: Backend) {
    let store = &*backend.store;
    let before = store.current_revision().await.expect("revision");
    let too_big = big_value(DEFAULT_MAX_VALUE_SIZE + 1, 7);
    for attempt in [
        store.put(b("/huge"), too_big.clone()).await,
        store.create(b("/huge"), too_big.clone()).await,
        store.update(b("/huge"), too_big.clone(), 1).await,
    ] {
        match attempt {
            Err(error @ StoreError::ValueTooLarge { .. }) => {
                assert_eq!(error.http_status(), 413);
                let StoreError::ValueTooLarge { size, max, .. } = error else {
                    unreachable!()
                };
                assert_eq!(
                    (size, max),
                    (DEFAULT_MAX_VALUE_SIZE + 1, DEFAULT_MAX_VALUE_SIZE)
                );
            }
            other => panic!("an oversized value must be refused, got {other:?}"),
        }
    }
    assert_eq!(store.current_revision().await.expect("revision"), before);
    assert_eq!(store.get(b"/huge").await.expect("get"), None);
    let at_limit = big_value(DEFAULT_MAX_VALUE_SIZE, 9);
    store
        .put(b("/huge"), at_limit)
        .await
        .expect("a value of exactly the maximum size is accepted");
}

pub async fn empty_keys_are_refused(backend: Backend) {
    let store = &*backend.store;
    assert!(matches!(
        store.put(Bytes::new(), b("v")).await,
        Err(StoreError::InvalidKey { .. })
    ));
    assert!(matches!(
        store.delete(Bytes::new(), None).await,
        Err(StoreError::InvalidKey { .. })
    ));
}

pub async fn binary_keys_and_values_round_trip(backend: Backend) {
    let store = &*backend.store;
    let key = Bytes::from_static(b"/bin/\x00\xff\xfe\x80");
    let value = Bytes::from_static(b"\x00\x01\xff not utf-8 \xc3\x28");
    let written = store.put(key.clone(), value.clone()).await.expect("put");
    assert_eq!(store.get(&key).await.expect("get"), Some(written.clone()));
    let listed = store
        .range(RangeRequest::prefix(Bytes::from_static(b"/bin/\x00")))
        .await
        .expect("range");
    assert_eq!(listed.kvs, vec![written]);
    // A prefix of 0xff bytes has no successor: the range runs to the end of the key space.
    let tail = store
        .put(Bytes::from_static(b"\xff\xff"), value)
        .await
        .expect("put");
    let listed = store
        .range(RangeRequest::prefix(Bytes::from_static(b"\xff")))
        .await
        .expect("range");
    assert_eq!(listed.kvs, vec![tail]);
}

pub async fn paginated_range_lists_100k_keys_at_a_fixed_revision(backend: Backend) {
    const KEYS: usize = 100_000;
    const PAGE: usize = 1000;
    let store: Arc<dyn KvStore> = backend.store.clone();
    // Written by 64 concurrent writers, which the durable backends group into few commits.
    futures::stream::iter(0..KEYS)
        .map(|i| {
            let store = store.clone();
            async move {
                store
                    .create(b(&format!("/many/{i:06}")), b(&i.to_string()))
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(64)
        .try_collect::<()>()
        .await
        .expect("100,000 creates");

    let mut request = RangeRequest::prefix("/many/").limit(PAGE);
    let mut listed: Vec<KeyValue> = Vec::with_capacity(KEYS);
    let mut pages = 0;
    let mut revision = None;
    loop {
        let page = store.range(request.clone()).await.expect("a page");
        assert!(page.kvs.len() <= PAGE);
        assert_eq!(*revision.get_or_insert(page.revision), page.revision);
        listed.extend(page.kvs.iter().cloned());
        pages += 1;
        if pages == 1 {
            // Writes after the first page do not show in the later ones: they read the
            // first page's revision.
            let first_key = page.kvs[0].key.clone();
            store
                .delete(first_key, None)
                .await
                .expect("delete a listed key");
            store
                .delete(b("/many/099999"), None)
                .await
                .expect("delete a key of the last page");
            store
                .put(b("/many/050000x"), b("new"))
                .await
                .expect("add a key in the middle");
        }
        match page.next_page(&request) {
            Some(next) => request = next,
            None => break,
        }
    }
    assert_eq!(pages, KEYS / PAGE);
    assert_eq!(listed.len(), KEYS);
    let mut expected = BTreeMap::new();
    for i in 0..KEYS {
        expected.insert(b(&format!("/many/{i:06}")), b(&i.to_string()));
    }
    let got: BTreeMap<Bytes, Bytes> = listed.into_iter().map(|kv| (kv.key, kv.value)).collect();
    assert_eq!(got.len(), KEYS, "no key listed twice");
    assert!(
        got == expected,
        "the pages hold exactly the keys at their revision"
    );

    let now = store
        .range(
            RangeRequest::prefix("/many/")
                .start_after("/many/049999")
                .limit(2),
        )
        .await
        .expect("range now");
    let keys: Vec<_> = now.kvs.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(keys, vec![b("/many/050000"), b("/many/050000x")]);
    assert!(now.more);
}
