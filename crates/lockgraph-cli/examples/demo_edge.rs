//! `demo_edge FIRST [SECOND] [--exit CODE] [-- ANY...]`: takes the lockgraph
//! mutex named FIRST, then, while holding it, the one named SECOND, and
//! exits (with CODE when given). Run with `LOCKGRAPH_RECORD=<dir>` it
//! records the edge FIRST -> SECOND; with FIRST alone it takes one lock and
//! records no edge (its record file holds only the header). Arguments after
//! `--` are ignored: they only appear in the record file's header, and may
//! be anything, even bytes that are not UTF-8.
//!
//! The end-to-end tests of `lockgraph-cli` and `.ci/run` run it as real
//! child processes:
//!
//! ```sh
//! cargo build -p lockgraph-cli --example demo_edge
//! LOCKGRAPH_RECORD=/tmp/rec target/debug/examples/demo_edge a b
//! LOCKGRAPH_RECORD=/tmp/rec target/debug/examples/demo_edge b a
//! cargo run -p lockgraph-cli -- check /tmp/rec      # the cycle a -> b -> a
//! ```
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--") {
        args.truncate(i);
    }
    let Some(args) = args
        .into_iter()
        .map(|a| a.into_string().ok())
        .collect::<Option<Vec<String>>>()
    else {
        return usage();
    };
    let (names, exit): (&[String], u8) = match args.as_slice() {
        [names @ .., flag, code] if flag == "--exit" => match code.parse() {
            Ok(code) => (names, code),
            Err(_) => return usage(),
        },
        names => (names, 0),
    };
    let (first, second) = match names {
        [a] => (a, None),
        [a, b] => (a, Some(b)),
        _ => return usage(),
    };
    let first_lock = lockgraph::Mutex::named(Box::leak(first.clone().into_boxed_str()), ());
    let second_lock =
        second.map(|b| lockgraph::Mutex::named(Box::leak(b.clone().into_boxed_str()), ()));
    {
        let _held = first_lock.lock();
        if let Some(second_lock) = &second_lock {
            let _requested = second_lock.lock();
        }
    }
    match second {
        Some(b) => println!(
            "took `{first}` then `{b}` (pid {}, tracking {})",
            std::process::id(),
            if lockgraph::TRACKING { "on" } else { "off" }
        ),
        None => println!(
            "took `{first}` (pid {}, tracking {})",
            std::process::id(),
            if lockgraph::TRACKING { "on" } else { "off" }
        ),
    }
    ExitCode::from(exit)
}

fn usage() -> ExitCode {
    eprintln!("usage: demo_edge FIRST [SECOND] [--exit CODE] [-- ANY...]");
    ExitCode::from(2)
}
