//! `spawn` and `instrument`: a task's name and spawn site for reports, and
//! the "sync lock held across an await" check at every `Pending`.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future wrapped by [`instrument`]: polls it, names its task in reports
/// and checks, at every `Pending`, that its thread holds no lockgraph sync
/// lock taken during that poll.
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<F> {
    fut: F,
    #[cfg_attr(
        not(any(debug_assertions, feature = "track-in-release", loom)),
        allow(dead_code)
    )]
    name: Option<String>,
    #[cfg_attr(
        not(any(debug_assertions, feature = "track-in-release", loom)),
        allow(dead_code)
    )]
    site: &'static Location<'static>,
    /// The task this future named (on its first poll inside a task).
    task: Option<u64>,
}

/// Wraps `fut` so that its task is named by its site in reports and a
/// sync lock held across one of its awaits is reported.
#[track_caller]
pub fn instrument<F: Future>(fut: F) -> Instrumented<F> {
    Instrumented {
        fut,
        name: None,
        site: Location::caller(),
        task: None,
    }
}

/// [`instrument`] with a name for the task.
#[track_caller]
pub fn instrument_named<F: Future>(name: &str, fut: F) -> Instrumented<F> {
    Instrumented {
        fut,
        name: Some(name.to_string()),
        site: Location::caller(),
        task: None,
    }
}

/// `tokio::spawn` of the [`instrument`]ed future.
#[track_caller]
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(instrument(fut))
}

/// `tokio::spawn` of the [`instrument_named`] future.
#[track_caller]
pub fn spawn_named<F>(name: &str, fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(instrument_named(name, fut))
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned (never moved out of `self`,
        // no `Unpin` impl that would allow it: `Instrumented<F>` is `Unpin`
        // only when `F` is); the other fields are not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
        {
            if this.task.is_none() {
                // The core names the task that holds a lock only once it
                // knows how to find it: an instrumented task may take sync
                // locks alone, before any async lock told it.
                super::track::register();
                this.task = super::track::task_id();
                if let Some(id) = this.task {
                    lockgraph_core::task::name_task(
                        id,
                        lockgraph_core::task::TaskName {
                            name: this.name.clone().unwrap_or_default(),
                            site: this.site,
                        },
                    );
                }
            }
            let before = lockgraph_core::task::thread_held();
            // SAFETY: see above.
            let r = unsafe { Pin::new_unchecked(&mut this.fut) }.poll(cx);
            if r.is_pending() {
                lockgraph_core::task::check_poll(
                    &before,
                    || "its poll returned Pending".to_string(),
                    Some(this.site),
                );
            }
            r
        }
        #[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
        {
            // SAFETY: see above.
            unsafe { Pin::new_unchecked(&mut this.fut) }.poll(cx)
        }
    }
}

impl<F> Drop for Instrumented<F> {
    fn drop(&mut self) {
        if let Some(id) = self.task.take() {
            lockgraph_core::task::unname_task(id);
        }
    }
}
