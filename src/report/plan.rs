//! Which charts a report draws: the curves of a run (known training metrics grouped, any other
//! key alone) and the bars of a model comparison.

use std::collections::BTreeSet;

use super::bars::{Bar, BarChart};
use super::charts::{self, LineChart, Mark, Series};
use super::{Group, RunData, file_stem};

/// One chart of a run: which metric keys, drawn how.
struct RunChart {
    file: String,
    title: String,
    y_desc: String,
    keys: Vec<(&'static str, Mark)>,
    y_include: Option<(f64, f64)>,
    log_y_above: Option<f64>,
    /// Draw dense per-step series as a moving average over the pale raw values.
    smooth: bool,
}

/// The charts of a run: the known training metrics grouped (loss, validation, lr, throughput),
/// then one chart per other key (metrics of external commands).
pub fn run_charts(r: &RunData) -> Vec<(String, LineChart)> {
    let known: Vec<RunChart> = vec![
        RunChart {
            file: "loss".into(),
            title: "Loss".into(),
            y_desc: "loss".into(),
            keys: vec![
                ("train_loss", Mark::Line),
                ("epoch_train_loss", Mark::Dots),
                ("val_loss", Mark::Dots),
            ],
            y_include: None,
            log_y_above: Some(20.0),
            smooth: true,
        },
        RunChart {
            file: "val".into(),
            title: "Validation metrics per epoch".into(),
            y_desc: "value (0–1)".into(),
            keys: vec![
                ("val_accuracy", Mark::Dots),
                ("val_cer", Mark::Dots),
                ("val_char_f1", Mark::Dots),
            ],
            y_include: Some((0.0, 1.0)),
            log_y_above: None,
            smooth: false,
        },
        RunChart {
            file: "lr".into(),
            title: "Learning rate".into(),
            y_desc: "learning rate".into(),
            keys: vec![("lr", Mark::Line)],
            y_include: None,
            log_y_above: None,
            smooth: false,
        },
        RunChart {
            file: "throughput".into(),
            title: "Throughput".into(),
            y_desc: "samples / s".into(),
            keys: vec![("samples_per_s", Mark::Line)],
            y_include: Some((0.0, 0.0)),
            log_y_above: None,
            smooth: true,
        },
    ];
    let points = |key: &str| -> Vec<(f64, f64)> {
        r.series
            .get(key)
            .map(|s| s.iter().map(|p| (p.step as f64, p.value)).collect())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    let mut used = BTreeSet::new();
    for c in known {
        let present: Vec<&(&str, Mark)> = c
            .keys
            .iter()
            .filter(|(k, _)| r.series.contains_key(*k))
            .collect();
        if present.is_empty() {
            continue;
        }
        let mut series = Vec::new();
        for (k, m) in present {
            used.insert(*k);
            let pts = points(k);
            // A noisy per-step series: pale raw values under a moving average.
            if *m == Mark::Line && c.smooth && pts.len() > 60 {
                let window = (pts.len() / 40).clamp(5, 200) | 1;
                series.push(Series {
                    label: format!("{k} (moving average, {window} steps)"),
                    points: charts::smooth(&pts, window),
                    mark: Mark::Line,
                });
                series.push(Series {
                    label: format!("{k} (per step)"),
                    points: pts,
                    mark: Mark::Faint,
                });
            } else {
                series.push(Series {
                    label: k.to_string(),
                    points: pts,
                    mark: *m,
                });
            }
        }
        out.push((
            format!("{}.png", c.file),
            LineChart {
                title: c.title,
                x_desc: "step".into(),
                y_desc: c.y_desc,
                series,
                y_include: c.y_include,
                log_y_above: c.log_y_above,
            },
        ));
    }
    for (i, key) in r
        .series
        .keys()
        .filter(|k| !used.contains(k.as_str()))
        .enumerate()
    {
        let pts = points(key);
        let mark = if pts.len() <= 50 {
            Mark::Dots
        } else {
            Mark::Line
        };
        out.push((
            format!("metric-{:02}-{}.png", i + 1, file_stem(key)),
            LineChart {
                title: key.clone(),
                x_desc: "step".into(),
                y_desc: key.clone(),
                series: vec![Series {
                    label: key.clone(),
                    points: pts,
                    mark,
                }],
                y_include: None,
                log_y_above: None,
            },
        ));
    }
    out
}

/// The comparison charts of one group: (file name, chart).
pub fn group_charts(i: usize, g: &Group) -> Vec<(String, BarChart)> {
    let stem = format!(
        "{:02}-{}-{}",
        i + 1,
        file_stem(&g.dataset_label.replace('@', "-")),
        file_stem(&g.split)
    );
    let title_of = |what: &str| format!("{what} · {} · {}", g.dataset_label, g.split);
    let specs: [(&str, &str, String, usize, Option<f64>); 5] = [
        (
            "accuracy",
            "Accuracy",
            "line accuracy (higher is better)".into(),
            3,
            Some(1.0),
        ),
        (
            "cer",
            "CER",
            "character error rate (lower is better)".into(),
            4,
            None,
        ),
        (
            "latency_p50_ms",
            "Latency p50",
            "ms per line, median (lower is better)".into(),
            2,
            None,
        ),
        (
            "entry_f1",
            "Entry F1",
            "extracted entries with all six fields right, F1 (higher is better)".into(),
            4,
            Some(1.0),
        ),
        (
            "field_f1",
            "Field F1",
            "record fields right, micro F1 (higher is better)".into(),
            4,
            Some(1.0),
        ),
    ];
    let mut out = Vec::new();
    for (key, what, x_desc, decimals, x_at_least) in specs {
        let bars: Vec<Bar> = g
            .evals
            .iter()
            // Extraction's latency is per image, not per line: it gets its own chart below.
            .filter(|e| key != "latency_p50_ms" || !e.metrics.contains_key("entry_f1"))
            .filter_map(|e| {
                e.metrics.get(key).map(|v| Bar {
                    label: e.model.clone(),
                    value: *v,
                })
            })
            .collect();
        if bars.is_empty() {
            continue;
        }
        out.push((
            format!("{stem}-{}.png", file_stem(key)),
            BarChart {
                title: title_of(what),
                x_desc,
                bars,
                decimals,
                x_at_least,
            },
        ));
    }
    let per_image: Vec<Bar> = g
        .evals
        .iter()
        .filter(|e| e.metrics.contains_key("entry_f1"))
        .filter_map(|e| {
            e.metrics.get("latency_p50_ms").map(|v| Bar {
                label: e.model.clone(),
                value: *v,
            })
        })
        .collect();
    if !per_image.is_empty() {
        out.push((
            format!("{stem}-latency-per-image.png"),
            BarChart {
                title: title_of("Extraction latency p50"),
                x_desc: "ms per timetable image, median (lower is better)".into(),
                bars: per_image,
                decimals: 0,
                x_at_least: None,
            },
        ));
    }
    // Per-field F1 of the document model and of extraction: one bar per (model, field).
    let fields = ["day", "start", "end", "subject", "room", "teacher"];
    let bars: Vec<Bar> = g
        .evals
        .iter()
        .flat_map(|e| {
            fields.iter().filter_map(move |f| {
                e.metrics.get(&format!("{f}.f1")).map(|v| Bar {
                    label: format!("{} · {f}", e.model),
                    value: *v,
                })
            })
        })
        .collect();
    if !bars.is_empty() {
        out.push((
            format!("{stem}-field-f1-by-field.png"),
            BarChart {
                title: title_of("F1 per field"),
                x_desc: "F1 of each record field (higher is better)".into(),
                bars,
                decimals: 4,
                x_at_least: Some(1.0),
            },
        ));
    }
    out
}
