//! The mock configuration format of AWS's Step Functions Local (the `MockConfigFile.json` of
//! "Using mocked service integrations for testing in Step Functions Local"), so that mock files
//! written for it work here unchanged.
//!
//! ```json
//! {
//!   "StateMachines": {
//!     "order-saga": {
//!       "TestCases": {
//!         "RetryPath": {"ReserveStock": "ReserveAfterRetry"}
//!       }
//!     }
//!   },
//!   "MockedResponses": {
//!     "ReserveAfterRetry": {
//!       "0": {"Throw": {"Error": "Lambda.TooManyRequestsException", "Cause": "Rate exceeded"}},
//!       "1-2": {"Return": {"StatusCode": 200, "Payload": {"reserved": true}}}
//!     }
//!   }
//! }
//! ```
//!
//! A test case maps a Task state's name to a mocked response; a mocked response maps
//! invocation indexes of that state to a `Return` (the Task's result) or a `Throw` (its
//! `Error` and `Cause`). Indexes count from 0 every call of the state in one execution,
//! retries included, as a single number (`"3"`) or an inclusive range (`"1-2"`).
//!
//! As Step Functions Local's guide describes it:
//! - `Return` is the Task's result as written: the mock is not held to the real API's shape.
//!   For `arn:aws:states:::lambda:invoke` that is the whole Invoke result, so a `Payload`
//!   object stays an object and a `Payload` string stays a string, not parsed (AWS would parse
//!   the function's JSON; write the object to get what AWS gives).
//! - `Throw` fails the Task with that `Error` and `Cause`, which Retry and Catch see.
//! - A Task state the test case does not name is not mocked: it calls what it would call
//!   without the test case.
//! - A mocked state called at an index no key covers fails: Step Functions Local fails the
//!   execution. Here the Task fails with `States.Runtime` and a cause naming the state and the
//!   index; unlike a real `States.Runtime`, a Catch on `States.ALL` can see it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use asl_engine::{InvokeRequest, InvokeResponse, Resources};
use serde_json::{Map, Value};

/// A mock configuration, or a test case asked of it, that is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MockConfigError {
    #[error(
        "a mock configuration must be a JSON object with \"StateMachines\" and \"MockedResponses\""
    )]
    NotAnObject,
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
    #[error("the mock configuration has no state machine {0:?} under \"StateMachines\"")]
    UnknownStateMachine(String),
    #[error("state machine {machine:?} has no test case {test_case:?} (it has: {known})")]
    UnknownTestCase {
        machine: String,
        test_case: String,
        known: String,
    },
}

fn invalid(at: impl Into<String>, message: impl Into<String>) -> MockConfigError {
    MockConfigError::Invalid {
        at: at.into(),
        message: message.into(),
    }
}

/// What one invocation of a mocked state answers.
#[derive(Clone, Debug, PartialEq)]
pub enum MockedOutcome {
    /// The Task's result, verbatim.
    Return(Value),
    /// The Task's error output.
    Throw { error: String, cause: String },
}

/// One entry of `MockedResponses`: outcomes by inclusive invocation range, sorted, disjoint.
#[derive(Clone, Debug, PartialEq)]
pub struct MockedResponse {
    ranges: Vec<(usize, usize, MockedOutcome)>,
}

impl MockedResponse {
    /// The outcome of the zero-based invocation `index`, if a key covers it.
    pub fn at(&self, index: usize) -> Option<&MockedOutcome> {
        self.ranges
            .iter()
            .find(|(start, end, _)| (*start..=*end).contains(&index))
            .map(|(_, _, outcome)| outcome)
    }

    fn from_json(name: &str, value: &Value) -> Result<MockedResponse, MockConfigError> {
        let at = format!("MockedResponses.{name}");
        let Value::Object(m) = value else {
            return Err(invalid(at, "must be an object of invocation indexes"));
        };
        if m.is_empty() {
            return Err(invalid(at, "has no invocation index"));
        }
        let mut ranges = Vec::new();
        for (key, v) in m {
            let here = format!("{at}.{key}");
            let (start, end) = parse_range(key).ok_or_else(|| {
                invalid(
                    &here,
                    "an invocation index is a number (\"0\") or an inclusive range (\"1-2\")",
                )
            })?;
            ranges.push((start, end, parse_outcome(&here, v)?));
        }
        ranges.sort_by_key(|(start, _, _)| *start);
        for pair in ranges.windows(2) {
            if pair[1].0 <= pair[0].1 {
                return Err(invalid(
                    at,
                    format!("invocation {} is given twice", pair[1].0),
                ));
            }
        }
        Ok(MockedResponse { ranges })
    }
}

/// `"3"` → (3, 3); `"1-2"` → (1, 2); anything else (including `"2-1"`) → None.
fn parse_range(key: &str) -> Option<(usize, usize)> {
    let number = |s: &str| -> Option<usize> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match key.split_once('-') {
        None => number(key).map(|n| (n, n)),
        Some((a, b)) => {
            let (a, b) = (number(a)?, number(b)?);
            (a <= b).then_some((a, b))
        }
    }
}

fn parse_outcome(at: &str, value: &Value) -> Result<MockedOutcome, MockConfigError> {
    let Value::Object(m) = value else {
        return Err(invalid(
            at,
            "must be an object with \"Return\" or \"Throw\"",
        ));
    };
    if m.len() != 1 {
        return Err(invalid(
            at,
            "must have exactly one member, \"Return\" or \"Throw\"",
        ));
    }
    if let Some(result) = m.get("Return") {
        return Ok(MockedOutcome::Return(result.clone()));
    }
    let Some(throw) = m.get("Throw") else {
        return Err(invalid(at, "must have \"Return\" or \"Throw\""));
    };
    let text = |k: &str| -> Result<String, MockConfigError> {
        throw
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| invalid(format!("{at}.Throw"), format!("needs a string {k:?}")))
    };
    Ok(MockedOutcome::Throw {
        error: text("Error")?,
        cause: text("Cause")?,
    })
}

/// A whole mock configuration: test cases per state machine, and the mocked responses they
/// name. Every name a test case uses is checked when the file is read.
#[derive(Clone, Debug, PartialEq)]
pub struct MockConfig {
    /// Machine name → test case name → state name → mocked response name.
    machines: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    responses: BTreeMap<String, Arc<MockedResponse>>,
}

/// Whether `value` looks like a Step Functions Local mock configuration rather than a mock
/// file keyed by function: it has a top-level `StateMachines` or `MockedResponses`.
pub fn is_mock_config(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|m| m.contains_key("StateMachines") || m.contains_key("MockedResponses"))
}

fn object<'a>(at: &str, value: &'a Value) -> Result<&'a Map<String, Value>, MockConfigError> {
    value
        .as_object()
        .ok_or_else(|| invalid(at, "must be a JSON object"))
}

impl MockConfig {
    /// Reads a configuration (see the [module docs](self)).
    pub fn from_json(value: &Value) -> Result<MockConfig, MockConfigError> {
        let Value::Object(top) = value else {
            return Err(MockConfigError::NotAnObject);
        };
        if let Some(k) = top
            .keys()
            .find(|k| *k != "StateMachines" && *k != "MockedResponses")
        {
            return Err(invalid(
                k.as_str(),
                "unknown top-level member (expected StateMachines and MockedResponses)",
            ));
        }
        let empty = Value::Object(Map::new());
        let mut responses = BTreeMap::new();
        for (name, v) in object(
            "MockedResponses",
            top.get("MockedResponses").unwrap_or(&empty),
        )? {
            responses.insert(name.clone(), Arc::new(MockedResponse::from_json(name, v)?));
        }
        let mut machines = BTreeMap::new();
        for (machine, v) in object("StateMachines", top.get("StateMachines").unwrap_or(&empty))? {
            let at = format!("StateMachines.{machine}");
            let m = object(&at, v)?;
            let cases = m
                .get("TestCases")
                .ok_or_else(|| invalid(&at, "needs \"TestCases\""))?;
            let mut test_cases = BTreeMap::new();
            for (case, states) in object(&format!("{at}.TestCases"), cases)? {
                let at = format!("{at}.TestCases.{case}");
                let mut mapped = BTreeMap::new();
                for (state, response) in object(&at, states)? {
                    let here = format!("{at}.{state}");
                    let response = response
                        .as_str()
                        .ok_or_else(|| invalid(&here, "must name a mocked response"))?;
                    if !responses.contains_key(response) {
                        return Err(invalid(
                            here,
                            format!("names {response:?}, which MockedResponses does not have"),
                        ));
                    }
                    mapped.insert(state.clone(), response.to_string());
                }
                test_cases.insert(case.clone(), mapped);
            }
            machines.insert(machine.clone(), test_cases);
        }
        Ok(MockConfig {
            machines,
            responses,
        })
    }

    /// The test case `test_case` of the state machine `machine`.
    pub fn test_case(&self, machine: &str, test_case: &str) -> Result<TestCase, MockConfigError> {
        let cases = self
            .machines
            .get(machine)
            .ok_or_else(|| MockConfigError::UnknownStateMachine(machine.to_string()))?;
        let states = cases
            .get(test_case)
            .ok_or_else(|| MockConfigError::UnknownTestCase {
                machine: machine.to_string(),
                test_case: test_case.to_string(),
                known: cases.keys().cloned().collect::<Vec<_>>().join(", "),
            })?;
        Ok(TestCase {
            name: test_case.to_string(),
            states: states
                .iter()
                .map(|(state, response)| {
                    (
                        state.clone(),
                        (response.clone(), self.responses[response].clone()),
                    )
                })
                .collect(),
        })
    }
}

/// One test case: which mocked response answers each mocked state.
#[derive(Clone, Debug)]
pub struct TestCase {
    name: String,
    states: HashMap<String, (String, Arc<MockedResponse>)>,
}

impl TestCase {
    /// The [`Resources`] of one execution of this test case: mocked states answer from the
    /// configuration, every other call goes to `fallback`.
    pub fn resources(&self, fallback: Arc<dyn Resources>) -> TestCaseResources {
        TestCaseResources {
            case: self.clone(),
            calls: self
                .states
                .keys()
                .map(|s| (s.clone(), AtomicUsize::new(0)))
                .collect(),
            fallback,
        }
    }
}

/// The [`Resources`] of one execution of a [`TestCase`]; it counts each mocked state's
/// invocations, so build one per execution.
pub struct TestCaseResources {
    case: TestCase,
    calls: HashMap<String, AtomicUsize>,
    fallback: Arc<dyn Resources>,
}

impl std::fmt::Debug for TestCaseResources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCaseResources")
            .field("case", &self.case)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Resources for TestCaseResources {
    async fn invoke(&self, request: InvokeRequest) -> InvokeResponse {
        let (Some((response_name, response)), Some(calls)) = (
            self.case.states.get(&request.state_name),
            self.calls.get(&request.state_name),
        ) else {
            return self.fallback.invoke(request).await;
        };
        let index = calls.fetch_add(1, Ordering::SeqCst);
        match response.at(index) {
            Some(MockedOutcome::Return(result)) => InvokeResponse::Service(result.clone()),
            Some(MockedOutcome::Throw { error, cause }) => InvokeResponse::ServiceError {
                error: error.clone(),
                cause: cause.clone(),
            },
            None => InvokeResponse::ServiceError {
                error: "States.Runtime".into(),
                cause: format!(
                    "Test case {:?}: mocked response {response_name:?} has no answer for invocation {index} of state {:?}",
                    self.case.name, request.state_name
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asl_engine::ResourceKind;
    use serde_json::json;

    fn config() -> Value {
        json!({
            "StateMachines": {
                "flow": {"TestCases": {
                    "Retry": {"Call": "FailThenSucceed"},
                    "Empty": {}
                }}
            },
            "MockedResponses": {
                "FailThenSucceed": {
                    "0": {"Throw": {"Error": "Lambda.TooManyRequestsException", "Cause": "slow down"}},
                    "1-2": {"Return": {"StatusCode": 200, "Payload": {"ok": true}}},
                    "4": {"Return": {"StatusCode": 200, "Payload": "{\"ok\":1}"}}
                }
            }
        })
    }

    #[test]
    fn ranges_are_numbers_or_inclusive_ranges() {
        assert_eq!(parse_range("0"), Some((0, 0)));
        assert_eq!(parse_range("12"), Some((12, 12)));
        assert_eq!(parse_range("1-2"), Some((1, 2)));
        assert_eq!(parse_range("3-3"), Some((3, 3)));
        for bad in ["", "-", "2-1", "a", "1-", "-1", "+1", "1-2-3", " 1", "1.0"] {
            assert_eq!(parse_range(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn finds_the_outcome_of_each_invocation() {
        let config = MockConfig::from_json(&config()).unwrap();
        let response = &config.responses["FailThenSucceed"];
        assert!(
            matches!(response.at(0), Some(MockedOutcome::Throw { error, .. }) if error == "Lambda.TooManyRequestsException")
        );
        assert_eq!(
            response.at(1),
            Some(&MockedOutcome::Return(
                json!({"StatusCode": 200, "Payload": {"ok": true}})
            ))
        );
        assert_eq!(response.at(1), response.at(2));
        assert_eq!(response.at(3), None);
        assert!(response.at(4).is_some());
        assert_eq!(response.at(5), None);
    }

    #[test]
    fn tells_the_formats_apart() {
        assert!(is_mock_config(&config()));
        assert!(is_mock_config(&json!({"MockedResponses": {}})));
        assert!(!is_mock_config(&json!({"create-order": {"Payload": 1}})));
        assert!(!is_mock_config(&json!([])));
    }

    #[test]
    fn refuses_malformed_configurations() {
        assert_eq!(
            MockConfig::from_json(&json!([])).unwrap_err(),
            MockConfigError::NotAnObject
        );
        let cases = [
            (
                json!({"MockedResponses": {"R": {"x": {"Return": 1}}}}),
                "MockedResponses.R.x",
            ),
            (
                json!({"MockedResponses": {"R": {"2-1": {"Return": 1}}}}),
                "MockedResponses.R.2-1",
            ),
            (
                json!({"MockedResponses": {"R": {"0": {}}}}),
                "MockedResponses.R.0",
            ),
            (
                json!({"MockedResponses": {"R": {"0": {"Return": 1, "Throw": {}}}}}),
                "MockedResponses.R.0",
            ),
            (
                json!({"MockedResponses": {"R": {"0": {"Throw": {"Error": "E"}}}}}),
                "MockedResponses.R.0.Throw",
            ),
            (
                json!({"MockedResponses": {"R": {"0-2": {"Return": 1}, "2": {"Return": 2}}}}),
                "MockedResponses.R",
            ),
            (json!({"MockedResponses": {"R": {}}}), "MockedResponses.R"),
            (json!({"StateMachines": {"m": {}}}), "StateMachines.m"),
            (
                json!({"StateMachines": {"m": {"TestCases": {"t": {"S": "Missing"}}}}}),
                "StateMachines.m.TestCases.t.S",
            ),
            (
                json!({"StateMachines": {"m": {"TestCases": {"t": {"S": 1}}}}}),
                "StateMachines.m.TestCases.t.S",
            ),
            (json!({"StateMachine": {}}), "StateMachine"),
        ];
        for (bad, where_) in cases {
            match MockConfig::from_json(&bad).unwrap_err() {
                MockConfigError::Invalid { at, .. } => assert_eq!(at, where_, "{bad}"),
                other => panic!("{bad}: {other}"),
            }
        }
    }

    #[test]
    fn names_unknown_machines_and_test_cases() {
        let config = MockConfig::from_json(&config()).unwrap();
        assert_eq!(
            config.test_case("other", "Retry").unwrap_err(),
            MockConfigError::UnknownStateMachine("other".into())
        );
        let err = config.test_case("flow", "Nope").unwrap_err();
        assert_eq!(
            err.to_string(),
            "state machine \"flow\" has no test case \"Nope\" (it has: Empty, Retry)"
        );
    }

    #[tokio::test]
    async fn counts_invocations_per_state_and_falls_back_for_the_others() {
        let config = MockConfig::from_json(&config()).unwrap();
        let fallback = Arc::new(
            crate::mock::MockResources::new()
                .with("f", crate::mock::MockAnswer::payload(json!("real"))),
        );
        let resources = config
            .test_case("flow", "Retry")
            .unwrap()
            .resources(fallback);
        let request = |state: &str| InvokeRequest {
            resource: "arn:aws:states:::lambda:invoke".into(),
            kind: ResourceKind::LambdaInvoke {
                function_name: "f".into(),
            },
            payload: json!({}),
            state_name: state.into(),
            execution_name: "e".into(),
            execution_arn: "arn:aws:states:us-east-1:123456789012:express:flow:e:u".into(),
            retry_count: 0,
            timeout: None,
        };
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(match resources.invoke(request("Call")).await {
                InvokeResponse::Service(v) => format!("return {v}"),
                InvokeResponse::ServiceError { error, .. } => format!("throw {error}"),
                other => panic!("{other:?}"),
            });
        }
        assert_eq!(
            seen,
            [
                "throw Lambda.TooManyRequestsException",
                r#"return {"StatusCode":200,"Payload":{"ok":true}}"#,
                r#"return {"StatusCode":200,"Payload":{"ok":true}}"#,
                "throw States.Runtime",
                r#"return {"StatusCode":200,"Payload":"{\"ok\":1}"}"#,
            ]
        );
        assert!(matches!(
            resources.invoke(request("Other")).await,
            InvokeResponse::Lambda { payload, .. } if payload == "\"real\""
        ));
    }
}
