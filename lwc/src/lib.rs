//! Light-weight contexts for Linux.
