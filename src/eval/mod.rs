//! Evaluation above the tasks: frozen-feature probes (linear and kNN) for any image encoder.
pub mod probe;

pub use probe::{probe, FeatureKind, Features, LinearProbe, ProbeRequest, ProbeResult, WeightDecay};
