//! Replays the TestState calls recorded on AWS (`shared/asl-conformance/teststate`) against the
//! local API and compares each answer with AWS's.
//!
//! Each case's `request.json` goes to `TestState` as sent (with a role ARN when the recording
//! had one); a case that invoked a real Lambda function gets a Lambda stand-in that answers its
//! `lambda_invoke_result.json`. The answer must match `response.json`: status, error, cause,
//! next state, the output and every `inspectionData` field compared as JSON values, or, for a
//! refused request, the exception name and message. Paths the recording masked
//! (`meta.json.masked_fields`) are left out of the comparison. Every mismatch fails the test.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use asl_engine::{InvokeRequest, InvokeResponse, Resources};
use serde_json::{json, Value};
use sfn_api::{SfnApi, SfnApiConfig, SfnError};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/asl-conformance/teststate"
);

/// The role ARN sent for the cases whose recording sent one (the corpus leaves its value out).
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/TestStateRole";

/// The `inspectionData` members that the API sends as JSON text.
const TEXT_MEMBERS: &[&str] = &[
    "input",
    "afterInputPath",
    "afterParameters",
    "afterArguments",
    "afterItemsPath",
    "afterItemSelector",
    "result",
    "afterResultSelector",
    "afterResultPath",
    "variables",
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

/// Answers the one Lambda call a live case made with what AWS's function returned; any other
/// call is a failure the comparison shows.
struct RecordedLambda {
    recorded: Option<Value>,
}

#[async_trait::async_trait]
impl Resources for RecordedLambda {
    async fn invoke(&self, request: InvokeRequest) -> InvokeResponse {
        let Some(r) = &self.recorded else {
            return InvokeResponse::ServiceError {
                error: "Test.NoRecording".into(),
                cause: format!("the case recorded no call to {}", request.resource),
            };
        };
        InvokeResponse::Lambda {
            status_code: r["StatusCode"].as_u64().unwrap_or(200) as u16,
            function_error: r["FunctionError"].as_str().map(str::to_string),
            executed_version: r["ExecutedVersion"]
                .as_str()
                .unwrap_or("$LATEST")
                .to_string(),
            payload: r["Payload"].as_str().unwrap_or_default().to_string(),
        }
    }
}

/// The answer in the corpus's form: JSON texts parsed, an error as `{"exception": ...}`.
fn normalise(answer: Result<Value, SfnError>) -> Value {
    let mut body = match answer {
        Err(e) => return json!({"exception": {"code": e.type_name(), "message": e.to_string()}}),
        Ok(b) => b,
    };
    let parse = |v: &mut Value| {
        if let Some(t) = v.as_str() {
            *v = serde_json::from_str(t).unwrap_or_else(|e| panic!("not JSON text: {t}: {e}"));
        }
    };
    if let Some(o) = body.get_mut("output") {
        parse(o);
    }
    if let Some(Value::Object(d)) = body.get_mut("inspectionData") {
        for m in TEXT_MEMBERS {
            if let Some(v) = d.get_mut(*m) {
                parse(v);
            }
        }
    }
    body
}

/// Removes the member a masked path (`$.a.b.c`) names, if present.
fn unmask(v: &mut Value, path: &str) {
    let keys: Vec<&str> = path.trim_start_matches("$.").split('.').collect();
    let (last, parents) = keys.split_last().expect("a masked path names a member");
    let mut node = v;
    for k in parents {
        match node.get_mut(*k) {
            Some(n) => node = n,
            None => return,
        }
    }
    if let Some(m) = node.as_object_mut() {
        m.remove(*last);
    }
}

/// `Ok` when the answer matches the recording, else both side by side.
async fn run_case(dir: &Path) -> Result<(), String> {
    let mut request = read_json(&dir.join("request.json"));
    let mut expected = read_json(&dir.join("response.json"));
    if let Some(x) = expected.get_mut("exception").and_then(Value::as_object_mut) {
        x.remove("http_status");
    }
    let meta = read_json(&dir.join("meta.json"));
    if meta["role_arn_sent"] == true {
        request["roleArn"] = json!(ROLE_ARN);
    }
    let recorded = dir.join("lambda_invoke_result.json");
    let recorded = recorded.exists().then(|| read_json(&recorded));
    let resources: Arc<dyn Resources> = Arc::new(RecordedLambda { recorded });
    let api = SfnApi::new(
        SfnApiConfig::default(),
        Arc::new(move |_: &sfn_api::ExecutionContext| resources.clone()),
    );
    let answer = api.call("TestState", request).await;
    let mut actual = normalise(answer);
    for p in meta["masked_fields"].as_array().into_iter().flatten() {
        let p = p.as_str().expect("masked paths are strings");
        unmask(&mut actual, p);
        unmask(&mut expected, p);
    }
    if same(&actual, &expected) {
        Ok(())
    } else {
        Err(format!(
            "expected {}\n     got {}",
            serde_json::to_string(&expected).unwrap(),
            serde_json::to_string(&actual).unwrap()
        ))
    }
}

#[tokio::test]
async fn teststate_recordings_answer_as_on_aws() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(CORPUS)
        .unwrap_or_else(|e| panic!("reading {CORPUS}: {e}"))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.join("request.json").exists())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no TestState cases under {CORPUS}");
    let (mut passed, mut failed) = (0, Vec::new());
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        match run_case(dir).await {
            Ok(()) => passed += 1,
            Err(why) => failed.push(format!("{name}: {why}")),
        }
    }
    println!(
        "teststate conformance: {} cases, {passed} passed, {} failed",
        dirs.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} TestState cases differ from AWS:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
