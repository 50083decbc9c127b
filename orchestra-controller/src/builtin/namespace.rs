//! The `namespace` built-in controller (being written; see the module table in `builtin`).
