//! What this binary lets a stack be resolved to, for the line a report
//! prints where it has a stack but no frame of it could be named: a
//! stripped binary (`strip = true`, or the `strip` tool) names no frame at
//! all, and the advice to add line tables would not help it (found by an
//! outside test: a stripped build's reports had no stacks and said
//! nothing, or gave that advice).

use std::sync::OnceLock;

/// How much of a frame this binary can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DebugInfo {
    /// No symbol: no function is named (a stripped binary).
    Stripped,
    /// Symbols without line tables: functions are named, but not inlined
    /// calls, files or lines (an optimised build without debug info).
    NoLines,
    /// Functions, files and lines.
    Lines,
}

impl DebugInfo {
    /// This binary's, found once by resolving a function of this crate.
    pub(crate) fn of_this_binary() -> DebugInfo {
        static FOUND: OnceLock<DebugInfo> = OnceLock::new();
        *FOUND.get_or_init(|| probe(probed as *const () as usize))
    }

    /// The words after "no program frames could be resolved": why, and
    /// what gives them, where the binary is the cause. Nothing for one
    /// with line tables: its stack had only lockgraph's and the runtime's
    /// frames, and the advice to add line tables would be wrong (found by
    /// a review).
    pub(crate) fn no_frames_hint(self) -> &'static str {
        match self {
            DebugInfo::Stripped => {
                ": this binary has no symbols (it was stripped: `strip = true` in its profile, or the `strip` tool); keep them with `strip = false` (the default) and add `debug = \"line-tables-only\"` (docs/watchdog.md, \"Running it in production\")"
            }
            DebugInfo::NoLines => {
                ": this binary has no line tables (an optimised build names few frames without them); `debug = \"line-tables-only\"` in its profile gives them (docs/watchdog.md, \"Running it in production\")"
            }
            DebugInfo::Lines => "",
        }
    }

    /// The reason a JSON report gives for a stack without frames, or
    /// `None` where the binary is not the cause.
    pub(crate) fn no_frames_reason(self) -> Option<&'static str> {
        match self {
            DebugInfo::Stripped => Some("no symbols: the binary was stripped"),
            DebugInfo::NoLines => Some("no line tables: the binary was built without debug info"),
            DebugInfo::Lines => None,
        }
    }
}

/// A function of this crate that is never inlined, whose address names it
/// when the binary has symbols.
#[inline(never)]
fn probed() -> usize {
    std::hint::black_box(1)
}

/// What resolving `addr` (a function's first instruction) gives.
fn probe(addr: usize) -> DebugInfo {
    let _resolving = super::trace::Resolving::enter();
    let mut found = DebugInfo::Stripped;
    // `resolve` looks up `addr - 1` (the call before a return address).
    backtrace::resolve((addr + 1) as *mut std::ffi::c_void, |sym| {
        if sym.name().is_some() {
            let lines = sym.filename().is_some() && sym.lineno().is_some();
            found = match (found, lines) {
                (DebugInfo::Lines, _) | (_, true) => DebugInfo::Lines,
                _ => DebugInfo::NoLines,
            };
        }
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_binary_has_symbols() {
        // Test binaries are built unstripped, with line tables in debug.
        let found = DebugInfo::of_this_binary();
        assert_ne!(found, DebugInfo::Stripped);
        if cfg!(debug_assertions) {
            assert_eq!(found, DebugInfo::Lines);
        }
    }

    #[test]
    fn an_address_outside_every_function_names_nothing() {
        assert_eq!(probe(8), DebugInfo::Stripped);
    }

    #[test]
    fn a_binary_with_line_tables_gets_no_hint_and_one_without_is_told_to_add_them() {
        assert_eq!(DebugInfo::Lines.no_frames_hint(), "");
        assert_eq!(DebugInfo::Lines.no_frames_reason(), None);
        let hint = DebugInfo::NoLines.no_frames_hint();
        assert!(
            hint.contains("no line tables") && hint.contains("`debug = \"line-tables-only\"`"),
            "{hint}"
        );
        assert!(DebugInfo::NoLines.no_frames_reason().is_some());
    }

    #[test]
    fn the_stripped_hint_asks_for_symbols_not_only_line_tables() {
        let hint = DebugInfo::Stripped.no_frames_hint();
        assert!(hint.contains("no symbols"), "{hint}");
        assert!(hint.contains("`strip = false`"), "{hint}");
        assert_eq!(
            DebugInfo::Stripped.no_frames_reason(),
            Some("no symbols: the binary was stripped")
        );
    }
}
