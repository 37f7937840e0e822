//! `saga` run to its end as a child process, in `tests/fixtures/`, for the tests that read what it printed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `saga ARGS…` with its log off, so that stderr holds only what the command itself says.
pub(crate) fn saga(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_saga"))
        .args(args)
        .current_dir(fixtures())
        .env("RUST_LOG", "off")
        .output()
        .expect("the saga binary runs")
}
