//! PNG horizontal bar charts of a model comparison, one bar per model with its value printed
//! at the bar's end.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::backend::{self, Backend};
use super::charts::{
    ChartError, DESC_PX, LABEL_PX, TITLE_PX, ce, colour, empty, font, png, register_font, tick,
};

/// One bar: a name and its value.
#[derive(Clone, Debug)]
pub struct Bar {
    pub label: String,
    pub value: f64,
}

/// A horizontal bar chart, one bar per row in the given order (first on top), each with its
/// value printed at its end. Height grows with the number of bars.
#[derive(Clone, Debug)]
pub struct BarChart {
    pub title: String,
    /// What the value axis measures (`accuracy`, `CER (lower is better)`).
    pub x_desc: String,
    pub bars: Vec<Bar>,
    /// Decimals of the printed values.
    pub decimals: usize,
    /// Always show at least 0..this on the value axis (1.0 for fractions).
    pub x_at_least: Option<f64>,
}

pub const BAR_WIDTH: u32 = 560;

/// The pixel size a bar chart of `n` bars gets.
pub fn bar_size(n: usize) -> (u32, u32) {
    (BAR_WIDTH, 120 + 34 * n.max(1) as u32)
}

pub fn bar_chart(c: &BarChart) -> Result<Vec<u8>, ChartError> {
    register_font();
    let bars: Vec<Bar> = c
        .bars
        .iter()
        .filter(|b| b.value.is_finite())
        .cloned()
        .collect();
    let size = bar_size(bars.len());
    let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = Backend(BitMapBackend::with_buffer(&mut buf, size)).into_drawing_area();
        root.fill(&WHITE).map_err(ce)?;
        if bars.is_empty() {
            empty(&root, &c.title)?;
            root.present().map_err(ce)?;
            drop(root);
            return png(buf, size);
        }
        let n = bars.len();
        let label_w = bars
            .iter()
            .map(|b| backend::text_size(&b.label, LABEL_PX).0)
            .max()
            .unwrap_or(40)
            .clamp(40, size.0 / 2);
        let max = bars.iter().map(|b| b.value).fold(0.0f64, f64::max);
        let min = bars.iter().map(|b| b.value).fold(0.0f64, f64::min);
        let top = max.max(c.x_at_least.unwrap_or(0.0)).max(f64::MIN_POSITIVE);
        // Room at the right end for the printed values.
        let hi = top * 1.16;
        let lo = if min < 0.0 { min * 1.16 } else { 0.0 };
        let span = hi - lo;
        let mut chart = ChartBuilder::on(&root)
            .caption(&c.title, font(TITLE_PX))
            .margin_top(6)
            .margin_left(8)
            .margin_right(22)
            .x_label_area_size(46)
            .y_label_area_size(label_w + 14)
            .build_cartesian_2d(lo..hi, 0f64..n as f64)
            .map_err(ce)?;
        let x_fmt = |v: &f64| tick(*v, span);
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc(&c.x_desc)
            .x_labels(8)
            .x_label_formatter(&x_fmt)
            .label_style(font(LABEL_PX))
            .axis_desc_style(font(DESC_PX))
            .light_line_style(RGBColor(243, 243, 243))
            .bold_line_style(RGBColor(218, 218, 218))
            .draw()
            .map_err(ce)?;
        let value_style = font(LABEL_PX).pos(Pos::new(HPos::Left, VPos::Center));
        let name_style = font(LABEL_PX).pos(Pos::new(HPos::Right, VPos::Center));
        for (k, b) in bars.iter().enumerate() {
            // The first bar on top.
            let row = (n - 1 - k) as f64;
            let col = colour(k);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, row + 0.2), (b.value, row + 0.8)],
                    col.filled(),
                )))
                .map_err(ce)?;
            let text = format!("{:.*}", c.decimals, b.value);
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((b.value.max(0.0), row + 0.5))
                        + Text::new(text, (6, 0), value_style.clone()),
                ))
                .map_err(ce)?;
            // The model's name, right-aligned left of the axis.
            let (px, py) = chart.backend_coord(&(lo, row + 0.5));
            root.draw(&Text::new(
                b.label.clone(),
                (px - 8, py),
                name_style.clone(),
            ))
            .map_err(ce)?;
        }
        root.present().map_err(ce)?;
    }
    png(buf, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_charts_draw_empty_single_and_many_bars() {
        for bars in [
            vec![],
            vec![Bar {
                label: "only@1".into(),
                value: 0.0,
            }],
            vec![
                Bar {
                    label: "<script>@1".into(),
                    value: 0.93,
                },
                Bar {
                    label: "a_very_long_model_name_merged@12".into(),
                    value: 0.5,
                },
                Bar {
                    label: "nan".into(),
                    value: f64::NAN,
                },
                Bar {
                    label: "neg".into(),
                    value: -0.2,
                },
            ],
        ] {
            let n = bars.iter().filter(|b| b.value.is_finite()).count();
            let png = bar_chart(&BarChart {
                title: "Accuracy".into(),
                x_desc: "accuracy".into(),
                bars,
                decimals: 3,
                x_at_least: Some(1.0),
            })
            .expect("draws");
            let img = image::load_from_memory(&png).expect("a PNG").to_rgb8();
            assert_eq!(img.dimensions(), bar_size(n));
        }
    }
}
