//! Escaping text for HTML and XML. Every string that comes from a report (request names, error
//! messages, host names) passes through here before it is written into markup.

/// Escape text for an HTML/XML text node or a double- or single-quoted attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0; show them visibly instead.
            c if c.is_control() && c != '\n' && c != '\t' && c != '\r' => {
                out.push('\u{FFFD}');
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
    }

    #[test]
    fn replaces_control_characters() {
        assert_eq!(escape("a\u{0}b\u{1b}c\n"), "a\u{FFFD}b\u{FFFD}c\n");
    }
}
