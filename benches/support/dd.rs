//! The client side of the separate `benches/pl-deadlock-detection` binary
//! (parking_lot with its `deadlock_detection` feature): starts it, checks its
//! handshake, and asks it for timed runs (`rows::serve` is the other side).

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use crate::rows::{Row, Steady};

/// The hash the separate binary must answer with: the shared sources and
/// its own `main.rs`.
pub const DD_HASH: u64 = crate::rows::fnv(
    include_str!("../pl-deadlock-detection/src/main.rs"),
    crate::rows::SOURCE_HASH,
);

/// parking_lot with `deadlock_detection`, in its own process, serving timed
/// runs over a pipe (`rows::serve`).
pub struct DdClient {
    /// The binary.
    pub path: PathBuf,
    io: RefCell<(Child, ChildStdin, BufReader<ChildStdout>)>,
}

impl DdClient {
    /// Where the binary is: `LOCKGRAPH_BENCH_PL_DD`, else where
    /// `scripts/bench-plain.sh` builds it (under `CARGO_TARGET_DIR` when
    /// that is set, as the script does, else under the checkout's
    /// `target`).
    pub fn path() -> PathBuf {
        if let Some(p) = std::env::var_os("LOCKGRAPH_BENCH_PL_DD") {
            return PathBuf::from(p);
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(|t| root.join(t))
            .unwrap_or_else(|| root.join("target"));
        target.join("pl-deadlock-detection/release/pl-deadlock-detection")
    }

    /// Starts the binary and checks its handshake.
    pub fn start() -> Result<DdClient, String> {
        let path = DdClient::path();
        if !path.is_file() {
            return Err(format!(
                "{} not found (scripts/bench-plain.sh builds it; LOCKGRAPH_BENCH_PL_DD names another)",
                path.display()
            ));
        }
        let mut child = Command::new(&path)
            .arg("--serve")
            .env("LOCKGRAPH_BENCH_CLOCK", crate::timing::clock().name())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let want = format!("ready {DD_HASH:016x} {}", crate::timing::clock().name());
        if line.trim_end() != want {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} answered {:?}, expected {want:?}: built from other sources, \
                 rebuild it (scripts/bench-plain.sh)",
                path.display(),
                line.trim_end()
            ));
        }
        Ok(DdClient {
            path,
            io: RefCell::new((child, stdin, stdout)),
        })
    }

    fn ask(&self, what: &str, n: u64) -> Duration {
        let mut io = self.io.borrow_mut();
        let (_, stdin, stdout) = &mut *io;
        writeln!(stdin, "{what} {n}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("{}: {e}", self.path.display()));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("{}: {e}", self.path.display()));
        let ns: u64 = line.trim().parse().unwrap_or_else(|_| {
            panic!(
                "{}: expected nanoseconds, got {line:?}",
                self.path.display()
            )
        });
        Duration::from_nanos(ns)
    }
}

impl Steady for DdClient {
    fn run(&self, row: Row, n: u64) -> Duration {
        self.ask(row.name(), n)
    }

    fn run_single_of_two(&self, n: u64) -> Duration {
        self.ask("single-of-two", n)
    }
}

impl Drop for DdClient {
    fn drop(&mut self) {
        let (child, stdin, _) = self.io.get_mut();
        let _ = writeln!(stdin, "quit").and_then(|()| stdin.flush());
        let _ = child.wait();
    }
}
