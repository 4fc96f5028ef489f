//! Synthetic record files, shared by the integration tests and the
//! library's unit tests (`src/fuzz_tests.rs` includes this file).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// A lock class as the runtime writes it, from its class id.
pub fn class(id: &str) -> Value {
    if let Some(name) = id.strip_prefix("name:") {
        json!({ "class": id, "name": name, "kind": "Mutex", "site": null })
    } else if let Some(rest) = id.strip_prefix("site:") {
        // `file:line:col`, then the protected type's name when the id has
        // one (`site:src/a.rs:4:28:u64`, as the runtime writes `new` locks).
        let parts: Vec<&str> = rest.split(':').collect();
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let site = (1..parts.len().saturating_sub(1))
            .find(|&i| digits(parts[i]) && digits(parts[i + 1]))
            .map_or(rest.to_string(), |i| parts[..i + 2].join(":"));
        json!({ "class": id, "name": null, "kind": "RwLock", "site": site })
    } else {
        json!({ "class": id, "name": null, "kind": "Mutex", "site": null })
    }
}

/// An edge line with sensible defaults; adjust it with the builder methods.
#[derive(Clone)]
pub struct Edge(pub Value);

/// `from -> to` (class ids; a bare word means `name:word`), exclusive,
/// no gates, thread `main`, pid 1.
pub fn edge(from: &str, to: &str) -> Edge {
    let id = |s: &str| {
        if s.contains(':') {
            s.to_string()
        } else {
            format!("name:{s}")
        }
    };
    let (from, to) = (id(from), id(to));
    Edge(json!({
        "type": "edge",
        "from": class(&from),
        "to": class(&to),
        "hold": "exclusive",
        "request": "exclusive",
        "gates": [],
        "thread": "main",
        "pid": 1,
        "exe": "/bin/app",
        "held_at": format!("src/{}.rs:10:5", from.replace([':', '/'], "_")),
        "requested_at": format!("src/{}.rs:11:9", from.replace([':', '/'], "_")),
        "backtrace": ["app::work (src/app.rs:11)", "app::main (src/main.rs:3)"],
    }))
}

impl Edge {
    pub fn set(mut self, key: &str, v: Value) -> Edge {
        self.0[key] = v;
        self
    }

    pub fn thread(self, t: &str) -> Edge {
        self.set("thread", json!(t))
    }

    pub fn pid(self, pid: u64) -> Edge {
        self.set("pid", json!(pid))
    }

    pub fn modes(self, hold: &str, request: &str) -> Edge {
        self.set("hold", json!(hold)).set("request", json!(request))
    }

    pub fn gates(self, gates: &[&str]) -> Edge {
        self.set("gates", json!(gates))
    }

    /// The kind of its `side` (`"from"` or `"to"`): `Stream`, `Queue`.
    pub fn kind(mut self, side: &str, kind: &str) -> Edge {
        self.0[side]["kind"] = json!(kind);
        self
    }

    pub fn sites(self, held: &str, requested: &str) -> Edge {
        self.set("held_at", json!(held))
            .set("requested_at", json!(requested))
    }

    pub fn line(&self) -> String {
        self.0.to_string()
    }
}

/// A `cycle` line: a cycle the runtime found (`docs/record-format.md`).
#[derive(Clone)]
pub struct Cycle(pub Value);

/// A cycle through `locks` (class ids, as [`edge`] takes them; one lock
/// entry each), edge `i` from lock `i` to the next taken at `sites[i]`
/// (held at, requested at), edge 0 closing it; level `instance`, thread
/// `main`, pid 1.
pub fn cycle(locks: &[&str], sites: &[(&str, &str)]) -> Cycle {
    let id = |s: &str| {
        if s.contains(':') {
            s.to_string()
        } else {
            format!("name:{s}")
        }
    };
    let locks: Vec<Value> = locks
        .iter()
        .map(|l| {
            let mut c = class(&id(l));
            c["count"] = json!(1);
            c
        })
        .collect();
    let edges: Vec<Value> = sites
        .iter()
        .map(|(held, requested)| {
            json!({
                "hold": "exclusive",
                "request": "exclusive",
                "thread": "main",
                "held_at": held,
                "requested_at": requested,
                "count": 1,
            })
        })
        .collect();
    Cycle(json!({
        "type": "cycle",
        "level": "instance",
        "locks": locks,
        "edges": edges,
        "pid": 1,
        "exe": "/bin/app",
    }))
}

impl Cycle {
    pub fn set(mut self, key: &str, v: Value) -> Cycle {
        self.0[key] = v;
        self
    }

    pub fn pid(self, pid: u64) -> Cycle {
        self.set("pid", json!(pid))
    }

    /// Every edge's thread.
    pub fn thread(mut self, t: &str) -> Cycle {
        if let Some(edges) = self.0["edges"].as_array_mut() {
            for e in edges {
                e["thread"] = json!(t);
            }
        }
        self
    }

    pub fn line(&self) -> String {
        self.0.to_string()
    }
}

/// The text of a record file of process `pid` with `edges` and then
/// `cycles` (each given that pid).
pub fn file_with_cycles(pid: u64, edges: &[Edge], cycles: &[Cycle]) -> String {
    let mut s = file_text(pid, edges);
    for c in cycles {
        s.push_str(&c.clone().pid(pid).line());
        s.push('\n');
    }
    s
}

/// A header of the newest format version (`FORMAT_VERSION`: this file is
/// part of the library's unit tests too, so it does not name the crate).
pub fn header(pid: u64) -> String {
    header_of_version(pid, 3)
}

/// A header of format version `version`.
pub fn header_of_version(pid: u64, version: u64) -> String {
    json!({
        "lockgraph_record": version,
        "pid": pid,
        "exe": "/bin/app",
        "args": ["--test-threads=1"],
        "started_unix_ms": 1_764_240_000_000u64
    })
    .to_string()
}

/// The text of a record file of process `pid` (each edge gets that pid).
pub fn file_text(pid: u64, edges: &[Edge]) -> String {
    let mut s = header(pid);
    s.push('\n');
    for e in edges {
        s.push_str(&e.clone().pid(pid).line());
        s.push('\n');
    }
    s
}

/// Writes a record file for process `pid` into `dir`.
pub fn write_file(dir: &Path, pid: u64, edges: &[Edge]) -> PathBuf {
    let path = dir.join(format!("lockgraph-{pid}-1000.jsonl"));
    std::fs::write(&path, file_text(pid, edges)).unwrap();
    path
}

/// Writes raw text as a record file.
pub fn write_raw(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `class` as a profile file's class entry: every counter 0 and nothing
/// blocking; set the rest.
pub fn profile_class(class: Value) -> Value {
    let mut v = class;
    for k in [
        "acquisitions",
        "contended",
        "wait_ns",
        "max_wait_ns",
        "reads",
        "hold_samples",
        "hold_ns",
        "max_hold_ns",
        "waiting_threads",
        "blocking_calls",
        "blocking_ns",
    ] {
        v[k] = json!(0);
    }
    v["blocking_what"] = Value::Null;
    v
}
