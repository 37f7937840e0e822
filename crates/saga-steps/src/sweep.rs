//! The backstop for executions that ended without finishing their compensation (lost, timed out, or unable to
//! queue a repair). Once an order is older than the workflow's maximum duration no execution can still be
//! working on it, so an order still PENDING was abandoned halfway: the saga neither confirmed nor cancelled it.
//! The sweeper runs the repair worker's compensation chain on it: fence, release, cancel; if the fence finds
//! that a confirm landed after all, the order is CONFIRMED, which is final, and is left as it is.
//!
//! PENDING is the only state to look at because confirmation is the point of no return: compensation fences
//! the order before it releases anything, so no CONFIRMED order can have had its stock released.

use crate::compensation::{self, Settled};
use crate::{cancel_order, release_stock};
use saga_domain::{Failure, StepError};
use saga_store::{InventoryStore, OrderStore};

/// The failure recorded on a swept order; a replay of its Idempotency-Key answers with it.
pub const ABANDONED: &str = "Saga.Abandoned";

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Fenced, released and cancelled.
    pub compensated: Vec<String>,
    /// Found confirmed by the fence (a confirm landed before it), left as they are.
    pub confirmed: Vec<String>,
}

fn abandoned(order_id: &str) -> Failure {
    Failure {
        error: ABANDONED.into(),
        cause: serde_json::json!({
            "errorType": ABANDONED,
            "errorMessage": format!(
                "order {order_id} was left PENDING by an execution that ended without finishing; the order sweeper compensated it"
            ),
        })
        .to_string(),
    }
}

/// The exclusive `created_before_ms` bound for orders at least `older_than_ms` old at `now_ms`. Inclusive of an
/// order exactly that old, so that an age of zero also takes one created this very millisecond.
pub fn created_before(now_ms: i64, older_than_ms: i64) -> i64 {
    now_ms - older_than_ms + 1
}

/// Settles up to `limit` orders still PENDING that were created before `created_before_ms`, oldest first.
pub async fn sweep(
    orders: &dyn OrderStore,
    inventory: &dyn InventoryStore,
    created_before_ms: i64,
    limit: usize,
) -> Result<SweepReport, StepError> {
    let mut report = SweepReport::default();
    for order in orders
        .orders_in_status(
            saga_domain::OrderStatus::Pending,
            i64::MIN,
            created_before_ms,
            limit,
        )
        .await?
    {
        let id = order.order_id;
        match compensation::compensate(orders, inventory, &id, Some(&abandoned(&id))).await? {
            Settled::Confirmed => {
                tracing::info!(order_id = %id, created_at = order.created_at, "swept an abandoned order and found it confirmed");
                report.confirmed.push(id);
            }
            Settled::Compensated { release, cancel } => {
                tracing::info!(order_id = %id, created_at = order.created_at, release = release_stock::label(&release), cancel = cancel_order::label(&cancel), "swept an abandoned order");
                report.compensated.push(id);
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_domain::{Order, OrderLine, OrderStatus};
    use saga_store::memory::MemoryStore;

    #[tokio::test]
    async fn compensates_only_stale_pending_orders() {
        let s = MemoryStore::new();
        s.set_available("a", 5).await.unwrap();
        for (id, created) in [("old", 100), ("new", 10_000)] {
            s.put_order_if_absent(&Order::pending(
                id,
                "c",
                vec![OrderLine {
                    sku: "a".into(),
                    quantity: 1,
                }],
                created,
            ))
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
