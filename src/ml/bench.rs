//! The training step and the forward pass of lab's two models on synthetic seeded inputs of
//! the real shapes, for `lab bench train`. The step is the training loop's own
//! ([`train::step`]): the batch split in [`train::SHARDS`] shards computed on their own
//! threads (single-threaded matmuls), forward + backward per shard, then the shards'
//! gradients summed into one AdamW update. The forward pass is the evaluation's: the model's
//! output for the batch, split the same way.

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::adamw::AdamW;
use super::doc::llama::{Llama, LlamaConfig, causal_mask};
use super::doc::train::{self as doc_train, SeqShards};
use super::lines::Line;
use super::ocr::train::{self as ocr_train, LineSet, Mode, OcrShards};
use super::ocr::{Ocr, OcrConfig};
use super::train::{self, Built, in_parallel, named_vars, shards};

const LR: f64 = 1e-3;

/// A model ready to step: one training step or one forward pass of a whole batch.
pub trait Bench {
    /// Forward, backward and the AdamW update of one batch; returns the loss.
    fn train_step(&mut self) -> anyhow::Result<f64>;
    /// The model's output for one batch, without backward.
    fn forward(&self) -> anyhow::Result<()>;
    fn params(&self) -> usize;
}

/// The OCR model on a batch of `batch` lines `width` px wide with `target_len`-class targets.
pub struct OcrBench {
    built: Built<Ocr>,
    config: OcrConfig,
    opt: AdamW,
    set: LineSet,
}

impl OcrBench {
    pub fn new(
        config: &OcrConfig,
        batch: usize,
        width: usize,
        target_len: usize,
        weight_decay: f64,
        seed: u64,
    ) -> anyhow::Result<OcrBench> {
        let built = ocr_train::build(config, &Mode::Full { init: None }, seed, &Device::Cpu)?;
        let opt = AdamW::new(named_vars(&built.vars), weight_decay as f32);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut set = LineSet::default();
        for _ in 0..batch {
            let pixels = (0..config.height * width).map(|_| rng.random()).collect();
            set.lines.push(Line { pixels, width });
            set.targets.push(
                (0..target_len)
                    .map(|_| rng.random_range(1..config.vocab_size as u32))
                    .collect(),
            );
        }
        Ok(OcrBench {
            built,
            config: config.clone(),
            opt,
            set,
        })
    }
}

impl Bench for OcrBench {
    fn train_step(&mut self) -> anyhow::Result<f64> {
        let idx: Vec<usize> = (0..self.set.len()).collect();
        let step = OcrShards {
            model: &self.built.model,
            mode: &Mode::Full { init: None },
            soft: None,
            config: &self.config,
            train: &self.set,
            augment: 0.0,
            seed: 0,
        };
        train::step(&step, &0, &idx, &mut self.opt, LR)
    }

    /// As evaluation runs it: on the detached model (no graph recorded, PyTorch's `no_grad`).
    fn forward(&self) -> anyhow::Result<()> {
        let idx: Vec<usize> = (0..self.set.len()).collect();
        let model = self.built.model.detached();
        in_parallel(&shards(&idx), |part| {
            let refs: Vec<&Line> = part.iter().map(|&i| &self.set.lines[i]).collect();
            let (x, w) = super::lines::batch(&refs, self.config.height, &Device::Cpu)?;
            model.forward(&x, &w)?;
            Ok(())
        })?;
        Ok(())
    }

    fn params(&self) -> usize {
        self.opt.param_count()
    }
}

/// The document model on `batch` sequences of `len` tokens whose second half is the answer.
pub struct DocBench {
    built: Built<Llama>,
    opt: AdamW,
    seqs: Vec<(Vec<u32>, usize)>,
}

impl DocBench {
    pub fn new(
        config: &LlamaConfig,
        batch: usize,
        len: usize,
        weight_decay: f64,
        seed: u64,
    ) -> anyhow::Result<DocBench> {
        let mode = doc_train::Mode::Full { init: None };
        let built = doc_train::build(config, &mode, seed, &Device::Cpu)?;
        let opt = AdamW::new(named_vars(&built.vars), weight_decay as f32);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let seqs = (0..batch)
            .map(|_| {
                let ids = (0..len)
                    .map(|_| rng.random_range(3..config.vocab_size as u32))
                    .collect();
                (ids, len / 2)
            })
            .collect();
        Ok(DocBench { built, opt, seqs })
    }
}

impl Bench for DocBench {
    fn train_step(&mut self) -> anyhow::Result<f64> {
        let idx: Vec<usize> = (0..self.seqs.len()).collect();
        let step = SeqShards {
            model: &self.built.model,
            pad: 0,
        };
        train::step(&step, &self.seqs, &idx, &mut self.opt, LR)
    }

    /// Logits of every position of the (input) sequences, as a teacher-forced pass computes,
    /// on the detached model (as evaluation runs it).
    fn forward(&self) -> anyhow::Result<()> {
        let dev = Device::Cpu;
        let model = &self.built.model.detached();
        let idx: Vec<usize> = (0..self.seqs.len()).collect();
        in_parallel(&shards(&idx), |part| {
            let t = self.seqs[0].0.len() - 1;
            let ids: Vec<u32> = part
                .iter()
                .flat_map(|&i| self.seqs[i].0[..t].iter().copied())
                .collect();
            let ids = Tensor::from_vec(ids, (part.len(), t), &dev)?;
            let positions = vec![(0..t).collect::<Vec<_>>()];
            let h = model.hidden(&ids, &positions, &causal_mask(t, &dev)?, None)?;
            model.logits(&h)?;
            Ok(())
        })?;
        Ok(())
    }

    fn params(&self) -> usize {
        self.opt.param_count()
    }
}

/// One element-wise or row-wise op timed both ways on the same input: candle's own (composed
/// or libm-based) version and lab's fused custom op, forward + backward each.
#[derive(Debug, serde::Serialize)]
pub struct OpTiming {
    pub op: &'static str,
    pub shape: Vec<usize>,
    /// Median microseconds of forward + backward of candle's own version (the reference;
    /// `candle_us` in JSON).
    #[serde(rename = "candle_us")]
    pub reference_us: f64,
    /// The same of lab's fused op.
    pub lab_us: f64,
}

type OpFn = fn(&Tensor) -> candle_core::Result<Tensor>;

/// Times each op's forward + backward (through a weighted sum) `reps` times, alternating the two
/// versions so that other load on the machine hits both alike; medians. Shapes are one
/// training shard of the OCR teacher (16 lines × 64 steps): its feed-forward GELU, its CTC
/// log-softmax, its attention softmax, its layer norm.
pub fn ops(reps: usize) -> anyhow::Result<Vec<OpTiming>> {
    use super::{activations, fused};
    use candle_core::{D, Var};
    let dev = Device::Cpu;
    let cases: Vec<(&'static str, Vec<usize>, OpFn, OpFn)> = vec![
        ("gelu", vec![1024, 384], |x| x.gelu_erf(), activations::gelu),
        (
            "log_softmax",
            vec![1024, 96],
            |x| candle_nn::ops::log_softmax(x, D::Minus1),
            activations::log_softmax_last,
        ),
        (
            "softmax",
            vec![16, 4, 64, 64],
            |x| candle_nn::ops::softmax(x, D::Minus1),
            fused::softmax_last,
        ),
        (
            "layer_norm",
            vec![1024, 128],
            |x| {
                let h = x.dim(D::Minus1)?;
                let w = Tensor::ones(h, x.dtype(), x.device())?;
                let b = Tensor::zeros(h, x.dtype(), x.device())?;
                candle_nn::ops::layer_norm_slow(x, &w, &b, 1e-5)
            },
            |x| {
                let h = x.dim(D::Minus1)?;
                let w = Tensor::ones(h, x.dtype(), x.device())?;
                let b = Tensor::zeros(h, x.dtype(), x.device())?;
                super::norms::layer_norm(x, &w, &b, 1e-5)
            },
        ),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    for (op, shape, theirs, ours) in cases {
        let n: usize = shape.iter().product();
        let x = Var::from_vec(
            (0..n).map(|_| rng.random_range(-4.0f32..4.0)).collect(),
            shape.as_slice(),
            &dev,
        )?;
        let w = Tensor::from_vec(
            (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect(),
            shape.as_slice(),
            &dev,
        )?;
        let time = |f: OpFn| -> anyhow::Result<f64> {
            let t = std::time::Instant::now();
            let y = f(&x)?;
            (y * &w)?.sum_all()?.backward()?;
            Ok(t.elapsed().as_secs_f64() * 1e6)
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for i in 0..reps + 2 {
            let (ta, tb) = (time(theirs)?, time(ours)?);
            if i >= 2 {
                a.push(ta);
                b.push(tb);
            }
        }
        out.push(OpTiming {
            op,
            shape,
            reference_us: median(&mut a),
            lab_us: median(&mut b),
        });
    }
    Ok(out)
}

fn median(v: &mut [f64]) -> f64 {
    crate::stats::median(v)
}
