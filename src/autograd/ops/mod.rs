//! Differentiable ops: each forward calls kernels and records, directly beneath it, the rule for its gradient.
pub mod arith;
pub mod attention;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod patch;
pub mod shape;

pub use arith::*;
pub use attention::*;
pub use loss::*;
pub use matmul::*;
pub use norm::*;
pub use patch::*;
pub use shape::*;
