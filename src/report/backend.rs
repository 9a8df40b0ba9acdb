//! The plotters backend charts draw on: plotters' RGB bitmap, with text drawn here by
//! `ab_glyph` from the embedded DejaVu Sans.
//!
//! Why not plotters' own text path: with its `ab_glyph` font backend (the one that needs
//! nothing from the system), plotters 0.3.7 drops each glyph's left side bearing, so `_`
//! renders as a gap (`train _loss`), and its rotated axis titles came out unrotated. Here
//! every glyph is placed at its pen position plus kerning, the anchor (left/centre/right,
//! top/centre/bottom) is measured on the real outline advances, and the 90°/180°/270°
//! transforms are applied per pixel. Wide lines are drawn here too (see `draw_path`).

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use plotters::prelude::BitMapBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

static FONT: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/fonts/dejavu/DejaVuSans.ttf"
));

/// The embedded font (DejaVu Sans, Bitstream Vera licence: assets/fonts/dejavu/LICENSE).
pub fn font_bytes() -> &'static [u8] {
    FONT
}

fn font() -> &'static FontRef<'static> {
    static F: OnceLock<FontRef<'static>> = OnceLock::new();
    // The font is part of the binary; a unit test parses it.
    F.get_or_init(|| FontRef::try_from_slice(FONT).expect("the embedded DejaVu Sans parses"))
}

/// Glyph outlines of `text` at `px`, laid out from (0, 0) = top-left of the line box, with the
/// line's width and height.
struct Line {
    glyphs: Vec<ab_glyph::Glyph>,
    width: f32,
    height: f32,
}

fn layout(text: &str, px: f32) -> Line {
    let f = font();
    let sf = f.as_scaled(PxScale::from(px));
    let mut x = 0.0f32;
    let mut prev = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = sf.glyph_id(c);
        if let Some(p) = prev {
            x += sf.kern(p, id);
        }
        glyphs.push(id.with_scale_and_position(px, point(x, sf.ascent())));
        x += sf.h_advance(id);
        prev = Some(id);
    }
    Line {
        glyphs,
        width: x,
        height: sf.ascent() - sf.descent(),
    }
}

/// The size `text` takes at `px` pixels, unrotated.
pub fn text_size(text: &str, px: f64) -> (u32, u32) {
    let l = layout(text, px as f32);
    (l.width.ceil() as u32, l.height.ceil() as u32)
}

/// A one-pixel line of one colour.
struct Thin(BackendColor);

impl BackendStyle for Thin {
    fn color(&self) -> BackendColor {
        self.0
    }
    fn stroke_width(&self) -> u32 {
        1
    }
}

/// plotters' bitmap backend with this module's text drawing (and line joins, see
/// `draw_path`).
pub struct Backend<'a>(pub BitMapBackend<'a>);

type Err<'a> = DrawingErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>;

impl<'a> DrawingBackend for Backend<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }
    fn ensure_prepared(&mut self) -> Result<(), Err<'a>> {
        self.0.ensure_prepared()
    }
    fn present(&mut self) -> Result<(), Err<'a>> {
        self.0.present()
    }
    fn draw_pixel(&mut self, p: BackendCoord, c: BackendColor) -> Result<(), Err<'a>> {
        self.0.draw_pixel(p, c)
    }
    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), Err<'a>> {
        self.0.draw_line(from, to, style)
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        ul: BackendCoord,
        br: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), Err<'a>> {
        self.0.draw_rect(ul, br, style, fill)
    }
    /// Paths wider than one pixel are drawn as parallel one-pixel lines: plotters' polygon
    /// outline with mitre joins throws long spikes at the sharp turns of a noisy series.
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), Err<'a>> {
        let w = style.stroke_width();
        if w <= 1 {
            return self.0.draw_path(path, style);
        }
        let thin = Thin(style.color());
        let pts: Vec<BackendCoord> = path.into_iter().collect();
        let lo = -((w as i32 - 1) / 2);
        let hi = lo + w as i32 - 1;
        for seg in pts.windows(2) {
            let (a, b) = (seg[0], seg[1]);
            let flat = (b.0 - a.0).abs() >= (b.1 - a.1).abs();
            for o in lo..=hi {
                let (ox, oy) = if flat { (0, o) } else { (o, 0) };
                self.0
                    .draw_line((a.0 + ox, a.1 + oy), (b.0 + ox, b.1 + oy), &thin)?;
            }
        }
        Ok(())
    }
    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), Err<'a>> {
        self.0.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), Err<'a>> {
        self.0.fill_polygon(vert, style)
    }
    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), Err<'a>> {
        self.0.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<T: BackendTextStyle>(
        &self,
        text: &str,
        style: &T,
    ) -> Result<(u32, u32), Err<'a>> {
        Ok(text_size(text, style.size()))
    }

    fn draw_text<T: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &T,
        pos: BackendCoord,
    ) -> Result<(), Err<'a>> {
        let colour = style.color();
        if colour.alpha == 0.0 || text.is_empty() {
            return Ok(());
        }
        let line = layout(text, style.size() as f32);
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -line.width / 2.0,
            HPos::Right => -line.width,
        };
        let dy = match anchor.v_pos {
            VPos::Top => 0.0,
            VPos::Center => -line.height / 2.0,
            VPos::Bottom => -line.height,
        };
        let trans = style.transform();
        let f = font();
        let mut result = Ok(());
        for g in line.glyphs {
            let Some(outline) = f.outline_glyph(g) else {
                continue;
            };
            let b = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                if result.is_err() || coverage <= 0.0 {
                    return;
                }
                let x = (b.min.x + dx).round() as i32 + gx as i32;
                let y = (b.min.y + dy).round() as i32 + gy as i32;
                let (x, y) = trans.transform(x, y);
                let c = BackendColor {
                    alpha: colour.alpha * f64::from(coverage.min(1.0)),
                    rgb: colour.rgb,
                };
                result = self.0.draw_pixel((pos.0 + x, pos.1 + y), c);
            });
            if result.is_err() {
                break;
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_font_parses_and_underscores_take_room() {
        let (w, h) = text_size("train_loss", 13.0);
        let (w1, _) = text_size("trainloss", 13.0);
        assert!(w > w1 + 4, "`_` has its advance: {w} vs {w1}");
        assert!((12..=18).contains(&h), "{h}");
        assert_eq!(text_size("", 13.0).0, 0);
    }
}
