//! Check-then-act on an `RwLock`: the decision made under the read guard is
//! stale by the time the write guard is taken. Run with
//! `LOCKGRAPH_ATOMICITY=on cargo run --example check_then_act` (the example
//! also turns the checker on itself); `-- --fixed` uses `upgradable_read`.

use std::collections::HashMap;
use std::sync::Barrier;
use std::thread;

use lockgraph::{Atomicity, RwLock, RwLockUpgradableReadGuard};

fn main() {
    lockgraph::set_atomicity(Atomicity::On);
    let fixed = std::env::args().any(|a| a == "--fixed");
    let sessions: RwLock<HashMap<u32, &str>> = RwLock::named("sessions", HashMap::new());
    let checked = Barrier::new(2);
    let written = Barrier::new(2);
    let reports = thread::scope(|s| {
        s.spawn(|| {
            checked.wait();
            sessions.write().insert(7, "from the other thread");
            written.wait();
        });
        lockgraph::capture_atomicity(|| {
            if fixed {
                let up = sessions.upgradable_read();
                checked.wait();
                if !up.contains_key(&7) {
                    RwLockUpgradableReadGuard::upgrade(up).insert(7, "main");
                }
                written.wait();
            } else {
                let missing = !sessions.read().contains_key(&7);
                checked.wait(); // the other thread writes now ...
                written.wait();
                if missing {
                    // ... and this overwrites its session.
                    sessions.write().insert(7, "main");
                }
            }
        })
    });
    for r in &reports {
        println!("{r}");
    }
    println!(
        "session 7: {:?} ({} atomicity report(s))",
        sessions.read().get(&7),
        reports.len()
    );
}
