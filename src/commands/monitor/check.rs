//! `lab monitor check` and `lab monitor alerts`: every rule of configs/monitoring.toml
//! evaluated over its window, alerts raised and resolved through the state machine
//! (`monitor::alerts`), and the list of alerts.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use super::{Family, family_of, load_config, reference};
use crate::event::{Event, FeedbackRecord, InferenceRecord, fmt_time};
use crate::lab::Lab;
use crate::monitor::alerts::{Evaluation, decide};
use crate::monitor::rules::{MonitoringConfig, Rule};
use crate::monitor::window::{self, Measured};
use crate::store::views::Query;
use crate::store::{AlertRow, VersionRow};

/// How long an `on_alert` / `on_resolve` command may run before it is stopped.
const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// One rule after a check.
#[derive(Debug, Serialize)]
pub struct RuleState {
    pub rule: String,
    pub metric: String,
    pub condition: String,
    pub threshold: f64,
    pub window: String,
    pub value: Option<f64>,
    pub samples: usize,
    pub min_samples: usize,
    /// `firing`, `ok`, `too few samples` or `error`.
    pub state: String,
    /// Whether the rule has an open alert after this check.
    pub open: bool,
    pub error: Option<String>,
}

/// An `on_alert` / `on_resolve` command that ran.
#[derive(Debug, Serialize)]
pub struct HookRun {
    pub rule: String,
    /// `raised` or `resolved`.
    pub state: String,
    pub command: String,
    pub ok: bool,
    /// The exit status, or why it could not run, and the tail of its output on failure.
    pub detail: String,
}

/// What one check did.
#[derive(Debug, Serialize)]
pub struct CheckOut {
    pub now_ms: i64,
    pub rules: Vec<RuleState>,
    /// Rules whose alert this check raised.
    pub raised: Vec<String>,
    /// Rules whose alert this check resolved.
    pub resolved: Vec<String>,
    pub hooks: Vec<HookRun>,
}

/// The exit status of `lab monitor check` while a rule fires.
pub const FIRING_EXIT: u8 = 3;

impl CheckOut {
    /// A rule fires (its value is past its threshold on enough samples).
    pub fn firing(&self) -> bool {
        self.rules.iter().any(|r| r.state == "firing")
    }

    /// A rule could not be evaluated, or a hook failed.
    pub fn has_errors(&self) -> bool {
        self.rules.iter().any(|r| r.error.is_some()) || self.hooks.iter().any(|h| !h.ok)
    }

    pub fn text(&self) -> String {
        let mut t = crate::table::Table::new([
            "RULE",
            "METRIC",
            "VALUE",
            "COND",
            "THRESHOLD",
            "WINDOW",
            "SAMPLES",
            "STATE",
            "ALERT",
        ])
        .right(&[2, 4, 5, 6]);
        for r in &self.rules {
            t.row([
                r.rule.to_string(),
                r.metric.to_string(),
                r.value.map_or("-".into(), |v| format!("{v:.4}")),
                r.condition.to_string(),
                r.threshold.to_string(),
                r.window.to_string(),
                format!("{}/{}", r.samples, r.min_samples),
                r.state.to_string(),
                (if self.raised.contains(&r.rule) {
                    "RAISED"
                } else if self.resolved.contains(&r.rule) {
                    "resolved"
                } else if r.open {
                    "open"
                } else {
                    "-"
                })
                .to_string(),
            ]);
        }
        let mut s = t.render();
        s.push('\n');
        for r in &self.rules {
            if let Some(e) = &r.error {
                s.push_str(&format!("{}: {e}\n", r.rule));
            }
        }
        for h in &self.hooks {
            s.push_str(&format!(
                "{} hook of {} ({}): {}\n",
                if h.state == "raised" {
                    "on_alert"
                } else {
                    "on_resolve"
                },
                h.rule,
                h.command,
                h.detail
            ));
        }
        if self.raised.is_empty() && self.resolved.is_empty() {
            s.push_str("no alert raised or resolved");
        } else {
            if !self.raised.is_empty() {
                s.push_str(&format!("raised: {}\n", self.raised.join(", ")));
            }
            if !self.resolved.is_empty() {
                s.push_str(&format!("resolved: {}\n", self.resolved.join(", ")));
            }
        }
        s.trim_end().to_string()
    }
}

/// Evaluates every rule of configs/monitoring.toml over its window ending at `now_ms`, raises
/// an alert for each rule that starts firing and resolves each alert whose rule stopped, then
/// runs the rules' `on_alert` / `on_resolve` commands.
///
/// This is what `lab serve` calls after recording a batch. It reads only the records of the
/// longest window (one range scan of the window index) and keeps reference features cached
/// per process, so a check with nothing new is a read and a few sorts. The decision is taken
/// inside the log's write transaction against the alerts as they are there: two processes
/// checking at once never raise (or resolve) the same alert twice. A rule that cannot be
/// evaluated (a missing reference snapshot) is reported in its [`RuleState::error`] and keeps
/// its alert as it is; the other rules still decide. Hook failures are reported, never fatal.
pub fn check(lab: &Lab, now_ms: i64) -> Result<CheckOut> {
    let (_, cfg) = load_config(lab, None)?;
    let from = now_ms.saturating_sub(cfg.longest_window_ms());
    let (inferences, feedback, registry) = if cfg.rules.is_empty() {
        Default::default()
    } else {
        lab.store.read_views(|v| {
            Ok((
                v.inferences_between(from, now_ms)?,
                v.feedback_between(from, now_ms)?,
                v.registry()?,
            ))
        })?
    };
    let mut evals = Vec::new();
    let mut states = Vec::new();
    for (name, rule) in &cfg.rules {
        let since = now_ms.saturating_sub(rule.window_ms());
        let of_rule =
            |model: &str, t: i64| t >= since && rule.model.as_deref().is_none_or(|m| m == model);
        let recs: Vec<&InferenceRecord> = inferences
            .iter()
            .filter(|r| of_rule(&r.model, r.time_ms))
            .collect();
        let measured = match rule.metric.as_str() {
            "accuracy" => {
                let fb: Vec<&FeedbackRecord> = feedback
                    .iter()
                    .filter(|f| of_rule(&f.model, f.time_ms))
                    .collect();
                Ok(window::accuracy(&fb))
            }
            "confidence" => Ok(window::confidence(&recs)),
            "drift" => drift_metric(lab, &cfg, rule, &registry, &recs),
            latency => Ok(window::latency(latency, &recs)),
        };
        let (m, error) = match measured {
            Ok(m) => (m, None),
            Err(e) => (
                Measured {
                    value: None,
                    samples: recs.len(),
                },
                Some(format!("{e:#}")),
            ),
        };
        let e = Evaluation {
            rule: name.clone(),
            metric: rule.metric.clone(),
            condition: rule.condition,
            threshold: rule.threshold,
            value: m.value,
            samples: m.samples,
            min_samples: rule.min_samples,
        };
        states.push(RuleState {
            rule: name.clone(),
            metric: rule.metric.clone(),
            condition: rule.condition.as_str().into(),
            threshold: rule.threshold,
            window: rule.window.clone(),
            value: m.value,
            samples: m.samples,
            min_samples: rule.min_samples,
            state: match (&error, e.firing()) {
                (Some(_), _) => "error",
                (None, Some(true)) => "firing",
                (None, Some(false)) => "ok",
                (None, None) => "too few samples",
            }
            .into(),
            open: false,
            error,
        });
        if states.last().is_some_and(|s| s.error.is_none()) {
            evals.push(e);
        }
    }
    let configured: BTreeSet<String> = cfg.rules.keys().cloned().collect();
    let (records, open_after) = lab.append_with(|v| {
        let open: BTreeSet<String> = v.open_alerts()?.into_iter().map(|a| a.rule).collect();
        let events = decide(&open, &configured, &evals);
        let mut after = open.clone();
        for ev in &events {
            match ev {
                Event::AlertRaised { rule, .. } => {
                    after.insert(rule.clone());
                }
                Event::AlertResolved { rule } => {
                    after.remove(rule);
                }
                _ => {}
            }
        }
        Ok((events, after))
    })?;
    for s in &mut states {
        s.open = open_after.contains(&s.rule);
    }
    let mut out = CheckOut {
        now_ms,
        rules: states,
        raised: Vec::new(),
        resolved: Vec::new(),
        hooks: Vec::new(),
    };
    // Hooks run after the commit, in the one process that appended the event.
    for rec in &records {
        match &rec.envelope.body {
            Event::AlertRaised {
                rule,
                metric,
                value,
                threshold,
                condition,
            } => {
                out.raised.push(rule.clone());
                if let Some(cmd) = cfg.rules.get(rule).and_then(|r| r.on_alert.as_deref()) {
                    let env = hook_env(rule, "raised", metric, Some(*value), *threshold, condition);
                    out.hooks.push(run_hook(lab, rule, "raised", cmd, &env));
                }
            }
            Event::AlertResolved { rule } => {
                out.resolved.push(rule.clone());
                if let Some(r) = cfg.rules.get(rule) {
                    if let Some(cmd) = r.on_resolve.as_deref() {
                        let value = out
                            .rules
                            .iter()
                            .find(|s| s.rule == *rule)
                            .and_then(|s| s.value);
                        let env = hook_env(
                            rule,
                            "resolved",
                            &r.metric,
                            value,
                            r.threshold,
                            r.condition.as_str(),
                        );
                        out.hooks.push(run_hook(lab, rule, "resolved", cmd, &env));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The `drift` metric: the largest PSI over the features, for each family of models in the
/// window with at least `min_samples` inferences (each against its own reference).
fn drift_metric(
    lab: &Lab,
    cfg: &MonitoringConfig,
    rule: &Rule,
    registry: &[VersionRow],
    recs: &[&InferenceRecord],
) -> Result<Measured> {
    let mut groups: BTreeMap<Family, Vec<&InferenceRecord>> = BTreeMap::new();
    for r in recs {
        if let Some(f) = family_of(lab, registry, &r.model, r.version)? {
            groups.entry(f).or_default().push(r);
        }
    }
    let enough = rule.min_samples.max(1);
    let biggest = groups.values().map(Vec::len).max().unwrap_or(0);
    if biggest < enough {
        return Ok(Measured {
            value: None,
            samples: biggest,
        });
    }
    let Some(reference_ref) = cfg.drift.reference.as_deref() else {
        anyhow::bail!("no drift reference: set [drift] reference in configs/monitoring.toml");
    };
    let (mut value, mut samples) = (None::<f64>, 0);
    for (family, g) in groups.iter().filter(|(_, g)| g.len() >= enough) {
        let (_, reference) = reference(lab, reference_ref, *family, &cfg.drift.split)?;
        let table = window::drift(&reference, g);
        if let Some(m) = window::max_psi(&table) {
            value = Some(value.map_or(m, |v| v.max(m)));
            samples += g.len();
        }
    }
    Ok(Measured { value, samples })
}

fn hook_env(
    rule: &str,
    state: &str,
    metric: &str,
    value: Option<f64>,
    threshold: f64,
    condition: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("LAB_ALERT_RULE", rule.to_string()),
        ("LAB_ALERT_STATE", state.to_string()),
        ("LAB_ALERT_METRIC", metric.to_string()),
        (
            "LAB_ALERT_VALUE",
            value.map_or(String::new(), |v| v.to_string()),
        ),
        ("LAB_ALERT_THRESHOLD", threshold.to_string()),
        ("LAB_ALERT_CONDITION", condition.to_string()),
    ]
}

/// Runs `sh -c CMD` in the project root with the alert in its environment; its output is
/// captured (lab's stdout stays data) and shown only when it fails.
fn run_hook(
    lab: &Lab,
    rule: &str,
    state: &str,
    cmd: &str,
    env: &[(&'static str, String)],
) -> HookRun {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(cmd)
        .current_dir(&lab.project.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let done = |ok: bool, detail: String| HookRun {
        rule: rule.to_string(),
        state: state.to_string(),
        command: cmd.to_string(),
        ok,
        detail,
    };
    let mut child = match c.spawn() {
        Ok(ch) => ch,
        Err(e) => return done(false, format!("could not start sh: {e}")),
    };
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > HOOK_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return done(false, format!("stopped after {} s", HOOK_TIMEOUT.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return done(false, format!("could not wait for it: {e}")),
        }
    }
    match child.wait_with_output() {
        Ok(o) if o.status.success() => done(true, "ran (exit 0)".into()),
        Ok(o) => {
            let mut tail = String::from_utf8_lossy(&o.stderr).trim().to_string();
            if tail.is_empty() {
                tail = String::from_utf8_lossy(&o.stdout).trim().to_string();
            }
            let tail: String = tail
                .lines()
                .last()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            done(
                false,
                format!(
                    "FAILED ({}){}",
                    o.status,
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!(": {tail}")
                    }
                ),
            )
        }
        Err(e) => done(false, format!("could not read its output: {e}")),
    }
}

/// The alerts: open ones, or every one with `all`.
#[derive(Debug, Serialize)]
pub struct AlertsOut {
    pub rows: Vec<AlertRow>,
}

pub fn alerts(lab: &Lab, all: bool) -> Result<AlertsOut> {
    let mut rows = lab.store.read_views(|v| v.alerts())?;
    if !all {
        rows.retain(AlertRow::is_open);
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.raised_seq));
    Ok(AlertsOut { rows })
}

pub fn alerts_text(out: &AlertsOut, all: bool) -> String {
    if out.rows.is_empty() {
        return if all {
            "no alerts yet".into()
        } else {
            "no open alerts (lab monitor alerts --all lists resolved ones too)".into()
        };
    }
    let mut t = crate::table::Table::new([
        "RULE",
        "METRIC",
        "VALUE",
        "COND",
        "THRESHOLD",
        "RAISED",
        "RESOLVED",
    ])
    .right(&[2, 4]);
    for r in &out.rows {
        t.row([
            r.rule.to_string(),
            r.metric.to_string(),
            format!("{:.4}", r.value),
            r.condition.to_string(),
            r.threshold.to_string(),
            fmt_time(r.raised_ns),
            r.resolved_ns.map_or("open".into(), fmt_time),
        ]);
    }
    t.render()
}
