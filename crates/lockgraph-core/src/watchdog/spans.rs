//! The `tracing` spans open on each thread, for reports and dumps
//! (`request{id=7} > load_model{name="bert"}`).
//!
//! With the `tracing-spans` feature, [`layer`] is a `tracing-subscriber`
//! layer that keeps, per thread, the spans the thread has entered, as text
//! made once when a span is created (or its fields recorded): entering a
//! span pushes its text on the thread's own list, exiting pops it. Each list
//! is published in a table by OS thread id, which the watchdog reads when
//! it builds a report. Nothing on the lock path calls into the subscriber
//! or reads the spans: only span enters and exits (the layer's callbacks)
//! touch the list, under its own mutex that only the watchdog also takes.

use std::collections::HashMap;

use super::*;

/// One thread's entered spans, innermost last: (span id, text).
pub(crate) type Stack = Arc<Mutex<Vec<(u64, String)>>>;

/// Every thread's stack that entered a span, by OS thread id.
static STACKS: Mutex<Option<HashMap<u64, Stack>>> = Mutex::new(None);

/// The spans open on thread `tid`, outermost first (empty without the
/// layer, or when it entered none).
pub(crate) fn open_spans(tid: u64) -> Vec<String> {
    let stack = match STACKS.lock().as_ref().and_then(|m| m.get(&tid)) {
        Some(s) => s.clone(),
        None => return Vec::new(),
    };
    let spans = stack.lock();
    spans.iter().map(|(_, text)| text.clone()).collect()
}

#[cfg(feature = "tracing-spans")]
mod layer {
    use std::cell::RefCell;
    use std::fmt::{self, Write as _};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::Subscriber;
    use tracing_subscriber::layer::Context;
    use tracing_subscriber::registry::LookupSpan;

    use super::*;

    /// The layer of [`layer`]: add it to the program's subscriber stack.
    #[derive(Clone, Copy, Debug, Default)]
    #[non_exhaustive]
    pub struct SpanLayer;

    /// A layer that keeps the spans open on each thread for lockgraph's
    /// watchdog reports and dumps:
    ///
    /// ```
    /// use tracing_subscriber::layer::SubscriberExt as _;
    ///
    /// let subscriber = tracing_subscriber::registry().with(lockgraph_core::watchdog::layer());
    /// tracing::subscriber::with_default(subscriber, || {
    ///     let _request = tracing::info_span!("request", id = 7).entered();
    ///     // A deadlock or long wait reported now shows `request{id=7}`.
    /// });
    /// ```
    pub fn layer() -> SpanLayer {
        SpanLayer
    }

    /// A span's name and fields, kept in its registry extensions, and its
    /// text as reports show it.
    struct SpanText {
        name: &'static str,
        /// Each field once, in the order first given; a field recorded
        /// again keeps its place with the new value (as a span's value is
        /// the last one recorded).
        fields: Vec<(&'static str, String)>,
        text: String,
    }

    impl SpanText {
        /// Sets each field `record` visits.
        fn record(&mut self, record: impl FnOnce(&mut Fields<'_>)) {
            record(&mut Fields(&mut self.fields));
            self.text = if self.fields.is_empty() {
                self.name.to_string()
            } else {
                let mut t = format!("{}{{", self.name);
                for (i, (field, value)) in self.fields.iter().enumerate() {
                    let sep = if i > 0 { ", " } else { "" };
                    let _ = write!(t, "{sep}{field}={value}");
                }
                t.push('}');
                t
            };
        }
    }

    struct Fields<'a>(&'a mut Vec<(&'static str, String)>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            let value = format!("{value:?}");
            match self.0.iter_mut().find(|(f, _)| *f == field.name()) {
                Some(kept) => kept.1 = value,
                None => self.0.push((field.name(), value)),
            }
        }

        fn record_str(&mut self, field: &Field, value: &str) {
            self.record_debug(field, &value);
        }
    }

    thread_local! {
        /// This thread's stack, published in [`STACKS`] on first use and
        /// taken out of it when the thread exits.
        static MINE: RefCell<Option<Published>> = const { RefCell::new(None) };
    }

    /// A thread's entry in [`STACKS`], removed when the thread ends.
    struct Published {
        tid: u64,
        stack: Stack,
    }

    impl Drop for Published {
        fn drop(&mut self) {
            if let Some(m) = STACKS.lock().as_mut() {
                m.remove(&self.tid);
            }
        }
    }

    fn with_mine(f: impl FnOnce(&Stack)) {
        let _ = MINE.try_with(|mine| {
            let mut mine = mine.borrow_mut();
            let p = mine.get_or_insert_with(|| {
                let tid = os_tid();
                let stack: Stack = Arc::new(Mutex::new(Vec::new()));
                STACKS
                    .lock()
                    .get_or_insert_with(HashMap::new)
                    .insert(tid, stack.clone());
                Published { tid, stack }
            });
            f(&p.stack);
        });
    }

    impl<S> tracing_subscriber::Layer<S> for SpanLayer
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
            let mut t = SpanText {
                name: attrs.metadata().name(),
                fields: Vec::new(),
                text: String::new(),
            };
            t.record(|v| attrs.record(v));
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(t);
            }
        }

        fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
            let Some(span) = ctx.span(id) else { return };
            let mut ext = span.extensions_mut();
            let Some(st) = ext.get_mut::<SpanText>() else {
                return;
            };
            let before = st.text.clone();
            st.record(|v| values.record(v));
            if st.text == before {
                return;
            }
            let t = &st.text;
            // Entered already, on this thread or another: its published
            // text too (a field recorded on one thread reached only that
            // thread's list). Recording a field is rare: every thread's
            // list is looked at. The span's extensions stay locked
            // meanwhile, so that two threads recording fields at once
            // publish in the order they wrote them (no path takes a list's
            // lock and then a span's extensions).
            let (id, t) = (id.into_u64(), t.clone());
            let stacks: Vec<Stack> = STACKS
                .lock()
                .as_ref()
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default();
            for stack in stacks {
                for entry in stack.lock().iter_mut().filter(|(i, _)| *i == id) {
                    entry.1.clone_from(&t);
                }
            }
        }

        fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
            let Some(span) = ctx.span(id) else { return };
            let t = span
                .extensions()
                .get::<SpanText>()
                .map_or_else(|| span.name().to_string(), |t| t.text.clone());
            with_mine(|stack| stack.lock().push((id.into_u64(), t)));
        }

        fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
            let id = id.into_u64();
            with_mine(|stack| {
                let mut s = stack.lock();
                if let Some(at) = s.iter().rposition(|(i, _)| *i == id) {
                    s.remove(at);
                }
            });
        }
    }
}

#[cfg(feature = "tracing-spans")]
pub use layer::{layer, SpanLayer};
