//! The workflow and the handlers share a vocabulary of error names; these checks keep them from drifting.

use saga_domain::StepError;
use serde_json::Value;

fn saga_names_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.starts_with("Saga.") && !s.contains('*') => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| saga_names_in(x, out)),
        Value::Object(o) => o.values().for_each(|x| saga_names_in(x, out)),
        _ => {}
    }
}

/// Every error the workflow matches is one a handler raises, or the failure the order sweeper records on an order
/// it compensated (a replay of that order's key carries it back into the workflow).
#[test]
fn every_error_the_workflow_matches_is_one_a_handler_raises() {
    let mut workflow: Value = serde_json::from_str(saga_local::app::WORKFLOW).unwrap();
    // A Fail state's own Error is raised by the workflow, not matched: nothing after it can see it.
    for state in workflow["States"].as_object_mut().unwrap().values_mut() {
        if state["Type"] == "Fail" {
            state.as_object_mut().unwrap().remove("Error");
        }
    }
    let mut matched = Vec::new();
    saga_names_in(&workflow, &mut matched);
    assert!(!matched.is_empty());
    let raised: Vec<&str> = [
        StepError::ValidationFailed(String::new()),
        StepError::IdempotencyKeyReused {
            key: String::new(),
            order_id: String::new(),
        },
        StepError::InsufficientStock {
            sku: String::new(),
            requested: 0,
            available: 0,
        },
        StepError::OrderCancelled(String::new()),
        StepError::Transient(String::new()),
        StepError::Internal(String::new()),
    ]
    .iter()
    .map(StepError::error_type)
    .chain([saga_steps::sweep::ABANDONED])
    .collect();
    for name in matched {
        assert!(
            raised.contains(&name.as_str()),
            "the workflow matches {name}, which no handler raises and the sweeper does not record"
        );
    }
}

#[test]
fn every_task_has_a_timeout_and_bounded_retries() {
    let workflow: Value = serde_json::from_str(saga_local::app::WORKFLOW).unwrap();
    for (name, state) in workflow["States"].as_object().unwrap() {
        if state["Type"] != "Task" {
            continue;
        }
        assert!(
            state["TimeoutSeconds"].is_u64(),
            "{name} has no TimeoutSeconds"
        );
        for retrier in state["Retry"].as_array().into_iter().flatten() {
            assert!(
                retrier["MaxAttempts"].is_u64(),
                "{name}: every retrier states MaxAttempts"
            );
            let errors = retrier["ErrorEquals"].as_array().unwrap();
            assert!(
                !errors
                    .iter()
                    .any(|e| e == "States.ALL" || e == "States.TaskFailed"),
                "{name}: retries transient errors only, never business rejections"
            );
        }
    }
}
