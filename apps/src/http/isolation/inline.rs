//! `none`: every session lives in the worker's memory and runs on its event loop.

use std::io;

use mio::net::TcpStream;

use super::{Ctx, Ended, Placed, Sessions, Slots, Step};
use crate::http::session::{Progress, Session};

/// The sessions of a `none` worker.
#[derive(Debug, Default)]
pub(crate) struct Inline {
    sessions: Slots<Session>,
}

impl Sessions for Inline {
    fn open(&mut self, token: usize, conn: TcpStream, _ctx: &Ctx) -> io::Result<Placed> {
        self.sessions.put(token, Session::new());
        Ok(Placed::Tracked(conn))
    }

    fn ready(&mut self, token: usize, conn: &mut TcpStream, ctx: &Ctx) -> Step {
        let Some(s) = self.sessions.get_mut(token) else {
            return Step::Ended(Ended::Closed { requests: 0 });
        };
        match s.drive(conn, &ctx.cfg, &ctx.responses) {
            Progress::Closed => {
                let requests = s.requests();
                self.sessions.take(token);
                Step::Ended(Ended::Closed { requests })
            }
            open => Step::Open(open),
        }
    }

    fn expire(&mut self, token: usize, conn: &mut TcpStream, _ctx: &Ctx) -> Ended {
        let Some(mut s) = self.sessions.take(token) else {
            return Ended::Closed { requests: 0 };
        };
        s.expire(conn);
        Ended::Closed {
            requests: s.requests(),
        }
    }
}
