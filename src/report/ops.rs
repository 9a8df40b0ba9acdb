//! The operations sections of the index: training curves overlaid per recipe, A/B tests, and
//! drift checks with the alerts they raised.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::charts::{LineChart, Mark, Series};
use super::html::{escape, fmt_value};
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
pub fn curves_section(b: &mut String, charts: &[String]) {
    b.push_str("<h2 id=\"curves\">Training curves by recipe</h2>\n");
    if charts.is_empty() {
        b.push_str("<p class=\"none\">fewer than two finished runs of any recipe — train again (another seed or setting) to compare curves.</p>\n");
        return;
    }
    b.push_str("<p class=\"sub\">The newest finished runs of each recipe, their validation metric by step.</p>\n<div class=\"charts\">\n");
    for c in charts {
        let _ = writeln!(
            b,
            "<img src=\"{0}\" alt=\"{0}\" loading=\"lazy\">",
            escape(c)
        );
    }
    b.push_str("</div>\n");
}

/// The A/B section: every test, its arms, split and conclusion.
pub fn ab_section(b: &mut String, report: &Report) {
    b.push_str("<h2 id=\"ab\">A/B tests</h2>\n");
    if report.ab.is_empty() {
        b.push_str("<p class=\"none\">none — <code>lab ab start T --a M1 --b M2 --split 0.2</code> routes <code>lab serve</code>'s traffic between two models.</p>\n");
        return;
    }
    b.push_str("<table>\n<tr><th>Test</th><th>Arm a</th><th>Arm b</th><th class=\"num\">Split to b</th><th>Started (UTC)</th><th>Ended (UTC)</th><th>Winner</th><th>Deployed</th></tr>\n");
    for t in &report.ab {
        let (ended, winner, promoted) = match &t.ended {
            None => ("running".to_string(), "-".to_string(), "-"),
            Some(e) => (
                fmt_time(e.time_ns),
                e.winner.clone().unwrap_or_else(|| "none".into()),
                if e.promoted { "yes" } else { "no" },
            ),
        };
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&t.name),
            escape(&t.a),
            escape(&t.b),
            fmt_value(t.split),
            fmt_time(t.time_ns),
            escape(&ended),
            escape(&winner),
            promoted
        );
    }
    b.push_str("</table>\n<p class=\"sub\">Per-arm requests, accuracy and the statistics: <code>lab ab results T</code>.</p>\n");
}

/// At most this many drift checks are listed (the newest).
const DRIFT_ROWS: usize = 30;

/// The drift and alerts section.
pub fn drift_section(b: &mut String, report: &Report) {
    b.push_str("<h2 id=\"drift\">Drift and alerts</h2>\n");
    let open = report.alerts.iter().filter(|a| a.is_open()).count();
    if report.alerts.is_empty() {
        b.push_str("<p class=\"none\">no alert raised.</p>\n");
    } else {
        let _ = writeln!(
            b,
            "<p class=\"sub\">{open} alert{} firing, {} resolved.</p>",
            if open == 1 { "" } else { "s" },
            report.alerts.len() - open
        );
        b.push_str("<table>\n<tr><th>Rule</th><th>Metric</th><th class=\"num\">Value</th><th>Condition</th><th class=\"num\">Threshold</th><th>Raised (UTC)</th><th>Resolved (UTC)</th></tr>\n");
        for a in &report.alerts {
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                escape(&a.rule),
                escape(&a.metric),
                fmt_value(a.value),
                escape(&a.condition),
                fmt_value(a.threshold),
                fmt_time(a.raised_ns),
                a.resolved_ns
                    .map(fmt_time)
                    .unwrap_or_else(|| "<strong>firing</strong>".into())
            );
        }
        b.push_str("</table>\n");
    }
    if report.drift.is_empty() {
        b.push_str("<p class=\"none\">no drift check recorded — <code>lab monitor check</code> compares served inputs with the reference.</p>\n");
        return;
    }
    let _ = writeln!(
        b,
        "<h3>Drift checks (newest {} of {})</h3>",
        report.drift.len().min(DRIFT_ROWS),
        report.drift.len()
    );
    b.push_str("<table>\n<tr><th>When (UTC)</th><th>Model</th><th>Metric</th><th class=\"num\">Score</th><th class=\"num\">Threshold</th><th>Drifted</th></tr>\n");
    for d in report.drift.iter().rev().take(DRIFT_ROWS) {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            fmt_time(d.time_ns),
            escape(&d.model),
            escape(&d.metric),
            fmt_value(d.score),
            fmt_value(d.threshold),
            if d.drifted {
                "<strong>yes</strong>"
            } else {
                "no"
            }
        );
    }
    b.push_str("</table>\n");
}
