//! The embedded repair queue and its worker: local mode's twin of the SQS queue and the repair Lambda.
//!
//! With a data directory the queue is a journal (`repair-queue.jsonl`): a message is appended and synced before
//! `send` returns, and its completion is appended and synced when the worker has repaired it, so a restart of
//! `saga serve` resumes exactly the repairs that were still owed. Opening rewrites the journal with just those
//! (so it does not grow for ever) and drops a last line that a crash cut short: that send never returned.
//!
//! Syncs are shared with other sends and completions ([`saga_store::journal`]) and run off the queue's lock
//! and off the async threads. A message joins the queue only once it is durable. After a failed journal write or
//! sync, every later send fails, as a store does: the queue can no longer tell what the disk holds.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use saga_domain::events::RepairRequest;
use saga_store::journal::{self, DurableError, GroupCommit};
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
    #[error("repair journal {path} is unusable after an earlier failure: {why}")]
    Broken { path: PathBuf, why: String },
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
    /// Entries appended to the journal so far; a sync through entry `n` makes the first `n` durable.
    appended: u64,
    /// Set when a journal write or sync failed.
    broken: Option<String>,
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
    /// `Some` for a journaled queue.
    commit: Option<GroupCommit>,
    notify: Notify,
    idle: Notify,
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
        let mut commit = None;
        if let Some(dir) = data_dir {
            let path = dir.join("repair-queue.jsonl");
            let io = |source| RepairQueueError::Journal {
                path: path.clone(),
                source,
            };
            std::fs::create_dir_all(dir).map_err(io)?;
            let mut owed: Vec<(String, RepairRequest)> = Vec::new();
            journal::replay(&path, |entry| match entry {
                JournalEntry::Send { id, message } => owed.push((id, message)),
                JournalEntry::Done { id } => owed.retain(|(i, _)| *i != id),
            })
            .map_err(|e| match e {
                journal::ReplayError::Io(source) => RepairQueueError::Journal {
                    path: path.clone(),
                    source,
                },
                journal::ReplayError::Corrupt { line, message } => RepairQueueError::Corrupt {
                    path: path.clone(),
                    line,
                    message,
                },
            })?;
            // Compact: the messages still owed, written whole to a new file that then replaces the old one.
            let mut buf = Vec::new();
            for (id, message) in &owed {
                let entry = JournalEntry::Send {
                    id: id.clone(),
                    message: message.clone(),
                };
                serde_json::to_writer(&mut buf, &entry).expect("journal entries serialise");
                buf.push(b'\n');
            }
            journal::replace(&dir.join("repair-queue.jsonl.tmp"), &path, &buf).map_err(io)?;
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
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io)?;
            commit = Some(GroupCommit::new(file.try_clone().map_err(io)?));
            state.journal = Some((path, file));
        }
        let pending = state.ready.len() as u64;
        Ok(Self {
            state: Mutex::new(state),
            commit,
            notify: Notify::new(),
            idle: Notify::new(),
            enqueued: AtomicU64::new(pending),
            repaired: AtomicU64::new(0),
            failed_attempts: AtomicU64::new(0),
            backoff_base,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `entry` (not yet synced: see [`RepairQueue::durable`]) and returns how many entries are appended
    /// with it, or 0 for a queue without a journal.
    fn append(state: &mut State, entry: &JournalEntry) -> Result<u64, RepairQueueError> {
        let Some((path, file)) = state.journal.as_mut() else {
            return Ok(0);
        };
        if let Some(why) = &state.broken {
            return Err(RepairQueueError::Broken {
                path: path.clone(),
                why: why.clone(),
            });
        }
        let mut line = serde_json::to_vec(entry).expect("journal entries serialise");
        line.push(b'\n');
        if let Err(source) = file.write_all(&line) {
            state.broken = Some(source.to_string());
            return Err(RepairQueueError::Journal {
                path: path.clone(),
                source,
            });
        }
        state.appended += 1;
        Ok(state.appended)
    }

    /// Waits until the first `through` journal entries are on disk.
    async fn durable(&self, through: u64) -> Result<(), RepairQueueError> {
        let Some(commit) = self.commit.as_ref().filter(|_| through > 0) else {
            return Ok(());
        };
        let appended = || {
            let state = self.lock();
            state.broken.is_none().then_some(state.appended)
        };
        let failure = match commit.durable(through, appended).await {
            Ok(()) => return Ok(()),
            Err(failure) => failure,
        };
        let mut state = self.lock();
        let path = state
            .journal
            .as_ref()
            .map(|(p, _)| p.clone())
            .unwrap_or_default();
        Err(match failure {
            DurableError::Broken => RepairQueueError::Broken {
                path,
                why: state.broken.clone().unwrap_or_default(),
            },
            DurableError::Sync(source) => {
                state.broken = Some(source.to_string());
                RepairQueueError::Journal { path, source }
            }
        })
    }

    /// Durably queues a repair; returns its message id.
    ///
    /// Once its entry is appended, the rest runs as a task of its own: a caller that stops waiting (the engine's
    /// Task timeout) must not leave a message in the journal that the running queue never holds.
    pub async fn send(
        self: &Arc<Self>,
        message: RepairRequest,
    ) -> Result<String, RepairQueueError> {
        // A v4 id, as SQS gives: the journal is compacted on open, so a counter could not tell which ids a
        // previous run issued.
        let id = uuid::Uuid::new_v4().to_string();
        let through = Self::append(
            &mut self.lock(),
            &JournalEntry::Send {
                id: id.clone(),
                message: message.clone(),
            },
        )?;
        let queue = self.clone();
        let enqueue = async move {
            queue.durable(through).await?;
            queue.lock().ready.push_back(Queued {
                id: id.clone(),
                message,
                attempts: 0,
                not_before: Instant::now(),
            });
            queue.enqueued.fetch_add(1, Ordering::SeqCst);
            queue.notify.notify_one();
            Ok(id)
        };
        tokio::spawn(enqueue)
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
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

    async fn finish(&self, q: Queued, ok: bool) {
        if ok {
            let done = JournalEntry::Done { id: q.id.clone() };
            let through = Self::append(&mut self.lock(), &done);
            let durable = match through {
                Ok(through) => self.durable(through).await,
                Err(e) => Err(e),
            };
            if let Err(e) = durable {
                // The repair did happen; replaying it after a restart is harmless because repairs are idempotent.
                tracing::warn!(error = %e, id = %q.id, "could not journal a finished repair");
            }
        }
        // Still in flight until its completion is on disk, so that `wait_idle` means nothing is owed.
        let mut state = self.lock();
        state.in_flight -= 1;
        if !ok {
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
                    let result =
                        saga_steps::compensation::repair(&*orders, &*inventory, &q.message).await;
                    match &result {
                        Ok(()) => {
                            self.repaired.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => {
                            self.failed_attempts.fetch_add(1, Ordering::SeqCst);
                            tracing::warn!(order_id = %q.message.order_id, attempts = q.attempts + 1, error = %e, "repair failed; will retry");
                        }
                    }
                    self.finish(q, result.is_ok()).await;
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
    use saga_domain::{Failure, OrderStatus};
    use saga_store::memory::MemoryStore;
    use std::future::Future as _;

    fn open(dir: &Path) -> Arc<RepairQueue> {
        Arc::new(RepairQueue::open(Some(dir), Duration::from_millis(1)).unwrap())
    }

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
        let store = Arc::new(
            MemoryStore::with_reservation("a", 2, "o1", 2)
                .await
                .unwrap(),
        );
        let q = Arc::new(RepairQueue::open(None, Duration::from_millis(1)).unwrap());
        q.send(message("o1")).await.unwrap();
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

    #[tokio::test]
    async fn the_journal_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let q = open(dir.path());
            let first = q.send(message("o1")).await.unwrap();
            q.send(message("o2")).await.unwrap();
            let taken = q.take().unwrap();
            assert_eq!(taken.id, first);
            q.finish(taken, true).await;
        }
        let q = open(dir.path());
        assert_eq!(q.stats().pending, 1);
        let owed = q.take().unwrap();
        assert_eq!(owed.message.order_id, "o2");
        let next = q.send(message("o3")).await.unwrap();
        assert_ne!(next, owed.id, "ids are not reused after a restart");
    }

    #[tokio::test]
    async fn a_torn_last_line_is_dropped_and_the_journal_stays_usable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repair-queue.jsonl");
        {
            let q = open(dir.path());
            q.send(message("o1")).await.unwrap();
            q.send(message("o2")).await.unwrap();
        }
        // A crash in the middle of a third send's write, inside a two-byte character.
        let torn = "{\"op\":\"send\",\"id\":\"torn\",\"message\":\"é".as_bytes();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&torn[..torn.len() - 1]).unwrap();
        drop(file);
        {
            let q = open(dir.path());
            assert_eq!(q.stats().pending, 2);
            q.send(message("o3")).await.unwrap();
        }
        let q = open(dir.path());
        let mut owed: Vec<String> = std::iter::from_fn(|| q.take().ok())
            .map(|m| m.message.order_id)
            .collect();
        owed.sort();
        assert_eq!(owed, ["o1", "o2", "o3"]);
    }

    #[tokio::test]
    async fn opening_keeps_only_what_is_owed_and_refuses_a_corrupt_middle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repair-queue.jsonl");
        {
            let q = open(dir.path());
            for i in 0..5 {
                q.send(message(&format!("o{i}"))).await.unwrap();
            }
            for _ in 0..4 {
                let taken = q.take().unwrap();
                q.finish(taken, true).await;
            }
        }
        open(dir.path());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("\"o4\""), "{text}");
        std::fs::write(&path, format!("not json\n{text}")).unwrap();
        assert!(matches!(
            RepairQueue::open(Some(dir.path()), Duration::from_millis(1)),
            Err(RepairQueueError::Corrupt { line: 1, .. })
        ));
    }

    #[tokio::test]
    async fn a_send_whose_caller_stops_waiting_still_joins_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let q = open(dir.path());
        // Polled once, past the append, then dropped, as the engine drops a Task that timed out.
        let mut send = Box::pin(q.send(message("o1")));
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(send.as_mut().poll(cx))).await;
        assert!(first.is_pending(), "the send finished on its first poll");
        drop(send);
        for _ in 0..500 {
            if q.stats().pending == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(q.stats().pending, 1);
        assert_eq!(q.stats().enqueued, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_sends_all_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let q =
                Arc::new(RepairQueue::open(Some(dir.path()), Duration::from_millis(1)).unwrap());
            let sends: Vec<_> = (0..100)
                .map(|i| {
                    let q = q.clone();
                    tokio::spawn(async move { q.send(message(&format!("o{i}"))).await })
                })
                .collect();
            for s in sends {
                s.await.unwrap().unwrap();
            }
            let commit = q.commit.as_ref().unwrap();
            // Every send returned, so every entry is covered by a completed sync.
            assert_eq!(commit.synced(), q.lock().appended);
            assert_eq!(q.stats().pending, 100);
        }
        let q = open(dir.path());
        assert_eq!(q.stats().pending, 100);
    }

    #[tokio::test]
    async fn a_failed_journal_write_stops_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let q = open(dir.path());
        q.send(message("o1")).await.unwrap();
        // A handle that cannot write stands in for a full or failing disk.
        let read_only = File::open(dir.path().join("repair-queue.jsonl")).unwrap();
        q.lock().journal.as_mut().unwrap().1 = read_only;
        assert!(matches!(
            q.send(message("o2")).await,
            Err(RepairQueueError::Journal { .. })
        ));
        assert!(matches!(
            q.send(message("o3")).await,
            Err(RepairQueueError::Broken { .. })
        ));
        // Only the message that was durable is queued.
        assert_eq!(q.stats().pending, 1);
        assert_eq!(q.stats().enqueued, 1);
    }
}
