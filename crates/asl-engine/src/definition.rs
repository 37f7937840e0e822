//! Loading a definition: JSON in, a typed and validated state graph out.
//!
//! Validation mirrors what `ValidateStateMachineDefinition` checks, and it never stops at the
//! first problem: every diagnostic carries a JSON-pointer location so a user can fix them all
//! in one pass. Anything the runtime would not honour (JSONata, distributed Map, callback
//! integrations) is rejected here by name rather than being silently ignored at run time.

use crate::intrinsics::{self, Call};
use crate::path::{JsonPath, Root};
use crate::template::Template;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;

/// One problem found in a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// JSON pointer into the definition, e.g. `/States/CreateOrder/Retry/0/ErrorEquals`.
    pub location: String,
    /// Stable rule name, e.g. `SCHEMA_VALIDATION_FAILED` or `MISSING_TRANSITION_TARGET`.
    pub code: String,
    pub message: String,
}

impl Diagnostic {
    /// The diagnostic as `ValidateStateMachineDefinition` reports one.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "severity": "ERROR",
            "code": self.code,
            "message": self.message,
            "location": self.location,
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} at {}", self.code, self.message, self.location)
    }
}

/// Every diagnostic of a definition that failed to load.
#[derive(Debug, Clone, thiserror::Error)]
pub struct DefinitionError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

pub(crate) const SCHEMA: &str = "SCHEMA_VALIDATION_FAILED";
pub(crate) const MISSING_TARGET: &str = "MISSING_TRANSITION_TARGET";
pub(crate) const UNREACHABLE: &str = "UNREACHABLE_STATE";
pub(crate) const NO_TERMINAL: &str = "NO_TERMINAL_STATE";
pub(crate) const INVALID_JSON: &str = "INVALID_JSON_DESCRIPTION";
pub(crate) const UNSUPPORTED: &str = "UNSUPPORTED_FEATURE";
pub(crate) const DUPLICATE: &str = "DUPLICATE_STATE_NAME";

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

impl Op {
    /// The type a literal operand must have.
    fn literal_type(self) -> LitType {
        match self {
            Op::String(_) | Op::StringMatches => LitType::String,
            Op::Numeric(_) => LitType::Number,
            Op::Timestamp(_) => LitType::Timestamp,
            Op::BooleanEquals
            | Op::IsNull
            | Op::IsPresent
            | Op::IsNumeric
            | Op::IsString
            | Op::IsBoolean
            | Op::IsTimestamp => LitType::Bool,
        }
    }

    /// Whether a `...Path` form exists: the type tests and StringMatches take literals only.
    fn has_path_form(self) -> bool {
        !matches!(
            self,
            Op::StringMatches
                | Op::IsNull
                | Op::IsPresent
                | Op::IsNumeric
                | Op::IsString
                | Op::IsBoolean
                | Op::IsTimestamp
        )
    }
}

/// Comparison operators by name, without their `Path` suffix.
const COMPARISONS: &[(&str, Op)] = &[
    ("StringEquals", Op::String(Cmp::Equals)),
    ("StringLessThan", Op::String(Cmp::LessThan)),
    ("StringGreaterThan", Op::String(Cmp::GreaterThan)),
    ("StringLessThanEquals", Op::String(Cmp::LessThanEquals)),
    (
        "StringGreaterThanEquals",
        Op::String(Cmp::GreaterThanEquals),
    ),
    ("StringMatches", Op::StringMatches),
    ("NumericEquals", Op::Numeric(Cmp::Equals)),
    ("NumericLessThan", Op::Numeric(Cmp::LessThan)),
    ("NumericGreaterThan", Op::Numeric(Cmp::GreaterThan)),
    ("NumericLessThanEquals", Op::Numeric(Cmp::LessThanEquals)),
    (
        "NumericGreaterThanEquals",
        Op::Numeric(Cmp::GreaterThanEquals),
    ),
    ("BooleanEquals", Op::BooleanEquals),
    ("TimestampEquals", Op::Timestamp(Cmp::Equals)),
    ("TimestampLessThan", Op::Timestamp(Cmp::LessThan)),
    ("TimestampGreaterThan", Op::Timestamp(Cmp::GreaterThan)),
    (
        "TimestampLessThanEquals",
        Op::Timestamp(Cmp::LessThanEquals),
    ),
    (
        "TimestampGreaterThanEquals",
        Op::Timestamp(Cmp::GreaterThanEquals),
    ),
    ("IsNull", Op::IsNull),
    ("IsPresent", Op::IsPresent),
    ("IsNumeric", Op::IsNumeric),
    ("IsString", Op::IsString),
    ("IsBoolean", Op::IsBoolean),
    ("IsTimestamp", Op::IsTimestamp),
];

/// The operator a Choice rule field names (`NumericLessThan`, `NumericLessThanPath`, ...) and
/// whether its operand is a path; `None` for a name that is no comparison.
fn comparison(field: &str) -> Option<(Op, bool)> {
    let by_name = |name: &str| {
        COMPARISONS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, op)| *op)
    };
    if let Some(op) = by_name(field) {
        return Some((op, false));
    }
    let op = by_name(field.strip_suffix("Path")?)?;
    op.has_path_form().then_some((op, true))
}

#[derive(Clone, Copy, PartialEq)]
enum LitType {
    String,
    Number,
    Bool,
    Timestamp,
}

/// Parses a timestamp the way AWS accepts them: RFC 3339 with a `T`, a zone, and optional
/// fractional seconds.
pub(crate) fn parse_timestamp(s: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    if !s.contains('T') {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(s).ok()
}

pub(crate) struct Parsed {
    pub(crate) graph: Arc<Graph>,
    pub(crate) timeout_seconds: Option<u64>,
}

struct Loader {
    diags: Vec<Diagnostic>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn esc(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Loader {
    fn push(&mut self, location: &str, code: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            location: location.to_string(),
            code: code.to_string(),
            message: message.into(),
        });
    }

    fn schema(&mut self, location: &str, message: impl Into<String>) {
        self.push(location, SCHEMA, message);
    }

    fn check_fields(&mut self, obj: &Map<String, Value>, loc: &str, allowed: &[&str], what: &str) {
        for k in obj.keys() {
            if !allowed.contains(&k.as_str()) {
                self.schema(
                    &format!("{loc}/{}", esc(k)),
                    format!("The field '{k}' is not supported in {what}"),
                );
            }
        }
    }

    fn string(&mut self, obj: &Map<String, Value>, key: &str, loc: &str) -> Option<String> {
        match obj.get(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.schema(
                    &format!("{loc}/{key}"),
                    format!(
                        "The value for the field '{key}' must be a STRING, not {}",
                        type_name(other)
                    ),
                );
                None
            }
        }
    }

    fn uint(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        loc: &str,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        let v = obj.get(key)?;
        match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.schema(
                    &format!("{loc}/{key}"),
                    format!("The value for the field '{key}' must be an INTEGER between {min} and {max}"),
                );
                None
            }
        }
    }

    fn path(&mut self, text: &str, loc: &str, field: &str, reference: bool) -> Option<JsonPath> {
        match JsonPath::parse(text) {
            Ok(p) => {
                if reference && !p.is_reference() {
                    self.schema(
                        loc,
                        format!("The value for the field '{field}' must be a valid ReferencePath: {text}"),
                    );
                    return None;
                }
                Some(p)
            }
            Err(e) => {
                self.schema(
                    loc,
                    format!("The value for the field '{field}' must be a valid JSONPath: {e}"),
                );
                None
            }
        }
    }

    fn io_path(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        loc: &str,
        reference: bool,
    ) -> IoPath {
        match obj.get(key) {
            None => IoPath::Default,
            Some(Value::Null) => IoPath::Null,
            Some(Value::String(s)) => {
                let l = format!("{loc}/{key}");
                if key == "ResultPath" && s.starts_with("$$") {
                    self.schema(
                        &l,
                        "The field 'ResultPath' must not refer to the context object",
                    );
                    return IoPath::Default;
                }
                match self.path(s, &l, key, reference) {
                    Some(p) => {
                        if key == "ResultPath" && p.root != Root::Input {
                            self.schema(
                                &l,
                                "The field 'ResultPath' must refer to the state data ('$')",
                            );
                        }
                        IoPath::Path(p)
                    }
                    None => IoPath::Default,
                }
            }
            Some(other) => {
                self.schema(
                    &format!("{loc}/{key}"),
                    format!(
                        "The value for the field '{key}' must be a STRING or null, not {}",
                        type_name(other)
                    ),
                );
                IoPath::Default
            }
        }
    }

    /// Checks a payload template (Parameters, ResultSelector, ItemSelector, Assign): every `.$`
    /// value must be a path or an intrinsic call, and renamed keys must not collide.
    fn template(&mut self, v: &Value, loc: &str) {
        match v {
            Value::Object(m) => {
                let mut seen = HashSet::new();
                for (k, x) in m {
                    let l = format!("{loc}/{}", esc(k));
                    let plain = k.strip_suffix(".$").unwrap_or(k);
                    if !seen.insert(plain.to_string()) {
                        self.schema(
                            &l,
                            format!(
                                "The field '{plain}' appears more than once after '.$' renaming"
                            ),
                        );
                    }
                    if k.ends_with(".$") {
                        match x {
                            Value::String(s) => self.dynamic_value(s, &l, k),
                            other => self.schema(
                                &l,
                                format!("The value for the field '{k}' must be a STRING that contains a JSONPath or an intrinsic function, not {}", type_name(other)),
                            ),
                        }
                    } else {
                        self.template(x, &l);
                    }
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    self.template(x, &format!("{loc}/{i}"));
                }
            }
            _ => {}
        }
    }

    fn dynamic_value(&mut self, s: &str, loc: &str, field: &str) {
        if s.starts_with('$') {
            self.path(s, loc, field, false);
        } else if intrinsics::looks_like_call(s) {
            if let Err(e) = intrinsics::parse(s) {
                self.schema(loc, e);
            }
        } else {
            self.schema(
                loc,
                format!("The value for the field '{field}' must be a valid JSONPath or a valid intrinsic function call"),
            );
        }
    }

    fn template_field(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        loc: &str,
    ) -> Option<Template> {
        let v = obj.get(key)?;
        let l = format!("{loc}/{key}");
        if key == "Assign" && !v.is_object() {
            self.schema(&l, "The value for the field 'Assign' must be an OBJECT");
            return None;
        }
        self.template(v, &l);
        if key == "Assign" {
            if let Value::Object(m) = v {
                for k in m.keys() {
                    let name = k.strip_suffix(".$").unwrap_or(k);
                    let valid = name
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if !valid {
                        self.schema(
                            &format!("{l}/{}", esc(k)),
                            format!("'{name}' is not a valid variable name"),
                        );
                    }
                }
            }
        }
        Some(Template::compile(v))
    }

    fn error_equals(&mut self, obj: &Map<String, Value>, loc: &str) -> Vec<String> {
        let l = format!("{loc}/ErrorEquals");
        match obj.get("ErrorEquals") {
            None => {
                self.schema(loc, "The field 'ErrorEquals' is required");
                vec![]
            }
            Some(Value::Array(a)) if !a.is_empty() => {
                let mut out = Vec::new();
                for (i, e) in a.iter().enumerate() {
                    match e.as_str() {
                        Some(s) => out.push(s.to_string()),
                        None => self.schema(&format!("{l}/{i}"), "Error names must be STRINGs"),
                    }
                }
                if out.iter().any(|e| e == "States.ALL") && out.len() > 1 {
                    self.schema(&l, "'States.ALL' must appear alone in ErrorEquals");
                }
                out
            }
            Some(_) => {
                self.schema(
                    &l,
                    "The field 'ErrorEquals' must be a non-empty array of STRINGs",
                );
                vec![]
            }
        }
    }

    fn retriers(&mut self, obj: &Map<String, Value>, loc: &str) -> Vec<Retrier> {
        let Some(v) = obj.get("Retry") else {
            return vec![];
        };
        let l = format!("{loc}/Retry");
        let Some(arr) = v.as_array() else {
            self.schema(&l, "The field 'Retry' must be an ARRAY");
            return vec![];
        };
        let mut out = Vec::new();
        for (i, r) in arr.iter().enumerate() {
            let rl = format!("{l}/{i}");
            let Some(r) = r.as_object() else {
                self.schema(&rl, "A retrier must be an OBJECT");
                continue;
            };
            self.check_fields(
                r,
                &rl,
                &[
                    "ErrorEquals",
                    "IntervalSeconds",
                    "MaxAttempts",
                    "BackoffRate",
                    "MaxDelaySeconds",
                    "JitterStrategy",
                    "Comment",
                ],
                "a Retrier",
            );
            let error_equals = self.error_equals(r, &rl);
            if error_equals.iter().any(|e| e == "States.ALL") && i + 1 != arr.len() {
                self.schema(
                    &format!("{rl}/ErrorEquals"),
                    "A retrier with 'States.ALL' must be the last retrier",
                );
            }
            let backoff_rate = match r.get("BackoffRate") {
                None => 2.0,
                Some(b) => match b.as_f64() {
                    Some(x) if x >= 1.0 => x,
                    _ => {
                        self.schema(
                            &format!("{rl}/BackoffRate"),
                            "The value for the field 'BackoffRate' must be a NUMBER >= 1.0",
                        );
                        2.0
                    }
                },
            };
            let jitter_full = match r.get("JitterStrategy") {
                None => false,
                Some(Value::String(s)) if s == "FULL" => true,
                Some(Value::String(s)) if s == "NONE" => false,
                Some(_) => {
                    self.schema(
                        &format!("{rl}/JitterStrategy"),
                        "The value for the field 'JitterStrategy' must be FULL or NONE",
                    );
                    false
                }
            };
            out.push(Retrier {
                error_equals,
                interval_seconds: self
                    .uint(r, "IntervalSeconds", &rl, 1, 99_999_999)
                    .unwrap_or(1) as f64,
                max_attempts: self.uint(r, "MaxAttempts", &rl, 0, 99_999_999).unwrap_or(3),
                backoff_rate,
                max_delay_seconds: self
                    .uint(r, "MaxDelaySeconds", &rl, 1, 31_622_401)
                    .map(|x| x as f64),
                jitter_full,
            });
        }
        out
    }

    fn catchers(&mut self, obj: &Map<String, Value>, loc: &str) -> Vec<Catcher> {
        let Some(v) = obj.get("Catch") else {
            return vec![];
        };
        let l = format!("{loc}/Catch");
        let Some(arr) = v.as_array() else {
            self.schema(&l, "The field 'Catch' must be an ARRAY");
            return vec![];
        };
        let mut out = Vec::new();
        for (i, c) in arr.iter().enumerate() {
            let cl = format!("{l}/{i}");
            let Some(c) = c.as_object() else {
                self.schema(&cl, "A catcher must be an OBJECT");
                continue;
            };
            self.check_fields(
                c,
                &cl,
                &[
                    "ErrorEquals",
                    "Next",
                    "ResultPath",
                    "Assign",
                    "Comment",
                    "Output",
                ],
                "a Catcher",
            );
            if c.contains_key("Output") {
                self.push(
                    &format!("{cl}/Output"),
                    UNSUPPORTED,
                    "The field 'Output' belongs to JSONata mode; JSONata is not supported",
                );
            }
            let error_equals = self.error_equals(c, &cl);
            if error_equals.iter().any(|e| e == "States.ALL") && i + 1 != arr.len() {
                self.schema(
                    &format!("{cl}/ErrorEquals"),
                    "A catcher with 'States.ALL' must be the last catcher",
                );
            }
            let next = self.string(c, "Next", &cl).unwrap_or_else(|| {
                if !c.contains_key("Next") {
                    self.schema(&cl, "The field 'Next' is required in a Catcher");
                }
                String::new()
            });
            out.push(Catcher {
                error_equals,
                next,
                result_path: self.io_path(c, "ResultPath", &cl, true),
                assign: self.template_field(c, "Assign", &cl),
            });
        }
        out
    }

    fn graph(&mut self, v: &Value, loc: &str, top: bool) -> Option<Arc<Graph>> {
        let Some(obj) = v.as_object() else {
            self.schema(loc, "A state machine must be a JSON OBJECT");
            return None;
        };
        let mut allowed = vec!["StartAt", "States", "Comment", "Version", "QueryLanguage"];
        if top {
            allowed.push("TimeoutSeconds");
        } else {
            allowed.push("ProcessorConfig");
        }
        self.check_fields(
            obj,
            loc,
            &allowed,
            if top {
                "a state machine"
            } else {
                "a branch or item processor"
            },
        );
        self.query_language(obj, loc);
        let start_at = self.string(obj, "StartAt", loc);
        if !obj.contains_key("StartAt") {
            self.schema(loc, "The field 'StartAt' is required");
        }
        let states_loc = format!("{loc}/States");
        let Some(states_obj) = obj.get("States").and_then(Value::as_object) else {
            self.schema(
                if obj.contains_key("States") {
                    &states_loc
                } else {
                    loc
                },
                "The field 'States' is required and must be an OBJECT",
            );
            return None;
        };
        if states_obj.is_empty() {
            self.schema(&states_loc, "'States' must hold at least one state");
        }
        let mut states = HashMap::new();
        for (name, sv) in states_obj {
            let sl = format!("{states_loc}/{}", esc(name));
            if name.is_empty() || name.chars().count() > 80 {
                self.schema(&sl, "State names must be 1 to 80 characters long");
            }
            if let Some(s) = self.state(name, sv, &sl) {
                states.insert(name.clone(), Arc::new(s));
            }
        }
        let start_at = start_at.unwrap_or_default();
        if !start_at.is_empty() && !states_obj.contains_key(&start_at) {
            self.push(
                &format!("{loc}/StartAt"),
                MISSING_TARGET,
                format!("Missing 'StartAt' target: {start_at}"),
            );
        }
        // Transition targets and reachability are checked on the raw JSON so that states that
        // failed to parse still take part.
        let mut edges: HashMap<&str, Vec<(String, String)>> = HashMap::new();
        let mut terminal = false;
        for (name, sv) in states_obj {
            let sl = format!("{states_loc}/{}", esc(name));
            let Some(s) = sv.as_object() else { continue };
            let mut targets = Vec::new();
            if let Some(Value::String(n)) = s.get("Next") {
                targets.push((n.clone(), format!("{sl}/Next")));
            }
            if let Some(Value::String(n)) = s.get("Default") {
                targets.push((n.clone(), format!("{sl}/Default")));
            }
            for (field, nested) in [("Choices", "Next"), ("Catch", "Next")] {
                if let Some(Value::Array(a)) = s.get(field) {
                    for (i, r) in a.iter().enumerate() {
                        if let Some(Value::String(n)) = r.get(nested) {
                            targets.push((n.clone(), format!("{sl}/{field}/{i}/{nested}")));
                        }
                    }
                }
            }
            let ty = s.get("Type").and_then(Value::as_str).unwrap_or("");
            if matches!(ty, "Succeed" | "Fail") || s.get("End") == Some(&Value::Bool(true)) {
                terminal = true;
            }
            for (t, l) in &targets {
                if !states_obj.contains_key(t) {
                    self.push(l, MISSING_TARGET, format!("Missing 'Next' target: {t}"));
                }
            }
            edges.insert(name.as_str(), targets);
        }
        if !states_obj.is_empty() && !terminal {
            self.push(
                &states_loc,
                NO_TERMINAL,
                "The workflow has no terminal state (End, Succeed or Fail)",
            );
        }
        if states_obj.contains_key(&start_at) {
            let mut seen: HashSet<&str> = HashSet::new();
            let mut queue = VecDeque::from([start_at.as_str()]);
            while let Some(s) = queue.pop_front() {
                if !seen.insert(s) {
                    continue;
                }
                for (t, _) in edges.get(s).map(Vec::as_slice).unwrap_or(&[]) {
                    if let Some((k, _)) = states_obj.get_key_value(t) {
                        queue.push_back(k.as_str());
                    }
                }
            }
            for name in states_obj.keys() {
                if !seen.contains(name.as_str()) {
                    self.push(
                        &format!("{states_loc}/{}", esc(name)),
                        UNREACHABLE,
                        format!("State '{name}' is not reachable"),
                    );
                }
            }
        }
        Some(Arc::new(Graph { start_at, states }))
    }

    fn query_language(&mut self, obj: &Map<String, Value>, loc: &str) {
        match obj.get("QueryLanguage") {
            None => {}
            Some(Value::String(s)) if s == "JSONPath" => {}
            Some(Value::String(s)) if s == "JSONata" => self.push(
                &format!("{loc}/QueryLanguage"),
                UNSUPPORTED,
                "JSONata is not supported: this engine runs JSONPath-mode definitions only",
            ),
            Some(_) => self.schema(
                &format!("{loc}/QueryLanguage"),
                "The field 'QueryLanguage' must be JSONPath or JSONata",
            ),
        }
    }

    fn state(&mut self, name: &str, v: &Value, loc: &str) -> Option<State> {
        let Some(obj) = v.as_object() else {
            self.schema(loc, "A state must be an OBJECT");
            return None;
        };
        let ty = match obj.get("Type") {
            Some(Value::String(t)) => t.as_str(),
            Some(_) => {
                self.schema(&format!("{loc}/Type"), "The field 'Type' must be a STRING");
                return None;
            }
            None => {
                self.schema(loc, "The field 'Type' is required");
                return None;
            }
        };
        self.query_language(obj, loc);
        const IO: &[&str] = &["InputPath", "OutputPath"];
        const FLOW: &[&str] = &["Next", "End"];
        let (extra, what): (Vec<&str>, &str) = match ty {
            "Pass" => (
                vec!["Parameters", "Result", "ResultPath", "Assign"],
                "a Pass state",
            ),
            "Task" => (
                vec![
                    "Parameters",
                    "ResultSelector",
                    "ResultPath",
                    "Retry",
                    "Catch",
                    "Resource",
                    "TimeoutSeconds",
                    "TimeoutSecondsPath",
                    "HeartbeatSeconds",
                    "HeartbeatSecondsPath",
                    "Assign",
                ],
                "a Task state",
            ),
            "Choice" => (vec!["Choices", "Default", "Assign"], "a Choice state"),
            "Wait" => (
                vec![
                    "Seconds",
                    "SecondsPath",
                    "Timestamp",
                    "TimestampPath",
                    "Assign",
                ],
                "a Wait state",
            ),
            "Succeed" => (vec![], "a Succeed state"),
            "Fail" => (
                vec!["Error", "ErrorPath", "Cause", "CausePath"],
                "a Fail state",
            ),
            "Parallel" => (
                vec![
                    "Parameters",
                    "ResultSelector",
                    "ResultPath",
                    "Retry",
                    "Catch",
                    "Branches",
                    "Assign",
                ],
                "a Parallel state",
            ),
            "Map" => (
                vec![
                    "Parameters",
                    "ItemSelector",
                    "ItemsPath",
                    "ItemProcessor",
                    "Iterator",
                    "MaxConcurrency",
                    "MaxConcurrencyPath",
                    "ResultSelector",
                    "ResultPath",
                    "Retry",
                    "Catch",
                    "Assign",
                ],
                "a Map state",
            ),
            other => {
                self.schema(
                    &format!("{loc}/Type"),
                    format!("'{other}' is not a valid state type"),
                );
                return None;
            }
        };
        let mut allowed = vec!["Type", "Comment", "QueryLanguage"];
        if ty != "Fail" {
            allowed.extend_from_slice(IO);
        }
        if !matches!(ty, "Choice" | "Succeed" | "Fail") {
            allowed.extend_from_slice(FLOW);
        }
        allowed.extend(extra);
        let jsonata_fields = ["Arguments", "Output", "Items", "Condition"];
        let distributed = [
            "ItemReader",
            "ItemBatcher",
            "ResultWriter",
            "ToleratedFailureCount",
            "ToleratedFailurePercentage",
            "ToleratedFailureCountPath",
            "ToleratedFailurePercentagePath",
            "Label",
        ];
        for k in obj.keys() {
            if allowed.contains(&k.as_str()) {
                continue;
            }
            let l = format!("{loc}/{}", esc(k));
            if jsonata_fields.contains(&k.as_str()) {
                self.push(
                    &l,
                    UNSUPPORTED,
                    format!("The field '{k}' belongs to JSONata mode; JSONata is not supported"),
                );
            } else if ty == "Map" && distributed.contains(&k.as_str()) {
                self.push(&l, UNSUPPORTED, format!("The field '{k}' of state '{name}' needs a distributed Map, which is not supported"));
            } else if ty == "Task" && matches!(k.as_str(), "Credentials") {
                self.push(
                    &l,
                    UNSUPPORTED,
                    format!("The field '{k}' of state '{name}' is not supported"),
                );
            } else {
                self.schema(
                    &l,
                    format!("The field '{k}' is not supported in {what} (state '{name}')"),
                );
            }
        }

        // Transitions.
        let next = self.string(obj, "Next", loc);
        let end = match obj.get("End") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.schema(&format!("{loc}/End"), "The field 'End' must be a BOOLEAN");
                false
            }
        };
        if allowed.contains(&"Next") {
            if next.is_some() && end {
                self.schema(loc, "A state must not have both 'Next' and 'End'");
            } else if next.is_none() && !end && !obj.contains_key("Next") {
                self.schema(loc, "A state must have either 'Next' or 'End': true");
            }
        }

        let input_path = if ty == "Fail" {
            IoPath::Default
        } else {
            self.io_path(obj, "InputPath", loc, false)
        };
        let output_path = if ty == "Fail" {
            IoPath::Default
        } else {
            self.io_path(obj, "OutputPath", loc, false)
        };
        let result_path = self.io_path(obj, "ResultPath", loc, true);
        let parameters = if ty == "Map" {
            if obj.contains_key("Parameters") && obj.contains_key("ItemSelector") {
                self.schema(
                    loc,
                    "A Map state must not have both 'Parameters' and 'ItemSelector'",
                );
            }
            None
        } else {
            self.template_field(obj, "Parameters", loc)
        };
        let result_selector = self.template_field(obj, "ResultSelector", loc);
        let assign = self.template_field(obj, "Assign", loc);
        let retry = self.retriers(obj, loc);
        let catch = self.catchers(obj, loc);

        let kind = match ty {
            "Pass" => Kind::Pass {
                result: obj.get("Result").cloned(),
            },
            "Task" => Kind::Task(self.task(name, obj, loc)?),
            "Choice" => {
                let l = format!("{loc}/Choices");
                let mut rules = Vec::new();
                match obj.get("Choices") {
                    Some(Value::Array(a)) if !a.is_empty() => {
                        for (i, r) in a.iter().enumerate() {
                            let rl = format!("{l}/{i}");
                            if let Some(rule) = self.choice_rule(r, &rl) {
                                rules.push(rule);
                            }
                        }
                    }
                    _ => self.schema(
                        if obj.contains_key("Choices") { &l } else { loc },
                        "The field 'Choices' is required and must be a non-empty ARRAY",
                    ),
                }
                Kind::Choice {
                    rules,
                    default: self.string(obj, "Default", loc),
                }
            }
            "Wait" => {
                let present: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
                    .into_iter()
                    .filter(|k| obj.contains_key(*k))
                    .collect();
                if present.len() != 1 {
                    self.schema(loc, "A Wait state must have exactly one of 'Seconds', 'SecondsPath', 'Timestamp' or 'TimestampPath'");
                    return None;
                }
                Kind::Wait(match present[0] {
                    "Seconds" => WaitSpec::Seconds(self.uint(obj, "Seconds", loc, 0, 99_999_999)?),
                    "Timestamp" => {
                        let s = self.string(obj, "Timestamp", loc)?;
                        match parse_timestamp(&s) {
                            Some(t) => WaitSpec::Timestamp(t),
                            None => {
                                self.schema(&format!("{loc}/Timestamp"), "The value for the field 'Timestamp' must be an ISO-8601 extended offset date-time");
                                return None;
                            }
                        }
                    }
                    key => {
                        let s = self.string(obj, key, loc)?;
                        let p = self.path(&s, &format!("{loc}/{key}"), key, true)?;
                        if key == "SecondsPath" {
                            WaitSpec::SecondsPath(p)
                        } else {
                            WaitSpec::TimestampPath(p)
                        }
                    }
                })
            }
            "Succeed" => Kind::Succeed,
            "Fail" => {
                let error = self.error_source(obj, "Error", "ErrorPath", loc);
                let cause = self.error_source(obj, "Cause", "CausePath", loc);
                Kind::Fail { error, cause }
            }
            "Parallel" => {
                let l = format!("{loc}/Branches");
                let mut branches = Vec::new();
                match obj.get("Branches") {
                    Some(Value::Array(a)) if !a.is_empty() => {
                        for (i, b) in a.iter().enumerate() {
                            if let Some(g) = self.graph(b, &format!("{l}/{i}"), false) {
                                branches.push(g);
                            }
                        }
                    }
                    _ => self.schema(
                        if obj.contains_key("Branches") {
                            &l
                        } else {
                            loc
                        },
                        "The field 'Branches' is required and must be a non-empty ARRAY",
                    ),
                }
                Kind::Parallel { branches }
            }
            "Map" => Kind::Map(self.map(name, obj, loc)?),
            _ => unreachable!("state types were checked above"),
        };
        Some(State {
            name: name.to_string(),
            kind,
            input_path,
            output_path,
            parameters,
            result_selector,
            result_path,
            assign,
            retry,
            catch,
            next,
        })
    }

    fn error_source(
        &mut self,
        obj: &Map<String, Value>,
        lit: &str,
        path: &str,
        loc: &str,
    ) -> Option<ErrorSource> {
        if obj.contains_key(lit) && obj.contains_key(path) {
            self.schema(
                loc,
                format!("A Fail state must not have both '{lit}' and '{path}'"),
            );
        }
        if let Some(s) = self.string(obj, lit, loc) {
            return Some(ErrorSource::Literal(s));
        }
        let s = self.string(obj, path, loc)?;
        let l = format!("{loc}/{path}");
        if s.starts_with('$') {
            self.path(&s, &l, path, false).map(ErrorSource::Path)
        } else if intrinsics::looks_like_call(&s) {
            match intrinsics::parse(&s) {
                Ok(c) => Some(ErrorSource::Intrinsic(c)),
                Err(e) => {
                    self.schema(&l, e);
                    None
                }
            }
        } else {
            self.schema(&l, format!("The value for the field '{path}' must be a valid JSONPath or intrinsic function"));
            None
        }
    }

    fn seconds(&mut self, obj: &Map<String, Value>, fixed: &str, path: &str, loc: &str) -> Seconds {
        if obj.contains_key(fixed) && obj.contains_key(path) {
            self.schema(loc, format!("'{fixed}' and '{path}' must not both be set"));
        }
        if let Some(n) = self.uint(obj, fixed, loc, 1, 99_999_999) {
            return Seconds::Fixed(n);
        }
        if let Some(s) = self.string(obj, path, loc) {
            if let Some(p) = self.path(&s, &format!("{loc}/{path}"), path, true) {
                return Seconds::Path(p);
            }
        }
        Seconds::None
    }

    fn task(&mut self, name: &str, obj: &Map<String, Value>, loc: &str) -> Option<TaskDef> {
        let Some(resource) = self.string(obj, "Resource", loc) else {
            if !obj.contains_key("Resource") {
                self.schema(loc, "The field 'Resource' is required");
            }
            return None;
        };
        let rl = format!("{loc}/Resource");
        let target = if let Some(rest) = resource.strip_prefix("arn:aws:states:::") {
            let (service, action) = rest.split_once(':').unwrap_or((rest, ""));
            if action.ends_with(".sync")
                || action.contains(".sync:")
                || action.ends_with(".waitForTaskToken")
            {
                self.push(&rl, UNSUPPORTED, format!("The resource '{resource}' of state '{name}' uses a .sync or .waitForTaskToken pattern, which Express workflows do not support"));
                return None;
            }
            if service.is_empty() || action.is_empty() {
                self.schema(&rl, format!("'{resource}' is not a valid resource ARN"));
                return None;
            }
            if service == "lambda" && action == "invoke" {
                let fname = obj
                    .get("Parameters")
                    .and_then(Value::as_object)
                    .is_some_and(|p| {
                        p.contains_key("FunctionName") || p.contains_key("FunctionName.$")
                    });
                if !fname {
                    self.schema(&format!("{loc}/Parameters"), "The field 'FunctionName' is required in the Parameters of a lambda:invoke Task");
                }
                Target::LambdaInvoke
            } else {
                Target::Service {
                    service: service.to_string(),
                    action: action.to_string(),
                }
            }
        } else if resource.starts_with("arn:aws:lambda:") && resource.contains(":function:") {
            Target::LambdaArn
        } else if resource.starts_with("arn:aws:states:") && resource.contains(":activity:") {
            self.push(&rl, UNSUPPORTED, format!("Activities (resource '{resource}' of state '{name}') are not supported by Express workflows"));
            return None;
        } else {
            self.schema(&rl, format!("'{resource}' is not a supported resource ARN"));
            return None;
        };
        let timeout = self.seconds(obj, "TimeoutSeconds", "TimeoutSecondsPath", loc);
        let heartbeat = self.seconds(obj, "HeartbeatSeconds", "HeartbeatSecondsPath", loc);
        if let (Seconds::Fixed(t), Seconds::Fixed(h)) = (&timeout, &heartbeat) {
            if h >= t {
                self.schema(
                    &format!("{loc}/HeartbeatSeconds"),
                    "'HeartbeatSeconds' must be smaller than 'TimeoutSeconds'",
                );
            }
        }
        Some(TaskDef {
            resource,
            target,
            timeout,
            heartbeat,
        })
    }

    fn map(&mut self, name: &str, obj: &Map<String, Value>, loc: &str) -> Option<MapDef> {
        let (key, proc_val) = match (obj.get("ItemProcessor"), obj.get("Iterator")) {
            (Some(p), None) => ("ItemProcessor", p),
            (None, Some(i)) => ("Iterator", i),
            (Some(_), Some(_)) => {
                self.schema(
                    loc,
                    "A Map state must not have both 'ItemProcessor' and 'Iterator'",
                );
                return None;
            }
            (None, None) => {
                self.schema(loc, "The field 'ItemProcessor' is required");
                return None;
            }
        };
        let pl = format!("{loc}/{key}");
        if let Some(cfg) = proc_val.get("ProcessorConfig") {
            let cl = format!("{pl}/ProcessorConfig");
            match cfg.as_object() {
                Some(c) => {
                    self.check_fields(c, &cl, &["Mode", "ExecutionType"], "ProcessorConfig");
                    match c.get("Mode").and_then(Value::as_str) {
                        None | Some("INLINE") => {}
                        Some("DISTRIBUTED") => self.push(
                            &format!("{cl}/Mode"),
                            UNSUPPORTED,
                            format!("State '{name}': distributed Map is not supported"),
                        ),
                        Some(other) => self.schema(
                            &format!("{cl}/Mode"),
                            format!("'{other}' is not a valid Map mode"),
                        ),
                    }
                }
                None => self.schema(&cl, "ProcessorConfig must be an OBJECT"),
            }
        }
        let processor = self.graph(proc_val, &pl, false)?;
        let items_path = match self.string(obj, "ItemsPath", loc) {
            Some(s) => self.path(&s, &format!("{loc}/ItemsPath"), "ItemsPath", true),
            None => None,
        };
        let item_selector = self
            .template_field(obj, "ItemSelector", loc)
            .or_else(|| self.template_field(obj, "Parameters", loc));
        let max_concurrency =
            if obj.contains_key("MaxConcurrency") && obj.contains_key("MaxConcurrencyPath") {
                self.schema(
                    loc,
                    "'MaxConcurrency' and 'MaxConcurrencyPath' must not both be set",
                );
                Seconds::None
            } else if let Some(n) = self.uint(obj, "MaxConcurrency", loc, 0, 99_999_999) {
                Seconds::Fixed(n)
            } else if let Some(s) = self.string(obj, "MaxConcurrencyPath", loc) {
                self.path(
                    &s,
                    &format!("{loc}/MaxConcurrencyPath"),
                    "MaxConcurrencyPath",
                    true,
                )
                .map_or(Seconds::None, Seconds::Path)
            } else {
                Seconds::None
            };
        Some(MapDef {
            processor,
            items_path,
            item_selector,
            max_concurrency,
        })
    }

    fn choice_rule(&mut self, v: &Value, loc: &str) -> Option<ChoiceRule> {
        let obj = v.as_object();
        let next = obj.and_then(|o| o.get("Next"));
        let next = match next {
            Some(Value::String(s)) => s.clone(),
            _ => {
                self.schema(loc, "A top-level Choice rule must have a STRING 'Next'");
                String::new()
            }
        };
        let assign = obj.and_then(|o| self.template_field(o, "Assign", loc));
        let condition = self.condition(v, loc, true)?;
        Some(ChoiceRule {
            condition,
            next,
            assign,
        })
    }

    fn condition(&mut self, v: &Value, loc: &str, top: bool) -> Option<Condition> {
        let Some(obj) = v.as_object() else {
            self.schema(loc, "A Choice rule must be an OBJECT");
            return None;
        };
        if obj.contains_key("Condition") {
            self.push(
                &format!("{loc}/Condition"),
                UNSUPPORTED,
                "The field 'Condition' belongs to JSONata mode; JSONata is not supported",
            );
            return None;
        }
        if !top && obj.contains_key("Next") {
            self.schema(
                &format!("{loc}/Next"),
                "Nested Choice rules must not have 'Next'",
            );
        }
        let mut ops = Vec::new();
        for k in obj.keys() {
            match k.as_str() {
                "Next" | "Comment" | "Variable" => {}
                "Assign" if top => {}
                "And" | "Or" | "Not" => ops.push(k.clone()),
                other => {
                    let known = comparison(other).is_some();
                    if known {
                        ops.push(k.clone());
                    } else {
                        self.schema(
                            &format!("{loc}/{}", esc(k)),
                            format!("The field '{k}' is not supported in a Choice rule"),
                        );
                    }
                }
            }
        }
        if ops.len() != 1 {
            self.schema(
                loc,
                "A Choice rule must have exactly one comparison operator or one of And, Or, Not",
            );
            return None;
        }
        let op = ops.remove(0);
        let ol = format!("{loc}/{op}");
        match op.as_str() {
            "And" | "Or" => {
                let Some(a) = obj[&op].as_array().filter(|a| !a.is_empty()) else {
                    self.schema(
                        &ol,
                        format!("The field '{op}' must be a non-empty ARRAY of rules"),
                    );
                    return None;
                };
                if obj.contains_key("Variable") {
                    self.schema(
                        &format!("{loc}/Variable"),
                        format!("'Variable' must not be set beside '{op}'"),
                    );
                }
                let mut subs = Vec::new();
                for (i, r) in a.iter().enumerate() {
                    subs.push(self.condition(r, &format!("{ol}/{i}"), false)?);
                }
                Some(if op == "And" {
                    Condition::And(subs)
                } else {
                    Condition::Or(subs)
                })
            }
            "Not" => {
                let sub = self.condition(&obj[&op], &ol, false)?;
                Some(Condition::Not(Box::new(sub)))
            }
            _ => {
                let Some(var) = obj.get("Variable") else {
                    self.schema(loc, "The field 'Variable' is required in a comparison rule");
                    return None;
                };
                let Some(var_s) = var.as_str() else {
                    self.schema(
                        &format!("{loc}/Variable"),
                        "The field 'Variable' must be a STRING",
                    );
                    return None;
                };
                let variable = self.path(var_s, &format!("{loc}/Variable"), "Variable", false)?;
                let (base, is_path) = comparison(&op)?;
                let lit_type = base.literal_type();
                let val = &obj[&op];
                let operand = if is_path {
                    let Some(s) = val.as_str() else {
                        self.schema(
                            &ol,
                            format!("The value for the field '{op}' must be a STRING path"),
                        );
                        return None;
                    };
                    Operand::Path(self.path(s, &ol, &op, false)?)
                } else {
                    let ok = match lit_type {
                        LitType::String => val.is_string(),
                        LitType::Number => val.is_number(),
                        LitType::Bool => val.is_boolean(),
                        LitType::Timestamp => val.as_str().and_then(parse_timestamp).is_some(),
                    };
                    if !ok {
                        let want = match lit_type {
                            LitType::String => "a STRING",
                            LitType::Number => "a NUMBER",
                            LitType::Bool => "a BOOLEAN",
                            LitType::Timestamp => "an ISO-8601 timestamp STRING",
                        };
                        self.schema(
                            &ol,
                            format!("The value for the field '{op}' must be {want}"),
                        );
                        return None;
                    }
                    Operand::Literal(val.clone())
                };
                Some(Condition::Test {
                    variable,
                    op: base,
                    operand,
                })
            }
        }
    }
}

pub(crate) fn load(def: &Value) -> Result<Parsed, DefinitionError> {
    let mut l = Loader { diags: Vec::new() };
    let timeout_seconds = def
        .as_object()
        .and_then(|o| l.uint(o, "TimeoutSeconds", "", 1, 99_999_999));
    let graph = l.graph(def, "", true);
    names_unique_across_the_machine(def, "", &mut HashSet::new(), &mut l.diags);
    // Root-level diagnostics have an empty pointer; show them as "/".
    for d in &mut l.diags {
        if d.location.is_empty() {
            d.location = "/".to_string();
        }
    }
    match graph {
        Some(graph) if l.diags.is_empty() => Ok(Parsed {
            graph,
            timeout_seconds,
        }),
        _ => Err(DefinitionError {
            diagnostics: l.diags,
        }),
    }
}

/// State names are unique in the whole state machine, Parallel branches and Map processors included, as AWS's
/// validation requires: the same name in two branches is `DUPLICATE_STATE_NAME` at its second occurrence.
/// (Two equal keys in one `States` object never reach a `Value`; [`duplicate_state_names`] scans the text for
/// those.)
fn names_unique_across_the_machine(
    graph: &Value,
    loc: &str,
    seen: &mut HashSet<String>,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(states) = graph.get("States").and_then(Value::as_object) else {
        return;
    };
    for (name, state) in states {
        let state_loc = format!("{loc}/States/{}", esc(name));
        if !seen.insert(name.clone()) {
            diags.push(Diagnostic {
                location: state_loc.clone(),
                code: DUPLICATE.into(),
                message: format!("Duplicate state name: {name}"),
            });
        }
        if let Some(branches) = state.get("Branches").and_then(Value::as_array) {
            for (i, branch) in branches.iter().enumerate() {
                names_unique_across_the_machine(
                    branch,
                    &format!("{state_loc}/Branches/{i}"),
                    seen,
                    diags,
                );
            }
        }
        for key in ["ItemProcessor", "Iterator"] {
            if let Some(processor) = state.get(key) {
                names_unique_across_the_machine(
                    processor,
                    &format!("{state_loc}/{key}"),
                    seen,
                    diags,
                );
            }
        }
    }
}

pub(crate) fn invalid_json(e: &serde_json::Error) -> DefinitionError {
    DefinitionError {
        diagnostics: vec![Diagnostic {
            location: "/".into(),
            code: INVALID_JSON.into(),
            message: format!("The definition is not valid JSON: {e}"),
        }],
    }
}

/// Duplicate state names cannot be seen once serde has parsed the text, so the raw text is
/// scanned for repeated keys inside each `States` object.
pub(crate) fn duplicate_state_names(text: &str) -> Vec<Diagnostic> {
    use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};

    struct Scan<'a> {
        loc: String,
        states: bool,
        out: &'a std::cell::RefCell<Vec<Diagnostic>>,
    }
    impl<'de> serde::de::DeserializeSeed<'de> for Scan<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Scan<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("json")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
            let mut seen = HashSet::new();
            while let Some(k) = m.next_key::<String>()? {
                let loc = format!("{}/{}", self.loc, esc(&k));
                if self.states && !seen.insert(k.clone()) {
                    self.out.borrow_mut().push(Diagnostic {
                        location: loc.clone(),
                        code: DUPLICATE.into(),
                        message: format!("Duplicate state name: {k}"),
                    });
                }
                m.next_value_seed(Scan {
                    loc,
                    states: k == "States" && !self.states,
                    out: self.out,
                })?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
            let mut i = 0;
            while s
                .next_element_seed(Scan {
                    loc: format!("{}/{i}", self.loc),
                    states: false,
                    out: self.out,
                })?
                .is_some()
            {
                i += 1;
            }
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    let out = std::cell::RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_str(text);
    let _ = serde::de::DeserializeSeed::deserialize(
        Scan {
            loc: String::new(),
            states: false,
            out: &out,
        },
        &mut de,
    );
    out.into_inner()
}
