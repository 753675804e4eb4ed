//! Integration tests of the report crate: one module per area.

mod bundle;
mod common;
mod export;
mod figures;
mod load;
mod markdown;
mod paper;
mod rollback;
mod tlb_scale;
mod verdict;
