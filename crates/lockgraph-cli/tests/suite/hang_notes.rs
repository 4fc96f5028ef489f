//! `lockgraph hang` on files made by hand: the progress line of two
//! processes reads "the other one".

use std::path::Path;

use crate::util::*;

fn process_line(pid: u64) -> String {
    format!(
        "{{\"lockgraph_watchdog\":1,\"kind\":\"process\",\"pid\":{pid},\"host\":\"h\",\"rank\":null,\"exe\":\"/bin/x\",\"args\":[],\"at_unix_ms\":1}}\n"
    )
}

fn progress_line(value: u64) -> String {
    format!(
        "{{\"lockgraph_watchdog\":1,\"kind\":\"progress\",\"name\":\"step\",\"value\":{value},\"at_unix_ms\":2}}\n"
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn two_processes_one_behind_read_the_other_one() {
    let d = tempdir();
    for (pid, step) in [(2667, 7), (2670, 6)] {
        write(
            d.path(),
            &format!("lockgraph-watchdog-h-{pid}.jsonl"),
            &(process_line(pid) + &progress_line(step)),
        );
    }
    let o = run_in(d.path(), &["hang", "."]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("  step: pid 2670 stopped first, at step 6; the other one at 7\n"),
        "{}",
        stdout(&o)
    );
}
