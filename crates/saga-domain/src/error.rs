//! The errors a saga step can end with. Their `errorType` strings are the workflow's vocabulary: `Retry`
//! retries `Saga.Transient`, `Catch` + `Classify` turn the rest into HTTP problems. Renaming one is a change to
//! `workflow.asl.json` too.

use lambda_runtime::Diagnostic;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// The request breaks a rule the JSON Schema cannot express (or bypassed the gateway's validator).
    #[error("{0}")]
    ValidationFailed(String),
    /// The Idempotency-Key is bound to a request with a different body.
    #[error("Idempotency-Key {key:?} was first used with a different request (order {order_id})")]
    IdempotencyKeyReused { key: String, order_id: String },
    #[error("insufficient stock for sku {sku:?}: requested {requested}, available {available}")]
    InsufficientStock {
        sku: String,
        requested: u64,
        available: u64,
    },
    /// A compensation already cancelled this order; a forward step must not bring it back.
    #[error("order {0} was already cancelled")]
    OrderCancelled(String),
    /// The order is CONFIRMED, which is final: a compensation must not cancel it.
    #[error("order {0} is confirmed, which is final")]
    OrderConfirmed(String),
    /// Worth retrying: a store was unavailable, or a fault was injected.
    #[error("{0}")]
    Transient(String),
    /// A broken invariant in stored data. Not retried.
    #[error("{0}")]
    Internal(String),
}

impl StepError {
    /// The Lambda `errorType`, which Step Functions reports as the state's Error.
    pub fn error_type(&self) -> &'static str {
        match self {
            StepError::ValidationFailed(_) => "Saga.ValidationFailed",
            StepError::IdempotencyKeyReused { .. } => "Saga.IdempotencyKeyReused",
            StepError::InsufficientStock { .. } => "Saga.InsufficientStock",
            StepError::OrderCancelled(_) => "Saga.OrderCancelled",
            StepError::OrderConfirmed(_) => "Saga.OrderConfirmed",
            StepError::Transient(_) => "Saga.Transient",
            StepError::Internal(_) => "Saga.Internal",
        }
    }

    /// The error payload a Lambda function returns for this error, as `lambda_runtime` serialises it.
    pub fn payload(&self) -> String {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Payload<'a> {
            error_type: &'a str,
            error_message: String,
        }
        serde_json::to_string(&Payload {
            error_type: self.error_type(),
            error_message: self.to_string(),
        })
        .expect("a struct of strings serialises")
    }
}

impl From<StepError> for Diagnostic {
    fn from(e: StepError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_carry_workflow_names_not_rust_types() {
        let d: Diagnostic = StepError::InsufficientStock {
            sku: "a".into(),
            requested: 2,
            available: 1,
        }
        .into();
        assert_eq!(d.error_type, "Saga.InsufficientStock");
        assert!(d.error_message.contains("requested 2, available 1"));
    }

    #[test]
    fn payload_is_the_lambda_error_shape() {
        let p: serde_json::Value =
            serde_json::from_str(&StepError::Transient("x".into()).payload()).unwrap();
        assert_eq!(
            p,
            serde_json::json!({"errorType": "Saga.Transient", "errorMessage": "x"})
        );
    }
}
