//! `pretext demo`: pretrain, then transfer, against a baseline with the same budget; one recipe per family.
pub mod text;

pub use text::{run, DemoConfig, DemoSummary};
