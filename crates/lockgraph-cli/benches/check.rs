//! Times `lockgraph check` (the library call) on generated records, and
//! reports the peak resident memory (VmHWM) of each run:
//!
//! * realistic records: 1,000 record files holding 100,000 and then
//!   1,000,000 edge lines, over a few thousand lock classes with many
//!   repeated edges and a few cycles;
//! * graph shapes: 1,000,000 *distinct* edges each (issue 11: under 10 s and
//!   1 GB whatever the shape): a chain, one cycle through every class,
//!   random edges, a hub every class is taken with in both orders, and a
//!   dense graph over 1,000 classes.
//!
//! Each check runs `LOCKGRAPH_BENCH_RUNS` times (default 3), each in a fresh
//! child process so that its peak resident size is its own; the medians are
//! printed, with the range over the runs.
//!
//! `cargo bench -p lockgraph-cli --bench check` (LOCKGRAPH_BENCH_EDGES: a
//! comma-separated list of realistic sizes; LOCKGRAPH_BENCH_SHAPES: a
//! comma-separated list of shapes, or `none`; LOCKGRAPH_BENCH_GENERATE=
//! DIR:EDGES only writes the realistic records into DIR).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use lockgraph_cli::{check, CheckOptions};

const FILES: usize = 1000;
const GROUPS: usize = 300;
const GROUP_SIZE: usize = 10;
const LEAVES: usize = 60;

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Skewed towards small values: popular edges repeat a lot.
    fn skewed(&mut self, n: usize) -> usize {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b)
    }
}

struct Class {
    json: String,
}

struct PoolEdge {
    from: usize,
    to: usize,
    held_at: String,
    requested_at: String,
    frames: Vec<String>,
    hold: &'static str,
    request: &'static str,
}

fn classes() -> Vec<Class> {
    let n = GROUPS * GROUP_SIZE + LEAVES;
    (0..n)
        .map(|i| {
            let kind = if i % 4 == 1 { "RwLock" } else { "Mutex" };
            let json = if i >= GROUPS * GROUP_SIZE {
                let name = format!("leaf_{}", i - GROUPS * GROUP_SIZE);
                format!(r#"{{"class":"name:{name}","name":"{name}","kind":"{kind}","site":null}}"#)
            } else if i % 3 == 0 {
                let name = format!("module_{}::lock_{}", i / GROUP_SIZE, i % GROUP_SIZE);
                format!(r#"{{"class":"name:{name}","name":"{name}","kind":"{kind}","site":null}}"#)
            } else {
                let site = format!(
                    "src/module_{}/state.rs:{}:{}",
                    i / GROUP_SIZE,
                    10 + i % 97,
                    5 + i % 13
                );
                format!(r#"{{"class":"site:{site}","name":null,"kind":"{kind}","site":"{site}"}}"#)
            };
            Class { json }
        })
        .collect()
}

/// The distinct edges: every ordered pair inside a group (a lock hierarchy
/// per module), and group locks taking leaf locks (metrics, logging).
fn pool(rng: &mut Rng) -> Vec<PoolEdge> {
    let mut out = Vec::new();
    let site = |rng: &mut Rng, from: usize, to: usize, hold, request| {
        let m = from / GROUP_SIZE;
        let line = 20 + rng.below(400);
        PoolEdge {
            from,
            to,
            held_at: format!("src/module_{m}/ops.rs:{line}:{}", 9 + rng.below(30)),
            requested_at: format!(
                "src/module_{m}/ops.rs:{}:{}",
                line + 1 + rng.below(20),
                9 + rng.below(30)
            ),
            frames: (0..3 + rng.below(3))
                .map(|k| {
                    format!(
                        "app::module_{m}::op_{k}::{{{{closure}}}} (src/module_{m}/ops.rs:{})",
                        line + k
                    )
                })
                .collect(),
            hold,
            request,
        }
    };
    for g in 0..GROUPS {
        for i in 0..GROUP_SIZE {
            for j in i + 1..GROUP_SIZE {
                out.push(site(
                    rng,
                    g * GROUP_SIZE + i,
                    g * GROUP_SIZE + j,
                    "exclusive",
                    "exclusive",
                ));
            }
        }
    }
    for _ in 0..10_000 {
        let from = rng.below(GROUPS * GROUP_SIZE);
        let to = GROUPS * GROUP_SIZE + rng.below(LEAVES);
        out.push(site(rng, from, to, "exclusive", "exclusive"));
    }
    // Shuffle so that popularity is not tied to the group.
    for i in (1..out.len()).rev() {
        let j = rng.below(i + 1);
        out.swap(i, j);
    }
    out
}

/// The cycles: reverse edges inside three groups (one 2-lock and two
/// 3-lock cycles), and two leaf locks taken in both orders by recursive
/// readers holding the other shared, which cannot deadlock.
fn injected(rng: &mut Rng) -> Vec<PoolEdge> {
    let mut mk = |from: usize, to: usize, hold, request| {
        let m = from / GROUP_SIZE;
        PoolEdge {
            from,
            to,
            held_at: format!("src/module_{m}/reload.rs:{}:9", 30 + rng.below(50)),
            requested_at: format!("src/module_{m}/reload.rs:{}:13", 90 + rng.below(50)),
            frames: vec![format!(
                "app::module_{m}::reload (src/module_{m}/reload.rs:91)"
            )],
            hold,
            request,
        }
    };
    let leaf = GROUPS * GROUP_SIZE;
    vec![
        mk(
            5 * GROUP_SIZE + 4,
            5 * GROUP_SIZE + 3,
            "exclusive",
            "exclusive",
        ),
        mk(
            77 * GROUP_SIZE + 9,
            77 * GROUP_SIZE + 7,
            "exclusive",
            "exclusive",
        ),
        mk(
            150 * GROUP_SIZE + 6,
            150 * GROUP_SIZE + 2,
            "exclusive",
            "read",
        ),
        mk(leaf, leaf + 1, "shared", "recursive_read"),
        mk(leaf + 1, leaf, "shared", "recursive_read"),
    ]
}

fn generate(dir: &Path, edges: usize) -> u64 {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let classes = classes();
    let pool = pool(&mut rng);
    let injected = injected(&mut rng);
    let per_file = edges / FILES;
    let mut bytes = 0u64;
    let mut line = String::with_capacity(1024);
    for f in 0..FILES {
        let pid = 20_000 + f as u64;
        let exe = format!(
            "/work/target/debug/deps/suite_{}-3f9a0c{:04x}",
            f % 40,
            f % 40
        );
        let mut text = String::with_capacity(per_file * 560 + 256);
        let _ = writeln!(
            text,
            r#"{{"lockgraph_record":1,"pid":{pid},"exe":"{exe}","args":["--test-threads=2"],"started_unix_ms":{}}}"#,
            1_764_240_000_000u64 + f as u64 * 1000
        );
        for k in 0..per_file {
            let e = if k == 0 && f % 97 < injected.len() {
                &injected[f % 97]
            } else {
                &pool[rng.skewed(pool.len())]
            };
            let thread = format!(
                "module_{}::tests::case_{}",
                e.from / GROUP_SIZE,
                rng.below(20)
            );
            let gates = if rng.below(10) == 0 {
                format!(r#""{pid}:{}""#, rng.below(5))
            } else {
                String::new()
            };
            line.clear();
            let _ = write!(
                line,
                r#"{{"type":"edge","from":{},"to":{},"hold":"{}","request":"{}","gates":[{gates}],"thread":"{thread}","pid":{pid},"exe":"{exe}","held_at":"{}","requested_at":"{}","backtrace":["#,
                classes[e.from].json,
                classes[e.to].json,
                e.hold,
                e.request,
                e.held_at,
                e.requested_at
            );
            for (i, fr) in e.frames.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                let _ = write!(line, "\"{fr}\"");
            }
            line.push_str("]}\n");
            text.push_str(&line);
        }
        bytes += text.len() as u64;
        let path = dir.join(format!(
            "lockgraph-{pid}-{}.jsonl",
            1_764_240_000_000_000_000u64 + f as u64
        ));
        let mut file = std::fs::File::create(&path).expect("create record file");
        file.write_all(text.as_bytes()).expect("write record file");
    }
    bytes
}

fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU seconds of this process so far (Linux), to tell the
/// check's own cost from time lost to other load on the machine.
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, in clock ticks (100 per second on Linux).
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Writes `edges` (class index pairs, distinct) as record files of
/// 10,000 lines each, classes named `name:c<index>`; the bytes written.
fn generate_shape(dir: &Path, edges: &[(usize, usize)]) -> u64 {
    let mut bytes = 0u64;
    for (f, chunk) in edges.chunks(10_000).enumerate() {
        let pid = 50_000 + f as u64;
        let mut text = String::with_capacity(chunk.len() * 330 + 128);
        let _ = writeln!(
            text,
            r#"{{"lockgraph_record":1,"pid":{pid},"exe":"/work/target/debug/deps/shapes","args":[],"started_unix_ms":1764240000000}}"#
        );
        for &(a, b) in chunk {
            let _ = writeln!(
                text,
                r#"{{"type":"edge","from":{{"class":"name:c{a}","name":"c{a}","kind":"Mutex","site":null}},"to":{{"class":"name:c{b}","name":"c{b}","kind":"Mutex","site":null}},"hold":"exclusive","request":"exclusive","gates":[],"thread":"shapes::t{}","pid":{pid},"exe":"/work/target/debug/deps/shapes","held_at":"src/shapes.rs:{}:9","requested_at":"src/shapes.rs:{}:13","backtrace":["shapes::run (src/shapes.rs:40)"]}}"#,
                a % 16,
                10 + a % 500,
                11 + b % 500
            );
        }
        bytes += text.len() as u64;
        std::fs::write(dir.join(format!("lockgraph-{pid}-1.jsonl")), text).expect("write");
    }
    bytes
}

/// A shape: its distinct edges, and how many cycles it has, when known.
struct Shape {
    edges: Vec<(usize, usize)>,
    cycles: Option<usize>,
}

/// The shapes, each 1,000,000 distinct edges.
fn shape(name: &str) -> Option<Shape> {
    const M: usize = 1_000_000;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let distinct = |rng: &mut Rng, n: usize| {
        let mut seen = std::collections::HashSet::with_capacity(M);
        let mut out = Vec::with_capacity(M);
        while out.len() < M {
            let (a, b) = (rng.below(n), rng.below(n));
            if a != b && seen.insert((a, b)) {
                out.push((a, b));
            }
        }
        out
    };
    let (edges, cycles) = match name {
        // A chain of 1,000,001 classes: no cycle, deepest possible search.
        "chain" => ((0..M).map(|i| (i, i + 1)).collect(), Some(0)),
        // One cycle through 1,000,000 classes.
        "cycle" => ((0..M).map(|i| (i, (i + 1) % M)).collect(), Some(1)),
        // Random edges over 200,000 classes: one giant component (and
        // perhaps a few small ones).
        "random" => (distinct(&mut rng, 200_000), None),
        // A hub taken before and after each of 500,000 classes.
        "hub" => (
            (1..=M / 2).flat_map(|i| [(0, i), (i, 0)]).collect(),
            Some(1),
        ),
        // 1,200 classes, about 830 edges each.
        "dense" => (distinct(&mut rng, 1_200), Some(1)),
        _ => return None,
    };
    Some(Shape { edges, cycles })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// One check, as the child process measured it.
struct Run {
    wall: f64,
    cpu: Option<f64>,
    peak_mib: Option<f64>,
    recordings: u64,
    classes: usize,
    edges: usize,
    cycles: usize,
    first_cycle_locks: usize,
    notes: usize,
}

/// The child's side: checks `dir` once and prints the measurements.
fn child(dir: &Path) {
    let cpu0 = cpu_seconds();
    let t = Instant::now();
    let report = check(&CheckOptions::new(vec![dir.to_path_buf()])).expect("check");
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu0.and_then(|a| cpu_seconds().map(|b| b - a));
    let peak = status_kib("VmHWM:");
    println!(
        "RESULT {wall} {} {} {} {} {} {} {} {}",
        cpu.map_or(-1.0, |c| c),
        peak.map_or(-1.0, |p| p as f64 / 1024.0),
        report.summary.recordings,
        report.summary.classes,
        report.summary.edges,
        report.cycles().len(),
        report.cycles().first().map_or(0, |c| c.lock_count()),
        report.findings.iter().map(|f| f.notes.len()).sum::<usize>(),
    );
}

/// Checks `dir` `runs` times, each in a fresh process (so that each peak
/// RSS is that check's alone): the runs, sorted by wall time.
fn time_check(dir: &Path, runs: usize) -> Vec<Run> {
    let exe = std::env::current_exe().expect("the bench's own path");
    let mut out: Vec<Run> = (0..runs)
        .map(|_| {
            let o = std::process::Command::new(&exe)
                .env("LOCKGRAPH_BENCH_CHILD", dir)
                .output()
                .expect("run the bench as a child");
            let text = String::from_utf8_lossy(&o.stdout);
            let line = text
                .lines()
                .find_map(|l| l.strip_prefix("RESULT "))
                .unwrap_or_else(|| {
                    panic!("child failed: {text}{}", String::from_utf8_lossy(&o.stderr))
                });
            let f: Vec<f64> = line
                .split_whitespace()
                .map(|x| x.parse().expect("a number"))
                .collect();
            let known = |x: f64| (x >= 0.0).then_some(x);
            Run {
                wall: f[0],
                cpu: known(f[1]),
                peak_mib: known(f[2]),
                recordings: f[3] as u64,
                classes: f[4] as usize,
                edges: f[5] as usize,
                cycles: f[6] as usize,
                first_cycle_locks: f[7] as usize,
                notes: f[8] as usize,
            }
        })
        .collect();
    out.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    out
}

/// "median (min-max)" of one measurement over the runs.
fn spread(runs: &[Run], f: impl Fn(&Run) -> Option<f64>, unit: &str, digits: usize) -> String {
    let mut v: Vec<f64> = runs.iter().filter_map(f).collect();
    if v.is_empty() {
        return "?".into();
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = median(v.clone());
    if v.len() == 1 {
        format!("{m:.digits$} {unit}")
    } else {
        format!(
            "{m:.digits$} {unit} ({:.digits$}-{:.digits$})",
            v[0],
            v[v.len() - 1]
        )
    }
}

fn main() {
    if let Some(dir) = std::env::var_os("LOCKGRAPH_BENCH_CHILD") {
        child(Path::new(&dir));
        return;
    }
    // LOCKGRAPH_BENCH_GENERATE=DIR:EDGES writes the realistic records into
    // DIR and exits, to time the `lockgraph` binary (or another) on them.
    if let Ok(spec) = std::env::var("LOCKGRAPH_BENCH_GENERATE") {
        let (dir, edges) = spec.rsplit_once(':').expect("DIR:EDGES");
        let edges: usize = edges.parse().expect("EDGES is a number");
        std::fs::create_dir_all(dir).expect("create DIR");
        let bytes = generate(Path::new(dir), edges);
        println!("wrote {edges} edge lines ({bytes} bytes) to {dir}");
        return;
    }
    // `cargo bench` passes `--bench`; a filter that excludes us means skip.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "check".contains(a.as_str())) {
        return;
    }
    let sizes: Vec<usize> = std::env::var("LOCKGRAPH_BENCH_EDGES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100_000, 1_000_000]);
    let runs: usize = std::env::var("LOCKGRAPH_BENCH_RUNS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(3)
        .max(1);
    let threads = lockgraph_cli::default_threads();
    println!(
        "lockgraph check bench: {threads} reading threads, median (range) of {runs} runs, each in its own process"
    );
    println!("realistic records ({FILES} record files):");
    let mut times = Vec::new();
    for &edges in &sizes {
        let dir = tempfile::Builder::new()
            .prefix("lockgraph-bench-")
            .tempdir()
            .expect("temp dir");
        let t = Instant::now();
        let bytes = generate(dir.path(), edges);
        let gen = t.elapsed();
        let r = time_check(dir.path(), runs);
        let last = &r[0];
        assert_eq!(last.recordings as usize, edges / FILES * FILES);
        assert_eq!(last.cycles, 3, "the three injected deadlocks");
        let wall = median(r.iter().map(|x| x.wall).collect());
        println!(
            "  {edges:>9} edge lines ({:.0} MiB, generated in {:.1} s): check {} wall, {} CPU, peak RSS {}; {} lock classes, {} distinct edges, {} cycles",
            bytes as f64 / (1 << 20) as f64,
            gen.as_secs_f64(),
            spread(&r, |x| Some(x.wall), "s", 2),
            spread(&r, |x| x.cpu, "s", 2),
            spread(&r, |x| x.peak_mib, "MiB", 0),
            last.classes,
            last.edges,
            last.cycles,
        );
        times.push((edges, wall));
    }
    if let [(a, ta), (b, tb)] = times[..] {
        println!(
            "  {}x the edges took {:.1}x the time ({:.0} ns per edge line at {b})",
            b / a.max(1),
            tb / ta.max(1e-9),
            tb * 1e9 / b as f64
        );
    }
    let shapes: Vec<String> = std::env::var("LOCKGRAPH_BENCH_SHAPES")
        .ok()
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
        .unwrap_or_else(|| {
            ["chain", "cycle", "random", "hub", "dense"]
                .map(String::from)
                .to_vec()
        });
    if shapes.iter().any(|s| s != "none") {
        println!("graph shapes (1,000,000 distinct edges each; target: under 10 s and 1 GiB):");
    }
    for name in shapes.iter().filter(|s| *s != "none") {
        let Some(Shape { edges, cycles }) = shape(name) else {
            println!("  unknown shape {name}");
            continue;
        };
        let dir = tempfile::Builder::new()
            .prefix("lockgraph-bench-shape-")
            .tempdir()
            .expect("temp dir");
        let bytes = generate_shape(dir.path(), &edges);
        drop(edges);
        let r = time_check(dir.path(), runs);
        let last = &r[0];
        assert_eq!(last.edges, 1_000_000, "{name}");
        if let Some(cycles) = cycles {
            assert_eq!(last.cycles, cycles, "{name}");
        }
        println!(
            "  {name:>7}: {} lock classes ({:.0} MiB of records): check {} wall, {} CPU, peak RSS {}; {} cycle(s){}{}",
            last.classes,
            bytes as f64 / (1 << 20) as f64,
            spread(&r, |x| Some(x.wall), "s", 2),
            spread(&r, |x| x.cpu, "s", 2),
            spread(&r, |x| x.peak_mib, "MiB", 0),
            last.cycles,
            if last.cycles > 0 {
                format!(", the first through {} locks", last.first_cycle_locks)
            } else {
                String::new()
            },
            if last.notes > 0 {
                " (search budget reached: a shorter cycle may exist)"
            } else {
                ""
            }
        );
    }
}
