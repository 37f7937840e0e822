//! The saga's `workflow.asl.json` loads in the engine and runs through its main paths, with
//! the Lambdas scripted per function name instead of the real handlers: the definition's own
//! routing (retries, catches, compensation order, the answer each path gives) checked apart
//! from the steps behind it.
//!
//! That is enough to drive the saga down its happy path, a business failure with
//! compensation, a timeout with retries, a failed confirm that the fence settles either way,
//! and a failed compensation that is queued for repair.

use asl_engine::{
    execute, ExecutionOptions, ExecutionStatus, InvokeRequest, InvokeResponse, ResourceKind,
    Resources, StateMachine,
};
use saga_local::app::WORKFLOW;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Script = Box<dyn Fn(&InvokeRequest) -> InvokeResponse + Send + Sync>;

#[derive(Default)]
struct Mock {
    scripts: HashMap<String, Script>,
    calls: Mutex<Vec<(String, u32, Value)>>,
}

impl Mock {
    fn on(
        mut self,
        name: &str,
        f: impl Fn(&InvokeRequest) -> InvokeResponse + Send + Sync + 'static,
    ) -> Self {
        self.scripts.insert(name.to_string(), Box::new(f));
        self
    }

    fn calls(&self) -> Vec<(String, u32, Value)> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Resources for Mock {
    async fn invoke(&self, request: InvokeRequest) -> InvokeResponse {
        let key = match &request.kind {
            ResourceKind::LambdaInvoke { function_name } => function_name.clone(),
            ResourceKind::LambdaArn { function_arn } => function_arn.clone(),
            ResourceKind::Service { service, action } => format!("{service}:{action}"),
        };
        self.calls.lock().unwrap().push((
            key.clone(),
            request.retry_count,
            request.payload.clone(),
        ));
        match self.scripts.get(&key) {
            Some(f) => f(&request),
            None => ok(json!({})),
        }
    }
}

fn ok(v: Value) -> InvokeResponse {
    InvokeResponse::Lambda {
        status_code: 200,
        function_error: None,
        executed_version: "$LATEST".into(),
        payload: v.to_string(),
    }
}

fn lambda_error(error_type: &str, message: &str) -> InvokeResponse {
    InvokeResponse::Lambda {
        status_code: 200,
        function_error: Some("Unhandled".into()),
        executed_version: "$LATEST".into(),
        payload: json!({"errorType": error_type, "errorMessage": message}).to_string(),
    }
}

fn input() -> Value {
    json!({
        "request": {"items": [{"sku": "A", "quantity": 1}]},
        "idempotencyKey": "k1",
        "faults": {}
    })
}

fn created(req: &InvokeRequest) -> InvokeResponse {
    ok(json!({
        "orderId": req.payload["orderId"],
        "status": "PENDING",
        "items": [{"sku": "A", "quantity": 1}],
        "replay": false,
        "failure": null
    }))
}

fn options(name: &str) -> ExecutionOptions {
    ExecutionOptions {
        name: Some(name.to_string()),
        record_history: true,
        ..Default::default()
    }
}

/// Every path ends within the workflow's TimeoutSeconds, and that before API Gateway's 29 s, so
/// a compensation is never cut off and the caller always gets the workflow's own answer.
#[test]
fn the_workflow_fits_the_gateway_limit() {
    let machine = StateMachine::from_json(WORKFLOW).expect("workflow loads");
    let report = asl_budget::analyse(&machine, &asl_budget::Options::default());
    println!("{}", asl_budget::render_text(&report, "workflow.asl.json"));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.ok());
    let worst = report.worst_path.as_ref().unwrap().total_seconds;
    let timeout = report.timeout_seconds.unwrap();
    assert!(
        worst <= timeout && timeout < 29.0,
        "{worst} <= {timeout} < 29"
    );
    // Compensation exists and is covered: a failed step must be able to undo the saga.
    assert_eq!(report.verdict.compensation_fits, Some(true));
}

#[tokio::test(start_paused = true)]
async fn happy_path_confirms_the_order() {
    let machine = StateMachine::from_json(WORKFLOW).expect("workflow loads");
    assert_eq!(machine.timeout_seconds(), Some(28));
    let mock = Arc::new(Mock::default().on("${CreateOrderFunctionArn}", created));
    let r = execute(&machine, input(), options("order-1"), mock.clone()).await;
    assert_eq!(
        r.status,
        ExecutionStatus::Succeeded,
        "{:?} {:?}",
        r.error,
        r.cause
    );
    assert_eq!(
        r.output.clone().unwrap(),
        json!({"statusCode": 201, "body": {"orderId": "order-1", "status": "CONFIRMED", "items": [{"sku": "A", "quantity": 1}]}})
    );
    let names: Vec<String> = mock.calls().into_iter().map(|c| c.0).collect();
    assert_eq!(
        names,
        [
            "${CreateOrderFunctionArn}",
            "${ReserveStockFunctionArn}",
            "${ConfirmOrderFunctionArn}"
        ]
    );
    assert!(r.execution_arn.contains(":express:local:order-1:"));
    let resp = r.to_start_sync_execution_response();
    assert_eq!(resp["status"], "SUCCEEDED");
    assert!(resp["output"].is_string());
    assert_eq!(r.history.first().unwrap().event_type, "ExecutionStarted");
    assert_eq!(r.history.last().unwrap().event_type, "ExecutionSucceeded");
}

#[tokio::test(start_paused = true)]
async fn insufficient_stock_compensates_and_fails_with_a_problem() {
    let machine = StateMachine::from_json(WORKFLOW).unwrap();
    let mock = Arc::new(
        Mock::default()
            .on("${CreateOrderFunctionArn}", created)
            .on("${ReserveStockFunctionArn}", |_| {
                lambda_error("Saga.InsufficientStock", "Not enough A")
            }),
    );
    let r = execute(&machine, input(), options("order-2"), mock.clone()).await;
    assert_eq!(r.status, ExecutionStatus::Failed);
    assert_eq!(r.error.as_deref(), Some("Saga.InsufficientStock"));
    let problem: Value = serde_json::from_str(r.cause.as_deref().unwrap()).unwrap();
    assert_eq!(problem["status"], 409);
    assert_eq!(problem["detail"], "Not enough A");
    assert_eq!(problem["orderId"], "order-2");
    let names: Vec<String> = mock.calls().into_iter().map(|c| c.0).collect();
    assert_eq!(
        names,
        [
            "${CreateOrderFunctionArn}",
            "${ReserveStockFunctionArn}",
            "${ReleaseStockFunctionArn}",
            "${CancelOrderFunctionArn}"
        ]
    );
    // The cancel step sees why the saga failed.
    let cancel = &mock.calls()[3].2;
    assert_eq!(cancel["failure"]["Error"], "Saga.InsufficientStock");
}

#[tokio::test(start_paused = true)]
async fn a_task_timeout_is_retried_once_then_compensated() {
    let machine = StateMachine::from_json(WORKFLOW).unwrap();
    let mock = Arc::new(Mock::default().on("${CreateOrderFunctionArn}", created).on(
        "${ReserveStockFunctionArn}",
        |r| {
            // The first answer arrives too late (see SlowFirst) and is discarded.
            let _ = r;
            lambda_error("Saga.Transient", "still down")
        },
    ));
    let slow = Arc::new(SlowFirst(mock.clone()));
    let r = execute(&machine, input(), options("order-3"), slow).await;
    assert_eq!(r.status, ExecutionStatus::Failed);
    assert_eq!(r.error.as_deref(), Some("Saga.Transient"));
    let reserve: Vec<u32> = mock
        .calls()
        .into_iter()
        .filter(|c| c.0 == "${ReserveStockFunctionArn}")
        .map(|c| c.2["attempt"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(reserve, [0, 1]);
}

struct SlowFirst(Arc<Mock>);

#[async_trait::async_trait]
impl Resources for SlowFirst {
    async fn invoke(&self, request: InvokeRequest) -> InvokeResponse {
        let slow = matches!(&request.kind, ResourceKind::LambdaInvoke { function_name } if function_name == "${ReserveStockFunctionArn}")
            && request.retry_count == 0;
        assert_eq!(request.timeout, Some(Duration::from_secs(2)));
        let r = self.0.invoke(request).await;
        if slow {
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        r
    }
}

/// confirm-order fails after its retry; what `fence-order` finds decides the outcome.
async fn confirm_fails_and_the_fence_finds(
    outcome: &'static str,
) -> (asl_engine::ExecutionResult, Vec<String>) {
    let machine = StateMachine::from_json(WORKFLOW).unwrap();
    let mock = Arc::new(
        Mock::default()
            .on("${CreateOrderFunctionArn}", created)
            .on("${ConfirmOrderFunctionArn}", |_| {
                lambda_error("Saga.Transient", "confirmed, then lost the answer")
            })
            .on("${FenceOrderFunctionArn}", move |req| {
                ok(json!({"orderId": req.payload["orderId"], "outcome": outcome}))
            }),
    );
    let r = execute(&machine, input(), options("order-f"), mock.clone()).await;
    let names = mock.calls().into_iter().map(|c| c.0).collect();
    (r, names)
}

#[tokio::test(start_paused = true)]
async fn a_confirm_the_fence_finds_landed_is_the_success_answer() {
    let (r, names) = confirm_fails_and_the_fence_finds("confirmed").await;
    assert_eq!(r.status, ExecutionStatus::Succeeded, "{r:?}");
    let out = r.output.unwrap();
    assert_eq!(out["statusCode"], 201);
    assert_eq!(out["body"]["orderId"], "order-f");
    assert_eq!(
        names,
        [
            "${CreateOrderFunctionArn}",
            "${ReserveStockFunctionArn}",
            "${ConfirmOrderFunctionArn}",
            "${ConfirmOrderFunctionArn}",
            "${FenceOrderFunctionArn}"
        ],
        "nothing is undone once the order is confirmed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fenced_order_is_released_then_cancelled() {
    let (r, names) = confirm_fails_and_the_fence_finds("fenced").await;
    assert_eq!(r.status, ExecutionStatus::Failed);
    assert_eq!(r.error.as_deref(), Some("Saga.Transient"));
    let problem: Value = serde_json::from_str(r.cause.as_deref().unwrap()).unwrap();
    assert_eq!(
        (problem["status"].as_u64(), problem["compensation"].as_str()),
        (Some(503), Some("completed"))
    );
    assert_eq!(
        names[4..],
        [
            "${FenceOrderFunctionArn}",
            "${ReleaseStockFunctionArn}",
            "${CancelOrderFunctionArn}"
        ],
        "the undo of confirm, then of B, then of A"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_compensation_is_queued_for_repair() {
    let machine = StateMachine::from_json(WORKFLOW).unwrap();
    let mock = Arc::new(
        Mock::default()
            .on("${CreateOrderFunctionArn}", created)
            .on("${ReserveStockFunctionArn}", |_| {
                lambda_error("Saga.InsufficientStock", "none")
            })
            .on("${ReleaseStockFunctionArn}", |_| {
                InvokeResponse::LambdaServiceError {
                    error: "Lambda.ServiceException".into(),
                    message: "boom".into(),
                }
            })
            .on("sqs:sendMessage", |_| {
                InvokeResponse::Service(json!({"MessageId": "m-1", "MD5OfMessageBody": "x"}))
            }),
    );
    let r = execute(&machine, input(), options("order-4"), mock.clone()).await;
    assert_eq!(r.status, ExecutionStatus::Failed);
    let problem: Value = serde_json::from_str(r.cause.as_deref().unwrap()).unwrap();
    assert_eq!(problem["compensation"], "pending");
    assert_eq!(
        problem["detail"],
        "The saga failed with Saga.InsufficientStock and a compensation step then failed with Lambda.ServiceException; the case is queued for repair."
    );
    let sqs = mock
        .calls()
        .into_iter()
        .find(|c| c.0 == "sqs:sendMessage")
        .unwrap();
    assert_eq!(sqs.2["MessageBody"]["orderId"], "order-4");
    assert!(sqs.2["MessageBody"]["executionId"]
        .as_str()
        .unwrap()
        .contains(":express:"));
    // Release was retried once (MaxAttempts 1) before the catch.
    let releases = mock
        .calls()
        .iter()
        .filter(|c| c.0 == "${ReleaseStockFunctionArn}")
        .count();
    assert_eq!(releases, 2);
}

/// What Lambda reports when a function's own timeout stops it: `Sandbox.Timedout` on current runtimes, or, where
/// the runtime returns no error type, `Lambda.Unknown` with the runtime's message inside the cause.
fn function_timed_out(kind: &str) -> InvokeResponse {
    match kind {
        "Sandbox.Timedout" => lambda_error(
            "Sandbox.Timedout",
            "RequestId: 5e1b0c3a Error: Task timed out after 2.00 seconds",
        ),
        _ => InvokeResponse::Lambda {
            status_code: 200,
            function_error: Some("Unhandled".into()),
            executed_version: "$LATEST".into(),
            payload: json!({"errorMessage": "2026-12-03T10:00:00.000Z 5e1b0c3a Task timed out after 2.00 seconds"})
                .to_string(),
        },
    }
}

/// A function stopped by its own timeout is retried like a Task timeout, and answers 504 like one when the retry
/// fails the same way: the two clocks are the same length, and which one fires first must not change the answer.
#[tokio::test(start_paused = true)]
async fn a_function_timeout_is_retried_and_answers_504_like_a_task_timeout() {
    for kind in ["Sandbox.Timedout", "Lambda.Unknown"] {
        let machine = StateMachine::from_json(WORKFLOW).unwrap();
        let mock = Arc::new(
            Mock::default()
                .on("${CreateOrderFunctionArn}", created)
                .on("${ReserveStockFunctionArn}", move |_| {
                    function_timed_out(kind)
                }),
        );
        let r = execute(&machine, input(), options("order-t"), mock.clone()).await;
        assert_eq!(r.status, ExecutionStatus::Failed, "{kind}");
        assert_eq!(r.error.as_deref(), Some(kind));
        let problem: Value = serde_json::from_str(r.cause.as_deref().unwrap()).unwrap();
        assert_eq!(problem["status"], 504, "{kind}: {problem}");
        assert_eq!(problem["type"], "/problems/step-timed-out", "{kind}");
        assert_eq!(problem["compensation"], "completed", "{kind}");
        let names: Vec<(String, u32)> = mock.calls().into_iter().map(|c| (c.0, c.1)).collect();
        assert_eq!(
            names,
            [
                ("${CreateOrderFunctionArn}".to_string(), 0),
                ("${ReserveStockFunctionArn}".to_string(), 0),
                ("${ReserveStockFunctionArn}".to_string(), 1),
                ("${ReleaseStockFunctionArn}".to_string(), 0),
                ("${CancelOrderFunctionArn}".to_string(), 0),
            ],
            "{kind}"
        );

        // Once is a transient failure: the retry goes through and the order is confirmed.
        let mock = Arc::new(Mock::default().on("${CreateOrderFunctionArn}", created).on(
            "${ReserveStockFunctionArn}",
            move |r| {
                if r.retry_count == 0 {
                    function_timed_out(kind)
                } else {
                    ok(json!({}))
                }
            },
        ));
        let r = execute(&machine, input(), options("order-u"), mock).await;
        assert_eq!(r.status, ExecutionStatus::Succeeded, "{kind}: {r:?}");
    }
}

/// `Lambda.Unknown` also covers a function that crashed (out of memory, say). That is retried too, but it is not
/// a timeout and must not be answered as one.
#[tokio::test(start_paused = true)]
async fn a_function_crash_is_retried_and_answers_502() {
    let machine = StateMachine::from_json(WORKFLOW).unwrap();
    let mock = Arc::new(Mock::default().on("${CreateOrderFunctionArn}", created).on(
        "${ReserveStockFunctionArn}",
        |_| InvokeResponse::Lambda {
            status_code: 200,
            function_error: Some("Unhandled".into()),
            executed_version: "$LATEST".into(),
            payload:
                json!({"errorMessage": "Runtime exited with error: signal: killed"}).to_string(),
        },
    ));
    let r = execute(&machine, input(), options("order-c"), mock.clone()).await;
    assert_eq!(r.error.as_deref(), Some("Lambda.Unknown"));
    let problem: Value = serde_json::from_str(r.cause.as_deref().unwrap()).unwrap();
    assert_eq!(problem["status"], 502, "{problem}");
    let reserves = mock
        .calls()
        .iter()
        .filter(|c| c.0 == "${ReserveStockFunctionArn}")
        .count();
    assert_eq!(reserves, 2);
}

#[tokio::test(start_paused = true)]
async fn abort_stops_the_execution_on_the_spot() {
    let machine = StateMachine::from_json(WORKFLOW).unwrap();
    let mock = Arc::new(
        Mock::default()
            .on("${CreateOrderFunctionArn}", created)
            .on("${ReserveStockFunctionArn}", |_| InvokeResponse::Abort),
    );
    let r = execute(&machine, input(), options("order-5"), mock.clone()).await;
    assert_eq!(r.status, ExecutionStatus::Aborted);
    assert_eq!(mock.calls().len(), 2);
    assert!(r.output.is_none());
}

#[tokio::test(start_paused = true)]
async fn the_top_level_timeout_ends_the_execution_timed_out() {
    let machine = StateMachine::from_json(WORKFLOW).unwrap();
    struct Hang;
    #[async_trait::async_trait]
    impl Resources for Hang {
        async fn invoke(&self, _r: InvokeRequest) -> InvokeResponse {
            std::future::pending().await
        }
    }
    // Without its task timeout CreateOrder hangs, so the execution limit (TimeoutSeconds) fires instead.
    let machine2 = StateMachine::from_value(&{
        let mut d = machine.definition().clone();
        d["States"]["CreateOrder"]
            .as_object_mut()
            .unwrap()
            .remove("TimeoutSeconds");
        d
    })
    .unwrap();
    let r = execute(&machine2, input(), options("order-6"), Arc::new(Hang)).await;
    assert_eq!(r.status, ExecutionStatus::TimedOut);
    assert_eq!(r.error.as_deref(), Some("States.Timeout"));
    assert_eq!(
        (r.stop_date - r.start_date).num_seconds(),
        machine.timeout_seconds().unwrap() as i64
    );
    assert_eq!(r.to_start_sync_execution_response()["status"], "TIMED_OUT");
}
