//! The embedded repair queue and its worker: local mode's twin of the SQS queue and the repair Lambda.
//!
//! With a data directory the queue is a journal (`repair-queue.jsonl`): a message is appended and synced before
//! `send` returns, and its completion is appended when the worker has repaired it, so a restart of
//! `saga serve` resumes exactly the repairs that were still owed.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use saga_domain::events::RepairRequest;
use saga_store::{InventoryStore, OrderStore};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum RepairQueueError {
    #[error("repair journal {path}: {source}")]
    Journal {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("repair journal {path} line {line}: {message}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum JournalEntry {
    Send { id: String, message: RepairRequest },
    Done { id: String },
}

#[derive(Debug, Clone)]
struct Queued {
    id: String,
    message: RepairRequest,
    attempts: u32,
    not_before: Instant,
}

#[derive(Debug, Default)]
struct State {
    ready: VecDeque<Queued>,
    in_flight: usize,
    journal: Option<(PathBuf, File)>,
}

/// Counters for tests, the chaos run and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RepairStats {
    pub enqueued: u64,
    pub repaired: u64,
    pub failed_attempts: u64,
    pub pending: u64,
}

pub struct RepairQueue {
    state: Mutex<State>,
    notify: Notify,
    idle: Notify,
    next_id: AtomicU64,
    enqueued: AtomicU64,
    repaired: AtomicU64,
    failed_attempts: AtomicU64,
    backoff_base: Duration,
}

const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl RepairQueue {
    /// An in-memory queue, or a journaled one when `data_dir` is given (messages still owed are reloaded).
    pub fn open(data_dir: Option<&Path>, backoff_base: Duration) -> Result<Self, RepairQueueError> {
        let mut state = State::default();
        let mut next = 0u64;
        if let Some(dir) = data_dir {
            let path = dir.join("repair-queue.jsonl");
            let io = |source| RepairQueueError::Journal {
                path: path.clone(),
                source,
            };
            std::fs::create_dir_all(dir).map_err(io)?;
            if path.exists() {
                let mut owed: Vec<(String, RepairRequest)> = Vec::new();
                for (i, line) in BufReader::new(File::open(&path).map_err(io)?)
                    .lines()
                    .enumerate()
                {
                    let line = line.map_err(io)?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<JournalEntry>(&line) {
                        Ok(JournalEntry::Send { id, message }) => owed.push((id, message)),
                        Ok(JournalEntry::Done { id }) => owed.retain(|(i, _)| *i != id),
                        Err(e) => {
                            return Err(RepairQueueError::Corrupt {
                                path: path.clone(),
                                line: i + 1,
                                message: e.to_string(),
                            })
                        }
                    }
                    next += 1;
                }
                let now = Instant::now();
                state.ready = owed
                    .into_iter()
                    .map(|(id, message)| Queued {
                        id,
                        message,
                        attempts: 0,
                        not_before: now,
                    })
                    .collect();
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io)?;
            state.journal = Some((path, file));
        }
        let pending = state.ready.len() as u64;
        Ok(Self {
            state: Mutex::new(state),
            notify: Notify::new(),
            idle: Notify::new(),
            next_id: AtomicU64::new(next),
            enqueued: AtomicU64::new(pending),
            repaired: AtomicU64::new(0),
            failed_attempts: AtomicU64::new(0),
            backoff_base,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn append(state: &mut State, entry: &JournalEntry) -> Result<(), RepairQueueError> {
        if let Some((path, file)) = state.journal.as_mut() {
            let mut line = serde_json::to_vec(entry).expect("journal entries serialise");
            line.push(b'\n');
            let io = |source| RepairQueueError::Journal {
                path: path.clone(),
                source,
            };
            file.write_all(&line).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        Ok(())
    }

    /// Durably queues a repair; returns its message id.
    pub fn send(&self, message: RepairRequest) -> Result<String, RepairQueueError> {
        let id = format!("repair-{}", self.next_id.fetch_add(1, Ordering::SeqCst));
        {
            let mut state = self.lock();
            Self::append(
                &mut state,
                &JournalEntry::Send {
                    id: id.clone(),
                    message: message.clone(),
                },
            )?;
            state.ready.push_back(Queued {
                id: id.clone(),
                message,
                attempts: 0,
                not_before: Instant::now(),
            });
        }
        self.enqueued.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_one();
        Ok(id)
    }

    pub fn stats(&self) -> RepairStats {
        let state = self.lock();
        RepairStats {
            enqueued: self.enqueued.load(Ordering::SeqCst),
            repaired: self.repaired.load(Ordering::SeqCst),
            failed_attempts: self.failed_attempts.load(Ordering::SeqCst),
            pending: (state.ready.len() + state.in_flight) as u64,
        }
    }

    /// Waits until nothing is queued or being repaired.
    pub async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            if self.stats().pending == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Takes the next message that is due, or says how long until one is.
    fn take(&self) -> Result<Queued, Option<Instant>> {
        let mut state = self.lock();
        let now = Instant::now();
        match state.ready.iter().position(|q| q.not_before <= now) {
            Some(i) => {
                let q = state.ready.remove(i).expect("index from position");
                state.in_flight += 1;
                Ok(q)
            }
            None => Err(state.ready.iter().map(|q| q.not_before).min()),
        }
    }

    fn finish(&self, q: Queued, ok: bool) {
        let mut state = self.lock();
        state.in_flight -= 1;
        if ok {
            if let Err(e) = Self::append(&mut state, &JournalEntry::Done { id: q.id.clone() }) {
                // The repair did happen; replaying it after a restart is harmless because repairs are idempotent.
                tracing::warn!(error = %e, id = %q.id, "could not journal a finished repair");
            }
        } else {
            let attempts = q.attempts + 1;
            let delay = self
                .backoff_base
                .saturating_mul(1 << attempts.min(16))
                .min(MAX_BACKOFF);
            state.ready.push_back(Queued {
                attempts,
                not_before: Instant::now() + delay,
                ..q
            });
        }
        let idle = state.ready.is_empty() && state.in_flight == 0;
        drop(state);
        if idle {
            self.idle.notify_waiters();
        }
    }

    /// The repair worker: repairs messages until `shutdown` resolves, retrying each with exponential backoff
    /// until it succeeds.
    pub async fn run_worker(
        self: Arc<Self>,
        orders: Arc<dyn OrderStore>,
        inventory: Arc<dyn InventoryStore>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            let notified = self.notify.notified();
            match self.take() {
                Ok(q) => {
                    let result = repair_worker::repair(&*orders, &*inventory, &q.message).await;
                    match &result {
                        Ok(()) => {
                            self.repaired.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => {
                            self.failed_attempts.fetch_add(1, Ordering::SeqCst);
                            tracing::warn!(order_id = %q.message.order_id, attempts = q.attempts + 1, error = %e, "repair failed; will retry");
                        }
                    }
                    self.finish(q, result.is_ok());
                }
                Err(next_due) => {
                    let wake = async {
                        match next_due {
                            Some(t) => tokio::time::sleep_until(t).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = &mut shutdown => return,
                        _ = notified => {}
                        _ = wake => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_domain::{Failure, OrderLine, OrderStatus};
    use saga_store::memory::MemoryStore;

    fn message(id: &str) -> RepairRequest {
        RepairRequest {
            order_id: id.into(),
            failure: Some(Failure {
                error: "Saga.Transient".into(),
                cause: "{}".into(),
            }),
            compensation_failure: None,
            execution_id: None,
        }
    }

    #[tokio::test]
    async fn the_worker_repairs_what_is_queued() {
        let store = Arc::new(MemoryStore::new());
        store.set_available("a", 2).await.unwrap();
        store
            .reserve(
                "o1",
                &[OrderLine {
                    sku: "a".into(),
                    quantity: 2,
                }],
                1,
            )
            .await
            .unwrap();
        let q = Arc::new(RepairQueue::open(None, Duration::from_millis(1)).unwrap());
        q.send(message("o1")).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let worker = tokio::spawn(q.clone().run_worker(store.clone(), store.clone(), async {
            let _ = rx.await;
        }));
        q.wait_idle().await;
        assert_eq!(
            store.get_order("o1").await.unwrap().unwrap().status,
            OrderStatus::Cancelled
        );
        assert_eq!(store.get_stock("a").await.unwrap().unwrap().available, 2);
        assert_eq!(q.stats().repaired, 1);
        tx.send(()).unwrap();
        worker.await.unwrap();
    }

    #[test]
    fn the_journal_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let q = RepairQueue::open(Some(dir.path()), Duration::from_millis(1)).unwrap();
            let first = q.send(message("o1")).unwrap();
            q.send(message("o2")).unwrap();
            let taken = q.take().unwrap();
            assert_eq!(taken.id, first);
            q.finish(taken, true);
        }
        let q = RepairQueue::open(Some(dir.path()), Duration::from_millis(1)).unwrap();
        assert_eq!(q.stats().pending, 1);
        let owed = q.take().unwrap();
        assert_eq!(owed.message.order_id, "o2");
        let next = q.send(message("o3")).unwrap();
        assert_ne!(next, owed.id, "ids are not reused after a restart");
    }
}
