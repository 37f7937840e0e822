//! `--time-scale` in `saga run` and `saga serve`: Wait states and retry intervals of any definition last their
//! declared time multiplied by the scale, and the history keeps the declared values where it records any.
//!
//! `time-scale.asl.json` declares 50 s (a 20 s Wait, then retries after 10 s and 20 s). At scale 0.005 that is
//! 250 ms: each test checks that the execution took at least the scaled time and far less than the declared one.

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod command;
#[cfg(unix)]
mod serve;

use command::{fixtures, saga};

const SCALE: &str = "0.005";
const SCALED: Duration = Duration::from_millis(250);
const DECLARED: Duration = Duration::from_secs(50);

fn history(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn timestamp_ms(record: &Value) -> i64 {
    record["event_timestamp"].as_str().unwrap().parse().unwrap()
}

fn result_of(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The execution's own duration, from the dates of its StartSyncExecution response.
fn ran_for(result: &Value) -> Duration {
    let seconds = result["stopDate"].as_f64().unwrap() - result["startDate"].as_f64().unwrap();
    Duration::from_secs_f64(seconds)
}

#[test]
fn run_scales_waits_and_retry_intervals() {
    let started = Instant::now();
    let out = saga(&[
        "run",
        "time-scale.asl.json",
        "--time-scale",
        SCALE,
        "--history",
    ]);
    let elapsed = started.elapsed();
    let result = result_of(&out);
    assert_eq!(result["status"], "SUCCEEDED");
    assert!(ran_for(&result) >= SCALED, "{result}");
    assert!(elapsed < DECLARED / 5, "{elapsed:?}");

    let records = history(&out);
    let at = |event: &str| -> Vec<i64> {
        records
            .iter()
            .filter(|r| r["type"] == event)
            .map(timestamp_ms)
            .collect()
    };
    // The Wait: 20 s declared, 100 ms scaled.
    let waited = at("WaitStateExited")[0] - at("WaitStateEntered")[0];
    assert!((100..5_000).contains(&waited), "{waited} ms");
    // Each attempt of the Parallel enters its Fail state; the retries came after 10 s and 20 s, scaled.
    let attempts = at("FailStateEntered");
    assert_eq!(attempts.len(), 3, "{records:?}");
    let first_retry = attempts[1] - attempts[0];
    let second_retry = attempts[2] - attempts[1];
    assert!((50..5_000).contains(&first_retry), "{first_retry} ms");
    assert!((100..5_000).contains(&second_retry), "{second_retry} ms");
}

#[test]
fn run_scales_a_wait_until_a_timestamp() {
    let until = chrono::Utc::now() + chrono::Duration::seconds(40);
    let input = json!({"until": until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)});
    let started = Instant::now();
    let out = saga(&[
        "run",
        "wait-until.asl.json",
        "--input",
        &input.to_string(),
        "--time-scale",
        SCALE,
    ]);
    let elapsed = started.elapsed();
    let result = result_of(&out);
    assert_eq!(result["status"], "SUCCEEDED");
    // About 40 s away when the test began, so at least 35 s when the execution did: 175 ms scaled.
    assert!(ran_for(&result) >= Duration::from_millis(175), "{result}");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

#[test]
fn run_history_keeps_the_declared_task_timeout() {
    let out = saga(&[
        "run",
        "lambda.asl.json",
        "--var",
        "ReserveFunction=reserve",
        "--mock",
        "mock-ok.json",
        "--time-scale",
        "0.01",
        "--history",
    ]);
    result_of(&out);
    let records = history(&out);
    let scheduled = records
        .iter()
        .find(|r| r["type"] == "TaskScheduled")
        .expect("a TaskScheduled event");
    // Enforced as 20 ms, recorded as the definition declares it.
    assert_eq!(scheduled["details"]["timeoutInSeconds"], 2);
}

#[cfg(unix)]
#[tokio::test]
async fn serve_scales_waits_and_retry_intervals() {
    // The log stays open, so that the server never writes to a closed pipe.
    let serve::Serving {
        mut child,
        addr,
        log: _log,
    } = serve::serve(&["--time-scale", SCALE]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let call = |operation: &str, body: Value| {
        client
            .post(format!("http://{addr}/"))
            .header("x-amz-target", format!("AWSStepFunctions.{operation}"))
            .header("content-type", "application/x-amz-json-1.0")
            .body(body.to_string())
            .send()
    };
    let definition = std::fs::read_to_string(fixtures().join("time-scale.asl.json")).unwrap();
    let created: Value = call(
        "CreateStateMachine",
        json!({
            "name": "time-scale",
            "type": "EXPRESS",
            "roleArn": "arn:aws:iam::123456789012:role/local",
            "definition": definition,
        }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let arn = created["stateMachineArn"].as_str().expect("created");

    let started = Instant::now();
    let result: Value = call("StartSyncExecution", json!({"stateMachineArn": arn}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(result["status"], "SUCCEEDED", "{result}");
    assert!(ran_for(&result) >= SCALED, "{result}");
    assert!(elapsed < DECLARED / 5, "{elapsed:?}");

    child.kill().unwrap();
    let _ = child.wait();
}
