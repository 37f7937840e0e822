//! The longest-path computation over one scope (the top level, a Parallel branch or a Map
//! iteration), with each state weighted by its own worst case.
//!
//! A scope's transitions form a directed graph. Once it is known to be acyclic, the slowest path
//! from `StartAt` is a memoised longest-path search; a second quantity per state, the slowest
//! path from it that takes at least one Catch, answers the compensation question without
//! enumerating paths (a Choice-heavy definition has exponentially many).

use std::collections::{BTreeSet, HashMap};

use asl_engine::model::{Kind, Quantity, Scope, State, Wait};
use asl_engine::StateMachine;

use crate::{render::format_seconds, BudgetError, Options, Path, Report, Step, Verdict, Via};

pub(crate) fn failed(options: &Options, errors: Vec<BudgetError>) -> Report {
    Report {
        limit_seconds: options.limit_seconds,
        timeout_seconds: None,
        worst_path: None,
        worst_compensation_path: None,
        errors,
        verdict: Verdict {
            worst_within_timeout: false,
            timeout_below_limit: false,
            compensation_fits: None,
            ok: false,
        },
    }
}

pub(crate) fn run(machine: &StateMachine, options: &Options) -> Report {
    let mut analyser = Analyser {
        options,
        errors: Vec::new(),
    };
    let timeout_seconds = machine.timeout_seconds().map(|t| t as f64);
    if timeout_seconds.is_none() {
        analyser.errors.push(BudgetError::MissingTopLevelTimeout);
    }
    let scope = analyser.scope(machine.model(), "");
    let (worst_path, worst_compensation_path) = match scope {
        Some(s) => (Some(s.worst), s.worst_catch),
        None => (None, None),
    };

    let worst = worst_path.as_ref().map(|p| p.total_seconds);
    let worst_within_timeout = matches!((worst, timeout_seconds), (Some(w), Some(t)) if w <= t);
    let timeout_below_limit = timeout_seconds.is_some_and(|t| t < options.limit_seconds);
    let compensation_fits = worst_compensation_path
        .as_ref()
        .map(|p| timeout_seconds.is_some_and(|t| p.total_seconds <= t));
    let ok = analyser.errors.is_empty()
        && worst_within_timeout
        && timeout_below_limit
        && compensation_fits != Some(false);
    Report {
        limit_seconds: options.limit_seconds,
        timeout_seconds,
        worst_path,
        worst_compensation_path,
        errors: analyser.errors,
        verdict: Verdict {
            worst_within_timeout,
            timeout_below_limit,
            compensation_fits,
            ok,
        },
    }
}

struct Analyser<'o> {
    options: &'o Options,
    errors: Vec<BudgetError>,
}

/// The two slowest paths of a scope.
struct ScopeResult {
    worst: Path,
    worst_catch: Option<Path>,
}

/// A state's own worst case.
struct Cost {
    seconds: f64,
    detail: String,
    inner: Option<Path>,
}

struct Edge<'a> {
    via: Via,
    target: &'a str,
}

/// Memo entry: the slowest continuation from a state, and the slowest one that takes a Catch.
#[derive(Clone, Copy)]
struct Best {
    total: f64,
    next: Option<usize>,
    catch_total: Option<f64>,
    /// Which edge the catch-taking continuation follows, and whether it continues with the
    /// target's plain best (the edge itself is the Catch) or with the target's catch best.
    catch_next: Option<(usize, bool)>,
}

impl<'o> Analyser<'o> {
    /// Analyses one scope; `None` when it has no longest path.
    fn scope<'a>(&mut self, scope: Scope<'a>, prefix: &str) -> Option<ScopeResult> {
        let start = scope.start_at();

        // Costs first (this also analyses nested scopes), in definition order so that errors
        // come out in a stable order.
        let mut costs: HashMap<&str, Cost> = HashMap::new();
        let mut edges: HashMap<&str, Vec<Edge<'_>>> = HashMap::new();
        for state in scope.states() {
            let qualified = qualify(prefix, state.name());
            costs.insert(state.name(), self.cost(&qualified, state));
            edges.insert(state.name(), edges_of(state));
        }

        if self.report_cycles(start, &edges, prefix) {
            return None;
        }

        let mut memo: HashMap<&str, Best> = HashMap::new();
        best(start, &costs, &edges, &mut memo);
        let solved = Solved {
            prefix,
            scope,
            costs: &costs,
            edges: &edges,
            memo: &memo,
        };
        let worst = build_path(&solved, start, Via::Start, false);
        let worst_catch = memo[start]
            .catch_total
            .map(|_| build_path(&solved, start, Via::Start, true));
        Some(ScopeResult { worst, worst_catch })
    }

    /// Depth-first search from `start`; every back edge closes a loop. Returns whether any loop
    /// was found.
    fn report_cycles(
        &mut self,
        start: &str,
        edges: &HashMap<&str, Vec<Edge<'_>>>,
        prefix: &str,
    ) -> bool {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            OnStack,
            Done,
        }
        let mut marks: HashMap<&str, Mark> = HashMap::new();
        let mut seen: BTreeSet<Vec<String>> = BTreeSet::new();
        let mut found = Vec::new();
        // An explicit stack (state, next edge index) keeps deep definitions off the call stack.
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        marks.insert(start, Mark::OnStack);
        while let Some(&mut (state, ref mut i)) = stack.last_mut() {
            let out = &edges[state];
            if *i == out.len() {
                marks.insert(state, Mark::Done);
                stack.pop();
                continue;
            }
            let target = out[*i].target;
            *i += 1;
            match marks.get(target) {
                None => {
                    marks.insert(target, Mark::OnStack);
                    stack.push((target, 0));
                }
                Some(Mark::OnStack) => {
                    let from = stack.iter().position(|(s, _)| *s == target).unwrap_or(0);
                    let mut cycle: Vec<String> = stack[from..]
                        .iter()
                        .map(|(s, _)| qualify(prefix, s))
                        .collect();
                    let mut key = cycle.clone();
                    key.sort();
                    if seen.insert(key) {
                        cycle.push(qualify(prefix, target));
                        found.push(cycle);
                    }
                }
                Some(Mark::Done) => {}
            }
        }
        let any = !found.is_empty();
        self.errors.extend(
            found
                .into_iter()
                .map(|states| BudgetError::Cycle { states }),
        );
        any
    }

    fn cost(&mut self, qualified: &str, state: State<'_>) -> Cost {
        let name = state.name();
        let (attempt, detail, inner) = match state.kind() {
            Kind::Pass | Kind::Choice(_) | Kind::Succeed | Kind::Fail => {
                return Cost {
                    seconds: 0.0,
                    detail: String::new(),
                    inner: None,
                }
            }
            Kind::Wait(wait) => {
                let (seconds, detail) = self.wait(name, qualified, wait);
                return Cost {
                    seconds,
                    detail,
                    inner: None,
                };
            }
            Kind::Task(task) => {
                let t = self.task_timeout(qualified, task.timeout());
                (t, format!("timeout {}", format_seconds(t)), None)
            }
            Kind::Parallel(parallel) => self.parallel(qualified, parallel.branches()),
            Kind::Map(map) => self.map(name, qualified, map),
        };
        let retry = retry_budget(state);
        let seconds = retry.attempts as f64 * attempt + retry.backoff_seconds;
        let detail = if retry.attempts == 1 {
            format!("1 attempt, {detail}")
        } else {
            format!(
                "{} attempts x {} + backoff {}{}",
                retry.attempts,
                format_seconds(attempt),
                format_seconds(retry.backoff_seconds),
                retry.note
            )
        };
        Cost {
            seconds,
            detail,
            inner,
        }
    }

    fn task_timeout(&mut self, qualified: &str, timeout: Quantity) -> f64 {
        match timeout {
            Quantity::Fixed(t) => t as f64,
            Quantity::Absent => {
                self.errors.push(BudgetError::MissingTaskTimeout {
                    state: qualified.to_string(),
                });
                f64::INFINITY
            }
            Quantity::FromInput { field } => {
                self.errors.push(BudgetError::DynamicTaskTimeout {
                    state: qualified.to_string(),
                    field: field.to_string(),
                });
                f64::INFINITY
            }
        }
    }

    fn wait(&mut self, name: &str, qualified: &str, wait: Wait) -> (f64, String) {
        let field = match wait {
            Wait::Seconds(s) => {
                let s = s as f64;
                return (s, format!("Seconds {}", format_seconds(s)));
            }
            Wait::Timestamp => "Timestamp",
            Wait::FromInput { field } => field,
        };
        match self.options.wait_max_seconds.get(name, qualified) {
            Some(max) => (
                max,
                format!("{field}, assumed at most {}", format_seconds(max)),
            ),
            None => {
                self.errors.push(BudgetError::UnboundedWait {
                    state: qualified.to_string(),
                    field: field.to_string(),
                });
                (f64::INFINITY, format!("{field}, unbounded"))
            }
        }
    }

    fn parallel<'a>(
        &mut self,
        qualified: &str,
        branches: impl ExactSizeIterator<Item = Scope<'a>>,
    ) -> (f64, String, Option<Path>) {
        let count = branches.len();
        let mut slowest: Option<Path> = None;
        let mut bounded = true;
        for (i, branch) in branches.enumerate() {
            match self.scope(branch, &format!("{qualified}[{i}]")) {
                Some(r) => {
                    if slowest
                        .as_ref()
                        .is_none_or(|s| r.worst.total_seconds > s.total_seconds)
                    {
                        slowest = Some(r.worst);
                    }
                }
                None => bounded = false,
            }
        }
        let body = match (&slowest, bounded) {
            (Some(p), true) => p.total_seconds,
            (None, true) => 0.0,
            _ => f64::INFINITY,
        };
        let detail = format!("slowest of {count} branches {}", format_seconds(body));
        (body, detail, slowest)
    }

    fn map(
        &mut self,
        name: &str,
        qualified: &str,
        map: asl_engine::model::Map<'_>,
    ) -> (f64, String, Option<Path>) {
        let iteration = self.scope(map.processor(), qualified);
        let body = iteration
            .as_ref()
            .map_or(f64::INFINITY, |r| r.worst.total_seconds);
        let inner = iteration.map(|r| r.worst);

        // MaxConcurrency 0 (or a MaxConcurrencyPath) promises no parallelism at all, so the
        // iterations are budgeted one after another: slower than AWS will be, never faster.
        let concurrency = match map.max_concurrency() {
            Quantity::Fixed(c) if c > 0 => Some(c),
            _ => None,
        };
        let Some(items) = self.options.map_max_items.get(name, qualified) else {
            self.errors.push(BudgetError::UnboundedMap {
                state: qualified.to_string(),
            });
            return (f64::INFINITY, "items unbounded".to_string(), inner);
        };
        let items = items.max(0.0).ceil();
        let rounds = match concurrency {
            Some(c) => (items / c as f64).ceil(),
            None => items,
        };
        let seconds = if rounds == 0.0 { 0.0 } else { rounds * body };
        let detail = format!(
            "{} items, {} -> {} rounds x {}",
            items,
            concurrency.map_or("no MaxConcurrency".to_string(), |c| format!(
                "MaxConcurrency {c}"
            )),
            rounds,
            format_seconds(body)
        );
        (seconds, detail, inner)
    }
}

/// A state's transitions, in the order the definition lists them: a Choice's rules and then
/// its Default; any other state's Next and then its catchers.
fn edges_of(state: State<'_>) -> Vec<Edge<'_>> {
    let mut out = Vec::new();
    if let Kind::Choice(choice) = state.kind() {
        out.extend(choice.rule_targets().map(|target| Edge {
            via: Via::Choice,
            target,
        }));
        out.extend(choice.default().map(|target| Edge {
            via: Via::Default,
            target,
        }));
    } else {
        out.extend(state.next().map(|target| Edge {
            via: Via::Next,
            target,
        }));
        out.extend(state.catchers().map(|c| Edge {
            via: Via::Catch,
            target: c.next(),
        }));
    }
    out
}

/// Everything a state's Retry field can add.
struct RetryBudget {
    attempts: u64,
    backoff_seconds: f64,
    note: String,
}

fn retry_budget(state: State<'_>) -> RetryBudget {
    let mut attempts: u64 = 1;
    let mut backoff = 0.0;
    let mut jitter = false;
    for retrier in state.retriers() {
        let max = retrier.max_attempts();
        jitter |= max > 0 && retrier.jitter_full();
        attempts = attempts.saturating_add(max);
        backoff += retrier_delays(
            retrier.interval_seconds(),
            retrier.backoff_rate(),
            retrier.max_delay_seconds(),
            max,
        );
    }
    RetryBudget {
        attempts,
        backoff_seconds: backoff,
        note: if jitter {
            " (FULL jitter counted at its cap)".to_string()
        } else {
            String::new()
        },
    }
}

/// Sum of `min(interval * rate^(n-1), cap)` for n = 1..=retries. FULL jitter draws each delay
/// from `[0, that]`, so the same sum bounds it.
pub(crate) fn retrier_delays(interval: f64, rate: f64, cap: Option<f64>, retries: u64) -> f64 {
    let cap = cap.unwrap_or(f64::INFINITY);
    let mut total = 0.0;
    let mut delay = interval;
    for n in 0..retries {
        if delay >= cap || rate <= 1.0 {
            // Every remaining delay is the same; adding them one by one could take 10^8 steps.
            return total + (retries - n) as f64 * delay.min(cap);
        }
        total += delay;
        delay *= rate;
    }
    total
}

fn qualify(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

fn best<'a>(
    state: &'a str,
    costs: &HashMap<&str, Cost>,
    edges: &HashMap<&'a str, Vec<Edge<'a>>>,
    memo: &mut HashMap<&'a str, Best>,
) -> Best {
    if let Some(b) = memo.get(state) {
        return *b;
    }
    let own = costs[state].seconds;
    let mut result = Best {
        total: own,
        next: None,
        catch_total: None,
        catch_next: None,
    };
    let mut best_rest: Option<f64> = None;
    let mut best_catch_rest: Option<f64> = None;
    for (i, edge) in edges[state].iter().enumerate() {
        let b = best(edge.target, costs, edges, memo);
        // Strict comparisons keep the first of equal paths, so output is stable.
        if best_rest.is_none_or(|r| b.total > r) {
            best_rest = Some(b.total);
            result.next = Some(i);
        }
        let mut consider = |rest: f64, via_plain: bool| {
            if best_catch_rest.is_none_or(|r| rest > r) {
                best_catch_rest = Some(rest);
                result.catch_next = Some((i, via_plain));
            }
        };
        if edge.via == Via::Catch {
            consider(b.total, true);
        }
        if let Some(c) = b.catch_total {
            consider(c, false);
        }
    }
    if let Some(r) = best_rest {
        result.total = own + r;
    }
    result.catch_total = best_catch_rest.map(|r| own + r);
    memo.insert(state, result);
    result
}

/// A scope once its costs, edges and longest-path memo are known: what a path is read from.
struct Solved<'s, 'a> {
    prefix: &'s str,
    scope: Scope<'a>,
    costs: &'s HashMap<&'a str, Cost>,
    edges: &'s HashMap<&'a str, Vec<Edge<'a>>>,
    memo: &'s HashMap<&'a str, Best>,
}

fn build_path(scope: &Solved<'_, '_>, start: &str, via: Via, want_catch: bool) -> Path {
    let Solved {
        prefix,
        scope,
        costs,
        edges,
        memo,
    } = scope;
    let mut steps = Vec::new();
    let mut cumulative = 0.0;
    let mut state = start;
    let mut via = via;
    let mut want_catch = want_catch;
    loop {
        let cost = &costs[state];
        cumulative += cost.seconds;
        steps.push(Step {
            state: qualify(prefix, state),
            state_type: scope.state(state).map_or("", |s| s.type_name()).to_string(),
            via,
            seconds: cost.seconds,
            cumulative_seconds: cumulative,
            detail: cost.detail.clone(),
            inner: cost.inner.clone().map(Box::new),
        });
        let b = memo[state];
        let next = if want_catch {
            b.catch_next.map(|(i, plain)| {
                if plain {
                    want_catch = false;
                }
                i
            })
        } else {
            b.next
        };
        let Some(i) = next else { break };
        let edge = &edges[state][i];
        via = edge.via;
        state = edge.target;
    }
    Path {
        total_seconds: cumulative,
        steps,
    }
}
