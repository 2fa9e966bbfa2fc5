//! jwtd's integration tests: one binary, one module per area. Every test
//! drives a real server over HTTP (or the real binary) and asserts what a
//! client can see.

// All of this crate is test code: a failed step stops the test with
// `expect("what was expected")`. clippy.toml allows that inside `#[test]`
// functions; the helpers the tests share are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod algorithms;
mod attacks;
mod cli;
mod clients;
mod cluster;
mod config_cli;
mod connections;
mod durability;
mod enforcement;
mod feed;
mod flow;
mod helpers;
mod interop;
mod login_security;
mod logout;
mod nginx;
mod observability;
mod openapi;
mod pg_races;
mod purge;
mod refresh;
mod services;
mod standard_clients;
mod standards;
mod store_suite;
mod torture;
mod verification;
mod verify;
