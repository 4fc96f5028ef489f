//! `lockgraph-demo-edge FIRST SECOND [--exit CODE]`: takes the lockgraph
//! mutex named FIRST, then, while holding it, the one named SECOND, and exits
//! (with CODE when given). Run with `LOCKGRAPH_RECORD=<dir>` it records the
//! edge FIRST -> SECOND; the end-to-end tests run it as real child processes.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (names, exit) = match args.as_slice() {
        [a, b] => ((a, b), 0),
        [a, b, flag, code] if flag == "--exit" => match code.parse::<u8>() {
            Ok(code) => ((a, b), code),
            Err(_) => return usage(),
        },
        _ => return usage(),
    };
    let first = lockgraph::Mutex::named(Box::leak(names.0.clone().into_boxed_str()), ());
    let second = lockgraph::Mutex::named(Box::leak(names.1.clone().into_boxed_str()), ());
    {
        let _held = first.lock();
        let _requested = second.lock();
    }
    println!(
        "took `{}` then `{}` (pid {}, tracking {})",
        names.0,
        names.1,
        std::process::id(),
        if lockgraph::TRACKING { "on" } else { "off" }
    );
    ExitCode::from(exit)
}

fn usage() -> ExitCode {
    eprintln!("usage: lockgraph-demo-edge FIRST SECOND [--exit CODE]");
    ExitCode::from(2)
}
