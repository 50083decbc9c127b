//! Slow start: how a controller sends many similar writes without flooding the server when
//! they are all going to fail.
//!
//! Kubernetes' `slowStartBatch` sends the writes in batches of 1, 2, 4, … (each batch at
//! once, the next only when the whole batch succeeded), and stops at the first batch with a
//! failure. A ReplicaSet in a namespace whose quota is exhausted thus sends one pod creation
//! per sync, not five hundred — and emits one failure Event, not five hundred.

use std::future::Future;

use futures::future::join_all;

/// Kubernetes' `SlowStartInitialBatchSize`: the first batch has one write.
pub const SLOW_START_INITIAL_BATCH_SIZE: usize = 1;

/// What a slow start did.
#[derive(Debug)]
pub struct SlowStart<T, E> {
    /// The results of the writes that succeeded, in the order they were sent.
    pub succeeded: Vec<T>,
    /// The first failure, if a batch had one (the start stopped after that batch).
    pub error: Option<E>,
    /// How many writes were sent (successes and failures).
    pub attempted: usize,
}

/// Runs `count` writes made by `write(i)` in batches starting at `initial_batch` and
/// doubling, each batch concurrently; stops after the first batch with a failure.
pub async fn slow_start_batch<T, E, F, Fut>(
    count: usize,
    initial_batch: usize,
    mut write: F,
) -> SlowStart<T, E>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut outcome = SlowStart {
        succeeded: Vec::with_capacity(count),
        error: None,
        attempted: 0,
    };
    let mut batch = initial_batch.max(1).min(count);
    while batch > 0 {
        let writes: Vec<Fut> = (outcome.attempted..outcome.attempted + batch)
            .map(&mut write)
            .collect();
        outcome.attempted += batch;
        for result in join_all(writes).await {
            match result {
                Ok(value) => outcome.succeeded.push(value),
                Err(error) => {
                    outcome.error.get_or_insert(error);
                }
            }
        }
        if outcome.error.is_some() {
            break;
        }
        batch = (2 * batch).min(count - outcome.attempted);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn batches_double_until_every_write_is_sent() {
        // Each write records how many writes had completed when it was sent: writes of one
        // batch see the same number.
        let completed = AtomicUsize::new(0);
        let sent_after = Mutex::new(Vec::new());
        let outcome = slow_start_batch(10, 1, |i| {
            sent_after
                .lock()
                .unwrap()
                .push(completed.load(Ordering::SeqCst));
            let completed = &completed;
            async move {
                completed.fetch_add(1, Ordering::SeqCst);
                Ok::<usize, ()>(i)
            }
        })
        .await;
        assert_eq!(outcome.succeeded, (0..10).collect::<Vec<_>>());
        assert_eq!(outcome.attempted, 10);
        assert!(outcome.error.is_none());
        let sent_after = sent_after.into_inner().unwrap();
        let mut sizes: Vec<usize> = Vec::new();
        for (i, after) in sent_after.iter().enumerate() {
            if i == 0 || sent_after[i - 1] != *after {
                sizes.push(0);
            }
            *sizes.last_mut().unwrap() += 1;
        }
        assert_eq!(sizes, [1, 2, 4, 3]);
    }

    #[tokio::test]
    async fn a_failing_batch_stops_the_start() {
        // The second write fails: the batch of two finishes, nothing more is sent.
        let outcome = slow_start_batch(10, 1, |i| async move {
            if i == 1 {
                Err(format!("write {i} refused"))
            } else {
                Ok(i)
            }
        })
        .await;
        assert_eq!(outcome.attempted, 3);
        assert_eq!(outcome.succeeded, [0, 2]);
        assert_eq!(outcome.error.as_deref(), Some("write 1 refused"));
    }

    #[tokio::test]
    async fn nothing_to_do_sends_nothing() {
        let outcome = slow_start_batch(0, 1, |i| async move { Ok::<usize, ()>(i) }).await;
        assert_eq!(outcome.attempted, 0);
        assert!(outcome.succeeded.is_empty());
    }
}
