//! The typed state graph a definition loads into: what the interpreter runs.
//!
//! Everything here was validated on the way in, so the interpreter matches on closed sets and
//! never meets a field it has to re-check.

use crate::intrinsics::Call;
use crate::path::JsonPath;
use crate::template::Template;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// InputPath/OutputPath/ResultPath: absent, explicitly `null`, or a path.
#[derive(Debug, Clone)]
pub(crate) enum IoPath {
    Default,
    Null,
    Path(JsonPath),
}

#[derive(Debug)]
pub(crate) struct Graph {
    pub(crate) start_at: String,
    pub(crate) states: HashMap<String, Arc<State>>,
    /// The same states in definition order, which [`crate::model`] shows to tools that report per
    /// state; the interpreter only looks states up by name.
    pub(crate) listed: Vec<Arc<State>>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) input_path: IoPath,
    pub(crate) output_path: IoPath,
    pub(crate) parameters: Option<Template>,
    pub(crate) result_selector: Option<Template>,
    pub(crate) result_path: IoPath,
    pub(crate) assign: Option<Template>,
    pub(crate) retry: Vec<Retrier>,
    pub(crate) catch: Vec<Catcher>,
    pub(crate) next: Option<String>,
    /// The state's JSONata fields when it runs in JSONata mode; its JSONPath fields are then
    /// all at their defaults.
    pub(crate) jsonata: Option<Box<super::JsonataState>>,
}

#[derive(Debug)]
pub(crate) enum Kind {
    Pass {
        result: Option<Value>,
    },
    Task(TaskDef),
    Choice {
        rules: Vec<ChoiceRule>,
        default: Option<String>,
    },
    Wait(WaitSpec),
    Succeed,
    Fail {
        error: Option<ErrorSource>,
        cause: Option<ErrorSource>,
    },
    Parallel {
        branches: Vec<Arc<Graph>>,
    },
    Map(MapDef),
}

impl Kind {
    /// The prefix of this state's history events (`TaskStateEntered`, ...).
    pub(crate) fn event_prefix(&self) -> &'static str {
        match self {
            Kind::Pass { .. } => "Pass",
            Kind::Task(_) => "Task",
            Kind::Choice { .. } => "Choice",
            Kind::Wait(_) => "Wait",
            Kind::Succeed => "Succeed",
            Kind::Fail { .. } => "Fail",
            Kind::Parallel { .. } => "Parallel",
            Kind::Map(_) => "Map",
        }
    }
}

#[derive(Debug)]
pub(crate) struct TaskDef {
    pub(crate) resource: String,
    pub(crate) target: Target,
    pub(crate) timeout: Seconds,
    pub(crate) heartbeat: Seconds,
}

#[derive(Debug, Clone)]
pub(crate) enum Target {
    LambdaInvoke,
    LambdaArn,
    Service { service: String, action: String },
}

#[derive(Debug, Clone)]
pub(crate) enum Seconds {
    None,
    Fixed(u64),
    Path(JsonPath),
}

#[derive(Debug)]
pub(crate) enum WaitSpec {
    Seconds(u64),
    SecondsPath(JsonPath),
    Timestamp(chrono::DateTime<chrono::FixedOffset>),
    TimestampPath(JsonPath),
}

#[derive(Debug)]
pub(crate) enum ErrorSource {
    Literal(String),
    Path(JsonPath),
    Intrinsic(Call),
}

#[derive(Debug)]
pub(crate) struct MapDef {
    pub(crate) processor: Arc<Graph>,
    pub(crate) items_path: Option<JsonPath>,
    pub(crate) item_selector: Option<Template>,
    pub(crate) max_concurrency: Seconds,
}

/// What a retrier does about a field it leaves out, as the language specification sets it.
/// Tools see the filled-in values through [`crate::model::Retrier`].
pub(crate) mod retrier_defaults {
    pub(crate) const INTERVAL_SECONDS: u64 = 1;
    pub(crate) const MAX_ATTEMPTS: u64 = 3;
    pub(crate) const BACKOFF_RATE: f64 = 2.0;
}

#[derive(Debug, Clone)]
pub(crate) struct Retrier {
    pub(crate) error_equals: Vec<String>,
    pub(crate) interval_seconds: f64,
    pub(crate) max_attempts: u64,
    pub(crate) backoff_rate: f64,
    pub(crate) max_delay_seconds: Option<f64>,
    pub(crate) jitter_full: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Catcher {
    pub(crate) error_equals: Vec<String>,
    pub(crate) next: String,
    pub(crate) result_path: IoPath,
    pub(crate) assign: Option<Template>,
}

#[derive(Debug)]
pub(crate) struct ChoiceRule {
    pub(crate) condition: Condition,
    pub(crate) next: String,
    pub(crate) assign: Option<Template>,
}

#[derive(Debug)]
pub(crate) enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Test {
        variable: JsonPath,
        op: Op,
        operand: Operand,
    },
}

#[derive(Debug)]
pub(crate) enum Operand {
    Literal(Value),
    Path(JsonPath),
}

/// A comparison operator, parsed once at load so that evaluation matches on a closed set: an
/// unknown name is refused by validation and can never reach the interpreter. Whether the
/// operand is a literal or a `...Path` is the [`Operand`]'s business, not the operator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    String(Cmp),
    StringMatches,
    Numeric(Cmp),
    BooleanEquals,
    Timestamp(Cmp),
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

/// How a String, Numeric or Timestamp comparison wants its two sides ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Equals,
    LessThan,
    GreaterThan,
    LessThanEquals,
    GreaterThanEquals,
}
