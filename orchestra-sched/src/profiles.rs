//! Profiles: one [`Framework`] per `schedulerName` of a configuration.

use std::collections::BTreeMap;
use std::sync::Arc;

use orchestra_api::validation::FieldPath;

use crate::config::{ConfigError, KubeSchedulerConfiguration};
use crate::framework::{Framework, Handle, Registry};

/// Builds the framework of every profile of a (defaulted, validated) configuration, keyed by
/// scheduler name. Errors name the offending field (`profiles[1].plugins.score.enabled[0]…`).
pub fn build_frameworks(
    config: &KubeSchedulerConfiguration,
    registry: &Registry,
    handle: &Arc<Handle>,
) -> Result<BTreeMap<String, Arc<Framework>>, ConfigError> {
    let mut frameworks = BTreeMap::new();
    let mut errors = Vec::new();
    let mut messages = Vec::new();
    for (i, profile) in config.profiles.iter().enumerate() {
        let path = FieldPath::new("profiles").index(i);
        match Framework::new(
            profile,
            &path,
            config.percentage_of_nodes_to_score,
            registry,
            handle.clone(),
        ) {
            Ok(framework) => {
                frameworks.insert(framework.profile_name().to_owned(), Arc::new(framework));
            }
            Err(e) => {
                errors.extend(e.errors);
                messages.extend(e.message);
            }
        }
    }
    if errors.is_empty() && messages.is_empty() {
        Ok(frameworks)
    } else {
        Err(ConfigError {
            errors,
            message: (!messages.is_empty()).then(|| messages.join("; ")),
        })
    }
}
