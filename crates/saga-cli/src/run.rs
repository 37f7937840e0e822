//! `saga run`: one execution of any definition, locally, answered as StartSyncExecution would.
//!
//! Task states call [`sfn_api::mock::MockResources`], filled from `--mock`, or the test case
//! `--test-case` picks from a Step Functions Local mock configuration given as `--mock`;
//! nothing real is invoked, so a definition can be tried before any function exists. Definitions written as
//! Terraform templates (`${Name}` placeholders, as `workflow.asl.json` is) are filled from
//! `--var` the way `templatefile` fills them, and a placeholder left unfilled is an error rather
//! than a function literally named `${...}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use asl_engine::{execute, ExecutionOptions, ExecutionStatus, Resources, StateMachine};
use saga_local::template::TemplateError;
use serde_json::Value;
use sfn_api::mock::{MockFile, MockResources};

use crate::CmdResult;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Exit status: 0 when the execution SUCCEEDED; 1 when it FAILED or TIMED_OUT, or could not start
(unreadable or invalid definition, input or mock file).

The result (StartSyncExecution's response body) goes to stdout; --history writes the events, one
Express CloudWatch Logs record per line, to stderr.

Mock file: a JSON object from function name or ARN to a Lambda Invoke result, or to a list of them
used one per call (the last repeats):
  {\"create-order\": {\"StatusCode\": 200, \"Payload\": \"{\\\"orderId\\\":\\\"o-1\\\"}\"},
   \"reserve-stock\": [{\"FunctionError\": \"Unhandled\", \"Payload\": {\"errorType\": \"Saga.Transient\"}},
                     {\"Payload\": {\"reserved\": true}}],
   \"confirm-order\": {\"sleep\": 30},
   \"cancel-order\": {\"ServiceError\": {\"Code\": \"TooManyRequestsException\", \"Message\": \"Rate exceeded\"}}}
\"Payload\" is the response body as a string, or any JSON value; \"sleep\" waits (scaled by
--time-scale) before answering, to reach a Task's TimeoutSeconds. A function with no entry fails
with Lambda.ResourceNotFoundException, as on AWS.

A Step Functions Local mock configuration (top-level \"StateMachines\" and \"MockedResponses\")
works unchanged: --test-case NAME picks a test case of the state machine named as the definition
file (workflow.asl.json -> workflow) or --state-machine-name. Its Task states answer by invocation
(\"0\", \"1-2\", retries counted), Return being the Task's result verbatim and Throw its Error and
Cause; states the test case does not name are not mocked. See docs/local-mode.md.

Examples:
  saga run hello.asl.json --input '{\"name\": \"Ada\"}'
  saga run flow.asl.json --input @input.json --mock mocks.json --history
  saga run flow.asl.json --mock MockConfigFile.json --test-case RetryPath --state-machine-name LambdaSQSIntegration
  saga run workflow.asl.json --var CreateOrderFunctionArn=create-order --var ReserveStockFunctionArn=reserve-stock \\
      --var ConfirmOrderFunctionArn=confirm-order --var FenceOrderFunctionArn=fence-order \\
      --var ReleaseStockFunctionArn=release-stock --var CancelOrderFunctionArn=cancel-order \\
      --var RepairQueueUrl=http://localhost/repair \\
      --mock mocks.json --input @order.json --name order-1 --time-scale 0.1")]
pub(crate) struct Args {
    /// The state machine definition (Amazon States Language, JSONPath), or - for stdin.
    pub definition: PathBuf,
    /// The execution input: JSON text, or @FILE to read it from a file.
    #[arg(long, default_value = "{}", value_name = "JSON|@FILE")]
    pub input: String,
    /// Canned results for Task states: per function name or ARN, or a Step Functions Local
    /// mock configuration (formats below).
    #[arg(long, value_name = "FILE")]
    pub mock: Option<PathBuf>,
    /// The test case of a Step Functions Local mock configuration (--mock) to run.
    #[arg(long, value_name = "NAME", requires = "mock")]
    pub test_case: Option<String>,
    /// The state machine's name (in its ARN, and where --test-case looks for the test case);
    /// by default the definition's file name up to its first dot.
    #[arg(long, value_name = "NAME")]
    pub state_machine_name: Option<String>,
    /// Fill a ${NAME} placeholder of the definition, as Terraform's templatefile does.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// The execution name ($$.Execution.Name); a fresh UUID by default.
    #[arg(long)]
    pub name: Option<String>,
    /// Print the execution's events (Express CloudWatch Logs records) to stderr.
    #[arg(long)]
    pub history: bool,
    /// Multiply every TimeoutSeconds, retry delay, Wait and mock sleep by this factor.
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    pub time_scale: f64,
}

pub(crate) async fn run(args: Args) -> CmdResult {
    if !(args.time_scale.is_finite() && args.time_scale >= 0.0) {
        return Err("--time-scale must be a non-negative number".into());
    }
    let text = read_definition(&args.definition, &args.vars)?;
    let machine = StateMachine::from_json(&text).map_err(|e| {
        let mut message = format!("{} is not a valid definition:", args.definition.display());
        for d in &e.diagnostics {
            message.push_str(&format!("\n  {}: {} ({})", d.location, d.message, d.code));
        }
        message
    })?;
    let input = read_input(&args.input)?;
    let name = match &args.state_machine_name {
        Some(name) => name.clone(),
        None => machine_name(&args.definition),
    };
    let resources = resources(&args, &name)?;

    let options = ExecutionOptions {
        state_machine_arn: format!("arn:aws:states:us-east-1:123456789012:stateMachine:{name}"),
        name: args.name.clone(),
        time_scale: args.time_scale,
        record_history: args.history,
    };
    let result = execute(&machine, input, options, resources).await;
    if args.history {
        for record in result.log_records() {
            eprintln!("{record}");
        }
    }
    let response = sfn_api::start_sync_execution_response(&result);
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(if result.status == ExecutionStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What the Task states call: the --mock file in either format, or nothing (every Lambda is
/// missing). A test case's unmocked states fall back to nothing too.
fn resources(args: &Args, machine: &str) -> Result<Arc<dyn Resources>, String> {
    let nothing = || Arc::new(MockResources::new().with_time_scale(args.time_scale));
    let Some(path) = &args.mock else {
        return Ok(nothing());
    };
    let file = MockFile::from_json(&read_json_file(path)?)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    match (file, &args.test_case) {
        (MockFile::Answers(mocks), None) => Ok(Arc::new(mocks.with_time_scale(args.time_scale))),
        (MockFile::Answers(_), Some(_)) => Err(format!(
            "--test-case needs a Step Functions Local mock configuration, and {} is a mock file keyed by function",
            path.display()
        )),
        (MockFile::Config(_), None) => Err(format!(
            "{} is a Step Functions Local mock configuration: choose one of its test cases with --test-case NAME",
            path.display()
        )),
        (MockFile::Config(config), Some(case)) => {
            let case = config
                .test_case(machine, case)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(Arc::new(case.resources(nothing())))
        }
    }
}

/// A state machine name from the file name: `workflow.asl.json` → `workflow`.
fn machine_name(path: &Path) -> String {
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('.').next())
        .filter(|n| !n.is_empty() && *n != "-")
        .unwrap_or("local");
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub(crate) fn read_text(path: &Path) -> Result<String, String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn read_json_file(path: &Path) -> Result<Value, String> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))
}

fn read_input(arg: &str) -> Result<Value, String> {
    match arg.strip_prefix('@') {
        Some(path) => read_json_file(Path::new(path)),
        None => serde_json::from_str(arg).map_err(|e| format!("--input is not JSON: {e}")),
    }
}

/// Reads a definition and fills its placeholders from `--var NAME=VALUE` arguments.
pub(crate) fn read_definition(path: &Path, vars: &[String]) -> Result<String, String> {
    let text = read_text(path)?;
    let mut values = BTreeMap::new();
    for var in vars {
        let (name, value) = var
            .split_once('=')
            .ok_or_else(|| format!("--var {var:?}: expected NAME=VALUE"))?;
        values.insert(name.to_string(), value.to_string());
    }
    saga_local::template::fill(&text, |name| values.get(name).map(String::as_str)).map_err(|e| {
        match e {
            TemplateError::Missing(_) => format!(
                "{}:{e} (pass --var NAME=VALUE for each placeholder)",
                path.display()
            ),
            TemplateError::Unterminated { .. } => format!("{}:{e}", path.display()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_names_come_from_the_file_name() {
        assert_eq!(machine_name(Path::new("/x/workflow.asl.json")), "workflow");
        assert_eq!(machine_name(Path::new("-")), "local");
        assert_eq!(machine_name(Path::new("my flow.json")), "my_flow");
    }
}
