//! Data: corpora and labelled files, MLM masking.
pub mod corpus;
pub mod austen;
pub mod mlm;
pub mod vocab;
