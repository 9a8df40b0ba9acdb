//! `lab report` through the real binary: a tiny trained and evaluated model plus an external
//! run with a hostile name; the index, run pages and PNG charts exist, link to each other with
//! relative links that resolve, escape user strings, load nothing from the network, and
//! writing them leaves the log as it was.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};

use common::Project;

/// (width, height) from a PNG's signature and IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let b = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(b.len() > 24, "{} is too short", path.display());
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    assert_eq!(&b[12..16], b"IHDR", "{}: no IHDR first", path.display());
    let w = u32::from_be_bytes(b[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(b[20..24].try_into().unwrap());
    (w, h)
}

/// Every `href="…"` and `src="…"` value of a page.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "src=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').expect("closed attribute");
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    out
}

/// Asserts that every relative link of `page` resolves to an existing file and that nothing
/// is fetched from elsewhere.
fn assert_links_resolve(page: &Path) -> Vec<PathBuf> {
    let html = fs::read_to_string(page).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{} refers to the network",
        page.display()
    );
    let dir = page.parent().unwrap();
    let mut targets = Vec::new();
    for l in links(&html) {
        if l.starts_with('#') {
            continue;
        }
        let file = l.split('#').next().unwrap();
        let target = dir.join(file.replace("&amp;", "&"));
        assert!(
            target.is_file(),
            "{} links to {l}, which does not exist",
            page.display()
        );
        targets.push(target.canonicalize().unwrap());
    }
    targets
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn report_pages_charts_links_and_escaping() {
    let p = Project::new();

    // Before anything ran: an index that says so.
    let empty = p.ok(&["--json", "report"]).json();
    assert_eq!(empty["run_pages"], 0, "{empty}");
    let index = fs::read_to_string(p.path("reports/index.html")).unwrap();
    assert!(index.contains("none recorded"), "replay placeholder");
    assert!(index.contains("No runs recorded yet"));

    p.tiny_dataset();
    fs::write(p.path("configs/ocr_teacher.toml"), common::TINY_OCR).unwrap();
    let t = p.ok(&["--json", "train", "ocr-teacher"]).json();
    let run = t["run"].as_str().unwrap().to_string();
    p.ok(&["eval", "ocr_teacher@1", "--dataset", "tt", "--split", "val"]);
    // A later partial evaluation does not stand in for the whole one.
    p.ok(&[
        "eval",
        "ocr_teacher@1",
        "--dataset",
        "tt",
        "--split",
        "val",
        "--limit",
        "7",
    ]);
    let script = p.lab(&[
        "--json",
        "run",
        "--name",
        "<script>x",
        "--param",
        "q=a&b\"c'd<i>",
        "--",
        "true",
    ]);
    assert!(script.ok(), "{script}");
    let script_run = script.json()["run"].as_str().unwrap().to_string();

    // Everything: writes files, appends nothing to the log.
    let before = p.log_json();
    let out = p.ok(&["--json", "report", "--all"]).json();
    assert_eq!(p.log_json(), before, "lab report changed the log");
    let index_path = PathBuf::from(out["index"].as_str().unwrap());
    assert_eq!(index_path, p.path("reports/index.html"));
    assert_eq!(out["run_pages"], 2, "{out}");
    assert_eq!(out["comparisons"], 1, "{out}");
    let index = fs::read_to_string(p.path("reports/index.html")).unwrap();
    assert!(
        index.contains("<td class=\"num\">46</td>") && !index.contains("<td class=\"num\">7</td>"),
        "the whole val evaluation (46 lines) is compared, not the later 7-line one"
    );
    let files = all_files(&p.path("reports"));
    assert_eq!(
        out["files"].as_u64().unwrap() as usize,
        files.len(),
        "{files:?}"
    );
    assert!(
        files.iter().all(|f| !f.to_string_lossy().contains(".tmp-")),
        "temp files left: {files:?}"
    );

    // The index: the run, linked; the comparison; the replay placeholder.
    let index = fs::read_to_string(&index_path).unwrap();
    let page_rel = format!("runs/{run}.html");
    assert!(index.contains(&run), "index lacks the run id");
    assert!(
        index.contains(&format!("href=\"{page_rel}\"")),
        "index does not link the run page"
    );
    assert!(index.contains("ocr_teacher@1"));
    assert!(index.contains("Replay verdicts") && index.contains("none recorded"));
    assert!(index.contains("<style>"), "inline CSS");
    // The hostile name and param are escaped wherever they appear.
    assert!(index.contains("&lt;script&gt;x"), "escaped name missing");
    assert!(
        !index.contains("<script>"),
        "an unescaped <script> in the index"
    );

    // The run page: params, inputs/outputs, charts, a link back.
    let page = p.path(format!("reports/{page_rel}"));
    let html = fs::read_to_string(&page).unwrap();
    assert!(html.contains(&run));
    assert!(
        html.contains("href=\"../index.html"),
        "no link back to the index"
    );
    for s in [
        "learning_rate",
        "dataset",
        "config",
        "ocr_teacher@1",
        "train.ocr-teacher",
    ] {
        assert!(html.contains(s), "run page lacks {s}");
    }
    let targets = assert_links_resolve(&page);
    assert!(targets.contains(&index_path.canonicalize().unwrap()));
    let index_targets = assert_links_resolve(&index_path);
    assert!(index_targets.contains(&page.canonicalize().unwrap()));
    for chart in ["loss", "val", "lr", "throughput"] {
        let png = p.path(format!("reports/runs/{run}/{chart}.png"));
        assert_eq!(png_size(&png), (560, 370), "{}", png.display());
        assert!(
            html.contains(&format!("src=\"{run}/{chart}.png\"")),
            "page lacks {chart}.png"
        );
    }
    let compare: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.parent().unwrap().ends_with("compare"))
        .collect();
    assert_eq!(
        compare.len(),
        3,
        "accuracy, CER and latency bars: {compare:?}"
    );
    for c in &compare {
        let (w, h) = png_size(c);
        assert_eq!(w, 560);
        assert!(h >= 150, "{h}");
        let name = c.file_name().unwrap().to_string_lossy();
        assert!(
            index.contains(&format!("src=\"compare/{name}\"")),
            "index lacks {name}"
        );
    }

    let spage = fs::read_to_string(p.path(format!("reports/runs/{script_run}.html"))).unwrap();
    assert!(spage.contains("<h1>&lt;script&gt;x</h1>"), "{spage}");
    assert!(
        spage.contains("a&amp;b&quot;c'd&lt;i&gt;"),
        "param not escaped"
    );
    assert!(!spage.contains("<script>") && !spage.contains("<i>"));
    assert_links_resolve(&p.path(format!("reports/runs/{script_run}.html")));

    // One run, by model reference or by name; the text output names index.html.
    let one = p.ok(&["--json", "report", "ocr_teacher@1"]).json();
    assert_eq!(one["run_pages"], 1, "{one}");
    assert!(
        one["scope"].as_str().unwrap().contains("ocr_teacher@1"),
        "{one}"
    );
    assert_eq!(one["comparisons"], 1);
    let by_name = p.ok(&["report", "<script>x"]);
    by_name.stdout_has(&["reports/index.html", "files written", "1 run page"]);
    let index = fs::read_to_string(&index_path).unwrap();
    assert!(
        index.contains("&lt;script&gt;x") && !index.contains(&page_rel),
        "scoped index"
    );

    // Unknown references fail clearly and change nothing.
    p.fails(&["report", "nope"])
        .stderr_has(&["nope", "lab runs ls"]);
    p.fails(&["report", "ocr_teacher@9"])
        .stderr_has(&["ocr_teacher@9"]);
    let both = p.lab(&["report", "--all", &run]);
    assert_eq!(both.code, 2, "RUN and --all together: {both}");

    // Issue 17: a second run of the recipe overlays its curve on the first; what production
    // serves, A/B tests and drift/alerts have their sections.
    p.ok(&["train", "ocr-teacher", "--seed", "9"]);
    p.ok(&["--json", "report", "--all"]);
    let index = fs::read_to_string(&index_path).unwrap();
    let curve = p.path("reports/curves/ocr-teacher.png");
    assert!(curve.is_file(), "no overlaid curves of ocr-teacher");
    assert_eq!(png_size(&curve).0, 560);
    assert!(
        index.contains("src=\"curves/ocr-teacher.png\""),
        "index lacks the curves"
    );
    for section in [
        "Training curves by recipe",
        "id=\"ab\">A/B tests",
        "id=\"drift\">Drift and alerts",
        "no alert raised",
    ] {
        assert!(index.contains(section), "index lacks {section}");
    }
    fs::write(
        p.path("configs/deploy.toml"),
        "[validation]\ndataset = \"tt\"\nlimit = 4\n[[ocr.gate]]\nmetric = \"accuracy\"\nop = \">=\"\nthreshold = 0.0\n",
    )
    .unwrap();
    p.ok(&["deploy", "ocr_teacher@2"]);
    p.ok(&["report", "--all"]);
    let index = fs::read_to_string(&index_path).unwrap();
    assert!(
        index.contains("Served now") && index.contains("<td>ocr</td><td>ocr_teacher@2</td>"),
        "the served model per task"
    );
    assert!(p.path("reports/deployments.png").is_file());
}
