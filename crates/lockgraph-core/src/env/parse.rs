//! The forms of a variable's value: switches, sizes and durations, each
//! telling a malformed value from one past its limit.

use std::fmt;
use std::time::Duration;

/// A switch's value: `1`/`0`, `on`/`off`, `true`/`false`, `yes`/`no` (lower case).
pub(super) fn switch(t: &str) -> Option<bool> {
    match t {
        "1" | "on" | "true" | "yes" => Some(true),
        "0" | "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// Why a size did not parse.
pub(super) enum SizeError {
    /// Not a positive integer with an optional suffix.
    Malformed,
    /// A positive integer (with its suffix) past `u64::MAX`.
    TooLarge,
}

/// [`SizeError::TooLarge`]'s limit, in words.
pub(super) const MAX_SIZE_IN_WORDS: &str = "18446744073709551615 (2^64 - 1)";

/// A size: a positive integer, with `k` (× 1,024) or `m` (× 1,048,576).
pub(super) fn size(t: &str) -> Result<u64, SizeError> {
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
pub(super) const MAX_ENV_DURATION_IN_WORDS: &str = "18446744073.709551615s (about 584 years)";

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
