//! `hello-lambda` plus the one thing every saga function does before its first event: open the DynamoDB store
//! (`DynamoStore::from_env`, which builds the SDK client). `saga bench` times its start-up against
//! `hello-lambda`'s, which shows how much of a saga function's start-up is the SDK client alone: a floor that no
//! function opening the store can go below.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use saga_store_dynamodb::DynamoStore;
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let store = DynamoStore::from_env().await?;
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| {
        let _store = &store;
        async { Ok::<_, Error>(json!({"hello": "world"})) }
    }))
    .await
}
