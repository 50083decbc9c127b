//! How NodeResourcesFit and NodeResourcesBalancedAllocation turn a node's allocation into a
//! score (Kubernetes' `resourceAllocationScorer`).
//!
//! For each configured resource the scorer takes the node's allocatable amount and what would
//! be requested with the pod added — for cpu and memory the requests with the non-zero
//! defaults (100m, 200Mi) unless the scorer uses real requests — and combines the resources
//! with their weights:
//!
//! - `LeastAllocated`: `(allocatable − requested) × 100 / allocatable`, weighted mean;
//! - `MostAllocated`: `requested × 100 / allocatable` (capped at 100), weighted mean;
//! - `RequestedToCapacityRatio`: a piecewise-linear function of utilization given by the
//!   shape (scores 0–10, scaled by 10), weighted mean rounded;
//! - balanced allocation: `(1 − standard deviation of the requested fractions) × 100`.
//!
//! An extended resource the pod does not request, or a resource the node does not have, is
//! left out.

use crate::config::args::{ResourceSpec, UtilizationShapePoint};
use crate::framework::MAX_NODE_SCORE;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

/// The scale of `RequestedToCapacityRatio` shape scores.
pub const MAX_CUSTOM_PRIORITY_SCORE: i64 = 10;
/// The scale of utilization in shapes.
pub const MAX_UTILIZATION: i64 = 100;

/// How the per-resource values combine into a score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// Prefer nodes with more free resources.
    LeastAllocated,
    /// Prefer nodes with fewer free resources (bin packing).
    MostAllocated,
    /// A custom function of utilization.
    RequestedToCapacityRatio(Vec<UtilizationShapePoint>),
    /// Prefer nodes whose resources are used evenly.
    Balanced,
}

/// A configured resource, resolved once so scoring does not compare names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Cpu,
    Memory,
    EphemeralStorage,
    Pods,
    Scalar(String),
}

/// A configured scorer. See the module docs.
#[derive(Debug, Clone)]
pub struct ResourceAllocationScorer {
    resources: Vec<ResourceSpec>,
    kinds: Vec<Kind>,
    use_requested: bool,
    strategy: Strategy,
}

impl ResourceAllocationScorer {
    /// A scorer of these resources; `use_requested` makes cpu and memory use the real requests
    /// (balanced allocation) rather than the non-zero defaults.
    pub fn new(
        resources: Vec<ResourceSpec>,
        use_requested: bool,
        strategy: Strategy,
    ) -> ResourceAllocationScorer {
        let kinds = resources
            .iter()
            .map(|r| match r.name.as_str() {
                "cpu" => Kind::Cpu,
                "memory" => Kind::Memory,
                "ephemeral-storage" => Kind::EphemeralStorage,
                "pods" => Kind::Pods,
                other => Kind::Scalar(other.to_owned()),
            })
            .collect();
        ResourceAllocationScorer {
            resources,
            kinds,
            use_requested,
            strategy,
        }
    }

    /// The resources and weights.
    pub fn resources(&self) -> &[ResourceSpec] {
        &self.resources
    }

    /// What the pod requests of each configured resource, in order.
    pub fn pod_requests(&self, pod: &PodInfo) -> Vec<i64> {
        let r = &pod.requests;
        self.kinds
            .iter()
            .map(|kind| match (kind, self.use_requested) {
                (Kind::Cpu, false) => r.non_zero_milli_cpu,
                (Kind::Memory, false) => r.non_zero_memory,
                (Kind::Cpu, true) => r.requests.milli_cpu,
                (Kind::Memory, true) => r.requests.memory,
                (Kind::EphemeralStorage, _) => r.requests.ephemeral_storage,
                (Kind::Pods, _) => r.requests.allowed_pod_number,
                (Kind::Scalar(name), _) => r.requests.scalar.get(name),
            })
            .collect()
    }

    /// The node's allocatable amount and the requested amount with the pod, or `(0, 0)`
    /// when the resource does not count.
    fn allocatable_and_requested(
        &self,
        node: &NodeInfo,
        kind: &Kind,
        pod_request: i64,
    ) -> (i64, i64) {
        let requested = if self.use_requested {
            &node.requested
        } else {
            &node.non_zero_requested
        };
        match kind {
            Kind::Cpu => (
                node.allocatable.milli_cpu,
                requested.milli_cpu + pod_request,
            ),
            Kind::Memory => (node.allocatable.memory, requested.memory + pod_request),
            Kind::EphemeralStorage => (
                node.allocatable.ephemeral_storage,
                node.requested.ephemeral_storage + pod_request,
            ),
            // Pods is not a scalar resource and has no requested amount in Kubernetes' scorer.
            Kind::Pods => (0, 0),
            Kind::Scalar(_) if pod_request == 0 => (0, 0),
            Kind::Scalar(name) if node.allocatable.scalar.contains(name) => (
                node.allocatable.scalar.get(name),
                node.requested.scalar.get(name) + pod_request,
            ),
            Kind::Scalar(_) => (0, 0),
        }
    }

    /// The node's score for a pod with these requests (from [`Self::pod_requests`]).
    pub fn score(&self, node: &NodeInfo, pod_requests: &[i64]) -> i64 {
        let mut requested = [0i64; 8];
        let mut allocatable = [0i64; 8];
        let mut requested_vec;
        let mut allocatable_vec;
        let (requested, allocatable): (&mut [i64], &mut [i64]) = if self.resources.len() <= 8 {
            (
                &mut requested[..self.resources.len()],
                &mut allocatable[..self.resources.len()],
            )
        } else {
            requested_vec = vec![0; self.resources.len()];
            allocatable_vec = vec![0; self.resources.len()];
            (&mut requested_vec, &mut allocatable_vec)
        };
        for (i, kind) in self.kinds.iter().enumerate() {
            let (alloc, req) = self.allocatable_and_requested(node, kind, pod_requests[i]);
            if alloc != 0 {
                allocatable[i] = alloc;
                requested[i] = req;
            }
        }
        match &self.strategy {
            Strategy::LeastAllocated => {
                self.weighted(requested, allocatable, least_requested_score)
            }
            Strategy::MostAllocated => self.weighted(requested, allocatable, most_requested_score),
            Strategy::RequestedToCapacityRatio(shape) => {
                requested_to_capacity_ratio(&self.resources, shape, requested, allocatable)
            }
            Strategy::Balanced => balanced_score(requested, allocatable),
        }
    }

    fn weighted(&self, requested: &[i64], allocatable: &[i64], f: fn(i64, i64) -> i64) -> i64 {
        let mut score = 0;
        let mut weights = 0;
        for (i, r) in self.resources.iter().enumerate() {
            if allocatable[i] == 0 {
                continue;
            }
            score += f(requested[i], allocatable[i]) * r.weight;
            weights += r.weight;
        }
        if weights == 0 { 0 } else { score / weights }
    }
}

/// `numerator / denominator` rounded down, for `0 ≤ numerator` and `0 < denominator`: through
/// a floating-point division (several times faster than a 64-bit integer division), corrected
/// to the exact integer result.
fn floor_div(numerator: i64, denominator: i64) -> i64 {
    const EXACT: i64 = 1 << 52;
    if numerator >= EXACT || denominator >= EXACT {
        return numerator / denominator;
    }
    let mut q = (numerator as f64 / denominator as f64) as i64;
    if q * denominator > numerator {
        q -= 1;
    } else if (q + 1) * denominator <= numerator {
        q += 1;
    }
    q
}

/// `(capacity − requested) × 100 / capacity`, 0 when over capacity.
pub fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity || requested < 0 {
        return 0;
    }
    floor_div(
        (capacity - requested).saturating_mul(MAX_NODE_SCORE),
        capacity,
    )
}

/// `requested × 100 / capacity`, capped at 100.
pub fn most_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested < 0 {
        return 0;
    }
    floor_div(
        requested.min(capacity).saturating_mul(MAX_NODE_SCORE),
        capacity,
    )
}

/// The piecewise-linear function of a shape (Kubernetes' `BuildBrokenLinearFunction`), with
/// scores scaled to 0–100.
pub fn broken_linear(shape: &[UtilizationShapePoint], utilization: i64) -> i64 {
    let points: Vec<(i64, i64)> = shape
        .iter()
        .map(|p| {
            (
                i64::from(p.utilization),
                i64::from(p.score) * (MAX_NODE_SCORE / MAX_CUSTOM_PRIORITY_SCORE),
            )
        })
        .collect();
    let Some(first) = points.first() else {
        return 0;
    };
    if utilization <= first.0 {
        return first.1;
    }
    for w in points.windows(2) {
        let ((u0, s0), (u1, s1)) = (w[0], w[1]);
        if utilization <= u1 {
            return s0 + (s1 - s0) * (utilization - u0) / (u1 - u0).max(1);
        }
    }
    points.last().map_or(0, |p| p.1)
}

fn requested_to_capacity_ratio(
    resources: &[ResourceSpec],
    shape: &[UtilizationShapePoint],
    requested: &[i64],
    allocatable: &[i64],
) -> i64 {
    let resource_score = |req: i64, cap: i64| {
        if cap == 0 || req > cap {
            broken_linear(shape, MAX_UTILIZATION)
        } else {
            broken_linear(shape, req * MAX_UTILIZATION / cap)
        }
    };
    let mut score = 0;
    let mut weights = 0;
    for (i, r) in resources.iter().enumerate() {
        if allocatable[i] == 0 {
            continue;
        }
        let s = resource_score(requested[i], allocatable[i]);
        if s > 0 {
            score += s * r.weight;
            weights += r.weight;
        }
    }
    if weights == 0 {
        return 0;
    }
    (score as f64 / weights as f64).round() as i64
}

fn balanced_score(requested: &[i64], allocatable: &[i64]) -> i64 {
    let fractions = || {
        requested
            .iter()
            .zip(allocatable)
            .filter(|(_, alloc)| **alloc != 0)
            .map(|(req, alloc)| (*req as f64 / *alloc as f64).min(1.0))
    };
    let mut count = 0usize;
    let mut total = 0.0;
    let mut first = [0.0f64; 2];
    for fraction in fractions() {
        if count < 2 {
            first[count] = fraction;
        }
        total += fraction;
        count += 1;
    }
    let std = match count {
        0 | 1 => 0.0,
        2 => ((first[0] - first[1]) / 2.0).abs(),
        n => {
            let mean = total / n as f64;
            (fractions().map(|f| (f - mean) * (f - mean)).sum::<f64>() / n as f64).sqrt()
        }
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_linear_interpolates_and_clamps() {
        let shape = [
            UtilizationShapePoint {
                utilization: 0,
                score: 0,
            },
            UtilizationShapePoint {
                utilization: 100,
                score: 10,
            },
        ];
        assert_eq!(broken_linear(&shape, 0), 0);
        assert_eq!(broken_linear(&shape, 50), 50);
        assert_eq!(broken_linear(&shape, 150), 100);
        let falling = [
            UtilizationShapePoint {
                utilization: 10,
                score: 10,
            },
            UtilizationShapePoint {
                utilization: 80,
                score: 0,
            },
        ];
        assert_eq!(broken_linear(&falling, 5), 100);
        assert_eq!(broken_linear(&falling, 45), 50);
        assert_eq!(broken_linear(&falling, 90), 0);
    }

    #[test]
    fn fast_division_is_exact() {
        for (a, b) in [
            (0, 7),
            (99, 100),
            (100, 100),
            (29_700, 1977),
            (i64::MAX / 2, 3),
            ((1 << 52) + 5, 7),
            (3_435_973_836_700, 34_359_738_368),
        ] {
            assert_eq!(floor_div(a, b), a / b, "{a} / {b}");
        }
        for b in 1..300 {
            for a in 0..30_000 {
                assert_eq!(floor_div(a, b), a / b);
            }
        }
    }

    #[test]
    fn balanced_uses_standard_deviation() {
        // cpu 3000/4000 = 0.75, memory 5000/10000 = 0.5: std 0.125 → 87.
        assert_eq!(balanced_score(&[3000, 5000], &[4000, 10000]), 87);
        assert_eq!(balanced_score(&[1, 1], &[2, 2]), 100);
        // Three resources: fractions 0.5, 0.5, 1.0 (capped) → std 0.2357 → 76.
        assert_eq!(balanced_score(&[1, 1, 9], &[2, 2, 4]), 76);
    }
}
