//! The engine's view of the outside world in local mode: Lambda Invoke calls land on the `saga-steps`
//! handlers in-process (the functions are `saga_domain::Step::FUNCTIONS`), `sqs:sendMessage` lands on the embedded repair queue.
//!
//! One `ExecutionResources` serves one execution, so it knows that execution's fault plan: faults that the
//! handlers cannot act out themselves (a lost execution, a failing queue) are acted out here.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use asl_engine::{InvokeRequest, InvokeResponse, ResourceKind, Resources};
use async_trait::async_trait;
use saga_domain::events::{
    CancelOrderInput, CreateOrderInput, OrderStepInput, RepairRequest, ReserveStockInput,
};
use saga_domain::faults::StepContext;
use saga_domain::{FaultMode, FaultPlan, Step, StepError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::app::Shared;

pub struct ExecutionResources {
    pub shared: Arc<Shared>,
    pub plan: FaultPlan,
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`, or a bare name → NAME.
fn function_name(arn_or_name: &str) -> &str {
    // Every Lambda call passes through here, and a byte scan for the last colons is cheaper than a
    // `rsplit(':')` iterator.
    let bytes = arn_or_name.as_bytes();
    let colon_before = |end: usize| bytes[..end].iter().rposition(|&b| b == b':');
    let Some(c1) = colon_before(bytes.len()) else {
        return arn_or_name;
    };
    let c2 = colon_before(c1);
    let segment = |from: Option<usize>, to: usize| &arn_or_name[from.map_or(0, |c| c + 1)..to];
    if segment(c2, c1) == "function" {
        return &arn_or_name[c1 + 1..];
    }
    match c2 {
        Some(c2) if segment(colon_before(c2), c2) == "function" => segment(Some(c2), c1),
        _ => arn_or_name,
    }
}

/// The handler's output goes over as a value: it is what the engine would parse back from the text.
fn lambda_ok(value: impl Serialize) -> InvokeResponse {
    InvokeResponse::LambdaValue {
        status_code: 200,
        executed_version: "$LATEST".into(),
        payload: serde_json::to_value(&value).expect("handler outputs serialise"),
    }
}

fn lambda_error(payload: String) -> InvokeResponse {
    InvokeResponse::Lambda {
        status_code: 200,
        function_error: Some("Unhandled".into()),
        executed_version: "$LATEST".into(),
        payload,
    }
}

fn decode<T: DeserializeOwned>(payload: Value) -> Result<T, InvokeResponse> {
    serde_json::from_value(payload).map_err(|e| {
        // What lambda_runtime answers when the event does not deserialise into the handler's type.
        lambda_error(
            json!({"errorType": "Runtime.UnmarshalError", "errorMessage": e.to_string()})
                .to_string(),
        )
    })
}

fn respond<T: Serialize>(r: Result<T, StepError>) -> InvokeResponse {
    match r {
        Ok(v) => lambda_ok(v),
        Err(e) => lambda_error(e.payload()),
    }
}

impl ExecutionResources {
    async fn call_function(&self, step: Step, payload: Value, ctx: StepContext) -> InvokeResponse {
        let s = &self.shared;
        match step {
            Step::CreateOrder => match decode::<CreateOrderInput>(payload) {
                Ok(i) => respond(
                    saga_steps::create_order::handle(&*s.orders, &s.create_order, i, &ctx).await,
                ),
                Err(r) => r,
            },
            Step::ReserveStock => match decode::<ReserveStockInput>(payload) {
                Ok(i) => respond(saga_steps::reserve_stock::handle(&*s.inventory, i, &ctx).await),
                Err(r) => r,
            },
            Step::ConfirmOrder => match decode::<OrderStepInput>(payload) {
                Ok(i) => respond(saga_steps::confirm_order::handle(&*s.orders, i, &ctx).await),
                Err(r) => r,
            },
            Step::FenceOrder => match decode::<OrderStepInput>(payload) {
                Ok(i) => respond(saga_steps::fence_order::handle(&*s.orders, i, &ctx).await),
                Err(r) => r,
            },
            Step::ReleaseStock => match decode::<OrderStepInput>(payload) {
                Ok(i) => respond(saga_steps::release_stock::handle(&*s.inventory, i, &ctx).await),
                Err(r) => r,
            },
            Step::CancelOrder => match decode::<CancelOrderInput>(payload) {
                Ok(i) => respond(saga_steps::cancel_order::handle(&*s.orders, i, &ctx).await),
                Err(r) => r,
            },
            Step::EnqueueRepair => unreachable!("{step} is not a function"),
        }
    }

    async fn invoke_lambda(
        &self,
        function: &str,
        payload: Value,
        timeout: Option<std::time::Duration>,
    ) -> InvokeResponse {
        let name = function_name(function);
        let Some(step) = Step::from_function_name(name) else {
            return InvokeResponse::LambdaServiceError {
                error: "ResourceNotFoundException".into(),
                message: format!("Function not found: {function}"),
            };
        };
        if self.plan.mode_for(step) == Some(FaultMode::Abort) {
            return InvokeResponse::Abort;
        }
        let ctx = StepContext {
            deadline: timeout.map(|t| Instant::now() + t),
        };
        let this = ExecutionResources {
            shared: self.shared.clone(),
            plan: self.plan.clone(),
        };
        Detachable(Some(Box::pin(async move {
            this.call_function(step, payload, ctx).await
        })))
        .await
    }

    async fn send_repair(&self, request: InvokeRequest) -> InvokeResponse {
        let injected = |what: &str| InvokeResponse::ServiceError {
            error: "SQS.SdkClientException".into(),
            cause: format!("injected fault: enqueue-repair {what}"),
        };
        let mode = self.plan.mode_for(Step::EnqueueRepair);
        match mode {
            None => {}
            Some(FaultMode::Abort) => return InvokeResponse::Abort,
            Some(FaultMode::Error) => return injected("error"),
            Some(FaultMode::ErrorOnce) if request.retry_count == 0 => {
                return injected("error-once")
            }
            Some(FaultMode::ErrorOnce | FaultMode::ErrorAfterCommit) => {}
            Some(FaultMode::Timeout | FaultMode::LateCommit) => {
                let overrun =
                    request.timeout.unwrap_or_default() + std::time::Duration::from_millis(250);
                tokio::time::sleep(overrun).await;
                if mode == Some(FaultMode::Timeout) {
                    return injected("timeout");
                }
            }
        }
        let body = request
            .payload
            .get("MessageBody")
            .cloned()
            .unwrap_or(Value::Null);
        // Step Functions serialises an object MessageBody to a string; the queue carries that string.
        let text = match &body {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let message: RepairRequest = match serde_json::from_str(&text) {
            Ok(m) => m,
            Err(e) => {
                return InvokeResponse::ServiceError {
                    error: "SQS.InvalidMessageContents".into(),
                    cause: format!("the repair message is not a repair request: {e}"),
                }
            }
        };
        match self.shared.repair.send(message).await {
            Ok(_) if mode == Some(FaultMode::ErrorAfterCommit) => injected("error-after-commit"),
            Ok(id) => InvokeResponse::Service(json!({
                "MessageId": id,
                "MD5OfMessageBody": format!("{:032x}", digest(&text)),
            })),
            Err(e) => InvokeResponse::ServiceError {
                error: "SQS.SdkClientException".into(),
                cause: e.to_string(),
            },
        }
    }
}

/// A handler call, run in place. A Lambda keeps running after Step Functions stops waiting for it: if the
/// engine's timeout drops this future before the handler is done, the rest of the handler becomes a task
/// of its own, so a late write still lands. (Spawning every call up front did the same at the price of a
/// task, a wake-up and a re-poll of the whole execution per call.) A panicking handler answers as a
/// crashed Lambda runtime does.
struct Detachable<F: Future<Output = InvokeResponse> + Send + 'static>(Option<Pin<Box<F>>>);

impl<F: Future<Output = InvokeResponse> + Send + 'static> Future for Detachable<F> {
    type Output = InvokeResponse;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<InvokeResponse> {
        let Some(handler) = self.0.as_mut() else {
            return Poll::Pending;
        };
        let answer = match std::panic::catch_unwind(AssertUnwindSafe(|| handler.as_mut().poll(cx)))
        {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(r)) => r,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                lambda_error(
                    json!({"errorType": "Runtime.ExitError", "errorMessage": format!("Lambda panicked: {message}")})
                        .to_string(),
                )
            }
        };
        self.0 = None;
        Poll::Ready(answer)
    }
}

impl<F: Future<Output = InvokeResponse> + Send + 'static> Drop for Detachable<F> {
    fn drop(&mut self) {
        if let (Some(handler), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(handler);
        }
    }
}

/// Not MD5: local mode only needs a stable digest-shaped value in the SQS result.
fn digest(text: &str) -> u128 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    u128::from(h.finish())
}

#[async_trait]
impl Resources for ExecutionResources {
    async fn invoke(&self, request: InvokeRequest) -> InvokeResponse {
        match &request.kind {
            ResourceKind::LambdaInvoke {
                function_name: function,
            }
            | ResourceKind::LambdaArn {
                function_arn: function,
            } => {
                self.invoke_lambda(function, request.payload, request.timeout)
                    .await
            }
            ResourceKind::Service { service, action }
                if service == "sqs" && action == "sendMessage" =>
            {
                self.send_repair(request).await
            }
            ResourceKind::Service { service, action } => InvokeResponse::ServiceError {
                error: "States.Runtime".into(),
                cause: format!("local mode has no {service}:{action} integration"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::function_name;

    #[test]
    fn function_names_from_arns() {
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:1:function:create-order"),
            "create-order"
        );
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:1:function:create-order:$LATEST"),
            "create-order"
        );
        assert_eq!(function_name("create-order"), "create-order");
    }

    #[test]
    fn the_byte_scan_agrees_with_splitting_on_colons() {
        fn by_split(arn_or_name: &str) -> &str {
            let mut from_end = arn_or_name.rsplit(':');
            match (from_end.next(), from_end.next(), from_end.next()) {
                (Some(name), Some("function"), _) | (Some(_), Some(name), Some("function")) => name,
                _ => arn_or_name,
            }
        }
        for case in [
            "",
            ":",
            "::",
            "a:b",
            "function:",
            ":function:",
            "function:x",
            "function:x:y",
            "function:x:y:z",
            "arn:aws:lambda:eu-west-1:1:function:f",
            "arn:aws:lambda:eu-west-1:1:function:f:live",
            "arn:aws:lambda:eu-west-1:1:function:f:live:extra",
            "arn:aws:lambda:eu-west-1:1:layer:f",
            "arn:aws:states:::lambda:invoke",
        ] {
            assert_eq!(function_name(case), by_split(case), "{case:?}");
        }
    }
}
