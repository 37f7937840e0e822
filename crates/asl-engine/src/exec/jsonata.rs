//! JSONata-mode states: `Arguments`, `Output`, `Assign` and the fields given as expressions,
//! evaluated where the JSONPath pipeline would apply its paths and templates.
//!
//! Assign is evaluated before Output, and both see the variables as they were when the state
//! was entered: new values become visible to the next state, as in JSONPath mode.

use super::env::{commit_vars, Env, StateCtx};
use super::run::{exited_details, finish, Run};
use super::{Failure, Step, Vars};
use crate::definition::{parse_timestamp, ErrorSource, JsonataState, Kind, State};
use crate::jsonata::{type_name, States, Template};
use crate::path::compact;
use chrono::Utc;
use serde_json::{json, Map, Value};
use std::sync::Arc;

const QUERY_ERROR: &str = "States.QueryEvaluationError";

/// What an expression may see of the state besides its input.
#[derive(Default, Clone, Copy)]
pub(super) struct Seen<'v> {
    pub(super) result: Option<&'v Value>,
    pub(super) error_output: Option<&'v Value>,
}

impl Env<'_> {
    /// `States.QueryEvaluationError`, recorded as an `EvaluationFailed` event as AWS does;
    /// `location` is the field, when the failure belongs to one.
    pub(super) fn query_failure(&self, location: Option<&str>, message: &str) -> Failure {
        let cause = format!(
            "An error occurred while executing the state '{}' (entered at the event id #{}). {message}",
            self.st.name, self.st.entered_id
        );
        self.run.event("EvaluationFailed", || {
            let mut d = json!({"error": QUERY_ERROR, "cause": cause, "state": self.st.name});
            if let Some(l) = location {
                d["location"] = json!(l);
            }
            d
        });
        Failure::error(QUERY_ERROR, cause)
    }

    /// A JSONata field's value for a state whose input is `input`.
    pub(super) fn jsonata(
        &self,
        template: &Template,
        field: &str,
        input: &Value,
        seen: Seen,
    ) -> Result<Value, Failure> {
        let context = || self.run.context(self.st, self.retry, self.item);
        let states = States {
            input,
            result: seen.result,
            error_output: seen.error_output,
            context: &context,
        };
        template
            .eval(&states, self.vars, field)
            .map_err(|e| self.query_failure(Some(&e.location), &e.message))
    }

    /// A field that must give a non-negative integer (`Seconds`, `MaxConcurrency`, ...).
    fn jsonata_count(
        &self,
        template: &Template,
        field: &str,
        input: &Value,
        positive: bool,
    ) -> Result<u64, Failure> {
        let v = self.jsonata(template, field, input, Seen::default())?;
        match v.as_f64() {
            Some(n) if n.fract() == 0.0 && n >= if positive { 1.0 } else { 0.0 } => Ok(n as u64),
            _ => Err(self.unexpected_type(template, field, &v, "integer")),
        }
    }

    fn unexpected_type(&self, template: &Template, field: &str, v: &Value, want: &str) -> Failure {
        let quoted = template.as_expr().map_or_else(
            || compact(&template_literal(template)),
            |e| e.source().to_string(),
        );
        self.query_failure(
            Some(field),
            &format!(
                "The JSONata expression '{quoted}' specified for the field '{field}' returned an unexpected result type. Expected '{want}', but was '{}' for value: {}",
                type_name(v),
                compact(v)
            ),
        )
    }

    /// The state's `Assign` and `Output` (default `default_output`): the output, and the
    /// variables to commit once the state is done.
    pub(super) fn jsonata_finish(
        &self,
        assign: Option<&Template>,
        output: Option<&Template>,
        input: &Value,
        seen: Seen,
        default_output: Value,
    ) -> Result<(Value, Option<Map<String, Value>>), Failure> {
        let new_vars = match assign {
            Some(a) => match self.jsonata(a, "Assign", input, seen)? {
                Value::Object(m) => Some(m),
                _ => None,
            },
            None => None,
        };
        let out = match output {
            Some(o) => self.jsonata(o, "Output", input, seen)?,
            None => default_output,
        };
        Ok((out, new_vars))
    }

    /// The effective input of a Task or Parallel: `Arguments`, or the state input.
    pub(super) fn jsonata_arguments(
        &self,
        js: &JsonataState,
        input: &Value,
    ) -> Result<Value, Failure> {
        match &js.arguments {
            Some(a) => self.jsonata(a, "Arguments", input, Seen::default()),
            None => Ok(input.clone()),
        }
    }

    /// A Task's `TimeoutSeconds` and `HeartbeatSeconds` where they are expressions.
    pub(super) fn jsonata_task_limits(
        &self,
        js: &JsonataState,
        input: &Value,
    ) -> Result<(Option<u64>, Option<u64>), Failure> {
        let limit = |field: &str| {
            js.dynamic(field)
                .map(|t| self.jsonata_count(t, field, input, true))
                .transpose()
        };
        Ok((limit("TimeoutSeconds")?, limit("HeartbeatSeconds")?))
    }

    /// A Map's iteration inputs (`Items`, then `ItemSelector`), its `MaxConcurrency` where it
    /// is an expression, and its tolerated failures.
    pub(super) fn jsonata_map_inputs(
        &self,
        js: &JsonataState,
        input: &Value,
    ) -> Result<(Vec<Value>, Option<u64>, super::fanout::Tolerance), Failure> {
        let items = self.jsonata_items(js, input)?;
        let (max, tolerance) = self.jsonata_map_limits(js, input)?;
        let inputs = self.jsonata_item_inputs(js, items, input)?;
        Ok((inputs, max, tolerance))
    }

    /// A Map's items: `Items`, or the state input.
    pub(super) fn jsonata_items(
        &self,
        js: &JsonataState,
        input: &Value,
    ) -> Result<Vec<Value>, Failure> {
        match &js.items {
            Some(t) => match self.jsonata(t, "Items", input, Seen::default())? {
                Value::Array(a) => Ok(a),
                other => Err(self.unexpected_type(t, "Items", &other, "array")),
            },
            None => match input {
                Value::Array(a) => Ok(a.clone()),
                other => Err(self.query_failure(
                    None,
                    &format!(
                        "Map state input must be an array but was: {}",
                        compact(other)
                    ),
                )),
            },
        }
    }

    /// A Map's `MaxConcurrency` where it is an expression, and its tolerated failures, literal
    /// or evaluated.
    pub(super) fn jsonata_map_limits(
        &self,
        js: &JsonataState,
        input: &Value,
    ) -> Result<(Option<u64>, super::fanout::Tolerance), Failure> {
        let max = js
            .dynamic("MaxConcurrency")
            .map(|t| self.jsonata_count(t, "MaxConcurrency", input, false))
            .transpose()?;
        let mut tolerance = super::fanout::Tolerance {
            count: js.tolerated_count,
            percentage: js.tolerated_percentage,
        };
        if let Some(t) = js.dynamic("ToleratedFailureCount") {
            tolerance.count =
                Some(self.jsonata_count(t, "ToleratedFailureCount", input, false)? as f64);
        }
        if let Some(t) = js.dynamic("ToleratedFailurePercentage") {
            let v = self.jsonata(t, "ToleratedFailurePercentage", input, Seen::default())?;
            match v.as_f64() {
                Some(p) if (0.0..=100.0).contains(&p) => tolerance.percentage = Some(p),
                _ => {
                    return Err(self.unexpected_type(t, "ToleratedFailurePercentage", &v, "number"))
                }
            }
        }
        Ok((max, tolerance))
    }

    /// Each item's iteration input: `ItemSelector` evaluated with the item in
    /// `$states.context.Map.Item`, or the item itself.
    pub(super) fn jsonata_item_inputs(
        &self,
        js: &JsonataState,
        items: Vec<Value>,
        input: &Value,
    ) -> Result<Vec<Value>, Failure> {
        let Some(sel) = &js.item_selector else {
            return Ok(items);
        };
        let mut inputs = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let item_env = Env {
                item: Some((i, item)),
                ..*self
            };
            inputs.push(item_env.jsonata(sel, "ItemSelector", input, Seen::default())?);
        }
        Ok(inputs)
    }
}

fn template_literal(t: &Template) -> Value {
    match t {
        Template::Literal(v) => v.clone(),
        _ => Value::Null,
    }
}

/// Runs a JSONata Pass, Succeed, Fail, Choice or Wait state.
pub(super) async fn run_simple(
    run: &Arc<Run>,
    state: &Arc<State>,
    js: &JsonataState,
    st: &StateCtx<'_>,
    raw: Value,
    vars: &mut Vars,
) -> Result<Step, Failure> {
    let (step, new_vars) = simple_step(run, state, js, st, raw, vars, true).await?;
    commit_vars(vars, new_vars);
    Ok(step)
}

/// A JSONata Pass, Succeed, Fail, Choice or Wait state's step and the variables it assigns,
/// left to the caller to commit. Without `pause` a Wait state works its delay out, so that a
/// bad `Seconds` or `Timestamp` fails as it would, but does not wait.
pub(super) async fn simple_step(
    run: &Arc<Run>,
    state: &Arc<State>,
    js: &JsonataState,
    st: &StateCtx<'_>,
    raw: Value,
    vars: &Vars,
    pause: bool,
) -> Result<(Step, Option<Map<String, Value>>), Failure> {
    let env = Env::new(run, st, vars);
    let exited = |out: &Value, assigned: Option<&Map<String, Value>>| {
        run.event(
            format_args!("{}StateExited", state.kind.event_prefix()),
            || exited_details(&state.name, out, assigned),
        );
    };
    let (step, new_vars) = match &state.kind {
        Kind::Pass { result } => {
            let default = result.clone().unwrap_or_else(|| raw.clone());
            let (out, new_vars) = env.jsonata_finish(
                js.assign.as_ref(),
                js.output.as_ref(),
                &raw,
                Seen::default(),
                default,
            )?;
            exited(&out, new_vars.as_ref());
            (finish(state, out), new_vars)
        }
        Kind::Succeed => {
            let (out, new_vars) =
                env.jsonata_finish(None, js.output.as_ref(), &raw, Seen::default(), raw.clone())?;
            exited(&out, new_vars.as_ref());
            (Step::End(out), new_vars)
        }
        Kind::Fail { error, cause } => {
            let text = |field: &'static str,
                        fixed: &Option<ErrorSource>|
             -> Result<Option<String>, Failure> {
                if let Some(t) = js.dynamic(field) {
                    return Ok(Some(
                        match env.jsonata(t, field, &raw, Seen::default())? {
                            Value::String(s) => s,
                            other => compact(&other),
                        },
                    ));
                }
                Ok(match fixed {
                    Some(ErrorSource::Literal(s)) => Some(s.clone()),
                    _ => None,
                })
            };
            let error = text("Error", error)?;
            let cause = text("Cause", cause)?;
            return Err(Failure::Error { error, cause });
        }
        Kind::Choice { default, .. } => {
            let mut chosen = None;
            for (i, rule) in js.rules.iter().enumerate() {
                let field = format!("Choices/{i}/Condition");
                match env.jsonata(&rule.condition, &field, &raw, Seen::default())? {
                    Value::Bool(true) => {
                        chosen = Some(rule);
                        break;
                    }
                    Value::Bool(false) => {}
                    other => {
                        return Err(env.unexpected_type(&rule.condition, &field, &other, "boolean"))
                    }
                }
            }
            let (next, assign, output) = match chosen {
                Some(r) => (r.next.clone(), r.assign.as_ref(), r.output.as_ref()),
                None => match default {
                    Some(d) => (d.clone(), js.assign.as_ref(), js.output.as_ref()),
                    None => {
                        return Err(Failure::error(
                            "States.NoChoiceMatched",
                            format!("No Matches! at state '{}'", state.name),
                        ))
                    }
                },
            };
            let (out, new_vars) =
                env.jsonata_finish(assign, output, &raw, Seen::default(), raw.clone())?;
            exited(&out, new_vars.as_ref());
            (Step::Next(next, out), new_vars)
        }
        Kind::Wait(spec) => {
            let secs = if let Some(t) = js.dynamic("Seconds") {
                env.jsonata_count(t, "Seconds", &raw, false)? as f64
            } else if let Some(t) = js.dynamic("Timestamp") {
                let v = env.jsonata(t, "Timestamp", &raw, Seen::default())?;
                let at = v.as_str().and_then(parse_timestamp).ok_or_else(|| {
                    let shown = match &v {
                        Value::String(s) => s.clone(),
                        other => compact(other),
                    };
                    env.query_failure(
                        Some("Timestamp"),
                        &format!("The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {shown}"),
                    )
                })?;
                ((at.with_timezone(&Utc) - run.now()).num_milliseconds() as f64 / 1000.0).max(0.0)
            } else {
                super::run::wait_seconds(run, st, spec, &raw)?
            };
            if secs > i32::MAX as f64 {
                return Err(st.runtime("Wait state delay is too long."));
            }
            if pause && secs > 0.0 {
                tokio::time::sleep(run.scaled(secs)).await;
            }
            let (out, new_vars) = env.jsonata_finish(
                js.assign.as_ref(),
                js.output.as_ref(),
                &raw,
                Seen::default(),
                raw.clone(),
            )?;
            exited(&out, new_vars.as_ref());
            (finish(state, out), new_vars)
        }
        Kind::Task(_) | Kind::Parallel { .. } | Kind::Map(_) => {
            unreachable!("Task, Parallel and Map states run with Retry and Catch")
        }
    };
    Ok((step, new_vars))
}
