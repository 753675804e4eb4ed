//! lwcbench experiments, backends and measurement.
