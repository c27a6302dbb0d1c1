//! Data: tokenizers, corpora and labelled files, MLM masking, vocabularies, the bundled Austen novels; images
//! (IDX, ImageFolder, files; HF preprocessing), the bundled Fashion-MNIST subset; contrastive views (`views`).
pub mod augment;
pub mod austen;
pub mod corpus;
pub mod images;
pub mod mlm;
pub mod tokenizer;
pub mod views;
pub mod vocab;

pub use images::{Image, ImageSet, Preprocessor};
pub use tokenizer::Tokenizer;
