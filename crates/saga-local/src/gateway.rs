//! The HTTP API: local mode's API Gateway.
//!
//! `POST /orders` does what the REST API does in production: validate the body against the request schema
//! (answering 400 without starting anything), build the execution input the request mapping template builds,
//! run the workflow synchronously, and map the result as the response template does ([`crate::mapping`]).
//! The read and stock routes are the direct DynamoDB integrations' twins.

use std::sync::Arc;

use asl_engine::ExecutionOptions;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use saga_domain::validate::{
    validate_order_request, validate_token, whole_number, FieldError, MAX_BODY_BYTES,
};
use saga_domain::FaultPlan;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::app::App;
use crate::mapping;
use crate::problem::{Problem, ProblemKind};
use crate::resources::ExecutionResources;

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const SAGA_FAULT: &str = "x-saga-fault";
pub const SAGA_EXECUTION: &str = "x-saga-execution";
/// API Gateway's request id header, which a client may set.
pub const REQUEST_ID: &str = "x-amzn-requestid";
/// The largest stock count `PUT /inventory/{sku}` accepts.
pub const MAX_STOCK: u64 = 1_000_000_000;

/// The front door: the order API's routes; beside them at `/` the Step Functions JSON API (`step_functions`,
/// see `sfn_api::router`), which the AWS SDKs and CLI call as `POST /` with an `x-amz-target` header; and the
/// execution viewer (`saga_viewer`): its page at `GET /`, its assets and JSON under `/ui/`. Any other request to
/// `/` is an unknown route of the order API, as it would be without the other two.
pub fn router(app: Arc<App>, step_functions: Router) -> Router {
    let viewer = saga_viewer::router(app.viewer.clone());
    Router::new()
        .route(
            "/",
            any(move |method: Method, request: Request| async move {
                if sfn_api::is_sfn_request(&request) {
                    step_functions.oneshot(request).await.into_response()
                } else if method == Method::GET || method == Method::HEAD {
                    saga_viewer::page()
                } else {
                    no_route(&method, request.uri()).into_response()
                }
            }),
        )
        .route("/orders", axum::routing::post(post_order))
        .route("/orders/{order_id}", get(get_order))
        .route("/inventory/{sku}", get(get_stock).put(put_stock))
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .fallback(|method: Method, uri: axum::http::Uri| async move { no_route(&method, &uri) })
        .method_not_allowed_fallback(|method: Method, uri: axum::http::Uri| async move {
            Problem::new(
                ProblemKind::MethodNotAllowed,
                format!("{method} is not allowed on {}", uri.path()),
            )
        })
        .with_state(app)
        .merge(viewer)
}

fn no_route(method: &Method, uri: &axum::http::Uri) -> Problem {
    Problem::new(
        ProblemKind::NotFound,
        format!("no route for {method} {}", uri.path()),
    )
}

fn invalid(detail: impl Into<String>, errors: Vec<FieldError>) -> Problem {
    let p = Problem::new(ProblemKind::ValidationFailed, detail);
    if errors.is_empty() {
        p
    } else {
        p.with(
            "errors",
            serde_json::to_value(errors).expect("field errors serialise"),
        )
    }
}

/// A body without `Content-Type` is read as JSON, as API Gateway does: it picks the `application/json` mapping
/// template (and request model) when the header is missing (API Gateway developer guide, "Integration passthrough
/// behaviors"). Any other media type is refused, as `passthrough_behavior = "NEVER"` refuses it there.
fn require_json(headers: &HeaderMap) -> Result<(), Problem> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = ct.to_str().unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
            format!("the body must be application/json, not {ct:?}"),
        ))
    }
}

/// Reads a JSON body of at most `MAX_BODY_BYTES`, refusing duplicate keys and non-UTF-8.
async fn read_json(request: Request) -> Result<Value, Problem> {
    require_json(request.headers())?;
    let too_large = || {
        Problem::new(
            ProblemKind::PayloadTooLarge,
            format!("the body must be at most {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large())?;
    crate::json::parse_strict(&bytes)
        .map_err(|e| invalid(format!("the body is not valid JSON: {e}"), vec![]))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Problem> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| invalid(format!("the {name} header must be visible ASCII"), vec![])),
    }
}

fn validate_body(app: &App, body: &Value) -> Result<(), Problem> {
    // The order rules first: they cover everything the schema says, with a pointer to each offending field, and
    // what the schema cannot say ("skus are unique").
    validate_order_request(body).map_err(|e| invalid("the body breaks an order rule", e.0))?;
    // Then the schema itself, so the file API Gateway validates with is the one enforced here too. A body that
    // passed the rules nearly always passes the schema, so ask yes/no first and build error reports only when
    // it does not: collecting `iter_errors` costs as much again as the check.
    if app.schema.is_valid(body) {
        return Ok(());
    }
    let schema_errors: Vec<FieldError> = app
        .schema
        .iter_errors(body)
        .map(|e| FieldError {
            pointer: e.instance_path.to_string(),
            message: e.to_string(),
        })
        .collect();
    Err(invalid(
        "the body does not match the order request schema",
        schema_errors,
    ))
}

async fn post_order(State(app): State<Arc<App>>, request: Request) -> Result<Response, Problem> {
    let headers = request.headers();
    let key = header_str(headers, IDEMPOTENCY_KEY)?.map(str::to_owned);
    if let Some(key) = &key {
        validate_token("Idempotency-Key", key).map_err(|e| invalid(e, vec![]))?;
    }
    // Without fault injection the header is dropped unread, exactly as the production request template does.
    let faults = if app.config.fault_injection {
        FaultPlan::parse(header_str(headers, SAGA_FAULT)?)
            .map_err(|e| invalid(e.to_string(), vec![]))?
    } else {
        FaultPlan::none()
    };
    // As in production, the execution's name, and so the order id, is left to the engine, which makes a UUID; the
    // request id is only a correlation field. API Gateway lets a client set it with `x-amzn-RequestId` (a UUID),
    // and so does this gateway, so that a client gets the same input here as there.
    let request_id = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| uuid::Uuid::parse_str(v).ok())
        .unwrap_or_else(uuid::Uuid::new_v4)
        .to_string();
    let body = read_json(request).await?;
    validate_body(&app, &body)?;

    let input = json!({
        "request": body,
        "idempotencyKey": key,
        "faults": faults.to_header(),
        "requestId": request_id,
    });
    let recording = app.viewer.is_recording();
    let injected = if recording {
        injected_faults(&faults)
    } else {
        Vec::new()
    };
    let resources = Arc::new(ExecutionResources {
        shared: app.shared.clone(),
        plan: faults,
    });
    let options = ExecutionOptions {
        state_machine_arn: app.state_machine_arn.clone(),
        name: None,
        time_scale: app.config.time_scale,
        record_history: recording && app.viewer.wants_history(),
    };
    let result = asl_engine::execute(&app.machine, input, options, resources).await;
    let answer = mapping::answer(&result);
    tracing::info!(
        execution_id = %result.execution_arn,
        order_id = answer.body.get("orderId").and_then(serde_json::Value::as_str).unwrap_or(""),
        execution_status = ?result.status,
        error = result.error.as_deref().unwrap_or(""),
        http_status = answer.status,
        "order saga finished"
    );
    if answer.broke_contract() {
        // On AWS the cause is in the execution's log; locally this is the only place it shows.
        tracing::warn!(
            execution_id = %result.execution_arn,
            error = result.error.as_deref().unwrap_or(""),
            cause = result.cause.as_deref().unwrap_or(""),
            "order saga failed outside its contract"
        );
    }
    let http = recording.then(|| saga_viewer::HttpAnswer::from_body(answer.status, &answer.body));
    let mut response = answer.into_response();
    if let Ok(v) = HeaderValue::from_str(&result.execution_arn) {
        response.headers_mut().insert(SAGA_EXECUTION, v);
    }
    if recording {
        app.viewer.record(saga_viewer::Recorded {
            state_machine_name: crate::app::STATE_MACHINE_NAME.into(),
            machine: app.machine.clone(),
            result,
            origin: saga_viewer::Origin::Http,
            http,
            faults: injected,
            time_scale: app.config.time_scale,
        });
    }
    Ok(response)
}

/// The faults of `plan` as the viewer marks them: on the state calling the step's Lambda function, or for the
/// SQS step on its `sqs:sendMessage` Task.
fn injected_faults(plan: &FaultPlan) -> Vec<saga_viewer::InjectedFault> {
    plan.pairs()
        .iter()
        .map(|(step, mode)| saga_viewer::InjectedFault {
            step: step.as_str().into(),
            mode: mode.as_str().into(),
            target: step
                .function_name()
                .unwrap_or("arn:aws:states:::sqs:sendMessage")
                .into(),
        })
        .collect()
}

/// A path parameter that must be a token; a segment that is not even UTF-8 is refused the same way.
fn path_token(what: &str, value: Result<Path<String>, PathRejection>) -> Result<String, Problem> {
    let Path(value) = value.map_err(|e| {
        invalid(
            format!("{what} in the path is invalid: {}", e.body_text()),
            vec![],
        )
    })?;
    validate_token(what, &value).map_err(|e| invalid(e, vec![]))?;
    Ok(value)
}

async fn get_order(
    State(app): State<Arc<App>>,
    order_id: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let order_id = path_token("an order id", order_id)?;
    match app.shared.orders.get_order(&order_id).await {
        Ok(Some(o)) if !o.tombstone => Ok(Json(json!({
            "orderId": o.order_id,
            "status": o.status.as_str(),
            "customerId": o.customer_id,
            "items": o.items,
            "createdAt": o.created_at,
            "updatedAt": o.updated_at,
        }))
        .into_response()),
        Ok(_) => Err(Problem::order_not_found(&order_id)),
        Err(e) => Err(unavailable(e)),
    }
}

fn unavailable(e: saga_store::StoreError) -> Problem {
    Problem::new(ProblemKind::DownstreamUnavailable, e.to_string())
}

async fn get_stock(
    State(app): State<Arc<App>>,
    sku: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let sku = path_token("a sku", sku)?;
    match app.shared.inventory.get_stock(&sku).await {
        Ok(Some(level)) => Ok(Json(level).into_response()),
        Ok(None) => Err(Problem::sku_not_found(&sku)),
        Err(e) => Err(unavailable(e)),
    }
}

async fn put_stock(
    State(app): State<Arc<App>>,
    sku: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, Problem> {
    let sku = path_token("a sku", sku)?;
    let body = read_json(request).await?;
    let pointer_error = |message: String| {
        invalid(
            "the body must be {\"available\": n}",
            vec![FieldError {
                pointer: "/available".into(),
                message,
            }],
        )
    };
    let Some(obj) = body.as_object() else {
        return Err(invalid("the body must be {\"available\": n}", vec![]));
    };
    if let Some(k) = obj.keys().find(|k| k.as_str() != "available") {
        return Err(invalid(
            "the body must be {\"available\": n}",
            vec![FieldError {
                pointer: format!("/{k}"),
                message: "is not a known field".into(),
            }],
        ));
    }
    // `6901.0` is the integer 6901, as it is to API Gateway's request model and to DynamoDB, which stores it as
    // 6901 (docs/openapi.yaml, "Numbers and strings in requests").
    let available = match obj.get("available") {
        None => return Err(pointer_error("is required".into())),
        Some(v) => v
            .as_number()
            .and_then(whole_number)
            .filter(|n| *n <= MAX_STOCK)
            .ok_or_else(|| pointer_error(format!("must be an integer from 0 to {MAX_STOCK}")))?,
    };
    match app.shared.inventory.set_available(&sku, available).await {
        Ok(level) => Ok(Json(level).into_response()),
        Err(e) => Err(unavailable(e)),
    }
}
