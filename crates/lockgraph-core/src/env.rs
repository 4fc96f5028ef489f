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

use std::fmt;
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
        "What a potential deadlock does: `warn` (a tracing event, or stderr), `panic` in the thread that closed the cycle, `abort`, or `off`.",
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
    "Count acquisitions, contention, wait and hold times per lock class (`lockgraph::profile::report`).",
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
    "The most live lock instances in the same-class instance graph; past it recording stops (said once).",
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
            Kind::Choice { words, .. } => match words {
                [] => String::new(),
                [one] => (*one).to_string(),
                [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
            },
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

fn switch(t: &str) -> Option<bool> {
    match t {
        "1" | "on" | "true" | "yes" => Some(true),
        "0" | "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// Why a size did not parse.
enum SizeError {
    /// Not a positive integer with an optional suffix.
    Malformed,
    /// A positive integer (with its suffix) past `u64::MAX`.
    TooLarge,
}

/// [`SizeError::TooLarge`]'s limit, in words.
const MAX_SIZE_IN_WORDS: &str = "18446744073709551615 (2^64 - 1)";

fn size(t: &str) -> Result<u64, SizeError> {
    let t = t.replace('_', "");
    let (num, scale) = match t.strip_suffix('k') {
        Some(n) => (n, 1 << 10),
        None => match t.strip_suffix('m') {
            Some(n) => (n, 1 << 20),
            None => (t.as_str(), 1),
        },
    };
    let num = num.trim();
    let num = num.strip_prefix('+').unwrap_or(num);
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SizeError::Malformed);
    }
    // Digits only: a number `u64` cannot hold is too large, not malformed.
    let n: u64 = num.parse().map_err(|_| SizeError::TooLarge)?;
    match n.checked_mul(scale) {
        None => Err(SizeError::TooLarge),
        Some(0) => Err(SizeError::Malformed),
        Some(n) => Ok(n),
    }
}

/// [`parse_duration`]'s limit, `Duration::MAX`, in words.
const MAX_DURATION_IN_WORDS: &str = "18446744073709551615.999999999s (about 585 billion years)";

/// The longest duration a variable takes: `u64::MAX` nanoseconds. The
/// watchdog counts waits in 64-bit nanoseconds, where a longer timeout
/// would wrap round to a short one.
pub const MAX_ENV_DURATION: Duration = Duration::from_nanos(u64::MAX);

/// [`MAX_ENV_DURATION`] in words.
const MAX_ENV_DURATION_IN_WORDS: &str = "18446744073.709551615s (about 584 years)";

/// A duration that did not parse; each names the text as given.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseDurationError {
    /// Not a number with a unit.
    Malformed(String),
    /// A number with a unit, longer than `Duration::MAX`.
    TooLarge(String),
}

impl fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseDurationError::Malformed(text) => write!(
                f,
                "invalid duration {text:?}: expected a number with a unit (ns, us, ms, s, m), e.g. 5s or 750ms"
            ),
            ParseDurationError::TooLarge(text) => write!(
                f,
                "duration {text:?} is too large: at most {MAX_DURATION_IN_WORDS}"
            ),
        }
    }
}

impl std::error::Error for ParseDurationError {}

/// Parses `5s`, `750ms`, `1.5s`, `2m`, `100us`, `10ns` (trimmed), exactly
/// to the nanosecond (a fraction of a nanosecond is dropped), up to
/// `Duration::MAX`.
pub fn parse_duration(text: &str) -> Result<Duration, ParseDurationError> {
    let malformed = || ParseDurationError::Malformed(text.to_string());
    let too_large = || ParseDurationError::TooLarge(text.to_string());
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(malformed)?;
    let (num, unit) = t.split_at(split);
    let unit_nanos: u128 = match unit.trim() {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => NANOS_PER_SEC,
        "m" | "min" => 60 * NANOS_PER_SEC,
        _ => return Err(malformed()),
    };
    // Digits, with at most one point and at least one digit (`.5`, `5.`).
    let (whole, fraction) = num.split_once('.').unwrap_or((num, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(malformed());
    }
    let digits = |s: &str| {
        s.bytes().try_fold(0u128, |n, d| {
            n.checked_mul(10)?.checked_add(u128::from(d - b'0'))
        })
    };
    let whole_nanos = digits(whole)
        .and_then(|n| n.checked_mul(unit_nanos))
        .ok_or_else(too_large)?;
    // The fraction's first 20 digits: the rest is far below a nanosecond
    // of any unit, and 10^20 × 60e9 still fits a u128.
    let fraction = &fraction[..fraction.len().min(20)];
    let fraction_nanos =
        digits(fraction).map_or(0, |f| f * unit_nanos / 10u128.pow(fraction.len() as u32));
    let nanos = whole_nanos
        .checked_add(fraction_nanos)
        .ok_or_else(too_large)?;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| too_large())?;
    // Below a second's nanoseconds: fits.
    let sub = (nanos % NANOS_PER_SEC) as u32;
    Ok(Duration::new(secs, sub))
}

const NANOS_PER_SEC: u128 = 1_000_000_000;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_accept_every_spelling_trimmed_and_in_any_case() {
        for on in ["1", "on", "ON", " true ", "Yes"] {
            assert_eq!(Kind::Switch.parse(on), Ok(Value::Switch(true)), "{on}");
        }
        for off in ["0", "off", "False", "no "] {
            assert_eq!(Kind::Switch.parse(off), Ok(Value::Switch(false)), "{off}");
        }
        let e = Kind::Switch.parse("maybe").unwrap_err();
        assert_eq!(e.expected, "on or off");
    }

    #[test]
    fn a_switch_with_words_and_a_choice_with_aliases() {
        let k = ATOMICITY.kind;
        assert_eq!(k.parse("WARN"), Ok(Value::Word("warn")));
        assert_eq!(k.parse("1"), Ok(Value::Word("on")));
        assert_eq!(k.parse("no"), Ok(Value::Word("off")));
        // A typo is an error, not "on".
        assert_eq!(k.parse("onn").unwrap_err().expected, "on, off or warn");
        let k = WATCHDOG_ACTION.kind;
        assert_eq!(k.parse(" Abort"), Ok(Value::Word("abort")));
        assert_eq!(k.parse("warn"), Ok(Value::Word("report")));
        assert_eq!(k.parse("explode").unwrap_err().expected, "report or abort");
        assert_eq!(
            ON_CYCLE.kind.parse("x").unwrap_err().expected,
            "warn, panic, abort or off"
        );
    }

    #[test]
    fn durations_and_switches_for_the_watchdog() {
        let k = WATCHDOG.kind;
        assert_eq!(
            k.parse("750ms"),
            Ok(Value::Duration(Duration::from_millis(750)))
        );
        assert_eq!(k.parse("1"), Ok(Value::Duration(Duration::from_secs(5))));
        assert_eq!(k.parse("off"), Ok(Value::Switch(false)));
        assert!(k.parse("5").is_err());
    }

    #[test]
    fn durations_parse_with_units_and_errors_name_the_value() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("750ms"), Ok(Duration::from_millis(750)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration(" 100us "), Ok(Duration::from_micros(100)));
        for bad in ["", "5", "s", "5 parsecs", "-1s", "1..2s"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn a_duration_past_the_limit_is_too_large_not_malformed() {
        // Exactly to the nanosecond, up to the limit itself.
        assert_eq!(
            parse_duration("18446744073709551615.999999999s"),
            Ok(Duration::MAX),
            "the limit in words is the limit"
        );
        assert_eq!(
            parse_duration("18446744073709551615ns"),
            Ok(MAX_ENV_DURATION)
        );
        assert_eq!(
            parse_duration("18446744073.709551615s"),
            Ok(MAX_ENV_DURATION)
        );
        assert_eq!(
            parse_duration("9007199254740993ns"),
            Ok(Duration::from_nanos(9_007_199_254_740_993))
        );
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0.1us"), Ok(Duration::from_nanos(100)));
        assert_eq!(
            parse_duration("1.000000000000000000000000001s"),
            Ok(Duration::from_secs(1))
        );
        for big in [
            "18446744073709551616s",
            "99999999999999999999s",
            "307445734561825861m",
            "1000000000000000000000000000000000000000000000000000ms",
        ] {
            let e = parse_duration(big).unwrap_err();
            assert_eq!(e, ParseDurationError::TooLarge(big.to_string()));
            assert_eq!(
                e.to_string(),
                format!(
                    "duration {big:?} is too large: at most 18446744073709551615.999999999s \
                     (about 585 billion years)"
                )
            );
        }
        // Malformed input keeps its message, whatever its size.
        for bad in ["1e30s", "99999999999999999999", "9999999999999999999x", "."] {
            let e = parse_duration(bad).unwrap_err();
            assert_eq!(e, ParseDurationError::Malformed(bad.to_string()));
            assert!(
                e.to_string().ends_with(
                    "expected a number with a unit (ns, us, ms, s, m), e.g. 5s or 750ms"
                ),
                "{e}"
            );
        }
    }

    #[test]
    fn a_variable_too_large_is_named_with_its_limit() {
        // The watchdog's limit: a longer timeout would wrap round in its
        // 64-bit nanoseconds to a short one.
        assert_eq!(
            WATCHDOG.kind.parse("18446744073.709551615s"),
            Ok(Value::Duration(MAX_ENV_DURATION))
        );
        for big in [
            "18446744074s",
            "99999999999999999999s",
            "99999999999999999999999999m",
        ] {
            let e = WATCHDOG.kind.parse(big).unwrap_err();
            assert_eq!(
                WATCHDOG.message(big, &e),
                format!(
                    "lockgraph: LOCKGRAPH_WATCHDOG: value {big:?} is too large: \
                     at most 18446744073.709551615s (about 584 years); using off"
                )
            );
        }
        let e = WATCHDOG.kind.parse("5 parsecs").unwrap_err();
        assert_eq!(
            WATCHDOG.message("5 parsecs", &e),
            "lockgraph: LOCKGRAPH_WATCHDOG: unknown value \"5 parsecs\" (expected a duration \
             with a unit (ns, us, ms, s, m), e.g. 5s or 750ms, or on or off); using off"
        );
        for big in [
            "18446744073709551616",
            "99999999999999999999k",
            "18014398509481984k",
        ] {
            let e = MAX_EDGES.kind.parse(big).unwrap_err();
            assert_eq!(
                MAX_EDGES.message(big, &e),
                format!(
                    "lockgraph: LOCKGRAPH_MAX_EDGES: value {big:?} is too large: \
                     at most 18446744073709551615 (2^64 - 1); using 1m"
                )
            );
        }
        assert_eq!(
            Kind::Size.parse("18446744073709551615"),
            Ok(Value::Size(u64::MAX))
        );
        assert_eq!(Kind::Size.parse("+5"), Ok(Value::Size(5)));
        for bad in ["99999999999999999999x", "0k", "k", "1.5k"] {
            let e = MAX_EDGES.kind.parse(bad).unwrap_err();
            assert_eq!(e.too_large, None, "{bad}");
            assert!(
                MAX_EDGES.message(bad, &e).contains("unknown value"),
                "{bad}"
            );
        }
    }

    #[test]
    fn sizes_take_suffixes_and_refuse_zero() {
        assert_eq!(Kind::Size.parse("100"), Ok(Value::Size(100)));
        assert_eq!(Kind::Size.parse("64K"), Ok(Value::Size(65_536)));
        assert_eq!(Kind::Size.parse("1m"), Ok(Value::Size(1 << 20)));
        assert_eq!(Kind::Size.parse("1_000"), Ok(Value::Size(1000)));
        for bad in ["0", "-3", "lots", "2g"] {
            assert!(Kind::Size.parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_default_parses_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for v in VARIABLES {
            assert!(v.name.starts_with("LOCKGRAPH_"), "{}", v.name);
            assert!(names.insert(v.name), "{} twice", v.name);
            if !v.default.is_empty() {
                assert!(v.kind.parse(v.default).is_ok(), "{}", v.name);
            }
            assert!(!v.doc.is_empty() && !v.doc.contains('|'), "{}", v.name);
        }
        assert_eq!(MAX_CLASSES.default_value(), Value::Size(65_536));
        assert_eq!(MAX_EDGES.default_value(), Value::Size(1 << 20));
    }

    #[test]
    fn a_bad_value_message_names_the_variable_the_value_and_the_default() {
        let e = ORDER.kind.parse("sometimes").unwrap_err();
        let m = ORDER.message("sometimes", &e);
        assert!(
            m.starts_with("lockgraph: LOCKGRAPH_ORDER: unknown value \"sometimes\" (expected on or off); using "),
            "{m}"
        );
        let e = ON_CYCLE.kind.parse("explode").unwrap_err();
        assert_eq!(
            ON_CYCLE.message("explode", &e),
            "lockgraph: LOCKGRAPH_ON_CYCLE: unknown lockgraph policy \"explode\" \
             (expected warn, panic, abort or off); using warn"
        );
        let e = MAX_EDGES.kind.parse("0").unwrap_err();
        assert!(MAX_EDGES.message("0", &e).ends_with("; using 1m"));
    }

    /// A subscriber that keeps the messages of the events it is given.
    struct Keep(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl tracing::Subscriber for Keep {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            struct Message(String);
            impl tracing::field::Visit for Message {
                fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn fmt::Debug) {
                    if f.name() == "message" {
                        self.0 = format!("{v:?}");
                    }
                }
            }
            let mut m = Message(String::new());
            event.record(&mut m);
            self.0.lock().unwrap().push(m.0);
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn a_bad_value_is_said_once_as_a_tracing_event_and_the_default_used() {
        static V: Variable = var("LOCKGRAPH_UNIT_TEST_SWITCH", Kind::Switch, "on", "a test's");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let got = tracing::subscriber::with_default(Keep(seen.clone()), || {
            (
                V.value_of(Some("maybe".into())),
                V.value_of(Some("perhaps".into())),
                V.value_of(Some(" NO ".into())),
                V.value_of(None),
            )
        });
        assert_eq!(
            got,
            (
                Value::Switch(true),
                Value::Switch(true),
                Value::Switch(false),
                Value::Switch(true)
            )
        );
        assert!(crate::delivery::flush_reports(
            std::time::Duration::from_secs(30)
        ));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            ["lockgraph: LOCKGRAPH_UNIT_TEST_SWITCH: unknown value \"maybe\" (expected on or off); using on"],
            "said once, naming the first bad value"
        );
    }

    /// `docs/environment.md` lists the table: regenerate it from
    /// [`markdown_table`] when this fails.
    #[test]
    fn the_environment_doc_lists_every_variable_of_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/environment.md");
        let doc = std::fs::read_to_string(path).expect("docs/environment.md");
        let begin = "<!-- table: generated from lockgraph_core::env::markdown_table -->\n";
        let end = "<!-- end of table -->";
        let start = doc.find(begin).expect("the table's start marker") + begin.len();
        let stop = start + doc[start..].find(end).expect("the table's end marker");
        let table = markdown_table();
        assert!(
            doc[start..stop] == table,
            "docs/environment.md's table differs from lockgraph_core::env::VARIABLES; it should read:\n{table}"
        );
    }

    /// Every `LOCKGRAPH_*` name the workspace's code and scripts use is in
    /// `docs/environment.md` (the library's table or the tools' one), and
    /// every name that file lists is used somewhere: a variable added to a
    /// test, a bench or the CLI cannot go undocumented, nor a removed one
    /// stay documented.
    #[test]
    fn the_environment_doc_and_the_code_name_the_same_variables() {
        use std::collections::BTreeSet;
        use std::path::Path;

        /// The full `LOCKGRAPH_*` names in `text` (a bare prefix such as
        /// the benches' `LOCKGRAPH_BENCH_` is not a name).
        fn names(text: &str, into: &mut BTreeSet<String>) {
            let prefix = concat!("LOCKGRAPH", "_");
            let mut rest = text;
            while let Some(at) = rest.find(prefix) {
                let tail = &rest[at..];
                let len = tail
                    .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                    .unwrap_or(tail.len());
                let name = &tail[..len];
                if name.len() > prefix.len() && !name.ends_with('_') {
                    into.insert(name.to_string());
                }
                rest = &tail[len..];
            }
        }
        fn walk(dir: &Path, into: &mut BTreeSet<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if path.is_dir() {
                    if name != "target" && !name.starts_with('.') {
                        walk(&path, into);
                    }
                } else if name.ends_with(".rs") || name.ends_with(".sh") || name == "run" {
                    if let Ok(text) = std::fs::read_to_string(&path) {
                        names(&text, into);
                    }
                }
            }
        }

        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut used = BTreeSet::new();
        for dir in [
            "src", "crates", "tests", "benches", "examples", "scripts", ".ci",
        ] {
            walk(&root.join(dir), &mut used);
        }
        // This module's own unit test variable, never read by lockgraph.
        used.remove(concat!("LOCKGRAPH", "_UNIT_TEST_SWITCH"));
        assert!(
            used.len() >= VARIABLES.len(),
            "the walk found too little: {used:?}"
        );

        let doc =
            std::fs::read_to_string(root.join("docs/environment.md")).expect("docs/environment.md");
        let mut documented = BTreeSet::new();
        names(&doc, &mut documented);

        let undocumented: Vec<_> = used.difference(&documented).collect();
        let unused: Vec<_> = documented.difference(&used).collect();
        assert!(
            undocumented.is_empty() && unused.is_empty(),
            "docs/environment.md and the code disagree: used but not documented {undocumented:?}; \
             documented but used nowhere {unused:?}"
        );
    }
}
