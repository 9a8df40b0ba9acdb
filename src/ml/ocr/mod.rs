//! The OCR model: a patch embedding over 32-pixel-high line images (one token per 4-pixel
//! column strip, each token also seeing its neighbours' strips), a pre-norm transformer
//! encoder, and a per-step classifier for CTC. Built only from ops with a backward pass
//! (matmul and lab's fused layer norm, softmax, GELU and log-softmax); the attention's query / key /
//! value projections are `Proj`s, which can carry a LoRA adapter.
//!
//! Measured on a prototype (release, 2 cores shared with other builds, batch 32, one font,
//! clean rendered lines of timetable text — subjects, `Dr. Name`, `Room N`, `09:00–10:30`):
//! - hidden 64, 2 layers (160 k parameters): CTC loss 102 → 0.34 in 300 steps, exact-match
//!   accuracy 0/32 at step 150, 23/32 at step 200, 32/32 from step 250 (≈ 8,000 samples);
//!   40–170 samples/s under load.
//! - A four-block conv2d stem in place of the patch embedding trained ~5× slower (candle's CPU
//!   conv backward is slow) and had not learned to read after 125 steps: the patch embedding
//!   is the default for that reason.
//!
//! `model` loads a model from its files, `train` is its side of the training loop (full,
//! distillation, LoRA) and its evaluation, `read` decodes its output and reads line images.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::VarBuilder;

use crate::ml::activations::{gelu, log_softmax_last};
use crate::ml::attention::attention_softmax;
use crate::ml::fused::{Linear, linear};
use serde::{Deserialize, Serialize};

pub mod model;
pub mod read;
pub mod train;

/// Shape of an OCR model (`config.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OcrConfig {
    /// Input height in pixels; lines are scaled to it.
    pub height: usize,
    /// Width of the patch embedding (features per column strip).
    pub stem: usize,
    /// Features of the local stage under the patch embedding: each 4×4-pixel patch with its
    /// eight neighbours (12×12 pixels) is embedded by weights shared across the rows, and the
    /// column strip's patches are then embedded together. 0: no local stage (the strip's
    /// pixels go straight into the patch embedding). Needs a height divisible by 4.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub local: usize,
    /// Attention biased towards near steps (ALiBi): head i's score for a step d steps away is
    /// lowered by d · 2^-(4(i+1)/heads), so from the first update each head looks nearby, at
    /// its own range. Reading is local; plain attention has to learn that first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub alibi: bool,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub ff: usize,
    /// Classes including the CTC blank (id 0).
    pub vocab_size: usize,
}

impl OcrConfig {
    /// Pixels per time step: each token is a column strip this wide.
    pub const WIDTH_STRIDE: usize = 4;

    /// Features into the patch embedding per column strip.
    fn patch_in(&self) -> usize {
        if self.local > 0 {
            self.height / 4 * self.local
        } else {
            self.height * Self::WIDTH_STRIDE * 3
        }
    }
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

/// A linear projection, optionally with a LoRA adapter: y = xWᵀ + b + s·(xAᵀ)Bᵀ.
pub struct Proj {
    base: Linear,
    lora: Option<(Tensor, Tensor, f64)>,
}

impl Proj {
    fn new(inp: usize, out: usize, vb: VarBuilder) -> Result<Proj> {
        Ok(Proj {
            base: linear(inp, out, vb)?,
            lora: None,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.base.forward(x)?;
        match &self.lora {
            None => Ok(y),
            Some((a, b, s)) => {
                let z = x.broadcast_matmul(&a.t()?)?.broadcast_matmul(&b.t()?)?;
                y + (z * *s)?
            }
        }
    }
}

struct Block {
    ln1: (Tensor, Tensor),
    query: Proj,
    key: Proj,
    value: Proj,
    out: Linear,
    ln2: (Tensor, Tensor),
    fc1: Linear,
    fc2: Linear,
    heads: usize,
}

fn norm(h: usize, vb: VarBuilder) -> Result<(Tensor, Tensor)> {
    Ok((
        vb.get_with_hints(h, "weight", candle_nn::Init::Const(1.0))?,
        vb.get_with_hints(h, "bias", candle_nn::Init::Const(0.0))?,
    ))
}

impl Block {
    fn new(c: &OcrConfig, vb: VarBuilder) -> Result<Block> {
        let h = c.hidden;
        let att = vb.pp("attention");
        Ok(Block {
            ln1: norm(h, vb.pp("ln1"))?,
            query: Proj::new(h, h, att.pp("query"))?,
            key: Proj::new(h, h, att.pp("key"))?,
            value: Proj::new(h, h, att.pp("value"))?,
            out: linear(h, h, att.pp("out"))?,
            ln2: norm(h, vb.pp("ln2"))?,
            fc1: linear(h, c.ff, vb.pp("fc1"))?,
            fc2: linear(c.ff, h, vb.pp("fc2"))?,
            heads: c.heads,
        })
    }

    /// Queries, keys and values, each (B, heads, T, dh) contiguous. Without LoRA adapters the
    /// three projections are one matmul over the stacked weights and one reordering copy
    /// (instead of three of each); with adapters, each projection on its own.
    fn qkv(&self, y: &Tensor, b: usize, t: usize, dh: usize) -> Result<(Tensor, Tensor, Tensor)> {
        let ps = [&self.query, &self.key, &self.value];
        if ps.iter().any(|p| p.lora.is_some()) {
            let split = |p: &Proj| -> Result<Tensor> {
                p.forward(y)?
                    .reshape((b, t, self.heads, dh))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            return Ok((split(ps[0])?, split(ps[1])?, split(ps[2])?));
        }
        let w = Tensor::cat(
            &[&ps[0].base.weight, &ps[1].base.weight, &ps[2].base.weight],
            0,
        )?;
        let bias = Tensor::cat(&[&ps[0].base.bias, &ps[1].base.bias, &ps[2].base.bias], 0)?;
        let all = Linear { weight: w, bias }
            .forward(y)?
            .reshape((b, t, 3, self.heads, dh))?
            .permute((2, 0, 3, 1, 4))?
            .contiguous()?;
        Ok((all.get(0)?, all.get(1)?, all.get(2)?))
    }

    /// x: (B, T, H); mask: (B, 1, 1, T) additive (0 or -1e9) for padded steps.
    fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, t, h) = x.dims3()?;
        let dh = h / self.heads;
        let y = crate::ml::norms::layer_norm(x, &self.ln1.0, &self.ln1.1, 1e-5)?;
        let (q, k, v) = self.qkv(&y, b, t, dh)?;
        let att = attention_softmax(&q.matmul(&k.t()?)?, mask, 1.0 / (dh as f64).sqrt())?;
        let ctx = att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, h))?;
        let x = (x + self.out.forward(&ctx)?)?;
        let y = crate::ml::norms::layer_norm(&x, &self.ln2.0, &self.ln2.1, 1e-5)?;
        let y = self.fc2.forward(&gelu(&self.fc1.forward(&y)?)?)?;
        x + y
    }
}

/// The OCR model.
pub struct Ocr {
    pub config: OcrConfig,
    proj: Linear,
    /// The local stage (`config.local > 0`): 12×12-pixel neighbourhoods → `local` features.
    local: Option<Linear>,
    patch: Linear,
    blocks: Vec<Block>,
    ln: (Tensor, Tensor),
    head: Linear,
}

impl Ocr {
    pub fn new(config: &OcrConfig, vb: VarBuilder) -> Result<Ocr> {
        let c = config;
        let patch = linear(c.patch_in(), c.stem, vb.pp("embeddings.patch"))?;
        let local = match c.local {
            0 => None,
            n => Some(linear(9 * 16, n, vb.pp("embeddings.local"))?),
        };
        let blocks = (0..c.layers)
            .map(|i| Block::new(c, vb.pp(format!("encoder.layer{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Ocr {
            config: c.clone(),
            proj: linear(c.stem, c.hidden, vb.pp("embeddings.proj"))?,
            local,
            patch,
            blocks,
            ln: norm(c.hidden, vb.pp("ln"))?,
            head: linear(c.hidden, c.vocab_size, vb.pp("head"))?,
        })
    }

    /// images: (B, 1, height, W) in [0, 1], W a multiple of 4; widths: valid pixel widths.
    /// Returns log-probabilities (B, W/4, vocab) and the valid steps per image.
    pub fn forward(&self, images: &Tensor, widths: &[usize]) -> Result<(Tensor, Vec<usize>)> {
        let (b, _, _, w) = images.dims4()?;
        let x = ((images - 0.5)? * 2.0)?;
        let (hgt, pw) = (self.config.height, OcrConfig::WIDTH_STRIDE);
        let t = w / pw;
        let feats = match &self.local {
            Some(local) => local_features(&x, local, b, hgt, t)?,
            None => {
                // (B,1,H,W) → (B,H,T,pw) → (B,T,H,pw) → (B,T,H·pw): one token per pw-pixel
                // column strip.
                let p = x
                    .reshape((b, hgt, t, pw))?
                    .permute((0, 2, 1, 3))?
                    .reshape((b, t, hgt * pw))?;
                // Each token also sees its neighbours' strips (edges repeat).
                Tensor::cat(&[shift(&p, 1, -1)?, p.clone(), shift(&p, 1, 1)?], 2)?
            }
        };
        let x = gelu(&self.patch.forward(&feats)?)?;
        let x = self.proj.forward(&x)?;
        self.encode(x, widths, b, t)
    }

    fn encode(
        &self,
        x: Tensor,
        widths: &[usize],
        b: usize,
        t: usize,
    ) -> Result<(Tensor, Vec<usize>)> {
        let mut x = x;
        x = x.broadcast_add(&positions(t, self.config.hidden, x.device())?)?;
        let steps: Vec<usize> = widths
            .iter()
            .map(|&wd| wd.div_ceil(OcrConfig::WIDTH_STRIDE).clamp(1, t))
            .collect();
        let mask: Vec<f32> = steps
            .iter()
            .flat_map(|&n| (0..t).map(move |j| if j < n { 0.0 } else { -1e9 }))
            .collect();
        let mut mask = Tensor::from_vec(mask, (b, 1, 1, t), x.device())?;
        if self.config.alibi {
            mask = mask.broadcast_add(&alibi(self.config.heads, t, x.device())?)?;
        }
        for blk in &self.blocks {
            x = blk.forward(&x, &mask)?;
        }
        let x = crate::ml::norms::layer_norm(&x, &self.ln.0, &self.ln.1, 1e-5)?;
        let logits = self.head.forward(&x)?;
        Ok((log_softmax_last(&logits)?, steps))
    }

    /// The same model on the same weights, cut from any training graph: a forward pass of it
    /// records nothing for backward (PyTorch's `no_grad`), so each intermediate tensor is freed
    /// as soon as the next op has read it. Sharing the weights' storage, it costs nothing to
    /// make; evaluation, distillation targets and `lab bench train`'s forward use it.
    pub fn detached(&self) -> Ocr {
        let d = |t: &Tensor| t.detach();
        let lin = |l: &Linear| Linear {
            weight: d(&l.weight),
            bias: d(&l.bias),
        };
        let proj = |p: &Proj| Proj {
            base: lin(&p.base),
            lora: p.lora.as_ref().map(|(a, b, s)| (d(a), d(b), *s)),
        };
        let norm = |n: &(Tensor, Tensor)| (d(&n.0), d(&n.1));
        Ocr {
            config: self.config.clone(),
            proj: lin(&self.proj),
            local: self.local.as_ref().map(lin),
            patch: lin(&self.patch),
            blocks: self
                .blocks
                .iter()
                .map(|b| Block {
                    ln1: norm(&b.ln1),
                    query: proj(&b.query),
                    key: proj(&b.key),
                    value: proj(&b.value),
                    out: lin(&b.out),
                    ln2: norm(&b.ln2),
                    fc1: lin(&b.fc1),
                    fc2: lin(&b.fc2),
                    heads: b.heads,
                })
                .collect(),
            ln: norm(&self.ln),
            head: lin(&self.head),
        }
    }

    /// Attaches LoRA adapters (A, B) to the named projections of every block. `adapters` maps
    /// `encoder.layer{i}.attention.{query|key|value}` to (A: r×in, B: out×r).
    pub fn attach_lora(
        &mut self,
        adapters: &std::collections::HashMap<String, (Tensor, Tensor)>,
        scale: f64,
    ) {
        for (i, blk) in self.blocks.iter_mut().enumerate() {
            for (name, p) in [
                ("query", &mut blk.query),
                ("key", &mut blk.key),
                ("value", &mut blk.value),
            ] {
                if let Some((a, b)) = adapters.get(&format!("encoder.layer{i}.attention.{name}")) {
                    p.lora = Some((a.clone(), b.clone(), scale));
                }
            }
        }
    }
}

/// `x` moved by one along `dim` (`by` = 1: each position takes its successor's value; -1: its
/// predecessor's), the edge value repeated.
fn shift(x: &Tensor, dim: usize, by: i32) -> Result<Tensor> {
    let n = x.dim(dim)?;
    if n == 1 {
        return Ok(x.clone());
    }
    if by > 0 {
        Tensor::cat(&[x.narrow(dim, 1, n - 1)?, x.narrow(dim, n - 1, 1)?], dim)
    } else {
        Tensor::cat(&[x.narrow(dim, 0, 1)?, x.narrow(dim, 0, n - 1)?], dim)
    }
}

/// The local stage: the image (B,1,H,W) cut into 4×4-pixel patches on a grid of H/4 rows × T
/// columns, each patch seen with its eight neighbours (12×12 pixels, edges repeated) and
/// embedded by `local` (weights shared by every row and column, GELU), then each column's rows
/// laid side by side: (B, T, H/4 · local).
fn local_features(x: &Tensor, local: &Linear, b: usize, hgt: usize, t: usize) -> Result<Tensor> {
    let r = hgt / 4;
    // (B,1,H,W) → (B,R,4,T,4) → (B,R,T,4,4) → (B,R,T,16).
    let p = x
        .reshape((b, r, 4, t, 4))?
        .permute((0, 1, 3, 2, 4))?
        .reshape((b, r, t, 16))?;
    let rows = [shift(&p, 1, -1)?, p.clone(), shift(&p, 1, 1)?];
    let mut parts = Vec::with_capacity(9);
    for row in &rows {
        parts.push(shift(row, 2, -1)?);
        parts.push(row.clone());
        parts.push(shift(row, 2, 1)?);
    }
    let n = local.weight.dim(0)?;
    let y = gelu(&local.forward(&Tensor::cat(&parts, 3)?)?)?;
    // (B,R,T,n) → (B,T,R,n) → (B,T,R·n).
    y.permute((0, 2, 1, 3))?.reshape((b, t, r * n))
}

/// The ALiBi distance bias (1, heads, T, T): −|i − j| · slope of the head.
fn alibi(heads: usize, t: usize, dev: &candle_core::Device) -> Result<Tensor> {
    Tensor::from_vec(alibi_bias(heads, t), (1, heads, t, t), dev)
}

/// The values of [`alibi`], head by head, row by row.
pub(crate) fn alibi_bias(heads: usize, t: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(heads * t * t);
    for h in 0..heads {
        let slope = 2f32.powf(-4.0 * (h + 1) as f32 / heads as f32);
        for i in 0..t {
            v.extend((0..t).map(|j| -slope * i.abs_diff(j) as f32));
        }
    }
    v
}

/// Fixed sinusoidal positions (1, T, H).
fn positions(t: usize, h: usize, dev: &candle_core::Device) -> Result<Tensor> {
    let mut v = vec![0f32; t * h];
    for p in 0..t {
        for i in 0..h / 2 {
            let f = (p as f32) / 10000f32.powf(2.0 * i as f32 / h as f32);
            v[p * h + 2 * i] = f.sin();
            v[p * h + 2 * i + 1] = f.cos();
        }
    }
    Tensor::from_vec(v, (1, t, h), dev)?.to_dtype(DType::F32)
}
