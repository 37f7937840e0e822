//! The contract suite's harness: one [`Target`] per test, speaking HTTP only.
//!
//! By default a test starts the real local server in-process on `127.0.0.1:0` (fault injection on, time scaled
//! down so that step timeouts take milliseconds). With `SAGA_BASE_URL` set the same tests run unchanged against a
//! deployed stack; the environment then says what that stack allows:
//!
//! - `SAGA_FAULT_INJECTION=1`: the stack forwards `X-Saga-Fault` (applied with `enable_fault_injection = true`).
//!   Without it every fault test prints that it was skipped and why.
//! - `SAGA_INVENTORY_AUTH_HEADER="Name: value"`: sent with every `PUT /inventory/{sku}`, for a stack whose
//!   stock route accepts a static credential. A SigV4-protected stage needs per-request signatures instead: set
//!   `SAGA_SIGV4_REGION` with `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) and the
//!   harness signs the PUTs itself.
//!
//! Tests create their own data: every sku is unique to the run (see [`Target::sku`]), so runs never collide and
//! nothing needs cleaning up between them.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use saga_local::server::RunningServer;
use serde_json::Value;

pub use saga_client::{encode_segment, order_body, Reply};

mod sigv4;
pub mod spec;

/// What a test talks to. Dropping it stops a local server.
pub struct Target {
    pub base: String,
    client: saga_client::Client,
    /// The target honours `X-Saga-Fault`.
    pub faults: bool,
    /// The in-process server (local mode only): lets tests say which behaviour is local-only.
    pub local: bool,
    /// `Name: value` sent with every `PUT /inventory/{sku}`.
    auth_header: Option<(String, String)>,
    signer: Option<sigv4::Signer>,
    server: Option<RunningServer>,
}

/// A run id, so that skus made by this run cannot collide with another run against the same stack.
fn run_id() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_string())
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"))
}

impl Target {
    /// A fresh local server, or the deployed stack named by `SAGA_BASE_URL`.
    pub async fn start() -> Target {
        // A saga answers within the workflow's 28 s budget; past 40 s something else is wrong.
        let http = saga_client::http_builder(Duration::from_secs(40))
            .build()
            .expect("an HTTP client");
        let auth_header = std::env::var("SAGA_INVENTORY_AUTH_HEADER").ok().map(|h| {
            let (name, value) = h
                .split_once(':')
                .expect("SAGA_INVENTORY_AUTH_HEADER is `Name: value`");
            (name.trim().to_string(), value.trim().to_string())
        });
        match std::env::var("SAGA_BASE_URL") {
            Ok(base) if !base.trim().is_empty() => Target {
                base: base.trim().trim_end_matches('/').to_string(),
                client: saga_client::Client::with_http(base.trim(), http),
                faults: env_flag("SAGA_FAULT_INJECTION"),
                local: false,
                auth_header,
                signer: sigv4::Signer::from_env(),
                server: None,
            },
            _ => {
                let server = saga_local::server::start(saga_local::Config {
                    fault_injection: true,
                    time_scale: 0.01,
                    ..Default::default()
                })
                .await
                .expect("the local server starts");
                Target {
                    base: server.url(),
                    client: saga_client::Client::with_http(&server.url(), http),
                    faults: true,
                    local: true,
                    auth_header,
                    signer: None,
                    server: Some(server),
                }
            }
        }
    }

    /// Stops a local server gracefully (a test that ends without calling this drops it instead).
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("the server stops cleanly");
        }
    }

    /// Prints why a fault test does not run here and returns true when it should be skipped.
    pub fn skip_without_faults(&self, test: &str) -> bool {
        if !self.faults {
            eprintln!(
                "SKIPPED {test}: the target does not honour X-Saga-Fault (set SAGA_FAULT_INJECTION=1 for a stack \
                 applied with enable_fault_injection=true)"
            );
        }
        !self.faults
    }

    /// Prints why a local-only test does not run here and returns true when it should be skipped.
    pub fn skip_unless_local(&self, test: &str, why: &str) -> bool {
        if !self.local {
            eprintln!("SKIPPED {test}: {why}");
        }
        !self.local
    }

    /// A sku no other test or run uses.
    pub fn sku(&self, what: &str) -> String {
        let n = uuid::Uuid::new_v4().simple().to_string();
        format!("ct-{}-{what}-{}", run_id(), &n[..8])
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        self.send_to(method, &format!("{}{}", self.base, path), headers, body)
            .await
    }

    /// The absolute URL a reply's `Location` refers to, resolved against the URL of the request that got the
    /// reply (RFC 3986, section 5): a relative reference keeps a deployed stage's base path, such as `/v1`.
    pub fn location_url(&self, reply: &Reply) -> String {
        let location = reply
            .header("location")
            .unwrap_or_else(|| panic!("no Location in {reply}"));
        let request_url = reqwest::Url::parse(&format!("{}{}", self.base, reply.path))
            .unwrap_or_else(|e| panic!("{}{}: {e}", self.base, reply.path));
        request_url
            .join(location)
            .unwrap_or_else(|e| panic!("Location {location:?} does not resolve: {e}"))
            .to_string()
    }

    /// `GET` of what a reply's `Location` refers to.
    pub async fn follow_location(&self, reply: &Reply) -> Reply {
        let url = self.location_url(reply);
        let reply = self.send_to(Method::GET, &url, &[], None).await;
        spec::assert_conforms(&reply);
        reply
    }

    /// Sends to an absolute URL; the reply's `path` is the part after the base URL when there is one.
    pub async fn send_to(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let path = url.strip_prefix(&self.base).unwrap_or(url);
        let body = body.unwrap_or_default();
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        if method == Method::PUT && path.starts_with("/inventory/") {
            all.extend(self.auth_header.clone());
            if let Some(signer) = &self.signer {
                all.extend(signer.sign("PUT", url, headers, &body));
            }
        }
        let all: Vec<(&str, &str)> = all.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        self.client
            .send_to(method, url, &all, Some(body))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], None).await
    }

    /// `POST /orders` with a JSON body and extra headers.
    pub async fn post_order(&self, body: &Value, headers: &[(&str, &str)]) -> Reply {
        self.client
            .post_order(body, headers)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `POST /orders` with raw bytes and exactly the headers given.
    pub async fn post_raw(&self, body: &[u8], headers: &[(&str, &str)]) -> Reply {
        self.send(Method::POST, "/orders", headers, Some(body.to_vec()))
            .await
    }

    /// Sets a sku's stock and checks the answer.
    pub async fn put_stock(&self, sku: &str, available: u64) -> Reply {
        // Through `send`, which authenticates the PUT for a deployed stage that wants it.
        let (path, body) = saga_client::put_stock_request(sku, available);
        let reply = self
            .send(
                Method::PUT,
                &path,
                &[("content-type", "application/json")],
                Some(body),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply}");
        reply
    }

    /// A new sku with this much stock.
    pub async fn stocked_sku(&self, what: &str, available: u64) -> String {
        let sku = self.sku(what);
        self.put_stock(&sku, available).await;
        sku
    }

    /// `(available, reserved)` of a sku that must exist.
    pub async fn stock(&self, sku: &str) -> (u64, u64) {
        let reply = self
            .get(&format!("/inventory/{}", encode_segment(sku)))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply}");
        spec::assert_conforms(&reply);
        (
            reply.body["available"].as_u64().expect("available"),
            reply.body["reserved"].as_u64().expect("reserved"),
        )
    }

    /// The order as `GET /orders/{id}` shows it.
    pub async fn order(&self, order_id: &str) -> Reply {
        let reply = self
            .get(&format!("/orders/{}", encode_segment(order_id)))
            .await;
        spec::assert_conforms(&reply);
        reply
    }

    /// Polls until `check` holds, for effects that land after the answer (late commits, repairs, the sweeper).
    /// Bounded by count, and fails with the last value seen.
    pub async fn eventually<T: std::fmt::Debug, F, Fut>(
        &self,
        what: &str,
        mut probe: F,
        check: impl Fn(&T) -> bool,
    ) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let attempts = if self.local { 600 } else { 180 };
        let pause = if self.local {
            Duration::from_millis(25)
        } else {
            Duration::from_secs(1)
        };
        let mut last = probe().await;
        for _ in 0..attempts {
            if check(&last) {
                return last;
            }
            tokio::time::sleep(pause).await;
            last = probe().await;
        }
        panic!("{what} never happened; last seen: {last:?}");
    }
}

/// The body's `orderId`, which every saga answer past validation carries.
pub fn order_id(reply: &Reply) -> String {
    reply
        .order_id()
        .unwrap_or_else(|| panic!("no orderId in {reply}"))
        .to_string()
}

/// Checks an error answer: problem+json, the given status and type, the compensation state, and the members
/// every problem has.
pub fn assert_problem(reply: &Reply, status: u16, kind: &str, compensation: &str) {
    assert_eq!(reply.status.as_u16(), status, "{reply}");
    assert!(
        reply.content_type().starts_with("application/problem+json"),
        "{reply}"
    );
    let b = &reply.body;
    assert_eq!(b["type"], format!("/problems/{kind}"), "{reply}");
    assert_eq!(b["status"], status, "{reply}");
    assert_eq!(b["compensation"], compensation, "{reply}");
    for member in ["title", "detail"] {
        assert!(
            b[member].as_str().is_some_and(|s| !s.is_empty()),
            "{member} missing: {reply}"
        );
    }
    spec::assert_conforms(reply);
}

/// A 400 for a request header the gateway checks (Idempotency-Key, X-Saga-Fault). Locally the gateway refuses it
/// before starting anything; API Gateway cannot check a header's format, so on AWS create-order refuses it inside
/// an execution, whose ARN the answer then carries.
pub fn assert_header_refused(target: &Target, reply: &Reply) {
    assert_problem(reply, 400, "validation-failed", "not-needed");
    if target.local {
        assert!(reply.header("x-saga-execution").is_none(), "{reply}");
    }
}

/// A 400 whose `errors` (local only: API Gateway's validator gives its message in `detail`) name this pointer.
pub fn assert_invalid_at(target: &Target, reply: &Reply, pointer: &str) {
    assert_problem(reply, 400, "validation-failed", "not-needed");
    assert!(
        reply.header("x-saga-execution").is_none(),
        "a rejected request started an execution: {reply}"
    );
    if target.local {
        let errors = reply.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors list: {reply}"));
        // A schema error about a member that should not be there (or is missing) points at the object that
        // holds it and names the member in its message; the order rules point at the member itself.
        let (parent, member) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        assert!(
            errors.iter().any(|e| e["pointer"] == pointer
                || (e["pointer"] == parent
                    && e["message"]
                        .as_str()
                        .is_some_and(|m| m.contains(&format!("'{member}'"))))),
            "no error at {pointer:?}: {reply}"
        );
    }
}
