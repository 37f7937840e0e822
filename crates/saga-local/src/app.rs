//! What a running local server holds: the loaded workflow, the stores, the repair queue and the settings.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use asl_engine::StateMachine;
use saga_domain::{Order, Step};
use saga_store::memory::MemoryStore;
use saga_store::{InventoryStore, OrderStore};

use crate::repair::{RepairQueue, RepairQueueError};

/// The saga definition, as shipped. Production renders the same file with Terraform's `templatefile`.
pub const WORKFLOW: &str = include_str!("../../../workflow.asl.json");
/// The request body schema, shared with API Gateway's request model.
pub const REQUEST_SCHEMA: &str = include_str!("../../../schemas/order-request.schema.json");

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
pub const STATE_MACHINE_NAME: &str = "order-saga";

#[derive(Debug, Clone)]
pub struct Config {
    /// Honour `X-Saga-Fault`. Off by default, as in production.
    pub fault_injection: bool,
    /// Multiplies every timeout, retry delay and Wait of the workflow (1.0 = AWS timings).
    pub time_scale: f64,
    /// Another definition than the shipped `workflow.asl.json` (its text, placeholders unfilled).
    pub definition: Option<String>,
    /// Where the store and the repair queue keep their journals; in memory when absent.
    pub data_dir: Option<PathBuf>,
    pub idempotency_ttl_s: i64,
    pub sweep_interval: Duration,
    /// How long an order may stay PENDING before the sweeper compensates it. Defaults to the workflow's
    /// maximum duration (scaled) plus a margin: by then no execution can still be working on it.
    pub sweep_after: Option<Duration>,
    /// First delay of the repair worker's exponential backoff.
    pub repair_backoff: Duration,
    /// Run the repair worker. Off leaves repairs queued (durably, with a data directory), as when the
    /// production worker is down.
    pub repair_worker: bool,
    /// How long a shutdown waits for requests in flight before it stops without them.
    pub shutdown_grace: Duration,
    /// A Step Functions Local mock configuration for the Step Functions API: an execution started on
    /// `<stateMachineArn>#<TestCase>` answers that test case's Task states from it.
    pub mock_config: Option<Arc<sfn_api::mock::MockConfig>>,
    /// How many recent executions the viewer keeps (`GET /`); 0 records none.
    pub viewer_executions: usize,
}

/// Longer than the shipped workflow's 28 s timeout, so that every saga in flight at a shutdown still answers; an
/// execution of another definition may run for up to five minutes, and a shutdown does not wait that long.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

impl Default for Config {
    fn default() -> Self {
        Self {
            fault_injection: false,
            time_scale: 1.0,
            definition: None,
            data_dir: None,
            idempotency_ttl_s: saga_steps::create_order::DEFAULT_IDEMPOTENCY_TTL_SECONDS,
            sweep_interval: Duration::from_secs(5),
            sweep_after: None,
            repair_backoff: Duration::from_millis(200),
            repair_worker: true,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            mock_config: None,
            viewer_executions: saga_viewer::DEFAULT_CAPACITY,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("the workflow definition is invalid:\n{0}")]
    Definition(#[from] asl_engine::DefinitionError),
    #[error("the workflow definition's placeholders: {0}")]
    Template(#[from] crate::template::TemplateError),
    #[error("the request schema is invalid: {0}")]
    Schema(String),
    #[error("time scale must be a positive number, got {0}")]
    TimeScale(f64),
    #[error(transparent)]
    RepairQueue(#[from] RepairQueueError),
    #[error(transparent)]
    Store(#[from] saga_store::memory::OpenError),
}

/// What the engine's resources reach: the handlers' dependencies.
pub struct Shared {
    pub orders: Arc<dyn OrderStore>,
    pub inventory: Arc<dyn InventoryStore>,
    pub create_order: saga_steps::create_order::Config,
    pub repair: Arc<RepairQueue>,
}

pub struct App {
    pub config: Config,
    pub machine: StateMachine,
    pub state_machine_arn: String,
    pub shared: Arc<Shared>,
    /// The same store as `shared`, kept typed because only the local store can list what it holds.
    store: Arc<MemoryStore>,
    pub schema: jsonschema::Validator,
    /// The recent executions, HTTP- and SDK-started, for the viewer.
    pub viewer: Arc<saga_viewer::Recorder>,
}

/// The values Terraform's `templatefile` fills in production; locally they name the in-process twins.
pub fn local_placeholders() -> Vec<(String, String)> {
    let functions = Step::FUNCTIONS.into_iter().filter_map(|step| {
        let placeholder = step.arn_placeholder()?;
        let name = step.function_name()?;
        Some((
            placeholder,
            format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"),
        ))
    });
    functions
        .chain([(
            "RepairQueueUrl".into(),
            format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/order-saga-repair"),
        )])
        .collect()
}

/// Fills `${Name}` placeholders as `templatefile` does, and refuses to leave any behind.
pub fn render_definition(template: &str, values: &[(String, String)]) -> Result<String, AppError> {
    let value_of = |name: &str| {
        values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    Ok(crate::template::fill(template, value_of)?)
}

impl App {
    pub fn new(config: Config) -> Result<Arc<App>, AppError> {
        if !(config.time_scale.is_finite() && config.time_scale > 0.0) {
            return Err(AppError::TimeScale(config.time_scale));
        }
        let template = config.definition.as_deref().unwrap_or(WORKFLOW);
        let machine =
            StateMachine::from_json(&render_definition(template, &local_placeholders())?)?;
        let schema_doc: serde_json::Value =
            serde_json::from_str(REQUEST_SCHEMA).map_err(|e| AppError::Schema(e.to_string()))?;
        let schema =
            jsonschema::draft4::new(&schema_doc).map_err(|e| AppError::Schema(e.to_string()))?;
        let store = Arc::new(match &config.data_dir {
            Some(dir) => MemoryStore::open(dir)?,
            None => MemoryStore::new(),
        });
        let repair = Arc::new(RepairQueue::open(
            config.data_dir.as_deref(),
            config.repair_backoff,
        )?);
        let shared = Arc::new(Shared {
            orders: store.clone(),
            inventory: store.clone(),
            create_order: saga_steps::create_order::Config {
                idempotency_ttl_s: config.idempotency_ttl_s,
            },
            repair,
        });
        let state_machine_arn =
            format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}");
        let viewer = Arc::new(saga_viewer::Recorder::new(config.viewer_executions));
        viewer.register_machine(
            STATE_MACHINE_NAME,
            &state_machine_arn,
            machine.clone(),
            config.time_scale,
        );
        Ok(Arc::new(App {
            state_machine_arn,
            viewer,
            config,
            machine,
            shared,
            store,
            schema,
        }))
    }

    /// Every order the local store holds, tombstones included. A deployed store cannot be listed
    /// like this; checks over the whole store (`saga chaos` in-process, the store-level tests) are
    /// what it is for, and everything else reads orders one by one through `shared`.
    pub fn all_orders(&self) -> Vec<Order> {
        self.store.all_orders()
    }

    /// When the sweeper may take over an order still PENDING.
    pub fn sweep_after(&self) -> Duration {
        self.config.sweep_after.unwrap_or_else(|| {
            let max = Duration::from_secs(self.machine.timeout_seconds().unwrap_or(300) + 5);
            max.mul_f64(self.config.time_scale)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_placeholder_of_the_shipped_workflow() {
        let rendered = render_definition(WORKFLOW, &local_placeholders()).unwrap();
        assert!(!rendered.contains("${"));
        assert!(rendered.contains("function:create-order"));
    }

    #[test]
    fn an_unknown_placeholder_is_an_error() {
        let e = render_definition(r#"{"a": "${Nope}"}"#, &local_placeholders()).unwrap_err();
        assert!(
            matches!(&e, AppError::Template(crate::template::TemplateError::Missing(m)) if m == &[(1, "Nope".to_string())]),
            "{e}"
        );
    }

    #[test]
    fn the_shipped_app_loads() {
        let app = App::new(Config::default()).unwrap();
        assert_eq!(app.machine.timeout_seconds(), Some(28));
    }
}
