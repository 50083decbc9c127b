//! Unit tests of status generation.
