//! `saga chaos`: drive thousands of sagas under random faults and prove the data stays consistent.

use std::process::ExitCode;
use std::time::Duration;

use crate::CmdResult;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  saga chaos\n  saga chaos --requests 500 --seed 7\n  saga chaos --url http://127.0.0.1:3000   # against `saga serve --fault-injection`"
)]
pub(crate) struct Args {
    /// Drive this running server (started with --fault-injection) instead of one started in-process.
    #[arg(long)]
    pub url: Option<String>,
    /// How many order requests to send.
    #[arg(long, default_value_t = 10_000)]
    pub requests: usize,
    /// How many requests are in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seeds the plan of requests, keys, restocks and faults: the same seed asks the same questions.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The in-process server's time scale (ignored with --url).
    #[arg(long, default_value_t = 0.01)]
    pub time_scale: f64,
    /// How many skus the requests fight over.
    #[arg(long, default_value_t = 4)]
    pub skus: usize,
    /// With --url: how long to wait for the server's repairs and sweeps before checking.
    #[arg(long, default_value_t = 60.0)]
    pub settle_seconds: f64,
    /// How many violations to print in full; the rest are only counted.
    #[arg(long, default_value_t = 5)]
    pub show: usize,
}

pub(crate) async fn run(args: Args) -> CmdResult {
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        return Err("--time-scale must be a positive number".into());
    }
    if !(args.settle_seconds.is_finite() && args.settle_seconds >= 0.0) {
        return Err("--settle-seconds must be a non-negative number".into());
    }
    let report = saga_chaos::run(saga_chaos::Options {
        url: args.url,
        requests: args.requests,
        concurrency: args.concurrency,
        seed: args.seed,
        time_scale: args.time_scale,
        skus: args.skus,
        progress: Some(Duration::from_secs(3)),
        settle_timeout: Duration::from_secs_f64(args.settle_seconds),
    })
    .await?;
    for v in report.violations.iter().take(args.show) {
        eprintln!("violation {v}");
    }
    if report.violations.len() > args.show {
        eprintln!(
            "… and {} more violations",
            report.violations.len() - args.show
        );
    }
    println!("{}", report.summary());
    Ok(if report.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
