//! The deployments section of the index: every deployment event from the log, one history per
//! environment (gates validated, deployed, replaced, rolled back), what each serves now, and a
//! chart of the model each environment served per task over time.

use std::collections::BTreeMap;

use maud::{Markup, html};

use super::Report;
use super::charts::{LineChart, Mark, Series};
use super::html::model_link;
use crate::event::{Envelope, Event, fmt_time};

/// One deployment event.
#[derive(Clone, Debug)]
pub struct DeployEvent {
    pub seq: u64,
    pub time_ns: i64,
    pub env: String,
    pub model: String,
    pub version: u32,
    /// `requested`, `validated`, `rejected`, `deployed`, `rolled back`.
    pub what: String,
    pub detail: String,
}

/// The deployment event `env` holds, if it is one.
pub fn of(env: &Envelope) -> Option<DeployEvent> {
    let ev = |e: &str, model: &str, version: u32, what: &str, detail: String| DeployEvent {
        seq: env.seq,
        time_ns: env.time_ns,
        env: e.to_string(),
        model: model.to_string(),
        version,
        what: what.to_string(),
        detail,
    };
    Some(match &env.body {
        Event::DeploymentValidated {
            env: e,
            model,
            version,
            gates,
            passed,
        } => {
            let parts: Vec<String> = gates
                .iter()
                .map(|g| {
                    format!(
                        "{} {} {} {}: {}",
                        g.name,
                        g.value.map_or("-".into(), |v| format!("{v:.4}")),
                        g.op,
                        super::html::fmt_value(g.threshold),
                        if g.passed { "pass" } else { "FAIL" }
                    )
                })
                .collect();
            let what = if *passed { "validated" } else { "rejected" };
            ev(e, model, *version, what, parts.join("; "))
        }
        Event::Deployed {
            env: e,
            model,
            version,
        } => ev(e, model, *version, "deployed", String::new()),
        Event::RolledBack {
            env: e,
            model,
            from_version,
            to_version,
        } => ev(
            e,
            model,
            *to_version,
            "rolled back",
            format!("from version {from_version}"),
        ),
        Event::Undeployed {
            env: e,
            model,
            version,
            reason,
        } => ev(e, model, *version, "undeployed", reason.clone()),
        _ => return None,
    })
}

/// The chart of deployed versions over time (since the first deployment event), one
/// series per environment and model; `None` when nothing was deployed.
/// One (environment, task) line: the models it served, in order first served, and the steps.
type Served = (Vec<String>, Vec<(f64, f64)>);

pub fn chart(report: &Report) -> Option<LineChart> {
    let live: Vec<&DeployEvent> = report
        .deployments
        .iter()
        .filter(|d| matches!(d.what.as_str(), "deployed" | "rolled back" | "undeployed"))
        .collect();
    let t0 = live.first()?.time_ns;
    let t_end = report.generated_ns.max(live.last()?.time_ns);
    // The time axis in the unit that suits the span.
    let span_s = (t_end - t0) as f64 / 1e9;
    let (unit_s, unit) = match span_s {
        s if s < 120.0 => (1.0, "seconds"),
        s if s < 7200.0 => (60.0, "minutes"),
        s if s < 172_800.0 => (3600.0, "hours"),
        _ => (86_400.0, "days"),
    };
    let at = |t: i64| (t - t0) as f64 / 1e9 / unit_s;
    // One line per (environment, task): y is the served model, numbered in the order each
    // was first served there (the legend names them), so a switch of name shows as a step.
    let task_of = |d: &DeployEvent| {
        report
            .tasks
            .get(&format!("{}@{}", d.model, d.version))
            .map_or("model", |t| t.as_str())
            .to_string()
    };
    let mut lines: BTreeMap<(String, String), Served> = BTreeMap::new();
    for d in &live {
        if d.what == "undeployed" {
            // The replacing or rolled-back-to model's own event follows at the same time.
            continue;
        }
        let (names, points) = lines.entry((d.env.clone(), task_of(d))).or_default();
        let label = format!("{}@{}", d.model, d.version);
        let y = match names.iter().position(|n| *n == label) {
            Some(i) => i + 1,
            None => {
                names.push(label);
                names.len()
            }
        } as f64;
        // A step: the previous model serves until this event.
        if let Some(&(_, prev)) = points.last() {
            points.push((at(d.time_ns), prev));
        }
        points.push((at(d.time_ns), y));
    }
    let series = lines
        .into_iter()
        .map(|((env, task), (names, mut points))| {
            let last = points.last().map_or(0.0, |p| p.1);
            points.push((at(t_end), last));
            let legend: Vec<String> = names
                .iter()
                .enumerate()
                .map(|(i, n)| format!("{}={n}", i + 1))
                .collect();
            Series {
                label: format!("{env} {task}: {}", legend.join(", ")),
                points,
                mark: Mark::Dots,
            }
        })
        .collect();
    Some(LineChart {
        title: "Served model per task over time".into(),
        x_desc: format!("{unit} since the first deployment"),
        y_desc: "served model (numbered in the legend)".into(),
        series,
        y_include: Some((0.0, 1.0)),
        log_y_above: None,
    })
}

/// The section: the chart, then one table per environment, newest first.
pub fn section(report: &Report, chart: Option<&str>) -> Markup {
    let mut by_env: BTreeMap<&str, Vec<&DeployEvent>> = BTreeMap::new();
    for d in &report.deployments {
        by_env.entry(&d.env).or_default().push(d);
    }
    html! {
        h2 #deployments { "Deployments" }
        @if report.deployments.is_empty() {
            p.none {
                "none recorded — " code { "lab deploy NAME@V --env production" }
                " deploys behind the gates of configs/deploy.toml."
            }
        } @else {
            @if !report.serving.is_empty() {
                h3 { "Served now" }
                p.sub {
                    "One model per task and environment: what " code { "lab deploy status" }
                    " lists and " code { "lab serve" } " loads."
                }
                table {
                    tr { th { "Environment" } th { "Task" } th { "Model" } th { "Since (UTC)" } }
                    @for s in &report.serving {
                        tr {
                            td { (s.env) } td { (s.task.as_str()) } td { (s.label()) }
                            td { (fmt_time(s.time_ns)) }
                        }
                    }
                }
            }
            @if let Some(c) = chart {
                div.charts { img src=(c) alt="served model per task over time" loading="lazy"; }
            }
            @for (env, list) in by_env {
                h3 { (env) }
                table {
                    tr { th { "When (UTC)" } th { "Model" } th { "Event" } th { "Gates / detail" } }
                    @for d in list.iter().rev() {
                        tr {
                            td { (fmt_time(d.time_ns)) }
                            td { (model_link(report, &format!("{}@{}", d.model, d.version), "")) }
                            td { (d.what) }
                            td { (d.detail) }
                        }
                    }
                }
            }
        }
    }
}
