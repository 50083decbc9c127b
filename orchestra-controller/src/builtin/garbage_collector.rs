//! The `garbage_collector` built-in controller (being written; see the module table in `builtin`).
