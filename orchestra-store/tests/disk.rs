//! `DiskKv`'s own promises, beyond the conformance suite: what survives a restart, the data
//! directory lock, group commit, replay from disk, bounded history and corrupt records.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use orchestra_store::{
    DiskKv, DiskOptions, KeyValue, KvStore, RangeRequest, StoreError, WatchEvent, WatchRequest,
    WatchStream,
};

const WATCH_TIMEOUT: Duration = Duration::from_secs(20);

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

async fn next_item(watch: &mut WatchStream) -> Option<orchestra_store::Result<WatchEvent>> {
    let item = tokio::time::timeout(WATCH_TIMEOUT, watch.next())
        .await
        .expect("a watch item in time")?;
    Some(item.map(|mut batch| {
        assert_eq!(batch.events.len(), 1, "one key changes per revision");
        batch.events.remove(0)
    }))
}

async fn next_events(watch: &mut WatchStream, count: usize) -> Vec<WatchEvent> {
    let mut events = Vec::with_capacity(count);
    for _ in 0..count {
        events.push(
            next_item(watch)
                .await
                .expect("the watch goes on")
                .expect("an event"),
        );
    }
    events
}

/// Writes puts, updates and deletes under `/h/`; returns the events they make, in order.
async fn write_history(store: &DiskKv, rounds: usize) -> Vec<WatchEvent> {
    let mut events = Vec::new();
    let mut live: Vec<Option<KeyValue>> = vec![None; 5];
    for round in 0..rounds {
        let slot = round % 5;
        let key = b(&format!("/h/{slot}"));
        let event = match live[slot].take() {
            Some(prev) if round % 3 == 0 => {
                let deleted = store
                    .delete(key, Some(prev.mod_revision))
                    .await
                    .expect("delete");
                let revision = store.current_revision().await.expect("revision");
                WatchEvent::Delete {
                    prev: deleted,
                    revision,
                }
            }
            prev => {
                let value = b(&format!("value {round}"));
                let kv = match &prev {
                    Some(prev) => store.update(key, value, prev.mod_revision).await,
                    None => store.create(key, value).await,
                }
                .expect("write");
                live[slot] = Some(kv.clone());
                WatchEvent::Put { kv, prev }
            }
        };
        events.push(event);
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_recovers_revision_data_and_watch_history() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (events, revision, compacted_at) = {
        let store = DiskKv::open(dir.path()).expect("open");
        let early = store
            .put(b("/early"), b("soon compacted"))
            .await
            .expect("put");
        store.put(b("/early"), b("kept")).await.expect("put");
        let compacted_at = early.mod_revision + 1;
        store.compact(compacted_at).await.expect("compact");
        let events = write_history(&store, 40).await;
        let revision = store.current_revision().await.expect("revision");
        (events, revision, compacted_at)
    };

    let store = DiskKv::open(dir.path()).expect("reopen");
    assert_eq!(store.current_revision().await.expect("revision"), revision);
    let listed = store
        .range(RangeRequest::prefix("/h/"))
        .await
        .expect("range");
    let mut expected_live = std::collections::BTreeMap::new();
    for event in &events {
        match event {
            WatchEvent::Put { kv, .. } => expected_live.insert(kv.key.clone(), kv.clone()),
            WatchEvent::Delete { prev, .. } => expected_live.remove(&prev.key),
        };
    }
    assert_eq!(
        listed.kvs,
        expected_live.into_values().collect::<Vec<_>>(),
        "the state after restart is the state before"
    );

    // The history survived too: a watcher resumes from before the restart.
    let first = events[0].revision();
    let mut watch = store
        .watch(WatchRequest::prefix("/h/").from_revision(first))
        .await
        .expect("watch");
    assert_eq!(next_events(&mut watch, events.len()).await, events);

    // So did the compaction.
    assert!(matches!(
        store
            .range(RangeRequest::prefix("/").at_revision(compacted_at - 1))
            .await,
        Err(StoreError::Compacted { compacted, .. }) if compacted == compacted_at
    ));

    // The next write continues the revision sequence.
    let next = store.put(b("/h/after"), b("restart")).await.expect("put");
    assert_eq!(next.mod_revision, revision + 1);
    assert_eq!(next_events(&mut watch, 1).await[0].revision(), revision + 1);
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = DiskKv::open(dir.path()).expect("open");
    match DiskKv::open(dir.path()) {
        Err(StoreError::Unavailable { reason }) => {
            assert!(
                reason.contains(&dir.path().display().to_string()),
                "the error names the directory: {reason}"
            );
            assert!(reason.contains("already open"), "{reason}");
        }
        other => panic!("a second open must be refused, got {other:?}"),
    }
    drop(store);
    DiskKv::open(dir.path()).expect("the directory opens again once closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_share_commits_and_get_consecutive_revisions() {
    const WRITERS: usize = 64;
    const WRITES: usize = 20;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = DiskKv::open(dir.path()).expect("open");
    let start = store.current_revision().await.expect("revision");
    let before = store.stats();
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut revisions = Vec::new();
            for i in 0..WRITES {
                let kv = store
                    .put(b(&format!("/g/{writer}/{i}")), b("x"))
                    .await
                    .expect("put");
                revisions.push(kv.mod_revision);
            }
            revisions
        }));
    }
    let mut revisions = Vec::new();
    for task in tasks {
        revisions.extend(task.await.expect("writer"));
    }
    revisions.sort_unstable();
    let total = (WRITERS * WRITES) as i64;
    assert_eq!(
        revisions,
        (start + 1..=start + total).collect::<Vec<_>>(),
        "every acknowledged write has its own revision, with no gap"
    );
    let stats = store.stats();
    let commits = stats.commits - before.commits;
    assert_eq!(stats.operations - before.operations, total as u64);
    assert!(
        commits * 2 < total as u64,
        "{commits} commits for {total} concurrent writes: writes must share commits"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_behind_the_in_memory_tail_replays_from_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = DiskOptions {
        recent_events: 8,
        ..DiskOptions::default()
    };
    let store = DiskKv::open_with(dir.path(), options).expect("open");
    // More revisions than one replay chunk (1024), written concurrently to share commits...
    let mut events: Vec<WatchEvent> = futures::stream::iter(0..1500)
        .map(|i| {
            let store = store.clone();
            async move {
                let kv = store
                    .create(b(&format!("/h/many/{i}")), b("v"))
                    .await
                    .expect("create");
                WatchEvent::Put { kv, prev: None }
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    events.sort_by_key(WatchEvent::revision);
    // ...then updates and deletes, whose events carry previous values.
    events.extend(write_history(&store, 30).await);
    let mut watch = store
        .watch(WatchRequest::prefix("/h/").from_revision(events[0].revision()))
        .await
        .expect("watch");
    assert_eq!(next_events(&mut watch, events.len()).await, events);
    let live = store.put(b("/h/live"), b("1")).await.expect("put");
    assert_eq!(
        next_events(&mut watch, 1).await[0].revision(),
        live.mod_revision
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_bounded_by_automatic_compaction() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = DiskOptions {
        history_revisions: Some(16),
        recent_events: 4,
        ..DiskOptions::default()
    };
    let store = DiskKv::open_with(dir.path(), options.clone()).expect("open");
    let first = store.put(b("/a/key"), b("0")).await.expect("put");
    let mut last = first.clone();
    for i in 1..100 {
        last = store
            .update(b("/a/key"), b(&i.to_string()), last.mod_revision)
            .await
            .expect("update");
    }
    let expired = store
        .range(RangeRequest::prefix("/a/").at_revision(first.mod_revision))
        .await;
    let Err(StoreError::Compacted { compacted, .. }) = expired else {
        panic!("old revisions must be compacted automatically, got {expired:?}");
    };
    let retained = last.mod_revision - compacted;
    assert!(
        (16..=18).contains(&retained),
        "about 16 revisions are kept, not {retained}"
    );
    let mut watch = store
        .watch(WatchRequest::prefix("/a/").from_revision(first.mod_revision))
        .await
        .expect("watch");
    assert!(matches!(
        next_item(&mut watch).await,
        Some(Err(StoreError::Compacted { .. }))
    ));
    let mut watch = store
        .watch(WatchRequest::prefix("/a/").from_revision(compacted + 1))
        .await
        .expect("watch");
    let replayed = next_events(&mut watch, retained as usize).await;
    assert_eq!(
        replayed.last().map(WatchEvent::revision),
        Some(last.mod_revision)
    );
    drop(watch);
    drop(store);

    let store = DiskKv::open_with(dir.path(), options).expect("reopen");
    let then = store
        .range(RangeRequest::prefix("/a/").at_revision(compacted))
        .await
        .expect("the compacted revision's state is kept");
    assert_eq!(then.kvs.len(), 1);
}

/// Damages `DiskKv`'s redb file directly, as a foreign writer or a bit flip would (the layout
/// is documented in `orchestra_store::disk`): overwrites the record of the write at
/// `foreign_record` with foreign bytes, and removes the value of the write at `lost_value`.
fn corrupt_records(dir: &std::path::Path, foreign_record: i64, lost_value: i64) {
    use redb::{ReadableTable, TableDefinition};
    const REVISIONS: TableDefinition<i64, (&[u8], &[u8])> = TableDefinition::new("revisions");
    const VALUES: TableDefinition<i64, &[u8]> = TableDefinition::new("values");
    let db = redb::Database::open(dir.join("kv.redb")).expect("open the redb file");
    let txn = db.begin_write().expect("write transaction");
    {
        let mut revisions = txn.open_table(REVISIONS).expect("revisions");
        let key = revisions
            .get(foreign_record)
            .expect("read a record")
            .expect("the record exists")
            .value()
            .0
            .to_vec();
        revisions
            .insert(foreign_record, (&key[..], &b"{\"kind\":\"Pod\"}"[..]))
            .expect("overwrite a record");
        let mut values = txn.open_table(VALUES).expect("values");
        values
            .remove(lost_value)
            .expect("remove a value")
            .expect("the value existed");
    }
    txn.commit().expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_records_are_errors_for_their_key_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, foreign, lost) = {
        let store = DiskKv::open(dir.path()).expect("open");
        let a = store.put(b("/x/a"), b("fine")).await.expect("put");
        let foreign = store.put(b("/x/b"), b("soon corrupt")).await.expect("put");
        let lost = store.put(b("/x/c"), b("soon lost")).await.expect("put");
        (a, foreign, lost)
    };
    corrupt_records(dir.path(), foreign.mod_revision, lost.mod_revision);

    let store = DiskKv::open(dir.path()).expect("a store with corrupt records opens");
    assert_eq!(store.get(b"/x/a").await.expect("get"), Some(a.clone()));
    for key in ["/x/b", "/x/c"] {
        match store.get(key.as_bytes()).await {
            Err(StoreError::Corrupt { key: named, .. }) => assert_eq!(named, key),
            other => panic!("reading {key} must report its corruption, got {other:?}"),
        }
        match store.put(b(key), b("new")).await {
            Err(StoreError::Corrupt { key: named, .. }) => assert_eq!(named, key),
            other => panic!("overwriting corrupt {key} must be refused, got {other:?}"),
        }
    }
    match store.range(RangeRequest::prefix("/x/")).await {
        Err(StoreError::Corrupt { key, .. }) => assert_eq!(key, "/x/b"),
        other => panic!("a listing over a corrupt record must name it, got {other:?}"),
    }
    let mut watch = store
        .watch(WatchRequest::prefix("/x/").from_revision(a.mod_revision))
        .await
        .expect("watch");
    assert!(matches!(next_item(&mut watch).await, Some(Ok(_))));
    assert!(matches!(
        next_item(&mut watch).await,
        Some(Err(StoreError::Corrupt { .. }))
    ));

    // Deleting a corrupt key clears it; the rest of the store never noticed.
    for key in ["/x/b", "/x/c"] {
        let deleted = store.delete(b(key), None).await.expect("delete");
        assert_eq!(deleted.key, key);
    }
    let listed = store
        .range(RangeRequest::prefix("/x/"))
        .await
        .expect("range");
    assert_eq!(listed.kvs, vec![a]);
    store
        .put(b("/x/b"), b("new"))
        .await
        .expect("the key is usable again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_during_writes_and_compaction_see_consistent_acknowledged_states() {
    const KEYS: usize = 4;
    const UPDATES: usize = 300;
    let dir = tempfile::tempdir().expect("temp dir");
    let options = DiskOptions {
        history_revisions: Some(8),
        recent_events: 4,
        ..DiskOptions::default()
    };
    let store = DiskKv::open_with(dir.path(), options).expect("open");
    let writers: Vec<_> = (0..KEYS)
        .map(|k| {
            let store = store.clone();
            tokio::spawn(async move {
                // The value names the write's own version, so a reader can tell a value read
                // from the wrong revision.
                let mut last = store
                    .create(b(&format!("/c/{k}")), b("1"))
                    .await
                    .expect("create");
                for version in 2..=UPDATES as i64 {
                    last = store
                        .update(
                            b(&format!("/c/{k}")),
                            b(&version.to_string()),
                            last.mod_revision,
                        )
                        .await
                        .expect("update");
                }
                last
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut seen = 0;
                let mut reads = 0;
                while reads < 2000 {
                    let listed = store
                        .range(RangeRequest::prefix("/c/"))
                        .await
                        .expect("a range never fails while writes and compactions go on");
                    assert!(listed.revision >= seen, "reads never go back in time");
                    seen = listed.revision;
                    for kv in &listed.kvs {
                        assert_eq!(kv.value, kv.version.to_string(), "{kv:?}");
                        assert!(kv.mod_revision <= listed.revision);
                    }
                    if let Some(kv) = store.get(b"/c/0").await.expect("a get never fails") {
                        assert_eq!(kv.value, kv.version.to_string(), "{kv:?}");
                    }
                    reads += 1;
                    if listed.kvs.len() == KEYS
                        && listed.kvs.iter().all(|kv| kv.version == UPDATES as i64)
                    {
                        break;
                    }
                }
            })
        })
        .collect();
    let mut finals = Vec::new();
    for writer in writers {
        finals.push(writer.await.expect("writer"));
    }
    for reader in readers {
        reader.await.expect("reader");
    }
    let listed = store
        .range(RangeRequest::prefix("/c/"))
        .await
        .expect("range");
    assert_eq!(listed.kvs, finals);
}

#[test]
fn a_store_of_the_earlier_table_layout_is_refused_with_what_to_do() {
    use redb::TableDefinition;
    const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
    let dir = tempfile::tempdir().expect("temp dir");
    {
        // Layout 1 kept records by key and recorded no layout.
        let db = redb::Database::create(dir.path().join("kv.redb")).expect("create");
        let txn = db.begin_write().expect("write transaction");
        txn.open_table(META)
            .expect("meta")
            .insert("revision", &7i64.to_le_bytes()[..])
            .expect("insert");
        txn.commit().expect("commit");
    }
    match DiskKv::open(dir.path()) {
        Err(StoreError::Unavailable { reason }) => {
            assert!(reason.contains("layout 1"), "{reason}");
            assert!(reason.contains("move it aside"), "{reason}");
        }
        other => panic!("an earlier layout must be refused, got {other:?}"),
    }
}
