//! Compensation for the confirm step, on system A: fence a PENDING order so that no confirm can land on it any
//! more, or find that the confirm already landed.
//!
//! Confirmation is the saga's point of no return. A confirm that failed ambiguously (it committed and then
//! errored, or timed out and committed late) leaves the workflow not knowing whether the order is CONFIRMED.
//! Releasing stock first and cancelling afterwards would race that confirm, and a reader could see a CONFIRMED
//! order that is about to be cancelled. The fence settles the race in one conditional write: either the order
//! was CONFIRMED, which is final and means the saga succeeded, or it is now fenced and can only be cancelled.

use saga_domain::events::{OrderStepInput, StepOutput};
use saga_domain::faults::StepContext;
use saga_domain::{Step, StepError};
use saga_store::{FenceOutcome, OrderStore};

/// The outcome the workflow's `CheckFence` choice routes to the success answer.
pub const CONFIRMED: &str = "confirmed";

pub async fn handle(
    store: &dyn OrderStore,
    input: OrderStepInput,
    ctx: &StepContext,
) -> Result<StepOutput, StepError> {
    crate::rehearse(Step::FenceOrder, &input.rehearsal, ctx, || async {
        let outcome = fence(store, &input.order_id).await?;
        Ok(StepOutput {
            order_id: input.order_id.clone(),
            outcome: label(&outcome).into(),
        })
    })
    .await
}

/// The fence itself, without fault injection: the compensation chain calls this and reads the outcome typed.
pub async fn fence(store: &dyn OrderStore, order_id: &str) -> Result<FenceOutcome, StepError> {
    Ok(store.fence_order(order_id, saga_domain::now_ms()).await?)
}

/// The outcome as the workflow sees it in the step's output.
pub fn label(outcome: &FenceOutcome) -> &'static str {
    match outcome {
        FenceOutcome::Fenced(_) => "fenced",
        FenceOutcome::AlreadyFenced(_) => "already-fenced",
        FenceOutcome::Confirmed(_) => CONFIRMED,
        FenceOutcome::AlreadyCancelled(_) => "already-cancelled",
        FenceOutcome::NotFound => "not-found",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_domain::events::Rehearsal;
    use saga_domain::{Order, OrderStatus};
    use saga_store::memory::MemoryStore;
    use saga_store::ConfirmOutcome;

    fn input(faults: Option<&str>) -> OrderStepInput {
        OrderStepInput {
            order_id: "o1".into(),
            rehearsal: Rehearsal {
                faults: faults.map(str::to_string),
                attempt: 0,
            },
        }
    }

    async fn pending(s: &MemoryStore) {
        s.put_order_if_absent(&Order::pending("o1", "c", vec![], 1))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn fences_a_pending_order_so_a_late_confirm_is_refused() {
        let s = MemoryStore::new();
        pending(&s).await;
        let ctx = StepContext::default();
        assert_eq!(
            handle(&s, input(None), &ctx).await.unwrap().outcome,
            "fenced"
        );
        assert_eq!(
            handle(&s, input(None), &ctx).await.unwrap().outcome,
            "already-fenced"
        );
        assert!(matches!(
            s.confirm_order("o1", 5).await.unwrap(),
            ConfirmOutcome::Fenced(_)
        ));
    }

    #[tokio::test]
    async fn a_confirmed_order_is_reported_and_left_alone() {
        let s = MemoryStore::new();
        pending(&s).await;
        s.confirm_order("o1", 2).await.unwrap();
        let out = handle(&s, input(None), &StepContext::default())
            .await
            .unwrap();
        assert_eq!(out.outcome, CONFIRMED);
        let o = s.get_order("o1").await.unwrap().unwrap();
        assert_eq!((o.status, o.fenced), (OrderStatus::Confirmed, false));
    }

    #[tokio::test]
    async fn error_after_commit_fences_then_fails() {
        let s = MemoryStore::new();
        pending(&s).await;
        let e = handle(
            &s,
            input(Some("fence-order=error-after-commit")),
            &StepContext::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(e.error_type(), "Saga.Transient");
        assert!(s.get_order("o1").await.unwrap().unwrap().fenced);
    }

    #[tokio::test]
    async fn an_absent_order_is_not_found_and_nothing_is_written() {
        let s = MemoryStore::new();
        let out = handle(&s, input(None), &StepContext::default())
            .await
            .unwrap();
        assert_eq!(out.outcome, "not-found");
        assert_eq!(s.get_order("o1").await.unwrap(), None);
    }
}
