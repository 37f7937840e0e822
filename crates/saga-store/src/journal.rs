//! What the journaled store and local mode's repair queue share: an append-only file of JSON lines, read back
//! by [`replay`], compacted on open by [`replace`], with shared syncs ([`GroupCommit`]).
//!
//! The owner appends a batch under its own lock and counts it. It then releases the lock and calls
//! [`GroupCommit::durable`] with that count. If no sync done or under way covers the batch, one `fdatasync`, on a
//! blocking thread, covers everything appended by the time it starts. Every caller that appended meanwhile waits
//! for it and needs no sync of its own. The journal is one file written in order, so a sync that covers a batch
//! covers every batch before it too.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;

/// Why [`replay`] could not read a journal back.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A line before the last is not an entry: damage that no crash explains.
    #[error("line {line}: {message}")]
    Corrupt { line: usize, message: String },
}

/// Hands every entry of the journal at `path` to `apply`, in order; a missing journal has none. A last line
/// that does not parse is dropped: a crash cut it short, so its write was never synced and never answered.
/// Such a cut can split a character, so the text is decoded lossily; only the last line can hold the damage.
pub fn replay<T: DeserializeOwned>(
    path: &Path,
    mut apply: impl FnMut(T),
) -> Result<(), ReplayError> {
    if !path.exists() {
        return Ok(());
    }
    let bytes = std::fs::read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<T>(line) {
            Ok(entry) => apply(entry),
            Err(_) if i + 1 == lines.len() => break,
            Err(e) => {
                return Err(ReplayError::Corrupt {
                    line: i + 1,
                    message: e.to_string(),
                })
            }
        }
    }
    Ok(())
}

/// Replaces the journal at `path` with `contents`, durably: written to `tmp`, synced, renamed over `path`, and
/// the directory synced. Without that last sync a power cut could bring back the old file and lose every line
/// synced into the new one since.
pub fn replace(tmp: &Path, path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut out = File::create(tmp)?;
    out.write_all(contents)?;
    out.sync_all()?;
    std::fs::rename(tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Why [`GroupCommit::durable`] could not make a batch durable.
#[derive(Debug, thiserror::Error)]
pub enum DurableError {
    /// The owner reported its journal unusable, so no sync was tried.
    #[error("the journal is unusable after an earlier failure")]
    Broken,
    /// `fdatasync` failed. What it covered may or may not be on disk, so the owner should stop using the
    /// journal.
    #[error("the journal could not be synced: {0}")]
    Sync(#[source] std::io::Error),
}

#[derive(Debug)]
pub struct GroupCommit {
    /// A second handle on the journal, used only to sync it, so that a sync runs without the owner's lock.
    file: Arc<File>,
    /// How many appended batches are known durable. Held across a sync, so that callers queue behind it and
    /// then find their batch covered.
    synced: tokio::sync::Mutex<u64>,
    /// The same count, readable without waiting for a sync in progress.
    synced_now: AtomicU64,
}

impl GroupCommit {
    /// Syncs through `file`, a handle on the journal (`File::try_clone` of the one the owner appends to).
    pub fn new(file: File) -> Self {
        Self {
            file: Arc::new(file),
            synced: tokio::sync::Mutex::new(0),
            synced_now: AtomicU64::new(0),
        }
    }

    /// How many appended batches are known durable.
    pub fn synced(&self) -> u64 {
        self.synced_now.load(Ordering::Acquire)
    }

    /// Waits until the first `through` appended batches are durable. When a sync is needed, `appended` is asked,
    /// under the owner's lock, how many batches are appended by then, or `None` if the journal is unusable.
    pub async fn durable(
        &self,
        through: u64,
        appended: impl FnOnce() -> Option<u64>,
    ) -> Result<(), DurableError> {
        if self.synced_now.load(Ordering::Acquire) >= through {
            return Ok(());
        }
        let mut synced = self.synced.lock().await;
        if *synced >= through {
            return Ok(());
        }
        let target = appended().ok_or(DurableError::Broken)?;
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
            .map_err(DurableError::Sync)?;
        *synced = target;
        self.synced_now.store(target, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_swaps_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let (tmp, path) = (dir.path().join("j.tmp"), dir.path().join("j"));
        std::fs::write(&path, "old\nlines\n").unwrap();
        replace(&tmp, &path, b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        assert!(!tmp.exists());
    }

    #[tokio::test]
    async fn a_batch_already_covered_needs_no_sync() {
        let mut file = tempfile::tempfile().unwrap();
        let commit = GroupCommit::new(file.try_clone().unwrap());
        file.write_all(b"one\n").unwrap();
        file.write_all(b"two\n").unwrap();
        commit.durable(1, || Some(2)).await.unwrap();
        assert_eq!(commit.synced(), 2);
        // Batch 2 was appended before that sync started, so the sync covered it.
        commit
            .durable(2, || panic!("no second sync is needed"))
            .await
            .unwrap();
        commit.durable(3, || Some(3)).await.unwrap();
    }

    #[tokio::test]
    async fn an_unusable_journal_is_not_synced() {
        let commit = GroupCommit::new(tempfile::tempfile().unwrap());
        assert!(matches!(
            commit.durable(1, || None).await,
            Err(DurableError::Broken)
        ));
        assert_eq!(commit.synced(), 0, "nothing was counted as durable");
        commit.durable(1, || Some(1)).await.unwrap();
        assert_eq!(commit.synced(), 1);
    }
}
