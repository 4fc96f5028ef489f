//! Deadlocks on purpose: two threads take two locks in opposite orders,
//! meeting at a barrier so that the deadlock is certain. The watchdog (1 s
//! timeout, action abort) prints the deadlock and aborts the process, so the
//! run ends with SIGABRT (exit status 134 from a shell): that is the example
//! working. If the watchdog did not fire, the example says so after 10 s and
//! exits with status 1.
//!
//! ```text
//! cargo run --example watchdog
//! ```

use std::sync::{Arc, Barrier};
use std::time::Duration;

use lockgraph::watchdog::{self, Action, Config};
use lockgraph::Mutex;

fn main() {
    if !lockgraph::TRACKING {
        eprintln!("tracking is compiled out in this build (release): nothing to watch");
        std::process::exit(1);
    }
    // The order graph would report the inversion first (a *potential*
    // deadlock); this example is about the real one.
    lockgraph::set_on_cycle(lockgraph::OnCycle::Off);
    watchdog::start(
        Config::default()
            .timeout(Duration::from_secs(1))
            .action(Action::Abort),
    );

    let accounts = Arc::new(Mutex::named("accounts", ()));
    let audit = Arc::new(Mutex::named("audit", ()));
    let barrier = Arc::new(Barrier::new(2));

    let transfer = {
        let (accounts, audit, barrier) = (accounts.clone(), audit.clone(), barrier.clone());
        std::thread::Builder::new()
            .name("transfer".into())
            .spawn(move || {
                let _a = accounts.lock();
                barrier.wait();
                let _b = audit.lock(); // waits for `report` forever
            })
            .unwrap()
    };
    let report = std::thread::Builder::new()
        .name("report".into())
        .spawn(move || {
            let _b = audit.lock();
            barrier.wait();
            // Second to ask: its request closes the cycle (the report
            // names it as the thread that breaks the order).
            std::thread::sleep(Duration::from_millis(50));
            let _a = accounts.lock(); // waits for `transfer` forever
        })
        .unwrap();

    // Never returns normally: the watchdog aborts the process. A safety net
    // in case it does not.
    std::thread::sleep(Duration::from_secs(10));
    eprintln!("the watchdog did not fire");
    drop((transfer, report));
    std::process::exit(1);
}
