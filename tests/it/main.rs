//! jwtd's integration tests: one binary, one module per area. Every test
//! drives a real server over HTTP (or the real binary) and asserts what a
//! client can see.

mod admin;
mod algorithms;
mod cli;
mod cluster;
mod config_cli;
mod connections;
mod durability;
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
mod standards;
mod store_suite;
mod torture;
mod verification;
