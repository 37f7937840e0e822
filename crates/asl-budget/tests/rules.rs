//! One small definition per rule the analyser applies.

use asl_budget::{analyse, analyse_definition, Bound, BudgetError, Options, Report, Via};
use asl_engine::StateMachine;
use serde_json::{json, Value};

fn run(definition: Value) -> Report {
    // Through the validating entry point, so every fixture is also a definition AWS accepts.
    analyse_definition(&definition.to_string(), &Options::default())
}

fn run_with(definition: Value, options: &Options) -> Report {
    analyse_definition(&definition.to_string(), options)
}

fn load(definition: Value) -> StateMachine {
    StateMachine::from_value(&definition).expect("a definition the engine accepts")
}

fn worst(report: &Report) -> f64 {
    report
        .worst_path
        .as_ref()
        .expect("a worst path")
        .total_seconds
}

fn names(report: &Report) -> Vec<&str> {
    report
        .worst_path
        .as_ref()
        .unwrap()
        .steps
        .iter()
        .map(|s| s.state.as_str())
        .collect()
}

/// A one-Task machine with the given extra Task fields.
fn task(extra: Value) -> Value {
    let mut t = json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "f"}, "End": true});
    for (k, v) in extra.as_object().unwrap() {
        t[k] = v.clone();
    }
    json!({"StartAt": "T", "TimeoutSeconds": 28, "States": {"T": t}})
}

#[test]
fn a_task_without_retry_costs_its_timeout() {
    let r = run(task(json!({"TimeoutSeconds": 4})));
    assert_eq!(worst(&r), 4.0);
    assert!(r.ok(), "{:?}", r.errors);
}

#[test]
fn a_retrier_without_max_attempts_retries_three_times() {
    // 4 attempts x 2 s + 1 + 2 + 4 s of default backoff.
    let r = run(task(
        json!({"TimeoutSeconds": 2, "Retry": [{"ErrorEquals": ["States.ALL"]}]}),
    ));
    assert_eq!(worst(&r), 8.0 + 7.0);
}

#[test]
fn max_attempts_zero_never_retries() {
    let r = run(task(json!({"TimeoutSeconds": 2,
        "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 0, "IntervalSeconds": 5}]})));
    assert_eq!(worst(&r), 2.0);
    assert!(r.worst_path.unwrap().steps[0]
        .detail
        .starts_with("1 attempt"));
}

#[test]
fn every_retrier_counts_separately() {
    // Alternating A and B errors exhaust both: 1 + 2 + 1 attempts, A's delays 1, 2 and B's 3.
    let r = run(task(json!({"TimeoutSeconds": 1, "Retry": [
        {"ErrorEquals": ["A"], "MaxAttempts": 2, "IntervalSeconds": 1, "BackoffRate": 2},
        {"ErrorEquals": ["B"], "MaxAttempts": 1, "IntervalSeconds": 3}
    ]})));
    assert_eq!(worst(&r), 4.0 * 1.0 + 1.0 + 2.0 + 3.0);
}

#[test]
fn backoff_grows_by_the_rate_and_stops_at_max_delay() {
    // Spec example: 3 s then 4.5 s.
    let r = run(task(json!({"TimeoutSeconds": 1, "Retry": [
        {"ErrorEquals": ["A"], "MaxAttempts": 2, "IntervalSeconds": 3, "BackoffRate": 1.5}]})));
    assert_eq!(worst(&r), 3.0 + 3.0 + 4.5);

    // 2, 4, 5, 5, 5: capped from the third retry on.
    let r = run(task(json!({"TimeoutSeconds": 1, "Retry": [
        {"ErrorEquals": ["A"], "MaxAttempts": 5, "IntervalSeconds": 2, "BackoffRate": 2,
         "MaxDelaySeconds": 5}]})));
    assert_eq!(worst(&r), 6.0 + 2.0 + 4.0 + 5.0 + 5.0 + 5.0);
}

#[test]
fn a_huge_capped_retry_count_is_summed_without_looping_forever() {
    let r = analyse(
        &load(task(
            json!({"TimeoutSeconds": 1, "Retry": [{"ErrorEquals": ["A"],
            "MaxAttempts": 99_999_999, "IntervalSeconds": 1, "BackoffRate": 1.0}]}),
        )),
        &Options::default(),
    );
    assert_eq!(worst(&r), 100_000_000.0 + 99_999_999.0);
    assert!(!r.ok());
}

#[test]
fn full_jitter_counts_the_undrawn_delay() {
    let plain = run(task(json!({"TimeoutSeconds": 2, "Retry": [
        {"ErrorEquals": ["A"], "MaxAttempts": 2, "IntervalSeconds": 1}]})));
    let jittered = run(task(json!({"TimeoutSeconds": 2, "Retry": [
        {"ErrorEquals": ["A"], "MaxAttempts": 2, "IntervalSeconds": 1, "JitterStrategy": "FULL"}]})));
    assert_eq!(worst(&plain), worst(&jittered));
    assert_eq!(worst(&jittered), 6.0 + 1.0 + 2.0);
    assert!(jittered.worst_path.unwrap().steps[0]
        .detail
        .contains("FULL jitter"));
}

#[test]
fn a_task_without_timeout_is_an_error() {
    let r = run(task(json!({})));
    assert_eq!(
        r.errors,
        vec![BudgetError::MissingTaskTimeout { state: "T".into() }]
    );
    assert!(worst(&r).is_infinite());
    assert!(!r.ok());
}

#[test]
fn timeout_seconds_path_is_unbounded() {
    let r = run(task(json!({"TimeoutSecondsPath": "$.t"})));
    assert!(
        matches!(&r.errors[..], [BudgetError::DynamicTaskTimeout { state, .. }] if state == "T")
    );
    assert!(!r.ok());
}

#[test]
fn a_missing_top_level_timeout_is_an_error() {
    let mut d = task(json!({"TimeoutSeconds": 1}));
    d.as_object_mut().unwrap().remove("TimeoutSeconds");
    let r = run(d);
    assert_eq!(r.errors, vec![BudgetError::MissingTopLevelTimeout]);
    assert!(!r.ok());
}

#[test]
fn the_worst_path_must_fit_the_timeout_and_the_timeout_the_limit() {
    let mut d = task(json!({"TimeoutSeconds": 10}));
    d["TimeoutSeconds"] = json!(9);
    let r = run(d.clone());
    assert!(r.errors.is_empty());
    assert!(!r.verdict.worst_within_timeout);
    assert!(!r.ok());

    d["TimeoutSeconds"] = json!(29);
    let r = run(d.clone());
    assert!(r.verdict.worst_within_timeout);
    assert!(!r.verdict.timeout_below_limit, "29 is not below 29");
    assert!(!r.ok());

    let r = run_with(
        d,
        &Options {
            limit_seconds: 30.0,
            ..Options::default()
        },
    );
    assert!(r.ok());
    assert_eq!(r.slack_seconds(), Some(19.0));
    assert_eq!(r.margin_seconds(), Some(1.0));
}

#[test]
fn wait_seconds_counts_and_other_states_are_free() {
    let r = run(json!({"StartAt": "P", "TimeoutSeconds": 20, "States": {
        "P": {"Type": "Pass", "Next": "W"},
        "W": {"Type": "Wait", "Seconds": 7, "Next": "C"},
        "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.x", "IsPresent": true, "Next": "S"}], "Default": "F"},
        "S": {"Type": "Succeed"},
        "F": {"Type": "Fail", "Error": "E"}
    }}));
    assert_eq!(worst(&r), 7.0);
    assert!(r.ok());
}

#[test]
fn a_seconds_path_wait_needs_an_assumed_bound() {
    let d = json!({"StartAt": "W", "TimeoutSeconds": 20, "States": {
        "W": {"Type": "Wait", "SecondsPath": "$.s", "Next": "V"},
        "V": {"Type": "Wait", "TimestampPath": "$.t", "End": true}
    }});
    let r = run(d.clone());
    assert_eq!(r.errors.len(), 2);
    assert!(
        matches!(&r.errors[0], BudgetError::UnboundedWait { state, field } if state == "W" && field == "SecondsPath")
    );

    let options = Options {
        wait_max_seconds: Bound {
            default: Some(3.0),
            per_state: [("V".to_string(), 5.0)].into(),
        },
        ..Options::default()
    };
    let r = run_with(d, &options);
    assert!(r.ok(), "{:?}", r.errors);
    assert_eq!(worst(&r), 8.0);
}

#[test]
fn every_choice_branch_is_a_path() {
    let r = run(json!({"StartAt": "C", "TimeoutSeconds": 20, "States": {
        "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.a", "IsPresent": true, "Next": "Short"},
            {"Variable": "$.b", "IsPresent": true, "Next": "Long"}], "Default": "Mid"},
        "Short": {"Type": "Wait", "Seconds": 1, "End": true},
        "Long": {"Type": "Wait", "Seconds": 9, "End": true},
        "Mid": {"Type": "Wait", "Seconds": 5, "End": true}
    }}));
    assert_eq!(worst(&r), 9.0);
    assert_eq!(names(&r), ["C", "Long"]);
    assert_eq!(r.worst_path.unwrap().steps[1].via, Via::Choice);
}

#[test]
fn a_catch_fires_after_every_attempt_and_starts_compensation() {
    let retry = json!([{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1, "IntervalSeconds": 1}]);
    let r = run(json!({"StartAt": "Do", "TimeoutSeconds": 20, "States": {
        "Do": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
               "Parameters": {"FunctionName": "f"}, "TimeoutSeconds": 2, "Retry": retry,
               "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Undo"}], "Next": "Done"},
        "Done": {"Type": "Succeed"},
        "Undo": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Parameters": {"FunctionName": "g"}, "TimeoutSeconds": 3, "End": true}
    }}));
    let comp = r
        .worst_compensation_path
        .clone()
        .expect("a compensation path");
    assert_eq!(comp.total_seconds, 5.0 + 3.0);
    assert_eq!(comp.steps[1].via, Via::Catch);
    assert_eq!(worst(&r), 8.0);
    assert_eq!(r.verdict.compensation_fits, Some(true));
    assert!(r.ok());
}

#[test]
fn the_compensation_path_is_reported_even_when_a_happy_path_is_slower() {
    let r = run(json!({"StartAt": "Do", "TimeoutSeconds": 20, "States": {
        "Do": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
               "Parameters": {"FunctionName": "f"}, "TimeoutSeconds": 1,
               "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Undo"}], "Next": "Slow"},
        "Slow": {"Type": "Wait", "Seconds": 10, "Next": "Then"},
        "Then": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Parameters": {"FunctionName": "f"}, "TimeoutSeconds": 1,
                 "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Undo"}], "Next": "Slower"},
        "Slower": {"Type": "Wait", "Seconds": 5, "End": true},
        "Undo": {"Type": "Wait", "Seconds": 2, "End": true}
    }}));
    assert_eq!(worst(&r), 17.0);
    assert!(!r.worst_path.as_ref().unwrap().takes_catch());
    // Do, Slow, Then, catch into Undo: the slowest path that takes a Catch.
    let comp = r.worst_compensation_path.unwrap();
    assert_eq!(comp.total_seconds, 14.0);
    let via: Vec<_> = comp
        .steps
        .iter()
        .map(|s| (s.state.as_str(), s.via))
        .collect();
    assert_eq!(
        via,
        [
            ("Do", Via::Start),
            ("Slow", Via::Next),
            ("Then", Via::Next),
            ("Undo", Via::Catch)
        ]
    );
}

#[test]
fn a_compensation_cut_off_by_the_timeout_fails() {
    let r = run(json!({"StartAt": "Do", "TimeoutSeconds": 5, "States": {
        "Do": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
               "Parameters": {"FunctionName": "f"}, "TimeoutSeconds": 3,
               "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Undo"}], "End": true},
        "Undo": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Parameters": {"FunctionName": "g"}, "TimeoutSeconds": 3, "End": true}
    }}));
    assert_eq!(r.verdict.compensation_fits, Some(false));
    assert!(!r.ok());
}

#[test]
fn parallel_costs_its_slowest_branch_times_its_own_attempts() {
    // State names are unique in the whole machine, branches included.
    let branch = |name: &str, secs: u64| json!({"StartAt": name, "States": {name: {"Type": "Wait", "Seconds": secs, "End": true}}});
    let r = run(json!({"StartAt": "Fan", "TimeoutSeconds": 28, "States": {
        "Fan": {"Type": "Parallel", "Branches": [branch("W2", 2), branch("W6", 6), branch("W4", 4)],
                "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1, "IntervalSeconds": 2}],
                "End": true}
    }}));
    assert_eq!(worst(&r), 2.0 * 6.0 + 2.0);
    let step = &r.worst_path.as_ref().unwrap().steps[0];
    assert_eq!(step.inner.as_ref().unwrap().steps[0].state, "Fan[1]/W6");
}

#[test]
fn nested_parallel_inside_a_branch() {
    let leaf = |name: &str, s: u64| json!({"StartAt": name, "States": {name: {"Type": "Wait", "Seconds": s, "End": true}}});
    let inner = json!({"StartAt": "In", "States": {"In": {"Type": "Parallel",
        "Branches": [leaf("L3", 3), leaf("L5", 5)], "Next": "After"},
        "After": {"Type": "Wait", "Seconds": 1, "End": true}}});
    let r = run(json!({"StartAt": "Out", "TimeoutSeconds": 28, "States": {
        "Out": {"Type": "Parallel", "Branches": [leaf("L4", 4), inner], "End": true}}}));
    assert_eq!(worst(&r), 6.0);
}

#[test]
fn map_needs_an_item_bound_and_runs_in_rounds_of_max_concurrency() {
    let map = |conc: Option<u64>| {
        let mut m = json!({"Type": "Map", "ItemsPath": "$.items", "End": true,
            "ItemProcessor": {"StartAt": "Each", "States": {
                "Each": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                         "Parameters": {"FunctionName": "f"}, "TimeoutSeconds": 2, "End": true}}}});
        if let Some(c) = conc {
            m["MaxConcurrency"] = json!(c);
        }
        json!({"StartAt": "M", "TimeoutSeconds": 28, "States": {"M": m}})
    };
    let r = run(map(Some(2)));
    assert_eq!(
        r.errors,
        vec![BudgetError::UnboundedMap { state: "M".into() }]
    );
    assert!(!r.ok());

    let mut options = Options::default();
    options.map_max_items.default = Some(5.0);
    // ceil(5 / 2) = 3 rounds of 2 s.
    let r = run_with(map(Some(2)), &options);
    assert_eq!(worst(&r), 6.0);
    assert!(r.ok());
    // Without MaxConcurrency nothing promises parallelism: 5 rounds.
    let r = run_with(map(None), &options);
    assert_eq!(worst(&r), 10.0);
    let r = run_with(map(Some(0)), &options);
    assert_eq!(worst(&r), 10.0);
    assert_eq!(
        r.worst_path.unwrap().steps[0].inner.as_ref().unwrap().steps[0].state,
        "M/Each"
    );
}

#[test]
fn a_loop_is_an_error() {
    let r = run(json!({"StartAt": "Try", "TimeoutSeconds": 20, "States": {
        "Try": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "f"}, "TimeoutSeconds": 1, "Next": "Again"},
        "Again": {"Type": "Choice", "Choices": [
            {"Variable": "$.done", "BooleanEquals": false, "Next": "Pause"}], "Default": "End"},
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Try"},
        "End": {"Type": "Succeed"}
    }}));
    assert_eq!(
        r.errors,
        vec![BudgetError::Cycle {
            states: vec!["Try".into(), "Again".into(), "Pause".into(), "Try".into()]
        }]
    );
    assert!(r.worst_path.is_none());
    assert!(!r.ok());
}

#[test]
fn a_loop_inside_a_map_makes_the_map_unbounded() {
    let r = analyse(
        &load(json!({"StartAt": "M", "TimeoutSeconds": 20, "States": {
            "M": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "A", "States": {
                "A": {"Type": "Pass", "Next": "B"},
                "B": {"Type": "Choice", "Choices": [
                    {"Variable": "$.done", "BooleanEquals": true, "Next": "Done"}], "Default": "A"},
                "Done": {"Type": "Succeed"}}}}}})),
        &Options {
            map_max_items: Bound {
                default: Some(1.0),
                ..Bound::default()
            },
            ..Options::default()
        },
    );
    assert!(matches!(&r.errors[..], [BudgetError::Cycle { states }] if states[0] == "M/A"));
    assert!(worst(&r).is_infinite());
}

#[test]
fn an_invalid_definition_is_rejected_before_budgeting() {
    let r = analyse_definition(
        r#"{"StartAt": "A", "TimeoutSeconds": 5, "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}"#,
        &Options::default(),
    );
    assert!(!r.errors.is_empty());
    assert!(r
        .errors
        .iter()
        .all(|e| matches!(e, BudgetError::InvalidDefinition { .. })));
    assert!(!r.ok());
    let r = analyse_definition("not json", &Options::default());
    assert!(!r.ok());
}

#[test]
fn the_json_report_names_every_check() {
    let r = run(task(json!({"TimeoutSeconds": 4})));
    let j = r.to_json();
    assert_eq!(j["verdict"]["ok"], json!(true));
    assert_eq!(j["timeout_seconds"], json!(28.0));
    assert_eq!(j["worst_path"]["total_seconds"], json!(4.0));
    assert_eq!(j["worst_path"]["steps"][0]["type"], json!("Task"));
    assert_eq!(j["margin_seconds"], json!(1.0));
    assert_eq!(j["slack_seconds"], json!(24.0));

    let bad = run(task(json!({}))).to_json();
    assert_eq!(bad["errors"][0]["kind"], json!("missing-task-timeout"));
    assert_eq!(bad["worst_path"]["total_seconds"], Value::Null);
}

#[test]
fn jsonata_expressions_are_not_taken_for_literals() {
    // The engine keeps a JSONata state's expression-valued fields beside the JSONPath-shaped
    // model; the budget must see them as depending on the input, not as a 0 s Wait or a Task
    // without a timeout.
    let report = run(json!({
        "QueryLanguage": "JSONata",
        "StartAt": "Pause",
        "States": {
            "Pause": {"Type": "Wait", "Seconds": "{% $states.input.delay %}", "Next": "Work"},
            "Work": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"FunctionName": "f"},
                "TimeoutSeconds": "{% $states.input.limit %}",
                "End": true
            }
        }
    }));
    assert!(report.errors.iter().any(|e| matches!(e,
        BudgetError::UnboundedWait { state, field } if state == "Pause" && field == "Seconds")));
    assert!(report.errors.iter().any(|e| matches!(e,
        BudgetError::DynamicTaskTimeout { state, field } if state == "Work" && field == "TimeoutSeconds")));
}

#[test]
fn a_jsonata_choice_rule_leads_to_its_target() {
    // The slow state is reachable only through a JSONata rule: missing the rule would drop it.
    let report = run(json!({
        "QueryLanguage": "JSONata",
        "TimeoutSeconds": 25,
        "StartAt": "Pick",
        "States": {
            "Pick": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% $states.input.slow %}", "Next": "Slow"}],
                "Default": "Done"
            },
            "Slow": {"Type": "Wait", "Seconds": 20, "Next": "Done"},
            "Done": {"Type": "Succeed"}
        }
    }));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(worst(&report), 20.0);
    assert_eq!(names(&report), ["Pick", "Slow", "Done"]);
}
