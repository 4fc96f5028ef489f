//! [`Notice`]: a message of lockgraph's own, delivered like a report.

use std::fmt;

use super::{event, Deliver};

/// A message of lockgraph's own: a table limit reached, long waits
/// suppressed, a bad environment variable.
pub(crate) struct Notice {
    error: bool,
    /// Printed on stderr when no subscriber takes it.
    print: bool,
    text: String,
}

impl Notice {
    /// A `tracing` WARN message.
    pub(crate) fn warn(text: String) -> Notice {
        Notice {
            error: false,
            print: true,
            text,
        }
    }

    /// A `tracing` ERROR message.
    pub(crate) fn error(text: String) -> Notice {
        Notice {
            error: true,
            print: true,
            text,
        }
    }

    /// A `tracing` WARN message already printed on stderr: only the event.
    pub(crate) fn event_only(text: String) -> Notice {
        Notice {
            error: false,
            print: false,
            text,
        }
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Deliver for Notice {
    fn event(&self, text: &str) -> bool {
        if self.error {
            event!(tracing::Level::ERROR, "{text}")
        } else {
            event!(tracing::Level::WARN, "{text}")
        }
    }

    fn print_when_unheard(&self) -> bool {
        self.print
    }
}
