//! The `node_lifecycle` built-in controller (being written; see the module table in `builtin`).
