//! The one training loop of lab's models. A model plugs in through [`Task`] (what an epoch
//! trains on, forward + backward of a shard through [`Shards`], the evaluation after each
//! epoch); the loop owns the rest, the same for every model: seeded batches of similar
//! lengths, each batch split in [`SHARDS`] shards computed side by side, the shards' gradients
//! summed in shard order into one AdamW update under the warm-up/cosine schedule, the
//! divergence check, progress and epoch metrics through an [`Observer`], and an epoch
//! checkpoint that `resume` takes back. [`build`] makes the trainable model of a [`Family`]
//! (seeded, or LoRA adapters on a frozen base). Same inputs, same seed → the same weight bytes.

use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};

use super::adamw::{AdamW, schedule};
use super::bundle::{Family, Tensors, to_safetensors};
pub use super::observe::{EpochInfo, Observer, StepInfo};
use super::{checkpoint, init, lines};

/// The optimisation settings every model shares.
pub struct Schedule {
    pub epochs: u32,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub warmup_steps: u64,
    pub weight_decay: f64,
    pub seed: u64,
}

/// What training produced.
pub struct Trained {
    /// The trainable weights as safetensors: the whole model, or the adapters alone (LoRA).
    pub weights: Vec<u8>,
    pub trainable_params: usize,
    pub total_params: usize,
    pub last: Option<EpochInfo>,
}

/// Forward and backward of part of a batch.
pub trait Shards: Sync {
    /// What the examples' indices point into for one epoch.
    type Data: Sync;
    /// The mean loss of the examples `idx` of `data`, and its gradients.
    fn shard(&self, data: &Self::Data, idx: &[usize]) -> anyhow::Result<(f64, GradStore)>;
}

/// A model's side of the loop.
pub trait Task: Sync {
    type Step: Shards;
    /// The forward + backward of a shard.
    fn step(&self) -> &Self::Step;
    /// The number of training examples.
    fn examples(&self) -> usize;
    /// What epoch `epoch` trains on (fresh noise, augmentation stream).
    fn epoch(&self, epoch: u32) -> <Self::Step as Shards>::Data;
    /// Each example's length (batches group similar lengths).
    fn lengths(&self, data: &<Self::Step as Shards>::Data) -> Vec<usize>;
    /// Validation after an epoch: the loss and the metrics by name.
    fn evaluate(&self) -> anyhow::Result<(f64, Vec<(&'static str, f64)>)>;
}

/// Trains `vars` (the trainable variables of `task`'s model) per `s`, from the checkpoint
/// `resume` of an earlier, interrupted run of the same configuration when given.
/// `frozen_params` counts the weights that do not train (a LoRA base).
pub fn run<T: Task>(
    task: &T,
    vars: &VarMap,
    frozen_params: usize,
    s: &Schedule,
    resume: Option<&[u8]>,
    obs: &mut dyn Observer,
) -> anyhow::Result<Trained> {
    let vars = named_vars(vars);
    let mut opt = AdamW::new(vars.clone(), s.weight_decay as f32);
    let trainable = opt.param_count();
    let per_epoch = task.examples().div_ceil(s.batch_size.max(1)) as u64;
    let total = per_epoch * s.epochs as u64;
    let mut start_epoch = 0u32;
    if let Some(bytes) = resume {
        start_epoch = checkpoint::restore(bytes, &vars, &mut opt)?;
    }
    let mut last = None;
    for epoch in start_epoch..s.epochs {
        let data = task.epoch(epoch);
        let lens = task.lengths(&data);
        let batches = lines::epoch_batches(&lens, s.batch_size, s.seed, epoch as u64);
        let (mut loss_sum, mut n) = (0f64, 0usize);
        for idx in batches {
            let t0 = Instant::now();
            let lr = schedule(s.learning_rate, opt.step, total, s.warmup_steps);
            let value = step(task.step(), &data, &idx, &mut opt, lr)?;
            loss_sum += value * idx.len() as f64;
            n += idx.len();
            obs.step(&StepInfo {
                epoch,
                step: opt.step,
                total_steps: total,
                loss: value,
                lr,
                samples_per_s: idx.len() as f64 / t0.elapsed().as_secs_f64().max(1e-9),
            });
        }
        let (val_loss, val) = task.evaluate()?;
        let info = EpochInfo {
            epoch,
            step: opt.step,
            train_loss: loss_sum / n.max(1) as f64,
            val_loss,
            val,
        };
        obs.epoch(&info, checkpoint::save(&vars, &opt, epoch)?)?;
        last = Some(info);
    }
    let named: Vec<(String, Tensor)> = vars
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    Ok(Trained {
        weights: to_safetensors(named)?,
        trainable_params: trainable,
        total_params: trainable + frozen_params,
        last,
    })
}

/// One update: the batch `idx` in [`SHARDS`] shards computed side by side, their gradients
/// weighted by their share of the batch and summed in shard order into one AdamW step at
/// `lr`. Returns the batch's mean loss; an error (and no update) when it is not finite.
pub fn step<S: Shards>(
    shards_of: &S,
    data: &S::Data,
    idx: &[usize],
    opt: &mut AdamW,
    lr: f64,
) -> anyhow::Result<f64> {
    let parts = shards(idx);
    let outs = in_parallel(&parts, |part| shards_of.shard(data, part))?;
    let n_batch = idx.len() as f64;
    let value: f64 = outs
        .iter()
        .zip(&parts)
        .map(|(o, p)| o.0 * p.len() as f64)
        .sum::<f64>()
        / n_batch;
    if !value.is_finite() {
        anyhow::bail!(
            "training diverged at step {} (loss {value}) — lower the learning rate",
            opt.step
        );
    }
    let weighted: Vec<(&GradStore, f32)> = outs
        .iter()
        .zip(&parts)
        .map(|(o, p)| (&o.1, (p.len() as f64 / n_batch) as f32))
        .collect();
    opt.step_shards(&weighted, lr)?;
    Ok(value)
}

/// A model ready to train: the forward module and its trainable variables.
pub struct Built<M> {
    pub model: M,
    pub vars: VarMap,
    /// Weights that do not train (a LoRA base).
    pub frozen_params: usize,
}

/// LoRA adapters of `rank` on the modules `targets` of the frozen weights `base`, scaled
/// alpha / rank.
pub struct Lora<'a> {
    pub base: &'a Tensors,
    pub rank: usize,
    pub alpha: f64,
    pub targets: Vec<String>,
}

/// What [`build`] trains.
pub enum Trainable<'a> {
    /// Every weight, from a seeded initialisation, or from these weights (a pretrained base,
    /// a checkpoint) when given.
    Full(Option<&'a Tensors>),
    /// Only the adapters; the base stays frozen.
    Lora(&'a Lora<'a>),
}

/// The model of family `F` for `config`, its trainable variables seeded from `seed`.
pub fn build<F: Family>(
    config: &F::Config,
    what: Trainable,
    seed: u64,
    dev: &Device,
) -> Result<Built<F::Model>> {
    let vars = VarMap::new();
    match what {
        Trainable::Full(start) => {
            let model = F::build(config, VarBuilder::from_varmap(&vars, DType::F32, dev))?;
            init::seeded_init(&vars, seed)?;
            if let Some(w) = start {
                set_weights(&vars, w)?;
            }
            Ok(Built {
                model,
                vars,
                frozen_params: 0,
            })
        }
        Trainable::Lora(&Lora {
            base,
            rank,
            alpha,
            ref targets,
        }) => {
            let frozen: Tensors = base.iter().map(|(k, v)| (k.clone(), v.detach())).collect();
            let frozen_params = frozen.values().map(Tensor::elem_count).sum();
            let mut model = F::build(config, VarBuilder::from_tensors(frozen, DType::F32, dev))?;
            let adapters = F::adapters(
                config,
                rank,
                targets,
                VarBuilder::from_varmap(&vars, DType::F32, dev),
            )?;
            init::seeded_init(&vars, seed)?;
            F::attach_lora(&mut model, &adapters, alpha / rank as f64);
            Ok(Built {
                model,
                vars,
                frozen_params,
            })
        }
    }
}

/// Sets every variable of `vars` from `w` (same names and shapes; other dtypes converted).
fn set_weights(vars: &VarMap, w: &Tensors) -> Result<()> {
    for (name, var) in named_vars(vars) {
        let t = w.get(&name).ok_or_else(|| {
            candle_core::Error::Msg(format!(
                "the initial weights lack `{name}` (they are of another model family or shape)"
            ))
        })?;
        if t.dims() != var.dims() {
            return Err(candle_core::Error::Msg(format!(
                "initial weight `{name}` has shape {:?}, the config needs {:?} — start from a \
                 model with the same [model] settings",
                t.dims(),
                var.dims()
            )));
        }
        var.set(&t.to_dtype(DType::F32)?)?;
    }
    Ok(())
}

/// The variables of `vm`, sorted by name.
pub fn named_vars(vm: &VarMap) -> Vec<(String, Var)> {
    let data = vm.data().lock().unwrap();
    let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The variables of `vm` as safetensors bytes (names sorted; the same weights give the same bytes).
pub fn vars_to_safetensors(vm: &VarMap) -> Result<Vec<u8>> {
    let named: Vec<(String, Tensor)> = named_vars(vm)
        .into_iter()
        .map(|(k, v)| (k, v.as_tensor().clone()))
        .collect();
    to_safetensors(named)
}

/// Shards of a batch computed side by side. Fixed at two whatever the machine: the shards'
/// gradients are summed in shard order, so the bytes of a model do not depend on the number
/// of cores (each shard runs its matmuls single-threaded; see `single_threaded_matmuls`).
pub const SHARDS: usize = 2;

/// `idx` cut in [`SHARDS`] consecutive parts.
pub fn shards(idx: &[usize]) -> Vec<Vec<usize>> {
    let per = idx.len().div_ceil(SHARDS).max(1);
    idx.chunks(per).map(<[usize]>::to_vec).collect()
}

/// Runs `f` on every item, each on its own thread, results in item order.
pub fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> anyhow::Result<R> + Sync,
) -> anyhow::Result<Vec<R>> {
    single_threaded_matmuls();
    std::thread::scope(|s| {
        let handles: Vec<_> = items.iter().map(|it| s.spawn(|| f(it))).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a training thread panicked")))
            })
            .collect()
    })
}

/// candle splits every matmul over `RAYON_NUM_THREADS` threads; for these small matrices that
/// costs more than it gains (measured: one thread per process ran faster than two). Shards
/// give the parallelism instead.
#[allow(
    clippy::disallowed_methods,
    reason = "the one process-wide setting lab makes, once, before its threads start"
)]
pub fn single_threaded_matmuls() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: called before the shard threads start; candle reads it on each matmul, and
        // no other code of lab reads or writes the environment concurrently.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    });
}
