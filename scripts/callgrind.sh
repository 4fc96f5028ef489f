#!/usr/bin/env bash
# Instructions per iteration of each plain-loop row (benches/plain.rs), under
# callgrind: each count is two runs of the same binary, N and 2N iterations
# of one row after the same setup, and (Ir(2N) - Ir(N)) / N, counted on the
# main thread only (a watchdog thread's periodic scans are not the lock
# path). Instruction counts do not move with the machine's load; times do.
# See docs/cost.md.
#
#   bash scripts/callgrind.sh            the table (release builds; a few minutes)
#   bash scripts/callgrind.sh --twice    every count measured twice, and compared
#   bash scripts/callgrind.sh --smoke    a quick check that the script works (CI)
#
# Columns: parking_lot; lockgraph with track-in-release; tracing-mutex 0.3.3
# (stdsync); lockgraph in a release build without features (tracking compiled
# out: must equal parking_lot); lockgraph with the lock-order graph off, the
# atomicity checker on, the watchdog on (all in the track-in-release build);
# lockgraph built with watchdog-in-release, watchdog on (the graph off: the
# lean production mode); parking_lot with its deadlock_detection feature (a
# separate binary, benches/pl-deadlock-detection, outside the workspace:
# Cargo would otherwise turn the feature on for every parking_lot lock).
#
# The environment is cleared of RUST_BACKTRACE, RUST_LIB_BACKTRACE and
# LOCKGRAPH_* (tracing-mutex captures a backtrace per new edge when
# RUST_BACKTRACE is set; lockgraph reads its settings from LOCKGRAPH_*).
# valgrind is installed with apt-get when missing.
#
# Exit status: 0 the counts were printed (and, with --twice or --smoke,
# repeated: exactly, or within one instruction or 0.1% where randomly seeded
# hash maps are on the row's path); 1 a build, a run or a comparison failed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

mode=full
case "${1:-}" in
  "") ;;
  --twice) mode=twice ;;
  --smoke) mode=smoke ;;
  *) echo "callgrind.sh: unknown argument '$1' (expected --twice or --smoke)"; exit 1 ;;
esac

for v in $(compgen -e); do
  case "$v" in
    LOCKGRAPH_BENCH_*) ;;
    RUST_BACKTRACE | RUST_LIB_BACKTRACE | LOCKGRAPH_*) unset "$v" ;;
  esac
done

if ! command -v valgrind >/dev/null 2>&1; then
  echo "callgrind.sh: valgrind is missing; installing it with apt-get"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "callgrind.sh: no apt-get here: install valgrind by hand"; exit 1
  fi
  $sudo apt-get update -qq && $sudo apt-get install -y -qq valgrind >/dev/null
fi
echo "$(valgrind --version); $(rustc --version)"

target=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# build_plain FEATURES: builds benches/plain.rs (bench profile) and prints its path.
build_plain() {
  local feat=() exe
  [ -n "$1" ] && feat=(--features "$1")
  exe=$(cargo bench --no-run --bench plain "${feat[@]}" --message-format=json 2>"$work/build.log" |
    grep '"kind":\["bench"\]' | grep '"name":"plain"' |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1) || true
  if [ -z "$exe" ] || [ ! -x "$exe" ]; then
    cat "$work/build.log" >&2
    echo "callgrind.sh: building benches/plain.rs ($1) failed" >&2
    exit 1
  fi
  echo "$exe"
}

# ir BIN ARGS...: the main thread's instruction count of one run.
ir() {
  rm -f "$work"/cg*
  if ! valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$work/cg" \
      "$@" >"$work/run.log" 2>&1; then
    cat "$work/run.log" >&2
    echo "callgrind.sh: '$*' failed under valgrind" >&2
    exit 1
  fi
  local n
  n=$(sed -n 's/^totals: //p' "$work/cg-01")
  [ -n "$n" ] || { echo "callgrind.sh: no count in $work/cg-01" >&2; exit 1; }
  echo "$n"
}

# per_iter N BIN ARGS... (ARGS end with the row; N is appended): the count
# per iteration, (Ir(2N) - Ir(N)) / N, rounded to an integer.
per_iter() {
  local n=$1 a b
  shift
  a=$(ir "$@" "$n")
  b=$(ir "$@" $((2 * n)))
  awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf "%d\n", (b - a) / n + 0.5 }'
}

if [ "$mode" = smoke ]; then
  bin=$(build_plain track-in-release)
  "$bin" --check || { echo "callgrind.sh: the rows do not hold what they claim"; exit 1; }
  pl1=$(per_iter 200 "$bin" --callgrind parking_lot one)
  pl2=$(per_iter 200 "$bin" --callgrind parking_lot one)
  lg=$(per_iter 200 "$bin" --callgrind lockgraph one)
  echo "one lock: parking_lot $pl1 (again: $pl2), lockgraph $lg instructions per iteration"
  [ "$pl1" = "$pl2" ] || { echo "callgrind.sh: the count did not repeat"; exit 1; }
  [ "$pl1" -gt 0 ] && [ "$lg" -gt "$pl1" ] ||
    { echo "callgrind.sh: implausible counts (tracking must cost more than none)"; exit 1; }
  echo "callgrind.sh: smoke check passed"
  exit 0
fi

echo "building: benches/plain.rs with track-in-release, with watchdog-in-release, without features;"
echo "          benches/pl-deadlock-detection (parking_lot with deadlock_detection, a separate crate)"
tracked=$(build_plain track-in-release)
lean=$(build_plain watchdog-in-release)
off=$(build_plain "")
cargo build -q --release --manifest-path benches/pl-deadlock-detection/Cargo.toml \
  --target-dir "$target/pl-deadlock-detection"
dd="$target/pl-deadlock-detection/release/pl-deadlock-detection"

# Columns: heading, then the command before ROW N.
names=("parking_lot" "lockgraph" "tracing-mutex" "lockgraph, tracking compiled out"
  "lockgraph, graph off" "lockgraph, atomicity on" "lockgraph, watchdog on"
  "lockgraph watchdog-in-release" "pl deadlock_detection")
cmds=("$tracked --callgrind parking_lot" "$tracked --callgrind lockgraph"
  "$tracked --callgrind tracing-mutex" "$off --callgrind lockgraph"
  "$tracked --callgrind lockgraph+graph-off" "$tracked --callgrind lockgraph+atomicity"
  "$tracked --callgrind lockgraph+watchdog" "$lean --callgrind lockgraph+watchdog"
  "$dd --callgrind")
rows=(one pair chain8 churn2 churn1)
titles=("one lock, lock+unlock" "nested pair A then B, steady" "chain of 8 (one class)"
  "churn: 2 new locks of two classes" "churn: 2 new locks of ONE class")
# N per row: the one-class churn costs tens of thousands of instructions.
iters=(20000 20000 20000 20000 2000)

declare -A count
mismatch=0
near=0
for r in "${!rows[@]}"; do
  for c in "${!names[@]}"; do
    # shellcheck disable=SC2086 # the command is split on purpose
    x=$(per_iter "${iters[$r]}" ${cmds[$c]} "${rows[$r]}")
    if [ "$mode" = twice ]; then
      # shellcheck disable=SC2086
      y=$(per_iter "${iters[$r]}" ${cmds[$c]} "${rows[$r]}")
      if [ "$x" != "$y" ]; then
        # The churn rows hash every new lock into randomly seeded hash maps
        # (std's RandomState): their counts move by a few instructions in
        # tens of thousands. One instruction, or 0.1%, is the same count.
        if awk -v x="$x" -v y="$y" 'BEGIN { d = x - y; if (d < 0) d = -d; exit !(d <= 1 || d <= x / 1000) }'; then
          echo "repeated within max(1 instruction, 0.1%): ${rows[$r]} / ${names[$c]}: $x then $y"
          near=$((near + 1))
        else
          echo "NOT REPEATED: ${rows[$r]} / ${names[$c]}: $x then $y"
          mismatch=1
        fi
      fi
    fi
    count[$r,$c]=$x
  done
  printf '.' >&2
done
echo >&2

echo
echo "instructions per iteration, main thread (N and 2N iterations: ${iters[*]}); (x) = ratio to parking_lot"
header="workload"
for c in "${!names[@]}"; do header+="|${names[$c]}"; done
{
  echo "$header"
  for r in "${!rows[@]}"; do
    line="${titles[$r]}"
    pl=${count[$r,0]}
    for c in "${!names[@]}"; do
      v=${count[$r,$c]}
      if [ "$c" -eq 0 ]; then
        line+="|$v"
      else
        line+="|$(awk -v v="$v" -v p="$pl" 'BEGIN { printf "%d (%.1fx)", v, v / p }')"
      fi
    done
    echo "$line"
  done
} | column -t -s '|' -o ' | '
echo "(pl deadlock_detection is a separate binary, benches/pl-deadlock-detection: same rows, same macro)"

# Targets: issue 14 (track-in-release) and issue 17 (watchdog-in-release:
# at most 12 instructions per acquisition+release above parking_lot).
echo
echo "targets"
met=0
total=0
judge() { # ROW_INDEX COLUMN LIMIT TEXT
  local v=${count[$1,$2]} verdict=FAIL
  total=$((total + 1))
  if awk -v v="$v" -v l="$3" 'BEGIN { exit !(v <= l) }'; then verdict=PASS; met=$((met + 1)); fi
  printf '  %-34s %-31s %-31s %7s  %s\n' "${titles[$1]}" "${names[$2]}" "$4" "$v" "$verdict"
}
for spec in "0 3 #14: <= 3x parking_lot" "1 4 #14: <= 4x parking_lot" "2 4 #14: <= 4x parking_lot" \
    "3 10 #14: <= 10x parking_lot"; do
  read -r r k text <<<"$spec"
  judge "$r" 1 $((k * ${count[$r,0]})) "$text"
done
judge 4 1 1000 "#14: <= 1,000"
judge 0 7 $((${count[0,0]} + 12)) "#17: <= parking_lot + 12"
judge 1 7 $((${count[1,0]} + 24)) "#17: <= parking_lot + 2 x 12"
judge 2 7 $((${count[2,0]} + 96)) "#17: <= parking_lot + 8 x 12"
for r in 0 1 2 3 4; do
  [ "${count[$r,3]}" = "${count[$r,0]}" ] ||
    echo "  NOTE: ${titles[$r]}: tracking compiled out costs ${count[$r,3]}, parking_lot ${count[$r,0]}"
done
echo "$met of $total callgrind targets met"

if [ "$mode" = twice ]; then
  if [ "$mismatch" -ne 0 ]; then
    echo "callgrind.sh: some counts did not repeat"; exit 1
  fi
  echo "every count repeated on a second measurement: $((${#rows[@]} * ${#names[@]} - near)) exactly, $near within max(1 instruction, 0.1%)"
fi
