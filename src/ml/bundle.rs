//! A trained model as files, whatever its family: the weights (`model.safetensors`) checked
//! name by name and shape by shape against the config, and for a LoRA adaptation
//! `adapter_config.json` + `adapter.safetensors` (PEFT names) on top of its base's files.
//! A [`Family`] (the OCR model, the document model) says what its config implies; loading,
//! adapters, merging and the safetensors helpers are written once here, so the rest of lab
//! reads and compares weights without touching candle.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// Weights by name.
pub type Tensors = HashMap<String, Tensor>;

/// LoRA adapters by the prefix of the layer they adapt: (A: r×in, B: out×r).
pub type Adapters = HashMap<String, (Tensor, Tensor)>;

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
    /// A file of the model is unreadable or does not match its config.
    #[error("{file}: {detail}")]
    Bad { file: &'static str, detail: String },
}

/// The error "`file`: detail".
pub fn bad(file: &'static str) -> impl Fn(String) -> ModelError {
    move |detail| ModelError::Bad { file, detail }
}

/// A model family: how its config builds the module, which tensors it implies, and where
/// LoRA adapters go.
pub trait Family {
    type Config;
    type Model;
    /// Whether half-precision weights are widened to f32 (else they are an error).
    const WIDENS: bool;
    /// The module, its weights taken from `vb`.
    fn build(config: &Self::Config, vb: VarBuilder) -> candle_core::Result<Self::Model>;
    /// The tensor names and shapes the config implies, sorted by name.
    fn shapes(config: &Self::Config) -> candle_core::Result<Vec<(String, Vec<usize>)>>;
    /// Adapters of `rank` on `targets` of every layer, taken from `vb`.
    fn adapters(
        config: &Self::Config,
        rank: usize,
        targets: &[String],
        vb: VarBuilder,
    ) -> candle_core::Result<Adapters>;
    /// Checks LoRA target module names.
    fn check_targets(targets: &[String]) -> Result<(), String>;
    /// Attaches adapters scaled by `scale` (alpha / r).
    fn attach_lora(model: &mut Self::Model, adapters: &Adapters, scale: f64);
}

/// A loaded model: the module, its parameter count (adapters included), and its base
/// weights by name (what LoRA adapts and `merge` merges into).
pub struct Bundle<M> {
    pub model: M,
    pub params: usize,
    pub tensors: Tensors,
}

/// Builds a model of family `F` from its weights and, for a LoRA adaptation, `adapter`
/// (adapter_config.json, adapter.safetensors).
pub fn load<F: Family>(
    config: &F::Config,
    weights: &[u8],
    adapter: Option<(&[u8], &[u8])>,
) -> Result<Bundle<F::Model>, ModelError> {
    let want = F::shapes(config).map_err(|e| bad("config.json")(e.to_string()))?;
    let tensors = load_weights::<F>("model.safetensors", weights, &want)?;
    let mut params = count(&want);
    let mut model = F::build(
        config,
        VarBuilder::from_tensors(tensors.clone(), DType::F32, &Device::Cpu),
    )
    .map_err(|e| bad("model.safetensors")(e.to_string()))?;
    if let Some((acfg, aw)) = adapter {
        let a: AdapterConfig =
            serde_json::from_slice(acfg).map_err(|e| bad("adapter_config.json")(e.to_string()))?;
        F::check_targets(&a.target_modules).map_err(bad("adapter_config.json"))?;
        let shapes = adapter_shapes::<F>(config, &a);
        params += count(&shapes);
        let t = load_weights::<F>("adapter.safetensors", aw, &shapes)?;
        F::attach_lora(&mut model, &pairs(&t), a.lora_alpha / a.r as f64);
    }
    Ok(Bundle {
        model,
        params,
        tensors,
    })
}

fn count(shapes: &[(String, Vec<usize>)]) -> usize {
    shapes
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum()
}

/// The adapter tensor names and shapes an adapter config implies for a base config.
pub fn adapter_shapes<F: Family>(
    config: &F::Config,
    a: &AdapterConfig,
) -> Vec<(String, Vec<usize>)> {
    let vm = candle_nn::VarMap::new();
    let ad = F::adapters(
        config,
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

/// Reads safetensors bytes and checks names and shapes against `want`; a family that widens
/// gets the wanted tensors in f32, one that does not gets every tensor and refuses non-f32.
pub fn load_weights<F: Family>(
    file: &'static str,
    bytes: &[u8],
    want: &[(String, Vec<usize>)],
) -> Result<Tensors, ModelError> {
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
            Some(x) if F::WIDENS => {
                let x = x
                    .to_dtype(DType::F32)
                    .map_err(|e| bad(file)(format!("tensor `{name}`: {e}")))?;
                out.insert(name.clone(), x);
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
    Ok(if F::WIDENS { out } else { t })
}

/// Adapter tensors by layer prefix: (A, B).
pub fn pairs(t: &Tensors) -> Adapters {
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

/// Merges adapters into base weights: W + (alpha/r)·B·A for every adapted projection.
pub fn merge(
    base: &Tensors,
    adapters: &Tensors,
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

/// [`merge`] from and to safetensors bytes: the base weights with the adapters of
/// `adapter` (adapter.safetensors) merged in, as model.safetensors.
pub fn merge_bytes(base: &Tensors, adapter: &[u8], a: &AdapterConfig) -> anyhow::Result<Vec<u8>> {
    let adapters = candle_core::safetensors::load_buffer(adapter, &Device::Cpu)?;
    Ok(to_safetensors(merge(base, &adapters, a)?)?)
}

/// Named tensors as safetensors bytes (names sorted; the same weights give the same bytes).
pub fn to_safetensors(mut named: Vec<(String, Tensor)>) -> candle_core::Result<Vec<u8>> {
    named.sort_by(|a, b| a.0.cmp(&b.0));
    safetensors::tensor::serialize(named, None).map_err(|e| candle_core::Error::Msg(e.to_string()))
}

/// Largest absolute difference between same-named tensors of two safetensors files
/// (infinite when a tensor of `a` is missing from `b`).
pub fn max_weight_diff(a: &[u8], b: &[u8]) -> anyhow::Result<f64> {
    let dev = Device::Cpu;
    let a = candle_core::safetensors::load_buffer(a, &dev)?;
    let b = candle_core::safetensors::load_buffer(b, &dev)?;
    let mut worst = 0f64;
    for (k, x) in &a {
        if let Some(y) = b.get(k) {
            let d: f32 = (x - y)?.abs()?.flatten_all()?.max(0)?.to_scalar()?;
            worst = worst.max(d as f64);
        } else {
            return Ok(f64::INFINITY);
        }
    }
    Ok(worst)
}
