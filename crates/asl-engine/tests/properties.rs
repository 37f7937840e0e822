//! Properties of the input/output pipeline over generated JSON and paths: nothing panics, and ResultPath merges
//! round-trip.

use std::sync::Arc;

use asl_engine::{
    execute, ExecutionOptions, ExecutionStatus, InvokeRequest, InvokeResponse, Resources,
    StateMachine,
};
use proptest::prelude::*;
use serde_json::{json, Value};

struct NoResources;

#[async_trait::async_trait]
impl Resources for NoResources {
    async fn invoke(&self, _request: InvokeRequest) -> InvokeResponse {
        InvokeResponse::Service(json!({}))
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z$.\\[\\]*@' ]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn run(definition: &Value, input: Value) -> Option<asl_engine::ExecutionResult> {
    let machine = StateMachine::from_value(definition).ok()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    Some(rt.block_on(execute(
        &machine,
        input,
        ExecutionOptions::default(),
        Arc::new(NoResources),
    )))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any path in any field that takes one is either refused at load or runs to an end state; never a panic.
    #[test]
    fn arbitrary_paths_never_panic(path in "[$@.a-z0-9\\[\\]*:?()'=<>, ]{0,16}", input in json_value()) {
        for field in ["InputPath", "OutputPath", "ResultPath"] {
            let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", field: path, "End": true}}});
            let _ = run(&def, input.clone());
        }
        let params = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"x.$": path}, "End": true}}});
        let _ = run(&params, input);
    }

    /// ResultPath `$.k` puts the result under `k` and leaves every other field of an object input as it was.
    #[test]
    fn result_path_merge_round_trips(
        input in prop::collection::btree_map("[a-z]{1,4}", json_value(), 0..5),
        result in json_value(),
    ) {
        let input = Value::Object(input.into_iter().collect());
        let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": result, "ResultPath": "$.merged", "End": true}}});
        let out = run(&def, input.clone()).expect("the definition loads");
        prop_assert_eq!(out.status, ExecutionStatus::Succeeded);
        let output = out.output.expect("a succeeded execution has output");
        prop_assert_eq!(&output["merged"], &result);
        let mut without = output.as_object().unwrap().clone();
        without.remove("merged");
        let mut expected = input.as_object().unwrap().clone();
        expected.remove("merged");
        prop_assert_eq!(without, expected);
    }

    /// A payload template copies what its `.$` paths select and keeps literal fields verbatim.
    #[test]
    fn payload_templates_select_and_keep_literals(value in json_value(), literal in json_value()) {
        let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass",
            "Parameters": {"copied.$": "$.v", "literal": literal, "nested": {"again.$": "$.v"}}, "End": true}}});
        let out = run(&def, json!({"v": value})).expect("the definition loads");
        let output = out.output.expect("succeeded");
        prop_assert_eq!(&output["copied"], &value);
        prop_assert_eq!(&output["nested"]["again"], &value);
        prop_assert_eq!(&output["literal"], &literal);
    }
}
