//! The order saga's business logic, one module per step, free of any AWS SDK: the six task handlers the
//! workflow invokes, the compensation chain the repair worker runs, and the sweep the order sweeper runs.
//!
//! Every caller shares this code: the Lambda binaries under `functions/*` (which add the runtime and DynamoDB),
//! local mode (`saga-local`, which calls the handlers in-process on its memory store) and the benchmarks. Each
//! handler takes its store as a `saga_store` trait object, so nothing here knows which store it runs on.

pub mod cancel_order;
pub mod compensation;
pub mod confirm_order;
pub mod create_order;
pub mod fence_order;
pub mod release_stock;
pub mod repair_batch;
pub mod reserve_stock;
pub mod sweep;

use std::future::Future;

use saga_domain::events::Rehearsal;
use saga_domain::faults::{run_step, StepContext};
use saga_domain::{FaultPlan, Step, StepError};

/// Runs a step's `commit` under the fault plan and attempt its payload carries. A plan that does not parse is the
/// caller's mistake, so it is a validation failure, which the workflow does not retry.
async fn rehearse<T, F, Fut>(
    step: Step,
    rehearsal: &Rehearsal,
    ctx: &StepContext,
    commit: F,
) -> Result<T, StepError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, StepError>>,
{
    let plan = FaultPlan::parse(rehearsal.faults.as_deref())
        .map_err(|e| StepError::ValidationFailed(e.to_string()))?;
    run_step(step, &plan, rehearsal.attempt, ctx, commit).await
}
