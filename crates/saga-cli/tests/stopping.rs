//! `saga serve` as a user's own Step Functions Express: an execution that loops without awaiting anything ends
//! at its timeout while the server keeps answering, and a shutdown ends even when an execution would not.

mod serve;

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

/// One call of the Step Functions JSON API, as the AWS SDKs make it.
async fn sfn(client: &reqwest::Client, addr: &str, operation: &str, body: Value) -> Value {
    let response = client
        .post(format!("http://{addr}/"))
        .header("x-amz-target", format!("AWSStepFunctions.{operation}"))
        .header("content-type", "application/x-amz-json-1.0")
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{operation}: {e}"));
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{operation}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

async fn create(client: &reqwest::Client, addr: &str, name: &str, definition: Value) -> String {
    let created = sfn(
        client,
        addr,
        "CreateStateMachine",
        json!({
            "name": name,
            "type": "EXPRESS",
            "roleArn": "arn:aws:iam::123456789012:role/local",
            "definition": definition.to_string(),
        }),
    )
    .await;
    created["stateMachineArn"].as_str().unwrap().to_string()
}

fn client() -> reqwest::Client {
    // A bound on every call, so that a hang fails the test instead of stalling the suite.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_loop_that_awaits_nothing_times_out_and_the_server_keeps_answering() {
    let serving = serve::serve(&["--time-scale", "0.01"]);
    let addr = serving.addr.clone();
    let client = client();
    let arn = create(
        &client,
        &addr,
        "spin",
        json!({
            "TimeoutSeconds": 200,
            "StartAt": "Spin",
            "States": {
                "Spin": {"Type": "Pass", "Next": "Again"},
                "Again": {"Type": "Choice", "Choices": [{"Variable": "$.stop", "IsPresent": true, "Next": "Done"}], "Default": "Spin"},
                "Done": {"Type": "Succeed"}
            }
        }),
    )
    .await;

    // 200 s at a time scale of 0.01: two seconds of spinning, during which the server must still answer.
    let execution = tokio::spawn({
        let (client, addr) = (client.clone(), addr.clone());
        async move {
            sfn(
                &client,
                &addr,
                "StartSyncExecution",
                json!({"stateMachineArn": arn, "input": "{}"}),
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !execution.is_finished(),
        "the loop ended before its timeout"
    );
    let health = client
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .expect("the server answers while the loop runs");
    assert!(health.status().is_success());

    let result = execution.await.unwrap();
    assert_eq!(result["status"], "TIMED_OUT", "{result}");
    assert_eq!(result["error"], "States.Timeout", "{result}");
    let mut child = serving.child;
    child.kill().unwrap();
    let _ = child.wait();
}

/// Sends SIGTERM and checks that the server exits cleanly within the test's bound, saying that it stopped without
/// what was still in flight.
#[cfg(unix)]
async fn stop_past_the_grace_period(
    mut child: std::process::Child,
    log: std::io::Lines<std::io::BufReader<std::process::ChildStderr>>,
) {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let rest = tokio::task::spawn_blocking(move || {
        let rest: Vec<String> = log.map_while(Result::ok).collect();
        (rest, child.wait().expect("the server exits"))
    });
    let (rest, status) = tokio::time::timeout(Duration::from_secs(60), rest)
        .await
        .expect("the server stopped within the test's bound, long before the execution would have")
        .unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}\n{}", rest.join("\n"));
    assert!(
        rest.iter().any(|l| l.contains("shutdown grace period")),
        "{}",
        rest.join("\n")
    );
}

/// A shutdown waits for requests in flight, but not for ever: an execution of a long definition does not hold the
/// process past the grace period.
#[cfg(unix)]
#[tokio::test]
async fn a_shutdown_ends_after_its_grace_period_whatever_is_in_flight() {
    let serve::Serving { child, addr, log } = serve::serve(&["--shutdown-grace-seconds", "0.5"]);
    let client = client();
    let arn = create(
        &client,
        &addr,
        "long-wait",
        json!({
            "StartAt": "Wait",
            "States": {"Wait": {"Type": "Wait", "Seconds": 250, "End": true}}
        }),
    )
    .await;
    let execution = tokio::spawn({
        let (client, addr) = (client.clone(), addr.clone());
        async move {
            client
                .post(format!("http://{addr}/"))
                .header("x-amz-target", "AWSStepFunctions.StartSyncExecution")
                .header("content-type", "application/x-amz-json-1.0")
                .body(json!({"stateMachineArn": arn, "input": "{}"}).to_string())
                .send()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!execution.is_finished());

    stop_past_the_grace_period(child, log).await;
    // The execution's caller was cut off rather than answered.
    assert!(execution.await.unwrap().is_err());
}

/// StartExecution leaves its execution running after it answers; a shutdown ends that execution with its grace
/// period too, rather than waiting for it.
#[cfg(unix)]
#[tokio::test]
async fn a_shutdown_ends_background_executions_after_its_grace_period() {
    let serve::Serving { child, addr, log } = serve::serve(&["--shutdown-grace-seconds", "0.5"]);
    let client = client();
    let arn = create(
        &client,
        &addr,
        "long-wait",
        json!({
            "StartAt": "Wait",
            "States": {"Wait": {"Type": "Wait", "Seconds": 250, "End": true}}
        }),
    )
    .await;
    let started = sfn(
        &client,
        &addr,
        "StartExecution",
        json!({"stateMachineArn": arn, "input": "{}"}),
    )
    .await;
    assert!(started["executionArn"]
        .as_str()
        .unwrap()
        .contains(":express:long-wait:"));

    stop_past_the_grace_period(child, log).await;
}
