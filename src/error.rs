//! One error type for the engine: every message names the op, tensor, file or value at fault.
use std::fmt;

/// What went wrong, with a message that names the thing at fault.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// No adapter, a lost device, out of memory, a validation error reported by wgpu.
    Gpu(String),
    /// A tensor has the wrong shape for an operation.
    Shape(String),
    /// A tensor has the wrong element type for an operation.
    DType(String),
    /// A file could not be read or written.
    Io(String),
    /// A file, config or input line could not be parsed or makes no sense.
    Invalid(String),
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Gpu(m) => write!(f, "gpu: {m}"),
            Error::Shape(m) | Error::DType(m) | Error::Io(m) | Error::Invalid(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// An I/O error on `path`, naming the file.
    pub fn io(path: impl AsRef<std::path::Path>, err: impl fmt::Display) -> Error {
        Error::Io(format!("{}: {err}", path.as_ref().display()))
    }
}

/// Returns early with an `Error::$kind(format!(...))`.
#[macro_export]
macro_rules! bail {
    ($kind:ident, $($arg:tt)*) => { return Err($crate::Error::$kind(format!($($arg)*))) };
}
