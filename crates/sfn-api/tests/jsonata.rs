//! JSONata definitions through the API, with the real `aws-sdk-sfn` client over HTTP on
//! 127.0.0.1: created, validated and run like JSONPath ones.

use std::sync::Arc;

use aws_sdk_sfn::types::{StateMachineType, SyncExecutionStatus};
use serde_json::{json, Value};
use sfn_api::mock::{MockAnswer, MockResources};
use sfn_api::{client::local_client, ExecutionContext, SfnApi, SfnApiConfig};

const CALL: &str = r#"{
  "QueryLanguage": "JSONata",
  "StartAt": "Call",
  "States": {
    "Call": {
      "Type": "Task",
      "Resource": "arn:aws:states:::lambda:invoke",
      "Arguments": {"FunctionName": "{% $states.input.fn %}", "Payload": {"n": "{% $states.input.n + 1 %}"}},
      "Assign": {"called": "{% $states.input.fn %}"},
      "Output": {"payload": "{% $states.result.Payload %}", "extra": "{% $states.input.extra %}"},
      "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Output": "{% $states.errorOutput %}", "Next": "Failed"}],
      "Next": "Done"
    },
    "Done": {"Type": "Pass", "Output": {"called": "{% $called %}", "result": "{% $states.input %}"}, "End": true},
    "Failed": {"Type": "Fail", "Error": "{% $states.input.Error %}", "Cause": "{% $states.input.Cause %}"}
  }
}"#;

async fn serve() -> String {
    let resources: Arc<dyn asl_engine::Resources> =
        Arc::new(MockResources::new().with("echo", MockAnswer::payload(json!({"echoed": true}))));
    let api = Arc::new(SfnApi::new(
        SfnApiConfig::default(),
        Arc::new(move |_: &ExecutionContext| resources.clone()),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, sfn_api::router(api)).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_jsonata_state_machine_is_created_and_run() {
    let client = local_client(&serve().await);
    let validation = client
        .validate_state_machine_definition()
        .definition(CALL)
        .send()
        .await
        .unwrap();
    assert_eq!(validation.result().as_str(), "OK", "{validation:?}");
    let arn = client
        .create_state_machine()
        .name("jsonata")
        .definition(CALL)
        .role_arn("arn:aws:iam::123456789012:role/local")
        .r#type(StateMachineType::Express)
        .send()
        .await
        .unwrap()
        .state_machine_arn;

    let run = |input: Value| {
        client
            .start_sync_execution()
            .state_machine_arn(&arn)
            .input(input.to_string())
            .send()
    };
    let ok = run(json!({"fn": "echo", "n": 1, "extra": "x"}))
        .await
        .unwrap();
    assert_eq!(ok.status, SyncExecutionStatus::Succeeded, "{ok:?}");
    let output: Value = serde_json::from_str(ok.output().unwrap()).unwrap();
    assert_eq!(
        output,
        json!({"called": "echo", "result": {"payload": {"echoed": true}, "extra": "x"}})
    );

    // Without `extra` the Output fails; the Catch hands the query error to the Fail state.
    let failed = run(json!({"fn": "echo", "n": 1})).await.unwrap();
    assert_eq!(failed.status, SyncExecutionStatus::Failed);
    assert_eq!(failed.error(), Some("States.QueryEvaluationError"));
    assert!(
        failed.cause().unwrap_or_default().ends_with(
            "The JSONata expression '$states.input.extra' specified for the field 'Output/extra' returned nothing (undefined)."
        ),
        "{failed:?}"
    );
}

#[tokio::test]
async fn a_jsonata_definition_with_jsonpath_fields_is_refused_with_its_location() {
    let client = local_client(&serve().await);
    let bad = CALL.replace("\"Assign\"", "\"ResultPath\": \"$.r\", \"Assign\"");
    let validation = client
        .validate_state_machine_definition()
        .definition(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(validation.result().as_str(), "FAIL");
    let diagnostics: Vec<Value> = validation
        .diagnostics()
        .iter()
        .map(|d| json!({"code": d.code(), "location": d.location()}))
        .collect();
    assert!(
        diagnostics.contains(
            &json!({"code": "SCHEMA_VALIDATION_FAILED", "location": "/States/Call/ResultPath"})
        ),
        "{diagnostics:?}"
    );
    let created = client
        .create_state_machine()
        .name("bad")
        .definition(&bad)
        .role_arn("arn:aws:iam::123456789012:role/local")
        .r#type(StateMachineType::Express)
        .send()
        .await;
    assert!(created.is_err());
}
