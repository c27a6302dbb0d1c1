// log_series.wgsl: logarithms near 1 to full relative accuracy, for bce (log(1 + u)) and noise (-log(1 - v)).
// A library: no entry point; files that use it name it in `// imports:`.
//   two_atanh(s) = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ... + s^19/19)   for |s| <= 1/3 (truncation < 5e-12
//                  relative), Horner in s^2;
//   log(1 + u) = two_atanh(u / (2 + u))  and  -log(1 - v) = two_atanh(v / (2 - v))  for u in [0, 1], v in [0, 1/2].
// Why not the built-in log: near 1 it rounds 1 + u to 1 for tiny u, and some back ends' log is accurate only
// in absolute terms there (lavapipe: 3e-4 relative at u = 2e-5).

// 2 atanh(s) for |s| <= 1/3, by its odd series to s^19.
fn two_atanh(s: f32) -> f32 {
    let s2 = s * s;
    var q = 1.0 / 19.0;
    q = fma(q, s2, 1.0 / 17.0);
    q = fma(q, s2, 1.0 / 15.0);
    q = fma(q, s2, 1.0 / 13.0);
    q = fma(q, s2, 1.0 / 11.0);
    q = fma(q, s2, 1.0 / 9.0);
    q = fma(q, s2, 1.0 / 7.0);
    q = fma(q, s2, 1.0 / 5.0);
    q = fma(q, s2, 1.0 / 3.0);
    q = fma(q, s2, 1.0);
    return 2.0 * s * q;
}
