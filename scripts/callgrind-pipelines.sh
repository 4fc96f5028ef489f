#!/usr/bin/env bash
# Instructions per iteration of each row of benches/pipelines.rs under
# callgrind: two runs of the bench binary, N and 2N iterations of one row
# after the same setup, (Ir(2N) - Ir(N)) / N, main thread only. Counts do
# not move with the machine's load; times do. See docs/pipelines.md (Cost).
#
#   bash scripts/callgrind-pipelines.sh [BIN]
#
# BIN: an already built pipelines bench binary (else it is built, release,
# with track-in-release, crossbeam and tokio).
set -euo pipefail
cd "$(dirname "$0")/.."
for v in $(compgen -e); do
  case "$v" in RUST_BACKTRACE | RUST_LIB_BACKTRACE | LOCKGRAPH_*) unset "$v" ;; esac
done
command -v valgrind >/dev/null || { echo "callgrind-pipelines.sh: valgrind is missing"; exit 1; }
bin=${1:-}
if [ -z "$bin" ]; then
  bin=$(cargo bench --no-run --bench pipelines --features track-in-release,crossbeam,tokio \
    --message-format=json 2>/dev/null | grep '"name":"pipelines"' |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
fi
[ -x "$bin" ] || { echo "callgrind-pipelines.sh: no bench binary"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ir() {
  rm -f "$work"/cg*
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$work/cg" \
    "$@" >"$work/run.log" 2>&1 || { cat "$work/run.log" >&2; exit 1; }
  sed -n 's/^totals: //p' "$work/cg-01"
}
n=20000
printf '%-10s %8s %10s %6s\n' row plain lockgraph ratio
for row in mpsc mpsc-held semaphore crossbeam tokio; do
  declare -A c=()
  for imp in plain lockgraph; do
    a=$(ir "$bin" --callgrind "$row" "$imp" "$n") || exit 1
    b=$(ir "$bin" --callgrind "$row" "$imp" $((2 * n))) || exit 1
    c[$imp]=$(awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf "%d", (b - a) / n + 0.5 }')
  done
  printf '%-10s %8s %10s %5.2fx\n' "$row" "${c[plain]}" "${c[lockgraph]}" \
    "$(awk -v p="${c[plain]}" -v l="${c[lockgraph]}" 'BEGIN { print l / p }')"
done
