#!/usr/bin/env bash
# The production recipe of docs/watchdog.md ("Running it in production"), end
# to end: an optimised build with `watchdog-in-release` and
# `debug = "line-tables-only"` (the workspace's `release-lines` profile), a
# real deadlock (examples/watchdog.rs: two threads, two locks, opposite
# orders), and the watchdog's report read the way an on-call engineer reads
# it. With line tables only, function names carry no module path, so the
# report must tell the program's frames from lockgraph's by their source
# file (`report/frames.rs`): each waiter's stack must show the example's own
# line, and no frame of lockgraph, lock_api or parking_lot. Then the same
# binary stripped: its report must say that it has no symbols.
#
#   bash scripts/production-stacks.sh     (one to three minutes on 2 cores: the build)
#
# Exit status: 0 the report is as described; 1 it is not (the report is
# printed); 2 the build failed, or the strip tool is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
# LOCKGRAPH_STACKS_PROFILE names another profile with the same settings:
# .ci/run gives its release profile line tables (CARGO_PROFILE_RELEASE_DEBUG)
# and names it, so that this build reuses its release steps' artifacts.
# Read before the program's variables are cleared below.
profile=${LOCKGRAPH_STACKS_PROFILE:-release-lines}
for v in $(compgen -e); do
  case "$v" in RUST_BACKTRACE | RUST_LIB_BACKTRACE | LOCKGRAPH_*) unset "$v" ;; esac
done

cargo build -q --profile "$profile" --features watchdog-in-release --example watchdog ||
  { echo "production-stacks: the build failed"; exit 2; }
target=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
exe="$target/$profile/examples/watchdog"

set +e
out=$(timeout 60 "$exe" 2>&1)
rc=$?
set -e

fail() {
  printf '%s\n' "$out"
  echo "production-stacks: $*"
  exit 1
}

# The example ends by the watchdog's abort (SIGABRT: 134).
[ "$rc" -eq 134 ] || fail "the example exited with $rc, not 134 (the watchdog's abort)"
grep -q 'DEADLOCK: 2 threads wait for each other on Mutex `accounts` and Mutex `audit`' <<<"$out" ||
  fail "no deadlock report"

# Each "its stack while waiting:" section: its frame lines (deeper indent).
python3 - "$out" "$(pwd)" <<'EOF' || fail "the waiters' stacks are not the program's (see above)"
import re, sys
lines = sys.argv[1].splitlines()
root = sys.argv[2].rstrip("/") + "/"
sections = []
for i, l in enumerate(lines):
    if l.strip() == "its stack while waiting:":
        indent = len(l) - len(l.lstrip())
        frames = []
        for f in lines[i + 1:]:
            if len(f) - len(f.lstrip()) <= indent:
                break
            frames.append(f.strip())
        sections.append(frames)
bad = False
if len(sections) != 2:
    print(f"expected 2 waiter stacks, found {len(sections)}")
    bad = True
# A lock library's frame: lockgraph's by its name (a frame may have no
# file) or by a file of this checkout outside examples/; the lock crates'
# and the unwinder's by their registry directories.
libs = re.compile(r"lock_api-|parking_lot-|parking_lot_core-|backtrace-")
def a_library_frame(f):
    m = re.match(r"(.*?)(?: \((.*):\d+\))?$", f)
    name, file = m.group(1), m.group(2) or ""
    if "lockgraph" in name or libs.search(file):
        return True
    return file.startswith(root) and not file.startswith(root + "examples/")
for frames in sections:
    if not any(re.search(r"\(.*examples/watchdog\.rs:\d+\)$", f) for f in frames):
        print(f"no frame at examples/watchdog.rs:LINE in {frames}")
        bad = True
    for f in frames:
        if a_library_frame(f):
            print(f"a lock library's frame in a waiter's stack: {f}")
            bad = True
sys.exit(1 if bad else 0)
EOF
echo "production-stacks: ok: an optimised build with line tables only reports the deadlock with each waiter's own line"
grep -A1 'its stack while waiting:' <<<"$out" | grep -v -- '--' | sed 's/^/  /'

# The same binary stripped (the `strip` tool, as `strip = true` would): no
# frame can be named, and the report must say why in the text and in the
# JSON written to the dump directory, not leave the stacks out in silence.
command -v strip >/dev/null 2>&1 ||
  { echo "production-stacks: the strip tool (binutils) is missing: the stripped-binary check cannot run"; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$exe" "$work/watchdog-stripped"
strip "$work/watchdog-stripped"
set +e
out=$(LOCKGRAPH_DUMP_DIR="$work/dumps" timeout 60 "$work/watchdog-stripped" 2>&1)
rc=$?
set -e
[ "$rc" -eq 134 ] || fail "the stripped example exited with $rc, not 134 (the watchdog's abort)"
grep -q 'no program frames could be resolved: this binary has no symbols' <<<"$out" ||
  fail "the stripped binary's report does not say that it has no symbols"
# Both threads wait: their own stacks (empty) are said so where they would
# be, and neither is signalled for its current stack.
grep -A1 'its stack while waiting:' <<<"$out" | grep -q 'this binary has no symbols' ||
  fail "the stripped binary's waiters' stacks are not said to have no symbols"
if grep -q 'now at (its current stack)' <<<"$out"; then
  fail "the stripped binary's waiters were signalled for their current stacks"
fi
grep -qs 'reason":"no symbols: the binary was stripped"' "$work"/dumps/* ||
  fail "the stripped binary's JSON report gives no reason for its empty stacks ($work/dumps: $(ls "$work/dumps" 2>&1))"
echo "production-stacks: ok: the same binary stripped says, in text and JSON, that it has no symbols"
