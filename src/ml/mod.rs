//! Machine learning: models, losses and training pieces, pure compute on candle tensors.
//! Nothing here knows the log exists (DESIGN.md, layers).
//!
//! The OCR family (`ocr`) is a CTC model: a patch embedding over 4-pixel column strips of a
//! 32-pixel-high line image, a transformer encoder, a per-step classifier trained with the
//! CTC loss of `ctc` (a custom op with its own backward; candle has none). It is built only
//! from ops that have a backward pass (see ../shared/notes/candle-on-cpu.md: the fused
//! softmax/layer-norm ops silently train nothing). `losses` holds distillation and the LoRA
//! adapters, `init` the seeded initialisation that replaces candle's unseedable CPU random init.
//!
//! `lines` turns images into model input, `train` is the one training loop both models plug
//! into (shards, gradient sums, AdamW, checkpoints), `ocr::train` and `doc::train` are their
//! sides of it, `bundle` loads any model from its files (weights, LoRA adapters, merging),
//! `adamw` is the optimiser (state kept in checkpoints), `textmetrics` scores text, `vocab`
//! maps characters to classes, `recipe` names the built-in training recipes (plain data).
//! `layout` finds the ruled table in a timetable image and cuts its cells' text lines for OCR
//! (image processing only).

pub mod activations;
pub mod adamw;
pub mod attention;
pub mod bench;
pub mod bundle;
pub mod checkpoint;
pub mod ctc;
pub mod doc;
pub mod extract;
pub mod fastmath;
pub mod features;
pub mod fused;
pub mod init;
pub mod ink;
pub mod label;
pub mod layout;
pub mod lines;
pub mod losses;
pub mod norms;
pub mod observe;
pub mod ocr;
pub mod recipe;
pub mod textmetrics;
pub mod train;
pub mod vocab;

#[cfg(test)]
mod tests;
