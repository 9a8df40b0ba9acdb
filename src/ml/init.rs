//! Seeded initialisation: candle's CPU random init cannot be seeded, so every variable is
//! overwritten from a ChaCha8 stream keyed by (seed, variable name), walking names sorted.

use candle_core::{Result, Tensor};
use candle_nn::VarMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn name_seed(seed: u64, name: &str) -> u64 {
    // FNV-1a over the name, mixed with the seed.
    let mut h = 0xcbf29ce484222325u64 ^ seed.wrapping_mul(0x9e3779b97f4a7c15);
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Re-initialises every variable of `vm`: norm weights 1 (names with `ln` or `norm`), biases 0, other weights
/// uniform(±1/sqrt(fan_in)) — the usual default — from seeded streams.
pub fn seeded_init(vm: &VarMap, seed: u64) -> Result<()> {
    let data = vm.data().lock().unwrap();
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let shape = var.shape().clone();
        let n = shape.elem_count();
        let dims = shape.dims();
        let is_norm = (name.contains("ln") || name.contains("norm")) && name.ends_with("weight");
        let vals: Vec<f32> = if name.ends_with("bias") {
            vec![0.0; n]
        } else if is_norm {
            vec![1.0; n]
        } else if name.ends_with("lora_b") {
            vec![0.0; n]
        } else {
            let fan_in: usize = dims[1..].iter().product::<usize>().max(1);
            let bound = 1.0 / (fan_in as f32).sqrt();
            let mut rng = ChaCha8Rng::seed_from_u64(name_seed(seed, name));
            (0..n).map(|_| rng.random_range(-bound..bound)).collect()
        };
        var.set(&Tensor::from_vec(vals, shape, var.device())?)?;
    }
    Ok(())
}
