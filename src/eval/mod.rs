//! Evaluation of frozen features: the kNN classifier self-supervised methods are monitored with.
pub mod knn;
