//! CustomResourceDefinition defaults (`apiextensions.k8s.io/v1`): the singular name is the
//! lower-cased kind, the list kind is the kind with `List` appended, conversion is `None`, a
//! conversion webhook's service listens on port 443, and the stored versions start with the
//! storage version.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceConversion, CustomResourceDefinition,
};

use super::{default_string, default_value};

/// Defaults a CustomResourceDefinition.
pub fn default_custom_resource_definition(definition: &mut CustomResourceDefinition) {
    let spec = &mut definition.spec;
    let names = &mut spec.names;
    default_string(&mut names.singular, &names.kind.to_lowercase());
    if !names.kind.is_empty() {
        default_string(&mut names.list_kind, &format!("{}List", names.kind));
    }
    let conversion = spec
        .conversion
        .get_or_insert_with(|| CustomResourceConversion {
            strategy: "None".to_owned(),
            webhook: None,
        });
    let service = conversion
        .webhook
        .as_mut()
        .and_then(|w| w.client_config.as_mut())
        .and_then(|c| c.service.as_mut());
    if let Some(service) = service {
        default_value(&mut service.port, || 443);
    }

    let stored = definition
        .status
        .as_ref()
        .and_then(|s| s.stored_versions.as_ref())
        .is_some_and(|v| !v.is_empty());
    if !stored {
        if let Some(version) = spec.versions.iter().find(|v| v.storage) {
            definition.status.get_or_insert_default().stored_versions =
                Some(vec![version.name.clone()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        CustomResourceDefinitionNames, CustomResourceDefinitionSpec,
        CustomResourceDefinitionVersion,
    };

    #[test]
    fn names_conversion_and_stored_versions_are_derived() {
        let mut crd = CustomResourceDefinition {
            spec: CustomResourceDefinitionSpec {
                group: "stable.example.com".into(),
                names: CustomResourceDefinitionNames {
                    kind: "CronTab".into(),
                    plural: "crontabs".into(),
                    ..Default::default()
                },
                scope: "Namespaced".into(),
                versions: vec![
                    CustomResourceDefinitionVersion {
                        name: "v1beta1".into(),
                        served: true,
                        ..Default::default()
                    },
                    CustomResourceDefinitionVersion {
                        name: "v1".into(),
                        served: true,
                        storage: true,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            },
            ..Default::default()
        };
        default_custom_resource_definition(&mut crd);
        let names = &crd.spec.names;
        assert_eq!(names.singular.as_deref(), Some("crontab"));
        assert_eq!(names.list_kind.as_deref(), Some("CronTabList"));
        let conversion = crd.spec.conversion.clone().unwrap_or_default();
        assert_eq!(conversion.strategy, "None");
        let stored = crd.status.and_then(|s| s.stored_versions);
        assert_eq!(stored, Some(vec!["v1".to_string()]));
    }
}
