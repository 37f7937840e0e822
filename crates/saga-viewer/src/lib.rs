//! The local execution viewer: what `saga serve` shows a person in a browser, and the same data as JSON.
//!
//! A [`Recorder`] keeps the most recent executions in a ring of fixed capacity, whoever started them: the order
//! API's gateway records each saga with the HTTP answer it gave, and the Step Functions API records what an SDK
//! started. Each record keeps the engine's history events and the state machine the execution ran, so that one
//! execution can be drawn as the workflow graph with its path, its compensation steps, its retries and injected
//! faults, its events and a timing waterfall.
//!
//! [`router`] serves the page (`GET /`, assets under `/ui/`) and the JSON endpoints under `/ui/api/`; see
//! `docs/local-mode.md` for the endpoints. Step Functions itself keeps no history of Express executions, and the
//! local Step Functions API does not pretend to: these endpoints are the viewer's own.
//!
//! Recording is cheap by design: an execution that is recorded is moved into the ring, not copied, and a new
//! record only bumps a counter that the live streams watch; everything a page shows is computed when it is
//! asked for.

mod graph;
mod http;
mod view;

pub use graph::{Edge, EdgeKind, Graph, Node, Role};
pub use http::{page, router};
pub use view::{execution_view, machine_view};

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};

use asl_engine::{ExecutionResult, StateMachine};
use serde::Serialize;
use serde_json::{json, Value};

/// How many executions `saga serve` keeps by default.
pub const DEFAULT_CAPACITY: usize = 300;

/// How many executions a second keep their history events; the rest are kept as their list row only.
///
/// Recording the history is what costs: the engine then writes every state's input and output as JSON text, which
/// at thousands of sagas a second took well over half the server's throughput. A person watching runs a few
/// executions by hand and sees all of their details; a load test gets every execution listed, with the details
/// of this many a second.
pub const HISTORIES_PER_SECOND: u32 = 50;

/// API Gateway's REST integration timeout, which a synchronous saga answers within.
pub const GATEWAY_LIMIT_SECONDS: f64 = asl_budget::DEFAULT_LIMIT_SECONDS;

/// Who started an execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Origin {
    /// The order API's `POST /orders`.
    Http,
    /// The Step Functions API, by this operation (`StartSyncExecution`, `StartExecution`).
    StepFunctions { operation: String },
}

/// The answer the gateway gave for an execution it started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpAnswer {
    pub status: u16,
    /// The problem document's `type`, for an error answer.
    pub problem_type: Option<String>,
    /// The problem document's `compensation` (`completed`, `pending`, ...).
    pub compensation: Option<String>,
    pub order_id: Option<String>,
}

impl HttpAnswer {
    /// Reads what the viewer shows from an answer's status and JSON body.
    pub fn from_body(status: u16, body: &Value) -> HttpAnswer {
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        HttpAnswer {
            status,
            problem_type: text("type"),
            compensation: text("compensation"),
            order_id: text("orderId"),
        }
    }
}

/// A fault rehearsed on purpose: `target` is the Lambda function's name or the Task's `Resource` it hits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InjectedFault {
    /// How the fault was asked for, e.g. `reserve-stock`.
    pub step: String,
    pub mode: String,
    pub target: String,
}

/// An execution to record.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub state_machine_name: String,
    /// The definition the execution ran, so that its graph is the one it took even after an update.
    pub machine: StateMachine,
    /// With its history when [`Recorder::wants_history`] said so (`ExecutionOptions::record_history`); without,
    /// the execution is listed but its graph, events and waterfall cannot be shown.
    pub result: ExecutionResult,
    pub origin: Origin,
    pub http: Option<HttpAnswer>,
    pub faults: Vec<InjectedFault>,
    /// The time scale it ran at, so that its timeouts are drawn as they applied.
    pub time_scale: f64,
}

/// A recorded execution, numbered in recording order.
#[derive(Debug)]
pub struct Record {
    pub seq: u64,
    pub execution: Recorded,
}

impl Record {
    pub fn id(&self) -> &str {
        &self.execution.result.execution_arn
    }

    /// The list's row: everything but the history.
    pub fn summary(&self) -> Value {
        let e = &self.execution;
        let r = &e.result;
        let duration_ms = (r.stop_date - r.start_date)
            .num_microseconds()
            .map_or(0.0, |us| us as f64 / 1000.0);
        json!({
            "seq": self.seq,
            "executionArn": r.execution_arn,
            "name": r.name,
            "stateMachineName": e.state_machine_name,
            "stateMachineArn": r.state_machine_arn,
            "status": r.status.as_aws_str(),
            "startDate": r.start_date.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "stopDate": r.stop_date.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "durationMs": duration_ms,
            "origin": e.origin,
            "http": e.http,
            "error": r.error,
            "faults": e.faults,
            "historyKept": !r.history.is_empty(),
        })
    }
}

/// A state machine the viewer can draw without an execution of it.
#[derive(Clone, Debug)]
pub struct KnownMachine {
    pub name: String,
    pub arn: String,
    pub machine: StateMachine,
    pub time_scale: f64,
}

/// Which executions a list shows.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: Option<String>,
    pub state_machine: Option<String>,
    pub limit: Option<usize>,
}

impl Filter {
    fn admits(&self, record: &Record) -> bool {
        let e = &record.execution;
        self.status
            .as_deref()
            .is_none_or(|s| s == e.result.status.as_aws_str())
            && self
                .state_machine
                .as_deref()
                .is_none_or(|m| m == e.state_machine_name)
    }
}

/// The bounded ring of recent executions and the state machines they ran. Share it with `Arc`.
pub struct Recorder {
    capacity: usize,
    ring: Mutex<VecDeque<Arc<Record>>>,
    /// The budget of [`HISTORIES_PER_SECOND`]: the second it counts (since `epoch`) and how many it has granted.
    epoch: std::time::Instant,
    history_second: std::sync::atomic::AtomicU64,
    histories_granted: std::sync::atomic::AtomicU32,
    machines: RwLock<Vec<KnownMachine>>,
    /// The last recorded `seq`.
    recorded: std::sync::atomic::AtomicU64,
    /// Bumped with `seq` while a live stream listens, which it waits on.
    latest: tokio::sync::watch::Sender<u64>,
    /// Set by [`Recorder::close_streams`]: a server shutting down waits for its connections, and a live stream
    /// would otherwise never end.
    closed: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder keeping at most `capacity` executions; 0 records nothing.
    pub fn new(capacity: usize) -> Recorder {
        Recorder {
            capacity,
            ring: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            epoch: std::time::Instant::now(),
            history_second: std::sync::atomic::AtomicU64::new(0),
            histories_granted: std::sync::atomic::AtomicU32::new(0),
            machines: RwLock::new(Vec::new()),
            recorded: std::sync::atomic::AtomicU64::new(0),
            latest: tokio::sync::watch::channel(0).0,
            closed: tokio::sync::watch::channel(false).0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether executions should be handed to [`Recorder::record`].
    pub fn is_recording(&self) -> bool {
        self.capacity > 0
    }

    /// Whether the execution about to start should record its history events, within [`HISTORIES_PER_SECOND`].
    /// Ask once per execution: a yes is counted.
    pub fn wants_history(&self) -> bool {
        self.is_recording() && self.grant_history(self.epoch.elapsed().as_secs())
    }

    fn grant_history(&self, second: u64) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let counted = self.history_second.load(Relaxed);
        if second > counted
            && self
                .history_second
                .compare_exchange(counted, second, Relaxed, Relaxed)
                .is_ok()
        {
            // The first caller of a new second opens its budget; a racing caller may be granted one more or one
            // fewer, which a rate limit of this kind does not mind.
            self.histories_granted.store(0, Relaxed);
        }
        self.histories_granted.fetch_add(1, Relaxed) < HISTORIES_PER_SECOND
    }

    /// How many executions are held now (never more than the capacity).
    pub fn len(&self) -> usize {
        self.lock_ring().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many executions were recorded since start, including those the ring has dropped.
    pub fn recorded_total(&self) -> u64 {
        self.recorded.load(std::sync::atomic::Ordering::Acquire)
    }

    fn lock_ring(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Record>>> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes a state machine known, or replaces the one of that name (as UpdateStateMachine does).
    pub fn register_machine(&self, name: &str, arn: &str, machine: StateMachine, time_scale: f64) {
        let mut machines = self.machines.write().unwrap_or_else(|e| e.into_inner());
        let known = KnownMachine {
            name: name.to_string(),
            arn: arn.to_string(),
            machine,
            time_scale,
        };
        match machines.iter_mut().find(|m| m.name == name) {
            Some(m) => *m = known,
            None => machines.push(known),
        }
    }

    /// The state machines known, by name.
    pub fn machines(&self) -> Vec<KnownMachine> {
        self.machines
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn machine(&self, name: &str) -> Option<KnownMachine> {
        self.machines
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|m| m.name == name)
            .cloned()
    }

    /// Keeps `execution`, dropping the oldest one when the ring is full. Does nothing at capacity 0.
    pub fn record(&self, mut execution: Recorded) {
        if self.capacity == 0 {
            return;
        }
        if execution.result.history.is_empty() {
            // Without its history the page shows the list row only; freeing the payloads now, while they are
            // still in cache, is cheaper than when the ring drops them.
            execution.result.input = Value::Null;
            execution.result.output = None;
        }
        if matches!(execution.origin, Origin::StepFunctions { .. }) {
            // A machine created or updated through the Step Functions API becomes drawable, as it now is, once it
            // has run. The gateway's machine is registered once by its owner, which keeps its path cheap.
            let known = {
                let machines = self.machines.read().unwrap_or_else(|e| e.into_inner());
                machines.iter().any(|m| {
                    m.name == execution.state_machine_name
                        && m.arn == execution.result.state_machine_arn
                        && m.machine.definition() == execution.machine.definition()
                })
            };
            if !known {
                self.register_machine(
                    &execution.state_machine_name,
                    &execution.result.state_machine_arn,
                    execution.machine.clone(),
                    execution.time_scale,
                );
            }
        }
        let seq = {
            let mut ring = self.lock_ring();
            // Numbered under the lock, so that the ring is always in seq order.
            let seq = self.recorded.load(std::sync::atomic::Ordering::Relaxed) + 1;
            if ring.len() == self.capacity {
                ring.pop_front();
            }
            ring.push_back(Arc::new(Record { seq, execution }));
            self.recorded
                .store(seq, std::sync::atomic::Ordering::Release);
            // Waking nobody still takes the channel's locks.
            if self.latest.receiver_count() > 0 {
                self.latest.send_replace(seq);
            }
            seq
        };
        tracing::trace!(seq, "execution recorded");
    }

    /// The executions `filter` admits, newest first.
    pub fn list(&self, filter: &Filter) -> Vec<Arc<Record>> {
        let ring = self.lock_ring();
        ring.iter()
            .rev()
            .filter(|r| filter.admits(r))
            .take(filter.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect()
    }

    /// The records after `seq`, oldest first.
    pub fn since(&self, seq: u64) -> Vec<Arc<Record>> {
        let ring = self.lock_ring();
        let first = ring.partition_point(|r| r.seq <= seq);
        ring.range(first..).cloned().collect()
    }

    /// One execution by its ARN.
    pub fn get(&self, execution_arn: &str) -> Option<Arc<Record>> {
        self.lock_ring()
            .iter()
            .rev()
            .find(|r| r.id() == execution_arn)
            .cloned()
    }

    /// Ends every live stream, now and from now on; for a server that is shutting down.
    pub fn close_streams(&self) {
        self.closed.send_replace(true);
    }

    pub(crate) fn closed(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closed.subscribe()
    }

    /// Watches the last recorded `seq`.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.latest.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asl_engine::ExecutionStatus;

    fn recorded(machine: &StateMachine, n: usize, status: ExecutionStatus) -> Recorded {
        let now = chrono::Utc::now();
        Recorded {
            state_machine_name: "m".into(),
            machine: machine.clone(),
            result: ExecutionResult {
                execution_arn: format!("arn:aws:states:us-east-1:1:express:m:e{n}:x"),
                state_machine_arn: "arn:aws:states:us-east-1:1:stateMachine:m".into(),
                name: format!("e{n}"),
                start_date: now,
                stop_date: now,
                status,
                input: json!({}),
                output: None,
                error: None,
                cause: None,
                history: Vec::new(),
            },
            origin: Origin::StepFunctions {
                operation: "StartSyncExecution".into(),
            },
            http: None,
            faults: Vec::new(),
            time_scale: 1.0,
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_executions_and_never_more_than_its_capacity() {
        let machine = StateMachine::from_json(
            r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#,
        )
        .unwrap();
        let recorder = Recorder::new(5);
        for n in 1..=1000 {
            let status = if n % 2 == 0 {
                ExecutionStatus::Succeeded
            } else {
                ExecutionStatus::Failed
            };
            recorder.record(recorded(&machine, n, status));
            assert!(recorder.len() <= 5);
        }
        assert_eq!(recorder.len(), 5);
        assert_eq!(recorder.recorded_total(), 1000);
        let newest: Vec<u64> = recorder
            .list(&Filter::default())
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(newest, [1000, 999, 998, 997, 996]);
        let failed = Filter {
            status: Some("FAILED".into()),
            ..Filter::default()
        };
        let failed: Vec<u64> = recorder.list(&failed).iter().map(|r| r.seq).collect();
        assert_eq!(failed, [999, 997]);
        let since: Vec<u64> = recorder.since(998).iter().map(|r| r.seq).collect();
        assert_eq!(since, [999, 1000]);
        assert!(recorder
            .get("arn:aws:states:us-east-1:1:express:m:e995:x")
            .is_none());
        assert!(recorder
            .get("arn:aws:states:us-east-1:1:express:m:e996:x")
            .is_some());
        // The machine an SDK-started execution ran became known on its first record.
        assert_eq!(recorder.machines().len(), 1);
    }

    #[test]
    fn histories_are_granted_up_to_the_limit_in_each_second() {
        let recorder = Recorder::new(5);
        let granted = |second| {
            (0..HISTORIES_PER_SECOND * 3)
                .filter(|_| recorder.grant_history(second))
                .count()
        };
        assert_eq!(granted(0), HISTORIES_PER_SECOND as usize);
        assert_eq!(granted(0), 0);
        assert_eq!(granted(1), HISTORIES_PER_SECOND as usize);
        assert_eq!(granted(7), HISTORIES_PER_SECOND as usize);
        assert!(!Recorder::new(0).wants_history());
    }

    #[test]
    fn capacity_zero_records_nothing() {
        let machine = StateMachine::from_json(
            r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#,
        )
        .unwrap();
        let recorder = Recorder::new(0);
        assert!(!recorder.is_recording());
        recorder.record(recorded(&machine, 1, ExecutionStatus::Succeeded));
        assert!(recorder.is_empty());
        assert_eq!(recorder.recorded_total(), 0);
    }
}
