//! The two systems' storage, behind traits with conditional-write semantics.
//!
//! `OrderStore` is system A (orders and the Idempotency-Key index), `InventoryStore` is system B (stock and
//! per-order reservations). Every mutating method is idempotent by key and says what it found, so a step that
//! is retried after an ambiguous failure (a timeout whose first attempt did commit) neither double-reserves nor
//! double-cancels. Compensations leave tombstones that forward writes respect, so a forward step that lands late
//! cannot resurrect what was undone.
//!
//! [`memory`] is the embedded implementation local mode uses; `saga-store-dynamodb` is production's. Both must
//! pass [`conformance`], the shared behavioural suite.

use async_trait::async_trait;
use saga_domain::{Failure, Order, OrderLine, Reservation, StockLevel};

pub mod conformance;
pub mod journal;
pub mod memory;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or throttled us; the step may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data is not what this code writes.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<StoreError> for saga_domain::StepError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => saga_domain::StepError::Transient(e.to_string()),
            StoreError::Corrupt(_) => saga_domain::StepError::Internal(e.to_string()),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Binding an Idempotency-Key to the order a request created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyClaim {
    pub key: String,
    pub order_id: String,
    pub request_hash: String,
    /// Epoch seconds; the binding expires at `now_s + ttl_s` and may then be claimed afresh.
    pub now_s: i64,
    pub ttl_s: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaimOutcome {
    /// The key is now bound to `claim.order_id` (or already was, by this same claim).
    Claimed,
    /// The key is bound, unexpired, to another order.
    Existing {
        order_id: String,
        request_hash: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// An order (possibly a tombstone) already has this id; nothing was written.
    Existing(Order),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmOutcome {
    Confirmed(Order),
    AlreadyConfirmed(Order),
    /// A compensation got there first; the order stays cancelled.
    Cancelled(Order),
    /// A compensation fenced the PENDING order; it will be cancelled, so it is not confirmed.
    Fenced(Order),
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FenceOutcome {
    /// The order was PENDING and is now fenced: no confirm can land any more.
    Fenced(Order),
    AlreadyFenced(Order),
    /// The confirm landed first. CONFIRMED is final: the saga succeeded and nothing may be compensated.
    Confirmed(Order),
    AlreadyCancelled(Order),
    /// No order has this id; nothing can confirm it (a later cancel tombstones the id).
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    Cancelled(Order),
    AlreadyCancelled(Order),
    /// No order had this id; a tombstone now holds it.
    Tombstoned,
    /// Refused: the order is CONFIRMED, which is final.
    Confirmed(Order),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    Reserved,
    AlreadyReserved,
    /// A release already ran for this order (a tombstone or a real release): nothing is reserved again.
    Released,
    /// Nothing was reserved: this line cannot be met.
    Insufficient {
        sku: String,
        requested: u64,
        available: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// Stock went back to `available`.
    Released,
    AlreadyReleased,
    /// Nothing was reserved; a tombstone now refuses a late reservation.
    Tombstoned,
}

/// System A.
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Binds `claim.key` to `claim.order_id` unless it is bound, unexpired, to something else.
    async fn claim_idempotency_key(&self, claim: &KeyClaim) -> StoreResult<KeyClaimOutcome>;
    /// Writes `order` unless any record holds its id.
    async fn put_order_if_absent(&self, order: &Order) -> StoreResult<PutOutcome>;
    async fn get_order(&self, order_id: &str) -> StoreResult<Option<Order>>;
    /// PENDING and not fenced → CONFIRMED.
    async fn confirm_order(&self, order_id: &str, now_ms: i64) -> StoreResult<ConfirmOutcome>;
    /// PENDING → PENDING and fenced, so that no confirm can land; reports a CONFIRMED order instead of touching it.
    async fn fence_order(&self, order_id: &str, now_ms: i64) -> StoreResult<FenceOutcome>;
    /// PENDING → CANCELLED, recording `failure` if the order does not hold one yet; an absent id becomes a
    /// tombstone. A CONFIRMED order is refused: confirmation is the saga's point of no return.
    async fn cancel_order(
        &self,
        order_id: &str,
        failure: Option<&Failure>,
        now_ms: i64,
    ) -> StoreResult<CancelOutcome>;
    /// Orders (not tombstones) in `status` created in `[created_after_ms, created_before_ms)`, oldest first, at
    /// most `limit`.
    async fn orders_in_status(
        &self,
        status: saga_domain::OrderStatus,
        created_after_ms: i64,
        created_before_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<Order>>;
}

/// System B.
#[async_trait]
pub trait InventoryStore: Send + Sync {
    /// Sets a sku's available count, keeping what is reserved.
    async fn set_available(&self, sku: &str, available: u64) -> StoreResult<StockLevel>;
    async fn get_stock(&self, sku: &str) -> StoreResult<Option<StockLevel>>;
    /// Moves every line's quantity from available to reserved, all or nothing, once per order id.
    async fn reserve(
        &self,
        order_id: &str,
        items: &[OrderLine],
        now_ms: i64,
    ) -> StoreResult<ReserveOutcome>;
    /// Gives back what `order_id` holds, once; leaves a tombstone if it holds nothing.
    async fn release(&self, order_id: &str, now_ms: i64) -> StoreResult<ReleaseOutcome>;
    async fn get_reservation(&self, order_id: &str) -> StoreResult<Option<Reservation>>;
}
