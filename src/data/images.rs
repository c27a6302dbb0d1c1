//! Images in: IDX files (the MNIST / Fashion-MNIST layout, gzipped or not, labels found beside the images),
//! ImageFolder directories (`ROOT/CLASS/*.png|jpg`, classes in sorted order) and lists of image files; and
//! preprocessing as HuggingFace's `ViTImageProcessor` does it (`preprocessor_config.json`).
//!
//! Pixels stay as stored (`u8`, channel-first) until a `Preprocessor` turns one image into the model's input:
//! f32 `[channels, height, width]`. Channel conversions are documented, never silent guesses: a grey image
//! given to an RGB model is replicated into three channels; an RGB image given to a grey model becomes its
//! luma, `L = 0.299 R + 0.587 G + 0.114 B` (PIL's "L" conversion). Anything else is an error naming the file.
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::rng::Rng;
use crate::{Error, Result};

/// One image as stored: `channels` (1 grey, 3 RGB) × `height` × `width` bytes, channel-first.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// `[channels, height, width]`, 0 = black, 255 = white.
    pub pixels: Vec<u8>,
}

/// Images with their sources and, when the data has them, labels.
#[derive(Debug, Clone, Default)]
pub struct ImageSet {
    pub images: Vec<Image>,
    /// Class index per image (IDX labels file, ImageFolder class directory), or None.
    pub labels: Option<Vec<usize>>,
    /// Class names in index order (ImageFolder: the directory names, sorted; IDX: "0", "1", ...).
    pub classes: Vec<String>,
    /// Where each image came from: its file, or `file#index` inside an IDX file.
    pub sources: Vec<String>,
}

/// `bytes`, gunzipped when they start with the gzip magic; `name` names them in errors.
fn gunzip(name: &str, bytes: Vec<u8>) -> Result<Vec<u8>> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_end(&mut out)
        .map_err(|e| Error::Invalid(format!("{name}: not a valid gzip file (truncated?): {e}")))?;
    Ok(out)
}

/// Reads a whole file, gunzipped when gzipped; errors name the file.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    gunzip(&path.display().to_string(), bytes)
}

/// The dimensions and payload of an IDX file of unsigned bytes (type code 0x08) with `want_dims` dimensions.
fn parse_idx<'a>(name: &str, bytes: &'a [u8], want_dims: usize) -> Result<(Vec<usize>, &'a [u8])> {
    let bad = |m: String| Error::Invalid(format!("{name}: {m}"));
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad("not an IDX file (its first two bytes must be zero)".into()));
    }
    if bytes[2] != 0x08 {
        return Err(bad(format!("IDX element type 0x{:02x} is not supported (expected 0x08, unsigned bytes)", bytes[2])));
    }
    let dims = bytes[3] as usize;
    if dims != want_dims {
        let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        return Err(bad(format!("IDX magic 0x{magic:08x} has {dims} dimensions, expected {want_dims} (0x{:08x})", 0x0800 + want_dims)));
    }
    let header = 4 + 4 * dims;
    if bytes.len() < header {
        return Err(bad(format!("truncated IDX header ({} bytes)", bytes.len())));
    }
    let shape: Vec<usize> =
        (0..dims).map(|i| u32::from_be_bytes([bytes[4 + 4 * i], bytes[5 + 4 * i], bytes[6 + 4 * i], bytes[7 + 4 * i]]) as usize).collect();
    let want: usize = shape.iter().product();
    let have = bytes.len() - header;
    if have != want {
        return Err(bad(format!("the header says {shape:?} ({want} bytes of data) but the file holds {have}")));
    }
    Ok((shape, &bytes[header..]))
}

/// The labels file that belongs to IDX images file `images`: `…-images-idx3-ubyte[.gz]` → `…-labels-idx1-ubyte[.gz]`.
pub fn idx_labels_path(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_str()?;
    if !name.contains("images-idx3-ubyte") {
        return None;
    }
    let base = name.replace("images-idx3-ubyte", "labels-idx1-ubyte");
    let plain = base.trim_end_matches(".gz");
    [plain.to_string(), format!("{plain}.gz")].into_iter().map(|n| images.with_file_name(n)).find(|p| p.is_file())
}

/// Whether `path` looks like an IDX file (by name, or by its magic bytes).
fn is_idx(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.contains("-idx") || name.ends_with(".idx") || name.ends_with(".idx.gz")
}

/// Reads an IDX images file (`[n, rows, cols]` bytes) and, when present beside it, its labels file.
pub fn read_idx(path: &Path) -> Result<ImageSet> {
    let labels = match idx_labels_path(path) {
        Some(lp) => Some((lp.display().to_string(), read_maybe_gz(&lp)?)),
        None => None,
    };
    idx_set(&path.display().to_string(), &read_maybe_gz(path)?, labels.as_ref().map(|(n, b)| (n.as_str(), &b[..])), None)
}

/// An `ImageSet` from the (gunzipped) bytes of an IDX images file and, optionally, of its labels file;
/// class names are `classes`, or "0", "1", ... up to the largest label.
fn idx_set(name: &str, images: &[u8], labels: Option<(&str, &[u8])>, classes: Option<&[&str]>) -> Result<ImageSet> {
    let (shape, data) = parse_idx(name, images, 3)?;
    let (n, h, w) = (shape[0], shape[1], shape[2]);
    if n > 0 && (h == 0 || w == 0) {
        crate::bail!(Invalid, "{name}: images of size {h}x{w}");
    }
    let images = data.chunks_exact(h * w).take(n).map(|c| Image { channels: 1, height: h, width: w, pixels: c.to_vec() }).collect();
    let mut set = ImageSet { images, sources: (0..n).map(|i| format!("{name}#{i}")).collect(), ..Default::default() };
    if let Some((lname, bytes)) = labels {
        let (lshape, ldata) = parse_idx(lname, bytes, 1)?;
        if lshape[0] != n {
            crate::bail!(Invalid, "{lname}: {} labels for the {n} images of {name}", lshape[0]);
        }
        let labels: Vec<usize> = ldata.iter().map(|&b| b as usize).collect();
        let count = labels.iter().copied().max().map_or(0, |m| m + 1);
        set.classes = match classes {
            Some(names) if names.len() >= count => names.iter().map(|s| s.to_string()).collect(),
            Some(names) => crate::bail!(Invalid, "{lname}: label {} outside the {} classes", count - 1, names.len()),
            None => (0..count).map(|c| c.to_string()).collect(),
        };
        set.labels = Some(labels);
    }
    Ok(set)
}

/// Decodes one image file (PNG or JPEG) into grey (1 channel) or RGB (3; alpha dropped).
pub fn read_image(path: &Path) -> Result<Image> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let img = image::load_from_memory(&bytes).map_err(|e| Error::Invalid(format!("{}: not a readable image: {e}", path.display())))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let grey = matches!(img.color(), image::ColorType::L8 | image::ColorType::La8 | image::ColorType::L16 | image::ColorType::La16);
    Ok(if grey {
        Image { channels: 1, height: h, width: w, pixels: img.to_luma8().into_raw() }
    } else {
        let hwc = img.to_rgb8().into_raw();
        let mut chw = vec![0u8; 3 * h * w];
        for (i, px) in hwc.chunks_exact(3).enumerate() {
            for c in 0..3 {
                chw[c * h * w + i] = px[c];
            }
        }
        Image { channels: 3, height: h, width: w, pixels: chw }
    })
}

fn is_image_file(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

/// Reads an ImageFolder directory: one subdirectory per class (sorted by name), image files inside (sorted).
pub fn read_image_folder(root: &Path) -> Result<ImageSet> {
    let listdir = |d: &Path| -> Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d).map_err(|e| Error::io(d, e))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        v.sort();
        Ok(v)
    };
    let class_dirs: Vec<PathBuf> = listdir(root)?.into_iter().filter(|p| p.is_dir()).collect();
    if class_dirs.is_empty() {
        crate::bail!(Invalid, "{}: not an ImageFolder directory (expected one subdirectory of images per class)", root.display());
    }
    let mut set = ImageSet { labels: Some(Vec::new()), ..Default::default() };
    for (c, dir) in class_dirs.iter().enumerate() {
        set.classes.push(dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        for f in listdir(dir)?.into_iter().filter(|p| p.is_file() && is_image_file(p)) {
            set.images.push(read_image(&f)?);
            set.sources.push(f.display().to_string());
            if let Some(l) = set.labels.as_mut() {
                l.push(c);
            }
        }
    }
    if set.images.is_empty() {
        crate::bail!(Invalid, "{}: no .png or .jpg images in its class directories", root.display());
    }
    Ok(set)
}

impl ImageSet {
    /// Reads what a command's PATH arguments name: one IDX images file, one ImageFolder directory, or image files.
    pub fn load(paths: &[PathBuf]) -> Result<ImageSet> {
        match paths {
            [] => crate::bail!(Invalid, "no images given"),
            [p] if p.is_dir() => read_image_folder(p),
            [p] if is_idx(p) => read_idx(p),
            _ => {
                let mut set = ImageSet::default();
                for p in paths {
                    if p.is_dir() || is_idx(p) {
                        crate::bail!(Invalid, "{}: an IDX file or an ImageFolder directory must be the only PATH given", p.display());
                    }
                    set.images.push(read_image(p)?);
                    set.sources.push(p.display().to_string());
                }
                Ok(set)
            }
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// The labels, or an error saying that `what` needs them.
    pub fn labels(&self, what: &str) -> Result<&[usize]> {
        let first = self.sources.first().map(String::as_str).unwrap_or("the images");
        self.labels.as_deref().ok_or_else(|| {
            Error::Invalid(format!("{what} needs labels, and {first} has none (give an IDX file with its labels file beside it, or an ImageFolder directory)"))
        })
    }

    /// The images at `index`, in that order, with their labels and sources.
    pub fn subset(&self, index: &[usize]) -> ImageSet {
        ImageSet {
            images: index.iter().map(|&i| self.images[i].clone()).collect(),
            labels: self.labels.as_ref().map(|l| index.iter().map(|&i| l[i]).collect()),
            classes: self.classes.clone(),
            sources: index.iter().map(|&i| self.sources[i].clone()).collect(),
        }
    }

    /// `per_class` labelled images of every class, drawn without replacement by a shuffle seeded with `seed`
    /// (the few-label regime); a class with fewer images is an error naming it.
    pub fn per_class(&self, per_class: usize, seed: u64) -> Result<ImageSet> {
        let labels = self.labels("--labels-per-class")?;
        let classes = self.classes.len().max(labels.iter().max().map_or(0, |m| m + 1));
        let keep = per_class_index(labels, classes, per_class, seed).map_err(|(c, n)| {
            let name = self.classes.get(c).cloned().unwrap_or_else(|| c.to_string());
            Error::Invalid(format!("class {name:?} has only {n} images, fewer than the {per_class} per class asked for"))
        })?;
        Ok(self.subset(&keep))
    }

    /// The first `n` images (all if fewer).
    pub fn take(&self, n: usize) -> ImageSet {
        self.subset(&(0..n.min(self.len())).collect::<Vec<_>>())
    }
}

/// Indices of `per_class` examples of every class in `0..classes`, drawn without replacement by a shuffle
/// seeded with `seed`, in increasing order; a class with fewer gives `Err((class, count))`.
pub fn per_class_index(labels: &[usize], classes: usize, per_class: usize, seed: u64) -> std::result::Result<Vec<usize>, (usize, usize)> {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    Rng::new(seed).shuffle(&mut order);
    let mut taken = vec![0usize; classes];
    let mut keep = Vec::new();
    for i in order {
        let c = labels[i];
        if c < classes && taken[c] < per_class {
            taken[c] += 1;
            keep.push(i);
        }
    }
    if let Some(c) = taken.iter().position(|&t| t < per_class) {
        return Err((c, taken[c]));
    }
    keep.sort_unstable();
    Ok(keep)
}

/// `size` in a `preprocessor_config.json`: `{"height", "width"}`, or one number for both (older configs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Size {
    HeightWidth { height: usize, width: usize },
    Square(usize),
}

impl Size {
    /// (height, width).
    pub fn hw(&self) -> (usize, usize) {
        match *self {
            Size::HeightWidth { height, width } => (height, width),
            Size::Square(s) => (s, s),
        }
    }
}

fn default_rescale() -> f32 {
    1.0 / 255.0
}

fn processor_type() -> String {
    "ViTImageProcessor".into()
}

/// HuggingFace `ViTImageProcessor` settings: resize (bilinear), rescale, normalise per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    #[serde(default)]
    pub do_resize: bool,
    pub size: Size,
    #[serde(default)]
    pub do_rescale: bool,
    #[serde(default = "default_rescale")]
    pub rescale_factor: f32,
    #[serde(default)]
    pub do_normalize: bool,
    #[serde(default)]
    pub image_mean: Vec<f32>,
    #[serde(default)]
    pub image_std: Vec<f32>,
    #[serde(default = "processor_type")]
    pub image_processor_type: String,
    /// PIL's resampling filter code (2 = bilinear); kept for HF, pretext always resizes bilinearly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resample: Option<u32>,
}

impl Preprocessor {
    /// What a model directory without `preprocessor_config.json` gets: pixels scaled to [0, 1], nothing else.
    pub fn raw(height: usize, width: usize) -> Preprocessor {
        Preprocessor {
            do_resize: false,
            size: Size::HeightWidth { height, width },
            do_rescale: true,
            rescale_factor: default_rescale(),
            do_normalize: false,
            image_mean: Vec::new(),
            image_std: Vec::new(),
            image_processor_type: processor_type(),
            resample: None,
        }
    }

    /// Reads `dir/preprocessor_config.json`, or `raw(height, width)` when the directory has none.
    pub fn from_dir(dir: &Path, height: usize, width: usize) -> Result<Preprocessor> {
        let path = dir.join("preprocessor_config.json");
        if !path.exists() {
            return Ok(Preprocessor::raw(height, width));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let p: Preprocessor = serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        p.validate().map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        Ok(p)
    }

    /// Errors when the settings make no sense.
    pub fn validate(&self) -> Result<()> {
        let (h, w) = self.size.hw();
        if h == 0 || w == 0 {
            crate::bail!(Invalid, "size {h}x{w} must be positive");
        }
        if self.do_normalize && (self.image_mean.is_empty() || self.image_mean.len() != self.image_std.len()) {
            crate::bail!(Invalid, "image_mean {:?} and image_std {:?} must have one value per channel", self.image_mean, self.image_std);
        }
        if self.do_normalize && self.image_std.iter().any(|s| !(*s > 0.0)) {
            crate::bail!(Invalid, "image_std {:?} must be positive", self.image_std);
        }
        Ok(())
    }

    /// Writes `dir/preprocessor_config.json` (through a temporary file).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::Invalid(e.to_string()))?;
        crate::checkpoint::write_atomic(&dir.join("preprocessor_config.json"), json.as_bytes())
    }

    /// The model input of `img` (from `source`, named in errors): `[channels, height, width]` f32, converted
    /// to `channels` as the module doc says, resized when `do_resize`, rescaled and normalised.
    pub fn apply(&self, img: &Image, source: &str, channels: usize) -> Result<Vec<f32>> {
        let (h, w) = self.size.hw();
        let plane = img.height * img.width;
        let px = |c: usize, i: usize| img.pixels[c * plane + i] as f32;
        let converted: Vec<f32> = match (img.channels, channels) {
            (a, b) if a == b => img.pixels.iter().map(|&v| v as f32).collect(),
            (1, 3) => (0..3).flat_map(|_| img.pixels.iter().map(|&v| v as f32)).collect(),
            (3, 1) => (0..plane).map(|i| 0.299 * px(0, i) + 0.587 * px(1, i) + 0.114 * px(2, i)).collect(),
            (a, b) => crate::bail!(Invalid, "{source}: an image with {a} channels cannot feed a model of {b} channels"),
        };
        let mut x = if (img.height, img.width) == (h, w) {
            converted
        } else if self.do_resize {
            resize_bilinear(&converted, channels, img.height, img.width, h, w)
        } else {
            crate::bail!(
                Invalid,
                "{source}: the image is {}x{}, the model takes {h}x{w} (give the model directory a preprocessor_config.json with do_resize)",
                img.height,
                img.width
            );
        };
        let scale = if self.do_rescale { self.rescale_factor } else { 1.0 };
        if self.do_normalize && self.image_mean.len() != channels {
            crate::bail!(Invalid, "{source}: the preprocessor normalises {} channels, the model takes {channels}", self.image_mean.len());
        }
        for (c, chunk) in x.chunks_mut(h * w).enumerate() {
            for v in chunk.iter_mut() {
                *v *= scale;
                if self.do_normalize {
                    *v = (*v - self.image_mean[c]) / self.image_std[c];
                }
            }
        }
        Ok(x)
    }

    /// `apply` to every image of `set`.
    pub fn apply_all(&self, set: &ImageSet, channels: usize) -> Result<Vec<Vec<f32>>> {
        set.images.iter().zip(&set.sources).map(|(img, src)| self.apply(img, src, channels)).collect()
    }

    /// The inverse of rescaling and normalisation, to [0, 1] for pictures: `x·std + mean`, then `/ (255·factor)`.
    pub fn to_unit(&self, x: &[f32], channels: usize) -> Vec<f32> {
        let plane = x.len() / channels.max(1);
        let scale = if self.do_rescale { self.rescale_factor * 255.0 } else { 1.0 };
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = i / plane.max(1);
                let v = if self.do_normalize && c < self.image_mean.len() { v * self.image_std[c] + self.image_mean[c] } else { v };
                v / scale
            })
            .collect()
    }
}

/// Bilinear resize of `[channels, h, w]` to `[channels, oh, ow]` with half-pixel centres (PyTorch's
/// `align_corners=False`, no antialiasing; PIL's downscaling also averages, so results differ from HF's there).
pub fn resize_bilinear(x: &[f32], channels: usize, h: usize, w: usize, oh: usize, ow: usize) -> Vec<f32> {
    let mut out = vec![0f32; channels * oh * ow];
    let src = |len: usize, olen: usize, o: usize| -> (usize, usize, f32) {
        let s = ((o as f32 + 0.5) * len as f32 / olen as f32 - 0.5).clamp(0.0, (len - 1) as f32);
        let i0 = s.floor() as usize;
        (i0, (i0 + 1).min(len - 1), s - i0 as f32)
    };
    for c in 0..channels {
        for oy in 0..oh {
            let (y0, y1, fy) = src(h, oh, oy);
            for ox in 0..ow {
                let (x0, x1, fx) = src(w, ow, ox);
                let at = |y: usize, xx: usize| x[c * h * w + y * w + xx];
                let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
                let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
                out[c * oh * ow + oy * ow + ox] = top * (1.0 - fy) + bottom * fy;
            }
        }
    }
    out
}

/// Writes images and labels as IDX files (`images` gets `[n, h, w]` grey bytes; `labels` one byte each),
/// gzipped when a name ends in `.gz`: the format `read_idx` reads, for subsets and tests.
pub fn write_idx(images: &Path, labels: Option<&Path>, set: &ImageSet) -> Result<()> {
    let (h, w) = set.images.first().map_or((0, 0), |i| (i.height, i.width));
    if set.images.iter().any(|i| i.channels != 1 || i.height != h || i.width != w) {
        crate::bail!(Invalid, "{}: IDX holds grey images of one size", images.display());
    }
    let mut bytes = vec![0, 0, 8, 3];
    for d in [set.len(), h, w] {
        bytes.extend_from_slice(&(d as u32).to_be_bytes());
    }
    for img in &set.images {
        bytes.extend_from_slice(&img.pixels);
    }
    write_maybe_gz(images, &bytes)?;
    if let Some(lp) = labels {
        let l = set.labels("write_idx")?;
        let mut lb = vec![0, 0, 8, 1];
        lb.extend_from_slice(&(l.len() as u32).to_be_bytes());
        for &y in l {
            lb.push(u8::try_from(y).map_err(|_| Error::Invalid(format!("{}: label {y} does not fit a byte", lp.display())))?);
        }
        write_maybe_gz(lp, &lb)?;
    }
    Ok(())
}

fn write_maybe_gz(path: &Path, bytes: &[u8]) -> Result<()> {
    if path.extension().is_some_and(|e| e == "gz") {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(bytes).map_err(|e| Error::io(path, e))?;
        let gz = enc.finish().map_err(|e| Error::io(path, e))?;
        crate::checkpoint::write_atomic(path, &gz)
    } else {
        crate::checkpoint::write_atomic(path, bytes)
    }
}

/// Fashion-MNIST's class names, in label order (Xiao et al. 2017).
pub const FASHION_CLASSES: [&str; 10] = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// The Fashion-MNIST subset bundled in `assets/fashion-mnist/` (MIT licence): 10,000 training images
/// (the first 1,000 of each class in file order) and 2,000 test images (the first 200 of each class),
/// IDX files with their labels, so the demo and the tests run without fetching anything.
pub mod bundled {
    use super::{gunzip, idx_set, ImageSet, FASHION_CLASSES};
    use crate::Result;

    const TRAIN_IMAGES: &[u8] = include_bytes!("../../assets/fashion-mnist/train-images-idx3-ubyte.gz");
    const TRAIN_LABELS: &[u8] = include_bytes!("../../assets/fashion-mnist/train-labels-idx1-ubyte.gz");
    const TEST_IMAGES: &[u8] = include_bytes!("../../assets/fashion-mnist/t10k-images-idx3-ubyte.gz");
    const TEST_LABELS: &[u8] = include_bytes!("../../assets/fashion-mnist/t10k-labels-idx1-ubyte.gz");

    fn load(name: &str, images: &[u8], labels: &[u8]) -> Result<ImageSet> {
        let images = gunzip(name, images.to_vec())?;
        let labels = gunzip(name, labels.to_vec())?;
        idx_set(name, &images, Some((name, &labels)), Some(&FASHION_CLASSES))
    }

    /// The bundled training subset (10,000 images, 1,000 a class), with Fashion-MNIST's class names.
    pub fn fashion_train() -> Result<ImageSet> {
        load("assets/fashion-mnist/train-images-idx3-ubyte.gz", TRAIN_IMAGES, TRAIN_LABELS)
    }

    /// The bundled test subset (2,000 images, 200 a class), with Fashion-MNIST's class names.
    pub fn fashion_test() -> Result<ImageSet> {
        load("assets/fashion-mnist/t10k-images-idx3-ubyte.gz", TEST_IMAGES, TEST_LABELS)
    }
}
