//! A document model as files, in the Hugging Face layout: `config.json` (Llama),
//! `tokenizer.json`, `model.safetensors`; a LoRA adaptation adds `adapter_config.json` +
//! `adapter.safetensors` (PEFT names) on top of its base's files. Loading checks every
//! tensor's name and shape against the config; half-precision checkpoints are widened to f32.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::llama::{Llama, LlamaConfig};
use super::tok::Tok;
use super::train::{check_targets, lora_adapters};
use crate::ml::ocr_model::{AdapterConfig, ModelError, pairs};

fn bad(file: &'static str) -> impl Fn(String) -> ModelError {
    move |detail| ModelError::Bad { file, detail }
}

/// A loaded document model.
pub struct Loaded {
    pub model: Llama,
    pub tok: Tok,
    pub config: LlamaConfig,
    pub params: usize,
    /// The base weights by name (what LoRA adapts).
    pub tensors: HashMap<String, Tensor>,
}

pub fn parse_config(bytes: &[u8]) -> Result<LlamaConfig, ModelError> {
    let c: LlamaConfig =
        serde_json::from_slice(bytes).map_err(|e| bad("config.json")(e.to_string()))?;
    c.check().map_err(bad("config.json"))?;
    Ok(c)
}

/// Reads safetensors bytes (any float type, widened to f32) and checks names and shapes.
pub fn load_weights(
    file: &'static str,
    bytes: &[u8],
    want: &[(String, Vec<usize>)],
) -> Result<HashMap<String, Tensor>, ModelError> {
    let t = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
        .map_err(|e| bad(file)(format!("not a readable safetensors file ({e})")))?;
    let mut out = HashMap::new();
    for (name, shape) in want {
        match t.get(name) {
            None => return Err(bad(file)(format!("tensor `{name}` is missing"))),
            Some(x) if x.dims() != shape.as_slice() => {
                return Err(bad(file)(format!(
                    "tensor `{name}` has shape {:?}, config.json needs {shape:?}",
                    x.dims()
                )));
            }
            Some(x) => {
                let x = x
                    .to_dtype(DType::F32)
                    .map_err(|e| bad(file)(format!("tensor `{name}`: {e}")))?;
                out.insert(name.clone(), x);
            }
        }
    }
    Ok(out)
}

/// Adapter tensor names and shapes for a base config.
pub fn adapter_shapes(c: &LlamaConfig, a: &AdapterConfig) -> Vec<(String, Vec<usize>)> {
    let vm = candle_nn::VarMap::new();
    let ad = lora_adapters(
        c,
        a.r,
        &a.target_modules,
        VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
    )
    .unwrap_or_default();
    let mut v: Vec<(String, Vec<usize>)> = ad
        .iter()
        .flat_map(|(k, (x, y))| {
            [
                (format!("{k}.lora_a"), x.dims().to_vec()),
                (format!("{k}.lora_b"), y.dims().to_vec()),
            ]
        })
        .collect();
    v.sort();
    v
}

/// Builds a model from its files; `adapter` is (adapter_config.json, adapter.safetensors).
pub fn load(
    config_json: &[u8],
    tokenizer_json: &[u8],
    weights: &[u8],
    adapter: Option<(&[u8], &[u8])>,
) -> Result<Loaded, ModelError> {
    let config = parse_config(config_json)?;
    let tok = Tok::from_json(tokenizer_json).map_err(|e| bad("tokenizer.json")(e.to_string()))?;
    if tok.vocab_size() > config.vocab_size {
        return Err(bad("tokenizer.json")(format!(
            "{} tokens, but config.json says vocab_size {}",
            tok.vocab_size(),
            config.vocab_size
        )));
    }
    let want = config.shapes();
    let tensors = load_weights("model.safetensors", weights, &want)?;
    let mut params: usize = want.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
    let mut model = Llama::new(
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
        tok,
        config,
        params,
        tensors,
    })
}
