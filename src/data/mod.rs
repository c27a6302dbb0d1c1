//! Data: tokenizer glue (more to come: masking, augmentations, resumable loaders).
pub mod tokenizer;

pub use tokenizer::Tokenizer;
