//! The line-chart renderer: sizes, series colours inside the plot, text where titles and ticks go,
//! awkward data (NaN, inf, empty, single point, constant, log axis), and PNG writing with its errors.
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
        }
    }
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
