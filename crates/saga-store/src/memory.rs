//! The embedded store: both systems in one process, each operation atomic under one lock.
//!
//! One lock is deliberate. It makes every conditional write trivially linearizable, which is the property the
//! saga relies on, and local mode's throughput is bounded by the HTTP path long before this lock matters.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use saga_domain::{
    Failure, Order, OrderLine, OrderStatus, Reservation, ReservationStatus, StockLevel,
};

use crate::*;

#[derive(Debug, Default, Clone)]
struct IdempotencyRecord {
    order_id: String,
    request_hash: String,
    expires_at_s: i64,
}

#[derive(Debug, Default)]
struct State {
    keys: HashMap<String, IdempotencyRecord>,
    orders: HashMap<String, Order>,
    stock: HashMap<String, StockLevel>,
    reservations: HashMap<String, Reservation>,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A panic while holding the lock cannot leave a half-applied write: every mutation below is computed
        // first and applied in one step, so the data behind a poisoned lock is still consistent.
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Every sku's level, for invariant checks.
    pub fn all_stock(&self) -> Vec<StockLevel> {
        self.with(|s| s.stock.values().cloned().collect())
    }

    /// Every order, tombstones included, for invariant checks.
    pub fn all_orders(&self) -> Vec<Order> {
        self.with(|s| s.orders.values().cloned().collect())
    }
}

#[async_trait]
impl OrderStore for MemoryStore {
    async fn claim_idempotency_key(&self, claim: &KeyClaim) -> StoreResult<KeyClaimOutcome> {
        Ok(self.with(|s| match s.keys.get(&claim.key) {
            Some(rec) if rec.expires_at_s > claim.now_s && rec.order_id != claim.order_id => {
                KeyClaimOutcome::Existing {
                    order_id: rec.order_id.clone(),
                    request_hash: rec.request_hash.clone(),
                }
            }
            Some(rec) if rec.expires_at_s > claim.now_s => KeyClaimOutcome::Claimed,
            _ => {
                s.keys.insert(
                    claim.key.clone(),
                    IdempotencyRecord {
                        order_id: claim.order_id.clone(),
                        request_hash: claim.request_hash.clone(),
                        expires_at_s: claim.now_s + claim.ttl_s,
                    },
                );
                KeyClaimOutcome::Claimed
            }
        }))
    }

    async fn put_order_if_absent(&self, order: &Order) -> StoreResult<PutOutcome> {
        Ok(self.with(|s| match s.orders.get(&order.order_id) {
            Some(existing) => PutOutcome::Existing(existing.clone()),
            None => {
                s.orders.insert(order.order_id.clone(), order.clone());
                PutOutcome::Created
            }
        }))
    }

    async fn get_order(&self, order_id: &str) -> StoreResult<Option<Order>> {
        Ok(self.with(|s| s.orders.get(order_id).cloned()))
    }

    async fn confirm_order(&self, order_id: &str, now_ms: i64) -> StoreResult<ConfirmOutcome> {
        Ok(self.with(|s| match s.orders.get_mut(order_id) {
            None => ConfirmOutcome::NotFound,
            Some(o) => match o.status {
                OrderStatus::Pending => {
                    o.status = OrderStatus::Confirmed;
                    o.updated_at = now_ms;
                    ConfirmOutcome::Confirmed(o.clone())
                }
                OrderStatus::Confirmed => ConfirmOutcome::AlreadyConfirmed(o.clone()),
                OrderStatus::Cancelled => ConfirmOutcome::Cancelled(o.clone()),
            },
        }))
    }

    async fn cancel_order(
        &self,
        order_id: &str,
        failure: Option<&Failure>,
        now_ms: i64,
    ) -> StoreResult<CancelOutcome> {
        Ok(self.with(|s| match s.orders.get_mut(order_id) {
            None => {
                s.orders.insert(
                    order_id.to_string(),
                    Order {
                        order_id: order_id.to_string(),
                        status: OrderStatus::Cancelled,
                        customer_id: String::new(),
                        items: Vec::new(),
                        created_at: now_ms,
                        updated_at: now_ms,
                        idempotency_key: None,
                        request_hash: None,
                        failure: failure.cloned(),
                        tombstone: true,
                    },
                );
                CancelOutcome::Tombstoned
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
        }))
    }

    async fn orders_in_status(
        &self,
        status: OrderStatus,
        created_before_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<Order>> {
        Ok(self.with(|s| {
            let mut v: Vec<Order> = s
                .orders
                .values()
                .filter(|o| o.status == status && !o.tombstone && o.created_at < created_before_ms)
                .cloned()
                .collect();
            v.sort_by(|a, b| (a.created_at, &a.order_id).cmp(&(b.created_at, &b.order_id)));
            v.truncate(limit);
            v
        }))
    }
}

#[async_trait]
impl InventoryStore for MemoryStore {
    async fn set_available(&self, sku: &str, available: u64) -> StoreResult<StockLevel> {
        Ok(self.with(|s| {
            let level = s
                .stock
                .entry(sku.to_string())
                .or_insert_with(|| StockLevel {
                    sku: sku.to_string(),
                    available: 0,
                    reserved: 0,
                });
            level.available = available;
            level.clone()
        }))
    }

    async fn get_stock(&self, sku: &str) -> StoreResult<Option<StockLevel>> {
        Ok(self.with(|s| s.stock.get(sku).cloned()))
    }

    async fn reserve(
        &self,
        order_id: &str,
        items: &[OrderLine],
        now_ms: i64,
    ) -> StoreResult<ReserveOutcome> {
        Ok(self.with(|s| {
            match s.reservations.get(order_id).map(|r| r.status) {
                Some(ReservationStatus::Reserved) => return ReserveOutcome::AlreadyReserved,
                Some(ReservationStatus::Released) => return ReserveOutcome::Released,
                None => {}
            }
            for line in items {
                let available = s.stock.get(&line.sku).map_or(0, |l| l.available);
                if available < u64::from(line.quantity) {
                    return ReserveOutcome::Insufficient {
                        sku: line.sku.clone(),
                        requested: u64::from(line.quantity),
                        available,
                    };
                }
            }
            for line in items {
                let level = s.stock.get_mut(&line.sku).expect("checked above");
                level.available -= u64::from(line.quantity);
                level.reserved += u64::from(line.quantity);
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
            ReserveOutcome::Reserved
        }))
    }

    async fn release(&self, order_id: &str, now_ms: i64) -> StoreResult<ReleaseOutcome> {
        Ok(self.with(|s| match s.reservations.get_mut(order_id) {
            Some(r) if r.status == ReservationStatus::Released => ReleaseOutcome::AlreadyReleased,
            Some(r) => {
                for line in &r.items {
                    let level = s
                        .stock
                        .entry(line.sku.clone())
                        .or_insert_with(|| StockLevel {
                            sku: line.sku.clone(),
                            available: 0,
                            reserved: 0,
                        });
                    let q = u64::from(line.quantity);
                    level.reserved = level.reserved.saturating_sub(q);
                    level.available += q;
                }
                r.status = ReservationStatus::Released;
                r.updated_at = now_ms;
                ReleaseOutcome::Released
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
                ReleaseOutcome::Tombstoned
            }
        }))
    }

    async fn get_reservation(&self, order_id: &str) -> StoreResult<Option<Reservation>> {
        Ok(self.with(|s| s.reservations.get(order_id).cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn passes_the_store_conformance_suite() {
        let store = Arc::new(MemoryStore::new());
        crate::conformance::run_all(store.clone(), store, "mem").await;
    }
}
