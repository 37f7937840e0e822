//! Execution result → HTTP answer: the Rust twin of `terraform/templates/start-execution.response.vtl`.
//!
//! The contract (docs/architecture.md, "From execution to answer"):
//! - SUCCEEDED: the output is `{"statusCode": N, "body": …}`; answer N with that body, and `Location` for a 201
//!   ([`location`]).
//! - FAILED: the cause is the problem document the workflow built; answer its `status` with it verbatim.
//!   A cause that is not such a problem (an error outside the workflow's contract) answers 500, compensation pending.
//! - TIMED_OUT, or an execution that was lost: 500, compensation pending (the sweeper finishes the job).
//!
//! Those 500s come from outside the workflow, so its `CheckKeyOutcome` never saw them. When the request carried
//! an Idempotency-Key they add `idempotencyKeyOutcome: "unknown"`, as the workflow's own answers do: the
//! execution may have ended before `create-order` found an earlier order under that key, and this answer must
//! not seem to deny one.

use asl_engine::{ExecutionResult, ExecutionStatus};
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::problem::{Problem, ProblemKind};

pub const SUCCESS_CONTENT_TYPE: &str = "application/json";

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub location: Option<String>,
    pub body: Value,
}

impl Answer {
    /// Whether this answers an execution that broke the workflow's contract: the answer cannot say more than that,
    /// so the execution's cause is what an operator needs.
    pub fn broke_contract(&self) -> bool {
        self.body["type"].as_str() == Some(ProblemKind::ExecutionFailed.type_uri().as_str())
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        // Straight into bytes: `to_string` goes through `Display` and a formatter for the same text.
        let text = serde_json::to_vec(&self.body).expect("a JSON value serialises");
        let mut response = Response::new(Body::from(text));
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            h.insert(header::LOCATION, location);
        }
        response
    }
}

/// Appended to the detail of a gateway 500 for a request with an Idempotency-Key.
pub const KEY_OUTCOME_UNKNOWN: &str = " This answer cannot tell what became of the order under its Idempotency-Key, which this or an earlier request may have placed; retry with the same key to get its outcome.";

/// Whether the execution's input carries an Idempotency-Key, as the gateway put it there.
fn keyed(input: &Value) -> bool {
    input
        .get("idempotencyKey")
        .and_then(Value::as_str)
        .is_some_and(|k| !k.is_empty())
}

fn pending(keyed: bool, kind: ProblemKind, mut detail: String) -> Answer {
    if keyed {
        detail.push_str(KEY_OUTCOME_UNKNOWN);
    }
    let mut problem = Problem::new(kind, detail);
    if keyed {
        problem = problem.with("idempotencyKeyOutcome", json!("unknown"));
    }
    Answer {
        status: kind.status().as_u16(),
        content_type: crate::problem::PROBLEM_JSON,
        location: None,
        body: problem.body(),
    }
}

/// `Location` of a created order: a relative reference, resolved against the request's URL (RFC 9110, 10.2.2), so
/// that `POST /orders` locally and `POST /v1/orders` on a deployed stage (or under a custom domain's base path) both
/// lead to the order's `GET`. An absolute path would drop the stage prefix, where API Gateway answers 403.
pub fn location(order_id: &str) -> String {
    format!("orders/{order_id}")
}

pub fn answer(result: &ExecutionResult) -> Answer {
    let pending = |kind: ProblemKind, detail: String| pending(keyed(&result.input), kind, detail);
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
                        .map(location),
                    body: body.clone(),
                },
                // A success without the answer shape breaks the workflow's contract: never pass it off as a 2xx.
                _ => pending(
                    ProblemKind::ExecutionFailed,
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
                    ProblemKind::ExecutionFailed,
                    format!(
                        "The workflow failed with {} outside its contract; the order sweeper will compensate.",
                        result.error.as_deref().unwrap_or("an unnamed error")
                    ),
                ),
            }
        }
        ExecutionStatus::TimedOut => pending(
            ProblemKind::SagaTimedOut,
            "The workflow reached its own timeout; the order sweeper will compensate.".into(),
        ),
        ExecutionStatus::Aborted => pending(
            ProblemKind::ExecutionLost,
            "The workflow stopped without finishing; the order sweeper will compensate.".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn result(status: ExecutionStatus, key: Value) -> ExecutionResult {
        ExecutionResult {
            execution_arn: "arn:aws:states:us-east-1:1:express:m:n:u".into(),
            state_machine_arn: "arn:aws:states:us-east-1:1:stateMachine:m".into(),
            name: "n".into(),
            start_date: Utc::now(),
            stop_date: Utc::now(),
            status,
            input: json!({"request": {}, "idempotencyKey": key, "faults": null, "requestId": "n"}),
            output: None,
            error: Some("States.Timeout".into()),
            cause: None,
            history: vec![],
        }
    }

    #[test]
    fn a_keyed_request_that_timed_out_says_its_key_outcome_is_unknown() {
        let a = answer(&result(ExecutionStatus::TimedOut, json!("k1")));
        assert_eq!(a.status, 500);
        assert_eq!(a.body["type"], "/problems/saga-timed-out");
        assert_eq!(a.body["compensation"], "pending");
        assert_eq!(a.body["idempotencyKeyOutcome"], "unknown");
        assert!(a.body["detail"]
            .as_str()
            .unwrap()
            .ends_with(KEY_OUTCOME_UNKNOWN));
    }

    #[test]
    fn every_gateway_500_of_a_keyed_request_is_marked_and_no_keyless_one_is() {
        for status in [
            ExecutionStatus::TimedOut,
            ExecutionStatus::Aborted,
            ExecutionStatus::Failed,
            ExecutionStatus::Succeeded,
        ] {
            let marked = answer(&result(status, json!("k1")));
            assert_eq!(marked.status, 500, "{status:?}");
            assert_eq!(
                marked.body["idempotencyKeyOutcome"], "unknown",
                "{status:?}"
            );
            for key in [Value::Null, json!("")] {
                let plain = answer(&result(status, key));
                assert_eq!(plain.status, 500, "{status:?}");
                assert!(
                    plain.body.get("idempotencyKeyOutcome").is_none(),
                    "{status:?}"
                );
                assert!(!plain.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("Idempotency-Key"));
            }
        }
    }

    #[test]
    fn the_workflows_own_problems_pass_through_untouched() {
        let mut r = result(ExecutionStatus::Failed, json!("k1"));
        let problem = json!({"type": "/problems/insufficient-stock", "title": "t", "status": 409,
            "detail": "d", "compensation": "completed"});
        r.cause = Some(problem.to_string());
        let a = answer(&r);
        assert_eq!(a.status, 409);
        assert_eq!(a.body, problem);
    }
}
