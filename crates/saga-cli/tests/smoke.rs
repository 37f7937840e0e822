//! `saga smoke` end to end: it passes against `saga serve`, directly and behind a stage prefix, and it fails, with
//! the hint that names the cause, against servers that answer as a misconfigured stack would. The failing cases
//! are what keep the passing ones from passing vacuously.
//!
//! The misconfigured stacks are a small proxy in front of a real `saga serve`: like API Gateway it serves the API
//! under a stage (`/v1`) and answers `{"message":"Forbidden"}` outside it, and each [`Stage`] changes one thing
//! about the answers.

#![cfg(unix)]

use std::process::{Child, Output};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};

mod serve;

/// A `saga serve` child process, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start() -> Server {
        let serve::Serving { child, addr, log } = serve::serve(&[]);
        // The server logs to a pipe; keep reading it so that the server never blocks on a full one.
        std::thread::spawn(move || log.map_while(Result::ok).for_each(drop));
        Server {
            child,
            url: format!("http://{addr}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn smoke(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_saga"));
    command.arg("smoke").args(args);
    if !args.contains(&"--timeout-seconds") {
        command.args(["--timeout-seconds", "60"]);
    }
    command
        .env("RUST_LOG", "off")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("the saga binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_passes(out: &Output) {
    let text = stdout(out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("PASS  ")).count(),
        7,
        "{text}"
    );
    assert!(
        text.contains("smoke: 7 passed, 0 failed, 0 skipped"),
        "{text}"
    );
}

/// Asserts that smoke exited 1 with `check` failing and `hint` among the lines after it.
fn assert_fails(out: &Output, check: &str, hint: &str) {
    let text = stdout(out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let failed = format!("FAIL  {check:<20} ");
    let block: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with(&failed))
        .enumerate()
        .take_while(|(i, l)| *i == 0 || l.starts_with("      "))
        .map(|(_, l)| l)
        .collect();
    assert!(!block.is_empty(), "no {failed:?} line:\n{text}");
    let block = block.join("\n");
    assert!(block.contains("      look at: "), "{block}");
    assert!(block.contains(hint), "wanted {hint:?} in:\n{block}");
}

#[tokio::test]
async fn passes_against_saga_serve() {
    let server = Server::start();
    assert_passes(&smoke(&["--url", &server.url], &[]).await);

    // The local server does not check signatures, but the signing path runs: credentials, region, headers.
    let out = smoke(
        &[
            "--url",
            &format!("{}/", server.url),
            "--sigv4",
            "--region",
            "us-east-1",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            ),
            ("AWS_SESSION_TOKEN", "token"),
        ],
    )
    .await;
    assert_passes(&out);
}

#[tokio::test]
async fn sigv4_without_credentials_is_refused_before_any_request() {
    let out = smoke(
        &[
            "--url",
            "http://127.0.0.1:9/v1",
            "--sigv4",
            "--region",
            "eu-west-1",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--sigv4 needs AWS_ACCESS_KEY_ID"), "{err}");
}

#[tokio::test]
async fn a_server_that_never_answers_fails_within_the_overall_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    // Accepts connections and holds them open without a word.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = std::time::Instant::now();
    let out = smoke(&["--url", &url, "--timeout-seconds", "2"], &[]).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_fails(&out, "set stock", "no answer within 2 s");
    assert!(
        stdout(&out).contains("smoke: 0 passed, 1 failed, 6 skipped"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn passes_behind_a_stage_prefix_with_a_relative_location() {
    let server = Server::start();
    let stage = proxy(&server, Stage::AsServed).await;
    assert_passes(&smoke(&["--url", &format!("{stage}/v1")], &[]).await);
}

#[tokio::test]
async fn an_absolute_path_location_fails_behind_a_stage_prefix() {
    let server = Server::start();
    let stage = proxy(&server, Stage::AbsoluteLocation).await;
    let out = smoke(&["--url", &format!("{stage}/v1")], &[]).await;
    assert_fails(&out, "follow Location", "drops a stage prefix such as /v1");
    // The other checks do not depend on following the Location.
    assert!(
        stdout(&out).contains("smoke: 6 passed, 1 failed, 0 skipped"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn the_stage_root_fails_with_the_missing_stage_hint() {
    let server = Server::start();
    let stage = proxy(&server, Stage::AsServed).await;
    let out = smoke(&["--url", &stage], &[]).await;
    assert_fails(
        &out,
        "set stock",
        "the base URL must end with the stage, /v1",
    );
    assert!(
        stdout(&out).contains("SKIP  order confirmed"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn a_gateway_error_fails_with_the_integration_role_hint() {
    let server = Server::start();
    let stage = proxy(&server, Stage::GatewayError).await;
    let out = smoke(&["--url", &format!("{stage}/v1")], &[]).await;
    assert_fails(
        &out,
        "order confirmed",
        "integration role cannot be assumed: see docs/deploy.md#first-deploy",
    );
    assert_fails(
        &out,
        "insufficient stock",
        "integration role cannot be assumed",
    );
}

#[tokio::test]
async fn answers_without_x_saga_execution_fail() {
    let server = Server::start();
    let stage = proxy(&server, Stage::NoExecutionHeader).await;
    let out = smoke(&["--url", &format!("{stage}/v1")], &[]).await;
    assert_fails(&out, "order confirmed", "start-execution.response.vtl");
    let text = stdout(&out);
    assert!(
        text.contains("wanted: X-Saga-Execution with the execution's ARN"),
        "{text}"
    );
    assert!(text.contains("FAIL  insufficient stock"), "{text}");
}

// --- the stage proxy -----------------------------------------------------------------------------------------------

/// What the proxy changes about the server's answers.
#[derive(Clone, Copy)]
enum Stage {
    /// The server's answers unchanged: `Location: orders/{id}`, which resolves under the stage.
    AsServed,
    /// `Location: /orders/{id}`, an absolute path, which drops the stage prefix.
    AbsoluteLocation,
    /// `POST /orders` answers API Gateway's 500 for an integration it could not call.
    GatewayError,
    /// Every answer loses `X-Saga-Execution`.
    NoExecutionHeader,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    stage: Stage,
    client: reqwest::Client,
}

/// Serves `server` under `/v1` on 127.0.0.1:0 and returns the proxy's origin.
async fn proxy(server: &Server, stage: Stage) -> String {
    let state = Proxy {
        upstream: server.url.clone(),
        stage,
        client: reqwest::Client::new(),
    };
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let Some(rest) = path.strip_prefix("/v1/") else {
        // API Gateway's answer for a path outside every stage.
        return (
            StatusCode::FORBIDDEN,
            [("content-type", "application/json")],
            r#"{"message":"Forbidden"}"#,
        )
            .into_response();
    };
    if matches!(proxy.stage, Stage::GatewayError) && method == Method::POST && rest == "orders" {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "application/problem+json")],
            r#"{"type":"/problems/gateway-misconfigured","title":"The API is misconfigured","status":500,"detail":"Internal server error","compensation":"not-needed"}"#,
        )
            .into_response();
    }
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap();
    let mut upstream = proxy
        .client
        .request(method, format!("{}/{rest}", proxy.upstream))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.send().await.unwrap();
    let status = answer.status();
    let mut out = HeaderMap::new();
    for name in ["content-type", "x-saga-execution", "location"] {
        if let Some(value) = answer.headers().get(name) {
            out.insert(name, value.clone());
        }
    }
    match proxy.stage {
        Stage::AbsoluteLocation => {
            if let Some(location) = out.get("location").and_then(|v| v.to_str().ok()) {
                let absolute = format!("/{}", location.trim_start_matches('/'));
                out.insert("location", absolute.parse().unwrap());
            }
        }
        Stage::NoExecutionHeader => {
            out.remove("x-saga-execution");
        }
        Stage::AsServed | Stage::GatewayError => {}
    }
    let body: Bytes = answer.bytes().await.unwrap();
    (status, out, body).into_response()
}
