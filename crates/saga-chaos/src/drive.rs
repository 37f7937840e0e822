//! Talking to the API the way a client does: real HTTP, keep-alive, one answer recorded per request.

use saga_client::stock_of;
pub use saga_client::Stock;
use serde_json::Value;
use tokio::time::Instant;

use crate::plan::Planned;

/// One request's answer, with when it was sent and answered (microseconds since the run started).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub index: usize,
    pub sent_us: u64,
    pub answered_us: u64,
    /// 0 when no HTTP answer came back.
    pub status: u16,
    pub content_type: String,
    pub body: Value,
    /// The execution's name, from `X-Saga-Execution`: the order id the execution proposed.
    pub execution: Option<String>,
    pub transport_error: Option<String>,
}

impl Outcome {
    pub fn order_id(&self) -> Option<&str> {
        self.body.get("orderId").and_then(Value::as_str)
    }

    pub fn compensation(&self) -> Option<&str> {
        self.body.get("compensation").and_then(Value::as_str)
    }

    pub fn problem_type(&self) -> Option<&str> {
        self.body.get("type").and_then(Value::as_str)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// `arn:aws:states:REGION:ACCOUNT:express:MACHINE:NAME:ID` → NAME. The workflow's PrepareOrder makes the
/// execution name the order id it proposes, so even an answer without `orderId` (a lost execution) names the
/// order the checks must find cancelled or absent.
pub fn execution_name(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    (parts.len() >= 8 && parts[5] == "express").then(|| parts[parts.len() - 2])
}

/// The API client with what a chaos run needs on top: errors as text for the report, and each
/// order's answer timed.
#[derive(Debug, Clone)]
pub struct Client {
    api: saga_client::Client,
}

impl Client {
    pub fn new(base: &str, pool: usize) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(pool)
            .timeout(saga_client::DEFAULT_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            api: saga_client::Client::with_http(base, http),
        })
    }

    /// Sets `sku`'s available count; returns the level right after, which fixes the sku's total.
    pub async fn put_stock(&self, sku: &str, available: u64) -> Result<Stock, String> {
        let r = self
            .api
            .put_stock(sku, available, &[])
            .await
            .map_err(|e| e.to_string())?;
        if !r.is_success() {
            return Err(format!(
                "PUT /inventory/{sku} answered {}: {}",
                r.status, r.text
            ));
        }
        stock_of(&r).ok_or_else(|| format!("PUT /inventory/{sku} answered {}", r.text))
    }

    pub async fn get_stock(&self, sku: &str) -> Result<Option<Stock>, String> {
        let r = self.api.get_stock(sku).await.map_err(|e| e.to_string())?;
        match r.status.as_u16() {
            200 => stock_of(&r)
                .map(Some)
                .ok_or_else(|| format!("GET /inventory/{sku} answered {}", r.text)),
            404 => Ok(None),
            s => Err(format!("GET /inventory/{sku} answered {s}: {}", r.text)),
        }
    }

    /// The order as `GET /orders/{id}` shows it; `None` when absent (a tombstone reads as absent).
    pub async fn get_order(&self, id: &str) -> Result<Option<Value>, String> {
        let r = self.api.get_order(id).await.map_err(|e| e.to_string())?;
        match r.status.as_u16() {
            200 => Ok(Some(r.body)),
            404 => Ok(None),
            s => Err(format!("GET /orders/{id} answered {s}: {}", r.text)),
        }
    }

    pub async fn order(&self, p: &Planned, t0: Instant) -> Outcome {
        let mut headers = Vec::new();
        if let Some(k) = &p.key {
            headers.push(("Idempotency-Key", k.as_str()));
        }
        let fault = p.faults.to_header();
        if let Some(f) = &fault {
            headers.push(("X-Saga-Fault", f.as_str()));
        }
        let since = |t: Instant| t.duration_since(t0).as_micros() as u64;
        let sent_us = since(Instant::now());
        let mut out = Outcome {
            index: p.index,
            sent_us,
            answered_us: sent_us,
            status: 0,
            content_type: String::new(),
            body: Value::Null,
            execution: None,
            transport_error: None,
        };
        match self.api.post_order(&p.body, &headers).await {
            Ok(r) => {
                out.status = r.status.as_u16();
                out.content_type = r.content_type().to_string();
                out.execution = r
                    .header("x-saga-execution")
                    .and_then(execution_name)
                    .map(str::to_string);
                // A body that is not JSON is kept as its text, for the report to show.
                out.body = if r.body.is_null() && r.text.trim() != "null" {
                    Value::String(r.text)
                } else {
                    r.body
                };
            }
            Err(e) => out.transport_error = Some(e.to_string()),
        }
        out.answered_us = since(Instant::now());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::execution_name;

    #[test]
    fn the_execution_name_is_the_second_last_segment() {
        assert_eq!(
            execution_name("arn:aws:states:us-east-1:123456789012:express:order-saga:abc-1:def-2"),
            Some("abc-1")
        );
        assert_eq!(execution_name("nope"), None);
    }
}
