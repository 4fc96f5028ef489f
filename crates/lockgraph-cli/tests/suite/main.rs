//! The lockgraph-cli integration tests, as one binary: `cargo test -p
//! lockgraph-cli --test suite`.

mod cli;
mod e2e;
mod fuzz;
mod logic;
mod sarif;
mod util;
