//! Execution result → HTTP answer: the Rust twin of `terraform/templates/start-sync-response.vtl`.
//!
//! The contract (docs/architecture.md, "From execution to answer"):
//! - SUCCEEDED: the output is `{"statusCode": N, "body": …}`; answer N with that body, and `Location` for a 201.
//! - FAILED: the cause is the problem document the workflow built; answer its `status` with it verbatim.
//!   A cause that is not such a problem (an error outside the workflow's contract) answers 500, compensation pending.
//! - TIMED_OUT, or an execution that was lost: 500, compensation pending (the sweeper finishes the job).

use asl_engine::{ExecutionResult, ExecutionStatus};
use serde_json::{json, Value};

pub const SUCCESS_CONTENT_TYPE: &str = "application/json";

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub location: Option<String>,
    pub body: Value,
}

fn pending(kind: &str, title: &str, detail: String) -> Answer {
    Answer {
        status: 500,
        content_type: crate::problem::PROBLEM_JSON,
        location: None,
        body: json!({
            "type": format!("/problems/{kind}"),
            "title": title,
            "status": 500,
            "detail": detail,
            "compensation": "pending",
        }),
    }
}

pub fn answer(result: &ExecutionResult) -> Answer {
    match result.status {
        ExecutionStatus::Succeeded => {
            let output = result.output.as_ref();
            let field = |name: &str| output.and_then(|o| o.get(name));
            match (field("statusCode").and_then(Value::as_u64), field("body")) {
                (Some(status @ 200..=299), Some(body)) => Answer {
                    status: status as u16,
                    content_type: SUCCESS_CONTENT_TYPE,
                    location: body
                        .get("orderId")
                        .and_then(Value::as_str)
                        .filter(|_| status == 201)
                        .map(|id| format!("/orders/{id}")),
                    body: body.clone(),
                },
                // A success without the answer shape breaks the workflow's contract: never pass it off as a 2xx.
                _ => pending(
                    "execution-failed",
                    "The saga execution failed",
                    "The workflow succeeded without an answer in its output; the order sweeper will compensate.".into(),
                ),
            }
        }
        ExecutionStatus::Failed => {
            let problem = result
                .cause
                .as_deref()
                .and_then(|c| serde_json::from_str::<Value>(c).ok())
                .filter(|p| {
                    p.get("status")
                        .and_then(Value::as_u64)
                        .is_some_and(|s| (400..=599).contains(&s))
                });
            match problem {
                Some(p) => Answer {
                    status: p["status"].as_u64().expect("filtered") as u16,
                    content_type: crate::problem::PROBLEM_JSON,
                    location: None,
                    body: p,
                },
                None => pending(
                    "execution-failed",
                    "The saga execution failed",
                    format!(
                        "The workflow failed with {} outside its contract; the order sweeper will compensate.",
                        result.error.as_deref().unwrap_or("an unnamed error")
                    ),
                ),
            }
        }
        ExecutionStatus::TimedOut => pending(
            "saga-timed-out",
            "The saga did not finish in time",
            "The workflow reached its own timeout; the order sweeper will compensate.".into(),
        ),
        ExecutionStatus::Aborted => pending(
            "execution-lost",
            "The saga execution was lost",
            "The workflow stopped without finishing; the order sweeper will compensate.".into(),
        ),
    }
}
