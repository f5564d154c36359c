//! What is still to learn about a mailbox, as sequence ranges to ask for.

use uidcache_engine::View;

use crate::error::Result;

/// Sorted, disjoint inclusive ranges of sequence numbers still to learn: positions not
/// known (the holes, from the index), and (with `flags`) placed messages whose flags were
/// never learned.
pub(crate) fn wanted(view: &View<'_>, flags: bool) -> Result<Vec<(u32, u32)>> {
    let mut seqs: Vec<(u32, u32)> = view.holes().collect();
    if flags {
        for run in view.unknown_flags() {
            seqs.push(run?);
        }
    }
    Ok(merge(seqs))
}

/// How many messages are fully known (the complement of [`wanted`]).
pub(crate) fn known(view: &View<'_>, wanted: &[(u32, u32)]) -> u64 {
    let missing: u64 = wanted.iter().map(|(a, b)| u64::from(b - a) + 1).sum();
    u64::from(view.exists().unwrap_or(0)).saturating_sub(missing)
}

/// Sorts and merges touching or overlapping ranges.
fn merge(mut ranges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    ranges.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Splits ranges into pieces of at most `block` sequence numbers, aligned to multiples of
/// `block` so that a resumed sync asks for the same blocks as the one it continues.
pub(crate) fn blocks(ranges: &[(u32, u32)], block: u32) -> Vec<(u32, u32)> {
    let block = block.max(1);
    let mut out = Vec::new();
    for &(a, b) in ranges {
        let mut lo = a;
        loop {
            let aligned_end = ((lo - 1) / block + 1).saturating_mul(block);
            let hi = aligned_end.min(b);
            out.push((lo, hi));
            if hi >= b {
                break;
            }
            lo = hi + 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_blocks() {
        assert_eq!(
            merge(vec![(5, 6), (1, 2), (3, 3), (9, 9), (6, 7)]),
            vec![(1, 3), (5, 7), (9, 9)]
        );
        assert_eq!(
            blocks(&[(3, 12), (20, 20)], 5),
            vec![(3, 5), (6, 10), (11, 12), (20, 20)]
        );
        assert_eq!(blocks(&[(1, 10)], 10), vec![(1, 10)]);
        assert_eq!(
            blocks(&[(u32::MAX - 2, u32::MAX)], 4),
            vec![(u32::MAX - 2, u32::MAX)]
        );
    }
}
