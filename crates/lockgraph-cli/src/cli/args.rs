//! The command line: the subcommands, their arguments and help texts
//! (clap).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use lockgraph_cli::profile::ProfileFormat;
use lockgraph_cli::Format;

pub(crate) const AFTER_HELP: &str = "\
Exit status: 0 no cycle or violation, 1 cycles or order violations found,
2 usage or input error. `lockgraph test` exits with the command's own status
when the command fails (after printing the check), else with the check's,
and with 2 when nothing was recorded (unless --allow-empty).
`lockgraph profile` exits 0 (a profile is information), or 2 on bad input.
`lockgraph hang` exits 0 when nothing hangs in the watchdog files, 1 on
deadlocks or long waits, 2 without a usable file or when input that may
hold a report was not read (a limit, a record of an unknown version);
`lockgraph dump` 0 with the dump printed, 2 without. An -o file that cannot
be written (a full disk) is left as it was, and the output goes to standard
output instead, with exit 2.

Record files come from running programs built with lockgraph (debug builds,
or the `track-in-release` feature) with LOCKGRAPH_RECORD=<dir> set: each
process writes its file when it first takes a lockgraph lock. With
LOCKGRAPH_PROFILE=1 as well, each process also writes its contention and
backpressure profiles there at exit.";

pub(crate) const TEST_HELP: &str = "\
The records are kept in the record directory (--record-dir, by default
target/lockgraph, or $CARGO_TARGET_DIR/lockgraph), so that
`lockgraph check target/lockgraph` can check them again, in another format
or against a baseline. The record and profile files of an earlier run are
removed from it first, unless --append is given.

Nothing recorded at all means that no process the command started took a
lockgraph lock with tracking compiled in: tracking is compiled out of release
builds (`cargo test --release`) unless lockgraph's `track-in-release` feature
is on. That exits 2 unless --allow-empty is given.";

pub(crate) const HANG_HELP: &str = "\
Each process of the job writes its watchdog reports, dumps and progress
markers (lockgraph::progress) to LOCKGRAPH_DUMP_DIR, one file per process
(lockgraph-watchdog-<host>-<pid>.jsonl); gather them in one directory (a
shared one, or copied by the launcher) and point this at it. Files or lines
that cannot be read (a garbage file, a line cut short by a killed process)
are named and skipped; a directory's other .jsonl files (record files
aside) are not read, and are named in a note.

Exit status: 0 nothing hangs in the files, 1 deadlocks or long waits
reported, 2 usage or input error (no usable file at all), or nothing hangs
in what was read but input that may hold a report was not (a file that
cannot be read, a record of an unknown version, a limit on what is read:
the verdict may be incomplete).";

pub(crate) const DUMP_HELP: &str = "\
The process must run lockgraph's watchdog with its SIGUSR2 handler
(LOCKGRAPH_DUMP_SIGNAL=1 with LOCKGRAPH_WATCHDOG, or
Config::dump_on_sigusr2(true)). lockgraph dump creates its own request
file in the process's temporary directory
(lockgraph-dump-<pid>-for-<asker>.request) and signals it; the process
answers there (lockgraph-dump-<pid>-for-<asker>.json), also prints the
dump on its standard error, and appends it to LOCKGRAPH_DUMP_DIR when set.
Both files are removed once the dump is read; several askers at once each
get their own answer. A process that does not catch SIGUSR2 is not
signalled (the signal would kill it), nor is one that is stopped (state T:
resume it with kill -CONT <pid>) or held by a debugger (state t), which
cannot answer. Linux only.

Exit status: 0 the dump was printed, 2 no dump (no such process, another
user's, no handler, stopped, exited, no answer in time).";

#[derive(Parser)]
#[command(
    name = "lockgraph",
    version,
    about = "Finds lock-order cycles and order violations in lockgraph's records",
    after_help = AFTER_HELP
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Merges record files and reports cycles that can deadlock
    Check {
        #[command(flatten)]
        report: ReportArgs,
        /// Record files, or directories whose *.jsonl files are read (not recursively)
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Writes the current cycles and order violations to a baseline file
    Baseline {
        /// The baseline file to write
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// The intended lock order (TOML), so that its violations are baselined too
        #[arg(long, value_name = "FILE")]
        order: Option<PathBuf>,
        /// Record files, or directories whose *.jsonl files are read
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Runs a command with LOCKGRAPH_RECORD set to a record directory that is kept, then checks it
    #[command(after_help = TEST_HELP)]
    Test {
        #[command(flatten)]
        report: ReportArgs,
        /// Also set LOCKGRAPH_PROFILE=1 and print the run's merged contention and backpressure profiles
        ///
        /// The profile is text, printed after the check: on standard output, or on standard
        /// error when the check is a json, sarif, dot or html report on standard output (also
        /// one meant for an -o file that could not be written).
        #[arg(long)]
        profile: bool,
        /// Where the command's processes record (kept afterwards) [default: target/lockgraph]
        #[arg(long, value_name = "DIR")]
        record_dir: Option<PathBuf>,
        /// Keep the record files already in the record directory and check them with the new ones
        #[arg(long)]
        append: bool,
        /// Exit 0 rather than 2 when the command recorded nothing at all
        #[arg(long)]
        allow_empty: bool,
        /// The command and its arguments, after `--`
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// Lines up the watchdog files of a hung job's processes (LOCKGRAPH_DUMP_DIR): deadlocks, threads grouped by state, who stopped first
    #[command(after_help = HANG_HELP)]
    Hang {
        /// Output format: the job's view as text, or as JSON (its `version` is 2)
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
        /// Write the report to FILE instead of standard output
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Watchdog files, or directories whose lockgraph-watchdog-*.jsonl files are read (not recursively)
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Asks a running process for a dump of every thread's locks, waits and stacks (like jstack; threads with no lockgraph lock: their kernel state)
    #[command(after_help = DUMP_HELP)]
    Dump {
        /// The process to ask
        #[arg(long, value_name = "PID")]
        pid: u32,
        /// Output format: the dump as text, or as JSON (its threads, their locks, waits and stacks)
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
        /// How long to wait for the answer, e.g. 5s, 750ms
        #[arg(long, value_name = "DURATION", default_value = "5s")]
        timeout: String,
    },
    /// Merges contention and backpressure profiles (lockgraph-profile-*.json): the hottest locks, the bottleneck stage
    Profile {
        /// Output format: the tables and advice, or JSON (the merged classes, hottest first, and the queues)
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
        /// Write the profile to FILE instead of standard output
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Profile files, or directories whose lockgraph-profile-*.json files are read (not recursively)
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum TextOrJson {
    /// Readable in a terminal
    Text,
    /// JSON, for programs
    Json,
}

impl TextOrJson {
    pub(crate) fn format(self) -> ProfileFormat {
        match self {
            TextOrJson::Text => ProfileFormat::Text,
            TextOrJson::Json => ProfileFormat::Json,
        }
    }
}

#[derive(Args)]
pub(crate) struct ReportArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub(crate) format: FormatArg,
    /// Write the report to FILE instead of standard output
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// The intended lock order (TOML): edges against it fail the check
    #[arg(long, value_name = "FILE")]
    pub(crate) order: Option<PathBuf>,
    /// Tolerate the cycles and violations listed in this baseline
    #[arg(long, value_name = "FILE")]
    pub(crate) baseline: Option<PathBuf>,
}

impl ReportArgs {
    /// The files the check reads besides the records: --order, --baseline.
    pub(crate) fn side_files(&self) -> Vec<PathBuf> {
        self.order.iter().chain(&self.baseline).cloned().collect()
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum FormatArg {
    /// Readable in a terminal
    Text,
    /// A stable JSON structure
    Json,
    /// SARIF 2.1.0 for code scanning
    Sarif,
    /// A Graphviz digraph of the offending edges
    Dot,
    /// One self-contained HTML page: each finding as an SVG graph beside its report
    Html,
}

impl FormatArg {
    pub(crate) fn format(self) -> Format {
        match self {
            FormatArg::Text => Format::Text,
            FormatArg::Json => Format::Json,
            FormatArg::Sarif => Format::Sarif,
            FormatArg::Dot => Format::Dot,
            FormatArg::Html => Format::Html,
        }
    }
}
