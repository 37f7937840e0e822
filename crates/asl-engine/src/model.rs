//! A read-only view of a loaded definition's typed state graph, for tools that reason about a
//! definition without running it (a worst-case time budget, say).
//!
//! The view is what the interpreter runs, after validation: defaults are filled in (a retrier
//! without `MaxAttempts` reads 3 here), every transition names a state that exists, and only
//! definitions the engine accepts have one. So a tool walking it cannot accept a definition the
//! engine rejects, nor disagree with the engine about what a field left out means.
//!
//! The graph's own types stay private so that the interpreter can change them freely; this
//! module exposes only what a reader of the definition needs, behind accessors. Its enums are
//! exhaustive on purpose: a new kind of state or duration should fail to compile in every tool
//! that matches on them, so that each decides what it means rather than falling through.

use crate::definition as def;
use std::sync::Arc;

/// One scope of states: the top level, a Parallel branch or a Map's item processor.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    graph: &'a def::Graph,
}

impl<'a> Scope<'a> {
    pub(crate) fn new(graph: &'a def::Graph) -> Self {
        Scope { graph }
    }

    pub fn start_at(&self) -> &'a str {
        &self.graph.start_at
    }

    /// The scope's states, in the order the definition lists them.
    pub fn states(&self) -> impl ExactSizeIterator<Item = State<'a>> + 'a {
        self.graph.listed.iter().map(|s| State { state: s })
    }

    pub fn state(&self, name: &str) -> Option<State<'a>> {
        self.graph.states.get(name).map(|s| State { state: s })
    }
}

impl std::fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("start_at", &self.start_at())
            .field("states", &self.graph.states.len())
            .finish()
    }
}

/// One state of a scope.
#[derive(Clone, Copy)]
pub struct State<'a> {
    state: &'a def::State,
}

impl<'a> State<'a> {
    pub fn name(&self) -> &'a str {
        &self.state.name
    }

    /// The state's `Type`, as the definition spells it (`Task`, `Choice`, ...).
    pub fn type_name(&self) -> &'static str {
        self.state.kind.event_prefix()
    }

    pub fn kind(&self) -> Kind<'a> {
        // A JSONata state keeps its expression-valued fields and its Choice rules beside the
        // JSONPath-shaped model (whose Wait then holds a placeholder 0 s): they are read here, so
        // that a reader never takes an expression for a literal or misses a rule's transition.
        let js = self.state.jsonata.as_deref();
        let expression = |field: &str| js.is_some_and(|js| js.dynamic(field).is_some());
        match &self.state.kind {
            def::Kind::Pass { .. } => Kind::Pass,
            def::Kind::Task(task) => Kind::Task(Task {
                task,
                timeout_expression: expression("TimeoutSeconds"),
            }),
            def::Kind::Choice { rules, default } => Kind::Choice(Choice {
                rules,
                jsonata_rules: js.map_or(&[], |js| js.rules.as_slice()),
                default,
            }),
            def::Kind::Wait(_) if expression("Seconds") => {
                Kind::Wait(Wait::FromInput { field: "Seconds" })
            }
            def::Kind::Wait(_) if expression("Timestamp") => {
                Kind::Wait(Wait::FromInput { field: "Timestamp" })
            }
            def::Kind::Wait(spec) => Kind::Wait(match spec {
                def::WaitSpec::Seconds(n) => Wait::Seconds(*n),
                def::WaitSpec::Timestamp(_) => Wait::Timestamp,
                def::WaitSpec::SecondsPath(_) => Wait::FromInput {
                    field: "SecondsPath",
                },
                def::WaitSpec::TimestampPath(_) => Wait::FromInput {
                    field: "TimestampPath",
                },
            }),
            def::Kind::Succeed => Kind::Succeed,
            def::Kind::Fail { .. } => Kind::Fail,
            def::Kind::Parallel { branches } => Kind::Parallel(Parallel { branches }),
            def::Kind::Map(map) => Kind::Map(Map {
                map,
                concurrency_expression: expression("MaxConcurrency"),
            }),
        }
    }

    /// `Next`; `None` for a terminal state and for a Choice, whose transitions are its rules.
    pub fn next(&self) -> Option<&'a str> {
        self.state.next.as_deref()
    }

    /// The `Retry` array, in order; empty for states that cannot retry.
    pub fn retriers(&self) -> impl ExactSizeIterator<Item = Retrier<'a>> + 'a {
        self.state.retry.iter().map(|r| Retrier { retrier: r })
    }

    /// The `Catch` array, in order; empty for states that cannot catch.
    pub fn catchers(&self) -> impl ExactSizeIterator<Item = Catcher<'a>> + 'a {
        self.state.catch.iter().map(|c| Catcher { catcher: c })
    }
}

impl std::fmt::Debug for State<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("name", &self.name())
            .field("type", &self.type_name())
            .finish()
    }
}

/// What a state does, with the parts of it a reader of the definition can ask about.
#[derive(Debug, Clone, Copy)]
pub enum Kind<'a> {
    Pass,
    Task(Task<'a>),
    Choice(Choice<'a>),
    Wait(Wait),
    Succeed,
    Fail,
    Parallel(Parallel<'a>),
    Map(Map<'a>),
}

/// A number a state may take from the definition, from its input, or leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    Absent,
    Fixed(u64),
    /// Known only once the input is: `field` names where the definition says to look (a
    /// `...Path` field, or in JSONata mode the field holding an expression).
    FromInput {
        field: &'static str,
    },
}

fn quantity(seconds: &def::Seconds, path_field: &'static str) -> Quantity {
    match seconds {
        def::Seconds::None => Quantity::Absent,
        def::Seconds::Fixed(n) => Quantity::Fixed(*n),
        def::Seconds::Path(_) => Quantity::FromInput { field: path_field },
    }
}

#[derive(Clone, Copy)]
pub struct Task<'a> {
    task: &'a def::TaskDef,
    timeout_expression: bool,
}

impl<'a> Task<'a> {
    pub fn resource(&self) -> &'a str {
        &self.task.resource
    }

    /// `TimeoutSeconds`, or `TimeoutSecondsPath` or a JSONata expression as [`Quantity::FromInput`].
    pub fn timeout(&self) -> Quantity {
        if self.timeout_expression {
            return Quantity::FromInput {
                field: "TimeoutSeconds",
            };
        }
        quantity(&self.task.timeout, "TimeoutSecondsPath")
    }
}

impl std::fmt::Debug for Task<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("resource", &self.resource())
            .field("timeout", &self.timeout())
            .finish()
    }
}

#[derive(Clone, Copy)]
pub struct Choice<'a> {
    rules: &'a [def::ChoiceRule],
    jsonata_rules: &'a [def::JsonataRule],
    default: &'a Option<String>,
}

impl<'a> Choice<'a> {
    /// Each rule's `Next`, in rule order.
    pub fn rule_targets(&self) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        // A state has rules of one query language only, so one of the two lists is empty.
        let jsonpath = self.rules.iter().map(|r| r.next.as_str());
        let jsonata = self.jsonata_rules.iter().map(|r| r.next.as_str());
        Targets(jsonpath.len() + jsonata.len(), jsonpath.chain(jsonata))
    }

    pub fn default(&self) -> Option<&'a str> {
        self.default.as_deref()
    }
}

impl std::fmt::Debug for Choice<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Choice")
            .field("rule_targets", &self.rule_targets().collect::<Vec<_>>())
            .field("default", &self.default())
            .finish()
    }
}

/// How long a Wait state waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    Seconds(u64),
    /// A literal `Timestamp`: how long that is depends on when the state is entered.
    Timestamp,
    /// `SecondsPath` or `TimestampPath`, named by `field`.
    FromInput {
        field: &'static str,
    },
}

#[derive(Clone, Copy)]
pub struct Parallel<'a> {
    branches: &'a [Arc<def::Graph>],
}

impl<'a> Parallel<'a> {
    pub fn branches(&self) -> impl ExactSizeIterator<Item = Scope<'a>> + 'a {
        self.branches.iter().map(|g| Scope::new(g))
    }
}

impl std::fmt::Debug for Parallel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.branches()).finish()
    }
}

#[derive(Clone, Copy)]
pub struct Map<'a> {
    map: &'a def::MapDef,
    concurrency_expression: bool,
}

impl<'a> Map<'a> {
    /// `ItemProcessor` (or the older `Iterator`).
    pub fn processor(&self) -> Scope<'a> {
        Scope::new(&self.map.processor)
    }

    /// `MaxConcurrency` (0 means no limit), or `MaxConcurrencyPath` or a JSONata expression as
    /// [`Quantity::FromInput`].
    pub fn max_concurrency(&self) -> Quantity {
        if self.concurrency_expression {
            return Quantity::FromInput {
                field: "MaxConcurrency",
            };
        }
        quantity(&self.map.max_concurrency, "MaxConcurrencyPath")
    }
}

impl std::fmt::Debug for Map<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Map")
            .field("processor", &self.processor())
            .field("max_concurrency", &self.max_concurrency())
            .finish()
    }
}

/// One entry of a `Retry` array, with the specification's defaults filled in.
#[derive(Clone, Copy)]
pub struct Retrier<'a> {
    retrier: &'a def::Retrier,
}

impl<'a> Retrier<'a> {
    pub fn error_equals(&self) -> &'a [String] {
        &self.retrier.error_equals
    }

    pub fn interval_seconds(&self) -> f64 {
        self.retrier.interval_seconds
    }

    pub fn max_attempts(&self) -> u64 {
        self.retrier.max_attempts
    }

    pub fn backoff_rate(&self) -> f64 {
        self.retrier.backoff_rate
    }

    pub fn max_delay_seconds(&self) -> Option<f64> {
        self.retrier.max_delay_seconds
    }

    /// `JitterStrategy: FULL`: each delay is drawn from `[0, delay]`.
    pub fn jitter_full(&self) -> bool {
        self.retrier.jitter_full
    }
}

impl std::fmt::Debug for Retrier<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.retrier.fmt(f)
    }
}

/// One entry of a `Catch` array.
#[derive(Clone, Copy)]
pub struct Catcher<'a> {
    catcher: &'a def::Catcher,
}

impl<'a> Catcher<'a> {
    pub fn error_equals(&self) -> &'a [String] {
        &self.catcher.error_equals
    }

    pub fn next(&self) -> &'a str {
        &self.catcher.next
    }
}

impl std::fmt::Debug for Catcher<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catcher")
            .field("error_equals", &self.error_equals())
            .field("next", &self.next())
            .finish()
    }
}

/// A chain of iterators whose length is known, so that it can be an [`ExactSizeIterator`].
struct Targets<I>(usize, I);

impl<I: Iterator> Iterator for Targets<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        let item = self.1.next();
        self.0 = self.0.saturating_sub(usize::from(item.is_some()));
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.0, Some(self.0))
    }
}

impl<I: Iterator> ExactSizeIterator for Targets<I> {}
