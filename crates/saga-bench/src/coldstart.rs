//! Section 4: a proxy for Lambda cold starts, measured on this machine.
//!
//! A Lambda's cold start is, besides what AWS does before the process exists, the time from exec to the
//! function's first `GET /2018-06-01/runtime/invocation/next`: loading the binary, the tokio runtime, the
//! tracing subscriber, the AWS SDK configuration and the store. A tiny Runtime API server here on
//! 127.0.0.1 records when that request arrives, and never answers it; the process is then killed.
//!
//! Each function is timed side by side with `hello-lambda` (the same runtime with nothing else), alternating
//! which goes first, and the ratio is taken per pair. So is `hello-dynamodb`, which is `hello-lambda` plus the
//! DynamoDB store every function opens: its ratio is the part of a function's start-up that is the SDK client.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::stats::{median, median_ratio};
use crate::{BenchError, Row};

/// The baseline, built from `crates/hello-lambda`.
pub const HELLO: &str = "hello-lambda";
/// `hello-lambda` plus the DynamoDB store, built from `crates/hello-dynamodb`: the floor for a function that
/// opens the store.
pub const STORE_FLOOR: &str = "hello-dynamodb";
/// Every Lambda of the saga, by package (and binary) name: the workflow's task functions, then the two that
/// run outside it.
pub fn functions() -> impl Iterator<Item = &'static str> {
    saga_domain::Step::FUNCTIONS
        .into_iter()
        .filter_map(saga_domain::Step::function_name)
        .chain(["repair-worker", "order-sweeper"])
}

/// The command that builds what this section needs, as each package is built for deployment.
pub fn build_commands() -> Vec<String> {
    [HELLO, STORE_FLOOR]
        .into_iter()
        .chain(functions())
        .map(|p| format!("cargo build --release -p {p}"))
        .collect()
}

#[derive(Debug)]
enum Event {
    Next(Instant),
    InitError(String),
}

/// The Runtime API, as far as a starting function reaches it.
async fn serve_runtime_api(listener: TcpListener, events: mpsc::UnboundedSender<Event>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let events = events.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let events = events.clone();
                async move {
                    let path = req.uri().path().to_string();
                    if path.ends_with("/runtime/invocation/next") {
                        let _ = events.send(Event::Next(Instant::now()));
                        // The function now waits for an event that never comes, until it is killed.
                        std::future::pending::<()>().await;
                    }
                    if path.ends_with("/runtime/init/error") {
                        use http_body_util::BodyExt;
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                            .unwrap_or_default();
                        let _ = events.send(Event::InitError(body));
                    }
                    Ok::<_, Infallible>(
                        Response::builder()
                            .status(202)
                            .body(Full::new(Bytes::from_static(b"{}")))
                            .expect("a static response builds"),
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The environment Lambda gives a function, with dummy credentials and no home directory, so the SDK's
/// configuration resolves locally and never reaches a real account or the instance metadata service.
fn lambda_command(binary: &Path, api: SocketAddr, name: &str) -> Command {
    let mut c = Command::new(binary);
    c.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_SESSION_TOKEN", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("ORDERS_TABLE", "bench-orders")
        .env("INVENTORY_TABLE", "bench-inventory")
        .env("RESERVATIONS_TABLE", "bench-reservations")
        .env("IDEMPOTENCY_TABLE", "bench-idempotency")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// Spawn → first `/next`, for one start of `binary`.
async fn start_once(
    binary: &Path,
    name: &str,
    api: SocketAddr,
    events: &mut mpsc::UnboundedReceiver<Event>,
) -> Result<Duration, BenchError> {
    while events.try_recv().is_ok() {}
    let mut command = tokio::process::Command::from(lambda_command(binary, api, name));
    command.kill_on_drop(true);
    let spawned = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| BenchError::Setup(format!("cannot start {}: {e}", binary.display())))?;
    let outcome = tokio::select! {
        e = events.recv() => match e {
            Some(Event::Next(at)) => Ok(at - spawned),
            Some(Event::InitError(body)) => Err(format!("reported an init error: {body}")),
            None => Err("the Runtime API stopped".to_string()),
        },
        status = child.wait() => Err(format!("exited ({status:?}) before asking for an event")),
        () = tokio::time::sleep(Duration::from_secs(20)) => Err("did not ask for an event within 20 s".into()),
    };
    let _ = child.start_kill();
    let output = child.wait_with_output().await;
    outcome.map_err(|why| {
        let stderr = output
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .unwrap_or_default();
        BenchError::Setup(format!("{name} {why}; its stderr:\n{stderr}"))
    })
}

#[derive(Debug, Clone)]
pub struct ColdStartOptions {
    /// Where the release binaries are (`$CARGO_TARGET_DIR/release`).
    pub dir: PathBuf,
    /// Starts of each function (and as many of hello-lambda beside it).
    pub starts: usize,
}

fn binary(dir: &Path, name: &str) -> Result<PathBuf, BenchError> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(BenchError::Setup(format!(
            "{} is missing. Build the Lambda binaries first (or pass --build-lambdas):\n  {}",
            path.display(),
            build_commands().join("\n  ")
        )))
    }
}

pub async fn run(opts: &ColdStartOptions) -> Result<Vec<Row>, BenchError> {
    let hello = binary(&opts.dir, HELLO)?;
    // A function that is not built is reported as such rather than failing the run: building all eight
    // release binaries takes long on a busy machine, and the ones that are there still measure.
    let (functions, missing): (Vec<_>, Vec<_>) = std::iter::once(STORE_FLOOR)
        .chain(functions())
        .map(|f| (f, binary(&opts.dir, f)))
        .partition(|(_, b)| b.is_ok());
    let functions: Vec<(&str, PathBuf)> = functions
        .into_iter()
        .filter_map(|(f, b)| b.ok().map(|p| (f, p)))
        .collect();
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let hello_size = size(&hello);

    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let api = listener
        .local_addr()
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let (tx, mut events) = mpsc::unbounded_channel();
    let server = tokio::spawn(serve_runtime_api(listener, tx));

    // One untimed start of each binary first, so that every timed start finds it in the page cache.
    start_once(&hello, HELLO, api, &mut events).await?;
    for (name, path) in &functions {
        start_once(path, name, api, &mut events).await?;
    }

    let mut rows = Vec::new();
    let mut hello_all = Vec::new();
    for (name, path) in &functions {
        let (mut f_ms, mut h_ms) = (Vec::new(), Vec::new());
        for i in 0..opts.starts {
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            if i % 2 == 0 {
                h_ms.push(ms(start_once(&hello, HELLO, api, &mut events).await?));
                f_ms.push(ms(start_once(path, name, api, &mut events).await?));
            } else {
                f_ms.push(ms(start_once(path, name, api, &mut events).await?));
                h_ms.push(ms(start_once(&hello, HELLO, api, &mut events).await?));
            }
        }
        hello_all.extend_from_slice(&h_ms);
        let f_size = size(path);
        let floor = *name == STORE_FLOOR;
        let (what, ratio) = if floor {
            (
                format!("`{name}` (hello-lambda + `DynamoStore::from_env`): spawn → first `/next`"),
                "start-up time vs hello-lambda: the floor for a function that opens the store",
            )
        } else {
            (
                format!("`{name}`: spawn → first `/next`"),
                "start-up time vs hello-lambda",
            )
        };
        let row = Row::new(
            "4",
            &what,
            format!(
                "{:.2} ms (hello-lambda beside it: {:.2} ms); binary {:.1} MiB, {:.2}× hello's",
                median(&f_ms),
                median(&h_ms),
                f_size as f64 / 1048576.0,
                f_size as f64 / hello_size as f64
            ),
        )
        .ratio(median_ratio(&f_ms, &h_ms), ratio);
        rows.push(if floor {
            row
        } else {
            row.target(|r| r <= 1.2, "≤ 1.2×")
        });
    }
    rows.insert(
        0,
        Row::new(
            "4",
            "`hello-lambda` (minimal `lambda_runtime`): spawn → first `/next`",
            format!(
                "{:.2} ms; binary {:.1} MiB",
                median(&hello_all),
                hello_size as f64 / 1048576.0
            ),
        ),
    );
    for (name, _) in missing {
        rows.push(Row::new(
            "4",
            &format!("`{name}`: spawn → first `/next`"),
            format!(
                "not measured: {} is not built (`cargo build --release -p {name}`)",
                opts.dir.join(name).display()
            ),
        ));
    }
    server.abort();
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_eight_lambdas_in_deployment_order() {
        assert_eq!(
            super::functions().collect::<Vec<_>>(),
            [
                "create-order",
                "reserve-stock",
                "confirm-order",
                "fence-order",
                "release-stock",
                "cancel-order",
                "repair-worker",
                "order-sweeper",
            ]
        );
    }
}
