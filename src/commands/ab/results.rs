//! `lab ab results`: per arm requests, accuracy (from feedback), latency p50/p95, and the
//! statistics of `ab::stats` with a verdict in plain words. Read from the log: the inference
//! and feedback records of the test's arms since it started.

use anyhow::{Result, anyhow};
use serde::Serialize;

use crate::ab::stats::{self, MannWhitney, MedianDiff, Proportions};
use crate::ab::{ArmData, Collect, MIN_FEEDBACK, MIN_REQUESTS};
use crate::event::Event;
use crate::lab::Lab;
use crate::store::AbRow;
use crate::store::views::Query;

/// Significance level of both tests.
pub const ALPHA: f64 = 0.05;
/// Bootstrap resamples of the median latency difference.
const BOOTSTRAP: usize = 2000;

#[derive(Debug, Serialize)]
pub struct ArmOut {
    /// `a` or `b`.
    pub arm: &'static str,
    pub model: String,
    pub requests: usize,
    pub feedback: usize,
    pub correct: usize,
    pub accuracy: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct AbResults {
    pub name: String,
    pub running: bool,
    pub split: f64,
    pub metrics: Vec<String>,
    pub a: ArmOut,
    pub b: ArmOut,
    /// Accuracy of B minus accuracy of A (z-test, 95% CI of the difference).
    pub accuracy_test: Option<Proportions>,
    /// Latency of A against B (Mann–Whitney U).
    pub latency_test: Option<MannWhitney>,
    /// Median latency of B minus A, ms, with a seeded bootstrap 95% CI.
    pub latency_median_diff_ms: Option<MedianDiff>,
    /// (p50 of B − p50 of A) / p50 of A.
    pub latency_change: Option<f64>,
    /// One line per metric, in plain words.
    pub verdict: Vec<String>,
    /// The winning arm's model, when the statistics name one.
    pub winner: Option<String>,
}

fn arm_out(arm: &'static str, model: &str, d: &ArmData) -> ArmOut {
    let mut lat = d.latencies_ms.clone();
    lat.sort_by(f64::total_cmp);
    let q = |p| (!lat.is_empty()).then(|| stats::quantile(&lat, p));
    ArmOut {
        arm,
        model: model.to_string(),
        requests: d.requests,
        feedback: d.feedback.len(),
        correct: d.correct(),
        accuracy: (!d.feedback.is_empty()).then(|| d.correct() as f64 / d.feedback.len() as f64),
        latency_p50_ms: q(0.5),
        latency_p95_ms: q(0.95),
    }
}

/// The statistics of a test from its collected records (pure; see the module doc).
pub fn analyse(t: &AbRow, c: &Collect) -> AbResults {
    let a = arm_out("a", &t.a, &c.a);
    let b = arm_out("b", &t.b, &c.b);
    let accuracy_test = stats::two_proportion(a.correct, a.feedback, b.correct, b.feedback);
    let latency_test = stats::mann_whitney(&c.a.latencies_ms, &c.b.latencies_ms);
    let latency_median_diff_ms =
        stats::bootstrap_median_diff(&c.a.latencies_ms, &c.b.latencies_ms, t.seed, BOOTSTRAP);
    let latency_change = match (a.latency_p50_ms, b.latency_p50_ms) {
        (Some(pa), Some(pb)) if pa > 0.0 => Some((pb - pa) / pa),
        _ => None,
    };
    let mut verdict = Vec::new();
    let mut acc_winner = None;
    let mut acc_decided = true;
    if t.metrics.iter().any(|m| m == "accuracy") {
        acc_decided = false;
        match &accuracy_test {
            Some(p) if a.feedback >= MIN_FEEDBACK && b.feedback >= MIN_FEEDBACK => {
                acc_decided = true;
                if p.p_value < ALPHA {
                    let better = if p.diff > 0.0 { "B" } else { "A" };
                    acc_winner = Some(if p.diff > 0.0 { &t.b } else { &t.a });
                    verdict.push(format!(
                        "{better} is more accurate (p={:.4}; B − A = {:+.1} points, 95% CI {:+.1} to {:+.1})",
                        p.p_value,
                        p.diff * 100.0,
                        p.ci.0 * 100.0,
                        p.ci.1 * 100.0
                    ));
                } else {
                    verdict.push(format!(
                        "no significant difference in accuracy (p={:.4}; B − A = {:+.1} points)",
                        p.p_value,
                        p.diff * 100.0
                    ));
                }
            }
            _ => verdict.push(format!(
                "not enough data for accuracy: {} / {} feedback (a / b), need {MIN_FEEDBACK} per arm (POST /v1/feedback)",
                a.feedback, b.feedback
            )),
        }
    }
    let mut lat_winner = None;
    if t.metrics.iter().any(|m| m == "latency") {
        match (&latency_test, &latency_median_diff_ms) {
            (Some(m), Some(d)) if a.requests >= MIN_REQUESTS && b.requests >= MIN_REQUESTS => {
                if m.p_value < ALPHA {
                    let faster = if d.diff < 0.0 { "B" } else { "A" };
                    lat_winner = Some(if d.diff < 0.0 { &t.b } else { &t.a });
                    verdict.push(format!(
                        "{faster} is faster (p={:.4}; median B − A = {:+.2} ms, 95% CI {:+.2} to {:+.2})",
                        m.p_value, d.diff, d.ci.0, d.ci.1
                    ));
                } else {
                    verdict.push(format!(
                        "no significant difference in latency (p={:.4}; median B − A = {:+.2} ms)",
                        m.p_value, d.diff
                    ));
                }
            }
            _ => verdict.push(format!(
                "not enough data for latency: {} / {} requests (a / b), need {MIN_REQUESTS} per arm",
                a.requests, b.requests
            )),
        }
    }
    // Accuracy decides when it is measured and significant; latency breaks a tie only once
    // accuracy had enough data (or is not a metric of the test).
    let winner = acc_winner
        .or(if acc_decided { lat_winner } else { None })
        .cloned();
    AbResults {
        name: t.name.clone(),
        running: t.running(),
        split: t.split,
        metrics: t.metrics.clone(),
        a,
        b,
        accuracy_test,
        latency_test,
        latency_median_diff_ms,
        latency_change,
        verdict,
        winner,
    }
}

/// The test named `name`, or an error listing the tests.
pub fn find(lab: &Lab, name: &str) -> Result<AbRow> {
    let tests = lab.store.read_views(|v| v.ab_tests())?;
    let names: Vec<&str> = tests.iter().map(|t| t.name.as_str()).collect();
    tests
        .iter()
        .find(|t| t.name == name)
        .cloned()
        .ok_or_else(|| {
            anyhow!(
                "no A/B test named `{name}` — {}",
                if names.is_empty() {
                    "none started yet (lab ab start NAME --a MODEL@V --b MODEL@V)".to_string()
                } else {
                    format!("known: {}", names.join(", "))
                }
            )
        })
}

/// Reads the test's records from the log and analyses them.
pub fn results(lab: &Lab, name: &str) -> Result<AbResults> {
    let t = find(lab, name)?;
    let mut c = Collect::default();
    lab.store.scan(t.seq, |rec| {
        match &rec.envelope.body {
            Event::InferencesRecorded { records } => c.inferences(&t.name, records),
            Event::FeedbackRecorded { records } => c.feedback(&t.name, records),
            _ => {}
        }
        Ok(true)
    })?;
    Ok(analyse(&t, &c))
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or("-".into(), f)
}

pub fn results_text(r: &AbResults) -> String {
    let mut s = format!(
        "A/B test {} ({}, {:.0}% to b, metrics {})\n",
        r.name,
        if r.running { "running" } else { "concluded" },
        r.split * 100.0,
        r.metrics.join(","),
    );
    let mut t = crate::table::Table::new([
        "ARM", "MODEL", "REQUESTS", "FEEDBACK", "ACCURACY", "P50_MS", "P95_MS",
    ])
    .right(&[2, 3, 4, 5, 6]);
    for a in [&r.a, &r.b] {
        t.row([
            a.arm.to_string(),
            a.model.to_string(),
            a.requests.to_string(),
            a.feedback.to_string(),
            opt(a.accuracy, |x| format!("{x:.4}")),
            opt(a.latency_p50_ms, |x| format!("{x:.2}")),
            opt(a.latency_p95_ms, |x| format!("{x:.2}")),
        ]);
    }
    s.push_str(&t.render());
    s.push('\n');
    if let Some(c) = r.latency_change {
        s.push_str(&format!("B's median latency vs A: {:+.1}%\n", c * 100.0));
    }
    for v in &r.verdict {
        s.push_str(&format!("verdict: {v}\n"));
    }
    s.push_str(&match &r.winner {
        Some(w) => format!("winner: {w}"),
        None => "winner: none yet".to_string(),
    });
    s
}
