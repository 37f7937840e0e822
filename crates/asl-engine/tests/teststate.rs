//! TestState behaviour that the recorded corpus shows only through JSONata definitions
//! (Retry and Catch verdicts, Map failure counts, ItemReader data), checked here on their
//! JSONPath equivalents with the values AWS recorded; what a state sees of its context
//! and variables; and what a JSONata state shows beyond the recorded cases (Arguments, result,
//! ItemSelector and evaluated limits, Assign, a Wait's expression).

use asl_engine::{
    test_state, InvokeRequest, InvokeResponse, Resources, TestStateAccount, TestStateError,
    TestStateRequest, TestStateResponse, TestStatus,
};
use serde_json::{json, Value};
use std::sync::Arc;

/// A Task resource that echoes its payload, for the un-mocked Task test.
struct Echo;

#[async_trait::async_trait]
impl Resources for Echo {
    async fn invoke(&self, request: InvokeRequest) -> InvokeResponse {
        InvokeResponse::Lambda {
            status_code: 200,
            function_error: None,
            executed_version: "$LATEST".into(),
            payload: request.payload.to_string(),
        }
    }
}

/// A function that never answers.
struct Silent;

#[async_trait::async_trait]
impl Resources for Silent {
    async fn invoke(&self, _: InvokeRequest) -> InvokeResponse {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_ends_with_states_timeout_after_five_minutes_as_on_aws() {
    let body = json!({
        "definition": r#"{"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:111111111111:function:slow", "End": true}"#,
        "roleArn": "arn:aws:iam::111111111111:role/r",
    });
    let request = TestStateRequest::from_json(body.as_object().unwrap()).unwrap();
    let r = test_state(&request, &TestStateAccount::default(), Arc::new(Silent))
        .await
        .unwrap();
    assert_eq!(r.status, TestStatus::Failed);
    assert_eq!(r.error.as_deref(), Some("States.Timeout"));
}

async fn call(body: Value) -> Result<TestStateResponse, TestStateError> {
    let request = TestStateRequest::from_json(body.as_object().expect("an object"))?;
    test_state(&request, &TestStateAccount::default(), Arc::new(Echo)).await
}

fn text(v: &Value) -> String {
    v.to_string()
}

const LAMBDA_RETRY: &str = r#"{"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
    "Parameters": {"FunctionName": "foo", "Payload": "bar"},
    "Retry": [{"ErrorEquals": ["MockException"], "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 2.0}],
    "End": true}"#;

#[tokio::test]
async fn a_retrier_with_attempts_left_answers_retriable_with_its_back_off() {
    let r = call(json!({
        "definition": LAMBDA_RETRY,
        "inspectionLevel": "TRACE",
        "mock": {"errorOutput": {"error": "MockException", "cause": "Mock the cause of the error."}},
        "stateConfiguration": {"retrierRetryCount": 4},
    }))
    .await
    .unwrap();
    assert_eq!(r.status, TestStatus::Retriable);
    assert_eq!(r.error.as_deref(), Some("MockException"));
    assert_eq!(r.output, None);
    let body = r.to_json();
    assert_eq!(
        body["inspectionData"]["errorDetails"],
        json!({"retryBackoffIntervalSeconds": 16, "retryIndex": 0})
    );
    assert_eq!(
        body["inspectionData"]["afterParameters"],
        json!(text(&json!({"FunctionName": "foo", "Payload": "bar"})))
    );
}

#[tokio::test]
async fn a_retrier_out_of_attempts_fails_and_names_itself() {
    let r = call(json!({
        "definition": LAMBDA_RETRY,
        "inspectionLevel": "DEBUG",
        "mock": {"errorOutput": {"error": "MockException", "cause": "Mock the cause of the error."}},
        "stateConfiguration": {"retrierRetryCount": 5},
    }))
    .await
    .unwrap();
    assert_eq!(r.status, TestStatus::Failed);
    assert_eq!(r.cause.as_deref(), Some("Mock the cause of the error."));
    assert_eq!(
        r.to_json()["inspectionData"]["errorDetails"],
        json!({"retryIndex": 0})
    );
}

const LAMBDA_CATCH: &str = r#"{"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
    "Parameters": {"FunctionName": "foo", "Payload": "bar"},
    "Catch": [{"ErrorEquals": ["MockException"], "ResultPath": "$.caught", "Next": "HandleMockError"},
              {"ErrorEquals": ["States.TaskFailed"], "Next": "HandleThreshold"}],
    "End": true}"#;

#[tokio::test]
async fn a_matching_catcher_answers_caught_error_with_its_next_state() {
    let r = call(json!({
        "definition": LAMBDA_CATCH,
        "input": r#"{"Value": "HelloWorld"}"#,
        "inspectionLevel": "TRACE",
        "mock": {"errorOutput": {"error": "MockException", "cause": "Mock the cause of the error."}},
    }))
    .await
    .unwrap();
    assert_eq!(r.status, TestStatus::CaughtError);
    assert_eq!(r.next_state.as_deref(), Some("HandleMockError"));
    assert_eq!(
        r.output,
        Some(
            json!({"Value": "HelloWorld", "caught": {"Error": "MockException", "Cause": "Mock the cause of the error."}})
        )
    );
    assert_eq!(
        r.to_json()["inspectionData"]["errorDetails"],
        json!({"catchIndex": 0})
    );

    let r = call(json!({
        "definition": LAMBDA_CATCH,
        "inspectionLevel": "INFO",
        "mock": {"errorOutput": {"error": "States.TaskFailed", "cause": "The task failed."}},
    }))
    .await
    .unwrap();
    assert_eq!(r.status, TestStatus::CaughtError);
    assert_eq!(r.next_state.as_deref(), Some("HandleThreshold"));
    assert!(r.inspection_data.is_none(), "INFO shows no inspection data");
}

const MAP: &str = r#"{"Type": "Map", "ItemsPath": "$.Values",
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "TestState", "States": {"TestState": {"Type": "Pass", "End": true}}},
    "ToleratedFailureCount": 1,
    "Retry": [{"ErrorEquals": ["MockException"], "MaxAttempts": 3},
              {"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "MaxAttempts": 2}],
    "Catch": [{"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "Next": "HandleThresholdExceeded"}],
    "End": true}"#;

#[tokio::test]
async fn map_failures_within_tolerance_succeed_with_the_mocked_result() {
    let r = call(json!({
        "definition": MAP,
        "input": r#"{"Values": ["first", "second", "third"]}"#,
        "inspectionLevel": "DEBUG",
        "mock": {"result": "[1, 1, 1]"},
        "stateConfiguration": {"mapIterationFailureCount": 1},
    }))
    .await
    .unwrap();
    assert_eq!(r.status, TestStatus::Succeeded);
    assert_eq!(r.output, Some(json!([1, 1, 1])));
    let data = r.to_json()["inspectionData"].clone();
    assert_eq!(data["maxConcurrency"], json!(0));
    assert_eq!(data["toleratedFailureCount"], json!(1));
    assert_eq!(
        data["afterItemsPath"],
        json!(text(&json!(["first", "second", "third"])))
    );
}

#[tokio::test]
async fn map_failures_beyond_tolerance_are_retried_before_they_are_caught() {
    let body = |retries: u32| {
        json!({
            "definition": MAP,
            "input": r#"{"Values": ["first", "second", "third"]}"#,
            "inspectionLevel": "DEBUG",
            "mock": {"result": "[0, 0, 1]"},
            "stateConfiguration": {"mapIterationFailureCount": 2, "retrierRetryCount": retries},
        })
    };
    let r = call(body(0)).await.unwrap();
    assert_eq!(r.status, TestStatus::Retriable);
    assert_eq!(
        r.error.as_deref(),
        Some("States.ExceedToleratedFailureThreshold")
    );
    assert_eq!(
        r.cause.as_deref(),
        Some("The specified tolerated failure threshold was exceeded")
    );
    assert_eq!(
        r.to_json()["inspectionData"]["errorDetails"],
        json!({"retryBackoffIntervalSeconds": 1, "retryIndex": 1})
    );

    let r = call(body(2)).await.unwrap();
    assert_eq!(r.status, TestStatus::CaughtError);
    assert_eq!(r.next_state.as_deref(), Some("HandleThresholdExceeded"));
    assert_eq!(
        r.to_json()["inspectionData"]["errorDetails"],
        json!({"retryIndex": 1, "catchIndex": 0})
    );
}

#[tokio::test]
async fn map_failure_counts_are_checked_against_the_items_and_the_mock() {
    let e = call(json!({
        "definition": MAP,
        "input": r#"{"Values": [1, 1, 1]}"#,
        "mock": {"result": "[1, 1, 1]"},
        "stateConfiguration": {"mapIterationFailureCount": 4},
    }))
    .await
    .unwrap_err();
    assert_eq!(
        e,
        TestStateError::Validation(
            "Map iteration failure count must be less than or equal to the number of Map iterations".into()
        )
    );
    let e = call(json!({
        "definition": MAP,
        "stateConfiguration": {"mapIterationFailureCount": 0},
    }))
    .await
    .unwrap_err();
    assert_eq!(
        e,
        TestStateError::Validation(
            "TestState does not support MapIterationFailureCount when a mock is not specified."
                .into()
        )
    );
}

#[tokio::test]
async fn item_reader_data_stands_for_the_items_read() {
    let machine = r#"{"StartAt": "State0", "States": {"State0": {"Type": "Map", "MaxConcurrency": 1,
        "ItemReader": {"ReaderConfig": {"InputType": "JSON"}, "Resource": "arn:aws:states:::s3:getObject",
                       "Parameters": {"Bucket.$": "$.Bucket", "Key.$": "$.Key"}},
        "ItemSelector": {"index.$": "$$.Map.Item.Index", "value.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "HandleItem", "States": {"HandleItem": {"Type": "Pass", "End": true}}},
        "End": true}}}"#;
    let r = call(json!({
        "definition": machine,
        "stateName": "State0",
        "input": r#"{"Bucket": "test-bucket", "Key": "test-key"}"#,
        "inspectionLevel": "DEBUG",
        "mock": {"result": "[1, 4, 9]"},
        "stateConfiguration": {"mapItemReaderData": "[1, 2, 3]"},
    }))
    .await
    .unwrap();
    assert_eq!(r.status, TestStatus::Succeeded);
    assert_eq!(r.output, Some(json!([1, 4, 9])));
    let data = r.inspection_data.unwrap();
    assert_eq!(data.after_items_path, Some(json!([1, 2, 3])));
    assert_eq!(
        data.after_item_selector,
        Some(json!([{"index": 0, "value": 1}, {"index": 1, "value": 2}, {"index": 2, "value": 3}]))
    );
    assert_eq!(data.max_concurrency, Some(1));
}

/// A Map with a tolerance and no Retry or Catch.
const MAP_PLAIN: &str = r#"{"Type": "Map", "ItemsPath": "$.Values",
    "ItemProcessor": {"StartAt": "TestState", "States": {"TestState": {"Type": "Pass", "End": true}}},
    "ToleratedFailureCount": 2, "End": true}"#;

#[tokio::test]
async fn a_mocked_error_fails_a_map_whatever_the_tolerance() {
    let r = call(json!({
        "definition": MAP_PLAIN,
        "input": r#"{"Values": ["first", "second", "third"]}"#,
        "mock": {"errorOutput": {"error": "MockException", "cause": "Mock the error cause."}},
        "stateConfiguration": {"mapIterationFailureCount": 0, "errorCausedByState": "TestState"},
    }))
    .await
    .unwrap();
    assert_eq!(r.status, TestStatus::Failed);
    assert_eq!(r.error.as_deref(), Some("MockException"));

    let e = call(json!({
        "definition": MAP,
        "input": r#"{"Values": [1]}"#,
        "mock": {"errorOutput": {"error": "MockException"}},
        "stateConfiguration": {"errorCausedByState": "Elsewhere"},
    }))
    .await
    .unwrap_err();
    assert!(matches!(e, TestStateError::Validation(m) if m.contains("Elsewhere")));
}

#[tokio::test]
async fn the_context_object_is_aws_s_unless_the_request_brings_one() {
    let def = r#"{"Type": "Pass", "Parameters": {"name.$": "$$.State.Name", "role.$": "$$.Execution.RoleArn", "input.$": "$$.Execution.Input"}, "End": true}"#;
    let r = call(json!({"definition": def, "input": r#"{"a": 1}"#}))
        .await
        .unwrap();
    assert_eq!(
        r.output,
        Some(json!({"name": "StateName", "role": null, "input": {"a": 1}}))
    );

    let r = call(json!({
        "definition": def,
        "context": r#"{"State": {"Name": "Mine"}, "Execution": {"RoleArn": "r", "Input": 7}}"#,
    }))
    .await
    .unwrap();
    assert_eq!(
        r.output,
        Some(json!({"name": "Mine", "role": "r", "input": 7}))
    );
}

#[tokio::test]
async fn variables_are_read_and_assigned_and_shown() {
    let r = call(json!({
        "definition": r#"{"Type": "Pass", "Parameters": {"seen.$": "$x"}, "Assign": {"y.$": "$.seen"}, "Next": "N"}"#,
        "variables": r#"{"x": 42}"#,
        "inspectionLevel": "DEBUG",
    }))
    .await
    .unwrap();
    assert_eq!(r.output, Some(json!({"seen": 42})));
    assert_eq!(r.next_state.as_deref(), Some("N"));
    assert_eq!(
        r.inspection_data.unwrap().variables,
        Some(json!({"x": 42, "y": 42}))
    );
}

#[tokio::test]
async fn an_unmocked_task_calls_its_resource_and_wait_answers_at_once() {
    let r = call(json!({
        "definition": r#"{"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:111111111111:function:echo", "ResultSelector": {"got.$": "$.v"}, "End": true}"#,
        "roleArn": "arn:aws:iam::111111111111:role/r",
        "input": r#"{"v": 3}"#,
        "inspectionLevel": "DEBUG",
    }))
    .await
    .unwrap();
    assert_eq!(r.output, Some(json!({"got": 3})));
    assert_eq!(r.inspection_data.unwrap().result, Some(json!({"v": 3})));

    // The function gets the parameters shown, not a second evaluation of them.
    let r = call(json!({
        "definition": r#"{"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:111111111111:function:echo", "Parameters": {"id.$": "States.UUID()"}, "End": true}"#,
        "roleArn": "arn:aws:iam::111111111111:role/r",
        "inspectionLevel": "DEBUG",
    }))
    .await
    .unwrap();
    let data = r.inspection_data.unwrap();
    assert!(data.result.as_ref().is_some_and(|v| v["id"].is_string()));
    assert_eq!(data.after_parameters, data.result);

    let r = call(json!({
        "definition": r#"{"Type": "Wait", "Seconds": 1, "OutputPath": "$.keep", "Next": "After"}"#,
        "input": r#"{"keep": true}"#,
    }))
    .await
    .unwrap();
    assert_eq!(r.output, Some(json!(true)));
    assert_eq!(r.next_state.as_deref(), Some("After"));

    let r = call(json!({
        "definition": r#"{"Type": "Wait", "SecondsPath": "$.delay", "End": true}"#,
        "input": r#"{"delay": "soon"}"#,
    }))
    .await
    .unwrap();
    assert_eq!(r.status, TestStatus::Failed);
    assert_eq!(r.error.as_deref(), Some("States.Runtime"));
}

#[tokio::test]
async fn requests_are_refused_with_aws_s_messages() {
    let e = call(json!({"definition": r#"{"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": true, "Next": "A"}]}"#,
        "mock": {"result": "{}"}}))
    .await
    .unwrap_err();
    assert_eq!(
        e,
        TestStateError::Validation(
            "State type 'Choice' is not supported when a mock is specified".into()
        )
    );
    let e = call(
        json!({"definition": r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}"#,
        "stateName": "B"}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e,
        TestStateError::Validation("State not found in definition".into())
    );
    let e =
        call(json!({"definition": r#"{"Type": "Pass", "QueryLanguage": "Nope", "End": true}"#}))
            .await
            .unwrap_err();
    assert_eq!(e.code(), "InvalidDefinition");
}

#[tokio::test]
async fn sync_and_callback_tasks_are_tested_with_a_mock_only() {
    for resource in [
        "arn:aws:states:::ecs:runTask.sync",
        "arn:aws:states:::states:startExecution.sync:2",
        "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "arn:aws:states:us-east-1:123456789012:activity:approve",
    ] {
        let definition =
            json!({"Type": "Task", "Resource": resource, "ResultPath": "$.done", "End": true})
                .to_string();
        let r = call(json!({
            "definition": definition,
            "input": r#"{"a": 1}"#,
            "mock": {"result": r#"{"ok": true}"#},
        }))
        .await
        .unwrap();
        assert_eq!(r.status, TestStatus::Succeeded, "{resource}");
        assert_eq!(
            r.output,
            Some(json!({"a": 1, "done": {"ok": true}})),
            "{resource}"
        );

        let e = call(json!({"definition": definition, "roleArn": "arn:aws:iam::1:role/r"}))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "InvalidDefinition", "{resource}");
    }
}

#[tokio::test]
async fn a_jsonata_task_shows_its_arguments_result_and_variables() {
    let r = call(json!({
        "definition": r#"{"Type": "Task", "QueryLanguage": "JSONata",
            "Resource": "arn:aws:lambda:us-east-1:111111111111:function:echo",
            "Arguments": {"v": "{% $states.input.n * 2 %}", "who": "{% $states.context.State.Name %}"},
            "Assign": {"got": "{% $states.result.v %}"},
            "Output": {"sum": "{% $states.result.v + $base %}"},
            "Next": "After"}"#,
        "roleArn": "arn:aws:iam::111111111111:role/r",
        "input": r#"{"n": 3}"#,
        "variables": r#"{"base": 10}"#,
        "inspectionLevel": "DEBUG",
    }))
    .await
    .unwrap();
    assert_eq!(r.status, TestStatus::Succeeded);
    assert_eq!(r.output, Some(json!({"sum": 16})));
    assert_eq!(r.next_state.as_deref(), Some("After"));
    let data = r.inspection_data.unwrap();
    assert_eq!(
        data.after_arguments,
        Some(json!({"v": 6, "who": "StateName"}))
    );
    assert_eq!(data.result, Some(json!({"v": 6, "who": "StateName"})));
    assert_eq!(data.variables, Some(json!({"base": 10, "got": 6})));
    // No path pipeline in JSONata mode, so none of its steps is shown.
    assert_eq!(data.after_input_path, None);
    assert_eq!(data.after_parameters, None);
    assert_eq!(data.after_result_selector, None);
    assert_eq!(data.after_result_path, None);
}

#[tokio::test]
async fn a_jsonata_map_shows_its_selected_items_and_evaluated_limits() {
    let r = call(json!({
        "definition": r#"{"Type": "Map", "QueryLanguage": "JSONata",
            "Items": "{% $states.input.xs %}",
            "ItemSelector": {"i": "{% $states.context.Map.Item.Index %}", "x": "{% $states.context.Map.Item.Value %}"},
            "MaxConcurrency": "{% $count($states.input.xs) %}",
            "ToleratedFailurePercentage": "{% 50 %}",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
            "Output": "{% $sum($states.result) %}",
            "End": true}"#,
        "input": r#"{"xs": ["a", "b"]}"#,
        "mock": {"result": "[1, 2]"},
        "stateConfiguration": {"mapIterationFailureCount": 1},
        "inspectionLevel": "DEBUG",
    }))
    .await
    .unwrap();
    assert_eq!(r.status, TestStatus::Succeeded);
    assert_eq!(r.output, Some(json!(3)));
    let data = r.inspection_data.unwrap();
    assert_eq!(
        data.after_item_selector,
        Some(json!([{"i": 0, "x": "a"}, {"i": 1, "x": "b"}]))
    );
    assert_eq!(data.max_concurrency, Some(2));
    assert_eq!(data.tolerated_failure_percentage, Some(50.0));
    assert_eq!(data.after_items_path, None);

    // Two failures of two items are more than half.
    let r = call(json!({
        "definition": r#"{"Type": "Map", "QueryLanguage": "JSONata",
            "Items": "{% $states.input.xs %}", "ToleratedFailurePercentage": 50,
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
            "Catch": [{"ErrorEquals": ["States.ALL"], "Assign": {"why": "{% $states.errorOutput.Error %}"},
                "Output": "{% $states.input.xs %}", "Next": "Caught"}],
            "End": true}"#,
        "input": r#"{"xs": ["a", "b"]}"#,
        "mock": {"result": "[1, 2]"},
        "stateConfiguration": {"mapIterationFailureCount": 2},
        "inspectionLevel": "DEBUG",
    }))
    .await
    .unwrap();
    assert_eq!(r.status, TestStatus::CaughtError);
    assert_eq!(r.next_state.as_deref(), Some("Caught"));
    assert_eq!(r.output, Some(json!(["a", "b"])));
    assert_eq!(
        r.inspection_data.unwrap().variables,
        Some(json!({"why": "States.ExceedToleratedFailureThreshold"}))
    );
}

#[tokio::test(start_paused = true)]
async fn a_jsonata_wait_answers_at_once_and_a_bad_expression_fails_it() {
    let started = tokio::time::Instant::now();
    let r = call(json!({
        "definition": r#"{"Type": "Wait", "QueryLanguage": "JSONata", "Seconds": "{% $states.input.s %}",
            "Assign": {"waited": "{% $states.input.s %}"}, "Next": "After"}"#,
        "input": r#"{"s": 60}"#,
        "inspectionLevel": "DEBUG",
    }))
    .await
    .unwrap();
    assert_eq!(started.elapsed(), std::time::Duration::ZERO);
    assert_eq!(r.output, Some(json!({"s": 60})));
    assert_eq!(r.next_state.as_deref(), Some("After"));
    assert_eq!(
        r.inspection_data.unwrap().variables,
        Some(json!({"waited": 60}))
    );

    let r = call(json!({
        "definition": r#"{"Type": "Wait", "QueryLanguage": "JSONata", "Seconds": "{% $states.input.s %}", "End": true}"#,
        "input": r#"{"s": "soon"}"#,
    }))
    .await
    .unwrap();
    assert_eq!(r.status, TestStatus::Failed);
    assert_eq!(r.error.as_deref(), Some("States.QueryEvaluationError"));
}
