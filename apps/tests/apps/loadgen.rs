//! The load generator against the real server (counts agree with the server's) and against a
//! stalling server (open loop charges the stall to every request it delayed).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use apps::loadgen::{self, Load, Pace};

use crate::support::ServerProc;

#[test]
fn closed_loop_sessions_agree_with_the_server() {
    // Guards against a generator that counts requests it never got answered, loses its
    // latencies, or does not reconnect after each session of S requests.
    for mode in ["none", "lwc"] {
        let server = ServerProc::start(mode, &[]);
        let load = Load {
            connections: 4,
            session: Some(3),
            warmup: Duration::ZERO,
            duration: Duration::from_millis(300),
            ..Load::new(server.addr)
        };
        let r = loadgen::run(&load).expect("load");
        assert!(r.requests > 0, "{mode}");
        assert_eq!(r.errors, 0, "{mode}");
        assert_eq!(
            r.latency_ns.len(),
            r.requests,
            "{mode}: one latency per answer"
        );
        let (status, out) = server.stop(rustix::process::Signal::TERM.as_raw());
        assert!(status.success());
        let total = out
            .lines()
            .find(|l| l.starts_with("total: "))
            .expect("total");
        let count = |name: &str| -> u64 {
            total
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .and_then(|v| v.parse().ok())
                .expect("counter")
        };
        // Every answered request was served; every 3 requests took a connection.
        assert!(
            count("requests") >= r.requests,
            "{mode}: {total} vs {}",
            r.requests
        );
        assert!(
            count("connections") * 3 >= r.requests,
            "{mode}: {total} vs {}",
            r.requests
        );
        assert!(
            r.connects >= r.requests / 3 - 4,
            "{mode}: {} connects",
            r.connects
        );
    }
}

/// A one-connection server that answers requests, but stalls `stall` before its `nth` answer.
fn stalling_server(nth: usize, stall: Duration) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut answered = 0;
        while let Ok(n) = s.read(&mut chunk) {
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            while let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                buf.drain(..i + 4);
                answered += 1;
                if answered == nth {
                    std::thread::sleep(stall);
                }
                if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    addr
}

fn slow_answers(pace: Pace) -> (u64, u64) {
    let addr = stalling_server(5, Duration::from_millis(400));
    let load = Load {
        connections: 1,
        pace,
        warmup: Duration::ZERO,
        duration: Duration::from_millis(1200),
        ..Load::new(addr)
    };
    let r = loadgen::run(&load).expect("load");
    let slow = r
        .latency_ns
        .iter_recorded()
        .filter(|v| v.value_iterated_to() >= 100_000_000)
        .map(|v| v.count_at_value())
        .sum();
    (slow, r.requests)
}

#[test]
fn open_loop_charges_a_stall_to_every_request_it_delayed() {
    // Guards against coordinated omission: an open-loop generator that measures from the actual
    // send time (or waits for the stalled request before scheduling the next) reports one slow
    // request where the server delayed dozens. At 100 req/s, a 400 ms stall delays ~40 intended
    // sends, each by 100 ms or more for the first ~30; the closed loop sees only the one.
    let (open_slow, open_n) = slow_answers(Pace::Open { rate_per_s: 100.0 });
    let (closed_slow, closed_n) = slow_answers(Pace::Closed);
    assert!(open_n > 20 && closed_n > 20, "{open_n} {closed_n}");
    assert!(open_slow >= 10, "open loop: {open_slow} slow of {open_n}");
    assert_eq!(
        closed_slow, 1,
        "closed loop: {closed_slow} slow of {closed_n}"
    );
}
