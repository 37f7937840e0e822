//! What a state's paths and templates see besides their input: the context object (`$$`),
//! variables, the Map item and the retry count; and how ResultPath merges a result back.

use super::run::Run;
use super::{Failure, Vars};
use crate::definition::IoPath;
use crate::envelope::TaskResult;
use crate::intrinsics::{self, IntrinsicError};
use crate::path::{check_set, compact, set_in_place, JsonPath, Root, Segment};
use crate::template::{Dynamic, Field, Template};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::fmt::Write as _;

impl Run {
    /// The whole context object (`$$`), for the paths that cannot be evaluated on one part of it.
    pub(super) fn context(
        &self,
        st: &StateCtx,
        retry: Option<u32>,
        item: Option<(usize, &Value)>,
    ) -> Value {
        if let Some(given) = &self.context_override {
            let mut ctx = given.clone();
            if let (Some((i, v)), Value::Object(m)) = (item, &mut ctx) {
                m.insert("Map".into(), json!({"Item": {"Index": i, "Value": v}}));
            }
            return ctx;
        }
        let mut ctx = Map::with_capacity(4);
        for part in ["Execution", "StateMachine", "State", "Map"] {
            if let Some(v) = self.context_part(part, st, retry, item) {
                ctx.insert(part.into(), v);
            }
        }
        Value::Object(ctx)
    }

    /// One top-level field of the context object.
    fn context_part(
        &self,
        part: &str,
        st: &StateCtx,
        retry: Option<u32>,
        item: Option<(usize, &Value)>,
    ) -> Option<Value> {
        Some(match part {
            "Execution" => json!({
                "Id": self.execution_arn,
                "Input": self.input,
                "Name": self.name,
                "RoleArn": self.role_arn,
                "StartTime": fmt_time(&self.start_date),
                "RedriveCount": 0,
            }),
            "StateMachine" => json!({
                "Id": self.state_machine_arn,
                "Name": self.state_machine_name,
            }),
            "State" => state_context(st, retry),
            "Map" => {
                let (i, v) = item?;
                json!({"Item": {"Index": i, "Value": v}})
            }
            _ => return None,
        })
    }

    /// `$$.PART.FIELD` without building PART: what nearly every context path reads.
    fn context_field<'r>(
        &'r self,
        part: &str,
        field: &str,
        st: &StateCtx,
        retry: Option<u32>,
    ) -> Option<Cow<'r, Value>> {
        let text = |s: &str| Some(Cow::Owned(Value::String(s.to_string())));
        match (part, field) {
            ("Execution", "Id") => text(&self.execution_arn),
            ("Execution", "Input") => Some(Cow::Borrowed(&self.input)),
            ("Execution", "Name") => text(&self.name),
            ("Execution", "RoleArn") => text(&self.role_arn),
            ("Execution", "StartTime") => text(&fmt_time(&self.start_date)),
            ("Execution", "RedriveCount") => Some(Cow::Owned(json!(0))),
            ("StateMachine", "Id") => text(&self.state_machine_arn),
            ("StateMachine", "Name") => text(&self.state_machine_name),
            ("State", "Name") => text(st.name),
            ("State", "EnteredTime") => text(&fmt_time(&st.entered_time)),
            ("State", "RetryCount") => retry.map(|r| Cow::Owned(json!(r))),
            _ => None,
        }
    }
}

fn state_context(st: &StateCtx, retry: Option<u32>) -> Value {
    let mut state = json!({
        "Name": st.name,
        "EnteredTime": fmt_time(&st.entered_time),
    });
    if let Some(r) = retry {
        state["RetryCount"] = json!(r);
    }
    state
}

/// `%Y-%m-%dT%H:%M:%S%.3fZ`, written directly: chrono's formatter re-reads the pattern on every
/// call, and every `$$.State` lookup and execution start renders a time.
fn fmt_time(t: &DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    if !(0..=9999).contains(&t.year()) {
        return t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    }
    let nanos = t.nanosecond();
    let mut s = String::with_capacity(24);
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        // A leap second shows as :60, as chrono renders it.
        t.second() + nanos / 1_000_000_000,
        nanos % 1_000_000_000 / 1_000_000
    );
    s
}

/// The state being run, for the context object and for runtime-error causes.
pub(super) struct StateCtx<'a> {
    pub(super) name: &'a str,
    pub(super) entered_id: u64,
    pub(super) entered_time: DateTime<Utc>,
}

impl StateCtx<'_> {
    pub(super) fn runtime(&self, msg: impl std::fmt::Display) -> Failure {
        Failure::Runtime(format!(
            "An error occurred while executing the state '{}' (entered at the event id #{}). {msg}",
            self.name, self.entered_id
        ))
    }
}

/// What paths and templates may see besides their input.
#[derive(Clone, Copy)]
pub(super) struct Env<'a> {
    pub(super) run: &'a Run,
    pub(super) st: &'a StateCtx<'a>,
    pub(super) vars: &'a Vars,
    pub(super) retry: Option<u32>,
    pub(super) item: Option<(usize, &'a Value)>,
    /// Leading segments of every state-data path already followed to the input given: 1 when a
    /// ResultSelector runs on a Lambda payload in place of its `{"Payload": ...}` envelope.
    pub(super) input_skip: usize,
}

impl<'a> Env<'a> {
    /// The environment of a state's own fields: no retry count, no Map item, paths from the top.
    pub(super) fn new(run: &'a Run, st: &'a StateCtx<'a>, vars: &'a Vars) -> Self {
        Self {
            run,
            st,
            vars,
            retry: None,
            item: None,
            input_skip: 0,
        }
    }

    pub(super) fn resolve(&self, path: &JsonPath, input: &Value) -> Result<Value, String> {
        match &path.root {
            Root::Input if self.input_skip > 0 => {
                path.eval_within(input, self.input_skip).map_err(|m| m.0)
            }
            Root::Input => path.eval(input).map_err(|m| m.0),
            Root::Context if self.run.context_override.is_some() => {
                let ctx = self.run.context(self.st, self.retry, self.item);
                path.eval(&ctx).map_err(|m| m.0)
            }
            Root::Context => {
                // Nearly every context path names a field (`$$.Execution.Name`,
                // `$$.State.RetryCount`) or one part of it; only that much is built.
                let (run, st, retry) = (self.run, self.st, self.retry);
                let found = match path.segments.as_slice() {
                    [Segment::Name(part), Segment::Name(field), ..] if path.is_definite() => run
                        .context_field(part, field, st, retry)
                        .map(|v| (v, 2))
                        .or_else(|| {
                            let v = run.context_part(part, st, retry, self.item)?;
                            Some((Cow::Owned(v), 1))
                        }),
                    [Segment::Name(part), ..] if path.is_definite() => run
                        .context_part(part, st, retry, self.item)
                        .map(|v| (Cow::Owned(v), 1)),
                    _ => None,
                };
                match found {
                    Some((v, skip)) if skip == path.segments.len() => Ok(v.into_owned()),
                    Some((v, skip)) => path.eval_within(&v, skip),
                    None => path.eval(&run.context(st, retry, self.item)),
                }
                .map_err(|m| m.0)
            }
            Root::Variable(name) => match self.vars.get(name) {
                Some(v) => path.eval(v).map_err(|m| m.0),
                None => Err(format!("The variable '{name}' is not defined")),
            },
        }
    }

    /// Like [`Env::resolve`], borrowing the node when a definite path names one in `input`.
    pub(super) fn resolve_ref<'v>(
        &self,
        path: &JsonPath,
        input: &'v Value,
    ) -> Result<Cow<'v, Value>, String> {
        match path.root {
            Root::Input if path.is_definite() => path
                .find_within(input, self.input_skip)
                .map(Cow::Borrowed)
                .map_err(|m| m.0),
            _ => self.resolve(path, input).map(Cow::Owned),
        }
    }

    /// InputPath / ItemsPath style evaluation; the default `$` borrows the input.
    pub(super) fn select<'v>(
        &self,
        p: &IoPath,
        input: &'v Value,
    ) -> Result<Cow<'v, Value>, Failure> {
        match p {
            IoPath::Default => Ok(Cow::Borrowed(input)),
            IoPath::Null => Ok(Cow::Owned(Value::Object(Map::new()))),
            IoPath::Path(path) => self.resolve(path, input).map(Cow::Owned).map_err(|m| {
                self.st
                    .runtime(format!("Invalid path '{}' : {m}", path.text))
            }),
        }
    }

    /// Like [`Env::select`] on a value the state owns, which the default passes on.
    pub(super) fn select_owned(&self, p: &IoPath, input: Value) -> Result<Value, Failure> {
        match p {
            IoPath::Default => Ok(input),
            _ => self.select(p, &input).map(Cow::into_owned),
        }
    }

    pub(super) fn template(&self, tpl: &Template, input: &Value) -> Result<Value, Failure> {
        match tpl {
            Template::Literal(v) => Ok(v.clone()),
            Template::Object(fields) => {
                let mut out = Map::with_capacity(fields.len());
                for (name, field) in fields {
                    out.insert(name.clone(), self.field(field, input)?);
                }
                Ok(Value::Object(out))
            }
            Template::Array(items) => Ok(Value::Array(
                items
                    .iter()
                    .map(|x| self.template(x, input))
                    .collect::<Result<_, _>>()?,
            )),
        }
    }

    pub(super) fn field(&self, field: &Field, input: &Value) -> Result<Value, Failure> {
        match field {
            Field::Nested(t) => self.template(t, input),
            Field::Dynamic { key, expr } => self.dynamic(expr, key, input),
        }
    }

    /// ResultSelector. On a Lambda envelope whose `Payload` is all the selector reads, its paths
    /// are followed from the payload and the envelope is never built; on any failure it runs
    /// again on the whole envelope, so that the cause quotes that as AWS does.
    pub(super) fn select_result(
        &self,
        sel: &Template,
        result: TaskResult,
    ) -> Result<Value, Failure> {
        let envelope = match result {
            TaskResult::Lambda(e) if sel.reads_input_only_under("Payload") => e,
            other => return self.template(sel, &other.into_value()),
        };
        let on_payload = Env {
            input_skip: 1,
            ..*self
        };
        match on_payload.template(sel, &envelope.payload) {
            Ok(v) => Ok(v),
            Err(_) => self.template(sel, &envelope.build()),
        }
    }

    /// The value of a `.$` field: a path or an intrinsic call.
    pub(super) fn dynamic(
        &self,
        expr: &Dynamic,
        field: &str,
        input: &Value,
    ) -> Result<Value, Failure> {
        match expr {
            Dynamic::Path(path) => self.dynamic_path(path, field, input),
            Dynamic::Call(call) => self.call(call, field, input),
            Dynamic::Invalid(e) => Err(self.st.runtime(e)),
        }
    }

    /// A path in a `.$` field, `ErrorPath` or `CausePath`.
    pub(super) fn dynamic_path(
        &self,
        path: &JsonPath,
        field: &str,
        input: &Value,
    ) -> Result<Value, Failure> {
        self.resolve(path, input).map_err(|_| {
            self.st.runtime(format!(
                "The JSONPath '{}' specified for the field '{field}' could not be found in the input '{}'",
                path.text,
                compact(input)
            ))
        })
    }

    pub(super) fn call(
        &self,
        call: &intrinsics::Call,
        field: &str,
        input: &Value,
    ) -> Result<Value, Failure> {
        intrinsics::eval(call, &mut |p| self.resolve(p, input)).map_err(|e| match e {
            IntrinsicError::Path(p) => self.st.runtime(format!(
                "The JSONPath '{}' specified for the field '{field}' could not be found in the input '{}'",
                p.text,
                compact(input)
            )),
            IntrinsicError::Function(m) => self.st.runtime(m),
        })
    }
}

/// Whether `ResultPath` can merge a result into `raw`, checked without changing it.
///
/// The language specification names this failure `States.ResultPathMatchFailure`, but AWS reports a path that
/// cannot be applied to the input (`$.result` on a string, say) as `States.ReferencePathConflict`, with the cause
/// "Unable to apply ReferencePath … to input …"; a Catch that matches the name must see what AWS gives.
pub(super) fn check_result_path(rp: &IoPath, raw: &Value) -> Result<(), Failure> {
    match rp {
        IoPath::Path(p) => {
            check_set(raw, p).map_err(|m| Failure::error("States.ReferencePathConflict", m))
        }
        IoPath::Default | IoPath::Null => Ok(()),
    }
}

/// Applies `ResultPath` (default `$`) to merge `result` into the raw input, which it consumes.
pub(super) fn apply_result_path(rp: &IoPath, raw: Value, result: Value) -> Result<Value, Failure> {
    match rp {
        IoPath::Default => Ok(result),
        IoPath::Null => Ok(raw),
        IoPath::Path(p) => {
            check_result_path(rp, &raw)?;
            let mut out = raw;
            set_in_place(&mut out, p, result);
            Ok(out)
        }
    }
}

pub(super) fn assign_values(
    env: &Env,
    assign: &Option<Template>,
    input: &Value,
) -> Result<Option<Map<String, Value>>, Failure> {
    match assign {
        None => Ok(None),
        Some(tpl) => match env.template(tpl, input)? {
            Value::Object(m) => Ok(Some(m)),
            _ => Ok(None),
        },
    }
}

pub(super) fn commit_vars(vars: &mut Vars, new: Option<Map<String, Value>>) {
    if let Some(m) = new {
        for (k, v) in m {
            vars.insert(k, v);
        }
    }
}
