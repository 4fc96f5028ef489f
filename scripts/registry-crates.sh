#!/usr/bin/env bash
# Real crates from crates.io, their own unit tests run with lockgraph in place
# of parking_lot. Nothing of theirs is kept in this repository: the script
# has cargo fetch each pinned version into the registry, copies the package
# under target/registry-crates/, and renames its `parking_lot` dependency to
# lockgraph (`parking_lot = { package = "lockgraph", path = ... }`), so that
# every `parking_lot::Mutex` / `RwLock` of the crate is lockgraph's and not a
# line of its code changes. Each crate's tests run twice:
#
#   debug, the lock-order graph on, every edge recorded (LOCKGRAPH_RECORD),
#   then `lockgraph check` on the records: a cycle fails the script, and so
#   does a run that recorded no lock class (tracking would not have been on);
#
#   release with `watchdog-in-release` and LOCKGRAPH_WATCHDOG=5s: the lean
#   production mode, the watchdog on.
#
# The crates (name, version, cargo test arguments):
#   moka 0.12.16 (--features sync): a concurrent cache whose sync cache,
#     key locks, housekeeper and invalidator nest parking_lot locks;
#   quick_cache 0.6.24: a sharded cache, one parking_lot RwLock per shard;
#   r2d2 0.8.10: a connection pool, a Mutex and a Condvar its getters wait
#     on (its test `events` is skipped: it fails 3 runs in 5 on parking_lot
#     itself, a race between the pool's threads and the test's events);
#   scheduled-thread-pool 0.2.8: r2d2's worker pool, a Mutex and a Condvar;
#     it asks for parking_lot 0.13, and the surface it uses is 0.12's too;
#   prometheus 0.14.0: metric registries and vectors behind RwLocks;
#   tracing-subscriber 0.3.23 (--features parking_lot): its registry and
#     filters' RwLocks (two tests skipped: they expect the file paths of a
#     build inside tracing's own workspace, which a registry copy is not);
#   tokio 1.54.1 (--features full,parking_lot,test-util): with that feature
#     the runtime's own mutexes, rwlocks and condvars (schedulers, drivers,
#     blocking pool) are parking_lot's; its unit tests and ten of its
#     integration test files (runtime, sync, tasks, time);
#   stretto 0.9.0: a concurrent cache (Ristretto's design), a parking_lot
#     RwLock per shard of its store. Its debug run prints a real potential
#     deadlock, once (on two shards: a printed self-deadlock is said once
#     per lock class and pair of sites): `Cache::get_ttl` keeps the read guard
#     that `store.get` returns (in the `ValueRef` its closure takes as `_`,
#     dropped only when the closure returns) while `store.expiration`
#     read-locks the same shard again; a writer queued between the two
#     reads (an insert into that shard) blocks the second one, and waits
#     for the first: parking_lot's RwLock is fair. Its tests have no such
#     writer, so they pass;
#   flurry 0.5.2 (all its unit and integration tests): a concurrent hash
#     map (Java's ConcurrentHashMap ported), a parking_lot Mutex per bin
#     head and per tree bin, taken by inserts, removes and resizes from
#     many threads; its cuckoo stress test takes the map's bin locks
#     holding its own parking_lot Mutexes;
#   cached 4.1.0 (its unit tests and tests/cached.rs, whose trybuild
#     compile-fail tests are skipped): sharded stores, a parking_lot RwLock
#     per shard, and the caches `#[cached]` makes, a Mutex or RwLock in a
#     static; with `sync_writes = "by_key"` a bucket Mutex is held while the
#     store's lock is taken;
#   salsa 0.27.1 (its unit tests and tests/parallel): the incremental
#     computation framework; a thread that needs a query another thread
#     is computing takes the runtime's dependency-graph Mutex under the
#     query's sync-table Mutex, and waits on a Condvar with it; interned
#     values sit in Mutex shards held while the table's page Mutex is
#     taken. Its parallel tests run queries, cycles and cancellations
#     across threads. The last salsa that asks for parking_lot 0.12 (0.28
#     asks for 0.13);
#   tracing-mutex 0.3.3 (--features parking_lot): a lock-order checker of
#     its own, whose parking_lot locks are lock_api's over its wrappers of
#     parking_lot's raw locks (RawMutex, RawFairMutex, RawRwLock), here
#     lockgraph's: each lock is tracked by both, anonymous to lockgraph (a
#     raw lock has no creation site). Its three-lock cycle test panics in
#     tracing-mutex before the closing request reaches lockgraph, which
#     records the other two edges. Its test_panic_with_cycle (std's
#     LazyLock) is skipped: it expects tracing-mutex's checks, which a
#     release build leaves out, and fails the lean run on parking_lot too.
#
# Deadlock reports printed while a crate's tests run (potential deadlocks
# found at run time, which no record file holds: a second read of a
# read-held lock, say) are counted at the end of each debug run; a crate
# that prints another number than the one above (none, but for stretto)
# fails the script.
#
#   bash scripts/registry-crates.sh                  every crate, both runs (about 35 minutes on 2 cores)
#   bash scripts/registry-crates.sh moka             the named ones only
#   bash scripts/registry-crates.sh --debug-only moka r2d2   the debug runs only (CI: about 2 minutes)
#
# Needs crates.io (the crates and their dependencies; their own dependency
# versions are resolved when the script runs, as `cargo test` in their
# repository would). Exit status: 0 all passed and no cycle, 1 a test
# failed or a cycle was found, 2 the script could not set a crate up or
# was given a crate it does not know.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TERM_COLOR=never

crates=(
  "moka 0.12.16 --features sync --lib"
  "quick_cache 0.6.24 --lib"
  "r2d2 0.8.10 --lib -- --skip test::events"
  "scheduled-thread-pool 0.2.8 --lib"
  "prometheus 0.14.0 --lib"
  "tracing-subscriber 0.3.23 --features parking_lot --lib -- --skip fmt::format::test::with_filename --skip fmt::format::test::with_line_number_and_file_name"
  "tokio 1.54.1 --features full,parking_lot,test-util --lib --test rt_common --test rt_threaded --test rt_handle_block_on --test sync_mutex --test sync_rwlock --test sync_notify --test sync_broadcast --test sync_mpsc --test task_join_set --test time_sleep"
  "stretto 0.9.0 --lib"
  "flurry 0.5.2 --lib --tests"
  "cached 4.1.0 --lib --test cached -- --skip compile_fail"
  "salsa 0.27.1 --lib --test parallel"
  "tracing-mutex 0.3.3 --features parking_lot --lib -- --skip stdsync::tracing::lazy_lock::tests::test_panic_with_cycle"
)

die() {
  echo "registry-crates: $*" >&2
  exit 2
}

case "${1:-}" in
  -h|--help)
    # The header comment above, without its `#`s, is the usage.
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0 ;;
esac
lean=1
if [ "${1:-}" = "--debug-only" ]; then
  lean=0
  shift
fi
if [ "$#" -gt 0 ]; then
  chosen=()
  for want in "$@"; do
    found=""
    for entry in "${crates[@]}"; do
      [ "${entry%% *}" = "$want" ] && found=$entry
    done
    [ -n "$found" ] || die "unknown crate '$want' (known: ${crates[*]%% *})"
    chosen+=("$found")
  done
  crates=("${chosen[@]}")
fi

for v in $(compgen -e); do
  case "$v" in LOCKGRAPH_*) unset "$v" ;; esac
done

target=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
work="$target/registry-crates"
mkdir -p "$work"
cargo build -q -p lockgraph-cli --bin lockgraph
lockgraph="$target/debug/lockgraph"

# fetch NAME VERSION: the registry directory of that package.
fetch() {
  local dir="$work/fetch-$1"
  mkdir -p "$dir/src"
  printf '[package]\nname = "fetch-%s"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\n%s = "=%s"\n\n[workspace]\n' \
    "$1" "$1" "$2" >"$dir/Cargo.toml"
  : >"$dir/src/lib.rs"
  cargo metadata --format-version 1 --manifest-path "$dir/Cargo.toml" |
    grep -o "\"manifest_path\":\"[^\"]*/$1-$2/Cargo.toml\"" | head -1 |
    sed 's/"manifest_path":"\(.*\)\/Cargo.toml"/\1/'
}

failed=0
for entry in "${crates[@]}"; do
  read -r name version args <<<"$entry"
  src=$(fetch "$name" "$version") || die "cannot fetch $name $version"
  [ -n "$src" ] && [ -f "$src/Cargo.toml" ] || die "no registry copy of $name $version"
  pkg="$work/$name"
  rm -rf "$pkg"
  cp -r "$src" "$pkg"
  chmod -R u+w "$pkg"
  # A toolchain the package pins (cached's and salsa's rust-toolchain.toml
  # name 1.96) is not asked for: its tests build with lockgraph's toolchain.
  rm -f "$pkg/rust-toolchain" "$pkg/rust-toolchain.toml"
  # The parking_lot dependency becomes lockgraph under the same name.
  python3 - "$pkg/Cargo.toml" "$root" <<'EOF' || die "cannot rewrite $name's manifest"
import re, sys
path, root = sys.argv[1], sys.argv[2]
s = open(path).read()
s, n = re.subn(r'(\[dependencies\.parking_lot\]\n)version = "[^"]*"\n',
               r'\1package = "lockgraph"\npath = "%s"\n' % root, s)
if n != 1:
    sys.exit("registry-crates: no [dependencies.parking_lot] with a version in " + path)
open(path, "w").write(s + "\n# Its own workspace (it sits inside lockgraph's target directory).\n[workspace]\n")
EOF
  echo
  echo "== $name $version: cargo test $args (debug: the lock-order graph on, edges recorded)"
  rec="$work/$name-records"
  rm -rf "$rec"
  mkdir -p "$rec"
  log="$work/$name-debug.log"
  # shellcheck disable=SC2086 # the arguments are split on purpose
  if ! (cd "$pkg" && CARGO_TARGET_DIR="$work/target" LOCKGRAPH_RECORD="$rec" cargo test -q $args) 2>&1 |
      tee "$log"; then
    echo "registry-crates: $name's tests failed with lockgraph (debug)"
    failed=1
  fi
  # Run-time reports: known in one crate (the header says which and why).
  seen=$({ grep -o 'lockgraph: \(potential \)\{0,1\}deadlock' "$log" || true; } | wc -l)
  expected=0
  [ "$name" = stretto ] && expected=1
  echo "registry-crates: $name: $seen deadlock report(s) printed at run time (expected $expected)"
  if [ "$seen" -ne "$expected" ]; then
    failed=1
  fi
  set +e
  out=$("$lockgraph" check "$rec" 2>&1)
  rc=$?
  set -e
  printf '%s\n' "$out"
  classes=$(sed -n 's/.* \([0-9][0-9]*\) lock classes\{0,1\}.*/\1/p' <<<"$out" | tail -1)
  if [ "$rc" -ne 0 ]; then
    echo "registry-crates: lockgraph check on $name's records: exit $rc"
    failed=1
  elif [ -z "$classes" ] || [ "$classes" -eq 0 ]; then
    echo "registry-crates: $name's tests recorded no lock class: lockgraph was not in use"
    failed=1
  fi

  [ "$lean" -eq 1 ] || continue
  echo
  echo "== $name $version: cargo test --release $args (the lean production mode: watchdog-in-release, LOCKGRAPH_WATCHDOG=5s)"
  # shellcheck disable=SC2086
  if ! (cd "$pkg" && CARGO_TARGET_DIR="$work/target" LOCKGRAPH_WATCHDOG=5s \
      cargo test -q --release --features parking_lot/watchdog-in-release $args); then
    echo "registry-crates: $name's tests failed with lockgraph (lean mode)"
    failed=1
  fi
done
exit "$failed"
