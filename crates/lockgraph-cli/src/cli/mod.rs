//! What only the `lockgraph` binary needs (the library has no use for it).

pub(crate) mod output_file;
pub(crate) mod outputs;
pub(crate) mod run;
