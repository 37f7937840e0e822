//! A seeded chaos run in the test suite: every fault mode on every step, replays and key reuses, heavy
//! contention; no violation of any invariant is allowed.

use saga_chaos::{Options, Report};

async fn chaos(seed: u64) -> Report {
    saga_chaos::run(Options {
        requests: 500,
        concurrency: 32,
        seed,
        progress: None,
        ..Options::default()
    })
    .await
    .expect("the run takes place")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_chaos_run_leaves_no_violation() {
    let report = chaos(42).await;
    let shown = report
        .violations
        .iter()
        .take(5)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        report.violations.is_empty(),
        "{}\n{shown}",
        report.summary()
    );
    // The run must have exercised what it claims to check.
    assert_eq!(report.answers.values().sum::<usize>(), 500);
    assert!(
        report.fault_free > 0 && report.faults.len() == 6,
        "{}",
        report.summary()
    );
    assert!(report.orders.confirmed > 0, "{}", report.summary());
    assert!(
        report.pending_answers > 0 && report.swept > 0 && report.replays > 0,
        "{}",
        report.summary()
    );
}
