//! Step A of the order saga: create the order as PENDING.
//!
//! Idempotent twice over. Per order id: a retry after an ambiguous failure finds its own order and carries on.
//! Per Idempotency-Key: the key is bound to the first order it created (for a limited time), so a client's
//! retry resolves to that order, and the workflow answers as that order's saga did.

use saga_domain::events::{CreateOrderInput, CreateOrderOutput};
use saga_domain::faults::StepContext;
use saga_domain::validate::{request_hash, validate_order_request, validate_token};
use saga_domain::{Order, OrderStatus, Step, StepError};
use saga_store::{KeyClaim, KeyClaimOutcome, OrderStore, PutOutcome};

/// How long an Idempotency-Key stays bound to its order unless configured otherwise: one day.
pub const DEFAULT_IDEMPOTENCY_TTL_SECONDS: i64 = 86_400;

#[derive(Debug, Clone)]
pub struct Config {
    pub idempotency_ttl_s: i64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            idempotency_ttl_s: DEFAULT_IDEMPOTENCY_TTL_SECONDS,
        }
    }
}

pub async fn handle(
    store: &dyn OrderStore,
    config: &Config,
    input: CreateOrderInput,
    ctx: &StepContext,
) -> Result<CreateOrderOutput, StepError> {
    // Deterministic rejections come first and write nothing, whatever the fault plan says.
    let request = validate_order_request(&input.request)
        .map_err(|e| StepError::ValidationFailed(e.to_string()))?;
    if let Some(key) = &input.idempotency_key {
        validate_token("Idempotency-Key", key).map_err(StepError::ValidationFailed)?;
    }
    // The fingerprint only tells a replay under the same Idempotency-Key from another request: without a
    // key there is nothing to compare it with, so it is not computed (a SHA-256 per order).
    let hash = input
        .idempotency_key
        .as_ref()
        .map(|_| request_hash(&request));

    crate::rehearse(Step::CreateOrder, &input.rehearsal, ctx, || async {
        let now = saga_domain::now_ms();
        if let (Some(key), Some(hash)) = (&input.idempotency_key, &hash) {
            let claim = KeyClaim {
                key: key.clone(),
                order_id: input.order_id.clone(),
                request_hash: hash.clone(),
                now_s: now / 1000,
                ttl_s: config.idempotency_ttl_s,
            };
            if let KeyClaimOutcome::Existing {
                order_id,
                request_hash,
            } = store.claim_idempotency_key(&claim).await?
            {
                if request_hash != *hash {
                    return Err(StepError::IdempotencyKeyReused {
                        key: key.clone(),
                        order_id,
                    });
                }
                return Ok(match store.get_order(&order_id).await? {
                    Some(existing) => output(existing, true),
                    // The owner bound the key but has not written its order yet: it is still running.
                    None => CreateOrderOutput {
                        order_id,
                        status: OrderStatus::Pending,
                        items: request.items.clone(),
                        replay: true,
                        failure: None,
                    },
                });
            }
        }
        let order = Order {
            idempotency_key: input.idempotency_key.clone(),
            request_hash: hash.clone(),
            ..Order::pending(
                &input.order_id,
                &request.customer_id,
                request.items.clone(),
                now,
            )
        };
        match store.put_order_if_absent(&order).await? {
            PutOutcome::Created => Ok(output(order, false)),
            // Our own earlier attempt committed before failing, or a replay is reading its original's order: carry
            // on with what is there. A tombstone (a compensation ran before this write landed) stays dead and
            // answers as the cancelled order it stands for.
            PutOutcome::Existing(existing) => Ok(output(existing, false)),
        }
    })
    .await
}

fn output(order: Order, replay: bool) -> CreateOrderOutput {
    let failure = (order.status == OrderStatus::Cancelled)
        .then(|| order.failure.clone())
        .flatten();
    CreateOrderOutput {
        order_id: order.order_id,
        status: order.status,
        items: order.items,
        replay,
        failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_domain::events::Rehearsal;
    use saga_domain::Failure;
    use saga_store::memory::MemoryStore;
    use serde_json::json;

    fn input(order_id: &str, key: Option<&str>, body: serde_json::Value) -> CreateOrderInput {
        CreateOrderInput {
            order_id: order_id.into(),
            request: body,
            idempotency_key: key.map(Into::into),
            rehearsal: Rehearsal::default(),
        }
    }

    /// Runs the handler with the default configuration and no deadline.
    async fn create(
        s: &MemoryStore,
        input: CreateOrderInput,
    ) -> Result<CreateOrderOutput, StepError> {
        handle(s, &Config::default(), input, &StepContext::default()).await
    }

    fn body() -> serde_json::Value {
        json!({"customerId": "c1", "items": [{"sku": "a", "quantity": 2}]})
    }

    #[tokio::test]
    async fn creates_a_pending_order() {
        let s = MemoryStore::new();
        let out = create(&s, input("o1", None, body())).await.unwrap();
        assert_eq!((out.status, out.replay), (OrderStatus::Pending, false));
        assert_eq!(s.get_order("o1").await.unwrap().unwrap().customer_id, "c1");
    }

    #[tokio::test]
    async fn only_a_keyed_order_keeps_the_request_fingerprint() {
        let s = MemoryStore::new();
        create(&s, input("o1", None, body())).await.unwrap();
        create(&s, input("o2", Some("k"), body())).await.unwrap();
        let hash = |id: &'static str| {
            let s = &s;
            async move { s.get_order(id).await.unwrap().unwrap().request_hash }
        };
        assert_eq!(hash("o1").await, None);
        let expected = request_hash(&validate_order_request(&body()).unwrap());
        assert_eq!(hash("o2").await, Some(expected));
    }

    #[tokio::test]
    async fn a_retry_of_the_same_attempt_is_idempotent() {
        let s = MemoryStore::new();
        create(&s, input("o1", Some("k"), body())).await.unwrap();
        let again = create(&s, input("o1", Some("k"), body())).await.unwrap();
        assert_eq!((again.order_id.as_str(), again.replay), ("o1", false));
        assert_eq!(s.all_orders().len(), 1);
    }

    #[tokio::test]
    async fn a_replayed_key_resolves_to_the_first_order() {
        let s = MemoryStore::new();
        create(&s, input("o1", Some("k"), body())).await.unwrap();
        let out = create(&s, input("o2", Some("k"), body())).await.unwrap();
        assert_eq!((out.order_id.as_str(), out.replay), ("o1", true));
        assert_eq!(s.all_orders().len(), 1, "no second order");
    }

    #[tokio::test]
    async fn a_replay_of_a_cancelled_order_carries_its_failure() {
        let s = MemoryStore::new();
        create(&s, input("o1", Some("k"), body())).await.unwrap();
        let f = Failure {
            error: "Saga.InsufficientStock".into(),
            cause: "{}".into(),
        };
        s.cancel_order("o1", Some(&f), 1).await.unwrap();
        let out = create(&s, input("o2", Some("k"), body())).await.unwrap();
        assert_eq!((out.status, out.failure), (OrderStatus::Cancelled, Some(f)));
    }

    #[tokio::test]
    async fn a_reused_key_with_another_body_is_refused() {
        let s = MemoryStore::new();
        create(&s, input("o1", Some("k"), body())).await.unwrap();
        let other = json!({"customerId": "c1", "items": [{"sku": "a", "quantity": 3}]});
        let e = create(&s, input("o2", Some("k"), other)).await.unwrap_err();
        assert_eq!(e.error_type(), "Saga.IdempotencyKeyReused");
    }

    /// On AWS the request template passes the body on as the client wrote it, so `2.0` reaches this step as a
    /// float: it is the quantity 2, stored as an integer, and the same request as `2` under the same key.
    #[tokio::test]
    async fn a_quantity_written_with_a_fraction_is_the_same_request() {
        let s = MemoryStore::new();
        let written: serde_json::Value = serde_json::from_str(
            r#"{"customerId": "c1", "items": [{"sku": "a", "quantity": 2.0}]}"#,
        )
        .unwrap();
        let first = create(&s, input("o1", Some("k"), written)).await.unwrap();
        assert_eq!(first.items[0].quantity, 2);
        let stored = s.get_order("o1").await.unwrap().unwrap();
        assert_eq!(
            serde_json::to_value(&stored.items).unwrap(),
            json!([{"sku": "a", "quantity": 2}])
        );
        let again = create(&s, input("o2", Some("k"), body())).await.unwrap();
        assert_eq!((again.order_id.as_str(), again.replay), ("o1", true));
        assert_eq!(s.all_orders().len(), 1, "no second order");
    }

    #[tokio::test]
    async fn a_late_create_after_compensation_stays_cancelled() {
        let s = MemoryStore::new();
        s.cancel_order("o1", None, 1).await.unwrap();
        let out = create(&s, input("o1", None, body())).await.unwrap();
        assert_eq!(out.status, OrderStatus::Cancelled);
        assert!(s.get_order("o1").await.unwrap().unwrap().tombstone);
    }

    #[tokio::test]
    async fn invalid_input_writes_nothing() {
        let s = MemoryStore::new();
        let bad = json!({"customerId": "c1", "items": [{"sku": "a", "quantity": 0}]});
        let e = create(&s, input("o1", Some("k"), bad)).await.unwrap_err();
        assert_eq!(e.error_type(), "Saga.ValidationFailed");
        let mut bad_faults = input("o1", None, body());
        bad_faults.rehearsal.faults = Some("nope".into());
        assert!(create(&s, bad_faults).await.is_err());
        assert!(s.all_orders().is_empty());
    }
}
