//! `lab replay` through the real binary: a tiny model rebuilt from the log alone is identical;
//! a damaged dataset blob makes it "cannot replay" naming the file; an external command run
//! outside a git repository cannot replay; `--all` prints its time against the originals';
//! every verdict is a ReplayVerified event.

use crate::common;

use std::fs;

use common::Project;

#[test]
fn replay_rebuilds_bit_for_bit_and_names_damage() {
    let p = Project::with_tiny_dataset();
    // One epoch, with augmentation: its seeded stream is part of what replay reproduces.
    let tiny = common::TINY_OCR
        .replace("epochs = 2", "epochs = 1")
        .replace("val_lines = 20", "val_lines = 20\naugment = 0.3");
    fs::write(p.path("configs/ocr_teacher.toml"), &tiny).unwrap();
    // A command-line override is part of what replay must reproduce.
    let t = p
        .ok(&["--json", "train", "ocr-teacher", "--learning-rate", "0.002"])
        .json();
    // The config file changes afterwards: replay uses what was recorded, not the file.
    fs::write(
        p.path("configs/ocr_teacher.toml"),
        tiny.replace("epochs = 1", "epochs = 3"),
    )
    .unwrap();

    let plan = p.ok(&["replay", "--all", "--plan"]);
    plan.stdout_has(&[
        "planned",
        "would train train.ocr-teacher with seed 7",
        "dataset tt@1",
    ]);

    let r = p.ok(&["--json", "replay", "ocr_teacher@1"]).json();
    assert_eq!(r["rows"][0]["verdict"], "identical", "{r}");
    assert_eq!(r["rows"][0]["actual"], t["model_hash"]);
    let evs = p.ok(&["--json", "log", "--kind", "replay"]).json_lines();
    assert_eq!(evs.len(), 1);
    assert_eq!(
        evs[0]["body"]["ReplayVerified"]["verdict"], "Identical",
        "{:?}",
        evs[0]
    );

    // Damage one line image's blob: cannot replay, and the file is named.
    let line = fs::read_dir(p.path("datasets/tt/lines/train"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = fs::read(&line).unwrap();
    let hash = common::sha256_hex(&bytes);
    let blob = p.blob_path(&hash);
    let mut damaged = bytes.clone();
    damaged[40] ^= 0xff;
    common::overwrite(&blob, &damaged);
    let bad = p.lab(&["replay", &t["run"].as_str().unwrap()[..8]]);
    assert_eq!(bad.code, 1, "{bad}");
    let name = line.file_name().unwrap().to_str().unwrap();
    bad.stdout_has(&["cannot replay", name, &hash[..12]]);
    fs::write(&blob, &bytes).unwrap();
    p.ok(&["replay", "ocr_teacher"]).stdout_has(&["identical"]);

    // An external command outside a git repository has no recorded code to run again.
    p.ok(&["run", "--name", "ext", "--", "true"]);
    let ext = p.lab(&["replay", "ext"]);
    assert_eq!(ext.code, 1, "{ext}");
    ext.stdout_has(&["cannot replay", "not in a git repository"]);

    // An audit of everything prints its time against the original runs'.
    let all = p.lab(&["replay", "--all"]);
    all.stdout_has(&["identical", "the original runs took", "× their time"]);

    p.fails(&["replay", "nope"]).stderr_has(&["neither a run"]);
    p.ok(&["verify"]);
}
