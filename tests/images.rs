//! Images in: IDX (plain and gzipped, labels beside), ImageFolder, file lists, HF preprocessing, the bundled
//! Fashion-MNIST subset, and a clear error for every kind of bad input. No device needed.
use std::path::{Path, PathBuf};

use pretext::data::images::{bundled, read_idx, resize_bilinear, write_idx, Image, ImageSet, Preprocessor};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pretext-images-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// n grey h×w images whose pixel (i, y, x) = (7i + 3y + x) mod 256, labelled i mod 3.
fn pattern_set(n: usize, h: usize, w: usize) -> ImageSet {
    let images = (0..n)
        .map(|i| Image { channels: 1, height: h, width: w, pixels: (0..h * w).map(|p| ((7 * i + 3 * (p / w) + p % w) % 256) as u8).collect() })
        .collect();
    ImageSet { images, labels: Some((0..n).map(|i| i % 3).collect()), classes: vec!["a".into(), "b".into(), "c".into()], sources: (0..n).map(|i| format!("#{i}")).collect() }
}

fn err_of<T: std::fmt::Debug>(r: pretext::Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn idx_round_trips_plain_and_gzipped_with_labels_beside() {
    let d = temp_dir("idx");
    let set = pattern_set(5, 3, 4);
    for suffix in ["", ".gz"] {
        let img = d.join(format!("train-images-idx3-ubyte{suffix}"));
        let lab = d.join(format!("train-labels-idx1-ubyte{suffix}"));
        write_idx(&img, Some(&lab), &set).unwrap();
        let back = read_idx(&img).unwrap();
        assert_eq!(back.images, set.images, "pixels differ after an IDX round trip ({suffix:?})");
        assert_eq!(back.labels, set.labels);
        assert_eq!(back.classes, vec!["0", "1", "2"], "IDX class names are the label numbers");
        assert_eq!(back.sources[4], format!("{}#4", img.display()));
        std::fs::remove_file(&img).unwrap();
        std::fs::remove_file(&lab).unwrap();
    }
    // Without a labels file beside it, the images come without labels.
    let img = d.join("x-images-idx3-ubyte");
    write_idx(&img, None, &set).unwrap();
    let back = ImageSet::load(&[img]).unwrap();
    assert!(back.labels.is_none());
    assert!(err_of(back.labels("fine-tuning")).contains("needs labels"));
}

#[test]
fn bad_idx_files_name_the_file_and_the_fault() {
    let d = temp_dir("badidx");
    let img = d.join("train-images-idx3-ubyte");
    let mut bytes = vec![0, 0, 8, 3];
    for v in [2u32, 2, 2] {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7]); // one byte short of 2x2x2
    std::fs::write(&img, &bytes).unwrap();
    let e = err_of(read_idx(&img));
    assert!(e.contains("train-images-idx3-ubyte") && e.contains("[2, 2, 2]") && e.contains("holds 7"), "{e}");

    bytes[3] = 1; // a labels magic where images are expected
    std::fs::write(&img, &bytes).unwrap();
    let e = err_of(read_idx(&img));
    assert!(e.contains("0x00000801") && e.contains("expected 3"), "{e}");

    std::fs::write(&img, b"\x1f\x8b\x08\x00garbage").unwrap();
    assert!(err_of(read_idx(&img)).contains("not a valid gzip file"));

    // A labels file whose count does not match the images.
    let set = pattern_set(4, 2, 2);
    write_idx(&img, Some(&d.join("train-labels-idx1-ubyte")), &set.take(4)).unwrap();
    write_idx(&d.join("other-images-idx3-ubyte"), Some(&d.join("train-labels-idx1-ubyte")), &set.take(3)).unwrap();
    let e = err_of(read_idx(&img));
    assert!(e.contains("train-labels-idx1-ubyte") && e.contains("3 labels for the 4 images"), "{e}");
}

fn write_png(path: &Path, img: &Image) {
    let (w, h) = (img.width as u32, img.height as u32);
    match img.channels {
        1 => image::GrayImage::from_raw(w, h, img.pixels.clone()).unwrap().save(path).unwrap(),
        _ => {
            let plane = img.height * img.width;
            let hwc: Vec<u8> = (0..plane).flat_map(|i| (0..3).map(move |c| (c, i))).map(|(c, i)| img.pixels[c * plane + i]).collect();
            image::RgbImage::from_raw(w, h, hwc).unwrap().save(path).unwrap()
        }
    }
}

#[test]
fn image_folder_and_file_lists_read_png_and_jpeg_grey_and_rgb() {
    let d = temp_dir("folder");
    let grey = Image { channels: 1, height: 3, width: 5, pixels: (0..15).map(|v| v * 17).collect() };
    let rgb = Image { channels: 3, height: 3, width: 5, pixels: (0..45).map(|v| v * 5).collect() };
    std::fs::create_dir_all(d.join("zebra")).unwrap();
    std::fs::create_dir_all(d.join("apple")).unwrap();
    write_png(&d.join("zebra/b.png"), &grey);
    write_png(&d.join("zebra/a.png"), &rgb);
    write_png(&d.join("apple/only.png"), &grey);
    image::GrayImage::from_raw(5, 3, grey.pixels.clone()).unwrap().save(d.join("apple/photo.jpg")).unwrap();
    std::fs::write(d.join("apple/notes.txt"), "not an image, skipped by extension").unwrap();

    let set = ImageSet::load(&[d.clone()]).unwrap();
    assert_eq!(set.classes, vec!["apple", "zebra"], "classes in sorted order");
    assert_eq!(set.labels.as_deref(), Some(&[0, 0, 1, 1][..]));
    assert!(set.sources[2].ends_with("zebra/a.png"), "files in sorted order: {:?}", set.sources);
    assert_eq!(set.images[0], grey, "grey PNG decodes exactly");
    assert_eq!(set.images[2], rgb, "RGB PNG decodes exactly, channel-first");
    let jpeg = &set.images[1];
    assert_eq!((jpeg.channels, jpeg.height, jpeg.width), (1, 3, 5));
    let worst = jpeg.pixels.iter().zip(&grey.pixels).map(|(a, b)| (*a as i32 - *b as i32).abs()).max().unwrap();
    assert!(worst <= 40, "JPEG decodes close to its source (lossy): worst |diff| {worst}");

    let list = ImageSet::load(&[d.join("zebra/a.png"), d.join("apple/only.png")]).unwrap();
    assert!(list.labels.is_none() && list.len() == 2);

    // Bad inputs: a non-image file, a truncated PNG, an empty folder, a missing path.
    let e = err_of(ImageSet::load(&[d.join("apple/notes.txt")]));
    assert!(e.contains("notes.txt") && e.contains("not a readable image"), "{e}");
    let png = std::fs::read(d.join("zebra/a.png")).unwrap();
    std::fs::write(d.join("cut.png"), &png[..png.len() / 2]).unwrap();
    let e = err_of(ImageSet::load(&[d.join("cut.png")]));
    assert!(e.contains("cut.png") && e.contains("not a readable image"), "{e}");
    let empty = temp_dir("empty");
    assert!(err_of(ImageSet::load(&[empty.clone()])).contains("not an ImageFolder directory"));
    let e = err_of(ImageSet::load(&[d.join("missing.png")]));
    assert!(e.contains("missing.png"), "{e}");
}

#[test]
fn preprocessing_follows_hf_and_converts_channels_as_documented() {
    let d = temp_dir("pre");
    // HF's ViTImageProcessor format, `size` as a dict.
    std::fs::write(
        d.join("preprocessor_config.json"),
        r#"{"do_normalize": true, "do_rescale": true, "do_resize": true, "image_mean": [0.5, 0.25, 0.1],
            "image_processor_type": "ViTImageProcessor", "image_std": [0.5, 0.5, 0.2], "resample": 2,
            "rescale_factor": 0.00392156862745098, "size": {"height": 2, "width": 3}}"#,
    )
    .unwrap();
    let p = Preprocessor::from_dir(&d, 9, 9).unwrap();
    assert_eq!(p.size.hw(), (2, 3));
    let grey = Image { channels: 1, height: 2, width: 3, pixels: vec![0, 51, 102, 153, 204, 255] };
    let x = p.apply(&grey, "g.png", 3).unwrap();
    assert_eq!(x.len(), 18, "grey replicated into 3 channels");
    for c in 0..3 {
        let (mean, std) = ([0.5, 0.25, 0.1][c], [0.5, 0.5, 0.2][c]);
        for i in 0..6 {
            let want = (grey.pixels[i] as f64 / 255.0 - mean) / std;
            assert!((x[c * 6 + i] as f64 - want).abs() < 1e-6, "channel {c} pixel {i}: {} vs {want}", x[c * 6 + i]);
        }
    }
    let back = p.to_unit(&x, 3);
    assert!((back[4] as f64 - 204.0 / 255.0).abs() < 1e-6, "to_unit inverts normalisation and rescaling");

    // RGB into a grey model: PIL's luma.
    let rgb = Image { channels: 3, height: 1, width: 1, pixels: vec![200, 100, 50] };
    let raw = Preprocessor::raw(1, 1);
    let y = raw.apply(&rgb, "c.png", 1).unwrap();
    let want = (0.299 * 200.0 + 0.587 * 100.0 + 0.114 * 50.0) / 255.0;
    assert!((y[0] as f64 - want).abs() < 1e-6, "luma {} vs {want}", y[0]);

    // Without a preprocessor_config.json: [0, 1], no normalisation, and no silent resize.
    let none = Preprocessor::from_dir(&temp_dir("nopre"), 2, 3).unwrap();
    assert_eq!(none.apply(&grey, "g.png", 1).unwrap()[5], 1.0);
    let e = err_of(none.apply(&Image { channels: 1, height: 4, width: 4, pixels: vec![0; 16] }, "big.png", 1));
    assert!(e.contains("big.png") && e.contains("4x4") && e.contains("2x3"), "{e}");
    let e = err_of(none.apply(&Image { channels: 2, height: 2, width: 3, pixels: vec![0; 12] }, "two.png", 3));
    assert!(e.contains("two.png") && e.contains("2 channels"), "{e}");

    // `size` as one number (older configs) and a round trip through save.
    std::fs::write(d.join("preprocessor_config.json"), r#"{"size": 4, "do_rescale": true}"#).unwrap();
    let p = Preprocessor::from_dir(&d, 9, 9).unwrap();
    assert_eq!(p.size.hw(), (4, 4));
    p.save(&d).unwrap();
    assert_eq!(Preprocessor::from_dir(&d, 9, 9).unwrap(), p);
    std::fs::write(d.join("preprocessor_config.json"), r#"{"size": 4, "do_normalize": true, "image_mean": [0.5], "image_std": [0.0]}"#).unwrap();
    let e = err_of(Preprocessor::from_dir(&d, 9, 9));
    assert!(e.contains("preprocessor_config.json") && e.contains("image_std"), "{e}");
}

/// Bilinear with half-pixel centres, written out in f64 from the definition.
fn bilinear_ref(x: &[f64], h: usize, w: usize, oh: usize, ow: usize) -> Vec<f64> {
    let coord = |o: usize, len: usize, olen: usize| ((o as f64 + 0.5) * len as f64 / olen as f64 - 0.5).clamp(0.0, (len - 1) as f64);
    let mut out = Vec::new();
    for oy in 0..oh {
        for ox in 0..ow {
            let (sy, sx) = (coord(oy, h, oh), coord(ox, w, ow));
            let (y0, x0) = (sy.floor() as usize, sx.floor() as usize);
            let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
            let (fy, fx) = (sy - y0 as f64, sx - x0 as f64);
            let at = |y: usize, xx: usize| x[y * w + xx];
            out.push((at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx) * (1.0 - fy) + (at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx) * fy);
        }
    }
    out
}

#[test]
fn bilinear_resize_matches_its_definition() {
    for (h, w, oh, ow) in [(1, 1, 3, 2), (4, 4, 4, 4), (7, 5, 3, 11), (28, 28, 32, 32), (5, 13, 2, 1)] {
        let x: Vec<f32> = (0..h * w).map(|i| ((i * 37) % 101) as f32).collect();
        let got = resize_bilinear(&x, 1, h, w, oh, ow);
        let want = bilinear_ref(&x.iter().map(|v| *v as f64).collect::<Vec<_>>(), h, w, oh, ow);
        let err = got.iter().zip(&want).map(|(g, w)| (*g as f64 - w).abs()).fold(0.0, f64::max);
        assert!(err < 1e-4, "resize {h}x{w} -> {oh}x{ow}: max |err| {err:.2e} > 1e-4");
    }
    let same: Vec<f32> = (0..12).map(|v| v as f32).collect();
    assert_eq!(resize_bilinear(&same, 1, 3, 4, 3, 4), same, "a same-size resize is the identity");
}

#[test]
fn bundled_fashion_mnist_subset_is_balanced_and_labelled() {
    let train = bundled::fashion_train().unwrap();
    let test = bundled::fashion_test().unwrap();
    assert_eq!((train.len(), test.len()), (10_000, 2_000));
    assert_eq!(train.classes[9], "Ankle boot");
    for (set, per) in [(&train, 1000), (&test, 200)] {
        let labels = set.labels("test").unwrap();
        for c in 0..10 {
            assert_eq!(labels.iter().filter(|&&y| y == c).count(), per, "class {c}");
        }
        assert!(set.images.iter().all(|i| (i.channels, i.height, i.width) == (1, 28, 28)));
    }
    // Not blank: a garment covers a good part of the frame.
    let mean = train.images[0].pixels.iter().map(|&p| p as f64).sum::<f64>() / 784.0;
    assert!(mean > 10.0, "first training image looks empty (mean {mean})");

    let few = train.per_class(7, 3).unwrap();
    assert_eq!(few.len(), 70);
    assert_eq!(few.labels.as_ref().unwrap().iter().filter(|&&y| y == 4).count(), 7);
    assert_ne!(few.sources, train.per_class(7, 4).unwrap().sources, "another seed draws other images");
    let e = err_of(test.per_class(201, 0));
    assert!(e.contains("only 200"), "{e}");
}
