//! What the pages draw, computed from a record when it is asked for: the path an execution took through its
//! graph, its events and its waterfall; a state machine's graph with its budget.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::graph::{EdgeKind, Graph};
use crate::{KnownMachine, Record, GATEWAY_LIMIT_SECONDS};

/// One stay in a top-level state.
struct Visit {
    state: String,
    state_type: String,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    /// Task attempts (scheduled events).
    attempts: u32,
    errors: Vec<String>,
    /// The last attempt failed (its error went to a Catch, or ended the execution).
    failed: bool,
    /// Entered after the execution took a Catch.
    after_catch: bool,
    /// Left through a Catch.
    caught: bool,
}

fn ms_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from)
        .num_microseconds()
        .map_or(0.0, |us| us as f64 / 1000.0)
}

fn is_attempt(event_type: &str) -> bool {
    event_type.ends_with("Scheduled")
}

fn is_failure(event_type: &str) -> bool {
    matches!(
        event_type,
        "LambdaFunctionFailed"
            | "LambdaFunctionTimedOut"
            | "LambdaFunctionScheduleFailed"
            | "LambdaFunctionStartFailed"
            | "TaskFailed"
            | "TaskTimedOut"
            | "TaskSubmitFailed"
            | "TaskStartFailed"
            | "ParallelStateFailed"
            | "MapStateFailed"
    )
}

fn is_success(event_type: &str) -> bool {
    matches!(
        event_type,
        "LambdaFunctionSucceeded"
            | "TaskSucceeded"
            | "ParallelStateSucceeded"
            | "MapStateSucceeded"
    )
}

/// The execution page's data: the record's summary and payloads, its graph with the path it took, its events
/// and its waterfall.
pub fn execution_view(record: &Record) -> Value {
    let e = &record.execution;
    let r = &e.result;
    let graph = Graph::of_definition(e.machine.definition());
    let start = r.start_date;

    let mut visits: Vec<Visit> = Vec::new();
    let mut taken: Vec<(String, String, EdgeKind)> = Vec::new();
    let mut after_catch = false;
    // A Parallel or Map visit still open: the states its branches enter are not top-level visits.
    let mut open_container: Option<String> = None;
    let mut events = Vec::with_capacity(r.history.len());
    for ev in &r.history {
        let t = ev.event_type.as_str();
        let named = ev.details.get("name").and_then(Value::as_str);
        if let (Some(name), true) = (named, t.ends_with("StateEntered")) {
            let leaves_container = open_container
                .as_deref()
                .is_none_or(|c| graph.edges.iter().any(|e| e.from == c && e.to == name));
            if let (Some(node), true) = (graph.node(name), leaves_container) {
                open_container = None;
                if let Some(prev) = visits.last_mut() {
                    let catch = prev.failed
                        && graph.edges.iter().any(|e| {
                            e.from == prev.state && e.to == name && e.kind == EdgeKind::Catch
                        });
                    let kind = if catch {
                        Some(EdgeKind::Catch)
                    } else {
                        graph
                            .edges
                            .iter()
                            .find(|e| {
                                e.from == prev.state && e.to == name && e.kind != EdgeKind::Catch
                            })
                            .map(|e| e.kind)
                    };
                    if let Some(kind) = kind {
                        taken.push((prev.state.clone(), name.to_string(), kind));
                    }
                    if catch {
                        prev.caught = true;
                        after_catch = true;
                    }
                    prev.end.get_or_insert(ev.timestamp);
                }
                if matches!(node.state_type.as_str(), "Parallel" | "Map") {
                    open_container = Some(name.to_string());
                }
                visits.push(Visit {
                    state: name.to_string(),
                    state_type: node.state_type.clone(),
                    start: ev.timestamp,
                    end: None,
                    attempts: 0,
                    errors: Vec::new(),
                    failed: false,
                    after_catch,
                    caught: false,
                });
            }
        } else if let Some(visit) = visits.last_mut() {
            let inside =
                open_container.is_none() || open_container.as_deref() == Some(&visit.state);
            if t.ends_with("StateExited") && named == Some(visit.state.as_str()) {
                visit.end = Some(ev.timestamp);
                if open_container.as_deref() == Some(&visit.state) {
                    open_container = None;
                }
            } else if inside && is_attempt(t) && open_container.is_none() {
                visit.attempts += 1;
            } else if inside
                && is_failure(t)
                && (open_container.is_none() || t.starts_with(&visit.state_type))
            {
                visit.failed = true;
                if let Some(error) = ev.details.get("error").and_then(Value::as_str) {
                    visit.errors.push(error.to_string());
                }
            } else if inside && is_success(t) {
                visit.failed = false;
            }
        }
        events.push(json!({
            "id": ev.id,
            "previousEventId": ev.previous_event_id,
            "type": ev.event_type,
            "timestamp": ev.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "elapsedMs": ms_between(start, ev.timestamp),
            "stateName": named.map(str::to_string).or_else(|| visits.last().map(|v| v.state.clone())),
            "details": ev.details,
        }));
    }
    let succeeded = r.status == asl_engine::ExecutionStatus::Succeeded;
    let last = visits.len().saturating_sub(1);

    let mut states: serde_json::Map<String, Value> = serde_json::Map::new();
    let mut per_state: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, v) in visits.iter().enumerate() {
        per_state.entry(v.state.as_str()).or_default().push(i);
    }
    for node in &graph.nodes {
        let faults: Vec<&crate::InjectedFault> = e
            .faults
            .iter()
            .filter(|f| {
                node.function.as_deref() == Some(f.target.as_str())
                    || node.resource.as_deref() == Some(f.target.as_str())
            })
            .collect();
        let Some(indices) = per_state.get(node.name.as_str()) else {
            if !faults.is_empty() {
                states.insert(
                    node.name.clone(),
                    json!({"visited": false, "faults": faults}),
                );
            }
            continue;
        };
        let vs: Vec<&Visit> = indices.iter().map(|&i| &visits[i]).collect();
        let attempts: u32 = vs.iter().map(|v| v.attempts).sum();
        let retries: u32 = vs.iter().map(|v| v.attempts.saturating_sub(1)).sum();
        let after_catch = vs.iter().any(|v| v.after_catch);
        let caught = vs.iter().any(|v| v.caught);
        let ended_here = !succeeded && indices.contains(&last);
        let highlight = if after_catch && node.state_type == "Task" {
            "compensation"
        } else if caught {
            "caught"
        } else if ended_here {
            "failed"
        } else if after_catch {
            "recovery"
        } else {
            "path"
        };
        let errors: Vec<&String> = vs.iter().flat_map(|v| &v.errors).collect();
        states.insert(
            node.name.clone(),
            json!({
                "visited": true,
                "visits": vs.len(),
                "attempts": attempts,
                "retries": retries,
                "errors": errors,
                "afterCatch": after_catch,
                "caught": caught,
                "endedHere": ended_here,
                "highlight": highlight,
                "faults": faults,
            }),
        );
    }
    let waterfall: Vec<Value> = visits
        .iter()
        .map(|v| {
            let end = v.end.unwrap_or(r.stop_date);
            json!({
                "state": v.state,
                "type": v.state_type,
                "startMs": ms_between(start, v.start),
                "endMs": ms_between(start, end),
                "attempts": v.attempts,
                "errors": v.errors,
                "afterCatch": v.after_catch,
                "compensation": v.after_catch && v.state_type == "Task",
            })
        })
        .collect();
    let taken: Vec<Value> = taken
        .into_iter()
        .map(|(from, to, kind)| json!({"from": from, "to": to, "kind": kind}))
        .collect();

    let mut execution = record.summary();
    execution["input"] = r.input.clone();
    execution["output"] = r.output.clone().unwrap_or(Value::Null);
    execution["cause"] = json!(r.cause);
    execution["timeScale"] = json!(e.time_scale);
    execution["timeoutSeconds"] =
        json!(e.machine.timeout_seconds().map(|t| t as f64 * e.time_scale));
    execution["gatewayLimitSeconds"] = json!(GATEWAY_LIMIT_SECONDS);
    json!({
        "execution": execution,
        "historyKept": !r.history.is_empty(),
        "historiesPerSecond": crate::HISTORIES_PER_SECOND,
        "graph": graph,
        "states": states,
        "takenEdges": taken,
        "events": events,
        "waterfall": waterfall,
    })
}

/// The workflow page's data: the graph of a state machine with `saga budget`'s worst path, and the report.
pub fn machine_view(known: &KnownMachine) -> Value {
    let definition = known.machine.definition();
    let graph = Graph::of_definition(definition);
    let report = asl_budget::analyse(&known.machine, &asl_budget::Options::default());
    let top_level = |path: &Option<asl_budget::Path>| -> Vec<String> {
        path.iter()
            .flat_map(|p| &p.steps)
            .map(|s| s.state.clone())
            .filter(|s| graph.node(s).is_some())
            .collect()
    };
    json!({
        "name": known.name,
        "stateMachineArn": known.arn,
        "timeScale": known.time_scale,
        "timeoutSeconds": known.machine.timeout_seconds(),
        "gatewayLimitSeconds": GATEWAY_LIMIT_SECONDS,
        "graph": graph,
        "worstPath": top_level(&report.worst_path),
        "worstCompensationPath": top_level(&report.worst_compensation_path),
        "budget": report.to_json(),
        "definition": definition,
    })
}
