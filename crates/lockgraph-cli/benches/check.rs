//! Times `lockgraph check` (the library call) on generated records: 1,000
//! record files holding 100,000 and then 1,000,000 edge lines, over a few
//! thousand lock classes with many repeated edges and a few cycles, and
//! reports the peak resident memory (VmHWM) of each run.
//!
//! `cargo bench -p lockgraph-cli --bench check` (set LOCKGRAPH_BENCH_EDGES to
//! a comma-separated list of sizes to change them).

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

/// Resets the peak RSS counter (Linux 4.0+); false where unsupported.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn main() {
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
    let threads = lockgraph_cli::default_threads();
    println!("lockgraph check bench: {FILES} record files, {threads} reading threads");
    let mut times = Vec::new();
    for &edges in &sizes {
        let dir = tempfile::Builder::new()
            .prefix("lockgraph-bench-")
            .tempdir()
            .expect("temp dir");
        let t = Instant::now();
        let bytes = generate(dir.path(), edges);
        let gen = t.elapsed();
        let exact_peak = reset_peak();
        let before = status_kib("VmRSS:").unwrap_or(0);
        let cpu0 = cpu_seconds();
        let t = Instant::now();
        let report = check(&CheckOptions::new(vec![dir.path().to_path_buf()])).expect("check");
        let took = t.elapsed();
        let cpu = cpu0.and_then(|a| cpu_seconds().map(|b| b - a));
        let peak = status_kib("VmHWM:");
        assert_eq!(report.summary.recordings as usize, edges / FILES * FILES);
        assert_eq!(report.cycles().len(), 3, "the three injected deadlocks");
        println!(
            "  {edges:>9} edges ({:.0} MiB, generated in {:.1} s): check {:.3} s wall, {} CPU, {} lock classes, {} distinct edges, {} cycles, peak RSS {}",
            bytes as f64 / (1 << 20) as f64,
            gen.as_secs_f64(),
            took.as_secs_f64(),
            cpu.map_or_else(|| "?".to_string(), |c| format!("{c:.2} s")),
            report.summary.classes,
            report.summary.edges,
            report.cycles().len(),
            match peak {
                Some(p) if exact_peak => format!(
                    "{:.0} MiB (RSS was {:.0} MiB before the check)",
                    p as f64 / 1024.0,
                    before as f64 / 1024.0
                ),
                Some(p) => format!(
                    "{:.0} MiB (the whole process's peak; RSS was {:.0} MiB before the check)",
                    p as f64 / 1024.0,
                    before as f64 / 1024.0
                ),
                None => "unavailable".to_string(),
            }
        );
        times.push((edges, took.as_secs_f64()));
    }
    if let [(a, ta), (b, tb)] = times[..] {
        println!(
            "  {}x the edges took {:.1}x the time ({:.0} ns per edge line at {b})",
            b / a.max(1),
            tb / ta.max(1e-9),
            tb * 1e9 / b as f64
        );
    }
}
