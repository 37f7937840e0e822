//! Step B of the order saga: reserve every line's stock, all or nothing, once per order id.

use saga_domain::events::{ReserveStockInput, StepOutput};
use saga_domain::faults::StepContext;
use saga_domain::{Step, StepError};
use saga_store::{InventoryStore, ReserveOutcome};

pub async fn handle(
    store: &dyn InventoryStore,
    input: ReserveStockInput,
    ctx: &StepContext,
) -> Result<StepOutput, StepError> {
    if input.items.is_empty() {
        return Err(StepError::ValidationFailed(
            "an order must hold at least one line".into(),
        ));
    }
    crate::rehearse(Step::ReserveStock, &input.rehearsal, ctx, || async {
        let outcome = match store
            .reserve(&input.order_id, &input.items, saga_domain::now_ms())
            .await?
        {
            ReserveOutcome::Reserved => "reserved",
            ReserveOutcome::AlreadyReserved => "already-reserved",
            // The release tombstone says a compensation ran first: this reservation is landing late.
            ReserveOutcome::Released => {
                return Err(StepError::OrderCancelled(input.order_id.clone()))
            }
            ReserveOutcome::Insufficient {
                sku,
                requested,
                available,
            } => {
                return Err(StepError::InsufficientStock {
                    sku,
                    requested,
                    available,
                })
            }
        };
        Ok(StepOutput {
            order_id: input.order_id.clone(),
            outcome: outcome.into(),
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_domain::events::Rehearsal;
    use saga_domain::OrderLine;
    use saga_store::memory::MemoryStore;

    fn input(order_id: &str, q: u32, faults: Option<&str>) -> ReserveStockInput {
        ReserveStockInput {
            order_id: order_id.into(),
            items: vec![OrderLine {
                sku: "a".into(),
                quantity: q,
            }],
            rehearsal: Rehearsal {
                faults: faults.map(Into::into),
                attempt: 0,
            },
        }
    }

    #[tokio::test]
    async fn reserves_once() {
        let s = MemoryStore::new();
        s.set_available("a", 5).await.unwrap();
        let ctx = StepContext::default();
        assert_eq!(
            handle(&s, input("o1", 2, None), &ctx)
                .await
                .unwrap()
                .outcome,
            "reserved"
        );
        assert_eq!(
            handle(&s, input("o1", 2, None), &ctx)
                .await
                .unwrap()
                .outcome,
            "already-reserved"
        );
        let l = s.get_stock("a").await.unwrap().unwrap();
        assert_eq!((l.available, l.reserved), (3, 2));
    }

    #[tokio::test]
    async fn refuses_what_is_not_there() {
        let s = MemoryStore::new();
        s.set_available("a", 1).await.unwrap();
        let e = handle(&s, input("o1", 2, None), &StepContext::default())
            .await
            .unwrap_err();
        assert_eq!(e.error_type(), "Saga.InsufficientStock");
    }

    #[tokio::test]
    async fn a_late_reservation_after_release_is_refused() {
        let s = MemoryStore::new();
        s.set_available("a", 5).await.unwrap();
        s.release("o1", 1).await.unwrap();
        let e = handle(&s, input("o1", 2, None), &StepContext::default())
            .await
            .unwrap_err();
        assert_eq!(e.error_type(), "Saga.OrderCancelled");
        assert_eq!(s.get_stock("a").await.unwrap().unwrap().reserved, 0);
    }

    #[tokio::test]
    async fn error_after_commit_reserves_then_fails() {
        let s = MemoryStore::new();
        s.set_available("a", 5).await.unwrap();
        let e = handle(
            &s,
            input("o1", 2, Some("reserve-stock=error-after-commit")),
            &StepContext::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(e.error_type(), "Saga.Transient");
        assert_eq!(s.get_stock("a").await.unwrap().unwrap().reserved, 2);
    }
}
