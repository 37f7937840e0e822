//! `saga chaos`: thousands of concurrent sagas under random partial failures, then proof that the data is
//! consistent and every answer told the truth.
//!
//! A run has three phases:
//!
//! 1. **Plan.** [`plan::plan`] turns the seed into every request (skus, quantities, Idempotency-Keys — some
//!    replayed, some reused with another body —, fault plans) and every restock, before anything is sent. The
//!    same seed always asks the same questions; only the interleaving differs from run to run.
//! 2. **Drive.** The requests go over real HTTP with `concurrency` in flight, on a handful of skus so that they
//!    fight over the same stock. Faults cover every step in every mode, layered so that compensation faults
//!    strike while compensating and `enqueue-repair` faults while queueing a repair.
//! 3. **Settle and check.** Late writes land, owed repairs finish, the sweeper runs until it finds nothing, and
//!    then [`check::check`] holds every answer and every record to the invariants in `docs/reliability.md`.
//!
//! Without a URL the run starts its own server in-process and reads the stores directly, which lets it see
//! every order (including those no answer named) and every reservation. With a URL only the HTTP API is used.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use saga_domain::FaultMode;
use saga_local::server::RunningServer;
use saga_local::Config;
use tokio::sync::Semaphore;
use tokio::time::Instant;

pub mod check;
pub mod drive;
pub mod plan;

pub use check::Violation;

#[derive(Debug, Clone)]
pub struct Options {
    /// A running `saga serve --fault-injection`; `None` starts a server in-process.
    pub url: Option<String>,
    pub requests: usize,
    pub concurrency: usize,
    pub seed: u64,
    /// The in-process server's time scale (ignored with `url`).
    pub time_scale: f64,
    pub skus: usize,
    /// How often to print progress to stderr; `None` is silent.
    pub progress: Option<Duration>,
    /// Against a remote server: how long to wait for its repair worker and sweeper to finish.
    pub settle_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            url: None,
            requests: 10_000,
            concurrency: 64,
            seed: 1,
            time_scale: 0.01,
            skus: 4,
            progress: Some(Duration::from_secs(3)),
            settle_timeout: Duration::from_secs(60),
        }
    }
}

/// A run that could not take place (as opposed to one that found violations).
#[derive(Debug)]
pub struct ChaosError(pub String);

impl std::fmt::Display for ChaosError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ChaosError {}

impl From<String> for ChaosError {
    fn from(s: String) -> Self {
        ChaosError(s)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub seed: u64,
    pub requests: usize,
    pub concurrency: usize,
    pub skus: usize,
    pub remote: bool,
    pub elapsed: Duration,
    pub fault_free: usize,
    /// How many (step, mode) faults were injected, by mode.
    pub faults: BTreeMap<&'static str, usize>,
    pub answers: BTreeMap<u16, usize>,
    /// Answers that said `compensation: "pending"`.
    pub pending_answers: usize,
    pub replays: usize,
    pub conflicts: usize,
    pub restocks: usize,
    /// Repairs the queue finished (in-process only).
    pub repairs: Option<u64>,
    /// Orders the sweeper compensated (in-process: all of them; remote: those still PENDING when the run settled).
    pub swept: usize,
    pub orders: check::Observed,
    pub violations: Vec<Violation>,
}

impl Report {
    /// The one line a run ends with.
    pub fn summary(&self) -> String {
        let join = |parts: Vec<String>| parts.join(", ");
        let faults = join(
            FaultMode::ALL
                .iter()
                .map(|m| format!("{m} {}", self.faults.get(m.as_str()).copied().unwrap_or(0)))
                .collect(),
        );
        let answers = join(
            self.answers
                .iter()
                .map(|(s, n)| format!("{s}: {n}"))
                .collect(),
        );
        format!(
            "chaos seed {} ({}): {} requests ({} fault-free, {} replays, {} key reuses, {} restocks), concurrency {}, {} skus, {:.1} s | faults: {faults} | answers: {answers} | pending {} | repairs {} | swept {} | orders {} confirmed, {} cancelled | violations: {}",
            self.seed,
            if self.remote { "remote" } else { "in-process" },
            self.requests,
            self.fault_free,
            self.replays,
            self.conflicts,
            self.restocks,
            self.concurrency,
            self.skus,
            self.elapsed.as_secs_f64(),
            self.pending_answers,
            self.repairs.map_or("n/a".into(), |r| r.to_string()),
            self.swept,
            self.orders.confirmed,
            self.orders.cancelled,
            self.violations.len(),
        )
    }
}

/// Live counters for the progress line.
#[derive(Default)]
struct Progress {
    answered: AtomicUsize,
    in_flight: AtomicUsize,
    statuses: Mutex<BTreeMap<u16, usize>>,
}

impl Progress {
    fn line(&self, total: usize, t0: Instant) -> String {
        let statuses = self
            .statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "chaos: {}/{total} answered, {} in flight, {:.0} s [{statuses}]",
            self.answered.load(Ordering::Relaxed),
            self.in_flight.load(Ordering::Relaxed),
            t0.elapsed().as_secs_f64()
        )
    }
}

/// How long a late write may still be on its way after the last answer: the longest task timeout (scaled) plus
/// the fixed overrun a `late-commit` step sleeps past it, with room to spare.
fn late_write_grace(time_scale: f64) -> Duration {
    Duration::from_secs_f64(2.0 * time_scale) + Duration::from_millis(250 + 500)
}

pub async fn run(opts: Options) -> Result<Report, ChaosError> {
    if opts.requests == 0 || opts.concurrency == 0 || opts.skus == 0 {
        return Err(ChaosError(
            "requests, concurrency and skus must be positive".into(),
        ));
    }
    let started = Instant::now();
    let (server, base, tag) = match &opts.url {
        None => {
            let server = saga_local::server::start(Config {
                fault_injection: true,
                time_scale: opts.time_scale,
                repair_backoff: Duration::from_millis(2),
                sweep_interval: Duration::from_millis(50),
                ..Config::default()
            })
            .await
            .map_err(|e| ChaosError(format!("cannot start the server: {e}")))?;
            let url = server.url();
            (Some(server), url, format!("chaos-s{}", opts.seed))
        }
        Some(url) => {
            // A long-lived server keeps keys and stock from earlier runs; a per-run tag keeps this run's apart.
            let nonce = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            (None, url.clone(), format!("chaos-s{}-{nonce}", opts.seed))
        }
    };
    let result = drive_and_check(&opts, server.as_ref(), &base, &tag, started).await;
    if let Some(server) = server {
        let _ = server.shutdown().await;
    }
    result
}

async fn drive_and_check(
    opts: &Options,
    server: Option<&RunningServer>,
    base: &str,
    tag: &str,
    started: Instant,
) -> Result<Report, ChaosError> {
    let plan = plan::plan(opts.seed, opts.requests, opts.skus, tag);
    let client = drive::Client::new(base, opts.concurrency)?;
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for sku in &plan.skus {
        let level = client.put_stock(sku, plan::INITIAL_STOCK).await?;
        totals.insert(sku.clone(), level.available + level.reserved);
    }

    let progress = Arc::new(Progress::default());
    let t0 = Instant::now();
    let reporter = opts.progress.map(|every| {
        let progress = progress.clone();
        let total = opts.requests;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                eprintln!("{}", progress.line(total, t0));
            }
        })
    });

    let permits = Arc::new(Semaphore::new(opts.concurrency));
    let mut tasks = Vec::with_capacity(opts.requests);
    let mut restocks = 0;
    for op in &plan.ops {
        match op {
            plan::Op::Restock { sku, available } => {
                // The answer is the level right after the write: available + reserved is then the sku's total,
                // which no saga step changes.
                let level = client.put_stock(sku, *available).await?;
                totals.insert(sku.clone(), level.available + level.reserved);
                restocks += 1;
            }
            plan::Op::Order(p) => {
                let permit = permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let (client, p, progress) = (client.clone(), p.clone(), progress.clone());
                progress.in_flight.fetch_add(1, Ordering::Relaxed);
                tasks.push(tokio::spawn(async move {
                    let out = client.order(&p, t0).await;
                    drop(permit);
                    progress.in_flight.fetch_sub(1, Ordering::Relaxed);
                    progress.answered.fetch_add(1, Ordering::Relaxed);
                    *progress
                        .statuses
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(out.status)
                        .or_default() += 1;
                    out
                }));
            }
        }
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    for t in tasks {
        outcomes.push(
            t.await
                .map_err(|e| ChaosError(format!("a request task failed: {e}")))?,
        );
    }
    if let Some(r) = reporter {
        r.abort();
    }
    if opts.progress.is_some() {
        eprintln!("{}", progress.line(opts.requests, t0));
        eprintln!("chaos: all answered; letting late writes land, repairs finish and the sweeper converge");
    }

    let (probe, repairs, swept) = match server {
        Some(server) => {
            let app = server.app.clone();
            tokio::time::sleep(late_write_grace(opts.time_scale)).await;
            // Nothing is in flight any more, so every PENDING order is an orphan: sweep with no age limit until
            // a pass finds none, finishing owed repairs before each pass.
            loop {
                app.shared.repair.wait_idle().await;
                let n = saga_local::sweeper::sweep_once(
                    &*app.shared.orders,
                    &*app.shared.inventory,
                    Duration::ZERO,
                )
                .await;
                if n == 0 {
                    break;
                }
            }
            app.shared.repair.wait_idle().await;
            let swept = app
                .all_orders()
                .iter()
                .filter(|o| {
                    o.failure
                        .as_ref()
                        .is_some_and(|f| f.error == saga_steps::sweep::ABANDONED)
                })
                .count();
            let repairs = app.shared.repair.stats().repaired;
            (check::Probe::Local(app), Some(repairs), swept)
        }
        None => {
            tokio::time::sleep(late_write_grace(0.0)).await;
            let swept = settle_remote(&client, &outcomes, opts.settle_timeout).await?;
            (check::Probe::Http(client.clone()), None, swept)
        }
    };

    let (violations, orders) = check::check(&probe, &plan, &outcomes, &totals).await;
    let mut report = Report {
        seed: opts.seed,
        requests: opts.requests,
        concurrency: opts.concurrency,
        skus: plan.skus.len(),
        remote: server.is_none(),
        restocks,
        repairs,
        swept,
        orders,
        violations,
        ..Report::default()
    };
    for p in plan.orders() {
        if p.faults.is_empty() {
            report.fault_free += 1;
        }
        for (_, mode) in p.faults.pairs() {
            *report.faults.entry(mode.as_str()).or_default() += 1;
        }
        match p.origin {
            plan::Origin::Replay { .. } => report.replays += 1,
            plan::Origin::Conflict { .. } => report.conflicts += 1,
            plan::Origin::Fresh => {}
        }
    }
    for o in &outcomes {
        *report.answers.entry(o.status).or_default() += 1;
        if o.compensation() == Some("pending") {
            report.pending_answers += 1;
        }
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Waits until no order the answers named is PENDING (repair and the sweeper settle every one), or until
/// `bound`; returns how many were PENDING when it started (the remote sweeper's share).
async fn settle_remote(
    client: &drive::Client,
    outcomes: &[drive::Outcome],
    bound: Duration,
) -> Result<usize, ChaosError> {
    let named = check::named_orders(outcomes);
    let deadline = Instant::now() + bound;
    let mut first = None;
    loop {
        let mut waiting = 0;
        for id in &named {
            let status = client
                .get_order(id)
                .await?
                .and_then(|o| o.get("status").and_then(|s| s.as_str()).map(str::to_string));
            if status.as_deref() == Some("PENDING") {
                waiting += 1;
            }
        }
        let first = *first.get_or_insert(waiting);
        if waiting == 0 || Instant::now() >= deadline {
            return Ok(first);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
