//! The operations, one function each, working on request JSON and returning response JSON.
//!
//! Members are read from `serde_json::Value` by hand rather than derived, so that each absent
//! or mistyped member gets AWS's `ValidationException` text instead of a serde message.

use asl_engine::{
    execute, execute_as, express_execution_arn, ExecutionOptions, ExecutionResult, StateMachine,
    TestStateAccount, TestStateError, TestStateRequest,
};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::{
    start_sync_execution_response, ExecutionContext, SfnApi, SfnError, StoredMachine, MAX_TAGS,
    MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS,
};

/// AWS's limit on a definition (1 MiB) and on an execution input (256 KiB).
const MAX_DEFINITION_BYTES: usize = 1024 * 1024;
const MAX_INPUT_BYTES: usize = 256 * 1024;
const DEFAULT_PAGE: usize = 100;

pub(crate) async fn call(api: &SfnApi, operation: &str, body: Value) -> Result<Value, SfnError> {
    let Value::Object(body) = body else {
        return Err(SfnError::SerializationException(
            "Start of structure or map found where not expected".into(),
        ));
    };
    match operation {
        "CreateStateMachine" => create_state_machine(api, &body),
        "DescribeStateMachine" => describe_state_machine(api, &body),
        "UpdateStateMachine" => update_state_machine(api, &body),
        "TagResource" => tag_resource(api, &body),
        "UntagResource" => untag_resource(api, &body),
        "ListTagsForResource" => list_tags_for_resource(api, &body),
        "ListStateMachines" => list_state_machines(api, &body),
        "DeleteStateMachine" => delete_state_machine(api, &body),
        "StartSyncExecution" => start_sync_execution(api, &body).await,
        "StartExecution" => start_execution(api, &body).await,
        "ValidateStateMachineDefinition" => validate_state_machine_definition(&body),
        "TestState" => test_state(api, &body).await,
        "DescribeExecution" | "GetExecutionHistory" => execution_record(operation, &body),
        "ListExecutions" => list_executions(api, &body),
        _ if AWS_OPERATIONS.contains(&operation) => Err(unsupported(operation, "")),
        _ => Err(SfnError::UnknownOperationException(String::new())),
    }
}

/// Every operation of the Step Functions API (`states-2016-11-23`), as the AWS SDKs know them.
/// A name in this list that [`call`] does not implement is answered with
/// [`SfnError::UnsupportedOperation`]; any other name with `UnknownOperationException`, as AWS
/// answers it.
const AWS_OPERATIONS: &[&str] = &[
    "CreateActivity",
    "CreateStateMachine",
    "CreateStateMachineAlias",
    "DeleteActivity",
    "DeleteStateMachine",
    "DeleteStateMachineAlias",
    "DeleteStateMachineVersion",
    "DescribeActivity",
    "DescribeExecution",
    "DescribeMapRun",
    "DescribeStateMachine",
    "DescribeStateMachineAlias",
    "DescribeStateMachineForExecution",
    "GetActivityTask",
    "GetExecutionHistory",
    "ListActivities",
    "ListExecutions",
    "ListMapRuns",
    "ListStateMachineAliases",
    "ListStateMachineVersions",
    "ListStateMachines",
    "ListTagsForResource",
    "PublishStateMachineVersion",
    "RedriveExecution",
    "SendTaskFailure",
    "SendTaskHeartbeat",
    "SendTaskSuccess",
    "StartExecution",
    "StartSyncExecution",
    "StopExecution",
    "TagResource",
    "TestState",
    "UntagResource",
    "UpdateMapRun",
    "UpdateStateMachine",
    "UpdateStateMachineAlias",
    "ValidateStateMachineDefinition",
];

fn unsupported(operation: &str, detail: &str) -> SfnError {
    SfnError::UnsupportedOperation {
        operation: operation.to_string(),
        detail: detail.to_string(),
    }
}

/// DescribeExecution and GetExecutionHistory. Local mode runs Express executions only, and AWS
/// keeps no record of those to describe: it refuses their ARNs as `InvalidArn`, and so does
/// local mode. A STANDARD execution cannot exist here.
fn execution_record(operation: &str, body: &Map<String, Value>) -> Result<Value, SfnError> {
    let arn = required(body, "executionArn")?;
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 6 || parts[0] != "arn" || parts[2] != "states" {
        return Err(SfnError::InvalidArn(format!("Invalid ARN prefix: {arn}")));
    }
    if parts[5] == "express" {
        return Err(SfnError::InvalidArn(
            "Resource type not valid in this context: express".into(),
        ));
    }
    Err(unsupported(
        operation,
        "it runs EXPRESS state machines only, whose executions AWS does not record either",
    ))
}

/// ListExecutions: AWS refuses it for an EXPRESS state machine, the only type local mode has.
fn list_executions(api: &SfnApi, body: &Map<String, Value>) -> Result<Value, SfnError> {
    match string_member(body, "stateMachineArn")? {
        Some(arn) => {
            find(api, arn)?;
            Err(SfnError::StateMachineTypeNotSupported(
                "This operation is not supported by this type of state machine".into(),
            ))
        }
        None => Err(unsupported(
            "ListExecutions",
            "Map Runs belong to Distributed Map, which it does not run",
        )),
    }
}

fn string_member<'a>(
    body: &'a Map<String, Value>,
    member: &str,
) -> Result<Option<&'a str>, SfnError> {
    match body.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(SfnError::SerializationException(format!(
            "STRING_VALUE can not be converted to a String at '{member}'"
        ))),
    }
}

fn required<'a>(body: &'a Map<String, Value>, member: &str) -> Result<&'a str, SfnError> {
    string_member(body, member)?.ok_or_else(|| SfnError::missing(member))
}

fn epoch_seconds(t: &DateTime<Utc>) -> Value {
    json!(t.timestamp_millis() as f64 / 1000.0)
}

/// AWS's rule for state machine and execution names: 1 to 80 characters, none of them
/// whitespace, brackets, wildcards, `"#%\^|~`$&,;:/` or control characters.
fn valid_name(name: &str) -> bool {
    let len = name.chars().count();
    (1..=80).contains(&len)
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c))
}

/// The state machine name of a `arn:aws:states:REGION:ACCOUNT:stateMachine:NAME` ARN.
fn machine_name_of(arn: &str) -> Result<&str, SfnError> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 6 || parts[0] != "arn" || parts[2] != "states" {
        return Err(SfnError::InvalidArn(format!("Invalid ARN prefix: {arn}")));
    }
    match parts.as_slice() {
        [_, _, _, _, _, "stateMachine", name] if !name.is_empty() => Ok(name),
        _ => Err(SfnError::InvalidArn(format!(
            "Resource type not valid in this context: {arn}"
        ))),
    }
}

fn find(api: &SfnApi, arn: &str) -> Result<StoredMachine, SfnError> {
    machine_name_of(arn)?;
    let machines = api.machines.read().unwrap_or_else(|e| e.into_inner());
    machines
        .iter()
        .find(|m| m.arn == arn)
        .cloned()
        .ok_or_else(|| SfnError::StateMachineDoesNotExist(arn.to_string()))
}

fn load_definition(definition: &str) -> Result<StateMachine, SfnError> {
    if definition.len() > MAX_DEFINITION_BYTES {
        return Err(SfnError::ValidationException(format!(
            "1 validation error detected: Value at 'definition' failed to satisfy constraint: Member must have length less than or equal to {MAX_DEFINITION_BYTES}"
        )));
    }
    StateMachine::from_json(definition).map_err(|e| {
        SfnError::InvalidDefinition(
            e.diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        )
    })
}

fn create_state_machine(api: &SfnApi, body: &Map<String, Value>) -> Result<Value, SfnError> {
    let name = required(body, "name")?;
    let definition = required(body, "definition")?;
    let role_arn = required(body, "roleArn")?;
    // AWS's default type is STANDARD, which local mode does not run.
    let kind = string_member(body, "type")?.unwrap_or("STANDARD");
    match kind {
        "EXPRESS" => {}
        "STANDARD" => {
            return Err(SfnError::StateMachineTypeNotSupported(
                "State machine type is not supported: local mode runs EXPRESS state machines only (set \"type\": \"EXPRESS\")".into(),
            ))
        }
        other => {
            return Err(SfnError::ValidationException(format!(
                "1 validation error detected: Value '{other}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]"
            )))
        }
    }
    if !valid_name(name) {
        return Err(SfnError::InvalidName(name.to_string()));
    }
    if !role_arn.starts_with("arn:") {
        return Err(SfnError::InvalidArn(format!(
            "Invalid ARN prefix: {role_arn}"
        )));
    }
    let machine = load_definition(definition)?;
    let arn = api.state_machine_arn(name);
    let mut tags = Vec::new();
    if let Some(requested) = tag_list(body)? {
        merge_tags(&mut tags, requested, &arn)?;
    }
    let mut stored = StoredMachine::new(arn, name, definition.to_string(), machine, role_arn);
    stored.tags = tags;
    if let Some(logging) = body.get("loggingConfiguration") {
        stored.logging_configuration = logging.clone();
    }
    if let Some(tracing) = body.get("tracingConfiguration") {
        stored.tracing_configuration = tracing.clone();
    }
    insert_machine(api, stored)
}

/// Stores a new machine, or answers for the one already stored under its name.
fn insert_machine(api: &SfnApi, stored: StoredMachine) -> Result<Value, SfnError> {
    let mut machines = api.machines.write().unwrap_or_else(|e| e.into_inner());
    if let Some(existing) = machines.iter().find(|m| m.arn == stored.arn) {
        // AWS makes CreateStateMachine idempotent: the same request again returns the
        // existing machine; a different one under the same name is a conflict.
        if existing.definition == stored.definition && existing.role_arn == stored.role_arn {
            return Ok(json!({
                "stateMachineArn": existing.arn,
                "creationDate": epoch_seconds(&existing.creation_date),
            }));
        }
        return Err(SfnError::StateMachineAlreadyExists(stored.arn));
    }
    let response = json!({
        "stateMachineArn": stored.arn,
        "creationDate": epoch_seconds(&stored.creation_date),
    });
    machines.push(stored);
    Ok(response)
}

/// CreateStateMachine for an Express machine whose definition is already loaded, as a typed call: what an
/// embedding server registers at start-up without sending itself a request.
pub(crate) fn create_express(
    api: &SfnApi,
    name: &str,
    machine: StateMachine,
    role_arn: &str,
) -> Result<String, SfnError> {
    if !valid_name(name) {
        return Err(SfnError::InvalidName(name.to_string()));
    }
    if !role_arn.starts_with("arn:") {
        return Err(SfnError::InvalidArn(format!(
            "Invalid ARN prefix: {role_arn}"
        )));
    }
    let arn = api.state_machine_arn(name);
    let definition = machine.definition().to_string();
    insert_machine(
        api,
        StoredMachine::new(arn.clone(), name, definition, machine, role_arn),
    )?;
    Ok(arn)
}

fn describe_state_machine(api: &SfnApi, body: &Map<String, Value>) -> Result<Value, SfnError> {
    let m = find(api, required(body, "stateMachineArn")?)?;
    let mut described = json!({
        "stateMachineArn": m.arn,
        "name": m.name,
        "status": "ACTIVE",
        "definition": m.definition,
        "roleArn": m.role_arn,
        "type": "EXPRESS",
        "creationDate": epoch_seconds(&m.creation_date),
        "loggingConfiguration": m.logging_configuration,
        "tracingConfiguration": m.tracing_configuration,
    });
    if let Some(revision_id) = &m.revision_id {
        described["revisionId"] = json!(revision_id);
    }
    Ok(described)
}

fn update_state_machine(api: &SfnApi, body: &Map<String, Value>) -> Result<Value, SfnError> {
    let arn = required(body, "stateMachineArn")?;
    machine_name_of(arn)?;
    let definition = string_member(body, "definition")?;
    let role_arn = string_member(body, "roleArn")?;
    let present = |member: &str| body.get(member).filter(|v| !v.is_null()).cloned();
    let logging_configuration = present("loggingConfiguration");
    let tracing_configuration = present("tracingConfiguration");
    // Accepted but not kept, as CreateStateMachine does: local mode encrypts nothing.
    let encryption_configuration = present("encryptionConfiguration");
    if definition.is_none()
        && role_arn.is_none()
        && logging_configuration.is_none()
        && tracing_configuration.is_none()
        && encryption_configuration.is_none()
    {
        return Err(SfnError::MissingRequiredParameter(
            "Either the definition, the role ARN, the LoggingConfiguration, the EncryptionConfiguration or the TracingConfiguration must be specified".into(),
        ));
    }
    if body.get("publish") == Some(&Value::Bool(true)) {
        return Err(unsupported(
            "UpdateStateMachine",
            "publish: state machine versions are not implemented",
        ));
    }
    if let Some(role_arn) = role_arn {
        if !role_arn.starts_with("arn:") {
            return Err(SfnError::InvalidArn(format!(
                "Invalid ARN prefix: {role_arn}"
            )));
        }
    }
    let machine = definition.map(load_definition).transpose()?;

    let mut machines = api.machines.write().unwrap_or_else(|e| e.into_inner());
    let stored = machines
        .iter_mut()
        .find(|m| m.arn == arn)
        .ok_or_else(|| SfnError::StateMachineDoesNotExist(arn.to_string()))?;
    if let (Some(definition), Some(machine)) = (definition, machine) {
        stored.definition = definition.to_string();
        stored.machine = machine;
    }
    if let Some(role_arn) = role_arn {
        stored.role_arn = role_arn.to_string();
    }
    if let Some(logging) = logging_configuration {
        stored.logging_configuration = logging;
    }
    if let Some(tracing) = tracing_configuration {
        stored.tracing_configuration = tracing;
    }
    let revision_id = uuid::Uuid::new_v4().to_string();
    let update_date = Utc::now();
    let response = json!({
        "updateDate": epoch_seconds(&update_date),
        "revisionId": revision_id,
    });
    stored.revision_id = Some(revision_id);
    Ok(response)
}

fn list_state_machines(api: &SfnApi, body: &Map<String, Value>) -> Result<Value, SfnError> {
    let page = match body.get("maxResults") {
        None | Some(Value::Null) => DEFAULT_PAGE,
        Some(v) => match v.as_i64() {
            Some(0) => DEFAULT_PAGE,
            Some(n @ 1..=1000) => n as usize,
            Some(n) if n > 1000 => {
                return Err(SfnError::ValidationException(format!(
                    "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000"
                )))
            }
            _ => {
                return Err(SfnError::ValidationException(format!(
                    "1 validation error detected: Value '{v}' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 0"
                )))
            }
        },
    };
    // The token is the offset of the next page; opaque to clients, as AWS's is.
    let start = match string_member(body, "nextToken")? {
        None => 0,
        Some(token) => token
            .strip_prefix("local-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| SfnError::InvalidToken(token.to_string()))?,
    };
    let machines = api.machines.read().unwrap_or_else(|e| e.into_inner());
    let items: Vec<Value> = machines
        .iter()
        .skip(start)
        .take(page)
        .map(|m| {
            json!({
                "stateMachineArn": m.arn,
                "name": m.name,
                "type": "EXPRESS",
                "creationDate": epoch_seconds(&m.creation_date),
            })
        })
        .collect();
    let mut response = json!({ "stateMachines": items });
    if start + page < machines.len() {
        response["nextToken"] = json!(format!("local-{}", start + page));
    }
    Ok(response)
}

fn delete_state_machine(api: &SfnApi, body: &Map<String, Value>) -> Result<Value, SfnError> {
    let arn = required(body, "stateMachineArn")?;
    machine_name_of(arn)?;
    // AWS answers success for a machine that does not exist (deletion is idempotent).
    api.machines
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|m| m.arn != arn);
    Ok(json!({}))
}

/// What StartExecution and StartSyncExecution both check and prepare before an execution runs.
struct Start {
    stored: StoredMachine,
    name: String,
    input: Value,
    /// Chosen by a `#<TestCase>` suffix of the state machine ARN.
    test_case: Option<crate::mock::TestCase>,
}

fn prepare_start(api: &SfnApi, body: &Map<String, Value>) -> Result<Start, SfnError> {
    let (arn, test_case) = match required(body, "stateMachineArn")?.split_once('#') {
        Some((arn, case)) => (arn, Some(case)),
        None => (required(body, "stateMachineArn")?, None),
    };
    let stored = find(api, arn)?;
    let test_case = match test_case {
        None => None,
        Some(case) => {
            let config = api.mock_config.as_ref().ok_or_else(|| {
                SfnError::ValidationException(format!(
                    "Test case '{case}' requested, but no mock configuration is loaded (saga serve --mock-config FILE or SFN_MOCK_CONFIG)"
                ))
            })?;
            Some(
                config
                    .test_case(&stored.name, case)
                    .map_err(|e| SfnError::ValidationException(e.to_string()))?,
            )
        }
    };
    let name = match string_member(body, "name")? {
        Some(name) if !valid_name(name) => return Err(SfnError::InvalidName(name.to_string())),
        Some(name) => name.to_string(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let input_text = string_member(body, "input")?.unwrap_or("{}");
    if input_text.len() > MAX_INPUT_BYTES {
        return Err(SfnError::ValidationException(format!(
            "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to {MAX_INPUT_BYTES}"
        )));
    }
    let input: Value = serde_json::from_str(input_text)
        .map_err(|e| SfnError::InvalidExecutionInput(e.to_string()))?;
    Ok(Start {
        stored,
        name,
        input,
        test_case,
    })
}

impl Start {
    fn run(
        self,
        api: &SfnApi,
        operation: &'static str,
        execution_arn: Option<String>,
    ) -> impl std::future::Future<Output = ExecutionResult> + Send + 'static {
        let Start {
            stored,
            name,
            input,
            test_case,
        } = self;
        let context = ExecutionContext {
            state_machine_arn: stored.arn.clone(),
            state_machine_name: stored.name.clone(),
            execution_name: name.clone(),
            input: input.clone(),
        };
        let mut resources = (api.resources)(&context);
        if let Some(case) = test_case {
            resources = std::sync::Arc::new(case.resources(resources));
        }
        let options = ExecutionOptions {
            state_machine_arn: stored.arn.clone(),
            name: Some(name),
            time_scale: api.config.time_scale,
            record_history: api.config.log_history
                || api.observer.as_ref().is_some_and(|o| o.wants_history()),
        };
        let observer = api.observer.clone();
        let time_scale = api.config.time_scale;
        let log_history = api.config.log_history;
        async move {
            let result = match execution_arn {
                Some(arn) => execute_as(&stored.machine, input, options, arn, resources).await,
                None => execute(&stored.machine, input, options, resources).await,
            };
            // History recorded for the observer alone is not logged.
            if log_history {
                for record in result.log_records() {
                    tracing::debug!(target: "sfn_api::history", record = %record);
                }
            }
            if let Some(observer) = observer {
                observer.execution_finished(crate::FinishedExecution {
                    operation,
                    state_machine_name: &stored.name,
                    machine: &stored.machine,
                    result: &result,
                    time_scale,
                });
            }
            result
        }
    }
}

/// StartExecution of an Express state machine: at most once, and the caller learns only that
/// it started. The ARN is chosen first so that the answer and the execution's own context
/// (`$$.Execution.Id`, the history records) name the same execution.
async fn start_execution(api: &SfnApi, body: &Map<String, Value>) -> Result<Value, SfnError> {
    let start = prepare_start(api, body)?;
    let execution_arn = express_execution_arn(&start.stored.arn, &start.name);
    let run = start.run(api, "StartExecution", Some(execution_arn.clone()));
    let start_date = Utc::now();
    let mut background = api.background.lock().await;
    while background.try_join_next().is_some() {}
    background.spawn(async move {
        let result = run.await;
        tracing::debug!(
            execution_arn = %result.execution_arn,
            status = %result.status,
            "background execution ended"
        );
    });
    Ok(json!({
        "executionArn": execution_arn,
        "startDate": epoch_seconds(&start_date),
    }))
}

async fn start_sync_execution(api: &SfnApi, body: &Map<String, Value>) -> Result<Value, SfnError> {
    let start = prepare_start(api, body)?;
    let metadata_only = match string_member(body, "includedData")? {
        None | Some("ALL_DATA") => false,
        Some("METADATA_ONLY") => true,
        Some(other) => {
            return Err(SfnError::ValidationException(format!(
                "1 validation error detected: Value '{other}' at 'includedData' failed to satisfy constraint: Member must satisfy enum value set: [ALL_DATA, METADATA_ONLY]"
            )))
        }
    };

    let result = start.run(api, "StartSyncExecution", None).await;

    let mut response = start_sync_execution_response(&result);
    let m = response
        .as_object_mut()
        .expect("the engine renders an object");
    if let Some(trace) = string_member(body, "traceHeader")? {
        m.insert("traceHeader".into(), json!(trace));
    }
    if metadata_only {
        m.remove("input");
        m.remove("output");
        m.insert("inputDetails".into(), json!({"included": false}));
        m.insert("outputDetails".into(), json!({"included": false}));
    }
    Ok(response)
}

fn validate_state_machine_definition(body: &Map<String, Value>) -> Result<Value, SfnError> {
    let definition = required(body, "definition")?;
    match string_member(body, "type")? {
        None | Some("STANDARD") | Some("EXPRESS") => {}
        Some(other) => {
            return Err(SfnError::ValidationException(format!(
                "1 validation error detected: Value '{other}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]"
            )))
        }
    }
    Ok(asl_engine::validate_state_machine_definition(definition))
}

/// TestState: one state run alone, with the exceptions and messages AWS answers. Task states
/// that are not mocked call the same [`crate::ResourcesFactory`] as executions.
async fn test_state(api: &SfnApi, body: &Map<String, Value>) -> Result<Value, SfnError> {
    let definition = required(body, "definition")?;
    if definition.len() > MAX_DEFINITION_BYTES {
        return Err(SfnError::ValidationException(format!(
            "1 validation error detected: Value at 'definition' failed to satisfy constraint: Member must have length less than or equal to {MAX_DEFINITION_BYTES}"
        )));
    }
    let request = TestStateRequest::from_json(body).map_err(test_state_error)?;
    let context = ExecutionContext {
        state_machine_arn: api.state_machine_arn("TestState"),
        state_machine_name: "TestState".into(),
        execution_name: uuid::Uuid::new_v4().to_string(),
        input: request
            .input
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_else(|| json!({})),
    };
    let resources = (api.resources)(&context);
    let account = TestStateAccount {
        region: api.config.region.clone(),
        account_id: api.config.account_id.clone(),
    };
    let response = asl_engine::test_state(&request, &account, resources)
        .await
        .map_err(test_state_error)?;
    Ok(response.to_json())
}

fn test_state_error(e: TestStateError) -> SfnError {
    match e {
        TestStateError::Validation(m) => SfnError::ValidationException(m),
        TestStateError::InvalidDefinition(m) => SfnError::InvalidDefinitionMessage(m),
    }
}

/// The `tags` member of TagResource and CreateStateMachine, checked against AWS's limits on
/// key and value length. `None` when absent.
fn tag_list(body: &Map<String, Value>) -> Result<Option<Vec<(String, String)>>, SfnError> {
    let items = match body.get("tags") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(SfnError::SerializationException(
                "Start of list found where not expected at 'tags'".into(),
            ))
        }
    };
    let mut tags = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(tag) = item else {
            return Err(SfnError::SerializationException(format!(
                "Start of structure or map found where not expected at 'tags.{}'",
                i + 1
            )));
        };
        let at = format!("tags.{}.member", i + 1);
        let key =
            string_member(tag, "key")?.ok_or_else(|| SfnError::missing(&format!("{at}.key")))?;
        check_tag_key(key, &format!("{at}.key"))?;
        let value = string_member(tag, "value")?.unwrap_or("");
        check_length(value, 0, MAX_TAG_VALUE_CHARS, &format!("{at}.value"))?;
        check_tag_characters(value, &format!("{at}.value"))?;
        tags.push((key.to_string(), value.to_string()));
    }
    Ok(Some(tags))
}

fn check_tag_key(key: &str, at: &str) -> Result<(), SfnError> {
    check_length(key, 1, MAX_TAG_KEY_CHARS, at)?;
    check_tag_characters(key, at)
}

/// AWS's constraint on a member's length in characters, with its wording.
fn check_length(text: &str, min: usize, max: usize, at: &str) -> Result<(), SfnError> {
    let len = text.chars().count();
    let constraint = if len < min {
        format!("greater than or equal to {min}")
    } else if len > max {
        format!("less than or equal to {max}")
    } else {
        return Ok(());
    };
    Err(SfnError::ValidationException(format!(
        "1 validation error detected: Value '{text}' at '{at}' failed to satisfy constraint: Member must have length {constraint}"
    )))
}

/// Step Functions allows in tag keys and values only Unicode letters, digits, white space and
/// `_ . : / = + - @`.
fn check_tag_characters(text: &str, at: &str) -> Result<(), SfnError> {
    if text
        .chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
    {
        return Ok(());
    }
    Err(SfnError::ValidationException(format!(
        "1 validation error detected: Value '{text}' at '{at}' failed to satisfy constraint: Tags may only contain Unicode letters, digits, white space, or these symbols: _ . : / = + - @"
    )))
}

/// Sets `requested` on `tags`, replacing the value of a key already there, as TagResource does;
/// refuses a result with more than [`MAX_TAGS`] tags and leaves `tags` unchanged then.
fn merge_tags(
    tags: &mut Vec<(String, String)>,
    requested: Vec<(String, String)>,
    arn: &str,
) -> Result<(), SfnError> {
    let mut merged = tags.clone();
    for (key, value) in requested {
        match merged.iter_mut().find(|(k, _)| *k == key) {
            Some(existing) => existing.1 = value,
            None => merged.push((key, value)),
        }
    }
    if merged.len() > MAX_TAGS {
        return Err(SfnError::TooManyTags(arn.to_string()));
    }
    *tags = merged;
    Ok(())
}

/// Runs `change` on the tags of the state machine `arn`. Local mode has nothing else to tag
/// (no activities), so any other well-formed Step Functions ARN is `ResourceNotFound`, as an
/// absent resource is on AWS.
fn with_tags<T>(
    api: &SfnApi,
    arn: &str,
    change: impl FnOnce(&mut Vec<(String, String)>) -> Result<T, SfnError>,
) -> Result<T, SfnError> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 7 || parts[0] != "arn" || parts[2] != "states" {
        return Err(SfnError::InvalidArn(format!("Invalid ARN prefix: {arn}")));
    }
    let mut machines = api.machines.write().unwrap_or_else(|e| e.into_inner());
    let stored = machines
        .iter_mut()
        .find(|m| m.arn == arn)
        .ok_or_else(|| SfnError::ResourceNotFound(arn.to_string()))?;
    change(&mut stored.tags)
}

fn tag_resource(api: &SfnApi, body: &Map<String, Value>) -> Result<Value, SfnError> {
    let arn = required(body, "resourceArn")?;
    let requested = tag_list(body)?.ok_or_else(|| SfnError::missing("tags"))?;
    with_tags(api, arn, |tags| merge_tags(tags, requested, arn))?;
    Ok(json!({}))
}

fn untag_resource(api: &SfnApi, body: &Map<String, Value>) -> Result<Value, SfnError> {
    let arn = required(body, "resourceArn")?;
    let keys = match body.get("tagKeys") {
        None | Some(Value::Null) => return Err(SfnError::missing("tagKeys")),
        Some(Value::Array(keys)) => keys,
        Some(_) => {
            return Err(SfnError::SerializationException(
                "Start of list found where not expected at 'tagKeys'".into(),
            ))
        }
    };
    let mut remove = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        let Value::String(key) = key else {
            return Err(SfnError::SerializationException(format!(
                "STRING_VALUE can not be converted to a String at 'tagKeys.{}'",
                i + 1
            )));
        };
        check_tag_key(key, &format!("tagKeys.{}.member", i + 1))?;
        remove.push(key.as_str());
    }
    // Removing a key the resource does not have is not an error on AWS.
    with_tags(api, arn, |tags| {
        tags.retain(|(k, _)| !remove.contains(&k.as_str()));
        Ok(())
    })?;
    Ok(json!({}))
}

fn list_tags_for_resource(api: &SfnApi, body: &Map<String, Value>) -> Result<Value, SfnError> {
    let arn = required(body, "resourceArn")?;
    let tags = with_tags(api, arn, |tags| Ok(tags.clone()))?;
    let tags: Vec<Value> = tags
        .into_iter()
        .map(|(key, value)| json!({"key": key, "value": value}))
        .collect();
    Ok(json!({ "tags": tags }))
}
