//! Integration tests of the `apps` programs, a module per program. Tests run on libtest's
//! threads; each starts its own server as a child process (spawn + exec, never a fork of the
//! test process), in a process group of its own that is killed when the test ends.

#[path = "apps/http.rs"]
mod http;
#[path = "apps/loadgen.rs"]
mod loadgen;
#[path = "apps/support.rs"]
mod support;
