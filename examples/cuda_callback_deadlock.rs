//! A thread holds a lock and synchronizes a stream whose host function needs
//! that lock: reported (certain) before the synchronize blocks. Runs on the
//! simulated back end; the real wait is timed so the example ends.
//!
//! `cargo run --example cuda_callback_deadlock` (from the workspace root).

use std::sync::Arc;
use std::time::Duration;

use lockgraph::Mutex;
use lockgraph_cuda::sim::Context;
use lockgraph_cuda::HostFn;

fn main() {
    let ctx = Context::new(0).expect("a simulated context");
    let stream = ctx.new_stream("loader").expect("a stream");
    let arena = Arc::new(Mutex::named("allocator arena", ()));
    let guard = arena.lock();
    let a = arena.clone();
    stream
        .launch_host_fn(HostFn::new(move || drop(a.lock())).locks(&arena))
        .expect("enqueue");
    // The report is printed here (LOCKGRAPH_ON_CYCLE=warn by default).
    let r = stream.synchronize_timeout(Duration::from_millis(500));
    println!("synchronize while holding the lock: {r:?}");
    drop(guard);
    stream.synchronize().expect("synchronize");
    println!("after releasing the lock the stream drains");
}
