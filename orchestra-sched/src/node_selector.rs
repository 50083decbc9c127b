//! Node selectors: which nodes a pod's `nodeSelector` and node affinity accept.
//!
//! A `NodeSelector` is a list of terms that are ORed; a term ANDs its `matchExpressions` (over
//! node labels, with the operators `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`) and its
//! `matchFields` (only `metadata.name`, with `In` and `NotIn`). A term with neither matches no
//! node, and a term that does not parse matches no node either (Kubernetes'
//! `LazyErrorNodeSelector`: the error is kept, the term never matches). Terms are compiled once,
//! when the pod's [`PodInfo`](crate::PodInfo) is built, into label selectors of
//! `orchestra_api`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PreferredSchedulingTerm,
};
use orchestra_api::LabelSelector;
use orchestra_api::label_selector::{Operator, Requirement};

/// One compiled `NodeSelectorTerm`.
#[derive(Debug, Clone)]
pub struct CompiledTerm {
    labels: LabelSelector,
    names: Vec<NameRequirement>,
    empty: bool,
}

/// A `matchFields` requirement on `metadata.name`.
#[derive(Debug, Clone)]
struct NameRequirement {
    values: Vec<String>,
    negated: bool,
}

impl CompiledTerm {
    /// Compiles a term; `None` when one of its requirements does not parse.
    pub fn compile(term: &NodeSelectorTerm) -> Option<CompiledTerm> {
        let expressions = term.match_expressions.as_deref().unwrap_or_default();
        let fields = term.match_fields.as_deref().unwrap_or_default();
        let mut requirements = Vec::with_capacity(expressions.len());
        for expression in expressions {
            requirements.push(label_requirement(expression)?);
        }
        let mut names = Vec::with_capacity(fields.len());
        for field in fields {
            if field.key != "metadata.name" {
                return None;
            }
            let values = field.values.clone().unwrap_or_default();
            let negated = match field.operator.as_str() {
                "In" => false,
                "NotIn" => true,
                _ => return None,
            };
            if values.len() != 1 {
                // Kubernetes requires exactly one value for a field requirement.
                return None;
            }
            names.push(NameRequirement { values, negated });
        }
        Some(CompiledTerm {
            empty: expressions.is_empty() && fields.is_empty(),
            labels: LabelSelector::new(requirements),
            names,
        })
    }

    /// Whether a node with this name and these labels satisfies the term.
    pub fn matches(&self, node_name: &str, labels: &BTreeMap<String, String>) -> bool {
        if self.empty {
            return false;
        }
        self.names
            .iter()
            .all(|r| r.values.iter().any(|v| v == node_name) != r.negated)
            && self.labels.matches(labels)
    }

    /// The node names this term requires with `metadata.name In (...)`, intersected over its
    /// requirements, or `None` when it has no such requirement.
    pub fn required_node_names(&self) -> Option<Vec<String>> {
        let mut names: Option<Vec<String>> = None;
        for r in self.names.iter().filter(|r| !r.negated) {
            names = Some(match names {
                None => r.values.clone(),
                Some(previous) => previous
                    .into_iter()
                    .filter(|n| r.values.contains(n))
                    .collect(),
            });
        }
        names
    }
}

fn label_requirement(expression: &NodeSelectorRequirement) -> Option<Requirement> {
    let operator = match expression.operator.as_str() {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        "Gt" => Operator::GreaterThan,
        "Lt" => Operator::LessThan,
        _ => return None,
    };
    let values = expression.values.clone().unwrap_or_default();
    Requirement::new(expression.key.as_str(), operator, values).ok()
}

/// A compiled `NodeSelector`: terms ORed, invalid terms never matching.
#[derive(Debug, Clone, Default)]
pub struct CompiledNodeSelector {
    terms: Vec<Option<CompiledTerm>>,
}

impl CompiledNodeSelector {
    /// Compiles a `NodeSelector`.
    pub fn compile(selector: &NodeSelector) -> CompiledNodeSelector {
        CompiledNodeSelector {
            terms: selector
                .node_selector_terms
                .iter()
                .map(CompiledTerm::compile)
                .collect(),
        }
    }

    /// Whether any term matches.
    pub fn matches(&self, node_name: &str, labels: &BTreeMap<String, String>) -> bool {
        self.terms
            .iter()
            .flatten()
            .any(|t| t.matches(node_name, labels))
    }

    /// The terms, `None` for one that does not parse.
    pub fn terms(&self) -> &[Option<CompiledTerm>] {
        &self.terms
    }
}

/// A pod's hard node constraints: its `nodeSelector` and its required node affinity
/// (Kubernetes' `RequiredNodeAffinity`).
#[derive(Debug, Clone, Default)]
pub struct RequiredNodeAffinity {
    node_selector: Option<LabelSelector>,
    affinity: Option<CompiledNodeSelector>,
}

impl RequiredNodeAffinity {
    /// The constraints of `pod`.
    pub fn of_pod(pod: &Pod) -> RequiredNodeAffinity {
        let spec = pod.spec.as_ref();
        let node_selector = spec.and_then(|s| s.node_selector.as_ref()).map(|labels| {
            // Label keys and values in a validated pod are valid; an invalid one matches
            // no node.
            LabelSelector::from_labels(labels).unwrap_or_else(|_| LabelSelector::nothing())
        });
        let affinity = spec
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|n| {
                n.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(CompiledNodeSelector::compile);
        RequiredNodeAffinity {
            node_selector,
            affinity,
        }
    }

    /// Whether the pod has neither a node selector nor required node affinity.
    pub fn is_empty(&self) -> bool {
        self.node_selector.is_none() && self.affinity.is_none()
    }

    /// Whether a node with this name and these labels satisfies both.
    pub fn matches(&self, node_name: &str, labels: &BTreeMap<String, String>) -> bool {
        if let Some(selector) = &self.node_selector {
            if !selector.matches(labels) {
                return false;
            }
        }
        match &self.affinity {
            Some(affinity) => affinity.matches(node_name, labels),
            None => true,
        }
    }

    /// The required node affinity alone.
    pub fn affinity(&self) -> Option<&CompiledNodeSelector> {
        self.affinity.as_ref()
    }
}

/// Compiled preferred scheduling terms: each matching term adds its weight to a node's score.
#[derive(Debug, Clone, Default)]
pub struct PreferredSchedulingTerms {
    terms: Vec<(i64, CompiledTerm)>,
}

impl PreferredSchedulingTerms {
    /// Compiles the terms, dropping those with weight 0 or that do not parse.
    pub fn compile(terms: &[PreferredSchedulingTerm]) -> PreferredSchedulingTerms {
        PreferredSchedulingTerms {
            terms: terms
                .iter()
                .filter(|t| t.weight != 0)
                .filter_map(|t| {
                    CompiledTerm::compile(&t.preference).map(|c| (i64::from(t.weight), c))
                })
                .collect(),
        }
    }

    /// Whether there is no term.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The sum of the weights of the terms the node matches.
    pub fn score(&self, node_name: &str, labels: &BTreeMap<String, String>) -> i64 {
        self.terms
            .iter()
            .filter(|(_, t)| t.matches(node_name, labels))
            .map(|(w, _)| *w)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn selector(json: serde_json::Value) -> CompiledNodeSelector {
        CompiledNodeSelector::compile(&serde_json::from_value(json).expect("selector"))
    }

    #[test]
    fn terms_are_ored_and_expressions_anded() {
        let s = selector(serde_json::json!({"nodeSelectorTerms": [
            {"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a", "b"]},
                {"key": "gpu", "operator": "Exists"}]},
            {"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["16"]}]}
        ]}));
        assert!(s.matches("n", &labels(&[("zone", "a"), ("gpu", "")])));
        assert!(!s.matches("n", &labels(&[("zone", "a")])));
        assert!(s.matches("n", &labels(&[("cores", "32")])));
        assert!(!s.matches("n", &labels(&[("cores", "8")])));
        assert!(!s.matches("n", &labels(&[("cores", "many")])));
    }

    #[test]
    fn empty_and_invalid_terms_match_nothing() {
        let s = selector(serde_json::json!({"nodeSelectorTerms": [
            {},
            {"matchExpressions": [{"key": "zone", "operator": "Near", "values": ["a"]}]}
        ]}));
        assert!(!s.matches("n", &labels(&[("zone", "a")])));
    }

    #[test]
    fn match_fields_select_by_node_name() {
        let s = selector(serde_json::json!({"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
        ]}));
        assert!(s.matches("n1", &labels(&[])));
        assert!(!s.matches("n2", &labels(&[])));
        let term = s.terms()[0].as_ref().expect("valid");
        assert_eq!(term.required_node_names(), Some(vec!["n1".to_owned()]));
    }
}
