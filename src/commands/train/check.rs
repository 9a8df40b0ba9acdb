//! Value checks of a recipe config that serde cannot express: ranges, non-finite numbers
//! (a NaN rate or decay trains a NaN model without a word), and model shapes past what a
//! laptop can hold (a parameter and activation estimate, so that a typo such as
//! `stem = 999999999` is a config error and not an out-of-memory kill). Each message starts
//! with the dotted key, which [`at_key`] turns into `file:line:col` when the file sets it.

use super::config::{DocSection, ModelSection, RecipeConfig};

/// The most parameters a recipe may train: with gradients and two AdamW moments that is
/// 16 bytes each, 1.6 GB at this bound (the shipped models have about a million).
pub const MAX_PARAMS: u64 = 100_000_000;

/// The most activation values one training batch may hold (an estimate: the widest layer per
/// token, per layer, attention scores included). 2^30 floats are 4 GiB.
pub const MAX_ACTIVATIONS: u64 = 1 << 30;

/// The widest text line the OCR model is trained on, in pixels at the model's height, for the
/// activation estimate (timetable lines are narrower).
const LINE_WIDTH_PER_HEIGHT: u64 = 32;

/// A finite number in `[lo, hi]`, with `open_lo` excluding `lo` itself.
fn in_range(key: &str, v: f64, lo: f64, open_lo: bool, hi: f64) -> Result<(), String> {
    let ok = v.is_finite() && v <= hi && if open_lo { v > lo } else { v >= lo };
    if ok {
        return Ok(());
    }
    let l = if open_lo { "(" } else { "[" };
    Err(format!(
        "{key} must be a finite number in {l}{lo}, {hi}], not {v}"
    ))
}

/// At most `max`, at least `min`.
fn dim(key: &str, v: usize, min: usize, max: usize) -> Result<(), String> {
    if v < min || v > max {
        return Err(format!("{key} must be {min}..={max}, not {v}"));
    }
    Ok(())
}

fn human(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.1}G", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1}k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

/// Parameters and activations of an OCR model of shape `m` (estimates, saturating).
pub fn ocr_size(m: &ModelSection, batch: usize) -> (u64, u64) {
    let [height, stem, hidden, layers, ff, b] =
        [m.height, m.stem, m.hidden, m.layers, m.ff, batch].map(|v| v as u64);
    let s = |a: u64, b: u64| a.saturating_mul(b);
    // Patch embedding (height × 4 pixels × 3 → stem), projection, blocks, head (≤ 256 classes).
    let block = s(4, s(hidden, hidden)).saturating_add(s(2, s(hidden, ff)));
    let local = m.local as u64;
    let patch_in = if local > 0 {
        s(height / 4, local)
    } else {
        s(height, 12)
    };
    let params = s(patch_in, stem)
        .saturating_add(s(144, local))
        .saturating_add(s(stem, hidden))
        .saturating_add(s(layers, block))
        .saturating_add(s(hidden, 256));
    let tokens = s(height, LINE_WIDTH_PER_HEIGHT) / 4;
    let per_token = stem.max(ff).max(hidden).saturating_add(tokens);
    let acts = s(s(b, tokens), s(layers.max(1), per_token))
        .saturating_add(s(b, s(height, s(height, LINE_WIDTH_PER_HEIGHT))));
    (params, acts)
}

/// Parameters and activations of a document model of shape `d`.
pub fn doc_size(d: &DocSection, batch: usize) -> (u64, u64) {
    let [h, i, l, v, p, b] = [
        d.hidden_size,
        d.intermediate_size,
        d.num_hidden_layers,
        d.vocab_size,
        d.max_position_embeddings,
        batch,
    ]
    .map(|v| v as u64);
    let s = |a: u64, b: u64| a.saturating_mul(b);
    let block = s(4, s(h, h)).saturating_add(s(3, s(h, i)));
    let params = s(2, s(v, h)).saturating_add(s(l, block));
    let per_token = h
        .max(i)
        .max(v)
        .saturating_add(s(d.num_attention_heads as u64, p));
    let acts = s(s(b, p), s(l.max(1), per_token));
    (params, acts)
}

fn size_ok(section: &str, hint: &str, (params, acts): (u64, u64)) -> Result<(), String> {
    if params > MAX_PARAMS {
        return Err(format!(
            "{section}: this shape has about {} parameters ({}B to train), more than the {} \
             lab trains — make {hint} smaller",
            human(params),
            human(params.saturating_mul(16)),
            human(MAX_PARAMS)
        ));
    }
    if acts > MAX_ACTIVATIONS {
        return Err(format!(
            "{section}: one batch of this shape holds about {} activations ({}B), more than \
             the {} lab allows — make {hint} or train.batch_size smaller",
            human(acts),
            human(acts.saturating_mul(4)),
            human(MAX_ACTIVATIONS)
        ));
    }
    Ok(())
}

/// Value checks serde cannot express; each message starts with the key it names.
pub fn check(c: &RecipeConfig) -> Result<(), String> {
    let t = &c.train;
    if t.epochs == 0 {
        return Err("train.epochs must be at least 1".into());
    }
    if t.batch_size == 0 || t.batch_size > 4096 {
        return Err(format!(
            "train.batch_size must be 1..=4096, not {}",
            t.batch_size
        ));
    }
    if t.learning_rate.is_nan() || t.learning_rate <= 0.0 || t.learning_rate >= 1.0 {
        return Err(format!(
            "train.learning_rate must be in (0, 1), not {}",
            t.learning_rate
        ));
    }
    in_range("train.weight_decay", t.weight_decay, 0.0, false, 1.0)?;
    if !(0.0..=1.0).contains(&t.augment) {
        return Err(format!(
            "train.augment must be in [0, 1], not {}",
            t.augment
        ));
    }
    if t.output.is_empty()
        || t.output.contains(['@', '/', ' '])
        || t.output.chars().any(char::is_control)
        || t.output == "."
        || t.output == ".."
    {
        return Err(format!(
            "train.output `{}` must be a name without @, / or spaces",
            t.output.escape_debug()
        ));
    }
    if let Some(m) = &c.model {
        dim("model.height", m.height, 8, 256)?;
        dim("model.stem", m.stem, 1, 8192)?;
        dim("model.hidden", m.hidden, 1, 8192)?;
        dim("model.layers", m.layers, 1, 64)?;
        dim("model.heads", m.heads, 1, 256)?;
        dim("model.ff", m.ff, 1, 32768)?;
        if m.local > 0 {
            dim("model.local", m.local, 1, 1024)?;
            if m.height % 4 != 0 {
                return Err(format!(
                    "model.height ({}) must be a multiple of 4 with a local stage (model.local = {})",
                    m.height, m.local
                ));
            }
        }
        if m.hidden % m.heads != 0 {
            return Err(format!(
                "model.hidden ({}) must be a multiple of model.heads ({})",
                m.hidden, m.heads
            ));
        }
        size_ok(
            "model",
            "model.stem, hidden, ff or layers",
            ocr_size(m, t.batch_size),
        )?;
    }
    if let Some(d) = &c.distill {
        in_range("distill.temperature", d.temperature, 0.0, true, 100.0)?;
        if !(0.0..=1.0).contains(&d.alpha) {
            return Err(format!("distill.alpha must be in [0, 1], not {}", d.alpha));
        }
    }
    if let Some(d) = &c.doc {
        check_doc(d, t.batch_size)?;
    }
    if let Some(n) = &c.noise {
        if !(0.0..=1.0).contains(&n.open_vocab) {
            return Err(format!(
                "noise.open_vocab must be in [0, 1], not {}",
                n.open_vocab
            ));
        }
        if !(0.0..=0.5).contains(&n.rate) {
            return Err(format!("noise.rate must be in [0, 0.5], not {}", n.rate));
        }
    }
    if c.train.init.is_some() && c.lora.is_some() {
        return Err(
            "train.init: a LoRA recipe trains adapters on its lora.base and starts them from zero \
             — remove train.init, or name the model as lora.base"
                .into(),
        );
    }
    if c.train.init.as_deref() == Some("") {
        return Err("train.init must name a model (NAME, NAME@N, a run id or a built-in base such as `ocr_base`), not \"\"".into());
    }
    if let Some(l) = &c.lora {
        dim("lora.rank", l.rank, 1, 1024)?;
        in_range("lora.alpha", l.alpha, 0.0, true, 65536.0)?;
        if c.noise.is_some() {
            crate::ml::doc::model::check_targets(&l.target_modules)
                .map_err(|e| format!("lora.{e}"))?;
        } else {
            crate::ml::ocr::model::check_targets(&l.target_modules)
                .map_err(|e| format!("lora.{e}"))?;
        }
    }
    Ok(())
}

fn check_doc(d: &DocSection, batch: usize) -> Result<(), String> {
    dim("doc.hidden_size", d.hidden_size, 2, 8192)?;
    dim("doc.intermediate_size", d.intermediate_size, 1, 32768)?;
    dim("doc.num_hidden_layers", d.num_hidden_layers, 1, 64)?;
    dim("doc.num_attention_heads", d.num_attention_heads, 1, 256)?;
    dim("doc.vocab_size", d.vocab_size, 1, 262_144)?;
    dim(
        "doc.max_position_embeddings",
        d.max_position_embeddings,
        32,
        8192,
    )?;
    let kv = d.num_key_value_heads;
    if d.hidden_size % d.num_attention_heads != 0
        || (d.hidden_size / d.num_attention_heads) % 2 != 0
    {
        return Err(format!(
            "doc.hidden_size ({}) must be doc.num_attention_heads ({}) × an even head size",
            d.hidden_size, d.num_attention_heads
        ));
    }
    if kv == 0 || d.num_attention_heads % kv != 0 {
        return Err(format!(
            "doc.num_attention_heads ({}) must be a multiple of doc.num_key_value_heads ({kv})",
            d.num_attention_heads
        ));
    }
    if d.vocab_size < 260 + crate::ml::doc::tok::SPECIALS.len() {
        return Err(format!(
            "doc.vocab_size ({}) must be at least 264: the 256 byte tokens, the specials and some merges",
            d.vocab_size
        ));
    }
    size_ok(
        "doc",
        "doc.hidden_size, intermediate_size, num_hidden_layers or vocab_size",
        doc_size(d, batch),
    )
}

/// `shown:line:col` of the key a check message starts with (`train.weight_decay must…`), when
/// the file `text` sets that key; else `shown`.
pub fn at_key(shown: &str, text: &str, message: &str) -> String {
    let key = message
        .split([' ', ':'])
        .next()
        .unwrap_or("")
        .trim_end_matches(|c: char| !c.is_alphanumeric() && c != '_');
    let Some((section, name)) = key.split_once('.') else {
        return section_at(shown, text, key);
    };
    let mut current = "";
    for (i, line) in text.lines().enumerate() {
        let l = line.trim_start();
        if l.starts_with('[') {
            current = l
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim();
            continue;
        }
        let Some((k, _)) = l.split_once('=') else {
            continue;
        };
        if current == section && k.trim() == name {
            let col = line.len() - l.len() + 1;
            return format!("{shown}:{}:{col}", i + 1);
        }
    }
    shown.to_string()
}

/// `shown:line:1` of the `[section]` header.
fn section_at(shown: &str, text: &str, section: &str) -> String {
    if !section.is_empty() {
        for (i, line) in text.lines().enumerate() {
            if line.trim() == format!("[{section}]") {
                return format!("{shown}:{}:1", i + 1);
            }
        }
    }
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RecipeConfig {
        toml::from_str(text).unwrap()
    }

    const BASE: &str = "[model]\nheight = 32\nstem = 128\nhidden = 128\nlayers = 4\nheads = 4\nff = 384\n\n\
        [train]\ndataset = \"d\"\nepochs = 1\nbatch_size = 32\nlearning_rate = 0.002\noutput = \"m\"\n";

    #[test]
    fn the_shipped_shapes_pass() {
        check(&parse(BASE)).unwrap();
        let (p, _) = ocr_size(&parse(BASE).model.unwrap(), 32);
        assert!(p > 500_000 && p < 2_000_000, "{p}");
        for (_, text) in super::super::config::Recipe::ALL.map(|r| r.default_config()) {
            check(&parse(text)).unwrap_or_else(|e| panic!("{e}\n{text}"));
        }
    }

    #[test]
    fn non_finite_and_absurd_values_name_the_key() {
        let bad = [
            ("weight_decay = nan", "train.weight_decay"),
            ("weight_decay = inf", "train.weight_decay"),
            ("weight_decay = -0.1", "train.weight_decay"),
            ("learning_rate = nan", "train.learning_rate"),
            ("augment = nan", "train.augment"),
        ];
        for (line, key) in bad {
            let text = BASE.replace("[train]\n", &format!("[train]\n{line}\n"));
            let text = if line.starts_with("learning_rate") {
                text.replace("learning_rate = 0.002\n", "")
            } else {
                text
            };
            let e = check(&parse(&text)).unwrap_err();
            assert!(e.starts_with(key), "{line}: {e}");
            assert_eq!(at_key("f.toml", &text, &e), "f.toml:10:1", "{line}: {e}");
        }
        for (from, to, key) in [
            ("stem = 128", "stem = 999999999", "model.stem"),
            ("height = 32", "height = 100000", "model.height"),
            ("ff = 384", "ff = 32768\nhidden = 8192", "model"),
        ] {
            let mut text = BASE.replace(from, to);
            if to.contains("hidden") {
                text = text.replace("hidden = 128\n", "");
            }
            let e = check(&parse(&text)).unwrap_err();
            assert!(e.starts_with(key), "{to}: {e}");
        }
        let big = BASE
            .replace("ff = 384", "ff = 32768")
            .replace("hidden = 128", "hidden = 8192");
        let e = check(&parse(&big)).unwrap_err();
        assert!(e.contains("parameters"), "{e}");
        let wide = BASE.replace("batch_size = 32", "batch_size = 4096");
        let e = check(&parse(&wide)).unwrap_err();
        assert!(e.contains("activations") && e.contains("batch_size"), "{e}");
        assert_eq!(at_key("f.toml", BASE, "model: too big"), "f.toml:1:1");
    }
}
