//! Data: tokenizers, corpora and labelled files, MLM masking, vocabularies, the bundled Austen novels.
pub mod austen;
pub mod corpus;
pub mod mlm;
pub mod tokenizer;
pub mod vocab;

pub use tokenizer::Tokenizer;
