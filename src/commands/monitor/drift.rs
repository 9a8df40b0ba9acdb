//! `lab monitor drift`: the inputs recorded in a window (served or tracked inferences)
//! against a reference snapshot, per model and feature: PSI with its level and the KS test.
//! Each (model, feature) is recorded as a `DriftChecked` event (score = PSI).

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::Serialize;

use super::{Family, family_of, load_config, now_ms, parse_model_filter, reference, window_ms};
use crate::event::{Event, InferenceRecord, fmt_time};
use crate::lab::Lab;
use crate::monitor::stats::{Level, PSI_MODERATE};
use crate::monitor::window::{self, FeatureDrift};
use crate::store::views::Query;

/// One model's drift.
#[derive(Debug, Serialize)]
pub struct ModelDrift {
    pub model: String,
    pub family: Family,
    pub samples: usize,
    pub reference_samples: usize,
    pub features: Vec<FeatureDrift>,
    pub max_psi: f64,
    pub level: Level,
    /// Features whose KS p-value is below 0.05.
    pub ks_drifted: Vec<String>,
    /// The largest PSI is above the threshold.
    pub drifted: bool,
}

#[derive(Debug, Serialize)]
pub struct DriftOut {
    pub reference: String,
    pub split: String,
    pub window: String,
    pub from_ms: i64,
    pub to_ms: i64,
    /// PSI above this is drift (the `drift` rule's threshold in configs/monitoring.toml, else 0.1).
    pub threshold: f64,
    pub models: Vec<ModelDrift>,
    /// Inferences of models the registry does not know (not compared).
    pub skipped: usize,
    pub drifted: bool,
}

/// Compares the inferences recorded in the last `window` (of `model`, a name or `NAME@N`, or
/// every model) with `reference` (default: configs/monitoring.toml's `[drift] reference`).
pub fn drift(
    lab: &Lab,
    reference_ref: Option<&str>,
    model: Option<&str>,
    window: &str,
) -> Result<DriftOut> {
    let win = window_ms("--window", window)?;
    let (cfg_path, cfg) = load_config(lab, None)?;
    let reference_ref = match (reference_ref, cfg.drift.reference.as_deref()) {
        (Some(r), _) | (None, Some(r)) => r.to_string(),
        (None, None) => bail!(
            "no reference: pass --reference SNAPSHOT or set [drift] reference in {}",
            lab.project.display_path(&cfg_path)
        ),
    };
    let threshold = cfg
        .rules
        .values()
        .find(|r| r.metric == "drift")
        .map_or(PSI_MODERATE, |r| r.threshold);
    let to_ms = now_ms()?;
    let from_ms = to_ms.saturating_sub(win);
    let (records, registry) = lab
        .store
        .read_views(|v| Ok((v.inferences_between(from_ms, to_ms)?, v.registry()?)))?;
    let filter = model
        .map(|m| parse_model_filter(&registry, m))
        .transpose()?;
    let records: Vec<&InferenceRecord> = records
        .iter()
        .filter(|r| {
            filter
                .as_ref()
                .is_none_or(|(n, v)| r.model == *n && v.is_none_or(|v| v == r.version))
        })
        .collect();
    if records.is_empty() {
        bail!(
            "no inferences{} recorded in the last {window} (since {}) — serve some (lab serve) or record a batch (lab monitor track DIR), or widen --window",
            model.map(|m| format!(" of {m}")).unwrap_or_default(),
            fmt_time(from_ms * 1_000_000)
        );
    }
    let mut groups: BTreeMap<(String, Family), Vec<&InferenceRecord>> = BTreeMap::new();
    let mut skipped = 0;
    let mut unknown = Vec::new();
    for r in records {
        match family_of(lab, &registry, &r.model, r.version)? {
            Some(f) => groups.entry((r.model.clone(), f)).or_default().push(r),
            None => {
                skipped += 1;
                let label = format!("{}@{}", r.model, r.version);
                if !unknown.contains(&label) {
                    unknown.push(label);
                }
            }
        }
    }
    if groups.is_empty() {
        bail!(
            "the {skipped} inferences in the window are of models the registry does not know ({}) — nothing to compare",
            unknown.join(", ")
        );
    }
    let mut models = Vec::new();
    let mut label = String::new();
    let mut events = Vec::new();
    for ((name, family), recs) in groups {
        let (l, reference) = reference(lab, &reference_ref, family, &cfg.drift.split)?;
        label = l;
        let features = window::drift(&reference, &recs);
        let max_psi = window::max_psi(&features).unwrap_or(0.0);
        for f in &features {
            events.push(Event::DriftChecked {
                model: name.clone(),
                metric: f.feature.clone(),
                score: f.psi,
                threshold,
                drifted: f.psi > threshold,
            });
        }
        models.push(ModelDrift {
            model: name,
            family,
            samples: recs.len(),
            reference_samples: reference.samples,
            ks_drifted: features
                .iter()
                .filter(|f| f.ks.drifted())
                .map(|f| f.feature.clone())
                .collect(),
            level: Level::of_psi(max_psi),
            drifted: max_psi > threshold,
            max_psi,
            features,
        });
    }
    lab.append(events)?;
    Ok(DriftOut {
        reference: label,
        split: cfg.drift.split.clone(),
        window: window.to_string(),
        from_ms,
        to_ms,
        threshold,
        drifted: models.iter().any(|m| m.drifted),
        models,
        skipped,
    })
}

impl DriftOut {
    pub fn text(&self) -> String {
        let mut s = format!(
            "inputs recorded in the last {} (since {}) against {} ({} split)\n",
            self.window,
            fmt_time(self.from_ms * 1_000_000),
            self.reference,
            self.split
        );
        for m in &self.models {
            s.push_str(&format!(
                "\n{} ({} model): {} inferences, reference {} {}\n",
                m.model,
                m.family.as_str(),
                m.samples,
                m.reference_samples,
                match m.family {
                    Family::Ocr => "line images",
                    Family::Document => "timetable images",
                }
            ));
            let mut t = crate::table::Table::new([
                "FEATURE",
                "PSI",
                "PSI_LEVEL",
                "KS_D",
                "KS_P",
                "KS",
                "REF_MEAN",
                "MEAN",
            ])
            .right(&[1, 3, 4, 6, 7]);
            for f in &m.features {
                t.row([
                    f.feature.to_string(),
                    format!("{:.4}", f.psi),
                    f.level.as_str().to_string(),
                    format!("{:.4}", f.ks.statistic),
                    format!("{:.2e}", f.ks.p_value),
                    (if f.ks.drifted() { "differs" } else { "same" }).to_string(),
                    format!("{:.4}", f.reference_mean),
                    format!("{:.4}", f.current_mean),
                ]);
            }
            for line in t.render().lines() {
                s.push_str("  ");
                s.push_str(line);
                s.push('\n');
            }
            let worst = m
                .features
                .iter()
                .max_by(|a, b| a.psi.total_cmp(&b.psi))
                .map(|f| f.feature.as_str())
                .unwrap_or("-");
            s.push_str(&format!(
                "  verdict: {} — max PSI {:.4} ({}) on {worst} {} {}; KS p < 0.05 on {} of {} features\n",
                if m.drifted { "DRIFT" } else { "no drift" },
                m.max_psi,
                m.level.as_str(),
                if m.drifted { ">" } else { "<=" },
                self.threshold,
                m.ks_drifted.len(),
                m.features.len()
            ));
            if m.samples < 100 {
                s.push_str(&format!(
                    "  note: {} inferences are few — PSI over 10 bins is noisy below about 100\n",
                    m.samples
                ));
            }
        }
        if self.skipped > 0 {
            s.push_str(&format!(
                "\n{} inferences of models the registry does not know were not compared\n",
                self.skipped
            ));
        }
        s.push_str(&format!(
            "\noverall: {}",
            if self.drifted { "DRIFT" } else { "no drift" }
        ));
        s
    }
}
