//! Canned answers for Task states, so a definition can run without its functions: the
//! `--mock` file of `saga run`, the `--mock-config` file of `saga serve`, and the Lambda
//! stand-in of tests.
//!
//! Two formats are read, told apart by the top level of the file ([`MockFile`]):
//! - the mock configuration of AWS's Step Functions Local (top-level `StateMachines` and
//!   `MockedResponses`), whose test cases mock Task states by name and invocation: see
//!   [`local`]. Files written for Step Functions Local work unchanged;
//! - answers keyed by function, below.
//!
//! A mock file keyed by function is a JSON object from a Lambda function (its name, or any ARN naming it) to an
//! answer, or to a list of answers that successive calls consume, the last one repeating:
//!
//! ```json
//! {
//!   "create-order": {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": "{\"orderId\":\"o-1\"}"},
//!   "reserve-stock": [
//!     {"FunctionError": "Unhandled", "Payload": {"errorType": "Saga.Transient", "errorMessage": "busy"}},
//!     {"Payload": {"reserved": true}}
//!   ],
//!   "confirm-order": {"sleep": 30},
//!   "cancel-order": {"ServiceError": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}},
//!   "arn:aws:states:::sqs:sendMessage": {"Output": {"MessageId": "m-1", "MD5OfMessageBody": "..."}}
//! }
//! ```
//!
//! An answer has the shape of a recorded Lambda Invoke result (`lambda_invoke_result.json` in
//! the conformance corpus): `StatusCode` (default 200), `FunctionError`, `ExecutedVersion`
//! (default `$LATEST`) and `Payload`, the response body as a string; any other JSON value is
//! taken as the body itself, serialised. `{"ServiceError": {"Code", "Message",
//! "HTTPStatusCode"?, "RequestId"?}}` answers a Lambda service error instead. For a non-Lambda
//! integration, keyed by its `Resource`, `{"Output": VALUE}` is its result and
//! `{"Error", "Cause"}` its failure. Any answer may carry `"sleep": SECONDS`: the call waits
//! that long first (times the time scale, as every other duration), which is how a mock
//! provokes a Task's `TimeoutSeconds`; `{"sleep": S}` alone then answers `null`.
//!
//! A Lambda function without an entry fails as AWS fails a missing function,
//! `Lambda.ResourceNotFoundException`; any other integration without an entry fails with
//! `States.TaskFailed` and a cause naming the resource.

pub mod local;

pub use local::{MockConfig, MockConfigError, TestCase, TestCaseResources};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use asl_engine::{InvokeRequest, InvokeResponse, ResourceKind, Resources};
use serde_json::Value;

/// A mock file that does not have the shape described in the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MockError {
    #[error("a mock file must be a JSON object mapping function names or ARNs to answers")]
    NotAnObject,
    #[error("mock entry {key:?}: {message}")]
    InvalidEntry { key: String, message: String },
}

/// A mock file in either format, told apart by its top level: a Step Functions Local
/// configuration has `StateMachines` or `MockedResponses` ([`local`]); anything else is read
/// as answers keyed by function (the format above).
#[derive(Debug)]
pub enum MockFile {
    /// Answers keyed by function name, ARN or `Resource`.
    Answers(MockResources),
    /// A Step Functions Local mock configuration: test cases that mock Task states by name.
    Config(MockConfig),
}

/// A mock file of either format that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MockFileError {
    #[error(transparent)]
    Answers(#[from] MockError),
    #[error("Step Functions Local mock configuration: {0}")]
    Config(#[from] MockConfigError),
}

impl MockFile {
    /// Reads a mock file, whichever its format.
    pub fn from_json(value: &Value) -> Result<MockFile, MockFileError> {
        Ok(if local::is_mock_config(value) {
            MockFile::Config(MockConfig::from_json(value)?)
        } else {
            MockFile::Answers(MockResources::from_json(value)?)
        })
    }
}

/// One canned answer.
#[derive(Clone, Debug)]
pub struct MockAnswer {
    /// Waited before answering (before time scaling).
    pub sleep: Option<Duration>,
    /// `None` answers a successful Lambda invocation whose payload is `null`.
    pub response: Option<InvokeResponse>,
}

const ANSWER_KEYS: &[&str] = &[
    "StatusCode",
    "FunctionError",
    "ExecutedVersion",
    "Payload",
    "ServiceError",
    "Output",
    "Error",
    "Cause",
    "sleep",
];

impl MockAnswer {
    /// A successful Lambda invocation returning `payload`.
    pub fn payload(payload: Value) -> MockAnswer {
        MockAnswer {
            sleep: None,
            response: Some(InvokeResponse::Lambda {
                status_code: 200,
                function_error: None,
                executed_version: "$LATEST".into(),
                payload: payload.to_string(),
            }),
        }
    }

    /// A Lambda function error (`FunctionError: Unhandled`) of type `error_type`, as a Rust
    /// handler's `Diagnostic` would produce it.
    pub fn function_error(error_type: &str, message: &str) -> MockAnswer {
        MockAnswer {
            sleep: None,
            response: Some(InvokeResponse::Lambda {
                status_code: 200,
                function_error: Some("Unhandled".into()),
                executed_version: "$LATEST".into(),
                payload: serde_json::json!({"errorType": error_type, "errorMessage": message})
                    .to_string(),
            }),
        }
    }

    /// Waits `seconds` (scaled) before answering.
    pub fn after(mut self, seconds: f64) -> MockAnswer {
        self.sleep = Some(Duration::from_secs_f64(seconds));
        self
    }

    /// Reads one answer in the mock-file shape.
    pub fn from_json(value: &Value) -> Result<MockAnswer, String> {
        let Value::Object(m) = value else {
            return Err("an answer must be a JSON object".into());
        };
        if let Some(k) = m.keys().find(|k| !ANSWER_KEYS.contains(&k.as_str())) {
            return Err(format!(
                "unknown member {k:?} (expected one of {})",
                ANSWER_KEYS.join(", ")
            ));
        }
        let sleep = match m.get("sleep") {
            None => None,
            Some(v) => match v.as_f64() {
                Some(s) if s.is_finite() && s >= 0.0 => Some(Duration::from_secs_f64(s)),
                _ => return Err("\"sleep\" must be a non-negative number of seconds".into()),
            },
        };
        let text = |k: &str| -> Result<Option<String>, String> {
            match m.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(format!("{k:?} must be a string")),
            }
        };
        let response = if let Some(e) = m.get("ServiceError") {
            let code = e
                .get("Code")
                .and_then(Value::as_str)
                .ok_or("\"ServiceError\" needs a string \"Code\"")?
                .to_string();
            let message = e
                .get("Message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            Some(match e.get("HTTPStatusCode").and_then(Value::as_u64) {
                Some(status) => InvokeResponse::LambdaServiceErrorDetailed {
                    error: code,
                    message,
                    status_code: u16::try_from(status).map_err(|_| "bad HTTPStatusCode")?,
                    request_id: e
                        .get("RequestId")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                },
                None => InvokeResponse::LambdaServiceError {
                    error: code,
                    message,
                },
            })
        } else if let Some(output) = m.get("Output") {
            Some(InvokeResponse::Service(output.clone()))
        } else if let Some(error) = text("Error")? {
            Some(InvokeResponse::ServiceError {
                error,
                cause: text("Cause")?.unwrap_or_default(),
            })
        } else if ["StatusCode", "FunctionError", "ExecutedVersion", "Payload"]
            .iter()
            .any(|k| m.contains_key(*k))
        {
            let status_code = match m.get("StatusCode") {
                None => 200,
                Some(v) => v
                    .as_u64()
                    .and_then(|s| u16::try_from(s).ok())
                    .ok_or("\"StatusCode\" must be an HTTP status")?,
            };
            let payload = match m.get("Payload") {
                None => "null".to_string(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            Some(InvokeResponse::Lambda {
                status_code,
                function_error: text("FunctionError")?,
                executed_version: text("ExecutedVersion")?.unwrap_or_else(|| "$LATEST".into()),
                payload,
            })
        } else if sleep.is_some() {
            None
        } else {
            return Err("an answer needs Payload, ServiceError, Output, Error or sleep".into());
        };
        Ok(MockAnswer { sleep, response })
    }
}

#[derive(Debug)]
struct Entry {
    key: String,
    answers: Vec<MockAnswer>,
    calls: AtomicUsize,
}

/// A [`Resources`] that answers from a table of [`MockAnswer`]s.
#[derive(Debug)]
pub struct MockResources {
    entries: Vec<Entry>,
    time_scale: f64,
}

impl Default for MockResources {
    fn default() -> Self {
        MockResources {
            entries: Vec::new(),
            time_scale: 1.0,
        }
    }
}

/// The function name inside an ARN, partial ARN or `NAME:QUALIFIER`; anything else unchanged.
fn function_name(s: &str) -> &str {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", name, ..] => name,
        [_, "function", name, ..] => name,
        [name, _qualifier] => name,
        _ => s,
    }
}

impl MockResources {
    pub fn new() -> MockResources {
        MockResources::default()
    }

    /// Reads a mock file (see the [module docs](self)).
    pub fn from_json(value: &Value) -> Result<MockResources, MockError> {
        let Value::Object(m) = value else {
            return Err(MockError::NotAnObject);
        };
        let mut mocks = MockResources::new();
        for (key, v) in m {
            let invalid = |message: String| MockError::InvalidEntry {
                key: key.clone(),
                message,
            };
            let answers = match v {
                Value::Array(list) if list.is_empty() => {
                    return Err(invalid("the list of answers is empty".into()))
                }
                Value::Array(list) => list
                    .iter()
                    .enumerate()
                    .map(|(i, a)| MockAnswer::from_json(a).map_err(|e| format!("answer {i}: {e}")))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(invalid)?,
                other => vec![MockAnswer::from_json(other).map_err(invalid)?],
            };
            mocks = mocks.with_answers(key, answers);
        }
        Ok(mocks)
    }

    /// Answers calls to `key` (a function name or ARN, or another integration's `Resource`)
    /// with `answer`, every time.
    pub fn with(self, key: &str, answer: MockAnswer) -> MockResources {
        self.with_answers(key, vec![answer])
    }

    /// Answers successive calls to `key` with `answers` in turn, repeating the last.
    pub fn with_answers(mut self, key: &str, answers: Vec<MockAnswer>) -> MockResources {
        assert!(!answers.is_empty(), "a mock needs at least one answer");
        self.entries.retain(|e| e.key != key);
        self.entries.push(Entry {
            key: key.to_string(),
            answers,
            calls: AtomicUsize::new(0),
        });
        self
    }

    /// Multiplies every `sleep`, to match the execution's time scale.
    pub fn with_time_scale(mut self, time_scale: f64) -> MockResources {
        self.time_scale = time_scale;
        self
    }

    /// How many calls the entry `key` has answered.
    pub fn calls(&self, key: &str) -> usize {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map_or(0, |e| e.calls.load(Ordering::SeqCst))
    }

    fn entry_for_function(&self, requested: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.key == requested)
            .or_else(|| {
                let name = function_name(requested);
                self.entries.iter().find(|e| function_name(&e.key) == name)
            })
    }

    fn entry_for_service(&self, resource: &str, service: &str, action: &str) -> Option<&Entry> {
        let short = format!("{service}:{action}");
        self.entries
            .iter()
            .find(|e| e.key == resource || e.key == short)
    }
}

/// The `Function not found` text Lambda gives, naming the function by its qualified ARN.
fn not_found(function: &str, execution_arn: &str) -> InvokeResponse {
    let parts: Vec<&str> = execution_arn.split(':').collect();
    let (region, account) = match parts.as_slice() {
        [_, _, _, region, account, ..] => (*region, *account),
        _ => ("us-east-1", "123456789012"),
    };
    let mut arn = if function.starts_with("arn:") {
        function.to_string()
    } else {
        format!("arn:aws:lambda:{region}:{account}:function:{function}")
    };
    if arn.split(':').count() == 7 {
        arn.push_str(":$LATEST");
    }
    InvokeResponse::LambdaServiceError {
        error: "ResourceNotFoundException".into(),
        message: format!("Function not found: {arn}"),
    }
}

#[async_trait::async_trait]
impl Resources for MockResources {
    async fn invoke(&self, request: InvokeRequest) -> InvokeResponse {
        let entry = match &request.kind {
            ResourceKind::LambdaInvoke { function_name } => {
                match self.entry_for_function(function_name) {
                    Some(e) => e,
                    None => return not_found(function_name, &request.execution_arn),
                }
            }
            ResourceKind::LambdaArn { function_arn } => match self.entry_for_function(function_arn)
            {
                Some(e) => e,
                None => return not_found(function_arn, &request.execution_arn),
            },
            ResourceKind::Service { service, action } => {
                match self.entry_for_service(&request.resource, service, action) {
                    Some(e) => e,
                    None => {
                        return InvokeResponse::ServiceError {
                            error: "States.TaskFailed".into(),
                            cause: format!(
                                "No mock answers resource {} (add an entry keyed by it)",
                                request.resource
                            ),
                        }
                    }
                }
            }
        };
        let call = entry.calls.fetch_add(1, Ordering::SeqCst);
        let answer = &entry.answers[call.min(entry.answers.len() - 1)];
        if let Some(sleep) = answer.sleep {
            // Saturate: a huge sleep times a huge scale means "never answer", not a panic.
            let scaled =
                Duration::try_from_secs_f64(sleep.as_secs_f64() * self.time_scale.max(0.0))
                    .unwrap_or(Duration::MAX);
            tokio::time::sleep(scaled).await;
        }
        answer.response.clone().unwrap_or(InvokeResponse::Lambda {
            status_code: 200,
            function_error: None,
            executed_version: "$LATEST".into(),
            payload: "null".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn function_names_match_across_arn_forms() {
        assert_eq!(function_name("arn:aws:lambda:us-east-1:1:function:f"), "f");
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:1:function:f:live"),
            "f"
        );
        assert_eq!(function_name("1:function:f"), "f");
        assert_eq!(function_name("f:live"), "f");
        assert_eq!(function_name("f"), "f");
    }

    #[test]
    fn reads_every_answer_shape() {
        let mocks = MockResources::from_json(&json!({
            "raw": {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": "{\"a\":1}"},
            "value": {"Payload": {"a": 1}},
            "service": {"ServiceError": {"Code": "ResourceNotFoundException", "Message": "gone", "HTTPStatusCode": 404}},
            "sqs:sendMessage": {"Output": {"MessageId": "m"}},
            "sleepy": [{"sleep": 0.5}, {"Error": "E", "Cause": "c"}]
        }))
        .unwrap();
        assert_eq!(mocks.entries.len(), 5);
        assert!(matches!(
            &mocks.entries[1].answers[0].response,
            Some(InvokeResponse::Lambda { payload, status_code: 200, .. }) if payload == r#"{"a":1}"#
        ));
        assert!(matches!(
            mocks.entries[2].answers[0].response,
            Some(InvokeResponse::LambdaServiceErrorDetailed {
                status_code: 404,
                ..
            })
        ));
        assert!(mocks.entries[4].answers[0].response.is_none());
    }

    #[test]
    fn refuses_malformed_files() {
        assert_eq!(
            MockResources::from_json(&json!([])).unwrap_err(),
            MockError::NotAnObject
        );
        for bad in [
            json!({"f": {"Paylod": 1}}),
            json!({"f": []}),
            json!({"f": {}}),
            json!({"f": {"sleep": -1}}),
        ] {
            let err = MockResources::from_json(&bad).unwrap_err();
            assert!(
                matches!(err, MockError::InvalidEntry { ref key, .. } if key == "f"),
                "{err}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn answers_in_turn_and_repeats_the_last() {
        let mocks = MockResources::new().with_answers(
            "f",
            vec![
                MockAnswer::function_error("Saga.Transient", "busy"),
                MockAnswer::payload(json!(2)),
            ],
        );
        let request = |name: &str| InvokeRequest {
            resource: "arn:aws:states:::lambda:invoke".into(),
            kind: ResourceKind::LambdaInvoke {
                function_name: name.into(),
            },
            payload: json!({}),
            state_name: "S".into(),
            execution_name: "e".into(),
            execution_arn: "arn:aws:states:eu-west-1:111111111111:express:m:e:u".into(),
            retry_count: 0,
            timeout: None,
        };
        let payload_of = |r: InvokeResponse| match r {
            InvokeResponse::Lambda { payload, .. } => payload,
            other => panic!("{other:?}"),
        };
        let first = payload_of(
            mocks
                .invoke(request("arn:aws:lambda:eu-west-1:1:function:f"))
                .await,
        );
        assert!(first.contains("Saga.Transient"));
        assert_eq!(payload_of(mocks.invoke(request("f")).await), "2");
        assert_eq!(payload_of(mocks.invoke(request("f")).await), "2");
        assert_eq!(mocks.calls("f"), 3);
        match mocks.invoke(request("g")).await {
            InvokeResponse::LambdaServiceError { error, message } => {
                assert_eq!(error, "ResourceNotFoundException");
                assert_eq!(
                    message,
                    "Function not found: arn:aws:lambda:eu-west-1:111111111111:function:g:$LATEST"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
