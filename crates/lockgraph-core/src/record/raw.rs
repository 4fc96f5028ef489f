//! Raw stacks in the record: a recorded edge's stack as the addresses it
//! was captured with, each made relative to the file it lies in, written
//! with the edge, for `lockgraph check` to resolve (`docs/record-format.md`,
//! "Raw stack lines").
//!
//! Resolving a stack in the process reads the program's debug information
//! first (about half a second for a 40 MB debug test binary): a test
//! process that records one edge and exits at once waited that long at
//! exit, once per process under a runner that starts one per test. With
//! the raw line written at once, the exit waits for nothing, and a process
//! killed at any time keeps every stack; the record's thread still appends
//! the resolved line when the process lives long enough, which the checker
//! prefers.
//!
//! An address is written as (module, address in the module's file): the
//! module's file is named by its path, its size and its modification time,
//! so that a checker can tell a file rebuilt since from the one the process
//! ran. The loaded modules are listed with `dl_iterate_phdr` when the
//! record starts (the process's first lock use) and again when an address
//! lies in none of them (a library loaded since); on other systems than
//! Linux no raw line is written and the exit waits, as before.

#[cfg(target_os = "linux")]
pub(super) use linux::{prime, raw_stack_line};

/// No raw stacks here: the record's thread resolves every stack, and the
/// exit waits for it.
#[cfg(not(target_os = "linux"))]
pub(super) fn raw_stack_line(_key: &str, _pid: u32, _ips: &[usize]) -> Option<String> {
    None
}

/// Nothing to list.
#[cfg(not(target_os = "linux"))]
pub(super) fn prime() {}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::CStr;
    use std::fmt::Write as _;
    use std::os::unix::fs::MetadataExt as _;

    use super::super::json_str;
    use crate::fork::Mutex;

    /// One loaded file: where its segments are in memory, and what the
    /// checker needs to find it again.
    struct Module {
        /// The load bias: an address in memory less this is the address
        /// in the file's own (ELF virtual) address space.
        bias: usize,
        /// Its loadable segments in memory, `[start, end)`.
        ranges: Vec<(usize, usize)>,
        path: String,
        /// The file's size and modification time (nanoseconds since the
        /// epoch) when the list was made; 0 when the file cannot be read.
        size: u64,
        mtime_ns: i128,
    }

    /// The loaded modules, and the addresses found in none of them since
    /// they were listed (a JIT's code, the vDSO, an unwinder's last 0):
    /// those do not make them listed again.
    struct Modules {
        list: Vec<Module>,
        unknown: Vec<usize>,
    }

    /// At most this many addresses in no module are remembered; past it
    /// the memory starts over.
    const MAX_UNKNOWN: usize = 256;

    static MODULES: Mutex<Modules> = Mutex::new(Modules {
        list: Vec::new(),
        unknown: Vec::new(),
    });

    /// The loaded modules, from `dl_iterate_phdr` (the main program, whose
    /// name it gives as empty, by `/proc/self/exe`'s path).
    fn list() -> Vec<Module> {
        let mut out: Vec<Module> = Vec::new();
        // SAFETY: `dl_iterate_phdr` calls `each` on this thread, one module
        // at a time, with a valid `dl_phdr_info` whose pointers live for the
        // call; `data` is `&mut out`, alive and not otherwise used until it
        // returns.
        unsafe {
            libc::dl_iterate_phdr(Some(each), (&mut out as *mut Vec<Module>).cast());
        }
        out
    }

    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: `data` is the `&mut Vec<Module>` `list` passed, and `info`
        // is valid for this call (`dl_iterate_phdr`'s contract).
        let (out, info) = unsafe { (&mut *data.cast::<Vec<Module>>(), &*info) };
        let bias = info.dlpi_addr as usize;
        // (`Elf64_Phdr` or `Elf32_Phdr`, as the target's pointers are.)
        let phdrs = if info.dlpi_phdr.is_null() {
            &[][..]
        } else {
            // SAFETY: `dlpi_phdr` points at `dlpi_phnum` program headers of
            // the module, valid while it is loaded (for this call).
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) }
        };
        let ranges: Vec<(usize, usize)> = phdrs
            .iter()
            .filter(|p| p.p_type == libc::PT_LOAD)
            .map(|p| {
                #[allow(clippy::unnecessary_cast)]
                let (vaddr, memsz) = (p.p_vaddr as usize, p.p_memsz as usize);
                let start = bias.wrapping_add(vaddr);
                (start, start.wrapping_add(memsz))
            })
            .collect();
        let name = if info.dlpi_name.is_null() {
            String::new()
        } else {
            // SAFETY: a non-null `dlpi_name` is a NUL-terminated string owned
            // by the loader, valid for this call.
            unsafe { CStr::from_ptr(info.dlpi_name) }
                .to_string_lossy()
                .into_owned()
        };
        let path = if name.is_empty() && out.is_empty() {
            std::fs::read_link("/proc/self/exe")
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            name
        };
        let (size, mtime_ns) = std::fs::metadata(&path)
            .map(|m| {
                (
                    m.size(),
                    i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
                )
            })
            .unwrap_or((0, 0));
        if !ranges.is_empty() && !path.is_empty() {
            out.push(Module {
                bias,
                ranges,
                path,
                size,
                mtime_ns,
            });
        }
        0
    }

    /// The module that holds `ip`, in `mods`.
    fn find(mods: &[Module], ip: usize) -> Option<usize> {
        mods.iter()
            .position(|m| m.ranges.iter().any(|&(s, e)| s <= ip && ip < e))
    }

    /// The raw `stack` line of `ips` as the stack `key` of process `pid`:
    /// `{"type":"stack","stack":KEY,"pid":P,"modules":[...],"raw":[[m,a],...]}`.
    /// `None` when no address lies in a known module.
    pub(in crate::record) fn raw_stack_line(key: &str, pid: u32, ips: &[usize]) -> Option<String> {
        let mut guard = MODULES.lock();
        let m = &mut *guard;
        let new_unknown =
            |m: &Modules, ip: usize| find(&m.list, ip).is_none() && !m.unknown.contains(&ip);
        if ips.iter().any(|&ip| new_unknown(m, ip)) {
            // A library loaded since the list was made (or the first use):
            // list them again, once per address in none. Such an address
            // is left out.
            m.list = list();
            for &ip in ips {
                if find(&m.list, ip).is_none() && !m.unknown.contains(&ip) {
                    if m.unknown.len() >= MAX_UNKNOWN {
                        m.unknown.clear();
                    }
                    m.unknown.push(ip);
                }
            }
        }
        let mods = &m.list;
        let mut used: Vec<usize> = Vec::new();
        let mut raw = String::new();
        for &ip in ips {
            let Some(m) = find(mods, ip) else { continue };
            let i = used.iter().position(|&u| u == m).unwrap_or_else(|| {
                used.push(m);
                used.len() - 1
            });
            if !raw.is_empty() {
                raw.push(',');
            }
            let _ = write!(raw, "[{i},{}]", ip.wrapping_sub(mods[m].bias));
        }
        if used.is_empty() {
            return None;
        }
        let mut s = String::with_capacity(raw.len() + 256);
        s.push_str("{\"type\":\"stack\",\"stack\":");
        json_str(&mut s, key);
        let _ = write!(s, ",\"pid\":{pid},\"modules\":[");
        for (n, &m) in used.iter().enumerate() {
            let m = &mods[m];
            if n > 0 {
                s.push(',');
            }
            s.push_str("{\"path\":");
            json_str(&mut s, &m.path);
            let _ = write!(s, ",\"size\":{},\"mtime_ns\":{}}}", m.size, m.mtime_ns);
        }
        let _ = writeln!(s, "],\"raw\":[{raw}]}}");
        Some(s)
    }

    /// Lists the modules now (the record's start), so that the first
    /// edge's line does not, and keeps the list's lock across `fork()`
    /// (a child forked while another thread listed would find it held).
    pub(in crate::record) fn prime() {
        static REGISTERED: std::sync::atomic::AtomicBool =
            std::sync::atomic::AtomicBool::new(false);
        static HOOKS: crate::fork::Hooks = crate::fork::Hooks {
            prepare: || crate::fork::hold(MODULES.lock()),
            child: crate::fork::nothing,
        };
        crate::fork::register(&REGISTERED, &HOOKS);
        let mut mods = MODULES.lock();
        if mods.list.is_empty() {
            mods.list = list();
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_raw_line_names_the_program_and_addresses_in_its_file() {
            let bt = crate::report::Backtrace::capture();
            let line = raw_stack_line("1:1", 1, bt.ips()).expect("a raw line");
            let exe = std::env::current_exe().unwrap();
            let size = std::fs::metadata(&exe).unwrap().len();
            assert!(
                line.contains(&format!(
                    "{{\"path\":\"{}\",\"size\":{size},",
                    exe.display()
                )),
                "{line}"
            );
            // The innermost frame (`capture`, in this test binary) by an
            // address in the file's own address space, not the mapped one.
            let first = line.split("\"raw\":[[").nth(1).unwrap();
            let (module, rest) = first.split_once(',').unwrap();
            let rel: usize = rest.split(']').next().unwrap().parse().unwrap();
            let here = a_raw_line_names_the_program_and_addresses_in_its_file as *const () as usize;
            let exe_index: usize = module.parse().unwrap();
            assert_eq!(exe_index, 0, "{line}");
            assert!(rel > 0 && rel < here, "{rel:#x} not relative ({here:#x})");
            assert!(line.ends_with("]]}\n"), "{line}");
        }
    }
}
