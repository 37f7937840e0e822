//! Production storage for the order saga: [`OrderStore`] and [`InventoryStore`] on DynamoDB, with the same
//! semantics as `saga_store::memory::MemoryStore` (both pass `saga_store::conformance`).
//!
//! Every mutation is a conditional write, so a retried Lambda that lands after its first attempt committed
//! finds its own work and reports it instead of repeating it. Reserve and release touch several items and run
//! as one `TransactWriteItems` each; the cancellation reasons of a refused transaction say which condition
//! failed. Reads are strongly consistent, except [`OrderStore::orders_in_status`], which can only query a
//! global secondary index and so may miss writes from the last second or so (fine for a sweeper).
//!
//! # Table layouts
//!
//! Names come from [`Tables`]; the layouts match the Terraform definitions. Numbers are DynamoDB `N`.
//!
//! | table | key | attributes |
//! | --- | --- | --- |
//! | orders | `orderId` S | `status` S (PENDING, CONFIRMED, CANCELLED), `customerId` S, `items` L of M {`sku` S, `quantity` N}, `createdAt` N and `updatedAt` N (epoch ms), `idempotencyKey` S?, `requestHash` S?, `failure` M {`Error` S, `Cause` S}?, `tombstone` BOOL |
//! | inventory | `sku` S | `available` N, `reserved` N |
//! | reservations | `orderId` S | `status` S (RESERVED, RELEASED), `items` L of M {`sku`, `quantity`}, `updatedAt` N |
//! | idempotency | `idempotencyKey` S | `orderId` S, `requestHash` S, `expiresAt` N (epoch s, the TTL attribute) |
//!
//! The orders table has a global secondary index `status-createdAt` (hash `status`, range `createdAt`,
//! projection ALL). Tombstones (`tombstone = true`, status CANCELLED) hold the id of an order that a
//! compensation cancelled before it was created; a reservation with status RELEASED and no items does the
//! same for a release that ran before its reserve.
//!
//! [`create_tables`] creates all four, for tests and local rehearsals.
//!
//! # Testing
//!
//! The unit tests need nothing. `tests/moto.rs` runs the conformance suite and DynamoDB-specific checks
//! against the endpoint in `SAGA_DYNAMODB_ENDPOINT`; without it the tests skip, or fail when
//! `SAGA_DYNAMODB_REQUIRED` is set, as `.ci/run` sets it:
//!
//! ```text
//! endpoint=$(tools/ci/moto.sh start)
//! SAGA_DYNAMODB_ENDPOINT=$endpoint cargo test -p saga-store-dynamodb
//! tools/ci/moto.sh stop
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use saga_domain::{
    Failure, Order, OrderLine, OrderStatus, Reservation, ReservationStatus, StockLevel,
};
use saga_store::{
    CancelOutcome, ConfirmOutcome, FenceOutcome, InventoryStore, KeyClaim, KeyClaimOutcome,
    OrderStore, PutOutcome, ReleaseOutcome, ReserveOutcome, StoreError, StoreResult,
};

mod error;
pub mod item;
mod schema;
pub mod sdk;

use error::unavailable;
use item::*;
pub use schema::{create_tables, STATUS_CREATED_AT_INDEX};
pub use sdk::MissingEnvVar;

/// DynamoDB refuses a `TransactWriteItems` with more actions than this.
pub const MAX_TRANSACT_ITEMS: usize = 100;

// Reserve writes the reservation plus one update per line; validation caps the lines, so this always fits.
const _: () = assert!(saga_domain::validate::MAX_ITEMS < MAX_TRANSACT_ITEMS);

/// Rounds of a conditional write loop before giving up as `Unavailable`. A round is repeated only when the
/// item changed between a refused write and our read of it, or when a transaction collided with another;
/// both are rare outside a stampede on one sku, which the backoff spreads out.
const MAX_ROUNDS: u32 = 12;

/// The four table names, which differ per deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub orders: String,
    pub inventory: String,
    pub reservations: String,
    pub idempotency: String,
}

impl Tables {
    /// The environment variables [`Tables::from_env`] reads, in field order.
    pub const ENV_VARS: [&'static str; 4] = [
        "ORDERS_TABLE",
        "INVENTORY_TABLE",
        "RESERVATIONS_TABLE",
        "IDEMPOTENCY_TABLE",
    ];

    /// The names the Lambdas are given by Terraform.
    pub fn from_env() -> Result<Self, MissingEnvVar> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The names from the variables of [`Tables::ENV_VARS`], looked up through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, MissingEnvVar> {
        let var = |name: &'static str| {
            var(name)
                .filter(|v| !v.is_empty())
                .ok_or(MissingEnvVar(name))
        };
        let [orders, inventory, reservations, idempotency] = Self::ENV_VARS;
        Ok(Self {
            orders: var(orders)?,
            inventory: var(inventory)?,
            reservations: var(reservations)?,
            idempotency: var(idempotency)?,
        })
    }

    /// `{prefix}-orders` and so on, for tests and rehearsals that need their own set.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            orders: format!("{prefix}-orders"),
            inventory: format!("{prefix}-inventory"),
            reservations: format!("{prefix}-reservations"),
            idempotency: format!("{prefix}-idempotency"),
        }
    }
}

/// Both systems' stores on DynamoDB. Cloning is cheap and shares the client's connection pool.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    tables: Arc<Tables>,
    query_page_size: Option<i32>,
}

impl DynamoStore {
    pub fn new(client: Client, tables: Tables) -> Self {
        Self {
            client,
            tables: Arc::new(tables),
            query_page_size: None,
        }
    }

    /// What a Lambda calls at start-up: region and credentials from the variables the Lambda runtime sets,
    /// table names from [`Tables::from_env`]; see [`sdk`] for why not `aws_config`'s provider chains. It is
    /// `async` although nothing in it waits, so that the functions' entry points need not change if it ever
    /// has to.
    pub async fn from_env() -> Result<Self, MissingEnvVar> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`DynamoStore::from_env`] with the variables looked up through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, MissingEnvVar> {
        let tables = Tables::from_vars(&var)?;
        Ok(Self::new(
            Client::from_conf(sdk::config_from_vars(var)?),
            tables,
        ))
    }

    /// A store talking to a local emulator at `endpoint_url`, in us-east-1 with fixed fake credentials. It reads
    /// no environment variable or profile, so a test cannot pick up real credentials and act on an account.
    pub fn for_endpoint(endpoint_url: &str, tables: Tables) -> Self {
        let config = sdk::config_builder()
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "test",
                "test",
                None,
                None,
                "saga-store-dynamodb-test",
            ))
            .endpoint_url(endpoint_url)
            .build();
        Self::new(Client::from_conf(config), tables)
    }

    /// Caps the items each page of the sweeper's index query returns. DynamoDB pages at 1 MB anyway; a small
    /// cap exists so tests can exercise pagination without writing megabytes.
    pub fn with_query_page_size(mut self, items: i32) -> Self {
        self.query_page_size = Some(items.max(1));
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    async fn get(&self, table: &str, key_name: &str, id: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key(key_name, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(&format!("GetItem {table}"), e))?;
        Ok(out.item)
    }

    /// What a refused conditional write found: the old image DynamoDB returned with the refusal or, where an
    /// emulator leaves it out, a consistent read. `None` means the item is absent.
    async fn found(
        &self,
        old: Option<Item>,
        table: &str,
        key_name: &str,
        id: &str,
    ) -> StoreResult<Option<Item>> {
        match old {
            Some(item) if !item.is_empty() => Ok(Some(item)),
            _ => self.get(table, key_name, id).await,
        }
    }

    /// Writes `item` unless an item has its key.
    async fn put_if_absent(&self, table: &str, key_name: &str, item: Item) -> StoreResult<Insert> {
        let id = item
            .get(key_name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        let res = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", key_name)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match res {
            Ok(_) => Ok(Insert::Written),
            Err(e) => {
                let old = put_refusal(&format!("PutItem {table}"), e)?;
                Ok(match self.found(old, table, key_name, &id).await? {
                    Some(item) => Insert::Found(item),
                    None => Insert::Vanished,
                })
            }
        }
    }

    /// One conditional UpdateItem of an order: the order as written or, when the condition refused it, the
    /// order as found.
    async fn update_order(
        &self,
        order_id: &str,
        update: &str,
        condition: &str,
        expr: &Expr,
    ) -> StoreResult<OrderUpdate> {
        let table = &self.tables.orders;
        let res = self
            .client
            .update_item()
            .table_name(table)
            .set_key(Some(key(ORDER_ID, order_id)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let old = match res {
            Ok(out) => {
                return Ok(OrderUpdate::Written(order_from_item(
                    &out.attributes.unwrap_or_default(),
                )?))
            }
            Err(e) => update_refusal(&format!("UpdateItem {table}"), e)?,
        };
        Ok(match self.found(old, table, ORDER_ID, order_id).await? {
            Some(item) => OrderUpdate::Refused(order_from_item(&item)?),
            None => OrderUpdate::Absent,
        })
    }

    /// Before a refused transaction is reported as `Unavailable`, reads every item it named with an
    /// unexplained reason, so that data this code did not write is reported as `Corrupt` instead of retried.
    async fn diagnose(
        &self,
        reasons: &[CancellationReason],
        order_id: &str,
        skus: &[(String, u64)],
    ) -> StoreResult<()> {
        if !explained(reason_code(reasons, 0)) {
            self.get_reservation_item(order_id).await?;
        }
        for (i, (sku, _)) in skus.iter().enumerate() {
            if !explained(reason_code(reasons, i + 1)) {
                self.get_stock_item(sku).await?;
            }
        }
        Ok(())
    }

    async fn get_reservation_item(&self, order_id: &str) -> StoreResult<Option<Reservation>> {
        self.get(&self.tables.reservations, ORDER_ID, order_id)
            .await?
            .map(|i| reservation_from_item(&i))
            .transpose()
    }

    async fn get_stock_item(&self, sku: &str) -> StoreResult<Option<StockLevel>> {
        self.get(&self.tables.inventory, SKU, sku)
            .await?
            .map(|i| stock_from_item(&i))
            .transpose()
    }
}

enum Insert {
    Written,
    /// Refused: this item holds the key.
    Found(Item),
    /// Refused, but the item was deleted before we could read it; the caller may try again.
    Vanished,
}

/// What a conditional update of an order came to.
enum OrderUpdate {
    Written(Order),
    /// Refused: the order as it stands.
    Refused(Order),
    /// Refused: there is no such order.
    Absent,
}

/// Placeholders for one expression. DynamoDB rejects a request that declares a name or value its
/// expressions do not use, so each call declares exactly what it uses; names are always aliased because
/// `status`, `items` and others are reserved words.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn new() -> Self {
        Self::default()
    }

    fn name(mut self, attr: &str) -> Self {
        self.names.insert(format!("#{attr}"), attr.to_string());
        self
    }

    fn value(mut self, placeholder: &str, v: AttributeValue) -> Self {
        self.values.insert(placeholder.to_string(), v);
        self
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

fn put_refusal(
    op: &str,
    e: aws_sdk_dynamodb::error::SdkError<
        PutItemError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> StoreResult<Option<Item>> {
    match e.as_service_error() {
        Some(PutItemError::ConditionalCheckFailedException(c)) => Ok(c.item().cloned()),
        _ => Err(unavailable(op, e)),
    }
}

fn update_refusal(
    op: &str,
    e: aws_sdk_dynamodb::error::SdkError<
        UpdateItemError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> StoreResult<Option<Item>> {
    match e.as_service_error() {
        Some(UpdateItemError::ConditionalCheckFailedException(c)) => Ok(c.item().cloned()),
        _ => Err(unavailable(op, e)),
    }
}

/// Sleeps before round `round` of a loop that collided with a concurrent writer: exponential with full
/// jitter, so that many callers contending for one sku spread out instead of colliding again in step.
async fn backoff(round: u32) {
    let cap_ms = (10u64 << round.min(7)).min(1000);
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    tokio::time::sleep(Duration::from_millis(random % (cap_ms + 1))).await;
}

/// An order's lines as one quantity per sku, in first-seen order. Validation already forbids repeated skus;
/// merging anyway keeps a transaction from naming one item twice, which DynamoDB rejects outright.
fn per_sku(items: &[OrderLine]) -> Vec<(String, u64)> {
    let mut merged: Vec<(String, u64)> = Vec::with_capacity(items.len());
    for line in items {
        match merged.iter_mut().find(|(sku, _)| *sku == line.sku) {
            Some((_, q)) => *q += u64::from(line.quantity),
            None => merged.push((line.sku.clone(), u64::from(line.quantity))),
        }
    }
    merged
}

fn check_transaction_size(order_id: &str, skus: usize) -> StoreResult<()> {
    if skus + 1 > MAX_TRANSACT_ITEMS {
        return Err(StoreError::Corrupt(format!(
            "order {order_id:?} has {skus} skus; one transaction holds at most {}",
            MAX_TRANSACT_ITEMS - 1
        )));
    }
    Ok(())
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("building a transaction: {e}"))
}

fn reason_code(reasons: &[CancellationReason], i: usize) -> &str {
    reasons.get(i).and_then(|r| r.code()).unwrap_or("None")
}

/// Whether a cancellation reason is one a correct item can produce. Anything else (DynamoDB's
/// `ValidationError` for an operand of the wrong type, or an emulator's own error name) points at the item.
fn explained(code: &str) -> bool {
    matches!(
        code,
        "None" | "ConditionalCheckFailed" | "TransactionConflict" | "ThrottlingError"
    )
}

/// A transaction refused for something other than a failed condition: retry a collision, give up otherwise.
fn other_cancellation(reasons: &[CancellationReason]) -> Result<(), StoreError> {
    let codes: Vec<&str> = (0..reasons.len())
        .map(|i| reason_code(reasons, i))
        .collect();
    if codes
        .iter()
        .any(|c| matches!(*c, "TransactionConflict" | "ThrottlingError"))
    {
        Ok(())
    } else {
        Err(StoreError::Unavailable(format!(
            "TransactWriteItems cancelled: {codes:?}"
        )))
    }
}

fn gave_up(what: &str) -> StoreError {
    StoreError::Unavailable(format!("{what}: still contended after {MAX_ROUNDS} rounds"))
}

#[async_trait]
impl OrderStore for DynamoStore {
    async fn claim_idempotency_key(&self, claim: &KeyClaim) -> StoreResult<KeyClaimOutcome> {
        let table = &self.tables.idempotency;
        let record = KeyRecord {
            key: claim.key.clone(),
            order_id: claim.order_id.clone(),
            request_hash: claim.request_hash.clone(),
            expires_at_s: claim.now_s + claim.ttl_s,
        };
        // TTL deletes expired items lazily (often days later), so an expired binding is overwritten here
        // rather than waited out.
        let expr = Expr::new()
            .name(IDEMPOTENCY_KEY)
            .name(EXPIRES_AT)
            .value(":now", n(claim.now_s));
        for _ in 0..MAX_ROUNDS {
            let res = self
                .client
                .put_item()
                .table_name(table)
                .set_item(Some(key_record_to_item(&record)))
                .condition_expression("attribute_not_exists(#idempotencyKey) OR #expiresAt <= :now")
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let old = match res {
                Ok(_) => return Ok(KeyClaimOutcome::Claimed),
                Err(e) => put_refusal(&format!("PutItem {table}"), e)?,
            };
            let Some(old) = self.found(old, table, IDEMPOTENCY_KEY, &claim.key).await? else {
                continue;
            };
            let old = key_record_from_item(&old)?;
            if old.expires_at_s <= claim.now_s {
                // It expired between the refusal and the read: claim it in the next round.
                continue;
            }
            return Ok(if old.order_id == claim.order_id {
                KeyClaimOutcome::Claimed
            } else {
                KeyClaimOutcome::Existing {
                    order_id: old.order_id,
                    request_hash: old.request_hash,
                }
            });
        }
        Err(gave_up("claiming an idempotency key"))
    }

    async fn put_order_if_absent(&self, order: &Order) -> StoreResult<PutOutcome> {
        for _ in 0..MAX_ROUNDS {
            match self
                .put_if_absent(&self.tables.orders, ORDER_ID, order_to_item(order))
                .await?
            {
                Insert::Written => return Ok(PutOutcome::Created),
                Insert::Found(old) => return Ok(PutOutcome::Existing(order_from_item(&old)?)),
                Insert::Vanished => continue,
            }
        }
        Err(gave_up("creating an order"))
    }

    async fn get_order(&self, order_id: &str) -> StoreResult<Option<Order>> {
        self.get(&self.tables.orders, ORDER_ID, order_id)
            .await?
            .map(|i| order_from_item(&i))
            .transpose()
    }

    async fn confirm_order(&self, order_id: &str, now_ms: i64) -> StoreResult<ConfirmOutcome> {
        let expr = Expr::new()
            .name(STATUS)
            .name(UPDATED_AT)
            .name(FENCED)
            .value(":confirmed", s(OrderStatus::Confirmed.as_str()))
            .value(":pending", s(OrderStatus::Pending.as_str()))
            .value(":true", AttributeValue::Bool(true))
            .value(":now", n(now_ms));
        for _ in 0..MAX_ROUNDS {
            let old = match self
                .update_order(
                    order_id,
                    "SET #status = :confirmed, #updatedAt = :now",
                    "#status = :pending AND (attribute_not_exists(#fenced) OR #fenced <> :true)",
                    &expr,
                )
                .await?
            {
                OrderUpdate::Written(order) => return Ok(ConfirmOutcome::Confirmed(order)),
                OrderUpdate::Absent => return Ok(ConfirmOutcome::NotFound),
                OrderUpdate::Refused(old) => old,
            };
            match old.status {
                OrderStatus::Pending if old.fenced => return Ok(ConfirmOutcome::Fenced(old)),
                // Someone wrote it back to PENDING after the refusal; try again.
                OrderStatus::Pending => continue,
                OrderStatus::Confirmed => return Ok(ConfirmOutcome::AlreadyConfirmed(old)),
                OrderStatus::Cancelled => return Ok(ConfirmOutcome::Cancelled(old)),
            }
        }
        Err(gave_up("confirming an order"))
    }

    async fn fence_order(&self, order_id: &str, now_ms: i64) -> StoreResult<FenceOutcome> {
        let expr = Expr::new()
            .name(STATUS)
            .name(UPDATED_AT)
            .name(FENCED)
            .value(":pending", s(OrderStatus::Pending.as_str()))
            .value(":true", AttributeValue::Bool(true))
            .value(":now", n(now_ms));
        let old = match self
            .update_order(
                order_id,
                "SET #fenced = :true, #updatedAt = :now",
                // Same condition as confirm's, negated on the flag: of a racing confirm and fence, exactly one
                // wins.
                "#status = :pending AND (attribute_not_exists(#fenced) OR #fenced <> :true)",
                &expr,
            )
            .await?
        {
            OrderUpdate::Written(order) => return Ok(FenceOutcome::Fenced(order)),
            OrderUpdate::Absent => return Ok(FenceOutcome::NotFound),
            OrderUpdate::Refused(old) => old,
        };
        // Every state but an unfenced PENDING one is final for the fence, so no second round is needed.
        Ok(match old.status {
            OrderStatus::Pending if old.fenced => FenceOutcome::AlreadyFenced(old),
            OrderStatus::Pending => {
                return Err(StoreError::Corrupt(format!(
                    "order {order_id} refused a fence while PENDING and unfenced"
                )))
            }
            OrderStatus::Confirmed => FenceOutcome::Confirmed(old),
            OrderStatus::Cancelled => FenceOutcome::AlreadyCancelled(old),
        })
    }

    async fn cancel_order(
        &self,
        order_id: &str,
        failure: Option<&Failure>,
        now_ms: i64,
    ) -> StoreResult<CancelOutcome> {
        let table = &self.tables.orders;
        let mut cancel = Expr::new()
            .name(STATUS)
            .name(UPDATED_AT)
            .value(":cancelled", s(OrderStatus::Cancelled.as_str()))
            .value(":pending", s(OrderStatus::Pending.as_str()))
            .value(":now", n(now_ms));
        let mut set = "SET #status = :cancelled, #updatedAt = :now".to_string();
        if let Some(f) = failure {
            cancel = cancel.name(FAILURE).value(":failure", failure_to_attr(f));
            // The first recorded failure wins: a later compensation of the same order must not overwrite it.
            set.push_str(", #failure = if_not_exists(#failure, :failure)");
        }
        for _ in 0..MAX_ROUNDS {
            // Only PENDING may be cancelled: CONFIRMED is final, and naming the one status rather than
            // excluding others leaves an item with a status this code never writes untouched.
            let old = match self
                .update_order(order_id, &set, "#status = :pending", &cancel)
                .await?
            {
                OrderUpdate::Written(order) => return Ok(CancelOutcome::Cancelled(order)),
                OrderUpdate::Refused(old) => old,
                OrderUpdate::Absent => {
                    let tombstone = Order::tombstone(order_id, failure.cloned(), now_ms);
                    match self
                        .put_if_absent(table, ORDER_ID, order_to_item(&tombstone))
                        .await?
                    {
                        Insert::Written => return Ok(CancelOutcome::Tombstoned),
                        // The order was created meanwhile: cancel it in the next round.
                        Insert::Found(_) | Insert::Vanished => continue,
                    }
                }
            };
            match old.status {
                OrderStatus::Confirmed => return Ok(CancelOutcome::Confirmed(old)),
                // Written back to PENDING after the refusal (a create racing its tombstone); try again.
                OrderStatus::Pending => continue,
                OrderStatus::Cancelled => {}
            }
            let Some(f) = failure.filter(|_| old.failure.is_none()) else {
                return Ok(CancelOutcome::AlreadyCancelled(old));
            };
            let add = Expr::new()
                .name(ORDER_ID)
                .name(FAILURE)
                .value(":failure", failure_to_attr(f));
            let res = self
                .client
                .update_item()
                .table_name(table)
                .set_key(Some(key(ORDER_ID, order_id)))
                .update_expression("SET #failure = :failure")
                .condition_expression(
                    "attribute_exists(#orderId) AND attribute_not_exists(#failure)",
                )
                .set_expression_attribute_names(add.names())
                .set_expression_attribute_values(add.values())
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match res {
                Ok(out) => {
                    return Ok(CancelOutcome::AlreadyCancelled(order_from_item(
                        &out.attributes.unwrap_or_default(),
                    )?))
                }
                // Another compensation recorded its failure first; the next round reports it.
                Err(e) => {
                    update_refusal(&format!("UpdateItem {table}"), e)?;
                }
            }
        }
        Err(gave_up("cancelling an order"))
    }

    async fn orders_in_status(
        &self,
        status: OrderStatus,
        created_after_ms: i64,
        created_before_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<Order>> {
        if limit == 0 || created_after_ms >= created_before_ms {
            return Ok(Vec::new());
        }
        let table = &self.tables.orders;
        let expr = Expr::new()
            .name(STATUS)
            .name(CREATED_AT)
            .name(TOMBSTONE)
            .value(":status", s(status.as_str()))
            .value(":after", n(created_after_ms))
            // BETWEEN is inclusive at both ends; the window excludes its end.
            .value(":last", n(created_before_ms - 1))
            .value(":true", AttributeValue::Bool(true));
        let mut orders: Vec<Order> = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(table)
                .index_name(STATUS_CREATED_AT_INDEX)
                .key_condition_expression(
                    "#status = :status AND #createdAt BETWEEN :after AND :last",
                )
                .filter_expression("attribute_not_exists(#tombstone) OR #tombstone <> :true")
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .scan_index_forward(true)
                .set_limit(self.query_page_size)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable(&format!("Query {table}/{STATUS_CREATED_AT_INDEX}"), e))?;
            for item in page.items() {
                orders.push(order_from_item(item)?);
            }
            start = page.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                break;
            }
            // The index orders by createdAt only; orders sharing the cut-off's createdAt may still follow and
            // must be seen to break the tie by id as the embedded store does.
            if orders.len() >= limit
                && orders[limit - 1].created_at < orders[orders.len() - 1].created_at
            {
                break;
            }
        }
        orders.sort_by(|a, b| (a.created_at, &a.order_id).cmp(&(b.created_at, &b.order_id)));
        orders.truncate(limit);
        Ok(orders)
    }
}

#[async_trait]
impl InventoryStore for DynamoStore {
    async fn set_available(&self, sku: &str, available: u64) -> StoreResult<StockLevel> {
        let table = &self.tables.inventory;
        let expr = Expr::new()
            .name(AVAILABLE)
            .name(RESERVED)
            .value(":available", n(available))
            .value(":zero", n(0));
        for round in 0..MAX_ROUNDS {
            let res = self
                .client
                .update_item()
                .table_name(table)
                .set_key(Some(key(SKU, sku)))
                .update_expression(
                    "SET #available = :available, #reserved = if_not_exists(#reserved, :zero)",
                )
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match res {
                Ok(out) => return stock_from_item(&out.attributes.unwrap_or_default()),
                // A plain write to an item that a reserve or release transaction holds is refused rather than
                // queued; on a busy sku that is routine, so wait for the transaction instead of failing.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_transaction_conflict_exception()) =>
                {
                    backoff(round).await
                }
                Err(e) => return Err(unavailable(&format!("UpdateItem {table}"), e)),
            }
        }
        Err(gave_up("setting stock"))
    }

    async fn get_stock(&self, sku: &str) -> StoreResult<Option<StockLevel>> {
        self.get_stock_item(sku).await
    }

    async fn reserve(
        &self,
        order_id: &str,
        items: &[OrderLine],
        now_ms: i64,
    ) -> StoreResult<ReserveOutcome> {
        let skus = per_sku(items);
        check_transaction_size(order_id, skus.len())?;
        let reservation = Reservation {
            order_id: order_id.to_string(),
            status: ReservationStatus::Reserved,
            items: items.to_vec(),
            updated_at: now_ms,
        };
        let put = Put::builder()
            .table_name(&self.tables.reservations)
            .set_item(Some(reservation_to_item(&reservation)))
            .condition_expression("attribute_not_exists(#orderId)")
            .expression_attribute_names("#orderId", ORDER_ID)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_err)?;
        let mut actions = vec![TransactWriteItem::builder().put(put).build()];
        for (sku, q) in &skus {
            let expr = Expr::new()
                .name(SKU)
                .name(AVAILABLE)
                .name(RESERVED)
                .value(":q", n(q))
                .value(":zero", n(0));
            let update = Update::builder()
                .table_name(&self.tables.inventory)
                .set_key(Some(key(SKU, sku)))
                .update_expression(
                    "SET #available = #available - :q, #reserved = if_not_exists(#reserved, :zero) + :q",
                )
                // An unknown sku fails here too, rather than being created with a negative count.
                .condition_expression("attribute_exists(#sku) AND #available >= :q")
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(build_err)?;
            actions.push(TransactWriteItem::builder().update(update).build());
        }

        'round: for round in 0..MAX_ROUNDS {
            let res = self
                .client
                .transact_write_items()
                .set_transact_items(Some(actions.clone()))
                .send()
                .await;
            let err = match res {
                Ok(_) => return Ok(ReserveOutcome::Reserved),
                Err(e) => e,
            };
            let Some(TransactWriteItemsError::TransactionCanceledException(tc)) =
                err.as_service_error()
            else {
                return Err(unavailable("TransactWriteItems (reserve)", err));
            };
            let reasons = tc.cancellation_reasons();
            if reason_code(reasons, 0) == "ConditionalCheckFailed" {
                let old = reasons[0].item().cloned();
                match self
                    .found(old, &self.tables.reservations, ORDER_ID, order_id)
                    .await?
                {
                    Some(item) => {
                        return Ok(match reservation_from_item(&item)?.status {
                            ReservationStatus::Reserved => ReserveOutcome::AlreadyReserved,
                            ReservationStatus::Released => ReserveOutcome::Released,
                        })
                    }
                    None => continue 'round,
                }
            }
            for (i, (sku, requested)) in skus.iter().enumerate() {
                if reason_code(reasons, i + 1) != "ConditionalCheckFailed" {
                    continue;
                }
                let level = match reasons[i + 1].item() {
                    Some(old) if !old.is_empty() => Some(stock_from_item(old)?),
                    _ => self.get_stock_item(sku).await?,
                };
                let available = level.map_or(0, |l| l.available);
                if available >= *requested {
                    // Stock arrived between the refusal and our read; the next round may succeed.
                    continue 'round;
                }
                return Ok(ReserveOutcome::Insufficient {
                    sku: sku.clone(),
                    requested: *requested,
                    available,
                });
            }
            self.diagnose(reasons, order_id, &skus).await?;
            other_cancellation(reasons)?;
            backoff(round).await;
        }
        Err(gave_up("reserving stock"))
    }

    async fn release(&self, order_id: &str, now_ms: i64) -> StoreResult<ReleaseOutcome> {
        let table = &self.tables.reservations;
        // Skus whose `reserved` count turned out smaller than the reservation: clamped at zero as the embedded
        // store does, so that a compensation always completes even over hand-edited stock.
        let mut clamp: Vec<String> = Vec::new();
        for round in 0..MAX_ROUNDS {
            let Some(res) = self.get_reservation_item(order_id).await? else {
                let tombstone = Reservation {
                    order_id: order_id.to_string(),
                    status: ReservationStatus::Released,
                    items: Vec::new(),
                    updated_at: now_ms,
                };
                match self
                    .put_if_absent(table, ORDER_ID, reservation_to_item(&tombstone))
                    .await?
                {
                    Insert::Written => return Ok(ReleaseOutcome::Tombstoned),
                    // A reserve landed meanwhile: release it in the next round.
                    Insert::Found(_) | Insert::Vanished => continue,
                }
            };
            if res.status == ReservationStatus::Released {
                return Ok(ReleaseOutcome::AlreadyReleased);
            }
            let skus = per_sku(&res.items);
            check_transaction_size(order_id, skus.len())?;

            let expr = Expr::new()
                .name(STATUS)
                .name(UPDATED_AT)
                .value(":released", s("RELEASED"))
                .value(":reserved", s("RESERVED"))
                .value(":now", n(now_ms));
            let update = Update::builder()
                .table_name(table)
                .set_key(Some(key(ORDER_ID, order_id)))
                .update_expression("SET #status = :released, #updatedAt = :now")
                .condition_expression("#status = :reserved")
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .build()
                .map_err(build_err)?;
            let mut actions = vec![TransactWriteItem::builder().update(update).build()];
            for (sku, q) in &skus {
                let expr = Expr::new()
                    .name(AVAILABLE)
                    .name(RESERVED)
                    .value(":q", n(q))
                    .value(":zero", n(0));
                let (set, cond) = if clamp.contains(sku) {
                    (
                        "SET #available = if_not_exists(#available, :zero) + :q, #reserved = :zero",
                        "attribute_not_exists(#reserved) OR #reserved < :q",
                    )
                } else {
                    (
                        "SET #available = if_not_exists(#available, :zero) + :q, #reserved = #reserved - :q",
                        "#reserved >= :q",
                    )
                };
                let update = Update::builder()
                    .table_name(&self.tables.inventory)
                    .set_key(Some(key(SKU, sku)))
                    .update_expression(set)
                    .condition_expression(cond)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build_err)?;
                actions.push(TransactWriteItem::builder().update(update).build());
            }

            let err = match self
                .client
                .transact_write_items()
                .set_transact_items(Some(actions))
                .send()
                .await
            {
                Ok(_) => return Ok(ReleaseOutcome::Released),
                Err(e) => e,
            };
            let Some(TransactWriteItemsError::TransactionCanceledException(tc)) =
                err.as_service_error()
            else {
                return Err(unavailable("TransactWriteItems (release)", err));
            };
            let reasons = tc.cancellation_reasons();
            // The reservation changed under us (another release won): the next round reads what it did.
            if reason_code(reasons, 0) == "ConditionalCheckFailed" {
                continue;
            }
            let mut refused_sku = false;
            for (i, (sku, _)) in skus.iter().enumerate() {
                if reason_code(reasons, i + 1) == "ConditionalCheckFailed" {
                    refused_sku = true;
                    if let Some(pos) = clamp.iter().position(|c| c == sku) {
                        // `reserved` grew back meanwhile; go back to subtracting.
                        clamp.swap_remove(pos);
                    } else {
                        clamp.push(sku.clone());
                    }
                }
            }
            if !refused_sku {
                self.diagnose(reasons, order_id, &skus).await?;
                other_cancellation(reasons)?;
                backoff(round).await;
            }
        }
        Err(gave_up("releasing stock"))
    }

    async fn get_reservation(&self, order_id: &str) -> StoreResult<Option<Reservation>> {
        self.get_reservation_item(order_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_skus_merge_in_first_seen_order() {
        let l = |sku: &str, quantity| OrderLine {
            sku: sku.into(),
            quantity,
        };
        assert_eq!(
            per_sku(&[l("b", 1), l("a", 2), l("b", u32::MAX)]),
            vec![("b".into(), 1 + u64::from(u32::MAX)), ("a".into(), 2)]
        );
    }

    #[test]
    fn transaction_size_is_capped() {
        assert!(check_transaction_size("o", saga_domain::validate::MAX_ITEMS).is_ok());
        assert!(check_transaction_size("o", MAX_TRANSACT_ITEMS - 1).is_ok());
        assert!(matches!(
            check_transaction_size("o", MAX_TRANSACT_ITEMS),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn tables_come_from_prefix_or_environment() {
        let t = Tables::with_prefix("p");
        assert_eq!(
            (t.orders.as_str(), t.idempotency.as_str()),
            ("p-orders", "p-idempotency")
        );
        // Only the absence check runs here: setting variables would race with other tests in this process.
        if std::env::var_os("ORDERS_TABLE").is_none() {
            assert_eq!(Tables::from_env(), Err(MissingEnvVar("ORDERS_TABLE")));
        }
    }

    #[test]
    fn cancellations_other_than_conflicts_are_not_retried() {
        let reason = |code: &str| CancellationReason::builder().code(code).build();
        assert!(other_cancellation(&[reason("None"), reason("TransactionConflict")]).is_ok());
        assert!(matches!(
            other_cancellation(&[reason("ValidationError")]),
            Err(StoreError::Unavailable(m)) if m.contains("ValidationError")
        ));
    }
}
