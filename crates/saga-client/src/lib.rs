//! An HTTP client of the order API (`POST /orders`, `GET /orders/{id}`, `GET|PUT /inventory/{sku}`),
//! for the programs and tests that drive the API from outside: `saga chaos`, the contract suite
//! and the store-level tests.
//!
//! It sends what it is asked to and reads every answer whole into a [`Reply`]; it judges
//! nothing. Whether a 409 is right, or a body matches the OpenAPI document, is the caller's
//! business, so the same client serves a load generator that must never panic and a test that
//! should.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A request that got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
    #[error("{method} {path}: {}", chain(source))]
    Transport {
        method: Method,
        path: String,
        #[source]
        source: reqwest::Error,
    },
}

/// reqwest's Display names only the outermost error; the cause (refused, reset, timed out) is
/// further down, and it is the part worth reading.
fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// One HTTP answer, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub method: Method,
    /// The request's path, or the whole URL when it was sent outside the client's base.
    pub path: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as JSON, or `Value::Null` when it is not JSON.
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// The body's `orderId`, which every saga answer past validation carries.
    pub fn order_id(&self) -> Option<&str> {
        self.body.get("orderId").and_then(Value::as_str)
    }

    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} -> {} [{}] {}",
            self.method,
            self.path,
            self.status.as_u16(),
            self.content_type(),
            self.text
        )
    }
}

/// A sku's stock as `GET` and `PUT /inventory/{sku}` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stock {
    pub available: u64,
    pub reserved: u64,
}

impl Stock {
    fn from_body(body: &Value) -> Option<Stock> {
        Some(Stock {
            available: body.get("available")?.as_u64()?,
            reserved: body.get("reserved")?.as_u64()?,
        })
    }
}

/// The API at one base URL (`http://127.0.0.1:PORT`, or a deployed stage with its base path).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

/// A saga answers within the gateway's 29 s; anything much slower is a transport failure.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

impl Client {
    /// A client with [`DEFAULT_TIMEOUT`] that does not follow redirects.
    pub fn new(base: &str) -> Result<Client, ClientError> {
        let http = http_builder(DEFAULT_TIMEOUT)
            .build()
            .map_err(ClientError::Build)?;
        Ok(Client::with_http(base, http))
    }

    /// A client over a `reqwest::Client` configured by the caller (pool size, TLS roots, timeout).
    pub fn with_http(base: &str, http: reqwest::Client) -> Client {
        Client {
            http,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `body` (when given) with exactly the headers given to `path` under the base URL.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply, ClientError> {
        self.send_to(method, &format!("{}{path}", self.base), headers, body)
            .await
    }

    /// Like [`Client::send`], to an absolute URL; the reply's `path` is the part after the base
    /// URL when there is one.
    pub async fn send_to(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply, ClientError> {
        let path = url.strip_prefix(&self.base).unwrap_or(url).to_string();
        let mut request = self.http.request(method.clone(), url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = body.unwrap_or_default();
        if !body.is_empty() || method == Method::POST || method == Method::PUT {
            request = request.body(body);
        }
        let transport = |source| ClientError::Transport {
            method: method.clone(),
            path: path.clone(),
            source,
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(transport)?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply {
            method,
            path,
            status,
            headers,
            text,
            body,
        })
    }

    pub async fn get(&self, path: &str) -> Result<Reply, ClientError> {
        self.send(Method::GET, path, &[], None).await
    }

    /// `POST /orders` with a JSON body and extra headers (`Idempotency-Key`, `X-Saga-Fault`).
    pub async fn post_order(
        &self,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Result<Reply, ClientError> {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.send(
            Method::POST,
            "/orders",
            &all,
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// `PUT /inventory/{sku}` setting its available count, with extra headers.
    pub async fn put_stock(
        &self,
        sku: &str,
        available: u64,
        headers: &[(&str, &str)],
    ) -> Result<Reply, ClientError> {
        let (path, body) = put_stock_request(sku, available);
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.send(Method::PUT, &path, &all, Some(body)).await
    }

    /// `GET /inventory/{sku}`.
    pub async fn get_stock(&self, sku: &str) -> Result<Reply, ClientError> {
        self.get(&format!("/inventory/{}", encode_segment(sku)))
            .await
    }

    /// `GET /orders/{id}`.
    pub async fn get_order(&self, order_id: &str) -> Result<Reply, ClientError> {
        self.get(&format!("/orders/{}", encode_segment(order_id)))
            .await
    }
}

/// What [`Client::new`] builds on, for a caller that adds to it (TLS roots, a pool size): answers
/// give up after `timeout`, and redirects are not followed (a redirect is an answer to check, not
/// to hide).
pub fn http_builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
}

/// The path and body of `PUT /inventory/{sku}`, for callers that sign the request before sending.
pub fn put_stock_request(sku: &str, available: u64) -> (String, Vec<u8>) {
    (
        format!("/inventory/{}", encode_segment(sku)),
        json!({ "available": available }).to_string().into_bytes(),
    )
}

/// A stock answer's level: `Some` for a 2xx carrying `available` and `reserved`.
pub fn stock_of(reply: &Reply) -> Option<Stock> {
    reply
        .is_success()
        .then(|| Stock::from_body(&reply.body))
        .flatten()
}

/// Percent-encodes one path segment: everything but unreserved characters.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `{"customerId": .., "items": [{sku, quantity}..]}`.
pub fn order_body(customer: &str, lines: &[(&str, u64)]) -> Value {
    json!({
        "customerId": customer,
        "items": lines.iter().map(|(sku, q)| json!({"sku": sku, "quantity": q})).collect::<Vec<_>>(),
    })
}
