//! Seeded chaos runs in the test suite: every fault mode on every step, replays and key reuses, heavy contention.
//!
//! The strict run (no violation of any kind) is ignored until compensation respects a confirmed order: chaos finds
//! sagas that compensate an order after it was CONFIRMED (docs/reliability.md, "Open findings"). The run that is
//! not ignored holds every invariant outside that family to zero, so conservation, sweeping, the problem format
//! and the key rules cannot regress meanwhile.

use saga_chaos::{Options, Report};

/// Rules broken only by the open finding: a confirmed order that a compensation, repair or replay then undoes.
const OPEN_FINDING: [&str; 6] = [
    "untruthful-success",
    "untruthful-failure",
    "pending-not-repaired",
    "replay-differs",
    "order-stock-mismatch",
    "reserved-not-confirmed",
];

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

fn shown(report: &Report, filter: impl Fn(&str) -> bool) -> String {
    report
        .violations
        .iter()
        .filter(|v| filter(v.rule))
        .take(5)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_chaos_run_keeps_stock_conserved_and_nothing_pending() {
    let report = chaos(42).await;
    let outside = |rule: &str| !OPEN_FINDING.contains(&rule);
    assert!(
        !report.violations.iter().any(|v| outside(v.rule)),
        "{}\n{}",
        report.summary(),
        shown(&report, outside)
    );
    assert_eq!(report.answers.values().sum::<usize>(), 500);
    assert!(
        report.fault_free > 0 && report.faults.len() == 6,
        "{}",
        report.summary()
    );
    assert!(report.orders.confirmed > 0, "{}", report.summary());
    assert!(
        report.pending_answers > 0 && report.swept > 0,
        "{}",
        report.summary()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "open finding: a replay can answer 201 between a committed-then-failed confirm and its compensation (docs/reliability.md)"]
async fn a_seeded_chaos_run_leaves_no_violation() {
    let report = chaos(42).await;
    assert!(
        report.violations.is_empty(),
        "{}\n{}",
        report.summary(),
        shown(&report, |_| true)
    );
}
