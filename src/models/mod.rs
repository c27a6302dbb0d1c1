//! Models built from `nn` layers.
pub mod bert;
