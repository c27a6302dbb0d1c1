//! Training tasks, one per pretext or downstream objective: each a `train::Task` that draws its batch, records
//! the forward pass and returns the loss; the shared `train::Trainer` does the rest.
pub mod autoencoder;
pub mod classify;
pub mod contrastive;
pub mod mae;
pub mod mlm;
pub mod vit_classify;

pub use autoencoder::AutoencoderTask;
pub use classify::{ClassifyEval, ClassifyTask};
pub use mae::MaeTask;
pub use mlm::{most_frequent, MlmTask};
