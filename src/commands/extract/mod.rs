//! `lab extract` (timetable images → entries), `lab eval-extract` (end to end against a
//! snapshot's truth) and the document model's own evaluation on OCR-noised cell text (what
//! `lab eval` runs for a document model). Evaluations are recorded as `Evaluated` events with
//! metrics keyed `SPLIT.METRIC` (`test.entry_f1`, `test.subject.f1`, `test.latency_p50_ms`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use serde::Serialize;

use super::train::{DocModel, OcrModel, load_doc_model, load_model};
use crate::lab::Lab;
use crate::ml::doc::record::Record;
use crate::ml::extract::{self, Extracted, Models};
use crate::progress::Reporter;
use crate::timetable::export::{self, Date, Row};
use crate::timetable::pdf;

/// The models extraction uses by default: the newest `ocr_student` (fast) and `doc_base`.
pub const DEFAULT_OCR: &str = "ocr_student";
pub const DEFAULT_DOC: &str = "doc_base";

/// The loaded pair.
pub struct Pair {
    pub ocr: OcrModel,
    pub doc: DocModel,
}

impl Pair {
    pub fn load(lab: &Lab, ocr: Option<&str>, doc: Option<&str>) -> Result<Pair> {
        // A bare name is the deployed version (else production's, else the newest), said.
        use crate::deploy::Task;
        let (ocr, ocr_why) =
            crate::models::named_or_default(&lab.store, ocr, Task::Ocr, DEFAULT_OCR)?;
        let (doc, doc_why) =
            crate::models::named_or_default(&lab.store, doc, Task::Doc, DEFAULT_DOC)?;
        for (m, why) in [(&ocr, ocr_why), (&doc, doc_why)] {
            if let Some(why) = why {
                eprintln!("lab: {m} ({why})");
            }
        }
        let (ocr, doc) = (Some(ocr.as_str()), Some(doc.as_str()));
        let ocr = load_model(lab, ocr.unwrap_or(DEFAULT_OCR)).map_err(|e| {
            anyhow!("{e:#} — train one (lab train ocr-distill) or name another with --ocr")
        })?;
        let doc = load_doc_model(lab, doc.unwrap_or(DEFAULT_DOC)).map_err(|e| {
            anyhow!("{e:#} — train one (lab train doc-base) or name another with --model")
        })?;
        Ok(Pair { ocr, doc })
    }

    pub fn models(&self) -> Models<'_> {
        Models {
            ocr: &self.ocr.loaded.model,
            vocab: &self.ocr.loaded.vocab,
            doc: &self.doc.loaded.model,
            tok: &self.doc.loaded.tok,
        }
    }

    /// `ocr_student@1 + doc_base@1`.
    pub fn label(&self) -> String {
        format!("{} + {}", self.ocr.name, self.doc.name)
    }
}

/// One image's result.
#[derive(Debug, Serialize)]
pub struct ImageOut {
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub extracted: Option<Extracted>,
    pub ms: f64,
}

#[derive(Debug, Serialize)]
pub struct ExtractOut {
    pub models: String,
    pub images: Vec<ImageOut>,
    pub failed: usize,
}

impl ExtractOut {
    pub fn text(&self) -> String {
        let mut s = String::new();
        for im in &self.images {
            match (&im.error, &im.extracted) {
                (Some(e), _) => s.push_str(&format!("{}: {e}\n", im.image)),
                (None, Some(x)) => {
                    s.push_str(&format!(
                        "{}: {} entries ({}×{} grid, {:.0} ms)\n",
                        im.image,
                        x.entries.len(),
                        x.rows,
                        x.cols,
                        im.ms
                    ));
                    for f in &x.entries {
                        let r = &f.record;
                        let end = if r.end.is_empty() { "?    " } else { &r.end };
                        s.push_str(&format!(
                            "  {:<10} {}–{}  {:<20} {:<9} {:<16} {:.2}\n",
                            r.day, r.start, end, r.subject, r.room, r.teacher, f.confidence
                        ));
                    }
                    for (row, col, why) in &x.invalid {
                        s.push_str(&format!(
                            "  cell r{row} c{col}: unreadable answer ({why})\n"
                        ));
                    }
                }
                _ => {}
            }
        }
        s.push_str(&format!(
            "{} images, {} failed (models {})",
            self.images.len(),
            self.failed,
            self.models
        ));
        s
    }
}

impl ExtractOut {
    /// Every entry of every image, as exported.
    pub fn rows(&self) -> Vec<Row> {
        let mut out = Vec::new();
        for im in &self.images {
            for f in im.extracted.iter().flat_map(|x| &x.entries) {
                let r = &f.record;
                out.push(Row {
                    image: im.image.clone(),
                    day: r.day.clone(),
                    start: r.start.clone(),
                    end: r.end.clone(),
                    subject: r.subject.clone(),
                    room: r.room.clone(),
                    teacher: r.teacher.clone(),
                    confidence: f.confidence,
                    bbox: f.bbox,
                });
            }
        }
        out
    }

    /// The per-image failures and the count, for stderr when stdout carries data.
    pub fn failures(&self) -> String {
        let mut s = String::new();
        for im in &self.images {
            if let Some(e) = &im.error {
                s.push_str(&format!("{}: {e}\n", im.image));
            }
        }
        s.push_str(&format!(
            "{} images, {} failed (models {})",
            self.images.len(),
            self.failed,
            self.models
        ));
        s
    }

    /// The entries as CSV.
    pub fn csv(&self) -> String {
        export::csv(&self.rows())
    }

    /// The entries as an iCalendar file, events first in the week of `week_of` (YYYY-MM-DD;
    /// today when `None`), and the number of entries left out (day or time unreadable).
    pub fn ics(&self, week_of: Option<&str>) -> Result<(String, usize)> {
        let date = match week_of {
            Some(d) => Date::parse(d).map_err(|e| anyhow!("--week-of: {e}"))?,
            None => {
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                Date::from_days((secs / 86_400) as i64)
            }
        };
        Ok(export::ics(&self.rows(), date))
    }
}

/// Image files among `paths`, directories walked (sorted).
pub(crate) fn image_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = walkdir::WalkDir::new(p)
                .sort_by_file_name()
                .into_iter()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_file())
                .map(|e| e.into_path())
                .filter(|f| {
                    f.extension().and_then(|x| x.to_str()).is_some_and(|x| {
                        ["png", "jpg", "jpeg", "pdf"].contains(&x.to_lowercase().as_str())
                    })
                })
                .collect();
            if found.is_empty() {
                bail!(
                    "{}: no PNG, JPEG or PDF files in this directory",
                    p.display()
                );
            }
            out.append(&mut found);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            bail!("{}: no such file or directory", p.display());
        }
    }
    Ok(out)
}

/// The largest image side and pixel count lab decodes: memory stays bounded (a 30000×30000
/// PNG is refused from its header, before any pixel is decoded).
const MAX_SIDE: u32 = 12_000;
const MAX_PIXELS: u64 = 60_000_000;

/// Decodes a PNG or JPEG, refusing what is not one or is too large.
fn decode_image(bytes: &[u8]) -> std::result::Result<image::DynamicImage, String> {
    let open = || {
        image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| format!("cannot read ({e})"))
    };
    let reader = open()?;
    if !matches!(
        reader.format(),
        Some(image::ImageFormat::Png | image::ImageFormat::Jpeg)
    ) {
        return Err("not a PNG, JPEG or PDF file".into());
    }
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| format!("not a readable PNG or JPEG image ({e})"))?;
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(format!(
            "the image is {w}×{h} pixels, over lab's limit ({MAX_SIDE} a side, {} megapixels); \
             scale it down",
            MAX_PIXELS / 1_000_000
        ));
    }
    let mut reader = open()?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(1 << 30);
    reader.limits(limits);
    reader
        .decode()
        .map_err(|e| format!("not a readable PNG or JPEG image ({e})"))
}

/// One file's results: one per page of a PDF (named `FILE#PAGE`), else one.
fn extract_file(
    name: &str,
    bytes: &[u8],
    m: &Models,
) -> Vec<(String, std::result::Result<Extracted, String>, f64)> {
    let t = Instant::now();
    if !pdf::is_pdf(bytes) {
        let r = decode_image(bytes)
            .and_then(|img| extract::extract(&img, m).map_err(|e| e.to_string()));
        return vec![(name.to_string(), r, t.elapsed().as_secs_f64() * 1e3)];
    }
    match extract::extract_pdf(bytes, m) {
        Ok(pages) => pages
            .into_iter()
            .enumerate()
            .map(|(i, (r, ms))| (format!("{name}#{}", i + 1), r, ms))
            .collect(),
        Err(e) => vec![(
            name.to_string(),
            Err(e.to_string()),
            t.elapsed().as_secs_f64() * 1e3,
        )],
    }
}

/// Extracts the entries of every image; failures are reported per image and counted.
pub fn extract_images(
    lab: &Lab,
    paths: &[PathBuf],
    ocr: Option<&str>,
    doc: Option<&str>,
    out_file: Option<&Path>,
    reporter: &dyn Reporter,
) -> Result<ExtractOut> {
    if let Some(p) = out_file {
        crate::fence::check(&lab.project, p, "write --out to")?;
    }
    let files = image_files(paths)?;
    let pair = Pair::load(lab, ocr, doc)?;
    let m = pair.models();
    reporter.begin("extract", files.len() as u64, false);
    let mut images = Vec::new();
    for f in &files {
        let name = f.display().to_string();
        let results = match std::fs::read(f) {
            Ok(bytes) => extract_file(&name, &bytes, &m),
            Err(e) => vec![(name, Err(format!("cannot read: {e}")), 0.0)],
        };
        for (image, r, ms) in results {
            let (error, extracted) = match r {
                Ok(x) => (None, Some(x)),
                Err(e) => (Some(e), None),
            };
            images.push(ImageOut {
                image,
                error,
                extracted,
                ms,
            });
        }
        reporter.advance(1);
    }
    reporter.end();
    if let Some(p) = out_file {
        let mut buf = Vec::new();
        for im in &images {
            if let Some(x) = &im.extracted {
                for e in &x.entries {
                    #[derive(Serialize)]
                    struct Row<'a> {
                        image: &'a str,
                        #[serde(flatten)]
                        record: &'a Record,
                    }
                    serde_json::to_writer(
                        &mut buf,
                        &Row {
                            image: &im.image,
                            record: &e.record,
                        },
                    )?;
                    buf.push(b'\n');
                }
            }
        }
        let tmp = p.with_extension("jsonl.tmp");
        let mut f =
            std::fs::File::create(&tmp).map_err(|e| anyhow!("--out {}: {e}", p.display()))?;
        f.write_all(&buf)?;
        f.sync_all()?;
        std::fs::rename(&tmp, p).map_err(|e| anyhow!("--out {}: {e}", p.display()))?;
    }
    let failed = images.iter().filter(|i| i.error.is_some()).count();
    Ok(ExtractOut {
        models: pair.label(),
        images,
        failed,
    })
}

mod eval;
pub use eval::{DocEval, ExtractEval, Failure, FolderEval, eval_doc, eval_extract, eval_images};

#[cfg(test)]
mod tests {
    use super::*;

    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in bytes {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    (c >> 1) ^ 0xedb8_8320
                } else {
                    c >> 1
                };
            }
        }
        !c
    }

    /// A PNG that is only a signature and a header claiming `w`×`h`.
    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = b"IHDR".to_vec();
        chunk.extend(w.to_be_bytes());
        chunk.extend(h.to_be_bytes());
        chunk.extend([8, 0, 0, 0, 0]);
        out.extend(13u32.to_be_bytes());
        out.extend(&chunk);
        out.extend(crc32(&chunk).to_be_bytes());
        for name in [&b"IDAT"[..], &b"IEND"[..]] {
            out.extend(0u32.to_be_bytes());
            out.extend(name);
            out.extend(crc32(name).to_be_bytes());
        }
        out
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut buf = Vec::new();
        image::GrayImage::from_pixel(w, h, image::Luma([200]))
            .write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png)
            .unwrap();
        buf
    }

    #[test]
    fn bad_images_get_clear_messages_and_bounded_memory() {
        let e = decode_image(&png_header(30_000, 30_000)).unwrap_err();
        assert!(
            e.contains("30000×30000") && e.contains("scale it down"),
            "{e}"
        );
        assert!(
            decode_image(b"hello, not an image")
                .unwrap_err()
                .contains("not a PNG, JPEG or PDF")
        );
        let full = png(64, 64);
        let e = decode_image(&full[..full.len() / 2]).unwrap_err();
        assert!(e.contains("not a readable PNG or JPEG"), "{e}");
        // A 1×1 image decodes; the layout then says why it holds no timetable.
        let one = decode_image(&png(1, 1)).unwrap();
        let e = crate::ml::layout::find_table(&one).unwrap_err().to_string();
        assert!(e.contains("1×1"), "{e}");
        assert!(pdf::is_pdf(b"%PDF-1.7\n"));
        assert!(!pdf::is_pdf(&png(2, 2)));
    }
}
