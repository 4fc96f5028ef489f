//! The lockgraph-cli integration tests, as one binary: `cargo test -p
//! lockgraph-cli --test suite`.

mod cli;
mod dump;
mod e2e;
mod hang;
mod hang_notes;
mod hostile;
mod logic;
mod long_cycles;
mod portable;
mod profile;
mod records;
mod run_time;
mod sarif;
mod trust;
mod util;
