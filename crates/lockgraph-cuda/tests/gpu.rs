//! The cudarc back end where there is no CUDA driver: it says so instead of
//! panicking in the driver loader. (On a machine with a GPU,
//! `scripts/gpu-check.sh` runs the real checks.)
#![cfg(feature = "cudarc")]

use lockgraph_cuda::gpu::{driver_present, Context};
use lockgraph_cuda::Error;

#[test]
fn without_a_driver_the_gpu_back_end_returns_no_driver() {
    if driver_present() {
        return; // a GPU machine: scripts/gpu-check.sh covers it
    }
    match Context::new(0) {
        Err(e) => {
            assert_eq!(e, Error::NoDriver);
            assert!(e.to_string().contains("no CUDA driver"), "{e}");
        }
        Ok(_) => panic!("a context without a driver"),
    }
}
