//! The backstop for executions that ended without compensating (lost, timed out, or unable to queue a repair):
//! an order still PENDING well after the workflow's maximum duration has no execution left that could finish
//! it, so the sweeper compensates it.

use saga_domain::{Failure, OrderStatus, StepError};
use saga_store::{InventoryStore, OrderStore};

/// The failure recorded on a swept order; a replay of its Idempotency-Key answers with it.
pub const ABANDONED: &str = "Saga.Abandoned";

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub compensated: Vec<String>,
}

/// Compensates up to `limit` orders that were created before `created_before_ms` and are still PENDING.
pub async fn sweep(
    orders: &dyn OrderStore,
    inventory: &dyn InventoryStore,
    created_before_ms: i64,
    limit: usize,
) -> Result<SweepReport, StepError> {
    let mut report = SweepReport::default();
    for order in orders
        .orders_in_status(OrderStatus::Pending, created_before_ms, limit)
        .await?
    {
        let failure = Failure {
            error: ABANDONED.into(),
            cause: serde_json::json!({
                "errorType": ABANDONED,
                "errorMessage": format!(
                    "order {} was left PENDING by an execution that ended without finishing; it was compensated by the order sweeper",
                    order.order_id
                ),
            })
            .to_string(),
        };
        release_stock::release(inventory, &order.order_id).await?;
        cancel_order::cancel(orders, &order.order_id, Some(&failure)).await?;
        tracing::info!(order_id = %order.order_id, created_at = order.created_at, "swept an abandoned order");
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
        let r = sweep(&s, &s, 5_000, 100).await.unwrap();
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
}
