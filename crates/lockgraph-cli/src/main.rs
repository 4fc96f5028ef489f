//! `lockgraph`: checks lock-order records for cycles and order violations.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use lockgraph_cli::CheckOptions;

mod cli;
use cli::args::{Cli, Command};
use cli::commands::{
    check_and_print, dump_and_print, hang_and_print, options, profile_and_print, run_test,
    write_baseline, TestArgs,
};
use cli::outputs::{not_an_input, writable_output};
use cli::say::{error, is_broken_pipe};

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
