//! RFC 9457 problem documents, as every error answer carries them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer the gateway produces itself, before any execution starts. Nothing was written, so
/// compensation is never needed.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub extra: Vec<(String, Value)>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            kind,
            title,
            detail: detail.into(),
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.push((key.to_string(), value));
        self
    }

    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": format!("/problems/{}", self.kind),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let obj = body.as_object_mut().expect("object literal");
        obj.extend(self.extra.clone());
        obj.entry("compensation").or_insert(json!("not-needed"));
        body
    }

    pub fn order_not_found(id: &str) -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            "order-not-found",
            "Order not found",
            format!("no order {id:?}"),
        )
    }

    pub fn sku_not_found(sku: &str) -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            "sku-not-found",
            "Sku not found",
            format!("no sku {sku:?}"),
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        problem_response(self.status, &self.body())
    }
}

pub fn problem_response(status: StatusCode, body: &Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    res
}
