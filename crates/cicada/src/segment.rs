//! Execution segments: one generator's exact part of a run split across several (k6's model).
//!
//! - A [`Segment`] is a half-open interval `[from, to)` of `[0, 1)` with rational ends; its text
//!   form is `"1/3:2/3"` (`--execution-segment`).
//! - A [`SegmentSequence`] is the tiling of `[0, 1)` the whole run is split into (`"0,1/3,2/3,1"`;
//!   by default the segment's own `0, from, to, 1`).
//! - A [`Stripe`] is one segment of a sequence: it decides which of the whole run's things
//!   (users, iterations, feeder rows), numbered `k = 0, 1, 2, …`, this generator takes. Every `k`
//!   belongs to exactly one segment of the sequence, so the union of the generators is the one big
//!   run; and of the first `n` things each segment holds within one of `width · n`, at every `n`.
//!
//! How: let `L` be the least common denominator of the sequence's boundaries. Each block of `L`
//! consecutive things gives segment `i` exactly `width_i · L` of them, interleaved by smooth
//! weighted round-robin (the rule that spreads users over user types), so equal segments take
//! turns: with three equal workers, thing `k` goes to worker `k mod 3`.
//!
//! ```
//! use cicada::segment::{Segment, SegmentSequence, Stripe};
//! let s: Segment = "1/3:2/3".parse().unwrap();
//! assert_eq!(s, Segment::nth(1, 3).unwrap());
//! assert_eq!(s.to_string(), "1/3:2/3");
//! let thirds: Vec<Stripe> = (0..3).map(|i| Stripe::nth(i, 3).unwrap()).collect();
//! // Of 10 users, the three thirds hold 4 + 3 + 3; user 4 is the second worker's.
//! assert_eq!(thirds.iter().map(|t| t.share(10)).collect::<Vec<_>>(), [4, 3, 3]);
//! assert!(thirds[1].contains(4));
//! // Unequal parts of one sequence: 1/2, 1/6, 1/3.
//! let seq: SegmentSequence = "0,1/2,2/3,1".parse().unwrap();
//! let parts: Vec<Stripe> = (0..3).map(|i| Stripe::new(seq.clone(), i).unwrap()).collect();
//! assert_eq!(parts.iter().map(|t| t.share(12)).collect::<Vec<_>>(), [6, 2, 4]);
//! assert!(Stripe::FULL.is_full());
//! ```

use std::fmt;
use std::str::FromStr;

/// A rational number `num/den` in `[0, 1]`, kept reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fraction {
    num: u64,
    den: u64,
}

impl Fraction {
    pub const ZERO: Fraction = Fraction { num: 0, den: 1 };
    pub const ONE: Fraction = Fraction { num: 1, den: 1 };

    /// `num/den`, reduced; `None` when `den` is 0 or the value is above 1.
    pub fn new(num: u64, den: u64) -> Option<Self> {
        if den == 0 || num > den {
            return None;
        }
        let g = gcd(num, den);
        Some(Self {
            num: num / g,
            den: den / g,
        })
    }

    pub fn numerator(self) -> u64 {
        self.num
    }

    pub fn denominator(self) -> u64 {
        self.den
    }

    /// `floor(self · n)`, exact.
    pub fn floor_mul(self, n: u64) -> u64 {
        ((self.num as u128 * n as u128) / self.den as u128) as u64
    }

    pub fn as_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    fn lt(self, other: Self) -> bool {
        (self.num as u128) * (other.den as u128) < (other.num as u128) * (self.den as u128)
    }
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.num, self.den) {
            (0, _) => f.write_str("0"),
            (n, 1) => write!(f, "{n}"),
            (n, d) => write!(f, "{n}/{d}"),
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// One worker's part `[from, to)` of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Segment {
    from: Fraction,
    to: Fraction,
}

impl Default for Segment {
    fn default() -> Self {
        Self::FULL
    }
}

/// A segment that could not be read or made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "execution segment {text:?}: {reason} (expected FROM:TO with 0 <= FROM < TO <= 1, e.g. 0:1/3 or 1/3:2/3)"
)]
pub struct SegmentError {
    pub text: String,
    pub reason: &'static str,
}

impl Segment {
    /// The whole run.
    pub const FULL: Segment = Segment {
        from: Fraction::ZERO,
        to: Fraction::ONE,
    };

    /// `[from, to)`; `None` unless `from < to`.
    pub fn new(from: Fraction, to: Fraction) -> Option<Self> {
        from.lt(to).then_some(Self { from, to })
    }

    /// Worker `index` (from 0) of `count` equal workers: `[index/count, (index+1)/count)`.
    pub fn nth(index: u64, count: u64) -> Option<Self> {
        if index >= count {
            return None;
        }
        Self::new(
            Fraction::new(index, count)?,
            Fraction::new(index + 1, count)?,
        )
    }

    pub fn from(self) -> Fraction {
        self.from
    }

    pub fn to(self) -> Fraction {
        self.to
    }

    pub fn is_full(self) -> bool {
        self == Self::FULL
    }

    /// The segment's width, `to − from`, as a float (for rates).
    pub fn width(self) -> f64 {
        self.to.as_f64() - self.from.as_f64()
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.from, self.to)
    }
}

fn parse_fraction(s: &str) -> Option<Fraction> {
    let s = s.trim();
    match s.split_once('/') {
        Some((n, d)) => Fraction::new(n.trim().parse().ok()?, d.trim().parse().ok()?),
        None => Fraction::new(s.parse().ok()?, 1),
    }
}

impl FromStr for Segment {
    type Err = SegmentError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| SegmentError {
            text: text.to_string(),
            reason,
        };
        let (from, to) = text.split_once(':').ok_or_else(|| err("no ':'"))?;
        let from = parse_fraction(from).ok_or_else(|| err("FROM is not a fraction in [0, 1]"))?;
        let to = parse_fraction(to).ok_or_else(|| err("TO is not a fraction in [0, 1]"))?;
        Segment::new(from, to).ok_or_else(|| err("FROM must be below TO"))
    }
}

/// The boundaries `0 = b0 < b1 < … < bn = 1` a run is split at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SegmentSequence {
    bounds: Vec<Fraction>,
}

/// A sequence that could not be read or made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "execution segment sequence {text:?}: {reason} (expected increasing fractions from 0 to 1, e.g. 0,1/3,2/3,1)"
)]
pub struct SequenceError {
    pub text: String,
    pub reason: String,
}

/// The largest common denominator of a sequence (its stripe table has this many entries).
pub const MAX_DENOMINATOR: u64 = 1 << 16;

impl SegmentSequence {
    /// `n` equal segments.
    pub fn equal(n: u64) -> Option<Self> {
        if n == 0 || n > MAX_DENOMINATOR {
            return None;
        }
        Self::from_bounds(
            (0..=n)
                .map(|i| Fraction::new(i, n).expect("i <= n"))
                .collect(),
        )
        .ok()
    }

    /// The sequence `0, from, to, 1` (without repeats) around one segment.
    pub fn around(segment: Segment) -> Self {
        let mut bounds = vec![Fraction::ZERO];
        for b in [segment.from, segment.to, Fraction::ONE] {
            if *bounds.last().expect("not empty") != b {
                bounds.push(b);
            }
        }
        Self { bounds }
    }

    fn from_bounds(bounds: Vec<Fraction>) -> Result<Self, String> {
        if bounds.first() != Some(&Fraction::ZERO) || bounds.last() != Some(&Fraction::ONE) {
            return Err("it must start at 0 and end at 1".into());
        }
        if bounds.windows(2).any(|w| !w[0].lt(w[1])) {
            return Err("the fractions must increase".into());
        }
        let seq = Self { bounds };
        if seq.denominator().is_none() {
            return Err(format!("the common denominator is above {MAX_DENOMINATOR}"));
        }
        Ok(seq)
    }

    /// The segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = Segment> + '_ {
        self.bounds.windows(2).map(|w| Segment {
            from: w[0],
            to: w[1],
        })
    }

    /// How many segments.
    pub fn len(&self) -> usize {
        self.bounds.len() - 1
    }

    /// Never: a sequence has at least one segment.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Where `segment` is in the sequence.
    pub fn position(&self, segment: Segment) -> Option<usize> {
        self.segments().position(|s| s == segment)
    }

    /// The least common denominator `L` of the bounds, when at most [`MAX_DENOMINATOR`].
    fn denominator(&self) -> Option<u64> {
        let mut l = 1u64;
        for b in &self.bounds {
            l = l / gcd(l, b.den) * b.den;
            if l > MAX_DENOMINATOR {
                return None;
            }
        }
        Some(l)
    }
}

impl fmt::Display for SegmentSequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.bounds.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{b}")?;
        }
        Ok(())
    }
}

impl FromStr for SegmentSequence {
    type Err = SequenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| SequenceError {
            text: text.to_string(),
            reason,
        };
        let bounds = text
            .split(',')
            .map(|p| {
                parse_fraction(p)
                    .ok_or_else(|| err(format!("{:?} is not a fraction in [0, 1]", p.trim())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_bounds(bounds).map_err(err)
    }
}

/// One segment of a sequence: which of the whole run's things this generator takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripe {
    sequence: SegmentSequence,
    index: usize,
    /// `L`, the length of one block of the pattern.
    block: u64,
    /// This segment's positions within a block, ascending (`width · L` of them).
    positions: Vec<u64>,
    /// `rank[p]`: how many of this segment's positions are below `p`, for `p` in `0..=L`
    /// (so [`Stripe::contains`] and [`Stripe::share`] are O(1)).
    rank: Vec<u32>,
}

impl Default for Stripe {
    fn default() -> Self {
        Self::FULL
    }
}

impl Stripe {
    /// The whole run: every thing.
    pub const FULL: Stripe = Stripe {
        sequence: SegmentSequence { bounds: Vec::new() },
        index: 0,
        block: 1,
        positions: Vec::new(),
        rank: Vec::new(),
    };

    /// Segment `index` of `sequence`.
    pub fn new(sequence: SegmentSequence, index: usize) -> Option<Self> {
        if index >= sequence.len() {
            return None;
        }
        if sequence.len() == 1 {
            return Some(Self::FULL);
        }
        let block = sequence.denominator()?;
        let weights: Vec<u32> = sequence
            .segments()
            .map(|s| (s.to.floor_mul(block) - s.from.floor_mul(block)) as u32)
            .collect();
        let mut spread = crate::runner::TypeSpread::new(weights);
        let positions: Vec<u64> = (0..block).filter(|_| spread.next_type() == index).collect();
        let mut rank = Vec::with_capacity(block as usize + 1);
        let mut below = 0u32;
        let mut mine = positions.iter().peekable();
        for p in 0..=block {
            rank.push(below);
            if mine.next_if_eq(&&p).is_some() {
                below += 1;
            }
        }
        Some(Self {
            sequence,
            index,
            block,
            positions,
            rank,
        })
    }

    /// Worker `index` (from 0) of `count` equal workers.
    pub fn nth(index: u64, count: u64) -> Option<Self> {
        Self::new(SegmentSequence::equal(count)?, usize::try_from(index).ok()?)
    }

    /// `segment` within the sequence `0, from, to, 1` (a hand-split run's default).
    pub fn alone(segment: Segment) -> Self {
        let sequence = SegmentSequence::around(segment);
        let index = sequence
            .position(segment)
            .expect("the sequence is built around it");
        Self::new(sequence, index).expect("a sequence of at most three segments of valid fractions")
    }

    pub fn is_full(&self) -> bool {
        self.positions.is_empty()
    }

    /// This generator's segment.
    pub fn segment(&self) -> Segment {
        if self.is_full() {
            return Segment::FULL;
        }
        self.sequence
            .segments()
            .nth(self.index)
            .expect("index checked")
    }

    /// The sequence the run is split into (just `0,1` for the whole run).
    pub fn sequence(&self) -> SegmentSequence {
        if self.is_full() {
            return SegmentSequence::around(Segment::FULL);
        }
        self.sequence.clone()
    }

    /// Whether the whole run's thing number `k` (from 0) is this generator's. O(1).
    #[inline]
    pub fn contains(&self, k: u64) -> bool {
        if self.is_full() {
            return true;
        }
        let p = (k % self.block) as usize;
        self.rank[p + 1] > self.rank[p]
    }

    /// Of the whole run's first `n` things (indices `0..n`), how many are this generator's.
    pub fn share(&self, n: u64) -> u64 {
        if self.is_full() {
            return n;
        }
        let full = (n / self.block) * self.positions.len() as u64;
        full + u64::from(self.rank[(n % self.block) as usize])
    }

    /// The whole run's index of this generator's `j`-th thing (from 0): the inverse of
    /// counting with [`Self::share`].
    pub fn global_index(&self, j: u64) -> u64 {
        if self.is_full() {
            return j;
        }
        let per = self.positions.len() as u64;
        (j / per) * self.block + self.positions[(j % per) as usize]
    }

    /// The segment's width, `to − from` (for rates).
    pub fn width(&self) -> f64 {
        self.segment().width()
    }
}

/// Why `--execution-segment` / `--execution-segment-sequence` were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    #[error("--execution-segment: {0}")]
    Segment(#[from] SegmentError),
    #[error("--execution-segment-sequence: {0}")]
    Sequence(#[from] SequenceError),
    #[error(
        "--execution-segment {segment} is not one of the segments of --execution-segment-sequence {sequence} (its segments: {segments})"
    )]
    NotInSequence {
        segment: String,
        sequence: String,
        segments: String,
    },
    #[error(
        "--execution-segment-sequence needs --execution-segment (which of its segments this run is)"
    )]
    SequenceAlone,
}

impl Stripe {
    /// The stripe the flags ask for: `segment` (text `FROM:TO`) within `sequence` (text
    /// `0,…,1`), or within `0, FROM, TO, 1` ([`Stripe::alone`]) when no sequence is given.
    ///
    /// ```
    /// use cicada::segment::Stripe;
    /// let s = Stripe::from_flags(Some("1/3:2/3"), Some("0,1/3,2/3,1")).unwrap();
    /// assert_eq!(s, Stripe::nth(1, 3).unwrap());
    /// assert!(Stripe::from_flags(None, None).unwrap().is_full());
    /// let e = Stripe::from_flags(Some("1/4:1/2"), Some("0,1/3,2/3,1")).unwrap_err();
    /// assert!(e.to_string().contains("not one of the segments"));
    /// ```
    pub fn from_flags(segment: Option<&str>, sequence: Option<&str>) -> Result<Self, StripeError> {
        let Some(segment) = segment else {
            return match sequence {
                None => Ok(Self::FULL),
                Some(_) => Err(StripeError::SequenceAlone),
            };
        };
        let segment: Segment = segment.parse()?;
        let Some(sequence) = sequence else {
            return Ok(Self::alone(segment));
        };
        let sequence: SegmentSequence = sequence.parse()?;
        let index = sequence
            .position(segment)
            .ok_or_else(|| StripeError::NotInSequence {
                segment: segment.to_string(),
                sequence: sequence.to_string(),
                segments: sequence
                    .segments()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Ok(Self::new(sequence, index).expect("a parsed sequence and one of its segments"))
    }
}

impl fmt::Display for Stripe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.segment())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_of_a_sequence_tile_the_run_and_stay_within_one_of_their_share() {
        let sequences = [
            "0,1",
            "0,1/2,1",
            "0,1/3,2/3,1",
            "0,1/2,2/3,1",
            "0,1/10,1/4,1",
            "0,1/7,3/7,1",
        ];
        for text in sequences {
            let seq: SegmentSequence = text.parse().unwrap();
            let stripes: Vec<Stripe> = (0..seq.len())
                .map(|i| Stripe::new(seq.clone(), i).unwrap())
                .collect();
            for k in 0..500u64 {
                assert_eq!(
                    stripes.iter().filter(|s| s.contains(k)).count(),
                    1,
                    "{text} k={k}"
                );
            }
            for n in 0..300u64 {
                assert_eq!(
                    stripes.iter().map(|s| s.share(n)).sum::<u64>(),
                    n,
                    "{text} n={n}"
                );
                for s in &stripes {
                    let counted = (0..n).filter(|&k| s.contains(k)).count() as u64;
                    assert_eq!(s.share(n), counted, "{text} {s} n={n}");
                    let ideal = s.width() * n as f64;
                    assert!(
                        (s.share(n) as f64 - ideal).abs() < 1.0 + 1e-9,
                        "{text} {s} n={n}"
                    );
                }
            }
            for s in &stripes {
                for j in 0..100u64 {
                    let k = s.global_index(j);
                    assert!(s.contains(k) && s.share(k) == j, "{text} {s} j={j}");
                }
            }
        }
    }

    #[test]
    fn equal_workers_take_turns_and_a_lone_segment_gets_its_own_sequence() {
        let second = Stripe::nth(1, 3).unwrap();
        assert_eq!(
            (0..9).filter(|&k| second.contains(k)).collect::<Vec<_>>(),
            [1, 4, 7]
        );
        let alone = Stripe::alone("1/3:2/3".parse().unwrap());
        assert_eq!(alone.sequence().to_string(), "0,1/3,2/3,1");
        assert_eq!(alone, second);
        assert!(Stripe::alone(Segment::FULL).is_full());
        assert!(Stripe::nth(3, 3).is_none());
        for bad in [
            "",
            "0",
            "0,1/2",
            "1/2,1",
            "0,2/3,1/3,1",
            "0,1/2,1/2,1",
            "0,x,1",
        ] {
            let e = bad.parse::<SegmentSequence>().unwrap_err();
            assert!(
                e.to_string().contains("expected increasing fractions"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn text_form_round_trips_and_bad_input_is_refused() {
        for t in ["0:1", "0:1/3", "1/3:2/3", "2/3:1", "1/4:3/4"] {
            assert_eq!(t.parse::<Segment>().unwrap().to_string(), t);
        }
        assert_eq!("2/6:4/6".parse::<Segment>().unwrap().to_string(), "1/3:2/3");
        for bad in ["", "1/3", "2/3:1/3", "0:0", "0:3/2", "a:1", "0:1/0", "1:1"] {
            let e = bad.parse::<Segment>().unwrap_err();
            assert!(e.to_string().contains("expected FROM:TO"), "{bad}: {e}");
        }
    }
}
