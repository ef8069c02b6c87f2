//! The run's statistics rows: the program's, numbered at compile time, then the rows custom
//! steps make as they go (a request or a timing under a name first seen at run time). Plain
//! requests never come here: their rows are numbered in the compiled program.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::scenario::compile::RowKey;

/// Every row of a run, by index; grows only.
#[derive(Debug)]
pub(crate) struct RowTable {
    inner: Mutex<Rows>,
}

#[derive(Debug)]
struct Rows {
    keys: Vec<RowKey>,
    index: HashMap<RowKey, usize>,
}

impl RowTable {
    pub fn new(rows: &[RowKey]) -> Self {
        let index = rows
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i))
            .collect();
        Self {
            inner: Mutex::new(Rows {
                keys: rows.to_vec(),
                index,
            }),
        }
    }

    /// The index of a row (a new row the first time its key is seen).
    pub fn index(&self, user_type: &str, method: &str, name: &str) -> usize {
        let key = RowKey {
            user_type: user_type.to_string(),
            name: name.to_string(),
            method: method.to_string(),
        };
        let mut rows = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = rows.index.get(&key) {
            return *i;
        }
        let i = rows.keys.len();
        rows.keys.push(key.clone());
        rows.index.insert(key, i);
        i
    }

    /// Run `f` on every row (a row made meanwhile waits until `f` returns).
    pub fn with<R>(&self, f: impl FnOnce(&[RowKey]) -> R) -> R {
        let rows = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&rows.keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_their_index_and_new_ones_follow() {
        let compiled = vec![RowKey {
            user_type: "u".into(),
            name: "/a".into(),
            method: "GET".into(),
        }];
        let t = RowTable::new(&compiled);
        assert_eq!(t.index("u", "GET", "/a"), 0);
        assert_eq!(t.index("u", "CUSTOM", "x"), 1);
        assert_eq!(t.index("v", "CUSTOM", "x"), 2);
        assert_eq!(t.index("u", "CUSTOM", "x"), 1);
        assert_eq!(t.with(<[RowKey]>::len), 3);
    }
}
