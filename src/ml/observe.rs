//! What a training loop reports, whatever the model: per-step progress, per-epoch validation
//! metrics with a checkpoint. The command layer turns these into log events.

/// Reported every step.
pub struct StepInfo {
    pub epoch: u32,
    pub step: u64,
    pub total_steps: u64,
    pub loss: f64,
    pub lr: f64,
    pub samples_per_s: f64,
}

/// Reported after every epoch. `val` holds the validation metrics by name (logged as
/// `val_NAME`): `accuracy`, `cer`, `char_f1` for OCR; `field_f1`, `exact`, `invalid` for the
/// document model.
pub struct EpochInfo {
    pub epoch: u32,
    pub step: u64,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val: Vec<(&'static str, f64)>,
}

impl EpochInfo {
    /// A validation metric by name (0 when the model family has none of that name).
    pub fn metric(&self, name: &str) -> f64 {
        self.val
            .iter()
            .find(|(k, _)| *k == name)
            .map_or(0.0, |(_, v)| *v)
    }
}

/// Receives progress and checkpoints. `checkpoint` gets the bytes of a safetensors file that
/// the training function accepts back as `resume`.
pub trait Observer {
    fn step(&mut self, info: &StepInfo);
    fn epoch(&mut self, info: &EpochInfo, checkpoint: Vec<u8>) -> anyhow::Result<()>;
}
