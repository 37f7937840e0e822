//! Talking to the API the way a client does: real HTTP, keep-alive, one answer recorded per request.

use std::time::Duration;

use serde_json::{json, Value};
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

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stock {
    pub available: u64,
    pub reserved: u64,
}

impl Client {
    pub fn new(base: &str, pool: usize) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(pool)
            // A saga answers within the gateway's 29 s; anything slower is a transport failure worth reporting.
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// Sets `sku`'s available count; returns the level right after, which fixes the sku's total.
    pub async fn put_stock(&self, sku: &str, available: u64) -> Result<Stock, String> {
        let r = self
            .http
            .put(format!("{}/inventory/{sku}", self.base))
            .json(&json!({ "available": available }))
            .send()
            .await
            .map_err(|e| format!("PUT /inventory/{sku}: {e}"))?;
        let status = r.status();
        let body: Value = r
            .json()
            .await
            .map_err(|e| format!("PUT /inventory/{sku}: {e}"))?;
        if !status.is_success() {
            return Err(format!("PUT /inventory/{sku} answered {status}: {body}"));
        }
        stock_from(&body).ok_or_else(|| format!("PUT /inventory/{sku} answered {body}"))
    }

    pub async fn get_stock(&self, sku: &str) -> Result<Option<Stock>, String> {
        let (status, body) = self.get(&format!("/inventory/{sku}")).await?;
        match status {
            200 => stock_from(&body)
                .map(Some)
                .ok_or_else(|| format!("GET /inventory/{sku} answered {body}")),
            404 => Ok(None),
            s => Err(format!("GET /inventory/{sku} answered {s}: {body}")),
        }
    }

    /// The order as `GET /orders/{id}` shows it; `None` when absent (a tombstone reads as absent).
    pub async fn get_order(&self, id: &str) -> Result<Option<Value>, String> {
        let (status, body) = self.get(&format!("/orders/{id}")).await?;
        match status {
            200 => Ok(Some(body)),
            404 => Ok(None),
            s => Err(format!("GET /orders/{id} answered {s}: {body}")),
        }
    }

    async fn get(&self, path: &str) -> Result<(u16, Value), String> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = r.status().as_u16();
        let body = r.json().await.map_err(|e| format!("GET {path}: {e}"))?;
        Ok((status, body))
    }

    pub async fn order(&self, p: &Planned, t0: Instant) -> Outcome {
        let mut req = self
            .http
            .post(format!("{}/orders", self.base))
            .json(&p.body);
        if let Some(k) = &p.key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(f) = p.faults.to_header() {
            req = req.header("X-Saga-Fault", f);
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
        let answer = async {
            let r = req.send().await?;
            let status = r.status().as_u16();
            let header = |name: &str| {
                r.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let content_type = header("content-type").unwrap_or_default();
            let execution = header("x-saga-execution");
            let text = r.text().await?;
            Ok::<_, reqwest::Error>((status, content_type, execution, text))
        };
        match answer.await {
            Ok((status, content_type, execution, text)) => {
                out.status = status;
                out.content_type = content_type;
                out.execution = execution
                    .as_deref()
                    .and_then(execution_name)
                    .map(str::to_string);
                out.body = serde_json::from_str(&text).unwrap_or(Value::String(text));
            }
            Err(e) => out.transport_error = Some(e.to_string()),
        }
        out.answered_us = since(Instant::now());
        out
    }
}

fn stock_from(body: &Value) -> Option<Stock> {
    Some(Stock {
        available: body.get("available")?.as_u64()?,
        reserved: body.get("reserved")?.as_u64()?,
    })
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
