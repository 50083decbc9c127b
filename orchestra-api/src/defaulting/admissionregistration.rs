//! Admission registration defaults (`admissionregistration.k8s.io/v1`): webhook
//! configurations and validating admission policies.
//!
//! A webhook fails closed (`failurePolicy: Fail`), matches equivalent versions of the resources
//! it names (`matchPolicy: Equivalent`), selects every namespace and object (empty selectors),
//! times out after 10 s, calls a service on port 443, and (for mutating webhooks) is not
//! re-invoked. Rules apply to every scope (`*`). A ValidatingAdmissionPolicy fails closed, and
//! its match constraints, like a binding's match resources, default as a webhook's do.

use k8s_openapi::api::admissionregistration::v1::{
    MatchResources, MutatingWebhookConfiguration, NamedRuleWithOperations, RuleWithOperations,
    ServiceReference, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::{default_value, each_mut};

/// The fields that validating and mutating webhooks share and that have defaults.
struct WebhookParts<'a> {
    failure_policy: &'a mut Option<String>,
    match_policy: &'a mut Option<String>,
    namespace_selector: &'a mut Option<LabelSelector>,
    object_selector: &'a mut Option<LabelSelector>,
    timeout_seconds: &'a mut Option<i32>,
    client_config: &'a mut WebhookClientConfig,
    rules: &'a mut Option<Vec<RuleWithOperations>>,
}

fn default_webhook(webhook: WebhookParts<'_>) {
    default_value(webhook.failure_policy, || "Fail".to_owned());
    default_value(webhook.match_policy, || "Equivalent".to_owned());
    default_value(webhook.namespace_selector, LabelSelector::default);
    default_value(webhook.object_selector, LabelSelector::default);
    default_value(webhook.timeout_seconds, || 10);
    if let Some(service) = &mut webhook.client_config.service {
        default_service_reference(service);
    }
    for rule in each_mut(webhook.rules) {
        default_value(&mut rule.scope, || "*".to_owned());
    }
}

fn default_service_reference(service: &mut ServiceReference) {
    default_value(&mut service.port, || 443);
}

/// Defaults each webhook of a ValidatingWebhookConfiguration.
pub fn default_validating_webhook_configuration(
    configuration: &mut ValidatingWebhookConfiguration,
) {
    for webhook in each_mut(&mut configuration.webhooks) {
        default_webhook(WebhookParts {
            failure_policy: &mut webhook.failure_policy,
            match_policy: &mut webhook.match_policy,
            namespace_selector: &mut webhook.namespace_selector,
            object_selector: &mut webhook.object_selector,
            timeout_seconds: &mut webhook.timeout_seconds,
            client_config: &mut webhook.client_config,
            rules: &mut webhook.rules,
        });
    }
}

/// Defaults each webhook of a MutatingWebhookConfiguration (as validating ones, plus
/// `reinvocationPolicy: Never`).
pub fn default_mutating_webhook_configuration(configuration: &mut MutatingWebhookConfiguration) {
    for webhook in each_mut(&mut configuration.webhooks) {
        default_value(&mut webhook.reinvocation_policy, || "Never".to_owned());
        default_webhook(WebhookParts {
            failure_policy: &mut webhook.failure_policy,
            match_policy: &mut webhook.match_policy,
            namespace_selector: &mut webhook.namespace_selector,
            object_selector: &mut webhook.object_selector,
            timeout_seconds: &mut webhook.timeout_seconds,
            client_config: &mut webhook.client_config,
            rules: &mut webhook.rules,
        });
    }
}

/// Defaults a ValidatingAdmissionPolicy: `failurePolicy: Fail` and its match constraints.
pub fn default_validating_admission_policy(policy: &mut ValidatingAdmissionPolicy) {
    let spec = policy.spec.get_or_insert_default();
    default_value(&mut spec.failure_policy, || "Fail".to_owned());
    if let Some(constraints) = &mut spec.match_constraints {
        default_match_resources(constraints);
    }
}

/// Defaults a ValidatingAdmissionPolicyBinding: its match resources, if any.
pub fn default_validating_admission_policy_binding(binding: &mut ValidatingAdmissionPolicyBinding) {
    if let Some(resources) = binding
        .spec
        .as_mut()
        .and_then(|s| s.match_resources.as_mut())
    {
        default_match_resources(resources);
    }
}

fn default_match_resources(resources: &mut MatchResources) {
    default_value(&mut resources.match_policy, || "Equivalent".to_owned());
    default_value(&mut resources.namespace_selector, LabelSelector::default);
    default_value(&mut resources.object_selector, LabelSelector::default);
    let rules: [&mut Option<Vec<NamedRuleWithOperations>>; 2] = [
        &mut resources.resource_rules,
        &mut resources.exclude_resource_rules,
    ];
    for rule in rules.into_iter().flat_map(each_mut) {
        default_value(&mut rule.scope, || "*".to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::admissionregistration::v1::{
        MutatingWebhook, ValidatingAdmissionPolicySpec, ValidatingWebhook,
    };

    #[test]
    fn webhooks_fail_closed_match_everything_and_time_out_after_ten_seconds() {
        let mut configuration = ValidatingWebhookConfiguration {
            webhooks: Some(vec![ValidatingWebhook {
                name: "check.example.com".into(),
                client_config: WebhookClientConfig {
                    service: Some(ServiceReference {
                        name: "checker".into(),
                        namespace: "default".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                rules: Some(vec![RuleWithOperations::default()]),
                ..Default::default()
            }]),
            ..Default::default()
        };
        default_validating_webhook_configuration(&mut configuration);
        let webhook = configuration.webhooks.unwrap_or_default().remove(0);
        assert_eq!(webhook.failure_policy.as_deref(), Some("Fail"));
        assert_eq!(webhook.match_policy.as_deref(), Some("Equivalent"));
        assert_eq!(webhook.namespace_selector, Some(LabelSelector::default()));
        assert_eq!(webhook.object_selector, Some(LabelSelector::default()));
        assert_eq!(webhook.timeout_seconds, Some(10));
        assert_eq!(
            webhook.client_config.service.and_then(|s| s.port),
            Some(443)
        );
        let rule = &webhook.rules.unwrap_or_default()[0];
        assert_eq!(rule.scope.as_deref(), Some("*"));
    }

    #[test]
    fn mutating_webhooks_are_not_reinvoked() {
        let mut configuration = MutatingWebhookConfiguration {
            webhooks: Some(vec![MutatingWebhook::default()]),
            ..Default::default()
        };
        default_mutating_webhook_configuration(&mut configuration);
        let webhook = configuration.webhooks.unwrap_or_default().remove(0);
        assert_eq!(webhook.reinvocation_policy.as_deref(), Some("Never"));
        assert_eq!(webhook.timeout_seconds, Some(10));
    }

    #[test]
    fn policies_fail_closed_and_match_equivalent_versions() {
        let mut policy = ValidatingAdmissionPolicy {
            spec: Some(ValidatingAdmissionPolicySpec {
                match_constraints: Some(MatchResources {
                    resource_rules: Some(vec![NamedRuleWithOperations::default()]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        default_validating_admission_policy(&mut policy);
        let spec = policy.spec.unwrap_or_default();
        assert_eq!(spec.failure_policy.as_deref(), Some("Fail"));
        let constraints = spec.match_constraints.unwrap_or_default();
        assert_eq!(constraints.match_policy.as_deref(), Some("Equivalent"));
        let rule = &constraints.resource_rules.unwrap_or_default()[0];
        assert_eq!(rule.scope.as_deref(), Some("*"));
    }
}
