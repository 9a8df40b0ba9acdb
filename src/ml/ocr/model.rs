//! An OCR model as files: `config.json`, `vocab.json`, `model.safetensors`, and for a LoRA
//! adaptation `adapter_config.json` + `adapter.safetensors` on top of its base's files.
//! Loading (shared with the document model in [`crate::ml::bundle`]) checks every tensor's
//! name and shape against the config, so a truncated file or one from another model is a
//! clear error, not a panic.

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};

use super::{Ocr, OcrConfig};
use crate::ml::bundle::{self, Adapters, Family, ModelError, Tensors, bad};
use crate::ml::vocab::Vocab;

/// The OCR family: lab's CTC encoder, adaptable on its attention projections.
pub struct OcrFamily;

impl Family for OcrFamily {
    type Config = OcrConfig;
    type Model = Ocr;
    const WIDENS: bool = false;

    fn build(config: &OcrConfig, vb: VarBuilder) -> candle_core::Result<Ocr> {
        Ocr::new(config, vb)
    }

    fn shapes(config: &OcrConfig) -> candle_core::Result<Vec<(String, Vec<usize>)>> {
        expected_shapes(config)
    }

    fn adapters(
        config: &OcrConfig,
        rank: usize,
        targets: &[String],
        vb: VarBuilder,
    ) -> candle_core::Result<Adapters> {
        crate::ml::losses::lora_adapters(config.layers, config.hidden, rank, targets, vb)
    }

    fn check_targets(targets: &[String]) -> Result<(), String> {
        check_targets(targets)
    }

    fn attach_lora(model: &mut Ocr, adapters: &Adapters, scale: f64) {
        model.attach_lora(adapters, scale);
    }
}

/// The tensor names and shapes a config implies, sorted by name.
pub fn expected_shapes(config: &OcrConfig) -> candle_core::Result<Vec<(String, Vec<usize>)>> {
    let vm = VarMap::new();
    Ocr::new(
        config,
        VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
    )?;
    let data = vm.data().lock().unwrap();
    let mut v: Vec<(String, Vec<usize>)> = data
        .iter()
        .map(|(k, t)| (k.clone(), t.dims().to_vec()))
        .collect();
    v.sort();
    Ok(v)
}

pub fn parse_config(bytes: &[u8]) -> Result<OcrConfig, ModelError> {
    let c: OcrConfig =
        serde_json::from_slice(bytes).map_err(|e| bad("config.json")(e.to_string()))?;
    if c.height < 8 || c.hidden == 0 || c.heads == 0 || c.hidden % c.heads != 0 || c.layers == 0 {
        return Err(bad("config.json")(format!(
            "impossible shape (height {}, hidden {}, heads {}, layers {}): hidden must be a \
             multiple of heads",
            c.height, c.hidden, c.heads, c.layers
        )));
    }
    Ok(c)
}

/// A loaded model: the module, its vocabulary, and its parameter count.
pub struct Loaded {
    pub model: Ocr,
    pub vocab: Vocab,
    pub params: usize,
    /// The base weights by name (what LoRA adapts and `merge` merges into).
    pub tensors: Tensors,
}

/// Builds a model from its files; `adapter` is (adapter_config.json, adapter.safetensors).
pub fn load(
    config_json: &[u8],
    vocab_json: &[u8],
    weights: &[u8],
    adapter: Option<(&[u8], &[u8])>,
) -> Result<Loaded, ModelError> {
    let config = parse_config(config_json)?;
    let vocab = Vocab::from_json(vocab_json).map_err(bad("vocab.json"))?;
    if vocab.size() != config.vocab_size {
        return Err(bad("vocab.json")(format!(
            "{} classes, but config.json says vocab_size {}",
            vocab.size(),
            config.vocab_size
        )));
    }
    let b = bundle::load::<OcrFamily>(&config, weights, adapter)?;
    Ok(Loaded {
        model: b.model,
        vocab,
        params: b.params,
        tensors: b.tensors,
    })
}

/// Checks LoRA target module names.
pub fn check_targets(targets: &[String]) -> Result<(), String> {
    if targets.is_empty() {
        return Err("target_modules is empty: name some of query, key, value".into());
    }
    for t in targets {
        if !["query", "key", "value"].contains(&t.as_str()) {
            return Err(format!(
                "unknown target module `{t}`: the OCR model's adaptable modules are query, key, value"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::train::vars_to_safetensors;

    fn files(c: &OcrConfig) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let vm = VarMap::new();
        Ocr::new(c, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
        crate::ml::init::seeded_init(&vm, 1).unwrap();
        let vocab = Vocab::from_texts(["abcdefg"]);
        (
            serde_json::to_vec(c).unwrap(),
            vocab.to_json(),
            vars_to_safetensors(&vm).unwrap(),
        )
    }

    fn cfg(hidden: usize) -> OcrConfig {
        OcrConfig {
            height: 32,
            stem: 8,
            hidden,
            layers: 1,
            heads: 2,
            ff: 8,
            local: 0,
            alibi: false,
            vocab_size: 8,
        }
    }

    #[test]
    fn loads_its_own_files_and_names_what_is_wrong() {
        let (c, v, w) = files(&cfg(8));
        let m = load(&c, &v, &w, None).unwrap();
        assert!(m.params > 0);
        // Truncated weights.
        let e = load(&c, &v, &w[..w.len() / 2], None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("model.safetensors"), "{e}");
        // Weights of another shape.
        let (_, _, other) = files(&cfg(16));
        let e = load(&c, &v, &other, None).err().unwrap().to_string();
        assert!(
            e.contains("has shape") && e.contains("model.safetensors"),
            "{e}"
        );
        // A config that is not JSON, a vocabulary of the wrong size.
        let e = load(b"{", &v, &w, None).err().unwrap().to_string();
        assert!(e.starts_with("config.json"), "{e}");
        let e = load(&c, &Vocab::from_texts(["ab"]).to_json(), &w, None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("vocab_size"), "{e}");
    }
}
