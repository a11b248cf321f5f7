//! A latency histogram in microseconds, log-linear like HdrHistogram: exact
//! below 128 µs, then 64 buckets per power of two (under 1.6 % error), so
//! recording is one index computation and two histograms merge by adding
//! counts. Minimum, maximum and sum are kept exactly.

use std::time::Duration;

/// Values below this are counted exactly.
const LINEAR: u64 = 128;
/// Sub-buckets per power of two above `LINEAR`.
const SUB: u64 = 64;
/// Largest power of two tracked (2^40 µs is about 12 days).
const MAX_SHIFT: u64 = 40;
const BUCKETS: usize = (LINEAR + MAX_SHIFT * SUB) as usize;

/// Counts of latencies, mergeable across workers.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum_us: u128,
    min_us: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            count: 0,
            sum_us: 0,
            min_us: u64::MAX,
            max_us: 0,
        }
    }
}

/// The bucket of `us`.
fn index(us: u64) -> usize {
    if us < LINEAR {
        return us as usize;
    }
    let shift = u64::from(63 - us.leading_zeros()) - 6; // us >> shift is in 64..128
    let shift = shift.min(MAX_SHIFT);
    let mantissa = (us >> shift).min(2 * SUB - 1);
    let i = LINEAR + (shift - 1) * SUB + (mantissa - SUB);
    (i as usize).min(BUCKETS - 1)
}

/// The smallest and largest value of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < LINEAR {
        return (i, i);
    }
    let shift = (i - LINEAR) / SUB + 1;
    let mantissa = (i - LINEAR) % SUB + SUB;
    (mantissa << shift, ((mantissa + 1) << shift) - 1)
}

impl Histogram {
    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.record_us(us);
    }

    /// Records one latency in microseconds.
    pub fn record_us(&mut self, us: u64) {
        self.counts[index(us)] += 1;
        self.count += 1;
        self.sum_us += u128::from(us);
        self.min_us = self.min_us.min(us);
        self.max_us = self.max_us.max(us);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum_us += other.sum_us;
        self.min_us = self.min_us.min(other.min_us);
        self.max_us = self.max_us.max(other.max_us);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Mean in microseconds (0 when empty).
    pub fn mean_us(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_us as f64 / self.count as f64
        }
    }

    /// Largest value recorded, in microseconds (0 when empty).
    pub fn max_us(&self) -> u64 {
        self.max_us
    }

    /// The `q` quantile (0.0 to 1.0) in microseconds: the midpoint of the
    /// bucket holding the value of rank ceil(q × count), clamped to the
    /// exact minimum and maximum. 0 when empty.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, high) = bounds(i);
                return (low + (high - low) / 2).clamp(self.min_us, self.max_us);
            }
        }
        self.max_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_below_128_us() {
        let mut h = Histogram::default();
        for us in 1..=100 {
            h.record_us(us);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile_us(0.5), 50);
        assert_eq!(h.quantile_us(0.99), 99);
        assert_eq!(h.quantile_us(1.0), 100);
        assert_eq!(h.quantile_us(0.0), 1);
        assert!((h.mean_us() - 50.5).abs() < 1e-9);
    }

    #[test]
    fn large_values_within_two_percent() {
        for us in [128, 129, 1_000, 4_321, 65_537, 1_234_567, 987_654_321] {
            let mut h = Histogram::default();
            h.record_us(us);
            h.record_us(us);
            let (low, high) = bounds(index(us));
            assert!(low <= us && us <= high, "{us} not in [{low}, {high}]");
            let got = h.quantile_us(0.5);
            let err = (got as f64 - us as f64).abs() / us as f64;
            assert!(err < 0.02, "{us}: got {got}");
        }
    }

    #[test]
    fn buckets_are_contiguous() {
        for i in 0..BUCKETS - 1 {
            assert_eq!(bounds(i).1 + 1, bounds(i + 1).0, "gap after bucket {i}");
        }
    }

    #[test]
    fn p99_of_a_tail() {
        let mut h = Histogram::default();
        for _ in 0..990 {
            h.record_us(100);
        }
        for _ in 0..10 {
            h.record_us(10_000);
        }
        assert_eq!(h.quantile_us(0.5), 100);
        assert_eq!(h.quantile_us(0.99), 100);
        let p999 = h.quantile_us(0.999);
        assert!((9_800..=10_200).contains(&p999), "{p999}");
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record_us(10);
        b.record_us(20);
        b.record_us(30);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.quantile_us(0.5), 20);
        assert_eq!(a.max_us(), 30);
        assert_eq!(a.quantile_us(0.01), 10);
    }

    #[test]
    fn empty_is_zero() {
        let h = Histogram::default();
        assert_eq!(h.quantile_us(0.99), 0);
        assert_eq!(h.mean_us(), 0.0);
    }
}
