//! Lines of a watchdog file, read one at a time with at most a given
//! number of bytes of one line held: a longer line is read through and
//! measured, and only its first bytes are kept (to tell what it is).

use std::io::{self, BufRead};

/// What [`next_line`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Line {
    /// Nothing left.
    End,
    /// A line, in the buffer without its newline; `newline`: whether it
    /// had one (only the last line of a file may lack it).
    Text { newline: bool },
    /// A line longer than the limit: `len` bytes, newline excluded; the
    /// buffer is empty, and the head holds its first bytes.
    TooLong { len: u64, newline: bool },
}

/// Reads the next line of `r` into `buf` (cleared first), keeping at most
/// `max` bytes of it: a longer line is consumed up to its newline and only
/// its length and its first `head.1` bytes (in `head.0`) are kept.
pub(super) fn next_line<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: u64,
    head: (&mut Vec<u8>, usize),
) -> io::Result<Line> {
    buf.clear();
    let (head, head_max) = head;
    head.clear();
    let mut len: u64 = 0;
    let mut too_long = false;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(match (len, too_long) {
                (_, true) => Line::TooLong {
                    len,
                    newline: false,
                },
                (0, false) => Line::End,
                (_, false) => Line::Text { newline: false },
            });
        }
        let (used, newline) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let content = &chunk[..used - usize::from(newline)];
        len += content.len() as u64;
        if !too_long {
            if len > max {
                too_long = true;
                // What was gathered of it goes, but for its head: a long
                // line leaves no large buffer behind.
                buf.truncate(head_max);
                std::mem::swap(head, buf);
                *buf = Vec::new();
            } else {
                buf.extend_from_slice(content);
            }
        }
        if too_long && head.len() < head_max {
            let more = (head_max - head.len()).min(content.len());
            head.extend_from_slice(&content[..more]);
        }
        r.consume(used);
        if newline {
            return Ok(if too_long {
                Line::TooLong { len, newline }
            } else {
                Line::Text { newline }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    /// Every line of `input` through a reader of `capacity` bytes.
    fn lines(input: &[u8], capacity: usize, max: u64) -> Vec<(Line, String)> {
        let mut r = BufReader::with_capacity(capacity, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let l = next_line(&mut r, &mut buf, max, (&mut Vec::new(), 0)).unwrap();
            if l == Line::End {
                return out;
            }
            out.push((l, String::from_utf8(buf.clone()).unwrap()));
        }
    }

    #[test]
    fn lines_are_split_kept_and_measured_whatever_the_buffer() {
        for capacity in [1, 2, 3, 7, 64] {
            let got = lines(b"ab\n\nabcdef\nabcd\nxyz", capacity, 4);
            assert_eq!(
                got,
                vec![
                    (Line::Text { newline: true }, "ab".into()),
                    (Line::Text { newline: true }, String::new()),
                    (
                        Line::TooLong {
                            len: 6,
                            newline: true
                        },
                        String::new()
                    ),
                    // Exactly at the limit is kept.
                    (Line::Text { newline: true }, "abcd".into()),
                    (Line::Text { newline: false }, "xyz".into()),
                ],
                "capacity {capacity}"
            );
            assert_eq!(
                lines(b"abcdefgh", capacity, 4),
                vec![(
                    Line::TooLong {
                        len: 8,
                        newline: false
                    },
                    String::new()
                )]
            );
            assert!(lines(b"", capacity, 4).is_empty());
        }
    }

    #[test]
    fn a_long_line_is_not_held() {
        let long = vec![b'x'; 1 << 20];
        let mut input = long.clone();
        input.extend_from_slice(b"\nok\n");
        let mut r = BufReader::with_capacity(4096, &input[..]);
        let mut buf = Vec::new();
        assert_eq!(
            next_line(&mut r, &mut buf, 1024, (&mut Vec::new(), 0)).unwrap(),
            Line::TooLong {
                len: 1 << 20,
                newline: true
            }
        );
        assert!(buf.capacity() <= 1024 + 4096, "{}", buf.capacity());
        assert_eq!(
            next_line(&mut r, &mut buf, 1024, (&mut Vec::new(), 0)).unwrap(),
            Line::Text { newline: true }
        );
        assert_eq!(buf, b"ok");
    }

    #[test]
    fn a_long_line_keeps_its_head() {
        // The first line of `input`, and the head kept.
        fn first(input: &[u8], capacity: usize, max: u64, head_max: usize) -> (Line, Vec<u8>) {
            let mut r = BufReader::with_capacity(capacity, input);
            let (mut buf, mut head) = (Vec::new(), b"old".to_vec());
            let l = next_line(&mut r, &mut buf, max, (&mut head, head_max)).unwrap();
            if let Line::TooLong { .. } = l {
                assert!(buf.is_empty());
            }
            (l, head)
        }
        let long = Line::TooLong {
            len: 10,
            newline: true,
        };
        for capacity in [1, 3, 64] {
            // Taken from before and after the line ran past the limit, up
            // to its size.
            assert_eq!(
                first(b"abcdefghij\n", capacity, 4, 6),
                (long, b"abcdef".to_vec())
            );
            assert_eq!(
                first(b"abcdefghij\n", capacity, 4, 3),
                (long, b"abc".to_vec())
            );
            assert_eq!(
                first(b"abcdefghij\nxy", capacity, 4, 100),
                (long, b"abcdefghij".to_vec())
            );
            // A line within the limit leaves no head.
            assert_eq!(
                first(b"xy\n", capacity, 4, 100),
                (Line::Text { newline: true }, Vec::new())
            );
        }
    }
}
