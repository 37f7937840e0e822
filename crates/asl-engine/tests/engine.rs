//! Behaviour of each feature of the engine, one small machine per test. Time is paused, so
//! waits and back-offs are measured on tokio's virtual clock.

use asl_engine::{
    execute, ExecutionOptions, ExecutionResult, ExecutionStatus, InvokeRequest, InvokeResponse,
    ResourceKind, Resources, StateMachine,
};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Handler = Box<dyn Fn(&InvokeRequest) -> InvokeResponse + Send + Sync>;

/// Records every request and answers with a handler, optionally after a delay.
struct Fake {
    handler: Handler,
    delay: Duration,
    requests: Mutex<Vec<InvokeRequest>>,
}

impl Fake {
    fn new(h: impl Fn(&InvokeRequest) -> InvokeResponse + Send + Sync + 'static) -> Arc<Fake> {
        Arc::new(Fake {
            handler: Box::new(h),
            delay: Duration::ZERO,
            requests: Mutex::new(Vec::new()),
        })
    }

    fn slow(delay: Duration) -> Arc<Fake> {
        Arc::new(Fake {
            handler: Box::new(|_| ok_lambda(json!("late"))),
            delay,
            requests: Mutex::new(Vec::new()),
        })
    }

    fn requests(&self) -> Vec<InvokeRequest> {
        self.requests.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Resources for Fake {
    async fn invoke(&self, request: InvokeRequest) -> InvokeResponse {
        self.requests.lock().unwrap().push(request.clone());
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        (self.handler)(&request)
    }
}

fn ok_lambda(v: Value) -> InvokeResponse {
    InvokeResponse::Lambda {
        status_code: 200,
        function_error: None,
        executed_version: "$LATEST".into(),
        payload: v.to_string(),
    }
}

fn fn_error(payload: &str) -> InvokeResponse {
    InvokeResponse::Lambda {
        status_code: 200,
        function_error: Some("Unhandled".into()),
        executed_version: "$LATEST".into(),
        payload: payload.into(),
    }
}

async fn run_with(
    def: Value,
    input: Value,
    res: Arc<dyn Resources>,
    opts: ExecutionOptions,
) -> ExecutionResult {
    let m = StateMachine::from_value(&def).unwrap_or_else(|e| panic!("{e}"));
    execute(&m, input, opts, res).await
}

async fn run(def: Value, input: Value) -> ExecutionResult {
    run_with(
        def,
        input,
        Fake::new(|_| ok_lambda(json!({}))),
        ExecutionOptions::default(),
    )
    .await
}

fn single(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state}})
}

fn output(r: &ExecutionResult) -> Value {
    assert_eq!(
        r.status,
        ExecutionStatus::Succeeded,
        "{:?}: {:?}",
        r.error,
        r.cause
    );
    r.output.clone().unwrap()
}

#[tokio::test(start_paused = true)]
async fn pass_runs_the_input_output_pipeline() {
    let r = run(
        single(
            json!({"Type": "Pass", "InputPath": "$.in", "Parameters": {"v.$": "$.x", "lit": "$.x"},
            "ResultPath": "$.in.res", "OutputPath": "$.in", "End": true}),
        ),
        json!({"in": {"x": 1}, "other": 2}),
    )
    .await;
    assert_eq!(output(&r), json!({"x": 1, "res": {"v": 1, "lit": "$.x"}}));
}

#[tokio::test(start_paused = true)]
async fn null_paths_discard_or_empty() {
    let r = run(
        single(json!({"Type": "Pass", "Result": 1, "ResultPath": null, "End": true})),
        json!({"a": 1}),
    )
    .await;
    assert_eq!(output(&r), json!({"a": 1}));
    let r = run(
        single(json!({"Type": "Pass", "InputPath": null, "End": true})),
        json!({"a": 1}),
    )
    .await;
    assert_eq!(output(&r), json!({}));
    let r = run(
        single(json!({"Type": "Pass", "OutputPath": null, "End": true})),
        json!({"a": 1}),
    )
    .await;
    assert_eq!(output(&r), json!({}));
}

#[tokio::test(start_paused = true)]
async fn context_object_fields() {
    let r = run_with(
        single(json!({"Type": "Pass", "Parameters": {
            "id.$": "$$.Execution.Id", "name.$": "$$.Execution.Name", "input.$": "$$.Execution.Input",
            "start.$": "$$.Execution.StartTime", "role.$": "$$.Execution.RoleArn",
            "sm.$": "$$.StateMachine.Id", "smName.$": "$$.StateMachine.Name",
            "state.$": "$$.State.Name", "entered.$": "$$.State.EnteredTime"}, "End": true})),
        json!({"k": "v"}),
        Fake::new(|_| ok_lambda(json!(null))),
        ExecutionOptions { name: Some("exec-1".into()), ..Default::default() },
    )
    .await;
    let o = output(&r);
    assert_eq!(o["id"], json!(r.execution_arn));
    assert!(r
        .execution_arn
        .starts_with("arn:aws:states:us-east-1:123456789012:express:local:exec-1:"));
    assert_eq!(o["name"], "exec-1");
    assert_eq!(o["input"], json!({"k": "v"}));
    assert_eq!(
        o["sm"],
        "arn:aws:states:us-east-1:123456789012:stateMachine:local"
    );
    assert_eq!(o["smName"], "local");
    assert_eq!(o["state"], "S");
    assert!(o["role"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:iam::123456789012:role/"));
    let start = o["start"].as_str().unwrap();
    assert_eq!(start.len(), 24, "{start}");
    assert!(start.ends_with('Z'));
    assert!(o["entered"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test(start_paused = true)]
async fn context_parts_and_misses_read_as_the_whole_object() {
    let r = run(
        single(json!({"Type": "Pass", "Parameters": {
            "exec.$": "$$.Execution", "all.$": "$$", "k.$": "$$.Execution.Input.k",
            "state.$": "$$.State"}, "End": true})),
        json!({"k": "v"}),
    )
    .await;
    let o = output(&r);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&o["exec"]),
        [
            "Id",
            "Input",
            "Name",
            "RoleArn",
            "StartTime",
            "RedriveCount"
        ]
    );
    assert_eq!(keys(&o["all"]), ["Execution", "StateMachine", "State"]);
    assert_eq!(o["all"]["Execution"], o["exec"]);
    assert_eq!(o["k"], "v");
    assert_eq!(keys(&o["state"]), ["Name", "EnteredTime"]);
    for path in ["$$.State.RetryCount", "$$.Execution.Nope", "$$.Nope"] {
        let r = run(
            single(json!({"Type": "Pass", "Parameters": {"x.$": path}, "End": true})),
            json!({}),
        )
        .await;
        assert_eq!(r.error.as_deref(), Some("States.Runtime"));
        let cause = r.cause.unwrap();
        assert!(
            cause.contains(&format!(
                "The JSONPath '{path}' specified for the field 'x.$' could not be found"
            )),
            "{cause}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn choice_operators_and_combinators() {
    let def = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [
            {"And": [{"Variable": "$.n", "NumericGreaterThanEquals": 10}, {"Not": {"Variable": "$.s", "StringEquals": "x"}}], "Next": "Big"},
            {"Or": [{"Variable": "$.missing", "IsPresent": true}, {"Variable": "$.t", "TimestampLessThanPath": "$.u"}], "Next": "Early"},
            {"Variable": "$.s", "StringMatches": "ab*", "Next": "Match"}
        ], "Default": "Other"},
        "Big": {"Type": "Pass", "Result": "big", "End": true},
        "Early": {"Type": "Pass", "Result": "early", "End": true},
        "Match": {"Type": "Pass", "Result": "match", "End": true},
        "Other": {"Type": "Pass", "Result": "other", "End": true}
    }});
    let case = |input: Value| run(def.clone(), input);
    assert_eq!(
        output(&case(json!({"n": 10, "s": "y"})).await),
        json!("big")
    );
    assert_eq!(
        output(&case(json!({"n": 1, "s": "y", "t": "2020-01-01T00:00:00Z", "u": "2021-01-01T00:00:00+01:00"})).await),
        json!("early")
    );
    assert_eq!(
        output(&case(json!({"n": 1, "s": "abc", "t": "x", "u": "y"})).await),
        json!("match")
    );
    assert_eq!(
        output(&case(json!({"n": "10", "s": "q", "t": 1, "u": 2})).await),
        json!("other")
    );
}

#[tokio::test(start_paused = true)]
async fn choice_without_match_or_default_fails() {
    let def = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "S"}]},
        "S": {"Type": "Succeed"}
    }});
    let r = run(def, json!({"a": 1})).await;
    assert_eq!(r.status, ExecutionStatus::Failed);
    assert_eq!(r.error.as_deref(), Some("States.NoChoiceMatched"));
}

#[tokio::test(start_paused = true)]
async fn fail_with_static_and_dynamic_fields() {
    let r = run(
        single(json!({"Type": "Fail", "Error": "E", "Cause": "C"})),
        json!({}),
    )
    .await;
    assert_eq!(
        (r.error.as_deref(), r.cause.as_deref()),
        (Some("E"), Some("C"))
    );
    let r = run(
        single(json!({"Type": "Fail", "ErrorPath": "$.e", "CausePath": "States.Format('because {}', $.c)"})),
        json!({"e": "Dyn", "c": 42}),
    )
    .await;
    assert_eq!(
        (r.error.as_deref(), r.cause.as_deref()),
        (Some("Dyn"), Some("because 42"))
    );
    let r = run(single(json!({"Type": "Fail"})), json!({})).await;
    assert_eq!(r.status, ExecutionStatus::Failed);
    assert_eq!((r.error, r.cause), (None, None));
}

fn task(resource: &str, extra: Value) -> Value {
    let mut s = json!({"Type": "Task", "Resource": resource, "End": true});
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    single(s)
}

#[tokio::test(start_paused = true)]
async fn lambda_invoke_wraps_the_result_and_sends_the_payload() {
    let fake = Fake::new(|r| ok_lambda(json!({"echo": r.payload.clone()})));
    let r = run_with(
        task("arn:aws:states:::lambda:invoke", json!({"Parameters": {"FunctionName": "fn", "Payload": {"a.$": "$.a"}}, "TimeoutSeconds": 3})),
        json!({"a": 1}),
        fake.clone(),
        ExecutionOptions::default(),
    )
    .await;
    let o = output(&r);
    assert_eq!(o["Payload"], json!({"echo": {"a": 1}}));
    assert_eq!(o["StatusCode"], 200);
    assert_eq!(o["ExecutedVersion"], "$LATEST");
    assert!(o["SdkHttpMetadata"]["HttpHeaders"].is_object());
    let req = &fake.requests()[0];
    assert_eq!(
        req.kind,
        ResourceKind::LambdaInvoke {
            function_name: "fn".into()
        }
    );
    assert_eq!(req.timeout, Some(Duration::from_secs(3)));
    assert_eq!(req.state_name, "S");
    assert_eq!(req.retry_count, 0);
}

#[tokio::test(start_paused = true)]
async fn lambda_invoke_parameters_beyond_name_and_payload_are_evaluated_and_dropped() {
    let invoke = |parameters: Value| {
        task(
            "arn:aws:states:::lambda:invoke",
            json!({"Parameters": parameters}),
        )
    };
    let echo = || Fake::new(|r| ok_lambda(json!({"echo": r.payload.clone()})));
    let opts = ExecutionOptions::default;

    let fake = echo();
    let r = run_with(
        invoke(json!({"FunctionName.$": "$.fn", "Qualifier.$": "$.q"})),
        json!({"fn": "named-by-path", "q": "live"}),
        fake.clone(),
        opts(),
    )
    .await;
    assert_eq!(output(&r)["Payload"], json!({"echo": {}}));
    let req = &fake.requests()[0];
    assert_eq!(
        req.kind,
        ResourceKind::LambdaInvoke {
            function_name: "named-by-path".into()
        }
    );
    assert_eq!(req.payload, json!({}));

    // A field the call does not use still fails the state when its path misses, and nothing is called.
    for (parameters, input, expected) in [
        (
            json!({"FunctionName": "f", "Payload": {"a": 1}, "Qualifier.$": "$.missing"}),
            json!({}),
            "'$.missing' specified for the field 'Qualifier.$'",
        ),
        (
            json!({"FunctionName.$": "$.n", "Payload": {}}),
            json!({"n": 7}),
            "The field 'FunctionName' must be a string, not 7",
        ),
    ] {
        let fake = echo();
        let r = run_with(invoke(parameters), input, fake.clone(), opts()).await;
        assert_eq!(r.error.as_deref(), Some("States.Runtime"));
        let cause = r.cause.unwrap_or_default();
        assert!(cause.contains(expected), "{cause}");
        assert!(fake.requests().is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn a_result_selector_with_an_indefinite_payload_path_reads_the_whole_result() {
    let r = run_with(
        task(
            "arn:aws:states:::lambda:invoke",
            json!({
                "Parameters": {"FunctionName": "f"},
                "ResultSelector": {"ids.$": "$.Payload.items[*].id", "first.$": "$.Payload.items[0].id"}
            }),
        ),
        json!({}),
        Fake::new(|_| ok_lambda(json!({"items": [{"id": 1}, {"id": 2}]}))),
        ExecutionOptions::default(),
    )
    .await;
    assert_eq!(output(&r), json!({"ids": [1, 2], "first": 1}));
}

#[tokio::test(start_paused = true)]
async fn a_payload_handed_over_as_a_value_reads_as_its_text() {
    let answer = json!({"n": 1.5, "s": "é\n", "list": [1, null]});
    let as_value = {
        let answer = answer.clone();
        move |_: &InvokeRequest| InvokeResponse::LambdaValue {
            status_code: 200,
            executed_version: "$LATEST".into(),
            payload: answer.clone(),
        }
    };
    let invoke = task(
        "arn:aws:states:::lambda:invoke",
        json!({"Parameters": {"FunctionName": "f"}}),
    );
    let opts = ExecutionOptions::default;
    let by_value = output(
        &run_with(
            invoke.clone(),
            json!({}),
            Fake::new(as_value.clone()),
            opts(),
        )
        .await,
    );
    let a = answer.clone();
    let by_text = output(
        &run_with(
            invoke,
            json!({}),
            Fake::new(move |_| ok_lambda(a.clone())),
            opts(),
        )
        .await,
    );
    for o in [&by_value, &by_text] {
        assert_eq!(o["Payload"], answer);
        assert_eq!(
            o["SdkHttpMetadata"]["HttpHeaders"]["Content-Length"],
            answer.to_string().len().to_string()
        );
    }
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:f";
    let r = run_with(
        task(arn, json!({})),
        json!({}),
        Fake::new(as_value.clone()),
        opts(),
    )
    .await;
    assert_eq!(output(&r), answer);
    let r = run_with(
        task(
            "arn:aws:states:::sqs:sendMessage",
            json!({"Parameters": {"QueueUrl": "q"}}),
        ),
        json!({}),
        Fake::new(as_value),
        opts(),
    )
    .await;
    assert_eq!(r.error.as_deref(), Some("States.Runtime"));
}

#[tokio::test(start_paused = true)]
async fn plain_lambda_arn_returns_the_bare_payload() {
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:f";
    let fake = Fake::new(|r| ok_lambda(r.payload.clone()));
    let r = run_with(
        task(arn, json!({"InputPath": "$.x"})),
        json!({"x": [1, 2]}),
        fake.clone(),
        ExecutionOptions::default(),
    )
    .await;
    assert_eq!(output(&r), json!([1, 2]));
    assert_eq!(
        fake.requests()[0].kind,
        ResourceKind::LambdaArn {
            function_arn: arn.into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn service_integrations_get_the_effective_parameters() {
    let fake = Fake::new(|_| InvokeResponse::Service(json!({"MessageId": "m"})));
    let r = run_with(
        task("arn:aws:states:::sqs:sendMessage", json!({"Parameters": {"QueueUrl": "q", "MessageBody.$": "$"}, "ResultSelector": {"id.$": "$.MessageId"}})),
        json!({"b": 1}),
        fake.clone(),
        ExecutionOptions::default(),
    )
    .await;
    assert_eq!(output(&r), json!({"id": "m"}));
    let req = &fake.requests()[0];
    assert_eq!(
        req.kind,
        ResourceKind::Service {
            service: "sqs".into(),
            action: "sendMessage".into()
        }
    );
    assert_eq!(
        req.payload,
        json!({"QueueUrl": "q", "MessageBody": {"b": 1}})
    );
}

#[tokio::test(start_paused = true)]
async fn lambda_errors_map_like_aws() {
    let payload = r#"{"errorMessage": "m", "errorType": "Saga.Bad", "trace": []}"#;
    // lambda:invoke re-serialises the cause compactly.
    let r = run_with(
        task(
            "arn:aws:states:::lambda:invoke",
            json!({"Parameters": {"FunctionName": "f"}}),
        ),
        json!({}),
        Fake::new(move |_| fn_error(payload)),
        ExecutionOptions::default(),
    )
    .await;
    assert_eq!(r.error.as_deref(), Some("Saga.Bad"));
    assert_eq!(
        r.cause.as_deref(),
        Some(r#"{"errorMessage":"m","errorType":"Saga.Bad","trace":[]}"#)
    );
    // The plain ARN passes the payload text through.
    let r = run_with(
        task("arn:aws:lambda:us-east-1:1:function:f", json!({})),
        json!({}),
        Fake::new(move |_| fn_error(payload)),
        ExecutionOptions::default(),
    )
    .await;
    assert_eq!(r.cause.as_deref(), Some(payload));
    // No errorType: Lambda.Unknown.
    let r = run_with(
        task("arn:aws:lambda:us-east-1:1:function:f", json!({})),
        json!({}),
        Fake::new(|_| fn_error(r#"{"errorMessage":"oom"}"#)),
        ExecutionOptions::default(),
    )
    .await;
    assert_eq!(r.error.as_deref(), Some("Lambda.Unknown"));
    assert_eq!(
        r.cause.as_deref(),
        Some(
            r#"The cause could not be determined because Lambda did not return an error type. Returned payload: {"errorMessage":"oom"}"#
        )
    );
    // Service errors.
    let r = run_with(
        task(
            "arn:aws:states:::lambda:invoke",
            json!({"Parameters": {"FunctionName": "f"}}),
        ),
        json!({}),
        Fake::new(|_| InvokeResponse::LambdaServiceError {
            error: "ResourceNotFoundException".into(),
            message: "Function not found: f".into(),
        }),
        ExecutionOptions::default(),
    )
    .await;
    assert_eq!(r.error.as_deref(), Some("Lambda.ResourceNotFoundException"));
    let cause = r.cause.unwrap();
    assert!(cause.starts_with("Function not found: f (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: "), "{cause}");
    assert!(cause.ends_with("; Proxy: null)"));
}

#[tokio::test(start_paused = true)]
async fn retry_backs_off_and_counts_per_retrier() {
    let fake = Fake::new(|r| match r.retry_count {
        0 | 1 => InvokeResponse::ServiceError {
            error: "A".into(),
            cause: "a".into(),
        },
        2 => InvokeResponse::ServiceError {
            error: "B".into(),
            cause: "b".into(),
        },
        _ => InvokeResponse::Service(json!({"count.$": "literal"})),
    });
    let start = tokio::time::Instant::now();
    let r = run_with(
        task("arn:aws:states:::sqs:sendMessage", json!({
            "Retry": [
                {"ErrorEquals": ["A"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 2},
                {"ErrorEquals": ["B"], "IntervalSeconds": 5, "MaxAttempts": 1}
            ],
            "ResultSelector": {"tries.$": "$$.State.RetryCount"}
        })),
        json!({}),
        fake.clone(),
        ExecutionOptions::default(),
    )
    .await;
    assert_eq!(output(&r), json!({"tries": 3}));
    // 2 s, 6 s for A, then B's own first delay of 5 s.
    assert_eq!(start.elapsed(), Duration::from_secs(13));
    let counts: Vec<u32> = fake.requests().iter().map(|r| r.retry_count).collect();
    assert_eq!(counts, [0, 1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn retry_stops_at_the_first_matching_exhausted_retrier() {
    let fake = Fake::new(|_| InvokeResponse::ServiceError {
        error: "A".into(),
        cause: "a".into(),
    });
    let r = run_with(
        task(
            "arn:aws:states:::sqs:sendMessage",
            json!({
                "Retry": [
                    {"ErrorEquals": ["A"], "MaxAttempts": 1},
                    {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}
                ]
            }),
        ),
        json!({}),
        fake.clone(),
        ExecutionOptions::default(),
    )
    .await;
    assert_eq!(r.error.as_deref(), Some("A"));
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn max_delay_caps_and_full_jitter_stays_below_the_cap() {
    let fake = Fake::new(|_| InvokeResponse::ServiceError {
        error: "A".into(),
        cause: "a".into(),
    });
    let start = tokio::time::Instant::now();
    run_with(
        task("arn:aws:states:::sqs:sendMessage", json!({
            "Retry": [{"ErrorEquals": ["A"], "IntervalSeconds": 10, "MaxAttempts": 3, "MaxDelaySeconds": 15}]
        })),
        json!({}),
        fake,
        ExecutionOptions::default(),
    )
    .await;
    assert_eq!(start.elapsed(), Duration::from_secs(10 + 15 + 15));

    let fake = Fake::new(|_| InvokeResponse::ServiceError {
        error: "A".into(),
        cause: "a".into(),
    });
    let start = tokio::time::Instant::now();
    run_with(
        task("arn:aws:states:::sqs:sendMessage", json!({
            "Retry": [{"ErrorEquals": ["A"], "IntervalSeconds": 10, "MaxAttempts": 3, "JitterStrategy": "FULL"}]
        })),
        json!({}),
        fake,
        ExecutionOptions::default(),
    )
    .await;
    assert!(start.elapsed() <= Duration::from_secs(10 + 20 + 40));
}

#[tokio::test(start_paused = true)]
async fn catch_builds_the_error_output_and_applies_its_result_path() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "ResultPath": "$.ignored", "OutputPath": "$.nothing",
              "Catch": [{"ErrorEquals": ["Nope"], "Next": "X"}, {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.err", "Next": "H"}], "End": true},
        "X": {"Type": "Succeed"},
        "H": {"Type": "Pass", "End": true}
    }});
    let r = run_with(
        def,
        json!({"keep": 1}),
        Fake::new(|_| InvokeResponse::ServiceError {
            error: "Boom".into(),
            cause: "why".into(),
        }),
        ExecutionOptions::default(),
    )
    .await;
    assert_eq!(
        output(&r),
        json!({"keep": 1, "err": {"Error": "Boom", "Cause": "why"}})
    );
}

#[tokio::test(start_paused = true)]
async fn task_timeouts_are_scaled_raced_and_catchable() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "f"},
              "TimeoutSecondsPath": "$.t", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}], "End": true},
        "H": {"Type": "Pass", "End": true}
    }});
    let start = tokio::time::Instant::now();
    let fake = Fake::slow(Duration::from_secs(100));
    let r = run_with(
        def,
        json!({"t": 10}),
        fake.clone(),
        ExecutionOptions {
            time_scale: 0.5,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(output(&r), json!({"Error": "States.Timeout", "Cause": ""}));
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(fake.requests()[0].timeout, Some(Duration::from_secs(5)));
}

#[tokio::test(start_paused = true)]
async fn an_uncaught_task_timeout_fails_without_cause() {
    let r = run_with(
        task(
            "arn:aws:states:::lambda:invoke",
            json!({"Parameters": {"FunctionName": "f"}, "TimeoutSeconds": 1}),
        ),
        json!({}),
        Fake::slow(Duration::from_secs(5)),
        ExecutionOptions::default(),
    )
    .await;
    assert_eq!(r.status, ExecutionStatus::Failed);
    assert_eq!(
        (r.error.as_deref(), r.cause.as_deref()),
        (Some("States.Timeout"), None)
    );
}

#[tokio::test(start_paused = true)]
async fn top_level_timeout_is_scaled_and_not_catchable() {
    let def = json!({"StartAt": "W", "TimeoutSeconds": 10, "States": {
        "W": {"Type": "Wait", "Seconds": 100, "End": true}
    }});
    let start = tokio::time::Instant::now();
    let r = run_with(
        def,
        json!({}),
        Fake::new(|_| ok_lambda(json!(1))),
        ExecutionOptions {
            time_scale: 0.1,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(r.status, ExecutionStatus::TimedOut);
    assert_eq!(r.error.as_deref(), Some("States.Timeout"));
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn runtime_errors_skip_retry_and_catch() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "InputPath": "$.missing",
              "Retry": [{"ErrorEquals": ["States.ALL"]}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}], "End": true},
        "H": {"Type": "Pass", "End": true}
    }});
    let r = run(def, json!({})).await;
    assert_eq!(r.error.as_deref(), Some("States.Runtime"));
    assert_eq!(
        r.cause.as_deref(),
        Some("An error occurred while executing the state 'T' (entered at the event id #2). Invalid path '$.missing' : No results for path: $['missing']")
    );
}

#[tokio::test(start_paused = true)]
async fn wait_durations_follow_the_time_scale() {
    let def = json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "SecondsPath": "$.s", "Next": "W2"},
        "W2": {"Type": "Wait", "Seconds": 4, "End": true}
    }});
    let start = tokio::time::Instant::now();
    let r = run_with(
        def,
        json!({"s": 6}),
        Fake::new(|_| ok_lambda(json!(1))),
        ExecutionOptions {
            time_scale: 0.5,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(output(&r), json!({"s": 6}));
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn parallel_returns_branch_outputs_in_order() {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 2, "Next": "A2"}, "A2": {"Type": "Pass", "Result": "a", "End": true}}},
        {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": "b", "End": true}}}
    ]}}});
    let start = tokio::time::Instant::now();
    assert_eq!(output(&run(def, json!({})).await), json!(["a", "b"]));
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn map_limits_concurrency_and_keeps_item_order() {
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemsPath": "$.items", "MaxConcurrency": 2,
        "ItemSelector": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index", "k.$": "$.k"},
        "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": true}}}}}});
    let start = tokio::time::Instant::now();
    let r = run(def, json!({"items": ["x", "y", "z"], "k": 7})).await;
    assert_eq!(
        output(&r),
        json!([{"v": "x", "i": 0, "k": 7}, {"v": "y", "i": 1, "k": 7}, {"v": "z", "i": 2, "k": 7}])
    );
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn assign_sets_variables_for_later_states() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": {"x": 5}, "Assign": {"fromResult.$": "$.x", "lit": "v"}, "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"a.$": "$fromResult", "b.$": "$lit", "c.$": "States.Format('{}-{}', $lit, $fromResult)"}, "End": true}
    }});
    assert_eq!(
        output(&run(def, json!({})).await),
        json!({"a": 5, "b": "v", "c": "v-5"})
    );
}

#[tokio::test(start_paused = true)]
async fn result_selector_reads_the_lambda_envelope_and_quotes_it_whole_on_a_miss() {
    let invoke = |selector: Value| {
        task(
            "arn:aws:states:::lambda:invoke",
            json!({"Parameters": {"FunctionName": "f", "Payload.$": "$"}, "ResultSelector": selector}),
        )
    };
    let echo = || Fake::new(|r| ok_lambda(json!({"echo": r.payload.clone()})));
    let opts = ExecutionOptions::default;
    let r = run_with(
        invoke(json!({"e.$": "$.Payload.echo.a", "s.$": "$$.State.Name", "k": [1]})),
        json!({"a": 1}),
        echo(),
        opts(),
    )
    .await;
    assert_eq!(output(&r), json!({"e": 1, "s": "S", "k": [1]}));
    let r = run_with(
        invoke(json!({"e.$": "$.Payload.echo", "code.$": "$.StatusCode"})),
        json!({"a": 1}),
        echo(),
        opts(),
    )
    .await;
    assert_eq!(output(&r), json!({"e": {"a": 1}, "code": 200}));
    let r = run_with(
        invoke(json!({"x.$": "$.Payload.nope"})),
        json!({"a": 1}),
        echo(),
        opts(),
    )
    .await;
    assert_eq!(r.error.as_deref(), Some("States.Runtime"));
    let cause = r.cause.unwrap();
    assert!(
        cause.contains(r#"The JSONPath '$.Payload.nope' specified for the field 'x.$' could not be found in the input '{"ExecutedVersion":"$LATEST","Payload":{"echo":{"a":1}},"SdkHttpMetadata":{"AllHttpHeaders":"#),
        "{cause}"
    );
}

#[tokio::test(start_paused = true)]
async fn results_near_the_payload_limit_are_measured_exactly() {
    // The envelope around this payload brings it close to the limit without passing it.
    let near = "x".repeat(262_144 - 1_000);
    for result_path in [json!("$.r"), Value::Null] {
        let near = near.clone();
        let r = run_with(
            task(
                "arn:aws:states:::lambda:invoke",
                json!({"Parameters": {"FunctionName": "f"}, "ResultPath": result_path, "OutputPath": "$.a"}),
            ),
            json!({"a": 1}),
            Fake::new(move |_| ok_lambda(json!(near))),
            ExecutionOptions::default(),
        )
        .await;
        assert_eq!(output(&r), json!(1));
    }
}

#[tokio::test(start_paused = true)]
async fn task_results_over_the_payload_limit_fail() {
    // Over by the envelope alone, and by the payload; kept or dropped by ResultPath.
    for (len, result_path) in [
        (262_144 - 100, json!("$")),
        (300_000, json!("$")),
        (300_000, Value::Null),
    ] {
        let big = "x".repeat(len);
        let r = run_with(
            task(
                "arn:aws:states:::lambda:invoke",
                json!({"Parameters": {"FunctionName": "f"}, "ResultPath": result_path}),
            ),
            json!({}),
            Fake::new(move |_| ok_lambda(json!(big))),
            ExecutionOptions::default(),
        )
        .await;
        assert_eq!(r.error.as_deref(), Some("States.DataLimitExceeded"));
        assert_eq!(
            r.cause.as_deref(),
            Some("The state/task 'lambda' returned a result with a size exceeding the maximum number of bytes service limit.")
        );
    }
}

#[tokio::test(start_paused = true)]
async fn start_sync_execution_response_shape() {
    let r = run(
        single(json!({"Type": "Pass", "Result": {"a": 1}, "End": true})),
        json!({"in": true}),
    )
    .await;
    let resp = r.to_start_sync_execution_response();
    assert_eq!(resp["status"], "SUCCEEDED");
    assert_eq!(resp["input"], r#"{"in":true}"#);
    assert_eq!(resp["output"], r#"{"a":1}"#);
    assert_eq!(resp["inputDetails"], json!({"included": true}));
    assert_eq!(resp["billingDetails"]["billedMemoryUsedInMB"], 64);
    assert_eq!(
        resp["billingDetails"]["billedDurationInMilliseconds"]
            .as_u64()
            .unwrap()
            % 100,
        0
    );
    assert!(resp["startDate"].is_f64());
    assert!(resp.get("error").is_none());

    let r = run(
        single(json!({"Type": "Fail", "Error": "E", "Cause": "C"})),
        json!({}),
    )
    .await;
    let resp = r.to_start_sync_execution_response();
    assert_eq!(resp["status"], "FAILED");
    assert!(resp.get("output").is_none());
    assert_eq!(
        (resp["error"].as_str(), resp["cause"].as_str()),
        (Some("E"), Some("C"))
    );
}

#[tokio::test(start_paused = true)]
async fn history_events_look_like_express_log_records() {
    let r = run_with(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "f"}, "Next": "P"},
            "P": {"Type": "Pass", "End": true}
        }}),
        json!({}),
        Fake::new(|_| ok_lambda(json!(1))),
        ExecutionOptions { record_history: true, ..Default::default() },
    )
    .await;
    let types: Vec<&str> = r.history.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
    let ids: Vec<u64> = r.history.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=9).collect::<Vec<_>>());
    let rec = r.history[2].to_log_record(&r.execution_arn);
    assert_eq!(rec["type"], "TaskScheduled");
    assert_eq!(rec["id"], "3");
    assert_eq!(rec["previous_event_id"], "2");
    assert_eq!(rec["details"]["resourceType"], "lambda");
    assert_eq!(rec["details"]["resource"], "invoke");
    assert_eq!(rec["execution_arn"], json!(r.execution_arn));
    assert!(rec["event_timestamp"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .is_ok());

    let quiet = run(single(json!({"Type": "Pass", "End": true})), json!({})).await;
    assert!(quiet.history.is_empty());
}

#[tokio::test(start_paused = true)]
async fn abort_skips_retry_and_catch() {
    let fake = Fake::new(|_| InvokeResponse::Abort);
    let r = run_with(
        task("arn:aws:states:::sqs:sendMessage", json!({"Retry": [{"ErrorEquals": ["States.ALL"]}], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S"}]})),
        json!({}),
        fake.clone(),
        ExecutionOptions::default(),
    )
    .await;
    assert_eq!(r.status, ExecutionStatus::Aborted);
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn machines_and_executions_can_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let m = StateMachine::from_value(&single(json!({"Type": "Succeed"}))).unwrap();
    send_sync(&m);
    let fut = execute(
        &m,
        json!({}),
        ExecutionOptions::default(),
        Fake::new(|_| ok_lambda(json!(1))),
    );
    send(&fut);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_on_a_multi_threaded_runtime() {
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "f", "Payload.$": "$"}, "OutputPath": "$.Payload", "End": true}}}}}});
    let items: Vec<Value> = (0..50).map(|i| json!(i)).collect();
    let r = run_with(
        def,
        json!(items.clone()),
        Fake::new(|r| ok_lambda(r.payload.clone())),
        ExecutionOptions::default(),
    )
    .await;
    assert_eq!(output(&r), json!(items));
}

#[tokio::test(start_paused = true)]
async fn a_huge_time_scale_does_not_overflow() {
    let r = run_with(
        task(
            "arn:aws:states:::sqs:sendMessage",
            json!({"TimeoutSeconds": 99999999}),
        ),
        json!({}),
        Fake::new(|_| InvokeResponse::Service(json!(1))),
        ExecutionOptions {
            time_scale: 1e300,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(output(&r), json!(1));
}

#[tokio::test(start_paused = true)]
async fn a_result_path_that_cannot_apply_is_a_reference_path_conflict() {
    // A string has no member to write the result into, at the top level or as a Map item.
    let r = run(
        single(json!({"Type": "Pass", "Result": 1, "ResultPath": "$.result", "End": true})),
        json!("input1"),
    )
    .await;
    assert_eq!(r.status, ExecutionStatus::Failed);
    assert_eq!(r.error.as_deref(), Some("States.ReferencePathConflict"));
    assert_eq!(
        r.cause.as_deref(),
        Some(r#"Unable to apply ReferencePath $.result to input "input1""#)
    );
    let r = run(
        single(json!({
            "Type": "Map",
            "ItemProcessor": {
                "StartAt": "Item",
                "States": {"Item": {"Type": "Pass", "Result": 1, "ResultPath": "$.result", "End": true}}
            },
            "End": true
        })),
        json!(["input1"]),
    )
    .await;
    assert_eq!(r.error.as_deref(), Some("States.ReferencePathConflict"));
}
