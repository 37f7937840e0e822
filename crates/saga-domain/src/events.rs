//! The payload each task Lambda receives and returns: the `Payload` blocks of `workflow.asl.json`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Failure, OrderLine, OrderStatus};

/// What every task payload carries besides its input, for fault injection: the `X-Saga-Fault` plan and the
/// state's retry count (`$$.State.RetryCount`), which `error-once` reads. Flattened into each input, so the
/// payload keeps them as its own `faults` and `attempt` keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rehearsal {
    #[serde(default)]
    pub faults: Option<String>,
    #[serde(default)]
    pub attempt: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrderInput {
    /// The id this execution proposes (its execution name).
    pub order_id: String,
    /// The body as the client sent it; validated by the handler as well as by the gateway.
    pub request: Value,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(flatten)]
    pub rehearsal: Rehearsal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrderOutput {
    pub order_id: String,
    pub status: OrderStatus,
    pub items: Vec<OrderLine>,
    /// True when the Idempotency-Key resolved to an order another execution created.
    pub replay: bool,
    /// For a replayed, cancelled order: why it was cancelled. Always present (null) so the workflow can select it.
    pub failure: Option<Failure>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReserveStockInput {
    pub order_id: String,
    pub items: Vec<OrderLine>,
    #[serde(flatten)]
    pub rehearsal: Rehearsal,
}

/// Confirm and release take only the order id.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderStepInput {
    pub order_id: String,
    #[serde(flatten)]
    pub rehearsal: Rehearsal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelOrderInput {
    pub order_id: String,
    /// What the saga failed with; kept on the order so that a replay answers the same.
    #[serde(default)]
    pub failure: Option<Failure>,
    #[serde(flatten)]
    pub rehearsal: Rehearsal,
}

/// What every step but create-order returns: the step's effect, for logs and the execution history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepOutput {
    pub order_id: String,
    /// e.g. "reserved", "already-reserved", "released", "tombstoned".
    pub outcome: String,
}

/// The message the workflow sends to the repair queue when a compensation fails after its retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepairRequest {
    pub order_id: String,
    #[serde(default)]
    pub failure: Option<Failure>,
    #[serde(default)]
    pub compensation_failure: Option<Failure>,
    #[serde(default)]
    pub execution_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_rehearsal_keys_stay_top_level_and_optional() {
        let full: OrderStepInput = serde_json::from_value(
            json!({"orderId": "o1", "faults": "fence-order=error", "attempt": 2}),
        )
        .unwrap();
        assert_eq!(
            full.rehearsal,
            Rehearsal {
                faults: Some("fence-order=error".into()),
                attempt: 2
            }
        );
        assert_eq!(
            serde_json::to_value(&full).unwrap(),
            json!({"orderId": "o1", "faults": "fence-order=error", "attempt": 2})
        );
        let bare: OrderStepInput = serde_json::from_value(json!({"orderId": "o1"})).unwrap();
        assert_eq!(bare.rehearsal, Rehearsal::default());
        let null: CancelOrderInput =
            serde_json::from_value(json!({"orderId": "o1", "faults": null, "attempt": 0})).unwrap();
        assert_eq!(null.rehearsal, Rehearsal::default());
    }
}
