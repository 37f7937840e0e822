//! `saga bench`: how fast the local saga runs, reported as ratios measured side by side in one run.
//!
//! Absolute figures from a shared, noisy machine mean little on their own; a ratio between two things
//! measured back to back in the same repetition, on the same machine, means a lot more. So every section
//! pairs what it measures with a baseline and reports the median of the per-repetition ratios:
//!
//! 1. [`http`]: the saga over HTTP against the same server's `GET /health`, with this crate's own load
//!    generator ([`load`]); and the compensation-pending path with the repair queue in memory against the
//!    same path with the queue journaled to disk.
//! 2. [`engine`]: one saga through `asl_engine::execute` against the same three handler calls made directly.
//! 3. [`engine`]: the engine's cost per state transition on long generated chains, and the memory an
//!    execution holds while it waits in a Task.
//! 4. [`coldstart`]: each Lambda binary's size and its time from spawn to its first Runtime API request,
//!    against a minimal `lambda_runtime` function built the same way.
//!
//! Nothing here runs in tests except the helpers' own unit tests: timings in tests only make them flaky.

pub mod coldstart;
pub mod engine;
pub mod http;
pub mod load;
pub mod stats;

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Load(#[from] load::LoadError),
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub section: String,
    pub measurement: String,
    /// Medians over the repetitions, in words.
    pub value: String,
    /// The median of per-repetition ratios, and what it is a ratio of.
    pub ratio: Option<f64>,
    pub ratio_of: Option<String>,
    pub target: Option<String>,
    pub met: Option<bool>,
}

impl Row {
    pub fn new(section: &str, measurement: &str, value: String) -> Row {
        Row {
            section: section.into(),
            measurement: measurement.into(),
            value,
            ratio: None,
            ratio_of: None,
            target: None,
            met: None,
        }
    }

    pub fn ratio(mut self, ratio: f64, of: &str) -> Row {
        self.ratio = Some(ratio);
        self.ratio_of = Some(of.into());
        self
    }

    /// Requires [`Row::ratio`] first.
    pub fn target(mut self, met: impl Fn(f64) -> bool, target: &str) -> Row {
        self.met = self.ratio.map(met);
        self.target = Some(target.into());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Section {
    Http,
    Engine,
    States,
    Memory,
    ColdStart,
}

impl Section {
    pub const ALL: [Section; 5] = [
        Section::Http,
        Section::Engine,
        Section::States,
        Section::Memory,
        Section::ColdStart,
    ];
}

#[derive(Debug, Clone)]
pub struct Options {
    pub sections: Vec<Section>,
    pub reps: usize,
    pub http: http::HttpOptions,
    pub sagas: usize,
    pub chain_states: usize,
    pub chain_runs: usize,
    pub inflight: usize,
    pub cold_starts: usize,
    pub lambda_dir: PathBuf,
}

/// Where the run happened, as the report states it.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cpus: usize,
    pub memory: String,
}

impl Machine {
    pub fn here() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .map_or_else(
                || "unknown".into(),
                |kb| format!("{:.1} GiB", kb / 1048576.0),
            );
        Machine {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub reps: usize,
    pub notes: Vec<String>,
    pub rows: Vec<Row>,
    pub http_scenarios: Vec<http::ScenarioFigures>,
}

/// Runs the selected sections. Memory goes first: it reads this process's RSS, which is only meaningful
/// before the other sections have grown and freed the heap.
pub async fn run(opts: &Options) -> Result<Report, BenchError> {
    let want = |s: Section| opts.sections.contains(&s);
    let mut report = Report {
        machine: Machine::here(),
        reps: opts.reps,
        notes: Vec::new(),
        rows: Vec::new(),
        http_scenarios: Vec::new(),
    };
    let mut memory_rows = Vec::new();
    if want(Section::Memory) {
        memory_rows = engine::memory(engine::MemoryOptions {
            reps: opts.reps,
            inflight: opts.inflight,
        })
        .await?;
    }
    if want(Section::Http) {
        let r = http::run(&opts.http).await?;
        report.rows.extend(r.rows);
        report.http_scenarios = r.scenarios;
        report.notes.push(format!(
            "Load generator: this crate's own (hyper 1 `client::conn::http1`), {} keep-alive connections, \
             one tokio task each, closed loop, {:.1} s measured after {:.1} s warm-up per scenario and \
             repetition. {}",
            opts.http.load.connections,
            opts.http.load.duration.as_secs_f64(),
            opts.http.load.warmup.as_secs_f64(),
            match opts.http.url {
                Some(a) => format!("The server is another process at {a}."),
                None => format!(
                    "Server and generator share this process and its tokio runtime ({} worker threads \
                     on {} CPUs), so the generator competes with the server for CPU.",
                    report.machine.cpus, report.machine.cpus
                ),
            }
        ));
    }
    if want(Section::Engine) {
        report.rows.extend(
            engine::engine_vs_direct(engine::EngineOptions {
                reps: opts.reps,
                sagas: opts.sagas,
            })
            .await?,
        );
    }
    if want(Section::States) {
        report.rows.extend(
            engine::per_state(engine::ChainOptions {
                reps: opts.reps,
                states: opts.chain_states,
                runs: opts.chain_runs,
            })
            .await?,
        );
    }
    report.rows.extend(memory_rows);
    if want(Section::ColdStart) {
        report.rows.extend(
            coldstart::run(&coldstart::ColdStartOptions {
                dir: opts.lambda_dir.clone(),
                starts: opts.cold_starts,
            })
            .await?,
        );
    }
    Ok(report)
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Machine: {} × {}, {} RAM. Medians of {} repetitions; each ratio is the median of per-repetition ratios.\n",
            self.machine.cpus, self.machine.cpu, self.machine.memory, self.reps
        );
        let _ = writeln!(
            s,
            "| # | Measurement | Median | Ratio | Target | Met |\n|---|---|---|---|---|---|"
        );
        for r in &self.rows {
            let ratio = match (r.ratio, &r.ratio_of) {
                (Some(x), Some(of)) => format!("{x:.2}× ({of})"),
                _ => "—".into(),
            };
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "—",
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                r.section,
                r.measurement,
                r.value,
                ratio,
                r.target.as_deref().unwrap_or("—"),
                met
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "\n{n}");
        }
        s
    }
}
