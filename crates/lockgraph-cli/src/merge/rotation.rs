//! The least rotation of a cycle, of its tokens one by one or of its runs
//! (a token repeated `count` times, as a `cycle` line writes a chain of a
//! million locks of one class): the start the check turns a cycle found at
//! run time to, so that the same cycle read from any of its locks reads
//! alike. The runs' search costs what the runs do, whatever their counts.

use std::cmp::Ordering;

/// The rotation of a sequence of `n` tokens that is least in the order
/// `cmp` compares tokens by (their indices): its start, the smallest such
/// (the two-pointer minimum-rotation search, linear in `n`).
pub(super) fn least_rotation(n: usize, cmp: impl Fn(usize, usize) -> Ordering) -> usize {
    let (mut i, mut j, mut k) = (0, 1, 0);
    while i < n && j < n && k < n {
        match cmp((i + k) % n, (j + k) % n) {
            Ordering::Equal => k += 1,
            Ordering::Greater => {
                i += k + 1;
                if i == j {
                    i += 1;
                }
                k = 0;
            }
            Ordering::Less => {
                j += k + 1;
                if i == j {
                    j += 1;
                }
                k = 0;
            }
        }
    }
    i.min(j).min(n.saturating_sub(1))
}

/// The least rotation of the sequence that `segments` spell out (each
/// token repeated its count times, every count at least 1): the index of
/// the segment it starts at, the first of equal ones.
///
/// The least rotation starts where a longest run of its least token does:
/// never inside a run of equal tokens (one token earlier would be less or
/// the same), so only the starts of the maximal runs (a run that wraps from
/// the last segment to the first counts once, starting in the last) are
/// candidates. Two rotations from run starts compare as their runs do, run
/// `i` read as its token `count` times and then the next run's token (two
/// runs of one token with different counts part where the shorter one's
/// next token meets the longer one's own): a total order, so the
/// two-pointer search runs over the runs.
pub(super) fn least_rotation_of_runs<T: Ord>(segments: &[(T, u64)]) -> usize {
    // The maximal runs: (first segment, token, count).
    let mut runs: Vec<(usize, &T, u64)> = Vec::new();
    for (i, (t, c)) in segments.iter().enumerate() {
        match runs.last_mut() {
            Some(last) if last.1 == t => last.2 += c,
            _ => runs.push((i, t, *c)),
        }
    }
    if runs.len() > 1 && runs[0].1 == runs[runs.len() - 1].1 {
        // One run round the end: it starts in the last segments, after
        // every other run.
        let first = runs.remove(0);
        if let Some(last) = runs.last_mut() {
            last.2 += first.2;
        }
    }
    let m = runs.len();
    if m < 2 {
        // No token, or one token all round: every rotation is the same.
        return 0;
    }
    let cmp = |a: usize, b: usize| {
        let ((_, ta, ca), (_, tb, cb)) = (runs[a], runs[b]);
        let (na, nb) = (runs[(a + 1) % m].1, runs[(b + 1) % m].1);
        ta.cmp(tb).then_with(|| match ca.cmp(&cb) {
            Ordering::Equal => na.cmp(nb),
            // `a`'s next token against `b`'s own, still running.
            Ordering::Less => na.cmp(tb),
            Ordering::Greater => ta.cmp(nb),
        })
    };
    runs[least_rotation(m, cmp)].0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_rotation_is_found_and_the_first_of_equal_ones() {
        let at = |s: &[u32]| least_rotation(s.len(), |a, b| s[a].cmp(&s[b]));
        assert_eq!(at(&[3, 1, 2]), 1);
        assert_eq!(at(&[2, 1, 2, 1, 1]), 3);
        assert_eq!(at(&[5, 5, 5]), 0);
        assert_eq!(at(&[1, 2, 1, 2]), 0);
        assert_eq!(at(&[2, 1, 2, 1]), 1);
        assert_eq!(at(&[7]), 0);
        assert_eq!(at(&[]), 0);
        // Against every rotation, by brute force.
        let s = [3u32, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 1, 4, 1];
        let n = s.len();
        let best = (0..n)
            .min_by_key(|&r| (0..n).map(|i| s[(r + i) % n]).collect::<Vec<_>>())
            .unwrap();
        assert_eq!(at(&s), best);
    }

    /// The position (in tokens) that a segment index starts at.
    fn position(segments: &[(u32, u64)], i: usize) -> u64 {
        segments[..i].iter().map(|s| s.1).sum()
    }

    #[test]
    fn the_least_rotation_of_runs_is_that_of_their_tokens() {
        // Segments of few tokens and small counts, from a fixed generator:
        // the runs' answer against the tokens' one by one.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for _ in 0..20_000 {
            let len = 1 + next(7) as usize;
            let tokens = 1 + next(3);
            let segments: Vec<(u32, u64)> = (0..len)
                .map(|_| (next(tokens) as u32, 1 + next(4)))
                .collect();
            let flat: Vec<u32> = segments
                .iter()
                .flat_map(|&(t, c)| std::iter::repeat_n(t, c as usize))
                .collect();
            let want = least_rotation(flat.len(), |a, b| flat[a].cmp(&flat[b]));
            let got = least_rotation_of_runs(&segments);
            assert_eq!(position(&segments, got) as usize, want, "{segments:?}");
        }
    }

    #[test]
    fn a_run_of_a_million_costs_one_step() {
        let segments = [(2u32, 1 << 20), (1, 3), (2, 5), (1, 3)];
        assert_eq!(least_rotation_of_runs(&segments), 1);
        assert_eq!(least_rotation_of_runs(&[(4u32, 1 << 20)]), 0);
        assert_eq!(least_rotation_of_runs::<u32>(&[]), 0);
    }
}
