//! RFC 9457 problem documents, as every error answer carries them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Every problem the local server produces itself: the gateway's refusals, its read routes' answers, and the
/// answers for executions that ended outside the workflow's contract. The workflow's own problems come from its
/// `Problem*` states, and the production gateway's from `terraform/`; the spec test holds all of them to
/// `docs/openapi.yaml`, iterating [`ProblemKind::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    ValidationFailed,
    UnsupportedMediaType,
    PayloadTooLarge,
    NotFound,
    MethodNotAllowed,
    OrderNotFound,
    SkuNotFound,
    DownstreamUnavailable,
    /// An execution that broke the workflow's contract: an unfound path, or a success without an answer.
    ExecutionFailed,
    SagaTimedOut,
    ExecutionLost,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 11] = [
        ProblemKind::ValidationFailed,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::PayloadTooLarge,
        ProblemKind::NotFound,
        ProblemKind::MethodNotAllowed,
        ProblemKind::OrderNotFound,
        ProblemKind::SkuNotFound,
        ProblemKind::DownstreamUnavailable,
        ProblemKind::ExecutionFailed,
        ProblemKind::SagaTimedOut,
        ProblemKind::ExecutionLost,
    ];

    /// The last segment of the problem's `type`.
    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::ValidationFailed => "validation-failed",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::PayloadTooLarge => "payload-too-large",
            ProblemKind::NotFound => "not-found",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::OrderNotFound => "order-not-found",
            ProblemKind::SkuNotFound => "sku-not-found",
            ProblemKind::DownstreamUnavailable => "downstream-unavailable",
            ProblemKind::ExecutionFailed => "execution-failed",
            ProblemKind::SagaTimedOut => "saga-timed-out",
            ProblemKind::ExecutionLost => "execution-lost",
        }
    }

    /// The problem's `type`, as the answer carries it.
    pub fn type_uri(self) -> String {
        format!("/problems/{}", self.slug())
    }

    pub fn status(self) -> StatusCode {
        match self {
            ProblemKind::ValidationFailed => StatusCode::BAD_REQUEST,
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::NotFound | ProblemKind::OrderNotFound | ProblemKind::SkuNotFound => {
                StatusCode::NOT_FOUND
            }
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::DownstreamUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemKind::ExecutionFailed
            | ProblemKind::SagaTimedOut
            | ProblemKind::ExecutionLost => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::ValidationFailed => "The request is invalid",
            ProblemKind::UnsupportedMediaType => "Unsupported media type",
            ProblemKind::PayloadTooLarge => "Payload too large",
            ProblemKind::NotFound => "Not found",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::OrderNotFound => "Order not found",
            ProblemKind::SkuNotFound => "Sku not found",
            ProblemKind::DownstreamUnavailable => "A downstream system is unavailable",
            ProblemKind::ExecutionFailed => "The saga execution failed",
            ProblemKind::SagaTimedOut => "The saga did not finish in time",
            ProblemKind::ExecutionLost => "The saga execution was lost",
        }
    }

    /// Whether the answer leaves work to the repair worker or the sweeper: the execution ended outside the
    /// workflow, which never reached its own compensation. Everything else the server answers itself wrote
    /// nothing.
    pub fn compensation(self) -> &'static str {
        match self {
            ProblemKind::ExecutionFailed
            | ProblemKind::SagaTimedOut
            | ProblemKind::ExecutionLost => "pending",
            _ => "not-needed",
        }
    }
}

/// An error answer of the local server, with its detail and any members its kind adds.
#[derive(Debug, Clone)]
pub struct Problem {
    pub kind: ProblemKind,
    pub detail: String,
    pub extra: Vec<(String, Value)>,
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.push((key.to_string(), value));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": self.kind.type_uri(),
            "title": self.kind.title(),
            "status": self.kind.status().as_u16(),
            "detail": self.detail,
            "compensation": self.kind.compensation(),
        });
        let obj = body.as_object_mut().expect("object literal");
        obj.extend(self.extra.clone());
        body
    }

    pub fn order_not_found(id: &str) -> Self {
        Problem::new(ProblemKind::OrderNotFound, format!("no order {id:?}"))
    }

    pub fn sku_not_found(sku: &str) -> Self {
        Problem::new(ProblemKind::SkuNotFound, format!("no sku {sku:?}"))
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        problem_response(self.status(), &self.body())
    }
}

pub fn problem_response(status: StatusCode, body: &Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    res
}
