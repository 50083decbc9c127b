//! Field selectors: list and watch queries on a few fields of an object, such as
//! `spec.nodeName=node-1` (the pods of one node, which is how every kubelet watches its work)
//! or `involvedObject.name=web` (the events of one object).
//!
//! A field selector is a list of terms that must all hold: `field=value` (also spelled
//! `field==value`) or `field!=value`. Unlike label selectors there are no sets and no
//! existence tests, and only the fields each kind declares can be used
//! ([`ResourceKind::accepts_field`](crate::ResourceKind::accepts_field);
//! `metadata.name` and `metadata.namespace` everywhere). A field the object leaves unset
//! reads as the empty string, so `spec.nodeName=` selects the pods not yet scheduled.
//!
//! Values may contain `,`, `=` and `\` escaped with a backslash (`\,`, `\=`, `\\`), as in
//! Kubernetes' `k8s.io/apimachinery/pkg/fields` (v1.33), whose parsing, errors and canonical
//! form this module reproduces; [`escape_value`] escapes a value for you.
//!
//! ```
//! use k8s_openapi::api::core::v1::{Pod, PodSpec};
//! use orchestra_api::FieldSelector;
//!
//! let selector: FieldSelector = "spec.nodeName==node-1,status.phase!=Succeeded".parse()?;
//! assert_eq!(selector.to_string(), "spec.nodeName=node-1,status.phase!=Succeeded");
//! assert_eq!(selector.exact_match("spec.nodeName"), Some("node-1"));
//!
//! let pod = Pod {
//!     spec: Some(PodSpec { node_name: Some("node-1".into()), ..Default::default() }),
//!     ..Default::default()
//! };
//! assert!(selector.matches(&pod));
//!
//! let pods = orchestra_api::kinds::lookup("", "pods").unwrap();
//! let unsupported: FieldSelector = "spec.priority=1".parse()?;
//! let status = unsupported.validate_for(pods).unwrap_err();
//! assert_eq!((status.code, status.message.as_str()), (400, "field label not supported: spec.priority"));
//! # Ok::<(), orchestra_api::field_selector::FieldSelectorError>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::kinds::ResourceKind;
use crate::object::Object;
use crate::status::Status;

/// How a [`FieldRequirement`] compares a field with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldOperator {
    /// `field=value` (or `field==value`): the field has this value.
    Equals,
    /// `field!=value`: the field has another value.
    NotEquals,
}

impl FieldOperator {
    /// The operator as printed in a selector: `=` or `!=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equals => "=",
            Self::NotEquals => "!=",
        }
    }
}

/// Why a field selector could not be parsed, worded as Kubernetes words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldSelectorError {
    /// A term without `=`, `==` or `!=`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    Unparsable {
        /// The whole selector text.
        selector: String,
        /// The term that could not be understood.
        term: String,
    },
    /// A backslash followed by something other than `\`, `,` or `=`, or ending the value.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscapeSequence(String),
    /// A `=` in a value that is not escaped as `\=`. Kubernetes prints the character's
    /// code point (`61` for `=`).
    #[error("invalid field selector: unescaped character in value: {}", u32::from(*.0))]
    UnescapedCharacter(char),
}

impl From<FieldSelectorError> for Status {
    /// A selector the client sent is a bad request (400), with the parse error as message.
    fn from(error: FieldSelectorError) -> Self {
        Status::bad_request(error.to_string())
    }
}

/// One term of a field selector: a field, an operator and a value (unescaped).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    field: String,
    operator: FieldOperator,
    value: String,
}

impl FieldRequirement {
    /// `field=value`.
    pub fn equals(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            operator: FieldOperator::Equals,
            value: value.into(),
        }
    }

    /// `field!=value`.
    pub fn not_equals(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            operator: FieldOperator::NotEquals,
            value: value.into(),
        }
    }

    /// The field label, e.g. `spec.nodeName`.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The operator.
    pub fn operator(&self) -> FieldOperator {
        self.operator
    }

    /// The value, unescaped.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a field with this value (`None`: the object does not have the field, read as
    /// the empty string, as Kubernetes does) satisfies the term.
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        let value = value.unwrap_or("");
        match self.operator {
            FieldOperator::Equals => value == self.value,
            FieldOperator::NotEquals => value != self.value,
        }
    }

    /// Kubernetes drops a term whose field and value are both empty (`=`, `!=`).
    fn is_void(&self) -> bool {
        self.field.is_empty() && self.value.is_empty()
    }
}

impl fmt::Display for FieldRequirement {
    /// `field=value` or `field!=value`, the value escaped with [`escape_value`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.field,
            self.operator.as_str(),
            escape_value(&self.value)
        )
    }
}

/// A parsed field selector: terms that must all hold.
///
/// The default value is [`FieldSelector::everything`]. Terms are kept in the order of their
/// canonical text, so selectors that differ only in term order or in `=` vs `==` compare
/// equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The selector that matches every object (no terms).
    pub fn everything() -> Self {
        Self::default()
    }

    /// A selector made of these terms. Terms with an empty field and an empty value are
    /// dropped, as Kubernetes drops them.
    pub fn new(requirements: impl IntoIterator<Item = FieldRequirement>) -> Self {
        let mut requirements: Vec<FieldRequirement> =
            requirements.into_iter().filter(|r| !r.is_void()).collect();
        requirements.sort_by_cached_key(ToString::to_string);
        Self { requirements }
    }

    /// The one-term selector `field=value` (Kubernetes' `OneTermEqualSelector`).
    ///
    /// ```
    /// use orchestra_api::FieldSelector;
    /// let on_node = FieldSelector::exact("spec.nodeName", "node-1");
    /// assert_eq!(on_node.to_string(), "spec.nodeName=node-1");
    /// ```
    pub fn exact(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new([FieldRequirement::equals(field, value)])
    }

    /// The terms.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Whether this selector matches every object (it has no terms).
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether the object is selected, reading its fields with [`Object::field_value`]. A
    /// field the kind does not expose reads as the empty string (reject such selectors first
    /// with [`FieldSelector::validate_for`]).
    pub fn matches(&self, object: &dyn Object) -> bool {
        self.requirements
            .iter()
            .all(|r| r.matches_value(object.field_value(&r.field).as_deref()))
    }

    /// Whether an object is selected, reading its fields through `field` (`None` for a field
    /// it does not have): for field sources other than an [`Object`].
    pub fn matches_fn<'v, F>(&self, mut field: F) -> bool
    where
        F: FnMut(&str) -> Option<Cow<'v, str>>,
    {
        self.requirements
            .iter()
            .all(|r| r.matches_value(field(&r.field).as_deref()))
    }

    /// The value this selector requires `field` to have, if one of its terms is
    /// `field=value` (Kubernetes' `RequiresExactMatch`): what an index lookup can use.
    pub fn exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.operator == FieldOperator::Equals && r.field == field)
            .map(|r| r.value.as_str())
    }

    /// Checks that every field of this selector can be selected on `kind`, answering as the
    /// Kubernetes API server does otherwise: 400 `BadRequest`, `field label not supported:
    /// <field>` (for the first such field).
    pub fn validate_for(&self, kind: &ResourceKind) -> Result<(), Status> {
        match self
            .requirements
            .iter()
            .find(|r| !kind.accepts_field(&r.field))
        {
            Some(unsupported) => Err(Status::bad_request(format!(
                "field label not supported: {}",
                unsupported.field
            ))),
            None => Ok(()),
        }
    }
}

impl fmt::Display for FieldSelector {
    /// The canonical string: terms joined by `,`, `==` written `=`, values escaped; empty for
    /// [`FieldSelector::everything`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            fmt::Display::fmt(requirement, f)?;
        }
        Ok(())
    }
}

impl FromStr for FieldSelector {
    type Err = FieldSelectorError;

    /// Parses the syntax of Kubernetes' `fields.ParseSelector`; the empty string is
    /// [`FieldSelector::everything`]. When several terms are wrong, the error names the first
    /// in sorted order, as Kubernetes does.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut terms = split_terms(text);
        terms.sort_unstable();
        let mut requirements = Vec::with_capacity(terms.len());
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let Some((field, operator, raw_value)) = split_term(term) else {
                return Err(FieldSelectorError::Unparsable {
                    selector: text.to_owned(),
                    term: term.to_owned(),
                });
            };
            requirements.push(FieldRequirement {
                field: field.to_owned(),
                operator,
                value: unescape_value(raw_value)?.into_owned(),
            });
        }
        Ok(Self::new(requirements))
    }
}

/// Escapes a value for a field selector: `\` → `\\`, `,` → `\,`, `=` → `\=` (Kubernetes'
/// `fields.EscapeValue`).
///
/// ```
/// use orchestra_api::field_selector::escape_value;
/// assert_eq!(escape_value(r"a,b=c\d"), r"a\,b\=c\\d");
/// assert_eq!(escape_value("plain"), "plain");
/// ```
pub fn escape_value(value: &str) -> Cow<'_, str> {
    if !value.contains(['\\', ',', '=']) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    Cow::Owned(out)
}

/// Undoes [`escape_value`] (Kubernetes' `fields.UnescapeValue`): rejects unknown escapes, a
/// trailing backslash and unescaped `,` or `=`.
fn unescape_value(raw: &str) -> Result<Cow<'_, str>, FieldSelectorError> {
    if !raw.contains(['\\', ',', '=']) {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut escaped = false;
    for c in raw.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(FieldSelectorError::InvalidEscapeSequence(format!("\\{c}")));
            }
            out.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ',' | '=' => return Err(FieldSelectorError::UnescapedCharacter(c)),
            _ => out.push(c),
        }
    }
    if escaped {
        return Err(FieldSelectorError::InvalidEscapeSequence("\\".to_owned()));
    }
    Ok(Cow::Owned(out))
}

/// Splits selector text at the commas that are not escaped, keeping empty terms. Every
/// split point is an ASCII byte, so terms are whole UTF-8 slices.
fn split_terms(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::with_capacity(1);
    let mut start = 0;
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b',' {
            terms.push(&text[start..i]);
            start = i + 1;
        }
    }
    terms.push(&text[start..]);
    terms
}

/// Splits a term at the first operator (`!=`, then `==`, then `=` at each position): the
/// field, the operator and the raw (still escaped) value.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    let bytes = term.as_bytes();
    (0..bytes.len()).find_map(|i| {
        let rest = &bytes[i..];
        let (operator, len) = if rest.starts_with(b"!=") {
            (FieldOperator::NotEquals, 2)
        } else if rest.starts_with(b"==") {
            (FieldOperator::Equals, 2)
        } else if rest.starts_with(b"=") {
            (FieldOperator::Equals, 1)
        } else {
            return None;
        };
        Some((&term[..i], operator, &term[i + len..]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Served;
    use k8s_openapi::api::core::v1::{Node, Pod, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use proptest::prelude::*;

    fn parse(text: &str) -> FieldSelector {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    fn pod(name: &str, node: Option<&str>, phase: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("prod".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: node.map(Into::into),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn valid_selectors_print_in_canonical_form() {
        let cases = [
            ("empty string is everything", "", ""),
            ("only commas is everything", ",,", ""),
            ("a term without field and value is dropped", "=,!=", ""),
            ("equality", "spec.nodeName=node-1", "spec.nodeName=node-1"),
            (
                "double equals prints as equals",
                "spec.nodeName==node-1",
                "spec.nodeName=node-1",
            ),
            (
                "inequality",
                "status.phase!=Running",
                "status.phase!=Running",
            ),
            ("empty value", "spec.nodeName=", "spec.nodeName="),
            ("terms are sorted", "b=2,a=1", "a=1,b=2"),
            ("escaped comma", r"a=x\,y", r"a=x\,y"),
            ("escaped equals", r"a=x\=y", r"a=x\=y"),
            ("escaped backslash", r"a=x\\y", r"a=x\\y"),
            (
                "escaped backslash then a real comma",
                r"a=x\\,b=y",
                r"a=x\\,b=y",
            ),
            ("spaces are part of fields and values", " a = b ", " a = b "),
            ("the first operator splits the term", "a!=b!c", "a!=b!c"),
            ("a field may contain a bang", "a!b=c", "a!b=c"),
            ("an empty field is allowed", "=x", "=x"),
        ];
        for (case, text, canonical) in cases {
            assert_eq!(parse(text).to_string(), canonical, "{case}");
        }
        assert_eq!(parse(r"a=x\,y\=z\\").requirements()[0].value(), r"x,y=z\");
    }

    #[test]
    fn invalid_selectors_fail_with_kubernetes_messages() {
        let cases = [
            (
                "a term without operator",
                "spec.nodeName",
                "invalid selector: 'spec.nodeName'; can't understand 'spec.nodeName'",
            ),
            (
                "set syntax is not supported",
                "a in (b)",
                "invalid selector: 'a in (b)'; can't understand 'a in (b)'",
            ),
            (
                "greater than is not supported",
                "a>1",
                "invalid selector: 'a>1'; can't understand 'a>1'",
            ),
            (
                "the first bad term in sorted order is reported",
                "z,y=1,a",
                "invalid selector: 'z,y=1,a'; can't understand 'a'",
            ),
            (
                "unescaped equals in a value",
                "a=b=c",
                "invalid field selector: unescaped character in value: 61",
            ),
            (
                "triple equals leaves an equals in the value",
                "a===b",
                "invalid field selector: unescaped character in value: 61",
            ),
            (
                "unknown escape",
                r"a=\x",
                r"invalid field selector: invalid escape sequence: \x",
            ),
            (
                "trailing backslash",
                r"a=b\",
                r"invalid field selector: invalid escape sequence: \",
            ),
        ];
        for (case, text, message) in cases {
            let err = text.parse::<FieldSelector>().unwrap_err();
            assert_eq!(err.to_string(), message, "{case}");
        }
        let status: Status = "x".parse::<FieldSelector>().unwrap_err().into();
        assert_eq!(status.code, 400);
    }

    #[test]
    fn matching_reads_object_fields() {
        let scheduled = pod("web", Some("node-1"), "Running");
        let pending = pod("api", None, "Pending");
        let cases = [
            ("node name equality", "spec.nodeName=node-1", true, false),
            ("double equals", "spec.nodeName==node-1", true, false),
            ("node name inequality", "spec.nodeName!=node-1", false, true),
            (
                "an unset field reads as empty",
                "spec.nodeName=",
                false,
                true,
            ),
            (
                "terms are ANDed",
                "metadata.name=web,status.phase=Running",
                true,
                false,
            ),
            ("namespace", "metadata.namespace=prod", true, true),
            (
                "inequality of an unset field",
                "spec.nodeName!=",
                true,
                false,
            ),
            (
                "an unknown field reads as empty",
                "spec.unknown=",
                true,
                true,
            ),
            ("everything", "", true, true),
        ];
        for (case, text, on_scheduled, on_pending) in cases {
            let selector = parse(text);
            assert_eq!(
                selector.matches(&scheduled),
                on_scheduled,
                "{case} (scheduled)"
            );
            assert_eq!(selector.matches(&pending), on_pending, "{case} (pending)");
        }
        let node = Node::default();
        assert!(parse("spec.unschedulable=false").matches(&node));
        assert!(parse("spec.unschedulable!=true").matches_fn(|f| node.field_value(f)));
    }

    #[test]
    fn validate_for_rejects_unsupported_field_labels_as_kubernetes() {
        let pods = Pod::resource_kind();
        assert_eq!(
            parse("spec.nodeName=a,metadata.name=b,metadata.namespace=c,status.phase=d")
                .validate_for(pods),
            Ok(())
        );
        let status = parse("spec.nodeName=a,spec.priority=1")
            .validate_for(pods)
            .unwrap_err();
        assert_eq!(status.code, 400);
        assert_eq!(status.reason, crate::StatusReason::BadRequest);
        assert_eq!(status.message, "field label not supported: spec.priority");
        let nodes = Node::resource_kind();
        assert_eq!(
            parse("metadata.namespace=x")
                .validate_for(nodes)
                .unwrap_err()
                .message,
            "field label not supported: metadata.namespace",
            "cluster-scoped kinds have no namespace field"
        );
        assert_eq!(FieldSelector::everything().validate_for(nodes), Ok(()));
    }

    #[test]
    fn exact_match_finds_equality_terms() {
        let selector = parse("spec.nodeName=node-1,status.phase!=Failed");
        assert_eq!(selector.exact_match("spec.nodeName"), Some("node-1"));
        assert_eq!(selector.exact_match("status.phase"), None);
        assert_eq!(selector.exact_match("metadata.name"), None);
        assert_eq!(
            FieldSelector::exact("spec.nodeName", "n").exact_match("spec.nodeName"),
            Some("n")
        );
        assert!(FieldSelector::everything().is_everything());
        assert!(!selector.is_everything());
    }

    #[test]
    fn built_selectors_drop_void_terms_and_sort() {
        let selector = FieldSelector::new([
            FieldRequirement::not_equals("b", "x,y"),
            FieldRequirement::equals("", ""),
            FieldRequirement::equals("a", "1"),
        ]);
        assert_eq!(selector.to_string(), r"a=1,b!=x\,y");
        assert_eq!(selector, parse(r"b!=x\,y,a==1"));
        let term = &selector.requirements()[1];
        assert_eq!(
            (term.field(), term.operator(), term.value()),
            ("b", FieldOperator::NotEquals, "x,y")
        );
    }

    // ------------------------------------------------------------------ properties

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(
                &["spec.nodeName", "metadata.name", "status.phase", "a", ""][..]
            )
            .prop_map(str::to_owned),
            "[a-zA-Z][a-zA-Z.]{0,12}",
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(&["", "node-1", "Running"][..]).prop_map(str::to_owned),
            "[a-z\\\\,=! é]{0,8}",
        ]
    }

    fn selector() -> impl Strategy<Value = FieldSelector> {
        let term = (field(), any::<bool>(), value()).prop_map(|(f, equals, v)| {
            if equals {
                FieldRequirement::equals(f, v)
            } else {
                FieldRequirement::not_equals(f, v)
            }
        });
        proptest::collection::vec(term, 0..5).prop_map(FieldSelector::new)
    }

    proptest! {
        #[test]
        fn struct_to_string_to_struct_is_identity(selector in selector()) {
            prop_assert_eq!(selector.to_string().parse::<FieldSelector>(), Ok(selector));
        }

        #[test]
        fn format_of_any_parsed_text_parses_to_an_equal_selector(text in "[a-c.=!,\\\\ ]{0,16}") {
            if let Ok(parsed) = text.parse::<FieldSelector>() {
                prop_assert_eq!(parsed.to_string().parse::<FieldSelector>(), Ok(parsed));
            }
        }

        #[test]
        fn struct_and_string_forms_match_the_same_pods(
            selector in selector(),
            node in proptest::option::of(value()),
            name in value(),
        ) {
            let pod = pod(&name, node.as_deref(), "Running");
            let reparsed: FieldSelector = selector.to_string().parse().unwrap();
            prop_assert_eq!(selector.matches(&pod), reparsed.matches(&pod));
        }

        #[test]
        fn escape_then_unescape_is_identity(value in any::<String>()) {
            let escaped = escape_value(&value);
            prop_assert_eq!(unescape_value(&escaped), Ok(Cow::Borrowed(value.as_str())));
        }

        #[test]
        fn parser_never_panics_on_arbitrary_strings(text in any::<String>()) {
            let _ = text.parse::<FieldSelector>();
        }
    }
}
