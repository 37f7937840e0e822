//! Retry and Catch around one Task, Parallel or Map state.
//!
//! Only these three state types take Retry and Catch, so one try of any of them ([`attempt`])
//! lives here too and hands the work itself to [`super::task`] or [`super::fanout`].

use super::env::{apply_result_path, assign_values, check_result_path, commit_vars, Env, StateCtx};
use super::fanout::{run_iterations, run_map, run_parallel};
use super::jsonata::Seen;
use super::run::{exited_details, failure_details, finish, Run};
use super::task::{invoke_task, TaskCall};
use super::{Failure, Step, Vars};
use crate::definition::{Catcher, IoPath, Kind, Retrier, Seconds, State};
use crate::envelope::TaskResult;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::sync::Arc;

pub(super) fn error_matches(names: &[String], error: &Option<String>) -> bool {
    names.iter().any(|n| match n.as_str() {
        "States.ALL" => true,
        "States.TaskFailed" => error.as_deref().is_some_and(|e| e != "States.Timeout"),
        other => error.as_deref() == Some(other),
    })
}

/// Delay before the next retry, or `None` when no retrier may retry this error.
fn retry_delay(retriers: &[Retrier], counters: &mut [u64], error: &Option<String>) -> Option<f64> {
    let idx = retriers
        .iter()
        .position(|r| error_matches(&r.error_equals, error))?;
    let r = &retriers[idx];
    if counters[idx] >= r.max_attempts {
        return None;
    }
    counters[idx] += 1;
    let n = counters[idx];
    let mut delay = r.interval_seconds * r.backoff_rate.powi((n - 1) as i32);
    if let Some(cap) = r.max_delay_seconds {
        delay = delay.min(cap);
    }
    if r.jitter_full {
        use rand::Rng;
        delay = rand::rng().random_range(0.0..=delay);
    }
    Some(delay)
}

pub(super) async fn run_with_recovery(
    run: &Arc<Run>,
    state: &Arc<State>,
    st: &StateCtx<'_>,
    raw: Value,
    vars: &mut Vars,
) -> Result<Step, Failure> {
    let prefix = state.kind.event_prefix();
    let mut counters = vec![0u64; state.retry.len()];
    let mut retry_count: u32 = 0;
    loop {
        // ResultPath is checked before the input is handed over to it, so that a failing one
        // leaves the input whole for the next try or a Catch.
        let attempt = attempt(run, state, st, &raw, vars, retry_count)
            .await
            .and_then(|done| check_result_path(&state.result_path, &raw).map(|()| done));
        match attempt {
            Ok((selected, new_vars)) => {
                let env = Env {
                    retry: matches!(state.kind, Kind::Task(_)).then_some(retry_count),
                    ..Env::new(run, st, vars)
                };
                let out = apply_result_path(&state.result_path, raw, selected)?;
                let out = env.select_owned(&state.output_path, out)?;
                run.event(format_args!("{prefix}StateExited"), || {
                    exited_details(&state.name, &out, new_vars.as_ref())
                });
                commit_vars(vars, new_vars);
                return Ok(finish(state, out));
            }
            Err(Failure::Error { error, cause }) => {
                if let Some(delay) = retry_delay(&state.retry, &mut counters, &error) {
                    if delay > 0.0 {
                        tokio::time::sleep(run.scaled(delay)).await;
                    }
                    retry_count += 1;
                    continue;
                }
                // AWS records a Parallel or Map failure once, when no retry follows.
                if matches!(state.kind, Kind::Parallel { .. } | Kind::Map(_)) {
                    run.event(format_args!("{prefix}StateFailed"), || {
                        failure_details(&error, &cause)
                    });
                }
                let Some(catcher) = state
                    .catch
                    .iter()
                    .find(|c| error_matches(&c.error_equals, &error))
                else {
                    return Err(Failure::Error { error, cause });
                };
                let error_output = json!({
                    "Error": error.unwrap_or_default(),
                    "Cause": cause.unwrap_or_default(),
                });
                return catch(run, state, st, catcher, raw, vars, error_output);
            }
            Err(other) => return Err(other),
        }
    }
}

/// Ends a state through the Catcher that matched its error: `error_output` is the
/// `{"Error": ..., "Cause": ...}` object that the Catcher's Assign and ResultPath see.
pub(super) fn catch(
    run: &Arc<Run>,
    state: &State,
    st: &StateCtx<'_>,
    catcher: &Catcher,
    raw: Value,
    vars: &mut Vars,
    error_output: Value,
) -> Result<Step, Failure> {
    let env = Env::new(run, st, vars);
    let jsonata = state.jsonata.as_deref().and_then(|js| {
        let i = state.catch.iter().position(|c| std::ptr::eq(c, catcher))?;
        js.catchers.get(i)
    });
    let (out, new_vars) = match jsonata {
        Some(jc) => {
            let seen = Seen {
                result: None,
                error_output: Some(&error_output),
            };
            let (out, new_vars) = env.jsonata_finish(
                jc.assign.as_ref(),
                jc.output.as_ref(),
                &raw,
                seen,
                Value::Null,
            )?;
            (
                if jc.output.is_some() {
                    out
                } else {
                    error_output
                },
                new_vars,
            )
        }
        None => (
            apply_result_path(&catcher.result_path, raw, error_output.clone())?,
            assign_values(&env, &catcher.assign, &error_output)?,
        ),
    };
    run.event(
        format_args!("{}StateExited", state.kind.event_prefix()),
        || exited_details(&state.name, &out, new_vars.as_ref()),
    );
    commit_vars(vars, new_vars);
    Ok(Step::Next(catcher.next.clone(), out))
}

/// One try of a Task, Parallel or Map state, from InputPath to ResultSelector: the selected
/// result and the variables to assign.
async fn attempt(
    run: &Arc<Run>,
    state: &Arc<State>,
    st: &StateCtx<'_>,
    raw: &Value,
    vars: &Vars,
    retry_count: u32,
) -> Result<(Value, Option<Map<String, Value>>), Failure> {
    let retry = matches!(state.kind, Kind::Task(_)).then_some(retry_count);
    let env = Env {
        retry,
        ..Env::new(run, st, vars)
    };
    let js = state.jsonata.as_deref();
    let after_input = match js {
        Some(js) if !matches!(state.kind, Kind::Map(_)) => {
            Cow::Owned(env.jsonata_arguments(js, raw)?)
        }
        _ => env.select(&state.input_path, raw)?,
    };
    let mut result = match &state.kind {
        Kind::Task(task) => {
            let limits = match js {
                Some(js) => env.jsonata_task_limits(js, raw)?,
                None => (None, None),
            };
            let call = TaskCall {
                state,
                task,
                input: &after_input,
                retry_count,
                limits,
            };
            invoke_task(&env, call).await?
        }
        Kind::Parallel { branches } => {
            let eff = match &state.parameters {
                Some(p) => env.template(p, &after_input)?,
                None => after_input.as_ref().clone(),
            };
            TaskResult::Built(run_parallel(run, branches, eff, vars).await?)
        }
        Kind::Map(map) => match js {
            Some(js) => {
                let (inputs, max, tolerance) = env.jsonata_map_inputs(js, raw)?;
                let max = match (max, &map.max_concurrency) {
                    (Some(n), _) => n,
                    (None, Seconds::Fixed(n)) => *n,
                    _ => 0,
                };
                let out = run_iterations(run, st, map, inputs, max, tolerance, vars).await?;
                TaskResult::Built(out)
            }
            None => TaskResult::Built(run_map(run, st, map, &env, &after_input, vars).await?),
        },
        _ => unreachable!("only Task, Parallel and Map states have Retry and Catch"),
    };
    if let Some(js) = js {
        let result = result.into_value();
        let seen = Seen {
            result: Some(&result),
            error_output: None,
        };
        let (out, new_vars) = env.jsonata_finish(
            js.assign.as_ref(),
            js.output.as_ref(),
            raw,
            seen,
            Value::Null,
        )?;
        let out = if js.output.is_some() { out } else { result };
        return Ok((out, new_vars));
    }
    let new_vars = match &state.assign {
        Some(_) => assign_values(&env, &state.assign, result.built())?,
        None => None,
    };
    let selected = match &state.result_selector {
        Some(sel) => env.select_result(sel, result)?,
        // `ResultPath: null` keeps the input and drops the result unread.
        None if matches!(state.result_path, IoPath::Null) => Value::Null,
        None => result.into_value(),
    };
    Ok((selected, new_vars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_back_off_and_cap() {
        let r = Retrier {
            error_equals: vec!["E".into()],
            interval_seconds: 1.0,
            max_attempts: 4,
            backoff_rate: 2.0,
            max_delay_seconds: Some(3.0),
            jitter_full: false,
        };
        let mut c = vec![0];
        let e = Some("E".to_string());
        let d: Vec<_> = (0..5)
            .map(|_| retry_delay(std::slice::from_ref(&r), &mut c, &e))
            .collect();
        assert_eq!(d, vec![Some(1.0), Some(2.0), Some(3.0), Some(3.0), None]);
    }

    #[test]
    fn task_failed_does_not_match_timeout() {
        let names = vec!["States.TaskFailed".to_string()];
        assert!(error_matches(&names, &Some("Exception".into())));
        assert!(!error_matches(&names, &Some("States.Timeout".into())));
    }
}
