//! Lambda entry point: wires the handler to the runtime and to DynamoDB. Everything else is in the library.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use saga_domain::faults::StepContext;
use saga_store_dynamodb::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let store = DynamoStore::from_env().await?;

    lambda_runtime::run(service_fn(
        |event: LambdaEvent<saga_domain::events::OrderStepInput>| {
            let ctx = StepContext::from_epoch_deadline_ms(event.context.deadline);
            let store = &store;

            async move { fence_order::handle(store, event.payload, &ctx).await }
        },
    ))
    .await
}
