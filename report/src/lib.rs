//! lwcbench result documents and reports.
