//! The worst-case running time of an Amazon States Language definition, proved from the
//! definition alone.
//!
//! An API that answers through `StartSyncExecution` has a hard deadline (API Gateway gives up
//! after 29 s), and a saga has a softer one inside it: a compensation only runs if the execution
//! is still alive when the Catch fires, because a top-level timeout ends the execution with no
//! Catch at all. So the property worth proving is
//!
//! ```text
//! worst path  <=  top-level TimeoutSeconds  <  the caller's limit
//! ```
//!
//! and this crate proves it (or says which state breaks it) without running anything. Every
//! duration is an upper bound:
//!
//! - a Task costs `(1 + sum of every retrier's MaxAttempts) x TimeoutSeconds` plus every backoff
//!   delay any retrier can take. Retriers count separately, so an execution that alternates
//!   between errors can exhaust all of them; the delays add up to the same total in any order,
//!   so "the worst interleaving" is simply all of them. FULL jitter draws from `[0, cap]`, so
//!   the un-jittered delay is its worst case.
//! - Parallel costs its slowest branch, Map its iterations (in rounds of MaxConcurrency), and
//!   both multiply by their own retries, since a retry re-runs every branch or iteration.
//! - A Catch can fire only after the state's last attempt, so the catch target starts after the
//!   state's full worst case, exactly like its `Next`.
//! - Anything the definition does not bound (a Task without TimeoutSeconds, a SecondsPath Wait,
//!   a Map over input-sized items, a loop) is an error unless [`Options`] supplies the bound.
//!
//! The analysis walks the state graph `asl_engine` loaded ([`asl_engine::model`]), so it sees
//! the definition exactly as the engine runs it: retry defaults filled in, every transition
//! resolved, and only definitions the engine (and so AWS) accepts. [`analyse_definition`] loads
//! definition text and reports a definition the engine rejects as such rather than budgeting it.

mod analyse;
mod render;

use std::collections::BTreeMap;

use asl_engine::StateMachine;
use serde::Serialize;
use serde_json::Value;

pub use render::{format_seconds, render_text};

/// Something that stops the analysis from proving a bound.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BudgetError {
    #[error("the definition is invalid: {message}")]
    InvalidDefinition { message: String },
    #[error(
        "the definition has no top-level TimeoutSeconds, so the execution can outlive any caller \
         (Express stops only at 5 minutes)"
    )]
    MissingTopLevelTimeout,
    #[error(
        "Task {state} has no TimeoutSeconds, so an attempt may wait for up to 99999999 s; \
         give it a literal TimeoutSeconds"
    )]
    MissingTaskTimeout { state: String },
    #[error(
        "Task {state} takes its timeout from {field}, which only the input knows; \
         give it a literal TimeoutSeconds"
    )]
    DynamicTaskTimeout { state: String, field: String },
    #[error(
        "Wait {state} waits for {field}, which the definition does not bound; \
         pass --assume-wait-max {state}=SECONDS (or SECONDS for every Wait)"
    )]
    UnboundedWait { state: String, field: String },
    #[error(
        "Map {state} iterates over items the definition does not bound; \
         pass --assume-map-items {state}=N (or N for every Map)"
    )]
    UnboundedMap { state: String },
    #[error(
        "the states {} form a loop, which no bound is proved for; \
         unroll it or make one of its states terminal",
        states.join(" -> ")
    )]
    Cycle { states: Vec<String> },
}

/// A bound the definition cannot give, supplied by the caller: one value for every state of a
/// kind, optionally overridden per state (by bare name or by nested path such as `Fan[0]/Step`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bound {
    pub default: Option<f64>,
    pub per_state: BTreeMap<String, f64>,
}

impl Bound {
    fn get(&self, name: &str, qualified: &str) -> Option<f64> {
        self.per_state
            .get(qualified)
            .or_else(|| self.per_state.get(name))
            .copied()
            .or(self.default)
    }
}

/// What the analysis assumes beyond the definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The caller's deadline in seconds (API Gateway's REST integration timeout by default).
    pub limit_seconds: f64,
    /// Longest a `SecondsPath`, `Timestamp` or `TimestampPath` Wait may last.
    pub wait_max_seconds: Bound,
    /// Most items a Map may iterate over.
    pub map_max_items: Bound,
}

/// API Gateway's default REST integration timeout.
pub const DEFAULT_LIMIT_SECONDS: f64 = 29.0;

impl Default for Options {
    fn default() -> Self {
        Options {
            limit_seconds: DEFAULT_LIMIT_SECONDS,
            wait_max_seconds: Bound::default(),
            map_max_items: Bound::default(),
        }
    }
}

/// How a path arrived at a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    Start,
    Next,
    /// A Choice rule's `Next`.
    Choice,
    /// A Choice's `Default`.
    Default,
    /// A Catch: the state is a compensation (or error-handling) step.
    Catch,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Start => "start",
            Via::Next => "next",
            Via::Choice => "choice",
            Via::Default => "default",
            Via::Catch => "catch",
        }
    }
}

/// One state on a path, with the worst case it can cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// The state name, prefixed by its enclosing Parallel branch or Map (`Fan[1]/Work`).
    pub state: String,
    #[serde(rename = "type")]
    pub state_type: String,
    pub via: Via,
    /// Worst case of this state; `null` in JSON (infinite here) when unbounded.
    #[serde(serialize_with = "seconds_or_null")]
    pub seconds: f64,
    #[serde(serialize_with = "seconds_or_null")]
    pub cumulative_seconds: f64,
    /// How `seconds` was reached, e.g. `2 attempts x 2 s + backoff 1 s`.
    pub detail: String,
    /// For Parallel and Map: the slowest branch or iteration path that sets `seconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner: Option<Box<Path>>,
}

/// A path from a scope's `StartAt` to one of its terminal states.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Path {
    #[serde(serialize_with = "seconds_or_null")]
    pub total_seconds: f64,
    pub steps: Vec<Step>,
}

impl Path {
    /// Whether the path takes a Catch transition at the top level.
    pub fn takes_catch(&self) -> bool {
        self.steps.iter().any(|s| s.via == Via::Catch)
    }
}

/// The checks [`Report::ok`] combines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Worst path <= top-level TimeoutSeconds: no path is cut off by the execution timeout.
    pub worst_within_timeout: bool,
    /// Top-level TimeoutSeconds < limit: the execution ends (and answers) before the caller gives up.
    pub timeout_below_limit: bool,
    /// Every path that enters a Catch target finishes within TimeoutSeconds; `null` when no path
    /// takes a Catch.
    pub compensation_fits: Option<bool>,
    pub ok: bool,
}

/// The result of an analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub limit_seconds: f64,
    /// The top-level TimeoutSeconds, when the definition sets one.
    pub timeout_seconds: Option<f64>,
    /// The slowest path of all; `None` when a loop prevents a longest path.
    pub worst_path: Option<Path>,
    /// The slowest path that takes a top-level Catch; `None` when there is none.
    pub worst_compensation_path: Option<Path>,
    pub errors: Vec<BudgetError>,
    pub verdict: Verdict,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.verdict.ok
    }

    /// `timeout - worst path`: how much the slowest path leaves unused.
    pub fn slack_seconds(&self) -> Option<f64> {
        Some(self.timeout_seconds? - self.worst_path.as_ref()?.total_seconds)
    }

    /// `limit - timeout`: how long before the caller gives up the execution has answered.
    pub fn margin_seconds(&self) -> Option<f64> {
        Some(self.limit_seconds - self.timeout_seconds?)
    }

    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("a report always serializes");
        v["slack_seconds"] = self.slack_seconds().map_or(Value::Null, Value::from);
        v["margin_seconds"] = self.margin_seconds().map_or(Value::Null, Value::from);
        v["errors"] = Value::Array(
            self.errors
                .iter()
                .map(|e| {
                    let mut j = serde_json::to_value(e).expect("errors serialize");
                    j["message"] = Value::from(e.to_string());
                    j
                })
                .collect(),
        );
        v
    }
}

fn seconds_or_null<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else {
        s.serialize_none()
    }
}

/// Analyses definition text: rejects what `asl_engine` (and so AWS) would reject, each
/// diagnostic as one [`BudgetError::InvalidDefinition`], then budgets.
pub fn analyse_definition(text: &str, options: &Options) -> Report {
    match StateMachine::from_json(text) {
        Ok(machine) => analyse(&machine, options),
        Err(e) => {
            let errors = e
                .diagnostics
                .iter()
                .map(|d| BudgetError::InvalidDefinition {
                    message: d.to_string(),
                })
                .collect();
            analyse::failed(options, errors)
        }
    }
}

/// Analyses a definition the engine has loaded (and so validated).
pub fn analyse(machine: &StateMachine, options: &Options) -> Report {
    analyse::run(machine, options)
}
