//! Dynamic masking for masked language modelling (BERT): 15% of the non-special tokens of each sequence are
//! chosen; of those 80% become \[MASK\], 10% a random token, 10% stay; the model predicts the originals.
use crate::rng::Rng;

/// The special-token ids and vocabulary size masking needs.
#[derive(Debug, Clone)]
pub struct MaskSpec {
    pub mask_id: i32,
    pub vocab: usize,
    /// Ids never chosen for prediction and never drawn as random replacements.
    pub special: Vec<i32>,
    /// Fraction of tokens to predict (0.15).
    pub prob: f64,
}

/// A masked batch: inputs plus the positions and original ids to predict.
#[derive(Debug, Clone, PartialEq)]
pub struct Masked {
    /// The input sequences with masking applied.
    pub seqs: Vec<Vec<i32>>,
    /// Flat indices (row · seq_len + column) of the predicted positions, for a batch padded to `seq_len`.
    pub positions: Vec<i32>,
    /// The original token at each predicted position.
    pub targets: Vec<i32>,
}

/// Masks `seqs` (to be padded to `seq_len`) with `rng`; every sequence with a maskable token gets at least one.
pub fn mask(seqs: &[Vec<i32>], seq_len: usize, spec: &MaskSpec, rng: &mut Rng) -> Masked {
    let mut out = Masked { seqs: Vec::with_capacity(seqs.len()), positions: Vec::new(), targets: Vec::new() };
    for (row, s) in seqs.iter().enumerate() {
        let mut s = s.clone();
        let candidates: Vec<usize> = (0..s.len()).filter(|&i| !spec.special.contains(&s[i])).collect();
        let mut chosen: Vec<usize> = candidates.iter().copied().filter(|_| rng.uniform() < spec.prob).collect();
        if chosen.is_empty() && !candidates.is_empty() {
            chosen.push(candidates[rng.below(candidates.len())]);
        }
        for i in chosen {
            out.positions.push((row * seq_len + i) as i32);
            out.targets.push(s[i]);
            let r = rng.uniform();
            if r < 0.8 {
                s[i] = spec.mask_id;
            } else if r < 0.9 {
                s[i] = loop {
                    let t = rng.below(spec.vocab) as i32;
                    if !spec.special.contains(&t) {
                        break t;
                    }
                };
            }
        }
        out.seqs.push(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn masks_about_15_percent_and_never_specials() {
        let spec = MaskSpec { mask_id: 4, vocab: 100, special: vec![0, 1, 2, 3, 4], prob: 0.15 };
        let seqs: Vec<Vec<i32>> = (0..200).map(|r| std::iter::once(2).chain((0..62).map(|i| 10 + ((r * 7 + i) % 90) as i32)).chain([3]).collect()).collect();
        let m = mask(&seqs, 64, &spec, &mut Rng::new(1));
        let frac = m.positions.len() as f64 / (200.0 * 62.0);
        assert!((frac - 0.15).abs() < 0.01, "masked fraction {frac}");
        let mut masked = 0;
        let mut kept = 0;
        for (&p, &t) in m.positions.iter().zip(&m.targets) {
            let (r, c) = (p as usize / 64, p as usize % 64);
            assert!(c != 0 && c != 63, "special tokens are never predicted");
            assert_eq!(seqs[r][c], t);
            if m.seqs[r][c] == 4 { masked += 1 } else if m.seqs[r][c] == t { kept += 1 }
        }
        let n = m.positions.len() as f64;
        assert!((masked as f64 / n - 0.8).abs() < 0.03, "[MASK] share {}", masked as f64 / n);
        assert!((kept as f64 / n - 0.1).abs() < 0.03 + 0.01, "unchanged share {}", kept as f64 / n);
        assert!(m.seqs.iter().flatten().all(|&t| t >= 0 && (t as usize) < 100));
    }
}
