//! The records both systems keep. Field names are the JSON (and DynamoDB attribute) names.

use serde::{Deserialize, Serialize};

/// The body of `POST /orders`, once it has passed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderRequest {
    pub customer_id: String,
    pub items: Vec<OrderLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    pub sku: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "PENDING",
            OrderStatus::Confirmed => "CONFIRMED",
            OrderStatus::Cancelled => "CANCELLED",
        }
    }
}

/// Why a saga failed, as Step Functions hands it to a `Catch`: `{"Error": …, "Cause": …}`.
/// Stored on a cancelled order so that a replay of its Idempotency-Key answers as the original did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

/// System A's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_id: String,
    pub status: OrderStatus,
    /// Empty on a tombstone.
    #[serde(default)]
    pub customer_id: String,
    #[serde(default)]
    pub items: Vec<OrderLine>,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// True when a compensation cancelled an id that was never created: the record exists only so that a
    /// forward step landing late cannot bring the order to life.
    #[serde(default)]
    pub tombstone: bool,
    /// Set by the compensation of `ConfirmOrder` (`fence-order`) on a PENDING order: from then on no confirm can
    /// land, so the compensation may release the stock and cancel without racing a late confirm. CONFIRMED is
    /// final; this flag is what makes it so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fenced: bool,
}

impl Order {
    /// A new PENDING order, as `create-order` writes it before binding a key or hashing a request.
    pub fn pending(order_id: &str, customer_id: &str, items: Vec<OrderLine>, now_ms: i64) -> Self {
        Self {
            order_id: order_id.to_string(),
            status: OrderStatus::Pending,
            customer_id: customer_id.to_string(),
            items,
            created_at: now_ms,
            updated_at: now_ms,
            idempotency_key: None,
            request_hash: None,
            failure: None,
            tombstone: false,
            fenced: false,
        }
    }

    /// The CANCELLED record a compensation leaves for an id that was never created, so that a create landing
    /// late finds it and cannot bring the order to life.
    pub fn tombstone(order_id: &str, failure: Option<Failure>, now_ms: i64) -> Self {
        Self {
            order_id: order_id.to_string(),
            status: OrderStatus::Cancelled,
            customer_id: String::new(),
            items: Vec::new(),
            created_at: now_ms,
            updated_at: now_ms,
            idempotency_key: None,
            request_hash: None,
            failure,
            tombstone: true,
            fenced: false,
        }
    }
}

/// System B's per-sku counters. `available + reserved` only changes through `PUT /inventory/{sku}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockLevel {
    pub sku: String,
    pub available: u64,
    pub reserved: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    Reserved,
    /// Released by a compensation, or a tombstone written by a release that found nothing to release.
    Released,
}

/// System B's record of what one order holds; keyed by order id, which makes reserve and release idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    pub order_id: String,
    pub status: ReservationStatus,
    pub items: Vec<OrderLine>,
    pub updated_at: i64,
}
