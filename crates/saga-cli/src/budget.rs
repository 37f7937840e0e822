//! `saga budget`: proves from the definition alone that every path of the workflow ends before
//! its top-level timeout, and that timeout before the API Gateway integration gives up.
//!
//! The analysis lives in `asl-budget`; this module finds the definition, turns the command-line
//! bounds into [`asl_budget::Options`] and chooses the output format. The exit status is the
//! verdict, so CI can run `saga budget` as a check.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use asl_budget::{Bound, Options};

const DEFAULT_DEFINITION: &str = "workflow.asl.json";

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The ASL definition [default: workflow.asl.json in the current directory or the nearest
    /// parent that has one].
    pub definition: Option<PathBuf>,
    /// The caller's deadline in seconds: the top-level TimeoutSeconds must be strictly below it.
    #[arg(long, value_name = "SECONDS", default_value_t = asl_budget::DEFAULT_LIMIT_SECONDS)]
    pub limit: f64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Upper bound for Waits the definition cannot bound (SecondsPath, Timestamp, TimestampPath):
    /// `SECONDS` for every such Wait, or `STATE=SECONDS` for one. Repeatable.
    #[arg(long, value_name = "[STATE=]SECONDS", value_parser = parse_bound)]
    pub assume_wait_max: Vec<(Option<String>, f64)>,
    /// Upper bound on the number of items a Map iterates over: `N` for every Map, or
    /// `STATE=N` for one. Repeatable.
    #[arg(long, value_name = "[STATE=]N", value_parser = parse_bound)]
    pub assume_map_items: Vec<(Option<String>, f64)>,
}

fn parse_bound(s: &str) -> Result<(Option<String>, f64), String> {
    let (state, value) = match s.rsplit_once('=') {
        Some((state, value)) if !state.is_empty() => (Some(state.to_string()), value),
        _ => (None, s),
    };
    let value: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not a number of seconds or items"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("{value} must be a finite number >= 0"));
    }
    Ok((state, value))
}

fn to_bound(values: &[(Option<String>, f64)]) -> Bound {
    let mut bound = Bound::default();
    for (state, value) in values {
        match state {
            Some(s) => {
                bound.per_state.insert(s.clone(), *value);
            }
            None => bound.default = Some(*value),
        }
    }
    bound
}

/// The nearest `workflow.asl.json` at or above `dir`.
fn find_definition(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join(DEFAULT_DEFINITION))
        .find(|p| p.is_file())
}

pub(crate) fn run(args: Args) -> crate::CmdResult {
    let path = match args.definition {
        Some(p) => p,
        None => {
            let cwd = std::env::current_dir()?;
            find_definition(&cwd).ok_or_else(|| {
                format!(
                    "no {DEFAULT_DEFINITION} in {} or any parent; pass the definition's path",
                    cwd.display()
                )
            })?
        }
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let options = Options {
        limit_seconds: args.limit,
        wait_max_seconds: to_bound(&args.assume_wait_max),
        map_max_items: to_bound(&args.assume_map_items),
    };
    let report = asl_budget::analyse_definition(&text, &options);
    let out = if args.json {
        serde_json::to_string_pretty(&report.to_json())? + "\n"
    } else {
        // A definition found by searching upwards is named relative to where the command ran.
        let shown = std::env::current_dir()
            .ok()
            .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
            .unwrap_or_else(|| path.clone());
        asl_budget::render_text(&report, &shown.display().to_string())
    };
    let code = if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    // `saga budget | head` closes the pipe early; the verdict still stands, so that is not an error.
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_parse_with_and_without_a_state() {
        assert_eq!(parse_bound("5"), Ok((None, 5.0)));
        assert_eq!(parse_bound("Pause=2.5"), Ok((Some("Pause".into()), 2.5)));
        assert_eq!(
            parse_bound("Fan[0]/Pause=1"),
            Ok((Some("Fan[0]/Pause".into()), 1.0))
        );
        assert!(parse_bound("x").is_err());
        assert!(parse_bound("S=-1").is_err());
        let b = to_bound(&[(None, 3.0), (Some("A".into()), 1.0)]);
        assert_eq!(b.default, Some(3.0));
        assert_eq!(b.per_state["A"], 1.0);
    }

    #[test]
    fn the_default_definition_is_found_from_a_subdirectory() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let found = find_definition(here).expect("the workspace's workflow.asl.json");
        assert_eq!(
            found,
            here.join("../..")
                .join(DEFAULT_DEFINITION)
                .canonicalize()
                .unwrap()
        );
    }

    fn args(definition: PathBuf) -> Args {
        Args {
            definition: Some(definition),
            limit: asl_budget::DEFAULT_LIMIT_SECONDS,
            json: true,
            assume_wait_max: Vec::new(),
            assume_map_items: Vec::new(),
        }
    }

    #[test]
    fn the_exit_status_is_the_verdict() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../workflow.asl.json");
        assert_eq!(run(args(shipped.clone())).unwrap(), ExitCode::SUCCESS);

        // The same workflow against a limit its 27 s timeout does not beat.
        let mut tight = args(shipped);
        tight.limit = 27.0;
        assert_eq!(run(tight).unwrap(), ExitCode::FAILURE);

        let dir = std::env::temp_dir().join(format!("saga-budget-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let untimed = dir.join("untimed.asl.json");
        std::fs::write(
            &untimed,
            r#"{"StartAt": "T", "TimeoutSeconds": 10, "States": {"T": {"Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "f"},
                "End": true}}}"#,
        )
        .unwrap();
        assert_eq!(run(args(untimed)).unwrap(), ExitCode::FAILURE);
        assert!(run(args(dir.join("missing.json"))).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
