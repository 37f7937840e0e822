//! Lambda entry point: wires the handler to the runtime and to DynamoDB. Everything else is in the library.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use saga_domain::faults::StepContext;
use saga_store_dynamodb::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let store = DynamoStore::from_env().await?;
    let config = create_order::Config {
        idempotency_ttl_s: std::env::var("IDEMPOTENCY_TTL_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(create_order::DEFAULT_IDEMPOTENCY_TTL_SECONDS),
    };
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<saga_domain::events::CreateOrderInput>| {
            let ctx = StepContext::from_epoch_deadline_ms(event.context.deadline);
            let store = &store;
            let config = &config;
            async move { create_order::handle(store, config, event.payload, &ctx).await }
        },
    ))
    .await
}
