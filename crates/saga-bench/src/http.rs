//! Section 1: the local server over HTTP.
//!
//! Each repetition runs every scenario once, back to back, against servers that stay up for the whole
//! section, and computes its ratios from that repetition's own figures:
//!
//! - `GET /health` is the ceiling: routing, one small JSON answer, no saga.
//! - `POST /orders` happy path (201): the whole saga, three tasks.
//! - `POST /orders` for a SKU with no stock (409): create, reserve fails, release, cancel.
//! - The happy and the no-stock paths again on a server with the execution viewer's recording off
//!   (`--viewer-executions 0`): `saga serve` records every execution with its history by default, and this pair,
//!   measured back to back in each repetition, is what that recording costs.
//! - The happy path again on a server with a data directory: the store journals every write and syncs it
//!   before the step returns, so this is the durable figure against the in-memory one.
//! - The compensation-pending path (500): reserve commits then errors, release errors through its retry, and
//!   the case goes to the repair queue, once all in memory and once with a data directory (store and queue
//!   journaled, each append synced). These need fault injection and a small time scale, so they run on two
//!   further servers configured that way, with the repair worker off so that only the request path is
//!   measured.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use saga_local::server::RunningServer;
use saga_local::Config;
use serde_json::json;
use tokio::net::TcpStream;

use crate::load::{self, LoadResult, LoadSpec, Target};
use crate::stats::{median, median_ratio};
use crate::{BenchError, Row};

/// The fault plan of the compensation-pending scenario.
pub const PENDING_FAULTS: &str = "reserve-stock=error-after-commit,release-stock=error";
/// Its time scale: the retries' 1 s intervals become about 1 ms.
pub const PENDING_TIME_SCALE: f64 = 0.001;

const PLENTY_SKU: &str = "bench-plenty";
const EMPTY_SKU: &str = "bench-empty";

#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub reps: usize,
    pub load: LoadSpec,
    /// Measure a server that is already running (e.g. `saga serve` in another process) instead of starting
    /// one here. Only the scenarios that need no special configuration run then.
    pub url: Option<SocketAddr>,
}

/// One scenario's figures over all repetitions.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ScenarioFigures {
    pub name: String,
    pub per_second: Vec<f64>,
    pub p50_ms: Vec<f64>,
    pub p99_ms: Vec<f64>,
    pub requests: u64,
    pub unexpected_status: u64,
}

impl ScenarioFigures {
    fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    fn push(&mut self, r: &LoadResult) {
        self.per_second.push(r.per_second());
        self.p50_ms.push(r.p50.as_secs_f64() * 1e3);
        self.p99_ms.push(r.p99.as_secs_f64() * 1e3);
        self.requests += r.requests;
        self.unexpected_status += r.unexpected_status;
    }

    fn summary(&self) -> String {
        let mut s = format!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            median(&self.per_second),
            median(&self.p50_ms),
            median(&self.p99_ms)
        );
        if self.unexpected_status > 0 {
            s.push_str(&format!(
                " ({} of {} answers had an unexpected status)",
                self.unexpected_status, self.requests
            ));
        }
        s
    }
}

/// A one-off request on its own connection, for setting stock before the load starts.
async fn request(addr: SocketAddr, method: Method, path: &str, body: &str) -> Result<u16, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    Ok(status)
}

async fn stock(addr: SocketAddr, sku: &str, available: u64) -> Result<(), BenchError> {
    let status = request(
        addr,
        Method::PUT,
        &format!("/inventory/{sku}"),
        &json!({ "available": available }).to_string(),
    )
    .await
    .map_err(BenchError::Setup)?;
    if status != 200 {
        return Err(BenchError::Setup(format!(
            "PUT /inventory/{sku} answered {status}"
        )));
    }
    Ok(())
}

fn order(addr: SocketAddr, sku: &str, faults: Option<&str>, expect_status: u16) -> Target {
    let mut headers = vec![("content-type", "application/json".to_string())];
    if let Some(f) = faults {
        headers.push((saga_local::gateway::SAGA_FAULT, f.to_string()));
    }
    Target {
        addr,
        method: Method::POST,
        path: "/orders".into(),
        headers,
        body: Bytes::from(
            json!({"customerId": "bench", "items": [{"sku": sku, "quantity": 1}]}).to_string(),
        ),
        expect_status,
    }
}

fn health(addr: SocketAddr) -> Target {
    Target {
        addr,
        method: Method::GET,
        path: "/health".into(),
        headers: vec![],
        body: Bytes::new(),
        expect_status: 200,
    }
}

async fn start(config: Config) -> Result<RunningServer, BenchError> {
    let server = saga_local::server::start(config)
        .await
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    stock(server.addr, PLENTY_SKU, saga_local::gateway::MAX_STOCK).await?;
    stock(server.addr, EMPTY_SKU, 0).await?;
    Ok(server)
}

fn pending_config(data_dir: Option<PathBuf>) -> Config {
    Config {
        fault_injection: true,
        time_scale: PENDING_TIME_SCALE,
        data_dir,
        // At this time scale the sweeper would take PENDING orders after ~32 ms; keep it out of the measurement.
        sweep_after: Some(Duration::from_secs(3600)),
        repair_worker: false,
        ..Config::default()
    }
}

pub struct HttpReport {
    pub rows: Vec<Row>,
    pub scenarios: Vec<ScenarioFigures>,
}

pub async fn run(opts: &HttpOptions) -> Result<HttpReport, BenchError> {
    // The main server runs with `saga serve`'s defaults: no fault injection, AWS timings, in-memory store.
    let (main, main_addr) = match opts.url {
        Some(addr) => {
            stock(addr, PLENTY_SKU, saga_local::gateway::MAX_STOCK).await?;
            stock(addr, EMPTY_SKU, 0).await?;
            (None, addr)
        }
        None => {
            let s = start(Config::default()).await?;
            let addr = s.addr;
            (Some(s), addr)
        }
    };
    let tempdir = || tempfile::tempdir().map_err(|e| BenchError::Setup(e.to_string()));
    let (durable_dir, pending_dir) = (tempdir()?, tempdir()?);
    let others = match opts.url {
        Some(_) => None,
        None => Some((
            start(Config {
                data_dir: Some(durable_dir.path().to_path_buf()),
                ..Config::default()
            })
            .await?,
            start(pending_config(None)).await?,
            start(pending_config(Some(pending_dir.path().to_path_buf()))).await?,
        )),
    };

    let unrecorded = match opts.url {
        Some(_) => None,
        None => Some(
            start(Config {
                viewer_executions: 0,
                ..Config::default()
            })
            .await?,
        ),
    };

    let mut health_f = ScenarioFigures::new("GET /health");
    let mut happy_off_f = ScenarioFigures::new("POST /orders → 201, recording off");
    let mut comp_off_f = ScenarioFigures::new("POST /orders, no stock → 409, recording off");
    let mut happy_f = ScenarioFigures::new("POST /orders → 201");
    let mut comp_f = ScenarioFigures::new("POST /orders, no stock → 409");
    let mut durable_f = ScenarioFigures::new("POST /orders → 201, --data-dir");
    let mut mem_f = ScenarioFigures::new("compensation pending → 500, in memory");
    let mut disk_f = ScenarioFigures::new("compensation pending → 500, --data-dir");
    for _ in 0..opts.reps {
        health_f.push(&load::run(&health(main_addr), opts.load).await?);
        happy_f.push(&load::run(&order(main_addr, PLENTY_SKU, None, 201), opts.load).await?);
        if let Some(off) = &unrecorded {
            happy_off_f.push(&load::run(&order(off.addr, PLENTY_SKU, None, 201), opts.load).await?);
        }
        comp_f.push(&load::run(&order(main_addr, EMPTY_SKU, None, 409), opts.load).await?);
        if let Some(off) = &unrecorded {
            comp_off_f.push(&load::run(&order(off.addr, EMPTY_SKU, None, 409), opts.load).await?);
        }
        if let Some((durable, mem, disk)) = &others {
            durable_f
                .push(&load::run(&order(durable.addr, PLENTY_SKU, None, 201), opts.load).await?);
            let faults = Some(PENDING_FAULTS);
            mem_f.push(&load::run(&order(mem.addr, PLENTY_SKU, faults, 500), opts.load).await?);
            disk_f.push(&load::run(&order(disk.addr, PLENTY_SKU, faults, 500), opts.load).await?);
        }
    }

    let mut rows = vec![
        Row::new("1", "HTTP ceiling: `GET /health`", health_f.summary()),
        Row::new(
            "1",
            "Happy-path saga: `POST /orders` → 201",
            happy_f.summary(),
        )
        .ratio(
            median_ratio(&happy_f.per_second, &health_f.per_second),
            "req/s vs `GET /health`",
        )
        .target(|r| r >= 0.25, "≥ 0.25"),
        Row::new(
            "1",
            "Compensated saga: no stock → 409 (release + cancel)",
            comp_f.summary(),
        )
        .ratio(
            median_ratio(&comp_f.per_second, &health_f.per_second),
            "req/s vs `GET /health`",
        ),
    ];
    if let Some(addr) = opts.url {
        // These rows sit beside the in-process ones in one table; say which is which.
        for row in &mut rows {
            row.measurement
                .push_str(&format!(", server in another process at {addr}"));
        }
    }
    if unrecorded.is_some() {
        rows.push(
            Row::new(
                "1",
                "Viewer recording: happy path with `--viewer-executions 0` (recording off)",
                happy_off_f.summary(),
            )
            .ratio(
                median_ratio(&happy_f.per_second, &happy_off_f.per_second),
                "req/s recording on (the default) vs off",
            )
            .target(|r| r >= 0.95, "≥ 0.95"),
        );
        rows.push(
            Row::new(
                "1",
                "Viewer recording: no stock → 409 with `--viewer-executions 0` (recording off)",
                comp_off_f.summary(),
            )
            .ratio(
                median_ratio(&comp_f.per_second, &comp_off_f.per_second),
                "req/s recording on (the default) vs off",
            )
            .target(|r| r >= 0.95, "≥ 0.95"),
        );
    }
    let mut scenarios = vec![health_f, happy_f.clone(), comp_f.clone()];
    if unrecorded.is_some() {
        scenarios.push(happy_off_f);
        scenarios.push(comp_off_f);
    }
    if others.is_some() {
        rows.push(
            Row::new(
                "1",
                "Happy-path saga, durable: `--data-dir` (store journal, synced before each answer)",
                durable_f.summary(),
            )
            .ratio(
                median_ratio(&durable_f.per_second, &happy_f.per_second),
                "req/s vs in-memory happy path",
            ),
        );
        rows.push(Row::new(
            "1",
            "Compensation pending → 500 (`reserve-stock=error-after-commit,release-stock=error`), in memory",
            mem_f.summary(),
        ));
        rows.push(
            Row::new(
                "1",
                "Compensation pending → 500, durable: `--data-dir` (store + repair queue journals)",
                disk_f.summary(),
            )
            .ratio(
                median_ratio(&disk_f.per_second, &mem_f.per_second),
                "req/s vs in memory",
            ),
        );
        scenarios.push(durable_f);
        scenarios.push(mem_f);
        scenarios.push(disk_f);
    }

    if let Some(s) = main {
        let _ = s.shutdown().await;
    }
    if let Some(s) = unrecorded {
        let _ = s.shutdown().await;
    }
    if let Some((durable, mem, disk)) = others {
        let _ = durable.shutdown().await;
        let _ = mem.shutdown().await;
        let _ = disk.shutdown().await;
    }
    Ok(HttpReport { rows, scenarios })
}
