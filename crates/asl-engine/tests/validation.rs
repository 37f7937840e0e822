//! Definition validation: one test per rule, each checking the rule code and the JSON
//! location it reports.

use asl_engine::{Diagnostic, StateMachine};
use serde_json::{json, Value};

fn diagnostics(def: Value) -> Vec<Diagnostic> {
    match StateMachine::from_value(&def) {
        Ok(_) => panic!("definition should be rejected: {def}"),
        Err(e) => e.diagnostics,
    }
}

fn has(diags: &[Diagnostic], code: &str, location: &str) -> bool {
    diags
        .iter()
        .any(|d| d.code == code && d.location == location)
}

fn assert_has(def: Value, code: &str, location: &str) {
    let d = diagnostics(def);
    assert!(
        has(&d, code, location),
        "expected {code} at {location}, got {d:#?}"
    );
}

fn machine(states: Value) -> Value {
    json!({"StartAt": "A", "States": states})
}

#[test]
fn invalid_json_is_reported() {
    let e = StateMachine::from_json("{ not json").unwrap_err();
    assert_eq!(e.diagnostics[0].code, "INVALID_JSON_DESCRIPTION");
}

#[test]
fn start_at_must_name_a_state() {
    assert_has(
        json!({"StartAt": "Nope", "States": {"A": {"Type": "Succeed"}}}),
        "MISSING_TRANSITION_TARGET",
        "/StartAt",
    );
}

#[test]
fn start_at_and_states_are_required() {
    assert_has(
        json!({"States": {"A": {"Type": "Succeed"}}}),
        "SCHEMA_VALIDATION_FAILED",
        "/",
    );
    assert_has(json!({"StartAt": "A"}), "SCHEMA_VALIDATION_FAILED", "/");
}

#[test]
fn next_must_name_a_state() {
    assert_has(
        machine(json!({"A": {"Type": "Pass", "Next": "B"}})),
        "MISSING_TRANSITION_TARGET",
        "/States/A/Next",
    );
}

#[test]
fn choice_and_catch_targets_must_exist() {
    let d = diagnostics(machine(json!({
        "A": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "X"}], "Default": "Y"},
        "T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Z"}]}
    })));
    assert!(has(
        &d,
        "MISSING_TRANSITION_TARGET",
        "/States/A/Choices/0/Next"
    ));
    assert!(has(&d, "MISSING_TRANSITION_TARGET", "/States/A/Default"));
    assert!(has(
        &d,
        "MISSING_TRANSITION_TARGET",
        "/States/T/Catch/0/Next"
    ));
}

#[test]
fn unreachable_states_are_reported() {
    assert_has(
        machine(json!({"A": {"Type": "Succeed"}, "B": {"Type": "Succeed"}})),
        "UNREACHABLE_STATE",
        "/States/B",
    );
}

#[test]
fn a_terminal_state_is_required() {
    assert_has(
        machine(json!({"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}})),
        "NO_TERMINAL_STATE",
        "/States",
    );
}

#[test]
fn next_or_end_is_required_and_exclusive() {
    assert_has(
        machine(json!({"A": {"Type": "Pass"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A",
    );
    assert_has(
        machine(json!({"A": {"Type": "Pass", "Next": "A", "End": true}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A",
    );
}

#[test]
fn unknown_fields_are_rejected_with_their_location() {
    assert_has(
        machine(json!({"A": {"Type": "Pass", "End": true, "Foo": 1}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Foo",
    );
    assert_has(
        machine(json!({"A": {"Type": "Fail", "InputPath": "$"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/InputPath",
    );
    assert_has(
        machine(
            json!({"A": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true,
            "Retry": [{"ErrorEquals": ["E"], "Maxattempts": 2}]}}),
        ),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Retry/0/Maxattempts",
    );
}

#[test]
fn unknown_state_types_are_rejected() {
    assert_has(
        machine(json!({"A": {"Type": "Sleep", "End": true}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Type",
    );
}

#[test]
fn states_all_must_be_alone_and_last() {
    let task = |retry: Value| {
        machine(
            json!({"A": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true, "Retry": retry}}),
        )
    };
    assert_has(
        task(json!([{"ErrorEquals": ["States.ALL", "E"]}])),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Retry/0/ErrorEquals",
    );
    assert_has(
        task(json!([{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["E"]}])),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Retry/0/ErrorEquals",
    );
    assert_has(
        machine(
            json!({"A": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true,
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "A"}, {"ErrorEquals": ["E"], "Next": "A"}]}}),
        ),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Catch/0/ErrorEquals",
    );
}

#[test]
fn error_equals_is_required_and_non_empty() {
    assert_has(
        machine(
            json!({"A": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true, "Retry": [{"ErrorEquals": []}]}}),
        ),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Retry/0/ErrorEquals",
    );
}

#[test]
fn retrier_field_ranges_are_checked() {
    let d = diagnostics(machine(
        json!({"A": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true,
        "Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 0, "BackoffRate": 0.5, "MaxDelaySeconds": 0, "JitterStrategy": "SOME", "MaxAttempts": -1}]}}),
    ));
    for field in [
        "IntervalSeconds",
        "BackoffRate",
        "MaxDelaySeconds",
        "JitterStrategy",
        "MaxAttempts",
    ] {
        assert!(
            has(
                &d,
                "SCHEMA_VALIDATION_FAILED",
                &format!("/States/A/Retry/0/{field}")
            ),
            "{field}: {d:#?}"
        );
    }
}

#[test]
fn reference_paths_are_required_where_the_spec_says() {
    assert_has(
        machine(json!({"A": {"Type": "Pass", "End": true, "ResultPath": "$.a[*]"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/ResultPath",
    );
    assert_has(
        machine(json!({"A": {"Type": "Pass", "End": true, "ResultPath": "$$.Execution"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/ResultPath",
    );
    assert_has(
        machine(json!({"A": {"Type": "Wait", "End": true, "SecondsPath": "$.a..b"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/SecondsPath",
    );
    assert_has(
        machine(
            json!({"A": {"Type": "Map", "End": true, "ItemsPath": "$.items[?(@.x == 1)]",
            "ItemProcessor": {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}}}),
        ),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/ItemsPath",
    );
}

#[test]
fn paths_must_be_valid_jsonpath() {
    assert_has(
        machine(json!({"A": {"Type": "Pass", "End": true, "InputPath": "a.b"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/InputPath",
    );
}

#[test]
fn type_errors_are_reported() {
    assert_has(
        machine(
            json!({"A": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true, "TimeoutSeconds": "2"}}),
        ),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/TimeoutSeconds",
    );
    assert_has(
        machine(json!({"A": {"Type": "Pass", "End": "yes"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/End",
    );
    assert_has(
        machine(json!({"A": {"Type": "Pass", "Next": 3}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Next",
    );
}

#[test]
fn payload_templates_are_checked() {
    assert_has(
        machine(json!({"A": {"Type": "Pass", "End": true, "Parameters": {"x.$": "not a path"}}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Parameters/x.$",
    );
    assert_has(
        machine(
            json!({"A": {"Type": "Pass", "End": true, "Parameters": {"x.$": "States.Nope($)"}}}),
        ),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Parameters/x.$",
    );
    assert_has(
        machine(json!({"A": {"Type": "Pass", "End": true, "Parameters": {"x": 1, "x.$": "$"}}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Parameters/x.$",
    );
}

#[test]
fn choice_rules_are_checked() {
    let choice = |rule: Value| {
        machine(
            json!({"A": {"Type": "Choice", "Choices": [rule], "Default": "B"}, "B": {"Type": "Succeed"}}),
        )
    };
    assert_has(
        choice(json!({"Variable": "$.x", "StringEquals": 1, "Next": "B"})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Choices/0/StringEquals",
    );
    assert_has(
        choice(json!({"Variable": "$.x", "Next": "B"})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Choices/0",
    );
    assert_has(
        choice(json!({"Variable": "$.x", "StringEqual": "a", "Next": "B"})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Choices/0/StringEqual",
    );
    assert_has(
        choice(json!({"And": [{"Variable": "$.x", "IsNull": true, "Next": "B"}], "Next": "B"})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Choices/0/And/0/Next",
    );
    assert_has(
        machine(json!({"A": {"Type": "Choice", "Choices": [], "Default": "A"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Choices",
    );
}

#[test]
fn wait_needs_exactly_one_duration() {
    assert_has(
        machine(json!({"A": {"Type": "Wait", "End": true, "Seconds": 1, "SecondsPath": "$.s"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A",
    );
    assert_has(
        machine(json!({"A": {"Type": "Wait", "End": true, "Timestamp": "2016-12-05T21:29:29"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Timestamp",
    );
}

#[test]
fn timeout_and_timeout_path_are_exclusive() {
    assert_has(
        machine(
            json!({"A": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true,
            "TimeoutSeconds": 1, "TimeoutSecondsPath": "$.t"}}),
        ),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A",
    );
    assert_has(
        machine(
            json!({"A": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true,
            "TimeoutSeconds": 5, "HeartbeatSeconds": 5}}),
        ),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/HeartbeatSeconds",
    );
}

#[test]
fn lambda_invoke_needs_a_function_name() {
    assert_has(
        machine(
            json!({"A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true, "Parameters": {"Payload": {}}}}),
        ),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Parameters",
    );
}

#[test]
fn resources_must_be_supported_arns() {
    assert_has(
        machine(json!({"A": {"Type": "Task", "Resource": "lambda", "End": true}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Resource",
    );
    assert_has(
        machine(
            json!({"A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "End": true,
            "Parameters": {"FunctionName": "f"}}}),
        ),
        "UNSUPPORTED_FEATURE",
        "/States/A/Resource",
    );
    assert_has(
        machine(
            json!({"A": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:1:activity:x", "End": true}}),
        ),
        "UNSUPPORTED_FEATURE",
        "/States/A/Resource",
    );
}

#[test]
fn jsonata_definitions_load() {
    StateMachine::from_value(&json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Output": "{% $states.input %}", "Assign": {"x": "{% 1 %}"}, "Next": "B"},
        "B": {"Type": "Wait", "Seconds": "{% $x %}", "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Condition": "{% $x = 1 %}", "Next": "D"}], "Default": "D"},
        "D": {"Type": "Fail", "Error": "{% 'E' %}", "Cause": "static"}
    }}))
    .expect("a JSONata definition loads");
    // A JSONPath machine may run single states in JSONata.
    StateMachine::from_value(&machine(json!({
        "A": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% 1 %}", "End": true}
    })))
    .expect("a JSONata state in a JSONPath machine loads");
}

#[test]
fn jsonpath_fields_are_refused_in_a_jsonata_state() {
    for field in [
        "Parameters",
        "InputPath",
        "OutputPath",
        "ResultPath",
        "ResultSelector",
    ] {
        let mut state = json!({"Type": "Pass", "End": true, "QueryLanguage": "JSONata"});
        state[field] = if field == "Parameters" || field == "ResultSelector" {
            json!({})
        } else {
            json!("$")
        };
        assert_has(
            machine(json!({ "A": state })),
            "SCHEMA_VALIDATION_FAILED",
            &format!("/States/A/{field}"),
        );
    }
    assert_has(
        json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke", "Arguments": {"FunctionName": "f"},
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.e", "Next": "B"}], "End": true},
            "B": {"Type": "Succeed"}}}),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Catch/0/ResultPath",
    );
}

#[test]
fn a_condition_in_a_jsonpath_choice_rule_is_a_schema_error() {
    assert_has(
        machine(json!({
            "A": {"Type": "Choice", "Choices": [{"Condition": "{% true %}", "Next": "B"}], "Default": "B"},
            "B": {"Type": "Succeed"}
        })),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Choices/0/Condition",
    );
}

#[test]
fn jsonata_fields_are_refused_where_the_state_type_has_no_use_for_them() {
    let jsonata =
        |states: Value| json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": states});
    assert_has(
        jsonata(json!({"A": {"Type": "Succeed", "Assign": {"x": 1}}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Assign",
    );
    assert_has(
        jsonata(json!({"A": {"Type": "Fail", "Output": "{% 1 %}"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Output",
    );
    assert_has(
        jsonata(json!({"A": {"Type": "Pass", "Arguments": {}, "End": true}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Arguments",
    );
    let d = diagnostics(jsonata(
        json!({"A": {"Type": "Pass", "Items": [1], "End": true}}),
    ));
    assert!(
        d.iter()
            .any(|d| d.location == "/States/A/Items" && d.message.contains("only in Map")),
        "{d:#?}"
    );
}

#[test]
fn jsonata_fields_are_refused_in_a_jsonpath_state() {
    assert_has(
        machine(json!({"A": {"Type": "Pass", "End": true, "Output": "{% 1 %}"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Output",
    );
    assert_has(
        machine(
            json!({"A": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f",
            "Arguments": {}, "End": true}}),
        ),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Arguments",
    );
    let d = diagnostics(machine(
        json!({"A": {"Type": "Pass", "End": true, "Output": 1}}),
    ));
    assert!(
        d.iter().any(|d| d
            .message
            .contains("only when the query language is JSONata")),
        "{d:#?}"
    );
}

#[test]
fn an_invalid_expression_is_reported_where_it_stands() {
    let d = diagnostics(
        json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Output": {"x": "{% $states.input. %}"}, "End": true}}}),
    );
    assert!(
        has(&d, "SCHEMA_VALIDATION_FAILED", "/States/A/Output"),
        "{d:#?}"
    );
    assert!(d[0].message.contains("$states.input."), "{d:#?}");
}

#[test]
fn distributed_map_is_rejected() {
    assert_has(
        machine(json!({"A": {"Type": "Map", "End": true,
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}, "StartAt": "B", "States": {"B": {"Type": "Succeed"}}},
            "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2"}}})),
        "UNSUPPORTED_FEATURE",
        "/States/A/ItemReader",
    );
}

#[test]
fn nested_graphs_are_validated_with_their_path() {
    assert_has(
        machine(json!({"A": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "Next": "C"}}}
        ]}})),
        "MISSING_TRANSITION_TARGET",
        "/States/A/Branches/0/States/B/Next",
    );
    assert_has(
        machine(
            json!({"A": {"Type": "Map", "End": true, "Iterator": {"StartAt": "B", "States": {"B": {"Type": "Pass"}}}}}),
        ),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Iterator/States/B",
    );
}

#[test]
fn duplicate_state_names_are_reported() {
    let e = StateMachine::from_json(
        r#"{"StartAt":"A","States":{"A":{"Type":"Succeed"},"A":{"Type":"Succeed"}}}"#,
    )
    .unwrap_err();
    assert!(
        has(&e.diagnostics, "DUPLICATE_STATE_NAME", "/States/A"),
        "{e}"
    );
}

#[test]
fn variable_names_are_checked() {
    assert_has(
        machine(json!({"A": {"Type": "Pass", "End": true, "Assign": {"1bad": 1}}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Assign/1bad",
    );
}

#[test]
fn every_problem_is_listed_and_displayed_one_per_line() {
    let e = StateMachine::from_value(&machine(json!({
        "A": {"Type": "Pass", "Next": "Nowhere", "Bogus": true},
        "B": {"Type": "Succeed"}
    })))
    .unwrap_err();
    assert!(e.diagnostics.len() >= 3, "{e}");
    assert_eq!(e.to_string().lines().count(), e.diagnostics.len());
    assert!(e.to_string().contains("/States/A/Bogus"));
}

#[test]
fn validate_response_is_shaped_like_aws() {
    let ok = asl_engine::validate_state_machine_definition(
        r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#,
    );
    assert_eq!(
        ok,
        json!({"result": "OK", "diagnostics": [], "truncated": false})
    );
    let bad = asl_engine::validate_state_machine_definition(
        r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}"#,
    );
    assert_eq!(bad["result"], "FAIL");
    assert!(bad["diagnostics"].as_array().unwrap().iter().any(|d| d
        == &json!({"severity": "ERROR", "code": "MISSING_TRANSITION_TARGET", "message": "Missing 'Next' target: B", "location": "/States/A/Next"})));
}

#[test]
fn a_state_name_is_unique_across_branches_and_processors() {
    let branch = |name: &str| json!({"StartAt": name, "States": {name: {"Type": "Succeed"}}});
    assert_has(
        machine(
            json!({"P": {"Type": "Parallel", "Branches": [branch("Work"), branch("Work")], "End": true}}),
        ),
        "DUPLICATE_STATE_NAME",
        "/States/P/Branches/1/States/Work",
    );
    // A branch state may not reuse a top-level name either, nor may a Map's processor.
    assert_has(
        machine(json!({
            "P": {"Type": "Parallel", "Branches": [branch("P")], "Next": "M"},
            "M": {"Type": "Map", "ItemProcessor": branch("Other"), "End": true},
        })),
        "DUPLICATE_STATE_NAME",
        "/States/P/Branches/0/States/P",
    );
    // Distinct names pass.
    let ok = json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Branches": [branch("A"), branch("B")], "End": true}
    }});
    StateMachine::from_value(&ok).unwrap();
}
