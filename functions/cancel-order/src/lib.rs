//! Compensation for step A: cancel the order, recording why, so that a replay of its Idempotency-Key answers
//! with the same failure. An id that was never written becomes a tombstone, which a create landing late respects.
//! A CONFIRMED order is refused with `Saga.OrderConfirmed`: the workflow only cancels after `fence-order` made
//! sure no confirm can land, so reaching that error means a caller skipped the fence.

use saga_domain::events::{CancelOrderInput, StepOutput};
use saga_domain::faults::{run_step, StepContext};
use saga_domain::{Failure, FaultPlan, Step, StepError};
use saga_store::{CancelOutcome, OrderStore};

pub async fn handle(
    store: &dyn OrderStore,
    input: CancelOrderInput,
    ctx: &StepContext,
) -> Result<StepOutput, StepError> {
    let plan = FaultPlan::parse(input.faults.as_deref())
        .map_err(|e| StepError::ValidationFailed(e.to_string()))?;
    run_step(Step::CancelOrder, &plan, input.attempt, ctx, || {
        cancel(store, &input.order_id, input.failure.as_ref())
    })
    .await
}

/// The compensation itself, without fault injection: the repair worker and the sweeper call this.
pub async fn cancel(
    store: &dyn OrderStore,
    order_id: &str,
    failure: Option<&Failure>,
) -> Result<StepOutput, StepError> {
    let outcome = match store
        .cancel_order(order_id, failure, saga_domain::now_ms())
        .await?
    {
        CancelOutcome::Cancelled(_) => "cancelled",
        CancelOutcome::AlreadyCancelled(_) => "already-cancelled",
        CancelOutcome::Tombstoned => "tombstoned",
        CancelOutcome::Confirmed(_) => return Err(StepError::OrderConfirmed(order_id.to_string())),
    };
    Ok(StepOutput {
        order_id: order_id.to_string(),
        outcome: outcome.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_domain::OrderStatus;
    use saga_store::memory::MemoryStore;

    #[tokio::test]
    async fn cancels_idempotently_and_keeps_the_first_reason() {
        let s = MemoryStore::new();
        let f = Failure {
            error: "States.Timeout".into(),
            cause: String::new(),
        };
        let input = |failure: Option<Failure>| CancelOrderInput {
            order_id: "o1".into(),
            failure,
            faults: None,
            attempt: 0,
        };
        let ctx = StepContext::default();
        assert_eq!(
            handle(&s, input(Some(f.clone())), &ctx)
                .await
                .unwrap()
                .outcome,
            "tombstoned"
        );
        assert_eq!(
            handle(&s, input(None), &ctx).await.unwrap().outcome,
            "already-cancelled"
        );
        let o = s.get_order("o1").await.unwrap().unwrap();
        assert_eq!((o.status, o.failure), (OrderStatus::Cancelled, Some(f)));
    }

    #[tokio::test]
    async fn refuses_a_confirmed_order() {
        let s = MemoryStore::new();
        s.put_order_if_absent(&saga_domain::Order {
            status: OrderStatus::Confirmed,
            ..saga_domain::Order::pending("o1", "c", vec![], 1)
        })
        .await
        .unwrap();
        let e = cancel(&s, "o1", None).await.unwrap_err();
        assert_eq!(e.error_type(), "Saga.OrderConfirmed");
        assert_eq!(
            s.get_order("o1").await.unwrap().unwrap().status,
            OrderStatus::Confirmed
        );
    }

    #[tokio::test]
    async fn error_after_commit_cancels_then_fails() {
        let s = MemoryStore::new();
        let input = CancelOrderInput {
            order_id: "o1".into(),
            failure: None,
            faults: Some("cancel-order=error-after-commit".into()),
            attempt: 0,
        };
        assert!(handle(&s, input, &StepContext::default()).await.is_err());
        assert_eq!(
            s.get_order("o1").await.unwrap().unwrap().status,
            OrderStatus::Cancelled
        );
    }
}
