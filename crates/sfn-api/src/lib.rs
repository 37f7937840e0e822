//! The Step Functions API of local mode: the endpoint an AWS SDK, the AWS CLI or boto3 talks to
//! when it is pointed at `saga serve` instead of AWS.
//!
//! It answers the Step Functions JSON protocol (`POST /` with `x-amz-target:
//! AWSStepFunctions.<Op>` and `application/x-amz-json-1.0` bodies) for the operations an
//! Express workflow behind API Gateway needs: CreateStateMachine, DescribeStateMachine,
//! UpdateStateMachine, ListStateMachines, DeleteStateMachine, StartSyncExecution,
//! StartExecution, TagResource, UntagResource, ListTagsForResource, TestState and
//! ValidateStateMachineDefinition. The other Step Functions operations answer
//! [`UNSUPPORTED_OPERATION`], naming themselves. Request and response members, date encoding
//! (epoch seconds as a float) and error `__type`s are AWS's, so that the generated SDK clients
//! parse them into their modelled types; see `docs/local-mode.md` for what is and is not
//! faithful.
//!
//! Executions run in [`asl_engine`]. What a Task state calls is not this crate's business: the
//! owner of the router supplies a [`ResourcesFactory`] and is asked for a fresh
//! [`asl_engine::Resources`] per execution, so it can bind each one to the state machine and
//! execution it serves (a `saga serve` wires its local Lambdas; tests wire
//! [`mock::MockResources`]).
//!
//! An [`ExecutionObserver`] ([`SfnApi::with_observer`]) is told about every execution once it has
//! ended, with its history events if it asked for them: the API itself keeps nothing about an
//! Express execution, as on AWS, but whoever serves it may show what ran.
//!
//! A Step Functions Local mock configuration ([`SfnApi::with_mock_config`]) lets a caller run
//! a test case: `stateMachineArn` = `<arn>#<TestCaseName>`, as with Step Functions Local.
//!
//! StartExecution answers at once and runs the execution as a task of its own, on the same
//! engine and [`ResourcesFactory`] as StartSyncExecution; nothing about it can be asked
//! afterwards, as with an Express execution on AWS. Whoever serves the API ends those tasks at
//! shutdown with [`SfnApi::background_finished`] and [`SfnApi::end_background`].
//!
//! State machines live in memory: a restart forgets them, as a fresh account would.
//!
//! # Serving it next to another API
//!
//! [`mount`] puts the API in front of an existing router: a request that is a `POST /` carrying
//! `x-amz-target` goes here, everything else goes to the existing router untouched. [`router`]
//! is the API alone, for a dedicated listener.
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! use sfn_api::{mock::MockResources, SfnApi, SfnApiConfig};
//!
//! let api = Arc::new(SfnApi::new(
//!     SfnApiConfig::default(),
//!     Arc::new(|_ctx: &sfn_api::ExecutionContext| {
//!         Arc::new(MockResources::default()) as Arc<dyn asl_engine::Resources>
//!     }),
//! ));
//! let app = sfn_api::mount(axum::Router::new(), api);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```

#[cfg(feature = "client")]
pub mod client;
mod error;
pub mod mock;
mod ops;

pub use error::{SfnError, UNSUPPORTED_OPERATION};

use std::sync::{Arc, RwLock};

use asl_engine::{ExecutionResult, ExecutionStatus, Resources, StateMachine};
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// The content type of every request and response of the Step Functions JSON protocol.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// The header naming the operation: `AWSStepFunctions.<Operation>`.
pub const TARGET_HEADER: &str = "x-amz-target";

const TARGET_PREFIX: &str = "AWSStepFunctions.";

/// AWS's limits on the tags of one resource: how many, and how long a key and a value may be.
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_KEY_CHARS: usize = 128;
pub const MAX_TAG_VALUE_CHARS: usize = 256;

/// The error name local mode reports for an execution that a [`Resources`] aborted
/// ([`asl_engine::InvokeResponse::Abort`]). StartSyncExecution never answers `ABORTED` on AWS,
/// so local mode answers FAILED with this error and [`ABORTED_CAUSE`] as the cause.
pub const ABORTED_ERROR: &str = "States.Runtime";

/// The cause that goes with [`ABORTED_ERROR`].
pub const ABORTED_CAUSE: &str = "The execution was aborted: a task's resource stopped it \
(local mode emulating a lost Express execution). StartSyncExecution on AWS never reports ABORTED, \
so local mode reports it as this failure.";

/// What the owner of the router learns about an execution before it starts, to build the
/// [`Resources`] that execution will call.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ExecutionContext {
    pub state_machine_arn: String,
    pub state_machine_name: String,
    /// The execution name: the caller's `name`, or a fresh UUID.
    pub execution_name: String,
    pub input: Value,
}

/// An execution the API ran, as an [`ExecutionObserver`] is told about it once it has ended.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct FinishedExecution<'a> {
    /// `StartSyncExecution` or `StartExecution`.
    pub operation: &'static str,
    pub state_machine_name: &'a str,
    /// The definition the execution ran.
    pub machine: &'a StateMachine,
    /// With its history events: executions run with history recorded while an observer is set.
    pub result: &'a ExecutionResult,
    pub time_scale: f64,
}

/// Told about every execution the API runs, once it has ended, e.g. to show it to a person: on AWS an Express
/// execution leaves only its logs, and the API itself keeps nothing (see [`SfnApi::with_observer`]).
pub trait ExecutionObserver: Send + Sync {
    /// Asked once before each execution starts: whether to record its history events for the observer. Recording
    /// them makes an execution markedly slower.
    fn wants_history(&self) -> bool {
        true
    }

    fn execution_finished(&self, execution: FinishedExecution<'_>);
}

/// Builds the [`Resources`] of one execution.
pub type ResourcesFactory = Arc<dyn Fn(&ExecutionContext) -> Arc<dyn Resources> + Send + Sync>;

/// Where the API pretends to be, and how fast executions run.
#[derive(Clone, Debug)]
pub struct SfnApiConfig {
    pub region: String,
    pub account_id: String,
    /// Passed to [`asl_engine::ExecutionOptions::time_scale`].
    pub time_scale: f64,
    /// Record each execution's history and emit it as `tracing` debug events (target
    /// `sfn_api::history`), one Express CloudWatch log record per event.
    pub log_history: bool,
}

impl Default for SfnApiConfig {
    fn default() -> Self {
        SfnApiConfig {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            time_scale: 1.0,
            log_history: false,
        }
    }
}

/// A created state machine, as DescribeStateMachine reports it.
#[derive(Clone, Debug)]
pub(crate) struct StoredMachine {
    pub arn: String,
    pub name: String,
    /// Verbatim, because DescribeStateMachine returns the text the caller sent.
    pub definition: String,
    pub machine: StateMachine,
    pub role_arn: String,
    pub creation_date: DateTime<Utc>,
    /// Set by UpdateStateMachine, which gives every update a new revision.
    pub revision_id: Option<String>,
    /// Key and value, in the order the keys were first set, which ListTagsForResource keeps.
    pub tags: Vec<(String, String)>,
    pub logging_configuration: Value,
    pub tracing_configuration: Value,
}

impl StoredMachine {
    /// A machine as CreateStateMachine stores it when the request sets nothing optional.
    fn new(
        arn: String,
        name: &str,
        definition: String,
        machine: StateMachine,
        role_arn: &str,
    ) -> StoredMachine {
        StoredMachine {
            arn,
            name: name.to_string(),
            definition,
            machine,
            role_arn: role_arn.to_string(),
            creation_date: Utc::now(),
            revision_id: None,
            tags: Vec::new(),
            logging_configuration: json!({"level": "OFF", "includeExecutionData": false}),
            tracing_configuration: json!({"enabled": false}),
        }
    }
}

/// The API's state: its configuration, the state machines created so far and the
/// [`ResourcesFactory`]. Share it with `Arc`.
pub struct SfnApi {
    config: SfnApiConfig,
    resources: ResourcesFactory,
    /// The Step Functions Local mock configuration that `<stateMachineArn>#<TestCase>` selects
    /// from.
    mock_config: Option<Arc<mock::MockConfig>>,
    observer: Option<Arc<dyn ExecutionObserver>>,
    /// In creation order, which is the order ListStateMachines returns.
    machines: RwLock<Vec<StoredMachine>>,
    /// The executions StartExecution runs after answering. Dropping the set (with the API)
    /// ends them.
    background: tokio::sync::Mutex<JoinSet<()>>,
}

impl std::fmt::Debug for SfnApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SfnApi")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SfnApi {
    pub fn new(config: SfnApiConfig, resources: ResourcesFactory) -> SfnApi {
        SfnApi {
            config,
            resources,
            mock_config: None,
            observer: None,
            machines: RwLock::new(Vec::new()),
            background: tokio::sync::Mutex::new(JoinSet::new()),
        }
    }

    /// Serves the test cases of a Step Functions Local mock configuration, as Step Functions
    /// Local does: StartExecution or StartSyncExecution with `stateMachineArn` set to
    /// `<arn>#<TestCaseName>` runs that state machine with the test case's Task states answered
    /// from `config` (every other Task call goes to the [`ResourcesFactory`]'s resources);
    /// without the `#` suffix nothing is mocked. The test case is looked up under the state
    /// machine's name.
    pub fn with_mock_config(mut self, config: Arc<mock::MockConfig>) -> SfnApi {
        self.mock_config = Some(config);
        self
    }

    /// Tells `observer` about every execution once it has ended. Executions the observer wants the history of
    /// ([`ExecutionObserver::wants_history`]) record their history events, as with [`SfnApiConfig::log_history`],
    /// and the observer receives them with the result; what the API answers does not change.
    pub fn with_observer(mut self, observer: Arc<dyn ExecutionObserver>) -> SfnApi {
        self.observer = Some(observer);
        self
    }

    pub fn config(&self) -> &SfnApiConfig {
        &self.config
    }

    /// The ARN a state machine called `name` gets in this API's region and account.
    pub fn state_machine_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:stateMachine:{name}",
            self.config.region, self.config.account_id
        )
    }

    /// Waits until every execution that StartExecution started in the background has ended.
    /// Dropping the future stops the wait, not the executions. A StartExecution that arrives
    /// during the wait is not answered until the wait ends, so call this once the server takes
    /// no more requests, as a shutdown does.
    pub async fn background_finished(&self) {
        let mut running = self.background.lock().await;
        while running.join_next().await.is_some() {}
    }

    /// Ends every execution still running in the background, as a crash would end it: it
    /// leaves no result and calls no further task. For a shutdown whose grace period is over.
    pub async fn end_background(&self) {
        self.background.lock().await.shutdown().await;
    }

    /// How many executions are running in the background.
    pub async fn background_running(&self) -> usize {
        let mut running = self.background.lock().await;
        while running.try_join_next().is_some() {}
        running.len()
    }

    /// Creates an Express state machine from a definition already loaded, as CreateStateMachine would, and
    /// returns its ARN.
    pub fn create_express(
        &self,
        name: &str,
        machine: StateMachine,
        role_arn: &str,
    ) -> Result<String, SfnError> {
        ops::create_express(self, name, machine, role_arn)
    }

    /// Answers one operation: `operation` is the part of `x-amz-target` after
    /// `AWSStepFunctions.`, `body` the request JSON. Returns the response JSON.
    pub async fn call(&self, operation: &str, body: Value) -> Result<Value, SfnError> {
        ops::call(self, operation, body).await
    }
}

/// The `StartSyncExecution` response body for `result`. An `ABORTED` result becomes FAILED
/// with [`ABORTED_ERROR`] and [`ABORTED_CAUSE`], since AWS never answers `ABORTED` here.
pub fn start_sync_execution_response(result: &ExecutionResult) -> Value {
    let mut body = result.to_start_sync_execution_response();
    if result.status == ExecutionStatus::Aborted {
        if let Some(m) = body.as_object_mut() {
            m.insert("status".into(), json!("FAILED"));
            m.remove("output");
            m.insert("error".into(), json!(ABORTED_ERROR));
            m.insert("cause".into(), json!(ABORTED_CAUSE));
        }
    }
    body
}

/// The API alone: `POST /` answers every operation. Requests without `x-amz-target` get
/// `UnknownOperationException`, as AWS answers them.
pub fn router(api: Arc<SfnApi>) -> Router {
    Router::new().route("/", post(dispatch)).with_state(api)
}

/// Puts the API in front of `app`: a `POST /` with an `x-amz-target` header is a Step
/// Functions call and goes to the API; every other request goes to `app` unchanged, including
/// its own 404s and 405s. Routing on the header rather than merging routes lets `app` keep any
/// route it has at `/`.
pub fn mount(app: Router, api: Arc<SfnApi>) -> Router {
    let sfn = router(api);
    Router::new().fallback_service(tower::service_fn(move |request: Request| {
        let target = if is_sfn_request(&request) {
            sfn.clone()
        } else {
            app.clone()
        };
        target.oneshot(request)
    }))
}

/// Whether `request` is a Step Functions API call that [`mount`] sends to the API.
pub fn is_sfn_request<B>(request: &http::Request<B>) -> bool {
    request.method() == Method::POST
        && request.uri().path() == "/"
        && request.headers().contains_key(TARGET_HEADER)
}

async fn dispatch(State(api): State<Arc<SfnApi>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(operation) = headers
        .get(TARGET_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
    else {
        return SfnError::UnknownOperationException(String::new()).into_response();
    };
    // The SDKs send `{}` for operations without members; tolerate an empty body too.
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return SfnError::SerializationException(
                    "Start of structure or map found where not expected".into(),
                )
                .into_response()
            }
            Err(e) => return SfnError::SerializationException(e.to_string()).into_response(),
        }
    };
    tracing::debug!(operation, "step functions call");
    match api.call(operation, request).await {
        Ok(response) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, CONTENT_TYPE)],
            response.to_string(),
        )
            .into_response(),
        Err(e) => {
            tracing::debug!(operation, error = e.type_name(), message = %e, "step functions error");
            e.into_response()
        }
    }
}
