//! An event-driven HTTP/1.1 server whose sessions are isolated from each other in one of five
//! ways: `none`, `lwc`, `lwc-pool`, `process`, `thread` ([`Isolation`]).
//!
//! ```text
//!   Server::start ─ listen ─ fork a worker per CPU (pinned; the root of an lwC group in the
//!   │                        lwC modes) ─► event_loop (mio/epoll): accept, readiness, time-outs
//!   │                                        └─► isolation::Sessions of the mode: where each
//!   │                                            connection's Session (session.rs) runs
//!   └ stop ─ control sockets shut ─► workers send their Stats, exit ─► reaped
//! ```
//!
//! Requests are parsed with httparse (`protocol`): keep-alive, Content-Length bodies read and
//! dropped, pipelined requests answered in order. Every response body carries the session's
//! request counter (its first 10 bytes), so a client sees whether sessions share state.
//! Bad input gets an error status and a closed connection (`400`, `405`, `408`, `413`, `431`,
//! `501`, `503` over the connection limit).
//!
//! ```no_run
//! use apps::http::{Config, Isolation, Server};
//! let cfg = Config { isolation: Isolation::Lwc, ..Config::default() };
//! let server = Server::start(&cfg).expect("start");       // single-threaded caller
//! println!("http://{}", server.addr());
//! let stats = server.stop().expect("stop");
//! println!("{}", stats[0]);
//! ```

mod cli;
mod config;
mod event_loop;
pub mod isolation;
pub mod protocol;
mod serve;
mod server;
pub mod session;
mod stats;

pub use cli::ServeArgs;
pub use config::{Config, ConfigError, Isolation, Limits, MIN_BODY_BYTES, TOUCH_FILE};
pub use serve::serve;
pub use server::{Server, ServerError};
pub use stats::Stats;
