//! `saga`: the order saga's local runtime and tools.
//!
//! `saga serve` (the default) runs the HTTP API on 127.0.0.1 with the embedded Step Functions engine; the other
//! subcommands are tools over the same engine and definition. Each subcommand lives in its own module with its
//! own `Args`, so this file only dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Local mode's request path is allocation-bound: the engine builds and drops many small JSON trees per saga,
/// from tasks that move between worker threads. glibc's allocator spent ~40% of the server's CPU on that
/// (malloc, free, consolidation); mimalloc's per-thread free lists make the same work much cheaper.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod budget;
mod chaos;
mod run;
mod serve;
mod smoke;
mod test_state;
mod validate;

#[derive(Parser)]
#[command(
    name = "saga",
    version,
    about = "Two systems, one synchronous request, no half-written data: the order saga, locally."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default when no subcommand is given).
    Serve(serve::Args),
    /// Run a definition once, locally, with mocked Tasks, and print the StartSyncExecution result.
    Run(run::Args),
    /// Check a definition as ValidateStateMachineDefinition does, printing each problem with its JSON location.
    Validate(validate::Args),
    /// Test one state offline as the TestState API does (the options of `aws stepfunctions test-state`).
    TestState(test_state::Args),
    /// Prove from the definition that every path ends before the workflow's timeout, and that timeout before the
    /// gateway's.
    Budget(budget::Args),
    /// Drive thousands of concurrent sagas under random faults, then check that no data was left half-written.
    Chaos(chaos::Args),
    /// Benchmark the local saga (HTTP, engine overhead, per-state cost, memory, Lambda start-up) as ratios.
    Bench(bench::Args),
    /// Check a deployed stack (or a running `saga serve`) end to end, right after `terraform apply`.
    Smoke(smoke::Args),
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("SAGA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // Colour only for a person at a terminal: a log file or a collector would keep the escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli
        .command
        .unwrap_or_else(|| Command::Serve(serve::Args::default()))
    {
        Command::Serve(args) => serve::run(args).await,
        Command::Run(args) => run::run(args).await,
        Command::Validate(args) => validate::run(args),
        Command::TestState(args) => test_state::run(args).await,
        Command::Budget(args) => budget::run(args),
        Command::Chaos(args) => chaos::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Smoke(args) => smoke::run(args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What a subcommand returns: an exit code, or an error to print.
pub type CmdResult = Result<ExitCode, Box<dyn std::error::Error + Send + Sync>>;
