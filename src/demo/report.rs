//! `report.html`: one self-contained page (no script, no network; the pictures are the PNG files beside it,
//! referenced by relative paths) with the results table, each family's pictures, and the exact command that
//! reproduces each figure.
use std::fmt::Write as _;
use std::path::Path;

use super::{format_gain, format_value, Summary};
use crate::{Error, Result};

/// `s` with `&`, `<`, `>` and `"` escaped for HTML text and attributes.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The page for `summary`, as a string.
pub fn html(summary: &Summary) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>pretext demo</title>\n<style>\n\
         body {{ font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}\n\
         table {{ border-collapse: collapse; margin: 1rem 0; }} th, td {{ padding: 0.3rem 0.8rem; border-bottom: 1px solid #ddd; text-align: right; }}\n\
         th:first-child, td:first-child, td.metric {{ text-align: left; }} code {{ background: #f4f4f4; padding: 0.1rem 0.3rem; }}\n\
         figure {{ margin: 1rem 0; }} img {{ max-width: 100%; border: 1px solid #ddd; image-rendering: pixelated; }}\n\
         .gain-pos {{ color: #1a7f37; }} .gain-neg {{ color: #b42318; }}\n</style></head><body>\n"
    );
    let _ = writeln!(h, "<h1>pretext demo</h1>");
    let _ = writeln!(
        h,
        "<p>Device: {} (measured FMA peak {:.1} GFLOP/s, copy bandwidth {:.2} GB/s), preset <code>{}</code>, {:.0} s in all. Every family pretrains on \
         data bundled with pretext, then transfers; its baseline gets the same budget.</p>",
        escape(&summary.device),
        summary.peak_fma_gflops,
        summary.peak_copy_gbps,
        escape(&summary.preset),
        summary.seconds
    );
    let _ = writeln!(h, "<table><tr><th>family</th><th>metric</th><th>pretrained</th><th>baseline</th><th>gain</th><th>labels per class</th><th>time</th></tr>");
    for (name, f) in &summary.families {
        let gain = f.pretrained - f.baseline;
        let _ = writeln!(
            h,
            "<tr><td><a href=\"#{name}\">{name}</a></td><td class=\"metric\">{}</td><td>{}</td><td>{} ({})</td><td class=\"{}\">{}</td><td>{}</td><td>{:.0} s</td></tr>",
            escape(&f.metric),
            format_value(&f.metric, f.pretrained),
            format_value(&f.metric, f.baseline),
            escape(&f.baseline_kind),
            if gain >= 0.0 { "gain-pos" } else { "gain-neg" },
            escape(&format_gain(&f.metric, f.pretrained, f.baseline)),
            f.labels_per_class.map_or("all".to_string(), |n| n.to_string()),
            f.seconds,
            name = escape(name),
        );
    }
    let _ = writeln!(h, "</table>");
    for (name, f) in &summary.families {
        let _ = writeln!(h, "<h2 id=\"{0}\">{0}</h2>", escape(name));
        let _ = writeln!(h, "<p>Reproduce: <code>{}</code></p>", escape(&f.command));
        for p in &f.pictures {
            let _ = writeln!(
                h,
                "<figure><img src=\"{0}\" alt=\"{1}\"><figcaption>{1} (<code>{0}</code>)</figcaption></figure>",
                escape(&p.file),
                escape(&p.caption)
            );
        }
        if !f.extra.is_empty() {
            let _ = writeln!(h, "<table>");
            for (k, v) in &f.extra {
                let _ = writeln!(h, "<tr><td>{}</td><td>{}</td></tr>", escape(k), escape(&readable(v)));
            }
            let _ = writeln!(h, "</table>");
        }
    }
    h.push_str("</body></html>\n");
    h
}

/// `v` as JSON for a reader: fractions to 4 significant digits (0.6648333333333333 → 0.6648, 5e-5 → 0.00005),
/// larger numbers to 2 decimals, integers, strings and the shape of arrays and objects as they are.
pub fn readable(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            let decimals = if x.abs() >= 1.0 || x == 0.0 { 2 } else { (3.0 - x.abs().log10().floor()) as usize };
            let s = format!("{x:.decimals$}");
            match s.trim_end_matches('0').trim_end_matches('.') {
                "-0" => "0".to_string(),
                t => t.to_string(),
            }
        }
        Value::Array(a) => format!("[{}]", a.iter().map(readable).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!("{{{}}}", o.iter().map(|(k, v)| format!("{}: {}", Value::String(k.clone()), readable(v))).collect::<Vec<_>>().join(", ")),
        _ => v.to_string(),
    }
}

/// Writes the page to `path` (through a temporary file).
pub fn write_html(path: &Path, summary: &Summary) -> Result<()> {
    crate::checkpoint::write_atomic(path, html(summary).as_bytes()).map_err(|e| Error::Io(format!("report: {e}")))
}

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn readable_rounds_fractions_and_keeps_the_rest() {
        let v = serde_json::json!({"images": 500, "kl": 13.765059471130371, "seeds": [0.6648333333333333, 0.8075000000000001, 0.5], "kind": "vae", "big": 1250.0});
        assert_eq!(readable(&v), r#"{"big": 1250, "images": 500, "kind": "vae", "kl": 13.77, "seeds": [0.6648, 0.8075, 0.5]}"#);
        assert_eq!(readable(&serde_json::json!([5e-5, 0.00012345, -0.25, 0.0, -0.0])), "[0.00005, 0.0001234, -0.25, 0, 0]");
    }
}
