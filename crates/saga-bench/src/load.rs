//! The load generator: a fixed number of keep-alive HTTP/1.1 connections, each a tokio task that sends its
//! next request as soon as the previous answer is read (a closed loop), for a fixed time.
//!
//! It drives `hyper::client::conn::http1` directly rather than a pooled client: one task owns exactly one
//! connection, so "64 connections" means 64 sockets, and the generator does the least work a client can,
//! which matters when it shares two cores with the server it measures.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use tokio::time::Instant;

use crate::stats::percentile;

/// One request, sent over and over.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub method: Method,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    /// Every answer must have this status; others are counted and make the run suspect.
    pub expect_status: u16,
}

#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    pub connections: usize,
    /// Requests during warm-up are sent but not counted.
    pub warmup: Duration,
    pub duration: Duration,
}

#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Requests started and answered inside the measured window.
    pub requests: u64,
    pub unexpected_status: u64,
    pub window: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl LoadResult {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.window.as_secs_f64()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP error talking to {addr}: {source}")]
    Http {
        addr: SocketAddr,
        source: hyper::Error,
    },
    #[error("building the request: {0}")]
    Request(#[from] hyper::http::Error),
}

struct Tally {
    latencies: Vec<Duration>,
    unexpected: u64,
}

async fn connection(
    target: &Target,
    start: &Barrier,
    measure_from: Instant,
    until: Instant,
) -> Result<Tally, LoadError> {
    let addr = target.addr;
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| LoadError::Connect { addr, source })?;
    // Small request/response pairs: Nagle would add its delay to every one of them.
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|source| LoadError::Http { addr, source })?;
    let driver = tokio::spawn(conn);
    let host = addr.to_string();
    let mut tally = Tally {
        latencies: Vec::with_capacity(4096),
        unexpected: 0,
    };
    start.wait().await;
    let result = async {
        loop {
            let sent = Instant::now();
            if sent >= until {
                return Ok(());
            }
            let mut request = Request::builder()
                .method(target.method.clone())
                .uri(target.path.as_str())
                .header(hyper::header::HOST, host.as_str());
            for (name, value) in &target.headers {
                request = request.header(*name, value.as_str());
            }
            let request = request.body(Full::new(target.body.clone()))?;
            sender
                .ready()
                .await
                .map_err(|source| LoadError::Http { addr, source })?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|source| LoadError::Http { addr, source })?;
            let status = response.status().as_u16();
            response
                .into_body()
                .collect()
                .await
                .map_err(|source| LoadError::Http { addr, source })?;
            let done = Instant::now();
            if sent >= measure_from && done <= until {
                tally.latencies.push(done - sent);
                if status != target.expect_status {
                    tally.unexpected += 1;
                }
            }
        }
    }
    .await;
    drop(sender);
    let _ = driver.await;
    result.map(|()| tally)
}

/// Runs `target` over `spec.connections` connections, all opened before the clock starts.
pub async fn run(target: &Target, spec: LoadSpec) -> Result<LoadResult, LoadError> {
    let start = std::sync::Arc::new(Barrier::new(spec.connections + 1));
    let target = std::sync::Arc::new(target.clone());
    // The window is fixed up front; a task that is still connecting when it opens simply starts late.
    let begin = Instant::now() + Duration::from_millis(200);
    let measure_from = begin + spec.warmup;
    let until = measure_from + spec.duration;
    let tasks: Vec<_> = (0..spec.connections)
        .map(|_| {
            let start = start.clone();
            let target = target.clone();
            tokio::spawn(async move { connection(&target, &start, measure_from, until).await })
        })
        .collect();
    start.wait().await;
    let mut latencies = Vec::new();
    let mut unexpected = 0;
    let mut first_error = None;
    for task in tasks {
        match task.await.expect("load task panicked") {
            Ok(t) => {
                latencies.extend(t.latencies);
                unexpected += t.unexpected;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    latencies.sort_unstable();
    Ok(LoadResult {
        requests: latencies.len() as u64,
        unexpected_status: unexpected,
        window: spec.duration,
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
    })
}
