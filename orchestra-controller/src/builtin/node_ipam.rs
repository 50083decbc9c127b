//! The `node_ipam` built-in controller (being written; see the module table in `builtin`).
