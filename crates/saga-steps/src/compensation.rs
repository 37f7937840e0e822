//! Finishes compensations the workflow could not. A repair message does not say how far the compensation got,
//! so every repair runs the whole chain in the workflow's order ([`compensate`]): fence the order (a CONFIRMED
//! order is final, so the saga succeeded and nothing is undone), release its stock, cancel it. Every step is
//! idempotent, so a message delivered twice, or one whose compensation partly ran, converges to the same end.

use saga_domain::events::RepairRequest;
use saga_domain::{Failure, StepError};
use saga_store::{CancelOutcome, FenceOutcome, InventoryStore, OrderStore, ReleaseOutcome};

use crate::{cancel_order, fence_order, release_stock};

/// Where a compensation run outside the workflow left the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The confirm had landed before the fence: the order stays CONFIRMED with its stock reserved.
    Confirmed,
    /// Fenced, released and cancelled, with what the release and the cancel found (the cancel boxed: it
    /// carries the order, and `Confirmed` carries nothing).
    Compensated {
        release: ReleaseOutcome,
        cancel: Box<CancelOutcome>,
    },
}

/// The compensation chain for a saga whose progress is unknown (the repair worker's and the sweeper's case).
pub async fn compensate(
    orders: &dyn OrderStore,
    inventory: &dyn InventoryStore,
    order_id: &str,
    failure: Option<&Failure>,
) -> Result<Settled, StepError> {
    if let FenceOutcome::Confirmed(_) = fence_order::fence(orders, order_id).await? {
        return Ok(Settled::Confirmed);
    }
    let release = release_stock::release(inventory, order_id).await?;
    let cancel = Box::new(cancel_order::cancel(orders, order_id, failure).await?);
    Ok(Settled::Compensated { release, cancel })
}

/// Completes one repair. An error leaves the message for redelivery (SQS) or a later retry (local queue).
pub async fn repair(
    orders: &dyn OrderStore,
    inventory: &dyn InventoryStore,
    request: &RepairRequest,
) -> Result<(), StepError> {
    let settled = compensate(
        orders,
        inventory,
        &request.order_id,
        request.failure.as_ref(),
    )
    .await?;
    let execution_id = request.execution_id.as_deref().unwrap_or("");
    match settled {
        Settled::Confirmed => tracing::info!(
            order_id = %request.order_id,
            execution_id,
            "repair found the order confirmed; confirmation is final, nothing to undo"
        ),
        Settled::Compensated { release, cancel } => tracing::info!(
            order_id = %request.order_id,
            execution_id,
            release = release_stock::label(&release),
            cancel = cancel_order::label(&cancel),
            "repaired a failed compensation"
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_domain::{Failure, Order, OrderLine, OrderStatus};
    use saga_store::memory::MemoryStore;

    #[tokio::test]
    async fn converges_even_when_delivered_twice() {
        let s = MemoryStore::with_reservation("a", 3, "o1", 2)
            .await
            .unwrap();
        let req = RepairRequest {
            order_id: "o1".into(),
            failure: Some(Failure {
                error: "Saga.InsufficientStock".into(),
                cause: "{}".into(),
            }),
            compensation_failure: None,
            execution_id: None,
        };
        repair(&s, &s, &req).await.unwrap();
        repair(&s, &s, &req).await.unwrap();
        let l = s.get_stock("a").await.unwrap().unwrap();
        assert_eq!((l.available, l.reserved), (3, 0));
        assert_eq!(
            s.get_order("o1").await.unwrap().unwrap().status,
            OrderStatus::Cancelled
        );
    }

    #[tokio::test]
    async fn a_confirmed_order_is_final_and_keeps_its_stock() {
        let s = MemoryStore::new();
        s.set_available("a", 3).await.unwrap();
        let items = [OrderLine {
            sku: "a".into(),
            quantity: 2,
        }];
        s.put_order_if_absent(&Order::pending("o1", "c", items.to_vec(), 1))
            .await
            .unwrap();
        s.reserve("o1", &items, 1).await.unwrap();
        s.confirm_order("o1", 2).await.unwrap();
        assert_eq!(
            compensate(&s, &s, "o1", None).await.unwrap(),
            Settled::Confirmed
        );
        let l = s.get_stock("a").await.unwrap().unwrap();
        assert_eq!((l.available, l.reserved), (1, 2));
        assert_eq!(
            s.get_order("o1").await.unwrap().unwrap().status,
            OrderStatus::Confirmed
        );
    }
}
