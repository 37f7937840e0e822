//! `saga bench`: the benchmark report (see the `saga-bench` crate for what each section measures and why).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use saga_bench::http::HttpOptions;
use saga_bench::load::LoadSpec;
use saga_bench::{coldstart, Options, Section};

use crate::CmdResult;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Only {
    Http,
    Engine,
    States,
    Memory,
    ColdStart,
}

impl From<Only> for Section {
    fn from(o: Only) -> Section {
        match o {
            Only::Http => Section::Http,
            Only::Engine => Section::Engine,
            Only::States => Section::States,
            Only::Memory => Section::Memory,
            Only::ColdStart => Section::ColdStart,
        }
    }
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    cargo build --release -p saga-cli && RUST_LOG=warn target/release/saga bench --build-lambdas\n  \
    saga bench --only engine --only states --reps 7\n  \
    saga bench --only http --url 127.0.0.1:3000   # against `saga serve` in another process\n\n\
    Run it from a release build: a debug build measures the debug build.")]
pub(crate) struct Args {
    /// Run only these sections (repeatable); all of them by default.
    #[arg(long, value_enum)]
    only: Vec<Only>,
    /// Repetitions of every measurement; medians are reported.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// HTTP: concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// HTTP: measured seconds per scenario and repetition.
    #[arg(long, default_value_t = 2.0)]
    duration_seconds: f64,
    /// HTTP: unmeasured warm-up seconds before each measured window.
    #[arg(long, default_value_t = 0.5)]
    warmup_seconds: f64,
    /// HTTP: measure a server already running at this address instead of starting one in this process
    /// (the compensation-pending scenarios need their own configuration and are skipped then).
    #[arg(long)]
    url: Option<std::net::SocketAddr>,
    /// Engine: sagas per repetition on each path.
    #[arg(long, default_value_t = 5_000)]
    sagas: usize,
    /// States: length of each generated chain.
    #[arg(long, default_value_t = 1_000)]
    chain_states: usize,
    /// States: executions of each chain per repetition.
    #[arg(long, default_value_t = 50)]
    chain_runs: usize,
    /// Memory: executions held in flight per repetition.
    #[arg(long, default_value_t = 5_000)]
    inflight: usize,
    /// Cold start: starts of each Lambda binary (and as many of hello-lambda beside it).
    #[arg(long, default_value_t = 10)]
    cold_starts: usize,
    /// Cold start: where the release binaries are [default: $CARGO_TARGET_DIR/release, else target/release].
    #[arg(long)]
    lambda_dir: Option<PathBuf>,
    /// Cold start: build the Lambda binaries first, one `cargo build --release -p <function>` each.
    #[arg(long)]
    build_lambdas: bool,
    /// Print the report as JSON instead of Markdown.
    #[arg(long)]
    json: bool,
}

fn build_lambdas() -> Result<(), String> {
    for command in coldstart::build_commands() {
        eprintln!("$ {command}");
        let mut words = command.split_whitespace();
        let program = words.next().expect("a command has a program");
        let status = std::process::Command::new(program)
            .args(words)
            .status()
            .map_err(|e| format!("cannot run {command}: {e}"))?;
        if !status.success() {
            return Err(format!("{command} failed ({status})"));
        }
    }
    Ok(())
}

pub(crate) async fn run(args: Args) -> CmdResult {
    if args.reps == 0 || args.connections == 0 {
        return Err("--reps and --connections must be at least 1".into());
    }
    let seconds = |s: f64, flag: &str| {
        Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero() || flag == "--warmup-seconds")
            .ok_or_else(|| format!("{flag} must be a positive number of seconds"))
    };
    let sections: Vec<Section> = if args.only.is_empty() {
        Section::ALL.to_vec()
    } else {
        args.only.iter().map(|&o| o.into()).collect()
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; build with --release for meaningful figures");
    }
    // The gateway logs every order at info; with that on, the HTTP figures measure the terminal.
    let logging = tracing::enabled!(target: "saga_local::gateway", tracing::Level::INFO);
    if logging && sections.contains(&Section::Http) && args.url.is_none() {
        eprintln!("warning: per-request logging is on; run with RUST_LOG=warn to measure the server without it");
    }
    let lambda_dir = args.lambda_dir.clone().unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| PathBuf::from("target"), PathBuf::from)
            .join("release")
    });
    if args.build_lambdas && sections.contains(&Section::ColdStart) {
        tokio::task::spawn_blocking(build_lambdas).await??;
    }
    let opts = Options {
        sections,
        reps: args.reps,
        http: HttpOptions {
            reps: args.reps,
            load: LoadSpec {
                connections: args.connections,
                warmup: seconds(args.warmup_seconds, "--warmup-seconds")?,
                duration: seconds(args.duration_seconds, "--duration-seconds")?,
            },
            url: args.url,
        },
        sagas: args.sagas.max(1),
        chain_states: args.chain_states.max(1),
        chain_runs: args.chain_runs.max(1),
        inflight: args.inflight.max(1),
        cold_starts: args.cold_starts.max(1),
        lambda_dir,
    };
    let mut report = saga_bench::run(&opts).await?;
    report.notes.push(match args.url {
        // Another process logs as its own RUST_LOG says; this one's setting tells nothing about it.
        Some(addr) => format!(
            "Per-request info logging in the server: as the server at {addr} was started (RUST_LOG=warn turns it off)."
        ),
        None => format!(
            "Per-request info logging in the server: {}.",
            if logging { "on" } else { "off" }
        ),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.markdown());
    }
    Ok(ExitCode::SUCCESS)
}
