//! The lockgraph-cli integration tests, as one binary: `cargo test -p
//! lockgraph-cli --test suite`.

mod cli;
mod e2e;
mod fuzz;
mod logic;
mod profile;
mod sarif;
mod util;
