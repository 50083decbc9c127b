//! The `deployment` built-in controller (being written; see the module table in `builtin`).
