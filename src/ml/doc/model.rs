//! A document model as files, in the Hugging Face layout: `config.json` (Llama),
//! `tokenizer.json`, `model.safetensors`; a LoRA adaptation adds `adapter_config.json` +
//! `adapter.safetensors` (PEFT names) on top of its base's files. Loading checks every
//! tensor's name and shape against the config; half-precision checkpoints are widened to f32.

use candle_nn::{Init, VarBuilder};

use super::llama::{LORA_TARGETS, Llama, LlamaConfig};
use super::tok::Tok;
use crate::ml::bundle::{self, Adapters, Family, ModelError, Tensors, bad};

/// The document family: a Llama-family decoder, adaptable on any of its projections.
pub struct DocFamily;

impl Family for DocFamily {
    type Config = LlamaConfig;
    type Model = Llama;
    const WIDENS: bool = true;

    fn build(config: &LlamaConfig, vb: VarBuilder) -> candle_core::Result<Llama> {
        Llama::new(config, vb)
    }

    fn shapes(config: &LlamaConfig) -> candle_core::Result<Vec<(String, Vec<usize>)>> {
        Ok(config.shapes())
    }

    fn adapters(
        config: &LlamaConfig,
        rank: usize,
        targets: &[String],
        vb: VarBuilder,
    ) -> candle_core::Result<Adapters> {
        lora_adapters(config, rank, targets, vb)
    }

    fn check_targets(targets: &[String]) -> Result<(), String> {
        check_targets(targets)
    }

    fn attach_lora(model: &mut Llama, adapters: &Adapters, scale: f64) {
        model.attach_lora(adapters, scale);
    }
}

/// A loaded document model.
pub struct Loaded {
    pub model: Llama,
    pub tok: Tok,
    pub config: LlamaConfig,
    pub params: usize,
    /// The base weights by name (what LoRA adapts).
    pub tensors: Tensors,
}

pub fn parse_config(bytes: &[u8]) -> Result<LlamaConfig, ModelError> {
    let c: LlamaConfig =
        serde_json::from_slice(bytes).map_err(|e| bad("config.json")(e.to_string()))?;
    c.check().map_err(bad("config.json"))?;
    Ok(c)
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
    let b = bundle::load::<DocFamily>(&config, weights, adapter)?;
    Ok(Loaded {
        model: b.model,
        tok,
        config,
        params: b.params,
        tensors: b.tensors,
    })
}

/// LoRA adapters (A: r×in, B: out×r, B zero) for `targets` of every layer, named
/// `model.layers.{i}.{self_attn|mlp}.{target}.lora_{a|b}`.
pub fn lora_adapters(
    c: &LlamaConfig,
    rank: usize,
    targets: &[String],
    vb: VarBuilder,
) -> candle_core::Result<Adapters> {
    let (h, f) = (c.hidden_size, c.intermediate_size);
    let kvd = c.kv_heads() * c.head_dim();
    let mut out = Adapters::new();
    for i in 0..c.num_hidden_layers {
        for t in targets {
            let (group, inp, outd) = match t.as_str() {
                "q_proj" | "o_proj" => ("self_attn", h, h),
                "k_proj" | "v_proj" => ("self_attn", h, kvd),
                "gate_proj" | "up_proj" => ("mlp", h, f),
                "down_proj" => ("mlp", f, h),
                _ => continue,
            };
            let name = format!("model.layers.{i}.{group}.{t}");
            let p = vb.pp(&name);
            let a = p.get_with_hints((rank, inp), "lora_a", Init::Const(0.0))?;
            let b = p.get_with_hints((outd, rank), "lora_b", Init::Const(0.0))?;
            out.insert(name, (a, b));
        }
    }
    Ok(out)
}

/// Checks LoRA target names against a Llama layer's projections.
pub fn check_targets(targets: &[String]) -> Result<(), String> {
    if targets.is_empty() {
        return Err("target_modules is empty".into());
    }
    for t in targets {
        if !LORA_TARGETS.contains(&t.as_str()) {
            return Err(format!(
                "target_modules: `{t}` is not one of {}",
                LORA_TARGETS.join(", ")
            ));
        }
    }
    Ok(())
}
