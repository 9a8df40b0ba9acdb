//! PDF pages in: every page is either read from its text layer (the text and where it stands,
//! no OCR) or, when it has no text, taken as the scan it holds (the page's largest image,
//! JPEG or 8-bit grey / RGB), or refused with a message that says why. Encrypted, broken and
//! empty files are refused with a message too. lopdf lives here and nowhere else.

use image::DynamicImage;
use lopdf::content::Content;
use lopdf::{Document, Encoding, Object, ObjectId};

use super::grid::Run;

/// One page of a PDF, as lab reads it.
pub enum Page {
    /// Text with positions, in points from the page's top-left corner.
    Text {
        width: f32,
        height: f32,
        runs: Vec<Run>,
    },
    /// A scanned page: its image, to read like any other.
    Scan(DynamicImage),
    /// A page lab cannot read, and why.
    Unreadable(String),
}

/// Why a PDF cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error(
        "the PDF is encrypted (password-protected); lab cannot read it — save a copy without the \
         password (e.g. `qpdf --decrypt IN OUT`) and give that"
    )]
    Encrypted,
    #[error("not a readable PDF ({0})")]
    Broken(String),
    #[error("the PDF has no pages")]
    NoPages,
}

/// The largest side of a scan lab decodes.
const MAX_SCAN_SIDE: i64 = 12_000;

/// Whether `bytes` look like a PDF (its header).
pub fn is_pdf(bytes: &[u8]) -> bool {
    bytes.len() >= 5
        && bytes[..1024.min(bytes.len())]
            .windows(5)
            .any(|w| w == b"%PDF-")
}

/// Every page of the PDF in `bytes`.
pub fn pages(bytes: &[u8]) -> Result<Vec<Page>, PdfError> {
    let encrypted_marker = bytes.windows(8).any(|w| w == b"/Encrypt");
    let doc = match Document::load_mem(bytes) {
        Ok(d) => d,
        Err(_) if encrypted_marker => return Err(PdfError::Encrypted),
        Err(e) => return Err(PdfError::Broken(e.to_string())),
    };
    // Encrypted and not opened with the empty password (which lopdf tries itself).
    let encrypted = doc.is_encrypted() || doc.trailer.get(b"Encrypt").is_ok();
    if encrypted && !doc.was_encrypted() {
        return Err(PdfError::Encrypted);
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(if encrypted {
            PdfError::Encrypted
        } else {
            PdfError::NoPages
        });
    }
    Ok(pages
        .values()
        .map(|&id| page(&doc, id).unwrap_or_else(Page::Unreadable))
        .collect())
}

/// The page's MediaBox `[x0, y0, x1, y1]`, inherited from its parents where it is not its own.
fn media_box(doc: &Document, id: ObjectId) -> [f32; 4] {
    let mut at = doc.get_dictionary(id).ok();
    for _ in 0..32 {
        let Some(d) = at else { break };
        if let Ok(Object::Array(a)) = d
            .get(b"MediaBox")
            .and_then(|o| doc.dereference(o).map(|x| x.1))
        {
            let v: Vec<f32> = a.iter().filter_map(|o| o.as_float().ok()).collect();
            if let [x0, y0, x1, y1] = v[..] {
                return [x0, y0, x1, y1];
            }
        }
        at = d
            .get(b"Parent")
            .and_then(Object::as_reference)
            .and_then(|p| doc.get_dictionary(p))
            .ok();
    }
    [0.0, 0.0, 612.0, 792.0]
}

type Matrix = [f32; 6];

fn mul(a: &Matrix, b: &Matrix) -> Matrix {
    [
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    ]
}

const ID: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

fn nums(ops: &[Object]) -> Vec<f32> {
    ops.iter().filter_map(|o| o.as_float().ok()).collect()
}

fn page(doc: &Document, id: ObjectId) -> Result<Page, String> {
    let [bx0, by0, bx1, by1] = media_box(doc, id);
    let (width, height) = ((bx1 - bx0).abs(), (by1 - by0).abs());
    let content = doc
        .get_page_content(id)
        .map_err(|e| format!("cannot read the page's content ({e})"))?;
    let ops = Content::decode(&content)
        .map_err(|e| format!("cannot parse the page's content ({e})"))?
        .operations;
    let fonts = doc.get_page_fonts(id).unwrap_or_default();
    let encodings: std::collections::BTreeMap<Vec<u8>, Encoding> = fonts
        .iter()
        .filter_map(|(k, f)| f.get_font_encoding(doc).ok().map(|e| (k.clone(), e)))
        .collect();
    let mut runs = Vec::new();
    let (mut ctm, mut stack) = (ID, Vec::new());
    let (mut tm, mut tlm) = (ID, ID);
    let (mut size, mut leading, mut font) = (12.0f32, 0.0f32, Vec::new());
    for op in &ops {
        let n = nums(&op.operands);
        match op.operator.as_str() {
            "q" => stack.push(ctm),
            "Q" => ctm = stack.pop().unwrap_or(ID),
            "cm" if n.len() == 6 => ctm = mul(&[n[0], n[1], n[2], n[3], n[4], n[5]], &ctm),
            "BT" => (tm, tlm) = (ID, ID),
            "Tf" => {
                if let Some(Ok(name)) = op.operands.first().map(Object::as_name) {
                    font = name.to_vec();
                }
                size = n.last().copied().unwrap_or(size);
            }
            "TL" if !n.is_empty() => leading = n[0],
            "Td" | "TD" if n.len() == 2 => {
                if op.operator == "TD" {
                    leading = -n[1];
                }
                tlm = mul(&[1.0, 0.0, 0.0, 1.0, n[0], n[1]], &tlm);
                tm = tlm;
            }
            "Tm" if n.len() == 6 => {
                tlm = [n[0], n[1], n[2], n[3], n[4], n[5]];
                tm = tlm;
            }
            "T*" => {
                tlm = mul(&[1.0, 0.0, 0.0, 1.0, 0.0, -leading], &tlm);
                tm = tlm;
            }
            "Tj" | "TJ" | "'" | "\"" => {
                if matches!(op.operator.as_str(), "'" | "\"") {
                    tlm = mul(&[1.0, 0.0, 0.0, 1.0, 0.0, -leading], &tlm);
                    tm = tlm;
                }
                let mut text = String::new();
                let mut advance = 0.0f32;
                let mut pieces: Vec<&Object> = Vec::new();
                for o in &op.operands {
                    match o {
                        Object::Array(a) => pieces.extend(a.iter()),
                        other => pieces.push(other),
                    }
                }
                for o in pieces {
                    match o {
                        Object::String(bytes, _) => {
                            let s = match encodings.get(&font) {
                                Some(enc) => Document::decode_text(enc, bytes)
                                    .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into()),
                                None => String::from_utf8_lossy(bytes).into(),
                            };
                            advance += s.chars().count() as f32 * 0.5 * size;
                            text.push_str(&s);
                        }
                        Object::Integer(_) | Object::Real(_) => {
                            let k = o.as_float().unwrap_or(0.0);
                            // A wide negative kern is a word space.
                            if k < -250.0 && !text.ends_with(' ') {
                                text.push(' ');
                            }
                            advance -= k / 1000.0 * size;
                        }
                        _ => {}
                    }
                }
                let m = mul(&tm, &ctm);
                let scale = (m[2] * m[2] + m[3] * m[3]).sqrt();
                let hscale = (m[0] * m[0] + m[1] * m[1]).sqrt();
                let text = text.trim().to_string();
                if !text.is_empty() {
                    runs.push(Run {
                        x: m[4] - bx0,
                        y: height - (m[5] - by0),
                        w: advance * hscale,
                        size: size * scale,
                        text,
                    });
                }
                tm = mul(&[1.0, 0.0, 0.0, 1.0, advance, 0.0], &tm);
            }
            _ => {}
        }
    }
    if !runs.is_empty() {
        return Ok(Page::Text {
            width,
            height,
            runs,
        });
    }
    scan(doc, id)
}

/// The page's largest image, decoded.
fn scan(doc: &Document, id: ObjectId) -> Result<Page, String> {
    let images = doc.get_page_images(id).unwrap_or_default();
    let Some(img) = images.iter().max_by_key(|i| i.width * i.height) else {
        return Err("the page has no text and no image: nothing to read".into());
    };
    if img.width > MAX_SCAN_SIDE || img.height > MAX_SCAN_SIDE {
        return Err(format!(
            "the page's scan is {}×{} pixels, over lab's limit of {MAX_SCAN_SIDE} a side",
            img.width, img.height
        ));
    }
    let filters = img.filters.clone().unwrap_or_default();
    let (w, h) = (img.width as u32, img.height as u32);
    let decoded = if filters.iter().any(|f| f == "DCTDecode") {
        image::load_from_memory(img.content).map_err(|e| format!("the page's JPEG scan: {e}"))?
    } else {
        let raw = if filters.iter().any(|f| f == "FlateDecode") {
            let obj = doc.get_object(img.id).and_then(Object::as_stream);
            obj.and_then(|s| s.decompressed_content())
                .map_err(|e| format!("the page's scan: {e}"))?
        } else if filters.is_empty() {
            img.content.to_vec()
        } else {
            return Err(format!(
                "the page is a scan in a form lab cannot rasterise ({}); export the page as PNG \
                 or JPEG and give that",
                filters.join(", ")
            ));
        };
        let cs = img.color_space.as_deref().unwrap_or("");
        let bpc = img.bits_per_component.unwrap_or(8);
        match (cs, bpc) {
            ("DeviceGray", 8) => {
                image::GrayImage::from_raw(w, h, raw).map(DynamicImage::ImageLuma8)
            }
            ("DeviceRGB", 8) => image::RgbImage::from_raw(w, h, raw).map(DynamicImage::ImageRgb8),
            _ => None,
        }
        .ok_or_else(|| {
            format!(
                "the page is a scan in a form lab cannot rasterise ({cs}, {bpc} bits); export \
                 the page as PNG or JPEG and give that"
            )
        })?
    };
    Ok(Page::Scan(decoded))
}

#[cfg(test)]
pub(crate) mod tests {
    use lopdf::content::Operation;
    use lopdf::{Object, Stream, dictionary};

    use super::*;

    /// A one-page PDF (US letter) whose text layer has `texts` at `(x, y from the top, size)`
    /// in Helvetica.
    pub(crate) fn text_pdf(texts: &[(f32, f32, f32, &str)]) -> Vec<u8> {
        text_pdf_with(texts, false)
    }

    fn text_pdf_with(texts: &[(f32, f32, f32, &str)], encrypt: bool) -> Vec<u8> {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font_id = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
            "Encoding" => "WinAnsiEncoding",
        });
        let resources_id = doc.add_object(dictionary! {
            "Font" => dictionary! { "F1" => font_id },
        });
        let mut ops = Vec::new();
        for &(x, y, size, t) in texts {
            ops.push(Operation::new("BT", vec![]));
            ops.push(Operation::new("Tf", vec!["F1".into(), size.into()]));
            ops.push(Operation::new("Td", vec![x.into(), (792.0 - y).into()]));
            ops.push(Operation::new("Tj", vec![Object::string_literal(t)]));
            ops.push(Operation::new("ET", vec![]));
        }
        let content = Content { operations: ops };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
                "Resources" => resources_id, "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
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

    #[test]
    fn a_text_layer_is_read_with_positions() {
        let pdf = text_pdf(&[(72.0, 100.0, 12.0, "Monday"), (200.0, 130.0, 10.0, "09:00")]);
        assert!(is_pdf(&pdf));
        let p = pages(&pdf).unwrap();
        assert_eq!(p.len(), 1);
        let Page::Text { width, runs, .. } = &p[0] else {
            panic!("a text page")
        };
        assert_eq!(*width, 612.0);
        assert_eq!(runs[0].text, "Monday");
        assert!((runs[0].x - 72.0).abs() < 0.01 && (runs[0].y - 100.0).abs() < 0.01);
        assert_eq!(runs[1].size, 10.0);
    }

    #[test]
    fn broken_encrypted_and_empty_pdfs_say_so() {
        assert!(matches!(
            pages(b"%PDF-1.4\nnonsense"),
            Err(PdfError::Broken(_))
        ));
        let pdf = text_pdf(&[(72.0, 100.0, 12.0, "Monday")]);
        let cut = &pdf[..pdf.len() / 2];
        assert!(pages(cut).is_err(), "a truncated PDF");
        let enc = text_pdf_with(&[(72.0, 100.0, 12.0, "Monday")], true);
        let e = pages(&enc);
        assert!(matches!(e, Err(PdfError::Encrypted)), "{:?}", e.err());
        // No pages.
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.add_object(
            dictionary! { "Type" => "Pages", "Kids" => Vec::<Object>::new(), "Count" => 0 },
        );
        let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog_id);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        assert!(matches!(pages(&out), Err(PdfError::NoPages)));
    }
}
