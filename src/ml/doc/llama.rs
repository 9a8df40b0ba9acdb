//! The document model: a decoder-only transformer of the Llama family — RMSNorm, rotary
//! positions (the Hugging Face "rotate half" convention), SwiGLU, grouped-query attention
//! when `num_key_value_heads` < `num_attention_heads` — with the Hugging Face tensor names and
//! `config.json`, so a local Llama checkpoint loads and a trained one exports as is.
//!
//! Built from ops with a backward pass (candle-transformers' Llama does not train: its fused
//! norms and rope have no backward, see ../shared/notes/candle-on-cpu.md). The projections are
//! [`Lin`]s, which can carry LoRA adapters. `forward` serves training (whole sequences),
//! prefill and cached single-token decoding alike.

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

fn d_arch() -> Vec<String> {
    vec!["LlamaForCausalLM".into()]
}
fn d_type() -> String {
    "llama".into()
}
fn d_act() -> String {
    "silu".into()
}
fn d_eps() -> f64 {
    1e-5
}
fn d_theta() -> f64 {
    10000.0
}
fn d_pos() -> usize {
    256
}

/// `config.json` in the Hugging Face Llama layout (unknown fields of real checkpoints are
/// ignored; the ones that change the computation are checked by [`LlamaConfig::check`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    #[serde(default = "d_arch")]
    pub architectures: Vec<String>,
    #[serde(default = "d_type")]
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default = "d_pos")]
    pub max_position_embeddings: usize,
    #[serde(default = "d_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "d_theta")]
    pub rope_theta: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default = "d_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub bos_token_id: Option<serde_json::Value>,
    #[serde(default)]
    pub eos_token_id: Option<serde_json::Value>,
    #[serde(default)]
    pub pad_token_id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<serde_json::Value>,
}

impl LlamaConfig {
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads.max(1)
    }

    /// What this implementation cannot compute, named by key.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.model_type != "llama" {
            return Err(format!(
                "model_type `{}` is not `llama` (a Llama-family checkpoint is needed)",
                self.model_type
            ));
        }
        if self.hidden_act != "silu" {
            return Err(format!(
                "hidden_act `{}`: only `silu` (SwiGLU)",
                self.hidden_act
            ));
        }
        if self.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
            return Err("rope_scaling is not supported".into());
        }
        let (h, n, kv) = (self.hidden_size, self.num_attention_heads, self.kv_heads());
        if n == 0 || h % n != 0 || self.head_dim() % 2 != 0 {
            return Err(format!(
                "hidden_size ({h}) must be num_attention_heads ({n}) × an even head size"
            ));
        }
        if kv == 0 || n % kv != 0 {
            return Err(format!(
                "num_attention_heads ({n}) must be a multiple of num_key_value_heads ({kv})"
            ));
        }
        if self.vocab_size == 0 || self.num_hidden_layers == 0 || self.intermediate_size == 0 {
            return Err("vocab_size, num_hidden_layers and intermediate_size must be ≥ 1".into());
        }
        Ok(())
    }

    /// Every tensor name with its shape.
    pub fn shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (h, f, v) = (self.hidden_size, self.intermediate_size, self.vocab_size);
        let kvd = self.kv_heads() * self.head_dim();
        let mut out = vec![("model.embed_tokens.weight".to_string(), vec![v, h])];
        for i in 0..self.num_hidden_layers {
            let p = format!("model.layers.{i}");
            for (n, s) in [
                ("input_layernorm.weight", vec![h]),
                ("self_attn.q_proj.weight", vec![h, h]),
                ("self_attn.k_proj.weight", vec![kvd, h]),
                ("self_attn.v_proj.weight", vec![kvd, h]),
                ("self_attn.o_proj.weight", vec![h, h]),
                ("post_attention_layernorm.weight", vec![h]),
                ("mlp.gate_proj.weight", vec![f, h]),
                ("mlp.up_proj.weight", vec![f, h]),
                ("mlp.down_proj.weight", vec![h, f]),
            ] {
                out.push((format!("{p}.{n}"), s));
            }
        }
        out.push(("model.norm.weight".into(), vec![h]));
        if !self.tie_word_embeddings {
            out.push(("lm_head.weight".into(), vec![v, h]));
        }
        out
    }
}

/// A projection without bias (Llama has none), optionally with a LoRA adapter:
/// y = xWᵀ + s·(xAᵀ)Bᵀ.
pub struct Lin {
    pub weight: Tensor,
    lora: Option<(Tensor, Tensor, f64)>,
}

fn mm(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let dims = x.dims();
    let inp = *dims.last().unwrap_or(&1);
    let rows = x.elem_count() / inp.max(1);
    let y = x.reshape((rows, inp))?.matmul(&w.t()?)?;
    let mut out = dims.to_vec();
    *out.last_mut().unwrap() = w.dim(0)?;
    y.reshape(out)
}

impl Lin {
    fn new(inp: usize, out: usize, vb: VarBuilder) -> Result<Lin> {
        let bound = 1.0 / (inp as f64).sqrt();
        let weight = vb.get_with_hints(
            (out, inp),
            "weight",
            candle_nn::Init::Uniform {
                lo: -bound,
                up: bound,
            },
        )?;
        Ok(Lin { weight, lora: None })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = mm(x, &self.weight)?;
        match &self.lora {
            None => Ok(y),
            Some((a, b, s)) => y + (mm(&mm(x, a)?, b)? * *s)?,
        }
    }
}

use crate::ml::norms::rms_norm;

struct Layer {
    in_norm: Tensor,
    q: Lin,
    k: Lin,
    v: Lin,
    o: Lin,
    post_norm: Tensor,
    gate: Lin,
    up: Lin,
    down: Lin,
}

/// Keys and values of the positions already seen, per layer: (B, kv_heads, T, head_dim).
#[derive(Default)]
pub struct Cache {
    kv: Vec<(Tensor, Tensor)>,
}

/// The model.
pub struct Llama {
    pub config: LlamaConfig,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    lm_head: Tensor,
    /// cos and sin of every position × head_dim (rotate-half layout).
    rope: (Vec<f32>, Vec<f32>),
}

/// The LoRA target names of a Llama layer.
pub const LORA_TARGETS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

impl Llama {
    pub fn new(config: &LlamaConfig, vb: VarBuilder) -> Result<Llama> {
        let c = config;
        let (h, f) = (c.hidden_size, c.intermediate_size);
        let kvd = c.kv_heads() * c.head_dim();
        let norm = |vb: VarBuilder| vb.get_with_hints(h, "weight", candle_nn::Init::Const(1.0));
        let embed = vb.pp("model.embed_tokens").get_with_hints(
            (c.vocab_size, h),
            "weight",
            candle_nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
        )?;
        let layers = (0..c.num_hidden_layers)
            .map(|i| {
                let p = vb.pp(format!("model.layers.{i}"));
                let a = p.pp("self_attn");
                let m = p.pp("mlp");
                Ok(Layer {
                    in_norm: norm(p.pp("input_layernorm"))?,
                    q: Lin::new(h, h, a.pp("q_proj"))?,
                    k: Lin::new(h, kvd, a.pp("k_proj"))?,
                    v: Lin::new(h, kvd, a.pp("v_proj"))?,
                    o: Lin::new(h, h, a.pp("o_proj"))?,
                    post_norm: norm(p.pp("post_attention_layernorm"))?,
                    gate: Lin::new(h, f, m.pp("gate_proj"))?,
                    up: Lin::new(h, f, m.pp("up_proj"))?,
                    down: Lin::new(f, h, m.pp("down_proj"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let lm_head = if c.tie_word_embeddings {
            embed.clone()
        } else {
            Lin::new(h, c.vocab_size, vb.pp("lm_head"))?.weight
        };
        Ok(Llama {
            config: c.clone(),
            embed,
            layers,
            norm: norm(vb.pp("model.norm"))?,
            lm_head,
            rope: rope_tables(c),
        })
    }

    /// Attaches LoRA adapters: `adapters` maps `model.layers.{i}.{self_attn|mlp}.{target}` to
    /// (A: r×in, B: out×r).
    pub fn attach_lora(
        &mut self,
        adapters: &std::collections::HashMap<String, (Tensor, Tensor)>,
        scale: f64,
    ) {
        for (i, l) in self.layers.iter_mut().enumerate() {
            for (name, p) in [
                ("self_attn.q_proj", &mut l.q),
                ("self_attn.k_proj", &mut l.k),
                ("self_attn.v_proj", &mut l.v),
                ("self_attn.o_proj", &mut l.o),
                ("mlp.gate_proj", &mut l.gate),
                ("mlp.up_proj", &mut l.up),
                ("mlp.down_proj", &mut l.down),
            ] {
                if let Some((a, b)) = adapters.get(&format!("model.layers.{i}.{name}")) {
                    p.lora = Some((a.clone(), b.clone(), scale));
                }
            }
        }
    }

    /// The same model on the same weights, cut from any training graph (PyTorch's
    /// `no_grad`): its forward records nothing for backward, so intermediates are freed as it
    /// goes. Shares the weights' storage.
    pub fn detached(&self) -> Llama {
        let d = |t: &Tensor| t.detach();
        let lin = |l: &Lin| Lin {
            weight: d(&l.weight),
            lora: l.lora.as_ref().map(|(a, b, s)| (d(a), d(b), *s)),
        };
        Llama {
            config: self.config.clone(),
            embed: d(&self.embed),
            layers: self
                .layers
                .iter()
                .map(|l| Layer {
                    in_norm: d(&l.in_norm),
                    q: lin(&l.q),
                    k: lin(&l.k),
                    v: lin(&l.v),
                    o: lin(&l.o),
                    post_norm: d(&l.post_norm),
                    gate: lin(&l.gate),
                    up: lin(&l.up),
                    down: lin(&l.down),
                })
                .collect(),
            norm: d(&self.norm),
            lm_head: d(&self.lm_head),
            rope: self.rope.clone(),
        }
    }

    /// cos and sin tables for `positions` (rows × T × head_dim).
    fn rope_for(&self, positions: &[Vec<usize>]) -> (Vec<f32>, Vec<f32>) {
        let dh = self.config.head_dim();
        let max = self.config.max_position_embeddings;
        let n: usize = positions.iter().map(Vec::len).sum();
        let mut cos = Vec::with_capacity(n * dh);
        let mut sin = Vec::with_capacity(n * dh);
        for row in positions {
            for &p in row {
                let p = p.min(max - 1);
                cos.extend_from_slice(&self.rope.0[p * dh..(p + 1) * dh]);
                sin.extend_from_slice(&self.rope.1[p * dh..(p + 1) * dh]);
            }
        }
        (cos, sin)
    }

    /// Hidden states (B, T, H) after the final norm. `ids` (B, T); `positions` per row (one
    /// row may stand for all: training); `mask` additive, broadcastable to (B, 1, T, T_keys)
    /// where T_keys counts the cached positions too. With `cache`, keys and values are appended
    /// to it.
    pub fn hidden(
        &self,
        ids: &Tensor,
        positions: &[Vec<usize>],
        mask: &Tensor,
        mut cache: Option<&mut Cache>,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (b, t) = ids.dims2()?;
        let (nh, nkv, dh) = (c.num_attention_heads, c.kv_heads(), c.head_dim());
        let mut x =
            self.embed
                .index_select(&ids.flatten_all()?, 0)?
                .reshape((b, t, c.hidden_size))?;
        let (cos, sin) = self.rope_for(positions);
        let rope = |x: &Tensor| -> Result<Tensor> {
            crate::ml::fused::rope(x, cos.clone(), sin.clone(), positions.len())
        };
        if let Some(cache) = cache.as_deref_mut() {
            cache.kv.resize_with(self.layers.len(), || {
                let e = Tensor::zeros((b, nkv, 0, dh), DType::F32, ids.device()).unwrap();
                (e.clone(), e)
            });
        }
        for (i, l) in self.layers.iter().enumerate() {
            let y = rms_norm(&x, &l.in_norm, c.rms_norm_eps)?;
            let heads = |p: &Lin, n: usize| -> Result<Tensor> {
                p.forward(&y)?
                    .reshape((b, t, n, dh))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = rope(&heads(&l.q, nh)?)?;
            let mut k = rope(&heads(&l.k, nkv)?)?;
            let mut v = heads(&l.v, nkv)?;
            if let Some(cache) = cache.as_deref_mut() {
                let (pk, pv) = &cache.kv[i];
                k = Tensor::cat(&[pk, &k], 2)?;
                v = Tensor::cat(&[pv, &v], 2)?;
                cache.kv[i] = (k.clone(), v.clone());
            }
            if nkv != nh {
                let rep = nh / nkv;
                let tk = k.dim(2)?;
                let expand = |x: &Tensor| -> Result<Tensor> {
                    x.unsqueeze(2)?
                        .broadcast_as((b, nkv, rep, tk, dh))?
                        .reshape((b, nh, tk, dh))
                };
                k = expand(&k)?;
                v = expand(&v)?;
            }
            let att = crate::ml::attention::attention_softmax(
                &q.matmul(&k.t()?.contiguous()?)?,
                mask,
                1.0 / (dh as f64).sqrt(),
            )?;
            let ctx = att
                .matmul(&v)?
                .transpose(1, 2)?
                .reshape((b, t, c.hidden_size))?;
            x = (x + l.o.forward(&ctx)?)?;
            let y = rms_norm(&x, &l.post_norm, c.rms_norm_eps)?;
            let g = crate::ml::activations::silu_mul(&l.gate.forward(&y)?, &l.up.forward(&y)?)?;
            let m = l.down.forward(&g)?;
            x = (x + m)?;
        }
        rms_norm(&x, &self.norm, c.rms_norm_eps)
    }

    /// Logits (…, vocab) of hidden states (…, H).
    pub fn logits(&self, h: &Tensor) -> Result<Tensor> {
        mm(h, &self.lm_head)
    }
}

fn rope_tables(c: &LlamaConfig) -> (Vec<f32>, Vec<f32>) {
    let (dh, n) = (c.head_dim(), c.max_position_embeddings.max(1));
    let half = dh / 2;
    let mut cos = vec![0f32; n * dh];
    let mut sin = vec![0f32; n * dh];
    for p in 0..n {
        for i in 0..half {
            let inv = 1.0 / c.rope_theta.powf(2.0 * i as f64 / dh as f64);
            let a = p as f64 * inv;
            for j in [i, i + half] {
                cos[p * dh + j] = a.cos() as f32;
                sin[p * dh + j] = a.sin() as f32;
            }
        }
    }
    (cos, sin)
}

/// The additive causal mask (1, 1, T, T): 0 on and below the diagonal, −1e9 above.
pub fn causal_mask(t: usize, dev: &Device) -> Result<Tensor> {
    let v: Vec<f32> = (0..t)
        .flat_map(|i| (0..t).map(move |j| if j <= i { 0.0 } else { -1e9 }))
        .collect();
    Tensor::from_vec(v, (1, 1, t, t), dev)
}
