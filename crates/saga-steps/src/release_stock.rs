//! Compensation for step B: give back whatever the order reserved. Safe to run any number of times, and
//! before a reservation that is still in flight: it then leaves a tombstone that refuses that reservation.

use saga_domain::events::{OrderStepInput, StepOutput};
use saga_domain::faults::StepContext;
use saga_domain::{Step, StepError};
use saga_store::{InventoryStore, ReleaseOutcome};

pub async fn handle(
    store: &dyn InventoryStore,
    input: OrderStepInput,
    ctx: &StepContext,
) -> Result<StepOutput, StepError> {
    crate::rehearse(Step::ReleaseStock, &input.rehearsal, ctx, || async {
        let outcome = release(store, &input.order_id).await?;
        Ok(StepOutput {
            order_id: input.order_id.clone(),
            outcome: label(&outcome).into(),
        })
    })
    .await
}

/// The compensation itself, without fault injection: the compensation chain calls this.
pub async fn release(
    store: &dyn InventoryStore,
    order_id: &str,
) -> Result<ReleaseOutcome, StepError> {
    Ok(store.release(order_id, saga_domain::now_ms()).await?)
}

/// The outcome as the workflow sees it in the step's output.
pub fn label(outcome: &ReleaseOutcome) -> &'static str {
    match outcome {
        ReleaseOutcome::Released => "released",
        ReleaseOutcome::AlreadyReleased => "already-released",
        ReleaseOutcome::Tombstoned => "tombstoned",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_domain::events::Rehearsal;
    use saga_store::memory::MemoryStore;

    #[tokio::test]
    async fn releases_once_and_tombstones_the_unknown() {
        let s = MemoryStore::with_reservation("a", 5, "o1", 2)
            .await
            .unwrap();
        let input = |id: &str| OrderStepInput {
            order_id: id.into(),
            rehearsal: Rehearsal::default(),
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
