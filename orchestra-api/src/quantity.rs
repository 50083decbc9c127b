//! Kubernetes quantities (`250m`, `1.5Gi`, `1e3`) parsed exactly into integers.
//!
//! (Being written: see the module owner.)

/// A parsed quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity {
    milli: i128,
}

impl Quantity {
    /// The value in thousandths, rounded up.
    pub fn milli_value(&self) -> i64 {
        self.milli as i64
    }
}

impl std::str::FromStr for Quantity {
    type Err = String;
    fn from_str(_s: &str) -> Result<Self, Self::Err> {
        Err("not yet".into())
    }
}
