//! In-place rollback tests (snapshot restored by rewriting only the written pages).
mod support;

fn main() {
    support::run_tests(vec![]);
}
