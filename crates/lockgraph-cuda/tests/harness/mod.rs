//! The child-process harness of `tests/watchdog.rs`: a child that hangs
//! with the watchdog on, and the parent's check of the watchdog's report.

use std::panic::Location;
use std::time::Duration;

use lockgraph::Site;
use lockgraph_cuda::sim::Stream;
use lockgraph_cuda::HostFn;
use lockgraph_testkit::{is_child, Child, END};

/// How a child says where it enqueued a host function the report must name.
const SITE_TAG: &str = "child enqueued a host fn at ";

/// Whether this is the child run; if so the watchdog is started before the
/// child takes any lock, so every hold is published from the start.
pub fn enter_child() -> bool {
    if !is_child() {
        return false;
    }
    use lockgraph::watchdog::{self, Config};
    watchdog::start(
        Config::default()
            .timeout(Duration::from_millis(300))
            .scan_period(Duration::from_millis(50)),
    );
    true
}

/// Enqueues `f` on `s` and tells the parent the site (the caller's location,
/// which is also the site the model records for the host function).
#[track_caller]
pub fn enqueue<F: FnOnce() + Send + 'static>(s: &Stream, f: HostFn<F>) {
    eprintln!("{SITE_TAG}{}", Site::from(Location::caller()));
    s.launch_host_fn(f).unwrap();
}

/// What the report must contain: `needles`, and each host function site the
/// child tagged, as the model labels it.
fn wanted(text: &str, needles: &[&str]) -> Vec<String> {
    let sites = text
        .lines()
        .filter_map(|l| l.strip_prefix(SITE_TAG))
        .map(|s| format!("host fn enqueued at {}", s.trim()));
    needles.iter().map(|n| n.to_string()).chain(sites).collect()
}

/// The child's stderr from the first watchdog report on.
fn reports(text: &str) -> &str {
    text.find("lockgraph watchdog").map_or("", |i| &text[i..])
}

/// Runs `child` with the watchdog on and returns its stderr once a complete
/// watchdog report contains everything [`wanted`] (or 20 s passed), then
/// kills the child.
fn watch(child: Child, needles: &[&str]) -> String {
    let out = child
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .deadline(Duration::from_secs(20))
        .run_until(|_, text| {
            // Stop once everything is in and the last report is complete.
            let complete =
                text.matches("lockgraph watchdog: ").count() == text.matches(END).count();
            let all = wanted(text, needles)
                .iter()
                .all(|n| reports(text).contains(n.as_str()));
            complete && all
        });
    out.stderr
}

/// The parent's side: `child` hangs, and the watchdog's report names
/// `needles` and every host function the child tagged. Returns the child's
/// stderr from the first report on (empty in a build without tracking).
pub fn expect_report(child: Child, needles: &[&str]) -> String {
    if !lockgraph::TRACKING {
        return String::new(); // release builds without tracking publish no held locks
    }
    let text = watch(child, needles);
    let report = reports(&text);
    assert!(!report.is_empty(), "no watchdog report:\n{text}");
    let wanted = wanted(&text, needles);
    assert!(
        wanted.len() > needles.len(),
        "the child tagged no host fn:\n{text}"
    );
    for n in &wanted {
        assert!(report.contains(n.as_str()), "`{n}` missing:\n{text}");
    }
    report.to_string()
}
