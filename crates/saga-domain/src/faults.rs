//! Fault injection: the `X-Saga-Fault` header's plan, and the one place that acts it out around a step's write.
//!
//! The plan travels in the execution input and every task payload, so the same handlers rehearse the same
//! failures locally and on AWS (where the gateway only forwards the header when fault injection is enabled).

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use tokio::time::Instant;

use crate::StepError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    CreateOrder,
    ReserveStock,
    ConfirmOrder,
    /// The compensation of `ConfirmOrder`: stops a confirm from landing, or finds that it already did.
    FenceOrder,
    ReleaseStock,
    CancelOrder,
    /// The `sqs:sendMessage` task that queues a failed compensation for repair.
    EnqueueRepair,
}

impl Step {
    pub const ALL: [Step; 7] = [
        Step::CreateOrder,
        Step::ReserveStock,
        Step::ConfirmOrder,
        Step::FenceOrder,
        Step::ReleaseStock,
        Step::CancelOrder,
        Step::EnqueueRepair,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::CreateOrder => "create-order",
            Step::ReserveStock => "reserve-stock",
            Step::ConfirmOrder => "confirm-order",
            Step::FenceOrder => "fence-order",
            Step::ReleaseStock => "release-stock",
            Step::CancelOrder => "cancel-order",
            Step::EnqueueRepair => "enqueue-repair",
        }
    }

    /// The steps that are Lambda functions, in the workflow's order: every step but `EnqueueRepair`, an SQS
    /// task. This is the one list of the saga's task functions; local mode dispatches from it and fills the
    /// definition's `…FunctionArn` placeholders from it.
    pub const FUNCTIONS: [Step; 6] = [
        Step::CreateOrder,
        Step::ReserveStock,
        Step::ConfirmOrder,
        Step::FenceOrder,
        Step::ReleaseStock,
        Step::CancelOrder,
    ];

    /// The Lambda function's name (the last segment of its ARN), or `None` for a step that is not a function.
    pub fn function_name(self) -> Option<&'static str> {
        (self != Step::EnqueueRepair).then(|| self.as_str())
    }

    /// The function whose name this is, if any.
    pub fn from_function_name(name: &str) -> Option<Step> {
        Step::FUNCTIONS
            .into_iter()
            .find(|s| s.function_name() == Some(name))
    }

    /// The definition template's placeholder for this function's ARN, e.g. `CreateOrderFunctionArn`.
    pub fn arn_placeholder(self) -> Option<String> {
        let name = self.function_name()?;
        let mut placeholder = String::new();
        for word in name.split('-') {
            let mut chars = word.chars();
            placeholder.extend(chars.next().map(|c| c.to_ascii_uppercase()));
            placeholder.push_str(chars.as_str());
        }
        Some(placeholder + "FunctionArn")
    }

    /// Compensations run only after something failed; faults on them test the repair path.
    pub fn is_compensation(self) -> bool {
        matches!(
            self,
            Step::FenceOrder | Step::ReleaseStock | Step::CancelOrder
        )
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Step {
    type Err = FaultParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        one_of(&Step::ALL, Step::as_str, "step", s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultMode {
    /// A transient error on every attempt, before anything is written.
    Error,
    /// A transient error on the first attempt only.
    ErrorOnce,
    /// The step runs past its task's timeout on every attempt and writes nothing.
    Timeout,
    /// On every attempt the write commits, then the step fails: the ambiguous case.
    ErrorAfterCommit,
    /// The step times out and its write lands afterwards, as a Lambda that keeps running after Step Functions gave up.
    LateCommit,
    /// The execution is lost at this step: no Catch, no compensation (local mode only; the sweeper owns the rest).
    Abort,
}

impl FaultMode {
    pub const ALL: [FaultMode; 6] = [
        FaultMode::Error,
        FaultMode::ErrorOnce,
        FaultMode::Timeout,
        FaultMode::ErrorAfterCommit,
        FaultMode::LateCommit,
        FaultMode::Abort,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultMode::Error => "error",
            FaultMode::ErrorOnce => "error-once",
            FaultMode::Timeout => "timeout",
            FaultMode::ErrorAfterCommit => "error-after-commit",
            FaultMode::LateCommit => "late-commit",
            FaultMode::Abort => "abort",
        }
    }
}

impl fmt::Display for FaultMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FaultMode {
    type Err = FaultParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        one_of(&FaultMode::ALL, FaultMode::as_str, "fault mode", s)
    }
}

/// The member of `all` spelled `s`, or an error that lists every spelling.
fn one_of<T: Copy + fmt::Display>(
    all: &[T],
    name: fn(T) -> &'static str,
    what: &str,
    s: &str,
) -> Result<T, FaultParseError> {
    all.iter().copied().find(|t| name(*t) == s).ok_or_else(|| {
        FaultParseError(format!(
            "unknown {what} {s:?}; expected one of {}",
            names(all)
        ))
    })
}

fn names<T: fmt::Display>(all: &[T]) -> String {
    all.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid X-Saga-Fault header: {0}")]
pub struct FaultParseError(pub String);

/// `<step>=<mode>[,<step>=<mode>]`; a step may appear once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    faults: Vec<(Step, FaultMode)>,
}

impl FaultPlan {
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses the header; `None` or an empty string is no fault.
    pub fn parse(header: Option<&str>) -> Result<Self, FaultParseError> {
        let Some(header) = header.map(str::trim).filter(|h| !h.is_empty()) else {
            return Ok(Self::none());
        };
        if header.len() > 512 {
            return Err(FaultParseError("longer than 512 characters".into()));
        }
        let mut faults: Vec<(Step, FaultMode)> = Vec::new();
        for part in header.split(',') {
            let (step, mode) = part
                .trim()
                .split_once('=')
                .ok_or_else(|| FaultParseError(format!("{part:?} is not <step>=<mode>")))?;
            let step: Step = step.trim().parse()?;
            let mode: FaultMode = mode.trim().parse()?;
            if faults.iter().any(|(s, _)| *s == step) {
                return Err(FaultParseError(format!("step {step} appears twice")));
            }
            faults.push((step, mode));
        }
        Ok(Self { faults })
    }

    pub fn from_pairs(pairs: impl IntoIterator<Item = (Step, FaultMode)>) -> Self {
        Self {
            faults: pairs.into_iter().collect(),
        }
    }

    pub fn mode_for(&self, step: Step) -> Option<FaultMode> {
        self.faults
            .iter()
            .find(|(s, _)| *s == step)
            .map(|(_, m)| *m)
    }

    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }

    pub fn pairs(&self) -> &[(Step, FaultMode)] {
        &self.faults
    }

    /// The header form, which is also what the workflow carries in `$.faults`.
    pub fn to_header(&self) -> Option<String> {
        (!self.faults.is_empty()).then(|| {
            self.faults
                .iter()
                .map(|(s, m)| format!("{s}={m}"))
                .collect::<Vec<_>>()
                .join(",")
        })
    }
}

/// How long past its deadline a `timeout`/`late-commit` step keeps running: long enough that the caller has
/// certainly given up.
const OVERRUN: Duration = Duration::from_millis(250);
/// With no deadline known, how long a `timeout` step sleeps.
const NO_DEADLINE_SLEEP: Duration = Duration::from_secs(30);

/// Where a step runs: the moment its caller stops waiting for it.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepContext {
    pub deadline: Option<Instant>,
}

impl StepContext {
    /// From a Lambda invocation's deadline (epoch milliseconds, as the Runtime API gives it).
    pub fn from_epoch_deadline_ms(deadline_ms: u64) -> Self {
        let left = deadline_ms.saturating_sub(crate::now_ms().max(0) as u64);
        Self {
            deadline: Some(Instant::now() + Duration::from_millis(left)),
        }
    }

    async fn sleep_past_deadline(&self) {
        match self.deadline {
            Some(deadline) => tokio::time::sleep_until(deadline + OVERRUN).await,
            None => tokio::time::sleep(NO_DEADLINE_SLEEP).await,
        }
    }
}

/// Runs a step's `commit` under the plan's fault for `step`. `attempt` is `$$.State.RetryCount`.
///
/// `Abort` is acted out by the engine's resources, not here: a handler cannot make Step Functions lose an
/// execution, so to a handler it means "run normally".
pub async fn run_step<T, F, Fut>(
    step: Step,
    plan: &FaultPlan,
    attempt: u32,
    ctx: &StepContext,
    commit: F,
) -> Result<T, StepError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, StepError>>,
{
    let injected = |what: &str| {
        StepError::Transient(format!("injected fault: {step} {what} (attempt {attempt})"))
    };
    match plan.mode_for(step) {
        None | Some(FaultMode::Abort) => commit().await,
        Some(FaultMode::Error) => Err(injected("error")),
        Some(FaultMode::ErrorOnce) if attempt == 0 => Err(injected("error-once")),
        Some(FaultMode::ErrorOnce) => commit().await,
        Some(FaultMode::Timeout) => {
            ctx.sleep_past_deadline().await;
            Err(injected("timeout"))
        }
        Some(FaultMode::ErrorAfterCommit) => {
            commit().await?;
            Err(injected("error-after-commit"))
        }
        Some(FaultMode::LateCommit) => {
            ctx.sleep_past_deadline().await;
            commit().await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_but_the_queue_is_a_function() {
        assert_eq!(
            Step::ALL
                .into_iter()
                .filter(|s| s.function_name().is_some())
                .collect::<Vec<_>>(),
            Step::FUNCTIONS
        );
        assert_eq!(
            Step::from_function_name("fence-order"),
            Some(Step::FenceOrder)
        );
        assert_eq!(Step::from_function_name("enqueue-repair"), None);
        assert_eq!(
            Step::CreateOrder.arn_placeholder().as_deref(),
            Some("CreateOrderFunctionArn")
        );
        assert_eq!(Step::EnqueueRepair.arn_placeholder(), None);
    }

    #[test]
    fn parses_the_header() {
        let plan =
            FaultPlan::parse(Some("reserve-stock=error, cancel-order=error-after-commit")).unwrap();
        assert_eq!(plan.mode_for(Step::ReserveStock), Some(FaultMode::Error));
        assert_eq!(
            plan.mode_for(Step::CancelOrder),
            Some(FaultMode::ErrorAfterCommit)
        );
        assert_eq!(plan.mode_for(Step::CreateOrder), None);
        assert_eq!(
            plan.to_header().as_deref(),
            Some("reserve-stock=error,cancel-order=error-after-commit")
        );
        assert!(FaultPlan::parse(None).unwrap().is_empty());
        assert!(FaultPlan::parse(Some("  ")).unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_headers() {
        for bad in [
            "x",
            "nope=error",
            "create-order=explode",
            "create-order=error,create-order=timeout",
            "=",
            ",",
        ] {
            assert!(FaultPlan::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn error_after_commit_commits_then_fails() {
        let plan = FaultPlan::parse(Some("create-order=error-after-commit")).unwrap();
        let committed = std::sync::atomic::AtomicBool::new(false);
        let r = run_step(
            Step::CreateOrder,
            &plan,
            0,
            &StepContext::default(),
            || async {
                committed.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            },
        )
        .await;
        assert!(matches!(r, Err(StepError::Transient(_))));
        assert!(committed.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn error_once_fails_only_the_first_attempt() {
        let plan = FaultPlan::parse(Some("confirm-order=error-once")).unwrap();
        let ctx = StepContext::default();
        assert!(
            run_step(Step::ConfirmOrder, &plan, 0, &ctx, || async { Ok(1) })
                .await
                .is_err()
        );
        assert_eq!(
            run_step(Step::ConfirmOrder, &plan, 1, &ctx, || async { Ok(1) }).await,
            Ok(1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_overruns_the_deadline_without_committing() {
        let plan = FaultPlan::parse(Some("reserve-stock=timeout")).unwrap();
        let start = Instant::now();
        let ctx = StepContext {
            deadline: Some(start + Duration::from_secs(2)),
        };
        let r: Result<(), _> = run_step(Step::ReserveStock, &plan, 0, &ctx, || async {
            panic!("must not commit")
        })
        .await;
        assert!(r.is_err());
        assert!(Instant::now() >= start + Duration::from_secs(2));
    }
}
