//! `ResourceList` arithmetic (being written).

/// Resource amounts by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceList;
