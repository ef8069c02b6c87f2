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

#[cfg(test)]
mod tests {
    use super::*;

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
