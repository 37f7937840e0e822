//! `saga validate`: the checks of ValidateStateMachineDefinition (and of CreateStateMachine,
//! which refuses what they find), offline.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::run::{read_definition, read_text};
use crate::CmdResult;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Each problem is printed with its JSON location (a JSON pointer into the definition) and AWS's
diagnostic code. Exit status: 0 when the definition is valid, 1 when it is not or cannot be read.

Placeholders such as ${CreateOrderFunctionArn} inside strings are valid JSON, so a Terraform
template validates as it is; pass --var to check it filled.

Examples:
  saga validate workflow.asl.json
  saga validate workflow.asl.json --json
  saga validate flow.asl.json --var QueueUrl=https://sqs.us-east-1.amazonaws.com/123456789012/q")]
pub(crate) struct Args {
    /// The state machine definition (Amazon States Language, JSONPath), or - for stdin.
    pub definition: PathBuf,
    /// Print AWS's ValidateStateMachineDefinition response body instead of text.
    #[arg(long)]
    pub json: bool,
    /// Fill a ${NAME} placeholder first, as Terraform's templatefile does.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

pub(crate) fn run(args: Args) -> CmdResult {
    let text = if args.vars.is_empty() {
        read_text(&args.definition)?
    } else {
        read_definition(&args.definition, &args.vars)?
    };
    let response = asl_engine::validate_state_machine_definition(&text);
    let ok = response["result"] == "OK";
    if args.json {
        println!("{}", serde_json::to_string_pretty(&response)?);
    } else {
        let name = args.definition.display();
        let diagnostics = response["diagnostics"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for d in &diagnostics {
            println!(
                "{name}: {} {} at {}: {}",
                d["severity"].as_str().unwrap_or("ERROR"),
                d["code"].as_str().unwrap_or_default(),
                d["location"].as_str().unwrap_or("/"),
                d["message"].as_str().unwrap_or_default(),
            );
        }
        if ok {
            println!("{name}: valid");
        } else {
            println!(
                "{name}: invalid ({} problem{})",
                diagnostics.len(),
                if diagnostics.len() == 1 { "" } else { "s" }
            );
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
