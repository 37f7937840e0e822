//! Lambda entry point, run on a schedule: compensates orders abandoned halfway once they are older than
//! `SWEEP_AFTER_SECONDS`, looking back `SWEEP_LOOKBACK_SECONDS` (default 900) for half-compensated confirmed ones.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use saga_store_dynamodb::DynamoStore;

/// Orders per invocation; the next scheduled run takes the rest.
const BATCH: usize = 200;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let store = DynamoStore::from_env().await?;
    let seconds = |name: &str, default: i64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(default)
            * 1000
    };
    let sweep_after_ms = seconds("SWEEP_AFTER_SECONDS", 120);
    let lookback_ms = seconds("SWEEP_LOOKBACK_SECONDS", 900);
    lambda_runtime::run(service_fn(|_event: LambdaEvent<serde_json::Value>| {
        let store = &store;
        async move {
            let window =
                order_sweeper::Window::ending(saga_domain::now_ms(), sweep_after_ms, lookback_ms);
            let report = order_sweeper::sweep(store, store, window, BATCH).await?;
            Ok::<_, Error>(serde_json::json!({ "compensated": report.compensated }))
        }
    }))
    .await
}
