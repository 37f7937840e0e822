//! Reading the state to test out of the request's definition: the bare state or the named one,
//! a distributed Map's own fields taken aside (the loader refuses them, and TestState never runs
//! the iterations they govern), and the checks AWS makes of a mock before anything runs.

use super::{invalid, FieldValidationMode, TestStateError, BARE_STATE_NAME};
use crate::definition::{Graph, Kind, State, Target};
use crate::StateMachine;
use serde_json::{json, Map, Value};
use std::sync::Arc;

// The loader refuses a distributed Map's own fields; TestState never runs its iterations, so
// they are read from the raw definition and taken away before loading.
use crate::definition::DISTRIBUTED_MAP_FIELDS;

/// The tolerated failures a JSONata Map states as numbers or expressions: the loader reads
/// them into the state's JSONata fields, so they are kept for it.
pub(super) const JSONATA_TOLERANCE_FIELDS: &[&str] =
    &["ToleratedFailureCount", "ToleratedFailurePercentage"];

/// Whether a state's own `QueryLanguage`, or else the one it inherits, is JSONata.
pub(super) fn is_jsonata(state: &Map<String, Value>, inherited: bool) -> bool {
    match state.get("QueryLanguage").and_then(Value::as_str) {
        Some(lang) => lang == "JSONata",
        None => inherited,
    }
}

/// Removes the distributed-Map fields from every Map state in `states` and below; `jsonata`
/// is the query language the states inherit from their graph, as the loader reads it (a
/// branch or processor inherits from the graph around it, not from its state).
pub(super) fn strip_distributed(states: &mut Map<String, Value>, jsonata: bool) {
    for state in states.values_mut() {
        let Some(obj) = state.as_object_mut() else {
            continue;
        };
        let state_jsonata = is_jsonata(obj, jsonata);
        if obj.get("Type").and_then(Value::as_str) == Some("Map") {
            for f in DISTRIBUTED_MAP_FIELDS {
                if !(state_jsonata && JSONATA_TOLERANCE_FIELDS.contains(f)) {
                    obj.remove(*f);
                }
            }
        }
        for key in ["ItemProcessor", "Iterator"] {
            if let Some(p) = obj.get_mut(key).and_then(Value::as_object_mut) {
                p.remove("ProcessorConfig");
                let inner_jsonata = is_jsonata(p, jsonata);
                if let Some(inner) = p.get_mut("States").and_then(Value::as_object_mut) {
                    strip_distributed(inner, inner_jsonata);
                }
            }
        }
        if let Some(branches) = obj.get_mut("Branches").and_then(Value::as_array_mut) {
            for b in branches {
                let inner_jsonata = b.as_object().is_some_and(|g| is_jsonata(g, jsonata));
                if let Some(inner) = b.get_mut("States").and_then(Value::as_object_mut) {
                    strip_distributed(inner, inner_jsonata);
                }
            }
        }
    }
}

/// The raw definition of the state called `name`, searched through branches and processors.
pub(super) fn raw_state<'a>(states: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(s) = states.get(name) {
        return Some(s);
    }
    states.values().find_map(|s| {
        let nested = ["ItemProcessor", "Iterator"]
            .iter()
            .filter_map(|k| s.get(*k))
            .chain(
                s.get("Branches")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            );
        nested
            .filter_map(|g| g.get("States").and_then(Value::as_object))
            .find_map(|inner| raw_state(inner, name))
    })
}

/// Like [`raw_state`], for changing the state found.
pub(super) fn raw_state_mut<'a>(
    states: &'a mut Map<String, Value>,
    name: &str,
) -> Option<&'a mut Value> {
    if states.contains_key(name) {
        return states.get_mut(name);
    }
    for s in states.values_mut() {
        let Some(obj) = s.as_object_mut() else {
            continue;
        };
        for (key, graph) in obj.iter_mut() {
            let graphs: Vec<&mut Value> = match (key.as_str(), graph) {
                ("ItemProcessor" | "Iterator", g) => vec![g],
                ("Branches", Value::Array(bs)) => bs.iter_mut().collect(),
                _ => continue,
            };
            for g in graphs {
                if let Some(found) = g
                    .get_mut("States")
                    .and_then(Value::as_object_mut)
                    .and_then(|inner| raw_state_mut(inner, name))
                {
                    return Some(found);
                }
            }
        }
    }
    None
}

/// The resource a mocked Task is loaded with. With a mock the resource is never called, so
/// the integration patterns TestState accepts only with a mock (`.sync`, `.waitForTaskToken`,
/// activities), which this engine cannot run, stand in as the plain request-response
/// integration or a service named `activity`.
pub(super) fn mocked_resource(resource: &str) -> Option<String> {
    if let Some(rest) = resource.strip_prefix("arn:aws:states:::") {
        let plain = rest
            .strip_suffix(".waitForTaskToken")
            .or_else(|| rest.strip_suffix(".sync"))
            .or_else(|| rest.rsplit_once(".sync:").map(|(head, _)| head))?;
        return Some(format!("arn:aws:states:::{plain}"));
    }
    let (_, activity) = resource
        .strip_prefix("arn:aws:states:")?
        .split_once(":activity:")?;
    Some(format!("arn:aws:states:::activity:{activity}"))
}

/// The loaded state called `name`, searched through branches and processors.
pub(super) fn find_state(graph: &Graph, name: &str) -> Option<Arc<State>> {
    if let Some(s) = graph.states.get(name) {
        return Some(s.clone());
    }
    graph.states.values().find_map(|s| match &s.kind {
        Kind::Parallel { branches } => branches.iter().find_map(|g| find_state(g, name)),
        Kind::Map(m) => find_state(&m.processor, name),
        _ => None,
    })
}

/// The names a state's transitions lead to.
pub(super) fn targets(state: &Value) -> Vec<String> {
    let mut names = Vec::new();
    let mut push = |v: Option<&Value>| {
        if let Some(Value::String(s)) = v {
            names.push(s.clone());
        }
    };
    push(state.get("Next"));
    push(state.get("Default"));
    for key in ["Choices", "Catch"] {
        for item in state
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            push(item.get("Next"));
        }
    }
    names
}

pub(super) fn definition_error(e: crate::DefinitionError) -> TestStateError {
    TestStateError::InvalidDefinition(format!(
        "Invalid State Machine Definition: '{}'",
        e.diagnostics
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

pub(super) struct Loaded {
    pub(super) state: Arc<State>,
    pub(super) raw: Value,
}

/// Loads the definition and finds the state under test. A bare state becomes the only state
/// of a machine of its own, under [`BARE_STATE_NAME`]; the states it leads to are stood in by
/// Succeed states, since only their names matter to it.
pub(super) fn load(
    definition: &str,
    state_name: Option<&str>,
    mocked: bool,
) -> Result<Loaded, TestStateError> {
    let value: Value = serde_json::from_str(definition)
        .map_err(|e| definition_error(crate::definition::invalid_json(&e)))?;
    let Value::Object(top) = &value else {
        return Err(definition_error(crate::DefinitionError {
            diagnostics: vec![crate::Diagnostic {
                location: "/".into(),
                code: crate::definition::SCHEMA.into(),
                message: "The definition must be a JSON object".into(),
            }],
        }));
    };
    let (mut machine, name) = if top.contains_key("States") {
        let name = state_name.ok_or_else(|| {
            invalid("A stateName is required when the definition is a state machine")
        })?;
        (top.clone(), name.to_string())
    } else {
        if state_name.is_some_and(|n| n != BARE_STATE_NAME) {
            return Err(invalid("State not found in definition"));
        }
        let mut states = Map::new();
        for t in targets(&value) {
            if t != BARE_STATE_NAME {
                states.insert(t, json!({"Type": "Succeed"}));
            }
        }
        states.insert(BARE_STATE_NAME.into(), value.clone());
        let mut m = Map::new();
        m.insert("StartAt".into(), json!(BARE_STATE_NAME));
        m.insert("States".into(), Value::Object(states));
        (m, BARE_STATE_NAME.to_string())
    };
    let raw = machine
        .get("States")
        .and_then(Value::as_object)
        .and_then(|s| raw_state(s, &name))
        .cloned();
    let jsonata = is_jsonata(&machine, false);
    if let Some(states) = machine.get_mut("States").and_then(Value::as_object_mut) {
        let tested = raw_state_mut(states, &name).and_then(Value::as_object_mut);
        if let Some(tested) = tested.filter(|_| mocked) {
            let stand_in = tested
                .get("Resource")
                .and_then(Value::as_str)
                .and_then(mocked_resource);
            if let Some(r) = stand_in {
                tested.insert("Resource".into(), json!(r));
            }
        }
        strip_distributed(states, jsonata);
    }
    let text = Value::Object(machine).to_string();
    let loaded = StateMachine::from_json(&text).map_err(definition_error)?;
    let state =
        find_state(&loaded.graph, &name).ok_or_else(|| invalid("State not found in definition"))?;
    Ok(Loaded {
        state,
        raw: raw.unwrap_or(Value::Null),
    })
}

/// Checks a mocked `lambda:invoke` result against the Invoke API's response model.
pub(super) fn validate_lambda_result(result: &Value) -> Result<(), TestStateError> {
    let Value::Object(m) = result else {
        return Ok(());
    };
    let schema = |msg: String| invalid(format!("Mock result schema validation error: {msg}"));
    if let Some(v) = m.get("StatusCode") {
        if !v.is_number() {
            return Err(schema("Field 'StatusCode' must be a number".into()));
        }
    }
    for field in ["FunctionError", "LogResult", "ExecutedVersion"] {
        if let Some(v) = m.get(field) {
            if !v.is_string() {
                return Err(schema(format!("Field '{field}' must be a string")));
            }
        }
    }
    Ok(())
}

/// Checks a mocked result against what the state's kind makes of it.
pub(super) fn check_mock_result(
    state: &State,
    raw: &Value,
    v: &Value,
    mode: FieldValidationMode,
) -> Result<(), TestStateError> {
    match &state.kind {
        Kind::Parallel { branches } => match v {
            Value::Array(items) if items.len() == branches.len() => Ok(()),
            Value::Array(_) => Err(invalid("Mocked result must contain the same number of items as number of Parallel branches.")),
            _ => Err(invalid("Mocked result must be an array.")),
        },
        // A ResultWriter's answer (where the results went) stands for a Map's result.
        Kind::Map(_) if raw.get("ResultWriter").is_some() && !v.is_object() => {
            Err(invalid("Mocked result must be a JSON object."))
        }
        Kind::Map(_) if raw.get("ResultWriter").is_none() && !v.is_array() => {
            Err(invalid("Mocked result must be an array."))
        }
        Kind::Task(t)
            if matches!(t.target, Target::LambdaInvoke) && mode != FieldValidationMode::None =>
        {
            validate_lambda_result(v)
        }
        _ => Ok(()),
    }
}

/// The graph nested in a Map or Parallel state contains a state called `name`.
pub(super) fn contains_state(state: &State, name: &str) -> bool {
    match &state.kind {
        Kind::Parallel { branches } => branches.iter().any(|g| find_state(g, name).is_some()),
        Kind::Map(m) => find_state(&m.processor, name).is_some(),
        _ => false,
    }
}
