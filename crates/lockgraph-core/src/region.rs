//! `atomic_region`: the atomicity checker's one entry point that needs the
//! held-lock state (its per-thread part lives there), so it sits above it.

/// Runs `f` as one atomic region for the atomicity checker: inside it, a
/// release of any lock followed by an exclusive acquisition of the same lock
/// is a check-then-act, whatever else happens in between (see the module
/// docs of the facade, or `docs/loom.md`). Regions nest; the outermost one
/// ends them. With the checker off, it only runs `f`.
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
