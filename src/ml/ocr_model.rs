//! An OCR model as files: `config.json`, `vocab.json`, `model.safetensors`, and for a LoRA
//! adaptation `adapter_config.json` + `adapter.safetensors` on top of its base's files.
//! Loading checks every tensor's name and shape against the config, so a truncated file or
//! one from another model is a clear error, not a panic.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::ocr::{Ocr, OcrConfig};
use super::vocab::Vocab;

/// `adapter_config.json` of a LoRA adaptation (the PEFT field names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterConfig {
    pub r: usize,
    pub lora_alpha: f64,
    pub target_modules: Vec<String>,
}

/// Why model files do not load.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{file}: {detail}")]
    Bad { file: &'static str, detail: String },
}

fn bad(file: &'static str) -> impl Fn(String) -> ModelError {
    move |detail| ModelError::Bad { file, detail }
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

/// Reads safetensors bytes and checks names and shapes against `want`.
pub fn load_weights(
    file: &'static str,
    bytes: &[u8],
    want: &[(String, Vec<usize>)],
) -> Result<HashMap<String, Tensor>, ModelError> {
    let t = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
        .map_err(|e| bad(file)(format!("not a readable safetensors file ({e})")))?;
    for (name, shape) in want {
        match t.get(name) {
            None => return Err(bad(file)(format!("tensor `{name}` is missing"))),
            Some(x) if x.dims() != shape.as_slice() => {
                return Err(bad(file)(format!(
                    "tensor `{name}` has shape {:?}, the config needs {shape:?}",
                    x.dims()
                )));
            }
            Some(x) if x.dtype() != DType::F32 => {
                return Err(bad(file)(format!(
                    "tensor `{name}` is {:?}, not f32",
                    x.dtype()
                )));
            }
            _ => {}
        }
    }
    Ok(t)
}

/// The adapter tensors an adapter config implies for a base config.
pub fn adapter_shapes(config: &OcrConfig, a: &AdapterConfig) -> Vec<(String, Vec<usize>)> {
    let mut v = Vec::new();
    for i in 0..config.layers {
        for t in &a.target_modules {
            let p = format!("encoder.layer{i}.attention.{t}");
            v.push((format!("{p}.lora_a"), vec![a.r, config.hidden]));
            v.push((format!("{p}.lora_b"), vec![config.hidden, a.r]));
        }
    }
    v.sort();
    v
}

/// A loaded model: the module, its vocabulary, and its parameter count.
pub struct Loaded {
    pub model: Ocr,
    pub vocab: Vocab,
    pub params: usize,
    /// The base weights by name (what LoRA adapts and `merge` merges into).
    pub tensors: HashMap<String, Tensor>,
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
    let want = expected_shapes(&config).map_err(|e| bad("config.json")(e.to_string()))?;
    let tensors = load_weights("model.safetensors", weights, &want)?;
    let mut params: usize = want.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
    let mut model = Ocr::new(
        &config,
        VarBuilder::from_tensors(tensors.clone(), DType::F32, &Device::Cpu),
    )
    .map_err(|e| bad("model.safetensors")(e.to_string()))?;
    if let Some((acfg, aw)) = adapter {
        let a: AdapterConfig =
            serde_json::from_slice(acfg).map_err(|e| bad("adapter_config.json")(e.to_string()))?;
        check_targets(&a.target_modules).map_err(bad("adapter_config.json"))?;
        let shapes = adapter_shapes(&config, &a);
        params += shapes
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum::<usize>();
        let t = load_weights("adapter.safetensors", aw, &shapes)?;
        model.attach_lora(&pairs(&t), a.lora_alpha / a.r as f64);
    }
    Ok(Loaded {
        model,
        vocab,
        params,
        tensors,
    })
}

/// Adapter tensors by layer prefix: (A, B).
pub fn pairs(t: &HashMap<String, Tensor>) -> HashMap<String, (Tensor, Tensor)> {
    let mut out = HashMap::new();
    for (k, a) in t {
        if let Some(p) = k.strip_suffix(".lora_a") {
            if let Some(b) = t.get(&format!("{p}.lora_b")) {
                out.insert(p.to_string(), (a.clone(), b.clone()));
            }
        }
    }
    out
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

/// Merges adapters into base weights: W + (alpha/r)·B·A for every adapted projection.
pub fn merge(
    base: &HashMap<String, Tensor>,
    adapters: &HashMap<String, Tensor>,
    a: &AdapterConfig,
) -> candle_core::Result<Vec<(String, Tensor)>> {
    let scale = a.lora_alpha / a.r as f64;
    let p = pairs(adapters);
    let mut out = Vec::new();
    for (k, w) in base {
        let merged = match k.strip_suffix(".weight").and_then(|pre| p.get(pre)) {
            Some((la, lb)) => (w + (lb.matmul(la)? * scale)?)?,
            None => w.clone(),
        };
        out.push((k.clone(), merged));
    }
    out.sort_by(|x, y| x.0.cmp(&y.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::ocr_train::vars_to_safetensors;

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
