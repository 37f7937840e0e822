//! One state run alone, as the TestState API runs it: the state's JSONPath pipeline step by
//! step, each intermediate value kept for `inspectionData`, and Retry and Catch judged once
//! instead of looped (a retry that would happen answers `RETRIABLE`, a Catch that matches
//! answers `CAUGHT_ERROR`).
//!
//! A JSONata state is evaluated by the same functions an execution uses. AWS shows less of it:
//! there is no path pipeline, so `inspectionData` has the input, a Task's `afterArguments` and
//! result, a Map's items after `ItemSelector`, its concurrency and tolerated failures, and the
//! variables an `Assign` set.
//!
//! Map and Parallel states never run their iterations or branches here: TestState requires
//! a mock of their result, so only their own fields (InputPath, ItemsPath, ItemSelector,
//! MaxConcurrency, tolerated failures, ResultSelector, ...) are evaluated around it.

mod map;

use super::choice::choose;
use super::env::{apply_result_path, assign_values, check_result_path, commit_vars, Env, StateCtx};
use super::jsonata::{simple_step, Seen};
use super::recovery::{catch, error_matches};
use super::run::{wait_seconds, Run, SingleIds};
use super::task::{invoke_task, TaskCall};
use super::{Failure, Step, Vars};
use crate::definition::{ErrorSource, JsonataState, Kind, MapDef, Seconds, State, TaskDef};
use crate::envelope::TaskResult;
use crate::path::{compact, JsonPath};
use crate::template::Template;
use crate::teststate::{ErrorDetails, InspectionData, TestStateError, TestStatus};
use crate::Resources;
use map::{map_fields, map_fields_jsonata};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// What a mock answers in place of the state's work.
#[derive(Debug, Clone)]
pub(crate) enum Mocked {
    Result(Value),
    Error {
        error: Option<String>,
        cause: Option<String>,
    },
}

/// A Map state's tolerated-failure fields, which only a distributed Map has and the loader
/// therefore never sees: read from the raw definition.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tolerance {
    pub(crate) count: Option<Value>,
    pub(crate) count_path: Option<String>,
    pub(crate) percentage: Option<Value>,
    pub(crate) percentage_path: Option<String>,
}

/// Everything one TestState run needs, already validated.
pub(crate) struct Plan {
    pub(crate) state: Arc<State>,
    pub(crate) input: Value,
    pub(crate) variables: Vars,
    pub(crate) context: Value,
    pub(crate) execution_arn: String,
    pub(crate) execution_name: String,
    pub(crate) role_arn: String,
    pub(crate) state_machine_arn: String,
    pub(crate) state_machine_name: String,
    pub(crate) mock: Option<Mocked>,
    /// `stateConfiguration.retrierRetryCount`: how many retries already happened.
    pub(crate) retry_count: u32,
    pub(crate) map_failures: Option<u64>,
    /// `stateConfiguration.mapItemReaderData`: the items an ItemReader would have read.
    pub(crate) reader_items: Option<Value>,
    pub(crate) tolerance: Tolerance,
}

/// What became of the state.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) status: TestStatus,
    pub(crate) output: Option<Value>,
    pub(crate) error: Option<String>,
    pub(crate) cause: Option<String>,
    pub(crate) next_state: Option<String>,
    pub(crate) inspection: InspectionData,
}

impl Outcome {
    fn succeeded(state: &State, output: Value, inspection: InspectionData) -> Outcome {
        Outcome {
            status: TestStatus::Succeeded,
            output: Some(output),
            error: None,
            cause: None,
            next_state: state.next.clone(),
            inspection,
        }
    }

    fn failed(failure: Failure, inspection: InspectionData) -> Outcome {
        let (error, cause) = match failure {
            Failure::Error { error, cause } => (error, cause),
            Failure::Runtime(cause) => (Some("States.Runtime".into()), Some(cause)),
            Failure::Abort => (
                Some("States.Runtime".into()),
                Some("The task's resource aborted the execution".into()),
            ),
        };
        Outcome {
            status: TestStatus::Failed,
            output: None,
            error,
            cause,
            next_state: None,
            inspection,
        }
    }
}

/// The event id AWS would give the state's entry in a one-state execution (after
/// ExecutionStarted), quoted by runtime-error causes.
const ENTERED_EVENT_ID: u64 = 2;

pub(crate) async fn run_single(
    plan: Plan,
    resources: Arc<dyn Resources>,
) -> Result<Outcome, TestStateError> {
    let ids = SingleIds {
        execution_arn: plan.execution_arn.clone(),
        name: plan.execution_name.clone(),
        role_arn: plan.role_arn.clone(),
        state_machine_arn: plan.state_machine_arn.clone(),
        state_machine_name: plan.state_machine_name.clone(),
    };
    let run = Arc::new(Run::single(
        resources,
        ids,
        plan.input.clone(),
        plan.context.clone(),
    ));
    let st = StateCtx {
        name: &plan.state.name,
        entered_id: ENTERED_EVENT_ID,
        entered_time: run.now(),
    };
    let mut vars = plan.variables.clone();
    let mut ins = InspectionData {
        input: Some(plan.input.clone()),
        ..InspectionData::default()
    };
    let state = plan.state.clone();
    let raw = plan.input.clone();
    if let Some(js) = state.jsonata.as_deref() {
        if !matches!(
            state.kind,
            Kind::Task(_) | Kind::Parallel { .. } | Kind::Map(_)
        ) {
            return Ok(jsonata_simple(&run, &st, &state, js, raw, &mut vars, ins).await);
        }
    }
    let done = match &state.kind {
        Kind::Pass { result } => pass(&run, &st, &state, result, raw, &mut vars, &mut ins),
        Kind::Succeed => {
            let env = Env::new(&run, &st, &vars);
            env.select_owned(&state.input_path, raw)
                .inspect(|v| ins.after_input_path = Some(v.clone()))
                .and_then(|v| env.select_owned(&state.output_path, v))
                .map(|out| (out, None))
        }
        Kind::Fail { error, cause } => {
            ins.after_input_path = Some(raw.clone());
            let env = Env::new(&run, &st, &vars);
            fail(&env, error, cause, &raw)
                .and_then(|(error, cause)| Err(Failure::Error { error, cause }))
        }
        Kind::Choice { .. } => choice(&run, &st, &state, raw, &mut vars, &mut ins),
        Kind::Wait(spec) => {
            // TestState answers at once: the delay is worked out, so that a bad SecondsPath or
            // TimestampPath fails as it would, but not waited.
            let env = Env::new(&run, &st, &vars);
            env.select_owned(&state.input_path, raw)
                .inspect(|v| ins.after_input_path = Some(v.clone()))
                .and_then(|eff| {
                    wait_seconds(&run, &st, spec, &eff)?;
                    let new_vars = assign_values(&env, &state.assign, &eff)?;
                    let out = env.select_owned(&state.output_path, eff)?;
                    Ok((out, new_vars))
                })
                .map(|(out, new_vars)| {
                    commit_vars(&mut vars, new_vars);
                    (out, None)
                })
        }
        Kind::Task(_) | Kind::Parallel { .. } | Kind::Map(_) => {
            return recoverable(&run, &st, &plan, &mut vars, ins).await;
        }
    };
    Ok(match done {
        Ok((out, next)) => {
            if state.assign.is_some() {
                ins.variables = Some(Value::Object(vars));
            }
            let mut o = Outcome::succeeded(&state, out, ins);
            if next.is_some() {
                o.next_state = next;
            }
            o
        }
        Err(f) => Outcome::failed(f, ins),
    })
}

/// The output, and the next state when it is not the state's own `Next` (Choice).
type Done = (Value, Option<String>);

/// A JSONata Pass, Succeed, Fail, Choice or Wait state.
async fn jsonata_simple(
    run: &Arc<Run>,
    st: &StateCtx<'_>,
    state: &Arc<State>,
    js: &JsonataState,
    raw: Value,
    vars: &mut Vars,
    mut ins: InspectionData,
) -> Outcome {
    match simple_step(run, state, js, st, raw, vars, false).await {
        Ok((step, new_vars)) => {
            let assigned = new_vars.is_some();
            commit_vars(vars, new_vars);
            if assigned {
                ins.variables = Some(Value::Object(vars.clone()));
            }
            let (output, next_state) = match step {
                Step::Next(next, out) => (out, Some(next)),
                Step::End(out) => (out, None),
            };
            Outcome {
                status: TestStatus::Succeeded,
                output: Some(output),
                error: None,
                cause: None,
                next_state,
                inspection: ins,
            }
        }
        Err(f) => Outcome::failed(f, ins),
    }
}

fn pass(
    run: &Run,
    st: &StateCtx,
    state: &State,
    result: &Option<Value>,
    raw: Value,
    vars: &mut Vars,
    ins: &mut InspectionData,
) -> Result<Done, Failure> {
    let env = Env::new(run, st, vars);
    let res = match result {
        Some(r) => {
            ins.result = Some(r.clone());
            r.clone()
        }
        None => {
            let eff = env.select(&state.input_path, &raw)?.into_owned();
            ins.after_input_path = Some(eff.clone());
            let eff = match &state.parameters {
                Some(p) => env.template(p, &eff)?,
                None => eff,
            };
            ins.after_parameters = Some(eff.clone());
            eff
        }
    };
    ins.after_result_selector = Some(res.clone());
    let new_vars = assign_values(&env, &state.assign, &res)?;
    let out = apply_result_path(&state.result_path, raw, res)?;
    ins.after_result_path = Some(out.clone());
    let out = env.select_owned(&state.output_path, out)?;
    commit_vars(vars, new_vars);
    Ok((out, None))
}

/// A Fail state's Error and Cause, literal or read from the input.
fn fail(
    env: &Env,
    error: &Option<ErrorSource>,
    cause: &Option<ErrorSource>,
    raw: &Value,
) -> Result<(Option<String>, Option<String>), Failure> {
    let text = |v: Value| match v {
        Value::String(s) => s,
        other => compact(&other),
    };
    let eval = |src: &Option<ErrorSource>, field: &str| -> Result<Option<String>, Failure> {
        Ok(match src {
            None => None,
            Some(ErrorSource::Literal(s)) => Some(s.clone()),
            Some(ErrorSource::Path(p)) => Some(text(env.dynamic_path(p, field, raw)?)),
            Some(ErrorSource::Intrinsic(c)) => Some(text(env.call(c, field, raw)?)),
        })
    };
    Ok((eval(error, "ErrorPath")?, eval(cause, "CausePath")?))
}

fn choice(
    run: &Run,
    st: &StateCtx,
    state: &State,
    raw: Value,
    vars: &mut Vars,
    ins: &mut InspectionData,
) -> Result<Done, Failure> {
    let Kind::Choice { rules, default } = &state.kind else {
        unreachable!("choice() is called for Choice states only")
    };
    let env = Env::new(run, st, vars);
    let eff = env.select_owned(&state.input_path, raw)?;
    ins.after_input_path = Some(eff.clone());
    let (next, new_vars) = choose(&env, state, rules, default, &eff)?;
    let out = env.select_owned(&state.output_path, eff)?;
    commit_vars(vars, new_vars);
    Ok((out, Some(next)))
}

/// Task, Parallel and Map: one attempt, then Retry and Catch judged on its failure.
async fn recoverable(
    run: &Arc<Run>,
    st: &StateCtx<'_>,
    plan: &Plan,
    vars: &mut Vars,
    mut ins: InspectionData,
) -> Result<Outcome, TestStateError> {
    let state = &plan.state;
    let raw = &plan.input;
    let js = state.jsonata.as_deref();
    let attempt = match js {
        Some(js) => attempt_jsonata(run, st, plan, js, vars, &mut ins).await?,
        None => attempt(run, st, plan, vars, &mut ins)
            .await?
            .and_then(|done| check_result_path(&state.result_path, raw).map(|()| done)),
    };
    let failure = match attempt {
        // A JSONata state's Output is its output: there is no ResultPath or OutputPath.
        Ok((out, new_vars)) if js.is_some() => {
            let assigned = new_vars.is_some();
            commit_vars(vars, new_vars);
            if assigned {
                ins.variables = Some(Value::Object(vars.clone()));
            }
            return Ok(Outcome::succeeded(state, out, ins));
        }
        Ok((selected, new_vars)) => {
            let env = Env::new(run, st, vars);
            let finished = apply_result_path(&state.result_path, raw.clone(), selected)
                .inspect(|out| ins.after_result_path = Some(out.clone()))
                .and_then(|out| env.select_owned(&state.output_path, out));
            match finished {
                Ok(out) => {
                    commit_vars(vars, new_vars);
                    if state.assign.is_some() {
                        ins.variables = Some(Value::Object(vars.clone()));
                    }
                    return Ok(Outcome::succeeded(state, out, ins));
                }
                Err(f) => f,
            }
        }
        Err(f) => f,
    };
    let Failure::Error { error, cause } = failure else {
        // States.Runtime is never retried nor caught.
        return Ok(Outcome::failed(failure, ins));
    };
    let mut details = ErrorDetails::default();
    if let Some(idx) = state
        .retry
        .iter()
        .position(|r| error_matches(&r.error_equals, &error))
    {
        let r = &state.retry[idx];
        details.retry_index = Some(idx);
        if u64::from(plan.retry_count) < r.max_attempts {
            let mut delay = r.interval_seconds * r.backoff_rate.powi(plan.retry_count as i32);
            if let Some(cap) = r.max_delay_seconds {
                delay = delay.min(cap);
            }
            details.retry_backoff_interval_seconds = Some(delay.round() as u64);
            ins.error_details = Some(details);
            return Ok(Outcome {
                status: TestStatus::Retriable,
                output: None,
                error,
                cause,
                next_state: None,
                inspection: ins,
            });
        }
    }
    if let Some(idx) = state
        .catch
        .iter()
        .position(|c| error_matches(&c.error_equals, &error))
    {
        let catcher = &state.catch[idx];
        details.catch_index = Some(idx);
        ins.error_details = Some(details);
        let error_output = json!({
            "Error": error.clone().unwrap_or_default(),
            "Cause": cause.clone().unwrap_or_default(),
        });
        let assigns = catcher.assign.is_some()
            || js
                .and_then(|js| js.catchers.get(idx))
                .is_some_and(|c| c.assign.is_some());
        return Ok(
            match catch(run, state, st, catcher, raw.clone(), vars, error_output) {
                Ok(step) => {
                    if assigns {
                        ins.variables = Some(Value::Object(vars.clone()));
                    }
                    let (Step::Next(_, out) | Step::End(out)) = step;
                    Outcome {
                        status: TestStatus::CaughtError,
                        output: Some(out),
                        error,
                        cause,
                        next_state: Some(catcher.next.clone()),
                        inspection: ins,
                    }
                }
                Err(f) => Outcome::failed(f, ins),
            },
        );
    }
    if details.retry_index.is_some() {
        ins.error_details = Some(details);
    }
    Ok(Outcome::failed(Failure::Error { error, cause }, ins))
}

type Selected = (Value, Option<Map<String, Value>>);

/// One try of a Task, Parallel or Map state up to ResultSelector. The outer error is a request
/// that cannot be tested (a ValidationException), the inner one the state's failure.
async fn attempt(
    run: &Run,
    st: &StateCtx<'_>,
    plan: &Plan,
    vars: &Vars,
    ins: &mut InspectionData,
) -> Result<Result<Selected, Failure>, TestStateError> {
    let state = &plan.state;
    let is_task = matches!(state.kind, Kind::Task(_));
    let env = Env {
        retry: is_task.then_some(plan.retry_count),
        ..Env::new(run, st, vars)
    };
    let work = async {
        let after_input = env.select(&state.input_path, &plan.input)?.into_owned();
        let result = match &state.kind {
            Kind::Task(task) => {
                ins.after_input_path = Some(after_input.clone());
                let params = match &state.parameters {
                    Some(p) => env.template(p, &after_input)?,
                    None => after_input.clone(),
                };
                ins.after_parameters = Some(params);
                match &plan.mock {
                    Some(Mocked::Result(v)) => TaskResult::Built(v.clone()),
                    Some(Mocked::Error { error, cause }) => {
                        return Err(Failure::Error {
                            error: error.clone(),
                            cause: cause.clone(),
                        })
                    }
                    None => {
                        // The call is made with the parameters just inspected, not evaluated
                        // again: an intrinsic such as States.UUID would give another value.
                        let sent = sending(state, task, ins.after_parameters.clone());
                        let call = TaskCall {
                            state: &sent,
                            task,
                            input: &after_input,
                            retry_count: plan.retry_count,
                            limits: (None, None),
                        };
                        let mut r = invoke_task(&env, call).await?;
                        TaskResult::Built(r.built().clone())
                    }
                }
            }
            Kind::Parallel { .. } => {
                if let Some(p) = &state.parameters {
                    env.template(p, &after_input)?;
                }
                TaskResult::Built(mocked_fan_out(&plan.mock)?)
            }
            Kind::Map(map) => {
                ins.after_input_path = Some(after_input.clone());
                match map_fields(&env, st, plan, map, &after_input, ins)? {
                    Ok(v) => TaskResult::Built(v),
                    Err(e) => return Ok(Err(e)),
                }
            }
            _ => unreachable!("only Task, Parallel and Map states have Retry and Catch"),
        };
        Ok(Ok(result))
    };
    let result: Result<Result<TaskResult, TestStateError>, Failure> = work.await;
    let mut result = match result {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(e),
        Err(f) => return Ok(Err(f)),
    };
    if is_task {
        ins.result = Some(result.built().clone());
    }
    let selected = (|| {
        let new_vars = match &state.assign {
            Some(_) => assign_values(&env, &state.assign, result.built())?,
            None => None,
        };
        let selected = match &state.result_selector {
            Some(sel) => env.template(sel, result.built())?,
            None => result.built().clone(),
        };
        Ok((selected, new_vars))
    })();
    if let Ok((v, _)) = &selected {
        ins.after_result_selector = Some(v.clone());
    }
    Ok(selected)
}

/// What a mock answers for a Parallel or Map state, which TestState runs only with one.
fn mocked_fan_out(mock: &Option<Mocked>) -> Result<Value, Failure> {
    match mock {
        Some(Mocked::Result(v)) => Ok(v.clone()),
        Some(Mocked::Error { error, cause }) => Err(Failure::Error {
            error: error.clone(),
            cause: cause.clone(),
        }),
        None => unreachable!("TestState refuses a Map or Parallel state without a mock"),
    }
}

/// One try of a JSONata Task, Parallel or Map state: its output (`Output`, or the result) and
/// the variables to assign. The outer error is a request that cannot be tested.
async fn attempt_jsonata(
    run: &Run,
    st: &StateCtx<'_>,
    plan: &Plan,
    js: &JsonataState,
    vars: &Vars,
    ins: &mut InspectionData,
) -> Result<Result<Selected, Failure>, TestStateError> {
    let state = &plan.state;
    let raw = &plan.input;
    let is_task = matches!(state.kind, Kind::Task(_));
    let env = Env {
        retry: is_task.then_some(plan.retry_count),
        ..Env::new(run, st, vars)
    };
    let work = async {
        let result = match &state.kind {
            Kind::Task(task) => {
                let arguments = env.jsonata_arguments(js, raw)?;
                ins.after_arguments = Some(arguments.clone());
                let limits = env.jsonata_task_limits(js, raw)?;
                match &plan.mock {
                    Some(Mocked::Result(v)) => v.clone(),
                    Some(Mocked::Error { error, cause }) => {
                        return Err(Failure::Error {
                            error: error.clone(),
                            cause: cause.clone(),
                        })
                    }
                    None => {
                        let call = TaskCall {
                            state,
                            task,
                            input: &arguments,
                            retry_count: plan.retry_count,
                            limits,
                        };
                        invoke_task(&env, call).await?.into_value()
                    }
                }
            }
            Kind::Parallel { .. } => {
                // Evaluated so that a failing Arguments fails the state; AWS does not show it.
                env.jsonata_arguments(js, raw)?;
                mocked_fan_out(&plan.mock)?
            }
            Kind::Map(map) => match map_fields_jsonata(&env, plan, map, js, ins)? {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            },
            _ => unreachable!("only Task, Parallel and Map states have Retry and Catch"),
        };
        Ok(Ok(result))
    };
    let result: Result<Result<Value, TestStateError>, Failure> = work.await;
    let result = match result {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(e),
        Err(f) => return Ok(Err(f)),
    };
    if is_task {
        ins.result = Some(result.clone());
    }
    let seen = Seen {
        result: Some(&result),
        error_output: None,
    };
    Ok(env.jsonata_finish(
        js.assign.as_ref(),
        js.output.as_ref(),
        raw,
        seen,
        result.clone(),
    ))
}

/// The Task `state` with `parameters` fixed to the values already evaluated, for the call.
fn sending(state: &State, task: &TaskDef, parameters: Option<Value>) -> State {
    State {
        name: state.name.clone(),
        kind: Kind::Task(TaskDef {
            resource: task.resource.clone(),
            target: task.target.clone(),
            timeout: task.timeout.clone(),
            heartbeat: task.heartbeat.clone(),
        }),
        input_path: state.input_path.clone(),
        output_path: state.output_path.clone(),
        parameters: parameters.map(Template::Literal),
        result_selector: None,
        result_path: state.result_path.clone(),
        assign: None,
        retry: Vec::new(),
        catch: Vec::new(),
        next: state.next.clone(),
        jsonata: None,
    }
}
