//! Integration tests of the report crate: one module per area.

mod common;
mod export;
mod load;
mod markdown;
mod paper;
