//! A record's raw stacks resolved (`docs/record-format.md`, "Raw stack
//! lines"): a process writes each recorded edge's stack as addresses in the
//! files it ran (its executable, its libraries), and the checker reads
//! those files' debug information once per file for every record of a
//! check, where each test process would have read it once (about half a
//! second for a 40 MB debug test binary).
//!
//! The reader keeps a raw stack's frames as [`RawFrame`] strings among
//! the stack's frames; after the merge, [`resolve`] groups them by file,
//! reads each file once (one at a time: a test binary's debug information
//! is tens of megabytes), and puts each address's program frames in its
//! place, as the runtime shows them (`lockgraph_core::program_frame`). A
//! file that is missing, or whose size or modification time differ from
//! the record's (rebuilt since), is not read: its frames are left out,
//! with a warning that names it.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use object::{Object as _, ObjectSection as _};

use crate::reader::{RawFrame, Warning, RAW_MARK};

/// An address's program frames, innermost first.
type Frames = Vec<Arc<str>>;

/// A file's addresses with their frames, and a warning about the file
/// when its frames lack something.
type Resolved = (Vec<(u64, Frames)>, Option<&'static str>);

/// The most program frames kept for one stack, as the runtime keeps.
const MAX_FRAMES: usize = 16;

/// A file a raw stack names: its path, and its size and modification time
/// when the process listed it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Module {
    path: String,
    size: u64,
    mtime_ns: i64,
}

/// The file and address of a raw frame's string.
fn parse_raw(frame: &str) -> Option<(Module, u64)> {
    let r = RawFrame::parse(frame)?;
    Some((
        Module {
            path: r.path.to_string(),
            size: r.size,
            mtime_ns: r.mtime_ns,
        },
        r.addr,
    ))
}

/// Resolves the raw frames of `stacks` in place; what could not be read is
/// said in `warnings`.
pub(crate) fn resolve(stacks: &mut [Arc<[Arc<str>]>], warnings: &mut Vec<Warning>) {
    let mut wanted: BTreeMap<Module, BTreeSet<u64>> = BTreeMap::new();
    for stack in stacks.iter() {
        for frame in stack.iter() {
            if let Some((m, addr)) = parse_raw(frame) {
                wanted.entry(m).or_default().insert(addr);
            }
        }
    }
    if wanted.is_empty() {
        return;
    }
    let mut found: HashMap<(Module, u64), Frames> = HashMap::new();
    for (m, addrs) in wanted {
        match resolve_module(&m, &addrs) {
            Ok((frames, warning)) => {
                for (addr, f) in frames {
                    found.insert((m.clone(), addr), f);
                }
                warnings.extend(warning.map(|w| Warning {
                    path: PathBuf::from(&m.path),
                    line: None,
                    message: w.to_string(),
                }));
            }
            Err(why) => warnings.push(Warning {
                path: PathBuf::from(&m.path),
                line: None,
                message: format!(
                    "the recorded stacks' frames in this file are left out: {why} (a record's \
                     stacks are resolved from the files the process ran, when `lockgraph \
                     check` reads it)"
                ),
            }),
        }
    }
    for stack in stacks.iter_mut() {
        if !stack.iter().any(|f| f.starts_with(RAW_MARK)) {
            continue;
        }
        let mut out: Vec<Arc<str>> = Vec::new();
        for frame in stack.iter() {
            match parse_raw(frame) {
                Some(key) => {
                    if let Some(f) = found.get(&key) {
                        out.extend(f.iter().cloned());
                    }
                }
                None if frame.starts_with(RAW_MARK) => {}
                None => out.push(Arc::clone(frame)),
            }
            if out.len() >= MAX_FRAMES {
                out.truncate(MAX_FRAMES);
                break;
            }
        }
        *stack = out.into();
    }
}

/// Each address's program frames in file `m`, innermost first (an
/// address's inlined calls before the function that holds them).
/// With them, a warning about the file when its frames lack something.
fn resolve_module(m: &Module, addrs: &BTreeSet<u64>) -> Result<Resolved, String> {
    let meta = std::fs::metadata(&m.path).map_err(|e| format!("cannot read it ({e})"))?;
    if !meta.is_file() {
        // A FIFO or a device named by a record would block or never end.
        return Err("it is not a regular file".to_string());
    }
    if meta.len() != m.size || mtime_ns(&meta) != Some(m.mtime_ns) {
        return Err("it changed since the process ran (rebuilt?)".to_string());
    }
    // Its kind from its first bytes, before the whole file is read (a
    // record may name any file).
    let mut head = [0u8; 64];
    let n = {
        use std::io::Read as _;
        let mut f = std::fs::File::open(&m.path).map_err(|e| format!("cannot read it ({e})"))?;
        f.read(&mut head)
            .map_err(|e| format!("cannot read it ({e})"))?
    };
    object::FileKind::parse(&head[..n]).map_err(|e| format!("not an object file ({e})"))?;
    let data = std::fs::read(&m.path).map_err(|e| format!("cannot read it ({e})"))?;
    let file = object::File::parse(&*data).map_err(|e| format!("not an object file ({e})"))?;
    let endian = if file.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Cow<'_, [u8]>, gimli::Error> {
        Ok(file
            .section_by_name(id.name())
            .and_then(|s| s.uncompressed_data().ok())
            .unwrap_or(Cow::Borrowed(&[])))
    };
    let sections = gimli::DwarfSections::load(load).map_err(|e| format!("bad DWARF ({e})"))?;
    let dwarf = sections.borrow(|s| gimli::EndianSlice::new(s, endian));
    let ctx = addr2line::Context::from_dwarf(dwarf).map_err(|e| format!("bad DWARF ({e})"))?;
    let symbols = file.symbol_map();
    // Neither a symbol table nor debug information: a stripped file, whose
    // frames cannot be named (found by a review: the check said nothing).
    let stripped = symbols.symbols().is_empty() && file.section_by_name(".debug_info").is_none();
    let mut out = Vec::with_capacity(addrs.len());
    let mut split = false;
    for &addr in addrs {
        // A return address: the call is the instruction before it.
        let probe = addr.saturating_sub(1);
        let mut frames: Vec<Arc<str>> = Vec::new();
        let mut named = false;
        // Where the address is, from a line table without the function's
        // entry (`debug = "line-tables-only"` builds have no inlining
        // information: their functions are the symbol table's).
        let mut place: Option<(Option<String>, Option<u32>)> = None;
        let mut lookup = ctx.find_frames(probe);
        let found = loop {
            match lookup {
                addr2line::LookupResult::Output(r) => break r,
                addr2line::LookupResult::Load { continuation, .. } => {
                    // Split debug information (`.dwo`, `.dwp`): not read.
                    split = true;
                    lookup = addr2line::LookupContinuation::resume(continuation, None);
                }
            }
        };
        if let Ok(mut iter) = found {
            while let Ok(Some(frame)) = iter.next() {
                let (file, line) = match &frame.location {
                    Some(l) => (l.file, l.line),
                    None => (None, None),
                };
                let Some(name) = frame.function.as_ref().and_then(|f| f.raw_name().ok()) else {
                    if place.is_none() && file.is_some() {
                        place = Some((file.map(str::to_string), line));
                    }
                    continue;
                };
                named = true;
                let name = demangled(&name);
                if let Some(f) = lockgraph_core::program_frame(&name, file, line) {
                    frames.push(f.into());
                }
            }
        }
        if !named {
            // No function entry for it: the symbol table's name, at the
            // line table's place when it has one.
            if let Some(sym) = symbols.containing(probe) {
                let name = demangled(sym.name());
                let (file, line) = place.unwrap_or((None, None));
                if let Some(f) = lockgraph_core::program_frame(&name, file.as_deref(), line) {
                    frames.push(f.into());
                }
            }
        }
        out.push((addr, frames));
    }
    let warning = if stripped {
        Some(STRIPPED)
    } else {
        split.then_some(SPLIT)
    };
    Ok((out, warning))
}

/// Why a stripped file's frames are not shown.
const STRIPPED: &str = "its frames cannot be named: it has no symbols and no debug \
     information (it was stripped: `strip = true` in its profile, or the `strip` tool); keep \
     them with `strip = false` (the default)";

/// Why a file built with split debug information gives frames without
/// their places.
const SPLIT: &str = "its frames are shown without file and line: it was built with split \
     debug information (`split-debuginfo = \
     \"packed\"` or `\"unpacked\"`: `.dwp` or `.dwo` files), which the check does not \
     read; build the tests with \
     `split-debuginfo = \"off\"` (Linux's default)";

/// A file's modification time in nanoseconds since the epoch, as the
/// runtime writes it (`st_mtime` and `st_mtime_nsec`).
fn mtime_ns(meta: &std::fs::Metadata) -> Option<i64> {
    let t = meta.modified().ok()?;
    let ns = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).ok()?,
        Err(e) => -i128::try_from(e.duration().as_nanos()).ok()?,
    };
    i64::try_from(ns).ok()
}

/// A Rust symbol demangled without its hash (as the runtime writes
/// frames); another name as it is.
fn demangled(name: &str) -> String {
    match rustc_demangle::try_demangle(name) {
        Ok(d) => format!("{d:#}"),
        Err(_) => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn here() -> usize {
        std::hint::black_box(7)
    }

    fn raw_frame(path: &str, size: u64, mtime_ns: i64, addr: u64) -> String {
        RawFrame {
            path,
            size,
            mtime_ns,
            addr,
        }
        .to_frame()
    }

    #[test]
    fn raw_frames_round_trip() {
        let f = raw_frame("/a:b/c d", 10, -3, 77);
        let (m, addr) = parse_raw(&f).unwrap();
        assert_eq!(
            (m.path.as_str(), m.size, m.mtime_ns, addr),
            ("/a:b/c d", 10, -3, 77)
        );
        assert!(parse_raw("x (src/a.rs:1)").is_none());
    }

    #[test]
    fn a_stale_or_missing_file_is_left_out_with_a_warning() {
        let exe = std::env::current_exe().unwrap();
        let meta = std::fs::metadata(&exe).unwrap();
        let path = exe.to_string_lossy();
        let mut stacks: Vec<Arc<[Arc<str>]>> = vec![
            vec![
                Arc::from(raw_frame(&path, meta.len() + 1, 0, 4096)),
                Arc::from("kept (src/a.rs:1)"),
            ]
            .into(),
            vec![Arc::from(raw_frame("/no/such/file", 1, 0, 4096))].into(),
        ];
        let mut warnings = Vec::new();
        resolve(&mut stacks, &mut warnings);
        assert_eq!(&*stacks[0], &[Arc::<str>::from("kept (src/a.rs:1)")]);
        assert!(stacks[1].is_empty());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings
            .iter()
            .any(|w| w.message.contains("changed since the process ran")));
    }

    /// An address in this test binary, made relative to its file as the
    /// runtime writes it, resolves to this function and file.
    #[test]
    fn an_address_resolves_to_its_function_and_line() {
        // One byte into the function, as a return address would be past a
        // call (the lookup is of the byte before).
        let ip = here as *const () as usize + 1 + here() - 7;
        // The binary's load bias: where its first byte's address lies
        // (a PIE's file addresses start at 0).
        let bias = {
            let mut b = None;
            for line in std::fs::read_to_string("/proc/self/maps").unwrap().lines() {
                let exe = std::env::current_exe().unwrap();
                let mut f = line.split_whitespace();
                let range = f.next().unwrap();
                let offset = u64::from_str_radix(f.nth(1).unwrap(), 16).unwrap();
                if line.ends_with(&*exe.to_string_lossy()) && offset == 0 {
                    let start =
                        usize::from_str_radix(range.split('-').next().unwrap(), 16).unwrap();
                    b = Some(start);
                    break;
                }
            }
            b.unwrap()
        };
        let exe = std::env::current_exe().unwrap();
        let meta = std::fs::metadata(&exe).unwrap();
        let mtime = mtime_ns(&meta).unwrap();
        let frame = raw_frame(
            &exe.to_string_lossy(),
            meta.len(),
            mtime,
            (ip - bias) as u64,
        );
        let mut stacks: Vec<Arc<[Arc<str>]>> = vec![vec![Arc::from(frame)].into()];
        let mut warnings = Vec::new();
        resolve(&mut stacks, &mut warnings);
        assert!(warnings.is_empty(), "{warnings:?}");
        let first = stacks[0].first().map(|f| f.to_string()).unwrap_or_default();
        // An optimised build with line tables only (`.ci/run` gives its
        // release builds them) names the function as its line tables do,
        // without the module path.
        assert!(
            first.contains("symbols::tests::here")
                || (!cfg!(debug_assertions) && first.starts_with("here (")),
            "{:?}",
            stacks[0]
        );
        if cfg!(debug_assertions) || first.starts_with("here (") {
            // A build with debug information (a release profile without it:
            // the symbol table's name alone).
            assert!(first.contains("symbols.rs:"), "{first}");
        }
    }
}
