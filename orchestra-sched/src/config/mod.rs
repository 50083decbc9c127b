//! Scheduler configuration in the shape of Kubernetes' `KubeSchedulerConfiguration` v1.
//!
//! The same file `kube-scheduler --config` reads works here: profiles (one per
//! `schedulerName`), the plugins each profile enables or disables per extension point (or for
//! all points at once with `multiPoint`), score weights, plugin arguments (`pluginConfig`),
//! `percentageOfNodesToScore`, `parallelism` and the queue's back-off. Loading applies
//! Kubernetes' defaults (the default plugins merged with the profile's own, as
//! kube-scheduler's `mergePlugins` does) and validates; a bad file is an error naming each
//! offending field, in Kubernetes' `field: Invalid value: …` form.
//!
//! ```
//! use orchestra_sched::config::KubeSchedulerConfiguration;
//!
//! let config = KubeSchedulerConfiguration::from_yaml(r#"
//! apiVersion: kubescheduler.config.k8s.io/v1
//! kind: KubeSchedulerConfiguration
//! profiles:
//! - schedulerName: default-scheduler
//! - schedulerName: bin-packing
//!   pluginConfig:
//!   - name: NodeResourcesFit
//!     args:
//!       scoringStrategy:
//!         type: MostAllocated
//! "#)?;
//! assert_eq!(config.profiles.len(), 2);
//! assert_eq!(config.profiles[1].scheduler_name.as_deref(), Some("bin-packing"));
//!
//! let err = KubeSchedulerConfiguration::from_yaml(r#"
//! apiVersion: kubescheduler.config.k8s.io/v1
//! kind: KubeSchedulerConfiguration
//! percentageOfNodesToScore: 120
//! "#).unwrap_err();
//! assert_eq!(err.to_string(), "percentageOfNodesToScore: Invalid value: 120: not in valid range [0-100]");
//! # Ok::<(), orchestra_sched::config::ConfigError>(())
//! ```

pub mod args;
pub mod plugin_set;

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use orchestra_api::Status;
use orchestra_api::validation::{FieldError, FieldPath};
use serde::{Deserialize, Serialize};

pub use plugin_set::{PluginRef, PluginSet, Plugins};

/// The API version this module reads.
pub const API_VERSION: &str = "kubescheduler.config.k8s.io/v1";
/// The kind this module reads.
pub const KIND: &str = "KubeSchedulerConfiguration";
/// The default profile's scheduler name.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// A configuration that cannot be used: every offending field, or a file that does not parse.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// The offending fields.
    pub errors: Vec<FieldError>,
    /// A problem that is not about one field (unreadable file, malformed YAML).
    pub message: Option<String>,
}

impl ConfigError {
    /// One field error.
    pub fn field(error: FieldError) -> ConfigError {
        ConfigError {
            errors: vec![error],
            message: None,
        }
    }

    /// Several field errors.
    pub fn fields(errors: Vec<FieldError>) -> ConfigError {
        ConfigError {
            errors,
            message: None,
        }
    }

    /// A problem not about one field.
    pub fn message(message: impl Into<String>) -> ConfigError {
        ConfigError {
            errors: Vec::new(),
            message: Some(message.into()),
        }
    }

    /// As a Kubernetes `Status` (`Invalid` with the field errors as causes, or `BadRequest`).
    pub fn to_status(&self) -> Status {
        if self.errors.is_empty() {
            Status::bad_request(self.to_string())
        } else {
            Status::invalid("kubescheduler.config.k8s.io", KIND, "", &self.errors)
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(message) = &self.message {
            f.write_str(message)?;
            if !self.errors.is_empty() {
                f.write_str(": ")?;
            }
        }
        match self.errors.as_slice() {
            [] => Ok(()),
            [one] => write!(f, "{one}"),
            many => {
                let parts: Vec<String> = many.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", parts.join(", "))
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for Status {
    fn from(error: ConfigError) -> Status {
        error.to_status()
    }
}

/// `KubeSchedulerConfiguration` v1. Fields kube-scheduler uses for its process (leader
/// election, client connection, metrics) are accepted and kept, not acted on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeSchedulerConfiguration {
    /// `kubescheduler.config.k8s.io/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `KubeSchedulerConfiguration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Threads for Filter and Score across nodes (Kubernetes default 16; here the number of
    /// cores when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i32>,
    /// Share of nodes to find feasible before scoring, 0 for Kubernetes' adaptive default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage_of_nodes_to_score: Option<i32>,
    /// First back-off of a failed pod, seconds (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_initial_backoff_seconds: Option<i64>,
    /// Longest back-off, seconds (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_max_backoff_seconds: Option<i64>,
    /// The profiles; one default profile when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<KubeSchedulerProfile>,
    /// Kept, not acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_election: Option<serde_json::Value>,
    /// Kept, not acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_connection: Option<serde_json::Value>,
    /// Kept, not acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_z_bind_address: Option<String>,
    /// Kept, not acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_bind_address: Option<String>,
    /// Kept, not acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_profiling: Option<bool>,
    /// Kept, not acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_contention_profiling: Option<bool>,
    /// Kept, not acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_cache_until_active: Option<bool>,
    /// Scheduler extenders are not supported; a configuration naming any is rejected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extenders: Vec<serde_json::Value>,
}

/// One profile: a scheduler name and its plugins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeSchedulerProfile {
    /// The `spec.schedulerName` of the pods this profile schedules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    /// Overrides the configuration-wide share of nodes to score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage_of_nodes_to_score: Option<i32>,
    /// Plugins enabled and disabled per extension point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<Plugins>,
    /// Plugin arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugin_config: Vec<PluginConfig>,
}

/// Arguments of one plugin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginConfig {
    /// The plugin.
    pub name: String,
    /// Its arguments, decoded by the plugin's factory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<serde_json::Value>,
}

impl KubeSchedulerConfiguration {
    /// Reads, defaults and validates a YAML (or JSON) configuration.
    pub fn from_yaml(text: &str) -> Result<KubeSchedulerConfiguration, ConfigError> {
        let mut config: KubeSchedulerConfiguration = serde_yaml_ng::from_str(text)
            .map_err(|e| ConfigError::message(format!("decoding {KIND}: {e}")))?;
        config.check_type()?;
        config.set_defaults();
        config.validate()?;
        Ok(config)
    }

    /// Reads a configuration file (`kube-scheduler --config`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<KubeSchedulerConfiguration, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::message(format!("reading {}: {e}", path.display())))?;
        Self::from_yaml(&text).map_err(|mut e| {
            let prefix = format!("in {}", path.display());
            e.message = Some(match e.message.take() {
                Some(m) => format!("{prefix}: {m}"),
                None => prefix,
            });
            e
        })
    }

    /// The defaulted configuration of a scheduler with one profile of default plugins.
    pub fn default_config() -> KubeSchedulerConfiguration {
        let mut config = KubeSchedulerConfiguration {
            api_version: Some(API_VERSION.to_owned()),
            kind: Some(KIND.to_owned()),
            ..KubeSchedulerConfiguration::default()
        };
        config.set_defaults();
        config
    }

    fn check_type(&self) -> Result<(), ConfigError> {
        match (self.api_version.as_deref(), self.kind.as_deref()) {
            (Some(API_VERSION), Some(KIND)) => Ok(()),
            (Some(version), Some(KIND)) => Err(ConfigError::message(format!(
                "no kind \"{KIND}\" is registered for version \"{version}\""
            ))),
            (Some(version), Some(kind)) => Err(ConfigError::message(format!(
                "no kind \"{kind}\" is registered for version \"{version}\""
            ))),
            (None, _) => Err(ConfigError::field(FieldError::required(
                FieldPath::new("apiVersion"),
                format!("must be {API_VERSION:?}"),
            ))),
            (_, None) => Err(ConfigError::field(FieldError::required(
                FieldPath::new("kind"),
                format!("must be {KIND:?}"),
            ))),
        }
    }

    /// Applies Kubernetes' v1 defaults: back-off 1 s to 10 s, one default profile when none,
    /// `default-scheduler` as the name of a profile without one, and the default plugins
    /// merged into every profile's plugins.
    pub fn set_defaults(&mut self) {
        self.pod_initial_backoff_seconds.get_or_insert(1);
        self.pod_max_backoff_seconds.get_or_insert(10);
        if self.profiles.is_empty() {
            self.profiles.push(KubeSchedulerProfile::default());
        }
        let only_one = self.profiles.len() == 1;
        for profile in &mut self.profiles {
            if only_one && profile.scheduler_name.as_deref().is_none_or(str::is_empty) {
                profile.scheduler_name = Some(DEFAULT_SCHEDULER_NAME.to_owned());
            }
            let custom = profile.plugins.take().unwrap_or_default();
            profile.plugins = Some(plugin_set::merge_with_defaults(&custom));
        }
    }

    /// Validates a defaulted configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut errors = Vec::new();
        if let Some(parallelism) = self.parallelism {
            if parallelism <= 0 {
                errors.push(FieldError::invalid(
                    FieldPath::new("parallelism"),
                    parallelism,
                    "should be an integer value greater than zero",
                ));
            }
        }
        if let Some(p) = self.percentage_of_nodes_to_score {
            if !(0..=100).contains(&p) {
                errors.push(FieldError::invalid(
                    FieldPath::new("percentageOfNodesToScore"),
                    p,
                    "not in valid range [0-100]",
                ));
            }
        }
        let initial = self.pod_initial_backoff_seconds.unwrap_or(1);
        if initial <= 0 {
            errors.push(FieldError::invalid(
                FieldPath::new("podInitialBackoffSeconds"),
                initial,
                "must be greater than 0",
            ));
        }
        let max = self.pod_max_backoff_seconds.unwrap_or(10);
        if max < initial {
            errors.push(FieldError::invalid(
                FieldPath::new("podMaxBackoffSeconds"),
                max,
                "must be greater than or equal to PodInitialBackoffSeconds",
            ));
        }
        if !self.extenders.is_empty() {
            errors.push(FieldError::forbidden(
                FieldPath::new("extenders"),
                "scheduler extenders are not supported by orchestra-sched; write a plugin instead",
            ));
        }
        let mut names = BTreeSet::new();
        let mut queue_sort: Option<Vec<String>> = None;
        for (i, profile) in self.profiles.iter().enumerate() {
            let path = FieldPath::new("profiles").index(i);
            match profile.scheduler_name.as_deref() {
                None | Some("") => {
                    errors.push(FieldError::required(path.child("schedulerName"), ""))
                }
                Some(name) => {
                    if !names.insert(name.to_owned()) {
                        errors.push(FieldError::duplicate(path.child("schedulerName"), name));
                    }
                }
            }
            if let Some(p) = profile.percentage_of_nodes_to_score {
                if !(0..=100).contains(&p) {
                    errors.push(FieldError::invalid(
                        path.child("percentageOfNodesToScore"),
                        p,
                        "not in valid range [0-100]",
                    ));
                }
            }
            let mut seen = BTreeSet::new();
            for (j, config) in profile.plugin_config.iter().enumerate() {
                if !seen.insert(config.name.as_str()) {
                    errors.push(FieldError::duplicate(
                        path.child("pluginConfig").index(j),
                        config.name.as_str(),
                    ));
                }
            }
            if let Some(plugins) = &profile.plugins {
                errors.extend(plugin_set::validate(plugins, &path.child("plugins")));
                let sort: Vec<String> = plugins
                    .queue_sort
                    .enabled
                    .iter()
                    .map(|p| p.name.clone())
                    .chain(
                        plugins
                            .multi_point
                            .enabled
                            .iter()
                            .filter(|p| p.name == "PrioritySort")
                            .map(|p| p.name.clone()),
                    )
                    .collect();
                match &queue_sort {
                    None => queue_sort = Some(sort),
                    Some(first) if *first != sort => errors.push(FieldError::invalid(
                        path.child("plugins").child("queueSort"),
                        serde_json::json!(sort),
                        "queueSort must be the same for all profiles",
                    )),
                    Some(_) => {}
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::fields(errors))
        }
    }

    /// The queue's first back-off.
    pub fn initial_backoff(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.pod_initial_backoff_seconds.unwrap_or(1).max(1) as u64)
    }

    /// The queue's longest back-off.
    pub fn max_backoff(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.pod_max_backoff_seconds.unwrap_or(10).max(1) as u64)
    }

    /// The profile for a scheduler name.
    pub fn profile(&self, scheduler_name: &str) -> Option<&KubeSchedulerProfile> {
        self.profiles
            .iter()
            .find(|p| p.scheduler_name.as_deref() == Some(scheduler_name))
    }
}

impl KubeSchedulerProfile {
    /// The arguments configured for a plugin, with the path to them for error messages.
    pub fn args_of(
        &self,
        plugin: &str,
        profile_path: &FieldPath,
    ) -> (Option<&serde_json::Value>, FieldPath) {
        match self.plugin_config.iter().position(|c| c.name == plugin) {
            Some(i) => (
                self.plugin_config[i].args.as_ref(),
                profile_path.child("pluginConfig").index(i).child("args"),
            ),
            None => (
                None,
                profile_path.child("pluginConfig").key(plugin).child("args"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_named() {
        let err = KubeSchedulerConfiguration::from_yaml(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: a\n  plugins:\n    scroe:\n      enabled: []\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown field `scroe`"), "{text}");
        assert!(text.contains("profiles[0].plugins"), "{text}");
    }

    #[test]
    fn wrong_version_is_rejected() {
        let err = KubeSchedulerConfiguration::from_yaml(
            "apiVersion: kubescheduler.config.k8s.io/v1beta3\nkind: KubeSchedulerConfiguration\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no kind \"KubeSchedulerConfiguration\" is registered for version \"kubescheduler.config.k8s.io/v1beta3\""
        );
    }

    #[test]
    fn duplicate_names_and_bad_backoff_are_each_reported() {
        let err = KubeSchedulerConfiguration::from_yaml(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\npodInitialBackoffSeconds: 5\npodMaxBackoffSeconds: 2\nprofiles:\n- schedulerName: a\n- schedulerName: a\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "[podMaxBackoffSeconds: Invalid value: 2: must be greater than or equal to PodInitialBackoffSeconds, profiles[1].schedulerName: Duplicate value: \"a\"]"
        );
        assert_eq!(err.to_status().code, 422);
    }

    #[test]
    fn defaults_fill_one_profile() {
        let config = KubeSchedulerConfiguration::default_config();
        assert_eq!(config.profiles.len(), 1);
        assert_eq!(
            config.profiles[0].scheduler_name.as_deref(),
            Some(DEFAULT_SCHEDULER_NAME)
        );
        assert_eq!(config.initial_backoff().as_secs(), 1);
        assert_eq!(config.max_backoff().as_secs(), 10);
    }
}
