//! Runs the AWS-recorded executions in `shared/asl-conformance` through the engine.
//!
//! Every `states/*` case, every execution of `states/_matrix/choice_operators.json` and every
//! `lambda/*` case is run with tokio's clock paused, so Wait states and retry back-offs cost
//! nothing. Lambda cases get a mock that replays `lambda_invoke_result.json` (or, for the
//! timeout case, never answers in time). Status, output, error and cause are compared exactly;
//! outputs compare as JSON values (key order and `1` vs `1.0` do not matter), as
//! SOURCES-states.md prescribes.
//!
//! The recorded `history_event_types` of a case are compared too, so retry and iteration
//! counts are checked.
//!
//! Every `jsonata/*` case runs the same way. Where the function ran more than once,
//! `lambda_invoke_results.json` is replayed one answer per call, and the payloads the engine
//! sent are compared with `recorded_lambda_inputs`, and the variables each state assigned (as
//! its `…StateExited` event lists them) with `assigned_variables`, and the details of each
//! `EvaluationFailed` event with `recorded_evaluation_failed`.
//!
//! Cases whose recorded history the engine knowingly does not reproduce are listed in
//! `KNOWN_HISTORY_DIFFERENCES` with the reason; any other mismatch fails the test.

use asl_engine::{
    execute, ExecutionOptions, ExecutionStatus, InvokeRequest, InvokeResponse, Resources,
    StateMachine,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/asl-conformance"
);

/// Cases whose recorded event sequence this engine knowingly does not reproduce.
const KNOWN_HISTORY_DIFFERENCES: &[(&str, &str)] = &[
    (
        "parallel-nested",
        "AWS recorded no ParallelStateExited for the inner Parallel; the engine records one per Parallel",
    ),
    (
        "jsonata-parallel-catch-assign-erroroutput-lambda",
        "recorded with a TaskStateAborted for the failed branch Task and no ParallelStateFailed, in events the \
         recording tool re-sorted; the engine records ParallelStateFailed as the JSONPath recording \
         parallel-catch shows, and no TaskStateAborted",
    ),
    (
        "jsonata-parallel-retry-then-catch-erroroutput-lambda",
        "as jsonata-parallel-catch-assign-erroroutput-lambda: TaskStateAborted per attempt and no \
         ParallelStateFailed recorded",
    ),
];

fn read_json(p: &Path) -> Value {
    let text =
        std::fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", p.display()))
}

/// JSON equality that ignores key order and compares numbers by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Replays recorded Lambda Invoke answers, one per call (the last one again if the engine calls
/// more often than AWS did); without any, sleeps far past any task timeout. Keeps the payloads it
/// was sent.
struct ReplayLambda {
    recorded: Vec<Value>,
    calls: Mutex<Vec<Value>>,
}

#[async_trait::async_trait]
impl Resources for ReplayLambda {
    async fn invoke(&self, request: InvokeRequest) -> InvokeResponse {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(request.payload.clone());
            calls.len()
        };
        let Some(r) = self.recorded.get(n - 1).or(self.recorded.last()) else {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return InvokeResponse::Lambda {
                status_code: 200,
                function_error: None,
                executed_version: "$LATEST".into(),
                payload: "null".into(),
            };
        };
        if let Some(e) = r.get("ServiceError") {
            return InvokeResponse::LambdaServiceErrorDetailed {
                error: e["Code"].as_str().unwrap_or_default().to_string(),
                message: e["Message"].as_str().unwrap_or_default().to_string(),
                status_code: e["HTTPStatusCode"].as_u64().unwrap_or(500) as u16,
                request_id: e["RequestId"].as_str().unwrap_or_default().to_string(),
            };
        }
        InvokeResponse::Lambda {
            status_code: r["StatusCode"].as_u64().unwrap_or(200) as u16,
            function_error: r
                .get("FunctionError")
                .and_then(Value::as_str)
                .map(str::to_string),
            executed_version: r["ExecutedVersion"]
                .as_str()
                .unwrap_or("$LATEST")
                .to_string(),
            payload: r["Payload"].as_str().unwrap_or_default().to_string(),
        }
    }
}

enum Outcome {
    /// Status, output, error and cause match; the history check may still have differed.
    Pass {
        history: Option<String>,
    },
    Fail(String),
}

/// What AWS recorded of one execution besides its definition, input and result.
#[derive(Default)]
struct Recorded<'a> {
    /// The Lambda answers, one per invocation in order.
    lambda: Vec<Value>,
    /// The payloads the function received (`recorded_lambda_inputs`).
    lambda_inputs: Option<&'a Value>,
    /// The variables each state assigned (`assigned_variables`), in event order.
    assigned: Option<&'a Value>,
    /// The details of the `EvaluationFailed` events (`recorded_evaluation_failed`).
    evaluation_failed: Option<&'a Value>,
    history: Option<&'a Value>,
}

/// A value without the HTTP metadata of a `lambda:invoke` result: the recording masked its dates,
/// request ids and trace ids, which no local run can reproduce.
fn unmasked(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "SdkHttpMetadata" | "SdkResponseMetadata"))
                .map(|(k, x)| (k.clone(), unmasked(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(unmasked).collect()),
        other => other.clone(),
    }
}

/// The variables each state assigned, as the `…StateExited` events of a history list them.
fn assigned_in(history: &[asl_engine::HistoryEvent]) -> Vec<(String, Value)> {
    history
        .iter()
        .filter(|e| e.event_type.ends_with("StateExited"))
        .filter_map(|e| {
            let vars = e.details.get("assignedVariables")?.as_object()?;
            let parsed = vars
                .iter()
                .map(|(k, v)| {
                    let text = v.as_str().unwrap_or_default();
                    (k.clone(), serde_json::from_str(text).unwrap_or(Value::Null))
                })
                .collect();
            Some((
                e.details["name"].as_str()?.to_string(),
                Value::Object(parsed),
            ))
        })
        .collect()
}

/// The Lambda answers of a case folder: `lambda_invoke_results.json` (one per invocation) or
/// `lambda_invoke_result.json`.
fn lambda_answers(dir: &Path) -> Vec<Value> {
    let many = dir.join("lambda_invoke_results.json");
    let one = dir.join("lambda_invoke_result.json");
    if many.is_file() {
        match read_json(&many) {
            Value::Array(a) => a,
            other => vec![other],
        }
    } else if one.is_file() {
        vec![read_json(&one)]
    } else {
        vec![]
    }
}

async fn run_case(
    definition: &Value,
    input: Value,
    expected: &Value,
    rec: Recorded<'_>,
) -> Outcome {
    let machine = match StateMachine::from_value(definition) {
        Ok(m) => m,
        Err(e) => return Outcome::Fail(format!("rejected at load: {e}")),
    };
    let lambda = Arc::new(ReplayLambda {
        recorded: rec.lambda,
        calls: Mutex::new(Vec::new()),
    });
    let result = execute(
        &machine,
        input,
        ExecutionOptions {
            record_history: true,
            ..Default::default()
        },
        lambda.clone(),
    )
    .await;
    let history = rec.history;
    let want_status = expected["status"].as_str().unwrap_or_default();
    let status = match result.status {
        ExecutionStatus::Succeeded => "SUCCEEDED",
        ExecutionStatus::Failed => "FAILED",
        ExecutionStatus::TimedOut => "TIMED_OUT",
        ExecutionStatus::Aborted => "ABORTED",
    };
    let mut problems = Vec::new();
    if status != want_status {
        problems.push(format!("status {status}, expected {want_status}"));
    }
    if want_status == "SUCCEEDED" {
        let got = result.output.clone().unwrap_or(Value::Null);
        if !same(&got, &expected["output"]) {
            problems.push(format!(
                "output {got}\n      expected {}",
                expected["output"]
            ));
        }
    } else {
        for (field, got) in [("error", &result.error), ("cause", &result.cause)] {
            let want = expected.get(field).and_then(Value::as_str);
            if got.as_deref() != want {
                problems.push(format!("{field} {got:?}\n      expected {want:?}"));
            }
        }
    }
    if let Some(Value::Array(want)) = rec.lambda_inputs {
        let got = lambda.calls.lock().unwrap().clone();
        if got.len() != want.len() || !got.iter().zip(want).all(|(g, w)| same(g, w)) {
            problems.push(format!("Lambda inputs {got:?}\n      expected {want:?}"));
        }
    }
    if let Some(Value::Array(want)) = rec.assigned {
        let mut want: Vec<(String, Value)> = want
            .iter()
            .map(|a| {
                (
                    a["state"].as_str().unwrap_or_default().to_string(),
                    a["variables"].clone(),
                )
            })
            .collect();
        let mut got = assigned_in(&result.history);
        // Concurrent branches assign in an order AWS does not fix.
        if definition.to_string().contains("\"Parallel\"") {
            want.sort_by(|a, b| a.0.cmp(&b.0));
            got.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let agree = got.len() == want.len()
            && got
                .iter()
                .zip(&want)
                .all(|(g, w)| g.0 == w.0 && same(&unmasked(&g.1), &unmasked(&w.1)));
        if !agree {
            problems.push(format!(
                "assigned variables {got:?}\n      expected {want:?}"
            ));
        }
    }
    if let Some(Value::Array(want)) = rec.evaluation_failed {
        let got: Vec<&Value> = result
            .history
            .iter()
            .filter(|e| e.event_type == "EvaluationFailed")
            .map(|e| &e.details)
            .collect();
        if got.len() != want.len() || !got.iter().zip(want).all(|(g, w)| same(g, w)) {
            problems.push(format!("EvaluationFailed {got:?}\n      expected {want:?}"));
        }
    }
    let mut history_problem = None;
    if let Some(Value::Array(want)) = history {
        let mut want: Vec<&str> = want.iter().filter_map(Value::as_str).collect();
        let mut got: Vec<&str> = result
            .history
            .iter()
            .map(|e| e.event_type.as_str())
            .collect();
        // How AWS interleaves the events of concurrent branches is not reproducible; only
        // which events happen is compared there.
        if definition.to_string().contains("\"Parallel\"") {
            want.sort_unstable();
            got.sort_unstable();
        }
        if got != want {
            history_problem = Some(format!("history {got:?}\n      expected {want:?}"));
        }
    }
    if problems.is_empty() {
        Outcome::Pass {
            history: history_problem,
        }
    } else {
        Outcome::Fail(problems.join("\n    "))
    }
}

#[derive(Default)]
struct Tally {
    passed: usize,
    /// Of `passed`, the cases that run in JSONata mode outside `jsonata/`.
    jsonata_passed: usize,
    failed: usize,
    unexpected: Vec<String>,
    known: Vec<String>,
    history_checked: usize,
}

impl Tally {
    fn record(&mut self, name: &str, outcome: Outcome) {
        match outcome {
            Outcome::Pass { history } => {
                self.passed += 1;
                if name.starts_with("jsonata-") {
                    self.jsonata_passed += 1;
                }
                self.history_checked += 1;
                if let Some(why) = history {
                    if let Some((_, reason)) =
                        KNOWN_HISTORY_DIFFERENCES.iter().find(|(n, _)| *n == name)
                    {
                        self.known.push(format!("{name}: {reason}"));
                    } else {
                        println!("HISTORY DIFFERS {name}\n    {why}");
                        self.unexpected.push(format!("{name} (history)"));
                    }
                }
            }
            Outcome::Fail(why) => {
                self.failed += 1;
                println!("FAIL {name}\n    {why}");
                self.unexpected.push(name.to_string());
            }
        }
    }
}

fn meta(dir: &Path) -> Value {
    let p = dir.join("meta.json");
    if p.is_file() {
        read_json(&p)
    } else {
        Value::Null
    }
}

fn case_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("definition.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[tokio::test(start_paused = true)]
async fn conformance() {
    let root = PathBuf::from(CORPUS);
    assert!(
        root.is_dir(),
        "the AWS conformance corpus was not found at {}: check out the shared folder beside the repository",
        root.display()
    );
    let mut folders: Vec<(&str, Tally)> = Vec::new();

    let mut states = Tally::default();
    for dir in case_dirs(&root.join("states")) {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let meta = meta(&dir);
        let outcome = run_case(
            &read_json(&dir.join("definition.json")),
            read_json(&dir.join("input.json")),
            &read_json(&dir.join("expected.json")),
            Recorded {
                history: meta.get("history_event_types"),
                ..Default::default()
            },
        )
        .await;
        states.record(&name, outcome);
    }
    folders.push(("states", states));

    let mut matrix = Tally::default();
    let m = read_json(&root.join("states/_matrix/choice_operators.json"));
    for (i, case) in m["cases"].as_array().expect("cases").iter().enumerate() {
        let name = format!(
            "choice_operators[{i}] {} {}",
            case["operator"].as_str().unwrap_or(""),
            case["input"]
        );
        let outcome = run_case(
            &case["definition"],
            case["input"].clone(),
            &case["expected"],
            Recorded::default(),
        )
        .await;
        matrix.record(&name, outcome);
    }
    folders.push(("states/_matrix", matrix));

    for folder in ["lambda", "jsonata"] {
        let mut tally = Tally::default();
        for dir in case_dirs(&root.join(folder)) {
            let name = dir.file_name().unwrap().to_string_lossy().to_string();
            let meta = meta(&dir);
            let outcome = run_case(
                &read_json(&dir.join("definition.json")),
                read_json(&dir.join("input.json")),
                &read_json(&dir.join("expected.json")),
                Recorded {
                    lambda: lambda_answers(&dir),
                    lambda_inputs: meta.get("recorded_lambda_inputs"),
                    assigned: meta.get("assigned_variables"),
                    evaluation_failed: meta.get("recorded_evaluation_failed"),
                    history: meta.get("history_event_types"),
                },
            )
            .await;
            tally.record(&name, outcome);
        }
        folders.push((folder, tally));
    }

    let (mut passed, mut failed) = (0, 0);
    let mut unexpected = Vec::new();
    for (folder, t) in &folders {
        println!("{folder}: {} passed, {} failed", t.passed, t.failed);
        if *folder != "jsonata" && t.jsonata_passed > 0 {
            println!(
                "{folder}: of which {} JSONata-mode cases passed",
                t.jsonata_passed
            );
        }
        for k in &t.known {
            println!("{folder}: known history difference {k}");
        }
        passed += t.passed;
        failed += t.failed;
        unexpected.extend(t.unexpected.iter().cloned());
    }
    println!("{passed} passed, {failed} failed");
    assert!(
        unexpected.is_empty(),
        "unexpected conformance failures: {unexpected:?}"
    );
}
