//! Programs that lwcbench experiments drive, and the experiments that drive them.
//!
//! This crate is the home the experiments with programs share, so that their heavy dependencies
//! (an event loop, HTTP parsing, TLS) stay out of the `workloads` crate and out of the switch and
//! create micro-benchmarks. Built so far: [`http`], the event-driven HTTP/1.1 server with its five
//! isolation modes, [`loadgen`], its load generator (the `web` experiment), [`monitor`], the
//! reference monitor (the `monitor` experiment), and [`rollback`], the request handler rolled back
//! per session (the `rollback` experiment).
//!
//! Each program is a library module, usable by its
//! experiment in-process, with a thin binary in `src/bin/` so it can also run on its own for
//! debugging. Where each goes (DESIGN.md §4):
//!
//! | program | module | binary | experiment | issue |
//! |---|---|---|---|---|
//! | event-driven HTTP/1.1 server (mio + httparse), isolation none / lwc / lwc-pool / process / thread | `http` | `lwcbench serve` and `src/bin/http-server.rs` | `web` | session isolation in a web server |
//! | closed- and open-loop load generator (hdrhistogram, coordinated omission corrected) | `loadgen` | `src/bin/loadgen.rs` | `web` | same |
//! | TLS server (rustls + ring, rcgen certificates) and the private-key signer (in-process, lwC, process, thread) | `tls` | `lwcbench serve-tls` and `src/bin/tls-server.rs` | `crypto` | private-key isolation under TLS |
//! | request handler with a costly start-up state, rolled back per session | `rollback` | `src/bin/rollback-handler.rs` | `rollback` | snapshot and rollback per session |
//! | reference-monitor policy and the sandboxed system-call mix | `monitor` | `src/bin/monitor.rs` | `monitor` | the in-process reference monitor |
//!
//! The experiments that drive these programs live in [`experiments`] and are listed by the
//! harness after the `workloads` ones. The `tlb` and `scale` experiments need no program: they
//! live in `workloads`, on its context layer.
#![deny(unsafe_code)]

pub mod experiments;
pub mod http;
pub mod loadgen;
pub mod monitor;
pub mod rollback;
mod sys;
