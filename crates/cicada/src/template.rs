//! `{{var}}` templates, compiled once at load time into literal and variable parts so that
//! rendering is a copy loop and an undefined variable is an error before any request.

use std::collections::HashMap;

/// Index of a variable in a user's variable slots.
pub type VarId = usize;

/// The scenario's variable names, each with its slot.
#[derive(Debug, Clone, Default)]
pub struct VarTable {
    names: Vec<String>,
    index: HashMap<String, VarId>,
}

impl VarTable {
    /// Add a name (or return its existing slot).
    pub fn insert(&mut self, name: &str) -> VarId {
        if let Some(id) = self.index.get(name) {
            return *id;
        }
        let id = self.names.len();
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), id);
        id
    }

    pub fn get(&self, name: &str) -> Option<VarId> {
        self.index.get(name).copied()
    }

    pub fn name(&self, id: VarId) -> &str {
        &self.names[id]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Why a template was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "undefined variable {{{{{name}}}}} in {text:?} (define it under [variables], [generators], a feeder column or a capture)"
    )]
    Undefined { name: String, text: String },
    #[error("unclosed '{{{{' in {0:?}")]
    Unclosed(String),
    #[error("empty variable name '{{{{}}}}' in {0:?}")]
    Empty(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Var(VarId),
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Compile `source`, resolving every `{{name}}` against `vars`.
    pub fn compile(source: &str, vars: &VarTable) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| TemplateError::Unclosed(source.to_string()))?;
            let name = after[..close].trim();
            if name.is_empty() {
                return Err(TemplateError::Empty(source.to_string()));
            }
            let id = vars.get(name).ok_or_else(|| TemplateError::Undefined {
                name: name.to_string(),
                text: source.to_string(),
            })?;
            parts.push(Part::Var(id));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Self { parts })
    }

    /// The variable names a template source refers to (no resolution).
    pub fn referenced(source: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else { break };
            out.push(after[..close].trim().to_string());
            rest = &after[close + 2..];
        }
        out
    }

    /// The literal text when the template has no variables.
    pub fn as_static(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// Append the rendered text to `out`. Fails with the variable's slot if it has no value yet.
    pub fn render_into(&self, values: &[Option<String>], out: &mut String) -> Result<(), VarId> {
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(id) => match values.get(*id).and_then(Option::as_deref) {
                    Some(v) => out.push_str(v),
                    None => return Err(*id),
                },
            }
        }
        Ok(())
    }

    /// Render into a new string.
    pub fn render(&self, values: &[Option<String>]) -> Result<String, VarId> {
        let mut out = String::new();
        self.render_into(values, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(names: &[&str]) -> VarTable {
        let mut t = VarTable::default();
        for n in names {
            t.insert(n);
        }
        t
    }

    #[test]
    fn renders_vars_and_literals() {
        let vars = table(&["id", "token"]);
        let t = Template::compile("/agents/{{id}}/x?t={{ token }}", &vars).unwrap();
        let values = vec![Some("42".to_string()), Some("abc".to_string())];
        assert_eq!(t.render(&values).unwrap(), "/agents/42/x?t=abc");
        assert!(t.as_static().is_none());
        assert_eq!(
            Template::compile("/plain", &vars).unwrap().as_static(),
            Some("/plain")
        );
    }

    #[test]
    fn undefined_and_malformed_are_errors() {
        let vars = table(&["id"]);
        assert!(matches!(
            Template::compile("/{{nope}}", &vars),
            Err(TemplateError::Undefined { name, .. }) if name == "nope"
        ));
        assert!(matches!(
            Template::compile("/{{id", &vars),
            Err(TemplateError::Unclosed(_))
        ));
        assert!(matches!(
            Template::compile("/{{ }}", &vars),
            Err(TemplateError::Empty(_))
        ));
    }

    #[test]
    fn unset_value_reports_slot() {
        let vars = table(&["a", "b"]);
        let t = Template::compile("{{b}}", &vars).unwrap();
        assert_eq!(t.render(&[Some("x".into()), None]), Err(1));
    }
}
