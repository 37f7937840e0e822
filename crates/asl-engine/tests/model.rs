//! The read-only model shows a loaded definition as the interpreter runs it.

use asl_engine::model::{Kind, Quantity, Wait};
use asl_engine::StateMachine;

#[test]
fn the_model_lists_states_in_definition_order_with_defaults_filled_in() {
    let machine = StateMachine::from_json(
        r#"{"StartAt": "Zed", "TimeoutSeconds": 9, "States": {
            "Zed": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "f"}, "TimeoutSecondsPath": "$.t",
                    "Retry": [{"ErrorEquals": ["States.ALL"]}],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Alpha"}], "Next": "Mid"},
            "Mid": {"Type": "Map", "MaxConcurrency": 2, "Next": "Alpha",
                    "ItemProcessor": {"StartAt": "Each", "States": {
                        "Each": {"Type": "Wait", "SecondsPath": "$.s", "End": true}}}},
            "Alpha": {"Type": "Choice", "Choices": [
                {"Variable": "$.x", "IsPresent": true, "Next": "Done"}], "Default": "Done"},
            "Done": {"Type": "Succeed"}
        }}"#,
    )
    .unwrap();
    let model = machine.model();
    assert_eq!(model.start_at(), "Zed");
    let names: Vec<_> = model.states().map(|s| s.name()).collect();
    assert_eq!(names, ["Zed", "Mid", "Alpha", "Done"]);

    let zed = model.state("Zed").unwrap();
    assert_eq!(zed.type_name(), "Task");
    assert_eq!(zed.next(), Some("Mid"));
    let Kind::Task(task) = zed.kind() else {
        panic!("Zed is a Task")
    };
    assert_eq!(
        task.timeout(),
        Quantity::FromInput {
            field: "TimeoutSecondsPath"
        }
    );
    let retrier = zed.retriers().next().unwrap();
    assert_eq!(
        (
            retrier.max_attempts(),
            retrier.interval_seconds(),
            retrier.backoff_rate()
        ),
        (3, 1.0, 2.0),
        "the specification's defaults"
    );
    let targets: Vec<_> = zed.catchers().map(|c| c.next()).collect();
    assert_eq!(targets, ["Alpha"]);

    let Kind::Map(map) = model.state("Mid").unwrap().kind() else {
        panic!("Mid is a Map")
    };
    assert_eq!(map.max_concurrency(), Quantity::Fixed(2));
    let each = map.processor().state("Each").unwrap();
    assert!(matches!(
        each.kind(),
        Kind::Wait(Wait::FromInput {
            field: "SecondsPath"
        })
    ));

    let Kind::Choice(choice) = model.state("Alpha").unwrap().kind() else {
        panic!("Alpha is a Choice")
    };
    assert_eq!(choice.rule_targets().collect::<Vec<_>>(), ["Done"]);
    assert_eq!(choice.default(), Some("Done"));
    assert_eq!(model.state("Alpha").unwrap().next(), None);
}
