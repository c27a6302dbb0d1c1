//! Line charts of training curves and grids of images (reconstructions, samples), written as PNG. Charts:
//! panels of series on linear or log axes, with nice round ticks, a legend, and text from a built-in bitmap
//! font (no font or drawing dependency).
//!
//! Lines are anti-aliased by their distance to each segment; a series is first stroked into a coverage
//! buffer and then blended once, so its segments do not darken where they meet.
use std::io::Cursor;
use std::path::Path;

use image::{ImageFormat, Rgb, RgbImage};

use crate::{Error, Result};

/// One curve: its legend label, (x, y) points in drawing order, and its RGB colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Name shown in the legend (an empty label leaves the series out of it only if all are empty).
    pub label: String,
    /// (x, y) in drawing order; a NaN, infinite (or, on a log axis, non-positive) point breaks the line.
    pub points: Vec<(f64, f64)>,
    /// RGB line colour, e.g. from [`PALETTE`].
    pub color: [u8; 3],
}

/// One chart: title, axis labels, the series drawn in it, and whether y is on a log10 scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Centred above the plot.
    pub title: String,
    /// Centred below the x tick labels.
    pub x_label: String,
    /// Written horizontally above the y axis.
    pub y_label: String,
    /// The curves, drawn in order (later ones on top).
    pub series: Vec<Series>,
    /// Log10 y axis; points with y <= 0 are then skipped.
    pub log_y: bool,
}

/// Six distinct series colours (the first six of matplotlib's "tab10").
pub const PALETTE: [[u8; 3]; 6] = [
    [31, 119, 180],  // blue
    [255, 127, 14],  // orange
    [44, 160, 44],   // green
    [214, 39, 40],   // red
    [148, 103, 189], // purple
    [140, 86, 75],   // brown
];

/// Renders panels side by side (or in a grid) into one PNG, written via a temporary file and a rename.
pub fn write_png(path: &Path, panels: &[Panel], width: u32, height: u32) -> Result<()> {
    save_rgb(path, &render(panels, width, height))
}

/// Writes an RGB image as PNG via a temporary file and a rename.
pub fn save_rgb(path: &Path, img: &RgbImage) -> Result<()> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png).map_err(|e| Error::io(path, e))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, &bytes).map_err(|e| Error::io(path, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp); // best effort: the rename error is the one to report
        Error::io(path, e)
    })
}

/// Images laid out in a grid, for reconstructions and samples: each image `[channels, height, width]`
/// (1 grey or 3 RGB) with values in [0, 1] (clamped; NaN drawn black), scaled up `scale` times by pixel
/// repetition, `cols` to a row in the given order, 2·scale pixels of white between them.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageGrid<'a> {
    pub images: &'a [Vec<f32>],
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub cols: usize,
    pub scale: usize,
}

impl ImageGrid<'_> {
    /// Draws the grid into an RGB image; a wrong image size or channel count is an error naming the image.
    pub fn render(&self) -> Result<RgbImage> {
        let (c, h, w, s) = (self.channels, self.height, self.width, self.scale.max(1));
        if c != 1 && c != 3 {
            return Err(Error::Invalid(format!("image grid: {c} channels, expected 1 or 3")));
        }
        if let Some(i) = self.images.iter().position(|im| im.len() != c * h * w) {
            return Err(Error::Invalid(format!("image grid: image {i} has {} values, expected {c}x{h}x{w}", self.images[i].len())));
        }
        let cols = self.cols.clamp(1, self.images.len().max(1));
        let rows = self.images.len().div_ceil(cols).max(1);
        let gap = 2 * s;
        let (tw, th) = (w * s + gap, h * s + gap);
        let (iw, ih) = (cols * tw + gap, rows * th + gap);
        if iw > 1 << 15 || ih > 1 << 15 {
            return Err(Error::Invalid(format!("image grid: {iw}x{ih} pixels is too large a picture")));
        }
        let mut img = RgbImage::from_pixel(iw as u32, ih as u32, Rgb(WHITE));
        let byte = |v: f32| if v.is_nan() { 0 } else { (v.clamp(0.0, 1.0) * 255.0).round() as u8 };
        for (k, im) in self.images.iter().enumerate() {
            let (x0, y0) = (gap + (k % cols) * tw, gap + (k / cols) * th);
            for y in 0..h * s {
                for x in 0..w * s {
                    let i = (y / s) * w + x / s;
                    let px = if c == 1 { [byte(im[i]); 3] } else { [byte(im[i]), byte(im[h * w + i]), byte(im[2 * h * w + i])] };
                    img.put_pixel((x0 + x) as u32, (y0 + y) as u32, Rgb(px));
                }
            }
        }
        Ok(img)
    }

    /// Writes the grid as a PNG, through a temporary file and a rename.
    pub fn write_png(&self, path: &Path) -> Result<()> {
        save_rgb(path, &self.render()?)
    }
}

/// Renders panels into an RGB image (for tests).
pub fn render(panels: &[Panel], width: u32, height: u32) -> RgbImage {
    let mut img = RgbImage::from_pixel(width, height, Rgb(WHITE));
    if panels.is_empty() {
        return img;
    }
    // Up to three panels side by side, more in a near-square grid filled row by row.
    let n = panels.len() as i64;
    let cols = if n <= 3 { n } else { (n as f64).sqrt().ceil() as i64 };
    let rows = (n + cols - 1) / cols;
    let (w, h) = (width as i64, height as i64);
    for (i, panel) in panels.iter().enumerate() {
        let (col, row) = (i as i64 % cols, i as i64 / cols);
        let cell = Rect { x0: col * w / cols, x1: (col + 1) * w / cols, y0: row * h / rows, y1: (row + 1) * h / rows };
        draw_panel(&mut img, panel, cell);
    }
    img
}

/// One picture of an image grid: `[channels, height, width]` values in [0, 1] (1 channel grey, 3 RGB), clamped;
/// a NaN value marks a hidden pixel (MAE's removed patches) and is drawn as a grey checker.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub values: Vec<f32>,
}

/// Pictures in rows (reconstructions, augmentation pairs, samples), each pixel a `scale`×`scale` block, 2 white
/// pixels between cells; `titles`, when given, head the columns. Cells take the size of the largest picture.
pub fn picture_grid(rows: &[Vec<Picture>], titles: &[&str], scale: u32) -> RgbImage {
    let s = scale.max(1) as i64;
    let gap = 2i64;
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0).max(titles.len()) as i64;
    let cell_h = rows.iter().flatten().map(|p| p.height).max().unwrap_or(0) as i64 * s;
    let title_w = titles.iter().map(|t| text_width(t, 1)).max().unwrap_or(0);
    let cell_w = (rows.iter().flatten().map(|p| p.width).max().unwrap_or(0) as i64 * s).max(if titles.is_empty() { 0 } else { title_w + 4 });
    let head = if titles.is_empty() { 0 } else { GLYPH_ROWS + 4 };
    let width = (cols * (cell_w + gap) + gap).max(1);
    let height = (head + rows.len() as i64 * (cell_h + gap) + gap).max(1);
    let mut img = RgbImage::from_pixel(width as u32, height as u32, Rgb(WHITE));
    for (c, t) in titles.iter().enumerate() {
        let x = gap + c as i64 * (cell_w + gap) + (cell_w - text_width(t, 1)) / 2;
        draw_text(&mut img, x, 2, t, 1, TEXT, false);
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, pic) in row.iter().enumerate() {
            let (x0, y0) = (gap + c as i64 * (cell_w + gap), head + gap + r as i64 * (cell_h + gap));
            let plane = pic.height * pic.width;
            for y in 0..pic.height {
                for x in 0..pic.width {
                    let at = |ch: usize| pic.values.get(ch * plane + y * pic.width + x).copied().unwrap_or(f32::NAN);
                    let rgb: [f32; 3] = if pic.channels >= 3 { [at(0), at(1), at(2)] } else { [at(0); 3] };
                    let color = if rgb.iter().any(|v| v.is_nan()) {
                        let v = if (x / 2 + y / 2) % 2 == 0 { 150 } else { 110 };
                        [v, v, v]
                    } else {
                        rgb.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
                    };
                    let (px, py) = (x0 + x as i64 * s, y0 + y as i64 * s);
                    fill_rect(&mut img, Rect { x0: px, y0: py, x1: px + s, y1: py + s }, color);
                }
            }
        }
    }
    img
}

/// `picture_grid`, written as PNG (temporary file, then a rename).
pub fn write_picture_grid(path: &Path, rows: &[Vec<Picture>], titles: &[&str], scale: u32) -> Result<()> {
    save_rgb(path, &picture_grid(rows, titles, scale))
}

const WHITE: [u8; 3] = [255, 255, 255];
const TEXT: [u8; 3] = [34, 34, 34];
const AXIS: [u8; 3] = [80, 80, 80];
const GRID: [u8; 3] = [228, 228, 228];
const LEGEND_EDGE: [u8; 3] = [200, 200, 200];

/// Pixels [x0, x1) × [y0, y1) of the image.
#[derive(Debug, Clone, Copy)]
struct Rect {
    x0: i64,
    y0: i64,
    x1: i64,
    y1: i64,
}

impl Rect {
    fn width(&self) -> i64 {
        self.x1 - self.x0
    }
    fn height(&self) -> i64 {
        self.y1 - self.y0
    }
}

/// Lays out and draws one panel inside `cell`: title, y label, plot frame with grid and ticks, series,
/// tick labels, x label and legend. Text is drawn at scale 2 when the cell is large enough, else 1.
fn draw_panel(img: &mut RgbImage, panel: &Panel, cell: Rect) {
    let s = if cell.width() >= 420 && cell.height() >= 280 { 2 } else { 1 };
    let (pad, line, cap, tick_len, gap) = (8 * s, GLYPH_ROWS * s, CAP_ROWS * s, 4 * s, 3 * s);

    // Vertical layout, top down: title, y label, plot; bottom up: x label, tick labels, ticks.
    let mut top = cell.y0 + pad;
    let title_top = top;
    if !panel.title.is_empty() {
        top += line + 3 * s;
    }
    let y_label_top = top;
    if !panel.y_label.is_empty() {
        top += line;
    }
    let plot_top = top + cap; // room for half of the top tick label
    let mut bottom = cell.y1 - pad;
    if !panel.x_label.is_empty() {
        bottom -= line;
    }
    let x_label_top = bottom;
    let x_tick_label_top = bottom - cap - 4 * s;
    let plot_bottom = x_tick_label_top - gap - tick_len;

    // The data ranges, padded so curves do not run along the frame.
    let visible = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite() && (!panel.log_y || p.1 > 0.0);
    let points = || panel.series.iter().flat_map(|ser| ser.points.iter().filter(|p| visible(p)));
    let x_axis = Axis::fit(points().map(|p| p.0), false, 0.02);
    let y_axis = Axis::fit(points().map(|p| p.1), panel.log_y, 0.05);

    // Y ticks fix the left margin, which fixes the plot width and so the x ticks.
    let plot_h = (plot_bottom - plot_top) as f64;
    let y_ticks = y_axis.ticks(plot_h, s, |_| 2 * line, 24 * s);
    let y_label_w = y_ticks.iter().map(|t| text_width(&t.label, s)).max().unwrap_or(0);
    let plot_left = cell.x0 + pad + y_label_w + gap + tick_len;
    let plot_right = cell.x1 - 2 * pad;
    let plot_w = (plot_right - plot_left) as f64;
    let x_ticks = x_axis.ticks(plot_w, s, |widest| widest + 3 * ADVANCE * s, 48 * s);

    let title = fit_text(&panel.title, cell.width() - 2 * pad, s);
    let title_x = (plot_left + plot_right - text_width(&title, s)) / 2;
    let title_x = title_x.clamp(cell.x0 + pad, (cell.x1 - pad - text_width(&title, s)).max(cell.x0 + pad));
    draw_text(img, title_x, title_top, &title, s, TEXT, true);
    let y_label = fit_text(&panel.y_label, cell.width() - 2 * pad, s);
    draw_text(img, cell.x0 + pad, y_label_top, &y_label, s, TEXT, false);
    if plot_w < 8.0 || plot_h < 8.0 {
        return; // too small for a plot; the title alone says what was meant
    }
    let frame = Rect { x0: plot_left, y0: plot_top, x1: plot_right + 1, y1: plot_bottom + 1 };
    // Data space to pixel space: fraction 0 lands on the left/bottom frame line, 1 on the right/top one.
    let to_px = |x: f64| frame.x0 as f64 + 0.5 + x_axis.frac(x) * plot_w;
    let to_py = |y: f64| frame.y1 as f64 - 0.5 - y_axis.frac(y) * plot_h;

    for t in &y_ticks {
        let py = to_py(t.value).floor() as i64;
        fill_rect(img, Rect { x0: frame.x0 + 1, x1: frame.x1 - 1, y0: py, y1: py + 1 }, GRID);
        fill_rect(img, Rect { x0: frame.x0 - tick_len, x1: frame.x0, y0: py, y1: py + 1 }, AXIS);
        let label_x = frame.x0 - tick_len - gap - text_width(&t.label, s);
        draw_text(img, label_x, py - cap / 2, &t.label, s, TEXT, false);
    }
    for t in &x_ticks {
        let px = to_px(t.value).floor() as i64;
        fill_rect(img, Rect { x0: px, x1: px + 1, y0: frame.y0 + 1, y1: frame.y1 - 1 }, GRID);
        fill_rect(img, Rect { x0: px, x1: px + 1, y0: frame.y1, y1: frame.y1 + tick_len }, AXIS);
        let w = text_width(&t.label, s);
        let label_x = (px - w / 2).clamp(cell.x0, (cell.x1 - w).max(cell.x0));
        draw_text(img, label_x, x_tick_label_top, &t.label, s, TEXT, false);
    }
    let x_label = fit_text(&panel.x_label, cell.width() - 2 * pad, s);
    let x_label_x = ((plot_left + plot_right - text_width(&x_label, s)) / 2).max(cell.x0 + pad);
    draw_text(img, x_label_x, x_label_top, &x_label, s, TEXT, false);

    // Series, clipped to the inside of the frame; `ink` remembers where curves are, for the legend.
    let inside = Rect { x0: frame.x0 + 1, y0: frame.y0 + 1, x1: frame.x1 - 1, y1: frame.y1 - 1 };
    let half_width = if s == 2 { 1.25 } else { 0.9 };
    let mut coverage = Coverage::new(inside);
    let mut ink = vec![0f32; coverage.cov.len()];
    for ser in &panel.series {
        coverage.cov.fill(0.0);
        // A non-finite (or, on a log axis, non-positive) point breaks the line; a lone point is a dot.
        for run in ser.points.split(|p| !visible(p)).filter(|run| !run.is_empty()) {
            let pixels: Vec<(f64, f64)> = run.iter().map(|&(x, y)| (to_px(x), to_py(y))).collect();
            if let [only] = pixels[..] {
                coverage.stroke(only, only, half_width + 1.5);
            }
            for seg in pixels.windows(2) {
                coverage.stroke(seg[0], seg[1], half_width);
            }
        }
        coverage.blend_into(img, ser.color, &mut ink);
    }
    fill_rect(img, Rect { x0: frame.x0, x1: frame.x1, y0: frame.y0, y1: frame.y0 + 1 }, AXIS);
    fill_rect(img, Rect { x0: frame.x0, x1: frame.x1, y0: frame.y1 - 1, y1: frame.y1 }, AXIS);
    fill_rect(img, Rect { x0: frame.x0, x1: frame.x0 + 1, y0: frame.y0, y1: frame.y1 }, AXIS);
    fill_rect(img, Rect { x0: frame.x1 - 1, x1: frame.x1, y0: frame.y0, y1: frame.y1 }, AXIS);

    draw_legend(img, &panel.series, inside, &ink, s);
}

/// A legend box naming each series beside a sample of its line, in the corner of `inside` that covers
/// the least curve ink (top right wins ties); left out when it would not fit inside the plot.
fn draw_legend(img: &mut RgbImage, series: &[Series], inside: Rect, ink: &[f32], s: i64) {
    if series.iter().all(|ser| ser.label.is_empty()) {
        return;
    }
    let (pad, row, sample) = (5 * s, 12 * s, 16 * s);
    let labels: Vec<String> = series.iter().map(|ser| fit_text(&ser.label, inside.width() / 2, s)).collect();
    let label_w = labels.iter().map(|l| text_width(l, s)).max().unwrap_or(0);
    let (w, h) = (3 * pad + sample + label_w, 2 * pad + (labels.len() as i64 - 1) * row + GLYPH_ROWS * s);
    let margin = 6 * s;
    if w + 2 * margin > inside.width() || h + 2 * margin > inside.height() {
        return;
    }
    let (left, right) = (inside.x0 + margin, inside.x1 - margin - w);
    let (top, bottom) = (inside.y0 + margin, inside.y1 - margin - h);
    let corners = [(right, top), (left, top), (right, bottom), (left, bottom)];
    let ink_under = |&(x, y): &(i64, i64)| {
        let mut sum = 0.0f64;
        for py in y.max(inside.y0)..(y + h).min(inside.y1) {
            for px in x.max(inside.x0)..(x + w).min(inside.x1) {
                let idx = ((py - inside.y0) * inside.width() + (px - inside.x0)) as usize;
                sum += ink.get(idx).copied().unwrap_or(0.0) as f64;
            }
        }
        sum
    };
    let mut best = corners[0];
    let mut best_ink = ink_under(&best);
    for corner in &corners[1..] {
        let corner_ink = ink_under(corner);
        if corner_ink < best_ink {
            (best, best_ink) = (*corner, corner_ink);
        }
    }
    let (x, y) = best;
    let rect = Rect { x0: x, y0: y, x1: x + w, y1: y + h };
    for py in rect.y0..rect.y1 {
        for px in rect.x0..rect.x1 {
            blend(img, px, py, WHITE, 0.88);
        }
    }
    stroke_rect(img, rect, LEGEND_EDGE);
    for (i, (ser, label)) in series.iter().zip(&labels).enumerate() {
        let text_top = y + pad + i as i64 * row;
        let mid = (text_top + CAP_ROWS * s / 2) as f64 + 0.5;
        let mut sample_line = Coverage::new(rect);
        let x0 = (x + pad) as f64;
        sample_line.stroke((x0, mid), (x0 + sample as f64, mid), if s == 2 { 1.5 } else { 1.0 });
        sample_line.blend_into(img, ser.color, &mut []);
        draw_text(img, x + pad + sample + pad, text_top, label, s, TEXT, false);
    }
}

/// One axis in drawing space: `lo..hi` of the value, or of its log10 on a log axis.
#[derive(Debug, Clone, Copy)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

/// A tick: its value (in data space) and its label.
#[derive(Debug, Clone)]
struct Tick {
    value: f64,
    label: String,
}

impl Axis {
    /// The range of `values` (already finite, and positive on a log axis), padded by `pad` of its span
    /// on each side; a constant is padded by 10% of itself (or 1 around zero, half a decade on log).
    fn fit(values: impl Iterator<Item = f64>, log: bool, pad: f64) -> Axis {
        let mut range: Option<(f64, f64)> = None;
        for v in values {
            let v = if log { v.log10() } else { v };
            range = Some(match range {
                None => (v, v),
                Some((lo, hi)) => (lo.min(v), hi.max(v)),
            });
        }
        let (lo, hi) = range.unwrap_or((0.0, 1.0));
        let span = hi - lo;
        let (lo, hi) = if span > 0.0 && span.is_finite() {
            (lo - pad * span, hi + pad * span)
        } else if log {
            (lo - 0.5, hi + 0.5)
        } else if lo == 0.0 {
            (-1.0, 1.0)
        } else {
            (lo - 0.1 * lo.abs(), hi + 0.1 * hi.abs())
        };
        Axis { lo, hi, log }
    }

    /// Where `v` falls on the axis: 0 at `lo`, 1 at `hi`.
    fn frac(&self, v: f64) -> f64 {
        let t = if self.log { v.log10() } else { v };
        (t - self.lo) / (self.hi - self.lo)
    }

    /// The densest tick set whose neighbours are at least `min_gap(widest label in pixels at text scale
    /// `scale`)` and `min_px` pixels apart on an axis `len_px` long; the sparsest set when none fits.
    fn ticks(&self, len_px: f64, scale: i64, min_gap: impl Fn(i64) -> i64, min_px: i64) -> Vec<Tick> {
        let candidates = self.candidate_ticks();
        let fits = |ticks: &Vec<Tick>| {
            let widest = ticks.iter().map(|t| text_width(&t.label, scale)).max().unwrap_or(0);
            let need = min_gap(widest).max(min_px) as f64 / len_px;
            ticks.windows(2).all(|pair| (self.frac(pair[1].value) - self.frac(pair[0].value)).abs() >= need)
        };
        candidates.iter().find(|ticks| fits(ticks)).or(candidates.last()).cloned().unwrap_or_default()
    }

    /// Tick sets from dense to sparse: 1-2-5 steps on a linear axis; on a log axis 1-2-5 × 10^k, then
    /// every decade, every 2nd, 5th, 10th, falling back to linear steps within less than a decade.
    fn candidate_ticks(&self) -> Vec<Vec<Tick>> {
        let (lo, hi) = (self.lo, self.hi);
        if !(lo.is_finite() && hi.is_finite() && hi > lo) {
            return Vec::new();
        }
        let mut sets: Vec<Vec<Tick>> = Vec::new();
        if self.log {
            let (k0, k1) = (lo.floor() as i64, hi.ceil() as i64);
            let within = |v: f64| v.log10() >= lo && v.log10() <= hi;
            if k1 - k0 <= 60 {
                let one_two_five: Vec<f64> = (k0..=k1)
                    .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k as i32)))
                    .filter(|&v| within(v))
                    .collect();
                sets.push(log_labels(&one_two_five));
            }
            for stride in [1, 2, 5, 10, 20, 50] {
                let decades: Vec<f64> = (k0..=k1)
                    .filter(|k| k.rem_euclid(stride) == 0)
                    .map(|k| 10f64.powi(k as i32))
                    .filter(|&v| within(v))
                    .collect();
                sets.push(log_labels(&decades));
            }
            sets.retain(|set| set.len() >= 2);
            if !sets.is_empty() {
                return sets;
            }
            let (vlo, vhi) = (10f64.powf(lo), 10f64.powf(hi));
            return (1..=12).rev().map(|target| linear_labels(&linear_ticks(vlo, vhi, target))).collect();
        }
        (1..=12).rev().map(|target| linear_labels(&linear_ticks(lo, hi, target))).collect()
    }
}

/// Multiples of a 1-2-5 × 10^k step, about `lo..hi / target` apart, within `lo..=hi`.
fn linear_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let raw = (hi - lo) / target as f64;
    if !(raw > 0.0 && raw.is_finite()) {
        return Vec::new();
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|&st| st >= raw * (1.0 - 1e-9));
    let step = step.unwrap_or(10.0 * magnitude);
    let (first, last) = ((lo / step - 1e-9).ceil(), (hi / step + 1e-9).floor());
    if !(last - first).is_finite() || last - first >= 1000.0 {
        return Vec::new();
    }
    let mut values = Vec::new();
    let mut k = first;
    while k <= last {
        let v = k * step;
        values.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        k += 1.0;
    }
    values
}

/// Labels for evenly stepped linear ticks, all with the number of digits the step needs.
fn linear_labels(values: &[f64]) -> Vec<Tick> {
    let step = match values {
        [a, b, ..] => b - a,
        [a] => a.abs(),
        [] => return Vec::new(),
    };
    let format = if scientific(values, step) {
        // One mantissa precision for the whole axis: the most that any tick needs.
        let digits = values.iter().filter(|&&v| v != 0.0).map(|&v| decade(v) - decade(step)).max().unwrap_or(0);
        Format::Scientific(digits.clamp(0, 10) as usize)
    } else {
        Format::Fixed((-decade(step)).clamp(0, 10) as usize)
    };
    values.iter().map(|&v| Tick { value: v, label: format.label(v) }).collect()
}

/// Labels for log ticks (1, 2 or 5 × 10^k): a single significant digit each.
fn log_labels(values: &[f64]) -> Vec<Tick> {
    let sci = values.iter().any(|&v| scientific(&[v], v));
    let format = |v: f64| if sci { Format::Scientific(0) } else { Format::Fixed((-decade(v)).clamp(0, 10) as usize) };
    values.iter().map(|&v| Tick { value: v, label: format(v).label(v) }).collect()
}

/// Whether ticks need exponent notation: huge values or tiny steps.
fn scientific(values: &[f64], step: f64) -> bool {
    values.iter().any(|v| v.abs() >= 1e6) || step.abs() < 1e-3
}

/// The power of ten of `x`'s leading digit: 0 for 3.2, -2 for 0.05 (rounding noise forgiven).
fn decade(x: f64) -> i64 {
    (x.abs().log10() + 1e-9).floor() as i64
}

/// How tick values are written: a fixed number of decimals, or a mantissa precision with an exponent.
#[derive(Debug, Clone, Copy)]
enum Format {
    Fixed(usize),
    Scientific(usize),
}

impl Format {
    /// "0.25", "1500", "3e-5", "1.5e6"; zero is "0" in exponent notation.
    fn label(self, v: f64) -> String {
        match self {
            Format::Fixed(digits) => format!("{v:.digits$}"),
            Format::Scientific(_) if v == 0.0 => "0".to_string(),
            Format::Scientific(digits) => format!("{v:.digits$e}"),
        }
    }
}

/// Per-pixel coverage (0..1) of one stroke set over `area`, so overlapping segments blend only once.
struct Coverage {
    area: Rect,
    cov: Vec<f32>,
}

impl Coverage {
    fn new(area: Rect) -> Coverage {
        let len = (area.width().max(0) * area.height().max(0)) as usize;
        Coverage { area, cov: vec![0.0; len] }
    }

    /// Adds a segment from `a` to `b` (pixel coordinates, pixel centres at +0.5) of the given half width,
    /// with a one-pixel anti-aliased edge; `a == b` draws a dot.
    fn stroke(&mut self, a: (f64, f64), b: (f64, f64), half_width: f64) {
        if ![a.0, a.1, b.0, b.1].iter().all(|v| v.is_finite()) {
            return;
        }
        let reach = half_width + 1.0;
        let clamp_x = |v: f64| v.clamp(self.area.x0 as f64, self.area.x1 as f64) as i64;
        let clamp_y = |v: f64| v.clamp(self.area.y0 as f64, self.area.y1 as f64) as i64;
        let (x0, x1) = (clamp_x((a.0.min(b.0) - reach).floor()), clamp_x((a.0.max(b.0) + reach).ceil()));
        let (y0, y1) = (clamp_y((a.1.min(b.1) - reach).floor()), clamp_y((a.1.max(b.1) + reach).ceil()));
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        for py in y0..y1 {
            for px in x0..x1 {
                let (cx, cy) = (px as f64 + 0.5, py as f64 + 0.5);
                let t = if len2 > 0.0 { (((cx - a.0) * dx + (cy - a.1) * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
                let dist = (cx - (a.0 + t * dx)).hypot(cy - (a.1 + t * dy));
                let c = (half_width + 0.5 - dist).clamp(0.0, 1.0) as f32;
                let idx = ((py - self.area.y0) * self.area.width() + (px - self.area.x0)) as usize;
                if let Some(cell) = self.cov.get_mut(idx) {
                    *cell = cell.max(c);
                }
            }
        }
    }

    /// Blends `color` into the image by coverage, and raises `ink` (same layout, if not empty) to it.
    fn blend_into(&self, img: &mut RgbImage, color: [u8; 3], ink: &mut [f32]) {
        let w = self.area.width().max(1);
        for (idx, &c) in self.cov.iter().enumerate() {
            if c > 0.0 {
                let (px, py) = (self.area.x0 + idx as i64 % w, self.area.y0 + idx as i64 / w);
                blend(img, px, py, color, c);
                if let Some(cell) = ink.get_mut(idx) {
                    *cell = cell.max(c);
                }
            }
        }
    }
}

/// Mixes `color` into pixel (x, y) with weight `alpha`; pixels outside the image are ignored.
fn blend(img: &mut RgbImage, x: i64, y: i64, color: [u8; 3], alpha: f32) {
    if x < 0 || y < 0 || x >= img.width() as i64 || y >= img.height() as i64 {
        return;
    }
    let pixel = img.get_pixel_mut(x as u32, y as u32);
    for (channel, &target) in pixel.0.iter_mut().zip(&color) {
        *channel = (*channel as f32 * (1.0 - alpha) + target as f32 * alpha).round() as u8;
    }
}

/// Paints the pixels of `rect` that lie inside the image.
fn fill_rect(img: &mut RgbImage, rect: Rect, color: [u8; 3]) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    for y in rect.y0.max(0)..rect.y1.min(h) {
        for x in rect.x0.max(0)..rect.x1.min(w) {
            img.put_pixel(x as u32, y as u32, Rgb(color));
        }
    }
}

/// A one-pixel outline just inside `rect`.
fn stroke_rect(img: &mut RgbImage, r: Rect, color: [u8; 3]) {
    fill_rect(img, Rect { y1: r.y0 + 1, ..r }, color);
    fill_rect(img, Rect { y0: r.y1 - 1, ..r }, color);
    fill_rect(img, Rect { x1: r.x0 + 1, ..r }, color);
    fill_rect(img, Rect { x0: r.x1 - 1, ..r }, color);
}

// ---- Text: a 5×7 bitmap font with two descender rows, one glyph per printable ASCII character. ----

/// Glyph rows per character: 7 above the baseline, 2 below for descenders (g, j, p, q, y, ',').
const GLYPH_ROWS: i64 = 9;
/// Rows above the baseline (capital height).
const CAP_ROWS: i64 = 7;
/// Horizontal advance per character, in font pixels (5 columns and a gap).
const ADVANCE: i64 = 6;

/// Width in pixels of `text` drawn at `scale`.
fn text_width(text: &str, scale: i64) -> i64 {
    let n = text.chars().count() as i64;
    if n == 0 { 0 } else { (n * ADVANCE - 1) * scale }
}

/// `text`, cut and ended with ".." if it would be wider than `max_w` pixels at `scale`.
fn fit_text(text: &str, max_w: i64, scale: i64) -> String {
    if text_width(text, scale) <= max_w {
        return text.to_string();
    }
    let keep = ((max_w / scale + 1) / ADVANCE - 2).max(0) as usize;
    text.chars().take(keep).chain("..".chars()).collect()
}

/// Draws `text` with its top-left corner at (x, y), each font pixel a `scale`×`scale` block; `bold`
/// doubles each stroke one pixel to the right. Characters outside printable ASCII are drawn as '?'.
fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, scale: i64, color: [u8; 3], bold: bool) {
    for (i, ch) in text.chars().enumerate() {
        let glyph = glyph(ch);
        let left = x + i as i64 * ADVANCE * scale;
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) != 0 {
                    let (px, py) = (left + col * scale, y + row as i64 * scale);
                    let w = scale + i64::from(bold);
                    fill_rect(img, Rect { x0: px, y0: py, x1: px + w, y1: py + scale }, color);
                }
            }
        }
    }
}

/// The bitmap of `ch`, or of '?' for anything outside printable ASCII.
fn glyph(ch: char) -> &'static [u8; GLYPH_ROWS as usize] {
    let index = (ch as u32).wrapping_sub(32) as usize;
    FONT.get(index).unwrap_or(&FONT[b'?' as usize - 32])
}

/// Printable ASCII 32..=126: nine rows per glyph, top first; bit 4 (0x10) is the leftmost column.
#[rustfmt::skip]
const FONT: [[u8; GLYPH_ROWS as usize]; 95] = [
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // space
    [0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04, 0x00, 0x00], // '!'
    [0x0A, 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // '"'
    [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A, 0x00, 0x00], // '#'
    [0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04, 0x00, 0x00], // '$'
    [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03, 0x00, 0x00], // '%'
    [0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D, 0x00, 0x00], // '&'
    [0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // '\''
    [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02, 0x00, 0x00], // '('
    [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08, 0x00, 0x00], // ')'
    [0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00, 0x00, 0x00], // '*'
    [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00, 0x00, 0x00], // '+'
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08, 0x00], // ','
    [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00, 0x00, 0x00], // '-'
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C, 0x00, 0x00], // '.'
    [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00, 0x00, 0x00], // '/'
    [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E, 0x00, 0x00], // '0'
    [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00, 0x00], // '1'
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F, 0x00, 0x00], // '2'
    [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E, 0x00, 0x00], // '3'
    [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02, 0x00, 0x00], // '4'
    [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E, 0x00, 0x00], // '5'
    [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E, 0x00, 0x00], // '6'
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08, 0x00, 0x00], // '7'
    [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E, 0x00, 0x00], // '8'
    [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C, 0x00, 0x00], // '9'
    [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00, 0x00, 0x00], // ':'
    [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08, 0x00, 0x00], // ';'
    [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02, 0x00, 0x00], // '<'
    [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00, 0x00, 0x00], // '='
    [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08, 0x00, 0x00], // '>'
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04, 0x00, 0x00], // '?'
    [0x0E, 0x11, 0x17, 0x15, 0x17, 0x10, 0x0F, 0x00, 0x00], // '@'
    [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11, 0x00, 0x00], // 'A'
    [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E, 0x00, 0x00], // 'B'
    [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E, 0x00, 0x00], // 'C'
    [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E, 0x00, 0x00], // 'D'
    [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F, 0x00, 0x00], // 'E'
    [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10, 0x00, 0x00], // 'F'
    [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F, 0x00, 0x00], // 'G'
    [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11, 0x00, 0x00], // 'H'
    [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00, 0x00], // 'I'
    [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C, 0x00, 0x00], // 'J'
    [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11, 0x00, 0x00], // 'K'
    [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F, 0x00, 0x00], // 'L'
    [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11, 0x00, 0x00], // 'M'
    [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x00, 0x00], // 'N'
    [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E, 0x00, 0x00], // 'O'
    [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10, 0x00, 0x00], // 'P'
    [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D, 0x00, 0x00], // 'Q'
    [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11, 0x00, 0x00], // 'R'
    [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E, 0x00, 0x00], // 'S'
    [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x00], // 'T'
    [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E, 0x00, 0x00], // 'U'
    [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04, 0x00, 0x00], // 'V'
    [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A, 0x00, 0x00], // 'W'
    [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11, 0x00, 0x00], // 'X'
    [0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04, 0x00, 0x00], // 'Y'
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F, 0x00, 0x00], // 'Z'
    [0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E, 0x00, 0x00], // '['
    [0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00, 0x00, 0x00], // '\\'
    [0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E, 0x00, 0x00], // ']'
    [0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // '^'
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F, 0x00], // '_'
    [0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // '`'
    [0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F, 0x00, 0x00], // 'a'
    [0x10, 0x10, 0x1E, 0x11, 0x11, 0x11, 0x1E, 0x00, 0x00], // 'b'
    [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E, 0x00, 0x00], // 'c'
    [0x01, 0x01, 0x0F, 0x11, 0x11, 0x11, 0x0F, 0x00, 0x00], // 'd'
    [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E, 0x00, 0x00], // 'e'
    [0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08, 0x00, 0x00], // 'f'
    [0x00, 0x00, 0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E], // 'g'
    [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00, 0x00], // 'h'
    [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E, 0x00, 0x00], // 'i'
    [0x02, 0x00, 0x06, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C], // 'j'
    [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12, 0x00, 0x00], // 'k'
    [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00, 0x00], // 'l'
    [0x00, 0x00, 0x1A, 0x15, 0x15, 0x15, 0x15, 0x00, 0x00], // 'm'
    [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00, 0x00], // 'n'
    [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E, 0x00, 0x00], // 'o'
    [0x00, 0x00, 0x1E, 0x11, 0x11, 0x11, 0x1E, 0x10, 0x10], // 'p'
    [0x00, 0x00, 0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x01], // 'q'
    [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10, 0x00, 0x00], // 'r'
    [0x00, 0x00, 0x0F, 0x10, 0x0E, 0x01, 0x1E, 0x00, 0x00], // 's'
    [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06, 0x00, 0x00], // 't'
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D, 0x00, 0x00], // 'u'
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04, 0x00, 0x00], // 'v'
    [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A, 0x00, 0x00], // 'w'
    [0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x00, 0x00], // 'x'
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E], // 'y'
    [0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F, 0x00, 0x00], // 'z'
    [0x03, 0x04, 0x04, 0x08, 0x04, 0x04, 0x03, 0x00, 0x00], // '{'
    [0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x00], // '|'
    [0x18, 0x04, 0x04, 0x02, 0x04, 0x04, 0x18, 0x00, 0x00], // '}'
    [0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00, 0x00, 0x00], // '~'
];
