//! Light-weight contexts for Linux.
#![cfg_attr(not(test), allow(dead_code))]

mod error;
pub mod sys;

pub use error::{Error, Result};
