//! A file over [`Limits::file_bytes`]: its first half of the limit and its
//! last half are read, the lines between counted and skipped. The first
//! lines hold the process line and the first reports; the newest records
//! are at the end, and so are a hang's reports: a process that ran for days
//! before it hung (its progress markers grow its file) had its deadlock
//! report past the limit when only the head was read (found by an outside
//! test: "0 report a deadlock" for a 301 MB file that ended with one).

use std::fs;
use std::io::{self, BufReader, Read, Seek, SeekFrom};

use super::super::{amount, Limits};
use super::Reading;

impl Reading<'_> {
    /// Reads the lines in the first half of [`Limits::file_bytes`] of
    /// `file` (`size` bytes, over the limit), then those from the first
    /// line that starts in its last half; the lines between are counted
    /// (so that every line keeps its number), skipped, and said skipped.
    pub(super) fn head_and_tail(
        &mut self,
        file: fs::File,
        size: u64,
        limits: &Limits,
        buf: &mut Vec<u8>,
    ) -> io::Result<()> {
        let half = limits.file_bytes / 2;
        let mut input = BufReader::with_capacity(1 << 16, file.take(half));
        let (first, head_len, _) = self.read_lines(&mut input, 0, limits, buf)?;
        let mut file = input.into_inner().into_inner();
        let tail_start = size.saturating_sub(limits.file_bytes - half).max(head_len);
        file.seek(SeekFrom::Start(head_len))?;
        let (between, start) = count_lines(&mut file, head_len, tail_start, size)?;
        let mut input = BufReader::with_capacity(1 << 16, file.take(size - start));
        // Past `size`: written since the size was read, newer still; the
        // file as it was is what is read.
        let (last, _, _) = self.read_lines(&mut input, first + between, limits, buf)?;
        // What was skipped may hold reports.
        self.notes.incomplete = true;
        let span = |from: u64, to: u64| match to.saturating_sub(from) {
            0 if to < from => "no line".to_string(),
            0 => format!("line {from}"),
            _ => format!("lines {from} to {to}"),
        };
        let head = if first == 0 {
            "no whole line of its first half".to_string()
        } else {
            format!("its first {} ({})", amount(head_len), span(1, first))
        };
        let tail = if last == first + between {
            "no whole line after them".to_string()
        } else {
            format!(
                "its last {} ({})",
                amount(size - start),
                span(first + between + 1, last)
            )
        };
        let why = format!(
            "{} long, over the {} limit for one file: {head} and {tail} read, the {} between them ({}) counted and skipped",
            amount(size),
            amount(limits.file_bytes),
            amount(start - head_len),
            span(first + 1, first + between),
        );
        self.skip(None, why, Some("file_bytes"));
        Ok(())
    }
}

/// Counts the lines of `file` from `from` (at a line's start) that end
/// before the first line starting at `to` or after it: the newlines in
/// `from..to`, and, when `to` falls inside a line, that line's too (read
/// through up to its newline, or to `size`). The count, and where the
/// next line starts (the file is left there).
fn count_lines(file: &mut fs::File, from: u64, to: u64, size: u64) -> io::Result<(u64, u64)> {
    let mut chunk = vec![0u8; 1 << 16];
    let mut pos = from;
    let mut lines = 0u64;
    let mut last = b'\n';
    while pos < to {
        let want = usize::try_from((to - pos).min(chunk.len() as u64)).unwrap_or(chunk.len());
        let n = read_some(file, &mut chunk[..want])?;
        if n == 0 {
            return Ok((lines, pos));
        }
        lines += memchr::memchr_iter(b'\n', &chunk[..n]).count() as u64;
        last = chunk[n - 1];
        pos += n as u64;
    }
    // Inside a line: through its end.
    while last != b'\n' && pos < size {
        let want = usize::try_from((size - pos).min(chunk.len() as u64)).unwrap_or(chunk.len());
        let n = read_some(file, &mut chunk[..want])?;
        if n == 0 {
            break;
        }
        match memchr::memchr(b'\n', &chunk[..n]) {
            Some(i) => {
                lines += 1;
                pos += i as u64 + 1;
                file.seek(SeekFrom::Start(pos))?;
                return Ok((lines, pos));
            }
            None => pos += n as u64,
        }
    }
    Ok((lines, pos))
}

/// `read`, again when interrupted.
fn read_some(file: &mut fs::File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(text: &[u8], from: u64, to: u64) -> (u64, u64) {
        let path = std::env::temp_dir().join(format!(
            "lockgraph-count-lines-{}-{from}-{to}",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        let mut f = fs::File::open(&path).unwrap();
        f.seek(SeekFrom::Start(from)).unwrap();
        let got = count_lines(&mut f, from, to, text.len() as u64).unwrap();
        let mut rest = Vec::new();
        f.read_to_end(&mut rest).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(rest, &text[got.1 as usize..], "left at the next line");
        got
    }

    #[test]
    fn lines_are_counted_up_to_the_first_that_starts_at_or_after_the_mark() {
        let text = b"p\naa\nbbb\ncccc\nd";
        // At a line's start: the lines before it.
        assert_eq!(counted(text, 2, 5), (1, 5));
        // Inside `bbb`: it is counted too, and reading goes on at `cccc`.
        assert_eq!(counted(text, 2, 6), (2, 9));
        // Inside the last line, which has no newline: to the end.
        assert_eq!(counted(text, 2, 15), (3, 15));
        // Nothing between.
        assert_eq!(counted(text, 2, 2), (0, 2));
    }
}
