//! The `Warning` response header, as Kubernetes writes it and client-go reads it.
//!
//! An API server tells a client about deprecated APIs and, under `fieldValidation=Warn`,
//! about unknown and duplicate fields of its body, in `Warning` headers (RFC 7234 §5.5):
//! `299 - "unknown field \"spec.foo\""` — a three-digit code, an agent (`-` for the server
//! itself), and the text as a quoted string in which `\` escapes the next character. A header
//! may carry several warnings separated by commas, and an answer several headers.
//!
//! ```
//! use orchestra_client::warning::texts;
//!
//! assert_eq!(
//!     texts(r#"299 - "unknown field \"spec.foo\"", 299 - "duplicate field \"data.k\"""#),
//!     ["unknown field \"spec.foo\"", "duplicate field \"data.k\""],
//! );
//! // Not a warning at all: nothing.
//! assert!(texts("oops").is_empty());
//! ```

/// The texts of the warnings in one `Warning` header value, in order. Warnings that do not
/// follow the header's grammar are left out, as client-go leaves them out.
pub fn texts(value: &str) -> Vec<String> {
    let mut texts = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            return texts;
        }
        match one_warning(rest) {
            Some((text, after)) => {
                texts.push(text);
                rest = after.trim_start_matches([' ', '\t']);
                match rest.strip_prefix(',') {
                    Some(next) => rest = next,
                    None if rest.is_empty() => return texts,
                    None => {
                        tracing::debug!(header = value, "malformed Warning header");
                        return texts;
                    }
                }
            }
            None => {
                tracing::debug!(header = value, "malformed Warning header");
                return texts;
            }
        }
    }
}

/// One `code SP agent SP "text" [SP "date"]` at the start of `input`: its text, and what
/// follows it.
fn one_warning(input: &str) -> Option<(String, &str)> {
    let (code, rest) = input.split_once(' ')?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (agent, rest) = rest.split_once(' ')?;
    if agent.is_empty() {
        return None;
    }
    let (text, mut rest) = quoted_string(rest)?;
    // An optional warn-date, also a quoted string.
    if let Some(date) = rest.strip_prefix(' ').filter(|r| r.starts_with('"')) {
        rest = quoted_string(date)?.1;
    }
    Some((text, rest))
}

/// A quoted string at the start of `input` (`"` … `"`, `\` escaping the next character):
/// its unescaped content, and what follows it.
fn quoted_string(input: &str) -> Option<(String, &str)> {
    let body = input.strip_prefix('"')?;
    let mut text = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((text, &body[at + 1..])),
            '\\' => text.push(chars.next()?.1),
            other => text.push(other),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_warning_with_a_date_keeps_its_text() {
        assert_eq!(
            texts(r#"299 kube-apiserver "deprecated" "Sat, 25 Aug 2012 23:34:45 GMT""#),
            ["deprecated"]
        );
    }

    #[test]
    fn malformed_warnings_are_left_out() {
        for header in [
            "",
            "299",
            "299 -",
            r#"29 - "short code""#,
            r#"abc - "not a code""#,
            r#"299 - unquoted"#,
            r#"299 - "unterminated"#,
        ] {
            assert!(texts(header).is_empty(), "{header:?}");
        }
        // What precedes a malformed part is kept.
        assert_eq!(texts(r#"299 - "kept", nonsense"#), ["kept"]);
    }

    proptest! {
        /// Whatever printable text the API server puts in a `Warning` header (it writes
        /// `299 - ` and the text quoted with `"` and `\` escaped), the client reads it back.
        #[test]
        fn texts_the_server_writes_read_back_unchanged(
            warnings in prop::collection::vec("[ -~]{0,40}", 1..4),
        ) {
            let header = warnings
                .iter()
                .map(|w| format!("299 - {w:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            prop_assert_eq!(texts(&header), warnings);
        }
    }
}
