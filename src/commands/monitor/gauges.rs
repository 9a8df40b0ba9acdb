//! The monitoring window's figures for `lab serve`'s `/metrics`: accuracy from feedback, mean
//! confidence, and PSI per input feature against the drift reference — each over the window of
//! the configs/monitoring.toml rule that watches it, with the same code as `lab monitor check`
//! and `lab monitor drift` (`monitor::window`, the cached reference features). Reads only;
//! records nothing (a scrape is not a drift check).

use std::collections::BTreeMap;

use anyhow::Result;

use super::{Family, family_of, load_config, reference};
use crate::event::{FeedbackRecord, InferenceRecord};
use crate::lab::Lab;
use crate::monitor::rules::MonitoringConfig;
use crate::monitor::window;
use crate::serve::metrics::{FeaturePsi, WindowGauges, Windowed};
use crate::store::views::Query;

/// The window when no rule watches a figure and there are no rules at all: one hour.
const DEFAULT_WINDOW_MS: i64 = 3_600_000;

/// The window of the first rule on `metric`; else the longest rule's; else an hour.
fn window_of(cfg: &MonitoringConfig, metric: &str) -> i64 {
    cfg.rules
        .values()
        .find(|r| r.metric == metric)
        .map(|r| r.window_ms())
        .unwrap_or_else(|| match cfg.longest_window_ms() {
            0 => DEFAULT_WINDOW_MS,
            w => w,
        })
}

/// The figures of the windows ending at `now_ms`. A figure that cannot be computed (no drift
/// reference configured, a reference snapshot that is gone) is left out with a note saying why.
pub fn window_gauges(lab: &Lab, now_ms: i64) -> Result<WindowGauges> {
    let (_, cfg) = load_config(lab, None)?;
    let (acc_w, conf_w, drift_w) = (
        window_of(&cfg, "accuracy"),
        window_of(&cfg, "confidence"),
        window_of(&cfg, "drift"),
    );
    let from = now_ms.saturating_sub(acc_w.max(conf_w).max(drift_w));
    let (inferences, feedback, registry) = lab.store.read_views(|v| {
        Ok((
            v.inferences_between(from, now_ms)?,
            v.feedback_between(from, now_ms)?,
            v.registry()?,
        ))
    })?;
    let since = |w: i64| now_ms.saturating_sub(w);
    let fb: Vec<&FeedbackRecord> = feedback
        .iter()
        .filter(|f| f.time_ms >= since(acc_w))
        .collect();
    let acc = window::accuracy(&fb);
    let recs = |w: i64| -> Vec<&InferenceRecord> {
        inferences
            .iter()
            .filter(|r| r.time_ms >= since(w))
            .collect()
    };
    let conf = window::confidence(&recs(conf_w));
    let mut out = WindowGauges {
        accuracy: Windowed {
            value: acc.value,
            samples: acc.samples,
            window_s: acc_w as f64 / 1e3,
        },
        confidence: Windowed {
            value: conf.value,
            samples: conf.samples,
            window_s: conf_w as f64 / 1e3,
        },
        drift: Windowed {
            value: None,
            samples: 0,
            window_s: drift_w as f64 / 1e3,
        },
        ..Default::default()
    };
    let drift_recs = recs(drift_w);
    out.drift.samples = drift_recs.len();
    if drift_recs.is_empty() {
        return Ok(out);
    }
    let Some(reference_ref) = cfg.drift.reference.as_deref() else {
        out.notes.push(
            "no PSI: no drift reference — set [drift] reference in configs/monitoring.toml".into(),
        );
        return Ok(out);
    };
    // Per model, as `lab monitor drift` groups them: each against its family's reference.
    let mut groups: BTreeMap<(String, Family), Vec<&InferenceRecord>> = BTreeMap::new();
    for r in drift_recs {
        if let Some(f) = family_of(lab, &registry, &r.model, r.version)? {
            groups.entry((r.model.clone(), f)).or_default().push(r);
        }
    }
    for ((model, family), g) in groups {
        match reference(lab, reference_ref, family, &cfg.drift.split) {
            Ok((label, reference)) => {
                out.reference = label;
                for f in window::drift(&reference, &g) {
                    out.psi.push(FeaturePsi {
                        model: model.clone(),
                        feature: f.feature,
                        psi: f.psi,
                        samples: g.len(),
                    });
                }
            }
            Err(e) => out.notes.push(format!("no PSI for {model}: {e:#}")),
        }
    }
    Ok(out)
}
