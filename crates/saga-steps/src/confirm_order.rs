//! The saga's last forward step and its point of no return, on system A: PENDING → CONFIRMED. Refused when a
//! compensation got there first (it fenced or cancelled the order), so a confirm that lands late cannot bring
//! back an order that is being undone.

use saga_domain::events::{OrderStepInput, StepOutput};
use saga_domain::faults::StepContext;
use saga_domain::{Step, StepError};
use saga_store::{ConfirmOutcome, OrderStore};

pub async fn handle(
    store: &dyn OrderStore,
    input: OrderStepInput,
    ctx: &StepContext,
) -> Result<StepOutput, StepError> {
    crate::rehearse(Step::ConfirmOrder, &input.rehearsal, ctx, || async {
        let outcome = match store
            .confirm_order(&input.order_id, saga_domain::now_ms())
            .await?
        {
            ConfirmOutcome::Confirmed(_) => "confirmed",
            ConfirmOutcome::AlreadyConfirmed(_) => "already-confirmed",
            ConfirmOutcome::Cancelled(_) | ConfirmOutcome::Fenced(_) => {
                return Err(StepError::OrderCancelled(input.order_id.clone()))
            }
            // Only a replay can get here before the order's creator wrote it; retrying is the right answer.
            ConfirmOutcome::NotFound => {
                return Err(StepError::Transient(format!(
                    "order {} is not written yet",
                    input.order_id
                )))
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
    use saga_domain::{Order, OrderStatus};
    use saga_store::memory::MemoryStore;

    fn input(id: &str) -> OrderStepInput {
        OrderStepInput {
            order_id: id.into(),
            rehearsal: Rehearsal::default(),
        }
    }

    async fn pending(s: &MemoryStore, id: &str) {
        s.put_order_if_absent(&Order::pending(id, "c", vec![], 1))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn confirms_idempotently() {
        let s = MemoryStore::new();
        pending(&s, "o1").await;
        let ctx = StepContext::default();
        assert_eq!(
            handle(&s, input("o1"), &ctx).await.unwrap().outcome,
            "confirmed"
        );
        assert_eq!(
            handle(&s, input("o1"), &ctx).await.unwrap().outcome,
            "already-confirmed"
        );
    }

    #[tokio::test]
    async fn never_confirms_a_fenced_order() {
        let s = MemoryStore::new();
        pending(&s, "o1").await;
        s.fence_order("o1", 2).await.unwrap();
        let e = handle(&s, input("o1"), &StepContext::default())
            .await
            .unwrap_err();
        assert_eq!(e.error_type(), "Saga.OrderCancelled");
        let o = s.get_order("o1").await.unwrap().unwrap();
        assert_eq!((o.status, o.fenced), (OrderStatus::Pending, true));
    }

    #[tokio::test]
    async fn never_confirms_a_cancelled_order() {
        let s = MemoryStore::new();
        pending(&s, "o1").await;
        s.cancel_order("o1", None, 2).await.unwrap();
        let e = handle(&s, input("o1"), &StepContext::default())
            .await
            .unwrap_err();
        assert_eq!(e.error_type(), "Saga.OrderCancelled");
        assert_eq!(
            s.get_order("o1").await.unwrap().unwrap().status,
            OrderStatus::Cancelled
        );
    }
}
