//! `saga run` and `saga validate` end to end: the real binary on the fixtures in
//! `tests/fixtures/` and on the shipped `workflow.asl.json`; and `saga serve` stopping on a signal.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};

mod command;
#[cfg(unix)]
mod serve;

use command::{fixtures, saga};

fn workflow() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../workflow.asl.json")
        .display()
        .to_string()
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn output_of(result: &Value) -> Value {
    serde_json::from_str(result["output"].as_str().expect("an output string")).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `saga ARGS` exits 1 and says `message` on stderr.
fn assert_refused(args: &[&str], message: &str) {
    let out = saga(args);
    assert_eq!(out.status.code(), Some(1), "{args:?}");
    assert!(stderr(&out).contains(message), "{}", stderr(&out));
}

#[test]
fn run_prints_the_start_sync_execution_result() {
    let out = saga(&[
        "run",
        "hello.asl.json",
        "--input",
        r#"{"name": "Ada"}"#,
        "--name",
        "greet-1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let result = stdout_json(&out);
    assert_eq!(result["status"], "SUCCEEDED");
    assert_eq!(result["name"], "greet-1");
    assert_eq!(
        result["stateMachineArn"],
        "arn:aws:states:us-east-1:123456789012:stateMachine:hello"
    );
    assert!(result["executionArn"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:states:us-east-1:123456789012:express:hello:greet-1:"));
    assert_eq!(output_of(&result), json!({"greeting": "Hello, Ada!"}));
    assert_eq!(result["input"], r#"{"name":"Ada"}"#);
    assert!(result["startDate"].is_f64() || result["startDate"].is_number());
    assert_eq!(result["billingDetails"]["billedMemoryUsedInMB"], 64);
}

#[test]
fn run_calls_mocked_lambdas_by_name_or_arn() {
    let var = "--var=ReserveFunction=arn:aws:lambda:us-east-1:123456789012:function:reserve";
    let out = saga(&[
        "run",
        "lambda.asl.json",
        var,
        "--input",
        "@input-order.json",
        "--mock",
        "mock-ok.json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let result = stdout_json(&out);
    assert_eq!(
        output_of(&result),
        json!({"reservation": {"reserved": true}})
    );
    assert_eq!(result["input"], r#"{"sku":"A-1","quantity":2}"#);

    // A list of answers is consumed per call: the retry sees the second one.
    let out = saga(&[
        "run",
        "lambda.asl.json",
        "--var",
        "ReserveFunction=reserve",
        "--mock",
        "mock-retry.json",
        "--time-scale",
        "0.01",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        output_of(&stdout_json(&out)),
        json!({"reservation": {"reserved": true, "attempt": 2}})
    );
}

#[test]
fn run_answers_from_a_step_functions_local_test_case() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "lambda.asl.json",
            "--var",
            "ReserveFunction=reserve",
            "--mock",
            "mock-config.json",
            "--time-scale",
            "0.01",
            "--history",
        ];
        args.extend_from_slice(extra);
        saga(&args)
    };

    // Invocation 0 throws Saga.Transient, the Retry calls again, invocation 1 returns.
    let out = run(&["--test-case", "RetryPath"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        output_of(&stdout_json(&out)),
        json!({"reservation": {"reserved": true, "attempt": 2}})
    );
    let history = stderr(&out);
    assert_eq!(history.matches("\"TaskScheduled\"").count(), 2, "{history}");
    assert!(history.contains("\"TaskFailed\""), "{history}");

    // A thrown error reaches the Catch.
    let out = run(&["--test-case", "OutOfStock"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["error"], "OutOfStock");

    // A state the test case does not name is not mocked: nothing answers it.
    let out = run(&["--test-case", "Unmocked"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stdout_json(&out)["error"],
        "Lambda.ResourceNotFoundException"
    );

    // The state machine name comes from --state-machine-name when given.
    let out = run(&[
        "--test-case",
        "HappyPath",
        "--state-machine-name",
        "Inventory",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let result = stdout_json(&out);
    assert_eq!(
        result["stateMachineArn"],
        "arn:aws:states:us-east-1:123456789012:stateMachine:Inventory"
    );
    assert_eq!(
        output_of(&result),
        json!({"reservation": {"reserved": true}})
    );

    for (extra, expected) in [
        (&[][..], "choose one of its test cases with --test-case"),
        (&["--test-case", "Nope"][..], "no test case \"Nope\""),
        (
            &["--test-case", "HappyPath"][..],
            "has no test case \"HappyPath\"",
        ),
    ] {
        let out = run(extra);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        assert!(
            stderr(&out).contains(expected),
            "{extra:?}: {}",
            stderr(&out)
        );
    }
    assert_refused(
        &[
            "run",
            "lambda.asl.json",
            "--var",
            "ReserveFunction=reserve",
            "--mock",
            "mock-ok.json",
            "--test-case",
            "RetryPath",
        ],
        "--test-case needs a Step Functions Local mock configuration",
    );
}

#[test]
fn run_exits_1_on_failed_and_timed_out() {
    let out = saga(&[
        "run",
        "lambda.asl.json",
        "--var",
        "ReserveFunction=reserve",
        "--mock",
        "mock-out-of-stock.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let result = stdout_json(&out);
    assert_eq!(result["status"], "FAILED");
    assert_eq!(result["error"], "OutOfStock");
    assert_eq!(result["cause"], "not enough stock");
    assert!(result.get("output").is_none());

    // No mock at all: the function does not exist, as on AWS.
    let out = saga(&["run", "lambda.asl.json", "--var", "ReserveFunction=reserve"]);
    assert_eq!(out.status.code(), Some(1));
    let result = stdout_json(&out);
    assert_eq!(result["error"], "Lambda.ResourceNotFoundException");
    let cause = result["cause"].as_str().unwrap();
    assert!(
        cause
            .contains("Function not found: arn:aws:lambda:us-east-1:123456789012:function:reserve"),
        "{cause}"
    );

    // The mock sleeps past the Task's TimeoutSeconds (both scaled).
    let out = saga(&[
        "run",
        "lambda.asl.json",
        "--var",
        "ReserveFunction=reserve",
        "--mock",
        "mock-slow.json",
        "--time-scale",
        "0.01",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout_json(&out)["error"], "States.Timeout");

    let out = saga(&["run", "wait.asl.json", "--time-scale", "0.01"]);
    assert_eq!(out.status.code(), Some(1));
    let result = stdout_json(&out);
    assert_eq!(result["status"], "TIMED_OUT");
    assert_eq!(result["error"], "States.Timeout");
}

#[test]
fn run_history_prints_cloudwatch_log_records() {
    let out = saga(&[
        "run",
        "lambda.asl.json",
        "--var",
        "ReserveFunction=reserve",
        "--mock",
        "mock-retry.json",
        "--time-scale",
        "0.01",
        "--history",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let result = stdout_json(&out);
    let records: Vec<Value> = stderr(&out)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let types: Vec<&str> = records
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"ExecutionStarted"));
    assert_eq!(types.last(), Some(&"ExecutionSucceeded"));
    assert_eq!(
        types.iter().filter(|t| **t == "TaskFailed").count(),
        1,
        "{types:?}"
    );
    assert_eq!(records[0]["id"], "1");
    assert_eq!(records[0]["execution_arn"], result["executionArn"]);
}

#[test]
fn run_executes_a_jsonata_definition() {
    let out = saga(&[
        "run",
        "jsonata.asl.json",
        "--var",
        "ReserveFunction=reserve",
        "--mock",
        "mock-ok.json",
        "--input",
        r#"{"sku": "A-1", "qty": 2}"#,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let result = stdout_json(&out);
    assert_eq!(result["status"], "SUCCEEDED", "{result}");
    assert_eq!(output_of(&result), json!({"sku": "A-1", "reserved": true}));

    let out = saga(&[
        "validate",
        "jsonata.asl.json",
        "--var",
        "ReserveFunction=reserve",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn run_refuses_bad_arguments_clearly() {
    let out = saga(&["run", "lambda.asl.json", "--mock", "mock-ok.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(err.contains("${ReserveFunction} has no value"), "{err}");
    assert!(err.contains("lambda.asl.json:9"), "{err}");

    assert_refused(
        &["run", "hello.asl.json", "--input", "{nope"],
        "--input is not JSON",
    );

    assert_refused(
        &[
            "run",
            "lambda.asl.json",
            "--var",
            "ReserveFunction=reserve",
            "--mock",
            "mock-bad.json",
        ],
        "unknown member \"Paylod\"",
    );

    let out = saga(&["run", "invalid.asl.json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("not a valid definition"), "{err}");
    assert!(err.contains("/States/First/Next"), "{err}");
}

fn workflow_vars() -> Vec<String> {
    [
        (
            "CreateOrderFunctionArn",
            "arn:aws:lambda:us-east-1:123456789012:function:create-order",
        ),
        (
            "ReserveStockFunctionArn",
            "arn:aws:lambda:us-east-1:123456789012:function:reserve-stock",
        ),
        (
            "ConfirmOrderFunctionArn",
            "arn:aws:lambda:us-east-1:123456789012:function:confirm-order",
        ),
        (
            "FenceOrderFunctionArn",
            "arn:aws:lambda:us-east-1:123456789012:function:fence-order",
        ),
        (
            "ReleaseStockFunctionArn",
            "arn:aws:lambda:us-east-1:123456789012:function:release-stock",
        ),
        (
            "CancelOrderFunctionArn",
            "arn:aws:lambda:us-east-1:123456789012:function:cancel-order",
        ),
        (
            "RepairQueueUrl",
            "https://sqs.us-east-1.amazonaws.com/123456789012/repair",
        ),
    ]
    .iter()
    .map(|(k, v)| format!("--var={k}={v}"))
    .collect()
}

fn run_workflow(mock: &str) -> Output {
    let wf = workflow();
    let vars = workflow_vars();
    let mut args = vec![
        "run",
        wf.as_str(),
        "--input",
        "@workflow-input.json",
        "--mock",
        mock,
        "--name",
        "order-1",
        "--time-scale",
        "0.01",
    ];
    args.extend(vars.iter().map(String::as_str));
    saga(&args)
}

#[test]
fn run_the_shipped_workflow_to_confirmation() {
    let out = run_workflow("workflow-mock-confirmed.json");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let result = stdout_json(&out);
    assert_eq!(result["status"], "SUCCEEDED");
    assert_eq!(
        output_of(&result),
        json!({
            "statusCode": 201,
            "body": {"orderId": "order-1", "status": "CONFIRMED", "items": [{"sku": "A-1", "quantity": 2}]}
        })
    );
}

#[test]
fn run_the_shipped_workflow_through_compensation() {
    let out = run_workflow("workflow-mock-out-of-stock.json");
    assert_eq!(out.status.code(), Some(1));
    let result = stdout_json(&out);
    assert_eq!(result["status"], "FAILED");
    assert_eq!(result["error"], "Saga.InsufficientStock");
    let problem: Value = serde_json::from_str(result["cause"].as_str().unwrap()).unwrap();
    assert_eq!(problem["status"], 409);
    assert_eq!(problem["detail"], "A-1: only 1 left");
    assert_eq!(problem["compensation"], "completed");
}

#[test]
fn run_the_shipped_workflow_needs_every_placeholder() {
    let wf = workflow();
    let out = saga(&["run", &wf, "--var", "CreateOrderFunctionArn=x"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for name in ["ReserveStockFunctionArn", "RepairQueueUrl"] {
        assert!(err.contains(&format!("${{{name}}}")), "{err}");
    }
    assert!(!err.contains("${CreateOrderFunctionArn}"), "{err}");
}

#[test]
fn validate_reports_each_problem_with_its_location() {
    let out = saga(&["validate", "invalid.asl.json"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("invalid.asl.json: ERROR MISSING_TRANSITION_TARGET at /States/First/Next"),
        "{text}"
    );
    assert!(text.contains("/States/Orphan"), "{text}");
    assert!(text.contains("invalid ("), "{text}");

    let out = saga(&["validate", "invalid.asl.json", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let response = stdout_json(&out);
    assert_eq!(response["result"], "FAIL");
    assert_eq!(response["truncated"], false);
    let diagnostics = response["diagnostics"].as_array().unwrap();
    assert!(diagnostics.len() >= 2, "{diagnostics:?}");
    for d in diagnostics {
        assert_eq!(d["severity"], "ERROR");
        assert!(d["location"].as_str().unwrap().starts_with("/States/"));
    }
}

#[test]
fn validate_accepts_the_shipped_workflow_filled_or_not() {
    let wf = workflow();
    let out = saga(&["validate", &wf]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with(": valid\n"));

    let vars = workflow_vars();
    let mut args = vec!["validate", wf.as_str(), "--json"];
    args.extend(vars.iter().map(String::as_str));
    let out = saga(&args);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout_json(&out),
        json!({"result": "OK", "diagnostics": [], "truncated": false})
    );
}

#[test]
fn help_has_examples() {
    for sub in ["run", "validate", "test-state"] {
        let out = saga(&[sub, "--help"]);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Examples:"), "{sub}: {text}");
        assert!(text.contains(&format!("saga {sub} ")), "{sub}: {text}");
    }
}

#[test]
fn test_state_prints_the_response_as_the_aws_cli_does() {
    let dir = tempfile::tempdir().unwrap();
    let machine = dir.path().join("machine.json");
    std::fs::write(
        &machine,
        r#"{"StartAt": "Check", "States": {
            "Check": {"Type": "Choice", "Choices": [{"Variable": "$.cost", "NumericLessThan": 10, "Next": "Cheap"}], "Default": "Dear"},
            "Cheap": {"Type": "Succeed"}, "Dear": {"Type": "Fail"}}}"#,
    )
    .unwrap();
    let out = saga(&[
        "test-state",
        "--definition",
        &format!("file://{}", machine.display()),
        "--state-name",
        "Check",
        "--input",
        r#"{"cost": 12}"#,
        "--inspection-level",
        "DEBUG",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let response = stdout_json(&out);
    assert_eq!(response["status"], "SUCCEEDED");
    assert_eq!(response["nextState"], "Dear");
    assert_eq!(output_of(&response), json!({"cost": 12}));
    assert_eq!(
        response["inspectionData"]["afterInputPath"],
        r#"{"cost":12}"#
    );
}

#[test]
fn test_state_takes_mocks_state_configuration_and_function_answers() {
    let task = r#"{"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "double", "Payload.$": "$"}, "OutputPath": "$.Payload",
        "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 2, "BackoffRate": 3}], "End": true}"#;
    let out = saga(&[
        "test-state",
        "--definition",
        task,
        "--mock",
        r#"{"errorOutput": {"error": "Boom", "cause": "bang"}}"#,
        "--state-configuration",
        r#"{"retrierRetryCount": 2}"#,
        "--inspection-level",
        "TRACE",
    ]);
    let response = stdout_json(&out);
    assert_eq!(response["status"], "RETRIABLE");
    assert_eq!(
        response["inspectionData"]["errorDetails"],
        json!({"retryBackoffIntervalSeconds": 18, "retryIndex": 0})
    );

    let dir = tempfile::tempdir().unwrap();
    let answers = dir.path().join("functions.json");
    std::fs::write(&answers, r#"{"double": {"Payload": {"n": 4}}}"#).unwrap();
    let out = saga(&[
        "test-state",
        "--definition",
        task,
        "--input",
        r#"{"n": 2}"#,
        "--role-arn",
        "arn:aws:iam::123456789012:role/r",
        "--function-mock",
        answers.to_str().unwrap(),
    ]);
    let response = stdout_json(&out);
    assert_eq!(response["status"], "SUCCEEDED", "{response}");
    assert_eq!(output_of(&response), json!({"n": 4}));
}

#[test]
fn test_state_refusals_exit_1_with_the_exception() {
    assert_refused(
        &["test-state", "--definition", r#"{"Type": "Pass", "End": true}"#, "--mock", r#"{"result": "{}"}"#],
        "An error occurred (ValidationException) when calling the TestState operation: State type 'Pass' is not supported when a mock is specified",
    );
    assert_refused(
        &[
            "test-state",
            "--definition",
            r#"{"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f", "End": true}"#,
        ],
        "RoleArn must be specified when testing a Task state",
    );
    assert_refused(
        &["test-state", "--definition", "file:///nonexistent/x.json"],
        "cannot read /nonexistent/x.json",
    );
}

/// One Step Functions API call over plain HTTP/1.1: the response's status line and JSON body.
#[cfg(unix)]
fn sfn_call(addr: &str, operation: &str, body: &Value) -> (String, Value) {
    use std::io::{Read, Write};
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(addr).expect("the server accepts connections");
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: AWSStepFunctions.{operation}\r\n\
         Content-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a complete response");
    let status = head.lines().next().unwrap_or_default().to_string();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// `saga serve --mock-config` (or SFN_MOCK_CONFIG) serves Step Functions Local test cases:
/// `<stateMachineArn>#<TestCase>` answers the mocked Task states; without the suffix the Task
/// reaches the in-process functions.
#[cfg(unix)]
#[test]
fn serve_runs_step_functions_local_test_cases() {
    let config = fixtures().join("mock-config.json").display().to_string();
    let by_option = serve::serve(&["--time-scale", "0.01", "--mock-config", &config]);
    let by_env = serve::serve_with_env(&["--time-scale", "0.01"], &[("SFN_MOCK_CONFIG", &config)]);
    for serve::Serving {
        mut child,
        addr,
        // Bound, not dropped: closing the read end of its stderr would fail the server's next log line.
        log: _log,
    } in [by_option, by_env]
    {
        let definition = json!({
            "StartAt": "Reserve",
            "States": {"Reserve": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "no-such-function", "Payload.$": "$"},
                "Retry": [{"ErrorEquals": ["Saga.Transient"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                "ResultSelector": {"reservation.$": "$.Payload"},
                "End": true
            }}
        });
        let (status, created) = sfn_call(
            &addr,
            "CreateStateMachine",
            &json!({
                "name": "lambda",
                "definition": definition.to_string(),
                "roleArn": "arn:aws:iam::123456789012:role/local",
                "type": "EXPRESS"
            }),
        );
        assert!(status.contains(" 200 "), "{status}: {created}");
        let arn = created["stateMachineArn"].as_str().unwrap().to_string();

        let (status, result) = sfn_call(
            &addr,
            "StartSyncExecution",
            &json!({"stateMachineArn": format!("{arn}#RetryPath"), "input": "{}"}),
        );
        assert!(status.contains(" 200 "), "{status}: {result}");
        assert_eq!(result["status"], "SUCCEEDED", "{result}");
        assert_eq!(
            output_of(&result),
            json!({"reservation": {"reserved": true, "attempt": 2}})
        );

        // Without a test case the Task calls the local functions, which have no such function.
        let (_, result) = sfn_call(
            &addr,
            "StartSyncExecution",
            &json!({"stateMachineArn": arn, "input": "{}"}),
        );
        assert_eq!(result["status"], "FAILED", "{result}");
        assert_eq!(
            result["error"], "Lambda.ResourceNotFoundException",
            "{result}"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }

    let bad = saga(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--mock-config",
        "mock-ok.json",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("takes a Step Functions Local mock configuration"),
        "{}",
        stderr(&bad)
    );
}

/// TestState on `saga serve` tests a state of the workflow one would deploy, its Task calling the saga's own
/// function as an execution's would.
#[cfg(unix)]
#[test]
fn serve_tests_a_state_of_the_shipped_workflow_against_its_functions() {
    let serve::Serving {
        mut child,
        addr,
        // Bound, not dropped: closing the read end of its stderr would fail the server's next log line.
        log: _log,
    } = serve::serve(&["--time-scale", "0.01"]);
    let mut definition = std::fs::read_to_string(workflow()).unwrap();
    for var in workflow_vars() {
        let (name, value) = var
            .trim_start_matches("--var=")
            .split_once('=')
            .expect("NAME=VALUE");
        definition = definition.replace(&format!("${{{name}}}"), value);
    }
    let mut input: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("workflow-input.json")).unwrap(),
    )
    .unwrap();
    // What the gateway hands over when the request carries no fault plan.
    input["faults"] = Value::Null;
    let order_id = format!("o-teststate-{}", std::process::id());
    input["order"] = json!({"orderId": order_id});
    let (status, response) = sfn_call(
        &addr,
        "TestState",
        &json!({
            "definition": definition,
            "stateName": "CreateOrder",
            "input": input.to_string(),
            "roleArn": "arn:aws:iam::123456789012:role/local",
            "inspectionLevel": "DEBUG",
        }),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(status.contains(" 200 "), "{status}: {response}");
    assert_eq!(response["status"], "SUCCEEDED", "{response}");
    assert_eq!(response["nextState"], "CheckReplay");
    let output = output_of(&response);
    assert_eq!(output["order"]["orderId"], json!(order_id), "{output}");
    assert_eq!(output["order"]["status"], "PENDING", "{output}");
    let sent: Value = serde_json::from_str(
        response["inspectionData"]["afterParameters"]
            .as_str()
            .expect("afterParameters is JSON text"),
    )
    .unwrap();
    assert_eq!(
        sent["FunctionName"],
        "arn:aws:lambda:us-east-1:123456789012:function:create-order"
    );
    assert_eq!(sent["Payload"]["attempt"], 0);
}

/// A supervisor stops a server with SIGTERM; the server must shut down gracefully and exit 0, not die.
#[cfg(unix)]
#[test]
fn serve_stops_gracefully_on_sigterm() {
    let serve::Serving {
        mut child,
        addr,
        log,
    } = serve::serve(&[]);
    std::net::TcpStream::connect(&addr).expect("the server accepts connections");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let rest: Vec<String> = log.map_while(Result::ok).collect();
    let status = child.wait().expect("the server exits");
    assert_eq!(
        status.code(),
        Some(0),
        "{status:?}; stderr:\n{}",
        rest.join("\n")
    );
    assert!(
        rest.iter()
            .any(|l| l.contains("shutting down") && l.contains("SIGTERM")),
        "{}",
        rest.join("\n")
    );
}
