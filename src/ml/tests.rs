//! Every trainable variable gets a non-zero gradient after one step, in every mode.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::ocr::{Ocr, OcrConfig};
use super::{ctc, init, losses as train_losses};

fn tiny(vocab: usize) -> OcrConfig {
    OcrConfig {
        height: 32,
        stem: 16,
        hidden: 16,
        layers: 2,
        heads: 2,
        ff: 32,
        local: 0,
        alibi: false,
        vocab_size: vocab,
    }
}

fn batch(dev: &Device) -> (Tensor, Vec<usize>, Vec<Vec<u32>>) {
    let (b, w) = (3, 48);
    let mut v = vec![0f32; b * 32 * w];
    for (i, x) in v.iter_mut().enumerate() {
        *x = ((i * 7919) % 97) as f32 / 97.0;
    }
    (
        Tensor::from_vec(v, (b, 1, 32, w), dev).unwrap(),
        vec![48, 40, 24],
        vec![vec![1, 2, 3], vec![4, 4], vec![5]],
    )
}

fn missing(vm: &VarMap, grads: &candle_core::backprop::GradStore) -> Vec<String> {
    let data = vm.data().lock().unwrap();
    let mut out = Vec::new();
    for (n, v) in data.iter() {
        let ok = grads
            .get(v.as_tensor())
            .map(|g| {
                g.abs()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
                    > 0.0
            })
            .unwrap_or(false);
        if !ok {
            out.push(n.clone());
        }
    }
    out.sort();
    out
}

#[test]
fn full_training_reaches_every_variable() {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let m = Ocr::new(&tiny(8), VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    init::seeded_init(&vm, 3).unwrap();
    let (x, w, t) = batch(&dev);
    let (lp, steps) = m.forward(&x, &w).unwrap();
    let loss = ctc::ctc_loss(&lp, &t, &steps, 0).unwrap();
    let g = loss.backward().unwrap();
    assert_eq!(missing(&vm, &g), Vec::<String>::new());
}

#[test]
fn the_local_stage_and_alibi_train_every_variable_and_keep_lines_apart() {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let mut c = tiny(8);
    c.local = 6;
    c.alibi = true;
    let m = Ocr::new(&c, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    init::seeded_init(&vm, 3).unwrap();
    assert!(
        vm.data()
            .lock()
            .unwrap()
            .contains_key("embeddings.local.weight")
    );
    let (x, w, t) = batch(&dev);
    let (lp, steps) = m.forward(&x, &w).unwrap();
    assert_eq!(lp.dims3().unwrap(), (3, 12, 8));
    let g = ctc::ctc_loss(&lp, &t, &steps, 0)
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(missing(&vm, &g), Vec::<String>::new());
    // A line's reading depends on its own pixels only: the first line alone reads the same
    // as in the batch (the local stage's neighbourhoods do not reach across lines).
    let (one, _) = m.forward(&x.narrow(0, 0, 1).unwrap(), &w[..1]).unwrap();
    let diff = (one - lp.narrow(0, 0, 1).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(diff < 1e-5, "{diff}");
}

#[test]
fn the_alibi_bias_prefers_near_steps_per_head() {
    let b = super::ocr::alibi_bias(2, 3);
    // Head 0 (slope 2^-2) and head 1 (slope 2^-4), distance |i - j|.
    assert_eq!(&b[..3], &[0.0, -0.25, -0.5]);
    assert_eq!(&b[9..12], &[0.0, -0.0625, -0.125]);
    assert_eq!(b[4], 0.0);
}

#[test]
fn the_detached_model_gives_the_same_bits_and_records_no_graph() {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let m = Ocr::new(&tiny(8), VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    init::seeded_init(&vm, 3).unwrap();
    let (x, w, t) = batch(&dev);
    let bits = |lp: &Tensor| -> Vec<u32> {
        let v: Vec<f32> = lp.flatten_all().unwrap().to_vec1().unwrap();
        v.iter().map(|f| f.to_bits()).collect()
    };
    let (lp, _) = m.forward(&x, &w).unwrap();
    let (dlp, steps) = m.detached().forward(&x, &w).unwrap();
    assert_eq!(bits(&lp), bits(&dlp));
    // Nothing upstream of the detached output is a variable: backward reaches none.
    let g = ctc::ctc_loss(&dlp, &t, &steps, 0)
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(missing(&vm, &g).len(), vm.all_vars().len());
}

#[test]
fn distillation_reaches_every_student_variable_and_no_teacher_one() {
    let dev = Device::Cpu;
    let tvm = VarMap::new();
    let teacher = Ocr::new(&tiny(8), VarBuilder::from_varmap(&tvm, DType::F32, &dev)).unwrap();
    init::seeded_init(&tvm, 1).unwrap();
    let svm = VarMap::new();
    let mut sc = tiny(8);
    sc.hidden = 8;
    sc.ff = 16;
    let student = Ocr::new(&sc, VarBuilder::from_varmap(&svm, DType::F32, &dev)).unwrap();
    init::seeded_init(&svm, 2).unwrap();
    let (x, w, t) = batch(&dev);
    let (tlp, _) = teacher.forward(&x, &w).unwrap();
    let tlp = tlp.detach();
    let (slp, steps) = student.forward(&x, &w).unwrap();
    let soft = train_losses::kd_loss(&slp, &tlp, &steps, 5.0).unwrap();
    let hard = ctc::ctc_loss(&slp, &t, &steps, 0).unwrap();
    let loss = train_losses::mix(&soft, &hard, 0.5).unwrap();
    let g = loss.backward().unwrap();
    assert_eq!(missing(&svm, &g), Vec::<String>::new());
    assert_eq!(
        missing(&tvm, &g).len(),
        tvm.all_vars().len(),
        "the teacher is frozen"
    );
}

#[test]
fn lora_reaches_every_adapter_and_no_base_weight() {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let cfg = tiny(8);
    Ocr::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    init::seeded_init(&vm, 3).unwrap();
    // The base as plain (detached) tensors, as loaded from safetensors.
    let base: HashMap<String, Tensor> = vm
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    let mut m = Ocr::new(&cfg, VarBuilder::from_tensors(base, DType::F32, &dev)).unwrap();
    let avm = VarMap::new();
    let targets = vec!["query".to_string(), "key".to_string(), "value".to_string()];
    let ad = train_losses::lora_adapters(
        cfg.layers,
        cfg.hidden,
        4,
        &targets,
        VarBuilder::from_varmap(&avm, DType::F32, &dev),
    )
    .unwrap();
    init::seeded_init(&avm, 9).unwrap();
    m.attach_lora(&ad, 8.0 / 4.0);
    let (x, w, t) = batch(&dev);
    let (lp, steps) = m.forward(&x, &w).unwrap();
    let loss = ctc::ctc_loss(&lp, &t, &steps, 0).unwrap();
    let g = loss.backward().unwrap();
    // B starts at zero, so A's gradient is zero at step 0 by construction; B's must be non-zero.
    let miss = missing(&avm, &g);
    assert!(miss.iter().all(|n| n.ends_with("lora_a")), "{miss:?}");
    assert_eq!(avm.all_vars().len(), 2 * 3 * cfg.layers);
    // After one optimiser step B is non-zero and every adapter variable gets a gradient.
    use candle_nn::Optimizer;
    let mut opt = candle_nn::AdamW::new(avm.all_vars(), candle_nn::ParamsAdamW::default()).unwrap();
    opt.step(&g).unwrap();
    let (lp, steps) = m.forward(&x, &w).unwrap();
    let g = ctc::ctc_loss(&lp, &t, &steps, 0)
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(missing(&avm, &g), Vec::<String>::new());
}
