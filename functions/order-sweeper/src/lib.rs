//! The backstop for executions that ended without finishing their compensation (lost, timed out, or unable to
//! queue a repair). Once an order is older than the workflow's maximum duration no execution can still be
//! working on it, so two states are known to be abandoned halfway:
//!
//! - still PENDING: the saga neither confirmed nor cancelled it; the sweeper compensates it;
//! - CONFIRMED while its reservation is released (or was never made): a compensation released the stock and was
//!   cut off before it could cancel the order; the sweeper finishes it by cancelling.
//!
//! The second needs a bounded look-back, since confirmed orders are the normal case and accumulate forever; an
//! order is examined on every pass while its creation time is inside the window.

use saga_domain::{Failure, Order, OrderStatus, ReservationStatus, StepError};
use saga_store::{InventoryStore, OrderStore};

/// The failure recorded on a swept order; a replay of its Idempotency-Key answers with it.
pub const ABANDONED: &str = "Saga.Abandoned";

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub compensated: Vec<String>,
}

/// Which orders a pass looks at: PENDING ones created before `created_before_ms`, and CONFIRMED ones created in
/// `[confirmed_after_ms, created_before_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub created_before_ms: i64,
    pub confirmed_after_ms: i64,
}

impl Window {
    /// Orders older than `older_than_ms`, looking back `lookback_ms` further for half-compensated confirmed ones.
    pub fn ending(now_ms: i64, older_than_ms: i64, lookback_ms: i64) -> Self {
        let created_before_ms = now_ms - older_than_ms;
        Self {
            created_before_ms,
            confirmed_after_ms: created_before_ms - lookback_ms,
        }
    }
}

fn abandoned(order_id: &str, how: &str) -> Failure {
    Failure {
        error: ABANDONED.into(),
        cause: serde_json::json!({
            "errorType": ABANDONED,
            "errorMessage": format!(
                "order {order_id} was {how} by an execution that ended without finishing; the order sweeper compensated it"
            ),
        })
        .to_string(),
    }
}

async fn compensate(
    orders: &dyn OrderStore,
    inventory: &dyn InventoryStore,
    order: &Order,
    how: &str,
) -> Result<(), StepError> {
    release_stock::release(inventory, &order.order_id).await?;
    cancel_order::cancel(
        orders,
        &order.order_id,
        Some(&abandoned(&order.order_id, how)),
    )
    .await?;
    tracing::info!(order_id = %order.order_id, created_at = order.created_at, how, "swept an abandoned order");
    Ok(())
}

/// Compensates up to `limit` abandoned orders of each kind in `window`.
pub async fn sweep(
    orders: &dyn OrderStore,
    inventory: &dyn InventoryStore,
    window: Window,
    limit: usize,
) -> Result<SweepReport, StepError> {
    let mut report = SweepReport::default();
    for order in orders
        .orders_in_status(
            OrderStatus::Pending,
            i64::MIN,
            window.created_before_ms,
            limit,
        )
        .await?
    {
        compensate(orders, inventory, &order, "left PENDING").await?;
        report.compensated.push(order.order_id);
    }
    for order in orders
        .orders_in_status(
            OrderStatus::Confirmed,
            window.confirmed_after_ms,
            window.created_before_ms,
            limit,
        )
        .await?
    {
        let held = inventory.get_reservation(&order.order_id).await?;
        if held.is_some_and(|r| r.status == ReservationStatus::Reserved) {
            continue;
        }
        compensate(
            orders,
            inventory,
            &order,
            "confirmed, then had its stock released",
        )
        .await?;
        report.compensated.push(order.order_id);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_domain::{Order, OrderLine};
    use saga_store::memory::MemoryStore;

    #[tokio::test]
    async fn compensates_only_stale_pending_orders() {
        let s = MemoryStore::new();
        s.set_available("a", 5).await.unwrap();
        for (id, created) in [("old", 100), ("new", 10_000)] {
            s.put_order_if_absent(&Order {
                order_id: id.into(),
                status: OrderStatus::Pending,
                customer_id: "c".into(),
                items: vec![OrderLine {
                    sku: "a".into(),
                    quantity: 1,
                }],
                created_at: created,
                updated_at: created,
                idempotency_key: None,
                request_hash: None,
                failure: None,
                tombstone: false,
            })
            .await
            .unwrap();
            s.reserve(
                id,
                &[OrderLine {
                    sku: "a".into(),
                    quantity: 1,
                }],
                created,
            )
            .await
            .unwrap();
        }
        let r = sweep(&s, &s, Window::ending(6_000, 1_000, 10_000), 100)
            .await
            .unwrap();
        assert_eq!(r.compensated, vec!["old".to_string()]);
        let old = s.get_order("old").await.unwrap().unwrap();
        assert_eq!(old.status, OrderStatus::Cancelled);
        assert_eq!(old.failure.unwrap().error, ABANDONED);
        assert_eq!(
            s.get_order("new").await.unwrap().unwrap().status,
            OrderStatus::Pending
        );
        let l = s.get_stock("a").await.unwrap().unwrap();
        assert_eq!((l.available, l.reserved), (4, 1));
    }

    #[tokio::test]
    async fn finishes_a_confirmed_order_whose_stock_was_released() {
        let s = MemoryStore::new();
        s.set_available("a", 5).await.unwrap();
        for id in ["half-undone", "sound"] {
            s.put_order_if_absent(&Order {
                order_id: id.into(),
                status: OrderStatus::Pending,
                customer_id: "c".into(),
                items: vec![OrderLine {
                    sku: "a".into(),
                    quantity: 2,
                }],
                created_at: 100,
                updated_at: 100,
                idempotency_key: None,
                request_hash: None,
                failure: None,
                tombstone: false,
            })
            .await
            .unwrap();
            s.reserve(
                id,
                &[OrderLine {
                    sku: "a".into(),
                    quantity: 2,
                }],
                100,
            )
            .await
            .unwrap();
            s.confirm_order(id, 101).await.unwrap();
        }
        // The compensation released the stock, then its execution was lost before cancel-order.
        s.release("half-undone", 102).await.unwrap();
        let outside = sweep(&s, &s, Window::ending(10_000, 1_000, 1_000), 100)
            .await
            .unwrap();
        assert!(
            outside.compensated.is_empty(),
            "only orders inside the look-back are examined"
        );
        let r = sweep(&s, &s, Window::ending(10_000, 1_000, 100_000), 100)
            .await
            .unwrap();
        assert_eq!(r.compensated, vec!["half-undone".to_string()]);
        assert_eq!(
            s.get_order("half-undone").await.unwrap().unwrap().status,
            OrderStatus::Cancelled
        );
        assert_eq!(
            s.get_order("sound").await.unwrap().unwrap().status,
            OrderStatus::Confirmed
        );
        let l = s.get_stock("a").await.unwrap().unwrap();
        assert_eq!((l.available, l.reserved), (3, 2));
    }
}
