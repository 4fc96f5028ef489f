#!/usr/bin/env python3
"""The MSRV check of .ci/run: no package lockgraph builds declares a newer Rust.

Reads `cargo metadata` (the locked dependency graph, all features, every
target platform, cfg(loom) included) and fails when any package reachable
from the workspace members declares a `rust-version` above the workspace's
own. Two graphs are checked:

* normal (and build) dependencies of the workspace members, followed
  transitively: what a user of the published crates compiles;
* the same plus the members' dev-dependencies: what a contributor compiles
  for `cargo test`, the examples and the benches.

Both must fit, so a toolchain at the declared `rust-version` builds the
crates and runs their tests. A package that declares no `rust-version` cannot
be checked by its `rust-version`; its edition still bounds it from below
(2024 needs Rust 1.85, 2021 1.56), and that bound is checked instead; such
packages are listed. The standard-library APIs
our own code calls are checked separately, by clippy's `incompatible_msrv`
lint (on by default) in the clippy step, which reads the same `rust-version`.

Usage: python3 .ci/msrv-check.py [metadata.json]   (default: runs cargo)
Exit 0: all fit; 1: some package needs a newer Rust; 2: bad input.
"""

import json
import subprocess
import sys


def version(text):
    """'1.88' or '1.88.0' -> (1, 88, 0)."""
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


# The first Rust release of each edition.
EDITION_RUST = {"2015": "1.0", "2018": "1.31", "2021": "1.56", "2024": "1.85"}


def needs(pkg):
    """The Rust a package declares it needs: its rust-version, else what its
    edition implies. Returns (version text, how we know)."""
    if pkg["rust_version"]:
        return pkg["rust_version"], "rust-version"
    return EDITION_RUST.get(pkg["edition"], "1.0"), f"edition {pkg['edition']}"


def reachable(members, nodes, member_kinds):
    """Package ids reachable from `members`: the members' own edges of
    `member_kinds`, then normal and build edges only (a dependency's
    dev-dependencies are never built by its users)."""
    seen = set()
    stack = list(members)
    while stack:
        pkg = stack.pop()
        if pkg in seen:
            continue
        seen.add(pkg)
        kinds_here = member_kinds if pkg in members else (None, "build")
        for dep in nodes[pkg]["deps"]:
            if any(k["kind"] in kinds_here for k in dep["dep_kinds"]):
                stack.append(dep["pkg"])
    return seen


def main():
    if len(sys.argv) > 1:
        with open(sys.argv[1], encoding="utf-8") as f:
            meta = json.load(f)
    else:
        out = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--all-features"],
            check=True,
            stdout=subprocess.PIPE,
        ).stdout
        meta = json.loads(out)

    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    members = set(meta["workspace_members"])

    ours = {packages[m]["rust_version"] for m in members}
    if len(ours) != 1 or None in ours:
        names = ", ".join(
            f"{packages[m]['name']}={packages[m]['rust_version']}" for m in sorted(members)
        )
        print(f"msrv-check: the workspace members must share one rust-version: {names}")
        return 2
    msrv_text = ours.pop()
    msrv = version(msrv_text)

    normal = reachable(members, nodes, (None, "build"))
    everything = reachable(members, nodes, (None, "build", "dev"))

    failed = False
    unknown = []
    for label, ids in (
        ("normal dependencies of the published crates", normal),
        ("dev-dependencies (tests, examples, benches)", everything - normal),
    ):
        deps = [packages[i] for i in ids if i not in members]
        newest = max(deps, key=lambda p: version(needs(p)[0]), default=None)
        too_new = sorted(
            (p["name"], p["version"]) + needs(p)
            for p in deps
            if version(needs(p)[0]) > msrv
        )
        unknown += sorted(f"{p['name']} {p['version']}" for p in deps if not p["rust_version"])
        if newest is not None:
            print(
                f"msrv-check: {len(deps)} packages in the {label}; the highest Rust declared: "
                f"{needs(newest)[0]} ({newest['name']} {newest['version']})"
            )
        for name, ver, rv, why in too_new:
            failed = True
            print(f"msrv-check: {name} {ver} needs Rust {rv} ({why}), above our rust-version {msrv_text}")
    if unknown:
        print(
            f"msrv-check: {len(unknown)} packages declare no rust-version (checked by their edition): "
            + ", ".join(unknown)
        )
    if failed:
        print(
            "msrv-check: FAILED. Raise rust-version in Cargo.toml to what the dependencies need, "
            "or lock older versions: with `resolver = \"3\"` (MSRV-aware), "
            "`cargo update -p <package>` picks the newest version that fits."
        )
        return 1
    print(f"msrv-check: every package fits rust-version {msrv_text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
