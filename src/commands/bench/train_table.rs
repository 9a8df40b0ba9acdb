//! The text table of `lab bench train`.

use super::train::{Report, sps};

fn ratio(r: Option<f64>, pass: Option<bool>) -> String {
    match (r, pass) {
        (Some(x), Some(p)) => format!("{x:.2}x {}", if p { "PASS" } else { "FAIL" }),
        _ => "-".into(),
    }
}

pub(super) fn table(r: &Report) -> String {
    let s = &r.spec;
    let mut out = format!(
        "lab bench train: batch {}, {} thread(s), {} kernels; median of {} repetitions × {} \
         steps after {} warm-up step(s); synthetic seeded inputs of the real shapes\n",
        s.batch, s.threads, r.simd, s.reps, s.steps, s.warmup
    );
    for c in &s.cases {
        out.push_str(&match c {
            super::train::Case::Ocr {
                name,
                height,
                width,
                target_len,
                hidden,
                layers,
                ..
            } => format!(
                "  {name}: {height}×{width} px lines ({} steps), CTC targets of {target_len}, hidden {hidden}, {layers} layers\n",
                width / crate::ml::ocr::OcrConfig::WIDTH_STRIDE
            ),
            super::train::Case::Doc {
                name,
                len,
                vocab,
                hidden,
                layers,
                ..
            } => format!(
                "  {name}: {len}-token sequences (answer: second half), vocab {vocab}, hidden {hidden}, {layers} layers\n"
            ),
        });
    }
    out.push('\n');
    let mut t = crate::table::Table::new([
        "CONFIG",
        "PARAMS",
        "LAB TRAIN",
        "TORCH TRAIN",
        "RATIO",
        "LAB FWD",
        "TORCH FWD",
        "RATIO",
    ])
    .right(&[1, 2, 3, 4, 5, 6, 7]);
    for row in &r.rows {
        let opt = |x: Option<f64>| x.map_or("-".into(), sps);
        // The PyTorch model must have exactly lab's parameters; say so where it does not.
        let params = match row.torch_params {
            Some(p) if p != row.params => {
                format!("{} (torch {}!)", super::int(row.params as u64), p)
            }
            _ => super::int(row.params as u64),
        };
        t.row([
            row.config.clone(),
            params,
            sps(row.lab_train),
            opt(row.torch_train),
            ratio(row.train_ratio, row.train_pass),
            sps(row.lab_forward),
            opt(row.torch_forward),
            ratio(row.forward_ratio, row.forward_pass),
        ]);
    }
    out.push_str(&t.render());
    out.push('\n');
    out.push_str("(samples/s; ratio = lab / PyTorch)\n");
    if let (Some(a), Some(b)) = (r.load_before, r.load_after) {
        out.push_str(&format!(
            "1-min load average {a:.2} before, {b:.2} after, on {} cores{}\n",
            r.cores,
            if a >= 1.0 {
                ": other processes were busy, the ratios are noisy (rerun on a quiet machine)"
            } else {
                ""
            }
        ));
    }
    out.push('\n');
    match r.pass {
        None => out.push_str(&format!(
            "comparison with PyTorch skipped: {}",
            r.torch_note
        )),
        Some(pass) => out.push_str(&format!(
            "PyTorch {} ({}); targets: training >= {}x PyTorch, forward >= {}x: {}",
            r.torch_version.as_deref().unwrap_or("?"),
            r.torch_note,
            r.train_target,
            r.forward_target,
            if pass {
                "every target met"
            } else {
                "some targets missed (FAIL)"
            }
        )),
    }
    out
}
