//! Patch metadata of the workload kinds (`apps/v1`, `batch/v1`) and of the other groups'
//! kinds that have list strategies, from the v1.33 struct tags.

use super::core::{CONDITIONS_STATUS, OBJECT_META, POD_TEMPLATE_SPEC};
use super::{FieldSchema, PatchMeta, PatchSchema};

/// `DeploymentSpec`: `strategy` is `patchStrategy:"retainKeys"`, so `kubectl apply` can switch
/// `type: RollingUpdate` to `Recreate` and drop `rollingUpdate` in one patch.
static DEPLOYMENT_SPEC: PatchSchema = PatchSchema::new(
    "io.k8s.api.apps.v1.DeploymentSpec",
    &[
        FieldSchema::nested("template", &POD_TEMPLATE_SPEC),
        FieldSchema::new("strategy", PatchMeta::DEFAULT.with_retain_keys(), None),
        FieldSchema::atomic("selector"),
    ],
);

/// `Deployment`.
pub(super) static DEPLOYMENT: PatchSchema = PatchSchema::new(
    "io.k8s.api.apps.v1.Deployment",
    &[
        FieldSchema::nested("metadata", &OBJECT_META),
        FieldSchema::nested("spec", &DEPLOYMENT_SPEC),
        FieldSchema::nested("status", &CONDITIONS_STATUS),
    ],
);

/// A workload spec whose only metadata is in its pod template (ReplicaSet, StatefulSet —
/// whose `volumeClaimTemplates` has no strategy —, DaemonSet, Job).
static TEMPLATED_SPEC: PatchSchema = PatchSchema::new(
    "workload spec with a pod template",
    &[
        FieldSchema::nested("template", &POD_TEMPLATE_SPEC),
        FieldSchema::atomic("selector"),
    ],
);

/// ReplicaSet, StatefulSet, DaemonSet and Job: pod template and `status.conditions`.
pub(super) static TEMPLATED_WORKLOAD: PatchSchema = PatchSchema::new(
    "workload with a pod template",
    &[
        FieldSchema::nested("metadata", &OBJECT_META),
        FieldSchema::nested("spec", &TEMPLATED_SPEC),
        FieldSchema::nested("status", &CONDITIONS_STATUS),
    ],
);

/// `JobTemplateSpec`, as CronJob holds it.
static JOB_TEMPLATE_SPEC: PatchSchema = PatchSchema::new(
    "io.k8s.api.batch.v1.JobTemplateSpec",
    &[
        FieldSchema::nested("metadata", &OBJECT_META),
        FieldSchema::nested("spec", &TEMPLATED_SPEC),
    ],
);

/// `CronJobSpec`.
static CRON_JOB_SPEC: PatchSchema = PatchSchema::new(
    "io.k8s.api.batch.v1.CronJobSpec",
    &[FieldSchema::nested("jobTemplate", &JOB_TEMPLATE_SPEC)],
);

/// `CronJob`. `status.active` has no strategy.
pub(super) static CRON_JOB: PatchSchema = PatchSchema::new(
    "io.k8s.api.batch.v1.CronJob",
    &[
        FieldSchema::nested("metadata", &OBJECT_META),
        FieldSchema::nested("spec", &CRON_JOB_SPEC),
    ],
);

/// `CSINodeSpec`: `drivers` merges by `name`.
static CSI_NODE_SPEC: PatchSchema = PatchSchema::new(
    "io.k8s.api.storage.v1.CSINodeSpec",
    &[FieldSchema::new(
        "drivers",
        PatchMeta::merge_by("name"),
        None,
    )],
);

/// `CSINode`.
pub(super) static CSI_NODE: PatchSchema = PatchSchema::new(
    "io.k8s.api.storage.v1.CSINode",
    &[
        FieldSchema::nested("metadata", &OBJECT_META),
        FieldSchema::nested("spec", &CSI_NODE_SPEC),
    ],
);

/// `ValidatingWebhookConfiguration` and `MutatingWebhookConfiguration`: `webhooks` merges by
/// `name`.
pub(super) static WEBHOOK_CONFIGURATION: PatchSchema = PatchSchema::new(
    "io.k8s.api.admissionregistration.v1.WebhookConfiguration",
    &[
        FieldSchema::nested("metadata", &OBJECT_META),
        FieldSchema::new("webhooks", PatchMeta::merge_by("name"), None),
    ],
);
