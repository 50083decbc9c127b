//! Periodic compaction of the key-value store's history, as kube-apiserver compacts etcd
//! (`--etcd-compaction-interval`, 5 minutes by default).
//!
//! Every write keeps its previous versions in the store until a compaction removes them, so
//! a store that is never compacted grows without end. At every interval the compactor
//! records the revision the watch caches have reached and compacts to the revision it
//! recorded one interval before: reads and watches of the last interval's revisions keep
//! working (the watch caches serve most of them anyway), older ones get 410 Gone as in
//! Kubernetes. The compactor never compacts past what the caches have applied.
//!
//! [`crate::store::Store::open`] runs it when [`crate::store::StoreConfig::compaction_interval`]
//! is set; several API servers over one etcd may each run one (compacting to a revision that
//! is already compacted is harmless and only logged).

use std::sync::Weak;
use std::time::Duration;

use tokio::sync::watch;

use crate::kv::{KvStore, Revision, StoreError};

/// Runs until `kv` is gone: every `interval`, compacts to the revision `observed` held one
/// interval earlier.
pub(crate) async fn compact_periodically(
    kv: Weak<dyn KvStore>,
    observed: watch::Receiver<Revision>,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut recorded: Option<Revision> = None;
    loop {
        ticker.tick().await;
        let Some(kv) = kv.upgrade() else {
            return;
        };
        if let Some(target) = recorded.filter(|revision| *revision > 0) {
            match kv.compact(target).await {
                Ok(()) => tracing::debug!(revision = target, "compacted the store's history"),
                Err(StoreError::Compacted { compacted, .. }) => {
                    tracing::debug!(revision = target, compacted, "already compacted")
                }
                Err(error) => {
                    tracing::warn!(revision = target, %error, "cannot compact the store's history")
                }
            }
        }
        recorded = Some(*observed.borrow());
    }
}
