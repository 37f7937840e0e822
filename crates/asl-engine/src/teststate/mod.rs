//! TestState: one state of a definition run alone, with the answer AWS's `TestState` API gives.
//!
//! A request ([`TestStateRequest`], read from the API's JSON members) names a single state
//! definition, or a whole state machine and the `stateName` to test in it, with the state's
//! input, variables and context object, and optionally a mock of the state's work and a
//! `stateConfiguration` saying what happened before (retries so far, failed Map iterations,
//! the items an ItemReader read). [`test_state`] checks the request as AWS does, with AWS's
//! exception messages, and runs the state once: the answer ([`TestStateResponse`]) is its
//! output, error, next state and status, and at the DEBUG and TRACE inspection levels every
//! intermediate value of the state's input/output pipeline.
//!
//! A bare state definition is tested as AWS tests it, as the state `StateName` of a machine of
//! its own. Map and Parallel states are tested only with a mock of their result; a distributed
//! Map's own fields (tolerated failures, ItemReader, ResultWriter) are read here, since its
//! iterations never run.

mod load;

use crate::definition::Kind;
use crate::exec::{run_single, Mocked, Plan, Tolerance};
use crate::path::compact;
use crate::Resources;
use load::{check_mock_result, contains_state, load};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// How long a TestState call may run; AWS fails it with `States.Timeout` after five minutes.
const MAX_RUN: std::time::Duration = std::time::Duration::from_secs(300);

/// The name AWS gives a bare state definition under test.
pub const BARE_STATE_NAME: &str = "StateName";

/// An API error of TestState: the variant is AWS's exception name, the text its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TestStateError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidDefinition(String),
}

impl TestStateError {
    /// The exception name AWS answers with.
    pub fn code(&self) -> &'static str {
        match self {
            TestStateError::Validation(_) => "ValidationException",
            TestStateError::InvalidDefinition(_) => "InvalidDefinition",
        }
    }
}

fn invalid(message: impl Into<String>) -> TestStateError {
    TestStateError::Validation(message.into())
}

/// How much of the state's processing the answer shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InspectionLevel {
    #[default]
    Info,
    Debug,
    Trace,
}

/// How strictly a mocked result is checked against the API model of the state's integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidationMode {
    #[default]
    Strict,
    Present,
    None,
}

/// `mock`: the state's work answered in advance.
#[derive(Debug, Clone, PartialEq)]
pub enum TestMock {
    /// `mock.result`, the JSON text of the result, checked when the state is known.
    Result {
        text: String,
        field_validation: FieldValidationMode,
    },
    /// `mock.errorOutput`.
    Error {
        error: Option<String>,
        cause: Option<String>,
    },
}

/// `stateConfiguration`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateConfiguration {
    pub retrier_retry_count: Option<u32>,
    pub error_caused_by_state: Option<String>,
    pub map_iteration_failure_count: Option<u64>,
    /// JSON text of an array: the items a Map's ItemReader read.
    pub map_item_reader_data: Option<String>,
}

/// A TestState request.
#[derive(Debug, Clone, PartialEq)]
pub struct TestStateRequest {
    pub definition: String,
    pub state_name: Option<String>,
    pub role_arn: Option<String>,
    /// JSON text; `{}` when absent.
    pub input: Option<String>,
    /// JSON text of an object.
    pub variables: Option<String>,
    /// JSON text of the whole context object (`$$`).
    pub context: Option<String>,
    pub inspection_level: InspectionLevel,
    /// Accepted for the API's sake: it governs the HTTP Task data of TRACE, which local mode
    /// does not produce.
    pub reveal_secrets: bool,
    pub mock: Option<TestMock>,
    pub state_configuration: StateConfiguration,
}

/// `inspectionData.errorDetails`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorDetails {
    pub retry_backoff_interval_seconds: Option<u64>,
    pub retry_index: Option<usize>,
    pub catch_index: Option<usize>,
}

/// `inspectionData`: the state's data at each step it took.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InspectionData {
    pub input: Option<Value>,
    pub after_input_path: Option<Value>,
    pub after_parameters: Option<Value>,
    /// A JSONata Task's `Arguments`, evaluated.
    pub after_arguments: Option<Value>,
    pub result: Option<Value>,
    pub after_result_selector: Option<Value>,
    pub after_result_path: Option<Value>,
    pub after_items_path: Option<Value>,
    pub after_item_selector: Option<Value>,
    pub variables: Option<Value>,
    pub max_concurrency: Option<u64>,
    pub tolerated_failure_count: Option<u64>,
    pub tolerated_failure_percentage: Option<f64>,
    pub error_details: Option<ErrorDetails>,
}

/// How the tested state ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestStatus {
    Succeeded,
    Failed,
    /// It failed, and a retrier would try it again.
    Retriable,
    /// It failed, and a Catch took it to `nextState`.
    CaughtError,
}

impl TestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TestStatus::Succeeded => "SUCCEEDED",
            TestStatus::Failed => "FAILED",
            TestStatus::Retriable => "RETRIABLE",
            TestStatus::CaughtError => "CAUGHT_ERROR",
        }
    }
}

/// A TestState answer.
#[derive(Debug, Clone, PartialEq)]
pub struct TestStateResponse {
    pub status: TestStatus,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub next_state: Option<String>,
    /// `None` at the INFO level.
    pub inspection_data: Option<InspectionData>,
}

impl TestStateResponse {
    /// The response body as the API sends it: the output and the data of `inspectionData` are
    /// JSON texts.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("status".into(), json!(self.status.as_str()));
        if let Some(o) = &self.output {
            m.insert("output".into(), json!(compact(o)));
        }
        if let Some(e) = &self.error {
            m.insert("error".into(), json!(e));
        }
        if let Some(c) = &self.cause {
            m.insert("cause".into(), json!(c));
        }
        if let Some(n) = &self.next_state {
            m.insert("nextState".into(), json!(n));
        }
        if let Some(d) = &self.inspection_data {
            m.insert("inspectionData".into(), d.to_json());
        }
        Value::Object(m)
    }
}

impl InspectionData {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        let texts = [
            ("input", &self.input),
            ("afterInputPath", &self.after_input_path),
            ("afterParameters", &self.after_parameters),
            ("afterArguments", &self.after_arguments),
            ("result", &self.result),
            ("afterResultSelector", &self.after_result_selector),
            ("afterResultPath", &self.after_result_path),
            ("afterItemsPath", &self.after_items_path),
            ("afterItemSelector", &self.after_item_selector),
            ("variables", &self.variables),
        ];
        for (name, v) in texts {
            if let Some(v) = v {
                m.insert(name.into(), json!(compact(v)));
            }
        }
        if let Some(n) = self.max_concurrency {
            m.insert("maxConcurrency".into(), json!(n));
        }
        if let Some(n) = self.tolerated_failure_count {
            m.insert("toleratedFailureCount".into(), json!(n));
        }
        if let Some(p) = self.tolerated_failure_percentage {
            m.insert("toleratedFailurePercentage".into(), json!(p));
        }
        if let Some(d) = &self.error_details {
            let mut e = Map::new();
            if let Some(s) = d.retry_backoff_interval_seconds {
                e.insert("retryBackoffIntervalSeconds".into(), json!(s));
            }
            if let Some(i) = d.retry_index {
                e.insert("retryIndex".into(), json!(i));
            }
            if let Some(i) = d.catch_index {
                e.insert("catchIndex".into(), json!(i));
            }
            m.insert("errorDetails".into(), Value::Object(e));
        }
        Value::Object(m)
    }
}

fn string_member<'a>(
    body: &'a Map<String, Value>,
    member: &str,
) -> Result<Option<&'a str>, TestStateError> {
    match body.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!(
            "1 validation error detected: Value at '{member}' failed to satisfy constraint: Member must be a string"
        ))),
    }
}

fn enum_member<T: Copy>(
    body: &Map<String, Value>,
    member: &str,
    values: &[(&str, T)],
    default: T,
) -> Result<T, TestStateError> {
    let Some(text) = string_member(body, member)? else {
        return Ok(default);
    };
    values
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
            invalid(format!(
                "1 validation error detected: Value '{text}' at '{member}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                names.join(", ")
            ))
        })
}

fn count_member(body: &Map<String, Value>, member: &str) -> Result<Option<u64>, TestStateError> {
    match body.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            invalid(format!(
                "1 validation error detected: Value at 'stateConfiguration.{member}' failed to satisfy constraint: Member must be a non-negative integer"
            ))
        }),
    }
}

impl TestStateRequest {
    /// A request that tests `definition` with everything else left out.
    pub fn new(definition: impl Into<String>) -> TestStateRequest {
        TestStateRequest {
            definition: definition.into(),
            state_name: None,
            role_arn: None,
            input: None,
            variables: None,
            context: None,
            inspection_level: InspectionLevel::Info,
            reveal_secrets: false,
            mock: None,
            state_configuration: StateConfiguration::default(),
        }
    }

    /// Reads the members of a TestState request body.
    pub fn from_json(body: &Map<String, Value>) -> Result<TestStateRequest, TestStateError> {
        let definition = string_member(body, "definition")?.ok_or_else(|| {
            invalid("1 validation error detected: Value null at 'definition' failed to satisfy constraint: Member must not be null")
        })?;
        let mut request = TestStateRequest::new(definition);
        request.state_name = string_member(body, "stateName")?.map(str::to_string);
        request.role_arn = string_member(body, "roleArn")?.map(str::to_string);
        request.input = string_member(body, "input")?.map(str::to_string);
        request.variables = string_member(body, "variables")?.map(str::to_string);
        request.context = string_member(body, "context")?.map(str::to_string);
        request.inspection_level = enum_member(
            body,
            "inspectionLevel",
            &[
                ("INFO", InspectionLevel::Info),
                ("DEBUG", InspectionLevel::Debug),
                ("TRACE", InspectionLevel::Trace),
            ],
            InspectionLevel::Info,
        )?;
        request.reveal_secrets = match body.get("revealSecrets") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(invalid("1 validation error detected: Value at 'revealSecrets' failed to satisfy constraint: Member must be a boolean"))
            }
        };
        request.mock = match body.get("mock") {
            None | Some(Value::Null) => None,
            Some(Value::Object(mock)) => Some(read_mock(mock)?),
            Some(_) => return Err(invalid("1 validation error detected: Value at 'mock' failed to satisfy constraint: Member must be a structure")),
        };
        if let Some(sc) = body.get("stateConfiguration").and_then(Value::as_object) {
            request.state_configuration = StateConfiguration {
                retrier_retry_count: count_member(sc, "retrierRetryCount")?
                    .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
                error_caused_by_state: string_member(sc, "errorCausedByState")?.map(str::to_string),
                map_iteration_failure_count: count_member(sc, "mapIterationFailureCount")?,
                map_item_reader_data: string_member(sc, "mapItemReaderData")?.map(str::to_string),
            };
        }
        Ok(request)
    }
}

fn read_mock(mock: &Map<String, Value>) -> Result<TestMock, TestStateError> {
    let result = string_member(mock, "result")?;
    let error_output = mock.get("errorOutput").filter(|v| !v.is_null());
    let field_validation = enum_member(
        mock,
        "fieldValidationMode",
        &[
            ("STRICT", FieldValidationMode::Strict),
            ("PRESENT", FieldValidationMode::Present),
            ("NONE", FieldValidationMode::None),
        ],
        FieldValidationMode::Strict,
    )?;
    match (result, error_output) {
        (Some(_), Some(_)) | (None, None) => Err(invalid(
            "A test mock should have only one of the following fields: [result, errorOutput].",
        )),
        (Some(text), None) => Ok(TestMock::Result {
            text: text.to_string(),
            field_validation,
        }),
        (None, Some(e)) => {
            let e = e.as_object().ok_or_else(|| {
                invalid("1 validation error detected: Value at 'mock.errorOutput' failed to satisfy constraint: Member must be a structure")
            })?;
            Ok(TestMock::Error {
                error: string_member(e, "error")?.map(str::to_string),
                cause: string_member(e, "cause")?.map(str::to_string),
            })
        }
    }
}

fn parse_json(text: Option<&str>, member: &str) -> Result<Option<Value>, TestStateError> {
    text.map(|t| {
        serde_json::from_str(t).map_err(|e| {
            invalid(format!(
                "Invalid {member}: the value is not valid JSON ({e})"
            ))
        })
    })
    .transpose()
}

/// Where a TestState run pretends to be, for the context object it builds when the request
/// brings none.
#[derive(Debug, Clone)]
pub struct TestStateAccount {
    pub region: String,
    pub account_id: String,
}

impl Default for TestStateAccount {
    fn default() -> Self {
        TestStateAccount {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
        }
    }
}

/// Tests one state as AWS's TestState does. `resources` answers the Task states that are not
/// mocked.
pub async fn test_state(
    request: &TestStateRequest,
    account: &TestStateAccount,
    resources: Arc<dyn Resources>,
) -> Result<TestStateResponse, TestStateError> {
    let loaded = load(
        &request.definition,
        request.state_name.as_deref(),
        request.mock.is_some(),
    )?;
    let state = loaded.state.clone();
    let kind = state.kind.event_prefix();
    let sc = &request.state_configuration;
    let fans_out = matches!(state.kind, Kind::Parallel { .. } | Kind::Map(_));
    if request.mock.is_some() && !matches!(state.kind, Kind::Task(_)) && !fans_out {
        return Err(invalid(format!(
            "State type '{kind}' is not supported when a mock is specified"
        )));
    }
    if request.mock.is_none() {
        if sc.map_iteration_failure_count.is_some() {
            return Err(invalid(
                "TestState does not support MapIterationFailureCount when a mock is not specified.",
            ));
        }
        if fans_out {
            return Err(TestStateError::InvalidDefinition(
                "TestState API does not support Map or Parallel states. Supported state types include: [Task, Wait, Pass, Succeed, Fail, Choice]".into(),
            ));
        }
        if matches!(state.kind, Kind::Task(_)) && request.role_arn.is_none() {
            return Err(invalid(
                "RoleArn must be specified when testing a Task state",
            ));
        }
    }
    if let Some(name) = &sc.error_caused_by_state {
        if fans_out && !contains_state(&state, name) {
            return Err(invalid(format!(
                "The state '{name}' named by errorCausedByState is not a state of '{}'",
                state.name
            )));
        }
    }
    let mock = match &request.mock {
        None => None,
        Some(TestMock::Error { error, cause }) => Some(Mocked::Error {
            error: error.clone(),
            cause: cause.clone(),
        }),
        Some(TestMock::Result {
            text,
            field_validation,
        }) => {
            let v: Value = serde_json::from_str(text)
                .map_err(|_| invalid("Mocked result must be valid JSON"))?;
            check_mock_result(&state, &loaded.raw, &v, *field_validation)?;
            Some(Mocked::Result(v))
        }
    };
    let input = parse_json(request.input.as_deref(), "input")?.unwrap_or_else(|| json!({}));
    let variables = match parse_json(request.variables.as_deref(), "variables")? {
        None => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(invalid(
                "Invalid variables: the value must be a JSON object",
            ))
        }
    };
    let reader_items = match parse_json(sc.map_item_reader_data.as_deref(), "mapItemReaderData")? {
        None => None,
        Some(v @ Value::Array(_)) => Some(v),
        Some(_) => {
            return Err(invalid(
                "Invalid mapItemReaderData: the value must be a JSON array",
            ))
        }
    };
    let execution_name = uuid::Uuid::new_v4().to_string();
    let state_machine_name = format!("TestState-{}", uuid::Uuid::new_v4().simple());
    let state_machine_arn = format!(
        "arn:aws:states:{}:{}:stateMachine:{state_machine_name}",
        account.region, account.account_id
    );
    let execution_arn = crate::express_execution_arn(&state_machine_arn, &execution_name);
    let retry_count = sc.retrier_retry_count.unwrap_or(0);
    let context = match parse_json(request.context.as_deref(), "context")? {
        Some(c) => c,
        None => {
            let now = chrono::Utc::now()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            json!({
                "Execution": {
                    "Id": execution_arn,
                    "Input": input,
                    "Name": execution_name,
                    "RoleArn": request.role_arn,
                    "StartTime": now,
                },
                "StateMachine": {"Id": state_machine_arn, "Name": state_machine_name},
                "State": {"Name": BARE_STATE_NAME, "EnteredTime": now, "RetryCount": retry_count},
            })
        }
    };
    let number = |k: &str| loaded.raw.get(k).filter(|v| v.is_number()).cloned();
    let text = |k: &str| {
        loaded
            .raw
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let plan = Plan {
        state,
        input,
        variables,
        context,
        execution_arn,
        execution_name,
        role_arn: request.role_arn.clone().unwrap_or_default(),
        state_machine_arn,
        state_machine_name,
        mock,
        retry_count,
        map_failures: sc.map_iteration_failure_count,
        reader_items,
        tolerance: Tolerance {
            count: number("ToleratedFailureCount"),
            count_path: text("ToleratedFailureCountPath"),
            percentage: number("ToleratedFailurePercentage"),
            percentage_path: text("ToleratedFailurePercentagePath"),
        },
    };
    let level = request.inspection_level;
    let Ok(outcome) = tokio::time::timeout(MAX_RUN, run_single(plan, resources)).await else {
        return Ok(TestStateResponse {
            status: TestStatus::Failed,
            output: None,
            error: Some("States.Timeout".into()),
            cause: None,
            next_state: None,
            inspection_data: None,
        });
    };
    let outcome = outcome?;
    Ok(TestStateResponse {
        status: outcome.status,
        output: outcome.output,
        error: outcome.error,
        cause: outcome.cause,
        next_state: outcome.next_state,
        inspection_data: (level != InspectionLevel::Info).then_some(outcome.inspection),
    })
}
