//! Epoch checkpoints shared by every training loop: the trainable weights, the optimiser's
//! state and the epoch, as one safetensors file that `restore` reads back for `--resume`.

use candle_core::{Device, Tensor, Var};

use super::adamw::AdamW;
use super::bundle::to_safetensors;

/// The checkpoint after `epoch` (0-based) as safetensors bytes.
pub fn save(vars: &[(String, Var)], opt: &AdamW, epoch: u32) -> candle_core::Result<Vec<u8>> {
    let mut ck: Vec<(String, Tensor)> = vars
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    ck.extend(opt.state()?);
    ck.push((
        "checkpoint.epoch".into(),
        Tensor::from_slice(&[epoch], 1, &Device::Cpu)?,
    ));
    to_safetensors(ck)
}

/// Loads a checkpoint into `vars` and `opt`; returns the epoch to continue from.
pub fn restore(bytes: &[u8], vars: &[(String, Var)], opt: &mut AdamW) -> anyhow::Result<u32> {
    let st = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)?;
    for (name, var) in vars {
        let t = st
            .get(name)
            .ok_or_else(|| anyhow::anyhow!("the checkpoint lacks weight `{name}`"))?;
        var.set(t)?;
    }
    opt.load_state(&st)?;
    let e: Vec<u32> = st
        .get("checkpoint.epoch")
        .ok_or_else(|| anyhow::anyhow!("the checkpoint lacks `checkpoint.epoch`"))?
        .to_vec1()?;
    Ok(e[0] + 1)
}
