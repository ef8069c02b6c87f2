//! A read-only view of the JSON tree that the parser helper prints: each Python AST node is an
//! object with `_type`, its fields (as in Python's `ast` module) and its position.

use serde_json::Value;

static NULL: Value = Value::Null;

/// One node (or field value) of the tree.
#[derive(Clone, Copy)]
pub struct Node<'a>(pub &'a Value);

impl<'a> Node<'a> {
    /// The node's class name in Python's `ast` (`"Call"`, `"Name"`, …); `""` for non-nodes.
    pub fn ty(self) -> &'a str {
        self.0.get("_type").and_then(Value::as_str).unwrap_or("")
    }

    pub fn is(self, ty: &str) -> bool {
        self.ty() == ty
    }

    /// A field (null when absent).
    pub fn get(self, field: &str) -> Node<'a> {
        Node(self.0.get(field).unwrap_or(&NULL))
    }

    pub fn is_null(self) -> bool {
        self.0.is_null()
    }

    /// A list field's elements (empty when absent).
    pub fn list(self, field: &str) -> Vec<Node<'a>> {
        self.0
            .get(field)
            .and_then(Value::as_array)
            .map(|a| a.iter().map(Node).collect())
            .unwrap_or_default()
    }

    pub fn str(self, field: &str) -> Option<&'a str> {
        self.0.get(field).and_then(Value::as_str)
    }

    /// The 1-based line the node starts on (0 when unknown).
    pub fn line(self) -> usize {
        self.0.get("lineno").and_then(Value::as_u64).unwrap_or(0) as usize
    }

    /// `Name` → its identifier.
    pub fn name(self) -> Option<&'a str> {
        if self.is("Name") {
            self.str("id")
        } else {
            None
        }
    }

    /// `Constant` → its value.
    pub fn constant(self) -> Option<&'a Value> {
        if self.is("Constant") {
            self.0.get("value")
        } else {
            None
        }
    }

    /// A string constant's text.
    pub fn const_str(self) -> Option<&'a str> {
        self.constant().and_then(Value::as_str)
    }

    /// A numeric constant (not a bool).
    pub fn const_num(self) -> Option<f64> {
        match self.constant() {
            Some(v @ Value::Number(_)) => v.as_f64(),
            _ => None,
        }
    }

    /// The dotted name of `a.b.c` (Name and Attribute chains), e.g. `"self.client.get"`.
    pub fn dotted(self) -> Option<String> {
        match self.ty() {
            "Name" => self.str("id").map(str::to_owned),
            "Attribute" => {
                let base = self.get("value").dotted()?;
                Some(format!("{base}.{}", self.str("attr")?))
            }
            _ => None,
        }
    }

    /// A call's keyword argument by name.
    pub fn keyword(self, name: &str) -> Option<Node<'a>> {
        self.list("keywords")
            .into_iter()
            .find(|k| k.str("arg") == Some(name))
            .map(|k| k.get("value"))
    }

    /// A call's keyword arguments as (name, value); `**kwargs` has no name.
    pub fn keywords(self) -> Vec<(Option<&'a str>, Node<'a>)> {
        self.list("keywords")
            .into_iter()
            .map(|k| (k.str("arg"), k.get("value")))
            .collect()
    }

    /// Whether the name `id` is read anywhere inside this node.
    pub fn reads(self, id: &str) -> bool {
        fn walk(v: &Value, id: &str) -> bool {
            match v {
                Value::Object(m) => {
                    (m.get("_type").and_then(Value::as_str) == Some("Name")
                        && m.get("id").and_then(Value::as_str) == Some(id)
                        && m.get("ctx")
                            .and_then(|c| c.get("_type"))
                            .and_then(Value::as_str)
                            == Some("Load"))
                        || m.values().any(|x| walk(x, id))
                }
                Value::Array(a) => a.iter().any(|x| walk(x, id)),
                _ => false,
            }
        }
        walk(self.0, id)
    }
}
