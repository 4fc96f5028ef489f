//! A raw stack line's frame (format version 4) as the reader keeps it
//! among a stack's frames until the merge resolves it (`crate::symbols`):
//! a string no resolved frame is, naming the file, its size and
//! modification time as the process listed it, and the address in it.

/// The first character of a raw frame's string: the reader replaces it in
/// the resolved frames it reads, so that none starts with it.
pub(crate) const RAW_MARK: char = '\u{1}';

/// One raw frame: address `addr` in file `path`, of that size and
/// modification time (nanoseconds since the epoch).
pub(crate) struct RawFrame<'a> {
    pub(crate) path: &'a str,
    pub(crate) size: u64,
    pub(crate) mtime_ns: i64,
    pub(crate) addr: u64,
}

impl<'a> RawFrame<'a> {
    /// Its string among a stack's frames.
    pub(crate) fn to_frame(&self) -> String {
        format!(
            "{RAW_MARK}{}:{}:{}:{}",
            self.size, self.mtime_ns, self.addr, self.path
        )
    }

    /// The raw frame a frame string is, if it is one.
    pub(crate) fn parse(frame: &'a str) -> Option<RawFrame<'a>> {
        let rest = frame.strip_prefix(RAW_MARK)?;
        let mut parts = rest.splitn(4, ':');
        Some(RawFrame {
            size: parts.next()?.parse().ok()?,
            mtime_ns: parts.next()?.parse().ok()?,
            addr: parts.next()?.parse().ok()?,
            path: parts.next()?,
        })
    }
}
