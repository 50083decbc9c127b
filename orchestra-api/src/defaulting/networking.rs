//! Networking defaults: NetworkPolicies and IngressClasses.
//!
//! A NetworkPolicy that does not list `policyTypes` applies to ingress, and to egress too when
//! it has egress rules; its ports are `TCP` unless set. An IngressClass's parameters are
//! cluster-scoped unless set.

use k8s_openapi::api::networking::v1::{IngressClass, NetworkPolicy, NetworkPolicyPort};

use super::{default_value, each_mut};

/// Defaults a NetworkPolicy: `policyTypes` and port protocols.
pub fn default_network_policy(policy: &mut NetworkPolicy) {
    let spec = policy.spec.get_or_insert_default();
    for rule in each_mut(&mut spec.ingress) {
        default_ports(&mut rule.ports);
    }
    for rule in each_mut(&mut spec.egress) {
        default_ports(&mut rule.ports);
    }
    if spec.policy_types.as_ref().is_none_or(Vec::is_empty) {
        let mut types = vec!["Ingress".to_owned()];
        if spec.egress.as_ref().is_some_and(|e| !e.is_empty()) {
            types.push("Egress".to_owned());
        }
        spec.policy_types = Some(types);
    }
}

fn default_ports(ports: &mut Option<Vec<NetworkPolicyPort>>) {
    for port in each_mut(ports) {
        default_value(&mut port.protocol, || "TCP".to_owned());
    }
}

/// Defaults an IngressClass: parameters scope `Cluster` when parameters are given.
pub fn default_ingress_class(class: &mut IngressClass) {
    if let Some(parameters) = class.spec.as_mut().and_then(|s| s.parameters.as_mut()) {
        default_value(&mut parameters.scope, || "Cluster".to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::networking::v1::{
        IngressClassParametersReference, IngressClassSpec, NetworkPolicyEgressRule,
        NetworkPolicyIngressRule, NetworkPolicySpec,
    };

    #[test]
    fn policies_without_types_cover_ingress_and_egress_only_with_egress_rules() {
        let mut ingress_only = NetworkPolicy {
            spec: Some(NetworkPolicySpec {
                ingress: Some(vec![NetworkPolicyIngressRule {
                    ports: Some(vec![NetworkPolicyPort::default()]),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        default_network_policy(&mut ingress_only);
        let spec = ingress_only.spec.unwrap_or_default();
        assert_eq!(spec.policy_types, Some(vec!["Ingress".to_string()]));
        let rule = &spec.ingress.unwrap_or_default()[0];
        let protocol = rule.ports.as_deref().unwrap_or_default()[0]
            .protocol
            .clone();
        assert_eq!(protocol.as_deref(), Some("TCP"));

        let mut both = NetworkPolicy {
            spec: Some(NetworkPolicySpec {
                egress: Some(vec![NetworkPolicyEgressRule::default()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        default_network_policy(&mut both);
        let types = both.spec.and_then(|s| s.policy_types);
        assert_eq!(
            types,
            Some(vec!["Ingress".to_string(), "Egress".to_string()])
        );
    }

    #[test]
    fn ingress_class_parameters_are_cluster_scoped() {
        let mut class = IngressClass {
            spec: Some(IngressClassSpec {
                parameters: Some(IngressClassParametersReference {
                    kind: "Params".into(),
                    name: "p".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        default_ingress_class(&mut class);
        let scope = class.spec.and_then(|s| s.parameters).and_then(|p| p.scope);
        assert_eq!(scope.as_deref(), Some("Cluster"));
    }
}
