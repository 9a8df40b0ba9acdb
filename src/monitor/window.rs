//! What a rule measures over a window of recorded inferences and feedback, and the per-feature
//! drift of a window against a reference. Pure: the records come in, numbers come out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::stats::{self, Ks, Level};
use crate::event::{FeedbackRecord, InferenceRecord};

/// A metric's value over a window and how many samples it rests on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measured {
    /// `None` when there was nothing to measure.
    pub value: Option<f64>,
    pub samples: usize,
}

/// The inputs a reference snapshot shows the model: per feature, every value, sorted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub features: BTreeMap<String, Vec<f64>>,
    /// How many images.
    pub samples: usize,
}

impl Reference {
    /// Builds a reference from each image's features (the values get sorted).
    pub fn from_rows(rows: &[BTreeMap<String, f64>]) -> Reference {
        let mut features: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for r in rows {
            for (k, v) in r {
                features.entry(k.clone()).or_default().push(*v);
            }
        }
        for v in features.values_mut() {
            v.sort_by(f64::total_cmp);
        }
        Reference {
            features,
            samples: rows.len(),
        }
    }
}

/// One feature's drift.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FeatureDrift {
    pub feature: String,
    pub psi: f64,
    pub level: Level,
    pub ks: Ks,
    /// Mean of the reference and of the window, to show which way it moved.
    pub reference_mean: f64,
    pub current_mean: f64,
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Each reference feature's PSI and KS test of `records` against `reference` (features the
/// records lack are skipped; records are not all required to carry every feature).
pub fn drift(reference: &Reference, records: &[&InferenceRecord]) -> Vec<FeatureDrift> {
    let mut out = Vec::new();
    for (name, ref_values) in &reference.features {
        let current: Vec<f64> = records
            .iter()
            .filter_map(|r| r.features.get(name).copied())
            .filter(|v| v.is_finite())
            .collect();
        if current.is_empty() || ref_values.is_empty() {
            continue;
        }
        let psi = stats::psi(ref_values, &current);
        let ks = stats::ks(ref_values, &stats::sorted(&current));
        out.push(FeatureDrift {
            feature: name.clone(),
            psi,
            level: Level::of_psi(psi),
            ks,
            reference_mean: mean(ref_values),
            current_mean: mean(&current),
        });
    }
    out
}

/// The largest PSI of a drift table.
pub fn max_psi(table: &[FeatureDrift]) -> Option<f64> {
    table.iter().map(|f| f.psi).reduce(f64::max)
}

/// Latency in seconds: `latency_p95`, `latency_p50` or `latency_mean`.
pub fn latency(metric: &str, records: &[&InferenceRecord]) -> Measured {
    let secs: Vec<f64> = records.iter().map(|r| r.latency_us as f64 / 1e6).collect();
    let value = if secs.is_empty() {
        None
    } else {
        Some(match metric {
            "latency_p50" => stats::percentile(&secs, 0.5),
            "latency_mean" => mean(&secs),
            _ => stats::percentile(&secs, 0.95),
        })
    };
    Measured {
        value,
        samples: secs.len(),
    }
}

/// Mean confidence of the records that report one.
pub fn confidence(records: &[&InferenceRecord]) -> Measured {
    let c: Vec<f64> = records.iter().filter_map(|r| r.confidence).collect();
    Measured {
        value: (!c.is_empty()).then(|| mean(&c)),
        samples: c.len(),
    }
}

/// The share of correct answers, one per request id: the last feedback given for an answer
/// counts (a correction replaces the first, as in `lab ab results`). `feedback` is in time
/// order.
pub fn accuracy(feedback: &[&FeedbackRecord]) -> Measured {
    let mut last = std::collections::HashMap::new();
    for f in feedback {
        last.insert(f.request_id.as_str(), f.correct);
    }
    let n = last.len();
    let ok = last.values().filter(|c| **c).count();
    Measured {
        value: (n > 0).then(|| ok as f64 / n as f64),
        samples: n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(latency_ms: u64, brightness: f64, confidence: Option<f64>) -> InferenceRecord {
        InferenceRecord {
            request_id: "r".into(),
            model: "ocr".into(),
            version: 1,
            arm: None,
            time_ms: 0,
            latency_us: latency_ms * 1000,
            features: [("brightness".to_string(), brightness)].into(),
            confidence,
        }
    }

    #[test]
    fn latency_confidence_and_accuracy_over_a_window() {
        let rs: Vec<InferenceRecord> = (1..=20)
            .map(|i| rec(i * 10, 0.5, (i % 2 == 0).then_some(0.8)))
            .collect();
        let refs: Vec<&InferenceRecord> = rs.iter().collect();
        let p95 = latency("latency_p95", &refs);
        // numpy.quantile([0.01 … 0.20], 0.95) = 0.1905
        assert!((p95.value.unwrap() - 0.1905).abs() < 1e-12);
        assert_eq!(p95.samples, 20);
        assert!((latency("latency_mean", &refs).value.unwrap() - 0.105).abs() < 1e-12);
        let c = confidence(&refs);
        assert!(
            (c.value.unwrap() - 0.8).abs() < 1e-12 && c.samples == 10,
            "{c:?}"
        );
        assert_eq!(latency("latency_p95", &[]).value, None);
        let fb = |id: &str, correct| FeedbackRecord {
            request_id: id.into(),
            model: "ocr".into(),
            version: 1,
            arm: None,
            time_ms: 0,
            prediction: "a".into(),
            truth: "b".into(),
            correct,
        };
        let f = [fb("1", true), fb("2", true), fb("3", false), fb("4", true)];
        let a = accuracy(&f.iter().collect::<Vec<_>>());
        assert_eq!((a.value, a.samples), (Some(0.75), 4));
        // Feedback twice for one answer counts once, the last one.
        let f = [fb("1", true), fb("2", true), fb("1", false), fb("2", true)];
        let a = accuracy(&f.iter().collect::<Vec<_>>());
        assert_eq!((a.value, a.samples), (Some(0.5), 2));
    }

    #[test]
    fn drift_of_a_window_against_a_reference() {
        let rows: Vec<BTreeMap<String, f64>> = (0..200)
            .map(|i| [("brightness".to_string(), 0.5 + (i % 20) as f64 / 100.0)].into())
            .collect();
        let reference = Reference::from_rows(&rows);
        assert_eq!(reference.samples, 200);
        let same: Vec<InferenceRecord> = (0..100)
            .map(|i| rec(1, 0.5 + (i % 20) as f64 / 100.0, None))
            .collect();
        let t = drift(&reference, &same.iter().collect::<Vec<_>>());
        assert_eq!(t.len(), 1);
        assert!(
            t[0].psi < 1e-9 && t[0].level == Level::None && !t[0].ks.drifted(),
            "{t:?}"
        );
        let darker: Vec<InferenceRecord> = (0..100)
            .map(|i| rec(1, 0.3 + (i % 20) as f64 / 100.0, None))
            .collect();
        let t = drift(&reference, &darker.iter().collect::<Vec<_>>());
        assert!(
            t[0].level == Level::Significant && t[0].ks.drifted(),
            "{t:?}"
        );
        assert!(t[0].current_mean < t[0].reference_mean);
        assert_eq!(max_psi(&t), Some(t[0].psi));
        assert!(drift(&reference, &[]).is_empty());
    }
}
