//! Membership in a sorted slice for probes that mostly come in ascending
//! order: a search from where the last probe ended, widening step by step,
//! then a binary search in the range it bounds. A scan that fetches rows
//! by a sorted array of ids asks for each id in turn, so a probe costs a
//! comparison or two; a probe out of order costs a binary search.

/// Whether `x` is in `sorted` (ascending, no duplicates needed). `from` is
/// where the last probe ended (any value is correct; a good one is fast)
/// and is left where this one ended.
pub fn probe_sorted<T: Ord + Copy>(sorted: &[T], from: &mut usize, x: T) -> bool {
    let start = if sorted.get(*from).is_some_and(|&v| v <= x) { *from } else { 0 };
    let tail = &sorted[start..];
    // Everything before `lo` is below x; `tail[bound]`, if any, is not.
    let mut bound = 1;
    while bound < tail.len() && tail[bound] < x {
        bound *= 2;
    }
    let lo = bound / 2;
    let hi = (bound + 1).min(tail.len());
    let i = start + lo + tail[lo.min(hi)..hi].partition_point(|&v| v < x);
    *from = i;
    sorted.get(i) == Some(&x)
}

#[cfg(test)]
mod tests {
    use super::probe_sorted;

    #[test]
    fn agrees_with_a_binary_search_in_every_order() {
        let sorted: Vec<i64> = (0..3000).map(|i| i * 3 - 700).collect();
        let probes: Vec<i64> = (-800..9000).collect();
        // Ascending, descending, and a scrambled order; fresh and carried
        // positions, including ones past the end.
        let mut scrambled = probes.clone();
        scrambled.sort_by_key(|&x| (x.wrapping_mul(2654435761) % 1009, x));
        let mut descending = probes.clone();
        descending.reverse();
        for order in [&probes, &descending, &scrambled] {
            for start in [0, 17, 2999, 3000, usize::MAX] {
                let mut from = start;
                for &x in order.iter() {
                    assert_eq!(probe_sorted(&sorted, &mut from, x), sorted.binary_search(&x).is_ok(), "probe {x}");
                }
            }
        }
    }

    #[test]
    fn small_and_empty_slices() {
        let mut from = 0;
        assert!(!probe_sorted::<i64>(&[], &mut from, 1));
        for n in 1..9i64 {
            let sorted: Vec<i64> = (0..n).map(|i| i * 2).collect();
            for x in -1..(2 * n + 1) {
                for start in 0..(n as usize + 2) {
                    let mut from = start;
                    assert_eq!(probe_sorted(&sorted, &mut from, x), x >= 0 && x % 2 == 0 && x < 2 * n);
                }
            }
        }
    }

    #[test]
    fn ascending_probes_stay_near() {
        // Each probe of an ascending run ends where the next starts.
        let sorted: Vec<u128> = (0..1000u128).map(|i| i << 64).collect();
        let mut from = 0;
        for (i, &x) in sorted.iter().enumerate() {
            assert!(probe_sorted(&sorted, &mut from, x));
            assert_eq!(from, i);
        }
    }
}
