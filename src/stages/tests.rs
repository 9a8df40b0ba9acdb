use super::*;

fn parse(text: &str) -> Result<Dag, StageError> {
    let c = crate::project::parse_config(Path::new("lab.toml"), text).unwrap();
    Dag::new(c.stages, text, true)
}

#[test]
fn default_stages_order_the_old_flow() {
    let c = crate::project::parse_config(Path::new("lab.toml"), &crate::project::default_toml("x"))
        .unwrap();
    assert!(!c.stages.is_empty(), "lab init writes the stages");
    assert_eq!(c.stages, default_decls(&c));
    let dag = Dag::new(c.stages, "", true).unwrap();
    let names: Vec<&str> = dag.stages.iter().map(|s| s.name()).collect();
    let at = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(at("synth") < at("snapshot"));
    assert!(at("snapshot") < at("ocr_teacher"));
    assert!(at("ocr_teacher") < at("ocr_student"));
    assert!(at("ocr_teacher") < at("ocr_lora"));
    assert!(at("doc_base") < at("doc_lora"));
    assert!(at("extract_shifted") < at("report"));
    assert_eq!(names.last(), Some(&"verify"));
    // Changing the student's config reruns it and what reads its model only.
    let hit = dag.affected(&["configs/ocr_student.toml".into()]);
    let hit: Vec<&str> = hit.iter().map(|&i| names[i]).collect();
    assert_eq!(
        hit,
        ["ocr_student", "eval_student", "extract", "report", "verify"]
    );
    // A dataset change reaches every stage after the snapshot, not synth.
    let all = dag.affected(&["datasets/timetables/images/tt_0001.png".into()]);
    assert!(!all.contains(&at("synth")));
    assert!(all.contains(&at("ocr_teacher")) && all.contains(&at("verify")));
}

#[test]
fn mistakes_name_stage_key_and_line() {
    let e = parse("[[stages]]\nname = \"a\"\nuses = \"train.nope\"\n").unwrap_err();
    assert_eq!(
        (e.line, e.column),
        (3, 1),
        "the key itself, from the parser's spans"
    );
    assert!(
        e.to_string().starts_with("lab.toml:3:1: stage `a`: uses:"),
        "{e}"
    );
    let e = parse("[[stages]]\nname = \"a\"\ncmd = \"true\"\ndeps = [\"stage:b\"]\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("lab.toml:4:1: stage `a`: deps: `stage:b` names no stage"),
        "{e}"
    );
    let cyc = "[[stages]]\nname = \"a\"\ncmd = \"x\"\ndeps = [\"stage:b\"]\n\
               [[stages]]\nname = \"b\"\ncmd = \"y\"\ndeps = [\"stage:a\"]\n";
    let e = parse(cyc).unwrap_err().to_string();
    assert!(
        e.contains("cycle") && e.contains("a, b") && e.starts_with("lab.toml:4:1:"),
        "{e}"
    );
    let e = parse("[[stages]]\nname = \"e\"\nuses = \"eval\"\nwith = { modl = \"m\" }\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("lab.toml:4:10:") && e.contains("with.modl: unknown setting"),
        "{e}"
    );
    let e = parse("[[stages]]\nname = \"e\"\nuses = \"eval\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("lab.toml:1:1:") && e.contains("with.model: missing"),
        "a missing key: the [[stages]] entry it is missing from — {e}"
    );
}

#[test]
fn settings_are_typed_and_their_errors_name_the_key_where_it_stands() {
    let e = parse(
        "[[stages]]\nname = \"s\"\nuses = \"data.synth\"\nwith = { dataset = \"d\", count = \"many\" }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("lab.toml:4:25: stage `s`: with.count: invalid type: string \"many\""),
        "{e}"
    );
    let e = parse(
        "[[stages]]\nname = \"s\"\nuses = \"data.synth\"\n[stages.with]\ndataset = \"d\"\ndomain = \"sideways\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("lab.toml:6:1: stage `s`: with.domain: unknown variant `sideways`"),
        "{e}"
    );
    let e = parse(
        "[[stages]]\nname = \"t\"\nuses = \"train.ocr-teacher\"\nwith = { epochs = \"two\" }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("with.epochs: invalid type") && e.starts_with("lab.toml:4:10:"),
        "{e}"
    );
    let e = parse("[[stages]]\nname = \"r\"\nuses = \"report\"\nwith = { x = 1 }\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("with.x: unknown setting for this step — it takes none"),
        "{e}"
    );
    let ok = parse(
        "[[stages]]\nname = \"s\"\nuses = \"data.synth\"\nwith = { dataset = \"d\", domain = \"shifted\", count = 5 }\n",
    )
    .unwrap();
    assert_eq!(
        ok.stages[0].step,
        Step::Synth {
            dataset: "d".into(),
            count: 5,
            text_lines: crate::dataset::synth::write::TEXT_LINES_PER_TIMETABLE,
            shifted: true,
            seed: None
        }
    );
}

#[test]
fn outs_make_implicit_edges() {
    let text = "[[stages]]\nname = \"use\"\ncmd = \"wc out/a\"\ndeps = [\"out/a\"]\n\
                [[stages]]\nname = \"make\"\ncmd = \"mkdir -p out && date > out/a\"\nouts = [\"out\"]\n";
    let dag = parse(text).unwrap();
    assert_eq!(dag.stages[0].name(), "make");
    assert_eq!(dag.stages[1].upstream, vec![0]);
}
