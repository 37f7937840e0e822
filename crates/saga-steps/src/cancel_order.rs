//! Compensation for step A: cancel the order, recording why, so that a replay of its Idempotency-Key answers
//! with the same failure. An id that was never written becomes a tombstone, which a create landing late respects.
//! A CONFIRMED order is refused with `Saga.OrderConfirmed`: the workflow only cancels after `fence-order` made
//! sure no confirm can land, so reaching that error means a caller skipped the fence.

use saga_domain::events::{CancelOrderInput, StepOutput};
use saga_domain::faults::StepContext;
use saga_domain::{Failure, Step, StepError};
use saga_store::{CancelOutcome, OrderStore};

pub async fn handle(
    store: &dyn OrderStore,
    input: CancelOrderInput,
    ctx: &StepContext,
) -> Result<StepOutput, StepError> {
    crate::rehearse(Step::CancelOrder, &input.rehearsal, ctx, || async {
        let outcome = cancel(store, &input.order_id, input.failure.as_ref()).await?;
        Ok(StepOutput {
            order_id: input.order_id.clone(),
            outcome: label(&outcome).into(),
        })
    })
    .await
}

/// The compensation itself, without fault injection: the compensation chain calls this. Never answers
/// `CancelOutcome::Confirmed`: refusing a CONFIRMED order is the `Saga.OrderConfirmed` error.
pub async fn cancel(
    store: &dyn OrderStore,
    order_id: &str,
    failure: Option<&Failure>,
) -> Result<CancelOutcome, StepError> {
    match store
        .cancel_order(order_id, failure, saga_domain::now_ms())
        .await?
    {
        CancelOutcome::Confirmed(_) => Err(StepError::OrderConfirmed(order_id.to_string())),
        outcome => Ok(outcome),
    }
}

/// The outcome as the workflow sees it in the step's output.
pub fn label(outcome: &CancelOutcome) -> &'static str {
    match outcome {
        CancelOutcome::Cancelled(_) => "cancelled",
        CancelOutcome::AlreadyCancelled(_) => "already-cancelled",
        CancelOutcome::Tombstoned => "tombstoned",
        // `cancel` turns this into an error; the label exists for completeness of the match.
        CancelOutcome::Confirmed(_) => "confirmed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_domain::events::Rehearsal;
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
            rehearsal: Rehearsal::default(),
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
            rehearsal: Rehearsal {
                faults: Some("cancel-order=error-after-commit".into()),
                attempt: 0,
            },
        };
        assert!(handle(&s, input, &StepContext::default()).await.is_err());
        assert_eq!(
            s.get_order("o1").await.unwrap().unwrap().status,
            OrderStatus::Cancelled
        );
    }
}
