//! Deployment gates: `configs/deploy.toml` (parsed strictly: a wrong type or an unknown key is
//! `file:line:col` with the key named) and the pure check of measured metrics against it.
//! `commands::deploy` measures and records; this module only decides.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::event::GateResult;
use crate::project::ProjectError;

/// The embedded default, written into `configs/` by `lab init`.
pub const DEFAULT: &str = include_str!("../configs/deploy.toml");
pub const FILE: &str = "deploy.toml";

/// A comparison of a gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }

    /// Whether `value OP threshold` holds (never for NaN).
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
        }
    }
}

/// One `[[gate]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// Shown in tables and recorded (default: the metric).
    #[serde(default)]
    pub name: Option<String>,
    pub metric: String,
    pub op: Op,
    pub threshold: f64,
}

/// `[validation]`: what the candidate is measured on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Validation {
    /// A snapshot `NAME` or `NAME@N` (default: lab.toml's data.default).
    pub dataset: Option<String>,
    pub split: String,
    /// At most this many lines / cells (0 = all).
    pub limit: usize,
    /// Document models: the OCR noise injected into cell text.
    pub noise: f64,
}

impl Default for Validation {
    fn default() -> Self {
        Validation {
            dataset: None,
            split: "val".into(),
            limit: 0,
            noise: 0.1,
        }
    }
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    /// Not worse than the version deployed in the environment by more than this (absolute).
    #[serde(default)]
    pub max_regression: Option<f64>,
    #[serde(default = "default_regression_metric")]
    pub regression_metric: String,
    #[serde(default)]
    pub validation: Validation,
    #[serde(default, rename = "gate")]
    pub gates: Vec<Gate>,
}

fn default_regression_metric() -> String {
    "accuracy".into()
}

/// The metrics a model family's validation measures: OCR (per line) or document (per cell).
pub fn known_metrics(doc: bool) -> Vec<String> {
    let common = ["accuracy", "latency"];
    let own: &[&str] = if doc {
        &["field_f1", "exact", "invalid", "cells_per_s"]
    } else {
        &[
            "cer",
            "char_f1",
            "latency_p50_ms",
            "latency_p95_ms",
            "lines_per_s",
        ]
    };
    let mut v: Vec<String> = common.iter().chain(own).map(|s| s.to_string()).collect();
    if doc {
        v.extend(
            crate::ml::doc::record::FIELDS
                .iter()
                .map(|f| format!("{f}.f1")),
        );
    }
    v
}

/// Metrics where lower is better (for the regression gate's direction).
fn lower_is_better(metric: &str) -> bool {
    metric.starts_with("latency") || matches!(metric, "cer" | "invalid")
}

impl DeployConfig {
    /// Parses `text` (from `path`, for messages) and checks values the types cannot.
    pub fn parse(path: &Path, text: &str) -> Result<DeployConfig, ProjectError> {
        let c: DeployConfig = crate::project::parse_toml(path, text)?;
        let bad = |message: String| ProjectError::Config {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message,
        };
        if c.gates.is_empty() && c.max_regression.is_none() {
            return Err(bad(
                "names no gate, so a deployment would go out unchecked — add one, e.g. \
                 [[gate]] metric = \"accuracy\" op = \">\" threshold = 0.90 (or delete the file: \
                 lab deploy writes the default gates back)"
                    .into(),
            ));
        }
        for g in &c.gates {
            if !g.threshold.is_finite() {
                return Err(bad(format!(
                    "gate `{}`: threshold must be finite",
                    g.metric
                )));
            }
        }
        if let Some(r) = c.max_regression {
            if !(r.is_finite() && r >= 0.0) {
                return Err(bad(format!("key `max_regression`: must be ≥ 0, not {r}")));
            }
        }
        if !(0.0..=0.5).contains(&c.validation.noise) {
            return Err(bad(format!(
                "key `validation.noise`: must be in [0, 0.5], not {}",
                c.validation.noise
            )));
        }
        Ok(c)
    }

    /// The first metric named (by a gate or the regression gate) that a family does not
    /// measure, with what it does measure.
    pub fn unknown_metric(&self, doc: bool) -> Option<(String, Vec<String>)> {
        let known = known_metrics(doc);
        let strip = |m: &str| {
            m.strip_prefix(&format!("{}.", self.validation.split))
                .unwrap_or(m)
                .to_string()
        };
        let mut named: Vec<String> = self.gates.iter().map(|g| strip(&g.metric)).collect();
        if self.max_regression.is_some() {
            named.push(strip(&self.regression_metric));
        }
        named
            .into_iter()
            .find(|m| !known.contains(m))
            .map(|m| (m, known))
    }

    /// Each gate's result on `metrics` (keys without the split prefix), and the regression gate
    /// against `baseline` (the deployed version's value of the regression metric) when
    /// `max_regression` is set and there is a baseline.
    pub fn check(&self, metrics: &BTreeMap<String, f64>, baseline: Option<f64>) -> Vec<GateResult> {
        let split = format!("{}.", self.validation.split);
        let get = |m: &str| {
            let m = m.strip_prefix(&split).unwrap_or(m);
            metrics.get(m).copied()
        };
        let mut out: Vec<GateResult> = self
            .gates
            .iter()
            .map(|g| {
                let value = get(&g.metric);
                GateResult {
                    name: g.name.clone().unwrap_or_else(|| g.metric.clone()),
                    metric: g.metric.clone(),
                    op: g.op.as_str().into(),
                    threshold: g.threshold,
                    value,
                    passed: value.is_some_and(|v| g.op.holds(v, g.threshold)),
                }
            })
            .collect();
        if let (Some(max), Some(base)) = (self.max_regression, baseline) {
            let m = &self.regression_metric;
            let (op, threshold) = if lower_is_better(m) {
                (Op::Le, base + max)
            } else {
                (Op::Ge, base - max)
            };
            let value = get(m);
            out.push(GateResult {
                name: "max_regression".into(),
                metric: m.clone(),
                op: op.as_str().into(),
                threshold,
                value,
                passed: value.is_some_and(|v| op.holds(v, threshold)),
            });
        }
        out
    }
}

/// The table of gate / value / threshold / pass.
pub fn table(gates: &[GateResult]) -> String {
    let mut s = format!(
        "{:<18} {:<16} {:>12} {:>3} {:>10} {}\n",
        "GATE", "METRIC", "VALUE", "OP", "THRESHOLD", "PASS"
    );
    for g in gates {
        s.push_str(&format!(
            "{:<18} {:<16} {:>12} {:>3} {:>10} {}\n",
            g.name,
            g.metric,
            g.value.map_or("not measured".into(), |v| format!("{v:.4}")),
            g.op,
            format!("{:.4}", g.threshold),
            if g.passed { "yes" } else { "NO" }
        ));
    }
    s.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> DeployConfig {
        DeployConfig::parse(Path::new("configs/deploy.toml"), text).unwrap()
    }

    fn metrics(kv: &[(&str, f64)]) -> BTreeMap<String, f64> {
        kv.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn the_embedded_default_parses_with_the_original_gates() {
        let c = cfg(DEFAULT);
        assert_eq!(c.gates.len(), 2);
        assert_eq!(
            (c.gates[0].metric.as_str(), c.gates[0].op),
            ("accuracy", Op::Gt)
        );
        assert_eq!(c.gates[0].threshold, 0.90);
        assert_eq!(
            (c.gates[1].metric.as_str(), c.gates[1].op),
            ("latency", Op::Lt)
        );
        assert_eq!(c.gates[1].threshold, 0.5);
        assert_eq!(c.max_regression, Some(0.02));
        assert_eq!(c.validation.split, "val");
        assert!(c.unknown_metric(false).is_none());
        assert!(c.unknown_metric(true).is_none());
    }

    #[test]
    fn gates_compare_with_each_operator_and_a_missing_metric_fails() {
        let c = cfg(r#"
[[gate]]
metric = "accuracy"
op = ">"
threshold = 0.9
[[gate]]
metric = "val.cer"
op = "<="
threshold = 0.1
[[gate]]
name = "fast"
metric = "latency"
op = "<"
threshold = 0.5
[[gate]]
metric = "lines_per_s"
op = ">="
threshold = 100.0
"#);
        let r = c.check(
            &metrics(&[("accuracy", 0.9), ("cer", 0.1), ("latency", 0.2)]),
            None,
        );
        let passed: Vec<bool> = r.iter().map(|g| g.passed).collect();
        // 0.9 > 0.9 fails; 0.1 <= 0.1 passes (split prefix stripped); 0.2 < 0.5 passes;
        // lines_per_s was not measured: fails.
        assert_eq!(passed, [false, true, true, false]);
        assert_eq!(r[2].name, "fast");
        assert_eq!(r[3].value, None);
        assert!(!Op::Gt.holds(f64::NAN, 0.0));
    }

    #[test]
    fn regression_gate_follows_the_metric_direction_and_needs_a_baseline() {
        let c = cfg("max_regression = 0.02\n");
        assert!(c.check(&metrics(&[("accuracy", 0.5)]), None).is_empty());
        let r = c.check(&metrics(&[("accuracy", 0.79)]), Some(0.80));
        assert!(r[0].passed && (r[0].threshold - 0.78).abs() < 1e-12 && r[0].op == ">=");
        let r = c.check(&metrics(&[("accuracy", 0.77)]), Some(0.80));
        assert!(!r[0].passed);
        let c = cfg("max_regression = 0.1\nregression_metric = \"latency\"\n");
        let r = c.check(&metrics(&[("latency", 0.35)]), Some(0.3));
        assert!(r[0].passed && r[0].op == "<=");
        let r = c.check(&metrics(&[("latency", 0.45)]), Some(0.3));
        assert!(!r[0].passed);
    }

    #[test]
    fn a_file_without_gates_is_refused() {
        let p = Path::new("configs/deploy.toml");
        for text in ["", "# nothing here\n", "[validation]\nsplit = \"val\"\n"] {
            let e = DeployConfig::parse(p, text).unwrap_err().to_string();
            assert!(e.contains("deploy.toml") && e.contains("no gate"), "{e}");
        }
    }

    #[test]
    fn bad_files_name_the_place_and_the_key() {
        let p = Path::new("configs/deploy.toml");
        let e = DeployConfig::parse(p, "[validation]\nsplit = 3\n").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("deploy.toml:2:"), "{s}");
        assert!(s.contains("split"), "{s}");
        let e = DeployConfig::parse(
            p,
            "[[gate]]\nmetric = \"accuracy\"\nop = \">\"\nthreshold = 0.9\ncolour = 1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("deploy.toml:5:") && e.contains("colour"), "{e}");
        let e = DeployConfig::parse(
            p,
            "[[gate]]\nmetric = \"accuracy\"\nop = \"=>\"\nthreshold = 0.9\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("deploy.toml:3:") && e.contains("=>"), "{e}");
        let c = cfg("[[gate]]\nmetric = \"acuracy\"\nop = \">\"\nthreshold = 0.9\n");
        assert_eq!(c.unknown_metric(false).unwrap().0, "acuracy");
    }
}
