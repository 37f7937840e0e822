//! JSONata mode beyond what the recorded executions cover: expression-valued timeouts and Map
//! limits, tolerated Map failures, variable scope in Map and Parallel, the functions Step
//! Functions adds, and a query failure caught like any error. Time is paused.

use asl_engine::{
    execute, ExecutionOptions, ExecutionResult, ExecutionStatus, InvokeRequest, InvokeResponse,
    Resources, StateMachine,
};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// A Lambda that answers with its payload, after `delay`; a payload `{"fail": true}` raises.
struct Echo {
    delay: Duration,
}

#[async_trait::async_trait]
impl Resources for Echo {
    async fn invoke(&self, request: InvokeRequest) -> InvokeResponse {
        tokio::time::sleep(self.delay).await;
        let fails = request.payload.get("fail") == Some(&json!(true));
        InvokeResponse::Lambda {
            status_code: 200,
            function_error: fails.then(|| "Unhandled".to_string()),
            executed_version: "$LATEST".into(),
            payload: if fails {
                json!({"errorType": "Boom", "errorMessage": "boom"}).to_string()
            } else {
                request.payload.to_string()
            },
        }
    }
}

async fn run(def: Value, input: Value, delay: Duration) -> ExecutionResult {
    let machine = StateMachine::from_value(&def).unwrap_or_else(|e| panic!("{e}"));
    execute(
        &machine,
        input,
        ExecutionOptions {
            record_history: true,
            ..Default::default()
        },
        Arc::new(Echo { delay }),
    )
    .await
}

fn jsonata(states: Value) -> Value {
    json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": states})
}

const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:echo";

#[tokio::test(start_paused = true)]
async fn a_timeout_given_as_an_expression_bounds_the_task() {
    let def = jsonata(json!({"A": {
        "Type": "Task", "Resource": FUNCTION, "TimeoutSeconds": "{% $states.input.limit %}",
        "Arguments": {"x": 1}, "End": true
    }}));
    let slow = run(def.clone(), json!({"limit": 2}), Duration::from_secs(5)).await;
    assert_eq!(slow.status, ExecutionStatus::Failed);
    assert_eq!(slow.error.as_deref(), Some("States.Timeout"));
    let fast = run(def, json!({"limit": 10}), Duration::from_secs(5)).await;
    assert_eq!(fast.status, ExecutionStatus::Succeeded);
    assert_eq!(fast.output, Some(json!({"x": 1})));
}

#[tokio::test(start_paused = true)]
async fn a_map_tolerates_as_many_failures_as_it_is_told() {
    let map = |tolerated: Value| {
        jsonata(json!({"A": {
            "Type": "Map", "Items": "{% $states.input %}", "ToleratedFailureCount": tolerated,
            "ItemProcessor": {"StartAt": "Call", "States": {"Call": {
                "Type": "Task", "Resource": FUNCTION, "End": true}}},
            "End": true
        }}))
    };
    let items = json!([{"fail": true}, {"n": 2}, {"fail": true}]);
    let tolerant = run(map(json!(2)), items.clone(), Duration::ZERO).await;
    assert_eq!(tolerant.status, ExecutionStatus::Succeeded, "{tolerant:?}");
    let out = tolerant.output.unwrap();
    assert_eq!(out[1], json!({"n": 2}));
    assert_eq!(out[0]["Error"], json!("Boom"));
    let strict = run(map(json!("{% 1 %}")), items, Duration::ZERO).await;
    assert_eq!(strict.status, ExecutionStatus::Failed);
    assert_eq!(
        strict.error.as_deref(),
        Some("States.ExceedToleratedFailureThreshold")
    );
}

#[tokio::test(start_paused = true)]
async fn variables_assigned_in_an_iteration_or_branch_stay_there() {
    let def = jsonata(json!({
        "A": {"Type": "Pass", "Assign": {"outer": "before"}, "Next": "M"},
        "M": {"Type": "Map", "Items": [1, 2], "ItemProcessor": {"StartAt": "In", "States": {
            "In": {"Type": "Pass", "Assign": {"outer": "inside"},
                   "Output": "{% $outer %}", "End": true}}},
            "Next": "P"},
        "P": {"Type": "Parallel", "Branches": [{"StartAt": "B", "States": {
            "B": {"Type": "Pass", "Assign": {"outer": "branch"}, "Output": "{% $outer %}", "End": true}}}],
            "Output": {"map": "{% $states.input %}", "branch": "{% $states.result[0] %}", "outer": "{% $outer %}"},
            "End": true}
    }));
    let r = run(def, json!({}), Duration::ZERO).await;
    assert_eq!(
        r.output,
        Some(json!({"map": ["before", "before"], "branch": "before", "outer": "before"})),
        "{r:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn assign_and_output_see_the_variables_of_before_the_state() {
    let def = jsonata(json!({
        "A": {"Type": "Pass", "Assign": {"x": 1}, "Next": "B"},
        "B": {"Type": "Pass", "Assign": {"x": "{% $x + 1 %}", "y": "{% $x %}"},
              "Output": {"x": "{% $x %}"}, "Next": "C"},
        "C": {"Type": "Pass", "Output": {"x": "{% $x %}", "y": "{% $y %}"}, "End": true}
    }));
    let r = run(def, json!({}), Duration::ZERO).await;
    assert_eq!(r.output, Some(json!({"x": 2, "y": 1})));
    let exited: Vec<&Value> = r
        .history
        .iter()
        .filter(|e| e.event_type == "PassStateExited")
        .map(|e| &e.details["assignedVariables"])
        .collect();
    assert_eq!(exited[1], &json!({"x": "2", "y": "1"}));
}

#[tokio::test(start_paused = true)]
async fn the_functions_step_functions_adds_are_there_and_eval_is_not() {
    let def = jsonata(json!({"A": {"Type": "Pass", "Output": {
        "hash": "{% $hash('input data', 'SHA-256') %}",
        "parts": "{% $partition([1, 2, 3], 2) %}",
        "range": "{% $range(0, 4, 2) %}",
        "parsed": "{% $parse('{\"a\": [1]}') %}",
        "seeded": "{% $random(42) = $random(42) %}",
        "uuid": "{% $length($uuid()) %}"
    }, "Next": "B"},
    "B": {"Type": "Pass", "Output": "{% $eval('1 + 1') %}", "End": true}}));
    let r = run(def, json!({}), Duration::ZERO).await;
    assert_eq!(r.status, ExecutionStatus::Failed);
    assert_eq!(r.error.as_deref(), Some("States.QueryEvaluationError"));
    assert!(
        r.cause
            .as_deref()
            .unwrap_or_default()
            .ends_with("T1006: Attempted to invoke a non-function"),
        "{:?}",
        r.cause
    );
    let a = r
        .history
        .iter()
        .find(|e| e.event_type == "PassStateExited")
        .expect("A exited");
    let out: Value = serde_json::from_str(a.details["output"].as_str().unwrap()).unwrap();
    assert_eq!(
        out,
        json!({
            "hash": "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3",
            "parts": [[1, 2], [3]],
            "range": [0, 2, 4],
            "parsed": {"a": [1]},
            "seeded": true,
            "uuid": 36
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_query_failure_can_be_caught() {
    let def = jsonata(json!({
        "A": {"Type": "Task", "Resource": FUNCTION, "Arguments": "{% $missing %}",
              "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"],
                         "Output": "{% $states.errorOutput.Error %}", "Next": "B"}],
              "End": true},
        "B": {"Type": "Succeed"}
    }));
    let r = run(def, json!({}), Duration::ZERO).await;
    assert_eq!(r.status, ExecutionStatus::Succeeded);
    assert_eq!(r.output, Some(json!("States.QueryEvaluationError")));
    assert!(
        r.history
            .iter()
            .any(|e| e.event_type == "EvaluationFailed"
                && e.details["location"] == json!("Arguments"))
    );
}
