#!/usr/bin/env bash
# The plain-loop benchmark (benches/plain.rs), timed, the way docs/cost.md
# quotes it: builds parking_lot with its deadlock_detection feature as the
# separate binary the benchmark drives (benches/pl-deadlock-detection, a
# crate outside the workspace: Cargo would otherwise turn the feature on for
# every parking_lot lock in the benchmark), then runs the benchmark built
# with track-in-release (every row) and with watchdog-in-release (the lean
# production mode's rows).
#
#   bash scripts/bench-plain.sh              both builds
#   bash scripts/bench-plain.sh tracked      the track-in-release build only
#   bash scripts/bench-plain.sh lean         the watchdog-in-release build only
#
# The environment is cleared of RUST_BACKTRACE, RUST_LIB_BACKTRACE and
# LOCKGRAPH_* first, as scripts/callgrind.sh does. Times move with the
# machine's load (the benchmark prints the load average); instruction
# counts do not: scripts/callgrind.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

which=${1:-both}
case "$which" in
  both | tracked | lean) ;;
  *) echo "bench-plain.sh: unknown argument '$which' (expected tracked, lean or both)"; exit 1 ;;
esac

for v in $(compgen -e); do
  case "$v" in
    LOCKGRAPH_BENCH_*) ;;
    RUST_BACKTRACE | RUST_LIB_BACKTRACE | LOCKGRAPH_*) unset "$v" ;;
  esac
done

target=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
cargo build -q --release --manifest-path benches/pl-deadlock-detection/Cargo.toml \
  --target-dir "$target/pl-deadlock-detection"
export LOCKGRAPH_BENCH_PL_DD="$target/pl-deadlock-detection/release/pl-deadlock-detection"

if [ "$which" != lean ]; then
  cargo bench -q --features track-in-release --bench plain
fi
if [ "$which" != tracked ]; then
  echo
  cargo bench -q --features watchdog-in-release --bench plain
fi
