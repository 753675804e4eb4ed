//! Integration tests of the report crate: one module per area.

mod common;
mod load;
mod markdown;
mod paper;
mod verdict;
