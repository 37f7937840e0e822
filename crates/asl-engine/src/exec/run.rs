//! An execution from start to finish, and the loop that runs a graph state by state.
//!
//! The states without Retry or Catch (Pass, Succeed, Fail, Choice, Wait) run here whole; Task,
//! Parallel and Map go through [`super::recovery`].

use super::choice::choose;
use super::env::{apply_result_path, assign_values, commit_vars, Env, StateCtx};
use super::recovery::run_with_recovery;
use super::{Failure, Step, Vars};
use crate::definition::{ErrorSource, Graph, Kind, State, WaitSpec};
use crate::path::compact;
use crate::result::{ExecutionResult, ExecutionStatus, HistoryEvent};
use crate::{ExecutionOptions, Resources, StateMachine};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Express executions stop after five minutes whatever the definition says.
const EXPRESS_MAX_SECONDS: u64 = 300;

struct Events {
    next_id: u64,
    list: Vec<HistoryEvent>,
}

/// Everything an execution shares across its states, branches and iterations.
pub(crate) struct Run {
    pub(super) resources: Arc<dyn Resources>,
    time_scale: f64,
    pub(super) record: bool,
    pub(super) execution_arn: String,
    pub(super) name: String,
    pub(super) role_arn: String,
    pub(super) state_machine_arn: String,
    pub(super) state_machine_name: String,
    pub(super) input: Value,
    pub(super) start_date: DateTime<Utc>,
    start_instant: tokio::time::Instant,
    events: Mutex<Events>,
    /// The whole context object (`$$`) when the caller supplies it instead of the execution
    /// building it: a state tested alone (TestState) sees exactly the context it was given.
    pub(super) context_override: Option<Value>,
}

impl Run {
    /// The run around one state tested alone: no history, real time, and `context` as the
    /// whole context object.
    pub(super) fn single(
        resources: Arc<dyn Resources>,
        ids: SingleIds,
        input: Value,
        context: Value,
    ) -> Run {
        Run {
            resources,
            time_scale: 1.0,
            record: false,
            execution_arn: ids.execution_arn,
            name: ids.name,
            role_arn: ids.role_arn,
            state_machine_arn: ids.state_machine_arn,
            state_machine_name: ids.state_machine_name,
            input,
            start_date: Utc::now(),
            start_instant: tokio::time::Instant::now(),
            events: Mutex::new(Events {
                next_id: 1,
                list: Vec::new(),
            }),
            context_override: Some(context),
        }
    }

    /// Wall-clock now, advanced by tokio's clock so that paused-time tests see consistent dates.
    pub(super) fn now(&self) -> DateTime<Utc> {
        let elapsed = self.start_instant.elapsed();
        self.start_date + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }

    pub(super) fn scaled(&self, seconds: f64) -> Duration {
        // A huge time_scale must mean "practically never", not a panic in Duration.
        Duration::try_from_secs_f64((seconds * self.time_scale).max(0.0)).unwrap_or(Duration::MAX)
    }

    /// Numbers an event; names it, builds and stores its details only when history is recorded.
    pub(super) fn event(
        &self,
        event_type: impl std::fmt::Display,
        details: impl FnOnce() -> Value,
    ) -> u64 {
        let mut ev = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let id = ev.next_id;
        ev.next_id += 1;
        if self.record {
            let timestamp = self.now();
            ev.list.push(HistoryEvent {
                id,
                previous_event_id: id - 1,
                event_type: event_type.to_string(),
                timestamp,
                details: details(),
            });
        }
        id
    }
}

/// The names a run around one state carries for the Task calls it makes.
pub(super) struct SingleIds {
    pub(super) execution_arn: String,
    pub(super) name: String,
    pub(super) role_arn: String,
    pub(super) state_machine_arn: String,
    pub(super) state_machine_name: String,
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Region, account and name of a state machine ARN, with local defaults for what it lacks.
fn machine_arn_parts(sm_arn: &str) -> (&str, &str, &str) {
    let parts: Vec<&str> = sm_arn.split(':').collect();
    if parts.len() >= 7 && parts[5] == "stateMachine" {
        (parts[3], parts[4], parts[6])
    } else {
        (
            "us-east-1",
            "123456789012",
            parts.last().copied().unwrap_or("local"),
        )
    }
}

pub(crate) fn express_execution_arn(sm_arn: &str, name: &str) -> String {
    let (region, account, sm_name) = machine_arn_parts(sm_arn);
    format!(
        "arn:aws:states:{region}:{account}:express:{sm_name}:{name}:{}",
        uuid::Uuid::new_v4()
    )
}

pub(crate) async fn execute(
    machine: &StateMachine,
    input: Value,
    options: ExecutionOptions,
    execution_arn: Option<String>,
    resources: Arc<dyn Resources>,
) -> ExecutionResult {
    let name = options
        .name
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let sm_arn = options.state_machine_arn.clone();
    let (_, account, sm_name) = machine_arn_parts(&sm_arn);
    let execution_arn = execution_arn.unwrap_or_else(|| express_execution_arn(&sm_arn, &name));
    let role_arn = format!("arn:aws:iam::{account}:role/StepFunctionsLocalRole");
    let start_date = Utc::now();
    let run = Arc::new(Run {
        resources,
        time_scale: if options.time_scale.is_finite() && options.time_scale >= 0.0 {
            options.time_scale
        } else {
            1.0
        },
        record: options.record_history,
        execution_arn: execution_arn.clone(),
        name: name.clone(),
        role_arn,
        state_machine_arn: sm_arn.clone(),
        state_machine_name: sm_name.to_string(),
        input,
        start_date,
        start_instant: tokio::time::Instant::now(),
        events: Mutex::new(Events {
            next_id: 1,
            list: Vec::new(),
        }),
        context_override: None,
    });
    run.event("ExecutionStarted", || {
        json!({
            "input": compact(&run.input),
            "inputDetails": {"truncated": false},
            "roleArn": run.role_arn,
        })
    });
    let limit = machine
        .timeout_seconds
        .unwrap_or(EXPRESS_MAX_SECONDS)
        .min(EXPRESS_MAX_SECONDS);
    let body = run_graph(
        run.clone(),
        machine.graph.clone(),
        run.input.clone(),
        Vars::new(),
        false,
    );
    let outcome = tokio::time::timeout(run.scaled(limit as f64), body).await;
    let (status, output, error, cause) = match outcome {
        Ok(Ok(out)) => {
            run.event(
                "ExecutionSucceeded",
                || json!({"output": compact(&out), "outputDetails": {"truncated": false}}),
            );
            (ExecutionStatus::Succeeded, Some(out), None, None)
        }
        Ok(Err(Failure::Error { error, cause })) => {
            run.event("ExecutionFailed", || failure_details(&error, &cause));
            (ExecutionStatus::Failed, None, error, cause)
        }
        Ok(Err(Failure::Runtime(cause))) => {
            let error = Some("States.Runtime".to_string());
            let cause = Some(cause);
            run.event("ExecutionFailed", || failure_details(&error, &cause));
            (ExecutionStatus::Failed, None, error, cause)
        }
        Ok(Err(Failure::Abort)) => {
            run.event("ExecutionAborted", || json!({}));
            (ExecutionStatus::Aborted, None, None, None)
        }
        Err(_) => {
            let error = Some("States.Timeout".to_string());
            run.event("ExecutionTimedOut", || failure_details(&error, &None));
            (ExecutionStatus::TimedOut, None, error, None)
        }
    };
    let stop_date = run.now();
    let history = std::mem::take(&mut run.events.lock().unwrap_or_else(|e| e.into_inner()).list);
    let start_date = run.start_date;
    // Every state has finished or been dropped by now, so the execution's input is normally the
    // last thing holding it: handed over rather than copied.
    let input = match Arc::try_unwrap(run) {
        Ok(run) => run.input,
        Err(shared) => shared.input.clone(),
    };
    ExecutionResult {
        execution_arn,
        state_machine_arn: sm_arn,
        name,
        start_date,
        stop_date,
        status,
        input,
        output,
        error,
        cause,
        history,
    }
}

pub(super) fn failure_details(error: &Option<String>, cause: &Option<String>) -> Value {
    let mut m = Map::new();
    if let Some(e) = error {
        m.insert("error".into(), json!(e));
    }
    if let Some(c) = cause {
        m.insert("cause".into(), json!(c));
    }
    Value::Object(m)
}

/// `concurrent` marks a Parallel branch or Map iteration: such graphs yield to their siblings
/// after entering each state, which reproduces the interleaving AWS records (every branch
/// enters its first state before any leaves it).
pub(super) fn run_graph(
    run: Arc<Run>,
    graph: Arc<Graph>,
    input: Value,
    vars: Vars,
    concurrent: bool,
) -> BoxFut<'static, Result<Value, Failure>> {
    Box::pin(async move {
        let mut vars = vars;
        let mut current = graph.start_at.clone();
        let mut data = input;
        loop {
            let state =
                graph.states.get(&current).cloned().ok_or_else(|| {
                    Failure::Runtime(format!("The state '{current}' does not exist"))
                })?;
            match run_state(&run, &state, data, &mut vars, concurrent).await? {
                Step::Next(next, out) => {
                    current = next;
                    data = out;
                }
                Step::End(out) => return Ok(out),
            }
            // A loop of Pass and Choice states awaits nothing that would ever be pending, so without this the
            // execution would hold its worker thread for good: its timeout (the future wrapped around this one)
            // would never be polled, and neither would the server's other requests. Spending tokio's cooperative
            // budget yields once every so many states, which costs next to nothing on the ordinary path.
            tokio::task::coop::consume_budget().await;
        }
    })
}

/// The details of a `…StateExited` event. AWS lists the variables a state assigned, each as
/// JSON text.
pub(super) fn exited_details(
    name: &str,
    out: &Value,
    assigned: Option<&Map<String, Value>>,
) -> Value {
    let mut d =
        json!({"name": name, "output": compact(out), "outputDetails": {"truncated": false}});
    if let Some(vars) = assigned {
        let texts: Map<String, Value> = vars
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(compact(v))))
            .collect();
        d["assignedVariables"] = Value::Object(texts);
        d["assignedVariablesDetails"] = json!({"truncated": false});
    }
    d
}

pub(super) fn finish(state: &State, out: Value) -> Step {
    match &state.next {
        Some(n) => Step::Next(n.clone(), out),
        None => Step::End(out),
    }
}

async fn run_state(
    run: &Arc<Run>,
    state: &Arc<State>,
    raw: Value,
    vars: &mut Vars,
    concurrent: bool,
) -> Result<Step, Failure> {
    let prefix = state.kind.event_prefix();
    let entered_id = run.event(format_args!("{prefix}StateEntered"), || {
        json!({"name": state.name, "input": compact(&raw), "inputDetails": {"truncated": false}})
    });
    let st = StateCtx {
        name: &state.name,
        entered_id,
        entered_time: run.now(),
    };
    if concurrent {
        tokio::task::yield_now().await;
    }
    let exited = |out: &Value, assigned: Option<&Map<String, Value>>| {
        run.event(format_args!("{prefix}StateExited"), || {
            exited_details(&state.name, out, assigned)
        });
    };
    if let Some(js) = &state.jsonata {
        if !matches!(
            state.kind,
            Kind::Task(_) | Kind::Parallel { .. } | Kind::Map(_)
        ) {
            return super::jsonata::run_simple(run, state, js, &st, raw, vars).await;
        }
    }
    match &state.kind {
        Kind::Pass { result } => {
            let env = Env::new(run, &st, vars);
            let eff = env.select(&state.input_path, &raw)?;
            let eff = match &state.parameters {
                Some(p) => Cow::Owned(env.template(p, &eff)?),
                None => eff,
            };
            let result = match result {
                Some(r) => r.clone(),
                None => eff.into_owned(),
            };
            let new_vars = assign_values(&env, &state.assign, &result)?;
            let out = apply_result_path(&state.result_path, raw, result)?;
            let out = env.select_owned(&state.output_path, out)?;
            exited(&out, new_vars.as_ref());
            commit_vars(vars, new_vars);
            Ok(finish(state, out))
        }
        Kind::Succeed => {
            let env = Env::new(run, &st, vars);
            let eff = env.select_owned(&state.input_path, raw)?;
            let out = env.select_owned(&state.output_path, eff)?;
            exited(&out, None);
            Ok(Step::End(out))
        }
        Kind::Fail { error, cause } => {
            let env = Env::new(run, &st, vars);
            let eval = |src: &Option<ErrorSource>,
                        field: &str|
             -> Result<Option<String>, Failure> {
                Ok(match src {
                    None => None,
                    Some(ErrorSource::Literal(s)) => Some(s.clone()),
                    Some(ErrorSource::Path(p)) => {
                        let v = env.dynamic_path(p, field, &raw)?;
                        Some(match v {
                            Value::String(s) => s,
                            other => compact(&other),
                        })
                    }
                    Some(ErrorSource::Intrinsic(c)) => Some(match env.call(c, field, &raw)? {
                        Value::String(s) => s,
                        other => compact(&other),
                    }),
                })
            };
            let error = eval(error, "ErrorPath")?;
            let cause = eval(cause, "CausePath")?;
            Err(Failure::Error { error, cause })
        }
        Kind::Choice { rules, default } => {
            let env = Env::new(run, &st, vars);
            let eff = env.select_owned(&state.input_path, raw)?;
            let (next, new_vars) = choose(&env, state, rules, default, &eff)?;
            let out = env.select_owned(&state.output_path, eff)?;
            exited(&out, new_vars.as_ref());
            commit_vars(vars, new_vars);
            Ok(Step::Next(next, out))
        }
        Kind::Wait(spec) => {
            let env = Env::new(run, &st, vars);
            let eff = env.select_owned(&state.input_path, raw)?;
            let secs = wait_seconds(run, &st, spec, &eff)?;
            if secs > 0.0 {
                tokio::time::sleep(run.scaled(secs)).await;
            }
            let new_vars = assign_values(&env, &state.assign, &eff)?;
            let out = env.select_owned(&state.output_path, eff)?;
            exited(&out, new_vars.as_ref());
            commit_vars(vars, new_vars);
            Ok(finish(state, out))
        }
        Kind::Task(_) | Kind::Parallel { .. } | Kind::Map(_) => {
            run_with_recovery(run, state, &st, raw, vars).await
        }
    }
}

fn render_plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => compact(other),
    }
}

pub(super) fn wait_seconds(
    run: &Run,
    st: &StateCtx,
    spec: &WaitSpec,
    eff: &Value,
) -> Result<f64, Failure> {
    let too_long = |secs: f64| {
        if secs > i32::MAX as f64 {
            Err(st.runtime("Wait state delay is too long."))
        } else {
            Ok(secs)
        }
    };
    match spec {
        WaitSpec::Seconds(n) => Ok(*n as f64),
        WaitSpec::SecondsPath(p) => {
            let v = p.eval(eff).map_err(|_| {
                st.runtime(format!(
                    "The SecondsPath parameter does not reference an input value: {}",
                    p.text
                ))
            })?;
            match v.as_i64() {
                Some(n) if n < 0 => Err(st.runtime(format!(
                    "The SecondsPath parameter references a negative value: {} == {n}",
                    p.text
                ))),
                Some(n) => too_long(n as f64),
                None => Err(st.runtime(format!(
                    "The SecondsPath parameter cannot be parsed as a long value: {} == {}",
                    p.text,
                    render_plain(&v)
                ))),
            }
        }
        WaitSpec::Timestamp(t) => {
            let delta = t.with_timezone(&Utc) - run.now();
            too_long((delta.num_milliseconds() as f64 / 1000.0).max(0.0))
        }
        WaitSpec::TimestampPath(p) => {
            let v = p.eval(eff).map_err(|_| {
                st.runtime(format!(
                    "The TimestampPath parameter does not reference an input value: {}",
                    p.text
                ))
            })?;
            let t = v.as_str().and_then(crate::definition::parse_timestamp).ok_or_else(|| {
                st.runtime(format!(
                    "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {} == {}",
                    p.text,
                    render_plain(&v)
                ))
            })?;
            let delta = t.with_timezone(&Utc) - run.now();
            too_long((delta.num_milliseconds() as f64 / 1000.0).max(0.0))
        }
    }
}
