//! The operations sections of the index: training curves overlaid per recipe, A/B tests, and
//! drift checks with the alerts they raised.

use std::collections::BTreeMap;

use maud::{Markup, html};

use super::charts::{LineChart, Mark, Series};
use super::html::fmt_value;
use super::{Report, RunData};
use crate::event::{RunStatus, fmt_time};

/// One `DriftChecked` event.
#[derive(Clone, Debug)]
pub struct DriftCheck {
    pub seq: u64,
    pub time_ns: i64,
    pub model: String,
    pub metric: String,
    pub score: f64,
    pub threshold: f64,
    pub drifted: bool,
}

/// The validation metric a recipe's runs are compared on: the first they all logged of these.
const CURVE_KEYS: [&str; 4] = ["val_accuracy", "val_field_f1", "val_char_f1", "val_loss"];

/// At most this many runs per recipe chart (the newest), so the legend stays legible.
const CURVES_PER_CHART: usize = 8;

/// One chart per recipe with at least two finished runs: their validation curves overlaid.
pub fn recipe_charts(runs: &[RunData]) -> Vec<(String, LineChart)> {
    let mut by_recipe: BTreeMap<&str, Vec<&RunData>> = BTreeMap::new();
    for r in runs {
        if r.run.status == RunStatus::Finished {
            by_recipe.entry(&r.run.row.recipe).or_default().push(r);
        }
    }
    let mut out = Vec::new();
    for (recipe, mut list) in by_recipe {
        let Some(key) = CURVE_KEYS
            .iter()
            .find(|k| list.iter().filter(|r| r.series.contains_key(**k)).count() >= 2)
        else {
            continue;
        };
        list.retain(|r| r.series.contains_key(*key));
        list.sort_by_key(|r| r.run.row.started_seq);
        let skip = list.len().saturating_sub(CURVES_PER_CHART);
        let series = list[skip..]
            .iter()
            .map(|r| Series {
                label: format!(
                    "{} {}",
                    r.run.row.name,
                    &r.run.row.id[..8.min(r.run.row.id.len())]
                ),
                points: r.series[*key]
                    .iter()
                    .map(|p| (p.step as f64, p.value))
                    .collect(),
                mark: Mark::Line,
            })
            .collect();
        out.push((
            format!(
                "{}.png",
                super::file_stem(recipe.strip_prefix("train.").unwrap_or(recipe))
            ),
            LineChart {
                title: format!("{recipe}: {key} by run"),
                x_desc: "step".into(),
                y_desc: key.to_string(),
                series,
                y_include: (*key != "val_loss").then_some((0.0, 1.0)),
                log_y_above: (*key == "val_loss").then_some(20.0),
            },
        ));
    }
    out
}

/// The curves section: one overlaid chart per recipe.
pub fn curves_section(charts: &[String]) -> Markup {
    html! {
        h2 #curves { "Training curves by recipe" }
        @if charts.is_empty() {
            p.none { "fewer than two finished runs of any recipe — train again (another seed or setting) to compare curves." }
        } @else {
            p.sub { "The newest finished runs of each recipe, their validation metric by step." }
            div.charts {
                @for c in charts { img src=(c) alt=(c) loading="lazy"; }
            }
        }
    }
}

/// The A/B section: every test, its arms, split and conclusion.
pub fn ab_section(report: &Report) -> Markup {
    if report.ab.is_empty() {
        return html! {
            h2 #ab { "A/B tests" }
            p.none {
                "none — " code { "lab ab start T --a M1 --b M2 --split 0.2" } " routes "
                code { "lab serve" } "'s traffic between two models."
            }
        };
    }
    html! {
        h2 #ab { "A/B tests" }
        table {
            tr {
                th { "Test" } th { "Arm a" } th { "Arm b" } th.num { "Split to b" } th { "Started (UTC)" }
                th { "Ended (UTC)" } th { "Winner" } th { "Deployed" }
            }
            @for t in &report.ab {
                @let (ended, winner, promoted) = match &t.ended {
                    None => ("running".to_string(), "-".to_string(), "-"),
                    Some(e) => (
                        fmt_time(e.time_ns),
                        e.winner.clone().unwrap_or_else(|| "none".into()),
                        if e.promoted { "yes" } else { "no" },
                    ),
                };
                tr {
                    td { (t.name) } td { (t.a) } td { (t.b) } td.num { (fmt_value(t.split)) }
                    td { (fmt_time(t.time_ns)) } td { (ended) } td { (winner) } td { (promoted) }
                }
            }
        }
        p.sub { "Per-arm requests, accuracy and the statistics: " code { "lab ab results T" } "." }
    }
}

/// At most this many drift checks are listed (the newest).
const DRIFT_ROWS: usize = 30;

/// The drift and alerts section.
pub fn drift_section(report: &Report) -> Markup {
    let open = report.alerts.iter().filter(|a| a.is_open()).count();
    html! {
        h2 #drift { "Drift and alerts" }
        @if report.alerts.is_empty() {
            p.none { "no alert raised." }
        } @else {
            p.sub {
                (open) " alert" (if open == 1 { "" } else { "s" }) " firing, "
                (report.alerts.len() - open) " resolved."
            }
            table {
                tr {
                    th { "Rule" } th { "Metric" } th.num { "Value" } th { "Condition" }
                    th.num { "Threshold" } th { "Raised (UTC)" } th { "Resolved (UTC)" }
                }
                @for a in &report.alerts {
                    tr {
                        td { (a.rule) } td { (a.metric) } td.num { (fmt_value(a.value)) }
                        td { (a.condition) } td.num { (fmt_value(a.threshold)) }
                        td { (fmt_time(a.raised_ns)) }
                        td {
                            @match a.resolved_ns {
                                Some(t) => (fmt_time(t)),
                                None => strong { "firing" },
                            }
                        }
                    }
                }
            }
        }
        @if report.drift.is_empty() {
            p.none {
                "no drift check recorded — " code { "lab monitor check" }
                " compares served inputs with the reference."
            }
        } @else {
            h3 { "Drift checks (newest " (report.drift.len().min(DRIFT_ROWS)) " of " (report.drift.len()) ")" }
            table {
                tr {
                    th { "When (UTC)" } th { "Model" } th { "Metric" } th.num { "Score" }
                    th.num { "Threshold" } th { "Drifted" }
                }
                @for d in report.drift.iter().rev().take(DRIFT_ROWS) {
                    tr {
                        td { (fmt_time(d.time_ns)) } td { (d.model) } td { (d.metric) }
                        td.num { (fmt_value(d.score)) } td.num { (fmt_value(d.threshold)) }
                        td { @if d.drifted { strong { "yes" } } @else { "no" } }
                    }
                }
            }
        }
    }
}
