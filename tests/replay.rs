//! `lab replay` through the real binary: a tiny model rebuilt from the log alone is identical;
//! a damaged dataset blob makes it "cannot replay" naming the file; an external command is
//! not replayable; every verdict is a ReplayVerified event.

mod common;

use std::fs;

use common::Project;

const TINY: &str = r#"
[model]
height = 32
stem = 16
hidden = 16
layers = 1
heads = 2
ff = 32

[train]
dataset = "tt"
epochs = 1
batch_size = 32
learning_rate = 0.003
warmup_steps = 4
seed = 7
val_lines = 20
augment = 0.3
output = "ocr_teacher"
"#;

#[test]
fn replay_rebuilds_bit_for_bit_and_names_damage() {
    let p = Project::new();
    p.ok(&["data", "synth", "tt", "--seed", "5", "--count", "8"]);
    p.ok(&["data", "snapshot", "datasets/tt"]);
    fs::write(p.path("configs/ocr_teacher.toml"), TINY).unwrap();
    // A command-line override is part of what replay must reproduce.
    let t = p
        .ok(&["--json", "train", "ocr-teacher", "--learning-rate", "0.002"])
        .json();
    // The config file changes afterwards: replay uses what was recorded, not the file.
    fs::write(
        p.path("configs/ocr_teacher.toml"),
        TINY.replace("epochs = 1", "epochs = 3"),
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
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    let blob = p.path(format!(".lab/objects/sha256/{}/{}", &hash[..2], &hash[2..]));
    let mut perm = fs::metadata(&blob).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    fs::set_permissions(&blob, perm).unwrap();
    let mut damaged = bytes.clone();
    damaged[40] ^= 0xff;
    fs::write(&blob, &damaged).unwrap();
    let bad = p.lab(&["replay", &t["run"].as_str().unwrap()[..8]]);
    assert_eq!(bad.code, 1, "{bad}");
    let name = line.file_name().unwrap().to_str().unwrap();
    bad.stdout_has(&["cannot replay", name, &hash[..12]]);
    fs::write(&blob, &bytes).unwrap();
    p.ok(&["replay", "ocr_teacher"]).stdout_has(&["identical"]);

    // An external command is not replayable (yet), and says so.
    p.ok(&["run", "--name", "ext", "--", "true"]);
    let ext = p.lab(&["replay", "ext"]);
    assert_eq!(ext.code, 1, "{ext}");
    ext.stdout_has(&["cannot replay", "external command"]);

    p.fails(&["replay", "nope"]).stderr_has(&["neither a run"]);
    p.ok(&["verify"]);
}
