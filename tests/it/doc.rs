//! The document model and extraction through the real binary on a tiny rendered dataset:
//! `lab train doc-base` / `doc-lora` (records, determinism, resume, adapters only),
//! `--init-from` a tiny Hugging Face Llama checkpoint written here in that exact layout (then
//! replayed bit for bit), `lab eval` of a document model, `lab extract` and `lab eval-extract`,
//! and bad input: images without a timetable counted per file, bad checkpoints named.

use crate::common;

use std::fs;

use common::{Project, TINY_OCR};

/// The shared tiny document model, trained two epochs here (resume needs an epoch to resume).
fn tiny_doc() -> String {
    common::TINY_DOC.replace("epochs = 1", "epochs = 2")
}

const TINY_DOC_LORA: &str = r#"
[noise]
rate = 0.1

[lora]
base = "doc_base@1"
rank = 2
alpha = 4.0
target_modules = ["q_proj", "v_proj"]

[train]
dataset = "tt"
epochs = 1
batch_size = 16
learning_rate = 0.003
warmup_steps = 5
val_lines = 20
output = "doc_lora"
"#;

fn project() -> Project {
    let p = Project::with_tiny_dataset();
    fs::write(p.path("configs/doc_base.toml"), tiny_doc()).unwrap();
    fs::write(p.path("configs/doc_lora.toml"), TINY_DOC_LORA).unwrap();
    let student = TINY_OCR.replace("output = \"ocr_teacher\"", "output = \"ocr_student\"");
    fs::write(p.path("configs/ocr_student.toml"), student).unwrap();
    p
}

fn bundle(p: &Project, hash: &str) -> serde_json::Value {
    serde_json::from_slice(&p.blob(hash)).unwrap()
}

fn file_hash<'a>(b: &'a serde_json::Value, name: &str) -> &'a str {
    b["files"][name].as_str().unwrap()
}

#[test]
fn doc_models_train_deterministically_adapt_and_extract() {
    let p = project();
    let d1 = p.ok(&["--json", "train", "doc-base"]).json();
    assert_eq!(d1["model"], "doc_base@1", "{d1}");
    assert_eq!(d1["recipe"], "train.doc-base");
    for k in ["field_f1", "exact", "invalid"] {
        let v = d1["val"][k].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{k} {v}");
    }
    let hash = d1["model_hash"].as_str().unwrap();
    let b = bundle(&p, hash);
    assert_eq!(b["kind"], "doc");
    let files: Vec<&String> = b["files"].as_object().unwrap().keys().collect();
    assert_eq!(
        files,
        ["config.json", "model.safetensors", "tokenizer.json"]
    );
    // config.json in the Hugging Face Llama layout.
    let cfg: serde_json::Value =
        serde_json::from_slice(&p.blob(file_hash(&b, "config.json"))).unwrap();
    assert_eq!(cfg["model_type"], "llama");
    assert_eq!(cfg["architectures"][0], "LlamaForCausalLM");
    assert_eq!(cfg["num_key_value_heads"], 1);
    let tok: serde_json::Value =
        serde_json::from_slice(&p.blob(file_hash(&b, "tokenizer.json"))).unwrap();
    assert_eq!(tok["model"]["type"], "BPE");
    let run = d1["run"].as_str().unwrap();
    for key in ["train_loss", "val_field_f1", "val_exact", "val_loss"] {
        assert!(
            !p.ok(&["--json", "metrics", run, key])
                .json_lines()
                .is_empty(),
            "{key}"
        );
    }

    // Same seed, same bytes; killed after epoch 1 and resumed, same bytes.
    let d2 = p.ok(&["--json", "train", "doc-base", "--force"]).json();
    assert_eq!(
        d2["model_hash"], d1["model_hash"],
        "doc training is not deterministic"
    );
    let killed = p.lab_env(
        &[("LAB_FAULT_KILL_AFTER_EPOCH", "1")],
        &["train", "doc-base", "--force"],
    );
    assert!(!killed.ok(), "{killed}");
    let resumed = p.ok(&["--json", "train", "doc-base", "--resume"]).json();
    assert_eq!(
        resumed["model_hash"], d1["model_hash"],
        "resume changed the result"
    );

    // LoRA: adapters only, base untouched.
    let base_weights = file_hash(&b, "model.safetensors").to_string();
    let before = p.blob(&base_weights);
    let l = p.ok(&["--json", "train", "doc-lora"]).json();
    assert_eq!(l["model"], "doc_lora@1", "{l}");
    assert!(l["trainable_fraction"].as_f64().unwrap() < 0.5, "{l}");
    let lb = bundle(&p, l["model_hash"].as_str().unwrap());
    assert_eq!(lb["kind"], "doc-lora");
    assert_eq!(lb["base"], d1["model_hash"]);
    let files: Vec<&String> = lb["files"].as_object().unwrap().keys().collect();
    assert_eq!(files, ["adapter.safetensors", "adapter_config.json"]);
    assert_eq!(
        p.blob(&base_weights),
        before,
        "LoRA changed the base weights"
    );

    // The document model scored alone on noised cells: six fields, recorded.
    let e = p
        .ok(&[
            "--json",
            "eval",
            "doc_lora",
            "--dataset",
            "tt",
            "--split",
            "val",
        ])
        .json();
    assert_eq!(e["fields"].as_array().unwrap().len(), 6, "{e}");
    assert!(e["records"].as_u64().unwrap() > 0);
    let evals = p.ok(&["--json", "log", "--kind", "evaluated"]).json_lines();
    assert!(!evals.is_empty());

    // Extraction end to end with tiny (barely trained) models: it runs, reports and records.
    p.ok(&["train", "ocr-teacher", "--output", "ocr_student"]);
    let image = fs::read_dir(p.path("datasets/tt/images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.extension().is_some_and(|x| x != "json"))
        .unwrap();
    let x = p.lab(&[
        "--json",
        "extract",
        image.to_str().unwrap(),
        "--out",
        "entries.jsonl",
    ]);
    let j = x.json();
    assert_eq!(j["images"].as_array().unwrap().len(), 1, "{x}");
    // The layout is found; a barely trained OCR may not read the day headers, which is then
    // the reported reason.
    let im = &j["images"][0];
    assert!(
        im["rows"].as_u64().is_some_and(|r| r >= 2)
            || im["error"]
                .as_str()
                .is_some_and(|e| e.contains("no day header")),
        "{x}"
    );
    assert!(p.path("entries.jsonl").exists());
    // The same as CSV and as an iCalendar file: data on stdout whatever the models read.
    let csv = p.lab(&["extract", image.to_str().unwrap(), "--csv"]);
    assert!(
        csv.stdout
            .starts_with("image,day,start,end,subject,room,teacher,confidence,x0,y0,x1,y1\r\n"),
        "{csv}"
    );
    let ics = p.lab(&[
        "extract",
        image.to_str().unwrap(),
        "--ics",
        "--week-of",
        "2026-09-07",
    ]);
    assert!(ics.stdout.starts_with("BEGIN:VCALENDAR\r\n"), "{ics}");
    let bad = p.lab(&[
        "extract",
        image.to_str().unwrap(),
        "--ics",
        "--week-of",
        "2026-02-30",
    ]);
    assert!(!bad.ok() && bad.stderr.contains("--week-of"), "{bad}");
    let ee = p
        .ok(&[
            "--json",
            "eval-extract",
            "--dataset",
            "tt",
            "--split",
            "val",
        ])
        .json();
    for k in ["entry_f1", "field_f1", "latency_p50_ms"] {
        assert!(ee[k].is_number(), "{k}: {ee}");
    }
    assert_eq!(ee["fields"].as_array().unwrap().len(), 6);
}

#[test]
fn images_without_a_timetable_fail_per_file_and_the_batch_goes_on() {
    let p = project();
    p.ok(&[
        "train",
        "ocr-teacher",
        "--output",
        "ocr_student",
        "--epochs",
        "1",
    ]);
    p.ok(&["train", "doc-base", "--epochs", "1"]);
    let dir = p.path("in");
    fs::create_dir_all(&dir).unwrap();
    image::GrayImage::from_pixel(800, 600, image::Luma([240]))
        .save(dir.join("blank.png"))
        .unwrap();
    fs::write(dir.join("notes.png"), b"this is not a picture").unwrap();
    let good = fs::read_dir(p.path("datasets/tt/images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.extension().is_some_and(|x| x == "png"))
        .unwrap();
    fs::copy(&good, dir.join("tt.png")).unwrap();
    let out = p.lab(&["extract", "in"]);
    assert_eq!(out.code, 1, "failed images make the exit code 1:\n{out}");
    assert!(
        out.stdout.contains("blank.png: no timetable found"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("notes.png: not a PNG, JPEG or PDF file"),
        "{out}"
    );
    // The timetable itself is processed (a barely trained OCR may not read its day headers).
    assert!(out.stdout.contains("in/tt.png:"), "{out}");
    assert!(out.stdout.contains("3 images, "), "{out}");

    // PDFs: a text-layer page is read without OCR (its headers give the days and times
    // whatever the tiny document model answers); a broken and an encrypted file are refused
    // by name; the rest of the batch goes on.
    fs::write(dir.join("week.pdf"), text_pdf(false)).unwrap();
    fs::write(dir.join("locked.pdf"), text_pdf(true)).unwrap();
    fs::write(dir.join("broken.pdf"), b"%PDF-1.4\nnot really a PDF").unwrap();
    let out = p.lab(&["--json", "extract", "in"]);
    assert_eq!(out.code, 1, "{out}");
    let j = out.json();
    let by_name = |n: &str| {
        j["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["image"].as_str().unwrap().ends_with(n))
            .unwrap_or_else(|| panic!("{n} missing: {j}"))
            .clone()
    };
    assert!(
        by_name("broken.pdf")["error"]
            .as_str()
            .unwrap()
            .contains("not a readable PDF"),
        "{j}"
    );
    assert!(
        by_name("locked.pdf")["error"]
            .as_str()
            .unwrap()
            .contains("encrypted"),
        "{j}"
    );
    let week = by_name("week.pdf#1");
    assert!(week["error"].is_null(), "{week}");
    assert_eq!(
        (week["rows"].as_u64(), week["cols"].as_u64()),
        (Some(3), Some(3)),
        "{week}"
    );
    assert_eq!(week["orientation"], "days_as_columns");
    for e in week["entries"].as_array().unwrap() {
        assert!(
            ["Monday", "Tuesday"].contains(&e["day"].as_str().unwrap()),
            "{e}"
        );
        assert!(
            ["08:00", "13:00"].contains(&e["start"].as_str().unwrap()),
            "{e}"
        );
        assert!(
            e["confidence"]
                .as_f64()
                .is_some_and(|c| (0.0..=1.0).contains(&c)),
            "{e}"
        );
    }
    // The same folder scored against its own truth: numbers, and every failure with its reason.
    fs::write(
        dir.join("truth.jsonl"),
        concat!(
            r#"{"image": "week.pdf", "entries": [{"day": "Mon", "start": "08:00", "end": "09:00", "subject": "Maths", "room": "MB 1", "teacher": "Sir Jerome"}]}"#,
            "\n",
            r#"{"image": "blank.png", "entries": []}"#,
            "\n"
        ),
    )
    .unwrap();
    let ev = p.ok(&["--json", "eval-extract", "--images", "in"]).json();
    assert_eq!(ev["images"], 2, "{ev}");
    assert_eq!(ev["entries"], 1, "{ev}");
    assert!(
        ev["entry_f1"].is_number() && ev["fields"].as_array().unwrap().len() == 6,
        "{ev}"
    );
    assert!(
        ev["failures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no timetable found"),
        "{ev}"
    );
    p.fails(&["eval-extract", "--images", "empty"])
        .stderr_has(&["truth.jsonl"]);

    // The other-software fixtures (tests/fixtures/timetables: HTML tables rendered by
    // Chromium, with their truth) imported as a dataset: every page with its truth, the lines
    // lab found labelled from it (a barely trained OCR claims few or none), a snapshot; then
    // the document model fine-tuned on it.
    let fixtures = format!("{}/tests/fixtures/timetables", env!("CARGO_MANIFEST_DIR"));
    let imp = p
        .ok(&[
            "--json",
            "data",
            "import",
            "timetables",
            &fixtures,
            "--name",
            "mine",
        ])
        .json();
    assert_eq!(
        imp["timetables"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        6,
        "{imp}"
    );
    assert_eq!(imp["entries"], 33, "{imp}");
    assert!(
        imp["cell_lines"].as_u64().unwrap() > 0,
        "the layout found no lines: {imp}"
    );
    assert!(imp["labelled"].as_u64().unwrap() <= imp["cell_lines"].as_u64().unwrap());
    assert_eq!(imp["snapshot"]["name"], "mine", "{imp}");
    let truth: serde_json::Value =
        serde_json::from_slice(&fs::read(p.path("datasets/mine/images/tt_0000.json")).unwrap())
            .unwrap();
    assert_eq!(truth["source"], "ruled_dark_header.png", "{truth}");
    assert_eq!(truth["entries"][0]["teacher"], "Dr. Young", "{truth}");
    let lora = p
        .ok(&[
            "--json",
            "train",
            "doc-lora",
            "--dataset",
            "mine",
            "--output",
            "doc_mine",
        ])
        .json();
    assert!(lora["run"].is_string(), "{lora}");
    // A folder without truth.jsonl, a bad entry: named, nothing written.
    p.fails(&["data", "import", "timetables", "empty"])
        .stderr_has(&["truth.jsonl"]);
    fs::create_dir_all(p.path("bad")).unwrap();
    fs::copy(format!("{fixtures}/boxes_12h.png"), p.path("bad/a.png")).unwrap();
    fs::write(
        p.path("bad/truth.jsonl"),
        r#"{"image": "a.png", "entries": [{"day": "Someday", "start": "9:00", "end": "", "subject": "X", "room": "", "teacher": ""}]}"#,
    )
    .unwrap();
    p.fails(&["data", "import", "timetables", "bad"])
        .stderr_has(&["truth.jsonl", "line 1, entry 1", "Someday"]);
    assert!(!p.path("datasets/bad").exists());
    // Naming a file that is not there, or a directory without images: an error.
    p.fails(&["extract", "missing.png"])
        .stderr_has(&["missing.png"]);
    fs::create_dir_all(p.path("empty")).unwrap();
    p.fails(&["extract", "empty"])
        .stderr_has(&["no PNG, JPEG or PDF"]);
    // An OCR model where a document model is needed, and the reverse.
    p.fails(&["extract", "in", "--model", "ocr_student"])
        .stderr_has(&["is an OCR model"]);

    // `lab serve` reads PDFs on /v1/extract as `lab extract` does: a page per entry of
    // `pages`; a broken PDF is a 422 that says why (issue 15).
    let srv = common::server::Server::start(
        &p,
        &[
            "--addr",
            "127.0.0.1:0",
            "--ocr",
            "ocr_student@1",
            "--model",
            "doc_base@1",
        ],
    );
    let (code, v) = srv.req("POST", "/v1/extract", &[], &text_pdf(false));
    assert_eq!(code, 200, "{v}");
    let page = &v["pages"][0];
    assert_eq!(
        (page["page"].as_u64(), page["rows"].as_u64()),
        (Some(1), Some(3)),
        "{v}"
    );
    assert_eq!(
        page["entries"].as_array().map(Vec::len),
        week["entries"].as_array().map(Vec::len)
    );
    assert!(v["request_id"].is_string(), "{v}");
    let (code, v) = srv.req("POST", "/v1/extract", &[], b"%PDF-1.4\nnot really a PDF");
    assert_eq!(code, 422, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("not a readable PDF"),
        "{v}"
    );
}

/// A one-page PDF with a text layer: a title, a timetable (days across, 12-hour times without
/// AM/PM down the side) and a legend; `encrypt` adds an encryption dictionary no password opens.
fn text_pdf(encrypt: bool) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, dictionary};
    let texts: [(f32, f32, &str); 10] = [
        (150.0, 40.0, "Timetable, spring term"),
        (40.0, 100.0, "Time"),
        (160.0, 100.0, "Monday"),
        (300.0, 100.0, "Tuesday"),
        (40.0, 140.0, "8:00 - 9:00"),
        (160.0, 140.0, "Maths"),
        (160.0, 154.0, "MB 1"),
        (40.0, 200.0, "1:00 - 2:00"),
        (300.0, 200.0, "ITC02"),
        (40.0, 300.0, "MB = main building"),
    ];
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let mut ops = Vec::new();
    for (x, y, t) in texts {
        ops.push(Operation::new("BT", vec![]));
        ops.push(Operation::new("Tf", vec!["F1".into(), 10.into()]));
        ops.push(Operation::new("Td", vec![x.into(), (792.0 - y).into()]));
        ops.push(Operation::new("Tj", vec![Object::string_literal(t)]));
        ops.push(Operation::new("ET", vec![]));
    }
    let content = Content { operations: ops }.encode().unwrap();
    let content_id = doc.add_object(Stream::new(dictionary! {}, content));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
        "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    if encrypt {
        doc.trailer.set(
            "Encrypt",
            dictionary! {
                "Filter" => "Standard", "V" => 2, "R" => 3, "Length" => 128, "P" => -4,
                "O" => Object::string_literal(vec![7u8; 32]),
                "U" => Object::string_literal(vec![9u8; 32]),
            },
        );
    }
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

/// A tiny Llama checkpoint in the Hugging Face layout, written without lab: config.json with
/// grouped-query attention and tied embeddings, model.safetensors, tokenizer.json.
fn write_checkpoint(dir: &std::path::Path) {
    fs::create_dir_all(dir).unwrap();
    let corpus: Vec<String> = (0..200)
        .map(|i| {
            format!(
                "day: Monday\ntime: {:02}:00\u{2013}{:02}:45\nline: Art\n{{\"day\":\"Monday\",\"start\":\"{:02}:00\"}}",
                i % 20,
                i % 20,
                i % 20
            )
        })
        .collect();
    let tok = lab::ml::doc::tok::Tok::train(&corpus, 290).unwrap();
    fs::write(dir.join("tokenizer.json"), tok.to_json()).unwrap();
    let vocab = 300;
    let (h, f, kv, layers) = (16usize, 24usize, 8usize, 1usize);
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "torch_dtype": "float32",
        "vocab_size": vocab, "hidden_size": h, "intermediate_size": f,
        "num_hidden_layers": layers, "num_attention_heads": 2, "num_key_value_heads": 1,
        "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
        "tie_word_embeddings": true, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2
    });
    fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    let mut shapes = vec![("model.embed_tokens.weight".to_string(), vec![vocab, h])];
    for i in 0..layers {
        for (n, s) in [
            ("input_layernorm.weight", vec![h]),
            ("self_attn.q_proj.weight", vec![h, h]),
            ("self_attn.k_proj.weight", vec![kv, h]),
            ("self_attn.v_proj.weight", vec![kv, h]),
            ("self_attn.o_proj.weight", vec![h, h]),
            ("post_attention_layernorm.weight", vec![h]),
            ("mlp.gate_proj.weight", vec![f, h]),
            ("mlp.up_proj.weight", vec![f, h]),
            ("mlp.down_proj.weight", vec![h, f]),
        ] {
            shapes.push((format!("model.layers.{i}.{n}"), s));
        }
    }
    shapes.push(("model.norm.weight".into(), vec![h]));
    let mut state = 12345u64;
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = shapes
        .into_iter()
        .map(|(n, s)| {
            let count: usize = s.iter().product();
            let bytes: Vec<u8> = (0..count)
                .flat_map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    let v = if n.contains("norm") {
                        1.0f32
                    } else {
                        ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
                    };
                    v.to_le_bytes()
                })
                .collect();
            (n, s, bytes)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = data
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    safetensors::tensor::serialize_to_file(views, None, &dir.join("model.safetensors")).unwrap();
}

#[test]
fn init_from_a_hugging_face_checkpoint_and_replay_it() {
    let p = project();
    let ck = p.path("ckpt");
    write_checkpoint(&ck);
    let t = p
        .ok(&[
            "--json",
            "train",
            "doc-base",
            "--init-from",
            "ckpt",
            "--epochs",
            "1",
            "--output",
            "tuned",
        ])
        .json();
    assert_eq!(t["model"], "tuned@1", "{t}");
    let show = p
        .ok(&["--json", "runs", "show", t["run"].as_str().unwrap()])
        .json();
    let init = show["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["role"] == "init")
        .unwrap_or_else(|| panic!("no init input: {show}"));
    assert!(init["name"].as_str().unwrap().contains("ckpt"), "{init}");
    // The checkpoint's shape and tokenizer are the model's.
    let b = bundle(&p, t["model_hash"].as_str().unwrap());
    let cfg: serde_json::Value =
        serde_json::from_slice(&p.blob(file_hash(&b, "config.json"))).unwrap();
    assert_eq!(cfg["tie_word_embeddings"], true);
    assert_eq!(
        p.blob(file_hash(&b, "tokenizer.json")),
        fs::read(ck.join("tokenizer.json")).unwrap()
    );
    // Replay rebuilds it from the log alone (the checkpoint directory gone).
    fs::remove_dir_all(&ck).unwrap();
    let r = p.ok(&["--json", "replay", "tuned@1"]);
    assert!(r.stdout.contains("identical"), "{r}");

    // Bad checkpoints are named.
    write_checkpoint(&ck);
    fs::remove_file(ck.join("tokenizer.json")).unwrap();
    p.fails(&["train", "doc-base", "--init-from", "ckpt"])
        .stderr_has(&["tokenizer.json"]);
    write_checkpoint(&ck);
    let cfg = fs::read_to_string(ck.join("config.json"))
        .unwrap()
        .replace("\"intermediate_size\": 24", "\"intermediate_size\": 20");
    fs::write(ck.join("config.json"), cfg).unwrap();
    p.fails(&["train", "doc-base", "--init-from", "ckpt"])
        .stderr_has(&["model.safetensors", "mlp.gate_proj.weight", "shape"]);
}
