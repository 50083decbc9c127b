//! `Status`: what a plugin answers.
//!
//! Every extension point answers with a [`Code`] and, when it says no, reasons that end up,
//! counted per node, in the pod's `PodScheduled` condition ("0/5 nodes are available: 3
//! Insufficient cpu, …"). The codes are Kubernetes': `Unschedulable` means preemption might
//! help, `UnschedulableAndUnresolvable` means it cannot, `Skip` tells the framework not to call
//! the plugin's Filter (or Score) for this pod, `Wait` (from Permit) parks the pod, `Error`
//! is a failure of the plugin itself. A [`Reason`] is a static string or a shared one, so
//! rejecting thousands of nodes allocates nothing for the reasons.

use std::fmt;
use std::sync::Arc;

/// The kind of answer. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// Yes.
    Success,
    /// The plugin failed; the pod goes back to the queue with back-off.
    Error,
    /// No, but removing pods (preemption) might change that.
    Unschedulable,
    /// No, and preemption cannot help.
    UnschedulableAndUnresolvable,
    /// Permit only: hold the pod until allowed, rejected or timed out.
    Wait,
    /// PreFilter, PreScore, Bind: this plugin has nothing to do for this pod.
    Skip,
    /// The pod waits for something outside the scheduler (not a failure of its own).
    Pending,
}

impl Code {
    /// Kubernetes' spelling, used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Success => "Success",
            Code::Error => "Error",
            Code::Unschedulable => "Unschedulable",
            Code::UnschedulableAndUnresolvable => "UnschedulableAndUnresolvable",
            Code::Wait => "Wait",
            Code::Skip => "Skip",
            Code::Pending => "Pending",
        }
    }
}

/// A reason: a static string, or a shared one that clones without allocating (a plugin can
/// build `Insufficient example.com/foo` once per pod and hand it to every node's status).
#[derive(Clone)]
pub struct Reason(ReasonText);

#[derive(Clone)]
enum ReasonText {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Reason {
    /// The reason's text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            ReasonText::Static(text) => text,
            ReasonText::Shared(text) => text,
        }
    }
}

impl std::ops::Deref for Reason {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for Reason {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Reason {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Reason {
    fn eq(&self, other: &Reason) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Reason {}

impl PartialEq<str> for Reason {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::hash::Hash for Reason {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&'static str> for Reason {
    fn from(text: &'static str) -> Reason {
        Reason(ReasonText::Static(text))
    }
}

impl From<String> for Reason {
    fn from(text: String) -> Reason {
        Reason(ReasonText::Shared(Arc::from(text)))
    }
}

impl From<Arc<str>> for Reason {
    fn from(text: Arc<str>) -> Reason {
        Reason(ReasonText::Shared(text))
    }
}

/// A status's reasons: most statuses have none or one, which need no allocation.
#[derive(Clone, PartialEq, Eq)]
enum Reasons {
    None,
    One(Reason),
    Many(Vec<Reason>),
}

impl Reasons {
    fn from_vec(mut reasons: Vec<Reason>) -> Reasons {
        match reasons.len() {
            0 => Reasons::None,
            1 => Reasons::One(reasons.remove(0)),
            _ => Reasons::Many(reasons),
        }
    }

    fn as_slice(&self) -> &[Reason] {
        match self {
            Reasons::None => &[],
            Reasons::One(reason) => std::slice::from_ref(reason),
            Reasons::Many(reasons) => reasons,
        }
    }
}

/// A plugin's answer: a code, reasons, and which plugin said it. See the module docs.
#[derive(Clone, PartialEq, Eq)]
pub struct Status {
    code: Code,
    reasons: Reasons,
    plugin: Option<Arc<str>>,
}

impl Status {
    /// Success, allocation-free.
    pub const fn success() -> Status {
        Status {
            code: Code::Success,
            reasons: Reasons::None,
            plugin: None,
        }
    }

    /// A status with one reason.
    pub fn new(code: Code, reason: impl Into<Reason>) -> Status {
        Status {
            code,
            reasons: Reasons::One(reason.into()),
            plugin: None,
        }
    }

    /// A status with several reasons.
    pub fn with_reasons(code: Code, reasons: Vec<Reason>) -> Status {
        Status {
            code,
            reasons: Reasons::from_vec(reasons),
            plugin: None,
        }
    }

    /// A status with a code and no reason.
    pub const fn code_only(code: Code) -> Status {
        Status {
            code,
            reasons: Reasons::None,
            plugin: None,
        }
    }

    /// `Unschedulable` with one reason.
    pub fn unschedulable(reason: impl Into<Reason>) -> Status {
        Status::new(Code::Unschedulable, reason)
    }

    /// `UnschedulableAndUnresolvable` with one reason.
    pub fn unresolvable(reason: impl Into<Reason>) -> Status {
        Status::new(Code::UnschedulableAndUnresolvable, reason)
    }

    /// `Error` with one reason.
    pub fn error(reason: impl Into<Reason>) -> Status {
        Status::new(Code::Error, reason)
    }

    /// `Skip`.
    pub const fn skip() -> Status {
        Status::code_only(Code::Skip)
    }

    /// Records the plugin that answered.
    pub fn with_plugin(mut self, plugin: impl Into<Arc<str>>) -> Status {
        self.plugin = Some(plugin.into());
        self
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The reasons.
    pub fn reasons(&self) -> &[Reason] {
        self.reasons.as_slice()
    }

    /// The plugin that answered, when recorded.
    pub fn plugin(&self) -> Option<&str> {
        self.plugin.as_deref()
    }

    /// Whether the code is `Success`.
    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    /// Whether the code is `Skip`.
    pub fn is_skip(&self) -> bool {
        self.code == Code::Skip
    }

    /// Whether the code is `Wait`.
    pub fn is_wait(&self) -> bool {
        self.code == Code::Wait
    }

    /// Whether the pod was rejected: `Unschedulable`, `UnschedulableAndUnresolvable` or
    /// `Pending`.
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable | Code::Pending
        )
    }

    /// The reasons joined with ", " (Kubernetes' `Status.Message`).
    pub fn message(&self) -> String {
        self.reasons.as_slice().join(", ")
    }
}

impl Default for Status {
    fn default() -> Status {
        Status::success()
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code.as_str())?;
        if let Some(plugin) = &self.plugin {
            write!(f, " from {plugin}")?;
        }
        if !self.reasons().is_empty() {
            write!(f, ": {}", self.message())?;
        }
        Ok(())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reasons().is_empty() {
            f.write_str(self.code.as_str())
        } else {
            f.write_str(&self.message())
        }
    }
}
