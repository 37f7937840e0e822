//! Sections 2 and 3: what the engine costs, without HTTP.
//!
//! These run on a current-thread tokio runtime of their own (see [`on_own_runtime`]), so that one saga's
//! steps never hop between worker threads and the figures measure the work rather than the scheduler's
//! placement of it. The engine path and the direct path run on the same runtime, against the same store type.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use asl_engine::{
    ExecutionOptions, ExecutionStatus, InvokeRequest, InvokeResponse, Resources, StateMachine,
};
use saga_domain::events::{CreateOrderInput, OrderStepInput, ReserveStockInput};
use saga_domain::faults::StepContext;
use saga_local::app::{local_placeholders, render_definition, App, WORKFLOW};
use saga_local::resources::ExecutionResources;
use saga_local::Config;
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::stats::{median, median_ratio};
use crate::{BenchError, Row};

/// Runs `f` to completion on a fresh current-thread runtime on its own OS thread.
pub async fn on_own_runtime<T, F>(f: impl FnOnce() -> F + Send + 'static) -> T
where
    T: Send + 'static,
    F: std::future::Future<Output = T>,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime builds");
        let _ = tx.send(rt.block_on(f()));
    });
    rx.await.expect("the bench thread panicked")
}

const SKU: &str = "bench-plenty";

fn request_body() -> Value {
    json!({"customerId": "bench", "items": [{"sku": SKU, "quantity": 1}]})
}

async fn stocked_app() -> Result<Arc<App>, BenchError> {
    let app = App::new(Config::default()).map_err(|e| BenchError::Setup(e.to_string()))?;
    app.shared
        .inventory
        .set_available(SKU, saga_local::gateway::MAX_STOCK)
        .await
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    Ok(app)
}

/// What the gateway hands the engine for one `POST /orders` (see `saga_local::gateway`).
fn saga_input(order_id: &str) -> Value {
    json!({
        "request": request_body(),
        "idempotencyKey": null,
        "faults": null,
        "requestId": order_id,
    })
}

async fn engine_sagas(app: &App, machine: &StateMachine, first: usize, n: usize) -> Duration {
    let started = Instant::now();
    for i in first..first + n {
        let id = format!("engine-{i}");
        let resources = Arc::new(ExecutionResources {
            shared: app.shared.clone(),
            plan: saga_domain::FaultPlan::none(),
        });
        let options = ExecutionOptions {
            state_machine_arn: app.state_machine_arn.clone(),
            name: Some(id.clone()),
            time_scale: 1.0,
            record_history: false,
        };
        let result = asl_engine::execute(machine, saga_input(&id), options, resources).await;
        assert_eq!(
            result.status,
            ExecutionStatus::Succeeded,
            "the benchmark saga must succeed: {:?} {:?}",
            result.error,
            result.cause
        );
    }
    started.elapsed()
}

/// The three handlers of the happy path, called as the workflow calls them but with no engine in between.
async fn direct_sagas(app: &App, first: usize, n: usize) -> Duration {
    let s = &app.shared;
    // The engine gives each task its TimeoutSeconds (2 s) as a deadline; so does this.
    let ctx = || StepContext {
        deadline: Some(Instant::now() + Duration::from_secs(2)),
    };
    let started = Instant::now();
    for i in first..first + n {
        let order_id = format!("direct-{i}");
        let created = saga_steps::create_order::handle(
            &*s.orders,
            &s.create_order,
            CreateOrderInput {
                order_id: order_id.clone(),
                request: request_body(),
                idempotency_key: None,
                rehearsal: Default::default(),
            },
            &ctx(),
        )
        .await
        .expect("create-order succeeds");
        saga_steps::reserve_stock::handle(
            &*s.inventory,
            ReserveStockInput {
                order_id: created.order_id.clone(),
                items: created.items,
                rehearsal: Default::default(),
            },
            &ctx(),
        )
        .await
        .expect("reserve-stock succeeds");
        saga_steps::confirm_order::handle(
            &*s.orders,
            OrderStepInput {
                order_id: created.order_id,
                rehearsal: Default::default(),
            },
            &ctx(),
        )
        .await
        .expect("confirm-order succeeds");
    }
    started.elapsed()
}

/// The same three calls, made as the workflow makes them but with no engine: each payload is built as a JSON
/// value and goes through `ExecutionResources`, which decodes it, calls the handler and encodes its output, as
/// Lambda's contract (JSON in, JSON out) requires. This is the part of the engine path that any engine faithful
/// to that contract pays, so it bounds from below what the engine path can cost.
async fn boundary_sagas(app: &App, first: usize, n: usize) -> Duration {
    let arns = local_placeholders();
    let arn = |name: &str| {
        arns.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .expect("the local placeholders name every function")
    };
    let (create, reserve, confirm) = (
        arn("CreateOrderFunctionArn"),
        arn("ReserveStockFunctionArn"),
        arn("ConfirmOrderFunctionArn"),
    );
    let started = Instant::now();
    for i in first..first + n {
        let id = format!("boundary-{i}");
        let resources = ExecutionResources {
            shared: app.shared.clone(),
            plan: saga_domain::FaultPlan::none(),
        };
        let call = |state: &str, function: &str, payload: Value| InvokeRequest {
            resource: "arn:aws:states:::lambda:invoke".into(),
            kind: asl_engine::ResourceKind::LambdaInvoke {
                function_name: function.into(),
            },
            payload,
            state_name: state.into(),
            execution_name: id.clone(),
            execution_arn: app.state_machine_arn.clone(),
            retry_count: 0,
            timeout: Some(Duration::from_secs(2)),
        };
        let payload = |response: InvokeResponse| match response {
            InvokeResponse::LambdaValue { payload, .. } => payload,
            other => panic!("the benchmark saga must succeed: {other:?}"),
        };
        let created = payload(
            resources
                .invoke(call(
                    "CreateOrder",
                    &create,
                    json!({"orderId": id, "request": request_body(), "idempotencyKey": null, "faults": null, "attempt": 0}),
                ))
                .await,
        );
        payload(
            resources
                .invoke(call(
                    "ReserveStock",
                    &reserve,
                    json!({"orderId": created["orderId"], "items": created["items"], "faults": null, "attempt": 0}),
                ))
                .await,
        );
        payload(
            resources
                .invoke(call(
                    "ConfirmOrder",
                    &confirm,
                    json!({"orderId": created["orderId"], "faults": null, "attempt": 0}),
                ))
                .await,
        );
    }
    started.elapsed()
}

/// Answers each Lambda call of the happy path with what its handler would return, computed from the
/// payload alone: the shipped workflow's engine cost with neither the handlers nor `ExecutionResources`.
struct Canned;

#[async_trait::async_trait]
impl asl_engine::Resources for Canned {
    async fn invoke(&self, request: InvokeRequest) -> InvokeResponse {
        let order_id = request
            .payload
            .get("orderId")
            .cloned()
            .unwrap_or(Value::Null);
        let payload = if request.state_name == "CreateOrder" {
            json!({
                "orderId": order_id,
                "status": "PENDING",
                "items": request_body()["items"],
                "replay": false,
                "failure": null,
            })
        } else {
            json!({"orderId": order_id, "outcome": "done"})
        };
        InvokeResponse::Lambda {
            status_code: 200,
            function_error: None,
            executed_version: "$LATEST".into(),
            payload: payload.to_string(),
        }
    }
}

async fn canned_sagas(machine: &StateMachine, first: usize, n: usize) -> Duration {
    let started = Instant::now();
    for i in first..first + n {
        let id = format!("canned-{i}");
        let options = ExecutionOptions {
            name: Some(id.clone()),
            ..ExecutionOptions::default()
        };
        let result = asl_engine::execute(machine, saga_input(&id), options, Arc::new(Canned)).await;
        assert_eq!(result.status, ExecutionStatus::Succeeded, "{result:?}");
    }
    started.elapsed()
}

pub fn shipped_machine() -> Result<StateMachine, BenchError> {
    let text = render_definition(WORKFLOW, &local_placeholders())
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    StateMachine::from_json(&text).map_err(|e| BenchError::Setup(e.to_string()))
}

#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    pub reps: usize,
    /// Sagas per repetition on each path.
    pub sagas: usize,
}

pub async fn engine_vs_direct(opts: EngineOptions) -> Result<Vec<Row>, BenchError> {
    on_own_runtime(move || async move {
        let machine = shipped_machine()?;
        // One app per path, so both stores grow alike.
        let engine_app = stocked_app().await?;
        let direct_app = stocked_app().await?;
        let boundary_app = stocked_app().await?;
        // Warm every path (allocator, lazy statics) before the clock runs.
        engine_sagas(&engine_app, &machine, 0, 200).await;
        direct_sagas(&direct_app, 0, 200).await;
        boundary_sagas(&boundary_app, 0, 200).await;
        canned_sagas(&machine, 0, 200).await;
        let (mut engine_us, mut direct_us, mut canned_us) = (Vec::new(), Vec::new(), Vec::new());
        let mut boundary_us = Vec::new();
        for rep in 0..opts.reps {
            let first = 1_000 + rep * opts.sagas;
            let per = |d: Duration| d.as_secs_f64() * 1e6 / opts.sagas as f64;
            engine_us.push(per(
                engine_sagas(&engine_app, &machine, first, opts.sagas).await
            ));
            direct_us.push(per(direct_sagas(&direct_app, first, opts.sagas).await));
            boundary_us.push(per(
                boundary_sagas(&boundary_app, first, opts.sagas).await
            ));
            canned_us.push(per(canned_sagas(&machine, first, opts.sagas).await));
        }
        Ok(vec![
            Row::new(
                "2",
                "Direct handler calls: create → reserve → confirm",
                format!("{:.1} µs/saga", median(&direct_us)),
            ),
            Row::new(
                "2",
                "The same calls across the Lambda JSON boundary (`ExecutionResources`), no engine",
                format!("{:.1} µs/saga", median(&boundary_us)),
            )
            .ratio(
                median_ratio(&boundary_us, &direct_us),
                "time vs direct calls: the floor for any engine",
            ),
            Row::new(
                "2",
                "Same saga through the engine (`asl_engine::execute` + `ExecutionResources`)",
                format!("{:.1} µs/saga", median(&engine_us)),
            )
            .ratio(median_ratio(&engine_us, &direct_us), "time vs direct calls")
            .target(|r| r <= 2.0, "≤ 2×"),
            Row::new(
                "2",
                "The shipped workflow with canned Lambda answers (no handlers, no `ExecutionResources`)",
                format!("{:.1} µs/saga", median(&canned_us)),
            )
            .ratio(
                median_ratio(&canned_us, &engine_us),
                "time vs the engine with real handlers",
            ),
        ])
    })
    .await
}

/// A Lambda that answers at once, with no spawn and no store: the engine's own cost is all that is left.
struct Noop;

#[async_trait::async_trait]
impl asl_engine::Resources for Noop {
    async fn invoke(&self, _request: InvokeRequest) -> InvokeResponse {
        InvokeResponse::Lambda {
            status_code: 200,
            function_error: None,
            executed_version: "$LATEST".into(),
            payload: "{}".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pass,
    Choice,
    Task,
    /// Pass, Choice, Task, Pass, …
    Mixed,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Pass => "Pass",
            Kind::Choice => "Choice",
            Kind::Task => "Task",
            Kind::Mixed => "Pass/Choice/Task mixed",
        }
    }
}

/// A linear definition of `n` states of `kind`, ending in a Succeed state (not counted in `n`).
pub fn chain_definition(kind: Kind, n: usize) -> String {
    chain(kind, n, false)
}

/// [`chain_definition`] in JSONata mode, each state doing what its JSONPath twin does through an
/// expression: a Pass and a Task whose `Output` is `$states.input` (the JSONPath Pass passes its input on,
/// the Task has `ResultPath: null`), and a Choice whose `Condition` is `$states.input.n = 1`.
pub fn chain_definition_jsonata(kind: Kind, n: usize) -> String {
    chain(kind, n, true)
}

fn chain(kind: Kind, n: usize, jsonata: bool) -> String {
    let name = |i: usize| format!("S{i}");
    let mut states = serde_json::Map::new();
    for i in 0..n {
        let next = if i + 1 == n {
            "Done".into()
        } else {
            name(i + 1)
        };
        let k = match kind {
            Kind::Mixed => [Kind::Pass, Kind::Choice, Kind::Task][i % 3],
            k => k,
        };
        let state = match k {
            Kind::Pass => json!({"Type": "Pass", "Next": next}),
            Kind::Choice => json!({
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": next}],
                "Default": "Done"
            }),
            Kind::Task | Kind::Mixed => json!({
                "Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:noop",
                "TimeoutSeconds": 5,
                "ResultPath": null,
                "Next": next
            }),
        };
        let state = if jsonata {
            match k {
                Kind::Pass => {
                    json!({"Type": "Pass", "Output": "{% $states.input %}", "Next": next})
                }
                Kind::Choice => json!({
                    "Type": "Choice",
                    "Choices": [{"Condition": "{% $states.input.n = 1 %}", "Next": next}],
                    "Default": "Done"
                }),
                Kind::Task | Kind::Mixed => json!({
                    "Type": "Task",
                    "Resource": "arn:aws:lambda:us-east-1:123456789012:function:noop",
                    "TimeoutSeconds": 5,
                    "Output": "{% $states.input %}",
                    "Next": next
                }),
            }
        } else {
            state
        };
        states.insert(name(i), state);
    }
    states.insert("Done".into(), json!({"Type": "Succeed"}));
    let mut definition = json!({"StartAt": name(0), "States": states});
    if jsonata {
        definition["QueryLanguage"] = json!("JSONata");
    }
    definition.to_string()
}

async fn run_chain(machine: &StateMachine, runs: usize) -> Duration {
    let started = Instant::now();
    for _ in 0..runs {
        let result = asl_engine::execute(
            machine,
            json!({"n": 1}),
            ExecutionOptions::default(),
            Arc::new(Noop),
        )
        .await;
        assert_eq!(result.status, ExecutionStatus::Succeeded, "{result:?}");
    }
    started.elapsed()
}

#[derive(Debug, Clone, Copy)]
pub struct ChainOptions {
    pub reps: usize,
    pub states: usize,
    /// Executions of the chain per repetition.
    pub runs: usize,
}

pub async fn per_state(opts: ChainOptions) -> Result<Vec<Row>, BenchError> {
    on_own_runtime(move || async move {
        let kinds = [Kind::Pass, Kind::Choice, Kind::Task, Kind::Mixed];
        // The JSONPath chains, then their JSONata twins in the same order.
        let machines = kinds
            .iter()
            .map(|&k| chain_definition(k, opts.states))
            .chain(
                kinds
                    .iter()
                    .map(|&k| chain_definition_jsonata(k, opts.states)),
            )
            .map(|d| StateMachine::from_json(&d).map_err(|e| BenchError::Setup(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        // A one-state execution: the fixed cost of starting and ending an execution, taken out of the
        // chains' figures so that what remains is per transition.
        let single = StateMachine::from_json(&chain_definition(Kind::Pass, 1))
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        for m in &machines {
            run_chain(m, 2).await;
        }
        let mut per_state_us: Vec<Vec<f64>> = vec![Vec::new(); machines.len()];
        let mut fixed_us = Vec::new();
        let fixed_runs = opts.runs * 50;
        for _ in 0..opts.reps {
            let fixed =
                run_chain(&single, fixed_runs).await.as_secs_f64() * 1e6 / fixed_runs as f64;
            fixed_us.push(fixed);
            for (i, m) in machines.iter().enumerate() {
                let per_exec = run_chain(m, opts.runs).await.as_secs_f64() * 1e6 / opts.runs as f64;
                per_state_us[i].push((per_exec - fixed).max(0.0) / opts.states as f64);
            }
        }
        let mut rows = vec![Row::new(
            "3",
            "Fixed cost of one execution (a single Pass state)",
            format!("{:.2} µs", median(&fixed_us)),
        )];
        for (kind, us) in kinds.iter().zip(&per_state_us) {
            rows.push(Row::new(
                "3",
                &format!("{}-state chain, {} states", kind.name(), opts.states),
                format!("{:.3} µs per state transition", median(us)),
            ));
        }
        let (jsonpath, jsonata) = per_state_us.split_at(kinds.len());
        for ((kind, us), twin) in kinds.iter().zip(jsonata).zip(jsonpath) {
            rows.push(
                Row::new(
                    "3",
                    &format!(
                        "JSONata {}-state chain, {} states",
                        kind.name(),
                        opts.states
                    ),
                    format!("{:.3} µs per state transition", median(us)),
                )
                .ratio(
                    median_ratio(us, twin),
                    &format!("time vs the JSONPath {} chain", kind.name()),
                ),
            );
        }
        Ok(rows)
    })
    .await
}

/// Answers only when released, so executions pile up inside their first Task.
struct Gate {
    entered: AtomicUsize,
    open: Notify,
    released: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl asl_engine::Resources for Gate {
    async fn invoke(&self, _request: InvokeRequest) -> InvokeResponse {
        let notified = self.open.notified();
        self.entered.fetch_add(1, Ordering::SeqCst);
        if !self.released.load(Ordering::SeqCst) {
            notified.await;
        }
        InvokeResponse::Abort
    }
}

/// Resident set size of this process, from the kernel's own count.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

async fn settle(entered: &AtomicUsize, n: usize) {
    while entered.load(Ordering::SeqCst) < n {
        tokio::task::yield_now().await;
    }
}

fn gate() -> Arc<Gate> {
    Arc::new(Gate {
        entered: AtomicUsize::new(0),
        open: Notify::new(),
        released: false.into(),
    })
}

/// Starts `n` executions of the shipped saga that stay blocked in CreateOrder until `gate` opens, and
/// returns the growth of RSS per execution once all of them are waiting.
async fn executions_batch(
    machine: &StateMachine,
    gate: &Arc<Gate>,
    n: usize,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> f64 {
    let already = gate.entered.load(Ordering::SeqCst);
    let before = rss_bytes().unwrap_or(0);
    for i in 0..n {
        let machine = machine.clone();
        let gate = gate.clone();
        let id = format!("inflight-{}", already + i);
        tasks.push(tokio::spawn(async move {
            let options = ExecutionOptions {
                name: Some(id.clone()),
                ..ExecutionOptions::default()
            };
            asl_engine::execute(&machine, saga_input(&id), options, gate).await;
        }));
    }
    settle(&gate.entered, already + n).await;
    rss_bytes().unwrap_or(0).saturating_sub(before) as f64 / n as f64
}

/// The same for bare tokio tasks waiting on the same kind of notification: what any in-flight request costs
/// at the least.
async fn tasks_batch(
    gate: &Arc<Gate>,
    n: usize,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> f64 {
    let already = gate.entered.load(Ordering::SeqCst);
    let before = rss_bytes().unwrap_or(0);
    for _ in 0..n {
        let g = gate.clone();
        tasks.push(tokio::spawn(async move {
            let notified = g.open.notified();
            g.entered.fetch_add(1, Ordering::SeqCst);
            notified.await;
        }));
    }
    settle(&gate.entered, already + n).await;
    rss_bytes().unwrap_or(0).saturating_sub(before) as f64 / n as f64
}

#[derive(Debug, Clone, Copy)]
pub struct MemoryOptions {
    pub reps: usize,
    pub inflight: usize,
}

/// Memory per in-flight execution, by RSS delta. Every batch stays blocked until the end, so each one grows
/// the heap afresh instead of reusing what an earlier batch freed (the allocator keeps freed memory resident,
/// which would make a second measurement read near zero). Run it before anything else in the process, for
/// the same reason.
pub async fn memory(opts: MemoryOptions) -> Result<Vec<Row>, BenchError> {
    on_own_runtime(move || async move {
        rss_bytes().ok_or_else(|| BenchError::Setup("no VmRSS in /proc/self/status".into()))?;
        let machine = shipped_machine()?;
        let (exec_gate, task_gate) = (gate(), gate());
        let mut tasks = Vec::new();
        let (mut exec_b, mut task_b) = (Vec::new(), Vec::new());
        for _ in 0..opts.reps {
            exec_b.push(executions_batch(&machine, &exec_gate, opts.inflight, &mut tasks).await);
            task_b.push(tasks_batch(&task_gate, opts.inflight, &mut tasks).await);
        }
        for g in [&exec_gate, &task_gate] {
            g.released.store(true, Ordering::SeqCst);
            g.open.notify_waiters();
        }
        for t in tasks {
            let _ = t.await;
        }
        Ok(vec![Row::new(
            "3",
            &format!(
                "Memory per in-flight saga execution (RSS growth / {} executions blocked in CreateOrder)",
                opts.inflight
            ),
            format!(
                "{:.0} B (a bare tokio task blocked the same way: {:.0} B)",
                median(&exec_b),
                median(&task_b)
            ),
        )
        .ratio(median_ratio(&exec_b, &task_b), "vs bare blocked task")])
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSONata chains are only a fair comparison if each one does what its JSONPath twin does.
    #[tokio::test]
    async fn jsonata_chains_end_as_their_jsonpath_twins() {
        for kind in [Kind::Pass, Kind::Choice, Kind::Task, Kind::Mixed] {
            let mut outcomes = Vec::new();
            for definition in [chain_definition(kind, 7), chain_definition_jsonata(kind, 7)] {
                let machine = StateMachine::from_json(&definition).unwrap();
                let result = asl_engine::execute(
                    &machine,
                    json!({"n": 1}),
                    ExecutionOptions {
                        record_history: true,
                        ..Default::default()
                    },
                    Arc::new(Noop),
                )
                .await;
                let types: Vec<String> = result.history.into_iter().map(|e| e.event_type).collect();
                outcomes.push((result.status, result.output, types));
            }
            assert_eq!(outcomes[0], outcomes[1], "{}", kind.name());
            assert_eq!(outcomes[0].0, ExecutionStatus::Succeeded);
        }
    }
}
