//! The `order-sweeper` Lambda, run on a schedule: [`saga_steps::sweep`] settles orders left PENDING once they
//! are older than `SWEEP_AFTER_SECONDS` (default 120), up to `BATCH` per run; the next run takes the rest.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use saga_steps::sweep::{created_before, sweep};
use saga_store_dynamodb::DynamoStore;

const BATCH: usize = 200;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let store = DynamoStore::from_env().await?;
    let sweep_after_ms = std::env::var("SWEEP_AFTER_SECONDS")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(120)
        * 1000;
    lambda_runtime::run(service_fn(|_event: LambdaEvent<serde_json::Value>| {
        let store = &store;
        async move {
            let before = created_before(saga_domain::now_ms(), sweep_after_ms);
            let report = sweep(store, store, before, BATCH).await?;
            Ok::<_, Error>(serde_json::json!({
                "compensated": report.compensated,
                "confirmed": report.confirmed,
            }))
        }
    }))
    .await
}
