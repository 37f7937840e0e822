//! Finishes compensations the workflow could not: for each repair message, release the order's stock, then
//! cancel the order. Both are idempotent, so a message delivered twice, or one whose compensation partly ran,
//! converges to the same end state.

use saga_domain::events::RepairRequest;
use saga_domain::StepError;
use saga_store::{InventoryStore, OrderStore};

/// Completes one repair. An error leaves the message for redelivery (SQS) or a later retry (local queue).
pub async fn repair(
    orders: &dyn OrderStore,
    inventory: &dyn InventoryStore,
    request: &RepairRequest,
) -> Result<(), StepError> {
    let released = release_stock::release(inventory, &request.order_id).await?;
    let cancelled =
        cancel_order::cancel(orders, &request.order_id, request.failure.as_ref()).await?;
    tracing::info!(
        order_id = %request.order_id,
        execution_id = request.execution_id.as_deref().unwrap_or(""),
        release = %released.outcome,
        cancel = %cancelled.outcome,
        "repaired a failed compensation"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_domain::{Failure, OrderLine, OrderStatus};
    use saga_store::memory::MemoryStore;

    #[tokio::test]
    async fn converges_even_when_delivered_twice() {
        let s = MemoryStore::new();
        s.set_available("a", 3).await.unwrap();
        s.reserve(
            "o1",
            &[OrderLine {
                sku: "a".into(),
                quantity: 2,
            }],
            1,
        )
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
}
