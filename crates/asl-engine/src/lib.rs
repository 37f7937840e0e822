//! A local AWS Step Functions **Express** runtime for Amazon States Language, in JSONPath and
//! JSONata mode.
//!
//! The engine loads a definition ([`StateMachine::from_json`]), validates it the way
//! `ValidateStateMachineDefinition` would, and runs executions ([`execute`]) with the observable
//! behaviour of `StartSyncExecution`: the same input/output processing, error names and causes,
//! retry timing and timeouts. It knows nothing about any particular workflow; Task states call
//! out through the [`Resources`] trait, and the caller decides what a Lambda or an SQS queue is.
//!
//! Layout:
//! - `definition`: JSON → typed state graph, collecting every [`Diagnostic`] with its JSON
//!   pointer instead of stopping at the first one.
//! - `path`: JSONPath evaluation with Jayway's result shapes and error texts (AWS runs Jayway,
//!   and those texts appear verbatim in `States.Runtime` causes).
//! - `intrinsics`: `States.*` functions.
//! - `jsonata`: JSONata expressions (`{% ... %}`) with `$states`, variables and the functions
//!   Step Functions adds.
//! - `template`: payload templates (Parameters, ResultSelector, ...), compiled at load.
//! - `envelope`: a Task's result before ResultSelector; the lambda:invoke envelope is built only
//!   when something reads it whole.
//! - `exec`: the interpreter. Each state runs as an async step; Parallel branches and Map
//!   iterations are tokio tasks so that they really overlap, and every wait goes through tokio
//!   time so tests can run with `tokio::time::pause()`.
//! - `result`: the execution record, its `StartSyncExecution` JSON, and history events.
//! - `teststate`: [`test_state`], one state run alone as the TestState API runs it, with the
//!   intermediate data AWS reports; the running itself is `exec::single`.
//! - [`model`]: the loaded graph, read-only, for tools that reason about a definition.
//!
//! History event ids are always counted, even when history is not recorded, because AWS quotes
//! them in runtime-error causes (`... (entered at the event id #4). ...`).
//!
//! # Example
//!
//! ```
//! use asl_engine::{execute, ExecutionOptions, ExecutionStatus, InvokeRequest, InvokeResponse, Resources, StateMachine};
//! use serde_json::json;
//! use std::sync::Arc;
//!
//! struct Echo;
//!
//! #[async_trait::async_trait]
//! impl Resources for Echo {
//!     async fn invoke(&self, request: InvokeRequest) -> InvokeResponse {
//!         InvokeResponse::Lambda {
//!             status_code: 200,
//!             function_error: None,
//!             executed_version: "$LATEST".into(),
//!             payload: request.payload.to_string(),
//!         }
//!     }
//! }
//!
//! let machine = StateMachine::from_json(r#"{
//!     "StartAt": "Call",
//!     "States": {"Call": {
//!         "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
//!         "Parameters": {"FunctionName": "echo", "Payload.$": "$"},
//!         "OutputPath": "$.Payload", "TimeoutSeconds": 3, "End": true}}
//! }"#).unwrap();
//! let runtime = tokio::runtime::Runtime::new().unwrap();
//! let result = runtime.block_on(execute(&machine, json!({"hello": 1}), ExecutionOptions::default(), Arc::new(Echo)));
//! assert_eq!(result.status, ExecutionStatus::Succeeded);
//! assert_eq!(result.output, Some(json!({"hello": 1})));
//! ```

mod definition;
mod envelope;
mod exec;
mod intrinsics;
mod jsonata;
pub mod model;
mod path;
mod result;
mod template;
mod teststate;

pub use definition::{DefinitionError, Diagnostic};
pub use result::{ExecutionResult, ExecutionStatus, HistoryEvent};
pub use teststate::{
    test_state, ErrorDetails, FieldValidationMode, InspectionData, InspectionLevel,
    StateConfiguration, TestMock, TestStateAccount, TestStateError, TestStateRequest,
    TestStateResponse, TestStatus, BARE_STATE_NAME,
};

use serde_json::Value;
use std::sync::Arc;

/// A parsed and validated state machine definition. Cheap to clone.
#[derive(Clone)]
pub struct StateMachine {
    definition: Arc<Value>,
    graph: Arc<definition::Graph>,
    timeout_seconds: Option<u64>,
}

impl std::fmt::Debug for StateMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachine")
            .field("start_at", &self.graph.start_at)
            .field("states", &self.graph.states.len())
            .finish()
    }
}

impl StateMachine {
    /// Parses and validates a definition. The error lists every problem found, each with the
    /// JSON location it concerns.
    pub fn from_json(definition: &str) -> Result<StateMachine, DefinitionError> {
        let value: Value =
            serde_json::from_str(definition).map_err(|e| definition::invalid_json(&e))?;
        let dups = definition::duplicate_state_names(definition);
        match Self::from_value(&value) {
            Ok(m) if dups.is_empty() => Ok(m),
            Ok(_) => Err(DefinitionError { diagnostics: dups }),
            Err(mut e) => {
                e.diagnostics.extend(dups);
                Err(e)
            }
        }
    }

    pub fn from_value(definition: &Value) -> Result<StateMachine, DefinitionError> {
        let parsed = definition::load(definition)?;
        Ok(StateMachine {
            definition: Arc::new(definition.clone()),
            graph: parsed.graph,
            timeout_seconds: parsed.timeout_seconds,
        })
    }

    pub fn definition(&self) -> &Value {
        &self.definition
    }

    /// The loaded state graph, read-only: the top-level scope.
    pub fn model(&self) -> model::Scope<'_> {
        model::Scope::new(&self.graph)
    }

    /// The top-level `TimeoutSeconds`, if set.
    pub fn timeout_seconds(&self) -> Option<u64> {
        self.timeout_seconds
    }
}

/// The body of an AWS `ValidateStateMachineDefinition` response for `definition`:
/// `{"result": "OK" | "FAIL", "diagnostics": [{"severity", "code", "message", "location"}], "truncated": false}`.
pub fn validate_state_machine_definition(definition: &str) -> Value {
    let diagnostics = match StateMachine::from_json(definition) {
        Ok(_) => Vec::new(),
        Err(e) => e.diagnostics,
    };
    serde_json::json!({
        "result": if diagnostics.is_empty() { "OK" } else { "FAIL" },
        "diagnostics": diagnostics.iter().map(Diagnostic::to_json).collect::<Vec<_>>(),
        "truncated": false,
    })
}

/// How one execution runs.
#[derive(Clone, Debug)]
pub struct ExecutionOptions {
    pub state_machine_arn: String,
    /// The execution name; a new UUID v4 when `None`.
    pub name: Option<String>,
    /// Multiplies every TimeoutSeconds (task and top-level), retry delay and Wait duration, so
    /// tests and demos can run a workflow faster (or slower) than real time.
    pub time_scale: f64,
    /// Keep history events in the result (costs allocations).
    pub record_history: bool,
}

impl Default for ExecutionOptions {
    fn default() -> Self {
        ExecutionOptions {
            state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:local".into(),
            name: None,
            time_scale: 1.0,
            record_history: false,
        }
    }
}

/// Runs one execution to its end, as `StartSyncExecution` would.
pub async fn execute(
    machine: &StateMachine,
    input: Value,
    options: ExecutionOptions,
    resources: Arc<dyn Resources>,
) -> ExecutionResult {
    exec::execute(machine, input, options, None, resources).await
}

/// Like [`execute`], under an execution ARN chosen beforehand (see [`express_execution_arn`]),
/// for callers that must name the execution before it ends, as `StartExecution` answers with
/// the ARN at once.
pub async fn execute_as(
    machine: &StateMachine,
    input: Value,
    options: ExecutionOptions,
    execution_arn: String,
    resources: Arc<dyn Resources>,
) -> ExecutionResult {
    exec::execute(machine, input, options, Some(execution_arn), resources).await
}

/// A new Express execution ARN, `arn:aws:states:REGION:ACCOUNT:express:MACHINE:NAME:UUID`, for an
/// execution called `name` of the state machine `state_machine_arn`: the ARN [`execute`] gives.
pub fn express_execution_arn(state_machine_arn: &str, name: &str) -> String {
    exec::express_execution_arn(state_machine_arn, name)
}

/// What Task states call. The engine owns all Step Functions semantics (Parameters,
/// ResultSelector, timeouts, retries, Lambda error mapping); an implementor only performs the
/// call.
#[async_trait::async_trait]
pub trait Resources: Send + Sync {
    async fn invoke(&self, request: InvokeRequest) -> InvokeResponse;
}

/// Which kind of integration a Task's `Resource` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourceKind {
    /// `arn:aws:states:::lambda:invoke`; the function is `FunctionName` from Parameters.
    LambdaInvoke { function_name: String },
    /// A plain `arn:aws:lambda:...:function:NAME[:QUALIFIER]` resource.
    LambdaArn { function_arn: String },
    /// Any other `arn:aws:states:::SERVICE:ACTION`, e.g. `sqs` / `sendMessage`. SDK
    /// integrations keep their prefix in `service` (`aws-sdk:dynamodb`).
    Service { service: String, action: String },
}

#[derive(Clone, Debug)]
pub struct InvokeRequest {
    /// The Task's Resource, verbatim.
    pub resource: String,
    pub kind: ResourceKind,
    /// Lambda: the `Payload` (lambda:invoke) or the effective input (plain ARN). Service: the
    /// effective Parameters.
    pub payload: Value,
    pub state_name: String,
    pub execution_name: String,
    pub execution_arn: String,
    /// `$$.State.RetryCount` of this attempt.
    pub retry_count: u32,
    /// The Task's timeout, already multiplied by `time_scale`. The engine enforces it; an
    /// implementor may use it to bound work that outlives the call.
    pub timeout: Option<std::time::Duration>,
}

#[derive(Clone, Debug)]
pub enum InvokeResponse {
    /// What the Lambda Invoke API returned: `payload` is the raw response body text.
    Lambda {
        status_code: u16,
        function_error: Option<String>,
        executed_version: String,
        payload: String,
    },
    /// A successful Lambda answer whose payload is already a JSON value: the same as `Lambda` with
    /// no `function_error` and `payload` that value's compact text, without writing the text
    /// and parsing it back. For functions that run in the same process.
    LambdaValue {
        status_code: u16,
        executed_version: String,
        payload: Value,
    },
    /// A Lambda service-level failure (e.g. function not found). `error` is the Lambda error
    /// code, with or without the `Lambda.` prefix; the engine builds AWS's cause text around
    /// `message`, with the HTTP status AWS uses for that code and a fresh request id.
    LambdaServiceError {
        error: String,
        message: String,
    },
    /// Like `LambdaServiceError`, with the HTTP status and request id given (for replaying
    /// recorded failures byte for byte).
    LambdaServiceErrorDetailed {
        error: String,
        message: String,
        status_code: u16,
        request_id: String,
    },
    /// A non-Lambda service integration's result (e.g. sqs:sendMessage's
    /// `{MessageId, MD5OfMessageBody}`).
    Service(Value),
    ServiceError {
        error: String,
        cause: String,
    },
    /// The execution is lost right here: it stops at once with status Aborted; no Catch, no
    /// Retry, nothing after it runs. Emulates a lost Express execution.
    Abort,
}
