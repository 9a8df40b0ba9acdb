//! The alert state machine: given which rules have an open alert and what each rule measured
//! now, the events that move the state — `AlertRaised` when a rule starts firing,
//! `AlertResolved` when it stops. Never raised twice in a row: a firing rule with an open alert
//! changes nothing. A rule without enough samples in its window decides nothing (its alert, if
//! any, stays as it is); an open alert whose rule was removed from the config is resolved.
//!
//! `commands::monitor::check` calls [`decide`] inside the log's write transaction with the
//! open alerts read in that same transaction, so two processes checking at once cannot both
//! raise (or resolve) the same alert.

use std::collections::BTreeSet;

use serde::Serialize;

use super::rules::Condition;
use crate::event::Event;

/// What one rule measured now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    pub rule: String,
    pub metric: String,
    pub condition: Condition,
    pub threshold: f64,
    /// `None`: nothing measured (or an error).
    pub value: Option<f64>,
    pub samples: usize,
    pub min_samples: usize,
}

impl Evaluation {
    /// Whether the rule can decide: a value from at least `min_samples` samples.
    pub fn decides(&self) -> bool {
        self.value.is_some_and(f64::is_finite) && self.samples >= self.min_samples.max(1)
    }

    /// `Some(true)` firing, `Some(false)` fine, `None` undecided (too few samples).
    pub fn firing(&self) -> Option<bool> {
        self.decides().then(|| {
            self.condition
                .fires(self.value.unwrap_or(f64::NAN), self.threshold)
        })
    }
}

/// The events that take the alerts from `open` (rules with an open alert) to what `evals`
/// say. `configured` is every rule of the config (a rule that failed to evaluate is in it but
/// not in `evals`).
pub fn decide(
    open: &BTreeSet<String>,
    configured: &BTreeSet<String>,
    evals: &[Evaluation],
) -> Vec<Event> {
    let mut out = Vec::new();
    for e in evals {
        match (e.firing(), open.contains(&e.rule)) {
            (Some(true), false) => out.push(Event::AlertRaised {
                rule: e.rule.clone(),
                metric: e.metric.clone(),
                value: e.value.unwrap_or(f64::NAN),
                threshold: e.threshold,
                condition: e.condition.as_str().into(),
            }),
            (Some(false), true) => out.push(Event::AlertResolved {
                rule: e.rule.clone(),
            }),
            _ => {}
        }
    }
    for rule in open.difference(configured) {
        out.push(Event::AlertResolved { rule: rule.clone() });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(rule: &str, value: Option<f64>, samples: usize) -> Evaluation {
        Evaluation {
            rule: rule.into(),
            metric: "drift".into(),
            condition: Condition::Above,
            threshold: 0.1,
            value,
            samples,
            min_samples: 10,
        }
    }

    /// Folds `decide` over a sequence of measurements, as repeated checks would.
    fn run(steps: &[(Option<f64>, usize)]) -> Vec<String> {
        let configured: BTreeSet<String> = ["d".to_string()].into();
        let mut open = BTreeSet::new();
        let mut log = Vec::new();
        for &(v, n) in steps {
            for ev in decide(&open, &configured, &[eval("d", v, n)]) {
                match &ev {
                    Event::AlertRaised { rule, .. } => {
                        assert!(open.insert(rule.clone()), "raised twice");
                        log.push("raised".to_string());
                    }
                    Event::AlertResolved { rule } => {
                        assert!(open.remove(rule), "resolved a closed alert");
                        log.push("resolved".to_string());
                    }
                    _ => unreachable!(),
                }
            }
        }
        log
    }

    #[test]
    fn raised_once_while_firing_and_resolved_once_when_it_stops() {
        assert_eq!(
            run(&[
                (Some(0.05), 50),
                (Some(0.3), 50),
                (Some(0.4), 50),
                (Some(0.3), 50),
                (Some(0.02), 50),
                (Some(0.01), 50),
                (Some(0.5), 50),
            ]),
            ["raised", "resolved", "raised"]
        );
    }

    #[test]
    fn too_few_samples_decide_nothing() {
        // Firing on 5 samples raises nothing; an open alert is kept through an empty window.
        assert!(run(&[(Some(0.9), 5), (None, 0)]).is_empty());
        assert_eq!(
            run(&[(Some(0.9), 50), (None, 0), (Some(0.0), 3), (Some(0.0), 10)]),
            ["raised", "resolved"]
        );
        assert_eq!(eval("d", Some(f64::NAN), 50).firing(), None);
    }

    #[test]
    fn an_alert_of_a_removed_rule_is_resolved() {
        let open: BTreeSet<String> = ["gone".to_string(), "d".to_string()].into();
        let configured: BTreeSet<String> = ["d".to_string()].into();
        let ev = decide(&open, &configured, &[]);
        assert_eq!(
            ev,
            [Event::AlertResolved {
                rule: "gone".into()
            }]
        );
        // A configured rule that failed to evaluate (absent from evals) keeps its alert.
        assert!(decide(&open, &["d".to_string(), "gone".to_string()].into(), &[]).is_empty());
    }
}
