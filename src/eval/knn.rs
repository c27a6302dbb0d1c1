//! lightly's `knn_predict` (k = 200, temperature 0.1 by default): features L2-normalised, cosine similarity of
//! every query to every bank vector (products on the GPU), the k most similar vote for their class with weight
//! exp(sim / t); the class with the largest total wins (ties: the lower class index).
use crate::gpu::Gpu;
use crate::kernels::matmul::matmul;
use crate::{Result, Tensor};

/// Row-major feature vectors `[n, dim]` on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Bank {
    pub data: Vec<f32>,
    pub dim: usize,
}

impl Bank {
    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows, each scaled to unit length (a zero row stays zero).
    fn normalized(&self) -> Vec<f32> {
        self.data
            .chunks(self.dim.max(1))
            .flat_map(|r| {
                let norm = r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
                let s = if norm > 0.0 { (1.0 / norm) as f32 } else { 0.0 };
                r.iter().map(move |v| v * s)
            })
            .collect()
    }
}

/// The predicted class of every query from its `k` most cosine-similar bank vectors, each voting exp(sim / t).
pub fn knn_predict(gpu: &Gpu, bank: &Bank, labels: &[usize], queries: &Bank, classes: usize, k: usize, temperature: f32) -> Result<Vec<usize>> {
    if k == 0 || !(temperature > 0.0) {
        crate::bail!(Invalid, "knn: k must be at least 1 and the temperature positive (got k {k}, t {temperature})");
    }
    if bank.dim != queries.dim || labels.len() != bank.len() || bank.is_empty() {
        crate::bail!(Invalid, "knn: {} bank vectors of {} dims with {} labels, queries of {} dims", bank.len(), bank.dim, labels.len(), queries.dim);
    }
    if let Some(l) = labels.iter().find(|&&l| l >= classes) {
        crate::bail!(Invalid, "knn: label {l} is outside the {classes} classes");
    }
    let (n, d) = (bank.len(), bank.dim);
    let k = k.min(n);
    let bank_t = Tensor::from_slice(gpu, &bank.normalized(), &[n, d])?;
    let q = queries.normalized();
    let chunk = ((32usize << 20) / (4 * n)).clamp(1, 1024);
    let mut preds = Vec::with_capacity(queries.len());
    let mut order: Vec<usize> = Vec::with_capacity(n);
    for start in (0..queries.len()).step_by(chunk) {
        let m = (queries.len() - start).min(chunk);
        let qt = Tensor::from_slice(gpu, &q[start * d..(start + m) * d], &[m, d])?;
        let sims = matmul(gpu, &qt, &bank_t, false, true, None)?.to_vec::<f32>(gpu)?;
        for row in sims.chunks(n) {
            order.clear();
            order.extend(0..n);
            let cmp = |a: &usize, b: &usize| row[*b].total_cmp(&row[*a]).then(a.cmp(b));
            if k < n {
                order.select_nth_unstable_by(k - 1, cmp);
            }
            let mut votes = vec![0f64; classes];
            for &j in &order[..k] {
                votes[labels[j]] += (row[j] as f64 / temperature as f64).exp();
            }
            preds.push((0..classes).fold(0, |b, c| if votes[c] > votes[b] { c } else { b }));
        }
    }
    Ok(preds)
}
