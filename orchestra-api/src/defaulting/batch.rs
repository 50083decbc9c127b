//! Batch defaults: Jobs and CronJobs.
//!
//! A Job that sets neither `completions` nor `parallelism` runs one pod to completion (both
//! default to 1); one that sets only `completions` runs them one at a time (`parallelism: 1`);
//! one that sets only `parallelism` gets no `completions` (a work queue). It retries 6 times
//! (unlimited when `backoffLimitPerIndex` governs retries), is `NonIndexed`, not suspended, has
//! no manual selector, replaces pods once they are terminated or failed (only once failed when a
//! pod failure policy is set), and takes its labels from its template when it has none.
//!
//! A CronJob allows concurrent runs, is not suspended, and keeps 3 successful and 1 failed
//! finished Jobs. Its job template gets only pod template defaults: Kubernetes defaults the
//! Job's own fields when the CronJob controller creates it.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, Job};

use super::{default_string, default_value, pod::default_pod_template_spec};

/// Defaults a Job (`SetDefaults_Job` of `batch/v1`) and its pod template.
pub fn default_job(job: &mut Job) {
    let spec = job.spec.get_or_insert_default();
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
        spec.parallelism = Some(1);
    }
    default_value(&mut spec.parallelism, || 1);
    let backoff_limit = if spec.backoff_limit_per_index.is_some() {
        i32::MAX
    } else {
        6
    };
    default_value(&mut spec.backoff_limit, || backoff_limit);

    let template_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref())
        .filter(|labels| !labels.is_empty());
    if let Some(labels) = template_labels {
        if job.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty) {
            job.metadata.labels = Some(labels.clone());
        }
    }

    default_value(&mut spec.completion_mode, || "NonIndexed".to_owned());
    default_value(&mut spec.suspend, || false);
    if let Some(policy) = &mut spec.pod_failure_policy {
        for pattern in policy
            .rules
            .iter_mut()
            .flat_map(|rule| rule.on_pod_conditions.iter_mut().flatten())
        {
            if pattern.status.is_empty() {
                pattern.status = "True".to_owned();
            }
        }
    }
    let replacement = if spec.pod_failure_policy.is_some() {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    default_value(&mut spec.pod_replacement_policy, || replacement.to_owned());
    default_value(&mut spec.manual_selector, || false);
    default_pod_template_spec(&mut spec.template);
}

/// Defaults a CronJob (`SetDefaults_CronJob` of `batch/v1`) and the pod template of its job
/// template.
pub fn default_cron_job(cron_job: &mut CronJob) {
    let spec = cron_job.spec.get_or_insert_default();
    default_string(&mut spec.concurrency_policy, "Allow");
    default_value(&mut spec.suspend, || false);
    default_value(&mut spec.successful_jobs_history_limit, || 3);
    default_value(&mut spec.failed_jobs_history_limit, || 1);
    let job_spec = spec.job_template.spec.get_or_insert_default();
    default_pod_template_spec(&mut job_spec.template);
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{
        JobSpec, PodFailurePolicy, PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
    };

    fn job(spec: JobSpec) -> Job {
        Job {
            spec: Some(spec),
            ..Default::default()
        }
    }

    #[test]
    fn a_job_without_completions_or_parallelism_runs_one_pod() {
        let mut j = job(JobSpec::default());
        default_job(&mut j);
        let spec = j.spec.unwrap_or_default();
        assert_eq!((spec.completions, spec.parallelism), (Some(1), Some(1)));
        assert_eq!(spec.backoff_limit, Some(6));
        assert_eq!(spec.completion_mode.as_deref(), Some("NonIndexed"));
        assert_eq!(spec.suspend, Some(false));
        assert_eq!(spec.manual_selector, Some(false));
        assert_eq!(
            spec.pod_replacement_policy.as_deref(),
            Some("TerminatingOrFailed")
        );
    }

    #[test]
    fn a_work_queue_job_keeps_completions_unset() {
        let mut j = job(JobSpec {
            parallelism: Some(5),
            ..Default::default()
        });
        default_job(&mut j);
        let spec = j.spec.unwrap_or_default();
        assert_eq!((spec.completions, spec.parallelism), (None, Some(5)));

        let mut fixed = job(JobSpec {
            completions: Some(5),
            ..Default::default()
        });
        default_job(&mut fixed);
        let spec = fixed.spec.unwrap_or_default();
        assert_eq!((spec.completions, spec.parallelism), (Some(5), Some(1)));
    }

    #[test]
    fn per_index_backoff_makes_the_global_limit_unbounded() {
        let mut j = job(JobSpec {
            completion_mode: Some("Indexed".into()),
            backoff_limit_per_index: Some(2),
            ..Default::default()
        });
        default_job(&mut j);
        assert_eq!(j.spec.and_then(|s| s.backoff_limit), Some(i32::MAX));
    }

    #[test]
    fn pod_failure_policies_replace_failed_pods_and_match_true_conditions() {
        let mut j = job(JobSpec {
            pod_failure_policy: Some(PodFailurePolicy {
                rules: vec![PodFailurePolicyRule {
                    action: "Ignore".into(),
                    on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                        type_: "DisruptionTarget".into(),
                        status: String::new(),
                    }]),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        });
        default_job(&mut j);
        let spec = j.spec.unwrap_or_default();
        assert_eq!(spec.pod_replacement_policy.as_deref(), Some("Failed"));
        let rule = &spec.pod_failure_policy.unwrap_or_default().rules[0];
        let pattern = &rule.on_pod_conditions.as_deref().unwrap_or_default()[0];
        assert_eq!(pattern.status, "True");
    }

    #[test]
    fn cron_jobs_allow_concurrency_and_keep_three_and_one() {
        let mut cj = CronJob::default();
        default_cron_job(&mut cj);
        let spec = cj.spec.unwrap_or_default();
        assert_eq!(spec.concurrency_policy.as_deref(), Some("Allow"));
        assert_eq!(spec.suspend, Some(false));
        assert_eq!(spec.successful_jobs_history_limit, Some(3));
        assert_eq!(spec.failed_jobs_history_limit, Some(1));
        let job_spec = spec.job_template.spec.unwrap_or_default();
        assert_eq!(
            job_spec.backoff_limit, None,
            "defaulted when the Job is created"
        );
        let pod_spec = job_spec.template.spec.unwrap_or_default();
        assert_eq!(pod_spec.restart_policy.as_deref(), Some("Always"));
    }
}
