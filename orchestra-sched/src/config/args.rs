//! Plugin arguments (`pluginConfig[].args`) of the default plugins, with Kubernetes v1's
//! defaults and validation.
//!
//! A factory receives its arguments as [`PluginArgs`] and decodes them with
//! [`PluginArgs::decode`]: unknown fields are errors (Kubernetes decodes strictly), and every
//! error names its field below `profiles[i].pluginConfig[j].args`.

use orchestra_api::validation::{FieldError, FieldPath};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// A plugin's arguments as configured, and where they are in the file.
#[derive(Debug, Clone)]
pub struct PluginArgs<'a> {
    /// The `args` value, when configured.
    pub value: Option<&'a serde_json::Value>,
    /// The path of `args`, for error messages.
    pub path: FieldPath,
}

impl<'a> PluginArgs<'a> {
    /// No arguments, at a placeholder path.
    pub fn none(plugin: &str) -> PluginArgs<'static> {
        PluginArgs {
            value: None,
            path: FieldPath::new("pluginConfig").key(plugin).child("args"),
        }
    }

    /// Decodes the arguments into `T` (its `Default` when not configured), strictly.
    pub fn decode<T: DeserializeOwned + Default>(&self) -> Result<T, ConfigError> {
        match self.value {
            None | Some(serde_json::Value::Null) => Ok(T::default()),
            Some(value) => serde_json::from_value(value.clone()).map_err(|e| {
                ConfigError::field(FieldError::invalid(
                    self.path.clone(),
                    "<args>",
                    format!("decoding: {e}"),
                ))
            }),
        }
    }
}

/// One resource and its weight in a scoring strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceSpec {
    /// The resource (`cpu`, `memory`, `nvidia.com/gpu`, …).
    pub name: String,
    /// Its weight, 1–100 (0 is defaulted to 1).
    #[serde(default)]
    pub weight: i64,
}

impl ResourceSpec {
    /// A resource with a weight.
    pub fn new(name: &str, weight: i64) -> ResourceSpec {
        ResourceSpec {
            name: name.to_owned(),
            weight,
        }
    }
}

/// cpu and memory, weight 1 each: the default resources of the resource scorers.
pub fn default_resources() -> Vec<ResourceSpec> {
    vec![ResourceSpec::new("cpu", 1), ResourceSpec::new("memory", 1)]
}

/// A point of a `RequestedToCapacityRatio` shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UtilizationShapePoint {
    /// Utilization, 0–100 percent.
    pub utilization: i32,
    /// Score, 0–10.
    pub score: i32,
}

/// The shape of `RequestedToCapacityRatio`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestedToCapacityRatioParam {
    /// Points with increasing utilization.
    #[serde(default)]
    pub shape: Vec<UtilizationShapePoint>,
}

/// How NodeResourcesFit scores nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScoringStrategy {
    /// `LeastAllocated` (default), `MostAllocated` or `RequestedToCapacityRatio`.
    #[serde(rename = "type", default = "least_allocated")]
    pub strategy: String,
    /// Resources and weights (default cpu and memory, 1 each).
    #[serde(default)]
    pub resources: Vec<ResourceSpec>,
    /// The shape, for `RequestedToCapacityRatio`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_to_capacity_ratio: Option<RequestedToCapacityRatioParam>,
}

fn least_allocated() -> String {
    "LeastAllocated".to_owned()
}

impl Default for ScoringStrategy {
    fn default() -> ScoringStrategy {
        ScoringStrategy {
            strategy: least_allocated(),
            resources: default_resources(),
            requested_to_capacity_ratio: None,
        }
    }
}

/// Arguments of NodeResourcesFit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeResourcesFitArgs {
    /// Ignored by decoding (Kubernetes' TypeMeta).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Ignored by decoding (Kubernetes' TypeMeta).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Extended resources the Filter does not check.
    #[serde(default)]
    pub ignored_resources: Vec<String>,
    /// Extended resource groups (`example.com` of `example.com/foo`) the Filter does not check.
    #[serde(default)]
    pub ignored_resource_groups: Vec<String>,
    /// How to score.
    #[serde(default)]
    pub scoring_strategy: Option<ScoringStrategy>,
}

/// Arguments of NodeResourcesBalancedAllocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeResourcesBalancedAllocationArgs {
    /// Ignored by decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Ignored by decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Resources to balance (default cpu and memory).
    #[serde(default)]
    pub resources: Vec<ResourceSpec>,
}

/// Arguments of InterPodAffinity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InterPodAffinityArgs {
    /// Ignored by decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Ignored by decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Score weight of existing pods' required affinity to the incoming pod (default 1,
    /// 0–100).
    #[serde(default)]
    pub hard_pod_affinity_weight: Option<i32>,
    /// Skip existing pods' preferred terms when the incoming pod has no affinity.
    #[serde(default)]
    pub ignore_preferred_terms_of_existing_pods: bool,
}

/// Arguments of NodeAffinity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeAffinityArgs {
    /// Ignored by decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Ignored by decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Node affinity every pod of the profile must also satisfy (and prefers).
    #[serde(default)]
    pub added_affinity: Option<k8s_openapi::api::core::v1::NodeAffinity>,
}

/// Arguments of PodTopologySpread.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodTopologySpreadArgs {
    /// Ignored by decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Ignored by decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Constraints for pods that define none (with `defaultingType: List`).
    #[serde(default)]
    pub default_constraints: Vec<k8s_openapi::api::core::v1::TopologySpreadConstraint>,
    /// `System` (default: spread over hostname and zone) or `List`.
    #[serde(default)]
    pub defaulting_type: Option<String>,
}

/// Arguments of DefaultPreemption.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultPreemptionArgs {
    /// Ignored by decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Ignored by decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Share of potential nodes to dry-run (default 10).
    #[serde(default)]
    pub min_candidate_nodes_percentage: Option<i32>,
    /// At least this many nodes to dry-run (default 100).
    #[serde(default)]
    pub min_candidate_nodes_absolute: Option<i32>,
}

/// Arguments of VolumeBinding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeBindingArgs {
    /// Ignored by decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Ignored by decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// How long PreBind waits for volumes (default 600).
    #[serde(default)]
    pub bind_timeout_seconds: Option<i64>,
    /// Storage capacity scoring shape (accepted, not used).
    #[serde(default)]
    pub shape: Option<serde_json::Value>,
}

/// Validates resource specs: names present and unique, weights 1–100 after defaulting 0 to 1.
pub fn validate_resources(resources: &mut [ResourceSpec], path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, resource) in resources.iter_mut().enumerate() {
        if resource.weight == 0 {
            resource.weight = 1;
        }
        let at = path.index(i);
        if resource.name.is_empty() {
            errors.push(FieldError::required(at.child("name"), ""));
        } else if !seen.insert(resource.name.clone()) {
            errors.push(FieldError::duplicate(
                at.child("name"),
                resource.name.as_str(),
            ));
        }
        if !(1..=100).contains(&resource.weight) {
            errors.push(FieldError::invalid(
                at.child("weight"),
                resource.weight,
                "resource weight must be in the range [1, 100]",
            ));
        }
    }
    errors
}
