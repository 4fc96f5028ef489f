//! `demo_accounts`: per-object locks of one class taken in both orders in
//! one process, the deadlock an outside tester found `lockgraph check`
//! passing: every `Account` gets its lock from one `lockgraph::Mutex::new`
//! call, so all accounts share one class, and the records carry no edge
//! between two locks of one class. The runtime finds the cycle (its
//! instance graph) and writes it to `LOCKGRAPH_RECORD` as a `cycle` line,
//! which `lockgraph check` counts.
//!
//! ```sh
//! cargo build -p lockgraph-cli --example demo_accounts
//! LOCKGRAPH_RECORD=/tmp/rec target/debug/examples/demo_accounts
//! cargo run -p lockgraph-cli -- check /tmp/rec      # exit status 1
//! ```
#![forbid(unsafe_code)]

/// An account, with its balance behind its own lock.
struct Account {
    balance: lockgraph::Mutex<i64>,
}

impl Account {
    fn new(balance: i64) -> Account {
        Account {
            // One creation site: one class for every account.
            balance: lockgraph::Mutex::new(balance),
        }
    }
}

/// Moves `amount` from `from` to `to`, locking `from` first.
fn transfer(from: &Account, to: &Account, amount: i64) {
    let mut a = from.balance.lock();
    let mut b = to.balance.lock();
    *a -= amount;
    *b += amount;
}

fn main() {
    let x = Account::new(10);
    let y = Account::new(10);
    transfer(&x, &y, 1);
    transfer(&y, &x, 1);
    println!(
        "transferred both ways (pid {}, tracking {})",
        std::process::id(),
        if lockgraph::TRACKING { "on" } else { "off" }
    );
}
