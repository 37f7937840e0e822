//! The embedded store: both systems in one process, each operation atomic under one lock.
//!
//! One lock is deliberate. It makes every conditional write trivially linearizable, which is the property the
//! saga relies on, and local mode's throughput is bounded by the HTTP path long before this lock matters.
//!
//! [`MemoryStore::open`] makes it durable: every write appends the records it changed to a journal
//! (`store.jsonl`) and syncs it before the call returns, so whatever a step reported as done survives a restart.
//! Opening replays the journal (last record wins) and compacts it. If a journal write fails the store stops:
//! memory would hold a change the disk does not, so every later call answers `Unavailable` rather than build on it.
//!
//! Syncs are shared ([`crate::journal`]). A call appends under the lock, releases it, then waits for a sync
//! that covers everything appended so far; one `fdatasync` serves every call that appended while the previous one
//! ran. A read waits the same way, for everything appended before it read: it may have seen a change that another
//! call has appended but not yet synced, and must not answer with it before it is on disk.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use async_trait::async_trait;
use saga_domain::{
    Failure, Order, OrderLine, OrderStatus, Reservation, ReservationStatus, StockLevel,
};

use crate::journal::{self, DurableError, GroupCommit};
use crate::*;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdempotencyRecord {
    order_id: String,
    request_hash: String,
    expires_at_s: i64,
}

/// One journal line: the whole current value of one record.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Record {
    Key {
        key: String,
        record: IdempotencyRecord,
    },
    Order(Order),
    Stock(StockLevel),
    Reservation(Reservation),
}

/// Which records a write changed, by key.
enum Touched {
    Key(String),
    Order(String),
    Stock(String),
    Reservation(String),
}

#[derive(Debug, Default)]
struct State {
    keys: HashMap<String, IdempotencyRecord>,
    orders: HashMap<String, Order>,
    stock: HashMap<String, StockLevel>,
    reservations: HashMap<String, Reservation>,
    journal: Option<(PathBuf, File)>,
    /// Batches appended to the journal so far; a sync through batch `n` makes the first `n` durable.
    appended: u64,
    /// Set when a journal write failed; see the module docs.
    broken: Option<String>,
}

impl State {
    fn record(&self, t: &Touched) -> Option<Record> {
        match t {
            Touched::Key(k) => self.keys.get(k).map(|r| Record::Key {
                key: k.clone(),
                record: r.clone(),
            }),
            Touched::Order(id) => self.orders.get(id).cloned().map(Record::Order),
            Touched::Stock(sku) => self.stock.get(sku).cloned().map(Record::Stock),
            Touched::Reservation(id) => self.reservations.get(id).cloned().map(Record::Reservation),
        }
    }

    fn apply(&mut self, r: Record) {
        match r {
            Record::Key { key, record } => {
                self.keys.insert(key, record);
            }
            Record::Order(o) => {
                self.orders.insert(o.order_id.clone(), o);
            }
            Record::Stock(l) => {
                self.stock.insert(l.sku.clone(), l);
            }
            Record::Reservation(r) => {
                self.reservations.insert(r.order_id.clone(), r);
            }
        }
    }

    fn all_records(&self) -> Vec<Record> {
        let keys = self.keys.iter().map(|(k, r)| Record::Key {
            key: k.clone(),
            record: r.clone(),
        });
        let orders = self.orders.values().cloned().map(Record::Order);
        let stock = self.stock.values().cloned().map(Record::Stock);
        let reservations = self.reservations.values().cloned().map(Record::Reservation);
        keys.chain(orders)
            .chain(stock)
            .chain(reservations)
            .collect()
    }

    /// Appends the touched records (not yet synced: see [`MemoryStore::durable`]), or marks the store broken.
    fn append(&mut self, touched: &[Touched]) -> StoreResult<()> {
        if touched.is_empty() || self.journal.is_none() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for t in touched {
            if let Some(r) = self.record(t) {
                serde_json::to_writer(&mut buf, &r).expect("records serialise");
                buf.push(b'\n');
            }
        }
        let (path, file) = self.journal.as_mut().expect("checked above");
        if let Err(e) = file.write_all(&buf) {
            let why = format!("journal {} could not be written: {e}", path.display());
            self.broken = Some(why.clone());
            return Err(StoreError::Unavailable(why));
        }
        self.appended += 1;
        Ok(())
    }

    fn check(&self) -> StoreResult<()> {
        match &self.broken {
            Some(why) => Err(StoreError::Unavailable(why.clone())),
            None => Ok(()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("store journal {path}: {message}")]
pub struct OpenError {
    pub path: PathBuf,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// `Some` for a journaled store.
    commit: Option<GroupCommit>,
}

impl MemoryStore {
    /// A store where `order_id` has reserved `quantity` of `sku` out of `available`: where a compensation or a
    /// repair starts from, for their tests.
    pub async fn with_reservation(
        sku: &str,
        available: u64,
        order_id: &str,
        quantity: u32,
    ) -> StoreResult<Self> {
        let store = Self::new();
        store.set_available(sku, available).await?;
        store
            .reserve(
                order_id,
                &[OrderLine {
                    sku: sku.to_string(),
                    quantity,
                }],
                1,
            )
            .await?;
        Ok(store)
    }

    /// A store that lives and dies with the process.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store journaled in `dir/store.jsonl`, reloaded from it if it exists.
    pub fn open(dir: &Path) -> Result<Self, OpenError> {
        let path = dir.join("store.jsonl");
        let err = |message: String| OpenError {
            path: path.clone(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        let mut state = State::default();
        journal::replay(&path, |r: Record| state.apply(r)).map_err(|e| err(e.to_string()))?;
        // Compact: the replayed state, written whole to a new file that then replaces the old one.
        let mut buf = Vec::new();
        for r in state.all_records() {
            serde_json::to_writer(&mut buf, &r).expect("records serialise");
            buf.push(b'\n');
        }
        journal::replace(&dir.join("store.jsonl.tmp"), &path, &buf)
            .map_err(|e| err(e.to_string()))?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| err(e.to_string()))?;
        let sync_handle = file.try_clone().map_err(|e| err(e.to_string()))?;
        state.journal = Some((path, file));
        Ok(Self {
            state: Mutex::new(state),
            commit: Some(GroupCommit::new(sync_handle)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied write: every mutation below is computed
        // first and applied in one step, so the data behind a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a read or write under the lock, `f` returning its result and the records it changed, and answers once
    /// everything appended up to then is on disk.
    async fn with<T>(&self, f: impl FnOnce(&mut State) -> (T, Vec<Touched>)) -> StoreResult<T> {
        let (value, through) = {
            let mut guard = self.lock();
            guard.check()?;
            let (value, touched) = f(&mut guard);
            guard.append(&touched)?;
            (value, guard.appended)
        };
        self.durable(through).await?;
        Ok(value)
    }

    /// Waits until the first `through` appended batches are synced, syncing them (and any appended since) if no
    /// sync in progress or done already covers them.
    async fn durable(&self, through: u64) -> StoreResult<()> {
        let Some(commit) = &self.commit else {
            return Ok(());
        };
        let appended = || {
            let guard = self.lock();
            guard.check().ok().map(|()| guard.appended)
        };
        match commit.durable(through, appended).await {
            Ok(()) => Ok(()),
            Err(DurableError::Broken) => self.lock().check(),
            Err(DurableError::Sync(e)) => {
                let mut guard = self.lock();
                let path = guard.journal.as_ref().map(|(p, _)| p.display().to_string());
                let why = format!(
                    "journal {} could not be synced: {e}",
                    path.unwrap_or_default()
                );
                guard.broken = Some(why.clone());
                Err(StoreError::Unavailable(why))
            }
        }
    }

    /// Every sku's level, for invariant checks.
    pub fn all_stock(&self) -> Vec<StockLevel> {
        self.lock().stock.values().cloned().collect()
    }

    /// Every order, tombstones included, for invariant checks.
    pub fn all_orders(&self) -> Vec<Order> {
        self.lock().orders.values().cloned().collect()
    }
}

#[async_trait]
impl OrderStore for MemoryStore {
    async fn claim_idempotency_key(&self, claim: &KeyClaim) -> StoreResult<KeyClaimOutcome> {
        self.with(|s| match s.keys.get(&claim.key) {
            Some(rec) if rec.expires_at_s > claim.now_s && rec.order_id != claim.order_id => (
                KeyClaimOutcome::Existing {
                    order_id: rec.order_id.clone(),
                    request_hash: rec.request_hash.clone(),
                },
                vec![],
            ),
            Some(rec) if rec.expires_at_s > claim.now_s => (KeyClaimOutcome::Claimed, vec![]),
            _ => {
                s.keys.insert(
                    claim.key.clone(),
                    IdempotencyRecord {
                        order_id: claim.order_id.clone(),
                        request_hash: claim.request_hash.clone(),
                        expires_at_s: claim.now_s + claim.ttl_s,
                    },
                );
                (
                    KeyClaimOutcome::Claimed,
                    vec![Touched::Key(claim.key.clone())],
                )
            }
        })
        .await
    }

    async fn put_order_if_absent(&self, order: &Order) -> StoreResult<PutOutcome> {
        self.with(|s| match s.orders.get(&order.order_id) {
            Some(existing) => (PutOutcome::Existing(existing.clone()), vec![]),
            None => {
                s.orders.insert(order.order_id.clone(), order.clone());
                (
                    PutOutcome::Created,
                    vec![Touched::Order(order.order_id.clone())],
                )
            }
        })
        .await
    }

    async fn get_order(&self, order_id: &str) -> StoreResult<Option<Order>> {
        self.with(|s| (s.orders.get(order_id).cloned(), vec![]))
            .await
    }

    async fn confirm_order(&self, order_id: &str, now_ms: i64) -> StoreResult<ConfirmOutcome> {
        self.with(|s| match s.orders.get_mut(order_id) {
            None => (ConfirmOutcome::NotFound, vec![]),
            Some(o) => match o.status {
                OrderStatus::Pending if o.fenced => (ConfirmOutcome::Fenced(o.clone()), vec![]),
                OrderStatus::Pending => {
                    o.status = OrderStatus::Confirmed;
                    o.updated_at = now_ms;
                    (
                        ConfirmOutcome::Confirmed(o.clone()),
                        vec![Touched::Order(order_id.to_string())],
                    )
                }
                OrderStatus::Confirmed => (ConfirmOutcome::AlreadyConfirmed(o.clone()), vec![]),
                OrderStatus::Cancelled => (ConfirmOutcome::Cancelled(o.clone()), vec![]),
            },
        })
        .await
    }

    async fn fence_order(&self, order_id: &str, now_ms: i64) -> StoreResult<FenceOutcome> {
        self.with(|s| match s.orders.get_mut(order_id) {
            None => (FenceOutcome::NotFound, vec![]),
            Some(o) => match o.status {
                OrderStatus::Pending if o.fenced => {
                    (FenceOutcome::AlreadyFenced(o.clone()), vec![])
                }
                OrderStatus::Pending => {
                    o.fenced = true;
                    o.updated_at = now_ms;
                    (
                        FenceOutcome::Fenced(o.clone()),
                        vec![Touched::Order(order_id.to_string())],
                    )
                }
                OrderStatus::Confirmed => (FenceOutcome::Confirmed(o.clone()), vec![]),
                OrderStatus::Cancelled => (FenceOutcome::AlreadyCancelled(o.clone()), vec![]),
            },
        })
        .await
    }

    async fn cancel_order(
        &self,
        order_id: &str,
        failure: Option<&Failure>,
        now_ms: i64,
    ) -> StoreResult<CancelOutcome> {
        self.with(|s| {
            let outcome = match s.orders.get_mut(order_id) {
                None => {
                    s.orders.insert(
                        order_id.to_string(),
                        Order::tombstone(order_id, failure.cloned(), now_ms),
                    );
                    CancelOutcome::Tombstoned
                }
                Some(o) if o.status == OrderStatus::Confirmed => {
                    return (CancelOutcome::Confirmed(o.clone()), vec![]);
                }
                Some(o) if o.status == OrderStatus::Cancelled => {
                    if o.failure.is_none() {
                        o.failure = failure.cloned();
                    }
                    CancelOutcome::AlreadyCancelled(o.clone())
                }
                Some(o) => {
                    o.status = OrderStatus::Cancelled;
                    o.updated_at = now_ms;
                    if o.failure.is_none() {
                        o.failure = failure.cloned();
                    }
                    CancelOutcome::Cancelled(o.clone())
                }
            };
            (outcome, vec![Touched::Order(order_id.to_string())])
        })
        .await
    }

    async fn orders_in_status(
        &self,
        status: OrderStatus,
        created_after_ms: i64,
        created_before_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<Order>> {
        self.with(|s| {
            let mut v: Vec<Order> = s
                .orders
                .values()
                .filter(|o| {
                    o.status == status
                        && !o.tombstone
                        && (created_after_ms..created_before_ms).contains(&o.created_at)
                })
                .cloned()
                .collect();
            v.sort_by(|a, b| (a.created_at, &a.order_id).cmp(&(b.created_at, &b.order_id)));
            v.truncate(limit);
            (v, vec![])
        })
        .await
    }
}

fn empty_level(sku: &str) -> StockLevel {
    StockLevel {
        sku: sku.to_string(),
        available: 0,
        reserved: 0,
    }
}

#[async_trait]
impl InventoryStore for MemoryStore {
    async fn set_available(&self, sku: &str, available: u64) -> StoreResult<StockLevel> {
        self.with(|s| {
            let level = s
                .stock
                .entry(sku.to_string())
                .or_insert_with(|| empty_level(sku));
            level.available = available;
            (level.clone(), vec![Touched::Stock(sku.to_string())])
        })
        .await
    }

    async fn get_stock(&self, sku: &str) -> StoreResult<Option<StockLevel>> {
        self.with(|s| (s.stock.get(sku).cloned(), vec![])).await
    }

    async fn reserve(
        &self,
        order_id: &str,
        items: &[OrderLine],
        now_ms: i64,
    ) -> StoreResult<ReserveOutcome> {
        self.with(|s| {
            match s.reservations.get(order_id).map(|r| r.status) {
                Some(ReservationStatus::Reserved) => {
                    return (ReserveOutcome::AlreadyReserved, vec![])
                }
                Some(ReservationStatus::Released) => return (ReserveOutcome::Released, vec![]),
                None => {}
            }
            for line in items {
                let available = s.stock.get(&line.sku).map_or(0, |l| l.available);
                if available < u64::from(line.quantity) {
                    let short = ReserveOutcome::Insufficient {
                        sku: line.sku.clone(),
                        requested: u64::from(line.quantity),
                        available,
                    };
                    return (short, vec![]);
                }
            }
            let mut touched = vec![Touched::Reservation(order_id.to_string())];
            for line in items {
                let level = s.stock.get_mut(&line.sku).expect("checked above");
                level.available -= u64::from(line.quantity);
                level.reserved += u64::from(line.quantity);
                touched.push(Touched::Stock(line.sku.clone()));
            }
            s.reservations.insert(
                order_id.to_string(),
                Reservation {
                    order_id: order_id.to_string(),
                    status: ReservationStatus::Reserved,
                    items: items.to_vec(),
                    updated_at: now_ms,
                },
            );
            (ReserveOutcome::Reserved, touched)
        })
        .await
    }

    async fn release(&self, order_id: &str, now_ms: i64) -> StoreResult<ReleaseOutcome> {
        self.with(|s| match s.reservations.get_mut(order_id) {
            Some(r) if r.status == ReservationStatus::Released => {
                (ReleaseOutcome::AlreadyReleased, vec![])
            }
            Some(r) => {
                let mut touched = vec![Touched::Reservation(order_id.to_string())];
                for line in &r.items {
                    let level = s
                        .stock
                        .entry(line.sku.clone())
                        .or_insert_with(|| empty_level(&line.sku));
                    let q = u64::from(line.quantity);
                    level.reserved = level.reserved.saturating_sub(q);
                    level.available += q;
                    touched.push(Touched::Stock(line.sku.clone()));
                }
                r.status = ReservationStatus::Released;
                r.updated_at = now_ms;
                (ReleaseOutcome::Released, touched)
            }
            None => {
                s.reservations.insert(
                    order_id.to_string(),
                    Reservation {
                        order_id: order_id.to_string(),
                        status: ReservationStatus::Released,
                        items: Vec::new(),
                        updated_at: now_ms,
                    },
                );
                (
                    ReleaseOutcome::Tombstoned,
                    vec![Touched::Reservation(order_id.to_string())],
                )
            }
        })
        .await
    }

    async fn get_reservation(&self, order_id: &str) -> StoreResult<Option<Reservation>> {
        self.with(|s| (s.reservations.get(order_id).cloned(), vec![]))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_domain::ReservationStatus;
    use std::sync::Arc;

    #[tokio::test]
    async fn passes_the_store_conformance_suite() {
        let store = Arc::new(MemoryStore::new());
        crate::conformance::run_all(store.clone(), store, "mem").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_syncs_and_all_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Arc::new(MemoryStore::open(dir.path()).unwrap());
            let writes: Vec<_> = (0..200u64)
                .map(|i| {
                    let store = store.clone();
                    tokio::spawn(async move { store.set_available(&format!("gc-{i}"), i).await })
                })
                .collect();
            for w in writes {
                w.await.unwrap().unwrap();
            }
            let commit = store.commit.as_ref().unwrap();
            // Every write returned, so every batch it appended is covered by a completed sync.
            assert_eq!(commit.synced(), store.lock().appended);
        }
        let reopened = MemoryStore::open(dir.path()).unwrap();
        for i in 0..200u64 {
            let level = reopened
                .get_stock(&format!("gc-{i}"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(level.available, i);
        }
    }

    #[tokio::test]
    async fn the_journaled_store_passes_the_suite_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Arc::new(MemoryStore::open(dir.path()).unwrap());
            crate::conformance::run_all(store.clone(), store, "disk").await;
        }
        let reopened = MemoryStore::open(dir.path()).unwrap();
        let level = reopened.get_stock("disk-sku-a").await.unwrap().unwrap();
        assert_eq!(
            (level.available, level.reserved),
            (23, 0),
            "the last write of each record is kept"
        );
        let order = reopened.get_order("disk-order-1").await.unwrap().unwrap();
        assert_eq!(order.status, OrderStatus::Confirmed);
        let order = reopened
            .get_order("disk-order-fenced")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((order.status, order.fenced), (OrderStatus::Cancelled, true));
        assert!(
            reopened
                .get_order("disk-order-late")
                .await
                .unwrap()
                .unwrap()
                .tombstone
        );
        assert_eq!(
            reopened
                .get_reservation("disk-late-1")
                .await
                .unwrap()
                .unwrap()
                .status,
            ReservationStatus::Released,
            "tombstones survive a restart"
        );
        assert_eq!(
            reopened
                .claim_idempotency_key(&KeyClaim {
                    key: "disk-key".into(),
                    order_id: "other".into(),
                    request_hash: "h".into(),
                    now_s: 1101,
                    ttl_s: 100,
                })
                .await
                .unwrap(),
            KeyClaimOutcome::Existing {
                order_id: "o3".into(),
                request_hash: "h3".into()
            }
        );
    }

    #[tokio::test]
    async fn a_failed_journal_write_stops_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryStore::open(dir.path()).unwrap();
        store.set_available("kept", 3).await.unwrap();
        {
            // A handle that cannot write stands in for a full or failing disk.
            let mut state = store.lock();
            let (path, file) = state.journal.as_mut().unwrap();
            *file = File::open(&*path).unwrap();
        }
        let failed = store.set_available("lost", 1).await;
        assert!(
            matches!(failed, Err(StoreError::Unavailable(_))),
            "{failed:?}"
        );
        // Memory may hold a change the disk does not: nothing is answered from it any more, reads included.
        assert!(matches!(
            store.get_stock("kept").await,
            Err(StoreError::Unavailable(_))
        ));
        drop(store);
        let reopened = MemoryStore::open(dir.path()).unwrap();
        assert_eq!(
            reopened.get_stock("kept").await.unwrap().unwrap().available,
            3
        );
        assert_eq!(reopened.get_stock("lost").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_torn_last_line_is_ignored_but_earlier_damage_is_not() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = MemoryStore::open(dir.path()).unwrap();
            store.set_available("a", 3).await.unwrap();
        }
        let path = dir.path().join("store.jsonl");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"kind\":\"stock\",\"sku\":");
        std::fs::write(&path, &text).unwrap();
        let store = MemoryStore::open(dir.path()).unwrap();
        assert_eq!(store.get_stock("a").await.unwrap().unwrap().available, 3);
        std::fs::write(&path, format!("garbage\n{text}")).unwrap();
        assert!(MemoryStore::open(dir.path()).is_err());
    }

    #[tokio::test]
    async fn a_last_line_cut_inside_a_character_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = MemoryStore::open(dir.path()).unwrap();
            store.set_available("a", 3).await.unwrap();
        }
        let path = dir.path().join("store.jsonl");
        let mut bytes = std::fs::read(&path).unwrap();
        let torn = "{\"kind\":\"stock\",\"sku\":\"é".as_bytes();
        bytes.extend_from_slice(&torn[..torn.len() - 1]);
        std::fs::write(&path, &bytes).unwrap();
        let store = MemoryStore::open(dir.path()).unwrap();
        assert_eq!(store.get_stock("a").await.unwrap().unwrap().available, 3);
        // Opening compacted the journal, so the next write starts on a line of its own.
        store.set_available("b", 1).await.unwrap();
        drop(store);
        let store = MemoryStore::open(dir.path()).unwrap();
        assert_eq!(store.get_stock("b").await.unwrap().unwrap().available, 1);
    }
}
