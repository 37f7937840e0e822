//! A Map state's own fields in TestState: its items (or the ItemReader data given), ItemSelector,
//! MaxConcurrency and tolerated failures, around the mocked result that stands in for its
//! iterations.

// The parent's imports: this module is the Map part of the same single-state run.
use super::*;

/// A JSONata Map state's own fields around its mocked result: `Items` (or the items an
/// ItemReader read), `ItemSelector`, `MaxConcurrency` and the tolerated failures.
pub(super) fn map_fields_jsonata(
    env: &Env,
    plan: &Plan,
    map: &MapDef,
    js: &JsonataState,
    ins: &mut InspectionData,
) -> Result<Result<Value, TestStateError>, Failure> {
    let raw = &plan.input;
    let items = match &plan.reader_items {
        Some(Value::Array(read)) => read.clone(),
        _ => env.jsonata_items(js, raw)?,
    };
    let item_count = items.len();
    let (max, tolerance) = env.jsonata_map_limits(js, raw)?;
    if js.item_selector.is_some() {
        let selected = env.jsonata_item_inputs(js, items, raw)?;
        ins.after_item_selector = Some(Value::Array(selected));
    }
    ins.max_concurrency = Some(max.unwrap_or(match map.max_concurrency {
        Seconds::Fixed(n) => n,
        _ => 0,
    }));
    ins.tolerated_failure_count = tolerance.count.map(|c| c as u64);
    ins.tolerated_failure_percentage = tolerance.percentage;
    map_result(plan, item_count, tolerance.count, tolerance.percentage)
}

/// A Map state's own fields around its mocked result: the items, ItemSelector, MaxConcurrency
/// and the tolerated failures, against `stateConfiguration.mapIterationFailureCount`.
pub(super) fn map_fields(
    env: &Env,
    st: &StateCtx,
    plan: &Plan,
    map: &MapDef,
    after_input: &Value,
    ins: &mut InspectionData,
) -> Result<Result<Value, TestStateError>, Failure> {
    let items = match (&plan.reader_items, &map.items_path) {
        (Some(items), _) => items.clone(),
        (None, None) => after_input.clone(),
        (None, Some(p)) => {
            let v = env
                .resolve(p, after_input)
                .map_err(|m| st.runtime(format!("Invalid path '{}' : {m}", p.text)))?;
            if !v.is_array() {
                // AWS quotes a context path from its own root: `$$.Execution.Input` reads as
                // `$.Execution.Input`.
                let shown = p.text.strip_prefix('$').filter(|t| t.starts_with('$'));
                return Err(Failure::Runtime(format!(
                    "Reference path \"{}\" must point to array.",
                    shown.unwrap_or(&p.text)
                )));
            }
            v
        }
    };
    let Value::Array(items) = items else {
        return Err(Failure::Runtime(format!(
            "Items of the Map state must be an array, got {}",
            compact(&items)
        )));
    };
    ins.after_items_path = Some(Value::Array(items.clone()));
    if let Some(sel) = &map.item_selector {
        let mut selected = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let item_env = Env {
                item: Some((i, item)),
                ..*env
            };
            selected.push(item_env.template(sel, after_input)?);
        }
        ins.after_item_selector = Some(Value::Array(selected));
    }
    ins.max_concurrency = Some(match &map.max_concurrency {
        Seconds::None => 0,
        Seconds::Fixed(n) => *n,
        Seconds::Path(p) => {
            let v = env
                .resolve(p, after_input)
                .map_err(|m| st.runtime(format!("Invalid path '{}' : {m}", p.text)))?;
            v.as_u64().ok_or_else(|| {
                st.runtime(format!(
                    "The MaxConcurrencyPath field refers to value {} which is not a valid integer: {}",
                    compact(&v),
                    p.text
                ))
            })?
        }
    });
    let tolerated_count = tolerance(
        env,
        st,
        &plan.tolerance.count,
        &plan.tolerance.count_path,
        after_input,
        "ToleratedFailureCountPath",
    )?;
    let tolerated_pct = tolerance(
        env,
        st,
        &plan.tolerance.percentage,
        &plan.tolerance.percentage_path,
        after_input,
        "ToleratedFailurePercentagePath",
    )?;
    ins.tolerated_failure_count = tolerated_count.map(|c| c as u64);
    ins.tolerated_failure_percentage = tolerated_pct;
    map_result(plan, items.len(), tolerated_count, tolerated_pct)
}

/// A Map's mocked result, judged against `stateConfiguration.mapIterationFailureCount` and the
/// tolerated failures: the outer error is a request that cannot be tested.
fn map_result(
    plan: &Plan,
    item_count: usize,
    tolerated_count: Option<f64>,
    tolerated_pct: Option<f64>,
) -> Result<Result<Value, TestStateError>, Failure> {
    if let Some(failures) = plan.map_failures {
        if failures > item_count as u64 {
            return Ok(Err(TestStateError::Validation(
                "Map iteration failure count must be less than or equal to the number of Map iterations".into(),
            )));
        }
    }
    let result = mocked_fan_out(&plan.mock)?;
    let failures = plan.map_failures.unwrap_or(0) as f64;
    let over_count = tolerated_count.is_some_and(|c| failures > c);
    let over_pct =
        tolerated_pct.is_some_and(|p| item_count > 0 && failures * 100.0 / item_count as f64 > p);
    if over_count || over_pct {
        return Err(Failure::error(
            "States.ExceedToleratedFailureThreshold",
            "The specified tolerated failure threshold was exceeded",
        ));
    }
    Ok(Ok(result))
}

/// A tolerated-failure field: its literal value, or the number its path reads.
pub(super) fn tolerance(
    env: &Env,
    st: &StateCtx,
    literal: &Option<Value>,
    path: &Option<String>,
    input: &Value,
    field: &str,
) -> Result<Option<f64>, Failure> {
    if let Some(v) = literal {
        return Ok(v.as_f64());
    }
    let Some(text) = path else {
        return Ok(None);
    };
    let p =
        JsonPath::parse(text).map_err(|e| st.runtime(format!("Invalid path '{text}' : {e}")))?;
    let v = env
        .resolve(&p, input)
        .map_err(|m| st.runtime(format!("Invalid path '{text}' : {m}")))?;
    match v.as_f64() {
        Some(n) if n >= 0.0 => Ok(Some(n)),
        _ => Err(st.runtime(format!(
            "The {field} field refers to value {} which is not a valid number: {text}",
            compact(&v)
        ))),
    }
}
