//! Label selectors (being written).

use std::collections::BTreeMap;

/// A parsed label selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector;

impl LabelSelector {
    /// Whether the labels match.
    pub fn matches(&self, _labels: &BTreeMap<String, String>) -> bool {
        true
    }
}

impl std::str::FromStr for LabelSelector {
    type Err = String;
    fn from_str(_s: &str) -> Result<Self, Self::Err> {
        Ok(Self)
    }
}
