#!/usr/bin/env bash
# lockgraph-cuda's cudarc back end on a real GPU: scenarios 1, 2 and 5 (real
# host functions, real synchronizes; lockgraph must report each deadlock
# before it blocks) and one stream/host race. See docs/cuda.md.
#
#   bash scripts/gpu-check.sh
#
# Builds the CUDA crate with the cudarc back end (dynamic loading: it builds
# without CUDA), runs the deadlock checks on the simulated back end first
# (the checks themselves), then every check on GPU 0. Each check is its own
# process under a timeout, so a deadlock lockgraph missed fails its step
# instead of hanging the script. Under 5 minutes on a warm build (each
# check takes seconds; the timeouts bound the worst case at 7 x 30 s).
#
# Exit status:
#   0  every check passed on the GPU
#   1  the build or a check failed, or a check timed out
#   3  skipped: no CUDA driver (or no usable device) here; the build and the
#      simulated runs passed
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
STEP_TIMEOUT=${GPU_CHECK_STEP_TIMEOUT:-30}

step() { printf '\n==> %s\n' "$*"; }

step "build: lockgraph-cuda with the cudarc back end (tests and examples)"
cargo build -p lockgraph-cuda --features cudarc --tests --examples || exit 1
target=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target/debug/examples/gpu_check"
[ -x "$bin" ] || { echo "gpu-check: $bin was not built"; exit 1; }

# check ARGS...: runs one check under the timeout; returns its exit status.
check() {
  timeout -k 5 "$STEP_TIMEOUT" "$bin" "$@"
  local rc=$?
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "gpu-check: 'gpu_check $*' timed out after ${STEP_TIMEOUT}s: a deadlock was not reported before it blocked"
  fi
  return "$rc"
}

step "the deadlock checks on the simulated back end"
for s in s1 s2 s5; do
  check --sim "$s" || { echo "gpu-check: FAILED: gpu_check --sim $s"; exit 1; }
done

step "the checks on GPU 0 (cudarc back end)"
for c in s1 s2 s5 race; do
  check "$c"
  rc=$?
  if [ "$rc" -eq 3 ]; then
    echo
    echo "gpu-check: SKIPPED (exit 3): no CUDA driver or no usable GPU on this machine;"
    echo "           the cudarc back end built and the checks passed on the simulated back end."
    exit 3
  fi
  [ "$rc" -eq 0 ] || { echo "gpu-check: FAILED: gpu_check $c (exit $rc)"; exit 1; }
done
echo
echo "gpu-check: scenarios 1, 2, 5 and the race passed on the GPU"
