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
//! JSONata cases must be refused at load time and are counted apart as unsupported. Cases whose
//! recorded history the engine knowingly does not reproduce are listed in
//! `KNOWN_HISTORY_DIFFERENCES` with the reason; any other mismatch fails the test.

use asl_engine::{
    execute, ExecutionOptions, ExecutionStatus, InvokeRequest, InvokeResponse, Resources,
    StateMachine,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/asl-conformance"
);

/// Cases whose recorded event sequence this engine knowingly does not reproduce.
const KNOWN_HISTORY_DIFFERENCES: &[(&str, &str)] = &[(
    "parallel-nested",
    "AWS recorded no ParallelStateExited for the inner Parallel; the engine records one per Parallel",
)];

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

/// Replays a recorded Lambda Invoke answer; without one, sleeps far past any task timeout.
struct ReplayLambda {
    recorded: Option<Value>,
}

#[async_trait::async_trait]
impl Resources for ReplayLambda {
    async fn invoke(&self, _request: InvokeRequest) -> InvokeResponse {
        let Some(r) = &self.recorded else {
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
    Unsupported,
}

async fn run_case(
    definition: &Value,
    input: Value,
    expected: &Value,
    recorded: Option<Value>,
    history: Option<&Value>,
) -> Outcome {
    let machine = match StateMachine::from_value(definition) {
        Ok(m) => m,
        Err(e) => {
            let text = e.to_string();
            if text.contains("JSONata is not supported") {
                return Outcome::Unsupported;
            }
            return Outcome::Fail(format!("rejected at load: {text}"));
        }
    };
    let result = execute(
        &machine,
        input,
        ExecutionOptions {
            record_history: true,
            ..Default::default()
        },
        Arc::new(ReplayLambda { recorded }),
    )
    .await;
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
    failed: usize,
    unsupported: Vec<String>,
    unexpected: Vec<String>,
    known: Vec<String>,
    history_checked: usize,
}

impl Tally {
    fn record(&mut self, name: &str, outcome: Outcome) {
        match outcome {
            Outcome::Pass { history } => {
                self.passed += 1;
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
            Outcome::Unsupported => self.unsupported.push(name.to_string()),
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
        let outcome = run_case(
            &read_json(&dir.join("definition.json")),
            read_json(&dir.join("input.json")),
            &read_json(&dir.join("expected.json")),
            None,
            meta(&dir).get("history_event_types"),
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
            None,
            None,
        )
        .await;
        matrix.record(&name, outcome);
    }
    folders.push(("states/_matrix", matrix));

    let mut lambda = Tally::default();
    for dir in case_dirs(&root.join("lambda")) {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let recorded = dir.join("lambda_invoke_result.json");
        let recorded = recorded.is_file().then(|| read_json(&recorded));
        let outcome = run_case(
            &read_json(&dir.join("definition.json")),
            read_json(&dir.join("input.json")),
            &read_json(&dir.join("expected.json")),
            recorded,
            meta(&dir).get("history_event_types"),
        )
        .await;
        lambda.record(&name, outcome);
    }
    folders.push(("lambda", lambda));

    let (mut passed, mut failed) = (0, 0);
    let mut unexpected = Vec::new();
    for (folder, t) in &folders {
        println!("{folder}: {} passed, {} failed", t.passed, t.failed);
        if !t.unsupported.is_empty() {
            println!(
                "{folder}: {} unsupported (JSONata): {}",
                t.unsupported.len(),
                t.unsupported.join(", ")
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
