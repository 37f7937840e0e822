//! `saga test-state`: the TestState API offline, with the options of
//! `aws stepfunctions test-state`, printing the response as the CLI does.
//!
//! The request is built from the options exactly as the CLI would send it and answered by the
//! same code as the served API's TestState, so what passes here passes against `saga serve`.
//! Task states that `--mock` does not mock call canned Lambda answers from `--function-mock`
//! (the `saga run --mock` format); without one, a function is missing, as an unknown function
//! is on AWS.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use asl_engine::{test_state, Resources, TestStateAccount, TestStateRequest};
use serde_json::{json, Map, Value};
use sfn_api::mock::{MockFile, MockResources};

use crate::CmdResult;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Each text option takes its value inline or, as the AWS CLI does, from a file with file://PATH.
--mock and --state-configuration take JSON (the AWS CLI's shorthand syntax is not read).

The response (TestState's body: status, output, error, cause, nextState, inspectionData) goes to
stdout as the AWS CLI prints it. Exit status: 0 when TestState answered, whatever the state's
status; 1 when it refused the request (the exception name and message go to stderr).

Examples:
  saga test-state --definition '{\"Type\": \"Pass\", \"Result\": {\"ok\": true}, \"End\": true}'
  saga test-state --definition file://workflow.json --state-name Check --input '{\"cost\": 12}' \\
      --inspection-level DEBUG
  saga test-state --definition file://task.json --inspection-level TRACE \\
      --mock '{\"errorOutput\": {\"error\": \"Boom\", \"cause\": \"bang\"}}' \\
      --state-configuration '{\"retrierRetryCount\": 1}'")]
pub(crate) struct Args {
    /// The state (or, with --state-name, the whole state machine) to test.
    #[arg(long, value_name = "JSON|file://PATH")]
    pub definition: String,
    /// The state to test in a state machine definition.
    #[arg(long, value_name = "NAME")]
    pub state_name: Option<String>,
    /// The state's input.
    #[arg(long, value_name = "JSON|file://PATH")]
    pub input: Option<String>,
    /// The variables the state sees, a JSON object.
    #[arg(long, value_name = "JSON|file://PATH")]
    pub variables: Option<String>,
    /// The whole context object ($$) the state sees.
    #[arg(long, value_name = "JSON|file://PATH")]
    pub context: Option<String>,
    /// INFO, DEBUG or TRACE.
    #[arg(long, value_name = "LEVEL")]
    pub inspection_level: Option<String>,
    /// The state's work answered in advance: {"result": "JSON text"} or
    /// {"errorOutput": {"error", "cause"}}, with an optional "fieldValidationMode".
    #[arg(long, value_name = "JSON|file://PATH")]
    pub mock: Option<String>,
    /// What happened before: retrierRetryCount, errorCausedByState, mapIterationFailureCount,
    /// mapItemReaderData.
    #[arg(long, value_name = "JSON|file://PATH")]
    pub state_configuration: Option<String>,
    /// The execution role; TestState needs one for a Task state that is not mocked.
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// Accepted as the AWS CLI accepts it; it concerns HTTP Task data, which local mode does not produce.
    #[arg(long, overrides_with = "no_reveal_secrets")]
    pub reveal_secrets: bool,
    #[arg(long, hide = true)]
    pub no_reveal_secrets: bool,
    /// Canned Lambda answers for Task states that --mock does not mock (the `saga run --mock`
    /// format).
    #[arg(long, value_name = "FILE")]
    pub function_mock: Option<PathBuf>,
}

/// An option's text: inline, or read from `file://PATH`.
fn text_of(value: &str, option: &str) -> Result<String, String> {
    match value.strip_prefix("file://") {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("{option}: cannot read {path}: {e}"))
        }
        None => Ok(value.to_string()),
    }
}

fn json_of(value: &str, option: &str) -> Result<Value, String> {
    serde_json::from_str(&text_of(value, option)?).map_err(|e| format!("{option} is not JSON: {e}"))
}

/// The TestState request body the AWS CLI would send for these options.
fn request_body(args: &Args) -> Result<Map<String, Value>, String> {
    let mut body = Map::new();
    body.insert(
        "definition".into(),
        json!(text_of(&args.definition, "--definition")?),
    );
    let texts = [
        ("stateName", args.state_name.clone()),
        ("roleArn", args.role_arn.clone()),
        ("inspectionLevel", args.inspection_level.clone()),
    ];
    for (member, value) in texts {
        if let Some(v) = value {
            body.insert(member.into(), json!(v));
        }
    }
    let files = [
        ("input", &args.input, "--input"),
        ("variables", &args.variables, "--variables"),
        ("context", &args.context, "--context"),
    ];
    for (member, value, option) in files {
        if let Some(v) = value {
            body.insert(member.into(), json!(text_of(v, option)?));
        }
    }
    if let Some(m) = &args.mock {
        body.insert("mock".into(), json_of(m, "--mock")?);
    }
    if let Some(c) = &args.state_configuration {
        body.insert(
            "stateConfiguration".into(),
            json_of(c, "--state-configuration")?,
        );
    }
    if args.reveal_secrets {
        body.insert("revealSecrets".into(), json!(true));
    }
    Ok(body)
}

fn resources(path: Option<&Path>) -> Result<Arc<dyn Resources>, String> {
    let Some(path) = path else {
        return Ok(Arc::new(MockResources::new()));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    match MockFile::from_json(&value).map_err(|e| format!("{}: {e}", path.display()))? {
        MockFile::Answers(mocks) => Ok(Arc::new(mocks)),
        MockFile::Config(_) => Err(format!(
            "{} is a Step Functions Local mock configuration; --function-mock takes answers keyed by function",
            path.display()
        )),
    }
}

pub(crate) async fn run(args: Args) -> CmdResult {
    let body = request_body(&args)?;
    let resources = resources(args.function_mock.as_deref())?;
    let answer = match TestStateRequest::from_json(&body) {
        Ok(request) => test_state(&request, &TestStateAccount::default(), resources).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(response) => {
            println!("{}", serde_json::to_string_pretty(&response.to_json())?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!(
                "An error occurred ({}) when calling the TestState operation: {e}",
                e.code()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
