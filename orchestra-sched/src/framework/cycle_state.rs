//! `CycleState`: data one scheduling cycle passes between extension points.
//!
//! A plugin computes something once per pod in PreFilter or PreScore and reads it back in
//! Filter or Score for every node. Values are keyed by their type, so a plugin defines a
//! private struct for its state and nobody else can read or overwrite it by accident. Values
//! must be `Clone`: preemption clones the whole state to try removing pods from a node
//! without disturbing the real cycle (wrap large data in an `Arc` to make that cheap).
//!
//! ```
//! use orchestra_sched::framework::CycleState;
//!
//! #[derive(Clone)]
//! struct Requested(i64);
//!
//! let mut state = CycleState::new();
//! state.write(Requested(500));
//! assert_eq!(state.read::<Requested>().map(|r| r.0), Some(500));
//! state.get_mut::<Requested>().map(|r| r.0 += 1);
//! assert_eq!(state.read::<Requested>().map(|r| r.0), Some(501));
//! ```

use std::any::{Any, TypeId};
use std::fmt;

/// A value kept in a [`CycleState`]; implemented for every `Clone + Send + Sync` type.
pub trait StateData: Any + Send + Sync {
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn StateData>;
    /// As `Any`, to downcast.
    fn as_any(&self) -> &dyn Any;
    /// As mutable `Any`, to downcast.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Clone + Send + Sync> StateData for T {
    fn clone_box(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Per-cycle data keyed by type. See the module docs.
#[derive(Default)]
pub struct CycleState {
    entries: Vec<(TypeId, Box<dyn StateData>)>,
    pub(crate) skip_filter: Vec<bool>,
    pub(crate) skip_score: Vec<bool>,
    pub(crate) skip_pre_bind: Vec<bool>,
}

impl CycleState {
    /// An empty state.
    pub fn new() -> CycleState {
        CycleState::default()
    }

    /// Stores `value`, replacing any earlier value of the same type.
    pub fn write<T: Any + Clone + Send + Sync>(&mut self, value: T) {
        let id = TypeId::of::<T>();
        match self.entries.iter_mut().find(|(t, _)| *t == id) {
            Some(entry) => entry.1 = Box::new(value),
            None => self.entries.push((id, Box::new(value))),
        }
    }

    /// The stored value of type `T`.
    pub fn read<T: Any>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.entries
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| (**v).as_any().downcast_ref())
    }

    /// The stored value of type `T`, mutably (for PreFilter extensions that add or remove
    /// pods).
    pub fn get_mut<T: Any>(&mut self) -> Option<&mut T> {
        let id = TypeId::of::<T>();
        self.entries
            .iter_mut()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| (**v).as_any_mut().downcast_mut())
    }

    /// Removes and answers the value of type `T`.
    pub fn remove<T: Any>(&mut self) -> bool {
        let id = TypeId::of::<T>();
        let before = self.entries.len();
        self.entries.retain(|(t, _)| *t != id);
        before != self.entries.len()
    }
}

impl Clone for CycleState {
    fn clone(&self) -> CycleState {
        CycleState {
            entries: self
                .entries
                .iter()
                .map(|(id, v)| (*id, (**v).clone_box()))
                .collect(),
            skip_filter: self.skip_filter.clone(),
            skip_score: self.skip_score.clone(),
            skip_pre_bind: self.skip_pre_bind.clone(),
        }
    }
}

impl fmt::Debug for CycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CycleState")
            .field("entries", &self.entries.len())
            .finish()
    }
}
