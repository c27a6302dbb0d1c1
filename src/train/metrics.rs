//! Classification metrics: accuracy, macro-F1, confusion matrix.

/// confusion[true]\[predicted\] counts.
pub fn confusion(labels: &[usize], preds: &[usize], classes: usize) -> Vec<Vec<usize>> {
    let mut m = vec![vec![0; classes]; classes];
    for (&y, &p) in labels.iter().zip(preds) {
        if y < classes && p < classes {
            m[y][p] += 1;
        }
    }
    m
}

/// Fraction of predictions equal to the label.
pub fn accuracy(labels: &[usize], preds: &[usize]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    labels.iter().zip(preds).filter(|(a, b)| a == b).count() as f64 / labels.len() as f64
}

/// The unweighted mean over classes of F1 = 2PR/(P+R) (a class never predicted nor present counts 0).
pub fn macro_f1(labels: &[usize], preds: &[usize], classes: usize) -> f64 {
    let m = confusion(labels, preds, classes);
    let mut total = 0.0;
    for c in 0..classes {
        let tp = m[c][c] as f64;
        let predicted: f64 = (0..classes).map(|r| m[r][c] as f64).sum();
        let actual: f64 = m[c].iter().sum::<usize>() as f64;
        let (p, r) = (if predicted > 0.0 { tp / predicted } else { 0.0 }, if actual > 0.0 { tp / actual } else { 0.0 });
        total += if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
    }
    total / classes.max(1) as f64
}

/// Index of the largest value of each row of `logits` ([n, classes] flattened).
pub fn argmax_rows(logits: &[f32], classes: usize) -> Vec<usize> {
    logits.chunks(classes.max(1)).map(|r| (0..r.len()).max_by(|&a, &b| r[a].total_cmp(&r[b]).then(b.cmp(&a))).unwrap_or(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn f1_and_accuracy() {
        let y = [0, 0, 1, 1, 2];
        let p = [0, 1, 1, 1, 0];
        assert_eq!(accuracy(&y, &p), 0.6);
        // class 0: P=1/2 R=1/2 F=.5; class 1: P=2/3 R=1 F=.8; class 2: 0
        assert!((macro_f1(&y, &p, 3) - (0.5 + 0.8) / 3.0).abs() < 1e-12);
        assert_eq!(confusion(&y, &p, 3)[1][1], 2);
        assert_eq!(argmax_rows(&[0.1, 0.9, 0.5, 0.2], 2), vec![1, 0]);
    }
}
