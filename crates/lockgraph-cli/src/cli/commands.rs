//! Each subcommand's work once its arguments are parsed: read, check or
//! gather, then write the report (to standard output or `-o`) and say
//! the exit code.

use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use lockgraph_cli::profile::{Profile, ProfileFormat};
use lockgraph_cli::{CheckOptions, Report, Rule, ShowPath as _};

use super::args::{FormatArg, ReportArgs, TextOrJson};
use super::hints;
use super::output_file;
use super::outputs::not_an_input;
use super::run;
use super::say::{error, is_broken_pipe, safe, warn};

pub(crate) fn write_report(report: &Report, args: &ReportArgs) -> anyhow::Result<()> {
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

pub(crate) fn write_profile(
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
pub(crate) fn profile_and_print(
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
pub(crate) fn dump_and_print(pid: u32, format: TextOrJson, timeout: &str) -> anyhow::Result<u8> {
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
pub(crate) fn hang_and_print(
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
pub(crate) fn check_and_print(opts: &CheckOptions, args: &ReportArgs) -> anyhow::Result<u8> {
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

pub(crate) fn options(paths: Vec<PathBuf>, args: &ReportArgs) -> CheckOptions {
    CheckOptions::new(paths)
        .order(args.order.clone())
        .baseline(args.baseline.clone())
}

pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

pub(crate) fn write_baseline(path: &Path, opts: &CheckOptions) -> anyhow::Result<u8> {
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
pub(crate) struct TestArgs<'a> {
    pub(crate) report: &'a ReportArgs,
    pub(crate) profile: bool,
    pub(crate) record_dir: Option<PathBuf>,
    pub(crate) append: bool,
    pub(crate) allow_empty: bool,
    pub(crate) command: &'a [OsString],
}

pub(crate) fn run_test(t: TestArgs<'_>) -> anyhow::Result<u8> {
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
        if let Some(line) = hints::fail_fast_line(t.command) {
            eprintln!("{line}");
        }
    }
    let recorded = run::recorded_files(&dir)?;
    if recorded == 0 && !t.allow_empty {
        let program = t
            .command
            .first()
            .map_or_else(String::new, |p| p.shown().to_string());
        error(&anyhow::anyhow!(hints::nothing_recorded(
            &dir,
            &program,
            failure.is_some()
        )));
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
