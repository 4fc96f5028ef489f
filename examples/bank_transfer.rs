//! The bank-transfer ABBA from the brief: `transfer(a, b)` locks the source
//! account, then the destination. Two transfers in opposite directions can
//! deadlock. lockgraph reports it the first time both orders have occurred,
//! although this run never hangs (the transfers run one after the other).
//!
//! Run: `cargo run --example bank_transfer`

use std::sync::Arc;
use std::thread;

use lockgraph::Mutex;

struct Account {
    id: u32,
    balance: Mutex<i64>,
}

fn transfer(from: &Account, to: &Account, amount: i64) {
    let mut src = from.balance.lock();
    let mut dst = to.balance.lock();
    *src -= amount;
    *dst += amount;
    println!("moved {amount} from account {} to {}", from.id, to.id);
}

fn main() {
    if !lockgraph::TRACKING {
        eprintln!("note: tracking is off in this build (release without track-in-release)");
    }
    let alice = Arc::new(Account {
        id: 1,
        balance: Mutex::new(100),
    });
    let bob = Arc::new(Account {
        id: 2,
        balance: Mutex::new(50),
    });

    let (a, b) = (Arc::clone(&alice), Arc::clone(&bob));
    thread::Builder::new()
        .name("payroll".into())
        .spawn(move || transfer(&a, &b, 10))
        .unwrap()
        .join()
        .unwrap();

    let (a, b) = (Arc::clone(&alice), Arc::clone(&bob));
    thread::Builder::new()
        .name("refunds".into())
        .spawn(move || transfer(&b, &a, 5))
        .unwrap()
        .join()
        .unwrap();

    println!(
        "balances: alice {} bob {}",
        alice.balance.lock(),
        bob.balance.lock()
    );
}
