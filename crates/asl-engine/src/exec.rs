//! The interpreter.
//!
//! A graph (the machine, a Parallel branch or a Map iteration) runs state by state. Each state
//! follows the JSONPath pipeline of its type (InputPath → Parameters → work → ResultSelector →
//! ResultPath → OutputPath), and failures travel as [`Failure`] values:
//! - `Error` is an ordinary named error that Retry and Catch may handle;
//! - `Runtime` is `States.Runtime`, which AWS never lets a Retry or Catch see;
//! - `Abort` ends the whole execution on the spot.
//!
//! Everything that waits (retry back-off, Wait states, timeouts) uses tokio time.

use crate::definition::{
    Catcher, ChoiceRule, Condition, ErrorSource, Graph, IoPath, Kind, MapDef, Operand, Retrier,
    Seconds, State, Target, TaskDef, WaitSpec,
};
use crate::envelope::{Envelope, TaskResult};
use crate::intrinsics::{self, IntrinsicError};
use crate::path::{check_set, compact, set_in_place, JsonPath, Root, Segment};
use crate::result::{ExecutionResult, ExecutionStatus, HistoryEvent};
use crate::template::{Dynamic, Field, Template};
use crate::{
    ExecutionOptions, InvokeRequest, InvokeResponse, ResourceKind, Resources, StateMachine,
};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Express executions stop after five minutes whatever the definition says.
const EXPRESS_MAX_SECONDS: u64 = 300;

#[derive(Debug, Clone)]
pub(crate) enum Failure {
    Error {
        error: Option<String>,
        cause: Option<String>,
    },
    Runtime(String),
    Abort,
}

impl Failure {
    fn error(error: impl Into<String>, cause: impl Into<String>) -> Failure {
        Failure::Error {
            error: Some(error.into()),
            cause: Some(cause.into()),
        }
    }
}

type Vars = Map<String, Value>;

struct Events {
    next_id: u64,
    list: Vec<HistoryEvent>,
}

/// Everything an execution shares across its states, branches and iterations.
pub(crate) struct Run {
    resources: Arc<dyn Resources>,
    time_scale: f64,
    record: bool,
    execution_arn: String,
    name: String,
    role_arn: String,
    state_machine_arn: String,
    state_machine_name: String,
    input: Value,
    start_date: DateTime<Utc>,
    start_instant: tokio::time::Instant,
    events: Mutex<Events>,
}

impl Run {
    /// Wall-clock now, advanced by tokio's clock so that paused-time tests see consistent dates.
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.start_instant.elapsed();
        self.start_date + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }

    fn scaled(&self, seconds: f64) -> Duration {
        // A huge time_scale must mean "practically never", not a panic in Duration.
        Duration::try_from_secs_f64((seconds * self.time_scale).max(0.0)).unwrap_or(Duration::MAX)
    }

    /// Numbers an event; names it, builds and stores its details only when history is recorded.
    fn event(&self, event_type: impl std::fmt::Display, details: impl FnOnce() -> Value) -> u64 {
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

    /// The whole context object (`$$`), for the paths that cannot be evaluated on one part of it.
    fn context(&self, st: &StateCtx, retry: Option<u32>, item: Option<(usize, &Value)>) -> Value {
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

/// A random (version 4) UUID from the thread's generator; `Uuid::new_v4` asks the kernel for
/// each one, and every execution and Lambda call takes a few.
pub(crate) fn random_uuid() -> uuid::Uuid {
    use rand::Rng;
    uuid::Builder::from_random_bytes(rand::rng().random()).into_uuid()
}

/// The state being run, for the context object and for runtime-error causes.
struct StateCtx<'a> {
    name: &'a str,
    entered_id: u64,
    entered_time: DateTime<Utc>,
}

impl StateCtx<'_> {
    fn runtime(&self, msg: impl std::fmt::Display) -> Failure {
        Failure::Runtime(format!(
            "An error occurred while executing the state '{}' (entered at the event id #{}). {msg}",
            self.name, self.entered_id
        ))
    }
}

/// What paths and templates may see besides their input.
#[derive(Clone, Copy)]
struct Env<'a> {
    run: &'a Run,
    st: &'a StateCtx<'a>,
    vars: &'a Vars,
    retry: Option<u32>,
    item: Option<(usize, &'a Value)>,
    /// Leading segments of every state-data path already followed to the input given: 1 when a
    /// ResultSelector runs on a Lambda payload in place of its `{"Payload": ...}` envelope.
    input_skip: usize,
}

impl<'a> Env<'a> {
    /// The environment of a state's own fields: no retry count, no Map item, paths from the top.
    fn new(run: &'a Run, st: &'a StateCtx<'a>, vars: &'a Vars) -> Self {
        Self {
            run,
            st,
            vars,
            retry: None,
            item: None,
            input_skip: 0,
        }
    }

    fn resolve(&self, path: &JsonPath, input: &Value) -> Result<Value, String> {
        match &path.root {
            Root::Input if self.input_skip > 0 => {
                path.eval_within(input, self.input_skip).map_err(|m| m.0)
            }
            Root::Input => path.eval(input).map_err(|m| m.0),
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
    fn resolve_ref<'v>(&self, path: &JsonPath, input: &'v Value) -> Result<Cow<'v, Value>, String> {
        match path.root {
            Root::Input if path.is_definite() => path
                .find_within(input, self.input_skip)
                .map(Cow::Borrowed)
                .map_err(|m| m.0),
            _ => self.resolve(path, input).map(Cow::Owned),
        }
    }

    /// InputPath / ItemsPath style evaluation; the default `$` borrows the input.
    fn select<'v>(&self, p: &IoPath, input: &'v Value) -> Result<Cow<'v, Value>, Failure> {
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
    fn select_owned(&self, p: &IoPath, input: Value) -> Result<Value, Failure> {
        match p {
            IoPath::Default => Ok(input),
            _ => self.select(p, &input).map(Cow::into_owned),
        }
    }

    fn template(&self, tpl: &Template, input: &Value) -> Result<Value, Failure> {
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

    fn field(&self, field: &Field, input: &Value) -> Result<Value, Failure> {
        match field {
            Field::Nested(t) => self.template(t, input),
            Field::Dynamic { key, expr } => self.dynamic(expr, key, input),
        }
    }

    /// `Parameters` of a `lambda:invoke` Task, as the two fields the call uses: `FunctionName`
    /// and `Payload`. Any other field is still evaluated, so that its failure fails the state as
    /// it would have, and then dropped, as the whole object would have been.
    fn invoke_parameters(&self, tpl: &Template, input: &Value) -> Result<InvokeParts, Failure> {
        let Template::Object(fields) = tpl else {
            return Ok(InvokeParts::of(&self.template(tpl, input)?));
        };
        let mut parts = InvokeParts::default();
        for (name, field) in fields {
            let v = self.field(field, input)?;
            match name.as_str() {
                "FunctionName" => parts.function_name = Some(v),
                "Payload" => parts.payload = Some(v),
                _ => {}
            }
        }
        Ok(parts)
    }

    /// ResultSelector. On a Lambda envelope whose `Payload` is all the selector reads, its paths
    /// are followed from the payload and the envelope is never built; on any failure it runs
    /// again on the whole envelope, so that the cause quotes that as AWS does.
    fn select_result(&self, sel: &Template, result: TaskResult) -> Result<Value, Failure> {
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
    fn dynamic(&self, expr: &Dynamic, field: &str, input: &Value) -> Result<Value, Failure> {
        match expr {
            Dynamic::Path(path) => self.dynamic_path(path, field, input),
            Dynamic::Call(call) => self.call(call, field, input),
            Dynamic::Invalid(e) => Err(self.st.runtime(e)),
        }
    }

    /// A path in a `.$` field, `ErrorPath` or `CausePath`.
    fn dynamic_path(&self, path: &JsonPath, field: &str, input: &Value) -> Result<Value, Failure> {
        self.resolve(path, input).map_err(|_| {
            self.st.runtime(format!(
                "The JSONPath '{}' specified for the field '{field}' could not be found in the input '{}'",
                path.text,
                compact(input)
            ))
        })
    }

    fn call(&self, call: &intrinsics::Call, field: &str, input: &Value) -> Result<Value, Failure> {
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
fn check_result_path(rp: &IoPath, raw: &Value) -> Result<(), Failure> {
    match rp {
        IoPath::Path(p) => {
            check_set(raw, p).map_err(|m| Failure::error("States.ReferencePathConflict", m))
        }
        IoPath::Default | IoPath::Null => Ok(()),
    }
}

/// Applies `ResultPath` (default `$`) to merge `result` into the raw input, which it consumes.
fn apply_result_path(rp: &IoPath, raw: Value, result: Value) -> Result<Value, Failure> {
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

/// Step Functions' payload limit for inputs, outputs and task results (UTF-8 bytes).
const MAX_PAYLOAD_BYTES: usize = 262_144;

enum Step {
    Next(String, Value),
    End(Value),
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
        random_uuid()
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
        .unwrap_or_else(|| random_uuid().to_string());
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

fn failure_details(error: &Option<String>, cause: &Option<String>) -> Value {
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
fn run_graph(
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

fn finish(state: &State, out: Value) -> Step {
    match &state.next {
        Some(n) => Step::Next(n.clone(), out),
        None => Step::End(out),
    }
}

fn assign_values(
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

fn commit_vars(vars: &mut Vars, new: Option<Map<String, Value>>) {
    if let Some(m) = new {
        for (k, v) in m {
            vars.insert(k, v);
        }
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
    let exited = |out: &Value| {
        run.event(format_args!("{prefix}StateExited"), || {
            json!({"name": state.name, "output": compact(out), "outputDetails": {"truncated": false}})
        });
    };
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
            commit_vars(vars, new_vars);
            exited(&out);
            Ok(finish(state, out))
        }
        Kind::Succeed => {
            let env = Env::new(run, &st, vars);
            let eff = env.select_owned(&state.input_path, raw)?;
            let out = env.select_owned(&state.output_path, eff)?;
            exited(&out);
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
            let mut chosen: Option<&ChoiceRule> = None;
            for rule in rules {
                if eval_condition(&env, &rule.condition, &eff)? {
                    chosen = Some(rule);
                    break;
                }
            }
            let (next, rule_assign) = match chosen {
                Some(r) => (r.next.clone(), r.assign.as_ref()),
                None => match default {
                    Some(d) => (d.clone(), None),
                    None => {
                        return Err(Failure::error(
                            "States.NoChoiceMatched",
                            format!("No Matches! at state '{}'", state.name),
                        ))
                    }
                },
            };
            let mut new_vars = assign_values(&env, &state.assign, &eff)?;
            if let Some(a) = rule_assign {
                if let Value::Object(m) = env.template(a, &eff)? {
                    new_vars.get_or_insert_with(Map::new).extend(m);
                }
            }
            let out = env.select_owned(&state.output_path, eff)?;
            commit_vars(vars, new_vars);
            exited(&out);
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
            commit_vars(vars, new_vars);
            exited(&out);
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

fn wait_seconds(run: &Run, st: &StateCtx, spec: &WaitSpec, eff: &Value) -> Result<f64, Failure> {
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

fn error_matches(names: &[String], error: &Option<String>) -> bool {
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

async fn run_with_recovery(
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
                commit_vars(vars, new_vars);
                run.event(format_args!("{prefix}StateExited"), || {
                    json!({"name": state.name, "output": compact(&out), "outputDetails": {"truncated": false}})
                });
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
                return catch(run, state, st, catcher, raw, vars, error, cause);
            }
            Err(other) => return Err(other),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn catch(
    run: &Arc<Run>,
    state: &State,
    st: &StateCtx<'_>,
    catcher: &Catcher,
    raw: Value,
    vars: &mut Vars,
    error: Option<String>,
    cause: Option<String>,
) -> Result<Step, Failure> {
    let error_output = json!({
        "Error": error.unwrap_or_default(),
        "Cause": cause.unwrap_or_default(),
    });
    let env = Env::new(run, st, vars);
    let new_vars = assign_values(&env, &catcher.assign, &error_output)?;
    let out = apply_result_path(&catcher.result_path, raw, error_output)?;
    commit_vars(vars, new_vars);
    run.event(format_args!("{}StateExited", state.kind.event_prefix()), || {
        json!({"name": state.name, "output": compact(&out), "outputDetails": {"truncated": false}})
    });
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
    let after_input = env.select(&state.input_path, raw)?;
    let mut result = match &state.kind {
        Kind::Task(task) => {
            let parameters = state.parameters.as_ref();
            invoke_task(
                run,
                state,
                st,
                task,
                &env,
                &after_input,
                parameters,
                retry_count,
            )
            .await?
        }
        Kind::Parallel { branches } => {
            let eff = match &state.parameters {
                Some(p) => env.template(p, &after_input)?,
                None => after_input.as_ref().clone(),
            };
            TaskResult::Built(run_parallel(run, branches, eff, vars).await?)
        }
        Kind::Map(map) => TaskResult::Built(run_map(run, st, map, &env, &after_input, vars).await?),
        _ => unreachable!("only Task, Parallel and Map states have Retry and Catch"),
    };
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

fn seconds_value(
    env: &Env,
    s: &Seconds,
    input: &Value,
    field: &str,
) -> Result<Option<u64>, Failure> {
    match s {
        Seconds::None => Ok(None),
        Seconds::Fixed(n) => Ok(Some(*n)),
        Seconds::Path(p) => {
            let v = env
                .resolve(p, input)
                .map_err(|m| env.st.runtime(format!("Invalid path '{}' : {m}", p.text)))?;
            match v.as_u64() {
                Some(n) if n > 0 => Ok(Some(n)),
                _ => Err(env.st.runtime(format!(
                    "The {field} field refers to value {} which is not a valid positive integer: {}",
                    compact(&v),
                    p.text
                ))),
            }
        }
    }
}

/// Status codes Lambda's Invoke API answers with, for causes built from an error code alone.
fn lambda_status(code: &str) -> u16 {
    match code {
        "ResourceNotFoundException" => 404,
        "TooManyRequestsException" => 429,
        "ResourceConflictException" => 409,
        "RequestTooLargeException" => 413,
        "UnsupportedMediaTypeException" => 415,
        "InvalidRequestContentException" | "InvalidParameterValueException" => 400,
        "ResourceNotReadyException" => 502,
        "EC2ThrottledException" | "ENILimitReachedException" => 502,
        _ => 500,
    }
}

/// The two fields of a `lambda:invoke` Task's effective parameters that the call uses.
#[derive(Default)]
struct InvokeParts {
    function_name: Option<Value>,
    payload: Option<Value>,
}

impl InvokeParts {
    /// The parts as they stand in an object already built (no `Parameters`, or a literal one).
    fn of(v: &Value) -> InvokeParts {
        InvokeParts {
            function_name: v.get("FunctionName").cloned(),
            payload: v.get("Payload").cloned(),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn invoke_task(
    run: &Arc<Run>,
    state: &State,
    st: &StateCtx<'_>,
    task: &TaskDef,
    env: &Env<'_>,
    after_input: &Value,
    parameters: Option<&Template>,
    retry_count: u32,
) -> Result<TaskResult, Failure> {
    // `lambda:invoke` keeps only the two parts of its parameters that it uses, and never builds the
    // object around them.
    let (parts, eff) = match (&task.target, parameters) {
        (Target::LambdaInvoke, Some(p)) => (env.invoke_parameters(p, after_input)?, Value::Null),
        (Target::LambdaInvoke, None) => (InvokeParts::of(after_input), Value::Null),
        (_, Some(p)) => (InvokeParts::default(), env.template(p, after_input)?),
        (_, None) => (InvokeParts::default(), after_input.clone()),
    };
    let timeout = seconds_value(env, &task.timeout, after_input, "TimeoutSecondsPath")?;
    let heartbeat = seconds_value(env, &task.heartbeat, after_input, "HeartbeatSecondsPath")?;
    // Synchronous integrations never send heartbeats, so a heartbeat interval bounds the call
    // just as a timeout does (AWS reports both as States.Timeout).
    let limit = match (timeout, heartbeat) {
        (Some(t), Some(h)) => Some(t.min(h)),
        (t, h) => t.or(h),
    };
    let scaled = limit.map(|s| run.scaled(s as f64));
    let (kind, payload, lambda_style) = match &task.target {
        Target::LambdaInvoke => {
            let function_name = match parts.function_name {
                Some(Value::String(s)) => s,
                other => {
                    return Err(st.runtime(format!(
                        "The field 'FunctionName' must be a string, not {}",
                        other
                            .as_ref()
                            .map(compact)
                            .unwrap_or_else(|| "missing".into())
                    )))
                }
            };
            let payload = parts.payload.unwrap_or_else(|| json!({}));
            (ResourceKind::LambdaInvoke { function_name }, payload, true)
        }
        Target::LambdaArn => (
            ResourceKind::LambdaArn {
                function_arn: task.resource.clone(),
            },
            eff,
            true,
        ),
        Target::Service { service, action } => (
            ResourceKind::Service {
                service: service.clone(),
                action: action.clone(),
            },
            eff,
            false,
        ),
    };
    let legacy = matches!(task.target, Target::LambdaArn);
    let (ev_scheduled, ev_started, ev_ok, ev_fail, ev_timeout) = if legacy {
        (
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
            "LambdaFunctionFailed",
            "LambdaFunctionTimedOut",
        )
    } else {
        (
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskFailed",
            "TaskTimedOut",
        )
    };
    let (resource_type, resource_name) = match &task.target {
        Target::LambdaInvoke => ("lambda", "invoke"),
        Target::Service { service, action } => (service.as_str(), action.as_str()),
        Target::LambdaArn => ("", ""),
    };
    run.event(ev_scheduled, || {
        let mut d = if legacy {
            json!({"resource": task.resource, "input": compact(&payload), "inputDetails": {"truncated": false}})
        } else {
            json!({"resourceType": resource_type, "resource": resource_name, "region": "us-east-1", "parameters": compact(&payload_for_event(&kind, &payload))})
        };
        if let Some(t) = limit {
            d["timeoutInSeconds"] = json!(t);
        }
        d
    });
    run.event(ev_started, || {
        if legacy {
            json!({})
        } else {
            json!({"resourceType": resource_type, "resource": resource_name})
        }
    });
    let request = InvokeRequest {
        resource: task.resource.clone(),
        kind,
        payload,
        state_name: state.name.clone(),
        execution_name: run.name.clone(),
        execution_arn: run.execution_arn.clone(),
        retry_count,
        timeout: scaled,
    };
    let call = run.resources.invoke(request);
    let response = match scaled {
        Some(d) => match tokio::time::timeout(d, call).await {
            Ok(r) => r,
            Err(_) => {
                run.event(ev_timeout, || {
                    if legacy { json!({"error": "States.Timeout"}) } else { json!({"error": "States.Timeout", "resourceType": resource_type, "resource": resource_name}) }
                });
                return Err(Failure::Error {
                    error: Some("States.Timeout".into()),
                    cause: None,
                });
            }
        },
        None => call.await,
    };
    let fail = |error: String, cause: String| {
        run.event(ev_fail, || {
            if legacy { json!({"error": error, "cause": cause}) } else { json!({"error": error, "cause": cause, "resourceType": resource_type, "resource": resource_name}) }
        });
        Failure::Error {
            error: Some(error),
            cause: Some(cause),
        }
    };
    let lambda_answer = matches!(
        response,
        InvokeResponse::Lambda { .. } | InvokeResponse::LambdaValue { .. }
    );
    if lambda_answer && !lambda_style {
        return Err(fail(
            "States.Runtime".into(),
            "A Lambda response was returned for a non-Lambda resource".into(),
        ));
    }
    let mut result = match response {
        InvokeResponse::Abort => return Err(Failure::Abort),
        InvokeResponse::Lambda {
            status_code,
            function_error,
            executed_version,
            payload,
        } => {
            if function_error.is_some() {
                let parsed: Option<Value> = serde_json::from_str(&payload).ok();
                let error_type = parsed
                    .as_ref()
                    .and_then(|p| p.get("errorType"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                return Err(match error_type {
                    Some(t) => {
                        // The optimised integration re-serialises the error payload compactly;
                        // the legacy ARN form hands over the runtime's text untouched.
                        let cause = match (&task.target, &parsed) {
                            (Target::LambdaInvoke, Some(p)) => compact(p),
                            _ => payload.clone(),
                        };
                        fail(t, cause)
                    }
                    None => fail(
                        "Lambda.Unknown".into(),
                        format!("The cause could not be determined because Lambda did not return an error type. Returned payload: {payload}"),
                    ),
                });
            }
            let body: Value = if payload.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&payload).unwrap_or(Value::String(payload.clone()))
            };
            match task.target {
                Target::LambdaInvoke => TaskResult::Lambda(Envelope {
                    status: status_code,
                    version: executed_version,
                    payload: body,
                    len: Some(payload.len()),
                    at: Utc::now(),
                }),
                _ => TaskResult::Built(body),
            }
        }
        InvokeResponse::LambdaValue {
            status_code,
            executed_version,
            payload,
        } => match task.target {
            Target::LambdaInvoke => TaskResult::Lambda(Envelope {
                status: status_code,
                version: executed_version,
                payload,
                len: None,
                at: Utc::now(),
            }),
            _ => TaskResult::Built(payload),
        },
        InvokeResponse::LambdaServiceError { error, message } => {
            let code = error.strip_prefix("Lambda.").unwrap_or(&error).to_string();
            let status = lambda_status(&code);
            return Err(fail(
                format!("Lambda.{code}"),
                format!("{message} (Service: AWSLambda; Status Code: {status}; Error Code: {code}; Request ID: {}; Proxy: null)", random_uuid()),
            ));
        }
        InvokeResponse::LambdaServiceErrorDetailed {
            error,
            message,
            status_code,
            request_id,
        } => {
            let code = error.strip_prefix("Lambda.").unwrap_or(&error).to_string();
            return Err(fail(
                format!("Lambda.{code}"),
                format!("{message} (Service: AWSLambda; Status Code: {status_code}; Error Code: {code}; Request ID: {request_id}; Proxy: null)"),
            ));
        }
        InvokeResponse::Service(v) => TaskResult::Built(v),
        InvokeResponse::ServiceError { error, cause } => return Err(fail(error, cause)),
    };
    if result.exceeds(MAX_PAYLOAD_BYTES) {
        let who = match &task.target {
            Target::LambdaInvoke => "lambda".to_string(),
            Target::LambdaArn => task.resource.clone(),
            Target::Service { service, .. } => service.clone(),
        };
        return Err(fail(
            "States.DataLimitExceeded".into(),
            format!("The state/task '{who}' returned a result with a size exceeding the maximum number of bytes service limit."),
        ));
    }
    let output = run.record.then(|| result.text());
    run.event(ev_ok, || {
        let mut d = json!({"output": output, "outputDetails": {"truncated": false}});
        if !legacy {
            d["resourceType"] = json!(resource_type);
            d["resource"] = json!(resource_name);
        }
        d
    });
    Ok(result)
}

fn payload_for_event(kind: &ResourceKind, payload: &Value) -> Value {
    match kind {
        ResourceKind::LambdaInvoke { function_name } => {
            json!({"FunctionName": function_name, "Payload": payload})
        }
        _ => payload.clone(),
    }
}

async fn run_parallel(
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

async fn run_map(
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
    run.event("MapStateStarted", || json!({"length": items.len()}));
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
    let total = inputs.len();
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

// ---- Choice rules -------------------------------------------------------------------------

fn eval_condition(env: &Env, c: &Condition, input: &Value) -> Result<bool, Failure> {
    match c {
        Condition::And(cs) => {
            for x in cs {
                if !eval_condition(env, x, input)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Condition::Or(cs) => {
            for x in cs {
                if eval_condition(env, x, input)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Condition::Not(x) => Ok(!eval_condition(env, x, input)?),
        Condition::Test {
            variable,
            op,
            operand,
        } => {
            let value = env.resolve_ref(variable, input);
            if *op == "IsPresent" {
                return Ok(value.is_ok() == (operand_literal(operand) == &Value::Bool(true)));
            }
            let value = value.map_err(|m| {
                env.st
                    .runtime(format!("Invalid path '{}' : {m}", variable.text))
            })?;
            let expected = match operand {
                Operand::Literal(v) => Cow::Borrowed(v),
                Operand::Path(p) => env
                    .resolve_ref(p, input)
                    .map_err(|m| env.st.runtime(format!("Invalid path '{}' : {m}", p.text)))?,
            };
            Ok(compare(op, &value, &expected))
        }
    }
}

fn operand_literal(o: &Operand) -> &Value {
    match o {
        Operand::Literal(v) => v,
        Operand::Path(_) => &Value::Null,
    }
}

fn num_cmp(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    let (Value::Number(x), Value::Number(y)) = (a, b) else {
        return None;
    };
    if let (Some(i), Some(j)) = (x.as_i64(), y.as_i64()) {
        return Some(i.cmp(&j));
    }
    x.as_f64()?.partial_cmp(&y.as_f64()?)
}

fn string_matches(s: &str, pattern: &str) -> bool {
    // Pattern tokens: literal chars and `*`; `\*` and `\\` are literals.
    let mut toks: Vec<Option<char>> = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) => toks.push(Some(e)),
                None => toks.push(Some('\\')),
            },
            '*' => toks.push(None),
            c => toks.push(Some(c)),
        }
    }
    let s: Vec<char> = s.chars().collect();
    // Classic wildcard matching with backtracking over the last star.
    let (mut si, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < toks.len() && toks[pi] == Some(s[si]) {
            si += 1;
            pi += 1;
        } else if pi < toks.len() && toks[pi].is_none() {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < toks.len() && toks[pi].is_none() {
        pi += 1;
    }
    pi == toks.len()
}

fn compare(op: &str, v: &Value, x: &Value) -> bool {
    use std::cmp::Ordering::*;
    let ord_ok = |o: Option<std::cmp::Ordering>, suffix: &str| -> bool {
        let Some(o) = o else { return false };
        match suffix {
            "Equals" => o == Equal,
            "LessThan" => o == Less,
            "GreaterThan" => o == Greater,
            "LessThanEquals" => o != Greater,
            "GreaterThanEquals" => o != Less,
            _ => false,
        }
    };
    if let Some(suffix) = op.strip_prefix("String") {
        if suffix == "Matches" {
            return match (v, x) {
                (Value::String(s), Value::String(p)) => string_matches(s, p),
                _ => false,
            };
        }
        return match (v, x) {
            (Value::String(a), Value::String(b)) => ord_ok(Some(a.cmp(b)), suffix),
            _ => false,
        };
    }
    if let Some(suffix) = op.strip_prefix("Numeric") {
        return ord_ok(num_cmp(v, x), suffix);
    }
    if let Some(suffix) = op.strip_prefix("Timestamp") {
        let t = |val: &Value| val.as_str().and_then(crate::definition::parse_timestamp);
        return match (t(v), t(x)) {
            (Some(a), Some(b)) => ord_ok(Some(a.cmp(&b)), suffix),
            _ => false,
        };
    }
    let want = x == &Value::Bool(true);
    match op {
        "BooleanEquals" => matches!((v, x), (Value::Bool(a), Value::Bool(b)) if a == b),
        "IsNull" => v.is_null() == want,
        "IsNumeric" => v.is_number() == want,
        "IsString" => v.is_string() == want,
        "IsBoolean" => v.is_boolean() == want,
        "IsTimestamp" => {
            v.as_str()
                .and_then(crate::definition::parse_timestamp)
                .is_some()
                == want
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_matches_wildcards_and_escapes() {
        assert!(string_matches("Saga.Transient", "Saga.*"));
        assert!(string_matches("log.txt", "*.txt"));
        assert!(!string_matches("log.txt", "*.csv"));
        assert!(string_matches("a*b", "a\\*b"));
        assert!(!string_matches("axb", "a\\*b"));
        assert!(string_matches("abc", "*"));
        assert!(string_matches("", "*"));
        assert!(string_matches("xaybz", "*a*b*"));
    }

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
