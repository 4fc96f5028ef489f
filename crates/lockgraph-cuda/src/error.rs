//! The crate's error type.

use std::fmt;

/// Errors of every back end.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No CUDA driver library could be loaded.
    NoDriver,
    /// A driver call failed (the raw `CUresult`, as Debug text; formatting
    /// cudarc's error itself would call into the driver).
    Driver(String),
    /// A host function called a CUDA API (reported as a certain deadlock).
    CudaCallInHostFn(&'static str),
    /// A timed wait ran out.
    Timeout,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoDriver => write!(
                f,
                "no CUDA driver: libcuda could not be loaded (use the simulated back end)"
            ),
            Error::Driver(e) => write!(f, "CUDA driver error {e}"),
            Error::CudaCallInHostFn(c) => {
                write!(f, "`{c}` called inside a host function: it would deadlock")
            }
            Error::Timeout => write!(f, "timed out"),
        }
    }
}

impl std::error::Error for Error {}
