//! The API driven by the real `aws-sdk-sfn` client over HTTP on 127.0.0.1, through
//! `sfn_api::client::local_client`, with a mock Lambda behind it.

use std::sync::Arc;

use asl_engine::{InvokeRequest, InvokeResponse, Resources};
use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::types::{
    IncludedData, LogLevel, LoggingConfiguration, StateMachineType, SyncExecutionStatus, Tag,
    TracingConfiguration,
};
use serde_json::{json, Value};
use sfn_api::mock::{MockAnswer, MockResources};
use sfn_api::{client::local_client, ExecutionContext, SfnApi, SfnApiConfig};

const ROLE: &str = "arn:aws:iam::123456789012:role/local";

const HELLO: &str = r#"{"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "Result": {"hello": "world"}, "End": true}}}"#;

const CALL: &str = r#"{
  "StartAt": "Call",
  "TimeoutSeconds": 10,
  "States": {
    "Call": {
      "Type": "Task",
      "Resource": "arn:aws:states:::lambda:invoke",
      "Parameters": {"FunctionName.$": "$.fn", "Payload.$": "$"},
      "OutputPath": "$.Payload",
      "TimeoutSeconds": 2,
      "End": true
    }
  }
}"#;

const WAIT: &str = r#"{
  "StartAt": "Wait",
  "TimeoutSeconds": 1,
  "States": {"Wait": {"Type": "Wait", "Seconds": 5, "End": true}}
}"#;

async fn serve_with(config: SfnApiConfig, resources: Arc<dyn Resources>) -> String {
    let api = Arc::new(SfnApi::new(
        config,
        Arc::new(move |_: &ExecutionContext| resources.clone()),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, sfn_api::router(api)).await });
    format!("http://{addr}")
}

fn mocks() -> Arc<MockResources> {
    Arc::new(
        MockResources::new()
            .with("echo", MockAnswer::payload(json!({"echoed": true})))
            .with(
                "boom",
                MockAnswer::function_error("Saga.Broken", "it broke"),
            )
            .with("slow", MockAnswer::payload(json!("late")).after(5.0)),
    )
}

async fn serve() -> String {
    let config = SfnApiConfig {
        time_scale: 0.01,
        ..SfnApiConfig::default()
    };
    serve_with(config, mocks()).await
}

async fn create(client: &aws_sdk_sfn::Client, name: &str, definition: &str) -> String {
    client
        .create_state_machine()
        .name(name)
        .definition(definition)
        .role_arn(ROLE)
        .r#type(StateMachineType::Express)
        .send()
        .await
        .unwrap()
        .state_machine_arn
}

#[tokio::test]
async fn create_describe_list_delete() {
    let client = local_client(&serve().await);
    let arn = create(&client, "hello", HELLO).await;
    assert_eq!(
        arn,
        "arn:aws:states:us-east-1:123456789012:stateMachine:hello"
    );

    let described = client
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(described.name, "hello");
    assert_eq!(described.definition, HELLO);
    assert_eq!(described.role_arn, ROLE);
    assert_eq!(described.r#type, StateMachineType::Express);
    assert_eq!(described.status().unwrap().as_str(), "ACTIVE");
    assert!(described.creation_date.secs() > 1_600_000_000);

    // The same request again is idempotent, as on AWS.
    assert_eq!(create(&client, "hello", HELLO).await, arn);
    let conflict = client
        .create_state_machine()
        .name("hello")
        .definition(WAIT)
        .role_arn(ROLE)
        .r#type(StateMachineType::Express)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(conflict.is_state_machine_already_exists(), "{conflict:?}");

    create(&client, "second", HELLO).await;
    let listed = client.list_state_machines().send().await.unwrap();
    let names: Vec<&str> = listed
        .state_machines
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, ["hello", "second"]);
    assert!(listed.next_token.is_none());

    let page = client
        .list_state_machines()
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert_eq!(page.state_machines.len(), 1);
    let rest = client
        .list_state_machines()
        .next_token(page.next_token.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.state_machines[0].name, "second");

    client
        .delete_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    let gone = client
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(gone.is_state_machine_does_not_exist(), "{gone:?}");
    assert_eq!(
        gone.message(),
        Some(format!("State Machine Does Not Exist: '{arn}'").as_str())
    );
    // Deleting again succeeds, as AWS's deletion is idempotent.
    client
        .delete_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn create_rejects_standard_bad_names_and_invalid_definitions() {
    let client = local_client(&serve().await);
    let standard = client
        .create_state_machine()
        .name("std")
        .definition(HELLO)
        .role_arn(ROLE)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        standard.is_state_machine_type_not_supported(),
        "{standard:?}"
    );

    let bad_name = client
        .create_state_machine()
        .name("has space")
        .definition(HELLO)
        .role_arn(ROLE)
        .r#type(StateMachineType::Express)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad_name.is_invalid_name(), "{bad_name:?}");

    let invalid = client
        .create_state_machine()
        .name("broken")
        .definition(r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}"#)
        .role_arn(ROLE)
        .r#type(StateMachineType::Express)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(invalid.is_invalid_definition(), "{invalid:?}");
    let message = invalid.message().unwrap();
    assert!(
        message.starts_with("Invalid State Machine Definition: '"),
        "{message}"
    );
    assert!(message.contains("MISSING_TRANSITION_TARGET"), "{message}");
    assert!(message.contains("/States/A/Next"), "{message}");

    let bad_arn = client
        .describe_state_machine()
        .state_machine_arn("not-an-arn")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad_arn.is_invalid_arn(), "{bad_arn:?}");
}

#[tokio::test]
async fn start_sync_execution_succeeds_with_output() {
    let client = local_client(&serve().await);
    let arn = create(&client, "call", CALL).await;
    let out = client
        .start_sync_execution()
        .state_machine_arn(&arn)
        .name("order-1")
        .input(json!({"fn": "echo"}).to_string())
        .trace_header("Root=1-abc")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status, SyncExecutionStatus::Succeeded);
    assert_eq!(out.name(), Some("order-1"));
    assert_eq!(out.state_machine_arn(), Some(arn.as_str()));
    assert!(out
        .execution_arn
        .starts_with("arn:aws:states:us-east-1:123456789012:express:call:order-1:"));
    let output: Value = serde_json::from_str(out.output().unwrap()).unwrap();
    assert_eq!(output, json!({"echoed": true}));
    assert_eq!(out.input(), Some(r#"{"fn":"echo"}"#));
    assert_eq!(out.trace_header(), Some("Root=1-abc"));
    assert!(out.stop_date.as_nanos() >= out.start_date.as_nanos());
    let billing = out.billing_details().unwrap();
    assert_eq!(billing.billed_memory_used_in_mb, 64);
    assert_eq!(billing.billed_duration_in_milliseconds % 100, 0);
}

#[tokio::test]
async fn start_sync_execution_reports_failures() {
    let client = local_client(&serve().await);
    let arn = create(&client, "call", CALL).await;
    let run = |fun: &'static str| {
        client
            .start_sync_execution()
            .state_machine_arn(&arn)
            .input(json!({ "fn": fun }).to_string())
            .send()
    };

    let failed = run("boom").await.unwrap();
    assert_eq!(failed.status, SyncExecutionStatus::Failed);
    assert_eq!(failed.error(), Some("Saga.Broken"));
    let cause: Value = serde_json::from_str(failed.cause().unwrap()).unwrap();
    assert_eq!(cause["errorMessage"], "it broke");
    assert!(failed.output().is_none());

    let missing = run("nobody").await.unwrap();
    assert_eq!(missing.status, SyncExecutionStatus::Failed);
    assert_eq!(missing.error(), Some("Lambda.ResourceNotFoundException"));
    assert!(
        missing.cause().unwrap().contains("Function not found"),
        "{:?}",
        missing.cause()
    );

    // The mock sleeps 5 s (scaled) and the task allows 2 s (scaled).
    let slow = run("slow").await.unwrap();
    assert_eq!(slow.status, SyncExecutionStatus::Failed);
    assert_eq!(slow.error(), Some("States.Timeout"));
}

#[tokio::test]
async fn start_sync_execution_times_out_at_the_top_level() {
    let client = local_client(&serve().await);
    let arn = create(&client, "wait", WAIT).await;
    let out = client
        .start_sync_execution()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status, SyncExecutionStatus::TimedOut);
    assert_eq!(out.error(), Some("States.Timeout"));
    assert!(out.output().is_none());
}

struct Aborts;

#[async_trait::async_trait]
impl Resources for Aborts {
    async fn invoke(&self, _: InvokeRequest) -> InvokeResponse {
        InvokeResponse::Abort
    }
}

#[tokio::test]
async fn an_aborted_execution_is_reported_as_failed() {
    let client = local_client(&serve_with(SfnApiConfig::default(), Arc::new(Aborts)).await);
    let arn = create(&client, "call", CALL).await;
    let out = client
        .start_sync_execution()
        .state_machine_arn(&arn)
        .input(r#"{"fn": "echo"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status, SyncExecutionStatus::Failed);
    assert_eq!(out.error(), Some(sfn_api::ABORTED_ERROR));
    assert_eq!(out.cause(), Some(sfn_api::ABORTED_CAUSE));
}

#[tokio::test]
async fn start_sync_execution_errors_and_metadata_only() {
    let client = local_client(&serve().await);
    let arn = create(&client, "hello", HELLO).await;

    let bad_input = client
        .start_sync_execution()
        .state_machine_arn(&arn)
        .input("{not json")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad_input.is_invalid_execution_input(), "{bad_input:?}");

    let unknown = client
        .start_sync_execution()
        .state_machine_arn(format!("{arn}-missing"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(unknown.is_state_machine_does_not_exist(), "{unknown:?}");

    let bad_name = client
        .start_sync_execution()
        .state_machine_arn(&arn)
        .name("a/b")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad_name.is_invalid_name(), "{bad_name:?}");

    let quiet = client
        .start_sync_execution()
        .state_machine_arn(&arn)
        .included_data(IncludedData::MetadataOnly)
        .send()
        .await
        .unwrap();
    assert_eq!(quiet.status, SyncExecutionStatus::Succeeded);
    assert!(quiet.output().is_none() && quiet.input().is_none());
    assert!(!quiet.output_details().unwrap().included);
}

#[tokio::test]
async fn validate_state_machine_definition() {
    let client = local_client(&serve().await);
    let ok = client
        .validate_state_machine_definition()
        .definition(HELLO)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.result.as_str(), "OK");
    assert!(ok.diagnostics.is_empty());

    let fail = client
        .validate_state_machine_definition()
        .definition(r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(fail.result.as_str(), "FAIL");
    let d = &fail.diagnostics[0];
    assert_eq!(d.severity.as_str(), "ERROR");
    assert_eq!(d.code, "MISSING_TRANSITION_TARGET");
    assert_eq!(d.location(), Some("/States/A/Next"));
}

async fn raw(endpoint: &str, target: Option<&str>, body: &str) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("content-type", sfn_api::CONTENT_TYPE)
        .body(body.to_string());
    if let Some(t) = target {
        request = request.header(sfn_api::TARGET_HEADER, t);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        sfn_api::CONTENT_TYPE,
        "every answer is x-amz-json"
    );
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn protocol_errors_have_aws_shapes() {
    let endpoint = serve().await;
    let (status, body) = raw(&endpoint, Some("AWSStepFunctions.NoSuchOperation"), "{}").await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "UnknownOperationException");

    let (status, body) = raw(&endpoint, Some("AWSStepFunctions.SendTaskSuccess"), "{}").await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], sfn_api::UNSUPPORTED_OPERATION);
    assert_eq!(
        body["message"],
        "SendTaskSuccess is not supported by local mode"
    );

    let (status, body) = raw(&endpoint, None, "{}").await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "UnknownOperationException");

    let (status, body) = raw(
        &endpoint,
        Some("AWSStepFunctions.DescribeStateMachine"),
        "{}",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "ValidationException");
    assert_eq!(
        body["message"],
        "1 validation error detected: Value null at 'stateMachineArn' failed to satisfy constraint: Member must not be null"
    );

    let (status, body) = raw(
        &endpoint,
        Some("AWSStepFunctions.ListStateMachines"),
        "{oops",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "SerializationException");

    let (status, body) = raw(&endpoint, Some("AWSStepFunctions.ListStateMachines"), "").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"stateMachines": []}));
}

#[tokio::test]
async fn mount_leaves_the_other_routes_alone() {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/", get(|| async { "home" }))
        .route("/orders", axum::routing::post(|| async { "order" }));
    let api = Arc::new(SfnApi::new(
        SfnApiConfig::default(),
        Arc::new(|_: &ExecutionContext| Arc::new(MockResources::new()) as Arc<dyn Resources>),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, sfn_api::mount(app, api)).await });

    let http = reqwest::Client::new();
    let home = http.get(format!("{endpoint}/")).send().await.unwrap();
    assert_eq!(home.text().await.unwrap(), "home");
    let order = http
        .post(format!("{endpoint}/orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(order.text().await.unwrap(), "order");
    // A POST / that is not a Step Functions call is the owner's business (here: 405).
    let plain = http.post(format!("{endpoint}/")).send().await.unwrap();
    assert_eq!(plain.status().as_u16(), 405);

    let client = local_client(&endpoint);
    let arn = create(&client, "mounted", HELLO).await;
    let out = client
        .start_sync_execution()
        .state_machine_arn(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status, SyncExecutionStatus::Succeeded);
    assert_eq!(out.output(), Some(r#"{"hello":"world"}"#));
}

#[tokio::test]
async fn operations_local_mode_lacks_are_named_in_the_error() {
    let client = local_client(&serve().await);
    let activity = client
        .create_activity()
        .name("worker")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    // Unmodelled, so the SDK keeps the code and the message for the caller.
    assert_eq!(activity.code(), Some(sfn_api::UNSUPPORTED_OPERATION));
    assert_eq!(
        activity.message(),
        Some("CreateActivity is not supported by local mode")
    );

    let version = client
        .publish_state_machine_version()
        .state_machine_arn("arn:aws:states:us-east-1:123456789012:stateMachine:hello")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(version.code(), Some(sfn_api::UNSUPPORTED_OPERATION));
}

#[tokio::test]
async fn test_state_answers_the_sdk_with_inspection_data() {
    use aws_sdk_sfn::types::{InspectionLevel, MockErrorOutput, MockInput, TestExecutionStatus};
    let client = local_client(&serve().await);
    let pass = client
        .test_state()
        .definition(r#"{"Type": "Pass", "InputPath": "$.a", "Parameters": {"b.$": "$.b"}, "ResultPath": "$.r", "Next": "After"}"#)
        .input(r#"{"a": {"b": 1}}"#)
        .inspection_level(InspectionLevel::Debug)
        .send()
        .await
        .unwrap();
    assert_eq!(pass.status(), Some(&TestExecutionStatus::Succeeded));
    assert_eq!(pass.next_state(), Some("After"));
    let output: serde_json::Value = serde_json::from_str(pass.output().unwrap()).unwrap();
    assert_eq!(output, json!({"a": {"b": 1}, "r": {"b": 1}}));
    let data = pass.inspection_data().unwrap();
    assert_eq!(data.after_input_path(), Some(r#"{"b":1}"#));
    assert_eq!(data.after_parameters(), Some(r#"{"b":1}"#));

    let retried = client
        .test_state()
        .definition(r#"{"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "f"}, "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 3, "BackoffRate": 2}], "End": true}"#)
        .mock(
            MockInput::builder()
                .error_output(MockErrorOutput::builder().error("Boom").cause("bang").build())
                .build(),
        )
        .state_configuration(
            aws_sdk_sfn::types::TestStateConfiguration::builder()
                .retrier_retry_count(1)
                .build(),
        )
        .inspection_level(InspectionLevel::Trace)
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), Some(&TestExecutionStatus::Retriable));
    assert_eq!(retried.error(), Some("Boom"));
    let details = retried.inspection_data().unwrap().error_details().unwrap();
    assert_eq!(details.retry_backoff_interval_seconds(), Some(6));
    assert_eq!(details.retry_index(), Some(0));

    let refused = client
        .test_state()
        .definition(r#"{"Type": "Parallel", "Branches": [{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}], "End": true}"#)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(refused.is_invalid_definition(), "{refused:?}");
}

#[tokio::test]
async fn express_executions_cannot_be_described_or_listed_as_on_aws() {
    let client = local_client(&serve().await);
    let arn = create(&client, "hello", HELLO).await;
    let run = client
        .start_sync_execution()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();

    let described = client
        .describe_execution()
        .execution_arn(&run.execution_arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(described.is_invalid_arn(), "{described:?}");
    assert_eq!(
        described.message(),
        Some("Invalid Arn: 'Resource type not valid in this context: express'")
    );

    let history = client
        .get_execution_history()
        .execution_arn(&run.execution_arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(history.is_invalid_arn(), "{history:?}");

    let standard = client
        .describe_execution()
        .execution_arn("arn:aws:states:us-east-1:123456789012:execution:hello:one")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(standard.code(), Some(sfn_api::UNSUPPORTED_OPERATION));
    assert!(
        standard
            .message()
            .unwrap()
            .starts_with("DescribeExecution is not supported by local mode: "),
        "{standard:?}"
    );

    let listed = client
        .list_executions()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(listed.is_state_machine_type_not_supported(), "{listed:?}");
    assert_eq!(
        listed.message(),
        Some("This operation is not supported by this type of state machine")
    );

    let unknown = client
        .list_executions()
        .state_machine_arn(format!("{arn}-missing"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(unknown.is_state_machine_does_not_exist(), "{unknown:?}");
}

#[tokio::test]
async fn update_state_machine_changes_what_later_executions_run() {
    let client = local_client(&serve().await);
    let arn = create(&client, "evolving", HELLO).await;
    let before = client
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert!(before.revision_id().is_none());

    let bye =
        r#"{"StartAt": "Bye", "States": {"Bye": {"Type": "Pass", "Result": "bye", "End": true}}}"#;
    let role = "arn:aws:iam::123456789012:role/updated";
    let updated = client
        .update_state_machine()
        .state_machine_arn(&arn)
        .definition(bye)
        .role_arn(role)
        .logging_configuration(
            LoggingConfiguration::builder()
                .level(LogLevel::All)
                .include_execution_data(true)
                .build(),
        )
        .tracing_configuration(TracingConfiguration::builder().enabled(true).build())
        .send()
        .await
        .unwrap();
    assert!(updated.update_date.secs() >= before.creation_date.secs());
    let revision = updated.revision_id().unwrap().to_string();

    let after = client
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(after.definition, bye);
    assert_eq!(after.role_arn, role);
    assert_eq!(after.revision_id(), Some(revision.as_str()));
    assert_eq!(after.creation_date, before.creation_date);
    let logging = after.logging_configuration().unwrap();
    assert_eq!(logging.level(), Some(&LogLevel::All));
    assert!(logging.include_execution_data);
    assert!(after.tracing_configuration().unwrap().enabled);

    let out = client
        .start_sync_execution()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(out.output(), Some(r#""bye""#));

    // A partial update leaves the other members alone.
    client
        .update_state_machine()
        .state_machine_arn(&arn)
        .tracing_configuration(TracingConfiguration::builder().enabled(false).build())
        .send()
        .await
        .unwrap();
    let last = client
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(last.definition, bye);
    assert_eq!(last.role_arn, role);
    assert!(!last.tracing_configuration().unwrap().enabled);
    assert_ne!(last.revision_id(), Some(revision.as_str()));
}

#[tokio::test]
async fn update_state_machine_errors() {
    let client = local_client(&serve().await);
    let arn = create(&client, "stable", HELLO).await;

    let nothing = client
        .update_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(nothing.is_missing_required_parameter(), "{nothing:?}");

    let invalid = client
        .update_state_machine()
        .state_machine_arn(&arn)
        .definition(r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}"#)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(invalid.is_invalid_definition(), "{invalid:?}");
    assert!(invalid
        .message()
        .unwrap()
        .contains("MISSING_TRANSITION_TARGET"));

    let bad_role = client
        .update_state_machine()
        .state_machine_arn(&arn)
        .role_arn("not-an-arn")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad_role.is_invalid_arn(), "{bad_role:?}");

    let missing = client
        .update_state_machine()
        .state_machine_arn(format!("{arn}-missing"))
        .definition(HELLO)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_state_machine_does_not_exist(), "{missing:?}");

    let publish = client
        .update_state_machine()
        .state_machine_arn(&arn)
        .definition(HELLO)
        .publish(true)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(publish.code(), Some(sfn_api::UNSUPPORTED_OPERATION));

    // None of the refused updates changed the machine.
    let described = client
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(described.definition, HELLO);
    assert_eq!(described.role_arn, ROLE);
    assert!(described.revision_id().is_none());
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

async fn tags_of(client: &aws_sdk_sfn::Client, arn: &str) -> Vec<(String, String)> {
    client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn tags_set_at_creation_and_changed_later() {
    let client = local_client(&serve().await);
    let arn = client
        .create_state_machine()
        .name("tagged")
        .definition(HELLO)
        .role_arn(ROLE)
        .r#type(StateMachineType::Express)
        .tags(tag("team", "orders"))
        .tags(tag("stage", "dev"))
        .send()
        .await
        .unwrap()
        .state_machine_arn;
    assert_eq!(
        tags_of(&client, &arn).await,
        pairs(&[("team", "orders"), ("stage", "dev")])
    );

    client
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag("stage", "prod"))
        .tags(tag("cost-centre", "42"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags_of(&client, &arn).await,
        pairs(&[("team", "orders"), ("stage", "prod"), ("cost-centre", "42")])
    );

    client
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("team")
        .tag_keys("not-there")
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags_of(&client, &arn).await,
        pairs(&[("stage", "prod"), ("cost-centre", "42")])
    );

    let untagged = create(&client, "untagged", HELLO).await;
    assert!(tags_of(&client, &untagged).await.is_empty());

    // Deleting the machine deletes its tags: a new machine of the same name starts bare.
    client
        .delete_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    let gone = client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(gone.is_resource_not_found(), "{gone:?}");
    assert_eq!(
        gone.message(),
        Some(format!("Resource not found: '{arn}'").as_str())
    );
    assert_eq!(create(&client, "tagged", HELLO).await, arn);
    assert!(tags_of(&client, &arn).await.is_empty());
}

#[tokio::test]
async fn tags_are_limited_as_on_aws() {
    let client = local_client(&serve().await);
    let arn = create(&client, "limited", HELLO).await;

    let forty_nine: Vec<Tag> = (0..49).map(|i| tag(&format!("k{i}"), "v")).collect();
    client
        .tag_resource()
        .resource_arn(&arn)
        .set_tags(Some(forty_nine))
        .send()
        .await
        .unwrap();
    let too_many = client
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag("fiftieth", "v"))
        .tags(tag("fifty-first", "v"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(too_many.is_too_many_tags(), "{too_many:?}");
    let aws_sdk_sfn::operation::tag_resource::TagResourceError::TooManyTags(detail) = &too_many
    else {
        unreachable!()
    };
    assert_eq!(detail.resource_name(), Some(arn.as_str()));
    // The refused request changed nothing; the fiftieth tag alone fits.
    assert_eq!(tags_of(&client, &arn).await.len(), 49);
    client
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag("fiftieth", "v"))
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(&client, &arn).await.len(), 50);

    let at_creation = client
        .create_state_machine()
        .name("crowded")
        .definition(HELLO)
        .role_arn(ROLE)
        .r#type(StateMachineType::Express)
        .set_tags(Some((0..51).map(|i| tag(&format!("k{i}"), "v")).collect()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(at_creation.is_too_many_tags(), "{at_creation:?}");

    let fresh = create(&client, "fresh", HELLO).await;
    let refused = |t: Tag| {
        client
            .tag_resource()
            .resource_arn(&fresh)
            .tags(tag("fine", "v"))
            .tags(t)
            .send()
    };
    let long_key = refused(tag(&"k".repeat(129), "v"))
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(long_key.code(), Some("ValidationException"));
    let message = long_key.message().unwrap();
    assert!(message.contains("at 'tags.2.member.key'"), "{message}");
    assert!(
        message.ends_with("Member must have length less than or equal to 128"),
        "{message}"
    );
    let long_value = refused(tag("k", &"v".repeat(257)))
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        long_value
            .message()
            .unwrap()
            .ends_with("Member must have length less than or equal to 256"),
        "{long_value:?}"
    );
    let empty_key = refused(tag("", "v"))
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(empty_key.code(), Some("ValidationException"));
    let bad_chars = refused(tag("semi;colon", "v"))
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(bad_chars.code(), Some("ValidationException"));
    // The longest key and value AWS allows, in letters of any script, are accepted.
    refused(tag(&"é".repeat(128), &"ü".repeat(256)))
        .await
        .unwrap();
    assert_eq!(tags_of(&client, &fresh).await.len(), 2);

    let long_untag = client
        .untag_resource()
        .resource_arn(&fresh)
        .tag_keys("k".repeat(129))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(long_untag.code(), Some("ValidationException"));
}

#[tokio::test]
async fn tagging_an_unknown_or_malformed_arn_fails() {
    let client = local_client(&serve().await);
    let missing = "arn:aws:states:us-east-1:123456789012:stateMachine:missing";
    let tagged = client
        .tag_resource()
        .resource_arn(missing)
        .tags(tag("k", "v"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(tagged.is_resource_not_found(), "{tagged:?}");
    let untagged = client
        .untag_resource()
        .resource_arn(missing)
        .tag_keys("k")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(untagged.is_resource_not_found(), "{untagged:?}");
    let activity = client
        .list_tags_for_resource()
        .resource_arn("arn:aws:states:us-east-1:123456789012:activity:worker")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(activity.is_resource_not_found(), "{activity:?}");
    let malformed = client
        .list_tags_for_resource()
        .resource_arn("not-an-arn")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(malformed.is_invalid_arn(), "{malformed:?}");
}

/// Tells the test what each task was called with, then never answers.
struct Gate(tokio::sync::mpsc::UnboundedSender<InvokeRequest>);

#[async_trait::async_trait]
impl Resources for Gate {
    async fn invoke(&self, request: InvokeRequest) -> InvokeResponse {
        let _ = self.0.send(request);
        std::future::pending().await
    }
}

async fn serve_api(config: SfnApiConfig, resources: Arc<dyn Resources>) -> (String, Arc<SfnApi>) {
    let api = Arc::new(SfnApi::new(
        config,
        Arc::new(move |_: &ExecutionContext| resources.clone()),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = sfn_api::router(api.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}"), api)
}

const GATED: &str = r#"{
  "StartAt": "Call",
  "States": {
    "Call": {
      "Type": "Task",
      "Resource": "arn:aws:states:::lambda:invoke",
      "Parameters": {"FunctionName": "gate", "Payload.$": "$"},
      "End": true
    }
  }
}"#;

#[tokio::test]
async fn start_execution_answers_at_once_and_runs_in_the_background() {
    let (calls, mut called) = tokio::sync::mpsc::unbounded_channel();
    let (endpoint, api) = serve_api(SfnApiConfig::default(), Arc::new(Gate(calls))).await;
    let client = local_client(&endpoint);
    let arn = create(&client, "gated", GATED).await;

    // The task never answers, so this returns only because StartExecution does not wait.
    let started = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        client
            .start_execution()
            .state_machine_arn(&arn)
            .name("order-7")
            .input(r#"{"order": 7}"#)
            .send(),
    )
    .await
    .expect("StartExecution answers before the execution ends")
    .unwrap();
    assert!(
        started
            .execution_arn
            .starts_with("arn:aws:states:us-east-1:123456789012:express:gated:order-7:"),
        "{}",
        started.execution_arn
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((started.start_date.secs() - now).abs() < 60);

    let request = tokio::time::timeout(std::time::Duration::from_secs(10), called.recv())
        .await
        .expect("the background execution reaches its task")
        .unwrap();
    assert_eq!(request.payload, json!({"order": 7}));
    assert_eq!(request.execution_name, "order-7");
    // The execution runs under the ARN the caller was given.
    assert_eq!(request.execution_arn, started.execution_arn);
    assert_eq!(api.background_running().await, 1);

    // Without a name, each execution gets its own.
    let other = client
        .start_execution()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_ne!(other.execution_arn, started.execution_arn);
    called.recv().await.unwrap();
    assert_eq!(api.background_running().await, 2);

    api.end_background().await;
    assert_eq!(api.background_running().await, 0);
}

#[tokio::test]
async fn start_execution_runs_to_its_end_on_the_same_resources() {
    let resources = mocks();
    let (endpoint, api) = serve_api(
        SfnApiConfig {
            time_scale: 0.01,
            ..SfnApiConfig::default()
        },
        resources.clone(),
    )
    .await;
    let client = local_client(&endpoint);
    let arn = create(&client, "call", CALL).await;
    client
        .start_execution()
        .state_machine_arn(&arn)
        .input(json!({"fn": "echo"}).to_string())
        .send()
        .await
        .unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        api.background_finished(),
    )
    .await
    .expect("the background execution ends");
    assert_eq!(resources.calls("echo"), 1);
    assert_eq!(api.background_running().await, 0);
}

#[tokio::test]
async fn start_execution_errors() {
    let client = local_client(&serve().await);
    let arn = create(&client, "hello", HELLO).await;

    let unknown = client
        .start_execution()
        .state_machine_arn(format!("{arn}-missing"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(unknown.is_state_machine_does_not_exist(), "{unknown:?}");

    let bad_arn = client
        .start_execution()
        .state_machine_arn("not-an-arn")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad_arn.is_invalid_arn(), "{bad_arn:?}");

    let bad_input = client
        .start_execution()
        .state_machine_arn(&arn)
        .input("{not json")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad_input.is_invalid_execution_input(), "{bad_input:?}");

    let bad_name = client
        .start_execution()
        .state_machine_arn(&arn)
        .name("a b")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad_name.is_invalid_name(), "{bad_name:?}");
}

const RETRIED: &str = r#"{
  "StartAt": "Call",
  "States": {
    "Call": {
      "Type": "Task",
      "Resource": "arn:aws:states:::lambda:invoke",
      "Parameters": {"FunctionName": "echo", "Payload.$": "$"},
      "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1, "MaxAttempts": 2}],
      "OutputPath": "$.Payload",
      "End": true
    }
  }
}"#;

#[tokio::test]
async fn a_test_case_suffix_answers_tasks_from_the_step_functions_local_mock_config() {
    let config: Value = json!({
        "StateMachines": {
            "retried": {"TestCases": {
                "RetryPath": {"Call": "BusyThenDone"},
                "GivesUp": {"Call": "AlwaysBusy"}
            }}
        },
        "MockedResponses": {
            "BusyThenDone": {
                "0": {"Throw": {"Error": "Lambda.TooManyRequestsException", "Cause": "Rate exceeded"}},
                "1": {"Return": {"StatusCode": 200, "Payload": {"mocked": true}}}
            },
            "AlwaysBusy": {
                "0-2": {"Throw": {"Error": "Lambda.TooManyRequestsException", "Cause": "Rate exceeded"}}
            }
        }
    });
    let config = sfn_api::mock::MockConfig::from_json(&config).unwrap();
    let resources: Arc<dyn Resources> = mocks();
    let api = Arc::new(
        SfnApi::new(
            SfnApiConfig {
                time_scale: 0.01,
                ..SfnApiConfig::default()
            },
            Arc::new(move |_: &ExecutionContext| resources.clone()),
        )
        .with_mock_config(Arc::new(config)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, sfn_api::router(api)).await });
    let client = local_client(&format!("http://{addr}"));
    let arn = create(&client, "retried", RETRIED).await;

    let start = |suffix: &str| {
        client
            .start_sync_execution()
            .state_machine_arn(format!("{arn}{suffix}"))
            .input("{}")
            .send()
    };
    // Invocation 0 throws, the Retry calls again, invocation 1 returns.
    let retried = start("#RetryPath").await.unwrap();
    assert_eq!(retried.status, SyncExecutionStatus::Succeeded);
    assert_eq!(retried.state_machine_arn(), Some(arn.as_str()));
    let output: Value = serde_json::from_str(retried.output().unwrap()).unwrap();
    assert_eq!(output, json!({"mocked": true}));

    // Every attempt throws: the execution fails with the mocked error.
    let gave_up = start("#GivesUp").await.unwrap();
    assert_eq!(gave_up.status, SyncExecutionStatus::Failed);
    assert_eq!(gave_up.error(), Some("Lambda.TooManyRequestsException"));
    assert_eq!(gave_up.cause(), Some("Rate exceeded"));

    // Without the suffix the Task reaches the real resources.
    let real = start("").await.unwrap();
    assert_eq!(real.status, SyncExecutionStatus::Succeeded);
    let output: Value = serde_json::from_str(real.output().unwrap()).unwrap();
    assert_eq!(output, json!({"echoed": true}));

    // StartExecution takes the suffix too.
    let started = client
        .start_execution()
        .state_machine_arn(format!("{arn}#RetryPath"))
        .send()
        .await
        .unwrap();
    assert!(started.execution_arn().contains(":express:retried:"));

    let err = start("#Nope").await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    assert!(
        err.message().unwrap().contains("no test case \"Nope\""),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_test_case_suffix_without_a_mock_config_is_refused() {
    let client = local_client(&serve().await);
    let arn = create(&client, "plain", HELLO).await;
    let err = client
        .start_sync_execution()
        .state_machine_arn(format!("{arn}#HappyPath"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    assert!(
        err.message().unwrap().contains("no mock configuration"),
        "{err:?}"
    );
}
