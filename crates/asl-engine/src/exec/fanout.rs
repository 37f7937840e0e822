//! Parallel branches and Map iterations, each a tokio task so that they really overlap.

use super::env::{Env, StateCtx};
use super::run::{run_graph, Run};
use super::{Failure, Vars};
use crate::definition::{Graph, MapDef, Seconds};
use crate::path::compact;
use serde_json::{json, Value};
use std::sync::Arc;

pub(super) async fn run_parallel(
    run: &Arc<Run>,
    branches: &[Arc<Graph>],
    input: Value,
    vars: &Vars,
) -> Result<Value, Failure> {
    run.event("ParallelStateStarted", || json!({}));
    let mut set = tokio::task::JoinSet::new();
    for (i, g) in branches.iter().enumerate() {
        let fut = run_graph(run.clone(), g.clone(), input.clone(), vars.clone(), true);
        set.spawn(async move { (i, fut.await) });
    }
    let mut results = vec![Value::Null; branches.len()];
    while let Some(joined) = set.join_next().await {
        let (i, r) =
            joined.map_err(|e| Failure::Runtime(format!("A Parallel branch panicked: {e}")))?;
        match r {
            Ok(v) => results[i] = v,
            Err(f) => {
                set.abort_all();
                return Err(f);
            }
        }
    }
    Ok(Value::Array(results))
}

pub(super) async fn run_map(
    run: &Arc<Run>,
    st: &StateCtx<'_>,
    map: &MapDef,
    env: &Env<'_>,
    input: &Value,
    vars: &Vars,
) -> Result<Value, Failure> {
    let max = match &map.max_concurrency {
        Seconds::None => 0,
        Seconds::Fixed(n) => *n,
        Seconds::Path(p) => {
            let v = env
                .resolve(p, input)
                .map_err(|m| st.runtime(format!("Invalid path '{}' : {m}", p.text)))?;
            match v.as_u64() {
                Some(n) => n,
                None => {
                    return Err(st.runtime(format!(
                        "The MaxConcurrencyPath field refers to value {} which is not a valid integer: {}",
                        compact(&v),
                        p.text
                    )))
                }
            }
        }
    };
    let items = match &map.items_path {
        None => input.clone(),
        Some(p) => env
            .resolve(p, input)
            .map_err(|m| st.runtime(format!("Invalid path '{}' : {m}", p.text)))?,
    };
    let Value::Array(items) = items else {
        return Err(st.runtime(format!(
            "Items of the Map state must be an array, got {}",
            compact(&items)
        )));
    };
    let mut inputs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        inputs.push(match &map.item_selector {
            Some(sel) => {
                let item_env = Env {
                    item: Some((i, item)),
                    ..Env::new(run, st, env.vars)
                };
                item_env.template(sel, input)?
            }
            None => item.clone(),
        });
    }
    run_iterations(run, st, map, inputs, max, Tolerance::default(), vars).await
}

/// How many failed iterations a Map survives (`ToleratedFailureCount`/`Percentage`); none by
/// default.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Tolerance {
    pub(super) count: Option<f64>,
    pub(super) percentage: Option<f64>,
}

impl Tolerance {
    fn exceeded(&self, failed: usize, total: usize) -> bool {
        if self.count.is_none() && self.percentage.is_none() {
            return failed > 0;
        }
        let over_count = self.count.is_some_and(|c| failed as f64 > c);
        let over_share = self
            .percentage
            .is_some_and(|p| failed as f64 * 100.0 > p * total as f64);
        over_count || over_share
    }
}

/// Runs a Map's iterations over their inputs, at most `max` at a time (0: no limit), and gives
/// their outputs in item order.
pub(super) async fn run_iterations(
    run: &Arc<Run>,
    st: &StateCtx<'_>,
    map: &MapDef,
    inputs: Vec<Value>,
    max: u64,
    tolerance: Tolerance,
    vars: &Vars,
) -> Result<Value, Failure> {
    run.event("MapStateStarted", || json!({"length": inputs.len()}));
    let total = inputs.len();
    let mut failed = 0;
    let limit = if max == 0 { total.max(1) } else { max as usize };
    let mut results = vec![Value::Null; total];
    let mut set = tokio::task::JoinSet::new();
    let mut pending = inputs.into_iter().enumerate();
    let spawn = |set: &mut tokio::task::JoinSet<_>, i: usize, v: Value| {
        let run2 = run.clone();
        let name = st.name.to_string();
        let fut = run_graph(run.clone(), map.processor.clone(), v, vars.clone(), true);
        set.spawn(async move {
            let details = || json!({"index": i, "name": name});
            run2.event("MapIterationStarted", details);
            let r = fut.await;
            match &r {
                Ok(_) => run2.event("MapIterationSucceeded", details),
                Err(Failure::Abort) => 0,
                Err(_) => run2.event("MapIterationFailed", details),
            };
            (i, r)
        });
    };
    for _ in 0..limit {
        if let Some((i, v)) = pending.next() {
            spawn(&mut set, i, v);
        }
    }
    while let Some(joined) = set.join_next().await {
        let (i, r) =
            joined.map_err(|e| Failure::Runtime(format!("A Map iteration panicked: {e}")))?;
        match r {
            Ok(v) => results[i] = v,
            Err(Failure::Error { error, cause }) if !tolerance.exceeded(failed + 1, total) => {
                // A tolerated failure leaves its error output in the iteration's place.
                failed += 1;
                results[i] =
                    json!({"Error": error.unwrap_or_default(), "Cause": cause.unwrap_or_default()});
            }
            Err(Failure::Error { .. })
                if tolerance.count.is_some() || tolerance.percentage.is_some() =>
            {
                set.abort_all();
                return Err(Failure::error(
                    "States.ExceedToleratedFailureThreshold",
                    "The specified tolerated failure threshold for the Map state has been exceeded",
                ));
            }
            Err(f) => {
                set.abort_all();
                return Err(f);
            }
        }
        if let Some((i, v)) = pending.next() {
            spawn(&mut set, i, v);
        }
    }
    run.event("MapStateSucceeded", || json!({}));
    Ok(Value::Array(results))
}
