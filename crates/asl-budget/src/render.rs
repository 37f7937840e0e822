//! The human-readable report: the worst path state by state, then the three comparisons.

use std::fmt::Write;

use crate::{Path, Report};

/// `5 s`, `4.5 s`, `unbounded`.
pub fn format_seconds(s: f64) -> String {
    if !s.is_finite() {
        return "unbounded".to_string();
    }
    let rounded = (s * 1000.0).round() / 1000.0;
    let text = format!("{rounded:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} s")
}

fn path_table(out: &mut String, path: &Path, indent: usize) {
    let pad = " ".repeat(indent);
    let width = path
        .steps
        .iter()
        .map(|s| s.state.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let _ = writeln!(
        out,
        "{pad}{:<width$}  {:<8}  {:<7}  {:>9}  {:>10}  how",
        "state", "type", "via", "seconds", "cumulative"
    );
    for step in &path.steps {
        let line = format!(
            "{pad}{:<width$}  {:<8}  {:<7}  {:>9}  {:>10}  {}",
            step.state,
            step.state_type,
            step.via.as_str(),
            format_seconds(step.seconds),
            format_seconds(step.cumulative_seconds),
            step.detail
        );
        let _ = writeln!(out, "{}", line.trim_end());
        if let Some(inner) = &step.inner {
            path_table(out, inner, indent + 4);
        }
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "OVER"
    }
}

/// Renders `report` for a terminal; `source` names the definition.
pub fn render_text(report: &Report, source: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Time budget of {source} (limit {})",
        format_seconds(report.limit_seconds)
    );
    let _ = writeln!(out);
    match &report.worst_path {
        Some(path) => {
            let _ = writeln!(
                out,
                "Worst path: {} in {} states",
                format_seconds(path.total_seconds),
                path.steps.len()
            );
            path_table(&mut out, path, 2);
        }
        None => {
            let _ = writeln!(out, "Worst path: none could be computed (see errors)");
        }
    }
    let _ = writeln!(out);
    match (&report.worst_compensation_path, &report.worst_path) {
        (None, _) => {
            let _ = writeln!(out, "Compensation: no path takes a Catch");
        }
        (Some(c), Some(w)) if c == w => {
            let _ = writeln!(
                out,
                "Worst path through a Catch (compensation): the worst path above, {}",
                format_seconds(c.total_seconds)
            );
        }
        (Some(c), _) => {
            let _ = writeln!(
                out,
                "Worst path through a Catch (compensation): {}",
                format_seconds(c.total_seconds)
            );
            path_table(&mut out, c, 2);
        }
    }
    let _ = writeln!(out);

    let worst = report.worst_path.as_ref().map(|p| p.total_seconds);
    let timeout = report.timeout_seconds;
    let show = |v: Option<f64>| v.map_or("?".to_string(), format_seconds);
    let _ = writeln!(out, "Top-level TimeoutSeconds: {}", show(timeout));
    let _ = writeln!(
        out,
        "  worst path {} <= TimeoutSeconds {}: {} (slack {})",
        show(worst),
        show(timeout),
        verdict(report.verdict.worst_within_timeout),
        // An unbounded path leaves no slack at all, not "unbounded" slack.
        show(report.slack_seconds().filter(|s| s.is_finite()))
    );
    let _ = writeln!(
        out,
        "  TimeoutSeconds {} < limit {}: {} (margin {})",
        show(timeout),
        format_seconds(report.limit_seconds),
        verdict(report.verdict.timeout_below_limit),
        show(report.margin_seconds())
    );
    match report.verdict.compensation_fits {
        Some(fits) => {
            let _ = writeln!(
                out,
                "  every compensation path ({} at worst) finishes before TimeoutSeconds: {}",
                show(
                    report
                        .worst_compensation_path
                        .as_ref()
                        .map(|p| p.total_seconds)
                ),
                verdict(fits)
            );
        }
        None => {
            let _ = writeln!(out, "  no compensation path to check");
        }
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Errors:");
        for e in &report.errors {
            let _ = writeln!(out, "  - {e}");
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}",
        if report.ok() {
            "PASS: every path ends before the top-level timeout, which ends before the limit."
        } else {
            "FAIL: the budget is not proved."
        }
    );
    out
}
