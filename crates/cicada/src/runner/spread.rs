//! Assigning new users to user types by weight, deterministically: smooth weighted
//! round-robin, so after any number of users each type's count is within one of its share.

/// Picks the user type of each new user.
#[derive(Debug, Clone)]
pub struct TypeSpread {
    weights: Vec<i64>,
    current: Vec<i64>,
    total: i64,
}

impl TypeSpread {
    pub fn new(weights: impl IntoIterator<Item = u32>) -> Self {
        let weights: Vec<i64> = weights.into_iter().map(i64::from).collect();
        Self {
            current: vec![0; weights.len()],
            total: weights.iter().sum(),
            weights,
        }
    }

    /// The type of the next user.
    pub fn next_type(&mut self) -> usize {
        let mut best = 0;
        for i in 0..self.weights.len() {
            self.current[i] += self.weights[i];
            if self.current[i] > self.current[best] {
                best = i;
            }
        }
        self.current[best] -= self.total;
        best
    }
}

/// The user types of the whole run's users `k = 0, 1, 2, …` (the `k`-th pick of one
/// [`TypeSpread`] over all of them), for a generator that runs only some of them
/// ([`crate::segment`]): asked in increasing `k`, each answer costs O(1) amortised, as the
/// spread repeats itself every `total weight` users.
#[derive(Debug, Clone)]
pub struct GlobalTypes {
    spread: TypeSpread,
    /// The global index of the next pick.
    next: u64,
    last: usize,
}

impl GlobalTypes {
    pub fn new(weights: impl IntoIterator<Item = u32>) -> Self {
        Self {
            spread: TypeSpread::new(weights),
            next: 0,
            last: 0,
        }
    }

    /// The type of global user `k`; `k` must not be below the previous call's.
    pub fn type_of(&mut self, k: u64) -> usize {
        debug_assert!(k + 1 >= self.next, "asked in increasing order");
        let period = self.spread.total.max(1) as u64;
        if k > self.next {
            // A whole period of picks leaves the spread as it was.
            self.next += (k - self.next) / period * period;
        }
        while self.next <= k {
            self.last = self.spread.next_type();
            self.next += 1;
        }
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_types_are_the_picks_of_one_spread() {
        let weights = [3u32, 1, 2];
        let mut one = TypeSpread::new(weights);
        let all: Vec<usize> = (0..500).map(|_| one.next_type()).collect();
        for step in [1u64, 2, 3, 7, 13, 61] {
            let mut g = GlobalTypes::new(weights);
            for k in (5..500u64).step_by(step as usize) {
                assert_eq!(g.type_of(k), all[k as usize], "step {step} k {k}");
                assert_eq!(g.type_of(k), all[k as usize], "asked again");
            }
        }
    }

    #[test]
    fn spreads_by_weight_at_every_prefix() {
        let mut s = TypeSpread::new([3, 1]);
        let mut counts = [0u32; 2];
        for n in 1..=100u32 {
            counts[s.next_type()] += 1;
            let share = f64::from(n) * 0.75;
            assert!(
                (f64::from(counts[0]) - share).abs() <= 1.0,
                "{n}: {counts:?}"
            );
        }
        assert_eq!(counts, [75, 25]);
    }
}
