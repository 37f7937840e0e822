//! Serving the API: a library function over a listener the caller binds, so tests run the real server on
//! `127.0.0.1:0`, plus the background repair worker and sweeper that live as long as it does.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{App, AppError, Config};
use crate::gateway;
use crate::resources::ExecutionResources;
use saga_domain::FaultPlan;

/// Serves `app` on `listener` until `shutdown` resolves, running the repair worker and the sweeper beside it.
pub async fn run(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let worker = app.config.repair_worker.then(|| {
        tokio::spawn(app.shared.repair.clone().run_worker(
            app.shared.orders.clone(),
            app.shared.inventory.clone(),
            stopped(stop_rx.clone()),
        ))
    });
    let sweeper = tokio::spawn(crate::sweeper::run(
        app.shared.orders.clone(),
        app.shared.inventory.clone(),
        app.config.sweep_interval,
        app.sweep_after(),
        stopped(stop_rx.clone()),
    ));
    let api = step_functions_api(&app).await;
    let grace = app.config.shutdown_grace;
    let (signalled_tx, signalled_rx) = watch::channel(false);
    let viewer = app.viewer.clone();
    let serving = axum::serve(listener, gateway::router(app, sfn_api::router(api.clone())))
        .with_graceful_shutdown(async move {
            shutdown.await;
            // A browser's live stream never ends by itself, and a graceful shutdown waits for every connection.
            viewer.close_streams();
            let _ = signalled_tx.send(true);
        })
        .into_future();
    // A graceful shutdown waits for every request in flight, then for the executions StartExecution left running,
    // and an execution of a definition other than the saga's may run for up to five minutes: past the grace period
    // the server stops without them.
    let served = tokio::select! {
        served = async {
            let served = serving.await;
            api.background_finished().await;
            served
        } => served,
        () = async {
            stopped(signalled_rx).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(
                ?grace,
                "requests or background executions still in flight after the shutdown grace period; stopping without them"
            );
            Ok(())
        }
    };
    api.end_background().await;
    let _ = stop_tx.send(true);
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    let _ = sweeper.await;
    served
}

/// The Step Functions JSON API beside the HTTP API, with the order saga already created as an Express state
/// machine, so the AWS SDKs and CLI can call `StartSyncExecution` on it. Lambda tasks of any definition created
/// there reach the same in-process handlers, by function name, except in an execution of a test case of the mock
/// configuration (`<stateMachineArn>#<TestCase>`), whose mocked states answer from it.
async fn step_functions_api(app: &Arc<App>) -> Arc<sfn_api::SfnApi> {
    let shared = app.shared.clone();
    let factory: sfn_api::ResourcesFactory = Arc::new(move |_ctx: &sfn_api::ExecutionContext| {
        Arc::new(ExecutionResources {
            shared: shared.clone(),
            plan: FaultPlan::none(),
        }) as Arc<dyn asl_engine::Resources>
    });
    let mut api = sfn_api::SfnApi::new(
        sfn_api::SfnApiConfig {
            region: crate::app::REGION.into(),
            account_id: crate::app::ACCOUNT.into(),
            time_scale: app.config.time_scale,
            log_history: false,
        },
        factory,
    );
    if let Some(mocks) = &app.config.mock_config {
        api = api.with_mock_config(mocks.clone());
    }
    if app.viewer.is_recording() {
        api = api.with_observer(Arc::new(RecordInViewer(app.viewer.clone())));
    }
    let api = Arc::new(api);
    let created = api.create_express(
        crate::app::STATE_MACHINE_NAME,
        app.machine.clone(),
        &format!("arn:aws:iam::{}:role/order-saga", crate::app::ACCOUNT),
    );
    if let Err(e) = created {
        // The definition already loaded once, so this cannot fail; if it does, the HTTP API still works.
        tracing::warn!(error = %e, "could not register the order saga with the Step Functions API");
    }
    api
}

/// Hands what the Step Functions API ran to the viewer. The result is copied: the API still answers from it.
struct RecordInViewer(Arc<saga_viewer::Recorder>);

impl sfn_api::ExecutionObserver for RecordInViewer {
    fn wants_history(&self) -> bool {
        self.0.wants_history()
    }

    fn execution_finished(&self, execution: sfn_api::FinishedExecution<'_>) {
        self.0.record(saga_viewer::Recorded {
            state_machine_name: execution.state_machine_name.to_string(),
            machine: execution.machine.clone(),
            result: execution.result.clone(),
            origin: saga_viewer::Origin::StepFunctions {
                operation: execution.operation.to_string(),
            },
            http: None,
            faults: Vec::new(),
            time_scale: execution.time_scale,
        });
    }
}

/// A server running in the background of this process: what tests, the chaos run and benchmarks start.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, finishes in-flight requests, and stops the background tasks.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("cannot listen: {0}")]
    Bind(#[from] std::io::Error),
}

/// Starts a server on 127.0.0.1 with a free port.
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    start_on("127.0.0.1:0", config).await
}

pub async fn start_on(addr: &str, config: Config) -> Result<RunningServer, StartError> {
    let app = App::new(config)?;
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run(listener, app.clone(), async {
        let _ = rx.await;
    }));
    Ok(RunningServer {
        addr,
        app,
        stop: Some(tx),
        task: Some(task),
    })
}
