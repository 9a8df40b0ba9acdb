//! `configs/monitoring.toml`: the alert rules and the drift reference, parsed strictly (a
//! wrong type or an unknown key is `file:line:col` with the key named; values the types cannot
//! check — a window, a threshold, a metric name — are checked after parsing, naming the key).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::project::ProjectError;

/// The embedded default, written into `configs/` by `lab init`.
pub const DEFAULT: &str = include_str!("../../configs/monitoring.toml");
pub const FILE: &str = "monitoring.toml";

/// The metrics a rule can watch.
pub const METRICS: [&str; 6] = [
    "accuracy",
    "latency_p95",
    "latency_p50",
    "latency_mean",
    "confidence",
    "drift",
];

/// When a rule fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Condition {
    /// The metric is above the threshold.
    Above,
    /// The metric is below the threshold.
    Below,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Above => "above",
            Condition::Below => "below",
        }
    }

    /// Whether `value` fires against `threshold` (never for NaN).
    pub fn fires(self, value: f64, threshold: f64) -> bool {
        match self {
            Condition::Above => value > threshold,
            Condition::Below => value < threshold,
        }
    }
}

/// One `[rules.NAME]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub metric: String,
    pub condition: Condition,
    pub threshold: f64,
    /// A humantime duration (`15m`, `1h`).
    pub window: String,
    #[serde(default = "default_min_samples")]
    pub min_samples: usize,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub on_alert: Option<String>,
    #[serde(default)]
    pub on_resolve: Option<String>,
}

fn default_min_samples() -> usize {
    1
}

/// `[drift]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Drift {
    /// A dataset name (its latest snapshot), `NAME@N`, or a manifest hash prefix.
    pub reference: Option<String>,
    pub split: String,
}

impl Default for Drift {
    fn default() -> Self {
        Drift {
            reference: None,
            split: "train".into(),
        }
    }
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    #[serde(default)]
    pub drift: Drift,
    #[serde(default)]
    pub rules: BTreeMap<String, Rule>,
}

impl Rule {
    /// The window as a duration (checked by [`MonitoringConfig::parse`]).
    pub fn window(&self) -> Duration {
        parse_window(&self.window).unwrap_or(Duration::ZERO)
    }

    /// The window in milliseconds.
    pub fn window_ms(&self) -> i64 {
        self.window().as_millis().min(i64::MAX as u128) as i64
    }
}

/// Parses a window (`30s`, `15m`, `1h`, `2days`) that must be longer than zero.
pub fn parse_window(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("bad window `{s}` ({e}): use a duration like 30s, 15m, 1h, 2days"))?;
    if d.is_zero() {
        return Err(format!("bad window `{s}`: it must be longer than zero"));
    }
    Ok(d)
}

impl MonitoringConfig {
    /// Parses `text` (from `path`, for messages) and checks what the types cannot.
    pub fn parse(path: &Path, text: &str) -> Result<MonitoringConfig, ProjectError> {
        let c: MonitoringConfig = crate::project::parse_toml(path, text)?;
        let bad = |key: String, message: String| {
            use crate::project::spans::{Seg, locate};
            // `rules.NAME.KEY` (NAME may hold dots) or `drift.KEY`.
            let segs: Vec<Seg> = match key.strip_prefix("rules.").and_then(|r| r.rsplit_once('.')) {
                Some((name, leaf)) => vec![Seg::Key("rules"), Seg::Key(name), Seg::Key(leaf)],
                None => key.split('.').map(Seg::Key).collect(),
            };
            let (line, column) = locate(text, &segs).unwrap_or((1, 1));
            ProjectError::Config {
                path: path.to_path_buf(),
                line,
                column,
                message: format!("key `{key}`: {message}"),
            }
        };
        if c.drift.split.trim().is_empty() {
            return Err(bad("drift.split".into(), "must not be empty".into()));
        }
        for (name, r) in &c.rules {
            let key = |k: &str| format!("rules.{name}.{k}");
            if !METRICS.contains(&r.metric.as_str()) {
                return Err(bad(
                    key("metric"),
                    format!(
                        "unknown metric `{}` — one of {}",
                        r.metric,
                        METRICS.join(", ")
                    ),
                ));
            }
            if !r.threshold.is_finite() {
                return Err(bad(key("threshold"), "must be a finite number".into()));
            }
            parse_window(&r.window).map_err(|m| bad(key("window"), m))?;
            for (k, cmd) in [("on_alert", &r.on_alert), ("on_resolve", &r.on_resolve)] {
                if cmd.as_deref().is_some_and(|c| c.trim().is_empty()) {
                    return Err(bad(
                        key(k),
                        "is empty: remove the key or give a command".into(),
                    ));
                }
            }
        }
        Ok(c)
    }

    /// The longest window of any rule (zero without rules).
    pub fn longest_window_ms(&self) -> i64 {
        self.rules.values().map(Rule::window_ms).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MonitoringConfig, String> {
        MonitoringConfig::parse(Path::new("configs/monitoring.toml"), text)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_default_has_the_original_rules() {
        let c = parse(DEFAULT).unwrap();
        let r = &c.rules["accuracy_drop"];
        assert_eq!(
            (r.metric.as_str(), r.condition, r.threshold),
            ("accuracy", Condition::Below, 0.90)
        );
        let r = &c.rules["latency_increase"];
        assert_eq!(
            (r.metric.as_str(), r.condition, r.threshold),
            ("latency_p95", Condition::Above, 0.5)
        );
        let r = &c.rules["drift_detected"];
        assert_eq!(
            (r.metric.as_str(), r.condition, r.threshold),
            ("drift", Condition::Above, 0.1)
        );
        assert_eq!(r.window(), Duration::from_secs(3600));
        assert_eq!(c.drift.reference.as_deref(), Some("timetables"));
        assert_eq!(c.longest_window_ms(), 3_600_000);
    }

    #[test]
    fn bad_files_name_the_file_line_and_key() {
        let e = parse("[drift]\nreference = \"t\"\nsplitt = \"val\"\n").unwrap_err();
        assert!(
            e.contains("monitoring.toml:3:") && e.contains("splitt"),
            "{e}"
        );
        let rule = |extra: &str| {
            format!(
                "[rules.r]\nmetric = \"drift\"\ncondition = \"above\"\nthreshold = 0.1\nwindow = \"1h\"\n{extra}"
            )
        };
        let e = parse(&rule("colour = 1\n")).unwrap_err();
        assert!(
            e.contains("monitoring.toml:6:") && e.contains("colour"),
            "{e}"
        );
        let e = parse(&rule("").replace("\"1h\"", "\"soon\"")).unwrap_err();
        assert!(
            e.contains("monitoring.toml:5:1:")
                && e.contains("rules.r.window")
                && e.contains("soon"),
            "{e}"
        );
        let e = parse(&rule("").replace("\"drift\"", "\"drfit\"")).unwrap_err();
        assert!(
            e.contains("monitoring.toml:2:1:") && e.contains("drfit") && e.contains("latency_p95"),
            "{e}"
        );
        let e = parse(&rule("").replace("\"above\"", "\"over\"")).unwrap_err();
        assert!(e.contains(":3:13:") && e.contains("over"), "{e}");
        let e = parse(&rule("  on_alert = \" \"\n")).unwrap_err();
        assert!(
            e.contains("monitoring.toml:6:3:") && e.contains("on_alert"),
            "{e}"
        );
        // A rule name with a dot, an inline table: located by the parser, not by scanning.
        let e = parse(
            "[rules]\n\"a.b\" = { metric = \"drift\", condition = \"above\", threshold = 0.1, window = \"x\" }\n",
        )
        .unwrap_err();
        assert!(
            e.contains("monitoring.toml:2:67:") && e.contains("rules.a.b.window"),
            "{e}"
        );
        assert!(parse(&rule("").replace("\"1h\"", "\"0s\"")).is_err());
    }

    #[test]
    fn conditions_fire_strictly_and_never_on_nan() {
        assert!(Condition::Above.fires(0.2, 0.1));
        assert!(!Condition::Above.fires(0.1, 0.1));
        assert!(Condition::Below.fires(0.8, 0.9));
        assert!(!Condition::Below.fires(f64::NAN, 0.9));
        assert_eq!(parse_window("90s").unwrap(), Duration::from_secs(90));
    }
}
