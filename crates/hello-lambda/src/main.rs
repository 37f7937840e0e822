//! The smallest `lambda_runtime` function, built with the workspace's release profile: the baseline that
//! `saga bench` compares each saga Lambda's binary size and start-up time against.
//!
//! It does what the runtime's own hello example does (default tracing subscriber, one `service_fn`) and
//! nothing else, so whatever a saga function costs beyond it is that function's own start-up: its SDK
//! configuration, its store, its larger binary.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({"hello": "world"}))
    }))
    .await
}
