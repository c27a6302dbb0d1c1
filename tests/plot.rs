//! The line-chart renderer: where a curve is drawn (a decreasing series falls from left to right, a straight
//! line stays straight, a log axis gives every decade the same height), series colours inside the plot, text
//! where titles and ticks go, awkward data (NaN, inf, empty, single point, constant, log axis), and PNG
//! writing with its errors.
use std::path::PathBuf;

use pretext::plot::{render, write_png, Panel, Series, PALETTE};
use pretext::Error;

/// A loss-like curve: fast decay towards `floor`, with a little deterministic wiggle.
fn loss_curve(steps: usize, start: f64, floor: f64, wiggle: f64) -> Vec<(f64, f64)> {
    (0..steps)
        .map(|i| {
            let t = i as f64;
            (t * 10.0, floor + (start - floor) * (-t / 40.0).exp() + wiggle * (t * 0.7).sin() * (-t / 150.0).exp())
        })
        .collect()
}

/// Two panels, five series in all: train/eval loss on a log axis and a learning-rate schedule.
fn sample_panels() -> Vec<Panel> {
    let eval: Vec<(f64, f64)> = (0..=10).map(|i| (i as f64 * 200.0, 0.2 + 2.0 * (-(i as f64) * 1.2).exp())).collect();
    let warmup_cosine: Vec<(f64, f64)> = (0..=200)
        .map(|i| {
            let step = i as f64 * 10.0;
            let cosine = 0.5 * (1.0 + (std::f64::consts::PI * (step - 200.0) / 1800.0).cos());
            let lr = if step < 200.0 { 3e-4 * step / 200.0 } else { 3e-4 * cosine };
            (step, lr)
        })
        .collect();
    vec![
        Panel {
            title: "MAE pretraining loss".into(),
            x_label: "step".into(),
            y_label: "loss (log)".into(),
            series: vec![
                Series { label: "train".into(), points: loss_curve(200, 2.3, 0.12, 0.05), color: PALETTE[0] },
                Series { label: "eval".into(), points: eval, color: PALETTE[1] },
                Series { label: "baseline".into(), points: loss_curve(200, 2.3, 0.4, 0.0), color: PALETTE[2] },
            ],
            log_y: true,
        },
        Panel {
            title: "learning rate".into(),
            x_label: "step".into(),
            y_label: "lr".into(),
            series: vec![
                Series { label: "warmup + cosine".into(), points: warmup_cosine, color: PALETTE[3] },
                Series { label: "constant".into(), points: vec![(0.0, 1e-4), (2000.0, 1e-4)], color: PALETTE[4] },
            ],
            log_y: false,
        },
    ]
}

fn is_dark(p: &image::Rgb<u8>) -> bool {
    p.0.iter().all(|&c| c < 100)
}

/// Counts pixels of exactly `color` within [x0, x1) × [y0, y1).
fn count_color(img: &image::RgbImage, color: [u8; 3], (x0, x1): (u32, u32), (y0, y1): (u32, u32)) -> usize {
    (y0..y1).flat_map(|y| (x0..x1).map(move |x| (x, y))).filter(|&(x, y)| img.get_pixel(x, y).0 == color).count()
}

fn count_dark(img: &image::RgbImage, (x0, x1): (u32, u32), (y0, y1): (u32, u32)) -> usize {
    (y0..y1).flat_map(|y| (x0..x1).map(move |x| (x, y))).filter(|&(x, y)| is_dark(img.get_pixel(x, y))).count()
}

#[test]
fn two_panels_have_requested_size_series_colours_and_text() {
    let (w, h) = (1200, 450);
    let img = render(&sample_panels(), w, h);
    assert_eq!(img.dimensions(), (w, h), "render must return the requested size");
    let half = w / 2;
    // (a) every series colour appears in the middle of its panel's plot area (away from the legend).
    for (panel, x_range) in sample_panels().iter().zip([(0, half), (half, w)]) {
        let inner_x = (x_range.0 + (x_range.1 - x_range.0) / 5, x_range.1 - (x_range.1 - x_range.0) / 10);
        for ser in &panel.series {
            let n = count_color(&img, ser.color, inner_x, (h / 6, h * 5 / 6));
            let (label, title, color) = (&ser.label, &panel.title, ser.color);
            assert!(n >= 20, "series {label:?} of panel {title:?}: {n} pixels of its colour {color:?} in its plot");
        }
    }
    // (b) dark text in each panel's title band, y tick-label strip and x tick-label band.
    for (name, x_range) in [("left", (0, half)), ("right", (half, w))] {
        let title = count_dark(&img, x_range, (0, 30));
        assert!(title >= 30, "{name} panel: {title} dark pixels in the title band (rows 0..30)");
        let y_ticks = count_dark(&img, (x_range.0, x_range.0 + 90), (h / 4, h * 3 / 4));
        assert!(y_ticks >= 30, "{name} panel: {y_ticks} dark pixels in the y tick-label strip");
        let x_ticks = count_dark(&img, (x_range.0 + 100, x_range.1 - 20), (h - 60, h - 28));
        assert!(x_ticks >= 30, "{name} panel: {x_ticks} dark pixels in the x tick-label band");
    }
    // Each panel stays inside its half: no text or axis on the boundary between them.
    let boundary = count_dark(&img, (half - 2, half + 2), (0, h));
    assert_eq!(boundary, 0, "dark pixels on the boundary between the panels");
}

/// For each pixel column holding `color`, the mean row of those pixels: the curve's centre line, in image
/// coordinates (rows grow downwards).
fn centre_line(img: &image::RgbImage, color: [u8; 3]) -> Vec<(f64, f64)> {
    (0..img.width())
        .filter_map(|x| {
            let rows: Vec<u32> = (0..img.height()).filter(|&y| img.get_pixel(x, y).0 == color).collect();
            (!rows.is_empty()).then(|| (x as f64, rows.iter().map(|&r| r as f64).sum::<f64>() / rows.len() as f64))
        })
        .collect()
}

/// Least-squares line through the points: (slope, intercept, R²).
fn fit_line(pts: &[(f64, f64)]) -> (f64, f64, f64) {
    let n = pts.len() as f64;
    let (mx, my) = (pts.iter().map(|p| p.0).sum::<f64>() / n, pts.iter().map(|p| p.1).sum::<f64>() / n);
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let syy: f64 = pts.iter().map(|p| (p.1 - my).powi(2)).sum();
    let slope = sxy / sxx;
    (slope, my - slope * mx, sxy * sxy / (sxx * syy))
}

/// One panel with one unlabelled series (so no legend covers it).
fn one_series(points: Vec<(f64, f64)>, log_y: bool) -> Panel {
    Panel {
        title: "curve".into(),
        x_label: "x".into(),
        y_label: "y".into(),
        series: vec![Series { label: String::new(), points, color: PALETTE[0] }],
        log_y,
    }
}

#[test]
fn a_straight_decreasing_series_is_drawn_as_a_falling_straight_line() {
    let (w, h) = (600, 400);
    let falling: Vec<(f64, f64)> = (0..=100).map(|i| (i as f64, 10.0 - i as f64 / 10.0)).collect();
    let line = centre_line(&render(&[one_series(falling, false)], w, h), PALETTE[0]);
    assert!(line.len() > w as usize / 2, "the curve spans {} columns of {w}", line.len());
    let (slope, _, r2) = fit_line(&line);
    assert!(r2 > 0.999, "a straight series must be drawn straight: R² {r2:.5}");
    assert!(slope > 0.0, "a decreasing series must fall from left to right (rows grow downwards): slope {slope:.3}");
    let (first, last) = (line[0], line[line.len() - 1]);
    assert!(last.1 - first.1 > 0.5 * h as f64, "it must span most of the plot's height: rows {:.0} to {:.0} of {h}", first.1, last.1);
    // an increasing series rises; the two are mirror images
    let rising: Vec<(f64, f64)> = (0..=100).map(|i| (i as f64, i as f64 / 10.0)).collect();
    let up = centre_line(&render(&[one_series(rising, false)], w, h), PALETTE[0]);
    let (up_slope, _, _) = fit_line(&up);
    assert!((up_slope + slope).abs() < 0.02 * slope.abs(), "rising slope {up_slope:.3} against falling {slope:.3}");
}

#[test]
fn a_log_axis_gives_every_decade_the_same_height() {
    // y = 10^(3x/100): four decades, a straight line on a log axis, a hockey stick on a linear one.
    let (w, h) = (600, 400);
    let exp: Vec<(f64, f64)> = (0..=100).map(|i| (i as f64, 10f64.powf(3.0 * i as f64 / 100.0))).collect();
    let log_line = centre_line(&render(&[one_series(exp.clone(), true)], w, h), PALETTE[0]);
    let (slope, intercept, r2) = fit_line(&log_line);
    assert!(r2 > 0.999 && slope < 0.0, "on a log axis 10^x must be a rising straight line: R² {r2:.5}, slope {slope:.3}");
    // the rows of y = 10^0.5, 10^1.5 and 10^2.5 (x = 100/6, 50, 500/6) are one decade apart each
    let (c0, c1) = (log_line[0].0, log_line[log_line.len() - 1].0);
    let row_at = |x: f64| slope * (c0 + (c1 - c0) * x / 100.0) + intercept;
    let (d1, d2) = (row_at(100.0 / 6.0) - row_at(50.0), row_at(50.0) - row_at(500.0 / 6.0));
    assert!(d1 > 40.0 && (d1 - d2).abs() < 2.0, "decades must be equally tall: {d1:.1} and {d2:.1} pixels");
    let (_, _, lin_r2) = fit_line(&centre_line(&render(&[one_series(exp, false)], w, h), PALETTE[0]));
    assert!(lin_r2 < 0.9, "the same data on a linear axis is not straight (R² {lin_r2:.3}): the axis kind must matter");
}

#[test]
fn awkward_data_does_not_panic() {
    let nan_and_inf = vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, 0.5), (f64::INFINITY, 0.3), (3.0, 0.25), (4.0, -1.0)];
    let cases = vec![
        ("NaN, inf and a non-positive value on a log axis", nan_and_inf.clone(), true),
        ("NaN and inf on a linear axis", nan_and_inf, false),
        ("empty", vec![], false),
        ("single point", vec![(5.0, 2.0)], false),
        ("single point, log", vec![(5.0, 2.0)], true),
        ("constant y", vec![(0.0, 3.0), (1.0, 3.0), (2.0, 3.0)], false),
        ("constant zero", vec![(0.0, 0.0), (1.0, 0.0)], false),
        ("only NaN", vec![(f64::NAN, f64::NAN)], true),
        ("huge and tiny", vec![(0.0, 1e-300), (1e300, 1e300)], true),
        ("extreme span", vec![(-f64::MAX, -f64::MAX), (f64::MAX, f64::MAX)], false),
    ];
    for (name, points, log_y) in cases {
        let panel = Panel {
            title: format!("{name} \u{3bb}\u{2192}"), // non-ASCII draws as '?'
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![
                Series { label: name.into(), points, color: PALETTE[5] },
                Series { label: "empty".into(), points: vec![], color: PALETTE[0] },
            ],
            log_y,
        };
        for (w, h) in [(640, 400), (120, 80), (7, 3), (0, 0)] {
            let img = render(std::slice::from_ref(&panel), w, h);
            assert_eq!(img.dimensions(), (w, h), "{name}: size {w}x{h}");
            if (w, h) != (640, 400) {
                continue;
            }
            // the middle of the plot, left of the legend in the top right corner
            let middle: Vec<(f64, f64)> = centre_line(&img, PALETTE[5]).into_iter().filter(|p| (150.0..350.0).contains(&p.0)).collect();
            match name {
                "constant y" => assert!(
                    middle.len() > 150 && middle.iter().all(|p| (p.1 - middle[0].1).abs() < 0.5),
                    "{name}: a constant series is one horizontal line across the plot: {middle:?}"
                ),
                "only NaN" => assert!(middle.is_empty(), "{name}: nothing to draw, yet {} columns hold the series colour", middle.len()),
                _ => {}
            }
        }
    }
    // NaN at x = 1 and inf at x = 2.5 break the line: (0, 1) and (2, 0.5) are lone dots, and (3, 0.25)-(4, -1), the
    // one run of two finite points, a falling straight segment over the last quarter of the x range
    let broken = vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, 0.5), (f64::INFINITY, 0.3), (3.0, 0.25), (4.0, -1.0)];
    let line = centre_line(&render(&[one_series(broken, false)], 640, 400), PALETTE[0]);
    let (x0, x1) = (line[0].0, line[line.len() - 1].0);
    let at = |lo: f64, hi: f64| -> Vec<(f64, f64)> {
        line.iter().copied().filter(|p| p.0 > x0 + lo * (x1 - x0) && p.0 < x0 + hi * (x1 - x0)).collect()
    };
    let gap = at(0.1, 0.4);
    assert!(gap.is_empty(), "NaN at x = 1 must break the line from (0, 1) to (2, 0.5): {} columns drawn between", gap.len());
    let segment = at(0.77, 1.0);
    assert!(segment.len() as f64 > 0.2 * (x1 - x0), "the run (3, 0.25)-(4, -1) must be drawn: {} columns of {:.0}", segment.len(), x1 - x0);
    let (slope, _, r2) = fit_line(&segment);
    assert!(slope > 0.5 && r2 > 0.99, "the run (3, 0.25)-(4, -1) falls steeply and straight: slope {slope:.2}, R² {r2:.4}");
    let single = Panel {
        title: "one point".into(),
        x_label: String::new(),
        y_label: String::new(),
        series: vec![Series { label: "p".into(), points: vec![(1.0, 1.0)], color: PALETTE[3] }],
        log_y: false,
    };
    let img = render(&[single], 500, 320);
    assert!(count_color(&img, PALETTE[3], (150, 400), (80, 260)) > 0, "a single point is drawn as a dot");
    let many: Vec<Panel> = (0..7).map(|_| sample_panels().remove(0)).collect();
    assert_eq!(render(&many, 900, 700).dimensions(), (900, 700), "seven panels in a grid");
    assert_eq!(render(&[], 10, 10).dimensions(), (10, 10), "no panels");
}

#[test]
fn write_png_reads_back_and_names_unwritable_path() {
    let path = std::env::temp_dir().join("plot_sample.png");
    write_png(&path, &sample_panels(), 1200, 450).expect("writing the sample plot");
    let back = image::open(&path).expect("reading the sample plot back");
    assert_eq!((back.width(), back.height()), (1200, 450), "{}: dimensions", path.display());
    let mut tmp = path.clone().into_os_string();
    tmp.push(".tmp");
    assert!(!PathBuf::from(tmp).exists(), "the temporary file is renamed away");

    let bad = std::env::temp_dir().join("pretext_plot_no_such_dir").join("sub").join("plot.png");
    match write_png(&bad, &sample_panels(), 300, 200) {
        Err(Error::Io(msg)) => {
            assert!(msg.contains(&bad.display().to_string()), "error should name {}: {msg}", bad.display())
        }
        other => panic!("writing {} should be an Io error, got {other:?}", bad.display()),
    }
}
