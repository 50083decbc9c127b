//! `ResourceList`: amounts of named resources as integers, for the scheduler's and quota's
//! arithmetic.
//!
//! Kubernetes describes what a container requests, what a node offers and what a quota allows
//! with the same shape: a map from resource name (`cpu`, `memory`, `ephemeral-storage`,
//! `pods`, `hugepages-2Mi`, extended resources such as `nvidia.com/gpu`, and in quotas
//! `requests.cpu`, `limits.memory`, …) to a [`Quantity`]. Deciding whether a pod fits on a node
//! means adding and comparing those maps many times per scheduling cycle, so a
//! [`ResourceList`] keeps each amount as one `i64` in the unit the Kubernetes scheduler uses for
//! it ([`ResourceUnit`]):
//!
//! | resource | unit | `get` of `"1.5"` |
//! |---|---|---|
//! | `cpu` (and `requests.cpu`, `limits.cpu`) | millicores | 1500 |
//! | `memory`, `ephemeral-storage`, `storage`, `hugepages-*` | bytes | 2 |
//! | everything else: `pods`, `nvidia.com/gpu`, `count/…` | whole units | 2 |
//!
//! Converting from a quantity rounds up, away from zero, as Kubernetes does (its defaulting
//! rounds every resource amount up to a whole milli-unit, and its scheduler reads
//! cpu with `MilliValue()` and the rest with `Value()`): `100u` of cpu is 1 millicore,
//! `0.5` bytes of memory is 1 byte. Millicores rather than milli-units for everything keep
//! large amounts in range: an `i64` of milli-bytes would stop at 8 PiB, which a cluster-wide
//! storage quota can exceed; with bytes the limit is 8 EiB.
//!
//! The list is a vector sorted by name, so iteration is in name order, lookups are binary
//! searches, and [`ResourceList::add`], [`ResourceList::fits_in`] and friends walk two lists
//! side by side. Well-known names are static strings and other names are shared
//! (`Arc<str>`), so none of those operations allocate once the names are present. Arithmetic
//! saturates rather than overflowing.
//!
//! ```
//! use std::collections::BTreeMap;
//! use orchestra_api::ResourceList;
//! use orchestra_api::k8s_openapi::apimachinery::pkg::api::resource::Quantity;
//!
//! let wire = |pairs: &[(&str, &str)]| -> BTreeMap<String, Quantity> {
//!     pairs.iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect()
//! };
//! let allocatable = ResourceList::from_k8s(&wire(&[("cpu", "4"), ("memory", "8Gi"), ("pods", "110")]))
//!     .map_err(|(name, e)| format!("{name}: {e}"))?;
//! let request = ResourceList::from_k8s(&wire(&[("cpu", "1500m"), ("memory", "10Gi")]))
//!     .map_err(|(name, e)| format!("{name}: {e}"))?;
//!
//! assert_eq!(request.get("cpu"), 1500); // millicores
//! assert_eq!(request.get("memory"), 10 << 30); // bytes
//! assert!(!request.fits_in(&allocatable));
//! let reasons: Vec<String> = request.insufficient_in(&allocatable).map(|s| s.to_string()).collect();
//! assert_eq!(reasons, ["Insufficient memory"]);
//! # Ok::<(), String>(())
//! ```

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

use crate::quantity::{Quantity, QuantityError};

/// The unit a [`ResourceList`] keeps a resource's amount in, decided by the resource's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceUnit {
    /// Thousandths: millicores, for `cpu`, `requests.cpu` and `limits.cpu`.
    Milli,
    /// Bytes, for `memory`, `ephemeral-storage`, `storage` and `hugepages-<size>`, alone or
    /// behind `requests.` or `limits.`. Written back with binary suffixes (`64Mi`).
    Bytes,
    /// Whole units, for everything else: `pods`, extended resources (`nvidia.com/gpu`),
    /// object counts (`count/pods`).
    Count,
}

impl ResourceUnit {
    /// The amount of `quantity` in this unit, rounded up away from zero.
    pub fn amount_of(self, quantity: &Quantity) -> Result<i64, QuantityError> {
        let amount = match self {
            ResourceUnit::Milli => quantity.checked_milli_value(),
            ResourceUnit::Bytes | ResourceUnit::Count => quantity.checked_value(),
        };
        amount.ok_or(QuantityError::ExceedsInt64)
    }

    /// `amount` of this unit as a quantity, in the format Kubernetes writes such amounts in
    /// (`1500m`, `64Mi`, `110`).
    pub const fn quantity(self, amount: i64) -> Quantity {
        match self {
            ResourceUnit::Milli => Quantity::from_milli(amount),
            ResourceUnit::Bytes => Quantity::from_bytes_binary(amount),
            ResourceUnit::Count => Quantity::from_value(amount),
        }
    }
}

/// The name of a resource (`cpu`, `nvidia.com/gpu`, …).
///
/// Well-known names are static strings; others share one allocation between clones. Equality,
/// ordering and hashing are those of the name as a string, so a `ResourceName` can be looked up
/// by `&str`.
#[derive(Clone)]
pub struct ResourceName(NameRepr);

#[derive(Clone)]
enum NameRepr {
    Static(&'static str),
    Shared(Arc<str>),
}

/// Names that need no allocation.
const WELL_KNOWN: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "storage",
    "pods",
    "hugepages-1Gi",
    "hugepages-2Mi",
    "nvidia.com/gpu",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "requests.storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
];

impl ResourceName {
    /// `cpu`, in millicores.
    pub const CPU: ResourceName = ResourceName(NameRepr::Static("cpu"));
    /// `memory`, in bytes.
    pub const MEMORY: ResourceName = ResourceName(NameRepr::Static("memory"));
    /// `ephemeral-storage`, in bytes.
    pub const EPHEMERAL_STORAGE: ResourceName = ResourceName(NameRepr::Static("ephemeral-storage"));
    /// `storage` (of persistent volumes), in bytes.
    pub const STORAGE: ResourceName = ResourceName(NameRepr::Static("storage"));
    /// `pods`: how many pods a node takes.
    pub const PODS: ResourceName = ResourceName(NameRepr::Static("pods"));

    /// The name `name`, without allocating when it is a well-known one.
    pub fn new(name: &str) -> ResourceName {
        match WELL_KNOWN.iter().find(|known| **known == name) {
            Some(known) => ResourceName(NameRepr::Static(known)),
            None => ResourceName(NameRepr::Shared(Arc::from(name))),
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            NameRepr::Static(name) => name,
            NameRepr::Shared(name) => name,
        }
    }

    /// The unit amounts of this resource are kept in.
    pub fn unit(&self) -> ResourceUnit {
        unit_of(self.as_str())
    }
}

/// The unit of the resource called `name` (see [`ResourceUnit`]).
fn unit_of(name: &str) -> ResourceUnit {
    let base = name
        .strip_prefix("requests.")
        .or_else(|| name.strip_prefix("limits."))
        .unwrap_or(name);
    match base {
        "cpu" => ResourceUnit::Milli,
        "memory" | "ephemeral-storage" | "storage" => ResourceUnit::Bytes,
        _ if base.starts_with("hugepages-") => ResourceUnit::Bytes,
        _ => ResourceUnit::Count,
    }
}

impl PartialEq for ResourceName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ResourceName {}

impl PartialOrd for ResourceName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ResourceName {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for ResourceName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Borrow<str> for ResourceName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ResourceName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&str> for ResourceName {
    fn from(name: &str) -> ResourceName {
        ResourceName::new(name)
    }
}

impl From<String> for ResourceName {
    fn from(name: String) -> ResourceName {
        ResourceName::new(&name)
    }
}

/// Amounts of named resources, each an `i64` in its resource's [`ResourceUnit`].
///
/// A name can be present with a zero amount, as in a Kubernetes `ResourceList`; [`get`] reads
/// an absent name as zero. Equality compares the names present and their amounts.
///
/// [`get`]: ResourceList::get
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ResourceList {
    /// Sorted by name, names unique.
    entries: Vec<(ResourceName, i64)>,
}

impl ResourceList {
    /// An empty list; does not allocate.
    pub const fn new() -> ResourceList {
        ResourceList {
            entries: Vec::new(),
        }
    }

    /// Reads a Kubernetes `ResourceList` (`resources.requests`, `status.allocatable`,
    /// `spec.hard`, …), rounding each amount up into its unit. On failure, names the resource
    /// whose quantity does not parse or does not fit in an `i64`.
    pub fn from_k8s(
        list: &BTreeMap<String, K8sQuantity>,
    ) -> Result<ResourceList, (String, QuantityError)> {
        let mut entries = Vec::with_capacity(list.len());
        // A BTreeMap iterates in byte order of its keys, which is our order: no sorting.
        for (name, quantity) in list {
            let name = ResourceName::new(name);
            let amount = Quantity::try_from(quantity)
                .and_then(|q| name.unit().amount_of(&q))
                .map_err(|e| (name.as_str().to_owned(), e))?;
            entries.push((name, amount));
        }
        Ok(ResourceList { entries })
    }

    /// The list as a Kubernetes `ResourceList`, each amount written as Kubernetes would write
    /// it (`1500m`, `64Mi`, `110`).
    pub fn to_k8s(&self) -> BTreeMap<String, K8sQuantity> {
        self.iter()
            .map(|(name, amount)| {
                let quantity = name.unit().quantity(amount);
                (name.as_str().to_owned(), K8sQuantity::from(quantity))
            })
            .collect()
    }

    /// The amount of `name` in its unit (millicores for cpu, bytes for memory, …); zero when
    /// absent.
    pub fn get(&self, name: &str) -> i64 {
        self.position(name).map_or(0, |i| self.entries[i].1)
    }

    /// The amount of `name` as a quantity, or `None` when absent.
    pub fn get_quantity(&self, name: &str) -> Option<Quantity> {
        let (name, amount) = &self.entries[self.position(name).ok()?];
        Some(name.unit().quantity(*amount))
    }

    /// Whether `name` is present (possibly with a zero amount).
    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Sets the amount of `name`, in its unit, adding the name if absent.
    pub fn set(&mut self, name: impl Into<ResourceName>, amount: i64) {
        let name = name.into();
        match self.position(name.as_str()) {
            Ok(i) => self.entries[i].1 = amount,
            Err(i) => self.entries.insert(i, (name, amount)),
        }
    }

    /// Sets the amount of `name` from a quantity, rounded up into the resource's unit.
    pub fn set_quantity(
        &mut self,
        name: impl Into<ResourceName>,
        quantity: &Quantity,
    ) -> Result<(), QuantityError> {
        let name = name.into();
        let amount = name.unit().amount_of(quantity)?;
        self.set(name, amount);
        Ok(())
    }

    /// Removes `name`, answering its amount if it was present.
    pub fn remove(&mut self, name: &str) -> Option<i64> {
        let i = self.position(name).ok()?;
        Some(self.entries.remove(i).1)
    }

    /// How many names are present.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no name is present.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether every amount is zero (true for an empty list).
    pub fn is_zero(&self) -> bool {
        self.entries.iter().all(|(_, amount)| *amount == 0)
    }

    /// The names and amounts, in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            entries: self.entries.iter(),
        }
    }

    /// The names present, in order.
    pub fn names(&self) -> impl Iterator<Item = &ResourceName> + '_ {
        self.entries.iter().map(|(name, _)| name)
    }

    /// Adds `other` resource by resource; names only in `other` are added. Saturates at the
    /// `i64` bounds. Allocates only to add names `self` does not have.
    pub fn add(&mut self, other: &ResourceList) {
        self.merge(other, i64::saturating_add);
    }

    /// Subtracts `other` resource by resource, never going below zero (as Kubernetes quota's
    /// `SubtractWithNonNegativeResult`): every amount of the result is `max(0, self - other)`,
    /// and names only in `other` are added with amount zero. Use
    /// [`ResourceList::checked_sub`] to detect a shortfall instead.
    pub fn sub(&mut self, other: &ResourceList) {
        self.merge(other, |a, b| a.saturating_sub(b));
        for (_, amount) in &mut self.entries {
            *amount = (*amount).max(0);
        }
    }

    /// `self - other` resource by resource, or `None` if any amount would go below zero (or
    /// overflow). Names only in `other` count as zero in `self`.
    pub fn checked_sub(&self, other: &ResourceList) -> Option<ResourceList> {
        let mut result = self.clone();
        let mut shortfall = false;
        result.merge(other, |a, b| match a.checked_sub(b) {
            Some(difference) if difference >= 0 => difference,
            _ => {
                shortfall = true;
                0
            }
        });
        (!shortfall).then_some(result)
    }

    /// Raises each amount to `other`'s where that is larger; names only in `other` are added.
    ///
    /// This is how Kubernetes combines init containers, which run one after another, with app
    /// containers, which run together: a pod's effective request is
    /// `max(max(init containers), sum(app containers))`.
    ///
    /// ```
    /// use orchestra_api::ResourceList;
    ///
    /// let mut init = ResourceList::new();
    /// init.set("cpu", 2000);
    /// let mut apps = ResourceList::new();
    /// for cpu in [500, 700] {
    ///     let mut app = ResourceList::new();
    ///     app.set("cpu", cpu);
    ///     app.set("memory", 64 << 20);
    ///     apps.add(&app);
    /// }
    /// apps.max(&init);
    /// assert_eq!(apps.get("cpu"), 2000);
    /// assert_eq!(apps.get("memory"), 128 << 20);
    /// ```
    pub fn max(&mut self, other: &ResourceList) {
        self.merge(other, i64::max);
    }

    /// Whether every positive amount in `self` is at most the same resource's amount in
    /// `capacity` (absent counts as zero). Zero and negative amounts always fit, so a request
    /// of `nvidia.com/gpu: 0` fits a node without GPUs.
    pub fn fits_in(&self, capacity: &ResourceList) -> bool {
        self.insufficient_in(capacity).next().is_none()
    }

    /// Whether `self` fits in what `capacity` leaves after `used`: every positive amount is at
    /// most `capacity - used` for its resource. This is the scheduler's check of a pod's
    /// requests against a node's allocatable resources and the requests of the pods already
    /// on it, without building the difference.
    pub fn fits_in_with_used(&self, used: &ResourceList, capacity: &ResourceList) -> bool {
        self.insufficient_in_with_used(used, capacity)
            .next()
            .is_none()
    }

    /// The resources `capacity` has too little of for `self`, in name order, as
    /// [`ResourceList::fits_in`] decides. Does not allocate.
    pub fn insufficient_in<'a>(&'a self, capacity: &'a ResourceList) -> Insufficient<'a> {
        Insufficient {
            requests: self.entries.iter(),
            used: None,
            capacity: Cursor::new(capacity),
        }
    }

    /// The resources for which what `capacity` leaves after `used` is too little for `self`,
    /// in name order, as [`ResourceList::fits_in_with_used`] decides. Does not allocate.
    pub fn insufficient_in_with_used<'a>(
        &'a self,
        used: &'a ResourceList,
        capacity: &'a ResourceList,
    ) -> Insufficient<'a> {
        Insufficient {
            requests: self.entries.iter(),
            used: Some(Cursor::new(used)),
            capacity: Cursor::new(capacity),
        }
    }

    /// Where `name` is, or where it would be inserted.
    fn position(&self, name: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(entry, _)| entry.as_str().cmp(name))
    }

    /// Combines `other` into `self` name by name with `combine(self_amount, other_amount)`;
    /// a name only in `other` is combined with zero and inserted. Both lists are sorted, so
    /// this is one walk over each.
    fn merge(&mut self, other: &ResourceList, mut combine: impl FnMut(i64, i64) -> i64) {
        let mut i = 0;
        for (name, amount) in &other.entries {
            while i < self.entries.len() && self.entries[i].0.as_str() < name.as_str() {
                i += 1;
            }
            if i < self.entries.len() && self.entries[i].0 == *name {
                self.entries[i].1 = combine(self.entries[i].1, *amount);
            } else {
                self.entries.insert(i, (name.clone(), combine(0, *amount)));
            }
            i += 1;
        }
    }
}

impl fmt::Debug for ResourceList {
    /// `{"cpu": 1500, "memory": 1073741824}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<N: Into<ResourceName>> FromIterator<(N, i64)> for ResourceList {
    /// Collects amounts by name; a name given twice gets the sum of its amounts.
    fn from_iter<I: IntoIterator<Item = (N, i64)>>(iter: I) -> ResourceList {
        let mut entries: Vec<(ResourceName, i64)> =
            iter.into_iter().map(|(n, a)| (n.into(), a)).collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = kept.1.saturating_add(later.1);
            }
            same
        });
        ResourceList { entries }
    }
}

impl<'a> IntoIterator for &'a ResourceList {
    type Item = (&'a ResourceName, i64);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The names and amounts of a [`ResourceList`], in name order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    entries: std::slice::Iter<'a, (ResourceName, i64)>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a ResourceName, i64);

    fn next(&mut self) -> Option<Self::Item> {
        self.entries.next().map(|(name, amount)| (name, *amount))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.entries
            .next_back()
            .map(|(name, amount)| (name, *amount))
    }
}

/// One resource a request does not fit: what was asked for and what there is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortfall<'a> {
    /// The resource.
    pub name: &'a ResourceName,
    /// The amount requested.
    pub requested: i64,
    /// The amount already in use (zero when no usage was given).
    pub used: i64,
    /// The total amount there is.
    pub capacity: i64,
}

impl Shortfall<'_> {
    /// What is left for the request: `capacity - used`, saturating.
    pub fn available(&self) -> i64 {
        self.capacity.saturating_sub(self.used)
    }
}

impl fmt::Display for Shortfall<'_> {
    /// The scheduler's reason: `Insufficient cpu`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Insufficient {}", self.name)
    }
}

/// The resources a request does not fit, from [`ResourceList::insufficient_in`] and
/// [`ResourceList::insufficient_in_with_used`].
#[derive(Debug, Clone)]
pub struct Insufficient<'a> {
    requests: std::slice::Iter<'a, (ResourceName, i64)>,
    used: Option<Cursor<'a>>,
    capacity: Cursor<'a>,
}

impl<'a> Iterator for Insufficient<'a> {
    type Item = Shortfall<'a>;

    fn next(&mut self) -> Option<Shortfall<'a>> {
        for (name, requested) in self.requests.by_ref() {
            if *requested <= 0 {
                continue;
            }
            let capacity = self.capacity.seek(name.as_str());
            let used = self.used.as_mut().map_or(0, |u| u.seek(name.as_str()));
            // In i128 so that extreme amounts compare exactly.
            if i128::from(*requested) + i128::from(used) > i128::from(capacity) {
                return Some(Shortfall {
                    name,
                    requested: *requested,
                    used,
                    capacity,
                });
            }
        }
        None
    }
}

/// A forward-only reader of a [`ResourceList`] for names asked in increasing order.
#[derive(Debug, Clone)]
struct Cursor<'a> {
    entries: &'a [(ResourceName, i64)],
}

impl<'a> Cursor<'a> {
    fn new(list: &'a ResourceList) -> Cursor<'a> {
        Cursor {
            entries: &list.entries,
        }
    }

    /// The amount of `name` (zero when absent); later calls must ask for names not smaller.
    fn seek(&mut self, name: &str) -> i64 {
        while let Some(((entry, amount), rest)) = self.entries.split_first() {
            match entry.as_str().cmp(name) {
                Ordering::Less => self.entries = rest,
                Ordering::Equal => return *amount,
                Ordering::Greater => return 0,
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn wire(pairs: &[(&str, &str)]) -> BTreeMap<String, K8sQuantity> {
        pairs
            .iter()
            .map(|(name, q)| (name.to_string(), K8sQuantity(q.to_string())))
            .collect()
    }

    fn list(pairs: &[(&str, &str)]) -> ResourceList {
        match ResourceList::from_k8s(&wire(pairs)) {
            Ok(list) => list,
            Err((name, e)) => panic!("{name}: {e}"),
        }
    }

    #[test]
    fn amounts_are_kept_in_the_unit_the_scheduler_uses() {
        let requests = list(&[
            ("cpu", "250m"),
            ("memory", "64Mi"),
            ("ephemeral-storage", "1G"),
            ("hugepages-2Mi", "80Mi"),
            ("nvidia.com/gpu", "1"),
            ("pods", "110"),
            ("requests.cpu", "1.5"),
            ("limits.memory", "1Gi"),
        ]);
        assert_eq!(requests.get("cpu"), 250);
        assert_eq!(requests.get("memory"), 64 << 20);
        assert_eq!(requests.get("ephemeral-storage"), 1_000_000_000);
        assert_eq!(requests.get("hugepages-2Mi"), 80 << 20);
        assert_eq!(requests.get("nvidia.com/gpu"), 1);
        assert_eq!(requests.get("pods"), 110);
        assert_eq!(requests.get("requests.cpu"), 1500);
        assert_eq!(requests.get("limits.memory"), 1 << 30);
        assert_eq!(requests.get("absent"), 0);
    }

    #[test]
    fn amounts_round_up_into_their_unit() {
        let requests = list(&[("cpu", "100u"), ("memory", "0.5"), ("pods", "1m")]);
        assert_eq!(requests.get("cpu"), 1, "below a millicore rounds up to 1m");
        assert_eq!(requests.get("memory"), 1);
        assert_eq!(requests.get("pods"), 1);
        assert_eq!(
            requests.get_quantity("cpu").map(|q| q.to_string()),
            Some("1m".into())
        );
    }

    #[test]
    fn a_bad_quantity_names_its_resource() {
        let error = ResourceList::from_k8s(&wire(&[("cpu", "1"), ("memory", "1Gb")]));
        assert_eq!(
            error,
            Err(("memory".to_string(), QuantityError::FormatWrong))
        );
        let error = ResourceList::from_k8s(&wire(&[("memory", "1gi")]));
        assert_eq!(
            error,
            Err(("memory".to_string(), QuantityError::FormatWrong))
        );
        let error = ResourceList::from_k8s(&wire(&[("memory", "1ki")]));
        assert_eq!(error, Err(("memory".to_string(), QuantityError::Suffix)));
        let error = ResourceList::from_k8s(&wire(&[("cpu", "1e17")]));
        assert_eq!(error, Err(("cpu".to_string(), QuantityError::ExceedsInt64)));
        // Surrounding whitespace is ignored, as Kubernetes' JSON decoding does.
        assert_eq!(list(&[("cpu", " 2 ")]).get("cpu"), 2000);
    }

    #[test]
    fn converting_back_writes_kubernetes_canonical_quantities() {
        let original = wire(&[
            ("cpu", "1.5"),
            ("memory", "1.5Gi"),
            ("nvidia.com/gpu", "2"),
            ("ephemeral-storage", "1000"),
        ]);
        let back = list(&[
            ("cpu", "1.5"),
            ("memory", "1.5Gi"),
            ("nvidia.com/gpu", "2"),
            ("ephemeral-storage", "1000"),
        ])
        .to_k8s();
        let written: Vec<(&str, &str)> = back
            .iter()
            .map(|(k, v)| (k.as_str(), v.0.as_str()))
            .collect();
        assert_eq!(
            written,
            [
                ("cpu", "1500m"),
                // Bytes below 1024 are written in decimal, as Kubernetes does.
                ("ephemeral-storage", "1k"),
                ("memory", "1536Mi"),
                ("nvidia.com/gpu", "2"),
            ]
        );
        assert_eq!(original.len(), back.len());
    }

    #[test]
    fn add_sums_by_name_and_adds_missing_names() {
        let mut total = list(&[("cpu", "1"), ("memory", "1Gi")]);
        total.add(&list(&[("cpu", "500m"), ("nvidia.com/gpu", "1")]));
        assert_eq!(total.get("cpu"), 1500);
        assert_eq!(total.get("memory"), 1 << 30);
        assert_eq!(total.get("nvidia.com/gpu"), 1);
        let names: Vec<&str> = total.names().map(ResourceName::as_str).collect();
        assert_eq!(names, ["cpu", "memory", "nvidia.com/gpu"]);
    }

    #[test]
    fn add_saturates_instead_of_overflowing() {
        let mut total = ResourceList::new();
        total.set("cpu", i64::MAX - 1);
        total.add(&[("cpu", 10)].into_iter().collect());
        assert_eq!(total.get("cpu"), i64::MAX);
    }

    #[test]
    fn sub_never_goes_below_zero() {
        let mut left = list(&[("cpu", "1"), ("memory", "1Gi")]);
        left.sub(&list(&[
            ("cpu", "1500m"),
            ("memory", "512Mi"),
            ("pods", "1"),
        ]));
        assert_eq!(left.get("cpu"), 0);
        assert_eq!(left.get("memory"), 512 << 20);
        assert!(
            left.contains("pods"),
            "names only in the subtrahend are tracked at zero"
        );
        assert_eq!(left.get("pods"), 0);
    }

    #[test]
    fn checked_sub_reports_a_shortfall() {
        let capacity = list(&[("cpu", "2"), ("memory", "1Gi")]);
        let fits = capacity.checked_sub(&list(&[("cpu", "500m")]));
        assert_eq!(fits.map(|l| l.get("cpu")), Some(1500));
        assert_eq!(capacity.checked_sub(&list(&[("cpu", "3")])), None);
        assert_eq!(
            capacity.checked_sub(&list(&[("nvidia.com/gpu", "1")])),
            None
        );
    }

    #[test]
    fn effective_request_is_max_of_init_containers_and_sum_of_app_containers() {
        let init = [
            list(&[("cpu", "2"), ("memory", "64Mi")]),
            list(&[("cpu", "1")]),
        ];
        let apps = [
            list(&[("cpu", "500m"), ("memory", "128Mi")]),
            list(&[("cpu", "500m"), ("memory", "128Mi")]),
        ];
        let mut effective = ResourceList::new();
        for app in &apps {
            effective.add(app);
        }
        for container in &init {
            effective.max(container);
        }
        assert_eq!(effective.get("cpu"), 2000);
        assert_eq!(effective.get("memory"), 256 << 20);
    }

    #[test]
    fn fits_in_compares_every_requested_resource_with_capacity() {
        let node = list(&[("cpu", "4"), ("memory", "8Gi"), ("pods", "110")]);
        assert!(list(&[("cpu", "4"), ("memory", "8Gi")]).fits_in(&node));
        assert!(!list(&[("cpu", "4001m")]).fits_in(&node));
        assert!(!list(&[("nvidia.com/gpu", "1")]).fits_in(&node));
        assert!(
            list(&[("nvidia.com/gpu", "0")]).fits_in(&node),
            "zero requests always fit"
        );
        assert!(ResourceList::new().fits_in(&ResourceList::new()));
    }

    #[test]
    fn insufficient_resources_are_named_as_scheduler_reasons() {
        let node = list(&[("cpu", "2"), ("memory", "4Gi")]);
        let used = list(&[("cpu", "1500m"), ("memory", "1Gi")]);
        let pod = list(&[("cpu", "1"), ("memory", "2Gi"), ("nvidia.com/gpu", "1")]);
        let reasons: Vec<String> = pod
            .insufficient_in_with_used(&used, &node)
            .map(|s| s.to_string())
            .collect();
        assert_eq!(reasons, ["Insufficient cpu", "Insufficient nvidia.com/gpu"]);
        let cpu = pod.insufficient_in_with_used(&used, &node).next();
        assert_eq!(
            cpu.map(|s| (s.requested, s.used, s.capacity, s.available())),
            Some((1000, 1500, 2000, 500))
        );
        assert!(!pod.fits_in_with_used(&used, &node));
        assert!(list(&[("cpu", "500m")]).fits_in_with_used(&used, &node));
    }

    #[test]
    fn zero_lists_and_presence() {
        let mut requests = ResourceList::new();
        assert!(requests.is_zero() && requests.is_empty());
        requests.set("cpu", 0);
        assert!(requests.is_zero() && !requests.is_empty());
        assert_ne!(
            requests,
            ResourceList::new(),
            "a present zero is still present"
        );
        requests.set(ResourceName::MEMORY, 1);
        assert!(!requests.is_zero());
        assert_eq!(requests.remove("memory"), Some(1));
        assert_eq!(requests.remove("memory"), None);
    }

    #[test]
    fn well_known_names_do_not_allocate_and_compare_as_strings() {
        assert!(matches!(ResourceName::new("cpu").0, NameRepr::Static(_)));
        assert!(matches!(
            ResourceName::new("example.com/foo").0,
            NameRepr::Shared(_)
        ));
        assert_eq!(ResourceName::new("cpu"), ResourceName::CPU);
        assert!(ResourceName::new("example.com/foo") < ResourceName::MEMORY);
        assert_eq!(
            ResourceName::new("hugepages-1Gi").unit(),
            ResourceUnit::Bytes
        );
        assert_eq!(ResourceName::new("limits.cpu").unit(), ResourceUnit::Milli);
        assert_eq!(ResourceName::new("count/pods").unit(), ResourceUnit::Count);
    }

    #[test]
    fn collecting_sums_repeated_names_and_sorts() {
        let requests: ResourceList = [("memory", 1), ("cpu", 2), ("memory", 3)]
            .into_iter()
            .collect();
        let pairs: Vec<(&str, i64)> = requests.iter().map(|(n, a)| (n.as_str(), a)).collect();
        assert_eq!(pairs, [("cpu", 2), ("memory", 4)]);
        assert_eq!(format!("{requests:?}"), r#"{"cpu": 2, "memory": 4}"#);
    }

    fn any_name() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("cpu"),
            Just("memory"),
            Just("pods"),
            Just("ephemeral-storage"),
            Just("nvidia.com/gpu"),
            Just("example.com/foo"),
            Just("hugepages-2Mi"),
        ]
    }

    fn any_list() -> impl Strategy<Value = ResourceList> {
        proptest::collection::vec((any_name(), 0i64..1_000_000_000_000), 0..6)
            .prop_map(|pairs| pairs.into_iter().collect())
    }

    fn is_sorted_and_unique(list: &ResourceList) -> bool {
        list.entries.windows(2).all(|w| w[0].0 < w[1].0)
    }

    proptest! {
        #[test]
        fn add_then_sub_gives_back_the_original_amounts(a in any_list(), b in any_list()) {
            let mut total = a.clone();
            total.add(&b);
            prop_assert!(is_sorted_and_unique(&total));
            for (name, amount) in &a {
                prop_assert_eq!(total.get(name.as_str()), amount + b.get(name.as_str()));
            }
            total.sub(&b);
            prop_assert!(is_sorted_and_unique(&total));
            for (name, amount) in &total {
                prop_assert_eq!(amount, a.get(name.as_str()));
            }
        }

        #[test]
        fn fits_in_agrees_with_a_per_resource_comparison(a in any_list(), b in any_list()) {
            let expected = a.iter().all(|(name, amount)| amount <= b.get(name.as_str()));
            prop_assert_eq!(a.fits_in(&b), expected);
            let reported: Vec<&str> = a.insufficient_in(&b).map(|s| s.name.as_str()).collect();
            let expected: Vec<&str> = a
                .iter()
                .filter(|(name, amount)| *amount > b.get(name.as_str()))
                .map(|(name, _)| name.as_str())
                .collect();
            prop_assert_eq!(reported, expected);
        }

        #[test]
        fn fits_in_with_used_agrees_with_fits_in_the_remainder(
            request in any_list(), used in any_list(), capacity in any_list(),
        ) {
            let mut remaining = capacity.clone();
            remaining.sub(&used);
            let exact = request.iter().all(|(name, amount)| {
                amount == 0 || amount + used.get(name.as_str()) <= capacity.get(name.as_str())
            });
            prop_assert_eq!(request.fits_in_with_used(&used, &capacity), exact);
            // Where nothing is over-used, the saturated remainder gives the same answer.
            if capacity.checked_sub(&used).is_some() {
                prop_assert_eq!(request.fits_in(&remaining), exact);
            }
        }

        #[test]
        fn max_is_at_least_both(a in any_list(), b in any_list()) {
            let mut m = a.clone();
            m.max(&b);
            prop_assert!(is_sorted_and_unique(&m));
            prop_assert!(a.fits_in(&m) && b.fits_in(&m));
            for (name, amount) in &m {
                prop_assert_eq!(amount, a.get(name.as_str()).max(b.get(name.as_str())));
            }
        }

        #[test]
        fn k8s_round_trip_keeps_every_amount(a in any_list()) {
            prop_assert_eq!(ResourceList::from_k8s(&a.to_k8s()), Ok(a));
        }
    }
}
