//! An execution always stops. A definition that loops through Pass and Choice states awaits nothing, and AWS still
//! ends it at its `TimeoutSeconds` (or at the Express limit of five minutes) as `TIMED_OUT`; so must the engine,
//! and while it loops, the other tasks of the runtime must keep running. Real time here (scaled down), not paused:
//! a paused clock would hide exactly the starvation these tests look for.

use asl_engine::{
    execute, ExecutionOptions, ExecutionStatus, InvokeRequest, InvokeResponse, Resources,
    StateMachine,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct NoTasks;

#[async_trait::async_trait]
impl Resources for NoTasks {
    async fn invoke(&self, _request: InvokeRequest) -> InvokeResponse {
        unreachable!("the loops here have no Task state")
    }
}

fn endless_loop(timeout_seconds: Option<u64>) -> Value {
    let mut definition = json!({
        "StartAt": "Count",
        "States": {
            "Count": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "Again"},
            "Again": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericLessThan": -1, "Next": "Done"}],
                "Default": "Count"
            },
            "Done": {"Type": "Succeed"}
        }
    });
    if let Some(t) = timeout_seconds {
        definition["TimeoutSeconds"] = json!(t);
    }
    definition
}

/// Runs the definition on a runtime with a single thread, beside a task that counts its own wake-ups: if the
/// execution starved the thread, the count would stay at zero.
fn run_beside_a_ticker(
    definition: Value,
    time_scale: f64,
) -> (ExecutionStatus, Option<String>, u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let machine = StateMachine::from_value(&definition).expect("the definition loads");
        let ticks = Arc::new(AtomicU64::new(0));
        let ticker = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let options = ExecutionOptions {
            time_scale,
            ..Default::default()
        };
        let result = tokio::time::timeout(
            Duration::from_secs(30),
            execute(&machine, json!({"n": 0}), options, Arc::new(NoTasks)),
        )
        .await
        .expect("the execution ended by itself");
        ticker.abort();
        (result.status, result.error, ticks.load(Ordering::Relaxed))
    })
}

#[test]
fn a_loop_without_tasks_ends_at_its_timeout_seconds() {
    // TimeoutSeconds 2 at a time scale of 0.01: 20 ms.
    let (status, error, ticks) = run_beside_a_ticker(endless_loop(Some(2)), 0.01);
    assert_eq!(status, ExecutionStatus::TimedOut);
    assert_eq!(error.as_deref(), Some("States.Timeout"));
    assert!(ticks > 0, "the loop starved the other task on its thread");
}

#[test]
fn a_loop_without_any_timeout_ends_at_the_express_limit() {
    // Five minutes at a time scale of 0.0001: 30 ms.
    let (status, error, ticks) = run_beside_a_ticker(endless_loop(None), 0.0001);
    assert_eq!(status, ExecutionStatus::TimedOut);
    assert_eq!(error.as_deref(), Some("States.Timeout"));
    assert!(ticks > 0, "the loop starved the other task on its thread");
}
