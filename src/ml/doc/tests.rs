//! Gradient coverage of the document model in both modes, and decoding consistency.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::llama::{Llama, LlamaConfig, causal_mask};
use super::record::Record;
use super::tok::Tok;
use super::train::{self, Example};
use crate::dataset::synth::{Domain, timetable};
use crate::ml::init;

pub fn tiny_config(vocab: usize) -> LlamaConfig {
    serde_json::from_value(serde_json::json!({
        "vocab_size": vocab, "hidden_size": 32, "intermediate_size": 48,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 160
    }))
    .unwrap()
}

pub fn examples(seed: u64, n: u32) -> Vec<Example> {
    (0..n)
        .flat_map(|i| timetable(seed, Domain::Default, i).entries)
        .map(|e| {
            Example::of(&Record {
                day: e.day,
                start: e.start,
                end: e.end,
                subject: e.subject,
                room: e.room,
                teacher: e.teacher,
            })
        })
        .collect()
}

pub fn corpus(ex: &[Example]) -> Vec<String> {
    ex.iter()
        .enumerate()
        .flat_map(|(i, e)| {
            let p = e.noisy_prompt(0.1, &mut train::noise_rng(0, 0, i));
            [p, e.record.to_json()]
        })
        .collect()
}

fn grads_of(model: &Llama, tok: &Tok, ex: &[Example], vm: &VarMap) -> (usize, usize) {
    let dev = Device::Cpu;
    let seqs: Vec<Vec<u32>> = ex
        .iter()
        .take(4)
        .map(|e| {
            let mut v =
                train::prompt_ids(tok, &e.noisy_prompt(0.0, &mut train::noise_rng(0, 0, 0)));
            v.extend(tok.encode(&e.record.to_json()));
            v
        })
        .collect();
    let t = seqs.iter().map(Vec::len).min().unwrap();
    let ids: Vec<u32> = seqs.iter().flat_map(|s| s[..t].to_vec()).collect();
    let ids = Tensor::from_vec(ids, (4, t), &dev).unwrap();
    let h = model
        .hidden(
            &ids,
            &[(0..t).collect()],
            &causal_mask(t, &dev).unwrap(),
            None,
        )
        .unwrap();
    let loss = model.logits(&h).unwrap().sqr().unwrap().mean_all().unwrap();
    let g = loss.backward().unwrap();
    let data = vm.data().lock().unwrap();
    let with = data
        .values()
        .filter(|v| {
            g.get(v.as_tensor()).is_some_and(|g| {
                g.abs()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
                    > 0.0
            })
        })
        .count();
    (with, data.len())
}

#[test]
fn every_weight_and_every_adapter_gets_a_gradient() {
    let ex = examples(3, 2);
    let tok = Tok::train(&corpus(&ex), 300).unwrap();
    let cfg = tiny_config(tok.vocab_size());
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let model = Llama::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    init::seeded_init(&vm, 1).unwrap();
    let (with, all) = grads_of(&model, &tok, &ex, &vm);
    assert_eq!(with, all, "full: {with} of {all} variables got a gradient");
    assert_eq!(all, cfg.shapes().len());

    // LoRA: base frozen, every adapter trains (B starts at zero, so A gets none at step 0:
    // check B, then after one B update, A too).
    let base: HashMap<String, Tensor> = vm
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    let avm = VarMap::new();
    let mut lm = Llama::new(&cfg, VarBuilder::from_tensors(base, DType::F32, &dev)).unwrap();
    let targets: Vec<String> = ["q_proj", "v_proj", "down_proj"].map(String::from).to_vec();
    let ad = super::model::lora_adapters(
        &cfg,
        4,
        &targets,
        VarBuilder::from_varmap(&avm, DType::F32, &dev),
    )
    .unwrap();
    init::seeded_init(&avm, 2).unwrap();
    for (_, (_, b)) in ad.iter() {
        // Stand-in for one optimiser step on B.
        let v = avm
            .data()
            .lock()
            .unwrap()
            .values()
            .find(|v| v.as_tensor().id() == b.id())
            .unwrap()
            .clone();
        v.set(&(b.ones_like().unwrap() * 0.01).unwrap()).unwrap();
    }
    lm.attach_lora(&ad, 2.0);
    let (with, all) = grads_of(&lm, &tok, &ex, &avm);
    assert_eq!(all, 2 * 2 * targets.len());
    assert_eq!(with, all, "LoRA: {with} of {all} adapters got a gradient");
}

/// The logits of every position of `seq` (T × vocab, flattened), recomputed in full.
fn full_logits(model: &Llama, seq: &[u32]) -> Vec<f32> {
    let dev = Device::Cpu;
    let t = seq.len();
    let ids = Tensor::from_vec(seq.to_vec(), (1, t), &dev).unwrap();
    let h = model
        .hidden(
            &ids,
            &[(0..t).collect()],
            &causal_mask(t, &dev).unwrap(),
            None,
        )
        .unwrap();
    model
        .logits(&h.flatten_to(1).unwrap())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn cached_decoding_matches_the_full_forward() {
    let ex = examples(4, 1);
    let tok = Tok::train(&corpus(&ex), 300).unwrap();
    let cfg = tiny_config(tok.vocab_size());
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let model = Llama::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    init::seeded_init(&vm, 9).unwrap();
    // Prompts of different lengths decoded together must give what each gives alone, and
    // each alone what a step-by-step argmax over full recomputation gives.
    let prompts: Vec<Vec<u32>> = ex[..3]
        .iter()
        .map(|e| train::prompt_ids(&tok, &e.noisy_prompt(0.0, &mut train::noise_rng(0, 0, 0))))
        .collect();
    let batched = super::generate::greedy(&model, &prompts, tok.pad, u32::MAX, 6).unwrap();
    for (p, got) in prompts.iter().zip(&batched) {
        let alone =
            super::generate::greedy(&model, std::slice::from_ref(p), tok.pad, u32::MAX, 6).unwrap();
        assert_eq!(&alone[0], got);
        let mut seq = p.clone();
        for _ in 0..6 {
            let all = full_logits(&model, &seq);
            let l = &all[(seq.len() - 1) * cfg.vocab_size..];
            let best = (0..l.len()).fold(0, |b, i| if l[i] > l[b] { i } else { b });
            seq.push(best as u32);
        }
        assert_eq!(&seq[p.len()..], &got[..]);
    }
    // The detached model (evaluation's) decodes the same tokens and its logits are the same bits.
    let detached = model.detached();
    assert_eq!(
        super::generate::greedy(&detached, &prompts, tok.pad, u32::MAX, 6).unwrap(),
        batched
    );
    let bits = |m: &Llama| -> Vec<u32> {
        let v = full_logits(m, &prompts[0]);
        v.iter().map(|f| f.to_bits()).collect()
    };
    assert_eq!(bits(&model), bits(&detached));
}

/// Our Llama against candle-transformers' reference implementation (inference only there) on
/// the same weights and config.json: the last position's logits agree. Grouped-query
/// attention and tied embeddings included, the variants of real checkpoints.
#[test]
fn matches_the_candle_transformers_llama() {
    use candle_transformers::models::llama as reference;
    let dev = Device::Cpu;
    for tie in [false, true] {
        let mut cfg = tiny_config(97);
        cfg.tie_word_embeddings = tie;
        let vm = VarMap::new();
        let ours = Llama::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        init::seeded_init(&vm, 5).unwrap();
        // Norm weights away from 1, so a missing norm weight would show.
        for (k, v) in vm.data().lock().unwrap().iter() {
            if k.contains("norm") {
                let n = v.elem_count();
                let w: Vec<f32> = (0..n).map(|i| 0.5 + (i % 7) as f32 * 0.1).collect();
                v.set(&Tensor::from_vec(w, n, &dev).unwrap()).unwrap();
            }
        }
        let json = serde_json::to_vec(&cfg).unwrap();
        let rc: reference::LlamaConfig = serde_json::from_slice(&json).unwrap();
        let rc = rc.into_config(false);
        let tensors: HashMap<String, Tensor> = vm
            .data()
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        let theirs =
            reference::Llama::load(VarBuilder::from_tensors(tensors, DType::F32, &dev), &rc)
                .unwrap();
        let ids: Vec<u32> = (0..11).map(|i| (i * 13 + 5) % 97).collect();
        let x = Tensor::from_vec(ids.clone(), (1, 11), &dev).unwrap();
        let mut cache = reference::Cache::new(false, DType::F32, &rc, &dev).unwrap();
        let want: Vec<f32> = theirs
            .forward(&x, 0, &mut cache)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let h = ours
            .hidden(
                &x,
                &[(0..11).collect()],
                &causal_mask(11, &dev).unwrap(),
                None,
            )
            .unwrap();
        let got: Vec<f32> = ours
            .logits(&h.narrow(1, 10, 1).unwrap())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let worst = want
            .iter()
            .zip(&got)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "tie={tie}: largest logit difference {worst}");
    }
}
