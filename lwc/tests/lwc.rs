//! Behaviour of every lwC call, isolation attacks and leak checks.
mod support;

fn main() {
    support::run_tests(vec![]);
}
