//! Label selectors: how a Service, a ReplicaSet, a scheduler affinity term or a list query
//! names the set of objects it is about.
//!
//! A selector is a list of requirements that must all hold (there is no OR). Each requirement
//! relates one label key to a set of values: equality (`env=prod`, `env==prod`,
//! `env!=prod`), set membership (`tier in (web,api)`, `tier notin (db)`), existence
//! (`canary`, `!canary`) or an integer comparison (`gpus>1`, `gpus<4`). The semantics are
//! Kubernetes' (v1.33, `k8s.io/apimachinery/pkg/labels`):
//!
//! - `!=` and `notin` also match objects that do not carry the key at all;
//! - `>` and `<` match only when the label's value is an integer;
//! - the empty selector matches everything, while an *absent* selector (a `null`
//!   `metav1.LabelSelector`) matches nothing: see [`LabelSelector::everything`] and
//!   [`LabelSelector::nothing`].
//!
//! The same selector has two spellings: the string of `?labelSelector=` and `kubectl -l`,
//! parsed by [`str::parse`] and printed by [`Display`](fmt::Display) in Kubernetes' canonical
//! form (requirements sorted by key, values sorted), and the structured
//! `metav1.LabelSelector` of object specs (`matchLabels` + `matchExpressions`), converted with
//! [`TryFrom`] and [`LabelSelector::to_k8s`]. Parse errors carry Kubernetes' own messages.
//!
//! ```
//! use std::collections::BTreeMap;
//! use orchestra_api::LabelSelector;
//!
//! let selector: LabelSelector = "tier in (web, api), env != dev, !canary".parse()?;
//! assert_eq!(selector.to_string(), "!canary,env!=dev,tier in (api,web)");
//!
//! let labels = BTreeMap::from([("tier".to_owned(), "web".to_owned())]);
//! assert!(selector.matches(&labels)); // no `env` label: `env!=dev` holds
//!
//! let err = "tier in web".parse::<LabelSelector>().unwrap_err();
//! assert_eq!(err.to_string(), "unable to parse requirement: found 'web' expected: '('");
//! # Ok::<(), orchestra_api::label_selector::SelectorError>(())
//! ```
//!
//! Matching ([`LabelSelector::matches`], [`LabelSelector::matches_fn`]) does not allocate:
//! values are kept sorted and `gt`/`lt` bounds are parsed once, when the selector is built.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;

use crate::status::Status;

/// How a [`Requirement`] relates a label's value to the requirement's values.
///
/// The names are those of Kubernetes' `selection.Operator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// `key in (a,b)`: the label exists and its value is one of the values.
    In,
    /// `key notin (a,b)`: the label is absent, or its value is none of the values.
    NotIn,
    /// `key=a`: the label exists and has this value.
    Equals,
    /// `key==a`: the same as [`Operator::Equals`], spelled differently.
    DoubleEquals,
    /// `key!=a`: the label is absent, or has another value.
    NotEquals,
    /// `key`: the label exists, whatever its value.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
    /// `key>3`: the label's value is an integer greater than the value.
    GreaterThan,
    /// `key<3`: the label's value is an integer less than the value.
    LessThan,
}

impl Operator {
    /// The operator as Kubernetes' `selection.Operator` spells it: `in`, `notin`, `=`, `==`,
    /// `!=`, `exists`, `!`, `gt`, `lt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::NotIn => "notin",
            Self::Equals => "=",
            Self::DoubleEquals => "==",
            Self::NotEquals => "!=",
            Self::Exists => "exists",
            Self::DoesNotExist => "!",
            Self::GreaterThan => "gt",
            Self::LessThan => "lt",
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a selector could not be parsed or built, worded as Kubernetes words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The text does not follow the selector grammar: `found ',', expected: identifier`.
    #[error("found '{found}', expected: {expected}")]
    UnexpectedToken {
        /// The token found, `''` at the end of the text.
        found: String,
        /// What the grammar allows at that point.
        expected: &'static str,
    },
    /// `in` or `notin` is not followed by `(`. Kubernetes words this one without a comma.
    #[error("found '{found}' expected: '('")]
    ExpectedOpenParen {
        /// The token found instead of `(`.
        found: String,
    },
    /// A requirement of the text could not be parsed; the cause says why.
    #[error("unable to parse requirement: {0}")]
    Requirement(Box<SelectorError>),
    /// Invalid keys or values, one entry per problem; printed as Kubernetes prints an
    /// aggregate of field errors (one message, or `[first, second]`).
    #[error("{}", AggregateDisplay(.0))]
    Invalid(Vec<InvalidField>),
    /// A `matchExpressions` operator other than `In`, `NotIn`, `Exists` or `DoesNotExist`.
    #[error("{} is not a valid label selector operator", go_quote(.0))]
    UnknownOperator(String),
}

/// One invalid part of a requirement, as Kubernetes' field validation reports it:
/// `values[0][app]: Invalid value: "-web": a valid label must be …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    /// Where: `key`, `values`, `values[0]`, `values[0][<key>]`, or `<nil>` for a key in
    /// selector text (Kubernetes validates those without a field path).
    pub field: String,
    /// The offending value as Kubernetes prints it: a Go-quoted string or a JSON list.
    pub value: String,
    /// Why it is invalid.
    pub detail: String,
}

impl fmt::Display for InvalidField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: Invalid value: {}: {}",
            self.field, self.value, self.detail
        )
    }
}

/// Prints field errors as `utilerrors.Aggregate` does: a lone message as is, several as
/// `[a, b]` without repeats.
struct AggregateDisplay<'a>(&'a [InvalidField]);

impl fmt::Display for AggregateDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut seen: Vec<String> = Vec::with_capacity(self.0.len());
        for error in self.0 {
            let message = error.to_string();
            if !seen.contains(&message) {
                seen.push(message);
            }
        }
        match seen.as_slice() {
            [one] => f.write_str(one),
            many => write!(f, "[{}]", many.join(", ")),
        }
    }
}

impl From<SelectorError> for Status {
    /// A selector the client sent is a bad request (400), with the parse error as message.
    fn from(error: SelectorError) -> Self {
        Status::bad_request(error.to_string())
    }
}

/// One condition on one label key.
///
/// Built with [`Requirement::new`], which validates the key (a qualified name such as
/// `app.kubernetes.io/name`), the values (label values) and their number for the operator, as
/// Kubernetes' `labels.NewRequirement` does. Values are kept sorted and without repeats.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
    /// The integer of a `gt`/`lt` requirement, parsed once; 0 for other operators.
    bound: i64,
}

impl Requirement {
    /// A validated requirement.
    ///
    /// ```
    /// use orchestra_api::label_selector::{Operator, Requirement};
    /// let tier = Requirement::new("tier", Operator::In, ["web", "api"])?;
    /// assert_eq!(tier.to_string(), "tier in (api,web)");
    /// let err = Requirement::new("tier", Operator::In, Vec::<String>::new()).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
    /// );
    /// # Ok::<(), orchestra_api::label_selector::SelectorError>(())
    /// ```
    pub fn new<V: Into<String>>(
        key: impl Into<String>,
        operator: Operator,
        values: impl IntoIterator<Item = V>,
    ) -> Result<Self, SelectorError> {
        let key = key.into();
        let values: Vec<String> = values.into_iter().map(Into::into).collect();
        let errors = requirement_errors(&key, operator, &values);
        if !errors.is_empty() {
            return Err(SelectorError::Invalid(errors));
        }
        Ok(Self::validated(key, operator, values))
    }

    /// Builds a requirement whose key and values have passed [`requirement_errors`].
    fn validated(key: String, operator: Operator, mut values: Vec<String>) -> Self {
        values.sort_unstable();
        values.dedup();
        let bound = match operator {
            Operator::GreaterThan | Operator::LessThan => {
                values.first().and_then(|v| v.parse().ok()).unwrap_or(0)
            }
            _ => 0,
        };
        Self {
            key,
            operator,
            values,
            bound,
        }
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted and without repeats (empty for `exists` and `!`).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a label with this value (`None`: the object has no such label) satisfies the
    /// requirement.
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                value.is_some_and(|v| self.has_value(v))
            }
            Operator::NotIn | Operator::NotEquals => value.is_none_or(|v| !self.has_value(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan => integer(value).is_some_and(|n| n > self.bound),
            Operator::LessThan => integer(value).is_some_and(|n| n < self.bound),
        }
    }

    fn has_value(&self, value: &str) -> bool {
        // Almost every requirement has one to three values: a scan beats a search there.
        if self.values.len() <= 8 {
            self.values.iter().any(|v| v == value)
        } else {
            self.values
                .binary_search_by(|v| v.as_str().cmp(value))
                .is_ok()
        }
    }
}

fn integer(value: Option<&str>) -> Option<i64> {
    value.and_then(|v| v.parse::<i64>().ok())
}

impl fmt::Display for Requirement {
    /// The requirement as Kubernetes prints it: `!key`, `key`, `key=v`, `key==v`, `key!=v`,
    /// `key in (a,b)`, `key notin (a,b)`, `key>1`, `key<1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (before, after) = match self.operator {
            Operator::Exists => return f.write_str(&self.key),
            Operator::DoesNotExist => return write!(f, "!{}", self.key),
            Operator::Equals => ("=", ""),
            Operator::DoubleEquals => ("==", ""),
            Operator::NotEquals => ("!=", ""),
            Operator::GreaterThan => (">", ""),
            Operator::LessThan => ("<", ""),
            Operator::In => (" in (", ")"),
            Operator::NotIn => (" notin (", ")"),
        };
        f.write_str(&self.key)?;
        f.write_str(before)?;
        for (i, value) in self.values.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            f.write_str(value)?;
        }
        f.write_str(after)
    }
}

/// A parsed label selector: requirements that must all hold.
///
/// The default value is [`LabelSelector::everything`]. Requirements are kept sorted by key
/// (stably, as Kubernetes sorts them), so two selectors that differ only in the order of
/// their requirements or values compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    matches_nothing: bool,
}

impl LabelSelector {
    /// The selector that matches every object: no requirements (Kubernetes'
    /// `labels.Everything()`, and what an empty `metav1.LabelSelector` means).
    pub fn everything() -> Self {
        Self::default()
    }

    /// The selector that matches no object (Kubernetes' `labels.Nothing()`, and what an
    /// absent `metav1.LabelSelector` means). It prints as the empty string, like Kubernetes'.
    pub fn nothing() -> Self {
        Self {
            requirements: Vec::new(),
            matches_nothing: true,
        }
    }

    /// A selector made of these requirements (sorted by key).
    pub fn new(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        let mut requirements: Vec<Requirement> = requirements.into_iter().collect();
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Self {
            requirements,
            matches_nothing: false,
        }
    }

    /// The selector matching exactly these labels (`key=value` for each), as Kubernetes'
    /// `labels.ValidatedSelectorFromSet`: the keys and values are validated.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use orchestra_api::LabelSelector;
    /// let template = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
    /// let selector = LabelSelector::from_labels(&template)?;
    /// assert_eq!(selector.to_string(), "app=web");
    /// # Ok::<(), orchestra_api::label_selector::SelectorError>(())
    /// ```
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Result<Self, SelectorError> {
        labels
            .iter()
            .map(|(key, value)| Requirement::new(key.as_str(), Operator::Equals, [value.as_str()]))
            .collect::<Result<Vec<_>, _>>()
            .map(Self::new)
    }

    /// This selector with one more requirement. Adding to [`LabelSelector::nothing`] leaves
    /// it matching nothing, as in Kubernetes.
    pub fn with_requirement(mut self, requirement: Requirement) -> Self {
        if self.matches_nothing {
            return self;
        }
        let at = self
            .requirements
            .partition_point(|r| r.key <= requirement.key);
        self.requirements.insert(at, requirement);
        self
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether this selector matches every object (no requirement, and not
    /// [`LabelSelector::nothing`]).
    pub fn is_everything(&self) -> bool {
        !self.matches_nothing && self.requirements.is_empty()
    }

    /// Whether this is [`LabelSelector::nothing`].
    pub fn is_nothing(&self) -> bool {
        self.matches_nothing
    }

    /// Whether an object with these labels is selected. Does not allocate.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        // Up to 11 entries, a `BTreeMap` is a single leaf that `get` scans linearly: one walk
        // through it alongside the key-sorted requirements then costs fewer comparisons than
        // one `get` per requirement. Larger maps (nodes often carry dozens of labels) are
        // searched.
        const ONE_LEAF: usize = 11;
        if labels.len() > ONE_LEAF {
            return self.matches_fn(|key| labels.get(key).map(String::as_str));
        }
        if self.matches_nothing {
            return false;
        }
        let mut entries = labels.iter().peekable();
        self.requirements.iter().all(|r| {
            let mut value = None;
            while let Some((key, v)) = entries.peek() {
                match key.as_str().cmp(&r.key) {
                    Ordering::Less => {
                        entries.next();
                    }
                    Ordering::Equal => {
                        value = Some(v.as_str());
                        break;
                    }
                    Ordering::Greater => break,
                }
            }
            r.matches_value(value)
        })
    }

    /// Whether an object is selected, reading its labels through `label` (the value of a
    /// key, `None` when the object has no such label). For label sources other than a
    /// `BTreeMap`: a `HashMap`, a node snapshot, an interned table.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use orchestra_api::LabelSelector;
    /// let labels = HashMap::from([("gpus", "4")]);
    /// let selector: LabelSelector = "gpus>2".parse()?;
    /// assert!(selector.matches_fn(|key| labels.get(key).copied()));
    /// # Ok::<(), orchestra_api::label_selector::SelectorError>(())
    /// ```
    pub fn matches_fn<'v, F>(&self, mut label: F) -> bool
    where
        F: FnMut(&str) -> Option<&'v str>,
    {
        !self.matches_nothing
            && self
                .requirements
                .iter()
                .all(|r| r.matches_value(label(&r.key)))
    }

    /// The one value this selector requires for `key`, if it requires exactly one (`key=v`,
    /// `key==v` or `key in (v)`): what an index lookup can use. As Kubernetes'
    /// `RequiresExactMatch`, only the first requirement on `key` is considered.
    ///
    /// ```
    /// use orchestra_api::LabelSelector;
    /// let selector: LabelSelector = "app=web,tier in (a,b)".parse()?;
    /// assert_eq!(selector.requires_exact_match("app"), Some("web"));
    /// assert_eq!(selector.requires_exact_match("tier"), None);
    /// # Ok::<(), orchestra_api::label_selector::SelectorError>(())
    /// ```
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let first = self.requirements.partition_point(|r| r.key.as_str() < key);
        let requirement = self.requirements.get(first).filter(|r| r.key == key)?;
        match (requirement.operator, requirement.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [value]) => Some(value),
            _ => None,
        }
    }

    /// This selector as a `metav1.LabelSelector`, when one can express it.
    ///
    /// `=` and `==` become `matchLabels` (an `In` expression for a repeated key), `!=`
    /// becomes `NotIn` with one value (the same semantics), and `in`, `notin`, `exists`, `!`
    /// their expressions. `None` for selectors with `gt`/`lt` (which `metav1.LabelSelector`
    /// cannot express) and for [`LabelSelector::nothing`] (which is expressed by having no
    /// selector at all).
    pub fn to_k8s(&self) -> Option<metav1::LabelSelector> {
        if self.matches_nothing {
            return None;
        }
        let mut match_labels = BTreeMap::new();
        let mut match_expressions = Vec::new();
        let expression = |r: &Requirement, operator: &str| metav1::LabelSelectorRequirement {
            key: r.key.clone(),
            operator: operator.to_owned(),
            values: (!r.values.is_empty()).then(|| r.values.clone()),
        };
        for r in &self.requirements {
            match r.operator {
                Operator::Equals | Operator::DoubleEquals => {
                    if match_labels.contains_key(&r.key) {
                        match_expressions.push(expression(r, "In"));
                    } else {
                        match_labels.insert(r.key.clone(), r.values.first()?.clone());
                    }
                }
                Operator::In => match_expressions.push(expression(r, "In")),
                Operator::NotIn | Operator::NotEquals => {
                    match_expressions.push(expression(r, "NotIn"));
                }
                Operator::Exists => match_expressions.push(expression(r, "Exists")),
                Operator::DoesNotExist => match_expressions.push(expression(r, "DoesNotExist")),
                Operator::GreaterThan | Operator::LessThan => return None,
            }
        }
        Some(metav1::LabelSelector {
            match_labels: (!match_labels.is_empty()).then_some(match_labels),
            match_expressions: (!match_expressions.is_empty()).then_some(match_expressions),
        })
    }
}

impl fmt::Display for LabelSelector {
    /// The canonical string: requirements sorted by key, joined by `,`; empty for
    /// [`LabelSelector::everything`] and (as in Kubernetes) for [`LabelSelector::nothing`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            fmt::Display::fmt(requirement, f)?;
        }
        Ok(())
    }
}

impl FromStr for LabelSelector {
    type Err = SelectorError;

    /// Parses the string syntax of Kubernetes' `labels.Parse`; the empty string is
    /// [`LabelSelector::everything`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Parser::new(text).selector().map(Self::new)
    }
}

impl TryFrom<&metav1::LabelSelector> for LabelSelector {
    type Error = SelectorError;

    /// Kubernetes' `metav1.LabelSelectorAsSelector`: `matchLabels` and `matchExpressions`
    /// ANDed; an empty selector matches everything.
    fn try_from(selector: &metav1::LabelSelector) -> Result<Self, Self::Error> {
        let labels = selector.match_labels.iter().flatten();
        let expressions = selector.match_expressions.iter().flatten();
        let count = selector.match_labels.as_ref().map_or(0, BTreeMap::len)
            + selector.match_expressions.as_ref().map_or(0, Vec::len);
        let mut requirements = Vec::with_capacity(count);
        for (key, value) in labels {
            requirements.push(Requirement::new(
                key.as_str(),
                Operator::Equals,
                [value.as_str()],
            )?);
        }
        for expression in expressions {
            let operator = match expression.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(SelectorError::UnknownOperator(other.to_owned())),
            };
            let values = expression.values.iter().flatten().map(String::as_str);
            requirements.push(Requirement::new(expression.key.as_str(), operator, values)?);
        }
        Ok(Self::new(requirements))
    }
}

impl TryFrom<Option<&metav1::LabelSelector>> for LabelSelector {
    type Error = SelectorError;

    /// As the conversion of `&metav1::LabelSelector`, with an absent selector matching
    /// nothing ([`LabelSelector::nothing`]), as Kubernetes reads e.g. a PodDisruptionBudget
    /// without a selector.
    fn try_from(selector: Option<&metav1::LabelSelector>) -> Result<Self, Self::Error> {
        selector.map_or_else(|| Ok(Self::nothing()), Self::try_from)
    }
}

// ---------------------------------------------------------------------------------------
// Validation of keys and values (Kubernetes' `IsQualifiedName` and `IsValidLabelValue`).
// ---------------------------------------------------------------------------------------

const QUALIFIED_NAME_MAX_LENGTH: usize = 63;
const LABEL_VALUE_MAX_LENGTH: usize = 63;
const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_EXAMPLES: &[&str] = &["MyName", "my.name", "123-abc"];
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_EXAMPLES: &[&str] = &["MyValue", "my_value", "12345"];
const DNS1123_SUBDOMAIN_FMT: &str =
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

/// Kubernetes' `RegexError`: the message, examples and the regular expression used.
fn regex_error(message: &str, regex: &str, examples: &[&str]) -> String {
    let mut out = String::from(message);
    if !examples.is_empty() {
        out.push_str(" (e.g. ");
        for (i, example) in examples.iter().enumerate() {
            if i > 0 {
                out.push_str(" or ");
            }
            let _ = write!(out, "'{example}', ");
        }
    } else {
        out.push_str(" (");
    }
    let _ = write!(out, "regex used for validation is '{regex}')");
    out
}

fn max_len_error(max: usize) -> String {
    format!("must be no more than {max} characters")
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, the name part of a qualified name.
fn is_qualified_name_part(name: &str) -> bool {
    let bytes = name.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`
fn is_dns1123_subdomain(value: &str) -> bool {
    let lower_alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    value.split('.').all(|label| {
        let bytes = label.as_bytes();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                lower_alnum(first)
                    && lower_alnum(last)
                    && bytes.iter().all(|b| lower_alnum(b) || *b == b'-')
            }
            _ => false,
        }
    })
}

/// Kubernetes' `validation.IsQualifiedName`: why `value` is not a valid label key (empty when
/// it is one).
pub(crate) fn qualified_name_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let (prefix, name) = match value.split_once('/') {
        None => (None, value),
        Some((prefix, name)) if !name.contains('/') => (Some(prefix), name),
        Some(_) => {
            errors.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, QUALIFIED_NAME_EXAMPLES)
            ));
            return errors;
        }
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            errors.push("prefix part must be non-empty".to_owned());
        } else {
            if prefix.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
                errors.push(format!(
                    "prefix part {}",
                    max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH)
                ));
            }
            if !is_dns1123_subdomain(prefix) {
                errors.push(format!(
                    "prefix part {}",
                    regex_error(
                        DNS1123_SUBDOMAIN_MSG,
                        DNS1123_SUBDOMAIN_FMT,
                        &["example.com"]
                    )
                ));
            }
        }
    }
    if name.is_empty() {
        errors.push("name part must be non-empty".to_owned());
    } else if name.len() > QUALIFIED_NAME_MAX_LENGTH {
        errors.push(format!(
            "name part {}",
            max_len_error(QUALIFIED_NAME_MAX_LENGTH)
        ));
    }
    if !is_qualified_name_part(name) {
        errors.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_MSG,
                QUALIFIED_NAME_FMT,
                QUALIFIED_NAME_EXAMPLES
            )
        ));
    }
    errors
}

/// Kubernetes' `validation.IsValidLabelValue`: why `value` is not a valid label value (empty
/// when it is one).
pub(crate) fn label_value_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        errors.push(max_len_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        errors.push(regex_error(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            LABEL_VALUE_EXAMPLES,
        ));
    }
    errors
}

/// What Kubernetes' `labels.NewRequirement` (called without a field path) finds wrong with a
/// requirement, in its order. Values are checked in the order given.
fn requirement_errors(key: &str, operator: Operator, values: &[String]) -> Vec<InvalidField> {
    let mut errors = Vec::new();
    let key_errors = qualified_name_errors(key);
    if !key_errors.is_empty() {
        errors.push(InvalidField {
            field: "key".to_owned(),
            value: go_quote(key),
            detail: key_errors.join("; "),
        });
    }
    let values_error = |detail: &str| InvalidField {
        field: "values".to_owned(),
        value: go_json_list(values),
        detail: detail.to_owned(),
    };
    match operator {
        Operator::In | Operator::NotIn if values.is_empty() => errors.push(values_error(
            "for 'in', 'notin' operators, values set can't be empty",
        )),
        Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
            errors.push(values_error(
                "exact-match compatibility requires one single value",
            ));
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => errors.push(
            values_error("values set must be empty for exists and does not exist"),
        ),
        Operator::GreaterThan | Operator::LessThan => {
            if values.len() != 1 {
                errors.push(values_error(
                    "for 'Gt', 'Lt' operators, exactly one value is required",
                ));
            }
            for (i, value) in values.iter().enumerate() {
                if value.parse::<i64>().is_err() {
                    errors.push(InvalidField {
                        field: format!("values[{i}]"),
                        value: go_quote(value),
                        detail: "for 'Gt', 'Lt' operators, the value must be an integer".to_owned(),
                    });
                }
            }
        }
        _ => {}
    }
    for (i, value) in values.iter().enumerate() {
        let value_errors = label_value_errors(value);
        if !value_errors.is_empty() {
            errors.push(InvalidField {
                field: format!("values[{i}][{key}]"),
                value: go_quote(value),
                detail: value_errors.join("; "),
            });
        }
    }
    errors
}

/// A string quoted as Go's `%q` (`strconv.Quote`) quotes it, which is how Kubernetes shows
/// offending values. Printability of non-ASCII characters is approximated (control,
/// whitespace and format characters are escaped).
fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            ' '..='~' => out.push(c),
            c if c.is_ascii() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if !c.is_control() && !c.is_whitespace() && !is_format_char(c) => out.push(c),
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// The common Unicode format characters (category Cf), which Go does not print as is.
fn is_format_char(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e000}'..='\u{f8ff}'
    )
}

/// A list of strings as Go's `encoding/json` writes it (`null` when empty, as Kubernetes
/// shows a missing `values`), HTML-sensitive characters escaped as Go escapes them.
fn go_json_list(values: &[String]) -> String {
    if values.is_empty() {
        return "null".to_owned();
    }
    let json = serde_json::to_string(values).unwrap_or_default();
    if !json.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return json;
    }
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

// ---------------------------------------------------------------------------------------
// The string syntax: a lexer and a recursive-descent parser with Kubernetes' behaviour.
// ---------------------------------------------------------------------------------------

/// A token of the selector syntax.
///
/// Words (keys, values, and the keywords `in`/`notin`) are all [`Token::Word`]: whether a
/// word is a keyword depends on where it stands, which only the parser knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'s> {
    End,
    Word(&'s str),
    Comma,
    OpenParen,
    ClosedParen,
    Bang,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
}

impl Token<'_> {
    /// The token as shown in `found '…'` messages (`''` at the end).
    fn literal(&self) -> &str {
        match self {
            Token::End => "",
            Token::Word(word) => word,
            Token::Comma => ",",
            Token::OpenParen => "(",
            Token::ClosedParen => ")",
            Token::Bang => "!",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::NotEquals => "!=",
            Token::GreaterThan => ">",
            Token::LessThan => "<",
        }
    }
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_symbol(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits selector text into tokens, byte by byte, as Kubernetes' lexer does: a NUL byte
/// ends the text when a token is expected and ends (and is swallowed by) a token in progress.
/// Every split point is an ASCII byte, so words are always whole UTF-8 slices.
struct Lexer<'s> {
    text: &'s str,
    pos: usize,
    ended: bool,
}

impl<'s> Lexer<'s> {
    fn new(text: &'s str) -> Self {
        Self {
            text,
            pos: 0,
            ended: false,
        }
    }

    fn peek_byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Swallows a NUL byte right after a token, as Kubernetes' lexer does.
    fn skip_nul(&mut self) {
        if self.peek_byte() == Some(0) {
            self.pos += 1;
        }
    }

    fn next_token(&mut self) -> Token<'s> {
        if self.ended {
            return Token::End;
        }
        while self.peek_byte().is_some_and(is_whitespace) {
            self.pos += 1;
        }
        let Some(first) = self.peek_byte().filter(|b| *b != 0) else {
            self.ended = true;
            return Token::End;
        };
        self.pos += 1;
        if is_symbol(first) {
            let token = match (first, self.peek_byte()) {
                (b'!', Some(b'=')) => {
                    self.pos += 1;
                    Token::NotEquals
                }
                (b'=', Some(b'=')) => {
                    self.pos += 1;
                    Token::DoubleEquals
                }
                (b'!', _) => Token::Bang,
                (b'=', _) => Token::Equals,
                (b'(', _) => Token::OpenParen,
                (b')', _) => Token::ClosedParen,
                (b',', _) => Token::Comma,
                (b'>', _) => Token::GreaterThan,
                _ => Token::LessThan,
            };
            self.skip_nul();
            return token;
        }
        let start = self.pos - 1;
        while self
            .peek_byte()
            .is_some_and(|b| b != 0 && !is_symbol(b) && !is_whitespace(b))
        {
            self.pos += 1;
        }
        let word = &self.text[start..self.pos];
        self.skip_nul();
        Token::Word(word)
    }
}

/// Kubernetes' selector grammar:
///
/// ```text
/// selector    ::= requirement | requirement "," selector
/// requirement ::= [!] KEY [ set-based | exact-match ]
/// set-based   ::= ("in" | "notin") "(" VALUE ("," VALUE)* ")"
/// exact-match ::= ("=" | "==" | "!=" | ">" | "<") VALUE
/// ```
struct Parser<'s> {
    lexer: Lexer<'s>,
    peeked: Option<Token<'s>>,
}

fn unexpected(token: Token<'_>, expected: &'static str) -> SelectorError {
    SelectorError::UnexpectedToken {
        found: token.literal().to_owned(),
        expected,
    }
}

impl<'s> Parser<'s> {
    fn new(text: &'s str) -> Self {
        Self {
            lexer: Lexer::new(text),
            peeked: None,
        }
    }

    fn peek(&mut self) -> Token<'s> {
        *self.peeked.get_or_insert_with(|| self.lexer.next_token())
    }

    fn next(&mut self) -> Token<'s> {
        self.peeked
            .take()
            .unwrap_or_else(|| self.lexer.next_token())
    }

    fn selector(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            match self.peek() {
                Token::Word(_) | Token::Bang => {
                    let requirement = self
                        .requirement()
                        .map_err(|cause| SelectorError::Requirement(Box::new(cause)))?;
                    requirements.push(requirement);
                    match self.next() {
                        Token::End => return Ok(requirements),
                        Token::Comma => match self.peek() {
                            Token::Word(_) | Token::Bang => {}
                            other => return Err(unexpected(other, "identifier after ','")),
                        },
                        other => return Err(unexpected(other, "',' or 'end of string'")),
                    }
                }
                Token::End => return Ok(requirements),
                other => return Err(unexpected(other, "!, identifier, or 'end of string'")),
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let mut token = self.next();
        let negated = token == Token::Bang;
        if negated {
            token = self.next();
        }
        let Token::Word(key) = token else {
            return Err(unexpected(token, "identifier"));
        };
        let key_errors = qualified_name_errors(key);
        if !key_errors.is_empty() {
            return Err(SelectorError::Invalid(vec![InvalidField {
                field: "<nil>".to_owned(),
                value: go_quote(key),
                detail: key_errors.join("; "),
            }]));
        }
        if negated {
            return Ok(Requirement::validated(
                key.to_owned(),
                Operator::DoesNotExist,
                Vec::new(),
            ));
        }
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Ok(Requirement::validated(
                key.to_owned(),
                Operator::Exists,
                Vec::new(),
            ));
        }
        let operator = match self.next() {
            Token::Word("in") => Operator::In,
            Token::Word("notin") => Operator::NotIn,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            other => return Err(unexpected(other, "in, notin, =, ==, !=, gt, lt")),
        };
        let mut values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => vec![self.exact_value()?],
        };
        values.sort_unstable();
        values.dedup();
        let values: Vec<String> = values.into_iter().map(str::to_owned).collect();
        let errors = requirement_errors(key, operator, &values);
        if !errors.is_empty() {
            return Err(SelectorError::Invalid(errors));
        }
        Ok(Requirement::validated(key.to_owned(), operator, values))
    }

    /// `( VALUE, … )` after `in`/`notin`. `()` is the set of the empty value.
    fn value_set(&mut self) -> Result<Vec<&'s str>, SelectorError> {
        let open = self.next();
        if open != Token::OpenParen {
            return Err(SelectorError::ExpectedOpenParen {
                found: open.literal().to_owned(),
            });
        }
        match self.peek() {
            Token::Word(_) | Token::Comma => {
                let values = self.value_list()?;
                self.next(); // the `)` that `value_list` stopped at
                Ok(values)
            }
            Token::ClosedParen => {
                self.next();
                Ok(vec![""])
            }
            other => Err(unexpected(other, "',', ')' or identifier")),
        }
    }

    /// Comma-separated values, possibly empty (`(a,,b)`, `(,a)`, `(a,)`), up to (not
    /// including) the closing `)`.
    fn value_list(&mut self) -> Result<Vec<&'s str>, SelectorError> {
        let mut values = Vec::new();
        loop {
            match self.next() {
                Token::Word(value) => {
                    values.push(value);
                    match self.peek() {
                        Token::Comma => {}
                        Token::ClosedParen => return Ok(values),
                        other => return Err(unexpected(other, "',' or ')'")),
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.push("");
                    }
                    match self.peek() {
                        Token::ClosedParen => {
                            values.push("");
                            return Ok(values);
                        }
                        Token::Comma => {
                            self.next();
                            values.push("");
                        }
                        _ => {}
                    }
                }
                other => return Err(unexpected(other, "',', or identifier")),
            }
        }
    }

    /// The value after `=`, `==`, `!=`, `>` or `<`; empty when the requirement ends there.
    fn exact_value(&mut self) -> Result<&'s str, SelectorError> {
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Ok("");
        }
        match self.next() {
            Token::Word(value) => Ok(value),
            other => Err(unexpected(other, "identifier")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> LabelSelector {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    fn parse_err(text: &str) -> String {
        match text.parse::<LabelSelector>() {
            Ok(selector) => panic!("{text:?} should not parse, got {selector:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const NAME_PART_REGEX: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const LABEL_VALUE_REGEX: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    #[test]
    fn valid_selectors_print_in_canonical_form() {
        let cases = [
            ("empty string is everything", "", ""),
            ("whitespace only is everything", " \t\n", ""),
            ("equality", "x=a", "x=a"),
            ("double equals is kept", "x==a", "x==a"),
            ("inequality", "x!=a", "x!=a"),
            ("requirements sorted by key", "z=c,y=b,x=a", "x=a,y=b,z=c"),
            ("spaces around operators", " x = a , y != b ", "x=a,y!=b"),
            ("empty exact value", "x=,z= ", "x=,z="),
            ("existence", "x", "x"),
            ("non-existence", "!x", "!x"),
            ("set values sorted", "x in (c,a,b)", "x in (a,b,c)"),
            ("set values deduplicated", "x in (a,a)", "x in (a)"),
            ("notin", "x notin (a, b)", "x notin (a,b)"),
            ("empty set is the empty value", "x in ()", "x in ()"),
            (
                "leading comma adds the empty value",
                "x in (,a)",
                "x in (,a)",
            ),
            (
                "trailing comma adds the empty value",
                "x in (a,)",
                "x in (,a)",
            ),
            (
                "double comma adds the empty value",
                "x in (a,,b)",
                "x in (,a,b)",
            ),
            ("lone comma is the empty value", "x in (,)", "x in ()"),
            (
                "keywords as key and value",
                "in in (in,notin)",
                "in in (in,notin)",
            ),
            ("keyword as exact value", "x=notin", "x=notin"),
            ("greater than", "x>1", "x>1"),
            ("less than negative bound", "x<10", "x<10"),
            (
                "prefixed keys",
                "app.kubernetes.io/name=web,example.com/tier",
                "app.kubernetes.io/name=web,example.com/tier",
            ),
            ("repeated keys keep their order", "b=2,a!=1,a", "a!=1,a,b=2"),
            (
                "a NUL byte where a token is expected ends the text",
                "x=a \0garbage",
                "x=a",
            ),
            (
                "the kubernetes documentation example",
                "environment in (production, qa),tier notin (frontend, backend),partition,!partition",
                "environment in (production,qa),partition,!partition,tier notin (backend,frontend)",
            ),
        ];
        for (case, text, canonical) in cases {
            let selector = text
                .parse::<LabelSelector>()
                .unwrap_or_else(|e| panic!("{case}: {text:?} should parse: {e}"));
            assert_eq!(selector.to_string(), canonical, "{case}");
        }
    }

    #[test]
    fn invalid_selectors_fail_with_kubernetes_messages() {
        let cases: [(&str, &str, String); 22] = [
            (
                "trailing comma",
                "x=a,",
                "found '', expected: identifier after ','".into(),
            ),
            (
                "leading comma",
                ",x=a",
                "found ',', expected: !, identifier, or 'end of string'".into(),
            ),
            (
                "operator without key",
                "=a",
                "found '=', expected: !, identifier, or 'end of string'".into(),
            ),
            (
                "two words",
                "x y",
                "unable to parse requirement: found 'y', expected: in, notin, =, ==, !=, gt, lt"
                    .into(),
            ),
            (
                "value followed by a word",
                "x=a b",
                "found 'b', expected: ',' or 'end of string'".into(),
            ),
            (
                "or is not supported",
                "x=a||y=b",
                format!("unable to parse requirement: values[0][x]: Invalid value: \"a||y\": {LABEL_VALUE_REGEX}"),
            ),
            (
                "a NUL byte inside a token only ends the token",
                "x=a\0garbage",
                "found 'garbage', expected: ',' or 'end of string'".into(),
            ),
            (
                "triple equals",
                "x===a",
                "unable to parse requirement: found '=', expected: identifier".into(),
            ),
            (
                "in without parenthesis",
                "x in a",
                "unable to parse requirement: found 'a' expected: '('".into(),
            ),
            (
                "unclosed set",
                "x in (a",
                "unable to parse requirement: found '', expected: ',' or ')'".into(),
            ),
            (
                "set without commas",
                "x in (a b)",
                "unable to parse requirement: found 'b', expected: ',' or ')'".into(),
            ),
            (
                "nested parenthesis",
                "x in ((a))",
                "unable to parse requirement: found '(', expected: ',', ')' or identifier".into(),
            ),
            (
                "operator inside a set",
                "x in (,=)",
                "unable to parse requirement: found '=', expected: ',', or identifier".into(),
            ),
            (
                "negation with a value",
                "!x=a",
                "found '=', expected: ',' or 'end of string'".into(),
            ),
            (
                "double negation",
                "!!x",
                "unable to parse requirement: found '!', expected: identifier".into(),
            ),
            (
                "invalid key",
                "&foo",
                format!("unable to parse requirement: <nil>: Invalid value: \"&foo\": {NAME_PART_REGEX}"),
            ),
            (
                "invalid value",
                "x=-a",
                format!("unable to parse requirement: values[0][x]: Invalid value: \"-a\": {LABEL_VALUE_REGEX}"),
            ),
            (
                "gt with a non-integer",
                "x>1.5",
                "unable to parse requirement: values[0]: Invalid value: \"1.5\": for 'Gt', 'Lt' operators, the value must be an integer".into(),
            ),
            (
                "gt without a value",
                "x>",
                "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer".into(),
            ),
            (
                "lt with a negative bound is not a label value",
                "x<-1",
                format!("unable to parse requirement: values[0][x]: Invalid value: \"-1\": {LABEL_VALUE_REGEX}"),
            ),
            (
                "empty key prefix",
                "/x",
                "unable to parse requirement: <nil>: Invalid value: \"/x\": prefix part must be non-empty".into(),
            ),
            (
                "two slashes in a key",
                "a/b/c",
                "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".into(),
            ),
        ];
        for (case, text, message) in cases {
            assert_eq!(parse_err(text), message, "{case}");
        }
    }

    #[test]
    fn key_validation_reports_every_problem_of_a_key() {
        assert_eq!(
            parse_err("Example.com/"),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"Example.com/\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'); name part must be non-empty; {NAME_PART_REGEX}"
            )
        );
        let long_name = "a".repeat(64);
        assert_eq!(
            parse_err(&long_name),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"{long_name}\": name part must be no more than 63 characters"
            )
        );
        let long_value = "a".repeat(64);
        assert_eq!(
            parse_err(&format!("x={long_value}")),
            format!(
                "unable to parse requirement: values[0][x]: Invalid value: \"{long_value}\": must be no more than 63 characters"
            )
        );
        assert_eq!(
            parse(&format!("{}/x", "a".repeat(253))).requirements()[0]
                .key()
                .len(),
            255
        );
        assert!(
            parse_err(&format!("{}/x", "a".repeat(254)))
                .contains("prefix part must be no more than 253 characters")
        );
    }

    #[test]
    fn offending_values_are_quoted_as_go_quotes_them() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\u{1}\u{7f}\n"), r#""\x01\x7f\n""#);
        assert_eq!(go_quote("é\u{200b}\u{a0}"), "\"é\\u200b\\u00a0\"");
        assert_eq!(
            parse_err("x=\u{1}"),
            format!(
                "unable to parse requirement: values[0][x]: Invalid value: \"\\x01\": {LABEL_VALUE_REGEX}"
            )
        );
    }

    #[test]
    fn matching_follows_kubernetes_semantics() {
        let cases = [
            (
                "equality matches the value",
                "env=prod",
                &[("env", "prod")][..],
                true,
            ),
            (
                "equality rejects another value",
                "env=prod",
                &[("env", "dev")],
                false,
            ),
            ("equality rejects a missing key", "env=prod", &[], false),
            (
                "double equals is equality",
                "env==prod",
                &[("env", "prod")],
                true,
            ),
            (
                "empty value matches an empty label",
                "env=",
                &[("env", "")],
                true,
            ),
            ("empty value rejects a missing key", "env=", &[], false),
            (
                "inequality matches another value",
                "tier!=web",
                &[("tier", "db")],
                true,
            ),
            ("inequality matches a missing key", "tier!=web", &[], true),
            (
                "inequality rejects the value",
                "tier!=web",
                &[("tier", "web")],
                false,
            ),
            (
                "in matches a member",
                "env in (prod,qa)",
                &[("env", "qa")],
                true,
            ),
            (
                "in rejects a non-member",
                "env in (prod,qa)",
                &[("env", "dev")],
                false,
            ),
            ("in rejects a missing key", "env in (prod,qa)", &[], false),
            (
                "notin matches a missing key",
                "tier notin (web,api)",
                &[],
                true,
            ),
            (
                "notin matches a non-member",
                "tier notin (web,api)",
                &[("tier", "db")],
                true,
            ),
            (
                "notin rejects a member",
                "tier notin (web,api)",
                &[("tier", "api")],
                false,
            ),
            (
                "exists matches any value",
                "partition",
                &[("partition", "")],
                true,
            ),
            ("exists rejects a missing key", "partition", &[], false),
            (
                "does not exist matches a missing key",
                "!partition",
                &[],
                true,
            ),
            (
                "does not exist rejects the key",
                "!partition",
                &[("partition", "a")],
                false,
            ),
            ("gt compares integers", "gpus>1", &[("gpus", "2")], true),
            ("gt is strict", "gpus>1", &[("gpus", "1")], false),
            ("gt compares numerically", "gpus>9", &[("gpus", "10")], true),
            (
                "gt rejects a non-integer",
                "gpus>1",
                &[("gpus", "many")],
                false,
            ),
            ("gt rejects a missing key", "gpus>1", &[], false),
            (
                "gt accepts a signed label value",
                "gpus>1",
                &[("gpus", "+2")],
                true,
            ),
            ("lt compares integers", "gpus<1", &[("gpus", "0")], true),
            (
                "lt accepts negative label values",
                "gpus<0",
                &[("gpus", "-3")],
                true,
            ),
            ("lt is strict", "gpus<1", &[("gpus", "1")], false),
            (
                "requirements are ANDed",
                "env=prod,tier!=web",
                &[("env", "prod"), ("tier", "web")],
                false,
            ),
            (
                "all requirements hold",
                "env=prod,tier!=web,!canary",
                &[("env", "prod"), ("tier", "db")],
                true,
            ),
            ("empty selector matches no labels", "", &[], true),
            ("empty selector matches any labels", "", &[("a", "b")], true),
            (
                "contradiction matches nothing",
                "a=1,a=2",
                &[("a", "1")],
                false,
            ),
        ];
        for (case, text, pairs, expected) in cases {
            let selector = parse(text);
            let map = labels(pairs);
            assert_eq!(selector.matches(&map), expected, "{case}");
            assert_eq!(
                selector.matches_fn(|k| map.get(k).map(String::as_str)),
                expected,
                "{case} (matches_fn)"
            );
        }
    }

    #[test]
    fn in_with_many_values_matches_by_search() {
        let values: Vec<String> = (0..20).map(|i| format!("v{i:02}")).collect();
        let requirement = Requirement::new("k", Operator::In, values.clone()).unwrap();
        for value in &values {
            assert!(requirement.matches_value(Some(value)));
        }
        assert!(!requirement.matches_value(Some("v20")));
        assert!(!requirement.matches_value(None));
    }

    #[test]
    fn everything_and_nothing_are_distinct() {
        let all = LabelSelector::everything();
        let none = LabelSelector::nothing();
        let map = labels(&[("a", "b")]);
        assert!(all.is_everything() && !all.is_nothing());
        assert!(none.is_nothing() && !none.is_everything());
        assert!(all.matches(&map) && all.matches(&BTreeMap::new()));
        assert!(!none.matches(&map) && !none.matches(&BTreeMap::new()));
        assert_ne!(all, none);
        assert_eq!(
            none.to_string(),
            "",
            "Kubernetes prints Nothing() as the empty string"
        );
        assert_eq!(LabelSelector::default(), all);
        let still_nothing =
            none.with_requirement(Requirement::new("a", Operator::Exists, [""; 0]).unwrap());
        assert!(still_nothing.is_nothing());
        assert!(!parse("a").is_everything());
    }

    #[test]
    fn with_requirement_keeps_requirements_sorted_by_key() {
        let selector = parse("a=1,c=3")
            .with_requirement(Requirement::new("b", Operator::Equals, ["2"]).unwrap());
        assert_eq!(selector.to_string(), "a=1,b=2,c=3");
        assert_eq!(selector, parse("c=3,b=2,a=1"));
    }

    #[test]
    fn requires_exact_match_reports_single_required_values() {
        let selector = parse("a=1,b==2,c in (3),d in (4,5),e!=6,f,g notin (7)");
        let cases = [
            ("equality", "a", Some("1")),
            ("double equality", "b", Some("2")),
            ("in with one value", "c", Some("3")),
            ("in with two values", "d", None),
            ("inequality", "e", None),
            ("existence", "f", None),
            ("notin", "g", None),
            ("absent key", "h", None),
        ];
        for (case, key, expected) in cases {
            assert_eq!(selector.requires_exact_match(key), expected, "{case}");
        }
        assert_eq!(
            parse("a,a=1").requires_exact_match("a"),
            None,
            "only the first requirement on a key counts, as in Kubernetes"
        );
    }

    fn k8s(
        labels: &[(&str, &str)],
        expressions: &[(&str, &str, &[&str])],
    ) -> metav1::LabelSelector {
        metav1::LabelSelector {
            match_labels: (!labels.is_empty()).then(|| {
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect()
            }),
            match_expressions: (!expressions.is_empty()).then(|| {
                expressions
                    .iter()
                    .map(|(key, operator, values)| metav1::LabelSelectorRequirement {
                        key: (*key).to_owned(),
                        operator: (*operator).to_owned(),
                        values: (!values.is_empty())
                            .then(|| values.iter().map(|v| (*v).to_owned()).collect()),
                    })
                    .collect()
            }),
        }
    }

    #[test]
    fn k8s_selectors_convert_as_label_selector_as_selector() {
        let selector = LabelSelector::try_from(&k8s(
            &[("app", "web"), ("tier", "frontend")],
            &[
                ("env", "In", &["qa", "prod"]),
                ("track", "NotIn", &["canary"]),
                ("zone", "Exists", &[]),
                ("legacy", "DoesNotExist", &[]),
            ],
        ))
        .unwrap();
        assert_eq!(
            selector.to_string(),
            "app=web,env in (prod,qa),!legacy,tier=frontend,track notin (canary),zone"
        );
        let empty = LabelSelector::try_from(&metav1::LabelSelector::default()).unwrap();
        assert!(
            empty.is_everything(),
            "an empty selector matches everything"
        );
        let absent = LabelSelector::try_from(None::<&metav1::LabelSelector>).unwrap();
        assert!(absent.is_nothing(), "an absent selector matches nothing");
        let present = LabelSelector::try_from(Some(&k8s(&[("a", "b")], &[]))).unwrap();
        assert_eq!(present.to_string(), "a=b");
    }

    #[test]
    fn invalid_k8s_selectors_fail_with_kubernetes_messages() {
        let cases = [
            (
                "unknown operator",
                k8s(&[], &[("a", "Equals", &["b"])]),
                "\"Equals\" is not a valid label selector operator".to_owned(),
            ),
            (
                "in without values",
                k8s(&[], &[("a", "In", &[])]),
                "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
                    .to_owned(),
            ),
            (
                "notin without values",
                k8s(&[], &[("a", "NotIn", &[])]),
                "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
                    .to_owned(),
            ),
            (
                "exists with values",
                k8s(&[], &[("a", "Exists", &["b", "<c>"])]),
                format!(
                    "[values: Invalid value: [\"b\",\"\\u003cc\\u003e\"]: values set must be empty for exists and does not exist, values[1][a]: Invalid value: \"<c>\": {LABEL_VALUE_REGEX}]"
                ),
            ),
            (
                "invalid match label key",
                k8s(&[("-a", "b")], &[]),
                format!("key: Invalid value: \"-a\": {NAME_PART_REGEX}"),
            ),
            (
                "invalid match label value",
                k8s(&[("app", "-web")], &[]),
                format!("values[0][app]: Invalid value: \"-web\": {LABEL_VALUE_REGEX}"),
            ),
            (
                "invalid key and value together",
                k8s(&[], &[("-a", "In", &["ok", "-b"])]),
                format!(
                    "[key: Invalid value: \"-a\": {NAME_PART_REGEX}, values[1][-a]: Invalid value: \"-b\": {LABEL_VALUE_REGEX}]"
                ),
            ),
        ];
        for (case, selector, message) in cases {
            let err = LabelSelector::try_from(&selector).unwrap_err();
            assert_eq!(err.to_string(), message, "{case}");
        }
    }

    #[test]
    fn to_k8s_expresses_what_metav1_can() {
        let selector = parse("a=1,b==2,c!=3,d in (4,5),e notin (6),f,!g");
        let converted = selector.to_k8s().unwrap();
        assert_eq!(
            serde_json::to_value(&converted).unwrap(),
            serde_json::json!({
                "matchLabels": {"a": "1", "b": "2"},
                "matchExpressions": [
                    {"key": "c", "operator": "NotIn", "values": ["3"]},
                    {"key": "d", "operator": "In", "values": ["4", "5"]},
                    {"key": "e", "operator": "NotIn", "values": ["6"]},
                    {"key": "f", "operator": "Exists"},
                    {"key": "g", "operator": "DoesNotExist"},
                ],
            })
        );
        let back = LabelSelector::try_from(&converted).unwrap();
        assert_eq!(
            back.to_string(),
            "a=1,b=2,c notin (3),d in (4,5),e notin (6),f,!g"
        );
        assert_eq!(
            parse("a=1,a=2").to_k8s().unwrap(),
            k8s(&[("a", "1")], &[("a", "In", &["2"])]),
            "a repeated key cannot be two match labels"
        );
        assert_eq!(parse("x>1").to_k8s(), None, "gt has no metav1 form");
        assert_eq!(LabelSelector::nothing().to_k8s(), None);
        assert_eq!(
            LabelSelector::everything().to_k8s(),
            Some(metav1::LabelSelector::default())
        );
    }

    #[test]
    fn requirement_new_validates_like_new_requirement() {
        let cases = [
            (
                "equals needs one value",
                Operator::Equals,
                vec!["a", "b"],
                "values: Invalid value: [\"a\",\"b\"]: exact-match compatibility requires one single value",
            ),
            (
                "gt needs one value",
                Operator::GreaterThan,
                vec![],
                "values: Invalid value: null: for 'Gt', 'Lt' operators, exactly one value is required",
            ),
            (
                "does not exist takes no value",
                Operator::DoesNotExist,
                vec![""],
                "values: Invalid value: [\"\"]: values set must be empty for exists and does not exist",
            ),
        ];
        for (case, operator, values, message) in cases {
            let err = Requirement::new("k", operator, values).unwrap_err();
            assert_eq!(err.to_string(), message, "{case}");
        }
        let ok = Requirement::new("k", Operator::NotIn, ["b", "a", "b"]).unwrap();
        assert_eq!(ok.values(), ["a", "b"]);
        assert_eq!(ok.key(), "k");
        assert_eq!(ok.operator(), Operator::NotIn);
        assert_eq!(ok.operator().as_str(), "notin");
    }

    #[test]
    fn selector_errors_become_bad_requests() {
        let status: Status = "x in".parse::<LabelSelector>().unwrap_err().into();
        assert_eq!(status.code, 400);
        assert_eq!(
            status.message,
            "unable to parse requirement: found '' expected: '('"
        );
    }

    // ------------------------------------------------------------------ properties

    const KEYS: &[&str] = &["a", "b", "app", "example.com/tier", "in", "x-y.z_1"];
    const VALUES: &[&str] = &["", "a", "b", "web", "1", "10", "-3", "x.y"];

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => proptest::sample::select(KEYS).prop_map(str::to_owned),
            1 => "([a-z0-9]{1,4}\\.)?[a-z]{1,4}/[A-Za-z0-9]([-A-Za-z0-9_.]{0,5}[A-Za-z0-9])?",
            1 => "[A-Za-z0-9]([-A-Za-z0-9_.]{0,5}[A-Za-z0-9])?",
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => proptest::sample::select(&VALUES[..6]).prop_map(str::to_owned),
            1 => "([A-Za-z0-9]([-A-Za-z0-9_.]{0,5}[A-Za-z0-9])?)?",
            1 => "in|notin",
        ]
    }

    fn requirement() -> impl Strategy<Value = Requirement> {
        let values = || proptest::collection::vec(value(), 1..4);
        prop_oneof![
            (key(), value()).prop_map(|(k, v)| Requirement::new(k, Operator::Equals, [v])),
            (key(), value()).prop_map(|(k, v)| Requirement::new(k, Operator::DoubleEquals, [v])),
            (key(), value()).prop_map(|(k, v)| Requirement::new(k, Operator::NotEquals, [v])),
            (key(), values()).prop_map(|(k, v)| Requirement::new(k, Operator::In, v)),
            (key(), values()).prop_map(|(k, v)| Requirement::new(k, Operator::NotIn, v)),
            key().prop_map(|k| Requirement::new(k, Operator::Exists, [""; 0])),
            key().prop_map(|k| Requirement::new(k, Operator::DoesNotExist, [""; 0])),
            (key(), 0..100i64).prop_map(|(k, n)| Requirement::new(
                k,
                Operator::GreaterThan,
                [n.to_string()]
            )),
            (key(), 0..100i64).prop_map(|(k, n)| Requirement::new(
                k,
                Operator::LessThan,
                [n.to_string()]
            )),
        ]
        .prop_map(|r| r.expect("strategies build valid requirements"))
    }

    fn selector() -> impl Strategy<Value = LabelSelector> {
        proptest::collection::vec(requirement(), 0..6).prop_map(LabelSelector::new)
    }

    fn label_map() -> impl Strategy<Value = BTreeMap<String, String>> {
        proptest::collection::btree_map(
            proptest::sample::select(KEYS).prop_map(str::to_owned),
            proptest::sample::select(VALUES).prop_map(str::to_owned),
            0..KEYS.len(),
        )
    }

    /// Selector text as people write it: random spacing, order and value spelling.
    fn messy_text() -> impl Strategy<Value = String> {
        let space = proptest::sample::select(&["", " ", "  ", "\t"][..]);
        let piece = (
            selector(),
            proptest::collection::vec(space, 8),
            any::<proptest::sample::Index>(),
        );
        piece.prop_map(|(selector, spaces, rotate)| {
            let mut parts: Vec<String> = selector
                .requirements()
                .iter()
                .map(|r| {
                    let text = r.to_string();
                    let text = text.replace(',', &format!("{},{}", spaces[0], spaces[1]));
                    let text = text.replace('(', &format!("({}", spaces[2]));
                    let text = text.replace(')', &format!("{})", spaces[3]));
                    format!("{}{}{}", spaces[4], text, spaces[5])
                })
                .collect();
            if !parts.is_empty() {
                let at = rotate.index(parts.len());
                parts.rotate_left(at);
            }
            parts.join(",")
        })
    }

    /// Text from the selector alphabet, mostly not a selector at all.
    fn noise_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            proptest::sample::select(
                &[
                    "a", "b", "x", "in", "notin", "=", "==", "!=", "!", "(", ")", ",", ">", "<",
                    " ", "1", "-", ".", "/", "\0", "é",
                ][..],
            ),
            0..16,
        )
        .prop_map(|tokens| tokens.concat())
    }

    /// The meaning of a `metav1.LabelSelector`, written independently of the crate's code.
    fn k8s_oracle(selector: &metav1::LabelSelector, labels: &BTreeMap<String, String>) -> bool {
        let labels_hold = selector
            .match_labels
            .iter()
            .flatten()
            .all(|(k, v)| labels.get(k) == Some(v));
        let expressions_hold = selector.match_expressions.iter().flatten().all(|e| {
            let values = e.values.clone().unwrap_or_default();
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => unreachable!(),
            }
        });
        labels_hold && expressions_hold
    }

    fn k8s_selector() -> impl Strategy<Value = metav1::LabelSelector> {
        let expression = (
            key(),
            proptest::sample::select(&["In", "NotIn", "Exists", "DoesNotExist"][..]),
            proptest::collection::vec(value(), 1..4),
        )
            .prop_map(|(key, operator, values)| metav1::LabelSelectorRequirement {
                key,
                operator: operator.to_owned(),
                values: matches!(operator, "In" | "NotIn").then_some(values),
            });
        (
            proptest::option::of(proptest::collection::btree_map(key(), value(), 0..3)),
            proptest::option::of(proptest::collection::vec(expression, 0..4)),
        )
            .prop_map(|(match_labels, match_expressions)| metav1::LabelSelector {
                match_labels,
                match_expressions,
            })
    }

    proptest! {
        #[test]
        fn struct_to_string_to_struct_is_identity(selector in selector()) {
            let text = selector.to_string();
            prop_assert_eq!(text.parse::<LabelSelector>(), Ok(selector));
        }

        #[test]
        fn format_of_parse_parses_to_an_equal_selector(text in messy_text()) {
            let parsed: LabelSelector = text.parse().map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
            prop_assert_eq!(parsed.to_string().parse::<LabelSelector>(), Ok(parsed));
        }

        #[test]
        fn format_of_any_parsed_text_parses_to_an_equal_selector(text in noise_text()) {
            if let Ok(parsed) = text.parse::<LabelSelector>() {
                prop_assert_eq!(parsed.to_string().parse::<LabelSelector>(), Ok(parsed));
            }
        }

        #[test]
        fn struct_and_string_forms_match_the_same_labels(
            selector in selector(),
            labels in label_map(),
        ) {
            let reparsed: LabelSelector = selector.to_string().parse().unwrap();
            prop_assert_eq!(selector.matches(&labels), reparsed.matches(&labels));
        }

        #[test]
        fn matching_a_map_agrees_with_matching_by_lookup(
            selector in selector(),
            labels in label_map(),
            extra in proptest::collection::btree_map("[a-z]{1,6}", "[a-z0-9]{0,3}", 0..30),
        ) {
            let lookup = |map: &BTreeMap<String, String>| {
                selector.matches_fn(|key| map.get(key).map(String::as_str))
            };
            prop_assert_eq!(selector.matches(&labels), lookup(&labels));
            let mut big = extra;
            big.extend(labels);
            prop_assert_eq!(selector.matches(&big), lookup(&big));
        }

        #[test]
        fn k8s_selectors_match_as_their_definition_says(
            k8s in k8s_selector(),
            labels in label_map(),
        ) {
            let selector = LabelSelector::try_from(&k8s).unwrap();
            let expected = k8s_oracle(&k8s, &labels);
            prop_assert_eq!(selector.matches(&labels), expected);
            let from_text: LabelSelector = selector.to_string().parse().unwrap();
            prop_assert_eq!(from_text.matches(&labels), expected);
            let back = LabelSelector::try_from(&selector.to_k8s().unwrap()).unwrap();
            prop_assert_eq!(back.matches(&labels), expected);
        }

        #[test]
        fn expressible_selectors_survive_to_k8s(selector in selector(), labels in label_map()) {
            if let Some(k8s) = selector.to_k8s() {
                let back = LabelSelector::try_from(&k8s).unwrap();
                prop_assert_eq!(back.matches(&labels), selector.matches(&labels));
            } else {
                prop_assert!(selector.requirements().iter().any(|r| matches!(
                    r.operator(),
                    Operator::GreaterThan | Operator::LessThan
                )));
            }
        }

        #[test]
        fn parser_never_panics_on_arbitrary_strings(text in any::<String>()) {
            let _ = text.parse::<LabelSelector>();
        }

        #[test]
        fn parser_never_panics_on_selector_like_noise(text in noise_text()) {
            let _ = text.parse::<LabelSelector>();
        }
    }
}
