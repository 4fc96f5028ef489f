//! What only the `lockgraph` binary needs (the library has no use for it).

pub(crate) mod args;
pub(crate) mod commands;
#[cfg(any(target_os = "linux", target_os = "macos"))]
pub(crate) mod forward;
pub(crate) mod hints;
pub(crate) mod output_file;
pub(crate) mod outputs;
pub(crate) mod run;
pub(crate) mod say;
