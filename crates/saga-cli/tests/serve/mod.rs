//! `saga serve` as a child process, for the tests that stop it from outside (a signal, a kill).

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStderr, Command, Stdio};

pub(crate) struct Serving {
    pub child: Child,
    /// `127.0.0.1:PORT`, as the server logged it.
    pub addr: String,
    /// The rest of its log, from the line after the one that says where it listens.
    pub log: Lines<BufReader<ChildStderr>>,
}

/// Starts `saga serve --listen 127.0.0.1:0 ARGS…` and waits until it says where it listens.
pub(crate) fn serve(args: &[&str]) -> Serving {
    serve_with_env(args, &[])
}

/// [`serve`] with these environment variables set.
pub(crate) fn serve_with_env(args: &[&str], env: &[(&str, &str)]) -> Serving {
    let mut child = Command::new(env!("CARGO_BIN_EXE_saga"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("the saga binary runs");
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    let serving = log
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("serving the order saga API on http://"))
        .expect("the server says where it listens");
    let addr = serving
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("an address in the log line")
        .to_string();
    Serving { child, addr, log }
}
