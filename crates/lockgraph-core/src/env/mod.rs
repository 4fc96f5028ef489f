//! Every `LOCKGRAPH_*` environment variable lockgraph reads, declared once in
//! [`VARIABLES`] (name, kind, default, one line of documentation) and parsed
//! one way:
//!
//! * values are trimmed and compared without regard to case;
//! * a switch is `1`/`0`, `on`/`off`, `true`/`false` or `yes`/`no`;
//! * a duration is a number with a unit: `ns`, `us`, `ms`, `s`, `m`
//!   (`750ms`, `1.5s`, `2m`), at most [`MAX_ENV_DURATION`] (about 584
//!   years);
//! * a size is a positive integer, optionally with `k` (× 1,024) or `m`
//!   (× 1,048,576), at most `u64::MAX`;
//! * a value of the right form past its limit is said to be too large,
//!   not malformed;
//! * an unset or empty variable means its default;
//! * a value that does not parse is named once per variable, on the
//!   standard error file descriptor *and* as a `tracing` WARN event (target
//!   `lockgraph`, delivered like a report), and the default is used. Nothing
//!   is ignored without a word.
//!
//! `docs/environment.md` is generated from the table ([`markdown_table`]);
//! a test fails when the two disagree.

mod parse;
#[cfg(test)]
mod tests;

pub use parse::{parse_duration, ParseDurationError, MAX_ENV_DURATION};
use parse::{size, switch, SizeError, MAX_ENV_DURATION_IN_WORDS, MAX_SIZE_IN_WORDS};

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What a variable holds, and so how it is parsed.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Kind {
    /// On or off.
    Switch,
    /// On or off, or one of these words.
    SwitchOr(&'static [&'static str]),
    /// One of these words; a pair `(alias, word)` in `aliases` reads `alias`
    /// as `word`.
    Choice {
        /// The words.
        words: &'static [&'static str],
        /// Other spellings of some words.
        aliases: &'static [(&'static str, &'static str)],
    },
    /// A duration (on: [`Kind::DurationOrSwitch::on`]), or off.
    DurationOrSwitch {
        /// The duration a bare "on" means.
        on: Duration,
    },
    /// A positive integer, optionally with a `k` or `m` suffix.
    Size,
    /// A path (not trimmed; only an empty value counts as unset).
    Path,
}

/// One `LOCKGRAPH_*` variable.
#[derive(Debug)]
pub struct Variable {
    /// Its name.
    pub name: &'static str,
    /// What it holds.
    pub kind: Kind,
    /// Its value when unset (or when its value does not parse); empty for
    /// "none".
    pub default: &'static str,
    /// What it does, in one line.
    pub doc: &'static str,
    /// What a bad value is called in the message ("value", or a more
    /// precise noun).
    noun: &'static str,
    /// Whether a bad value was named already.
    said: AtomicBool,
}

/// A parsed value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A switch (or a duration variable turned off).
    Switch(bool),
    /// A word of a choice, or of a switch's extra words.
    Word(&'static str),
    /// A duration.
    Duration(Duration),
    /// A size.
    Size(u64),
    /// A path.
    Path(PathBuf),
    /// No value (an unset path).
    None,
}

const fn var(name: &'static str, kind: Kind, default: &'static str, doc: &'static str) -> Variable {
    Variable {
        name,
        kind,
        default,
        doc,
        noun: "value",
        said: AtomicBool::new(false),
    }
}

/// `LOCKGRAPH_ON_CYCLE`: the reporting policy.
pub static ON_CYCLE: Variable = Variable {
    noun: "lockgraph policy",
    ..var(
        "LOCKGRAPH_ON_CYCLE",
        Kind::Choice {
            words: &["warn", "panic", "abort", "off"],
            aliases: &[],
        },
        "warn",
        "What a potential deadlock does: `warn` (a tracing event, or stderr), `panic` in the thread that closed the cycle (a lock-order cycle's message starts with that lock call's `file:line:column`; a CUDA device cycle's does not), `abort`, or `off`.",
    )
};

/// `LOCKGRAPH_BACKTRACE`: stacks captured with each new edge.
pub static BACKTRACE: Variable = var(
    "LOCKGRAPH_BACKTRACE",
    Kind::Switch,
    "on",
    "Capture the stack when an edge is first recorded (shown in reports); off saves the capture's cost.",
);

/// `LOCKGRAPH_ORDER`: the lock-order graph.
pub static ORDER: Variable = var(
    "LOCKGRAPH_ORDER",
    Kind::Switch,
    if cfg!(all(feature = "watchdog-in-release", not(debug_assertions))) {
        "off"
    } else {
        "on"
    },
    "Record lock-order edges and report potential deadlocks; off keeps only the held-lock stacks the watchdog, the profile and the atomicity checker need.",
);

/// `LOCKGRAPH_PROFILE`: the contention profile.
pub static PROFILE: Variable = var(
    "LOCKGRAPH_PROFILE",
    Kind::Switch,
    "off",
    "Count acquisitions, contention, wait and hold times per lock class (`lockgraph::profile::report`), and the backpressure of queues made while it is on (`lockgraph::pipeline::report`); with `LOCKGRAPH_RECORD`, both are written to the record directory at exit.",
);

/// `LOCKGRAPH_ATOMICITY`: the check-then-act checker.
pub static ATOMICITY: Variable = var(
    "LOCKGRAPH_ATOMICITY",
    Kind::SwitchOr(&["warn"]),
    "off",
    "Report check-then-act races: on (violations), `warn` (also the pattern without an interleaving write), or off.",
);

/// `LOCKGRAPH_WATCHDOG`: the watchdog and its timeout.
pub static WATCHDOG: Variable = var(
    "LOCKGRAPH_WATCHDOG",
    Kind::DurationOrSwitch {
        on: Duration::from_secs(5),
    },
    "off",
    "Start the watchdog at the first lock use; a wait longer than this duration is reported (on: 5s).",
);

/// `LOCKGRAPH_WATCHDOG_ACTION`: what the watchdog does with a report.
pub static WATCHDOG_ACTION: Variable = var(
    "LOCKGRAPH_WATCHDOG_ACTION",
    Kind::Choice {
        words: &["report", "abort"],
        aliases: &[("warn", "report")],
    },
    "report",
    "What the watchdog does with a report started from the environment: `report`, or print it and `abort`.",
);

/// `LOCKGRAPH_DUMP_DIR`: where watchdog reports are also written as JSON.
pub static DUMP_DIR: Variable = var(
    "LOCKGRAPH_DUMP_DIR",
    Kind::Path,
    "",
    "A directory where each process appends its watchdog reports, dumps and progress markers (JSON lines, one file per process) for `lockgraph hang`.",
);

/// `LOCKGRAPH_DUMP_SIGNAL`: the dump on SIGUSR2.
pub static DUMP_SIGNAL: Variable = var(
    "LOCKGRAPH_DUMP_SIGNAL",
    Kind::Switch,
    "off",
    "Install the watchdog's SIGUSR2 handler: `kill -USR2 <pid>` or `lockgraph dump --pid <pid>` gets a dump of every thread's locks, waits and stacks. Turns the watchdog on (5s) when `LOCKGRAPH_WATCHDOG` is unset; ignored, and said, when that is `off`.",
);

/// `LOCKGRAPH_REMOTE_STACKS`: another thread's current stack in reports.
pub static REMOTE_STACKS: Variable = var(
    "LOCKGRAPH_REMOTE_STACKS",
    Kind::SwitchOr(&["auto"]),
    "auto",
    "Signal a lock holder for its current stack in watchdog reports: `auto` (where the C library makes it safe), on (force), off.",
);

/// `LOCKGRAPH_WATCHDOG_VERBOSE`: raw kernel fields in watchdog reports.
pub static WATCHDOG_VERBOSE: Variable = var(
    "LOCKGRAPH_WATCHDOG_VERBOSE",
    Kind::Switch,
    "off",
    "Add the raw kernel fields (state letter, wchan, system call number and arguments) to the words of a watchdog report's `now:` lines and JSON.",
);

/// `LOCKGRAPH_RECORD`: the lock-order record directory.
pub static RECORD: Variable = var(
    "LOCKGRAPH_RECORD",
    Kind::Path,
    "",
    "A directory where each process appends its new lock-order edges (JSON lines) for `lockgraph check`.",
);

/// `LOCKGRAPH_MAX_CLASSES`: the class table's size limit.
pub static MAX_CLASSES: Variable = var(
    "LOCKGRAPH_MAX_CLASSES",
    Kind::Size,
    "64k",
    "The most lock classes in the lock-order graph; past it recording stops (said once).",
);

/// `LOCKGRAPH_MAX_EDGES`: the class edge table's size limit.
pub static MAX_EDGES: Variable = var(
    "LOCKGRAPH_MAX_EDGES",
    Kind::Size,
    "1m",
    "The most edges between classes; past it recording stops (said once).",
);

/// `LOCKGRAPH_MAX_INSTANCES`: the instance graph's size limit.
pub static MAX_INSTANCES: Variable = var(
    "LOCKGRAPH_MAX_INSTANCES",
    Kind::Size,
    "1m",
    "The most live lock instances in the same-class instance graph; past it recording stops (said once), for the rest of the process, also once fewer are live.",
);

/// Every variable lockgraph reads, in the order `docs/environment.md`
/// lists them.
pub static VARIABLES: [&Variable; 15] = [
    &ON_CYCLE,
    &BACKTRACE,
    &ORDER,
    &PROFILE,
    &ATOMICITY,
    &WATCHDOG,
    &WATCHDOG_ACTION,
    &DUMP_DIR,
    &DUMP_SIGNAL,
    &REMOTE_STACKS,
    &WATCHDOG_VERBOSE,
    &RECORD,
    &MAX_CLASSES,
    &MAX_EDGES,
    &MAX_INSTANCES,
];

/// Why a value did not parse: what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BadValue {
    /// What the variable accepts, in words.
    pub expected: String,
    /// For a value of the right form that is out of range (a duration or
    /// a size that overflows): the limit it passes, in words; `None` for a
    /// value of the wrong form.
    pub too_large: Option<&'static str>,
}

impl BadValue {
    fn malformed(kind: &Kind) -> BadValue {
        BadValue {
            expected: kind.expected(),
            too_large: None,
        }
    }

    fn too_large(kind: &Kind, limit: &'static str) -> BadValue {
        BadValue {
            expected: kind.expected(),
            too_large: Some(limit),
        }
    }
}

impl Kind {
    /// What this kind accepts, in words (as the message about a bad value
    /// says it).
    pub fn expected(&self) -> String {
        match self {
            Kind::Switch => "on or off".to_string(),
            Kind::SwitchOr(extra) => format!("on, off or {}", extra.join(", ")),
            Kind::Choice { words, aliases } => {
                // An alias is accepted, so it is named too (`warn (=
                // report)`: found by an outside test, which was told
                // "report or abort" while the docs list `warn`).
                let all: Vec<String> = (words.iter().map(|w| w.to_string()))
                    .chain(aliases.iter().map(|(a, w)| format!("{a} (= {w})")))
                    .collect();
                match all.as_slice() {
                    [] => String::new(),
                    [one] => one.clone(),
                    [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
                }
            }
            Kind::DurationOrSwitch { .. } => {
                "a duration with a unit (ns, us, ms, s, m), e.g. 5s or 750ms, or on or off"
                    .to_string()
            }
            Kind::Size => "a positive integer, optionally with k or m".to_string(),
            Kind::Path => "a path".to_string(),
        }
    }

    /// Parses `text` (already known to be set and not empty).
    pub fn parse(&self, text: &str) -> Result<Value, BadValue> {
        let bad = || BadValue::malformed(self);
        let t = || text.trim().to_ascii_lowercase();
        match self {
            Kind::Path => Ok(Value::Path(PathBuf::from(text))),
            Kind::Switch => switch(&t()).map(Value::Switch).ok_or_else(bad),
            Kind::SwitchOr(extra) => {
                let t = t();
                match switch(&t) {
                    Some(on) => Ok(Value::Word(if on { "on" } else { "off" })),
                    None => extra
                        .iter()
                        .find(|w| **w == t)
                        .map(|w| Value::Word(w))
                        .ok_or_else(bad),
                }
            }
            Kind::Choice { words, aliases } => {
                let t = t();
                words
                    .iter()
                    .find(|w| **w == t)
                    .copied()
                    .or_else(|| aliases.iter().find(|(a, _)| *a == t).map(|(_, w)| *w))
                    .map(Value::Word)
                    .ok_or_else(bad)
            }
            Kind::DurationOrSwitch { on } => {
                let t = t();
                match switch(&t) {
                    Some(true) => Ok(Value::Duration(*on)),
                    Some(false) => Ok(Value::Switch(false)),
                    None => match parse_duration(&t) {
                        Ok(d) if d <= MAX_ENV_DURATION => Ok(Value::Duration(d)),
                        Ok(_) | Err(ParseDurationError::TooLarge(_)) => {
                            Err(BadValue::too_large(self, MAX_ENV_DURATION_IN_WORDS))
                        }
                        Err(_) => Err(bad()),
                    },
                }
            }
            Kind::Size => size(&t()).map(Value::Size).map_err(|e| match e {
                SizeError::TooLarge => BadValue::too_large(self, MAX_SIZE_IN_WORDS),
                SizeError::Malformed => bad(),
            }),
        }
    }
}

impl Variable {
    /// The variable's value: parsed from the environment, or the default
    /// when it is unset or empty, or when it does not parse (which is said
    /// once).
    pub fn value(&self) -> Value {
        self.value_of(self.read())
    }

    /// The value of `text` (the variable's text, `None` when unset or
    /// empty), saying once when it does not parse.
    fn value_of(&self, text: Option<String>) -> Value {
        match text {
            None => self.default_value(),
            Some(text) => match self.kind.parse(&text) {
                Ok(v) => v,
                Err(e) => {
                    self.say_bad(&text, &e);
                    self.default_value()
                }
            },
        }
    }

    /// Whether the variable is set to something other than an empty string.
    pub fn is_set(&self) -> bool {
        self.read().is_some()
    }

    /// The variable's text, unless unset or empty (paths are not trimmed).
    fn read(&self) -> Option<String> {
        let v = std::env::var_os(self.name)?;
        let s = v.to_string_lossy().into_owned();
        let empty = match self.kind {
            Kind::Path => s.is_empty(),
            _ => s.trim().is_empty(),
        };
        (!empty).then_some(s)
    }

    /// The default, parsed (the table's defaults always parse).
    pub fn default_value(&self) -> Value {
        if self.default.is_empty() {
            return match self.kind {
                Kind::Switch => Value::Switch(false),
                _ => Value::None,
            };
        }
        self.kind.parse(self.default).unwrap_or(Value::None)
    }

    /// The message about the bad value `text`.
    fn message(&self, text: &str, e: &BadValue) -> String {
        let default = if self.default.is_empty() {
            "none".to_string()
        } else {
            self.default.to_string()
        };
        match e.too_large {
            Some(limit) => format!(
                "lockgraph: {}: {} {:?} is too large: at most {limit}; using {default}",
                self.name,
                self.noun,
                text.trim(),
            ),
            None => format!(
                "lockgraph: {}: unknown {} {:?} (expected {}); using {default}",
                self.name,
                self.noun,
                text.trim(),
                e.expected
            ),
        }
    }

    /// Says once that `text` is not a value of this variable: on stderr
    /// now, and as a `tracing` event delivered off this thread.
    fn say_bad(&self, text: &str, e: &BadValue) {
        if self.said.swap(true, Ordering::Relaxed) {
            return;
        }
        let msg = self.message(text, e);
        crate::stderr::line(&msg);
        crate::delivery::warn(crate::delivery::Notice::event_only(msg));
    }

    /// A switch's value.
    pub fn switch(&self) -> bool {
        match self.value() {
            Value::Switch(b) => b,
            Value::Word(w) => w != "off",
            Value::Duration(_) | Value::Size(_) | Value::Path(_) => true,
            Value::None => false,
        }
    }

    /// A word (a choice, or a switch with extra words, as `on`/`off`).
    pub fn word(&self) -> &'static str {
        match self.value() {
            Value::Word(w) => w,
            Value::Switch(true) => "on",
            _ => "off",
        }
    }

    /// A duration, or `None` when off.
    pub fn duration(&self) -> Option<Duration> {
        match self.value() {
            Value::Duration(d) => Some(d),
            _ => None,
        }
    }

    /// A size.
    pub fn size(&self) -> u64 {
        match self.value() {
            Value::Size(n) => n,
            _ => 0,
        }
    }

    /// A path, or `None` when unset.
    pub fn path(&self) -> Option<PathBuf> {
        match self.value() {
            Value::Path(p) => Some(p),
            _ => None,
        }
    }
}

/// The variables as the Markdown table of `docs/environment.md`.
pub fn markdown_table() -> String {
    let mut s = String::from("| variable | value | default | what it does |\n|---|---|---|---|\n");
    for v in VARIABLES {
        let default = if v.name == ORDER.name {
            // The one default that depends on the build.
            "`on` (`off` in release builds with `watchdog-in-release`)".to_string()
        } else if v.default.is_empty() {
            "unset".to_string()
        } else {
            format!("`{}`", v.default)
        };
        let value = match v.kind {
            Kind::Switch => "switch".to_string(),
            Kind::SwitchOr(extra) => format!(
                "switch or {}",
                extra
                    .iter()
                    .map(|w| format!("`{w}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Kind::Choice { words, aliases } => {
                let mut w: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
                for (a, to) in aliases {
                    w.push(format!("`{a}` (= `{to}`)"));
                }
                w.join(", ")
            }
            Kind::DurationOrSwitch { .. } => "duration or switch".to_string(),
            Kind::Size => "size".to_string(),
            Kind::Path => "path".to_string(),
        };
        s.push_str(&format!(
            "| `{}` | {value} | {default} | {} |\n",
            v.name, v.doc
        ));
    }
    s
}
