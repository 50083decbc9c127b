//! Which documentation examples Kubernetes v1.33 refuses, and why: shared by the tests that
//! feed the examples to orchestra-api and to the API server through kubectl.

#![allow(dead_code)] // each test crate uses its own part of the catalog

/// Example files that are not valid YAML, so `kubectl` refuses them before any server sees them.
pub const INVALID_YAML: &[(&str, &str)] = &[
    (
        "controllers/job-pod-failure-policy-ignore.yaml",
        "a tab character indents `status: \"True\"` (YAML forbids tabs in indentation)",
    ),
    (
        "pods/inject/envars-file-container.yaml",
        "`\\'` is not a YAML escape inside a double-quoted string (go-yaml rejects it too)",
    ),
    (
        "pods/inject/pod-multiple-secret-env-variable.yaml",
        "a tab character indents `env:` (YAML forbids tabs in indentation)",
    ),
];

/// How Kubernetes v1.33 refuses a document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rejection {
    /// The body does not decode into the kind's schema; the decode error contains this text.
    Decode(&'static str),
    /// The document uses a field v1.33 does not have (a newer or removed one); kubectl's
    /// default strict field validation rejects it. The round trip drops exactly this field.
    UnknownField(&'static str),
    /// The object decodes but fails validation.
    Validation,
}

/// Documents that Kubernetes v1.33 itself refuses, how, and why.
pub const REJECTED_BY_KUBERNETES: &[(&str, Rejection, &str)] = &[
    (
        "pods/inject/pod-single-secret-env-variable.yaml",
        Rejection::Validation,
        "no apiVersion: kubectl refuses the document before it reaches a server",
    ),
    (
        "controllers/job-success-policy-example.yaml",
        Rejection::Validation,
        "no metadata, so neither name nor generateName",
    ),
    (
        "application/job/job-tmpl.yaml",
        Rejection::Validation,
        "a template: the name holds a $ITEM placeholder that a script substitutes first",
    ),
    (
        "pods/pod-with-numeric-toleration.yaml",
        Rejection::Validation,
        "the Gt toleration operator arrived after v1.33",
    ),
    (
        "pods/security/seccomp/fields.yaml",
        Rejection::Validation,
        "ephemeralContainers cannot be set on create; they are added through pods/ephemeralcontainers",
    ),
    (
        "policy/quota-vac.yaml",
        Rejection::Validation,
        "the VolumeAttributesClass quota scope is behind a feature gate that is off in v1.33",
    ),
    (
        "pods/pod-with-node-affinity.yaml",
        Rejection::Decode("expected NodeSelector"),
        "requiredDuringScheduling… holds a list of preferred terms instead of a NodeSelector",
    ),
    (
        "secret/serviceaccount/mysecretname.yaml",
        Rejection::Decode("expected a map"),
        "metadata.annotations is a list, not a map",
    ),
    (
        "secret/tls-auth-secret.yaml",
        Rejection::Decode("Invalid symbol"),
        "data values are placeholders, not base64",
    ),
    (
        "storage/test-crd.yaml",
        Rejection::Decode("Invalid symbol"),
        "caBundle is a placeholder, not base64",
    ),
    (
        "storage/test-crd-v2.yaml",
        Rejection::Decode("Invalid symbol"),
        "caBundle is a placeholder, not base64",
    ),
    (
        "pods/emptydir-volume-mode.yaml",
        Rejection::UnknownField(".spec.volumes[0].emptyDir.mode"),
        "emptyDir.mode is not in v1.33",
    ),
    (
        "pods/restart-policy/restart-all-containers.yaml",
        Rejection::UnknownField(".spec.initContainers[1].restartPolicyRules"),
        "restartPolicyRules arrived after v1.33",
    ),
    (
        "pods/security/security-context-7.yaml",
        Rejection::UnknownField(".spec.containers[0].securityContext.cgroupOptions"),
        "cgroupOptions is not in v1.33",
    ),
    (
        "pods/storage/projected-podcertificate.yaml",
        Rejection::UnknownField(".spec.volumes[0].projected.sources[0].podCertificate"),
        "podCertificate projections arrived after v1.33",
    ),
    (
        "service/networking/dual-stack-ipv6-lb-svc.yaml",
        Rejection::UnknownField(".spec.ipFamily"),
        "spec.ipFamily was replaced by ipFamilies before dual-stack went GA",
    ),
    (
        "service/networking/dual-stack-ipv6-svc.yaml",
        Rejection::UnknownField(".spec.ipFamily"),
        "spec.ipFamily was replaced by ipFamilies before dual-stack went GA",
    ),
];

pub fn rejection(file: &str) -> Option<Rejection> {
    REJECTED_BY_KUBERNETES
        .iter()
        .find(|(f, _, _)| *f == file)
        .map(|(_, how, _)| *how)
}

/// API versions Kubernetes v1.33 does not serve (removed, alpha or provided by a CRD).
pub fn unserved_reason(api_version: &str, kind: &str) -> Option<&'static str> {
    Some(match (api_version, kind) {
        ("policy/v1beta1", "PodSecurityPolicy") => {
            "PodSecurityPolicy was removed in Kubernetes 1.25"
        }
        ("batch/v1beta1", "CronJob") => "batch/v1beta1 CronJob was removed in Kubernetes 1.25",
        ("networking.k8s.io/v1beta1", "Ingress") => {
            "networking.k8s.io/v1beta1 Ingress was removed in Kubernetes 1.22"
        }
        ("storagemigration.k8s.io/v1alpha1", _) => {
            "alpha API, off unless a feature gate enables it"
        }
        ("autoscaling/v1", "HorizontalPodAutoscaler") => {
            "Orchestra serves HorizontalPodAutoscaler at autoscaling/v2 only (no v1 conversion yet)"
        }
        (v, _)
            if v.starts_with("snapshot.storage.k8s.io/")
                || v.starts_with("gateway.networking.k8s.io/")
                || v.starts_with("stable.example.com/") =>
        {
            "custom resource: served only once its CustomResourceDefinition is installed"
        }
        _ => return None,
    })
}
