//! Failures grouped by (row, kind, message) in bounded memory: past a cap of distinct messages,
//! new ones are counted under one "other messages" group per (row, kind).
//!
//! Each group keeps the first bytes of the response body of its first failure (the excerpt a
//! report shows beside the message). It is copied once, when the group is created: a map is
//! drained by moving its counts and zeroing them ([`FailureMap::drain_into`]), so its groups
//! and their excerpts stay, and the next failure of a known group copies nothing.

use std::collections::HashMap;

use cicada_report::model::FailureKind;

/// Distinct (row, kind, message) groups kept before folding new messages together.
pub const MAX_GROUPS: usize = 500;
/// Message of the group that collects messages past the cap.
pub const OVERFLOW_MESSAGE: &str = "(other messages, grouping limit reached)";

/// One failure group: its count and its body excerpt.
#[derive(Debug, Clone, Default)]
struct Group {
    count: u64,
    /// `None` when the first failure had no response (timeout, refused connection).
    excerpt: Option<Box<str>>,
}

/// Failure counts by group.
#[derive(Debug, Clone, Default)]
pub struct FailureMap {
    groups: HashMap<(usize, FailureKind, String), Group>,
    /// Failures counted and not drained yet.
    pending: u64,
}

/// A failure group as the report reads it: (row, kind, message, count, body excerpt).
pub type FailureGroup<'a> = (usize, FailureKind, &'a str, u64, Option<&'a str>);

impl FailureMap {
    /// Count `n` failures; `excerpt` is the start of the response body (`None` without a
    /// response), kept when this creates the group.
    pub fn add(
        &mut self,
        row: usize,
        kind: FailureKind,
        message: &str,
        excerpt: Option<&[u8]>,
        n: u64,
    ) {
        self.add_with(row, kind, message, n, || {
            excerpt.map(|b| cicada_report::model::body_excerpt(b).into_boxed_str())
        });
    }

    fn add_with(
        &mut self,
        row: usize,
        kind: FailureKind,
        message: &str,
        n: u64,
        excerpt: impl FnOnce() -> Option<Box<str>>,
    ) {
        self.pending += n;
        if let Some(g) = self.groups.get_mut(&(row, kind, message.to_string())) {
            g.count += n;
            return;
        }
        let overflow = self.groups.len() >= MAX_GROUPS;
        let message = if overflow { OVERFLOW_MESSAGE } else { message };
        let g = self
            .groups
            .entry((row, kind, message.to_string()))
            .or_insert_with(|| Group {
                count: 0,
                // The overflow group mixes messages: an excerpt of one would mislead.
                excerpt: if overflow { None } else { excerpt() },
            });
        g.count += n;
    }

    /// Add every group of `other` (exact, up to the grouping cap).
    pub fn merge(&mut self, other: &FailureMap) {
        for ((row, kind, message), g) in &other.groups {
            if g.count > 0 {
                self.add_with(*row, *kind, message, g.count, || g.excerpt.clone());
            }
        }
    }

    /// Move every count into `into` and zero it here; the groups (and their excerpts) stay,
    /// so a later failure of the same group copies nothing.
    pub fn drain_into(&mut self, into: &mut FailureMap) {
        if self.pending == 0 {
            return;
        }
        into.merge(self);
        for g in self.groups.values_mut() {
            g.count = 0;
        }
        self.pending = 0;
    }

    /// No failure counted (or all drained).
    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Groups with failures, most frequent first.
    pub fn sorted(&self) -> Vec<FailureGroup<'_>> {
        let mut v: Vec<_> = self
            .groups
            .iter()
            .filter(|(_, g)| g.count > 0)
            .map(|((row, kind, msg), g)| (*row, *kind, msg.as_str(), g.count, g.excerpt.as_deref()))
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
            m.add(0, FailureKind::Status, &format!("m{i}"), Some(b"body"), 1);
        }
        m.add(0, FailureKind::Status, "m0", None, 5);
        let rows = m.sorted();
        assert_eq!(rows.len(), MAX_GROUPS + 1);
        let total: u64 = rows.iter().map(|r| r.3).sum();
        assert_eq!(total, (MAX_GROUPS + 105) as u64);
        assert_eq!(rows[0].2, OVERFLOW_MESSAGE);
        // The overflow group mixes bodies: it shows none.
        assert_eq!(rows[0].4, None);
        let m0 = rows.iter().find(|r| r.2 == "m0").unwrap();
        assert_eq!((m0.3, m0.4), (6, Some("body")));
    }

    #[test]
    fn the_excerpt_is_the_first_failures_bounded_and_survives_draining() {
        let mut shard = FailureMap::default();
        let long = [b'x'; 300];
        shard.add(1, FailureKind::Status, "HTTP 500", Some(&long), 1);
        shard.add(1, FailureKind::Status, "HTTP 500", Some(b"later"), 1);
        shard.add(1, FailureKind::Timeout, "timed out", None, 1);
        let mut total = FailureMap::default();
        shard.drain_into(&mut total);
        assert!(shard.is_empty() && shard.sorted().is_empty());
        shard.add(1, FailureKind::Status, "HTTP 500", Some(b"third"), 2);
        shard.drain_into(&mut total);
        let rows = total.sorted();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].3, 4);
        assert_eq!(rows[0].4.map(str::len), Some(200));
        assert!(rows[0].4.unwrap().bytes().all(|b| b == b'x'));
        assert_eq!((rows[1].1, rows[1].4), (FailureKind::Timeout, None));
    }
}
