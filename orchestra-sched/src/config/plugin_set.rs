//! Plugin sets: which plugins a profile enables and disables, per extension point.
//!
//! Kubernetes v1 lists its default plugins under `multiPoint` (each plugin then runs at every
//! extension point it implements). A profile's own `plugins` are merged into those defaults
//! extension point by extension point (kube-scheduler's `mergePlugins`): `disabled` removes
//! default plugins (`"*"` all of them), an enabled plugin that is also a default replaces it
//! in place (to change its weight), and other enabled plugins are appended.

use std::collections::BTreeSet;

use orchestra_api::validation::{FieldError, FieldPath};
use serde::{Deserialize, Serialize};

/// A plugin named in a profile, with its score weight.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginRef {
    /// The plugin's name.
    pub name: String,
    /// Its weight at the Score extension point (0 means 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

impl PluginRef {
    /// A plugin without weight.
    pub fn new(name: &str) -> PluginRef {
        PluginRef {
            name: name.to_owned(),
            weight: None,
        }
    }

    /// A plugin with a weight.
    pub fn weighted(name: &str, weight: i32) -> PluginRef {
        PluginRef {
            name: name.to_owned(),
            weight: Some(weight),
        }
    }
}

/// Plugins enabled and disabled at one extension point.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginSet {
    /// Enabled, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enabled: Vec<PluginRef>,
    /// Disabled (`*` for all defaults).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disabled: Vec<PluginRef>,
}

/// The plugin sets of a profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Plugins {
    /// Plugins for every extension point they implement.
    #[serde(default)]
    pub multi_point: PluginSet,
    #[serde(default)]
    pub pre_enqueue: PluginSet,
    #[serde(default)]
    pub queue_sort: PluginSet,
    #[serde(default)]
    pub pre_filter: PluginSet,
    #[serde(default)]
    pub filter: PluginSet,
    #[serde(default)]
    pub post_filter: PluginSet,
    #[serde(default)]
    pub pre_score: PluginSet,
    #[serde(default)]
    pub score: PluginSet,
    #[serde(default)]
    pub reserve: PluginSet,
    #[serde(default)]
    pub permit: PluginSet,
    #[serde(default)]
    pub pre_bind: PluginSet,
    #[serde(default)]
    pub bind: PluginSet,
    #[serde(default)]
    pub post_bind: PluginSet,
}

impl Plugins {
    /// The extension points with their field names, `multiPoint` excluded.
    pub fn points(&self) -> [(&'static str, &PluginSet); 12] {
        [
            ("preEnqueue", &self.pre_enqueue),
            ("queueSort", &self.queue_sort),
            ("preFilter", &self.pre_filter),
            ("filter", &self.filter),
            ("postFilter", &self.post_filter),
            ("preScore", &self.pre_score),
            ("score", &self.score),
            ("reserve", &self.reserve),
            ("permit", &self.permit),
            ("preBind", &self.pre_bind),
            ("bind", &self.bind),
            ("postBind", &self.post_bind),
        ]
    }

    fn points_mut(&mut self) -> [&mut PluginSet; 13] {
        [
            &mut self.multi_point,
            &mut self.pre_enqueue,
            &mut self.queue_sort,
            &mut self.pre_filter,
            &mut self.filter,
            &mut self.post_filter,
            &mut self.pre_score,
            &mut self.score,
            &mut self.reserve,
            &mut self.permit,
            &mut self.pre_bind,
            &mut self.bind,
            &mut self.post_bind,
        ]
    }
}

/// Kubernetes v1.33's default plugins, in order, with their score weights. NodeVolumeLimits
/// and VolumeZone, which need CSI node objects, are not part of this implementation.
pub fn default_plugins() -> Plugins {
    Plugins {
        multi_point: PluginSet {
            enabled: vec![
                PluginRef::new("SchedulingGates"),
                PluginRef::new("PrioritySort"),
                PluginRef::new("NodeUnschedulable"),
                PluginRef::new("NodeName"),
                PluginRef::weighted("TaintToleration", 3),
                PluginRef::weighted("NodeAffinity", 2),
                PluginRef::new("NodePorts"),
                PluginRef::weighted("NodeResourcesFit", 1),
                PluginRef::new("VolumeRestrictions"),
                PluginRef::new("VolumeBinding"),
                PluginRef::weighted("PodTopologySpread", 2),
                PluginRef::weighted("InterPodAffinity", 2),
                PluginRef::new("DefaultPreemption"),
                PluginRef::weighted("NodeResourcesBalancedAllocation", 1),
                PluginRef::weighted("ImageLocality", 1),
                PluginRef::new("DefaultBinder"),
            ],
            disabled: Vec::new(),
        },
        ..Plugins::default()
    }
}

/// Merges a profile's plugins into the defaults (see the module docs).
pub fn merge_with_defaults(custom: &Plugins) -> Plugins {
    let mut merged = default_plugins();
    let mut custom = custom.clone();
    for (default_set, custom_set) in merged.points_mut().into_iter().zip(custom.points_mut()) {
        *default_set = merge_set(default_set, custom_set);
    }
    merged
}

fn merge_set(defaults: &PluginSet, custom: &PluginSet) -> PluginSet {
    let disabled: BTreeSet<&str> = custom
        .disabled
        .iter()
        .chain(&defaults.disabled)
        .map(|p| p.name.as_str())
        .collect();
    let mut replaced = BTreeSet::new();
    let mut enabled = Vec::new();
    if !disabled.contains("*") {
        for default in &defaults.enabled {
            if disabled.contains(default.name.as_str()) {
                continue;
            }
            match custom.enabled.iter().position(|p| p.name == default.name) {
                Some(i) => {
                    enabled.push(custom.enabled[i].clone());
                    replaced.insert(i);
                }
                None => enabled.push(default.clone()),
            }
        }
    }
    for (i, plugin) in custom.enabled.iter().enumerate() {
        if !replaced.contains(&i) {
            enabled.push(plugin.clone());
        }
    }
    PluginSet {
        enabled,
        disabled: custom
            .disabled
            .iter()
            .chain(&defaults.disabled)
            .cloned()
            .collect(),
    }
}

/// Checks weights and names of a merged plugin configuration.
pub fn validate(plugins: &Plugins, path: &FieldPath) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut check = |field: &str, set: &PluginSet| {
        for (i, plugin) in set.enabled.iter().enumerate() {
            let at = path.child(field).child("enabled").index(i);
            if plugin.name.is_empty() {
                errors.push(FieldError::required(at.child("name"), ""));
            }
            if let Some(weight) = plugin.weight {
                if weight < 0 {
                    errors.push(FieldError::invalid(
                        at.child("weight"),
                        weight,
                        "must be a non-negative integer",
                    ));
                } else if weight > 100 {
                    errors.push(FieldError::invalid(
                        at.child("weight"),
                        weight,
                        "must not exceed 100",
                    ));
                }
            }
        }
    };
    check("multiPoint", &plugins.multi_point);
    for (field, set) in plugins.points() {
        check(field, set);
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(set: &PluginSet) -> Vec<&str> {
        set.enabled.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn custom_weight_replaces_the_default_in_place() {
        let custom = Plugins {
            multi_point: PluginSet {
                enabled: vec![
                    PluginRef::weighted("ImageLocality", 5),
                    PluginRef::new("MyPlugin"),
                ],
                disabled: vec![PluginRef::new("NodeResourcesBalancedAllocation")],
            },
            ..Plugins::default()
        };
        let merged = merge_with_defaults(&custom);
        let list = names(&merged.multi_point);
        assert_eq!(list.last(), Some(&"MyPlugin"));
        assert!(!list.contains(&"NodeResourcesBalancedAllocation"));
        let image = list
            .iter()
            .position(|n| *n == "ImageLocality")
            .expect("kept");
        assert_eq!(list[image + 1], "DefaultBinder");
        assert_eq!(merged.multi_point.enabled[image].weight, Some(5));
    }

    #[test]
    fn star_disables_every_default() {
        let custom = Plugins {
            multi_point: PluginSet {
                enabled: vec![
                    PluginRef::new("PrioritySort"),
                    PluginRef::new("DefaultBinder"),
                ],
                disabled: vec![PluginRef::new("*")],
            },
            ..Plugins::default()
        };
        assert_eq!(
            names(&merge_with_defaults(&custom).multi_point),
            ["PrioritySort", "DefaultBinder"]
        );
    }
}
