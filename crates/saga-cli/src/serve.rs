//! `saga serve`: the HTTP API on a local address.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use saga_local::Config;
use sfn_api::mock::MockConfig;

use crate::CmdResult;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  saga serve\n  saga serve --mock-config MockConfigFile.json   (then StartSyncExecution on <stateMachineArn>#<TestCase>)\n  saga serve --listen 127.0.0.1:8080 --fault-injection --time-scale 0.01\n  RUST_LOG=debug saga serve --data-dir ./data"
)]
pub(crate) struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: String,
    /// Honour the X-Saga-Fault header (for rehearsing failures). Off by default, as in production.
    #[arg(long)]
    pub fault_injection: bool,
    /// Multiply every workflow timeout, retry delay and Wait by this factor (1 = AWS timings).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Run this definition instead of the shipped workflow.asl.json (placeholders are filled the same way).
    #[arg(long)]
    pub definition: Option<PathBuf>,
    /// Keep the store's and the repair queue's journals here, so data and owed repairs survive a restart.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// How long an Idempotency-Key stays bound to its order.
    #[arg(long, default_value_t = create_order_ttl())]
    pub idempotency_ttl_seconds: i64,
    /// How often the orphan sweeper looks for abandoned PENDING orders.
    #[arg(long, default_value_t = 5.0)]
    pub sweep_interval_seconds: f64,
    /// How long Ctrl-C or SIGTERM waits for requests in flight before the server stops without them.
    #[arg(long, default_value_t = shutdown_grace())]
    pub shutdown_grace_seconds: f64,
    /// A Step Functions Local mock configuration (MockConfigFile.json): StartExecution or StartSyncExecution on
    /// `<stateMachineArn>#<TestCase>` answers that test case's Task states from it.
    #[arg(long, env = "SFN_MOCK_CONFIG", value_name = "FILE")]
    pub mock_config: Option<PathBuf>,
    /// How many recent executions the viewer at http://ADDRESS/ keeps, oldest dropped first; 0 records none.
    #[arg(long, default_value_t = saga_viewer_capacity(), value_name = "N")]
    pub viewer_executions: usize,
}

fn saga_viewer_capacity() -> usize {
    Config::default().viewer_executions
}

fn shutdown_grace() -> f64 {
    saga_local::app::DEFAULT_SHUTDOWN_GRACE.as_secs_f64()
}

fn create_order_ttl() -> i64 {
    Config::default().idempotency_ttl_s
}

impl Default for Args {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:3000".into(),
            fault_injection: false,
            time_scale: 1.0,
            definition: None,
            data_dir: None,
            idempotency_ttl_seconds: create_order_ttl(),
            sweep_interval_seconds: 5.0,
            shutdown_grace_seconds: shutdown_grace(),
            mock_config: None,
            viewer_executions: saga_viewer_capacity(),
        }
    }
}

pub(crate) async fn run(args: Args) -> CmdResult {
    let definition = match &args.definition {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        ),
        None => None,
    };
    if !(args.sweep_interval_seconds.is_finite() && args.sweep_interval_seconds > 0.0) {
        return Err("--sweep-interval-seconds must be a positive number".into());
    }
    if !(args.shutdown_grace_seconds.is_finite() && args.shutdown_grace_seconds >= 0.0) {
        return Err("--shutdown-grace-seconds must be a number of seconds, 0 or more".into());
    }
    let mock_config = match &args.mock_config {
        Some(path) => Some(std::sync::Arc::new(read_mock_config(path)?)),
        None => None,
    };
    let config = Config {
        fault_injection: args.fault_injection,
        time_scale: args.time_scale,
        definition,
        data_dir: args.data_dir.clone(),
        idempotency_ttl_s: args.idempotency_ttl_seconds,
        sweep_interval: Duration::from_secs_f64(args.sweep_interval_seconds),
        shutdown_grace: Duration::from_secs_f64(args.shutdown_grace_seconds),
        mock_config,
        viewer_executions: args.viewer_executions,
        ..Config::default()
    };
    let app = saga_local::App::new(config)?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr()?;
    let stop = shutdown_signal().map_err(|e| format!("cannot install the signal handlers: {e}"))?;
    tracing::info!(
        %addr,
        fault_injection = args.fault_injection,
        time_scale = args.time_scale,
        "serving the order saga API on http://{addr}"
    );
    if args.viewer_executions > 0 {
        tracing::info!("executions: open http://{addr} in a browser");
    }
    saga_local::server::run(listener, app, async move {
        let signal = stop.await;
        tracing::info!(signal, "shutting down");
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// Reads `--mock-config`, which must be in the Step Functions Local format: the API selects Task states by test
/// case, and a mock file keyed by function has none.
fn read_mock_config(path: &Path) -> Result<MockConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    if !sfn_api::mock::local::is_mock_config(&value) {
        return Err(format!(
            "{}: --mock-config takes a Step Functions Local mock configuration (top-level \"StateMachines\" and \"MockedResponses\")",
            path.display()
        ));
    }
    MockConfig::from_json(&value).map_err(|e| format!("{}: {e}", path.display()))
}

/// Ctrl-C at a terminal, or SIGTERM from whatever supervises the process (systemd, a container runtime,
/// `kill`): either lets in-flight sagas answer before the server stops. The handlers are installed here, before
/// the server says it is listening, so that a signal sent as soon as it is up is not the default one that kills.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        })
    }
}
