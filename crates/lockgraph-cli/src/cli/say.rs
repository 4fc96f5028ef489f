//! What the binary says on standard error: warnings and errors, with
//! names and paths from input files made safe for a terminal.

use std::io;

/// Messages quote names and paths from record files, which must not drive
/// the terminal.
pub(crate) fn safe(s: &str) -> String {
    lockgraph_cli::terminal_safe(s).into_owned()
}

pub(crate) fn warn(msg: &str) {
    eprintln!("lockgraph: warning: {}", safe(msg));
}

pub(crate) fn error(e: &anyhow::Error) {
    eprintln!("lockgraph: error: {}", safe(&format!("{e:#}")));
}

pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
