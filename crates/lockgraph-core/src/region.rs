//! `atomic_region`: the atomicity checker's one entry point that needs the
//! held-lock state (its per-thread part lives there), so it sits above it.

/// Runs `f` as one atomic region for the atomicity checker: inside it, a
/// release of any lock followed by an exclusive acquisition of the same lock
/// is a check-then-act, whatever else happens in between (see the module
/// docs of the facade, or `docs/loom.md`); a condition variable's wait is
/// not (its release of the mutex opens no check, so the re-acquisition
/// when it returns is not judged: the wait loop re-checks its predicate
/// under that guard). Regions nest; the outermost one ends them. With the
/// checker off, it only runs `f`.
///
/// ```
/// let counter = lockgraph_core::LockMeta::new(
///     lockgraph_core::LockKind::Mutex,
///     lockgraph_core::Class::Named("doc-counter"),
/// );
/// let n = lockgraph_core::atomic_region(|| 41 + 1);
/// assert_eq!(n, 42);
/// # drop(counter);
/// ```
pub fn atomic_region<R>(f: impl FnOnce() -> R) -> R {
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            crate::atomicity::exit_region(crate::state::atom_thread());
        }
    }
    if !crate::atomicity::on() {
        return f();
    }
    crate::atomicity::enter_region(crate::state::atom_thread());
    let _exit = Exit;
    f()
}

/// Says that this thread's next lock acquisition re-checks, under its own
/// guard, the condition it acts on: the atomicity checker does not judge it
/// as the act of a check made under an earlier guard (the double-checked
/// pattern; the facade's `lockgraph::recheck` has an example). It applies
/// to the next acquisition only (any release first ends it), in an implicit
/// region and inside [`atomic_region`] (where that lock's check is then used
/// up). With the checker off, or no check open on this thread, it does
/// nothing.
///
/// ```
/// lockgraph_core::recheck(); // no check open: nothing to do
/// ```
pub fn recheck() {
    if crate::atomicity::on() {
        crate::atomicity::recheck(crate::state::atom_thread());
    }
}
