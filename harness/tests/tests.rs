//! Integration tests of the `lwcbench` binary: one module per area.
//!
//! Every test runs the real binary as a child process with a time limit, in its own temporary
//! directory; nothing here asserts a timing.

mod cli;
mod compare;
mod run;
mod util;
mod web;
