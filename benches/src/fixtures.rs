//! Objects the benchmarks share.
