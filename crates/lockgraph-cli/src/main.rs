//! `lockgraph`: checks lock-order records for cycles and order violations.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use lockgraph_cli::profile::{Profile, ProfileFormat};
use lockgraph_cli::{CheckOptions, Format, Report, Rule, ShowPath as _};

mod cli;
use cli::output_file;
use cli::outputs::{not_an_input, writable_output};
use cli::run;

const AFTER_HELP: &str = "\
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
LOCKGRAPH_PROFILE=1 as well, each process also writes its contention profile
there at exit.";

const TEST_HELP: &str = "\
The records are kept in the record directory (--record-dir, by default
target/lockgraph, or $CARGO_TARGET_DIR/lockgraph), so that
`lockgraph check target/lockgraph` can check them again, in another format
or against a baseline. The record and profile files of an earlier run are
removed from it first, unless --append is given.

Nothing recorded at all means that no process the command started took a
lockgraph lock with tracking compiled in: tracking is compiled out of release
builds (`cargo test --release`) unless lockgraph's `track-in-release` feature
is on. That exits 2 unless --allow-empty is given.";

const HANG_HELP: &str = "\
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

const DUMP_HELP: &str = "\
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
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
        /// Also set LOCKGRAPH_PROFILE=1 and print the run's merged contention profile
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
    /// Asks a running process for a dump of every thread's locks, waits and stacks (like jstack)
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
    /// Merges contention profiles (lockgraph-profile-*.json) and shows the hottest locks
    Profile {
        /// Output format: the table and advice, or JSON (the merged classes, hottest first)
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
enum TextOrJson {
    /// Readable in a terminal
    Text,
    /// JSON, for programs
    Json,
}

impl TextOrJson {
    fn format(self) -> ProfileFormat {
        match self {
            TextOrJson::Text => ProfileFormat::Text,
            TextOrJson::Json => ProfileFormat::Json,
        }
    }
}

#[derive(Args)]
struct ReportArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    format: FormatArg,
    /// Write the report to FILE instead of standard output
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The intended lock order (TOML): edges against it fail the check
    #[arg(long, value_name = "FILE")]
    order: Option<PathBuf>,
    /// Tolerate the cycles and violations listed in this baseline
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
}

impl ReportArgs {
    /// The files the check reads besides the records: --order, --baseline.
    fn side_files(&self) -> Vec<PathBuf> {
        self.order.iter().chain(&self.baseline).cloned().collect()
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
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
    fn format(self) -> Format {
        match self {
            FormatArg::Text => Format::Text,
            FormatArg::Json => Format::Json,
            FormatArg::Sarif => Format::Sarif,
            FormatArg::Dot => Format::Dot,
            FormatArg::Html => Format::Html,
        }
    }
}

/// Messages quote names and paths from record files, which must not drive
/// the terminal.
fn safe(s: &str) -> String {
    lockgraph_cli::terminal_safe(s).into_owned()
}

fn warn(msg: &str) {
    eprintln!("lockgraph: warning: {}", safe(msg));
}

fn error(e: &anyhow::Error) {
    eprintln!("lockgraph: error: {}", safe(&format!("{e:#}")));
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn write_report(report: &Report, args: &ReportArgs) -> anyhow::Result<()> {
    let format = args.format.format();
    match &args.output {
        Some(path) => {
            // Rendered first, so that a file that cannot be created or
            // written (a missing folder, a full disk) does not lose it:
            // `test` ran its whole command for it (its -o is not checked
            // before, as the command may make the folder).
            let mut text = Vec::new();
            format.write(report, &mut text)?;
            output_file::write_or_stdout(path, &text, "the report")?;
            eprintln!(
                "{}",
                safe(&format!(
                    "{} ({} report written to {})",
                    report.summary_line(),
                    format,
                    path.shown()
                ))
            );
        }
        None => {
            let stdout = io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            format.write(report, &mut w).and_then(|()| w.flush())?;
        }
    }
    Ok(())
}

fn write_profile(
    profile: &Profile,
    format: ProfileFormat,
    output: Option<&Path>,
    to_stderr: bool,
    blank_line_first: bool,
) -> anyhow::Result<()> {
    let lead = if blank_line_first { "\n" } else { "" };
    match output {
        Some(path) => {
            let mut text = Vec::new();
            profile.write(format, &mut text)?;
            output_file::write_or_stdout(path, &text, "the profile")?;
            eprintln!(
                "{}",
                safe(&format!(
                    "{} ({format} profile written to {})",
                    profile.summary_line(),
                    path.shown()
                ))
            );
        }
        None if to_stderr => {
            let mut w = BufWriter::new(io::stderr().lock());
            w.write_all(lead.as_bytes())
                .and_then(|()| profile.write(format, &mut w))
                .and_then(|()| w.flush())?;
        }
        None => {
            let mut w = BufWriter::new(io::stdout().lock());
            w.write_all(lead.as_bytes())
                .and_then(|()| profile.write(format, &mut w))
                .and_then(|()| w.flush())?;
        }
    }
    Ok(())
}

/// `lockgraph profile`: 0 unless the input is bad.
fn profile_and_print(
    paths: &[PathBuf],
    format: ProfileFormat,
    output: Option<&Path>,
) -> anyhow::Result<u8> {
    let profile = lockgraph_cli::profile::load(paths)?;
    for w in &profile.warnings {
        warn(w);
    }
    write_profile(&profile, format, output, false, false)?;
    Ok(0)
}

/// `lockgraph dump --pid N`: 0 with the dump printed, 2 without.
fn dump_and_print(pid: u32, format: TextOrJson, timeout: &str) -> anyhow::Result<u8> {
    let wait = lockgraph_core::watchdog::parse_duration(timeout)
        .map_err(|e| anyhow::anyhow!("--timeout: {e}"))?;
    if wait.is_zero() {
        // It would signal the process and give up at once, blaming it.
        anyhow::bail!(
            "--timeout {}: the process needs time to answer: give it more than 0, e.g. 5s",
            timeout.trim()
        );
    }
    // The core's words for each reason there is no dump: a process
    // stopped, one without the handler (yet), one that gave no answer.
    let json = lockgraph_core::watchdog::ask_for_dump(pid, wait).map_err(anyhow::Error::from)?;
    let out = match format {
        TextOrJson::Json => json,
        TextOrJson::Text => {
            let v: serde_json::Value = serde_json::from_str(&json)
                .with_context(|| format!("process {pid} answered with a malformed dump"))?;
            let text = v["text"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("process {pid} answered a dump without text"))?;
            // Names come from the process: no control character reaches
            // the terminal (line by line, so that the lines stay lines).
            text.lines().map(|l| safe(l) + "\n").collect()
        }
    };
    let mut w = BufWriter::new(io::stdout().lock());
    w.write_all(out.as_bytes()).and_then(|()| w.flush())?;
    Ok(0)
}

/// `lockgraph hang`: 1 when the files report a hang, 0 when not, 2 on bad
/// input (skipped files and lines are warnings).
fn hang_and_print(
    paths: &[PathBuf],
    format: TextOrJson,
    output: Option<&Path>,
) -> anyhow::Result<u8> {
    let report = lockgraph_cli::hang::analyse(paths)?;
    for s in &report.skipped {
        let line = s.line.map_or_else(String::new, |l| format!(":{l}"));
        warn(&format!("{}{line}: skipped: {}", s.file.shown(), s.why));
    }
    for n in &report.notes {
        eprintln!("lockgraph: note: {}", safe(n));
    }
    let text = match format {
        TextOrJson::Text => report.to_text(),
        TextOrJson::Json => report.to_json(),
    };
    match output {
        Some(path) => {
            output_file::write_or_stdout(path, text.as_bytes(), "the report")?;
            eprintln!(
                "{}",
                safe(&format!("{} (written to {})", report.summary, path.shown()))
            );
        }
        None => {
            let mut w = BufWriter::new(io::stdout().lock());
            match w.write_all(text.as_bytes()).and_then(|()| w.flush()) {
                Ok(()) => {}
                // The reader went away: the exit code still says what was found.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(report.exit_code())
}

/// Runs a check and prints it; the check's exit code.
fn check_and_print(opts: &CheckOptions, args: &ReportArgs) -> anyhow::Result<u8> {
    let report = lockgraph_cli::check(opts)?;
    for w in &report.warnings {
        warn(w);
    }
    match write_report(&report, args) {
        Ok(()) => {}
        // The reader went away (`| head`): the findings still stand, and so
        // does their exit code (a CI step under `pipefail` must still fail).
        Err(e) if is_broken_pipe(&e) => {}
        Err(e) => return Err(e),
    }
    Ok(report.exit_code())
}

fn options(paths: Vec<PathBuf>, args: &ReportArgs) -> CheckOptions {
    CheckOptions::new(paths)
        .order(args.order.clone())
        .baseline(args.baseline.clone())
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn write_baseline(path: &Path, opts: &CheckOptions) -> anyhow::Result<u8> {
    let (baseline, warnings) = lockgraph_cli::make_baseline(opts)?;
    for w in &warnings {
        warn(w);
    }
    output_file::write_or_stdout(path, baseline.to_json().as_bytes(), "the baseline")?;
    eprintln!(
        "lockgraph: wrote {} and {} to {}",
        plural(baseline.of_rule(Rule::Cycle).count(), "cycle", "cycles"),
        plural(
            baseline.of_rule(Rule::OrderViolation).count(),
            "order violation",
            "order violations"
        ),
        safe(&path.shown().to_string())
    );
    Ok(0)
}

/// What `lockgraph test` was asked to do.
struct TestArgs<'a> {
    report: &'a ReportArgs,
    profile: bool,
    record_dir: Option<PathBuf>,
    append: bool,
    allow_empty: bool,
    command: &'a [OsString],
}

fn run_test(t: TestArgs<'_>) -> anyhow::Result<u8> {
    let env: &[(&str, &str)] = if t.profile {
        &[(run::PROFILE_ENV, "1")]
    } else {
        &[]
    };
    run::nonempty_command(t.command)?;
    not_an_input(t.report.output.as_deref(), &t.report.side_files(), |_| {
        false
    })?;
    // The order file and the baseline are read again by the check; a
    // missing or bad one is said now, before the command runs (it was said
    // after a whole test run).
    options(Vec::new(), t.report).read_side_files()?;
    let dir = run::make_record_dir(&t.record_dir.unwrap_or_else(run::default_record_dir))?;
    // Before anything is removed or run.
    if let Some(output) = &t.report.output {
        run::output_outside_records(output, &dir)?;
        // A hard link of a file read there (one kept with --append).
        not_an_input(Some(output), std::slice::from_ref(&dir), |n| {
            lockgraph_cli::is_record_name(n) || lockgraph_cli::profile::is_profile_name(n)
        })?;
    }
    if !t.append {
        run::clear_records(&dir)?;
    }
    let status = run::run_recorded(t.command, &dir, env)?;
    let failure = run::command_failure(&status);
    if let Some(code) = failure {
        eprintln!(
            "lockgraph: the command failed ({status}); checking what it recorded, then exiting with {code}"
        );
    }
    let recorded = run::recorded_files(&dir)?;
    if recorded == 0 && !t.allow_empty {
        let program = t
            .command
            .first()
            .map_or_else(String::new, |p| p.shown().to_string());
        error(&anyhow::anyhow!(
            "nothing was recorded in {}: no process that `{program}` started took a lockgraph \
             lock with lock tracking compiled in. Tracking is compiled out of release builds \
             (`cargo test --release`) unless lockgraph's `track-in-release` feature is on: run \
             the tests in a debug build, or pass --allow-empty if recording nothing is expected",
            dir.shown()
        ));
        return Ok(run::final_exit_code(failure, 2));
    }
    let opts = options(vec![dir.clone()], t.report);
    // Whether the report went to standard output: no -o, or an -o that
    // could not be written (see `write_report`).
    let mut report_on_stdout = t.report.output.is_none();
    let mut check = match check_and_print(&opts, t.report) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => return Ok(0),
        Err(e) => {
            report_on_stdout |= e.chain().any(|c| c.is::<output_file::OnStandardOutput>());
            error(&e);
            2
        }
    };
    if t.profile {
        // The profile is text, after the check; when the check itself is a
        // JSON, SARIF, DOT or HTML document on standard output, the profile
        // goes to standard error so that standard output stays one document.
        let to_stderr = report_on_stdout && !matches!(t.report.format, FormatArg::Text);
        let shown = lockgraph_cli::profile::load(std::slice::from_ref(&dir))
            .map_err(anyhow::Error::from)
            .and_then(|p| {
                for w in &p.warnings {
                    warn(w);
                }
                write_profile(&p, ProfileFormat::Text, None, to_stderr, true)
            });
        match shown {
            Ok(()) => {}
            Err(e) if is_broken_pipe(&e) => {}
            Err(e) => {
                error(&e);
                check = check.max(2);
            }
        }
    }
    Ok(run::final_exit_code(failure, check))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Check { report, paths } => writable_output(report.output.as_deref(), "the report")
            .and_then(|()| {
                not_an_input(
                    report.output.as_deref(),
                    &paths,
                    lockgraph_cli::is_record_name,
                )
            })
            .and_then(|()| not_an_input(report.output.as_deref(), &report.side_files(), |_| false))
            .and_then(|()| check_and_print(&options(paths, &report), &report)),
        Command::Baseline {
            output,
            order,
            paths,
        } => writable_output(Some(&output), "the baseline")
            .and_then(|()| not_an_input(Some(&output), &paths, lockgraph_cli::is_record_name))
            .and_then(|()| not_an_input(Some(&output), order.as_slice(), |_| false))
            .and_then(|()| write_baseline(&output, &CheckOptions::new(paths).order(order))),
        Command::Test {
            report,
            profile,
            record_dir,
            append,
            allow_empty,
            command,
        } => run_test(TestArgs {
            report: &report,
            profile,
            record_dir,
            append,
            allow_empty,
            command: &command,
        }),
        Command::Profile {
            format,
            output,
            paths,
        } => writable_output(output.as_deref(), "the profile")
            .and_then(|()| {
                not_an_input(
                    output.as_deref(),
                    &paths,
                    lockgraph_cli::profile::is_profile_name,
                )
            })
            .and_then(|()| profile_and_print(&paths, format.format(), output.as_deref())),
        Command::Hang {
            format,
            output,
            paths,
        } => writable_output(output.as_deref(), "the report")
            .and_then(|()| {
                not_an_input(
                    output.as_deref(),
                    &paths,
                    lockgraph_cli::hang::is_watchdog_file,
                )
            })
            .and_then(|()| hang_and_print(&paths, format, output.as_deref())),
        Command::Dump {
            pid,
            format,
            timeout,
        } => dump_and_print(pid, format, &timeout),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            error(&e);
            ExitCode::from(2)
        }
    }
}
