//! Compensation for step B: give back whatever the order reserved. Safe to run any number of times, and
//! before a reservation that is still in flight: it then leaves a tombstone that refuses that reservation.

use saga_domain::events::{OrderStepInput, StepOutput};
use saga_domain::faults::{run_step, StepContext};
use saga_domain::{FaultPlan, Step, StepError};
use saga_store::{InventoryStore, ReleaseOutcome};

pub async fn handle(
    store: &dyn InventoryStore,
    input: OrderStepInput,
    ctx: &StepContext,
) -> Result<StepOutput, StepError> {
    let plan = FaultPlan::parse(input.faults.as_deref())
        .map_err(|e| StepError::ValidationFailed(e.to_string()))?;
    run_step(Step::ReleaseStock, &plan, input.attempt, ctx, || {
        release(store, &input.order_id)
    })
    .await
}

/// The compensation itself, without fault injection: the repair worker and the sweeper call this.
pub async fn release(store: &dyn InventoryStore, order_id: &str) -> Result<StepOutput, StepError> {
    let outcome = match store.release(order_id, saga_domain::now_ms()).await? {
        ReleaseOutcome::Released => "released",
        ReleaseOutcome::AlreadyReleased => "already-released",
        ReleaseOutcome::Tombstoned => "tombstoned",
    };
    Ok(StepOutput {
        order_id: order_id.to_string(),
        outcome: outcome.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_domain::OrderLine;
    use saga_store::memory::MemoryStore;

    #[tokio::test]
    async fn releases_once_and_tombstones_the_unknown() {
        let s = MemoryStore::new();
        s.set_available("a", 5).await.unwrap();
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
        let input = |id: &str| OrderStepInput {
            order_id: id.into(),
            faults: None,
            attempt: 0,
        };
        let ctx = StepContext::default();
        assert_eq!(
            handle(&s, input("o1"), &ctx).await.unwrap().outcome,
            "released"
        );
        assert_eq!(
            handle(&s, input("o1"), &ctx).await.unwrap().outcome,
            "already-released"
        );
        assert_eq!(
            handle(&s, input("o2"), &ctx).await.unwrap().outcome,
            "tombstoned"
        );
        let l = s.get_stock("a").await.unwrap().unwrap();
        assert_eq!((l.available, l.reserved), (5, 0));
    }
}
