//! The document model: from what the OCR read in one timetable cell (with its day and time
//! headers) to the entry as a JSON record. A small Llama-family decoder (`llama`) with its own
//! byte-level BPE tokenizer (`tok`), trained on the synthetic truth with injected OCR noise
//! (`noise`) to answer the record (`record`) by greedy decoding (`generate`); `train` is the
//! training loop (full, or LoRA adapters on a frozen base) and the evaluation.

pub mod generate;
pub mod llama;
pub mod model;
pub mod noise;
pub mod record;
pub mod tok;
pub mod train;

#[cfg(test)]
mod tests;
