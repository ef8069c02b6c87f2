//! State of one conversion shared by every function: the source lines (for notes), the notes,
//! the generators and the variable names taken so far.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::model::{GenKind, Generator};
use crate::note::{Note, NoteKind};

pub struct Cx<'a> {
    lines: Vec<&'a str>,
    pub notes: Vec<Note>,
    pub generators: Vec<Generator>,
    /// Names of captured variables (a name is defined once: generator or capture).
    pub captures: BTreeSet<String>,
    /// Module-level constants (strings, numbers, lists, dicts of constants).
    pub consts: HashMap<String, Value>,
    next_id: usize,
}

impl<'a> Cx<'a> {
    pub fn new(source: &'a str) -> Self {
        Cx {
            lines: source.lines().collect(),
            notes: Vec::new(),
            generators: Vec::new(),
            captures: BTreeSet::new(),
            consts: HashMap::new(),
            next_id: 0,
        }
    }

    /// The source line, trimmed, shortened past 80 characters.
    pub fn code(&self, line: usize) -> String {
        let text = line
            .checked_sub(1)
            .and_then(|i| self.lines.get(i))
            .map_or("", |l| l.trim());
        if text.chars().count() > 80 {
            format!("{}…", text.chars().take(79).collect::<String>())
        } else {
            text.to_owned()
        }
    }

    pub fn note(&mut self, kind: NoteKind, line: usize, reason: impl Into<String>) {
        let note = Note {
            kind,
            line,
            code: self.code(line),
            reason: reason.into(),
        };
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    pub fn not_converted(&mut self, line: usize, reason: impl Into<String>) {
        self.note(NoteKind::NotConverted, line, reason);
    }

    pub fn next_id(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }

    /// The generator for a call site: reuses one of the same name and kind (a different task's
    /// `agent_id = uuid4()`), unless `taken` (names already used by other call sites of the same
    /// function) has it; otherwise a fresh name.
    pub fn generator(
        &mut self,
        hint: &str,
        kind: GenKind,
        line: usize,
        taken: &mut BTreeSet<String>,
    ) -> String {
        let base = identifier(hint);
        for n in 1.. {
            let name = if n == 1 {
                base.clone()
            } else {
                format!("{base}_{n}")
            };
            if taken.contains(&name) || self.captures.contains(&name) {
                continue;
            }
            match self.generators.iter_mut().find(|g| g.name == name) {
                Some(g) if g.kind == kind => {
                    if !g.lines.contains(&line) {
                        g.lines.push(line);
                    }
                }
                Some(_) => continue,
                None => self.generators.push(Generator {
                    name: name.clone(),
                    kind,
                    lines: vec![line],
                }),
            }
            taken.insert(name.clone());
            return name;
        }
        unreachable!("the name search always ends")
    }

    /// A variable name for a capture, not clashing with a generator.
    pub fn capture_name(&mut self, hint: &str) -> String {
        let base = identifier(hint);
        let mut name = base.clone();
        let mut n = 1;
        while self.generators.iter().any(|g| g.name == name) {
            n += 1;
            name = format!("{base}_{n}");
        }
        self.captures.insert(name.clone());
        name
    }
}

/// A template variable name made of `hint`: letters, digits and `_`.
pub fn identifier(hint: &str) -> String {
    let mut s: String = hint
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    s = s.trim_matches('_').to_owned();
    if s.is_empty() {
        return "value".to_owned();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'v');
    }
    s
}
