//! Failures grouped by (row, kind, message) in bounded memory: past a cap of distinct messages,
//! new ones are counted under one "other messages" group per (row, kind).

use std::collections::HashMap;

use cicada_report::model::FailureKind;

/// Distinct (row, kind, message) groups kept before folding new messages together.
pub const MAX_GROUPS: usize = 500;
/// Message of the group that collects messages past the cap.
pub const OVERFLOW_MESSAGE: &str = "(other messages, grouping limit reached)";

/// Failure counts by group.
#[derive(Debug, Clone, Default)]
pub struct FailureMap {
    groups: HashMap<(usize, FailureKind, String), u64>,
}

impl FailureMap {
    /// Count `n` failures.
    pub fn add(&mut self, row: usize, kind: FailureKind, message: &str, n: u64) {
        if let Some(c) = self.groups.get_mut(&(row, kind, message.to_string())) {
            *c += n;
            return;
        }
        let message = if self.groups.len() >= MAX_GROUPS {
            OVERFLOW_MESSAGE
        } else {
            message
        };
        *self
            .groups
            .entry((row, kind, message.to_string()))
            .or_insert(0) += n;
    }

    /// Add every group of `other` (exact, up to the grouping cap).
    pub fn merge(&mut self, other: &FailureMap) {
        for ((row, kind, message), n) in &other.groups {
            self.add(*row, *kind, message, *n);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    pub fn clear(&mut self) {
        self.groups.clear();
    }

    /// Groups, most frequent first.
    pub fn sorted(&self) -> Vec<(usize, FailureKind, &str, u64)> {
        let mut v: Vec<_> = self
            .groups
            .iter()
            .map(|((row, kind, msg), n)| (*row, *kind, msg.as_str(), *n))
            .collect();
        v.sort_by(|a, b| b.3.cmp(&a.3).then(a.0.cmp(&b.0)).then(a.2.cmp(b.2)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_exact() {
        let mut m = FailureMap::default();
        for i in 0..(MAX_GROUPS + 100) {
            m.add(0, FailureKind::Status, &format!("m{i}"), 1);
        }
        m.add(0, FailureKind::Status, "m0", 5);
        let rows = m.sorted();
        assert_eq!(rows.len(), MAX_GROUPS + 1);
        let total: u64 = rows.iter().map(|r| r.3).sum();
        assert_eq!(total, (MAX_GROUPS + 105) as u64);
        assert_eq!(rows[0].2, OVERFLOW_MESSAGE);
    }
}
