//! Task states: the call out through [`crate::Resources`], its timeout, its history events and
//! how each kind of answer becomes a result or a named error.

use super::env::Env;
use super::Failure;
use crate::definition::{Seconds, State, Target, TaskDef};
use crate::envelope::{Envelope, TaskResult};
use crate::path::compact;
use crate::template::Template;
use crate::{InvokeRequest, InvokeResponse, ResourceKind};
use chrono::Utc;
use serde_json::{json, Value};

/// Step Functions' payload limit for inputs, outputs and task results (UTF-8 bytes).
const MAX_PAYLOAD_BYTES: usize = 262_144;

fn seconds_value(
    env: &Env,
    s: &Seconds,
    input: &Value,
    field: &str,
) -> Result<Option<u64>, Failure> {
    match s {
        Seconds::None => Ok(None),
        Seconds::Fixed(n) => Ok(Some(*n)),
        Seconds::Path(p) => {
            let v = env
                .resolve(p, input)
                .map_err(|m| env.st.runtime(format!("Invalid path '{}' : {m}", p.text)))?;
            match v.as_u64() {
                Some(n) if n > 0 => Ok(Some(n)),
                _ => Err(env.st.runtime(format!(
                    "The {field} field refers to value {} which is not a valid positive integer: {}",
                    compact(&v),
                    p.text
                ))),
            }
        }
    }
}

/// Status codes Lambda's Invoke API answers with, for causes built from an error code alone.
fn lambda_status(code: &str) -> u16 {
    match code {
        "ResourceNotFoundException" => 404,
        "TooManyRequestsException" => 429,
        "ResourceConflictException" => 409,
        "RequestTooLargeException" => 413,
        "UnsupportedMediaTypeException" => 415,
        "InvalidRequestContentException" | "InvalidParameterValueException" => 400,
        "ResourceNotReadyException" => 502,
        "EC2ThrottledException" | "ENILimitReachedException" => 502,
        _ => 500,
    }
}

/// The two fields of a `lambda:invoke` Task's effective parameters that the call uses.
#[derive(Default)]
struct InvokeParts {
    function_name: Option<Value>,
    payload: Option<Value>,
}

impl InvokeParts {
    /// The parts as they stand in an object already built (no `Parameters`, or a literal one).
    fn of(v: &Value) -> InvokeParts {
        InvokeParts {
            function_name: v.get("FunctionName").cloned(),
            payload: v.get("Payload").cloned(),
        }
    }
}

impl Env<'_> {
    /// `Parameters` of a `lambda:invoke` Task, as the two fields the call uses: `FunctionName`
    /// and `Payload`. Any other field is still evaluated, so that its failure fails the state as
    /// it would have, and then dropped, as the whole object would have been.
    fn invoke_parameters(&self, tpl: &Template, input: &Value) -> Result<InvokeParts, Failure> {
        let Template::Object(fields) = tpl else {
            return Ok(InvokeParts::of(&self.template(tpl, input)?));
        };
        let mut parts = InvokeParts::default();
        for (name, field) in fields {
            let v = self.field(field, input)?;
            match name.as_str() {
                "FunctionName" => parts.function_name = Some(v),
                "Payload" => parts.payload = Some(v),
                _ => {}
            }
        }
        Ok(parts)
    }
}

/// One try of a Task state, as [`invoke_task`] needs it besides the [`Env`], which already
/// carries the execution and the state's context.
pub(super) struct TaskCall<'a> {
    pub(super) state: &'a State,
    pub(super) task: &'a TaskDef,
    /// The state's input after InputPath.
    pub(super) input: &'a Value,
    pub(super) retry_count: u32,
    /// `TimeoutSeconds` and `HeartbeatSeconds` already evaluated (JSONata expressions), in
    /// place of the definition's.
    pub(super) limits: (Option<u64>, Option<u64>),
}

pub(super) async fn invoke_task(env: &Env<'_>, call: TaskCall<'_>) -> Result<TaskResult, Failure> {
    let TaskCall {
        state,
        task,
        input: after_input,
        retry_count,
        limits,
    } = call;
    let (run, st) = (env.run, env.st);
    let parameters = state.parameters.as_ref();
    // `lambda:invoke` keeps only the two parts of its parameters that it uses, and never builds the
    // object around them.
    let (parts, eff) = match (&task.target, parameters) {
        (Target::LambdaInvoke, Some(p)) => (env.invoke_parameters(p, after_input)?, Value::Null),
        (Target::LambdaInvoke, None) => (InvokeParts::of(after_input), Value::Null),
        (_, Some(p)) => (InvokeParts::default(), env.template(p, after_input)?),
        (_, None) => (InvokeParts::default(), after_input.clone()),
    };
    let timeout = match limits.0 {
        Some(t) => Some(t),
        None => seconds_value(env, &task.timeout, after_input, "TimeoutSecondsPath")?,
    };
    let heartbeat = match limits.1 {
        Some(h) => Some(h),
        None => seconds_value(env, &task.heartbeat, after_input, "HeartbeatSecondsPath")?,
    };
    // Synchronous integrations never send heartbeats, so a heartbeat interval bounds the call
    // just as a timeout does (AWS reports both as States.Timeout).
    let limit = match (timeout, heartbeat) {
        (Some(t), Some(h)) => Some(t.min(h)),
        (t, h) => t.or(h),
    };
    let scaled = limit.map(|s| run.scaled(s as f64));
    let (kind, payload, lambda_style) = match &task.target {
        Target::LambdaInvoke => {
            let function_name = match parts.function_name {
                Some(Value::String(s)) => s,
                other => {
                    return Err(st.runtime(format!(
                        "The field 'FunctionName' must be a string, not {}",
                        other
                            .as_ref()
                            .map(compact)
                            .unwrap_or_else(|| "missing".into())
                    )))
                }
            };
            let payload = parts.payload.unwrap_or_else(|| json!({}));
            (ResourceKind::LambdaInvoke { function_name }, payload, true)
        }
        Target::LambdaArn => (
            ResourceKind::LambdaArn {
                function_arn: task.resource.clone(),
            },
            eff,
            true,
        ),
        Target::Service { service, action } => (
            ResourceKind::Service {
                service: service.clone(),
                action: action.clone(),
            },
            eff,
            false,
        ),
    };
    let legacy = matches!(task.target, Target::LambdaArn);
    let (ev_scheduled, ev_started, ev_ok, ev_fail, ev_timeout) = if legacy {
        (
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
            "LambdaFunctionFailed",
            "LambdaFunctionTimedOut",
        )
    } else {
        (
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskFailed",
            "TaskTimedOut",
        )
    };
    let (resource_type, resource_name) = match &task.target {
        Target::LambdaInvoke => ("lambda", "invoke"),
        Target::Service { service, action } => (service.as_str(), action.as_str()),
        Target::LambdaArn => ("", ""),
    };
    run.event(ev_scheduled, || {
        let mut d = if legacy {
            json!({"resource": task.resource, "input": compact(&payload), "inputDetails": {"truncated": false}})
        } else {
            json!({"resourceType": resource_type, "resource": resource_name, "region": "us-east-1", "parameters": compact(&payload_for_event(&kind, &payload))})
        };
        if let Some(t) = limit {
            d["timeoutInSeconds"] = json!(t);
        }
        d
    });
    run.event(ev_started, || {
        if legacy {
            json!({})
        } else {
            json!({"resourceType": resource_type, "resource": resource_name})
        }
    });
    let request = InvokeRequest {
        resource: task.resource.clone(),
        kind,
        payload,
        state_name: state.name.clone(),
        execution_name: run.name.clone(),
        execution_arn: run.execution_arn.clone(),
        retry_count,
        timeout: scaled,
    };
    let call = run.resources.invoke(request);
    let response = match scaled {
        Some(d) => match tokio::time::timeout(d, call).await {
            Ok(r) => r,
            Err(_) => {
                run.event(ev_timeout, || {
                    if legacy { json!({"error": "States.Timeout"}) } else { json!({"error": "States.Timeout", "resourceType": resource_type, "resource": resource_name}) }
                });
                return Err(Failure::Error {
                    error: Some("States.Timeout".into()),
                    cause: None,
                });
            }
        },
        None => call.await,
    };
    let fail = |error: String, cause: String| {
        run.event(ev_fail, || {
            if legacy { json!({"error": error, "cause": cause}) } else { json!({"error": error, "cause": cause, "resourceType": resource_type, "resource": resource_name}) }
        });
        Failure::Error {
            error: Some(error),
            cause: Some(cause),
        }
    };
    let lambda_answer = matches!(
        response,
        InvokeResponse::Lambda { .. } | InvokeResponse::LambdaValue { .. }
    );
    if lambda_answer && !lambda_style {
        return Err(fail(
            "States.Runtime".into(),
            "A Lambda response was returned for a non-Lambda resource".into(),
        ));
    }
    let mut result = match response {
        InvokeResponse::Abort => return Err(Failure::Abort),
        InvokeResponse::Lambda {
            status_code,
            function_error,
            executed_version,
            payload,
        } => {
            if function_error.is_some() {
                let parsed: Option<Value> = serde_json::from_str(&payload).ok();
                let error_type = parsed
                    .as_ref()
                    .and_then(|p| p.get("errorType"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                return Err(match error_type {
                    Some(t) => {
                        // The optimised integration re-serialises the error payload compactly;
                        // the legacy ARN form hands over the runtime's text untouched.
                        let cause = match (&task.target, &parsed) {
                            (Target::LambdaInvoke, Some(p)) => compact(p),
                            _ => payload.clone(),
                        };
                        fail(t, cause)
                    }
                    None => fail(
                        "Lambda.Unknown".into(),
                        format!("The cause could not be determined because Lambda did not return an error type. Returned payload: {payload}"),
                    ),
                });
            }
            let body: Value = if payload.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&payload).unwrap_or(Value::String(payload.clone()))
            };
            match task.target {
                Target::LambdaInvoke => TaskResult::Lambda(Envelope {
                    status: status_code,
                    version: executed_version,
                    payload: body,
                    len: Some(payload.len()),
                    at: Utc::now(),
                }),
                _ => TaskResult::Built(body),
            }
        }
        InvokeResponse::LambdaValue {
            status_code,
            executed_version,
            payload,
        } => match task.target {
            Target::LambdaInvoke => TaskResult::Lambda(Envelope {
                status: status_code,
                version: executed_version,
                payload,
                len: None,
                at: Utc::now(),
            }),
            _ => TaskResult::Built(payload),
        },
        InvokeResponse::LambdaServiceError { error, message } => {
            let code = error.strip_prefix("Lambda.").unwrap_or(&error).to_string();
            let status = lambda_status(&code);
            return Err(fail(
                format!("Lambda.{code}"),
                format!("{message} (Service: AWSLambda; Status Code: {status}; Error Code: {code}; Request ID: {}; Proxy: null)", uuid::Uuid::new_v4()),
            ));
        }
        InvokeResponse::LambdaServiceErrorDetailed {
            error,
            message,
            status_code,
            request_id,
        } => {
            let code = error.strip_prefix("Lambda.").unwrap_or(&error).to_string();
            return Err(fail(
                format!("Lambda.{code}"),
                format!("{message} (Service: AWSLambda; Status Code: {status_code}; Error Code: {code}; Request ID: {request_id}; Proxy: null)"),
            ));
        }
        InvokeResponse::Service(v) => TaskResult::Built(v),
        InvokeResponse::ServiceError { error, cause } => return Err(fail(error, cause)),
    };
    if result.exceeds(MAX_PAYLOAD_BYTES) {
        let who = match &task.target {
            Target::LambdaInvoke => "lambda".to_string(),
            Target::LambdaArn => task.resource.clone(),
            Target::Service { service, .. } => service.clone(),
        };
        return Err(fail(
            "States.DataLimitExceeded".into(),
            format!("The state/task '{who}' returned a result with a size exceeding the maximum number of bytes service limit."),
        ));
    }
    let output = run.record.then(|| result.text());
    run.event(ev_ok, || {
        let mut d = json!({"output": output, "outputDetails": {"truncated": false}});
        if !legacy {
            d["resourceType"] = json!(resource_type);
            d["resource"] = json!(resource_name);
        }
        d
    });
    Ok(result)
}

fn payload_for_event(kind: &ResourceKind, payload: &Value) -> Value {
    match kind {
        ResourceKind::LambdaInvoke { function_name } => {
            json!({"FunctionName": function_name, "Payload": payload})
        }
        _ => payload.clone(),
    }
}
